/**
 * Lambda, locally: each synthesized Node.js function runs in warm child processes (a pool per
 * function, up to `maxWorkers`, growing as `shouldStartWorker` says; invocations queue for the
 * first free worker meanwhile), with the function's resolved
 * environment plus `AWS_ENDPOINT_URL` = the edge. Console output goes to the function's log
 * group (one stream per worker) with START / END / REPORT lines; the function timeout kills the
 * worker (`Task timed out`). `Event` invocations run in the background as Lambda's asynchronous
 * invocation does: with the function's `AWS::Lambda::EventInvokeConfig` (retries after a function
 * error, 0–2, default 2; maximum event age, default 6 h; the outcome's record to its `onSuccess` /
 * `onFailure` destination, in Lambda's record format), the same request id across retries, and a
 * journal of the events not yet done (`asyncJournal`), so a restart after a crash runs them again
 * as Lambda's own queue would. Retry delays are Lambda's ~1 and 2 minutes scaled down
 * (`asyncRetryDelaysMs`, default 1 s and 2 s).
 */
import { type ChildProcess, fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { LocalEventInvokeConfig, LocalFunction } from './template';
import { AwsError, type LambdaInvokeResult, type LambdaInvoker, LOCAL_REGION, type LogSink } from './types';

const WORKER_SCRIPT = path.join(__dirname, 'lambda-worker.cjs');
/**
 * Node flags of a worker process: `--enable-source-maps` (stack traces of bundles with maps) and
 * V8's own JIT tiering, as on Lambda. The workers ran with `--always-sparkplug
 * --interrupt-budget=270336` while a function had a process per concurrent invocation, up to 8:
 * each ran its code a few hundred times and V8 optimized the same AWS SDK code again in every
 * one. A pool now grows by need (`shouldStartWorker`), so a busy function's one to three workers
 * each make thousands of SDK calls, and the 4× interrupt budget kept that code from ever getting
 * fast: one process's `UpdateItem` to the edge settled at ≈ 0.6–0.75 ms of CPU per call after
 * 4,000 calls with those flags, ≈ 0.41–0.43 ms with V8's defaults (`npx tsx bench/sdk-call.ts`;
 * docs/benchmarks.md, "Functions share the CPUs; V8's own tiering again").
 */
export const WORKER_EXEC_ARGV: readonly string[] = ['--enable-source-maps'];
/** The project's node_modules: bundles keep `@aws-sdk/*` external (the Lambda runtime provides it). */
const PROJECT_NODE_MODULES = path.resolve(__dirname, '..', 'node_modules');

export interface LocalLambdaDeps {
  readonly endpoint: string;
  readonly functions: readonly LocalFunction[];
  readonly logs: LogSink;
  /** Where inline (`Code.ZipFile`) functions are written. */
  readonly workDir: string;
  /** Warm processes per function (default 8). */
  readonly maxWorkers?: number;
  /** A function's extra workers (beyond one) idle this long are stopped (default 60 s). */
  readonly idleMs?: number;
  /** The functions' asynchronous invocation configs (from the templates). */
  readonly eventInvokeConfigs?: readonly LocalEventInvokeConfig[];
  /** Sends a destination record to a queue, topic or bus ARN (Lambda destinations are invoked here). */
  readonly deliver?: (destinationArn: string, record: unknown) => Promise<void>;
  /** Delays before the 1st and 2nd retry of a failed asynchronous invocation (default 1 s, 2 s). */
  readonly asyncRetryDelaysMs?: readonly number[];
  /** File journaling the asynchronous invocations not yet done, replayed by `resumeAsync`. */
  readonly asyncJournal?: string;
  /** Where problems of background work go (default: stderr). */
  readonly warn?: (message: string) => void;
}

/** An asynchronous invocation in Lambda's internal queue. */
interface AsyncEvent {
  readonly requestId: string;
  readonly functionName: string;
  readonly payload: unknown;
  /** When Lambda accepted it (epoch ms): the event age counts from here. */
  readonly acceptedAt: number;
  /** The edge's URL when it was accepted: URLs of it in the payload (queue URLs) are moved to the next run's edge. */
  readonly endpoint?: string;
  /** Attempts made so far. */
  attempts: number;
}

/** Lambda's asynchronous-invocation record (what `onSuccess` / `onFailure` destinations receive). */
export interface AsyncInvocationRecord {
  readonly version: '1.0';
  readonly timestamp: string;
  readonly requestContext: {
    readonly requestId: string;
    readonly functionArn: string;
    readonly condition: 'Success' | 'RetriesExhausted' | 'EventAgeExceeded';
    readonly approximateInvokeCount: number;
  };
  readonly requestPayload: unknown;
  readonly responseContext: { readonly statusCode: number; readonly executedVersion: string; readonly functionError?: string };
  readonly responsePayload?: unknown;
}

interface Pending {
  readonly requestId: string;
  readonly event: unknown;
  readonly resolve: (r: LambdaInvokeResult) => void;
  /** When it was queued. */
  readonly at: number;
}

interface Worker {
  readonly child: ChildProcess;
  readonly stream: string;
  busy?: { requestId: string; since: number; lines: string[]; finish: (r: Omit<LambdaInvokeResult, 'requestId'>) => void };
  dead: boolean;
  /** Spawned, its handler not loaded yet (Lambda's init phase). */
  starting: boolean;
  idleTimer?: NodeJS.Timeout;
}

/** Every worker busy this long with its current invocation: the pool starts another (long invocations run side by side). */
const LONG_INVOCATION_MS = 100;
/** A queued invocation waits this long for a warm worker before the pool may start another for it. */
const QUEUE_WAIT_MS = 50;
/** … and only if the machine's CPUs were idle this share of a window … */
const SPARE_CPU = 0.35;
/** … of this long, the last one measured while the queue waited, after its last new worker was ready (so one new worker per window; `IdleCpuWindow`). */
const CPU_WINDOW_MS = 500;

/** What a function's pool knows when an invocation is queued and no worker is idle. */
export interface PoolState {
  readonly now: number;
  /** Its live workers, all busy: `starting` until the handler is loaded, busy since (ms) otherwise. */
  readonly workers: ReadonlyArray<{ readonly starting: boolean; readonly busySince?: number }>;
  readonly queued: number;
  /** When the oldest queued invocation arrived. */
  readonly oldestQueuedAt: number;
  /** The share of the machine's CPU time idle over the last window, once one has passed since the last new worker. */
  readonly idleCpu?: number;
  /** The most workers busy at once in any other function's pool now (0 when none). */
  readonly peerBusy: number;
  readonly maxWorkers: number;
}

/**
 * Whether a local function's pool starts another warm process for its queue now, and if not when
 * to look again. Lambda starts a new execution environment for every concurrent invocation. On
 * one machine a new process costs a cold start (≈ 100–300 ms of CPU: the function and the AWS SDK
 * loaded), every process optimizes the same code again on its own, and more busy processes than
 * cores only take turns on them; so a short invocation is served sooner, and with less CPU, by the
 * first warm worker to free up (docs/benchmarks.md, "Fewer, warmer workers"). One worker starts
 * - when there is none;
 * - when every worker has been busy with its current invocation for `LONG_INVOCATION_MS`: long
 *   invocations (a task that sleeps or waits) run side by side, one more worker per
 *   `LONG_INVOCATION_MS` after the last one is ready;
 * - when the oldest queued invocation has waited `QUEUE_WAIT_MS` and the machine's CPUs were
 *   `SPARE_CPU` idle over the last window (`IdleCpuWindow`): the workers cannot keep up and
 *   another has room to run;
 * - when the oldest queued invocation has waited `QUEUE_WAIT_MS` and another function has more
 *   workers busy than this one has workers, whatever the CPUs: the machine shares its cores
 *   between processes, not functions, so a function with one process beside one with three
 *   busy would get a quarter of their time however long its queue (an asynchronous function's
 *   backlog behind the submits of a busy TaskApi); it gets as many as the busiest other, no more;
 * and none while a worker is starting (its init would look like a long invocation), nor beyond
 * `maxWorkers`.
 */
export function shouldStartWorker(state: PoolState): { start: boolean; recheckInMs?: number } {
  const live = state.workers.length;
  if (state.queued === 0 || live >= state.maxWorkers) return { start: false };
  if (live === 0) return { start: true };
  if (state.workers.some((w) => w.starting)) return { start: false }; // its init's end looks again
  const longFor = state.now - Math.max(...state.workers.map((w) => w.busySince ?? state.now));
  if (longFor >= LONG_INVOCATION_MS) return { start: true };
  const waited = state.now - state.oldestQueuedAt;
  if (waited >= QUEUE_WAIT_MS && state.idleCpu !== undefined && state.idleCpu >= SPARE_CPU) return { start: true };
  if (waited >= QUEUE_WAIT_MS && live < state.peerBusy) return { start: true };
  const untilWaited = waited < QUEUE_WAIT_MS ? QUEUE_WAIT_MS - waited : CPU_WINDOW_MS / 5;
  return { start: false, recheckInMs: Math.max(1, Math.min(LONG_INVOCATION_MS - longFor, untilWaited)) };
}

/** The machine's CPU times so far (ms): idle and all (none where `os.cpus()` lists no CPUs: then only long invocations start workers). */
function cpuTimes(): { idle: number; total: number } {
  let idle = 0;
  let total = 0;
  for (const { times } of os.cpus()) {
    idle += times.idle;
    total += times.user + times.nice + times.sys + times.idle + times.irq;
  }
  return { idle, total };
}

/**
 * The machine's idle CPU share over the last `CPU_WINDOW_MS` window, for a pool deciding whether
 * another worker has room. A window is measured while the pool asks (its queue waits); one that
 * began more than two windows ago is stale — it would show a past phase, an idle pause between
 * bursts — and a new one begins, so a share is never older than a window.
 */
export class IdleCpuWindow {
  private mark?: { at: number; idle: number; total: number };
  private last?: number;

  public constructor(private readonly times: () => { idle: number; total: number } = cpuTimes) {}

  /** The idle share of the last complete window, or undefined while there is none yet. */
  public read(now: number): number | undefined {
    const mark = this.mark;
    if (!mark || now - mark.at > 2 * CPU_WINDOW_MS) {
      this.mark = { at: now, ...this.times() };
      this.last = undefined;
      return undefined;
    }
    if (now - mark.at >= CPU_WINDOW_MS) {
      const next = { at: now, ...this.times() };
      this.mark = next;
      this.last = next.total > mark.total ? (next.idle - mark.idle) / (next.total - mark.total) : undefined;
    }
    return this.last;
  }

  /** Starts over (a new worker is ready: the next window shows the machine with it running). */
  public reset(): void {
    this.mark = undefined;
    this.last = undefined;
  }
}

class FunctionPool {
  private readonly workers: Worker[] = [];
  private readonly queue: Pending[] = [];
  private readonly codeDir?: string;
  private closed = false;
  private scaleTimer?: NodeJS.Timeout;
  /** The machine's idle CPU share (reset when a new worker is ready). */
  private readonly cpu = new IdleCpuWindow();

  public constructor(
    public readonly fn: LocalFunction,
    private readonly deps: LocalLambdaDeps,
    /** The most workers busy at once in any other function's pool (`PoolState.peerBusy`). */
    private readonly peerBusy: () => number = () => 0,
  ) {
    if (fn.codeDir) {
      this.codeDir = fn.codeDir;
    } else if (fn.inlineCode !== undefined) {
      const dir = path.join(deps.workDir, 'lambda-inline', fn.name);
      mkdirSync(dir, { recursive: true });
      writeFileSync(path.join(dir, 'index.js'), fn.inlineCode);
      this.codeDir = dir;
    }
  }

  public invoke(requestId: string, event: unknown): Promise<LambdaInvokeResult> {
    if (this.closed) return Promise.reject(new AwsError('ServiceException', 'the local runtime is shutting down', 500));
    return new Promise((resolve) => {
      this.queue.push({ requestId, event, resolve, at: Date.now() });
      this.pump();
    });
  }

  private pump(): void {
    while (this.queue.length > 0) {
      let w = this.workers.find((x) => !x.busy && !x.dead);
      if (!w) {
        if (!this.mayStartWorker()) return;
        w = this.spawn();
        if (!w) return;
      }
      const job = this.queue.shift();
      if (job) this.run(w, job);
    }
  }

  /** Whether to start a worker for the queue now (`shouldStartWorker`); if not, arms the look again. */
  private mayStartWorker(): boolean {
    const now = Date.now();
    const decision = shouldStartWorker({
      now,
      workers: this.workers.filter((x) => !x.dead).map((x) => ({ starting: x.starting, busySince: x.busy?.since })),
      queued: this.queue.length,
      oldestQueuedAt: this.queue[0]?.at ?? now,
      idleCpu: this.cpu.read(now),
      peerBusy: this.peerBusy(),
      maxWorkers: this.deps.maxWorkers ?? 8,
    });
    if (decision.recheckInMs !== undefined && !this.scaleTimer) {
      this.scaleTimer = setTimeout(() => {
        this.scaleTimer = undefined;
        if (!this.closed) this.pump();
      }, decision.recheckInMs);
    }
    return decision.start;
  }

  private log(stream: string, lines: string[], worker?: Worker): void {
    worker?.busy?.lines.push(...lines);
    try {
      this.deps.logs.append(this.fn.logGroupName, stream, lines, Date.now());
    } catch {
      // logging never fails an invocation
    }
  }

  private spawn(): Worker | undefined {
    const fn = this.fn;
    const date = new Date().toISOString().slice(0, 10).replace(/-/g, '/');
    const stream = `${date}/[$LATEST]${randomUUID().replace(/-/g, '')}`;
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
      ...(process.env.HOME ? { HOME: process.env.HOME } : {}),
      LANG: 'en_US.UTF-8',
      TZ: ':UTC',
      NODE_PATH: PROJECT_NODE_MODULES,
      ...fn.environment,
      AWS_ENDPOINT_URL: this.deps.endpoint,
      AWS_REGION: LOCAL_REGION,
      AWS_DEFAULT_REGION: LOCAL_REGION,
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      AWS_LAMBDA_FUNCTION_NAME: fn.name,
      AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(fn.memoryMb),
      AWS_LAMBDA_LOG_GROUP_NAME: fn.logGroupName,
      AWS_LAMBDA_LOG_STREAM_NAME: stream,
      AWS_LAMBDA_LOG_FORMAT: fn.logFormat,
      // As Lambda's advanced logging controls do for a JSON-format function with a level.
      ...(fn.logLevel ? { AWS_LAMBDA_LOG_LEVEL: fn.logLevel } : {}),
      AWS_EXECUTION_ENV: `AWS_Lambda_${fn.runtime}`,
      LAMBDA_TASK_ROOT: this.codeDir ?? '',
      _HANDLER: fn.handler,
      ASYNCTASK_LOCAL: '1',
    };
    let child: ChildProcess;
    try {
      child = fork(WORKER_SCRIPT, [], {
        cwd: this.codeDir ?? this.deps.workDir,
        env,
        execArgv: [...WORKER_EXEC_ARGV],
        stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
        serialization: 'json',
      });
    } catch (error) {
      const job = this.queue.shift();
      job?.resolve({
        requestId: job.requestId,
        functionError: 'Unhandled',
        payload: { errorType: 'Runtime.InvalidEntrypoint', errorMessage: (error as Error).message, trace: [] },
      });
      return undefined;
    }
    const w: Worker = { child, stream, dead: false, starting: true };
    this.workers.push(w);
    for (const s of [child.stdout, child.stderr]) {
      if (s) createInterface({ input: s }).on('line', (line) => this.log(stream, [line], w));
    }
    child.on('message', (msg: { type: string; lines?: string[]; requestId?: string; ok?: boolean; payload?: unknown; error?: unknown }) => {
      if (msg.type === 'log' && msg.lines) this.log(stream, msg.lines, w);
      else if (msg.type === 'initialized') {
        w.starting = false;
        this.cpu.reset(); // the next window shows the machine with this worker running
        if (w.busy && msg.requestId === w.busy.requestId) w.busy.since = Date.now();
        this.pump();
      } else if (msg.type === 'done' && w.busy && msg.requestId === w.busy.requestId) {
        const finish = w.busy.finish;
        if (msg.ok) finish({ payload: msg.payload });
        else finish({ payload: msg.error, functionError: 'Unhandled' });
      } else if (msg.type === 'crash' && w.busy) {
        const finish = w.busy.finish;
        finish({ payload: msg.error, functionError: 'Unhandled' });
      }
    });
    child.on('exit', (code, signal) => {
      w.dead = true;
      const i = this.workers.indexOf(w);
      if (i >= 0) this.workers.splice(i, 1);
      if (w.busy) {
        const { requestId, finish } = w.busy;
        finish({
          functionError: 'Unhandled',
          payload: {
            errorType: 'Runtime.ExitError',
            errorMessage: `RequestId: ${requestId} Error: Runtime exited ${signal ? `with signal: ${signal}` : `with error: exit status ${code}`}`,
          },
        });
      }
      if (!this.closed) this.pump();
    });
    child.on('error', () => {
      // 'exit' follows
    });
    return w;
  }

  private run(w: Worker, job: Pending): void {
    if (w.idleTimer) clearTimeout(w.idleTimer);
    w.idleTimer = undefined;
    const fn = this.fn;
    const started = Date.now();
    const timeoutMs = fn.timeoutSeconds * 1000;
    let timer: NodeJS.Timeout | undefined;
    const finish = (r: Omit<LambdaInvokeResult, 'requestId'>): void => {
      if (!w.busy || w.busy.requestId !== job.requestId) return;
      const ms = Date.now() - started;
      this.log(
        w.stream,
        [
          `END RequestId: ${job.requestId}`,
          `REPORT RequestId: ${job.requestId}\tDuration: ${ms.toFixed(2)} ms\tBilled Duration: ${Math.max(1, Math.ceil(ms))} ms\tMemory Size: ${fn.memoryMb} MB`,
        ],
        w,
      );
      const lines = w.busy.lines;
      w.busy = undefined;
      w.starting = false;
      if (timer) clearTimeout(timer);
      job.resolve({ requestId: job.requestId, ...r, log: lines.join('\n') });
      if (!this.closed) {
        setImmediate(() => {
          this.pump();
          this.reapLater(w);
        });
      }
    };
    w.busy = { requestId: job.requestId, since: started, lines: [], finish };
    this.log(w.stream, [`START RequestId: ${job.requestId} Version: $LATEST`], w);
    timer = setTimeout(() => {
      const secs = fn.timeoutSeconds.toFixed(2);
      this.log(w.stream, [`${new Date().toISOString()} ${job.requestId} Task timed out after ${secs} seconds`], w);
      finish({
        functionError: 'Unhandled',
        payload: { errorType: 'Sandbox.Timedout', errorMessage: `RequestId: ${job.requestId} Error: Task timed out after ${secs} seconds` },
      });
      w.dead = true;
      w.child.kill('SIGKILL');
    }, timeoutMs);
    try {
      w.child.send({ type: 'invoke', requestId: job.requestId, event: job.event, deadline: started + timeoutMs, functionArn: fn.arn });
    } catch (error) {
      finish({ functionError: 'Unhandled', payload: { errorType: 'Runtime.ExitError', errorMessage: (error as Error).message } });
    }
  }

  /** Scale down: an idle worker that is not the last one stops after `idleMs`. */
  private reapLater(w: Worker): void {
    if (w.busy || w.dead || w.idleTimer) return;
    w.idleTimer = setTimeout(() => {
      w.idleTimer = undefined;
      if (!w.busy && !w.dead && this.workers.filter((x) => !x.dead).length > 1) {
        w.dead = true;
        w.child.kill('SIGTERM');
      }
    }, this.deps.idleMs ?? 60_000);
    w.idleTimer.unref();
  }

  public async close(): Promise<void> {
    this.closed = true;
    if (this.scaleTimer) clearTimeout(this.scaleTimer);
    for (const w of this.workers) if (w.idleTimer) clearTimeout(w.idleTimer);
    for (const job of this.queue.splice(0)) {
      job.resolve({
        requestId: job.requestId,
        functionError: 'Unhandled',
        payload: { errorType: 'Runtime.ExitError', errorMessage: 'the local runtime stopped' },
      });
    }
    await Promise.all(
      this.workers.map(
        (w) =>
          new Promise<void>((resolve) => {
            if (w.child.exitCode !== null || w.child.signalCode !== null) return resolve();
            w.child.once('exit', () => resolve());
            w.child.kill('SIGKILL');
          }),
      ),
    );
  }

  /** Its workers busy with an invocation now. */
  public get busy(): number {
    return this.workers.filter((w) => w.busy && !w.dead).length;
  }

  public get size(): number {
    return this.workers.length;
  }
}

