/**
 * The embedded Kafka and the Kafka pollers, without a runtime: topics (offsets, partitioning,
 * persistence and a torn write), Lambda's Kafka event, the template's Kafka and SQS mapping
 * properties, and the poller's batching, window, commit-after-handle and redelivery from the
 * lowest failed offset, with a fake function.
 */
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { produceRecords } from '../../local/edge';
import { kafkaEvent, lambdaKafkaRecord, partitionOutcome } from '../../local/kafka/event';
import { murmur2, murmur2Partition } from '../../local/kafka/partitioner';
import { KafkaPollers } from '../../local/kafka/poller';
import { EmbeddedKafkaSource } from '../../local/kafka/source';
import { EmbeddedTopics, KafkaInputError } from '../../local/kafka/topics';
import { eventSourceMapping, type LocalEventSourceMapping, TemplateError } from '../../local/template';
import type { LambdaInvoker, LambdaInvokeResult } from '../../local/types';

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(path.join(os.tmpdir(), 'asynctask-kafka-'));
  dirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const text = (s: string) => Buffer.from(s, 'utf8');

describe('murmur2 partitioner', () => {
  test("matches Kafka's Utils.murmur2 test vectors", () => {
    expect(murmur2(text('21'))).toBe(-973932308);
    expect(murmur2(text('foobar'))).toBe(-790332482);
    expect(murmur2(text('a-little-bit-long-string'))).toBe(-985981536);
    expect(murmur2(text('a-little-bit-longer-string'))).toBe(-1486304829);
    expect(murmur2(text('lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8'))).toBe(-58897971);
    expect(murmur2(text('abc'))).toBe(479470107);
  });

  test('a key always goes to one partition within range', () => {
    for (const key of ['a', 'order-1', 'order-2', '']) {
      const p = murmur2Partition(text(key), 3);
      expect(p).toBeGreaterThanOrEqual(0);
      expect(p).toBeLessThan(3);
      expect(murmur2Partition(text(key), 3)).toBe(p);
    }
  });
});

describe('embedded topics', () => {
  test('offsets per partition, key hash, explicit partition, round robin', () => {
    const t = new EmbeddedTopics();
    const kp = murmur2Partition(text('k'), 3);
    const other = (kp + 1) % 3;
    const out = t.produce('orders', [
      { key: text('k'), value: text('1') },
      { key: text('k'), value: text('2') },
      { value: text('3'), partition: other },
      { value: text('4') },
      { value: text('5') },
    ]);
    expect(out.slice(0, 2).map((o) => [o.partition, o.offset])).toEqual([
      [kp, 0],
      [kp, 1],
    ]);
    expect(out[2].partition).toBe(other);
    expect(out[3].partition).not.toBe(out[4].partition);
    expect(t.partitions('orders')).toBe(3);
    expect(t.read('orders', kp, 1, 10).map((r) => r.value?.toString())).toEqual(['2']);
  });

  test('fails if a partition is out of range, naming it and the range; writes nothing', () => {
    const t = new EmbeddedTopics({ partitions: 2 });
    t.ensure('x');
    expect(() => t.produce('x', [{ value: text('a') }, { value: text('b'), partition: 2 }])).toThrow(
      "record 2: partition 2 does not exist in topic 'x'; its partitions are 0-1",
    );
    expect(t.endOffset('x', 0) + t.endOffset('x', 1)).toBe(0);
  });

  test('fails if a topic name is invalid', () => {
    expect(() => new EmbeddedTopics().produce('a/b', [{ value: null }])).toThrow(KafkaInputError);
    expect(() => new EmbeddedTopics().produce('a/b', [{ value: null }])).toThrow(/invalid topic name 'a\/b'.*letters, digits/);
  });

  test('records and commits are on disk when produce and commit return; a torn last line is dropped', () => {
    const dir = tempDir();
    const a = new EmbeddedTopics({ dir });
    a.produce('t', [
      { key: text('k1'), value: text('v1'), headers: [['h', text('x')]], timestamp: 1000 },
      { key: null, value: null, partition: 1 },
    ]);
    a.commit('g', 't', 1, 1);
    // A second instance reads what the first wrote, as a restart after kill -9 does.
    const b = new EmbeddedTopics({ dir });
    const p = murmur2Partition(text('k1'), 3);
    const [r] = b.read('t', p, 0, 10);
    expect(r).toMatchObject({ offset: 0, timestamp: 1000 });
    expect(r.key?.toString()).toBe('k1');
    expect(r.headers.map(([k, v]) => [k, v.toString()])).toEqual([['h', 'x']]);
    expect(b.read('t', 1, 0, 10)[0]).toMatchObject({ key: null, value: null });
    expect(b.committed('g', 't', 1)).toBe(1);
    expect(b.committed('g', 't', 0)).toBeUndefined();
    // A write cut by a crash: the torn line was never acknowledged; the next record takes its offset.
    appendFileSync(path.join(dir, 'topics', 't', '1.log'), '{"o":1,"t":5,"k":nu');
    const c = new EmbeddedTopics({ dir });
    expect(c.endOffset('t', 1)).toBe(1);
    expect(c.produce('t', [{ value: text('after'), partition: 1 }])[0].offset).toBe(1);
    expect(
      readFileSync(path.join(dir, 'topics', 't', '1.log'), 'utf8')
        .split('\n')
        .filter(Boolean),
    ).toHaveLength(2);
    expect(new EmbeddedTopics({ dir }).read('t', 1, 1, 1)[0].value?.toString()).toBe('after');
  });

  test('waitFor resolves when a record arrives', async () => {
    const t = new EmbeddedTopics();
    t.ensure('w');
    const started = Date.now();
    const waiting = t.waitFor('w', 0, 0, 5000);
    setTimeout(() => t.produce('w', [{ value: text('x'), partition: 0 }]), 50);
    await waiting;
    expect(Date.now() - started).toBeLessThan(2000);
  });
});

