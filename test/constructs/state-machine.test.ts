/**
 * The synthesized state machine definitions, state by state, against docs/design.md: names,
 * conditional writes (owner + allowed prior statuses from TRANSITIONS, built by the same
 * lambda/lib/task-writes.ts as the handlers' writes), Retry/Catch, result selectors, destinations,
 * the concurrency slot, the success record vs buildDestinationRecord, and the ending order
 * (MarkSucceeded, the commit point, before DeliverSuccess).
 */
import { Duration } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as sns from 'aws-cdk-lib/aws-sns';
import { retryDelays } from '../../lambda/model/config';
import { buildDestinationRecord, DESTINATION_DETAIL_TYPE, DESTINATION_EVENT_SOURCE } from '../../lambda/model/destination';
import { transitionUpdate } from '../../lambda/lib/task-writes';
import { CONTAINER_EXIT_CODE, ExecutionError, PERMANENT_ERROR_NAMES } from '../../lambda/model/execution';
import { TRANSITIONS } from '../../lambda/model/statuses';
import { EventBridgeDestination, LambdaDestination, SnsDestination } from '../../lib/destinations';
import { LambdaTaskFunction } from '../../lib/lambda-task-function';
import { successRecordTemplate } from '../../lib/state-machine';
import { type AslDefinition, type AslState, definitionOf } from './app';
import { containerTask, inlineFunction, lambdaTask, serviceStack, sqsDestination } from './fixtures';

const CONDITION_FAILED = 'DynamoDB.ConditionalCheckFailedException';

/** The `ExpressionAttributeValues` string values of a status write, by placeholder. */
function values(state: AslState): Record<string, unknown> {
  return (state.Parameters as { ExpressionAttributeValues: Record<string, unknown> }).ExpressionAttributeValues;
}
function params(state: AslState): Record<string, unknown> {
  return state.Parameters as Record<string, unknown>;
}
/** The statuses a write accepts as prior, read from its `:fromN` values. */
function priorStatuses(state: AslState): string[] {
  return Object.entries(values(state))
    .filter(([k]) => k.startsWith(':from'))
    .map(([, v]) => (v as { S: string }).S);
}

