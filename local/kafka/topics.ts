/**
 * The embedded Kafka of the local runtime: topics of N partitions, each an append-only log of
 * records with offsets, timestamps, keys and headers, and the consumer groups' committed offsets.
 * With a data dir every produced record and every commit is appended to a file before the call
 * returns (the SQS journal's standard: a `kill -9` loses nothing acknowledged), and loaded again
 * at start. Without one it lives in memory.
 *
 * Files under `<dir>`: `topics/<topic>/meta.json` (`{partitions}`), `topics/<topic>/<partition>.log`
 * (one JSON record a line: `{o, t, k, v, h}`, key and value base64, headers `[[name, base64]]`)
 * and `commits.log` (one `{g, t, p, o}` a line, the last per group/topic/partition wins; compacted at start).
 */
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { murmur2Partition } from './partitioner';

/** One record of a partition's log. */
export interface KafkaLogRecord {
  readonly offset: number;
  /** Epoch ms (CREATE_TIME). */
  readonly timestamp: number;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: readonly (readonly [string, Buffer])[];
}

/** A record to append: partition chosen by the caller, else by key hash, else round robin. */
export interface ProduceRecord {
  readonly key?: Buffer | null;
  readonly value: Buffer | null;
  readonly partition?: number;
  readonly headers?: readonly (readonly [string, Buffer])[];
  readonly timestamp?: number;
}

export const TOPIC_NAME_RULE = '1-249 characters of letters, digits, ".", "_" and "-", not "." or ".."';
export const DEFAULT_PARTITIONS = 3;

/** A bad topic name, partition or record: what was wrong, the value, what is allowed. */
export class KafkaInputError extends Error {
  public override name = 'KafkaInputError';
}

/** The Kafka cluster given with `--kafka-brokers` cannot be reached. */
export class KafkaUnavailableError extends Error {
  public override name = 'KafkaUnavailableError';
}

export function validateTopicName(topic: string): void {
  if (!/^[A-Za-z0-9._-]{1,249}$/.test(topic) || topic === '.' || topic === '..') {
    throw new KafkaInputError(`invalid topic name '${topic}': a topic name is ${TOPIC_NAME_RULE}`);
  }
}

interface Partition {
  readonly records: KafkaLogRecord[];
  /** Called when records are appended (pollers waiting for data). */
  waiters: (() => void)[];
}

interface Topic {
  readonly name: string;
  readonly partitions: Partition[];
  /** Round-robin cursor for records without key or partition. */
  next: number;
}

function encodeRecord(r: KafkaLogRecord): string {
  return `${JSON.stringify({
    o: r.offset,
    t: r.timestamp,
    k: r.key === null ? null : r.key.toString('base64'),
    v: r.value === null ? null : r.value.toString('base64'),
    h: r.headers.map(([k, v]) => [k, v.toString('base64')]),
  })}\n`;
}

function decodeRecord(j: { o: number; t: number; k: string | null; v: string | null; h: [string, string][] }): KafkaLogRecord {
  return {
    offset: j.o,
    timestamp: j.t,
    key: j.k === null ? null : Buffer.from(j.k, 'base64'),
    value: j.v === null ? null : Buffer.from(j.v, 'base64'),
    headers: j.h.map(([k, v]) => [k, Buffer.from(v, 'base64')] as const),
  };
}

/** The complete JSON lines of a file, and whether a torn last line (a write cut by a crash) was left out. */
function readLines(file: string): { lines: string[]; torn: boolean } {
  if (!existsSync(file)) return { lines: [], torn: false };
  const text = readFileSync(file, 'utf8');
  const lines = text.split('\n');
  const torn = lines[lines.length - 1] !== '';
  return { lines: lines.slice(0, -1).filter((l) => l.trim() !== ''), torn };
}

function parseLine<T>(file: string, i: number, line: string): T {
  try {
    return JSON.parse(line) as T;
  } catch (error) {
    throw new Error(
      `${file} line ${i + 1} is not a JSON record (${(error as Error).message}); the embedded Kafka's files were changed by hand`,
    );
  }
}

export class EmbeddedTopics {
  private readonly topics = new Map<string, Topic>();
  /** `group\0topic\0partition` → next offset to read. */
  private readonly commits = new Map<string, number>();