describe("Lambda's Kafka event", () => {
  const record = { offset: 7, timestamp: 1_764_072_000_000, key: text('k'), value: text('{"a":1}'), headers: [['h', text('hi')]] as const };

  test('self-managed: SelfManagedKafka with the bootstrap servers, records keyed topic-partition', () => {
    const event = kafkaEvent({ kind: 'self-managed-kafka', bootstrapServers: ['localhost:9092'] }, [
      { topic: 'orders', partition: 1, records: [lambdaKafkaRecord('orders', 1, record)] },
    ]);
    expect(event).toEqual({
      eventSource: 'SelfManagedKafka',
      bootstrapServers: 'localhost:9092',
      records: {
        'orders-1': [
          {
            topic: 'orders',
            partition: 1,
            offset: 7,
            timestamp: 1_764_072_000_000,
            timestampType: 'CREATE_TIME',
            key: 'aw==',
            value: Buffer.from('{"a":1}').toString('base64'),
            headers: [{ h: [104, 105] }],
          },
        ],
      },
    });
  });

  test('MSK: aws:kafka with the cluster ARN; no key and a tombstone leave key and value out', () => {
    const arn = 'arn:aws:kafka:us-east-1:000000000000:cluster/demo/abc';
    const event = kafkaEvent({ kind: 'msk', eventSourceArn: arn }, [
      { topic: 't', partition: 0, records: [lambdaKafkaRecord('t', 0, { ...record, key: null, value: null, headers: [] })] },
    ]);
    expect(event.eventSource).toBe('aws:kafka');
    expect(event.eventSourceArn).toBe(arn);
    expect(event.records['t-0'][0]).not.toHaveProperty('key');
    expect(event.records['t-0'][0]).not.toHaveProperty('value');
  });

  test('partial batch response: the lowest failed offset of the partition; an unknown item fails the batch', () => {
    const keys = new Set(['t-0']);
    const failures = (items: unknown[]) => ({ batchItemFailures: items });
    expect(partitionOutcome(null, 't', 0, [1, 2, 3], keys)).toEqual({ ok: true });
    expect(partitionOutcome(failures([]), 't', 0, [1, 2, 3], keys)).toEqual({ ok: true });
    expect(
      partitionOutcome(
        failures([{ itemIdentifier: { partition: 't-0', offset: 3 } }, { itemIdentifier: { partition: 't-0', offset: '2' } }]),
        't',
        0,
        [1, 2, 3],
        keys,
      ),
    ).toEqual({ failedFrom: 2 });
    expect(partitionOutcome(failures([{ itemIdentifier: 'm-1' }]), 't', 0, [1, 2, 3], keys)).toHaveProperty('invalid');
    expect(partitionOutcome(failures([{ itemIdentifier: { partition: 't-0', offset: 9 } }]), 't', 0, [1, 2, 3], keys)).toHaveProperty(
      'invalid',
    );
    expect(partitionOutcome({ batchItemFailures: 'x' }, 't', 0, [1], keys)).toHaveProperty('invalid');
  });
});

