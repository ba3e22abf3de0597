/**
 * The local runtime's Kafka event source mappings end to end, on the embedded topics and on a
 * real Apache Kafka broker (test/kafka/broker.ts): records written with `asynctask produce` (or
 * the edge's produce route) reach the mapping's function in partition order, in batches of the
 * mapping's size, and a record the function reports as failed comes back from its own offset,
 * not from the batch start. Bad input: an unreachable broker and a missing topic fail the start
 * naming them; a bad `produce` exits 2 naming what was wrong.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import type { EmbeddedKafkaSource } from '../../local/kafka/source';
import { type LocalRuntime, startRuntime } from '../../local/runtime';
import { type Broker, describeWithBroker, startBroker } from '../kafka/broker';
import { BATCH_SIZE, GROUP, KAFKA_STACK, synthKafkaFixture, TOPIC } from '../kafka/fixture';
import { runCli, sleep } from './harness';

interface Call {
  eventSource: string;
  bootstrapServers?: string;
  keys: string[];
  records: { partition: number; offset: number; key?: string; value: string; headers: Record<string, number[]>[] }[];
  failures: unknown[];
}

/** `asynctask <args>` against the runtime at `endpoint` (produce needs no stack). */
function cli(args: string[], endpoint: string) {
  return runCli(endpoint, KAFKA_STACK, args);
}

async function waitFor<T>(probe: () => T | undefined, what: string, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

/** The same checks against either source. */
function suite(mode: 'embedded' | 'broker') {
  let dir: string;
  let outFile: string;
  let rt: LocalRuntime;
  let broker: Broker | undefined;

  const calls = (): Call[] =>
    existsSync(outFile)
      ? readFileSync(outFile, 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as Call)
      : [];

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), `asynctask-e2e-kafka-${mode}-`));
    outFile = path.join(dir, 'calls.jsonl');
    const cdkOut = synthKafkaFixture(outFile);
    let kafkaBrokers: string[] | undefined;
    if (mode === 'broker') {
      broker = await startBroker();
      kafkaBrokers = broker.brokers.split(',');
      const admin = new Kafka({ brokers: kafkaBrokers, logLevel: logLevel.NOTHING }).admin();
      await admin.connect();
      await admin.createTopics({ topics: [{ topic: TOPIC, numPartitions: 3 }], waitForLeaders: true });
      await admin.disconnect();
    }
    rt = await startRuntime({
      cdkOut,
      port: 0,
      dataDir: path.join(dir, 'data'),
      log: () => undefined,
      kafkaPoller: { retryBaseMs: 100, retryMaxMs: 500 },
      ...(kafkaBrokers ? { kafkaBrokers } : {}),
    });
  }, 200_000);

  afterAll(async () => {
    await rt?.stop();
    await broker?.stop();
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  test('records reach the function in partition order, in batches of the mapping size; a failure comes back from its offset', async () => {
    // One keyed record by the CLI, with headers; then 30 over the three partitions by the edge route.
    const one = await cli(['produce', TOPIC, '--key', 'order-0', '--header', 'trace=abc', '--value', 'first'], rt.endpoint);
    expect(one.stderr).toBe('');
    expect(one.code).toBe(0);
    expect(one.stdout).toMatch(new RegExp(`^${TOPIC}/[0-2]@0\\n$`));
    const records = Array.from({ length: 30 }, (_, i) => ({ key: `order-${(i % 6) + 1}`, value: i === 12 ? 'fail-once:r12' : `v${i}` }));
    const res = await fetch(`${rt.endpoint}/_local/kafka/topics/${TOPIC}/records`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ records }),
    });
    expect(res.status).toBe(200);
    const { offsets } = (await res.json()) as { offsets: { partition: number; offset: number }[] };
    const failed = offsets[12];

    await waitFor(() => (calls().flatMap((c) => c.records).length >= 31 + 1 ? true : undefined), 'every record delivered');
    const all = calls();
    expect(all[0].eventSource).toBe('SelfManagedKafka');
    expect(all[0].bootstrapServers).toBe('localhost:9092');
    const firstRecord = all.flatMap((c) => c.records).find((r) => r.value === 'first');
    expect(firstRecord?.headers).toEqual([{ trace: [...Buffer.from('abc')] }]);
    expect(Buffer.from(firstRecord?.key ?? '', 'base64').toString()).toBe('order-0');
    for (const c of all) {
      expect(c.keys).toHaveLength(1);
      expect(c.records.length).toBeLessThanOrEqual(BATCH_SIZE);
    }
    // Per partition: offsets in order; the failed record and those after it in its batch come once more, from its offset.
    const produced = [{ partition: Number(one.stdout.split('/')[1].split('@')[0]), offset: 0 }, ...offsets];
    const ends = [0, 1, 2].map((p) => Math.max(-1, ...produced.filter((o) => o.partition === p).map((o) => o.offset)) + 1);
    for (const p of [0, 1, 2]) {
      const delivered = all.flatMap((c) => c.records.filter((r) => r.partition === p).map((r) => r.offset));
      const end = ends[p];
      const unique = [...new Set(delivered)];
      expect(unique).toEqual(Array.from({ length: end }, (_, i) => i));
      if (p !== failed.partition) expect(delivered).toEqual(unique);
    }
    const failedCall = all.findIndex((c) => c.failures.length > 0);
    expect(failedCall).toBeGreaterThanOrEqual(0);
    const redelivered = all.slice(failedCall + 1).find((c) => c.records.some((r) => r.partition === failed.partition));
    expect(redelivered?.records[0].offset).toBe(failed.offset);
    // The mapping's consumer group has committed every partition to its end.
    const committed = async (p: number): Promise<number | undefined> => {
      if (mode === 'embedded') return (rt.kafka as EmbeddedKafkaSource).store.committed(GROUP, TOPIC, p);
      const admin = new Kafka({ brokers: broker!.brokers.split(','), logLevel: logLevel.NOTHING }).admin();
      await admin.connect();
      const [t] = await admin.fetchOffsets({ groupId: GROUP, topics: [TOPIC] });
      await admin.disconnect();
      return Number(t.partitions.find((x) => x.partition === p)?.offset);
    };
    for (const p of [0, 1, 2]) {
      const deadline = Date.now() + 10_000;
      while ((await committed(p)) !== ends[p] && Date.now() < deadline) await sleep(200);
      expect(await committed(p)).toBe(ends[p]);
    }
  }, 90_000);

  test('fails if produce names a partition out of range: exit 2 naming it and the range', async () => {
    const r = await cli(['produce', TOPIC, '--partition', '7', '--value', 'x'], rt.endpoint);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`partition 7 does not exist in topic '${TOPIC}'; its partitions are 0-2`);
  });
}

