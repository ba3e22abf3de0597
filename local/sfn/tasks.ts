/**
 * Task states, locally: each Task state of a definition gets a handler (keyed by state name, as
 * aws-local-stepfunctions overrides them) that dispatches on the state's `Resource` to the
 * local backends, returns what the AWS integration returns and fails with the error names Step
 * Functions uses. With executions kept on disk, a state re-run after a restart is made safe here:
 * the attempt of a runner state fails, a DynamoDB write already applied is not applied again, an
 * SQS send is sent once (its idempotency key names the execution's step).
 */
import { randomUUID } from 'node:crypto';
import {
  DeleteItemCommand,
  DescribeTableCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { type DirectDynamoDb, dynamoDbOperation } from '../dynalite';
import { EcsError, type LocalEcs, type LocalEcsTaskInfo } from '../ecs';
import type { EventPublisher, LambdaInvoker } from '../types';
import { type AslState, MAX_TIMER_SECONDS, resolveReferencePath, statesTimeoutError } from './asl';

/** What a Task state calls, parsed from its Resource. */
export interface ParsedResource {
  readonly arn: string;
  /** History's `resourceType` (`dynamodb`, `lambda`, `ecs`, `aws-sdk:s3`, ...). */
  readonly resourceType: string;
  /** History's `resource` (`updateItem`, `invoke`, `runTask.sync`, ...). */
  readonly resource: string;
  /** `function` for a plain Lambda function ARN resource. */
  readonly kind: 'service' | 'function' | 'other';
}

export function parseResource(arn: string): ParsedResource {
  const service = /^arn:aws[\w-]*:states:::(.+)$/.exec(arn);
  if (service) {
    const rest = service[1];
    if (rest.startsWith('aws-sdk:')) {
      const [, svc, ...action] = rest.split(':');
      return { arn, resourceType: `aws-sdk:${svc}`, resource: action.join(':'), kind: 'service' };
    }
    const idx = rest.indexOf(':');
    return idx < 0
      ? { arn, resourceType: rest, resource: '', kind: 'other' }
      : { arn, resourceType: rest.slice(0, idx), resource: rest.slice(idx + 1), kind: 'service' };
  }
  if (/^arn:aws[\w-]*:lambda:[^:]*:\d*:function:.+/.test(arn)) {
    return { arn, resourceType: 'lambda', resource: arn, kind: 'function' };
  }
  return { arn, resourceType: 'unknown', resource: arn, kind: 'other' };
}

/**
 * A state that runs the task's own work: a Lambda function invoked and waited for (a function
 * ARN, or `lambda:invoke` not of type Event, not `.waitForTaskToken`), or `ecs:runTask.sync`.
 * After a restart such a state is not run again: its attempt counts as failed.
 */
export function isRunnerState(state: AslState): boolean {
  if (state.Type !== 'Task') return false;
  const r = parseResource(String(state.Resource ?? ''));
  if (r.kind === 'function') return true;
  if (r.resourceType === 'lambda' && r.resource === 'invoke') {
    const params = (state.Parameters ?? {}) as Record<string, unknown>;
    return params.InvocationType !== 'Event' && params.InvocationType !== 'DryRun';
  }
  return r.resourceType === 'ecs' && r.resource === 'runTask.sync';
}

/** The header fauxqs-server.mjs deduplicates SendMessage on. */
export const IDEMPOTENCY_HEADER = 'x-asynctask-idempotency-key';

/** An error raised by a Task state: `name` is the Step Functions error, `message` its cause. */
export class TaskError extends Error {
  public override name: string;
  public constructor(error: string, cause: string) {
    super(cause);
    this.name = error;
  }
}

/** Which history events a Task state's work produces (the service records them). */
export type TaskHistoryType =
  | 'TaskScheduled'
  | 'TaskStarted'
  | 'TaskSucceeded'
  | 'TaskFailed'
  | 'TaskTimedOut'
  | 'LambdaFunctionScheduled'
  | 'LambdaFunctionStarted'
  | 'LambdaFunctionSucceeded'
  | 'LambdaFunctionFailed'
  | 'LambdaFunctionTimedOut';

/** What the dispatcher needs from the execution it runs in. */
export interface TaskExecutionContext {
  readonly executionArn: string;
  /** True once the execution was stopped or ended: no new task work may start. */
  isClosed(): boolean;
  /** Records a history event of the Task state `stateName`. */
  record(stateName: string, type: TaskHistoryType, details: Record<string, unknown>): void;
  /** Registers a running ECS task (to kill on stop); returns the unregister function. */
  trackEcsTask(task: LocalEcsTaskInfo, stop: (reason: string) => Promise<void>): () => void;
  /**
   * With executions on disk: the step the execution is in when `stateName` is it (top-level
   * states), `resumed` when it is the step a restart re-runs.
   */
  step?(
    stateName: string,
  ): { readonly seq: number; readonly preImage?: Record<string, unknown> | null; readonly resumed: boolean } | undefined;
  /** Saves the item a DynamoDB write state is about to change into the current step (synchronously). */
  savePreImage?(stateName: string, item: Record<string, unknown> | null): void;
  /** The cause to fail `stateName` with, once, when it is the runner state a restart interrupted. */
  takeRestartFailure?(stateName: string): string | undefined;
}

export interface TaskDispatcherDeps {
  readonly endpoint: string;
  readonly region: string;
  readonly accountId: string;
  readonly lambda: LambdaInvoker;
  readonly events: EventPublisher;
  readonly ecs: LocalEcs;
  /**
   * The runtime's dynalite in this process: DynamoDB states call it directly (same requests and
   * answers as over HTTP, without the SDK and two loopback hops). Default: the SDK, via `endpoint`.
   */
  readonly dynamodb?: DirectDynamoDb;
  /** The edge's SQS forwarding (see `Edge.sqs`): `sqs:sendMessage` states use it instead of the SDK over HTTP. */
  readonly sqs?: DirectSqs;
}

/** An SQS JSON operation forwarded to the local SQS as the edge forwards requests; `undefined` when its answer broke off. */
export type DirectSqs = (
  operation: string,
  input: unknown,
  headers: Record<string, string>,
) => Promise<{ statusCode: number; headers: Record<string, string | string[] | undefined>; body: Buffer } | undefined>;

/** An error answer of a direct DynamoDB or SQS call as the AWS SDK v3 raises it (name from `__type`, status, request id). */
class DirectServiceError extends Error {
  public readonly $metadata: { httpStatusCode: number; requestId?: string };
  public constructor(name: string, message: string, status: number, requestId: string | undefined) {
    super(message);
    this.name = name;
    this.$metadata = { httpStatusCode: status, ...(requestId ? { requestId } : {}) };
  }
}

type Handler = (input: unknown) => Promise<unknown>;
type Impl = (params: Record<string, unknown>, signal: AbortSignal, ctx: TaskExecutionContext, stateName: string) => Promise<unknown>;

const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };

