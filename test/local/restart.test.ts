import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DynamoDBClient, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { CloudWatchLogsClient, FilterLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { ReceiveMessageCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { startRuntime } from '../../local/runtime';
import { synthFixture } from './fixture';

const credentials = { accessKeyId: 'x', secretAccessKey: 'x' };

test('with a data dir, items, logs, queue messages and S3 objects survive a restart and resources are re-created idempotently', async () => {
  const cdkOut = synthFixture();
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'asynctask-data-'));
  try {
    let rt = await startRuntime({ cdkOut, port: 0, dataDir, log: () => undefined });
    let cfg = { endpoint: rt.endpoint, region: 'us-east-1', credentials };
    let ddb = new DynamoDBClient(cfg);
    await ddb.send(new PutItemCommand({ TableName: rt.outputs.TableName, Item: { pk: { S: 'keep' }, sk: { S: '1' } } }));
    const lambda = new LambdaClient(cfg);
    const r = await lambda.send(new InvokeCommand({ FunctionName: rt.outputs.FunctionName, Payload: '{"persist":true}' }));
    const requestId = JSON.parse(Buffer.from(r.Payload ?? []).toString()).requestId;
    lambda.destroy();
    const sqs = new SQSClient(cfg);
    await sqs.send(new SendMessageCommand({ QueueUrl: rt.outputs.QueueUrl, MessageBody: 'survivor' }));
    sqs.destroy();
    const s3 = new S3Client({ ...cfg, forcePathStyle: true });
    await s3.send(
      new PutObjectCommand({
        Bucket: rt.outputs.BucketName,
        Key: 'results/a b.json',
        Body: '{"kept":true}',
        ContentType: 'application/json',
      }),
    );
    s3.destroy();
    ddb.destroy();
    await rt.stop();

    rt = await startRuntime({ cdkOut, port: 0, dataDir, log: () => undefined });
    cfg = { endpoint: rt.endpoint, region: 'us-east-1', credentials };
    ddb = new DynamoDBClient(cfg);
    const got = await ddb.send(new GetItemCommand({ TableName: rt.outputs.TableName, Key: { pk: { S: 'keep' }, sk: { S: '1' } } }));
    expect(got.Item?.pk.S).toBe('keep');
    const logs = new CloudWatchLogsClient(cfg);
    const fn = rt.lambdaFunctions[0];
    const found = await logs.send(new FilterLogEventsCommand({ logGroupName: fn.logGroupName, filterPattern: `"${requestId}"` }));
    expect(found.events?.some((e) => e.message?.includes('"persist":true'))).toBe(true);
    logs.destroy();
    const sqs2 = new SQSClient(cfg);
    const m = await sqs2.send(new ReceiveMessageCommand({ QueueUrl: rt.outputs.QueueUrl, WaitTimeSeconds: 1 }));
    expect(m.Messages?.map((x) => x.Body)).toEqual(['survivor']);
    sqs2.destroy();
    const s32 = new S3Client({ ...cfg, forcePathStyle: true });
    const o = await s32.send(new GetObjectCommand({ Bucket: rt.outputs.BucketName, Key: 'results/a b.json' }));
    expect(await o.Body?.transformToString()).toBe('{"kept":true}');
    expect(o.ContentType).toBe('application/json');
    s32.destroy();
    ddb.destroy();
    await rt.stop();
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(cdkOut, { recursive: true, force: true });
  }
}, 60_000);
