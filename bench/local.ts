#!/usr/bin/env node
/**
 * Benchmark of the local runtime (run by hand: `npx tsx bench/local.ts [options]`; not part of
 * `npm test`). In one run it measures:
 *
 * 1. the baseline: a bare dynalite server and a loop of conditional PutItems
 *    (`attribute_not_exists(taskId)`) on a table with the tasks table's keys and indexes — the
 *    floor of a submit, which is one such put plus the TaskApi Lambda around it;
 * 2. submit throughput of the no-op Lambda task function `echo` of the e2e fixture stack on the
 *    local runtime, at the same concurrency, and the time until every one of those tasks is
 *    Succeeded — learnt from the function's success queue, as a consumer of its destination
 *    would; then the same with C pollers of `get` (the figure before 2026-11-30) — with the CPU
 *    each part of the runtime used, per task, and how many warm processes each function had;
 * 3. submit → Succeeded latency (p50 / p95) of one task at a time, seen by a client polling
 *    `get`, and as the record has it (endTime − startedTime);
 * 4. per successful task, from GetExecutionHistory of a few executions (plus the submit's put
 *    and TaskApi invocation): state transitions, DynamoDB writes, Lambda invocations, and the
 *    AWS cost per million tasks at list prices.
 *
 * 5. the same throughput (both ways of waiting, CPU per task), latency and per-task figures for `echo_eco`, the fixture's economy-mode
 *    twin (Lambda's own asynchronous invocation + the handler wrapper): no state transitions; its
 *    writes counted from the stored item (one event per status write, plus the success
 *    delivery's outcome), their write units with index copies from the template's indexes
 *    (model `indexedWriteUnits`), and Lambda's own asynchronous invocation of the plain `echo` handler
 *    (`Invoke`, `Event`) as the reference: its accept throughput and its cost (the SQS record).
 *
 * Options: --tasks N (submits in the throughput run, default 300), --concurrency C (default 8),
 * --latency N (sequential tasks for latency, default 40), --puts N (baseline puts, default 2000),
 * --histories N (executions whose history is read, default 5), --persist 1 (the runtime keeps its state in
 * a data dir, as `asynctask dev --data-dir`: every execution step on disk, DynamoDB in LevelDB),
 * --warmup N (tasks of each mode run to Succeeded before its measurements, C at a time, each
 * polled with get; default 1,000: the runtime process's JIT warms over the first few
 * hundred tasks — with 16, whichever throughput run came first paid ≈ 3 ms of CPU per task more
 * than the one after it — and a Lambda worker's AWS SDK code over its first ≈ 3,000 calls,
 * 1.3 → 0.4 ms of CPU per call: with 200, the economy wrapper's one or two workers had made at
 * most 800 calls each when the measured run began).
 */
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  GetItemCommand,
  ListTablesCommand,
  PutItemCommand,
} from '@aws-sdk/client-dynamodb';
import { GetExecutionHistoryCommand, type HistoryEvent, SFNClient } from '@aws-sdk/client-sfn';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { DeleteMessageBatchCommand, PurgeQueueCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { AsyncTaskClient } from '../client/client';
import { LOCAL_CREDENTIALS as CREDENTIALS, LOCAL_REGION as REGION } from '../client/defaults';
import {
  DEFAULT_PRICE_REGION,
  type IndexSpec,
  indexedWriteUnits,
  PRICES as LIST_PRICES,
  serviceInvocationUsd,
  type TableTemplateProperties,
  tableIndexSpecs,
} from '../lambda/model/cost';
import { ECONOMY_RECONCILER_READ_UNITS, ECONOMY_RECONCILER_READS_PER_TASK } from '../lambda/model/orchestration';
import type { TaskRecord } from '../lambda/model';
import { TABLE, tableKey } from '../lambda/model/table';
import { startRuntime } from '../local/runtime';
import { PROJECT_ROOT, synthesize } from '../test/e2e/synth';
import { parseWholeNumberOptions, runBench } from './cli';

// The SDK's multi-line Node-version notice would interleave with the figures.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

// biome-ignore lint/suspicious/noExplicitAny: dynalite ships no types
const dynalite = require('dynalite') as (options: Record<string, unknown>) => any;

/** The us-east-1 row of the model's list prices (lambda/model/cost.ts `PRICES`). */
const US_EAST_1 = LIST_PRICES[DEFAULT_PRICE_REGION];

/** AWS list prices (us-east-1), from the model's table under the names the benchmarks use. */
export const PRICES = {
  /** Step Functions Standard, per state transition. */
  stateTransition: US_EAST_1.transition,
  /** DynamoDB on-demand, per write request unit (1 WRU per write of an item up to 1 KB). */
  writeRequestUnit: US_EAST_1.writeUnit,
  /** DynamoDB on-demand, per read request unit. */
  readRequestUnit: US_EAST_1.readUnit,
  /** Lambda, per request. */
  lambdaRequest: US_EAST_1.lambdaRequest,
  /** Lambda arm64, per GB-second. */
  lambdaGbSecond: US_EAST_1.lambdaGbSecond.arm64,
  /** SQS standard, per request (64 KB chunk): the destination delivery, outside the brief's three services. */
  sqsRequest: US_EAST_1.sqsRequest,
} as const;

interface Options {
  tasks: number;
  concurrency: number;
  latency: number;
  puts: number;
  histories: number;
  /** 1: the runtime keeps its state in a data dir (executions' steps, DynamoDB in LevelDB, logs), as `asynctask dev --data-dir`. */
  persist: number;
  /** Tasks of each mode run to Succeeded before its measurements (default 1,000: starts the Lambda workers and warms every process's JIT). */
  warmup: number;
}

function parseOptions(argv: readonly string[]): Options {
  return parseWholeNumberOptions('bench/local.ts', argv, {
    tasks: 300,
    concurrency: 8,
    latency: 40,
    puts: 2000,
    histories: 5,
    persist: 0,
    warmup: 1000,
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** Runs `job(i)` for i in [0, n) with at most `concurrency` at once; returns each call's duration (ms) and the wall time. */
async function pool(n: number, concurrency: number, job: (i: number) => Promise<void>): Promise<{ durations: number[]; wallMs: number }> {
  const durations: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(concurrency, n) }, async () => {
      for (;;) {
        const i = next++;
        if (i >= n) return;
        const t0 = performance.now();
        await job(i);
        durations.push(performance.now() - t0);
      }
    }),
  );
  return { durations, wallMs: performance.now() - started };
}

const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');

/** The baseline: bare dynalite, conditional PutItem loops at concurrency 1 and C. */
async function baseline(
  options: Options,
): Promise<{ seq: { perSecond: number; p50: number; p95: number }; conc: { perSecond: number; p50: number; p95: number } }> {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const ddb = new DynamoDBClient({ endpoint: `http://127.0.0.1:${port}`, region: REGION, credentials: CREDENTIALS });
  const TableName = 'baseline';
  const S = 'S' as const;
  await ddb.send(
    new CreateTableCommand({
      TableName,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: TABLE.partitionKey, AttributeType: S },
        { AttributeName: TABLE.sortKey, AttributeType: S },
        { AttributeName: TABLE.listKey, AttributeType: S },
        { AttributeName: TABLE.statusKey, AttributeType: S },
      ],
      KeySchema: [
        { AttributeName: TABLE.partitionKey, KeyType: 'HASH' },
        { AttributeName: TABLE.sortKey, KeyType: 'RANGE' },
      ],
      GlobalSecondaryIndexes: [
        {
          IndexName: TABLE.byTimeIndex,
          KeySchema: [
            { AttributeName: TABLE.partitionKey, KeyType: 'HASH' },
            { AttributeName: TABLE.listKey, KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
        {
          IndexName: TABLE.byStatusIndex,
          KeySchema: [
            { AttributeName: TABLE.statusKey, KeyType: 'HASH' },
            { AttributeName: TABLE.listKey, KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
      ],
    }),
  );
  while ((await ddb.send(new DescribeTableCommand({ TableName }))).Table?.TableStatus !== 'ACTIVE') await sleep(10);

  const put = async (taskId: string) => {
    const now = new Date().toISOString();
    await ddb.send(
      new PutItemCommand({
        TableName,
        Item: {
          ...tableKey({ S: 'echo' }, { S: taskId }),
          [TABLE.statusKey]: { S: 'echo#Enqueued' },
          [TABLE.listKey]: { S: `${now}#${taskId}` },
          status: { S: 'Enqueued' },
          requestId: { S: randomUUID() },
          taskPayload: { S: '{"n":1}' },
          startedAt: { S: now },
          deadline: { S: now },
          alreadyRetriedTimes: { N: '0' },
          events: { L: [{ M: { status: { S: 'Enqueued' }, at: { S: now } } }] },
          expiresAt: { N: String(Math.floor(Date.now() / 1000) + 7 * 86400) },
        },
        ConditionExpression: 'attribute_not_exists(#id) OR #exp < :now',
        ExpressionAttributeNames: { '#id': TABLE.sortKey, '#exp': 'expiresAt' },
        ExpressionAttributeValues: { ':now': { N: String(Math.floor(Date.now() / 1000)) } },
      }),
    );
  };
  // Warm-up.
  await pool(100, 4, (i) => put(`warm-${i}`));
  const seq = await pool(options.puts, 1, (i) => put(`seq-${i}`));
  const conc = await pool(options.puts, options.concurrency, (i) => put(`conc-${i}`));
  ddb.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  const stats = (r: { durations: number[]; wallMs: number }) => ({
    perSecond: (r.durations.length / r.wallMs) * 1000,
    p50: percentile(r.durations, 50),
    p95: percentile(r.durations, 95),
  });
  return { seq: stats(seq), conc: stats(conc) };
}

/** DynamoDB's item size: attribute names plus values (strings UTF-8, numbers ~ digits/2 + 1, lists/maps 3 + elements). */
// biome-ignore lint/suspicious/noExplicitAny: raw attribute values
export function itemBytes(item: Record<string, any>): number {
  // biome-ignore lint/suspicious/noExplicitAny: raw attribute values
  const value = (v: any): number => {
    if (v.S !== undefined) return Buffer.byteLength(v.S);
    if (v.N !== undefined) return Math.ceil(String(v.N).replace(/^-/, '').replace('.', '').length / 2) + 1;
    if (v.BOOL !== undefined || v.NULL !== undefined) return 1;
    if (v.SS !== undefined) return v.SS.reduce((n: number, s: string) => n + Buffer.byteLength(s), 0);
    if (v.L !== undefined) return 3 + v.L.reduce((n: number, x: unknown) => n + 1 + value(x), 0);
    if (v.M !== undefined) return 3 + Object.entries(v.M).reduce((n, [k, x]) => n + 1 + Buffer.byteLength(k) + value(x), 0);
    return 0;
  };
  return Object.entries(item).reduce((n, [k, v]) => n + Buffer.byteLength(k) + value(v), 0);
}

interface HistoryCount {
  stateTransitions: number;
  dynamodbWrites: number;
  lambdaInvocations: number;
  otherServiceCalls: string[];
  /** ms between TaskStarted and TaskSucceeded of the runner's lambda:invoke. */
  lambdaMs: number[];
}

function countHistory(events: readonly HistoryEvent[]): HistoryCount {
  const count: HistoryCount = { stateTransitions: 0, dynamodbWrites: 0, lambdaInvocations: 0, otherServiceCalls: [], lambdaMs: [] };
  let lambdaStarted: number | undefined;
  for (const e of events) {
    const type = e.type ?? '';
    if (type.endsWith('StateEntered')) count.stateTransitions++;
    if (type === 'LambdaFunctionScheduled') count.lambdaInvocations++;
    if (type === 'TaskScheduled') {
      const d = e.taskScheduledEventDetails;
      const resource = d?.resource ?? '';
      if (d?.resourceType === 'dynamodb' && /^(updateItem|putItem|deleteItem)/.test(resource)) count.dynamodbWrites++;
      else if (d?.resourceType === 'lambda' && resource.startsWith('invoke')) count.lambdaInvocations++;
      else count.otherServiceCalls.push(`${d?.resourceType}:${resource}`);
    }
    if (type === 'TaskStarted' && e.taskStartedEventDetails?.resourceType === 'lambda') lambdaStarted = e.timestamp?.getTime();
    if (type === 'TaskSucceeded' && e.taskSucceededEventDetails?.resourceType === 'lambda' && lambdaStarted !== undefined) {
      count.lambdaMs.push((e.timestamp?.getTime() ?? lambdaStarted) - lambdaStarted);
      lambdaStarted = undefined;
    }
  }
  return count;
}

/** Every event of an execution's history, all pages. */
export async function history(sfn: SFNClient, executionArn: string): Promise<HistoryEvent[]> {
  const events: HistoryEvent[] = [];
  let nextToken: string | undefined;
  do {
    const page = await sfn.send(new GetExecutionHistoryCommand({ executionArn, maxResults: 1000, nextToken }));
    events.push(...(page.events ?? []));
    nextToken = page.nextToken;
  } while (nextToken);
  return events;
}

/** CPU time (ms; `sys`: in the kernel only) of this process and its descendants, by role (Linux /proc; empty elsewhere). */
export function processCpu(sys = false, processes?: Map<string, number>): Map<string, number> {
  const out = new Map<string, number>();
  if (process.platform !== 'linux') return out;
  const tick = 1000 / 100; // USER_HZ
  const procs: { pid: number; ppid: number; ms: number }[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      procs.push({ pid: Number(name), ppid: Number(f[1]), ms: ((sys ? 0 : Number(f[11])) + Number(f[12])) * tick });
    } catch {
      // gone
    }
  }
  const parent = new Map(procs.map((p) => [p.pid, p.ppid]));
  const mine = (pid: number): boolean => {
    for (let p: number | undefined = pid; p !== undefined && p > 1; p = parent.get(p)) if (p === process.pid) return true;
    return false;
  };
  for (const p of procs) {
    if (!mine(p.pid)) continue;
    let role = 'other';
    if (p.pid === process.pid) {
      // The main thread (edge, Lambda runner, Step Functions, and this benchmark's client) apart from the process's other threads.
      try {
        const stat = fs.readFileSync(`/proc/${p.pid}/task/${p.pid}/stat`, 'utf8');
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        const main = ((sys ? 0 : Number(f[11])) + Number(f[12])) * tick;
        out.set('runtime main thread', (out.get('runtime main thread') ?? 0) + main);
        out.set('runtime other threads', (out.get('runtime other threads') ?? 0) + p.ms - main);
        continue;
      } catch {
        role = 'runtime (main process)';
      }
    } else {
      try {
        const env = fs.readFileSync(`/proc/${p.pid}/environ`, 'utf8').split('\0');
        const fn = env.find((e) => e.startsWith('AWS_LAMBDA_FUNCTION_NAME='))?.split('=')[1];
        const cmd = fs.readFileSync(`/proc/${p.pid}/cmdline`, 'utf8');
        if (fn)
          role = `Lambda ${fn
            .replace(/^AsyncTaskE2E-/, '')
            .replace(/[A-F0-9]{8}$/, '')
            .replace(/-[A-Za-z0-9]{8,}$/, '')}`;
        else if (cmd.includes('fauxqs')) role = 'fauxqs (SQS/SNS/S3)';
      } catch {
        // gone
      }
    }
    out.set(role, (out.get(role) ?? 0) + p.ms);
    processes?.set(role, (processes.get(role) ?? 0) + 1);
  }
  return out;
}

/**
 * `count` tasks of `fn` one after another (ids `lat-<i>`), each awaited Succeeded by polling `get`
 * every 10 ms: the submit call's time, submit → Succeeded as the client saw it, and as the record
 * has it (endTime − startedTime), in ms.
 */
async function oneAtATime(
  client: AsyncTaskClient,
  fn: string,
  count: number,
): Promise<{ submitLatency: number[]; clientLatency: number[]; recordLatency: number[] }> {
  const submitLatency: number[] = [];
  const clientLatency: number[] = [];
  const recordLatency: number[] = [];
  for (let i = 0; i < count; i++) {
    const start = performance.now();
    await client.submit({ functionName: fn, taskId: `lat-${i}`, payload: { i } });
    submitLatency.push(performance.now() - start);
    const task = await waitSucceeded(client, fn, `lat-${i}`, 10);
    clientLatency.push(performance.now() - start);
    recordLatency.push((task.endTime ?? task.startedTime) - task.startedTime);
  }
  return { submitLatency, clientLatency, recordLatency };
}

/** Polls `get` every `pollMs` until the task is Succeeded; throws when it ended otherwise or the time is up. */
async function waitSucceeded(client: AsyncTaskClient, fn: string, taskId: string, pollMs: number, timeoutMs = 60_000): Promise<TaskRecord> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const task = await client.get(fn, taskId);
    if (task.status === 'Succeeded') return task;
    if (['Failed', 'Stopped', 'Expired', 'Invalid'].includes(task.status))
      throw new Error(`task ${fn}/${taskId} ended ${task.status}: ${task.taskErrorMessage ?? ''}`);
    if (Date.now() > deadline) throw new Error(`task ${fn}/${taskId} still ${task.status} after ${timeoutMs} ms`);
    await sleep(pollMs);
  }
}

interface ThroughputRun {
  readonly method: string;
  readonly submits: { durations: number[]; wallMs: number };
  readonly submitPerSecond: number;
  readonly drainMs: number;
  readonly drainPerSecond: number;
  /** CPU used during the run, by role (ms; `sys`: in the kernel; `processes`: how many that role had at the end — a function's warm workers). */
  readonly cpuUsed: { role: string; ms: number; sys: number; processes: number }[];
  /** Every task's record, read after it was seen Succeeded. */
  readonly done: TaskRecord[];
}

/**
 * `--tasks` submits of distinct ids at concurrency C, and the time until every one of them is
 * Succeeded, with the CPU each part of the runtime used meanwhile. The client learns that a task
 * is Succeeded one of two ways:
 *
 * - `queueUrl` given: from the function's success queue, as a consumer of the destination would
 *   (ReceiveMessage of up to 10, long polling, DeleteMessageBatch; one consumer, a 50 ms batching window). Both modes
 *   write `Succeeded` before they send the success record, so its arrival means the task is
 *   Succeeded; the clock stops at the last task's record, and each task's record is then read with
 *   `get` (outside the timed run) and must say `Succeeded`.
 * - otherwise: C pollers, each taking the next task and `get`ting it every 100 ms until
 *   Succeeded (one TaskApi invocation and GetItem per poll, counted in the run).
 */
async function throughputRun(inputs: {
  options: Options;
  client: AsyncTaskClient;
  functionName: string;
  prefix: string;
  sqs?: SQSClient;
  queueUrl?: string;
}): Promise<ThroughputRun> {
  const { options, client, functionName, prefix, sqs, queueUrl } = inputs;
  const ids = Array.from({ length: options.tasks }, (_, i) => `${prefix}-${i}`);
  const waiting = new Set(ids);
  let receiving: Promise<void> | undefined;
  let stopReceiving = false;
  let lastRecordAt = 0;
  // The warm-up's success records are still on the queue: not this run's to receive and delete.
  if (sqs && queueUrl) await sqs.send(new PurgeQueueCommand({ QueueUrl: queueUrl }));
  const cpu0 = processCpu();
  const sys0 = processCpu(true);
  const t0 = performance.now();
  if (sqs && queueUrl) {
    // One consumer with a batching window, as Lambda's SQS event source has: a receive that
    // brought fewer than 10 records is followed by a 50 ms pause, so the records come in batches
    // instead of one ReceiveMessage and one delete per task through the same 2 cores.
    const receiver = async (): Promise<void> => {
      while (waiting.size > 0 && !stopReceiving) {
        const { Messages = [] } = await sqs.send(
          new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, VisibilityTimeout: 60 }),
        );
        for (const m of Messages) {
          const record = JSON.parse(m.Body ?? '{}') as { requestContext?: { taskId?: string; condition?: string } };
          const id = record.requestContext?.taskId ?? '';
          if (record.requestContext?.condition === 'Success' && waiting.delete(id) && waiting.size === 0) lastRecordAt = performance.now();
        }
        if (Messages.length > 0) {
          await sqs.send(
            new DeleteMessageBatchCommand({
              QueueUrl: queueUrl,
              Entries: Messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle ?? '' })),
            }),
          );
        }
        if (Messages.length < 10 && waiting.size > 0) await sleep(50);
      }
    };
    receiving = receiver();
    receiving.catch(() => undefined); // awaited below; not an unhandled rejection meanwhile
  }
  const submits = await pool(options.tasks, options.concurrency, async (i) => {
    await client.submit({ functionName, taskId: ids[i], payload: { i } });
  });
  const submitPerSecond = (options.tasks / submits.wallMs) * 1000;
  const done: TaskRecord[] = new Array(options.tasks);
  let drainMs: number;
  let method: string;
  if (receiving) {
    const timeout = setTimeout(() => {
      stopReceiving = true;
    }, 300_000);
    await receiving;
    clearTimeout(timeout);
    if (waiting.size > 0)
      throw new Error(`${waiting.size} tasks of ${functionName} sent no success record in 300 s (${[...waiting].slice(0, 3).join(', ')}…)`);
    drainMs = lastRecordAt - t0;
    method = 'waiting on the success queue: ReceiveMessage ×10, 50 ms batching window';
  } else {
    // Each of C pollers takes the next task, `get` every 100 ms until Succeeded (not one `get`
    // after another: a drain at concurrency 1 would add one TaskApi round trip per task).
    await pool(options.tasks, options.concurrency, async (i) => {
      done[i] = await waitSucceeded(client, functionName, ids[i], 100, 300_000);
    });
    drainMs = performance.now() - t0;
    method = `${options.concurrency} pollers of get, every 100 ms`;
  }
  const processes = new Map<string, number>();
  const cpu1 = processCpu(false, processes);
  const sys1 = processCpu(true);
  const cpuUsed = [...cpu1]
    .map(([role, ms]) => ({
      role,
      ms: ms - (cpu0.get(role) ?? 0),
      sys: (sys1.get(role) ?? 0) - (sys0.get(role) ?? 0),
      processes: processes.get(role) ?? 0,
    }))
    .sort((a, b) => b.ms - a.ms);
  if (receiving) {
    // Outside the timed run: every task's record says Succeeded.
    await pool(options.tasks, options.concurrency, async (i) => {
      const task = await client.get(functionName, ids[i]);
      if (task.status !== 'Succeeded') throw new Error(`task ${functionName}/${ids[i]} sent a success record but is ${task.status}`);
      done[i] = task;
    });
  }
  return { method, submits, submitPerSecond, drainMs, drainPerSecond: (options.tasks / drainMs) * 1000, cpuUsed, done };
}

