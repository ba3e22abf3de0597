import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { processGroupMembers } from '../../../local/ecs';
import { RESTART_ERROR } from '../../../local/sfn/service';
import { containerKind } from './definitions';
import { FakeEvents, machineArn, makeService, sleep, startAndWait } from './helpers';

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
};

let dataDir: string;
beforeAll(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'sfn-persist-'));
});
afterAll(() => {
  rmSync(dataDir, { recursive: true, force: true });
});

test('executions survive a restart; RUNNING ones become FAILED LocalRuntimeRestarted, their processes killed and their events published', async () => {
  const first = makeService({ endpoint: 'http://127.0.0.1:9', machines, taskDefinitions, dataDir });
  const done = await startAndWait(first.svc, 'quick', { a: 1 }, 'finished-before');
  expect(done.status).toBe('SUCCEEDED');
  const { executionArn } = (await first.svc.handle('StartExecution', {
    stateMachineArn: machineArn('long'),
    name: 'running-at-crash',
    input: JSON.stringify({ task: { taskId: 't' }, attempt: { n: 1, delay: 0 } }),
  })) as { executionArn: string };
  let pid: number | undefined;
  for (let i = 0; i < 50 && !pid; i++) {
    await sleep(50);
    pid = first.svc.liveEcsTasks().find((t) => t.executionArn === executionArn)?.containers[0].pid;
  }
  expect(pid).toBeDefined();
  expect(processGroupMembers(pid as number).length).toBeGreaterThan(0);

  // "Crash": a second runtime on the same data dir while the first never shut down.
  const events = new FakeEvents();
  const second = makeService({ endpoint: 'http://127.0.0.1:9', machines, taskDefinitions, dataDir, events });
  // Orphaned container processes of the dead runtime are killed at once.
  for (let i = 0; i < 20 && processGroupMembers(pid as number).length > 0; i++) await sleep(50);
  expect(processGroupMembers(pid as number)).toEqual([]);

  const d = (await second.svc.handle('DescribeExecution', { executionArn })) as Record<string, unknown>;
  expect(d).toMatchObject({ status: 'FAILED', error: RESTART_ERROR });
  expect(String(d.cause)).toMatch(/local runtime stopped while this execution was running/);
  expect(events.statusChanges()).toHaveLength(0); // published by start(), once the edge is up
  const recovered = await second.svc.start();
  expect(recovered.map((r) => r.executionArn)).toEqual([executionArn]);
  expect(events.statusChanges(executionArn).map((e) => e.detail)).toEqual([
    expect.objectContaining({ status: 'FAILED', error: RESTART_ERROR, name: 'running-at-crash' }),
  ]);
  expect(await second.svc.start()).toEqual([]);

  const old = (await second.svc.handle('DescribeExecution', { executionArn: done.executionArn })) as Record<string, unknown>;
  expect(old).toMatchObject({ status: 'SUCCEEDED', output: '{"done":true}' });
  const h = (await second.svc.handle('GetExecutionHistory', { executionArn: done.executionArn })) as { events: { type: string }[] };
  expect(h.events.map((e) => e.type)).toEqual(['ExecutionStarted', 'PassStateEntered', 'PassStateExited', 'ExecutionSucceeded']);
  const list = (await second.svc.handle('ListExecutions', { stateMachineArn: machineArn('long') })) as { executions: unknown[] };
  expect(list.executions).toHaveLength(1);
  await expect(
    second.svc.handle('StartExecution', { stateMachineArn: machineArn('quick'), name: 'finished-before', input: '{"a":1}' }),
  ).rejects.toMatchObject({ name: 'ExecutionAlreadyExists' });

  // A third start sees nothing left RUNNING.
  const third = makeService({ endpoint: 'http://127.0.0.1:9', machines, taskDefinitions, dataDir });
  expect(await third.svc.start()).toEqual([]);

  await first.svc.close();
  await second.svc.close();
  await third.svc.close();
});

test('close() kills the container processes and leaves the execution for the next start to resolve', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sfn-close-'));
  try {
    const first = makeService({ endpoint: 'http://127.0.0.1:9', machines, taskDefinitions, dataDir: dir });
    const { executionArn } = (await first.svc.handle('StartExecution', {
      stateMachineArn: machineArn('long'),
      input: JSON.stringify({ task: { taskId: 't' }, attempt: { n: 1, delay: 0 } }),
    })) as { executionArn: string };
    let pid: number | undefined;
    for (let i = 0; i < 50 && !pid; i++) {
      await sleep(50);
      pid = first.svc.liveEcsTasks()[0]?.containers[0].pid;
    }
    await first.svc.close();
    expect(processGroupMembers(pid as number)).toEqual([]);
    await sleep(300);
    expect(first.events.statusChanges()).toEqual([]); // nothing published while shutting down

    const second = makeService({ endpoint: 'http://127.0.0.1:9', machines, taskDefinitions, dataDir: dir });
    await second.svc.start();
    expect(second.events.statusChanges(executionArn).map((e) => e.detail.error)).toEqual([RESTART_ERROR]);
    await second.svc.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
