/**
 * A platform team's service at scale: one service in its own stack and `teams` team stacks,
 * each adding `functionsPerTeam` task functions (Lambda and container in turn), each with an
 * SQS success queue and failure queue in its team's stack. References go one way, from each team
 * stack to the service's. Used by many-functions.test.ts; exported so the local runtime's tests
 * can synthesize the same app (pass `lambdaFunction` to give the Lambda functions real code).
 */
import { type App, CfnOutput, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { AsyncTaskService } from '../../lib/async-task-service';
import { ContainerTaskFunction } from '../../lib/container-task-function';
import { SqsDestination } from '../../lib/destinations';
import { LambdaTaskFunction } from '../../lib/lambda-task-function';
import type { TaskFunction } from '../../lib/task-function';
import { TASK_API_URL_OUTPUT } from '../../lib/task-http-api';
import { testApp } from './app';

export const SERVICE_STACK_ID = 'AsyncTaskService';

export interface ManyFunctionsAppOptions {
  /**
   * The app to build in.
   * @default - testApp(): cdk.json's context, bundling skipped
   */
  readonly app?: App;
  /**
   * Team stacks.
   * @default 10
   */
  readonly teams?: number;
  /**
   * Task functions per team stack; odd-numbered ones run on Lambda, even-numbered ones in a container.
   * @default 10
   */
  readonly functionsPerTeam?: number;
  /**
   * Builds the Lambda function of a Lambda task function, in its team stack.
   * @default - an inline Node.js 22 function that returns `{echo: event}`
   */
  readonly lambdaFunction?: (scope: Construct, id: string) => lambda.IFunction;
}

export interface ManyFunctionsApp {
  readonly app: App;
  readonly serviceStack: Stack;
  readonly service: AsyncTaskService;
  readonly teamStacks: readonly Stack[];
  /** Every task function, team by team; `functionName` is `team<t>-fn<n>` (both two digits). */
  readonly functions: readonly TaskFunction[];
}

function echoFunction(scope: Construct, id: string): lambda.IFunction {
  return new lambda.Function(scope, id, {
    runtime: lambda.Runtime.NODEJS_22_X,
    handler: 'index.handler',
    code: lambda.Code.fromInline('exports.handler = async (event) => ({ echo: event });'),
    timeout: Duration.minutes(1),
  });
}

function queue(scope: Construct, id: string): sqs.Queue {
  return new sqs.Queue(scope, id, {
    encryption: sqs.QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
    removalPolicy: RemovalPolicy.DESTROY,
  });
}

const pad = (n: number) => String(n).padStart(2, '0');

/** Builds the service stack and the team stacks (not synthesized). */
export function buildManyFunctionsApp(options: ManyFunctionsAppOptions = {}): ManyFunctionsApp {
  const app = options.app ?? testApp();
  const teams = options.teams ?? 10;
  const perTeam = options.functionsPerTeam ?? 10;
  const makeLambda = options.lambdaFunction ?? echoFunction;

  const serviceStack = new Stack(app, SERVICE_STACK_ID);
  const service = new AsyncTaskService(serviceStack, 'Service', { serviceName: 'bulk', removalPolicy: RemovalPolicy.DESTROY });
  // What the SDK and CLI look the TaskApi up by (`--stack AsyncTaskService`).
  new CfnOutput(serviceStack, 'TaskApiFunctionName', { value: service.taskApi.functionName });
  new CfnOutput(serviceStack, TASK_API_URL_OUTPUT, { value: service.taskApiUrl });

  const teamStacks: Stack[] = [];
  const functions: TaskFunction[] = [];
  for (let t = 1; t <= teams; t++) {
    const team = new Stack(app, `Team${pad(t)}`);
    teamStacks.push(team);
    for (let n = 1; n <= perTeam; n++) {
      const id = `Fn${pad(n)}`;
      const functionName = `team${pad(t)}-fn${pad(n)}`;
      const destinations = {
        onSuccess: new SqsDestination(queue(team, `${id}SuccessQueue`)),
        onFailure: new SqsDestination(queue(team, `${id}FailureQueue`)),
      };
      functions.push(
        n % 2 === 1
          ? new LambdaTaskFunction(team, id, {
              service,
              functionName,
              lambdaFunction: makeLambda(team, `${id}Handler`),
              timeout: Duration.minutes(1),
              ...destinations,
            })
          : new ContainerTaskFunction(team, id, {
              service,
              functionName,
              directory: 'containers/python',
              cpu: 256,
              memoryLimitMiB: 512,
              local: { command: ['python3', 'containers/python/worker.py'], environment: { PYTHONPATH: 'runtime/python' } },
              ...destinations,
            }),
      );
    }
  }
  return { app, serviceStack, service, teamStacks, functions };
}
