/**
 * Interfaces between the parts of the local runtime (edge, template loader, Lambda runner,
 * Step Functions emulation, ECS process runner, EventBridge, logs). Kept apart so each part
 * can be built and tested alone.
 */

export const LOCAL_ACCOUNT = '000000000000';
export const LOCAL_REGION = 'us-east-1';

/** A CloudWatch Logs stand-in: per-stream files under the runtime's work dir. */
export interface LogSink {
  append(logGroupName: string, logStreamName: string, lines: readonly string[], timestamp?: number): void;
}

export interface LambdaInvokeResult {
  /** The function's JSON result, or Lambda's `{errorType, errorMessage, trace}` when it failed. */
  readonly payload: unknown;
  /** 'Unhandled' when the function threw (as Lambda's X-Amz-Function-Error). */
  readonly functionError?: string;
  readonly requestId: string;
  /** The invocation's log lines (START … REPORT), for `X-Amz-Log-Type: Tail`. */
  readonly log?: string;
}

/** What the rest of the runtime calls to run a synthesized Lambda function. */
export interface LambdaInvoker {
  /** `functionRef`: name, ARN or partial ARN as Lambda accepts. Throws ResourceNotFound-shaped errors for unknown ones. */
  invoke(functionRef: string, payload: unknown, invocationType?: 'RequestResponse' | 'Event'): Promise<LambdaInvokeResult>;
}

/** A container definition of a synthesized ECS task definition, ready to run as a local process. */
export interface LocalContainer {
  readonly name: string;
  /** Resolved static environment of the container definition. */
  readonly environment: Record<string, string>;
  /** From the task definition's `asynctask:local` metadata: argv run from `cwd`. */
  readonly command: readonly string[];
  /** Absolute working directory (the project root unless the metadata says otherwise). */
  readonly cwd: string;
  /** awslogs options, when the container logs to CloudWatch. */
  readonly logGroupName?: string;
  readonly logStreamPrefix?: string;
}

export interface LocalTaskDefinition {
  readonly arn: string;
  readonly family: string;
  readonly containers: readonly LocalContainer[];
}

/** An EventBridge event as PutEvents/rules see it. */
export interface LocalEvent {
  readonly source: string;
  readonly 'detail-type': string;
  readonly detail: Record<string, unknown>;
  readonly resources?: readonly string[];
  readonly time?: string;
  readonly account?: string;
  readonly region?: string;
  readonly id?: string;
  readonly version?: string;
}

export interface EventPublisher {
  publish(event: LocalEvent, eventBusName?: string): Promise<void>;
}

/**
 * An AWS JSON-protocol service served on the edge: `target` is the operation name (the part of
 * `X-Amz-Target` after the dot). Throw `AwsError` for AWS-shaped failures.
 */
export interface JsonService {
  handle(operation: string, body: Record<string, unknown>): Promise<unknown>;
}

/** An AWS-shaped error: the edge renders `{__type, message}` with `statusCode`. */
export class AwsError extends Error {
  public override name: string;
  public readonly statusCode: number;

  public constructor(code: string, message: string, statusCode = 400) {
    super(message);
    this.name = code;
    this.statusCode = statusCode;
  }
}
