/**
 * TaskApi Lambda, reached two ways that dispatch alike:
 * - a direct invoke (`lambda:Invoke`, the SDK's Lambda path and internal callers): `{op, ...}` in,
 *   `{ok: true, result}` or `{ok: false, error}` out;
 * - an API Gateway REST proxy event (the IAM-authorized HTTP API, model HTTP_ROUTES): mapped to the
 *   same request by model `requestFromHttp`, answered with that same body and the status of the
 *   outcome (200, or the typed error's `statusCode`).
 * It never throws to Lambda, so callers always get a typed error; anything outside the model's
 * hierarchy becomes a logged ServiceError. The caller — the IAM principal of an HTTP request,
 * `lambda:Invoke` for a direct invoke — goes with the request to the events it writes.
 */
import {
  type ApiGatewayProxyEvent,
  type ApiGatewayProxyResult,
  AsyncTaskError,
  callerOfIdentity,
  DIRECT_INVOKE_CALLER,
  httpRequestPartsOf,
  isApiGatewayProxyEvent,
  requestFromHttp,
  type TaskApiResponse,
  toAsyncTaskError,
} from '../model';
import { serviceConfig } from '../lib/env';
import { appendTaskKeys, type LambdaContext, logger, startRequest } from '../lib/logger';
import { dispatch, type RequestContext } from '../lib/task-api';

const JSON_HEADERS = { 'content-type': 'application/json' } as const;

/** A request's answer and the HTTP status it stands for (200, or the typed error's `statusCode`). */
interface Outcome {
  readonly response: TaskApiResponse;
  readonly statusCode: number;
}

export async function handler(event: ApiGatewayProxyEvent, context?: LambdaContext): Promise<ApiGatewayProxyResult>;
export async function handler(event: unknown, context?: LambdaContext): Promise<TaskApiResponse>;
export async function handler(event: unknown, context?: LambdaContext): Promise<TaskApiResponse | ApiGatewayProxyResult> {
  startRequest(context);
  if (isApiGatewayProxyEvent(event)) return httpRequest(event);
  return (await run(event, { caller: DIRECT_INVOKE_CALLER })).response;
}

/** An HTTP request: mapped (a refused mapping is answered like any refused request), run, answered with its status. */
async function httpRequest(event: ApiGatewayProxyEvent): Promise<ApiGatewayProxyResult> {
  const caller = callerOfIdentity(event.requestContext.identity);
  logger.appendKeys({
    caller,
    http: `${event.httpMethod} ${event.path}`,
    ...(event.requestContext.requestId ? { apiRequestId: event.requestContext.requestId } : {}),
  });
  let outcome: Outcome;
  try {
    outcome = await run(requestFromHttp(httpRequestPartsOf(event)), { caller });
  } catch (caught) {
    outcome = failure(caught);
  }
  return { statusCode: outcome.statusCode, headers: JSON_HEADERS, body: JSON.stringify(outcome.response) };
}

/** Runs one request; a failure becomes the typed error's wire form, logged. */
async function run(event: unknown, context: RequestContext): Promise<Outcome> {
  const request = (event ?? {}) as { op?: unknown; functionName?: unknown; taskId?: unknown };
  appendTaskKeys(request);
  if (typeof request.op === 'string') logger.appendKeys({ op: request.op });
  try {
    const result = await dispatch(serviceConfig(), event, context);
    return { response: { ok: true, result }, statusCode: 200 };
  } catch (caught) {
    return failure(caught);
  }
}

function failure(caught: unknown): Outcome {
  const error = toAsyncTaskError(caught);
  if (caught instanceof AsyncTaskError && error.statusCode < 500) {
    logger.info(`request rejected: ${error.name}`, { error: error.message });
  } else {
    logger.error('request failed', { error: caught });
  }
  return { response: { ok: false, error: error.toJSON() }, statusCode: error.statusCode };
}
