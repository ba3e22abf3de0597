/**
 * TaskApi `stats`: counts by status over a window with Select COUNT on the ByStatus index (every
 * page), what is active now without the window, durations from one ByTime query reading only
 * status, start and end — never a Scan — and the window's validation.
 */
import 'aws-sdk-client-mock-jest';
import { BatchGetCommand, type BatchGetCommandInput, QueryCommand, type QueryCommandInput, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { handler } from '../../../lambda/handlers/task-api';
import { LIST_KEY_HIGH } from '../../../lambda/lib/list-plan';
import {
  ACTIVE_STATUSES,
  ALL_STATUSES,
  STATS_DEFAULT_WINDOW_MS,
  STATS_MAX_DURATION_SAMPLES,
  type TaskStats,
  type TaskStatus,
  TERMINAL_STATUSES,
} from '../../../lambda/model';
import { ETL, failed, mocks, ok, setServiceEnv, TABLE_NAME, useHandlerTestEnv } from './fixtures';

const NOW = Date.parse('2026-11-25T12:00:00.000Z');
const DAY_AGO = NOW - STATS_DEFAULT_WINDOW_MS;

useHandlerTestEnv(NOW);

type Counts = Partial<Record<TaskStatus, number>>;

interface FakeIndexes {
  /** Count of each status inside the window. */
  readonly windowed: Counts;
  /** Count of each status whatever the start time. */
  readonly all: Counts;
  /** Items of the ByTime query, in pages. */
  readonly times?: ReadonlyArray<ReadonlyArray<Record<string, unknown>>>;
  /** Pages each COUNT answer is split into. */
  readonly countPages?: number;
}

/** Answers the stats queries from counts, splitting each COUNT over `countPages` pages. */
function serve(fake: FakeIndexes): void {
  mocks.ddb.on(QueryCommand).callsFake((input: QueryCommandInput) => {
    if (input.IndexName === 'ByTimeEconomy') return { Items: [] }; // a standard function: no economy tasks
    if (input.IndexName === 'ByStatus') {
      const status = String(input.ExpressionAttributeValues?.[':statusKey']).split('#')[1] as TaskStatus;
      const total = (input.ExpressionAttributeValues?.[':from'] !== undefined ? fake.windowed : fake.all)[status] ?? 0;
      const pages = fake.countPages ?? 1;
      const page = input.ExclusiveStartKey ? Number(input.ExclusiveStartKey.page) : 0;
      const share = Math.floor(total / pages) + (page === pages - 1 ? total % pages : 0);
      return { Count: share, ...(page < pages - 1 ? { LastEvaluatedKey: { page: String(page + 1) } } : {}) };
    }
    const pages = fake.times ?? [[]];
    const page = input.ExclusiveStartKey ? Number(input.ExclusiveStartKey.page) : 0;
    return { Items: pages[page], ...(page < pages.length - 1 ? { LastEvaluatedKey: { page: String(page + 1) } } : {}) };
  });
}

function timed(status: TaskStatus, startSecond: number, durationMs: number | undefined): Record<string, unknown> {
  const startedAt = new Date(NOW - 3_600_000 + startSecond * 1000).toISOString();
  return {
    status,
    startedAt,
    ...(durationMs !== undefined ? { endedAt: new Date(Date.parse(startedAt) + durationMs).toISOString() } : {}),
  };
}

function queries(): QueryCommandInput[] {
  return mocks.ddb.commandCalls(QueryCommand).map((c) => c.args[0].input as QueryCommandInput);
}

describe('stats of economy tasks (counted by reading them)', () => {
  test('more than STATS_MAX_DURATION_SAMPLES in the window: counts are marked as lower bounds', async () => {
    setServiceEnv([{ ...ETL, orchestration: 'economy' }]);
    serve({ windowed: {}, all: {} });
    let served = 0;
    mocks.ddb.on(QueryCommand, { IndexName: 'ByTimeEconomy' }).callsFake(() => {
      const keys = Array.from({ length: 100 }, () => ({ functionName: 'etl', taskId: `e${served++}` }));
      return { Items: keys, LastEvaluatedKey: keys[99] };
    });
    mocks.ddb.on(BatchGetCommand).callsFake((input: BatchGetCommandInput) => ({
      Responses: {
        [TABLE_NAME]: (input.RequestItems?.[TABLE_NAME]?.Keys ?? []).map((key) => ({ ...key, ...timed('Succeeded', 1, 100) })),
      },
    }));

    const stats = ok<TaskStats>(await handler({ op: 'stats', functionName: 'etl' }));

    expect(stats.counts.Succeeded).toBe(STATS_MAX_DURATION_SAMPLES);
    expect(stats.countsAreLowerBounds).toBe(true);
    expect(stats.durationMs).toMatchObject({ samples: STATS_MAX_DURATION_SAMPLES, sampled: true });
  });

  test('all of them read: no lower-bound mark', async () => {
    setServiceEnv([{ ...ETL, orchestration: 'economy' }]);
    serve({ windowed: {}, all: {} });
    mocks.ddb.on(QueryCommand, { IndexName: 'ByTimeEconomy' }).resolves({ Items: [{ functionName: 'etl', taskId: 'e1' }] });
    mocks.ddb
      .on(BatchGetCommand)
      .resolves({ Responses: { [TABLE_NAME]: [{ functionName: 'etl', taskId: 'e1', ...timed('Failed', 1, 50) }] } });

    const stats = ok<TaskStats>(await handler({ op: 'stats', functionName: 'etl' }));

    expect(stats.counts.Failed).toBe(1);
    expect(stats.countsAreLowerBounds).toBeUndefined();
  });
});

describe('stats', () => {
  test('counts each status of the last 24 h with Select COUNT on ByStatus, what runs now, the success rate and durations', async () => {
    serve({
      windowed: { Succeeded: 6, Failed: 2, Running: 1, Stopped: 1, Enqueued: 2 },
      all: { Running: 3, Enqueued: 4, Retrying: 1, Stopping: 1 },
      times: [[timed('Succeeded', 1, 100), timed('Succeeded', 2, 200), timed('Failed', 3, 300), timed('Succeeded', 4, 400)]],
    });

    const stats = ok<TaskStats>(await handler({ op: 'stats', functionName: 'etl' }));

    expect(stats).toEqual({
      functionName: 'etl',
      since: DAY_AGO,
      until: NOW,
      counts: {
        Enqueued: 2,
        Dequeued: 0,
        Running: 1,
        Retrying: 0,
        Succeeded: 6,
        Failed: 2,
        Stopping: 0,
        Stopped: 1,
        Expired: 0,
        Invalid: 0,
      },
      total: 12,
      runningNow: 3,
      activeNow: 9,
      successRate: 6 / 9,
      durationMs: { p50: 200, p95: 400, samples: 4, sampled: false },
    });
    expect(Object.keys(stats.counts)).toEqual(ALL_STATUSES);
    expect(mocks.ddb).not.toHaveReceivedCommand(ScanCommand);

    const counts = queries().filter((q) => q.IndexName === 'ByStatus');
    expect(counts).toHaveLength(ALL_STATUSES.length + ACTIVE_STATUSES.length);
    for (const q of counts) expect(q).toMatchObject({ TableName: TABLE_NAME, Select: 'COUNT' });
    expect(mocks.ddb).toHaveReceivedCommandWith(QueryCommand, {
      IndexName: 'ByStatus',
      Select: 'COUNT',
      KeyConditionExpression: '#statusKey = :statusKey AND #listKey BETWEEN :from AND :to',
      ExpressionAttributeNames: { '#statusKey': 'statusKey', '#listKey': 'listKey' },
      ExpressionAttributeValues: {
        ':statusKey': 'etl#Failed',
        ':from': new Date(DAY_AGO).toISOString(),
        ':to': `${new Date(NOW).toISOString()}${LIST_KEY_HIGH}`,
      },
    });
    expect(mocks.ddb).toHaveReceivedCommandWith(QueryCommand, {
      IndexName: 'ByStatus',
      Select: 'COUNT',
      KeyConditionExpression: '#statusKey = :statusKey',
      ExpressionAttributeValues: { ':statusKey': 'etl#Stopping' },
    });
  });

  test('durations: one ByTime query of the window, newest first, reading only status, startedAt and endedAt of terminal tasks', async () => {
    serve({ windowed: { Succeeded: 1 }, all: {}, times: [[timed('Succeeded', 1, 50)]] });

    await handler({ op: 'stats', functionName: 'etl', since: NOW - 60_000, until: NOW - 1000 });

    const byTime = queries().filter((q) => q.IndexName === 'ByTime');
    expect(byTime).toHaveLength(1);
    expect(byTime[0]).toEqual({
      TableName: TABLE_NAME,
      IndexName: 'ByTime',
      KeyConditionExpression: '#functionName = :functionName AND #listKey BETWEEN :from AND :to',
      FilterExpression: `#status IN (${TERMINAL_STATUSES.map((_, i) => `:status${i}`).join(', ')})`,
      ProjectionExpression: '#status, #startedAt, #endedAt',
      ExpressionAttributeNames: {
        '#functionName': 'functionName',
        '#listKey': 'listKey',
        '#status': 'status',
        '#startedAt': 'startedAt',
        '#endedAt': 'endedAt',
      },
      ExpressionAttributeValues: {
        ':functionName': 'etl',
        ':from': new Date(NOW - 60_000).toISOString(),
        ':to': `${new Date(NOW - 1000).toISOString()}${LIST_KEY_HIGH}`,
        ...Object.fromEntries(TERMINAL_STATUSES.map((s, i) => [`:status${i}`, s])),
      },
      ScanIndexForward: false,
    });
  });

  test('pages COUNT queries through LastEvaluatedKey and sums them', async () => {
    serve({ windowed: { Succeeded: 250, Failed: 7 }, all: { Running: 31 }, countPages: 3 });

    const stats = ok<TaskStats>(await handler({ op: 'stats', functionName: 'etl' }));

    expect(stats.counts.Succeeded).toBe(250);
    expect(stats.counts.Failed).toBe(7);
    expect(stats.runningNow).toBe(31);
    expect(stats.total).toBe(257);
    // 3 pages for each of the 10 windowed and 5 active counts.
    expect(queries().filter((q) => q.IndexName === 'ByStatus')).toHaveLength(3 * (ALL_STATUSES.length + ACTIVE_STATUSES.length));
    expect(mocks.ddb).toHaveReceivedCommandWith(QueryCommand, { Select: 'COUNT', ExclusiveStartKey: { page: '2' } });
  });

  test(`reads at most ${STATS_MAX_DURATION_SAMPLES} durations, across pages, and says they were sampled`, async () => {
    const page = (n: number, from: number) => Array.from({ length: n }, (_, i) => timed('Succeeded', (from + i) % 3600, from + i));
    serve({ windowed: { Succeeded: 12_000 }, all: {}, times: [page(6000, 0), page(6000, 6000)] });

    const stats = ok<TaskStats>(await handler({ op: 'stats', functionName: 'etl' }));

    expect(stats.durationMs).toEqual({ p50: 4999, p95: 9499, samples: STATS_MAX_DURATION_SAMPLES, sampled: true });
    expect(queries().filter((q) => q.IndexName === 'ByTime')).toHaveLength(2);
  });

  test('only failures: a success rate of 0, every duration read (not sampled)', async () => {
    serve({ windowed: { Failed: 2 }, all: {}, times: [[timed('Failed', 1, 10), timed('Failed', 2, 30)]] });

    const stats = ok<TaskStats>(await handler({ op: 'stats', functionName: 'etl' }));

    expect(stats.successRate).toBe(0);
    expect(stats.durationMs).toEqual({ p50: 10, p95: 30, samples: 2, sampled: false });
  });

  test('a window without terminal tasks has no success rate and no durations', async () => {
    serve({ windowed: { Running: 2 }, all: { Running: 2 } });

    const stats = ok<TaskStats>(await handler({ op: 'stats', functionName: 'etl' }));

    expect(stats).not.toHaveProperty('successRate');
    expect(stats).not.toHaveProperty('durationMs');
    expect(stats).toMatchObject({ total: 2, runningNow: 2, activeNow: 2 });
  });

  test('until alone: the 24 hours before it', async () => {
    serve({ windowed: {}, all: {} });

    const stats = ok<TaskStats>(await handler({ op: 'stats', functionName: 'etl', until: NOW - 5000 }));

    expect(stats).toMatchObject({ since: NOW - 5000 - STATS_DEFAULT_WINDOW_MS, until: NOW - 5000, total: 0 });
  });

  describe('fails if', () => {
    test('since or until is not a time in epoch milliseconds, naming the value', async () => {
      expect(failed(await handler({ op: 'stats', functionName: 'etl', since: 'yesterday' }))).toEqual({
        name: 'InvalidArgument',
        message: "since must be a time in epoch milliseconds (given 'yesterday')",
      });
      expect(failed(await handler({ op: 'stats', functionName: 'etl', until: -1 })).message).toBe(
        'until must be a time in epoch milliseconds (given -1)',
      );
      expect(mocks.ddb).not.toHaveReceivedCommand(QueryCommand);
    });

    test('since is after until', async () => {
      const error = failed(await handler({ op: 'stats', functionName: 'etl', since: NOW, until: NOW - 1000 }));
      expect(error.message).toBe(`since (${new Date(NOW).toISOString()}) is after until (${new Date(NOW - 1000).toISOString()})`);
    });

    test('the function is not in the registry', async () => {
      const error = failed(await handler({ op: 'stats', functionName: 'nope' }));
      expect(error.name).toBe('TaskFunctionNotFound');
      expect(mocks.ddb).not.toHaveReceivedCommand(QueryCommand);
    });
  });
});
