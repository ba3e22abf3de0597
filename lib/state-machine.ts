/**
 * The Standard state machine of one task function, exactly as docs/design.md ("States") lays it
 * out: optional concurrency slot, `MarkRunning` (Lambda kind), `Run`, `LoadResult` (container
 * kind), `DeliverSuccess`, `MarkSucceeded`, and the retry loop off the success path. Failure
 * endings are `Fail` states whose error names (`ExecutionError`) the finalizer maps to a
 * terminal status, so no failure write costs a state here.
 */
import { Aws, Duration, Tokenization } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { buildDestinationRecord, DestinationCondition } from '../lambda/model/destination';
import { ExecutionError, RESULT_KEY_FORMAT } from '../lambda/model/execution';
import { DestinationStatus } from '../lambda/model/record';
import type { TaskFunctionKind } from '../lambda/model/registry';
import { TaskStatus, TRANSITIONS } from '../lambda/model/statuses';
import { TABLE } from '../lambda/model/table';
import type { ITaskDestination } from './destinations';

/** State names: part of the contract with the local runtime and the tests. */
export const STATE = {
  AcquireSlot: 'AcquireSlot',
  WaitForSlot: 'WaitForSlot',
  CheckAge: 'CheckAge',
  Expired: 'Expired',
  MarkDequeued: 'MarkDequeued',
  MarkRunning: 'MarkRunning',
  Run: 'Run',
  LoadResult: 'LoadResult',
  DeliverSuccess: 'DeliverSuccess',
  MarkSucceeded: 'MarkSucceeded',
  MarkSucceededUndelivered: 'MarkSucceededUndelivered',
  ReleaseSlot: 'ReleaseSlot',
  CanRetry: 'CanRetry',
  MarkRetrying: 'MarkRetrying',
  NextAttempt: 'NextAttempt',
  Backoff: 'Backoff',
  RetriesExhausted: 'RetriesExhausted',
  Invalid: 'Invalid',
  NotRunnable: 'NotRunnable',
} as const;

/** DynamoDB errors worth retrying in place; a failed condition is not one of them. */
const TRANSIENT_DYNAMODB_ERRORS = [
  'DynamoDB.ProvisionedThroughputExceededException',
  'DynamoDB.RequestLimitExceeded',
  'DynamoDB.ThrottlingException',
  'DynamoDB.InternalServerErrorException',
];
const CONDITION_FAILED = 'DynamoDB.ConditionalCheckFailedException';

/** Safety margin added to the computed execution timeout. */
const EXECUTION_TIMEOUT_MARGIN = Duration.minutes(5);

/** How a task function's runner plugs into the machine. */
export interface RunnerDefinition {
  readonly kind: TaskFunctionKind;
  /** Lambda function ARN or ECS task definition ARN (the destination record's `functionArn`). */
  readonly runnerArn: string;
  /**
   * Builds the `Run` state. It must put what `runnerIdPath` reads under `$.result` (Lambda) or
   * `$.run` (container) and keep the rest of the input.
   */
  readonly buildRun: (scope: Construct, id: string) => sfn.TaskStateBase;
  /** JSONPath of the runner id (Lambda request id or ECS task ARN) after `Run`/`LoadResult`. */
  readonly runnerIdPath: string;
  /** Errors of `Run` meaning the runner cannot start at all: the task is `Invalid`. */
  readonly invalidErrors: readonly string[];
  /** Container kind: the bucket the container writes its result to (read by `LoadResult`). */
  readonly resultsBucket?: s3.IBucket;
}

export interface TaskStateMachineProps {
  readonly functionName: string;
  readonly table: dynamodb.ITable;
  readonly runner: RunnerDefinition;
  readonly maxRetryAttempts: number;
  /** Backoff before retry n (index 0 = first retry), seconds: `retryDelays()` of the model. */
  readonly retryDelays: readonly number[];
  readonly timeout: Duration;
  readonly maxEventAge: Duration;
  readonly maxConcurrency?: number;
  readonly slotPollInterval: Duration;
  readonly onSuccess?: ITaskDestination;
}

