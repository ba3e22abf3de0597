/**
 * End to end on the local runtime, Lambda task functions: success with its destination record,
 * duplicate ids (CLI exit 4, one execution), a burst of concurrent duplicate submits, retries
 * ending Failed with a RetriesExhausted record, `retry` of a Failed task, and a task Expired
 * while waiting for a concurrency slot.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ListExecutionsCommand } from '@aws-sdk/client-sfn';
import { type TaskRecord, TaskAlreadyExistsError } from '../../lambda/model';
import { queueOutputs } from './fixture/app';
import { tempDir, useRuntime, watchTask } from './harness';

const rt = useRuntime();

async function stateMachineArn(functionName: string): Promise<string> {
  const fn = (await rt().client.functions()).find((f) => f.name === functionName);
  if (!fn) throw new Error(`no task function '${functionName}'`);
  return fn.stateMachineArn;
}

async function executionsOf(functionName: string): Promise<Array<{ executionArn?: string; name?: string }>> {
  const arn = await stateMachineArn(functionName);
  const executions: Array<{ executionArn?: string; name?: string }> = [];
  let nextToken: string | undefined;
  do {
    const page = await rt().sfn.send(new ListExecutionsCommand({ stateMachineArn: arn, maxResults: 100, nextToken }));
    executions.push(...(page.executions ?? []));
    nextToken = page.nextToken;
  } while (nextToken);
  return executions;
}

function expectDestinationShape(record: unknown): void {
  expect(record).toEqual({
    version: '1.0',
    timestamp: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T/),
    requestContext: {
      requestId: expect.any(String),
      functionArn: expect.any(String),
      condition: expect.any(String),
      approximateInvokeCount: expect.any(Number),
      taskId: expect.any(String),
      source: null,
    },
    requestPayload: expect.anything(),
    responseContext: expect.objectContaining({ statusCode: 200, executedVersion: '$LATEST' }),
    responsePayload: expect.anything(),
  });
}

const scratch = tempDir('lifecycle');
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

describe('a Lambda task', () => {
  test('submit → Succeeded with its returnPayload and exactly one onSuccess record', async () => {
    const { client, destinations } = rt();
    const payload = { hello: 'world', n: 1 };
    const submitted = await client.submit({ functionName: 'echo', taskId: 'ok-1', payload });
    expect(submitted).toMatchObject({ taskId: 'ok-1', functionName: 'echo', status: 'Enqueued', taskPayload: payload });

    const { task, seen } = await watchTask(client, 'echo', 'ok-1', { timeoutMs: 20_000 });
    expect(task.status).toBe('Succeeded');
    expect(task.returnPayload).toEqual({ echo: payload });
    expect(task.alreadyRetriedTimes).toBe(0);
    expect(task.endTime).toBeGreaterThanOrEqual(task.startedTime);
    expect(task.destinationStatus).toBe('Succeeded');
    expect(task.events.map((e) => e.status)).toEqual(expect.arrayContaining(['Enqueued', 'Running', 'Succeeded']));
    expect(seen[seen.length - 1]).toBe('Succeeded');
    // The bundled TaskApi adds the cost estimate: docs/cost.md's success path with onSuccess.
    expect(task.cost).toMatchObject({
      estimate: true,
      orchestration: { transitions: 4, dynamodbWrites: 3, dynamodbWriteUnits: 11, lambdaRequests: 1, sqsRequests: 1 },
      compute: { kind: 'lambda', attempts: 1 },
    });

    const records = await destinations.waitFor(rt().output(queueOutputs('Echo').success), 'ok-1');
    expect(records).toHaveLength(1);
    expectDestinationShape(records[0]);
    expect(records[0]).toMatchObject({
      requestContext: { condition: 'Success', approximateInvokeCount: 1, taskId: 'ok-1', requestId: task.requestId },
      requestPayload: payload,
      responsePayload: { echo: payload },
    });
    expect(records[0].responseContext.functionError).toBeUndefined();
    expect(await destinations.recordsFor(rt().output(queueOutputs('Echo').failure), 'ok-1')).toEqual([]);

    // The CLI shows the same record, and the attempt's log lines (Lambda's START/END/REPORT).
    const shown = await rt().cli(['get', 'echo', 'ok-1', '--json']);
    expect(shown.code).toBe(0);
    expect(JSON.parse(shown.stdout)).toMatchObject({ taskId: 'ok-1', status: 'Succeeded', returnPayload: { echo: payload } });
    const logs = await rt().cli(['logs', 'echo', 'ok-1']);
    expect(logs.stderr).toBe('');
    expect(logs.code).toBe(0);
    expect(logs.stdout).toContain(task.runnerId ?? 'no runner id');
  });

  test('CLI invoke --wait prints the record and a duplicate id exits 4 with exactly one execution', async () => {
    const before = await executionsOf('echo');
    const first = await rt().cli(['invoke', 'echo', '--task-id', 'dup-1', '--payload', '{"a":1}', '--wait', '--json']);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const task = JSON.parse(first.stdout) as TaskRecord;
    expect(task).toMatchObject({ taskId: 'dup-1', status: 'Succeeded', returnPayload: { echo: { a: 1 } } });

    const second = await rt().cli(['invoke', 'echo', '--task-id', 'dup-1', '--payload', '{"a":2}']);
    expect(second.code).toBe(4);
    expect(second.stderr).toMatch(/dup-1/);
    expect(second.stderr.trim().split('\n')).toHaveLength(1);

    const after = await executionsOf('echo');
    const fresh = after.filter((e) => !before.some((b) => b.executionArn === e.executionArn));
    expect(fresh).toHaveLength(1);
    expect(fresh[0].executionArn).toBe(task.executionArn);
    // The record is unchanged by the rejected submit.
    expect(await rt().client.get('echo', 'dup-1')).toMatchObject({ requestId: task.requestId, taskPayload: { a: 1 } });
  });

  test('200 concurrent submits over 20 ids → exactly 20 tasks and 180 TaskAlreadyExists', async () => {
    const { client } = rt();
    const before = await executionsOf('echo');
    const ids = Array.from({ length: 20 }, (_, i) => `burst-${String(i).padStart(2, '0')}`);
    const calls = Array.from({ length: 200 }, (_, i) => ids[i % ids.length]).map((taskId, i) =>
      client.submit({ functionName: 'echo', taskId, payload: { i } }),
    );
    const results = await Promise.allSettled(calls);
    const accepted = results.filter((r): r is PromiseFulfilledResult<TaskRecord> => r.status === 'fulfilled');
    const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    const otherErrors = rejected.filter((r) => !(r.reason instanceof TaskAlreadyExistsError)).map((r) => String(r.reason));
    expect(otherErrors).toEqual([]);
    expect(accepted).toHaveLength(20);
    expect(rejected).toHaveLength(180);
    expect(new Set(accepted.map((r) => r.value.taskId))).toEqual(new Set(ids));
    // Each duplicate carries the existing task.
    for (const r of rejected) {
      const existing = (r.reason as TaskAlreadyExistsError).existingTask;
      expect(ids).toContain(existing.taskId);
    }

    const listed: TaskRecord[] = [];
    for await (const t of client.listAll({ functionName: 'echo', prefix: 'burst-', limit: 100 })) listed.push(t);
    expect(listed.map((t) => t.taskId).sort()).toEqual(ids);
    const after = await executionsOf('echo');
    expect(after.length - before.length).toBe(20);
    // Every accepted payload is the one stored.
    for (const r of accepted) {
      const stored = listed.find((t) => t.taskId === r.value.taskId);
      expect(stored?.taskPayload).toEqual(r.value.taskPayload);
      expect(stored?.requestId).toBe(r.value.requestId);
    }
    for (const id of ids) await watchTask(client, 'echo', id, { timeoutMs: 30_000, intervalMs: 250 });
  }, 120_000);
});

describe('a failing task', () => {
  const flagFile = path.join(scratch, 'flaky.flag');
  const countFile = path.join(scratch, 'flaky.count');

  test('goes Retrying, ends Failed after maxRetryAttempts with one RetriesExhausted record', async () => {
    fs.writeFileSync(flagFile, 'fail');
    const { client, destinations } = rt();
    const payload = { flagFile, countFile };
    await client.submit({ functionName: 'flaky', taskId: 'fail-1', payload });
    const { task, seen } = await watchTask(client, 'flaky', 'fail-1', { timeoutMs: 30_000, intervalMs: 100 });
    expect(seen).toContain('Retrying');
    expect(task.status).toBe('Failed');
    expect(task.alreadyRetriedTimes).toBe(2);
    expect(task.taskErrorMessage).toMatch(/flag file/);
    expect(fs.readFileSync(countFile, 'utf8').trim().split('\n')).toHaveLength(3);
    // Three attempts, two retries, RetriesExhausted, the finalizer and its failure record.
    expect(task.cost?.orchestration).toMatchObject({ transitions: 16, lambdaRequests: 2, sqsRequests: 1 });
    expect(task.cost?.compute).toMatchObject({ kind: 'lambda', attempts: 3 });

    const records = await destinations.waitFor(rt().output(queueOutputs('Flaky').failure), 'fail-1');
    expect(records).toHaveLength(1);
    expectDestinationShape(records[0]);
    expect(records[0]).toMatchObject({
      requestContext: { condition: 'RetriesExhausted', approximateInvokeCount: 3, taskId: 'fail-1' },
      requestPayload: payload,
    });
    expect(records[0].responseContext.functionError).toEqual(expect.any(String));
    expect(JSON.stringify(records[0].responsePayload)).toMatch(/flag file/);
    expect(await destinations.recordsFor(rt().output(queueOutputs('Flaky').success), 'fail-1')).toEqual([]);
  }, 60_000);

  test('retry of the Failed task (CLI) → Succeeded under the same id', async () => {
    fs.rmSync(flagFile, { force: true });
    const { client, destinations } = rt();
    const failed = await client.get('flaky', 'fail-1');
    expect(failed.status).toBe('Failed');

    const retried = await rt().cli(['retry', 'flaky', 'fail-1', '--json']);
    expect(retried.stderr).toBe('');
    expect(retried.code).toBe(0);
    const record = JSON.parse(retried.stdout) as TaskRecord;
    expect(record).toMatchObject({ taskId: 'fail-1', status: 'Enqueued', alreadyRetriedTimes: 0 });
    expect(record.requestId).not.toBe(failed.requestId);

    const { task } = await watchTask(client, 'flaky', 'fail-1', { timeoutMs: 20_000 });
    expect(task).toMatchObject({ taskId: 'fail-1', status: 'Succeeded', returnPayload: { ok: true, attempt: 'passed' } });
    expect(task.requestId).toBe(record.requestId);
    expect(task.taskErrorMessage).toBeUndefined();
    const records = await destinations.waitFor(rt().output(queueOutputs('Flaky').success), 'fail-1');
    expect(records).toHaveLength(1);
    expect(records[0].requestContext).toMatchObject({ condition: 'Success', requestId: record.requestId });
    // Retrying a Succeeded task is refused.
    const again = await rt().cli(['retry', 'flaky', 'fail-1']);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/Succeeded/);
  }, 60_000);
});

describe('maxConcurrency 1 with a short maxEventAge', () => {
  test('the waiting task ends Expired with an EventAgeExceeded record; the running one Succeeds', async () => {
    const { client, destinations } = rt();
    await client.submit({ functionName: 'single', taskId: 'holder', payload: { ms: 7000 } });
    await watchTask(client, 'single', 'holder', { until: (t) => t.status === 'Running', timeoutMs: 10_000 });
    await client.submit({ functionName: 'single', taskId: 'waiter', payload: { ms: 0 } });

    const { task: waiter, seen } = await watchTask(client, 'single', 'waiter', { timeoutMs: 20_000, intervalMs: 200 });
    expect(waiter.status).toBe('Expired');
    expect(seen).not.toContain('Running');
    const failures = await destinations.waitFor(rt().output(queueOutputs('Single').failure), 'waiter');
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({
      requestContext: { condition: 'EventAgeExceeded', taskId: 'waiter' },
      requestPayload: { ms: 0 },
    });

    const { task: holder } = await watchTask(client, 'single', 'holder', { timeoutMs: 20_000, intervalMs: 250 });
    expect(holder).toMatchObject({ status: 'Succeeded', returnPayload: { slept: 7000 } });
    // The slot is free again: a new task runs.
    await client.submit({ functionName: 'single', taskId: 'after', payload: { ms: 0 } });
    const { task: after } = await watchTask(client, 'single', 'after', { timeoutMs: 15_000 });
    expect(after.status).toBe('Succeeded');
  }, 60_000);
});