function httpMetadata(requestId: string, statusCode = 200): Record<string, unknown> {
  return {
    SdkHttpMetadata: {
      AllHttpHeaders: { 'Content-Type': ['application/json'], 'x-amzn-RequestId': [requestId] },
      HttpHeaders: { 'Content-Type': 'application/json', 'x-amzn-RequestId': requestId },
      HttpStatusCode: statusCode,
    },
    SdkResponseMetadata: { RequestId: requestId },
  };
}

const SERVICE_NAMES: Record<string, string> = {
  DynamoDB: 'AmazonDynamoDBv2',
  S3: 'Amazon S3',
  SQS: 'AmazonSQS',
  SNS: 'AmazonSNS',
  EventBridge: 'AmazonEventBridge',
};

/** The AWS SDK v3 error as Step Functions names it: `<Service>.<Name>` (`S3.NoSuchKeyException`). */
function sdkError(service: string, e: unknown, suffixException: boolean): TaskError {
  const err = e as { name?: string; message?: string; $metadata?: { httpStatusCode?: number; requestId?: string } };
  let name = err?.name && err.name !== 'Error' ? err.name : 'ServiceException';
  if (suffixException && !name.endsWith('Exception')) name = `${name}Exception`;
  const status = err?.$metadata?.httpStatusCode ?? 400;
  const requestId = err?.$metadata?.requestId ?? randomUUID();
  const serviceName = SERVICE_NAMES[service] ?? service;
  return new TaskError(
    `${service}.${name}`,
    `${err?.message ?? String(e)} (Service: ${serviceName}; Status Code: ${status}; Error Code: ${err?.name ?? name}; Request ID: ${requestId}; Proxy: null)`,
  );
}