/**
 * The warm-up: `--warmup` tasks of the function, C at a time, each submitted and polled with
 * `get` until `Succeeded` (the TaskApi's two paths, the task function, the JIT of every process).
 * Run as the measured run runs them instead (C submits in flight, the success queue drained), it
 * grew the pools to three workers more often and measured lower (docs/benchmarks.md).
 */
async function warmUp(options: Options, client: AsyncTaskClient, functionName: string): Promise<void> {
  await pool(options.warmup, options.concurrency, async (i) => {
    await client.submit({ functionName, taskId: `warm-${i}`, payload: { i } });
    await waitSucceeded(client, functionName, `warm-${i}`, 50);
  });
}

function cpuPerTask(run: ThroughputRun, options: Options): number {
  return run.cpuUsed.length === 0 ? Number.NaN : run.cpuUsed.reduce((n, c) => n + c.ms, 0) / options.tasks;
}

function printCpu(log: (line?: string) => void, run: ThroughputRun, options: Options): void {
  if (run.cpuUsed.length === 0) return;
  const totalCpu = run.cpuUsed.reduce((n, c) => n + c.ms, 0);
  log(
    `CPU during that run (${fmt(run.drainMs / 1000, 1)} s wall, ${os.cpus().length} cores): ${fmt(totalCpu / 1000, 1)} s, ${fmt(totalCpu / options.tasks, 2)} ms per task`,
  );
  for (const c of run.cpuUsed.filter((x) => x.ms > 0)) {
    log(
      `  ${c.role.padEnd(30)} ${fmt(c.ms / options.tasks, 2)} ms per task  (${fmt((c.ms / totalCpu) * 100, 0)}%; kernel ${fmt((c.sys / Math.max(c.ms, 1)) * 100, 0)}%${c.role.startsWith('Lambda ') ? `; ${c.processes} warm process${c.processes === 1 ? '' : 'es'}` : ''})`,
    );
  }
}

