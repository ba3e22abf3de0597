/**
 * What the service's own Lambda functions (TaskApi, finalizer, reconciler) read from their
 * environment (the table, the registry's SSM path), and the AWS SDK clients they share. The
 * environment is read per invocation and the clients are made on first use, so tests can set
 * the environment at any time and the local runtime's `AWS_ENDPOINT_URL` is picked up by the
 * SDK's default configuration; the registry is kept per path (lambda/lib/registry.ts).
 */
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SNSClient } from '@aws-sdk/client-sns';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { SSMClient } from '@aws-sdk/client-ssm';
import { ASYNC_CONFIG_BOUNDS, SERVICE_ENV, ServiceError } from '../model';
import { SsmRegistry, type TaskFunctionRegistry } from './registry';

export interface ServiceConfig {
  readonly table: string;
  readonly registry: TaskFunctionRegistry;
  readonly retentionSeconds: number;
  readonly resultsBucket?: string;
}

/** One registry per path for the life of the container: its cache is what makes a warm call cheap. */
const registries = new Map<string, TaskFunctionRegistry>();

/** Reads the service environment; a missing table or registry path is a deployment error (ServiceError). */
export function serviceConfig(env: NodeJS.ProcessEnv = process.env): ServiceConfig {
  const table = env[SERVICE_ENV.table];
  if (!table) {
    throw new ServiceError(`the service is misconfigured: environment variable ${SERVICE_ENV.table} is not set`);
  }
  const path = env[SERVICE_ENV.registryPath];
  if (!path?.startsWith('/') || !path.endsWith('/')) {
    throw new ServiceError(
      `the service is misconfigured: environment variable ${SERVICE_ENV.registryPath} must be the SSM path of the task function registry, such as '/asynctask/<service>/functions/' (given ${JSON.stringify(path) ?? 'nothing'})`,
    );
  }
  let registry = registries.get(path);
  if (!registry) {
    registry = new SsmRegistry(path, aws.ssm);
    registries.set(path, registry);
  }
  const retention = Number(env[SERVICE_ENV.retentionSeconds]);
  return {
    table,
    registry,
    retentionSeconds: Number.isFinite(retention) && retention > 0 ? retention : ASYNC_CONFIG_BOUNDS.retentionSeconds.default,
    ...(env[SERVICE_ENV.resultsBucket] ? { resultsBucket: env[SERVICE_ENV.resultsBucket] } : {}),
  };
}

interface Clients {
  ddb?: DynamoDBDocumentClient;
  sfn?: SFNClient;
  sqs?: SQSClient;
  sns?: SNSClient;
  events?: EventBridgeClient;
  lambda?: LambdaClient;
  logs?: CloudWatchLogsClient;
  ssm?: SSMClient;
}

const clients: Clients = {};

/** Shared SDK clients, created on first use with the default configuration. */
export const aws = {
  ddb: (): DynamoDBDocumentClient =>
    (clients.ddb ??= DynamoDBDocumentClient.from(new DynamoDBClient({}), {
      marshallOptions: { removeUndefinedValues: true },
    })),
  sfn: (): SFNClient => (clients.sfn ??= new SFNClient({})),
  sqs: (): SQSClient => (clients.sqs ??= new SQSClient({})),
  sns: (): SNSClient => (clients.sns ??= new SNSClient({})),
  events: (): EventBridgeClient => (clients.events ??= new EventBridgeClient({})),
  lambda: (): LambdaClient => (clients.lambda ??= new LambdaClient({})),
  logs: (): CloudWatchLogsClient => (clients.logs ??= new CloudWatchLogsClient({})),
  ssm: (): SSMClient => (clients.ssm ??= new SSMClient({})),
};
