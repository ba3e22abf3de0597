/**
 * The TaskApi's HTTP face, shaped like Function Compute's REST API: one route per function and
 * action, so an IAM policy on `execute-api:Invoke` says who may submit, read or operate the tasks
 * of which function. One table, read by the REST API construct (lib/), the grants, the TaskApi
 * handler (an API Gateway proxy event → the same `{op, ...}` request as a direct invoke), the
 * local runtime's API Gateway and the SDK (a request → method, path, query and body).
 */
import type { TaskApiOperation, TaskApiRequest } from './api';
import type { HttpIdentity } from './audit';
import { InvalidArgumentError } from './errors';
import type { TaskStatus } from './statuses';

/** What a grant gives: `submit`, `read` (list, get, logs, stats), `operate` (stop, retry, exec). */
export type TaskApiAccess = 'submit' | 'read' | 'operate';
export const TASK_API_ACCESS: readonly TaskApiAccess[] = ['submit', 'read', 'operate'];

export type HttpMethod = 'GET' | 'POST';

export interface HttpRoute {
  readonly op: TaskApiOperation;
  readonly method: HttpMethod;
  /** API Gateway resource path; `{functionName}` and `{taskId}` are path parameters. */
  readonly path: string;
  readonly access: TaskApiAccess;
}

/** Path parameter names (API Gateway `pathParameters` keys). */
export const PATH_PARAMETER = { functionName: 'functionName', taskId: 'taskId' } as const;

export const HTTP_ROUTES: readonly HttpRoute[] = [
  { op: 'functions', method: 'GET', path: '/functions', access: 'read' },
  { op: 'submit', method: 'POST', path: '/functions/{functionName}/tasks', access: 'submit' },
  { op: 'list', method: 'GET', path: '/functions/{functionName}/tasks', access: 'read' },
  { op: 'stats', method: 'GET', path: '/functions/{functionName}/stats', access: 'read' },
  { op: 'get', method: 'GET', path: '/functions/{functionName}/tasks/{taskId}', access: 'read' },
  { op: 'logs', method: 'GET', path: '/functions/{functionName}/tasks/{taskId}/logs', access: 'read' },
  { op: 'stop', method: 'POST', path: '/functions/{functionName}/tasks/{taskId}/stop', access: 'operate' },
  { op: 'retry', method: 'POST', path: '/functions/{functionName}/tasks/{taskId}/retry', access: 'operate' },
  { op: 'exec', method: 'POST', path: '/functions/{functionName}/tasks/{taskId}/exec', access: 'operate' },
];

/** The route of an operation (every operation has exactly one). */
export function routeOf(op: TaskApiOperation): HttpRoute {
  const route = HTTP_ROUTES.find((r) => r.op === op);
  if (!route) throw new Error(`no HTTP route for operation '${op}'`);
  return route;
}

/**
 * The resource path of `route` for one function (and every task: `{taskId}` → `*`), as an
 * execute-api ARN's path takes it: what a grant names. `functionName` `*` means every function.
 */
export function grantPath(route: HttpRoute, functionName: string): string {
  return route.path.replace('{functionName}', functionName).replace('{taskId}', '*');
}

/** An HTTP request as API Gateway's proxy integration hands it over (the fields used here). */
export interface HttpRequestParts {
  readonly method: string;
  /**
   * The request path below the stage, e.g. `/functions/transcode/tasks/my1/stop` (API Gateway
   * `path`). Matched against the routes here rather than taken from `resource`, so a function with
   * a resource of its own (a throttling override) is the same route as `{functionName}`.
   */
  readonly path: string;
  /** Query string values, repeated names kept (API Gateway `multiValueQueryStringParameters`). */
  readonly query?: Readonly<Record<string, readonly string[] | undefined>> | null;
  readonly body?: string | null;
  readonly isBase64Encoded?: boolean;
}

/** Query parameters each GET operation takes; anything else is refused, naming what is allowed. */
const QUERY_PARAMETERS: Partial<Record<TaskApiOperation, readonly string[]>> = {
  list: ['status', 'since', 'until', 'prefix', 'limit', 'order', 'nextToken'],
  logs: ['nextToken', 'limit', 'attempt'],
  stats: ['since', 'until'],
  functions: [],
  get: [],
};

function one(query: HttpRequestParts['query'], name: string): string | undefined {
  const values = query?.[name];
  if (!values || values.length === 0) return undefined;
  if (values.length > 1 && name !== 'status') {
    throw new InvalidArgumentError(`query parameter '${name}' is given ${values.length} times; give it once`);
  }
  return values[values.length - 1];
}

function integer(query: HttpRequestParts['query'], name: string): number | undefined {
  const text = one(query, name);
  if (text === undefined) return undefined;
  if (!/^-?\d+$/.test(text)) throw new InvalidArgumentError(`query parameter '${name}' must be an integer (given '${text}')`);
  return Number(text);
}