/** The execution timeout: the event age, then every attempt with its timeout and longest backoff. */
export function executionTimeout(props: {
  maxEventAge: Duration;
  maxRetryAttempts: number;
  timeout: Duration;
  retryDelays: readonly number[];
}): Duration {
  const maxDelay = Math.max(0, ...props.retryDelays);
  const seconds =
    props.maxEventAge.toSeconds() +
    (props.maxRetryAttempts + 1) * (props.timeout.toSeconds() + maxDelay) +
    EXECUTION_TIMEOUT_MARGIN.toSeconds();
  return Duration.seconds(seconds);
}

/**
 * The success record exactly as `buildDestinationRecord` makes it, with JSONPath values that
 * Step Functions fills in at run time.
 */
export function successRecordTemplate(runnerArn: string): Record<string, unknown> {
  return buildDestinationRecord({
    condition: DestinationCondition.Success,
    timestamp: sfn.JsonPath.stateEnteredTime,
    requestId: sfn.JsonPath.stringAt('$.task.requestId'),
    taskId: sfn.JsonPath.stringAt('$.task.taskId'),
    functionArn: runnerArn,
    approximateInvokeCount: sfn.JsonPath.numberAt('$.attempt.n'),
    requestPayload: sfn.JsonPath.objectAt('$.task.payload'),
    responsePayload: sfn.JsonPath.objectAt('$.result.payload'),
  }) as unknown as Record<string, unknown>;
}

const S = tasks.DynamoAttributeValue.fromString;

interface StatusWrite {
  readonly status: TaskStatus;
  readonly from: readonly TaskStatus[];
  /** Also require `deadline > now` (an attempt may not start after the task's deadline). */
  readonly beforeDeadline?: boolean;
  /** Extra attributes to SET. */
  readonly set?: Readonly<Record<string, tasks.DynamoAttributeValue>>;
  /** `detail` of the appended event: a literal or a JSONPath/intrinsic token. */
  readonly detail: string;
}

/** One Standard state machine per task function. */
export class TaskStateMachine extends Construct {
  public readonly stateMachine: sfn.StateMachine;
  public readonly logGroup: logs.LogGroup;

  private readonly props: TaskStateMachineProps;

