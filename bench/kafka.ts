#!/usr/bin/env node
/**
 * Benchmark of the Kafka triggers on the local runtime (run by hand: `npx tsx bench/kafka.ts
 * [options]`; not part of `npm test`). It synthesizes bench/kafka-app.ts (a no-op task function
 * `sink` with an SQS success queue and one KafkaTaskTrigger per batch size 1, 100 and 1,000, each on
 * its own topic of 3 partitions) and, per Kafka source — the runtime's embedded topics, and a real
 * Apache Kafka broker when one is given or can be started — and per batch size, after 30 warm-up
 * records through the same trigger, measures:
 *
 * 1. records per second from the first `produce` to the last record's task result in the success
 *    queue (a record counts when a success record's `source` offset range covers it);
 * 2. tasks created and tasks per 1,000 records;
 * 3. from GetExecutionHistory of a sample of executions: state transitions and DynamoDB writes per
 *    task; Lambda invocations (trigger and task function, counted at the runtime's Lambda runner;
 *    TaskApi none) and their durations; the stored items' sizes (WRU per write, RRU per Query);
 *    the success records' sizes (SQS 64 KB chunks);
 * 4. all of it per 1,000 records, and the AWS cost per million records at us-east-1 list prices.
 *    The provisioned Kafka poller of each mapping is billed by the hour, not per record: printed
 *    apart, with its price.
 *
 * Options: --records N (per batch size, default 5000), --records-batch1 N (batch size 1, default
 * 500: one trigger invocation and one task per record), --value-bytes B (JSON value size, default
 * 100), --produce-chunk C (records per produce call, default 100), --histories H (executions read
 * per batch size, default 5), --timeout S (per batch size, default 300), --kafka-brokers host:port
 * (a running broker: also benchmark on it), --real-broker (start one with scripts/kafka-broker.sh).
 */
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DynamoDBClient, GetItemCommand, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { type HistoryEvent, SFNClient } from '@aws-sdk/client-sfn';
import { DeleteMessageBatchCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { Kafka, logLevel } from 'kafkajs';
import { AsyncTaskClient } from '../client/client';
import { LOCAL_CREDENTIALS as CREDENTIALS, LOCAL_REGION as REGION } from '../client/defaults';
import { produce } from '../client/produce';
import type { DestinationRecord } from '../lambda/model';
import { tableKey } from '../lambda/model/table';
import { type LocalRuntime, startRuntime } from '../local/runtime';
import { type Broker, brokerUnavailable, startBrokerProcess } from '../test/kafka/broker-process';
import { PROJECT_ROOT, synthApp } from '../test/e2e/synth';
import { BENCH_BATCH_SIZES, BENCH_FUNCTION, BENCH_PARTITIONS, BENCH_RUN_CONTEXT, benchTopic, KAFKA_BENCH_STACK } from './kafka-app';
import { history, itemBytes, PRICES, percentile } from './local';
import { runBench } from './cli';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const BROKER_START_TIMEOUT_MS = 150_000;
/** Records sent through each trigger before its measurement (warm Lambda workers, JIT). */
const WARM_RECORDS = 30;

/** Prices beyond bench/local.ts's (us-east-1 list prices). */
const KAFKA_PRICES = {
  /** DynamoDB on-demand, per read request unit (a strongly consistent read of up to 4 KB). */
  readRequestUnit: PRICES.readRequestUnit,
  /**
   * Lambda provisioned mode for a Kafka event source mapping, per Event Poller Unit hour
   * (aws.amazon.com/lambda/pricing, "Provisioned Mode for Event Source Mapping (ESM) Pricing":
   * $0.185 per EPU-hour; an EPU holds up to 10 Kafka event pollers; mappings share EPUs only in
   * one poller group).
   */
  kafkaEpuHour: 0.185,
  kafkaPollersPerEpu: 10,
} as const;

/** A 30-day month, as AWS's pricing examples count it. */
const HOURS_PER_MONTH = 720;

interface Options {
  records: number;
  recordsBatch1: number;
  valueBytes: number;
  produceChunk: number;
  histories: number;
  timeout: number;
  kafkaBrokers?: string;
  realBroker: boolean;
}

const USAGE =
  'usage: bench/kafka.ts [--records N] [--records-batch1 N] [--value-bytes B] [--produce-chunk C] [--histories H] [--timeout S] [--kafka-brokers host:port | --real-broker]';

function parseOptions(argv: readonly string[]): Options {
  const options: Options = {
    records: 5000,
    recordsBatch1: 500,
    valueBytes: 100,
    produceChunk: 100,
    histories: 5,
    timeout: 300,
    realBroker: false,
  };
  const numeric: Record<string, keyof Options> = {
    '--records': 'records',
    '--records-batch1': 'recordsBatch1',
    '--value-bytes': 'valueBytes',
    '--produce-chunk': 'produceChunk',
    '--histories': 'histories',
    '--timeout': 'timeout',
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--real-broker') {
      options.realBroker = true;
      continue;
    }
    if (arg === '--kafka-brokers') {
      const value = argv[i + 1] ?? '';
      if (!/^[^:\s,]+:\d{1,5}(,[^:\s,]+:\d{1,5})*$/.test(value))
        throw new Error(`${USAGE} (--kafka-brokers needs host:port, given '${value}')`);
      options.kafkaBrokers = value;
      i++;
      continue;
    }
    const key = numeric[arg];
    const value = Number(argv[i + 1]);
    if (!key || !Number.isInteger(value) || value < 1) throw new Error(`${USAGE} (bad '${arg} ${argv[i + 1] ?? ''}')`);
    (options as unknown as Record<string, number>)[key] = value;
    i++;
  }
  if (options.kafkaBrokers && options.realBroker) throw new Error(`${USAGE} (give --kafka-brokers or --real-broker, not both)`);
  return options;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');
const log = (line = '') => process.stdout.write(`${line}\n`);

/** Runs `job` with a deadline; rejects saying what timed out. */
async function within<T>(ms: number, what: string, job: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      job,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} did not finish within ${Math.round(ms / 1000)} s`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

async function createTopics(brokers: string, topics: readonly string[]): Promise<void> {
  const admin = new Kafka({ clientId: 'asynctask-bench', brokers: brokers.split(','), logLevel: logLevel.NOTHING }).admin();
  await within(30_000, `connecting to the Kafka broker ${brokers}`, admin.connect());
  try {
    await within(
      30_000,
      'creating the bench topics',
      admin.createTopics({ topics: topics.map((topic) => ({ topic, numPartitions: BENCH_PARTITIONS })), waitForLeaders: true }),
    );
  } finally {
    await admin.disconnect();
  }
}

interface Invocation {
  readonly ms: number;
}

/** Counts the runtime's Lambda invocations per function (the pollers, the state machines and the edge all call `rt.lambda.invoke`). */
function countInvocations(rt: LocalRuntime): Map<string, Invocation[]> {
  const calls = new Map<string, Invocation[]>();
  const original = rt.lambda.invoke.bind(rt.lambda);
  rt.lambda.invoke = async (ref, payload, type) => {
    const name = rt.lambda.find(ref)?.name ?? ref;
    const t0 = performance.now();
    try {
      return await original(ref, payload, type);
    } finally {
      const list = calls.get(name) ?? [];
      list.push({ ms: performance.now() - t0 });
      calls.set(name, list);
    }
  };
  return calls;
}

/** Success records received so far, by topic; every message is deleted once read. */
class SuccessQueue {
  public readonly records: { record: DestinationRecord; bytes: number; at: number }[] = [];
  private stopped = false;
  private loop?: Promise<void>;

  public constructor(
    private readonly sqs: SQSClient,
    private readonly url: string,
  ) {}

  public start(): void {
    this.stopped = false;
    this.loop = (async () => {
      while (!this.stopped) {
        const out = await this.sqs.send(
          new ReceiveMessageCommand({ QueueUrl: this.url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, VisibilityTimeout: 60 }),
        );
        const messages = out.Messages ?? [];
        const at = performance.now();
        for (const m of messages) {
          this.records.push({ record: JSON.parse(m.Body ?? 'null') as DestinationRecord, bytes: Buffer.byteLength(m.Body ?? ''), at });
        }
        if (messages.length > 0) {
          await this.sqs.send(
            new DeleteMessageBatchCommand({
              QueueUrl: this.url,
              Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle ?? '' })),
            }),
          );
        }
      }
    })();
  }

  public async stop(): Promise<void> {
    this.stopped = true;
    await this.loop?.catch(() => undefined);
  }

  /** Where the records received so far end: `covered(topic, mark())` counts what arrives after now. */
  public mark(): number {
    return this.records.length;
  }

  /** Records of `topic` covered by the success records received since `from` (offset ranges, deduplicated by task id). */
  public covered(topic: string, from: number): { records: number; tasks: number; lastAt: number } {
    const seen = new Set<string>();
    let records = 0;
    let lastAt = 0;
    for (const { record, at } of this.records.slice(from)) {
      const source = record.requestContext.source;
      if (source?.type !== 'kafka' || source.topic !== topic || seen.has(record.requestContext.taskId)) continue;
      seen.add(record.requestContext.taskId);
      records += source.lastOffset - source.firstOffset + 1;
      lastAt = Math.max(lastAt, at);
    }
    return { records, tasks: seen.size, lastAt };
  }
}

/** Messages visible in a queue now (the failure and quarantine queues should have none). */
async function visible(sqs: SQSClient, url: string): Promise<number> {
  const out = await sqs.send(
    new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 0, VisibilityTimeout: 0 }),
  );
  return out.Messages?.length ?? 0;
}

interface HistoryCount {
  stateTransitions: number;
  dynamodbWrites: number;
  sqsSends: number;
}

function countHistory(events: readonly HistoryEvent[]): HistoryCount {
  const count: HistoryCount = { stateTransitions: 0, dynamodbWrites: 0, sqsSends: 0 };
  for (const e of events) {
    if ((e.type ?? '').endsWith('StateEntered')) count.stateTransitions++;
    if (e.type === 'TaskScheduled') {
      const d = e.taskScheduledEventDetails;
      if (d?.resourceType === 'dynamodb' && /^(updateItem|putItem|deleteItem)/.test(d.resource ?? '')) count.dynamodbWrites++;
      if (d?.resourceType === 'sqs') count.sqsSends++;
    }
  }
  return count;
}

/** Figures of one batch size on one source. */
interface Result {
  readonly batchSize: number;
  readonly records: number;
  readonly seconds: number;
  readonly produceSeconds: number;
  readonly tasks: number;
  readonly triggerInvocations: number;
  readonly sinkInvocations: number;
  readonly transitionsPerTask: number;
  readonly writesPerTask: number;
  readonly wruPerWrite: number;
  readonly rruPerQuery: number;
  readonly itemBytes: number;
  readonly sqsChunksPerTask: number;
  readonly successBytes: number;
  readonly triggerMsP50: number;
  readonly sinkMsP50: number;
  readonly triggerGbSeconds: number;
  readonly sinkGbSeconds: number;
  readonly failures: number;
  readonly quarantined: number;
}

/** Per-1,000-record counts and the cost per million records of a result. */
function derive(r: Result) {
  const per1000 = (n: number) => (n / r.records) * 1000;
  const tasks = per1000(r.tasks);
  const transitions = tasks * r.transitionsPerTask;
  const writes = tasks * r.writesPerTask;
  const wru = writes * r.wruPerWrite;
  // Both GSIs project ALL: the put writes each index once, every later write re-writes ByTime,
  // and each of the success path's two status changes deletes and re-puts in ByStatus.
  const gsiWru = tasks * (r.writesPerTask + 1 + 2 * (r.writesPerTask - 1)) * r.wruPerWrite;
  const queries = per1000(r.triggerInvocations);
  const rru = queries * r.rruPerQuery;
  const invocations = per1000(r.triggerInvocations + r.sinkInvocations);
  const gbSeconds = per1000(r.triggerGbSeconds + r.sinkGbSeconds);
  const sqsRequests = tasks * r.sqsChunksPerTask;
  const k = 1000; // per 1,000 records → per million records
  const cost = {
    sfn: transitions * k * PRICES.stateTransition,
    ddbWrites: wru * k * PRICES.writeRequestUnit,
    ddbGsi: gsiWru * k * PRICES.writeRequestUnit,
    ddbReads: rru * k * KAFKA_PRICES.readRequestUnit,
    lambdaRequests: invocations * k * PRICES.lambdaRequest,
    lambdaCompute: gbSeconds * k * PRICES.lambdaGbSecond,
    sqs: sqsRequests * k * PRICES.sqsRequest,
  };
  const total = Object.values(cost).reduce((a, b) => a + b, 0);
  return { tasks, transitions, writes, wru, gsiWru, queries, rru, invocations, gbSeconds, sqsRequests, cost, total };
}

/** One source (embedded or a broker): a fresh runtime, each batch size in turn. */
async function runSource(label: string, cdkOut: string, run: string, options: Options, brokers: string | undefined): Promise<Result[]> {
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'asynctask-bench-kafka-'));
  const warnings: string[] = [];
  process.stdout.write(`[${label}] starting the local runtime… `);
  const rt = await within(
    120_000,
    'starting the local runtime',
    startRuntime({
      cdkOut,
      stackName: KAFKA_BENCH_STACK,
      port: 0,
      workDir,
      projectRoot: PROJECT_ROOT,
      log: (m) => warnings.push(m),
      ...(brokers ? { kafkaBrokers: brokers.split(',') } : {}),
    }),
  );
  log(rt.endpoint);
  const sqs = new SQSClient({ endpoint: rt.endpoint, region: REGION, credentials: CREDENTIALS });
  const sfn = new SFNClient({ endpoint: rt.endpoint, region: REGION, credentials: CREDENTIALS });
  const ddb = new DynamoDBClient({ endpoint: rt.endpoint, region: REGION, credentials: CREDENTIALS });
  const client = new AsyncTaskClient({ endpoint: rt.endpoint, stack: KAFKA_BENCH_STACK, region: REGION });
  const success = new SuccessQueue(sqs, rt.outputs.SinkSuccessQueueUrl);
  const results: Result[] = [];
  try {
    const fnByPrefix = (prefix: string) => {
      const fn = rt.lambdaFunctions.find((f) => f.logicalId.startsWith(prefix));
      if (!fn) throw new Error(`no Lambda function ${prefix}* in ${KAFKA_BENCH_STACK}`);
      return fn;
    };
    const sink = fnByPrefix('SinkHandler');
    const tableName = (await ddb.send(new ListTablesCommand({}))).TableNames?.find((n) => /Tasks/.test(n));
    if (!tableName) throw new Error('no tasks table in the local DynamoDB');

    // Warm-up, outside the figures: a worker of every trigger per partition, and of the TaskApi,
    // the state machine path and the sink (the runtime starts Lambda workers on first use).
    const emptyEvent = { eventSource: 'SelfManagedKafka', bootstrapServers: 'localhost:9092', records: {} };
    await within(
      120_000,
      'warming up',
      Promise.all([
        ...BENCH_BATCH_SIZES.flatMap((b) =>
          Array.from({ length: BENCH_PARTITIONS }, () => rt.lambda.invoke(fnByPrefix(`Batch${b}Trigger`).name, emptyEvent)),
        ),
        ...Array.from({ length: 4 }, async (_, i) => {
          await client.submit({ functionName: BENCH_FUNCTION, taskId: `warm-${i}`, payload: [{ i }] });
          await client.waitFor(BENCH_FUNCTION, `warm-${i}`, { pollIntervalMs: 100, timeoutMs: 60_000 });
        }),
      ]),
    );
    const calls = countInvocations(rt);
    success.start();

    for (const batchSize of BENCH_BATCH_SIZES) {
      const topic = benchTopic(batchSize, run);
      const trigger = fnByPrefix(`Batch${batchSize}Trigger`);
      const n = batchSize === 1 ? Math.min(options.recordsBatch1, options.records) : options.records;
      process.stdout.write(`[${label}] batch size ${batchSize}: ${n} records… `);
      const pad = 'x'.repeat(Math.max(0, options.valueBytes - 30));
      /** Produces `count` records in chunks, then waits until the success records received since `mark` cover them all. */
      const produceAndWait = async (count: number, mark: number) => {
        const t0 = performance.now();
        for (let i = 0; i < count; i += options.produceChunk) {
          const chunk = Array.from({ length: Math.min(options.produceChunk, count - i) }, (_, j) => ({
            value: JSON.stringify({ n: i + j, pad }),
          }));
          await within(30_000, `producing to ${topic}`, produce(rt.endpoint, topic, chunk));
        }
        const produceSeconds = (performance.now() - t0) / 1000;
        const deadline = Date.now() + options.timeout * 1000;
        for (;;) {
          const done = success.covered(topic, mark);
          if (done.records >= count) return { t0, produceSeconds, done };
          if (Date.now() > deadline) {
            throw new Error(
              `batch size ${batchSize}: ${done.records} of ${count} records reached the success queue within ${options.timeout} s (${done.tasks} tasks); runtime warnings: ${warnings.slice(-5).join(' | ') || 'none'}`,
            );
          }
          await sleep(50);
        }
      };
      // Warm-up, outside the figures: a few records through this trigger's whole path (its workers' JIT).
      await produceAndWait(WARM_RECORDS, success.mark());
      const mark = success.mark();
      const before = { trigger: calls.get(trigger.name)?.length ?? 0, sink: calls.get(sink.name)?.length ?? 0 };
      const { t0, produceSeconds, done } = await produceAndWait(n, mark);
      const seconds = (done.lastAt - t0) / 1000;
      // Invocations still running (none should be: every record is done) would be counted on the next batch size.
      await sleep(200);
      const triggerCalls = (calls.get(trigger.name) ?? []).slice(before.trigger);
      const sinkCalls = (calls.get(sink.name) ?? []).slice(before.sink);
      log(`${fmt(seconds, 1)} s`);

      // A sample of the tasks, spread over the run: histories, item sizes.
      const ofTopic = success.records
        .slice(mark)
        .filter((r) => r.record.requestContext.source?.type === 'kafka' && r.record.requestContext.source.topic === topic);
      const step = Math.max(1, Math.floor(ofTopic.length / options.histories));
      const sample = ofTopic.filter((_, i) => i % step === 0).slice(0, options.histories);
      const counts: HistoryCount[] = [];
      const sizes: number[] = [];
      for (const { record } of sample) {
        const task = await client.get(BENCH_FUNCTION, record.requestContext.taskId);
        counts.push(countHistory(await history(sfn, task.executionArn ?? '')));
        const item = await ddb.send(
          new GetItemCommand({ TableName: tableName, Key: tableKey({ S: BENCH_FUNCTION }, { S: record.requestContext.taskId }) }),
        );
        if (item.Item) sizes.push(itemBytes(item.Item));
      }
      const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
      const wru = avg(sizes.map((b) => Math.max(1, Math.ceil(b / 1024))));
      // The trigger's Query (consistent, Limit 1) reads the chain's last item: 1 RRU per started 4 KB, at least 1.
      const rru = avg(sizes.map((b) => Math.max(1, Math.ceil(b / 4096))));
      const gbSeconds = (xs: Invocation[], memoryMb: number) => xs.reduce((s, c) => s + (Math.ceil(c.ms) / 1000) * (memoryMb / 1024), 0);
      results.push({
        batchSize,
        records: n,
        seconds,
        produceSeconds,
        tasks: done.tasks,
        triggerInvocations: triggerCalls.length,
        sinkInvocations: sinkCalls.length,
        transitionsPerTask: avg(counts.map((c) => c.stateTransitions)),
        // + the trigger's conditional put of each task.
        writesPerTask: avg(counts.map((c) => c.dynamodbWrites)) + 1,
        wruPerWrite: wru,
        rruPerQuery: rru,
        itemBytes: avg(sizes),
        sqsChunksPerTask: avg(ofTopic.map((r) => Math.max(1, Math.ceil(r.bytes / 65_536)))),
        successBytes: avg(ofTopic.map((r) => r.bytes)),
        triggerMsP50: percentile(
          triggerCalls.map((c) => c.ms),
          50,
        ),
        sinkMsP50: percentile(
          sinkCalls.map((c) => c.ms),
          50,
        ),
        triggerGbSeconds: gbSeconds(triggerCalls, trigger.memoryMb),
        sinkGbSeconds: gbSeconds(sinkCalls, sink.memoryMb),
        failures: await visible(sqs, rt.outputs.SinkFailureQueueUrl),
        quarantined: await visible(sqs, rt.outputs.QuarantineQueueUrl),
      });
    }
    return results;
  } finally {
    await success.stop();
    client.lambda.destroy();
    client.cloudFormation.destroy();
    sqs.destroy();
    sfn.destroy();
    ddb.destroy();
    await rt.stop();
    fs.rmSync(workDir, { recursive: true, force: true });
  }
}

function printTable(label: string, results: readonly Result[], memory: { trigger: number; sink: number }): void {
  const cols = results.map((r) => `batch ${r.batchSize}`);
  const row = (name: string, values: string[]) => log(`${name.padEnd(44)}${values.map((v) => v.padStart(14)).join('')}`);
  const d = results.map(derive);
  log();
  log(`== ${label} ==`);
  row('', cols);
  row(
    'records (produced, all in the success queue)',
    results.map((r) => String(r.records)),
  );
  row(
    'records/s, first produce → last task result',
    results.map((r) => fmt(r.records / r.seconds, 1)),
  );
  row(
    '  produce calls alone, records/s',
    results.map((r) => fmt(r.records / r.produceSeconds, 0)),
  );
  row(
    'tasks created',
    results.map((r) => String(r.tasks)),
  );
  row(
    'trigger invocations',
    results.map((r) => String(r.triggerInvocations)),
  );
  row(
    'records per task',
    results.map((r) => fmt(r.records / r.tasks, 1)),
  );
  row(
    'failure / quarantine queue messages',
    results.map((r) => `${r.failures} / ${r.quarantined}`),
  );
  log('-- per task (sampled executions) --');
  row(
    'state transitions',
    results.map((r) => fmt(r.transitionsPerTask, 1)),
  );
  row(
    'DynamoDB writes (trigger put + machine)',
    results.map((r) => fmt(r.writesPerTask, 1)),
  );
  row(
    'item size, bytes → WRU per write',
    results.map((r) => `${fmt(r.itemBytes, 0)}→${fmt(r.wruPerWrite, 0)}`),
  );
  row(
    'success record, bytes → SQS requests',
    results.map((r) => `${fmt(r.successBytes, 0)}→${fmt(r.sqsChunksPerTask, 0)}`),
  );
  row(
    'trigger / sink invocation p50, ms (local)',
    results.map((r) => `${fmt(r.triggerMsP50, 0)} / ${fmt(r.sinkMsP50, 0)}`),
  );
  log('-- per 1,000 records --');
  row(
    'tasks',
    d.map((x) => fmt(x.tasks, 1)),
  );
  row(
    'state transitions',
    d.map((x) => fmt(x.transitions, 1)),
  );
  row(
    'DynamoDB writes',
    d.map((x) => fmt(x.writes, 1)),
  );
  row(
    '  WRU (table)',
    d.map((x) => fmt(x.wru, 0)),
  );
  row(
    '  WRU (GSI copies, projection ALL)',
    d.map((x) => fmt(x.gsiWru, 0)),
  );
  row(
    'DynamoDB Queries (trigger) → RRU',
    d.map((x) => `${fmt(x.queries, 1)}→${fmt(x.rru, 0)}`),
  );
  row(
    'Lambda invocations (trigger + sink)',
    d.map((x) => fmt(x.invocations, 1)),
  );
  row(
    'Lambda GB-s (local durations)',
    d.map((x) => fmt(x.gbSeconds, 2)),
  );
  row(
    'SQS requests (success delivery)',
    d.map((x) => fmt(x.sqsRequests, 1)),
  );
  log(`-- AWS cost per million records, us-east-1 list prices (trigger ${memory.trigger} MB, sink ${memory.sink} MB, arm64) --`);
  row(
    'Step Functions Standard ($25/M)',
    d.map((x) => `$${fmt(x.cost.sfn, 2)}`),
  );
  row(
    'DynamoDB writes, table ($0.625/M WRU)',
    d.map((x) => `$${fmt(x.cost.ddbWrites, 2)}`),
  );
  row(
    'DynamoDB writes, GSIs',
    d.map((x) => `$${fmt(x.cost.ddbGsi, 2)}`),
  );
  row(
    'DynamoDB reads ($0.125/M RRU)',
    d.map((x) => `$${fmt(x.cost.ddbReads, 2)}`),
  );
  row(
    'Lambda requests ($0.20/M)',
    d.map((x) => `$${fmt(x.cost.lambdaRequests, 2)}`),
  );
  row(
    'Lambda compute ($0.0000133334/GB-s)',
    d.map((x) => `$${fmt(x.cost.lambdaCompute, 2)}`),
  );
  row(
    'SQS ($0.40/M, 64 KB chunks)',
    d.map((x) => `$${fmt(x.cost.sqs, 2)}`),
  );
  row(
    'total per million records',
    d.map((x) => `$${fmt(x.total, 2)}`),
  );
  row(
    '  Step Functions share',
    d.map((x) => `${fmt((x.cost.sfn / x.total) * 100, 0)}%`),
  );
}

function printRatios(sources: readonly { label: string; results: readonly Result[] }[]): void {
  log();
  log('== ratios ==');
  const rate = (r: Result) => r.records / r.seconds;
  for (const { label, results } of sources) {
    const [b1, b100, b1000] = results;
    log(
      `${label}: throughput batch 100 / batch 1 ${fmt(rate(b100) / rate(b1), 1)}×, batch 1000 / batch 1 ${fmt(rate(b1000) / rate(b1), 1)}×, batch 1000 / batch 100 ${fmt(rate(b1000) / rate(b100), 2)}×`,
    );
    log(
      `${label}: cost per million records batch 1 / batch 100 ${fmt(derive(b1).total / derive(b100).total, 1)}×, batch 1 / batch 1000 ${fmt(derive(b1).total / derive(b1000).total, 1)}×`,
    );
  }
  if (sources.length === 2) {
    const [a, b] = sources;
    log(
      `${b.label} / ${a.label} throughput: ${a.results.map((r, i) => `batch ${r.batchSize} ${fmt(rate(b.results[i]) / rate(r), 2)}×`).join(', ')}`,
    );
  }
}

function printPollers(results: readonly Result[]): void {
  const epuMonth = KAFKA_PRICES.kafkaEpuHour * HOURS_PER_MONTH;
  log();
  log('== the provisioned Kafka poller (billed per hour, not per record; not in the totals above) ==');
  log(
    `price: $${KAFKA_PRICES.kafkaEpuHour} per Event Poller Unit hour (us-east-1, aws.amazon.com/lambda/pricing); one EPU holds up to ${KAFKA_PRICES.kafkaPollersPerEpu} Kafka pollers`,
  );
  log(
    `one mapping, minimumPollers 1 (the construct's default), alone: 1 EPU = $${fmt(KAFKA_PRICES.kafkaEpuHour * 24, 2)}/day, $${fmt(epuMonth, 2)} per 30-day month`,
  );
  log(
    `  in a poller group of ${KAFKA_PRICES.kafkaPollersPerEpu} mappings (one EPU shared): $${fmt(epuMonth / KAFKA_PRICES.kafkaPollersPerEpu, 2)} per mapping per month (AWS's own pricing example)`,
  );
  const perMillionAt = (recordsPerSecond: number) => (KAFKA_PRICES.kafkaEpuHour / (recordsPerSecond * 3600)) * 1e6;
  log(
    `  per million records, one EPU kept busy at a steady rate: ${[1, 10, 100, 1000].map((r) => `${r} rec/s $${fmt(perMillionAt(r), 2)}`).join(', ')}`,
  );
  const b1 = results[0];
  if (b1) log(`  (compare: the per-record total at batch 1 is $${fmt(derive(b1).total, 2)} per million)`);
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  log(`asynctask Kafka trigger benchmark — ${new Date().toISOString()}`);
  log(`machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, node ${process.version}, ${os.platform()}`);
  log(`options: ${JSON.stringify(options)}`);
  if (options.recordsBatch1 < options.records) {
    log(
      `note: batch size 1 runs ${options.recordsBatch1} records, not ${options.records} (one trigger invocation and one task per record; --records-batch1 to change)`,
    );
  }
  log();

  const run = randomUUID().slice(0, 8);
  const cdkOut = fs.mkdtempSync(path.join(os.tmpdir(), 'asynctask-bench-kafka-synth-'));
  let broker: Broker | undefined;
  const stopAll = async () => {
    await broker?.stop();
    broker = undefined;
    fs.rmSync(cdkOut, { recursive: true, force: true });
  };
  const onSignal = (signal: NodeJS.Signals) => {
    process.stderr.write(`\n${signal}: stopping\n`);
    void stopAll().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    process.stdout.write('synthesizing bench/kafka-app.ts (bundling on)… ');
    await synthApp(path.join('bench', 'kafka-app.ts'), cdkOut, { [BENCH_RUN_CONTEXT]: run });
    log('done');
    const template = JSON.parse(fs.readFileSync(path.join(cdkOut, `${KAFKA_BENCH_STACK}.template.json`), 'utf8')) as {
      Resources: Record<string, { Type: string; Properties?: { MemorySize?: number } }>;
    };
    const memoryOf = (prefix: string) =>
      Object.entries(template.Resources).find(([id, r]) => r.Type === 'AWS::Lambda::Function' && id.startsWith(prefix))?.[1].Properties
        ?.MemorySize ?? 128;
    const memory = { trigger: memoryOf('Batch1Trigger'), sink: memoryOf('SinkHandler') };

    const sources: { label: string; results: Result[] }[] = [];
    sources.push({ label: 'embedded topics', results: await runSource('embedded', cdkOut, run, options, undefined) });

    let brokers = options.kafkaBrokers;
    if (!brokers && options.realBroker) {
      const why = brokerUnavailable();
      if (why) log(`\nreal broker: skipped, ${why} (install a JDK 17+ and Maven, or give --kafka-brokers)`);
      else {
        process.stdout.write('starting a Kafka broker (scripts/kafka-broker.sh run)… ');
        broker = await startBrokerProcess(BROKER_START_TIMEOUT_MS);
        brokers = broker.brokers;
        log(brokers);
      }
    }
    if (brokers) {
      await createTopics(
        brokers,
        BENCH_BATCH_SIZES.map((b) => benchTopic(b, run)),
      );
      sources.push({ label: `real broker ${brokers}`, results: await runSource('broker', cdkOut, run, options, brokers) });
    } else if (!options.realBroker) {
      log('\nreal broker: not run (give --real-broker to start one, or --kafka-brokers host:port)');
    }

    for (const s of sources) printTable(s.label, s.results, memory);
    printRatios(sources);
    printPollers(sources[0].results);
  } finally {
    await stopAll();
  }
}

if (require.main === module) runBench(main);
