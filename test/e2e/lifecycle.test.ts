/**
 * End to end on the local runtime, Lambda task functions, in both orchestration modes
 * (docs/design.md, "Orchestration modes"): success with its destination record, duplicate ids
 * (CLI exit 4, one execution or one invocation), a burst of concurrent duplicate submits, retries
 * ending Failed with a RetriesExhausted record, `retry` of a Failed task, stop (never a success
 * record after it), and — standard only — a task Expired while waiting for a concurrency slot.
 * Economy mode runs through the local runtime's Lambda asynchronous invocation (the functions'
 * EventInvokeConfig: retries, event age, the finalizer as onFailure).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ListExecutionsCommand } from '@aws-sdk/client-sfn';
import { isTerminal, type TaskRecord, TaskAlreadyExistsError } from '../../lambda/model';
import { queueOutputs } from './fixture/app';
import { sleep, tempDir, useRuntime, watchTask } from './harness';

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

/** The fixture's functions of each mode and their queue outputs. */
const MODES = [
  { mode: 'standard', echo: 'echo', flaky: 'flaky', etl: 'etl', Echo: 'Echo', Flaky: 'Flaky', Etl: 'Etl' },
  { mode: 'economy', echo: 'echo_eco', flaky: 'flaky_eco', etl: 'etl_eco', Echo: 'EchoEco', Flaky: 'FlakyEco', Etl: 'EtlEco' },
] as const;

