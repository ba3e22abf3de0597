/**
 * End to end on the local runtime (dynalite): the `stats` operation — counts by status over a
 * startedTime window, success rate and p50/p95 durations that match the tasks' own records, what
 * runs now whatever the window — and `functions` with what the console shows (runner ARN,
 * destinations with the queue URL, the `orders` function's Kafka trigger). Sixteen echo tasks of
 * about 160 KB each (2.5 MB in one ByStatus partition) make dynalite split its `Select: 'COUNT'`
 * pages at 1 MB, so the count is right only if the pages are followed.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DynamoDBClient, ListTablesCommand, QueryCommand } from '@aws-sdk/client-dynamodb';
import type { TaskRecord, TaskStats } from '../../lambda/model';
import { ALL_STATUSES, STATS_DEFAULT_WINDOW_MS } from '../../lambda/model';
import { ORDERS_TOPIC } from './fixture/app';
import { LOCAL_CREDENTIALS, REGION, sleep, tempDir, useRuntime, watchTask } from './harness';

const rt = useRuntime();
const scratch = tempDir('stats');
const flagFile = path.join(scratch, 'fail.flag');
const ok = ['st-ok-1', 'st-ok-2', 'st-ok-3', 'st-ok-4'];
const bad = ['st-bad-1', 'st-bad-2'];
/** Submission order; `mid` is taken between st-bad-1 and st-ok-3. */
const order = ['st-ok-1', 'st-ok-2', 'st-bad-1', 'st-ok-3', 'st-bad-2', 'st-ok-4'];
const BIG_TASKS = 16;
const BIG_PAYLOAD = { blob: 'x'.repeat(80_000) };
let first = 0;
let mid = 0;
const records: TaskRecord[] = [];

/** Nearest-rank percentile, as the service computes it. */
function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)];
}

beforeAll(async () => {
  fs.writeFileSync(flagFile, 'fail');
  const { client } = rt();
  first = Date.now();
  for (const taskId of order) {
    if (taskId === 'st-ok-3') {
      await sleep(20);
      mid = Date.now();
      await sleep(5);
    }
    await client.submit({ functionName: 'flaky', taskId, payload: bad.includes(taskId) ? { flagFile } : {} });
    await sleep(15);
  }
  await client.submit({ functionName: 'etl', taskId: 'st-long', payload: { ms: 25_000 } });
  for (let i = 1; i <= BIG_TASKS; i++) await client.submit({ functionName: 'echo', taskId: `big-${i}`, payload: BIG_PAYLOAD });
  for (const taskId of order) records.push((await watchTask(client, 'flaky', taskId, { timeoutMs: 40_000, intervalMs: 250 })).task);
  for (let i = 1; i <= BIG_TASKS; i++) await watchTask(client, 'echo', `big-${i}`, { timeoutMs: 40_000, intervalMs: 250 });
  await watchTask(client, 'etl', 'st-long', { until: (t) => t.status === 'Running', timeoutMs: 20_000 });
}, 180_000);

afterAll(async () => {
  fs.rmSync(scratch, { recursive: true, force: true });
  await rt()
    .client.stop('etl', 'st-long')
    .catch(() => undefined);
});

