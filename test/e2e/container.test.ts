/**
 * End to end on the local runtime, a container task function (`sleeper`: a Python worker using
 * runtime/python/asynctask_runtime.py that runs a child `sleep`): it succeeds with progress, and
 * a stop while it runs ends it Stopped with its whole process tree gone and one `Stopped` record.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { TaskRecord } from '../../lambda/model';
import { queueOutputs } from './fixture/app';
import { isAlive, tempDir, useRuntime, waitUntil, watchTask } from './harness';

const rt = useRuntime();
const scratch = tempDir('container');
const leftovers: number[] = [];

afterAll(() => {
  // Never leave a process behind, whatever the test found.
  for (const pid of leftovers) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  fs.rmSync(scratch, { recursive: true, force: true });
});

function readPids(file: string): { worker: number; child: number } | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as { worker: number; child: number };
  } catch {
    return undefined;
  }
}

test('a container task runs, reports Running and its result → Succeeded with one onSuccess record', async () => {
  const { client, destinations } = rt();
  const pidFile = path.join(scratch, 'quick.json');
  await client.submit({ functionName: 'sleeper', taskId: 'quick', payload: { seconds: 1, pidFile } });
  const { task, seen } = await watchTask(client, 'sleeper', 'quick', { timeoutMs: 30_000 });
  expect(task).toMatchObject({ status: 'Succeeded', returnPayload: { slept: 1 } });
  expect(seen).toContain('Running');
  expect(task.runnerId).toEqual(expect.any(String));
  const pids = readPids(pidFile);
  expect(pids).toBeDefined();
  if (pids) leftovers.push(pids.worker, pids.child);
  const records = await destinations.waitFor(rt().output(queueOutputs('Sleeper').success), 'quick');
  expect(records).toHaveLength(1);
  expect(records[0]).toMatchObject({
    requestContext: { condition: 'Success', approximateInvokeCount: 1, taskId: 'quick' },
    responsePayload: { slept: 1 },
  });

  // Its log lines (the runtime helper logs JSON with the task id) through the CLI.
  const logs = await rt().cli(['logs', 'sleeper', 'quick']);
  expect(logs.stderr).toBe('');
  expect(logs.code).toBe(0);
  expect(logs.stdout).toContain('quick');
  expect(task.logStream).toEqual(expect.any(String));
}, 60_000);

test('stopping a running container task → Stopped, its process tree gone, one Stopped record', async () => {
  const { client, destinations } = rt();
  const pidFile = path.join(scratch, 'long.json');
  await client.submit({ functionName: 'sleeper', taskId: 'long', payload: { seconds: 120, pidFile } });
  const pids = await waitUntil(() => readPids(pidFile), { timeoutMs: 30_000, what: 'the sleeper to start its child' });
  leftovers.push(pids.worker, pids.child);
  expect(isAlive(pids.worker)).toBe(true);
  expect(isAlive(pids.child)).toBe(true);
  const running = await watchTask(client, 'sleeper', 'long', { until: (t) => t.status === 'Running', timeoutMs: 15_000 });
  expect(running.task.progress?.percent).toEqual(expect.any(Number));

  const stopped = await rt().cli(['stop', 'sleeper', 'long', '--json']);
  expect(stopped.stderr).toBe('');
  expect(stopped.code).toBe(0);
  expect((JSON.parse(stopped.stdout) as TaskRecord).status).toMatch(/^(Stopping|Stopped)$/);

  const stopAsked = Date.now();
  const { task } = await watchTask(client, 'sleeper', 'long', { timeoutMs: 20_000, intervalMs: 200 });
  expect(task.status).toBe('Stopped');
  // The whole tree is gone (the runtime kills the process group within 5 s).
  await waitUntil(() => !isAlive(pids.worker) && !isAlive(pids.child), {
    timeoutMs: Math.max(1000, 6000 - (Date.now() - stopAsked)),
    what: `processes ${pids.worker} (worker) and ${pids.child} (child sleep) to be gone`,
  });

  const records = await destinations.waitFor(rt().output(queueOutputs('Sleeper').failure), 'long');
  expect(records).toHaveLength(1);
  expect(records[0]).toMatchObject({ requestContext: { condition: 'Stopped', taskId: 'long' }, requestPayload: { seconds: 120, pidFile } });
  expect(await destinations.recordsFor(rt().output(queueOutputs('Sleeper').success), 'long')).toEqual([]);

  // Stopping it again is refused, naming its status.
  const again = await rt().cli(['stop', 'sleeper', 'long']);
  expect(again.code).toBe(1);
  expect(again.stderr).toMatch(/Stopped/);
}, 90_000);
