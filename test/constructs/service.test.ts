/** AsyncTaskService: table, results bucket, service Lambdas, finalizer rule, reconciler schedule, dashboard, alarms, registry, grants. */
import { type CfnElement, Duration, Errors, Lazy, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { ASYNC_CONFIG_BOUNDS } from '../../lambda/model/config';
import { parseDescriptor, SERVICE_ENV } from '../../lambda/model/registry';
import { TABLE } from '../../lambda/model/table';
import { AsyncTaskService } from '../../lib/async-task-service';
import { LambdaTaskFunction } from '../../lib/lambda-task-function';
import { testApp, testStack } from './app';
import { containerTask, inlineFunction, lambdaTask, serviceStack, sqsDestination } from './fixtures';

function serviceFunctions(template: Template): Record<string, Record<string, unknown>> {
  return template.findResources('AWS::Lambda::Function', {
    Properties: { Description: Match.stringLikeRegexp('^asynctask (TaskApi|finalizer|reconciler)') },
  });
}

describe('tasks table', () => {
  const { stack } = serviceStack();
  const template = Template.fromStack(stack);

  test('is keyed (functionName, taskId), on demand, AWS-managed encryption, PITR, TTL expiresAt', () => {
    template.resourceCountIs('AWS::DynamoDB::Table', 1);
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [
        { AttributeName: TABLE.partitionKey, KeyType: 'HASH' },
        { AttributeName: TABLE.sortKey, KeyType: 'RANGE' },
      ],
      BillingMode: 'PAY_PER_REQUEST',
      SSESpecification: { SSEEnabled: true },
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
    });
  });

  test('has the ByTime and ByStatus indexes, projection ALL', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      GlobalSecondaryIndexes: [
        {
          IndexName: 'ByTime',
          KeySchema: [
            { AttributeName: 'functionName', KeyType: 'HASH' },
            { AttributeName: 'listKey', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
        {
          IndexName: 'ByStatus',
          KeySchema: [
            { AttributeName: 'statusKey', KeyType: 'HASH' },
            { AttributeName: 'listKey', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
      ],
    });
  });

  test('is retained by default', () => {
    template.hasResource('AWS::DynamoDB::Table', { DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
  });
});

describe('results bucket', () => {
  test('is encrypted, private, SSL-only, and expires results/ after the retention', () => {
    const { stack } = serviceStack({ retention: Duration.days(3) });
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      LifecycleConfiguration: { Rules: [{ Prefix: 'results/', ExpirationInDays: 3, Status: 'Enabled' }] },
    });
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]),
      },
    });
  });

  test('expires after 7 days by default, rounding a sub-day retention up to 1 day', () => {
    const seven = Template.fromStack(serviceStack().stack);
    seven.hasResourceProperties('AWS::S3::BucketPolicy', Match.anyValue());
    seven.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: { Rules: [{ Prefix: 'results/', ExpirationInDays: 7 }] },
    });
    const hours = Template.fromStack(serviceStack({ retention: Duration.hours(5) }).stack);
    hours.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: { Rules: [{ Prefix: 'results/', ExpirationInDays: 1 }] },
    });
  });
});

