/**
 * AWS quotas a service with many task functions could reach, checked at synth (docs/design.md
 * "Quotas"). The limits are named constants with their source; the checks are pure functions of
 * synthesized templates, so a test can feed them a made-up template, and `checkQuotas` runs them
 * over every stack that holds a service or its task functions (`AsyncTaskService` adds it with
 * `node.addValidation`). A failure names the quota, the construct, the value and the limit.
 *
 * Sizes that AWS measures after deployment (IAM policies, Lambda environments, parameter values,
 * state machine definitions, event patterns) are estimated from the template: a reference
 * (`Ref`, `Fn::GetAtt`, a cross-stack read) counts as REFERENCE_ESTIMATE characters and a pseudo
 * parameter as its longest value, so an estimate errs on the large side.
 */
import { CfnElement, Stack } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/** One AWS quota: what it limits, its default value and where AWS documents it. */
export interface Quota {
  readonly name: string;
  readonly limit: number;
  readonly unit: string;
  readonly source: string;
}

const CFN_QUOTAS = 'https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html';
const IAM_QUOTAS = 'https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html';

/** The quotas checked at synth. None of them can be raised except the event pattern size. */
export const QUOTAS = {
  resourcesPerStack: { name: 'CloudFormation resources per stack', limit: 500, unit: 'resources', source: CFN_QUOTAS },
  outputsPerStack: { name: 'CloudFormation outputs per stack', limit: 200, unit: 'outputs', source: CFN_QUOTAS },
  parametersPerStack: { name: 'CloudFormation parameters per stack', limit: 200, unit: 'parameters', source: CFN_QUOTAS },
  /** 1 MB for a template uploaded to S3 (the CDK CLI uploads every template over 51,200 bytes); counted as 10^6 to stay clear of it. */
  templateBody: { name: 'CloudFormation template body size (S3)', limit: 1_000_000, unit: 'bytes', source: CFN_QUOTAS },
  /** Sum of every inline policy of one role (AWS::IAM::Policy resources attached to it included), whitespace not counted. */
  roleInlinePolicies: { name: 'IAM inline policy size per role (aggregate)', limit: 10_240, unit: 'characters', source: IAM_QUOTAS },
  managedPolicy: { name: 'IAM managed policy size', limit: 6_144, unit: 'characters', source: IAM_QUOTAS },
  lambdaEnvironment: {
    name: 'Lambda environment variables size',
    limit: 4_096,
    unit: 'bytes',
    source: 'https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html',
  },
  ssmStandardParameter: {
    name: 'SSM standard parameter value size',
    limit: 4_096,
    unit: 'characters',
    source: 'https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-advanced-parameters.html',
  },
  stateMachineDefinition: {
    name: 'Step Functions state machine definition size',
    limit: 1_048_576,
    unit: 'bytes',
    source: 'https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html',
  },
  /** 2,048 by default, adjustable to 4,096. */
  eventPattern: {
    name: 'EventBridge event pattern size',
    limit: 2_048,
    unit: 'characters',
    source: 'https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-quota.html',
  },
  /** 300 by default, adjustable; the task API has 10 (the root `/` and 9), and 8 more per function with a throttle of its own. */
  apiResources: {
    name: 'API Gateway resources per REST API',
    limit: 300,
    unit: 'resources',
    source: 'https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html',
  },
  dashboardWidgets: {
    name: 'CloudWatch widgets per dashboard',
    limit: 500,
    unit: 'widgets',
    source: 'https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/CloudWatch-Dashboard-Body-Structure.html',
  },
} as const satisfies Record<string, Quota>;

export type QuotaId = keyof typeof QUOTAS;

/** Characters a reference (`Ref`, `Fn::GetAtt`, `Fn::ImportValue`, `Fn::GetStackOutput`) counts for: an ARN with an 80-character name. */
export const REFERENCE_ESTIMATE = 140;

