/**
 * End to end on the local runtime: `asynctask logs` shows every attempt of a task in order under
 * a header (a Lambda task that failed once, then succeeded), `--attempt N` one of them; and
 * `asynctask exec` runs a command in a running container task's directory and environment, and
 * fails clearly once the task has ended.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tempDir, useRuntime, waitUntil, watchTask } from './harness';

const rt = useRuntime();
const scratch = tempDir('logs-exec');
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

test('logs shows both attempts of a task that failed once, in order, each under its header', async () => {
  const { client } = rt();
  const flagFile = path.join(scratch, 'flaky.flag');
  const countFile = path.join(scratch, 'flaky.count');
  fs.writeFileSync(flagFile, 'fail');
  await client.submit({ functionName: 'flaky', taskId: 'twice', payload: { flagFile, countFile } });
  await waitUntil(async () => (fs.existsSync(countFile) ? true : undefined), { timeoutMs: 20_000, intervalMs: 50, what: 'attempt 1' });
  fs.rmSync(flagFile);
  const { task } = await watchTask(client, 'flaky', 'twice', { timeoutMs: 30_000 });
  expect(task).toMatchObject({ status: 'Succeeded', alreadyRetriedTimes: 1 });

  const all = await rt().cli(['logs', 'flaky', 'twice']);
  expect(all.stderr).toBe('');
  expect(all.code).toBe(0);
  const lines = all.stdout.split('\n');
  const first = lines.indexOf('── attempt 1 ──');
  const second = lines.indexOf('── attempt 2 ──');
  expect(first).toBe(0);
  expect(second).toBeGreaterThan(first);
  const starts = (from: number, to: number) => lines.slice(from, to).flatMap((l) => /START RequestId: (\S+)/.exec(l)?.[1] ?? []);
  // Each attempt is one invocation of its own: one START line each, different request ids.
  const one = starts(first + 1, second);
  const two = starts(second + 1, lines.length);
  if (one.length !== 1) process.stderr.write(`DEBUG\n${all.stdout}\n`);
  expect(one).toHaveLength(1);
  expect(two).toEqual([task.runnerId]);
  expect(one[0]).not.toBe(two[0]);
  expect(lines.slice(second + 1).some((l) => l.includes(`REPORT RequestId: ${task.runnerId}`))).toBe(true);

  const only2 = await rt().cli(['logs', 'flaky', 'twice', '--attempt', '2']);
  expect(only2.code).toBe(0);
  expect(only2.stdout.split('\n')[0]).toBe('── attempt 2 ──');
  expect(only2.stdout).not.toContain('attempt 1');
  expect(only2.stdout).not.toContain(one[0]);

  const beyond = await rt().cli(['logs', 'flaky', 'twice', '--attempt', '3']);
  expect(beyond.code).toBe(2);
  expect(beyond.stderr).toMatch(/attempt must be an integer between 1 and 2 inclusive: task 'twice' has had 2 attempt\(s\) \(given 3\)/);

  // The SDK: the same events, each naming its attempt.
  const events = [];
  for await (const e of client.logs({ functionName: 'flaky', taskId: 'twice' })) events.push(e);
  expect([...new Set(events.map((e) => e.attempt))]).toEqual([1, 2]);
}, 90_000);

test('exec runs a command in a running container task, and fails clearly once it has ended', async () => {
  const { client } = rt();
  await client.submit({ functionName: 'sleeper', taskId: 'shell', payload: { seconds: 60 } });
  await watchTask(client, 'sleeper', 'shell', { timeoutMs: 30_000, until: (t) => t.status === 'Running' });

  const pwd = await rt().cli(['exec', 'sleeper', 'shell', '--', 'pwd']);
  expect(pwd.stderr).toBe('');
  expect(pwd.code).toBe(0);
  // The container's working directory: where its local command (a relative path) resolves.
  expect(fs.existsSync(path.join(pwd.stdout.trim(), 'test/e2e/fixture/sleeper/worker.py'))).toBe(true);

  const env = await rt().cli(['exec', 'sleeper', 'shell', '--', 'printenv', 'TASK_ID']);
  expect(env).toMatchObject({ code: 0, stdout: 'shell\n', stderr: '' });

  const status = await rt().cli(['exec', 'sleeper', 'shell', '--', 'sh', '-c', 'exit 7']);
  expect(status.code).toBe(7);

  await client.stop('sleeper', 'shell');
  await watchTask(client, 'sleeper', 'shell', { timeoutMs: 30_000 });
  const ended = await rt().cli(['exec', 'sleeper', 'shell', '--', 'pwd']);
  expect(ended.stdout).toBe('');
  expect(ended.code).toBe(1);
  expect(ended.stderr).toBe("asynctask: task 'shell' is Stopped; exec needs a Running container task\n");

  const lambda = await rt().cli(['exec', 'flaky', 'twice', '--', 'pwd']);
  expect(lambda.code).toBe(2);
  expect(lambda.stderr).toMatch(/function 'flaky' is a lambda task function; exec needs a Running container task/);
}, 120_000);
