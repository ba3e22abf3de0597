/**
 * The Kafka trigger (Amazon MSK `aws:kafka` and `SelfManagedKafka` events): each topic partition
 * of a batch becomes tasks exactly once, however a redelivery is re-batched (docs/design.md,
 * "Triggers"). A partition's tasks form a chain: each covers a contiguous offset range and is keyed
 * on its first offset (`kafkaTaskId`), and the next starts at the first record above the last
 * offset of the one before. One Query finds where the chain ends, records at or below that end
 * are duplicates, the rest become ranges written with the conditional put of TaskApi's submit; a
 * put that finds its id taken learns the new end from the item it lost to and goes on from there.
 * Quarantined records lie inside a range (the task's lineage covers them, its payload leaves them
 * out), or, when a range has nothing else, inside a range marker, so a redelivery never
 * quarantines them again.
 */
import { TextDecoder } from 'node:util';
import {
  callerOfSource,
  type KafkaRangeMarker,
  type KafkaTaskRecord,
  kafkaTaskId,
  kafkaTaskIdPrefix,
  MAX_PAYLOAD_BYTES,
  type TaskFunctionDescriptor,
  type TaskSource,
  type TriggerMode,
  type TriggerValueFormat,
} from '../model';
import type { ServiceConfig } from './env';
import { logger } from './logger';
import { createTask, expiresAtFor } from './submit';
import { TaskStore } from './task-store';
import type { TriggerConfig } from './trigger-config';
import { quarantine } from './trigger-quarantine';

/** One record of Lambda's Kafka event (key and value base64, headers as arrays of byte values). */
export interface LambdaKafkaRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly timestamp: number;
  readonly timestampType?: string;
  readonly key?: string | null;
  readonly value?: string | null;
  readonly headers?: ReadonlyArray<Readonly<Record<string, readonly number[]>>>;
}

/** Lambda's event for MSK (`aws:kafka`) and self-managed Kafka (`SelfManagedKafka`). */
export interface KafkaEvent {
  readonly eventSource: 'aws:kafka' | 'SelfManagedKafka';
  readonly eventSourceArn?: string;
  readonly bootstrapServers?: string;
  /** Records grouped by `<topic>-<partition>`. */
  readonly records: Readonly<Record<string, readonly LambdaKafkaRecord[]>>;
}

/** A partial batch response item of a Kafka event source: redeliver this partition from this offset. */
export interface KafkaBatchItemFailure {
  readonly itemIdentifier: { readonly partition: string; readonly offset: number };
}

type KafkaSource = Extract<TaskSource, { type: 'kafka' }>;

/** A record of a partition as the planner sees it: decoded into a task record, or quarantined with a reason. */
export interface PlannedRecord {
  readonly offset: number;
  readonly raw: unknown;
  /** The task record; undefined when the record is quarantined. */
  readonly task?: KafkaTaskRecord;
  /** Bytes of the task record as JSON (its share of a task payload). */
  readonly bytes: number;
  /** Why it cannot become a task (what was wrong, the value, what is allowed). */
  readonly reason?: string;
}

/** A contiguous offset range of a partition that becomes one task (or a range marker when `tasks` is empty). */
export interface PlannedRange {
  readonly first: number;
  readonly last: number;
  /** Every record of the range, quarantined ones included, in offset order. */
  readonly records: readonly PlannedRecord[];
  /** The task records of the range (the payload). */
  readonly tasks: readonly KafkaTaskRecord[];
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

function shown(text: string): string {
  return text.length > 60 ? `'${text.slice(0, 60)}…'` : `'${text}'`;
}

function decodeBase64(text: string, what: string): Buffer {
  if (!BASE64.test(text))
    throw new Error(`${what} is not base64 (given ${shown(text)}); Lambda delivers Kafka keys and values base64-encoded`);
  return Buffer.from(text, 'base64');
}

function decodeText(bytes: Buffer, what: string): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw new Error(`${what} is not UTF-8 text (${bytes.length} bytes); keys, values and headers must be UTF-8`);
  }
}

/** Bytes of a task payload holding `recordBytes` of records as one JSON array. */
function arrayBytes(recordBytes: readonly number[]): number {
  return 2 + recordBytes.reduce((sum, b) => sum + b, 0) + Math.max(0, recordBytes.length - 1);
}

/**
 * Decodes one record of a partition into the connector's shape (the article's requestPayload):
 * key and value from base64, the value parsed with `valueFormat: 'json'`, headers as text. A
 * record that cannot be a task — bad encoding, a value that is not JSON, a payload over the limit
 * — is returned with the reason instead.
 */
