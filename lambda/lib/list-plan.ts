/**
 * Planning of `list` (docs/design.md, "list chooses"): which index, which key condition, which
 * filter, and the next-token format. Pure, so every filter combination is tested without AWS.
 */
import {
  INDEX_KEY_ATTRIBUTES,
  INDEX_PARTITION_KEY,
  InvalidArgumentError,
  isoTime,
  LIST_LIMIT,
  type ListRequest,
  parseStatuses,
  statusKey,
  TABLE,
  type TaskItem,
  type TaskStatus,
  validateListRequest,
} from '../model';

/** Upper bound appended to `isoTime(until)` so every task id started at `until` is included. */
export const LIST_KEY_HIGH = '#\uffff';

/** listKey bounds (inclusive) of the tasks started in [since, until], epoch ms: a BETWEEN on either index. */
export interface ListKeyRange {
  readonly from: string;
  readonly to: string;
}

export function listKeyRange(since: number, until: number): ListKeyRange {
  return { from: isoTime(since), to: `${isoTime(until)}${LIST_KEY_HIGH}` };
}

export interface ListPlan {
  readonly indexName: string;
  readonly keyConditionExpression: string;
  readonly filterExpression?: string;
  readonly expressionAttributeNames: Record<string, string>;
  readonly expressionAttributeValues: Record<string, unknown>;
  readonly scanIndexForward: boolean;
  readonly limit: number;
  readonly exclusiveStartKey?: Record<string, string>;
  /** Attributes of the index key (table key included), in the order used for tokens. */
  readonly keyAttributes: readonly string[];
  /** True when DynamoDB filters after reading, so a page may hold fewer matches than read. */
  readonly filtered: boolean;
}

/** base64url JSON of what a next page resumes from: an index key, a merged list's list key, a logs cursor. */
export function encodeNextToken(value: object): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
}

/** The JSON an `encodeNextToken` token carries; undefined when it is not JSON. Its shape is the caller's to check. */
export function parseNextToken(token: string): unknown {
  try {
    return JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
}

function invalidToken(why: string): InvalidArgumentError {
  return new InvalidArgumentError(
    `nextToken is not valid for this list request (${why}); pass the nextToken of the previous page of the same request`,
  );
}

export function decodeNextToken(token: string, keyAttributes: readonly string[]): Record<string, string> {
  if (!/^[A-Za-z0-9_-]+$/.test(token)) throw invalidToken('not base64url');
  const parsed = parseNextToken(token);
  if (parsed === undefined || parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw invalidToken('not an encoded key');
  }
  const key: Record<string, string> = {};
  for (const attribute of keyAttributes) {
    const value = (parsed as Record<string, unknown>)[attribute];
    if (typeof value !== 'string' || value === '') throw invalidToken(`'${attribute}' is missing`);
    key[attribute] = value;
  }
  return key;
}

/** The key of `item` in the plan's index: what a next token carries. */
export function indexKeyOf(
  item: Pick<TaskItem, 'functionName' | 'taskId' | 'listKey' | 'statusKey'>,
  plan: ListPlan,
): Record<string, string> {
  const source = item as unknown as Record<string, string>;
  return Object.fromEntries(plan.keyAttributes.map((attribute) => [attribute, source[attribute]]));
}

/** Validates the request and plans the Query (throws InvalidArgument for bad options or token). */
export function planList(request: Omit<ListRequest, 'op'>): ListPlan {
  validateListRequest(request);
  const functionName = request.functionName;
  const statuses: TaskStatus[] = request.status !== undefined && request.status.length > 0 ? parseStatuses(request.status) : [];
  const names: Record<string, string> = { '#listKey': TABLE.listKey };
  const values: Record<string, unknown> = {};
  let indexName: string;
  if (statuses.length === 1) {
    indexName = TABLE.byStatusIndex;
    values[':pk'] = statusKey(functionName, statuses[0]);
  } else {
    indexName = TABLE.byTimeIndex;
    values[':pk'] = functionName;
  }
  names['#pk'] = INDEX_PARTITION_KEY[indexName];
  const keyAttributes = INDEX_KEY_ATTRIBUTES[indexName];
  let key = '#pk = :pk';
  const from = request.since !== undefined ? isoTime(request.since) : undefined;
  const to = request.until !== undefined ? `${isoTime(request.until)}${LIST_KEY_HIGH}` : undefined;
  if (from !== undefined && to !== undefined) {
    key += ' AND #listKey BETWEEN :from AND :to';
    values[':from'] = from;
    values[':to'] = to;
  } else if (from !== undefined) {
    key += ' AND #listKey >= :from';
    values[':from'] = from;
  } else if (to !== undefined) {
    key += ' AND #listKey <= :to';
    values[':to'] = to;
  }
  const filters: string[] = [];
  if (statuses.length > 1) {
    names['#status'] = 'status';
    const placeholders = statuses.map((status, i) => {
      values[`:status${i}`] = status;
      return `:status${i}`;
    });
    filters.push(`#status IN (${placeholders.join(', ')})`);
  }
  if (request.prefix !== undefined && request.prefix !== '') {
    names['#taskId'] = 'taskId';
    values[':prefix'] = request.prefix;
    filters.push('begins_with(#taskId, :prefix)');
  }
  // DynamoDB rejects attribute names an expression does not use.
  if (!key.includes('#listKey')) delete names['#listKey'];

  let exclusiveStartKey: Record<string, string> | undefined;
  if (request.nextToken !== undefined) {
    if (typeof request.nextToken !== 'string' || request.nextToken === '') throw invalidToken('empty');
    exclusiveStartKey = decodeNextToken(request.nextToken, keyAttributes);
    if (exclusiveStartKey[keyAttributes[0]] !== values[':pk']) throw invalidToken('it belongs to another list');
    if (statuses.length === 1 && exclusiveStartKey.functionName !== functionName) {
      throw invalidToken('it belongs to another function');
    }
    const listKeyValue = exclusiveStartKey[TABLE.listKey];
    if ((from !== undefined && listKeyValue < from) || (to !== undefined && listKeyValue > to)) {
      throw invalidToken('it is outside the time window');
    }
  }
  return {
    indexName,
    keyConditionExpression: key,
    ...(filters.length > 0 ? { filterExpression: filters.join(' AND ') } : {}),
    expressionAttributeNames: names,
    expressionAttributeValues: values,
    scanIndexForward: request.order === 'asc',
    limit: request.limit ?? LIST_LIMIT.default,
    ...(exclusiveStartKey ? { exclusiveStartKey } : {}),
    keyAttributes,
    filtered: filters.length > 0,
  };
}
