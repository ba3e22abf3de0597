/**
 * Resolves the intrinsic functions of one stack's template to LOCAL values: `Ref`,
 * `Fn::GetAtt`, `Fn::Join`, `Fn::Sub`, `Fn::Select`, `Fn::Split`, `Fn::If` and Conditions,
 * `Fn::GetAZs`, `Fn::FindInMap`, `Fn::Base64`, `Fn::ToJsonString`, pseudo parameters, and the
 * cross-stack reads `Fn::ImportValue` and `Fn::GetStackOutput` against the outputs of the stacks
 * loaded before (`LoadedOutputs`).
 * Physical names are deterministic (`<stack>-<logicalId>` unless the template names the
 * resource); ARNs have AWS's format in region us-east-1, account 000000000000. API Gateway's ids
 * (REST API, root resource, resources, deployments) are short lowercase hashes of stack and logical
 * id, as AWS's look, so an execute-api URL built from them is a valid host name.
 */
import { createHash } from 'node:crypto';
import { type Template, TemplateError, type TemplateResource } from './assembly';
import { LOCAL_ACCOUNT, LOCAL_REGION } from './types';

/** Marker of AWS::NoValue: dropped from objects and arrays. */
export const NO_VALUE = Symbol('AWS::NoValue');

const AZS = ['a', 'b', 'c', 'd', 'e', 'f'].map((s) => `${LOCAL_REGION}${s}`);

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** One stack output, as another stack reads it (`Fn::ImportValue`, `Fn::GetStackOutput`). */
export interface LoadedOutput {
  readonly stackName: string;
  readonly key: string;
  readonly value: string;
  readonly exportName?: string;
}

/**
 * The outputs of the stacks loaded so far: what later stacks read by export name
 * (`Fn::ImportValue`, CDK's strong cross-stack references) or by stack and output name
 * (`Fn::GetStackOutput`, its weak ones). An export name two stacks both claim is an error, as it
 * is for CloudFormation.
 */
export class LoadedOutputs {
  private readonly byExport = new Map<string, LoadedOutput>();
  private readonly byStack = new Map<string, ReadonlyMap<string, LoadedOutput>>();

  /** Adds the outputs of one stack (once per stack, in load order; stacks without outputs too). */
  public add(stackName: string, outputs: readonly { key: string; value: string; exportName?: string }[]): void {
    const own = new Map<string, LoadedOutput>();
    for (const o of outputs) {
      const output: LoadedOutput = {
        stackName,
        key: o.key,
        value: o.value,
        ...(o.exportName !== undefined ? { exportName: o.exportName } : {}),
      };
      own.set(o.key, output);
      if (o.exportName === undefined) continue;
      const other = this.byExport.get(o.exportName);
      if (other) {
        throw new TemplateError(
          `export '${o.exportName}' of stack '${stackName}' is already exported by stack '${other.stackName}'; export names must be unique in the assembly`,
        );
      }
      this.byExport.set(o.exportName, output);
    }
    this.byStack.set(stackName, own);
  }

  public exported(name: string): LoadedOutput | undefined {
    return this.byExport.get(name);
  }

  /** The outputs of a loaded stack, or undefined when no stack of that name is loaded yet. */
  public outputsOf(stackName: string): ReadonlyMap<string, LoadedOutput> | undefined {
    return this.byStack.get(stackName);
  }

  /** For error messages: the stacks loaded so far and how many exports each has. */
  public describe(): string {
    if (this.byStack.size === 0) return 'no stack is loaded before it';
    const stacks = [...this.byStack].map(([name, outputs]) => {
      const n = [...outputs.values()].filter((o) => o.exportName !== undefined).length;
      return `${name} (${n} export${n === 1 ? '' : 's'})`;
    });
    return `stacks loaded before it: ${stacks.join(', ')}`;
  }
}

/**
 * `name` cut to `max` characters. A cut name ends in a hash of the whole name (as
 * CloudFormation's generated names end in a random suffix) so that two long names differing only
 * in their tails, like the logical ids of many similar functions, stay distinct.
 */
function truncateName(name: string, max: number): string {
  if (name.length <= max) return name;
  const hash = createHash('sha256').update(name).digest('hex').slice(0, 8);
  return `${name.slice(0, max - hash.length - 1)}-${hash}`;
}

/**
 * A stable API Gateway id: `length` lowercase letters and digits from a hash of `parts` (AWS's ids
 * are 10 characters for a REST API and its root resource, 6 for a resource or deployment).
 */
export function apiGatewayId(length: number, ...parts: string[]): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  const digest = createHash('sha256').update(parts.join('/')).digest();
  return Array.from(digest.subarray(0, length), (byte) => alphabet[byte % alphabet.length]).join('');
}

/** Resolves the intrinsics of one stack's template to local values. */
export class TemplateResolver {
  private readonly names = new Map<string, string>();
  private readonly resolving = new Set<string>();
  private readonly conditionCache = new Map<string, boolean>();
  /** What is being resolved (innermost last), so an error names the resource or output. */
  private readonly within: string[] = [];
  public readonly stackId: string;