describe('template: event source mappings', () => {
  test('self-managed Kafka: topics, servers, group, position, batching, retries', () => {
    const m = eventSourceMapping('Etl', 'S', {
      FunctionName: 'arn:aws:lambda:us-east-1:000000000000:function:trigger',
      SelfManagedEventSource: { Endpoints: { KafkaBootstrapServers: ['localhost:9092'] } },
      SelfManagedKafkaEventSourceConfig: { ConsumerGroupId: 'etl-group' },
      Topics: ['connector-demo'],
      StartingPosition: 'LATEST',
      BatchSize: 50,
      MaximumBatchingWindowInSeconds: 2,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      MaximumRetryAttempts: 3,
    });
    expect(m).toMatchObject({
      kind: 'self-managed-kafka',
      functionName: 'trigger',
      topics: ['connector-demo'],
      bootstrapServers: ['localhost:9092'],
      consumerGroupId: 'etl-group',
      startingPosition: 'LATEST',
      batchSize: 50,
      maximumBatchingWindowInSeconds: 2,
      reportBatchItemFailures: true,
      maximumRetryAttempts: 3,
    });
  });

  test("MSK defaults: Lambda's batch 100 and 500 ms window, TRIM_HORIZON, a group of the stack and id", () => {
    const m = eventSourceMapping('Msk', 'S', { FunctionName: 'f', EventSourceArn: 'arn:aws:kafka:us-east-1:0:cluster/c/u', Topics: ['t'] });
    expect(m).toMatchObject({
      kind: 'msk',
      batchSize: 100,
      maximumBatchingWindowInSeconds: 0.5,
      startingPosition: 'TRIM_HORIZON',
      consumerGroupId: 'S-Msk',
    });
  });

  test('SQS: batch, window, maximum concurrency', () => {
    const m = eventSourceMapping('Q', 'S', {
      FunctionName: 'f',
      EventSourceArn: 'arn:aws:sqs:us-east-1:000000000000:q',
      BatchSize: 500,
      MaximumBatchingWindowInSeconds: 1,
      ScalingConfig: { MaximumConcurrency: 2 },
    });
    expect(m).toMatchObject({ kind: 'sqs', batchSize: 500, maximumBatchingWindowInSeconds: 1, maximumConcurrency: 2 });
  });

  test('fails if a Kafka mapping has no topics, a bad batch size or AT_TIMESTAMP without a timestamp', () => {
    const kafka = { FunctionName: 'f', SelfManagedEventSource: { Endpoints: { KAFKA_BOOTSTRAP_SERVERS: ['h:1'] } } };
    expect(() => eventSourceMapping('K', 'S', kafka)).toThrow(TemplateError);
    expect(() => eventSourceMapping('K', 'S', { ...kafka, Topics: ['t'], BatchSize: 20_000 })).toThrow(
      'event source mapping S/K: BatchSize must be an integer between 1 and 10000 inclusive (given 20000)',
    );
    expect(() => eventSourceMapping('K', 'S', { ...kafka, Topics: ['t'], StartingPosition: 'AT_TIMESTAMP' })).toThrow(
      /needs StartingPositionTimestamp/,
    );
  });
});

describe('produce request records', () => {
  test('key, value, partition and headers (object or pairs)', () => {
    const [a, b] = produceRecords({
      records: [
        { key: 'k', value: 'v', partition: 1, headers: { h: 'x' } },
        {
          value: null,
          headers: [
            ['h', '1'],
            ['h', '2'],
          ],
        },
      ],
    });
    expect(a.key?.toString()).toBe('k');
    expect(a.partition).toBe(1);
    expect(a.headers?.map(([k, v]) => `${k}=${v}`)).toEqual(['h=x']);
    expect(b.value).toBeNull();
    expect(b.headers?.map(([k, v]) => `${k}=${v}`)).toEqual(['h=1', 'h=2']);
  });

  test('fails if the records are missing or a record is malformed, naming it', () => {
    expect(() => produceRecords({})).toThrow(/with 1-10000 records/);
    expect(() => produceRecords({ records: [{ value: 'a' }, { value: 3 }] })).toThrow('record 2: value must be a string or null (given 3)');
    expect(() => produceRecords({ records: [{ value: 'a', partition: -1 }] })).toThrow(
      /partition must be an integer of 0 or more \(given -1\)/,
    );
    expect(() => produceRecords({ records: [{ value: 'a', headers: { h: 1 } }] })).toThrow(/headers must be/);
  });
});

