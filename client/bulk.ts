/**
 * Bulk stop and retry: every task of a function matching a list filter, in two steps. `planBulk`
 * is the dry run — it lists the matches and keeps the ids the action allows (STOPPABLE_STATUSES,
 * RETRYABLE_STATUSES), a snapshot; `runBulk` then acts on that snapshot, each task at most once
 * (a retried task that reappears in a later list is never touched again), a few at a time. A
 * task the service refuses (it ended meanwhile, say) is recorded in the summary; a service that
 * cannot be reached stops the run.
 */
import {
  AsyncTaskError,
  InvalidArgumentError,
  LIST_LIMIT,
  RETRYABLE_STATUSES,
  STOPPABLE_STATUSES,
  ServiceError,
  type TaskStatus,
  validateTaskId,
} from '../lambda/model';
import type { AsyncTaskClient, ListOptions } from './client';
import { TaskApiNotFoundError } from './errors';

export type BulkAction = 'stop' | 'retry';
export const BULK_ACTIONS: readonly BulkAction[] = ['stop', 'retry'];
/** Bounds of `maxTasks`: how many tasks one plan may hold. */
export const BULK_MAX_TASKS = { min: 1, max: 100_000, default: 10_000 } as const;
/** Bounds of `concurrency`: TaskApi calls in flight at once. */
export const BULK_CONCURRENCY = { min: 1, max: 32, default: 4 } as const;

/** The statuses from which each action is accepted (lambda/model/statuses.ts). */
export const BULK_ALLOWED_STATUSES: Readonly<Record<BulkAction, readonly TaskStatus[]>> = {
  stop: STOPPABLE_STATUSES,
  retry: RETRYABLE_STATUSES,
};

/** The list filter of a bulk action: a list's options without function, page and token. */
export type BulkFilter = Omit<ListOptions, 'functionName' | 'nextToken' | 'limit'>;

export interface BulkPlan {
  readonly functionName: string;
  readonly action: BulkAction;
  readonly filter: BulkFilter;
  /** The tasks the action applies to: unique, in list order. */
  readonly taskIds: readonly string[];
  /** Tasks that matched the filter but are not in a status the action allows. */
  readonly ineligible: number;
  /** More than `maxTasks` tasks were eligible; listing stopped there. */
  readonly truncated: boolean;
  /** Epoch ms. */
  readonly createdAt: number;
}

export interface PlanBulkOptions {
  readonly functionName: string;
  readonly action: BulkAction;
  /** @default - every task of the function */
  readonly filter?: BulkFilter;
  /** Most tasks in the plan, 1–100000. @default 10000 */
  readonly maxTasks?: number;
}

export interface BulkProgress {
  readonly total: number;
  readonly done: number;
  readonly succeeded: number;
  readonly refused: number;
}

export interface BulkSummary {
  readonly functionName: string;
  readonly action: BulkAction;
  readonly total: number;
  readonly succeeded: readonly string[];
  readonly refused: ReadonlyArray<{ readonly taskId: string; readonly error: { readonly name: string; readonly message: string } }>;
  readonly durationMs: number;
  /** True when the signal aborted the run before every task was attempted. */
  readonly aborted: boolean;
  /** Tasks never attempted (the run was aborted or stopped by a service failure). */
  readonly skipped: readonly string[];
  /** Tasks whose call failed with a service error: whether the service acted is not known (never repeated). */
  readonly failed: ReadonlyArray<{ readonly taskId: string; readonly error: { readonly name: string; readonly message: string } }>;
}

export interface RunBulkOptions {
  /** TaskApi calls in flight at once, 1–32. @default 4 */
  readonly concurrency?: number;
  /** Called once before the first call and after each task. */
  readonly onProgress?: (progress: BulkProgress) => void;
  /** Aborting stops taking new tasks; calls in flight finish and the summary says what was skipped. */
  readonly signal?: AbortSignal;
}

/** What bulk actions need of the SDK client. */
export type BulkClient = Pick<AsyncTaskClient, 'pages' | 'stop' | 'retry'>;

function checkAction(action: unknown): BulkAction {
  if (!BULK_ACTIONS.includes(action as BulkAction)) {
    throw new InvalidArgumentError(`action must be 'stop' or 'retry' (given ${JSON.stringify(action) ?? 'nothing'})`);
  }
  return action as BulkAction;
}

function checkBound(name: string, value: number, bound: { readonly min: number; readonly max: number }): void {
  if (!Number.isInteger(value) || value < bound.min || value > bound.max) {
    throw new InvalidArgumentError(`${name} must be an integer between ${bound.min} and ${bound.max} inclusive (given ${String(value)})`);
  }
}

/**
 * The dry run: lists the function's tasks matching `filter` (page after page) and keeps the ids
 * of those the action allows, unique, in list order, up to `maxTasks`.
 */
