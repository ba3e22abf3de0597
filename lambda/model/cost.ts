/**
 * The cost estimate of one task (docs/cost.md, "The estimate on the record"): what the task's
 * path through the state machine, the TaskApi, the finalizer and the runner actually did, read
 * from the record's events, priced at list prices for the region. Pure: no reads, no clock
 * unless the caller passes `now` (a live task is priced "so far").
 *
 * One source of truth for the numbers: the price table below is what docs/cost.md cites, and
 * the state lists below are what test/constructs/cost.test.ts checks against the synthesized
 * definitions, so the estimate and the machine cannot drift apart. The write-unit arithmetic at
 * the end (`indexedWriteUnits`: one write with its index copies, from the item before and after)
 * is what that test and bench/local.ts price economy orchestration with.
 *
 * Economy tasks (the item's `orchestration`, lambda/model/orchestration.ts) take no state
 * transition: Lambda's asynchronous invocation runs their attempts and the wrapper writes their
 * statuses, one WRU per started KB each (ECONOMY_INDEX_WRITE_UNITS).
 */
import type { DestinationTarget, DestinationType } from './destination';
import { ExecutionError } from './execution';
import { ECONOMY_RECONCILER_READ_UNITS, ECONOMY_RECONCILER_READS_PER_TASK, type Orchestration } from './orchestration';
import type { TaskComputeDescriptor, TaskFunctionKind } from './registry';
import { isTerminal, TaskStatus } from './statuses';

/** When the list prices below were read. */
export const PRICE_DATE = '2025-06';

export interface FargatePrices {
  readonly vcpuHour: number;
  readonly gbHour: number;
}

/** USD per unit (not per million): one row per region. */
export interface RegionPrices {
  /** Step Functions Standard, per state transition. */
  readonly transition: number;
  /** DynamoDB on demand, per write / read request unit. */
  readonly writeUnit: number;
  readonly readUnit: number;
  /** Lambda, per request and per GB-second by architecture. */
  readonly lambdaRequest: number;
  readonly lambdaGbSecond: { readonly x86_64: number; readonly arm64: number };
  /** SQS standard, per request; SNS per publish; EventBridge per custom event. */
  readonly sqsRequest: number;
  readonly snsPublish: number;
  readonly eventBridgeEvent: number;
  /** API Gateway REST API, per request (the first 333 million a month). */
  readonly apiGatewayRequest: number;
  /** S3 Standard, per PUT and per GET. */
  readonly s3Put: number;
  readonly s3Get: number;
  /** Fargate Linux, per vCPU-hour and GB-hour by architecture. */
  readonly fargate: { readonly x86_64: FargatePrices; readonly arm64: FargatePrices };
}

const M = 1e-6;

const US_EAST_1: RegionPrices = {
  transition: 25 * M,
  writeUnit: 0.625 * M,
  readUnit: 0.125 * M,
  lambdaRequest: 0.2 * M,
  lambdaGbSecond: { x86_64: 0.0000166667, arm64: 0.0000133334 },
  sqsRequest: 0.4 * M,
  snsPublish: 0.5 * M,
  eventBridgeEvent: 1 * M,
  apiGatewayRequest: 3.5 * M,
  s3Put: 0.005 / 1000,
  s3Get: 0.0004 / 1000,
  fargate: { x86_64: { vcpuHour: 0.04048, gbHour: 0.004445 }, arm64: { vcpuHour: 0.03238, gbHour: 0.00356 } },
};

/**
 * List prices (free tiers ignored). Regions without a row are priced as us-east-1, with a note.
 * us-east-2 and us-west-2 have us-east-1's prices for every service here; eu-west-1 and
 * ap-southeast-1 differ in DynamoDB (and Singapore in Fargate).
 */
export const PRICES: Readonly<Record<string, RegionPrices>> = {
  'us-east-1': US_EAST_1,
  'us-east-2': US_EAST_1,
  'us-west-2': US_EAST_1,
  'eu-west-1': { ...US_EAST_1, writeUnit: 0.7068 * M, readUnit: 0.1415 * M },
  'ap-southeast-1': {
    ...US_EAST_1,
    writeUnit: 0.7125 * M,
    readUnit: 0.1425 * M,
    fargate: { x86_64: { vcpuHour: 0.05056, gbHour: 0.00553 }, arm64: { vcpuHour: 0.04045, gbHour: 0.00442 } },
  },
};