describe('service Lambdas', () => {
  const { stack, service } = lambdaTask();
  const template = Template.fromStack(stack);

  test('TaskApi, finalizer and reconciler: Node.js 22, arm64, JSON logs, the service environment', () => {
    const fns = serviceFunctions(template);
    expect(Object.keys(fns)).toHaveLength(3);
    for (const fn of Object.values(fns)) {
      expect(fn.Properties).toMatchObject({
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        LoggingConfig: { LogFormat: 'JSON', ApplicationLogLevel: 'INFO' },
        Handler: 'index.handler',
      });
      const variables = (fn.Properties as { Environment: { Variables: Record<string, unknown> } }).Environment.Variables;
      expect(Object.keys(variables).sort()).toEqual(Object.values(SERVICE_ENV).sort());
      expect(variables[SERVICE_ENV.retentionSeconds]).toBe(String(ASYNC_CONFIG_BOUNDS.retentionSeconds.default));
    }
  });

  test('logLevel sets the application log level of the three Lambdas (their Logger follows it)', () => {
    const { stack: debugStack } = serviceStack({ logLevel: lambda.ApplicationLogLevel.DEBUG });
    const levels = Object.values(serviceFunctions(Template.fromStack(debugStack))).map(
      (fn) => (fn.Properties as { LoggingConfig: { ApplicationLogLevel: string } }).LoggingConfig.ApplicationLogLevel,
    );
    expect(levels).toEqual(['DEBUG', 'DEBUG', 'DEBUG']);
  });

  test('exposes the table, bucket, Lambdas and dashboard', () => {
    expect(service.table).toBeDefined();
    expect(service.resultsBucket).toBeDefined();
    expect(service.taskApi.node.id).toBe('TaskApi');
    expect(service.finalizer.node.id).toBe('Finalizer');
    expect(service.reconciler.node.id).toBe('Reconciler');
    expect(service.dashboard.node.id).toBe('Dashboard');
  });

  test('each task function writes its descriptor to the registry path the service Lambdas read', () => {
    const variables =
      template.toJSON().Resources[stack.getLogicalId(service.taskApi.node.defaultChild as CfnElement)].Properties.Environment.Variables;
    expect(variables[SERVICE_ENV.registryPath]).toBe(service.registryPath);
    expect(service.registryPath).toMatch(/^\/asynctask\/[A-Za-z0-9_-]+\/functions\/$/);
    const parameters = template.findResources('AWS::SSM::Parameter');
    expect(Object.values(parameters)).toHaveLength(1);
    const parameter = Object.values(parameters)[0] as { Properties: { Name: string; Value: { 'Fn::Join': [string, unknown[]] } } };
    expect(parameter.Properties.Name).toBe(`${service.registryPath}etl`);
    const json = parameter.Properties.Value['Fn::Join'][1].map((p) => (typeof p === 'string' ? p : 'TOKEN')).join('');
    expect(parseDescriptor(json, parameter.Properties.Name)).toMatchObject({
      name: 'etl',
      kind: 'lambda',
      stateMachineArn: 'TOKEN',
      runnerArn: 'TOKEN',
      maxRetryAttempts: 3,
      maxEventAgeSeconds: 86400,
      timeoutSeconds: 900,
      logGroupName: '/aws/lambda/TOKEN',
    });
  });
});

describe('finalizer rule and reconciler schedule', () => {
  const { stack, service } = lambdaTask();
  const template = Template.fromStack(stack);

  /** An ARN built by Fn::Join, with the pseudo parameters as `${...}`. */
  const joined = (value: unknown): string => {
    const v = value as { 'Fn::Join': [string, Array<string | { Ref: string }>] };
    return v['Fn::Join'][1].map((p) => (typeof p === 'string' ? p : `\${${p.Ref}}`)).join(v['Fn::Join'][0]);
  };

  test('the finalizer gets FAILED, TIMED_OUT and ABORTED status changes of every machine named <serviceName>-*', () => {
    const rules = template.findResources('AWS::Events::Rule', {
      Properties: { EventPattern: { source: ['aws.states'] } },
    });
    expect(Object.keys(rules)).toHaveLength(1);
    const rule = Object.values(rules)[0].Properties;
    expect(rule).toMatchObject({
      EventPattern: {
        'detail-type': ['Step Functions Execution Status Change'],
        detail: { status: ['FAILED', 'TIMED_OUT', 'ABORTED'] },
      },
      State: 'ENABLED',
      Targets: [expect.objectContaining({ Arn: { 'Fn::GetAtt': [expect.stringMatching(/^ServiceFinalizer/), 'Arn'] } })],
    });
    const arns = rule.EventPattern.detail.stateMachineArn as Array<{ prefix: unknown }>;
    expect(arns).toHaveLength(1);
    expect(joined(arns[0].prefix)).toBe(
      `arn:\${AWS::Partition}:states:\${AWS::Region}:\${AWS::AccountId}:stateMachine:${service.serviceName}-`,
    );
  });

  test('exists before any task function is registered', () => {
    const { stack: bare } = serviceStack();
    Template.fromStack(bare).hasResourceProperties('AWS::Events::Rule', {
      EventPattern: Match.objectLike({ source: ['aws.states'] }),
    });
  });

  test('the reconciler runs every 5 minutes', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(5 minutes)',
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^ServiceReconciler'), 'Arn'] } })],
    });
  });
});

