/**
 * End to end on the local runtime: every list filter — one status, several, since/until,
 * prefix, order, limit, next token and listAll — through the SDK and the CLI, with the exact ids
 * expected. Tasks: la-01..la-06 succeed, lb-01..lb-03 fail (flaky with its flag file), all of
 * function `flaky`, submitted one after another; one more `la-` task on `echo` must never show.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ListOptions } from '../../client/client';
import type { TaskRecord } from '../../lambda/model';
import { sleep, tempDir, useRuntime, watchTask } from './harness';

const rt = useRuntime();
const scratch = tempDir('list');
const flagFile = path.join(scratch, 'fail.flag');
/** In submission order (= ascending startedTime). */
const submitted: TaskRecord[] = [];
const ids = (tasks: readonly TaskRecord[]) => tasks.map((t) => t.taskId);
const succeeded = ['la-01', 'la-02', 'la-03', 'la-04', 'la-05', 'la-06'];
const failed = ['lb-01', 'lb-02', 'lb-03'];
/** Submission order: interleaved so time windows and statuses cut across each other. */
const order = ['la-01', 'la-02', 'lb-01', 'la-03', 'la-04', 'lb-02', 'la-05', 'lb-03', 'la-06'];
const desc = [...order].reverse();

beforeAll(async () => {
  fs.writeFileSync(flagFile, 'fail');
  const { client } = rt();
  for (const taskId of order) {
    const payload = failed.includes(taskId) ? { flagFile } : {};
    submitted.push(await client.submit({ functionName: 'flaky', taskId, payload }));
    await sleep(15); // distinct startedTime for each task
  }
  await client.submit({ functionName: 'echo', taskId: 'la-99', payload: {} });
  for (const taskId of order) await watchTask(client, 'flaky', taskId, { timeoutMs: 30_000, intervalMs: 250 });
  await watchTask(client, 'echo', 'la-99', { timeoutMs: 20_000 });
}, 120_000);

afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

async function list(options: Omit<ListOptions, 'functionName'>): Promise<{ ids: string[]; nextToken?: string }> {
  const page = await rt().client.list({ functionName: 'flaky', ...options });
  return { ids: ids(page.tasks), ...(page.nextToken !== undefined ? { nextToken: page.nextToken } : {}) };
}

async function listAll(options: Omit<ListOptions, 'functionName'>): Promise<string[]> {
  const out: TaskRecord[] = [];
  for await (const t of rt().client.listAll({ functionName: 'flaky', ...options })) out.push(t);
  return ids(out);
}

const only = (subset: readonly string[], within: readonly string[] = desc) => within.filter((id) => subset.includes(id));
const startedOf = (taskId: string) => {
  const task = submitted.find((t) => t.taskId === taskId);
  if (!task) throw new Error(`no submitted task ${taskId}`);
  return task.startedTime;
};

describe('list through the SDK', () => {
  test('the setup reached the expected statuses', async () => {
    expect(new Set(submitted.map((t) => t.startedTime)).size).toBe(order.length);
    expect((await listAll({ limit: 100 })).sort()).toEqual([...order].sort());
  });

  test('no filter: every task of the function, newest first (default order desc)', async () => {
    expect(await list({ limit: 100 })).toEqual({ ids: desc });
  });

  test('order asc', async () => {
    expect(await list({ limit: 100, order: 'asc' })).toEqual({ ids: order });
  });

  test('one status', async () => {
    expect((await list({ status: 'Succeeded', limit: 100 })).ids).toEqual(only(succeeded));
    expect((await list({ status: 'Failed', limit: 100 })).ids).toEqual(only(failed));
    expect((await list({ status: 'Running', limit: 100 })).ids).toEqual([]);
  });

  test('several statuses (array and comma-separated)', async () => {
    expect((await list({ status: ['Failed', 'Succeeded'], limit: 100 })).ids).toEqual(desc);
    expect((await list({ status: 'Failed,Stopped', limit: 100, order: 'asc' })).ids).toEqual(only(failed, order));
    expect((await list({ status: ['Expired', 'Stopped'], limit: 100 })).ids).toEqual([]);
  });

  test('since / until (inclusive, on startedTime)', async () => {
    const window = order.slice(2, 6); // lb-01 .. lb-02
    const since = startedOf(window[0]);
    const until = startedOf(window[window.length - 1]);
    expect((await list({ since, until, limit: 100, order: 'asc' })).ids).toEqual(window);
    expect((await list({ since, limit: 100, order: 'asc' })).ids).toEqual(order.slice(2));
    expect((await list({ until, limit: 100, order: 'asc' })).ids).toEqual(order.slice(0, 6));
    expect((await list({ since: since + 1, until: until - 1, limit: 100, order: 'asc' })).ids).toEqual(window.slice(1, -1));
    // A window and a status together.
    expect((await list({ since, until, status: 'Succeeded', limit: 100 })).ids).toEqual(only(succeeded, [...window].reverse()));
  });

  test('prefix (and never another function’s task)', async () => {
    expect((await list({ prefix: 'lb-', limit: 100 })).ids).toEqual(only(failed));
    expect((await list({ prefix: 'la-0', limit: 100, order: 'asc' })).ids).toEqual(only(succeeded, order));
    expect((await list({ prefix: 'la-9', limit: 100 })).ids).toEqual([]);
    expect((await list({ prefix: 'la-', status: 'Failed', limit: 100 })).ids).toEqual([]);
  });

  test('limit and next token walk every page exactly once', async () => {
    const first = await list({ limit: 4 });
    expect(first.ids).toEqual(desc.slice(0, 4));
    expect(first.nextToken).toEqual(expect.any(String));
    const second = await list({ limit: 4, nextToken: first.nextToken });
    expect(second.ids).toEqual(desc.slice(4, 8));
    expect(second.nextToken).toEqual(expect.any(String));
    const third = await list({ limit: 4, nextToken: second.nextToken });
    expect(third.ids).toEqual(desc.slice(8));
    expect(third.nextToken).toBeUndefined();
  });

  test('limit with filters pages through the matches only', async () => {
    const first = await list({ status: 'Succeeded', limit: 2, order: 'asc' });
    expect(first.ids).toEqual(['la-01', 'la-02']);
    const second = await list({ status: 'Succeeded', limit: 2, order: 'asc', nextToken: first.nextToken });
    expect(second.ids).toEqual(['la-03', 'la-04']);
    const third = await list({ status: 'Succeeded', limit: 2, order: 'asc', nextToken: second.nextToken });
    expect(third.ids).toEqual(['la-05', 'la-06']);
    if (third.nextToken !== undefined) {
      expect(await list({ status: 'Succeeded', limit: 2, order: 'asc', nextToken: third.nextToken })).toEqual({ ids: [] });
    }
    // Several statuses + prefix: filters on the time index, paged by the handler.
    const filtered = await list({ status: ['Failed', 'Succeeded'], prefix: 'lb-', limit: 2 });
    expect(filtered.ids).toEqual(only(failed).slice(0, 2));
    expect((await list({ status: ['Failed', 'Succeeded'], prefix: 'lb-', limit: 2, nextToken: filtered.nextToken })).ids).toEqual(
      only(failed).slice(2),
    );
  });

  test('listAll follows every token', async () => {
    expect(await listAll({ limit: 2 })).toEqual(desc);
    expect(await listAll({ limit: 1, order: 'asc', status: 'Failed' })).toEqual(only(failed, order));
    expect(await listAll({ limit: 3, prefix: 'la-' })).toEqual(only(succeeded));
  });

  test('a bad filter is refused before any call', async () => {
    await expect(list({ limit: 0 })).rejects.toThrow(/limit/);
    await expect(list({ status: 'Done' })).rejects.toThrow(/unknown status 'Done'/);
    await expect(list({ since: 10, until: 5 })).rejects.toThrow(/since/);
  });
});