/** The region whose prices stand in for a region without a row. */
export const DEFAULT_PRICE_REGION = 'us-east-1';

/**
 * States each step of a task's path enters (lib/state-machine.ts STATE names); each entered state
 * is one billed transition. test/constructs/cost.test.ts checks these against the synthesized
 * definitions.
 */
export const PATH_STATES = {
  /** Success at the first attempt, without `onSuccess` and `maxConcurrency`. */
  success: { lambda: ['MarkRunning', 'Run', 'MarkSucceeded'], container: ['Run', 'LoadResult', 'MarkSucceeded'] },
  /** With `onSuccess`, after MarkSucceeded. */
  deliver: ['DeliverSuccess'],
  /** A failed send of the success record. */
  undelivered: ['MarkUndelivered'],
  /** Each attempt that starts (the Lambda kind marks Running first). */
  attempt: { lambda: ['MarkRunning', 'Run'], container: ['Run'] },
  /** Each retry, between the failed attempt and the next one. */
  retry: ['CanRetry', 'MarkRetrying', 'NextAttempt', 'Backoff'],
  /** Container kind: how a failed Run is classified before CanRetry (a TaskFailed with the ECS task in its Cause). */
  containerFailure: ['IsExitReport', 'ReadExitCode', 'IsPermanent'],
  /** `maxConcurrency`: the slot, before the first attempt, and its release after success. */
  slot: ['AcquireSlot', 'MarkDequeued'],
  /** No free slot until the deadline (polls between are not on the record). */
  slotWait: ['AcquireSlot', 'WaitForSlot', 'CheckAge', 'Expired'],
  release: ['ReleaseSlot'],
} as const;

/**
 * Assumed size of a task item besides its payload, result and error: keys, ids, the execution
 * ARN, times and a few events. DynamoDB bills one WRU per started KB of the item, per copy.
 */
export const ITEM_OVERHEAD_BYTES = 512;
/**
 * Write units per write of an item under 1 KB, counting the copies in both list indexes (they
 * project ALL attributes): a put is table + ByTime + ByStatus; a status change rewrites ByStatus
 * (delete + put); a write that changes no index key rewrites each copy once; `retry` changes both
 * index keys (statusKey and listKey).
 */
export const WRITE_UNITS = { put: 3, statusChange: 4, sameKeys: 3, bothKeysChange: 5 } as const;
/**
 * Economy items (docs/cost.md, "Economy mode: the study") are in neither list index, only in the
 * sparse KEYS_ONLY ByTimeEconomy, whose keys the put (and a retry) set and no status write
 * changes: every write is the table's 1 WRU per started KB, plus these index units — the put's
 * keys-only copy (1), a retry's move of its sort key (delete + put, 2), a status write none.
 */
export const ECONOMY_INDEX_WRITE_UNITS = { put: 1, statusWrite: 0, retry: 2 } as const;
/** A concurrency slot write: the slots item is in no index. */
export const SLOT_WRITE_UNITS = 1;
/** The container helper's eventually consistent GetItem at start-up. */
export const HELPER_READ_UNITS = 0.5;
/** The service's Lambdas (TaskApi, finalizer): 512 MB arm64 (lib/async-task-service.ts); assumed duration per call. */
export const SERVICE_LAMBDA = { memoryMiB: 512, architecture: 'arm64', assumedMs: 100 } as const;
/** Lambda's default memory, assumed when the descriptor does not say. */
export const LAMBDA_DEFAULT_MEMORY_MIB = 128;
/** Fargate defaults of ContainerTaskFunction (cpu 1024, 2048 MiB). */
export const FARGATE_DEFAULTS = { cpu: 1024, memoryMiB: 2048 } as const;
/** Fargate bills Linux tasks per second with a one-minute minimum. */
export const FARGATE_MINIMUM_SECONDS = 60;

export interface TaskCostOrchestration {
  /** Step Functions Standard state transitions. */
  readonly transitions: number;
  /** DynamoDB write requests (TaskApi, states, helper, finalizer). */
  readonly dynamodbWrites: number;
  /** Their write request units, index copies and item size counted. */
  readonly dynamodbWriteUnits: number;
  readonly dynamodbReadUnits: number;
  /** TaskApi and finalizer invocations (the task's own invocations are compute). */
  readonly lambdaRequests: number;
  readonly sqsRequests: number;
  readonly snsRequests: number;
  readonly eventBridgeEvents: number;
  /** Submit, stop and retry calls that came through the REST API (their caller is an IAM principal). */
  readonly apiGatewayRequests: number;
  readonly s3Requests: number;
  readonly usd: number;
}

