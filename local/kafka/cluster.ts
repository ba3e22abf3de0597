/**
 * A real Kafka cluster as the pollers' source (`asynctask dev --kafka-brokers host:port,...`),
 * through kafkajs (pure JavaScript, no dependencies). Each mapping consumes its topics as a member
 * of its consumer group; records are kept in memory per partition from the committed offset on,
 * so a redelivery from a failed offset reads them again without seeking, and offsets are committed
 * to the group only when the poller has handled a batch. Start-up checks that a broker answers
 * within a few seconds and that every mapping's topic exists, and says which one did not.
 */
import { type Admin, type Consumer, Kafka, type KafkaMessage, logLevel, type Producer } from 'kafkajs';
import { murmur2Partition } from './partitioner';
import {
  type KafkaSource,
  type KafkaSubscription,
  type ProduceResult,
  type SubscribeOptions,
  startOffset,
  type TopicPartitionOffset,
} from './source';
import { KafkaInputError, type KafkaLogRecord, KafkaUnavailableError, type ProduceRecord, validateTopicName } from './topics';

/** Records buffered per partition before its fetching pauses (resumed below half). */
const BUFFER_HIGH = 20_000;

export interface ClusterOptions {
  /** How long start-up waits for a broker to answer (default 5 s). */
  readonly connectTimeoutMs?: number;
  readonly warn?: (message: string) => void;
}

/** `host:port[,host:port...]` → the brokers; throws naming the bad entry. */
export function parseBrokers(text: string): string[] {
  const brokers = text
    .split(',')
    .map((b) => b.trim())
    .filter((b) => b !== '');
  if (brokers.length === 0) throw new KafkaInputError(`--kafka-brokers needs host:port[,host:port...] (given '${text}')`);
  for (const b of brokers) {
    const m = /^(\[[^\]]+\]|[^:\s]+):(\d+)$/.exec(b);
    if (!m || Number(m[2]) < 1 || Number(m[2]) > 65_535) {
      throw new KafkaInputError(`--kafka-brokers: '${b}' is not host:port with a port from 1 to 65535 (given '${text}')`);
    }
  }
  return brokers;
}

interface Buffered {
  readonly records: KafkaLogRecord[];
  /** The next offset expected from the fetches (records below it were seen). */
  end: number;
  waiters: (() => void)[];
  paused: boolean;
}

function toRecord(m: KafkaMessage): KafkaLogRecord {
  return {
    offset: Number(m.offset),
    timestamp: Number(m.timestamp),
    key: m.key ?? null,
    value: m.value ?? null,
    headers: Object.entries(m.headers ?? {}).flatMap(([k, v]) =>
      (Array.isArray(v) ? v : [v]).filter((x) => x !== undefined).map((x) => [k, Buffer.isBuffer(x) ? x : Buffer.from(String(x))] as const),
    ),
  };
}

/** Headers as kafkajs takes them: a name given twice keeps both values, in order. */
function headerObject(headers: readonly (readonly [string, Buffer])[]): Record<string, Buffer | Buffer[]> {
  const out: Record<string, Buffer | Buffer[]> = {};
  for (const [k, v] of headers) {
    const had = out[k];
    out[k] = had === undefined ? v : Array.isArray(had) ? [...had, v] : [had, v];
  }
  return out;
}

/** How long group calls are retried while the broker says it cannot answer yet. */
const RETRIABLE_FOR_MS = 30_000;

/**
 * Runs a consumer-group call again while the broker answers with a retriable error — right after a
 * broker starts, its group coordinator is still loading ("The coordinator is loading") — for up to
 * RETRIABLE_FOR_MS; then, or on any other error, it fails naming what it was doing.
 */
