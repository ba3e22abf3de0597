/**
 * The TaskApi's HTTP face (lambda/model/http.ts): every route maps to its operation and back
 * (`httpCallFor` ∘ `requestFromHttp` is the identity on requests), the proxy event's parts, and
 * every refusal names the value and what is allowed.
 */
import {
  type ApiGatewayProxyEvent,
  grantPath,
  HTTP_ROUTES,
  type HttpCall,
  type HttpRequestParts,
  httpCallFor,
  httpRequestPartsOf,
  InvalidArgumentError,
  isApiGatewayProxyEvent,
  OPERATIONS,
  requestFromHttp,
  routeOf,
  type TaskApiRequest,
} from '../../../lambda/model';

/** The parts API Gateway hands over for an SDK call: the query grouped by name, as multiValueQueryStringParameters. */
function partsOf(call: HttpCall): HttpRequestParts {
  const query: Record<string, string[]> = {};
  for (const [name, value] of call.query) query[name] = [...(query[name] ?? []), value];
  return { method: call.method, path: call.path, query, ...(call.body !== undefined ? { body: call.body } : {}) };
}

/** One request per operation, with every field it takes set. */
const REQUESTS: readonly TaskApiRequest[] = [
  { op: 'functions' },
  { op: 'submit', functionName: 'transcode', taskId: 'job_1', payload: { input: 's3://b/k.mp4', sizes: [720, 1080] } },
  {
    op: 'list',
    functionName: 'etl',
    status: ['Running', 'Failed'],
    since: 1_764_000_000_000,
    until: 1_764_072_000_000,
    prefix: 'job_',
    limit: 50,
    order: 'asc',
    nextToken: 'eyJhIjoxfQ',
  },
  { op: 'stats', functionName: 'etl', since: 1_764_000_000_000, until: 1_764_072_000_000 },
  { op: 'get', functionName: 'etl', taskId: 'job_1' },
  { op: 'logs', functionName: 'transcode', taskId: 'job_1', nextToken: 'abc', limit: 10, attempt: 2 },
  { op: 'stop', functionName: 'etl', taskId: 'job_1' },
  { op: 'retry', functionName: 'etl', taskId: 'job_1' },
  { op: 'exec', functionName: 'transcode', taskId: 'job_1' },
];

const GET_TASKS = 'GET /functions/{functionName}/tasks';

function refusal(parts: HttpRequestParts): InvalidArgumentError {
  try {
    requestFromHttp(parts);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidArgumentError);
    return error as InvalidArgumentError;
  }
  throw new Error(`expected ${parts.method} ${parts.path} to be refused`);
}

describe('HTTP routes', () => {
  test('every operation has exactly one route, and every route one operation', () => {
    expect(HTTP_ROUTES.map((r) => r.op).sort()).toEqual([...OPERATIONS].sort());
    for (const op of OPERATIONS) expect(routeOf(op).op).toBe(op);
    const keys = HTTP_ROUTES.map((r) => `${r.method} ${r.path}`);
    expect(new Set(keys).size).toBe(keys.length);
  });

  test('submit needs submit access; stop, retry and exec operate; the rest read', () => {
    expect(Object.fromEntries(HTTP_ROUTES.map((r) => [r.op, r.access]))).toEqual({
      functions: 'read',
      submit: 'submit',
      list: 'read',
      stats: 'read',
      get: 'read',
      logs: 'read',
      stop: 'operate',
      retry: 'operate',
      exec: 'operate',
    });
  });

  test('a grant names one function (or every one) and every task', () => {
    expect(grantPath(routeOf('stop'), 'transcode')).toBe('/functions/transcode/tasks/*/stop');
    expect(grantPath(routeOf('submit'), '*')).toBe('/functions/*/tasks');
  });

  test('fails if an operation has no route, naming it', () => {
    expect(() => routeOf('nope' as never)).toThrow("no HTTP route for operation 'nope'");
  });
});

