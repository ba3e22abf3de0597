/**
 * End-to-end harness: each test file starts its own local runtime (local/runtime.ts) on a free
 * port with its own work dir, over a cloud assembly synthesized once (./synth.ts), and talks to
 * it only as a user would: the SDK (AsyncTaskClient), the CLI process, and AWS SDK clients for
 * SQS (destination records) and Step Functions (executions).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { DeleteMessageBatchCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { SFNClient } from '@aws-sdk/client-sfn';
import { AsyncTaskClient } from '../../client/client';
import type { DestinationRecord, TaskRecord, TaskStatus } from '../../lambda/model';
import { isTerminal } from '../../lambda/model';
import { startRuntime } from '../../local/runtime';
import { APPS, type AppName, PROJECT_ROOT, synthesize } from './synth';

export { PROJECT_ROOT };
// The SDK's multi-line Node-version notice is noise in test output.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
export const CLI = path.join(PROJECT_ROOT, 'bin', 'asynctask.js');
export const LOCAL_CREDENTIALS = { accessKeyId: 'test', secretAccessKey: 'test' } as const;
export const REGION = 'us-east-1';
/** Keep work dirs after the run (for debugging): ASYNCTASK_E2E_KEEP=1. */
const KEEP = process.env.ASYNCTASK_E2E_KEEP === '1';

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A free TCP port on 127.0.0.1 (bound and released; the runtime binds it right after). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `asynctask-e2e-${prefix}-`));
}

