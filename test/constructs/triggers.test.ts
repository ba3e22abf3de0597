/**
 * KafkaTaskTrigger and SqsTaskTrigger: their event source mappings (ReportBatchItemFailures, one
 * per topic, stable consumer groups), the trigger Lambda's environment and grants (explicit
 * actions only), cross-stack use without cycles, cdk-nag, and one `fails if ...` per validation rule.
 */
import { CfnParameter, Duration, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { SERVICE_ENV } from '../../lambda/model/registry';
import { TRIGGER_ENV } from '../../lambda/model/trigger';
import { AsyncTaskService } from '../../lib/async-task-service';
import {
  defaultConsumerGroupId,
  type IKafkaCluster,
  KAFKA_CONSUMER_GROUP_ID_PATTERN,
  KafkaCluster,
  KafkaTaskTrigger,
  type KafkaTaskTriggerProps,
} from '../../lib/kafka-task-trigger';
import { LambdaTaskFunction } from '../../lib/lambda-task-function';
import { SqsTaskTrigger, type SqsTaskTriggerProps } from '../../lib/sqs-task-trigger';
import { TRIGGER_TABLE_ACTIONS } from '../../lib/trigger-base';
import { testApp } from './app';
import { inlineFunction, lambdaTask, sqsDestination } from './fixtures';

const MSK_ARN = 'arn:aws:kafka:eu-west-1:123456789012:cluster/etl-cluster/abcd1234-abcd-cafe-abab-9876543210ab-4';

type KafkaProps = Partial<KafkaTaskTriggerProps>;

/** A service stack with the `etl` function, and a Kafka trigger on it built from `props(stack)`. */
function kafkaTrigger(props: (stack: Stack) => KafkaProps = () => ({})) {
  const { stack, service, fn } = lambdaTask();
  const given = props(stack);
  const trigger = new KafkaTaskTrigger(stack, 'EtlKafkaTrigger', {
    service,
    taskFunction: fn,
    cluster: KafkaCluster.msk({ clusterArn: MSK_ARN }),
    topics: ['connector-demo'],
    ...given,
  });
  return { stack, service, fn, trigger, template: Template.fromStack(stack) };
}

function sqsTrigger(props: (stack: Stack) => Partial<SqsTaskTriggerProps> = () => ({})) {
  const { stack, service, fn } = lambdaTask();
  const given = props(stack);
  const trigger = new SqsTaskTrigger(stack, 'EtlSqsTrigger', {
    service,
    taskFunction: fn,
    queue: given.queue ?? new sqs.Queue(stack, 'Input', { enforceSSL: true }),
    ...given,
  });
  return { stack, service, fn, trigger, template: Template.fromStack(stack) };
}

function selfManagedInVpc(stack: Stack): IKafkaCluster {
  return KafkaCluster.selfManaged({ bootstrapServers: ['localhost:9092'], vpc: new ec2.Vpc(stack, 'KafkaVpc', { natGateways: 0 }) });
}

function secret(stack: Stack, id = 'KafkaSecret'): secretsmanager.ISecret {
  return secretsmanager.Secret.fromSecretCompleteArn(stack, id, `arn:aws:secretsmanager:eu-west-1:123456789012:secret:${id}-AbCdEf`);
}

/** Every action of every IAM statement of a template. */
function allActions(template: Template): string[] {
  const json = template.toJSON() as { Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }> };
  const actions: string[] = [];
  for (const resource of Object.values(json.Resources)) {
    if (resource.Type !== 'AWS::IAM::Policy') continue;
    const { PolicyDocument } = resource.Properties as { PolicyDocument: { Statement: Array<{ Action: string | string[] }> } };
    const statements = PolicyDocument.Statement;
    for (const s of statements) actions.push(...(Array.isArray(s.Action) ? s.Action : [s.Action]));
  }
  return actions;
}

/** Each (action, resource) pair the policies attached to roles whose logical id starts with `rolePrefix` allow. */
function grantsOf(template: Template, rolePrefix: string): Array<{ action: string; resource: string }> {
  const json = template.toJSON() as { Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }> };
  const pairs: Array<{ action: string; resource: string }> = [];
  for (const resource of Object.values(json.Resources)) {
    if (resource.Type !== 'AWS::IAM::Policy') continue;
    const roles = JSON.stringify(resource.Properties?.Roles ?? []);
    if (!roles.includes(`"Ref":"${rolePrefix}`)) continue;
    const { PolicyDocument } = resource.Properties as {
      PolicyDocument: { Statement: Array<{ Action: string | string[]; Resource: unknown }> };
    };
    const statements = PolicyDocument.Statement;
    for (const s of statements) {
      const resources = Array.isArray(s.Resource) ? s.Resource : [s.Resource];
      for (const action of Array.isArray(s.Action) ? s.Action : [s.Action]) {
        for (const r of resources) pairs.push({ action, resource: typeof r === 'string' ? r : JSON.stringify(r) });
      }
    }
  }
  return pairs;
}

