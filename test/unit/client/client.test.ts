import 'aws-sdk-client-mock-jest';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { InvokeCommand, type InvokeCommandInput, type InvokeCommandOutput, LambdaClient } from '@aws-sdk/client-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { stackWith } from './fixtures';
import {
  AsyncTaskClient,
  type AsyncTaskError,
  ConcurrentModificationError,
  InvalidArgumentError,
  InvalidPayloadError,
  InvalidTaskIdError,
  InvalidTaskStateError,
  type LogsResult,
  MAX_PAYLOAD_BYTES,
  ServiceError,
  TaskAlreadyExistsError,
  TaskApiNotFoundError,
  type TaskApiRequest,
  TaskFunctionNotFoundError,
  TaskNotFoundError,
  type TaskRecord,
  type TaskStatus,
  ValidationError,
  WaitTimeoutError,
} from '../../../client';

// The SDK's Node-version notice is noise here.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
const lambda = mockClient(LambdaClient);
const cloudFormation = mockClient(CloudFormationClient);
const TASK_API = 'AsyncTaskDemo-TaskApi-1A2B3C';
const ENV_KEYS = ['ASYNCTASK_ENDPOINT', 'AWS_REGION', 'AWS_DEFAULT_REGION', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_PROFILE'];
const savedEnv: Record<string, string | undefined> = {};

function task(taskId: string, status: TaskStatus, extra: Partial<TaskRecord> = {}): TaskRecord {
  return {
    taskId,
    functionName: 'transcode',
    requestId: `req-${taskId}`,
    status,
    taskPayload: null,
    alreadyRetriedTimes: 0,
    startedTime: 1,
    events: [],
    ...extra,
  };
}

function bytes(value: unknown): InvokeCommandOutput['Payload'] {
  return new TextEncoder().encode(typeof value === 'string' ? value : JSON.stringify(value)) as InvokeCommandOutput['Payload'];
}

function requestOf(input: InvokeCommandInput): TaskApiRequest {
  return JSON.parse(new TextDecoder().decode(input.Payload as Uint8Array)) as TaskApiRequest;
}

/** Answers every Invoke through `handler(request)`, as `{ ok: true, result }` unless it returns an output. */
function serve(handler: (request: TaskApiRequest) => unknown): void {
  lambda.on(InvokeCommand).callsFake((input: InvokeCommandInput) => {
    const answer = handler(requestOf(input));
    if (answer && typeof answer === 'object' && 'Payload' in answer) return answer;
    return { StatusCode: 200, Payload: bytes({ ok: true, result: answer }) };
  });
}

function failWith(name: string, message: string, details?: Record<string, unknown>): void {
  lambda.on(InvokeCommand).resolves({ StatusCode: 200, Payload: bytes({ ok: false, error: { name, message, details } }) });
}

/** Every request the TaskApi received, in order. */
function requests(): TaskApiRequest[] {
  return lambda.commandCalls(InvokeCommand).map((c) => requestOf(c.args[0].input));
}

/** A client with a known TaskApi name and region, over the mocked clients. */
function client(): AsyncTaskClient {
  return new AsyncTaskClient({ functionName: TASK_API, region: 'eu-west-1' });
}

beforeEach(() => {
  lambda.reset();
  cloudFormation.reset();
  for (const key of ENV_KEYS) {
    savedEnv[key] = process.env[key];
    delete process.env[key];
  }
});

afterEach(() => {
  for (const key of ENV_KEYS) {
    if (savedEnv[key] === undefined) delete process.env[key];
    else process.env[key] = savedEnv[key];
  }
});

describe('reaching the TaskApi', () => {
  it('without a TaskApiUrl output, reads the function name once from the stack output TaskApiFunctionName', async () => {
    cloudFormation.on(DescribeStacksCommand).resolves(stackWith({ DataBucketName: 'b', TaskApiFunctionName: TASK_API }));
    serve(() => task('a', 'Succeeded'));
    const c = new AsyncTaskClient({ region: 'eu-west-1' });
    await c.get('transcode', 'a');
    await c.get('transcode', 'b');
    await c.functions();
    expect(cloudFormation).toHaveReceivedCommandTimes(DescribeStacksCommand, 1);
    expect(cloudFormation).toHaveReceivedCommandWith(DescribeStacksCommand, { StackName: 'AsyncTaskDemo' });
    expect(lambda).toHaveReceivedCommandTimes(InvokeCommand, 3);
    expect(lambda).toHaveReceivedCommandWith(InvokeCommand, { FunctionName: TASK_API, InvocationType: 'RequestResponse' });
  });

  it('uses the stack given', async () => {
    cloudFormation.on(DescribeStacksCommand).resolves(stackWith({ TaskApiFunctionName: 'other-api' }));
    serve(() => []);
    await new AsyncTaskClient({ stack: 'Prod', region: 'eu-west-1' }).functions();
    expect(cloudFormation).toHaveReceivedCommandWith(DescribeStacksCommand, { StackName: 'Prod' });
    expect(lambda).toHaveReceivedCommandWith(InvokeCommand, { FunctionName: 'other-api' });
  });

  it('skips the stack when functionName is given', async () => {
    serve(() => []);
    await client().functions();
    expect(cloudFormation).toHaveReceivedCommandTimes(DescribeStacksCommand, 0);
  });

  it('fails if the stack does not exist, naming stack and region, and asks again on the next call', async () => {
    const error = Object.assign(new Error('Stack with id Prod does not exist'), { name: 'ValidationError' });
    cloudFormation
      .on(DescribeStacksCommand)
      .rejectsOnce(error)
      .resolves(stackWith({ TaskApiFunctionName: TASK_API }));
    serve(() => []);
    const c = new AsyncTaskClient({ stack: 'Prod', region: 'eu-west-1' });
    const failure = await c.functions().catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(TaskApiNotFoundError);
    expect((failure as AsyncTaskError).message).toMatch(/^stack 'Prod' does not exist in region eu-west-1; /);
    expect((failure as AsyncTaskError).exitCode).toBe(1);
    expect((failure as AsyncTaskError).cause).toBe(error);
    await expect(c.functions()).resolves.toEqual([]);
    expect(cloudFormation).toHaveReceivedCommandTimes(DescribeStacksCommand, 2);
  });

  it('fails if the stack has neither a TaskApiUrl nor a TaskApiFunctionName output, listing the outputs it has', async () => {
    cloudFormation.on(DescribeStacksCommand).resolves(stackWith({ BucketName: 'b' }));
    await expect(new AsyncTaskClient({ region: 'eu-west-1' }).functions()).rejects.toThrow(
      new TaskApiNotFoundError(
        "stack 'AsyncTaskDemo' in region eu-west-1 has no output 'TaskApiUrl' nor 'TaskApiFunctionName' (its outputs: BucketName); is it an asynctask stack?",
      ),
    );
    expect(lambda).toHaveReceivedCommandTimes(InvokeCommand, 0);
  });

  it('fails if DescribeStacks answers no stack', async () => {
    cloudFormation.on(DescribeStacksCommand).resolves({ Stacks: [] });
    await expect(new AsyncTaskClient({ region: 'eu-west-1' }).functions()).rejects.toThrow(TaskApiNotFoundError);
  });

  it('fails with a ServiceError when DescribeStacks fails otherwise', async () => {
    cloudFormation.on(DescribeStacksCommand).rejects(Object.assign(new Error('Rate exceeded'), { name: 'Throttling' }));
    const error = await new AsyncTaskClient({ region: 'eu-west-1' }).functions().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ServiceError);
    expect((error as Error).message).toBe("cannot describe stack 'AsyncTaskDemo' in region eu-west-1: Throttling: Rate exceeded");
  });

  it('with an endpoint, points both clients at it with test credentials and us-east-1', async () => {
    const c = new AsyncTaskClient({ endpoint: 'http://127.0.0.1:4566' });
    for (const config of [c.lambda.config, c.cloudFormation.config]) {
      await expect(config.region()).resolves.toBe('us-east-1');
      await expect(config.credentials()).resolves.toMatchObject({ accessKeyId: 'test', secretAccessKey: 'test' });
      const endpoint = await config.endpoint?.();
      expect(endpoint).toMatchObject({ hostname: '127.0.0.1', port: 4566, protocol: 'http:' });
    }
    expect(c.endpoint).toBe('http://127.0.0.1:4566');
  });

  it('takes the endpoint from ASYNCTASK_ENDPOINT, and region and credentials from the environment when set', async () => {
    process.env.ASYNCTASK_ENDPOINT = 'http://localhost:4600';
    process.env.AWS_REGION = 'ap-southeast-1';
    process.env.AWS_ACCESS_KEY_ID = 'AKIDEXAMPLE';
    process.env.AWS_SECRET_ACCESS_KEY = 'secret';
    const c = new AsyncTaskClient();
    expect(c.endpoint).toBe('http://localhost:4600');
    await expect(c.lambda.config.region()).resolves.toBe('ap-southeast-1');
    await expect(c.lambda.config.credentials()).resolves.toMatchObject({ accessKeyId: 'AKIDEXAMPLE' });
    expect(await c.lambda.config.endpoint?.()).toMatchObject({ hostname: 'localhost', port: 4600 });
  });

  it('without an endpoint, uses the AWS endpoints of the region', async () => {
    const c = new AsyncTaskClient({ region: 'eu-west-1' });
    expect(c.endpoint).toBeUndefined();
    expect(c.lambda.config.endpoint).toBeUndefined();
    await expect(c.lambda.config.region()).resolves.toBe('eu-west-1');
  });

  it('uses the clients given', async () => {
    const lambdaClient = new LambdaClient({ region: 'eu-west-1' });
    const cloudFormationClient = new CloudFormationClient({ region: 'eu-west-1' });
    const c = new AsyncTaskClient({ lambdaClient, cloudFormationClient });
    expect(c.lambda).toBe(lambdaClient);
    expect(c.cloudFormation).toBe(cloudFormationClient);
  });
});

