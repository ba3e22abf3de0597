#!/usr/bin/env node
/**
 * The app of bench/kafka.ts: stack `AsyncTaskKafkaBench`, one AsyncTaskService, one no-op Lambda
 * task function `sink` (bench/kafka-handler.ts) with SQS success and failure queues, and one
 * KafkaTaskTrigger per benchmarked batch size, each on its own topic (`bench-batch-<size>-<run>`),
 * reading from the beginning (`TRIM_HORIZON`) of a self-managed cluster at `localhost:9092` (the
 * local runtime reads its embedded topics or `--kafka-brokers` instead) with the trigger's
 * defaults otherwise (`batch` mode, JSON values, Lambda's 500 ms batching window, one provisioned
 * poller). Synthesized like `cdk synth` does, bundling on: `CDK_OUTDIR`, `CDK_CONTEXT_JSON`.
 */
import * as path from 'node:path';
import { App, CfnOutput, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { AsyncTaskService } from '../lib/async-task-service';
import { SqsDestination } from '../lib/destinations';
import { KafkaCluster, KafkaTaskTrigger } from '../lib/kafka-task-trigger';
import { LambdaTaskFunction } from '../lib/lambda-task-function';

export const KAFKA_BENCH_STACK = 'AsyncTaskKafkaBench';
export const BENCH_FUNCTION = 'sink';
/** The batch sizes benchmarked, one trigger and topic each. */
export const BENCH_BATCH_SIZES = [1, 100, 1000] as const;
/** Partitions of each topic, on the embedded topics (the runtime's default) and on the broker. */
export const BENCH_PARTITIONS = 3;

/**
 * Context key of a run id the topics end in (bench/kafka.ts sets a new one per run), so a broker
 * given with `--kafka-brokers` never holds records or committed offsets of an earlier run.
 */
export const BENCH_RUN_CONTEXT = 'asynctask:bench-run';

export function benchTopic(batchSize: number, run?: string): string {
  return `bench-batch-${batchSize}${run ? `-${run}` : ''}`;
}

const PROJECT_ROOT = path.resolve(__dirname, '..');

export class KafkaBenchStack extends Stack {
  public constructor(scope: Construct, id: string = KAFKA_BENCH_STACK) {
    super(scope, id, { description: 'asynctask Kafka trigger benchmark (bench/kafka.ts)' });
    const service = new AsyncTaskService(this, 'Service', { removalPolicy: RemovalPolicy.DESTROY });
    const success = new sqs.Queue(this, 'SinkSuccessQueue');
    const failure = new sqs.Queue(this, 'SinkFailureQueue');
    const quarantine = new sqs.Queue(this, 'QuarantineQueue');
    const handler = new nodejs.NodejsFunction(this, 'SinkHandler', {
      entry: path.join(__dirname, 'kafka-handler.ts'),
      handler: 'handler',
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: 128,
      timeout: Duration.seconds(30),
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: path.join(PROJECT_ROOT, 'package-lock.json'),
      bundling: { target: 'node22', minify: false },
    });
    const sink = new LambdaTaskFunction(this, 'Sink', {
      service,
      functionName: BENCH_FUNCTION,
      description: 'counts the records of its batch',
      lambdaFunction: handler,
      timeout: Duration.seconds(30),
      onSuccess: new SqsDestination(success),
      onFailure: new SqsDestination(failure),
    });
    const run = this.node.tryGetContext(BENCH_RUN_CONTEXT) as string | undefined;
    const cluster = KafkaCluster.selfManaged({ bootstrapServers: ['localhost:9092'], vpc: service.defaultVpc });
    for (const batchSize of BENCH_BATCH_SIZES) {
      new KafkaTaskTrigger(this, `Batch${batchSize}Trigger`, {
        service,
        taskFunction: sink,
        cluster,
        topics: [benchTopic(batchSize, run)],
        startingPosition: 'TRIM_HORIZON',
        batchSize,
        onFailure: new SqsDestination(quarantine),
      });
    }
    new CfnOutput(this, 'TaskApiFunctionName', { value: service.taskApi.functionName });
    new CfnOutput(this, 'SinkSuccessQueueUrl', { value: success.queueUrl });
    new CfnOutput(this, 'SinkFailureQueueUrl', { value: failure.queueUrl });
    new CfnOutput(this, 'QuarantineQueueUrl', { value: quarantine.queueUrl });
  }
}

if (require.main === module) {
  const app = new App();
  new KafkaBenchStack(app);
  app.synth();
}
