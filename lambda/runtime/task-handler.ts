/**
 * The handler wrapper of economy-mode task functions (docs/design.md, "Orchestration modes"):
 *
 *     import { taskHandler } from 'asynctask/lambda/runtime/task-handler';
 *     export const handler = taskHandler(async (payload) => ({ rows: await etl(payload) }));
 *
 * Lambda invokes the function asynchronously with `{asynctask: envelope, payload}`. At each
 * attempt the wrapper writes `Running` (owner AND Enqueued|Retrying: a stopped, retried or ended
 * task is not run), calls the handler with the payload, then writes `Succeeded` (owner AND
 * Running: a `Stopping` written meanwhile refuses it) and sends the success record — or, when
 * the handler throws, writes `Retrying` while retries remain and rethrows, so that Lambda retries
 * or hands its `onFailure` record to the finalizer. A stop found at the end, and a permanent
 * error (PERMANENT_ERROR_NAMES), are handed to the finalizer directly (an `Event` invoke) and the
 * invocation returns normally, so Lambda does not retry. An event without the envelope (a direct
 * invoke, a test) is passed to the handler unchanged.
 */
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { deliver } from '../lib/destinations';
import { type EconomyWrite, economyUpdate, retryingWrite, runningWrite, succeededWrite } from '../lib/economy';
import { deliveryOutcomeUpdate, isClaimOf } from '../lib/task-writes';
import {
  buildDestinationRecord,
  DestinationCondition,
  DestinationStatus,
  ExecutionError,
  isEnvelopedEvent,
  isoTime,
  PERMANENT_ERROR_NAMES,
  type TaskEnvelope,
  type TaskItem,
  TaskStatus,
  tableKey,
  truncateErrorMessage,
} from '../model';

/** What the wrapper reads of Lambda's context. */
export interface TaskHandlerContext {
  readonly awsRequestId?: string;
  readonly logStreamName?: string;
}

/** What the wrapper returns when it did not run the work (the task was stopped, retried or ended). */
export interface NotRun {
  readonly asynctask: 'not-run';
  readonly status?: string;
}

/** The ending the wrapper hands to the finalizer: its `asynctaskEnding` event. */
export interface WrapperEnding {
  readonly functionName: string;
  readonly taskId: string;
  /** The owner (invocation id) of the attempt series that ended. */
  readonly owner: string;
  /** `ABORTED` (a stop found at the end) or `FAILED` (a permanent error). */
  readonly status: 'ABORTED' | 'FAILED';
  readonly error?: string;
  readonly cause?: string;
}

export const ENDING_KEY = 'asynctaskEnding';

let ddbClient: DynamoDBDocumentClient | undefined;
let lambdaClient: LambdaClient | undefined;
const ddb = (): DynamoDBDocumentClient =>
  (ddbClient ??= DynamoDBDocumentClient.from(new DynamoDBClient({}), { marshallOptions: { removeUndefinedValues: true } }));
const lambdaApi = (): LambdaClient => (lambdaClient ??= new LambdaClient({}));

function isConditionFailed(error: unknown): boolean {
  return (error as { name?: string } | undefined)?.name === 'ConditionalCheckFailedException';
}

/** A conditional write of the task; undefined when its condition failed. */
async function write(envelope: TaskEnvelope, change: EconomyWrite): Promise<TaskItem | undefined> {
  try {
    const result = await ddb().send(
      new UpdateCommand({
        TableName: envelope.table,
        Key: tableKey(envelope.functionName, envelope.taskId),
        ...economyUpdate(change, envelope.owner),
        ReturnValues: 'ALL_NEW',
      }),
    );
    return result.Attributes as TaskItem;
  } catch (error) {
    if (isConditionFailed(error)) return undefined;
    throw error;
  }
}

async function read(envelope: TaskEnvelope): Promise<TaskItem | undefined> {
  const result = await ddb().send(
    new GetCommand({ TableName: envelope.table, Key: tableKey(envelope.functionName, envelope.taskId), ConsistentRead: true }),
  );
  return result.Item as TaskItem | undefined;
}

/** Hands an ending to the finalizer (asynchronously: it writes the terminal status and sends the one record). */
async function handOff(envelope: TaskEnvelope, ending: Omit<WrapperEnding, 'functionName' | 'taskId' | 'owner'>): Promise<void> {
  const event = { [ENDING_KEY]: { functionName: envelope.functionName, taskId: envelope.taskId, owner: envelope.owner, ...ending } };
  await lambdaApi().send(
    new InvokeCommand({
      FunctionName: envelope.finalizerArn,
      InvocationType: 'Event',
      Payload: new TextEncoder().encode(JSON.stringify(event)),
    }),
  );
}

function log(message: string, fields: Record<string, unknown>): void {
  console.log(JSON.stringify({ level: 'INFO', message, ...fields }));
}

function errorFields(error: unknown): { errorType: string; errorMessage: string } {
  const e = error as { name?: unknown; message?: unknown } | undefined;
  return {
    errorType: typeof e?.name === 'string' ? e.name : 'Error',
    errorMessage: truncateErrorMessage(typeof e?.message === 'string' ? e.message : String(error)),
  };
}

