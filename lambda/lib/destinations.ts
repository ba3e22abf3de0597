/**
 * Delivers a destination record (or a trigger's quarantine record) to an SQS queue, SNS topic,
 * EventBridge bus or Lambda function (asynchronously), the four destination types Lambda itself
 * supports.
 */
import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { InvokeCommand } from '@aws-sdk/client-lambda';
import { PublishCommand } from '@aws-sdk/client-sns';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import {
  DESTINATION_DETAIL_TYPE,
  DESTINATION_EVENT_SOURCE,
  type DestinationRecord,
  type DestinationTarget,
  DestinationType,
  type QuarantineRecord,
} from '../model';
import { aws } from './env';

/** Queue URL from a queue ARN (`arn:aws:sqs:region:account:name`), for targets given without `url`. */
export function queueUrlFromArn(arn: string): string {
  const [, partition, , region, account, name] = arn.split(':');
  const suffix = partition === 'aws-cn' ? 'amazonaws.com.cn' : 'amazonaws.com';
  return `https://sqs.${region}.${suffix}/${account}/${name}`;
}

/** Sends the record; throws when the target rejects it. `outcome` picks the EventBridge detail-type. */
export async function deliver(
  target: DestinationTarget,
  record: DestinationRecord | QuarantineRecord,
  outcome: keyof typeof DESTINATION_DETAIL_TYPE,
): Promise<void> {
  const body = JSON.stringify(record);
  switch (target.type) {
    case DestinationType.Sqs:
      await aws.sqs().send(new SendMessageCommand({ QueueUrl: target.url ?? queueUrlFromArn(target.arn), MessageBody: body }));
      return;
    case DestinationType.Sns:
      await aws.sns().send(new PublishCommand({ TopicArn: target.arn, Message: body }));
      return;
    case DestinationType.EventBridge: {
      const result = await aws.events().send(
        new PutEventsCommand({
          Entries: [
            {
              EventBusName: target.arn,
              Source: DESTINATION_EVENT_SOURCE,
              DetailType: DESTINATION_DETAIL_TYPE[outcome],
              Detail: body,
            },
          ],
        }),
      );
      if ((result.FailedEntryCount ?? 0) > 0) {
        const entry = result.Entries?.[0];
        throw new Error(`PutEvents rejected the record: ${entry?.ErrorCode ?? 'unknown'} ${entry?.ErrorMessage ?? ''}`.trim());
      }
      return;
    }
    case DestinationType.Lambda:
      await aws.lambda().send(new InvokeCommand({ FunctionName: target.arn, InvocationType: 'Event', Payload: Buffer.from(body) }));
      return;
    default:
      throw new Error(`unknown destination type '${(target as DestinationTarget).type}'`);
  }
}
