/**
 * How a Lambda task function's tasks are orchestrated (docs/design.md, "Orchestration modes"):
 * `standard` — the function's Standard state machine; `economy` — Lambda's own asynchronous
 * invocation of the task function, whose handler is wrapped (`taskHandler`) to write `Running`
 * and the ending, with the service's finalizer as its `onFailure` destination. The bounds a mode
 * can honour, the economy item's attributes and index, the invocation envelope and the owner id
 * live here so that the constructs, TaskApi, the finalizer, the wrapper and the local runtime
 * share them.
 */
import { ASYNC_CONFIG_BOUNDS, type NumericBound } from './config';
import type { DestinationTarget } from './destination';
import { TABLE } from './table';
import type { TaskSource } from './trigger';

export const ORCHESTRATIONS = ['standard', 'economy'] as const;
export type Orchestration = (typeof ORCHESTRATIONS)[number];

export function isOrchestration(value: unknown): value is Orchestration {
  return typeof value === 'string' && (ORCHESTRATIONS as readonly string[]).includes(value);
}

/** A bound with its default. */
export type DefaultedBound = NumericBound & { readonly default: number };

/** What a mode can honour of the async config: the bounds a prop is checked against at synth. */
export interface ModeBounds {
  /** The mode's name in messages. */
  readonly mode: string;
  readonly maxRetryAttempts: DefaultedBound;
  readonly maxEventAgeSeconds: DefaultedBound;
  /** Why the retry and age bounds are what they are (appended to the message). */
  readonly because: string;
  /** Props the mode cannot honour at all, each with what to do instead. */
  readonly unsupported: Readonly<Record<string, string>>;
}

export const STANDARD_BOUNDS: ModeBounds = {
  mode: 'standard orchestration',
  maxRetryAttempts: ASYNC_CONFIG_BOUNDS.maxRetryAttempts,
  maxEventAgeSeconds: ASYNC_CONFIG_BOUNDS.maxEventAgeSeconds,
  because: 'the state machine',
  unsupported: {},
};

/**
 * Lambda asynchronous invocation: `MaximumRetryAttempts` 0–2 and `MaximumEventAgeInSeconds`
 * 60–21,600 (AWS::Lambda::EventInvokeConfig); its backoff (about 1 then 2 minutes) is fixed.
 */
export const ECONOMY_BOUNDS: ModeBounds = {
  mode: 'economy orchestration',
  maxRetryAttempts: { min: 0, max: 2, default: 2 },
  maxEventAgeSeconds: { min: 60, max: 6 * 3600, default: 6 * 3600 },
  because: "Lambda's asynchronous invocation (EventInvokeConfig)",
  unsupported: {
    retryDelay: "Lambda's asynchronous retries use its own backoff (about 1 minute, then 2)",
    retryBackoffRate: "Lambda's asynchronous retries use its own backoff (about 1 minute, then 2)",
    maxConcurrency: "there is no slot state; set the Lambda function's reserved concurrency instead",
    slotPollInterval: 'there is no slot state (it goes with maxConcurrency)',
  },
};

export const MODE_BOUNDS: Readonly<Record<Orchestration, ModeBounds>> = {
  standard: STANDARD_BOUNDS,
  economy: ECONOMY_BOUNDS,
};

/** Economy items' attributes: they are in the sparse keys-only index ByTimeEconomy only. */
export const ECONOMY_ITEM = {
  /** `orchestration` on the item: 'economy' (absent on standard items). */
  orchestration: 'orchestration',
  /** Partition key of ByTimeEconomy: the function name. */
  economyKey: 'economyKey',
  /** Sort key of ByTimeEconomy: `<startedAt>#<taskId>`, as `listKey`. */
  economyListKey: 'economyListKey',
} as const;

/** The sparse KEYS_ONLY index of economy items. */
export const ECONOMY_INDEX = {
  name: 'ByTimeEconomy',
  partitionKey: ECONOMY_ITEM.economyKey,
  sortKey: ECONOMY_ITEM.economyListKey,
  /** What DynamoDB returns as LastEvaluatedKey of a Query on it. */
  keyAttributes: [ECONOMY_ITEM.economyKey, ECONOMY_ITEM.economyListKey, TABLE.partitionKey, TABLE.sortKey],
} as const;

/** Prefix of an economy task's owner id (stored as `executionArn`, so every owner condition applies). */
export const ECONOMY_OWNER_PREFIX = 'lambda-event:';

