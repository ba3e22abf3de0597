/**
 * The example app's stack AsyncTaskDemo: its three workloads, etl's Kafka and SQS triggers and
 * the `asynctask:kafka` context, outputs, the task API, least privilege (no wildcard action anywhere), cdk-nag
 * AwsSolutions with zero unacknowledged findings, and one whole-stack snapshot (bundling
 * skipped, asset hashes masked).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { HTTP_ROUTES } from '../../lambda/model/http';
import { TRIGGER_ENV } from '../../lambda/model/trigger';
import { AsyncTaskDemoStack, KAFKA_CONTEXT_KEY } from '../../lib/demo-stack';
import { definitionOf, testApp } from './app';

const app = testApp();
const stack = new AsyncTaskDemoStack(app, 'AsyncTaskDemo');
const template = Template.fromStack(stack);
const json = template.toJSON() as {
  Resources: Record<string, { Type: string; Properties?: Record<string, unknown>; Metadata?: Record<string, unknown> }>;
  Outputs: Record<string, unknown>;
};

describe('AsyncTaskDemo', () => {
  test('has the tasks table, three state machines, two task definitions, the status-change rule and the dashboard', () => {
    template.resourceCountIs('AWS::DynamoDB::Table', 1);
    template.resourceCountIs('AWS::StepFunctions::StateMachine', 3);
    template.resourceCountIs('AWS::ECS::TaskDefinition', 2);
    template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: Match.objectLike({ 'detail-type': ['Step Functions Execution Status Change'] }),
    });
    template.resourceCountIs('AWS::EC2::VPC', 1);
    template.resourceCountIs('AWS::EC2::NatGateway', 0);
  });

  test('outputs exactly the documented names', () => {
    expect(Object.keys(json.Outputs).sort()).toEqual(
      [
        'TaskApiFunctionName',
        'TaskApiUrl',
        'DataBucketName',
        'EtlSuccessQueueUrl',
        'EtlFailureQueueUrl',
        'EtlInputQueueUrl',
        'EtlQuarantineQueueUrl',
        'TranscodeSuccessQueueUrl',
        'TranscodeFailureQueueUrl',
        'SqlLogAnalysisSuccessQueueUrl',
        'SqlLogAnalysisFailureQueueUrl',
      ].sort(),
    );
    template.hasOutput('TaskApiFunctionName', { Value: { Ref: Match.stringLikeRegexp('^ServiceTaskApi') } });
    template.hasOutput('TaskApiUrl', {
      Value: {
        'Fn::Join': [
          '',
          [
            'https://',
            { Ref: Match.stringLikeRegexp('^ServiceHttpApi') },
            '.execute-api.',
            { Ref: 'AWS::Region' },
            '.',
            { Ref: 'AWS::URLSuffix' },
            '/',
            { Ref: Match.stringLikeRegexp('^ServiceHttpApiDeploymentStagev1') },
            '/',
          ],
        ],
      },
    });
    template.hasOutput('EtlFailureQueueUrl', { Value: { Ref: Match.stringLikeRegexp('^EtlFailureQueue') } });
    template.hasOutput('EtlInputQueueUrl', { Value: { Ref: Match.stringLikeRegexp('^EtlInputQueue') } });
    template.hasOutput('EtlQuarantineQueueUrl', { Value: { Ref: Match.stringLikeRegexp('^EtlQuarantineQueue') } });
  });

  test('the task API: AWS_IAM on every method, one per route', () => {
    const methods = template.findResources('AWS::ApiGateway::Method');
    expect(Object.keys(methods)).toHaveLength(HTTP_ROUTES.length);
    for (const method of Object.values(methods)) expect(method.Properties.AuthorizationType).toBe('AWS_IAM');
  });

  test("six destination queues, etl's input and quarantine queues, SSE and SSL enforced", () => {
    template.resourceCountIs('AWS::SQS::Queue', 8);
    template.allResourcesProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true });
    template.resourceCountIs('AWS::SQS::QueuePolicy', 8);
  });

  test('etl is fed by a Kafka trigger on connector-demo at localhost:9092 (the default context), from the VPC', () => {
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      Topics: ['connector-demo'],
      SelfManagedEventSource: { Endpoints: { KafkaBootstrapServers: ['localhost:9092'] } },
      SelfManagedKafkaEventSourceConfig: { ConsumerGroupId: 'asynctask-AsyncTaskDemo-etl-connector-demo' },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      StartingPosition: 'LATEST',
      SourceAccessConfigurations: Match.arrayWith([
        Match.objectLike({ Type: 'VPC_SECURITY_GROUP' }),
        Match.objectLike({ Type: 'VPC_SUBNET' }),
      ]),
    });
    expect(stack.etlKafkaTrigger.mode).toBe('batch');
  });

  test('etl is fed by an SQS trigger on its input queue, one task per message', () => {
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^EtlInputQueue'), 'Arn'] },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      BatchSize: 10,
    });
    template.hasResourceProperties('AWS::SQS::Queue', { VisibilityTimeout: 180 });
    expect(stack.etlSqsTrigger.mode).toBe('record');
  });

  test('both triggers quarantine into EtlQuarantineQueue, which grants each trigger role', () => {
    const triggers = template.findResources('AWS::Lambda::Function', {
      Properties: { Description: Match.stringLikeRegexp('^asynctask trigger') },
    });
    expect(Object.keys(triggers)).toHaveLength(2);
    for (const fn of Object.values(triggers)) {
      const variables = (fn.Properties as { Environment: { Variables: Record<string, unknown> } }).Environment.Variables;
      expect(JSON.stringify(variables[TRIGGER_ENV.failureDestination])).toMatch(/EtlQuarantineQueue/);
      expect(variables[TRIGGER_ENV.functionName]).toBe('etl');
    }
    const policy = template.findResources('AWS::SQS::QueuePolicy', {
      Properties: { Queues: [{ Ref: Match.stringLikeRegexp('^EtlQuarantineQueue') }] },
    });
    const statements = (Object.values(policy)[0].Properties as { PolicyDocument: { Statement: Array<{ Sid?: string }> } }).PolicyDocument
      .Statement;
    expect(statements.filter((st) => st.Sid?.startsWith('AsyncTaskTrigger'))).toHaveLength(2);
  });

  test('etl: a LambdaTaskFunction with 2 retries around the kafka-etl handler', () => {
    expect(stack.etl.maxRetryAttempts).toBe(2);
    expect(stack.etl.functionName).toBe('etl');
    const definition = definitionOf(stack.etl.stateMachine);
    expect(definition.StartAt).toBe('MarkRunning');
    expect(definition.States.CanRetry.Choices?.[0]).toMatchObject({ NumericLessThanEquals: 2 });
    expect(definition.States.DeliverSuccess.Resource).toMatch(/sqs:sendMessage$/);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: 'asynctask example etl: transforms a batch of Kafka records',
      Runtime: 'nodejs22.x',
      Timeout: 900,
    });
  });

  test('transcode: FFmpeg image, 2 vCPU / 4 GiB / 50 GiB, 2 retries, 5 h event age, 2 h timeout, local command', () => {
    expect(stack.transcode.maxRetryAttempts).toBe(2);
    expect(stack.transcode.maxEventAge.toHours()).toBe(5);
    const definition = definitionOf(stack.transcode.stateMachine);
    expect(definition.States.Run.TimeoutSeconds).toBe(7200);
    template.hasResource('AWS::ECS::TaskDefinition', {
      Properties: Match.objectLike({ Cpu: '2048', Memory: '4096', EphemeralStorage: { SizeInGiB: 50 } }),
      Metadata: Match.objectLike({
        'asynctask:local': { command: ['python3', 'containers/ffmpeg/worker.py'], environment: { PYTHONPATH: 'runtime/python' } },
      }),
    });
  });

  test('sql-log-analysis: Python image and local command', () => {
    expect(stack.sqlLogAnalysis.functionName).toBe('sql-log-analysis');
    template.hasResource('AWS::ECS::TaskDefinition', {
      Metadata: Match.objectLike({
        'asynctask:local': { command: ['python3', 'containers/python/worker.py'], environment: { PYTHONPATH: 'runtime/python' } },
      }),
    });
  });

  test('the container images come from containers/ffmpeg and containers/python', () => {
    const assembly = app.synth();
    const assets = JSON.parse(fs.readFileSync(path.join(assembly.directory, `${stack.artifactId}.assets.json`), 'utf8'));
    const dockerFiles = Object.values(assets.dockerImages as Record<string, { source: { dockerFile: string } }>)
      .map((i) => i.source.dockerFile)
      .sort();
    expect(dockerFiles).toEqual(['containers/ffmpeg/Dockerfile', 'containers/python/Dockerfile']);
  });

  test('the workers and the etl handler read and write the data bucket with explicit actions', () => {
    for (const role of ['TranscodeTaskDefinitionTaskRole', 'SqlLogAnalysisTaskDefinitionTaskRole', 'EtlHandlerServiceRole']) {
      template.hasResourceProperties('AWS::IAM::Policy', {
        Roles: [{ Ref: Match.stringLikeRegexp(`^${role}`) }],
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({ Action: ['s3:GetObject', 's3:PutObject'] }),
            Match.objectLike({ Action: 's3:ListBucket', Resource: { 'Fn::GetAtt': [Match.stringLikeRegexp('^DataBucket'), 'Arn'] } }),
          ]),
        },
      });
    }
  });

  test('no IAM statement grants a wildcard action', () => {
    const statements: Array<{ Action?: string | string[]; NotAction?: unknown }> = [];
    for (const resource of Object.values(json.Resources)) {
      const props = resource.Properties ?? {};
      if (resource.Type === 'AWS::IAM::Policy' || resource.Type === 'AWS::IAM::ManagedPolicy') {
        statements.push(...((props.PolicyDocument as { Statement: typeof statements }).Statement ?? []));
      }
      if (resource.Type === 'AWS::IAM::Role') {
        for (const policy of (props.Policies as Array<{ PolicyDocument: { Statement: typeof statements } }>) ?? []) {
          statements.push(...policy.PolicyDocument.Statement);
        }
      }
    }
    expect(statements.length).toBeGreaterThan(20);
    const actions = statements.flatMap((s) => (Array.isArray(s.Action) ? s.Action : s.Action ? [s.Action] : []));
    expect(actions.filter((a) => a.includes('*'))).toEqual([]);
    expect(statements.filter((s) => s.NotAction !== undefined)).toEqual([]);
  });

  test('cdk-nag AwsSolutions: zero unacknowledged findings, and no error or warning annotations', () => {
    const report = new AwsSolutionsChecks(undefined, { verbose: true }).validateScope(stack);
    expect(report.violations.map((v) => `${v.ruleName} at ${v.violatingResources.map((r) => r.constructPath).join(', ')}`)).toEqual([]);
    expect(report.success).toBe(true);
    const annotations = Annotations.fromStack(stack);
    expect(annotations.findError('*', Match.anyValue())).toEqual([]);
    expect(annotations.findWarning('*', Match.anyValue())).toEqual([]);
  });

  test('every acknowledgement carries a reason', () => {
    const acknowledged: Array<{ id: string; reason: unknown }> = [];
    for (const construct of stack.node.findAll()) {
      for (const entry of construct.node.metadata) {
        if (entry.type === 'aws:cdk:acknowledged-rules') {
          for (const [id, reason] of Object.entries(entry.data as Record<string, unknown>)) acknowledged.push({ id, reason });
        }
      }
    }
    expect(acknowledged.length).toBeGreaterThan(0);
    for (const { reason } of acknowledged) {
      expect(typeof reason === 'string' ? reason : JSON.stringify(reason)).toMatch(/\w{4,}.*\s.*\w{4,}/);
    }
    expect(acknowledged.filter((a) => /IAM5\[Action::/.test(a.id))).toEqual([]);
  });

  test('matches the snapshot (bundling skipped, asset hashes masked)', () => {
    const masked = JSON.parse(JSON.stringify(json).replace(/[0-9a-f]{64}/g, '<asset-hash>'));
    expect(masked).toMatchSnapshot();
  });
});

describe(`context ${KAFKA_CONTEXT_KEY}`, () => {
  const demo = (kafka: unknown) => new AsyncTaskDemoStack(testApp({ context: { [KAFKA_CONTEXT_KEY]: kafka } }), 'AsyncTaskDemo');
  const mskArn = 'arn:aws:kafka:eu-west-1:123456789012:cluster/etl/abcd1234-abcd-cafe-abab-9876543210ab-4';

  test('an MSK cluster ARN (as cdk -c passes it, a JSON string) makes an MSK mapping with IAM, cdk-nag clean', () => {
    const msk = demo(JSON.stringify({ mskClusterArn: mskArn, topic: 'orders' }));
    const t = Template.fromStack(msk);
    t.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: mskArn,
      Topics: ['orders'],
      AmazonManagedKafkaEventSourceConfig: { ConsumerGroupId: 'asynctask-AsyncTaskDemo-etl-orders' },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
    const report = new AwsSolutionsChecks(undefined, { verbose: true }).validateScope(msk);
    expect(report.violations.map((v) => v.ruleName)).toEqual([]);
  });

  test('fails if it names both or neither cluster, or an unknown field', () => {
    expect(() => demo({ mskClusterArn: mskArn, bootstrapServers: ['b:9092'] })).toThrow(
      `Invalid context ${KAFKA_CONTEXT_KEY}: give exactly one of mskClusterArn and bootstrapServers`,
    );
    expect(() => demo({ topic: 'x' })).toThrow('give exactly one of mskClusterArn and bootstrapServers');
    expect(() => demo({ bootstrapServers: ['b:9092'], topics: ['x'] })).toThrow('unknown field(s) topics');
    expect(() => demo('{not json')).toThrow(`Invalid context ${KAFKA_CONTEXT_KEY}: not JSON`);
  });

  test('fails if the starting position, timestamp or topic is bad, with the trigger error', () => {
    expect(() => demo({ bootstrapServers: ['localhost:9092'], startingPosition: 'EARLIEST' })).toThrow(
      `startingPosition must be one of 'LATEST', 'TRIM_HORIZON', 'AT_TIMESTAMP' (given "EARLIEST")`,
    );
    expect(() =>
      demo({ bootstrapServers: ['localhost:9092'], startingPosition: 'AT_TIMESTAMP', startingPositionTimestamp: 'tomorrow' }),
    ).toThrow('startingPositionTimestamp must be a valid Date (given Invalid Date)');
    expect(() => demo({ bootstrapServers: ['localhost:9092'], topic: 'bad topic' })).toThrow('topic "bad topic" is not a Kafka topic name');
  });
});
