/** LambdaTaskFunction and ContainerTaskFunction: resources, props, registration, and every invalid prop. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type App, Duration, Lazy } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { CONTAINER_ENV } from '../../lambda/model/execution';
import { AsyncTaskService } from '../../lib/async-task-service';
import { ContainerTaskFunction } from '../../lib/container-task-function';
import { LambdaTaskFunction } from '../../lib/lambda-task-function';
import { definitionOf, testStack } from './app';
import { containerTask, inlineFunction, lambdaTask, serviceStack } from './fixtures';

describe('LambdaTaskFunction', () => {
  test('one Standard state machine, logging ERROR to a log group, with X-Ray tracing', () => {
    const { stack } = lambdaTask();
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::StepFunctions::StateMachine', 1);
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      StateMachineType: 'STANDARD',
      LoggingConfiguration: {
        Level: 'ERROR',
        IncludeExecutionData: true,
        Destinations: [
          { CloudWatchLogsLogGroup: { LogGroupArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^EtlStateMachineLogs'), 'Arn'] } } },
        ],
      },
      TracingConfiguration: { Enabled: true },
    });
  });

  test('defaults: 3 retries, 24 h event age, 15 min timeout, 10 s doubling backoff', () => {
    const { fn } = lambdaTask();
    expect(fn.functionName).toBe('etl');
    expect(fn.kind).toBe('lambda');
    expect(fn.maxRetryAttempts).toBe(3);
    expect(fn.maxEventAge.toSeconds()).toBe(86400);
    expect(fn.timeout.toSeconds()).toBe(900);
    expect(fn.retryDelays).toEqual([10, 20, 40]);
    expect(fn.maxConcurrency).toBeUndefined();
    const definition = definitionOf(fn.stateMachine);
    expect(definition.States.Run.TimeoutSeconds).toBe(900);
    // maxEventAge + (retries + 1) × (timeout + longest delay) + 5 min margin
    expect(definition.TimeoutSeconds).toBe(86400 + 4 * (900 + 40) + 300);
  });

  test('props reach the machine: retries, backoff, timeout, event age', () => {
    const { fn } = lambdaTask({
      maxRetryAttempts: 5,
      retryDelay: Duration.seconds(3),
      retryBackoffRate: 3,
      timeout: Duration.minutes(2),
      maxEventAge: Duration.hours(1),
    });
    expect(fn.retryDelays).toEqual([3, 9, 27, 81, 243]);
    const definition = definitionOf(fn.stateMachine);
    expect(definition.States.Run.TimeoutSeconds).toBe(120);
    expect(definition.TimeoutSeconds).toBe(3600 + 6 * (120 + 243) + 300);
    expect(definition.States.CanRetry.Choices).toEqual([{ Variable: '$.attempt.n', NumericLessThanEquals: 5, Next: 'MarkRetrying' }]);
  });

  test('the function name defaults to the construct id', () => {
    const { stack, service } = serviceStack();
    const fn = new LambdaTaskFunction(stack, 'Thumbnails', { service, lambdaFunction: inlineFunction(stack) });
    expect(fn.functionName).toBe('Thumbnails');
    expect(service.functions).toEqual([fn]);
  });

  test('descriptor: what the registry says about the function', () => {
    const { stack, fn } = lambdaTask({ description: 'batch etl', maxConcurrency: 4 });
    const descriptor = stack.resolve(fn.descriptor());
    expect(descriptor).toEqual({
      name: 'etl',
      kind: 'lambda',
      stateMachineArn: stack.resolve(fn.stateMachine.stateMachineArn),
      runnerArn: stack.resolve(fn.lambdaFunction.functionArn),
      maxRetryAttempts: 3,
      maxEventAgeSeconds: 86400,
      timeoutSeconds: 900,
      maxConcurrency: 4,
      logGroupName: stack.resolve(`/aws/lambda/${fn.lambdaFunction.functionName}`),
      description: 'batch etl',
      // For the cost estimate: the inline function sets no memory (Lambda's 128 MB) and no architecture.
      compute: { memoryMiB: 128, architecture: 'x86_64' },
    });
  });

  test('descriptor: an arm64 function with its own memory size; an imported function has no compute', () => {
    const sized = lambdaTask((stack) => ({
      lambdaFunction: new lambda.Function(stack, 'Sized', {
        runtime: lambda.Runtime.NODEJS_22_X,
        handler: 'index.handler',
        code: lambda.Code.fromInline('exports.handler = async (e) => e;'),
        architecture: lambda.Architecture.ARM_64,
        memorySize: 1769,
      }),
    }));
    expect(sized.stack.resolve(sized.fn.descriptor()).compute).toEqual({ memoryMiB: 1769, architecture: 'arm64' });
    const imported = lambdaTask((stack) => ({
      lambdaFunction: lambda.Function.fromFunctionArn(stack, 'Imported', 'arn:aws:lambda:us-east-1:123456789012:function:elsewhere'),
    }));
    expect(imported.fn.descriptor().compute).toBeUndefined();
  });

  test('the state machine may invoke the function and update the tasks table', () => {
    const { stack } = lambdaTask();
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: Match.stringLikeRegexp('^EtlStateMachineRole') }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Action: 'dynamodb:UpdateItem' }),
          Match.objectLike({ Action: 'lambda:InvokeFunction' }),
        ]),
      },
    });
  });
});

describe('ContainerTaskFunction', () => {
  const { stack, fn } = containerTask({
    cpu: 2048,
    memoryLimitMiB: 4096,
    ephemeralStorageGiB: 50,
    environment: { MODE: 'report' },
    local: { command: ['python3', 'containers/python/worker.py'], environment: { PYTHONPATH: 'runtime/python' } },
  });
  const template = Template.fromStack(stack);

  test('a Fargate task definition with cpu, memory, ephemeral storage, x86_64', () => {
    template.resourceCountIs('AWS::ECS::TaskDefinition', 1);
    template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      RequiresCompatibilities: ['FARGATE'],
      NetworkMode: 'awsvpc',
      Cpu: '2048',
      Memory: '4096',
      EphemeralStorage: { SizeInGiB: 50 },
      RuntimePlatform: { CpuArchitecture: 'X86_64', OperatingSystemFamily: 'LINUX' },
    });
  });

  test('its image is built from the folder Dockerfile with the project root as context', () => {
    const assembly = (stack.node.root as App).synth();
    const manifest = JSON.parse(fs.readFileSync(path.join(assembly.directory, `${stack.artifactId}.assets.json`), 'utf8'));
    const images = Object.values(manifest.dockerImages) as Array<{ source: { directory: string; dockerFile: string } }>;
    expect(images).toHaveLength(1);
    expect(images[0].source.dockerFile).toBe('containers/python/Dockerfile');
    // The staged context holds only runtime/ and the function's folder.
    const staged = path.join(assembly.directory, images[0].source.directory);
    expect(fs.readdirSync(staged).sort()).toEqual(['containers', 'runtime']);
    expect(fs.readdirSync(path.join(staged, 'containers'))).toEqual(['python']);
    expect(fs.existsSync(path.join(staged, 'containers', 'python', 'Dockerfile'))).toBe(true);
  });

  test('logs to its own log group with the function name as stream prefix; env names the table, bucket and log prefix', () => {
    template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      ContainerDefinitions: [
        Match.objectLike({
          Name: 'worker',
          Essential: true,
          LogConfiguration: {
            LogDriver: 'awslogs',
            Options: Match.objectLike({
              'awslogs-stream-prefix': 'analysis',
              'awslogs-group': { Ref: Match.stringLikeRegexp('^AnalysisLogs') },
            }),
          },
          Environment: Match.arrayWith([
            { Name: 'MODE', Value: 'report' },
            { Name: CONTAINER_ENV.table, Value: { Ref: Match.stringLikeRegexp('^ServiceTasks') } },
            { Name: CONTAINER_ENV.resultBucket, Value: { Ref: Match.stringLikeRegexp('^ServiceResultsBucket') } },
            { Name: CONTAINER_ENV.functionName, Value: 'analysis' },
            { Name: 'TASK_LOG_STREAM_PREFIX', Value: 'analysis' },
            { Name: 'TASK_CONTAINER_NAME', Value: 'worker' },
          ]),
        }),
      ],
    });
    expect(stack.resolve(fn.descriptor())).toMatchObject({
      kind: 'container',
      logStreamPrefix: 'analysis',
      compute: { cpu: 2048, memoryMiB: 4096, architecture: 'x86_64' },
    });
  });

  test('records the local command as asynctask:local metadata of the task definition', () => {
    template.hasResource('AWS::ECS::TaskDefinition', {
      Metadata: {
        'asynctask:local': {
          command: ['python3', 'containers/python/worker.py'],
          environment: { PYTHONPATH: 'runtime/python' },
        },
      },
    });
  });

  test('the task role reads/updates the table, puts results/*, and opens ECS Exec channels', () => {
    const policies = template.findResources('AWS::IAM::Policy', {
      Properties: { Roles: [{ Ref: Match.stringLikeRegexp('^AnalysisTaskDefinitionTaskRole') }] },
    });
    const statements = Object.values(policies).flatMap((p) => p.Properties.PolicyDocument.Statement);
    expect(statements).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          Action: ['dynamodb:GetItem', 'dynamodb:UpdateItem'],
          Resource: { 'Fn::GetAtt': [expect.stringMatching(/^ServiceTasks/), 'Arn'] },
        }),
        expect.objectContaining({
          Action: 's3:PutObject',
          Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [expect.stringMatching(/^ServiceResultsBucket/), 'Arn'] }, '/results/*']] },
        }),
        expect.objectContaining({
          Action: [
            'ssmmessages:CreateControlChannel',
            'ssmmessages:CreateDataChannel',
            'ssmmessages:OpenControlChannel',
            'ssmmessages:OpenDataChannel',
          ],
          Resource: '*',
        }),
      ]),
    );
  });

  test('runs with runTask.sync, ECS Exec enabled, a public IP in the shared VPC, on FARGATE', () => {
    const run = definitionOf(fn.stateMachine).States.Run;
    expect(run.Resource).toMatch(/:states:::ecs:runTask\.sync$/);
    expect(run.Parameters).toMatchObject({
      LaunchType: 'FARGATE',
      PlatformVersion: 'LATEST',
      EnableExecuteCommand: true,
      PropagateTags: 'TASK_DEFINITION',
      NetworkConfiguration: { AwsvpcConfiguration: { AssignPublicIp: 'ENABLED' } },
    });
    expect(run.Parameters).not.toHaveProperty('CapacityProviderStrategy');
    template.resourceCountIs('AWS::EC2::NatGateway', 0);
    template.hasResourceProperties('AWS::ECS::Cluster', {
      ClusterSettings: [{ Name: 'containerInsights', Value: 'enabled' }],
    });
  });

  test('defaults: 1024 cpu, 2048 MiB, 1 h timeout', () => {
    const { fn: plain, stack: s } = containerTask();
    Template.fromStack(s).hasResourceProperties('AWS::ECS::TaskDefinition', { Cpu: '1024', Memory: '2048' });
    expect(plain.timeout.toSeconds()).toBe(3600);
    expect(definitionOf(plain.stateMachine).States.Run.TimeoutSeconds).toBe(3600);
  });

  test('spot: runs on the FARGATE_SPOT capacity provider of its cluster', () => {
    const { fn: spot, stack: s } = containerTask({ spot: true });
    const run = definitionOf(spot.stateMachine).States.Run;
    expect(run.Parameters).toMatchObject({ CapacityProviderStrategy: [{ CapacityProvider: 'FARGATE_SPOT', Weight: 1 }] });
    expect(run.Parameters).not.toHaveProperty('LaunchType');
    Template.fromStack(s).hasResourceProperties('AWS::ECS::ClusterCapacityProviderAssociations', {
      CapacityProviders: Match.arrayWith(['FARGATE_SPOT']),
    });
  });

  test('a given VPC is used as is, with private subnets and no public IP by default', () => {
    const s = testStack();
    const vpc = new ec2.Vpc(s, 'Mine', { maxAzs: 2, natGateways: 1, restrictDefaultSecurityGroup: false });
    const service = new AsyncTaskService(s, 'Service');
    const given = new ContainerTaskFunction(s, 'Analysis', { service, directory: 'containers/python', vpc });
    expect(given.cluster.vpc).toBe(vpc);
    Template.fromStack(s).resourceCountIs('AWS::EC2::VPC', 1);
    const run = definitionOf(given.stateMachine).States.Run;
    const network = (run.Parameters as { NetworkConfiguration: { AwsvpcConfiguration: Record<string, unknown> } }).NetworkConfiguration
      .AwsvpcConfiguration;
    expect(network.AssignPublicIp).toBeUndefined();
    expect(network.Subnets).toEqual([
      expect.stringMatching(/^\$\{Ref:MinePrivateSubnet1/),
      expect.stringMatching(/^\$\{Ref:MinePrivateSubnet2/),
    ]);
  });

  test('maxTimeout raises the 24 h cap', () => {
    expect(() => containerTask({ timeout: Duration.hours(30) })).toThrow('timeout must be between 1s and 86400s inclusive (given 108000s)');
    const { fn: long } = containerTask({ timeout: Duration.hours(30), maxTimeout: Duration.hours(48) });
    expect(definitionOf(long.stateMachine).States.Run.TimeoutSeconds).toBe(108000);
  });

  test('exposes its task definition as ECS objects', () => {
    expect(fn.taskDefinition).toBeInstanceOf(ecs.FargateTaskDefinition);
    expect(fn.container.containerName).toBe('worker');
  });
});

describe('validation', () => {
  test('fails if maxRetryAttempts is above 8', () => {
    expect(() => lambdaTask({ maxRetryAttempts: 9 })).toThrow('maxRetryAttempts must be between 0 and 8 inclusive (given 9)');
  });

  test('fails if maxRetryAttempts is negative or fractional', () => {
    expect(() => lambdaTask({ maxRetryAttempts: -1 })).toThrow('maxRetryAttempts must be between 0 and 8 inclusive (given -1)');
    expect(() => lambdaTask({ maxRetryAttempts: 1.5 })).toThrow('maxRetryAttempts must be between 0 and 8 inclusive (given 1.5)');
  });

  test('fails if maxEventAge is over 7 days or under 1 second', () => {
    expect(() => lambdaTask({ maxEventAge: Duration.days(8) })).toThrow(
      'maxEventAge must be between 1s and 604800s inclusive (given 691200s)',
    );
    expect(() => lambdaTask({ maxEventAge: Duration.millis(500) })).toThrow(
      'maxEventAge must be between 1s and 604800s inclusive (given 0.5s)',
    );
  });

  test('fails if a Lambda timeout is over 15 minutes', () => {
    expect(() => lambdaTask({ timeout: Duration.minutes(16) })).toThrow('timeout must be between 1s and 900s inclusive (given 960s)');
  });

  test('fails if a duration is not whole seconds', () => {
    expect(() => lambdaTask({ timeout: Duration.millis(1500) })).toThrow('timeout must be a whole number of seconds (given 1.5s)');
  });

  test('fails if maxConcurrency is 0 or above 10000', () => {
    expect(() => lambdaTask({ maxConcurrency: 0 })).toThrow('maxConcurrency must be between 1 and 10000 inclusive (given 0)');
    expect(() => lambdaTask({ maxConcurrency: 10_001 })).toThrow('maxConcurrency must be between 1 and 10000 inclusive (given 10001)');
  });

  test('fails if retryDelay, retryBackoffRate or slotPollInterval are out of range', () => {
    expect(() => lambdaTask({ retryDelay: Duration.hours(2) })).toThrow('retryDelay must be between 1s and 3600s inclusive (given 7200s)');
    expect(() => lambdaTask({ retryBackoffRate: 0.5 })).toThrow('retryBackoffRate must be between 1 and 10 inclusive (given 0.5)');
    expect(() => lambdaTask({ slotPollInterval: Duration.hours(2) })).toThrow(
      'slotPollInterval must be between 1s and 3600s inclusive (given 7200s)',
    );
  });

  test('fails if the function name is not a valid name', () => {
    expect(() => lambdaTask({ functionName: 'a#b' })).toThrow(/functionName must be 1-64 characters.*\(given 'a#b'\)/);
  });

  test('fails with one error that lists every bad prop', () => {
    let message = '';
    try {
      lambdaTask({ maxRetryAttempts: 9, maxEventAge: Duration.days(8), timeout: Duration.minutes(20) });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain("Invalid props for task function 'etl'");
    expect(message).toContain('maxRetryAttempts must be between 0 and 8 inclusive (given 9)');
    expect(message).toContain('maxEventAge must be between 1s and 604800s inclusive (given 691200s)');
    expect(message).toContain('timeout must be between 1s and 900s inclusive (given 1200s)');
  });

  test('fails if a container cpu, memory or ephemeral storage is not a Fargate size', () => {
    expect(() => containerTask({ cpu: 300 })).toThrow('cpu must be one of 256, 512, 1024, 2048, 4096, 8192, 16384 (given 300)');
    expect(() => containerTask({ cpu: 2048, memoryLimitMiB: 2048 })).toThrow(
      'memoryLimitMiB (for cpu 2048) must be between 4096 and 16384 inclusive (given 2048)',
    );
    expect(() => containerTask({ ephemeralStorageGiB: 500 })).toThrow(
      'ephemeralStorageGiB must be between 21 and 200 inclusive (given 500)',
    );
  });

  test('fails if the container directory or local command is unusable', () => {
    expect(() => containerTask({ directory: '../elsewhere' })).toThrow(
      "directory must be a folder relative to the project root, such as 'containers/ffmpeg' (given '../elsewhere')",
    );
    expect(() => containerTask({ local: { command: [] } })).toThrow('local.command must name a program to run (given [])');
  });

  test('fails if a container maxTimeout is out of range', () => {
    expect(() => containerTask({ maxTimeout: Duration.days(400) })).toThrow(
      'maxTimeout must be between 1s and 31536000s inclusive (given 34560000s)',
    );
  });

  test('a token maxConcurrency is not checked at synth and reaches the slot condition', () => {
    const { fn } = lambdaTask({ maxConcurrency: Lazy.number({ produce: () => 50_000 }) });
    expect(definitionOf(fn.stateMachine).States.AcquireSlot.Parameters).toMatchObject({
      ExpressionAttributeValues: { ':max': { N: '50000' } },
    });
  });

  test('fails if a prop that shapes the state machine is a token', () => {
    expect(() => lambdaTask({ maxRetryAttempts: Lazy.number({ produce: () => 1 }) })).toThrow(
      'maxRetryAttempts must be known at synth, it shapes the state machine (given a token)',
    );
  });
});
