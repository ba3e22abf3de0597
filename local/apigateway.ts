/**
 * API Gateway, locally: serves the REST APIs of the synthesized templates
 * (./apigateway-template.ts) at LocalStack's path, `/restapis/{apiId}/{stage}/_user_request_/{path}`,
 * as API Gateway does on AWS:
 *
 * 1. the path is matched against the API's resource tree (static path parts before `{param}`,
 *    `{proxy+}` last) and the method against the resource's methods (`ANY` matches every one);
 *    no match is the MISSING_AUTHENTICATION_TOKEN gateway response (403), as with IAM auth;
 * 2. an `AWS_IAM` method needs a well-formed SigV4 request: an `Authorization: AWS4-HMAC-SHA256
 *    Credential=<key>/<date>/<region>/execute-api/aws4_request, SignedHeaders=…, Signature=…`
 *    header and `X-Amz-Date` (or `Date`). **IAM is not evaluated locally**: any such request is
 *    accepted and its access key is the caller, `arn:aws:iam::<account>:user/<accessKeyId>`. An
 *    unsigned request gets MISSING_AUTHENTICATION_TOKEN, a malformed one INVALID_SIGNATURE;
 * 3. a Lambda proxy integration (`AWS_PROXY`) is invoked with the REST API proxy event and its
 *    `{statusCode, headers, multiValueHeaders, body, isBase64Encoded}` is the response; a function
 *    error or a malformed answer is a 502 "Internal server error".
 *
 * Gateway responses (bodies and status codes) are the template's `AWS::ApiGateway::GatewayResponse`
 * of the type, else of DEFAULT_4XX / DEFAULT_5XX, else API Gateway's default `{"message": …}`.
 * Not emulated: throttling, request validators, API keys, authorizers, mapping templates.
 */
import { randomUUID } from 'node:crypto';
import type { ApiGatewayProxyEvent } from '../lambda/model';
import type { LocalApiMethod, LocalApiResource, LocalGatewayResponse, LocalRestApi } from './apigateway-template';
import { LOCAL_ACCOUNT, LOCAL_REGION, type LambdaInvokeResult } from './types';

/** An HTTP request to the edge's `/restapis/…` path, as the edge read it. */
export interface RestApiRequest {
  readonly method: string;
  /** The request target below the host: `/restapis/{apiId}/{stage}/_user_request_/…?query`, still percent-encoded. */
  readonly url: string;
  /** Header names and values as received (Node's `rawHeaders`: name, value, name, value, …). */
  readonly rawHeaders: readonly string[];
  readonly body: Buffer;
  readonly sourceIp: string;
}

export interface RestApiResponse {
  readonly statusCode: number;
  readonly headers: Readonly<Record<string, string | readonly string[]>>;
  readonly body: Buffer;
}

/** The API Gateway proxy event the Lambda gets (the fields API Gateway sends for a REST API). */
export interface RestApiProxyEvent extends ApiGatewayProxyEvent {
  readonly resource: string;
  readonly headers: Record<string, string>;
  readonly multiValueHeaders: Record<string, string[]>;
  readonly queryStringParameters: Record<string, string> | null;
  readonly multiValueQueryStringParameters: Record<string, string[]> | null;
  readonly pathParameters: Record<string, string> | null;
  readonly stageVariables: null;
  readonly body: string | null;
  readonly isBase64Encoded: boolean;
  readonly requestContext: {
    readonly accountId: string;
    readonly apiId: string;
    readonly resourceId: string;
    readonly resourcePath: string;
    readonly httpMethod: string;
    readonly path: string;
    readonly stage: string;
    readonly requestId: string;
    readonly extendedRequestId: string;
    readonly requestTime: string;
    readonly requestTimeEpoch: number;
    readonly protocol: string;
    readonly domainName: string;
    readonly identity: RestApiIdentity;
  };
}

