import 'aws-sdk-client-mock-jest';
import { DescribeExecutionCommand, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { GetCommand, QueryCommand, UpdateCommand, type UpdateCommandInput } from '@aws-sdk/lib-dynamodb';
import { handler } from '../../../lambda/handlers/reconciler';
import { RECONCILE_MAX_PAGES } from '../../../lambda/lib/reconcile';
import { ECONOMY_SWEEP_WINDOW_MS, economyActiveBoundMs, type TaskItem } from '../../../lambda/model';
import {
  arnFor,
  awsError,
  ETL,
  mocks,
  nonEconomyQueries,
  quietLogs,
  resetMocks,
  setServiceEnv,
  TABLE_NAME,
  TRANSCODE,
  taskItem,
} from './fixtures';

const NOW = Date.parse('2026-11-25T12:30:00.000Z');
const TERMINAL_WRITE = { ConditionExpression: '#executionArn = :owner AND #status IN (:from0)' };
const ACTIVE_KEYS = ['etl#Enqueued', 'etl#Dequeued', 'etl#Running', 'etl#Retrying', 'etl#Stopping'];
const SWEPT_KEYS = ['etl#Failed', 'etl#Stopped', 'etl#Expired', 'etl#Invalid'];

beforeEach(() => {
  resetMocks();
  quietLogs();
  jest.useFakeTimers({ now: NOW, doNotFake: ['setImmediate', 'setTimeout', 'nextTick', 'queueMicrotask'] });
  mocks.ddb.on(QueryCommand).resolves({ Items: [] });
  mocks.ddb.on(GetCommand).resolves({});
  mocks.ddb.on(UpdateCommand).callsFake((input: UpdateCommandInput) => ({ Attributes: { ...(input.Key ?? {}), status: 'Failed' } }));
  mocks.sqs.on(SendMessageCommand).resolves({});
});

afterEach(() => {
  jest.useRealTimers();
  jest.restoreAllMocks();
});

function byStatus(statusKey: string, items: TaskItem[]) {
  mocks.ddb.on(QueryCommand, { ExpressionAttributeValues: { ':statusKey': statusKey } }).resolves({ Items: items });
}

test('queries every active status of every function for tasks older than a minute', async () => {
  setServiceEnv([ETL]);

  const summary = await handler({});

  expect(summary).toEqual({ checked: 0, running: 0, finalized: 0, redelivered: 0, restarted: 0, slotsReleased: 0, errors: 0 });
  const keys = nonEconomyQueries().map((c) => c.args[0].input.ExpressionAttributeValues?.[':statusKey']);
  expect(keys).toEqual([...ACTIVE_KEYS, ...SWEPT_KEYS]);
  // A standard function's economy tasks from before a switch back: swept with the widest economy bound.
  expect(mocks.ddb).toHaveReceivedCommandWith(QueryCommand, {
    IndexName: 'ByTimeEconomy',
    ExpressionAttributeValues: {
      ':pk': 'etl',
      ':from': new Date(NOW - economyActiveBoundMs(ETL) - ECONOMY_SWEEP_WINDOW_MS).toISOString(),
      ':to': `${new Date(NOW - economyActiveBoundMs(ETL)).toISOString()}#\uffff`,
    },
  });
  expect(mocks.ddb).toHaveReceivedCommandWith(QueryCommand, {
    TableName: TABLE_NAME,
    IndexName: 'ByStatus',
    KeyConditionExpression: '#statusKey = :statusKey AND #listKey < :before',
    ExpressionAttributeValues: { ':statusKey': 'etl#Running', ':before': '2026-11-25T12:29:00.000Z' },
  });
  expect(
    mocks.ddb.commandCalls(QueryCommand, { ExpressionAttributeValues: { ':statusKey': 'etl#Running' } })[0].args[0].input.FilterExpression,
  ).toBeUndefined();
});

test('sweeps terminal tasks (not Succeeded) whose delivery is Pending and unclaimed or claimed over 10 minutes ago, newest first', async () => {
  setServiceEnv([ETL]);

  await handler({});

  for (const key of SWEPT_KEYS) {
    expect(mocks.ddb).toHaveReceivedCommandWith(QueryCommand, {
      IndexName: 'ByStatus',
      KeyConditionExpression: '#statusKey = :statusKey AND #listKey < :before',
      FilterExpression: '#destinationStatus = :pending AND (attribute_not_exists(#deliveryClaim) OR #deliveryClaim < :staleBefore)',
      ExpressionAttributeValues: {
        ':statusKey': key,
        ':before': '2026-11-25T12:29:00.000Z',
        ':pending': 'Pending',
        ':staleBefore': '2026-11-25T12:20:00.000Z',
      },
      ScanIndexForward: false,
    });
  }
  expect(mocks.ddb).not.toHaveReceivedCommandWith(QueryCommand, {
    ExpressionAttributeValues: expect.objectContaining({ ':statusKey': 'etl#Succeeded' }),
  });
});

test('finalizes a task whose execution ended without a final write, and leaves running ones alone', async () => {
  setServiceEnv([ETL]);
  const ended = taskItem({ taskId: 'ended', status: 'Running' });
  const running = taskItem({ taskId: 'running', status: 'Running', requestId: 'r2' });
  byStatus('etl#Running', [ended, running]);
  mocks.ddb.on(GetCommand, { Key: { taskId: 'ended' } }).resolves({ Item: ended });
  mocks.sfn.on(DescribeExecutionCommand, { executionArn: ended.executionArn }).resolves({
    status: 'FAILED',
    error: 'TaskRetriesExhausted',
    cause: '{"errorMessage":"boom","errorType":"Error"}',
  });
  mocks.sfn.on(DescribeExecutionCommand, { executionArn: running.executionArn }).resolves({ status: 'RUNNING' });

  const summary = await handler({});

  expect(summary).toMatchObject({ checked: 2, running: 1, finalized: 1, errors: 0 });
  expect(mocks.ddb).toHaveReceivedCommandWith(UpdateCommand, {
    ...TERMINAL_WRITE,
    Key: { functionName: 'etl', taskId: 'ended' },
    ExpressionAttributeValues: expect.objectContaining({ ':status': 'Failed', ':taskErrorMessage': 'boom' }),
  });
  expect(mocks.ddb.commandCalls(UpdateCommand, { Key: { taskId: 'running' } })).toHaveLength(0);
  expect(mocks.sqs).toHaveReceivedCommandTimes(SendMessageCommand, 1);
});

test('starts the missing execution of an Enqueued task with the same name and input', async () => {
  setServiceEnv([ETL]);
  const enqueued = taskItem({ taskId: 'lost', status: 'Enqueued' });
  byStatus('etl#Enqueued', [enqueued]);
  mocks.sfn.on(DescribeExecutionCommand).rejects(awsError('ExecutionDoesNotExist', 'Execution Does Not Exist'));
  mocks.sfn.on(StartExecutionCommand).resolves({});

  const summary = await handler({});

  expect(summary).toMatchObject({ checked: 1, restarted: 1, finalized: 0 });
  const start = mocks.sfn.commandCalls(StartExecutionCommand)[0].args[0].input;
  expect(start).toMatchObject({ stateMachineArn: ETL.stateMachineArn, name: enqueued.requestId });
  expect(JSON.parse(start.input ?? '')).toEqual({
    task: {
      functionName: 'etl',
      taskId: 'lost',
      requestId: enqueued.requestId,
      payload: { records: [1, 2] },
      deadline: enqueued.deadline,
      startedAt: enqueued.startedAt,
      source: null,
    },
    attempt: { n: 1, delay: 0 },
  });
  expect(mocks.ddb).not.toHaveReceivedCommand(UpdateCommand);
});

test('a Stopping task whose execution does not exist ends Stopped', async () => {
  setServiceEnv([ETL]);
  const stopping = taskItem({ taskId: 'halt', status: 'Stopping' });
  byStatus('etl#Stopping', [stopping]);
  mocks.ddb.on(GetCommand, { Key: { taskId: 'halt' } }).resolves({ Item: stopping });
  mocks.sfn.on(DescribeExecutionCommand).rejects(awsError('ExecutionDoesNotExist'));

  const summary = await handler({});

  expect(summary).toMatchObject({ finalized: 1, restarted: 0 });
  expect(mocks.sfn).not.toHaveReceivedCommand(StartExecutionCommand);
  expect(mocks.ddb).toHaveReceivedCommandWith(UpdateCommand, {
    ...TERMINAL_WRITE,
    ExpressionAttributeValues: expect.objectContaining({ ':status': 'Stopped', ':from0': 'Stopping' }),
  });
});

test('reads a bounded number of pages per status', async () => {
  setServiceEnv([ETL]);
  mocks.ddb
    .on(QueryCommand, { ExpressionAttributeValues: { ':statusKey': 'etl#Running' } })
    .resolves({ Items: [], LastEvaluatedKey: { statusKey: 'etl#Running', listKey: 'k', functionName: 'etl', taskId: 'x' } });

  await handler({});

  expect(mocks.ddb.commandCalls(QueryCommand, { ExpressionAttributeValues: { ':statusKey': 'etl#Running' } })).toHaveLength(
    RECONCILE_MAX_PAGES,
  );
});

test('prunes slot holders whose executions ended and keeps running ones', async () => {
  setServiceEnv([TRANSCODE]);
  const endedArn = arnFor(TRANSCODE, 'gone');
  const runningArn = arnFor(TRANSCODE, 'alive');
  mocks.ddb
    .on(GetCommand, { Key: { functionName: 'transcode', taskId: '#concurrency' } })
    .resolves({ Item: { functionName: 'transcode', taskId: '#concurrency', holders: new Set([endedArn, runningArn]) } });
  mocks.sfn.on(DescribeExecutionCommand, { executionArn: endedArn }).resolves({ status: 'ABORTED' });
  mocks.sfn.on(DescribeExecutionCommand, { executionArn: runningArn }).resolves({ status: 'RUNNING' });
  mocks.ddb.on(UpdateCommand).resolves({});

  const summary = await handler({});

  expect(summary).toMatchObject({ slotsReleased: 1, errors: 0 });
  expect(mocks.ddb).toHaveReceivedCommandTimes(UpdateCommand, 1);
  expect(mocks.ddb).toHaveReceivedCommandWith(UpdateCommand, {
    Key: { functionName: 'transcode', taskId: '#concurrency' },
    UpdateExpression: 'DELETE #holders :me',
    ExpressionAttributeValues: { ':me': new Set([endedArn]), ':meS': endedArn },
  });
});

test('counts a failing task as an error and goes on with the others', async () => {
  setServiceEnv([ETL]);
  const bad = taskItem({ taskId: 'bad', status: 'Running' });
  const good = taskItem({ taskId: 'good', status: 'Running', requestId: 'r3' });
  byStatus('etl#Running', [bad, good]);
  mocks.sfn.on(DescribeExecutionCommand, { executionArn: bad.executionArn }).rejects(awsError('ThrottlingException'));
  mocks.sfn.on(DescribeExecutionCommand, { executionArn: good.executionArn }).resolves({ status: 'RUNNING' });

  const summary = await handler({});

  expect(summary).toMatchObject({ checked: 2, running: 1, errors: 1 });
});