describe('dashboard and alarms', () => {
  const stack = testStack();
  const service = new AsyncTaskService(stack, 'Service');
  const failure = sqsDestination(stack, 'Dlq');
  new LambdaTaskFunction(stack, 'Etl', {
    service,
    functionName: 'etl',
    lambdaFunction: inlineFunction(stack),
    onFailure: failure.destination,
  });
  const template = Template.fromStack(stack);

  test('one dashboard with submitted, running, succeeded, failed, stopped, durations and DLQ depth', () => {
    template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    const body = JSON.stringify(
      stack.resolve(Object.values(template.findResources('AWS::CloudWatch::Dashboard'))[0].Properties.DashboardBody),
    );
    for (const text of [
      'ExecutionsStarted',
      'ExecutionsSucceeded',
      'ExecutionsFailed',
      'ExecutionsTimedOut',
      'ExecutionsAborted',
      'ExecutionTime',
      'ConcurrentExecutions',
      'ApproximateNumberOfMessagesVisible',
      'submitted',
      'stopped',
      'etl: tasks',
      'etl: running',
      'etl: duration (ms)',
      'etl: failure destination depth',
    ]) {
      expect(body).toContain(text);
    }
  });

  test('alarms on failed executions and on any message in an SQS failure destination', () => {
    template.resourceCountIs('AWS::CloudWatch::Alarm', 2);
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ExecutionsFailed',
      Namespace: 'AWS/States',
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      Threshold: 1,
      TreatMissingData: 'notBreaching',
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Namespace: 'AWS/SQS',
      ComparisonOperator: 'GreaterThanThreshold',
      Threshold: 0,
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [Match.stringLikeRegexp('^Dlq'), 'QueueName'] } }],
    });
  });
});

describe('grants', () => {
  const stack = testStack();
  const service = new AsyncTaskService(stack, 'Service', { serviceName: 'orders' });
  const failure = sqsDestination(stack, 'Dlq');
  new LambdaTaskFunction(stack, 'Etl', {
    service,
    functionName: 'etl',
    lambdaFunction: inlineFunction(stack),
    onFailure: failure.destination,
  });
  const template = Template.fromStack(stack);
  const arn = (type: string, name: string) => ({
    'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:${type}:`, { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, name]],
  });
  const machines = arn('states', ':stateMachine:orders-*');
  const executions = arn('states', ':execution:orders-*:*');

  function statementsOf(roleLogicalIdPrefix: string): Array<Record<string, unknown>> {
    const policies = template.findResources('AWS::IAM::Policy');
    return Object.values(policies)
      .filter((p) => JSON.stringify(p.Properties.Roles).includes(roleLogicalIdPrefix))
      .flatMap((p) => p.Properties.PolicyDocument.Statement as Array<Record<string, unknown>>);
  }
  const actionsOf = (statements: Array<Record<string, unknown>>) =>
    statements.flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action]) as string[]);

  test('TaskApi: table read/write; start, stop, describe, history on the <serviceName>-* machines; read the runner logs', () => {
    const statements = statementsOf('ServiceTaskApiServiceRole');
    expect(actionsOf(statements)).toEqual(
      expect.arrayContaining(['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:Query', 'dynamodb:DeleteItem']),
    );
    // list and stats query the ByTime and ByStatus indexes (stats with Select COUNT): Query on index/*.
    const query = statements.find((s) => actionsOf([s]).includes('dynamodb:Query'));
    expect(JSON.stringify(query?.Resource)).toContain('/index/*');
    expect(statements).toContainEqual(expect.objectContaining({ Action: 'states:StartExecution', Resource: machines }));
    expect(statements).toContainEqual(
      expect.objectContaining({
        Action: ['states:DescribeExecution', 'states:GetExecutionHistory', 'states:StopExecution'],
        Resource: executions,
      }),
    );
    // One Lambda runner so far: its log group is /aws/lambda/<its own name>.
    expect(statements).toContainEqual(
      expect.objectContaining({ Action: ['logs:FilterLogEvents', 'logs:GetLogEvents'], Resource: arn('logs', ':log-group:/aws/lambda/*') }),
    );
  });

  test('TaskApi reads container logs under /asynctask/<serviceName>/ once a container function exists', () => {
    const { stack: s, service: svc } = containerTask({}, { serviceName: 'media' });
    const t = Template.fromStack(s);
    t.hasResourceProperties('AWS::Logs::LogGroup', { LogGroupName: '/asynctask/media/analysis' });
    t.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: Match.stringLikeRegexp('^ServiceTaskApiServiceRole') }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: ['logs:FilterLogEvents', 'logs:GetLogEvents'],
            Resource: arn('logs', ':log-group:/asynctask/media/*'),
          }),
        ]),
      },
    });
    expect(svc.functions[0].logGroupName).toBeDefined();
    expect(JSON.stringify(t.toJSON())).not.toContain('/aws/lambda/*');
  });

  test('finalizer and reconciler: table and DescribeExecution; the reconciler also starts executions', () => {
    const finalizer = statementsOf('ServiceFinalizerServiceRole');
    expect(actionsOf(finalizer)).toEqual(expect.arrayContaining(['dynamodb:UpdateItem', 'states:DescribeExecution']));
    expect(actionsOf(finalizer)).not.toContain('states:StartExecution');
    expect(finalizer).toContainEqual(expect.objectContaining({ Action: 'states:DescribeExecution', Resource: executions }));
    const reconciler = statementsOf('ServiceReconcilerServiceRole');
    expect(reconciler).toContainEqual(expect.objectContaining({ Action: 'states:StartExecution', Resource: machines }));
  });

  test('no service role is granted the failure destination: the queue policy grants the three roles', () => {
    for (const role of ['ServiceTaskApiServiceRole', 'ServiceFinalizerServiceRole', 'ServiceReconcilerServiceRole']) {
      expect(actionsOf(statementsOf(role))).not.toContain('sqs:SendMessage');
    }
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: Match.stringLikeRegexp('^Dlq') }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          {
            Sid: 'AsyncTaskorders',
            Effect: 'Allow',
            Action: ['sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage'],
            Principal: {
              AWS: [
                { 'Fn::GetAtt': [Match.stringLikeRegexp('^ServiceFinalizerServiceRole'), 'Arn'] },
                { 'Fn::GetAtt': [Match.stringLikeRegexp('^ServiceReconcilerServiceRole'), 'Arn'] },
                { 'Fn::GetAtt': [Match.stringLikeRegexp('^ServiceTaskApiServiceRole'), 'Arn'] },
              ],
            },
            Resource: { 'Fn::GetAtt': [Match.stringLikeRegexp('^Dlq'), 'Arn'] },
          },
        ]),
      },
    });
  });

  test('a failure queue shared by two functions is granted once', () => {
    const s = testStack();
    const svc = new AsyncTaskService(s, 'Service', { serviceName: 'shared' });
    const dlq = sqsDestination(s, 'Dlq');
    for (const name of ['a', 'b']) {
      new LambdaTaskFunction(s, name, { service: svc, lambdaFunction: inlineFunction(s, `W${name}`), onFailure: dlq.destination });
    }
    const policies = Template.fromStack(s).findResources('AWS::SQS::QueuePolicy');
    const statements = Object.values(policies).flatMap((p) => p.Properties.PolicyDocument.Statement as Array<{ Sid?: string }>);
    expect(statements.filter((st) => st.Sid === 'AsyncTaskshared')).toHaveLength(1);
  });
});

