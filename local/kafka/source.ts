/**
 * Where the Kafka pollers read from and `asynctask produce` writes to: the embedded topics
 * (./topics.ts) or a real cluster (./cluster.ts, `--kafka-brokers`). One seam, so the poller's
 * batching, commit and redelivery are the same code for both.
 */
import type { LocalEventSourceMapping } from '../template';
import type { EmbeddedTopics, KafkaLogRecord, ProduceRecord } from './topics';

export interface TopicPartitionOffset {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
}

/** A mapping's consumer: its partitions, reads from any offset at or after the committed one, commits. */
export interface KafkaSubscription {
  /** Every partition of the mapping's topics and the offset it starts from: the group's committed offset, else the starting position (committed as the group's offset at once, so a restart starts there too). */
  readonly partitions: readonly TopicPartitionOffset[];
  /** Records of a partition from `offset` (at most `max`, about `maxBytes`); waits up to `waitMs` for the first one. */
  read(
    topic: string,
    partition: number,
    offset: number,
    max: number,
    maxBytes: number,
    waitMs: number,
    signal: AbortSignal,
  ): Promise<KafkaLogRecord[]>;
  /** Commits `offset` (the next to read) as the group's offset of the partition. */
  commit(topic: string, partition: number, offset: number): Promise<void>;
  close(): Promise<void>;
}

export interface SubscribeOptions {
  readonly group: string;
  readonly topics: readonly string[];
  readonly startingPosition: NonNullable<LocalEventSourceMapping['startingPosition']>;
  /** AT_TIMESTAMP: epoch ms. */
  readonly startingTimestampMs?: number;
  /** Who reads, for errors (e.g. `event source mapping Stack/Id`). */
  readonly reader?: string;
}

export interface ProduceResult {
  readonly offsets: { partition: number; offset: number }[];
  /** The topic did not exist and was created (embedded topics only). */
  readonly created: boolean;
}

export interface KafkaSource {
  /** `embedded` or the bootstrap servers. */
  readonly description: string;
  /** The brokers (real cluster only): the MSK events' `bootstrapServers`. */
  readonly brokers?: string;
  subscribe(options: SubscribeOptions): Promise<KafkaSubscription>;
  produce(topic: string, records: readonly ProduceRecord[]): Promise<ProduceResult>;
  /** Topics and partition counts. */
  topics(): Promise<{ topic: string; partitions: number }[]>;
  close(): Promise<void>;
}

/** The starting offset of a partition without a committed offset. */
export function startOffset(
  position: SubscribeOptions['startingPosition'],
  bounds: { start: number; end: number },
  atTimestamp: () => number,
): number {
  if (position === 'TRIM_HORIZON') return bounds.start;
  if (position === 'LATEST') return bounds.end;
  return atTimestamp();
}

export class EmbeddedKafkaSource implements KafkaSource {
  public readonly description = 'embedded';

  public constructor(public readonly store: EmbeddedTopics) {}

  public async subscribe(options: SubscribeOptions): Promise<KafkaSubscription> {
    const { store } = this;
    const partitions: TopicPartitionOffset[] = [];
    for (const topic of options.topics) {
      store.ensure(topic);
      for (let partition = 0; partition < store.partitions(topic); partition++) {
        let offset = store.committed(options.group, topic, partition);
        if (offset === undefined) {
          offset = startOffset(options.startingPosition, { start: 0, end: store.endOffset(topic, partition) }, () =>
            store.offsetForTimestamp(topic, partition, options.startingTimestampMs ?? 0),
          );
          store.commit(options.group, topic, partition, offset);
        }
        partitions.push({ topic, partition, offset });
      }
    }
    return {
      partitions,
      read: async (topic, partition, offset, max, maxBytes, waitMs, signal) => {
        await store.waitFor(topic, partition, offset, waitMs, signal);
        return store.read(topic, partition, offset, max, maxBytes);
      },
      commit: async (topic, partition, offset) => store.commit(options.group, topic, partition, offset),
      close: async () => undefined,
    };
  }

  public async produce(topic: string, records: readonly ProduceRecord[]): Promise<ProduceResult> {
    const created = !this.store.has(topic);
    const offsets = this.store.produce(topic, records).map(({ partition, offset }) => ({ partition, offset }));
    return { offsets, created };
  }

  public async topics(): Promise<{ topic: string; partitions: number }[]> {
    return this.store.list();
  }

  public async close(): Promise<void> {}
}