function stripMetadata(out: object): Record<string, unknown> {
  const { $metadata: _m, ...rest } = out as Record<string, unknown>;
  return rest;
}

/** DynamoDB binary attribute values travel as base64 strings in state JSON. */
function toSdkAttributes(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(toSdkAttributes);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (k === 'B' && typeof v === 'string') out[k] = Buffer.from(v, 'base64');
    else if (k === 'BS' && Array.isArray(v) && v.every((x) => typeof x === 'string')) {
      out[k] = v.map((x) => Buffer.from(x as string, 'base64'));
    } else out[k] = toSdkAttributes(v);
  }
  return out;
}

function fromSdk(value: unknown): unknown {
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map(fromSdk);
  if (value instanceof Set) return [...value].map(fromSdk);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = fromSdk(v);
  return out;
}

/** JSON with object keys sorted: item comparison independent of attribute order. */
function stableJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

function asString(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function abortable<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

/** Builds the per-state handlers; one dispatcher serves every execution. */
export class TaskDispatcher {
  private readonly deps: TaskDispatcherDeps;
  private readonly ddb: DynamoDBClient;
  private readonly s3: S3Client;
  private readonly sqs: SQSClient;
  private readonly sns: SNSClient;

  public constructor(deps: TaskDispatcherDeps) {
    this.deps = deps;
    const common = { endpoint: deps.endpoint, region: deps.region, credentials, maxAttempts: 1 };
    this.ddb = new DynamoDBClient(common);
    this.s3 = new S3Client({ ...common, forcePathStyle: true });
    this.sqs = new SQSClient(common);
    this.sns = new SNSClient(common);
  }

  public destroy(): void {
    for (const c of [this.ddb, this.s3, this.sqs, this.sns]) c.destroy();
  }

  /** Handlers for every Task state (by name) of a definition, for one execution. */
  public handlers(states: ReadonlyMap<string, AslState>, ctx: TaskExecutionContext): Record<string, Handler> {
    const out: Record<string, Handler> = {};
    for (const [name, state] of states) out[name] = this.handler(name, state, ctx);
    return out;
  }

  private handler(stateName: string, state: AslState, ctx: TaskExecutionContext): Handler {
    const resource = parseResource(String(state.Resource ?? ''));
    const impl = this.implFor(resource);
    const fn = resource.kind === 'function';
    return async (input: unknown): Promise<unknown> => {
      if (ctx.isClosed()) {
        // The execution was stopped (the library may still retry a state after abort).
        const e = new TaskError('States.Runtime', 'The execution is no longer running.');
        Object.assign(e, { isRetryable: false, isCatchable: false });
        throw e;
      }
      const ids0 = fn ? {} : { resourceType: resource.resourceType, resource: resource.resource };
      const restartCause = ctx.takeRestartFailure?.(stateName);
      if (restartCause !== undefined) {
        // The attempt the restart interrupted: failed, so the state's Retry/Catch decide.
        ctx.record(stateName, fn ? 'LambdaFunctionFailed' : 'TaskFailed', { ...ids0, error: 'States.TaskFailed', cause: restartCause });
        throw new TaskError('States.TaskFailed', restartCause);
      }
      const timeoutSeconds = this.timeoutOf(state, input);
      const details = fn
        ? { resource: resource.arn, input: JSON.stringify(input ?? null), inputDetails: { truncated: false } }
        : {
            resourceType: resource.resourceType,
            resource: resource.resource,
            region: this.deps.region,
            parameters: JSON.stringify(input ?? null),
            ...(timeoutSeconds < MAX_TIMER_SECONDS ? { timeoutInSeconds: timeoutSeconds } : {}),
          };
      const ids = ids0;
      ctx.record(stateName, fn ? 'LambdaFunctionScheduled' : 'TaskScheduled', details);
      ctx.record(stateName, fn ? 'LambdaFunctionStarted' : 'TaskStarted', ids);

      const controller = new AbortController();
      const timeoutError = await statesTimeoutError(`State '${stateName}' timed out after ${timeoutSeconds} seconds.`);
      const timer = setTimeout(() => controller.abort(timeoutError), timeoutSeconds * 1000);
      try {
        const params = (input ?? {}) as Record<string, unknown>;
        const output = await abortable(impl(params, controller.signal, ctx, stateName), controller.signal);
        ctx.record(stateName, fn ? 'LambdaFunctionSucceeded' : 'TaskSucceeded', {
          ...ids,
          output: JSON.stringify(output ?? null),
          outputDetails: { truncated: false },
        });
        return output;
      } catch (e) {
        const err = e instanceof Error ? e : new TaskError('States.TaskFailed', String(e));
        const timedOut = err.name === 'States.Timeout';
        const type = timedOut ? (fn ? 'LambdaFunctionTimedOut' : 'TaskTimedOut') : fn ? 'LambdaFunctionFailed' : 'TaskFailed';
        ctx.record(stateName, type, { ...ids, error: err.name, cause: err.message });
        throw err;
      } finally {
        clearTimeout(timer);
        if (!controller.signal.aborted) controller.abort(new TaskError('States.Runtime', 'task finished'));
      }
    };
  }

  private timeoutOf(state: AslState, input: unknown): number {
    let seconds: unknown = state.TimeoutSeconds;
    if (seconds === undefined && typeof state.TimeoutSecondsPath === 'string') {
      seconds = resolveReferencePath(state.TimeoutSecondsPath, input);
    }
    return typeof seconds === 'number' && seconds > 0 ? Math.min(seconds, MAX_TIMER_SECONDS) : MAX_TIMER_SECONDS;
  }

  private implFor(r: ParsedResource): Impl {
    if (r.kind === 'function') {
      return (params) => this.invokeFunction(r.arn, params);
    }
    const key = `${r.resourceType}:${r.resource}`;
    switch (key) {
      case 'dynamodb:updateItem':
      case 'dynamodb:putItem':
      case 'dynamodb:getItem':
      case 'dynamodb:deleteItem':
        return (params, _signal, ctx, stateName) => this.dynamodb(r.resource, params, ctx, stateName);
      case 'lambda:invoke':
        return (params) => this.lambdaInvoke(params);
      case 'ecs:runTask.sync':
      case 'ecs:runTask':
        return (params, signal, ctx) => this.ecsRunTask(params, signal, r.resource === 'runTask.sync', ctx);
      case 'aws-sdk:s3:getObject':
      case 'aws-sdk:s3:putObject':
        return (params) => this.s3Call(r.resource, params);
      case 'sqs:sendMessage':
        return (params, _signal, ctx, stateName) => this.sqsSend(params, ctx, stateName);
      case 'sns:publish':
        return (params) => this.snsPublish(params);
      case 'events:putEvents':
        return (params) => this.putEvents(params);
      default:
        return async () => {
          throw new TaskError('States.TaskFailed', `the local runtime does not support resource ${r.arn}`);
        };
    }
  }

  private async dynamodb(action: string, params: Record<string, unknown>, ctx: TaskExecutionContext, stateName: string): Promise<unknown> {
    const input = toSdkAttributes(params) as never;
    const step = action === 'getItem' ? undefined : ctx.step?.(stateName);
    if (step) {
      const applied = await this.writeApplied(action, params, step, ctx, stateName);
      if (applied) return applied;
    }
    let out: object;
    if (this.deps.dynamodb) {
      try {
        out = await this.direct(action, params);
      } catch (e) {
        throw sdkError('DynamoDB', e, false);
      }
      const requestId = (out as { $metadata?: { requestId?: string } }).$metadata?.requestId ?? randomUUID();
      return { ...stripMetadata(out), ...httpMetadata(requestId) };
    }
    try {
      switch (action) {
        case 'updateItem':
          out = await this.ddb.send(new UpdateItemCommand(input));
          break;
        case 'putItem':
          out = await this.ddb.send(new PutItemCommand(input));
          break;
        case 'getItem':
          out = await this.ddb.send(new GetItemCommand(input));
          break;
        default:
          out = await this.ddb.send(new DeleteItemCommand(input));
      }
    } catch (e) {
      throw sdkError('DynamoDB', e, false);
    }
    const requestId = (out as { $metadata?: { requestId?: string } }).$metadata?.requestId ?? randomUUID();
    return { ...(fromSdk(stripMetadata(out)) as object), ...httpMetadata(requestId) };
  }

  /** A DynamoDB operation on the in-process dynalite: its JSON answer with `$metadata`, or its error as the SDK raises it. */
  private async direct(action: string, params: unknown): Promise<Record<string, unknown>> {
    const direct = this.deps.dynamodb as DirectDynamoDb;
    const operation = `${action[0].toUpperCase()}${action.slice(1)}`;
    const r = await dynamoDbOperation(direct, operation, params);
    const requestId = r.headers['x-amzn-requestid'];
    let body: Record<string, unknown> = {};
    try {
      body = r.body ? (JSON.parse(r.body) as Record<string, unknown>) : {};
    } catch {
      // not JSON: an error below
    }
    if (r.statusCode >= 300) {
      const type = String(body.__type ?? body.code ?? r.headers['x-amzn-errortype'] ?? `Http${r.statusCode}`);
      const name = type.slice(type.lastIndexOf('#') + 1).split(':')[0];
      const message = String(body.message ?? body.Message ?? 'UnknownError');
      throw new DirectServiceError(name, message, r.statusCode, requestId);
    }
    return { ...body, $metadata: { httpStatusCode: r.statusCode, requestId } };
  }

  /**
   * A DynamoDB write of a step kept on disk. First run: reads the item and saves it into the
   * step before the write. Re-run after a restart: the item differs from the saved one → the
   * write was applied before the crash (it is not applied twice; its answer is rebuilt, with
   * the current item as `Attributes` for `ReturnValues: ALL_NEW`); unchanged → it runs.
   * A concurrent writer changing the item inside that window would be taken for this write.
   */
  private async writeApplied(
    action: string,
    params: Record<string, unknown>,
    step: NonNullable<ReturnType<NonNullable<TaskExecutionContext['step']>>>,
    ctx: TaskExecutionContext,
    stateName: string,
  ): Promise<Record<string, unknown> | undefined> {
    const tableName = params.TableName;
    if (typeof tableName !== 'string') return undefined;
    let current: Record<string, unknown> | null;
    try {
      const key = action === 'putItem' ? await this.keyOf(tableName, params.Item) : params.Key;
      if (!key || typeof key !== 'object') return undefined;
      if (this.deps.dynamodb) {
        const got = await this.direct('getItem', { TableName: tableName, Key: key, ConsistentRead: true });
        current = got.Item ? (got.Item as Record<string, unknown>) : null;
      } else {
        const got = await this.ddb.send(
          new GetItemCommand({ TableName: tableName, Key: toSdkAttributes(key) as never, ConsistentRead: true }),
        );
        current = got.Item ? (fromSdk(got.Item) as Record<string, unknown>) : null;
      }
    } catch {
      return undefined; // the write itself reports what is wrong (missing table, bad key)
    }
    if (step.resumed && step.preImage !== undefined) {
      if (stableJson(current) === stableJson(step.preImage)) return undefined;
      return {
        ...(params.ReturnValues === 'ALL_NEW' && current ? { Attributes: current } : {}),
        ...httpMetadata(randomUUID()),
      };
    }
    ctx.savePreImage?.(stateName, current);
    return undefined;
  }

  private readonly keySchemas = new Map<string, string[]>();

  /** The key attributes of `item` in `tableName` (putItem carries the whole item). */
  private async keyOf(tableName: string, item: unknown): Promise<Record<string, unknown> | undefined> {
    if (!item || typeof item !== 'object') return undefined;
    let names = this.keySchemas.get(tableName);
    if (!names) {
      const d = (
        this.deps.dynamodb
          ? await this.direct('describeTable', { TableName: tableName })
          : await this.ddb.send(new DescribeTableCommand({ TableName: tableName }))
      ) as { Table?: { KeySchema?: { AttributeName?: string }[] } };
      names = (d.Table?.KeySchema ?? []).map((k) => k.AttributeName ?? '');
      this.keySchemas.set(tableName, names);
    }
    const key: Record<string, unknown> = {};
    for (const n of names) key[n] = (item as Record<string, unknown>)[n];
    return key;
  }

  /** Invokes through the Lambda runner; maps errors as Step Functions does. */
  private async invoke(
    functionName: string,
    payload: unknown,
    type: 'RequestResponse' | 'Event',
  ): Promise<{ payload: unknown; requestId: string }> {
    let result: Awaited<ReturnType<LambdaInvoker['invoke']>>;
    try {
      result = await this.deps.lambda.invoke(functionName, payload, type);
    } catch (e) {
      const err = e as { name?: string; message?: string };
      const name = err?.name && /Exception$/.test(err.name) ? err.name : 'ServiceException';
      throw new TaskError(`Lambda.${name}`, err?.message ?? String(e));
    }
    if (result.functionError) {
      const p = result.payload as { errorType?: unknown } | null;
      const errorType = p && typeof p === 'object' && typeof p.errorType === 'string' && p.errorType ? p.errorType : 'Lambda.Unknown';
      throw new TaskError(errorType, asString(result.payload ?? null));
    }
    return { payload: result.payload, requestId: result.requestId };
  }

  private async lambdaInvoke(params: Record<string, unknown>): Promise<unknown> {
    const fn = params.FunctionName;
    if (typeof fn !== 'string' || fn === '') {
      throw new TaskError('Lambda.InvalidParameterValueException', 'FunctionName is required.');
    }
    const qualified = typeof params.Qualifier === 'string' && !fn.includes(':') ? `${fn}:${params.Qualifier}` : fn;
    const type = params.InvocationType === 'Event' ? 'Event' : 'RequestResponse';
    if (params.InvocationType === 'DryRun') {
      return { ExecutedVersion: '$LATEST', Payload: '', StatusCode: 204, ...httpMetadata(randomUUID(), 204) };
    }
    const { payload, requestId } = await this.invoke(qualified, params.Payload ?? {}, type);
    if (type === 'Event') {
      return { Payload: '', StatusCode: 202, ...httpMetadata(requestId, 202) };
    }
    return { ExecutedVersion: '$LATEST', Payload: payload ?? null, StatusCode: 200, ...httpMetadata(requestId) };
  }

  private async invokeFunction(arn: string, input: unknown): Promise<unknown> {
    return (await this.invoke(arn, input, 'RequestResponse')).payload ?? null;
  }

  private async ecsRunTask(
    params: Record<string, unknown>,
    signal: AbortSignal,
    sync: boolean,
    ctx: TaskExecutionContext,
  ): Promise<unknown> {
    let run: ReturnType<LocalEcs['run']>;
    try {
      run = this.deps.ecs.run(params, { executionArn: ctx.executionArn });
    } catch (e) {
      if (e instanceof EcsError) throw new TaskError(`ECS.${e.name}`, e.message);
      throw new TaskError('ECS.ServerException', (e as Error).message);
    }
    if (!sync) {
      // Fire-and-forget (as on AWS): the task outlives the state and is not stopped with the execution.
      return {
        Failures: [],
        Tasks: [{ TaskArn: run.task.taskArn, ClusterArn: run.task.clusterArn, LastStatus: 'PENDING' }],
        ...httpMetadata(randomUUID()),
      };
    }
    // StopExecution kills it; so does the state's timeout.
    const untrack = ctx.trackEcsTask(run.task, (reason) => run.stop(reason));
    const onAbort = (): void => {
      void run.stop('Task state timed out');
    };
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      const task = await run.done;
      const ok = task.StopCode === 'EssentialContainerExited' && task.Containers.every((c) => c.ExitCode === 0);
      if (!ok) throw new TaskError('States.TaskFailed', JSON.stringify(task));
      return task;
    } finally {
      signal.removeEventListener('abort', onAbort);
      untrack();
    }
  }

  private async s3Call(action: string, params: Record<string, unknown>): Promise<unknown> {
    try {
      if (action === 'getObject') {
        const out = await this.s3.send(new GetObjectCommand(params as never));
        const body = out.Body ? await out.Body.transformToString() : '';
        const { Body: _b, ...rest } = stripMetadata(out);
        return { Body: body, ...(fromSdk(rest) as object) };
      }
      const input = { ...params, Body: params.Body === undefined ? '' : asString(params.Body) };
      return fromSdk(stripMetadata(await this.s3.send(new PutObjectCommand(input as never))));
    } catch (e) {
      throw sdkError('S3', e, true);
    }
  }

  private async sqsSend(params: Record<string, unknown>, ctx: TaskExecutionContext, stateName: string): Promise<unknown> {
    if (this.deps.sqs) return this.sqsSendDirect(this.deps.sqs, params, ctx, stateName);
    try {
      const command = new SendMessageCommand({ ...params, MessageBody: asString(params.MessageBody) } as never);
      const step = ctx.step?.(stateName);
      if (step) {
        // One send per step: a re-run after a restart gets the first send's answer.
        const key = `${ctx.executionArn}#${step.seq}`;
        command.middlewareStack.add(
          (next) => async (args) => {
            (args.request as { headers: Record<string, string> }).headers[IDEMPOTENCY_HEADER] = key;
            return next(args);
          },
          { step: 'build', name: 'asynctaskIdempotencyKey' },
        );
      }
      const out = await this.sqs.send(command);
      return { ...(fromSdk(stripMetadata(out)) as object), ...httpMetadata(out.$metadata.requestId ?? randomUUID()) };
    } catch (e) {
      throw sdkError('SQS', e, false);
    }
  }

  /** `sqsSend` through the edge's forwarding: the same request (idempotency key included) and answer, without the SDK. */
  private async sqsSendDirect(
    sqs: DirectSqs,
    params: Record<string, unknown>,
    ctx: TaskExecutionContext,
    stateName: string,
  ): Promise<unknown> {
    try {
      const step = ctx.step?.(stateName);
      // One send per step: a re-run after a restart gets the first send's answer.
      const headers: Record<string, string> = step ? { [IDEMPOTENCY_HEADER]: `${ctx.executionArn}#${step.seq}` } : {};
      const r = await sqs('SendMessage', { ...params, MessageBody: asString(params.MessageBody) }, headers);
      if (!r) throw new DirectServiceError('ServiceException', 'the local SQS answer broke off', 500, undefined);
      const requestId = String(r.headers['x-amzn-requestid'] ?? '') || undefined;
      let body: Record<string, unknown> = {};
      try {
        body = r.body.length > 0 ? (JSON.parse(r.body.toString('utf8')) as Record<string, unknown>) : {};
      } catch {
        // not JSON: an error below
      }
      if (r.statusCode >= 300) {
        const type = String(body.__type ?? body.code ?? r.headers['x-amzn-errortype'] ?? `Http${r.statusCode}`);
        const name = type.slice(type.lastIndexOf('#') + 1).split(':')[0];
        throw new DirectServiceError(name, String(body.message ?? body.Message ?? 'UnknownError'), r.statusCode, requestId);
      }
      return { ...body, ...httpMetadata(requestId ?? randomUUID()) };
    } catch (e) {
      throw sdkError('SQS', e, false);
    }
  }

  private async snsPublish(params: Record<string, unknown>): Promise<unknown> {
    try {
      const out = await this.sns.send(new PublishCommand({ ...params, Message: asString(params.Message) } as never));
      return { ...(fromSdk(stripMetadata(out)) as object), ...httpMetadata(out.$metadata.requestId ?? randomUUID()) };
    } catch (e) {
      throw sdkError('SNS', e, false);
    }
  }

  private async putEvents(params: Record<string, unknown>): Promise<unknown> {
    const entries = Array.isArray(params.Entries) ? (params.Entries as Record<string, unknown>[]) : [];
    const out: { EventId: string }[] = [];
    for (const e of entries) {
      let detail: unknown = e.Detail ?? {};
      if (typeof detail === 'string') {
        try {
          detail = JSON.parse(detail);
        } catch {
          throw new TaskError('EventBridge.ValidationException', 'Detail is not valid JSON.');
        }
      }
      const id = randomUUID();
      try {
        await this.deps.events.publish(
          {
            id,
            version: '0',
            source: String(e.Source ?? ''),
            'detail-type': String(e.DetailType ?? ''),
            detail: (detail ?? {}) as Record<string, unknown>,
            resources: Array.isArray(e.Resources) ? (e.Resources as string[]) : [],
            account: this.deps.accountId,
            region: this.deps.region,
            time: new Date().toISOString(),
          },
          typeof e.EventBusName === 'string' ? e.EventBusName : undefined,
        );
      } catch (err) {
        throw sdkError('EventBridge', err, true);
      }
      out.push({ EventId: id });
    }
    return { Entries: out, FailedEntryCount: 0, ...httpMetadata(randomUUID()) };
  }
}
