/**
 * CloudWatch Logs, locally: every stream is a file of JSON lines (`{t, m}`) under
 * `<dir>/<encoded group>/<encoded stream>.log`, kept in memory too. Serves the Logs JSON API
 * reads (FilterLogEvents, GetLogEvents, DescribeLogStreams, DescribeLogGroups) and the writes
 * a process may use (CreateLogGroup, CreateLogStream, PutLogEvents).
 */
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { AwsError, type JsonService, LOCAL_ACCOUNT, LOCAL_REGION, type LogSink } from './types';

interface StoredEvent {
  readonly timestamp: number;
  readonly ingestionTime: number;
  readonly message: string;
}

interface Stream {
  readonly name: string;
  readonly creationTime: number;
  readonly events: StoredEvent[];
}

const enc = (s: string) => encodeURIComponent(s);
const dec = (s: string) => decodeURIComponent(s);

/** CloudWatch Logs filter pattern, the term subset: `a b` (all), `"a b"` (phrase), `?a ?b` (any), `-a` (none). JSON/space-delimited patterns match all. */
export function matchesFilterPattern(pattern: string | undefined, message: string): boolean {
  if (!pattern || pattern.trim() === '') return true;
  const p = pattern.trim();
  if (p.startsWith('{') || p.startsWith('[')) return true;
  const terms = p.match(/[?-]?"[^"]*"|\S+/g) ?? [];
  const all: string[] = [];
  const any: string[] = [];
  const none: string[] = [];
  for (const raw of terms) {
    let t = raw;
    let list = all;
    if (t.startsWith('?')) {
      list = any;
      t = t.slice(1);
    } else if (t.startsWith('-')) {
      list = none;
      t = t.slice(1);
    }
    if (t.startsWith('"') && t.endsWith('"') && t.length >= 2) t = t.slice(1, -1);
    if (t !== '') list.push(t);
  }
  if (all.some((t) => !message.includes(t))) return false;
  if (none.some((t) => message.includes(t))) return false;
  if (any.length > 0 && !any.some((t) => message.includes(t))) return false;
  return true;
}

export class LocalLogs implements LogSink, JsonService {
  private readonly groups = new Map<string, Map<string, Stream>>();
  private readonly groupCreated = new Map<string, number>();
  /** Open stream files by path (append mode). */
  private readonly files = new Map<string, number>();

