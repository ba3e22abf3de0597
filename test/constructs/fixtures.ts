/** Small stacks for the construct tests: a service with task functions around inline Lambdas. */
import type { Stack } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { AsyncTaskService, type AsyncTaskServiceProps } from '../../lib/async-task-service';
import { ContainerTaskFunction, type ContainerTaskFunctionProps } from '../../lib/container-task-function';
import { SqsDestination } from '../../lib/destinations';
import { LambdaTaskFunction, type LambdaTaskFunctionProps } from '../../lib/lambda-task-function';
import { testStack } from './app';

export function inlineFunction(stack: Stack, id = 'Worker'): lambda.Function {
  return new lambda.Function(stack, id, {
    runtime: lambda.Runtime.NODEJS_22_X,
    handler: 'index.handler',
    code: lambda.Code.fromInline('exports.handler = async (e) => e;'),
  });
}

export function serviceStack(props: AsyncTaskServiceProps = {}): { stack: Stack; service: AsyncTaskService } {
  const stack = testStack();
  return { stack, service: new AsyncTaskService(stack, 'Service', props) };
}

/** Props, or a function of the stack that returns them (to build destinations in the same stack). */
export type PropsIn<T> = Partial<T> | ((stack: Stack) => Partial<T>);

export function lambdaTask(
  propsIn: PropsIn<LambdaTaskFunctionProps> = {},
  serviceProps: AsyncTaskServiceProps = {},
): { stack: Stack; service: AsyncTaskService; fn: LambdaTaskFunction; worker: lambda.IFunction } {
  const { stack, service } = serviceStack(serviceProps);
  const props = typeof propsIn === 'function' ? propsIn(stack) : propsIn;
  const worker = props.lambdaFunction ?? inlineFunction(stack);
  const fn = new LambdaTaskFunction(stack, 'Etl', { service, functionName: 'etl', lambdaFunction: worker, ...props });
  return { stack, service, fn, worker };
}

export function containerTask(
  propsIn: PropsIn<ContainerTaskFunctionProps> = {},
  serviceProps: AsyncTaskServiceProps = {},
): { stack: Stack; service: AsyncTaskService; fn: ContainerTaskFunction } {
  const { stack, service } = serviceStack(serviceProps);
  const props = typeof propsIn === 'function' ? propsIn(stack) : propsIn;
  const fn = new ContainerTaskFunction(stack, 'Analysis', {
    service,
    functionName: 'analysis',
    directory: 'containers/python',
    ...props,
  });
  return { stack, service, fn };
}

export function sqsDestination(stack: Stack, id: string): { queue: sqs.Queue; destination: SqsDestination } {
  const queue = new sqs.Queue(stack, id, { encryption: sqs.QueueEncryption.SQS_MANAGED, enforceSSL: true });
  return { queue, destination: new SqsDestination(queue) };
}
