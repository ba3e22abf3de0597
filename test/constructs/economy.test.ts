/**
 * Economy orchestration (docs/design.md, "Orchestration modes"): its synth validation (a prop
 * the mode cannot honour names the prop, the value and the mode's bound), its defaults, and its
 * wiring — Lambda's EventInvokeConfig on the task function, the finalizer as `onFailure`, the
 * wrapper's grants, the service's right to invoke the function, the sparse keys-only index.
 */
import { Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { ECONOMY_INDEX } from '../../lambda/model/orchestration';
import { SqsTaskTrigger } from '../../lib/sqs-task-trigger';
import { inlineFunction, lambdaTask, sqsDestination } from './fixtures';

const economy = { orchestration: 'economy' as const };

describe('economy orchestration: props it cannot honour fail at synth', () => {
  test('more retries than Lambda allows asynchronously', () => {
    expect(() => lambdaTask({ ...economy, maxRetryAttempts: 3 })).toThrow(
      "maxRetryAttempts must be between 0 and 2 inclusive (given 3): the bound of economy orchestration, set by Lambda's asynchronous invocation (EventInvokeConfig)",
    );
  });

  test('an event age beyond 6 hours, or under a minute', () => {
    expect(() => lambdaTask({ ...economy, maxEventAge: Duration.hours(7) })).toThrow(
      'maxEventAge must be between 60s and 21600s inclusive (given 25200s): the bound of economy orchestration',
    );
    expect(() => lambdaTask({ ...economy, maxEventAge: Duration.seconds(30) })).toThrow(
      'maxEventAge must be between 60s and 21600s inclusive (given 30s)',
    );
  });

  test('a timeout beyond the function’s own, or beyond Lambda’s 15 minutes', () => {
    expect(() =>
      lambdaTask((stack) => ({
        ...economy,
        timeout: Duration.minutes(5),
        lambdaFunction: new lambda.Function(stack, 'Short', {
          runtime: lambda.Runtime.NODEJS_22_X,
          handler: 'index.handler',
          code: lambda.Code.fromInline('exports.handler = async (e) => e;'),
          timeout: Duration.seconds(30),
        }),
      })),
    ).toThrow("timeout must be at most the Lambda function's own timeout, 30s, in economy orchestration (given 300s)");
    expect(() => lambdaTask({ ...economy, timeout: Duration.minutes(16) })).toThrow(
      'timeout must be between 1s and 900s inclusive (given 960s)',
    );
  });

  test('backoff and concurrency props have no economy equivalent', () => {
    expect(() =>
      lambdaTask({
        ...economy,
        retryDelay: Duration.seconds(5),
        retryBackoffRate: 3,
        maxConcurrency: 4,
        slotPollInterval: Duration.seconds(2),
      }),
    ).toThrow(
      /retryDelay is not supported by economy orchestration \(given 5 seconds\)[\s\S]*retryBackoffRate is not supported by economy orchestration \(given 3\)[\s\S]*maxConcurrency is not supported by economy orchestration \(given 4\): there is no slot state; set the Lambda function's reserved concurrency instead[\s\S]*slotPollInterval/,
    );
  });

  test('a function that is not Node.js: the wrapper is a Node.js module', () => {
    expect(() =>
      lambdaTask((stack) => ({
        ...economy,
        lambdaFunction: new lambda.Function(stack, 'Py', {
          runtime: lambda.Runtime.PYTHON_3_12,
          handler: 'index.handler',
          code: lambda.Code.fromInline('def handler(event, context):\n    return event\n'),
        }),
      })),
    ).toThrow(
      "orchestration 'economy' needs a Node.js function, whose handler is wrapped with taskHandler (given runtime python3.12); use orchestration 'standard' for other runtimes",
    );
    expect(() =>
      lambdaTask((stack) => ({
        lambdaFunction: new lambda.Function(stack, 'Py', {
          runtime: lambda.Runtime.PYTHON_3_12,
          handler: 'index.handler',
          code: lambda.Code.fromInline('def handler(event, context):\n    return event\n'),
        }),
      })),
    ).not.toThrow();
  });

  test('a function with an asynchronous invocation config of its own, made before or after the task function', () => {
    expect(() =>
      lambdaTask((stack) => {
        const fn = inlineFunction(stack, 'Configured');
        fn.configureAsyncInvoke({ retryAttempts: 1 });
        return { ...economy, lambdaFunction: fn };
      }),
    ).toThrow(
      /the function already has one \(.*\/Configured\/EventInvokeConfig, from configureAsyncInvoke or an EventInvokeConfig\): remove it/,
    );
    const { stack, worker } = lambdaTask(economy);
    (worker as lambda.Function).configureAsyncInvoke({ retryAttempts: 1 });
    expect(() => Template.fromStack(stack)).toThrow(/the function already has one/);
  });

  test('an unknown orchestration', () => {
    expect(() => lambdaTask({ orchestration: 'cheap' as never })).toThrow("orchestration must be one of standard, economy (given 'cheap')");
  });

  test('the same props are fine in standard orchestration', () => {
    expect(() => lambdaTask({ maxRetryAttempts: 8, maxEventAge: Duration.days(7), retryDelay: Duration.seconds(5) })).not.toThrow();
  });
});

describe('economy orchestration: defaults and wiring', () => {
  test("defaults: Lambda's bounds, the function's own timeout", () => {
    const { fn } = lambdaTask((stack) => ({
      ...economy,
      lambdaFunction: new lambda.Function(stack, 'W', {
        runtime: lambda.Runtime.NODEJS_22_X,
        handler: 'index.handler',
        code: lambda.Code.fromInline('exports.handler = async (e) => e;'),
        timeout: Duration.seconds(40),
      }),
    }));
    expect(fn.orchestration).toBe('economy');
    expect(fn.maxRetryAttempts).toBe(2);
    expect(fn.maxEventAge.toSeconds()).toBe(6 * 3600);
    expect(fn.timeout.toSeconds()).toBe(40);
    expect(Stack.of(fn).resolve(fn.descriptor()).orchestration).toBe('economy');
  });

  test('standard stays the default and has no EventInvokeConfig', () => {
    const { fn, stack } = lambdaTask();
    expect(fn.orchestration).toBe('standard');
    expect(stack.resolve(fn.descriptor()).orchestration).toBeUndefined();
    Template.fromStack(stack).resourceCountIs('AWS::Lambda::EventInvokeConfig', 0);
  });

  test('EventInvokeConfig: retries, event age, the finalizer as onFailure, no onSuccess', () => {
    const { stack, service, worker } = lambdaTask((s) => ({
      ...economy,
      maxRetryAttempts: 1,
      maxEventAge: Duration.minutes(30),
      onSuccess: sqsDestination(s, 'Done').destination,
    }));
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: stack.getLogicalId(worker.node.defaultChild as lambda.CfnFunction) },
      Qualifier: '$LATEST',
      MaximumRetryAttempts: 1,
      MaximumEventAgeInSeconds: 1800,
      DestinationConfig: {
        OnFailure: {
          Destination: { 'Fn::GetAtt': [stack.getLogicalId(service.finalizer.node.defaultChild as lambda.CfnFunction), 'Arn'] },
        },
        OnSuccess: Match.absent(),
      },
    });
    // The service's TaskApi and reconciler may invoke the function (resource policy, by role ARN).
    const permissions = template.findResources('AWS::Lambda::Permission', {
      Properties: {
        Action: 'lambda:InvokeFunction',
        FunctionName: { 'Fn::GetAtt': [stack.getLogicalId(worker.node.defaultChild as lambda.CfnFunction), 'Arn'] },
      },
    });
    expect(Object.keys(permissions)).toHaveLength(2);
  });

  test('the wrapper may update the tasks table and invoke the finalizer', () => {
    const { stack } = lambdaTask(economy);
    const policies = Template.fromStack(stack).findResources('AWS::IAM::Policy');
    const text = JSON.stringify(policies);
    expect(text).toContain('dynamodb:UpdateItem');
    expect(text).toContain('lambda:InvokeFunction');
  });

  test('the wrapper’s grants add no cdk-nag finding (no wildcard on the finalizer)', () => {
    const { stack } = lambdaTask((s) => ({ ...economy, onSuccess: sqsDestination(s, 'Done').destination }));
    const report = new AwsSolutionsChecks(undefined, { verbose: true }).validateScope(stack);
    const findings = report.violations.flatMap((v) => v.violatingResources.map((r) => `${v.ruleName} at ${r.constructPath}`));
    expect(findings.filter((f) => /Finalizer.*:\*|EconomyInvok/.test(f))).toEqual([]);
  });

  test('the tasks table has the sparse keys-only economy index', () => {
    const { stack } = lambdaTask(economy);
    Template.fromStack(stack).hasResourceProperties('AWS::DynamoDB::Table', {
      GlobalSecondaryIndexes: Match.arrayWith([
        {
          IndexName: ECONOMY_INDEX.name,
          KeySchema: [
            { AttributeName: ECONOMY_INDEX.partitionKey, KeyType: 'HASH' },
            { AttributeName: ECONOMY_INDEX.sortKey, KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'KEYS_ONLY' },
        },
      ]),
    });
  });

  test('an imported function gets the config and the invoke grants (its role is yours to grant)', () => {
    const { stack } = lambdaTask((s) => ({
      ...economy,
      lambdaFunction: lambda.Function.fromFunctionArn(s, 'Imported', 'arn:aws:lambda:us-east-1:123456789012:function:etl-worker'),
    }));
    Template.fromStack(stack).hasResourceProperties('AWS::Lambda::EventInvokeConfig', { FunctionName: 'etl-worker' });
  });

  test('inlineFunction fixture keeps working in economy mode', () => {
    expect(() => lambdaTask((s) => ({ ...economy, lambdaFunction: inlineFunction(s, 'Other') }))).not.toThrow();
  });
});

describe('economy orchestration: triggers', () => {
  test("an SQS trigger's role may invoke an economy function (a permission on the function)", () => {
    const built = lambdaTask(economy);
    const queue = new sqs.Queue(built.stack, 'In', { encryption: sqs.QueueEncryption.SQS_MANAGED, enforceSSL: true });
    new SqsTaskTrigger(built.stack, 'Trigger', { service: built.service, taskFunction: built.fn, queue });
    const permissions = Template.fromStack(built.stack).findResources('AWS::Lambda::Permission', {
      Properties: {
        Action: 'lambda:InvokeFunction',
        Principal: { 'Fn::GetAtt': [Match.stringLikeRegexp('TriggerFunctionServiceRole'), 'Arn'] },
      },
    });
    expect(Object.keys(permissions)).toHaveLength(1);
  });
});