export function planRecord(raw: LambdaKafkaRecord, valueFormat: TriggerValueFormat, mode: TriggerMode): PlannedRecord {
  const where = `record ${raw.topic}/${raw.partition} offset ${raw.offset}`;
  try {
    const key = raw.key == null ? null : decodeText(decodeBase64(raw.key, `the key of ${where}`), `the key of ${where}`);
    let value: unknown = null;
    let valueSize = 0;
    if (raw.value != null) {
      const bytes = decodeBase64(raw.value, `the value of ${where}`);
      valueSize = bytes.length;
      const text = decodeText(bytes, `the value of ${where}`);
      if (valueFormat === 'json') {
        try {
          value = JSON.parse(text);
        } catch (error) {
          throw new Error(
            `the value of ${where} is not JSON (${(error as Error).message}); given ${shown(text)}; with valueFormat 'json' every value must be JSON text (use valueFormat 'text' to take values as text)`,
          );
        }
      } else {
        value = text;
      }
    }
    const headers = (raw.headers ?? []).map((header) =>
      Object.fromEntries(
        Object.entries(header).map(([name, bytes]) => [name, decodeText(Buffer.from(bytes), `header '${name}' of ${where}`)]),
      ),
    );
    const task: KafkaTaskRecord = {
      key,
      offset: raw.offset,
      overflowFlag: false,
      partition: raw.partition,
      timestamp: raw.timestamp,
      topic: raw.topic,
      value,
      valueSize,
      headers,
    };
    const bytes = Buffer.byteLength(JSON.stringify(task), 'utf8');
    const payloadBytes = mode === 'record' ? bytes : arrayBytes([bytes]);
    if (payloadBytes > MAX_PAYLOAD_BYTES) {
      throw new Error(
        `${where} is ${payloadBytes} bytes as a task payload (value ${valueSize} bytes); the limit is ${MAX_PAYLOAD_BYTES} bytes (128 KiB) — put larger values in S3 and send their location`,
      );
    }
    return { offset: raw.offset, raw, task, bytes };
  } catch (error) {
    return { offset: raw.offset, raw, bytes: 0, reason: (error as Error).message };
  }
}

/**
 * Cuts a partition's new records (offset order) into ranges: a range grows until the next valid
 * record does not fit its payload (`batch`: the JSON array over MAX_PAYLOAD_BYTES; `record`: it
 * already holds one), and then that record starts the next range. Quarantined records join the
 * range they fall in, so every offset lies in exactly one range. Pure: no I/O.
 */
export function planRanges(records: readonly PlannedRecord[], mode: TriggerMode): PlannedRange[] {
  const ranges: PlannedRange[] = [];
  let current: { records: PlannedRecord[]; tasks: KafkaTaskRecord[]; sizes: number[] } | undefined;
  const close = (): void => {
    if (!current) return;
    ranges.push({
      first: current.records[0].offset,
      last: current.records[current.records.length - 1].offset,
      records: current.records,
      tasks: current.tasks,
    });
    current = undefined;
  };
  for (const record of records) {
    if (record.task && current && current.tasks.length > 0) {
      const full = mode === 'record' || arrayBytes([...current.sizes, record.bytes]) > MAX_PAYLOAD_BYTES;
      if (full) close();
    }
    current ??= { records: [], tasks: [], sizes: [] };
    current.records.push(record);
    if (record.task) {
      current.tasks.push(record.task);
      current.sizes.push(record.bytes);
    }
  }
  close();
  return ranges;
}

/** What one partition of a batch came to. */
export interface PartitionSummary {
  readonly created: number;
  readonly duplicates: number;
  readonly quarantined: number;
  /** Ranges of quarantined records only, written as range markers. */
  readonly markers: number;
  /** Offset the partition is to be redelivered from (a transient failure, an undeliverable quarantine). */
  readonly failedAt?: number;
  readonly error?: string;
}

interface PartitionContext {
  readonly config: ServiceConfig;
  readonly trigger: TriggerConfig;
  readonly descriptor: TaskFunctionDescriptor;
  readonly cluster?: string;
  readonly now: () => number;
}

/** Puts that find their id gone again (TTL deletion between the put and the read) before giving up. */
const MAX_VANISHED = 3;

