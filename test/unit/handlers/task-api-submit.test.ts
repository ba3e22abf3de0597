import 'aws-sdk-client-mock-jest';
import { StartExecutionCommand } from '@aws-sdk/client-sfn';
import { DeleteCommand, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { handler } from '../../../lambda/handlers/task-api';
import {
  type ExecutionInput,
  executionArn,
  MAX_PAYLOAD_BYTES,
  type TaskFunctionSummary,
  type TaskItem,
  type TaskRecord,
  TASK_ID_RULE,
} from '../../../lambda/model';
import {
  LAMBDA_CONTEXT,
  awsError,
  conditionFailed,
  ETL,
  mocks,
  PLAIN,
  TABLE_NAME,
  TRANSCODE,
  taskItem,
  failed,
  ok,
  quietLogs,
  setServiceEnv,
  useHandlerTestEnv,
} from './fixtures';

const NOW = Date.parse('2026-11-25T12:00:00.000Z');

useHandlerTestEnv(NOW);

describe('submit', () => {
  test('writes the task conditionally and starts its execution named after the request id', async () => {
    mocks.ddb.on(PutCommand).resolves({});
    mocks.sfn.on(StartExecutionCommand).resolves({ executionArn: 'x', startDate: new Date(NOW) });

    const task = ok<TaskRecord>(await handler({ op: 'submit', functionName: 'etl', taskId: 'job_1', payload: { a: 1 } }));

    const put = mocks.ddb.commandCalls(PutCommand)[0].args[0].input;
    const item = put.Item as TaskItem;
    expect(put.TableName).toBe(TABLE_NAME);
    expect(put.ConditionExpression).toBe('attribute_not_exists(#taskId) OR #expiresAt < :nowSeconds');
    expect(put.ExpressionAttributeNames).toEqual({ '#taskId': 'taskId', '#expiresAt': 'expiresAt' });
    expect(put.ExpressionAttributeValues).toEqual({ ':nowSeconds': NOW / 1000 });
    expect(put.ReturnValuesOnConditionCheckFailure).toBe('ALL_OLD');
    expect(item).toMatchObject({
      functionName: 'etl',
      taskId: 'job_1',
      status: 'Enqueued',
      statusKey: 'etl#Enqueued',
      listKey: '2026-11-25T12:00:00.000Z#job_1',
      taskPayload: '{"a":1}',
      alreadyRetriedTimes: 0,
      startedAt: '2026-11-25T12:00:00.000Z',
      deadline: '2026-11-25T13:00:00.000Z',
      events: [{ status: 'Enqueued', at: '2026-11-25T12:00:00.000Z', detail: 'submitted', caller: 'lambda:Invoke' }],
      expiresAt: NOW / 1000 + 3600 + 7 * 24 * 3600,
    });
    expect(item.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(item.executionArn).toBe(executionArn(ETL.stateMachineArn, item.requestId));

    const start = mocks.sfn.commandCalls(StartExecutionCommand)[0].args[0].input;
    expect(start.stateMachineArn).toBe(ETL.stateMachineArn);
    expect(start.name).toBe(item.requestId);
    expect(JSON.parse(start.input ?? '') as ExecutionInput).toEqual({
      task: {
        functionName: 'etl',
        taskId: 'job_1',
        requestId: item.requestId,
        payload: { a: 1 },
        deadline: '2026-11-25T13:00:00.000Z',
        startedAt: '2026-11-25T12:00:00.000Z',
        source: null,
      },
      attempt: { n: 1, delay: 0 },
    });
    expect(task).toMatchObject({
      taskId: 'job_1',
      functionName: 'etl',
      status: 'Enqueued',
      taskPayload: { a: 1 },
      startedTime: NOW,
      alreadyRetriedTimes: 0,
      executionArn: item.executionArn,
      events: [{ status: 'Enqueued', timestamp: NOW, detail: 'submitted', caller: 'lambda:Invoke' }],
    });
  });

  test('generates a valid task id when none is given and stores an empty object payload', async () => {
    mocks.ddb.on(PutCommand).resolves({});
    mocks.sfn.on(StartExecutionCommand).resolves({});

    const task = ok<TaskRecord>(await handler({ op: 'submit', functionName: 'plain' }));

    expect(task.taskId).toMatch(/^t_[0-9a-f]{32}$/);
    expect(mocks.ddb).toHaveReceivedCommandWith(PutCommand, {
      Item: expect.objectContaining({ taskId: task.taskId, taskPayload: '{}', deadline: '2026-11-25T12:01:00.000Z' }),
    });
  });

  test('fails if the task id breaks the rule, naming the rule, and writes nothing', async () => {
    const error = failed(await handler({ op: 'submit', functionName: 'etl', taskId: '9lives' }));

    expect(error.name).toBe('InvalidTaskId');
    expect(error.message).toBe(`invalid task id '9lives': it starts with '9'; a task id must be ${TASK_ID_RULE}`);
    expect(mocks.ddb).not.toHaveReceivedCommand(PutCommand);
    expect(mocks.sfn).not.toHaveReceivedCommand(StartExecutionCommand);
  });

  test('fails if the task id is in a trigger’s namespace (k_, s_), and writes nothing', async () => {
    const error = failed(await handler({ op: 'submit', functionName: 'etl', taskId: 's_m-1' }));

    expect(error.name).toBe('InvalidTaskId');
    expect(error.message).toMatch(/^task id 's_m-1' is reserved: ids starting with 's_' are made by the SQS trigger/);
    expect(mocks.ddb).not.toHaveReceivedCommand(PutCommand);
  });

  test('fails if the task id is longer than 128 characters', async () => {
    const error = failed(await handler({ op: 'submit', functionName: 'etl', taskId: `a${'b'.repeat(128)}` }));

    expect(error.name).toBe('InvalidTaskId');
    expect(error.message).toMatch(/it is 129 characters long; a task id must be 1-128 characters/);
  });

  test('fails if the function is unknown, naming it and the known functions', async () => {
    const error = failed(await handler({ op: 'submit', functionName: 'nope', taskId: 'job_1' }));

    expect(error).toEqual({
      name: 'TaskFunctionNotFound',
      message: expect.stringMatching(
        /^task function 'nope' not found in the registry SSM path '\/asynctask\/test-\d+\/functions\/'; known functions: etl, transcode, plain$/,
      ),
      details: { functionName: 'nope', known: ['etl', 'transcode', 'plain'] },
    });
    expect(mocks.ddb).not.toHaveReceivedCommand(PutCommand);
  });

  test('fails if the function name is missing', async () => {
    const error = failed(await handler({ op: 'submit', taskId: 'job_1' }));

    expect(error).toEqual({
      name: 'InvalidArgument',
      message: 'functionName is required and must be a non-empty string (given nothing); known functions: etl, transcode, plain',
    });
  });

  test('fails if the payload is not JSON-serializable', async () => {
    const error = failed(await handler({ op: 'submit', functionName: 'etl', payload: { n: 10n } }));

    expect(error.name).toBe('InvalidPayload');
    expect(error.message).toMatch(/^payload is not JSON-serializable: .*BigInt/);
    expect(mocks.ddb).not.toHaveReceivedCommand(PutCommand);
  });

  test('fails if the payload is over 128 KiB, naming the limit', async () => {
    const error = failed(await handler({ op: 'submit', functionName: 'etl', payload: { blob: 'x'.repeat(MAX_PAYLOAD_BYTES) } }));

    expect(error.name).toBe('InvalidPayload');
    expect(error.message).toBe(
      `payload is ${MAX_PAYLOAD_BYTES + 11} bytes of JSON; the limit is 131072 bytes (128 KiB) — put larger inputs in S3 and pass their location`,
    );
    expect(mocks.ddb).not.toHaveReceivedCommand(PutCommand);
  });

  test('fails if the task id already exists, returning the existing task and starting nothing', async () => {
    const existing = taskItem({ status: 'Running', taskId: 'job_1' });
    mocks.ddb.on(PutCommand).rejects(conditionFailed(existing));

    const error = failed(await handler({ op: 'submit', functionName: 'etl', taskId: 'job_1', payload: { a: 2 } }));

    expect(error.name).toBe('TaskAlreadyExists');
    expect(error.message).toBe(
      `task 'job_1' of function 'etl' already exists (status Running, requestId ${existing.requestId}); a task id stays reserved while its record is kept`,
    );
    expect(error.details?.existingTask).toMatchObject({
      taskId: 'job_1',
      status: 'Running',
      taskPayload: { records: [1, 2] },
      executionArn: existing.executionArn,
    });
    expect(mocks.sfn).not.toHaveReceivedCommand(StartExecutionCommand);
    expect(mocks.ddb).not.toHaveReceivedCommand(DeleteCommand);
  });

  test('fails if the task id already exists, reading the task when the write returned none', async () => {
    mocks.ddb.on(PutCommand).rejects(conditionFailed());
    mocks.ddb.on(GetCommand).resolves({ Item: taskItem({ status: 'Succeeded' }) });

    const error = failed(await handler({ op: 'submit', functionName: 'etl', taskId: 'job_1' }));

    expect(error.name).toBe('TaskAlreadyExists');
    expect(error.details?.existingTask).toMatchObject({ status: 'Succeeded' });
    expect(mocks.ddb).toHaveReceivedCommandWith(GetCommand, {
      Key: { functionName: 'etl', taskId: 'job_1' },
      ConsistentRead: true,
    });
    expect(mocks.sfn).not.toHaveReceivedCommand(StartExecutionCommand);
  });

  test('fails if StartExecution fails, deleting the record it wrote so the id is free again', async () => {
    mocks.ddb.on(PutCommand).resolves({});
    mocks.ddb.on(DeleteCommand).resolves({});
    mocks.sfn.on(StartExecutionCommand).rejects(awsError('StateMachineDoesNotExist', 'State Machine Does Not Exist'));

    const error = failed(await handler({ op: 'submit', functionName: 'etl', taskId: 'job_1' }));

    const requestId = (mocks.ddb.commandCalls(PutCommand)[0].args[0].input.Item as TaskItem).requestId;
    expect(error.name).toBe('ServiceError');
    expect(error.message).toBe(
      "could not start task 'job_1' of function 'etl' (StateMachineDoesNotExist: State Machine Does Not Exist); the task was not accepted, submit it again",
    );
    expect(mocks.ddb).toHaveReceivedCommandWith(DeleteCommand, {
      TableName: TABLE_NAME,
      Key: { functionName: 'etl', taskId: 'job_1' },
      ConditionExpression: '#requestId = :requestId',
      ExpressionAttributeValues: { ':requestId': requestId },
    });
  });
});

describe('get', () => {
  test('returns the record with epoch-millisecond times', async () => {
    mocks.ddb.on(GetCommand).resolves({
      Item: taskItem({ status: 'Succeeded', endedAt: '2026-11-25T12:00:05.000Z', returnPayload: '{"rows":3}' }),
    });

    const task = ok<TaskRecord>(await handler({ op: 'get', functionName: 'etl', taskId: 'job_1' }));

    expect(task).toMatchObject({
      status: 'Succeeded',
      startedTime: NOW,
      endTime: NOW + 5000,
      durationMs: 5000,
      returnPayload: { rows: 3 },
    });
    expect(mocks.ddb).toHaveReceivedCommandWith(GetCommand, {
      TableName: TABLE_NAME,
      Key: { functionName: 'etl', taskId: 'job_1' },
      ConsistentRead: true,
    });
  });

  test('fails if the task does not exist, naming the function and the id', async () => {
    mocks.ddb.on(GetCommand).resolves({});

    const error = failed(await handler({ op: 'get', functionName: 'etl', taskId: 'ghost' }));

    expect(error).toEqual({
      name: 'TaskNotFound',
      message: "task 'ghost' of function 'etl' not found",
      details: { functionName: 'etl', taskId: 'ghost' },
    });
  });

  test('fails if the id is the concurrency item key, which is no task id', async () => {
    const error = failed(await handler({ op: 'get', functionName: 'transcode', taskId: '#concurrency' }));

    expect(error.name).toBe('InvalidTaskId');
    expect(mocks.ddb).not.toHaveReceivedCommand(GetCommand);
  });
});

describe('functions', () => {
  test('summarises the registry', async () => {
    const summaries = ok<TaskFunctionSummary[]>(await handler({ op: 'functions' }));

    expect(summaries).toEqual([
      {
        name: 'etl',
        kind: 'lambda',
        maxRetryAttempts: 2,
        maxEventAgeSeconds: 3600,
        timeoutSeconds: 300,
        onSuccess: ETL.onSuccess?.arn,
        onFailure: ETL.onFailure?.arn,
        stateMachineArn: ETL.stateMachineArn,
        description: 'Kafka ETL',
        runnerArn: ETL.runnerArn,
        onSuccessDestination: ETL.onSuccess,
        onFailureDestination: ETL.onFailure,
        logGroupName: ETL.logGroupName,
      },
      {
        name: 'transcode',
        kind: 'container',
        maxRetryAttempts: 2,
        maxEventAgeSeconds: 18000,
        timeoutSeconds: 7200,
        maxConcurrency: 2,
        onFailure: TRANSCODE.onFailure?.arn,
        stateMachineArn: TRANSCODE.stateMachineArn,
        runnerArn: TRANSCODE.runnerArn,
        onFailureDestination: TRANSCODE.onFailure,
        logGroupName: TRANSCODE.logGroupName,
      },
      {
        name: 'plain',
        kind: 'lambda',
        maxRetryAttempts: 0,
        maxEventAgeSeconds: 60,
        timeoutSeconds: 60,
        stateMachineArn: PLAIN.stateMachineArn,
        runnerArn: PLAIN.runnerArn,
      },
    ]);
  });

  test("shows each function's triggers from its descriptor", async () => {
    const triggers = [
      { type: 'kafka', topics: ['orders'], cluster: 'b-1:9092', batchSize: 100, mode: 'batch', startingPosition: 'LATEST' },
      { type: 'sqs', queueArn: 'arn:aws:sqs:us-east-1:123456789012:etl-in', batchSize: 10, mode: 'record' },
    ] as const;
    setServiceEnv([{ ...ETL, triggers }, PLAIN]);

    const summaries = ok<TaskFunctionSummary[]>(await handler({ op: 'functions' }));

    expect(summaries[0].triggers).toEqual(triggers);
    expect(summaries[1]).not.toHaveProperty('triggers');
  });
});

describe('the handler', () => {
  test('fails if the operation is unknown, listing the operations', async () => {
    const error = failed(await handler({ op: 'delete', functionName: 'etl' }));

    expect(error).toEqual({
      name: 'InvalidArgument',
      message: 'unknown operation "delete"; allowed: submit, get, list, stop, retry, logs, exec, functions, stats',
    });
  });

  test('fails if the request is not an object', async () => {
    const error = failed(await handler('submit'));

    expect(error.name).toBe('InvalidArgument');
    expect(error.message).toBe(`the request must be a JSON object with an 'op' (given "submit")`);
  });

  test('fails with a logged ServiceError if an AWS call fails unexpectedly, never throwing', async () => {
    const logs = quietLogs();
    mocks.ddb.on(GetCommand).rejects(awsError('ProvisionedThroughputExceededException', 'slow down'));

    const error = failed(await handler({ op: 'get', functionName: 'etl', taskId: 'job_1' }, LAMBDA_CONTEXT));

    expect(error).toEqual({ name: 'ServiceError', message: 'ProvisionedThroughputExceededException: slow down' });
    expect(logs.lines().at(-1)).toMatchObject({
      level: 'ERROR',
      message: 'request failed',
      function_request_id: LAMBDA_CONTEXT.awsRequestId,
      functionName: 'etl',
      taskId: 'job_1',
      op: 'get',
      error: { name: 'ProvisionedThroughputExceededException', message: 'slow down' },
    });
  });

  test('every line of a request carries the request id and the task; the next request starts clean', async () => {
    const logs = quietLogs();
    mocks.ddb.on(PutCommand).resolves({});
    mocks.sfn.on(StartExecutionCommand).resolves({});

    const task = ok<TaskRecord>(await handler({ op: 'submit', functionName: 'plain' }, LAMBDA_CONTEXT));
    const submitted = logs.lines();
    ok(await handler({ op: 'functions' }, { ...LAMBDA_CONTEXT, awsRequestId: 'second-request' }));

    expect(submitted.length).toBeGreaterThan(0);
    for (const line of submitted) {
      // The id was generated by submit: it is on the line all the same.
      expect(line).toMatchObject({ function_request_id: LAMBDA_CONTEXT.awsRequestId, functionName: 'plain', taskId: task.taskId });
    }
    const later = logs.lines().slice(submitted.length);
    for (const line of later) {
      expect(line).toMatchObject({ function_request_id: 'second-request' });
      expect(line.taskId).toBeUndefined();
    }
  });

  test('fails with a ServiceError if the table is not configured', async () => {
    delete process.env.ASYNCTASK_TABLE;

    const error = failed(await handler({ op: 'functions' }));

    expect(error).toEqual({
      name: 'ServiceError',
      message: 'the service is misconfigured: environment variable ASYNCTASK_TABLE is not set',
    });
  });
});
