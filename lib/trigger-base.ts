/**
 * What the Kafka and SQS triggers share: their common props and checks, and the trigger Lambda
 * (lambda/handlers/trigger.ts) with its environment and grants. A trigger lives in any stack of
 * the app; it refers to the service (table, registry) and names the task function's state
 * machine by its deterministic name, so nothing in the service's or the function's stack refers
 * back to it.
 */
import { ArnFormat, type Duration, Names, Stack, Token } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import type { Construct, IConstruct } from 'constructs';
import { checkRange, type NumericBound } from '../lambda/model/config';
import { SERVICE_ENV, taskStateMachineName } from '../lambda/model/registry';
import { TRIGGER_BOUNDS, TRIGGER_ENV, type TriggerMode, type TriggerValueFormat } from '../lambda/model/trigger';
import { grantRegistryRead, serviceHandlerFunction } from './async-task-service';
import type { ITaskDestination } from './destinations';
import { validationError } from './errors';
import type { IAsyncTaskService, ITaskFunction } from './interfaces';
import { acknowledgeWildcardResources } from './nag';

export const TRIGGER_MODES: readonly TriggerMode[] = ['batch', 'record'];
export const TRIGGER_VALUE_FORMATS: readonly TriggerValueFormat[] = ['json', 'text'];

/** Timeout of a trigger Lambda, seconds (Lambda's own range). */
export const TRIGGER_TIMEOUT_BOUND: NumericBound = { min: 1, max: 900 };
/** Memory of a trigger Lambda, MiB (Lambda's own range). */
export const TRIGGER_MEMORY_BOUND: NumericBound = { min: 128, max: 10_240 };

/** The table actions a trigger needs to create tasks exactly once (the TaskApi's submit path). */
export const TRIGGER_TABLE_ACTIONS = [
  'dynamodb:Query',
  'dynamodb:PutItem',
  'dynamodb:GetItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
] as const;

/** Props of every trigger. */
export interface TaskTriggerProps {
  /** The service whose table the tasks are written to; it may live in another stack of the app. */
  readonly service: IAsyncTaskService;
  /** The task function the records become tasks of (registered with `service`). */
  readonly taskFunction: ITaskFunction;
  /**
   * `batch`: one task per batch (Kafka: per topic partition within a batch); `record`: one task per record.
   * @default - `batch` for Kafka, `record` for SQS
   */
  readonly mode?: TriggerMode;
  /**
   * `json`: a record's value must be JSON (it becomes the task payload parsed; anything else is
   * quarantined); `text`: any value is accepted as UTF-8 text.
   * @default 'json'
   */
  readonly valueFormat?: TriggerValueFormat;
  /**
   * Where records that cannot become tasks go, each as a `QuarantineRecord` with the reason
   * (quarantine). It should live in the trigger's stack (or be imported): its policy names the
   * trigger's role.
   * @default - none: such records are reported as batch item failures, so the event source
   * retries them and nothing is lost (a Kafka partition waits behind them)
   */
  readonly onFailure?: ITaskDestination;
  /**
   * Most records per batch.
   * @default - 100 for Kafka, 10 for SQS
   */
  readonly batchSize?: number;
  /**
   * How long Lambda gathers records before invoking the trigger, 0–300 s in whole seconds.
   * @default - Lambda's default: 500 ms for Kafka, none for SQS
   */
  readonly maxBatchingWindow?: Duration;
  /**
   * Timeout of the trigger Lambda, 1–900 s.
   * @default - 5 minutes for Kafka, 30 seconds for SQS (no longer than the queue's visibility timeout)
   */
  readonly timeout?: Duration;
  /**
   * Memory of the trigger Lambda, 128–10240 MiB.
   * @default 512
   */
  readonly memorySize?: number;
  /**
   * Application log level of the trigger Lambda.
   * @default lambda.ApplicationLogLevel.INFO
   */
  readonly logLevel?: lambda.ApplicationLogLevel;
}

/** Seconds of a Duration, or undefined when absent or a token (checked at deploy instead). */
export function knownSeconds(duration: Duration | undefined): number | undefined {
  if (duration === undefined || duration.isUnresolved()) return undefined;
  return duration.toSeconds({ integral: false });
}

/** A number prop, or undefined when absent or a token. */
export function knownNumber(value: number | undefined): number | undefined {
  return value === undefined || Token.isUnresolved(value) ? undefined : value;
}

/** `checkRange` of a Duration prop in whole seconds. */
export function checkSeconds(prop: string, duration: Duration | undefined, bound: NumericBound): string | undefined {
  const value = knownSeconds(duration);
  if (value === undefined) return undefined;
  return (
    checkRange(prop, value, bound, 's') ??
    (Number.isInteger(value) ? undefined : `${prop} must be a whole number of seconds (given ${value}s)`)
  );
}

