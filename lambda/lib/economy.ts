/**
 * Economy orchestration's items and writes (docs/design.md, "Orchestration modes"), pure so that
 * the submit path, the handler wrapper, the finalizer, the local runtime and the cost test build
 * them alike. An economy item is a standard one without `statusKey` and `listKey` (so in neither
 * ByTime nor ByStatus) with `economyKey`/`economyListKey` (the sparse keys-only ByTimeEconomy),
 * `orchestration: 'economy'`, and its invocation id as `executionArn` (the owner every status
 * write is conditional on).
 */
import {
  DestinationStatus,
  ECONOMY_ITEM,
  ENVELOPE_KEY,
  ITEM_ATTRIBUTE,
  listKey,
  type EnvelopedEvent,
  economyInvocationId,
  TABLE,
  type TaskEnvelope,
  type TaskFunctionDescriptor,
  type TaskItem,
  TaskStatus,
} from '../model';
import { type StoredEvent, storedEvent } from './task-store';
import { deliveryClaim, transitionUpdate, type UpdateParts } from './task-writes';

/** The standard item of a new attempt turned into an economy one (same id, payload, times, events). */
export function toEconomyItem(item: TaskItem, functionArn: string): TaskItem {
  const { statusKey: _statusKey, listKey: _listKey, ...rest } = item;
  return {
    ...rest,
    orchestration: 'economy',
    [ECONOMY_ITEM.economyKey]: item.functionName,
    [ECONOMY_ITEM.economyListKey]: listKey(item.startedAt, item.taskId),
    executionArn: economyInvocationId(functionArn, item.requestId),
  };
}

/** The event an economy attempt's function is invoked with. */
export function envelopedEvent(
  descriptor: TaskFunctionDescriptor,
  item: TaskItem,
  options: { readonly table: string; readonly retentionSeconds: number; readonly finalizerArn?: string },
): EnvelopedEvent {
  const envelope: TaskEnvelope = {
    v: 1,
    functionName: item.functionName,
    taskId: item.taskId,
    requestId: item.requestId,
    owner: item.executionArn ?? economyInvocationId(descriptor.runnerArn, item.requestId),
    table: options.table,
    deadline: item.deadline,
    maxRetryAttempts: descriptor.maxRetryAttempts,
    retentionSeconds: options.retentionSeconds,
    finalizerArn: options.finalizerArn ?? descriptor.finalizerArn ?? '',
    functionArn: descriptor.runnerArn,
    ...(descriptor.onSuccess ? { onSuccess: descriptor.onSuccess } : {}),
    source: item.source ?? null,
  };
  return { [ENVELOPE_KEY]: envelope, payload: JSON.parse(item.taskPayload) as unknown };
}

/** A status write of the wrapper: the status, what it sets and the event, for `economyUpdate`. */
export interface EconomyWrite {
  readonly to: TaskStatus;
  readonly from?: readonly TaskStatus[];
  readonly set: Readonly<Record<string, unknown>>;
  readonly add?: Readonly<Record<string, number>>;
  readonly event: StoredEvent;
}

/** `Running`, at the start of an attempt: from Enqueued or Retrying only (a stopped task is not run). */
export function runningWrite(at: string, runnerId: string, logStream?: string): EconomyWrite {
  return {
    to: TaskStatus.Running,
    from: [TaskStatus.Enqueued, TaskStatus.Retrying],
    set: { runnerId, ...(logStream ? { logStream } : {}) },
    event: storedEvent(TaskStatus.Running, at, `attempt ${runnerId}`),
  };
}

/**
 * `Succeeded`, when the handler returned: the result, the end and — with onSuccess — the
 * delivery claimed by this attempt (`destinationStatus` Pending, `deliveryClaim` naming its
 * request id), so that Lambda's retry of an attempt that died before it recorded the send (same
 * request id) sends the record again instead of losing it; `deliveryOutcomeUpdate` (task-writes) records it.
 * Running only, so a `Stopping` written meanwhile refuses it and no success record goes out.
 */
export function succeededWrite(envelope: TaskEnvelope, at: string, returnPayload: string, runnerId: string): EconomyWrite {
  return {
    to: TaskStatus.Succeeded,
    set: {
      returnPayload,
      endedAt: at,
      destinationStatus: envelope.onSuccess ? DestinationStatus.Pending : DestinationStatus.None,
      ...(envelope.onSuccess ? { [ITEM_ATTRIBUTE.deliveryClaim]: deliveryClaim(at, runnerId) } : {}),
      [TABLE.ttlAttribute]: Math.floor(Date.parse(at) / 1000) + envelope.retentionSeconds,
    },
    event: storedEvent(TaskStatus.Succeeded, at),
  };
}

/** `Retrying`, when the handler threw and Lambda will retry: the count and the error. */
export function retryingWrite(at: string, errorMessage: string): EconomyWrite {
  return {
    to: TaskStatus.Retrying,
    from: [TaskStatus.Running],
    set: { taskErrorMessage: errorMessage },
    add: { alreadyRetriedTimes: 1 },
    event: storedEvent(TaskStatus.Retrying, at, errorMessage.slice(0, 200)),
  };
}

/** The UpdateItem parts of an economy write, conditional on the owner (the envelope's invocation id). */
export function economyUpdate(write: EconomyWrite, owner: string): UpdateParts<unknown> {
  return transitionUpdate<unknown>(
    {
      to: write.to,
      ...(write.from ? { from: write.from } : {}),
      owner,
      set: write.set,
      ...(write.add ? { add: write.add } : {}),
      appendEvent: { empty: [], entries: [write.event] },
    },
    (text) => text,
  );
}

/** The item after a write (for the cost arithmetic and the local runtime's bookkeeping). */
export function applyWrite(item: Readonly<Record<string, unknown>>, write: EconomyWrite): Record<string, unknown> {
  const after: Record<string, unknown> = { ...item, status: write.to, ...write.set };
  for (const [name, by] of Object.entries(write.add ?? {})) after[name] = Number(item[name] ?? 0) + by;
  after.events = [...((item.events as unknown[] | undefined) ?? []), write.event];
  return after;
}
