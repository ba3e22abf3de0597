import { rmSync } from 'node:fs';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { CloudWatchLogsClient, FilterLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { DynamoDBClient, GetItemCommand, PutItemCommand, QueryCommand } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { GetQueueAttributesCommand, ReceiveMessageCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { WORKER_EXEC_ARGV } from '../../local/lambda';
import { type LocalRuntime, startRuntime } from '../../local/runtime';
import { STACK, synthFixture } from './fixture';

const credentials = { accessKeyId: 'x', secretAccessKey: 'x' };
let cdkOut: string;
let rt: LocalRuntime;
let cfg: { endpoint: string; region: string; credentials: typeof credentials };
const warnings: string[] = [];

beforeAll(async () => {
  cdkOut = synthFixture();
  rt = await startRuntime({ cdkOut, port: 0, ttlIntervalMs: 60_000, log: (m) => warnings.push(m) });
  cfg = { endpoint: rt.endpoint, region: 'us-east-1', credentials };
});
afterAll(async () => {
  await rt?.stop();
  rmSync(cdkOut, { recursive: true, force: true });
});

const decode = (p?: Uint8Array) => JSON.parse(Buffer.from(p ?? []).toString('utf8'));

test('DynamoDB through the edge: table from the template, PutItem/GetItem, conditional failure, GSI query', async () => {
  const ddb = new DynamoDBClient(cfg);
  const TableName = rt.outputs.TableName;
  await ddb.send(
    new PutItemCommand({ TableName, Item: { pk: { S: 'a' }, sk: { S: 's1' } }, ConditionExpression: 'attribute_not_exists(pk)' }),
  );
  const got = await ddb.send(new GetItemCommand({ TableName, Key: { pk: { S: 'a' }, sk: { S: 's1' } } }));
  expect(got.Item?.pk.S).toBe('a');
  await expect(
    ddb.send(new PutItemCommand({ TableName, Item: { pk: { S: 'a' }, sk: { S: 's1' } }, ConditionExpression: 'attribute_not_exists(pk)' })),
  ).rejects.toMatchObject({ name: 'ConditionalCheckFailedException' });
  const q = await ddb.send(
    new QueryCommand({ TableName, IndexName: 'BySk', KeyConditionExpression: 'sk = :s', ExpressionAttributeValues: { ':s': { S: 's1' } } }),
  );
  expect(q.Items?.map((i) => i.pk.S)).toEqual(['a']);
  ddb.destroy();
});

test('SQS through the edge: queue URL output works, redrive policy set', async () => {
  const sqs = new SQSClient(cfg);
  const QueueUrl = rt.outputs.QueueUrl;
  expect(QueueUrl).toBe(`${rt.endpoint}/000000000000/${QueueUrl.split('/').pop()}`);
  await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: 'hello' }));
  const r = await sqs.send(new ReceiveMessageCommand({ QueueUrl, WaitTimeSeconds: 1 }));
  expect(r.Messages?.map((m) => m.Body)).toEqual(['hello']);
  const attrs = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['RedrivePolicy', 'VisibilityTimeout'] }));
  expect(JSON.parse(attrs.Attributes?.RedrivePolicy ?? '{}').maxReceiveCount).toBe(3);
  expect(attrs.Attributes?.VisibilityTimeout).toBe('45');
  sqs.destroy();
});

test('SNS through the edge: the template subscription delivers to its queue', async () => {
  const snsClient = new SNSClient(cfg);
  await snsClient.send(new PublishCommand({ TopicArn: rt.outputs.TopicArn, Message: 'news!' }));
  const sqs = new SQSClient(cfg);
  const r = await sqs.send(new ReceiveMessageCommand({ QueueUrl: rt.outputs.DlqUrl, WaitTimeSeconds: 2 }));
  expect(r.Messages?.map((m) => m.Body)).toEqual(['news!']);
  sqs.destroy();
  snsClient.destroy();
});