export interface TaskCostCompute {
  readonly kind: 'lambda' | 'fargate';
  /** Run time of the attempts (Fargate: with its one-minute minimum per attempt). */
  readonly seconds: number;
  readonly attempts: number;
  readonly gbSeconds?: number;
  readonly vcpuSeconds?: number;
  readonly usd: number;
}

export interface TaskCost {
  readonly currency: 'USD';
  /** The region whose prices were used (the task's own, or us-east-1 when it has no row). */
  readonly region: string;
  readonly priceSource: string;
  readonly orchestration: TaskCostOrchestration;
  readonly compute: TaskCostCompute;
  readonly totalUsd: number;
  readonly estimate: true;
  readonly notes: readonly string[];
}

/** What the estimate needs of the function descriptor. */
export interface CostFunction {
  readonly kind: TaskFunctionKind;
  /** 0: a failed attempt goes straight to RetriesExhausted (no CanRetry). */
  readonly maxRetryAttempts?: number;
  /** Set: a task waits for a concurrency slot first. */
  readonly maxConcurrency?: number;
  readonly compute?: TaskComputeDescriptor;
  readonly onSuccess?: Pick<DestinationTarget, 'type'>;
  readonly onFailure?: Pick<DestinationTarget, 'type'>;
}

/** What the estimate reads of a task record (TaskRecord has all of it). */
export interface CostInput {
  readonly status: TaskStatus;
  /** The item's orchestration (`economy`; absent: standard): its writes and transitions follow it. */
  readonly orchestration?: Orchestration;
  readonly taskPayload: unknown;
  readonly returnPayload?: unknown;
  readonly taskErrorMessage?: string;
  readonly startedTime: number;
  readonly endTime?: number;
  readonly durationMs?: number;
  readonly destinationStatus?: string;
  readonly events: ReadonlyArray<{
    readonly status: TaskStatus;
    readonly timestamp: number;
    readonly detail?: string;
    readonly caller?: string;
  }>;
}

interface Counts {
  transitions: number;
  writes: number;
  writeUnits: number;
  readUnits: number;
  lambdaRequests: number;
  sqs: number;
  sns: number;
  eventBridge: number;
  apiGateway: number;
  s3Put: number;
  s3Get: number;
}

function byteLength(value: unknown): number {
  if (value === undefined) return 0;
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return text === undefined ? 0 : new TextEncoder().encode(text).length;
}

function kb(bytes: number): number {
  return Math.max(1, Math.ceil(bytes / 1024));
}

/** Rounds to 10⁻¹² USD, so sums print cleanly. */
function usd(value: number): number {
  return Math.round(value * 1e12) / 1e12;
}

/** Sum of `totalUsd` over records that carry a cost. */
export function totalCostUsd(records: ReadonlyArray<{ readonly cost?: TaskCost }>): number {
  return usd(records.reduce((sum, r) => sum + (r.cost?.totalUsd ?? 0), 0));
}

/** `$0.000104`: six significant decimals for a per-task figure, two for large sums. */
export function formatUsd(value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return '-';
  if (value >= 1) return `$${value.toFixed(2)}`;
  if (value === 0) return '$0';
  return `$${value.toFixed(Math.max(6, 2 - Math.floor(Math.log10(value))))}`.replace(/(\.\d\d\d*?)0+$/, '$1');
}

function destinationRequest(counts: Counts, type: DestinationType): void {
  if (type === 'sqs') counts.sqs += 1;
  else if (type === 'sns') counts.sns += 1;
  else if (type === 'eventbridge') counts.eventBridge += 1;
  else counts.lambdaRequests += 1;
}

/** A trigger's task: its creator is `kafka:…` or `sqs:…` (lambda/model/audit.ts). */
function fromTrigger(caller: string | undefined): boolean {
  return caller !== undefined && /^(kafka|sqs):/.test(caller);
}

/**
 * A call that came through the REST API: its caller is neither a direct invoke (`lambda:Invoke`)
 * nor a trigger (lambda/model/audit.ts). Records written before callers were kept have none.
 */