/** Longest value of each pseudo parameter. */
const PSEUDO_PARAMETER_LENGTH: Readonly<Record<string, number>> = {
  'AWS::AccountId': 12,
  'AWS::Region': 14,
  'AWS::Partition': 10,
  'AWS::URLSuffix': 16,
  'AWS::StackName': 128,
  'AWS::StackId': 160,
  'AWS::NotificationARNs': REFERENCE_ESTIMATE,
  'AWS::NoValue': 0,
};

/** One measured value: which quota, of what (construct path), how much. */
export interface QuotaUsage {
  readonly quota: QuotaId;
  /** Construct path of the resource or stack measured. */
  readonly path: string;
  readonly value: number;
  /** What was measured, when the path alone does not say it (a role's policies, a variable). */
  readonly detail?: string;
}

/** The message of a usage over its limit: the quota, the construct, the value, the limit and its source. */
export function quotaProblem(usage: QuotaUsage): string | undefined {
  const quota: Quota = QUOTAS[usage.quota];
  if (usage.value <= quota.limit) return undefined;
  const detail = usage.detail ? ` (${usage.detail})` : '';
  return `${quota.name} exceeded at ${usage.path}${detail}: ${usage.value} ${quota.unit}, the limit is ${quota.limit} (${quota.source})`;
}

/**
 * A value as it will be after deployment, with each intrinsic replaced by a string of its
 * estimated length, so `JSON.stringify` of the result measures it.
 */
export function estimateDeployed(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(estimateDeployed);
  if (value === null || typeof value !== 'object') return value;
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length === 1) {
    const [key, arg] = entries[0];
    if (key === 'Ref') {
      const pseudo = PSEUDO_PARAMETER_LENGTH[String(arg)];
      return 'x'.repeat(pseudo ?? REFERENCE_ESTIMATE);
    }
    if (key === 'Fn::Join' && Array.isArray(arg)) {
      const [separator, parts] = arg as [string, unknown[]];
      const list = Array.isArray(parts) ? parts.map((p) => String(estimateDeployed(p))) : [String(estimateDeployed(parts))];
      return list.join(String(separator));
    }
    if (key === 'Fn::Sub') {
      const template = Array.isArray(arg) ? String(arg[0]) : String(arg);
      return template.replace(/\$\{([^}!]+)\}/g, (_m, name: string) => 'x'.repeat(PSEUDO_PARAMETER_LENGTH[name] ?? REFERENCE_ESTIMATE));
    }
    if (key.startsWith('Fn::') || key === 'Condition') return 'x'.repeat(REFERENCE_ESTIMATE);
  }
  return Object.fromEntries(entries.map(([k, v]) => [k, estimateDeployed(v)]));
}

/** Length of a value as compact JSON (IAM does not count whitespace) after deployment. */
export function deployedJsonLength(value: unknown): number {
  const estimated = estimateDeployed(value);
  return (typeof estimated === 'string' ? estimated : JSON.stringify(estimated)).length;
}

/** A synthesized CloudFormation template (the parts the checks read). */
export interface CfnTemplate {
  readonly Resources?: Record<string, { readonly Type: string; readonly Properties?: Record<string, unknown> }>;
  readonly Outputs?: Record<string, { readonly Value?: unknown; readonly Export?: { readonly Name?: unknown } }>;
  readonly Parameters?: Record<string, unknown>;
}

/** A template with what the checks need to name things: its stack's path and name, and each resource's construct path. */
export interface StackTemplate {
  readonly stackName: string;
  readonly path: string;
  readonly template: CfnTemplate;
  /** Construct path of a logical id (the logical id itself when unknown). */
  readonly pathOf: (logicalId: string) => string;
}

