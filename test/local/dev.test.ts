import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { DEMO_MARKER, demoDecision, nextSteps, slowLogs, writeDemoMarker } from '../../local/demo';
import { banner, runDev } from '../../local/dev';

let stderr: string;
let spy: jest.SpyInstance;
beforeEach(() => {
  stderr = '';
  spy = jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stderr += String(chunk);
    return true;
  });
});
afterEach(() => spy.mockRestore());

test('missing cdk.out: exit 1 naming the path and what to do', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'asynctask-dev-'));
  try {
    expect(await runDev({ port: 0, synth: false, cwd: dir })).toBe(1);
    expect(stderr).toContain(`${path.join(dir, 'cdk.out')} does not exist; run 'npx cdk synth'`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('port taken: exit 1 with a clear message', async () => {
  const server = http.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  try {
    expect(await runDev({ port, synth: false, cwd: path.resolve(__dirname, '..', '..') })).toBe(1);
    expect(stderr).toContain(`port ${port} on 127.0.0.1 is already in use`);
  } finally {
    await new Promise((r) => server.close(r));
  }
});

describe('the start-up banner', () => {
  const descriptor = (name: string) => ({
    name,
    kind: 'lambda' as const,
    stateMachineArn: `arn:aws:states:us-east-1:000000000000:stateMachine:${name}`,
    runnerArn: `arn:aws:lambda:us-east-1:000000000000:function:${name}`,
    maxRetryAttempts: 3,
    maxEventAgeSeconds: 86400,
    timeoutSeconds: 60,
  });
  const stack = (stackName: string, dependencies: string[] = []) => ({ stackName, stackId: `id-${stackName}`, dependencies, outputs: {} });

  test('names every loaded stack in deployment order and the service stack in the example command', () => {
    const text = banner({
      endpoint: 'http://127.0.0.1:4566',
      stacks: [stack('Svc'), stack('Team01', ['Svc']), stack('Team02', ['Svc'])],
      services: [
        {
          stackName: 'Svc',
          taskApiFunctionName: 'Svc-Api',
          registryPath: '/asynctask/svc/functions/',
          functions: [descriptor('team01-fn01')],
        },
      ],
      notes: ['Team02: something to know'],
    });
    expect(text).toContain('asynctask local runtime — 3 stacks');
    expect(text).toContain('  stacks     Svc, Team01, Team02 (in deployment order)');
    expect(text).toContain('  task functions of stack Svc:\n    team01-fn01  lambda     retries 3, timeout 60 s');
    expect(text).toContain('  note: Team02: something to know');
    expect(text).toContain("ASYNCTASK_ENDPOINT=http://127.0.0.1:4566 npx asynctask --stack Svc invoke team01-fn01 --payload '{}' --wait");
  });

  test('one stack named as the CLI’s default stack: no stacks line, no --stack in the example', () => {
    const text = banner({
      endpoint: 'http://127.0.0.1:4566',
      stacks: [stack('AsyncTaskDemo')],
      services: [{ stackName: 'AsyncTaskDemo', taskApiFunctionName: 'Api', registryPath: '/asynctask/demo/functions/', functions: [] }],
      notes: [],
    });
    expect(text).toContain('asynctask local runtime — stack AsyncTaskDemo');
    expect(text).not.toContain('  stacks ');
    expect(text).toContain('task functions of stack AsyncTaskDemo: none (no registry parameters under /asynctask/demo/functions/)');
    expect(text).toContain('npx asynctask invoke <function>');
    expect(text).not.toContain('produce');
  });

  test('a Kafka mapping adds a produce example on its topic', () => {
    const text = banner({
      endpoint: 'http://127.0.0.1:4566',
      stacks: [stack('AsyncTaskDemo')],
      services: [{ stackName: 'AsyncTaskDemo', taskApiFunctionName: 'Api', registryPath: '/asynctask/demo/functions/', functions: [] }],
      notes: [],
      model: { eventSourceMappings: [{}, { topics: ['connector-demo'] }] },
    });
    expect(text).toContain(
      `ASYNCTASK_ENDPOINT=http://127.0.0.1:4566 npx asynctask produce connector-demo --key o-1 --value '{"orderId": 1, "total": 25.5}'`,
    );
  });
});

describe('whether dev runs the demo', () => {
  let dataDir: string;
  beforeEach(() => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'asynctask-demo-'));
  });
  afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

  test('without a data dir every start is a first start', () => {
    expect(demoDecision(undefined, undefined)).toEqual({ run: true, reason: 'first start (state in memory)' });
  });

  test('with a data dir: the first start runs it, a start after its marker does not', () => {
    expect(demoDecision(undefined, dataDir)).toEqual({ run: true, reason: `first start of ${dataDir}` });
    writeDemoMarker(dataDir, new Date('2026-11-30T00:00:00Z'));
    expect(JSON.parse(readFileSync(path.join(dataDir, DEMO_MARKER), 'utf8'))).toEqual({ ranAt: '2026-11-30T00:00:00.000Z' });
    expect(demoDecision(undefined, dataDir)).toEqual({
      run: false,
      reason: `it ran before (${path.join(dataDir, DEMO_MARKER)}; --demo runs it again)`,
    });
  });

  test('the marker is written into a data dir that does not exist yet', () => {
    const fresh = path.join(dataDir, 'not', 'yet');
    writeDemoMarker(fresh);
    expect(existsSync(path.join(fresh, DEMO_MARKER))).toBe(true);
  });

  test('--demo forces it over a marker, --no-demo skips it on a first start', () => {
    writeDemoMarker(dataDir);
    expect(demoDecision(true, dataDir)).toEqual({ run: true, reason: '--demo' });
    expect(demoDecision(false, undefined)).toEqual({ run: false, reason: '--no-demo' });
    expect(demoDecision(false, path.join(dataDir, 'empty'))).toEqual({ run: false, reason: '--no-demo' });
  });
});

describe('the demo’s inputs and hints', () => {
  test('slow logs: deterministic MySQL slow-log entries, one header per log', () => {
    const logs = slowLogs(2, 8);
    expect(logs.map((l) => l.name)).toEqual(['mysql-slow-1.log', 'mysql-slow-2.log']);
    expect(slowLogs(2, 8)).toEqual(logs);
    for (const log of logs) {
      expect(log.text.match(/^# Query_time: \d+\.\d{6} {2}Lock_time/gm)).toHaveLength(8);
      expect(log.text.match(/^\/usr\/sbin\/mysqld, Version/gm)).toHaveLength(1);
    }
    expect(logs[0].text).toMatch(/^# Time: 2026-11-20T08:00:00\.000000Z$/m);
    expect(logs[0].text).toContain('SELECT * FROM orders WHERE customer_id = ');
  });

  test('next steps name the endpoint, the article ids, and --stack only for another stack', () => {
    const text = nextSteps('http://127.0.0.1:4566');
    expect(text).toContain('export ASYNCTASK_ENDPOINT=http://127.0.0.1:4566');
    expect(text).toContain('  npx asynctask get transcode my3-480P-mp4');
    expect(text).toContain('  npx asynctask stop transcode my4-480P-mp4');
    expect(text).toContain('  npx tsx examples/kafka-etl/queues.ts');
    const other = nextSteps('http://127.0.0.1:4600', 'Other', false);
    expect(other).toContain('  npx asynctask --stack Other list transcode');
    expect(other).not.toContain('list etl');
  });
});