describe('requestFromHttp / httpCallFor', () => {
  test.each(REQUESTS.map((r) => [r.op, r] as const))('%s: the HTTP call maps back to the same request', (_op, request) => {
    const call = httpCallFor(request);
    expect(call.method).toBe(routeOf(request.op).method);
    expect(requestFromHttp(partsOf(call))).toEqual(request);
  });

  test.each([
    ['functions', 'GET', '/functions'],
    ['submit', 'POST', '/functions/transcode/tasks'],
    ['list', 'GET', '/functions/etl/tasks'],
    ['stats', 'GET', '/functions/etl/stats'],
    ['get', 'GET', '/functions/etl/tasks/job_1'],
    ['logs', 'GET', '/functions/transcode/tasks/job_1/logs'],
    ['stop', 'POST', '/functions/etl/tasks/job_1/stop'],
    ['retry', 'POST', '/functions/etl/tasks/job_1/retry'],
    ['exec', 'POST', '/functions/transcode/tasks/job_1/exec'],
  ])('%s is %s %s', (op, method, path) => {
    const call = httpCallFor(REQUESTS.find((r) => r.op === op) as TaskApiRequest);
    expect([call.method, call.path]).toEqual([method, path]);
  });

  test('only the fields given travel: a bare list has no query, a bare submit an empty object body', () => {
    expect(httpCallFor({ op: 'list', functionName: 'etl' })).toEqual({ method: 'GET', path: '/functions/etl/tasks', query: [] });
    expect(httpCallFor({ op: 'submit', functionName: 'etl' })).toEqual({
      method: 'POST',
      path: '/functions/etl/tasks',
      query: [],
      body: '{}',
    });
    expect(requestFromHttp({ method: 'POST', path: '/functions/etl/tasks', body: '{}' })).toEqual({ op: 'submit', functionName: 'etl' });
    expect(requestFromHttp({ method: 'POST', path: '/functions/etl/tasks' })).toEqual({ op: 'submit', functionName: 'etl' });
  });

  test('path segments are percent-encoded there and decoded back', () => {
    const request: TaskApiRequest = { op: 'get', functionName: 'a b', taskId: 'x/y' };
    const call = httpCallFor(request);
    expect(call.path).toBe('/functions/a%20b/tasks/x%2Fy');
    expect(requestFromHttp(partsOf(call))).toEqual(request);
  });

  test('a list status may be repeated or comma-separated', () => {
    expect(requestFromHttp({ method: 'GET', path: '/functions/etl/tasks', query: { status: ['Running,Failed', 'Stopped'] } })).toEqual({
      op: 'list',
      functionName: 'etl',
      status: ['Running', 'Failed', 'Stopped'],
    });
  });

  test('takes a lower-case method, a trailing slash and a base64 body', () => {
    const body = Buffer.from(JSON.stringify({ taskId: 'job_2', payload: [1] })).toString('base64');
    expect(requestFromHttp({ method: 'post', path: '/functions/etl/tasks/', body, isBase64Encoded: true })).toEqual({
      op: 'submit',
      functionName: 'etl',
      taskId: 'job_2',
      payload: [1],
    });
  });

  test('stop, retry and exec take an empty body or an empty object', () => {
    for (const body of ['', '{}', ' {} ', undefined, null]) {
      expect(requestFromHttp({ method: 'POST', path: '/functions/etl/tasks/job_1/stop', body })).toEqual({
        op: 'stop',
        functionName: 'etl',
        taskId: 'job_1',
      });
    }
  });

  test('leaves the values to the operation: a task id that breaks the rule maps as given', () => {
    expect(requestFromHttp({ method: 'GET', path: '/functions/etl/tasks/9lives' })).toEqual({
      op: 'get',
      functionName: 'etl',
      taskId: '9lives',
    });
  });
});