  /** `dir`: where stream files go (created); existing files are loaded (restart with a data dir). */
  public constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true });
    this.load();
  }

  private load(): void {
    for (const g of readdirSync(this.dir, { withFileTypes: true })) {
      if (!g.isDirectory()) continue;
      const groupName = dec(g.name);
      const streams = this.group(groupName, true);
      for (const f of readdirSync(path.join(this.dir, g.name))) {
        if (!f.endsWith('.log')) continue;
        const events: StoredEvent[] = [];
        for (const line of readFileSync(path.join(this.dir, g.name, f), 'utf8').split('\n')) {
          if (!line) continue;
          try {
            const e = JSON.parse(line) as { t: number; i?: number; m: string };
            events.push({ timestamp: e.t, ingestionTime: e.i ?? e.t, message: e.m });
          } catch {
            // a torn last line after a crash
          }
        }
        const name = dec(f.slice(0, -4));
        streams.set(name, { name, creationTime: events[0]?.ingestionTime ?? Date.now(), events });
      }
    }
  }

  private group(name: string, create: boolean): Map<string, Stream> {
    let g = this.groups.get(name);
    if (!g && create) {
      g = new Map();
      this.groups.set(name, g);
      this.groupCreated.set(name, Date.now());
      mkdirSync(path.join(this.dir, enc(name)), { recursive: true });
    }
    if (!g) throw new AwsError('ResourceNotFoundException', 'The specified log group does not exist.');
    return g;
  }

  /** Declares a log group (from the template) so reads of a still-empty group succeed. */
  public createGroup(name: string): void {
    this.group(name, true);
  }

  public append(logGroupName: string, logStreamName: string, lines: readonly string[], timestamp = Date.now()): void {
    if (lines.length === 0) return;
    const g = this.group(logGroupName, true);
    let s = g.get(logStreamName);
    if (!s) {
      s = { name: logStreamName, creationTime: Date.now(), events: [] };
      g.set(logStreamName, s);
    }
    const now = Date.now();
    let text = '';
    for (const line of lines) {
      const e = { timestamp, ingestionTime: now, message: line };
      s.events.push(e);
      text += `${JSON.stringify({ t: timestamp, i: now, m: line })}\n`;
    }
    const file = path.join(this.dir, enc(logGroupName), `${enc(logStreamName)}.log`);
    // One descriptor per stream file, opened once (append mode): the same write as appendFileSync, without an open and close per call.
    let fd = this.files.get(file);
    if (fd === undefined) {
      fd = openSync(file, 'a');
      this.files.set(file, fd);
    }
    const bytes = Buffer.from(text);
    for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off);
  }

  /** Closes the stream files (the runtime's stop); a later append opens them again. */
  public close(): void {
    for (const fd of this.files.values()) {
      try {
        closeSync(fd);
      } catch {
        // already closed
      }
    }
    this.files.clear();
  }

  /** Events of one stream (tests and tools). */
  public events(logGroupName: string, logStreamName: string): readonly StoredEvent[] {
    return this.groups.get(logGroupName)?.get(logStreamName)?.events ?? [];
  }

  public streamNames(logGroupName: string): string[] {
    return [...(this.groups.get(logGroupName)?.keys() ?? [])];
  }

  public async handle(operation: string, body: Record<string, unknown>): Promise<unknown> {
    switch (operation) {
      case 'FilterLogEvents':
        return this.filterLogEvents(body);
      case 'GetLogEvents':
        return this.getLogEvents(body);
      case 'DescribeLogStreams':
        return this.describeLogStreams(body);
      case 'DescribeLogGroups':
        return this.describeLogGroups(body);
      case 'CreateLogGroup': {
        const name = required(body, 'logGroupName');
        if (this.groups.has(name)) throw new AwsError('ResourceAlreadyExistsException', 'The specified log group already exists');
        this.group(name, true);
        return {};
      }
      case 'CreateLogStream': {
        const g = this.group(required(body, 'logGroupName'), false);
        const name = required(body, 'logStreamName');
        if (g.has(name)) throw new AwsError('ResourceAlreadyExistsException', 'The specified log stream already exists');
        g.set(name, { name, creationTime: Date.now(), events: [] });
        return {};
      }
      case 'PutLogEvents': {
        const group = required(body, 'logGroupName');
        const stream = required(body, 'logStreamName');
        const g = this.group(group, false);
        if (!g.has(stream)) throw new AwsError('ResourceNotFoundException', 'The specified log stream does not exist.');
        for (const e of (body.logEvents as { timestamp: number; message: string }[]) ?? []) {
          this.append(group, stream, [e.message], e.timestamp);
        }
        return { nextSequenceToken: String(Date.now()) };
      }
      default:
        throw new AwsError(
          'UnsupportedOperation',
          `the local runtime does not serve CloudWatch Logs operation '${operation}' (it serves FilterLogEvents, GetLogEvents, DescribeLogStreams, DescribeLogGroups, CreateLogGroup, CreateLogStream, PutLogEvents)`,
        );
    }
  }

  private filterLogEvents(body: Record<string, unknown>): unknown {
    const groupName = (body.logGroupName as string | undefined) ?? groupFromIdentifier(body.logGroupIdentifier);
    if (!groupName) throw new AwsError('InvalidParameterException', 'logGroupName is required');
    const g = this.group(groupName, false);
    const names = body.logStreamNames as string[] | undefined;
    const prefix = body.logStreamNamePrefix as string | undefined;
    const start = typeof body.startTime === 'number' ? body.startTime : Number.NEGATIVE_INFINITY;
    const end = typeof body.endTime === 'number' ? body.endTime : Number.POSITIVE_INFINITY;
    const pattern = body.filterPattern as string | undefined;
    const limit = clampLimit(body.limit, 10_000);
    const all: { logStreamName: string; timestamp: number; message: string; ingestionTime: number; eventId: string }[] = [];
    for (const s of g.values()) {
      if (names && !names.includes(s.name)) continue;
      if (prefix && !s.name.startsWith(prefix)) continue;
      s.events.forEach((e, i) => {
        if (e.timestamp < start || e.timestamp > end) return;
        if (!matchesFilterPattern(pattern, e.message)) return;
        all.push({
          logStreamName: s.name,
          timestamp: e.timestamp,
          message: e.message,
          ingestionTime: e.ingestionTime,
          eventId: `${s.name}/${i}`,
        });
      });
    }
    all.sort((a, b) => a.timestamp - b.timestamp || a.ingestionTime - b.ingestionTime);
    const offset = decodeToken(body.nextToken);
    const page = all.slice(offset, offset + limit);
    const next = offset + page.length;
    return {
      events: page,
      searchedLogStreams: [],
      ...(next < all.length ? { nextToken: encodeToken(next) } : {}),
    };
  }

  private getLogEvents(body: Record<string, unknown>): unknown {
    const groupName = (body.logGroupName as string | undefined) ?? groupFromIdentifier(body.logGroupIdentifier);
    if (!groupName) throw new AwsError('InvalidParameterException', 'logGroupName is required');
    const s = this.group(groupName, false).get(required(body, 'logStreamName'));
    if (!s) throw new AwsError('ResourceNotFoundException', 'The specified log stream does not exist.');
    const start = typeof body.startTime === 'number' ? body.startTime : Number.NEGATIVE_INFINITY;
    const end = typeof body.endTime === 'number' ? body.endTime : Number.POSITIVE_INFINITY;
    const events = s.events.filter((e) => e.timestamp >= start && e.timestamp < end);
    const limit = clampLimit(body.limit, 10_000);
    const token = typeof body.nextToken === 'string' ? body.nextToken : undefined;
    let from: number;
    let to: number;
    if (token?.startsWith('f/')) {
      from = Number(token.slice(2));
      to = Math.min(events.length, from + limit);
    } else if (token?.startsWith('b/')) {
      to = Number(token.slice(2));
      from = Math.max(0, to - limit);
    } else if (body.startFromHead === true) {
      from = 0;
      to = Math.min(events.length, limit);
    } else {
      to = events.length;
      from = Math.max(0, to - limit);
    }
    if (!Number.isFinite(from) || !Number.isFinite(to))
      throw new AwsError('InvalidParameterException', 'The specified nextToken is invalid.');
    return {
      events: events.slice(from, to).map((e) => ({ timestamp: e.timestamp, message: e.message, ingestionTime: e.ingestionTime })),
      nextForwardToken: `f/${String(to).padStart(20, '0')}`,
      nextBackwardToken: `b/${String(from).padStart(20, '0')}`,
    };
  }

  private describeLogStreams(body: Record<string, unknown>): unknown {
    const groupName = (body.logGroupName as string | undefined) ?? groupFromIdentifier(body.logGroupIdentifier);
    if (!groupName) throw new AwsError('InvalidParameterException', 'logGroupName is required');
    const g = this.group(groupName, false);
    const prefix = body.logStreamNamePrefix as string | undefined;
    let streams = [...g.values()].filter((s) => !prefix || s.name.startsWith(prefix));
    if (body.orderBy === 'LastEventTime') {
      streams.sort((a, b) => (a.events.at(-1)?.timestamp ?? 0) - (b.events.at(-1)?.timestamp ?? 0));
    } else {
      streams.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    }
    if (body.descending === true) streams = streams.reverse();
    const offset = decodeToken(body.nextToken);
    const limit = clampLimit(body.limit, 50);
    const page = streams.slice(offset, offset + limit);
    return {
      logStreams: page.map((s) => ({
        logStreamName: s.name,
        creationTime: s.creationTime,
        ...(s.events.length > 0
          ? {
              firstEventTimestamp: s.events[0].timestamp,
              lastEventTimestamp: s.events.at(-1)?.timestamp,
              lastIngestionTime: s.events.at(-1)?.ingestionTime,
            }
          : {}),
        arn: `arn:aws:logs:${LOCAL_REGION}:${LOCAL_ACCOUNT}:log-group:${groupName}:log-stream:${s.name}`,
        storedBytes: 0,
      })),
      ...(offset + page.length < streams.length ? { nextToken: encodeToken(offset + page.length) } : {}),
    };
  }

  private describeLogGroups(body: Record<string, unknown>): unknown {
    const prefix = body.logGroupNamePrefix as string | undefined;
    const names = [...this.groups.keys()].filter((n) => !prefix || n.startsWith(prefix)).sort();
    return {
      logGroups: names.map((n) => ({
        logGroupName: n,
        creationTime: this.groupCreated.get(n),
        arn: `arn:aws:logs:${LOCAL_REGION}:${LOCAL_ACCOUNT}:log-group:${n}:*`,
        storedBytes: 0,
      })),
    };
  }
}

function required(body: Record<string, unknown>, name: string): string {
  const v = body[name];
  if (typeof v !== 'string' || v === '') throw new AwsError('InvalidParameterException', `${name} is required`);
  return v;
}

function groupFromIdentifier(id: unknown): string | undefined {
  if (typeof id !== 'string') return undefined;
  const m = /:log-group:([^:]+)/.exec(id);
  return m ? m[1] : id;
}

function clampLimit(v: unknown, max: number): number {
  return typeof v === 'number' && v > 0 ? Math.min(v, max) : max;
}

function encodeToken(offset: number): string {
  return Buffer.from(JSON.stringify({ o: offset })).toString('base64url');
}

function decodeToken(token: unknown): number {
  if (typeof token !== 'string' || token === '') return 0;
  try {
    const o = (JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { o?: unknown }).o;
    if (typeof o === 'number' && o >= 0) return o;
  } catch {
    // fall through
  }
  throw new AwsError('InvalidParameterException', 'The specified nextToken is invalid.');
}

/** True when `dir` holds stream files from an earlier run. */
export function hasLogs(dir: string): boolean {
  return existsSync(dir) && readdirSync(dir).length > 0;
}
