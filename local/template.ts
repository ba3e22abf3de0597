/**
 * Reads a cloud assembly (`cdk.out`) and resolves its stack template to LOCAL values: the
 * typed model of what the local runtime creates (tables, queues, topics, buckets, Lambda
 * functions, state machines, ECS task definitions, event rules, log groups) and the stack's
 * outputs. Physical names are deterministic (`<stack>-<logicalId>` unless the template names
 * the resource), ARNs have AWS's format in region us-east-1, account 000000000000.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { LOCAL_ACCOUNT, LOCAL_REGION, type LocalContainer, type LocalTaskDefinition } from './types';

/** A template or assembly the runtime cannot use: names the path and what is wrong. */
export class TemplateError extends Error {
  public override name = 'TemplateError';
}

export interface ResolveOptions {
  /** Edge URL (queue URLs are `<endpoint>/000000000000/<name>`). */
  readonly endpoint: string;
  /** Stack to load; default: the only stack of the assembly (an error when there are several). */
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

export interface LocalEventSourceMapping {
  readonly logicalId: string;
  /** Function name (resolved from a name or an ARN). */
  readonly functionName: string;
  readonly eventSourceArn?: string;
  readonly batchSize: number;
  readonly maximumBatchingWindowInSeconds: number;
  readonly enabled: boolean;
  readonly reportBatchItemFailures: boolean;
  /** Kafka (MSK or self-managed) topics, when the source is Kafka. */
  readonly topics?: string[];
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

export interface StackModel {
  readonly stackName: string;
  readonly stackId: string;
  readonly cdkOut: string;
  readonly templateFile: string;
  readonly description?: string;
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
  readonly outputs: { key: string; value: string; description?: string; exportName?: string }[];
  /** Resource types present in the template that the local runtime does not create, with counts. */
  readonly unsupported: { type: string; logicalIds: string[] }[];
  /** Things the runtime should tell the user at start-up (e.g. a rule target it cannot deliver to). */
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
]);

const AZS = ['a', 'b', 'c', 'd', 'e', 'f'].map((s) => `${LOCAL_REGION}${s}`);

interface Resource {
  Type: string;
  Properties?: Record<string, unknown>;
  Metadata?: Record<string, unknown>;
  Condition?: string;
}

interface Template {
  Description?: string;
  Parameters?: Record<string, { Default?: unknown; Type?: string }>;
  Mappings?: Record<string, Record<string, Record<string, unknown>>>;
  Conditions?: Record<string, unknown>;
  Resources?: Record<string, Resource>;
  Outputs?: Record<string, { Value: unknown; Description?: string; Export?: { Name: unknown }; Condition?: string }>;
}

/** Marker of AWS::NoValue: dropped from objects and arrays. */
const NO_VALUE = Symbol('AWS::NoValue');

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Finds the stack artifact of the assembly; clear errors for a missing or malformed cdk.out. */
export function readAssembly(cdkOut: string, stackName?: string): { stackName: string; templateFile: string; template: Template } {
  const dir = path.resolve(cdkOut);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new TemplateError(`cloud assembly not found: ${dir} does not exist; run 'npx cdk synth' (or 'asynctask dev --synth') first`);
  }
  const manifestPath = path.join(dir, 'manifest.json');
  if (!existsSync(manifestPath)) {
    throw new TemplateError(`malformed cloud assembly: ${manifestPath} does not exist; run 'npx cdk synth' again`);
  }
  let manifest: { artifacts?: Record<string, { type?: string; displayName?: string; properties?: { templateFile?: string; stackName?: string } }> };
  try {
    manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
  } catch (error) {
    throw new TemplateError(`malformed cloud assembly: ${manifestPath} is not valid JSON (${(error as Error).message})`);
  }
  const stacks = Object.entries(manifest.artifacts ?? {})
    .filter(([, a]) => a?.type === 'aws:cloudformation:stack')
    .map(([id, a]) => ({ id, name: a.properties?.stackName ?? a.displayName ?? id, file: a.properties?.templateFile }));
  if (stacks.length === 0) {
    throw new TemplateError(`malformed cloud assembly: ${manifestPath} has no CloudFormation stack artifact`);
  }
  let stack = stacks[0];
  if (stackName) {
    const found = stacks.find((s) => s.name === stackName || s.id === stackName);
    if (!found) {
      throw new TemplateError(
        `stack '${stackName}' is not in ${manifestPath} (it has: ${stacks.map((s) => s.name).join(', ')})`,
      );
    }
    stack = found;
  } else if (stacks.length > 1) {
    throw new TemplateError(
      `${manifestPath} has several stacks (${stacks.map((s) => s.name).join(', ')}); name the one to run`,
    );
  }
  if (!stack.file) throw new TemplateError(`malformed cloud assembly: stack '${stack.name}' in ${manifestPath} names no templateFile`);
  const templateFile = path.join(dir, stack.file);
  if (!existsSync(templateFile)) {
    throw new TemplateError(`malformed cloud assembly: template ${templateFile} (of stack '${stack.name}') does not exist`);
  }
  let template: Template;
  try {
    template = JSON.parse(readFileSync(templateFile, 'utf8'));
  } catch (error) {
    throw new TemplateError(`malformed cloud assembly: ${templateFile} is not valid JSON (${(error as Error).message})`);
  }
  if (!isObject(template) || !isObject(template.Resources)) {
    throw new TemplateError(`malformed cloud assembly: ${templateFile} has no Resources section`);
  }
  return { stackName: stack.name, templateFile, template };
}

