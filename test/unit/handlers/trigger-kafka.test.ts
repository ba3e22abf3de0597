/**
 * The Kafka trigger on the fake table (real condition evaluation, the table Query the trigger
 * makes): one task per partition with the connector's payload and the lineage, exactly once
 * however a redelivery is re-batched or raced, quarantine, partial batch responses.
 */
import 'aws-sdk-client-mock-jest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { StartExecutionCommand } from '@aws-sdk/client-sfn';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { handler as taskApi } from '../../../lambda/handlers/task-api';
import { handler, type TriggerResponse } from '../../../lambda/handlers/trigger';
import type { KafkaEvent, LambdaKafkaRecord } from '../../../lambda/lib/trigger-kafka';
import {
  type ExecutionInput,
  type KafkaTaskRecord,
  kafkaTaskId,
  MAX_PAYLOAD_BYTES,
  type QuarantineRecord,
  TRIGGER_ENV,
  type TaskItem,
} from '../../../lambda/model';
import { FakeTable } from './fake-table';
import { awsError, ETL, failed, type LogCapture, mocks, quietLogs, setServiceEnv, useHandlerTestEnv } from './fixtures';

const NOW = Date.parse('2026-11-25T12:00:00.000Z');
const CLUSTER = 'arn:aws:kafka:us-east-1:123456789012:cluster/demo-cluster/fc0e3c59-0000-4000-8000-000000000000-1';
const QUARANTINE_QUEUE = 'https://sqs.us-east-1.amazonaws.com/123456789012/etl-quarantine';

useHandlerTestEnv(NOW);

let table: FakeTable;
let logs: LogCapture;

function setTriggerEnv(env: { mode?: string; valueFormat?: string; failureDestination?: string | null } = {}): void {
  process.env[TRIGGER_ENV.functionName] = 'etl';
  process.env[TRIGGER_ENV.mode] = env.mode ?? 'batch';
  process.env[TRIGGER_ENV.valueFormat] = env.valueFormat ?? 'json';
  if (env.failureDestination === null) delete process.env[TRIGGER_ENV.failureDestination];
  else {
    process.env[TRIGGER_ENV.failureDestination] =
      env.failureDestination ??
      JSON.stringify({ type: 'sqs', arn: 'arn:aws:sqs:us-east-1:123456789012:etl-quarantine', url: QUARANTINE_QUEUE });
  }
}

beforeEach(() => {
  setServiceEnv([ETL]);
  setTriggerEnv();
  table = new FakeTable();
  logs = quietLogs();
  mocks.sfn.on(StartExecutionCommand).resolves({});
  mocks.sqs.on(SendMessageCommand).resolves({ MessageId: 'q' });
});

afterAll(() => {
  for (const name of Object.values(TRIGGER_ENV)) delete process.env[name];
});

const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');

function record(offset: number, value: string | object | null = { n: offset }, partition = 0, topic = 'orders'): LambdaKafkaRecord {
  return {
    topic,
    partition,
    offset,
    timestamp: 1_764_072_000_000 + offset,
    timestampType: 'CREATE_TIME',
    key: b64(`k-${offset}`),
    value: value === null ? null : b64(typeof value === 'string' ? value : JSON.stringify(value)),
    headers: [{ trace: [...Buffer.from(`t-${offset}`)] }],
  };
}

function kafkaEvent(...records: LambdaKafkaRecord[]): KafkaEvent {
  const grouped: Record<string, LambdaKafkaRecord[]> = {};
  for (const r of records) {
    const key = `${r.topic}-${r.partition}`;
    grouped[key] = [...(grouped[key] ?? []), r];
  }
  return { eventSource: 'aws:kafka', eventSourceArn: CLUSTER, bootstrapServers: 'b-1:9092', records: grouped };
}

const offsets = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const deliver = (from: number, to: number, partition = 0): Promise<TriggerResponse> =>
  handler(kafkaEvent(...offsets(from, to).map((o) => record(o, { n: o }, partition))));

/** The tasks in the table (range markers left out), in id order. */
function tasks(): TaskItem[] {
  return table.all().filter((item) => item.status !== undefined) as unknown as TaskItem[];
}

function payloadOffsets(item: TaskItem): number[] {
  const payload = JSON.parse(item.taskPayload) as KafkaTaskRecord | KafkaTaskRecord[];
  return (Array.isArray(payload) ? payload : [payload]).map((r) => r.offset);
}

