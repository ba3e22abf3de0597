/**
 * A task function whose attempts run as ECS Fargate tasks built from a Dockerfile folder
 * (FFmpeg, Python, anything), for work up to 24 hours by default, with ECS Exec to "log in to
 * the instance". The container's runtime helper (runtime/) reads the payload from the tasks
 * table, marks the task Running and writes its result to the results bucket.
 */
import * as path from 'node:path';
import { Duration, IgnoreMode, RemovalPolicy, Token } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import type { Construct } from 'constructs';
import { acknowledge, acknowledgeWildcardResources } from './nag';
import { CONTAINER_NAME } from '../lambda/model/api';
import { ASYNC_CONFIG_BOUNDS, checkRange } from '../lambda/model/config';
import { CONTAINER_ENV, LOG_ENV, RESULT_KEY_FORMAT } from '../lambda/model/execution';
import { containerLogGroupName } from '../lambda/model/registry';
import type { ITaskRunner, TaskRunnerBindOptions, TaskRunnerConfig } from './interfaces';
import { TaskFunction, type TaskFunctionProps } from './task-function';

/** The repository root: the Docker build context (Dockerfiles `COPY runtime/...` and their own folder). */
export const PROJECT_ROOT = path.resolve(__dirname, '..');

/** Name of the single container of every task definition (the awslogs stream is `<fn>/worker/<task id>`). */
export { CONTAINER_NAME } from '../lambda/model/api';

/** Environment the runtime helper reads to record the attempt's log stream (runtime/python). */
export { LOG_ENV } from '../lambda/model/execution';

/** Fargate cpu units and the memory (MiB) each allows. */
const FARGATE_MEMORY: Readonly<Record<number, { min: number; max: number }>> = {
  256: { min: 512, max: 2048 },
  512: { min: 1024, max: 4096 },
  1024: { min: 2048, max: 8192 },
  2048: { min: 4096, max: 16384 },
  4096: { min: 8192, max: 30720 },
  8192: { min: 16384, max: 61440 },
  16384: { min: 32768, max: 122880 },
};

/** How the local runtime (`asynctask dev`) runs this function instead of the image. */
export interface LocalRunOptions {
  /** argv, run from `cwd`. */
  readonly command: string[];
  /**
   * Working directory, relative to the project root.
   * @default - the project root
   */
  readonly cwd?: string;
  /**
   * Extra environment for the local process.
   * @default - none
   */
  readonly environment?: Record<string, string>;
}

export interface ContainerTaskFunctionProps extends TaskFunctionProps {
  /**
   * Folder of the Dockerfile, relative to `projectRoot` (for example `containers/ffmpeg`). The
   * build context is `projectRoot` restricted to `runtime/` and this folder.
   */
  readonly directory: string;
  /**
   * Root of the Docker build context.
   * @default - the repository root
   */
  readonly projectRoot?: string;
  /**
   * Fargate cpu units: 256, 512, 1024, 2048, 4096, 8192 or 16384.
   * @default 1024
   */
  readonly cpu?: number;
  /**
   * Memory in MiB, within what `cpu` allows.
   * @default 2048
   */
  readonly memoryLimitMiB?: number;
  /**
   * Ephemeral storage in GiB, 21–200.
   * @default - 20 GiB (Fargate's default)
   */
  readonly ephemeralStorageGiB?: number;
  /**
   * Run on Fargate Spot (up to 70% cheaper; a reclaimed task fails the attempt and is retried).
   * @default false
   */
  readonly spot?: boolean;
  /**
   * VPC the tasks run in.
   * @default - the service's shared VPC: public subnets only, no NAT gateways
   */
  readonly vpc?: ec2.IVpc;
  /**
   * Subnets of the tasks.
   * @default - public subnets of the VPC when `assignPublicIp`, private ones otherwise
   */
  readonly subnets?: ec2.SubnetSelection;
  /**
   * Give each task a public IP (needed to pull the image and reach AWS without NAT).
   * @default - true when `vpc` is not given, false otherwise
   */
  readonly assignPublicIp?: boolean;
  /**
   * Highest allowed `timeout`.
   * @default Duration.hours(24)
   */
  readonly maxTimeout?: Duration;
  /**
   * Environment of the container.
   * @default - only the task variables the state machine sets
   */
  readonly environment?: Record<string, string>;
  /**
   * How `asynctask dev` runs the function locally, recorded as the task definition's
   * `asynctask:local` metadata.
   * @default - the local runtime cannot run this function
   */
  readonly local?: LocalRunOptions;
}

