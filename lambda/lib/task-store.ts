/**
 * The one owner of the tasks table for the service's Lambdas (TaskApi, finalizer, reconciler):
 * every read and write of a task, a function's concurrency slots and the list queries goes
 * through here, as Powertools idempotency's BasePersistenceLayer owns its records. It builds the
 * key (model `tableKey`), reads consistently, makes every status write a conditional update whose
 * prior statuses come from TRANSITIONS (lambda/lib/task-writes.ts, shared with the state
 * machine definitions), and hands back the existing item when a condition fails — from the
 * failure itself (ALL_OLD) or, where DynamoDB does not return it (dynalite), a consistent read.
 */
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { BatchGetCommand, DeleteCommand, GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import {
  type DestinationStatus,
  ECONOMY_INDEX,
  ITEM_ATTRIBUTE,
  type KafkaRangeMarker,
  slotsKey,
  statusKey,
  TABLE,
  type TaskItem,
  type TaskSource,
  type TaskStatus,
  tableKey,
} from '../model';
import { aws } from './env';
import type { ListKeyRange, ListPlan } from './list-plan';
import {
  buildUpdate,
  type Condition,
  DELIVERY_CLAIM,
  deliveryUnclaimed,
  deliveryOutcomeUpdate,
  namesOf,
  ownedBy,
  slotReleaseUpdate,
  transitionUpdate,
  type UpdateParts,
} from './task-writes';

export interface TaskRef {
  readonly functionName: string;
  readonly taskId: string;
}

/** One entry of the stored `events` list. */
export interface StoredEvent {
  readonly status: TaskStatus;
  readonly at: string;
  readonly detail?: string;
  /** Who caused it (model TaskEvent `caller`): only on the events a caller's own request writes. */
  readonly caller?: string;
}

/** An entry of the `events` list; `caller` for the events a request writes (submit, stop, retry, a trigger's create). */
export function storedEvent(status: TaskStatus, at: string, detail?: string, caller?: string): StoredEvent {
  return {
    status,
    at,
    ...(detail !== undefined ? { detail } : {}),
    ...(caller !== undefined ? { caller } : {}),
  };
}

/**
 * A conditional write's outcome: the item as written (or as it was, for ALL_OLD), or, when the
 * condition failed, the item as it is now (undefined: there is no such task).
 */
export type WriteResult = { readonly ok: true; readonly item: TaskItem } | { readonly ok: false; readonly current: TaskItem | undefined };

export function isConditionalCheckFailed(error: unknown): boolean {
  return (error as { name?: string } | undefined)?.name === 'ConditionalCheckFailedException';
}

/**
 * The item a failed conditional write returned (`ReturnValuesOnConditionCheckFailure: ALL_OLD`).
 * The document client does not convert exception fields, so it arrives as AttributeValues.
 */
function itemOfConditionFailure(error: unknown): TaskItem | undefined {
  const item = (error as { Item?: Record<string, AttributeValue> } | undefined)?.Item;
  if (!item || Object.keys(item).length === 0) return undefined;
  return unmarshall(item) as TaskItem;
}

const plain = (text: string): unknown => text;

export interface TransitionOptions {
  /** Narrower prior statuses (the status just read). @default TRANSITIONS[to] */
  readonly from?: readonly TaskStatus[];
  /** Execution ARN that must own the task; null: none recorded. @default - any owner */
  readonly owner?: string | null;
  readonly set?: Readonly<Record<string, unknown>>;
  readonly remove?: readonly string[];
  readonly event?: StoredEvent;
  /** What a successful write returns. @default 'ALL_NEW' */
  readonly returnValues?: 'ALL_NEW' | 'ALL_OLD';
  /**
   * The item layout the write leaves: `economy` sets no `statusKey` (economy items are in no
   * ByStatus). @default - the ref's own (`orchestration` of the item passed as ref), else standard
   */
  readonly layout?: 'standard' | 'economy';
}

export interface IndexPage {
  readonly items: TaskItem[];
  readonly lastKey?: Record<string, unknown>;
}

/** One page of a Query over a range of list keys. */
export interface WindowPage {
  readonly range: ListKeyRange;
  readonly ascending: boolean;
  readonly limit: number;
  readonly startKey?: Record<string, unknown>;
}

/** A Query's answer as a page of tasks. */
function indexPage(result: { Items?: Array<Record<string, unknown>>; LastEvaluatedKey?: Record<string, unknown> }): IndexPage {
  return { items: (result.Items ?? []) as unknown as TaskItem[], ...(result.LastEvaluatedKey ? { lastKey: result.LastEvaluatedKey } : {}) };
}

/** The attributes of a task that its duration is computed from. */
export type TaskTimes = Pick<TaskItem, 'status' | 'startedAt' | 'endedAt'>;

export class TaskStore {
  public constructor(public readonly table: string) {}

  public key(ref: TaskRef): Record<string, string> {
    return tableKey(ref.functionName, ref.taskId);
  }

  /** The task as stored now (consistent read); undefined when there is none. */
  public async read(ref: TaskRef): Promise<TaskItem | undefined> {
    const result = await aws.ddb().send(new GetCommand({ TableName: this.table, Key: this.key(ref), ConsistentRead: true }));
    return result.Item as TaskItem | undefined;
  }

  /**
   * Writes a new task unless its id is taken: an item with this key blocks it until its
   * retention (`expiresAt`) has passed, even before DynamoDB's TTL deleted it.
   */
  public async create(item: TaskItem, nowMs: number): Promise<WriteResult> {
    return this.conditional(item, () =>
      aws
        .ddb()
        .send(
          new PutCommand({
            TableName: this.table,
            Item: item,
            ConditionExpression: `attribute_not_exists(#${TABLE.sortKey}) OR #${TABLE.ttlAttribute} < :nowSeconds`,
            ExpressionAttributeNames: namesOf(`#${TABLE.sortKey} #${TABLE.ttlAttribute}`),
            ExpressionAttributeValues: { ':nowSeconds': Math.floor(nowMs / 1000) },
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }),
        )
        .then(() => item),
    );
  }

  /**
   * Writes a trigger's range marker (records that were all quarantined) under the same condition
   * as a task: a taken id — a task or marker of a concurrent trigger — is `{ok: false, current}`.
   */
  public async createMarker(marker: KafkaRangeMarker, nowMs: number): Promise<WriteResult> {
    return this.create(marker as unknown as TaskItem, nowMs);
  }

  /**
   * The item with the greatest task id in `[fromId, toId]` of a function (a consistent read of
   * the table itself, newest id first, one item), with only its id, lineage and marker flag: for
   * a Kafka trigger, where a topic partition's tasks end (lambda/lib/trigger-kafka.ts).
   */
  public async lastInIdRange(
    functionName: string,
    fromId: string,
    toId: string,
  ): Promise<{ readonly taskId: string; readonly source?: TaskSource; readonly marker?: string } | undefined> {
    const keyCondition = `#${TABLE.partitionKey} = :functionName AND #${TABLE.sortKey} BETWEEN :fromId AND :toId`;
    const projection = `#${TABLE.sortKey}, #${ITEM_ATTRIBUTE.source}, #marker`;
    const result = await aws.ddb().send(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: keyCondition,
        ProjectionExpression: projection,
        ExpressionAttributeNames: namesOf(keyCondition, projection),
        ExpressionAttributeValues: { ':functionName': functionName, ':fromId': fromId, ':toId': toId },
        ScanIndexForward: false,
        Limit: 1,
        ConsistentRead: true,
      }),
    );
    const item = result.Items?.[0];
    return item as { taskId: string; source?: TaskSource; marker?: string } | undefined;
  }

  /**
   * Moves the task to `to`: a conditional update from `TRANSITIONS[to]` (or the narrower `from`),
   * owned by `owner` when given, setting `statusKey` with the status and appending `event`.
   */
  public async transition(ref: TaskRef, to: TaskStatus, options: TransitionOptions = {}): Promise<WriteResult> {
    const parts = transitionUpdate<unknown>(
      {
        to,
        ...(options.from ? { from: options.from } : {}),
        ...(options.owner !== undefined ? { owner: options.owner } : {}),
        // Economy items are in ByTimeEconomy only (docs/design.md, "Orchestration modes").
        ...((options.layout ?? ((ref as Partial<TaskItem>).orchestration === 'economy' ? 'economy' : 'standard')) === 'economy'
          ? {}
          : { statusKey: statusKey(ref.functionName, to) }),
        ...(options.set ? { set: options.set } : {}),
        ...(options.remove ? { remove: options.remove } : {}),
        ...(options.event ? { appendEvent: { empty: [], entries: [options.event] } } : {}),
      },
      plain,
    );
    return this.update(ref, parts, options.returnValues ?? 'ALL_NEW');
  }

  /**
   * Claims the delivery of a terminal task's record: `destinationStatus` must be Pending and
   * unclaimed, or claimed before `staleBefore` (a claimant that died). Only the claimant sends.
   */
  public async claimDelivery(ref: TaskRef, claim: { owner: string | null; token: string; staleBefore: string }): Promise<WriteResult> {
    const parts = buildUpdate<unknown>({
      set: { [DELIVERY_CLAIM]: claim.token },
      conditions: [ownedBy<unknown>(claim.owner), deliveryUnclaimed<unknown>(claim.staleBefore, plain)],
    });
    return this.update(ref, parts, 'ALL_NEW');
  }

  /** Records the outcome of a claimed delivery; refused when the claim is no longer `token`. */
  public async recordDelivery(
    ref: TaskRef,
    delivery: { owner: string | null; token: string; outcome: DestinationStatus },
  ): Promise<WriteResult> {
    const parts = deliveryOutcomeUpdate<unknown>({ owner: delivery.owner, claim: delivery.token, outcome: delivery.outcome }, plain);
    return this.update(ref, parts, 'ALL_NEW');
  }

  /** Removes the task if it still carries `requestId` (undo of a submit whose execution did not start). */
  public async deleteIfRequest(ref: TaskRef, requestId: string): Promise<boolean> {
    try {
      await aws.ddb().send(new DeleteCommand({ TableName: this.table, Key: this.key(ref), ...sameRequest(requestId) }));
      return true;
    } catch (error) {
      if (isConditionalCheckFailed(error)) return false;
      throw error;
    }
  }

  /** Puts `item` back if the stored task still carries `requestId` (undo of a retry whose execution did not start). */
  public async restoreIfRequest(item: TaskItem, requestId: string): Promise<boolean> {
    try {
      await aws.ddb().send(new PutCommand({ TableName: this.table, Item: { ...item, ...this.key(item) }, ...sameRequest(requestId) }));
      return true;
    } catch (error) {
      if (isConditionalCheckFailed(error)) return false;
      throw error;
    }
  }

  /** Execution ARNs holding a concurrency slot of the function. */
  public async slotHolders(functionName: string): Promise<string[]> {
    const result = await aws
      .ddb()
      .send(new GetCommand({ TableName: this.table, Key: slotsKey(functionName, (text) => text), ConsistentRead: true }));
    const holders = result.Item?.[TABLE.slotHolders] as Iterable<string> | undefined;
    return holders ? [...holders] : [];
  }

  /** Removes an execution from the function's slot holders; false when it held none. */
  public async releaseSlot(functionName: string, executionArn: string): Promise<boolean> {
    try {
      await aws.ddb().send(
        new UpdateCommand({
          TableName: this.table,
          Key: slotsKey(functionName, (text) => text),
          ...slotReleaseUpdate<unknown>(new Set([executionArn]), executionArn),
        }),
      );
      return true;
    } catch (error) {
      if (isConditionalCheckFailed(error)) return false;
      throw error;
    }
  }

  /** One page of a planned `list` Query (lambda/lib/list-plan.ts). */
  public async queryList(plan: ListPlan, startKey: Record<string, unknown> | undefined, limit: number): Promise<IndexPage> {
    const result = await aws.ddb().send(
      new QueryCommand({
        TableName: this.table,
        IndexName: plan.indexName,
        KeyConditionExpression: plan.keyConditionExpression,
        ...(plan.filterExpression ? { FilterExpression: plan.filterExpression } : {}),
        ExpressionAttributeNames: plan.expressionAttributeNames,
        ExpressionAttributeValues: plan.expressionAttributeValues,
        ScanIndexForward: plan.scanIndexForward,
        Limit: limit,
        ...(startKey ? { ExclusiveStartKey: startKey } : {}),
      }),
    );
    return indexPage(result);
  }

  /**
   * One page of a function's tasks in `status` accepted before `before` (ByStatus index), with
   * an optional filter; oldest first unless `newestFirst`.
   */
  public async queryStatus(
    functionName: string,
    status: TaskStatus,
    options: {
      readonly before: string;
      readonly filter?: Condition<unknown>;
      readonly newestFirst?: boolean;
      readonly limit: number;
      readonly startKey?: Record<string, unknown>;
    },
  ): Promise<IndexPage> {
    const keyCondition = `#${TABLE.statusKey} = :statusKey AND #${TABLE.listKey} < :before`;
    const result = await aws.ddb().send(
      new QueryCommand({
        TableName: this.table,
        IndexName: TABLE.byStatusIndex,
        KeyConditionExpression: keyCondition,
        ...(options.filter ? { FilterExpression: options.filter.expression } : {}),
        ExpressionAttributeNames: namesOf(keyCondition, options.filter?.expression ?? ''),
        ExpressionAttributeValues: { ':statusKey': statusKey(functionName, status), ':before': options.before, ...options.filter?.values },
        ...(options.newestFirst ? { ScanIndexForward: false } : {}),
        Limit: options.limit,
        ...(options.startKey ? { ExclusiveStartKey: options.startKey } : {}),
      }),
    );
    return indexPage(result);
  }

  /**
   * One page of a function's standard tasks with list keys in `range` (inclusive), in list-key
   * order: ByStatus when `status` is given, else ByTime. No filter: the caller filters the page.
   */
  public async queryWindow(functionName: string, options: WindowPage & { readonly status?: TaskStatus }): Promise<IndexPage> {
    const byStatus = options.status !== undefined;
    const keyCondition = `#pk = :pk AND #${TABLE.listKey} BETWEEN :from AND :to`;
    const result = await aws.ddb().send(
      new QueryCommand({
        TableName: this.table,
        IndexName: byStatus ? TABLE.byStatusIndex : TABLE.byTimeIndex,
        KeyConditionExpression: keyCondition,
        ExpressionAttributeNames: { ...namesOf(keyCondition), '#pk': byStatus ? TABLE.statusKey : TABLE.partitionKey },
        ExpressionAttributeValues: {
          ':pk': options.status !== undefined ? statusKey(functionName, options.status) : functionName,
          ':from': options.range.from,
          ':to': options.range.to,
        },
        ScanIndexForward: options.ascending,
        Limit: options.limit,
        ...(options.startKey ? { ExclusiveStartKey: options.startKey } : {}),
      }),
    );
    return indexPage(result);
  }

  /**
   * One page of a function's economy tasks with list keys in `range` (inclusive), in list-key
   * order: the keys from the sparse keys-only ByTimeEconomy index, then the items themselves
   * (`readMany`, eventually consistent; an item deleted in between is left out).
   */
  public async queryEconomyWindow(functionName: string, options: WindowPage): Promise<IndexPage> {
    const page = await this.economyKeys(functionName, options);
    const items = await this.readMany(page.keys);
    return { items, ...(page.lastKey ? { lastKey: page.lastKey } : {}) };
  }

  /** Whether a function has economy tasks with list keys in `range` (a keys-only Query of at most one key). */
  public async hasEconomyTasks(functionName: string, range: ListKeyRange): Promise<boolean> {
    return (await this.economyKeys(functionName, { range, ascending: true, limit: 1 })).keys.length > 0;
  }

  /** One page of a function's ByTimeEconomy keys with list keys in `range`, in list-key order. */
  private async economyKeys(functionName: string, options: WindowPage): Promise<{ keys: TaskRef[]; lastKey?: Record<string, unknown> }> {
    const result = await aws.ddb().send(
      new QueryCommand({
        TableName: this.table,
        IndexName: ECONOMY_INDEX.name,
        KeyConditionExpression: '#pk = :pk AND #sk BETWEEN :from AND :to',
        ExpressionAttributeNames: { '#pk': ECONOMY_INDEX.partitionKey, '#sk': ECONOMY_INDEX.sortKey },
        ExpressionAttributeValues: { ':pk': functionName, ':from': options.range.from, ':to': options.range.to },
        ScanIndexForward: options.ascending,
        Limit: options.limit,
        ...(options.startKey ? { ExclusiveStartKey: options.startKey } : {}),
      }),
    );
    return { keys: (result.Items ?? []) as TaskRef[], ...(result.LastEvaluatedKey ? { lastKey: result.LastEvaluatedKey } : {}) };
  }

  /** BatchGetItem of tasks (eventually consistent), in the refs' order; missing ones are left out. */
  public async readMany(refs: readonly TaskRef[]): Promise<TaskItem[]> {
    const found = new Map<string, TaskItem>();
    const id = (k: { functionName?: unknown; taskId?: unknown }): string => `${String(k.functionName)}\u0000${String(k.taskId)}`;
    for (let i = 0; i < refs.length; i += 100) {
      let pending: Array<Record<string, unknown>> = refs.slice(i, i + 100).map((ref) => this.key(ref));
      for (let round = 0; pending.length > 0 && round < 5; round++) {
        const result = await aws.ddb().send(new BatchGetCommand({ RequestItems: { [this.table]: { Keys: pending } } }));
        for (const item of (result.Responses?.[this.table] ?? []) as TaskItem[]) found.set(id(item), item);
        pending = (result.UnprocessedKeys?.[this.table]?.Keys ?? []) as Array<Record<string, unknown>>;
      }
    }
    return refs.map((ref) => found.get(id(ref))).filter((item): item is TaskItem => item !== undefined);
  }

  /**
   * How many tasks of a function are in `status` now (ByStatus index, `Select: 'COUNT'`, every
   * page: DynamoDB counts at most 1 MB of items a page), only those started within `window` when
   * given.
   */
  public async countByStatus(functionName: string, status: TaskStatus, window?: ListKeyRange): Promise<number> {
    const keyCondition = `#${TABLE.statusKey} = :statusKey${window ? ` AND #${TABLE.listKey} BETWEEN :from AND :to` : ''}`;
    let count = 0;
    let startKey: Record<string, unknown> | undefined;
    do {
      const result = await aws.ddb().send(
        new QueryCommand({
          TableName: this.table,
          IndexName: TABLE.byStatusIndex,
          KeyConditionExpression: keyCondition,
          ExpressionAttributeNames: namesOf(keyCondition),
          ExpressionAttributeValues: {
            ':statusKey': statusKey(functionName, status),
            ...(window ? { ':from': window.from, ':to': window.to } : {}),
          },
          Select: 'COUNT',
          ...(startKey ? { ExclusiveStartKey: startKey } : {}),
        }),
      );
      count += result.Count ?? 0;
      startKey = result.LastEvaluatedKey;
    } while (startKey);
    return count;
  }

  /**
   * Status, start and end of a function's tasks started within `window` whose status is one of
   * `statuses`, newest first (ByTime index, only those attributes read back), at most `max`.
   * `more`: reading stopped at `max` with items left to read (which the filter may still drop).
   */
  public async taskTimes(
    functionName: string,
    window: ListKeyRange,
    statuses: readonly TaskStatus[],
    max: number,
  ): Promise<{ readonly items: TaskTimes[]; readonly more: boolean }> {
    const keyCondition = `#${TABLE.partitionKey} = :functionName AND #${TABLE.listKey} BETWEEN :from AND :to`;
    const placeholders = statuses.map((_, i) => `:status${i}`);
    const filter = `#${ITEM_ATTRIBUTE.status} IN (${placeholders.join(', ')})`;
    const projection = `#${ITEM_ATTRIBUTE.status}, #${ITEM_ATTRIBUTE.startedAt}, #${ITEM_ATTRIBUTE.endedAt}`;
    const items: TaskTimes[] = [];
    let startKey: Record<string, unknown> | undefined;
    for (;;) {
      const result = await aws.ddb().send(
        new QueryCommand({
          TableName: this.table,
          IndexName: TABLE.byTimeIndex,
          KeyConditionExpression: keyCondition,
          FilterExpression: filter,
          ProjectionExpression: projection,
          ExpressionAttributeNames: namesOf(keyCondition, filter, projection),
          ExpressionAttributeValues: {
            ':functionName': functionName,
            ':from': window.from,
            ':to': window.to,
            ...Object.fromEntries(statuses.map((status, i) => [placeholders[i], status])),
          },
          ScanIndexForward: false,
          ...(startKey ? { ExclusiveStartKey: startKey } : {}),
        }),
      );
      const page = (result.Items ?? []) as TaskTimes[];
      const room = max - items.length;
      items.push(...page.slice(0, room));
      startKey = result.LastEvaluatedKey;
      if (items.length >= max) return { items, more: page.length > room || startKey !== undefined };
      if (!startKey) return { items, more: false };
    }
  }

  private async update(ref: TaskRef, parts: UpdateParts<unknown>, returnValues: 'ALL_NEW' | 'ALL_OLD'): Promise<WriteResult> {
    return this.conditional(ref, async () => {
      const result = await aws.ddb().send(
        new UpdateCommand({
          TableName: this.table,
          Key: this.key(ref),
          ...parts,
          ReturnValues: returnValues,
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      if (!result.Attributes) {
        throw new Error(
          `UpdateItem of task '${ref.taskId}' of function '${ref.functionName}' returned no item (ReturnValues ${returnValues})`,
        );
      }
      return result.Attributes as TaskItem;
    });
  }

  /** Runs a conditional write; a failed condition becomes `{ok: false, current}`. */
  private async conditional(ref: TaskRef, write: () => Promise<TaskItem>): Promise<WriteResult> {
    try {
      return { ok: true, item: await write() };
    } catch (error) {
      if (!isConditionalCheckFailed(error)) throw error;
      return { ok: false, current: itemOfConditionFailure(error) ?? (await this.read(ref)) };
    }
  }
}

/** Condition: the item still carries this request's id (nobody has moved it since). */
function sameRequest(requestId: string) {
  return {
    ConditionExpression: '#requestId = :requestId',
    ExpressionAttributeNames: { '#requestId': 'requestId' },
    ExpressionAttributeValues: { ':requestId': requestId },
  };
}
