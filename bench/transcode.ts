#!/usr/bin/env node
/**
 * Benchmark of `transcode` (run by hand: `npx tsx bench/transcode.ts [--format mov]`; not part of
 * `npm test`). On the same 60 s 1280×720 input (test/e2e/transcode-media.ts), in one run:
 *
 * 1. direct: the very FFmpeg command the worker runs (its FORMATS entry), file to file;
 * 2. asynctask: the demo's `transcode` task on the local runtime, from submit to Succeeded as the
 *    client sees it (download, probe, transcode, upload in 8 MiB parts, result, status writes).
 *
 * Before the timed task one short transcode (a 2 s clip) warms the path as a service that has
 * served a task before: the TaskApi worker loaded, the worker's imports in the page cache. Its own
 * submit → Succeeded time is printed as the first-task (cold) cost.
 *
 * Prints both times, their ratio (goal: asynctask / direct ≤ 1.10) and where the task's time
 * beyond FFmpeg went, read from its events and its own log lines.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import type { AsyncTaskClient } from '../client';
import { LOCAL_CREDENTIALS, REGION, startE2E, tempDir, watchTask } from '../test/e2e/harness';
import { PROJECT_ROOT } from '../test/e2e/synth';
import { FORMATS, input720p, putLarge, runFfmpeg } from '../test/e2e/transcode-media';

interface Timed {
  /** submit → Succeeded as recorded on the task (its end time; the client polls only once a second,
   *  so that polling does not take CPU from FFmpeg). */
  readonly seconds: number;
  /** submit → the Running event (orchestration and container start). */
  readonly startSeconds: number;
  /** The worker's own `transcoded` line: the FFmpeg run inside the task. */
  readonly ffmpegSeconds: number;
  /** The worker's `transcoded` line → its `succeeded` line (input removal, multipart upload, result). */
  readonly uploadSeconds: number;
}

/** Submits one transcode, waits for Succeeded and splits its time using its events and logs. */
async function timedTask(client: AsyncTaskClient, taskId: string, payload: Record<string, unknown>): Promise<Timed> {
  const submitted = Date.now();
  await client.submit({ functionName: 'transcode', taskId, payload });
  const { task } = await watchTask(client, 'transcode', taskId, { timeoutMs: 900_000, intervalMs: 1000 });
  if (task.status !== 'Succeeded') throw new Error(`task ${taskId} ended ${task.status}: ${task.taskErrorMessage}`);
  const seconds = ((task.endTime ?? Date.now()) - submitted) / 1000;
  const running = task.events.find((e) => e.status === 'Running');
  const lines = new Map<string, { at: number; fields: Record<string, unknown> }>();
  for await (const event of client.logs({ functionName: 'transcode', taskId })) {
    try {
      const line = JSON.parse(event.message) as Record<string, unknown>;
      lines.set(String(line.message), { at: event.timestamp, fields: line });
    } catch {
      // not one of the worker's JSON lines
    }
  }
  const transcoded = lines.get('transcoded');
  const succeeded = lines.get('succeeded');
  if (!running || !transcoded || !succeeded) throw new Error(`task ${taskId} lacks its Running event or transcoded/succeeded log lines`);
  return {
    seconds,
    startSeconds: (running.timestamp - submitted) / 1000,
    ffmpegSeconds: Number(transcoded.fields.seconds),
    uploadSeconds: (succeeded.at - transcoded.at) / 1000,
  };
}

/** A 2 s 320×240 clip for the warm-up task. */
async function warmUpClip(work: string): Promise<string> {
  const file = path.join(work, 'warm-up.mp4');
  const source = ['-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=25', '-t', '2'];
  const run = await runFfmpeg(['-loglevel', 'error', '-y', ...source, '-pix_fmt', 'yuv420p', file]);
  if (run.code !== 0) throw new Error(`ffmpeg could not make the warm-up clip (exit ${run.code}): ${run.stderr.slice(-1000)}`);
  return file;
}

function option(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 && process.argv[at + 1] ? process.argv[at + 1] : fallback;
}