  public constructor(scope: Construct, id: string, props: TaskStateMachineProps) {
    super(scope, id);
    this.props = props;
    const { runner, maxRetryAttempts } = props;

    const notRunnable = new sfn.Fail(this, STATE.NotRunnable, {
      error: ExecutionError.NotRunnable,
      causePath: '$.error.Cause',
    });
    const invalid = new sfn.Fail(this, STATE.Invalid, { error: ExecutionError.Invalid, causePath: '$.error.Cause' });
    const retriesExhausted = new sfn.Fail(this, STATE.RetriesExhausted, {
      error: ExecutionError.RetriesExhausted,
      causePath: '$.error.Cause',
    });

    // --- success path -------------------------------------------------------------------
    const markRunning =
      runner.kind === 'lambda'
        ? this.statusWrite(STATE.MarkRunning, {
            status: TaskStatus.Running,
            from: TRANSITIONS.Running,
            beforeDeadline: true,
            detail: sfn.JsonPath.format('attempt {}', sfn.JsonPath.stringAt('$.attempt.n')),
          }).addCatch(notRunnable, { errors: [CONDITION_FAILED], resultPath: '$.error' })
        : undefined;

    const run = runner.buildRun(this, STATE.Run);
    run.addCatch(invalid, { errors: [...runner.invalidErrors], resultPath: '$.error' });

    let loadResult: sfn.TaskStateBase | undefined;
    if (runner.kind === 'container') {
      if (!runner.resultsBucket) throw new Error('container runners need a results bucket');
      loadResult = new tasks.CallAwsService(this, STATE.LoadResult, {
        service: 's3',
        action: 'getObject',
        parameters: {
          Bucket: runner.resultsBucket.bucketName,
          Key: sfn.JsonPath.format(
            RESULT_KEY_FORMAT,
            sfn.JsonPath.stringAt('$.task.functionName'),
            sfn.JsonPath.stringAt('$.task.taskId'),
            sfn.JsonPath.stringAt('$.task.requestId'),
            sfn.JsonPath.stringAt('$.attempt.n'),
          ),
        },
        iamResources: [runner.resultsBucket.arnForObjects('results/*')],
        iamAction: 's3:GetObject',
        resultSelector: { payload: sfn.JsonPath.stringToJson(sfn.JsonPath.stringAt('$.Body')) },
        resultPath: '$.result',
      });
    }

    const succeeded = (id: string, destinationStatus: string) =>
      this.statusWrite(id, {
        status: TaskStatus.Succeeded,
        from: TRANSITIONS.Succeeded,
        set: {
          returnPayload: S(sfn.JsonPath.jsonToString(sfn.JsonPath.objectAt('$.result.payload'))),
          endedAt: S(sfn.JsonPath.stateEnteredTime),
          destinationStatus: S(destinationStatus),
          runnerId: S(sfn.JsonPath.stringAt(runner.runnerIdPath)),
        },
        detail: sfn.JsonPath.format('attempt {}', sfn.JsonPath.stringAt('$.attempt.n')),
      }).addCatch(notRunnable, { errors: [CONDITION_FAILED], resultPath: '$.error' });

    const markSucceeded = succeeded(
      STATE.MarkSucceeded,
      props.onSuccess ? DestinationStatus.Succeeded : DestinationStatus.None,
    );
    let afterRun: sfn.IChainable = markSucceeded;
    let markUndelivered: sfn.TaskStateBase | undefined;
    if (props.onSuccess) {
      const deliver = props.onSuccess.deliveryState(this, STATE.DeliverSuccess, {
        record: successRecordTemplate(runner.runnerArn),
        outcome: 'success',
      });
      markUndelivered = succeeded(STATE.MarkSucceededUndelivered, DestinationStatus.Failed);
      deliver.addCatch(markUndelivered, { errors: [sfn.Errors.ALL], resultPath: '$.deliveryError' });
      deliver.next(markSucceeded);
      afterRun = deliver;
    }
    if (props.maxConcurrency !== undefined) {
      const release = this.slotWrite(STATE.ReleaseSlot, 'release');
      markSucceeded.next(release);
      markUndelivered?.next(release);
    }

    if (loadResult) {
      run.next(loadResult);
      loadResult.next(afterRun);
    } else {
      run.next(afterRun);
    }
    markRunning?.next(run);
    const attemptStart: sfn.State = markRunning ?? run;

    // --- failure loop ------------------------------------------------------------------------
    let onError: sfn.IChainable = retriesExhausted;
    if (maxRetryAttempts > 0) {
      const markRetrying = this.statusWrite(STATE.MarkRetrying, {
        status: TaskStatus.Retrying,
        // design.md: a failure before the container's helper wrote Running leaves the task
        // Retrying, and the next failure must still move it (Retrying → Retrying).
        from: TRANSITIONS.Retrying,
        beforeDeadline: true,
        set: {
          alreadyRetriedTimes: tasks.DynamoAttributeValue.numberFromString(
            sfn.JsonPath.format('{}', sfn.JsonPath.stringAt('$.attempt.n')),
          ),
          ...(runner.kind === 'lambda' ? { taskErrorMessage: S(sfn.JsonPath.stringAt('$.error.Cause')) } : {}),
        },
        detail: sfn.JsonPath.format(
          'attempt {} failed: {}',
          sfn.JsonPath.stringAt('$.attempt.n'),
          sfn.JsonPath.stringAt('$.error.Error'),
        ),
      }).addCatch(notRunnable, { errors: [CONDITION_FAILED], resultPath: '$.error' });
      const delays = props.retryDelays.map(String).join(', ');
      const nextAttempt = new sfn.Pass(this, STATE.NextAttempt, {
        parameters: {
          'n.$': 'States.MathAdd($.attempt.n, 1)',
          'delay.$': `States.ArrayGetItem(States.Array(${delays}), States.MathAdd($.attempt.n, -1))`,
        },
        resultPath: '$.attempt',
      });
      const backoff = new sfn.Wait(this, STATE.Backoff, {
        time: sfn.WaitTime.secondsPath('$.attempt.delay'),
      });
      markRetrying.next(nextAttempt).next(backoff).next(attemptStart);
      onError = new sfn.Choice(this, STATE.CanRetry)
        .when(sfn.Condition.numberLessThanEquals('$.attempt.n', maxRetryAttempts), markRetrying)
        .otherwise(retriesExhausted);
    }
    run.addCatch(onError, { errors: [sfn.Errors.ALL], resultPath: '$.error' });
    loadResult?.addCatch(onError, { errors: [sfn.Errors.ALL], resultPath: '$.error' });

    // --- concurrency slot ------------------------------------------------------------------
    let start: sfn.IChainable = attemptStart;
    if (props.maxConcurrency !== undefined) {
      const acquire = this.slotWrite(STATE.AcquireSlot, 'acquire');
      const waitForSlot = new sfn.Wait(this, STATE.WaitForSlot, {
        time: sfn.WaitTime.duration(props.slotPollInterval),
      });
      const expired = new sfn.Fail(this, STATE.Expired, {
        error: ExecutionError.Expired,
        cause: 'no concurrency slot was free before the task reached its maxEventAge',
      });
      const checkAge = new sfn.Choice(this, STATE.CheckAge)
        .when(sfn.Condition.stringGreaterThanEqualsJsonPath('$$.State.EnteredTime', '$.task.deadline'), expired)
        .otherwise(acquire);
      acquire.addCatch(waitForSlot, { errors: [CONDITION_FAILED], resultPath: sfn.JsonPath.DISCARD });
      waitForSlot.next(checkAge);
      const markDequeued = this.statusWrite(STATE.MarkDequeued, {
        status: TaskStatus.Dequeued,
        from: TRANSITIONS.Dequeued,
        detail: 'concurrency slot acquired',
      }).addCatch(notRunnable, { errors: [CONDITION_FAILED], resultPath: '$.error' });
      acquire.next(markDequeued);
      markDequeued.next(attemptStart);
      start = acquire;
    }

    this.logGroup = new logs.LogGroup(this, 'Logs', { retention: logs.RetentionDays.ONE_MONTH });
    this.stateMachine = new sfn.StateMachine(this, 'Resource', {
      stateMachineType: sfn.StateMachineType.STANDARD,
      definitionBody: sfn.DefinitionBody.fromChainable(start),
      timeout: executionTimeout(props),
      comment: `asynctask function '${props.functionName}' (${runner.kind})`,
      logs: { destination: this.logGroup, level: sfn.LogLevel.ERROR, includeExecutionData: true },
      tracingEnabled: true,
    });
    if (props.maxConcurrency !== undefined) {
      this.stateMachine.addToRolePolicy(
        new iam.PolicyStatement({ actions: ['dynamodb:UpdateItem'], resources: [props.table.tableArn] }),
      );
    }
  }

