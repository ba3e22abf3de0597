/**
 * Kafka event source mappings, locally: one loop per partition of each mapping's topics, reading
 * from the mapping's consumer group's committed offset (or its starting position), batching as
 * Lambda does (`BatchSize`, `MaximumBatchingWindowInSeconds`, the 6 MB payload cap), invoking the
 * function with Lambda's Kafka event and committing only after the batch is handled:
 *
 * - success: the whole batch is committed;
 * - with ReportBatchItemFailures and `batchItemFailures`: committed up to (excluding) the lowest
 *   failed offset of the partition, and redelivered from there after a backoff;
 * - a function error (or a response naming no record of the batch): the whole batch is
 *   redelivered after a backoff, until `MaximumRetryAttempts` or `MaximumRecordAgeInSeconds`
 *   (when set) give up on it: then it is skipped with a warning naming its offsets.
 *
 * One batch of a partition is in flight at a time; partitions run concurrently. Each event holds
 * one partition's records (Lambda may put several partitions in one event; a handler takes both).
 */
import type { LocalEventSourceMapping } from '../template';
import type { LambdaInvoker } from '../types';
import { kafkaEvent, type LambdaKafkaRecord, lambdaKafkaRecord, MAX_EVENT_BYTES, partitionOutcome } from './event';
import type { KafkaSource, KafkaSubscription } from './source';

export interface KafkaPollerOptions {
  /** First redelivery delay; doubles per attempt (default 500 ms). */
  readonly retryBaseMs?: number;
  /** Longest redelivery delay (default 10 s). */
  readonly retryMaxMs?: number;
  /** How long one read waits for a first record before checking for stop (default 1 s). */
  readonly idleWaitMs?: number;
}

/** The mappings a Kafka source feeds. */
export function isKafkaMapping(m: LocalEventSourceMapping): boolean {
  return m.kind === 'msk' || m.kind === 'self-managed-kafka';
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done);
  });

export class KafkaPollers {
  private readonly abort = new AbortController();
  private readonly loops: Promise<void>[] = [];
  private readonly subscriptions: KafkaSubscription[] = [];

  public constructor(
    private readonly deps: {
      readonly mappings: readonly LocalEventSourceMapping[];
      readonly source: KafkaSource;
      readonly lambda: LambdaInvoker;
      readonly warn: (message: string) => void;
      readonly options?: KafkaPollerOptions;
    },
  ) {}

  /** Subscribes every enabled Kafka mapping (a missing topic or unreachable cluster rejects) and starts polling. */
  public async start(): Promise<void> {
    for (const m of this.deps.mappings) {
      if (!m.enabled || !isKafkaMapping(m)) continue;
      const sub = await this.deps.source.subscribe({
        group: m.consumerGroupId ?? `${m.stackName}-${m.logicalId}`,
        topics: m.topics ?? [],
        startingPosition: m.startingPosition ?? 'TRIM_HORIZON',
        ...(m.startingPositionTimestamp !== undefined ? { startingTimestampMs: m.startingPositionTimestamp * 1000 } : {}),
        reader: `event source mapping ${m.stackName}/${m.logicalId} (→ ${m.functionName})`,
      });
      this.subscriptions.push(sub);
      for (const p of sub.partitions) this.loops.push(this.loop(m, sub, p.topic, p.partition, p.offset));
    }
  }

  public async close(): Promise<void> {
    this.abort.abort();
    await Promise.allSettled(this.loops);
    await Promise.allSettled(this.subscriptions.map((s) => s.close()));
  }

  /** One batch: the records from `offset`, waiting up to the window for more unless it is full. */
  private async batch(m: LocalEventSourceMapping, sub: KafkaSubscription, topic: string, partition: number, offset: number) {
    const signal = this.abort.signal;
    const idle = this.deps.options?.idleWaitMs ?? 1000;
    const records: LambdaKafkaRecord[] = [];
    let bytes = 0;
    let full = false;
    const take = async (from: number, waitMs: number) => {
      const got = await sub.read(topic, partition, from, m.batchSize - records.length, MAX_EVENT_BYTES - bytes, waitMs, signal);
      for (const r of got) {
        const record = lambdaKafkaRecord(topic, partition, r);
        const size = JSON.stringify(record).length + 1;
        // Lambda's 6 MB payload: the batch ends before the record that would pass it (a record alone always goes).
        if (records.length > 0 && bytes + size > MAX_EVENT_BYTES - 1024) {
          full = true;
          break;
        }
        records.push(record);
        bytes += size;
      }
    };
    await take(offset, idle);
    if (records.length === 0) return records;
    const deadline = Date.now() + m.maximumBatchingWindowInSeconds * 1000;
    while (!full && records.length < m.batchSize && !signal.aborted) {
      const left = deadline - Date.now();
      if (left <= 0) break;
      const before = records.length;
      await take(records[records.length - 1].offset + 1, left);
      if (records.length === before && Date.now() >= deadline) break;
    }
    return records;
  }