function viaApiGateway(caller: string | undefined): boolean {
  return caller !== undefined && caller !== 'lambda:Invoke' && !fromTrigger(caller);
}

/** Whether the stop request before events[end] came while no attempt was running. */
function stoppedBeforeRunning(events: CostInput['events'], end: number): boolean {
  for (let i = end - 1; i > 0; i--) {
    if (events[i].status === TaskStatus.Stopping) return events[i - 1].status !== TaskStatus.Running;
  }
  return false;
}

/**
 * The estimate for one record. `region` is the TaskApi's (AWS_REGION); `now` prices a live
 * attempt up to now (default: the record's endTime, else startedTime + durationMs).
 */
export function estimateTaskCost(
  task: CostInput,
  fn: CostFunction,
  region: string | undefined,
  now: number = task.endTime ?? task.startedTime + (task.durationMs ?? 0),
): TaskCost {
  const notes: string[] = [];
  const known = region !== undefined && PRICES[region] !== undefined;
  const priceRegion = known ? (region as string) : DEFAULT_PRICE_REGION;
  if (!known) notes.push(`no list prices for region '${region ?? 'unknown'}': priced as ${DEFAULT_PRICE_REGION}`);
  const p = PRICES[priceRegion];
  const kind = fn.kind;
  const economy = task.orchestration === 'economy';
  const live = !isTerminal(task.status);
  if (live) notes.push(`so far: the task is ${task.status}`);
  if (economy) {
    notes.push(
      "economy orchestration: no state transitions (Lambda's asynchronous invocation, its retries and its onFailure destination are free; the wrapper's writes run in the task's own duration); the reconciler's reads of the task once its bound has passed are counted ahead",
    );
  }

  const payloadBytes = byteLength(task.taskPayload);
  const before = kb(ITEM_OVERHEAD_BYTES + payloadBytes);
  const after = kb(ITEM_OVERHEAD_BYTES + payloadBytes + byteLength(task.returnPayload) + byteLength(task.taskErrorMessage));
  if (after > 1) notes.push(`item of ${after} KB with its payload and result: every write is billed ${after} WRU per copy`);

  const c: Counts = {
    transitions: 0,
    writes: 0,
    writeUnits: 0,
    readUnits: 0,
    lambdaRequests: 0,
    sqs: 0,
    sns: 0,
    eventBridge: 0,
    apiGateway: 0,
    s3Put: 0,
    s3Get: 0,
  };
  if (economy) {
    // The reconciler reads every economy task about three times once its bound has passed
    // (it has no execution to ask): counted ahead, whatever the task's status.
    c.readUnits += ECONOMY_RECONCILER_READS_PER_TASK * ECONOMY_RECONCILER_READ_UNITS;
  }
  const write = (units: number, size: number): void => {
    c.writes += 1;
    c.writeUnits += units * size;
  };
  /** An economy write: the table's unit per KB, and its keys-only index copy's units. */
  const economyWrite = (indexUnits: number, size: number): void => {
    c.writes += 1;
    c.writeUnits += size + indexUnits;
  };
  /** A write that changes the status (standard: the ByStatus key too). */
  const statusWrite = (size: number): void =>
    economy ? economyWrite(ECONOMY_INDEX_WRITE_UNITS.statusWrite, size) : write(WRITE_UNITS.statusChange, size);
  /** A write that changes no index key (a delivery outcome). */
  const sameKeysWrite = (size: number): void =>
    economy ? economyWrite(ECONOMY_INDEX_WRITE_UNITS.statusWrite, size) : write(WRITE_UNITS.sameKeys, size);
  let serviceInvocations = 0;
  const invokeService = (caller?: string): void => {
    c.lambdaRequests += 1;
    serviceInvocations += 1;
    if (viaApiGateway(caller)) c.apiGateway += 1;
  };

  const attemptSeconds: number[] = [];
  const events = task.events;
  let slotHeld = false;
  let dequeued = false;
  let attemptStarted = false;
  let sawTrigger = false;
  let sawPolls = false;
  for (let i = 0; i < events.length; i++) {
    const e = events[i];
    const previous = events[i - 1];
    switch (e.status) {
      case TaskStatus.Enqueued:
        attemptStarted = false;
        dequeued = false;
        if (i === 0) {
          if (economy) economyWrite(ECONOMY_INDEX_WRITE_UNITS.put, before);
          else write(WRITE_UNITS.put, before);
          if (fromTrigger(e.caller)) sawTrigger = true;
          else invokeService(e.caller);
        } else {
          // `retry`: a new execution (economy: invocation); the item's status and start time change.
          if (economy) economyWrite(ECONOMY_INDEX_WRITE_UNITS.retry, before);
          else write(WRITE_UNITS.bothKeysChange, before);
          invokeService(e.caller);
        }
        break;
      case TaskStatus.Dequeued:
        c.transitions += PATH_STATES.slot.length;
        write(SLOT_WRITE_UNITS, 1);
        write(WRITE_UNITS.statusChange, before);
        slotHeld = true;
        dequeued = true;
        sawPolls = true;
        break;
      case TaskStatus.Running: {
        // Economy: the wrapper's write at the attempt's start.
        if (!economy) c.transitions += PATH_STATES.attempt[kind].length;
        statusWrite(before);
        if (kind === 'container') c.readUnits += HELPER_READ_UNITS;
        attemptStarted = true;
        // Until the next event; a stop request does not end the attempt, its ending does.
        const next = events.slice(i + 1).find((n) => n.status !== TaskStatus.Stopping);
        const end = next?.timestamp ?? (live ? now : (task.endTime ?? now));
        attemptSeconds.push(Math.max(0, end - e.timestamp) / 1000);
        break;
      }
      case TaskStatus.Retrying:
        if (!economy) {
          // A container attempt that failed before its helper wrote Running still entered Run.
          if (kind === 'container' && previous?.status !== TaskStatus.Running) c.transitions += PATH_STATES.attempt.container.length;
          if (kind === 'container') c.transitions += PATH_STATES.containerFailure.length;
          c.transitions += PATH_STATES.retry.length;
        }
        // Economy: the wrapper's write before Lambda retries (its backoff is free).
        statusWrite(before);
        attemptStarted = false;
        break;
      case TaskStatus.Succeeded:
        if (economy) {
          // The wrapper's Succeeded write (claiming the delivery with onSuccess), then the send and
          // its outcome, recorded whatever it was; no finalizer.
          statusWrite(after);
          if (fn.onSuccess) {
            destinationRequest(c, fn.onSuccess.type);
            sameKeysWrite(after);
          }
          break;
        }
        c.transitions += PATH_STATES.success[kind].length - PATH_STATES.attempt[kind].length;
        write(WRITE_UNITS.statusChange, after);
        if (kind === 'container') {
          c.s3Put += 1;
          c.s3Get += 1;
        }
        if (fn.onSuccess) {
          c.transitions += PATH_STATES.deliver.length;
          destinationRequest(c, fn.onSuccess.type);
          if (task.destinationStatus === 'Failed') {
            c.transitions += PATH_STATES.undelivered.length;
            write(WRITE_UNITS.sameKeys, after);
          }
        }
        if (slotHeld) {
          c.transitions += PATH_STATES.release.length;
          write(SLOT_WRITE_UNITS, 1);
          slotHeld = false;
        }
        break;
      case TaskStatus.Stopping:
        invokeService(e.caller);
        statusWrite(before);
        break;
      case TaskStatus.Failed:
      case TaskStatus.Expired:
      case TaskStatus.Invalid:
      case TaskStatus.Stopped: {
        const stopped = e.status === TaskStatus.Stopped;
        // Expired while waiting for a concurrency slot: its Fail state is slotWait's `Expired`.
        const slotExpiry = e.status === TaskStatus.Expired && !attemptStarted && fn.maxConcurrency !== undefined && !dequeued;
        if (!stopped && !economy) {
          let failedAttempt = attemptStarted;
          if (e.status === TaskStatus.Expired && !attemptStarted) {
            if (slotExpiry) {
              // No slot before the deadline: AcquireSlot refused (1 WRU), WaitForSlot, CheckAge → Expired.
              c.transitions += PATH_STATES.slotWait.length;
              write(SLOT_WRITE_UNITS, 1);
              sawPolls = true;
            } else if (kind === 'lambda') {
              // MarkRunning refused by the deadline (a refused conditional write is billed 1 WRU).
              c.transitions += 1;
              write(1, 1);
            } else {
              // Run: the helper reads the task, its Running write is refused (1 WRU) and it exits 3;
              // the failure is classified, CanRetry, MarkRetrying refused by the deadline (1 WRU).
              c.transitions += PATH_STATES.attempt.container.length + PATH_STATES.containerFailure.length + 2;
              c.readUnits += HELPER_READ_UNITS;
              write(1, 1);
              write(1, 1);
              attemptSeconds.push(0);
              notes.push("expired container attempt: the helper's refusal path is assumed (its ECS task ran, billed Fargate's minimum)");
            }
          }
          if (kind === 'container' && !attemptStarted && (e.status === TaskStatus.Failed || e.status === TaskStatus.Invalid)) {
            // Run was entered, but the container failed before its helper wrote Running.
            c.transitions += PATH_STATES.attempt.container.length;
            failedAttempt = e.status === TaskStatus.Failed;
          }
          if (e.status === TaskStatus.Failed && failedAttempt) {
            // The failed attempt's catch: classification (container) and CanRetry before
            // RetriesExhausted; a permanent failure skips CanRetry.
            if (kind === 'container') c.transitions += PATH_STATES.containerFailure.length;
            const permanent = e.detail?.includes(ExecutionError.PermanentFailure) === true;
            if (!permanent && (fn.maxRetryAttempts ?? 1) > 0) c.transitions += 1;
          }
          // The Fail state (RetriesExhausted, PermanentFailure, Invalid, NotRunnable; slotWait has its Expired).
          if (!slotExpiry) c.transitions += 1;
        }
        // The finalizer: one invocation, the terminal write (with the delivery claim), the failure
        // record and its outcome; the concurrency slot back. Economy: Lambda's onFailure
        // destination or the wrapper invokes it, except for a stop of a task with no attempt
        // running, which the stop call finalizes itself.
        if (!(economy && stopped && stoppedBeforeRunning(events, i))) invokeService();
        statusWrite(after);
        if (fn.onFailure) {
          destinationRequest(c, fn.onFailure.type);
          sameKeysWrite(after);
        }
        if (slotHeld) {
          write(SLOT_WRITE_UNITS, 1);
          slotHeld = false;
        }
        attemptStarted = false;
        break;
      }
    }
  }
  if (sawTrigger) notes.push("created by a trigger: the trigger's invocation and query are shared by its batch, not counted");
  if (sawPolls) notes.push('maxConcurrency: polls while waiting for a slot are not on the record, not counted');

  const serviceGbSeconds = (serviceInvocations * (SERVICE_LAMBDA.memoryMiB / 1024) * SERVICE_LAMBDA.assumedMs) / 1000;
  const orchestrationUsd =
    c.transitions * p.transition +
    c.writeUnits * p.writeUnit +
    c.readUnits * p.readUnit +
    c.lambdaRequests * p.lambdaRequest +
    serviceGbSeconds * p.lambdaGbSecond[SERVICE_LAMBDA.architecture] +
    c.sqs * p.sqsRequest +
    c.sns * p.snsPublish +
    c.eventBridge * p.eventBridgeEvent +
    c.apiGateway * p.apiGatewayRequest +
    c.s3Put * p.s3Put +
    c.s3Get * p.s3Get;

  const compute =
    kind === 'lambda' ? lambdaCompute(attemptSeconds, fn.compute, p, notes) : fargateCompute(attemptSeconds, fn.compute, p, notes);
  const orchestration: TaskCostOrchestration = {
    transitions: c.transitions,
    dynamodbWrites: c.writes,
    dynamodbWriteUnits: c.writeUnits,
    dynamodbReadUnits: c.readUnits,
    lambdaRequests: c.lambdaRequests,
    sqsRequests: c.sqs,
    snsRequests: c.sns,
    eventBridgeEvents: c.eventBridge,
    apiGatewayRequests: c.apiGateway,
    s3Requests: c.s3Put + c.s3Get,
    usd: usd(orchestrationUsd),
  };
  return {
    currency: 'USD',
    region: priceRegion,
    priceSource: `list prices ${PRICE_DATE} (${DEFAULT_PRICE_REGION} unless the region has its own row)`,
    orchestration,
    compute,
    totalUsd: usd(orchestration.usd + compute.usd),
    estimate: true,
    notes,
  };
}

