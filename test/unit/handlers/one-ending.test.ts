/**
 * One ending per task: whatever the interleaving of stop, the state machine's
 * MarkSucceeded, finalizers, the reconciler and retry, a task ends in one terminal status with
 * exactly one destination record whose condition matches it. Each case lands the writers in a
 * chosen order on the fake table (real condition evaluation); the state machine's write is the
 * one task-writes builds for its ASL (test/constructs/state-machine.test.ts pins that they match).
 */
import { DescribeExecutionCommand, StartExecutionCommand, StopExecutionCommand } from '@aws-sdk/client-sfn';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { type ExecutionStatusChangeEvent, handler as finalizer } from '../../../lambda/handlers/finalizer';
import { handler as reconciler } from '../../../lambda/handlers/reconciler';
import { handler as taskApi } from '../../../lambda/handlers/task-api';
import { DELIVERY_CLAIM, DELIVERY_CLAIM_STALE_MS, transitionUpdate } from '../../../lambda/lib/task-writes';
import {
  type DestinationRecord,
  DestinationStatus,
  isTerminal,
  statusKey,
  type TaskItem,
  TaskStatus,
  tableKey,
} from '../../../lambda/model';
import { FakeTable } from './fake-table';
import { awsError, ETL, failed, LAMBDA_CONTEXT, mocks, ok, setServiceEnv, taskItem, useHandlerTestEnv } from './fixtures';

const NOW = Date.parse('2026-11-25T12:30:00.000Z');
const SUCCESS_QUEUE = ETL.onSuccess?.url ?? '';
const FAILURE_QUEUE = ETL.onFailure?.url ?? '';

useHandlerTestEnv(NOW);

/** Success records the state machine sent (DeliverSuccess runs only after MarkSucceeded held). */
let successRecords: number;

beforeEach(() => {
  successRecords = 0;
  setServiceEnv([ETL]);
  mocks.sqs.on(SendMessageCommand).resolves({ MessageId: 'm' });
  mocks.sfn.on(StopExecutionCommand).resolves({ stopDate: new Date(NOW) });
  mocks.sfn.on(StartExecutionCommand).resolves({});
});

/** The state machine's MarkSucceeded then DeliverSuccess: the record only when the write held. */
function stateMachineSucceeds(table: FakeTable, item: TaskItem): boolean {
  const written = table.write(
    tableKey(item.functionName, item.taskId),
    transitionUpdate<unknown>(
      {
        to: TaskStatus.Succeeded,
        owner: item.executionArn ?? null,
        statusKey: statusKey(item.functionName, TaskStatus.Succeeded),
        set: { returnPayload: '{"rows":3}', endedAt: '2026-11-25T12:30:00.000Z', destinationStatus: DestinationStatus.Succeeded },
        appendEvent: { empty: [], entries: [{ status: 'Succeeded', at: '2026-11-25T12:30:00.000Z', detail: 'attempt 1' }] },
      },
      (text) => text,
    ),
  );
  if (written) successRecords++;
  return written;
}

function event(item: TaskItem, status: string, error?: string): ExecutionStatusChangeEvent {
  return {
    detail: {
      executionArn: item.executionArn ?? '',
      status,
      input: JSON.stringify({ task: { functionName: item.functionName, taskId: item.taskId, requestId: item.requestId } }),
      error: error ?? null,
      cause: null,
    },
  };
}

function failureRecords(): DestinationRecord[] {
  return mocks.sqs
    .commandCalls(SendMessageCommand, { QueueUrl: FAILURE_QUEUE })
    .map((c) => JSON.parse(c.args[0].input.MessageBody ?? '') as DestinationRecord);
}

const CONDITION_OF_STATUS: Partial<Record<TaskStatus, string>> = {
  Succeeded: 'Success',
  Stopped: 'Stopped',
  Failed: 'RetriesExhausted',
  Expired: 'EventAgeExceeded',
  Invalid: 'Invalid',
};

