/**
 * The reconciler's pass (docs/design.md, "The scheduled reconciler"): finds active tasks whose
 * execution ended without a final write (a lost status-change event, a finalizer that gave up),
 * finalizes them, restarts `Enqueued` tasks whose execution never started, and prunes
 * concurrency slots still held by ended executions.
 */
import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import {
  ACTIVE_STATUSES,
  executionArn as arnOf,
  executionName,
  isoTime,
  statusKey,
  TABLE,
  type TaskFunctionDescriptor,
  type TaskItem,
  TaskStatus,
} from '../model';
import type { ServiceConfig } from './env';
import { aws } from './env';
import { describeEnd, startExecution } from './executions';
import { finalizeTask, releaseSlot } from './finalize';
import { log } from './log';

/** Only tasks accepted longer ago than this are looked at (their execution has had time to write). */
export const RECONCILE_MIN_AGE_MS = 60_000;
/** Query pages read per function and status in one pass. */
export const RECONCILE_MAX_PAGES = 5;
export const RECONCILE_PAGE_SIZE = 100;
/** Slot holders checked per function in one pass. */
export const RECONCILE_MAX_HOLDERS = 100;

export interface ReconcileSummary {
  /** Active tasks looked at. */
  checked: number;
  /** Whose execution still runs. */
  running: number;
  /** Finalized now (their execution had ended). */
  finalized: number;
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
  const end = await describeEnd(item.executionArn);
  if (!end) {
    summary.running++;
    return;
  }
  if (end.status === 'MISSING' && item.status === TaskStatus.Enqueued) {
    if (item.executionArn !== arnOf(descriptor.stateMachineArn, executionName(item.requestId))) {
      log('warn', 'reconcile: Enqueued task names an execution of another state machine; left alone', fields);
      return;
    }
    await startExecution(descriptor, item);
    summary.restarted++;
    log('info', 'reconcile: started the missing execution of an Enqueued task', fields);
    return;
  }
  const result = await finalizeTask(config, { functionName: item.functionName, taskId: item.taskId }, end);
  if (result.action === 'finalized' || result.action === 'redelivered') summary.finalized++;
  log('info', `reconcile: ${result.action}`, { ...fields, executionStatus: end.status, status: result.item?.status });
}

async function reconcileStatus(
  config: ServiceConfig,
  descriptor: TaskFunctionDescriptor,
  status: TaskStatus,
  cutoff: string,
  summary: ReconcileSummary,
): Promise<void> {
  let startKey: Record<string, unknown> | undefined;
  for (let page = 0; page < RECONCILE_MAX_PAGES; page++) {
    const result = await aws.ddb().send(
      new QueryCommand({
        TableName: config.table,
        IndexName: TABLE.byStatusIndex,
        KeyConditionExpression: `#${TABLE.statusKey} = :statusKey AND #${TABLE.listKey} < :cutoff`,
        ExpressionAttributeNames: { [`#${TABLE.statusKey}`]: TABLE.statusKey, [`#${TABLE.listKey}`]: TABLE.listKey },
        ExpressionAttributeValues: { ':statusKey': statusKey(descriptor.name, status), ':cutoff': cutoff },
        Limit: RECONCILE_PAGE_SIZE,
        ...(startKey ? { ExclusiveStartKey: startKey } : {}),
      }),
    );
    for (const item of (result.Items ?? []) as TaskItem[]) {
      try {
        await reconcileTask(config, descriptor, item, summary);
      } catch (error) {
        summary.errors++;
        log('error', 'reconcile: task failed', { functionName: item.functionName, taskId: item.taskId, error });
      }
    }
    if (!result.LastEvaluatedKey) return;
    startKey = result.LastEvaluatedKey;
  }
}

async function pruneSlots(config: ServiceConfig, descriptor: TaskFunctionDescriptor, summary: ReconcileSummary): Promise<void> {
  const result = await aws.ddb().send(
    new GetCommand({
      TableName: config.table,
      Key: { [TABLE.partitionKey]: descriptor.name, [TABLE.sortKey]: TABLE.slotsSortKey },
      ConsistentRead: true,
    }),
  );
  const holders = result.Item?.[TABLE.slotHolders] as Iterable<string> | undefined;
  if (!holders) return;
  for (const holder of [...holders].slice(0, RECONCILE_MAX_HOLDERS)) {
    try {
      const end = await describeEnd(holder);
      if (end && (await releaseSlot(config, descriptor.name, holder))) {
        summary.slotsReleased++;
        log('info', 'reconcile: released the slot of an ended execution', {
          functionName: descriptor.name,
          executionArn: holder,
          executionStatus: end.status,
        });
      }
    } catch (error) {
      summary.errors++;
      log('error', 'reconcile: slot holder check failed', { functionName: descriptor.name, executionArn: holder, error });
    }
  }
}

export async function reconcile(config: ServiceConfig, now: number = Date.now()): Promise<ReconcileSummary> {
  const summary: ReconcileSummary = { checked: 0, running: 0, finalized: 0, restarted: 0, slotsReleased: 0, errors: 0 };
  const cutoff = isoTime(now - RECONCILE_MIN_AGE_MS);
  for (const descriptor of await config.registry.list()) {
    for (const status of ACTIVE_STATUSES) {
      try {
        await reconcileStatus(config, descriptor, status, cutoff, summary);
      } catch (error) {
        summary.errors++;
        log('error', 'reconcile: query failed', { functionName: descriptor.name, status, error });
      }
    }
    if (descriptor.maxConcurrency !== undefined) {
      try {
        await pruneSlots(config, descriptor, summary);
      } catch (error) {
        summary.errors++;
        log('error', 'reconcile: reading slots failed', { functionName: descriptor.name, error });
      }
    }
  }
  return summary;
}