describe('operations', () => {
  it('submit sends function, id and payload and returns the record', async () => {
    serve((r) => task((r as { taskId: string }).taskId, 'Enqueued'));
    const record = await client().submit({ functionName: 'transcode', taskId: 'my1-480P-mp4', payload: { dst_format: 'mov' } });
    expect(record).toEqual(task('my1-480P-mp4', 'Enqueued'));
    expect(requests()).toEqual([{ op: 'submit', functionName: 'transcode', taskId: 'my1-480P-mp4', payload: { dst_format: 'mov' } }]);
  });

  it('submit without id or payload leaves them to the service; invokeAsync is the same call', async () => {
    serve(() => task('t_generated', 'Enqueued'));
    await client().submit({ functionName: 'transcode' });
    await client().invokeAsync({ functionName: 'etl', payload: [1, 2] });
    expect(requests()).toEqual([
      { op: 'submit', functionName: 'transcode' },
      { op: 'submit', functionName: 'etl', payload: [1, 2] },
    ]);
  });

  it.each(['get', 'stop', 'retry'] as const)('%s sends the task key and returns the record', async (op) => {
    serve(() => task('my1', 'Stopping'));
    await expect(client()[op]('transcode', 'my1')).resolves.toEqual(task('my1', 'Stopping'));
    expect(requests()).toEqual([{ op, functionName: 'transcode', taskId: 'my1' }]);
  });

  it('list sends every filter, statuses as an array', async () => {
    serve(() => ({ tasks: [task('a', 'Running')], nextToken: 'n2' }));
    const page = await client().list({
      functionName: 'transcode',
      status: 'Running,Failed',
      since: 1000,
      until: 2000,
      prefix: 'my',
      limit: 10,
      order: 'asc',
      nextToken: 'n1',
    });
    expect(page).toEqual({ tasks: [task('a', 'Running')], nextToken: 'n2' });
    expect(requests()).toEqual([
      {
        op: 'list',
        functionName: 'transcode',
        status: ['Running', 'Failed'],
        since: 1000,
        until: 2000,
        prefix: 'my',
        limit: 10,
        order: 'asc',
        nextToken: 'n1',
      },
    ]);
  });

  it('functions returns the summaries', async () => {
    const summary = {
      name: 'etl',
      kind: 'lambda',
      maxRetryAttempts: 2,
      maxEventAgeSeconds: 60,
      timeoutSeconds: 60,
      stateMachineArn: 'arn',
    };
    serve(() => [summary]);
    await expect(client().functions()).resolves.toEqual([summary]);
    expect(requests()).toEqual([{ op: 'functions' }]);
  });

  it('stats sends the function and the window, and returns the service answer', async () => {
    const answer = { functionName: 'etl', since: 1000, until: 2000, counts: {}, total: 0, runningNow: 0, activeNow: 0 };
    serve(() => answer);
    await expect(client().stats('etl', { since: 1000, until: 2000 })).resolves.toEqual(answer);
    await client().stats('etl');
    expect(requests()).toEqual([
      { op: 'stats', functionName: 'etl', since: 1000, until: 2000 },
      { op: 'stats', functionName: 'etl' },
    ]);
  });

  it('logsPage sends key, token and limit', async () => {
    serve(() => ({ events: [], status: 'Running' }));
    await client().logsPage({ functionName: 'transcode', taskId: 'my1', nextToken: 't', limit: 50 });
    expect(requests()).toEqual([{ op: 'logs', functionName: 'transcode', taskId: 'my1', nextToken: 't', limit: 50 }]);
  });
});

