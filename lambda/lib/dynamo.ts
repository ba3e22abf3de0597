/** DynamoDB helpers shared by the handlers: condition failures, stored-event appends, old items. */
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { TaskItem, TaskStatus } from '../model';

export function isConditionalCheckFailed(error: unknown): boolean {
  return (error as { name?: string } | undefined)?.name === 'ConditionalCheckFailedException';
}

/**
 * The item a failed conditional write returned (`ReturnValuesOnConditionCheckFailure: ALL_OLD`).
 * The document client does not convert exception fields, so it arrives as AttributeValues.
 */
export function itemOfConditionFailure(error: unknown): TaskItem | undefined {
  const item = (error as { Item?: Record<string, AttributeValue> } | undefined)?.Item;
  if (!item || Object.keys(item).length === 0) return undefined;
  return unmarshall(item) as TaskItem;
}

/** One entry of the stored `events` list. */
export interface StoredEvent {
  readonly status: TaskStatus;
  readonly at: string;
  readonly detail?: string;
}

export function storedEvent(status: TaskStatus, at: string, detail?: string): StoredEvent {
  return detail === undefined ? { status, at } : { status, at, detail };
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

export interface UpdateSpec {
  /** Attributes to set, by name. */
  readonly set?: Readonly<Record<string, unknown>>;
  /** Appended to `events` (created when absent). */
  readonly event?: StoredEvent;
  readonly remove?: readonly string[];
  /** Condition using `#attribute` names and its own `:values`. */
  readonly condition?: string;
  readonly conditionValues?: Readonly<Record<string, unknown>>;
}

export interface UpdateParts {
  readonly UpdateExpression: string;
  readonly ConditionExpression?: string;
  readonly ExpressionAttributeNames: Record<string, string>;
  readonly ExpressionAttributeValues?: Record<string, unknown>;
}

/** Builds an UpdateItem's expressions; set values are `:<attribute>`, so condition values need other names. */
export function buildUpdate(spec: UpdateSpec): UpdateParts {
  const values: Record<string, unknown> = { ...spec.conditionValues };
  const sets = Object.entries(spec.set ?? {}).map(([attribute, value]) => {
    values[`:${attribute}`] = value;
    return `#${attribute} = :${attribute}`;
  });
  if (spec.event) {
    values[':noEvents'] = [];
    values[':event'] = [spec.event];
    sets.push('#events = list_append(if_not_exists(#events, :noEvents), :event)');
  }
  const parts = [
    ...(sets.length > 0 ? [`SET ${sets.join(', ')}`] : []),
    ...(spec.remove && spec.remove.length > 0 ? [`REMOVE ${spec.remove.map((a) => `#${a}`).join(', ')}`] : []),
  ];
  const updateExpression = parts.join(' ');
  return {
    UpdateExpression: updateExpression,
    ...(spec.condition ? { ConditionExpression: spec.condition } : {}),
    ExpressionAttributeNames: namesOf(updateExpression, spec.condition ?? ''),
    ...(Object.keys(values).length > 0 ? { ExpressionAttributeValues: values } : {}),
  };
}

/** `#status IN (:from0, :from1, ...)` with its values. */
export function statusIn(statuses: readonly TaskStatus[], prefix = ':from'): { expression: string; values: Record<string, string> } {
  const values: Record<string, string> = {};
  statuses.forEach((status, i) => {
    values[`${prefix}${i}`] = status;
  });
  return { expression: `#status IN (${Object.keys(values).join(', ')})`, values };
}