function decodeSegment(value: string | undefined, name: string): string {
  if (value === undefined || value === '') throw new InvalidArgumentError(`the path has no ${name}`);
  try {
    return decodeURIComponent(value);
  } catch {
    throw new InvalidArgumentError(`the path's ${name} '${value}' is not valid percent-encoding`);
  }
}

/**
 * The TaskApi request an HTTP request stands for. Unknown route, a method the route does not
 * take, unknown query parameters, a body that is not JSON: InvalidArgumentError naming the value
 * and what is allowed. The values themselves are checked by the operation, as for a direct call.
 */
export function requestFromHttp(parts: HttpRequestParts): TaskApiRequest {
  const method = parts.method.toUpperCase();
  const path = parts.path.replace(/\/+$/, '') || '/';
  const onPath = HTTP_ROUTES.map((r) => ({ route: r, params: matchPath(r.path, path) })).filter((m) => m.params !== undefined);
  const matched = onPath.find((m) => m.route.method === method);
  if (!matched) {
    if (onPath.length > 0) {
      throw new InvalidArgumentError(`${method} is not allowed on ${path}; allowed: ${onPath.map((m) => m.route.method).join(', ')}`);
    }
    throw new InvalidArgumentError(`no route ${method} ${path}; routes: ${HTTP_ROUTES.map((r) => `${r.method} ${r.path}`).join(', ')}`);
  }
  const route = matched.route;
  const allowed = QUERY_PARAMETERS[route.op] ?? [];
  const unknown = Object.keys(parts.query ?? {}).filter((name) => !allowed.includes(name));
  if (unknown.length > 0) {
    throw new InvalidArgumentError(
      `unknown query parameter(s) ${unknown.map((n) => `'${n}'`).join(', ')} for ${route.method} ${route.path}; allowed: ${allowed.join(', ') || 'none'}`,
    );
  }
  const params = matched.params ?? {};
  const functionName = () => decodeSegment(params[PATH_PARAMETER.functionName], 'function name');
  const taskId = () => decodeSegment(params[PATH_PARAMETER.taskId], 'task id');
  const q = parts.query;
  const defined = <T extends object>(value: T): T => Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
  switch (route.op) {
    case 'functions':
      return { op: 'functions' };
    case 'submit': {
      const body = parseBody(parts);
      if (body !== undefined && (body === null || typeof body !== 'object' || Array.isArray(body))) {
        throw new InvalidArgumentError(`the body of a submit must be a JSON object {taskId?, payload?} (given ${JSON.stringify(body)})`);
      }
      const { taskId: id, payload, ...rest } = (body ?? {}) as { taskId?: unknown; payload?: unknown };
      const extra = Object.keys(rest);
      if (extra.length > 0) {
        throw new InvalidArgumentError(
          `unknown field(s) ${extra.map((n) => `'${n}'`).join(', ')} in a submit body; allowed: taskId, payload`,
        );
      }
      if (id !== undefined && typeof id !== 'string') {
        throw new InvalidArgumentError(`taskId must be a string (given ${JSON.stringify(id)})`);
      }
      return defined({ op: 'submit', functionName: functionName(), taskId: id, payload });
    }
    case 'list': {
      const statuses = (q?.status ?? []).flatMap((s) => s.split(',')).filter((s) => s !== '');
      const order = one(q, 'order');
      return defined({
        op: 'list',
        functionName: functionName(),
        // Checked by the operation (parseStatuses names an unknown status and the allowed ones).
        status: statuses.length > 0 ? (statuses as TaskStatus[]) : undefined,
        since: integer(q, 'since'),
        until: integer(q, 'until'),
        prefix: one(q, 'prefix'),
        limit: integer(q, 'limit'),
        order: order as 'asc' | 'desc' | undefined,
        nextToken: one(q, 'nextToken'),
      });
    }
    case 'stats':
      return defined({ op: 'stats', functionName: functionName(), since: integer(q, 'since'), until: integer(q, 'until') });
    case 'get':
    case 'stop':
    case 'retry':
      noBody(parts, route);
      return { op: route.op, functionName: functionName(), taskId: taskId() };
    case 'exec':
      noBody(parts, route);
      return { op: 'exec', functionName: functionName(), taskId: taskId() };
    case 'logs':
      return defined({
        op: 'logs',
        functionName: functionName(),
        taskId: taskId(),
        nextToken: one(q, 'nextToken'),
        limit: integer(q, 'limit'),
        attempt: integer(q, 'attempt'),
      });
  }
}

/** The path parameters of `path` when it matches the route pattern, else undefined. */
function matchPath(pattern: string, path: string): Record<string, string> | undefined {
  const names: string[] = [];
  const source = pattern.replace(/\{(\w+)\}/g, (_m, name: string) => {
    names.push(name);
    return '([^/]+)';
  });
  const found = new RegExp(`^${source}$`).exec(path);
  if (!found) return undefined;
  return Object.fromEntries(names.map((name, i) => [name, found[i + 1]]));
}