function sourceOf(ctx: PartitionContext, topic: string, partition: number, first: number, last: number): KafkaSource {
  return {
    type: 'kafka',
    topic,
    partition,
    firstOffset: first,
    lastOffset: last,
    ...(ctx.cluster ? { cluster: ctx.cluster } : {}),
  };
}

/** The last offset an item of the partition's chain covers; undefined when it is not of this partition. */
function endOf(item: { source?: TaskSource } | undefined, topic: string, partition: number): number | undefined {
  const source = item?.source;
  if (source?.type !== 'kafka' || source.topic !== topic || source.partition !== partition) return undefined;
  return Number(source.lastOffset);
}

/**
 * One topic partition of a batch: decode, find where the partition's tasks end, then create the
 * ranges above it in offset order. Stops at the first record that could not be handled (returned
 * as `failedAt`), so the event source redelivers exactly the rest.
 */
export async function handlePartition(
  ctx: PartitionContext,
  topic: string,
  partition: number,
  raws: readonly LambdaKafkaRecord[],
): Promise<PartitionSummary> {
  const { config, trigger, descriptor } = ctx;
  const byOffset = new Map<number, PlannedRecord>();
  for (const raw of raws) byOffset.set(raw.offset, planRecord(raw, trigger.valueFormat, trigger.mode));
  const records = [...byOffset.values()].sort((a, b) => a.offset - b.offset);
  let created = 0;
  let duplicates = 0;
  let quarantined = 0;
  let markers = 0;
  const summary = (failure?: { at: number; error: string }): PartitionSummary => ({
    created,
    duplicates,
    quarantined,
    markers,
    ...(failure ? { failedAt: failure.at, error: failure.error } : {}),
  });
  const store = new TaskStore(config.table);
  const fields = { functionName: descriptor.name, topic, partition };

  let end: number;
  try {
    const prefix = kafkaTaskIdPrefix(topic, partition);
    const last = await store.lastInIdRange(descriptor.name, prefix, kafkaTaskId(topic, partition, records[records.length - 1].offset));
    if (last === undefined) {
      end = -1;
    } else {
      const lastEnd = endOf(last, topic, partition);
      if (lastEnd === undefined) {
        const error = `task '${last.taskId}' of function '${descriptor.name}' has an id of the Kafka trigger's scheme for ${topic}/${partition} but no Kafka lineage of that partition; ids starting with '${prefix}' are reserved for the trigger — remove that task`;
        logger.error(error, fields);
        return summary({ at: records[0].offset, error });
      }
      end = lastEnd;
    }
  } catch (error) {
    logger.error('could not read where the partition tasks end; the partition is redelivered', { ...fields, error });
    return summary({ at: records[0].offset, error: `${(error as Error).name}: ${(error as Error).message}` });
  }

  const delivered = new Set<number>();
  let pending = records.filter((r) => r.offset > end);
  duplicates += records.length - pending.length;
  let vanished = 0;
  replan: while (pending.length > 0) {
    for (const range of planRanges(pending, trigger.mode)) {
      // A quarantined record is delivered before the write that covers it: a crash in between
      // quarantines it again on redelivery, but never loses it.
      let stopAt: number | undefined;
      for (const record of range.records) {
        if (!record.reason || delivered.has(record.offset)) continue;
        const ok = await quarantine(
          trigger,
          { source: sourceOf(ctx, topic, partition, record.offset, record.offset), reason: record.reason, record: record.raw },
          ctx.now(),
        );
        if (!ok) {
          stopAt = record.offset;
          break;
        }
        delivered.add(record.offset);
        quarantined++;
      }
      const covered = stopAt === undefined ? range.records : range.records.filter((r) => r.offset < stopAt);
      if (covered.length > 0) {
        const first = covered[0].offset;
        const last = covered[covered.length - 1].offset;
        const tasks = covered.flatMap((r) => (r.task ? [r.task] : []));
        const source = sourceOf(ctx, topic, partition, first, last);
        const taskId = kafkaTaskId(topic, partition, first);
        let existing: { source?: TaskSource } | undefined;
        let taken: boolean;
        try {
          if (tasks.length > 0) {
            const outcome = await createTask(
              config,
              descriptor,
              { taskId, payload: trigger.mode === 'record' ? tasks[0] : tasks, source, caller: callerOfSource(source) },
              ctx.now(),
            );
            taken = !outcome.created;
            if (outcome.created) created++;
            else existing = outcome.existing;
          } else {
            const now = ctx.now();
            const marker: KafkaRangeMarker = {
              functionName: descriptor.name,
              taskId,
              marker: 'quarantined',
              source,
              quarantined: covered.length,
              expiresAt: expiresAtFor(config, descriptor, now),
            };
            const written = await store.createMarker(marker, now);
            taken = !written.ok;
            if (written.ok) markers++;
            else existing = written.current;
          }
        } catch (error) {
          logger.error('could not create the task of a range; the partition is redelivered from its first offset', {
            ...fields,
            taskId,
            firstOffset: first,
            lastOffset: last,
            error,
          });
          return summary({ at: first, error: `${(error as Error).name}: ${(error as Error).message}` });
        }
        if (taken) {
          // Someone wrote this id first (a concurrent invocation for the partition): its range is
          // the chain's new end, and the records above it are planned again.
          const takenEnd = endOf(existing, topic, partition);
          if (takenEnd === undefined) {
            if (existing === undefined && ++vanished <= MAX_VANISHED) continue replan;
            const error =
              existing === undefined
                ? `task '${taskId}' of function '${descriptor.name}' was taken and then vanished ${MAX_VANISHED} times; the partition is redelivered`
                : `task '${taskId}' of function '${descriptor.name}' is taken by an item without the Kafka lineage of ${topic}/${partition}; ids starting with '${kafkaTaskIdPrefix(topic, partition)}' are reserved for the trigger — remove that task`;
            logger.error(error, { ...fields, taskId });
            return summary({ at: first, error });
          }
          logger.info('range already created by a concurrent invocation; continuing after it', {
            ...fields,
            taskId,
            lastOffset: takenEnd,
          });
          duplicates += pending.filter((r) => r.offset <= takenEnd && !delivered.has(r.offset)).length;
          pending = pending.filter((r) => r.offset > takenEnd);
          continue replan;
        }
      }
      if (stopAt !== undefined) {
        return summary({ at: stopAt, error: `record at offset ${stopAt} could not be quarantined` });
      }
      pending = pending.filter((r) => r.offset > range.last);
    }
  }
  return summary();
}

