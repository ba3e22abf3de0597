/**
 * Persistence across restarts of the local runtime with a data dir: the runtime runs in a child
 * process that is killed with SIGKILL while a container task runs; after a restart on the same
 * data dir, the finished task is still there with its queued success record, its id is still
 * reserved, and the task that was running ends resolved — its interrupted attempt counts as
 * failed and `sleeper` has no retries left, so Failed with a reason naming the restart — with its
 * processes gone, never left Running.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TaskAlreadyExistsError, type TaskRecord } from '../../lambda/model';
import { queueOutputs } from './fixture/app';
import { type E2ERuntime, isAlive, type RuntimeProcess, startE2E, startE2EProcess, tempDir, waitUntil, watchTask } from './harness';

const dataDir = tempDir('data');
const workDir = tempDir('work');
const scratch = tempDir('persist');
const leftovers: number[] = [];
let first: RuntimeProcess | undefined;
let second: E2ERuntime | undefined;

afterAll(async () => {
  await first?.stop().catch(() => undefined);
  await second?.stop();
  for (const pid of leftovers) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  for (const dir of [dataDir, workDir, scratch]) fs.rmSync(dir, { recursive: true, force: true });
}, 60_000);

test('tasks and ids survive a kill -9; the task that was running ends Failed, not Running', async () => {
  first = await startE2EProcess({ dataDir, workDir });
  const done = await first.client.submit({ functionName: 'echo', taskId: 'keep-1', payload: { keep: true } });
  const { task: finished } = await watchTask(first.client, 'echo', 'keep-1', { timeoutMs: 20_000 });
  expect(finished.status).toBe('Succeeded');

  const pidFile = path.join(scratch, 'crash.json');
  await first.client.submit({ functionName: 'sleeper', taskId: 'crash-1', payload: { seconds: 300, pidFile } });
  const pids = await waitUntil(
    () => {
      try {
        return JSON.parse(fs.readFileSync(pidFile, 'utf8')) as { worker: number; child: number };
      } catch {
        return undefined;
      }
    },
    { timeoutMs: 30_000, what: 'the sleeper to start its child' },
  );
  leftovers.push(pids.worker, pids.child);
  await watchTask(first.client, 'sleeper', 'crash-1', { until: (t) => t.status === 'Running', timeoutMs: 15_000 });

  await first.kill('SIGKILL');
  first = undefined;

  second = await startE2E({ dataDir, workDir });
  const { client, destinations } = second;

  // The finished task is unchanged, and its id is still reserved.
  const kept = await client.get('echo', 'keep-1');
  expect(kept).toMatchObject({
    status: 'Succeeded',
    requestId: done.requestId,
    taskPayload: { keep: true },
    returnPayload: { echo: { keep: true } },
  });
  await expect(client.submit({ functionName: 'echo', taskId: 'keep-1' })).rejects.toBeInstanceOf(TaskAlreadyExistsError);
  // Its success record, queued before the kill and never read, was journaled: it is still there.
  const kept1 = await destinations.waitFor(second.output(queueOutputs('Echo').success), 'keep-1');
  expect(kept1).toHaveLength(1);
  expect(kept1[0].requestContext).toMatchObject({ condition: 'Success', taskId: 'keep-1' });

  // The task that was running is resolved: its attempt failed (the restart), no retries left.
  const { task: crashed, seen } = await watchTask(client, 'sleeper', 'crash-1', { timeoutMs: 30_000, intervalMs: 250 });
  expect(seen[seen.length - 1]).not.toBe('Running');
  expect(crashed.status).toBe('Failed');
  expect(`${crashed.taskErrorMessage ?? ''} ${crashed.events.map((e) => e.detail ?? '').join(' ')}`).toMatch(/restart/i);
  const failure = await destinations.waitFor(second.output(queueOutputs('Sleeper').failure), 'crash-1');
  expect(failure).toHaveLength(1);
  expect(failure[0].requestContext).toMatchObject({ condition: 'RetriesExhausted', taskId: 'crash-1' });

  // The restarted runtime runs new tasks, and `retry` revives the failed one.
  await client.submit({ functionName: 'echo', taskId: 'after-restart', payload: 1 });
  expect((await watchTask(client, 'echo', 'after-restart', { timeoutMs: 20_000 })).task.status).toBe('Succeeded');
  const retried: TaskRecord = await client.retry('sleeper', 'crash-1');
  expect(retried.status).toBe('Enqueued');
  await client.stop('sleeper', 'crash-1');
  expect((await watchTask(client, 'sleeper', 'crash-1', { timeoutMs: 20_000 })).task.status).toBe('Stopped');

  // The processes of the attempt the kill interrupted were killed by the restart (orphans are
  // recognised from the execution's saved pids).
  await waitUntil(() => !isAlive(pids.worker) && !isAlive(pids.child), {
    timeoutMs: 5_000,
    what: `orphaned processes ${pids.worker} (worker) and ${pids.child} (child sleep) of the killed runtime to be gone`,
  });
}, 150_000);

test('a clean stop and start on the same data dir keeps every task and queued record', async () => {
  if (!second) throw new Error('the first test did not leave a runtime');
  const before: TaskRecord[] = [];
  for await (const t of second.client.listAll({ functionName: 'echo', limit: 100 })) before.push(t);
  await second.stop();
  second = await startE2E({ dataDir, workDir });
  const after: TaskRecord[] = [];
  for await (const t of second.client.listAll({ functionName: 'echo', limit: 100 })) after.push(t);
  const strip = (t: TaskRecord) => ({ ...t, durationMs: undefined });
  expect(after.map(strip)).toEqual(before.map(strip));
  expect(after.map((t) => t.taskId).sort()).toEqual(['after-restart', 'keep-1']);
  // The success record of after-restart, queued and never read, is still in its queue.
  const queued = await second.destinations.waitFor(second.output(queueOutputs('Echo').success), 'after-restart');
  expect(queued).toHaveLength(1);
  expect(queued[0].requestContext).toMatchObject({ condition: 'Success', taskId: 'after-restart' });
}, 90_000);