  /** A conditional status write: owned by this execution and from the allowed prior statuses. */
  private statusWrite(id: string, write: StatusWrite): tasks.DynamoUpdateItem {
    const names: Record<string, string> = {
      '#status': 'status',
      '#statusKey': TABLE.statusKey,
      '#events': 'events',
      '#executionArn': 'executionArn',
    };
    const values: Record<string, tasks.DynamoAttributeValue> = {
      ':status': S(write.status),
      ':statusKey': S(sfn.JsonPath.format(`{}${TABLE.separator}${write.status}`, sfn.JsonPath.stringAt('$.task.functionName'))),
      ':empty': tasks.DynamoAttributeValue.fromList([]),
      ':ev': tasks.DynamoAttributeValue.fromList([
        tasks.DynamoAttributeValue.fromMap({
          status: S(write.status),
          at: S(sfn.JsonPath.stateEnteredTime),
          detail: S(write.detail),
        }),
      ]),
      ':me': S(sfn.JsonPath.executionId),
    };
    const sets = ['#status = :status', '#statusKey = :statusKey', '#events = list_append(if_not_exists(#events, :empty), :ev)'];
    for (const [attribute, value] of Object.entries(write.set ?? {})) {
      names[`#${attribute}`] = attribute;
      values[`:${attribute}`] = value;
      sets.push(`#${attribute} = :${attribute}`);
    }
    const from = write.from.map((status, i) => {
      values[`:from${i}`] = S(status);
      return `:from${i}`;
    });
    let condition = `#executionArn = :me AND #status IN (${from.join(', ')})`;
    if (write.beforeDeadline) {
      names['#deadline'] = 'deadline';
      values[':now'] = S(sfn.JsonPath.stateEnteredTime);
      condition += ' AND #deadline > :now';
    }
    const state = new tasks.DynamoUpdateItem(this, id, {
      table: this.props.table,
      key: {
        [TABLE.partitionKey]: S(sfn.JsonPath.stringAt('$.task.functionName')),
        [TABLE.sortKey]: S(sfn.JsonPath.stringAt('$.task.taskId')),
      },
      updateExpression: `SET ${sets.join(', ')}`,
      conditionExpression: condition,
      expressionAttributeNames: names,
      expressionAttributeValues: values,
      resultPath: sfn.JsonPath.DISCARD,
    });
    state.addRetry({ errors: TRANSIENT_DYNAMODB_ERRORS, interval: Duration.seconds(1), maxAttempts: 3, backoffRate: 2 });
    return state;
  }