/** The worker's encoder arguments for `format`, read from the worker itself (never copied). */
function workerArgs(format: string): string[] {
  const script = [
    'import importlib.util, json, sys',
    "spec = importlib.util.spec_from_file_location('w', sys.argv[1])",
    'w = importlib.util.module_from_spec(spec); spec.loader.exec_module(w)',
    'print(json.dumps(w.FORMATS[sys.argv[2]]))',
  ].join('\n');
  const worker = path.join(PROJECT_ROOT, 'containers', 'ffmpeg', 'worker.py');
  return JSON.parse(
    execFileSync('python3', ['-c', script, worker, format], {
      env: { ...process.env, PYTHONPATH: path.join(PROJECT_ROOT, 'runtime', 'python') },
    }).toString(),
  ) as string[];
}

async function main(): Promise<void> {
  const format = option('format', 'mov');
  if (!(FORMATS as readonly string[]).includes(format)) {
    throw new Error(`--format '${format}' is not supported; allowed: ${FORMATS.join(', ')}`);
  }
  const input = await input720p();
  const work = tempDir('bench-transcode');
  const runtime = await startE2E({ app: 'demo' });
  const s3 = new S3Client({ endpoint: runtime.endpoint, region: REGION, credentials: LOCAL_CREDENTIALS, forcePathStyle: true });
  try {
    const bucket = runtime.output('DataBucketName');
    await putLarge(s3, bucket, 'bench/720P.mp4', input);
    await putLarge(s3, bucket, 'bench/warm-up.mp4', await warmUpClip(work));

    const args = workerArgs(format);
    if (format === 'm3u8') args.push('-hls_segment_filename', path.join(work, '720P_%05d.ts'));
    const directly = async (): Promise<number> => {
      const run = await runFfmpeg(['-y', '-i', input, ...args, path.join(work, `720P.${format}`)]);
      if (run.code !== 0) throw new Error(`direct ffmpeg failed (exit ${run.code}): ${run.stderr.slice(-1000)}`);
      return run.seconds;
    };
    const stamp = Date.now();
    const warm = await timedTask(runtime.client, `bench-warm-up-${stamp}`, {
      bucket,
      object: 'bench/warm-up.mp4',
      output_dir: 'bench/out',
      dst_format: format,
    });
    // The runtime's start-up (warm Lambda workers) must not slow the direct run: let it settle,
    // and time the direct command before and after the task, comparing with their mean.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const before = await directly();
    const timed = await timedTask(runtime.client, `bench-${format}-${stamp}`, {
      bucket,
      object: 'bench/720P.mp4',
      output_dir: 'bench/out',
      dst_format: format,
    });
    const viaTask = timed.seconds;
    const after = await directly();
    const direct = (before + after) / 2;
    const rest = viaTask - timed.startSeconds - timed.ffmpegSeconds - timed.uploadSeconds;

    const size = (fs.statSync(input).size / 1e6).toFixed(1);
    process.stdout.write(
      [
        `transcode 60 s 1280x720 (${size} MB) to ${format}, one run:`,
        `  ffmpeg directly        ${direct.toFixed(2)} s   (mean of ${before.toFixed(2)} s before and ${after.toFixed(2)} s after)`,
        `  asynctask (local)      ${viaTask.toFixed(2)} s   (submit → Succeeded, the task's end time)`,
        `  ratio asynctask/direct ${(viaTask / direct).toFixed(3)}   (goal ≤ 1.10)`,
        `  the task's time: start ${timed.startSeconds.toFixed(2)} s (submit → Running), ffmpeg ${timed.ffmpegSeconds.toFixed(2)} s,`,
        `    upload and result ${timed.uploadSeconds.toFixed(2)} s, download + probe + ending ${rest.toFixed(2)} s`,
        `  first task after start (2 s clip, cold TaskApi and worker): ${warm.seconds.toFixed(2)} s, of which start ${warm.startSeconds.toFixed(2)} s`,
        '',
      ].join('\n'),
    );
  } finally {
    s3.destroy();
    await runtime.stop();
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