/** True when `grants` allow `action` on a resource whose text contains `resource`. */
function allows(grants: Array<{ action: string; resource: string }>, action: string, resource: string): boolean {
  return grants.some((g) => g.action === action && g.resource.includes(resource));
}

/** cdk-nag findings on constructs under `path` (the fixtures' own worker and queues are not the trigger's). */
function nagFindings(stack: Stack, path: string): string[] {
  const report = new AwsSolutionsChecks(undefined, { verbose: true }).validateScope(stack);
  return report.violations
    .map(
      (v) =>
        `${v.ruleName} at ${v.violatingResources
          .map((r) => r.constructPath)
          .filter((p) => p?.startsWith(path))
          .join(', ')}`,
    )
    .filter((line) => !line.endsWith(' at '));
}

describe('KafkaTaskTrigger on Amazon MSK (IAM)', () => {
  const { template, trigger } = kafkaTrigger(() => ({ topics: ['connector-demo', 'orders'] }));

  test('one mapping per topic, with ReportBatchItemFailures, provisioned pollers and a stable consumer group', () => {
    template.resourceCountIs('AWS::Lambda::EventSourceMapping', 2);
    for (const topic of ['connector-demo', 'orders']) {
      template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
        EventSourceArn: MSK_ARN,
        Topics: [topic],
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        StartingPosition: 'LATEST',
        BatchSize: 100,
        ProvisionedPollerConfig: { MinimumPollers: 1, MaximumPollers: 200 },
        AmazonManagedKafkaEventSourceConfig: { ConsumerGroupId: `asynctask-TestStack-etl-${topic}` },
        SourceAccessConfigurations: Match.absent(),
      });
    }
    expect(trigger.consumerGroupIds).toEqual({
      'connector-demo': 'asynctask-TestStack-etl-connector-demo',
      orders: 'asynctask-TestStack-etl-orders',
    });
  });

  test('grants kafka-cluster actions by name on the cluster, each topic and each group', () => {
    const grants = grantsOf(template, 'EtlKafkaTriggerFunctionServiceRole');
    for (const action of [
      'kafka-cluster:Connect',
      'kafka-cluster:DescribeClusterDynamicConfiguration',
      'kafka:DescribeCluster',
      'kafka:GetBootstrapBrokers',
    ]) {
      expect(grants).toContainEqual({ action, resource: MSK_ARN });
    }
    for (const topic of ['connector-demo', 'orders']) {
      for (const action of ['kafka-cluster:DescribeTopic', 'kafka-cluster:ReadData']) {
        expect(grants).toContainEqual({ action, resource: `${MSK_ARN.replace(':cluster/', ':topic/')}/${topic}` });
      }
      for (const action of ['kafka-cluster:DescribeGroup', 'kafka-cluster:AlterGroup']) {
        expect(grants).toContainEqual({ action, resource: `${MSK_ARN.replace(':cluster/', ':group/')}/asynctask-TestStack-etl-${topic}` });
      }
    }
    expect(grants.filter((g) => g.action.startsWith('kafka-cluster:') && g.resource.endsWith('*'))).toEqual([]);
  });

  test('no action of any statement has a wildcard', () => {
    const actions = allActions(template);
    expect(actions).toContain('kafka-cluster:ReadData');
    expect(actions.filter((a) => a.includes('*'))).toEqual([]);
  });

  test('cdk-nag AwsSolutions: no unacknowledged finding on the trigger (the MSK managed policy acknowledged)', () => {
    expect(nagFindings(Stack.of(trigger), trigger.node.path)).toEqual([]);
    const role = template.findResources('AWS::IAM::Role', { Properties: { ManagedPolicyArns: Match.arrayWith([Match.objectLike({})]) } });
    expect(JSON.stringify(role)).toContain('AWSLambdaMSKExecutionRole');
    expect(Annotations.fromStack(Stack.of(trigger)).findWarning('*', Match.anyValue())).toEqual([]);
  });

  test('a token cluster ARN makes topic and group ARNs with Fn::Split, not a broken string', () => {
    const { template: t } = kafkaTrigger((stack) => ({
      cluster: KafkaCluster.msk({ clusterArn: new CfnParameter(stack, 'ClusterArn').valueAsString }),
    }));
    const grants = grantsOf(t, 'EtlKafkaTriggerFunctionServiceRole');
    const readData = grants.find((g) => g.action === 'kafka-cluster:ReadData');
    expect(readData?.resource).toMatch(/"Fn::Split":\[":cluster\/".*":topic\/".*"\/connector-demo"/);
  });
});

