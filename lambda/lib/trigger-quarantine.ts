/**
 * Quarantine: a record that cannot become a task (not valid for the function, over the payload
 * limit) goes to the trigger's own failure destination as a QuarantineRecord — the reason and the
 * record as the event source delivered it — and counts as handled. Without a destination, or when
 * the delivery fails, the record is not dropped: the caller reports it as a batch item failure, so
 * the event source keeps it (and retries it) and the error log says what to configure.
 */
import { isoTime, MAX_QUARANTINE_RECORD_BYTES, type QuarantineRecord, type TaskSource, TRIGGER_ENV } from '../model';
import { deliver } from './destinations';
import { logger } from './logger';
import type { TriggerConfig } from './trigger-config';

export interface Quarantined {
  readonly source: TaskSource;
  readonly reason: string;
  /** The record exactly as delivered. */
  readonly record: unknown;
}

/**
 * The quarantine record of `what`; a record too large for the destinations (an oversized Kafka
 * value is exactly such a record) is cut to the start of its JSON text, so that sending it can
 * never fail on size and hold its partition back.
 */
export function quarantineRecord(functionName: string, what: Quarantined, now: number = Date.now()): QuarantineRecord {
  const whole: QuarantineRecord = {
    version: '1.0',
    timestamp: isoTime(now),
    trigger: { functionName, source: what.source },
    reason: what.reason,
    record: what.record,
  };
  if (Buffer.byteLength(JSON.stringify(whole)) <= MAX_QUARANTINE_RECORD_BYTES) return whole;
  const text = JSON.stringify(what.record) ?? '';
  const bytes = Buffer.byteLength(text);
  // Room for everything else, the escaping JSON adds to the cut text, and a margin.
  const room = MAX_QUARANTINE_RECORD_BYTES - Buffer.byteLength(JSON.stringify({ ...whole, record: '' })) - 1024;
  let head = text.slice(0, Math.max(0, room));
  while (Buffer.byteLength(JSON.stringify(head)) > room && head.length > 0) head = head.slice(0, Math.floor(head.length * 0.9));
  return { ...whole, record: head, recordTruncated: { bytes } };
}

/** Delivers the quarantine record; false (logged as an error) when it could not be delivered. */
export async function quarantine(trigger: TriggerConfig, what: Quarantined, now: number = Date.now()): Promise<boolean> {
  const fields = { functionName: trigger.functionName, source: what.source, reason: what.reason };
  const target = trigger.failureDestination;
  if (!target) {
    logger.error(
      `record cannot become a task and the trigger has no failure destination (${TRIGGER_ENV.failureDestination}); reported as a batch item failure so it is not lost — give the trigger a failure destination`,
      fields,
    );
    return false;
  }
  const record = quarantineRecord(trigger.functionName, what, now);
  try {
    await deliver(target, record, 'quarantine');
  } catch (error) {
    logger.error('could not deliver a quarantined record to the failure destination; reported as a batch item failure', {
      ...fields,
      destination: target.arn,
      error,
    });
    return false;
  }
  logger.warn('record quarantined', { ...fields, destination: target.arn });
  return true;
}
