/**
 * The finalize step (docs/design.md, "Every failure ending goes to the finalizer"): given a task
 * and how its execution ended, write the terminal status, deliver the failure record, and give
 * the concurrency slot back. Shared by the finalizer (EventBridge status-change events), the
 * reconciler (executions whose event was lost, deliveries left Pending) and TaskApi `stop` (an
 * execution that had already ended). Safe to run concurrently for one task: the terminal write
 * is conditional on the status just read and the owner, and a failure record is sent only by the
 * holder of the delivery claim (see DELIVERY_CLAIM), so every ending sends one record.
 */
import { randomUUID } from 'node:crypto';
import {
  buildDestinationRecord,
  canTransition,
  DestinationCondition,
  DestinationStatus,
  destinationConditionOf,
  ExecutionError,
  isoTime,
  isTerminal,
  TABLE,
  type TaskFunctionDescriptor,
  type TaskItem,
  TaskStatus,
  truncateErrorMessage,
} from '../model';
import { deliver } from './destinations';
import type { ServiceConfig } from './env';
import { logger, requestId } from './logger';
import { storedEvent, type TaskRef, TaskStore } from './task-store';
import { DELIVERY_CLAIM, DELIVERY_CLAIM_STALE_MS, deliveryClaim, isClaimOf } from './task-writes';

export type { TaskRef } from './task-store';

/** How an execution ended: Step Functions' status (FAILED, TIMED_OUT, ABORTED, ...) and error. */
export interface ExecutionEnd {
  readonly executionArn: string;
  /** `FAILED`, `TIMED_OUT`, `ABORTED`, `SUCCEEDED`, or `MISSING` when the execution does not exist. */
  readonly status: string;
  readonly error?: string;
  readonly cause?: string;
}

export type FinalizeAction =
  /** The terminal status was written (and the record delivered). */
  | 'finalized'
  /** Already terminal with an abandoned (or unclaimed) Pending delivery: delivered now. */
  | 'redelivered'
  /** Already terminal: nothing to do, or another finalizer holds the delivery. */
  | 'unchanged'
  /** The execution no longer owns the task (a retry started a newer one). */
  | 'stale'
  | 'not-found';

export interface FinalizeResult {
  readonly action: FinalizeAction;
  /** The task as last written or read. */
  readonly item?: TaskItem;
  readonly slotReleased: boolean;
}

/** Error name Step Functions reports for an execution stopped through TaskApi (StopExecution `error`). */
export const STOPPED_ERROR = 'TaskStopped';

/** The finalizer table of docs/design.md: terminal status for an active task and its execution's end. */
export function terminalStatusFor(item: TaskItem, end: ExecutionEnd, nowIso: string): TaskStatus {
  if (item.status === TaskStatus.Stopping || end.status === 'ABORTED') return TaskStatus.Stopped;
  const expired = end.error === ExecutionError.Expired || (end.error === ExecutionError.NotRunnable && item.deadline <= nowIso);
  if (expired && canTransition(item.status, TaskStatus.Expired)) return TaskStatus.Expired;
  if (end.error === ExecutionError.Invalid && canTransition(item.status, TaskStatus.Invalid)) return TaskStatus.Invalid;
  return TaskStatus.Failed;
}

export function conditionFor(status: TaskStatus): DestinationCondition {
  return destinationConditionOf(status) ?? DestinationCondition.RetriesExhausted;
}

/**
 * `{errorType, errorMessage}` of an ended execution. A Lambda task's failure cause is Lambda's
 * JSON error (`{"errorMessage", "errorType", "trace"}`), which is unwrapped; anything else keeps
 * the Step Functions error name and the cause text. `ownMessage` (the record's taskErrorMessage,
 * written by a container's runtime helper) wins over a cause that is not Lambda's.
 */
export function errorOfExecution(
  end: ExecutionEnd,
  terminal: TaskStatus,
  ownMessage?: string,
  deadline?: string,
): { errorType: string; errorMessage: string } {
  if (end.cause) {
    try {
      const parsed = JSON.parse(end.cause) as { errorMessage?: unknown; errorType?: unknown };
      if (parsed && typeof parsed === 'object' && typeof parsed.errorMessage === 'string') {
        return {
          errorType: typeof parsed.errorType === 'string' ? parsed.errorType : (end.error ?? 'Error'),
          errorMessage: truncateErrorMessage(parsed.errorMessage),
        };
      }
    } catch {
      // not JSON: the cause is plain text
    }
  }
  const errorType = end.error ?? (terminal === TaskStatus.Stopped ? STOPPED_ERROR : `Execution${end.status}`);
  let errorMessage = ownMessage ?? end.cause;
  if (!errorMessage) {
    switch (terminal) {
      case TaskStatus.Stopped:
        errorMessage = 'the task was stopped';
        break;
      case TaskStatus.Expired:
        errorMessage = `the task did not start before its deadline${deadline ? ` ${deadline}` : ''} (maxEventAge)`;
        break;
      case TaskStatus.Invalid:
        errorMessage = 'the task runner could not be started';
        break;
      default:
        errorMessage = `the execution ended ${end.status}`;
    }
  }
  return { errorType, errorMessage: truncateErrorMessage(errorMessage) };
}