function lambdaCompute(
  attempts: readonly number[],
  compute: TaskComputeDescriptor | undefined,
  p: RegionPrices,
  notes: string[],
): TaskCostCompute {
  const memory = Number(compute?.memoryMiB);
  const memoryMiB = Number.isFinite(memory) && memory > 0 ? memory : LAMBDA_DEFAULT_MEMORY_MIB;
  if (memoryMiB !== memory) notes.push(`the function's memory is unknown: Lambda's default ${LAMBDA_DEFAULT_MEMORY_MIB} MB assumed`);
  const architecture = compute?.architecture === 'arm64' ? 'arm64' : 'x86_64';
  if (compute?.architecture === undefined) notes.push("the function's architecture is unknown: x86_64 assumed");
  const seconds = attempts.reduce((sum, s) => sum + s, 0);
  const gbSeconds = seconds * (memoryMiB / 1024);
  if (attempts.length > 0) {
    notes.push("Lambda duration from the record's events (Running → next event), not the billed duration: a little over it");
  }
  return {
    kind: 'lambda',
    seconds: round(seconds),
    attempts: attempts.length,
    gbSeconds: round(gbSeconds),
    usd: usd(gbSeconds * p.lambdaGbSecond[architecture] + attempts.length * p.lambdaRequest),
  };
}

