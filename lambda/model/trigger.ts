/**
 * Triggers: Kafka (Amazon MSK or self-managed) and SQS records becoming tasks, exactly once.
 * The contract between the trigger constructs (lib/), the trigger Lambda (lambda/handlers/trigger.ts),
 * the local runtime's event sources and the records' lineage: environment names, bounds, the
 * deterministic task ids, the task payload of a Kafka record, the source kept on each task and
 * the quarantine record of what could not become a task.
 */
import { createHash } from 'node:crypto';

/** Environment of a trigger's Lambda (besides the service's SERVICE_ENV: table and registry). */
export const TRIGGER_ENV = {
  /** The task function the records become tasks of. */
  functionName: 'ASYNCTASK_TRIGGER_FUNCTION',
  /** `batch` (one task per partition's part of a batch, or per SQS batch) or `record`. */
  mode: 'ASYNCTASK_TRIGGER_MODE',
  /** `json` (a value that is not JSON is quarantined) or `text` (any value is accepted). */
  valueFormat: 'ASYNCTASK_TRIGGER_VALUE_FORMAT',
  /** SQS only: `messageId`, `attribute:<name>` or `field:<name>` (a top-level field of the JSON body). */
  taskIdSource: 'ASYNCTASK_TRIGGER_TASK_ID_SOURCE',
  /** JSON `DestinationTarget` of the trigger's own failure destination (quarantined records); absent: none. */
  failureDestination: 'ASYNCTASK_TRIGGER_FAILURE_DESTINATION',
} as const;

export type TriggerMode = 'batch' | 'record';
export type TriggerValueFormat = 'json' | 'text';

/** Bounds of the trigger constructs' props (Lambda's own limits for the event source mappings). */
export const TRIGGER_BOUNDS = {
  kafkaBatchSize: { min: 1, max: 10_000, default: 100 },
  sqsBatchSize: { min: 1, max: 10_000, default: 10 },
  /** Seconds; SQS batches over 10 records need a window of at least 1 s. */
  maxBatchingWindowSeconds: { min: 0, max: 300 },
  sqsMaxConcurrency: { min: 2, max: 1000 },
  /** -1 = until the record expires in the topic. */
  kafkaRetryAttempts: { min: -1, max: 10_000 },
  /** Seconds; -1 = no limit. */
  kafkaMaxRecordAgeSeconds: { min: 60, max: 604_800 },
} as const;

/**
 * What the registry says about a trigger of a task function (the `functions` operation shows
 * it): written by the trigger construct into the function's descriptor.
 */
export type TriggerSummary =
  | {
      readonly type: 'kafka';
      readonly topics: readonly string[];
      /** The MSK cluster ARN, or the self-managed bootstrap servers joined with `,`. */
      readonly cluster: string;
      readonly batchSize: number;
      readonly mode: TriggerMode;
      /** `LATEST`, `TRIM_HORIZON` or `AT_TIMESTAMP`. */
      readonly startingPosition?: string;
    }
  | {
      readonly type: 'sqs';
      readonly queueArn: string;
      readonly batchSize: number;
      readonly mode: TriggerMode;
    };

/** Kafka starting positions Lambda offers. */
export const KAFKA_STARTING_POSITIONS = ['LATEST', 'TRIM_HORIZON', 'AT_TIMESTAMP'] as const;
export type KafkaStartingPosition = (typeof KAFKA_STARTING_POSITIONS)[number];

/** Where a task came from; kept on its record and in its destination records. */
export type TaskSource =
  | {
      readonly type: 'kafka';
      readonly topic: string;
      readonly partition: number;
      readonly firstOffset: number;
      readonly lastOffset: number;
      /** The MSK cluster ARN, or the self-managed bootstrap servers. */
      readonly cluster?: string;
    }
  | {
      readonly type: 'sqs';
      /** Queue ARN. */
      readonly queue: string;
      readonly messageIds: readonly string[];
    };

/**
 * One Kafka record in a task's payload: the shape of Function Compute's Kafka connector (the
 * article's `requestPayload`), key and value decoded from base64, headers kept.
 */
export interface KafkaTaskRecord {
  readonly key: string | null;
  readonly offset: number;
  /** True when the value was cut to fit the payload limit (FC's flag); the trigger quarantines instead, so false. */
  readonly overflowFlag: boolean;
  readonly partition: number;
  /** Epoch ms. */
  readonly timestamp: number;
  readonly topic: string;
  /** The decoded value: parsed JSON with `valueFormat: 'json'`, UTF-8 text otherwise; null for a tombstone. */
  readonly value: unknown;
  /** Bytes of the decoded value. */
  readonly valueSize: number;
  readonly headers?: ReadonlyArray<Readonly<Record<string, string>>>;
}

