/**
 * The TaskApi over its REST API: each request becomes the HTTP call the model's route table gives
 * (`httpCallFor`), signed with SigV4 for `execute-api` by the AWS SDK's own signer, so IAM decides
 * who may do what to which function. API Gateway's own refusals: a 403 becomes AccessDenied
 * naming the function and the action, a 429 (tried again twice first) Throttled. A local
 * runtime serves the same routes at LocalStack's path (`localApiUrl`): one code path for both.
 */
import { Hash } from '@smithy/hash-node';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import {
  grantPath,
  type HttpCall,
  httpCallFor,
  routeOf,
  ServiceError,
  type TaskApiOperation,
  type TaskApiRequest,
  type TaskApiResponse,
} from '../lambda/model';
import { describeError, isWireResponse, type TaskApiTransport } from './transport';

/** What the signer takes: fixed credentials or a provider (the AWS SDK's credential chain). */
export type SigningCredentials = ConstructorParameters<typeof SignatureV4>[0]['credentials'];

/** The signature's service: API Gateway's invoke API. */
export const EXECUTE_API = 'execute-api';

/** `<apiId>.execute-api.<region>.<URL suffix>`: API Gateway's default host of a REST API. */
const EXECUTE_API_HOST = /^([a-z0-9]+)\.execute-api\.([a-z0-9-]+)\.[a-z0-9.-]+$/i;

export interface ExecuteApiUrl {
  readonly apiId: string;
  readonly region: string;
  readonly stage: string;
  /** The path below the stage, `/` when none. */
  readonly path: string;
}

/** The parts of an execute-api URL (`https://<apiId>.execute-api.<region>.<suffix>/<stage>/...`), or undefined for any other URL. */
export function parseExecuteApiUrl(url: string): ExecuteApiUrl | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  const host = EXECUTE_API_HOST.exec(parsed.hostname);
  const [, stage, ...rest] = parsed.pathname.split('/');
  if (!host || !stage) return undefined;
  return { apiId: host[1].toLowerCase(), region: host[2], stage, path: `/${rest.join('/')}` };
}

/**
 * Where a local runtime at `endpoint` serves the REST API of an execute-api URL: LocalStack's
 * `<endpoint>/restapis/<apiId>/<stage>/_user_request_/<path>`. Any other URL (a custom domain, a
 * URL already on the endpoint) is returned as it is.
 */
export function localApiUrl(taskApiUrl: string, endpoint: string): string {
  const api = parseExecuteApiUrl(taskApiUrl);
  if (!api) return taskApiUrl;
  return `${endpoint.replace(/\/+$/, '')}/restapis/${api.apiId}/${api.stage}/_user_request_${api.path}`;
}

/** What a refused call was trying to do, in words: `stop tasks of function 'transcode'`. */
const ACTIONS: Record<TaskApiOperation, (functionName: string) => string> = {
  submit: (fn) => `submit tasks to function '${fn}'`,
  list: (fn) => `list the tasks of function '${fn}'`,
  get: (fn) => `read the tasks of function '${fn}'`,
  logs: (fn) => `read the logs of the tasks of function '${fn}'`,
  stats: (fn) => `read the stats of function '${fn}'`,
  stop: (fn) => `stop tasks of function '${fn}'`,
  retry: (fn) => `retry tasks of function '${fn}'`,
  exec: (fn) => `exec into the tasks of function '${fn}'`,
  functions: () => 'list the task functions',
};

