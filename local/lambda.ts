/**
 * Lambda, locally: each synthesized Node.js function runs in warm child processes (a pool per
 * function, up to `maxWorkers`, invocations queue beyond), with the function's resolved
 * environment plus `AWS_ENDPOINT_URL` = the edge. Console output goes to the function's log
 * group (one stream per worker) with START / END / REPORT lines; the function timeout kills the
 * worker (`Task timed out`). `Event` invocations run in the background.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { LocalFunction } from './template';
import { AwsError, type LambdaInvokeResult, type LambdaInvoker, LOCAL_REGION, type LogSink } from './types';

const WORKER_SCRIPT = path.join(__dirname, 'lambda-worker.cjs');
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
}

interface Pending {
  readonly requestId: string;
  readonly event: unknown;
  readonly resolve: (r: LambdaInvokeResult) => void;
}

interface Worker {
  readonly child: ChildProcess;
  readonly stream: string;
  busy?: { requestId: string; lines: string[]; finish: (r: Omit<LambdaInvokeResult, 'requestId'>) => void };
  dead: boolean;
  idleTimer?: NodeJS.Timeout;
}

class FunctionPool {
  private readonly workers: Worker[] = [];
  private readonly queue: Pending[] = [];
  private readonly codeDir?: string;
  private closed = false;

  public constructor(
    public readonly fn: LocalFunction,
    private readonly deps: LocalLambdaDeps,
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
      this.queue.push({ requestId, event, resolve });
      this.pump();
    });
  }

  private pump(): void {
    while (this.queue.length > 0) {
      let w = this.workers.find((x) => !x.busy && !x.dead);
      if (!w) {
        if (this.workers.length >= (this.deps.maxWorkers ?? 8)) return;
        w = this.spawn();
        if (!w) return;
      }
      const job = this.queue.shift();
      if (job) this.run(w, job);
    }
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
        execArgv: ['--enable-source-maps'],
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
    const w: Worker = { child, stream, dead: false };
    this.workers.push(w);
    for (const s of [child.stdout, child.stderr]) {
      if (s) createInterface({ input: s }).on('line', (line) => this.log(stream, [line], w));
    }
    child.on('message', (msg: { type: string; lines?: string[]; requestId?: string; ok?: boolean; payload?: unknown; error?: unknown }) => {
      if (msg.type === 'log' && msg.lines) this.log(stream, msg.lines, w);
      else if (msg.type === 'done' && w.busy && msg.requestId === w.busy.requestId) {
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
      if (timer) clearTimeout(timer);
      job.resolve({ requestId: job.requestId, ...r, log: lines.join('\n') });
      if (!this.closed) {
        setImmediate(() => {
          this.pump();
          this.reapLater(w);
        });
      }
    };
    w.busy = { requestId: job.requestId, lines: [], finish };
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

  public constructor(readonly deps: LocalLambdaDeps) {
    for (const fn of deps.functions) this.pools.set(fn.name, new FunctionPool(fn, deps));
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
    const run = pool.invoke(requestId, payload);
    if (invocationType === 'Event') {
      const p = run.catch(() => undefined).finally(() => this.background.delete(p));
      this.background.add(p);
      return { requestId, payload: undefined };
    }
    return run;
  }

  /** Warm processes of a function (tests). */
  public workers(functionName: string): number {
    return this.pools.get(functionName)?.size ?? 0;
  }

  public async close(): Promise<void> {
    await Promise.all([...this.pools.values()].map((p) => p.close()));
  }
}
