/**
 * The task store (lambda/lib/task-store.ts), the one owner of the tasks table: the exact
 * requests it sends — key, consistent read, conditional writes with prior statuses from
 * TRANSITIONS, the owning-execution check, ALL_OLD on a failed condition and the read-back
 * where DynamoDB does not return the item — and the delivery claim, raced on the fake table.
 */
import { DeleteCommand, GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { TaskStore } from '../../../lambda/lib/task-store';
import { DELIVERY_CLAIM, TransitionNotAllowedError } from '../../../lambda/lib/task-writes';
import { TRANSITIONS, TaskStatus } from '../../../lambda/model';
import { FakeTable } from './fake-table';
import { arnFor, conditionFailed, ETL, mocks, resetMocks, TABLE_NAME, taskItem } from './fixtures';

const NOW = Date.parse('2026-11-25T12:30:00.000Z');
const REF = { functionName: 'etl', taskId: 'job_1' };
const store = new TaskStore(TABLE_NAME);

beforeEach(() => resetMocks());

describe('reads', () => {
  test('the key is (functionName, taskId) and every read is consistent', async () => {
    mocks.ddb.on(GetCommand).resolves({ Item: taskItem() });

    expect(store.key(REF)).toEqual({ functionName: 'etl', taskId: 'job_1' });
    expect(await store.read(REF)).toMatchObject({ status: 'Running' });
    expect(mocks.ddb).toHaveReceivedCommandWith(GetCommand, { TableName: TABLE_NAME, Key: REF, ConsistentRead: true });
  });

  test('slot holders come from the function’s #concurrency item', async () => {
    mocks.ddb.on(GetCommand).resolves({ Item: { holders: new Set(['a', 'b']) } });

    expect(await store.slotHolders('transcode')).toEqual(['a', 'b']);
    expect(mocks.ddb).toHaveReceivedCommandWith(GetCommand, {
      Key: { functionName: 'transcode', taskId: '#concurrency' },
      ConsistentRead: true,
    });
  });

  test('queryStatus: ByStatus index, accepted before a time, optional filter, newest first', async () => {
    mocks.ddb.on(QueryCommand).resolves({ Items: [taskItem()], LastEvaluatedKey: { k: 1 } });

    const page = await store.queryStatus('etl', TaskStatus.Failed, {
      before: '2026-11-25T12:29:00.000Z',
      filter: { expression: '#destinationStatus = :pending', values: { ':pending': 'Pending' } },
      newestFirst: true,
      limit: 100,
    });

    expect(page).toMatchObject({ items: [{ taskId: 'job_1' }], lastKey: { k: 1 } });
    expect(mocks.ddb).toHaveReceivedCommandWith(QueryCommand, {
      TableName: TABLE_NAME,
      IndexName: 'ByStatus',
      KeyConditionExpression: '#statusKey = :statusKey AND #listKey < :before',
      FilterExpression: '#destinationStatus = :pending',
      ExpressionAttributeNames: { '#statusKey': 'statusKey', '#listKey': 'listKey', '#destinationStatus': 'destinationStatus' },
      ExpressionAttributeValues: { ':statusKey': 'etl#Failed', ':before': '2026-11-25T12:29:00.000Z', ':pending': 'Pending' },
      ScanIndexForward: false,
      Limit: 100,
    });
  });
});

describe('create (submit)', () => {
  test('a conditional put that an unexpired task with the same id blocks', async () => {
    mocks.ddb.on(PutCommand).resolves({});
    const item = taskItem({ status: 'Enqueued' });

    expect(await store.create(item, NOW)).toEqual({ ok: true, item });
    expect(mocks.ddb).toHaveReceivedCommandWith(PutCommand, {
      TableName: TABLE_NAME,
      Item: item,
      ConditionExpression: 'attribute_not_exists(#taskId) OR #expiresAt < :nowSeconds',
      ExpressionAttributeNames: { '#taskId': 'taskId', '#expiresAt': 'expiresAt' },
      ExpressionAttributeValues: { ':nowSeconds': NOW / 1000 },
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    });
  });

  test('a duplicate returns the existing item from the failure, without reading', async () => {
    const existing = taskItem({ status: 'Succeeded' });
    mocks.ddb.on(PutCommand).rejects(conditionFailed(existing));

    expect(await store.create(taskItem({ status: 'Enqueued' }), NOW)).toEqual({ ok: false, current: existing });
    expect(mocks.ddb).not.toHaveReceivedCommand(GetCommand);
  });

  test('a duplicate on a DynamoDB that returns no item (dynalite) is read back consistently', async () => {
    const existing = taskItem({ status: 'Running' });
    mocks.ddb.on(PutCommand).rejects(conditionFailed());
    mocks.ddb.on(GetCommand).resolves({ Item: existing });

    expect(await store.create(taskItem({ status: 'Enqueued' }), NOW)).toEqual({ ok: false, current: existing });
    expect(mocks.ddb).toHaveReceivedCommandWith(GetCommand, { Key: REF, ConsistentRead: true });
  });

  test('other errors are thrown', async () => {
    mocks.ddb.on(PutCommand).rejects(new Error('throttled'));

    await expect(store.create(taskItem(), NOW)).rejects.toThrow('throttled');
  });
});

describe('transition', () => {
  test('prior statuses default to TRANSITIONS[to]; statusKey and the event come with the status', async () => {
    mocks.ddb.on(UpdateCommand).resolves({ Attributes: taskItem({ status: 'Stopping' }) });

    const result = await store.transition(REF, TaskStatus.Stopping, {
      event: { status: 'Stopping', at: '2026-11-25T12:30:00.000Z', detail: 'stop requested' },
    });

    expect(result).toMatchObject({ ok: true, item: { status: 'Stopping' } });
    expect(mocks.ddb.commandCalls(UpdateCommand)[0].args[0].input).toEqual({
      TableName: TABLE_NAME,
      Key: REF,
      UpdateExpression: 'SET #status = :status, #statusKey = :statusKey, #events = list_append(if_not_exists(#events, :noEvents), :event)',
      ConditionExpression: `#status IN (${TRANSITIONS.Stopping.map((_, i) => `:from${i}`).join(', ')})`,
      ExpressionAttributeNames: { '#status': 'status', '#statusKey': 'statusKey', '#events': 'events' },
      ExpressionAttributeValues: {
        ...Object.fromEntries(TRANSITIONS.Stopping.map((s, i) => [`:from${i}`, s])),
        ':status': 'Stopping',
        ':statusKey': 'etl#Stopping',
        ':noEvents': [],
        ':event': [{ status: 'Stopping', at: '2026-11-25T12:30:00.000Z', detail: 'stop requested' }],
      },
      ReturnValues: 'ALL_NEW',
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    });
  });

  test('a narrower prior status, the owning execution, sets and removes', async () => {
    mocks.ddb.on(UpdateCommand).resolves({ Attributes: taskItem({ status: 'Failed' }) });

    await store.transition(REF, TaskStatus.Failed, {
      from: ['Running'],
      owner: arnFor(ETL),
      set: { endedAt: '2026-11-25T12:30:00.000Z' },
      remove: ['progress'],
    });

    expect(mocks.ddb).toHaveReceivedCommandWith(UpdateCommand, {
      UpdateExpression: 'SET #status = :status, #statusKey = :statusKey, #endedAt = :endedAt REMOVE #progress',
      ConditionExpression: '#executionArn = :owner AND #status IN (:from0)',
      ExpressionAttributeValues: {
        ':owner': arnFor(ETL),
        ':from0': 'Running',
        ':status': 'Failed',
        ':statusKey': 'etl#Failed',
        ':endedAt': '2026-11-25T12:30:00.000Z',
      },
    });
  });

  test('owner null: only a task whose record names no execution', async () => {
    mocks.ddb.on(UpdateCommand).resolves({ Attributes: taskItem({ status: 'Stopped' }) });

    await store.transition(REF, TaskStatus.Stopped, { from: ['Stopping'], owner: null });

    expect(mocks.ddb).toHaveReceivedCommandWith(UpdateCommand, {
      ConditionExpression: 'attribute_not_exists(#executionArn) AND #status IN (:from0)',
    });
  });

  test('a refused write returns the task as it is (ALL_OLD), or reads it back (dynalite)', async () => {
    const succeeded = taskItem({ status: 'Succeeded' });
    mocks.ddb.on(UpdateCommand).rejectsOnce(conditionFailed(succeeded)).rejectsOnce(conditionFailed());
    mocks.ddb.on(GetCommand).resolves({});

    expect(await store.transition(REF, TaskStatus.Stopping)).toEqual({ ok: false, current: succeeded });
    expect(await store.transition(REF, TaskStatus.Stopping)).toEqual({ ok: false, current: undefined });
    expect(mocks.ddb).toHaveReceivedCommandTimes(GetCommand, 1);
  });

  test('fails if the prior statuses are outside TRANSITIONS, naming what is allowed, before any request', async () => {
    await expect(store.transition(REF, TaskStatus.Succeeded, { from: ['Stopping'] })).rejects.toThrow(
      new TransitionNotAllowedError('a write of Succeeded may only start from Running (TRANSITIONS.Succeeded); given Stopping'),
    );
    await expect(store.transition(REF, TaskStatus.Stopped, { from: [] })).rejects.toThrow(/given no status$/);
    expect(mocks.ddb).not.toHaveReceivedCommand(UpdateCommand);
  });
});

describe('delivery claim', () => {
  const claimOf = (at: string) => `${at}#00000000-0000-4000-8000-000000000000`;

  test('claim: Pending, unclaimed or claimed before staleBefore, owned', async () => {
    mocks.ddb.on(UpdateCommand).resolves({ Attributes: taskItem({ status: 'Failed' }) });

    await store.claimDelivery(REF, { owner: arnFor(ETL), token: 't1', staleBefore: '2026-11-25T12:20:00.000Z' });

    expect(mocks.ddb).toHaveReceivedCommandWith(UpdateCommand, {
      Key: REF,
      UpdateExpression: `SET #${DELIVERY_CLAIM} = :${DELIVERY_CLAIM}`,
      ConditionExpression: `#executionArn = :owner AND #destinationStatus = :pending AND (attribute_not_exists(#${DELIVERY_CLAIM}) OR #${DELIVERY_CLAIM} < :staleBefore)`,
      ExpressionAttributeValues: {
        ':owner': arnFor(ETL),
        ':pending': 'Pending',
        ':staleBefore': '2026-11-25T12:20:00.000Z',
        [`:${DELIVERY_CLAIM}`]: 't1',
      },
    });
  });

  test('record: only the holder of the claim records the outcome, and the claim goes', async () => {
    mocks.ddb.on(UpdateCommand).resolves({ Attributes: taskItem({ status: 'Failed', destinationStatus: 'Succeeded' }) });

    await store.recordDelivery(REF, { owner: arnFor(ETL), token: 't1', outcome: 'Succeeded' });

    expect(mocks.ddb).toHaveReceivedCommandWith(UpdateCommand, {
      UpdateExpression: `SET #destinationStatus = :destinationStatus REMOVE #${DELIVERY_CLAIM}`,
      ConditionExpression: `#executionArn = :owner AND #destinationStatus = :pending AND #${DELIVERY_CLAIM} = :claim`,
      ExpressionAttributeValues: { ':owner': arnFor(ETL), ':pending': 'Pending', ':claim': 't1', ':destinationStatus': 'Succeeded' },
    });
  });

  test('on the table: a fresh claim keeps others out, a stale one is taken over, the overtaken holder cannot record', async () => {
    const table = new FakeTable();
    const owner = arnFor(ETL);
    table.put({ ...taskItem({ status: 'Failed', destinationStatus: 'Pending' }), [DELIVERY_CLAIM]: claimOf('2026-11-25T12:29:00.000Z') });

    const fresh = await store.claimDelivery(REF, {
      owner,
      token: claimOf('2026-11-25T12:30:00.000Z'),
      staleBefore: '2026-11-25T12:20:00.000Z',
    });
    expect(fresh).toMatchObject({ ok: false, current: { [DELIVERY_CLAIM]: claimOf('2026-11-25T12:29:00.000Z') } });

    const takeover = claimOf('2026-11-25T12:40:00.000Z');
    expect(await store.claimDelivery(REF, { owner, token: takeover, staleBefore: '2026-11-25T12:30:00.000Z' })).toMatchObject({ ok: true });
    expect(await store.recordDelivery(REF, { owner, token: claimOf('2026-11-25T12:29:00.000Z'), outcome: 'Succeeded' })).toMatchObject({
      ok: false,
    });
    expect(await store.recordDelivery(REF, { owner, token: takeover, outcome: 'Succeeded' })).toMatchObject({ ok: true });
    const stored = table.get('etl', 'job_1');
    expect(stored?.destinationStatus).toBe('Succeeded');
    expect(stored?.[DELIVERY_CLAIM]).toBeUndefined();
    // Recorded: nothing is Pending, so nobody can claim it again.
    expect(
      await store.claimDelivery(REF, { owner, token: claimOf('2026-11-25T13:00:00.000Z'), staleBefore: '2026-11-25T12:59:00.000Z' }),
    ).toMatchObject({
      ok: false,
    });
  });
});

describe('undo and slots', () => {
  test('deleteIfRequest: only while the task carries the request id', async () => {
    mocks.ddb.on(DeleteCommand).resolvesOnce({}).rejectsOnce(conditionFailed());

    expect(await store.deleteIfRequest(REF, 'r1')).toBe(true);
    expect(await store.deleteIfRequest(REF, 'r1')).toBe(false);
    expect(mocks.ddb).toHaveReceivedCommandWith(DeleteCommand, {
      TableName: TABLE_NAME,
      Key: REF,
      ConditionExpression: '#requestId = :requestId',
      ExpressionAttributeValues: { ':requestId': 'r1' },
    });
  });

  test('restoreIfRequest: puts the old item back while the task carries the new request id', async () => {
    mocks.ddb.on(PutCommand).resolves({});
    const old = taskItem({ status: 'Failed' });

    expect(await store.restoreIfRequest(old, 'r2')).toBe(true);
    expect(mocks.ddb).toHaveReceivedCommandWith(PutCommand, {
      Item: old,
      ConditionExpression: '#requestId = :requestId',
      ExpressionAttributeValues: { ':requestId': 'r2' },
    });
  });

  test('releaseSlot: DELETE from holders if held; false when it was not', async () => {
    mocks.ddb.on(UpdateCommand).resolvesOnce({}).rejectsOnce(conditionFailed());

    expect(await store.releaseSlot('transcode', 'arn:x')).toBe(true);
    expect(await store.releaseSlot('transcode', 'arn:x')).toBe(false);
    expect(mocks.ddb).toHaveReceivedCommandWith(UpdateCommand, {
      Key: { functionName: 'transcode', taskId: '#concurrency' },
      UpdateExpression: 'DELETE #holders :me',
      ConditionExpression: 'contains(#holders, :meS)',
      ExpressionAttributeValues: { ':me': new Set(['arn:x']), ':meS': 'arn:x' },
    });
  });
});