/**
 * Prefixes of the ids the triggers make (lambda/model/trigger.ts): `k_<topic>_<partition>_<offset>`
 * for Kafka, `s_<value>` for SQS. A task id is the dedup key, so an id in a trigger's namespace
 * submitted by hand would make the trigger take its record as done: a new task may not use them.
 */
export const TRIGGER_TASK_ID_PREFIXES = { kafka: 'k_', sqs: 's_' } as const;

/** Largest Kafka offset (int64), padded to this many digits so ids sort as the offsets do. */
const OFFSET_DIGITS = 19;

/**
 * A topic as it may stand in a task id: letters, digits and `-` (never `_`, the id's separator),
 * at most 60 characters; a topic that had to change gets 8 hex characters of its hash, so two
 * topics never share a slug.
 */
export function topicSlug(topic: string): string {
  const slug = topic.replace(/[^A-Za-z0-9-]/g, '-').slice(0, 60);
  if (slug === topic) return slug;
  return `${slug}-${createHash('sha256').update(topic).digest('hex').slice(0, 8)}`;
}

/** Prefix shared by every task id of one topic partition: `k_<topic>_<partition>_`. */
export function kafkaTaskIdPrefix(topic: string, partition: number): string {
  return `${TRIGGER_TASK_ID_PREFIXES.kafka}${topicSlug(topic)}_${partition}_`;
}

/**
 * The task id of the task whose records start at `startOffset` in a topic partition. Keyed on the
 * start offset, so a redelivery re-batched differently finds the same ids: the next task of a
 * partition starts right after the last offset of the one before.
 */
export function kafkaTaskId(topic: string, partition: number, startOffset: number): string {
  return `${kafkaTaskIdPrefix(topic, partition)}${String(startOffset).padStart(OFFSET_DIGITS, '0')}`;
}

/**
 * The task id of an SQS-sourced task, from a message id, a message attribute or a payload field:
 * `s_` and the value when it is a valid id tail, else `s_` and its SHA-256 (hex, 64 characters).
 */
export function sqsTaskId(value: string): string {
  if (/^[A-Za-z0-9_-]{1,120}$/.test(value)) return `${TRIGGER_TASK_ID_PREFIXES.sqs}${value}`;
  return `${TRIGGER_TASK_ID_PREFIXES.sqs}${createHash('sha256').update(value).digest('hex')}`;
}

/**
 * Largest quarantine record sent, as JSON text: below SNS's, EventBridge's and Lambda's 256 KB
 * event limits (SQS takes 1 MiB). A larger one carries the start of the record instead, with
 * `recordTruncated` set; the record itself stays in its topic or queue (`trigger.source` says where).
 */
export const MAX_QUARANTINE_RECORD_BYTES = 240 * 1024;

/** What a trigger sends to its own failure destination for a record that cannot become a task. */
export interface QuarantineRecord {
  readonly version: '1.0';
  /** ISO-8601. */
  readonly timestamp: string;
  readonly trigger: {
    /** The task function the record was meant for. */
    readonly functionName: string;
    readonly source: TaskSource;
  };
  /** Why it could not become a task: what was wrong, the value, what is allowed. */
  readonly reason: string;
  /**
   * The record exactly as the event source delivered it; when the whole quarantine record would
   * exceed MAX_QUARANTINE_RECORD_BYTES, the start of its JSON text instead.
   */
  readonly record: unknown;
  /** Set when `record` is cut: the size of the record's JSON text in bytes. */
  readonly recordTruncated?: { readonly bytes: number };
}

/**
 * What a Kafka trigger writes in the tasks table for a range of a partition whose records were all
 * quarantined (no task holds them): keyed like a task (`kafkaTaskId` of its first offset), so that
 * the next task of the partition starts after it and a redelivery finds those records handled
 * instead of quarantining them again. It has no status and no index keys, so no list shows it and
 * no status write can match it; it expires with the retention like a task.
 */
export interface KafkaRangeMarker {
  readonly functionName: string;
  readonly taskId: string;
  readonly marker: 'quarantined';
  readonly source: Extract<TaskSource, { type: 'kafka' }>;
  /** How many records of the range were quarantined. */
  readonly quarantined: number;
  /** Epoch seconds: DynamoDB TTL (retention). */
  readonly expiresAt: number;
}

/** True for a stored range marker (an item with `marker` and no status), false for a task. */
export function isRangeMarker(item: object | undefined): item is KafkaRangeMarker {
  return item !== undefined && (item as { marker?: unknown }).marker === 'quarantined' && !('status' in item);
}
