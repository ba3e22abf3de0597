/**
 * TaskApi Lambda: `{op, ...}` in, `{ok: true, result}` or `{ok: false, error}` out. It never
 * throws to Lambda, so callers always get a typed error; anything outside the model's hierarchy
 * becomes a logged ServiceError.
 */
import { AsyncTaskError, type TaskApiResponse, toAsyncTaskError } from '../model';
import { serviceConfig } from '../lib/env';
import { appendTaskKeys, type LambdaContext, logger, startRequest } from '../lib/logger';
import { dispatch } from '../lib/task-api';

export async function handler(event: unknown, context?: LambdaContext): Promise<TaskApiResponse> {
  const request = (event ?? {}) as { op?: unknown; functionName?: unknown; taskId?: unknown };
  startRequest(context);
  appendTaskKeys(request);
  if (typeof request.op === 'string') logger.appendKeys({ op: request.op });
  try {
    const result = await dispatch(serviceConfig(), event);
    return { ok: true, result };
  } catch (caught) {
    const error = toAsyncTaskError(caught);
    if (caught instanceof AsyncTaskError && error.statusCode < 500) {
      logger.info(`request rejected: ${error.name}`, { error: error.message });
    } else {
      logger.error('request failed', { error: caught });
    }
    return { ok: false, error: error.toJSON() };
  }
}
