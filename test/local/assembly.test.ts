/**
 * Multi-stack loading on small hand-written assemblies: deployment order from manifest.json,
 * `Fn::ImportValue` against the exports of the stacks loaded before, `stackName` selecting a
 * stack and its dependencies, one merged model, and the errors of each way this goes wrong.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readAssembly } from '../../local/assembly';
import { flatOutputs } from '../../local/runtime';
import { loadAssembly, TemplateError, unsupportedNote } from '../../local/template';

const ENDPOINT = 'http://127.0.0.1:4566';

interface StackSpec {
  readonly id: string;
  readonly dependencies?: string[];
  readonly template: Record<string, unknown>;
}

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'asynctask-assembly-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** Writes manifest.json and the templates, as `cdk synth` lays them out (asset manifests included). */
function writeAssembly(stacks: readonly StackSpec[]): string {
  const artifacts: Record<string, unknown> = {};
  for (const s of stacks) {
    artifacts[`${s.id}.assets`] = { type: 'cdk:asset-manifest', properties: { file: `${s.id}.assets.json` } };
    artifacts[s.id] = {
      type: 'aws:cloudformation:stack',
      properties: { templateFile: `${s.id}.template.json` },
      dependencies: [...(s.dependencies ?? []), `${s.id}.assets`],
      displayName: s.id,
    };
    writeFileSync(path.join(dir, `${s.id}.template.json`), JSON.stringify(s.template));
  }
  artifacts.Tree = { type: 'cdk:tree', properties: { file: 'tree.json' } };
  writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify({ version: '55.0.0', artifacts }));
  return dir;
}

/** The service side: a table and a queue, exported the way CDK exports cross-stack references. */
const service: StackSpec = {
  id: 'Svc',
  template: {
    Resources: {
      Queue: { Type: 'AWS::SQS::Queue' },
      Table: {
        Type: 'AWS::DynamoDB::Table',
        Properties: {
          KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
          AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        },
      },
    },
    Outputs: {
      ExportsOutputRefTable: { Value: { Ref: 'Table' }, Export: { Name: 'Svc:ExportsOutputRefTable' } },
      ExportsOutputFnGetAttQueueArn: { Value: { 'Fn::GetAtt': ['Queue', 'Arn'] }, Export: { Name: 'Svc:ExportsOutputFnGetAttQueueArn' } },
      TaskApiFunctionName: { Value: 'not-exported' },
    },
  },
};

/** A team stack: its own queue of the same logical id, a parameter and a function built from the service's exports. */
function team(id: string, importName = 'Svc:ExportsOutputRefTable'): StackSpec {
  return {
    id,
    dependencies: ['Svc'],
    template: {
      Resources: {
        Queue: { Type: 'AWS::SQS::Queue' },
        Fn: {
          Type: 'AWS::Lambda::Function',
          Properties: {
            Runtime: 'nodejs22.x',
            Handler: 'index.handler',
            Code: { ZipFile: 'exports.handler = async () => 1;' },
            Environment: {
              Variables: {
                TABLE: { 'Fn::ImportValue': importName },
                // CDK splits imported lists joined with '||'; a queue ARN's name is its last part.
                QUEUE_NAME: { 'Fn::Select': [5, { 'Fn::Split': [':', { 'Fn::ImportValue': 'Svc:ExportsOutputFnGetAttQueueArn' }] }] },
              },
            },
          },
        },
        Registration: {
          Type: 'AWS::SSM::Parameter',
          Properties: {
            Name: `/asynctask/svc/functions/${id}`,
            Type: 'String',
            Value: { 'Fn::Join': ['', ['{"table":"', { 'Fn::ImportValue': importName }, '"}']] },
          },
        },
      },
      Outputs: { TaskApiFunctionName: { Value: { Ref: 'Fn' } } },
    },
  };
}

