/**
 * Economy orchestration end to end on the fake table (docs/design.md, "Orchestration modes"):
 * submit writes the economy item and invokes the task function asynchronously with the envelope;
 * the handler wrapper writes Running and the ending and sends the success record; failures come
 * back as Lambda's onFailure destination record to the finalizer; stop ends a queued task at
 * once and a running one when its attempt ends, never Succeeded; retry starts a new owner.
 */
import { InvokeCommand, type InvokeCommandInput } from '@aws-sdk/client-lambda';
import { StartExecutionCommand } from '@aws-sdk/client-sfn';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { handler as finalizer } from '../../../lambda/handlers/finalizer';
import { handler as reconciler } from '../../../lambda/handlers/reconciler';
import { handler as taskApi } from '../../../lambda/handlers/task-api';
import {
  type DestinationRecord,
  type EnvelopedEvent,
  type TaskFunctionDescriptor,
  type TaskRecord,
  TaskStatus,
} from '../../../lambda/model';
import { economyUpdate, retryingWrite } from '../../../lambda/lib/economy';
import { taskHandler } from '../../../lambda/runtime/task-handler';
import { FakeTable } from './fake-table';
import { ACCOUNT, ETL, failed, mocks, ok, setServiceEnv, useHandlerTestEnv } from './fixtures';

const NOW = Date.parse('2026-11-25T12:30:00.000Z');
const FINALIZER = `arn:aws:lambda:us-east-1:${ACCOUNT}:function:finalizer`;
const ECO: TaskFunctionDescriptor = { ...ETL, name: 'eco', orchestration: 'economy', finalizerArn: FINALIZER, maxRetryAttempts: 1 };
const SUCCESS_QUEUE = ECO.onSuccess?.url ?? '';
const FAILURE_QUEUE = ECO.onFailure?.url ?? '';

useHandlerTestEnv(NOW);

let table: FakeTable;
/** Events the task function was invoked with (asynchronously). */
let invocations: EnvelopedEvent[];
/** Events handed to the finalizer by the wrapper. */
let handOffs: unknown[];

beforeEach(() => {
  setServiceEnv([ECO]);
  table = new FakeTable();
  invocations = [];
  handOffs = [];
  jest.spyOn(console, 'log').mockImplementation(() => undefined);
  mocks.sqs.on(SendMessageCommand).resolves({ MessageId: 'm' });
  mocks.lambda.on(InvokeCommand).callsFake(async (input: InvokeCommandInput) => {
    const event = JSON.parse(new TextDecoder().decode(input.Payload as Uint8Array));
    expect(input.InvocationType).toBe('Event');
    if (input.FunctionName === FINALIZER) handOffs.push(event);
    else invocations.push(event as EnvelopedEvent);
    return { StatusCode: 202 };
  });
});

const records = (queue: string): DestinationRecord[] =>
  mocks.sqs
    .commandCalls(SendMessageCommand, { QueueUrl: queue })
    .map((c) => JSON.parse(c.args[0].input.MessageBody ?? '') as DestinationRecord);

async function submit(taskId: string, payload: unknown = { n: 21 }): Promise<TaskRecord> {
  return ok<TaskRecord>(await taskApi({ op: 'submit', functionName: 'eco', taskId, payload }));
}

const context = (id: string) => ({ awsRequestId: id, logStreamName: '2026/11/25/[$LATEST]abc' });