function expectStatusWrite(definition: AslDefinition, name: string, status: string, from: readonly string[], deadline: boolean) {
  const state = definition.States[name];
  expect(state.Type).toBe('Task');
  expect(state.Resource).toMatch(/:states:::dynamodb:updateItem$/);
  expect(state.ResultPath).toBeNull();
  const p = params(state);
  expect(p.Key).toEqual({ functionName: { 'S.$': '$.task.functionName' }, taskId: { 'S.$': '$.task.taskId' } });
  expect(p.TableName).toMatch(/^\$\{Ref:ServiceTasks/);
  expect(p.UpdateExpression).toMatch(/^SET #status = :status, #statusKey = :statusKey, /);
  expect(p.UpdateExpression).toMatch(/, #events = list_append\(if_not_exists\(#events, :noEvents\), :event\)$/);
  const inList = from.map((_, i) => `:from${i}`).join(', ');
  expect(p.ConditionExpression).toBe(`#executionArn = :owner AND #status IN (${inList})${deadline ? ' AND #deadline > :now' : ''}`);
  expect([...priorStatuses(state)].sort()).toEqual([...from].sort());
  const v = values(state);
  expect(v[':status']).toEqual({ S: status });
  expect(v[':owner']).toEqual({ 'S.$': '$$.Execution.Id' });
  expect(v[':statusKey']).toEqual({ 'S.$': `States.Format('{}#${status}', $.task.functionName)` });
  expect(v[':noEvents']).toEqual({ L: [] });
  expect(v[':event']).toEqual({
    L: [{ M: { status: { S: status }, at: { 'S.$': '$$.State.EnteredTime' }, detail: expect.any(Object) } }],
  });
  if (deadline) expect(v[':now']).toEqual({ 'S.$': '$$.State.EnteredTime' });
  expect(state.Catch).toContainEqual({ ErrorEquals: [CONDITION_FAILED], ResultPath: '$.error', Next: 'NotRunnable' });
  expect(state.Retry?.[0].ErrorEquals).not.toContain(CONDITION_FAILED);
  expect(state.Retry?.[0].ErrorEquals).not.toContain('States.ALL');
}

describe('Lambda kind', () => {
  const built = lambdaTask({ maxRetryAttempts: 2 });
  const plain = definitionOf(built.fn.stateMachine);

  test("states are exactly the design's, starting at MarkRunning", () => {
    expect(plain.StartAt).toBe('MarkRunning');
    expect(Object.keys(plain.States).sort()).toEqual(
      [
        'Backoff',
        'CanRetry',
        'Invalid',
        'MarkRetrying',
        'MarkRunning',
        'MarkSucceeded',
        'NextAttempt',
        'NotRunnable',
        'PermanentFailure',
        'RetriesExhausted',
        'Run',
      ].sort(),
    );
  });

  test('MarkRunning: Enqueued|Dequeued|Retrying → Running, owned by this execution, before the deadline', () => {
    expectStatusWrite(plain, 'MarkRunning', 'Running', TRANSITIONS.Running, true);
    expect(plain.States.MarkRunning.Next).toBe('Run');
  });

  test('Run: lambda:invoke with the payload, full response, timeout, result selector, catches', () => {
    const run = plain.States.Run;
    expect(run.Resource).toMatch(/:states:::lambda:invoke$/);
    expect(run.Parameters).toEqual({ FunctionName: expect.stringMatching(/^\$\{GetAtt:Worker/), 'Payload.$': '$.task.payload' });
    expect(run.TimeoutSeconds).toBe(900);
    expect(run.ResultSelector).toEqual({ 'payload.$': '$.Payload', 'requestId.$': '$.SdkResponseMetadata.RequestId' });
    expect(run.ResultPath).toBe('$.result');
    expect(run.Retry).toBeUndefined();
    expect(run.Catch).toEqual([
      { ErrorEquals: ['Lambda.ResourceNotFoundException'], ResultPath: '$.error', Next: 'Invalid' },
      { ErrorEquals: [...PERMANENT_ERROR_NAMES], ResultPath: '$.error', Next: 'PermanentFailure' },
      { ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'CanRetry' },
    ]);
    expect(run.Next).toBe('MarkSucceeded');
  });

  test('a permanent error name skips the retries: Run → PermanentFailure, a Fail the finalizer maps to Failed', () => {
    expect(PERMANENT_ERROR_NAMES).toEqual(['InvalidInput', 'PayloadError']);
    expect(plain.States.PermanentFailure).toEqual({ Type: 'Fail', Error: ExecutionError.PermanentFailure, CausePath: '$.error.Cause' });
    // Listed before States.ALL: Step Functions takes the first catcher that matches.
    const names = (plain.States.Run.Catch ?? []).map((c) => c.ErrorEquals);
    expect(names.findIndex((e) => e.includes('PayloadError'))).toBeLessThan(names.findIndex((e) => e.includes('States.ALL')));
  });

  test('status writes are exactly what task-writes builds for the handlers, from TRANSITIONS', () => {
    const plainValue = (text: string): unknown => text;
    for (const [name, status, deadline] of [
      ['MarkRunning', 'Running', true],
      ['MarkSucceeded', 'Succeeded', false],
      ['MarkRetrying', 'Retrying', true],
    ] as const) {
      const p = params(plain.States[name]);
      const shared = transitionUpdate<unknown>(
        {
          to: status,
          owner: 'arn',
          statusKey: 'k',
          set: Object.fromEntries(
            Object.keys(values(plain.States[name]))
              .filter((k) => !/^:(status|statusKey|owner|from\d+|noEvents|event|now)$/.test(k))
              .map((k) => [k.slice(1), 'v']),
          ),
          appendEvent: { empty: [], entries: [] },
          ...(deadline ? { conditions: [{ expression: '#deadline > :now', values: { ':now': 'now' } }] } : {}),
        },
        plainValue,
      );
      expect({ update: p.UpdateExpression, condition: p.ConditionExpression, names: p.ExpressionAttributeNames }).toEqual({
        update: shared.UpdateExpression,
        condition: shared.ConditionExpression,
        names: shared.ExpressionAttributeNames,
      });
    }
  });

  test('MarkSucceeded: Running → Succeeded with result, end time, runner id and destinationStatus None', () => {
    expectStatusWrite(plain, 'MarkSucceeded', 'Succeeded', TRANSITIONS.Succeeded, false);
    const v = values(plain.States.MarkSucceeded);
    expect(v[':returnPayload']).toEqual({ 'S.$': 'States.JsonToString($.result.payload)' });
    expect(v[':endedAt']).toEqual({ 'S.$': '$$.State.EnteredTime' });
    expect(v[':destinationStatus']).toEqual({ S: 'None' });
    expect(v[':runnerId']).toEqual({ 'S.$': '$.result.requestId' });
    expect(plain.States.MarkSucceeded.End).toBe(true);
  });

  test('retry loop: CanRetry → MarkRetrying → NextAttempt → Backoff → MarkRunning; else RetriesExhausted', () => {
    expect(plain.States.CanRetry).toEqual({
      Type: 'Choice',
      Choices: [{ Variable: '$.attempt.n', NumericLessThanEquals: 2, Next: 'MarkRetrying' }],
      Default: 'RetriesExhausted',
    });
    expectStatusWrite(plain, 'MarkRetrying', 'Retrying', TRANSITIONS.Retrying, true);
    expect(TRANSITIONS.Retrying).toContain('Retrying');
    const v = values(plain.States.MarkRetrying);
    expect(v[':alreadyRetriedTimes']).toEqual({ 'N.$': "States.Format('{}', $.attempt.n)" });
    expect(v[':taskErrorMessage']).toEqual({ 'S.$': '$.error.Cause' });
    expect(plain.States.MarkRetrying.Next).toBe('NextAttempt');
    expect(plain.States.NextAttempt).toEqual({
      Type: 'Pass',
      ResultPath: '$.attempt',
      Parameters: {
        'n.$': 'States.MathAdd($.attempt.n, 1)',
        'delay.$': `States.ArrayGetItem(States.Array(${retryDelays(2, 10, 2).join(', ')}), States.MathAdd($.attempt.n, -1))`,
      },
      Next: 'Backoff',
    });
    expect(plain.States.Backoff).toEqual({ Type: 'Wait', SecondsPath: '$.attempt.delay', Next: 'MarkRunning' });
  });

  test('failure endings are Fail states named for the finalizer', () => {
    expect(plain.States.RetriesExhausted).toEqual({ Type: 'Fail', Error: ExecutionError.RetriesExhausted, CausePath: '$.error.Cause' });
    expect(plain.States.Invalid).toEqual({ Type: 'Fail', Error: ExecutionError.Invalid, CausePath: '$.error.Cause' });
    expect(plain.States.NotRunnable).toEqual({ Type: 'Fail', Error: ExecutionError.NotRunnable, CausePath: '$.error.Cause' });
  });

  test('no retries: Run fails straight to RetriesExhausted, no retry states', () => {
    const none = definitionOf(lambdaTask({ maxRetryAttempts: 0 }).fn.stateMachine);
    expect(Object.keys(none.States)).not.toEqual(expect.arrayContaining(['CanRetry']));
    for (const name of ['CanRetry', 'MarkRetrying', 'NextAttempt', 'Backoff']) expect(none.States[name]).toBeUndefined();
    expect(none.States.Run.Catch).toContainEqual({ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'RetriesExhausted' });
    // A permanent failure still ends as one, so its record says why the task was not retried.
    expect(none.States.Run.Catch).toContainEqual({
      ErrorEquals: [...PERMANENT_ERROR_NAMES],
      ResultPath: '$.error',
      Next: 'PermanentFailure',
    });
  });
});

describe('success destination', () => {
  function withDestination(kind: 'sqs' | 'sns' | 'eventbridge' | 'lambda') {
    const { stack, service } = serviceStack();
    const onSuccess =
      kind === 'sqs'
        ? sqsDestination(stack, 'Done').destination
        : kind === 'sns'
          ? new SnsDestination(new sns.Topic(stack, 'Topic', { enforceSSL: true }))
          : kind === 'eventbridge'
            ? new EventBridgeDestination(new events.EventBus(stack, 'Bus'))
            : new LambdaDestination(inlineFunction(stack, 'Consumer'));
    const fn = new LambdaTaskFunction(stack, 'Etl', {
      service,
      functionName: 'etl',
      lambdaFunction: inlineFunction(stack),
      onSuccess,
    });
    return { definition: definitionOf(fn.stateMachine), stack, fn };
  }

  test('MarkSucceeded (the commit point) before DeliverSuccess; a failed delivery marks the task undelivered', () => {
    const { definition } = withDestination('sqs');
    expect(definition.States.Run.Next).toBe('MarkSucceeded');
    expectStatusWrite(definition, 'MarkSucceeded', 'Succeeded', TRANSITIONS.Succeeded, false);
    expect(values(definition.States.MarkSucceeded)[':destinationStatus']).toEqual({ S: 'Succeeded' });
    expect(definition.States.MarkSucceeded.Next).toBe('DeliverSuccess');
    const deliver = definition.States.DeliverSuccess;
    expect(deliver.End).toBe(true);
    expect(deliver.ResultPath).toBeNull();
    expect(deliver.Catch).toEqual([{ ErrorEquals: ['States.ALL'], ResultPath: '$.deliveryError', Next: 'MarkUndelivered' }]);
    const undelivered = definition.States.MarkUndelivered;
    expect(undelivered.Resource).toMatch(/:states:::dynamodb:updateItem$/);
    expect(params(undelivered)).toMatchObject({
      Key: { functionName: { 'S.$': '$.task.functionName' }, taskId: { 'S.$': '$.task.taskId' } },
      UpdateExpression: 'SET #destinationStatus = :destinationStatus',
      ConditionExpression: '#executionArn = :owner AND #status = :terminal',
      ExpressionAttributeValues: {
        ':destinationStatus': { S: 'Failed' },
        ':owner': { 'S.$': '$$.Execution.Id' },
        ':terminal': { S: 'Succeeded' },
      },
    });
    expect(undelivered.ResultPath).toBeNull();
    expect(undelivered.End).toBe(true);
    expect(definition.States.MarkSucceededUndelivered).toBeUndefined();
  });

  test('SQS: sqs:sendMessage of the record to the queue', () => {
    const deliver = withDestination('sqs').definition.States.DeliverSuccess;
    expect(deliver.Resource).toMatch(/:states:::sqs:sendMessage$/);
    expect(params(deliver).QueueUrl).toMatch(/^\$\{Ref:Done/);
    expect(params(deliver).MessageBody).toMatchObject({ version: '1.0', requestContext: { condition: 'Success' } });
  });

  test('SNS: sns:publish of the record', () => {
    const deliver = withDestination('sns').definition.States.DeliverSuccess;
    expect(deliver.Resource).toMatch(/:states:::sns:publish$/);
    expect(params(deliver).TopicArn).toMatch(/^\$\{Ref:Topic/);
    expect(params(deliver).Message).toMatchObject({ version: '1.0' });
  });

  test('EventBridge: events:putEvents with source asynctask and the success detail-type', () => {
    const deliver = withDestination('eventbridge').definition.States.DeliverSuccess;
    expect(deliver.Resource).toMatch(/:states:::events:putEvents$/);
    expect(params(deliver).Entries).toEqual([
      expect.objectContaining({
        Source: DESTINATION_EVENT_SOURCE,
        DetailType: DESTINATION_DETAIL_TYPE.success,
        EventBusName: expect.stringMatching(/^\$\{GetAtt:Bus/),
        Detail: expect.objectContaining({ version: '1.0' }),
      }),
    ]);
  });

  test('Lambda: an asynchronous (Event) lambda:invoke with the record', () => {
    const deliver = withDestination('lambda').definition.States.DeliverSuccess;
    expect(deliver.Resource).toMatch(/:states:::lambda:invoke$/);
    expect(params(deliver)).toMatchObject({
      FunctionName: expect.stringMatching(/^\$\{GetAtt:Consumer/),
      InvocationType: 'Event',
      Payload: expect.objectContaining({ version: '1.0' }),
    });
  });

  test.each([
    ['a TaskApi task (source null)', null],
    ["a trigger's task (its source)", { type: 'kafka', topic: 'orders', partition: 0, firstOffset: 0, lastOffset: 99 } as const],
  ])('the record has exactly the shape of buildDestinationRecord (condition Success): %s', (_what, source) => {
    const deliver = withDestination('sqs').definition.States.DeliverSuccess;
    const asl = params(deliver).MessageBody as Record<string, unknown>;
    // Evaluate the ASL template against a sample execution state, as Step Functions would.
    const state = {
      task: { functionName: 'etl', taskId: 't1', requestId: 'r-1', payload: { records: [1, 2] }, source },
      attempt: { n: 2, delay: 10 },
      result: { payload: { processed: 2 }, requestId: 'lambda-req' },
    };
    const context = { State: { EnteredTime: '2026-11-25T12:00:00.000Z' } };
    const evaluated = evaluateTemplate(asl, state, context);
    expect(evaluated).toEqual(
      buildDestinationRecord({
        condition: 'Success',
        timestamp: '2026-11-25T12:00:00.000Z',
        requestId: 'r-1',
        taskId: 't1',
        functionArn: (asl.requestContext as Record<string, unknown>).functionArn as string,
        approximateInvokeCount: 2,
        source,
        requestPayload: { records: [1, 2] },
        responsePayload: { processed: 2 },
      }),
    );
    expect((asl.requestContext as Record<string, unknown>).functionArn).toMatch(/^\$\{GetAtt:Worker/);
  });

  test('successRecordTemplate keys are the record keys', () => {
    const template = successRecordTemplate('arn:aws:lambda:us-east-1:1:function:f');
    const sample = buildDestinationRecord({
      condition: 'Success',
      taskId: 't',
      requestId: 'r',
      functionArn: 'a',
      approximateInvokeCount: 1,
      requestPayload: null,
    });
    expect(Object.keys(template)).toEqual(Object.keys(sample));
    expect(Object.keys(template.requestContext as object)).toEqual(Object.keys(sample.requestContext));
    expect(Object.keys(template.responseContext as object)).toEqual(Object.keys(sample.responseContext));
  });
});

/** Resolves `key.$` JSONPath entries of an ASL payload template against a state and context. */
function evaluateTemplate(template: Record<string, unknown>, state: unknown, context: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(template)) {
    if (key.endsWith('.$')) {
      const path = value as string;
      const root = path.startsWith('$$.') ? context : state;
      const segments = path
        .replace(/^\$\$?\.?/, '')
        .split('.')
        .filter(Boolean);
      out[key.slice(0, -2)] = segments.reduce<unknown>((v, s) => (v as Record<string, unknown>)[s], root);
    } else if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      out[key] = evaluateTemplate(value as Record<string, unknown>, state, context);
    } else {
      out[key] = value;
    }
  }
  return out;
}

describe('container kind', () => {
  const { fn } = containerTask({ maxRetryAttempts: 1 });
  const definition = definitionOf(fn.stateMachine);

  test('starts at Run (the runtime helper writes Running), then LoadResult, MarkSucceeded', () => {
    expect(definition.StartAt).toBe('Run');
    expect(definition.States.MarkRunning).toBeUndefined();
    expect(definition.States.Run.Next).toBe('LoadResult');
    expect(definition.States.LoadResult.Next).toBe('MarkSucceeded');
  });

  test('Run: the task environment as container overrides, taskArn selected into $.run', () => {
    const run = definition.States.Run;
    const overrides = (params(run).Overrides as { ContainerOverrides: Array<{ Name: string; Environment: Array<Record<string, string>> }> })
      .ContainerOverrides;
    expect(overrides).toHaveLength(1);
    expect(overrides[0].Name).toBe('worker');
    const env = Object.fromEntries(overrides[0].Environment.map((e) => [e.Name, e['Value.$'] ?? e.Value]));
    expect(env).toEqual({
      TASK_ID: '$.task.taskId',
      TASK_FUNCTION: '$.task.functionName',
      TASK_REQUEST_ID: '$.task.requestId',
      ATTEMPT: "States.Format('{}', $.attempt.n)",
      TASK_EXECUTION_ARN: '$$.Execution.Id',
      TASK_DEADLINE: '$.task.deadline',
      TASK_TABLE: expect.stringMatching(/^\$\{Ref:ServiceTasks/),
      TASK_RESULT_BUCKET: expect.stringMatching(/^\$\{Ref:ServiceResultsBucket/),
      TASK_RESULT_KEY: "States.Format('results/{}/{}/{}/{}.json', $.task.functionName, $.task.taskId, $.task.requestId, $.attempt.n)",
    });
    expect(run.ResultSelector).toEqual({ 'taskArn.$': '$.TaskArn' });
    expect(run.ResultPath).toBe('$.run');
    expect(run.Catch).toEqual([
      { ErrorEquals: ['ECS.InvalidParameterException'], ResultPath: '$.error', Next: 'Invalid' },
      { ErrorEquals: ['States.TaskFailed'], ResultPath: '$.error', Next: 'IsExitReport' },
      { ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'CanRetry' },
    ]);
  });

  test("a failed Run is read for the worker's exit code: invalidInput → PermanentFailure, anything else → CanRetry", () => {
    // runTask.sync fails with States.TaskFailed and the ECS task description (JSON) as Cause.
    expect(definition.States.IsExitReport).toEqual({
      Type: 'Choice',
      Choices: [
        {
          And: [
            { Variable: '$.error.Cause', IsPresent: true },
            { Variable: '$.error.Cause', StringMatches: '{*}' },
          ],
          Next: 'ReadExitCode',
        },
      ],
      Default: 'CanRetry',
    });
    expect(definition.States.ReadExitCode).toEqual({
      Type: 'Pass',
      Parameters: { 'task.$': 'States.StringToJson($.error.Cause)' },
      ResultPath: '$.error.parsedCause',
      Next: 'IsPermanent',
    });
    const exitCode = '$.error.parsedCause.task.Containers[0].ExitCode';
    expect(definition.States.IsPermanent).toEqual({
      Type: 'Choice',
      Choices: [
        {
          And: [
            { Variable: exitCode, IsPresent: true },
            { Variable: exitCode, IsNumeric: true },
            { Variable: exitCode, NumericEquals: CONTAINER_EXIT_CODE.invalidInput },
          ],
          Next: 'PermanentFailure',
        },
      ],
      Default: 'CanRetry',
    });
    expect(definition.States.PermanentFailure).toEqual({
      Type: 'Fail',
      Error: ExecutionError.PermanentFailure,
      CausePath: '$.error.Cause',
    });
    // LoadResult's failures (no result object) are never permanent.
    expect(definition.States.LoadResult.Catch).toEqual([{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'CanRetry' }]);
  });

  test('LoadResult: s3:getObject of the result key, parsed into $.result.payload', () => {
    const load = definition.States.LoadResult;
    expect(load.Resource).toMatch(/:states:::aws-sdk:s3:getObject$/);
    expect(params(load)).toEqual({
      Bucket: expect.stringMatching(/^\$\{Ref:ServiceResultsBucket/),
      'Key.$': "States.Format('results/{}/{}/{}/{}.json', $.task.functionName, $.task.taskId, $.task.requestId, $.attempt.n)",
    });
    expect(load.ResultSelector).toEqual({ 'payload.$': 'States.StringToJson($.Body)' });
    expect(load.ResultPath).toBe('$.result');
    expect(load.Catch).toEqual([{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'CanRetry' }]);
  });

  test("MarkSucceeded records the ECS task ARN; MarkRetrying does not overwrite the helper's error message", () => {
    expect(values(definition.States.MarkSucceeded)[':runnerId']).toEqual({ 'S.$': '$.run.taskArn' });
    expect(values(definition.States.MarkRetrying)[':taskErrorMessage']).toBeUndefined();
    expect(definition.States.Backoff.Next).toBe('Run');
  });
});

describe('maxConcurrency', () => {
  const { fn } = lambdaTask({ maxConcurrency: 3 });
  const definition = definitionOf(fn.stateMachine);

  test('AcquireSlot first: ADD the execution to holders while fewer than max (or already a holder)', () => {
    expect(definition.StartAt).toBe('AcquireSlot');
    const acquire = definition.States.AcquireSlot;
    expect(acquire.Resource).toMatch(/:states:::dynamodb:updateItem$/);
    expect(acquire.ResultPath).toBeNull();
    expect(params(acquire)).toMatchObject({
      Key: { functionName: { 'S.$': '$.task.functionName' }, taskId: { S: '#concurrency' } },
      UpdateExpression: 'ADD #holders :me',
      ConditionExpression: 'attribute_not_exists(#holders) OR size(#holders) < :max OR contains(#holders, :meS)',
      ExpressionAttributeNames: { '#holders': 'holders' },
      ExpressionAttributeValues: {
        ':me': { 'SS.$': 'States.Array($$.Execution.Id)' },
        ':meS': { 'S.$': '$$.Execution.Id' },
        ':max': { N: '3' },
      },
    });
    expect(acquire.Catch).toEqual([{ ErrorEquals: [CONDITION_FAILED], ResultPath: null, Next: 'WaitForSlot' }]);
    expect(acquire.Next).toBe('MarkDequeued');
  });

  test('no slot: WaitForSlot → CheckAge → Expired past the deadline, else AcquireSlot again', () => {
    expect(definition.States.WaitForSlot).toEqual({ Type: 'Wait', Seconds: 10, Next: 'CheckAge' });
    expect(definition.States.CheckAge).toEqual({
      Type: 'Choice',
      Choices: [{ Variable: '$$.State.EnteredTime', StringGreaterThanEqualsPath: '$.task.deadline', Next: 'Expired' }],
      Default: 'AcquireSlot',
    });
    expect(definition.States.Expired).toMatchObject({ Type: 'Fail', Error: ExecutionError.Expired });
  });

  test('MarkDequeued: Enqueued → Dequeued, then MarkRunning', () => {
    expectStatusWrite(definition, 'MarkDequeued', 'Dequeued', TRANSITIONS.Dequeued, false);
    expect(definition.States.MarkDequeued.Next).toBe('MarkRunning');
  });

  test('ReleaseSlot after MarkSucceeded: DELETE the execution from holders', () => {
    expect(definition.States.MarkSucceeded.Next).toBe('ReleaseSlot');
    expect(params(definition.States.ReleaseSlot).Key).toEqual({
      functionName: { 'S.$': '$.task.functionName' },
      taskId: { S: '#concurrency' },
    });
    const release = definition.States.ReleaseSlot;
    expect(params(release)).toMatchObject({
      UpdateExpression: 'DELETE #holders :me',
      ExpressionAttributeValues: { ':me': { 'SS.$': 'States.Array($$.Execution.Id)' } },
    });
    expect(release.End).toBe(true);
  });

  test('with onSuccess, the slot is given back after the delivery, sent or not', () => {
    const delivered = definitionOf(
      lambdaTask((stack) => ({ maxConcurrency: 1, onSuccess: sqsDestination(stack, 'Done').destination })).fn.stateMachine,
    );
    expect(delivered.States.MarkSucceeded.Next).toBe('DeliverSuccess');
    expect(delivered.States.DeliverSuccess.Next).toBe('ReleaseSlot');
    expect(delivered.States.MarkUndelivered.Next).toBe('ReleaseSlot');
  });

  test('the slot poll interval is a prop', () => {
    const { fn: slow } = lambdaTask({ maxConcurrency: 1, slotPollInterval: Duration.seconds(30) });
    expect(definitionOf(slow.stateMachine).States.WaitForSlot.Seconds).toBe(30);
  });
});
