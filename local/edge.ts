/**
 * The edge: ONE HTTP endpoint answering the AWS APIs the stack and its users call.
 *
 * | request | served by |
 * |---|---|
 * | `X-Amz-Target: DynamoDB_20120810.*` | dynalite (proxied) |
 * | `X-Amz-Target: AWSStepFunctions.*` | the Step Functions emulation |
 * | `X-Amz-Target: Logs_20140328.*` | local logs |
 * | `X-Amz-Target: AWSEvents.*` | local EventBridge (PutEvents) |
 * | `X-Amz-Target: AmazonSSM.*` | the templates' SSM parameters (read-only) |
 * | `X-Amz-Target: AmazonSQS.*`, SNS query, S3 REST (path-style), STS GetCallerIdentity | fauxqs (proxied) |
 * | `POST /2015-03-31/functions/{name}/invocations` | the Lambda runner |
 * | `/restapis/{apiId}/{stage}/_user_request_/{path}` (LocalStack's path) | the templates' REST APIs (./apigateway.ts) |
 * | CloudFormation query `Action=DescribeStacks` | the loaded stacks with their resolved outputs (XML) |
 * | `GET /_ecs/metadata/{task}/{container}[/task]` | ECS task metadata of local ECS tasks |
 * | `POST /_local/kafka/topics/{topic}/records`, `GET /_local/kafka/topics` | the Kafka source (`asynctask produce`) |
 * | `POST /_local/ecs/exec` | a live local ECS task's working directory and environment (`asynctask exec`) |
 *
 * Anything else gets an AWS-shaped `UnsupportedOperation` error naming what was asked.
 */
import { randomUUID } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RestApiRequest, RestApiResponse } from './apigateway';
import type { DirectDynamoDb } from './dynalite';
import type { KafkaSource } from './kafka/source';
import { KafkaInputError, type ProduceRecord } from './kafka/topics';
import { AwsError, type JsonService, LOCAL_ACCOUNT, LOCAL_REGION, type LambdaInvokeResult } from './types';

export interface StackDescription {
  readonly stackName: string;
  readonly stackId: string;
  readonly description?: string;
  readonly outputs: readonly { key: string; value: string; description?: string; exportName?: string }[];
}

/** What `POST /_local/ecs/exec` answers: where the CLI runs a shell in a live container's setting. */
export interface EcsExecTarget {
  readonly taskArn: string;
  readonly container: string;
  readonly cwd: string;
  readonly environment: Readonly<Record<string, string>>;
}

export interface EcsTaskMetadata {
  readonly taskArn: string;
  readonly clusterArn: string;
  readonly family: string;
  readonly taskDefinitionArn: string;
  readonly containers: readonly { name: string; pid?: number }[];
  readonly createdAt: number;
}

export interface EdgeBackends {
  /** Port of dynalite on 127.0.0.1. */
  readonly dynamodbPort: number;
  /** dynalite in this process: DynamoDB requests are handed to it without the proxy hop (default: proxied to the port). */
  readonly dynamodb?: DirectDynamoDb;
  /** Port of fauxqs on 127.0.0.1. */
  readonly fauxqsPort: number;
  readonly stepFunctions?: JsonService;
  readonly logs: JsonService;
  readonly events: JsonService;
  /** SSM Parameter Store (read-only): the templates' parameters. */
  readonly ssm: JsonService;
  readonly lambda: {
    invoke(ref: string, payload: unknown, type?: 'RequestResponse' | 'Event'): Promise<LambdaInvokeResult>;
    find(ref: string): unknown;
  };
  /** The loaded stacks, in deployment order: what DescribeStacks answers. */
  readonly stacks: readonly StackDescription[];
  /** The ECS task metadata endpoint: a local ECS task by its id. */
  readonly ecsTask?: (localTaskId: string) => EcsTaskMetadata | undefined;
  /** `asynctask exec`: a live local ECS task's container, its working directory and environment. */
  readonly ecsExec?: (taskArn: string, container?: string) => EcsExecTarget | undefined;
  /** Kafka: where `asynctask produce` writes, and the topics each Kafka event source mapping reads. */
  readonly kafka?: { readonly source: KafkaSource; readonly readers: ReadonlyMap<string, readonly string[]> };
  /** API Gateway: the templates' REST APIs at `/restapis/{apiId}/{stage}/_user_request_/…`. */
  readonly apiGateway?: { handle(request: RestApiRequest): Promise<RestApiResponse> };
}

