import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TemplateResolver } from '../../local/intrinsics';
import { loadAssembly, TemplateError } from '../../local/template';
import { STACK, synthFixture } from './fixture';

const ENDPOINT = 'http://127.0.0.1:4566';
let cdkOut: string;

beforeAll(() => {
  cdkOut = synthFixture();
});
afterAll(() => rmSync(cdkOut, { recursive: true, force: true }));

/** CloudFormation `${...}` text, built so the linter does not take it for a mistaken template literal. */
const cfn = (s: string) => s.replace(/\$\[/g, '${').replace(/\]\$/g, '}');

describe('loadAssembly on a synthesized one-stack fixture', () => {
  test('tables, queues, buckets, functions, rules and outputs resolve to local values', () => {
    const m = loadAssembly(cdkOut, { endpoint: ENDPOINT });
    expect(m.stacks.map((s) => s.stackName)).toEqual([STACK]);

    expect(m.tables).toHaveLength(1);
    const table = m.tables[0];
    expect(table.name).toBe(`${STACK}-${table.logicalId}`);
    expect(table.arn).toBe(`arn:aws:dynamodb:us-east-1:000000000000:table/${table.name}`);
    expect(table.keySchema).toEqual([
      { AttributeName: 'pk', KeyType: 'HASH' },
      { AttributeName: 'sk', KeyType: 'RANGE' },
    ]);
    expect(table.globalSecondaryIndexes.map((g) => g.IndexName)).toEqual(['BySk']);
    expect(table.ttlAttribute).toBe('expiresAt');

    const work = m.queues.find((q) => q.logicalId.startsWith('Work'));
    const dlq = m.queues.find((q) => q.logicalId.startsWith('Dlq'));
    expect(work && dlq).toBeTruthy();
    expect(work?.url).toBe(`${ENDPOINT}/000000000000/${work?.name}`);
    expect(work?.deadLetterQueue).toBe(dlq?.name);
    expect(JSON.parse(work?.attributes.RedrivePolicy ?? '{}')).toEqual({ deadLetterTargetArn: dlq?.arn, maxReceiveCount: 3 });
    expect(work?.attributes.VisibilityTimeout).toBe('45');

    expect(m.buckets[0].name).toMatch(/^localfixture-files[a-z0-9]+$/);

    const fn = m.functions.find((f) => f.logicalId.startsWith('Echo'));
    expect(fn?.arn).toBe(`arn:aws:lambda:us-east-1:000000000000:function:${fn?.name}`);
    expect(fn?.environment).toEqual({ TABLE: table.name, QUEUE_URL: work?.url, BUCKET: m.buckets[0].name });
    expect(fn?.inlineCode).toContain('exports.handler');
    expect(fn?.timeoutSeconds).toBe(2);
    expect(fn?.logGroupName).toBe(`/aws/lambda/${fn?.name}`);

    const onThing = m.rules.find((r) => r.logicalId.startsWith('OnThing'));
    expect(onThing?.eventPattern).toEqual({ source: ['my.app'], 'detail-type': ['Thing Happened'], detail: { kind: [{ prefix: 'ok' }] } });
    expect(onThing?.targets.map((t) => t.arn)).toEqual([fn?.arn]);
    expect(m.rules.find((r) => r.logicalId.startsWith('Tick'))?.scheduleExpression).toBe('rate(1 minute)');

    const outputs = Object.fromEntries(m.stacks[0].outputs.map((o) => [o.key, o.value]));
    expect(outputs).toMatchObject({ TableName: table.name, QueueUrl: work?.url, FunctionName: fn?.name, FunctionArn: fn?.arn });
    const esm = m.eventSourceMappings[0];
    expect(esm).toMatchObject({ functionName: fn?.name, batchSize: 5, reportBatchItemFailures: true, enabled: true });
    expect(esm.eventSourceArn).toBe(m.queues.find((q) => q.logicalId.startsWith('Inbox') && !q.logicalId.startsWith('InboxDlq'))?.arn);
    // IAM roles, permissions and queue policies need nothing locally: not reported as unsupported
    expect(m.stacks[0].unsupported).toEqual([]);
  });

  test('intrinsics: Sub, Select/Split, If with conditions, GetAZs, pseudo parameters', () => {
    const r = new TemplateResolver(
      {
        Conditions: { IsUsEast1: { 'Fn::Equals': [{ Ref: 'AWS::Region' }, 'us-east-1'] } },
        Resources: { Q: { Type: 'AWS::SQS::Queue' }, F: { Type: 'AWS::Lambda::Function', Properties: { FunctionName: 'given' } } },
      },
      'S',
      ENDPOINT,
    );
    expect(r.resolve({ 'Fn::Sub': cfn('$[AWS::Partition]$:$[AWS::AccountId]$:$[Q.Arn]$:$[!Literal]$:$[AWS::URLSuffix]$') })).toBe(
      cfn('aws:000000000000:arn:aws:sqs:us-east-1:000000000000:S-Q:$[Literal]$:amazonaws.com'),
    );
    expect(r.resolve({ 'Fn::Sub': [cfn('$[x]$-$[F]$'), { x: { Ref: 'AWS::StackName' } }] })).toBe('S-given');
    expect(r.resolve({ 'Fn::Select': [1, { 'Fn::Split': [',', 'a,b,c'] }] })).toBe('b');
    expect(r.resolve({ 'Fn::If': ['IsUsEast1', 'yes', 'no'] })).toBe('yes');
    expect(r.resolve({ 'Fn::Select': [0, { 'Fn::GetAZs': '' }] })).toBe('us-east-1a');
    expect(r.resolve({ a: { 'Fn::If': ['IsUsEast1', { Ref: 'AWS::NoValue' }, 1] }, b: 2 })).toEqual({ b: 2 });
    expect(r.resolve({ Ref: 'Q' })).toBe(`${ENDPOINT}/000000000000/S-Q`);
  });
});

describe('clear errors for a missing or malformed cloud assembly', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'asynctask-bad-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test('missing directory', () => {
    const missing = path.join(dir, 'cdk.out');
    expect(() => loadAssembly(missing, { endpoint: ENDPOINT })).toThrow(TemplateError);
    expect(() => loadAssembly(missing, { endpoint: ENDPOINT })).toThrow(`${missing} does not exist`);
  });

  test('manifest that is not JSON', () => {
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'manifest.json'), '{ nope');
    expect(() => loadAssembly(dir, { endpoint: ENDPOINT })).toThrow(/manifest\.json is not valid JSON/);
  });

  test('template file missing', () => {
    writeFileSync(
      path.join(dir, 'manifest.json'),
      JSON.stringify({ artifacts: { S: { type: 'aws:cloudformation:stack', properties: { templateFile: 'S.template.json' } } } }),
    );
    expect(() => loadAssembly(dir, { endpoint: ENDPOINT })).toThrow(/S\.template\.json \(of stack 'S'\) does not exist/);
  });

  test('unknown stack name lists the ones there are', () => {
    expect(() => loadAssembly(cdkOut, { endpoint: ENDPOINT, stackName: 'Nope' })).toThrow(`stack 'Nope' is not in`);
  });
});
