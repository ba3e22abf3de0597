/**
 * Executions across a restart on the same data dir ("crash" = a second service on the dir while
 * the first never shut down): finished ones are kept; RUNNING ones go on from their saved step —
 * an interrupted runner attempt fails into the state's Retry/Catch, other states run again, a
 * DynamoDB write already applied is not applied twice — or, without a saved step, end FAILED.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { executionArn as execArn } from '../../../lambda/model/execution';
import { processGroupMembers } from '../../../local/ecs';
import { RESTART_ERROR, type StepFunctionsService } from '../../../local/sfn/service';
import { ExecutionStore } from '../../../local/sfn/store';
import { containerKind, lambdaKind } from './definitions';
import { ddbClient, FakeEvents, FakeLambda, history, machineArn, makeService, sleep, startAndWait, startDynalite, TABLE } from './helpers';

const tdArn = 'arn:aws:ecs:us-east-1:000000000000:task-definition/long:1';
const taskDefinitions = [
  {
    arn: tdArn,
    family: 'long',
    containers: [{ name: 'worker', environment: {}, command: ['sh', '-c', 'sleep 300 & wait'], cwd: process.cwd() }],
  },
];
const machines = {
  long: containerKind({ taskDefinition: tdArn }),
  quick: { StartAt: 'P', States: { P: { Type: 'Pass', Result: { done: true }, End: true } } },
  waits: { StartAt: 'W', States: { W: { Type: 'Wait', Seconds: 2, Next: 'P' }, P: { Type: 'Pass', End: true } } },
};

/** The ECS process of an execution, once it runs. */
async function ecsPid(svc: StepFunctionsService, executionArn: string): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const pid = svc.liveEcsTasks().find((t) => t.executionArn === executionArn)?.containers[0].pid;
    if (pid) return pid;
    await sleep(50);
  }
  throw new Error(`no ECS process started for ${executionArn} in 5 s`);
}

/** The saved record of an execution, as the store has it on disk. */
function savedRecord(dir: string, executionArn: string) {
  const rec = new ExecutionStore(dir).load().find((r) => r.executionArn === executionArn);
  if (!rec) throw new Error(`no saved record of ${executionArn} under ${dir}`);
  return rec;
}

let dataDir: string;
beforeAll(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'sfn-persist-'));
});
afterAll(() => {
  rmSync(dataDir, { recursive: true, force: true });
});

test('finished executions survive a restart; one interrupted in its runner state goes on: the attempt fails into its Catch, its processes are killed', async () => {
  const first = makeService({ endpoint: 'http://127.0.0.1:9', machines, taskDefinitions, dataDir });
  const done = await startAndWait(first.svc, 'quick', { a: 1 }, 'finished-before');
  expect(done.status).toBe('SUCCEEDED');
  const { executionArn } = (await first.svc.handle('StartExecution', {
    stateMachineArn: machineArn('long'),
    name: 'running-at-crash',
    input: JSON.stringify({ task: { taskId: 't' }, attempt: { n: 1, delay: 0 } }),
  })) as { executionArn: string };
  const pid = await ecsPid(first.svc, executionArn);
  expect(processGroupMembers(pid).length).toBeGreaterThan(0);
  expect(savedRecord(dataDir, executionArn).step).toMatchObject({ state: 'Run', seq: 1 });

  // "Crash": a second runtime on the same data dir while the first never shut down.
  const events = new FakeEvents();
  const second = makeService({ endpoint: 'http://127.0.0.1:9', machines, taskDefinitions, dataDir, events });
  // Orphaned container processes of the dead runtime are killed at once.
  for (let i = 0; i < 20 && processGroupMembers(pid).length > 0; i++) await sleep(50);
  expect(processGroupMembers(pid)).toEqual([]);
  expect(second.svc.resumedExecutions).toEqual([executionArn]);

  expect(await second.svc.start()).toEqual([]); // nothing had to be failed
  const rec = await second.svc.waitForExecution(executionArn, 10_000);
  // containerKind's Run catches States.TaskFailed into its Failed state.
  expect(rec).toMatchObject({ status: 'FAILED', error: 'States.TaskFailed' });
  expect(rec.cause).toMatch(/local runtime stopped while this attempt was running \(state 'Run'\)/);
  expect(events.statusChanges(executionArn).map((e) => e.detail)).toEqual([
    expect.objectContaining({ status: 'FAILED', error: 'States.TaskFailed', name: 'running-at-crash' }),
  ]);
  const h = await history(second.svc, executionArn);
  expect(h.filter((e) => e.type === 'TaskStateEntered')).toHaveLength(1); // not entered twice
  expect(h.find((e) => e.type === 'TaskFailed')).toMatchObject({ taskFailedEventDetails: { error: 'States.TaskFailed' } });
  expect(h.some((e) => JSON.stringify(e).includes('ResumeAfterLocalRuntimeRestart'))).toBe(false);
  expect(await second.svc.start()).toEqual([]);

  const old = (await second.svc.handle('DescribeExecution', { executionArn: done.executionArn })) as Record<string, unknown>;
  expect(old).toMatchObject({ status: 'SUCCEEDED', output: '{"done":true}' });
  const oh = await history(second.svc, done.executionArn);
  expect(oh.map((e) => e.type)).toEqual(['ExecutionStarted', 'PassStateEntered', 'PassStateExited', 'ExecutionSucceeded']);
  await expect(
    second.svc.handle('StartExecution', { stateMachineArn: machineArn('quick'), name: 'finished-before', input: '{"a":1}' }),
  ).rejects.toMatchObject({ name: 'ExecutionAlreadyExists' });

  // A third start sees nothing left RUNNING.
  const third = makeService({ endpoint: 'http://127.0.0.1:9', machines, taskDefinitions, dataDir });
  expect(third.svc.resumedExecutions).toEqual([]);
  expect(await third.svc.start()).toEqual([]);

  await first.svc.close();
  await second.svc.close();
  await third.svc.close();
});