describe('task functions in other stacks', () => {
  const app = testApp();
  const serviceStackOf = new Stack(app, 'Svc');
  const service = new AsyncTaskService(serviceStackOf, 'Service', { serviceName: 'teams' });
  const team = new Stack(app, 'Team');
  const dlq = sqsDestination(team, 'Dlq');
  const fn = new LambdaTaskFunction(team, 'Etl', {
    service,
    functionName: 'etl',
    lambdaFunction: inlineFunction(team),
    onFailure: dlq.destination,
  });
  const assembly = app.synth();

  test('the team stack depends on the service stack, never the reverse', () => {
    expect(team.dependencies).toEqual([serviceStackOf]);
    expect(serviceStackOf.dependencies).toEqual([]);
  });

  test("registration, dashboard row and alarms are in the function's stack", () => {
    const t = Template.fromStack(team);
    t.resourceCountIs('AWS::SSM::Parameter', 1);
    t.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    t.resourceCountIs('AWS::CloudWatch::Alarm', 2);
    expect(service.alarms.map((a) => Stack.of(a))).toEqual([team, team]);
    expect(service.dashboardFor(fn)).toBe(service.dashboardFor(fn));
    expect(service.dashboardFor(fn)).not.toBe(service.dashboard);
    const s = Template.fromStack(serviceStackOf);
    s.resourceCountIs('AWS::CloudWatch::Alarm', 0);
    s.resourceCountIs('AWS::SSM::Parameter', 0);
  });

  test('the queue policy in the team stack names the service roles through the service stack outputs', () => {
    const queuePolicy = Object.values(
      assembly.getStackByName('Team').template.Resources as Record<
        string,
        { Type: string; Properties: { PolicyDocument: { Statement: Array<{ Sid?: string; Principal?: { AWS: unknown[] } }> } } }
      >,
    )
      .filter((r) => r.Type === 'AWS::SQS::QueuePolicy')
      .flatMap((r) => r.Properties.PolicyDocument.Statement)
      .find((st) => st.Sid === 'AsyncTaskteams');
    expect(queuePolicy?.Principal?.AWS).toHaveLength(3);
    for (const principal of queuePolicy?.Principal?.AWS ?? []) {
      expect(JSON.stringify(principal)).toContain('"StackName":"Svc"');
    }
  });
});

