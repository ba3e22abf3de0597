/**
 * lib/quotas.ts: each quota check fails on a template just over its limit and names the quota,
 * the construct path, the value and the limit; a service's stacks are checked at synth.
 */
import { CfnWaitConditionHandle, Stack } from 'aws-cdk-lib';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import {
  type CfnTemplate,
  deployedJsonLength,
  estimateDeployed,
  QUOTAS,
  quotaProblem,
  quotaUsage,
  REFERENCE_ESTIMATE,
  type StackTemplate,
} from '../../lib/quotas';
import { AsyncTaskService } from '../../lib/async-task-service';
import { LambdaTaskFunction } from '../../lib/lambda-task-function';
import { testApp } from './app';
import { inlineFunction } from './fixtures';

/** A made-up stack `Team` whose resources' paths are `Team/<logical id>`. */
function stackOf(template: CfnTemplate, stackName = 'Team'): StackTemplate {
  return { stackName, path: stackName, template, pathOf: (id) => `${stackName}/${id}` };
}

function problemsOf(...stacks: StackTemplate[]): string[] {
  return quotaUsage(stacks)
    .map(quotaProblem)
    .filter((p): p is string => p !== undefined);
}

const many = <T>(n: number, make: (i: number) => T): Record<string, T> =>
  Object.fromEntries(Array.from({ length: n }, (_, i) => [`R${i}`, make(i)]));

const policy = (chars: number) => ({
  Version: '2012-10-17',
  Statement: [{ Effect: 'Allow', Action: 's3:GetObject', Resource: `arn:aws:s3:::${'b'.repeat(chars)}` }],
});

describe('estimates', () => {
  test('a reference counts REFERENCE_ESTIMATE characters, a pseudo parameter its longest value, a join its parts', () => {
    expect(String(estimateDeployed({ Ref: 'Queue' }))).toHaveLength(REFERENCE_ESTIMATE);
    expect(String(estimateDeployed({ Ref: 'AWS::Region' }))).toHaveLength(14);
    expect(estimateDeployed({ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':x']] })).toBe(`arn:${'x'.repeat(10)}:x`);
    expect(deployedJsonLength({ a: 'bc' })).toBe(JSON.stringify({ a: 'bc' }).length);
  });
});

