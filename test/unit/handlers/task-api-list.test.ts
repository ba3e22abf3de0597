import 'aws-sdk-client-mock-jest';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { handler } from '../../../lambda/handlers/task-api';
import { encodeNextToken, LIST_KEY_HIGH, planList } from '../../../lambda/lib/list-plan';
import type { ListResult, TaskApiResponse } from '../../../lambda/model';
import { awsError, mocks, noEconomyTasks, nonEconomyQueries, quietLogs, resetMocks, setServiceEnv, TABLE_NAME, taskItem } from './fixtures';

const SINCE = Date.parse('2026-11-25T10:00:00.000Z');
const UNTIL = Date.parse('2026-11-25T11:00:00.000Z');

function ok(response: TaskApiResponse): ListResult {
  if (!response.ok) throw new Error(`expected ok, got ${JSON.stringify(response.error)}`);
  return response.result as ListResult;
}

function failed(response: TaskApiResponse) {
  if (response.ok) throw new Error(`expected an error, got ${JSON.stringify(response.result)}`);
  return response.error;
}

function item(n: number, status: 'Running' | 'Failed' | 'Succeeded' = 'Running') {
  return taskItem({ taskId: `job_${n}`, status, startedAt: `2026-11-25T10:0${n}:00.000Z` });
}

function decode(token: string): unknown {
  return JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
}

beforeEach(() => {
  resetMocks();
  setServiceEnv();
  quietLogs();
});

afterEach(() => jest.restoreAllMocks());

describe('list planning', () => {
  test('no filter: the ByTime index, newest first, default limit 20', () => {
    expect(planList({ functionName: 'etl' })).toMatchObject({
      indexName: 'ByTime',
      keyConditionExpression: '#pk = :pk',
      expressionAttributeNames: { '#pk': 'functionName' },
      expressionAttributeValues: { ':pk': 'etl' },
      scanIndexForward: false,
      limit: 20,
      filtered: false,
    });
    expect(planList({ functionName: 'etl' }).filterExpression).toBeUndefined();
  });

  test('one status: an exact Query of the ByStatus index', () => {
    expect(planList({ functionName: 'etl', status: ['Failed'] })).toMatchObject({
      indexName: 'ByStatus',
      keyConditionExpression: '#pk = :pk',
      expressionAttributeNames: { '#pk': 'statusKey' },
      expressionAttributeValues: { ':pk': 'etl#Failed' },
      filtered: false,
    });
  });

  test('several statuses: ByTime with a status filter', () => {
    const plan = planList({ functionName: 'etl', status: ['Failed', 'Stopped', 'Failed'] });
    expect(plan).toMatchObject({
      indexName: 'ByTime',
      filterExpression: '#status IN (:status0, :status1)',
      expressionAttributeNames: { '#pk': 'functionName', '#status': 'status' },
      expressionAttributeValues: { ':pk': 'etl', ':status0': 'Failed', ':status1': 'Stopped' },
      filtered: true,
    });
  });

  test('time window: BETWEEN on listKey, the upper bound covering every id started at until', () => {
    const plan = planList({ functionName: 'etl', since: SINCE, until: UNTIL });
    expect(plan.keyConditionExpression).toBe('#pk = :pk AND #listKey BETWEEN :from AND :to');
    expect(plan.expressionAttributeNames).toEqual({ '#pk': 'functionName', '#listKey': 'listKey' });
    expect(plan.expressionAttributeValues).toEqual({
      ':pk': 'etl',
      ':from': '2026-11-25T10:00:00.000Z',
      ':to': `2026-11-25T11:00:00.000Z${LIST_KEY_HIGH}`,
    });
    expect(LIST_KEY_HIGH).toBe('#\uffff');
  });

  test('since alone and until alone: one-sided key conditions', () => {
    expect(planList({ functionName: 'etl', since: SINCE }).keyConditionExpression).toBe('#pk = :pk AND #listKey >= :from');
    expect(planList({ functionName: 'etl', until: UNTIL }).keyConditionExpression).toBe('#pk = :pk AND #listKey <= :to');
  });

  test('prefix, one status, time window and ascending order together', () => {
    const plan = planList({
      functionName: 'etl',
      status: ['Running'],
      prefix: 'job_',
      since: SINCE,
      until: UNTIL,
      order: 'asc',
      limit: 5,
    });
    expect(plan).toMatchObject({
      indexName: 'ByStatus',
      keyConditionExpression: '#pk = :pk AND #listKey BETWEEN :from AND :to',
      filterExpression: 'begins_with(#taskId, :prefix)',
      scanIndexForward: true,
      limit: 5,
      filtered: true,
    });
    expect(plan.expressionAttributeValues).toMatchObject({ ':pk': 'etl#Running', ':prefix': 'job_' });
  });

  test('several statuses and a prefix: both filters', () => {
    expect(planList({ functionName: 'etl', status: ['Failed', 'Expired'], prefix: 'a' }).filterExpression).toBe(
      '#status IN (:status0, :status1) AND begins_with(#taskId, :prefix)',
    );
  });

  test('fails if limit is out of range', () => {
    expect(() => planList({ functionName: 'etl', limit: 0 })).toThrow('limit must be an integer between 1 and 100 inclusive (given 0)');
    expect(() => planList({ functionName: 'etl', limit: 101 })).toThrow('limit must be an integer between 1 and 100 inclusive (given 101)');
  });

  test('fails if a status is unknown, listing the allowed ones', () => {
    expect(() => planList({ functionName: 'etl', status: ['Done' as never] })).toThrow(
      /^unknown status 'Done'; allowed: Enqueued, Dequeued/,
    );
  });

  test('fails if the token belongs to another function', () => {
    const token = encodeNextToken({ functionName: 'other', listKey: '2026-11-25T10:00:00.000Z#a', taskId: 'a' });
    expect(() => planList({ functionName: 'etl', nextToken: token })).toThrow(
      'nextToken is not valid for this list request (it belongs to another list); pass the nextToken of the previous page of the same request',
    );
  });

  test('fails if the token lies outside the time window', () => {
    const token = encodeNextToken({ functionName: 'etl', listKey: '2026-11-25T09:00:00.000Z#a', taskId: 'a' });
    expect(() => planList({ functionName: 'etl', since: SINCE, nextToken: token })).toThrow(/outside the time window/);
  });
});