describe('KafkaTaskTrigger authentication', () => {
  test('MSK SASL/SCRAM-512: the secret on the mapping and readable by the trigger', () => {
    const { template } = kafkaTrigger((stack) => ({
      cluster: KafkaCluster.msk({ clusterArn: MSK_ARN, authentication: 'SASL_SCRAM_512_AUTH', secret: secret(stack) }),
    }));
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      SourceAccessConfigurations: [{ Type: 'SASL_SCRAM_512_AUTH', URI: Match.stringLikeRegexp(':secret:KafkaSecret-AbCdEf$') }],
    });
    expect(allActions(template)).toEqual(expect.arrayContaining(['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret']));
    expect(allActions(template)).not.toContain('kafka-cluster:Connect');
  });

  test('MSK mTLS: CLIENT_CERTIFICATE_TLS_AUTH on the mapping', () => {
    const { template } = kafkaTrigger((stack) => ({
      cluster: KafkaCluster.msk({ clusterArn: MSK_ARN, authentication: 'CLIENT_CERTIFICATE_TLS_AUTH', secret: secret(stack) }),
    }));
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      SourceAccessConfigurations: [{ Type: 'CLIENT_CERTIFICATE_TLS_AUTH', URI: Match.stringLikeRegexp(':secret:KafkaSecret-AbCdEf$') }],
    });
    expect(allActions(template)).toContain('secretsmanager:GetSecretValue');
  });

  test('self-managed over the internet with SASL/SCRAM-256 and a root CA', () => {
    const { template } = kafkaTrigger((stack) => ({
      cluster: KafkaCluster.selfManaged({
        bootstrapServers: ['b-1.example.com:9096', 'b-2.example.com:9096'],
        authentication: 'SASL_SCRAM_256_AUTH',
        secret: secret(stack),
        rootCaCertificate: secret(stack, 'RootCa'),
      }),
    }));
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      SelfManagedEventSource: { Endpoints: { KafkaBootstrapServers: ['b-1.example.com:9096', 'b-2.example.com:9096'] } },
      SelfManagedKafkaEventSourceConfig: { ConsumerGroupId: 'asynctask-TestStack-etl-connector-demo' },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      SourceAccessConfigurations: [
        { Type: 'SASL_SCRAM_256_AUTH', URI: Match.stringLikeRegexp('KafkaSecret') },
        { Type: 'SERVER_ROOT_CA_CERTIFICATE', URI: Match.stringLikeRegexp('RootCa') },
      ],
    });
  });

  test('self-managed in a VPC: subnets, a created security group, and the ENI actions by name', () => {
    const { template, stack } = kafkaTrigger((s) => ({ cluster: selfManagedInVpc(s) }));
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      SelfManagedEventSource: { Endpoints: { KafkaBootstrapServers: ['localhost:9092'] } },
      SourceAccessConfigurations: Match.arrayWith([
        {
          Type: 'VPC_SECURITY_GROUP',
          URI: { 'Fn::GetAtt': [Match.stringLikeRegexp('^EtlKafkaTriggerKafkaPollerSecurityGroup'), 'GroupId'] },
        },
        Match.objectLike({ Type: 'VPC_SUBNET' }),
      ]),
    });
    const grants = grantsOf(template, 'EtlKafkaTriggerFunctionServiceRole');
    expect(grants).toContainEqual({ action: 'ec2:CreateNetworkInterface', resource: '*' });
    expect(grants).toContainEqual({ action: 'ec2:DeleteNetworkInterface', resource: '*' });
    expect(nagFindings(stack, 'TestStack/EtlKafkaTrigger')).toEqual([]);
  });
});

describe('consumer group ids', () => {
  const synth = () => kafkaTrigger().template.findResources('AWS::Lambda::EventSourceMapping');

  test('are the same in two syntheses of the same app (no random part)', () => {
    const groups = (resources: Record<string, Record<string, unknown>>) =>
      Object.values(resources).map(
        (r) =>
          (r.Properties as { AmazonManagedKafkaEventSourceConfig: { ConsumerGroupId: string } }).AmazonManagedKafkaEventSourceConfig
            .ConsumerGroupId,
      );
    expect(groups(synth())).toEqual(['asynctask-TestStack-etl-connector-demo']);
    expect(groups(synth())).toEqual(groups(synth()));
  });

  test('differ per function and per topic', () => {
    const { stack, service, fn } = lambdaTask();
    const other = new LambdaTaskFunction(stack, 'Other', {
      service,
      functionName: 'other',
      lambdaFunction: inlineFunction(stack, 'OtherWorker'),
    });
    const cluster = KafkaCluster.msk({ clusterArn: MSK_ARN });
    const a = new KafkaTaskTrigger(stack, 'A', { service, taskFunction: fn, cluster, topics: ['t1', 't2'] });
    const b = new KafkaTaskTrigger(stack, 'B', { service, taskFunction: other, cluster, topics: ['t1'] });
    const all = [...Object.values(a.consumerGroupIds), ...Object.values(b.consumerGroupIds)];
    expect(new Set(all).size).toBe(3);
    expect(b.consumerGroupIds.t1).toBe('asynctask-TestStack-other-t1');
  });

  test('a given consumerGroupId is used as is', () => {
    const { template } = kafkaTrigger(() => ({ consumerGroupId: 'etl-consumers' }));
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      AmazonManagedKafkaEventSourceConfig: { ConsumerGroupId: 'etl-consumers' },
    });
  });

  test('a long default is cut to 200 characters, ends in a hash, and keeps to the allowed pattern', () => {
    const long = defaultConsumerGroupId('Stack', 'etl', 'x'.repeat(249));
    const other = defaultConsumerGroupId('Stack', 'etl', `${'x'.repeat(248)}y`);
    expect(long).toHaveLength(200);
    expect(long).toMatch(/-[0-9a-f]{8}$/);
    expect(long).not.toBe(other);
    expect(long).toMatch(KAFKA_CONSUMER_GROUP_ID_PATTERN);
  });

  test('starting position AT_TIMESTAMP carries the timestamp in Unix seconds', () => {
    const { template } = kafkaTrigger(() => ({
      startingPosition: 'AT_TIMESTAMP',
      startingPositionTimestamp: new Date('2026-01-02T03:04:05Z'),
    }));
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      StartingPosition: 'AT_TIMESTAMP',
      StartingPositionTimestamp: 1767323045,
    });
  });

  test('batch size, window, retries, record age and pollers reach the mapping', () => {
    const { template } = kafkaTrigger(() => ({
      batchSize: 500,
      maxBatchingWindow: Duration.seconds(5),
      retryAttempts: 3,
      maxRecordAge: Duration.hours(1),
      minimumPollers: 2,
      maximumPollers: 4,
      startingPosition: 'TRIM_HORIZON',
    }));
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      BatchSize: 500,
      MaximumBatchingWindowInSeconds: 5,
      MaximumRetryAttempts: 3,
      MaximumRecordAgeInSeconds: 3600,
      ProvisionedPollerConfig: { MinimumPollers: 2, MaximumPollers: 4 },
      StartingPosition: 'TRIM_HORIZON',
    });
  });
});