describe('input is checked before any call', () => {
  const bigPayload = { data: 'x'.repeat(MAX_PAYLOAD_BYTES) };
  const circular: Record<string, unknown> = {};
  circular.self = circular;
  const cases: [string, (c: AsyncTaskClient) => Promise<unknown>, new (...args: never[]) => Error, RegExp][] = [
    [
      'submit with an invalid id',
      (c) => c.submit({ functionName: 'f', taskId: '1abc' }),
      InvalidTaskIdError,
      /invalid task id '1abc': it starts with '1'/,
    ],
    [
      'submit with a payload over the limit',
      (c) => c.submit({ functionName: 'f', payload: bigPayload }),
      InvalidPayloadError,
      /the limit is 131072 bytes/,
    ],
    [
      'submit with a payload that is not JSON',
      (c) => c.submit({ functionName: 'f', payload: circular }),
      InvalidPayloadError,
      /not JSON-serializable/,
    ],
    [
      'submit with an empty function name',
      (c) => c.submit({ functionName: '' }),
      InvalidArgumentError,
      /function name must be a non-empty string \(given ''\)/,
    ],
    ['get with an invalid id', (c) => c.get('f', 'a b'), InvalidTaskIdError, /it contains ' '/],
    ['stop with an invalid id', (c) => c.stop('f', ''), InvalidTaskIdError, /it is empty/],
    ['retry with an invalid id', (c) => c.retry('f', 'x'.repeat(129)), InvalidTaskIdError, /129 characters/],
    ['list with limit 0', (c) => c.list({ functionName: 'f', limit: 0 }), InvalidArgumentError, /between 1 and 100 inclusive \(given 0\)/],
    ['list with limit 101', (c) => c.list({ functionName: 'f', limit: 101 }), InvalidArgumentError, /given 101/],
    [
      'list with an unknown status',
      (c) => c.list({ functionName: 'f', status: ['Running', 'Done'] }),
      InvalidArgumentError,
      /unknown status 'Done'/,
    ],
    ['list with since after until', (c) => c.list({ functionName: 'f', since: 2000, until: 1000 }), InvalidArgumentError, /is after until/],
    ['stats with since after until', (c) => c.stats('f', { since: 2000, until: 1000 }), InvalidArgumentError, /is after until/],
    [
      'stats with a since that is not a time',
      (c) => c.stats('f', { since: Number.NaN }),
      InvalidArgumentError,
      /since must be a time in epoch milliseconds \(given NaN\)/,
    ],
    ['stats with an empty function name', (c) => c.stats(''), InvalidArgumentError, /function name must be a non-empty string/],
    [
      'listAll with a bad order',
      (c) => c.listAll({ functionName: 'f', order: 'up' as 'asc' }).next(),
      InvalidArgumentError,
      /order must be 'asc' or 'desc' \(given 'up'\)/,
    ],
    ['logs with an invalid id', (c) => c.logs({ functionName: 'f', taskId: '-' }).next(), InvalidTaskIdError, /invalid task id '-'/],
    [
      'logs with limit 0',
      (c) => c.logsPage({ functionName: 'f', taskId: 'a', limit: 0 }),
      InvalidArgumentError,
      /positive integer \(given 0\)/,
    ],
    ['waitFor with an invalid id', (c) => c.waitFor('f', '9'), InvalidTaskIdError, /starts with '9'/],
  ];

  it.each(cases)('fails if %s', async (_name, call, type, message) => {
    cloudFormation.on(DescribeStacksCommand).resolves(stackWith({ TaskApiFunctionName: TASK_API }));
    const error = await call(new AsyncTaskClient({ region: 'eu-west-1' })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(type);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as AsyncTaskError).exitCode).toBe(2);
    expect((error as Error).message).toMatch(message);
    expect(lambda).toHaveReceivedCommandTimes(InvokeCommand, 0);
    expect(cloudFormation).toHaveReceivedCommandTimes(DescribeStacksCommand, 0);
  });
});

