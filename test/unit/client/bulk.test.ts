/**
 * Bulk stop and retry over a mocked TaskApi (aws-sdk-client-mock on Lambda Invoke) holding tasks
 * in memory: the dry run lists every page and keeps the eligible ids once each, the run touches
 * each task at most once with at most `concurrency` calls in flight, refusals are summarised, an
 * abort stops taking tasks, and a service failure stops the run and rejects.
 */
import 'aws-sdk-client-mock-jest';
import { InvokeCommand, type InvokeCommandInput, type InvokeCommandOutput, LambdaClient } from '@aws-sdk/client-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import {
  AsyncTaskClient,
  type BulkPlan,
  type BulkProgress,
  InvalidArgumentError,
  InvalidTaskIdError,
  type ListRequest,
  planBulk,
  RETRYABLE_STATUSES,
  runBulk,
  ServiceError,
  STOPPABLE_STATUSES,
  type TaskApiRequest,
  type TaskRecord,
  type TaskStatus,
} from '../../../client';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
const lambda = mockClient(LambdaClient);
const TASK_API = 'AsyncTaskDemo-TaskApi-1A2B3C';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function bytes(value: unknown): InvokeCommandOutput['Payload'] {
  return new TextEncoder().encode(JSON.stringify(value)) as InvokeCommandOutput['Payload'];
}

function requestOf(input: InvokeCommandInput): TaskApiRequest {
  return JSON.parse(new TextDecoder().decode(input.Payload as Uint8Array)) as TaskApiRequest;
}

/** A TaskApi over tasks in memory: list pages (by the page size asked), stop and retry with the model's statuses. */
class FakeTaskApi {
  public readonly tasks = new Map<string, TaskStatus>();
  public readonly calls: TaskApiRequest[] = [];
  public inFlight = 0;
  public maxInFlight = 0;
  /** Delay of each stop/retry answer, ms. */
  public delayMs = 0;
  /** Answers that replace the normal behaviour, by task id. */
  public readonly overrides = new Map<string, () => unknown>();
  /** Called after each list page is answered (a test changes tasks between pages). */
  public afterPage?: (page: number) => void;
  private pages = 0;

  public constructor(entries: Array<[string, TaskStatus]>) {
    for (const [id, status] of entries) this.tasks.set(id, status);
    lambda.on(InvokeCommand).callsFake(async (input: InvokeCommandInput) => this.answer(requestOf(input)));
  }

  private record(taskId: string): TaskRecord {
    const status = this.tasks.get(taskId) ?? 'Succeeded';
    return { taskId, functionName: 'etl', requestId: 'r', status, taskPayload: null, alreadyRetriedTimes: 0, startedTime: 1, events: [] };
  }

  private reply(result: unknown) {
    return { StatusCode: 200, Payload: bytes({ ok: true, result }) };
  }

  private fail(name: string, message: string) {
    return { StatusCode: 200, Payload: bytes({ ok: false, error: { name, message } }) };
  }

  private async answer(request: TaskApiRequest): Promise<unknown> {
    this.calls.push(request);
    if (request.op === 'list') return this.list(request);
    if (request.op !== 'stop' && request.op !== 'retry') throw new Error(`unexpected op ${request.op}`);
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      await sleep(this.delayMs);
      const override = this.overrides.get(request.taskId);
      if (override) return override();
      const status = this.tasks.get(request.taskId);
      if (status === undefined) return this.fail('TaskNotFound', `task '${request.taskId}' of function 'etl' not found`);
      const allowed = request.op === 'stop' ? STOPPABLE_STATUSES : RETRYABLE_STATUSES;
      if (!allowed.includes(status)) {
        return this.fail(
          'InvalidTaskState',
          `task '${request.taskId}' is ${status}; only ${allowed.join(', ')} tasks can be ${request.op}ped`,
        );
      }
      this.tasks.set(request.taskId, request.op === 'stop' ? 'Stopping' : 'Enqueued');
      return this.reply(this.record(request.taskId));
    } finally {
      this.inFlight--;
    }
  }

  /** In insertion order, the status filter applied; nextToken is the last id of the page (a key, as DynamoDB's). */
  private list(request: ListRequest) {
    const wanted = request.status;
    const ids = [...this.tasks.keys()].filter((id) => wanted === undefined || wanted.includes(this.tasks.get(id) as TaskStatus));
    const start = request.nextToken === undefined ? 0 : ids.indexOf(request.nextToken) + 1;
    const limit = request.limit ?? 20;
    const page = ids.slice(start, start + limit).map((id) => this.record(id));
    const next = start + limit < ids.length ? page[page.length - 1].taskId : undefined;
    this.afterPage?.(this.pages++);
    return this.reply({ tasks: page, ...(next ? { nextToken: next } : {}) });
  }

  public ops(op: string): string[] {
    return this.calls.filter((c) => c.op === op).map((c) => (c as { taskId: string }).taskId);
  }
}

