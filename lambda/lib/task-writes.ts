/**
 * The expressions of every tasks-table write, built once for both writers: the task store
 * (lambda/lib/task-store.ts: plain values through the DynamoDB document client) and the state
 * machine definitions (lib/state-machine.ts: DynamoDB attribute values holding JSONPath). Pure —
 * no SDK, no I/O — so the CDK code imports it too.
 *
 * A status write is always conditional on its prior statuses, which come from `TRANSITIONS`
 * (a caller may narrow them, never widen them), and usually on the owning execution. Builders
 * are generic over the value type `V`; `literal` turns a constant (a status name) into a `V`.
 */
import { DestinationStatus, ITEM_ATTRIBUTE } from '../model/record';
import { type TaskStatus, TRANSITIONS } from '../model/statuses';
import { TABLE } from '../model/table';

/**
 * Attribute of a terminal task while its record is being delivered: `deliveryClaim(at, requestId)`.
 * Only the writer of the claim sends — or Lambda's retry of the same request (`isClaimOf`); any
 * other claimant takes it over only when it is older than DELIVERY_CLAIM_STALE_MS (its holder
 * died). Removed when the outcome is recorded.
 */
export const DELIVERY_CLAIM = ITEM_ATTRIBUTE.deliveryClaim;

/** A delivery claim, `<ISO time>#<Lambda request id>`: its time first, so claims compare by age as strings. */
export function deliveryClaim(at: string, requestId: string): string {
  return `${at}${TABLE.separator}${requestId}`;
}

/**
 * Whether `claim` was written by the Lambda request `requestId`: Lambda retries an asynchronous
 * invocation that died under the same request id, and the retry finishes the delivery it claimed.
 */
export function isClaimOf(claim: string | undefined, requestId: string): claim is string {
  return claim?.endsWith(`${TABLE.separator}${requestId}`) ?? false;
}

/**
 * Age after which a delivery claim counts as abandoned. Longer than the longest Lambda timeout
 * of the service's functions (the reconciler's 5 minutes), so a live claimant is never overtaken.
 */
export const DELIVERY_CLAIM_STALE_MS = 10 * 60_000;

/** A condition (or part of one) with the values it names. */
export interface Condition<V> {
  readonly expression: string;
  readonly values: Readonly<Record<string, V>>;
}

/** The parts of an UpdateItem request that carry the write: expressions, names and values. */
export interface UpdateParts<V> {
  readonly UpdateExpression: string;
  readonly ConditionExpression?: string;
  readonly ExpressionAttributeNames: Record<string, string>;
  readonly ExpressionAttributeValues?: Record<string, V>;
}

/** Thrown for a write the transition table does not allow: a programming error, never a race. */
export class TransitionNotAllowedError extends Error {
  public override readonly name = 'TransitionNotAllowedError';
}

/**
 * Expression attribute names for every `#name` an expression mentions (`#status` → `status`):
 * every attribute goes through an alias, so no stored name can collide with a reserved word.
 */
