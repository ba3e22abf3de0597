/**
 * A task function whose attempts run on a Lambda function (any runtime), for work under
 * 15 minutes: the state machine marks the task Running, invokes the function with the task's
 * payload, and stores its return value as the result.
 */
import { ArnFormat, Stack } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import type { Construct } from 'constructs';
import { ASYNC_CONFIG_BOUNDS } from '../lambda/model/config';
import { TaskFunction, type TaskFunctionProps } from './task-function';

export interface LambdaTaskFunctionProps extends TaskFunctionProps {
  /**
   * The function that runs each attempt: its event is the task payload, its return value the
   * result. Its own timeout should not be shorter than `timeout`.
   */
  readonly lambdaFunction: lambda.IFunction;
}

/** Runs each task on a Lambda function. `timeout` is at most 15 minutes (Lambda's limit). */
export class LambdaTaskFunction extends TaskFunction {
  public readonly lambdaFunction: lambda.IFunction;
  public readonly runnerArn: string;
  /** `/aws/lambda/<function name>`: where Lambda writes unless the function sets its own log group. */
  public readonly logGroupName: string;
  public readonly logGroupArn: string;

  public constructor(scope: Construct, id: string, props: LambdaTaskFunctionProps) {
    super(scope, id, props, { kind: 'lambda', timeoutBound: ASYNC_CONFIG_BOUNDS.lambdaTimeoutSeconds });
    this.lambdaFunction = props.lambdaFunction;
    this.runnerArn = props.lambdaFunction.functionArn;
    this.logGroupName = `/aws/lambda/${props.lambdaFunction.functionName}`;
    this.logGroupArn = Stack.of(this).formatArn({
      service: 'logs',
      resource: 'log-group',
      resourceName: this.logGroupName,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });

    const fn = props.lambdaFunction;
    const timeout = this.timeout;
    this.finish({
      kind: 'lambda',
      runnerArn: this.runnerArn,
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
    });
  }

  public metricRunning(): cloudwatch.IMetric {
    return this.lambdaFunction.metric('ConcurrentExecutions', { statistic: 'Maximum', label: `${this.functionName} running` });
  }
}
