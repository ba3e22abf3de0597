/**
 * The local runtime's model of a cloud assembly: what it creates (tables, queues, topics,
 * subscriptions, buckets, Lambda functions, state machines, ECS task definitions, event rules,
 * log groups, SSM parameters, event source mappings, REST APIs) and each stack's outputs. `loadAssembly`
 * takes the stacks of ./assembly.ts in deployment order, resolves each with ./intrinsics.ts
 * (reading the outputs of the stacks before it), maps its resources to these types and merges
 * the stacks into one model, refusing two resources with one physical name.
 */
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { API_GATEWAY_TYPES, type LocalRestApi, restApisOf } from './apigateway-template';
import { type AssemblyStack, readAssembly, TemplateError } from './assembly';
import { LoadedOutputs, TemplateResolver } from './intrinsics';
import type { LocalContainer, LocalTaskDefinition } from './types';

export type { LocalApiMethod, LocalApiResource, LocalGatewayResponse, LocalRestApi } from './apigateway-template';
export { TemplateError } from './assembly';

export interface LoadOptions {
  /** Edge URL (queue URLs are `<endpoint>/000000000000/<name>`). */
  readonly endpoint: string;
  /** Load only this stack and the stacks it depends on; default: every stack of the assembly. */
  readonly stackName?: string;
  /** Where relative `asynctask:local` cwd's resolve; default: the directory holding cdk.out. */
  readonly projectRoot?: string;
}

export interface LocalTable {
  readonly logicalId: string;
  readonly name: string;
  readonly arn: string;
  readonly keySchema: { AttributeName: string; KeyType: string }[];
  readonly attributeDefinitions: { AttributeName: string; AttributeType: string }[];
  readonly globalSecondaryIndexes: Record<string, unknown>[];
  readonly localSecondaryIndexes: Record<string, unknown>[];
  /** The TTL attribute when TimeToLiveSpecification is enabled. */
  readonly ttlAttribute?: string;
}

export interface LocalQueue {
  readonly logicalId: string;
  readonly name: string;
  readonly arn: string;
  readonly url: string;
  /** CreateQueue attributes (strings), RedrivePolicy included. */
  readonly attributes: Record<string, string>;
  /** Name of the dead-letter queue, when the queue has a redrive policy. */
  readonly deadLetterQueue?: string;
}

export interface LocalTopic {
  readonly logicalId: string;
  readonly name: string;
  readonly arn: string;
  readonly attributes: Record<string, string>;
}

export interface LocalSubscription {
  readonly logicalId: string;
  readonly topicArn: string;
  readonly protocol: string;
  readonly endpoint: string;
  readonly attributes: Record<string, string>;
}

export interface LocalBucket {
  readonly logicalId: string;
  readonly name: string;
  readonly arn: string;
}

export interface LocalFunction {
  readonly logicalId: string;
  readonly name: string;
  readonly arn: string;
  /** Absolute directory holding the code (an asset folder, or written from inline code). */
  readonly codeDir?: string;
  /** Inline code (`Code.ZipFile`), written to `index.js` by the Lambda runner. */
  readonly inlineCode?: string;
  readonly handler: string;
  readonly runtime: string;
  readonly timeoutSeconds: number;
  readonly memoryMb: number;
  readonly environment: Record<string, string>;
  readonly logGroupName: string;
  readonly logFormat: 'Text' | 'JSON';
  /** `LoggingConfig.ApplicationLogLevel` (JSON format only): Lambda's `AWS_LAMBDA_LOG_LEVEL`. */
  readonly logLevel?: string;
}

export interface LocalStateMachineModel {
  readonly logicalId: string;
  readonly name: string;
  readonly arn: string;
  readonly definition: object;
}

export interface LocalRuleTarget {
  readonly id: string;
  readonly arn: string;
  readonly input?: string;
  readonly inputPath?: string;
  readonly maximumRetryAttempts?: number;
}

export interface LocalRule {
  readonly logicalId: string;
  readonly name: string;
  readonly arn: string;
  readonly eventBusName: string;
  readonly enabled: boolean;
  readonly eventPattern?: Record<string, unknown>;
  readonly scheduleExpression?: string;
  readonly targets: LocalRuleTarget[];
}

/** What an event source mapping reads: the local runtime polls SQS and Kafka sources. */
export type EventSourceKind = 'sqs' | 'msk' | 'self-managed-kafka' | 'other';

