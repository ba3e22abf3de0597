/**
 * EventBridge, locally: the stack's rules. Events (PutEvents, the Step Functions status-change
 * events) are matched against each enabled rule's EventPattern and delivered, as the full
 * event envelope, to the rule's targets (Lambda functions, invoked asynchronously; SQS queues
 * and SNS topics through the `deliver` hooks). `rate(...)` schedule rules run on their period from start-up, `cron(...)`
 * ones at the matching minutes (UTC); cron's L, W and # are not supported (start-up note).
 */
import { randomUUID } from 'node:crypto';
import type { LocalRule, LocalRuleTarget } from './template';
import { AwsError, type EventPublisher, type JsonService, type LambdaInvoker, LOCAL_ACCOUNT, LOCAL_REGION, type LocalEvent } from './types';

export interface EventEnvelope {
  version: string;
  id: string;
  'detail-type': string;
  source: string;
  account: string;
  time: string;
  region: string;
  resources: string[];
  detail: Record<string, unknown>;
}

export interface LocalEventsDeps {
  readonly rules: readonly LocalRule[];
  readonly lambda: LambdaInvoker;
  /** Delivery to an SQS queue / SNS topic target by ARN. */
  readonly sendToQueue?: (queueArn: string, body: string) => Promise<void>;
  readonly publishToTopic?: (topicArn: string, body: string) => Promise<void>;
  /** Where delivery failures are reported (default: stderr). */
  readonly warn?: (message: string) => void;
  /** Retry delays of a failed target delivery, ms (default 1000, 2000, 4000; capped by the target's MaximumRetryAttempts). */
  readonly retryDelaysMs?: readonly number[];
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function matchNumeric(ops: unknown[], v: unknown): boolean {
  if (typeof v !== 'number') return false;
  for (let i = 0; i + 1 < ops.length; i += 2) {
    const op = ops[i];
    const n = Number(ops[i + 1]);
    const ok = op === '=' ? v === n : op === '<' ? v < n : op === '<=' ? v <= n : op === '>' ? v > n : op === '>=' ? v >= n : false;
    if (!ok) return false;
  }
  return true;
}

function wildcardRegex(w: string): RegExp {
  return new RegExp(
    `^${w
      .split('*')
      .map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
  );
}

/** One pattern element against one (scalar) event value. */
function matchElement(el: unknown, v: unknown): boolean {
  if (!isPlainObject(el)) return el === v;
  if ('prefix' in el) {
    const p = el.prefix;
    if (isPlainObject(p) && typeof p['equals-ignore-case'] === 'string') {
      return typeof v === 'string' && v.toLowerCase().startsWith(p['equals-ignore-case'].toLowerCase());
    }
    return typeof v === 'string' && v.startsWith(String(p));
  }
  if ('suffix' in el) return typeof v === 'string' && v.endsWith(String(el.suffix));
  if ('equals-ignore-case' in el) return typeof v === 'string' && v.toLowerCase() === String(el['equals-ignore-case']).toLowerCase();
  if ('wildcard' in el) return typeof v === 'string' && wildcardRegex(String(el.wildcard)).test(v);
  if ('numeric' in el) return matchNumeric(el.numeric as unknown[], v);
  if ('anything-but' in el) {
    const ab = el['anything-but'];
    if (Array.isArray(ab)) return v !== undefined && !ab.includes(v);
    if (isPlainObject(ab)) {
      if ('prefix' in ab) return typeof v === 'string' && !v.startsWith(String(ab.prefix));
      if ('suffix' in ab) return typeof v === 'string' && !v.endsWith(String(ab.suffix));
      return true;
    }
    return v !== undefined && v !== ab;
  }
  return false;
}

/** EventBridge content filtering on one field: any element matches any of the event's values. */
function matchField(pattern: unknown, value: unknown): boolean {
  if (isPlainObject(pattern)) {
    if (!isPlainObject(value)) return false;
    return matchPattern(pattern, value);
  }
  if (!Array.isArray(pattern)) return pattern === value;
  for (const el of pattern) {
    if (isPlainObject(el) && 'exists' in el) {
      if (Boolean(el.exists) === (value !== undefined)) return true;
      continue;
    }
    if (value === undefined) continue;
    const values = Array.isArray(value) ? value : [value];
    if (values.some((v) => matchElement(el, v))) return true;
  }
  return false;
}

/** True when `event` matches the EventPattern `pattern`. */
export function matchPattern(pattern: Record<string, unknown>, event: Record<string, unknown>): boolean {
  for (const [key, p] of Object.entries(pattern)) {
    if (key === '$or') {
      if (!(p as Record<string, unknown>[]).some((alt) => matchPattern(alt, event))) return false;
      continue;
    }
    if (!matchField(p, event[key])) return false;
  }
  return true;
}

/** `rate(5 minutes)` → ms; undefined for cron or malformed expressions. */
export function rateMs(expression: string): number | undefined {
  const m = /^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$/.exec(expression.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = m[2].startsWith('minute') ? 60_000 : m[2].startsWith('hour') ? 3_600_000 : 86_400_000;
  return n * unit;
}

const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const DAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

/** One cron field → the set of allowed values; undefined when it uses what is not supported (L, W, #). */
function cronField(field: string, min: number, max: number, names: readonly string[] = [], nameBase = 0): Set<number> | undefined {
  const out = new Set<number>();
  const value = (v: string): number => {
    const i = names.indexOf(v.toUpperCase());
    return i >= 0 ? i + nameBase : Number(v);
  };
  for (const part of field.split(',')) {
    if (/[LW#]/i.test(part.replace(/[A-Z]{3}/gi, (m) => (names.includes(m.toUpperCase()) ? '0' : m)))) return undefined;
    const [range, stepText] = part.split('/');
    const step = stepText === undefined ? 1 : Number(stepText);
    let lo: number;
    let hi: number;
    if (range === '*' || range === '?') {
      lo = min;
      hi = max;
    } else if (range.includes('-')) {
      const [a, b] = range.split('-');
      lo = value(a);
      hi = value(b);
    } else {
      lo = value(range);
      hi = stepText === undefined ? lo : max;
    }
    if (!Number.isInteger(lo) || !Number.isInteger(hi) || !(step > 0) || lo < min || hi > max) return undefined;
    for (let v = lo; v <= hi; v += step) out.add(v);
  }
  return out;
}

/** `cron(min hour day-of-month month day-of-week year)` (UTC) → a matcher of minutes; undefined when unsupported. */
export function cronMatcher(expression: string): ((d: Date) => boolean) | undefined {
  const m = /^cron\((.*)\)$/.exec(expression.trim());
  if (!m) return undefined;
  const f = m[1].trim().split(/\s+/);
  if (f.length !== 6) return undefined;
  const minutes = cronField(f[0], 0, 59);
  const hours = cronField(f[1], 0, 23);
  const dom = cronField(f[2], 1, 31);
  const months = cronField(f[3], 1, 12, MONTHS, 1);
  const dow = cronField(f[4], 1, 7, DAYS, 1);
  const years = cronField(f[5], 1970, 2199);
  if (!minutes || !hours || !dom || !months || !dow || !years) return undefined;
  const domAny = f[2] === '?' || f[2] === '*';
  const dowAny = f[4] === '?' || f[4] === '*';
  return (d) =>
    minutes.has(d.getUTCMinutes()) &&
    hours.has(d.getUTCHours()) &&
    months.has(d.getUTCMonth() + 1) &&
    years.has(d.getUTCFullYear()) &&
    (domAny || dom.has(d.getUTCDate())) &&
    (dowAny || dow.has(d.getUTCDay() + 1));
}

function envelope(e: LocalEvent): EventEnvelope {
  return {
    version: e.version ?? '0',
    id: e.id ?? randomUUID(),
    'detail-type': e['detail-type'],
    source: e.source,
    account: e.account ?? LOCAL_ACCOUNT,
    time: e.time ?? new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    region: e.region ?? LOCAL_REGION,
    resources: [...(e.resources ?? [])],
    detail: e.detail ?? {},
  };
}

function inputFor(target: LocalRuleTarget, event: EventEnvelope): unknown {
  if (target.input !== undefined) {
    try {
      return JSON.parse(target.input);
    } catch {
      return target.input;
    }
  }
  if (target.inputPath) {
    let v: unknown = event;
    for (const part of target.inputPath
      .replace(/^\$\.?/, '')
      .split('.')
      .filter(Boolean)) {
      v = isPlainObject(v) ? v[part] : undefined;
    }
    return v;
  }
  return event;
}

export class LocalEvents implements EventPublisher, JsonService {
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly inflight = new Set<Promise<void>>();
  private closed = false;
  /** Every event published, newest last (tests and tools; capped). */
  public readonly recent: EventEnvelope[] = [];

  public constructor(private readonly deps: LocalEventsDeps) {}

  /** Starts the `rate(...)` schedules. Returns the notes for schedules it cannot run. */
  public startSchedules(options: { scale?: number } = {}): string[] {
    const notes: string[] = [];
    for (const rule of this.deps.rules) {
      if (!rule.scheduleExpression || !rule.enabled) continue;
      const ms = rateMs(rule.scheduleExpression);
      if (ms === undefined) {
        const cron = cronMatcher(rule.scheduleExpression);
        if (!cron) {
          notes.push(
            `rule ${rule.name}: schedule '${rule.scheduleExpression}' is not run locally (rate(...) and cron(...) without L, W or # are)`,
          );
          continue;
        }
        this.startCron(rule, cron);
        continue;
      }
      const t = setInterval(() => this.fireSchedule(rule), Math.max(10, ms * (options.scale ?? 1)));
      t.unref();
      this.timers.push(t);
    }
    return notes;
  }

  /** Checks a cron rule at the start of every minute (UTC). */
  private startCron(rule: LocalRule, matches: (d: Date) => boolean): void {
    const arm = () => {
      const now = Date.now();
      const t = setTimeout(
        () => {
          if (this.closed) return;
          const at = new Date(Math.round(Date.now() / 60_000) * 60_000);
          if (matches(at)) void this.fireSchedule(rule);
          arm();
        },
        60_000 - (now % 60_000),
      );
      t.unref();
      this.timers.push(t);
    };
    arm();
  }

  /** Runs a schedule rule's targets now (also what its timer does). */
  public fireSchedule(rule: LocalRule): Promise<void> {
    const event = envelope({ source: 'aws.events', 'detail-type': 'Scheduled Event', detail: {}, resources: [rule.arn] });
    return this.track(Promise.all(rule.targets.map((t) => this.deliver(rule, t, event))).then(() => undefined));
  }

  public async publish(event: LocalEvent, eventBusName = 'default'): Promise<void> {
    this.dispatch(event, eventBusName);
  }

  /**
   * `publish`, resolving once every matching target's delivery has ended (retries included):
   * the Step Functions emulation marks an execution's status-change event delivered only then,
   * and publishes it again after a restart otherwise.
   */
  public async publishAndWait(event: LocalEvent, eventBusName = 'default'): Promise<void> {
    await Promise.all(this.dispatch(event, eventBusName));
  }

  private dispatch(event: LocalEvent, eventBusName: string): Promise<void>[] {
    const deliveries: Promise<void>[] = [];
    if (this.closed) return deliveries;
    const env = envelope(event);
    this.recent.push(env);
    if (this.recent.length > 1000) this.recent.shift();
    const bus = eventBusName.includes(':event-bus/') ? eventBusName.slice(eventBusName.indexOf(':event-bus/') + 11) : eventBusName;
    for (const rule of this.deps.rules) {
      if (!rule.enabled || !rule.eventPattern || rule.eventBusName !== bus) continue;
      if (!matchPattern(rule.eventPattern, env as unknown as Record<string, unknown>)) continue;
      for (const target of rule.targets) deliveries.push(this.track(this.deliver(rule, target, env)));
    }
    return deliveries;
  }

  private track(p: Promise<void>): Promise<void> {
    const q = p.finally(() => this.inflight.delete(q));
    this.inflight.add(q);
    return q;
  }

  /** Resolves when every delivery in flight has ended (tests). */
  public async idle(): Promise<void> {
    while (this.inflight.size > 0) await Promise.all([...this.inflight]);
  }

  private async deliver(rule: LocalRule, target: LocalRuleTarget, event: EventEnvelope): Promise<void> {
    const input = inputFor(target, event);
    const delays = this.deps.retryDelaysMs ?? [1000, 2000, 4000];
    const attempts = 1 + Math.min(target.maximumRetryAttempts ?? delays.length, delays.length);
    let lastError = '';
    for (let i = 0; i < attempts; i++) {
      if (this.closed) return;
      if (i > 0) await new Promise((r) => setTimeout(r, delays[i - 1]));
      try {
        const service = target.arn.split(':')[2];
        if (service === 'lambda') {
          // As on AWS, EventBridge invokes a Lambda target asynchronously: Lambda's queue (the
          // local runtime's journal) retries a function error under the same request id and
          // runs the invocation again after a restart.
          const result = await this.deps.lambda.invoke(target.arn, input, 'Event');
          if (!result.functionError) return;
          lastError = `function error ${JSON.stringify(result.payload)}`;
        } else if (service === 'sqs' && this.deps.sendToQueue) {
          await this.deps.sendToQueue(target.arn, JSON.stringify(input));
          return;
        } else if (service === 'sns' && this.deps.publishToTopic) {
          await this.deps.publishToTopic(target.arn, JSON.stringify(input));
          return;
        } else {
          this.warn(`rule ${rule.name}: target ${target.arn} is not supported by the local runtime; event ${event.id} dropped`);
          return;
        }
      } catch (error) {
        lastError = `${(error as Error).name}: ${(error as Error).message}`;
      }
    }
    if (!this.closed)
      this.warn(`rule ${rule.name}: delivery of event ${event.id} to ${target.arn} failed after ${attempts} attempt(s): ${lastError}`);
  }

  private warn(message: string): void {
    (this.deps.warn ?? ((m: string) => process.stderr.write(`asynctask dev: ${m}\n`)))(message);
  }

  public async handle(operation: string, body: Record<string, unknown>): Promise<unknown> {
    if (operation !== 'PutEvents') {
      throw new AwsError(
        'UnsupportedOperation',
        `the local runtime does not serve EventBridge operation '${operation}' (it serves PutEvents)`,
      );
    }
    const entries = body.Entries;
    if (!Array.isArray(entries) || entries.length === 0 || entries.length > 10) {
      throw new AwsError('ValidationException', 'Entries must hold 1 to 10 entries');
    }
    let failed = 0;
    const out: Record<string, unknown>[] = [];
    for (const e of entries as Record<string, unknown>[]) {
      let detail: unknown;
      try {
        detail = JSON.parse(String(e.Detail ?? ''));
      } catch {
        detail = undefined;
      }
      if (typeof e.Source !== 'string' || typeof e.DetailType !== 'string') {
        failed++;
        out.push({ ErrorCode: 'InvalidArgument', ErrorMessage: 'Parameters Source and DetailType are required.' });
        continue;
      }
      if (!isPlainObject(detail)) {
        failed++;
        out.push({ ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' });
        continue;
      }
      const id = randomUUID();
      await this.publish(
        {
          id,
          source: e.Source,
          'detail-type': e.DetailType,
          detail,
          resources: Array.isArray(e.Resources) ? (e.Resources as string[]) : [],
          ...(e.Time !== undefined ? { time: new Date(typeof e.Time === 'number' ? e.Time * 1000 : String(e.Time)).toISOString() } : {}),
        },
        typeof e.EventBusName === 'string' ? e.EventBusName : 'default',
      );
      out.push({ EventId: id });
    }
    return { FailedEntryCount: failed, Entries: out };
  }

  public async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
  }
}
