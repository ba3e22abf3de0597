/**
 * The reconciler's pass (docs/design.md, "The scheduled reconciler"): finds active tasks whose
 * execution ended without a final write (a lost status-change event, a finalizer that gave up),
 * finalizes them, restarts `Enqueued` tasks whose execution never started, delivers the records
 * of terminal tasks whose delivery was claimed and abandoned (a finalizer that died between its
 * terminal write and the send), and prunes concurrency slots still held by ended executions.
 */
import {
  ACTIVE_STATUSES,
  executionArn as arnOf,
  executionName,
  isoTime,
  type TaskFunctionDescriptor,
  type TaskItem,
  TaskStatus,
  isEconomyOwner,
  DestinationStatus,
  ECONOMY_ENDING_MARGIN_SECONDS,
  economyActiveBoundMs,
  ECONOMY_SWEEP_WINDOW_MS,
  ExecutionError,
} from '../model';
import type { ServiceConfig } from './env';
import { LIST_KEY_HIGH } from './list-plan';
import { describeEnd, startExecution } from './executions';
import { type ExecutionEnd, finalizeTask } from './finalize';
import { logger } from './logger';
import { TaskStore } from './task-store';
import { type Condition, DELIVERY_CLAIM_STALE_MS, deliveryUnclaimed } from './task-writes';

/** Only tasks accepted longer ago than this are looked at (their execution has had time to write). */
export const RECONCILE_MIN_AGE_MS = 60_000;
/** Query pages read per function and status in one pass. */
export const RECONCILE_MAX_PAGES = 5;
export const RECONCILE_PAGE_SIZE = 100;
/** Slot holders checked per function in one pass. */
export const RECONCILE_MAX_HOLDERS = 100;

/**
 * Terminal statuses whose delivery the finalizer owns (Succeeded's is the state machine's:
 * MarkSucceeded writes Succeeded or None, never Pending, so there is nothing to sweep).
 */
export const SWEPT_TERMINAL_STATUSES: readonly TaskStatus[] = [
  TaskStatus.Failed,
  TaskStatus.Stopped,
  TaskStatus.Expired,
  TaskStatus.Invalid,
];

export interface ReconcileSummary {
  /** Active tasks looked at. */
  checked: number;
  /** Whose execution still runs. */
  running: number;
  /** Finalized now (their execution had ended). */
  finalized: number;
  /** Terminal tasks whose abandoned Pending delivery was made now. */
  redelivered: number;
  /** Enqueued tasks whose execution did not exist, started now. */
  restarted: number;
  /** Slot holders removed because their execution had ended. */
  slotsReleased: number;
  /** Tasks or holders that failed to reconcile (logged; retried next pass). */
  errors: number;
}

async function reconcileTask(
  config: ServiceConfig,
  descriptor: TaskFunctionDescriptor,
  item: TaskItem,
  summary: ReconcileSummary,
): Promise<void> {
  summary.checked++;
  const fields = { functionName: item.functionName, taskId: item.taskId, executionArn: item.executionArn };
  if (!item.executionArn) return;
  // Economy tasks are in no ByStatus; one that gets here has no execution to describe.
  if (isEconomyOwner(item.executionArn)) return;
  const end = await describeEnd(item.executionArn);
  if (!end) {
    summary.running++;
    return;
  }
  if (end.status === 'MISSING' && item.status === TaskStatus.Enqueued) {
    if (item.executionArn !== arnOf(descriptor.stateMachineArn, executionName(item.requestId))) {
      logger.warn('reconcile: Enqueued task names an execution of another state machine; left alone', fields);
      return;
    }
    await startExecution(descriptor, item);
    summary.restarted++;
    logger.info('reconcile: started the missing execution of an Enqueued task', fields);
    return;
  }
  const result = await finalizeTask(config, { functionName: item.functionName, taskId: item.taskId }, end);
  if (result.action === 'finalized' || result.action === 'redelivered') summary.finalized++;
  logger.info(`reconcile: ${result.action}`, { ...fields, executionStatus: end.status, status: result.item?.status });
}

