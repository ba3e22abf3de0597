import 'aws-sdk-client-mock-jest';
import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { InvokeCommand } from '@aws-sdk/client-lambda';
import { DescribeExecutionCommand } from '@aws-sdk/client-sfn';
import { PublishCommand } from '@aws-sdk/client-sns';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { GetCommand, UpdateCommand, type UpdateCommandInput } from '@aws-sdk/lib-dynamodb';
import { DELIVERY_CLAIM, DELIVERY_CLAIM_STALE_MS } from '../../../lambda/lib/task-writes';
import { type ExecutionStatusChangeEvent, handler } from '../../../lambda/handlers/finalizer';
import { errorOfExecution, terminalStatusFor } from '../../../lambda/lib/finalize';
import {
  type DestinationRecord,
  type ExecutionInput,
  type TaskFunctionDescriptor,
  MAX_ERROR_MESSAGE_CHARS,
  type TaskItem,
  TaskStatus,
} from '../../../lambda/model';
import { FakeTable, type FakeTableOptions } from './fake-table';
import {
  arnFor,
  awsError,
  ETL,
  mocks,
  PLAIN,
  quietLogs,
  REGISTRY,
  resetMocks,
  setServiceEnv,
  TABLE_NAME,
  TRANSCODE,
  taskItem,
} from './fixtures';

const NOW = Date.parse('2026-11-25T12:30:00.000Z');
/** The terminal write: from the status just read, owned by the ended execution (task store `transition`). */
const TERMINAL_WRITE = { ConditionExpression: '#executionArn = :owner AND #status IN (:from0)' };
/** The delivery outcome: only by the holder of the claim (task store `recordDelivery`). */
const DESTINATION_WRITE = {
  ConditionExpression: `#executionArn = :owner AND #destinationStatus = :pending AND #${DELIVERY_CLAIM} = :claim`,
};
const CLAIM_WRITE = {
  ConditionExpression: `#executionArn = :owner AND #destinationStatus = :pending AND (attribute_not_exists(#${DELIVERY_CLAIM}) OR #${DELIVERY_CLAIM} < :staleBefore)`,
};
const LAMBDA_CAUSE = JSON.stringify({ errorMessage: 'bad record at offset 7', errorType: 'ParseError', trace: ['at x'] });

function statusEvent(
  item: TaskItem,
  status: string,
  extra: Partial<ExecutionStatusChangeEvent['detail']> = {},
): ExecutionStatusChangeEvent {
  const input: ExecutionInput = {
    task: {
      functionName: item.functionName,
      taskId: item.taskId,
      requestId: item.requestId,
      payload: JSON.parse(item.taskPayload),
      deadline: item.deadline,
      startedAt: item.startedAt,
      source: item.source ?? null,
    },
    attempt: { n: 1, delay: 0 },
  };
  return {
    'detail-type': 'Step Functions Execution Status Change',
    source: 'aws.states',
    detail: {
      executionArn: item.executionArn ?? '',
      stateMachineArn: 'sm',
      name: item.requestId,
      status,
      input: JSON.stringify(input),
      inputDetails: { included: true },
      error: null,
      cause: null,
      ...extra,
    },
  };
}

/** The table holds `item` (and a slots item per function); writes are evaluated as DynamoDB would. */
function table(item: TaskItem, options?: FakeTableOptions): FakeTable {
  const fake = new FakeTable(options);
  fake.put(item);
  return fake;
}

/** The concurrency item of a function with these holders. */
function slots(descriptor: TaskFunctionDescriptor, ...holders: string[]) {
  return { functionName: descriptor.name, taskId: '#concurrency', holders: new Set(holders) };
}

function terminalWrite(): UpdateCommandInput {
  const calls = mocks.ddb.commandCalls(UpdateCommand, TERMINAL_WRITE);
  expect(calls).toHaveLength(1);
  return calls[0].args[0].input;
}

function sqsRecord(): DestinationRecord {
  const calls = mocks.sqs.commandCalls(SendMessageCommand);
  expect(calls).toHaveLength(1);
  return JSON.parse(calls[0].args[0].input.MessageBody ?? '') as DestinationRecord;
}