  /** `loaded`: the outputs of the stacks loaded before this one, for `Fn::ImportValue` and `Fn::GetStackOutput`. */
  public constructor(
    private readonly template: Template,
    public readonly stackName: string,
    private readonly endpoint: string,
    private readonly loaded: LoadedOutputs = new LoadedOutputs(),
  ) {
    this.stackId = `arn:aws:cloudformation:${LOCAL_REGION}:${LOCAL_ACCOUNT}:stack/${stackName}/00000000-0000-0000-0000-000000000000`;
  }

  private resource(logicalId: string): TemplateResource {
    const r = this.template.Resources?.[logicalId];
    if (!r) throw new TemplateError(`template of stack '${this.stackName}' references unknown resource '${logicalId}'`);
    return r;
  }

  /** Resolves `value` as part of `what` (e.g. `resource 'Queue'`, `output 'Url'`), which errors then name. */
  public resolveIn(what: string, value: unknown): unknown {
    this.within.push(what);
    try {
      return this.resolve(value);
    } finally {
      this.within.pop();
    }
  }

  private where(): string {
    return this.within[this.within.length - 1] ?? 'the template';
  }

  public condition(name: string): boolean {
    const cached = this.conditionCache.get(name);
    if (cached !== undefined) return cached;
    const def = this.template.Conditions?.[name];
    if (def === undefined) throw new TemplateError(`template of stack '${this.stackName}' references unknown condition '${name}'`);
    const value = Boolean(this.resolveIn(`condition '${name}'`, def));
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
    this.within.push(`resource '${logicalId}'`);
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
          name = explicit('BucketName') ?? truncateName(base.toLowerCase().replace(/[^a-z0-9.-]/g, '-'), 63).replace(/[-.]+$/, '');
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
      this.within.pop();
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
      case 'AWS::ApiGateway::RestApi':
        return apiGatewayId(10, this.stackName, logicalId);
      case 'AWS::ApiGateway::Resource':
      case 'AWS::ApiGateway::Deployment':
        return apiGatewayId(6, this.stackName, logicalId);
      case 'AWS::ApiGateway::Stage': {
        const stageName = r.Properties?.StageName;
        if (stageName === undefined)
          throw new TemplateError(`API Gateway stage '${logicalId}' of stack '${this.stackName}' has no StageName`);
        return String(this.resolveIn(`resource '${logicalId}'`, stageName));
      }
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
      case 'AWS::ApiGateway::RestApi.RestApiId':
        return apiGatewayId(10, this.stackName, logicalId);
      case 'AWS::ApiGateway::RestApi.RootResourceId':
        return apiGatewayId(10, this.stackName, logicalId, 'root');
      case 'AWS::ApiGateway::Resource.ResourceId':
        return apiGatewayId(6, this.stackName, logicalId);
    }
    if (attribute === 'Arn') return arn(t.split('::')[1]?.toLowerCase() ?? 'unknown', name);
    // Attributes of infrastructure that has no local meaning (VPC ids, security groups…): a stable placeholder.
    return `${logicalId}.${attribute}`;
  }

  private importValue(name: unknown): string {
    if (typeof name !== 'string' || name === '') {
      throw new TemplateError(
        `Fn::ImportValue in ${this.where()} of stack '${this.stackName}' must name an export (given ${JSON.stringify(name)})`,
      );
    }
    const found = this.loaded.exported(name);
    if (!found) {
      throw new TemplateError(
        `stack '${this.stackName}' imports '${name}' (Fn::ImportValue in ${this.where()}), but no stack loaded before it exports that name; ${this.loaded.describe()}`,
      );
    }
    return found.value;
  }

  /**
   * `Fn::GetStackOutput` (CDK's weak cross-stack reference). Its Region and RoleArn are not
   * looked at: locally every stack lives in one region and account.
   */
  private stackOutput(spec: unknown): string {
    const { StackName: stack, OutputName: key } = (isObject(spec) ? spec : {}) as { StackName?: unknown; OutputName?: unknown };
    if (typeof stack !== 'string' || typeof key !== 'string') {
      throw new TemplateError(
        `Fn::GetStackOutput in ${this.where()} of stack '${this.stackName}' must name a StackName and an OutputName (given ${JSON.stringify(spec)})`,
      );
    }
    const outputs = this.loaded.outputsOf(stack);
    if (!outputs) {
      throw new TemplateError(
        `stack '${this.stackName}' reads output '${key}' of stack '${stack}' (Fn::GetStackOutput in ${this.where()}), but '${stack}' is not loaded before it; ${this.loaded.describe()}`,
      );
    }
    const found = outputs.get(key);
    if (!found) {
      throw new TemplateError(
        `stack '${this.stackName}' reads output '${key}' of stack '${stack}' (Fn::GetStackOutput in ${this.where()}), but '${stack}' has no such output (it has: ${[...outputs.keys()].join(', ') || 'none'})`,
      );
    }
    return found.value;
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
          return this.importValue(this.resolve(arg));
        case 'Fn::GetStackOutput':
          return this.stackOutput(this.resolve(arg));
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
