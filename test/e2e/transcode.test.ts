/**
 * End to end on the local runtime, the demo's `transcode` (containers/ffmpeg/worker.py) at real
 * size: a 60 s 1280×720 clip (~14 MB, over the 11 MiB a single local S3 request may carry) to each
 * of the article's six formats. Every task succeeds, every output decodes with FFmpeg to within
 * 0.5 s of the input, and the worker's scratch directories are gone afterwards.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import { LOCAL_CREDENTIALS, REGION, tempDir, useRuntime, watchTask } from './harness';
import { decodedSeconds, FORMATS, getToFile, INPUT_SECONDS, input720p, putLarge } from './transcode-media';

const rt = useRuntime({ app: 'demo' });
const scratch = tempDir('transcode');
let s3: S3Client;

afterAll(() => {
  s3?.destroy();
  fs.rmSync(scratch, { recursive: true, force: true });
});

/** The worker's scratch directories (tempfile.mkdtemp(prefix="transcode-")) in the OS temp dir. */
const workDirs = (): string[] =>
  fs
    .readdirSync(os.tmpdir())
    .filter((name) => name.startsWith('transcode-'))
    .sort();

interface Output {
  readonly bucket: string;
  readonly key: string;
  readonly bytes: number;
}

test('a 60 s 720p clip transcodes to mov, mp4, flv, avi, webm and m3u8; every output decodes to 60 ± 0.5 s', async () => {
  s3 = new S3Client({ endpoint: rt().endpoint, region: REGION, credentials: LOCAL_CREDENTIALS, forcePathStyle: true });
  const bucket = rt().output('DataBucketName');
  const input = await input720p();
  expect(fs.statSync(input).size).toBeGreaterThan(11 * 1024 * 1024);
  await putLarge(s3, bucket, 'clips/720P.mp4', input);
  const before = workDirs();

  for (const format of FORMATS) {
    await rt().client.submit({
      functionName: 'transcode',
      taskId: `hd-${format}`,
      payload: { bucket, object: 'clips/720P.mp4', output_dir: `out/${format}`, dst_format: format },
    });
  }
  for (const format of FORMATS) {
    const { task } = await watchTask(rt().client, 'transcode', `hd-${format}`, { timeoutMs: 420_000, intervalMs: 1000 });
    expect({ format, status: task.status, error: task.taskErrorMessage }).toEqual({ format, status: 'Succeeded', error: undefined });
    const result = task.returnPayload as { outputs: Output[]; dst_format: string; duration_seconds: number };
    expect(result.dst_format).toBe(format);
    expect(result.duration_seconds).toBeCloseTo(INPUT_SECONDS, 0);
    const main = result.outputs[0];
    expect(main.key).toBe(`out/${format}/720P.${format}`);
    if (format === 'm3u8') expect(result.outputs.length).toBeGreaterThan(5);
    else expect(result.outputs).toHaveLength(1);

    const dir = path.join(scratch, format);
    for (const output of result.outputs) {
      const size = await getToFile(s3, output.bucket, output.key, path.join(dir, path.basename(output.key)));
      expect(size).toBe(output.bytes);
    }
    const seconds = await decodedSeconds(path.join(dir, path.basename(main.key)));
    expect({ format, off: Math.abs(seconds - INPUT_SECONDS) <= 0.5, seconds }).toEqual({ format, off: true, seconds });
  }
  // Input and outputs lived in the worker's scratch space, removed after each task.
  expect(workDirs()).toEqual(before);
}, 600_000);