test('SQS event source mapping: batches reach the function, partial failures go back and on to the DLQ', async () => {
  const sqs = new SQSClient(cfg);
  await sqs.send(new SendMessageCommand({ QueueUrl: rt.outputs.InboxUrl, MessageBody: 'good1' }));
  await sqs.send(new SendMessageCommand({ QueueUrl: rt.outputs.InboxUrl, MessageBody: 'bad' }));
  const ddb = new DynamoDBClient(cfg);
  await waitFor(async () =>
    Boolean(
      (await ddb.send(new GetItemCommand({ TableName: rt.outputs.TableName, Key: { pk: { S: 'rec#good1' }, sk: { S: 'aws:sqs' } } }))).Item,
    ),
  );
  let dead: string[] = [];
  await waitFor(async () => {
    const r = await sqs.send(new ReceiveMessageCommand({ QueueUrl: rt.outputs.InboxDlqUrl, WaitTimeSeconds: 1 }));
    dead = dead.concat((r.Messages ?? []).map((m) => m.Body ?? ''));
    return dead.length > 0;
  }, 15_000);
  expect(dead).toEqual(['bad']);
  ddb.destroy();
  sqs.destroy();
}, 30_000);

test('S3 through the edge (path-style)', async () => {
  const s3 = new S3Client({ ...cfg, forcePathStyle: true });
  const Bucket = rt.outputs.BucketName;
  await s3.send(new PutObjectCommand({ Bucket, Key: 'dir/a.json', Body: '{"x":1}' }));
  const o = await s3.send(new GetObjectCommand({ Bucket, Key: 'dir/a.json' }));
  expect(await o.Body?.transformToString()).toBe('{"x":1}');
  s3.destroy();
  // what Lambda code gets by default (AWS_ENDPOINT_URL, no forcePathStyle): an IP endpoint is path-style too
  const plain = new S3Client(cfg);
  const p = await plain.send(new GetObjectCommand({ Bucket, Key: 'dir/a.json' }));
  expect(await p.Body?.transformToString()).toBe('{"x":1}');
  plain.destroy();
});

test('Lambda Invoke: result with the resolved environment, function error, Event type, timeout, unknown function', async () => {
  const lambda = new LambdaClient(cfg);
  const FunctionName = rt.outputs.FunctionName;
  const ok = await lambda.send(new InvokeCommand({ FunctionName, Payload: JSON.stringify({ hi: 1 }) }));
  expect(ok.StatusCode).toBe(200);
  expect(ok.FunctionError).toBeUndefined();
  expect(ok.ExecutedVersion).toBe('$LATEST');
  const body = decode(ok.Payload);
  expect(body).toMatchObject({ ok: true, table: rt.outputs.TableName, queue: rt.outputs.QueueUrl });
  expect(ok.$metadata.requestId).toBe(body.requestId);

  const failed = await lambda.send(new InvokeCommand({ FunctionName: rt.outputs.FunctionArn, Payload: JSON.stringify({ fail: 'x' }) }));
  expect(failed.FunctionError).toBe('Unhandled');
  expect(decode(failed.Payload)).toMatchObject({ errorType: 'TypeError', errorMessage: 'boom: x' });
  expect(Array.isArray(decode(failed.Payload).trace)).toBe(true);

  const tail = await lambda.send(new InvokeCommand({ FunctionName, LogType: 'Tail', Payload: '{"tail":1}' }));
  const tailLog = Buffer.from(tail.LogResult ?? '', 'base64').toString('utf8');
  expect(tailLog).toContain('START RequestId:');
  expect(tailLog).toContain('got {"tail":1}');
  const dry = await lambda.send(new InvokeCommand({ FunctionName, InvocationType: 'DryRun' }));
  expect(dry.StatusCode).toBe(204);

  const ev = await lambda.send(new InvokeCommand({ FunctionName, InvocationType: 'Event', Payload: JSON.stringify({ record: 'bg' }) }));
  expect(ev.StatusCode).toBe(202);
  const ddb = new DynamoDBClient(cfg);
  await waitFor(async () =>
    Boolean((await ddb.send(new GetItemCommand({ TableName: rt.outputs.TableName, Key: { pk: { S: 'rec#bg' }, sk: { S: 'x' } } }))).Item),
  );
  ddb.destroy();

  const slow = await lambda.send(new InvokeCommand({ FunctionName, Payload: JSON.stringify({ sleep: 5000 }) }));
  expect(slow.FunctionError).toBe('Unhandled');
  expect(decode(slow.Payload).errorMessage).toMatch(/Task timed out after 2\.00 seconds/);

  await expect(lambda.send(new InvokeCommand({ FunctionName: 'nope' }))).rejects.toMatchObject({
    name: 'ResourceNotFoundException',
    $metadata: { httpStatusCode: 404 },
  });

  // console output landed in the function's log group, findable by request id
  const logs = new CloudWatchLogsClient(cfg);
  const fn = rt.lambdaFunctions.find((f) => f.name === FunctionName);
  const found = await logs.send(new FilterLogEventsCommand({ logGroupName: fn?.logGroupName, filterPattern: `"${body.requestId}"` }));
  const messages = found.events?.map((e) => e.message) ?? [];
  expect(messages.some((m) => m?.includes('got {"hi":1}'))).toBe(true);
  expect(messages.some((m) => m?.startsWith(`REPORT RequestId: ${body.requestId}`))).toBe(true);
  logs.destroy();
  lambda.destroy();
}, 30_000);