describe.each(MODES)('$mode orchestration', (m) => {
  describe('a Lambda task', () => {
    test('submit → Succeeded with its returnPayload and exactly one onSuccess record', async () => {
      const { client, destinations } = rt();
      const payload = { hello: 'world', n: 1 };
      const submitted = await client.submit({ functionName: m.echo, taskId: 'ok-1', payload });
      expect(submitted).toMatchObject({ taskId: 'ok-1', functionName: m.echo, status: 'Enqueued', taskPayload: payload });

      // Economy: the wrapper's Succeeded write claims the delivery (destinationStatus Pending) and
      // records its outcome after the send, so a read in between sees Succeeded and Pending.
      const { task, seen } = await watchTask(client, m.echo, 'ok-1', {
        timeoutMs: 20_000,
        until: (t) => isTerminal(t.status) && t.destinationStatus !== 'Pending',
      });
      expect(task.status).toBe('Succeeded');
      expect(task.returnPayload).toEqual({ echo: payload });
      expect(task.alreadyRetriedTimes).toBe(0);
      expect(task.endTime).toBeGreaterThanOrEqual(task.startedTime);
      expect(task.destinationStatus).toBe('Succeeded');
      expect(task.events.map((e) => e.status)).toEqual(expect.arrayContaining(['Enqueued', 'Running', 'Succeeded']));
      expect(seen[seen.length - 1]).toBe('Succeeded');
      // The bundled TaskApi adds the cost estimate: docs/cost.md's success path with onSuccess —
      // standard: 4 transitions and 11 WRU; economy: no transition, the put (2 WRU, its keys-only
      // ByTimeEconomy copy), Running, Succeeded and the delivery outcome (1 WRU each).
      expect(task.cost).toMatchObject({
        estimate: true,
        orchestration:
          m.mode === 'standard'
            ? { transitions: 4, dynamodbWrites: 3, dynamodbWriteUnits: 11, lambdaRequests: 1, sqsRequests: 1 }
            : { transitions: 0, dynamodbWrites: 4, dynamodbWriteUnits: 5, lambdaRequests: 1, sqsRequests: 1 },
        compute: { kind: 'lambda', attempts: 1 },
      });

      const records = await destinations.waitFor(rt().output(queueOutputs(m.Echo).success), 'ok-1');
      expect(records).toHaveLength(1);
      expectDestinationShape(records[0]);
      expect(records[0]).toMatchObject({
        requestContext: { condition: 'Success', approximateInvokeCount: 1, taskId: 'ok-1', requestId: task.requestId },
        requestPayload: payload,
        responsePayload: { echo: payload },
      });
      expect(records[0].responseContext.functionError).toBeUndefined();
      expect(await destinations.recordsFor(rt().output(queueOutputs(m.Echo).failure), 'ok-1')).toEqual([]);

      // The CLI shows the same record, and the attempt's log lines (Lambda's START/END/REPORT).
      const shown = await rt().cli(['get', m.echo, 'ok-1', '--json']);
      expect(shown.code).toBe(0);
      expect(JSON.parse(shown.stdout)).toMatchObject({ taskId: 'ok-1', status: 'Succeeded', returnPayload: { echo: payload } });
      const logs = await rt().cli(['logs', m.echo, 'ok-1']);
      expect(logs.stderr).toBe('');
      expect(logs.code).toBe(0);
      expect(logs.stdout).toContain(task.runnerId ?? 'no runner id');
    });

    test('CLI invoke --wait prints the record and a duplicate id exits 4 with exactly one execution', async () => {
      const before = await executionsOf(m.echo);
      const first = await rt().cli(['invoke', m.echo, '--task-id', 'dup-1', '--payload', '{"a":1}', '--wait', '--json']);
      expect(first.stderr).toBe('');
      expect(first.code).toBe(0);
      const task = JSON.parse(first.stdout) as TaskRecord;
      expect(task).toMatchObject({ taskId: 'dup-1', status: 'Succeeded', returnPayload: { echo: { a: 1 } } });

      const second = await rt().cli(['invoke', m.echo, '--task-id', 'dup-1', '--payload', '{"a":2}']);
      expect(second.code).toBe(4);
      expect(second.stderr).toMatch(/dup-1/);
      expect(second.stderr.trim().split('\n')).toHaveLength(1);

      const after = await executionsOf(m.echo);
      const fresh = after.filter((e) => !before.some((b) => b.executionArn === e.executionArn));
      if (m.mode === 'standard') {
        expect(fresh).toHaveLength(1);
        expect(fresh[0].executionArn).toBe(task.executionArn);
      } else {
        // One asynchronous invocation, no execution: the owner is the invocation id.
        expect(fresh).toHaveLength(0);
        expect(task.executionArn).toMatch(/^lambda-event:arn:aws:lambda:/);
      }
      // The record is unchanged by the rejected submit.
      expect(await rt().client.get(m.echo, 'dup-1')).toMatchObject({ requestId: task.requestId, taskPayload: { a: 1 } });
    });

    test('200 concurrent submits over 20 ids → exactly 20 tasks and 180 TaskAlreadyExists', async () => {
      const { client } = rt();
      const before = await executionsOf(m.echo);
      const ids = Array.from({ length: 20 }, (_, i) => `burst-${String(i).padStart(2, '0')}`);
      const calls = Array.from({ length: 200 }, (_, i) => ids[i % ids.length]).map((taskId, i) =>
        client.submit({ functionName: m.echo, taskId, payload: { i } }),
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
      for await (const t of client.listAll({ functionName: m.echo, prefix: 'burst-', limit: 100 })) listed.push(t);
      expect(listed.map((t) => t.taskId).sort()).toEqual(ids);
      const after = await executionsOf(m.echo);
      expect(after.length - before.length).toBe(m.mode === 'standard' ? 20 : 0);
      // Every accepted payload is the one stored.
      for (const r of accepted) {
        const stored = listed.find((t) => t.taskId === r.value.taskId);
        expect(stored?.taskPayload).toEqual(r.value.taskPayload);
        expect(stored?.requestId).toBe(r.value.requestId);
      }
      for (const id of ids) await watchTask(client, m.echo, id, { timeoutMs: 30_000, intervalMs: 250 });
    }, 120_000);
  });

  describe('a failing task', () => {
    const flagFile = path.join(scratch, `${m.mode}-flaky.flag`);
    const countFile = path.join(scratch, `${m.mode}-flaky.count`);

    test('goes Retrying, ends Failed after maxRetryAttempts with one RetriesExhausted record', async () => {
      fs.writeFileSync(flagFile, 'fail');
      const { client, destinations } = rt();
      const payload = { flagFile, countFile };
      await client.submit({ functionName: m.flaky, taskId: 'fail-1', payload });
      const { task, seen } = await watchTask(client, m.flaky, 'fail-1', { timeoutMs: 30_000, intervalMs: 100 });
      expect(seen).toContain('Retrying');
      expect(task.status).toBe('Failed');
      expect(task.alreadyRetriedTimes).toBe(2);
      expect(task.taskErrorMessage).toMatch(/flag file/);
      expect(fs.readFileSync(countFile, 'utf8').trim().split('\n')).toHaveLength(3);
      // Three attempts, two retries, the finalizer and its failure record (standard: RetriesExhausted
      // after 16 transitions; economy: none, Lambda's onFailure destination invokes the finalizer).
      expect(task.cost?.orchestration).toMatchObject({ transitions: m.mode === 'standard' ? 16 : 0, lambdaRequests: 2, sqsRequests: 1 });
      expect(task.cost?.compute).toMatchObject({ kind: 'lambda', attempts: 3 });

      const records = await destinations.waitFor(rt().output(queueOutputs(m.Flaky).failure), 'fail-1');
      expect(records).toHaveLength(1);
      expectDestinationShape(records[0]);
      expect(records[0]).toMatchObject({
        requestContext: { condition: 'RetriesExhausted', approximateInvokeCount: 3, taskId: 'fail-1' },
        requestPayload: payload,
      });
      expect(records[0].responseContext.functionError).toEqual(expect.any(String));
      expect(JSON.stringify(records[0].responsePayload)).toMatch(/flag file/);
      expect(await destinations.recordsFor(rt().output(queueOutputs(m.Flaky).success), 'fail-1')).toEqual([]);
    }, 60_000);

    test('retry of the Failed task (CLI) → Succeeded under the same id', async () => {
      fs.rmSync(flagFile, { force: true });
      const { client, destinations } = rt();
      const failed = await client.get(m.flaky, 'fail-1');
      expect(failed.status).toBe('Failed');

      const retried = await rt().cli(['retry', m.flaky, 'fail-1', '--json']);
      expect(retried.stderr).toBe('');
      expect(retried.code).toBe(0);
      const record = JSON.parse(retried.stdout) as TaskRecord;
      expect(record).toMatchObject({ taskId: 'fail-1', status: 'Enqueued', alreadyRetriedTimes: 0 });
      expect(record.requestId).not.toBe(failed.requestId);

      const { task } = await watchTask(client, m.flaky, 'fail-1', { timeoutMs: 20_000 });
      expect(task).toMatchObject({ taskId: 'fail-1', status: 'Succeeded', returnPayload: { ok: true, attempt: 'passed' } });
      expect(task.requestId).toBe(record.requestId);
      expect(task.taskErrorMessage).toBeUndefined();
      const records = await destinations.waitFor(rt().output(queueOutputs(m.Flaky).success), 'fail-1');
      expect(records).toHaveLength(1);
      expect(records[0].requestContext).toMatchObject({ condition: 'Success', requestId: record.requestId });
      // Retrying a Succeeded task is refused.
      const again = await rt().cli(['retry', m.flaky, 'fail-1']);
      expect(again.code).toBe(1);
      expect(again.stderr).toMatch(/Succeeded/);
    }, 60_000);
  });

  describe('stop', () => {
    test('a running task ends Stopped with one Stopped record and never a success record', async () => {
      const { client, destinations } = rt();
      await client.submit({ functionName: m.etl, taskId: 'stop-1', payload: { ms: 3000 } });
      await watchTask(client, m.etl, 'stop-1', { until: (t) => t.status === 'Running', timeoutMs: 15_000, intervalMs: 50 });
      const stopped = await rt().cli(['stop', m.etl, 'stop-1', '--json']);
      expect(stopped.stderr).toBe('');
      expect(stopped.code).toBe(0);
      expect(['Stopping', 'Stopped']).toContain((JSON.parse(stopped.stdout) as TaskRecord).status);
      const { task } = await watchTask(client, m.etl, 'stop-1', { timeoutMs: 20_000, intervalMs: 100 });
      expect(task.status).toBe('Stopped');
      const failures = await destinations.waitFor(rt().output(queueOutputs(m.Etl).failure), 'stop-1');
      expect(failures).toHaveLength(1);
      expect(failures[0].requestContext).toMatchObject({ condition: 'Stopped', taskId: 'stop-1' });
      // The attempt's own end (economy: it ran to its end) sends no success record.
      await sleep(4000);
      expect(await destinations.recordsFor(rt().output(queueOutputs(m.Etl).success), 'stop-1')).toEqual([]);
      expect((await client.get(m.etl, 'stop-1')).status).toBe('Stopped');
    }, 60_000);

    test('a queued task is stopped before it runs', async () => {
      const { client, destinations } = rt();
      await client.submit({ functionName: m.etl, taskId: 'stop-2', payload: { ms: 0 } });
      const stopped = await client.stop(m.etl, 'stop-2').catch((error: Error) => error);
      const { task } = await watchTask(client, m.etl, 'stop-2', { timeoutMs: 20_000, intervalMs: 100 });
      if (stopped instanceof Error) {
        // It had already ended: the stop was refused, and the task Succeeded.
        expect(task.status).toBe('Succeeded');
        return;
      }
      expect(task.status).toBe('Stopped');
      await sleep(2000);
      expect(await destinations.recordsFor(rt().output(queueOutputs(m.Etl).success), 'stop-2')).toEqual([]);
      expect(await destinations.recordsFor(rt().output(queueOutputs(m.Etl).failure), 'stop-2')).toHaveLength(1);
    }, 60_000);
  });
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
