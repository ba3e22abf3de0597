/**
 * What every task function shares: FC's async config (retries, event age, timeout, concurrency,
 * backoff, destinations), its validation at synth, the state machine, and its registration with
 * the AsyncTaskService. The runner (where an attempt runs) is an `ITaskRunner` the function binds
 * once its props are valid; `LambdaTaskFunction` and `ContainerTaskFunction` pass theirs.
 */
import { Duration, Lazy, Stack, Token } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as iam from 'aws-cdk-lib/aws-iam';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { ASYNC_CONFIG_BOUNDS, checkRange, type NumericBound, retryDelays } from '../lambda/model/config';
import { TASK_API_ACCESS } from '../lambda/model/http';
import {
  registryParameterName,
  STATE_MACHINE_NAME_MAX_LENGTH,
  type TaskFunctionDescriptor,
  type TaskFunctionKind,
  taskStateMachineName,
} from '../lambda/model/registry';
import type { TriggerSummary } from '../lambda/model/trigger';
import type { ITaskDestination } from './destinations';
import { validationError } from './errors';
import type { IAsyncTaskService, ITaskFunction, ITaskRunner, TaskRunnerConfig } from './interfaces';
import { acknowledge, acknowledgeWildcardResources } from './nag';
import { TaskStateMachine } from './state-machine';

/** Task function names: the tasks table's partition key, so `#` (the key separator) is excluded. */
export const FUNCTION_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_-]{0,63}$/;

/** Async config and identity shared by both kinds of task function. */
export interface TaskFunctionProps {
  /** The service that stores, runs and lists this function's tasks; it may live in another stack of the app. */
  readonly service: IAsyncTaskService;
  /**
   * Name of the task function: what callers submit to and list by.
   * 1–64 characters: a letter or `_`, then letters, digits, `_` or `-`; with the service name
   * and a `-`, at most 80 (it names the state machine `<serviceName>-<functionName>`).
   * @default - the construct id
   */
  readonly functionName?: string;
  /**
   * Shown by the `functions` operation.
   * @default - no description
   */
  readonly description?: string;
  /**
   * Retries after a failed attempt, 0–8.
   * @default 3
   */
  readonly maxRetryAttempts?: number;
  /**
   * How long a task may wait before an attempt starts (retries count against it), 1 s–7 days.
   * A task whose attempt has not started by then ends `Expired`.
   * @default Duration.hours(24)
   */
  readonly maxEventAge?: Duration;
  /**
   * Limit of one attempt.
   * @default - 15 minutes for Lambda tasks, 1 hour for container tasks
   */
  readonly timeout?: Duration;
  /**
   * Most tasks of this function running at once (1–10000); the others wait `Enqueued`.
   * @default - no limit (no concurrency slot is acquired, which saves 3 state transitions per task)
   */
  readonly maxConcurrency?: number;
  /**
   * Backoff before the first retry, 1 s–1 h; multiplied by `retryBackoffRate` for each further one.
   * @default Duration.seconds(10)
   */
  readonly retryDelay?: Duration;
  /**
   * Multiplier of the backoff between retries, 1–10.
   * @default 2
   */
  readonly retryBackoffRate?: number;
  /**
   * With `maxConcurrency`: how often a waiting task checks for a free slot, 1 s–1 h.
   * @default Duration.seconds(10)
   */
  readonly slotPollInterval?: Duration;
  /**
   * Where the record of a succeeded task goes.
   * @default - no success destination
   */
  readonly onSuccess?: ITaskDestination;
  /**
   * Where the record of a failed, stopped, expired or invalid task goes (a dead-letter queue).
   * @default - no failure destination
   */
  readonly onFailure?: ITaskDestination;
}

/** A task function's props with the runner its attempts run on. */
export interface TaskFunctionWithRunnerProps extends TaskFunctionProps {
  /** Where attempts run: bound by the function once its props are valid. */
  readonly runner: ITaskRunner;
}