export interface LocalEventSourceMapping {
  readonly logicalId: string;
  /** The stack that defines it. */
  readonly stackName: string;
  /** Function name (resolved from a name or an ARN). */
  readonly functionName: string;
  readonly kind: EventSourceKind;
  /** Queue ARN (SQS) or MSK cluster ARN; absent for self-managed Kafka. */
  readonly eventSourceArn?: string;
  /** `BatchSize`; default 10 for SQS, 100 for Kafka (as Lambda). */
  readonly batchSize: number;
  /** `MaximumBatchingWindowInSeconds`; default 0 for SQS, 0.5 for Kafka (Lambda's 500 ms). */
  readonly maximumBatchingWindowInSeconds: number;
  readonly enabled: boolean;
  readonly reportBatchItemFailures: boolean;
  /** Kafka (MSK or self-managed) topics, when the source is Kafka. */
  readonly topics?: string[];
  /** Kafka: `StartingPosition`; default TRIM_HORIZON (CloudFormation requires one). */
  readonly startingPosition?: 'LATEST' | 'TRIM_HORIZON' | 'AT_TIMESTAMP';
  /** Kafka AT_TIMESTAMP: `StartingPositionTimestamp`, epoch seconds. */
  readonly startingPositionTimestamp?: number;
  /** Kafka: `...KafkaEventSourceConfig.ConsumerGroupId`; default `<stack>-<logicalId>` (Lambda uses the mapping's UUID). */
  readonly consumerGroupId?: string;
  /** Self-managed Kafka: `SelfManagedEventSource.Endpoints.KafkaBootstrapServers`. */
  readonly bootstrapServers?: string[];
  /** Kafka: `MaximumRetryAttempts` (-1 or absent: until the record expires). */
  readonly maximumRetryAttempts?: number;
  /** Kafka: `MaximumRecordAgeInSeconds` (-1 or absent: no limit). */
  readonly maximumRecordAgeInSeconds?: number;
  /** SQS: `ScalingConfig.MaximumConcurrency` (concurrent batches of this mapping). */
  readonly maximumConcurrency?: number;
  /** `DestinationConfig.OnFailure.Destination`: where a Kafka batch that gave up is recorded. */
  readonly onFailureDestination?: string;
}

export interface LocalLogGroup {
  readonly logicalId: string;
  readonly name: string;
  readonly arn: string;
}

/** An SSM parameter (the task function registry keeps one per function). */
export interface LocalParameter {
  readonly logicalId: string;
  readonly name: string;
  readonly type: string;
  readonly value: string;
}

export interface LocalTaskDefinitionModel extends LocalTaskDefinition {
  readonly logicalId: string;
}

/** Everything the runtime creates, of one stack or of the whole assembly. */
export interface LocalResources {
  readonly tables: LocalTable[];
  readonly queues: LocalQueue[];
  readonly topics: LocalTopic[];
  readonly subscriptions: LocalSubscription[];
  readonly buckets: LocalBucket[];
  readonly functions: LocalFunction[];
  readonly stateMachines: LocalStateMachineModel[];
  readonly taskDefinitions: LocalTaskDefinitionModel[];
  readonly rules: LocalRule[];
  readonly logGroups: LocalLogGroup[];
  readonly parameters: LocalParameter[];
  readonly eventSourceMappings: LocalEventSourceMapping[];
  /** API Gateway REST APIs (./apigateway-template.ts), served by the local API Gateway. */
  readonly restApis: LocalRestApi[];
}

export interface StackOutput {
  readonly key: string;
  readonly value: string;
  readonly description?: string;
  readonly exportName?: string;
}

export interface StackModel extends LocalResources {
  readonly stackName: string;
  readonly stackId: string;
  readonly templateFile: string;
  readonly description?: string;
  /** Names of the stacks it depends on (loaded before it). */
  readonly dependencies: readonly string[];
  readonly outputs: StackOutput[];
  /** Resource types present in the template that the local runtime does not create, with their logical ids. */
  readonly unsupported: { type: string; logicalIds: string[] }[];
  /** Things the runtime should tell the user at start-up (e.g. a rule target it cannot deliver to). */
  readonly notes: string[];
}

/** The loaded stacks and, merged, everything they create: what the runtime starts. */
export interface AssemblyModel extends LocalResources {
  /** Absolute path of the cloud assembly. */
  readonly cdkOut: string;
  /** In deployment order: every stack after the stacks it depends on. */
  readonly stacks: readonly StackModel[];
  /** The stacks' notes (prefixed with the stack's name when there are several). */
  readonly notes: string[];
}