describe('loadAssembly with several stacks', () => {
  test('loads every stack in dependency order (not manifest order) and resolves Fn::ImportValue to the exporter’s local value', () => {
    const m = loadAssembly(writeAssembly([team('TeamA'), service]), { endpoint: ENDPOINT });
    expect(m.stacks.map((s) => s.stackName)).toEqual(['Svc', 'TeamA']);
    expect(m.stacks[1].dependencies).toEqual(['Svc']);

    const fn = m.functions.find((f) => f.logicalId === 'Fn');
    expect(fn?.name).toBe('TeamA-Fn');
    expect(fn?.environment).toEqual({ TABLE: 'Svc-Table', QUEUE_NAME: 'Svc-Queue' });
    expect(m.parameters).toEqual([
      { logicalId: 'Registration', name: '/asynctask/svc/functions/TeamA', type: 'String', value: '{"table":"Svc-Table"}' },
    ]);
    // Physical names stay per stack: one logical id, two queues.
    expect(m.queues.map((q) => q.name)).toEqual(['Svc-Queue', 'TeamA-Queue']);
    expect(m.queues.map((q) => q.url)).toEqual([`${ENDPOINT}/000000000000/Svc-Queue`, `${ENDPOINT}/000000000000/TeamA-Queue`]);
    expect(m.tables.map((t) => t.name)).toEqual(['Svc-Table']);
    expect(m.stacks[0].outputs.find((o) => o.key === 'ExportsOutputRefTable')).toEqual({
      key: 'ExportsOutputRefTable',
      value: 'Svc-Table',
      exportName: 'Svc:ExportsOutputRefTable',
    });
  });

  test('resolves Fn::GetStackOutput (CDK’s weak cross-stack references) to the output of a stack loaded before', () => {
    const reader = (output: string, stack = 'Svc'): StackSpec => ({
      id: 'Reader',
      dependencies: ['Svc'],
      template: {
        Resources: {
          Param: {
            Type: 'AWS::SSM::Parameter',
            Properties: {
              Type: 'String',
              Value: { 'Fn::GetStackOutput': { StackName: stack, OutputName: output, Region: { Ref: 'AWS::Region' } } },
            },
          },
        },
      },
    });
    const m = loadAssembly(writeAssembly([service, reader('ExportsOutputFnGetAttQueueArn')]), { endpoint: ENDPOINT });
    expect(m.parameters.map((p) => p.value)).toEqual(['arn:aws:sqs:us-east-1:000000000000:Svc-Queue']);

    expect(() => loadAssembly(writeAssembly([service, reader('Gone')]), { endpoint: ENDPOINT })).toThrow(
      "stack 'Reader' reads output 'Gone' of stack 'Svc' (Fn::GetStackOutput in resource 'Param'), but 'Svc' has no such output (it has: ExportsOutputRefTable, ExportsOutputFnGetAttQueueArn, TaskApiFunctionName)",
    );
    expect(() => loadAssembly(writeAssembly([service, reader('Url', 'Later')]), { endpoint: ENDPOINT })).toThrow(
      "stack 'Reader' reads output 'Url' of stack 'Later' (Fn::GetStackOutput in resource 'Param'), but 'Later' is not loaded before it; stacks loaded before it: Svc (2 exports)",
    );
  });

  test('stackName loads that stack and the stacks it depends on, nothing else', () => {
    const cdkOut = writeAssembly([service, team('TeamA'), team('TeamB')]);
    expect(loadAssembly(cdkOut, { endpoint: ENDPOINT, stackName: 'TeamB' }).stacks.map((s) => s.stackName)).toEqual(['Svc', 'TeamB']);
    expect(loadAssembly(cdkOut, { endpoint: ENDPOINT, stackName: 'Svc' }).stacks.map((s) => s.stackName)).toEqual(['Svc']);
    expect(loadAssembly(cdkOut, { endpoint: ENDPOINT }).stacks.map((s) => s.stackName)).toEqual(['Svc', 'TeamA', 'TeamB']);
  });

  test('dependencies are followed transitively and independent stacks keep the manifest order', () => {
    const empty = { Resources: { Q: { Type: 'AWS::SQS::Queue' } } };
    const cdkOut = writeAssembly([
      { id: 'C', dependencies: ['B'], template: empty },
      { id: 'Z', template: empty },
      { id: 'B', dependencies: ['A'], template: empty },
      { id: 'A', template: empty },
    ]);
    expect(readAssembly(cdkOut).stacks.map((s) => s.stackName)).toEqual(['Z', 'A', 'B', 'C']);
    expect(readAssembly(cdkOut, 'C').stacks.map((s) => s.stackName)).toEqual(['A', 'B', 'C']);
  });

  test('notes and unsupported resources name their stack when there are several', () => {
    const withUnsupported = {
      ...service,
      template: { ...service.template, Resources: { ...(service.template.Resources as object), Stream: { Type: 'AWS::Kinesis::Stream' } } },
    };
    const m = loadAssembly(writeAssembly([withUnsupported, team('TeamA')]), { endpoint: ENDPOINT });
    expect(m.stacks[0].unsupported).toEqual([{ type: 'AWS::Kinesis::Stream', logicalIds: ['Stream'] }]);
    expect(unsupportedNote(m)).toBe('not created locally (unsupported resource types): AWS::Kinesis::Stream (Svc/Stream)');
  });

  test('a long generated name is cut with a hash of the whole name, so similar long names stay distinct', () => {
    const fn = { Type: 'AWS::Lambda::Function', Properties: { Runtime: 'nodejs22.x', Handler: 'index.handler', Code: { ZipFile: '' } } };
    const id = 'AsyncTaskManyFunctionsTeamStackNumberSeven';
    const m = loadAssembly(
      writeAssembly([{ id, template: { Resources: { FunctionNumber098HandlerABCDEF12: fn, FunctionNumber099HandlerABCDEF12: fn } } }]),
      { endpoint: ENDPOINT },
    );
    const names = m.functions.map((f) => f.name);
    expect(names.every((n) => n.length === 64 && n.startsWith(`${id}-Function`) && /-[0-9a-f]{8}$/.test(n))).toBe(true);
    expect(new Set(names).size).toBe(2);
  });
});

