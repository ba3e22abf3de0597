/**
 * TaskApi Lambda: `{op, ...}` in, `{ok: true, result}` or `{ok: false, error}` out. It never
 * throws to Lambda, so callers always get a typed error; anything outside the model's hierarchy
 * becomes a logged ServiceError.
 */
import { AsyncTaskError, type TaskApiResponse, toAsyncTaskError } from '../model';
import { serviceConfig } from '../lib/env';
import { log } from '../lib/log';
import { dispatch } from '../lib/task-api';

export async function handler(event: unknown): Promise<TaskApiResponse> {
  const request = (event ?? {}) as { op?: unknown; functionName?: unknown; taskId?: unknown };
  try {
    const result = await dispatch(serviceConfig(), event);
    return { ok: true, result };
  } catch (caught) {
    const error = toAsyncTaskError(caught);
    const fields = {
      op: typeof request.op === 'string' ? request.op : undefined,
      functionName: typeof request.functionName === 'string' ? request.functionName : undefined,
      taskId: typeof request.taskId === 'string' ? request.taskId : undefined,
    };
    if (caught instanceof AsyncTaskError && error.statusCode < 500) {
      log('info', `request rejected: ${error.name}`, { ...fields, error: error.message });
    } else {
      log('error', 'request failed', { ...fields, error: caught });
    }
    return { ok: false, error: error.toJSON() };
  }
}