/** `value` is one of `allowed`, or the message saying so. */
export function checkOneOf<T extends string>(prop: string, value: T | undefined, allowed: readonly T[]): string | undefined {
  if (value === undefined || Token.isUnresolved(value) || allowed.includes(value)) return undefined;
  return `${prop} must be one of ${allowed.map((a) => `'${a}'`).join(', ')} (given ${JSON.stringify(value)})`;
}

/** Problems with the props every trigger has, each "what, the value, what is allowed". */
export function checkTaskTriggerProps(props: TaskTriggerProps, batchSize: NumericBound): string[] {
  const problems = [
    checkOneOf('mode', props.mode, TRIGGER_MODES),
    checkOneOf('valueFormat', props.valueFormat, TRIGGER_VALUE_FORMATS),
    checkRange('batchSize', knownNumber(props.batchSize), batchSize),
    checkSeconds('maxBatchingWindow', props.maxBatchingWindow, TRIGGER_BOUNDS.maxBatchingWindowSeconds),
    checkSeconds('timeout', props.timeout, TRIGGER_TIMEOUT_BOUND),
    checkRange('memorySize', knownNumber(props.memorySize), TRIGGER_MEMORY_BOUND),
  ];
  // A TaskFunction knows its service; another ITaskFunction may not say.
  const fnService = (props.taskFunction as ITaskFunction & { service?: IAsyncTaskService }).service;
  if (fnService !== undefined && fnService !== props.service) {
    problems.push(
      `taskFunction '${props.taskFunction.functionName}' is registered with the service at ${fnService.node.path}, not with the given service at ${props.service.node.path}`,
    );
  }
  return problems.filter((p): p is string => p !== undefined);
}

/** The one error of a trigger's bad props, listing every problem. */
export function triggerPropsError(scope: IConstruct, kind: string, functionName: string, problems: readonly string[]): Error {
  return validationError(
    'InvalidTaskTriggerProps',
    `Invalid props for ${kind} trigger of task function '${functionName}' (${scope.node.path}):\n  - ${problems.join('\n  - ')}`,
    scope,
  );
}

/** What a trigger's Lambda is made with, its props already validated. */
/** The trigger's props, with what each kind of trigger settles: mode, timeout, its description and extra environment. */
export interface TriggerFunctionOptions extends TaskTriggerProps {
  readonly mode: TriggerMode;
  readonly timeout: Duration;
  readonly description: string;
  /** Extra TRIGGER_ENV entries (SQS `taskIdSource`). */
  readonly environment?: Record<string, string>;
}

/**
 * The trigger Lambda under `scope` (id `Function`): lambda/handlers/trigger.ts with the service's
 * table, registry path and retention, and the TRIGGER_ENV of this trigger. Grants it the task
 * writes on the table, `states:StartExecution` on the task function's state machine, the
 * registry read, and (by the destination's `bind`) sending to the quarantine destination.
 */
export function createTriggerFunction(scope: Construct, options: TriggerFunctionOptions): nodejs.NodejsFunction {
  const { service, taskFunction, onFailure } = options;
  const environment: Record<string, string> = {
    [SERVICE_ENV.table]: service.table.tableName,
    [SERVICE_ENV.registryPath]: service.registryPath,
    [SERVICE_ENV.retentionSeconds]: service.retention.toSeconds().toString(),
    [TRIGGER_ENV.functionName]: taskFunction.functionName,
    [TRIGGER_ENV.mode]: options.mode,
    [TRIGGER_ENV.valueFormat]: options.valueFormat ?? 'json',
    ...(onFailure ? { [TRIGGER_ENV.failureDestination]: Stack.of(scope).toJsonString(onFailure.target) } : {}),
    ...options.environment,
  };
  const fn = serviceHandlerFunction(scope, 'Function', {
    entry: 'trigger.ts',
    description: options.description,
    timeout: options.timeout,
    environment,
    logLevel: options.logLevel,
  });
  if (options.memorySize !== undefined) {
    (fn.node.defaultChild as lambda.CfnFunction).memorySize = options.memorySize;
  }

  fn.addToRolePolicy(new iam.PolicyStatement({ actions: [...TRIGGER_TABLE_ACTIONS], resources: [service.table.tableArn] }));
  // By name, not by reference: the trigger may be in the service's stack while the function is
  // in a team stack (or the reverse), and a reference would make the two stacks depend on each other.
  const machineArn = Stack.of(taskFunction).formatArn({
    service: 'states',
    resource: 'stateMachine',
    resourceName: taskStateMachineName(service.serviceName, taskFunction.functionName),
    arnFormat: ArnFormat.COLON_RESOURCE_NAME,
  });
  fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['states:StartExecution'], resources: [machineArn] }));
  grantRegistryRead(fn, service.registryPath);
  onFailure?.bind(scope, { senders: [fn.role as iam.IRole], grantName: `Trigger${Names.uniqueId(scope)}` });

  acknowledgeWildcardResources(
    fn,
    'Wildcards only in resources, never in actions: a secret read by partial ARN (-??????), and the EC2 network-interface actions Lambda needs to poll a cluster in a VPC, which IAM only grants on *',
  );
  return fn;
}
