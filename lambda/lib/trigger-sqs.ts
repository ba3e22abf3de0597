/**
 * The SQS trigger (`aws:sqs` events): messages become tasks whose id is derived from the message
 * (`sqsTaskId` of the message id, a message attribute or a top-level field of the JSON body), so
 * a redelivered message finds its id taken and is a counted duplicate, never a second task.
 * `record` mode makes one task per message; `batch` mode one task per invocation (split when the
 * payload would pass the limit) keyed on its sorted message keys — a batch that SQS redelivers
 * with other messages in it is a different id, so only `record` mode is deduplicated whatever
 * the batching (docs/design.md, "Triggers"). Messages that cannot become tasks are quarantined
 * and deleted; a transient failure reports the message in `batchItemFailures`.
 */
import { callerOfSource, MAX_PAYLOAD_BYTES, type TaskFunctionDescriptor, type TaskSource, sqsTaskId } from '../model';
import type { ServiceConfig } from './env';
import { logger } from './logger';
import { createTask } from './submit';
import type { TriggerConfig } from './trigger-config';
import { quarantine } from './trigger-quarantine';

/** One record of Lambda's SQS event (the fields the trigger reads). */
export interface SqsRecord {
  readonly messageId: string;
  readonly body: string;
  readonly eventSource?: string;
  readonly eventSourceARN: string;
  readonly messageAttributes?: Readonly<Record<string, { readonly stringValue?: string; readonly dataType?: string } | undefined>>;
  readonly attributes?: Readonly<Record<string, string | undefined>>;
}

export interface SqsEvent {
  readonly Records: readonly SqsRecord[];
}

export interface SqsBatchItemFailure {
  readonly itemIdentifier: string;
}

export interface SqsBatchResult {
  readonly batchItemFailures: SqsBatchItemFailure[];
  readonly created: number;
  readonly duplicates: number;
  readonly quarantined: number;
}

/** A message ready to become (part of) a task, or the reason it cannot. */
interface PlannedMessage {
  readonly record: SqsRecord;
  /** The value its task id is derived from. */
  readonly key?: string;
  readonly payload?: unknown;
  readonly bytes: number;
  readonly reason?: string;
}

/** SQS calls at once per invocation (a batch can hold up to 10,000 messages). */
const PARALLEL = 10;

function shown(text: string): string {
  return text.length > 60 ? `'${text.slice(0, 60)}…'` : `'${text}'`;
}

function sqsSource(record: SqsRecord, messageIds: readonly string[]): TaskSource {
  return { type: 'sqs', queue: record.eventSourceARN, messageIds };
}

/** Parses the body, derives the id key and checks the size; a message that cannot be a task gets the reason. */
export function planMessage(record: SqsRecord, trigger: TriggerConfig): PlannedMessage {
  const where = `message ${record.messageId}`;
  let parsed: unknown;
  let isJson = false;
  try {
    parsed = JSON.parse(record.body);
    isJson = true;
  } catch (error) {
    if (trigger.valueFormat === 'json') {
      return {
        record,
        bytes: 0,
        reason: `the body of ${where} is not JSON (${(error as Error).message}); given ${shown(record.body)}; with valueFormat 'json' every body must be JSON text (use valueFormat 'text' to take bodies as text)`,
      };
    }
  }
  const payload = trigger.valueFormat === 'json' ? parsed : record.body;
  let key: string;
  const source = trigger.taskIdSource;
  if (source.kind === 'messageId') {
    key = record.messageId;
  } else if (source.kind === 'attribute') {
    const value = record.messageAttributes?.[source.name]?.stringValue;
    if (typeof value !== 'string' || value === '') {
      return {
        record,
        bytes: 0,
        reason: `${where} has no message attribute '${source.name}' with a string value (given ${JSON.stringify(record.messageAttributes?.[source.name]) ?? 'nothing'}); the trigger takes task ids from attribute:${source.name}`,
      };
    }
    key = value;
  } else {
    const value =
      isJson && parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)
        ? (parsed as Record<string, unknown>)[source.name]
        : undefined;
    if (!((typeof value === 'string' && value !== '') || (typeof value === 'number' && Number.isFinite(value)))) {
      return {
        record,
        bytes: 0,
        reason: `the body of ${where} has no top-level field '${source.name}' that is a non-empty string or a number (given ${JSON.stringify(value) ?? 'nothing'}); the trigger takes task ids from field:${source.name}, so the body must be a JSON object with it`,
      };
    }
    key = String(value);
  }
  const bytes = Buffer.byteLength(JSON.stringify(payload), 'utf8');
  const payloadBytes = trigger.mode === 'batch' ? bytes + 2 : bytes;
  if (payloadBytes > MAX_PAYLOAD_BYTES) {
    return {
      record,
      bytes,
      reason: `${where} is ${payloadBytes} bytes as a task payload; the limit is ${MAX_PAYLOAD_BYTES} bytes (128 KiB) — put larger bodies in S3 and send their location`,
    };
  }
  return { record, key, payload, bytes };
}

