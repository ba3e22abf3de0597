#!/usr/bin/env node
/** CDK app entry: the `AsyncTaskDemo` stack, checked by cdk-nag's AWS Solutions rules at synth. */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { AsyncTaskDemoStack, DEMO_STACK_ID } from '../lib/demo-stack';

const app = new App();
new AsyncTaskDemoStack(app, DEMO_STACK_ID);
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
app.synth();
