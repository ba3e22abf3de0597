/**
 * The small interfaces the constructs meet through, so that none imports another's class: the
 * service takes any `ITaskFunction`, a task function any `IAsyncTaskService`, and a task
 * function's runner (Lambda, container, or your own) plugs in as an `ITaskRunner` that the
 * function binds once its props are valid — as aws-cdk's `EcsRunTask` binds an
 * `IEcsLaunchTarget`.
 */
import type { Duration } from 'aws-cdk-lib';
import type * as apigateway from 'aws-cdk-lib/aws-apigateway';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type * as ssm from 'aws-cdk-lib/aws-ssm';
import type { Construct, IConstruct } from 'constructs';
import type { NumericBound } from '../lambda/model/config';
import type { TaskApiAccess } from '../lambda/model/http';
import type { TaskFunctionDescriptor, TaskFunctionKind } from '../lambda/model/registry';
import type { TriggerSummary } from '../lambda/model/trigger';
import type { ITaskDestination } from './destinations';
import type { RunnerDefinition } from './state-machine';

/** What the service needs of a task function to run, watch and finalize its tasks. */
export interface ITaskFunction extends IConstruct {
  /** What callers submit to and list by; unique in its service. */
  readonly functionName: string;
  readonly kind: TaskFunctionKind;
  /** The function's Standard state machine, named `<serviceName>-<functionName>`. */
  readonly stateMachine: sfn.IStateMachine;
  /** Its entry in the service's registry: an SSM parameter in the function's stack. */
  readonly registration: ssm.IStringParameter;
  readonly onSuccess?: ITaskDestination;
  readonly onFailure?: ITaskDestination;
  /** Log group the runner writes to (TaskApi `logs` reads it). */
  readonly logGroupName: string;
  /** Attempts running now. */
  metricRunning(): cloudwatch.IMetric;
  /** What the registry says about the function. */
  descriptor(): TaskFunctionDescriptor;
  /**
   * Lists a trigger that feeds the function in its registry descriptor (the `functions`
   * operation shows it). The trigger constructs call it; a trigger made after the function is
   * included, the descriptor being rendered at synth.
   */
  addTrigger(trigger: TriggerSummary): void;
  /** Lets `grantee` submit tasks to this function (`POST /functions/<name>/tasks`). */
  grantSubmit(grantee: iam.IGrantable): iam.Grant;
  /**
   * Lets `grantee` list this function's tasks, get one, read its logs and the function's stats
   * (`GET /functions/<name>/tasks`, `.../tasks/*`, `.../stats`). Not the function list
   * (`GET /functions`): that is the service's `grantRead`.
   */
  grantRead(grantee: iam.IGrantable): iam.Grant;
  /** Lets `grantee` stop, retry and exec into this function's tasks (`POST .../tasks/*\/stop`, `/retry`, `/exec`). */
  grantOperate(grantee: iam.IGrantable): iam.Grant;
  /** `grantSubmit`, `grantRead` and `grantOperate` in one statement. */
  grantFullAccess(grantee: iam.IGrantable): iam.Grant;
}

/** What a task function needs of the service it registers with. */
export interface IAsyncTaskService extends IConstruct {
  /** Prefix of the function's state machine name, log group and registry parameter. */
  readonly serviceName: string;
  /** SSM path of the task function registry, ending in `/` (`/asynctask/<serviceName>/functions/`). */
  readonly registryPath: string;
  /** How long a task record is kept after submit (what its writers set its TTL from). */
  readonly retention: Duration;
  /** The tasks table the state machine writes statuses to. */
  readonly table: dynamodb.ITable;
  /** Where container runners write results. */
  readonly resultsBucket: s3.IBucket;
  /** VPC of container functions that give none. */
  readonly defaultVpc: ec2.IVpc;
  /** The task API (API Gateway REST API, `AWS_IAM` on every route) in front of the TaskApi. */
  readonly httpApi: apigateway.IRestApi;
  /** The task API's stage URL. */
  readonly taskApiUrl: string;
  /**
   * Lets `grantee` call the task API routes of `access` for `functionName`, or for every
   * function (and, with `read`, the function list) when none is given: `execute-api:Invoke` on
   * exactly those routes. What a task function's `grant*` methods call.
   */
  grantTaskApiAccess(grantee: iam.IGrantable, access: readonly TaskApiAccess[], functionName?: string): iam.Grant;
  /** Submit to every function of the service. */
  grantSubmit(grantee: iam.IGrantable): iam.Grant;
  /** The function list, and the tasks, logs and stats of every function. */
  grantRead(grantee: iam.IGrantable): iam.Grant;
  /** Stop, retry and exec of every function's tasks. */
  grantOperate(grantee: iam.IGrantable): iam.Grant;
  /** Every route of the task API. */
  grantFullAccess(grantee: iam.IGrantable): iam.Grant;
  /**
   * Adds a function: grants its failure destination to the service's roles, adds its dashboard
   * row and alarms (in the function's stack). Called by the task function's constructor.
   */
  register(fn: ITaskFunction): void;
}

/** What a runner is bound with. */
export interface TaskRunnerBindOptions {
  readonly service: IAsyncTaskService;
  readonly functionName: string;
  /** Limit of one attempt, validated against the runner's `timeoutBound`. */
  readonly timeout: Duration;
}

/** What a bound runner gives the task function. */
export interface TaskRunnerConfig {
  /** How the state machine runs an attempt. */
  readonly definition: RunnerDefinition;
  /** ARN of the runner: the destination record's `functionArn`. */
  readonly runnerArn: string;
  /** Log group the runner writes to. */
  readonly logGroupName: string;
  /** Attempts running now, for the dashboard. */
  readonly metricRunning: cloudwatch.IMetric;
  /**
   * Kind-specific descriptor fields.
   * @default - none
   */
  readonly descriptor?: Partial<TaskFunctionDescriptor>;
}

/** Where a task function's attempts run: a seam for Lambda, Fargate or your own runner. */
export interface ITaskRunner {
  readonly kind: TaskFunctionKind;
  /** Allowed `timeout` in seconds, and its default. */
  readonly timeoutBound: NumericBound & { readonly default: number };
  /** Problems with the runner's own props, each "what, the value, what is allowed". */
  validate(): string[];
  /** Creates the runner's resources under `scope` (the task function); called once, after validation. */
  bind(scope: Construct, options: TaskRunnerBindOptions): TaskRunnerConfig;
}