/** Every offset in `expected` is in exactly one task's payload, and no task holds another. */
function expectEachOnce(expected: readonly number[], partition = 0): void {
  const seen = tasks()
    .filter((t) => t.source?.type === 'kafka' && t.source.partition === partition)
    .flatMap(payloadOffsets)
    .sort((a, b) => a - b);
  expect(seen).toEqual([...expected].sort((a, b) => a - b));
}

function summaries(): Array<Record<string, unknown>> {
  return logs.lines().filter((l) => String(l.message).startsWith('trigger batch handled'));
}

function quarantined(): QuarantineRecord[] {
  return mocks.sqs
    .commandCalls(SendMessageCommand, { QueueUrl: QUARANTINE_QUEUE })
    .map((c) => JSON.parse(c.args[0].input.MessageBody ?? '') as QuarantineRecord);
}

describe('Kafka batch mode', () => {
  test("the MSK example event: one task per partition with the connector's payload and the lineage", async () => {
    const event = JSON.parse(fs.readFileSync(path.join(__dirname, '../../../examples/kafka-etl/msk-event.json'), 'utf8')) as KafkaEvent;
    const withSecond = {
      ...event,
      records: { ...event.records, 'orders-3': [record(7, { orderId: 7 }, 3)] },
    };

    const response = await handler(withSecond);

    expect(response).toEqual({ batchItemFailures: [] });
    const task = table.get('etl', kafkaTaskId('orders', 0, 15)) as TaskItem;
    expect(task).toMatchObject({ status: 'Enqueued', statusKey: 'etl#Enqueued' });
    expect(JSON.parse(task.taskPayload)).toEqual([
      {
        key: 'o-2001',
        offset: 15,
        overflowFlag: false,
        partition: 0,
        timestamp: 1764072000000,
        topic: 'orders',
        value: { orderId: 2001, total: 12.0 },
        valueSize: 32,
        headers: [],
      },
      {
        key: 'o-2002',
        offset: 16,
        overflowFlag: false,
        partition: 0,
        timestamp: 1764072000500,
        topic: 'orders',
        value: { orderId: 2002, total: 3.5 },
        valueSize: 31,
        headers: [],
      },
    ]);
    expect(task.source).toEqual({
      type: 'kafka',
      topic: 'orders',
      partition: 0,
      firstOffset: 15,
      lastOffset: 16,
      cluster: event.eventSourceArn,
    });
    // The audit trail: the trigger's source created the task.
    expect(task.events).toEqual([
      { status: 'Enqueued', at: '2026-11-25T12:00:00.000Z', detail: 'created by a kafka trigger', caller: 'kafka:orders/0@15-16' },
    ]);
    const other = table.get('etl', kafkaTaskId('orders', 3, 7)) as TaskItem;
    expect(other.events[0].caller).toBe('kafka:orders/3@7-7');
    expect(JSON.parse(other.taskPayload)).toEqual([expect.objectContaining({ offset: 7, headers: [{ trace: 't-7' }] })]);
    expect(tasks()).toHaveLength(2);

    const inputs = mocks.sfn.commandCalls(StartExecutionCommand).map((c) => JSON.parse(c.args[0].input.input ?? '') as ExecutionInput);
    expect(inputs.map((i) => i.task.source)).toEqual(expect.arrayContaining([task.source, other.source]));

    const fromApi = ok(await taskApi({ op: 'get', functionName: 'etl', taskId: task.taskId }));
    expect(fromApi.source).toEqual(task.source);
    expect(fromApi.events).toEqual([
      { status: 'Enqueued', timestamp: NOW, detail: 'created by a kafka trigger', caller: 'kafka:orders/0@15-16' },
    ]);
    expect(summaries()).toEqual([expect.objectContaining({ level: 'INFO', created: 2, duplicates: 0, quarantined: 0, failures: 0 })]);
  });

  test('one Query and one conditional put per partition: the end of the chain, then the id of the first new offset', async () => {
    await deliver(0, 9);
    mocks.ddb.resetHistory();

    await deliver(5, 14);

    const query = mocks.ddb.commandCalls(QueryCommand)[0].args[0].input;
    expect(query).toMatchObject({
      TableName: 'asynctask-tasks',
      KeyConditionExpression: '#functionName = :functionName AND #taskId BETWEEN :fromId AND :toId',
      ExpressionAttributeValues: { ':functionName': 'etl', ':fromId': 'k_orders_0_', ':toId': kafkaTaskId('orders', 0, 14) },
      ScanIndexForward: false,
      Limit: 1,
      ConsistentRead: true,
    });
    expect(mocks.ddb.commandCalls(QueryCommand)).toHaveLength(1);
    expect(mocks.ddb.commandCalls(PutCommand)).toHaveLength(1);
    expect(mocks.ddb).toHaveReceivedCommandWith(PutCommand, {
      Item: expect.objectContaining({ taskId: kafkaTaskId('orders', 0, 10) }),
      ConditionExpression: 'attribute_not_exists(#taskId) OR #expiresAt < :nowSeconds',
    });
    expect((table.get('etl', kafkaTaskId('orders', 0, 10)) as TaskItem).source).toMatchObject({ firstOffset: 10, lastOffset: 14 });
  });

  test('the same offsets redelivered split and merged differently: every record in exactly one task, duplicates counted', async () => {
    for (const [from, to] of [
      [0, 9],
      [0, 4],
      [5, 14],
      [3, 20],
    ]) {
      expect(await deliver(from, to)).toEqual({ batchItemFailures: [] });
    }

    expectEachOnce(offsets(0, 20));
    expect(tasks().map((t) => t.source)).toEqual([
      expect.objectContaining({ firstOffset: 0, lastOffset: 9 }),
      expect.objectContaining({ firstOffset: 10, lastOffset: 14 }),
      expect.objectContaining({ firstOffset: 15, lastOffset: 20 }),
    ]);
    expect(summaries().map((s) => [s.created, s.duplicates])).toEqual([
      [1, 0],
      [0, 5],
      [1, 5],
      [1, 12],
    ]);
    expect(mocks.sfn.commandCalls(StartExecutionCommand)).toHaveLength(3);
  });

  test.each(['batch', 'record'])(
    '%s mode, random re-batching with quarantined records: every valid record in one task, every invalid one quarantined once',
    async (mode) => {
      setTriggerEnv({ mode });
      let seed = mode === 'batch' ? 7 : 11;
      const random = (n: number): number => {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        return seed % n;
      };
      const invalid = new Set([4, 17, 18, 30, 41]);
      const value = (o: number): string => (invalid.has(o) ? `not json ${o}` : JSON.stringify({ n: o }));
      let delivered = -1;
      for (let i = 0; i < 25; i++) {
        // Ordered delivery: a batch starts at or before the first offset not yet delivered.
        const from = random(delivered + 2);
        const to = from + random(12);
        await handler(kafkaEvent(...offsets(from, to).map((o) => record(o, value(o)))));
        delivered = Math.max(delivered, to);
      }

      expectEachOnce(offsets(0, delivered).filter((o) => !invalid.has(o)));
      const quarantinedOffsets = quarantined().map((q) => (q.trigger.source.type === 'kafka' ? q.trigger.source.firstOffset : -1));
      expect(quarantinedOffsets.sort((a, b) => a - b)).toEqual([...invalid].filter((o) => o <= delivered));
      // The ranges (tasks and markers) tile the offsets: contiguous, no overlap.
      const ranges = table.all().map((i) => i.source as { firstOffset: number; lastOffset: number });
      expect(ranges[0].firstOffset).toBe(0);
      for (let i = 1; i < ranges.length; i++) expect(ranges[i].firstOffset).toBe(ranges[i - 1].lastOffset + 1);
      expect(ranges[ranges.length - 1].lastOffset).toBe(delivered);
    },
  );

  test('a concurrent invocation that wins the id first: the loser continues after its range, no record twice', async () => {
    // B ([0..4]) writes between A's Query and A's put: A's put of the same id loses.
    table.beforeNext('put', async () => {
      expect(await deliver(0, 4)).toEqual({ batchItemFailures: [] });
    });

    expect(await deliver(0, 9)).toEqual({ batchItemFailures: [] });

    expectEachOnce(offsets(0, 9));
    expect(
      tasks().map((t) => [t.source?.type === 'kafka' && t.source.firstOffset, t.source?.type === 'kafka' && t.source.lastOffset]),
    ).toEqual([
      [0, 4],
      [5, 9],
    ]);
    expect(summaries().map((s) => [s.created, s.duplicates])).toEqual([
      [1, 0],
      [1, 5],
    ]);
  });

  test('splits a partition into consecutive tasks when one payload would pass the limit', async () => {
    const big = 'x'.repeat(50_000);
    await handler(kafkaEvent(...offsets(0, 4).map((o) => record(o, { o, big }))));

    expectEachOnce(offsets(0, 4));
    const ranges = tasks().map((t) => (t.source?.type === 'kafka' ? [t.source.firstOffset, t.source.lastOffset] : []));
    expect(ranges).toEqual([
      [0, 1],
      [2, 3],
      [4, 4],
    ]);
    for (const t of tasks()) expect(Buffer.byteLength(t.taskPayload)).toBeLessThanOrEqual(MAX_PAYLOAD_BYTES);
  });
});