/** Types the runtime creates or needs nothing for (IAM, policies, permissions, dashboards: no local meaning). */
const SUPPORTED = new Set([
  'AWS::DynamoDB::Table',
  'AWS::SQS::Queue',
  'AWS::SNS::Topic',
  'AWS::SNS::Subscription',
  'AWS::S3::Bucket',
  'AWS::Lambda::Function',
  'AWS::StepFunctions::StateMachine',
  'AWS::ECS::TaskDefinition',
  'AWS::Events::Rule',
  'AWS::Logs::LogGroup',
  'AWS::Lambda::EventSourceMapping',
  'AWS::SSM::Parameter',
]);
/** Types that need nothing locally (access control, monitoring, networking, metadata). */
const IGNORED = new Set([
  'AWS::CDK::Metadata',
  'AWS::IAM::Role',
  'AWS::IAM::Policy',
  'AWS::IAM::ManagedPolicy',
  'AWS::Lambda::Permission',
  'AWS::SQS::QueuePolicy',
  'AWS::SNS::TopicPolicy',
  'AWS::S3::BucketPolicy',
  'AWS::CloudWatch::Dashboard',
  'AWS::CloudWatch::Alarm',
  'AWS::EC2::VPC',
  'AWS::EC2::Subnet',
  'AWS::EC2::RouteTable',
  'AWS::EC2::SubnetRouteTableAssociation',
  'AWS::EC2::Route',
  'AWS::EC2::InternetGateway',
  'AWS::EC2::VPCGatewayAttachment',
  'AWS::EC2::SecurityGroup',
  'AWS::EC2::SecurityGroupIngress',
  'AWS::EC2::SecurityGroupEgress',
  'AWS::ECS::Cluster',
  'AWS::KMS::Key',
  'AWS::KMS::Alias',
  // API Gateway's CloudWatch role setting (access logs): nothing to do locally.
  'AWS::ApiGateway::Account',
]);

function str(v: unknown): string | undefined {
  return v === undefined || v === null ? undefined : String(v);
}

function stringAttributes(props: Record<string, unknown>, names: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of names) {
    const v = props[n];
    if (v === undefined) continue;
    out[n] = typeof v === 'object' ? JSON.stringify(v) : String(v);
  }
  return out;
}

const QUEUE_ATTRIBUTES = [
  'DelaySeconds',
  'MaximumMessageSize',
  'MessageRetentionPeriod',
  'ReceiveMessageWaitTimeSeconds',
  'VisibilityTimeout',
  'FifoQueue',
  'ContentBasedDeduplication',
  'DeduplicationScope',
  'FifoThroughputLimit',
  'RedrivePolicy',
  'RedriveAllowPolicy',
] as const;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function emptyResources(): LocalResources {
  return {
    tables: [],
    queues: [],
    topics: [],
    subscriptions: [],
    buckets: [],
    functions: [],
    stateMachines: [],
    taskDefinitions: [],
    rules: [],
    logGroups: [],
    parameters: [],
    eventSourceMappings: [],
    restApis: [],
  };
}

interface StackContext {
  /** The assembly directory (asset paths are relative to it). */
  readonly dir: string;
  readonly endpoint: string;
  readonly projectRoot: string;
  /** Outputs of the stacks loaded before this one. */
  readonly loaded: LoadedOutputs;
}

function optionalNumber(where: string, name: string, v: unknown): number | undefined {
  if (v === undefined || v === null) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new TemplateError(`${where}: ${name} must be a number (given ${JSON.stringify(v)})`);
  return n;
}

