/**
 * Lambda event source mappings, locally: an in-process poller per SQS mapping that receives
 * batches, invokes the function with Lambda's `aws:sqs` event and deletes what succeeded (all
 * of the batch, or all but the `batchItemFailures` with ReportBatchItemFailures). A failed batch
 * stays in the queue: it comes back after the visibility timeout and reaches the queue's
 * dead-letter queue after `maxReceiveCount` receives, as on AWS. Kafka sources are not polled.
 */
import { DeleteMessageBatchCommand, type Message, ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { LocalEventSourceMapping } from './template';
import { type LambdaInvoker, LOCAL_ACCOUNT, LOCAL_REGION } from './types';

export interface SqsRecord {
  messageId: string;
  receiptHandle: string;
  body: string;
  attributes: Record<string, string>;
  messageAttributes: Record<
    string,
    { stringValue?: string; binaryValue?: string; stringListValues: string[]; binaryListValues: string[]; dataType: string }
  >;
  md5OfBody: string;
  eventSource: 'aws:sqs';
  eventSourceARN: string;
  awsRegion: string;
}

export function sqsRecord(m: Message, queueArn: string): SqsRecord {
  return {
    messageId: m.MessageId ?? '',
    receiptHandle: m.ReceiptHandle ?? '',
    body: m.Body ?? '',
    attributes: { ...(m.Attributes ?? {}) } as Record<string, string>,
    messageAttributes: Object.fromEntries(
      Object.entries(m.MessageAttributes ?? {}).map(([k, v]) => [
        k,
        {
          ...(v.StringValue !== undefined ? { stringValue: v.StringValue } : {}),
          ...(v.BinaryValue !== undefined ? { binaryValue: Buffer.from(v.BinaryValue).toString('base64') } : {}),
          stringListValues: v.StringListValues ?? [],
          binaryListValues: (v.BinaryListValues ?? []).map((b) => Buffer.from(b).toString('base64')),
          dataType: v.DataType ?? 'String',
        },
      ]),
    ),
    md5OfBody: m.MD5OfBody ?? '',
    eventSource: 'aws:sqs',
    eventSourceARN: queueArn,
    awsRegion: LOCAL_REGION,
  };
}

export class SqsPollers {
  private running = false;
  private readonly loops: Promise<void>[] = [];

  public constructor(
    private readonly deps: {
      readonly mappings: readonly LocalEventSourceMapping[];
      readonly sqs: SQSClient;
      readonly lambda: LambdaInvoker;
      /** Queue URL of a queue ARN. */
      readonly queueUrl: (arn: string) => string;
      readonly warn: (message: string) => void;
    },
  ) {}

  public start(): void {
    if (this.running) return;
    this.running = true;
    for (const m of this.deps.mappings) {
      if (m.enabled && m.eventSourceArn?.startsWith('arn:aws:sqs:')) this.loops.push(this.loop(m, m.eventSourceArn));
    }
  }

  private async loop(m: LocalEventSourceMapping, arn: string): Promise<void> {
    const QueueUrl = this.deps.queueUrl(arn);
    let failures = 0;
    while (this.running) {
      try {
        const got = await this.deps.sqs.send(
          new ReceiveMessageCommand({
            QueueUrl,
            MaxNumberOfMessages: Math.min(10, Math.max(1, m.batchSize)),
            WaitTimeSeconds: 1,
            MessageSystemAttributeNames: ['All'],
            MessageAttributeNames: ['All'],
          }),
        );
        failures = 0;
        const messages = got.Messages ?? [];
        if (messages.length === 0 || !this.running) continue;
        const result = await this.deps.lambda.invoke(m.functionName, { Records: messages.map((x) => sqsRecord(x, arn)) });
        if (result.functionError) continue; // the batch comes back after its visibility timeout
        let done = messages;
        const failed = (result.payload as { batchItemFailures?: { itemIdentifier?: string }[] } | null)?.batchItemFailures;
        if (m.reportBatchItemFailures && Array.isArray(failed)) {
          const ids = new Set(failed.map((f) => f.itemIdentifier));
          done = messages.filter((x) => !ids.has(x.MessageId));
        }
        if (done.length > 0) {
          await this.deps.sqs.send(
            new DeleteMessageBatchCommand({
              QueueUrl,
              Entries: done.map((x, i) => ({ Id: String(i), ReceiptHandle: x.ReceiptHandle ?? '' })),
            }),
          );
        }
      } catch (error) {
        if (!this.running) return;
        failures++;
        if (failures === 1) {
          this.deps.warn(`event source ${m.logicalId} (${arn} → ${m.functionName}): ${(error as Error).name}: ${(error as Error).message}`);
        }
        await new Promise((r) => setTimeout(r, Math.min(5000, 200 * failures)));
      }
    }
  }

  public async close(): Promise<void> {
    this.running = false;
    await Promise.allSettled(this.loops);
  }
}

/** `arn:aws:sqs:<region>:<account>:<name>` → the edge URL of that queue. */
export function queueUrlOf(endpoint: string, arn: string): string {
  const parts = arn.split(':');
  return `${endpoint}/${parts[4] || LOCAL_ACCOUNT}/${parts[5] ?? ''}`;
}
