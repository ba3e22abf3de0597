/**
 * A fake AWS endpoint for the CLI tests: CloudFormation `DescribeStacks` (awsQuery, XML), the
 * TaskApi's REST API at LocalStack's path (`/restapis/{apiId}/v1/_user_request_/…`, the requests
 * mapped back with the model's `requestFromHttp`, as the TaskApi handler does) and Lambda `Invoke`
 * of the TaskApi function (stacks without `TaskApiUrl`), both answering canned TaskApi responses
 * chosen by `op`, function name and task id. Function `forbidden` gets API Gateway's own IAM 403,
 * `forbidden-typed` a typed AccessDenied 403. It records every call so tests can assert that bad
 * input made none.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  estimateTaskCost,
  errorFromWire,
  requestFromHttp,
  type TaskApiRequest,
  type TaskFunctionSummary,
  type TaskRecord,
  type TaskStatus,
  toAsyncTaskError,
  type WireError,
} from '../../lambda/model';

export const STACK = 'AsyncTaskDemo';
export const TASK_API = 'AsyncTaskDemo-TaskApi-1A2B3C';
/** The REST API of STACK: its `TaskApiUrl` output names AWS's host; the CLI with --endpoint calls the fake at LocalStack's path. */
export const API_ID = 'fakeapi001';
export const TASK_API_URL = `https://${API_ID}.execute-api.us-east-1.amazonaws.com/v1/`;
/** A stack deployed before the REST API: only `TaskApiFunctionName` (the direct Lambda path). */
export const LEGACY_STACK = 'LegacyTaskApi';
/** What API Gateway says when IAM denies `execute-api:Invoke` (function `forbidden`). */
export const IAM_DENIAL = (method: string, path: string) =>
  `User: arn:aws:iam::123456789012:user/alice is not authorized to perform: execute-api:Invoke on resource: arn:aws:execute-api:us-east-1:********9012:${API_ID}/v1/${method}${path}`;
/** A stack that exists but is not an asynctask stack. */
export const STACK_WITHOUT_OUTPUT = 'NotAsyncTask';
/** A stack whose output names a Lambda function that does not exist. */
export const STACK_WITH_GONE_FUNCTION = 'GoneTaskApi';
export const STARTED = Date.parse('2026-11-25T12:00:00.000Z');

export type FakeCall =
  | { readonly service: 'cloudformation'; readonly action: string; readonly stackName?: string }
  | { readonly service: 'lambda'; readonly functionName: string; readonly request: TaskApiRequest }
  | {
      readonly service: 'http';
      readonly method: string;
      /** Below the stage, as requested (`/functions/transcode/tasks?…`). */
      readonly path: string;
      readonly authorization?: string;
      /** What the request stands for, when it maps to one. */
      readonly request?: TaskApiRequest;
    };

export interface FakeTaskApi {
  readonly url: string;
  readonly calls: FakeCall[];
  close(): Promise<void>;
}

export function task(taskId: string, status: TaskStatus, extra: Partial<TaskRecord> = {}): TaskRecord {
  return {
    taskId,
    functionName: 'transcode',
    requestId: `req-${taskId}`,
    status,
    taskPayload: { bucket: 'my-bucket', object: '480P.mp4', output_dir: 'a', dst_format: 'mov' },
    alreadyRetriedTimes: 0,
    startedTime: STARTED,
    durationMs: 1500,
    events: [{ status: 'Enqueued', timestamp: STARTED }],
    ...extra,
  };
}

/** The record with the estimate the TaskApi adds (a 2 vCPU, 4 GiB container function in us-east-1). */
export function withCost(record: TaskRecord): TaskRecord {
  return { ...record, cost: estimateTaskCost(record, { kind: 'container', compute: { cpu: 2048, memoryMiB: 4096 } }, 'us-east-1') };
}

export const FUNCTIONS: TaskFunctionSummary[] = [
  {
    name: 'transcode',
    kind: 'container',
    maxRetryAttempts: 2,
    maxEventAgeSeconds: 18_000,
    timeoutSeconds: 7_200,
    stateMachineArn: 'arn:aws:states:us-east-1:000000000000:stateMachine:transcode',
    runnerArn: 'arn:aws:ecs:us-east-1:000000000000:task-definition/transcode:1',
    description: 'FFmpeg transcoding',
  },
  {
    name: 'etl',
    kind: 'lambda',
    maxRetryAttempts: 2,
    maxEventAgeSeconds: 86_400,
    timeoutSeconds: 900,
    maxConcurrency: 10,
    stateMachineArn: 'arn:aws:states:us-east-1:000000000000:stateMachine:etl',
    runnerArn: 'arn:aws:lambda:us-east-1:000000000000:function:etl',
  },
];