/** An `AWS::Lambda::EventSourceMapping`'s resolved properties → the local model (defaults as Lambda's). */
export function eventSourceMapping(id: string, stackName: string, p: Record<string, unknown>): LocalEventSourceMapping {
  const where = `event source mapping ${stackName}/${id}`;
  const fnRef = String(p.FunctionName ?? '');
  const parts = fnRef.split(':');
  const functionName = fnRef.startsWith('arn:') ? (parts[6] ?? fnRef) : fnRef;
  const source = str(p.EventSourceArn);
  // CloudFormation spells it `KafkaBootstrapServers`; Lambda's API `KAFKA_BOOTSTRAP_SERVERS`.
  const selfManaged = p.SelfManagedEventSource as
    | { Endpoints?: { KafkaBootstrapServers?: unknown[]; KAFKA_BOOTSTRAP_SERVERS?: unknown[] } }
    | undefined;
  const kind: EventSourceKind = source?.startsWith('arn:aws:sqs:')
    ? 'sqs'
    : source?.startsWith('arn:aws:kafka:')
      ? 'msk'
      : !source && selfManaged
        ? 'self-managed-kafka'
        : 'other';
  const kafka = kind === 'msk' || kind === 'self-managed-kafka';
  const topics = (p.Topics as unknown[] | undefined)?.map(String);
  if (kafka && (!topics || topics.length === 0)) throw new TemplateError(`${where}: a Kafka source needs Topics (given none)`);
  const batchSize = optionalNumber(where, 'BatchSize', p.BatchSize) ?? (kind === 'sqs' ? 10 : 100);
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10_000) {
    throw new TemplateError(`${where}: BatchSize must be an integer between 1 and 10000 inclusive (given ${String(p.BatchSize)})`);
  }
  const windowSeconds = optionalNumber(where, 'MaximumBatchingWindowInSeconds', p.MaximumBatchingWindowInSeconds) ?? (kafka ? 0.5 : 0);
  if (windowSeconds < 0 || windowSeconds > 300) {
    throw new TemplateError(`${where}: MaximumBatchingWindowInSeconds must be between 0 and 300 inclusive (given ${windowSeconds})`);
  }
  const position = str(p.StartingPosition);
  if (position !== undefined && !['LATEST', 'TRIM_HORIZON', 'AT_TIMESTAMP'].includes(position)) {
    throw new TemplateError(`${where}: StartingPosition must be LATEST, TRIM_HORIZON or AT_TIMESTAMP (given '${position}')`);
  }
  const timestamp = optionalNumber(where, 'StartingPositionTimestamp', p.StartingPositionTimestamp);
  if (kafka && position === 'AT_TIMESTAMP' && timestamp === undefined) {
    throw new TemplateError(`${where}: StartingPosition AT_TIMESTAMP needs StartingPositionTimestamp (epoch seconds; given none)`);
  }
  const groupConfig = (p.AmazonManagedKafkaEventSourceConfig ?? p.SelfManagedKafkaEventSourceConfig) as
    | { ConsumerGroupId?: unknown }
    | undefined;
  const servers = (selfManaged?.Endpoints?.KafkaBootstrapServers ?? selfManaged?.Endpoints?.KAFKA_BOOTSTRAP_SERVERS)?.map(String);
  const retries = optionalNumber(where, 'MaximumRetryAttempts', p.MaximumRetryAttempts);
  const age = optionalNumber(where, 'MaximumRecordAgeInSeconds', p.MaximumRecordAgeInSeconds);
  const concurrency = optionalNumber(
    where,
    'ScalingConfig.MaximumConcurrency',
    (p.ScalingConfig as { MaximumConcurrency?: unknown })?.MaximumConcurrency,
  );
  const onFailure = str((p.DestinationConfig as { OnFailure?: { Destination?: unknown } } | undefined)?.OnFailure?.Destination);
  return {
    logicalId: id,
    stackName,
    functionName,
    kind,
    ...(source ? { eventSourceArn: source } : {}),
    batchSize,
    maximumBatchingWindowInSeconds: windowSeconds,
    enabled: String(p.Enabled ?? 'true') !== 'false',
    reportBatchItemFailures: ((p.FunctionResponseTypes as string[] | undefined) ?? []).includes('ReportBatchItemFailures'),
    ...(topics ? { topics } : {}),
    ...(kafka ? { startingPosition: (position ?? 'TRIM_HORIZON') as 'LATEST' | 'TRIM_HORIZON' | 'AT_TIMESTAMP' } : {}),
    ...(kafka && timestamp !== undefined ? { startingPositionTimestamp: timestamp } : {}),
    ...(kafka
      ? { consumerGroupId: groupConfig?.ConsumerGroupId !== undefined ? String(groupConfig.ConsumerGroupId) : `${stackName}-${id}` }
      : {}),
    ...(servers && servers.length > 0 ? { bootstrapServers: servers } : {}),
    ...(retries !== undefined && retries >= 0 ? { maximumRetryAttempts: retries } : {}),
    ...(age !== undefined && age >= 0 ? { maximumRecordAgeInSeconds: age } : {}),
    ...(concurrency !== undefined ? { maximumConcurrency: concurrency } : {}),
    ...(onFailure ? { onFailureDestination: onFailure } : {}),
  };
}