/** Percent-encoding as SigV4's canonical query uses it (RFC 3986: `!'()*` too). */
function escapeUri(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export interface HttpTaskApiOptions {
  /** The REST API's stage URL: the stack's `TaskApiUrl` output. */
  readonly url: string;
  /** A local runtime: an execute-api URL is served there (`localApiUrl`). @default - the URL itself */
  readonly endpoint?: string;
  /** The signature's region when the URL does not name one (a custom domain). */
  readonly region: () => Promise<string>;
  readonly credentials: SigningCredentials;
  /** Tries of a call API Gateway throttled (429; it never reached the TaskApi, so any call may be tried again). @default 3 */
  readonly maxAttempts?: number;
}

/** The TaskApi's REST API, every request signed with SigV4. */
export class HttpTaskApi implements TaskApiTransport {
  public readonly description: string;
  /** The stage URL the calls go to, without its trailing slash (locally, the runtime's path). */
  public readonly baseUrl: string;
  private signer?: Promise<SignatureV4>;

  public constructor(private readonly options: HttpTaskApiOptions) {
    const url = options.endpoint ? localApiUrl(options.url, options.endpoint) : options.url;
    this.baseUrl = url.replace(/\/+$/, '');
    this.description = `the TaskApi at ${url}`;
  }

  public async call(request: TaskApiRequest): Promise<TaskApiResponse> {
    const call = httpCallFor(request);
    const url = new URL(`${this.baseUrl}${call.path}`);
    const search = call.query.length > 0 ? `?${call.query.map(([k, v]) => `${escapeUri(k)}=${escapeUri(v)}`).join('&')}` : '';
    const maxAttempts = this.options.maxAttempts ?? 3;
    for (let attempt = 1; ; attempt++) {
      const headers = await this.sign(call, url);
      let status: number;
      let text: string;
      try {
        const response = await fetch(`${url.origin}${url.pathname}${search}`, {
          method: call.method,
          headers,
          ...(call.body !== undefined ? { body: call.body } : {}),
        });
        status = response.status;
        text = await response.text();
      } catch (error) {
        throw new ServiceError(`cannot reach ${this.description} (${call.method} ${url.href}): ${describeError(error)}`, { cause: error });
      }
      if (status === 429 && attempt < maxAttempts) {
        await sleep(100 * 2 ** attempt * (0.5 + Math.random() / 2));
        continue;
      }
      return this.answer(request, call, status, text);
    }
  }

  /** The signed headers of `call` to `url`. */
  private async sign(call: HttpCall, url: URL): Promise<Record<string, string>> {
    const query: Record<string, string | string[]> = {};
    for (const [name, value] of call.query) {
      const had = query[name];
      query[name] = had === undefined ? value : [...(Array.isArray(had) ? had : [had]), value];
    }
    const request = new HttpRequest({
      method: call.method,
      protocol: url.protocol,
      hostname: url.hostname,
      ...(url.port ? { port: Number(url.port) } : {}),
      // Already percent-encoded: the signer encodes it once more, as SigV4 wants for every service but S3.
      path: url.pathname,
      query,
      headers: {
        host: url.host,
        accept: 'application/json',
        ...(call.body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(call.body !== undefined ? { body: call.body } : {}),
    });
    try {
      const signed = await (await this.signerFor()).sign(request);
      return signed.headers;
    } catch (error) {
      throw new ServiceError(`cannot sign ${call.method} ${call.path} for ${this.description}: ${describeError(error)}`, {
        cause: error,
      });
    }
  }

  private signerFor(): Promise<SignatureV4> {
    this.signer ??= (async () => {
      const region = parseExecuteApiUrl(this.options.url)?.region ?? (await this.options.region());
      // As the AWS SDK's clients build theirs: node's sha256 behind the Checksum interface.
      return new SignatureV4({ service: EXECUTE_API, region, credentials: this.options.credentials, sha256: Hash.bind(null, 'sha256') });
    })().catch((error: unknown) => {
      this.signer = undefined;
      throw error;
    });
    return this.signer;
  }

  /** The wire response of an HTTP answer: the TaskApi's own body, or API Gateway's refusal as a typed error. */
  private answer(request: TaskApiRequest, call: HttpCall, status: number, text: string): TaskApiResponse {
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    const what = `${call.method} ${call.path}`;
    // API Gateway's own message (`{"message": ...}`, or `{"Message": ...}` from IAM), else the typed error's.
    const own = body as { message?: unknown; Message?: unknown } | undefined;
    const gatewayMessage = typeof own?.message === 'string' ? own.message : typeof own?.Message === 'string' ? own.Message : undefined;
    const typed = isWireResponse(body) ? body : undefined;
    const message = typed && !typed.ok ? typed.error.message : (gatewayMessage ?? (text.trim().slice(0, 200) || `HTTP ${status}`));
    if (status === 403) {
      const route = routeOf(request.op);
      const functionName = 'functionName' in request ? request.functionName : undefined;
      return {
        ok: false,
        error: {
          name: 'AccessDenied',
          message: `AccessDenied: not allowed to ${ACTIONS[request.op](functionName ?? '*')} (${what}): ${message}`,
          details: {
            // API Gateway's own (its gateway response's responseType, requestId), then what was refused.
            ...(typed && !typed.ok ? typed.error.details : {}),
            op: request.op,
            ...(functionName !== undefined ? { functionName } : {}),
            method: call.method,
            path: call.path,
            access: route.access,
            // What a grant names: execute-api:Invoke on arn:…:<apiId>/<stage>/<METHOD><resource path>.
            resource: `${route.method}${grantPath(route, functionName ?? '*')}`,
          },
        },
      };
    }
    if (status === 429) {
      // API Gateway's THROTTLED: the call never reached the TaskApi; the typed body's name (Throttled) when it has one.
      return {
        ok: false,
        error: {
          name: typed && !typed.ok ? typed.error.name : 'Throttled',
          message: `${this.description} throttled ${what} (429): ${message}; try again later`,
          ...(typed && !typed.ok && typed.error.details ? { details: typed.error.details } : {}),
        },
      };
    }
    if (typed) return typed;
    throw new ServiceError(`${this.description} answered ${what} with HTTP ${status} and no TaskApi response: ${message}`, {
      details: { statusCode: status },
    });
  }
}
