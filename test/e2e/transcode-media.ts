/**
 * Media helpers of the transcode end-to-end test and benchmark: the 60 s 1280×720 input made by
 * ffmpeg's lavfi sources (cached under the OS temp dir by a hash of the command, so `npm test`
 * encodes it once), a duration measured by decoding (the static ffmpeg ships no ffprobe), and
 * S3 transfers through the local runtime's edge (multipart up: one request is at most 11 MiB).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { PROJECT_ROOT } from './synth';

export const FFMPEG = path.join(PROJECT_ROOT, 'node_modules', '@ffmpeg-installer', 'linux-x64', 'ffmpeg');
export const INPUT_SECONDS = 60;
/** The six output formats of the article's transcode function. */
export const FORMATS = ['mov', 'mp4', 'flv', 'avi', 'webm', 'm3u8'] as const;

/** ~14 MB of H.264 + AAC: over the 11 MiB a single request may carry locally. */
const INPUT_ARGS = [
  ...['-f', 'lavfi', '-i', `testsrc2=size=1280x720:rate=30:duration=${INPUT_SECONDS}`],
  ...['-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=48000:duration=${INPUT_SECONDS}`],
  ...['-c:v', 'libx264', '-preset', 'ultrafast', '-b:v', '1800k', '-maxrate', '1800k', '-bufsize', '3600k'],
  ...['-pix_fmt', 'yuv420p', '-c:a', 'aac', '-b:a', '96k', '-shortest'],
];

export interface Run {
  readonly code: number | null;
  readonly stderr: string;
  readonly seconds: number;
}

export function runFfmpeg(args: readonly string[], cwd?: string): Promise<Run> {
  const started = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const child = spawn(FFMPEG, ['-hide_banner', '-nostdin', ...args], { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-64 * 1024);
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr, seconds: Number(process.hrtime.bigint() - started) / 1e9 }));
  });
}

/** The 60 s 720p input, made once per command (cached in the OS temp dir). */
export async function input720p(): Promise<string> {
  const hash = createHash('sha256').update(JSON.stringify(INPUT_ARGS)).digest('hex').slice(0, 16);
  const file = path.join(os.tmpdir(), `asynctask-720p-${hash}.mp4`);
  if (fs.existsSync(file)) return file;
  const tmp = `${file}.${process.pid}.tmp.mp4`;
  const run = await runFfmpeg(['-loglevel', 'error', '-y', ...INPUT_ARGS, tmp]);
  if (run.code !== 0) throw new Error(`ffmpeg could not make the 720p input (exit ${run.code}): ${run.stderr.slice(-2000)}`);
  fs.renameSync(tmp, file);
  return file;
}

/** Decodes `file` entirely and returns the media time reached (the last `time=` of the stats). */
export async function decodedSeconds(file: string): Promise<number> {
  const run = await runFfmpeg(['-v', 'error', '-stats', '-i', file, '-f', 'null', '-'], path.dirname(file));
  if (run.code !== 0) throw new Error(`ffmpeg cannot decode ${file} (exit ${run.code}): ${run.stderr.slice(-2000)}`);
  const times = [...run.stderr.matchAll(/time=(\d+):(\d{2}):(\d{2}(?:\.\d+)?)/g)];
  const last = times[times.length - 1];
  if (!last) throw new Error(`decoding ${file} printed no time= (stderr: ${run.stderr.slice(-500)})`);
  return Number(last[1]) * 3600 + Number(last[2]) * 60 + Number(last[3]);
}

/** Uploads a file in 8 MiB parts (aborting on failure). */
export async function putLarge(s3: S3Client, bucket: string, key: string, file: string): Promise<void> {
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
  const partSize = 8 * 1024 * 1024;
  const body = fs.readFileSync(file);
  try {
    const parts: { ETag: string; PartNumber: number }[] = [];
    for (let offset = 0, n = 1; offset < body.length; offset += partSize, n++) {
      const out = await s3.send(
        new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: n, Body: body.subarray(offset, offset + partSize) }),
      );
      parts.push({ ETag: out.ETag ?? '', PartNumber: n });
    }
    await s3.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId, MultipartUpload: { Parts: parts } }));
  } catch (error) {
    await s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId }));
    throw error;
  }
}

export async function getToFile(s3: S3Client, bucket: string, key: string, file: string): Promise<number> {
  const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const bytes = await out.Body?.transformToByteArray();
  if (!bytes) throw new Error(`s3://${bucket}/${key} has no body`);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, bytes);
  return bytes.length;
}
