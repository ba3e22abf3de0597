/**
 * The tasks page's filters, kept in the URL so a view can be shared and reloaded:
 * `?status=Failed&status=Stopped&since=…&until=…&window=1h&prefix=…&order=asc&limit=50&next=…`.
 * Parsed here into the SDK's list request, every value checked with the task model's own rules
 * (parseStatuses, validateListRequest) so a bad one is named with what is allowed.
 */
import type { ListOptions } from '../client/client';
import { parseTimeExpression, TIME_EXPRESSION_RULE } from '../client/time';
import { InvalidArgumentError, LIST_LIMIT, type SortOrder, type TaskStatus, parseStatuses, validateListRequest } from '../lambda/model';

/** Relative windows offered by the pages (`?window=`). */
export const WINDOWS = { '1h': 3_600_000, '24h': 86_400_000, '7d': 604_800_000 } as const;
export type WindowName = keyof typeof WINDOWS;
export const DEFAULT_WINDOW: WindowName = '24h';

export function isWindow(value: unknown): value is WindowName {
  return typeof value === 'string' && Object.hasOwn(WINDOWS, value);
}

/** `?window=` of the functions page: one of WINDOWS, default 24h. */
export function parseWindow(value: string | undefined): WindowName {
  if (value === undefined || value === '') return DEFAULT_WINDOW;
  if (!isWindow(value)) {
    throw new InvalidArgumentError(`window '${value}' is not one of ${Object.keys(WINDOWS).join(', ')}`, { details: { window: value } });
  }
  return value;
}

/** The filters as given in the URL (what the form shows back). */
export interface TaskFilterValues {
  readonly status: readonly TaskStatus[];
  readonly since: string;
  readonly until: string;
  readonly window: WindowName | '';
  readonly prefix: string;
  readonly order: SortOrder;
  readonly limit: number;
  readonly next: string;
}

export interface TaskFilters {
  readonly values: TaskFilterValues;
  /** What goes to `client.list`. */
  readonly list: ListOptions;
}

/** The query as hono gives it: every value of a key. */
export type Query = Readonly<Record<string, readonly string[] | undefined>>;

function one(query: Query, key: string): string {
  const values = query[key] ?? [];
  if (values.length > 1) {
    throw new InvalidArgumentError(`${key} is given ${values.length} times (${values.map((v) => `'${v}'`).join(', ')}); give it once`);
  }
  return (values[0] ?? '').trim();
}

// A `datetime-local` value (`2026-11-25T12:00`, optional seconds) has no zone: read it as UTC,
// as every time the console shows is UTC.
const DATETIME_LOCAL = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?$/;

/** Epoch ms of a `since`/`until` value: ISO-8601, a `datetime-local` value (UTC), or a duration before now (`2h`). */
export function parseConsoleTime(text: string, what: string, now: number): number {
  const value = text.trim();
  if (DATETIME_LOCAL.test(value)) {
    const ms = Date.parse(`${value.replace(' ', 'T')}Z`);
    if (!Number.isNaN(ms)) return ms;
  }
  try {
    return parseTimeExpression(value, what, now);
  } catch {
    throw new InvalidArgumentError(`${what} '${text}' is not a time; use ${TIME_EXPRESSION_RULE}; a time without a zone is UTC`, {
      details: { [what]: text },
    });
  }
}

/** The URL's filters → the list request; throws InvalidArgumentError naming the bad value. */
export function parseTaskFilters(functionName: string, query: Query, now: number): TaskFilters {
  const statusValues = (query.status ?? []).flatMap((s) => s.split(',')).filter((s) => s.trim() !== '');
  const status = statusValues.length > 0 ? parseStatuses(statusValues) : [];
  const since = one(query, 'since');
  const until = one(query, 'until');
  const windowText = one(query, 'window');
  const prefix = one(query, 'prefix');
  const orderText = one(query, 'order');
  const limitText = one(query, 'limit');
  const next = one(query, 'next');

  if (windowText !== '' && !isWindow(windowText)) {
    throw new InvalidArgumentError(`window '${windowText}' is not one of ${Object.keys(WINDOWS).join(', ')}`);
  }
  if (orderText !== '' && orderText !== 'asc' && orderText !== 'desc') {
    throw new InvalidArgumentError(`order must be 'asc' or 'desc' (given '${orderText}')`);
  }
  let limit: number = LIST_LIMIT.default;
  if (limitText !== '') {
    limit = /^\d+$/.test(limitText) ? Number(limitText) : Number.NaN;
    if (!Number.isInteger(limit) || limit < LIST_LIMIT.min || limit > LIST_LIMIT.max) {
      throw new InvalidArgumentError(
        `limit must be an integer between ${LIST_LIMIT.min} and ${LIST_LIMIT.max} inclusive (given '${limitText}')`,
      );
    }
  }
  const order: SortOrder = orderText === 'asc' ? 'asc' : 'desc';
  // A since time given in the form replaces the window of a quick link.
  const window = (since !== '' ? '' : windowText) as WindowName | '';
  const sinceMs = window !== '' ? now - WINDOWS[window] : since !== '' ? parseConsoleTime(since, 'since', now) : undefined;
  const untilMs = until !== '' ? parseConsoleTime(until, 'until', now) : undefined;
  const list: ListOptions = {
    functionName,
    ...(status.length > 0 ? { status } : {}),
    ...(sinceMs !== undefined ? { since: sinceMs } : {}),
    ...(untilMs !== undefined ? { until: untilMs } : {}),
    ...(prefix !== '' ? { prefix } : {}),
    order,
    limit,
    ...(next !== '' ? { nextToken: next } : {}),
  };
  validateListRequest({ ...list, ...(status.length > 0 ? { status } : {}) } as Parameters<typeof validateListRequest>[0]);
  return { values: { status, since, until, window, prefix, order, limit, next }, list };
}

/** The filters as URL query values (for links: next page, first page, the rows fragment). */
export function filterQuery(values: TaskFilterValues, overrides: Partial<Record<keyof TaskFilterValues, unknown>> = {}) {
  const v = { ...values, ...overrides } as TaskFilterValues;
  return {
    status: v.status,
    since: v.since,
    until: v.until,
    window: v.window,
    prefix: v.prefix,
    order: v.order === 'desc' ? undefined : v.order,
    limit: v.limit === LIST_LIMIT.default ? undefined : v.limit,
    next: v.next,
  };
}
