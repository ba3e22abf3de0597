/**
 * An in-memory tasks table behind the document-client mock, for the handler tests that race
 * writers against each other (stop vs MarkSucceeded, two finalizers, reconciler vs finalizer,
 * retry vs a late finalizer). It evaluates the condition and update expressions the task store
 * and task-writes build — the subset of DynamoDB's grammar they use — so a test sees what
 * DynamoDB would decide, not what a hand-written mock answer says. Anything outside that subset
 * throws, naming the expression, so a new kind of write cannot pass unevaluated.
 */
import { DeleteCommand, GetCommand, PutCommand, QueryCommand, type QueryCommandInput, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { type TaskItem, tableKey } from '../../../lambda/model';
import { conditionFailed, mocks } from './fixtures';

type Item = Record<string, unknown>;
type Names = Record<string, string> | undefined;
type Values = Record<string, unknown> | undefined;

/** Splits `text` on `separator` where it is not inside parentheses. */
function splitTop(text: string, separator: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '(') depth++;
    else if (text[i] === ')') depth--;
    else if (depth === 0 && text.startsWith(separator, i)) {
      parts.push(text.slice(start, i));
      start = i + separator.length;
      i += separator.length - 1;
    }
  }
  parts.push(text.slice(start));
  return parts.map((p) => p.trim());
}

function unsupported(what: string, text: string): never {
  throw new Error(`fake table: unsupported ${what} '${text}' (extend test/unit/handlers/fake-table.ts)`);
}

function nameOf(token: string, names: Names): string {
  const name = names?.[token];
  if (!token.startsWith('#') || name === undefined) unsupported('attribute reference', token);
  return name;
}

function valueAt(token: string, values: Values): unknown {
  if (!token.startsWith(':') || !values || !(token in values)) unsupported('value reference', token);
  return values[token];
}

function compare(a: unknown, op: string, b: unknown): boolean {
  if (a === undefined) return false;
  switch (op) {
    case '=':
      return a === b;
    case '<>':
      return a !== b;
    case '<':
      return (a as string) < (b as string);
    case '>':
      return (a as string) > (b as string);
    case '<=':
      return (a as string) <= (b as string);
    case '>=':
      return (a as string) >= (b as string);
    default:
      return unsupported('operator', op);
  }
}

/** A Set from any realm (structuredClone makes the host's, not the test context's). */
function isSet(value: unknown): value is Set<unknown> {
  return Object.prototype.toString.call(value) === '[object Set]';
}

function sizeOf(value: unknown): number {
  if (isSet(value)) return value.size;
  if (Array.isArray(value) || typeof value === 'string') return value.length;
  return 0;
}