test('an execution saved without its step (an older data dir) ends FAILED LocalRuntimeRestarted, its event published by start()', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sfn-nostep-'));
  try {
    const first = makeService({ endpoint: 'http://127.0.0.1:9', machines, taskDefinitions, dataDir: dir });
    const { executionArn } = (await first.svc.handle('StartExecution', {
      stateMachineArn: machineArn('long'),
      input: JSON.stringify({ task: { taskId: 't' }, attempt: { n: 1, delay: 0 } }),
    })) as { executionArn: string };
    const pid = await ecsPid(first.svc, executionArn);
    await first.svc.close();
    expect(processGroupMembers(pid)).toEqual([]);
    const folder = join(dir, 'stepfunctions', 'executions');
    for (const f of readdirSync(folder)) {
      const rec = JSON.parse(readFileSync(join(folder, f), 'utf8'));
      delete rec.step;
      writeFileSync(join(folder, f), JSON.stringify(rec));
    }
    const second = makeService({ endpoint: 'http://127.0.0.1:9', machines, taskDefinitions, dataDir: dir });
    const d = (await second.svc.handle('DescribeExecution', { executionArn })) as Record<string, unknown>;
    expect(d).toMatchObject({ status: 'FAILED', error: RESTART_ERROR });
    expect(String(d.cause)).toMatch(/its progress was not saved/);
    expect(second.events.statusChanges()).toHaveLength(0); // published by start(), once the edge is up
    expect((await second.svc.start()).map((r) => r.executionArn)).toEqual([executionArn]);
    expect(second.events.statusChanges(executionArn).map((e) => e.detail.error)).toEqual([RESTART_ERROR]);
    await second.svc.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a Wait interrupted by a restart keeps its original end time', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sfn-wait-'));
  try {
    const first = makeService({ endpoint: 'http://127.0.0.1:9', machines, dataDir: dir });
    const started = Date.now();
    const { executionArn } = (await first.svc.handle('StartExecution', { stateMachineArn: machineArn('waits'), input: '{"k":1}' })) as {
      executionArn: string;
    };
    await sleep(1200);
    expect(savedRecord(dir, executionArn).step).toMatchObject({ state: 'W', input: '{"k":1}' });
    const second = makeService({ endpoint: 'http://127.0.0.1:9', machines, dataDir: dir });
    await second.svc.start();
    const rec = await second.svc.waitForExecution(executionArn, 10_000);
    const ended = Date.now() - started;
    expect(rec).toMatchObject({ status: 'SUCCEEDED', output: '{"k":1}' });
    // 2 s from the original entry, not 2 s from the restart (1.2 s in).
    expect(ended).toBeGreaterThanOrEqual(1900);
    expect(ended).toBeLessThan(2900);
    await first.svc.close();
    await second.svc.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

describe('DynamoDB and Lambda states across a restart', () => {
  let dyn: { endpoint: string; close: () => Promise<void> };
  beforeAll(async () => {
    dyn = await startDynalite();
  });
  afterAll(async () => {
    await dyn.close();
  });

  const taskInput = (fn: string, taskId: string) => ({
    task: { functionName: fn, taskId, requestId: `r-${taskId}`, payload: { n: 1 } },
    attempt: { n: 1, delay: 0 },
  });
  async function putTask(fn: string, taskId: string, owner: string, status = 'Enqueued'): Promise<void> {
    const ddb = ddbClient(dyn.endpoint);
    await ddb.send(
      new PutItemCommand({
        TableName: TABLE,
        Item: {
          functionName: { S: fn },
          taskId: { S: taskId },
          status: { S: status },
          executionArn: { S: owner },
          deadline: { S: new Date(Date.now() + 3_600_000).toISOString() },
        },
      }),
    );
    ddb.destroy();
  }
  async function statusOf(fn: string, taskId: string): Promise<string | undefined> {
    const ddb = ddbClient(dyn.endpoint);
    const out = await ddb.send(
      new GetItemCommand({ TableName: TABLE, Key: { functionName: { S: fn }, taskId: { S: taskId } }, ConsistentRead: true }),
    );
    ddb.destroy();
    return out.Item?.status?.S;
  }

  test('a Lambda attempt interrupted by a restart counts as failed: the retry loop runs the next attempt', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sfn-retry-'));
    try {
      const lambdaMachines = { job: lambdaKind({ fn: 'job', maxRetryAttempts: 1, delays: [0] }) };
      const name = 'job-1';
      await putTask('job', 't1', execArn(machineArn('job'), name));
      // The first runtime's function never answers: the restart interrupts it.
      const hung = new FakeLambda({ job: () => new Promise(() => undefined) });
      const first = makeService({ endpoint: dyn.endpoint, machines: lambdaMachines, lambda: hung, dataDir: dir });
      const { executionArn } = (await first.svc.handle('StartExecution', {
        stateMachineArn: machineArn('job'),
        name,
        input: JSON.stringify(taskInput('job', 't1')),
      })) as { executionArn: string };
      for (let i = 0; i < 100 && hung.calls.length === 0; i++) await sleep(20);
      expect(hung.calls).toHaveLength(1);
      expect(await statusOf('job', 't1')).toBe('Running');

      const ok = new FakeLambda({ job: (p) => ({ done: p }) });
      const second = makeService({ endpoint: dyn.endpoint, machines: lambdaMachines, lambda: ok, dataDir: dir });
      await second.svc.start();
      const rec = await second.svc.waitForExecution(executionArn, 10_000);
      expect(rec.status).toBe('SUCCEEDED');
      expect(ok.calls).toHaveLength(1); // the second attempt
      expect(await statusOf('job', 't1')).toBe('Succeeded');
      const out = JSON.parse(rec.output ?? '{}');
      expect(out.attempt.n).toBe(2);
      const h = await history(second.svc, executionArn);
      expect(h.filter((e) => e.type === 'TaskFailed').map((e) => e.taskFailedEventDetails)).toEqual([
        expect.objectContaining({
          error: 'States.TaskFailed',
          cause: expect.stringMatching(/local runtime stopped while this attempt was running/),
        }),
      ]);
      const entered = h.filter((e) => String(e.type).endsWith('StateEntered'));
      expect(entered.map((e) => (e.stateEnteredEventDetails as { name: string }).name)).toEqual([
        'MarkRunning',
        'Run',
        'CanRetry',
        'MarkRetrying',
        'NextAttempt',
        'Backoff',
        'MarkRunning',
        'Run',
        'MarkSucceeded',
      ]);
      await first.svc.close();
      await second.svc.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a DynamoDB write re-run after a restart is not applied twice when it was applied, and runs when it was not', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sfn-write-'));
    try {
      const write = {
        StartAt: 'Mark',
        States: {
          Mark: {
            Type: 'Task',
            Resource: 'arn:aws:states:::dynamodb:updateItem',
            Parameters: {
              TableName: TABLE,
              Key: { functionName: { 'S.$': '$.task.functionName' }, taskId: { 'S.$': '$.task.taskId' } },
              UpdateExpression: 'SET #s = :running',
              ConditionExpression: '#s = :enq',
              ExpressionAttributeNames: { '#s': 'status' },
              ExpressionAttributeValues: { ':running': { S: 'Running' }, ':enq': { S: 'Enqueued' } },
            },
            ResultPath: null,
            Catch: [{ ErrorEquals: ['DynamoDB.ConditionalCheckFailedException'], ResultPath: '$.error', Next: 'NotRunnable' }],
            End: true,
          },
          NotRunnable: { Type: 'Fail', Error: 'TaskNotRunnable' },
        },
      };
      const store = new ExecutionStore(dir);
      const itemBefore = (taskId: string, status = 'Enqueued') => ({
        functionName: { S: 'w' },
        taskId: { S: taskId },
        status: { S: status },
      });
      // Two executions "killed" inside Mark, with the item saved before the write: for `applied`
      // the write then happened (the item is Running), for `pending` it did not.
      for (const [taskId, status] of [
        ['applied', 'Running'],
        ['pending', 'Enqueued'],
      ] as const) {
        const ddb = ddbClient(dyn.endpoint);
        await ddb.send(new PutItemCommand({ TableName: TABLE, Item: itemBefore(taskId, status) }));
        ddb.destroy();
        const input = JSON.stringify(taskInput('w', taskId));
        store.save({
          executionArn: execArn(machineArn('write'), taskId),
          stateMachineArn: machineArn('write'),
          name: taskId,
          status: 'RUNNING',
          input,
          startDate: Date.now(),
          history: [],
          ecsProcesses: [],
          step: { state: 'Mark', input, enteredAt: Date.now(), seq: 1, preImage: itemBefore(taskId) },
        });
      }
      const svc = makeService({ endpoint: dyn.endpoint, machines: { write }, dataDir: dir });
      await svc.svc.start();
      for (const taskId of ['applied', 'pending']) {
        const rec = await svc.svc.waitForExecution(execArn(machineArn('write'), taskId), 10_000);
        expect([taskId, rec.status, rec.error]).toEqual([taskId, 'SUCCEEDED', undefined]);
        expect(await statusOf('w', taskId)).toBe('Running');
      }
      await svc.svc.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
