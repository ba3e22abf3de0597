/**
 * The example app's stack `AsyncTaskDemo`: the article's three workloads on one
 * AsyncTaskService — `etl` (Kafka records on Lambda), `transcode` (FFmpeg on Fargate) and
 * `sql-log-analysis` (Python on Fargate), each with an SQS success queue and dead-letter queue.
 * `etl` is fed by a Kafka trigger (topic `connector-demo`, the cluster from the context key
 * `asynctask:kafka`) and by an SQS trigger on its input queue; both quarantine what cannot
 * become a task in one queue.
 */
import * as path from 'node:path';
import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct, IConstruct } from 'constructs';
import { acknowledge, acknowledgeWildcardResources, LAMBDA_BASIC_EXECUTION_ROLE_FINDING } from './nag';
import { AsyncTaskService } from './async-task-service';
import { ContainerTaskFunction, PROJECT_ROOT } from './container-task-function';
import { SqsDestination } from './destinations';
import { validationError } from './errors';
import { type IKafkaCluster, KafkaCluster, type KafkaAuthenticationMethod, KafkaTaskTrigger } from './kafka-task-trigger';
import { LambdaTaskFunction } from './lambda-task-function';
import { SqsTaskTrigger } from './sqs-task-trigger';
import type { TaskFunction } from './task-function';
import { TASK_API_URL_OUTPUT } from './task-http-api';

export const DEMO_STACK_ID = 'AsyncTaskDemo';

/** Context key of the demo's Kafka cluster (cdk.json, or `-c asynctask:kafka='{...}'`). */
export const KAFKA_CONTEXT_KEY = 'asynctask:kafka';

/** What `asynctask:kafka` may hold. */
export interface DemoKafkaContext {
  /** An Amazon MSK cluster (IAM authentication unless `secretArn` is given). */
  readonly mskClusterArn?: string;
  /** A self-managed cluster, reached from the demo's VPC. */
  readonly bootstrapServers?: string[];
  /** Topic of the etl trigger. */
  readonly topic?: string;
  /** Complete ARN of a SASL/SCRAM (or mTLS, with `authentication`) secret. */
  readonly secretArn?: string;
  readonly authentication?: KafkaAuthenticationMethod;
  readonly startingPosition?: 'LATEST' | 'TRIM_HORIZON' | 'AT_TIMESTAMP';
  /** ISO-8601, with AT_TIMESTAMP. */
  readonly startingPositionTimestamp?: string;
}

/** Without the context key: the local broker the local runtime reads, synthesizable offline. */
export const DEFAULT_DEMO_KAFKA: DemoKafkaContext = { bootstrapServers: ['localhost:9092'], topic: 'connector-demo' };

const KAFKA_CONTEXT_FIELDS = [
  'mskClusterArn',
  'bootstrapServers',
  'topic',
  'secretArn',
  'authentication',
  'startingPosition',
  'startingPositionTimestamp',
] as const;

