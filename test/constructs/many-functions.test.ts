/**
 * A service in its own stack with 100 task functions (Lambda and container, each with
 * an SQS success and failure queue) added by ten team stacks synthesizes without a dependency
 * cycle, stays within every quota checked at synth, and its own stack does not grow per function.
 */
import { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { CloudAssembly } from 'aws-cdk-lib/cx-api';
import { QUOTAS, type QuotaId, type QuotaUsage } from '../../lib/quotas';
import { buildManyFunctionsApp, type ManyFunctionsApp, SERVICE_STACK_ID } from './many-functions-app';

const big: ManyFunctionsApp = buildManyFunctionsApp();
const assembly: CloudAssembly = big.app.synth();
const usage: QuotaUsage[] = big.service.checkQuotas().usage;

/** The largest figure of a quota among the usages of some stacks, with where it is. */
function largest(quota: QuotaId, stackPaths: readonly string[]): QuotaUsage {
  const candidates = usage.filter((u) => u.quota === quota && stackPaths.some((p) => u.path === p || u.path.startsWith(`${p}/`)));
  if (candidates.length === 0) throw new Error(`no ${quota} figure for ${stackPaths.join(', ')}`);
  return candidates.reduce((a, b) => (b.value > a.value ? b : a));
}

describe('100 task functions from ten team stacks', () => {
  test('the app synthesizes: ten team stacks of ten functions each, one service', () => {
    expect(big.functions).toHaveLength(100);
    expect(big.teamStacks).toHaveLength(10);
    expect(assembly.stacks.map((s) => s.stackName).sort()).toEqual([SERVICE_STACK_ID, ...big.teamStacks.map((s) => s.stackName)].sort());
    expect(big.service.functions).toHaveLength(100);
    expect(big.functions.filter((f) => f.kind === 'container')).toHaveLength(50);
  });

  test('references go one way: each team stack depends on the service stack only, the service stack on none', () => {
    expect(big.serviceStack.dependencies).toEqual([]);
    for (const team of big.teamStacks) {
      expect(team.dependencies).toEqual([big.serviceStack]);
    }
    const serviceArtifact = assembly.getStackByName(SERVICE_STACK_ID);
    expect(serviceArtifact.dependencies.map((d) => d.id).filter((id) => !id.endsWith('.assets'))).toEqual([]);
  });

  test('every state machine is named <serviceName>-<functionName>', () => {
    for (const fn of big.functions) {
      const template = assembly.getStackByName(Stack.of(fn).stackName).template;
      const machine = template.Resources[Stack.of(fn).getLogicalId(fn.stateMachine.node.defaultChild as never)];
      expect(machine.Properties.StateMachineName).toBe(`bulk-${fn.functionName}`);
    }
  });

  test('every quota is within its limit; the figures', () => {
    const teamPaths = big.teamStacks.map((s) => s.node.path);
    const servicePath = [big.serviceStack.node.path];
    const rows: string[] = [];
    for (const quota of Object.keys(QUOTAS) as QuotaId[]) {
      for (const [label, paths] of [
        ['service stack', servicePath],
        ['largest team stack', teamPaths],
      ] as const) {
        const present = usage.some((u) => u.quota === quota && paths.some((p) => u.path === p || u.path.startsWith(`${p}/`)));
        if (!present) continue;
        const top = largest(quota, paths);
        expect(top.value).toBeLessThanOrEqual(QUOTAS[quota].limit);
        rows.push(`${QUOTAS[quota].name} | ${label} | ${top.value} / ${QUOTAS[quota].limit} ${QUOTAS[quota].unit} | ${top.path}`);
      }
    }
    console.log(`quota | where | value / limit | largest at\n${rows.join('\n')}`);
    expect(big.service.checkQuotas().problems).toEqual([]);
    // Each check found something to measure in this app.
    const measured = new Set(usage.map((u) => u.quota));
    expect([...measured].sort()).toEqual(
      (
        [
          'resourcesPerStack',
          'outputsPerStack',
          'parametersPerStack',
          'templateBody',
          'roleInlinePolicies',
          'lambdaEnvironment',
          'ssmStandardParameter',
          'stateMachineDefinition',
          'eventPattern',
          'apiResources',
          'dashboardWidgets',
        ] as QuotaId[]
      ).sort(),
    );
  });

  test('the team stacks stay far from the stack quotas: ten functions take under half of them', () => {
    expect(
      largest(
        'resourcesPerStack',
        big.teamStacks.map((s) => s.node.path),
      ).value,
    ).toBeLessThan(QUOTAS.resourcesPerStack.limit / 2);
    expect(
      largest(
        'templateBody',
        big.teamStacks.map((s) => s.node.path),
      ).value,
    ).toBeLessThan(QUOTAS.templateBody.limit / 2);
  });

  test("the service roles' policies do not grow with the functions: the same as with two functions", () => {
    const small = buildManyFunctionsApp({ teams: 1, functionsPerTeam: 2 });
    small.app.synth();
    const smallUsage = small.service.checkQuotas().usage;
    const roleFigures = (u: readonly QuotaUsage[]) =>
      u
        .filter((x) => x.quota === 'roleInlinePolicies' && x.path.startsWith(`${SERVICE_STACK_ID}/`))
        .map((x) => `${x.path} ${x.value}`)
        .sort();
    expect(roleFigures(usage)).toEqual(roleFigures(smallUsage));
  });

  test("the service stack's template is the same with 2 functions in one team stack as with 100 in ten", () => {
    const small = buildManyFunctionsApp({ teams: 1, functionsPerTeam: 2 });
    const mask = (t: unknown) => JSON.parse(JSON.stringify(t).replace(/[0-9a-f]{64}/g, '<asset-hash>'));
    expect(mask(Template.fromStack(big.serviceStack).toJSON())).toEqual(mask(Template.fromStack(small.serviceStack).toJSON()));
  });

  test('each team stack has its own dashboard with its ten functions and its alarms', () => {
    for (const team of big.teamStacks) {
      const template = Template.fromStack(team);
      template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
      template.resourceCountIs('AWS::StepFunctions::StateMachine', 10);
      template.resourceCountIs('AWS::SSM::Parameter', 10);
      // A failed-executions alarm per function and a depth alarm per failure queue.
      template.resourceCountIs('AWS::CloudWatch::Alarm', 20);
    }
    Template.fromStack(big.serviceStack).resourceCountIs('AWS::CloudWatch::Alarm', 0);
  });
});
