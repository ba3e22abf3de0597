/**
 * SQS event source mappings, locally: pollers per mapping that receive batches as the mapping
 * says (`BatchSize` up to 10,000 through several receives, `MaximumBatchingWindowInSeconds`, the
 * 6 MB payload cap, `ScalingConfig.MaximumConcurrency` batches at once), invoke the function with
 * Lambda's `aws:sqs` event and delete what succeeded (all of the batch, or with
 * ReportBatchItemFailures all but the `batchItemFailures`; an item naming no message of the batch
 * fails the whole batch, as on Lambda). A failed message stays in the queue: it comes back after
 * the visibility timeout and reaches the queue's dead-letter queue after `maxReceiveCount`
 * receives, as on AWS. Kafka sources are polled by ./kafka/poller.ts.
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

const MAX_LOCAL_POLLERS = 16;
/** Receiving stops here: ten more messages of at most 256 KiB stay under Lambda's 6 MB payload. */
const SAFE_BATCH_BYTES = 6 * 1024 * 1024 - 10 * 256 * 1024 - 64 * 1024;

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
      if (!m.enabled || m.kind !== 'sqs' || !m.eventSourceArn) continue;
      // MaximumConcurrency caps the batches in flight; locally one poller each (at most 16), one without it.
      const pollers = Math.min(MAX_LOCAL_POLLERS, m.maximumConcurrency ?? 1);
      for (let i = 0; i < pollers; i++) this.loops.push(this.loop(m, m.eventSourceArn));
    }
  }

  /** Up to BatchSize messages: receives of 10 until full, the window passes, or the payload nears 6 MB. */
  private async receiveBatch(m: LocalEventSourceMapping, QueueUrl: string): Promise<Message[]> {
    const receive = async (max: number, wait: number) =>
      (
        await this.deps.sqs.send(
          new ReceiveMessageCommand({
            QueueUrl,
            MaxNumberOfMessages: Math.min(10, max),
            WaitTimeSeconds: wait,
            MessageSystemAttributeNames: ['All'],
            MessageAttributeNames: ['All'],
          }),
        )
      ).Messages ?? [];
    const messages = await receive(m.batchSize, 1);
    if (messages.length === 0) return messages;
    const deadline = Date.now() + m.maximumBatchingWindowInSeconds * 1000;
    let bytes = messages.reduce((n, x) => n + Buffer.byteLength(x.Body ?? ''), 0);
    while (this.running && messages.length < m.batchSize && bytes < SAFE_BATCH_BYTES) {
      const left = deadline - Date.now();
      // Without a window, only what is there now joins the batch.
      const got = await receive(m.batchSize - messages.length, left >= 1000 ? 1 : 0);
      messages.push(...got);
      bytes += got.reduce((n, x) => n + Buffer.byteLength(x.Body ?? ''), 0);
      if (got.length === 0 && Date.now() >= deadline) break;
    }
    return messages;
  }

  private async loop(m: LocalEventSourceMapping, arn: string): Promise<void> {
    const QueueUrl = this.deps.queueUrl(arn);
    let failures = 0;
    while (this.running) {
      try {
        const messages = await this.receiveBatch(m, QueueUrl);
        failures = 0;
        if (messages.length === 0 || !this.running) continue;
        const result = await this.deps.lambda.invoke(m.functionName, { Records: messages.map((x) => sqsRecord(x, arn)) });
        if (result.functionError) continue; // the batch comes back after its visibility timeout
        let done = messages;
        const failed = (result.payload as { batchItemFailures?: { itemIdentifier?: string }[] } | null)?.batchItemFailures;
        if (m.reportBatchItemFailures && failed !== undefined && failed !== null) {
          const known = new Set(messages.map((x) => x.MessageId));
          const ids = Array.isArray(failed) ? failed.map((f) => f?.itemIdentifier) : [undefined];
          if (ids.some((id) => typeof id !== 'string' || !known.has(id))) {
            this.deps.warn(
              `event source ${m.logicalId} (${arn} → ${m.functionName}): batchItemFailures ${JSON.stringify(failed).slice(0, 200)} names no message of the batch; the whole batch failed, as on Lambda`,
            );
            continue;
          }
          const failedIds = new Set(ids);
          done = messages.filter((x) => !failedIds.has(x.MessageId));
        }
        for (let i = 0; i < done.length; i += 10) {
          await this.deps.sqs.send(
            new DeleteMessageBatchCommand({
              QueueUrl,
              Entries: done.slice(i, i + 10).map((x, j) => ({ Id: String(j), ReceiptHandle: x.ReceiptHandle ?? '' })),
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