/** Consecutive messages per task in `batch` mode, each group's JSON array within the payload limit. */
export function planBatches(messages: readonly PlannedMessage[]): PlannedMessage[][] {
  const groups: PlannedMessage[][] = [];
  let current: PlannedMessage[] = [];
  let size = 2;
  for (const message of messages) {
    const added = message.bytes + (current.length > 0 ? 1 : 0);
    if (current.length > 0 && size + added > MAX_PAYLOAD_BYTES) {
      groups.push(current);
      current = [];
      size = 2;
    }
    size += message.bytes + (current.length > 0 ? 1 : 0);
    current.push(message);
  }
  if (current.length > 0) groups.push(current);
  return groups;
}

type Outcome = 'created' | 'duplicate' | 'quarantined' | 'failed';

async function mapLimit<T, R>(items: readonly T[], limit: number, run: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await run(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** Creates one task for `messages` (one message in `record` mode); a taken id is a duplicate. */
async function createFor(
  config: ServiceConfig,
  trigger: TriggerConfig,
  descriptor: TaskFunctionDescriptor,
  messages: readonly PlannedMessage[],
  now: () => number,
): Promise<Outcome> {
  const batch = trigger.mode === 'batch';
  const taskId = sqsTaskId(
    batch
      ? messages
          .map((m) => m.key as string)
          .sort()
          .join(',')
      : (messages[0].key as string),
  );
  const source = sqsSource(
    messages[0].record,
    messages.map((m) => m.record.messageId),
  );
  try {
    const outcome = await createTask(
      config,
      descriptor,
      { taskId, payload: batch ? messages.map((m) => m.payload) : messages[0].payload, source, caller: callerOfSource(source) },
      now(),
    );
    if (outcome.created) return 'created';
    logger.info('duplicate: the task of these messages exists; skipped', {
      functionName: descriptor.name,
      taskId,
      messageIds: source.type === 'sqs' ? source.messageIds : [],
    });
    return 'duplicate';
  } catch (error) {
    logger.error('could not create the task of SQS messages; they are reported as batch item failures', {
      functionName: descriptor.name,
      taskId,
      error,
    });
    return 'failed';
  }
}

/** Handles an SQS event; the messages not handled are the batch item failures. */
export async function handleSqsEvent(
  config: ServiceConfig,
  trigger: TriggerConfig,
  descriptor: TaskFunctionDescriptor,
  event: SqsEvent,
  now: () => number = Date.now,
): Promise<SqsBatchResult> {
  const records = event.Records ?? [];
  // FIFO: a message may not be handled before an earlier one of its batch failed (ordering).
  const fifo = records.some((r) => r.eventSourceARN?.endsWith('.fifo'));
  const planned = records.map((r) => planMessage(r, trigger));
  const outcome = new Map<string, Outcome>();
  let failedFifo = false;
  const handleOne = async (message: PlannedMessage): Promise<void> => {
    if (failedFifo) {
      outcome.set(message.record.messageId, 'failed');
      return;
    }
    let result: Outcome;
    if (message.reason) {
      const ok = await quarantine(
        trigger,
        { source: sqsSource(message.record, [message.record.messageId]), reason: message.reason, record: message.record },
        now(),
      );
      result = ok ? 'quarantined' : 'failed';
    } else if (trigger.mode === 'record') {
      result = await createFor(config, trigger, descriptor, [message], now);
    } else {
      return;
    }
    outcome.set(message.record.messageId, result);
    if (fifo && result === 'failed') failedFifo = true;
  };
  if (fifo) {
    for (const message of planned) await handleOne(message);
  } else {
    await mapLimit(planned, PARALLEL, handleOne);
  }
  let created = 0;
  if (trigger.mode === 'batch') {
    const valid = planned.filter((m) => !m.reason && !failedFifo);
    for (const group of planBatches(valid)) {
      const result = failedFifo ? 'failed' : await createFor(config, trigger, descriptor, group, now);
      if (result === 'created') created++;
      for (const m of group) outcome.set(m.record.messageId, result === 'created' ? 'created' : result);
      if (fifo && result === 'failed') failedFifo = true;
    }
    for (const m of planned) if (!outcome.has(m.record.messageId)) outcome.set(m.record.messageId, 'failed');
  } else {
    created = [...outcome.values()].filter((o) => o === 'created').length;
  }
  const count = (o: Outcome): number => planned.filter((m) => outcome.get(m.record.messageId) === o).length;
  return {
    batchItemFailures: planned
      .filter((m) => outcome.get(m.record.messageId) === 'failed')
      .map((m) => ({ itemIdentifier: m.record.messageId })),
    created,
    duplicates: count('duplicate'),
    quarantined: count('quarantined'),
  };
}