/** Resolves one stack's template to its local model. */
function stackModel(stack: AssemblyStack, context: StackContext): StackModel {
  const { dir, projectRoot } = context;
  const { stackName, templateFile, template } = stack;
  const r = new TemplateResolver(template, stackName, context.endpoint, context.loaded);
  const where = (id: string) => `resource '${id}' of ${templateFile}`;

  const model: StackModel = {
    stackName,
    stackId: r.stackId,
    templateFile,
    ...(template.Description ? { description: template.Description } : {}),
    dependencies: stack.dependencies,
    ...emptyResources(),
    outputs: [],
    unsupported: [],
    notes: [],
  };
  const unsupported = new Map<string, string[]>();

  for (const [id, res] of Object.entries(template.Resources ?? {})) {
    if (!isObject(res) || typeof res.Type !== 'string') {
      throw new TemplateError(`malformed ${where(id)}: no Type`);
    }
    if (!r.resourceEnabled(id)) continue;
    // Read together, as one API each, after this loop.
    if (API_GATEWAY_TYPES.has(res.Type)) continue;
    if (!SUPPORTED.has(res.Type)) {
      if (!IGNORED.has(res.Type)) unsupported.set(res.Type, [...(unsupported.get(res.Type) ?? []), id]);
      continue;
    }
    const p = (r.resolveIn(`resource '${id}'`, res.Properties ?? {}) ?? {}) as Record<string, unknown>;
    const name = r.physicalName(id);
    switch (res.Type) {
      case 'AWS::DynamoDB::Table': {
        const ttl = p.TimeToLiveSpecification as { AttributeName?: string; Enabled?: unknown } | undefined;
        model.tables.push({
          logicalId: id,
          name,
          arn: String(r.getAtt(id, 'Arn')),
          keySchema: (p.KeySchema as LocalTable['keySchema']) ?? [],
          attributeDefinitions: (p.AttributeDefinitions as LocalTable['attributeDefinitions']) ?? [],
          globalSecondaryIndexes: (p.GlobalSecondaryIndexes as Record<string, unknown>[]) ?? [],
          localSecondaryIndexes: (p.LocalSecondaryIndexes as Record<string, unknown>[]) ?? [],
          ...(ttl?.AttributeName && String(ttl.Enabled) !== 'false' ? { ttlAttribute: ttl.AttributeName } : {}),
        });
        break;
      }
      case 'AWS::SQS::Queue': {
        const attributes = stringAttributes(p, QUEUE_ATTRIBUTES);
        if (attributes.FifoQueue === undefined && name.endsWith('.fifo')) attributes.FifoQueue = 'true';
        const redrive = p.RedrivePolicy as { deadLetterTargetArn?: string } | undefined;
        const dlq = redrive?.deadLetterTargetArn ? String(redrive.deadLetterTargetArn).split(':').pop() : undefined;
        model.queues.push({
          logicalId: id,
          name,
          arn: String(r.getAtt(id, 'Arn')),
          url: r.queueUrl(name),
          attributes,
          ...(dlq ? { deadLetterQueue: dlq } : {}),
        });
        break;
      }
      case 'AWS::SNS::Topic': {
        model.topics.push({
          logicalId: id,
          name,
          arn: String(r.getAtt(id, 'TopicArn')),
          attributes: stringAttributes(p, ['FifoTopic', 'ContentBasedDeduplication', 'DisplayName']),
        });
        for (const [i, s] of ((p.Subscription as { Endpoint: string; Protocol: string }[]) ?? []).entries()) {
          model.subscriptions.push({
            logicalId: `${id}.Subscription${i}`,
            topicArn: String(r.getAtt(id, 'TopicArn')),
            protocol: String(s.Protocol),
            endpoint: String(s.Endpoint),
            attributes: {},
          });
        }
        break;
      }
      case 'AWS::SNS::Subscription':
        model.subscriptions.push({
          logicalId: id,
          topicArn: String(p.TopicArn),
          protocol: String(p.Protocol),
          endpoint: String(p.Endpoint),
          attributes: stringAttributes(p, ['RawMessageDelivery', 'FilterPolicy', 'FilterPolicyScope', 'RedrivePolicy']),
        });
        break;
      case 'AWS::S3::Bucket':
        model.buckets.push({ logicalId: id, name, arn: String(r.getAtt(id, 'Arn')) });
        break;
      case 'AWS::Lambda::Function': {
        const code = (p.Code ?? {}) as { ZipFile?: string; ImageUri?: string };
        const assetPath = res.Metadata?.['aws:asset:path'];
        let codeDir: string | undefined;
        if (typeof assetPath === 'string') {
          codeDir = path.resolve(dir, assetPath);
          if (!existsSync(codeDir)) {
            throw new TemplateError(`malformed cloud assembly: asset ${codeDir} of Lambda function ${where(id)} does not exist`);
          }
          if (!statSync(codeDir).isDirectory()) {
            model.notes.push(
              `Lambda function ${id}: asset ${codeDir} is not a directory (zip assets are not supported); invoking it fails`,
            );
            codeDir = undefined;
          }
        }
        const runtime = str(p.Runtime) ?? (code.ImageUri ? 'image' : 'unknown');
        if (!runtime.startsWith('nodejs')) {
          model.notes.push(
            `Lambda function ${name} (${id}) has runtime ${runtime}; the local runtime runs Node.js functions only, invoking it fails`,
          );
        }
        if (!codeDir && code.ZipFile === undefined) {
          model.notes.push(`Lambda function ${name} (${id}) has no local code (no asset folder nor inline code); invoking it fails`);
        }
        const logging = (p.LoggingConfig ?? {}) as { LogFormat?: string; LogGroup?: string; ApplicationLogLevel?: string };
        model.functions.push({
          logicalId: id,
          name,
          arn: String(r.getAtt(id, 'Arn')),
          ...(codeDir ? { codeDir } : {}),
          ...(code.ZipFile !== undefined ? { inlineCode: String(code.ZipFile) } : {}),
          handler: str(p.Handler) ?? 'index.handler',
          runtime,
          timeoutSeconds: Number(p.Timeout ?? 3),
          memoryMb: Number(p.MemorySize ?? 128),
          environment: Object.fromEntries(
            Object.entries((p.Environment as { Variables?: Record<string, unknown> })?.Variables ?? {}).map(([k, v]) => [
              k,
              typeof v === 'object' ? JSON.stringify(v) : String(v),
            ]),
          ),
          logGroupName: logging.LogGroup ?? `/aws/lambda/${name}`,
          logFormat: logging.LogFormat === 'JSON' ? 'JSON' : 'Text',
          ...(logging.LogFormat === 'JSON' && logging.ApplicationLogLevel ? { logLevel: logging.ApplicationLogLevel } : {}),
        });
        break;
      }
      case 'AWS::StepFunctions::StateMachine': {
        let definition: unknown = p.Definition;
        if (definition === undefined && p.DefinitionString !== undefined) {
          let text = String(p.DefinitionString);
          const subs = (p.DefinitionSubstitutions ?? {}) as Record<string, unknown>;
          text = text.replace(/\$\{([^}]+)\}/g, (whole, k: string) => (k in subs ? String(subs[k]) : whole));
          try {
            definition = JSON.parse(text);
          } catch (error) {
            throw new TemplateError(`malformed ${where(id)}: DefinitionString is not JSON (${(error as Error).message})`);
          }
        }
        if (p.DefinitionS3Location !== undefined) {
          throw new TemplateError(`${where(id)} uses DefinitionS3Location, which the local runtime does not support`);
        }
        if (!isObject(definition)) throw new TemplateError(`malformed ${where(id)}: no state machine definition`);
        model.stateMachines.push({ logicalId: id, name, arn: String(r.getAtt(id, 'Arn')), definition });
        break;
      }
      case 'AWS::ECS::TaskDefinition': {
        const local = (res.Metadata?.['asynctask:local'] ?? undefined) as
          | { command?: unknown; cwd?: unknown; environment?: Record<string, unknown> }
          | undefined;
        const localCommand = Array.isArray(local?.command) ? local.command.map(String) : [];
        const cwd = path.resolve(projectRoot, typeof local?.cwd === 'string' ? local.cwd : '.');
        const localEnv = Object.fromEntries(Object.entries(local?.environment ?? {}).map(([k, v]) => [k, String(v)]));
        if (!local) {
          model.notes.push(
            `ECS task definition ${name} (${id}) has no 'asynctask:local' metadata (command to run locally); its tasks fail to start`,
          );
        }
        const defs = (p.ContainerDefinitions as Record<string, unknown>[]) ?? [];
        const containers: LocalContainer[] = defs.map((c, i) => {
          const env: Record<string, string> = {};
          for (const e of (c.Environment as { Name: string; Value: unknown }[]) ?? []) env[e.Name] = String(e.Value ?? '');
          Object.assign(env, localEnv);
          const logging = c.LogConfiguration as { LogDriver?: string; Options?: Record<string, string> } | undefined;
          const opts = logging?.LogDriver === 'awslogs' ? (logging.Options ?? {}) : {};
          return {
            name: String(c.Name ?? `container${i}`),
            environment: env,
            // The metadata's command is the task definition's (essential) first container's.
            command: i === 0 ? localCommand : [],
            cwd,
            ...(opts['awslogs-group'] ? { logGroupName: String(opts['awslogs-group']) } : {}),
            ...(opts['awslogs-stream-prefix'] ? { logStreamPrefix: String(opts['awslogs-stream-prefix']) } : {}),
          };
        });
        model.taskDefinitions.push({
          logicalId: id,
          arn: String(r.getAtt(id, 'TaskDefinitionArn')),
          family: name,
          containers: containers.filter((c, i) => i === 0 || c.command.length > 0),
        });
        break;
      }
      case 'AWS::Events::Rule': {
        const targets = ((p.Targets as Record<string, unknown>[]) ?? []).map((t) => ({
          id: String(t.Id),
          arn: String(t.Arn),
          ...(t.Input !== undefined ? { input: String(t.Input) } : {}),
          ...(t.InputPath !== undefined ? { inputPath: String(t.InputPath) } : {}),
          ...((t.RetryPolicy as { MaximumRetryAttempts?: number } | undefined)?.MaximumRetryAttempts !== undefined
            ? { maximumRetryAttempts: Number((t.RetryPolicy as { MaximumRetryAttempts: number }).MaximumRetryAttempts) }
            : {}),
        }));
        for (const t of (p.Targets as Record<string, unknown>[]) ?? []) {
          if (t.InputTransformer !== undefined)
            model.notes.push(`rule ${id} target ${String(t.Id)}: InputTransformer is not supported; the full event is sent`);
        }
        const bus = str(p.EventBusName) ?? 'default';
        model.rules.push({
          logicalId: id,
          name,
          arn: String(r.getAtt(id, 'Arn')),
          eventBusName: bus.includes(':event-bus/') ? bus.slice(bus.indexOf(':event-bus/') + 11) : bus,
          enabled: (str(p.State) ?? 'ENABLED') === 'ENABLED',
          ...(p.EventPattern !== undefined
            ? {
                eventPattern: (typeof p.EventPattern === 'string' ? JSON.parse(p.EventPattern) : p.EventPattern) as Record<string, unknown>,
              }
            : {}),
          ...(p.ScheduleExpression !== undefined ? { scheduleExpression: String(p.ScheduleExpression) } : {}),
          targets,
        });
        break;
      }
      case 'AWS::Logs::LogGroup':
        model.logGroups.push({ logicalId: id, name, arn: String(r.getAtt(id, 'Arn')) });
        break;
      case 'AWS::SSM::Parameter':
        model.parameters.push({
          logicalId: id,
          name: String(p.Name ?? name),
          type: String(p.Type ?? 'String'),
          value: String(p.Value ?? ''),
        });
        break;
      case 'AWS::Lambda::EventSourceMapping': {
        const mapping = eventSourceMapping(id, stackName, p);
        model.eventSourceMappings.push(mapping);
        if (mapping.kind === 'other') {
          model.notes.push(
            `event source mapping ${id} (${mapping.eventSourceArn ?? 'no EventSourceArn'} → ${mapping.functionName}): only SQS and Kafka (MSK, self-managed) sources are polled locally`,
          );
        }
        break;
      }
    }
  }

  const { apis, notes } = restApisOf(template, r);
  model.restApis.push(...apis);
  model.notes.push(...notes);

  for (const [key, out] of Object.entries(template.Outputs ?? {})) {
    if (out.Condition && !r.condition(out.Condition)) continue;
    const value = r.resolveIn(`output '${key}'`, out.Value);
    model.outputs.push({
      key,
      value: Array.isArray(value) ? value.join(',') : String(value),
      ...(out.Description ? { description: out.Description } : {}),
      ...(out.Export?.Name !== undefined ? { exportName: String(r.resolveIn(`output '${key}'`, out.Export.Name)) } : {}),
    });
  }
  for (const [type, ids] of unsupported) model.unsupported.push({ type, logicalIds: ids });
  return model;
}

