/**
 * Success and failure destinations of a task function (FC's `onSuccess` / `onFailure`): an SQS
 * queue, SNS topic, EventBridge bus or Lambda function. Each destination knows the
 * `DestinationTarget` the finalizer delivers to at run time, grants the service's roles that
 * right on its own resource policy (`bind`), says what its backlog metric is, and builds the Step
 * Functions state that delivers a success record from the state machine.
 *
 * Grants go on the destination's side (queue, topic or bus policy, Lambda permission, key
 * policy), in the destination's stack, naming the service's roles: a task function in another
 * stack then refers to the service and not the reverse, and no service policy grows with the
 * number of destinations (docs/design.md "Registry"). A destination whose policy this app cannot
 * change (an imported queue, say) is granted on the roles instead, by a policy in the binding
 * task function's stack; those count against the roles' inline policy quota, checked at synth.
 */
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import type { Construct, IConstruct } from 'constructs';
import { DESTINATION_DETAIL_TYPE, DESTINATION_EVENT_SOURCE, type DestinationTarget, DestinationType } from '../lambda/model/destination';

/** Which record a delivery state sends: it decides the EventBridge detail-type. */
export type DeliveryOutcome = 'success' | 'failure';

export interface DeliveryStateOptions {
  /** The destination record, as an object whose values may be JSONPath tokens. */
  readonly record: Record<string, unknown>;
  readonly outcome: DeliveryOutcome;
}

/** Who may deliver records to a destination at run time, and a name for the grant. */
export interface TaskDestinationBindOptions {
  /** Roles that deliver records (the service's TaskApi, finalizer and reconciler). */
  readonly senders: readonly iam.IRole[];
  /**
   * Names this grant among the grants of other services on the same destination (letters,
   * digits and `_`); a destination is granted once per service however many functions use it.
   */
  readonly grantName: string;
}

/** Where a task function's destination records go. */
export interface ITaskDestination {
  /** What the finalizer and reconciler read from the registry to deliver at run time. */
  readonly target: DestinationTarget;
  /**
   * Grants `options.senders` the right to deliver a record here, on the destination's own
   * resource policy where it can; `scope` (the task function) holds what cannot go there.
   */
  bind(scope: Construct, options: TaskDestinationBindOptions): void;
  /**
   * Records waiting at the destination, when it keeps them (a queue): the service graphs it and
   * alarms when an `onFailure` destination holds any.
   */
  metricBacklog?(props?: cloudwatch.MetricOptions): cloudwatch.IMetric;
  /**
   * Builds the state that delivers `record` (its result is discarded by the caller). The state
   * grants its own role what it needs.
   */
  deliveryState(scope: Construct, id: string, options: DeliveryStateOptions): sfn.TaskStateBase;
}

/** Resource-side grants already made, per destination resource: a destination is granted once per service. */
const granted = new WeakMap<IConstruct, Set<string>>();

/** True the first time a (resource, grant name) pair is seen. */
function firstGrant(resource: IConstruct, grantName: string): boolean {
  const names = granted.get(resource) ?? new Set<string>();
  granted.set(resource, names);
  if (names.has(grantName)) return false;
  names.add(grantName);
  return true;
}

/** `actions` on `resources` for the senders, as a resource-policy statement. */
function sendStatement(options: TaskDestinationBindOptions, actions: string[], resources: string[]): iam.PolicyStatement {
  return new iam.PolicyStatement({
    sid: `AsyncTask${options.grantName}`,
    actions,
    principals: options.senders.map((role) => new iam.ArnPrincipal(role.roleArn)),
    resources,
  });
}

/**
 * Adds `statement` to a resource policy through `add`; when the resource's policy cannot be
 * changed from this app (imported), grants the senders instead, by a policy in `scope`.
 */
