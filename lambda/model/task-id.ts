/** The task id rule (Function Compute's): it is the dedup key, so it is checked everywhere the same way. */
import { randomUUID } from 'node:crypto';
import { InvalidTaskIdError } from './errors';
import { TRIGGER_TASK_ID_PREFIXES } from './trigger';

export const TASK_ID_PATTERN = /^[A-Za-z_][A-Za-z0-9_-]{0,127}$/;
export const TASK_ID_MAX_LENGTH = 128;
export const TASK_ID_RULE = '1-128 characters; the first a letter or underscore, the rest letters, digits, underscores or hyphens';

/**
 * `validateTaskId`, and not in a trigger's namespace: the id of a task being created by a caller
 * (submit, a dead letter's resubmit). Throws InvalidTaskIdError saying which trigger owns the prefix.
 */
export function validateNewTaskId(taskId: unknown): string {
  const id = validateTaskId(taskId);
  const owner = (Object.entries(TRIGGER_TASK_ID_PREFIXES) as Array<[string, string]>).find(([, prefix]) => id.startsWith(prefix));
  if (owner) {
    const [trigger, prefix] = owner;
    throw new InvalidTaskIdError(
      `task id '${id}' is reserved: ids starting with '${prefix}' are made by the ${trigger === 'kafka' ? 'Kafka' : 'SQS'} trigger, one per record, ` +
        `and a task submitted under one would make the trigger skip that record; choose an id that does not start with ` +
        `${Object.values(TRIGGER_TASK_ID_PREFIXES)
          .map((p) => `'${p}'`)
          .join(' or ')}`,
      { details: { taskId: id, rule: TASK_ID_RULE } },
    );
  }
  return id;
}

/** Throws InvalidTaskIdError naming the rule and the value given. */
export function validateTaskId(taskId: unknown): string {
  if (typeof taskId !== 'string' || !TASK_ID_PATTERN.test(taskId)) {
    const shown = typeof taskId === 'string' ? `'${taskId.length > 140 ? `${taskId.slice(0, 140)}…` : taskId}'` : String(taskId);
    const why =
      typeof taskId !== 'string'
        ? 'it is not a string'
        : taskId.length === 0
          ? 'it is empty'
          : taskId.length > TASK_ID_MAX_LENGTH
            ? `it is ${taskId.length} characters long`
            : !/^[A-Za-z_]/.test(taskId)
              ? `it starts with '${taskId[0]}'`
              : `it contains '${[...taskId].find((c) => !/[A-Za-z0-9_-]/.test(c))}'`;
    throw new InvalidTaskIdError(`invalid task id ${shown}: ${why}; a task id must be ${TASK_ID_RULE}`, {
      details: { taskId, rule: TASK_ID_RULE },
    });
  }
  return taskId;
}

/** A generated id for callers that give none: valid under the rule and unique. */
export function generateTaskId(): string {
  return `t_${randomUUID().replace(/-/g, '')}`;
}