function fargateCompute(
  attempts: readonly number[],
  compute: TaskComputeDescriptor | undefined,
  p: RegionPrices,
  notes: string[],
): TaskCostCompute {
  const cpu = Number(compute?.cpu) > 0 ? Number(compute?.cpu) : FARGATE_DEFAULTS.cpu;
  const memoryMiB = Number(compute?.memoryMiB) > 0 ? Number(compute?.memoryMiB) : FARGATE_DEFAULTS.memoryMiB;
  if (compute?.cpu === undefined || compute?.memoryMiB === undefined) {
    notes.push(`the task definition's size is unknown: ${FARGATE_DEFAULTS.cpu} cpu units and ${FARGATE_DEFAULTS.memoryMiB} MiB assumed`);
  }
  const architecture = compute?.architecture === 'arm64' ? 'arm64' : 'x86_64';
  if (compute?.spot) notes.push('Fargate Spot: billed at the Spot price (up to 70% less); list price shown');
  const seconds = attempts.reduce((sum, s) => sum + Math.max(FARGATE_MINIMUM_SECONDS, s), 0);
  if (attempts.length > 0) {
    notes.push(
      "Fargate run time from the record's events (Running, written by the helper at start-up, → next event), one-minute minimum per attempt; image pull and start-up before Running are not counted",
    );
  }
  const vcpuSeconds = seconds * (cpu / 1024);
  const gbSeconds = seconds * (memoryMiB / 1024);
  const prices = p.fargate[architecture];
  return {
    kind: 'fargate',
    seconds: round(seconds),
    attempts: attempts.length,
    vcpuSeconds: round(vcpuSeconds),
    gbSeconds: round(gbSeconds),
    usd: usd((vcpuSeconds / 3600) * prices.vcpuHour + (gbSeconds / 3600) * prices.gbHour),
  };
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}