  public constructor(
    private readonly options: {
      /** Where topics and commits are kept; default: in memory. */
      readonly dir?: string;
      /** Partitions of a topic created here (default 3). */
      readonly partitions?: number;
    } = {},
  ) {
    if (options.dir) this.load(options.dir);
  }

  public get defaultPartitions(): number {
    return this.options.partitions ?? DEFAULT_PARTITIONS;
  }

  /** The topics, by name, with their partition counts. */
  public list(): { topic: string; partitions: number }[] {
    return [...this.topics.values()]
      .map((t) => ({ topic: t.name, partitions: t.partitions.length }))
      .sort((a, b) => a.topic.localeCompare(b.topic));
  }

  public has(topic: string): boolean {
    return this.topics.has(topic);
  }

  /** Creates the topic (with the default partition count) unless it exists; true when it was created. */
  public ensure(topic: string, partitions = this.defaultPartitions): boolean {
    validateTopicName(topic);
    if (this.topics.has(topic)) return false;
    if (!Number.isInteger(partitions) || partitions < 1 || partitions > 1000) {
      throw new KafkaInputError(`partitions of topic '${topic}' must be an integer between 1 and 1000 inclusive (given ${partitions})`);
    }
    if (this.options.dir) {
      const dir = path.join(this.options.dir, 'topics', topic);
      mkdirSync(dir, { recursive: true });
      const meta = path.join(dir, 'meta.json');
      writeFileSync(`${meta}.tmp`, JSON.stringify({ partitions }));
      renameSync(`${meta}.tmp`, meta);
    }
    this.topics.set(topic, { name: topic, partitions: Array.from({ length: partitions }, () => ({ records: [], waiters: [] })), next: 0 });
    return true;
  }

  public partitions(topic: string): number {
    return this.topic(topic).partitions.length;
  }

  /**
   * Appends records to a topic (created if missing) and returns where each went. On disk before
   * it returns. All records are checked before any is written: one bad record writes none.
   */
  public produce(topic: string, records: readonly ProduceRecord[]): { partition: number; offset: number; timestamp: number }[] {
    this.ensure(topic);
    const t = this.topic(topic);
    const count = t.partitions.length;
    for (const [i, r] of records.entries()) {
      if (r.partition !== undefined && (!Number.isInteger(r.partition) || r.partition < 0 || r.partition >= count)) {
        throw new KafkaInputError(
          `record ${i + 1}: partition ${r.partition} does not exist in topic '${topic}'; its partitions are 0-${count - 1}`,
        );
      }
    }
    const out: { partition: number; offset: number; timestamp: number }[] = [];
    const touched = new Set<number>();
    const lines = new Map<number, string[]>();
    for (const r of records) {
      const partition = r.partition ?? (r.key !== undefined && r.key !== null ? murmur2Partition(r.key, count) : t.next++ % count);
      const p = t.partitions[partition];
      const record: KafkaLogRecord = {
        offset: p.records.length,
        timestamp: r.timestamp ?? Date.now(),
        key: r.key ?? null,
        value: r.value,
        headers: r.headers ?? [],
      };
      p.records.push(record);
      touched.add(partition);
      if (this.options.dir) lines.set(partition, [...(lines.get(partition) ?? []), encodeRecord(record)]);
      out.push({ partition, offset: record.offset, timestamp: record.timestamp });
    }
    if (this.options.dir) {
      for (const [partition, l] of lines) appendFileSync(this.logFile(topic, partition), l.join(''));
    }
    for (const partition of touched) {
      const p = t.partitions[partition];
      for (const w of p.waiters.splice(0)) w();
    }
    return out;
  }

  /** Offset after the last record of a partition (the high watermark). */
  public endOffset(topic: string, partition: number): number {
    return this.partition(topic, partition).records.length;
  }

  /** The first offset whose record's timestamp is at or after `timestampMs`, else the end offset. */
  public offsetForTimestamp(topic: string, partition: number, timestampMs: number): number {
    const records = this.partition(topic, partition).records;
    const i = records.findIndex((r) => r.timestamp >= timestampMs);
    return i < 0 ? records.length : records[i].offset;
  }