/** A terminal task with an abandoned delivery: the finalize step takes the claim over and sends. */
async function redeliver(config: ServiceConfig, item: TaskItem, summary: ReconcileSummary): Promise<void> {
  const fields = { functionName: item.functionName, taskId: item.taskId, executionArn: item.executionArn };
  let end: ExecutionEnd | undefined = { executionArn: '', status: 'MISSING' };
  if (item.executionArn) {
    end = await describeEnd(item.executionArn);
    // Ended tasks whose execution still runs are being finalized by it; look again next pass.
    if (!end) return;
  }
  const result = await finalizeTask(config, { functionName: item.functionName, taskId: item.taskId }, end);
  if (result.action === 'redelivered') summary.redelivered++;
  logger.info(`reconcile: pending delivery ${result.action}`, {
    ...fields,
    status: item.status,
    destinationStatus: result.item?.destinationStatus,
  });
}

async function reconcileStatus(
  config: ServiceConfig,
  descriptor: TaskFunctionDescriptor,
  status: TaskStatus,
  query: { before: string; filter?: Condition<unknown>; newestFirst?: boolean },
  each: (item: TaskItem) => Promise<void>,
  summary: ReconcileSummary,
): Promise<void> {
  const store = new TaskStore(config.table);
  let startKey: Record<string, unknown> | undefined;
  for (let page = 0; page < RECONCILE_MAX_PAGES; page++) {
    const result = await store.queryStatus(descriptor.name, status, {
      ...query,
      limit: RECONCILE_PAGE_SIZE,
      ...(startKey ? { startKey } : {}),
    });
    for (const item of result.items) {
      try {
        await each(item);
      } catch (error) {
        summary.errors++;
        logger.error('reconcile: task failed', { functionName: item.functionName, taskId: item.taskId, error });
      }
    }
    if (!result.lastKey) return;
    startKey = result.lastKey;
  }
}

async function pruneSlots(config: ServiceConfig, descriptor: TaskFunctionDescriptor, summary: ReconcileSummary): Promise<void> {
  const store = new TaskStore(config.table);
  const holders = await store.slotHolders(descriptor.name);
  for (const holder of holders.slice(0, RECONCILE_MAX_HOLDERS)) {
    try {
      const end = await describeEnd(holder);
      if (end && (await store.releaseSlot(descriptor.name, holder))) {
        summary.slotsReleased++;
        logger.info('reconcile: released the slot of an ended execution', {
          functionName: descriptor.name,
          executionArn: holder,
          executionStatus: end.status,
        });
      }
    } catch (error) {
      summary.errors++;
      logger.error('reconcile: slot holder check failed', { functionName: descriptor.name, executionArn: holder, error });
    }
  }
}

/**
 * Economy tasks (docs/design.md, "Orchestration modes") have no execution to describe: Lambda's
 * asynchronous invocation gives each at most `maxEventAge` to start and `timeout` to run, so one
 * still active `maxEventAge + timeout + 5 min` after its start has lost its ending (an invocation
 * the submit never made, an event Lambda dropped, a destination record never delivered) and is
 * finalized — Stopped when Stopping, Expired when it never started, else Failed; one whose
 * delivery was claimed and abandoned is delivered. After a switch back to standard, the bound is
 * the widest an economy task of the function could have had (`economyActiveBoundMs`). Each pass
 * reads the tasks whose bound passed in the last 15 minutes (ByTimeEconomy keys, then the items): every task is looked at about three
 * times, once its bound has passed, at 0.5 RRU each.
 */