/** Parses a Lambda function reference: name, ARN, partial ARN, each optionally `:qualifier`. */
export function functionNameOf(ref: string): { name: string; qualifier?: string } {
  const parts = ref.split(':');
  if (ref.startsWith('arn:')) return { name: parts[6] ?? '', ...(parts[7] ? { qualifier: parts[7] } : {}) };
  if (parts.length >= 3 && parts[1] === 'function') return { name: parts[2], ...(parts[3] ? { qualifier: parts[3] } : {}) };
  return { name: parts[0], ...(parts[1] ? { qualifier: parts[1] } : {}) };
}

export class LocalLambda implements LambdaInvoker {
  private readonly pools = new Map<string, FunctionPool>();
  private readonly background = new Set<Promise<unknown>>();
  private readonly asyncConfigs = new Map<string, LocalEventInvokeConfig>();
  private readonly pendingAsync = new Map<string, AsyncEvent>();
  private closed = false;

  public constructor(readonly deps: LocalLambdaDeps) {
    for (const fn of deps.functions) {
      const pool: FunctionPool = new FunctionPool(fn, deps, () =>
        Math.max(0, ...[...this.pools.values()].filter((other) => other !== pool).map((other) => other.busy)),
      );
      this.pools.set(fn.name, pool);
    }
    for (const config of deps.eventInvokeConfigs ?? []) this.asyncConfigs.set(config.functionName, config);
  }

