import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
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