type Answer = { ok: true; result: unknown } | { ok: false; error: WireError } | { functionError: string; payload: unknown };

const fail = (name: string, message: string, details?: Record<string, unknown>): Answer => ({
  ok: false,
  error: { name, message, ...(details ? { details } : {}) },
});

/**
 * The canned TaskApi: ids name their behaviour (`missing` → TaskNotFound, `dup` →
 * TaskAlreadyExists, `waitok*` → Running twice then Succeeded, ...); sequences count per id.
 */
function answer(request: TaskApiRequest, counts: Map<string, number>): Answer {
  if ('functionName' in request && request.functionName === 'nofn') {
    return fail('TaskFunctionNotFound', "task function 'nofn' does not exist; known: transcode, etl");
  }
  const id = 'taskId' in request && request.taskId ? request.taskId : request.op === 'submit' ? 'generated_1' : '';
  const n = (counts.get(`${request.op}/${id}`) ?? 0) + 1;
  counts.set(`${request.op}/${id}`, n);
  switch (request.op) {
    case 'submit':
      if (id === 'dup') {
        return fail('TaskAlreadyExists', "task 'dup' of function 'transcode' already exists (Running)", {
          existingTask: task('dup', 'Running'),
        });
      }
      if (id === 'crash') return { functionError: 'Unhandled', payload: { errorType: 'TypeError', errorMessage: 'x is undefined' } };
      if (id === 'svc') return fail('ServiceError', 'StartExecution failed: throttled');
      if (id === 'weird') return fail('SomethingNew', 'an error this client does not know');
      return { ok: true, result: task(id, 'Enqueued', { taskPayload: request.payload ?? null, events: [] }) };
    case 'get':
      if (id === 'missing') return fail('TaskNotFound', "task 'missing' of function 'transcode' does not exist");
      if (id === 'running') return { ok: true, result: task(id, 'Running', { progress: { percent: 40, message: 'pass 1' } }) };
      if (id.startsWith('waitok')) {
        return n < 3
          ? { ok: true, result: task(id, 'Running', { progress: { percent: n * 30 } }) }
          : {
              ok: true,
              result: task(id, 'Succeeded', { endTime: STARTED + 1500, returnPayload: { output: 's3://my-bucket/a/480P.mov' } }),
            };
      }
      if (id.startsWith('waitfail')) {
        return n < 2
          ? { ok: true, result: task(id, 'Running') }
          : { ok: true, result: task(id, 'Failed', { alreadyRetriedTimes: 2, taskErrorMessage: 'ffmpeg exited 1' }) };
      }
      return {
        ok: true,
        result: withCost(
          task(id, 'Succeeded', {
            endTime: STARTED + 1500,
            returnPayload: { ok: true },
            events: [
              { status: 'Enqueued', timestamp: STARTED },
              { status: 'Running', timestamp: STARTED + 100 },
              { status: 'Succeeded', timestamp: STARTED + 1500 },
            ],
          }),
        ),
      };
    case 'stop':
      if (id === 'done')
        return fail('InvalidTaskState', "task 'done' is Succeeded; only Enqueued, Dequeued, Running or Retrying tasks can be stopped");
      return { ok: true, result: task(id, 'Stopping') };
    case 'retry':
      return { ok: true, result: task(id, 'Enqueued', { requestId: `req-${id}-retry` }) };
    case 'list': {
      const page1 = [
        withCost(task('my2-480P-mp4', 'Running', { alreadyRetriedTimes: 1 })),
        withCost(task('my1-480P-mp4', 'Succeeded', { durationMs: 65_000 })),
      ];
      const page2 = [withCost(task('my0-480P-mp4', 'Failed', { alreadyRetriedTimes: 2 }))];
      if (request.nextToken === undefined) return { ok: true, result: { tasks: page1, nextToken: 'page-2' } };
      if (request.nextToken === 'page-2') return { ok: true, result: { tasks: page2 } };
      return fail('InvalidArgument', `nextToken '${request.nextToken}' is not a token this service gave`);
    }
    case 'logs': {
      const at = (k: number) => STARTED + k * 1000;
      if (id === 'retried') {
        // Two attempts: the first page is attempt 1, its token leads to attempt 2.
        if (request.attempt !== undefined && request.attempt > 2) {
          return fail(
            'InvalidArgument',
            `attempt must be an integer between 1 and 2 inclusive: task 'retried' has had 2 attempt(s) (given ${request.attempt})`,
          );
        }
        const one = { events: [{ timestamp: at(1), message: 'boom', attempt: 1 }], status: 'Succeeded', attempt: 1, attempts: 2 };
        const two = { events: [{ timestamp: at(5), message: 'ok', attempt: 2 }], status: 'Succeeded', attempt: 2, attempts: 2 };
        if (request.attempt === 2 || request.nextToken === 'a2') return { ok: true, result: two };
        return { ok: true, result: request.attempt === 1 ? one : { ...one, nextToken: 'a2' } };
      }
      if (id.startsWith('follow')) {
        // Two lines while Running, a pause with nothing new, then a last line after it Succeeded.
        if (request.nextToken === undefined)
          return {
            ok: true,
            result: {
              events: [
                { timestamp: at(1), message: 'frame=1' },
                { timestamp: at(2), message: 'frame=2' },
              ],
              nextToken: 't1',
              status: 'Running',
            },
          };
        if (request.nextToken === 't1' && n < 4) return { ok: true, result: { events: [], status: 'Running' } };
        if (request.nextToken === 't1')
          return { ok: true, result: { events: [{ timestamp: at(3), message: 'done' }], nextToken: 't2', status: 'Succeeded' } };
        return { ok: true, result: { events: [], status: 'Succeeded' } };
      }
      return {
        ok: true,
        result: {
          events: [
            { timestamp: at(1), message: 'hello\n' },
            { timestamp: at(2), message: 'bye' },
          ],
          status: 'Succeeded',
        },
      };
    }
    case 'exec':
      if (id === 'done') return fail('InvalidTaskState', "task 'done' is Succeeded; exec needs a Running container task");
      return {
        ok: true,
        result: {
          cluster: 'transcode',
          taskArn: `arn:aws:ecs:us-east-1:000000000000:task/transcode/${id}`,
          container: 'worker',
          attempt: 1,
        },
      };
    case 'functions':
      return { ok: true, result: FUNCTIONS };
    case 'stats': {
      const since = request.since ?? STARTED - 24 * 3600 * 1000;
      const counts = {
        Enqueued: 0,
        Dequeued: 0,
        Running: 1,
        Retrying: 0,
        Succeeded: 1,
        Failed: 1,
        Stopping: 0,
        Stopped: 0,
        Expired: 0,
        Invalid: 0,
      };
      return {
        ok: true,
        result: {
          functionName: request.functionName,
          since,
          until: request.until ?? STARTED,
          counts,
          total: 3,
          runningNow: 1,
          activeNow: 1,
          successRate: 0.5,
          durationMs: { p50: 1500, p95: 65_000, samples: 2, sampled: false },
        },
      };
    }
  }
}

