/**
 * Every record the TaskApi returns (submit, get, list, stop, retry) carries its cost estimate
 * (lambda/model/cost.ts), made from the item and the descriptor the operation has already read,
 * priced for the TaskApi's region, without a table read of its own.
 */
import 'aws-sdk-client-mock-jest';
import { StartExecutionCommand, StopExecutionCommand } from '@aws-sdk/client-sfn';
import { GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { handler } from '../../../lambda/handlers/task-api';
import type { ListResult, TaskItem, TaskRecord } from '../../../lambda/model';
import { mocks, ok, STARTED_AT, TRANSCODE, taskItem, useHandlerTestEnv } from './fixtures';

const NOW = Date.parse('2026-11-25T12:30:00.000Z');

useHandlerTestEnv(NOW);

const at = (seconds: number) => new Date(Date.parse(STARTED_AT) + seconds * 1000).toISOString();

/** An etl task (SQS onSuccess) that succeeded at its first attempt after 2 s of work. */
const succeeded: TaskItem = taskItem({
  status: 'Succeeded',
  returnPayload: '{"ok":true}',
  endedAt: at(3),
  destinationStatus: 'Succeeded',
  events: [
    { status: 'Enqueued', at: at(0), detail: 'submitted', caller: 'lambda:Invoke' },
    { status: 'Running', at: at(1), detail: 'attempt 1' },
    { status: 'Succeeded', at: at(3), detail: 'attempt 1' },
  ],
});

let region: string | undefined;
beforeEach(() => {
  region = process.env.AWS_REGION;
  process.env.AWS_REGION = 'us-east-1';
});
afterEach(() => {
  if (region === undefined) delete process.env.AWS_REGION;
  else process.env.AWS_REGION = region;
});

describe('records carry their cost', () => {
  test('get: the success path of docs/cost.md, with no read besides the GetItem', async () => {
    mocks.ddb.on(GetCommand).resolves({ Item: succeeded });

    const task = ok<TaskRecord>(await handler({ op: 'get', functionName: 'etl', taskId: 'job_1' }));

    expect(task.cost).toMatchObject({
      currency: 'USD',
      region: 'us-east-1',
      estimate: true,
      orchestration: { transitions: 4, dynamodbWrites: 3, dynamodbWriteUnits: 11, lambdaRequests: 1, sqsRequests: 1 },
      compute: { kind: 'lambda', attempts: 1, seconds: 2 },
    });
    expect(task.cost?.totalUsd).toBeGreaterThan(0.0001);
    expect(task.cost?.totalUsd).toBeCloseTo((task.cost?.orchestration.usd ?? 0) + (task.cost?.compute.usd ?? 0), 12);
    expect(mocks.ddb).toHaveReceivedCommandTimes(GetCommand, 1);
    expect(mocks.ddb).not.toHaveReceivedCommand(QueryCommand);
  });

  test("the TaskApi's region prices it; a region without a row is priced as us-east-1 with a note", async () => {
    mocks.ddb.on(GetCommand).resolves({ Item: succeeded });
    process.env.AWS_REGION = 'eu-west-1';
    const eu = ok<TaskRecord>(await handler({ op: 'get', functionName: 'etl', taskId: 'job_1' }));
    process.env.AWS_REGION = 'sa-east-1';
    const elsewhere = ok<TaskRecord>(await handler({ op: 'get', functionName: 'etl', taskId: 'job_1' }));

    expect(eu.cost?.region).toBe('eu-west-1');
    expect(elsewhere.cost?.region).toBe('us-east-1');
    expect(elsewhere.cost?.notes).toContain("no list prices for region 'sa-east-1': priced as us-east-1");
    expect(eu.cost?.orchestration.usd).toBeGreaterThan(elsewhere.cost?.orchestration.usd ?? Infinity);
  });

  test('list: every task of the page, from the one Query', async () => {
    const running = taskItem({
      taskId: 'job_2',
      status: 'Running',
      events: [
        { status: 'Enqueued', at: at(0), detail: 'submitted' },
        { status: 'Running', at: at(1), detail: 'attempt 1' },
      ],
    });
    mocks.ddb.on(QueryCommand).resolves({ Items: [running, succeeded] });

    const result = ok<ListResult>(await handler({ op: 'list', functionName: 'etl' }));

    expect(result.tasks.map((t) => t.cost?.orchestration.transitions)).toEqual([2, 4]);
    // The live one is priced so far: its attempt has run from 12:00:01 until now (12:30).
    expect(result.tasks[0].cost?.notes).toContain('so far: the task is Running');
    expect(result.tasks[0].cost?.compute.seconds).toBe(30 * 60 - 1);
    expect(mocks.ddb).toHaveReceivedCommandTimes(QueryCommand, 1);
    expect(mocks.ddb).not.toHaveReceivedCommand(GetCommand);
  });

  test('a container task is priced with its Fargate size from the descriptor', async () => {
    const item = taskItem(
      {
        status: 'Succeeded',
        returnPayload: '{"ok":true}',
        endedAt: at(700),
        events: [
          { status: 'Enqueued', at: at(0), detail: 'submitted' },
          { status: 'Running', at: at(100), detail: 'attempt 1' },
          { status: 'Succeeded', at: at(700), detail: 'attempt 1' },
        ],
      },
      TRANSCODE,
    );
    mocks.ddb.on(GetCommand).resolves({ Item: item });

    const task = ok<TaskRecord>(await handler({ op: 'get', functionName: 'transcode', taskId: 'job_1' }));

    // The fixture descriptor has no compute: ContainerTaskFunction's defaults are assumed, and said.
    expect(task.cost?.compute).toMatchObject({ kind: 'fargate', seconds: 600, vcpuSeconds: 600, gbSeconds: 1200 });
    expect(task.cost?.notes.join('\n')).toMatch(/1024 cpu units and 2048 MiB assumed/);
    expect(task.cost?.orchestration.s3Requests).toBe(2);
  });

  test('submit: the put and the TaskApi request so far', async () => {
    mocks.ddb.on(PutCommand).resolves({});
    mocks.sfn.on(StartExecutionCommand).resolves({ executionArn: 'x', startDate: new Date(NOW) });

    const task = ok<TaskRecord>(await handler({ op: 'submit', functionName: 'etl', taskId: 'job_9', payload: { a: 1 } }));

    expect(task.cost?.orchestration).toMatchObject({ transitions: 0, dynamodbWrites: 1, dynamodbWriteUnits: 3, lambdaRequests: 1 });
    expect(task.cost?.notes).toContain('so far: the task is Enqueued');
  });

  test('stop: the stop request and its write are counted', async () => {
    const stopping = taskItem({
      status: 'Stopping',
      events: [
        { status: 'Enqueued', at: at(0), detail: 'submitted' },
        { status: 'Running', at: at(1), detail: 'attempt 1' },
        { status: 'Stopping', at: isoNow(), detail: 'stop requested', caller: 'lambda:Invoke' },
      ],
    });
    mocks.ddb.on(UpdateCommand).resolves({ Attributes: stopping });
    mocks.sfn.on(StopExecutionCommand).resolves({ stopDate: new Date(NOW) });

    const task = ok<TaskRecord>(await handler({ op: 'stop', functionName: 'etl', taskId: 'job_1' }));

    expect(task.cost?.orchestration).toMatchObject({ transitions: 2, dynamodbWrites: 3, lambdaRequests: 2 });
  });

  test('retry: the earlier run and the retry request are counted', async () => {
    const failedItem = taskItem({
      status: 'Failed',
      endedAt: at(5),
      taskErrorMessage: 'boom',
      events: [
        { status: 'Enqueued', at: at(0), detail: 'submitted' },
        { status: 'Running', at: at(1), detail: 'attempt 1' },
        { status: 'Failed', at: at(5), detail: 'execution FAILED: TaskRetriesExhausted' },
      ],
    });
    mocks.ddb.on(UpdateCommand).resolves({ Attributes: failedItem });
    mocks.sfn.on(StartExecutionCommand).resolves({});

    const task = ok<TaskRecord>(await handler({ op: 'retry', functionName: 'etl', taskId: 'job_1' }));

    // submit + finalizer + retry
    expect(task.cost?.orchestration.lambdaRequests).toBe(3);
    expect(task.cost?.notes).toContain('so far: the task is Enqueued');
  });
});

function isoNow(): string {
  return new Date(NOW).toISOString();
}
