/**
 * `list` of a function in economy mode (docs/design.md, "Orchestration modes"): its economy
 * tasks are in the sparse keys-only ByTimeEconomy index, its standard ones (from before a switch)
 * in ByTime / ByStatus. Both sources are read in list-key order — the economy one as keys, then
 * `BatchGetItem` of the page's items, status and prefix filtered here — and merged. The
 * nextToken is the list key of the last task returned (`{m: 1, lk}`, base64url JSON); list keys
 * are unique (`<startedAt>#<taskId>`), so both sources resume right after it.
 */
import {
  InvalidArgumentError,
  isoTime,
  LIST_LIMIT,
  type ListRequest,
  type ListResult,
  parseStatuses,
  recordFromItem,
  type TaskItem,
  type TaskRecord,
  type TaskStatus,
} from '../model';
import { encodeNextToken, LIST_KEY_HIGH, type ListKeyRange, parseNextToken } from './list-plan';
import type { TaskStore } from './task-store';

/** Pages read at most per source and call (as LIST_MAX_PAGES). */
const MAX_PAGES = 10;
const PAGE_SIZE = 100;

interface MergedToken {
  readonly m: 1;
  readonly lk: string;
}

function decodeToken(token: string): MergedToken {
  const t = parseNextToken(token) as Partial<MergedToken> | undefined;
  if (!/^[A-Za-z0-9_-]+$/.test(token) || t?.m !== 1 || typeof t.lk !== 'string' || t.lk === '') {
    throw new InvalidArgumentError(
      'nextToken is not valid for this list request (not a token of an economy function list); pass the nextToken of the previous page of the same request',
    );
  }
  return t as MergedToken;
}

/** Whether `token` is a merged list's nextToken (`{m: 1, lk}`), not an index key of one index's list. */
export function isMergedListToken(token: string): boolean {
  try {
    decodeToken(token);
    return true;
  } catch {
    return false;
  }
}

/** The list keys of the tasks started in the request's [since, until] (open ends when absent). */
export function requestRange(request: Pick<ListRequest, 'since' | 'until'>): ListKeyRange {
  return {
    from: request.since !== undefined ? isoTime(request.since) : '',
    to: request.until !== undefined ? `${isoTime(request.until)}${LIST_KEY_HIGH}` : '\uffff',
  };
}

function encodeToken(lk: string): string {
  return encodeNextToken({ m: 1, lk } satisfies MergedToken);
}

/** The list key of an item, whichever layout it has. */
export function listKeyOfItem(item: TaskItem): string {
  return item.listKey ?? item.economyListKey ?? '';
}

interface Window {
  readonly from: string;
  readonly to: string;
  readonly ascending: boolean;
  /** Exclusive resume point (the token's list key). */
  readonly after?: string;
}

interface SourceRead {
  readonly items: TaskItem[];
  /** Set when the source was not read to its end: nothing beyond this list key is known. */
  readonly stoppedAt?: string;
}

function keyRange(window: Window): { from: string; to: string } {
  if (window.after === undefined) return { from: window.from, to: window.to };
  return window.ascending ? { from: window.after, to: window.to } : { from: window.from, to: window.after };
}

/** Reads one source in order until `wanted` matches, its end, or MAX_PAGES pages. */
async function readSource(
  page: (startKey: Record<string, unknown> | undefined) => Promise<{ items: TaskItem[]; lastKey?: Record<string, unknown> }>,
  matches: (item: TaskItem) => boolean,
  wanted: number,
  window: Window,
): Promise<SourceRead> {
  const items: TaskItem[] = [];
  let startKey: Record<string, unknown> | undefined;
  for (let n = 0; n < MAX_PAGES; n++) {
    const result = await page(startKey);
    for (const item of result.items) {
      if (listKeyOfItem(item) === window.after) continue;
      if (matches(item)) items.push(item);
    }
    if (items.length >= wanted || !result.lastKey) return { items };
    startKey = result.lastKey;
    if (n + 1 >= MAX_PAGES) {
      const last = result.items.at(-1);
      return { items, ...(last ? { stoppedAt: listKeyOfItem(last) } : {}) };
    }
  }
  return { items };
}

