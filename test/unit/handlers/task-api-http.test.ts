/**
 * TaskApi behind API Gateway: a REST proxy event for each route runs the same operation as a
 * direct invoke and is answered with the status of the outcome and the same `{ok, ...}` body; bad
 * input is a 4xx with the typed error and no AWS call; the caller (the IAM principal, or
 * `lambda:Invoke` for a direct invoke) is recorded on the events that submit, stop and retry write.
 */
import 'aws-sdk-client-mock-jest';
import { FilterLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { GetExecutionHistoryCommand, StartExecutionCommand, StopExecutionCommand } from '@aws-sdk/client-sfn';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { type ExecutionStatusChangeEvent, handler as finalizer } from '../../../lambda/handlers/finalizer';
import { handler } from '../../../lambda/handlers/task-api';
import type {
  ApiGatewayProxyEvent,
  ApiGatewayProxyResult,
  HttpIdentity,
  TaskApiResponse,
  TaskItem,
  TaskRecord,
  WireError,
} from '../../../lambda/model';
import { FakeTable } from './fake-table';
import {
  awsError,
  conditionFailed,
  ETL,
  failed,
  mocks,
  noEconomyTasks,
  ok,
  quietLogs,
  taskItem,
  TRANSCODE,
  useHandlerTestEnv,
} from './fixtures';

const NOW = Date.parse('2026-11-25T12:30:00.000Z');
const NOW_ISO = '2026-11-25T12:30:00.000Z';
const ALICE = 'arn:aws:iam::123456789012:user/alice';
const BOB = 'arn:aws:sts::123456789012:assumed-role/video-operators/bob';
const CAROL = 'arn:aws:iam::123456789012:role/data-team';

useHandlerTestEnv(NOW);

interface Request {
  readonly query?: Record<string, string[]>;
  readonly body?: string;
  readonly identity?: HttpIdentity;
  readonly base64?: boolean;
}

/** What API Gateway sends the TaskApi for a signed request (REST API, Lambda proxy integration). */
function proxyEvent(method: string, path: string, request: Request = {}): ApiGatewayProxyEvent {
  return {
    httpMethod: method,
    path,
    resource: path,
    headers: { 'content-type': 'application/json' },
    multiValueQueryStringParameters: request.query ?? null,
    queryStringParameters: request.query ? Object.fromEntries(Object.entries(request.query).map(([k, v]) => [k, v[v.length - 1]])) : null,
    body: request.body === undefined ? null : request.base64 ? Buffer.from(request.body).toString('base64') : request.body,
    isBase64Encoded: request.base64 ?? false,
    requestContext: {
      requestId: 'api-req-1',
      identity: request.identity ?? { userArn: ALICE, caller: 'AIDAALICE', accessKey: 'AKIAALICE', sourceIp: '203.0.113.7' },
    },
  };
}

/** The proxy response's status and its parsed body (always the TaskApi's `{ok, ...}`). */
function parse(response: ApiGatewayProxyResult): { statusCode: number; body: TaskApiResponse } {
  expect(response.headers).toEqual({ 'content-type': 'application/json' });
  return { statusCode: response.statusCode, body: JSON.parse(response.body) as TaskApiResponse };
}

async function call(method: string, path: string, request?: Request): Promise<{ statusCode: number; body: TaskApiResponse }> {
  return parse(await handler(proxyEvent(method, path, request)));
}

function okBody<T>(answer: { statusCode: number; body: TaskApiResponse }): T {
  expect(answer.statusCode).toBe(200);
  return ok<T>(answer.body);
}

function errorBody(answer: { statusCode: number; body: TaskApiResponse }, statusCode: number): WireError {
  expect(answer.statusCode).toBe(statusCode);
  return failed(answer.body);
}

/** No AWS call of any kind (the registry's SSM read included): the request was refused before. */
function expectNoAwsCall(): void {
  for (const [name, mock] of Object.entries(mocks)) expect({ [name]: mock.calls().length }).toEqual({ [name]: 0 });
}

describe('each route runs its operation', () => {
  test('GET /functions: the registry summarised', async () => {
    const functions = okBody<Array<{ name: string }>>(await call('GET', '/functions'));
    expect(functions.map((f) => f.name)).toEqual(['etl', 'transcode', 'plain']);
  });

  test('POST /functions/{fn}/tasks: submits, recording the IAM principal on the first event', async () => {
    mocks.ddb.on(PutCommand).resolves({});
    mocks.sfn.on(StartExecutionCommand).resolves({});

    const task = okBody<TaskRecord>(
      await call('POST', '/functions/etl/tasks', { body: JSON.stringify({ taskId: 'job_1', payload: { a: 1 } }) }),
    );

    expect(mocks.ddb).toHaveReceivedCommandWith(PutCommand, {
      Item: expect.objectContaining({
        taskId: 'job_1',
        taskPayload: '{"a":1}',
        events: [{ status: 'Enqueued', at: NOW_ISO, detail: 'submitted', caller: ALICE }],
      }),
    });
    expect(task).toMatchObject({ taskId: 'job_1', status: 'Enqueued', taskPayload: { a: 1 } });
    expect(task.events).toEqual([{ status: 'Enqueued', timestamp: NOW, detail: 'submitted', caller: ALICE }]);
  });

  test('POST /functions/{fn}/tasks with a base64 body and no task id: an id is generated', async () => {
    mocks.ddb.on(PutCommand).resolves({});
    mocks.sfn.on(StartExecutionCommand).resolves({});

    const task = okBody<TaskRecord>(await call('POST', '/functions/plain/tasks', { body: '{"payload":[1,2]}', base64: true }));

    expect(task.taskId).toMatch(/^t_[0-9a-f]{32}$/);
    expect(task.taskPayload).toEqual([1, 2]);
  });

  test('GET /functions/{fn}/tasks: lists with the query parameters', async () => {
    mocks.ddb.on(QueryCommand).resolves({ Items: [taskItem({ taskId: 'job_1', status: 'Failed' })] });
    noEconomyTasks();

    const result = okBody<{ tasks: TaskRecord[] }>(
      await call('GET', '/functions/etl/tasks', { query: { status: ['Failed'], limit: ['5'] } }),
    );

    expect(result.tasks.map((t) => t.taskId)).toEqual(['job_1']);
    expect(mocks.ddb).toHaveReceivedCommandWith(QueryCommand, {
      IndexName: 'ByStatus',
      ExpressionAttributeValues: expect.objectContaining({ ':pk': 'etl#Failed' }),
    });
  });

  test('GET /functions/{fn}/tasks: the query falls back to queryStringParameters', async () => {
    mocks.ddb.on(QueryCommand).resolves({ Items: [] });
    const event = { ...proxyEvent('GET', '/functions/etl/tasks'), queryStringParameters: { limit: '0' } };

    const error = errorBody(parse(await handler(event)), 400);

    expect(error.message).toMatch(/limit must be an integer between 1 and 100 inclusive \(given 0\)/);
  });

  test('GET /functions/{fn}/stats: counts by Query', async () => {
    mocks.ddb.on(QueryCommand).resolves({ Count: 0, Items: [] });

    const stats = okBody<{ functionName: string; total: number }>(
      await call('GET', '/functions/etl/stats', { query: { since: [String(NOW - 3_600_000)] } }),
    );

    expect(stats).toMatchObject({ functionName: 'etl', total: 0 });
  });

  test('GET /functions/{fn}/tasks/{id}: the record', async () => {
    mocks.ddb.on(GetCommand).resolves({ Item: taskItem({ status: 'Running' }) });

    const task = okBody<TaskRecord>(await call('GET', '/functions/etl/tasks/job_1'));

    expect(task).toMatchObject({ taskId: 'job_1', functionName: 'etl', status: 'Running' });
    expect(mocks.ddb).toHaveReceivedCommandWith(GetCommand, { Key: { functionName: 'etl', taskId: 'job_1' } });
  });

  test('GET /functions/{fn}/tasks/{id}/logs: the attempt asked for, with the limit', async () => {
    mocks.ddb.on(GetCommand).resolves({ Item: taskItem({ status: 'Running', runnerId: 'req-1' }) });
    // One attempt so far: the Run state entered a minute ago.
    mocks.sfn.on(GetExecutionHistoryCommand).resolves({
      events: [{ type: 'TaskStateEntered', timestamp: new Date(NOW - 60_000), id: 1, stateEnteredEventDetails: { name: 'Run' } }],
    });
    mocks.logs.on(FilterLogEventsCommand).resolves({ events: [{ timestamp: NOW, message: 'hello\n' }] });

    const logs = okBody<{ events: unknown[]; attempt: number }>(
      await call('GET', '/functions/etl/tasks/job_1/logs', { query: { attempt: ['1'], limit: ['5'] } }),
    );

    expect(logs).toMatchObject({ events: [{ timestamp: NOW, message: 'hello', attempt: 1 }], attempt: 1 });
    expect(mocks.logs).toHaveReceivedCommandWith(FilterLogEventsCommand, { logGroupName: ETL.logGroupName, limit: 5 });
  });

  test('POST /functions/{fn}/tasks/{id}/stop: stops, recording the IAM principal on the Stopping event', async () => {
    const stopping = taskItem({ status: 'Stopping' });
    mocks.ddb.on(UpdateCommand).resolves({ Attributes: stopping });
    mocks.sfn.on(StopExecutionCommand).resolves({});

    const task = okBody<TaskRecord>(await call('POST', '/functions/etl/tasks/job_1/stop', { identity: { userArn: BOB } }));

    expect(task.status).toBe('Stopping');
    expect(mocks.ddb).toHaveReceivedCommandWith(UpdateCommand, {
      Key: { functionName: 'etl', taskId: 'job_1' },
      ExpressionAttributeValues: expect.objectContaining({
        ':status': 'Stopping',
        ':event': [{ status: 'Stopping', at: NOW_ISO, detail: 'stop requested', caller: BOB }],
      }),
    });
    expect(mocks.sfn).toHaveReceivedCommandWith(StopExecutionCommand, { executionArn: stopping.executionArn });
  });

  test('POST /functions/{fn}/tasks/{id}/retry: retries, recording the IAM principal on the Enqueued event', async () => {
    mocks.ddb.on(UpdateCommand).resolves({ Attributes: taskItem({ status: 'Failed' }) });
    mocks.sfn.on(StartExecutionCommand).resolves({});

    const task = okBody<TaskRecord>(await call('POST', '/functions/etl/tasks/job_1/retry', { body: '{}', identity: { userArn: CAROL } }));

    expect(task.status).toBe('Enqueued');
    expect(mocks.ddb).toHaveReceivedCommandWith(UpdateCommand, {
      ExpressionAttributeValues: expect.objectContaining({
        ':status': 'Enqueued',
        ':event': [{ status: 'Enqueued', at: NOW_ISO, detail: 'retry requested', caller: CAROL }],
      }),
    });
    expect(task.events[task.events.length - 1]).toEqual({ status: 'Enqueued', timestamp: NOW, detail: 'retry requested', caller: CAROL });
  });

  test('POST /functions/{fn}/tasks/{id}/exec: where to run a command', async () => {
    const taskArn = 'arn:aws:ecs:us-east-1:123456789012:task/asynctask-transcode/aaaa1111';
    mocks.ddb.on(GetCommand).resolves({ Item: taskItem({ status: 'Running', runnerId: taskArn }, TRANSCODE) });

    const result = okBody<unknown>(await call('POST', '/functions/transcode/tasks/job_1/exec'));

    expect(result).toEqual({ cluster: 'asynctask-transcode', taskArn, container: 'worker', attempt: 1 });
  });
});

describe('the status code is the typed error’s', () => {
  test('404 TaskNotFound', async () => {
    mocks.ddb.on(GetCommand).resolves({});

    const error = errorBody(await call('GET', '/functions/etl/tasks/job_9'), 404);

    expect(error).toEqual({
      name: 'TaskNotFound',
      message: "task 'job_9' of function 'etl' not found",
      details: { functionName: 'etl', taskId: 'job_9' },
    });
  });

  test('404 TaskFunctionNotFound for a function name that is not registered (or breaks the rules), nothing written', async () => {
    const error = errorBody(await call('POST', '/functions/no%20such/tasks', { body: '{}' }), 404);

    expect(error.name).toBe('TaskFunctionNotFound');
    expect(error.message).toMatch(/^task function 'no such' not found in the registry .*; known functions: etl, transcode, plain$/);
    expect(mocks.ddb.calls()).toHaveLength(0);
    expect(mocks.sfn.calls()).toHaveLength(0);
  });

  test('409 TaskAlreadyExists with the existing task', async () => {
    mocks.ddb.on(PutCommand).rejects(conditionFailed(taskItem({ status: 'Running' })));

    const error = errorBody(await call('POST', '/functions/etl/tasks', { body: '{"taskId":"job_1"}' }), 409);

    expect(error.name).toBe('TaskAlreadyExists');
    expect(error.details?.existingTask).toMatchObject({ taskId: 'job_1', status: 'Running' });
    expect(mocks.sfn).not.toHaveReceivedCommand(StartExecutionCommand);
  });

  test('409 InvalidTaskState for a stop of an ended task', async () => {
    mocks.ddb.on(UpdateCommand).rejects(conditionFailed(taskItem({ status: 'Succeeded' })));

    const error = errorBody(await call('POST', '/functions/etl/tasks/job_1/stop'), 409);

    expect(error.message).toBe("task 'job_1' has ended (Succeeded); only Enqueued, Dequeued, Running or Retrying tasks can be stopped");
  });

  test('500 ServiceError when an AWS call fails', async () => {
    mocks.ddb.on(GetCommand).rejects(awsError('InternalServerError', 'DynamoDB is unwell'));

    const error = errorBody(await call('GET', '/functions/etl/tasks/job_1'), 500);

    expect(error).toEqual({ name: 'ServiceError', message: 'InternalServerError: DynamoDB is unwell' });
  });
});

describe('bad input: 400 with the typed error, nothing called', () => {
  test('fails if the body is not JSON', async () => {
    const error = errorBody(await call('POST', '/functions/etl/tasks', { body: '{"payload": ' }), 400);

    expect(error.name).toBe('InvalidArgument');
    expect(error.message).toMatch(/^the body is not JSON \(.+\): '\{"payload": '$/);
    expectNoAwsCall();
  });

  test('fails if the body has unknown fields (a caller cannot be claimed in the body)', async () => {
    const error = errorBody(await call('POST', '/functions/etl/tasks', { body: '{"caller":"someone-else"}' }), 400);

    expect(error.message).toBe("unknown field(s) 'caller' in a submit body; allowed: taskId, payload");
    expectNoAwsCall();
  });

  test('fails if the route is unknown, listing the routes', async () => {
    const error = errorBody(await call('GET', '/tasks/job_1'), 400);

    expect(error.name).toBe('InvalidArgument');
    expect(error.message).toMatch(/^no route GET \/tasks\/job_1; routes: GET \/functions, POST \/functions\/\{functionName\}\/tasks, /);
    expectNoAwsCall();
  });

  test('fails if the route does not take the method', async () => {
    const error = errorBody(await call('DELETE', '/functions/etl/tasks/job_1'), 400);

    expect(error.message).toBe('DELETE is not allowed on /functions/etl/tasks/job_1; allowed: GET');
    expectNoAwsCall();
  });

  test('fails if a query parameter is unknown', async () => {
    const error = errorBody(await call('GET', '/functions/etl/tasks', { query: { sort: ['asc'] } }), 400);

    expect(error.message).toMatch(/^unknown query parameter\(s\) 'sort' for GET \/functions\/\{functionName\}\/tasks; allowed: status, /);
    expectNoAwsCall();
  });

  test.each([
    ['GET', '/functions/etl/tasks/9lives'],
    ['POST', '/functions/etl/tasks/9lives/stop'],
    ['POST', '/functions/etl/tasks/9lives/retry'],
    ['GET', '/functions/etl/tasks/9lives/logs'],
  ])('fails if the task id in the path breaks the rule: %s %s', async (method, path) => {
    const error = errorBody(await call(method, path), 400);

    expect(error.name).toBe('InvalidTaskId');
    expect(error.message).toMatch(/^invalid task id '9lives': it starts with '9'; a task id must be /);
    expectNoAwsCall();
  });

  test('fails if the task id in a submit body breaks the rule', async () => {
    const error = errorBody(await call('POST', '/functions/etl/tasks', { body: '{"taskId":"a b"}' }), 400);

    expect(error.name).toBe('InvalidTaskId');
    expectNoAwsCall();
  });

  test('fails if a path segment is not valid percent-encoding', async () => {
    const error = errorBody(await call('GET', '/functions/etl/tasks/%E0%A4%A'), 400);

    expect(error.message).toBe("the path's task id '%E0%A4%A' is not valid percent-encoding");
    expectNoAwsCall();
  });
});

describe('the caller on the events', () => {
  test('falls back to the principal id, then the access key, when API Gateway names no user ARN', async () => {
    mocks.ddb.on(PutCommand).resolves({});
    mocks.sfn.on(StartExecutionCommand).resolves({});

    await call('POST', '/functions/etl/tasks', {
      body: '{"taskId":"a"}',
      identity: { userArn: null, caller: 'AROAEXAMPLE:bob', accessKey: 'ASIA1' },
    });
    await call('POST', '/functions/etl/tasks', { body: '{"taskId":"b"}', identity: { userArn: null, caller: null, accessKey: 'ASIA1' } });

    const callers = mocks.ddb.commandCalls(PutCommand).map((c) => (c.args[0].input.Item as TaskItem).events[0].caller);
    expect(callers).toEqual(['AROAEXAMPLE:bob', 'ASIA1']);
  });

  test('a direct invoke records lambda:Invoke, whatever caller the request names', async () => {
    mocks.ddb.on(PutCommand).resolves({});
    mocks.sfn.on(StartExecutionCommand).resolves({});

    const direct = { op: 'submit', functionName: 'etl', taskId: 'job_1', caller: ALICE };
    const task = ok<TaskRecord>(await handler(direct));

    expect(task.events).toEqual([{ status: 'Enqueued', timestamp: NOW, detail: 'submitted', caller: 'lambda:Invoke' }]);
    expect(mocks.ddb).toHaveReceivedCommandWith(PutCommand, {
      Item: expect.objectContaining({ events: [{ status: 'Enqueued', at: NOW_ISO, detail: 'submitted', caller: 'lambda:Invoke' }] }),
    });
  });

  test('the log lines of an HTTP request name the caller and the API request', async () => {
    mocks.ddb.on(GetCommand).resolves({});
    const logs = quietLogs();

    await call('GET', '/functions/etl/tasks/job_9');

    expect(logs.lines()).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          message: 'request rejected: TaskNotFound',
          caller: ALICE,
          apiRequestId: 'api-req-1',
          http: 'GET /functions/etl/tasks/job_9',
          op: 'get',
          functionName: 'etl',
          taskId: 'job_9',
        }),
      ]),
    );
  });

  test('the audit trail of submit, stop and retry by three principals; the finalizer’s Stopped has no caller', async () => {
    const table = new FakeTable();
    mocks.sfn.on(StartExecutionCommand).resolves({});
    mocks.sfn.on(StopExecutionCommand).resolves({});
    mocks.sqs.on(SendMessageCommand).resolves({ MessageId: 'm' });

    okBody(await call('POST', '/functions/etl/tasks', { body: '{"taskId":"job_1"}', identity: { userArn: ALICE } }));
    okBody(await call('POST', '/functions/etl/tasks/job_1/stop', { identity: { userArn: BOB } }));
    const stopped = table.get('etl', 'job_1') as TaskItem;
    const ended: ExecutionStatusChangeEvent = {
      detail: {
        executionArn: stopped.executionArn ?? '',
        status: 'ABORTED',
        input: JSON.stringify({ task: { functionName: 'etl', taskId: 'job_1', requestId: stopped.requestId } }),
        error: 'TaskStopped',
        cause: null,
      },
    };
    await finalizer(ended);
    okBody(await call('POST', '/functions/etl/tasks/job_1/retry', { identity: { userArn: CAROL } }));

    const task = okBody<TaskRecord>(await call('GET', '/functions/etl/tasks/job_1', { identity: { userArn: BOB } }));
    expect(task.events.map((e) => [e.status, e.caller])).toEqual([
      ['Enqueued', ALICE],
      ['Stopping', BOB],
      ['Stopped', undefined],
      ['Enqueued', CAROL],
    ]);
  });
});