function read(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function xml(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'text/xml', 'x-amzn-requestid': 'fake-request' });
  res.end(body);
}

function describeStacks(res: ServerResponse, stackName: string | undefined): void {
  const outputs =
    stackName === STACK
      ? { TaskApiFunctionName: TASK_API, TaskApiUrl: TASK_API_URL, DataBucketName: 'data' }
      : stackName === LEGACY_STACK
        ? { TaskApiFunctionName: TASK_API }
        : stackName === STACK_WITH_GONE_FUNCTION
          ? { TaskApiFunctionName: 'gone-function' }
          : stackName === STACK_WITHOUT_OUTPUT
            ? { BucketName: 'b' }
            : undefined;
  if (!outputs) {
    xml(
      res,
      400,
      `<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><Error><Type>Sender</Type><Code>ValidationError</Code><Message>Stack with id ${stackName} does not exist</Message></Error><RequestId>fake-request</RequestId></ErrorResponse>`,
    );
    return;
  }
  const members = Object.entries(outputs)
    .map(([k, v]) => `<member><OutputKey>${k}</OutputKey><OutputValue>${v}</OutputValue></member>`)
    .join('');
  xml(
    res,
    200,
    `<DescribeStacksResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><DescribeStacksResult><Stacks><member><StackName>${stackName}</StackName><StackId>arn:aws:cloudformation:us-east-1:000000000000:stack/${stackName}/1</StackId><CreationTime>2026-11-25T12:00:00Z</CreationTime><StackStatus>CREATE_COMPLETE</StackStatus><Outputs>${members}</Outputs></member></Stacks></DescribeStacksResult><ResponseMetadata><RequestId>fake-request</RequestId></ResponseMetadata></DescribeStacksResponse>`,
  );
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'x-amzn-requestid': 'fake-request' });
  res.end(JSON.stringify(body));
}