function grantOnResource(
  scope: Construct,
  what: string,
  options: TaskDestinationBindOptions,
  add: (statement: iam.PolicyStatement) => iam.AddToResourcePolicyResult,
  actions: string[],
  resources: string[],
  /** Resources of the resource-policy statement, when not `resources` (a key policy names `*`: itself). */
  policyResources: string[] = resources,
): void {
  if (add(sendStatement(options, actions, policyResources)).statementAdded) return;
  const id = `${what}SendGrant`;
  const statement = new iam.PolicyStatement({ actions, resources });
  const existing = scope.node.tryFindChild(id) as iam.Policy | undefined;
  if (existing) existing.addStatements(statement);
  else new iam.Policy(scope, id, { roles: [...options.senders], statements: [statement] });
}

/** Customer-managed key of an encrypted destination: the senders encrypt with it. */
function grantKey(scope: Construct, options: TaskDestinationBindOptions, key: kms.IKey | undefined): void {
  if (!key || !firstGrant(key, options.grantName)) return;
  grantOnResource(
    scope,
    'Key',
    options,
    (s) => key.addToResourcePolicy(s, true),
    ['kms:GenerateDataKey', 'kms:Decrypt'],
    [key.keyArn],
    ['*'],
  );
}

/** Sends each record as the body of an SQS message (a dead-letter queue for `onFailure`). */
export class SqsDestination implements ITaskDestination {
  public readonly target: DestinationTarget;

  public constructor(public readonly queue: sqs.IQueue) {
    this.target = { type: DestinationType.Sqs, arn: queue.queueArn, url: queue.queueUrl };
  }

  public bind(scope: Construct, options: TaskDestinationBindOptions): void {
    if (!firstGrant(this.queue, options.grantName)) return;
    grantOnResource(
      scope,
      'Queue',
      options,
      (s) => this.queue.addToResourcePolicy(s),
      ['sqs:SendMessage', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl'],
      [this.queue.queueArn],
    );
    grantKey(scope, options, this.queue.encryptionMasterKey);
  }

  /** Messages visible in the queue (maximum over each period). */
  public metricBacklog(props: cloudwatch.MetricOptions = {}): cloudwatch.IMetric {
    return this.queue.metricApproximateNumberOfMessagesVisible({ statistic: 'Maximum', ...props });
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

  public bind(scope: Construct, options: TaskDestinationBindOptions): void {
    if (!firstGrant(this.topic, options.grantName)) return;
    grantOnResource(scope, 'Topic', options, (s) => this.topic.addToResourcePolicy(s), ['sns:Publish'], [this.topic.topicArn]);
    grantKey(scope, options, this.topic.masterKey);
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

  public bind(scope: Construct, options: TaskDestinationBindOptions): void {
    if (!firstGrant(this.eventBus, options.grantName)) return;
    const bus = this.eventBus as events.IEventBus & {
      addToResourcePolicy?: (statement: iam.PolicyStatement) => iam.AddToResourcePolicyResult;
    };
    grantOnResource(
      scope,
      'EventBus',
      options,
      (s) => (bus.addToResourcePolicy ? bus.addToResourcePolicy(s) : { statementAdded: false }),
      ['events:PutEvents'],
      [this.eventBus.eventBusArn],
    );
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

  public bind(scope: Construct, options: TaskDestinationBindOptions): void {
    if (!firstGrant(this.fn, options.grantName)) return;
    // A Lambda permission names one principal; an imported function in another account or
    // region takes none (addPermission then adds nothing), and the senders get an identity grant.
    let added = true;
    options.senders.forEach((role, i) => {
      const id = `AsyncTask${options.grantName}${i}`;
      this.fn.addPermission(id, { principal: new iam.ArnPrincipal(role.roleArn), action: 'lambda:InvokeFunction' });
      added &&= this.fn.permissionsNode.tryFindChild(id) !== undefined;
    });
    if (!added) {
      grantOnResource(scope, 'Function', options, () => ({ statementAdded: false }), ['lambda:InvokeFunction'], [this.fn.functionArn]);
    }
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