/** One record of `POST /_local/kafka/topics/{topic}/records`. */
export interface ProduceRequestRecord {
  readonly key?: string | null;
  readonly value: string | null;
  readonly partition?: number;
  /** `{name: value}` or `[[name, value], ...]` (a name given twice). */
  readonly headers?: Record<string, string> | [string, string][];
}

/** The request body's records → records to append; throws naming the bad one. */
export function produceRecords(body: unknown): ProduceRecord[] {
  const records = (body as { records?: unknown } | null)?.records;
  if (!Array.isArray(records) || records.length === 0 || records.length > 10_000) {
    throw new KafkaInputError(
      `the body must be {"records": [{"key"?, "partition"?, "headers"?, "value"}, ...]} with 1-10000 records (given ${Array.isArray(records) ? `${records.length} records` : JSON.stringify(body)?.slice(0, 100)})`,
    );
  }
  return records.map((r: unknown, i) => {
    const rec = r as ProduceRequestRecord;
    const n = `record ${i + 1}`;
    if (rec === null || typeof rec !== 'object' || Array.isArray(rec))
      throw new KafkaInputError(`${n} is not an object (given ${JSON.stringify(r)})`);
    if (rec.value !== null && typeof rec.value !== 'string')
      throw new KafkaInputError(`${n}: value must be a string or null (given ${JSON.stringify(rec.value)})`);
    if (rec.key !== undefined && rec.key !== null && typeof rec.key !== 'string')
      throw new KafkaInputError(`${n}: key must be a string (given ${JSON.stringify(rec.key)})`);
    if (rec.partition !== undefined && (!Number.isInteger(rec.partition) || rec.partition < 0)) {
      throw new KafkaInputError(`${n}: partition must be an integer of 0 or more (given ${JSON.stringify(rec.partition)})`);
    }
    const pairs = Array.isArray(rec.headers) ? rec.headers : Object.entries(rec.headers ?? {});
    for (const h of pairs) {
      if (!Array.isArray(h) || h.length !== 2 || typeof h[0] !== 'string' || typeof h[1] !== 'string') {
        throw new KafkaInputError(
          `${n}: headers must be {"name": "value"} or [["name", "value"], ...] of strings (given ${JSON.stringify(rec.headers)})`,
        );
      }
    }
    return {
      key: rec.key === undefined || rec.key === null ? null : Buffer.from(rec.key, 'utf8'),
      value: rec.value === null ? null : Buffer.from(rec.value, 'utf8'),
      ...(rec.partition !== undefined ? { partition: rec.partition } : {}),
      headers: pairs.map(([k, v]) => [k, Buffer.from(v, 'utf8')] as const),
    };
  });
}

const SQS_QUERY_ACTIONS = new Set([
  'CreateQueue',
  'DeleteQueue',
  'GetQueueUrl',
  'ListQueues',
  'GetQueueAttributes',
  'SetQueueAttributes',
  'PurgeQueue',
  'SendMessage',
  'SendMessageBatch',
  'ReceiveMessage',
  'DeleteMessage',
  'DeleteMessageBatch',
  'ChangeMessageVisibility',
  'ChangeMessageVisibilityBatch',
  'TagQueue',
  'UntagQueue',
  'ListQueueTags',
  'ListDeadLetterSourceQueues',
]);
const SNS_ACTIONS = new Set([
  'CreateTopic',
  'DeleteTopic',
  'ListTopics',
  'GetTopicAttributes',
  'SetTopicAttributes',
  'Subscribe',
  'Unsubscribe',
  'ConfirmSubscription',
  'ListSubscriptions',
  'ListSubscriptionsByTopic',
  'GetSubscriptionAttributes',
  'SetSubscriptionAttributes',
  'Publish',
  'PublishBatch',
  'TagResource',
  'UntagResource',
  'ListTagsForResource',
]);

