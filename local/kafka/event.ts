/**
 * Lambda's Kafka event, exactly as Lambda sends it: `eventSource` `aws:kafka` (MSK, with
 * `eventSourceArn`) or `SelfManagedKafka`, `bootstrapServers`, and `records` keyed
 * `<topic>-<partition>`, each record with its key and value in base64 and its headers as
 * `[{name: [byte, ...]}]`; and the partial batch response a function returns with
 * ReportBatchItemFailures, read back into the lowest failed offset of each partition.
 */
import type { LocalEventSourceMapping } from '../template';
import type { KafkaLogRecord } from './topics';

export interface LambdaKafkaRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly timestamp: number;
  readonly timestampType: 'CREATE_TIME';
  /** Base64; absent for a record without key. */
  readonly key?: string;
  /** Base64; absent for a tombstone (null value). */
  readonly value?: string;
  readonly headers: Record<string, number[]>[];
}

export interface LambdaKafkaEvent {
  readonly eventSource: 'aws:kafka' | 'SelfManagedKafka';
  readonly eventSourceArn?: string;
  readonly bootstrapServers?: string;
  readonly records: Record<string, LambdaKafkaRecord[]>;
}

/** Lambda caps a synchronous invocation's payload at 6 MB. */
export const MAX_EVENT_BYTES = 6 * 1024 * 1024;

export function lambdaKafkaRecord(topic: string, partition: number, r: KafkaLogRecord): LambdaKafkaRecord {
  return {
    topic,
    partition,
    offset: r.offset,
    timestamp: r.timestamp,
    timestampType: 'CREATE_TIME',
    ...(r.key !== null ? { key: r.key.toString('base64') } : {}),
    ...(r.value !== null ? { value: r.value.toString('base64') } : {}),
    headers: r.headers.map(([k, v]) => ({ [k]: [...v] })),
  };
}

/**
 * The event of one batch. `bootstrapServers`: a self-managed mapping's configured endpoints;
 * for MSK the brokers the runtime reads from (`--kafka-brokers`), when it has them.
 */
export function kafkaEvent(
  mapping: Pick<LocalEventSourceMapping, 'kind' | 'eventSourceArn' | 'bootstrapServers'>,
  batches: readonly { topic: string; partition: number; records: readonly LambdaKafkaRecord[] }[],
  brokers?: string,
): LambdaKafkaEvent {
  const records: Record<string, LambdaKafkaRecord[]> = {};
  for (const b of batches) records[`${b.topic}-${b.partition}`] = [...b.records];
  const servers = mapping.kind === 'self-managed-kafka' ? mapping.bootstrapServers?.join(',') : brokers;
  return {
    eventSource: mapping.kind === 'msk' ? 'aws:kafka' : 'SelfManagedKafka',
    ...(mapping.kind === 'msk' && mapping.eventSourceArn ? { eventSourceArn: mapping.eventSourceArn } : {}),
    ...(servers ? { bootstrapServers: servers } : {}),
    records,
  };
}

/**
 * What a function's partial batch response says about one partition's batch: `ok` (nothing of it
 * failed), `failedFrom` (the lowest failed offset in it), or `invalid` (a response Lambda treats
 * as the whole batch failing: `batchItemFailures` not an array, or an item that names no record
 * of the batch).
 */
export type PartitionOutcome = { readonly ok: true } | { readonly failedFrom: number } | { readonly invalid: string };

export function partitionOutcome(
  payload: unknown,
  topic: string,
  partition: number,
  offsets: readonly number[],
  allKeys: ReadonlySet<string>,
): PartitionOutcome {
  if (payload === null || typeof payload !== 'object' || !('batchItemFailures' in payload)) return { ok: true };
  const failures = (payload as { batchItemFailures: unknown }).batchItemFailures;
  if (failures === null || failures === undefined) return { ok: true };
  if (!Array.isArray(failures)) return { invalid: `batchItemFailures is not an array (given ${JSON.stringify(failures)})` };
  const key = `${topic}-${partition}`;
  let lowest: number | undefined;
  for (const f of failures) {
    const id = (f as { itemIdentifier?: { partition?: unknown; offset?: unknown } } | null)?.itemIdentifier;
    const offset = Number(id?.offset);
    if (!id || typeof id.partition !== 'string' || !allKeys.has(id.partition) || !Number.isInteger(offset)) {
      return {
        invalid: `batchItemFailures item ${JSON.stringify(f)} names no record of the batch (an itemIdentifier is {partition: '<topic>-<partition>', offset} of a record of the event)`,
      };
    }
    if (id.partition !== key) continue;
    if (!offsets.includes(offset)) {
      return {
        invalid: `batchItemFailures item ${JSON.stringify(f)}: offset ${offset} is not in the batch of ${key} (offsets ${offsets[0]}-${offsets[offsets.length - 1]})`,
      };
    }
    if (lowest === undefined || offset < lowest) lowest = offset;
  }
  return lowest === undefined ? { ok: true } : { failedFrom: lowest };
}
