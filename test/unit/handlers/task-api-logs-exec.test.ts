import 'aws-sdk-client-mock-jest';
import { FilterLogEventsCommand, GetLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { GetExecutionHistoryCommand, type HistoryEvent } from '@aws-sdk/client-sfn';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { handler } from '../../../lambda/handlers/task-api';
import { attemptsFromHistory } from '../../../lambda/lib/attempts';
import type { ExecResult, LogsResult } from '../../../lambda/model';
import { awsError, failed, mocks, ok, TRANSCODE, taskItem, useHandlerTestEnv } from './fixtures';

const NOW = Date.parse('2026-11-25T12:30:00.000Z');
useHandlerTestEnv(NOW);

const T0 = Date.parse('2026-11-25T12:00:00.000Z');
const at = (s: number) => new Date(T0 + s * 1000);
const TASK_ARN_1 = 'arn:aws:ecs:us-east-1:123456789012:task/asynctask-transcode/aaaa1111';
const TASK_ARN_2 = 'arn:aws:ecs:us-east-1:123456789012:task/asynctask-transcode/bbbb2222';

function entered(s: number, name = 'Run'): HistoryEvent {
  return { type: 'TaskStateEntered', timestamp: at(s), id: 0, stateEnteredEventDetails: { name } };
}
function exited(s: number, name = 'Run'): HistoryEvent {
  return { type: 'TaskStateExited', timestamp: at(s), id: 0, stateExitedEventDetails: { name } };
}
const LAMBDA_RESOURCE = { resourceType: 'lambda', resource: 'invoke' };
/** A Lambda task whose first invoke failed (a Node error names no request id) and second succeeded. */
const LAMBDA_HISTORY: HistoryEvent[] = [
  entered(1, 'MarkRunning'),
  exited(1, 'MarkRunning'),
  entered(2),
  {
    type: 'TaskFailed',
    timestamp: at(5),
    id: 0,
    taskFailedEventDetails: { ...LAMBDA_RESOURCE, error: 'Error', cause: '{"errorType":"Error","errorMessage":"flaky"}' },
  },
  entered(6, 'MarkRetrying'),
  entered(8),
  {
    type: 'TaskSucceeded',
    timestamp: at(9),
    id: 0,
    taskSucceededEventDetails: { ...LAMBDA_RESOURCE, output: JSON.stringify({ Payload: {}, SdkResponseMetadata: { RequestId: 'req-2' } }) },
  },
  exited(9),
];
const CONTAINER_HISTORY: HistoryEvent[] = [
  entered(1),
  {
    type: 'TaskFailed',
    timestamp: at(20),
    id: 0,
    taskFailedEventDetails: {
      resourceType: 'ecs',
      resource: 'runTask.sync',
      cause: JSON.stringify({ TaskArn: TASK_ARN_1, StopCode: 'X' }),
    },
  },
  entered(25, 'MarkRetrying'),
  entered(30),
];

describe('attempts from the execution history', () => {
  test('one attempt per Run state, with its window and runner', () => {
    expect(attemptsFromHistory(LAMBDA_HISTORY)).toEqual([
      { n: 1, startedTime: T0 + 2000, endTime: T0 + 5000 },
      { n: 2, startedTime: T0 + 8000, endTime: T0 + 9000, runnerId: 'req-2' },
    ]);
    expect(attemptsFromHistory(CONTAINER_HISTORY)).toEqual([
      { n: 1, startedTime: T0 + 1000, endTime: T0 + 20000, runnerId: TASK_ARN_1 },
      { n: 2, startedTime: T0 + 30000 },
    ]);
  });
});

describe('logs', () => {
  test('reads every attempt of a Lambda task in order, each by its window (up to the next attempt) and request id', async () => {
    mocks.ddb.on(GetCommand).resolves({ Item: taskItem({ status: 'Succeeded', runnerId: 'req-2', alreadyRetriedTimes: 1 }) });
    mocks.sfn.on(GetExecutionHistoryCommand).resolves({ events: LAMBDA_HISTORY });
    mocks.logs
      .on(FilterLogEventsCommand, { startTime: T0 + 2000 })
      .resolves({ events: [{ timestamp: T0 + 3000, message: 'first\n' }] })
      .on(FilterLogEventsCommand, { startTime: T0 + 8000 })
      .resolves({ events: [{ timestamp: T0 + 8500, message: 'second' }] });

    const first = ok<LogsResult>(await handler({ op: 'logs', functionName: 'etl', taskId: 'job_1' }));
    expect(first).toMatchObject({ events: [{ timestamp: T0 + 3000, message: 'first', attempt: 1 }], attempt: 1, attempts: 2 });
    expect(first.nextToken).toEqual(expect.any(String));
    const second = ok<LogsResult>(await handler({ op: 'logs', functionName: 'etl', taskId: 'job_1', nextToken: first.nextToken }));

    expect(second).toEqual({
      events: [{ timestamp: T0 + 8500, message: 'second', attempt: 2 }],
      status: 'Succeeded',
      attempt: 2,
      attempts: 2,
    });
    const calls = mocks.logs.commandCalls(FilterLogEventsCommand).map((c) => c.args[0].input);
    expect(calls[0]).toEqual({ logGroupName: '/aws/lambda/etl-worker', startTime: T0 + 2000, endTime: T0 + 8000 - 1, limit: 100 });
    expect(calls[1]).toEqual({
      logGroupName: '/aws/lambda/etl-worker',
      startTime: T0 + 8000,
      endTime: T0 + 9000 + 60_000,
      filterPattern: '"req-2"',
      limit: 100,
    });
  });

  test('reads one attempt with attempt, and does not go on to the next', async () => {
    mocks.ddb.on(GetCommand).resolves({ Item: taskItem({ status: 'Succeeded', runnerId: 'req-2' }) });
    mocks.sfn.on(GetExecutionHistoryCommand).resolves({ events: LAMBDA_HISTORY });
    mocks.logs.on(FilterLogEventsCommand).resolves({ events: [{ timestamp: T0 + 8500, message: 'second' }] });

    const result = ok<LogsResult>(await handler({ op: 'logs', functionName: 'etl', taskId: 'job_1', attempt: 2 }));

    expect(result).toEqual({
      events: [{ timestamp: T0 + 8500, message: 'second', attempt: 2 }],
      status: 'Succeeded',
      attempt: 2,
      attempts: 2,
    });
  });

  test('reads each container attempt from its own log stream; the running one from the item', async () => {
    mocks.ddb.on(GetCommand).resolves({
      Item: taskItem({ status: 'Running', runnerId: TASK_ARN_2, logStream: 'transcode/worker/bbbb2222' }, TRANSCODE),
    });
    mocks.sfn.on(GetExecutionHistoryCommand).resolves({ events: CONTAINER_HISTORY });
    mocks.logs
      .on(GetLogEventsCommand, { logStreamName: 'transcode/worker/aaaa1111' })
      .resolves({ events: [{ timestamp: 1, message: 'one' }], nextForwardToken: 'f/1' })
      .on(GetLogEventsCommand, { logStreamName: 'transcode/worker/bbbb2222' })
      .resolves({ events: [{ timestamp: 2, message: 'two' }], nextForwardToken: 'g/1' });

    const first = ok<LogsResult>(await handler({ op: 'logs', functionName: 'transcode', taskId: 'job_1' }));
    const again = ok<LogsResult>(await handler({ op: 'logs', functionName: 'transcode', taskId: 'job_1', nextToken: first.nextToken }));
    const next = ok<LogsResult>(await handler({ op: 'logs', functionName: 'transcode', taskId: 'job_1', nextToken: again.nextToken }));

    expect(first.events).toEqual([{ timestamp: 1, message: 'one', attempt: 1 }]);
    // The stream answered its own token: attempt 1 has nothing more, so on to attempt 2.
    expect(again).toMatchObject({ events: [{ timestamp: 1, message: 'one', attempt: 1 }], attempt: 1 });
    expect(next).toMatchObject({ events: [{ timestamp: 2, message: 'two', attempt: 2 }], attempt: 2, attempts: 2, status: 'Running' });
    expect(mocks.logs).toHaveReceivedCommandWith(GetLogEventsCommand, { nextToken: 'f/1', logStreamName: 'transcode/worker/aaaa1111' });
  });

  test('without a readable history, reads the one attempt the item describes', async () => {
    mocks.ddb.on(GetCommand).resolves({ Item: taskItem({ status: 'Succeeded', logStream: 's' }, TRANSCODE) });
    mocks.sfn.on(GetExecutionHistoryCommand).rejects(awsError('ExecutionDoesNotExist'));
    mocks.logs.on(GetLogEventsCommand).resolves({ events: [{ timestamp: 1, message: 'x' }], nextForwardToken: 'f/9' });

    const result = ok<LogsResult>(await handler({ op: 'logs', functionName: 'transcode', taskId: 'job_1' }));

    expect(result.events).toEqual([{ timestamp: 1, message: 'x', attempt: 1 }]);
    expect(result.attempts).toBe(1);
  });

  test('returns no events for a task that has not started', async () => {
    mocks.ddb.on(GetCommand).resolves({ Item: taskItem({ status: 'Enqueued' }, TRANSCODE) });
    mocks.sfn.on(GetExecutionHistoryCommand).resolves({ events: [] });

    const result = ok<LogsResult>(await handler({ op: 'logs', functionName: 'transcode', taskId: 'job_1' }));

    expect(result).toEqual({ events: [], status: 'Enqueued', attempts: 0 });
    expect(mocks.logs).not.toHaveReceivedCommand(GetLogEventsCommand);
  });

  test('fails if attempt is beyond the attempts so far', async () => {
    mocks.ddb.on(GetCommand).resolves({ Item: taskItem({ status: 'Succeeded' }) });
    mocks.sfn.on(GetExecutionHistoryCommand).resolves({ events: LAMBDA_HISTORY });

    const error = failed(await handler({ op: 'logs', functionName: 'etl', taskId: 'job_1', attempt: 3 }));

    expect(error.name).toBe('InvalidArgument');
    expect(error.message).toBe("attempt must be an integer between 1 and 2 inclusive: task 'job_1' has had 2 attempt(s) (given 3)");
  });

  test('fails if attempt is not a positive integer', async () => {
    const error = failed(await handler({ op: 'logs', functionName: 'etl', taskId: 'job_1', attempt: 1.5 }));

    expect(error).toEqual({ name: 'InvalidArgument', message: 'attempt must be an integer of 1 or more (given 1.5)' });
  });

  test('fails if nextToken is not one of ours', async () => {
    const error = failed(await handler({ op: 'logs', functionName: 'etl', taskId: 'job_1', nextToken: 'f/1' }));

    expect(error).toEqual({ name: 'InvalidArgument', message: "nextToken 'f/1' is not a nextToken of a previous logs call" });
  });

  test('fails if limit is out of range', async () => {
    const error = failed(await handler({ op: 'logs', functionName: 'etl', taskId: 'job_1', limit: 0 }));

    expect(error).toEqual({ name: 'InvalidArgument', message: 'limit must be an integer between 1 and 10000 inclusive (given 0)' });
  });

  test('fails if the task does not exist', async () => {
    mocks.ddb.on(GetCommand).resolves({});

    expect(failed(await handler({ op: 'logs', functionName: 'etl', taskId: 'job_1' })).name).toBe('TaskNotFound');
  });
});

describe('exec', () => {
  test('names the cluster, ECS task and container of the running attempt', async () => {
    mocks.ddb.on(GetCommand).resolves({ Item: taskItem({ status: 'Running', runnerId: TASK_ARN_2, alreadyRetriedTimes: 1 }, TRANSCODE) });

    const result = ok<ExecResult>(await handler({ op: 'exec', functionName: 'transcode', taskId: 'job_1' }));

    expect(result).toEqual({ cluster: 'asynctask-transcode', taskArn: TASK_ARN_2, container: 'worker', attempt: 2 });
  });

  test('fails if the task is not Running', async () => {
    mocks.ddb.on(GetCommand).resolves({ Item: taskItem({ status: 'Succeeded', runnerId: TASK_ARN_2 }, TRANSCODE) });

    const error = failed(await handler({ op: 'exec', functionName: 'transcode', taskId: 'job_1' }));

    expect(error.name).toBe('InvalidTaskState');
    expect(error.message).toBe("task 'job_1' is Succeeded; exec needs a Running container task");
  });

  test('fails if the function is a Lambda task function', async () => {
    const error = failed(await handler({ op: 'exec', functionName: 'etl', taskId: 'job_1' }));

    expect(error.name).toBe('InvalidArgument');
    expect(error.message).toMatch(/function 'etl' is a lambda task function; exec needs a Running container task/);
    expect(mocks.ddb).not.toHaveReceivedCommand(GetCommand);
  });
});