const JSON_TARGETS: Record<string, { backend: 'dynamodb' | 'sfn' | 'logs' | 'events' | 'sqs' | 'ssm'; contentType: string }> = {
  DynamoDB_20120810: { backend: 'dynamodb', contentType: 'application/x-amz-json-1.0' },
  AWSStepFunctions: { backend: 'sfn', contentType: 'application/x-amz-json-1.0' },
  Logs_20140328: { backend: 'logs', contentType: 'application/x-amz-json-1.1' },
  AWSEvents: { backend: 'events', contentType: 'application/x-amz-json-1.1' },
  AmazonSQS: { backend: 'sqs', contentType: 'application/x-amz-json-1.0' },
  AmazonSSM: { backend: 'ssm', contentType: 'application/x-amz-json-1.1' },
};

function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

/** The SigV4 credential scope's service (`Credential=AKID/date/region/<service>/aws4_request`), if signed. */
export function signedService(req: IncomingMessage, url: URL): string | undefined {
  const auth = req.headers.authorization ?? '';
  const m = /Credential=[^/]+\/[^/]+\/[^/]+\/([^/]+)\//.exec(auth);
  if (m) return m[1];
  const q = url.searchParams.get('X-Amz-Credential');
  if (q) return q.split('/')[3];
  return undefined;
}

export class Edge {
  private readonly server: http.Server;
  private backends?: EdgeBackends;
  private readyWaiters: (() => void)[] = [];
  private failure?: Error;
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  private endpointUrl = '';
  private startedAt = Date.now();

  public constructor() {
    this.server = http.createServer((req, res) => {
      void this.handle(req, res);
    });
    this.server.keepAliveTimeout = 5000;
  }

  /** Listens; rejects with a clear message when the port is taken. Returns the endpoint URL. */
  public listen(port: number, host = '127.0.0.1'): Promise<string> {
    return new Promise((resolve, reject) => {
      const onError = (error: NodeJS.ErrnoException) => {
        if (error.code === 'EADDRINUSE') {
          reject(
            new Error(
              `port ${port} on ${host} is already in use (another 'asynctask dev' or LocalStack?); stop it or choose another port with --port`,
            ),
          );
        } else if (error.code === 'EACCES') {
          reject(new Error(`not allowed to listen on ${host}:${port}; choose a port above 1024 with --port`));
        } else reject(error);
      };
      this.server.once('error', onError);
      this.server.listen(port, host, () => {
        this.server.off('error', onError);
        const addr = this.server.address() as AddressInfo;
        this.endpointUrl = `http://${host}:${addr.port}`;
        resolve(this.endpointUrl);
      });
    });
  }

  public get endpoint(): string {
    return this.endpointUrl;
  }

  /** Requests that arrived before this wait for it. */
  public setBackends(backends: EdgeBackends): void {
    this.backends = backends;
    this.startedAt = Date.now();
    for (const w of this.readyWaiters.splice(0)) w();
  }

  /** Start-up failed: waiting and later requests get a 503 naming why. */
  public fail(error: Error): void {
    this.failure = error;
    for (const w of this.readyWaiters.splice(0)) w();
  }

