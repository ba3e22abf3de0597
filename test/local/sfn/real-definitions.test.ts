/**
 * The construct's own state machine definition (lib/state-machine.ts, via the construct-test
 * helpers), with its CloudFormation references replaced by local values, run by the emulation
 * against dynalite: the ASL the stack deploys is the ASL the local runtime runs.
 */
import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { Duration } from 'aws-cdk-lib';
import { executionArn as execArn } from '../../../lambda/model/execution';
import { executionCost, type StepFunctionsService } from '../../../local/sfn/service';
import { definitionOf } from '../../constructs/app';
import { lambdaTask } from '../../constructs/fixtures';
import { ddbClient, FakeLambda, type FakeEvents, history, machineArn, makeService, startAndWait, startDynalite, TABLE } from './helpers';

let dyn: { endpoint: string; close: () => Promise<void> };
let svc: StepFunctionsService;
let events: FakeEvents;

function localDefinition(functionName: string): object {
  const { fn } = lambdaTask({
    maxConcurrency: 1,
    maxRetryAttempts: 1,
    retryDelay: Duration.seconds(1),
    retryBackoffRate: 1,
    slotPollInterval: Duration.seconds(1),
  });
  const text = JSON.stringify(definitionOf(fn.stateMachine))
    .replace(/\$\{Ref:AWS::Partition\}/g, 'aws')
    .replace(/\$\{Ref:ServiceTasks[^}]*\}/g, TABLE)
    .replace(/\$\{GetAtt:Worker[^}]*\.Arn\}/g, `arn:aws:lambda:us-east-1:000000000000:function:${functionName}`);
  expect(text).not.toMatch(/\$\{(Ref|GetAtt):/);
  return JSON.parse(text);
}

beforeAll(async () => {
  dyn = await startDynalite();
  const lambda = new FakeLambda({
    worker: (p) => ({ sum: (p as number[]).reduce((a, b) => a + b, 0) }),
    broken: () => {
      throw new TypeError('bad input');
    },
  });
  ({ svc, events } = makeService({
    endpoint: dyn.endpoint,
    lambda,
    machines: { good: localDefinition('worker'), bad: localDefinition('broken') },
  }));
});

afterAll(async () => {
  await svc.close();
  await dyn.close();
});

async function submit(machine: string, taskId: string, name: string, deadlineMs = 3_600_000, payload: unknown = [1, 2, 3]) {
  const now = new Date();
  const deadline = new Date(now.getTime() + deadlineMs).toISOString();
  const ddb = ddbClient(dyn.endpoint);
  await ddb.send(
    new PutItemCommand({
      TableName: TABLE,
      Item: {
        functionName: { S: machine },
        taskId: { S: taskId },
        status: { S: 'Enqueued' },
        executionArn: { S: execArn(machineArn(machine), name) },
        deadline: { S: deadline },
      },
    }),
  );
  ddb.destroy();
  return {
    task: { functionName: machine, taskId, requestId: name, payload, deadline, startedAt: now.toISOString() },
    attempt: { n: 1, delay: 0 },
  };
}

async function item(fn: string, taskId: string) {
  const ddb = ddbClient(dyn.endpoint);
  const { GetItemCommand } = await import('@aws-sdk/client-dynamodb');
  const out = await ddb.send(new GetItemCommand({ TableName: TABLE, Key: { functionName: { S: fn }, taskId: { S: taskId } } }));
  ddb.destroy();
  return out.Item ?? {};
}

test('success: slot acquired and released, Dequeued → Running → Succeeded with the result', async () => {
  const d = await startAndWait(svc, 'good', await submit('good', 'a1', 'req-a1'), 'req-a1');
  expect([d.status, d.error, d.cause]).toEqual(['SUCCEEDED', undefined, undefined]);
  const it = await item('good', 'a1');
  expect(it.status.S).toBe('Succeeded');
  expect(JSON.parse(it.returnPayload.S ?? '')).toEqual({ sum: 6 });
  expect(it.statusKey.S).toBe('good#Succeeded');
  expect(it.events.L?.map((e) => e.M?.status.S)).toEqual(['Dequeued', 'Running', 'Succeeded']);
  const slots = await item('good', '#concurrency');
  expect(slots.holders).toBeUndefined(); // DELETE of the last holder removes the set
  const cost = executionCost((await history(svc, d.executionArn)) as { type: string }[]);
  // AcquireSlot, MarkDequeued, MarkRunning, Run, MarkSucceeded, ReleaseSlot
  expect(cost).toEqual({ stateTransitions: 6, dynamodbWrites: 5, lambdaInvocations: 1, ecsTasks: 0 });
  expect(events.statusChanges(d.executionArn)).toHaveLength(1);
});

test('failure: Retrying after 1 s, then RetriesExhausted with the function error as cause', async () => {
  const d = await startAndWait(svc, 'bad', await submit('bad', 'b1', 'req-b1'), 'req-b1');
  expect(d.status).toBe('FAILED');
  expect(d.error).toBe('TaskRetriesExhausted');
  expect(JSON.parse(d.cause ?? '{}')).toMatchObject({ errorType: 'TypeError', errorMessage: 'bad input' });
  const it = await item('bad', 'b1');
  expect(it.alreadyRetriedTimes.N).toBe('1');
  expect(it.events.L?.map((e) => e.M?.status.S)).toEqual(['Dequeued', 'Running', 'Retrying', 'Running']);
});

test('no free slot until the deadline: WaitForSlot → CheckAge on $$.State.EnteredTime → TaskExpired', async () => {
  const ddb = ddbClient(dyn.endpoint);
  await ddb.send(
    new PutItemCommand({
      TableName: TABLE,
      Item: {
        functionName: { S: 'good' },
        taskId: { S: '#concurrency' },
        holders: { SS: ['arn:aws:states:us-east-1:000000000000:execution:good:other'] },
      },
    }),
  );
  ddb.destroy();
  const d = await startAndWait(svc, 'good', await submit('good', 'c1', 'req-c1', 1500), 'req-c1');
  expect(d.status).toBe('FAILED');
  expect(d.error).toBe('TaskExpired');
  const types = (await history(svc, d.executionArn)).map((e) => e.type);
  expect(types.filter((t) => t === 'WaitStateEntered').length).toBeGreaterThanOrEqual(1);
  expect(types.filter((t) => t === 'ChoiceStateEntered').length).toBeGreaterThanOrEqual(1);
  expect((await item('good', 'c1')).status.S).toBe('Enqueued');
});
