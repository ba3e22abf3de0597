/**
 * Runs the Python suites (test/python: runtime helper, ffmpeg worker, sql-log-analysis worker)
 * so `npm test` covers them. Python 3.11+ standard library only; the ffmpeg worker tests use the
 * static ffmpeg of @ffmpeg-installer.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const FFMPEG = path.join(ROOT, 'node_modules', '@ffmpeg-installer', 'linux-x64', 'ffmpeg');

describe('python workers and runtime helper', () => {
  it('pass their unittest suites', () => {
    const result = spawnSync('python3', ['-m', 'unittest', 'discover', '-s', 'test/python', '-t', 'test/python'], {
      cwd: ROOT,
      env: { ...process.env, FFMPEG_PATH: process.env.FFMPEG_PATH ?? FFMPEG, PYTHONDONTWRITEBYTECODE: '1' },
      encoding: 'utf8',
      timeout: 120_000,
    });
    if (result.error) throw result.error;
    // unittest reports on stderr; show it when something failed.
    expect({ status: result.status, output: result.status === 0 ? '' : `${result.stdout}\n${result.stderr}` }).toEqual({
      status: 0,
      output: '',
    });
    expect(result.stderr).toMatch(/Ran \d+ tests/);
    // With the bundled ffmpeg present, the transcode suites must really run.
    if (fs.existsSync(FFMPEG)) expect(result.stderr).not.toMatch(/skipped=/);
  }, 150_000);
});