function truncateName(name: string, max: number): string {
  return name.length <= max ? name : name.slice(0, max);
}

/** Resolves intrinsics of one template to local values. */
export class TemplateResolver {
  private readonly names = new Map<string, string>();
  private readonly resolving = new Set<string>();
  private readonly conditionCache = new Map<string, boolean>();
  public readonly stackId: string;

  public constructor(
    private readonly template: Template,
    public readonly stackName: string,
    private readonly endpoint: string,
  ) {
    this.stackId = `arn:aws:cloudformation:${LOCAL_REGION}:${LOCAL_ACCOUNT}:stack/${stackName}/00000000-0000-0000-0000-000000000000`;
  }

  private resource(logicalId: string): Resource {
    const r = this.template.Resources?.[logicalId];
    if (!r) throw new TemplateError(`template of stack '${this.stackName}' references unknown resource '${logicalId}'`);
    return r;
  }

  public condition(name: string): boolean {
    const cached = this.conditionCache.get(name);
    if (cached !== undefined) return cached;
    const def = this.template.Conditions?.[name];
    if (def === undefined) throw new TemplateError(`template of stack '${this.stackName}' references unknown condition '${name}'`);
    const value = Boolean(this.resolve(def));
    this.conditionCache.set(name, value);
    return value;
  }

  public resourceEnabled(logicalId: string): boolean {
    const c = this.resource(logicalId).Condition;
    return c === undefined || this.condition(c);
  }