export function namesOf(...expressions: readonly string[]): Record<string, string> {
  const names: Record<string, string> = {};
  for (const expression of expressions) {
    for (const match of expression.matchAll(/#([A-Za-z_][A-Za-z0-9_]*)/g)) names[match[0]] = match[1];
  }
  return names;
}

/**
 * The prior statuses a write of `to` may start from: `TRANSITIONS[to]`, or `from` when given,
 * which must be a non-empty subset of it.
 */
export function priorStatuses(to: TaskStatus, from?: readonly TaskStatus[]): readonly TaskStatus[] {
  const allowed = TRANSITIONS[to];
  if (from === undefined) return allowed;
  const foreign = from.filter((status) => !allowed.includes(status));
  if (from.length === 0 || foreign.length > 0) {
    throw new TransitionNotAllowedError(
      `a write of ${to} may only start from ${allowed.join(', ')} (TRANSITIONS.${to}); given ${from.length === 0 ? 'no status' : from.join(', ')}`,
    );
  }
  return from;
}

/** `#status IN (:from0, :from1, ...)`. */
export function statusIn<V>(statuses: readonly TaskStatus[], literal: (text: string) => V, prefix = ':from'): Condition<V> {
  const values: Record<string, V> = {};
  statuses.forEach((status, i) => {
    values[`${prefix}${i}`] = literal(status);
  });
  return { expression: `#status IN (${Object.keys(values).join(', ')})`, values };
}

/**
 * The task still belongs to the execution `owner` (its ARN); `null` for a task whose record
 * names no execution (one was never started).
 */
export function ownedBy<V>(owner: V | null): Condition<V> {
  return owner === null
    ? { expression: 'attribute_not_exists(#executionArn)', values: {} }
    : { expression: '#executionArn = :owner', values: { ':owner': owner } };
}

export interface UpdateSpec<V> {
  /** Attributes to SET, by name; each value goes in as `:<name>`. */
  readonly set?: Readonly<Record<string, V>>;
  readonly remove?: readonly string[];
  /** Numbers to ADD to attributes (counters, created at 0 when absent); each value goes in as `:add_<name>`. */
  readonly add?: Readonly<Record<string, V>>;
  /** An entry appended to `events` (created when absent): the empty list and a one-entry list. */
  readonly appendEvent?: { readonly empty: V; readonly entries: V };
  /** Joined with AND. Values must not be named like a set attribute (`:<name>`). */
  readonly conditions?: readonly Condition<V>[];
}

/** An UpdateItem's expressions, names and values. */
export function buildUpdate<V>(spec: UpdateSpec<V>): UpdateParts<V> {
  const values: Record<string, V> = {};
  const conditions = spec.conditions ?? [];
  for (const condition of conditions) Object.assign(values, condition.values);
  const sets = Object.entries(spec.set ?? {}).map(([attribute, value]) => {
    values[`:${attribute}`] = value;
    return `#${attribute} = :${attribute}`;
  });
  if (spec.appendEvent) {
    values[':noEvents'] = spec.appendEvent.empty;
    values[':event'] = spec.appendEvent.entries;
    sets.push('#events = list_append(if_not_exists(#events, :noEvents), :event)');
  }
  const adds = Object.entries(spec.add ?? {}).map(([attribute, value]) => {
    values[`:add_${attribute}`] = value;
    return `#${attribute} :add_${attribute}`;
  });
  const parts = [
    ...(sets.length > 0 ? [`SET ${sets.join(', ')}`] : []),
    ...(spec.remove && spec.remove.length > 0 ? [`REMOVE ${spec.remove.map((a) => `#${a}`).join(', ')}`] : []),
    ...(adds.length > 0 ? [`ADD ${adds.join(', ')}`] : []),
  ];
  const updateExpression = parts.join(' ');
  const conditionExpression = conditions.map((c) => c.expression).join(' AND ');
  return {
    UpdateExpression: updateExpression,
    ...(conditionExpression ? { ConditionExpression: conditionExpression } : {}),
    ExpressionAttributeNames: namesOf(updateExpression, conditionExpression),
    ...(Object.keys(values).length > 0 ? { ExpressionAttributeValues: values } : {}),
  };
}

export interface TransitionSpec<V> {
  readonly to: TaskStatus;
  /** Narrower prior statuses than `TRANSITIONS[to]` (the status just read). @default TRANSITIONS[to] */
  readonly from?: readonly TaskStatus[];
  /**
   * The execution that must own the task (`null`: no execution recorded).
   * @default - any owner: the user's own operations (stop, retry) act on whichever attempt runs
   */
  readonly owner?: V | null;
  /** `statusKey` value for `to` (`<functionName>#<to>`); absent for economy items, which are in no ByStatus. */
  readonly statusKey?: V;
  readonly set?: Readonly<Record<string, V>>;
  readonly remove?: readonly string[];
  readonly add?: UpdateSpec<V>['add'];
  readonly appendEvent?: UpdateSpec<V>['appendEvent'];
  /** Further conditions (a deadline), ANDed after owner and prior status. */
  readonly conditions?: readonly Condition<V>[];
}

/**
 * A status write: SET status and statusKey (+ `set`), conditional on the owner and the prior
 * statuses from TRANSITIONS. Throws TransitionNotAllowedError for `from` outside TRANSITIONS[to].
 */
export function transitionUpdate<V>(spec: TransitionSpec<V>, literal: (text: string) => V): UpdateParts<V> {
  const from = priorStatuses(spec.to, spec.from);
  return buildUpdate<V>({
    set: { status: literal(spec.to), ...(spec.statusKey !== undefined ? { [TABLE.statusKey]: spec.statusKey } : {}), ...spec.set },
    ...(spec.remove ? { remove: spec.remove } : {}),
    ...(spec.add ? { add: spec.add } : {}),
    ...(spec.appendEvent ? { appendEvent: spec.appendEvent } : {}),
    conditions: [...(spec.owner !== undefined ? [ownedBy(spec.owner)] : []), statusIn(from, literal), ...(spec.conditions ?? [])],
  });
}

/**
 * Records how the delivery of a terminal task's destination record went (`destinationStatus`),
 * conditional on the owner and on `when` (the delivery still being the caller's to record).
 */
export function destinationUpdate<V>(spec: {
  readonly destinationStatus: V;
  readonly owner: V | null;
  readonly when: readonly Condition<V>[];
  readonly remove?: readonly string[];
}): UpdateParts<V> {
  return buildUpdate<V>({
    set: { destinationStatus: spec.destinationStatus },
    ...(spec.remove ? { remove: spec.remove } : {}),
    conditions: [ownedBy(spec.owner), ...spec.when],
  });
}

/**
 * Records how a claimed delivery went: `destinationStatus` set and the claim removed, conditional
 * on the owner and on the claim still being `claim` (a claimant overtaken as stale cannot overwrite
 * the outcome of the one that took over).
 */
export function deliveryOutcomeUpdate<V>(
  spec: { readonly owner: V | null; readonly claim: V; readonly outcome: V },
  literal: (text: string) => V,
): UpdateParts<V> {
  return destinationUpdate<V>({
    destinationStatus: spec.outcome,
    owner: spec.owner,
    remove: [DELIVERY_CLAIM],
    when: [
      {
        expression: `#destinationStatus = :pending AND #${DELIVERY_CLAIM} = :claim`,
        values: { ':pending': literal(DestinationStatus.Pending), ':claim': spec.claim },
      },
    ],
  });
}

/**
 * The delivery of a terminal task is Pending and nobody live holds it: unclaimed (items written
 * before claims existed) or claimed before `staleBefore`.
 */
export function deliveryUnclaimed<V>(staleBefore: V, literal: (text: string) => V): Condition<V> {
  return {
    expression: `#destinationStatus = :pending AND (attribute_not_exists(#${DELIVERY_CLAIM}) OR #${DELIVERY_CLAIM} < :staleBefore)`,
    values: { ':pending': literal(DestinationStatus.Pending), ':staleBefore': staleBefore },
  };
}

/** `#status = :terminal`: the task is (still) in this status. */
export function statusIs<V>(status: TaskStatus, literal: (text: string) => V): Condition<V> {
  return { expression: '#status = :terminal', values: { ':terminal': literal(status) } };
}

/**
 * Take a concurrency slot: ADD the execution to the holders while fewer than `max` hold one (or
 * it already does, so a retried write is harmless). `holderSet` is a one-element string set.
 */
export function slotAcquireUpdate<V>(holderSet: V, holder: V, max: V): UpdateParts<V> {
  const holders = `#${TABLE.slotHolders}`;
  return {
    UpdateExpression: `ADD ${holders} :me`,
    ConditionExpression: `attribute_not_exists(${holders}) OR size(${holders}) < :max OR contains(${holders}, :meS)`,
    ExpressionAttributeNames: { [holders]: TABLE.slotHolders },
    ExpressionAttributeValues: { ':me': holderSet, ':meS': holder, ':max': max },
  };
}

/**
 * Give a slot back: DELETE the execution from the holders; with `holder`, only if it holds one
 * (so the caller learns whether it did).
 */
export function slotReleaseUpdate<V>(holderSet: V, holder?: V): UpdateParts<V> {
  const holders = `#${TABLE.slotHolders}`;
  return {
    UpdateExpression: `DELETE ${holders} :me`,
    ...(holder !== undefined ? { ConditionExpression: `contains(${holders}, :meS)` } : {}),
    ExpressionAttributeNames: { [holders]: TABLE.slotHolders },
    ExpressionAttributeValues: { ':me': holderSet, ...(holder !== undefined ? { ':meS': holder } : {}) },
  };
}