function memoryOf(cdkOut: string, stack: string, logicalIdPrefix: string): number {
  const template = JSON.parse(fs.readFileSync(path.join(cdkOut, `${stack}.template.json`), 'utf8')) as {
    Resources: Record<string, { Type: string; Properties?: { MemorySize?: number } }>;
  };
  const entry = Object.entries(template.Resources).find(([id, r]) => r.Type === 'AWS::Lambda::Function' && id.startsWith(logicalIdPrefix));
  return entry?.[1].Properties?.MemorySize ?? 128;
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const log = (line = '') => process.stdout.write(`${line}\n`);
  log(`asynctask local benchmark — ${new Date().toISOString()}`);
  log(`machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, node ${process.version}, ${os.platform()}`);
  log(`options: ${JSON.stringify(options)}`);
  log();

  process.stdout.write('synthesizing the e2e fixture stack (cached by source hash)… ');
  const cdkOut = await synthesize('fixture');
  log('done');

  process.stdout.write('baseline: bare dynalite conditional PutItem… ');
  const base = await baseline(options);
  log('done');

  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'asynctask-bench-'));
  process.stdout.write('starting the local runtime… ');
  const runtime = await startRuntime({
    cdkOut,
    stackName: 'AsyncTaskE2E',
    port: 0,
    workDir,
    ...(options.persist ? { dataDir: path.join(workDir, 'data') } : {}),
    projectRoot: PROJECT_ROOT,
    log: () => undefined,
  });
  log(`${runtime.endpoint}`);
  const client = new AsyncTaskClient({ endpoint: runtime.endpoint, stack: 'AsyncTaskE2E', region: REGION });
  const sfn = new SFNClient({ endpoint: runtime.endpoint, region: REGION, credentials: CREDENTIALS });
  const ddb = new DynamoDBClient({ endpoint: runtime.endpoint, region: REGION, credentials: CREDENTIALS });
  try {
    await warmUp(options, client, 'echo');

    // Submit throughput at concurrency C, then the drain to Succeeded: first waiting on the
    // success queue, then (the figure before 2026-11-30) with C pollers of `get`.
    process.stdout.write(`submit throughput: ${options.tasks} submits at concurrency ${options.concurrency}… `);
    const sqs = new SQSClient({ endpoint: runtime.endpoint, region: REGION, credentials: CREDENTIALS });
    const run = await throughputRun({
      options,
      client,
      sqs,
      functionName: 'echo',
      queueUrl: runtime.outputs.EchoSuccessQueueUrl,
      prefix: 'tq',
    });
    const polled = await throughputRun({ options, client, functionName: 'echo', prefix: 'tp' });
    sqs.destroy();
    const { submits, submitPerSecond, drainPerSecond } = run;
    const done = run.done;
    log('done');

    // Latency, one task at a time.
    process.stdout.write(`latency: ${options.latency} tasks one at a time (client polls get every 10 ms)… `);
    const { submitLatency, clientLatency, recordLatency } = await oneAtATime(client, 'echo', options.latency);
    log('done');

    // Per-task counts from execution histories.
    const sample = done.slice(0, options.histories);
    const counts = await Promise.all(sample.map(async (t) => countHistory(await history(sfn, t.executionArn ?? ''))));
    const avg = (f: (c: HistoryCount) => number) => counts.reduce((n, c) => n + f(c), 0) / counts.length;
    const transitions = avg((c) => c.stateTransitions);
    const machineWrites = avg((c) => c.dynamodbWrites);
    const machineInvokes = avg((c) => c.lambdaInvocations);
    const others = [...new Set(counts.flatMap((c) => c.otherServiceCalls))];
    const sqsSends = avg((c) => c.otherServiceCalls.filter((o) => o.startsWith('sqs:')).length);
    const echoMs = percentile(
      counts.flatMap((c) => c.lambdaMs),
      50,
    );
    const writes = machineWrites + 1; // + the submit's conditional put
    const invocations = machineInvokes + 1; // + the TaskApi invocation of the submit

    // Item size → WRUs per write; GSI replication (both indexes project ALL).
    const stored = await ddb
      .send(
        new GetItemCommand({
          TableName: await tableName(ddb),
          Key: tableKey({ S: 'echo' }, { S: done[0].taskId }),
        }),
      )
      .catch(() => undefined);
    const bytes = stored?.Item ? itemBytes(stored.Item) : Number.NaN;
    const wruPerWrite = Number.isFinite(bytes) ? Math.max(1, Math.ceil(bytes / 1024)) : 1;
    // ByTime: every write of the item (listKey present) writes the index once. ByStatus: the put
    // writes it once; each status change deletes and puts (2); the success path has 2 changes.
    const gsiWrites = writes + 1 + 2 * (writes - 1);

    const taskApiMemory = memoryOf(cdkOut, 'AsyncTaskE2E', 'ServiceTaskApi');
    const echoMemory = memoryOf(cdkOut, 'AsyncTaskE2E', 'EchoHandler');
    const taskApiMs = percentile(submitLatency, 50);
    const gbSeconds = ((taskApiMemory / 1024) * Math.ceil(taskApiMs)) / 1000 + ((echoMemory / 1024) * Math.ceil(echoMs)) / 1000;
    const gbSeconds128 = ((128 / 1024) * (Math.ceil(taskApiMs) + Math.ceil(echoMs))) / 1000;
    const perMillion = {
      sfn: transitions * PRICES.stateTransition * 1e6,
      ddbTable: writes * wruPerWrite * PRICES.writeRequestUnit * 1e6,
      ddbGsi: gsiWrites * wruPerWrite * PRICES.writeRequestUnit * 1e6,
      lambdaRequests: invocations * PRICES.lambdaRequest * 1e6,
      lambdaCompute: gbSeconds * PRICES.lambdaGbSecond * 1e6,
      lambdaCompute128: gbSeconds128 * PRICES.lambdaGbSecond * 1e6,
      sqs: sqsSends * PRICES.sqsRequest * 1e6,
    };
    const total = perMillion.sfn + perMillion.ddbTable + perMillion.lambdaRequests + perMillion.lambdaCompute128;

    log();
    log('== throughput (concurrency C) ==');
    log(
      `baseline dynalite conditional PutItem, C=1   ${fmt(base.seq.perSecond, 0)} puts/s   p50 ${fmt(base.seq.p50, 2)} ms  p95 ${fmt(base.seq.p95, 2)} ms`,
    );
    log(
      `baseline dynalite conditional PutItem, C=${options.concurrency}   ${fmt(base.conc.perSecond, 0)} puts/s   p50 ${fmt(base.conc.p50, 2)} ms  p95 ${fmt(base.conc.p95, 2)} ms`,
    );
    log(
      `local runtime submit (TaskApi → put → StartExecution), C=${options.concurrency}   ${fmt(submitPerSecond, 1)} submits/s   p50 ${fmt(percentile(submits.durations, 50), 1)} ms  p95 ${fmt(percentile(submits.durations, 95), 1)} ms`,
    );
    log(`local runtime submit → all Succeeded, ${options.tasks} tasks   ${fmt(drainPerSecond, 1)} tasks/s  (${run.method})`);
    log(
      `ratio submit / baseline put throughput (C=${options.concurrency})   ${fmt(submitPerSecond / base.conc.perSecond, 3)}  (baseline is ${fmt(base.conc.perSecond / submitPerSecond, 1)}× faster)`,
    );
    printCpu(log, run, options);
    log(
      `the same, waiting with get: submit → all Succeeded, ${options.tasks} tasks   ${fmt(polled.drainPerSecond, 1)} tasks/s  (${polled.method}); submits ${fmt(polled.submitPerSecond, 1)}/s`,
    );
    printCpu(log, polled, options);
    log();
    log('== latency, one task at a time ==');
    log(`submit call                     p50 ${fmt(percentile(submitLatency, 50))} ms   p95 ${fmt(percentile(submitLatency, 95))} ms`);
    log(`submit → Succeeded (client)     p50 ${fmt(percentile(clientLatency, 50))} ms   p95 ${fmt(percentile(clientLatency, 95))} ms`);
    log(`submit → Succeeded (record)     p50 ${fmt(percentile(recordLatency, 50))} ms   p95 ${fmt(percentile(recordLatency, 95))} ms`);
    log(`ratio submit→Succeeded p50 / baseline put p50 (C=1)   ${fmt(percentile(clientLatency, 50) / base.seq.p50, 0)}×`);
    log();
    log(`== per successful task (GetExecutionHistory of ${counts.length} executions + the submit) ==`);
    log(`state transitions               ${fmt(transitions, 1)}`);
    log(
      `DynamoDB writes                 ${fmt(writes, 1)}  (${fmt(machineWrites, 1)} in the state machine + 1 submit put); item ≈ ${fmt(bytes, 0)} B → ${wruPerWrite} WRU each`,
    );
    log(`  with GSI replication          ${fmt(gsiWrites, 1)} more index writes (ByTime + ByStatus, projection ALL)`);
    log(`Lambda invocations              ${fmt(invocations, 1)}  (${fmt(machineInvokes, 1)} by the state machine + 1 TaskApi)`);
    log(`other service calls             ${others.length > 0 ? others.join(', ') : 'none'}`);
    log(`Lambda durations (local)        TaskApi submit ≈ ${fmt(taskApiMs)} ms (client round trip, upper bound), echo ${fmt(echoMs)} ms`);
    log();
    log('== AWS cost per million successful tasks (list prices, us-east-1) ==');
    log(`Step Functions Standard         $${fmt(perMillion.sfn, 2)}   (${fmt(transitions, 1)} × $25.00 per million transitions)`);
    log(`DynamoDB on-demand (table)      $${fmt(perMillion.ddbTable, 2)}   (${fmt(writes * wruPerWrite, 1)} WRU × $0.625 per million)`);
    log(`  + GSI writes                  $${fmt(perMillion.ddbGsi, 2)}   (${fmt(gsiWrites * wruPerWrite, 1)} WRU; not in the total)`);
    log(`Lambda requests                 $${fmt(perMillion.lambdaRequests, 2)}   (${fmt(invocations, 1)} × $0.20 per million)`);
    log(
      `Lambda compute, 128 MB arm64    $${fmt(perMillion.lambdaCompute128, 2)}   (${fmt(gbSeconds128 * 1e6, 0)} GB-s per million at $0.0000133334)`,
    );
    log(
      `  at configured memory          $${fmt(perMillion.lambdaCompute, 2)}   (TaskApi ${taskApiMemory} MB, echo ${echoMemory} MB; not in the total)`,
    );
    log(
      `total                           $${fmt(total, 2)} per million tasks  (Step Functions share ${fmt((perMillion.sfn / total) * 100, 0)}%)`,
    );
    log(
      `SQS destination delivery        $${fmt(perMillion.sqs, 2)}   (${fmt(sqsSends, 1)} SendMessage × $0.40 per million; not in the total)`,
    );
    log(`total with GSI writes and SQS   $${fmt(total + perMillion.ddbGsi + perMillion.sqs, 2)} per million tasks`);
    log();
    await economyFigures({
      options,
      client,
      ddb,
      runtime,
      cdkOut,
      log,
      standard: {
        submitPerSecond,
        drainPerSecond,
        clientLatency,
        recordLatency,
        submitLatency,
        run,
        polled,
        total: total + perMillion.ddbGsi + perMillion.sqs,
        transitions,
        writes,
      },
    });
  } finally {
    client.lambda.destroy();
    client.cloudFormation.destroy();
    sfn.destroy();
    ddb.destroy();
    await runtime.stop();
    fs.rmSync(workDir, { recursive: true, force: true });
  }
}

