import { processGroupMembers } from '../../../local/ecs';
import type { StepFunctionsService } from '../../../local/sfn/service';
import type { LocalTaskDefinition } from '../../../local/types';
import { containerKind } from './definitions';
import { type FakeEvents, type FakeLogs, history, machineArn, makeService, sleep, startAndWait } from './helpers';

const tdArn = (family: string) => `arn:aws:ecs:us-east-1:000000000000:task-definition/${family}:1`;
const td = (family: string, script: string): LocalTaskDefinition => ({
  arn: tdArn(family),
  family,
  containers: [
    {
      name: 'worker',
      environment: { STATIC: 'from-task-definition', TASK_ID: 'overridden' },
      command: ['sh', '-c', script],
      cwd: process.cwd(),
      logGroupName: '/asynctask/tasks',
      logStreamPrefix: 'etl',
    },
  ],
});

let svc: StepFunctionsService;
let events: FakeEvents;
let logs: FakeLogs;

beforeAll(() => {
  ({ svc, events, logs } = makeService({
    // No DynamoDB here: the container machines only run ECS tasks.
    endpoint: 'http://127.0.0.1:9',
    taskDefinitions: [
      td(
        'ok',
        'echo "hello $TASK_ID attempt $ATTEMPT $STATIC"; echo "endpoint=$AWS_ENDPOINT_URL stream=$TASK_LOG_STREAM_PREFIX/$TASK_CONTAINER_NAME" >&2; exit 0',
      ),
      td('fails', 'echo failing; exit 3'),
      // A process tree that ignores SIGTERM (ignored signals are inherited): only SIGKILL ends it.
      td('stubborn', 'trap "" TERM; sleep 300 & sleep 300 & echo started; wait'),
    ],
    machines: {
      ok: containerKind({ taskDefinition: tdArn('ok') }),
      fails: containerKind({ taskDefinition: 'fails' }),
      missing: containerKind({ taskDefinition: tdArn('missing') }),
      stubborn: containerKind({ taskDefinition: tdArn('stubborn') }),
      short: containerKind({ taskDefinition: tdArn('stubborn'), timeoutSeconds: 1 }),
    },
  }));
});

afterAll(async () => {
  await svc.close();
});

const input = (taskId: string) => ({ task: { taskId }, attempt: { n: 2, delay: 0 } });

test('runTask.sync runs the container command with the overrides, logs its lines, returns the task', async () => {
  const d = await startAndWait(svc, 'ok', input('t-1'));
  expect(d.status).toBe('SUCCEEDED');
  const out = JSON.parse(d.output ?? '{}');
  expect(out.run.taskArn).toMatch(/^arn:aws:ecs:us-east-1:000000000000:task\/local\/[0-9a-f]{32}$/);
  expect(out.run.exit).toBe(0);
  const id = out.run.taskArn.split('/').pop();
  const stream = logs.lines.filter((l) => l.group === '/asynctask/tasks' && l.stream === `etl/worker/${id}`).map((l) => l.line);
  expect(stream).toContain('hello t-1 attempt 2 from-task-definition');
  expect(stream).toContain('endpoint=http://127.0.0.1:9 stream=etl/worker');
  const h = await history(svc, d.executionArn);
  const ok = h.find((e) => e.type === 'TaskSucceeded')?.taskSucceededEventDetails as {
    resourceType: string;
    resource: string;
    output: string;
  };
  expect(ok).toMatchObject({ resourceType: 'ecs', resource: 'runTask.sync' });
  expect(JSON.parse(ok.output)).toMatchObject({
    LastStatus: 'STOPPED',
    StopCode: 'EssentialContainerExited',
    Containers: [{ Name: 'worker', ExitCode: 0 }],
  });
});

test('a non-zero exit fails the state with States.TaskFailed and the task JSON as cause', async () => {
  const d = await startAndWait(svc, 'fails', input('t-2'));
  expect(d.status).toBe('FAILED');
  expect(d.error).toBe('States.TaskFailed');
  expect(JSON.parse(d.cause ?? '{}')).toMatchObject({ LastStatus: 'STOPPED', Containers: [{ Name: 'worker', ExitCode: 3 }] });
});

test('an unknown task definition → ECS.InvalidParameterException', async () => {
  const d = await startAndWait(svc, 'missing', input('t-3'));
  expect(d.error).toBe('TaskInvalid');
  expect(d.cause).toMatch(/TaskDefinition not found/);
});

test('the state TimeoutSeconds → States.Timeout (not matched by States.TaskFailed) and the process group is killed', async () => {
  const start = Date.now();
  const { executionArn } = (await svc.handle('StartExecution', {
    stateMachineArn: machineArn('short'),
    input: JSON.stringify(input('t-4')),
  })) as {
    executionArn: string;
  };
  await sleep(300);
  const [task] = svc.liveEcsTasks().filter((t) => t.executionArn === executionArn);
  const pid = task.containers[0].pid as number;
  expect(processGroupMembers(pid).length).toBeGreaterThanOrEqual(3);
  await svc.waitForExecution(executionArn, 10_000);
  const d = (await svc.handle('DescribeExecution', { executionArn })) as { status: string; error: string; cause: string };
  expect(d).toMatchObject({ status: 'FAILED', error: 'States.Timeout', cause: 'timed out' });
  // the execution ends once its process tree is gone: SIGTERM is ignored, SIGKILL follows the grace
  expect(Date.now() - start).toBeLessThan(6000);
  expect(processGroupMembers(pid)).toEqual([]);
  const h = await history(svc, executionArn);
  expect(h.some((e) => e.type === 'TaskTimedOut')).toBe(true);
});

test('StopExecution kills the running container process tree within 5 s and aborts once', async () => {
  const { executionArn } = (await svc.handle('StartExecution', {
    stateMachineArn: machineArn('stubborn'),
    input: JSON.stringify(input('t-5')),
  })) as { executionArn: string };
  let task = svc.liveEcsTasks().find((t) => t.executionArn === executionArn);
  for (let i = 0; i < 50 && !task; i++) {
    await sleep(50);
    task = svc.liveEcsTasks().find((t) => t.executionArn === executionArn);
  }
  const pid = task?.containers[0].pid as number;
  while (!logs.lines.some((l) => l.line === 'started' && l.stream.endsWith(task?.localTaskId ?? '?'))) await sleep(50);
  const pids = processGroupMembers(pid);
  expect(pids.length).toBeGreaterThanOrEqual(3); // sh + 2 sleeps

  const t0 = Date.now();
  await svc.handle('StopExecution', { executionArn, error: 'TaskStopped', cause: 'stopped by user' });
  expect(Date.now() - t0).toBeLessThan(5000);
  expect(processGroupMembers(pid)).toEqual([]);
  for (const p of pids) {
    let alive = true;
    try {
      process.kill(p, 0);
      // a zombie awaiting its reaper still answers signal 0
      alive = !require('node:fs').readFileSync(`/proc/${p}/stat`, 'utf8').includes(') Z ');
    } catch {
      alive = false;
    }
    expect(alive).toBe(false);
  }
  expect(svc.liveEcsTasks().filter((t) => t.executionArn === executionArn)).toEqual([]);
  const d = (await svc.handle('DescribeExecution', { executionArn })) as { status: string };
  expect(d.status).toBe('ABORTED');
  await sleep(200);
  expect(events.statusChanges(executionArn).map((e) => e.detail.status)).toEqual(['ABORTED']);
  const h = await history(svc, executionArn);
  expect(h[h.length - 1].type).toBe('ExecutionAborted');
});