/** The REST API, as API Gateway and the TaskApi handler answer: IAM first, then the TaskApi's `{ok, …}` with its status. */
function restApi(req: IncomingMessage, res: ServerResponse, body: string, calls: FakeCall[], counts: Map<string, number>): void {
  const url = new URL(req.url ?? '/', 'http://fake');
  const path = url.pathname.slice(`/restapis/${API_ID}/v1/_user_request_`.length) || '/';
  const method = req.method ?? 'GET';
  const authorization = typeof req.headers.authorization === 'string' ? req.headers.authorization : undefined;
  const query: Record<string, string[]> = {};
  for (const [k, v] of url.searchParams) query[k] = [...(query[k] ?? []), v];
  let request: TaskApiRequest | undefined;
  let invalid: unknown;
  try {
    request = requestFromHttp({ method, path, query, body });
  } catch (error) {
    invalid = error;
  }
  calls.push({
    service: 'http',
    method,
    path: `${path}${url.search}`,
    ...(authorization ? { authorization } : {}),
    ...(request ? { request } : {}),
  });
  if (
    !/^AWS4-HMAC-SHA256 Credential=[^/]+\/\d{8}\/[^/]+\/execute-api\/aws4_request, SignedHeaders=\S+, Signature=[0-9a-f]{64}$/.test(
      authorization ?? '',
    )
  ) {
    json(res, 403, { message: 'Missing Authentication Token' });
    return;
  }
  const functionName = request && 'functionName' in request ? request.functionName : undefined;
  if (functionName === 'forbidden') {
    json(res, 403, { Message: IAM_DENIAL(method, path) });
    return;
  }
  if (functionName === 'forbidden-typed') {
    json(res, 403, { ok: false, error: { name: 'AccessDenied', message: IAM_DENIAL(method, path) } });
    return;
  }
  if (!request) {
    const error = toAsyncTaskError(invalid);
    json(res, error.statusCode, { ok: false, error: error.toJSON() });
    return;
  }
  const result = answer(request, counts);
  if ('functionError' in result) {
    json(res, 502, { message: 'Internal server error' });
    return;
  }
  json(res, result.ok ? 200 : errorFromWire(result.error).statusCode, result);
}

export async function startFakeTaskApi(): Promise<FakeTaskApi> {
  const calls: FakeCall[] = [];
  const counts = new Map<string, number>();
  const server = createServer(async (req, res) => {
    const body = await read(req);
    if ((req.url ?? '').startsWith(`/restapis/${API_ID}/v1/_user_request_/`)) {
      restApi(req, res, body, calls, counts);
      return;
    }
    const invoke = /^\/2015-03-31\/functions\/([^/]+)\/invocations/.exec(req.url ?? '');
    if (req.method === 'POST' && invoke) {
      const functionName = decodeURIComponent(invoke[1]);
      const request = JSON.parse(body) as TaskApiRequest;
      calls.push({ service: 'lambda', functionName, request });
      if (functionName !== TASK_API) {
        res.writeHead(404, { 'content-type': 'application/json', 'x-amzn-errortype': 'ResourceNotFoundException' });
        res.end(JSON.stringify({ Type: 'User', Message: `Function not found: ${functionName}` }));
        return;
      }
      const result = answer(request, counts);
      const headers: Record<string, string> = { 'content-type': 'application/json', 'x-amzn-requestid': 'fake-request' };
      if ('functionError' in result) headers['x-amz-function-error'] = result.functionError;
      res.writeHead(200, headers);
      res.end(JSON.stringify('functionError' in result ? result.payload : result));
      return;
    }
    const form = new URLSearchParams(body);
    if (req.method === 'POST' && form.get('Action')) {
      const action = form.get('Action') ?? '';
      const stackName = form.get('StackName') ?? undefined;
      calls.push({ service: 'cloudformation', action, ...(stackName ? { stackName } : {}) });
      if (action === 'DescribeStacks') {
        describeStacks(res, stackName);
        return;
      }
    }
    res.writeHead(400, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ message: `fake endpoint does not serve ${req.method} ${req.url}` }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