describe('quota checks', () => {
  test('fails if a stack has more than 500 resources', () => {
    const type = { Type: 'AWS::CloudFormation::WaitConditionHandle' };
    expect(problemsOf(stackOf({ Resources: many(500, () => type) }))).toEqual([]);
    expect(problemsOf(stackOf({ Resources: many(501, () => type) }))).toEqual([
      `CloudFormation resources per stack exceeded at Team: 501 resources, the limit is 500 (${QUOTAS.resourcesPerStack.source})`,
    ]);
  });

  test('fails if a stack has more than 200 outputs or 200 parameters', () => {
    const problems = problemsOf(stackOf({ Outputs: many(201, () => ({ Value: 'x' })), Parameters: many(201, () => ({ Type: 'String' })) }));
    expect(problems).toEqual([
      expect.stringContaining('CloudFormation outputs per stack exceeded at Team: 201 outputs, the limit is 200'),
      expect.stringContaining('CloudFormation parameters per stack exceeded at Team: 201 parameters, the limit is 200'),
    ]);
  });

  test('fails if the template body is over 1 MB', () => {
    const big = { Type: 'AWS::SNS::Topic', Properties: { DisplayName: 'd'.repeat(10_000) } };
    const problems = problemsOf(stackOf({ Resources: many(101, () => big) }));
    expect(problems).toEqual([
      expect.stringMatching(/^CloudFormation template body size \(S3\) exceeded at Team: \d+ bytes, the limit is 1000000 /),
    ]);
  });

  test("fails if a role's inline policies, its own and attached from other stacks, are over 10,240 characters", () => {
    const service = stackOf(
      {
        Resources: { Role: { Type: 'AWS::IAM::Role', Properties: { Policies: [{ PolicyDocument: policy(4_000) }] } } },
        Outputs: { PublishRoleName: { Value: { Ref: 'Role' } } },
      },
      'Service',
    );
    const attached = (n: number) =>
      stackOf({
        Resources: many(n, () => ({
          Type: 'AWS::IAM::Policy',
          Properties: {
            PolicyDocument: policy(3_000),
            Roles: [{ 'Fn::GetStackOutput': { StackName: 'Service', OutputName: 'PublishRoleName', Region: { Ref: 'AWS::Region' } } }],
          },
        })),
      });
    expect(problemsOf(service, attached(1))).toEqual([]);
    expect(problemsOf(service, attached(2))).toEqual([
      expect.stringMatching(
        /^IAM inline policy size per role \(aggregate\) exceeded at Service\/Role \(3 inline policies\): 10\d{3} characters, the limit is 10240 /,
      ),
    ]);
  });

  test('fails if a managed policy is over 6,144 characters', () => {
    const problems = problemsOf(
      stackOf({ Resources: { P: { Type: 'AWS::IAM::ManagedPolicy', Properties: { PolicyDocument: policy(6_100) } } } }),
    );
    expect(problems).toEqual([
      expect.stringMatching(/^IAM managed policy size exceeded at Team\/P: 6\d{3} characters, the limit is 6144 /),
    ]);
  });

  test('fails if a Lambda environment is over 4 KB, counting a reference as REFERENCE_ESTIMATE', () => {
    const variables = (n: number) =>
      Object.fromEntries(Array.from({ length: n }, (_, i) => [`V${String(i).padStart(2, '0')}`, { Ref: `Queue${i}` }]));
    // Each variable: 3 bytes of name and 140 of value.
    expect(
      problemsOf(
        stackOf({ Resources: { F: { Type: 'AWS::Lambda::Function', Properties: { Environment: { Variables: variables(28) } } } } }),
      ),
    ).toEqual([]);
    expect(
      problemsOf(
        stackOf({ Resources: { F: { Type: 'AWS::Lambda::Function', Properties: { Environment: { Variables: variables(29) } } } } }),
      ),
    ).toEqual([`Lambda environment variables size exceeded at Team/F: 4147 bytes, the limit is 4096 (${QUOTAS.lambdaEnvironment.source})`]);
  });

  test('fails if a standard SSM parameter value is over 4 KB; an advanced one is not checked', () => {
    const parameter = (tier?: string) => ({
      Type: 'AWS::SSM::Parameter',
      Properties: { Value: 'v'.repeat(4_097), ...(tier ? { Tier: tier } : {}) },
    });
    expect(problemsOf(stackOf({ Resources: { P: parameter() } }))).toEqual([
      expect.stringContaining('SSM standard parameter value size exceeded at Team/P: 4097 characters, the limit is 4096'),
    ]);
    expect(problemsOf(stackOf({ Resources: { P: parameter('Advanced') } }))).toEqual([]);
  });

  test('fails if a state machine definition is over 1 MB once its references are resolved', () => {
    // 7,490 references: about 100 KB of template, 1,048,600 bytes deployed.
    const definition = (n: number) => ({ 'Fn::Join': ['', Array.from({ length: n }, () => ({ Ref: 'Table' }))] });
    const machine = (n: number) => ({ M: { Type: 'AWS::StepFunctions::StateMachine', Properties: { DefinitionString: definition(n) } } });
    expect(problemsOf(stackOf({ Resources: machine(7_489) }))).toEqual([]);
    expect(problemsOf(stackOf({ Resources: machine(7_490) }))).toEqual([
      expect.stringContaining('Step Functions state machine definition size exceeded at Team/M: 1048600 bytes, the limit is 1048576'),
    ]);
  });

  test('fails if an event pattern is over 2,048 characters', () => {
    const rule = {
      Type: 'AWS::Events::Rule',
      Properties: { EventPattern: { detail: { stateMachineArn: Array.from({ length: 20 }, () => ({ Ref: 'M' })) } } },
    };
    expect(problemsOf(stackOf({ Resources: { R: rule } }))).toEqual([
      expect.stringMatching(/^EventBridge event pattern size exceeded at Team\/R: 2\d{3} characters, the limit is 2048 /),
    ]);
  });

  test('fails if a REST API has more than 300 resources, its root included', () => {
    const resources = (n: number) => ({
      Api: { Type: 'AWS::ApiGateway::RestApi' },
      ...many(n, () => ({ Type: 'AWS::ApiGateway::Resource', Properties: { RestApiId: { Ref: 'Api' }, PathPart: 'p' } })),
    });
    expect(problemsOf(stackOf({ Resources: resources(299) }))).toEqual([]);
    expect(problemsOf(stackOf({ Resources: resources(300) }))).toEqual([
      `API Gateway resources per REST API exceeded at Team/Api: 301 resources, the limit is 300 (${QUOTAS.apiResources.source})`,
    ]);
  });

  test('fails if a dashboard has more than 500 widgets', () => {
    const body = (n: number) => ({ 'Fn::Join': ['', [JSON.stringify({ widgets: Array.from({ length: n }, () => ({ type: 'text' })) })]] });
    expect(
      problemsOf(stackOf({ Resources: { D: { Type: 'AWS::CloudWatch::Dashboard', Properties: { DashboardBody: body(500) } } } })),
    ).toEqual([]);
    expect(
      problemsOf(stackOf({ Resources: { D: { Type: 'AWS::CloudWatch::Dashboard', Properties: { DashboardBody: body(501) } } } })),
    ).toEqual([expect.stringContaining('CloudWatch widgets per dashboard exceeded at Team/D: 501 widgets, the limit is 500')]);
  });
});

describe('at synth', () => {
  test("fails if a stack holding a service's task function would exceed a quota, naming the stack", () => {
    const app = testApp();
    const service = new AsyncTaskService(new Stack(app, 'Svc'), 'Service', { serviceName: 'q' });
    const team = new Stack(app, 'Team');
    new LambdaTaskFunction(team, 'Etl', { service, lambdaFunction: inlineFunction(team) });
    for (let i = 0; i < 500; i++) new CfnWaitConditionHandle(team, `Filler${i}`);
    expect(() => app.synth()).toThrow(/CloudFormation resources per stack exceeded at Team: 5\d\d resources, the limit is 500/);
  });

  test('stacks without a service or task function are not checked; one holding a task function is', () => {
    const app = testApp();
    const service = new AsyncTaskService(new Stack(app, 'Svc'), 'Service', { serviceName: 'q' });
    const other = new Stack(app, 'Other');
    new ssm.CfnParameter(other, 'Big', { type: 'String', value: 'v'.repeat(5_000) });
    expect(() => app.synth()).not.toThrow();
    const team = new Stack(app, 'Team');
    new ssm.CfnParameter(team, 'Big', { type: 'String', value: 'v'.repeat(5_000) });
    new LambdaTaskFunction(team, 'Etl', { service, lambdaFunction: inlineFunction(team) });
    expect(() => app.synth({ force: true })).toThrow(
      'SSM standard parameter value size exceeded at Team/Big: 5000 characters, the limit is 4096',
    );
  });
});