describe('errors come back typed', () => {
  const existing = task('dup', 'Running');
  it.each([
    ['ValidationError', ValidationError, 2],
    ['InvalidTaskId', InvalidTaskIdError, 2],
    ['InvalidPayload', InvalidPayloadError, 2],
    ['InvalidArgument', InvalidArgumentError, 2],
    ['TaskFunctionNotFound', TaskFunctionNotFoundError, 3],
    ['TaskNotFound', TaskNotFoundError, 3],
    ['TaskAlreadyExists', TaskAlreadyExistsError, 4],
    ['InvalidTaskState', InvalidTaskStateError, 1],
    ['ConcurrentModification', ConcurrentModificationError, 1],
    ['ServiceError', ServiceError, 1],
  ] as const)('%s', async (name, type, exitCode) => {
    failWith(name, `the service said ${name}`, name === 'TaskAlreadyExists' ? { existingTask: existing } : undefined);
    const error = await client()
      .get('transcode', 'dup')
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(type);
    expect(error).toMatchObject({ name, message: `the service said ${name}`, exitCode });
    if (name === 'TaskAlreadyExists') expect((error as TaskAlreadyExistsError).existingTask).toEqual(existing);
  });

  it('an unknown error name becomes a ServiceError keeping the name', async () => {
    failWith('Brand new', 'something');
    await expect(client().functions()).rejects.toThrow(new ServiceError('Brand new: something'));
  });

  it('a FunctionError of the TaskApi Lambda becomes a ServiceError with its message', async () => {
    lambda.on(InvokeCommand).resolves({
      StatusCode: 200,
      FunctionError: 'Unhandled',
      Payload: bytes({ errorType: 'TypeError', errorMessage: 'x is undefined', trace: [] }),
    });
    await expect(client().functions()).rejects.toThrow(
      new ServiceError(`the TaskApi function '${TASK_API}' failed (Unhandled): TypeError: x is undefined`),
    );
  });

  it('a failed Invoke (function gone, network) becomes a ServiceError keeping the cause', async () => {
    const cause = Object.assign(new Error('Function not found: x'), { name: 'ResourceNotFoundException' });
    lambda.on(InvokeCommand).rejects(cause);
    const error = (await client()
      .functions()
      .catch((e: unknown) => e)) as ServiceError;
    expect(error).toBeInstanceOf(ServiceError);
    expect(error.message).toBe(
      `cannot invoke the TaskApi function '${TASK_API}' (region eu-west-1): ResourceNotFoundException: Function not found: x`,
    );
    expect(error.cause).toBe(cause);
  });

  it.each([
    ['not JSON', 'oops', /answered something that is not JSON: 'oops'/],
    ['without ok', '{"result":1}', /answered without 'ok'/],
    ['null', 'null', /answered without 'ok'/],
  ])('an answer %s becomes a ServiceError', async (_name, text, message) => {
    lambda.on(InvokeCommand).resolves({ StatusCode: 200, Payload: bytes(text) });
    const error = await client()
      .functions()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ServiceError);
    expect((error as Error).message).toMatch(message);
  });
});

