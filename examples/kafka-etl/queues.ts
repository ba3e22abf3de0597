/**
 * Shows what the Kafka ETL example delivered: the records on `etl`'s success queue (processed
 * batches), its failure queue (failed or stopped tasks, the dead-letter queue) and the trigger's
 * quarantine queue (records that could not become tasks), one line each, read from the stack's
 * outputs. Locally (`ASYNCTASK_ENDPOINT` set, as for the CLI) or on AWS (your AWS configuration).
 *
 *   npx tsx examples/kafka-etl/queues.ts [--stack AsyncTaskDemo] [--drain]
 *
 * Without `--drain` the messages are only looked at (received with a zero visibility timeout);
 * with it they are deleted once shown.
 */
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { DeleteMessageCommand, type Message, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DEFAULT_STACK, ENDPOINT_ENV, LOCAL_CREDENTIALS, LOCAL_REGION } from '../../client/defaults';
import type { DestinationRecord, QuarantineRecord, TaskSource } from '../../lambda/model';

const QUEUES = [
  ['EtlSuccessQueueUrl', 'success'],
  ['EtlFailureQueueUrl', 'failure (dead-letter)'],
  ['EtlQuarantineQueueUrl', 'quarantine'],
] as const;

function option(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function describeSource(source: TaskSource | null | undefined): string {
  if (!source) return '-';
  if (source.type === 'kafka') return `${source.topic}/${source.partition} offsets ${source.firstOffset}–${source.lastOffset}`;
  return `sqs ${source.messageIds.join(', ')}`;
}

function describe(body: string): string {
  let message: Partial<DestinationRecord & QuarantineRecord>;
  try {
    message = JSON.parse(body) as typeof message;
  } catch {
    return `(not JSON) ${body.slice(0, 120)}`;
  }
  if (message.reason !== undefined && message.trigger) {
    return `quarantined ${describeSource(message.trigger.source)}: ${message.reason}`;
  }
  const context = message.requestContext;
  if (!context) return body.slice(0, 160);
  const response = message.responsePayload as { processed?: number; errorMessage?: string } | null | undefined;
  const outcome =
    context.condition === 'Success' ? `${response?.processed ?? '?'} records processed` : (response?.errorMessage ?? context.condition);
  const source = (context as { source?: TaskSource | null }).source;
  return `${context.condition} ${context.taskId} (${describeSource(source)}): ${outcome}`;
}

/** Every message now on the queue, each once (a zero visibility timeout leaves them there). */
async function readAll(sqs: SQSClient, url: string, drain: boolean): Promise<Message[]> {
  const seen = new Map<string, Message>();
  for (let idle = 0; idle < 3; ) {
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 0, VisibilityTimeout: drain ? 30 : 0 }),
    );
    const fresh = Messages.filter((m) => m.MessageId && !seen.has(m.MessageId));
    for (const m of fresh) {
      seen.set(m.MessageId as string, m);
      if (drain) await sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: m.ReceiptHandle }));
    }
    idle = fresh.length === 0 ? idle + 1 : 0;
  }
  return [...seen.values()];
}

async function main(): Promise<void> {
  // As the CLI does: the SDK's multi-line Node.js 20 notice would bury the output.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const stack = option('--stack') ?? DEFAULT_STACK;
  const drain = process.argv.includes('--drain');
  const endpoint = process.env[ENDPOINT_ENV];
  const config = endpoint
    ? {
        endpoint,
        region: process.env.AWS_REGION ?? LOCAL_REGION,
        ...(process.env.AWS_ACCESS_KEY_ID ? {} : { credentials: LOCAL_CREDENTIALS }),
      }
    : {};
  const cfn = new CloudFormationClient(config);
  const sqs = new SQSClient(config);
  const { Stacks = [] } = await cfn.send(new DescribeStacksCommand({ StackName: stack }));
  const outputs = new Map((Stacks[0]?.Outputs ?? []).map((o) => [o.OutputKey, o.OutputValue]));
  for (const [output, label] of QUEUES) {
    const url = outputs.get(output);
    if (!url) {
      process.stdout.write(`${label}: stack ${stack} has no output ${output}\n`);
      continue;
    }
    const messages = await readAll(sqs, url, drain);
    process.stdout.write(`${label} queue: ${messages.length} message(s)\n`);
    for (const m of messages) process.stdout.write(`  ${describe(m.Body ?? '')}\n`);
  }
  cfn.destroy();
  sqs.destroy();
}

main().catch((error: unknown) => {
  process.stderr.write(`queues: ${(error as Error).message}\n`);
  process.exitCode = 1;
});