describe('Kafka record mode', () => {
  test('one task per record, the record itself as the payload, id keyed on its offset', async () => {
    setTriggerEnv({ mode: 'record' });

    await deliver(0, 2);
    await deliver(1, 3);

    expect(tasks().map((t) => t.taskId)).toEqual(offsets(0, 3).map((o) => kafkaTaskId('orders', 0, o)));
    expect(JSON.parse((table.get('etl', kafkaTaskId('orders', 0, 2)) as TaskItem).taskPayload)).toMatchObject({
      offset: 2,
      value: { n: 2 },
    });
    expect(summaries().map((s) => [s.created, s.duplicates])).toEqual([
      [3, 0],
      [1, 2],
    ]);
  });
});

describe('Kafka quarantine', () => {
  test('invalid JSON and oversized records are quarantined with the reason and the original record; the others become the task', async () => {
    const notJson = record(1, 'hello');
    const oversized = record(2, { blob: 'x'.repeat(MAX_PAYLOAD_BYTES) });

    const response = await handler(kafkaEvent(record(0), notJson, oversized, record(3)));

    expect(response).toEqual({ batchItemFailures: [] });
    const task = table.get('etl', kafkaTaskId('orders', 0, 0)) as TaskItem;
    expect(payloadOffsets(task)).toEqual([0, 3]);
    expect(task.source).toMatchObject({ firstOffset: 0, lastOffset: 3 });
    const records = quarantined();
    expect(records).toEqual([
      {
        version: '1.0',
        timestamp: '2026-11-25T12:00:00.000Z',
        trigger: {
          functionName: 'etl',
          source: { type: 'kafka', topic: 'orders', partition: 0, firstOffset: 1, lastOffset: 1, cluster: CLUSTER },
        },
        reason: expect.stringMatching(
          /^the value of record orders\/0 offset 1 is not JSON \(.*\); given 'hello'; with valueFormat 'json' every value must be JSON text/,
        ),
        record: notJson,
      },
      expect.objectContaining({
        reason: expect.stringMatching(
          /^record orders\/0 offset 2 is \d+ bytes as a task payload \(value \d+ bytes\); the limit is 131072 bytes \(128 KiB\)/,
        ),
        record: oversized,
      }),
    ]);
    expect(summaries()[0]).toMatchObject({ created: 1, quarantined: 2, failures: 0 });

    // Redelivered: covered by the task's range, so not quarantined again.
    await handler(kafkaEvent(record(0), notJson, oversized, record(3)));
    expect(quarantined()).toHaveLength(2);
    expect(summaries()[1]).toMatchObject({ created: 0, duplicates: 4, quarantined: 0 });
  });

  test('a batch of only quarantined records writes a range marker, so a redelivery does not quarantine them again', async () => {
    await handler(kafkaEvent(record(0, 'bad'), record(1, 'worse')));

    expect(tasks()).toEqual([]);
    expect(table.get('etl', kafkaTaskId('orders', 0, 0))).toEqual({
      functionName: 'etl',
      taskId: kafkaTaskId('orders', 0, 0),
      marker: 'quarantined',
      source: { type: 'kafka', topic: 'orders', partition: 0, firstOffset: 0, lastOffset: 1, cluster: CLUSTER },
      quarantined: 2,
      expiresAt: NOW / 1000 + ETL.maxEventAgeSeconds + 7 * 24 * 3600,
    });

    await handler(kafkaEvent(record(0, 'bad'), record(1, 'worse'), record(2)));

    expect(quarantined()).toHaveLength(2);
    expect(tasks().map((t) => t.taskId)).toEqual([kafkaTaskId('orders', 0, 2)]);
    const error = failed(await taskApi({ op: 'get', functionName: 'etl', taskId: kafkaTaskId('orders', 0, 0) }));
    expect(error.name).toBe('TaskNotFound');
    expect(error.message).toBe(
      `'${kafkaTaskId('orders', 0, 0)}' of function 'etl' is not a task: it records 2 Kafka record(s) of orders/0 offsets 0–1 that a trigger quarantined; task ids starting with 'k_' or 's_' are the triggers'`,
    );
  });

  test('without a failure destination a bad record is not dropped: the partition is redelivered from it, the records before it are a task', async () => {
    setTriggerEnv({ failureDestination: null });

    const response = await handler(kafkaEvent(record(0), record(1), record(2, 'bad'), record(3)));

    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: { partition: 'orders-0', offset: 2 } }] });
    expect(tasks().map((t) => t.source)).toEqual([expect.objectContaining({ firstOffset: 0, lastOffset: 1 })]);
    expect(logs.lines()).toContainEqual(
      expect.objectContaining({
        level: 'ERROR',
        message: expect.stringMatching(
          /no failure destination \(ASYNCTASK_TRIGGER_FAILURE_DESTINATION\); reported as a batch item failure/,
        ),
      }),
    );
  });

  test('a failed quarantine delivery is a batch item failure at that record', async () => {
    mocks.sqs.on(SendMessageCommand, { QueueUrl: QUARANTINE_QUEUE }).rejects(awsError('QueueDoesNotExist'));

    const response = await handler(kafkaEvent(record(0, 'bad'), record(1)));

    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: { partition: 'orders-0', offset: 0 } }] });
    expect(table.all()).toEqual([]);
  });
});