/** A fake function: records every event it gets, answers with `respond`. */
function fakeFunction(
  respond: (event: { records: Record<string, { offset: number; partition: number }[]> }, call: number) => Partial<LambdaInvokeResult>,
) {
  const calls: { partition: number; offsets: number[] }[] = [];
  const lambda: LambdaInvoker = {
    invoke: async (_fn, payload) => {
      const event = payload as { records: Record<string, { offset: number; partition: number }[]> };
      for (const records of Object.values(event.records))
        calls.push({ partition: records[0].partition, offsets: records.map((r) => r.offset) });
      return { payload: null, requestId: 'r', ...respond(event, calls.length) };
    },
  };
  return { lambda, calls };
}

function mapping(overrides: Partial<LocalEventSourceMapping> = {}): LocalEventSourceMapping {
  return {
    logicalId: 'M',
    stackName: 'S',
    functionName: 'fn',
    kind: 'self-managed-kafka',
    bootstrapServers: ['localhost:9092'],
    topics: ['t'],
    batchSize: 3,
    maximumBatchingWindowInSeconds: 0,
    enabled: true,
    reportBatchItemFailures: true,
    startingPosition: 'TRIM_HORIZON',
    consumerGroupId: 'g',
    ...overrides,
  };
}

async function until(probe: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Pollers of one mapping on embedded topics, with short retry and idle waits. */
function embeddedPollers(
  topics: EmbeddedTopics,
  one: LocalEventSourceMapping,
  lambda: LambdaInvoker,
  warn: (message: string) => void = () => undefined,
): KafkaPollers {
  return new KafkaPollers({
    mappings: [one],
    source: new EmbeddedKafkaSource(topics),
    lambda,
    warn,
    options: { retryBaseMs: 20, retryMaxMs: 50, idleWaitMs: 100 },
  });
}

describe('Kafka pollers', () => {
  test('batches of BatchSize in partition order; offsets committed after each batch is handled', async () => {
    const topics = new EmbeddedTopics({ partitions: 1 });
    topics.produce(
      't',
      Array.from({ length: 7 }, (_, i) => ({ value: text(String(i)) })),
    );
    const committedAtCall: (number | undefined)[] = [];
    const { lambda, calls } = fakeFunction(() => {
      committedAtCall.push(topics.committed('g', 't', 0));
      return {};
    });
    const pollers = embeddedPollers(topics, mapping(), lambda);
    await pollers.start();
    await until(() => topics.committed('g', 't', 0) === 7, 'offset 7 committed');
    await pollers.close();
    expect(calls.map((c) => c.offsets)).toEqual([[0, 1, 2], [3, 4, 5], [6]]);
    // While a batch runs, the commit is still the one before it.
    expect(committedAtCall).toEqual([0, 3, 6]);
  });

  test('the window waits for more records unless the batch is full', async () => {
    const topics = new EmbeddedTopics({ partitions: 1 });
    topics.ensure('t');
    const { lambda, calls } = fakeFunction(() => ({}));
    const pollers = embeddedPollers(topics, mapping({ batchSize: 10, maximumBatchingWindowInSeconds: 0.6 }), lambda);
    await pollers.start();
    topics.produce('t', [{ value: text('a') }]);
    setTimeout(() => topics.produce('t', [{ value: text('b') }]), 200);
    await until(() => topics.committed('g', 't', 0) === 2, 'both records committed');
    // A full batch goes at once.
    const started = Date.now();
    topics.produce(
      't',
      Array.from({ length: 10 }, () => ({ value: text('x') })),
    );
    await until(() => topics.committed('g', 't', 0) === 12, 'the full batch committed');
    const fullTook = Date.now() - started;
    await pollers.close();
    expect(calls.map((c) => c.offsets.length)).toEqual([2, 10]);
    expect(fullTook).toBeLessThan(500);
  });

  test('a partial batch response commits up to the lowest failed offset and redelivers from it', async () => {
    const topics = new EmbeddedTopics({ partitions: 1 });
    topics.produce(
      't',
      Array.from({ length: 6 }, (_, i) => ({ value: text(String(i)) })),
    );
    const committedAtCall: (number | undefined)[] = [];
    const { lambda, calls } = fakeFunction((_event, call) => {
      committedAtCall.push(topics.committed('g', 't', 0));
      // The first delivery fails offsets 3 and 1: the commit stops at 1, which comes back with what follows.
      if (call === 1) return { payload: { batchItemFailures: [3, 1].map((offset) => ({ itemIdentifier: { partition: 't-0', offset } })) } };
      return { payload: { batchItemFailures: [] } };
    });
    const pollers = embeddedPollers(topics, mapping({ batchSize: 4 }), lambda);
    await pollers.start();
    await until(() => topics.committed('g', 't', 0) === 6, 'all committed');
    await pollers.close();
    expect(calls.map((c) => c.offsets)).toEqual([[0, 1, 2, 3], [1, 2, 3, 4], [5]]);
    expect(committedAtCall).toEqual([0, 1, 5]);
  });

  test('redelivery starts at the failed offset, not at the batch start', async () => {
    const topics = new EmbeddedTopics({ partitions: 1 });
    topics.produce(
      't',
      Array.from({ length: 5 }, (_, i) => ({ value: text(String(i)) })),
    );
    const { lambda, calls } = fakeFunction((_event, call) =>
      call === 1 ? { payload: { batchItemFailures: [{ itemIdentifier: { partition: 't-0', offset: 2 } }] } } : {},
    );
    const pollers = embeddedPollers(topics, mapping({ batchSize: 5 }), lambda);
    await pollers.start();
    await until(() => topics.committed('g', 't', 0) === 5, 'all committed');
    await pollers.close();
    expect(calls.map((c) => c.offsets)).toEqual([
      [0, 1, 2, 3, 4],
      [2, 3, 4],
    ]);
  });

  test('a function error redelivers the whole batch; MaximumRetryAttempts gives up with a warning', async () => {
    const topics = new EmbeddedTopics({ partitions: 1 });
    topics.produce('t', [{ value: text('poison') }, { value: text('ok') }]);
    const warnings: string[] = [];
    const { lambda, calls } = fakeFunction(() => ({ functionError: 'Unhandled', payload: { errorType: 'Error', errorMessage: 'boom' } }));
    const pollers = embeddedPollers(topics, mapping({ batchSize: 2, maximumRetryAttempts: 2 }), lambda, (m) => warnings.push(m));
    await pollers.start();
    await until(() => topics.committed('g', 't', 0) === 2, 'skipped after the retries');
    await pollers.close();
    // The first attempt and two retries.
    expect(calls.map((c) => c.offsets)).toEqual([
      [0, 1],
      [0, 1],
      [0, 1],
    ]);
    expect(warnings.some((w) => w.includes('failed on offsets 0-1 (Error: boom)'))).toBe(true);
    expect(warnings.some((w) => w.includes('gave up on offsets 0-1 (MaximumRetryAttempts 2 reached)'))).toBe(true);
  });

  test('partitions are read concurrently, each in order; a restart goes on from the committed offsets', async () => {
    const dir = tempDir();
    const topics = new EmbeddedTopics({ dir });
    topics.produce(
      't',
      Array.from({ length: 30 }, (_, i) => ({ key: text(`k${i % 5}`), value: text(String(i)) })),
    );
    const seen = new Map<number, number[]>();
    const { lambda } = fakeFunction((event) => {
      for (const records of Object.values(event.records))
        for (const r of records) seen.set(r.partition, [...(seen.get(r.partition) ?? []), r.offset]);
      return {};
    });
    const pollers = embeddedPollers(topics, mapping({ batchSize: 4 }), lambda);
    await pollers.start();
    const ends = [0, 1, 2].map((p) => topics.endOffset('t', p));
    await until(() => [0, 1, 2].every((p) => topics.committed('g', 't', p) === ends[p]), 'every partition committed');
    await pollers.close();
    for (const [p, offsets] of seen) expect(offsets).toEqual(Array.from({ length: ends[p] }, (_, i) => i));

    const again = new EmbeddedTopics({ dir });
    again.produce('t', [{ value: text('new'), partition: 0 }]);
    const second = fakeFunction(() => ({}));
    const restarted = embeddedPollers(again, mapping(), second.lambda);
    await restarted.start();
    await until(() => again.committed('g', 't', 0) === ends[0] + 1, 'the new record committed');
    await restarted.close();
    expect(second.calls).toEqual([{ partition: 0, offsets: [ends[0]] }]);
  });

  test('LATEST starts at the end, and the start is committed so a restart does not skip what came between', async () => {
    const dir = tempDir();
    const topics = new EmbeddedTopics({ dir, partitions: 1 });
    topics.produce('t', [{ value: text('old') }]);
    const { lambda, calls } = fakeFunction(() => ({}));
    const pollers = embeddedPollers(topics, mapping({ startingPosition: 'LATEST' }), lambda);
    await pollers.start();
    await pollers.close();
    expect(topics.committed('g', 't', 0)).toBe(1);
    topics.produce('t', [{ value: text('while down') }]);
    const again = new EmbeddedTopics({ dir });
    const restarted = embeddedPollers(again, mapping({ startingPosition: 'LATEST' }), lambda);
    await restarted.start();
    await until(() => again.committed('g', 't', 0) === 2, 'the record produced while down');
    await restarted.close();
    expect(calls.map((c) => c.offsets)).toEqual([[1]]);
  });
});
