/** Shared fixtures of the handler tests: a registry of three task functions, items, and mocks. */
import type { TaskApiResponse } from '../../../lambda/model';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SNSClient } from '@aws-sdk/client-sns';
import { SQSClient } from '@aws-sdk/client-sqs';
import { GetParametersByPathCommand, SSMClient } from '@aws-sdk/client-ssm';
import { DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import {
  ECONOMY_INDEX,
  executionArn,
  listKey,
  registryPath,
  SERVICE_ENV,
  statusKey,
  type TaskFunctionDescriptor,
  type TaskItem,
  type TaskStatus,
} from '../../../lambda/model';

export const ACCOUNT = '123456789012';
export const TABLE_NAME = 'asynctask-tasks';

export const ETL: TaskFunctionDescriptor = {
  name: 'etl',
  kind: 'lambda',
  stateMachineArn: `arn:aws:states:us-east-1:${ACCOUNT}:stateMachine:etl`,
  runnerArn: `arn:aws:lambda:us-east-1:${ACCOUNT}:function:etl-worker`,
  maxRetryAttempts: 2,
  maxEventAgeSeconds: 3600,
  timeoutSeconds: 300,
  onSuccess: {
    type: 'sqs',
    arn: `arn:aws:sqs:us-east-1:${ACCOUNT}:etl-success`,
    url: `https://sqs.us-east-1.amazonaws.com/${ACCOUNT}/etl-success`,
  },
  onFailure: {
    type: 'sqs',
    arn: `arn:aws:sqs:us-east-1:${ACCOUNT}:etl-dlq`,
    url: `https://sqs.us-east-1.amazonaws.com/${ACCOUNT}/etl-dlq`,
  },
  logGroupName: '/aws/lambda/etl-worker',
  description: 'Kafka ETL',
};

export const TRANSCODE: TaskFunctionDescriptor = {
  name: 'transcode',
  kind: 'container',
  stateMachineArn: `arn:aws:states:us-east-1:${ACCOUNT}:stateMachine:transcode`,
  runnerArn: `arn:aws:ecs:us-east-1:${ACCOUNT}:task-definition/transcode:3`,
  maxRetryAttempts: 2,
  maxEventAgeSeconds: 5 * 3600,
  timeoutSeconds: 7200,
  maxConcurrency: 2,
  onFailure: { type: 'sns', arn: `arn:aws:sns:us-east-1:${ACCOUNT}:transcode-failures` },
  logGroupName: '/asynctask/transcode',
  logStreamPrefix: 'transcode',
};

export const PLAIN: TaskFunctionDescriptor = {
  name: 'plain',
  kind: 'lambda',
  stateMachineArn: `arn:aws:states:us-east-1:${ACCOUNT}:stateMachine:plain`,
  runnerArn: `arn:aws:lambda:us-east-1:${ACCOUNT}:function:plain`,
  maxRetryAttempts: 0,
  maxEventAgeSeconds: 60,
  timeoutSeconds: 60,
};

export const REGISTRY = [ETL, TRANSCODE, PLAIN];

let registries = 0;

/**
 * The service environment, with `functions` in the registry: each call gets a registry path of
 * its own (the handlers keep one cached registry per path) whose SSM parameters the mock serves.
 */
export function setServiceEnv(functions: readonly TaskFunctionDescriptor[] = REGISTRY): string {
  const path = registryPath(`test-${++registries}`);
  process.env[SERVICE_ENV.table] = TABLE_NAME;
  process.env[SERVICE_ENV.registryPath] = path;
  process.env[SERVICE_ENV.retentionSeconds] = String(7 * 24 * 3600);
  mocks.ssm.on(GetParametersByPathCommand, { Path: path }).resolves({
    Parameters: functions.map((d) => ({ Name: `${path}${d.name}`, Type: 'String', Value: JSON.stringify(d) })),
  });
  return path;
}

export const STARTED_AT = '2026-11-25T12:00:00.000Z';
export const REQUEST_ID = '11111111-2222-4333-8444-555555555555';

export function arnFor(descriptor: TaskFunctionDescriptor, requestId: string = REQUEST_ID): string {
  return executionArn(descriptor.stateMachineArn, requestId);
}

export function taskItem(overrides: Partial<TaskItem> & { status?: TaskStatus } = {}, descriptor: TaskFunctionDescriptor = ETL): TaskItem {
  const status = overrides.status ?? 'Running';
  const taskId = overrides.taskId ?? 'job_1';
  const startedAt = overrides.startedAt ?? STARTED_AT;
  return {
    functionName: descriptor.name,
    taskId,
    requestId: REQUEST_ID,
    status,
    statusKey: statusKey(descriptor.name, status),
    listKey: listKey(startedAt, taskId),
    taskPayload: '{"records":[1,2]}',
    alreadyRetriedTimes: 0,
    startedAt,
    deadline: '2026-11-25T13:00:00.000Z',
    events: [{ status: 'Enqueued', at: startedAt, detail: 'submitted' }],
    executionArn: arnFor(descriptor, overrides.requestId ?? REQUEST_ID),
    expiresAt: Math.floor(Date.parse(startedAt) / 1000) + 7 * 24 * 3600,
    ...overrides,
  };
}

/** What DynamoDB throws for a failed condition, with the old item when ALL_OLD was asked for. */
export function conditionFailed(item?: TaskItem): ConditionalCheckFailedException {
  return new ConditionalCheckFailedException({
    message: 'The conditional request failed',
    $metadata: {},
    ...(item ? { Item: marshall(item, { removeUndefinedValues: true }) } : {}),
  });
}

export function awsError(name: string, message = name): Error {
  const error = new Error(message);
  error.name = name;
  return error;
}

export const mocks = {
  ddb: mockClient(DynamoDBDocumentClient),
  sfn: mockClient(SFNClient),
  sqs: mockClient(SQSClient),
  sns: mockClient(SNSClient),
  events: mockClient(EventBridgeClient),
  lambda: mockClient(LambdaClient),
  logs: mockClient(CloudWatchLogsClient),
  ssm: mockClient(SSMClient),
};

export function resetMocks(): void {
  for (const mock of Object.values(mocks)) mock.reset();
  noEconomyTasks();
}

/**
 * No economy tasks: list, stats and the reconciler look in ByTimeEconomy for every function (a
 * standard one may have some from before a switch back). The mock defined last wins, so a test
 * that answers every Query calls this after.
 */
export function noEconomyTasks(): void {
  mocks.ddb.on(QueryCommand, { IndexName: ECONOMY_INDEX.name }).resolves({ Items: [] });
}

/** The Queries sent to an index other than ByTimeEconomy. */
export function nonEconomyQueries() {
  return mocks.ddb.commandCalls(QueryCommand).filter((call) => call.args[0].input.IndexName !== ECONOMY_INDEX.name);
}

/** The log lines the handlers wrote while captured, parsed. */
export interface LogCapture {
  lines(): Array<Record<string, unknown>>;
}

/**
 * Silences the handlers' log lines and captures them. The Powertools Logger writes JSON lines to
 * process.stdout / process.stderr through a Console of its own (not the global console), so the
 * streams' `write` is what is intercepted; anything that is not a JSON line passes through.
 */
export function quietLogs(): LogCapture {
  const captured: string[] = [];
  for (const stream of [process.stdout, process.stderr]) {
    const original = stream.write.bind(stream) as (...args: unknown[]) => boolean;
    jest.spyOn(stream, 'write').mockImplementation(((chunk: unknown, ...rest: unknown[]) => {
      const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8');
      if (!text.startsWith('{')) return original(chunk, ...rest);
      captured.push(text);
      return true;
    }) as typeof stream.write);
  }
  return {
    lines: () =>
      captured
        .flatMap((text) => text.split('\n'))
        .filter((line) => line.trim() !== '')
        .map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

/** What Lambda passes as the handler's context (the fields the Logger reads). */
export const LAMBDA_CONTEXT = {
  awsRequestId: 'c0ffee00-0000-4000-8000-000000000001',
  functionName: 'asynctask-TaskApi',
  functionVersion: '$LATEST',
  invokedFunctionArn: `arn:aws:lambda:us-east-1:${ACCOUNT}:function:asynctask-TaskApi`,
  memoryLimitInMB: '512',
} as const;

/** The result of a TaskApi response that must have succeeded. */
export function ok<T>(response: TaskApiResponse): T {
  if (!response.ok) throw new Error(`expected ok, got ${JSON.stringify(response.error)}`);
  return response.result as T;
}

/** The error of a TaskApi response that must have failed. */
export function failed(response: TaskApiResponse) {
  if (response.ok) throw new Error(`expected an error, got ${JSON.stringify(response.result)}`);
  return response.error;
}

/** Fresh mocks, the service environment, quiet logs and a fixed clock at `now` for each test. */
export function useHandlerTestEnv(now: number): void {
  beforeEach(() => {
    resetMocks();
    setServiceEnv();
    quietLogs();
    jest.useFakeTimers({ now, doNotFake: ['setImmediate', 'setTimeout', 'nextTick', 'queueMicrotask'] });
  });
  afterEach(() => {
    jest.useRealTimers();
    jest.restoreAllMocks();
  });
}