const client = () => new AsyncTaskClient({ functionName: TASK_API, region: 'eu-west-1' });
const ids = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${String(i + 1).padStart(3, '0')}`);

beforeEach(() => lambda.reset());

describe('planBulk', () => {
  test('lists every page (100 a page) and keeps the eligible ids in list order, counting the others', async () => {
    const api = new FakeTaskApi([
      ...ids('f', 150).map((id): [string, TaskStatus] => [id, 'Failed']),
      ...ids('s', 60).map((id): [string, TaskStatus] => [id, 'Succeeded']),
      ['r1', 'Running'],
      ['x1', 'Stopped'],
    ]);

    const plan = await planBulk(client(), { functionName: 'etl', action: 'retry', filter: { since: 1000 } });

    expect(plan).toEqual({
      functionName: 'etl',
      action: 'retry',
      filter: { since: 1000 },
      taskIds: [...ids('f', 150), 'x1'],
      ineligible: 61,
      truncated: false,
      createdAt: expect.any(Number),
    });
    const lists = api.calls.filter((c) => c.op === 'list');
    expect(lists).toHaveLength(3);
    expect(lists[0]).toEqual({ op: 'list', functionName: 'etl', since: 1000, limit: 100 });
    expect(api.ops('retry')).toEqual([]);
  });

  test('a task seen twice (it moved while listing) is planned once', async () => {
    const api = new FakeTaskApi(ids('f', 150).map((id): [string, TaskStatus] => [id, 'Failed']));
    // After page 1, the first task is retried elsewhere and fails again: it moves to the end of the list.
    api.afterPage = (page) => {
      if (page !== 0) return;
      api.tasks.delete('f001');
      api.tasks.set('f001', 'Failed');
    };

    const plan = await planBulk(client(), { functionName: 'etl', action: 'retry' });

    expect(plan.taskIds).toEqual(ids('f', 150));
    expect(api.calls.filter((c) => c.op === 'list')).toHaveLength(2);
  });

  test('passes the filter on, dropping a function, token or page size slipped into it', async () => {
    const api = new FakeTaskApi([
      ['a1', 'Running'],
      ['a2', 'Enqueued'],
      ['b1', 'Failed'],
    ]);

    const plan = await planBulk(client(), {
      functionName: 'etl',
      action: 'stop',
      filter: { status: 'Running,Enqueued', prefix: 'a', functionName: 'other', nextToken: 'x', limit: 1 } as never,
    });

    expect(plan.taskIds).toEqual(['a1', 'a2']);
    expect(plan.filter).toEqual({ status: 'Running,Enqueued', prefix: 'a' });
    expect(api.calls[0]).toEqual({ op: 'list', functionName: 'etl', status: ['Running', 'Enqueued'], prefix: 'a', limit: 100 });
  });

  test('stops listing at maxTasks and says it was truncated', async () => {
    const api = new FakeTaskApi(ids('f', 450).map((id): [string, TaskStatus] => [id, 'Failed']));

    const plan = await planBulk(client(), { functionName: 'etl', action: 'retry', maxTasks: 120 });

    expect(plan.taskIds).toEqual(ids('f', 120));
    expect(plan.truncated).toBe(true);
    expect(api.calls.filter((c) => c.op === 'list')).toHaveLength(2);
  });

  describe('fails before any call if', () => {
    test.each([
      ['the action is unknown', { action: 'delete' }, `action must be 'stop' or 'retry' (given "delete")`],
      ['maxTasks is 0', { maxTasks: 0 }, 'maxTasks must be an integer between 1 and 100000 inclusive (given 0)'],
      ['maxTasks is fractional', { maxTasks: 1.5 }, 'maxTasks must be an integer between 1 and 100000 inclusive (given 1.5)'],
      ['a status is unknown', { filter: { status: 'Done' } }, /^unknown status 'Done'; allowed: /],
      ['since is after until', { filter: { since: 2000, until: 1000 } }, /is after until/],
    ])('%s', async (_name, options, message) => {
      const api = new FakeTaskApi([]);
      const error = await planBulk(client(), { functionName: 'etl', action: 'retry', ...(options as object) }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidArgumentError);
      expect((error as Error).message).toMatch(message);
      expect(api.calls).toEqual([]);
    });
  });
});

function plan(action: 'stop' | 'retry', taskIds: string[]): BulkPlan {
  return { functionName: 'etl', action, filter: {}, taskIds, ineligible: 0, truncated: false, createdAt: 0 };
}

describe('runBulk', () => {
  test('retries each task of the plan exactly once, even a repeated id, and summarises', async () => {
    const api = new FakeTaskApi(ids('f', 25).map((id): [string, TaskStatus] => [id, 'Failed']));
    const progress: BulkProgress[] = [];

    const summary = await runBulk(client(), plan('retry', [...ids('f', 25), 'f003', 'f010']), { onProgress: (p) => progress.push(p) });

    expect(api.ops('retry').sort()).toEqual(ids('f', 25));
    expect(summary).toEqual({
      functionName: 'etl',
      action: 'retry',
      total: 25,
      succeeded: expect.arrayContaining(ids('f', 25)),
      refused: [],
      failed: [],
      skipped: [],
      aborted: false,
      durationMs: expect.any(Number),
    });
    expect(summary.succeeded).toHaveLength(25);
    expect(progress[0]).toEqual({ total: 25, done: 0, succeeded: 0, refused: 0 });
    expect(progress.at(-1)).toEqual({ total: 25, done: 25, succeeded: 25, refused: 0 });
    expect(progress.map((p) => p.done)).toEqual([...Array(26).keys()]);
  });

  test('a task that ended or moved meanwhile is refused with its typed error, and the run goes on', async () => {
    const api = new FakeTaskApi([
      ['a', 'Running'],
      ['b', 'Succeeded'],
      ['c', 'Enqueued'],
    ]);

    const summary = await runBulk(client(), plan('stop', ['a', 'b', 'gone', 'c']));

    expect([...summary.succeeded].sort()).toEqual(['a', 'c']);
    expect(summary.refused).toEqual(
      expect.arrayContaining([
        {
          taskId: 'b',
          error: {
            name: 'InvalidTaskState',
            message: "task 'b' is Succeeded; only Enqueued, Dequeued, Running, Retrying tasks can be stopped",
          },
        },
        { taskId: 'gone', error: { name: 'TaskNotFound', message: "task 'gone' of function 'etl' not found" } },
      ]),
    );
    expect(summary.refused).toHaveLength(2);
    expect(api.ops('stop').sort()).toEqual(['a', 'b', 'c', 'gone']);
  });

  test('keeps at most `concurrency` calls in flight, and uses them', async () => {
    const api = new FakeTaskApi(ids('f', 30).map((id): [string, TaskStatus] => [id, 'Failed']));
    api.delayMs = 15;

    await runBulk(client(), plan('retry', ids('f', 30)), { concurrency: 3 });
    expect(api.maxInFlight).toBe(3);

    api.maxInFlight = 0;
    for (const id of ids('f', 30)) api.tasks.set(id, 'Failed');
    await runBulk(client(), plan('retry', ids('f', 30)));
    expect(api.maxInFlight).toBe(4);
  });

  test('an abort stops taking tasks: the calls in flight finish, the rest are skipped and never called', async () => {
    const api = new FakeTaskApi(ids('f', 40).map((id): [string, TaskStatus] => [id, 'Failed']));
    api.delayMs = 5;
    const controller = new AbortController();

    const summary = await runBulk(client(), plan('retry', ids('f', 40)), {
      concurrency: 2,
      signal: controller.signal,
      onProgress: (p) => {
        if (p.done === 6) controller.abort();
      },
    });

    expect(summary.aborted).toBe(true);
    expect(summary.succeeded.length).toBeGreaterThanOrEqual(6);
    expect(summary.succeeded.length).toBeLessThanOrEqual(7);
    expect(summary.skipped).toEqual(ids('f', 40).filter((id) => !summary.succeeded.includes(id)));
    expect(api.ops('retry').sort()).toEqual([...summary.succeeded].sort());
  });

  test('an aborted signal before the start: nothing is called', async () => {
    const api = new FakeTaskApi([['a', 'Failed']]);
    const controller = new AbortController();
    controller.abort();

    const summary = await runBulk(client(), plan('retry', ['a']), { signal: controller.signal });

    expect(summary).toMatchObject({ aborted: true, succeeded: [], skipped: ['a'] });
    expect(api.ops('retry')).toEqual([]);
  });

  test('a ServiceError stops the run and rejects with the summary so far; the failed task is not repeated', async () => {
    const api = new FakeTaskApi(ids('f', 20).map((id): [string, TaskStatus] => [id, 'Failed']));
    api.delayMs = 2;
    api.overrides.set('f005', () => ({
      StatusCode: 200,
      Payload: bytes({ ok: false, error: { name: 'ServiceError', message: 'StartExecution failed: throttled' } }),
    }));

    const error = await runBulk(client(), plan('retry', ids('f', 20)), { concurrency: 2 }).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(ServiceError);
    expect((error as Error).message).toMatch(
      /^bulk retry of function 'etl' stopped after \d+ of 20 task\(s\) \(.*1 failed.*\): ServiceError: StartExecution failed: throttled$/,
    );
    const summary = (error as ServiceError).details?.summary as {
      succeeded: string[];
      failed: Array<{ taskId: string }>;
      skipped: string[];
    };
    expect(summary.failed).toEqual([{ taskId: 'f005', error: { name: 'ServiceError', message: 'StartExecution failed: throttled' } }]);
    expect(summary.skipped.length).toBeGreaterThan(0);
    expect(api.ops('retry').filter((id) => id === 'f005')).toHaveLength(1);
    expect(api.ops('retry')).toHaveLength(summary.succeeded.length + 1);
  });

  test('an unreachable TaskApi (the invoke itself fails) stops the run', async () => {
    new FakeTaskApi([]);
    lambda.on(InvokeCommand).rejects(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:4566'), { name: 'Error' }));

    const error = await runBulk(client(), plan('stop', ['a', 'b', 'c']), { concurrency: 1 }).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(ServiceError);
    expect((error as ServiceError).details?.summary).toMatchObject({ succeeded: [], refused: [], skipped: ['b', 'c'] });
    expect(lambda).toHaveReceivedCommandTimes(InvokeCommand, 1);
  });

  describe('fails before any call if', () => {
    test.each([
      [
        'the action is unknown',
        { ...plan('stop', ['a']), action: 'pause' },
        InvalidArgumentError,
        `action must be 'stop' or 'retry' (given "pause")`,
      ],
      ['a task id is invalid', plan('stop', ['a', '1bad']), InvalidTaskIdError, /invalid task id '1bad'/],
      [
        'taskIds is not an array',
        { ...plan('stop', []), taskIds: 'a' },
        InvalidArgumentError,
        "the plan's taskIds must be an array of task ids (given string)",
      ],
      [
        'the function name is empty',
        { ...plan('stop', ['a']), functionName: '' },
        InvalidArgumentError,
        /functionName must be a non-empty string/,
      ],
    ])('%s', async (_name, given, type, message) => {
      const api = new FakeTaskApi([]);
      const error = await runBulk(client(), given as BulkPlan).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(type);
      expect((error as Error).message).toMatch(message);
      expect(api.calls).toEqual([]);
    });

    test('concurrency is out of 1-32', async () => {
      new FakeTaskApi([]);
      await expect(runBulk(client(), plan('stop', ['a']), { concurrency: 0 })).rejects.toThrow(
        'concurrency must be an integer between 1 and 32 inclusive (given 0)',
      );
      await expect(runBulk(client(), plan('stop', ['a']), { concurrency: 33 })).rejects.toThrow('(given 33)');
    });
  });
});
