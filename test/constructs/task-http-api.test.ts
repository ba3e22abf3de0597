/**
 * The task API (lib/task-http-api.ts): a REST API with AWS_IAM on every method, one method per
 * route of the model's route table, a proxy integration to the TaskApi, stage throttling and its
 * per-function overrides, access and execution logs, gateway responses with the TaskApi's typed
 * error body; the grants, each exactly the expected execute-api ARNs and nothing broader; bad props.
 */
import { type CfnElement, Duration, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { HTTP_ROUTES, type TaskApiAccess } from '../../lambda/model/http';
import { AsyncTaskService, type AsyncTaskServiceProps } from '../../lib/async-task-service';
import { LambdaTaskFunction } from '../../lib/lambda-task-function';
import {
  DEFAULT_TASK_API_THROTTLE,
  gatewayResponseBody,
  TASK_API_ACCESS_LOG_FORMAT,
  TASK_API_GATEWAY_RESPONSES,
  TASK_API_STAGE,
  taskApiGrantTargets,
} from '../../lib/task-http-api';
import { testApp, testStack } from './app';
import { inlineFunction } from './fixtures';

type Resources = Record<string, { Type: string; Properties: Record<string, unknown>; DependsOn?: string[] }>;

/** A service `svc` with task functions `etl` and `report` in one stack, not synthesized. */
function make(props: AsyncTaskServiceProps = {}) {
  const stack = testStack();
  const service = new AsyncTaskService(stack, 'Service', { serviceName: 'svc', ...props });
  const etl = new LambdaTaskFunction(stack, 'Etl', { service, functionName: 'etl', lambdaFunction: inlineFunction(stack) });
  const report = new LambdaTaskFunction(stack, 'Report', { service, functionName: 'report', lambdaFunction: inlineFunction(stack, 'W2') });
  const apiId = stack.getLogicalId(service.httpApi.node.defaultChild as CfnElement);
  return { stack, service, etl, report, apiId };
}

/** `make`, synthesized. */
function build(props: AsyncTaskServiceProps = {}) {
  const made = make(props);
  const template = Template.fromStack(made.stack);
  return { ...made, template, resources: template.toJSON().Resources as Resources };
}

/** Every method of the template as `METHOD /resource/path`, the path rebuilt from the resource tree. */
function methodsOf(resources: Resources): Array<{ route: string; properties: Record<string, unknown> }> {
  const pathOf = (ref: unknown): string => {
    const r = ref as { Ref?: string; 'Fn::GetAtt'?: [string, string] };
    if (r['Fn::GetAtt']?.[1] === 'RootResourceId') return '';
    const resource = resources[r.Ref as string];
    return `${pathOf(resource.Properties.ParentId)}/${resource.Properties.PathPart as string}`;
  };
  return Object.values(resources)
    .filter((r) => r.Type === 'AWS::ApiGateway::Method')
    .map((r) => ({ route: `${r.Properties.HttpMethod as string} ${pathOf(r.Properties.ResourceId)}`, properties: r.Properties }));
}

/** The execute-api ARN CloudFormation builds for `resource` (`v1/POST/functions/...`) of the API `apiId`. */
function executeApiArn(apiId: unknown, resource: string): unknown {
  return {
    'Fn::Join': [
      '',
      [
        'arn:',
        { Ref: 'AWS::Partition' },
        ':execute-api:',
        { Ref: 'AWS::Region' },
        ':',
        { Ref: 'AWS::AccountId' },
        ':',
        apiId,
        `/${resource}`,
      ],
    ],
  };
}

interface Statement {
  Action: unknown;
  Effect: string;
  Resource: unknown;
}

/** The statements of every policy attached to the role `roleId` (logical id prefix), resources sorted. */
function statementsOf(resources: Resources, roleId: string): Statement[] {
  return Object.values(resources)
    .filter((r) => r.Type === 'AWS::IAM::Policy' && JSON.stringify(r.Properties.Roles).includes(roleId))
    .flatMap((r) => (r.Properties.PolicyDocument as { Statement: Statement[] }).Statement)
    .map((s) => ({ ...s, Resource: Array.isArray(s.Resource) ? sortedArns(s.Resource) : s.Resource }));
}

const sortedArns = (arns: unknown[]) => [...arns].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));