/**
 * One TaskApi or finalizer invocation at list prices: its request and its assumed duration
 * (SERVICE_LAMBDA), as docs/cost.md prices the submit ($0.87 per million in us-east-1).
 */
export function serviceInvocationUsd(prices: RegionPrices = PRICES[DEFAULT_PRICE_REGION]): number {
  const gbSeconds = (SERVICE_LAMBDA.memoryMiB / 1024) * (SERVICE_LAMBDA.assumedMs / 1000);
  return prices.lambdaRequest + gbSeconds * prices.lambdaGbSecond[SERVICE_LAMBDA.architecture];
}

/*
 * Write units from the items themselves (docs/cost.md, "Economy mode: the study"): what
 * test/constructs/cost.test.ts and bench/local.ts count a task's writes with, from the template's
 * indexes and the items the writers leave, where the estimate above assumes a size per write.
 */

/** A global secondary index as the template declares it. */
export interface IndexSpec {
  readonly name: string;
  readonly keys: readonly string[];
  /** ALL, KEYS_ONLY, or INCLUDE with `include`. */
  readonly projection: 'ALL' | 'KEYS_ONLY' | 'INCLUDE';
  readonly include?: readonly string[];
}

/** The part of an `AWS::DynamoDB::Table`'s synthesized Properties that `tableIndexSpecs` reads. */
export interface TableTemplateProperties {
  readonly KeySchema: ReadonlyArray<{ readonly AttributeName: string }>;
  readonly GlobalSecondaryIndexes?: ReadonlyArray<{
    readonly IndexName: string;
    readonly KeySchema: ReadonlyArray<{ readonly AttributeName: string }>;
    readonly Projection: { readonly ProjectionType: IndexSpec['projection']; readonly NonKeyAttributes?: readonly string[] };
  }>;
}