/** The invariant: terminal, one record in all, on the queue and with the condition of the status. */
function expectOneEnding(table: FakeTable, taskId = 'job_1'): TaskItem {
  const item = table.get('etl', taskId);
  if (!item) throw new Error(`task '${taskId}' is gone`);
  expect(isTerminal(item.status)).toBe(true);
  const failures = failureRecords().filter((r) => r.requestContext.taskId === taskId);
  expect({ success: successRecords, failure: failures.length }).toEqual(
    item.status === 'Succeeded' ? { success: 1, failure: 0 } : { success: 0, failure: 1 },
  );
  if (item.status !== 'Succeeded') expect(failures[0].requestContext.condition).toBe(CONDITION_OF_STATUS[item.status]);
  expect(mocks.sqs.commandCalls(SendMessageCommand, { QueueUrl: SUCCESS_QUEUE })).toHaveLength(0); // only the machine sends those
  expect(item.destinationStatus).toBe('Succeeded');
  expect(item[DELIVERY_CLAIM as keyof TaskItem]).toBeUndefined();
  return item;
}

/** SQS sends that wait until released: a finalizer caught between its claim and its send. */
function holdSends(): { release: () => void; held: () => number } {
  const waiting: Array<() => void> = [];
  mocks.sqs.on(SendMessageCommand).callsFake(() => new Promise((resolve) => waiting.push(() => resolve({ MessageId: 'm' }))));
  return {
    release: () => {
      for (const go of waiting.splice(0)) go();
    },
    held: () => waiting.length,
  };
}

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 1000 && !condition(); i++) await new Promise((resolve) => setImmediate(resolve));
  if (!condition()) throw new Error(`never happened: ${what}`);
}

describe('stop vs MarkSucceeded', () => {
  test('MarkSucceeded first: the stop is refused as the task has ended; one Success record', async () => {
    const item = taskItem({ status: 'Running' });
    const table = new FakeTable();
    table.put(item);

    expect(stateMachineSucceeds(table, item)).toBe(true);
    const error = failed(await taskApi({ op: 'stop', functionName: 'etl', taskId: 'job_1' }));

    expect(error).toEqual({
      name: 'InvalidTaskState',
      message: "task 'job_1' has ended (Succeeded); only Enqueued, Dequeued, Running or Retrying tasks can be stopped",
      details: { taskId: 'job_1', status: 'Succeeded', allowed: ['Enqueued', 'Dequeued', 'Running', 'Retrying'] },
    });
    expect(mocks.sfn).not.toHaveReceivedCommand(StopExecutionCommand);
    expect(expectOneEnding(table).status).toBe('Succeeded');
  });

  test('stop first: MarkSucceeded is refused (NotRunnable), the finalizer ends it Stopped; one Stopped record', async () => {
    const item = taskItem({ status: 'Running' });
    const table = new FakeTable();
    table.put(item);

    ok(await taskApi({ op: 'stop', functionName: 'etl', taskId: 'job_1' }));
    expect(stateMachineSucceeds(table, item)).toBe(false);
    // The execution fails in NotRunnable (or is aborted by StopExecution): either event ends it Stopped.
    await finalizer(event(item, 'FAILED', 'TaskNotRunnable'));
    await finalizer(event(item, 'ABORTED', 'TaskStopped'));

    expect(expectOneEnding(table).status).toBe('Stopped');
  });

  test('the stop lands between the finalizer’s read and its terminal write (Failed → refused → Stopped)', async () => {
    const item = taskItem({ status: 'Running' });
    const table = new FakeTable();
    table.put(item);
    table.beforeNext('update', async () => {
      ok(await taskApi({ op: 'stop', functionName: 'etl', taskId: 'job_1' }));
    });

    await finalizer(event(item, 'FAILED', 'TaskRetriesExhausted'));

    expect(expectOneEnding(table).status).toBe('Stopped');
  });
});