/** Groups the event's records by topic partition, in the order Lambda gave the groups. */
function partitionsOf(event: KafkaEvent): Map<string, { topic: string; partition: number; records: LambdaKafkaRecord[] }> {
  const groups = new Map<string, { topic: string; partition: number; records: LambdaKafkaRecord[] }>();
  for (const records of Object.values(event.records ?? {})) {
    for (const record of records ?? []) {
      if (
        typeof record?.topic !== 'string' ||
        !Number.isSafeInteger(record.partition) ||
        record.partition < 0 ||
        !Number.isSafeInteger(record.offset) ||
        record.offset < 0
      ) {
        throw new Error(
          `the Kafka event has a record without a topic, a non-negative integer partition and offset (given ${JSON.stringify(record)?.slice(0, 200)}); it is not Lambda's Kafka event format`,
        );
      }
      const key = `${record.topic}-${record.partition}`;
      let group = groups.get(key);
      if (!group) {
        group = { topic: record.topic, partition: record.partition, records: [] };
        groups.set(key, group);
      }
      group.records.push(record);
    }
  }
  return groups;
}

export interface KafkaBatchResult {
  readonly batchItemFailures: KafkaBatchItemFailure[];
  readonly partitions: Record<string, PartitionSummary>;
}

/** Handles a Kafka event: its partitions concurrently, each in offset order. */
export async function handleKafkaEvent(
  config: ServiceConfig,
  trigger: TriggerConfig,
  descriptor: TaskFunctionDescriptor,
  event: KafkaEvent,
  now: () => number = Date.now,
): Promise<KafkaBatchResult> {
  const cluster = event.eventSource === 'aws:kafka' ? (event.eventSourceArn ?? event.bootstrapServers) : event.bootstrapServers;
  const ctx: PartitionContext = { config, trigger, descriptor, now, ...(cluster ? { cluster } : {}) };
  const groups = [...partitionsOf(event).entries()];
  const outcomes = await Promise.all(groups.map(([, group]) => handlePartition(ctx, group.topic, group.partition, group.records)));
  const partitions: Record<string, PartitionSummary> = {};
  const batchItemFailures: KafkaBatchItemFailure[] = [];
  groups.forEach(([key], i) => {
    const outcome = outcomes[i];
    partitions[key] = outcome;
    if (outcome.failedAt !== undefined) batchItemFailures.push({ itemIdentifier: { partition: key, offset: outcome.failedAt } });
  });
  return { batchItemFailures, partitions };
}
