/**
 * The demo `asynctask dev` runs on a first start (or with `--demo`): a generated test video as
 * `480P.mp4` and a generated set of MySQL slow logs in the stack's data bucket, the article's five
 * transcodes and one slow-log analysis submitted through the SDK, a few records produced to the
 * Kafka trigger's topic, and the commands to look at them. Its errors are reported, never thrown:
 * the runtime keeps serving whatever the demo managed.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { AsyncTaskClient } from '../client/client';
import { DEFAULT_STACK, LOCAL_CREDENTIALS, LOCAL_REGION } from '../client/defaults';
import { produce } from '../client/produce';
import { TaskAlreadyExistsError } from '../lambda/model';

/** The file in the data dir that says the demo ran, so a restart does not submit it again. */
export const DEMO_MARKER = 'demo.json';
/** The stack output naming the bucket the demo's inputs go to. */
export const DEMO_BUCKET_OUTPUT = 'DataBucketName';
export const DEMO_VIDEO_KEY = '480P.mp4';
export const DEMO_LOG_PREFIX = 'slow-logs/demo/';
export const DEMO_ANALYSIS_TASK_ID = 'demo-slow-logs';
export const DEMO_TOPIC = 'connector-demo';
export const DEMO_RECORDS = 5;

/** The article's five transcodes: task id and output format. */
export const DEMO_TRANSCODES = [
  { taskId: 'my1-480P-mp4', dstFormat: 'mov' },
  { taskId: 'my2-480P-mp4', dstFormat: 'mov' },
  { taskId: 'my3-480P-mp4', dstFormat: 'flv' },
  { taskId: 'my4-480P-mp4', dstFormat: 'avi' },
  { taskId: 'my5-480P-mp4', dstFormat: 'm3u8' },
] as const;

export interface DemoDecision {
  readonly run: boolean;
  /** Why, for the one line `dev` prints. */
  readonly reason: string;
}

/**
 * Whether `dev` runs the demo: `--demo` (true) forces it, `--no-demo` (false) skips it; otherwise
 * on a first start — always without a data dir (nothing is kept), with one only while it holds no
 * marker.
 */
export function demoDecision(flag: boolean | undefined, dataDir: string | undefined): DemoDecision {
  if (flag === true) return { run: true, reason: '--demo' };
  if (flag === false) return { run: false, reason: '--no-demo' };
  if (!dataDir) return { run: true, reason: 'first start (state in memory)' };
  const marker = path.join(dataDir, DEMO_MARKER);
  if (fs.existsSync(marker)) return { run: false, reason: `it ran before (${marker}; --demo runs it again)` };
  return { run: true, reason: `first start of ${dataDir}` };
}

/** Records in the data dir that the demo ran (a restart then skips it). */
export function writeDemoMarker(dataDir: string, at = new Date()): void {
  fs.mkdirSync(dataDir, { recursive: true });
  fs.writeFileSync(path.join(dataDir, DEMO_MARKER), `${JSON.stringify({ ranAt: at.toISOString() })}\n`);
}

export interface DemoVideoProps {
  /** @default 10 */
  readonly seconds?: number;
  /** @default 640 */
  readonly width?: number;
  /** @default 480 */
  readonly height?: number;
  /** @default - FFMPEG_PATH, else the static build of @ffmpeg-installer/ffmpeg */
  readonly ffmpeg?: string;
}

function ffmpegPath(): string {
  if (process.env.FFMPEG_PATH) return process.env.FFMPEG_PATH;
  // The package is a dependency of the project; its path points at the platform's static build.
  return (require('@ffmpeg-installer/ffmpeg') as { path: string }).path;
}

/** An H.264 + AAC test card (`testsrc` + `sine`), made once per settings and cached in the OS temp dir. */
export async function demoVideo(props: DemoVideoProps = {}): Promise<string> {
  const seconds = props.seconds ?? 10;
  const size = `${props.width ?? 640}x${props.height ?? 480}`;
  const args = [
    ...['-f', 'lavfi', '-i', `testsrc=size=${size}:rate=25:duration=${seconds}`],
    ...['-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=44100:duration=${seconds}`],
    ...['-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-b:a', '64k', '-shortest'],
  ];
  const hash = createHash('sha256').update(JSON.stringify(args)).digest('hex').slice(0, 16);
  const file = path.join(os.tmpdir(), `asynctask-demo-${hash}.mp4`);
  if (fs.existsSync(file)) return file;
  const ffmpeg = props.ffmpeg ?? ffmpegPath();
  const tmp = `${file}.${process.pid}.tmp.mp4`;
  await new Promise<void>((resolve, reject) => {
    const child = spawn(ffmpeg, ['-hide_banner', '-nostdin', '-loglevel', 'error', '-y', ...args, tmp], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000);
    });
    child.on('error', (error) => reject(new Error(`cannot run ${ffmpeg}: ${error.message}`)));
    child.on('close', (code) => {
      if (code === 0) resolve();
      else reject(new Error(`${ffmpeg} could not make the test video (exit ${code}): ${stderr.trim()}`));
    });
  });
  fs.renameSync(tmp, file);
  return file;
}