describe('shared VPC', () => {
  test('is created once, on first use, with public subnets only and no NAT gateway', () => {
    const { stack, service } = containerTask();
    expect(service.defaultVpc).toBe(service.defaultVpc);
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::EC2::VPC', 1);
    template.resourceCountIs('AWS::EC2::NatGateway', 0);
    template.resourceCountIs('AWS::EC2::Subnet', 2);
    template.allResourcesProperties('AWS::EC2::Subnet', { MapPublicIpOnLaunch: true });
  });

  test('is not created when there is no container function', () => {
    Template.fromStack(lambdaTask().stack).resourceCountIs('AWS::EC2::VPC', 0);
  });

  test('is the given vpc when the service has one', () => {
    const stack = testStack();
    const vpc = new ec2.Vpc(stack, 'Mine', { natGateways: 0, restrictDefaultSecurityGroup: false });
    const service = new AsyncTaskService(stack, 'Service', { vpc });
    expect(service.defaultVpc).toBe(vpc);
  });
});

describe('validation', () => {
  test('fails if retention is below one hour', () => {
    expect(() => new AsyncTaskService(testStack(), 'Service', { retention: Duration.minutes(30) })).toThrow(
      'retention must be between 3600s and 31536000s inclusive (given 1800s)',
    );
  });

  test('fails if retention is above 365 days', () => {
    expect(() => new AsyncTaskService(testStack(), 'Service', { retention: Duration.days(400) })).toThrow(
      /retention must be between 3600s and 31536000s inclusive \(given 34560000s\)/,
    );
  });

  test('fails if two task functions share a name', () => {
    const { stack, service } = lambdaTask();
    expect(
      () => new LambdaTaskFunction(stack, 'Etl2', { service, functionName: 'etl', lambdaFunction: inlineFunction(stack, 'W2') }),
    ).toThrow("a task function named 'etl' is already registered");
  });

  test('fails if the serviceName has a dash or is too long', () => {
    expect(() => new AsyncTaskService(testStack(), 'Service', { serviceName: 'my-service' })).toThrow(
      "serviceName must be 1-40 letters, digits or '_' (given 'my-service')",
    );
    expect(() => new AsyncTaskService(testStack(), 'Service', { serviceName: 'x'.repeat(41) })).toThrow(
      `serviceName must be 1-40 letters, digits or '_' (given '${'x'.repeat(41)}')`,
    );
  });

  test('fails if serviceName and functionName make a state machine name over 80 characters, naming both', () => {
    const { stack, service } = serviceStack({ serviceName: 's'.repeat(40) });
    expect(
      () => new LambdaTaskFunction(stack, 'Long', { service, functionName: 'f'.repeat(40), lambdaFunction: inlineFunction(stack) }),
    ).toThrow(
      `functionName '${'f'.repeat(40)}' (40 characters) with serviceName '${'s'.repeat(40)}' (40 characters) makes the state machine name '${'s'.repeat(40)}-${'f'.repeat(40)}' 81 characters long; Step Functions allows at most 80, so functions of this service may have names of at most 39 characters`,
    );
    expect(
      () => new LambdaTaskFunction(stack, 'Fits', { service, functionName: 'f'.repeat(39), lambdaFunction: inlineFunction(stack, 'W2') }),
    ).not.toThrow();
  });

  test('prop errors are aws-cdk-lib ValidationErrors attached to the construct', () => {
    let error: unknown;
    try {
      new AsyncTaskService(testStack(), 'Service', { retention: Duration.minutes(1) });
    } catch (e) {
      error = e;
    }
    expect(Errors.isValidationError(error)).toBe(true);
    expect((error as { constructPath?: string }).constructPath).toBe('TestStack/Service');
    expect(() => lambdaTask({ maxRetryAttempts: 9 })).toThrow(expect.objectContaining({ name: 'InvalidTaskFunctionProps' }));
  });

  test('a token retention is not checked at synth', () => {
    const retention = Duration.seconds(Lazy.number({ produce: () => 100 }));
    expect(() => new AsyncTaskService(testStack(), 'S', { retention })).not.toThrow();
  });
});
