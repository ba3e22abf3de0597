/**
 * The example app's stack `AsyncTaskDemo`: the article's three workloads on one
 * AsyncTaskService — `etl` (Kafka records on Lambda), `transcode` (FFmpeg on Fargate) and
 * `sql-log-analysis` (Python on Fargate), each with an SQS success queue and dead-letter queue.
 */
import * as path from 'node:path';
import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct, IConstruct } from 'constructs';
import { acknowledge, acknowledgeWildcardResources, LAMBDA_BASIC_EXECUTION_ROLE_FINDING } from './nag';
import { AsyncTaskService } from './async-task-service';
import { ContainerTaskFunction, PROJECT_ROOT } from './container-task-function';
import { SqsDestination } from './destinations';
import { LambdaTaskFunction } from './lambda-task-function';
import type { TaskFunction } from './task-function';

export const DEMO_STACK_ID = 'AsyncTaskDemo';

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
      ['DataBucketName', this.dataBucket.bucketName],
      ['EtlSuccessQueueUrl', etlQueues.success.queueUrl],
      ['EtlFailureQueueUrl', etlQueues.failure.queueUrl],
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