/**
 * Loads the assembly at `cdkOut` (every stack, or `options.stackName` and the stacks it depends
 * on) in deployment order: each stack's `Fn::ImportValue`s and `Fn::GetStackOutput`s resolve
 * against the outputs of the stacks loaded before it. Returns the stacks and their merged resources.
 */
export function loadAssembly(cdkOut: string, options: LoadOptions): AssemblyModel {
  const assembly = readAssembly(cdkOut, options.stackName);
  const projectRoot = path.resolve(options.projectRoot ?? path.dirname(assembly.dir));
  const loaded = new LoadedOutputs();
  const stacks: StackModel[] = [];
  for (const stack of assembly.stacks) {
    const model = stackModel(stack, { dir: assembly.dir, endpoint: options.endpoint, projectRoot, loaded });
    loaded.add(model.stackName, model.outputs);
    stacks.push(model);
  }
  return mergeStacks(assembly.dir, stacks);
}

/** How the resources of each kind are named: two of a kind with one name cannot both exist. */
const PHYSICAL_NAMES: Record<keyof LocalResources, { readonly what: string; readonly name?: (item: never) => string }> = {
  tables: { what: 'DynamoDB table', name: (t: LocalTable) => t.name },
  queues: { what: 'SQS queue', name: (q: LocalQueue) => q.name },
  topics: { what: 'SNS topic', name: (t: LocalTopic) => t.name },
  subscriptions: { what: 'SNS subscription' },
  buckets: { what: 'S3 bucket', name: (b: LocalBucket) => b.name },
  functions: { what: 'Lambda function', name: (f: LocalFunction) => f.name },
  stateMachines: { what: 'state machine', name: (m: LocalStateMachineModel) => m.name },
  // Locally every family has one revision (`:1`): two definitions of a family would share an ARN.
  taskDefinitions: { what: 'ECS task definition family', name: (t: LocalTaskDefinitionModel) => t.family },
  rules: { what: 'EventBridge rule (bus/name)', name: (r: LocalRule) => `${r.eventBusName}/${r.name}` },
  logGroups: { what: 'log group', name: (g: LocalLogGroup) => g.name },
  parameters: { what: 'SSM parameter', name: (p: LocalParameter) => p.name },
  eventSourceMappings: { what: 'event source mapping' },
  restApis: { what: 'REST API id', name: (a: LocalRestApi) => a.id },
};