describe('economy: submit', () => {
  test('writes an economy item (no statusKey, no listKey) and invokes the function asynchronously; no execution', async () => {
    const record = await submit('t1');
    expect(record.status).toBe(TaskStatus.Enqueued);
    const item = table.get('eco', 't1');
    expect(item).toMatchObject({ orchestration: 'economy', economyKey: 'eco', economyListKey: `${item?.startedAt}#t1` });
    expect(item?.statusKey).toBeUndefined();
    expect(item?.listKey).toBeUndefined();
    expect(item?.executionArn).toBe(`lambda-event:${ECO.runnerArn}:${item?.requestId}`);
    expect(invocations).toHaveLength(1);
    expect(invocations[0].payload).toEqual({ n: 21 });
    expect(invocations[0].asynctask).toMatchObject({
      taskId: 't1',
      owner: item?.executionArn,
      finalizerArn: FINALIZER,
      maxRetryAttempts: 1,
    });
    expect(mocks.sfn.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });

  test('dedup: a taken id is TaskAlreadyExists and invokes nothing', async () => {
    await submit('t1');
    expect(failed(await taskApi({ op: 'submit', functionName: 'eco', taskId: 't1', payload: {} })).name).toBe('TaskAlreadyExists');
    expect(invocations).toHaveLength(1);
  });

  test('a refused invoke undoes the put: the id is free again', async () => {
    mocks.lambda.on(InvokeCommand).rejects(Object.assign(new Error('throttled'), { name: 'TooManyRequestsException' }));
    expect(failed(await taskApi({ op: 'submit', functionName: 'eco', taskId: 't1' })).name).toBe('ServiceError');
    expect(table.get('eco', 't1')).toBeUndefined();
  });
});

test('the Retrying write: SET status, message and event, ADD the retry count, on the owner and Running', () => {
  expect(economyUpdate(retryingWrite('2026-11-25T12:00:00.000Z', 'boom'), 'lambda-event:arn:r1')).toEqual({
    UpdateExpression:
      'SET #status = :status, #taskErrorMessage = :taskErrorMessage, #events = list_append(if_not_exists(#events, :noEvents), :event) ADD #alreadyRetriedTimes :add_alreadyRetriedTimes',
    ConditionExpression: '#executionArn = :owner AND #status IN (:from0)',
    ExpressionAttributeNames: {
      '#status': 'status',
      '#taskErrorMessage': 'taskErrorMessage',
      '#events': 'events',
      '#executionArn': 'executionArn',
      '#alreadyRetriedTimes': 'alreadyRetriedTimes',
    },
    ExpressionAttributeValues: {
      ':owner': 'lambda-event:arn:r1',
      ':from0': 'Running',
      ':status': 'Retrying',
      ':taskErrorMessage': 'boom',
      ':noEvents': [],
      ':event': [{ status: 'Retrying', at: '2026-11-25T12:00:00.000Z', detail: 'boom' }],
      ':add_alreadyRetriedTimes': 1,
    },
  });
});

describe('economy: the wrapper', () => {
  test('Enqueued → Running → Succeeded, the result stored and one success record in the standard format', async () => {
    await submit('t1');
    const handler = taskHandler(async (payload: { n: number }) => ({ doubled: payload.n * 2 }));
    expect(await handler(invocations[0], context('req-1'))).toEqual({ doubled: 42 });
    const item = table.get('eco', 't1');
    expect(item?.status).toBe(TaskStatus.Succeeded);
    expect(item?.events.map((e) => e.status)).toEqual(['Enqueued', 'Running', 'Succeeded']);
    expect(item?.runnerId).toBe('req-1');
    expect(item?.destinationStatus).toBe('Succeeded');
    expect(item?.statusKey).toBeUndefined();
    const [record] = records(SUCCESS_QUEUE);
    expect(record).toMatchObject({
      version: '1.0',
      requestContext: { condition: 'Success', taskId: 't1', functionArn: ECO.runnerArn, approximateInvokeCount: 1, source: null },
      requestPayload: { n: 21 },
      responsePayload: { doubled: 42 },
    });
    expect(records(SUCCESS_QUEUE)).toHaveLength(1);
  });

  test('an event without the envelope goes to the handler unchanged', async () => {
    const handler = taskHandler(async (event: unknown) => ({ got: event }));
    expect(await handler({ plain: true }, context('r'))).toEqual({ got: { plain: true } });
  });

  test('a failure: Retrying while retries remain, then Lambda’s onFailure record ends it Failed with one failure record', async () => {
    await submit('t1');
    const handler = taskHandler(async () => {
      throw Object.assign(new Error('upstream 503'), { name: 'UpstreamError' });
    });
    await expect(handler(invocations[0], context('a1'))).rejects.toThrow('upstream 503');
    expect(table.get('eco', 't1')).toMatchObject({ status: 'Retrying', alreadyRetriedTimes: 1, taskErrorMessage: 'upstream 503' });
    await expect(handler(invocations[0], context('a2'))).rejects.toThrow('upstream 503');
    expect(table.get('eco', 't1')?.status).toBe('Running'); // the last attempt: no Retrying
    await finalizer({
      requestContext: { requestId: 'a2', condition: 'RetriesExhausted', approximateInvokeCount: 2 },
      requestPayload: invocations[0],
      responsePayload: { errorType: 'UpstreamError', errorMessage: 'upstream 503' },
    });
    const item = table.get('eco', 't1');
    expect(item?.status).toBe(TaskStatus.Failed);
    const failures = records(FAILURE_QUEUE);
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({
      requestContext: { condition: 'RetriesExhausted', approximateInvokeCount: 2 },
      responsePayload: { errorType: 'UpstreamError', errorMessage: 'upstream 503' },
    });
    // A duplicate destination record sends nothing more.
    await finalizer({ requestContext: { condition: 'RetriesExhausted' }, requestPayload: invocations[0], responsePayload: null });
    expect(records(FAILURE_QUEUE)).toHaveLength(1);
  });

  test('a permanent error is not retried: handed to the finalizer, Failed', async () => {
    await submit('t1');
    const handler = taskHandler(async () => {
      throw Object.assign(new Error('no such column'), { name: 'InvalidInput' });
    });
    expect(await handler(invocations[0], context('a1'))).toEqual({ asynctask: 'not-run', status: 'Running' });
    expect(handOffs).toHaveLength(1);
    await finalizer(handOffs[0] as never);
    expect(table.get('eco', 't1')).toMatchObject({ status: 'Failed', taskErrorMessage: 'no such column' });
    expect(records(FAILURE_QUEUE)).toHaveLength(1);
  });

  test('event age exceeded before any attempt: Expired', async () => {
    await submit('t1');
    await finalizer({ requestContext: { condition: 'EventAgeExceeded' }, requestPayload: invocations[0] });
    expect(table.get('eco', 't1')?.status).toBe(TaskStatus.Expired);
    expect(records(FAILURE_QUEUE)[0].requestContext.condition).toBe('EventAgeExceeded');
  });
});

describe('economy: stop', () => {
  test('a queued task is Stopped at once; its invocation then does not run the work', async () => {
    await submit('t1');
    const stopped = ok<TaskRecord>(await taskApi({ op: 'stop', functionName: 'eco', taskId: 't1' }));
    expect(stopped.status).toBe(TaskStatus.Stopped);
    expect(records(FAILURE_QUEUE)).toHaveLength(1);
    const work = jest.fn(async () => 'done');
    expect(await taskHandler(work)(invocations[0], context('late'))).toEqual({ asynctask: 'not-run', status: 'Stopped' });
    expect(work).not.toHaveBeenCalled();
    expect(records(SUCCESS_QUEUE)).toHaveLength(0);
  });

  test('a running attempt is not interrupted; it never reports success and ends Stopped with one record', async () => {
    await submit('t1');
    const handler = taskHandler(async () => {
      const stopping = ok<TaskRecord>(await taskApi({ op: 'stop', functionName: 'eco', taskId: 't1' }));
      expect(stopping.status).toBe(TaskStatus.Stopping);
      return { rows: 3 };
    });
    expect(await handler(invocations[0], context('a1'))).toEqual({ asynctask: 'not-run', status: 'Stopping' });
    expect(records(SUCCESS_QUEUE)).toHaveLength(0);
    expect(handOffs).toHaveLength(1);
    await finalizer(handOffs[0] as never);
    expect(table.get('eco', 't1')?.status).toBe(TaskStatus.Stopped);
    expect(records(FAILURE_QUEUE)).toHaveLength(1);
    expect(records(FAILURE_QUEUE)[0].requestContext.condition).toBe('Stopped');
  });
});

describe('economy: retry and mode switches', () => {
  test('retry starts a new owner; a late ending of the old attempt is ignored', async () => {
    await submit('t1');
    await finalizer({ requestContext: { condition: 'RetriesExhausted' }, requestPayload: invocations[0], responsePayload: null });
    const again = ok<TaskRecord>(await taskApi({ op: 'retry', functionName: 'eco', taskId: 't1' }));
    expect(again.status).toBe(TaskStatus.Enqueued);
    expect(invocations).toHaveLength(2);
    expect(invocations[1].asynctask.owner).not.toBe(invocations[0].asynctask.owner);
    const item = table.get('eco', 't1');
    expect(item?.statusKey).toBeUndefined();
    expect(item?.economyKey).toBe('eco');
    expect(await finalizer({ requestContext: { condition: 'RetriesExhausted' }, requestPayload: invocations[0] })).toMatchObject({
      action: 'stale',
    });
    expect(await taskHandler(async () => 1)(invocations[1], context('b1'))).toBe(1);
    expect(table.get('eco', 't1')?.status).toBe(TaskStatus.Succeeded);
  });

  test('a task started in economy mode finishes in it after the function went back to standard; its retry is standard', async () => {
    await submit('t1');
    setServiceEnv([{ ...ECO, orchestration: 'standard' }]);
    mocks.sfn.on(StartExecutionCommand).resolves({});
    expect(await taskHandler(async () => 'ok')(invocations[0], context('r1'))).toBe('ok');
    expect(table.get('eco', 't1')?.status).toBe(TaskStatus.Succeeded);
    const stopped = await submit('t2');
    expect(table.get('eco', 't2')?.orchestration).toBeUndefined(); // new tasks follow the function
    expect(stopped.executionArn).toContain(':execution:');
  });
});

describe('economy: a function switched back to standard', () => {
  test('its economy tasks from before are still listed (merged with the new standard ones), counted and reconciled', async () => {
    await submit('eco_1');
    jest.setSystemTime(NOW + 1000);
    await submit('eco_2');
    await taskHandler(async () => 'ok')(invocations[1], context('e2'));
    setServiceEnv([{ ...ECO, orchestration: 'standard' }]);
    mocks.sfn.on(StartExecutionCommand).resolves({});
    jest.setSystemTime(NOW + 2000);
    await submit('std_1');
    expect(table.get('eco', 'std_1')?.statusKey).toBe('eco#Enqueued');

    const all = ok<{ tasks: TaskRecord[]; nextToken?: string }>(await taskApi({ op: 'list', functionName: 'eco' }));
    expect(all.tasks.map((t) => t.taskId)).toEqual(['std_1', 'eco_2', 'eco_1']);
    const first = ok<{ tasks: TaskRecord[]; nextToken?: string }>(await taskApi({ op: 'list', functionName: 'eco', limit: 2 }));
    const second = ok<{ tasks: TaskRecord[]; nextToken?: string }>(
      await taskApi({ op: 'list', functionName: 'eco', limit: 2, nextToken: first.nextToken }),
    );
    expect([...first.tasks, ...second.tasks].map((t) => t.taskId)).toEqual(['std_1', 'eco_2', 'eco_1']);
    const succeeded = ok<{ tasks: TaskRecord[] }>(await taskApi({ op: 'list', functionName: 'eco', status: ['Succeeded'] }));
    expect(succeeded.tasks.map((t) => t.taskId)).toEqual(['eco_2']);
    // Outside the window of the economy tasks: the standard list alone.
    const later = ok<{ tasks: TaskRecord[] }>(await taskApi({ op: 'list', functionName: 'eco', since: NOW + 1500 }));
    expect(later.tasks.map((t) => t.taskId)).toEqual(['std_1']);

    jest.setSystemTime(NOW + 3000);
    const stats = ok<{ counts: Record<string, number>; total: number }>(
      await taskApi({ op: 'stats', functionName: 'eco', since: NOW - 60_000, until: NOW + 3000 }),
    );
    expect(stats.counts).toMatchObject({ Enqueued: 2, Succeeded: 1 });
    expect(stats.total).toBe(3);

    // eco_1 never ran: past the widest economy bound (6 h event age + timeout + 5 min) the reconciler ends it.
    jest.setSystemTime(NOW + (6 * 3600 + ETL.timeoutSeconds + 300 + 60) * 1000);
    await reconciler({});
    expect(table.get('eco', 'eco_1')?.status).toBe(TaskStatus.Expired);
    expect(records(FAILURE_QUEUE).map((r) => r.requestContext.taskId)).toEqual(['eco_1']);
  });
});

describe('economy: list', () => {
  test('lists economy tasks (and standard ones from before a switch) with status and prefix filters and pages', async () => {
    // A standard task of the function from before it switched to economy.
    table.put({
      functionName: 'eco',
      taskId: 'old_1',
      requestId: 'r0',
      status: 'Succeeded',
      statusKey: 'eco#Succeeded',
      listKey: '2026-11-25T12:00:00.000Z#old_1',
      taskPayload: '{}',
      alreadyRetriedTimes: 0,
      startedAt: '2026-11-25T12:00:00.000Z',
      deadline: '2026-11-25T13:00:00.000Z',
      events: [],
      expiresAt: 2e9,
    });
    jest.setSystemTime(NOW + 1000);
    await submit('job_a');
    jest.setSystemTime(NOW + 2000);
    await submit('job_b');
    jest.setSystemTime(NOW + 3000);
    await submit('other');
    await taskHandler(async () => 'ok')(invocations[1], context('b'));
    const all = ok<{ tasks: TaskRecord[]; nextToken?: string }>(await taskApi({ op: 'list', functionName: 'eco' }));
    expect(all.tasks.map((t) => t.taskId)).toEqual(['other', 'job_b', 'job_a', 'old_1']);
    const succeeded = ok<{ tasks: TaskRecord[] }>(await taskApi({ op: 'list', functionName: 'eco', status: ['Succeeded'] }));
    expect(succeeded.tasks.map((t) => t.taskId)).toEqual(['job_b', 'old_1']);
    const prefixed = ok<{ tasks: TaskRecord[] }>(await taskApi({ op: 'list', functionName: 'eco', prefix: 'job_', order: 'asc' }));
    expect(prefixed.tasks.map((t) => t.taskId)).toEqual(['job_a', 'job_b']);
    const first = ok<{ tasks: TaskRecord[]; nextToken?: string }>(await taskApi({ op: 'list', functionName: 'eco', limit: 2 }));
    expect(first.tasks.map((t) => t.taskId)).toEqual(['other', 'job_b']);
    expect(first.nextToken).toBeDefined();
    const second = ok<{ tasks: TaskRecord[]; nextToken?: string }>(
      await taskApi({ op: 'list', functionName: 'eco', limit: 2, nextToken: first.nextToken }),
    );
    expect(second.tasks.map((t) => t.taskId)).toEqual(['job_a', 'old_1']);
    expect(second.nextToken).toBeUndefined();
    expect(failed(await taskApi({ op: 'list', functionName: 'eco', nextToken: 'bm9wZQ' })).name).toBe('InvalidArgument');
  });
});

describe('economy: an attempt that ended without an answer', () => {
  test("Lambda's retry under the same request id counts it as failed and runs again", async () => {
    await submit('t1');
    // The first attempt wrote Running and then its sandbox died (no Retrying written).
    await expect(
      taskHandler(async () => {
        throw new Error('sandbox killed');
      })(invocations[0], context('same-id')),
    ).rejects.toThrow();
    // (the catch above wrote Retrying; simulate the crash instead: back to Running as the crash left it)
    table.put({ ...(table.get('eco', 't1') as object), status: 'Running', alreadyRetriedTimes: 0 });
    expect(await taskHandler(async () => 'second')(invocations[0], context('same-id'))).toBe('second');
    const item = table.get('eco', 't1');
    expect(item?.status).toBe(TaskStatus.Succeeded);
    expect(item?.alreadyRetriedTimes).toBe(1);
    expect(item?.events.map((e) => e.status)).toEqual(['Enqueued', 'Running', 'Retrying', 'Retrying', 'Running', 'Succeeded']);
  });
});

describe('economy: an attempt that died between Succeeded and recording its send', () => {
  test('its retry (same request id) sends the success record once and records it', async () => {
    await submit('t1');
    expect(await taskHandler(async () => ({ v: 1 }))(invocations[0], context('same-id'))).toEqual({ v: 1 });
    expect(records(SUCCESS_QUEUE)).toHaveLength(1);
    // As if the send had not been recorded (the sandbox died right after the Succeeded write).
    const item = table.get('eco', 't1') as Record<string, unknown>;
    table.put({ ...item, destinationStatus: 'Pending', deliveryClaim: `${String(item.endedAt)}#same-id` });
    mocks.sqs.resetHistory();
    const work = jest.fn(async () => ({ v: 2 }));
    expect(await taskHandler(work)(invocations[0], context('same-id'))).toEqual({ v: 1 });
    expect(work).not.toHaveBeenCalled();
    expect(records(SUCCESS_QUEUE)).toHaveLength(1);
    expect(table.get('eco', 't1')).toMatchObject({ status: 'Succeeded', destinationStatus: 'Succeeded' });
    expect(table.get('eco', 't1')?.deliveryClaim).toBeUndefined();
    // Another request id (a duplicate event) does not send again.
    mocks.sqs.resetHistory();
    await taskHandler(work)(invocations[0], context('other-id'));
    expect(records(SUCCESS_QUEUE)).toHaveLength(0);
  });
});

describe('economy: the reconciler ends tasks whose ending was lost', () => {
  test('past maxEventAge + timeout + 5 min: never started → Expired, running → Failed, each with one record', async () => {
    await submit('lost-queued');
    await submit('lost-running');
    // The attempt's sandbox "dies" while running: its handler never returns.
    void taskHandler(async () => new Promise(() => undefined))(invocations[1], context('r1'));
    for (let i = 0; i < 50 && table.get('eco', 'lost-running')?.status !== 'Running'; i++) {
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(table.get('eco', 'lost-running')?.status).toBe('Running');
    // Before the bound: nothing.
    jest.setSystemTime(NOW + (3600 + 300 + 300 - 60) * 1000);
    await reconciler({});
    expect(table.get('eco', 'lost-queued')?.status).toBe('Enqueued');
    jest.setSystemTime(NOW + (3600 + 300 + 300 + 60) * 1000);
    await reconciler({});
    expect(table.get('eco', 'lost-queued')?.status).toBe(TaskStatus.Expired);
    expect(table.get('eco', 'lost-running')?.status).toBe(TaskStatus.Failed);
    const failures = records(FAILURE_QUEUE);
    expect(failures.map((r) => [r.requestContext.taskId, r.requestContext.condition]).sort()).toEqual([
      ['lost-queued', 'EventAgeExceeded'],
      ['lost-running', 'RetriesExhausted'],
    ]);
    // The next pass sends nothing more.
    await reconciler({});
    expect(records(FAILURE_QUEUE)).toHaveLength(2);
  });
});

describe('economy: stats', () => {
  test('counts the economy tasks of the window and the active ones', async () => {
    await submit('s1');
    await submit('s2');
    await submit('s3');
    await taskHandler(async () => 'ok')(invocations[0], context('a'));
    jest.setSystemTime(NOW + 1000);
    const stats = ok<{ counts: Record<string, number>; total: number; activeNow: number; successRate?: number }>(
      await taskApi({ op: 'stats', functionName: 'eco', since: NOW - 60_000, until: NOW + 1000 }),
    );
    expect(stats.counts.Succeeded).toBe(1);
    expect(stats.counts.Enqueued).toBe(2);
    expect(stats.total).toBe(3);
    expect(stats.activeNow).toBe(2);
    expect(stats.successRate).toBe(1);
  });
});

test('functions names the economy orchestration', async () => {
  const [summary] = ok<Array<{ name: string; orchestration?: string }>>(await taskApi({ op: 'functions' }));
  expect(summary).toMatchObject({ name: 'eco', orchestration: 'economy' });
});