/** The owner id of one economy attempt series: `lambda-event:<function ARN>:<requestId>`. */
export function economyInvocationId(functionArn: string, requestId: string): string {
  return `${ECONOMY_OWNER_PREFIX}${functionArn}:${requestId}`;
}

export function isEconomyOwner(owner: string | undefined): boolean {
  return owner?.startsWith(ECONOMY_OWNER_PREFIX) ?? false;
}

/** Key of the envelope in the event an economy task's function receives. */
export const ENVELOPE_KEY = 'asynctask';

/** What the wrapper needs to write the task's statuses and send its success record. */
export interface TaskEnvelope {
  readonly v: 1;
  readonly functionName: string;
  readonly taskId: string;
  readonly requestId: string;
  /** The owner id (`economyInvocationId`), the item's `executionArn`. */
  readonly owner: string;
  readonly table: string;
  /** ISO-8601: maxEventAge from the start (Lambda enforces it too). */
  readonly deadline: string;
  readonly maxRetryAttempts: number;
  /** The service's retention: the record expires this long after its end. */
  readonly retentionSeconds: number;
  /** The finalizer, which the wrapper hands a stop or a permanent failure to. */
  readonly finalizerArn: string;
  /** ARN of the task function: the records' `functionArn`. */
  readonly functionArn: string;
  readonly onSuccess?: DestinationTarget;
  readonly source: TaskSource | null;
}

/** The event an economy task's function receives: the envelope and the task's payload. */
export interface EnvelopedEvent {
  readonly [ENVELOPE_KEY]: TaskEnvelope;
  readonly payload: unknown;
}

export function isEnvelopedEvent(event: unknown): event is EnvelopedEvent {
  if (event === null || typeof event !== 'object') return false;
  const envelope = (event as Record<string, unknown>)[ENVELOPE_KEY] as Partial<TaskEnvelope> | undefined;
  return envelope !== null && typeof envelope === 'object' && envelope.v === 1 && typeof envelope.taskId === 'string';
}

/**
 * The latest an economy task can still end by itself: its last attempt may start up to
 * maxEventAge after the start and run for the timeout; past that (and a margin for Lambda's
 * destination delivery) the reconciler ends it.
 */
export const ECONOMY_ENDING_MARGIN_SECONDS = 5 * 60;

export function economyEndBoundMs(startedAtMs: number, maxEventAgeSeconds: number, timeoutSeconds: number): number {
  return startedAtMs + (maxEventAgeSeconds + timeoutSeconds + ECONOMY_ENDING_MARGIN_SECONDS) * 1000;
}

/** The reconciler's schedule (its EventBridge rule, lib/async-task-service.ts), in minutes. */
export const RECONCILER_INTERVAL_MINUTES = 5;
/** Passes of the reconciler that look at each economy task once its bound has passed (a pass may fail or be late). */
export const ECONOMY_SWEEP_WINDOW_MS = 15 * 60_000;
/** How many passes read each economy task (window / the schedule's interval): part of its cost. */
export const ECONOMY_RECONCILER_READS_PER_TASK = ECONOMY_SWEEP_WINDOW_MS / (RECONCILER_INTERVAL_MINUTES * 60_000);
/** Read units of one such read: an eventually consistent BatchGetItem of an item up to 4 KB. */
export const ECONOMY_RECONCILER_READ_UNITS = 0.5;

/** Lambda's longest timeout (15 minutes): no economy attempt runs longer. */
export const LAMBDA_MAX_TIMEOUT_SECONDS = 900;

/**
 * How long after its start an economy task of a function can still be active: the function's
 * own bound while it is in economy mode; after a switch back to standard (its economy tasks from
 * before finish under their mode), the widest bound an economy task of it could have had.
 */
export function economyActiveBoundMs(descriptor: {
  readonly orchestration?: Orchestration;
  readonly maxEventAgeSeconds: number;
  readonly timeoutSeconds: number;
}): number {
  return descriptor.orchestration === 'economy'
    ? economyEndBoundMs(0, descriptor.maxEventAgeSeconds, descriptor.timeoutSeconds)
    : economyEndBoundMs(0, ECONOMY_BOUNDS.maxEventAgeSeconds.max, Math.min(descriptor.timeoutSeconds, LAMBDA_MAX_TIMEOUT_SECONDS));
}
