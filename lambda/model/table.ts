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

/** ISO-8601 with milliseconds, the format Step Functions uses for `$$.State.EnteredTime`. */
export function isoTime(epochMs: number = Date.now()): string {
  return new Date(epochMs).toISOString();
}
