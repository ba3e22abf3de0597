/**
 * Checks shared by the Kafka ETL end-to-end suites (kafka-etl.test.ts, kafka-etl-crash.test.ts):
 * the demo app (stack AsyncTaskDemo) on a local runtime started here, and the exactly-once
 * accounting of Kafka records over the `etl` tasks the trigger created — each record in exactly
 * one task (by lineage and by payload), in partition order inside it, and exactly once in the
 * success records.
 */
import { CloudWatchLogsClient, FilterLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { SQSClient } from '@aws-sdk/client-sqs';
import { AsyncTaskClient } from '../../client/client';
import type { DestinationRecord, TaskRecord } from '../../lambda/model';
import { type KafkaTaskRecord, kafkaTaskId, type QuarantineRecord, type TaskSource } from '../../lambda/model/trigger';
import { type LocalRuntime, type RuntimeOptions, startRuntime } from '../../local/runtime';
import { DestinationReader, LOCAL_CREDENTIALS, PROJECT_ROOT, REGION, runtimeLog, waitUntil } from './harness';
import { APPS, synthesize } from './synth';

export const STACK = APPS.demo.stackName;
export const FUNCTION = 'etl';
/** The demo trigger's topic (DEFAULT_DEMO_KAFKA). */
export const TOPIC = 'connector-demo';

export type KafkaSource = Extract<TaskSource, { type: 'kafka' }>;
export type KafkaTask = TaskRecord & { source: KafkaSource; taskPayload: KafkaTaskRecord[] };

/** AWS clients on a local runtime's edge. */
export interface EdgeClients {
  readonly endpoint: string;
  readonly client: AsyncTaskClient;
  readonly sqs: SQSClient;
  readonly lambda: LambdaClient;
  readonly logs: CloudWatchLogsClient;
  readonly destinations: DestinationReader;
  destroy(): void;
}

export function edgeClients(endpoint: string): EdgeClients {
  const config = { endpoint, region: REGION, credentials: LOCAL_CREDENTIALS };
  const client = new AsyncTaskClient({ endpoint, stack: STACK, region: REGION });
  const sqs = new SQSClient(config);
  const lambda = new LambdaClient(config);
  const logs = new CloudWatchLogsClient(config);
  return {
    endpoint,
    client,
    sqs,
    lambda,
    logs,
    destinations: new DestinationReader(sqs),
    destroy() {
      client.lambda.destroy();
      client.cloudFormation.destroy();
      sqs.destroy();
      lambda.destroy();
      logs.destroy();
    },
  };
}

/** The demo app on an in-process local runtime, and clients on its edge. */
export interface EtlRuntime extends EdgeClients {
  readonly rt: LocalRuntime;
  /** The physical name of a Lambda function of the demo whose logical name contains `part`. */
  functionNamed(part: string): string;
  output(name: string): string;
  stop(): Promise<void>;
}

export async function startEtlRuntime(options: Partial<RuntimeOptions> = {}): Promise<EtlRuntime> {
  const cdkOut = await synthesize('demo');
  const rt = await startRuntime({
    cdkOut,
    stackName: STACK,
    port: 0,
    projectRoot: PROJECT_ROOT,
    log: runtimeLog,
    kafkaPoller: { retryBaseMs: 100, retryMaxMs: 500 },
    ...options,
  });
  const clients = edgeClients(rt.endpoint);
  return {
    ...clients,
    rt,
    functionNamed(part: string): string {
      const fn = rt.lambdaFunctions.find((f) => f.name.includes(part));
      if (!fn)
        throw new Error(`the demo has no Lambda function named like '${part}' (${rt.lambdaFunctions.map((f) => f.name).join(', ')})`);
      return fn.name;
    },
    output(name: string): string {
      const value = rt.outputs[name];
      if (value === undefined) throw new Error(`stack ${STACK} has no output '${name}'`);
      return value;
    },
    async stop() {
      clients.destroy();
      await rt.stop();
    },
  };
}

/** Invokes a Lambda function of the runtime synchronously; its result, or a thrown function error. */
export async function invokeLambda<T>(lambda: LambdaClient, functionName: string, event: unknown): Promise<T> {
  const out = await lambda.send(new InvokeCommand({ FunctionName: functionName, Payload: Buffer.from(JSON.stringify(event)) }));
  const text = Buffer.from(out.Payload ?? new Uint8Array()).toString('utf8');
  if (out.FunctionError) throw new Error(`${functionName} failed (${out.FunctionError}): ${text}`);
  return JSON.parse(text) as T;
}

/** Every task of `etl` whose id starts with `prefix` (all pages). */
export async function tasksWithPrefix(client: AsyncTaskClient, prefix: string): Promise<TaskRecord[]> {
  const tasks: TaskRecord[] = [];
  for await (const page of client.pages({ functionName: FUNCTION, prefix, limit: 100 })) tasks.push(...page.tasks);
  return tasks;
}

/** The Kafka tasks of `etl` for `topic` (every partition). */
export async function kafkaTasks(client: AsyncTaskClient, topic: string): Promise<KafkaTask[]> {
  const tasks = await tasksWithPrefix(client, `k_${topic}_`);
  return tasks.filter((t): t is KafkaTask => t.source?.type === 'kafka' && t.source.topic === topic);
}

/** A produced record: where it landed and the value it carries (as the function sees it, parsed). */
export interface ProducedRecord {
  readonly partition: number;
  readonly offset: number;
  readonly key: string | null;
  readonly value: unknown;
}

export const recordKey = (partition: number, offset: number): string => `${partition}@${offset}`;

/** How many of `expected` the tasks' lineage covers (each range counted once; overlaps are the checks' business). */
export function covered(tasks: readonly KafkaTask[], expected: readonly ProducedRecord[]): number {
  return expected.filter((r) =>
    tasks.some((t) => t.source.partition === r.partition && t.source.firstOffset <= r.offset && r.offset <= t.source.lastOffset),
  ).length;
}

/** Waits until every expected record lies in a task's lineage range (and, with `terminal`, those tasks have ended). */
export async function waitForTasks(
  client: AsyncTaskClient,
  topic: string,
  expected: readonly ProducedRecord[],
  options: { terminal?: boolean; timeoutMs?: number } = {},
): Promise<KafkaTask[]> {
  const ended = new Set(['Succeeded', 'Failed', 'Stopped', 'Expired', 'Invalid']);
  let last = 0;
  return waitUntil(
    async () => {
      const tasks = await kafkaTasks(client, topic);
      last = covered(tasks, expected);
      if (last < expected.length) return undefined;
      if (options.terminal && tasks.some((t) => !ended.has(t.status))) return undefined;
      return tasks;
    },
    {
      timeoutMs: options.timeoutMs ?? 40_000,
      intervalMs: 250,
      what: `tasks of ${FUNCTION} covering ${expected.length} records of ${topic} (${last} covered so far)`,
    },
  );
}

/**
 * Each expected record in exactly one task, by lineage and by payload; inside a task the records
 * in offset order, of its partition, between its first and last offset, with the value produced;
 * the task id keyed on its first offset. `tasks` may hold other tasks of the topic (records
 * produced by another test): only those whose range meets `expected` are looked at. `quarantined`
 * records lie inside a range but not in its payload. Returns the tasks looked at.
 */
export function expectEachRecordInOneTask(
  tasks: readonly KafkaTask[],
  topic: string,
  expected: readonly ProducedRecord[],
  quarantined: ReadonlySet<string> = new Set(),
): KafkaTask[] {
  const byKey = new Map(expected.map((r) => [recordKey(r.partition, r.offset), r]));
  const mine = tasks.filter((t) =>
    expected.some((r) => r.partition === t.source.partition && t.source.firstOffset <= r.offset && r.offset <= t.source.lastOffset),
  );
  const inPayload = new Map<string, string[]>();
  const inLineage = new Map<string, string[]>();
  for (const task of mine) {
    const { partition, firstOffset, lastOffset } = task.source;
    expect(task.taskId).toBe(kafkaTaskId(topic, partition, firstOffset));
    expect(Array.isArray(task.taskPayload)).toBe(true);
    const offsets = task.taskPayload.map((r) => r.offset);
    // Partition order inside the task, within its lineage.
    expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
    expect(new Set(offsets).size).toBe(offsets.length);
    for (const record of task.taskPayload) {
      expect(record.topic).toBe(topic);
      expect(record.partition).toBe(partition);
      expect(record.offset).toBeGreaterThanOrEqual(firstOffset);
      expect(record.offset).toBeLessThanOrEqual(lastOffset);
      const key = recordKey(partition, record.offset);
      const produced = byKey.get(key);
      expect(produced).toBeDefined();
      expect({ key: record.key, value: record.value }).toEqual({ key: produced?.key ?? null, value: produced?.value });
      inPayload.set(key, [...(inPayload.get(key) ?? []), task.taskId]);
    }
    for (let offset = firstOffset; offset <= lastOffset; offset++) {
      const key = recordKey(partition, offset);
      inLineage.set(key, [...(inLineage.get(key) ?? []), task.taskId]);
    }
    // The lineage holds nothing but its payload and quarantined records.
    const unexplained = [];
    for (let offset = firstOffset; offset <= lastOffset; offset++) {
      const key = recordKey(partition, offset);
      if (!offsets.includes(offset) && !quarantined.has(key)) unexplained.push(offset);
    }
    expect({ task: task.taskId, unexplained }).toEqual({ task: task.taskId, unexplained: [] });
  }
  const notOnce = (map: Map<string, string[]>, keys: readonly string[]) =>
    keys.filter((k) => (map.get(k) ?? []).length !== 1).map((k) => `${k} in [${(map.get(k) ?? []).join(', ')}]`);
  const keys = expected.map((r) => recordKey(r.partition, r.offset));
  expect(notOnce(inLineage, keys)).toEqual([]);
  expect(
    notOnce(
      inPayload,
      keys.filter((k) => !quarantined.has(k)),
    ),
  ).toEqual([]);
  expect(keys.filter((k) => quarantined.has(k) && inPayload.has(k))).toEqual([]);
  return mine;
}

interface EtlResultShape {
  readonly processed: number;
  readonly dropped: number;
  readonly duplicates: number;
  readonly omittedRecords?: number;
  readonly records: { topic: string; partition: number; offset: number; key: string | null; value: unknown }[];
}

/**
 * Exactly one success record per task, carrying the task's lineage and payload, and whose result
 * lists every record of the payload once (no `omittedRecords`: the values are small); across the
 * records, each expected record exactly once. Returns the success records.
 */
export async function expectEachRecordOnceInSuccess(
  destinations: DestinationReader,
  successQueueUrl: string,
  tasks: readonly KafkaTask[],
  expected: readonly ProducedRecord[],
): Promise<DestinationRecord[]> {
  const ids = new Set(tasks.map((t) => t.taskId));
  await waitUntil(
    async () => {
      const seen = new Set((await destinations.drain(successQueueUrl)).map((r) => r.requestContext.taskId));
      return [...ids].every((id) => seen.has(id));
    },
    { timeoutMs: 30_000, intervalMs: 250, what: `success records of ${ids.size} ${FUNCTION} tasks` },
  );
  const records = (await destinations.drain(successQueueUrl)).filter((r) => ids.has(r.requestContext.taskId));
  const perTask = new Map<string, number>();
  for (const r of records) perTask.set(r.requestContext.taskId, (perTask.get(r.requestContext.taskId) ?? 0) + 1);
  expect([...perTask].filter(([, n]) => n !== 1)).toEqual([]);
  const expectedKeys = new Set(expected.map((r) => recordKey(r.partition, r.offset)));
  const seen = new Map<string, number>();
  for (const record of records) {
    const task = tasks.find((t) => t.taskId === record.requestContext.taskId) as KafkaTask;
    expect(record.requestContext.condition).toBe('Success');
    expect(record.requestContext.source).toEqual(task.source);
    expect(record.requestPayload).toEqual(task.taskPayload);
    const result = record.responsePayload as EtlResultShape;
    expect(result.omittedRecords).toBeUndefined();
    expect({ processed: result.processed, dropped: result.dropped, duplicates: result.duplicates }).toEqual({
      processed: task.taskPayload.length,
      dropped: 0,
      duplicates: 0,
    });
    expect(result.records.map((r) => ({ topic: r.topic, partition: r.partition, offset: r.offset, key: r.key, value: r.value }))).toEqual(
      task.taskPayload.map((r) => ({ topic: r.topic, partition: r.partition, offset: r.offset, key: r.key, value: r.value })),
    );
    for (const r of result.records) {
      const key = recordKey(r.partition, r.offset);
      if (expectedKeys.has(key)) seen.set(key, (seen.get(key) ?? 0) + 1);
    }
  }
  const notOnce = [...expectedKeys].filter((k) => seen.get(k) !== 1);
  expect(notOnce).toEqual([]);
  return records;
}

/** Quarantine records of the trigger(s) received so far (read and deleted). */
export async function quarantineRecords(destinations: DestinationReader, queueUrl: string): Promise<QuarantineRecord[]> {
  return (await destinations.drain(queueUrl)) as unknown as QuarantineRecord[];
}

/** The trigger's summary lines (`trigger batch handled`) in its log group. */
export interface TriggerSummary {
  readonly message: string;
  readonly eventSource: string;
  readonly messages?: number;
  readonly created: number;
  readonly duplicates: number;
  readonly quarantined: number;
  readonly failures: number;
}

/** The trigger's summary lines logged at or after `since` (epoch ms). */
export async function triggerSummaries(logs: CloudWatchLogsClient, functionName: string, since = 0): Promise<TriggerSummary[]> {
  const lines: TriggerSummary[] = [];
  let nextToken: string | undefined;
  for (let page = 0; page < 100; page++) {
    const out = await logs.send(
      new FilterLogEventsCommand({
        logGroupName: `/aws/lambda/${functionName}`,
        filterPattern: '"trigger batch handled"',
        startTime: since,
        nextToken,
      }),
    );
    for (const event of out.events ?? []) {
      const text = event.message ?? '';
      const start = text.indexOf('{');
      if (start < 0) continue;
      try {
        const line = JSON.parse(text.slice(start)) as TriggerSummary;
        if (line.message?.startsWith('trigger batch handled')) lines.push(line);
      } catch {
        // not a JSON line
      }
    }
    nextToken = out.nextToken;
    if (!nextToken) break;
  }
  return lines;
}