  /**
   * Acquire or release a concurrency slot on the function's slots item. A CustomState because
   * the string set must be built with `States.Array($$.Execution.Id)`, which DynamoAttributeValue
   * cannot express.
   */
  private slotWrite(id: string, op: 'acquire' | 'release'): sfn.CustomState {
    const max = this.props.maxConcurrency ?? 1;
    const parameters: Record<string, unknown> = {
      TableName: this.props.table.tableName,
      Key: {
        [TABLE.partitionKey]: { 'S.$': '$.task.functionName' },
        [TABLE.sortKey]: { S: TABLE.slotsSortKey },
      },
      ExpressionAttributeNames: { '#holders': TABLE.slotHolders },
      ...(op === 'acquire'
        ? {
            UpdateExpression: 'ADD #holders :me',
            ConditionExpression: 'attribute_not_exists(#holders) OR size(#holders) < :max OR contains(#holders, :meS)',
            ExpressionAttributeValues: {
              ':me': { 'SS.$': 'States.Array($$.Execution.Id)' },
              ':meS': { 'S.$': '$$.Execution.Id' },
              ':max': { N: Tokenization.stringifyNumber(max) },
            },
          }
        : {
            UpdateExpression: 'DELETE #holders :me',
            ExpressionAttributeValues: { ':me': { 'SS.$': 'States.Array($$.Execution.Id)' } },
          }),
    };
    const state = new sfn.CustomState(this, id, {
      stateJson: {
        Type: 'Task',
        Resource: `arn:${Aws.PARTITION}:states:::dynamodb:updateItem`,
        Parameters: parameters,
        ResultPath: null,
      },
    });
    state.addRetry({ errors: TRANSIENT_DYNAMODB_ERRORS, interval: Duration.seconds(1), maxAttempts: 3, backoffRate: 2 });
    return state;
  }
}