/** The resources a container runner makes under its task function. */
export interface ContainerRunnerResources {
  readonly cluster: ecs.Cluster;
  readonly taskDefinition: ecs.FargateTaskDefinition;
  readonly container: ecs.ContainerDefinition;
  readonly logGroup: logs.LogGroup;
}

/**
 * Runs each attempt as an ECS Fargate task with `ecs:runTask.sync`, in a cluster of its own,
 * logging to `/asynctask/<serviceName>/<functionName>` (the prefix TaskApi may read).
 */
export class ContainerTaskRunner implements ITaskRunner {
  public readonly kind = 'container' as const;
  public readonly timeoutBound: ITaskRunner['timeoutBound'];
  private readonly cpu: number;
  private readonly memory: number;
  private bound?: ContainerRunnerResources;

  public constructor(private readonly props: ContainerTaskFunctionProps) {
    const maxTimeoutSeconds =
      props.maxTimeout && !props.maxTimeout.isUnresolved()
        ? props.maxTimeout.toSeconds({ integral: false })
        : ASYNC_CONFIG_BOUNDS.containerTimeoutSeconds.max;
    this.timeoutBound = { ...ASYNC_CONFIG_BOUNDS.containerTimeoutSeconds, max: maxTimeoutSeconds };
    this.cpu = props.cpu ?? 1024;
    this.memory = props.memoryLimitMiB ?? 2048;
  }

  /** What `bind` made. */
  public get resources(): ContainerRunnerResources {
    if (!this.bound) throw new Error('ContainerTaskRunner.resources is read before the runner was bound to its task function');
    return this.bound;
  }

  public validate(): string[] {
    const { props, cpu, memory } = this;
    const problems: string[] = [];
    const known = (v: number | undefined) => v !== undefined && !Token.isUnresolved(v);
    if (known(props.cpu) && FARGATE_MEMORY[cpu] === undefined) {
      problems.push(`cpu must be one of ${Object.keys(FARGATE_MEMORY).join(', ')} (given ${cpu})`);
    } else if (!Token.isUnresolved(memory) && !Token.isUnresolved(cpu)) {
      const range = FARGATE_MEMORY[cpu];
      if (range) {
        const problem = checkRange(`memoryLimitMiB (for cpu ${cpu})`, memory, range);
        if (problem) problems.push(problem);
      }
    }
    if (known(props.ephemeralStorageGiB)) {
      const problem = checkRange('ephemeralStorageGiB', props.ephemeralStorageGiB, { min: 21, max: 200 });
      if (problem) problems.push(problem);
    }
    if (props.maxTimeout && !props.maxTimeout.isUnresolved()) {
      const problem = checkRange('maxTimeout', props.maxTimeout.toSeconds({ integral: false }), { min: 1, max: 365 * 24 * 3600 }, 's');
      if (problem) problems.push(problem);
    }
    if (!/^[A-Za-z0-9._/-]+$/.test(props.directory) || props.directory.startsWith('/') || props.directory.includes('..')) {
      problems.push(`directory must be a folder relative to the project root, such as 'containers/ffmpeg' (given '${props.directory}')`);
    }
    if (props.local && props.local.command.length === 0) {
      problems.push('local.command must name a program to run (given [])');
    }
    return problems;
  }

