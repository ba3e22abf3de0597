/**
 * List prices (us-east-1, free tiers ignored) and the write-unit arithmetic of docs/cost.md, so
 * that the cost tests and the benchmark compute a task's orchestration cost the same way.
 */

export const LIST_PRICES = {
  /** Step Functions Standard, per state transition. */
  standardTransition: 25 / 1e6,
  /** Step Functions Express, per request; duration per GB-second (billed per 100 ms, 64 MB steps). */
  expressRequest: 1 / 1e6,
  expressGbSecond: 0.00001667,
  /** DynamoDB on demand. */
  writeUnit: 0.625 / 1e6,
  readUnit: 0.125 / 1e6,
  /** Lambda, arm64. */
  lambdaRequest: 0.2 / 1e6,
  lambdaGbSecond: 0.0000133334,
  sqsRequest: 0.4 / 1e6,
  /** API Gateway REST API (first 333 million). */
  restApiRequest: 3.5 / 1e6,
} as const;

/** The TaskApi's submit as docs/cost.md prices it: one request, ~100 ms at 512 MB. */
export const SUBMIT_LAMBDA_COST = LIST_PRICES.lambdaRequest + 0.5 * 0.1 * LIST_PRICES.lambdaGbSecond;

/** A global secondary index as the template declares it. */
export interface IndexSpec {
  readonly name: string;
  readonly keys: readonly string[];
  /** ALL, KEYS_ONLY, or INCLUDE with `include`. */
  readonly projection: 'ALL' | 'KEYS_ONLY' | 'INCLUDE';
  readonly include?: readonly string[];
}

/** A write to the tasks table: the item before (undefined for a put of a new item) and after. */
export interface ItemWrite {
  readonly before?: Readonly<Record<string, unknown>>;
  readonly after: Readonly<Record<string, unknown>>;
}

const utf8 = (text: string): number => new TextEncoder().encode(text).length;

/**
 * Bytes of a value as DynamoDB sizes it: strings their UTF-8 length, numbers about one byte per
 * two digits plus one, booleans and nulls 1, lists and maps 3 bytes plus 1 per element plus
 * their elements (map keys counted like attribute names).
 */
export function valueBytes(value: unknown): number {
  if (value === null || value === undefined || typeof value === 'boolean') return 1;
  if (typeof value === 'string') return utf8(value);
  if (typeof value === 'number') return Math.ceil(String(Math.abs(value)).replace(/[.-]/g, '').length / 2) + 1;
  if (Array.isArray(value)) return 3 + value.reduce<number>((sum, v) => sum + 1 + valueBytes(v), 0);
  if (typeof value === 'object') {
    return 3 + Object.entries(value as Record<string, unknown>).reduce((sum, [k, v]) => sum + 1 + utf8(k) + valueBytes(v), 0);
  }
  return utf8(String(value));
}

/** An item's size: each attribute's name plus its value. */
export function itemBytes(item: Readonly<Record<string, unknown>>): number {
  return Object.entries(item).reduce((sum, [name, value]) => sum + (value === undefined ? 0 : utf8(name) + valueBytes(value)), 0);
}

function sizeKb(item: Readonly<Record<string, unknown>>): number {
  return Math.max(1, Math.ceil(itemBytes(item) / 1024));
}

function inIndex(item: Readonly<Record<string, unknown>> | undefined, index: IndexSpec): boolean {
  return item !== undefined && index.keys.every((k) => item[k] !== undefined);
}

function projected(item: Readonly<Record<string, unknown>>, index: IndexSpec, tableKeys: readonly string[]): Record<string, unknown> {
  if (index.projection === 'ALL') return { ...item };
  const names = new Set([...tableKeys, ...index.keys, ...(index.projection === 'INCLUDE' ? (index.include ?? []) : [])]);
  return Object.fromEntries(Object.entries(item).filter(([k]) => names.has(k)));
}

/**
 * Write request units of one write, index copies included, as DynamoDB bills them: the table
 * (1 per started KB of the larger of the old and new item), and per index: a put of an item
 * entering it, a delete of one leaving it, both when its key changes, an update in place when a
 * projected attribute changed, nothing otherwise.
 */
export function writeUnits(write: ItemWrite, indexes: readonly IndexSpec[], tableKeys: readonly string[]): number {
  const { before, after } = write;
  let units = Math.max(sizeKb(after), before ? sizeKb(before) : 0);
  for (const index of indexes) {
    const was = inIndex(before, index);
    const is = inIndex(after, index);
    if (!was && !is) continue;
    const old = was && before ? projected(before, index, tableKeys) : undefined;
    const now = is ? projected(after, index, tableKeys) : undefined;
    const keyChanged = was && is && index.keys.some((k) => before?.[k] !== after[k]);
    if (old && now && !keyChanged) {
      if (JSON.stringify(old) !== JSON.stringify(now)) units += Math.max(sizeKb(old), sizeKb(now));
      continue;
    }
    if (old) units += sizeKb(old);
    if (now) units += sizeKb(now);
  }
  return units;
}
