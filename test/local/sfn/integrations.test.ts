/** S3 / SQS / SNS / EventBridge / Lambda service integrations against a real fauxqs (SQS, SNS, S3). */
import { type ChildProcess, spawn } from 'node:child_process';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateTopicCommand, SNSClient } from '@aws-sdk/client-sns';
import { CreateQueueCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { StepFunctionsService } from '../../../local/sfn/service';
import { type FakeEvents, FakeLambda, history, makeService, REGION, startAndWait } from './helpers';

let fauxqs: ChildProcess;
let endpoint: string;
let svc: StepFunctionsService;
let events: FakeEvents;
let lambda: FakeLambda;
let queueUrl: string;
let topicArn: string;
const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };

beforeAll(async () => {
  // fauxqs is ESM-only: run it in its own process.
  fauxqs = spawn(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      "const { startFauxqs } = await import('fauxqs'); const s = await startFauxqs({ port: 0, logger: false }); console.log(JSON.stringify({ address: s.address }));",
    ],
    { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'inherit'] },
  );
  endpoint = await new Promise<string>((resolve, reject) => {
    let buf = '';
    fauxqs.stdout?.on('data', (d) => {
      buf += String(d);
      const m = /\{"address":"([^"]+)"\}/.exec(buf);
      if (m) resolve(m[1]);
    });
    fauxqs.once('exit', (code) => reject(new Error(`fauxqs exited ${code}`)));
  });
  const s3 = new S3Client({ endpoint, region: REGION, credentials, forcePathStyle: true });
  await s3.send(new CreateBucketCommand({ Bucket: 'results' }));
  await s3.send(new PutObjectCommand({ Bucket: 'results', Key: 'results/fn/t1/r1/1.json', Body: JSON.stringify({ rows: 42 }) }));
  s3.destroy();
  const sqs = new SQSClient({ endpoint, region: REGION, credentials });
  queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: 'on-success' }))).QueueUrl as string;
  sqs.destroy();
  const sns = new SNSClient({ endpoint, region: REGION, credentials });
  topicArn = (await sns.send(new CreateTopicCommand({ Name: 'on-success' }))).TopicArn as string;
  sns.destroy();

  lambda = new FakeLambda({ echo: (p) => ({ echoed: p }) });
  ({ svc, events } = makeService({
    endpoint,
    lambda,
    machines: {
      deliver: {
        StartAt: 'LoadResult',
        States: {
          LoadResult: {
            Type: 'Task',
            Resource: 'arn:aws:states:::aws-sdk:s3:getObject',
            Parameters: {
              Bucket: 'results',
              'Key.$': "States.Format('results/{}/{}/{}/{}.json', $.fn, $.taskId, $.requestId, $.attempt)",
            },
            ResultSelector: { 'payload.$': 'States.StringToJson($.Body)' },
            ResultPath: '$.result',
            Next: 'LoadMissing',
          },
          LoadMissing: {
            Type: 'Task',
            Resource: 'arn:aws:states:::aws-sdk:s3:getObject',
            Parameters: { Bucket: 'results', Key: 'results/none.json' },
            Catch: [{ ErrorEquals: ['S3.NoSuchKeyException'], ResultPath: '$.missing', Next: 'ToQueue' }],
            ResultPath: '$.missing',
            Next: 'ToQueue',
          },
          ToQueue: {
            Type: 'Task',
            Resource: 'arn:aws:states:::sqs:sendMessage',
            Parameters: { QueueUrl: queueUrl, 'MessageBody.$': '$.result.payload' },
            ResultSelector: { 'id.$': '$.MessageId' },
            ResultPath: '$.sqs',
            Next: 'ToTopic',
          },
          ToTopic: {
            Type: 'Task',
            Resource: 'arn:aws:states:::sns:publish',
            Parameters: { TopicArn: topicArn, 'Message.$': '$.result.payload' },
            ResultSelector: { 'id.$': '$.MessageId' },
            ResultPath: '$.sns',
            Next: 'ToBus',
          },
          ToBus: {
            Type: 'Task',
            Resource: 'arn:aws:states:::events:putEvents',
            Parameters: {
              Entries: [{ EventBusName: 'tasks', Source: 'asynctask', DetailType: 'Task Succeeded', 'Detail.$': '$.result.payload' }],
            },
            ResultPath: '$.bus',
            Next: 'ToLambdaAsync',
          },
          ToLambdaAsync: {
            Type: 'Task',
            Resource: 'arn:aws:states:::lambda:invoke',
            Parameters: { FunctionName: 'echo', InvocationType: 'Event', 'Payload.$': '$.result.payload' },
            ResultPath: '$.async',
            Next: 'PlainFunction',
          },
          PlainFunction: {
            Type: 'Task',
            Resource: 'arn:aws:lambda:us-east-1:000000000000:function:echo',
            ResultPath: '$.fn',
            End: true,
          },
        },
      },
    },
  }));
});

afterAll(async () => {
  await svc?.close();
  if (fauxqs && fauxqs.exitCode === null) {
    const exited = new Promise((r) => fauxqs.once('exit', r));
    fauxqs.kill('SIGKILL');
    await exited;
  }
  fauxqs?.stdout?.destroy();
});

test('getObject (Body as text), NoSuchKey, sendMessage, publish, putEvents, async invoke and a function ARN', async () => {
  const d = await startAndWait(svc, 'deliver', { fn: 'fn', taskId: 't1', requestId: 'r1', attempt: 1 });
  expect([d.status, d.error, d.cause]).toEqual(['SUCCEEDED', undefined, undefined]);
  const out = JSON.parse(d.output ?? '{}');
  expect(out.result).toEqual({ payload: { rows: 42 } });
  expect(out.missing.Error).toBe('S3.NoSuchKeyException');
  expect(out.sqs.id).toEqual(expect.any(String));
  expect(out.sns.id).toEqual(expect.any(String));
  expect(out.bus).toMatchObject({ FailedEntryCount: 0, Entries: [{ EventId: expect.any(String) }] });
  expect(out.async).toMatchObject({ StatusCode: 202 });
  expect(out.fn.echoed).toMatchObject({ taskId: 't1', result: { payload: { rows: 42 } }, async: { StatusCode: 202 } });

  const sqs = new SQSClient({ endpoint, region: REGION, credentials });
  const got = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, WaitTimeSeconds: 1 }));
  sqs.destroy();
  expect(JSON.parse(got.Messages?.[0]?.Body ?? 'null')).toEqual({ rows: 42 });

  const onBus = events.events.filter((e) => e.bus === 'tasks');
  expect(onBus).toHaveLength(1);
  expect(onBus[0].event).toMatchObject({ source: 'asynctask', 'detail-type': 'Task Succeeded', detail: { rows: 42 } });
  expect(lambda.calls.map((c) => c.type)).toEqual(['Event', 'RequestResponse']);

  const h = await history(svc, d.executionArn);
  expect(
    h.filter((e) => e.type === 'TaskScheduled').map((e) => (e.taskScheduledEventDetails as { resourceType: string }).resourceType),
  ).toEqual(['aws-sdk:s3', 'aws-sdk:s3', 'sqs', 'sns', 'events', 'lambda']);
  expect(h.filter((e) => String(e.type).startsWith('LambdaFunction')).map((e) => e.type)).toEqual([
    'LambdaFunctionScheduled',
    'LambdaFunctionStarted',
    'LambdaFunctionSucceeded',
  ]);
});