/** Seconds of a Duration, or undefined when it is a token (checked at deploy instead). */
function seconds(duration: Duration | undefined): number | undefined {
  if (duration === undefined || duration.isUnresolved()) return undefined;
  return duration.toSeconds({ integral: false });
}

function numberOrUndefined(value: number | undefined): number | undefined {
  return value === undefined || Token.isUnresolved(value) ? undefined : value;
}

/** `checkRange` for a prop that may be fractional (same message shape). */
function checkReal(prop: string, value: number | undefined, bound: NumericBound): string | undefined {
  if (value === undefined) return undefined;
  if (!Number.isFinite(value) || value < bound.min || value > bound.max) {
    return `${prop} must be between ${bound.min} and ${bound.max} inclusive (given ${value})`;
  }
  return undefined;
}

/** Checks a Duration prop in whole seconds against a bound, naming it in the message. */
function checkSeconds(prop: string, duration: Duration | undefined, bound: NumericBound): string | undefined {
  const value = seconds(duration);
  if (value === undefined) return undefined;
  const range = checkRange(prop, value, bound, 's');
  if (range) return range;
  if (!Number.isInteger(value)) return `${prop} must be a whole number of seconds (given ${value}s)`;
  return undefined;
}

/**
 * A task function: its async config, its Standard state machine (named
 * `<serviceName>-<functionName>`, which the service's grants and finalizer rule match by prefix)
 * and its entry in the service's registry. Every prop problem is reported in one
 * `ValidationError` before any resource is made.
 */
export class TaskFunction extends Construct implements ITaskFunction {
  public readonly functionName: string;
  public readonly kind: TaskFunctionKind;
  public readonly service: IAsyncTaskService;
  public readonly maxRetryAttempts: number;
  public readonly maxEventAge: Duration;
  public readonly timeout: Duration;
  public readonly maxConcurrency?: number;
  public readonly retryDelay: Duration;
  public readonly retryBackoffRate: number;
  public readonly slotPollInterval: Duration;
  public readonly onSuccess?: ITaskDestination;
  public readonly onFailure?: ITaskDestination;
  public readonly description?: string;
  /** The function's Standard state machine. */
  public readonly stateMachine: sfn.StateMachine;
  /** `<serviceName>-<functionName>`. */
  public readonly stateMachineName: string;
  /** This function's entry in the service's registry (an SSM parameter written by this function's stack). */
  public readonly registration: ssm.StringParameter;
  /** ARN of the runner: the destination record's `functionArn`. */
  public readonly runnerArn: string;
  /** Log group the runner writes to (TaskApi `logs` reads it). */
  public readonly logGroupName: string;

  private readonly runnerConfig: TaskRunnerConfig;
  private readonly triggers: TriggerSummary[] = [];