  /** Asynchronous invocations queued so far and not done (tests, the bench). */
  public get asyncBacklog(): number {
    return this.pendingAsync.size;
  }

  /**
   * Runs the asynchronous invocations the journal holds as not done (a previous run that
   * crashed), with the attempts they had made; then starts a fresh journal.
   */
  public resumeAsync(): number {
    const file = this.deps.asyncJournal;
    if (!file) return 0;
    const pending = new Map<string, AsyncEvent>();
    if (existsSync(file)) {
      for (const line of readFileSync(file, 'utf8').split('\n')) {
        if (line === '') continue;
        let entry: { op: string; event?: AsyncEvent; requestId?: string; attempts?: number };
        try {
          entry = JSON.parse(line);
        } catch {
          continue; // a line cut by the crash
        }
        if (entry.op === 'add' && entry.event) pending.set(entry.event.requestId, entry.event);
        else if (entry.op === 'attempt' && entry.requestId && pending.has(entry.requestId)) {
          (pending.get(entry.requestId) as AsyncEvent).attempts = entry.attempts ?? 0;
        } else if (entry.op === 'done' && entry.requestId) pending.delete(entry.requestId);
      }
    }
    // The edge listens on another port after a restart: the local URLs an event carries (an
    // economy task's success queue URL in its envelope) follow it, as AWS's never change.
    for (const [id, event] of pending) {
      if (event.endpoint && event.endpoint !== this.deps.endpoint) {
        const payload = JSON.parse(JSON.stringify(event.payload).split(event.endpoint).join(this.deps.endpoint)) as unknown;
        pending.set(id, { ...event, payload, endpoint: this.deps.endpoint });
      }
    }
    writeFileSync(file, [...pending.values()].map((event) => `${JSON.stringify({ op: 'add', event })}\n`).join(''));
    for (const event of pending.values()) this.startAsync(event);
    return pending.size;
  }