describe('stats', () => {
  test('the setup reached the expected statuses', () => {
    expect(records.map((r) => [r.taskId, r.status])).toEqual(order.map((id) => [id, ok.includes(id) ? 'Succeeded' : 'Failed']));
  });

  test('counts, success rate and durations of a window: every status present, percentiles from the records', async () => {
    const until = Date.now();
    const stats = await rt().client.stats('flaky', { since: first, until });

    const durations = records.map((r) => r.durationMs as number).sort((a, b) => a - b);
    expect(stats).toEqual<TaskStats>({
      functionName: 'flaky',
      since: first,
      until,
      counts: { ...Object.fromEntries(ALL_STATUSES.map((s) => [s, 0])), Succeeded: 4, Failed: 2 } as TaskStats['counts'],
      total: 6,
      runningNow: 0,
      activeNow: 0,
      successRate: 4 / 6,
      durationMs: { p50: percentile(durations, 0.5), p95: percentile(durations, 0.95), samples: 6, sampled: false },
    });
    // The failed tasks ran three attempts, one second apart: they are the slow end.
    expect(stats.durationMs?.p95).toBeGreaterThanOrEqual(2000);
    expect(stats.durationMs?.p50).toBeLessThan(2000);
  });

  test('a window cut at a start time counts only the tasks started in it', async () => {
    const stats = await rt().client.stats('flaky', { since: mid });
    expect(stats.counts.Succeeded).toBe(2);
    expect(stats.counts.Failed).toBe(1);
    expect(stats.total).toBe(3);
    expect(stats.durationMs?.samples).toBe(3);
    const before = await rt().client.stats('flaky', { until: mid });
    expect(before.total).toBe(3);
    expect(before.successRate).toBe(2 / 3);
  });

  test('no window given: the last 24 hours up to now', async () => {
    const asked = Date.now();
    const stats = await rt().client.stats('flaky');
    expect(stats.until).toBeGreaterThanOrEqual(asked);
    expect(stats.until - stats.since).toBe(STATS_DEFAULT_WINDOW_MS);
    expect(stats.total).toBe(6);
  });

  test('what runs now is counted whatever the window', async () => {
    const now = await rt().client.stats('etl');
    expect(now).toMatchObject({ runningNow: 1, activeNow: 1, total: 1 });
    expect(now.counts.Running).toBe(1);
    expect(now).not.toHaveProperty('successRate');
    expect(now).not.toHaveProperty('durationMs');
    const past = await rt().client.stats('etl', { since: 0, until: first - 1 });
    expect(past).toMatchObject({ total: 0, runningNow: 1, activeNow: 1 });
  });

  test('COUNT pages are followed: 2.5 MB of tasks in one status, counted exactly', async () => {
    // dynalite, like DynamoDB, stops a COUNT page at 1 MB of items read.
    const ddb = new DynamoDBClient({ endpoint: rt().endpoint, region: REGION, credentials: LOCAL_CREDENTIALS });
    try {
      const tables = (await ddb.send(new ListTablesCommand({}))).TableNames ?? [];
      expect(tables).toHaveLength(1);
      const page = await ddb.send(
        new QueryCommand({
          TableName: tables[0],
          IndexName: 'ByStatus',
          KeyConditionExpression: 'statusKey = :k',
          ExpressionAttributeValues: { ':k': { S: 'echo#Succeeded' } },
          Select: 'COUNT',
        }),
      );
      expect(page.LastEvaluatedKey).toBeDefined();
      expect(page.Count).toBeLessThan(BIG_TASKS);
    } finally {
      ddb.destroy();
    }
    const stats = await rt().client.stats('echo');
    expect(stats.counts.Succeeded).toBe(BIG_TASKS);
    expect(stats.total).toBe(BIG_TASKS);
    expect(stats.durationMs?.samples).toBe(BIG_TASKS);
    expect(stats.successRate).toBe(1);
  });

  test('fails if since is after until, before any call', async () => {
    await expect(rt().client.stats('flaky', { since: 2000, until: 1000 })).rejects.toThrow(/since \(.*\) is after until/);
    await expect(rt().client.stats('nope')).rejects.toThrow(/task function 'nope' not found/);
  });
});

describe('functions, as the console shows them', () => {
  test("runner ARN, destinations with the failure queue's URL, log group, and the orders function's Kafka trigger", async () => {
    const functions = await rt().client.functions();
    const flaky = functions.find((f) => f.name === 'flaky');
    expect(flaky).toMatchObject({
      runnerArn: expect.stringMatching(/^arn:aws:lambda:us-east-1:\d{12}:function:/),
      onFailureDestination: { type: 'sqs', arn: flaky?.onFailure, url: rt().output('FlakyFailureQueueUrl') },
      onSuccessDestination: { type: 'sqs', url: rt().output('FlakySuccessQueueUrl') },
      logGroupName: expect.stringMatching(/^\/aws\/lambda\//),
    });
    expect(flaky).not.toHaveProperty('triggers');
    const orders = functions.find((f) => f.name === 'orders');
    expect(orders?.triggers).toEqual([
      { type: 'kafka', topics: [ORDERS_TOPIC], cluster: 'localhost:9092', batchSize: 10, mode: 'batch', startingPosition: 'TRIM_HORIZON' },
    ]);
  });
});