describe('Kafka mappings on the embedded topics', () => {
  suite('embedded');

  test('fails if a --header is not name=value: exit 2 before any call', async () => {
    const r = await cli(['produce', TOPIC, '--header', 'novalue', '--value', 'x'], 'http://127.0.0.1:1');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--header must be name=value with a non-empty name (given 'novalue')");
  });
});

describeWithBroker('Kafka mappings on a real Apache Kafka broker', () => {
  suite('broker');
});

describeWithBroker('Kafka start-up errors on a real cluster', () => {
  let broker: Broker;
  let cdkOut: string;
  beforeAll(async () => {
    broker = await startBroker();
    cdkOut = synthKafkaFixture(path.join(os.tmpdir(), 'asynctask-unused.jsonl'));
  }, 200_000);
  afterAll(() => broker?.stop(), 60_000);

  test('fails if the topic does not exist, naming it and the mapping', async () => {
    await expect(startRuntime({ cdkOut, port: 0, log: () => undefined, kafkaBrokers: broker.brokers.split(',') })).rejects.toThrow(
      new RegExp(
        `topic '${TOPIC}' \\(read by event source mapping KafkaFixture/OrdersMapping.*\\) does not exist on the Kafka cluster at ${broker.brokers}`,
      ),
    );
  }, 60_000);
});

describe('Kafka start-up errors', () => {
  test('fails if the broker cannot be reached, naming it', async () => {
    const cdkOut = synthKafkaFixture(path.join(os.tmpdir(), 'asynctask-unused.jsonl'));
    const started = Date.now();
    await expect(startRuntime({ cdkOut, port: 0, log: () => undefined, kafkaBrokers: ['127.0.0.1:1'] })).rejects.toThrow(
      /cannot reach the Kafka broker 127\.0\.0\.1:1 \(given with --kafka-brokers\)/,
    );
    expect(Date.now() - started).toBeLessThan(15_000);
  }, 30_000);
});
