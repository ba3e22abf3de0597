/**
 * The one Logger of the service's Lambdas (Powertools for AWS Lambda): a JSON object per line,
 * level from the environment (`AWS_LAMBDA_LOG_LEVEL` of Lambda's advanced logging controls wins,
 * then `POWERTOOLS_LOG_LEVEL` / `LOG_LEVEL`, default INFO), the Lambda request id, and the task's
 * `functionName` / `taskId` on every line of a request that is about one task, so CloudWatch
 * Logs Insights can follow a task across TaskApi, finalizer and reconciler.
 */
import { Logger } from '@aws-lambda-powertools/logger';

export const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME || 'asynctask' });

/** What Lambda passes as the handler's second argument (the part the Logger reads). */
export type LambdaContext = Parameters<Logger['addContext']>[0];

/**
 * Starts a request: drops the keys the previous request appended (the Logger outlives it in a
 * warm container) and adds the request id and function of `context` when there is one.
 */
export function startRequest(context?: LambdaContext): void {
  logger.resetKeys();
  currentRequestId = context?.awsRequestId || undefined;
  if (currentRequestId) logger.addContext(context as LambdaContext);
}

let currentRequestId: string | undefined;

/**
 * The Lambda request id of the request being handled (`startRequest`), or undefined outside a
 * handler. Lambda retries an asynchronous invocation under the same request id, so a write that
 * names it (a delivery claim) can be recognised by the retry of an attempt that died.
 */
export function requestId(): string | undefined {
  return currentRequestId;
}

/** Appends the task's keys to every following line of this request. */
export function appendTaskKeys(task: { readonly functionName?: unknown; readonly taskId?: unknown }): void {
  logger.appendKeys({
    ...(typeof task.functionName === 'string' ? { functionName: task.functionName } : {}),
    ...(typeof task.taskId === 'string' ? { taskId: task.taskId } : {}),
  });
}