describe('pagination', () => {
  const pages: Record<string, { tasks: TaskRecord[]; nextToken?: string }> = {
    first: { tasks: [task('a', 'Running'), task('b', 'Running')], nextToken: 'p2' },
    p2: { tasks: [task('c', 'Failed')], nextToken: 'p3' },
    p3: { tasks: [task('d', 'Succeeded')] },
  };
  const servePages = () => serve((r) => pages[(r as { nextToken?: string }).nextToken ?? 'first']);

  it('listAll yields every task of every page, keeping the filters', async () => {
    servePages();
    const ids: string[] = [];
    for await (const t of client().listAll({ functionName: 'transcode', status: 'Running', limit: 2 })) ids.push(t.taskId);
    expect(ids).toEqual(['a', 'b', 'c', 'd']);
    expect(requests()).toEqual([
      { op: 'list', functionName: 'transcode', status: ['Running'], limit: 2 },
      { op: 'list', functionName: 'transcode', status: ['Running'], limit: 2, nextToken: 'p2' },
      { op: 'list', functionName: 'transcode', status: ['Running'], limit: 2, nextToken: 'p3' },
    ]);
  });

  it('pages starts at the nextToken given', async () => {
    servePages();
    const seen: string[][] = [];
    for await (const page of client().pages({ functionName: 'transcode', nextToken: 'p2' })) seen.push(page.tasks.map((t) => t.taskId));
    expect(seen).toEqual([['c'], ['d']]);
  });

  it('stops when the service hands back the token it was given', async () => {
    serve(() => ({ tasks: [task('x', 'Running')], nextToken: 'same' }));
    const ids: string[] = [];
    for await (const t of client().listAll({ functionName: 'transcode', nextToken: 'same' })) ids.push(t.taskId);
    expect(ids).toEqual(['x']);
  });

  it('a caller can stop early without reading further pages', async () => {
    servePages();
    for await (const t of client().listAll({ functionName: 'transcode' })) {
      expect(t.taskId).toBe('a');
      break;
    }
    expect(lambda).toHaveReceivedCommandTimes(InvokeCommand, 1);
  });
});