/** Sends the success record of a Succeeded task whose delivery this attempt claimed, then records the outcome. */
async function sendSuccess(envelope: TaskEnvelope, item: TaskItem, payload: unknown, result: unknown, claim: string): Promise<void> {
  if (!envelope.onSuccess) return;
  const record = buildDestinationRecord({
    condition: DestinationCondition.Success,
    timestamp: item.endedAt ?? isoTime(),
    requestId: envelope.requestId,
    taskId: envelope.taskId,
    functionArn: envelope.functionArn,
    approximateInvokeCount: Number(item.alreadyRetriedTimes ?? 0) + 1,
    source: envelope.source,
    requestPayload: payload,
    responsePayload: result === undefined ? null : result,
  });
  let outcome: DestinationStatus = DestinationStatus.Succeeded;
  try {
    await deliver(envelope.onSuccess, record, 'success');
  } catch (error) {
    // As MarkUndelivered: the outcome says so, the task stays Succeeded.
    outcome = DestinationStatus.Failed;
    log('asynctask: could not deliver the success record', { taskId: envelope.taskId, error: errorFields(error).errorMessage });
  }
  await ddb()
    .send(
      new UpdateCommand({
        TableName: envelope.table,
        Key: tableKey(envelope.functionName, envelope.taskId),
        ...deliveryOutcomeUpdate<unknown>({ owner: envelope.owner, claim, outcome }, (text) => text),
      }),
    )
    .catch((error) => {
      if (!isConditionFailed(error)) throw error;
    });
}

export function taskHandler<P = unknown, R = unknown, C extends TaskHandlerContext = TaskHandlerContext>(
  handler: (payload: P, context: C) => Promise<R> | R,
): (event: unknown, context: C) => Promise<R | NotRun> {
  return async (event: unknown, context: C): Promise<R | NotRun> => {
    if (!isEnvelopedEvent(event)) return handler(event as P, context);
    const envelope = event.asynctask;
    const fields = { functionName: envelope.functionName, taskId: envelope.taskId, requestId: envelope.requestId };
    const runnerId = context?.awsRequestId ?? 'unknown';
    let running = await write(envelope, runningWrite(isoTime(), runnerId));
    if (!running) {
      const current = await read(envelope);
      // Lambda retries an attempt that ended without an answer (a timeout, a crash) under the
      // same request id: that attempt left the task Running, so it is counted as failed here.
      const crashed =
        current?.status === TaskStatus.Running &&
        current.executionArn === envelope.owner &&
        current.runnerId === runnerId &&
        runnerId !== 'unknown';
      // The same attempt's retry after it wrote Succeeded but died before recording its send: send again.
      if (
        current?.status === TaskStatus.Succeeded &&
        current.executionArn === envelope.owner &&
        current.destinationStatus === DestinationStatus.Pending &&
        isClaimOf(current.deliveryClaim, runnerId)
      ) {
        log('asynctask: sending the success record an earlier try of this attempt did not record', fields);
        const stored = JSON.parse(current.returnPayload ?? 'null') as R;
        await sendSuccess(envelope, current, event.payload, stored, current.deliveryClaim);
        return stored;
      }
      if (crashed && (await write(envelope, retryingWrite(isoTime(), 'the attempt ended without a result (timeout or crash)')))) {
        running = await write(envelope, runningWrite(isoTime(), runnerId));
      }
      if (!running) {
        log('asynctask: not run: the task was stopped, retried or has ended', { ...fields, status: current?.status });
        return { asynctask: 'not-run', ...(current ? { status: current.status } : {}) };
      }
    }

    let result: R;
    try {
      result = await handler(event.payload as P, context);
    } catch (error) {
      const failure = errorFields(error);
      if ((PERMANENT_ERROR_NAMES as readonly string[]).includes(failure.errorType)) {
        log('asynctask: permanent failure, not retried', { ...fields, ...failure });
        await handOff(envelope, { status: 'FAILED', error: ExecutionError.PermanentFailure, cause: JSON.stringify(failure) });
        return { asynctask: 'not-run', status: TaskStatus.Running };
      }
      if (Number(running.alreadyRetriedTimes ?? 0) < envelope.maxRetryAttempts) {
        const retrying = await write(envelope, retryingWrite(isoTime(), failure.errorMessage));
        if (!retrying) {
          const current = await read(envelope);
          if (current?.status === TaskStatus.Stopping && current.executionArn === envelope.owner) {
            await handOff(envelope, { status: 'ABORTED' });
            return { asynctask: 'not-run', status: current.status };
          }
        }
      }
      throw error;
    }

    const at = isoTime();
    const returnPayload = JSON.stringify(result === undefined ? null : result);
    const succeeded = await write(envelope, succeededWrite(envelope, at, returnPayload, runnerId));
    if (!succeeded) {
      // Refused: a stop came in while the work ran (the result is discarded), or the task moved on.
      const current = await read(envelope);
      if (current?.status === TaskStatus.Stopping && current.executionArn === envelope.owner) {
        log('asynctask: stopped while running; the result is discarded', fields);
        await handOff(envelope, { status: 'ABORTED' });
      }
      return { asynctask: 'not-run', ...(current ? { status: current.status } : {}) };
    }
    if (envelope.onSuccess && succeeded.deliveryClaim) {
      await sendSuccess(envelope, succeeded, event.payload, result, succeeded.deliveryClaim);
    }
    return result;
  };
}