async function reconcileEconomy(
  config: ServiceConfig,
  descriptor: TaskFunctionDescriptor,
  now: number,
  summary: ReconcileSummary,
): Promise<void> {
  const boundMs = economyActiveBoundMs(descriptor);
  const range = { from: isoTime(now - boundMs - ECONOMY_SWEEP_WINDOW_MS), to: `${isoTime(now - boundMs)}${LIST_KEY_HIGH}` };
  const staleBefore = isoTime(now - DELIVERY_CLAIM_STALE_MS);
  const store = new TaskStore(config.table);
  let startKey: Record<string, unknown> | undefined;
  for (let page = 0; page < RECONCILE_MAX_PAGES; page++) {
    const result = await store.queryEconomyWindow(descriptor.name, {
      range,
      ascending: true,
      limit: RECONCILE_PAGE_SIZE,
      ...(startKey ? { startKey } : {}),
    });
    const items = result.items;
    for (const item of items) {
      if (!isEconomyOwner(item.executionArn)) continue;
      const ref = { functionName: item.functionName, taskId: item.taskId };
      const owner = item.executionArn ?? '';
      try {
        if ((ACTIVE_STATUSES as readonly string[]).includes(item.status)) {
          summary.checked++;
          const result = await finalizeTask(config, ref, {
            executionArn: owner,
            status: 'TIMED_OUT',
            ...(item.status === TaskStatus.Enqueued ? { error: ExecutionError.Expired } : {}),
            cause: `the task did not end within maxEventAge + timeout + ${ECONOMY_ENDING_MARGIN_SECONDS / 60} minutes of its start (its asynchronous invocation's ending was lost)`,
          });
          if (result.action === 'finalized') summary.finalized++;
          logger.info(`reconcile (economy): ${result.action}`, { ...ref, from: item.status, status: result.item?.status });
        } else if (
          item.destinationStatus === DestinationStatus.Pending &&
          (item.deliveryClaim === undefined || item.deliveryClaim < staleBefore)
        ) {
          const result = await finalizeTask(config, ref, { executionArn: owner, status: 'MISSING' });
          if (result.action === 'redelivered') summary.redelivered++;
          logger.info(`reconcile (economy): pending delivery ${result.action}`, { ...ref, status: item.status });
        }
      } catch (error) {
        summary.errors++;
        logger.error('reconcile (economy): task failed', { ...ref, error });
      }
    }
    if (!result.lastKey) return;
    startKey = result.lastKey;
  }
}

export async function reconcile(config: ServiceConfig, now: number = Date.now()): Promise<ReconcileSummary> {
  const summary: ReconcileSummary = { checked: 0, running: 0, finalized: 0, redelivered: 0, restarted: 0, slotsReleased: 0, errors: 0 };
  const cutoff = isoTime(now - RECONCILE_MIN_AGE_MS);
  // Pending and unclaimed (written before claims existed) or claimed longer ago than any
  // claimant lives; the newest first, since an abandoned delivery is a recent failure.
  const abandoned = deliveryUnclaimed<unknown>(isoTime(now - DELIVERY_CLAIM_STALE_MS), (text) => text);
  for (const descriptor of await config.registry.list()) {
    // Every function: a standard one may have economy tasks from before a switch back, which
    // finish under their mode (none: one empty Query).
    try {
      await reconcileEconomy(config, descriptor, now, summary);
    } catch (error) {
      summary.errors++;
      logger.error('reconcile (economy): query failed', { functionName: descriptor.name, error });
    }
    for (const status of ACTIVE_STATUSES) {
      try {
        await reconcileStatus(
          config,
          descriptor,
          status,
          { before: cutoff },
          (item) => reconcileTask(config, descriptor, item, summary),
          summary,
        );
      } catch (error) {
        summary.errors++;
        logger.error('reconcile: query failed', { functionName: descriptor.name, status, error });
      }
    }
    for (const status of SWEPT_TERMINAL_STATUSES) {
      try {
        await reconcileStatus(
          config,
          descriptor,
          status,
          { before: cutoff, filter: abandoned, newestFirst: true },
          (item) => redeliver(config, item, summary),
          summary,
        );
      } catch (error) {
        summary.errors++;
        logger.error('reconcile: pending-delivery query failed', { functionName: descriptor.name, status, error });
      }
    }
    if (descriptor.maxConcurrency !== undefined) {
      try {
        await pruneSlots(config, descriptor, summary);
      } catch (error) {
        summary.errors++;
        logger.error('reconcile: reading slots failed', { functionName: descriptor.name, error });
      }
    }
  }
  return summary;
}