  /** The physical name of a resource (its name property, else `<stack>-<logicalId>`). */
  public physicalName(logicalId: string): string {
    const cached = this.names.get(logicalId);
    if (cached !== undefined) return cached;
    if (this.resolving.has(logicalId)) throw new TemplateError(`circular reference through resource '${logicalId}'`);
    this.resolving.add(logicalId);
    try {
      const r = this.resource(logicalId);
      const p = r.Properties ?? {};
      const explicit = (prop: string): string | undefined => (p[prop] !== undefined ? String(this.resolve(p[prop])) : undefined);
      const base = `${this.stackName}-${logicalId}`;
      let name: string;
      switch (r.Type) {
        case 'AWS::DynamoDB::Table':
          name = explicit('TableName') ?? truncateName(base, 255);
          break;
        case 'AWS::SQS::Queue': {
          const fifo = p.FifoQueue !== undefined && String(this.resolve(p.FifoQueue)) === 'true';
          name = explicit('QueueName') ?? `${truncateName(base, fifo ? 75 : 80)}${fifo ? '.fifo' : ''}`;
          break;
        }
        case 'AWS::SNS::Topic': {
          const fifo = p.FifoTopic !== undefined && String(this.resolve(p.FifoTopic)) === 'true';
          name = explicit('TopicName') ?? `${truncateName(base, fifo ? 251 : 256)}${fifo ? '.fifo' : ''}`;
          break;
        }
        case 'AWS::S3::Bucket':
          name =
            explicit('BucketName') ??
            truncateName(base.toLowerCase().replace(/[^a-z0-9.-]/g, '-'), 63).replace(/[-.]+$/, '');
          break;
        case 'AWS::Lambda::Function':
          name = explicit('FunctionName') ?? truncateName(base, 64);
          break;
        case 'AWS::StepFunctions::StateMachine':
          name = explicit('StateMachineName') ?? truncateName(base, 80);
          break;
        case 'AWS::ECS::TaskDefinition':
          name = explicit('Family') ?? truncateName(`${this.stackName}${logicalId}`, 255);
          break;
        case 'AWS::ECS::Cluster':
          name = explicit('ClusterName') ?? base;
          break;
        case 'AWS::Logs::LogGroup':
          name = explicit('LogGroupName') ?? base;
          break;
        case 'AWS::Events::Rule':
          name = explicit('Name') ?? truncateName(base, 64);
          break;
        case 'AWS::Events::EventBus':
          name = explicit('Name') ?? base;
          break;
        case 'AWS::IAM::Role':
          name = explicit('RoleName') ?? truncateName(base, 64);
          break;
        default:
          name = base;
      }
      this.names.set(logicalId, name);
      return name;
    } finally {
      this.resolving.delete(logicalId);
    }
  }

  public ref(logicalId: string): unknown {
    switch (logicalId) {
      case 'AWS::Region':
        return LOCAL_REGION;
      case 'AWS::AccountId':
        return LOCAL_ACCOUNT;
      case 'AWS::Partition':
        return 'aws';
      case 'AWS::StackName':
        return this.stackName;
      case 'AWS::StackId':
        return this.stackId;
      case 'AWS::URLSuffix':
        return 'amazonaws.com';
      case 'AWS::NotificationARNs':
        return [];
      case 'AWS::NoValue':
        return NO_VALUE;
    }
    const param = this.template.Parameters?.[logicalId];
    if (param) {
      if (param.Default === undefined) {
        throw new TemplateError(`template parameter '${logicalId}' has no default; the local runtime cannot supply one`);
      }
      return param.Default;
    }
    const r = this.resource(logicalId);
    const name = this.physicalName(logicalId);
    switch (r.Type) {
      case 'AWS::SQS::Queue':
        return this.queueUrl(name);
      case 'AWS::SNS::Topic':
        return arn('sns', name);
      case 'AWS::StepFunctions::StateMachine':
        return arn('states', `stateMachine:${name}`);
      case 'AWS::ECS::TaskDefinition':
        return arn('ecs', `task-definition/${name}:1`);
      case 'AWS::SNS::Subscription':
        return `${arn('sns', 'subscription')}:${logicalId}`;
      default:
        return name;
    }
  }

  public queueUrl(name: string): string {
    return `${this.endpoint.replace(/\/$/, '')}/${LOCAL_ACCOUNT}/${name}`;
  }