export async function whileRetriable<T>(what: string, call: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + RETRIABLE_FOR_MS;
  for (let delay = 200; ; delay = Math.min(delay * 2, 2000)) {
    try {
      return await call();
    } catch (error) {
      if (!(error as { retriable?: boolean }).retriable || Date.now() + delay > deadline) {
        throw new Error(`${what} failed: ${(error as Error).message}`, { cause: error });
      }
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}

export class ClusterKafkaSource implements KafkaSource {
  public readonly description: string;
  public readonly brokers: string;
  private readonly kafka: Kafka;
  private producer?: Producer;
  private readonly consumers: Consumer[] = [];

  private constructor(
    brokers: readonly string[],
    private readonly admin: Admin,
    kafka: Kafka,
  ) {
    this.brokers = brokers.join(',');
    this.description = `the Kafka cluster at ${this.brokers}`;
    this.kafka = kafka;
  }

  /** Connects; rejects naming the brokers when none answers within `connectTimeoutMs`. */
  public static async connect(brokers: readonly string[], options: ClusterOptions = {}): Promise<ClusterKafkaSource> {
    const timeout = options.connectTimeoutMs ?? 5000;
    const kafka = new Kafka({
      clientId: 'asynctask-local',
      brokers: [...brokers],
      connectionTimeout: Math.min(3000, timeout),
      requestTimeout: 30_000,
      retry: { retries: 5, initialRetryTime: 200, maxRetryTime: 5000 },
      logLevel: logLevel.NOTHING,
    });
    const admin = kafka.admin({ retry: { retries: 1, initialRetryTime: 200 } });
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        admin.connect().then(() => admin.listTopics()),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${timeout / 1000} s`)), timeout);
        }),
      ]);
    } catch (error) {
      await admin.disconnect().catch(() => undefined);
      throw new KafkaUnavailableError(
        `cannot reach the Kafka broker${brokers.length > 1 ? 's' : ''} ${brokers.join(', ')} (given with --kafka-brokers): ${(error as Error).message}; start the cluster or correct the address, or leave --kafka-brokers out to use the embedded topics`,
        { cause: error },
      );
    } finally {
      clearTimeout(timer);
    }
    return new ClusterKafkaSource(brokers, admin, kafka);
  }

  public async topics(): Promise<{ topic: string; partitions: number }[]> {
    const names = (await this.admin.listTopics()).filter((t) => !t.startsWith('__'));
    if (names.length === 0) return [];
    const { topics } = await this.admin.fetchTopicMetadata({ topics: names });
    return topics.map((t) => ({ topic: t.name, partitions: t.partitions.length })).sort((a, b) => a.topic.localeCompare(b.topic));
  }

  private async partitionCounts(topics: readonly string[], reader: string): Promise<Map<string, number>> {
    const existing = new Set(await this.admin.listTopics());
    const missing = topics.filter((t) => !existing.has(t));
    if (missing.length > 0) {
      throw new KafkaInputError(
        `topic${missing.length > 1 ? 's' : ''} ${missing.map((t) => `'${t}'`).join(', ')} (read by ${reader}) do${missing.length > 1 ? '' : 'es'} not exist on ${this.description}; create ${missing.length > 1 ? 'them' : 'it'} there first (kafka-topics.sh --bootstrap-server ${this.brokers.split(',')[0]} --create --topic ${missing[0]}); the cluster has ${[...existing].filter((t) => !t.startsWith('__')).join(', ') || 'no topics'}`,
      );
    }
    const { topics: meta } = await this.admin.fetchTopicMetadata({ topics: [...topics] });
    return new Map(meta.map((t) => [t.name, t.partitions.length]));
  }

  public async subscribe(options: SubscribeOptions): Promise<KafkaSubscription> {
    const counts = await this.partitionCounts(options.topics, options.reader ?? `consumer group ${options.group}`);
    const partitions: TopicPartitionOffset[] = [];
    const committed = await whileRetriable(`reading the committed offsets of consumer group ${options.group}`, () =>
      this.admin.fetchOffsets({ groupId: options.group, topics: [...options.topics] }),
    );
    for (const topic of options.topics) {
      const ofTopic = committed.find((c) => c.topic === topic)?.partitions ?? [];
      const missing: { partition: number; offset: string }[] = [];
      let bounds: { partition: number; low: string; high: string }[] | undefined;
      let byTime: { partition: number; offset: string }[] | undefined;
      for (let partition = 0; partition < (counts.get(topic) ?? 0); partition++) {
        let offset = Number(ofTopic.find((p) => p.partition === partition)?.offset ?? '-1');
        if (offset < 0) {
          bounds ??= await this.admin.fetchTopicOffsets(topic);
          const b = bounds.find((x) => x.partition === partition);
          const range = { start: Number(b?.low ?? 0), end: Number(b?.high ?? 0) };
          if (options.startingPosition === 'AT_TIMESTAMP') {
            byTime ??= await this.admin.fetchTopicOffsetsByTimestamp(topic, options.startingTimestampMs ?? 0);
          }
          offset = startOffset(options.startingPosition, range, () => {
            const o = Number(byTime?.find((x) => x.partition === partition)?.offset ?? -1);
            return o < 0 ? range.end : o;
          });
          missing.push({ partition, offset: String(offset) });
        }
        partitions.push({ topic, partition, offset });
      }
      // The group starts where the mapping does, also after a restart (Lambda's group commits too).
      if (missing.length > 0) {
        await whileRetriable(`setting the starting offsets of consumer group ${options.group}`, () =>
          this.admin.setOffsets({ groupId: options.group, topic, partitions: missing }),
        );
      }
    }

    const buffers = new Map<string, Buffered>();
    for (const p of partitions) buffers.set(`${p.topic}\0${p.partition}`, { records: [], end: p.offset, waiters: [], paused: false });
    const buffer = (topic: string, partition: number): Buffered => {
      const b = buffers.get(`${topic}\0${partition}`);
      if (!b) throw new KafkaInputError(`partition ${partition} of topic '${topic}' is not one this consumer reads`);
      return b;
    };
    const consumer = this.kafka.consumer({
      groupId: options.group,
      allowAutoTopicCreation: false,
      maxWaitTimeInMs: 250,
      sessionTimeout: 30_000,
      heartbeatInterval: 3000,
    });
    this.consumers.push(consumer);
    await consumer.connect();
    await consumer.subscribe({ topics: [...options.topics], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      partitionsConsumedConcurrently: Math.max(1, partitions.length),
      eachBatch: async ({ batch }) => {
        const b = buffers.get(`${batch.topic}\0${batch.partition}`);
        if (!b) return;
        for (const m of batch.messages) {
          const offset = Number(m.offset);
          // After a rebalance the group's fetches restart at the committed offset: records seen before are skipped.
          if (offset < b.end) continue;
          b.records.push(toRecord(m));
          b.end = offset + 1;
        }
        for (const w of b.waiters.splice(0)) w();
        if (!b.paused && b.records.length >= BUFFER_HIGH) {
          b.paused = true;
          consumer.pause([{ topic: batch.topic, partitions: [batch.partition] }]);
        }
      },
    });

    return {
      partitions,
      read: async (topic, partition, offset, max, maxBytes, waitMs, signal) => {
        const b = buffer(topic, partition);
        const available = () => b.records.length > 0 && b.records[b.records.length - 1].offset >= offset;
        if (!available() && waitMs > 0 && !signal.aborted) {
          await new Promise<void>((resolve) => {
            const done = () => {
              clearTimeout(timer);
              signal.removeEventListener('abort', done);
              b.waiters = b.waiters.filter((w) => w !== done);
              resolve();
            };
            const timer = setTimeout(done, waitMs);
            signal.addEventListener('abort', done);
            b.waiters.push(done);
          });
        }
        const out: KafkaLogRecord[] = [];
        let bytes = 0;
        for (const r of b.records) {
          if (r.offset < offset) continue;
          if (out.length >= max) break;
          const size = (r.key?.length ?? 0) + (r.value?.length ?? 0);
          if (out.length > 0 && bytes + size > maxBytes) break;
          bytes += size;
          out.push(r);
        }
        return out;
      },
      commit: async (topic, partition, offset) => {
        await consumer.commitOffsets([{ topic, partition, offset: String(offset) }]);
        const b = buffer(topic, partition);
        const keep = b.records.findIndex((r) => r.offset >= offset);
        b.records.splice(0, keep < 0 ? b.records.length : keep);
        if (b.paused && b.records.length < BUFFER_HIGH / 2) {
          b.paused = false;
          consumer.resume([{ topic, partitions: [partition] }]);
        }
      },
      close: async () => {
        await consumer.disconnect().catch(() => undefined);
      },
    };
  }

  public async produce(topic: string, records: readonly ProduceRecord[]): Promise<ProduceResult> {
    validateTopicName(topic);
    const { topics } = await this.admin.fetchTopicMetadata({ topics: [topic] }).catch((error: Error) => {
      throw new KafkaInputError(
        `topic '${topic}' does not exist on ${this.description} (${error.message}); create it there first (kafka-topics.sh --bootstrap-server ${this.brokers.split(',')[0]} --create --topic ${topic})`,
      );
    });
    const count = topics[0]?.partitions.length ?? 0;
    let next = Math.floor(Math.random() * Math.max(1, count));
    const chosen = records.map((r, i) => {
      if (r.partition !== undefined && (!Number.isInteger(r.partition) || r.partition < 0 || r.partition >= count)) {
        throw new KafkaInputError(
          `record ${i + 1}: partition ${r.partition} does not exist in topic '${topic}'; its partitions are 0-${count - 1}`,
        );
      }
      return r.partition ?? (r.key ? murmur2Partition(r.key, count) : next++ % count);
    });
    this.producer ??= this.kafka.producer({ allowAutoTopicCreation: false, idempotent: false });
    await this.producer.connect();
    const sent = await this.producer.send({
      topic,
      acks: -1,
      messages: records.map((r, i) => ({
        partition: chosen[i],
        key: r.key ?? null,
        value: r.value,
        ...(r.timestamp !== undefined ? { timestamp: String(r.timestamp) } : {}),
        headers: headerObject(r.headers ?? []),
      })),
    });
    // One send answers with the base offset of each partition's part, in the order of the records.
    const base = new Map(sent.map((s) => [s.partition, Number(s.baseOffset)]));
    const offsets = chosen.map((partition) => {
      const offset = base.get(partition) ?? -1;
      base.set(partition, offset + 1);
      return { partition, offset };
    });
    return { offsets, created: false };
  }

  public async close(): Promise<void> {
    await Promise.allSettled(this.consumers.map((c) => c.disconnect()));
    await this.producer?.disconnect().catch(() => undefined);
    await this.admin.disconnect().catch(() => undefined);
  }
}