test('asynchronous invocation records to an EventBridge bus arrive as Lambda’s destination events', async () => {
  const lambda = new LambdaClient(cfg);
  const sqs = new SQSClient(cfg);
  const FunctionName = rt.outputs.NotifierName;
  await lambda.send(new InvokeCommand({ FunctionName, InvocationType: 'Event', Payload: JSON.stringify({ hi: 'ok' }) }));
  await lambda.send(new InvokeCommand({ FunctionName, InvocationType: 'Event', Payload: JSON.stringify({ fail: 'no' }) }));
  const got: Array<{ source: string; 'detail-type': string; resources: string[]; detail: Record<string, unknown> }> = [];
  await waitFor(async () => {
    const out = await sqs.send(new ReceiveMessageCommand({ QueueUrl: rt.outputs.AsyncResultsUrl, MaxNumberOfMessages: 10 }));
    got.push(...(out.Messages ?? []).map((m) => JSON.parse(m.Body ?? '{}')));
    return got.length >= 2;
  });
  const byType = Object.fromEntries(got.map((e) => [e['detail-type'], e]));
  expect(Object.keys(byType).sort()).toEqual([
    'Lambda Function Invocation Result - Failure',
    'Lambda Function Invocation Result - Success',
  ]);
  const success = byType['Lambda Function Invocation Result - Success'];
  expect(success.source).toBe('lambda');
  expect(success.resources).toEqual([expect.stringMatching(new RegExp(`:function:${FunctionName}:\\$LATEST$`))]);
  expect(success.detail).toMatchObject({
    requestContext: { condition: 'Success' },
    requestPayload: { hi: 'ok' },
    responsePayload: { ok: true },
  });
  expect(byType['Lambda Function Invocation Result - Failure'].detail).toMatchObject({
    requestContext: { condition: 'RetriesExhausted', approximateInvokeCount: 1 },
    requestPayload: { fail: 'no' },
    responsePayload: { errorType: 'TypeError', errorMessage: 'boom: no' },
  });
  sqs.destroy();
  lambda.destroy();
}, 30_000);

test('Lambda pool: a burst of short invocations is served by a few warm processes, not one each', async () => {
  const lambda = new LambdaClient(cfg);
  const results = await Promise.all(
    Array.from({ length: 40 }, (_, i) =>
      lambda.send(new InvokeCommand({ FunctionName: rt.outputs.FunctionName, Payload: JSON.stringify({ i }) })),
    ),
  );
  expect(results.every((r) => !r.FunctionError)).toBe(true);
  // Each took a few ms: they queued for the first worker to free up (a pool that started a
  // process per concurrent invocation, as before, had 8 here).
  expect(new Set(results.map((r) => decode(r.Payload).pid)).size).toBeLessThanOrEqual(4);
  lambda.destroy();
});

test('Lambda pool: concurrent long invocations run in up to 8 warm processes, the rest queue', async () => {
  const lambda = new LambdaClient(cfg);
  const results = await Promise.all(
    Array.from({ length: 12 }, () => lambda.send(new InvokeCommand({ FunctionName: rt.outputs.FunctionName, Payload: '{"sleep":300}' }))),
  );
  const pids = new Set(results.map((r) => decode(r.Payload).pid));
  expect(results.every((r) => !r.FunctionError)).toBe(true);
  expect(pids.size).toBeGreaterThan(1);
  expect(pids.size).toBeLessThanOrEqual(8);
  // Every worker runs with the runtime's Node flags (source maps; V8's own JIT tiering).
  for (const r of results) expect(decode(r.Payload).execArgv).toEqual([...WORKER_EXEC_ARGV]);
  lambda.destroy();
});

