/**
 * What a trigger's Lambda reads from its environment (TRIGGER_ENV of lambda/model/trigger.ts,
 * set by the KafkaTaskTrigger / SqsTaskTrigger constructs): the task function, the mode, the
 * value format, the SQS task id source and the failure destination of quarantined records.
 * A value the constructs cannot have written is a deployment error (ServiceError) naming it.
 */
import { type DestinationTarget, DestinationType, ServiceError, TRIGGER_ENV, type TriggerMode, type TriggerValueFormat } from '../model';

/** Where an SQS task's id comes from. */
export type SqsTaskIdSource =
  | { readonly kind: 'messageId' }
  | { readonly kind: 'attribute'; readonly name: string }
  | { readonly kind: 'field'; readonly name: string };

export interface TriggerConfig {
  readonly functionName: string;
  readonly mode: TriggerMode;
  readonly valueFormat: TriggerValueFormat;
  readonly taskIdSource: SqsTaskIdSource;
  /** Where quarantined records go; undefined: nowhere (they are reported as batch item failures). */
  readonly failureDestination?: DestinationTarget;
}

const MODES: readonly TriggerMode[] = ['batch', 'record'];
const VALUE_FORMATS: readonly TriggerValueFormat[] = ['json', 'text'];

function misconfigured(name: string, given: string | undefined, allowed: string): ServiceError {
  return new ServiceError(
    `the trigger is misconfigured: environment variable ${name} must be ${allowed} (given ${given === undefined ? 'nothing' : JSON.stringify(given)})`,
  );
}

export function parseTaskIdSource(text: string | undefined): SqsTaskIdSource {
  if (text === undefined || text === '' || text === 'messageId') return { kind: 'messageId' };
  const match = /^(attribute|field):(.+)$/.exec(text);
  if (!match) throw misconfigured(TRIGGER_ENV.taskIdSource, text, "'messageId', 'attribute:<name>' or 'field:<name>'");
  return { kind: match[1] as 'attribute' | 'field', name: match[2] };
}

function parseDestination(text: string | undefined): DestinationTarget | undefined {
  if (text === undefined || text === '') return undefined;
  const allowed = `a JSON destination {"type": ${Object.values(DestinationType)
    .map((t) => `"${t}"`)
    .join(' | ')}, "arn": "...", "url"?: "..."}`;
  let target: Partial<DestinationTarget>;
  try {
    target = JSON.parse(text) as Partial<DestinationTarget>;
  } catch {
    throw misconfigured(TRIGGER_ENV.failureDestination, text, allowed);
  }
  if (
    target === null ||
    typeof target !== 'object' ||
    !(Object.values(DestinationType) as string[]).includes(String(target.type)) ||
    typeof target.arn !== 'string' ||
    target.arn === ''
  ) {
    throw misconfigured(TRIGGER_ENV.failureDestination, text, allowed);
  }
  return target as DestinationTarget;
}

/** Reads the trigger's environment. Mode defaults to `batch`, value format to `json`, task ids to the message id. */
export function triggerConfig(env: NodeJS.ProcessEnv = process.env): TriggerConfig {
  const functionName = env[TRIGGER_ENV.functionName];
  if (!functionName) throw misconfigured(TRIGGER_ENV.functionName, functionName, 'the name of a registered task function');
  const mode = env[TRIGGER_ENV.mode] || 'batch';
  if (!(MODES as readonly string[]).includes(mode)) throw misconfigured(TRIGGER_ENV.mode, mode, "'batch' or 'record'");
  const valueFormat = env[TRIGGER_ENV.valueFormat] || 'json';
  if (!(VALUE_FORMATS as readonly string[]).includes(valueFormat)) {
    throw misconfigured(TRIGGER_ENV.valueFormat, valueFormat, "'json' or 'text'");
  }
  const failureDestination = parseDestination(env[TRIGGER_ENV.failureDestination]);
  return {
    functionName,
    mode: mode as TriggerMode,
    valueFormat: valueFormat as TriggerValueFormat,
    taskIdSource: parseTaskIdSource(env[TRIGGER_ENV.taskIdSource]),
    ...(failureDestination ? { failureDestination } : {}),
  };
}
