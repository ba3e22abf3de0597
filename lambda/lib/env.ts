/**
 * What the service's own Lambda functions (TaskApi, finalizer, reconciler) read from their
 * environment, and the AWS SDK clients they share. Both are read lazily, per invocation, so
 * tests can set the environment at any time and the local runtime's `AWS_ENDPOINT_URL` is
 * picked up by the SDK's default configuration.
 */
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SNSClient } from '@aws-sdk/client-sns';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import {
  ASYNC_CONFIG_BOUNDS,
  InvalidArgumentError,
  parseRegistry,
  type Registry,
  SERVICE_ENV,
  ServiceError,
  type TaskFunctionDescriptor,
  TaskFunctionNotFoundError,
} from '../model';

export interface ServiceConfig {
  readonly table: string;
  readonly registry: Registry;
  readonly retentionSeconds: number;
  readonly resultsBucket?: string;
}

let cachedFunctionsJson: string | undefined;
let cachedRegistry: Registry = {};

/** Reads the service environment; a missing table name is a deployment error (ServiceError). */
export function serviceConfig(env: NodeJS.ProcessEnv = process.env): ServiceConfig {
  const table = env[SERVICE_ENV.table];
  if (!table) {
    throw new ServiceError(`the service is misconfigured: environment variable ${SERVICE_ENV.table} is not set`);
  }
  const functionsJson = env[SERVICE_ENV.functions];
  if (functionsJson !== cachedFunctionsJson) {
    try {
      cachedRegistry = parseRegistry(functionsJson);
    } catch (error) {
      throw new ServiceError(
        `the service is misconfigured: ${SERVICE_ENV.functions} is not a JSON array of task functions (${(error as Error).message})`,
        { cause: error },
      );
    }
    cachedFunctionsJson = functionsJson;
  }
  const retention = Number(env[SERVICE_ENV.retentionSeconds]);
  return {
    table,
    registry: cachedRegistry,
    retentionSeconds:
      Number.isFinite(retention) && retention > 0 ? retention : ASYNC_CONFIG_BOUNDS.retentionSeconds.default,
    ...(env[SERVICE_ENV.resultsBucket] ? { resultsBucket: env[SERVICE_ENV.resultsBucket] } : {}),
  };
}

/** The descriptor of a registered task function, or TaskFunctionNotFound naming the known ones. */
export function taskFunction(config: ServiceConfig, functionName: unknown): TaskFunctionDescriptor {
  if (typeof functionName !== 'string' || functionName === '') {
    throw new InvalidArgumentError(
      `functionName is required and must be a non-empty string (given ${JSON.stringify(functionName) ?? 'nothing'}); known functions: ${Object.keys(config.registry).join(', ') || '(none)'}`,
    );
  }
  const descriptor = Object.hasOwn(config.registry, functionName) ? config.registry[functionName] : undefined;
  if (!descriptor) {
    const known = Object.keys(config.registry);
    throw new TaskFunctionNotFoundError(
      `task function '${functionName}' not found; known functions: ${known.length > 0 ? known.join(', ') : '(none)'}`,
      { details: { functionName, known } },
    );
  }
  return descriptor;
}

interface Clients {
  ddb?: DynamoDBDocumentClient;
  sfn?: SFNClient;
  sqs?: SQSClient;
  sns?: SNSClient;
  events?: EventBridgeClient;
  lambda?: LambdaClient;
  logs?: CloudWatchLogsClient;
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
};