test('CloudFormation DescribeStacks returns the resolved outputs; another stack name is a ValidationError', async () => {
  const cfn = new CloudFormationClient(cfg);
  const r = await cfn.send(new DescribeStacksCommand({ StackName: STACK }));
  const outputs = Object.fromEntries((r.Stacks?.[0].Outputs ?? []).map((o) => [o.OutputKey, o.OutputValue]));
  expect(outputs).toEqual(rt.outputs);
  expect(r.Stacks?.[0].StackStatus).toBe('CREATE_COMPLETE');
  await expect(cfn.send(new DescribeStacksCommand({ StackName: 'Other' }))).rejects.toMatchObject({
    name: 'ValidationError',
    message: 'Stack with id Other does not exist',
  });
  cfn.destroy();
});

test('EventBridge PutEvents: a matching event reaches the rule target, a non-matching one does not', async () => {
  const eb = new EventBridgeClient(cfg);
  const r = await eb.send(
    new PutEventsCommand({
      Entries: [
        { Source: 'my.app', DetailType: 'Thing Happened', Detail: JSON.stringify({ kind: 'ok-1' }) },
        { Source: 'my.app', DetailType: 'Thing Happened', Detail: JSON.stringify({ kind: 'bad' }) },
      ],
    }),
  );
  expect(r.FailedEntryCount).toBe(0);
  const [yes, no] = r.Entries?.map((e) => e.EventId) ?? [];
  await rt.events.idle(); // delivered: the target's asynchronous invocations accepted
  await rt.lambda.idle(); // and run
  const ddb = new DynamoDBClient(cfg);
  const get = (id?: string) =>
    ddb.send(new GetItemCommand({ TableName: rt.outputs.TableName, Key: { pk: { S: `event#${id}` }, sk: { S: 'Thing Happened' } } }));
  expect((await get(yes)).Item).toBeDefined();
  expect((await get(no)).Item).toBeUndefined();
  ddb.destroy();
  eb.destroy();
});

test('TTL: expired items are deleted, others stay', async () => {
  const ddb = new DynamoDBClient(cfg);
  const TableName = rt.outputs.TableName;
  const now = Math.floor(Date.now() / 1000);
  await ddb.send(new PutItemCommand({ TableName, Item: { pk: { S: 'ttl' }, sk: { S: 'old' }, expiresAt: { N: String(now - 10) } } }));
  await ddb.send(new PutItemCommand({ TableName, Item: { pk: { S: 'ttl' }, sk: { S: 'new' }, expiresAt: { N: String(now + 3600) } } }));
  expect(await rt.ttl.sweep()).toBeGreaterThanOrEqual(1);
  const get = (sk: string) => ddb.send(new GetItemCommand({ TableName, Key: { pk: { S: 'ttl' }, sk: { S: sk } } }));
  expect((await get('old')).Item).toBeUndefined();
  expect((await get('new')).Item).toBeDefined();
  ddb.destroy();
});

test('an API the runtime does not serve gets an AWS-shaped error quickly', async () => {
  const started = Date.now();
  const res = await fetch(rt.endpoint, {
    method: 'POST',
    headers: { 'x-amz-target': 'Kinesis_20131202.PutRecord', 'content-type': 'application/x-amz-json-1.1' },
    body: '{}',
  });
  expect(res.status).toBe(400);
  expect(await res.json()).toMatchObject({
    __type: 'UnsupportedOperation',
    message: expect.stringContaining('Kinesis_20131202.PutRecord'),
  });
  const q = await fetch(rt.endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'Action=ListUsers&Version=2010-05-08',
  });
  expect(q.status).toBe(400);
  expect(await q.text()).toContain('<Code>UnsupportedOperation</Code>');
  expect(Date.now() - started).toBeLessThan(2000);
});

test('a second runtime on the same port fails with a clear message', async () => {
  await expect(startRuntime({ cdkOut, port: rt.port })).rejects.toThrow(`port ${rt.port} on 127.0.0.1 is already in use`);
});

async function waitFor(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('condition not met in time');
}
