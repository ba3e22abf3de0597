/**
 * Trigger Lambda (the KafkaTaskTrigger and SqsTaskTrigger constructs): Kafka (`aws:kafka`,
 * `SelfManagedKafka`) and SQS (`aws:sqs`) event source mappings invoke it with their batches, and
 * their records become tasks of the trigger's function exactly once — through the same create
 * code as TaskApi's submit — with partial batch responses (`ReportBatchItemFailures`) for what
 * could not be handled now. One summary line per invocation. A deployment error (environment,
 * unknown function) or an event of another shape throws, so the whole batch is retried.
 */
import { serviceConfig } from '../lib/env';
import { type LambdaContext, logger, startRequest } from '../lib/logger';
import { triggerConfig } from '../lib/trigger-config';
import { type KafkaBatchItemFailure, type KafkaEvent, handleKafkaEvent } from '../lib/trigger-kafka';
import { type SqsBatchItemFailure, type SqsEvent, handleSqsEvent } from '../lib/trigger-sqs';

export interface TriggerResponse {
  readonly batchItemFailures: Array<KafkaBatchItemFailure | SqsBatchItemFailure>;
}

function isKafkaEvent(event: unknown): event is KafkaEvent {
  const source = (event as { eventSource?: unknown } | null)?.eventSource;
  return source === 'aws:kafka' || source === 'SelfManagedKafka';
}

function isSqsEvent(event: unknown): event is SqsEvent {
  const records = (event as { Records?: unknown } | null)?.Records;
  return Array.isArray(records) && records.length > 0 && records.every((r) => (r as { eventSource?: unknown })?.eventSource === 'aws:sqs');
}

export async function handler(event: unknown, context?: LambdaContext): Promise<TriggerResponse> {
  startRequest(context);
  const config = serviceConfig();
  const trigger = triggerConfig();
  const descriptor = await config.registry.get(trigger.functionName);
  logger.appendKeys({ functionName: descriptor.name, mode: trigger.mode });
  if (isKafkaEvent(event)) {
    const result = await handleKafkaEvent(config, trigger, descriptor, event);
    const partitions = Object.values(result.partitions);
    const total = (key: 'created' | 'duplicates' | 'quarantined' | 'markers'): number => partitions.reduce((sum, p) => sum + p[key], 0);
    const line = {
      eventSource: event.eventSource,
      created: total('created'),
      duplicates: total('duplicates'),
      quarantined: total('quarantined'),
      failures: result.batchItemFailures.length,
      partitions: result.partitions,
    };
    if (result.batchItemFailures.length > 0) logger.warn('trigger batch handled with failures', line);
    else logger.info('trigger batch handled', line);
    return { batchItemFailures: result.batchItemFailures };
  }
  if (isSqsEvent(event)) {
    const result = await handleSqsEvent(config, trigger, descriptor, event);
    const line = {
      eventSource: 'aws:sqs',
      queue: event.Records[0].eventSourceARN,
      messages: event.Records.length,
      created: result.created,
      duplicates: result.duplicates,
      quarantined: result.quarantined,
      failures: result.batchItemFailures.length,
    };
    if (result.batchItemFailures.length > 0) logger.warn('trigger batch handled with failures', line);
    else logger.info('trigger batch handled', line);
    return { batchItemFailures: result.batchItemFailures };
  }
  const given = JSON.stringify(event)?.slice(0, 200) ?? typeof event;
  throw new Error(
    `the trigger handles Lambda's Kafka events (eventSource 'aws:kafka' or 'SelfManagedKafka') and SQS events (Records with eventSource 'aws:sqs'); given ${given}`,
  );
}
