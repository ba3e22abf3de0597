#!/usr/bin/env node
/**
 * Benchmark of `transcode` (run by hand: `npx tsx bench/transcode.ts [--format mov]`; not part of
 * `npm test`). On the same 60 s 1280×720 input (test/e2e/transcode-media.ts), in one run:
 *
 * 1. direct: the very FFmpeg command the worker runs (its FORMATS entry), file to file;
 * 2. asynctask: the demo's `transcode` task on the local runtime, from submit to Succeeded as the
 *    client sees it (download, probe, transcode, upload in 8 MiB parts, result, status writes).
 *
 * Prints both times and their ratio (goal: asynctask / direct ≤ 1.10).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import { LOCAL_CREDENTIALS, REGION, startE2E, tempDir, watchTask } from '../test/e2e/harness';
import { PROJECT_ROOT } from '../test/e2e/synth';
import { FORMATS, input720p, putLarge, runFfmpeg } from '../test/e2e/transcode-media';

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

    const args = workerArgs(format);
    if (format === 'm3u8') args.push('-hls_segment_filename', path.join(work, '720P_%05d.ts'));
    const directly = async (): Promise<number> => {
      const run = await runFfmpeg(['-y', '-i', input, ...args, path.join(work, `720P.${format}`)]);
      if (run.code !== 0) throw new Error(`direct ffmpeg failed (exit ${run.code}): ${run.stderr.slice(-1000)}`);
      return run.seconds;
    };
    // The runtime's start-up (warm Lambda workers) must not slow the direct run: let it settle,
    // and time the direct command before and after the task, comparing with their mean.
    await new Promise((resolve) => setTimeout(resolve, 5000));
    const before = await directly();

    const started = process.hrtime.bigint();
    await runtime.client
      .submit({
        functionName: 'transcode',
        taskId: `bench-${format}-${Date.now()}`,
        payload: { bucket, object: 'bench/720P.mp4', output_dir: 'bench/out', dst_format: format },
      })
      .then(async (task) => {
        const { task: done } = await watchTask(runtime.client, 'transcode', task.taskId, { timeoutMs: 900_000, intervalMs: 100 });
        if (done.status !== 'Succeeded') throw new Error(`the task ended ${done.status}: ${done.taskErrorMessage}`);
      });
    const viaTask = Number(process.hrtime.bigint() - started) / 1e9;
    const after = await directly();
    const direct = (before + after) / 2;

    const size = (fs.statSync(input).size / 1e6).toFixed(1);
    process.stdout.write(
      [
        `transcode 60 s 1280x720 (${size} MB) to ${format}, one run:`,
        `  ffmpeg directly        ${direct.toFixed(2)} s   (mean of ${before.toFixed(2)} s before and ${after.toFixed(2)} s after)`,
        `  asynctask (local)      ${viaTask.toFixed(2)} s   (submit → Succeeded)`,
        `  ratio asynctask/direct ${(viaTask / direct).toFixed(3)}   (goal ≤ 1.10)`,
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