export async function planBulk(client: BulkClient, options: PlanBulkOptions): Promise<BulkPlan> {
  const action = checkAction(options.action);
  const maxTasks = options.maxTasks ?? BULK_MAX_TASKS.default;
  checkBound('maxTasks', maxTasks, BULK_MAX_TASKS);
  const createdAt = Date.now();
  // Whatever a caller slipped in, the plan pages through the whole filter itself.
  const { functionName: _f, nextToken: _n, limit: _l, ...filter } = (options.filter ?? {}) as ListOptions;
  const allowed = BULK_ALLOWED_STATUSES[action];
  const seen = new Set<string>();
  const taskIds: string[] = [];
  let ineligible = 0;
  let truncated = false;
  reading: for await (const page of client.pages({ ...filter, functionName: options.functionName, limit: LIST_LIMIT.max })) {
    for (const task of page.tasks) {
      if (seen.has(task.taskId)) continue;
      seen.add(task.taskId);
      if (!allowed.includes(task.status)) {
        ineligible++;
        continue;
      }
      if (taskIds.length >= maxTasks) {
        truncated = true;
        break reading;
      }
      taskIds.push(task.taskId);
    }
  }
  return { functionName: options.functionName, action, filter, taskIds, ineligible, truncated, createdAt };
}

/** A failure that is about the service, not the task: the run cannot go on. */
function isFatal(error: unknown): boolean {
  return !(error instanceof AsyncTaskError) || error instanceof TaskApiNotFoundError || error.statusCode >= 500;
}

/**
 * Runs `plan`: `concurrency` workers take the plan's ids in order, each id once, and stop or
 * retry it. Refusals are summarised; a ServiceError (or anything outside the model's errors)
 * stops the run — no new task is taken, the calls in flight finish — and rejects with a
 * ServiceError whose details hold the summary so far. The plan is checked first (it may come
 * from a page): action, function name, ids.
 */
export async function runBulk(client: BulkClient, plan: BulkPlan, options: RunBulkOptions = {}): Promise<BulkSummary> {
  const action = checkAction(plan?.action);
  if (typeof plan.functionName !== 'string' || plan.functionName === '') {
    throw new InvalidArgumentError(`the plan's functionName must be a non-empty string (given ${JSON.stringify(plan.functionName)})`);
  }
  if (!Array.isArray(plan.taskIds)) {
    throw new InvalidArgumentError(`the plan's taskIds must be an array of task ids (given ${typeof plan.taskIds})`);
  }
  checkBound("the plan's number of tasks", plan.taskIds.length, { min: 0, max: BULK_MAX_TASKS.max });
  for (const id of plan.taskIds) validateTaskId(id);
  const concurrency = options.concurrency ?? BULK_CONCURRENCY.default;
  checkBound('concurrency', concurrency, BULK_CONCURRENCY);

  const started = Date.now();
  // At most once: a repeated id in the plan is one task.
  const ids = [...new Set(plan.taskIds)];
  const succeeded: string[] = [];
  const refused: Array<{ taskId: string; error: { name: string; message: string } }> = [];
  const failed: Array<{ taskId: string; error: { name: string; message: string } }> = [];
  const attempted = new Set<string>();
  let next = 0;
  let fatal: unknown;
  const progress = (): void =>
    options.onProgress?.({
      total: ids.length,
      done: succeeded.length + refused.length,
      succeeded: succeeded.length,
      refused: refused.length,
    });
  const act = (taskId: string) => (action === 'stop' ? client.stop(plan.functionName, taskId) : client.retry(plan.functionName, taskId));

  const worker = async (): Promise<void> => {
    while (fatal === undefined && !options.signal?.aborted && next < ids.length) {
      const taskId = ids[next++];
      attempted.add(taskId);
      try {
        await act(taskId);
        succeeded.push(taskId);
      } catch (error) {
        const e = error instanceof Error ? error : new Error(String(error));
        if (isFatal(error)) {
          fatal ??= error;
          failed.push({ taskId, error: { name: e.name, message: e.message } });
          return;
        }
        refused.push({ taskId, error: { name: e.name, message: e.message } });
      }
      progress();
    }
  };
  progress();
  await Promise.all(Array.from({ length: Math.min(concurrency, Math.max(ids.length, 1)) }, worker));

  const summary: BulkSummary = {
    functionName: plan.functionName,
    action,
    total: ids.length,
    succeeded,
    refused,
    durationMs: Date.now() - started,
    aborted: fatal === undefined && attempted.size < ids.length,
    skipped: ids.filter((id) => !attempted.has(id)),
    failed,
  };
  if (fatal !== undefined) {
    const cause = fatal as Error;
    const what = cause instanceof Error ? (cause.message ? `${cause.name}: ${cause.message}` : cause.name) : String(cause);
    throw new ServiceError(
      `bulk ${action} of function '${plan.functionName}' stopped after ${attempted.size} of ${ids.length} task(s) (${succeeded.length} done, ${refused.length} refused, ${failed.length} failed, ${summary.skipped.length} not attempted): ${what}`,
      { cause: fatal, details: { summary } },
    );
  }
  return summary;
}