/** Statement shapes of the generated logs: the text, who ran it, and a typical query time. */
const STATEMENTS: ReadonlyArray<{
  readonly sql: (n: number) => string;
  readonly db: string;
  readonly user: string;
  readonly host: string;
  readonly ip: string;
  readonly seconds: number;
}> = [
  {
    sql: (n) => `SELECT * FROM orders WHERE customer_id = ${n % 9973} AND status IN ('new', 'paid');`,
    db: 'shop',
    user: 'shop',
    host: 'app1',
    ip: '10.0.1.11',
    seconds: 1.5,
  },
  {
    sql: (n) =>
      `SELECT DATE(created_at) AS day, SUM(total)\nFROM orders\nWHERE created_at >= '2026-${String((n % 12) + 1).padStart(2, '0')}-01'\nGROUP BY day;`,
    db: 'analytics',
    user: 'report',
    host: 'bi1',
    ip: '10.0.2.5',
    seconds: 12,
  },
  {
    sql: (n) => `UPDATE carts SET updated_at=NOW(), items=${n % 50} WHERE id=${n * 7919};`,
    db: 'shop',
    user: 'cart',
    host: 'app3',
    ip: '10.0.1.13',
    seconds: 0.4,
  },
  {
    sql: (n) => `select id, user_id from sessions where token = '${(n * 2654435761).toString(16)}' and expires_at > ${1795161600 + n};`,
    db: 'auth',
    user: 'auth',
    host: 'auth1',
    ip: '10.0.4.1',
    seconds: 0.9,
  },
];

/**
 * `count` MySQL slow-query logs of `entries` statements each, deterministic: the same arguments
 * give the same text (what the `sql-log-analysis` worker parses).
 */
export function slowLogs(count = 3, entries = 40): { name: string; text: string }[] {
  const start = Date.UTC(2026, 10, 20, 8, 0, 0);
  const logs: { name: string; text: string }[] = [];
  let n = 1;
  for (let i = 0; i < count; i++) {
    const lines = [
      '/usr/sbin/mysqld, Version: 8.0.36 (MySQL Community Server - GPL). started with:',
      'Tcp port: 3306  Unix socket: /var/run/mysqld/mysqld.sock',
      'Time                 Id Command    Argument',
    ];
    let db = '';
    for (let e = 0; e < entries; e++, n++) {
      // Weighted towards the cheap, frequent statements, as real slow logs are.
      const s = STATEMENTS[[0, 0, 2, 3, 0, 2, 1, 3][n % 8]];
      const at = new Date(start + i * 3_600_000 + e * 17_000);
      const queryTime = s.seconds * (0.5 + ((n * 37) % 100) / 100);
      lines.push(
        `# Time: ${at.toISOString().replace('Z', '000Z')}`,
        `# User@Host: ${s.user}[${s.user}] @ ${s.host} [${s.ip}]  Id: ${100 + (n % 50)}`,
        `# Query_time: ${queryTime.toFixed(6)}  Lock_time: 0.000100 Rows_sent: ${n % 30}  Rows_examined: ${(n * 1013) % 100000}`,
      );
      if (s.db !== db) {
        lines.push(`use ${s.db};`);
        db = s.db;
      }
      lines.push(`SET timestamp=${Math.floor(at.getTime() / 1000)};`, s.sql(n));
    }
    logs.push({ name: `mysql-slow-${i + 1}.log`, text: `${lines.join('\n')}\n` });
  }
  return logs;
}

export interface DemoProps {
  /** The local runtime's endpoint. */
  readonly endpoint: string;
  /** The stack's outputs (DataBucketName). */
  readonly outputs: Readonly<Record<string, string>>;
  /** The task functions the runtime found. */
  readonly functions: readonly string[];
  /** The topics the runtime's Kafka mappings read. */
  readonly topics: readonly string[];
  /** @default 'AsyncTaskDemo' */
  readonly stackName?: string;
  /** @default - 10 s 640×480 */
  readonly video?: DemoVideoProps;
  /** Where the demo's lines go. @default - stdout */
  readonly print?: (line: string) => void;
}

export interface DemoResult {
  /** Task ids submitted now, as `function/task id`. */
  readonly submitted: string[];
  /** Task ids that existed already (a restart over the same data dir). */
  readonly existing: string[];
  readonly produced: number;
  /** One line per step that failed; empty when everything worked. */
  readonly failures: string[];
}

