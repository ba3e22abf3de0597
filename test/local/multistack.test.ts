/**
 * The local runtime on a two-stack app of the real constructs (./fixture-multistack.ts): both
 * stacks load in dependency order, the team stack's references to the service stack resolve to
 * its local resources, the service finds the task function the team stack registered,
 * DescribeStacks answers for each stack, and a task submitted through the SDK (which finds the
 * TaskApi through the service stack's outputs) runs the team's function and lands its records in
 * the team's queues.
 */
import { rmSync } from 'node:fs';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { AsyncTaskClient } from '../../client/client';
import type { DestinationRecord } from '../../lambda/model';
import { type LocalRuntime, startRuntime } from '../../local/runtime';
import { TEAM_STACK, SERVICE_STACK, synthMultiStack, TASK_FUNCTION } from './fixture-multistack';

const region = 'us-east-1';
const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };
let cdkOut: string;
let rt: LocalRuntime;
let sqs: SQSClient;
let client: AsyncTaskClient;

beforeAll(async () => {
  cdkOut = synthMultiStack();
  rt = await startRuntime({ cdkOut, port: 0, ttlIntervalMs: 60_000, log: () => undefined });
  sqs = new SQSClient({ endpoint: rt.endpoint, region, credentials });
  client = new AsyncTaskClient({ endpoint: rt.endpoint, stack: SERVICE_STACK, region });
}, 180_000);
afterAll(async () => {
  sqs?.destroy();
  client?.lambda.destroy();
  client?.cloudFormation.destroy();
  await rt?.stop();
  if (cdkOut) rmSync(cdkOut, { recursive: true, force: true });
});

const outputOf = (stack: string, key: string): string => {
  const value = rt.stacks.find((s) => s.stackName === stack)?.outputs[key];
  if (value === undefined) throw new Error(`stack ${stack} has no output ${key} (stacks: ${JSON.stringify(rt.stacks)})`);
  return value;
};

/** Receives from `queueUrl` until a record of `taskId` arrives. */
async function recordOf(queueUrl: string, taskId: string): Promise<DestinationRecord> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const out = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, WaitTimeSeconds: 1, MaxNumberOfMessages: 10 }));
    const record = (out.Messages ?? [])
      .map((m) => JSON.parse(m.Body ?? 'null') as DestinationRecord)
      .find((r) => r.requestContext?.taskId === taskId);
    if (record) return record;
  }
  throw new Error(`no record of task ${taskId} in ${queueUrl} within 20 s`);
}

test('both stacks load, the team stack after the service stack it refers to', () => {
  expect(rt.stacks.map((s) => s.stackName)).toEqual([SERVICE_STACK, TEAM_STACK]);
  expect(rt.stacks[1].dependencies).toEqual([SERVICE_STACK]);
  expect(rt.services).toHaveLength(1);
  expect(rt.services[0]).toMatchObject({ stackName: SERVICE_STACK, registryPath: '/asynctask/multistack/functions/' });
  // The registry parameter is the team stack's; the service reads it.
  expect(rt.model.stacks[1].parameters.map((p) => p.name)).toEqual([`/asynctask/multistack/functions/${TASK_FUNCTION}`]);
  const fn = rt.functions.find((f) => f.name === TASK_FUNCTION);
  const runner = rt.lambdaFunctions.find((f) => f.name.startsWith(`${TEAM_STACK}-Runner`));
  expect(fn?.runnerArn).toBe(runner?.arn);
  expect(fn?.onSuccess).toMatchObject({ type: 'sqs', url: outputOf(TEAM_STACK, 'SucceededQueueUrl') });
  expect(fn?.onFailure).toMatchObject({ type: 'sqs', url: outputOf(TEAM_STACK, 'FailedQueueUrl') });
  // The team's state machine writes the service's table.
  const tables = rt.model.tables.map((t) => t.name);
  expect(tables).toEqual([expect.stringMatching(new RegExp(`^${SERVICE_STACK}-ServiceTasks`))]);
  expect(JSON.stringify(rt.model.stateMachines[0].definition)).toContain(tables[0]);
  // The service's Lambdas log JSON at the level the construct set (their Logger reads AWS_LAMBDA_LOG_LEVEL).
  const taskApi = rt.lambdaFunctions.find((f) => f.name === rt.services[0].taskApiFunctionName);
  expect(taskApi).toMatchObject({ logFormat: 'JSON', logLevel: 'INFO' });
  expect(runner?.logLevel).toBeUndefined();
});