export interface RestApiIdentity {
  readonly accountId: string | null;
  readonly caller: string | null;
  readonly accessKey: string | null;
  readonly user: string | null;
  readonly userArn: string | null;
  readonly sourceIp: string;
  readonly userAgent: string | null;
  readonly cognitoIdentityId: null;
  readonly cognitoIdentityPoolId: null;
  readonly cognitoAuthenticationType: null;
  readonly cognitoAuthenticationProvider: null;
  readonly principalOrgId: null;
}

export interface LocalApiGatewayDeps {
  readonly apis: readonly LocalRestApi[];
  readonly lambda: { invoke(functionRef: string, payload: unknown, type?: 'RequestResponse' | 'Event'): Promise<LambdaInvokeResult> };
  /** Why a request got a 5xx (the function failed, its answer was malformed). */
  readonly warn?: (message: string) => void;
}

/** API Gateway's default status, message and `x-amzn-ErrorType` of the gateway responses used here. */
const RESPONSE_TYPES = {
  MISSING_AUTHENTICATION_TOKEN: { status: 403, errorType: 'MissingAuthenticationTokenException' },
  INVALID_SIGNATURE: { status: 403, errorType: 'IncompleteSignatureException' },
  ACCESS_DENIED: { status: 403, errorType: 'AccessDeniedException' },
  DEFAULT_5XX: { status: 502, errorType: 'InternalServerErrorException' },
  API_CONFIGURATION_ERROR: { status: 500, errorType: 'InternalServerErrorException' },
} as const;
export type GatewayResponseType = keyof typeof RESPONSE_TYPES;

/** `/restapis/{apiId}/{stage}/_user_request_{path}` → its parts (`path` still percent-encoded), else undefined. */
export function restApiPath(pathname: string): { apiId: string; stage: string; path: string } | undefined {
  const m = /^\/restapis\/([^/]+)\/([^/]+)\/_user_request_(\/.*)?$/.exec(pathname);
  if (!m) return undefined;
  return { apiId: m[1], stage: decodeURIComponent(m[2]), path: m[3] ?? '/' };
}

export type SignatureCheck =
  | { readonly ok: true; readonly accessKeyId: string }
  | { readonly ok: false; readonly type: 'MISSING_AUTHENTICATION_TOKEN' | 'INVALID_SIGNATURE'; readonly message: string };

/**
 * Is the request signed with SigV4 for `execute-api` in `region`, in form (IAM and the signature
 * itself are not checked: there is no IAM locally)? Headers by lower-case name.
 */
