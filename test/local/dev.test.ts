import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { runDev } from '../../local/dev';

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
