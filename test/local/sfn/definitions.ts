/** Hand-written ASL mirroring docs/design.md's patterns (JSONPath), for the emulation tests. */
import { TABLE } from './helpers';

const key = { functionName: { 'S.$': '$.task.functionName' }, taskId: { 'S.$': '$.task.taskId' } };
const notRunnable = { ErrorEquals: ['DynamoDB.ConditionalCheckFailedException'], ResultPath: '$.error', Next: 'NotRunnable' };

/** Lambda kind: MarkRunning → Run → MarkSucceeded, failure loop with backoff. */
export function lambdaKind(opts: { fn: string; maxRetryAttempts: number; delays: number[] }): object {
  return {
    StartAt: 'MarkRunning',
    States: {
      MarkRunning: {
        Type: 'Task',
        Resource: 'arn:aws:states:::dynamodb:updateItem',
        Parameters: {
          TableName: TABLE,
          Key: key,
          UpdateExpression: 'SET #s = :running, attemptStartedAt = :now',
          ConditionExpression: '#s IN (:enq, :deq, :retrying) AND executionArn = :me AND deadline > :now',
          ExpressionAttributeNames: { '#s': 'status' },
          ExpressionAttributeValues: {
            ':running': { S: 'Running' },
            ':enq': { S: 'Enqueued' },
            ':deq': { S: 'Dequeued' },
            ':retrying': { S: 'Retrying' },
            ':me': { 'S.$': '$$.Execution.Id' },
            ':now': { 'S.$': '$$.State.EnteredTime' },
          },
        },
        ResultPath: null,
        Catch: [notRunnable],
        Next: 'Run',
      },
      Run: {
        Type: 'Task',
        Resource: 'arn:aws:states:::lambda:invoke',
        Parameters: { FunctionName: opts.fn, 'Payload.$': '$.task.payload' },
        TimeoutSeconds: 10,
        ResultSelector: { 'payload.$': '$.Payload', 'requestId.$': '$.SdkResponseMetadata.RequestId' },
        ResultPath: '$.result',
        Catch: [
          { ErrorEquals: ['Lambda.ResourceNotFoundException'], ResultPath: '$.error', Next: 'Invalid' },
          { ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'CanRetry' },
        ],
        Next: 'MarkSucceeded',
      },
      MarkSucceeded: {
        Type: 'Task',
        Resource: 'arn:aws:states:::dynamodb:updateItem',
        Parameters: {
          TableName: TABLE,
          Key: key,
          UpdateExpression: 'SET #s = :ok, returnPayload = :ret, runnerId = :runner, endedAt = :now',
          ConditionExpression: '#s = :running AND executionArn = :me',
          ExpressionAttributeNames: { '#s': 'status' },
          ExpressionAttributeValues: {
            ':ok': { S: 'Succeeded' },
            ':running': { S: 'Running' },
            ':ret': { 'S.$': 'States.JsonToString($.result.payload)' },
            ':runner': { 'S.$': '$.result.requestId' },
            ':me': { 'S.$': '$$.Execution.Id' },
            ':now': { 'S.$': '$$.State.EnteredTime' },
          },
          ReturnValues: 'ALL_NEW',
        },
        ResultSelector: { 'status.$': '$.Attributes.status.S' },
        ResultPath: '$.marked',
        Catch: [notRunnable],
        End: true,
      },
      CanRetry: {
        Type: 'Choice',
        Choices: [{ Variable: '$.attempt.n', NumericLessThanEquals: opts.maxRetryAttempts, Next: 'MarkRetrying' }],
        Default: 'RetriesExhausted',
      },
      MarkRetrying: {
        Type: 'Task',
        Resource: 'arn:aws:states:::dynamodb:updateItem',
        Parameters: {
          TableName: TABLE,
          Key: key,
          UpdateExpression: 'SET #s = :retrying, alreadyRetriedTimes = :n, taskErrorMessage = :err',
          ConditionExpression: 'executionArn = :me AND deadline > :now',
          ExpressionAttributeNames: { '#s': 'status' },
          ExpressionAttributeValues: {
            ':retrying': { S: 'Retrying' },
            ':n': { 'N.$': 'States.JsonToString($.attempt.n)' },
            ':err': { 'S.$': '$.error.Cause' },
            ':me': { 'S.$': '$$.Execution.Id' },
            ':now': { 'S.$': '$$.State.EnteredTime' },
          },
        },
        ResultPath: null,
        Catch: [notRunnable],
        Next: 'NextAttempt',
      },
      NextAttempt: {
        Type: 'Pass',
        Parameters: {
          'task.$': '$.task',
          attempt: {
            'n.$': 'States.MathAdd($.attempt.n, 1)',
            'delay.$': `States.ArrayGetItem(States.Array(${opts.delays.join(', ')}), States.MathAdd($.attempt.n, -1))`,
          },
        },
        Next: 'Backoff',
      },
      Backoff: { Type: 'Wait', SecondsPath: '$.attempt.delay', Next: 'MarkRunning' },
      RetriesExhausted: { Type: 'Fail', Error: 'TaskRetriesExhausted', CausePath: '$.error.Cause' },
      Invalid: { Type: 'Fail', Error: 'TaskInvalid', CausePath: '$.error.Cause' },
      NotRunnable: { Type: 'Fail', Error: 'TaskNotRunnable', CausePath: '$.error.Cause' },
    },
  };
}