  public getAtt(logicalId: string, attribute: string): unknown {
    const r = this.resource(logicalId);
    const name = this.physicalName(logicalId);
    const t = r.Type;
    switch (`${t}.${attribute}`) {
      case 'AWS::DynamoDB::Table.Arn':
        return arn('dynamodb', `table/${name}`);
      case 'AWS::DynamoDB::Table.StreamArn':
        return arn('dynamodb', `table/${name}/stream/1970-01-01T00:00:00.000`);
      case 'AWS::SQS::Queue.Arn':
        return arn('sqs', name);
      case 'AWS::SQS::Queue.QueueName':
        return name;
      case 'AWS::SQS::Queue.QueueUrl':
        return this.queueUrl(name);
      case 'AWS::SNS::Topic.TopicArn':
        return arn('sns', name);
      case 'AWS::SNS::Topic.TopicName':
        return name;
      case 'AWS::S3::Bucket.Arn':
        return `arn:aws:s3:::${name}`;
      case 'AWS::S3::Bucket.DomainName':
        return `${name}.s3.amazonaws.com`;
      case 'AWS::S3::Bucket.RegionalDomainName':
        return `${name}.s3.${LOCAL_REGION}.amazonaws.com`;
      case 'AWS::Lambda::Function.Arn':
        return arn('lambda', `function:${name}`);
      case 'AWS::StepFunctions::StateMachine.Arn':
        return arn('states', `stateMachine:${name}`);
      case 'AWS::StepFunctions::StateMachine.Name':
        return name;
      case 'AWS::ECS::TaskDefinition.TaskDefinitionArn':
        return arn('ecs', `task-definition/${name}:1`);
      case 'AWS::ECS::Cluster.Arn':
        return arn('ecs', `cluster/${name}`);
      case 'AWS::Logs::LogGroup.Arn':
        return arn('logs', `log-group:${name}:*`);
      case 'AWS::Events::Rule.Arn':
        return arn('events', `rule/${name}`);
      case 'AWS::Events::EventBus.Arn':
        return arn('events', `event-bus/${name}`);
      case 'AWS::IAM::Role.Arn':
        return `arn:aws:iam::${LOCAL_ACCOUNT}:role/${name}`;
      case 'AWS::IAM::Role.RoleId':
        return `AROA${logicalId.toUpperCase().slice(0, 17)}`;
    }
    if (attribute === 'Arn') return arn(t.split('::')[1]?.toLowerCase() ?? 'unknown', name);
    // Attributes of infrastructure that has no local meaning (VPC ids, security groups…): a stable placeholder.
    return `${logicalId}.${attribute}`;
  }

