/**
 * etl — the article's Kafka ETL task as a Lambda task function (Node.js 22).
 *
 * The event is a batch of Kafka records in the shape Function Compute's Kafka connector
 * delivers (`{key, offset, overflowFlag, partition, timestamp, topic, value, valueSize}`), given
 * as an array or as `{records: [...]}`; a Lambda `aws:kafka` / `SelfManagedKafka` event (records
 * grouped by `topic-partition`, key and value base64) is accepted too.
 *
 * Each record is decoded (base64 values are recognised), its value parsed when it is JSON, and
 * normalised: integer partition and offset, epoch-ms timestamp plus its ISO time, trimmed topic.
 * Malformed records are dropped and counted (with the reason), re-delivered duplicates
 * (same topic, partition and offset) are counted once. The result — the task's
 * `returnPayload` and the body of the onSuccess record — is
 * `{processed, dropped, duplicates, records, byTopic, errors}`, records sorted by topic,
 * partition and offset. The record list is cut (and `omittedRecords` set) so the result stays
 * within the task result limit (128 KiB); the counts always cover the whole batch.
 *
 * An event that is not a batch throws, so the task fails with a message saying what was expected.
 */
import { MAX_PAYLOAD_BYTES } from '../../lambda/model/record';

/** One record as FC's Kafka connector delivers it (the article's requestPayload). */
export interface KafkaRecord {
  readonly key?: string | null;
  readonly offset: number | string;
  readonly overflowFlag?: boolean;
  readonly partition: number | string;
  readonly timestamp: number | string;
  readonly topic: string;
  readonly value?: unknown;
  readonly valueSize?: number;
}

/** A Lambda event-source-mapping Kafka event (MSK or self-managed). */
export interface LambdaKafkaEvent {
  readonly eventSource: 'aws:kafka' | 'SelfManagedKafka';
  readonly records: Record<string, readonly unknown[]>;
}

export type EtlEvent = readonly unknown[] | { readonly records: readonly unknown[] } | LambdaKafkaEvent;

export interface EtlRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly key: string | null;
  /** Epoch milliseconds. */
  readonly timestamp: number;
  /** ISO-8601 of `timestamp`. */
  readonly time: string;
  /** The parsed JSON value, the text, or null for a tombstone (no value). */
  readonly value: unknown;
  readonly valueFormat: 'json' | 'text' | 'null';
  /** How the value arrived. */
  readonly valueEncoding: 'base64' | 'text' | 'json';
  /** Size of the decoded value in bytes (UTF-8). */
  readonly valueBytes: number;
  /** The connector truncated the value (FC's overflowFlag). */
  readonly overflowFlag: boolean;
}

export interface TopicSummary {
  readonly records: number;
  readonly bytes: number;
  readonly partitions: Record<string, { readonly firstOffset: number; readonly lastOffset: number; readonly records: number }>;
}

export interface DroppedRecord {
  /** Position of the record in the batch (0-based, in delivery order). */
  readonly index: number;
  readonly reason: string;
}

export interface EtlResult {
  readonly processed: number;
  readonly dropped: number;
  readonly duplicates: number;
  readonly records: EtlRecord[];
  readonly byTopic: Record<string, TopicSummary>;
  /** The first 20 drop reasons. */
  readonly errors: DroppedRecord[];
  /** Records left out of `records` to keep the result under the limit (counts include them). */
  readonly omittedRecords?: number;
}

const MAX_ERRORS = 20;
/** Leave room for the counts and byTopic in the result. */
const RECORDS_BUDGET_BYTES = MAX_PAYLOAD_BYTES - 16 * 1024;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})+(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$|^[A-Za-z0-9+/]{2}==$|^[A-Za-z0-9+/]{3}=$/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: detecting binary content is the point
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;

export class InvalidEtlBatchError extends Error {
  public override name = 'InvalidEtlBatch';
}

class MalformedRecord extends Error {}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === 'object') {
    const keys = Object.keys(value as object);
    return `an object with keys [${keys.slice(0, 8).join(', ')}${keys.length > 8 ? ', …' : ''}]`;
  }
  const text = JSON.stringify(value) ?? String(value);
  return `${typeof value} ${text.length > 40 ? `${text.slice(0, 40)}…` : text}`;
}

