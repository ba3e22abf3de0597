/**
 * A two-stack app of the real constructs for the local runtime's multi-stack test: stack
 * `SERVICE_STACK` holds an AsyncTaskService (and the `TaskApiFunctionName` output the SDK finds it
 * by); stack `TEAM_STACK` adds a LambdaTaskFunction to it, with its Lambda function and its SQS
 * success and failure queues, so the team stack reads the service stack's outputs (CDK's
 * cross-stack references) and writes the service's registry parameter. Synthesized with bundling
 * on and asset metadata, as `cdk synth` does, so the service's Lambdas have their bundles.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { App, CfnOutput, Duration, Stack } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { TASK_API_OUTPUT } from '../../client/defaults';
import { AsyncTaskService, LambdaTaskFunction, SqsDestination } from '../../lib';
import { cdkContext, PROJECT_ROOT } from '../e2e/synth';

export const SERVICE_STACK = 'AsyncTaskMultiService';
export const TEAM_STACK = 'AsyncTaskMultiTeam';
export const TASK_FUNCTION = 'echo';

/** Echoes the payload; throws when it asks to (`{"fail": "why"}`). */
const RUNNER = `
exports.handler = async (event) => {
  if (event && event.fail) throw new Error('asked to fail: ' + event.fail);
  return { echoed: event, functionName: process.env.AWS_LAMBDA_FUNCTION_NAME };
};
`;

/** Builds the app's two stacks. */
export function buildMultiStackApp(app: App): void {
  const serviceStack = new Stack(app, SERVICE_STACK);
  const service = new AsyncTaskService(serviceStack, 'Service', { serviceName: 'multistack' });
  new CfnOutput(serviceStack, TASK_API_OUTPUT, { value: service.taskApi.functionName });

  const team = new Stack(app, TEAM_STACK);
  const runner = new lambda.Function(team, 'Runner', {
    runtime: lambda.Runtime.NODEJS_22_X,
    handler: 'index.handler',
    code: lambda.Code.fromInline(RUNNER),
    timeout: Duration.seconds(10),
  });
  const succeeded = new sqs.Queue(team, 'Succeeded');
  const failed = new sqs.Queue(team, 'Failed');
  new LambdaTaskFunction(team, 'Echo', {
    service,
    functionName: TASK_FUNCTION,
    lambdaFunction: runner,
    maxRetryAttempts: 0,
    timeout: Duration.seconds(10),
    onSuccess: new SqsDestination(succeeded),
    onFailure: new SqsDestination(failed),
  });
  new CfnOutput(team, 'SucceededQueueUrl', { value: succeeded.queueUrl });
  new CfnOutput(team, 'FailedQueueUrl', { value: failed.queueUrl });
}

/**
 * Synthesizes the app into a new temporary directory as `cdk synth` would (this file run by tsx
 * with CDK_OUTDIR and cdk.json's context; a child process keeps esbuild's bundling output out of
 * the test's); returns the cdk.out path.
 */
export function synthMultiStack(): string {
  const outdir = mkdtempSync(path.join(os.tmpdir(), 'asynctask-multistack-'));
  const result = spawnSync(process.execPath, [path.join(PROJECT_ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs'), __filename], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, CDK_OUTDIR: outdir, CDK_CONTEXT_JSON: JSON.stringify(cdkContext()) },
    encoding: 'utf8',
    timeout: 120_000,
  });
  if (result.status !== 0) {
    throw new Error(
      `synthesizing ${__filename} failed (exit ${result.status ?? result.signal}):\n${`${result.stdout}${result.stderr}`.slice(-4000)}`,
    );
  }
  return outdir;
}

if (require.main === module) {
  const app = new App();
  buildMultiStackApp(app);
  app.synth();
}