interface EconomyInputs {
  readonly options: Options;
  readonly client: AsyncTaskClient;
  readonly ddb: DynamoDBClient;
  readonly runtime: Awaited<ReturnType<typeof startRuntime>>;
  readonly cdkOut: string;
  readonly log: (line?: string) => void;
  readonly standard: {
    readonly submitPerSecond: number;
    readonly drainPerSecond: number;
    readonly clientLatency: readonly number[];
    /** endTime − startedTime of each task, as its record has it (the client's polling left out). */
    readonly recordLatency: readonly number[];
    readonly submitLatency: readonly number[];
    readonly run: ThroughputRun;
    readonly polled: ThroughputRun;
    readonly total: number;
    readonly transitions: number;
    readonly writes: number;
  };
}

/** The template's indexes of the tasks table, as the model's write-unit arithmetic takes them. */
function tableIndexes(cdkOut: string, stack: string): { indexes: IndexSpec[]; tableKeys: string[] } {
  const template = JSON.parse(fs.readFileSync(path.join(cdkOut, `${stack}.template.json`), 'utf8')) as {
    Resources: Record<string, { Type: string; Properties: unknown }>;
  };
  const table = Object.values(template.Resources).find((r) => r.Type === 'AWS::DynamoDB::Table')?.Properties;
  return tableIndexSpecs(table as TableTemplateProperties);
}