describe('the trigger Lambda', () => {
  const { template, stack } = kafkaTrigger((s) => ({ onFailure: sqsDestination(s, 'Quarantine').destination }));

  test('is the trigger handler on Node.js 22, arm64, JSON logs', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: "asynctask trigger: records of Kafka topics connector-demo become tasks of 'etl'",
      Handler: 'index.handler',
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      LoggingConfig: Match.objectLike({ LogFormat: 'JSON' }),
      Timeout: 300,
    });
  });

  test("has the service's table, registry path and retention, and the trigger environment", () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('^asynctask trigger'),
      Environment: {
        Variables: {
          [SERVICE_ENV.table]: { Ref: Match.stringLikeRegexp('^ServiceTasks') },
          [SERVICE_ENV.registryPath]: Match.stringLikeRegexp('^/asynctask/[A-Za-z0-9_]+/functions/$'),
          [SERVICE_ENV.retentionSeconds]: '604800',
          [TRIGGER_ENV.functionName]: 'etl',
          [TRIGGER_ENV.mode]: 'batch',
          [TRIGGER_ENV.valueFormat]: 'json',
          [TRIGGER_ENV.failureDestination]: {
            'Fn::Join': ['', Match.arrayWith([Match.stringLikeRegexp('^\\{"type":"sqs","arn":"$')])],
          },
        },
      },
    });
  });

  test('writes tasks with explicit table actions, starts only the function’s state machine, reads the registry', () => {
    const serviceName = (stack.node.findChild('Service') as AsyncTaskService).serviceName;
    const grants = grantsOf(template, 'EtlKafkaTriggerFunctionServiceRole');
    for (const action of TRIGGER_TABLE_ACTIONS) expect(allows(grants, action, '"ServiceTasks')).toBe(true);
    expect(
      grants
        .filter((g) => g.action.startsWith('dynamodb:'))
        .map((g) => g.action)
        .sort(),
    ).toEqual([...TRIGGER_TABLE_ACTIONS].sort());
    expect(grants.filter((g) => g.action === 'states:StartExecution')).toEqual([
      { action: 'states:StartExecution', resource: expect.stringContaining(`:stateMachine:${serviceName}-etl"`) },
    ]);
    expect(allows(grants, 'ssm:GetParametersByPath', `:parameter/asynctask/${serviceName}/functions"`)).toBe(true);
  });

  test('may send to its quarantine queue, granted on the queue policy', () => {
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: Match.stringLikeRegexp('^Quarantine') }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Sid: Match.stringLikeRegexp('^AsyncTaskTrigger'),
            Action: ['sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage'],
            Principal: { AWS: { 'Fn::GetAtt': [Match.stringLikeRegexp('^EtlKafkaTriggerFunctionServiceRole'), 'Arn'] } },
          }),
        ]),
      },
    });
  });
});