describe('multi-stack errors', () => {
  test('fails if an imported export is missing, naming the importing stack, the resource and the export', () => {
    const cdkOut = writeAssembly([service, team('TeamA', 'Svc:ExportsOutputRefGone')]);
    expect(() => loadAssembly(cdkOut, { endpoint: ENDPOINT })).toThrow(TemplateError);
    expect(() => loadAssembly(cdkOut, { endpoint: ENDPOINT })).toThrow(
      "stack 'TeamA' imports 'Svc:ExportsOutputRefGone' (Fn::ImportValue in resource 'Fn'), but no stack loaded before it exports that name; stacks loaded before it: Svc (2 exports)",
    );
  });

  test('fails if the exporting stack is not loaded before the importer (no dependency in the manifest)', () => {
    const cdkOut = writeAssembly([{ ...team('TeamA'), dependencies: [] }, service]);
    expect(() => loadAssembly(cdkOut, { endpoint: ENDPOINT })).toThrow(
      "stack 'TeamA' imports 'Svc:ExportsOutputRefTable' (Fn::ImportValue in resource 'Fn'), but no stack loaded before it exports that name; no stack is loaded before it",
    );
  });

  test('fails if an output imports a missing export, naming the output', () => {
    const cdkOut = writeAssembly([
      service,
      {
        id: 'T',
        dependencies: ['Svc'],
        template: { Resources: { Q: { Type: 'AWS::SQS::Queue' } }, Outputs: { Url: { Value: { 'Fn::ImportValue': 'nope' } } } },
      },
    ]);
    expect(() => loadAssembly(cdkOut, { endpoint: ENDPOINT })).toThrow("stack 'T' imports 'nope' (Fn::ImportValue in output 'Url')");
  });

  test('fails if two resources of the assembly have the same physical name, naming both', () => {
    const named = (id: string, deps: string[] = []): StackSpec => ({
      id,
      dependencies: deps,
      template: { Resources: { Dlq: { Type: 'AWS::SQS::Queue', Properties: { QueueName: 'shared-dlq' } } } },
    });
    expect(() => loadAssembly(writeAssembly([named('One'), named('Two', ['One'])]), { endpoint: ENDPOINT })).toThrow(
      `One/Dlq and Two/Dlq are both the SQS queue 'shared-dlq'; a physical name must be unique in the assembly ${dir}`,
    );
  });

  test('fails if two stacks register the same SSM parameter, naming both', () => {
    const a = team('TeamA');
    const b = { ...team('TeamB'), template: JSON.parse(JSON.stringify(team('TeamA').template).replace(/"Registration"/, '"Entry"')) };
    expect(() => loadAssembly(writeAssembly([service, a, b]), { endpoint: ENDPOINT })).toThrow(
      "TeamA/Registration and TeamB/Entry are both the SSM parameter '/asynctask/svc/functions/TeamA'",
    );
  });

  test('fails if two stacks export the same name', () => {
    const twin = { ...service, id: 'Svc2' };
    expect(() => loadAssembly(writeAssembly([service, twin]), { endpoint: ENDPOINT })).toThrow(
      "export 'Svc:ExportsOutputRefTable' of stack 'Svc2' is already exported by stack 'Svc'; export names must be unique in the assembly",
    );
  });

  test('fails if stacks depend on each other in a cycle, naming them', () => {
    const q = { Resources: { Q: { Type: 'AWS::SQS::Queue' } } };
    const cdkOut = writeAssembly([
      { id: 'A', dependencies: ['B'], template: q },
      { id: 'B', dependencies: ['A'], template: q },
      { id: 'C', template: q },
    ]);
    expect(() => readAssembly(cdkOut)).toThrow("the stacks 'A', 'B' in");
    expect(() => readAssembly(cdkOut)).toThrow('depend on each other in a cycle');
  });

  test('fails if a stack depends on an artifact the manifest does not list', () => {
    const cdkOut = writeAssembly([{ id: 'A', dependencies: ['Ghost'], template: { Resources: {} } }]);
    expect(() => readAssembly(cdkOut)).toThrow("stack artifact 'A' in");
    expect(() => readAssembly(cdkOut)).toThrow("depends on 'Ghost', which the manifest does not list");
  });

  test('fails if the named stack is not in the assembly, listing the ones there are', () => {
    const cdkOut = writeAssembly([service, team('TeamA')]);
    expect(() => readAssembly(cdkOut, 'TeamZ')).toThrow(`stack 'TeamZ' is not in ${path.join(dir, 'manifest.json')} (it has: Svc, TeamA)`);
  });
});

describe('the runtime’s outputs of several stacks', () => {
  const stacks = [
    {
      stackName: 'Svc',
      outputs: [
        { key: 'ApiName', value: 'svc-api' },
        { key: 'Url', value: 'svc-url' },
      ],
    },
    {
      stackName: 'Team',
      outputs: [
        { key: 'Url', value: 'team-url' },
        { key: 'Queue', value: 'team-q' },
      ],
    },
  ];

  test('a key one stack outputs is kept; a key several stacks output is left out as ambiguous', () => {
    expect(flatOutputs(stacks)).toEqual({ ApiName: 'svc-api', Queue: 'team-q' });
  });

  test('the named stack keeps its own value of a shared key', () => {
    expect(flatOutputs(stacks, 'Team')).toEqual({ ApiName: 'svc-api', Url: 'team-url', Queue: 'team-q' });
  });
});