/** Everything measured in one stack, except the roles' aggregate (see `roleInlinePolicyUsage`). */
export function stackUsage(stack: StackTemplate): QuotaUsage[] {
  const { template } = stack;
  const resources = template.Resources ?? {};
  const usage: QuotaUsage[] = [
    { quota: 'resourcesPerStack', path: stack.path, value: Object.keys(resources).length },
    { quota: 'outputsPerStack', path: stack.path, value: Object.keys(template.Outputs ?? {}).length },
    { quota: 'parametersPerStack', path: stack.path, value: Object.keys(template.Parameters ?? {}).length },
    // The CDK writes templates indented by one space; that is the body CloudFormation receives.
    { quota: 'templateBody', path: stack.path, value: Buffer.byteLength(JSON.stringify(template, undefined, 1)) },
  ];
  for (const [logicalId, resource] of Object.entries(resources)) {
    const p = resource.Properties ?? {};
    const path = stack.pathOf(logicalId);
    switch (resource.Type) {
      case 'AWS::Lambda::Function': {
        const variables = (p.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {};
        const bytes = Object.entries(variables).reduce(
          (sum, [name, value]) => sum + Buffer.byteLength(name) + Buffer.byteLength(String(estimateDeployed(value))),
          0,
        );
        usage.push({ quota: 'lambdaEnvironment', path, value: bytes });
        break;
      }
      case 'AWS::SSM::Parameter':
        if (p.Tier !== 'Advanced' && p.Tier !== 'Intelligent-Tiering') {
          usage.push({ quota: 'ssmStandardParameter', path, value: String(estimateDeployed(p.Value ?? '')).length });
        }
        break;
      case 'AWS::StepFunctions::StateMachine':
        if (p.DefinitionString !== undefined) {
          usage.push({ quota: 'stateMachineDefinition', path, value: Buffer.byteLength(String(estimateDeployed(p.DefinitionString))) });
        } else if (p.Definition !== undefined) {
          usage.push({ quota: 'stateMachineDefinition', path, value: deployedJsonLength(p.Definition) });
        }
        break;
      case 'AWS::Events::Rule':
        if (p.EventPattern !== undefined) {
          const pattern = typeof p.EventPattern === 'string' ? p.EventPattern : JSON.stringify(estimateDeployed(p.EventPattern));
          usage.push({ quota: 'eventPattern', path, value: pattern.length });
        }
        break;
      case 'AWS::CloudWatch::Dashboard': {
        const body = JSON.parse(String(estimateDeployed(p.DashboardBody ?? '{}'))) as { widgets?: unknown[] };
        usage.push({ quota: 'dashboardWidgets', path, value: body.widgets?.length ?? 0 });
        break;
      }
      case 'AWS::IAM::ManagedPolicy':
        usage.push({ quota: 'managedPolicy', path, value: deployedJsonLength(p.PolicyDocument) });
        break;
      default:
        break;
    }
  }
  // Resources of each REST API of the stack, its root `/` included (API Gateway lists it among them).
  const apiResources = new Map<string, number>();
  for (const resource of Object.values(resources)) {
    if (resource.Type !== 'AWS::ApiGateway::Resource') continue;
    const api = (resource.Properties?.RestApiId as { Ref?: unknown } | undefined)?.Ref;
    const key = typeof api === 'string' ? api : JSON.stringify(resource.Properties?.RestApiId);
    apiResources.set(key, (apiResources.get(key) ?? 1) + 1);
  }
  for (const [api, count] of apiResources) usage.push({ quota: 'apiResources', path: stack.pathOf(api), value: count });
  return usage;
}

/**
 * The aggregate inline policy size of every role of the given stacks: its own `Policies` plus
 * every AWS::IAM::Policy of any stack attached to it, by `Ref` in its own stack or by a
 * cross-stack read of the output that holds its `Ref` (that is how a task function's stack
 * attaches a policy to a service role).
 */
export function roleInlinePolicyUsage(stacks: readonly StackTemplate[]): QuotaUsage[] {
  const byName = new Map(stacks.map((s) => [s.stackName, s]));
  const key = (stack: StackTemplate, logicalId: string) => `${stack.stackName}\u0000${logicalId}`;
  /** The role a `Roles` entry of a policy in `stack` names, as a key. */
  const roleKey = (stack: StackTemplate, entry: unknown): string | undefined => {
    const e = entry as Record<string, unknown> | null;
    if (!e || typeof e !== 'object') return undefined;
    if (typeof e.Ref === 'string') return key(stack, e.Ref);
    const read = e['Fn::GetStackOutput'] as { StackName?: unknown; OutputName?: unknown } | undefined;
    if (read && typeof read.StackName === 'string' && typeof read.OutputName === 'string') {
      const producer = byName.get(read.StackName);
      const ref = (producer?.template.Outputs?.[read.OutputName]?.Value as { Ref?: unknown } | undefined)?.Ref;
      return producer && typeof ref === 'string' ? key(producer, ref) : undefined;
    }
    const imported = e['Fn::ImportValue'];
    if (typeof imported === 'string') {
      for (const producer of stacks) {
        for (const output of Object.values(producer.template.Outputs ?? {})) {
          const ref = (output.Value as { Ref?: unknown } | undefined)?.Ref;
          if (output.Export?.Name === imported && typeof ref === 'string') return key(producer, ref);
        }
      }
    }
    return undefined;
  };

  const sizes = new Map<string, { path: string; value: number; policies: number }>();
  for (const stack of stacks) {
    for (const [logicalId, resource] of Object.entries(stack.template.Resources ?? {})) {
      if (resource.Type !== 'AWS::IAM::Role') continue;
      const policies = (resource.Properties?.Policies as Array<{ PolicyDocument: unknown }> | undefined) ?? [];
      sizes.set(key(stack, logicalId), {
        path: stack.pathOf(logicalId),
        value: policies.reduce((sum, policy) => sum + deployedJsonLength(policy.PolicyDocument), 0),
        policies: policies.length,
      });
    }
  }
  for (const stack of stacks) {
    for (const resource of Object.values(stack.template.Resources ?? {})) {
      if (resource.Type !== 'AWS::IAM::Policy') continue;
      const length = deployedJsonLength(resource.Properties?.PolicyDocument);
      for (const entry of (resource.Properties?.Roles as unknown[] | undefined) ?? []) {
        const role = sizes.get(roleKey(stack, entry) ?? '');
        if (role) {
          role.value += length;
          role.policies += 1;
        }
      }
    }
  }
  return [...sizes.values()].map((role) => ({
    quota: 'roleInlinePolicies',
    path: role.path,
    value: role.value,
    detail: `${role.policies} inline ${role.policies === 1 ? 'policy' : 'policies'}`,
  }));
}

/** Every usage of the given stacks. */
export function quotaUsage(stacks: readonly StackTemplate[]): QuotaUsage[] {
  return [...stacks.flatMap(stackUsage), ...roleInlinePolicyUsage(stacks)];
}

/** The template of a stack as `cdk synth` writes it, with the construct path of each logical id. */
export function stackTemplate(stack: Stack): StackTemplate {
  // `_toCloudFormation` is how the CDK itself renders a stack's template (Stack.synthesizeTemplate);
  // it is marked internal, but no public API returns the template before the assembly is written.
  const template = (stack as unknown as { _toCloudFormation(): CfnTemplate })._toCloudFormation();
  const paths = new Map<string, string>();
  for (const construct of stack.node.findAll()) {
    if (CfnElement.isCfnElement(construct) && Stack.of(construct) === stack) {
      paths.set(stack.resolve(construct.logicalId) as string, construct.node.path);
    }
  }
  return { stackName: stack.stackName, path: stack.node.path, template, pathOf: (id) => paths.get(id) ?? `${stack.node.path} (${id})` };
}

/** The usages of every stack of `root`'s app that `include` selects, and the problems among them. */
export function checkQuotas(root: IConstruct, include: (stack: Stack) => boolean): { usage: QuotaUsage[]; problems: string[] } {
  const stacks = root.node
    .findAll()
    .filter((c): c is Stack => Stack.isStack(c) && include(c))
    .map(stackTemplate);
  const usage = quotaUsage(stacks);
  return { usage, problems: usage.map(quotaProblem).filter((p): p is string => p !== undefined) };
}