  public constructor(scope: Construct, id: string, props: TaskFunctionWithRunnerProps) {
    super(scope, id);
    const b = ASYNC_CONFIG_BOUNDS;
    const runner = props.runner;
    this.kind = runner.kind;
    this.service = props.service;
    this.functionName = props.functionName ?? id;
    const problems: string[] = [];
    if (!Token.isUnresolved(this.functionName) && !FUNCTION_NAME_PATTERN.test(this.functionName)) {
      problems.push(
        `functionName must be 1-64 characters, first a letter or underscore, then letters, digits, '_' or '-' (given '${this.functionName}')`,
      );
    }
    this.stateMachineName = taskStateMachineName(this.service.serviceName, this.functionName);
    const serviceName = this.service.serviceName;
    if (
      !Token.isUnresolved(serviceName) &&
      !Token.isUnresolved(this.functionName) &&
      this.stateMachineName.length > STATE_MACHINE_NAME_MAX_LENGTH
    ) {
      problems.push(
        `functionName '${this.functionName}' (${this.functionName.length} characters) with serviceName '${serviceName}' ` +
          `(${serviceName.length} characters) makes the state machine name '${this.stateMachineName}' ` +
          `${this.stateMachineName.length} characters long; Step Functions allows at most ${STATE_MACHINE_NAME_MAX_LENGTH}, ` +
          `so functions of this service may have names of at most ${STATE_MACHINE_NAME_MAX_LENGTH - serviceName.length - 1} characters`,
      );
    }
    const ranges = [
      checkRange('maxRetryAttempts', numberOrUndefined(props.maxRetryAttempts), b.maxRetryAttempts),
      checkSeconds('maxEventAge', props.maxEventAge, b.maxEventAgeSeconds),
      checkSeconds('timeout', props.timeout, runner.timeoutBound),
      checkRange('maxConcurrency', numberOrUndefined(props.maxConcurrency), b.maxConcurrency),
      checkSeconds('retryDelay', props.retryDelay, b.retryDelaySeconds),
      checkReal('retryBackoffRate', numberOrUndefined(props.retryBackoffRate), b.retryBackoffRate),
      checkSeconds('slotPollInterval', props.slotPollInterval, { min: 1, max: 3600 }),
    ];
    problems.push(...ranges.filter((p): p is string => p !== undefined));
    // These shape the definition (retry choice, delay list, execution timeout), so a token
    // cannot be deferred to deploy time; maxConcurrency and slotPollInterval can.
    const shaping: Array<[string, number | Duration | undefined]> = [
      ['maxRetryAttempts', props.maxRetryAttempts],
      ['maxEventAge', props.maxEventAge],
      ['timeout', props.timeout],
      ['retryDelay', props.retryDelay],
      ['retryBackoffRate', props.retryBackoffRate],
    ];
    for (const [prop, value] of shaping) {
      const unresolved = value instanceof Duration ? value.isUnresolved() : value !== undefined && Token.isUnresolved(value);
      if (unresolved) problems.push(`${prop} must be known at synth, it shapes the state machine (given a token)`);
    }
    problems.push(...runner.validate());
    if (problems.length > 0) {
      throw validationError(
        'InvalidTaskFunctionProps',
        `Invalid props for task function '${this.functionName}' (${this.node.path}):\n  - ${problems.join('\n  - ')}`,
        this,
      );
    }

    this.maxRetryAttempts = props.maxRetryAttempts ?? b.maxRetryAttempts.default;
    this.maxEventAge = props.maxEventAge ?? Duration.seconds(b.maxEventAgeSeconds.default);
    this.timeout = props.timeout ?? Duration.seconds(runner.timeoutBound.default);
    this.maxConcurrency = props.maxConcurrency;
    this.retryDelay = props.retryDelay ?? Duration.seconds(b.retryDelaySeconds.default);
    this.retryBackoffRate = props.retryBackoffRate ?? b.retryBackoffRate.default;
    this.slotPollInterval = props.slotPollInterval ?? Duration.seconds(10);
    this.onSuccess = props.onSuccess;
    this.onFailure = props.onFailure;
    this.description = props.description;

    this.runnerConfig = runner.bind(this, { service: this.service, functionName: this.functionName, timeout: this.timeout });
    this.runnerArn = this.runnerConfig.runnerArn;
    this.logGroupName = this.runnerConfig.logGroupName;

    const machine = new TaskStateMachine(this, 'StateMachine', {
      functionName: this.functionName,
      stateMachineName: this.stateMachineName,
      table: this.service.table,
      runner: this.runnerConfig.definition,
      maxRetryAttempts: this.maxRetryAttempts,
      retryDelays: this.retryDelays,
      timeout: this.timeout,
      maxEventAge: this.maxEventAge,
      maxConcurrency: this.maxConcurrency,
      slotPollInterval: this.slotPollInterval,
      onSuccess: this.onSuccess,
    });
    this.stateMachine = machine.stateMachine;
    acknowledge(this.stateMachine, {
      id: 'AwsSolutions-SF1',
      reason:
        'Logs ERROR level only: every lifecycle step is already recorded in the task record and ALL-level logging would cost more than the transitions themselves.',
    });
    acknowledgeWildcardResources(
      this.stateMachine,
      'No wildcard actions. Resource wildcards: X-Ray and CloudWatch Logs delivery require "*"; results/* is the results prefix; the ECS .sync integration needs its managed rule and task ARNs.',
    );

    this.registration = new ssm.StringParameter(this, 'Registration', {
      parameterName: registryParameterName(this.service.serviceName, this.functionName),
      description: `asynctask task function '${this.functionName}'`,
      // Rendered at synth, so that the triggers made after the function are in it.
      stringValue: Lazy.string({ produce: () => Stack.of(this).toJsonString(this.descriptor()) }),
    });
    this.service.register(this);
  }