function parsePayload(text: string | undefined): unknown {
  if (text === undefined) return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** The owner condition's value for an execution end (a record without an execution: none started). */
function ownerOf(end: ExecutionEnd): string | null {
  return end.executionArn === '' ? null : end.executionArn;
}

/**
 * A fresh delivery claim naming this Lambda request (a random id outside one), so that Lambda's
 * retry of an invocation that died between its claim and its record recognises the claim as its
 * own and sends, instead of waiting out the stale window.
 */
function newClaim(nowMs: number): string {
  return deliveryClaim(isoTime(nowMs), requestId() ?? randomUUID());
}

/** The claim when it was written by an earlier attempt of this very Lambda request, else undefined. */
function ownEarlierClaim(claim: string | undefined): string | undefined {
  const id = requestId();
  return id !== undefined && isClaimOf(claim, id) ? claim : undefined;
}

async function releaseIfLimited(
  store: TaskStore,
  descriptor: TaskFunctionDescriptor | undefined,
  functionName: string,
  executionArn: string,
): Promise<boolean> {
  if (descriptor?.maxConcurrency === undefined || executionArn === '') return false;
  const released = await store.releaseSlot(functionName, executionArn);
  if (released) logger.info('released concurrency slot', { functionName, executionArn });
  return released;
}

/**
 * Sends the record of a terminal task whose delivery this caller has claimed (`token`), then
 * records the outcome in `destinationStatus` — conditional on the claim still being `token`, so
 * a claimant overtaken as stale cannot overwrite the outcome of the one that took over.
 */
async function deliverClaimed(
  store: TaskStore,
  descriptor: TaskFunctionDescriptor,
  item: TaskItem,
  end: ExecutionEnd,
  token: string,
): Promise<TaskItem> {
  const success = item.status === TaskStatus.Succeeded;
  const target = success ? descriptor.onSuccess : descriptor.onFailure;
  let outcome: DestinationStatus = DestinationStatus.None;
  if (target) {
    const failure = success ? undefined : errorOfExecution(end, item.status, item.taskErrorMessage, item.deadline);
    const record = buildDestinationRecord({
      condition: conditionFor(item.status),
      taskId: item.taskId,
      requestId: item.requestId,
      functionArn: descriptor.runnerArn,
      approximateInvokeCount: Number(item.alreadyRetriedTimes ?? 0) + 1,
      source: item.source ?? null,
      requestPayload: parsePayload(item.taskPayload),
      responsePayload: success ? parsePayload(item.returnPayload) : failure,
      ...(item.endedAt ? { timestamp: item.endedAt } : {}),
    });
    try {
      await deliver(target, record, success ? 'success' : 'failure');
      outcome = DestinationStatus.Succeeded;
      logger.info('delivered destination record', {
        functionName: item.functionName,
        taskId: item.taskId,
        condition: record.requestContext.condition,
        destination: target.arn,
      });
    } catch (error) {
      outcome = DestinationStatus.Failed;
      logger.error('could not deliver destination record', {
        functionName: item.functionName,
        taskId: item.taskId,
        destination: target.arn,
        error,
      });
    }
  }
  const recorded = await store.recordDelivery(item, { owner: ownerOf(end), token, outcome });
  if (!recorded.ok) {
    logger.warn('delivery outcome not recorded: the claim was taken over or the task moved on', {
      functionName: item.functionName,
      taskId: item.taskId,
      outcome,
      claim: recorded.current?.deliveryClaim,
      status: recorded.current?.status,
    });
    return recorded.current ?? item;
  }
  return recorded.item;
}

const MAX_ATTEMPTS = 3;

/** Runs the finalize step for one task and one ended execution. Throws only on AWS errors. */
export async function finalizeTask(
  config: ServiceConfig,
  ref: TaskRef,
  end: ExecutionEnd,
  now: () => number = Date.now,
): Promise<FinalizeResult> {
  const store = new TaskStore(config.table);
  const descriptor = await config.registry.find(ref.functionName);
  const fields = { functionName: ref.functionName, taskId: ref.taskId, executionArn: end.executionArn };
  let item = await store.read(ref);
  for (let attempt = 1; ; attempt++) {
    if (!item) {
      logger.warn('finalize: task not found', fields);
      return { action: 'not-found', slotReleased: await releaseIfLimited(store, descriptor, ref.functionName, end.executionArn) };
    }
    if ((item.executionArn ?? '') !== end.executionArn) {
      logger.info('finalize: execution no longer owns the task; ignored', { ...fields, owner: item.executionArn });
      return {
        action: 'stale',
        item,
        slotReleased: await releaseIfLimited(store, descriptor, ref.functionName, end.executionArn),
      };
    }
    if (isTerminal(item.status)) {
      const slotReleased = await releaseIfLimited(store, descriptor, ref.functionName, end.executionArn);
      if (item.destinationStatus !== DestinationStatus.Pending || !descriptor) return { action: 'unchanged', item, slotReleased };
      // Pending: an earlier attempt of this invocation died holding the claim (Lambda retried it
      // under the same request id): send now. Another finalizer may be sending right now: only an
      // abandoned claim is taken over.
      const own = ownEarlierClaim(item[DELIVERY_CLAIM]);
      if (own) {
        logger.info('finalize: an earlier attempt of this invocation claimed the delivery and died; delivering it', {
          ...fields,
          status: item.status,
        });
        return { action: 'redelivered', item: await deliverClaimed(store, descriptor, item, end, own), slotReleased };
      }
      const token = newClaim(now());
      const claimed = await store.claimDelivery(item, {
        owner: ownerOf(end),
        token,
        staleBefore: isoTime(now() - DELIVERY_CLAIM_STALE_MS),
      });
      if (!claimed.ok) {
        logger.info('finalize: the delivery is claimed by another finalizer; left to it', {
          ...fields,
          status: item.status,
          claim: claimed.current?.[DELIVERY_CLAIM],
        });
        return { action: 'unchanged', ...(claimed.current ? { item: claimed.current } : { item }), slotReleased };
      }
      logger.info('finalize: terminal task with an abandoned delivery; delivering it', { ...fields, status: item.status });
      const delivered = await deliverClaimed(store, descriptor, claimed.item, end, token);
      return { action: 'redelivered', item: delivered, slotReleased };
    }

    const nowMs = now();
    const nowIso = isoTime(nowMs);
    const terminal = terminalStatusFor(item, end, nowIso);
    const target = descriptor?.onFailure;
    const error = errorOfExecution(end, terminal, item.taskErrorMessage, item.deadline);
    const setMessage = terminal !== TaskStatus.Stopped && item.taskErrorMessage === undefined;
    const detail =
      terminal === TaskStatus.Stopped ? `execution ${end.status}` : `execution ${end.status}${end.error ? `: ${end.error}` : ''}`;
    // The terminal write claims the delivery in the same write: whoever ends the task sends its record.
    const token = target ? newClaim(nowMs) : undefined;
    const written = await store.transition(item, terminal, {
      from: [item.status],
      owner: ownerOf(end),
      set: {
        endedAt: nowIso,
        destinationStatus: target ? DestinationStatus.Pending : DestinationStatus.None,
        ...(token ? { [DELIVERY_CLAIM]: token } : {}),
        [TABLE.ttlAttribute]: Math.floor(nowMs / 1000) + config.retentionSeconds,
        ...(setMessage ? { taskErrorMessage: error.errorMessage } : {}),
      },
      event: storedEvent(terminal, nowIso, detail),
    });
    if (!written.ok) {
      // Someone (stop, the state machine, another finalizer) changed the task between our read and write.
      if (attempt >= MAX_ATTEMPTS) {
        throw new Error(
          `finalize: task '${ref.taskId}' of function '${ref.functionName}' kept changing; gave up after ${MAX_ATTEMPTS} conditional writes (now ${written.current?.status ?? 'missing'})`,
        );
      }
      item = written.current;
      continue;
    }
    logger.info(`task ${terminal}`, { ...fields, status: terminal, from: item.status, executionStatus: end.status, error: end.error });
    const slotReleased = await releaseIfLimited(store, descriptor, ref.functionName, end.executionArn);
    const delivered = token && descriptor ? await deliverClaimed(store, descriptor, written.item, end, token) : written.item;
    return { action: 'finalized', item: delivered, slotReleased };
  }
}