/** Polls `probe` until it returns something other than undefined/false; throws naming `what` after `timeoutMs`. */
export async function waitUntil<T>(
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  options: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 20_000;
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value as T;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${options.what ?? 'a condition'}${last ? ` (last error: ${String(last)})` : ''}`,
      );
    }
    await sleep(options.intervalMs ?? 100);
  }
}

/** A process exists and is not a zombie. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `node bin/asynctask.js --endpoint <endpoint> --stack <stack> ...args`. */
export function runCli(
  endpoint: string,
  stack: string,
  args: readonly string[],
  options: { timeoutMs?: number; env?: Record<string, string> } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, '--endpoint', endpoint, '--stack', stack, ...args], {
      cwd: PROJECT_ROOT,
      env: {
        ...process.env,
        AWS_ACCESS_KEY_ID: 'test',
        AWS_SECRET_ACCESS_KEY: 'test',
        AWS_REGION: REGION,
        ASYNCTASK_POLL_INTERVAL_MS: '200',
        NO_COLOR: '1',
        ...options.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * Reads destination records from SQS queues. Every message received is deleted and kept, by
 * queue, so records of other tasks read while looking for one are not lost.
 */
export class DestinationReader {
  private readonly seen = new Map<string, DestinationRecord[]>();

  public constructor(private readonly sqs: SQSClient) {}

  /** Receives whatever is visible now (one short poll round until a receive comes back empty). */
  public async drain(queueUrl: string): Promise<DestinationRecord[]> {
    const kept = this.seen.get(queueUrl) ?? [];
    this.seen.set(queueUrl, kept);
    for (;;) {
      const out = await this.sqs.send(
        new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0, VisibilityTimeout: 30 }),
      );
      const messages = out.Messages ?? [];
      if (messages.length === 0) return kept;
      for (const m of messages) kept.push(JSON.parse(m.Body ?? 'null') as DestinationRecord);
      await this.sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle ?? '' })),
        }),
      );
    }
  }

  /** Records of `taskId` received so far (after draining the queue). */
  public async recordsFor(queueUrl: string, taskId: string): Promise<DestinationRecord[]> {
    const all = await this.drain(queueUrl);
    return all.filter((r) => r.requestContext?.taskId === taskId);
  }

  /**
   * Waits until `count` records of `taskId` arrived, then keeps reading for `settleMs` more so a
   * test asserting "exactly one" also sees a late duplicate.
   */
  public async waitFor(
    queueUrl: string,
    taskId: string,
    options: { count?: number; timeoutMs?: number; settleMs?: number } = {},
  ): Promise<DestinationRecord[]> {
    const count = options.count ?? 1;
    await waitUntil(async () => (await this.recordsFor(queueUrl, taskId)).length >= count, {
      timeoutMs: options.timeoutMs ?? 20_000,
      intervalMs: 200,
      what: `${count} destination record(s) of task '${taskId}' in ${queueUrl}`,
    });
    await sleep(options.settleMs ?? 750);
    return this.recordsFor(queueUrl, taskId);
  }
}

/** Polls a task until it is terminal (or `until` holds), collecting every status seen. */
export async function watchTask(
  client: AsyncTaskClient,
  functionName: string,
  taskId: string,
  options: { timeoutMs?: number; intervalMs?: number; until?: (task: TaskRecord) => boolean } = {},
): Promise<{ task: TaskRecord; seen: TaskStatus[] }> {
  const seen: TaskStatus[] = [];
  const until = options.until ?? ((t: TaskRecord) => isTerminal(t.status));
  const task = await waitUntil(
    async () => {
      const t = await client.get(functionName, taskId);
      if (seen[seen.length - 1] !== t.status) seen.push(t.status);
      return until(t) ? t : undefined;
    },
    {
      timeoutMs: options.timeoutMs ?? 30_000,
      intervalMs: options.intervalMs ?? 100,
      what: `task '${functionName}/${taskId}' (statuses seen: ${seen.join(' → ') || 'none'})`,
    },
  );
  return { task, seen };
}

export interface E2EOptions {
  /** Which synthesized app to run. @default 'fixture' */
  readonly app?: AppName;
  /** Persistent state; in memory when absent. */
  readonly dataDir?: string;
  /** @default - a fresh temp dir, removed on stop */
  readonly workDir?: string;
  /** @default 0 - the runtime picks a free port */
  readonly port?: number;
}

/** A running local runtime and the clients bound to it. */
export interface E2ERuntime {
  readonly app: AppName;
  readonly stackName: string;
  readonly cdkOut: string;
  readonly endpoint: string;
  readonly port: number;
  readonly workDir: string;
  readonly dataDir?: string;
  /** The stack's outputs, resolved to local values. */
  readonly outputs: Readonly<Record<string, string>>;
  readonly client: AsyncTaskClient;
  readonly sqs: SQSClient;
  readonly sfn: SFNClient;
  readonly destinations: DestinationReader;
  /** An output by name, failing clearly when the stack has no such output. */
  output(name: string): string;
  cli(args: readonly string[], options?: { timeoutMs?: number; env?: Record<string, string> }): Promise<CliResult>;
  stop(): Promise<void>;
}

function awsClients(endpoint: string): { sqs: SQSClient; sfn: SFNClient } {
  const config = { endpoint, region: REGION, credentials: LOCAL_CREDENTIALS };
  return { sqs: new SQSClient(config), sfn: new SFNClient(config) };
}

function bind(
  app: AppName,
  cdkOut: string,
  endpoint: string,
  port: number,
  outputs: Readonly<Record<string, string>>,
  dirs: { workDir: string; dataDir?: string },
  stopRuntime: () => Promise<void>,
): E2ERuntime {
  const stackName = APPS[app].stackName;
  const client = new AsyncTaskClient({ endpoint, stack: stackName, region: REGION });
  const { sqs, sfn } = awsClients(endpoint);
  let stopped = false;
  return {
    app,
    stackName,
    cdkOut,
    endpoint,
    port,
    ...dirs,
    outputs,
    client,
    sqs,
    sfn,
    destinations: new DestinationReader(sqs),
    output(name: string): string {
      const value = outputs[name];
      if (value === undefined) {
        throw new Error(`stack ${stackName} has no output '${name}' (outputs: ${Object.keys(outputs).join(', ')})`);
      }
      return value;
    },
    cli: (args, options) => runCli(endpoint, stackName, args, options),
    async stop() {
      if (stopped) return;
      stopped = true;
      client.lambda.destroy();
      client.cloudFormation.destroy();
      client.sqs.destroy();
      sqs.destroy();
      sfn.destroy();
      await stopRuntime();
    },
  };
}

/** Runtime notes and warnings: kept quiet unless ASYNCTASK_E2E_VERBOSE=1. */
export function runtimeLog(message: string): void {
  if (process.env.ASYNCTASK_E2E_VERBOSE === '1') process.stderr.write(`asynctask dev: ${message}\n`);
}

/** Starts a local runtime in this process (port 0 unless given: the runtime picks a free one). */
export async function startE2E(options: E2EOptions = {}): Promise<E2ERuntime> {
  const app = options.app ?? 'fixture';
  const cdkOut = await synthesize(app);
  const ownWorkDir = options.workDir === undefined;
  const workDir = options.workDir ?? tempDir('work');
  const runtime = await startRuntime({
    cdkOut,
    stackName: APPS[app].stackName,
    port: options.port ?? 0,
    workDir,
    projectRoot: PROJECT_ROOT,
    log: runtimeLog,
    ...(options.dataDir !== undefined ? { dataDir: options.dataDir } : {}),
  });
  return bind(app, cdkOut, runtime.endpoint, runtime.port, runtime.outputs, { workDir, dataDir: options.dataDir }, async () => {
    await runtime.stop();
    if (ownWorkDir && !KEEP) fs.rmSync(workDir, { recursive: true, force: true });
  });
}

/** A runtime started in a child process (`runtime-process.ts`), which a test can kill -9. */
/** A local runtime in its own process (test/e2e/runtime-process.ts), once it serves. */
export interface SpawnedRuntime {
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
  readonly ready: { readonly endpoint: string; readonly port: number; readonly outputs: Record<string, string> };
}

/**
 * Starts test/e2e/runtime-process.ts with `options` (its RuntimeOptions) and resolves once it
 * prints `E2E-READY`; rejects with its stderr if it exits first or takes over 60 s. tsx's loader
 * runs in that process itself (not the tsx CLI, which runs the script in a child), so a signal
 * hits the runtime. `detached` makes it the leader of a new process group (its workers join it),
 * which a crash test kills whole with `process.kill(-pid)`.
 */
export async function spawnRuntimeProcess(
  options: Record<string, unknown>,
  spawnOptions: { detached?: boolean } = {},
): Promise<SpawnedRuntime> {
  const child: ChildProcess = spawn(
    process.execPath,
    ['--require', require.resolve('tsx/cjs'), path.join(__dirname, 'runtime-process.ts'), JSON.stringify(options)],
    { cwd: PROJECT_ROOT, detached: spawnOptions.detached === true, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const ready = await new Promise<SpawnedRuntime['ready']>((resolve, reject) => {
    let buffer = '';
    const timer = setTimeout(() => reject(new Error(`the runtime process did not start in 60 s:\n${stderr}`)), 60_000);
    child.stdout?.on('data', (d: Buffer) => {
      buffer += d.toString();
      const line = buffer.split('\n').find((l) => l.startsWith('E2E-READY '));
      if (line) {
        clearTimeout(timer);
        resolve(JSON.parse(line.slice('E2E-READY '.length)));
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`the runtime process exited (${code ?? signal}) before it was ready:\n${stderr}`));
    });
  });
  return { child, exited, ready };
}

export interface RuntimeProcess extends E2ERuntime {
  readonly pid: number;
  /** Kills the runtime process with `signal` and resolves once it has exited. */
  kill(signal: NodeJS.Signals): Promise<void>;
}

export async function startE2EProcess(options: E2EOptions & { workDir: string }): Promise<RuntimeProcess> {
  const app = options.app ?? 'fixture';
  const cdkOut = await synthesize(app);
  const { child, exited, ready } = await spawnRuntimeProcess({
    cdkOut,
    stackName: APPS[app].stackName,
    port: options.port ?? 0,
    workDir: options.workDir,
    projectRoot: PROJECT_ROOT,
    ...(options.dataDir !== undefined ? { dataDir: options.dataDir } : {}),
  });
  const runtime = bind(
    app,
    cdkOut,
    ready.endpoint,
    ready.port,
    ready.outputs,
    { workDir: options.workDir, dataDir: options.dataDir },
    async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await Promise.race([exited, sleep(15_000)]);
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      }
      await exited;
    },
  );
  return {
    ...runtime,
    pid: child.pid ?? -1,
    async kill(signal: NodeJS.Signals) {
      child.kill(signal);
      await exited;
      await runtime.stop();
    },
  };
}

/** `beforeAll` / `afterAll` around one runtime for a test file; the getter returns it. */
export function useRuntime(options: E2EOptions = {}): () => E2ERuntime {
  let runtime: E2ERuntime | undefined;
  beforeAll(async () => {
    runtime = await startE2E(options);
  }, 240_000);
  afterAll(async () => {
    await runtime?.stop();
  }, 30_000);
  return () => {
    if (!runtime) throw new Error('the local runtime did not start (see the beforeAll error)');
    return runtime;
  };
}
