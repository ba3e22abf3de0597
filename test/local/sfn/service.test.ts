import { GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { executionArn as execArn } from '../../../lambda/model/execution';
import { executionCost, type StepFunctionsService } from '../../../local/sfn/service';
import { checkAge, lambdaKind } from './definitions';
import { FakeLambda, ddbClient, history, machineArn, makeService, startAndWait, startDynalite, TABLE, type FakeEvents } from './helpers';

let dyn: { endpoint: string; close: () => Promise<void> };
let svc: StepFunctionsService;
let events: FakeEvents;
let lambda: FakeLambda;
let failures = 0;

beforeAll(async () => {
  dyn = await startDynalite();
  lambda = new FakeLambda({
    echo: (p) => ({ ok: true, echo: p }),
    boom: () => {
      failures++;
      const e = new Error('it broke');
      e.name = 'Boom';
      throw e;
    },
  });
  ({ svc, events } = makeService({
    endpoint: dyn.endpoint,
    lambda,
    machines: {
      ok: lambdaKind({ fn: 'echo', maxRetryAttempts: 2, delays: [1, 0] }),
      failing: lambdaKind({ fn: 'boom', maxRetryAttempts: 1, delays: [1] }),
      missing: lambdaKind({ fn: 'nope', maxRetryAttempts: 1, delays: [0] }),
      age: checkAge,
      unsupported: {
        StartAt: 'Batch',
        States: { Batch: { Type: 'Task', Resource: 'arn:aws:states:::batch:submitJob.sync', End: true } },
      },
      slow: { StartAt: 'W', TimeoutSeconds: 1, States: { W: { Type: 'Wait', Seconds: 30, End: true } } },
      waiting: { StartAt: 'W', States: { W: { Type: 'Wait', Seconds: 30, End: true } } },
    },
  }));
});

afterAll(async () => {
  await svc.close();
  await dyn.close();
});

async function putTask(machine: string, name: string, taskId: string, opts: { deadlineMs?: number; owner?: string } = {}) {
  const ddb = ddbClient(dyn.endpoint);
  await ddb.send(
    new PutItemCommand({
      TableName: TABLE,
      Item: {
        functionName: { S: machine },
        taskId: { S: taskId },
        status: { S: 'Enqueued' },
        executionArn: { S: opts.owner ?? execArn(machineArn(machine), name) },
        deadline: { S: new Date(Date.now() + (opts.deadlineMs ?? 3_600_000)).toISOString() },
      },
    }),
  );
  ddb.destroy();
}

async function getTask(fn: string, taskId: string): Promise<Record<string, { S?: string; N?: string }>> {
  const ddb = ddbClient(dyn.endpoint);
  const out = await ddb.send(
    new GetItemCommand({ TableName: TABLE, Key: { functionName: { S: fn }, taskId: { S: taskId } }, ConsistentRead: true }),
  );
  ddb.destroy();
  return (out.Item ?? {}) as Record<string, { S?: string; N?: string }>;
}

const input = (fn: string, taskId: string, payload: unknown = { x: 1 }) => ({
  task: { functionName: fn, taskId, requestId: `r-${taskId}`, payload, deadline: 'unused', startedAt: 'unused' },
  attempt: { n: 1, delay: 0 },
});

describe('lambda kind: conditional updates, lambda:invoke, history', () => {
  test('success path: Running → Succeeded with the Lambda request id, 4 transitions, 2 writes, 1 invoke', async () => {
    await putTask('ok', 'exec-ok-1', 't1');
    const d = await startAndWait(svc, 'ok', input('ok', 't1', { hello: 'world' }), 'exec-ok-1');
    expect([d.status, d.error, d.cause]).toEqual(['SUCCEEDED', undefined, undefined]);
    const out = JSON.parse(d.output ?? '{}');
    expect(out.result).toEqual({ payload: { ok: true, echo: { hello: 'world' } }, requestId: expect.stringMatching(/^req-/) });
    expect(out.marked).toEqual({ status: 'Succeeded' });

    const item = await getTask('ok', 't1');
    expect(item.status.S).toBe('Succeeded');
    expect(JSON.parse(item.returnPayload.S ?? '')).toEqual({ ok: true, echo: { hello: 'world' } });
    expect(item.runnerId.S).toBe(out.result.requestId);
    // $$.State.EnteredTime is an ISO timestamp of "now".
    expect(Math.abs(Date.parse(item.endedAt.S ?? '') - Date.now())).toBeLessThan(10_000);

    const h = await history(svc, d.executionArn);
    const types = h.map((e) => e.type);
    expect(types[0]).toBe('ExecutionStarted');
    expect(types[types.length - 1]).toBe('ExecutionSucceeded');
    expect(types.filter((t) => String(t).endsWith('StateEntered'))).toHaveLength(3);
    const scheduled = h.filter((e) => e.type === 'TaskScheduled').map((e) => e.taskScheduledEventDetails as Record<string, unknown>);
    expect(scheduled.filter((s) => s.resourceType === 'dynamodb' && s.resource === 'updateItem')).toHaveLength(2);
    expect(scheduled.filter((s) => s.resourceType === 'lambda' && s.resource === 'invoke')).toHaveLength(1);
    expect(h.map((e) => e.id)).toEqual(h.map((_, i) => i + 1));
    expect(executionCost(h as { type: string }[])).toEqual({ stateTransitions: 3, dynamodbWrites: 2, lambdaInvocations: 1, ecsTasks: 0 });
    // Task events sit between their state's entered and exited events.
    const runEntered = h.findIndex((e) => e.type === 'TaskStateEntered' && (e.stateEnteredEventDetails as { name: string }).name === 'Run');
    expect(h.slice(runEntered, runEntered + 5).map((e) => e.type)).toEqual([
      'TaskStateEntered',
      'TaskScheduled',
      'TaskStarted',
      'TaskSucceeded',
      'TaskStateExited',
    ]);
    const succeeded = h[runEntered + 3].taskSucceededEventDetails as { output: string };
    expect(JSON.parse(succeeded.output)).toMatchObject({
      ExecutedVersion: '$LATEST',
      StatusCode: 200,
      Payload: { ok: true },
      SdkHttpMetadata: { HttpStatusCode: 200 },
    });

    const changes = events.statusChanges(d.executionArn);
    expect(changes).toHaveLength(1);
    expect(changes[0]).toMatchObject({
      source: 'aws.states',
      resources: [d.executionArn],
      detail: { status: 'SUCCEEDED', name: 'exec-ok-1', stateMachineArn: machineArn('ok'), inputDetails: { included: true } },
    });
    expect(typeof changes[0].detail.startDate).toBe('number');
    expect(changes[0].detail.stopDate as number).toBeGreaterThanOrEqual(changes[0].detail.startDate as number);
    expect(d.startDate).toBeLessThan(1e11); // epoch seconds, as the JSON protocol
  });

  test('function error → Retrying with backoff (States.MathAdd/ArrayGetItem + Wait SecondsPath) → RetriesExhausted with the payload as cause', async () => {
    failures = 0;
    await putTask('failing', 'exec-fail-1', 't2');
    const started = Date.now();
    const d = await startAndWait(svc, 'failing', input('failing', 't2'), 'exec-fail-1');
    expect(Date.now() - started).toBeGreaterThanOrEqual(900); // the 1 s backoff
    expect(failures).toBe(2);
    expect(d.status).toBe('FAILED');
    expect(d.error).toBe('TaskRetriesExhausted');
    expect(JSON.parse(d.cause ?? '')).toMatchObject({ errorType: 'Boom', errorMessage: 'it broke' });
    const item = await getTask('failing', 't2');
    // attempt 2 marked Running again, then failed; the finalizer (not here) writes Failed
    expect(item.status.S).toBe('Running');
    expect(item.alreadyRetriedTimes.N).toBe('1');
    expect(item.taskErrorMessage.S).toContain('it broke');
    const h = await history(svc, d.executionArn);
    const failed = h.filter((e) => e.type === 'TaskFailed').map((e) => e.taskFailedEventDetails as Record<string, string>);
    expect(failed.map((f) => f.error)).toEqual(['Boom', 'Boom']);
    expect(h.filter((e) => e.type === 'WaitStateEntered')).toHaveLength(1);
    expect(events.statusChanges(d.executionArn)).toHaveLength(1);
    expect(events.statusChanges(d.executionArn)[0].detail).toMatchObject({ status: 'FAILED', error: 'TaskRetriesExhausted' });
  });

  test('a status write whose condition fails → DynamoDB.ConditionalCheckFailedException caught → TaskNotRunnable', async () => {
    await putTask('ok', 'exec-stale', 't3', { owner: 'arn:aws:states:us-east-1:000000000000:execution:ok:someone-else' });
    const d = await startAndWait(svc, 'ok', input('ok', 't3'), 'exec-stale');
    expect(d.status).toBe('FAILED');
    expect(d.error).toBe('TaskNotRunnable');
    expect(d.cause).toMatch(/conditional request failed/i);
    const h = await history(svc, d.executionArn);
    const failed = h.find((e) => e.type === 'TaskFailed')?.taskFailedEventDetails as Record<string, string>;
    expect(failed).toMatchObject({ error: 'DynamoDB.ConditionalCheckFailedException', resourceType: 'dynamodb', resource: 'updateItem' });
    expect(lambda.calls.filter((c) => (c.payload as { x?: number })?.x === 1 && c.name === 'echo')).toHaveLength(0);
  });

  test('past deadline → the deadline > $$.State.EnteredTime condition fails', async () => {
    await putTask('ok', 'exec-late', 't4', { deadlineMs: -1000 });
    const d = await startAndWait(svc, 'ok', input('ok', 't4'), 'exec-late');
    expect(d.error).toBe('TaskNotRunnable');
  });

  test('unknown function → Lambda.ResourceNotFoundException → TaskInvalid', async () => {
    await putTask('missing', 'exec-missing', 't5');
    const d = await startAndWait(svc, 'missing', input('missing', 't5'), 'exec-missing');
    expect(d.status).toBe('FAILED');
    expect(d.error).toBe('TaskInvalid');
    expect(d.cause).toMatch(/Function not found/);
  });

  test('Choice on $$.State.EnteredTime ≥ deadline, $$ context values and intrinsics', async () => {
    const fresh = await startAndWait(svc, 'age', { deadline: new Date(Date.now() + 60_000).toISOString() }, 'age-fresh');
    expect(fresh.status).toBe('SUCCEEDED');
    const out = JSON.parse(fresh.output ?? '{}');
    expect(out).toMatchObject({
      state: 'Context',
      id: fresh.executionArn,
      name: 'age-fresh',
      machine: machineArn('age'),
      key: 'results/age-fresh/x/2.json',
      parsed: { a: [1, 2] },
    });
    expect(Math.abs(Date.parse(out.entered) - Date.now())).toBeLessThan(10_000);
    const expired = await startAndWait(svc, 'age', { deadline: new Date(Date.now() - 1000).toISOString() }, 'age-old');
    expect(expired).toMatchObject({ status: 'FAILED', error: 'TaskExpired', cause: 'waited past the deadline' });
    const h = await history(svc, expired.executionArn);
    expect(h.map((e) => e.type)).toEqual([
      'ExecutionStarted',
      'PassStateEntered',
      'PassStateExited',
      'ChoiceStateEntered',
      'ChoiceStateExited',
      'FailStateEntered',
      'ExecutionFailed',
    ]);
  });

  test('an unsupported resource fails the state with States.TaskFailed naming it', async () => {
    const d = await startAndWait(svc, 'unsupported', {});
    expect(d.status).toBe('FAILED');
    expect(d.error).toBe('States.TaskFailed');
    expect(d.cause).toBe('the local runtime does not support resource arn:aws:states:::batch:submitJob.sync');
  });

  test('execution TimeoutSeconds → TIMED_OUT', async () => {
    const d = await startAndWait(svc, 'slow', {});
    expect(d.status).toBe('TIMED_OUT');
    expect(d.error).toBe('States.Timeout');
    expect(events.statusChanges(d.executionArn).map((e) => e.detail.status)).toEqual(['TIMED_OUT']);
    const h = await history(svc, d.executionArn);
    expect(h[h.length - 1].type).toBe('ExecutionTimedOut');
  });
});

describe('API', () => {
  test('StartExecution is idempotent for the same name and input while running; errors are AWS-shaped', async () => {
    const arn = machineArn('waiting');
    const a = (await svc.handle('StartExecution', { stateMachineArn: arn, name: 'same', input: '{"a":1}' })) as { executionArn: string };
    const b = (await svc.handle('StartExecution', { stateMachineArn: arn, name: 'same', input: '{"a":1}' })) as { executionArn: string };
    expect(b.executionArn).toBe(a.executionArn);
    await expect(svc.handle('StartExecution', { stateMachineArn: arn, name: 'same', input: '{"a":2}' })).rejects.toMatchObject({
      name: 'ExecutionAlreadyExists',
    });
    const list = (await svc.handle('ListExecutions', { stateMachineArn: arn })) as { executions: { name: string }[] };
    expect(list.executions.filter((e) => e.name === 'same')).toHaveLength(1);

    const stopped = (await svc.handle('StopExecution', { executionArn: a.executionArn, error: 'Why', cause: 'because' })) as {
      stopDate: number;
    };
    expect(typeof stopped.stopDate).toBe('number');
    const d = (await svc.handle('DescribeExecution', { executionArn: a.executionArn })) as Record<string, unknown>;
    expect(d).toMatchObject({ status: 'ABORTED', error: 'Why', cause: 'because', input: '{"a":1}' });
    await expect(svc.handle('StartExecution', { stateMachineArn: arn, name: 'same', input: '{"a":1}' })).rejects.toMatchObject({
      name: 'ExecutionAlreadyExists',
    });
    expect(events.statusChanges(a.executionArn).map((e) => e.detail.status)).toEqual(['ABORTED']);
    // stopping again changes nothing and publishes nothing
    await svc.handle('StopExecution', { executionArn: a.executionArn });
    expect(events.statusChanges(a.executionArn)).toHaveLength(1);
    const h = await history(svc, a.executionArn);
    expect(h[h.length - 1]).toMatchObject({ type: 'ExecutionAborted', executionAbortedEventDetails: { error: 'Why', cause: 'because' } });

    await expect(svc.handle('StartExecution', { stateMachineArn: machineArn('none') })).rejects.toMatchObject({
      name: 'StateMachineDoesNotExist',
    });
    await expect(svc.handle('StartExecution', { stateMachineArn: 'nope' })).rejects.toMatchObject({ name: 'InvalidArn' });
    await expect(svc.handle('StartExecution', { stateMachineArn: arn, input: '{bad' })).rejects.toMatchObject({
      name: 'InvalidExecutionInput',
    });
    await expect(svc.handle('StartExecution', { stateMachineArn: arn, name: 'has space' })).rejects.toMatchObject({ name: 'InvalidName' });
    await expect(
      svc.handle('DescribeExecution', { executionArn: 'arn:aws:states:us-east-1:000000000000:execution:waiting:nope' }),
    ).rejects.toMatchObject({ name: 'ExecutionDoesNotExist', statusCode: 400 });
    await expect(svc.handle('CreateStateMachine', {})).rejects.toMatchObject({
      name: 'UnknownOperationException',
      message: expect.stringContaining('CreateStateMachine'),
    });
  });

  test('ListExecutions: status filter and pagination, newest first', async () => {
    const arn = machineArn('waiting');
    const started: string[] = [];
    for (let i = 0; i < 5; i++) {
      const r = (await svc.handle('StartExecution', { stateMachineArn: arn, name: `page-${i}` })) as { executionArn: string };
      started.push(r.executionArn);
      await new Promise((r) => setTimeout(r, 5));
    }
    const running: string[] = [];
    let nextToken: string | undefined;
    let pages = 0;
    do {
      const page = (await svc.handle('ListExecutions', { stateMachineArn: arn, statusFilter: 'RUNNING', maxResults: 2, nextToken })) as {
        executions: { executionArn: string; status: string }[];
        nextToken?: string;
      };
      pages++;
      for (const e of page.executions) {
        expect(e.status).toBe('RUNNING');
        running.push(e.executionArn);
      }
      nextToken = page.nextToken;
    } while (nextToken);
    expect(pages).toBe(3);
    expect(running).toEqual([...started].reverse());
    for (const a of started) await svc.handle('StopExecution', { executionArn: a });
    const aborted = (await svc.handle('ListExecutions', { stateMachineArn: arn, statusFilter: 'ABORTED' })) as { executions: unknown[] };
    expect(aborted.executions.length).toBeGreaterThanOrEqual(6);
  });
});
