/**
 * A task function whose attempts run on a Lambda function (any runtime), for work under
 * 15 minutes: the state machine marks the task Running, invokes the function with the task's
 * payload, and stores its return value as the result.
 */
import { ArnFormat, Stack } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import type { Construct } from 'constructs';
import { ASYNC_CONFIG_BOUNDS } from '../lambda/model/config';
import type { TaskComputeDescriptor } from '../lambda/model/registry';
import type { ITaskRunner, TaskRunnerBindOptions, TaskRunnerConfig } from './interfaces';
import { TaskFunction, type TaskFunctionProps } from './task-function';

export interface LambdaTaskFunctionProps extends TaskFunctionProps {
  /**
   * The function that runs each attempt: its event is the task payload, its return value the
   * result. Its own timeout should not be shorter than `timeout`.
   */
  readonly lambdaFunction: lambda.IFunction;
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

/** Runs each attempt by invoking a Lambda function (`timeout` at most 15 minutes, Lambda's limit). */
export class LambdaTaskRunner implements ITaskRunner {
  public readonly kind = 'lambda' as const;
  public readonly timeoutBound = ASYNC_CONFIG_BOUNDS.lambdaTimeoutSeconds;

  public constructor(public readonly lambdaFunction: lambda.IFunction) {}

  public validate(): string[] {
    return [];
  }

  public bind(_scope: Construct, options: TaskRunnerBindOptions): TaskRunnerConfig {
    const fn = this.lambdaFunction;
    const { timeout, functionName } = options;
    const compute = lambdaCompute(fn);
    return {
      runnerArn: fn.functionArn,
      // Where Lambda writes unless the function sets its own log group.
      logGroupName: `/aws/lambda/${fn.functionName}`,
      metricRunning: fn.metric('ConcurrentExecutions', { statistic: 'Maximum', label: `${functionName} running` }),
      ...(compute ? { descriptor: { compute } } : {}),
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
}

/** Runs each task on a Lambda function. `timeout` is at most 15 minutes (Lambda's limit). */
export class LambdaTaskFunction extends TaskFunction {
  public readonly lambdaFunction: lambda.IFunction;
  /** ARN of the runner's log group, `/aws/lambda/<function name>`. */
  public readonly logGroupArn: string;

  public constructor(scope: Construct, id: string, props: LambdaTaskFunctionProps) {
    super(scope, id, { ...props, runner: new LambdaTaskRunner(props.lambdaFunction) });
    this.lambdaFunction = props.lambdaFunction;
    this.logGroupArn = Stack.of(this).formatArn({
      service: 'logs',
      resource: 'log-group',
      resourceName: this.logGroupName,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
  }
}