describe('concurrent finalizers', () => {
  test('the same event twice at once: one terminal write, one record', async () => {
    const item = taskItem({ status: 'Running' });
    const table = new FakeTable();
    table.put(item);

    const results = await Promise.all([finalizer(event(item, 'ABORTED')), finalizer(event(item, 'ABORTED'))]);

    expect(results.map((r) => r.action).sort()).toEqual(['finalized', 'unchanged']);
    expect(expectOneEnding(table).status).toBe('Stopped');
  });

  test('a second finalizer while the first is sending: it sees Pending with a live claim and sends nothing', async () => {
    const item = taskItem({ status: 'Running' });
    const table = new FakeTable();
    table.put(item);
    const sends = holdSends();

    const first = finalizer(event(item, 'FAILED', 'TaskRetriesExhausted'));
    await until(() => sends.held() === 1, 'the first finalizer sends');
    expect(table.get('etl', 'job_1')).toMatchObject({ status: 'Failed', destinationStatus: 'Pending' });
    const second = await finalizer(event(item, 'FAILED', 'TaskRetriesExhausted'));
    expect(second).toMatchObject({ action: 'unchanged' });
    sends.release();
    await first;

    expect(expectOneEnding(table).status).toBe('Failed');
  });

  test('TaskApi stop finalizing an ended execution, racing the event finalizer', async () => {
    const item = taskItem({ status: 'Running' });
    const table = new FakeTable();
    table.put(item);
    mocks.sfn.on(StopExecutionCommand).rejects(awsError('ExecutionDoesNotExist', 'Execution Does Not Exist'));
    mocks.sfn.on(DescribeExecutionCommand).resolves({ status: 'FAILED', error: 'TaskRetriesExhausted' });

    await Promise.all([
      taskApi({ op: 'stop', functionName: 'etl', taskId: 'job_1' }),
      finalizer(event(item, 'FAILED', 'TaskRetriesExhausted')),
    ]);

    // Who wrote first decides Stopped or Failed; either way there is one ending.
    expect(['Stopped', 'Failed']).toContain(expectOneEnding(table).status);
  });
});