describe('Kafka transient failures', () => {
  test('DynamoDB throttling on one partition: that partition from its first record, the other proceeds', async () => {
    table.beforeNext('put', () => {
      throw awsError('ProvisionedThroughputExceededException', 'Rate of requests exceeds the allowed throughput');
    });

    const response = await handler(kafkaEvent(...offsets(0, 2).map((o) => record(o, { o }, 0)), record(5, { o: 5 }, 1)));

    // One of the two puts was throttled; which one depends on the order the partitions ran.
    expect(response.batchItemFailures).toHaveLength(1);
    const failedPartition = (response.batchItemFailures[0].itemIdentifier as { partition: string }).partition;
    expect(response.batchItemFailures[0]).toEqual({
      itemIdentifier: { partition: failedPartition, offset: failedPartition === 'orders-0' ? 0 : 5 },
    });
    expect(tasks()).toHaveLength(1);
    expect(summaries()[0]).toMatchObject({ level: 'WARN', created: 1, failures: 1 });
  });

  test('a throttled Query: the partition is redelivered from its first record', async () => {
    table.beforeNext('query', () => {
      throw awsError('ThrottlingException');
    });

    expect(await deliver(3, 5)).toEqual({ batchItemFailures: [{ itemIdentifier: { partition: 'orders-0', offset: 3 } }] });
    expect(table.all()).toEqual([]);
  });

  test('StartExecution fails on the second task: the first stays, the second is removed and redelivered from its first offset', async () => {
    setTriggerEnv({ mode: 'record' });
    mocks.sfn.on(StartExecutionCommand).resolvesOnce({}).rejectsOnce(awsError('ThrottlingException', 'Rate exceeded')).resolves({});

    const response = await deliver(0, 2);

    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: { partition: 'orders-0', offset: 1 } }] });
    expect(tasks().map((t) => t.taskId)).toEqual([kafkaTaskId('orders', 0, 0)]);

    // Lambda redelivers from offset 1: the rest becomes tasks, nothing twice.
    expect(await deliver(1, 2)).toEqual({ batchItemFailures: [] });
    expectEachOnce(offsets(0, 2));
  });
});

function ok(response: Awaited<ReturnType<typeof taskApi>>): { source?: unknown; events?: unknown } {
  if (!response.ok) throw new Error(`expected ok, got ${JSON.stringify(response.error)}`);
  return response.result as { source?: unknown; events?: unknown };
}