describe('SqsTaskTrigger', () => {
  const { template, stack } = sqsTrigger((s) => ({
    taskIdSource: 'field:orderId',
    maxConcurrency: 5,
    batchSize: 50,
    maxBatchingWindow: Duration.seconds(2),
    onFailure: sqsDestination(s, 'Quarantine').destination,
  }));

  test('maps the queue with ReportBatchItemFailures, batch size, window and maximum concurrency', () => {
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^Input'), 'Arn'] },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      BatchSize: 50,
      MaximumBatchingWindowInSeconds: 2,
      ScalingConfig: { MaximumConcurrency: 5 },
    });
  });

  test('runs in record mode by default with the task id source in its environment, 30 s timeout', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: "asynctask trigger: SQS messages become tasks of 'etl'",
      Timeout: 30,
      Environment: {
        Variables: Match.objectLike({
          [TRIGGER_ENV.mode]: 'record',
          [TRIGGER_ENV.taskIdSource]: 'field:orderId',
          [TRIGGER_ENV.valueFormat]: 'json',
        }),
      },
    });
  });

  test('consumes the queue with explicit actions, and nothing has a wildcard action', () => {
    expect(allActions(template)).toEqual(
      expect.arrayContaining(['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility']),
    );
    expect(allActions(template).filter((a) => a.includes('*'))).toEqual([]);
  });

  test('batch size defaults to 10, taskIdSource to messageId', () => {
    const { template: t } = sqsTrigger();
    t.hasResourceProperties('AWS::Lambda::EventSourceMapping', { BatchSize: 10, FunctionResponseTypes: ['ReportBatchItemFailures'] });
    t.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ [TRIGGER_ENV.taskIdSource]: 'messageId' }) },
    });
  });

  test('cdk-nag AwsSolutions: no unacknowledged finding on the trigger', () => {
    expect(nagFindings(stack, 'TestStack/EtlSqsTrigger')).toEqual([]);
  });
});

describe('across stacks', () => {
  function apps(place: 'team' | 'service') {
    const app = testApp();
    const serviceStack = new Stack(app, 'ServiceStack');
    const service = new AsyncTaskService(serviceStack, 'Service');
    const team = new Stack(app, 'TeamStack');
    const fn = new LambdaTaskFunction(team, 'Etl', { service, functionName: 'etl', lambdaFunction: inlineFunction(team) });
    const triggerStack = place === 'team' ? team : serviceStack;
    const kafka = new KafkaTaskTrigger(triggerStack, 'EtlKafka', {
      service,
      taskFunction: fn,
      cluster: KafkaCluster.msk({ clusterArn: MSK_ARN }),
      topics: ['connector-demo'],
      onFailure: sqsDestination(triggerStack, 'Quarantine').destination,
    });
    const input = new sqs.Queue(triggerStack, 'Input');
    new SqsTaskTrigger(triggerStack, 'EtlSqs', { service, taskFunction: fn, queue: input });
    return { app, serviceStack, team, kafka };
  }

  test('a trigger in a team stack refers to the service stack, never the reverse, and the app synthesizes', () => {
    const { app, serviceStack, team } = apps('team');
    expect(() => app.synth()).not.toThrow();
    expect(team.dependencies).toContain(serviceStack);
    expect(serviceStack.dependencies).not.toContain(team);
    Template.fromStack(team).resourceCountIs('AWS::Lambda::EventSourceMapping', 2);
  });

  test("a trigger in the service's stack for a function of a team stack names the state machine, no reference, no cycle", () => {
    const { app, serviceStack, team } = apps('service');
    expect(() => app.synth()).not.toThrow();
    expect(serviceStack.dependencies).not.toContain(team);
    Template.fromStack(serviceStack).resourceCountIs('AWS::Lambda::EventSourceMapping', 2);
    // The function's registry entry lists both triggers, the queue ARN read from the service stack.
    const triggers = registryDescriptor(Template.fromStack(team)).triggers as Array<Record<string, unknown>>;
    expect(triggers.map((t) => t.type)).toEqual(['kafka', 'sqs']);
    expect(triggers[1].queueArn).toMatch(/^<(import:|Fn::GetStackOutput)/);
  });
});

/**
 * The registry parameter's value with each reference made a readable placeholder (`<Logical.Attr>`,
 * `<import:Name>`), parsed: the descriptor as it will be after deployment.
 */
function registryDescriptor(template: Template, functionName = 'etl'): Record<string, unknown> {
  const params = Object.values(template.findResources('AWS::SSM::Parameter')).filter((p) =>
    JSON.stringify(p.Properties.Name).endsWith(`/functions/${functionName}"`),
  );
  expect(params).toHaveLength(1);
  const placeholder = (part: unknown): string => {
    if (typeof part === 'string') return part;
    const intrinsic = part as Record<string, unknown>;
    if ('Ref' in intrinsic) return `<${String(intrinsic.Ref)}>`;
    if ('Fn::GetAtt' in intrinsic) return `<${(intrinsic['Fn::GetAtt'] as string[]).join('.')}>`;
    if ('Fn::ImportValue' in intrinsic) return `<import:${JSON.stringify(intrinsic['Fn::ImportValue']).replace(/"/g, '')}>`;
    return `<${Object.keys(intrinsic)[0]}>`;
  };
  const value = params[0].Properties.Value as string | { 'Fn::Join': [string, unknown[]] };
  const text = typeof value === 'string' ? value : value['Fn::Join'][1].map(placeholder).join(value['Fn::Join'][0]);
  return JSON.parse(text) as Record<string, unknown>;
}