test('DescribeStacks answers for every loaded stack, and for each by name', async () => {
  const cfn = new CloudFormationClient({ endpoint: rt.endpoint, region, credentials });
  try {
    const all = await cfn.send(new DescribeStacksCommand({}));
    expect(all.Stacks?.map((s) => s.StackName)).toEqual([SERVICE_STACK, TEAM_STACK]);
    const team = await cfn.send(new DescribeStacksCommand({ StackName: TEAM_STACK }));
    expect(team.Stacks?.map((s) => s.StackName)).toEqual([TEAM_STACK]);
    const outputs = Object.fromEntries((team.Stacks?.[0].Outputs ?? []).map((o) => [o.OutputKey, o.OutputValue]));
    expect(outputs.SucceededQueueUrl).toBe(outputOf(TEAM_STACK, 'SucceededQueueUrl'));
    await expect(cfn.send(new DescribeStacksCommand({ StackName: 'Other' }))).rejects.toMatchObject({ name: 'ValidationError' });
  } finally {
    cfn.destroy();
  }
});

test('a task submitted to the service runs the team stack’s function; its success record lands in the team’s queue', async () => {
  await client.submit({ functionName: TASK_FUNCTION, taskId: 'multi-ok-1', payload: { n: 1 } });
  const task = await client.waitFor(TASK_FUNCTION, 'multi-ok-1', { pollIntervalMs: 200, timeoutMs: 30_000 });
  expect(task.status).toBe('Succeeded');
  expect(task.returnPayload).toMatchObject({ echoed: { n: 1 } });
  const record = await recordOf(outputOf(TEAM_STACK, 'SucceededQueueUrl'), 'multi-ok-1');
  expect(record.requestContext).toMatchObject({ condition: 'Success', taskId: 'multi-ok-1' });
}, 60_000);

test('a failing task’s record lands in the team’s failure queue', async () => {
  await client.submit({ functionName: TASK_FUNCTION, taskId: 'multi-fail-1', payload: { fail: 'on purpose' } });
  const task = await client.waitFor(TASK_FUNCTION, 'multi-fail-1', { pollIntervalMs: 200, timeoutMs: 30_000 });
  expect(task.status).toBe('Failed');
  const record = await recordOf(outputOf(TEAM_STACK, 'FailedQueueUrl'), 'multi-fail-1');
  expect(record.requestContext).toMatchObject({ taskId: 'multi-fail-1' });
}, 60_000);

test('stackName restricts the runtime to that stack and the stacks it depends on', async () => {
  const serviceOnly = await startRuntime({ cdkOut, port: 0, stackName: SERVICE_STACK, ttlIntervalMs: 60_000, log: () => undefined });
  try {
    expect(serviceOnly.stacks.map((s) => s.stackName)).toEqual([SERVICE_STACK]);
    // The team stack, which registers the task function, is not loaded.
    expect(serviceOnly.services.map((s) => s.functions)).toEqual([[]]);
  } finally {
    await serviceOnly.stop();
  }
  const team = await startRuntime({ cdkOut, port: 0, stackName: TEAM_STACK, ttlIntervalMs: 60_000, log: () => undefined });
  try {
    expect(team.stacks.map((s) => s.stackName)).toEqual([SERVICE_STACK, TEAM_STACK]);
    expect(team.functions.map((f) => f.name)).toEqual([TASK_FUNCTION]);
    expect(team.outputs.SucceededQueueUrl).toBe(
      `${team.endpoint}/000000000000/${outputOf(TEAM_STACK, 'SucceededQueueUrl').split('/').pop()}`,
    );
  } finally {
    await team.stop();
  }
}, 60_000);
