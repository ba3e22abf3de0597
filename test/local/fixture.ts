/** A tiny synthesized stack for the local runtime tests (no bundling: inline Lambda code). */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { App, CfnOutput, Duration, Stack } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as destinations from 'aws-cdk-lib/aws-lambda-destinations';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subs from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';

export const STACK = 'LocalFixture';

const HANDLER = `
const { DynamoDBClient, PutItemCommand } = require('@aws-sdk/client-dynamodb');
let ddb;
exports.handler = async (event, context) => {
  console.log('got', JSON.stringify(event));
  if (event && event.fail) throw new TypeError('boom: ' + event.fail);
  if (event && event.sleep) await new Promise((r) => setTimeout(r, event.sleep));
  if (event && event.source) {
    ddb = ddb || new DynamoDBClient({});
    await ddb.send(new PutItemCommand({ TableName: process.env.TABLE, Item: { pk: { S: 'event#' + event.id }, sk: { S: event['detail-type'] } } }));
  }
  if (event && Array.isArray(event.Records)) {
    ddb = ddb || new DynamoDBClient({});
    const batchItemFailures = [];
    for (const r of event.Records) {
      if (r.body === 'bad') batchItemFailures.push({ itemIdentifier: r.messageId });
      else await ddb.send(new PutItemCommand({ TableName: process.env.TABLE, Item: { pk: { S: 'rec#' + r.body }, sk: { S: r.eventSource } } }));
    }
    return { batchItemFailures };
  }
  if (event && event.record) {
    ddb = ddb || new DynamoDBClient({});
    await ddb.send(new PutItemCommand({ TableName: process.env.TABLE, Item: { pk: { S: 'rec#' + event.record }, sk: { S: 'x' } } }));
  }
  return { ok: true, table: process.env.TABLE, queue: process.env.QUEUE_URL, requestId: context.awsRequestId, pid: process.pid, execArgv: process.execArgv };
};
`;

/** Synthesizes the fixture into a new temp dir; returns the cdk.out path. */
export function synthFixture(): string {
  const outdir = mkdtempSync(path.join(os.tmpdir(), 'asynctask-fixture-'));
  const app = new App({ outdir });
  const stack = new Stack(app, STACK);
  const table = new dynamodb.Table(stack, 'Items', {
    partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
    sortKey: { name: 'sk', type: dynamodb.AttributeType.STRING },
    billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
    timeToLiveAttribute: 'expiresAt',
  });
  table.addGlobalSecondaryIndex({
    indexName: 'BySk',
    partitionKey: { name: 'sk', type: dynamodb.AttributeType.STRING },
    sortKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
  });
  const dlq = new sqs.Queue(stack, 'Dlq');
  const queue = new sqs.Queue(stack, 'Work', {
    deadLetterQueue: { queue: dlq, maxReceiveCount: 3 },
    visibilityTimeout: Duration.seconds(45),
  });
  const bucket = new s3.Bucket(stack, 'Files');
  const topic = new sns.Topic(stack, 'News');
  topic.addSubscription(new subs.SqsSubscription(dlq, { rawMessageDelivery: true }));
  const fn = new lambda.Function(stack, 'Echo', {
    runtime: lambda.Runtime.NODEJS_22_X,
    handler: 'index.handler',
    code: lambda.Code.fromInline(HANDLER),
    timeout: Duration.seconds(2),
    environment: { TABLE: table.tableName, QUEUE_URL: queue.queueUrl, BUCKET: bucket.bucketName },
  });
  const inboxDlq = new sqs.Queue(stack, 'InboxDlq');
  const inbox = new sqs.Queue(stack, 'Inbox', {
    visibilityTimeout: Duration.seconds(2),
    deadLetterQueue: { queue: inboxDlq, maxReceiveCount: 2 },
  });
  fn.addEventSource(new SqsEventSource(inbox, { batchSize: 5, reportBatchItemFailures: true }));
  new CfnOutput(stack, 'InboxUrl', { value: inbox.queueUrl });
  new CfnOutput(stack, 'InboxDlqUrl', { value: inboxDlq.queueUrl });
  new events.Rule(stack, 'OnThing', {
    eventPattern: { source: ['my.app'], detailType: ['Thing Happened'], detail: { kind: [{ prefix: 'ok' }] } },
    targets: [new targets.LambdaFunction(fn)],
  });
  new events.Rule(stack, 'Tick', { schedule: events.Schedule.rate(Duration.minutes(1)), targets: [new targets.LambdaFunction(fn)] });
  // Asynchronous invocation records to an EventBridge bus (Lambda's destination event), routed to a queue.
  const results = new sqs.Queue(stack, 'AsyncResults');
  const notifier = new lambda.Function(stack, 'Notifier', {
    runtime: lambda.Runtime.NODEJS_22_X,
    handler: 'index.handler',
    code: lambda.Code.fromInline(HANDLER),
    timeout: Duration.seconds(2),
    environment: { TABLE: table.tableName },
  });
  const bus = events.EventBus.fromEventBusName(stack, 'DefaultBus', 'default');
  notifier.configureAsyncInvoke({
    retryAttempts: 0,
    onSuccess: new destinations.EventBridgeDestination(bus),
    onFailure: new destinations.EventBridgeDestination(bus),
  });
  new events.Rule(stack, 'OnAsyncResult', {
    eventPattern: { source: ['lambda'], detailType: [{ prefix: 'Lambda Function Invocation Result' }] as unknown as string[] },
    targets: [new targets.SqsQueue(results)],
  });
  new CfnOutput(stack, 'NotifierName', { value: notifier.functionName });
  new CfnOutput(stack, 'AsyncResultsUrl', { value: results.queueUrl });
  new CfnOutput(stack, 'TableName', { value: table.tableName });
  new CfnOutput(stack, 'QueueUrl', { value: queue.queueUrl });
  new CfnOutput(stack, 'BucketName', { value: bucket.bucketName });
  new CfnOutput(stack, 'FunctionName', { value: fn.functionName });
  new CfnOutput(stack, 'FunctionArn', { value: fn.functionArn });
  new CfnOutput(stack, 'TopicArn', { value: topic.topicArn });
  new CfnOutput(stack, 'DlqUrl', { value: dlq.queueUrl });
  app.synth();
  return outdir;
}
