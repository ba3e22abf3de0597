/**
 * Test helpers for the construct tests: an App built with the real cdk.json context (so feature
 * flags match `cdk synth`), bundling skipped, and readers for synthesized state machines.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';

export const PROJECT_ROOT = path.resolve(__dirname, '..', '..');

/** The `context` of the project's cdk.json. */
export function cdkJsonContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, 'cdk.json'), 'utf8')) as {
    context?: Record<string, unknown>;
  };
  return cdkJson.context ?? {};
}

/** An App with cdk.json's context; `bundling: false` (default) skips esbuild for every stack. */
export function testApp(options: { bundling?: boolean; context?: Record<string, unknown> } = {}): App {
  return new App({
    context: {
      ...cdkJsonContext(),
      ...(options.bundling ? {} : { 'aws:cdk:bundling-stacks': [] }),
      ...options.context,
    },
  });
}

/** A stack in a fresh test App. */
export function testStack(id = 'TestStack'): Stack {
  return new Stack(testApp(), id);
}

/** A state of an ASL definition (loosely typed: tests assert on its fields). */
export interface AslState {
  readonly Type: string;
  readonly Next?: string;
  readonly End?: boolean;
  readonly Resource?: string;
  readonly Default?: string;
  readonly Choices?: Array<Record<string, unknown> & { Next: string }>;
  readonly Catch?: Array<{ ErrorEquals: string[]; Next: string; ResultPath?: string | null }>;
  readonly Retry?: Array<{ ErrorEquals: string[] }>;
  readonly [key: string]: unknown;
}

export interface AslDefinition {
  readonly StartAt: string;
  readonly States: Record<string, AslState>;
  readonly TimeoutSeconds?: number;
  readonly [key: string]: unknown;
}

/**
 * The definition of a state machine as JSON. CloudFormation references inside it (table name,
 * function ARN, partition) are replaced by `${Ref:<logical id>}` / `${GetAtt:<id>.<attr>}` text.
 */
export function definitionOf(machine: sfn.StateMachine): AslDefinition {
  const stack = Stack.of(machine);
  const cfn = machine.node.defaultChild as sfn.CfnStateMachine;
  const resolved = stack.resolve(cfn.definitionString) as string | { 'Fn::Join': [string, unknown[]] };
  if (typeof resolved === 'string') return JSON.parse(resolved) as AslDefinition;
  const parts = resolved['Fn::Join'][1].map((part) => (typeof part === 'string' ? part : tokenText(part)));
  return JSON.parse(parts.join('')) as AslDefinition;
}

function tokenText(part: unknown): string {
  const p = part as Record<string, unknown>;
  if (typeof p.Ref === 'string') return `\${Ref:${p.Ref}}`;
  if (Array.isArray(p['Fn::GetAtt'])) return `\${GetAtt:${(p['Fn::GetAtt'] as string[]).join('.')}}`;
  return `\${Token}`;
}

/** The names of the states visited from StartAt following `Next` until an `End` (no choices taken). */
export function successPath(definition: AslDefinition): string[] {
  const visited: string[] = [];
  let name: string | undefined = definition.StartAt;
  while (name !== undefined) {
    if (visited.includes(name)) throw new Error(`the success path loops at ${name}`);
    visited.push(name);
    const state: AslState | undefined = definition.States[name];
    if (!state) throw new Error(`state ${name} is not defined`);
    if (state.Type === 'Choice') throw new Error(`the success path of this definition has a Choice (${name})`);
    name = state.End ? undefined : state.Next;
  }
  return visited;
}
