/**
 * The local API Gateway on a hand-written, CDK-shaped template (./rest-api-fixture.ts) and on one
 * CDK synthesizes: the REST API read from the template (resource tree, methods, stage, gateway
 * responses, the stage URL output), request matching, the proxy event the Lambda gets, SigV4 in
 * form only (no IAM locally), the gateway responses of refusals, and the SDK's signed requests
 * through the edge.
 */
import { rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { mkdtempSync } from 'node:fs';
import { App, Stack } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { HttpTaskApi } from '../../client/http-api';
import {
  checkSignature,
  LocalApiGateway,
  type RestApiProxyEvent,
  type RestApiRequest,
  type RestApiResponse,
  renderTemplate,
} from '../../local/apigateway';
import { Edge, type EdgeBackends } from '../../local/edge';
import { LocalSsm } from '../../local/ssm';
import { type LocalRestApi, loadAssembly, TemplateError } from '../../local/template';
import type { LambdaInvokeResult } from '../../local/types';
import { API, restApiTemplate, STACK, TYPED_TEMPLATE, writeRestApiAssembly } from './rest-api-fixture';

const ENDPOINT = 'http://127.0.0.1:4566';
const FUNCTION_ARN = `arn:aws:lambda:us-east-1:000000000000:function:${STACK}-Handler886CB40B`;
const SIGNATURE = 'a'.repeat(64);
const AUTH = `AWS4-HMAC-SHA256 Credential=AKIDALICE/20260101/us-east-1/execute-api/aws4_request, SignedHeaders=host;x-amz-date, Signature=${SIGNATURE}`;

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function load(template = restApiTemplate()) {
  const dir = writeRestApiAssembly(template);
  dirs.push(dir);
  return loadAssembly(dir, { endpoint: ENDPOINT });
}

/** A Lambda stand-in: records every event and answers with `answer(event)`. */
function fakeLambda(
  answer: (event: RestApiProxyEvent) => Partial<LambdaInvokeResult> = () => ({
    payload: { statusCode: 200, body: '{"ok":true,"result":1}' },
  }),
) {
  const calls: { ref: string; event: RestApiProxyEvent }[] = [];
  return {
    calls,
    invoke: async (ref: string, payload: unknown): Promise<LambdaInvokeResult> => {
      calls.push({ ref, event: payload as RestApiProxyEvent });
      return { requestId: 'req-1', payload: null, ...answer(payload as RestApiProxyEvent) };
    },
  };
}

function request(
  method: string,
  pathAndQuery: string,
  options: { headers?: Record<string, string>; body?: string; api?: LocalRestApi; stage?: string } = {},
): RestApiRequest {
  const headers = { host: '127.0.0.1:4566', 'X-Amz-Date': '20260101T000000Z', ...options.headers };
  return {
    method,
    url: `/restapis/${options.api?.id ?? apiId}/${options.stage ?? 'v1'}/_user_request_${pathAndQuery}`,
    rawHeaders: Object.entries(headers).flat(),
    body: Buffer.from(options.body ?? ''),
    sourceIp: '127.0.0.1',
  };
}

const signed = { Authorization: AUTH };
let apiId: string;
let api: LocalRestApi;

function bodyOf(response: RestApiResponse): unknown {
  return JSON.parse(response.body.toString('utf8'));
}

beforeAll(() => {
  api = load().restApis[0];
  apiId = api.id;
});

describe('the REST API read from the template', () => {
  test('resource tree, methods with their function ARN, stage and gateway responses; nothing hard-coded', () => {
    const model = load();
    expect(model.restApis).toHaveLength(1);
    const [read] = model.restApis;
    expect(read).toMatchObject({ logicalId: API, stackName: STACK, name: 'TaskApi', stages: ['v1'] });
    expect(read.id).toMatch(/^[a-z0-9]{10}$/);
    const routes = read.resources.flatMap((r) => r.methods.map((m) => `${m.httpMethod} ${r.path} ${m.authorizationType}`)).sort();
    expect(routes).toEqual([
      'ANY /files/{proxy+} NONE',
      'GET /functions AWS_IAM',
      'GET /functions/reserved NONE',
      'GET /functions/{functionName}/tasks AWS_IAM',
      'GET /functions/{functionName}/tasks/{taskId} AWS_IAM',
      'GET /mock NONE',
      'POST /functions/{functionName}/tasks AWS_IAM',
      'POST /functions/{functionName}/tasks/{taskId}/stop AWS_IAM',
    ]);
    const submit = read.resources.find((r) => r.path === '/functions/{functionName}/tasks')?.methods.find((m) => m.httpMethod === 'POST');
    expect(submit?.integration).toEqual({
      type: 'AWS_PROXY',
      uri: `arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/${FUNCTION_ARN}/invocations`,
      functionArn: FUNCTION_ARN,
    });
    expect(read.gatewayResponses.map((g) => [g.responseType, g.statusCode])).toEqual([
      ['MISSING_AUTHENTICATION_TOKEN', 403],
      ['INVALID_SIGNATURE', 403],
      ['DEFAULT_5XX', undefined],
    ]);
    expect(read.gatewayResponses[0]).toMatchObject({
      templates: { 'application/json': TYPED_TEMPLATE },
      headers: { 'Access-Control-Allow-Origin': '*' },
    });
  });

  test("the stage URL output names the local API id, the region and the stage, as AWS's does", () => {
    const outputs = Object.fromEntries(load().stacks[0].outputs.map((o) => [o.key, o.value]));
    expect(outputs.TaskApiUrl).toBe(`https://${apiId}.execute-api.us-east-1.amazonaws.com/v1/`);
  });

  test('API Gateway types are not reported unsupported; an integration it cannot serve is noted', () => {
    const model = load();
    expect(model.stacks[0].unsupported).toEqual([]);
    expect(model.notes).toEqual([
      expect.stringMatching(/method RestApimockGET7788CCDD \(GET\) has a MOCK integration; only Lambda proxy \(AWS_PROXY\)/),
    ]);
  });

  test('fails if a resource names a parent that is not of its API', () => {
    const template = restApiTemplate() as { Resources: Record<string, { Properties: Record<string, unknown> }> };
    template.Resources.RestApifiles7788AABB.Properties.ParentId = 'nope';
    expect(() => load(template)).toThrow(TemplateError);
    expect(() => load(template)).toThrow(
      /RestApifiles7788AABB' of stack 'RestFixture' has ParentId 'nope', which is neither the root of REST API RestApi0C43BF4B nor one of its resources/,
    );
  });

  test('reads what CDK synthesizes for a RestApi with IAM auth and Lambda integrations', () => {
    const outdir = mkdtempSync(path.join(os.tmpdir(), 'asynctask-restapi-cdk-'));
    dirs.push(outdir);
    const app = new App({ outdir });
    const stack = new Stack(app, 'CdkRest');
    const fn = new lambda.Function(stack, 'Api', {
      runtime: lambda.Runtime.NODEJS_22_X,
      handler: 'index.handler',
      code: lambda.Code.fromInline('exports.handler = async () => ({ statusCode: 200, body: "{}" });'),
    });
    const rest = new apigateway.RestApi(stack, 'Rest', {
      deployOptions: { stageName: 'v1' },
      defaultMethodOptions: { authorizationType: apigateway.AuthorizationType.IAM },
    });
    const integration = new apigateway.LambdaIntegration(fn);
    const fns = rest.root.addResource('functions');
    fns.addMethod('GET', integration);
    fns.addResource('{functionName}').addResource('tasks').addMethod('POST', integration);
    rest.addGatewayResponse('Missing', {
      type: apigateway.ResponseType.MISSING_AUTHENTICATION_TOKEN,
      statusCode: '403',
      templates: { 'application/json': TYPED_TEMPLATE },
    });
    app.synth();
    const model = loadAssembly(outdir, { endpoint: ENDPOINT });
    const [read] = model.restApis;
    expect(read.stages).toEqual(['v1']);
    expect(
      read.resources.flatMap((r) => r.methods.map((m) => `${m.httpMethod} ${r.path} ${m.authorizationType} ${m.integration.type}`)),
    ).toEqual(expect.arrayContaining(['GET /functions AWS_IAM AWS_PROXY', 'POST /functions/{functionName}/tasks AWS_IAM AWS_PROXY']));
    expect(read.resources.every((r) => r.methods.every((m) => m.integration.functionArn === model.functions[0].arn))).toBe(true);
    expect(read.gatewayResponses.map((g) => g.responseType)).toEqual(['MISSING_AUTHENTICATION_TOKEN']);
    expect(model.stacks[0].outputs.find((o) => o.key.startsWith('RestEndpoint'))?.value).toBe(
      `https://${read.id}.execute-api.us-east-1.amazonaws.com/v1/`,
    );
  });
});

describe('serving a signed request', () => {
  test('builds the REST proxy event of the matched resource and returns the proxy response', async () => {
    const fn = fakeLambda(() => ({
      payload: {
        statusCode: 201,
        headers: { 'x-one': 'a' },
        multiValueHeaders: { 'x-many': ['b', 'c'] },
        body: '{"ok":true,"result":{"taskId":"t1"}}',
      },
    }));
    const gateway = new LocalApiGateway({ apis: [api], lambda: fn });
    const response = await gateway.handle(
      request('POST', '/functions/trans%63ode/tasks?a=1&a=2&b=x%20y', {
        headers: { ...signed, 'Content-Type': 'application/json', 'User-Agent': 'test-agent', 'X-Multi': 'one' },
        body: '{"taskId":"t1"}',
      }),
    );
    expect(response.statusCode).toBe(201);
    expect(response.headers).toMatchObject({ 'x-one': 'a', 'x-many': ['b', 'c'], 'content-type': 'application/json' });
    expect(bodyOf(response)).toEqual({ ok: true, result: { taskId: 't1' } });
    expect(fn.calls).toHaveLength(1);
    const { ref, event } = fn.calls[0];
    expect(ref).toBe(FUNCTION_ARN);
    expect(event).toMatchObject({
      resource: '/functions/{functionName}/tasks',
      path: '/functions/trans%63ode/tasks',
      httpMethod: 'POST',
      queryStringParameters: { a: '2', b: 'x y' },
      multiValueQueryStringParameters: { a: ['1', '2'], b: ['x y'] },
      pathParameters: { functionName: 'transcode' },
      stageVariables: null,
      body: '{"taskId":"t1"}',
      isBase64Encoded: false,
      requestContext: {
        accountId: '000000000000',
        apiId,
        resourcePath: '/functions/{functionName}/tasks',
        httpMethod: 'POST',
        path: '/v1/functions/trans%63ode/tasks',
        stage: 'v1',
        requestId: expect.stringMatching(/^[0-9a-f-]{36}$/),
        identity: {
          userArn: 'arn:aws:iam::000000000000:user/AKIDALICE',
          caller: 'AKIDALICE',
          accessKey: 'AKIDALICE',
          sourceIp: '127.0.0.1',
          userAgent: 'test-agent',
        },
      },
    });
    expect(event.headers).toMatchObject({ 'Content-Type': 'application/json', Authorization: AUTH, 'X-Multi': 'one' });
    expect(event.multiValueHeaders).toMatchObject({ 'X-Multi': ['one'] });
  });

  test('static path parts win over {param}; {proxy+} takes the rest; ANY takes every method; NONE needs no signature', async () => {
    const fn = fakeLambda();
    const gateway = new LocalApiGateway({ apis: [api], lambda: fn });
    expect((await gateway.handle(request('GET', '/functions/reserved'))).statusCode).toBe(200);
    expect((await gateway.handle(request('DELETE', '/files/a/b%20c/d.txt'))).statusCode).toBe(200);
    expect((await gateway.handle(request('GET', '/functions/other/tasks/', { headers: signed }))).statusCode).toBe(200);
    expect(fn.calls.map((c) => [c.event.resource, c.event.pathParameters, c.event.requestContext.identity.userArn])).toEqual([
      ['/functions/reserved', null, null],
      ['/files/{proxy+}', { proxy: 'a/b c/d.txt' }, null],
      ['/functions/{functionName}/tasks', { functionName: 'other' }, 'arn:aws:iam::000000000000:user/AKIDALICE'],
    ]);
  });

  test('a function error or an answer that is no proxy response is a 502 from the DEFAULT_5XX template, and says why', async () => {
    const warnings: string[] = [];
    for (const payload of [{ errorType: 'TypeError', errorMessage: 'boom' }, { ok: true }, 'text']) {
      const fn = fakeLambda(() => ({
        payload,
        ...(typeof payload === 'object' && 'errorType' in payload ? { functionError: 'Unhandled' } : {}),
      }));
      const gateway = new LocalApiGateway({ apis: [api], lambda: fn, warn: (m) => warnings.push(m) });
      const response = await gateway.handle(request('GET', '/functions', { headers: signed }));
      expect(response.statusCode).toBe(502);
      expect(bodyOf(response)).toEqual({ ok: false, error: { name: 'ServiceError', message: 'Internal server error' } });
    }
    expect(warnings).toEqual([
      expect.stringMatching(/GET \/functions: the function failed \(Unhandled\): .*boom/),
      expect.stringMatching(/GET \/functions: the function answered no proxy response/),
      expect.stringMatching(/no proxy response/),
    ]);
  });

  test('an integration that is not a Lambda proxy is a 500 and says so', async () => {
    const warnings: string[] = [];
    const gateway = new LocalApiGateway({ apis: [api], lambda: fakeLambda(), warn: (m) => warnings.push(m) });
    const response = await gateway.handle(request('GET', '/mock'));
    expect(response.statusCode).toBe(500);
    expect(warnings).toEqual([expect.stringContaining('a MOCK integration is not served locally')]);
  });
});

describe('refusals are the gateway responses of the template', () => {
  const fn = fakeLambda();
  let gateway: LocalApiGateway;
  beforeAll(() => {
    gateway = new LocalApiGateway({ apis: [api], lambda: fn });
  });
  afterEach(() => expect(fn.calls).toEqual([]));

  test('an unsigned request: MISSING_AUTHENTICATION_TOKEN, its template filled in, its headers', async () => {
    const response = await gateway.handle(request('POST', '/functions/transcode/tasks/t1/stop'));
    expect(response.statusCode).toBe(403);
    expect(response.headers).toMatchObject({
      'Access-Control-Allow-Origin': '*',
      'x-amzn-errortype': 'MissingAuthenticationTokenException',
      'content-type': 'application/json',
    });
    expect(bodyOf(response)).toEqual({
      ok: false,
      error: {
        name: 'AccessDenied',
        message: 'Missing Authentication Token',
        request: 'POST /v1/functions/transcode/tasks/t1/stop',
        resource: '/functions/{functionName}/tasks/{taskId}/stop',
      },
    });
  });

  test.each([
    ['not SigV4', 'Bearer abc', /requires 'AWS4-HMAC-SHA256' signing \(given 'Bearer'\)/],
    [
      'no Signature',
      'AWS4-HMAC-SHA256 Credential=AK/20260101/us-east-1/execute-api/aws4_request, SignedHeaders=host',
      /requires 'Signature' parameter/,
    ],
    [
      'a Credential of 4 parts',
      `AWS4-HMAC-SHA256 Credential=AK/20260101/us-east-1/execute-api, SignedHeaders=host, Signature=${SIGNATURE}`,
      /Credential must be <access key>\/<yyyymmdd>\/<region>\/execute-api\/aws4_request \(given 'AK\/20260101\/us-east-1\/execute-api'\)/,
    ],
    [
      'another service',
      `AWS4-HMAC-SHA256 Credential=AK/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=${SIGNATURE}`,
      /scoped to correct service: 'execute-api' \(given 's3'\)/,
    ],
    [
      'another region',
      `AWS4-HMAC-SHA256 Credential=AK/20260101/eu-west-1/execute-api/aws4_request, SignedHeaders=host, Signature=${SIGNATURE}`,
      /not 'eu-west-1' \(the local region is 'us-east-1'\)/,
    ],
    [
      'a signature that is not hex',
      'AWS4-HMAC-SHA256 Credential=AK/20260101/us-east-1/execute-api/aws4_request, SignedHeaders=host, Signature=xyz',
      /64 hexadecimal digits/,
    ],
    [
      'host not signed',
      `AWS4-HMAC-SHA256 Credential=AK/20260101/us-east-1/execute-api/aws4_request, SignedHeaders=x-amz-date, Signature=${SIGNATURE}`,
      /SignedHeaders must include 'host'/,
    ],
  ])('a malformed signature (%s): INVALID_SIGNATURE naming what is wrong', async (_what, authorization, message) => {
    const response = await gateway.handle(request('GET', '/functions', { headers: { Authorization: authorization } }));
    expect(response.statusCode).toBe(403);
    expect(response.headers['x-amzn-errortype']).toBe('IncompleteSignatureException');
    const body = bodyOf(response) as { error: { name: string; message: string } };
    expect(body.error.name).toBe('AccessDenied');
    expect(body.error.message).toMatch(message);
  });

  test('a signed request without X-Amz-Date or Date: INVALID_SIGNATURE', () => {
    expect(checkSignature({ authorization: AUTH }, new URLSearchParams(), 'us-east-1')).toEqual({
      ok: false,
      type: 'INVALID_SIGNATURE',
      message: "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
    });
    expect(checkSignature({ authorization: AUTH, date: 'Thu, 01 Jan 2026 00:00:00 GMT' }, new URLSearchParams(), 'us-east-1')).toEqual({
      ok: true,
      accessKeyId: 'AKIDALICE',
    });
  });

  test('an unknown route, a method the resource does not have, an unknown stage: MISSING_AUTHENTICATION_TOKEN, signed or not', async () => {
    for (const r of [
      request('GET', '/nothing/here', { headers: signed }),
      request('DELETE', '/functions/transcode/tasks', { headers: signed }),
      request('GET', '/functions/transcode/tasks/t1/stop', { headers: signed }),
      request('GET', '/functions', { headers: signed, stage: 'prod' }),
      request('GET', '/'),
    ]) {
      const response = await gateway.handle(r);
      expect(response.statusCode).toBe(403);
      expect((bodyOf(response) as { error: { message: string } }).error.message).toBe('Missing Authentication Token');
    }
  });

  test("without gateway responses in the template: API Gateway's default body", async () => {
    const bare = load(restApiTemplate({ gatewayResponses: false })).restApis[0];
    const response = await new LocalApiGateway({ apis: [bare], lambda: fn }).handle(request('GET', '/functions', { api: bare }));
    expect(response.statusCode).toBe(403);
    expect(bodyOf(response)).toEqual({ message: 'Missing Authentication Token' });
  });

  test('an unknown API id is a 404 naming the REST APIs there are', async () => {
    const response = await gateway.handle({ ...request('GET', '/functions'), url: '/restapis/nope123456/v1/_user_request_/functions' });
    expect(response.statusCode).toBe(404);
    expect(bodyOf(response)).toEqual({
      message: `no REST API 'nope123456' in the loaded stacks; their REST APIs: ${apiId} (${STACK}/${API})`,
    });
  });
});

describe('gateway response templates', () => {
  test('$context variables, quoted messageString, escapeJavaScript, and nothing for unknown ones', () => {
    const context = { 'error.message': 'say "hi"', 'error.messageString': JSON.stringify('say "hi"'), httpMethod: 'GET' };
    expect(
      renderTemplate(
        `{"m":$context.error.messageString,"x":"\${context.httpMethod}","e":"$util.escapeJavaScript($context.error.message)","u":"$context.nope"}`,
        context,
      ),
    ).toBe('{"m":"say \\"hi\\"","x":"GET","e":"say \\"hi\\"","u":""}');
  });
});

describe("through the edge: the SDK's signed requests", () => {
  let edge: Edge;
  afterEach(() => edge?.close());

  const backends = (apiGateway: LocalApiGateway): EdgeBackends => ({
    dynamodbPort: 1,
    fauxqsPort: 1,
    logs: { handle: async () => ({}) },
    events: { handle: async () => ({}) },
    ssm: new LocalSsm([]),
    lambda: { invoke: async () => ({ requestId: 'r', payload: null }), find: () => undefined },
    stacks: [],
    apiGateway,
  });

  test('HttpTaskApi signs for execute-api, reaches the route at LocalStack’s path, and the caller is its access key', async () => {
    const fn = fakeLambda((event) => ({
      payload: { statusCode: 200, body: JSON.stringify({ ok: true, result: { seen: event.requestContext.identity.userArn } }) },
    }));
    edge = new Edge();
    const endpoint = await edge.listen(0);
    edge.setBackends(backends(new LocalApiGateway({ apis: [api], lambda: fn })));
    const client = new HttpTaskApi({
      url: `https://${apiId}.execute-api.us-east-1.amazonaws.com/v1/`,
      endpoint,
      region: async () => 'us-east-1',
      credentials: { accessKeyId: 'AKIDBOB', secretAccessKey: 'secret' },
    });
    expect(client.baseUrl).toBe(`${endpoint}/restapis/${apiId}/v1/_user_request_`);
    await expect(client.call({ op: 'list', functionName: 'transcode', status: ['Running', 'Failed'], limit: 5 })).resolves.toEqual({
      ok: true,
      result: { seen: 'arn:aws:iam::000000000000:user/AKIDBOB' },
    });
    const { event } = fn.calls[0];
    expect(event).toMatchObject({
      resource: '/functions/{functionName}/tasks',
      path: '/functions/transcode/tasks',
      httpMethod: 'GET',
      multiValueQueryStringParameters: { status: ['Running', 'Failed'], limit: ['5'] },
    });
    expect(event.headers.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDBOB\/\d{8}\/us-east-1\/execute-api\/aws4_request, SignedHeaders=\S*host\S*, Signature=[0-9a-f]{64}$/,
    );
  });

  test('an unsigned fetch gets the typed 403; a path that is no REST API path a 404', async () => {
    edge = new Edge();
    const endpoint = await edge.listen(0);
    edge.setBackends(backends(new LocalApiGateway({ apis: [api], lambda: fakeLambda() })));
    const denied = await fetch(`${endpoint}/restapis/${apiId}/v1/_user_request_/functions`);
    expect(denied.status).toBe(403);
    expect(await denied.json()).toMatchObject({ ok: false, error: { name: 'AccessDenied', message: 'Missing Authentication Token' } });
    const other = await fetch(`${endpoint}/restapis/${apiId}/v1/functions`);
    expect(other.status).toBe(404);
    expect(await other.json()).toEqual({
      message: `not a REST API path: /restapis/${apiId}/v1/functions; use /restapis/{apiId}/{stage}/_user_request_/{path}`,
    });
  });
});