/** The records of the batch, in delivery order, and whether values are always base64. */
export function batchRecords(event: unknown): { records: unknown[]; base64: boolean } {
  if (Array.isArray(event)) return { records: event, base64: false };
  if (event !== null && typeof event === 'object' && 'records' in event) {
    const { records, eventSource } = event as { records: unknown; eventSource?: unknown };
    if (Array.isArray(records)) return { records, base64: false };
    if (records !== null && typeof records === 'object' && (eventSource === 'aws:kafka' || eventSource === 'SelfManagedKafka')) {
      const all: unknown[] = [];
      for (const group of Object.values(records as Record<string, unknown>)) {
        if (!Array.isArray(group)) {
          throw new InvalidEtlBatchError(`${eventSource} event: records must map 'topic-partition' to arrays (given ${describe(group)})`);
        }
        all.push(...group);
      }
      return { records: all, base64: true };
    }
  }
  throw new InvalidEtlBatchError(
    'etl expects a batch of Kafka records: an array of {key, offset, overflowFlag, partition, timestamp, topic, value, valueSize}, ' +
      `{records: [...]}, or an aws:kafka event; got ${describe(event)}`,
  );
}

function integer(record: Record<string, unknown>, field: string): number {
  const raw = record[field];
  const value = typeof raw === 'string' && /^\d+$/.test(raw.trim()) ? Number(raw.trim()) : raw;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new MalformedRecord(`${field} must be a non-negative integer (given ${describe(raw)})`);
  }
  return value;
}

function epochMs(raw: unknown): number {
  let value: number = Number.NaN;
  if (typeof raw === 'number') value = raw;
  else if (typeof raw === 'string' && /^\d+$/.test(raw.trim())) value = Number(raw.trim());
  else if (typeof raw === 'string') value = Date.parse(raw);
  // Seconds (10 digits) are promoted to milliseconds.
  if (Number.isFinite(value) && value > 0 && value < 1e11) value *= 1000;
  if (!Number.isFinite(value) || value <= 0 || Number.isNaN(new Date(value).getTime())) {
    throw new MalformedRecord(`timestamp must be epoch milliseconds or an ISO time (given ${describe(raw)})`);
  }
  return Math.trunc(value);
}

function utf8(bytes: Buffer): string | undefined {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
}

/** Decodes a base64 string to text when it is base64 of readable UTF-8. */
function fromBase64(text: string, strict: boolean, field: string): string | undefined {
  const compact = text.trim();
  if (!BASE64.test(compact)) {
    if (strict) throw new MalformedRecord(`${field} is not base64 (as aws:kafka events carry it)`);
    return undefined;
  }
  const decoded = utf8(Buffer.from(compact, 'base64'));
  if (decoded === undefined || CONTROL.test(decoded)) {
    if (strict) throw new MalformedRecord(`${field} is not UTF-8 text`);
    return undefined;
  }
  return decoded;
}

interface DecodedValue {
  readonly value: unknown;
  readonly valueFormat: EtlRecord['valueFormat'];
  readonly valueEncoding: EtlRecord['valueEncoding'];
  readonly valueBytes: number;
}

function decodeValue(raw: unknown, valueSize: unknown, base64Always: boolean): DecodedValue {
  if (raw === undefined || raw === null || (base64Always && raw === '')) {
    return { value: null, valueFormat: 'null', valueEncoding: 'text', valueBytes: 0 };
  }
  if (typeof raw !== 'string') {
    // Already structured (a producer that sent JSON through a JSON converter).
    const bytes = Buffer.byteLength(JSON.stringify(raw), 'utf8');
    return { value: raw, valueFormat: 'json', valueEncoding: 'json', valueBytes: bytes };
  }
  let text = raw;
  let encoding: EtlRecord['valueEncoding'] = 'text';
  const decoded = fromBase64(raw, base64Always, 'value');
  if (decoded !== undefined) {
    const decodedBytes = Buffer.byteLength(decoded, 'utf8');
    const rawBytes = Buffer.byteLength(raw, 'utf8');
    // A declared size settles it; without one, readable base64 is taken as base64.
    const isBase64 =
      base64Always || typeof valueSize !== 'number' || valueSize === decodedBytes || (valueSize !== rawBytes && looksLikeData(decoded));
    if (isBase64) {
      text = decoded;
      encoding = 'base64';
    }
  }
  const valueBytes = Buffer.byteLength(text, 'utf8');
  const trimmed = text.trim();
  if (trimmed.startsWith('{') || trimmed.startsWith('[') || trimmed.startsWith('"') || /^(?:-?\d|true$|false$|null$)/.test(trimmed)) {
    try {
      return { value: JSON.parse(trimmed), valueFormat: 'json', valueEncoding: encoding, valueBytes };
    } catch {
      // not JSON: keep the text
    }
  }
  return { value: text, valueFormat: 'text', valueEncoding: encoding, valueBytes };
}