  public bind(scope: Construct, options: TaskRunnerBindOptions): TaskRunnerConfig {
    const { props, cpu, memory } = this;
    const { service, functionName, timeout } = options;
    const vpc = props.vpc ?? service.defaultVpc;
    const assignPublicIp = props.assignPublicIp ?? props.vpc === undefined;

    const cluster = new ecs.Cluster(scope, 'Cluster', {
      vpc,
      containerInsightsV2: ecs.ContainerInsights.ENABLED,
      enableFargateCapacityProviders: props.spot === true,
    });

    const taskDefinition = new ecs.FargateTaskDefinition(scope, 'TaskDefinition', {
      cpu,
      memoryLimitMiB: memory,
      ...(props.ephemeralStorageGiB !== undefined ? { ephemeralStorageGiB: props.ephemeralStorageGiB } : {}),
      runtimePlatform: {
        cpuArchitecture: ecs.CpuArchitecture.X86_64,
        operatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
      },
    });
    const taskRole = taskDefinition.taskRole;

    // Named under the service's prefix, so the TaskApi's one grant on `/asynctask/<service>/*`
    // covers every container function of any stack. Destroyed with the function: a retained
    // group would block re-creating the function under the same name.
    const logGroup = new logs.LogGroup(scope, 'Logs', {
      logGroupName: containerLogGroupName(service.serviceName, functionName),
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });

    const directory = props.directory.replace(/\/+$/, '');
    const container = taskDefinition.addContainer('Worker', {
      containerName: CONTAINER_NAME,
      image: ecs.ContainerImage.fromAsset(props.projectRoot ?? PROJECT_ROOT, {
        file: `${directory}/Dockerfile`,
        ignoreMode: IgnoreMode.DOCKER,
        // The context is the project root, but only the runtime helper and this folder go in.
        exclude: ['*', '!runtime', `!${directory}`],
      }),
      essential: true,
      logging: ecs.LogDrivers.awsLogs({ logGroup, streamPrefix: functionName }),
      environment: {
        ...props.environment,
        [CONTAINER_ENV.table]: service.table.tableName,
        [CONTAINER_ENV.resultBucket]: service.resultsBucket.bucketName,
        [CONTAINER_ENV.functionName]: functionName,
        [LOG_ENV.streamPrefix]: functionName,
        [LOG_ENV.containerName]: CONTAINER_NAME,
      },
    });

    if (props.local) {
      const cfn = taskDefinition.node.defaultChild as ecs.CfnTaskDefinition;
      cfn.addMetadata('asynctask:local', {
        command: props.local.command,
        ...(props.local.cwd !== undefined ? { cwd: props.local.cwd } : {}),
        ...(props.local.environment !== undefined ? { environment: props.local.environment } : {}),
      });
    }

    // The helper reads the task and writes its status, progress and error; the result goes to S3.
    taskRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['dynamodb:GetItem', 'dynamodb:UpdateItem'],
        resources: [service.table.tableArn],
      }),
    );
    taskRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['s3:PutObject'],
        resources: [service.resultsBucket.arnForObjects('results/*')],
      }),
    );
    // ECS Exec: the SSM agent in the task opens its channels (these actions take no resource).
    taskRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: [
          'ssmmessages:CreateControlChannel',
          'ssmmessages:CreateDataChannel',
          'ssmmessages:OpenControlChannel',
          'ssmmessages:OpenDataChannel',
        ],
        resources: ['*'],
      }),
    );
    acknowledgeWildcardResources(
      taskDefinition,
      'ECS Exec: the ssmmessages channel actions support no resource-level permissions and the execution role\'s ecr:GetAuthorizationToken neither, so AWS requires Resource "*"; results/* is the prefix the container writes its result objects under',
    );
    acknowledge(taskDefinition, {
      id: 'AwsSolutions-ECS2',
      reason:
        'The environment holds only non-secret names (table, bucket, function, log prefix); per-task values come from the state machine overrides.',
    });
    this.bound = { cluster, taskDefinition, container, logGroup };

    const env = (name: string, value: string): tasks.TaskEnvironmentVariable => ({ name, value });
    const table = service.table;
    const resultsBucket = service.resultsBucket;
    return {
      runnerArn: taskDefinition.taskDefinitionArn,
      logGroupName: logGroup.logGroupName,
      metricRunning: new cloudwatch.Metric({
        namespace: 'ECS/ContainerInsights',
        metricName: 'TaskCount',
        dimensionsMap: { ClusterName: cluster.clusterName },
        statistic: 'Maximum',
        period: Duration.minutes(1),
        label: `${functionName} running`,
      }),
      descriptor: {
        logStreamPrefix: functionName,
        compute: { cpu, memoryMiB: memory, architecture: 'x86_64', ...(props.spot ? { spot: true } : {}) },
      },
      definition: {
        kind: 'container',
        runnerArn: taskDefinition.taskDefinitionArn,
        runnerIdPath: '$.run.taskArn',
        invalidErrors: ['ECS.InvalidParameterException'],
        resultsBucket,
        buildRun: (stateScope, stateId) =>
          new tasks.EcsRunTask(stateScope, stateId, {
            integrationPattern: sfn.IntegrationPattern.RUN_JOB,
            cluster,
            taskDefinition,
            launchTarget: new tasks.EcsFargateLaunchTarget({
              platformVersion: ecs.FargatePlatformVersion.LATEST,
              ...(props.spot
                ? {
                    capacityProviderOptions: tasks.CapacityProviderOptions.custom([{ capacityProvider: 'FARGATE_SPOT', weight: 1 }]),
                  }
                : {}),
            }),
            assignPublicIp,
            subnets: props.subnets ?? { subnetType: assignPublicIp ? ec2.SubnetType.PUBLIC : ec2.SubnetType.PRIVATE_WITH_EGRESS },
            enableExecuteCommand: true,
            propagatedTagSource: ecs.PropagatedTagSource.TASK_DEFINITION,
            containerOverrides: [
              {
                containerDefinition: container,
                environment: [
                  env(CONTAINER_ENV.taskId, sfn.JsonPath.stringAt('$.task.taskId')),
                  env(CONTAINER_ENV.functionName, sfn.JsonPath.stringAt('$.task.functionName')),
                  env(CONTAINER_ENV.requestId, sfn.JsonPath.stringAt('$.task.requestId')),
                  env(CONTAINER_ENV.attempt, sfn.JsonPath.format('{}', sfn.JsonPath.stringAt('$.attempt.n'))),
                  env(CONTAINER_ENV.executionArn, sfn.JsonPath.executionId),
                  env(CONTAINER_ENV.deadline, sfn.JsonPath.stringAt('$.task.deadline')),
                  env(CONTAINER_ENV.table, table.tableName),
                  env(CONTAINER_ENV.resultBucket, resultsBucket.bucketName),
                  env(
                    CONTAINER_ENV.resultKey,
                    sfn.JsonPath.format(
                      RESULT_KEY_FORMAT,
                      sfn.JsonPath.stringAt('$.task.functionName'),
                      sfn.JsonPath.stringAt('$.task.taskId'),
                      sfn.JsonPath.stringAt('$.task.requestId'),
                      sfn.JsonPath.stringAt('$.attempt.n'),
                    ),
                  ),
                ],
              },
            ],
            taskTimeout: sfn.Timeout.duration(timeout),
            resultSelector: { taskArn: sfn.JsonPath.stringAt('$.TaskArn') },
            resultPath: '$.run',
          }),
      },
    };
  }
}

/** Runs each task as an ECS Fargate task with `ecs:runTask.sync`. */
export class ContainerTaskFunction extends TaskFunction {
  public readonly taskDefinition: ecs.FargateTaskDefinition;
  public readonly container: ecs.ContainerDefinition;
  public readonly cluster: ecs.Cluster;
  public readonly logGroup: logs.LogGroup;
  public readonly logGroupArn: string;
  /** The task role: what the container's own code may do. */
  public readonly taskRole: iam.IRole;

  public constructor(scope: Construct, id: string, props: ContainerTaskFunctionProps) {
    const runner = new ContainerTaskRunner(props);
    super(scope, id, { ...props, runner });
    const { cluster, taskDefinition, container, logGroup } = runner.resources;
    this.cluster = cluster;
    this.taskDefinition = taskDefinition;
    this.container = container;
    this.logGroup = logGroup;
    this.logGroupArn = logGroup.logGroupArn;
    this.taskRole = taskDefinition.taskRole;
  }
}