function withDestination(onFailure: TaskFunctionDescriptor['onFailure']): TaskFunctionDescriptor {
  return { ...PLAIN, onFailure };
}

beforeEach(() => {
  resetMocks();
  setServiceEnv();
  quietLogs();
  jest.useFakeTimers({ now: NOW, doNotFake: ['setImmediate', 'setTimeout', 'nextTick', 'queueMicrotask'] });
  mocks.sqs.on(SendMessageCommand).resolves({ MessageId: 'm1' });
  // Events without an error make the finalizer look the execution up.
  mocks.sfn.on(DescribeExecutionCommand).resolves({ status: 'FAILED' });
});

afterEach(() => {
  jest.useRealTimers();
  jest.restoreAllMocks();
});

describe('finalizer table', () => {
  test('Running, retries exhausted: Failed, failure record RetriesExhausted with the Lambda error and the lineage', async () => {
    const source = { type: 'kafka', topic: 'orders', partition: 3, firstOffset: 40, lastOffset: 41 } as const;
    const item = taskItem({ status: 'Running', alreadyRetriedTimes: 2, source });
    table(item);

    const result = await handler(statusEvent(item, 'FAILED', { error: 'TaskRetriesExhausted', cause: LAMBDA_CAUSE }));

    expect(result).toMatchObject({ action: 'finalized', slotReleased: false });
    const write = terminalWrite();
    expect(write).toMatchObject({ TableName: TABLE_NAME, Key: { functionName: 'etl', taskId: 'job_1' }, ReturnValues: 'ALL_NEW' });
    expect(write.ExpressionAttributeValues).toMatchObject({
      ':status': 'Failed',
      ':statusKey': 'etl#Failed',
      ':endedAt': '2026-11-25T12:30:00.000Z',
      ':destinationStatus': 'Pending',
      ':taskErrorMessage': 'bad record at offset 7',
      ':expiresAt': NOW / 1000 + 7 * 24 * 3600,
      ':from0': 'Running',
      ':owner': item.executionArn,
      [`:${DELIVERY_CLAIM}`]: expect.stringMatching(/^2026-11-25T12:30:00\.000Z#[0-9a-f-]{36}$/),
      ':event': [{ status: 'Failed', at: '2026-11-25T12:30:00.000Z', detail: 'execution FAILED: TaskRetriesExhausted' }],
    });
    expect(mocks.sqs).toHaveReceivedCommandWith(SendMessageCommand, { QueueUrl: ETL.onFailure?.url });
    expect(sqsRecord()).toEqual({
      version: '1.0',
      timestamp: '2026-11-25T12:30:00.000Z',
      requestContext: {
        requestId: item.requestId,
        functionArn: ETL.runnerArn,
        condition: 'RetriesExhausted',
        approximateInvokeCount: 3,
        taskId: 'job_1',
        source,
      },
      requestPayload: { records: [1, 2] },
      responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
      responsePayload: { errorType: 'ParseError', errorMessage: 'bad record at offset 7' },
    });
    expect(mocks.ddb).toHaveReceivedCommandWith(UpdateCommand, {
      ...DESTINATION_WRITE,
      ExpressionAttributeValues: {
        ':destinationStatus': 'Succeeded',
        ':pending': 'Pending',
        ':owner': item.executionArn,
        ':claim': write.ExpressionAttributeValues?.[`:${DELIVERY_CLAIM}`],
      },
    });
    expect(result).toMatchObject({ item: { status: 'Failed', destinationStatus: 'Succeeded' } });
    expect(result).not.toHaveProperty(['item', DELIVERY_CLAIM]);
  });

  test('Stopping, any end: Stopped, failure record Stopped', async () => {
    const item = taskItem({ status: 'Stopping' });
    table(item);

    await handler(statusEvent(item, 'FAILED', { error: 'TaskNotRunnable', cause: 'condition failed' }));

    expect(terminalWrite().ExpressionAttributeValues).toMatchObject({ ':status': 'Stopped', ':from0': 'Stopping' });
    expect(terminalWrite().ExpressionAttributeValues?.[':taskErrorMessage']).toBeUndefined();
    expect(sqsRecord().requestContext.condition).toBe('Stopped');
  });

  test('active, ABORTED: Stopped, record with the stop error', async () => {
    const item = taskItem({ status: 'Running' });
    table(item);

    await handler(statusEvent(item, 'ABORTED', { error: 'TaskStopped', cause: "task 'job_1' was stopped through TaskApi" }));

    expect(terminalWrite().ExpressionAttributeValues).toMatchObject({ ':status': 'Stopped', ':statusKey': 'etl#Stopped' });
    expect(sqsRecord()).toMatchObject({
      requestContext: { condition: 'Stopped', approximateInvokeCount: 1 },
      responsePayload: { errorType: 'TaskStopped', errorMessage: "task 'job_1' was stopped through TaskApi" },
    });
  });

  test('active, TaskExpired: Expired, record EventAgeExceeded', async () => {
    const item = taskItem({ status: 'Enqueued' });
    table(item);

    await handler(statusEvent(item, 'FAILED', { error: 'TaskExpired', cause: '' }));

    expect(terminalWrite().ExpressionAttributeValues).toMatchObject({ ':status': 'Expired', ':from0': 'Enqueued' });
    expect(sqsRecord()).toMatchObject({
      requestContext: { condition: 'EventAgeExceeded' },
      responsePayload: {
        errorType: 'TaskExpired',
        errorMessage: 'the task did not start before its deadline 2026-11-25T13:00:00.000Z (maxEventAge)',
      },
    });
  });

  test('active, TaskNotRunnable with the deadline passed: Expired', async () => {
    const item = taskItem({ status: 'Retrying', deadline: '2026-11-25T12:29:59.000Z' });
    table(item);

    await handler(statusEvent(item, 'FAILED', { error: 'TaskNotRunnable', cause: 'The conditional request failed' }));

    expect(terminalWrite().ExpressionAttributeValues).toMatchObject({ ':status': 'Expired' });
    expect(sqsRecord().requestContext.condition).toBe('EventAgeExceeded');
  });

  test('active, TaskNotRunnable before the deadline: Failed', async () => {
    const item = taskItem({ status: 'Retrying' });
    table(item);

    await handler(statusEvent(item, 'FAILED', { error: 'TaskNotRunnable', cause: 'The conditional request failed' }));

    expect(terminalWrite().ExpressionAttributeValues).toMatchObject({ ':status': 'Failed' });
    expect(sqsRecord()).toMatchObject({
      requestContext: { condition: 'RetriesExhausted' },
      responsePayload: { errorType: 'TaskNotRunnable', errorMessage: 'The conditional request failed' },
    });
  });

  test('active, TaskInvalid: Invalid, record Invalid', async () => {
    const item = taskItem({ status: 'Enqueued' });
    table(item);

    await handler(statusEvent(item, 'FAILED', { error: 'TaskInvalid', cause: 'Function not found' }));

    expect(terminalWrite().ExpressionAttributeValues).toMatchObject({ ':status': 'Invalid', ':taskErrorMessage': 'Function not found' });
    expect(sqsRecord().requestContext.condition).toBe('Invalid');
  });

  test('active, TIMED_OUT: Failed, record RetriesExhausted', async () => {
    const item = taskItem({ status: 'Running' });
    table(item);

    await handler(statusEvent(item, 'TIMED_OUT', { error: 'States.Timeout', cause: 'The execution timed out' }));

    expect(terminalWrite().ExpressionAttributeValues).toMatchObject({ ':status': 'Failed' });
    expect(sqsRecord()).toMatchObject({
      requestContext: { condition: 'RetriesExhausted' },
      responsePayload: { errorType: 'States.Timeout', errorMessage: 'The execution timed out' },
    });
  });

  test("a container's own error message wins over an ECS cause", async () => {
    const item = taskItem({ status: 'Running', taskErrorMessage: 'ffmpeg exited 1: invalid codec' }, TRANSCODE);
    table(item);
    mocks.sns.on(PublishCommand).resolves({});

    await handler(
      statusEvent(item, 'FAILED', { error: 'TaskRetriesExhausted', cause: '{"Attachments":[],"StopCode":"EssentialContainerExited"}' }),
    );

    expect(terminalWrite().ExpressionAttributeValues?.[':taskErrorMessage']).toBeUndefined();
    const published = JSON.parse(mocks.sns.commandCalls(PublishCommand)[0].args[0].input.Message ?? '') as DestinationRecord;
    expect(mocks.sns).toHaveReceivedCommandWith(PublishCommand, { TopicArn: TRANSCODE.onFailure?.arn });
    expect(published.responsePayload).toEqual({ errorType: 'TaskRetriesExhausted', errorMessage: 'ffmpeg exited 1: invalid codec' });
    expect(published.requestContext.functionArn).toBe(TRANSCODE.runnerArn);
  });

  test('a terminal task with its delivery done: nothing changes and nothing is sent', async () => {
    const item = taskItem({ status: 'Failed', destinationStatus: 'Succeeded' });
    table(item);

    const result = await handler(statusEvent(item, 'FAILED', { error: 'TaskRetriesExhausted' }));

    expect(result).toMatchObject({ action: 'unchanged' });
    expect(mocks.ddb).not.toHaveReceivedCommand(UpdateCommand);
    expect(mocks.sqs).not.toHaveReceivedCommand(SendMessageCommand);
  });

  test('a terminal task with an unclaimed Pending delivery: claimed, delivered, the status is not rewritten', async () => {
    const item = taskItem({ status: 'Stopped', destinationStatus: 'Pending', endedAt: '2026-11-25T12:20:00.000Z' });
    const fake = table(item);

    const result = await handler(statusEvent(item, 'ABORTED'));

    expect(result).toMatchObject({ action: 'redelivered', item: { destinationStatus: 'Succeeded' } });
    expect(mocks.ddb.commandCalls(UpdateCommand, TERMINAL_WRITE)).toHaveLength(0);
    expect(mocks.ddb).toHaveReceivedCommandWith(UpdateCommand, CLAIM_WRITE);
    expect(sqsRecord()).toMatchObject({
      timestamp: '2026-11-25T12:20:00.000Z',
      requestContext: { condition: 'Stopped' },
      responsePayload: { errorType: 'TaskStopped', errorMessage: 'the task was stopped' },
    });
    expect(fake.get('etl', 'job_1')).toMatchObject({ status: 'Stopped', destinationStatus: 'Succeeded' });
  });

  test('a terminal task whose delivery another finalizer holds: nothing is sent', async () => {
    const claim = `${new Date(NOW - 1000).toISOString()}#other`;
    const item = { ...taskItem({ status: 'Stopped', destinationStatus: 'Pending' }), [DELIVERY_CLAIM]: claim };
    const fake = table(item);

    const result = await handler(statusEvent(item, 'ABORTED'));

    expect(result).toMatchObject({ action: 'unchanged' });
    expect(mocks.sqs).not.toHaveReceivedCommand(SendMessageCommand);
    expect(fake.get('etl', 'job_1')).toMatchObject({ destinationStatus: 'Pending', [DELIVERY_CLAIM]: claim });
  });

  test('a terminal task whose claim is older than the stale window: taken over and delivered', async () => {
    const claim = `${new Date(NOW - DELIVERY_CLAIM_STALE_MS - 1).toISOString()}#dead`;
    const item = { ...taskItem({ status: 'Failed', destinationStatus: 'Pending' }), [DELIVERY_CLAIM]: claim };
    table(item);

    const result = await handler(statusEvent(item, 'FAILED', { error: 'TaskRetriesExhausted', cause: LAMBDA_CAUSE }));

    expect(result).toMatchObject({ action: 'redelivered', item: { destinationStatus: 'Succeeded' } });
    expect(mocks.sqs).toHaveReceivedCommandTimes(SendMessageCommand, 1);
  });

  test('the same event twice: the second changes nothing and sends nothing', async () => {
    const item = taskItem({ status: 'Running' });
    table(item);
    const event = statusEvent(item, 'FAILED', { error: 'TaskRetriesExhausted', cause: LAMBDA_CAUSE });

    const first = await handler(event);
    const updatesAfterFirst = mocks.ddb.commandCalls(UpdateCommand).length;
    const second = await handler(event);

    expect(first).toMatchObject({ action: 'finalized' });
    expect(second).toMatchObject({ action: 'unchanged', item: { status: 'Failed', destinationStatus: 'Succeeded' } });
    expect(mocks.sqs).toHaveReceivedCommandTimes(SendMessageCommand, 1);
    expect(mocks.ddb.commandCalls(UpdateCommand)).toHaveLength(updatesAfterFirst);
  });

  test('an execution that no longer owns the task (retried since) is ignored', async () => {
    const item = taskItem({ status: 'Running', requestId: 'new-request' });
    table(item);
    const stale = statusEvent(taskItem({ status: 'Running' }), 'ABORTED');

    const result = await handler(stale);

    expect(result).toMatchObject({ action: 'stale', slotReleased: false });
    expect(mocks.ddb).not.toHaveReceivedCommand(UpdateCommand);
    expect(mocks.sqs).not.toHaveReceivedCommand(SendMessageCommand);
  });

  test('a stale execution of a function with maxConcurrency still gives its slot back', async () => {
    const item = taskItem({ status: 'Running', requestId: 'new-request' }, TRANSCODE);
    const fake = table(item);
    const oldArn = arnFor(TRANSCODE);
    fake.put(slots(TRANSCODE, oldArn, item.executionArn ?? ''));

    const result = await handler(statusEvent(taskItem({ status: 'Running' }, TRANSCODE), 'ABORTED'));

    expect(result).toMatchObject({ action: 'stale', slotReleased: true });
    expect(mocks.ddb).toHaveReceivedCommandTimes(UpdateCommand, 1);
    expect(mocks.ddb).toHaveReceivedCommandWith(UpdateCommand, {
      Key: { functionName: 'transcode', taskId: '#concurrency' },
      UpdateExpression: 'DELETE #holders :me',
      ConditionExpression: 'contains(#holders, :meS)',
      ExpressionAttributeValues: { ':me': new Set([oldArn]), ':meS': oldArn },
    });
    expect(fake.get('transcode', '#concurrency')?.holders).toEqual(new Set([item.executionArn]));
  });

  test('releases the concurrency slot of a finalized task', async () => {
    const item = taskItem({ status: 'Dequeued' }, TRANSCODE);
    table(item).put(slots(TRANSCODE, item.executionArn ?? ''));
    mocks.sns.on(PublishCommand).resolves({});

    const result = await handler(statusEvent(item, 'ABORTED'));

    expect(result).toMatchObject({ action: 'finalized', slotReleased: true, item: { status: 'Stopped' } });
    expect(mocks.ddb).toHaveReceivedCommandWith(UpdateCommand, {
      Key: { functionName: 'transcode', taskId: '#concurrency' },
      ExpressionAttributeValues: { ':me': new Set([item.executionArn]), ':meS': item.executionArn },
    });
  });

  test('a slot already released is not an error', async () => {
    const item = taskItem({ status: 'Failed', destinationStatus: 'Succeeded' }, TRANSCODE);
    table(item).put(slots(TRANSCODE, arnFor(TRANSCODE, 'someone-else')));

    const result = await handler(statusEvent(item, 'FAILED'));

    expect(result).toMatchObject({ action: 'unchanged', slotReleased: false });
  });

  test('no failure destination: destinationStatus None in the terminal write, nothing sent', async () => {
    const item = taskItem({ status: 'Running' }, PLAIN);
    table(item);

    const result = await handler(statusEvent(item, 'FAILED', { error: 'TaskRetriesExhausted', cause: LAMBDA_CAUSE }));

    expect(terminalWrite().ExpressionAttributeValues).toMatchObject({ ':destinationStatus': 'None' });
    expect(mocks.ddb.commandCalls(UpdateCommand, DESTINATION_WRITE)).toHaveLength(0);
    expect(mocks.sqs).not.toHaveReceivedCommand(SendMessageCommand);
    expect(result).toMatchObject({ item: { destinationStatus: 'None' } });
  });

  test('a delivery that fails is recorded as destinationStatus Failed', async () => {
    const item = taskItem({ status: 'Running' });
    table(item);
    mocks.sqs.on(SendMessageCommand).rejects(awsError('QueueDoesNotExist', 'gone'));

    const result = await handler(statusEvent(item, 'FAILED', { error: 'TaskRetriesExhausted' }));

    expect(mocks.ddb).toHaveReceivedCommandWith(UpdateCommand, {
      ...DESTINATION_WRITE,
      ExpressionAttributeValues: expect.objectContaining({ ':destinationStatus': 'Failed' }),
    });
    expect(result).toMatchObject({ item: { status: 'Failed', destinationStatus: 'Failed' } });
  });

  test('delivers to an EventBridge bus with the failure detail type', async () => {
    const bus = 'arn:aws:events:us-east-1:123456789012:event-bus/tasks';
    setServiceEnv([withDestination({ type: 'eventbridge', arn: bus })]);
    const item = taskItem({ status: 'Running' }, PLAIN);
    table(item);
    mocks.events.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'e' }] });

    await handler(statusEvent(item, 'FAILED', { error: 'TaskRetriesExhausted' }));

    const entry = mocks.events.commandCalls(PutEventsCommand)[0].args[0].input.Entries?.[0];
    expect(entry).toMatchObject({ EventBusName: bus, Source: 'asynctask', DetailType: 'Task Invocation Result - Failure' });
    expect(JSON.parse(entry?.Detail ?? '').requestContext.condition).toBe('RetriesExhausted');
  });

  test('a bus that rejects the entry counts as a failed delivery', async () => {
    setServiceEnv([withDestination({ type: 'eventbridge', arn: 'bus' })]);
    const item = taskItem({ status: 'Running' }, PLAIN);
    table(item);
    mocks.events.on(PutEventsCommand).resolves({ FailedEntryCount: 1, Entries: [{ ErrorCode: 'InternalFailure' }] });

    const result = await handler(statusEvent(item, 'FAILED'));

    expect(result).toMatchObject({ item: { destinationStatus: 'Failed' } });
  });

  test('delivers to a Lambda function asynchronously', async () => {
    const fn = 'arn:aws:lambda:us-east-1:123456789012:function:on-failure';
    setServiceEnv([withDestination({ type: 'lambda', arn: fn })]);
    const item = taskItem({ status: 'Running' }, PLAIN);
    table(item);
    mocks.lambda.on(InvokeCommand).resolves({ StatusCode: 202 });

    await handler(statusEvent(item, 'FAILED'));

    const invoke = mocks.lambda.commandCalls(InvokeCommand)[0].args[0].input;
    expect(invoke).toMatchObject({ FunctionName: fn, InvocationType: 'Event' });
    expect(JSON.parse(Buffer.from(invoke.Payload as Uint8Array).toString()).requestContext.taskId).toBe('job_1');
  });

  test('reads the input with DescribeExecution when the event does not carry it', async () => {
    const item = taskItem({ status: 'Running' });
    table(item);
    const event = statusEvent(item, 'FAILED');
    mocks.sfn.on(DescribeExecutionCommand).resolves({
      status: 'FAILED',
      input: event.detail.input ?? undefined,
      error: 'TaskRetriesExhausted',
      cause: LAMBDA_CAUSE,
    });

    await handler({ ...event, detail: { ...event.detail, input: undefined, inputDetails: { included: false } } });

    expect(mocks.sfn).toHaveReceivedCommandWith(DescribeExecutionCommand, { executionArn: item.executionArn });
    expect(terminalWrite().ExpressionAttributeValues).toMatchObject({ ':status': 'Failed', ':taskErrorMessage': 'bad record at offset 7' });
  });

  test('a stop landing between the read and the write: the write is refused, the task ends Stopped', async () => {
    const running = taskItem({ status: 'Running' });
    const fake = table(running);
    fake.beforeNext('update', () => fake.put(taskItem({ status: 'Stopping' })));

    const result = await handler(statusEvent(running, 'FAILED', { error: 'TaskNotRunnable' }));

    expect(result).toMatchObject({ action: 'finalized', item: { status: 'Stopped' } });
    // The refusal carried the item (ALL_OLD): no second read.
    expect(mocks.ddb).toHaveReceivedCommandTimes(GetCommand, 1);
    expect(mocks.ddb.commandCalls(UpdateCommand, TERMINAL_WRITE).map((c) => c.args[0].input.ExpressionAttributeValues?.[':from0'])).toEqual(
      ['Running', 'Stopping'],
    );
    expect(sqsRecord().requestContext.condition).toBe('Stopped');
  });

  test('the same race on a DynamoDB that returns no item with the refusal (dynalite): read back', async () => {
    const running = taskItem({ status: 'Running' });
    const fake = table(running, { noItemOnConditionFailure: true });
    fake.beforeNext('update', () => fake.put(taskItem({ status: 'Stopping' })));

    const result = await handler(statusEvent(running, 'FAILED', { error: 'TaskNotRunnable' }));

    expect(result).toMatchObject({ action: 'finalized', item: { status: 'Stopped' } });
    expect(mocks.ddb).toHaveReceivedCommandTimes(GetCommand, 2);
  });

  test('a task that no longer exists is skipped', async () => {
    mocks.ddb.on(GetCommand).resolves({});

    const result = await handler(statusEvent(taskItem(), 'FAILED'));

    expect(result).toMatchObject({ action: 'not-found' });
    expect(mocks.ddb).not.toHaveReceivedCommand(UpdateCommand);
  });

  test('statuses other than FAILED, TIMED_OUT and ABORTED are ignored', async () => {
    const result = await handler(statusEvent(taskItem(), 'SUCCEEDED'));

    expect(result).toEqual({ action: 'ignored' });
    expect(mocks.ddb).not.toHaveReceivedCommand(GetCommand);
  });

  test('throws on a DynamoDB error so that EventBridge retries the event', async () => {
    mocks.ddb.on(GetCommand).rejects(awsError('InternalServerError', 'oops'));

    await expect(handler(statusEvent(taskItem(), 'FAILED'))).rejects.toThrow('oops');
  });
});