describe('the registry descriptor of the task function', () => {
  test('lists a Kafka trigger made after the function: topics, cluster, batch size, mode, starting position', () => {
    const { template } = kafkaTrigger(() => ({ topics: ['orders-a', 'orders-b'], batchSize: 50, startingPosition: 'TRIM_HORIZON' }));
    expect(registryDescriptor(template).triggers).toEqual([
      { type: 'kafka', topics: ['orders-a', 'orders-b'], cluster: MSK_ARN, batchSize: 50, mode: 'batch', startingPosition: 'TRIM_HORIZON' },
    ]);
  });

  test('lists an SQS trigger with its queue ARN resolved in the template, and self-managed brokers joined', () => {
    const { stack, service, fn } = lambdaTask();
    const queue = new sqs.Queue(stack, 'Input');
    new SqsTaskTrigger(stack, 'EtlSqs', { service, taskFunction: fn, queue, mode: 'batch' });
    new KafkaTaskTrigger(stack, 'EtlKafka', {
      service,
      taskFunction: fn,
      cluster: KafkaCluster.selfManaged({ bootstrapServers: ['b-1:9092', 'b-2:9092'], vpc: new ec2.Vpc(stack, 'Vpc', { natGateways: 0 }) }),
      topics: ['orders'],
    });
    const queueId = stack.getLogicalId(queue.node.defaultChild as sqs.CfnQueue);
    expect(registryDescriptor(Template.fromStack(stack)).triggers).toEqual([
      { type: 'sqs', queueArn: `<${queueId}.Arn>`, batchSize: 10, mode: 'batch' },
      { type: 'kafka', topics: ['orders'], cluster: 'b-1:9092,b-2:9092', batchSize: 100, mode: 'batch', startingPosition: 'LATEST' },
    ]);
  });

  test('has no triggers entry for a function no trigger feeds', () => {
    const { stack } = lambdaTask();
    expect(registryDescriptor(Template.fromStack(stack))).not.toHaveProperty('triggers');
  });
});