function bodyText(parts: HttpRequestParts): string | undefined {
  if (parts.body === undefined || parts.body === null || parts.body === '') return undefined;
  return parts.isBase64Encoded ? Buffer.from(parts.body, 'base64').toString('utf8') : parts.body;
}

function parseBody(parts: HttpRequestParts): unknown {
  const text = bodyText(parts);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new InvalidArgumentError(`the body is not JSON (${(error as Error).message}): '${text.slice(0, 100)}'`);
  }
}

function noBody(parts: HttpRequestParts, route: HttpRoute): void {
  const text = bodyText(parts);
  if (text !== undefined && text.trim() !== '' && text.trim() !== '{}') {
    throw new InvalidArgumentError(`${route.method} ${route.path} takes no body (given '${text.slice(0, 100)}')`);
  }
}

/** What the SDK sends for a request: method, path (segments percent-encoded), query and JSON body. */
export interface HttpCall {
  readonly method: HttpMethod;
  readonly path: string;
  readonly query: ReadonlyArray<readonly [string, string]>;
  readonly body?: string;
}

/** The HTTP call for a TaskApi request: the inverse of requestFromHttp. */
export function httpCallFor(request: TaskApiRequest): HttpCall {
  const route = routeOf(request.op);
  const r = request as unknown as Partial<Record<string, unknown>>;
  const path = route.path
    .replace('{functionName}', encodeURIComponent(String(r.functionName ?? '')))
    .replace('{taskId}', encodeURIComponent(String(r.taskId ?? '')));
  const query: Array<[string, string]> = [];
  for (const name of QUERY_PARAMETERS[request.op] ?? []) {
    const value = r[name];
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) query.push([name, String(v)]);
    else query.push([name, String(value)]);
  }
  if (request.op === 'submit') {
    const body: Record<string, unknown> = {};
    if (request.taskId !== undefined) body.taskId = request.taskId;
    if (request.payload !== undefined) body.payload = request.payload;
    return { method: route.method, path, query, body: JSON.stringify(body) };
  }
  return { method: route.method, path, query };
}

/**
 * An API Gateway REST API Lambda proxy event, the fields the TaskApi reads (the shape of
 * `@types/aws-lambda`'s APIGatewayProxyEvent): what API Gateway sends on AWS and the local
 * runtime's API Gateway sends locally.
 */
export interface ApiGatewayProxyEvent {
  readonly httpMethod: string;
  /** The request path below the stage (HttpRequestParts `path`). */
  readonly path: string;
  readonly resource?: string;
  readonly multiValueQueryStringParameters?: Readonly<Record<string, readonly string[] | undefined>> | null;
  readonly queryStringParameters?: Readonly<Record<string, string | undefined>> | null;
  readonly headers?: Readonly<Record<string, string | undefined>> | null;
  readonly body?: string | null;
  readonly isBase64Encoded?: boolean;
  readonly requestContext: {
    /** API Gateway's id of the request. */
    readonly requestId?: string;
    /** Who signed the request (AWS_IAM): `userArn` is the IAM principal. */
    readonly identity?: HttpIdentity | null;
  };
}

/** A Lambda proxy integration's response: the TaskApi's `{ok, result | error}` as the JSON body. */
export interface ApiGatewayProxyResult {
  readonly statusCode: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/**
 * True for an API Gateway REST proxy event (`httpMethod` and `requestContext`); a direct invoke's
 * `{op, ...}` has neither.
 */
export function isApiGatewayProxyEvent(event: unknown): event is ApiGatewayProxyEvent {
  if (event === null || typeof event !== 'object' || Array.isArray(event)) return false;
  const e = event as { httpMethod?: unknown; requestContext?: unknown };
  return typeof e.httpMethod === 'string' && e.requestContext !== null && typeof e.requestContext === 'object';
}

/**
 * The parts of a proxy event that requestFromHttp maps: the query from
 * `multiValueQueryStringParameters` (repeated names kept), else from `queryStringParameters`.
 */
export function httpRequestPartsOf(event: ApiGatewayProxyEvent): HttpRequestParts {
  const single = event.queryStringParameters;
  const query =
    event.multiValueQueryStringParameters ??
    (single ? Object.fromEntries(Object.entries(single).flatMap(([name, value]) => (value === undefined ? [] : [[name, [value]]]))) : null);
  return {
    method: event.httpMethod,
    path: typeof event.path === 'string' ? event.path : '',
    query,
    body: event.body ?? null,
    ...(event.isBase64Encoded !== undefined ? { isBase64Encoded: event.isBase64Encoded } : {}),
  };
}