/** The `asynctask:kafka` context of `scope`, parsed (a JSON string from `-c`, or an object from cdk.json) and checked. */
export function demoKafkaContext(scope: Construct): DemoKafkaContext {
  const raw: unknown = scope.node.tryGetContext(KAFKA_CONTEXT_KEY) ?? DEFAULT_DEMO_KAFKA;
  const fail = (problem: string) =>
    validationError(
      'InvalidDemoContext',
      `Invalid context ${KAFKA_CONTEXT_KEY}: ${problem}. Give {"mskClusterArn": "arn:aws:kafka:..."} or {"bootstrapServers": ["host:9092"]}, optionally with "topic", "secretArn", "authentication", "startingPosition", "startingPositionTimestamp"`,
      scope,
    );
  let value: unknown = raw;
  if (typeof raw === 'string') {
    try {
      value = JSON.parse(raw);
    } catch (error) {
      throw fail(`not JSON (${(error as Error).message})`);
    }
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw fail(`must be an object (given ${JSON.stringify(value)})`);
  const context = value as Record<string, unknown>;
  const unknown = Object.keys(context).filter((k) => !(KAFKA_CONTEXT_FIELDS as readonly string[]).includes(k));
  if (unknown.length > 0) throw fail(`unknown field(s) ${unknown.join(', ')}`);
  if ((context.mskClusterArn === undefined) === (context.bootstrapServers === undefined)) {
    throw fail('give exactly one of mskClusterArn and bootstrapServers');
  }
  if (context.mskClusterArn !== undefined && typeof context.mskClusterArn !== 'string') throw fail('mskClusterArn must be a string');
  if (
    context.bootstrapServers !== undefined &&
    !(Array.isArray(context.bootstrapServers) && context.bootstrapServers.every((s) => typeof s === 'string'))
  ) {
    throw fail('bootstrapServers must be an array of "host:port" strings');
  }
  for (const field of ['topic', 'secretArn', 'authentication', 'startingPosition', 'startingPositionTimestamp'] as const) {
    if (context[field] !== undefined && typeof context[field] !== 'string') throw fail(`${field} must be a string`);
  }
  return context as DemoKafkaContext;
}

/** The success and failure queues of one example function. */
function destinationQueues(scope: Construct, prefix: string): { success: sqs.Queue; failure: sqs.Queue } {
  const queue = (id: string) => {
    const q = new sqs.Queue(scope, id, {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    acknowledge(q, {
      id: 'AwsSolutions-SQS3',
      reason:
        'This queue is itself a task destination (a dead-letter queue for failure records, or the processed-records queue); a queue behind it would never be read.',
    });
    return q;
  };
  return { success: queue(`${prefix}SuccessQueue`), failure: queue(`${prefix}FailureQueue`) };
}

export class AsyncTaskDemoStack extends Stack {
  public readonly service: AsyncTaskService;
  public readonly dataBucket: s3.Bucket;
  public readonly etl: LambdaTaskFunction;
  /** Kafka records of `connector-demo` (or the context's topic) become etl tasks. */
  public readonly etlKafkaTrigger: KafkaTaskTrigger;
  /** Messages of `etlInputQueue` become etl tasks. */
  public readonly etlSqsTrigger: SqsTaskTrigger;
  public readonly etlInputQueue: sqs.Queue;
  public readonly transcode: ContainerTaskFunction;
  public readonly sqlLogAnalysis: ContainerTaskFunction;

  public constructor(scope: Construct, id: string = DEMO_STACK_ID, props: StackProps = {}) {
    super(scope, id, { description: 'asynctask demo: Function Compute asynchronous tasks on AWS', ...props });

    this.service = new AsyncTaskService(this, 'Service', { removalPolicy: RemovalPolicy.DESTROY });

    this.dataBucket = new s3.Bucket(this, 'DataBucket', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    acknowledge(this.dataBucket, {
      id: 'AwsSolutions-S1',
      reason: 'Demo input/output bucket (videos, slow-query logs, reports); CloudTrail data events are the audit path if needed.',
    });

    // etl: a batch of Kafka records transformed on Lambda.
    const etlQueues = destinationQueues(this, 'Etl');
    const etlHandler = new nodejs.NodejsFunction(this, 'EtlHandler', {
      entry: path.join(PROJECT_ROOT, 'examples', 'kafka-etl', 'handler.ts'),
      handler: 'handler',
      description: 'asynctask example etl: transforms a batch of Kafka records',
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      loggingFormat: lambda.LoggingFormat.JSON,
      memorySize: 512,
      timeout: Duration.minutes(15),
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: path.join(PROJECT_ROOT, 'package-lock.json'),
      bundling: { target: 'node22', sourceMap: true },
    });
    acknowledge(
      etlHandler,
      {
        id: LAMBDA_BASIC_EXECUTION_ROLE_FINDING,
        reason: 'AWSLambdaBasicExecutionRole only lets the function write its own CloudWatch logs.',
      },
      { id: 'AwsSolutions-L1', reason: 'Node.js 22 is the runtime the project targets.' },
    );
    this.etl = new LambdaTaskFunction(this, 'Etl', {
      service: this.service,
      functionName: 'etl',
      description: 'Kafka ETL: transforms a batch of Kafka records',
      lambdaFunction: etlHandler,
      maxRetryAttempts: 2,
      onSuccess: new SqsDestination(etlQueues.success),
      onFailure: new SqsDestination(etlQueues.failure),
    });

    // etl's sources, as in the article: Kafka records (FC's Kafka connector) and an SQS queue.
    // What cannot become a task (a value that is not JSON, a message without its id) is
    // quarantined with the reason.
    const kafka = demoKafkaContext(this);
    const etlQuarantine = new sqs.Queue(this, 'EtlQuarantineQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    acknowledge(etlQuarantine, {
      id: 'AwsSolutions-SQS3',
      reason:
        "This queue is itself the triggers' quarantine (records that cannot become tasks, with the reason); a queue behind it would never be read.",
    });
    const quarantine = new SqsDestination(etlQuarantine);
    this.etlKafkaTrigger = new KafkaTaskTrigger(this, 'EtlKafkaTrigger', {
      service: this.service,
      taskFunction: this.etl,
      cluster: this.kafkaCluster(kafka),
      topics: [kafka.topic ?? 'connector-demo'],
      ...(kafka.startingPosition ? { startingPosition: kafka.startingPosition } : {}),
      ...(kafka.startingPositionTimestamp ? { startingPositionTimestamp: new Date(kafka.startingPositionTimestamp) } : {}),
      onFailure: quarantine,
    });
    this.etlInputQueue = new sqs.Queue(this, 'EtlInputQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
      // Six times the trigger's timeout, as Lambda advises for SQS mappings.
      visibilityTimeout: Duration.minutes(3),
    });
    acknowledge(this.etlInputQueue, {
      id: 'AwsSolutions-SQS3',
      reason:
        'A message that cannot become a task is quarantined by the trigger (EtlQuarantineQueue) with the reason; a message the trigger reports as failed had a transient error and is retried until it becomes a task or expires, so a redrive queue would only hold retriable messages.',
    });
    this.etlSqsTrigger = new SqsTaskTrigger(this, 'EtlSqsTrigger', {
      service: this.service,
      taskFunction: this.etl,
      queue: this.etlInputQueue,
      onFailure: quarantine,
    });

    // transcode: FFmpeg on Fargate, hours-long.
    const transcodeQueues = destinationQueues(this, 'Transcode');
    this.transcode = new ContainerTaskFunction(this, 'Transcode', {
      service: this.service,
      functionName: 'transcode',
      description: 'FFmpeg video transcoding: {bucket, object, output_dir, dst_format}',
      directory: 'containers/ffmpeg',
      maxRetryAttempts: 2,
      maxEventAge: Duration.hours(5),
      timeout: Duration.hours(2),
      cpu: 2048,
      memoryLimitMiB: 4096,
      ephemeralStorageGiB: 50,
      environment: { DATA_BUCKET: this.dataBucket.bucketName },
      local: {
        command: ['python3', 'containers/ffmpeg/worker.py'],
        environment: { PYTHONPATH: 'runtime/python' },
      },
      onSuccess: new SqsDestination(transcodeQueues.success),
      onFailure: new SqsDestination(transcodeQueues.failure),
    });

    // sql-log-analysis: MySQL slow-query-log analysis in Python on Fargate.
    const sqlQueues = destinationQueues(this, 'SqlLogAnalysis');
    this.sqlLogAnalysis = new ContainerTaskFunction(this, 'SqlLogAnalysis', {
      service: this.service,
      functionName: 'sql-log-analysis',
      description: 'MySQL slow-query-log analysis: fingerprints, counts, query-time statistics',
      directory: 'containers/python',
      environment: { DATA_BUCKET: this.dataBucket.bucketName },
      local: {
        command: ['python3', 'containers/python/worker.py'],
        environment: { PYTHONPATH: 'runtime/python' },
      },
      onSuccess: new SqsDestination(sqlQueues.success),
      onFailure: new SqsDestination(sqlQueues.failure),
    });

    // The workers read their input from and write their output to the data bucket.
    for (const fn of [this.transcode, this.sqlLogAnalysis]) {
      this.grantData(fn.taskRole);
    }
    this.grantData(etlHandler);

    const outputs: Array<[string, string]> = [
      ['TaskApiFunctionName', this.service.taskApi.functionName],
      [TASK_API_URL_OUTPUT, this.service.taskApiUrl],
      ['DataBucketName', this.dataBucket.bucketName],
      ['EtlSuccessQueueUrl', etlQueues.success.queueUrl],
      ['EtlFailureQueueUrl', etlQueues.failure.queueUrl],
      ['EtlInputQueueUrl', this.etlInputQueue.queueUrl],
      ['EtlQuarantineQueueUrl', etlQuarantine.queueUrl],
      ['TranscodeSuccessQueueUrl', transcodeQueues.success.queueUrl],
      ['TranscodeFailureQueueUrl', transcodeQueues.failure.queueUrl],
      ['SqlLogAnalysisSuccessQueueUrl', sqlQueues.success.queueUrl],
      ['SqlLogAnalysisFailureQueueUrl', sqlQueues.failure.queueUrl],
    ];
    for (const [name, value] of outputs) new CfnOutput(this, name, { value });
  }

  /** Task functions of the demo, in registration order. */
  public get taskFunctions(): TaskFunction[] {
    return [this.etl, this.transcode, this.sqlLogAnalysis];
  }

  /**
   * The etl trigger's cluster from the context: MSK by ARN (IAM unless a secret is given), or
   * self-managed brokers reached from the service's VPC by Lambda's pollers.
   */
  private kafkaCluster(kafka: DemoKafkaContext): IKafkaCluster {
    const secret = kafka.secretArn ? secretsmanager.Secret.fromSecretCompleteArn(this, 'KafkaSecret', kafka.secretArn) : undefined;
    if (kafka.mskClusterArn !== undefined) {
      return KafkaCluster.msk({
        clusterArn: kafka.mskClusterArn,
        ...(secret ? { secret, authentication: kafka.authentication ?? 'SASL_SCRAM_512_AUTH' } : {}),
        ...(kafka.authentication && !secret ? { authentication: kafka.authentication } : {}),
      });
    }
    return KafkaCluster.selfManaged({
      bootstrapServers: kafka.bootstrapServers ?? [],
      vpc: this.service.defaultVpc,
      ...(secret ? { secret, authentication: kafka.authentication ?? 'SASL_SCRAM_512_AUTH' } : {}),
      ...(kafka.authentication && !secret ? { authentication: kafka.authentication } : {}),
    });
  }

  /** Read and write objects of the data bucket, with explicit actions only. */
  private grantData(grantee: iam.IGrantable & IConstruct): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['s3:GetObject', 's3:PutObject'],
        resources: [this.dataBucket.arnForObjects('*')],
      }),
    );
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['s3:ListBucket'], resources: [this.dataBucket.bucketArn] }),
    );
    acknowledgeWildcardResources(
      grantee,
      'The workers read any input object and write outputs under any key the task payload names in the demo data bucket (DataBucket/*); actions are explicit',
    );
  }
}
