/**
 * A task function whose attempts run on a Lambda function (any runtime), for work under
 * 15 minutes. `standard` orchestration: the state machine marks the task Running, invokes the
 * function with the task's payload, and stores its return value as the result. `economy`: Lambda's
 * own asynchronous invocation of the function, whose wrapped handler (`taskHandler`) writes
 * Running and the ending, with the service's finalizer as its `onFailure` destination
 * (docs/design.md, "Orchestration modes").
 */
import { ArnFormat, type Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import type { Construct } from 'constructs';
import { ASYNC_CONFIG_BOUNDS } from '../lambda/model/config';
import { ECONOMY_BOUNDS, type ModeBounds, ORCHESTRATIONS, type Orchestration } from '../lambda/model/orchestration';
import type { TaskComputeDescriptor } from '../lambda/model/registry';
import type { ITaskRunner, TaskRunnerBindOptions, TaskRunnerConfig } from './interfaces';
import { TaskFunction, type TaskFunctionProps } from './task-function';

export interface LambdaTaskFunctionProps extends TaskFunctionProps {
  /**
   * The function that runs each attempt: its event is the task payload, its return value the
   * result. Its own timeout should not be shorter than `timeout`.
   */
  readonly lambdaFunction: lambda.IFunction;
  /**
   * How tasks are orchestrated: `standard` — a Standard state machine (retries 0–8 with your
   * backoff, event age up to 7 days, `maxConcurrency`, ≈ $108 per million tasks); `economy` —
   * Lambda's asynchronous invocation of the function (retries 0–2 with Lambda's backoff, event
   * age 60 s–6 h, no `maxConcurrency`, a running attempt cannot be interrupted, ≈ $4 per million
   * tasks); its handler must be wrapped with `taskHandler`. Props the mode cannot honour fail at
   * synth. Tasks in flight finish under the mode they started with.
   * @default 'standard'
   */
  readonly orchestration?: Orchestration;
}

/**
 * Memory and architecture of a function defined in the app, for the cost estimate; an imported
 * function's are unknown (the estimate then says what it assumed).
 */
function lambdaCompute(fn: lambda.IFunction): TaskComputeDescriptor | undefined {
  if (!(fn instanceof lambda.Function)) return undefined;
  const cfn = fn.node.defaultChild as lambda.CfnFunction;
  const memory = cfn.memorySize;
  return {
    // Lambda's default when the function sets none.
    memoryMiB: memory === undefined ? 128 : memory,
    architecture: fn.architecture.name === lambda.Architecture.ARM_64.name ? 'arm64' : 'x86_64',
  };
}

/**
 * What keeps a function defined in the app from running economy tasks: a runtime other than
 * Node.js (the handler wrapper `taskHandler` is a Node.js module), or an asynchronous invocation
 * config of its own (`configureAsyncInvoke`, an EventInvokeConfig: economy mode writes the
 * function's one config, and CloudFormation refuses a second). An imported function's are unknown.
 */
function economyFunctionProblems(fn: lambda.IFunction): string[] {
  if (!(fn instanceof lambda.Function)) return [];
  const problems: string[] = [];
  const runtime = fn.runtime;
  if (runtime.family !== lambda.RuntimeFamily.NODEJS) {
    problems.push(
      `orchestration 'economy' needs a Node.js function, whose handler is wrapped with taskHandler ` +
        `(given runtime ${runtime.name}); use orchestration 'standard' for other runtimes`,
    );
  }
  const own = fn.node.children.find((child) => child instanceof lambda.EventInvokeConfig || child instanceof lambda.CfnEventInvokeConfig);
  if (own) {
    problems.push(
      `orchestration 'economy' sets the function's asynchronous invocation config (retries, event age, the finalizer as onFailure), ` +
        `and the function already has one (${own.node.path}, from configureAsyncInvoke or an EventInvokeConfig): remove it and set ` +
        `maxRetryAttempts / maxEventAge on the task function instead`,
    );
  }
  return problems;
}

/** Runs each attempt by invoking a Lambda function (`timeout` at most 15 minutes, Lambda's limit). */
export class LambdaTaskRunner implements ITaskRunner {
  public readonly kind = 'lambda' as const;
  public readonly timeoutBound: ITaskRunner['timeoutBound'];
  public readonly modeBounds?: ModeBounds;

  public constructor(
    public readonly lambdaFunction: lambda.IFunction,
    public readonly orchestration: Orchestration = 'standard',
  ) {
    this.timeoutBound = ASYNC_CONFIG_BOUNDS.lambdaTimeoutSeconds;
    if (orchestration === 'economy') {
      this.modeBounds = ECONOMY_BOUNDS;
      // The attempt's limit is the function's own timeout: the default when it is known.
      const own = lambdaFunction instanceof lambda.Function ? lambdaFunction.timeout : undefined;
      if (own && !own.isUnresolved())
        this.timeoutBound = { ...this.timeoutBound, default: Math.min(own.toSeconds(), this.timeoutBound.max) };
    }
  }

  public validate(config: { readonly timeout?: Duration } = {}): string[] {
    const problems: string[] = [];
    if (!(ORCHESTRATIONS as readonly string[]).includes(this.orchestration)) {
      problems.push(`orchestration must be one of ${ORCHESTRATIONS.join(', ')} (given '${String(this.orchestration)}')`);
    }
    // Economy: Lambda's own timeout is the attempt's limit, so `timeout` may not exceed it.
    const own = this.lambdaFunction instanceof lambda.Function ? this.lambdaFunction.timeout : undefined;
    if (this.orchestration === 'economy' && config.timeout && own && !config.timeout.isUnresolved() && !own.isUnresolved()) {
      if (config.timeout.toSeconds() > own.toSeconds()) {
        problems.push(
          `timeout must be at most the Lambda function's own timeout, ${own.toSeconds()}s, in economy orchestration ` +
            `(given ${config.timeout.toSeconds()}s): Lambda's asynchronous invocation ends an attempt at the function's timeout`,
        );
      }
    }
    if (this.orchestration === 'economy') problems.push(...economyFunctionProblems(this.lambdaFunction));
    return problems;
  }

  public bind(scope: Construct, options: TaskRunnerBindOptions): TaskRunnerConfig {
    const fn = this.lambdaFunction;
    const { timeout, functionName } = options;
    if (this.orchestration === 'economy') this.bindEconomy(scope, options);
    const compute = lambdaCompute(fn);
    const descriptor = {
      ...(this.orchestration === 'economy'
        ? { orchestration: 'economy' as const, finalizerArn: options.service.finalizerFunction.functionArn }
        : {}),
      ...(compute ? { compute } : {}),
    };
    return {
      ...(Object.keys(descriptor).length > 0 ? { descriptor } : {}),
      runnerArn: fn.functionArn,
      // Where Lambda writes unless the function sets its own log group.
      logGroupName: `/aws/lambda/${fn.functionName}`,
      metricRunning: fn.metric('ConcurrentExecutions', { statistic: 'Maximum', label: `${functionName} running` }),
      definition: {
        kind: 'lambda',
        runnerArn: fn.functionArn,
        runnerIdPath: '$.result.requestId',
        invalidErrors: ['Lambda.ResourceNotFoundException'],
        buildRun: (stateScope, stateId) =>
          new tasks.LambdaInvoke(stateScope, stateId, {
            lambdaFunction: fn,
            payload: sfn.TaskInput.fromJsonPathAt('$.task.payload'),
            payloadResponseOnly: false,
            // Every failure, service errors included, goes through the task's own retry loop so
            // that attempts, Retrying and alreadyRetriedTimes stay exact.
            retryOnServiceExceptions: false,
            taskTimeout: sfn.Timeout.duration(timeout),
            resultSelector: {
              payload: sfn.JsonPath.objectAt('$.Payload'),
              requestId: sfn.JsonPath.stringAt('$.SdkResponseMetadata.RequestId'),
            },
            resultPath: '$.result',
          }),
      },
    };
  }

  /**
   * Economy: the function's asynchronous invocation config (retries, event age, the finalizer as
   * `onFailure`), what its wrapper needs (the table's UpdateItem, the success destination, the
   * finalizer — granted by the destination binding), and the service's right to invoke it,
   * granted on the function (a resource policy naming the roles), in the function's stack.
   */
  private bindEconomy(scope: Construct, options: TaskRunnerBindOptions): void {
    const fn = this.lambdaFunction;
    const { service } = options;
    // Also at synth: a config added to the function after the task function was made.
    scope.node.addValidation({ validate: () => economyFunctionProblems(fn) });
    // The L1, so that an imported function without a role gets it too (Lambda delivers to the
    // destination with the function's execution role: grant it `lambda:InvokeFunction` on the
    // finalizer yourself then, with the table and success-destination rights below).
    new lambda.CfnEventInvokeConfig(scope, 'EconomyInvokeConfig', {
      functionName: fn.functionName,
      qualifier: '$LATEST',
      maximumRetryAttempts: options.maxRetryAttempts,
      maximumEventAgeInSeconds: options.maxEventAge.toSeconds(),
      destinationConfig: { onFailure: { destination: service.finalizerFunction.functionArn } },
    });
    if (fn.role) {
      // The finalizer itself, not `<arn>:*` (grantInvoke's versions wildcard: a cdk-nag IAM5 finding).
      fn.role.addToPrincipalPolicy(
        new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [service.finalizerFunction.functionArn] }),
      );
      fn.role.addToPrincipalPolicy(
        new iam.PolicyStatement({ actions: ['dynamodb:UpdateItem', 'dynamodb:GetItem'], resources: [service.table.tableArn] }),
      );
      options.onSuccess?.bind(scope, { senders: [fn.role], grantName: `${options.functionName.replace(/[^A-Za-z0-9_]/g, '_')}_wrapper` });
    }
    service.economyInvokers.forEach((role, i) => {
      new lambda.CfnPermission(scope, `EconomyInvoker${i}`, {
        action: 'lambda:InvokeFunction',
        functionName: fn.functionArn,
        principal: role.roleArn,
      });
    });
  }
}

/** Runs each task on a Lambda function. `timeout` is at most 15 minutes (Lambda's limit). */
export class LambdaTaskFunction extends TaskFunction {
  public readonly lambdaFunction: lambda.IFunction;
  /** How new tasks are orchestrated. */
  public readonly orchestration: Orchestration;
  /** ARN of the runner's log group, `/aws/lambda/<function name>`. */
  public readonly logGroupArn: string;

  public constructor(scope: Construct, id: string, props: LambdaTaskFunctionProps) {
    super(scope, id, { ...props, runner: new LambdaTaskRunner(props.lambdaFunction, props.orchestration) });
    this.lambdaFunction = props.lambdaFunction;
    this.orchestration = props.orchestration ?? 'standard';
    this.logGroupArn = Stack.of(this).formatArn({
      service: 'logs',
      resource: 'log-group',
      resourceName: this.logGroupName,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
  }
}