function why(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Runs the demo against a started runtime and resolves to what it did; a step that fails is
 * printed and listed in `failures`, and the others go on where they can.
 */
export async function runDemo(props: DemoProps): Promise<DemoResult> {
  const print = props.print ?? ((line: string) => process.stdout.write(`${line}\n`));
  const result: { -readonly [K in keyof DemoResult]: DemoResult[K] } = { submitted: [], existing: [], produced: 0, failures: [] };
  const fail = (what: string, error: unknown) => {
    const line = `${what}: ${why(error)}`;
    result.failures.push(line);
    print(`demo: ${line}`);
  };
  const bucket = props.outputs[DEMO_BUCKET_OUTPUT];
  const has = (name: string) => props.functions.includes(name);
  if (!bucket) {
    fail('no inputs uploaded', new Error(`the stack has no output '${DEMO_BUCKET_OUTPUT}' to upload the demo's video and logs to`));
  }
  const client = new AsyncTaskClient({
    endpoint: props.endpoint,
    stack: props.stackName ?? DEFAULT_STACK,
    region: LOCAL_REGION,
    credentials: LOCAL_CREDENTIALS,
  });
  const s3 = new S3Client({ endpoint: props.endpoint, region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS, forcePathStyle: true });
  const submit = async (functionName: string, taskId: string, payload: unknown) => {
    try {
      await client.submit({ functionName, taskId, payload });
      result.submitted.push(`${functionName}/${taskId}`);
    } catch (error) {
      if (error instanceof TaskAlreadyExistsError) {
        result.existing.push(`${functionName}/${taskId}`);
        print(`demo: ${functionName}/${taskId} exists already (${error.existingTask.status}); not submitted again`);
      } else fail(`submitting ${functionName}/${taskId} failed`, error);
    }
  };
  try {
    print('');
    if (bucket && has('transcode')) {
      let uploaded = false;
      try {
        const video = await demoVideo(props.video);
        await s3.send(
          new PutObjectCommand({ Bucket: bucket, Key: DEMO_VIDEO_KEY, Body: fs.readFileSync(video), ContentType: 'video/mp4' }),
        );
        print(`demo: uploaded a generated test video to s3://${bucket}/${DEMO_VIDEO_KEY}`);
        uploaded = true;
      } catch (error) {
        fail('no transcodes submitted: the test video', error);
      }
      if (uploaded) {
        for (const t of DEMO_TRANSCODES) {
          await submit('transcode', t.taskId, { bucket, object: DEMO_VIDEO_KEY, output_dir: 'a', dst_format: t.dstFormat });
        }
      }
    } else if (bucket) print("demo: no 'transcode' function in the stack; no transcodes");
    if (bucket && has('sql-log-analysis')) {
      let uploaded = false;
      try {
        const logs = slowLogs();
        for (const log of logs) {
          await s3.send(new PutObjectCommand({ Bucket: bucket, Key: `${DEMO_LOG_PREFIX}${log.name}`, Body: log.text }));
        }
        print(`demo: uploaded ${logs.length} generated slow logs to s3://${bucket}/${DEMO_LOG_PREFIX}`);
        uploaded = true;
      } catch (error) {
        fail('no analysis submitted: the slow logs', error);
      }
      if (uploaded) await submit('sql-log-analysis', DEMO_ANALYSIS_TASK_ID, { bucket, prefix: DEMO_LOG_PREFIX });
    }
    if (result.submitted.length > 0) print(`demo: submitted ${result.submitted.join(', ')}`);
    if (props.topics.includes(DEMO_TOPIC)) {
      try {
        const records = Array.from({ length: DEMO_RECORDS }, (_, i) => ({
          key: `demo-order-${i + 1}`,
          value: JSON.stringify({ orderId: i + 1, total: (i + 1) * 12.5 }),
        }));
        const out = await produce(props.endpoint, DEMO_TOPIC, records);
        result.produced = out.offsets.length;
        print(
          `demo: produced ${out.offsets.length} records to ${DEMO_TOPIC} (${out.offsets.map((o) => `${o.partition}@${o.offset}`).join(', ')}); the Kafka trigger makes etl tasks of them`,
        );
      } catch (error) {
        fail(`producing to ${DEMO_TOPIC} failed`, error);
      }
    }
  } finally {
    client.lambda.destroy();
    client.cloudFormation.destroy();
    s3.destroy();
  }
  print(nextSteps(props.endpoint, props.stackName, props.topics.includes(DEMO_TOPIC)));
  return result;
}

/** The commands to look at the demo's tasks. */
export function nextSteps(endpoint: string, stackName = DEFAULT_STACK, kafka = true): string {
  const stack = stackName !== DEFAULT_STACK ? ` --stack ${stackName}` : '';
  return [
    '',
    'demo: next, in another terminal:',
    `  export ASYNCTASK_ENDPOINT=${endpoint}`,
    `  npx asynctask${stack} list transcode`,
    `  npx asynctask${stack} get transcode my3-480P-mp4`,
    `  npx asynctask${stack} logs transcode my3-480P-mp4 --follow`,
    `  npx asynctask${stack} stop transcode my4-480P-mp4`,
    `  npx asynctask${stack} get sql-log-analysis ${DEMO_ANALYSIS_TASK_ID}`,
    ...(kafka ? [`  npx asynctask${stack} list etl`, '  npx tsx examples/kafka-etl/queues.ts'] : []),
    '',
  ].join('\n');
}