  private async loop(m: LocalEventSourceMapping, sub: KafkaSubscription, topic: string, partition: number, start: number): Promise<void> {
    const signal = this.abort.signal;
    const base = this.deps.options?.retryBaseMs ?? 500;
    const max = this.deps.options?.retryMaxMs ?? 10_000;
    const where = `Kafka event source ${m.logicalId} (${topic}-${partition} → ${m.functionName})`;
    let position = start;
    let attempts = 0;
    let errors = 0;
    const backoff = () => sleep(Math.min(max, base * 2 ** Math.min(attempts - 1, 20)), signal);
    while (!signal.aborted) {
      try {
        const records = await this.batch(m, sub, topic, partition, position);
        errors = 0;
        if (records.length === 0 || signal.aborted) continue;
        const first = records[0].offset;
        const last = records[records.length - 1].offset;
        const event = kafkaEvent(m, [{ topic, partition, records }], this.deps.source.brokers);
        const result = await this.deps.lambda.invoke(m.functionName, event);
        let failedFrom: number | undefined;
        if (result.functionError) {
          failedFrom = first;
          this.deps.warn(`${where}: the function failed on offsets ${first}-${last} (${describeError(result.payload)}); redelivering them`);
        } else if (m.reportBatchItemFailures) {
          const outcome = partitionOutcome(
            result.payload,
            topic,
            partition,
            records.map((r) => r.offset),
            new Set([`${topic}-${partition}`]),
          );
          if ('invalid' in outcome) {
            failedFrom = first;
            this.deps.warn(`${where}: ${outcome.invalid}; the whole batch ${first}-${last} is redelivered, as Lambda does`);
          } else if ('failedFrom' in outcome) failedFrom = outcome.failedFrom;
        }
        if (failedFrom === undefined) {
          await this.commit(sub, topic, partition, last + 1, where);
          position = last + 1;
          attempts = 0;
          continue;
        }
        if (failedFrom > first) {
          // Progress: the records before the failed one are done; the next attempt starts at it.
          await this.commit(sub, topic, partition, failedFrom, where);
          position = failedFrom;
          attempts = 1;
        } else attempts++;
        const failedRecord = records.find((r) => r.offset === failedFrom) ?? records[0];
        const retriesLeft = m.maximumRetryAttempts === undefined || attempts <= m.maximumRetryAttempts;
        const young =
          m.maximumRecordAgeInSeconds === undefined || Date.now() - failedRecord.timestamp <= m.maximumRecordAgeInSeconds * 1000;
        if (!retriesLeft || !young) {
          const why = !retriesLeft
            ? `MaximumRetryAttempts ${m.maximumRetryAttempts} reached`
            : `the record is older than MaximumRecordAgeInSeconds ${m.maximumRecordAgeInSeconds}`;
          this.deps.warn(
            `${where}: gave up on offsets ${failedFrom}-${last} (${why}); they are skipped${
              m.onFailureDestination ? ` (the on-failure destination ${m.onFailureDestination} is not written locally)` : ''
            }`,
          );
          await this.commit(sub, topic, partition, last + 1, where);
          position = last + 1;
          attempts = 0;
          continue;
        }
        await backoff();
      } catch (error) {
        if (signal.aborted) return;
        errors++;
        if (errors === 1 || errors % 50 === 0) this.deps.warn(`${where}: ${(error as Error).name}: ${(error as Error).message} (retrying)`);
        await sleep(Math.min(max, base * errors), signal);
      }
    }
  }

  /** Commits, retrying until it holds or the runtime stops: a batch handled is never delivered again for want of a commit. */
  private async commit(sub: KafkaSubscription, topic: string, partition: number, offset: number, where: string): Promise<void> {
    for (let i = 1; ; i++) {
      try {
        await sub.commit(topic, partition, offset);
        return;
      } catch (error) {
        if (this.abort.signal.aborted) throw error;
        if (i === 1 || i % 20 === 0) this.deps.warn(`${where}: committing offset ${offset} failed (${(error as Error).message}); retrying`);
        await sleep(Math.min(5000, 100 * i), this.abort.signal);
      }
    }
  }
}

function describeError(payload: unknown): string {
  const p = payload as { errorType?: string; errorMessage?: string } | null;
  return p?.errorType ? `${p.errorType}: ${p.errorMessage ?? ''}` : (JSON.stringify(payload)?.slice(0, 200) ?? 'no payload');
}