describe('fails if', () => {
  const fails = (props: (stack: Stack) => KafkaProps, message: string | RegExp) => expect(() => kafkaTrigger(props)).toThrow(message);
  const sqsFails = (props: (stack: Stack) => Partial<SqsTaskTriggerProps>, message: string | RegExp) =>
    expect(() => sqsTrigger(props)).toThrow(message);

  test('a prop is wrong: the error is an InvalidTaskTriggerProps ValidationError naming the trigger', () => {
    let error: Error | undefined;
    try {
      kafkaTrigger(() => ({ batchSize: 0 }));
    } catch (e) {
      error = e as Error;
    }
    expect(error?.name).toBe('InvalidTaskTriggerProps');
    expect(error?.message).toMatch(/^Invalid props for Kafka trigger of task function 'etl' \(TestStack\/EtlKafkaTrigger\)/);
  });

  test('several props are wrong: every problem in one message', () => {
    fails(
      () => ({ batchSize: 0, topics: [] }),
      /batchSize must be between 1 and 10000 inclusive \(given 0\)\n {2}- topics must name at least one topic/,
    );
  });

  test('the Kafka batch size is out of 1-10000', () => {
    fails(() => ({ batchSize: 10_001 }), 'batchSize must be between 1 and 10000 inclusive (given 10001)');
  });

  test('the batching window is over 5 minutes or fractional', () => {
    fails(() => ({ maxBatchingWindow: Duration.seconds(301) }), 'maxBatchingWindow must be between 0s and 300s inclusive (given 301s)');
    fails(() => ({ maxBatchingWindow: Duration.millis(1500) }), 'maxBatchingWindow must be a whole number of seconds (given 1.5s)');
  });

  test('mode or valueFormat is unknown', () => {
    fails(() => ({ mode: 'partition' as never }), `mode must be one of 'batch', 'record' (given "partition")`);
    fails(() => ({ valueFormat: 'avro' as never }), `valueFormat must be one of 'json', 'text' (given "avro")`);
  });

  test('the trigger Lambda timeout or memory is out of range', () => {
    fails(() => ({ timeout: Duration.minutes(16) }), 'timeout must be between 1s and 900s inclusive (given 960s)');
    fails(() => ({ memorySize: 64 }), 'memorySize must be between 128 and 10240 inclusive (given 64)');
  });

  test('no topic is given, or a topic name is not a Kafka topic name, or repeats', () => {
    fails(() => ({ topics: [] }), 'topics must name at least one topic (given [])');
    fails(
      () => ({ topics: ['connector demo'] }),
      `topic "connector demo" is not a Kafka topic name: 1-249 characters of letters, digits, '.', '_' or '-', and not '.' or '..'`,
    );
    fails(() => ({ topics: ['..'] }), 'topic ".." is not a Kafka topic name');
    fails(() => ({ topics: ['t'.repeat(250)] }), /topic "t{250}" is not a Kafka topic name/);
    fails(() => ({ topics: ['a', 'a'] }), 'topics must not repeat a topic (given ["a","a"])');
  });

  test('a consumerGroupId is given with several topics, or has characters Lambda refuses', () => {
    fails(() => ({ topics: ['a', 'b'], consumerGroupId: 'g' }), 'consumerGroupId can only be given with one topic (given 2 topics)');
    fails(
      () => ({ consumerGroupId: 'my group' }),
      'consumerGroupId must be 1-200 characters of letters, digits and - / * : _ + = . @ (given "my group")',
    );
  });

  test('two triggers of the app would share a consumer group', () => {
    const { stack, service, fn } = lambdaTask();
    const cluster = KafkaCluster.msk({ clusterArn: MSK_ARN });
    new KafkaTaskTrigger(stack, 'A', { service, taskFunction: fn, cluster, topics: ['t'] });
    expect(() => new KafkaTaskTrigger(stack, 'B', { service, taskFunction: fn, cluster, topics: ['t'] })).toThrow(
      "consumerGroupId 'asynctask-TestStack-etl-t' of topic 't' is already used by TestStack/A; give this trigger its own consumerGroupId",
    );
  });

  test('the starting position is not one Lambda offers', () => {
    fails(
      () => ({ startingPosition: 'EARLIEST' as never }),
      `startingPosition must be one of 'LATEST', 'TRIM_HORIZON', 'AT_TIMESTAMP' (given "EARLIEST")`,
    );
  });

  test('AT_TIMESTAMP has no timestamp, or a timestamp comes with another position', () => {
    fails(
      () => ({ startingPosition: 'AT_TIMESTAMP' }),
      "startingPositionTimestamp is required with startingPosition 'AT_TIMESTAMP' (given none)",
    );
    fails(
      () => ({ startingPositionTimestamp: new Date('2026-01-01T00:00:00Z') }),
      "startingPositionTimestamp is only allowed with startingPosition 'AT_TIMESTAMP' (given startingPosition 'LATEST')",
    );
  });

  test('the timestamp is not a valid date or is in the future', () => {
    fails(
      () => ({ startingPosition: 'AT_TIMESTAMP', startingPositionTimestamp: new Date('yesterday') }),
      'startingPositionTimestamp must be a valid Date (given Invalid Date)',
    );
    const future = new Date(Date.now() + 86_400_000);
    fails(
      () => ({ startingPosition: 'AT_TIMESTAMP', startingPositionTimestamp: future }),
      `startingPositionTimestamp must not be in the future (given ${future.toISOString()})`,
    );
  });

  test('retry attempts, record age or pollers are out of range', () => {
    fails(() => ({ retryAttempts: -2 }), 'retryAttempts must be between -1 and 10000 inclusive (given -2)');
    fails(() => ({ maxRecordAge: Duration.seconds(30) }), 'maxRecordAge must be between 60s and 604800s inclusive (given 30s)');
    fails(() => ({ minimumPollers: 0 }), 'minimumPollers must be between 1 and 200 inclusive (given 0)');
    fails(() => ({ minimumPollers: 5, maximumPollers: 2 }), 'maximumPollers must be at least minimumPollers (given 2 < 5)');
  });

  test('the MSK cluster ARN is not one', () => {
    fails(
      () => ({ cluster: KafkaCluster.msk({ clusterArn: 'arn:aws:sqs:eu-west-1:123456789012:queue' }) }),
      'clusterArn must be an MSK cluster ARN, arn:<partition>:kafka:<region>:<account>:cluster/<name>/<uuid> (given "arn:aws:sqs:eu-west-1:123456789012:queue")',
    );
  });

  test('an MSK authentication is not one MSK offers, or lacks its secret, or IAM comes with a secret', () => {
    fails(
      () => ({ cluster: KafkaCluster.msk({ clusterArn: MSK_ARN, authentication: 'SASL_SCRAM_256_AUTH' }) }),
      `authentication (Amazon MSK) must be one of 'IAM', 'SASL_SCRAM_512_AUTH', 'CLIENT_CERTIFICATE_TLS_AUTH' (given "SASL_SCRAM_256_AUTH")`,
    );
    fails(
      () => ({ cluster: KafkaCluster.msk({ clusterArn: MSK_ARN, authentication: 'CLIENT_CERTIFICATE_TLS_AUTH' }) }),
      "secret is required with authentication 'CLIENT_CERTIFICATE_TLS_AUTH' (given none)",
    );
    fails(
      (s) => ({ cluster: KafkaCluster.msk({ clusterArn: MSK_ARN, secret: secret(s) }) }),
      'secret must not be given with IAM authentication (given a secret)',
    );
  });

  test('self-managed brokers reached over the internet have no authentication', () => {
    fails(
      () => ({ cluster: KafkaCluster.selfManaged({ bootstrapServers: ['b-1.example.com:9092'] }) }),
      'authentication is required for brokers reached over the internet (given none)',
    );
    fails(
      () => ({ cluster: KafkaCluster.selfManaged({ bootstrapServers: ['b-1.example.com:9092'], authentication: 'NONE' }) }),
      "authentication 'NONE' needs a vpc: Lambda requires a secret for brokers reached over the internet",
    );
  });

  test('a self-managed authentication is IAM, or lacks its secret', () => {
    fails(
      (s) => ({ cluster: KafkaCluster.selfManaged({ bootstrapServers: ['b:9092'], authentication: 'IAM', secret: secret(s) }) }),
      `authentication (self-managed Kafka) must be one of 'SASL_SCRAM_512_AUTH', 'SASL_SCRAM_256_AUTH', 'BASIC_AUTH', 'CLIENT_CERTIFICATE_TLS_AUTH', 'NONE' (given "IAM")`,
    );
    fails(
      () => ({ cluster: KafkaCluster.selfManaged({ bootstrapServers: ['b:9092'], authentication: 'BASIC_AUTH' }) }),
      "secret is required with authentication 'BASIC_AUTH' (given none)",
    );
  });

  test('bootstrap servers are missing or not host:port', () => {
    fails(
      (s) => ({ cluster: KafkaCluster.selfManaged({ bootstrapServers: [], vpc: new ec2.Vpc(s, 'V') }) }),
      'bootstrapServers must name at least one broker as host:port (given [])',
    );
    fails(
      (s) => ({ cluster: KafkaCluster.selfManaged({ bootstrapServers: ['localhost'], vpc: new ec2.Vpc(s, 'V') }) }),
      'bootstrapServers entries must be host:port with a port between 1 and 65535 (given "localhost")',
    );
    fails(
      (s) => ({ cluster: KafkaCluster.selfManaged({ bootstrapServers: ['localhost:70000'], vpc: new ec2.Vpc(s, 'V') }) }),
      'bootstrapServers entries must be host:port with a port between 1 and 65535 (given "localhost:70000")',
    );
  });

  test('subnets or a security group come without a vpc', () => {
    fails(
      (s) => ({
        cluster: KafkaCluster.selfManaged({
          bootstrapServers: ['b:9092'],
          authentication: 'SASL_SCRAM_512_AUTH',
          secret: secret(s),
          vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
        }),
      }),
      'vpcSubnets and securityGroup need a vpc (given none)',
    );
  });

  test('the task function belongs to another service', () => {
    expect(() => {
      const { stack, fn } = lambdaTask();
      const other = new AsyncTaskService(stack, 'Other', { serviceName: 'other' });
      new KafkaTaskTrigger(stack, 'T', {
        service: other,
        taskFunction: fn,
        cluster: KafkaCluster.msk({ clusterArn: MSK_ARN }),
        topics: ['t'],
      });
    }).toThrow(/taskFunction 'etl' is registered with the service at TestStack\/Service, not with the given service at TestStack\/Other/);
  });

  test('the SQS batch size is out of 1-10000, or over 10 without a window of at least 1 s', () => {
    sqsFails(() => ({ batchSize: 0 }), 'batchSize must be between 1 and 10000 inclusive (given 0)');
    sqsFails(
      () => ({ batchSize: 11 }),
      'maxBatchingWindow must be at least 1s when batchSize is over 10 (given batchSize 11 and no window)',
    );
    sqsFails(
      () => ({ batchSize: 100, maxBatchingWindow: Duration.seconds(0) }),
      'maxBatchingWindow must be at least 1s when batchSize is over 10 (given batchSize 100 and a window of 0s)',
    );
  });

  test('the SQS maximum concurrency is out of 2-1000', () => {
    sqsFails(() => ({ maxConcurrency: 1 }), 'maxConcurrency must be between 2 and 1000 inclusive (given 1)');
  });

  test('taskIdSource is not messageId, attribute:<name> or field:<name>', () => {
    sqsFails(
      () => ({ taskIdSource: 'body' }),
      `taskIdSource must be 'messageId', 'attribute:<name>' (a message attribute) or 'field:<name>' (a top-level field of the JSON body) (given "body")`,
    );
    sqsFails(
      () => ({ taskIdSource: 'attribute:AWS.TraceHeader' }),
      'taskIdSource "attribute:AWS.TraceHeader" names no valid message attribute',
    );
    sqsFails(() => ({ taskIdSource: 'attribute:a b' }), 'taskIdSource "attribute:a b" names no valid message attribute');
    sqsFails(() => ({ taskIdSource: 'field:' }), 'taskIdSource "field:" must name a field of 1-256 characters');
  });

  test('a FIFO queue gets a batching window or more than 10 messages a batch', () => {
    const fifo = (s: Stack) => new sqs.Queue(s, 'Fifo', { fifo: true, enforceSSL: true });
    sqsFails(
      (s) => ({ queue: fifo(s), maxBatchingWindow: Duration.seconds(1) }),
      'maxBatchingWindow is not supported for a FIFO queue (given one)',
    );
    sqsFails(
      (s) => ({ queue: fifo(s), batchSize: 20, maxBatchingWindow: undefined }),
      /batchSize must be between 1 and 10 inclusive for a FIFO queue \(given 20\)/,
    );
  });

  test('the trigger may run longer than the queue hides a message', () => {
    sqsFails(
      () => ({ timeout: Duration.minutes(1) }),
      "timeout (60s) must not exceed the visibility timeout of queue TestStack/Input (30s): Lambda refuses the mapping; raise the queue's visibilityTimeout or lower timeout",
    );
    expect(() =>
      sqsTrigger((s) => ({ timeout: Duration.minutes(1), queue: new sqs.Queue(s, 'Slow', { visibilityTimeout: Duration.minutes(6) }) })),
    ).not.toThrow();
  });
});