  /** Records of a partition from `offset`, at most `max` and about `maxBytes` (at least one). */
  public read(topic: string, partition: number, offset: number, max: number, maxBytes = Number.POSITIVE_INFINITY): KafkaLogRecord[] {
    const records = this.partition(topic, partition).records;
    const out: KafkaLogRecord[] = [];
    let bytes = 0;
    for (let i = Math.max(0, offset); i < records.length && out.length < max; i++) {
      const r = records[i];
      const size = (r.key?.length ?? 0) + (r.value?.length ?? 0) + r.headers.reduce((s, [k, v]) => s + k.length + v.length, 0);
      if (out.length > 0 && bytes + size > maxBytes) break;
      bytes += size;
      out.push(r);
    }
    return out;
  }

  /** Resolves when the partition has a record at `offset` or after `timeoutMs`, or when `signal` aborts. */
  public waitFor(topic: string, partition: number, offset: number, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    const p = this.partition(topic, partition);
    if (p.records.length > offset || timeoutMs <= 0 || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        p.waiters = p.waiters.filter((w) => w !== done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      signal?.addEventListener('abort', done);
      p.waiters.push(done);
    });
  }

  /** The next offset `group` reads in a partition, if it committed one. */
  public committed(group: string, topic: string, partition: number): number | undefined {
    return this.commits.get(`${group}\0${topic}\0${partition}`);
  }

  /** Commits `offset` (the next to read) for `group`; on disk before it returns. */
  public commit(group: string, topic: string, partition: number, offset: number): void {
    this.partition(topic, partition);
    if (this.options.dir) {
      appendFileSync(path.join(this.options.dir, 'commits.log'), `${JSON.stringify({ g: group, t: topic, p: partition, o: offset })}\n`);
    }
    this.commits.set(`${group}\0${topic}\0${partition}`, offset);
  }

  private topic(topic: string): Topic {
    const t = this.topics.get(topic);
    if (!t) {
      const known = this.list().map((x) => x.topic);
      throw new KafkaInputError(`topic '${topic}' does not exist; the topics are ${known.length > 0 ? known.join(', ') : '(none)'}`);
    }
    return t;
  }

  private partition(topic: string, partition: number): Partition {
    const t = this.topic(topic);
    const p = t.partitions[partition];
    if (!p) {
      throw new KafkaInputError(
        `partition ${partition} does not exist in topic '${topic}'; its partitions are 0-${t.partitions.length - 1}`,
      );
    }
    return p;
  }

  private logFile(topic: string, partition: number): string {
    return path.join(this.options.dir ?? '', 'topics', topic, `${partition}.log`);
  }

  private load(dir: string): void {
    mkdirSync(path.join(dir, 'topics'), { recursive: true });
    for (const name of readdirSync(path.join(dir, 'topics'))) {
      const meta = path.join(dir, 'topics', name, 'meta.json');
      if (!existsSync(meta)) continue;
      const { partitions } = JSON.parse(readFileSync(meta, 'utf8')) as { partitions: number };
      const topic: Topic = { name, partitions: [], next: 0 };
      for (let i = 0; i < partitions; i++) {
        const file = path.join(dir, 'topics', name, `${i}.log`);
        const { lines, torn } = readLines(file);
        const records = lines.map((l, n) => decodeRecord(parseLine(file, n, l)));
        // A torn tail was never acknowledged: cut off, so the next append starts on a line of its own.
        if (torn) writeFileSync(file, records.map(encodeRecord).join(''));
        topic.partitions.push({ records, waiters: [] });
      }
      this.topics.set(name, topic);
    }
    const commitsFile = path.join(dir, 'commits.log');
    for (const [n, line] of readLines(commitsFile).lines.entries()) {
      const c = parseLine<{ g: string; t: string; p: number; o: number }>(commitsFile, n, line);
      this.commits.set(`${c.g}\0${c.t}\0${c.p}`, c.o);
    }
    // Compacted: one line per group/topic/partition.
    const compact = [...this.commits].map(([k, o]) => {
      const [g, t, p] = k.split('\0');
      return `${JSON.stringify({ g, t, p: Number(p), o })}\n`;
    });
    writeFileSync(`${commitsFile}.tmp`, compact.join(''));
    renameSync(`${commitsFile}.tmp`, commitsFile);
  }
}