/**
 * Economy mode, measured like the standard mode above on `echo_eco`, with Lambda's own
 * asynchronous invocation of the plain `echo` handler as the reference.
 */
async function economyFigures(inputs: EconomyInputs): Promise<void> {
  const { options, client, ddb, runtime, cdkOut, log, standard } = inputs;
  const fn = 'echo_eco';
  await warmUp(options, client, fn);
  process.stdout.write(`economy: ${options.tasks} submits of ${fn} at concurrency ${options.concurrency}… `);
  const sqs = new SQSClient({ endpoint: runtime.endpoint, region: REGION, credentials: CREDENTIALS });
  const run = await throughputRun({
    options,
    client,
    sqs,
    functionName: fn,
    queueUrl: runtime.outputs.EchoEcoSuccessQueueUrl,
    prefix: 'tq',
  });
  const polled = await throughputRun({ options, client, functionName: fn, prefix: 'tp' });
  sqs.destroy();
  const { submitPerSecond, drainPerSecond, done } = run;
  log('done');
  process.stdout.write(`economy latency: ${options.latency} tasks one at a time… `);
  const { submitLatency, clientLatency, recordLatency } = await oneAtATime(client, fn, options.latency);
  log('done');

  // Reference: Lambda's own asynchronous invocation of the plain echo handler (accepted / s).
  const lambda = new LambdaClient({ endpoint: runtime.endpoint, region: REGION, credentials: CREDENTIALS });
  const echoFunction = runtime.lambdaFunctions.find((f) => f.logicalId.startsWith('EchoHandler'))?.name ?? '';
  const invokes = await pool(options.tasks, options.concurrency, async (i) => {
    await lambda.send(new InvokeCommand({ FunctionName: echoFunction, InvocationType: 'Event', Payload: JSON.stringify({ i }) }));
  });
  lambda.destroy();
  const invokePerSecond = (options.tasks / invokes.wallMs) * 1000;

  // Per task: the stored items' writes, write units with the template's index copies.
  const { indexes, tableKeys } = tableIndexes(cdkOut, 'AsyncTaskE2E');
  const name = await tableName(ddb);
  const sample = done.slice(0, options.histories);
  let statusWrites = 0;
  let units = 0;
  let outcomeWrites = 0;
  for (const task of sample) {
    const stored = await ddb.send(new GetItemCommand({ TableName: name, Key: tableKey({ S: fn }, { S: task.taskId }) }));
    const item = unmarshall(stored.Item ?? {}) as Record<string, unknown>;
    const events = (item.events as Array<Record<string, unknown>>) ?? [];
    // Rebuild the item after each status write (one event each), then the delivery outcome.
    const states: Record<string, unknown>[] = events.map((_, n) => {
      const at: Record<string, unknown> = { ...item, events: events.slice(0, n + 1), status: events[n].status };
      if (n === 0) for (const a of ['returnPayload', 'endedAt', 'runnerId', 'destinationStatus', 'deliveryClaim']) delete at[a];
      return at;
    });
    const outcome = item.destinationStatus === 'Succeeded' ? 1 : 0;
    statusWrites += states.length;
    outcomeWrites += outcome;
    units += states.reduce(
      (sum, after, n) => sum + indexedWriteUnits(n === 0 ? { after } : { before: states[n - 1], after }, indexes, tableKeys),
      0,
    );
    units += outcome * indexedWriteUnits({ before: item, after: item }, [], tableKeys);
  }
  const writes = (statusWrites + outcomeWrites) / sample.length;
  const wru = units / sample.length;
  const echoEcoMemory = memoryOf(cdkOut, 'AsyncTaskE2E', 'EchoEcoHandler');
  const wrapperMs = 50;
  const perMillion = {
    ddb: wru * PRICES.writeRequestUnit * 1e6,
    submit: serviceInvocationUsd(US_EAST_1) * 1e6,
    sqs: PRICES.sqsRequest * 1e6,
    wrapper: (echoEcoMemory / 1024) * (wrapperMs / 1000) * PRICES.lambdaGbSecond * 1e6,
    reconciler: ECONOMY_RECONCILER_READS_PER_TASK * ECONOMY_RECONCILER_READ_UNITS * PRICES.readRequestUnit * 1e6,
  };
  const total = perMillion.ddb + perMillion.submit + perMillion.sqs + perMillion.wrapper + perMillion.reconciler;

  log();
  log(`== economy mode (${fn}: Lambda's asynchronous invocation + taskHandler) ==`);
  log(`state transitions               0 (no execution: the task's executionArn is its invocation id)`);
  log(
    `DynamoDB writes                 ${fmt(writes, 1)}  (${fmt(statusWrites / sample.length, 1)} status writes + ${fmt(outcomeWrites / sample.length, 1)} success delivery outcome) → ${fmt(wru, 1)} WRU with index copies`,
  );
  log(`Lambda requests besides the task's own   1 (TaskApi submit)`);
  log(
    `submit → all Succeeded, ${options.tasks} tasks   ${fmt(drainPerSecond, 1)} tasks/s  (${run.method}); submits ${fmt(submitPerSecond, 1)}/s, p50 ${fmt(percentile(run.submits.durations, 50), 1)} ms`,
  );
  printCpu(log, run, options);
  log(
    `the same, waiting with get      ${fmt(polled.drainPerSecond, 1)} tasks/s  (${polled.method}); submits ${fmt(polled.submitPerSecond, 1)}/s`,
  );
  printCpu(log, polled, options);
  log(
    `AWS cost per million            DynamoDB $${fmt(perMillion.ddb, 2)} + TaskApi $${fmt(perMillion.submit, 2)} + SQS $${fmt(perMillion.sqs, 2)} + wrapper ~${wrapperMs} ms at ${echoEcoMemory} MB $${fmt(perMillion.wrapper, 2)} + reconciler reads $${fmt(perMillion.reconciler, 2)} = $${fmt(total, 2)}`,
  );
  log();
  log('== both modes side by side (this run) ==');
  log('| | standard | economy | Lambda async invoke (reference) |');
  log('|---|---|---|---|');
  log(`| state transitions per task | ${fmt(standard.transitions, 1)} | 0 | 0 |`);
  log(`| DynamoDB writes per task | ${fmt(standard.writes, 1)} | ${fmt(writes, 1)} | 0 |`);
  log(`| Lambda requests per task besides its own | 1 | 1 | 0 |`);
  log(`| cost per million tasks | $${fmt(standard.total, 2)} | $${fmt(total, 2)} | $${fmt(perMillion.sqs, 2)} (SQS record) |`);
  log(
    `| submits / s (C=${options.concurrency}) | ${fmt(standard.submitPerSecond, 1)} | ${fmt(submitPerSecond, 1)} | ${fmt(invokePerSecond, 1)} invokes/s |`,
  );
  log(
    `| submit → Succeeded, tasks / s (C=${options.concurrency}; success queue) | ${fmt(standard.drainPerSecond, 1)} | ${fmt(drainPerSecond, 1)} | — |`,
  );
  log(
    `| CPU per task (that run, all processes) | ${fmt(cpuPerTask(standard.run, options), 1)} ms | ${fmt(cpuPerTask(run, options), 1)} ms | — |`,
  );
  log(
    `| the same, waiting with get (C pollers) | ${fmt(standard.polled.drainPerSecond, 1)} tasks/s, ${fmt(cpuPerTask(standard.polled, options), 1)} ms | ${fmt(polled.drainPerSecond, 1)} tasks/s, ${fmt(cpuPerTask(polled, options), 1)} ms | — |`,
  );
  log(
    `| submit → Succeeded p50 / p95 (C=1) | ${fmt(percentile(standard.clientLatency, 50))} / ${fmt(percentile(standard.clientLatency, 95))} ms | ${fmt(percentile(clientLatency, 50))} / ${fmt(percentile(clientLatency, 95))} ms | — |`,
  );
  log(
    `| the same as the record has it (endTime − startedTime) | ${fmt(percentile(standard.recordLatency, 50))} / ${fmt(percentile(standard.recordLatency, 95))} ms | ${fmt(percentile(recordLatency, 50))} / ${fmt(percentile(recordLatency, 95))} ms | — |`,
  );
  log(`| submit call p50 (C=1) | ${fmt(percentile(standard.submitLatency, 50))} ms | ${fmt(percentile(submitLatency, 50))} ms | — |`);
}

/** The tasks table: the local DynamoDB's table whose name says Tasks (the fixture has one). */
export async function tableName(ddb: DynamoDBClient): Promise<string> {
  const names = (await ddb.send(new ListTablesCommand({}))).TableNames ?? [];
  const found = names.find((n) => /Tasks/.test(n));
  if (!found) throw new Error(`no tasks table among ${names.join(', ')}`);
  return found;
}

if (require.main === module) runBench(main);