/** Evaluates a condition of the store's grammar against `item` (undefined: no item). */
export function evaluate(condition: string, item: Item | undefined, names: Names, values: Values): boolean {
  const text = condition.trim();
  // `x BETWEEN :a AND :b` holds an AND of its own: glue it back after the split.
  const ands = splitTop(text, ' AND ').reduce<string[]>((parts, part) => {
    const previous = parts[parts.length - 1];
    if (previous !== undefined && / BETWEEN :\w+$/.test(previous)) parts[parts.length - 1] = `${previous} AND ${part}`;
    else parts.push(part);
    return parts;
  }, []);
  if (ands.length > 1) return ands.every((part) => evaluate(part, item, names, values));
  const ors = splitTop(text, ' OR ');
  if (ors.length > 1) return ors.some((part) => evaluate(part, item, names, values));
  if (text.startsWith('(') && text.endsWith(')')) return evaluate(text.slice(1, -1), item, names, values);
  let m = /^attribute_not_exists\((#\w+)\)$/.exec(text);
  if (m) return item?.[nameOf(m[1], names)] === undefined;
  m = /^attribute_exists\((#\w+)\)$/.exec(text);
  if (m) return item?.[nameOf(m[1], names)] !== undefined;
  m = /^contains\((#\w+), (:\w+)\)$/.exec(text);
  if (m) {
    const held = item?.[nameOf(m[1], names)];
    const wanted = valueAt(m[2], values);
    return isSet(held) ? held.has(wanted) : Array.isArray(held) ? held.includes(wanted) : false;
  }
  m = /^size\((#\w+)\) (<|>|<=|>=|=) (:\w+)$/.exec(text);
  if (m) return compare(sizeOf(item?.[nameOf(m[1], names)]), m[2], valueAt(m[3], values));
  m = /^(#\w+) BETWEEN (:\w+) AND (:\w+)$/.exec(text);
  if (m) {
    const actual = item?.[nameOf(m[1], names)];
    return compare(actual, '>=', valueAt(m[2], values)) && compare(actual, '<=', valueAt(m[3], values));
  }
  m = /^(#\w+) IN \(([^)]*)\)$/.exec(text);
  if (m) {
    const actual = item?.[nameOf(m[1], names)];
    return m[2].split(',').some((token) => actual !== undefined && actual === valueAt(token.trim(), values));
  }
  m = /^(#\w+) (=|<>|<=|>=|<|>) (:\w+)$/.exec(text);
  if (m) return compare(item?.[nameOf(m[1], names)], m[2], valueAt(m[3], values));
  return unsupported('condition', text);
}

/** Applies an update expression of the store's grammar (SET, REMOVE, ADD/DELETE of string sets). */
export function applyUpdate(expression: string, current: Item, names: Names, values: Values): Item {
  const next: Item = { ...current };
  const clauses = expression.split(/ (?=(?:SET|REMOVE|ADD|DELETE) )/);
  for (const clause of clauses) {
    const [keyword, ...rest] = clause.trim().split(' ');
    const body = rest.join(' ');
    const actions = splitTop(body, ',');
    for (const action of actions) {
      if (keyword === 'SET') {
        const [left, right] = action.split(' = ');
        const target = nameOf(left.trim(), names);
        const append = /^list_append\(if_not_exists\((#\w+), (:\w+)\), (:\w+)\)$/.exec(right.trim());
        if (append) {
          const existing = (next[nameOf(append[1], names)] as unknown[] | undefined) ?? (valueAt(append[2], values) as unknown[]);
          next[target] = [...existing, ...(valueAt(append[3], values) as unknown[])];
        } else if (/^:\w+$/.test(right.trim())) {
          next[target] = valueAt(right.trim(), values);
        } else {
          unsupported('SET action', action);
        }
      } else if (keyword === 'REMOVE') {
        delete next[nameOf(action, names)];
      } else if (keyword === 'ADD' || keyword === 'DELETE') {
        const [attribute, value] = action.split(' ');
        const target = nameOf(attribute, names);
        const set = new Set((next[target] as Set<string> | undefined) ?? []);
        for (const member of valueAt(value, values) as Set<string>) {
          if (keyword === 'ADD') set.add(member);
          else set.delete(member);
        }
        if (set.size === 0) delete next[target];
        else next[target] = set;
      } else {
        unsupported('update clause', clause);
      }
    }
  }
  return next;
}

function keyString(key: Record<string, unknown> | undefined): string {
  return JSON.stringify(tableKey(key?.functionName, key?.taskId));
}

export interface FakeTableOptions {
  /** Like dynalite: a failed condition carries no item even when ALL_OLD was asked for. */
  readonly noItemOnConditionFailure?: boolean;
}

type CommandKind = 'get' | 'put' | 'update' | 'delete' | 'query';

/**
 * The table, installed on `mocks.ddb` for Get, Put, Update, Delete and Query (ByStatus, the one
 * index the handlers under test query with a key condition on `statusKey` and `listKey`; and the
 * table itself, which the Kafka trigger queries for the end of a partition's tasks).
 */
export class FakeTable {
  private readonly items = new Map<string, Item>();
  private readonly hooks: Array<{ kind: CommandKind; run: () => unknown }> = [];

  public constructor(private readonly options: FakeTableOptions = {}) {
    mocks.ddb.on(GetCommand).callsFake(async (input) => {
      await this.hook('get');
      const item = this.items.get(keyString(input.Key));
      return item ? { Item: structuredClone(item) } : {};
    });
    mocks.ddb.on(QueryCommand).callsFake(async (input) => {
      await this.hook('query');
      const key = input.KeyConditionExpression ?? '';
      if (input.IndexName === undefined) return this.queryTable(input);
      if (input.IndexName !== 'ByStatus') unsupported('query index', String(input.IndexName));
      const names = input.ExpressionAttributeNames;
      const values = input.ExpressionAttributeValues;
      let matches = [...this.items.values()].filter(
        (item) => evaluate(key, item, names, values) && (!input.FilterExpression || evaluate(input.FilterExpression, item, names, values)),
      );
      matches.sort((a, b) => String(a.listKey).localeCompare(String(b.listKey)));
      if (input.ScanIndexForward === false) matches = matches.reverse();
      return { Items: matches.map((item) => structuredClone(item)) };
    });
    mocks.ddb.on(PutCommand).callsFake(async (input) => {
      await this.hook('put');
      const key = keyString(input.Item);
      const current = this.items.get(key);
      this.check(input, current);
      this.items.set(key, structuredClone(input.Item as Item));
      return {};
    });
    mocks.ddb.on(UpdateCommand).callsFake(async (input) => {
      await this.hook('update');
      const key = keyString(input.Key);
      const current = this.items.get(key);
      this.check(input, current);
      const next = applyUpdate(
        input.UpdateExpression ?? '',
        current ?? { ...input.Key },
        input.ExpressionAttributeNames,
        input.ExpressionAttributeValues,
      );
      this.items.set(key, next);
      if (input.ReturnValues === 'ALL_NEW') return { Attributes: structuredClone(next) };
      if (input.ReturnValues === 'ALL_OLD') return current ? { Attributes: structuredClone(current) } : {};
      return {};
    });
    mocks.ddb.on(DeleteCommand).callsFake(async (input) => {
      await this.hook('delete');
      const key = keyString(input.Key);
      this.check(input, this.items.get(key));
      this.items.delete(key);
      return {};
    });
  }

  /**
   * Runs `run` (and waits for it) just before the next command of `kind` is applied: how a test
   * lands another writer between a handler's read and its write.
   */
  public beforeNext(kind: CommandKind, run: () => unknown): void {
    this.hooks.push({ kind, run });
  }

  public put(item: TaskItem | Item): void {
    this.items.set(keyString(item as Item), structuredClone(item as Item));
  }

  public get(functionName: string, taskId: string): (TaskItem & Record<string, unknown>) | undefined {
    const item = this.items.get(keyString({ functionName, taskId }));
    return item ? (structuredClone(item) as TaskItem & Record<string, unknown>) : undefined;
  }

  /** Every item, in key order (copies). */
  public all(): Array<Record<string, unknown>> {
    return [...this.items.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, item]) => structuredClone(item));
  }

  /** Applies a write as another writer would (the state machine, a container helper): true when its condition held. */
  public write(
    key: Record<string, unknown>,
    parts: { UpdateExpression: string; ConditionExpression?: string; ExpressionAttributeNames: Names; ExpressionAttributeValues?: Values },
  ): boolean {
    const k = keyString(key);
    const current = this.items.get(k);
    if (
      parts.ConditionExpression &&
      !evaluate(parts.ConditionExpression, current, parts.ExpressionAttributeNames, parts.ExpressionAttributeValues)
    ) {
      return false;
    }
    this.items.set(
      k,
      applyUpdate(parts.UpdateExpression, current ?? { ...key }, parts.ExpressionAttributeNames, parts.ExpressionAttributeValues),
    );
    return true;
  }

  /** A Query of the table itself (key condition on functionName and taskId), in taskId order, with Limit and projection. */
  private queryTable(input: QueryCommandInput): { Items: Item[] } {
    if (!input.ConsistentRead) unsupported('eventually consistent table query', String(input.KeyConditionExpression));
    const names = input.ExpressionAttributeNames;
    const values = input.ExpressionAttributeValues;
    let matches = [...this.items.values()].filter((item) => evaluate(input.KeyConditionExpression ?? '', item, names, values));
    matches.sort((a, b) => (String(a.taskId) < String(b.taskId) ? -1 : String(a.taskId) > String(b.taskId) ? 1 : 0));
    if (input.ScanIndexForward === false) matches = matches.reverse();
    if (input.Limit !== undefined) matches = matches.slice(0, input.Limit);
    const projected = input.ProjectionExpression
      ? input.ProjectionExpression.split(',').map((token) => nameOf(token.trim(), names))
      : undefined;
    return {
      Items: matches.map((item) =>
        structuredClone(projected ? Object.fromEntries(projected.filter((a) => a in item).map((a) => [a, item[a]])) : item),
      ),
    };
  }

  private async hook(kind: CommandKind): Promise<void> {
    const index = this.hooks.findIndex((h) => h.kind === kind);
    if (index < 0) return;
    const [hook] = this.hooks.splice(index, 1);
    await hook.run();
  }

  /** Throws DynamoDB's ConditionalCheckFailed when the write's condition fails on `current`. */
  private check(
    write: {
      readonly ConditionExpression?: string;
      readonly ExpressionAttributeNames?: Names;
      readonly ExpressionAttributeValues?: Values;
      readonly ReturnValuesOnConditionCheckFailure?: string;
    },
    current: Item | undefined,
  ): void {
    const condition = write.ConditionExpression;
    if (!condition || evaluate(condition, current, write.ExpressionAttributeNames, write.ExpressionAttributeValues)) return;
    const withItem = write.ReturnValuesOnConditionCheckFailure === 'ALL_OLD' && current && !this.options.noItemOnConditionFailure;
    throw conditionFailed(withItem ? (current as unknown as TaskItem) : undefined);
  }
}
