/**
 * The SDK over the REST API: discovery from the stack's outputs (aws-sdk-client-mock), and a local
 * `http.createServer` standing in for API Gateway that checks every request is what `httpCallFor`
 * says (method, path, query, body) and is SigV4-signed for execute-api — the signature recomputed
 * with the AWS SDK's signer over what arrived — then answers as API Gateway or the TaskApi would.
 */
import 'aws-sdk-client-mock-jest';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { Hash } from '@smithy/hash-node';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import { mockClient } from 'aws-sdk-client-mock';
import { minimalTask, stackWith } from './fixtures';
import {
  AccessDeniedError,
  AsyncTaskClient,
  HttpTaskApi,
  httpCallFor,
  InvalidArgumentError,
  LambdaTaskApi,
  localApiUrl,
  parseExecuteApiUrl,
  ServiceError,
  TaskAlreadyExistsError,
  type TaskApiRequest,
  TaskNotFoundError,
  type TaskRecord,
  ThrottledError,
} from '../../../client';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
const lambda = mockClient(LambdaClient);
const cloudFormation = mockClient(CloudFormationClient);
const CREDENTIALS = { accessKeyId: 'AKIDTEST', secretAccessKey: 'secret-test' };
const API_ID = 'a1b2c3d4e5';
const AWS_URL = `https://${API_ID}.execute-api.eu-west-1.amazonaws.com/v1/`;

interface Received {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
  /** The signature the AWS SDK's signer computes for what arrived, with the same credentials and date. */
  readonly expectedAuthorization: string;
}

type Answer = { status: number; body: unknown; headers?: Record<string, string> };

let server: Server;
let base: string;
let received: Received[];
let answers: ((r: Received) => Answer)[];
let fallback: (r: Received) => Answer;

async function expectedAuthorization(req: IncomingMessage, body: string, region: string): Promise<string> {
  const url = new URL(req.url ?? '/', `http://${req.headers.host}`);
  const auth = String(req.headers.authorization ?? '');
  const signedNames = /SignedHeaders=([^,\s]+)/.exec(auth)?.[1].split(';') ?? [];
  const headers: Record<string, string> = {};
  for (const name of signedNames) headers[name] = String(req.headers[name] ?? '');
  const query: Record<string, string | string[]> = {};
  for (const [k, v] of url.searchParams) {
    const had = query[k];
    query[k] = had === undefined ? v : [...(Array.isArray(had) ? had : [had]), v];
  }
  const date = String(req.headers['x-amz-date'] ?? '');
  const signingDate = new Date(
    Date.UTC(+date.slice(0, 4), +date.slice(4, 6) - 1, +date.slice(6, 8), +date.slice(9, 11), +date.slice(11, 13), +date.slice(13, 15)),
  );
  const signer = new SignatureV4({ service: 'execute-api', region, credentials: CREDENTIALS, sha256: Hash.bind(null, 'sha256') });
  const request = new HttpRequest({
    method: req.method,
    protocol: 'http:',
    hostname: url.hostname,
    port: Number(url.port),
    path: url.pathname,
    query,
    headers,
    ...(body !== '' ? { body } : {}),
  });
  return String((await signer.sign(request, { signingDate })).headers.authorization);
}

function serveWith(region: string) {
  return async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const r: Received = {
      method: req.method ?? '',
      url: req.url ?? '',
      headers: req.headers,
      body,
      expectedAuthorization: req.headers.authorization ? await expectedAuthorization(req, body, region) : '',
    };
    received.push(r);
    const answer = (answers.shift() ?? fallback)(r);
    res.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers });
    res.end(typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body));
  };
}

