/**
 * Synthesizes the end-to-end fixture app (test/e2e/fixture/app.ts), the example app
 * (bin/app.ts) and the 100-function app (test/e2e/fixture/many-functions.ts) the way `cdk synth` does — `CDK_OUTDIR`, `CDK_CONTEXT_JSON` with cdk.json's
 * context, bundling on — into a temporary cloud assembly, once: the result is cached under the
 * OS temp dir by a hash of every source it is built from, so the test files of one `npm test`
 * run (and later runs with unchanged sources) share it. Concurrent callers (jest workers)
 * serialize on a lock directory.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const PROJECT_ROOT = path.resolve(__dirname, '..', '..');

export interface AppSpec {
  /** The app's entry, relative to the project root. */
  readonly entry: string;
  readonly stackName: string;
}

export const APPS = {
  fixture: { entry: 'test/e2e/fixture/app.ts', stackName: 'AsyncTaskE2E' },
  demo: { entry: 'bin/app.ts', stackName: 'AsyncTaskDemo' },
  manyFunctions: { entry: 'test/e2e/fixture/many-functions.ts', stackName: 'AsyncTaskService' },
} as const satisfies Record<string, AppSpec>;
export type AppName = keyof typeof APPS;

/** Sources every synthesized assembly depends on (folders are walked, `__pycache__` skipped). */
const INPUTS = [
  'lib',
  'lambda',
  'runtime',
  'containers',
  'examples',
  'bin/app.ts',
  'test/e2e/fixture',
  'test/constructs/many-functions-app.ts',
  'test/constructs/app.ts',
  'cdk.json',
  'package-lock.json',
];
const LOCK_STALE_MS = 5 * 60_000;
const SYNTH_TIMEOUT_MS = 4 * 60_000;

function walk(file: string, out: string[]): void {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch {
    return;
  }
  if (stat.isDirectory()) {
    const name = path.basename(file);
    if (name === '__pycache__' || name === 'node_modules' || name.startsWith('.')) return;
    for (const entry of fs.readdirSync(file).sort()) walk(path.join(file, entry), out);
  } else if (stat.isFile()) {
    out.push(file);
  }
}

/** Hash of the app's inputs: the cache key of its assembly. */
export function sourceHash(app: AppName): string {
  const files: string[] = [];
  for (const input of INPUTS) walk(path.join(PROJECT_ROOT, input), files);
  const hash = createHash('sha256').update(APPS[app].entry).update(JSON.stringify(cdkContext()));
  for (const file of files) {
    hash.update(path.relative(PROJECT_ROOT, file));
    hash.update(fs.readFileSync(file));
  }
  return hash.digest('hex').slice(0, 16);
}

/**
 * cdk.json's context plus what the CDK CLI adds to every synth: asset metadata (the local
 * runtime finds each Lambda bundle through `aws:asset:path`) and path metadata.
 */
export function cdkContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, 'cdk.json'), 'utf8')) as {
    context?: Record<string, unknown>;
  };
  return { ...cdkJson.context, 'aws:cdk:enable-asset-metadata': true, 'aws:cdk:enable-path-metadata': true };
}

/**
 * Synthesizes the CDK app `entry` (relative to the project root) into `outdir` as `cdk synth`
 * does: `CDK_OUTDIR`, `CDK_CONTEXT_JSON` with cdk.json's context (plus `context`), bundling on.
 */
export function synthApp(entry: string, outdir: string, context: Record<string, unknown> = {}): Promise<void> {
  const tsx = path.join(PROJECT_ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [tsx, entry], {
      cwd: PROJECT_ROOT,
      env: { ...process.env, CDK_OUTDIR: outdir, CDK_CONTEXT_JSON: JSON.stringify({ ...cdkContext(), ...context }) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      output += d.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), SYNTH_TIMEOUT_MS);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`synthesizing ${entry} failed (exit ${code ?? signal}):\n${output.slice(-4000)}`));
    });
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const PRUNE_AFTER_MS = 60 * 60_000;

/** Removes assemblies of `app` built from older sources (unused for an hour). */
function prune(root: string, app: AppName, keep: string): void {
  for (const name of fs.readdirSync(root)) {
    const file = path.join(root, name);
    if (file === keep || !name.startsWith(`${app}-`) || name.endsWith('.lock')) continue;
    try {
      if (Date.now() - fs.statSync(file).mtimeMs > PRUNE_AFTER_MS) fs.rmSync(file, { recursive: true, force: true });
    } catch {
      // Removed by someone else meanwhile.
    }
  }
}

function completeMarker(dir: string): string {
  return path.join(dir, '.e2e-complete');
}

/**
 * The cloud assembly directory of `app`, synthesized if no cached one matches its sources.
 * `ASYNCTASK_E2E_CDK_OUT_<APP>` (e.g. `ASYNCTASK_E2E_CDK_OUT_FIXTURE`) overrides it.
 */
export async function synthesize(app: AppName): Promise<string> {
  const override = process.env[`ASYNCTASK_E2E_CDK_OUT_${app.toUpperCase()}`];
  if (override) return override;
  const root = path.join(os.tmpdir(), 'asynctask-e2e-synth');
  fs.mkdirSync(root, { recursive: true });
  const dir = path.join(root, `${app}-${sourceHash(app)}`);
  const lock = `${dir}.lock`;
  for (;;) {
    if (fs.existsSync(completeMarker(dir))) return dir;
    try {
      fs.mkdirSync(lock);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      // Someone else is synthesizing: wait, unless their lock is stale.
      try {
        if (Date.now() - fs.statSync(lock).mtimeMs > LOCK_STALE_MS) fs.rmSync(lock, { recursive: true, force: true });
      } catch {
        // The lock went away meanwhile.
      }
      await sleep(250);
      continue;
    }
    try {
      if (fs.existsSync(completeMarker(dir))) return dir;
      fs.rmSync(dir, { recursive: true, force: true });
      const tmp = `${dir}.tmp-${process.pid}`;
      fs.rmSync(tmp, { recursive: true, force: true });
      await synthApp(APPS[app].entry, tmp);
      fs.writeFileSync(completeMarker(tmp), new Date().toISOString());
      fs.renameSync(tmp, dir);
      prune(root, app, dir);
      return dir;
    } finally {
      fs.rmSync(lock, { recursive: true, force: true });
    }
  }
}

if (require.main === module) {
  const names = (process.argv.slice(2).length > 0 ? process.argv.slice(2) : Object.keys(APPS)) as AppName[];
  Promise.all(names.map(async (name) => `${name}: ${await synthesize(name)}`)).then(
    (lines) => process.stdout.write(`${lines.join('\n')}\n`),
    (error: unknown) => {
      process.stderr.write(`${(error as Error).message}\n`);
      process.exitCode = 1;
    },
  );
}