describe('requestFromHttp refusals', () => {
  test('fails if no route has the path, naming the path and the routes', () => {
    const error = refusal({ method: 'GET', path: '/tasks' });
    expect(error.message).toBe(`no route GET /tasks; routes: ${HTTP_ROUTES.map((r) => `${r.method} ${r.path}`).join(', ')}`);
    expect(error.message).toContain(GET_TASKS);
    expect(error.statusCode).toBe(400);
  });

  test('fails if the path has more segments than any route', () => {
    expect(refusal({ method: 'GET', path: '/functions/etl/tasks/job_1/logs/more' }).message).toMatch(
      /^no route GET \/functions\/etl\/tasks\/job_1\/logs\/more; routes: /,
    );
  });

  test('fails if the route does not take the method, naming the methods it takes', () => {
    expect(refusal({ method: 'DELETE', path: '/functions/etl/tasks' }).message).toBe(
      'DELETE is not allowed on /functions/etl/tasks; allowed: POST, GET',
    );
    expect(refusal({ method: 'GET', path: '/functions/etl/tasks/job_1/stop' }).message).toBe(
      'GET is not allowed on /functions/etl/tasks/job_1/stop; allowed: POST',
    );
  });

  test('fails if a query parameter is unknown, naming it and the allowed ones', () => {
    expect(refusal({ method: 'GET', path: '/functions/etl/tasks', query: { state: ['Running'], limit: ['5'] } }).message).toBe(
      `unknown query parameter(s) 'state' for ${GET_TASKS}; allowed: status, since, until, prefix, limit, order, nextToken`,
    );
    expect(refusal({ method: 'GET', path: '/functions/etl/tasks/job_1', query: { verbose: ['1'] } }).message).toBe(
      "unknown query parameter(s) 'verbose' for GET /functions/{functionName}/tasks/{taskId}; allowed: none",
    );
    expect(refusal({ method: 'POST', path: '/functions/etl/tasks', query: { taskId: ['a'] } }).message).toBe(
      "unknown query parameter(s) 'taskId' for POST /functions/{functionName}/tasks; allowed: none",
    );
  });

  test('fails if a query parameter that takes one value is given twice', () => {
    expect(refusal({ method: 'GET', path: '/functions/etl/tasks', query: { limit: ['5', '6'] } }).message).toBe(
      "query parameter 'limit' is given 2 times; give it once",
    );
  });

  test('fails if an integer query parameter is not an integer, naming the value', () => {
    expect(refusal({ method: 'GET', path: '/functions/etl/tasks', query: { since: ['yesterday'] } }).message).toBe(
      "query parameter 'since' must be an integer (given 'yesterday')",
    );
    expect(refusal({ method: 'GET', path: '/functions/etl/tasks/job_1/logs', query: { attempt: ['1.5'] } }).message).toBe(
      "query parameter 'attempt' must be an integer (given '1.5')",
    );
  });

  test('fails if a path segment is not valid percent-encoding, naming it', () => {
    expect(refusal({ method: 'GET', path: '/functions/etl/tasks/%E0%A4%A' }).message).toBe(
      "the path's task id '%E0%A4%A' is not valid percent-encoding",
    );
    expect(refusal({ method: 'GET', path: '/functions/%ZZ/tasks' }).message).toBe(
      "the path's function name '%ZZ' is not valid percent-encoding",
    );
  });

  test('fails if the body is not JSON, quoting it', () => {
    expect(refusal({ method: 'POST', path: '/functions/etl/tasks', body: '{"payload":' }).message).toMatch(
      /^the body is not JSON \(.+\): '\{"payload":'$/,
    );
  });

  test('fails if a submit body is not an object, naming it', () => {
    expect(refusal({ method: 'POST', path: '/functions/etl/tasks', body: '[1,2]' }).message).toBe(
      'the body of a submit must be a JSON object {taskId?, payload?} (given [1,2])',
    );
    expect(refusal({ method: 'POST', path: '/functions/etl/tasks', body: 'null' }).message).toBe(
      'the body of a submit must be a JSON object {taskId?, payload?} (given null)',
    );
  });

  test('fails if a submit body has fields besides taskId and payload, naming them', () => {
    expect(refusal({ method: 'POST', path: '/functions/etl/tasks', body: '{"payload":1,"caller":"me","x":2}' }).message).toBe(
      "unknown field(s) 'caller', 'x' in a submit body; allowed: taskId, payload",
    );
  });

  test('fails if a submit body taskId is not a string, naming it', () => {
    expect(refusal({ method: 'POST', path: '/functions/etl/tasks', body: '{"taskId":7}' }).message).toBe(
      'taskId must be a string (given 7)',
    );
  });

  test('fails if stop, retry or exec is given a body, quoting it', () => {
    expect(refusal({ method: 'POST', path: '/functions/etl/tasks/job_1/retry', body: '{"force":true}' }).message).toBe(
      `POST /functions/{functionName}/tasks/{taskId}/retry takes no body (given '{"force":true}')`,
    );
  });
});

describe('API Gateway proxy events', () => {
  const event = (fields: Partial<ApiGatewayProxyEvent>): ApiGatewayProxyEvent => ({
    httpMethod: 'GET',
    path: '/functions/etl/tasks',
    requestContext: { requestId: 'r1' },
    ...fields,
  });

  test('are told from a direct invoke by httpMethod and requestContext', () => {
    expect(isApiGatewayProxyEvent(event({}))).toBe(true);
    expect(isApiGatewayProxyEvent({ op: 'get', functionName: 'etl', taskId: 'a' })).toBe(false);
    expect(isApiGatewayProxyEvent({ httpMethod: 'GET', path: '/functions' })).toBe(false);
    expect(isApiGatewayProxyEvent({ httpMethod: 'GET', requestContext: null })).toBe(false);
    expect(isApiGatewayProxyEvent(null)).toBe(false);
    expect(isApiGatewayProxyEvent([])).toBe(false);
  });

  test('take the query from multiValueQueryStringParameters, repeated names kept', () => {
    const parts = httpRequestPartsOf(
      event({ multiValueQueryStringParameters: { status: ['Running', 'Failed'] }, queryStringParameters: { status: 'Failed' } }),
    );
    expect(parts).toEqual({ method: 'GET', path: '/functions/etl/tasks', query: { status: ['Running', 'Failed'] }, body: null });
  });

  test('fall back to queryStringParameters, and to no query at all', () => {
    expect(httpRequestPartsOf(event({ queryStringParameters: { limit: '5' } })).query).toEqual({ limit: ['5'] });
    expect(httpRequestPartsOf(event({ multiValueQueryStringParameters: null, queryStringParameters: null })).query).toBeNull();
  });

  test('keep the body and whether it is base64', () => {
    expect(httpRequestPartsOf(event({ httpMethod: 'POST', body: 'e30=', isBase64Encoded: true }))).toEqual({
      method: 'POST',
      path: '/functions/etl/tasks',
      query: null,
      body: 'e30=',
      isBase64Encoded: true,
    });
  });
});