export function checkSignature(
  headers: Readonly<Record<string, string | undefined>>,
  query: URLSearchParams,
  region: string,
): SignatureCheck {
  const authorization = headers.authorization;
  const presigned = query.get('X-Amz-Credential');
  if ((authorization === undefined || authorization.trim() === '') && presigned === null) {
    return { ok: false, type: 'MISSING_AUTHENTICATION_TOKEN', message: 'Missing Authentication Token' };
  }
  let credential: string;
  if (authorization !== undefined && authorization.trim() !== '') {
    const m = /^AWS4-HMAC-SHA256\s+(.*)$/.exec(authorization.trim());
    if (!m) {
      return {
        ok: false,
        type: 'INVALID_SIGNATURE',
        message: `Authorization header requires 'AWS4-HMAC-SHA256' signing (given '${authorization.split(/\s/)[0]}'); sign the request with SigV4 for execute-api`,
      };
    }
    const fields = new Map(
      m[1].split(',').map((part) => {
        const eq = part.indexOf('=');
        return [part.slice(0, eq).trim(), eq < 0 ? '' : part.slice(eq + 1).trim()] as const;
      }),
    );
    const missing = ['Credential', 'SignedHeaders', 'Signature'].filter((name) => !fields.get(name));
    if (missing.length > 0) {
      return {
        ok: false,
        type: 'INVALID_SIGNATURE',
        message: missing.map((n) => `Authorization header requires '${n}' parameter.`).join(' '),
      };
    }
    if (!/^[0-9a-f]{64}$/.test(fields.get('Signature') ?? '')) {
      return { ok: false, type: 'INVALID_SIGNATURE', message: 'The Signature must be 64 hexadecimal digits (SigV4 with SHA-256).' };
    }
    const signed = (fields.get('SignedHeaders') ?? '').split(';');
    if (!signed.includes('host')) {
      return {
        ok: false,
        type: 'INVALID_SIGNATURE',
        message: `SignedHeaders must include 'host' (given '${fields.get('SignedHeaders')}').`,
      };
    }
    if (headers['x-amz-date'] === undefined && headers.date === undefined) {
      return {
        ok: false,
        type: 'INVALID_SIGNATURE',
        message: "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
      };
    }
    credential = fields.get('Credential') ?? '';
  } else {
    credential = presigned ?? '';
    if (query.get('X-Amz-Signature') === null || query.get('X-Amz-Date') === null) {
      return {
        ok: false,
        type: 'INVALID_SIGNATURE',
        message: "A presigned URL requires 'X-Amz-Signature' and 'X-Amz-Date' query parameters.",
      };
    }
  }
  const parts = credential.split('/');
  if (parts.length !== 5 || parts.some((p) => p === '') || parts[4] !== 'aws4_request') {
    return {
      ok: false,
      type: 'INVALID_SIGNATURE',
      message: `Credential must be <access key>/<yyyymmdd>/<region>/execute-api/aws4_request (given '${credential}').`,
    };
  }
  if (parts[3] !== 'execute-api') {
    return {
      ok: false,
      type: 'INVALID_SIGNATURE',
      message: `Credential should be scoped to correct service: 'execute-api' (given '${parts[3]}').`,
    };
  }
  if (parts[2] !== region) {
    return {
      ok: false,
      type: 'INVALID_SIGNATURE',
      message: `Credential should be scoped to a valid region, not '${parts[2]}' (the local region is '${region}').`,
    };
  }
  return { ok: true, accessKeyId: parts[0] };
}

/** The resource `segments` (percent-encoded) lead to, and its path parameters: static parts first, then `{param}`, then `{param+}`. */
export function matchResource(
  api: Pick<LocalRestApi, 'resources' | 'rootResourceId'>,
  segments: readonly string[],
): { resource: LocalApiResource; pathParameters: Record<string, string> } | undefined {
  const children = new Map<string, LocalApiResource[]>();
  for (const res of api.resources) {
    if (res.parentId === undefined) continue;
    children.set(res.parentId, [...(children.get(res.parentId) ?? []), res]);
  }
  const root = api.resources.find((res) => res.id === api.rootResourceId);
  if (!root) return undefined;
  const decode = (s: string) => {
    try {
      return decodeURIComponent(s);
    } catch {
      return s;
    }
  };
  const walk = (node: LocalApiResource, i: number, params: Record<string, string>): ReturnType<typeof matchResource> => {
    if (i === segments.length) return { resource: node, pathParameters: params };
    const kids = children.get(node.id) ?? [];
    const segment = decode(segments[i]);
    for (const kid of kids.filter((k) => !k.pathPart.startsWith('{') && k.pathPart === segment)) {
      const found = walk(kid, i + 1, params);
      if (found) return found;
    }
    for (const kid of kids.filter((k) => /^\{[^+]+\}$/.test(k.pathPart))) {
      const found = walk(kid, i + 1, { ...params, [kid.pathPart.slice(1, -1)]: segment });
      if (found) return found;
    }
    const greedy = kids.find((k) => /^\{.+\+\}$/.test(k.pathPart));
    if (greedy)
      return { resource: greedy, pathParameters: { ...params, [greedy.pathPart.slice(1, -2)]: segments.slice(i).map(decode).join('/') } };
    return undefined;
  };
  return walk(root, 0, {});
}