  /** Backoff delays in seconds before each retry (index 0 = first retry). */
  public get retryDelays(): number[] {
    return retryDelays(this.maxRetryAttempts, this.retryDelay.toSeconds(), this.retryBackoffRate);
  }

  /** Lists a trigger feeding this function in its registry descriptor (called by the trigger constructs). */
  public addTrigger(trigger: TriggerSummary): void {
    this.triggers.push(trigger);
  }

  /**
   * Lets `grantee` submit tasks to this function: `execute-api:Invoke` on
   * `POST /functions/<name>/tasks` of the service's task API.
   */
  public grantSubmit(grantee: iam.IGrantable): iam.Grant {
    return this.service.grantTaskApiAccess(grantee, ['submit'], this.functionName);
  }

  /**
   * Lets `grantee` read this function's tasks: `GET /functions/<name>/tasks` (list),
   * `.../tasks/*` (get, and logs: IAM's `*` spans `/`) and `.../stats`. The function list
   * (`GET /functions`, the SDK's `functions()`) needs the service's `grantRead`.
   */
  public grantRead(grantee: iam.IGrantable): iam.Grant {
    return this.service.grantTaskApiAccess(grantee, ['read'], this.functionName);
  }

  /** Lets `grantee` stop, retry and exec into this function's tasks: `POST .../tasks/*\/stop`, `/retry`, `/exec`. */
  public grantOperate(grantee: iam.IGrantable): iam.Grant {
    return this.service.grantTaskApiAccess(grantee, ['operate'], this.functionName);
  }

  /** Every route of this function: `grantSubmit`, `grantRead` and `grantOperate` in one statement. */
  public grantFullAccess(grantee: iam.IGrantable): iam.Grant {
    return this.service.grantTaskApiAccess(grantee, TASK_API_ACCESS, this.functionName);
  }

  /** Metric of attempts running now, for the dashboard. */
  public metricRunning(): cloudwatch.IMetric {
    return this.runnerConfig.metricRunning;
  }

  /** The descriptor the service's registry holds for this function. */
  public descriptor(): TaskFunctionDescriptor {
    return {
      name: this.functionName,
      kind: this.kind,
      stateMachineArn: this.stateMachine.stateMachineArn,
      runnerArn: this.runnerArn,
      maxRetryAttempts: this.maxRetryAttempts,
      maxEventAgeSeconds: this.maxEventAge.toSeconds(),
      timeoutSeconds: this.timeout.toSeconds(),
      ...(this.maxConcurrency !== undefined ? { maxConcurrency: this.maxConcurrency } : {}),
      ...(this.onSuccess ? { onSuccess: this.onSuccess.target } : {}),
      ...(this.onFailure ? { onFailure: this.onFailure.target } : {}),
      logGroupName: this.logGroupName,
      ...this.runnerConfig.descriptor,
      ...(this.description !== undefined ? { description: this.description } : {}),
      ...(this.triggers.length > 0 ? { triggers: [...this.triggers] } : {}),
    };
  }
}