describe('waitFor', () => {
  it('polls until a terminal status, reporting every record to onProgress', async () => {
    const sequence = [
      task('w', 'Enqueued'),
      task('w', 'Running', { progress: { percent: 10 } }),
      task('w', 'Running', { progress: { percent: 70, message: 'pass 2' } }),
      task('w', 'Succeeded', { returnPayload: { ok: true } }),
    ];
    let n = 0;
    serve(() => sequence[n++]);
    const seen: [TaskStatus, number | undefined][] = [];
    const done = await client().waitFor('transcode', 'w', {
      pollIntervalMs: 1,
      onProgress: (t) => seen.push([t.status, t.progress?.percent]),
    });
    expect(done).toEqual(sequence[3]);
    expect(seen).toEqual([
      ['Enqueued', undefined],
      ['Running', 10],
      ['Running', 70],
      ['Succeeded', undefined],
    ]);
  });

  it('resolves with a task that ended other than Succeeded', async () => {
    serve(() => task('w', 'Failed', { taskErrorMessage: 'boom' }));
    await expect(client().waitFor('transcode', 'w', { pollIntervalMs: 1 })).resolves.toMatchObject({ status: 'Failed' });
  });

  it('fails if the task is still running after timeoutMs', async () => {
    serve(() => task('w', 'Running'));
    const error = await client()
      .waitFor('transcode', 'w', { pollIntervalMs: 5, timeoutMs: 20 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WaitTimeoutError);
    expect((error as Error).message).toBe("task 'w' of function 'transcode' is still Running after 20 ms");
  });

  it('passes a TaskNotFound on', async () => {
    failWith('TaskNotFound', 'no such task');
    await expect(client().waitFor('transcode', 'w', { pollIntervalMs: 1 })).rejects.toThrow(TaskNotFoundError);
  });
});

describe('logs', () => {
  const at = (message: string, timestamp: number) => ({ message, timestamp });

  async function collect(iterable: AsyncIterable<{ message: string }>): Promise<string[]> {
    const out: string[] = [];
    for await (const e of iterable) out.push(e.message);
    return out;
  }

  it('without follow, reads pages while the token advances, past an empty page (an attempt without lines)', async () => {
    const answers: Record<string, LogsResult> = {
      first: { events: [at('a', 1), at('b', 2)], nextToken: 't1', status: 'Running' },
      t1: { events: [at('c', 3)], nextToken: 't2', status: 'Running' },
      t2: { events: [], nextToken: 't3', status: 'Running' },
      t3: { events: [at('d', 4)], status: 'Running' },
    };
    serve((r) => answers[(r as { nextToken?: string }).nextToken ?? 'first']);
    expect(await collect(client().logs({ functionName: 'transcode', taskId: 'l' }))).toEqual(['a', 'b', 'c', 'd']);
    expect(lambda).toHaveReceivedCommandTimes(InvokeCommand, 4);
  });

  it('announces each attempt once, before its lines, and passes attempt on', async () => {
    const answers: Record<string, LogsResult> = {
      first: { events: [at('a', 1)], nextToken: 't1', status: 'Succeeded', attempt: 1, attempts: 3 },
      t1: { events: [], nextToken: 't2', status: 'Succeeded', attempt: 2, attempts: 3 },
      t2: { events: [at('c', 3)], status: 'Succeeded', attempt: 3, attempts: 3 },
    };
    const requests: unknown[] = [];
    serve((r) => {
      requests.push(r);
      return answers[(r as { nextToken?: string }).nextToken ?? 'first'];
    });
    const seen: string[] = [];
    const events = client().logs({ functionName: 'transcode', taskId: 'l', attempt: 1, onAttempt: (n) => seen.push(`#${n}`) });
    for await (const e of events) seen.push(e.message);
    expect(seen).toEqual(['#1', 'a', '#2', '#3', 'c']);
    expect(requests[0]).toMatchObject({ op: 'logs', attempt: 1 });
  });

  it('without follow, one page when the service gives no token', async () => {
    serve(() => ({ events: [at('a', 1)], status: 'Running' }));
    expect(await collect(client().logs({ functionName: 'transcode', taskId: 'l' }))).toEqual(['a']);
    expect(lambda).toHaveReceivedCommandTimes(InvokeCommand, 1);
  });

  it('with follow, polls until the task has ended and no more events come', async () => {
    const answers: LogsResult[] = [
      { events: [at('a', 1)], nextToken: 't1', status: 'Running' },
      { events: [], nextToken: 't1', status: 'Running' },
      { events: [at('b', 2)], nextToken: 't2', status: 'Running' },
      { events: [at('c', 3)], nextToken: 't3', status: 'Succeeded' },
      { events: [], nextToken: 't3', status: 'Succeeded' },
    ];
    let n = 0;
    serve(() => answers[n++]);
    expect(await collect(client().logs({ functionName: 'transcode', taskId: 'l', follow: true, pollIntervalMs: 1 }))).toEqual([
      'a',
      'b',
      'c',
    ]);
    expect(requests().map((r) => (r as { nextToken?: string }).nextToken)).toEqual([undefined, 't1', 't1', 't2', 't3']);
  });

  it('with follow and no tokens, does not repeat the events it already printed', async () => {
    // A service without tokens answers from the start each time.
    const answers: LogsResult[] = [
      { events: [at('a', 1)], status: 'Running' },
      { events: [at('a', 1), at('b', 2)], status: 'Running' },
      { events: [at('a', 1), at('b', 2), at('c', 3)], status: 'Stopped' },
      { events: [at('a', 1), at('b', 2), at('c', 3)], status: 'Stopped' },
    ];
    let n = 0;
    serve(() => answers[n++]);
    expect(await collect(client().logs({ functionName: 'transcode', taskId: 'l', follow: true, pollIntervalMs: 1 }))).toEqual([
      'a',
      'b',
      'c',
    ]);
    expect(lambda).toHaveReceivedCommandTimes(InvokeCommand, 4);
  });
});