  private sub(template: string, vars: Record<string, unknown>): string {
    return template.replace(/\$\{([^}]*)\}/g, (whole, expr: string) => {
      if (expr.startsWith('!')) return `\${${expr.slice(1)}}`;
      const key = expr.trim();
      if (key in vars) return String(vars[key]);
      if (key.includes('.') && !key.startsWith('AWS::')) {
        const dot = key.indexOf('.');
        return String(this.getAtt(key.slice(0, dot), key.slice(dot + 1)));
      }
      const v = this.ref(key);
      if (v === NO_VALUE) return '';
      return Array.isArray(v) ? v.join(',') : String(v ?? whole);
    });
  }

  /** Resolves every intrinsic in `value`. */
  public resolve(value: unknown): unknown {
    if (Array.isArray(value)) {
      return value.map((v) => this.resolve(v)).filter((v) => v !== NO_VALUE);
    }
    if (!isObject(value)) return value;
    const keys = Object.keys(value);
    if (keys.length === 1) {
      const k = keys[0];
      const arg = value[k];
      switch (k) {
        case 'Ref':
          return this.ref(String(arg));
        case 'Fn::GetAtt': {
          const [id, ...attr] = Array.isArray(arg) ? (arg as unknown[]).map((a) => String(this.resolve(a))) : String(arg).split('.');
          return this.getAtt(id, attr.join('.'));
        }
        case 'Fn::Join': {
          const [sep, list] = arg as [string, unknown];
          const items = this.resolve(list) as unknown[];
          return items.map((i) => String(i)).join(String(this.resolve(sep)));
        }
        case 'Fn::Sub': {
          if (typeof arg === 'string') return this.sub(arg, {});
          const [tpl, vars] = arg as [string, Record<string, unknown>];
          const resolvedVars = Object.fromEntries(Object.entries(vars ?? {}).map(([n, v]) => [n, this.resolve(v)]));
          return this.sub(String(this.resolve(tpl)), resolvedVars);
        }
        case 'Fn::Select': {
          const [index, list] = arg as [unknown, unknown];
          const items = this.resolve(list) as unknown[];
          const i = Number(this.resolve(index));
          if (!Array.isArray(items) || !(i >= 0 && i < items.length)) {
            throw new TemplateError(`Fn::Select index ${i} out of range in stack '${this.stackName}'`);
          }
          return items[i];
        }
        case 'Fn::Split': {
          const [sep, str] = arg as [string, unknown];
          return String(this.resolve(str)).split(String(sep));
        }
        case 'Fn::GetAZs':
          return AZS.slice(0, 3);
        case 'Fn::If': {
          const [cond, yes, no] = arg as [string, unknown, unknown];
          return this.condition(cond) ? this.resolve(yes) : this.resolve(no);
        }
        case 'Fn::Equals': {
          const [a, b] = (arg as unknown[]).map((x) => this.resolve(x));
          return JSON.stringify(a) === JSON.stringify(b) || String(a) === String(b);
        }
        case 'Fn::And':
          return (arg as unknown[]).every((x) => Boolean(this.resolve(x)));
        case 'Fn::Or':
          return (arg as unknown[]).some((x) => Boolean(this.resolve(x)));
        case 'Fn::Not':
          return !this.resolve((arg as unknown[])[0]);
        case 'Condition':
          return this.condition(String(arg));
        case 'Fn::Base64':
          return Buffer.from(String(this.resolve(arg))).toString('base64');
        case 'Fn::FindInMap': {
          const [map, top, second] = (arg as unknown[]).map((x) => String(this.resolve(x)));
          const v = this.template.Mappings?.[map]?.[top]?.[second];
          if (v === undefined) throw new TemplateError(`Fn::FindInMap [${map}, ${top}, ${second}] not found in stack '${this.stackName}'`);
          return v;
        }
        case 'Fn::ToJsonString':
          return JSON.stringify(this.resolve(arg));
        case 'Fn::ImportValue':
          throw new TemplateError(
            `Fn::ImportValue (${JSON.stringify(arg)}) in stack '${this.stackName}': cross-stack imports are not supported by the local runtime`,
          );
      }
    }
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const r = this.resolve(v);
      if (r !== NO_VALUE) out[k] = r;
    }
    return out;
  }
}

function arn(service: string, resource: string): string {
  return `arn:aws:${service}:${LOCAL_REGION}:${LOCAL_ACCOUNT}:${resource}`;
}

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