/** The merged list of `request`, which its caller has validated (`validateListRequest`, TaskApi `list`). */
export async function listEconomyFunction(
  store: TaskStore,
  request: Omit<ListRequest, 'op'>,
  toRecord: (item: TaskItem, now: number) => TaskRecord = recordFromItem,
): Promise<ListResult> {
  const functionName = request.functionName;
  const statuses: TaskStatus[] = request.status !== undefined && request.status.length > 0 ? parseStatuses(request.status) : [];
  const limit = request.limit ?? LIST_LIMIT.default;
  const ascending = request.order === 'asc';
  const { from, to } = requestRange(request);
  const after = request.nextToken !== undefined ? decodeToken(request.nextToken).lk : undefined;
  if (after !== undefined && (after < from || after > to)) {
    throw new InvalidArgumentError('nextToken is not valid for this list request (it is outside the time window)');
  }
  const window: Window = { from, to, ascending, ...(after !== undefined ? { after } : {}) };
  const range = keyRange(window);
  const matches = (item: TaskItem): boolean =>
    (statuses.length === 0 || statuses.includes(item.status)) &&
    (request.prefix === undefined || request.prefix === '' || item.taskId.startsWith(request.prefix));

  // Standard items (ByStatus for one status, else ByTime), then economy items (ByTimeEconomy keys, then the items).
  const single = statuses.length === 1 ? statuses[0] : undefined;
  const standard = readSource(
    (startKey) =>
      store.queryWindow(functionName, {
        ...(single !== undefined ? { status: single } : {}),
        range,
        ascending,
        limit: PAGE_SIZE,
        ...(startKey ? { startKey } : {}),
      }),
    matches,
    limit + 1,
    window,
  );
  const economy = readSource(
    (startKey) => store.queryEconomyWindow(functionName, { range, ascending, limit: PAGE_SIZE, ...(startKey ? { startKey } : {}) }),
    matches,
    limit + 1,
    window,
  );
  const [a, b] = await Promise.all([standard, economy]);
  const order = (x: TaskItem, y: TaskItem): number => {
    const kx = listKeyOfItem(x);
    const ky = listKeyOfItem(y);
    return ascending ? (kx < ky ? -1 : kx > ky ? 1 : 0) : kx < ky ? 1 : kx > ky ? -1 : 0;
  };
  let merged = [...a.items, ...b.items].sort(order);
  // A source cut short: nothing past where it stopped is known, so the page ends there.
  const stops = [a.stoppedAt, b.stoppedAt].filter((s): s is string => s !== undefined);
  let cut: string | undefined;
  if (stops.length > 0) {
    cut = stops.sort()[ascending ? 0 : stops.length - 1];
    merged = merged.filter((item) => (ascending ? listKeyOfItem(item) <= (cut as string) : listKeyOfItem(item) >= (cut as string)));
  }
  const page = merged.slice(0, limit);
  const more = merged.length > limit || cut !== undefined;
  const lastKey = page.length === merged.length && cut !== undefined ? cut : page.length > 0 ? listKeyOfItem(page[page.length - 1]) : cut;
  const now = Date.now();
  return {
    tasks: page.map((item) => toRecord(item, now)),
    ...(more && lastKey ? { nextToken: encodeToken(lastKey) } : {}),
  };
}

/**
 * The economy tasks of a function started in [from, to] (list keys), read from ByTimeEconomy and
 * fetched: at most `max` items; `more` when the window held more. For `stats`, whose ByStatus
 * counts do not see economy items.
 */
export async function economyItemsIn(
  store: TaskStore,
  functionName: string,
  range: ListKeyRange,
  max: number,
): Promise<{ items: TaskItem[]; more: boolean }> {
  const items: TaskItem[] = [];
  let startKey: Record<string, unknown> | undefined;
  for (;;) {
    const page = await store.queryEconomyWindow(functionName, {
      range,
      ascending: false,
      limit: Math.min(PAGE_SIZE, max - items.length),
      ...(startKey ? { startKey } : {}),
    });
    items.push(...page.items);
    if (!page.lastKey) return { items, more: false };
    if (items.length >= max) return { items, more: true };
    startKey = page.lastKey;
  }
}
