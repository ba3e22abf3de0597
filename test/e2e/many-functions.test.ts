/**
 * A hundred task functions from many stacks, on the local runtime: the app of test/constructs/many-functions-app.ts — a
 * service in its own stack and ten team stacks adding 100 task functions (Lambda and container in
 * turn), each with an SQS success and failure queue in its team's stack — synthesized as
 * `cdk synth` does (cdk.json's context, bundling on), run whole (every stack, in dependency
 * order), and a task of the 100th function submitted through the SDK: it succeeds and its record
 * lands in its success queue. The Lambda functions are inline, so only the service's three
 * Lambdas are bundled. Synthesis and start-up times are printed with ASYNCTASK_E2E_VERBOSE=1.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { AsyncTaskClient } from '../../client/client';
import type { TaskFunctionDescriptor } from '../../lambda/model/registry';
import { type LocalRuntime, startRuntime } from '../../local/runtime';
import { SERVICE_STACK_ID } from '../constructs/many-functions-app';
import { DestinationReader, LOCAL_CREDENTIALS, PROJECT_ROOT, REGION, runtimeLog, tempDir } from './harness';
import { synthesize } from './synth';

const SYNTH_TIMEOUT_MS = 4 * 60_000;

const workDir = tempDir('many-functions-work');
let rt: LocalRuntime;
let client: AsyncTaskClient;
let sqs: SQSClient;
let destinations: DestinationReader;

beforeAll(async () => {
  const started = Date.now();
  const cdkOut = await synthesize('manyFunctions');
  const synthesized = Date.now();
  rt = await startRuntime({ cdkOut, port: 0, workDir, projectRoot: PROJECT_ROOT, log: runtimeLog });
  runtimeLog(`many-functions: synth ${synthesized - started} ms, runtime start ${Date.now() - synthesized} ms`);
  // The SDK finds the TaskApi as on AWS: through the service stack's TaskApiFunctionName output.
  client = new AsyncTaskClient({ endpoint: rt.endpoint, stack: SERVICE_STACK_ID, region: REGION });
  sqs = new SQSClient({ endpoint: rt.endpoint, region: REGION, credentials: LOCAL_CREDENTIALS });
  destinations = new DestinationReader(sqs);
}, SYNTH_TIMEOUT_MS + 60_000);

afterAll(async () => {
  client?.lambda.destroy();
  client?.cloudFormation.destroy();
  sqs?.destroy();
  await rt?.stop();
  fs.rmSync(workDir, { recursive: true, force: true });
}, 30_000);

/** The n-th task function (1-based) in the app's order: team by team, function by function. */
function nth(n: number): TaskFunctionDescriptor {
  const team = Math.ceil(n / 10);
  const name = `team${String(team).padStart(2, '0')}-fn${String(n - (team - 1) * 10).padStart(2, '0')}`;
  const fn = rt.functions.find((f) => f.name === name);
  if (!fn) throw new Error(`no task function '${name}' in the runtime (it has ${rt.functions.length})`);
  return fn;
}

function successQueueOf(fn: TaskFunctionDescriptor): string {
  if (fn.onSuccess?.type !== 'sqs' || !fn.onSuccess.url) {
    throw new Error(`task function '${fn.name}' has no SQS success destination (given ${JSON.stringify(fn.onSuccess)})`);
  }
  return fn.onSuccess.url;
}

test('every stack loads, the service first, and the service sees all 100 task functions of the team stacks', () => {
  const teams = Array.from({ length: 10 }, (_, i) => `Team${String(i + 1).padStart(2, '0')}`);
  expect(rt.stacks.map((s) => s.stackName)).toEqual([SERVICE_STACK_ID, ...teams]);
  expect(rt.stacks.slice(1).every((s) => s.dependencies.includes(SERVICE_STACK_ID))).toBe(true);
  expect(rt.services.map((s) => s.stackName)).toEqual([SERVICE_STACK_ID]);
  expect(rt.services[0].taskApiFunctionName).toMatch(new RegExp(`^${SERVICE_STACK_ID}-ServiceTaskApi`));
  expect(rt.functions).toHaveLength(100);
  expect(rt.functions.filter((f) => f.kind === 'container')).toHaveLength(50);
  // Each function's destinations are its own team's queues.
  expect(successQueueOf(nth(100))).toMatch(/\/000000000000\/Team10-Fn10SuccessQueue/);
});

test('a task of the 100th function (a container) succeeds and its record lands in its success queue', async () => {
  const fn = nth(100);
  expect(fn.kind).toBe('container');
  // Its worker (containers/python/worker.py) analyses a MySQL slow-query log read from S3.
  const bucket = rt.model.buckets[0]?.name;
  expect(bucket).toBeDefined();
  const s3 = new S3Client({ endpoint: rt.endpoint, region: REGION, credentials: LOCAL_CREDENTIALS, forcePathStyle: true });
  try {
    await s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: 'logs/slow-query.log',
        Body: fs.readFileSync(path.join(PROJECT_ROOT, 'test', 'fixtures', 'slow-query.log')),
      }),
    );
  } finally {
    s3.destroy();
  }
  await client.submit({ functionName: fn.name, taskId: 'hundredth-1', payload: { bucket, object: 'logs/slow-query.log' } });
  const task = await client.waitFor(fn.name, 'hundredth-1', { pollIntervalMs: 250, timeoutMs: 90_000 });
  expect(task.status).toBe('Succeeded');
  expect(task.returnPayload).toMatchObject({ entries: expect.any(Number), report: { bucket } });
  const records = await destinations.waitFor(successQueueOf(fn), 'hundredth-1');
  expect(records).toHaveLength(1);
  expect(records[0].requestContext).toMatchObject({ condition: 'Success', taskId: 'hundredth-1' });
}, 120_000);

test('a task of the 99th function (a Lambda function) succeeds and its record lands in its success queue', async () => {
  const fn = nth(99);
  expect(fn.kind).toBe('lambda');
  await client.submit({ functionName: fn.name, taskId: 'ninety-ninth-1', payload: { n: 99 } });
  const task = await client.waitFor(fn.name, 'ninety-ninth-1', { pollIntervalMs: 250, timeoutMs: 30_000 });
  expect(task).toMatchObject({ status: 'Succeeded', returnPayload: { echo: { n: 99 } } });
  const records = await destinations.waitFor(successQueueOf(fn), 'ninety-ninth-1');
  expect(records).toHaveLength(1);
  expect(records[0].requestContext).toMatchObject({ condition: 'Success', taskId: 'ninety-ninth-1' });
}, 60_000);