describe('list through the CLI', () => {
  const cliIds = (stdout: string) => (JSON.parse(stdout) as { tasks: TaskRecord[] }).tasks.map((t) => t.taskId);

  test('--status (one and several) --json', async () => {
    const one = await rt().cli(['list', 'flaky', '--status', 'Failed', '--limit', '100', '--json']);
    expect(one.code).toBe(0);
    expect(cliIds(one.stdout)).toEqual(only(failed));
    const several = await rt().cli(['list', 'flaky', '--status', 'Succeeded,Failed', '--limit', '100', '--json']);
    expect(cliIds(several.stdout)).toEqual(desc);
  });

  test('--since / --until as ISO times, --prefix, --order asc', async () => {
    const since = new Date(startedOf('la-03')).toISOString();
    const until = new Date(startedOf('la-05')).toISOString();
    const out = await rt().cli(['list', 'flaky', '--since', since, '--until', until, '--order', 'asc', '--limit', '100', '--json']);
    expect(out.code).toBe(0);
    expect(cliIds(out.stdout)).toEqual(order.slice(order.indexOf('la-03'), order.indexOf('la-05') + 1));
    const prefixed = await rt().cli(['list', 'flaky', '--prefix', 'lb-', '--order', 'asc', '--json']);
    expect(cliIds(prefixed.stdout)).toEqual(only(failed, order));
    const recent = await rt().cli(['list', 'flaky', '--since', '1h', '--limit', '100', '--json']);
    expect(cliIds(recent.stdout)).toEqual(desc);
  });

  test('--limit with --next-token, and --all', async () => {
    const first = await rt().cli(['list', 'flaky', '--limit', '5', '--json']);
    const page = JSON.parse(first.stdout) as { tasks: TaskRecord[]; nextToken: string | null };
    expect(page.tasks.map((t) => t.taskId)).toEqual(desc.slice(0, 5));
    expect(page.nextToken).toEqual(expect.any(String));
    const second = await rt().cli(['list', 'flaky', '--limit', '5', '--next-token', String(page.nextToken), '--json']);
    const page2 = JSON.parse(second.stdout) as { tasks: TaskRecord[]; nextToken: string | null };
    expect(page2.tasks.map((t) => t.taskId)).toEqual(desc.slice(5));
    expect(page2.nextToken).toBeNull();
    const all = await rt().cli(['list', 'flaky', '--all', '--limit', '2', '--json']);
    expect(cliIds(all.stdout)).toEqual(desc);
  });

  test('the table output names the tasks; a bad option exits 2', async () => {
    const table = await rt().cli(['list', 'flaky', '--status', 'Failed']);
    expect(table.code).toBe(0);
    for (const id of failed) expect(table.stdout).toContain(id);
    const bad = await rt().cli(['list', 'flaky', '--status', 'Done']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/Done/);
  });
});