/** One model of the stacks: their resources together; two resources with one physical name are an error naming both. */
export function mergeStacks(cdkOut: string, stacks: readonly StackModel[]): AssemblyModel {
  const merged = emptyResources();
  for (const kind of Object.keys(PHYSICAL_NAMES) as (keyof LocalResources)[]) {
    const { what, name } = PHYSICAL_NAMES[kind];
    const owners = new Map<string, string>();
    for (const stack of stacks) {
      for (const item of stack[kind] as { logicalId: string }[]) {
        const physical = name?.(item as never);
        if (physical !== undefined) {
          const here = `${stack.stackName}/${item.logicalId}`;
          const other = owners.get(physical);
          if (other !== undefined) {
            throw new TemplateError(
              `${other} and ${here} are both the ${what} '${physical}'; a physical name must be unique in the assembly ${cdkOut} (name one of them differently, or leave its name to CloudFormation)`,
            );
          }
          owners.set(physical, here);
        }
        (merged[kind] as unknown[]).push(item);
      }
    }
  }
  const several = stacks.length > 1;
  return {
    cdkOut,
    stacks,
    ...merged,
    notes: stacks.flatMap((s) => s.notes.map((n) => (several ? `${s.stackName}: ${n}` : n))),
  };
}

/** A one-paragraph start-up note of what the runtime does not create. */
export function unsupportedNote(model: AssemblyModel): string | undefined {
  const several = model.stacks.length > 1;
  const byType = new Map<string, string[]>();
  for (const s of model.stacks) {
    for (const u of s.unsupported) {
      byType.set(u.type, [...(byType.get(u.type) ?? []), ...u.logicalIds.map((id) => (several ? `${s.stackName}/${id}` : id))]);
    }
  }
  if (byType.size === 0) return undefined;
  return `not created locally (unsupported resource types): ${[...byType].map(([type, ids]) => `${type} (${ids.join(', ')})`).join('; ')}`;
}
