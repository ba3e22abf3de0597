/**
 * `asynctask produce`: records for a Kafka topic of the local runtime, read from the command line
 * or a JSON-lines file, checked before any call, sent to the edge's
 * `POST /_local/kafka/topics/{topic}/records` (the embedded topics, or the cluster `dev
 * --kafka-brokers` reads). Each record's partition is the given one, else murmur2 of its key (as
 * Kafka's default partitioner), else round robin.
 */
import { readFileSync } from 'node:fs';
import { AsyncTaskError, InvalidArgumentError } from '../lambda/model';

export interface ProduceRecordInput {
  readonly key?: string | null;
  readonly partition?: number;
  readonly headers?: [string, string][];
  readonly value: string | null;
}

export interface ProduceResponse {
  readonly topic: string;
  readonly source: string;
  readonly offsets: { partition: number; offset: number }[];
  readonly created: boolean;
  /** The event source mappings that read the topic (`<logical id> → <function>`). */
  readonly readers: string[];
}

/** `--header k=v` → `[k, v]` (the value may contain `=`). */
export function parseHeader(text: string): [string, string] {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new InvalidArgumentError(`--header must be name=value with a non-empty name (given '${text}')`);
  return [text.slice(0, eq), text.slice(eq + 1)];
}

export function parsePartition(text: string, what = '--partition'): number {
  const p = /^\d+$/.test(text.trim()) ? Number(text) : Number.NaN;
  if (!Number.isInteger(p) || p < 0 || p > 9999)
    throw new InvalidArgumentError(`${what} must be an integer from 0 to 9999 (given '${text}')`);
  return p;
}

function recordFrom(raw: unknown, where: string): ProduceRecordInput {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new InvalidArgumentError(
      `${where} must be a JSON object {"key"?, "partition"?, "headers"?, "value"} (given ${JSON.stringify(raw)})`,
    );
  }
  const r = raw as Record<string, unknown>;
  if (!('value' in r)) throw new InvalidArgumentError(`${where} has no "value" (given ${JSON.stringify(raw).slice(0, 200)})`);
  const value = r.value === null || typeof r.value === 'string' ? r.value : JSON.stringify(r.value);
  if (r.key !== undefined && r.key !== null && typeof r.key !== 'string') {
    throw new InvalidArgumentError(`${where}: "key" must be a string or null (given ${JSON.stringify(r.key)})`);
  }
  const partition =
    r.partition === undefined
      ? undefined
      : Number.isInteger(r.partition)
        ? parsePartition(String(r.partition), `${where}: "partition"`)
        : undefined;
  if (r.partition !== undefined && partition === undefined) {
    throw new InvalidArgumentError(`${where}: "partition" must be an integer from 0 to 9999 (given ${JSON.stringify(r.partition)})`);
  }
  let headers: [string, string][] | undefined;
  if (r.headers !== undefined) {
    const pairs = Array.isArray(r.headers) ? r.headers : r.headers && typeof r.headers === 'object' ? Object.entries(r.headers) : null;
    if (!pairs?.every((h) => Array.isArray(h) && h.length === 2 && typeof h[0] === 'string' && typeof h[1] === 'string')) {
      throw new InvalidArgumentError(
        `${where}: "headers" must be {"name": "value", ...} or [["name", "value"], ...] of strings (given ${JSON.stringify(r.headers)})`,
      );
    }
    headers = pairs as [string, string][];
  }
  return {
    ...(r.key !== undefined ? { key: r.key as string | null } : {}),
    ...(partition !== undefined ? { partition } : {}),
    ...(headers ? { headers } : {}),
    value,
  };
}

/** A JSON-lines file (`-` is stdin): one record a line, blank lines skipped; a non-string value is JSON-encoded. */
export function readRecordsFile(file: string): ProduceRecordInput[] {
  let text: string;
  try {
    text = readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (error) {
    throw new InvalidArgumentError(
      `cannot read --file '${file}' (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); give a readable JSON-lines file, or - for stdin`,
    );
  }
  const records: ProduceRecordInput[] = [];
  for (const [i, line] of text.split('\n').entries()) {
    if (line.trim() === '') continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch (error) {
      throw new InvalidArgumentError(`--file '${file}' line ${i + 1} is not JSON (${(error as Error).message}): ${line.slice(0, 100)}`);
    }
    records.push(recordFrom(parsed, `--file '${file}' line ${i + 1}`));
  }
  if (records.length === 0) throw new InvalidArgumentError(`--file '${file}' has no records (one JSON object a line)`);
  return records;
}

/** The records of `produce`'s options: `--file`, or one record of `--value`, `--key`, `--partition`, `--header`. */
export function produceInput(options: {
  value?: string;
  key?: string;
  partition?: string;
  header?: string[];
  file?: string;
}): ProduceRecordInput[] {
  if (options.file !== undefined) {
    if (options.value !== undefined || options.key !== undefined || options.partition !== undefined || (options.header ?? []).length > 0) {
      throw new InvalidArgumentError('--file takes the records from the file; give --value, --key, --partition and --header without it');
    }
    return readRecordsFile(options.file);
  }
  if (options.value === undefined) throw new InvalidArgumentError('produce needs --value V or --file records.jsonl');
  const headers = (options.header ?? []).map(parseHeader);
  return [
    {
      ...(options.key !== undefined ? { key: options.key } : {}),
      ...(options.partition !== undefined ? { partition: parsePartition(options.partition) } : {}),
      ...(headers.length > 0 ? { headers } : {}),
      value: options.value,
    },
  ];
}

/** Sends the records; a 400 (unknown partition, bad record) is an InvalidArgumentError naming it. */
export async function produce(endpoint: string, topic: string, records: readonly ProduceRecordInput[]): Promise<ProduceResponse> {
  const url = `${endpoint.replace(/\/$/, '')}/_local/kafka/topics/${encodeURIComponent(topic)}/records`;
  let response: Response;
  try {
    response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ records }) });
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
    throw new AsyncTaskError(`no local runtime answers at ${endpoint} (${cause}); start one with 'asynctask dev' or give its --endpoint`, {
      cause: error,
    });
  }
  const text = await response.text();
  let body: { message?: string } & Partial<ProduceResponse>;
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    throw new AsyncTaskError(
      `${url} answered ${response.status} with no JSON (is ${endpoint} an asynctask local runtime?): ${text.slice(0, 200)}`,
    );
  }
  if (response.status === 400) throw new InvalidArgumentError(body.message ?? text);
  if (!response.ok) throw new AsyncTaskError(`producing to topic '${topic}' failed (${response.status}): ${body.message ?? text}`);
  return body as ProduceResponse;
}