/** Loads `cdkOut` and resolves the stack to the local model. */
export function loadStack(cdkOut: string, options: ResolveOptions): StackModel {
  const dir = path.resolve(cdkOut);
  const { stackName, templateFile, template } = readAssembly(dir, options.stackName);
  const projectRoot = path.resolve(options.projectRoot ?? path.dirname(dir));
  const r = new TemplateResolver(template, stackName, options.endpoint);
  const where = (id: string) => `resource '${id}' of ${templateFile}`;

  const model: StackModel = {
    stackName,
    stackId: r.stackId,
    cdkOut: dir,
    templateFile,
    ...(template.Description ? { description: template.Description } : {}),
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
    if (!SUPPORTED.has(res.Type)) {
      if (!IGNORED.has(res.Type)) unsupported.set(res.Type, [...(unsupported.get(res.Type) ?? []), id]);
      continue;
    }
    const p = (r.resolve(res.Properties ?? {}) ?? {}) as Record<string, unknown>;
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
            model.notes.push(`Lambda function ${id}: asset ${codeDir} is not a directory (zip assets are not supported); invoking it fails`);
            codeDir = undefined;
          }
        }
        const runtime = str(p.Runtime) ?? (code.ImageUri ? 'image' : 'unknown');
        if (!runtime.startsWith('nodejs')) {
          model.notes.push(`Lambda function ${name} (${id}) has runtime ${runtime}; the local runtime runs Node.js functions only, invoking it fails`);
        }
        if (!codeDir && code.ZipFile === undefined) {
          model.notes.push(`Lambda function ${name} (${id}) has no local code (no asset folder nor inline code); invoking it fails`);
        }
        const logging = (p.LoggingConfig ?? {}) as { LogFormat?: string; LogGroup?: string };
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
          if (t.InputTransformer !== undefined) model.notes.push(`rule ${id} target ${String(t.Id)}: InputTransformer is not supported; the full event is sent`);
        }
        const bus = str(p.EventBusName) ?? 'default';
        model.rules.push({
          logicalId: id,
          name,
          arn: String(r.getAtt(id, 'Arn')),
          eventBusName: bus.includes(':event-bus/') ? bus.slice(bus.indexOf(':event-bus/') + 11) : bus,
          enabled: (str(p.State) ?? 'ENABLED') === 'ENABLED',
          ...(p.EventPattern !== undefined
            ? { eventPattern: (typeof p.EventPattern === 'string' ? JSON.parse(p.EventPattern) : p.EventPattern) as Record<string, unknown> }
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
        model.parameters.push({ logicalId: id, name: String(p.Name ?? name), type: String(p.Type ?? 'String'), value: String(p.Value ?? '') });
        break;
      case 'AWS::Lambda::EventSourceMapping': {
        const fnRef = String(p.FunctionName ?? '');
        const parts = fnRef.split(':');
        const functionName = fnRef.startsWith('arn:') ? (parts[6] ?? fnRef) : fnRef;
        const source = str(p.EventSourceArn);
        const topics = (p.Topics as string[] | undefined)?.map(String);
        const mapping: LocalEventSourceMapping = {
          logicalId: id,
          functionName,
          ...(source ? { eventSourceArn: source } : {}),
          batchSize: Number(p.BatchSize ?? (source?.startsWith('arn:aws:sqs:') ? 10 : 100)),
          maximumBatchingWindowInSeconds: Number(p.MaximumBatchingWindowInSeconds ?? 0),
          enabled: String(p.Enabled ?? 'true') !== 'false',
          reportBatchItemFailures: ((p.FunctionResponseTypes as string[] | undefined) ?? []).includes('ReportBatchItemFailures'),
          ...(topics ? { topics } : {}),
        };
        model.eventSourceMappings.push(mapping);
        if (!source?.startsWith('arn:aws:sqs:')) {
          model.notes.push(
            `event source mapping ${id} (${source ?? 'self-managed Kafka'} → ${functionName}): only SQS sources are polled locally; invoke the function with a Kafka event yourself`,
          );
        }
        break;
      }
    }
  }

  for (const [key, out] of Object.entries(template.Outputs ?? {})) {
    if (out.Condition && !r.condition(out.Condition)) continue;
    const value = r.resolve(out.Value);
    model.outputs.push({
      key,
      value: Array.isArray(value) ? value.join(',') : String(value),
      ...(out.Description ? { description: out.Description } : {}),
      ...(out.Export?.Name !== undefined ? { exportName: String(r.resolve(out.Export.Name)) } : {}),
    });
  }
  for (const [type, ids] of unsupported) model.unsupported.push({ type, logicalIds: ids });
  return model;
}

/** A one-paragraph start-up note of what the runtime does not create. */
export function unsupportedNote(model: StackModel): string | undefined {
  if (model.unsupported.length === 0) return undefined;
  return `not created locally (unsupported resource types): ${model.unsupported
    .map((u) => `${u.type} (${u.logicalIds.join(', ')})`)
    .join('; ')}`;
}