function looksLikeData(text: string): boolean {
  const t = text.trim();
  return t.startsWith('{') || t.startsWith('[');
}

function normalise(input: unknown, base64Always: boolean): EtlRecord {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new MalformedRecord(`a record must be an object (given ${describe(input)})`);
  }
  const record = input as Record<string, unknown>;
  const topic = typeof record.topic === 'string' ? record.topic.trim() : '';
  if (topic === '') throw new MalformedRecord(`topic must be a non-empty string (given ${describe(record.topic)})`);
  const partition = integer(record, 'partition');
  const offset = integer(record, 'offset');
  const timestamp = epochMs(record.timestamp);
  let key: string | null = null;
  if (record.key !== undefined && record.key !== null) {
    if (typeof record.key !== 'string') throw new MalformedRecord(`key must be a string or null (given ${describe(record.key)})`);
    key = base64Always ? (fromBase64(record.key, true, 'key') ?? record.key) : record.key;
  }
  const overflowFlag = record.overflowFlag === true;
  const decoded = decodeValue(record.value, record.valueSize, base64Always);
  return {
    topic,
    partition,
    offset,
    key,
    timestamp,
    time: new Date(timestamp).toISOString(),
    ...decoded,
    overflowFlag,
  };
}

/** The transformation itself, without the Lambda wrapper. */
export function transform(event: unknown): EtlResult {
  const { records, base64 } = batchRecords(event);
  const kept = new Map<string, EtlRecord>();
  const errors: DroppedRecord[] = [];
  let dropped = 0;
  let duplicates = 0;
  records.forEach((input, index) => {
    try {
      const record = normalise(input, base64);
      const id = `${record.topic}\u0000${record.partition}\u0000${record.offset}`;
      if (kept.has(id)) {
        duplicates += 1;
        return;
      }
      kept.set(id, record);
    } catch (error) {
      if (!(error instanceof MalformedRecord)) throw error;
      dropped += 1;
      if (errors.length < MAX_ERRORS) errors.push({ index, reason: error.message });
    }
  });
  const sorted = [...kept.values()].sort((a, b) =>
    a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition || a.offset - b.offset,
  );
  type MutableSummary = {
    records: number;
    bytes: number;
    partitions: Record<string, { firstOffset: number; lastOffset: number; records: number }>;
  };
  // No prototype: a topic may be named `__proto__` (a legal Kafka topic name).
  const byTopic: Record<string, MutableSummary> = Object.create(null);
  for (const r of sorted) {
    let topic = byTopic[r.topic];
    if (topic === undefined) {
      topic = { records: 0, bytes: 0, partitions: {} };
      byTopic[r.topic] = topic;
    }
    topic.records += 1;
    topic.bytes += r.valueBytes;
    const p = topic.partitions[String(r.partition)];
    if (p === undefined) topic.partitions[String(r.partition)] = { firstOffset: r.offset, lastOffset: r.offset, records: 1 };
    else {
      p.firstOffset = Math.min(p.firstOffset, r.offset);
      p.lastOffset = Math.max(p.lastOffset, r.offset);
      p.records += 1;
    }
  }
  // Keep the result within the task result limit.
  const out: EtlRecord[] = [];
  let size = 2;
  for (const r of sorted) {
    size += Buffer.byteLength(JSON.stringify(r), 'utf8') + 1;
    if (size > RECORDS_BUDGET_BYTES) break;
    out.push(r);
  }
  return {
    processed: sorted.length,
    dropped,
    duplicates,
    records: out,
    byTopic,
    errors,
    ...(out.length < sorted.length ? { omittedRecords: sorted.length - out.length } : {}),
  };
}

/** Lambda entry point: the task payload is the event, the return value the task result. */
export const handler = async (event: EtlEvent | unknown): Promise<EtlResult> => {
  const result = transform(event);
  console.log(
    JSON.stringify({
      message: 'etl batch transformed',
      processed: result.processed,
      dropped: result.dropped,
      duplicates: result.duplicates,
      topics: Object.keys(result.byTopic),
    }),
  );
  return result;
};