describe('finalize rules', () => {
  const now = '2026-11-25T12:30:00.000Z';
  const end = (status: string, error?: string) => ({ executionArn: 'a', status, ...(error ? { error } : {}) });

  test.each([
    ['Stopping', 'FAILED', 'TaskRetriesExhausted', 'Stopped'],
    ['Running', 'ABORTED', undefined, 'Stopped'],
    ['Enqueued', 'FAILED', 'TaskExpired', 'Expired'],
    ['Dequeued', 'FAILED', 'TaskInvalid', 'Invalid'],
    ['Running', 'FAILED', 'TaskRetriesExhausted', 'Failed'],
    ['Running', 'TIMED_OUT', 'States.Timeout', 'Failed'],
    ['Running', 'FAILED', 'TaskExpired', 'Failed'],
    ['Enqueued', 'MISSING', undefined, 'Failed'],
  ] as const)('%s task, execution %s %s → %s', (status, executionStatus, error, expected) => {
    expect(terminalStatusFor(taskItem({ status }), end(executionStatus, error), now)).toBe(expected);
  });

  test('unwraps a Lambda JSON cause and keeps other causes as text', () => {
    expect(errorOfExecution({ executionArn: 'a', status: 'FAILED', error: 'X', cause: LAMBDA_CAUSE }, TaskStatus.Failed)).toEqual({
      errorType: 'ParseError',
      errorMessage: 'bad record at offset 7',
    });
    expect(errorOfExecution({ executionArn: 'a', status: 'FAILED', error: 'X', cause: 'plain' }, TaskStatus.Failed)).toEqual({
      errorType: 'X',
      errorMessage: 'plain',
    });
    expect(errorOfExecution({ executionArn: 'a', status: 'TIMED_OUT' }, TaskStatus.Failed)).toEqual({
      errorType: 'ExecutionTIMED_OUT',
      errorMessage: 'the execution ended TIMED_OUT',
    });
  });

  test('caps a very long cause', () => {
    const { errorMessage } = errorOfExecution({ executionArn: 'a', status: 'FAILED', cause: 'x'.repeat(10_000) }, TaskStatus.Failed);
    expect(errorMessage).toHaveLength(MAX_ERROR_MESSAGE_CHARS);
    expect(errorMessage.endsWith('…')).toBe(true);
  });

  test('the registry fixture has three functions', () => {
    expect(REGISTRY.map((d) => d.name)).toEqual(['etl', 'transcode', 'plain']);
  });
});