  public close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
      this.agent.destroy();
    });
  }

  private async ready(): Promise<EdgeBackends> {
    if (!this.backends && !this.failure) await new Promise<void>((r) => this.readyWaiters.push(r));
    if (this.failure || !this.backends) {
      throw new AwsError('ServiceUnavailable', `the local runtime failed to start: ${this.failure?.message}`, 503);
    }
    return this.backends;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = randomUUID();
    let body: Buffer;
    try {
      body = await readBody(req);
    } catch {
      res.destroy();
      return;
    }
    const url = new URL(req.url ?? '/', 'http://edge');
    try {
      const b = await this.ready();
      await this.route(b, req, res, url, body, requestId);
    } catch (error) {
      this.sendJsonError(res, error, requestId, 'application/x-amz-json-1.1');
    }
  }

  private async route(
    b: EdgeBackends,
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    body: Buffer,
    requestId: string,
  ): Promise<void> {
    const target = req.headers['x-amz-target'];
    if (typeof target === 'string' && target !== '') {
      const dot = target.indexOf('.');
      const prefix = dot >= 0 ? target.slice(0, dot) : target;
      const operation = dot >= 0 ? target.slice(dot + 1) : '';
      const spec = JSON_TARGETS[prefix];
      if (!spec) {
        throw unsupported(`the local runtime does not serve X-Amz-Target '${target}'`);
      }
      switch (spec.backend) {
        case 'dynamodb':
          if (b.dynamodb) return this.dynamodbDirect(req, res, b.dynamodb, body);
          return this.proxy(req, res, b.dynamodbPort, body, req.headers.host);
        case 'sqs':
          return this.proxySqs(req, res, b.fauxqsPort, body);
        case 'sfn':
          if (!b.stepFunctions) {
            throw unsupported('the local runtime was started without Step Functions (local/sfn is not available)');
          }
          return this.json(res, b.stepFunctions, operation, body, spec.contentType, requestId);
        case 'logs':
          return this.json(res, b.logs, operation, body, spec.contentType, requestId);
        case 'events':
          return this.json(res, b.events, operation, body, spec.contentType, requestId);
        case 'ssm':
          return this.json(res, b.ssm, operation, body, spec.contentType, requestId);
      }
    }

    if (url.pathname.startsWith('/restapis/')) return this.restApi(b, req, res, body);
    if (url.pathname.startsWith('/_ecs/metadata/')) return this.ecsMetadata(b, res, url);
    if (url.pathname.startsWith('/_local/kafka/')) return this.kafka(b, req, res, url, body);
    if (url.pathname === '/_local/ecs/exec') return this.ecsExec(b, req, res, body);
    if (url.pathname === '/_local/health') {
      return sendJson(res, 200, {
        status: 'ok',
        endpoint: this.endpointUrl,
        stacks: b.stacks.map((s) => s.stackName),
        since: this.startedAt,
      });
    }

    const invoke = /^\/2015-03-31\/functions\/([^/]+)\/invocations\/?$/.exec(url.pathname);
    if (invoke && req.method === 'POST') return this.invoke(b, req, res, url, decodeURIComponent(invoke[1]), body, requestId);

    const service = signedService(req, url);
    const contentType = String(req.headers['content-type'] ?? '');
    if (req.method === 'POST' && contentType.includes('application/x-www-form-urlencoded')) {
      const params = new URLSearchParams(body.toString('utf8'));
      const action = params.get('Action') ?? '';
      if (service === 'cloudformation' || action === 'DescribeStacks') return this.cloudFormation(b, res, params, requestId);
      if (service === 'sqs' || (SQS_QUERY_ACTIONS.has(action) && service !== 'sns')) {
        return sendXmlError(
          res,
          400,
          'UnsupportedOperation',
          `the local runtime serves SQS through its JSON protocol only (AWS SDK v3, botocore >= 1.31); '${action}' came in the query protocol`,
          requestId,
        );
      }
      if (service === 'sns' || service === 'sts' || SNS_ACTIONS.has(action) || action === 'GetCallerIdentity') {
        return this.proxy(req, res, b.fauxqsPort, body, req.headers.host);
      }
      return sendXmlError(
        res,
        400,
        'UnsupportedOperation',
        `the local runtime does not serve ${service ? `${service} ` : ''}action '${action || '(none)'}'`,
        requestId,
      );
    }

    if (service === undefined || service === 's3') return this.proxy(req, res, b.fauxqsPort, body, req.headers.host);
    throw unsupported(`the local runtime does not serve ${service} ${req.method} ${url.pathname}`);
  }

  private async restApi(b: EdgeBackends, req: IncomingMessage, res: ServerResponse, body: Buffer): Promise<void> {
    if (!b.apiGateway) {
      sendJson(res, 404, { message: 'this local runtime serves no REST API (the stacks have no AWS::ApiGateway::RestApi)' });
      return;
    }
    const answer = await b.apiGateway.handle({
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      rawHeaders: req.rawHeaders,
      body,
      sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
    });
    res.writeHead(answer.statusCode, { ...answer.headers, 'content-length': String(answer.body.length) });
    res.end(answer.body);
  }

  private async dynamodbDirect(req: IncomingMessage, res: ServerResponse, dynamodb: DirectDynamoDb, body: Buffer): Promise<void> {
    const answer = await dynamodb({ method: req.method ?? 'POST', url: req.url ?? '/', headers: req.headers, body });
    res.writeHead(answer.statusCode, answer.headers);
    res.end(answer.body);
  }

  private endpointHost(): string {
    return new URL(this.endpointUrl).host;
  }

  private proxy(req: IncomingMessage, res: ServerResponse, port: number, body: Buffer, host: string | undefined): Promise<void> {
    return new Promise((resolve) => {
      const headers = { ...req.headers, host: host ?? this.endpointHost(), 'content-length': String(body.length) };
      delete headers['transfer-encoding'];
      delete headers.connection;
      const upstream = http.request({ host: '127.0.0.1', port, method: req.method, path: req.url, headers, agent: this.agent }, (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
        up.on('end', () => resolve());
        up.on('error', () => resolve());
      });
      upstream.on('error', (error) => {
        if (!res.headersSent) {
          sendJson(res, 502, { __type: 'ServiceUnavailable', message: `local backend on port ${port} failed: ${error.message}` });
        } else res.destroy();
        resolve();
      });
      upstream.end(body);
    });
  }

  /**
   * fauxqs names queues `http://sqs.<region>.localhost:<port>/<account>/<name>` (port = the Host
   * header's): requests get that form, responses get the edge's `<endpoint>/<account>/<name>`.
   */
  private async proxySqs(req: IncomingMessage, res: ServerResponse, port: number, body: Buffer): Promise<void> {
    const headers: Record<string, string | string[] | undefined> = { ...req.headers };
    delete headers['transfer-encoding'];
    delete headers.connection;
    const answer = await this.forwardSqs(port, req.method ?? 'POST', req.url ?? '/', headers, body);
    if (!answer) {
      res.destroy();
      return;
    }
    res.writeHead(answer.statusCode, answer.headers);
    res.end(answer.body);
  }

  /**
   * An SQS JSON request from inside the runtime (the Step Functions tasks' `sqs:sendMessage`):
   * forwarded to fauxqs exactly as a request to the edge is (same queue URL forms), without the
   * HTTP hop through the edge and the SDK's client around it. `undefined`: fauxqs failed mid-answer.
   */
  public async sqs(operation: string, input: unknown, extraHeaders: Record<string, string> = {}) {
    const b = await this.ready();
    const headers = {
      'content-type': 'application/x-amz-json-1.0',
      'x-amz-target': `AmazonSQS.${operation}`,
      authorization: `AWS4-HMAC-SHA256 Credential=test/${new Date().toISOString().slice(0, 10).replace(/-/g, '')}/${LOCAL_REGION}/sqs/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=${'0'.repeat(64)}`,
      'x-amz-date': `${new Date().toISOString().replace(/[-:]/g, '').slice(0, 15)}Z`,
      ...extraHeaders,
    };
    return this.forwardSqs(b.fauxqsPort, 'POST', '/', headers, Buffer.from(JSON.stringify(input)));
  }

  private forwardSqs(
    port: number,
    method: string,
    path: string,
    inHeaders: Record<string, string | string[] | undefined>,
    body: Buffer,
  ): Promise<{ statusCode: number; headers: Record<string, string | string[] | undefined>; body: Buffer } | undefined> {
    const edgePort = new URL(this.endpointUrl).port;
    const fauxqsBase = `http://sqs.${LOCAL_REGION}.localhost:${edgePort}/`;
    const request = rewriteQueueUrls(body, fauxqsBase.slice(0, -1));
    return new Promise((resolve) => {
      const headers = { ...inHeaders, host: this.endpointHost(), 'content-length': String(request.length) };
      const upstream = http.request({ host: '127.0.0.1', port, method, path, headers, agent: this.agent }, (up) => {
        const chunks: Buffer[] = [];
        up.on('data', (c: Buffer) => chunks.push(c));
        up.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8').split(fauxqsBase).join(`${this.endpointUrl}/`);
          const out = Buffer.from(text);
          const h = { ...up.headers, 'content-length': String(out.length) };
          delete h['transfer-encoding'];
          resolve({ statusCode: up.statusCode ?? 502, headers: h, body: out });
        });
        up.on('error', () => resolve(undefined));
      });
      upstream.on('error', (error) => {
        const out = Buffer.from(JSON.stringify({ __type: 'ServiceUnavailable', message: `local SQS failed: ${error.message}` }));
        resolve({ statusCode: 502, headers: { 'content-type': 'application/json', 'content-length': String(out.length) }, body: out });
      });
      upstream.end(request);
    });
  }

  private async json(
    res: ServerResponse,
    service: JsonService,
    operation: string,
    body: Buffer,
    contentType: string,
    requestId: string,
  ): Promise<void> {
    let input: Record<string, unknown>;
    try {
      input = body.length === 0 ? {} : (JSON.parse(body.toString('utf8')) as Record<string, unknown>);
    } catch {
      throw new AwsError('SerializationException', 'the request body is not valid JSON');
    }
    const out = await service.handle(operation, input ?? {});
    res.writeHead(200, { 'content-type': contentType, 'x-amzn-requestid': requestId });
    res.end(JSON.stringify(out ?? {}));
  }

  private sendJsonError(res: ServerResponse, error: unknown, requestId: string, contentType: string): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const e = error as Partial<AwsError>;
    const code = error instanceof AwsError ? error.name : 'InternalFailure';
    const status = error instanceof AwsError ? error.statusCode : 500;
    const message = error instanceof AwsError ? error.message : `the local runtime failed: ${(e as Error)?.message ?? String(error)}`;
    res.writeHead(status, { 'content-type': contentType, 'x-amzn-requestid': requestId, 'x-amzn-errortype': code });
    res.end(JSON.stringify({ __type: code, message, Message: message }));
  }

  private async invoke(
    b: EdgeBackends,
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    name: string,
    body: Buffer,
    requestId: string,
  ): Promise<void> {
    const type = String(req.headers['x-amz-invocation-type'] ?? 'RequestResponse');
    const qualifier = url.searchParams.get('Qualifier');
    const ref = qualifier ? `${name}:${qualifier}` : name;
    if (!['RequestResponse', 'Event', 'DryRun'].includes(type)) {
      throw new AwsError('InvalidParameterValueException', `Unsupported invocation type: ${type}`);
    }
    let payload: unknown = {};
    if (body.length > 0) {
      try {
        payload = JSON.parse(body.toString('utf8'));
      } catch {
        throw new AwsError('InvalidRequestContentException', 'Could not parse request body into json: the payload is not valid JSON');
      }
    }
    if (type === 'DryRun') {
      if (!b.lambda.find(ref)) await b.lambda.invoke(ref, payload, 'Event'); // throws ResourceNotFound
      res.writeHead(204, { 'x-amzn-requestid': requestId });
      res.end();
      return;
    }
    const result = await b.lambda.invoke(ref, payload, type as 'RequestResponse' | 'Event');
    if (type === 'Event') {
      res.writeHead(202, { 'x-amzn-requestid': result.requestId, 'content-length': '0' });
      res.end();
      return;
    }
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'x-amzn-requestid': result.requestId,
      'x-amz-executed-version': '$LATEST',
    };
    if (result.functionError) headers['x-amz-function-error'] = result.functionError;
    if (String(req.headers['x-amz-log-type'] ?? '') === 'Tail' && result.log !== undefined) {
      // Lambda returns the last 4 KB of the invocation's log, base64-encoded
      const bytes = Buffer.from(result.log, 'utf8');
      headers['x-amz-log-result'] = bytes.subarray(Math.max(0, bytes.length - 4096)).toString('base64');
    }
    res.writeHead(200, headers);
    res.end(JSON.stringify(result.payload ?? null));
  }

  private cloudFormation(b: EdgeBackends, res: ServerResponse, params: URLSearchParams, requestId: string): void {
    const action = params.get('Action') ?? '';
    if (action !== 'DescribeStacks') {
      sendXmlError(
        res,
        400,
        'UnsupportedOperation',
        `the local runtime does not serve CloudFormation action '${action}' (it serves DescribeStacks)`,
        requestId,
      );
      return;
    }
    // As CloudFormation: without StackName every stack, with it the one of that name or id.
    const wanted = params.get('StackName');
    const stacks = wanted ? b.stacks.filter((s) => s.stackName === wanted || s.stackId === wanted) : b.stacks;
    if (wanted && stacks.length === 0) {
      sendXmlError(res, 400, 'ValidationError', `Stack with id ${wanted} does not exist`, requestId);
      return;
    }
    const created = new Date(this.startedAt).toISOString();
    const member = (s: StackDescription) => {
      const outputs = s.outputs
        .map(
          (o) =>
            `<member><OutputKey>${xmlEscape(o.key)}</OutputKey><OutputValue>${xmlEscape(o.value)}</OutputValue>${
              o.description ? `<Description>${xmlEscape(o.description)}</Description>` : ''
            }${o.exportName ? `<ExportName>${xmlEscape(o.exportName)}</ExportName>` : ''}</member>`,
        )
        .join('');
      return (
        `<member><StackName>${xmlEscape(s.stackName)}</StackName><StackId>${xmlEscape(s.stackId)}</StackId>` +
        (s.description ? `<Description>${xmlEscape(s.description)}</Description>` : '') +
        `<CreationTime>${created}</CreationTime><StackStatus>CREATE_COMPLETE</StackStatus>` +
        `<DisableRollback>false</DisableRollback><Outputs>${outputs}</Outputs><Tags/></member>`
      );
    };
    const xml =
      `<DescribeStacksResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><DescribeStacksResult><Stacks>` +
      stacks.map(member).join('') +
      `</Stacks></DescribeStacksResult><ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></DescribeStacksResponse>`;
    res.writeHead(200, { 'content-type': 'text/xml', 'x-amzn-requestid': requestId });
    res.end(xml);
  }

  /** `asynctask produce` and the topics list; bad input is a 400 naming it, a cluster failing a 502. */
  private async kafka(b: EdgeBackends, req: IncomingMessage, res: ServerResponse, url: URL, body: Buffer): Promise<void> {
    if (!b.kafka) throw new AwsError('UnsupportedOperation', 'this local runtime has no Kafka source', 400);
    const { source, readers } = b.kafka;
    const produce = /^\/_local\/kafka\/topics\/([^/]+)\/records\/?$/.exec(url.pathname);
    try {
      if (req.method === 'GET' && url.pathname.replace(/\/$/, '') === '/_local/kafka/topics') {
        const topics = await source.topics();
        const names = new Set([...topics.map((t) => t.topic), ...readers.keys()]);
        return sendJson(res, 200, {
          source: source.description,
          topics: [...names].sort().map((topic) => ({
            topic,
            partitions: topics.find((t) => t.topic === topic)?.partitions ?? null,
            readers: readers.get(topic) ?? [],
          })),
        });
      }
      if (req.method === 'POST' && produce) {
        const topic = decodeURIComponent(produce[1]);
        let parsed: unknown;
        try {
          parsed = JSON.parse(body.toString('utf8'));
        } catch {
          throw new KafkaInputError('the request body is not JSON: {"records": [{"key"?, "partition"?, "headers"?, "value"}, ...]}');
        }
        const result = await source.produce(topic, produceRecords(parsed));
        return sendJson(res, 200, { topic, source: source.description, ...result, readers: readers.get(topic) ?? [] });
      }
    } catch (error) {
      if (error instanceof KafkaInputError) return sendJson(res, 400, { __type: 'InvalidKafkaInput', message: error.message });
      return sendJson(res, 502, { __type: 'KafkaFailure', message: `${source.description} failed: ${(error as Error).message}` });
    }
    throw unsupported(
      `the local runtime does not serve ${req.method} ${url.pathname} (it serves POST /_local/kafka/topics/{topic}/records and GET /_local/kafka/topics)`,
    );
  }

  /**
   * `POST /_local/ecs/exec {taskArn, container?}`: where `asynctask exec` runs its shell — the
   * live container's working directory and environment. The CLI spawns it on this machine.
   */
  private ecsExec(b: EdgeBackends, req: IncomingMessage, res: ServerResponse, body: Buffer): void {
    if (req.method !== 'POST') {
      sendJson(res, 405, { error: `use POST /_local/ecs/exec with {"taskArn": ..., "container"?: ...} (given ${req.method})` });
      return;
    }
    let input: { taskArn?: unknown; container?: unknown };
    try {
      input = JSON.parse(body.toString('utf8') || '{}') as typeof input;
    } catch {
      sendJson(res, 400, { error: 'the body must be JSON: {"taskArn": "<ECS task ARN>", "container"?: "<name>"}' });
      return;
    }
    if (typeof input.taskArn !== 'string' || input.taskArn === '') {
      sendJson(res, 400, { error: `taskArn must be the ECS task ARN of a live local task (given ${JSON.stringify(input.taskArn)})` });
      return;
    }
    const container = typeof input.container === 'string' ? input.container : undefined;
    const target = b.ecsExec?.(input.taskArn, container);
    if (!target) {
      sendJson(res, 404, {
        error: `no live local ECS task '${input.taskArn}'${container ? ` with a running container '${container}'` : ''}; it has ended or never ran here`,
      });
      return;
    }
    sendJson(res, 200, target);
  }

  private ecsMetadata(b: EdgeBackends, res: ServerResponse, url: URL): void {
    const [, , , taskId, container, rest] = url.pathname.split('/');
    const task = taskId ? b.ecsTask?.(taskId) : undefined;
    if (!task) {
      sendJson(res, 404, { error: `no local ECS task '${taskId}'` });
      return;
    }
    const containerMeta = (name: string) => ({
      DockerId: `${taskId}-${name}`,
      Name: name,
      DockerName: name,
      Image: 'local',
      Labels: {
        'com.amazonaws.ecs.cluster': task.clusterArn,
        'com.amazonaws.ecs.container-name': name,
        'com.amazonaws.ecs.task-arn': task.taskArn,
        'com.amazonaws.ecs.task-definition-family': task.family,
      },
      DesiredStatus: 'RUNNING',
      KnownStatus: 'RUNNING',
      Type: 'NORMAL',
    });
    if (rest === 'task') {
      sendJson(res, 200, {
        Cluster: task.clusterArn,
        TaskARN: task.taskArn,
        Family: task.family,
        Revision: task.taskDefinitionArn.split(':').pop(),
        DesiredStatus: 'RUNNING',
        KnownStatus: 'RUNNING',
        Containers: task.containers.map((c) => containerMeta(c.name)),
        PullStartedAt: new Date(task.createdAt).toISOString(),
        LaunchType: 'FARGATE',
        AvailabilityZone: `${LOCAL_REGION}a`,
      });
      return;
    }
    sendJson(res, 200, containerMeta(container ?? ''));
    return;
  }
}

function unsupported(message: string): AwsError {
  return new AwsError('UnsupportedOperation', message, 400);
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function sendXmlError(res: ServerResponse, status: number, code: string, message: string, requestId: string): void {
  res.writeHead(status, { 'content-type': 'text/xml', 'x-amzn-requestid': requestId });
  res.end(
    `<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><Error><Type>Sender</Type><Code>${xmlEscape(code)}</Code><Message>${xmlEscape(message)}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`,
  );
}

/** SQS JSON requests: queue URLs (any host) become `<base>/<account>/<name>`, the form fauxqs keys queues by. */
export function rewriteQueueUrls(body: Buffer, base: string): Buffer {
  if (body.length === 0) return body;
  let input: Record<string, unknown>;
  try {
    input = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
  } catch {
    return body;
  }
  const canon = (u: unknown): unknown => {
    if (typeof u !== 'string') return u;
    const m = /\/(\d{12})\/([^/?#]+)\/?$/.exec(u);
    return m ? `${base}/${LOCAL_ACCOUNT}/${m[2]}` : u;
  };
  if ('QueueUrl' in input) input.QueueUrl = canon(input.QueueUrl);
  return Buffer.from(JSON.stringify(input));
}