/** The statement a grant must produce: `execute-api:Invoke` on exactly `paths` (`METHOD /path`) of stage v1. */
function expectedStatement(apiRef: unknown, routes: string[]): Statement {
  const arns = routes.map((r) => {
    const [method, path] = r.split(' ');
    return executeApiArn(apiRef, `${TASK_API_STAGE}/${method}${path}`);
  });
  return { Action: 'execute-api:Invoke', Effect: 'Allow', Resource: arns.length === 1 ? arns[0] : sortedArns(arns) };
}

/** IAM's matching of a resource ARN pattern: `*` any characters (`/` included), `?` one. */
function iamMatches(pattern: string, value: string): boolean {
  const source = pattern
    .split('')
    .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${source}$`).test(value);
}

/**
 * cdk-nag AwsSolutions findings under the service (`TestStack/Service/...`); the inline worker
 * Lambdas of these tests have findings of their own (IAM4, L1), which shows the check ran.
 */
function nagFindings(stack: Stack): string[] {
  const report = new AwsSolutionsChecks(undefined, { verbose: true }).validateScope(stack);
  const all = report.violations.flatMap((v) => v.violatingResources.map((r) => `${v.ruleName} at ${r.constructPath}`));
  expect(all.filter((f) => f.includes('/Worker/'))).not.toEqual([]);
  return all.filter((f) => f.includes(`${stack.node.path}/Service/`));
}

describe('the REST API', () => {
  const { stack, service, template, resources, apiId } = build();

  test('one REST API, regional, stage v1, named after the service', () => {
    template.resourceCountIs('AWS::ApiGateway::RestApi', 1);
    template.hasResourceProperties('AWS::ApiGateway::RestApi', { Name: 'asynctask-svc', EndpointConfiguration: { Types: ['REGIONAL'] } });
    template.resourceCountIs('AWS::ApiGateway::Stage', 1);
    template.hasResourceProperties('AWS::ApiGateway::Stage', { StageName: 'v1', RestApiId: { Ref: apiId } });
    expect(service.httpApi).toBe(service.taskHttpApi.restApi);
    const stageId = stack.getLogicalId(service.httpApi.deploymentStage.node.defaultChild as CfnElement);
    expect(stack.resolve(service.taskApiUrl)).toEqual({
      'Fn::Join': [
        '',
        ['https://', { Ref: apiId }, '.execute-api.', { Ref: 'AWS::Region' }, '.', { Ref: 'AWS::URLSuffix' }, '/', { Ref: stageId }, '/'],
      ],
    });
  });

  test("the service adds no stack output (RestApi's own Endpoint output removed): the app outputs TaskApiUrl", () => {
    expect(template.toJSON().Outputs).toBeUndefined();
  });

  test('every method is AWS_IAM, and there is no OPTIONS method', () => {
    const methods = methodsOf(resources);
    expect(methods.length).toBe(HTTP_ROUTES.length);
    for (const { route, properties } of methods) {
      expect({ route, authorization: properties.AuthorizationType }).toEqual({ route, authorization: 'AWS_IAM' });
    }
    expect(methods.filter((m) => m.route.startsWith('OPTIONS'))).toEqual([]);
  });

  test('one method per route of HTTP_ROUTES, with its operation name', () => {
    const methods = methodsOf(resources);
    expect(methods.map((m) => m.route).sort()).toEqual(HTTP_ROUTES.map((r) => `${r.method} ${r.path}`).sort());
    for (const route of HTTP_ROUTES) {
      expect(methods.find((m) => m.route === `${route.method} ${route.path}`)?.properties.OperationName).toBe(route.op);
    }
    template.resourceCountIs('AWS::ApiGateway::Resource', 9);
  });

  test("every method is a Lambda proxy integration to the TaskApi, allowed by one permission for the API's ARNs", () => {
    const taskApiId = stack.getLogicalId(service.taskApi.node.defaultChild as CfnElement);
    for (const { properties } of methodsOf(resources)) {
      expect(properties.Integration).toEqual({
        IntegrationHttpMethod: 'POST',
        Type: 'AWS_PROXY',
        Uri: {
          'Fn::Join': [
            '',
            [
              'arn:',
              { Ref: 'AWS::Partition' },
              ':apigateway:',
              { Ref: 'AWS::Region' },
              ':lambda:path/2015-03-31/functions/',
              { 'Fn::GetAtt': [taskApiId, 'Arn'] },
              '/invocations',
            ],
          ],
        },
      });
    }
    const permissions = template.findResources('AWS::Lambda::Permission', { Properties: { Principal: 'apigateway.amazonaws.com' } });
    expect(Object.values(permissions).map((p) => p.Properties)).toEqual([
      {
        Action: 'lambda:InvokeFunction',
        FunctionName: { 'Fn::GetAtt': [taskApiId, 'Arn'] },
        Principal: 'apigateway.amazonaws.com',
        SourceArn: executeApiArn({ Ref: apiId }, '*/*/*'),
      },
    ]);
  });

  test('stage throttling defaults to 100 rps, burst 200; execution logs at ERROR without bodies', () => {
    expect(DEFAULT_TASK_API_THROTTLE).toEqual({ rateLimit: 100, burstLimit: 200 });
    template.hasResourceProperties('AWS::ApiGateway::Stage', {
      MethodSettings: [
        {
          HttpMethod: '*',
          ResourcePath: '/*',
          ThrottlingRateLimit: 100,
          ThrottlingBurstLimit: 200,
          LoggingLevel: 'ERROR',
          DataTraceEnabled: false,
          MetricsEnabled: false,
        },
      ],
    });
  });

  test('access logs: JSON with the caller, to a log group kept one month; execution logs group made with a retention', () => {
    const accessLogs = stack.getLogicalId(service.taskHttpApi.accessLogGroup.node.defaultChild as CfnElement);
    const stage = Object.values(resources).find((r) => r.Type === 'AWS::ApiGateway::Stage');
    const setting = stage?.Properties.AccessLogSetting as { DestinationArn: unknown; Format: string };
    expect(JSON.stringify(setting.DestinationArn)).toContain(`{"Ref":"${accessLogs}"}`);
    expect(JSON.parse(setting.Format)).toEqual(TASK_API_ACCESS_LOG_FORMAT);
    expect(JSON.parse(setting.Format)).toMatchObject({
      requestId: '$context.requestId',
      userArn: '$context.identity.userArn',
      caller: '$context.identity.caller',
      httpMethod: '$context.httpMethod',
      resourcePath: '$context.resourcePath',
      path: '$context.path',
      status: '$context.status',
      responseLength: '$context.responseLength',
      requestTime: '$context.requestTime',
    });
    template.hasResource('AWS::Logs::LogGroup', {
      Properties: { RetentionInDays: 30, LogGroupName: Match.absent() },
      DeletionPolicy: 'Retain',
    });
    const executionLogs = stack.getLogicalId(service.taskHttpApi.executionLogGroup.node.defaultChild as CfnElement);
    expect(resources[executionLogs].Properties).toEqual({
      LogGroupName: { 'Fn::Join': ['', ['API-Gateway-Execution-Logs_', { Ref: apiId }, '/v1']] },
      RetentionInDays: 30,
    });
    expect(stage?.DependsOn).toContain(executionLogs);
  });

  test("API Gateway's CloudWatch role is created and set in the account by default", () => {
    template.resourceCountIs('AWS::ApiGateway::Account', 1);
    template.hasResourceProperties('AWS::IAM::Role', {
      ManagedPolicyArns: [
        Match.objectLike({ 'Fn::Join': ['', Match.arrayWith([':iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs'])] }),
      ],
    });
  });

  test('gateway responses: every type answers with the typed error body, MISSING_AUTHENTICATION_TOKEN as InvalidArgument 400', () => {
    const responses = Object.values(resources).filter((r) => r.Type === 'AWS::ApiGateway::GatewayResponse');
    expect(responses.map((r) => r.Properties.ResponseType).sort()).toEqual(
      [
        'ACCESS_DENIED',
        'UNAUTHORIZED',
        'INVALID_SIGNATURE',
        'EXPIRED_TOKEN',
        'WAF_FILTERED',
        'MISSING_AUTHENTICATION_TOKEN',
        'RESOURCE_NOT_FOUND',
        'BAD_REQUEST_BODY',
        'BAD_REQUEST_PARAMETERS',
        'UNSUPPORTED_MEDIA_TYPE',
        'REQUEST_TOO_LARGE',
        'THROTTLED',
        'INTEGRATION_FAILURE',
        'INTEGRATION_TIMEOUT',
        'API_CONFIGURATION_ERROR',
        'DEFAULT_4XX',
        'DEFAULT_5XX',
      ].sort(),
    );
    const names = Object.fromEntries(TASK_API_GATEWAY_RESPONSES.map((r) => [r.type, r.name]));
    expect(names).toMatchObject({
      ACCESS_DENIED: 'AccessDenied',
      INVALID_SIGNATURE: 'AccessDenied',
      EXPIRED_TOKEN: 'AccessDenied',
      UNAUTHORIZED: 'AccessDenied',
      MISSING_AUTHENTICATION_TOKEN: 'InvalidArgument',
      BAD_REQUEST_BODY: 'InvalidArgument',
      THROTTLED: 'Throttled',
      DEFAULT_4XX: 'InvalidArgument',
      DEFAULT_5XX: 'ServiceError',
    });
    for (const response of responses) {
      const type = response.Properties.ResponseType as string;
      const known = TASK_API_GATEWAY_RESPONSES.find((r) => r.type === type);
      expect(response.Properties.RestApiId).toEqual({ Ref: apiId });
      expect(response.Properties.StatusCode).toBe(type === 'MISSING_AUTHENTICATION_TOKEN' ? '400' : undefined);
      const templateText = (response.Properties.ResponseTemplates as Record<string, string>)['application/json'];
      expect(templateText).toBe(known && gatewayResponseBody(known));
      // What API Gateway substitutes: messageString is a JSON string, escaped (its signature
      // messages hold newlines and quotes); the other variables plain text.
      const body = templateText
        .replaceAll('$context.error.messageString', JSON.stringify("The request signature we calculated does not match.\n'POST\n/v1/x'"))
        .replaceAll('$context.error.responseType', type)
        .replaceAll('$context.httpMethod', 'POST')
        .replaceAll('$context.path', '/v1/functions/etl/tasks')
        .replaceAll('$context.requestId', 'c0ffee');
      expect(JSON.parse(body)).toEqual({
        ok: false,
        error: {
          name: names[type],
          message:
            type === 'MISSING_AUTHENTICATION_TOKEN'
              ? expect.stringMatching(
                  /^no route POST \/v1\/functions\/etl\/tasks, or the request is not signed with SigV4 \(routes: GET \/functions, POST /,
                )
              : "The request signature we calculated does not match.\n'POST\n/v1/x'",
          details: { responseType: type, method: 'POST', path: '/v1/functions/etl/tasks', requestId: 'c0ffee' },
        },
      });
    }
  });

  test('cdk-nag AwsSolutions: no finding in the service, no warning', () => {
    expect(nagFindings(stack)).toEqual([]);
    expect(Annotations.fromStack(stack).findWarning('*', Match.anyValue())).toEqual([]);
  });
});

describe('throttling overrides and options', () => {
  test('apiThrottle sets the stage throttling', () => {
    const { template } = build({ apiThrottle: { rateLimit: 20, burstLimit: 40 } });
    template.hasResourceProperties('AWS::ApiGateway::Stage', {
      MethodSettings: [Match.objectLike({ HttpMethod: '*', ResourcePath: '/*', ThrottlingRateLimit: 20, ThrottlingBurstLimit: 40 })],
    });
  });

  test('functionThrottles: static resources mirroring the function routes, each method with its throttle and the logging', () => {
    const { template, resources } = build({ functionThrottles: { etl: { rateLimit: 5, burstLimit: 10 } } });
    const methods = methodsOf(resources);
    const own = HTTP_ROUTES.filter((r) => r.path.includes('{functionName}')).map((r) => ({
      method: r.method,
      path: r.path.replace('{functionName}', 'etl'),
    }));
    expect(own).toHaveLength(8);
    expect(methods.map((m) => m.route).sort()).toEqual(
      [...HTTP_ROUTES.map((r) => `${r.method} ${r.path}`), ...own.map((r) => `${r.method} ${r.path}`)].sort(),
    );
    for (const { properties } of methods) expect(properties.AuthorizationType).toBe('AWS_IAM');
    template.resourceCountIs('AWS::ApiGateway::Resource', 9 + 8);
    const settings = (Object.values(resources).find((r) => r.Type === 'AWS::ApiGateway::Stage')?.Properties.MethodSettings ?? []) as Array<
      Record<string, unknown>
    >;
    expect(settings).toEqual([
      {
        HttpMethod: '*',
        ResourcePath: '/*',
        ThrottlingRateLimit: 100,
        ThrottlingBurstLimit: 200,
        LoggingLevel: 'ERROR',
        DataTraceEnabled: false,
        MetricsEnabled: false,
      },
      ...own.map((r) => ({
        HttpMethod: r.method,
        ResourcePath: `/${r.path.replaceAll('/', '~1')}`,
        ThrottlingRateLimit: 5,
        ThrottlingBurstLimit: 10,
        LoggingLevel: 'ERROR',
        DataTraceEnabled: false,
        MetricsEnabled: false,
      })),
    ]);
  });

  test('functionThrottles leave the grants unchanged: a grant names the request path, not the resource', () => {
    const plain = make();
    const throttled = make({ functionThrottles: { etl: { rateLimit: 5, burstLimit: 10 } } });
    const statement = (b: ReturnType<typeof make>) => {
      const role = new iam.Role(b.stack, 'Team', { assumedBy: new iam.AccountRootPrincipal() });
      b.etl.grantFullAccess(role);
      return statementsOf(Template.fromStack(b.stack).toJSON().Resources as Resources, 'TeamDefaultPolicy');
    };
    expect(statement(throttled)).toEqual(statement(plain));
  });

  test('apiCloudWatchRole: false makes neither the role nor the account setting', () => {
    const { template } = build({ apiCloudWatchRole: false });
    template.resourceCountIs('AWS::ApiGateway::Account', 0);
    expect(JSON.stringify(template.toJSON())).not.toContain('AmazonAPIGatewayPushToCloudWatchLogs');
  });

  test('apiLogRetention sets both log groups; removalPolicy applies to them', () => {
    const { stack, service } = build({ apiLogRetention: logs.RetentionDays.ONE_YEAR });
    const t = Template.fromStack(stack).toJSON().Resources as Resources;
    for (const group of [service.taskHttpApi.accessLogGroup, service.taskHttpApi.executionLogGroup]) {
      expect(t[stack.getLogicalId(group.node.defaultChild as CfnElement)].Properties.RetentionInDays).toBe(365);
    }
  });

  test('webAclArn associates the web ACL with the stage, and cdk-nag APIG3 is met rather than acknowledged', () => {
    const webAclArn = 'arn:aws:wafv2:eu-west-1:123456789012:regional/webacl/tasks/a1b2c3d4-5678-90ab-cdef-EXAMPLE11111';
    const { stack, service, template, apiId } = build({ webAclArn });
    const stageId = stack.getLogicalId(service.httpApi.deploymentStage.node.defaultChild as CfnElement);
    template.hasResourceProperties('AWS::WAFv2::WebACLAssociation', {
      WebACLArn: webAclArn,
      ResourceArn: {
        'Fn::Join': [
          '',
          [
            'arn:',
            { Ref: 'AWS::Partition' },
            ':apigateway:',
            { Ref: 'AWS::Region' },
            '::/restapis/',
            { Ref: apiId },
            '/stages/',
            { Ref: stageId },
          ],
        ],
      },
    });
    const acknowledged = service.taskHttpApi.node.metadata
      .filter((m) => m.type === 'aws:cdk:acknowledged-rules')
      .flatMap((m) => Object.keys(m.data as Record<string, unknown>));
    expect(acknowledged).not.toContain('AwsSolutions-APIG3');
    expect(nagFindings(stack)).toEqual([]);
  });
});

describe('grants', () => {
  const { stack, service, etl, apiId } = make();
  const grants: Record<string, iam.Grant> = {};
  const grantee = (id: string) => new iam.Role(stack, id, { assumedBy: new iam.AccountRootPrincipal() });
  grants.submit = etl.grantSubmit(grantee('FnSubmit'));
  grants.read = etl.grantRead(grantee('FnRead'));
  grants.operate = etl.grantOperate(grantee('FnOperate'));
  grants.full = etl.grantFullAccess(grantee('FnFull'));
  grants.serviceSubmit = service.grantSubmit(grantee('SvcSubmit'));
  grants.serviceRead = service.grantRead(grantee('SvcRead'));
  grants.serviceOperate = service.grantOperate(grantee('SvcOperate'));
  grants.serviceFull = service.grantFullAccess(grantee('SvcFull'));
  const resources = Template.fromStack(stack).toJSON().Resources as Resources;
  const api = { Ref: apiId };

  test('every grant succeeds, each in the policy of its grantee only', () => {
    for (const grant of Object.values(grants)) expect(grant.success).toBe(true);
    const policies = Object.values(resources).filter(
      (r) => r.Type === 'AWS::IAM::Policy' && JSON.stringify(r.Properties).includes('execute-api'),
    );
    expect(policies).toHaveLength(8);
    for (const policy of policies) expect(policy.Properties.Roles as unknown[]).toHaveLength(1);
  });

  test('task function grantSubmit: POST /functions/etl/tasks', () => {
    expect(statementsOf(resources, 'FnSubmit')).toEqual([expectedStatement(api, ['POST /functions/etl/tasks'])]);
  });

  test('task function grantRead: GET .../tasks, .../tasks/* (which covers .../tasks/*/logs), .../stats; not the function list', () => {
    expect(statementsOf(resources, 'FnRead')).toEqual([
      expectedStatement(api, ['GET /functions/etl/tasks', 'GET /functions/etl/stats', 'GET /functions/etl/tasks/*']),
    ]);
    expect(iamMatches('/functions/etl/tasks/*', '/functions/etl/tasks/t-1/logs')).toBe(true);
  });

  test('task function grantOperate: POST .../tasks/*/stop, /retry, /exec', () => {
    expect(statementsOf(resources, 'FnOperate')).toEqual([
      expectedStatement(api, ['POST /functions/etl/tasks/*/stop', 'POST /functions/etl/tasks/*/retry', 'POST /functions/etl/tasks/*/exec']),
    ]);
  });

  test('task function grantFullAccess: all of them, in one statement', () => {
    expect(statementsOf(resources, 'FnFull')).toEqual([
      expectedStatement(api, [
        'POST /functions/etl/tasks',
        'GET /functions/etl/tasks',
        'GET /functions/etl/stats',
        'GET /functions/etl/tasks/*',
        'POST /functions/etl/tasks/*/stop',
        'POST /functions/etl/tasks/*/retry',
        'POST /functions/etl/tasks/*/exec',
      ]),
    ]);
  });

  test('service grants: the same for every function (*), and grantRead includes GET /functions', () => {
    expect(statementsOf(resources, 'SvcSubmit')).toEqual([expectedStatement(api, ['POST /functions/*/tasks'])]);
    expect(statementsOf(resources, 'SvcRead')).toEqual([
      expectedStatement(api, ['GET /functions', 'GET /functions/*/tasks', 'GET /functions/*/stats', 'GET /functions/*/tasks/*']),
    ]);
    expect(statementsOf(resources, 'SvcOperate')).toEqual([
      expectedStatement(api, ['POST /functions/*/tasks/*/stop', 'POST /functions/*/tasks/*/retry', 'POST /functions/*/tasks/*/exec']),
    ]);
    expect(statementsOf(resources, 'SvcFull')).toEqual([
      expectedStatement(api, [
        'GET /functions',
        'POST /functions/*/tasks',
        'GET /functions/*/tasks',
        'GET /functions/*/stats',
        'GET /functions/*/tasks/*',
        'POST /functions/*/tasks/*/stop',
        'POST /functions/*/tasks/*/retry',
        'POST /functions/*/tasks/*/exec',
      ]),
    ]);
  });

  test('nothing broader: a grant allows a request of a route exactly when the route has its access and its function', () => {
    const functions = ['etl', 'report', 'etl-2', 'etlx'];
    const grantsOf: Array<[string, TaskApiAccess[], string | undefined]> = [
      ['submit', ['submit'], 'etl'],
      ['read', ['read'], 'etl'],
      ['operate', ['operate'], 'etl'],
      ['full', ['submit', 'read', 'operate'], 'etl'],
      ['service read', ['read'], undefined],
      ['service full', ['submit', 'read', 'operate'], undefined],
    ];
    for (const [label, access, functionName] of grantsOf) {
      const targets = taskApiGrantTargets(access, functionName);
      for (const route of HTTP_ROUTES) {
        for (const fn of functions) {
          const path = route.path.replace('{functionName}', fn).replace('{taskId}', 'task-1');
          const allowed = targets.some((t) => t.method === route.method && iamMatches(t.path, path));
          const expected =
            access.includes(route.access) && (functionName === undefined || (route.path.includes('{functionName}') && fn === functionName));
          expect({ label, request: `${route.method} ${path}`, allowed }).toEqual({
            label,
            request: `${route.method} ${path}`,
            allowed: expected,
          });
        }
      }
    }
  });

  test('the ARNs name stage v1 of this API, never another stage or API', () => {
    for (const statement of statementsOf(resources, 'SvcFull')) {
      for (const arn of statement.Resource as Array<{ 'Fn::Join': [string, unknown[]] }>) {
        const parts = arn['Fn::Join'][1];
        expect(parts[7]).toEqual(api);
        expect(String(parts[8])).toMatch(/^\/v1\/(GET|POST)\//);
      }
    }
  });
});

describe('grants across stacks', () => {
  const app = testApp();
  const platform = new Stack(app, 'Platform');
  const service = new AsyncTaskService(platform, 'Service', { serviceName: 'jobs' });
  const team = new Stack(app, 'TeamVideo');
  const transcode = new LambdaTaskFunction(team, 'Transcode', {
    service,
    functionName: 'transcode',
    lambdaFunction: inlineFunction(team),
  });
  const videoTeam = new iam.Role(team, 'VideoTeam', { assumedBy: new iam.AccountRootPrincipal() });
  transcode.grantSubmit(videoTeam);
  transcode.grantRead(videoTeam);
  // A role of the platform's own stack granted on a team's function: still no reference back.
  const operators = new iam.Role(platform, 'Operators', { assumedBy: new iam.AccountRootPrincipal() });
  transcode.grantOperate(operators);
  const assembly = app.synth();

  test("the team stack refers to the service's stack, never the reverse", () => {
    expect(team.dependencies).toEqual([platform]);
    expect(platform.dependencies).toEqual([]);
    expect(
      assembly
        .getStackByName('Platform')
        .dependencies.map((d) => d.id)
        .filter((id) => !id.endsWith('.assets')),
    ).toEqual([]);
  });

  test("the team role's policy names the service's REST API through the service stack", () => {
    const resources = assembly.getStackByName('TeamVideo').template.Resources as Resources;
    const [statement] = statementsOf(resources, 'VideoTeam');
    const arns = statement.Resource as Array<{ 'Fn::Join': [string, unknown[]] }>;
    expect(arns).toHaveLength(4);
    for (const arn of arns) expect(JSON.stringify(arn['Fn::Join'][1][7])).toContain('"StackName":"Platform"');
    expect(arns.map((a) => a['Fn::Join'][1][8]).sort()).toEqual(
      [
        '/v1/POST/functions/transcode/tasks',
        '/v1/GET/functions/transcode/tasks',
        '/v1/GET/functions/transcode/stats',
        '/v1/GET/functions/transcode/tasks/*',
      ].sort(),
    );
  });

  test("a role in the service's stack gets a function's grant by name, with no reference to the function's stack", () => {
    const resources = assembly.getStackByName('Platform').template.Resources as Resources;
    const apiRef = { Ref: platform.getLogicalId(service.httpApi.node.defaultChild as CfnElement) };
    expect(statementsOf(resources, 'Operators')).toEqual([
      expectedStatement(apiRef, [
        'POST /functions/transcode/tasks/*/stop',
        'POST /functions/transcode/tasks/*/retry',
        'POST /functions/transcode/tasks/*/exec',
      ]),
    ]);
  });
});

describe('validation', () => {
  const service = (props: AsyncTaskServiceProps) => () => new AsyncTaskService(testStack(), 'Service', props);

  test('fails if apiThrottle is out of range, naming the prop, the value and the range', () => {
    expect(service({ apiThrottle: { rateLimit: 0, burstLimit: 200 } })).toThrow(
      'apiThrottle.rateLimit must be between 1 and 10000 inclusive (given 0)',
    );
    expect(service({ apiThrottle: { rateLimit: 100, burstLimit: 5001 } })).toThrow(
      'apiThrottle.burstLimit must be between 1 and 5000 inclusive (given 5001)',
    );
    expect(service({ apiThrottle: { rateLimit: 100, burstLimit: 1.5 } })).toThrow(
      'apiThrottle.burstLimit must be between 1 and 5000 inclusive (given 1.5)',
    );
    expect(service({ apiThrottle: { rateLimit: 10_001, burstLimit: 10 } })).toThrow(
      expect.objectContaining({ name: 'InvalidAsyncTaskServiceProps' }),
    );
  });

  test('fails if a functionThrottles name is not a function name, or its throttle is out of range', () => {
    expect(service({ functionThrottles: { 'bad name': { rateLimit: 1, burstLimit: 1 } } })).toThrow(
      "functionThrottles names 'bad name', which is not a task function name: 1-64 characters, first a letter or underscore, then letters, digits, '_' or '-'",
    );
    expect(service({ functionThrottles: { etl: { rateLimit: 1, burstLimit: 0 } } })).toThrow(
      "functionThrottles['etl'].burstLimit must be between 1 and 5000 inclusive (given 0)",
    );
  });

  test('fails if webAclArn is not a regional WAFv2 web ACL ARN', () => {
    expect(service({ webAclArn: 'arn:aws:wafv2:us-east-1:123456789012:global/webacl/x/1' })).toThrow(
      "webAclArn must be the ARN of a regional WAFv2 web ACL, arn:<partition>:wafv2:<region>:<account>:regional/webacl/<name>/<id> (given 'arn:aws:wafv2:us-east-1:123456789012:global/webacl/x/1')",
    );
  });

  test('fails if a grant names a function pattern or no access', () => {
    const { service: svc } = make();
    const role = new iam.Role(Stack.of(svc), 'G', { assumedBy: new iam.AccountRootPrincipal() });
    expect(() => svc.grantTaskApiAccess(role, ['read'], 'etl*')).toThrow(
      "functionName must be a task function name, 1-64 letters, digits, '_' or '-' starting with a letter or '_' (given 'etl*'); omit it for every function",
    );
    expect(() => svc.grantTaskApiAccess(role, [])).toThrow("access must be one or more of 'submit', 'read', 'operate' (given [])");
    expect(() => svc.grantTaskApiAccess(role, ['write' as TaskApiAccess])).toThrow(
      `access must be one or more of 'submit', 'read', 'operate' (given ["write"])`,
    );
  });

  test('reports every bad prop in one error, with retention', () => {
    let message = '';
    try {
      new AsyncTaskService(testStack(), 'Service', {
        retention: Duration.minutes(1),
        apiThrottle: { rateLimit: 0, burstLimit: 0 },
      });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message.split('\n')).toEqual([
      'Invalid props for AsyncTaskService (TestStack/Service):',
      '  - retention must be between 3600s and 31536000s inclusive (given 60s)',
      '  - apiThrottle.rateLimit must be between 1 and 10000 inclusive (given 0)',
      '  - apiThrottle.burstLimit must be between 1 and 5000 inclusive (given 0)',
    ]);
  });

  test('fails at synth if functionThrottles names a function the service does not have', () => {
    const app = testApp();
    const stack = new Stack(app, 'Svc');
    const svc = new AsyncTaskService(stack, 'Service', {
      serviceName: 'q',
      functionThrottles: { transcod: { rateLimit: 1, burstLimit: 1 } },
    });
    new LambdaTaskFunction(stack, 'Transcode', { service: svc, functionName: 'transcode', lambdaFunction: inlineFunction(stack) });
    expect(() => app.synth()).toThrow(
      "functionThrottles names 'transcod', which is not a task function of Svc/Service (its functions: transcode)",
    );
  });

  test('fails at synth if throttled functions take the REST API over 300 resources', () => {
    const app = testApp();
    const stack = new Stack(app, 'Svc');
    const names = Array.from({ length: 37 }, (_, i) => `f${i}`);
    const svc = new AsyncTaskService(stack, 'Service', {
      serviceName: 'q',
      functionThrottles: Object.fromEntries(names.map((n) => [n, { rateLimit: 1, burstLimit: 1 }])),
    });
    for (const name of names) new LambdaTaskFunction(stack, name, { service: svc, lambdaFunction: inlineFunction(stack, `W${name}`) });
    expect(() => app.synth()).toThrow(
      /API Gateway resources per REST API exceeded at Svc\/Service\/HttpApi\/Api\/Resource: 306 resources, the limit is 300/,
    );
  });
});
