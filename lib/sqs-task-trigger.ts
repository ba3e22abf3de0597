/**
 * SqsTaskTrigger: messages of an SQS queue become tasks of a task function. The queue's event
 * source mapping (`ReportBatchItemFailures`) invokes the trigger Lambda, which creates one task
 * per message (or per batch), its id from the message id, a message attribute or a field of the
 * JSON body, so a message delivered twice is one task; the messages it could not hand over stay
 * in the queue and come back, the ones that can never become tasks are quarantined.
 */
import { Duration, Token } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sources from 'aws-cdk-lib/aws-lambda-event-sources';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { checkRange } from '../lambda/model/config';
import { TRIGGER_BOUNDS, TRIGGER_ENV, type TriggerMode } from '../lambda/model/trigger';
import {
  checkTaskTriggerProps,
  createTriggerFunction,
  knownNumber,
  knownSeconds,
  type TaskTriggerProps,
  triggerPropsError,
} from './trigger-base';

/** SQS message attribute names: 1–256 of letters, digits, `_`, `-`, `.`. */
const ATTRIBUTE_NAME = /^[A-Za-z0-9_.-]{1,256}$/;

/** SQS's default visibility timeout, seconds, when a queue sets none. */
const DEFAULT_VISIBILITY_TIMEOUT_SECONDS = 30;

/** Problems with a `taskIdSource` (undefined when valid). */
export function checkTaskIdSource(source: string): string | undefined {
  if (Token.isUnresolved(source) || source === 'messageId') return undefined;
  const allowed = "'messageId', 'attribute:<name>' (a message attribute) or 'field:<name>' (a top-level field of the JSON body)";
  const [kind, ...rest] = source.split(':');
  const name = rest.join(':');
  if (kind === 'attribute') {
    if (
      ATTRIBUTE_NAME.test(name) &&
      !/^(aws|amazon)\./i.test(name) &&
      !name.startsWith('.') &&
      !name.endsWith('.') &&
      !name.includes('..')
    ) {
      return undefined;
    }
    return `taskIdSource ${JSON.stringify(source)} names no valid message attribute: 1-256 letters, digits, '_', '-', '.', not starting with 'AWS.' or 'Amazon.', no leading, trailing or double '.'`;
  }
  if (kind === 'field') {
    if (name.length > 0 && name.length <= 256) return undefined;
    return `taskIdSource ${JSON.stringify(source)} must name a field of 1-256 characters`;
  }
  return `taskIdSource must be ${allowed} (given ${JSON.stringify(source)})`;
}

export interface SqsTaskTriggerProps extends TaskTriggerProps {
  /** The queue whose messages become tasks; its visibility timeout must be at least the trigger's `timeout`. */
  readonly queue: sqs.IQueue;
  /**
   * Where a task's id comes from: `messageId`, `attribute:<name>` (a String message attribute) or
   * `field:<name>` (a top-level field of the JSON body). The value becomes `s_<value>` (or its
   * SHA-256 when it is not a valid id tail). A message without it is quarantined.
   * @default 'messageId'
   */
  readonly taskIdSource?: string;
  /**
   * Most concurrent trigger invocations the queue's mapping makes, 2–1000.
   * @default - no limit (Lambda scales up to the function's concurrency)
   */
  readonly maxConcurrency?: number;
}

/**
 * SQS messages become tasks of `taskFunction`: one trigger Lambda, one event source mapping
 * with `ReportBatchItemFailures`. Every prop problem is reported in one `ValidationError`
 * before any resource is made.
 */
export class SqsTaskTrigger extends Construct {
  /** The trigger Lambda (lambda/handlers/trigger.ts). */
  public readonly function: lambda.Function;
  public readonly mode: TriggerMode;
  public readonly taskIdSource: string;

  public constructor(scope: Construct, id: string, props: SqsTaskTriggerProps) {
    super(scope, id);
    const b = TRIGGER_BOUNDS;
    const functionName = props.taskFunction.functionName;
    const problems = [...checkTaskTriggerProps(props, b.sqsBatchSize)];
    const taskIdSource = props.taskIdSource ?? 'messageId';
    const source = checkTaskIdSource(taskIdSource);
    if (source) problems.push(source);
    const concurrency = checkRange('maxConcurrency', knownNumber(props.maxConcurrency), b.sqsMaxConcurrency);
    if (concurrency) problems.push(concurrency);

    const batchSize = knownNumber(props.batchSize);
    const window = knownSeconds(props.maxBatchingWindow);
    if (batchSize !== undefined && batchSize > 10 && props.maxBatchingWindow?.isUnresolved() !== true && (window ?? 0) < 1) {
      problems.push(
        `maxBatchingWindow must be at least 1s when batchSize is over 10 (given batchSize ${batchSize} and ${window === undefined ? 'no window' : `a window of ${window}s`})`,
      );
    }
    if (props.queue.fifo) {
      if (props.maxBatchingWindow !== undefined) problems.push('maxBatchingWindow is not supported for a FIFO queue (given one)');
      if (batchSize !== undefined && batchSize > 10)
        problems.push(`batchSize must be between 1 and 10 inclusive for a FIFO queue (given ${batchSize})`);
    }
    // Lambda refuses a mapping whose function may run longer than the queue hides a message.
    const timeout = props.timeout ?? Duration.seconds(30);
    const timeoutSeconds = knownSeconds(timeout);
    const visibility = visibilityTimeoutSeconds(props.queue);
    if (timeoutSeconds !== undefined && visibility !== undefined && timeoutSeconds > visibility) {
      problems.push(
        `timeout (${timeoutSeconds}s) must not exceed the visibility timeout of queue ${props.queue.node.path} (${visibility}s): Lambda refuses the mapping; raise the queue's visibilityTimeout or lower timeout`,
      );
    }
    if (problems.length > 0) throw triggerPropsError(this, 'SQS', functionName, problems);

    this.mode = props.mode ?? 'record';
    this.taskIdSource = taskIdSource;
    this.function = createTriggerFunction(this, {
      ...props,
      mode: this.mode,
      description: `asynctask trigger: SQS messages become tasks of '${functionName}'`,
      timeout,
      environment: { [TRIGGER_ENV.taskIdSource]: taskIdSource },
    });
    this.function.addEventSource(
      new sources.SqsEventSource(props.queue, {
        batchSize: props.batchSize ?? b.sqsBatchSize.default,
        maxBatchingWindow: props.maxBatchingWindow,
        maxConcurrency: props.maxConcurrency,
        reportBatchItemFailures: true,
      }),
    );
    props.taskFunction.addTrigger({
      type: 'sqs',
      queueArn: props.queue.queueArn,
      batchSize: props.batchSize ?? b.sqsBatchSize.default,
      mode: this.mode,
    });
  }
}

/** The queue's visibility timeout when this app defines the queue and it is known; undefined otherwise. */
function visibilityTimeoutSeconds(queue: sqs.IQueue): number | undefined {
  if (!(queue instanceof sqs.Queue)) return undefined;
  const cfn = queue.node.defaultChild as sqs.CfnQueue;
  const value = cfn.visibilityTimeout;
  if (value === undefined) return DEFAULT_VISIBILITY_TIMEOUT_SECONDS;
  return Token.isUnresolved(value) ? undefined : value;
}