/** The table's key attributes and its indexes, from its synthesized Properties, for `indexedWriteUnits`. */
export function tableIndexSpecs(table: TableTemplateProperties): { tableKeys: string[]; indexes: IndexSpec[] } {
  return {
    tableKeys: table.KeySchema.map((k) => k.AttributeName),
    indexes: (table.GlobalSecondaryIndexes ?? []).map((g) => ({
      name: g.IndexName,
      keys: g.KeySchema.map((k) => k.AttributeName),
      projection: g.Projection.ProjectionType,
      ...(g.Projection.NonKeyAttributes ? { include: g.Projection.NonKeyAttributes } : {}),
    })),
  };
}

/** A write to the tasks table: the item before (undefined for a put of a new item) and after. */
export interface ItemWrite {
  readonly before?: Readonly<Record<string, unknown>>;
  readonly after: Readonly<Record<string, unknown>>;
}

const utf8 = (text: string): number => new TextEncoder().encode(text).length;

/**
 * Bytes of a value as DynamoDB sizes it: strings their UTF-8 length, numbers about one byte per
 * two digits plus one, booleans and nulls 1, lists and maps 3 bytes plus 1 per element plus
 * their elements (map keys counted like attribute names).
 */
export function valueSizeBytes(value: unknown): number {
  if (value === null || value === undefined || typeof value === 'boolean') return 1;
  if (typeof value === 'string') return utf8(value);
  if (typeof value === 'number') return Math.ceil(String(Math.abs(value)).replace(/[.-]/g, '').length / 2) + 1;
  if (Array.isArray(value)) return 3 + value.reduce<number>((sum, v) => sum + 1 + valueSizeBytes(v), 0);
  if (typeof value === 'object') {
    return 3 + Object.entries(value as Record<string, unknown>).reduce((sum, [k, v]) => sum + 1 + utf8(k) + valueSizeBytes(v), 0);
  }
  return utf8(String(value));
}

/** An item's size: each attribute's name plus its value. */
export function itemSizeBytes(item: Readonly<Record<string, unknown>>): number {
  return Object.entries(item).reduce((sum, [name, value]) => sum + (value === undefined ? 0 : utf8(name) + valueSizeBytes(value)), 0);
}

function sizeKb(item: Readonly<Record<string, unknown>>): number {
  return Math.max(1, Math.ceil(itemSizeBytes(item) / 1024));
}

function inIndex(item: Readonly<Record<string, unknown>> | undefined, index: IndexSpec): boolean {
  return item !== undefined && index.keys.every((k) => item[k] !== undefined);
}

function projected(item: Readonly<Record<string, unknown>>, index: IndexSpec, tableKeys: readonly string[]): Record<string, unknown> {
  if (index.projection === 'ALL') return { ...item };
  const names = new Set([...tableKeys, ...index.keys, ...(index.projection === 'INCLUDE' ? (index.include ?? []) : [])]);
  return Object.fromEntries(Object.entries(item).filter(([k]) => names.has(k)));
}

/**
 * Write request units of one write, index copies included, as DynamoDB bills them: the table
 * (1 per started KB of the larger of the old and new item), and per index: a put of an item
 * entering it, a delete of one leaving it, both when its key changes, an update in place when a
 * projected attribute changed, nothing otherwise.
 */
export function indexedWriteUnits(write: ItemWrite, indexes: readonly IndexSpec[], tableKeys: readonly string[]): number {
  const { before, after } = write;
  let units = Math.max(sizeKb(after), before ? sizeKb(before) : 0);
  for (const index of indexes) {
    const was = inIndex(before, index);
    const is = inIndex(after, index);
    if (!was && !is) continue;
    const old = was && before ? projected(before, index, tableKeys) : undefined;
    const now = is ? projected(after, index, tableKeys) : undefined;
    const keyChanged = was && is && index.keys.some((k) => before?.[k] !== after[k]);
    if (old && now && !keyChanged) {
      if (JSON.stringify(old) !== JSON.stringify(now)) units += Math.max(sizeKb(old), sizeKb(now));
      continue;
    }
    if (old) units += sizeKb(old);
    if (now) units += sizeKb(now);
  }
  return units;
}