/** CheckAge pattern: Choice on $$.State.EnteredTime ≥ deadline, plus context values. */
export const checkAge = {
  StartAt: 'Context',
  States: {
    Context: {
      Type: 'Pass',
      Parameters: {
        'deadline.$': '$.deadline',
        'state.$': '$$.State.Name',
        'entered.$': '$$.State.EnteredTime',
        'id.$': '$$.Execution.Id',
        'name.$': '$$.Execution.Name',
        'machine.$': '$$.StateMachine.Id',
        'key.$': "States.Format('results/{}/{}/{}.json', $$.Execution.Name, 'x', States.MathAdd(1, 1))",
        'parsed.$': 'States.StringToJson(\'{"a":[1,2]}\')',
      },
      Next: 'CheckAge',
    },
    CheckAge: {
      Type: 'Choice',
      Choices: [{ Variable: '$$.State.EnteredTime', TimestampGreaterThanEqualsPath: '$.deadline', Next: 'Expired' }],
      Default: 'Fresh',
    },
    Expired: { Type: 'Fail', Error: 'TaskExpired', Cause: 'waited past the deadline' },
    Fresh: { Type: 'Succeed' },
  },
};

/** Container kind: Run (ecs:runTask.sync with env overrides). */
export function containerKind(opts: { taskDefinition: string; timeoutSeconds?: number }): object {
  return {
    StartAt: 'Run',
    States: {
      Run: {
        Type: 'Task',
        Resource: 'arn:aws:states:::ecs:runTask.sync',
        Parameters: {
          Cluster: 'arn:aws:ecs:us-east-1:000000000000:cluster/local',
          TaskDefinition: opts.taskDefinition,
          LaunchType: 'FARGATE',
          Overrides: {
            ContainerOverrides: [
              {
                Name: 'worker',
                Environment: [
                  { Name: 'TASK_ID', 'Value.$': '$.task.taskId' },
                  { Name: 'TASK_EXECUTION_ARN', 'Value.$': '$$.Execution.Id' },
                  { Name: 'ATTEMPT', 'Value.$': 'States.JsonToString($.attempt.n)' },
                ],
              },
            ],
          },
        },
        ...(opts.timeoutSeconds ? { TimeoutSeconds: opts.timeoutSeconds } : {}),
        ResultSelector: { 'taskArn.$': '$.TaskArn', 'exit.$': '$.Containers[0].ExitCode' },
        ResultPath: '$.run',
        Catch: [
          { ErrorEquals: ['ECS.InvalidParameterException'], ResultPath: '$.error', Next: 'Invalid' },
          // States.TaskFailed first: as on AWS it must not match a timeout
          { ErrorEquals: ['States.TaskFailed'], ResultPath: '$.error', Next: 'Failed' },
          { ErrorEquals: ['States.Timeout'], ResultPath: '$.error', Next: 'TimedOut' },
        ],
        End: true,
      },
      Invalid: { Type: 'Fail', Error: 'TaskInvalid', CausePath: '$.error.Cause' },
      TimedOut: { Type: 'Fail', ErrorPath: '$.error.Error', Cause: 'timed out' },
      Failed: { Type: 'Fail', ErrorPath: '$.error.Error', CausePath: '$.error.Cause' },
    },
  };
}
