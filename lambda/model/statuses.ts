/**
 * Task statuses (Function Compute's names) and the transitions allowed between them.
 * Every status write in the system — TaskApi, state machine, finalizer, container helper —
 * is a conditional update whose allowed prior statuses come from TRANSITIONS.
 */

export const TaskStatus = {
  Enqueued: 'Enqueued',
  Dequeued: 'Dequeued',
  Running: 'Running',
  Retrying: 'Retrying',
  Succeeded: 'Succeeded',
  Failed: 'Failed',
  Stopping: 'Stopping',
  Stopped: 'Stopped',
  Expired: 'Expired',
  Invalid: 'Invalid',
} as const;

export type TaskStatus = (typeof TaskStatus)[keyof typeof TaskStatus];

export const ALL_STATUSES: readonly TaskStatus[] = Object.values(TaskStatus);

/** Statuses a task never leaves on its own (only `retry` moves some of them back to Enqueued). */
export const TERMINAL_STATUSES: readonly TaskStatus[] = [
  TaskStatus.Succeeded,
  TaskStatus.Failed,
  TaskStatus.Stopped,
  TaskStatus.Expired,
  TaskStatus.Invalid,
];

/** Statuses from which `stop` is accepted. */
export const STOPPABLE_STATUSES: readonly TaskStatus[] = [
  TaskStatus.Enqueued,
  TaskStatus.Dequeued,
  TaskStatus.Running,
  TaskStatus.Retrying,
];

/** Statuses from which `retry` is accepted (a new attempt under the same id). */
export const RETRYABLE_STATUSES: readonly TaskStatus[] = [TaskStatus.Failed, TaskStatus.Stopped, TaskStatus.Expired];

/** Statuses an execution still owns: the reconciler looks at these. */
export const ACTIVE_STATUSES: readonly TaskStatus[] = [
  TaskStatus.Enqueued,
  TaskStatus.Dequeued,
  TaskStatus.Running,
  TaskStatus.Retrying,
  TaskStatus.Stopping,
];

/**
 * Allowed transitions: `TRANSITIONS[to]` lists the statuses a task may be in for a write of `to`.
 * Keyed by target because a conditional write asks "may I move to X from what is stored?".
 * Beyond DESIGN §1's diagram: Enqueued/Retrying → Running directly when the function has no
 * `maxConcurrency` (there is no slot to acquire, so no Dequeued step), and Enqueued/Retrying →
 * Expired/Invalid, Running → Expired is not allowed (a started attempt is never expired).
 */
export const TRANSITIONS: Readonly<Record<TaskStatus, readonly TaskStatus[]>> = {
  Enqueued: ['Failed', 'Stopped', 'Expired'],
  Dequeued: ['Enqueued'],
  Running: ['Enqueued', 'Dequeued', 'Retrying'],
  Retrying: ['Enqueued', 'Dequeued', 'Running', 'Retrying'],
  Succeeded: ['Running'],
  Failed: ['Enqueued', 'Dequeued', 'Running', 'Retrying'],
  Stopping: ['Enqueued', 'Dequeued', 'Running', 'Retrying'],
  Stopped: ['Stopping', 'Enqueued', 'Dequeued', 'Running', 'Retrying'],
  Expired: ['Enqueued', 'Dequeued', 'Retrying'],
  Invalid: ['Enqueued', 'Dequeued', 'Running', 'Retrying'],
};

export function isTaskStatus(value: unknown): value is TaskStatus {
  return typeof value === 'string' && (ALL_STATUSES as readonly string[]).includes(value);
}

export function isTerminal(status: TaskStatus): boolean {
  return TERMINAL_STATUSES.includes(status);
}

export function canTransition(from: TaskStatus, to: TaskStatus): boolean {
  return TRANSITIONS[to].includes(from);
}