describe('a finalizer that died holding the claim', () => {
  test('it died between its terminal write and its send: Lambda’s retry (same request id) sends, once', async () => {
    const item = taskItem({ status: 'Running' });
    const table = new FakeTable();
    table.put(item);
    const context = { ...LAMBDA_CONTEXT, awsRequestId: 'finalizer-request-1' };
    // The first attempt writes Failed with its claim, then dies before the send (the send never answers).
    const sends = holdSends();
    void finalizer(event(item, 'FAILED', 'TaskRetriesExhausted'), context);
    await until(() => sends.held() === 1, 'the first attempt sends');
    const claimed = table.get('etl', 'job_1');
    expect(claimed).toMatchObject({ status: 'Failed', destinationStatus: 'Pending' });
    expect(claimed?.[DELIVERY_CLAIM as keyof TaskItem]).toMatch(/#finalizer-request-1$/);
    mocks.sqs.reset();
    mocks.sqs.on(SendMessageCommand).resolves({ MessageId: 'm' });

    // Another invocation (an EventBridge duplicate) leaves the live claim alone …
    const other = await finalizer(event(item, 'FAILED', 'TaskRetriesExhausted'), { ...LAMBDA_CONTEXT, awsRequestId: 'other' });
    expect(other).toMatchObject({ action: 'unchanged' });
    expect(mocks.sqs).not.toHaveReceivedCommand(SendMessageCommand);
    // … the retry of the one that died recognises its own claim and delivers.
    expect(await finalizer(event(item, 'FAILED', 'TaskRetriesExhausted'), context)).toMatchObject({ action: 'redelivered' });
    expect(expectOneEnding(table).status).toBe('Failed');
    // Done: a further retry of it sends nothing.
    expect(await finalizer(event(item, 'FAILED', 'TaskRetriesExhausted'), context)).toMatchObject({ action: 'unchanged' });
    expect(failureRecords()).toHaveLength(1);
  });
});

describe('reconciler vs finalizer', () => {
  test('a delivery in flight is left to its finalizer: the reconciler sends nothing', async () => {
    const item = taskItem({ status: 'Running' });
    const table = new FakeTable();
    table.put(item);
    const sends = holdSends();
    mocks.sfn.on(DescribeExecutionCommand).resolves({ status: 'FAILED', error: 'TaskRetriesExhausted' });

    const first = finalizer(event(item, 'FAILED', 'TaskRetriesExhausted'));
    await until(() => sends.held() === 1, 'the finalizer sends');
    const summary = await reconciler({});
    sends.release();
    await first;

    expect(summary).toMatchObject({ finalized: 0, redelivered: 0, errors: 0 });
    expect(expectOneEnding(table).status).toBe('Failed');
  });

  test('a finalizer that died after its terminal write: the reconciler delivers once, later passes and events do nothing', async () => {
    const deadClaim = `${new Date(NOW - DELIVERY_CLAIM_STALE_MS - 60_000).toISOString()}#dead`;
    const item = taskItem({ status: 'Stopped', destinationStatus: 'Pending', endedAt: '2026-11-25T12:10:00.000Z' });
    const table = new FakeTable();
    table.put({ ...item, [DELIVERY_CLAIM]: deadClaim });
    mocks.sfn.on(DescribeExecutionCommand).resolves({ status: 'ABORTED', error: 'TaskStopped' });

    const first = await reconciler({});
    const second = await reconciler({});
    await finalizer(event(item, 'ABORTED', 'TaskStopped'));

    expect(first).toMatchObject({ redelivered: 1, errors: 0 });
    expect(second).toMatchObject({ redelivered: 0, errors: 0 });
    expect(expectOneEnding(table).status).toBe('Stopped');
  });

  test('a claim younger than the stale window is not swept even if its holder is slow', async () => {
    const liveClaim = `${new Date(NOW - DELIVERY_CLAIM_STALE_MS + 60_000).toISOString()}#slow`;
    const table = new FakeTable();
    table.put({ ...taskItem({ status: 'Failed', destinationStatus: 'Pending' }), [DELIVERY_CLAIM]: liveClaim });

    expect(await reconciler({})).toMatchObject({ redelivered: 0, errors: 0 });
    expect(mocks.sqs).not.toHaveReceivedCommand(SendMessageCommand);
  });
});

describe('retry vs a late finalizer', () => {
  test('a duplicate event of the old execution after a retry changes nothing', async () => {
    const item = taskItem({ status: 'Running' });
    const table = new FakeTable();
    table.put(item);
    await finalizer(event(item, 'FAILED', 'TaskRetriesExhausted'));
    expectOneEnding(table);

    const retried = ok<{ requestId: string }>(await taskApi({ op: 'retry', functionName: 'etl', taskId: 'job_1' }));
    const late = await finalizer(event(item, 'FAILED', 'TaskRetriesExhausted'));

    expect(late).toMatchObject({ action: 'stale' });
    expect(failureRecords()).toHaveLength(1);
    expect(table.get('etl', 'job_1')).toMatchObject({ status: 'Enqueued', requestId: retried.requestId });
    expect(table.get('etl', 'job_1')?.destinationStatus).toBeUndefined();
  });

  test('a retry between the reconciler’s read and its claim: the claim is refused, nothing is sent', async () => {
    const deadClaim = `${new Date(NOW - DELIVERY_CLAIM_STALE_MS - 60_000).toISOString()}#dead`;
    const item = taskItem({ status: 'Stopped', destinationStatus: 'Pending' });
    const table = new FakeTable();
    table.put({ ...item, [DELIVERY_CLAIM]: deadClaim });
    mocks.sfn.on(DescribeExecutionCommand).resolves({ status: 'ABORTED' });
    table.beforeNext('update', async () => {
      ok(await taskApi({ op: 'retry', functionName: 'etl', taskId: 'job_1' }));
    });

    const summary = await reconciler({});

    expect(summary).toMatchObject({ redelivered: 0, errors: 0 });
    expect(mocks.sqs).not.toHaveReceivedCommand(SendMessageCommand);
    const now = table.get('etl', 'job_1');
    expect(now).toMatchObject({ status: 'Enqueued' });
    expect(now?.[DELIVERY_CLAIM]).toBeUndefined();
  });
});