describe('list', () => {
  test('queries ByTime with one more item than the limit and returns a next token after the last task', async () => {
    mocks.ddb.on(QueryCommand).resolves({ Items: [item(3), item(2), item(1)] });
    noEconomyTasks();

    const result = ok(await handler({ op: 'list', functionName: 'etl', limit: 2 }));

    expect(result.tasks.map((t) => t.taskId)).toEqual(['job_3', 'job_2']);
    expect(nonEconomyQueries()).toHaveLength(1);
    // Whether economy tasks from before a switch back are in the window: one key at most.
    expect(mocks.ddb).toHaveReceivedCommandWith(QueryCommand, {
      IndexName: 'ByTimeEconomy',
      Limit: 1,
      ExpressionAttributeValues: expect.objectContaining({ ':pk': 'etl' }),
    });
    expect(mocks.ddb).toHaveReceivedCommandWith(QueryCommand, {
      TableName: TABLE_NAME,
      IndexName: 'ByTime',
      KeyConditionExpression: '#pk = :pk',
      ExpressionAttributeValues: { ':pk': 'etl' },
      ScanIndexForward: false,
      Limit: 3,
    });
    expect(decode(result.nextToken ?? '')).toEqual({
      functionName: 'etl',
      listKey: '2026-11-25T10:02:00.000Z#job_2',
      taskId: 'job_2',
    });
  });

  test('returns no next token when the last page is shorter than the limit', async () => {
    mocks.ddb.on(QueryCommand).resolves({ Items: [item(1)] });
    noEconomyTasks();

    const result = ok(await handler({ op: 'list', functionName: 'etl', limit: 2 }));

    expect(result.tasks).toHaveLength(1);
    expect(result.nextToken).toBeUndefined();
  });

  test('pages through filtered results until the limit has matches', async () => {
    mocks.ddb
      .on(QueryCommand, { IndexName: 'ByTime' })
      .resolvesOnce({ Items: [item(5, 'Failed')], LastEvaluatedKey: { functionName: 'etl', listKey: 'k1', taskId: 'x1' } })
      .resolvesOnce({ Items: [], LastEvaluatedKey: { functionName: 'etl', listKey: 'k2', taskId: 'x2' } })
      .resolvesOnce({
        Items: [item(3, 'Failed'), item(2, 'Failed')],
        LastEvaluatedKey: { functionName: 'etl', listKey: 'k3', taskId: 'x3' },
      });
    noEconomyTasks();

    const result = ok(await handler({ op: 'list', functionName: 'etl', status: ['Failed', 'Expired'], limit: 2 }));

    expect(result.tasks.map((t) => t.taskId)).toEqual(['job_5', 'job_3']);
    expect(nonEconomyQueries()).toHaveLength(3);
    expect(nonEconomyQueries()[1].args[0].input).toMatchObject({
      ExclusiveStartKey: { functionName: 'etl', listKey: 'k1', taskId: 'x1' },
      FilterExpression: '#status IN (:status0, :status1)',
      Limit: 100,
    });
    expect(decode(result.nextToken ?? '')).toEqual({
      functionName: 'etl',
      listKey: '2026-11-25T10:03:00.000Z#job_3',
      taskId: 'job_3',
    });
  });

  test('round-trips the next token as the start key of the next Query (ByStatus key)', async () => {
    mocks.ddb
      .on(QueryCommand, { IndexName: 'ByStatus' })
      .resolvesOnce({ Items: [item(3, 'Failed'), item(2, 'Failed')] })
      .resolvesOnce({ Items: [item(1, 'Failed')] });
    noEconomyTasks();

    const first = ok(await handler({ op: 'list', functionName: 'etl', status: ['Failed'], limit: 1, order: 'asc' }));
    const second = ok(
      await handler({ op: 'list', functionName: 'etl', status: ['Failed'], limit: 1, order: 'asc', nextToken: first.nextToken }),
    );

    expect(second.tasks.map((t) => t.taskId)).toEqual(['job_1']);
    expect(nonEconomyQueries()[1].args[0].input).toMatchObject({
      IndexName: 'ByStatus',
      ScanIndexForward: true,
      ExpressionAttributeValues: { ':pk': 'etl#Failed' },
      ExclusiveStartKey: {
        statusKey: 'etl#Failed',
        listKey: '2026-11-25T10:03:00.000Z#job_3',
        functionName: 'etl',
        taskId: 'job_3',
      },
    });
  });

  test('fails if the next token is not one of ours', async () => {
    const error = failed(await handler({ op: 'list', functionName: 'etl', nextToken: 'not a token!' }));

    expect(error.name).toBe('InvalidArgument');
    expect(error.message).toBe(
      'nextToken is not valid for this list request (not base64url); pass the nextToken of the previous page of the same request',
    );
    expect(mocks.ddb).not.toHaveReceivedCommand(QueryCommand);
  });

  test('fails if the next token lacks the key of the index', async () => {
    const token = encodeNextToken({ functionName: 'etl', listKey: 'x#y', taskId: 'y' });
    const error = failed(await handler({ op: 'list', functionName: 'etl', status: ['Failed'], nextToken: token }));

    expect(error.message).toMatch(/^nextToken is not valid for this list request \('statusKey' is missing\)/);
  });

  test('fails if DynamoDB rejects the start key', async () => {
    mocks.ddb.on(QueryCommand).rejects(awsError('ValidationException', 'The provided starting key is invalid'));
    const token = encodeNextToken({ functionName: 'etl', listKey: 'x#y', taskId: 'y' });

    const error = failed(await handler({ op: 'list', functionName: 'etl', nextToken: token }));

    expect(error).toEqual({
      name: 'InvalidArgument',
      message: 'nextToken is not valid for this list request (DynamoDB rejected the start key)',
    });
  });

  test('fails if limit is 101', async () => {
    const error = failed(await handler({ op: 'list', functionName: 'etl', limit: 101 }));

    expect(error).toEqual({
      name: 'InvalidArgument',
      message: 'limit must be an integer between 1 and 100 inclusive (given 101)',
    });
  });

  test('fails if since is after until', async () => {
    const error = failed(await handler({ op: 'list', functionName: 'etl', since: UNTIL, until: SINCE }));

    expect(error.message).toBe('since (2026-11-25T11:00:00.000Z) is after until (2026-11-25T10:00:00.000Z)');
  });

  test('fails if the function is unknown', async () => {
    const error = failed(await handler({ op: 'list', functionName: 'nope' }));

    expect(error.name).toBe('TaskFunctionNotFound');
  });
});