let region = 'eu-west-1';
beforeAll(async () => {
  server = createServer((req, res) => void serveWith(region)(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

beforeEach(() => {
  lambda.reset();
  cloudFormation.reset();
  received = [];
  answers = [];
  region = 'eu-west-1';
  fallback = () => ({ status: 200, body: { ok: true, result: null } });
});

const task = (taskId: string): TaskRecord => minimalTask('transcode', taskId);

/** A client calling the stand-in API directly (a URL that is not execute-api's is used as it is). */
function client(): AsyncTaskClient {
  return new AsyncTaskClient({ taskApiUrl: `${base}/v1/`, region: 'eu-west-1', credentials: CREDENTIALS });
}

const answer = (status: number, body: unknown, headers?: Record<string, string>) => () => ({
  status,
  body,
  ...(headers ? { headers } : {}),
});

describe('finding the TaskApi', () => {
  it('calls the REST API of the TaskApiUrl output, after one DescribeStacks, and never the function', async () => {
    cloudFormation.on(DescribeStacksCommand).resolves(stackWith({ TaskApiUrl: `${base}/v1/`, TaskApiFunctionName: 'api-fn' }));
    fallback = answer(200, { ok: true, result: [] });
    const c = new AsyncTaskClient({ region: 'eu-west-1', credentials: CREDENTIALS });
    await c.functions();
    await c.functions();
    expect(cloudFormation).toHaveReceivedCommandTimes(DescribeStacksCommand, 1);
    expect(lambda).toHaveReceivedCommandTimes(InvokeCommand, 0);
    expect(received.map((r) => `${r.method} ${r.url}`)).toEqual(['GET /v1/functions', 'GET /v1/functions']);
    await expect(c.taskApi()).resolves.toBeInstanceOf(HttpTaskApi);
  });

  it('falls back to invoking TaskApiFunctionName for a stack without TaskApiUrl', async () => {
    cloudFormation.on(DescribeStacksCommand).resolves(stackWith({ TaskApiFunctionName: 'api-fn' }));
    lambda.on(InvokeCommand).resolves({ StatusCode: 200, Payload: new TextEncoder().encode('{"ok":true,"result":[]}') as never });
    const c = new AsyncTaskClient({ region: 'eu-west-1', credentials: CREDENTIALS });
    await c.functions();
    expect(lambda).toHaveReceivedCommandWith(InvokeCommand, { FunctionName: 'api-fn' });
    expect(received).toEqual([]);
    await expect(c.taskApi()).resolves.toBeInstanceOf(LambdaTaskApi);
  });

  it('functionName forces the Lambda path and taskApiUrl the HTTP one, without DescribeStacks', async () => {
    lambda.on(InvokeCommand).resolves({ StatusCode: 200, Payload: new TextEncoder().encode('{"ok":true,"result":[]}') as never });
    await new AsyncTaskClient({ functionName: 'forced', region: 'eu-west-1' }).functions();
    await client().functions();
    expect(cloudFormation).toHaveReceivedCommandTimes(DescribeStacksCommand, 0);
    expect(lambda).toHaveReceivedCommandWith(InvokeCommand, { FunctionName: 'forced' });
    expect(received).toHaveLength(1);
  });

  it('fails if both functionName and taskApiUrl are given, or taskApiUrl is not an http(s) URL', () => {
    expect(() => new AsyncTaskClient({ functionName: 'f', taskApiUrl: AWS_URL })).toThrow(
      new InvalidArgumentError(
        `give functionName (invoke the TaskApi function) or taskApiUrl (call its REST API), not both (given 'f' and '${AWS_URL}')`,
      ),
    );
    expect(() => new AsyncTaskClient({ taskApiUrl: 'ftp://x/v1' })).toThrow(
      /taskApiUrl must be the http\(s\) URL of the TaskApi's REST API stage.*\(given "ftp:\/\/x\/v1"\)/,
    );
  });

  it('with an endpoint, rewrites the execute-api URL to the runtime (LocalStack’s path) and signs with test/test for its region', async () => {
    cloudFormation
      .on(DescribeStacksCommand)
      .resolves(stackWith({ TaskApiUrl: `https://${API_ID}.execute-api.us-east-1.amazonaws.com/v1/` }));
    region = 'us-east-1';
    const saved = { ...process.env };
    delete process.env.AWS_ACCESS_KEY_ID;
    delete process.env.AWS_PROFILE;
    try {
      const c = new AsyncTaskClient({ endpoint: base });
      await c.get('transcode', 'my1');
      expect(received[0].url).toBe(`/restapis/${API_ID}/v1/_user_request_/functions/transcode/tasks/my1`);
      expect(received[0].headers.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=test\/\d{8}\/us-east-1\/execute-api\/aws4_request, /);
    } finally {
      process.env = saved;
    }
  });

  it('localApiUrl and parseExecuteApiUrl', () => {
    expect(parseExecuteApiUrl(AWS_URL)).toEqual({ apiId: API_ID, region: 'eu-west-1', stage: 'v1', path: '/' });
    expect(parseExecuteApiUrl('https://api.example.com/v1/')).toBeUndefined();
    expect(localApiUrl(AWS_URL, 'http://127.0.0.1:4566/')).toBe(`http://127.0.0.1:4566/restapis/${API_ID}/v1/_user_request_/`);
    expect(localApiUrl('https://api.example.com/v1/', 'http://127.0.0.1:4566')).toBe('https://api.example.com/v1/');
  });
});

describe('every request is the route httpCallFor names, signed with SigV4 for execute-api', () => {
  const calls: [string, (c: AsyncTaskClient) => Promise<unknown>, TaskApiRequest][] = [
    [
      'submit',
      (c) => c.submit({ functionName: 'transcode', taskId: 'my1', payload: { a: [1, 'x y'] } }),
      { op: 'submit', functionName: 'transcode', taskId: 'my1', payload: { a: [1, 'x y'] } },
    ],
    ['get', (c) => c.get('transcode', 'my1'), { op: 'get', functionName: 'transcode', taskId: 'my1' }],
    [
      'list',
      (c) =>
        c.list({
          functionName: 'transcode',
          status: 'Running,Failed',
          since: 1,
          prefix: 'my-1',
          limit: 5,
          order: 'asc',
          nextToken: "t+/=*'()! ~",
        }),
      {
        op: 'list',
        functionName: 'transcode',
        status: ['Running', 'Failed'],
        since: 1,
        prefix: 'my-1',
        limit: 5,
        order: 'asc',
        nextToken: "t+/=*'()! ~",
      },
    ],
    ['stop', (c) => c.stop('transcode', 'my1'), { op: 'stop', functionName: 'transcode', taskId: 'my1' }],
    ['retry', (c) => c.retry('transcode', 'my1'), { op: 'retry', functionName: 'transcode', taskId: 'my1' }],
    [
      'logs',
      (c) => c.logsPage({ functionName: 'transcode', taskId: 'my1', limit: 10, attempt: 2, nextToken: 'n 1' }),
      { op: 'logs', functionName: 'transcode', taskId: 'my1', limit: 10, attempt: 2, nextToken: 'n 1' },
    ],
    ['stats', (c) => c.stats('transcode', { since: 10, until: 20 }), { op: 'stats', functionName: 'transcode', since: 10, until: 20 }],
    ['exec', (c) => c.exec('transcode', 'my1'), { op: 'exec', functionName: 'transcode', taskId: 'my1' }],
    ['functions', (c) => c.functions(), { op: 'functions' }],
  ];

  it.each(calls)('%s', async (_op, act, request) => {
    fallback = answer(200, { ok: true, result: { done: true } });
    await expect(act(client())).resolves.toEqual({ done: true });
    expect(received).toHaveLength(1);
    const [r] = received;
    const call = httpCallFor(request);
    const url = new URL(r.url, base);
    expect(r.method).toBe(call.method);
    expect(url.pathname).toBe(`/v1${call.path}`);
    expect([...url.searchParams]).toEqual(call.query);
    expect(r.body).toBe(call.body ?? '');
    if (call.body !== undefined) expect(r.headers['content-type']).toBe('application/json');
    expect(r.headers['x-amz-date']).toMatch(/^\d{8}T\d{6}Z$/);
    expect(r.headers.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDTEST\/\d{8}\/eu-west-1\/execute-api\/aws4_request, SignedHeaders=[a-z0-9;-]*host[a-z0-9;-]*, Signature=[0-9a-f]{64}$/,
    );
    // What API Gateway checks: the signature of what arrived, computed again, is the one sent.
    expect(r.headers.authorization).toBe(r.expectedAuthorization);
  });
});

describe('answers become typed errors', () => {
  it.each([
    ['InvalidArgument', 400, InvalidArgumentError],
    ['TaskNotFound', 404, TaskNotFoundError],
  ] as const)('a typed %s body (HTTP %d) is the same typed error as over Lambda', async (name, status, type) => {
    fallback = answer(status, { ok: false, error: { name, message: `the service said ${name}` } });
    const error = await client()
      .get('transcode', 'my1')
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(type);
    expect(error).toMatchObject({ name, message: `the service said ${name}` });
  });

  it('a 409 TaskAlreadyExists keeps the existing task', async () => {
    fallback = answer(409, { ok: false, error: { name: 'TaskAlreadyExists', message: 'exists', details: { existingTask: task('dup') } } });
    const error = await client()
      .submit({ functionName: 'transcode', taskId: 'dup' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TaskAlreadyExistsError);
    expect((error as TaskAlreadyExistsError).existingTask).toEqual(task('dup'));
  });

  it("API Gateway's own 403 is AccessDenied (exit 6) naming the function and the action, with API Gateway's message", async () => {
    const message =
      'User: arn:aws:iam::123456789012:user/alice is not authorized to perform: execute-api:Invoke on resource: arn:aws:execute-api:eu-west-1:********1234:a1b2c3d4e5/v1/POST/functions/transcode/tasks/my1/stop';
    fallback = answer(403, { Message: message }, { 'x-amzn-errortype': 'AccessDeniedException' });
    const error = await client()
      .stop('transcode', 'my1')
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AccessDeniedError);
    expect(error).toMatchObject({
      name: 'AccessDenied',
      exitCode: 6,
      statusCode: 403,
      message: `AccessDenied: not allowed to stop tasks of function 'transcode' (POST /functions/transcode/tasks/my1/stop): ${message}`,
      details: { op: 'stop', functionName: 'transcode', access: 'operate', resource: 'POST/functions/transcode/tasks/*/stop' },
    });
  });

  it.each([
    ['Missing Authentication Token', { message: 'Missing Authentication Token' }],
    ['a typed AccessDenied body', { ok: false, error: { name: 'AccessDenied', message: 'Missing Authentication Token' } }],
    ['a typed body of another name', { ok: false, error: { name: 'MissingAuthenticationToken', message: 'Missing Authentication Token' } }],
  ])('a 403 with %s is AccessDenied too', async (_what, body) => {
    fallback = answer(403, body);
    const error = await client()
      .submit({ functionName: 'sql-log-analysis' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AccessDeniedError);
    expect((error as Error).message).toBe(
      "AccessDenied: not allowed to submit tasks to function 'sql-log-analysis' (POST /functions/sql-log-analysis/tasks): Missing Authentication Token",
    );
  });

  it('a 429 is tried again, then is Throttled saying so', async () => {
    answers = [answer(429, { message: 'Too Many Requests' }), answer(200, { ok: true, result: [] })];
    await expect(client().functions()).resolves.toEqual([]);
    received = [];
    fallback = answer(429, { message: 'Too Many Requests' });
    const error = await client()
      .functions()
      .catch((e: unknown) => e);
    expect(received).toHaveLength(3);
    expect(error).toBeInstanceOf(ThrottledError);
    expect(error).toMatchObject({
      name: 'Throttled',
      statusCode: 429,
      message: `the TaskApi at ${base}/v1/ throttled GET /functions (429): Too Many Requests; try again later`,
    });
  });

  it("a 429 with a typed body keeps its name and details (the stack's THROTTLED gateway response)", async () => {
    fallback = answer(429, {
      ok: false,
      error: { name: 'Throttled', message: 'Too Many Requests', details: { responseType: 'THROTTLED' } },
    });
    const error = await client()
      .functions()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ThrottledError);
    expect(error).toMatchObject({
      message: `the TaskApi at ${base}/v1/ throttled GET /functions (429): Too Many Requests; try again later`,
      details: { responseType: 'THROTTLED' },
    });
  });

  it("API Gateway's 502 is a ServiceError naming the TaskApi, the call and the status", async () => {
    fallback = answer(502, { message: 'Internal server error' });
    await expect(client().get('transcode', 'my1')).rejects.toThrow(
      new ServiceError(
        `the TaskApi at ${base}/v1/ answered GET /functions/transcode/tasks/my1 with HTTP 502 and no TaskApi response: Internal server error`,
      ),
    );
  });

  it('a network failure is a ServiceError naming the URL, keeping the cause', async () => {
    const gone = createServer();
    await new Promise<void>((resolve) => gone.listen(0, '127.0.0.1', resolve));
    const port = (gone.address() as AddressInfo).port;
    await new Promise<void>((resolve) => gone.close(() => resolve()));
    const c = new AsyncTaskClient({ taskApiUrl: `http://127.0.0.1:${port}/v1/`, region: 'eu-west-1', credentials: CREDENTIALS });
    const error = (await c.functions().catch((e: unknown) => e)) as ServiceError;
    expect(error).toBeInstanceOf(ServiceError);
    expect(error.message).toMatch(
      new RegExp(
        `^cannot reach the TaskApi at http://127\\.0\\.0\\.1:${port}/v1/ \\(GET http://127\\.0\\.0\\.1:${port}/v1/functions\\): TypeError: fetch failed \\(ECONNREFUSED`,
      ),
    );
    expect(error.cause).toMatchObject({ name: 'TypeError', cause: { code: 'ECONNREFUSED' } });
  });

  it('credentials that cannot be loaded are a ServiceError saying the request could not be signed', async () => {
    const cause = Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' });
    const c = new AsyncTaskClient({ taskApiUrl: AWS_URL, credentials: () => Promise.reject(cause) });
    const error = (await c.functions().catch((e: unknown) => e)) as ServiceError;
    expect(error).toBeInstanceOf(ServiceError);
    expect(error.message).toBe(
      `cannot sign GET /functions for the TaskApi at ${AWS_URL}: CredentialsProviderError: Could not load credentials from any providers`,
    );
    expect(error.cause).toBe(cause);
    expect(received).toEqual([]);
  });
});