/** `$context.…` variables of a gateway response template (`$context.error.messageString` is the JSON-quoted message). */
export function renderTemplate(template: string, context: Readonly<Record<string, string>>): string {
  const value = (name: string) => context[name] ?? '';
  return template
    .replace(/\$util\.escapeJavaScript\(\s*\$\{?context\.([\w.]+)\}?\s*\)/g, (_m, name: string) => JSON.stringify(value(name)).slice(1, -1))
    .replace(/\$\{context\.([\w.]+)\}|\$context\.([\w]+(?:\.[\w]+)*)/g, (_m, braced: string | undefined, plain: string | undefined) =>
      value(braced ?? plain ?? ''),
    );
}

function requestTime(now: Date): string {
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(now.getUTCDate())}/${months[now.getUTCMonth()]}/${now.getUTCFullYear()}:${p(now.getUTCHours())}:${p(now.getUTCMinutes())}:${p(now.getUTCSeconds())} +0000`;
}

interface Context {
  readonly api?: LocalRestApi;
  readonly stage: string;
  readonly path: string;
  readonly method: string;
  readonly requestId: string;
  readonly sourceIp: string;
  readonly resourcePath?: string;
}

/** The REST APIs of the loaded stacks, behind the edge. */
export class LocalApiGateway {
  private readonly apis: ReadonlyMap<string, LocalRestApi>;

  public constructor(private readonly deps: LocalApiGatewayDeps) {
    this.apis = new Map(deps.apis.map((api) => [api.id, api]));
  }

  /** Where the edge at `endpoint` serves each stage of each API. */
  public urls(endpoint: string): { api: LocalRestApi; stage: string; url: string }[] {
    return [...this.apis.values()].flatMap((api) =>
      api.stages.map((stage) => ({ api, stage, url: `${endpoint.replace(/\/$/, '')}/restapis/${api.id}/${stage}/_user_request_/` })),
    );
  }

  public async handle(request: RestApiRequest): Promise<RestApiResponse> {
    const requestId = randomUUID();
    const url = new URL(request.url, 'http://edge');
    const target = restApiPath(url.pathname);
    const method = request.method.toUpperCase();
    if (!target)
      return json(404, { message: `not a REST API path: ${url.pathname}; use /restapis/{apiId}/{stage}/_user_request_/{path}` }, requestId);
    const api = this.apis.get(target.apiId);
    if (!api) {
      const known = [...this.apis.values()].map((a) => `${a.id} (${a.stackName}/${a.logicalId})`).join(', ') || 'none';
      return json(404, { message: `no REST API '${target.apiId}' in the loaded stacks; their REST APIs: ${known}` }, requestId);
    }
    const context: Context = { api, stage: target.stage, path: target.path, method, requestId, sourceIp: request.sourceIp };
    if (!api.stages.includes(target.stage))
      return this.gatewayResponse('MISSING_AUTHENTICATION_TOKEN', 'Missing Authentication Token', context);
    const segments = target.path.split('/').filter((s) => s !== '');
    const matched = matchResource(api, segments);
    const found =
      matched?.resource.methods.find((m) => m.httpMethod === method) ?? matched?.resource.methods.find((m) => m.httpMethod === 'ANY');
    if (!matched || !found) return this.gatewayResponse('MISSING_AUTHENTICATION_TOKEN', 'Missing Authentication Token', context);
    const routed: Context = { ...context, resourcePath: matched.resource.path };

    const headers = headersOf(request.rawHeaders);
    const lower = Object.fromEntries(Object.entries(headers.single).map(([k, v]) => [k.toLowerCase(), v]));
    let accessKeyId: string | undefined;
    if (found.authorizationType === 'AWS_IAM') {
      const check = checkSignature(lower, url.searchParams, LOCAL_REGION);
      if (!check.ok) return this.gatewayResponse(check.type, check.message, routed);
      accessKeyId = check.accessKeyId;
    }
    return this.integrate(found, matched, request, url, headers, accessKeyId, routed);
  }

  private async integrate(
    method: LocalApiMethod,
    matched: { resource: LocalApiResource; pathParameters: Record<string, string> },
    request: RestApiRequest,
    url: URL,
    headers: { single: Record<string, string>; multi: Record<string, string[]> },
    accessKeyId: string | undefined,
    context: Context,
  ): Promise<RestApiResponse> {
    const api = context.api as LocalRestApi;
    const functionArn = method.integration.functionArn;
    if (method.integration.type !== 'AWS_PROXY' || !functionArn) {
      this.deps.warn?.(
        `REST API ${api.logicalId}: ${context.method} ${context.path}: a ${method.integration.type} integration is not served locally`,
      );
      return this.gatewayResponse('API_CONFIGURATION_ERROR', 'Internal server error', context);
    }
    const query = new Map<string, string[]>();
    for (const [name, value] of url.searchParams) query.set(name, [...(query.get(name) ?? []), value]);
    const now = new Date();
    const userArn = accessKeyId !== undefined ? `arn:aws:iam::${LOCAL_ACCOUNT}:user/${accessKeyId}` : null;
    const event: RestApiProxyEvent = {
      resource: matched.resource.path,
      path: context.path,
      httpMethod: context.method,
      headers: headers.single,
      multiValueHeaders: headers.multi,
      queryStringParameters: query.size > 0 ? Object.fromEntries([...query].map(([k, v]) => [k, v[v.length - 1]])) : null,
      multiValueQueryStringParameters: query.size > 0 ? Object.fromEntries(query) : null,
      pathParameters: Object.keys(matched.pathParameters).length > 0 ? matched.pathParameters : null,
      stageVariables: null,
      body: request.body.length > 0 ? request.body.toString('utf8') : null,
      isBase64Encoded: false,
      requestContext: {
        accountId: LOCAL_ACCOUNT,
        apiId: api.id,
        resourceId: matched.resource.id,
        resourcePath: matched.resource.path,
        httpMethod: context.method,
        path: `/${context.stage}${context.path}`,
        stage: context.stage,
        requestId: context.requestId,
        extendedRequestId: context.requestId,
        requestTime: requestTime(now),
        requestTimeEpoch: now.getTime(),
        protocol: 'HTTP/1.1',
        domainName: headerOf(headers.single, 'host') ?? 'localhost',
        identity: {
          accountId: accessKeyId !== undefined ? LOCAL_ACCOUNT : null,
          caller: accessKeyId ?? null,
          accessKey: accessKeyId ?? null,
          user: accessKeyId ?? null,
          userArn,
          sourceIp: context.sourceIp,
          userAgent: headerOf(headers.single, 'user-agent') ?? null,
          cognitoIdentityId: null,
          cognitoIdentityPoolId: null,
          cognitoAuthenticationType: null,
          cognitoAuthenticationProvider: null,
          principalOrgId: null,
        },
      },
    };
    let result: LambdaInvokeResult;
    try {
      result = await this.deps.lambda.invoke(functionArn, event, 'RequestResponse');
    } catch (error) {
      this.deps.warn?.(
        `REST API ${api.logicalId}: ${context.method} ${context.path}: invoking ${functionArn} failed: ${(error as Error).message}`,
      );
      return this.gatewayResponse('API_CONFIGURATION_ERROR', 'Internal server error', context);
    }
    const answer = result.payload as {
      statusCode?: unknown;
      headers?: unknown;
      multiValueHeaders?: unknown;
      body?: unknown;
      isBase64Encoded?: unknown;
    } | null;
    const malformed =
      result.functionError !== undefined ||
      answer === null ||
      typeof answer !== 'object' ||
      !Number.isInteger(Number(answer.statusCode)) ||
      (answer.body !== undefined && answer.body !== null && typeof answer.body !== 'string');
    if (malformed) {
      this.deps.warn?.(
        `REST API ${api.logicalId}: ${context.method} ${context.path}: ${
          result.functionError
            ? `the function failed (${result.functionError})`
            : 'the function answered no proxy response {statusCode, headers, body}'
        }: ${JSON.stringify(result.payload)?.slice(0, 300)}`,
      );
      return this.gatewayResponse('DEFAULT_5XX', 'Internal server error', context);
    }
    const out: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(isRecord(answer.multiValueHeaders) ? answer.multiValueHeaders : {})) {
      if (Array.isArray(v)) out[k] = v.map(String);
    }
    for (const [k, v] of Object.entries(isRecord(answer.headers) ? answer.headers : {})) out[k] = String(v);
    const text = typeof answer.body === 'string' ? answer.body : '';
    const body = answer.isBase64Encoded === true ? Buffer.from(text, 'base64') : Buffer.from(text, 'utf8');
    if (!Object.keys(out).some((k) => k.toLowerCase() === 'content-type')) out['content-type'] = 'application/json';
    return { statusCode: Number(answer.statusCode), headers: { ...out, 'x-amzn-requestid': context.requestId }, body };
  }

  /** The gateway response of `type`: the template's own, else its DEFAULT_4XX/5XX, else API Gateway's `{"message": …}`. */
  private gatewayResponse(type: GatewayResponseType, message: string, context: Context): RestApiResponse {
    const defaults = RESPONSE_TYPES[type];
    const responses = context.api?.gatewayResponses ?? [];
    const fallback = defaults.status >= 500 ? 'DEFAULT_5XX' : 'DEFAULT_4XX';
    const own: LocalGatewayResponse | undefined =
      responses.find((r) => r.responseType === type) ?? responses.find((r) => r.responseType === fallback);
    const status = (own?.responseType === type ? own.statusCode : undefined) ?? defaults.status;
    const template = own ? (own.templates['application/json'] ?? Object.values(own.templates)[0]) : undefined;
    const variables: Record<string, string> = {
      'error.message': message,
      'error.messageString': JSON.stringify(message),
      'error.responseType': type,
      'error.validationErrorString': '',
      httpMethod: context.method,
      path: `/${context.stage}${context.path}`,
      resourcePath: context.resourcePath ?? '',
      requestId: context.requestId,
      extendedRequestId: context.requestId,
      stage: context.stage,
      apiId: context.api?.id ?? '',
      accountId: LOCAL_ACCOUNT,
      'identity.sourceIp': context.sourceIp,
    };
    const body = template !== undefined ? renderTemplate(template, variables) : JSON.stringify({ message });
    return {
      statusCode: status,
      headers: {
        'content-type': 'application/json',
        ...(own?.headers ?? {}),
        'x-amzn-requestid': context.requestId,
        'x-amzn-errortype': defaults.errorType,
      },
      body: Buffer.from(body, 'utf8'),
    };
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function headerOf(headers: Readonly<Record<string, string>>, name: string): string | undefined {
  return Object.entries(headers).find(([k]) => k.toLowerCase() === name)?.[1];
}

/** `rawHeaders` → API Gateway's `headers` (the last value of a name) and `multiValueHeaders`, names as sent. */
function headersOf(raw: readonly string[]): { single: Record<string, string>; multi: Record<string, string[]> } {
  const multi: Record<string, string[]> = {};
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = Object.keys(multi).find((k) => k.toLowerCase() === raw[i].toLowerCase()) ?? raw[i];
    multi[name] = [...(multi[name] ?? []), raw[i + 1]];
  }
  return { single: Object.fromEntries(Object.entries(multi).map(([k, v]) => [k, v[v.length - 1]])), multi };
}

function json(status: number, body: unknown, requestId: string): RestApiResponse {
  return {
    statusCode: status,
    headers: { 'content-type': 'application/json', 'x-amzn-requestid': requestId },
    body: Buffer.from(JSON.stringify(body)),
  };
}
