/**
 * Success and failure destinations of a task function (FC's `onSuccess` / `onFailure`): an SQS
 * queue, SNS topic, EventBridge bus or Lambda function. Each destination knows the
 * `DestinationTarget` the finalizer delivers to at run time, grants that right to a principal,
 * and builds the Step Functions state that delivers a success record from the state machine.
 */
import type * as events from 'aws-cdk-lib/aws-events';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import type { Construct } from 'constructs';
import {
  DESTINATION_DETAIL_TYPE,
  DESTINATION_EVENT_SOURCE,
  type DestinationTarget,
  DestinationType,
} from '../lambda/model/destination';

/** Which record a delivery state sends: it decides the EventBridge detail-type. */
export type DeliveryOutcome = 'success' | 'failure';

export interface DeliveryStateOptions {
  /** The destination record, as an object whose values may be JSONPath tokens. */
  readonly record: Record<string, unknown>;
  readonly outcome: DeliveryOutcome;
}

/** Where a task function's destination records go. */
export interface ITaskDestination {
  /** What the finalizer and reconciler read from the registry to deliver at run time. */
  readonly target: DestinationTarget;
  /** Grants `grantee` the right to deliver a record here. */
  grantSend(grantee: iam.IGrantable): void;
  /**
   * Builds the state that delivers `record` (its result is discarded by the caller). The state
   * grants its own role what it needs.
   */
  deliveryState(scope: Construct, id: string, options: DeliveryStateOptions): sfn.TaskStateBase;
}

/** Sends each record as the body of an SQS message (a dead-letter queue for `onFailure`). */
export class SqsDestination implements ITaskDestination {
  public readonly target: DestinationTarget;

  public constructor(public readonly queue: sqs.IQueue) {
    this.target = { type: DestinationType.Sqs, arn: queue.queueArn, url: queue.queueUrl };
  }

  public grantSend(grantee: iam.IGrantable): void {
    this.queue.grantSendMessages(grantee);
  }

  public deliveryState(scope: Construct, id: string, options: DeliveryStateOptions): sfn.TaskStateBase {
    return new tasks.SqsSendMessage(scope, id, {
      queue: this.queue,
      messageBody: sfn.TaskInput.fromObject(options.record),
      resultPath: sfn.JsonPath.DISCARD,
    });
  }
}

/** Publishes each record as the message of an SNS topic. */
export class SnsDestination implements ITaskDestination {
  public readonly target: DestinationTarget;

  public constructor(public readonly topic: sns.ITopic) {
    this.target = { type: DestinationType.Sns, arn: topic.topicArn };
  }

  public grantSend(grantee: iam.IGrantable): void {
    this.topic.grantPublish(grantee);
  }

  public deliveryState(scope: Construct, id: string, options: DeliveryStateOptions): sfn.TaskStateBase {
    return new tasks.SnsPublish(scope, id, {
      topic: this.topic,
      message: sfn.TaskInput.fromObject(options.record),
      resultPath: sfn.JsonPath.DISCARD,
    });
  }
}

/**
 * Puts each record as the `detail` of an event on a bus, with source `asynctask` and
 * detail-type `Task Invocation Result - Success|Failure` (Lambda destinations use the same idea).
 */
export class EventBridgeDestination implements ITaskDestination {
  public readonly target: DestinationTarget;

  public constructor(public readonly eventBus: events.IEventBus) {
    this.target = { type: DestinationType.EventBridge, arn: eventBus.eventBusArn };
  }

  public grantSend(grantee: iam.IGrantable): void {
    this.eventBus.grantPutEventsTo(grantee);
  }

  public deliveryState(scope: Construct, id: string, options: DeliveryStateOptions): sfn.TaskStateBase {
    return new tasks.EventBridgePutEvents(scope, id, {
      entries: [
        {
          eventBus: this.eventBus,
          source: DESTINATION_EVENT_SOURCE,
          detailType: DESTINATION_DETAIL_TYPE[options.outcome],
          detail: sfn.TaskInput.fromObject(options.record),
        },
      ],
      resultPath: sfn.JsonPath.DISCARD,
    });
  }
}

/** Invokes a Lambda function asynchronously (`Event`) with the record as its event. */
export class LambdaDestination implements ITaskDestination {
  public readonly target: DestinationTarget;

  public constructor(public readonly fn: lambda.IFunction) {
    this.target = { type: DestinationType.Lambda, arn: fn.functionArn };
  }

  public grantSend(grantee: iam.IGrantable): void {
    this.fn.grantInvoke(grantee);
  }

  public deliveryState(scope: Construct, id: string, options: DeliveryStateOptions): sfn.TaskStateBase {
    return new tasks.LambdaInvoke(scope, id, {
      lambdaFunction: this.fn,
      invocationType: tasks.LambdaInvocationType.EVENT,
      payload: sfn.TaskInput.fromObject(options.record),
      payloadResponseOnly: false,
      retryOnServiceExceptions: false,
      resultPath: sfn.JsonPath.DISCARD,
    });
  }
}
