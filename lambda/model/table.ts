/**
 * Layout of the tasks table, shared by the construct that creates it, the handlers and the
 * state machine definitions that write it, and the local runtime.
 *
 * - Table key (functionName, taskId): dedup is one conditional PutItem.
 * - Index ByTime (functionName, listKey): a function's tasks in time order; a time window is a
 *   BETWEEN on listKey, an id prefix and several statuses are filters of that Query.
 * - Index ByStatus (statusKey, listKey): one status of one function in time order.
 * - Item (functionName, '#concurrency'): the concurrency slots of a function with
 *   maxConcurrency, a string set of the execution ARNs holding one. `#` cannot start a task id.
 *
 * `tableKey` is the one place a key of this table is built: the task store (lambda/lib/task-store.ts)
 * builds it with plain strings, the state machine definitions with JSONPath attribute values.
 */

export const TABLE = {
  partitionKey: 'functionName',
  sortKey: 'taskId',
  byTimeIndex: 'ByTime',
  byStatusIndex: 'ByStatus',
  statusKey: 'statusKey',
  listKey: 'listKey',
  ttlAttribute: 'expiresAt',
  separator: '#',
  /** Sort key of the per-function concurrency item. */
  slotsSortKey: '#concurrency',
  /** String set attribute of the concurrency item: execution ARNs holding a slot. */
  slotHolders: 'holders',
} as const;

/** The table key of a task (or, with `TABLE.slotsSortKey` as id, of a function's slots item). */
export function tableKey<V>(functionName: V, taskId: V): Record<string, V> {
  return { [TABLE.partitionKey]: functionName, [TABLE.sortKey]: taskId };
}

/** The key of a function's concurrency item; `literal` makes an attribute value of a constant. */
export function slotsKey<V>(functionName: V, literal: (text: string) => V): Record<string, V> {
  return tableKey(functionName, literal(TABLE.slotsSortKey));
}

/**
 * Attributes of a key in each index, as DynamoDB returns it in `LastEvaluatedKey` (the index key,
 * then the table key attributes it does not already hold): what a list `nextToken` carries.
 */
export const INDEX_KEY_ATTRIBUTES: Readonly<Record<string, readonly string[]>> = {
  [TABLE.byTimeIndex]: [TABLE.partitionKey, TABLE.listKey, TABLE.sortKey],
  [TABLE.byStatusIndex]: [TABLE.statusKey, TABLE.listKey, TABLE.partitionKey, TABLE.sortKey],
};

/** Partition key attribute of each index. */
export const INDEX_PARTITION_KEY: Readonly<Record<string, string>> = {
  [TABLE.byTimeIndex]: TABLE.partitionKey,
  [TABLE.byStatusIndex]: TABLE.statusKey,
};

/** ISO-8601 with milliseconds, the format Step Functions uses for `$$.State.EnteredTime`. */
export function isoTime(epochMs: number = Date.now()): string {
  return new Date(epochMs).toISOString();
}