  private journal(entry: object): void {
    if (!this.deps.asyncJournal) return;
    try {
      appendFileSync(this.deps.asyncJournal, `${JSON.stringify(entry)}\n`);
    } catch (error) {
      this.warn(`asynchronous invocation journal not written: ${(error as Error).message}`);
    }
  }

  private warn(message: string): void {
    (this.deps.warn ?? ((m: string) => process.stderr.write(`${m}\n`)))(message);
  }

  private startAsync(event: AsyncEvent): void {
    this.pendingAsync.set(event.requestId, event);
    const p = this.runAsync(event)
      .catch((error) => this.warn(`asynchronous invocation ${event.requestId} of ${event.functionName}: ${(error as Error).message}`))
      .finally(() => {
        this.background.delete(p);
        this.pendingAsync.delete(event.requestId);
      });
    this.background.add(p);
  }

  /** Lambda's asynchronous invocation: attempts, retries with backoff, event age, the outcome's record. */
  private async runAsync(event: AsyncEvent): Promise<void> {
    const pool = this.pools.get(event.functionName);
    if (!pool) return;
    const config = this.asyncConfigs.get(event.functionName);
    const retries = config?.maximumRetryAttempts ?? 2;
    const maxAgeMs = (config?.maximumEventAgeSeconds ?? 21_600) * 1000;
    const delays = this.deps.asyncRetryDelaysMs ?? [1000, 2000];
    const record = (
      condition: AsyncInvocationRecord['requestContext']['condition'],
      result?: LambdaInvokeResult,
    ): AsyncInvocationRecord => ({
      version: '1.0',
      timestamp: new Date().toISOString(),
      requestContext: {
        requestId: event.requestId,
        functionArn: `${pool.fn.arn}:$LATEST`,
        condition,
        approximateInvokeCount: event.attempts,
      },
      requestPayload: event.payload,
      responseContext: {
        statusCode: 200,
        executedVersion: '$LATEST',
        ...(result?.functionError ? { functionError: result.functionError } : {}),
      },
      ...(result ? { responsePayload: result.payload } : {}),
    });
    for (;;) {
      if (this.closed) return; // left in the journal: a restart runs it
      if (Date.now() - event.acceptedAt > maxAgeMs) {
        await this.sendRecord(config?.onFailure, record('EventAgeExceeded'));
        break;
      }
      event.attempts++;
      this.journal({ op: 'attempt', requestId: event.requestId, attempts: event.attempts });
      const result = await pool.invoke(event.requestId, event.payload).catch(
        (error): LambdaInvokeResult => ({
          requestId: event.requestId,
          functionError: 'Unhandled',
          payload: { errorType: 'ServiceException', errorMessage: (error as Error).message },
        }),
      );
      if (this.closed) return;
      if (!result.functionError) {
        await this.sendRecord(config?.onSuccess, record('Success', result));
        break;
      }
      if (event.attempts > retries) {
        await this.sendRecord(config?.onFailure, record('RetriesExhausted', result));
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, delays[Math.min(event.attempts - 1, delays.length - 1)] ?? 1000));
    }
    this.journal({ op: 'done', requestId: event.requestId });
  }

  private async sendRecord(destination: string | undefined, record: AsyncInvocationRecord): Promise<void> {
    if (!destination) return;
    try {
      if (destination.startsWith('arn:aws:lambda:') && this.find(destination)) {
        await this.invoke(destination, record, 'Event');
      } else if (this.deps.deliver) {
        await this.deps.deliver(destination, record);
      } else {
        this.warn(
          `no local delivery to ${destination}; the ${record.requestContext.condition} record of ${record.requestContext.requestId} is dropped`,
        );
      }
    } catch (error) {
      this.warn(
        `could not deliver the ${record.requestContext.condition} record of ${record.requestContext.requestId} to ${destination}: ${(error as Error).message}`,
      );
    }
  }

  public find(functionRef: string): LocalFunction | undefined {
    const { name } = functionNameOf(functionRef);
    return this.pools.get(name)?.fn;
  }

  public async invoke(
    functionRef: string,
    payload: unknown,
    invocationType: 'RequestResponse' | 'Event' = 'RequestResponse',
  ): Promise<LambdaInvokeResult> {
    const { name, qualifier } = functionNameOf(functionRef);
    const pool = this.pools.get(name);
    if (!pool) {
      throw new AwsError(
        'ResourceNotFoundException',
        `Function not found: arn:aws:lambda:${LOCAL_REGION}:000000000000:function:${name}`,
        404,
      );
    }
    if (qualifier && qualifier !== '$LATEST') {
      throw new AwsError(
        'ResourceNotFoundException',
        `Function not found: ${pool.fn.arn}:${qualifier} (the local runtime runs $LATEST only)`,
        404,
      );
    }
    const requestId = randomUUID();
    if (invocationType === 'Event') {
      const event: AsyncEvent = {
        requestId,
        functionName: name,
        payload,
        acceptedAt: Date.now(),
        attempts: 0,
        endpoint: this.deps.endpoint,
      };
      this.journal({ op: 'add', event });
      this.startAsync(event);
      return { requestId, payload: undefined };
    }
    return pool.invoke(requestId, payload);
  }

  /** Resolves when every asynchronous invocation in flight has ended, retries included (tests). */
  public async idle(): Promise<void> {
    while (this.background.size > 0) await Promise.all([...this.background]);
  }

  /** Warm processes of a function (tests). */
  public workers(functionName: string): number {
    return this.pools.get(functionName)?.size ?? 0;
  }

  public async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.pools.values()].map((p) => p.close()));
  }
}
