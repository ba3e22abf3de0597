/**
 * `asynctask dev [--port N] [--data-dir DIR] [--synth]`: (optionally synthesizes the app, then)
 * runs cdk.out on this machine, prints the endpoint, the task functions and an example
 * command, and stays up until SIGINT/SIGTERM.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { type LocalRuntime, startRuntime } from './runtime';
import { TemplateError } from './template';

export interface RunDevOptions {
  readonly port: number;
  readonly dataDir?: string;
  readonly synth: boolean;
  readonly cwd: string;
  /** Stack to run (default: the assembly's only stack). */
  readonly stackName?: string;
}

const isTty = Boolean(process.stderr.isTTY);

/** `npx cdk synth --quiet` in `cwd`, with an elapsed-time line on stderr. Resolves to its exit code. */
export function synthesize(cwd: string): Promise<number> {
  return new Promise((resolve) => {
    const started = Date.now();
    const frames = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
    let i = 0;
    let output = '';
    const line = () => `${frames[i++ % frames.length]} synthesizing the app (cdk synth) … ${((Date.now() - started) / 1000).toFixed(0)} s`;
    const timer = setInterval(
      () => {
        if (isTty) process.stderr.write(`\r${line()}`);
        else process.stderr.write(`  still synthesizing … ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
      },
      isTty ? 100 : 10_000,
    );
    process.stderr.write(isTty ? line() : 'synthesizing the app (cdk synth) …\n');
    const child = spawn('npx', ['cdk', 'synth', '--quiet'], { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      output += d.toString();
    });
    const done = (code: number) => {
      clearInterval(timer);
      const secs = ((Date.now() - started) / 1000).toFixed(1);
      if (isTty) process.stderr.write('\r\x1b[K');
      if (code === 0) process.stderr.write(`synthesized in ${secs} s\n`);
      else process.stderr.write(`cdk synth failed (exit ${code}) after ${secs} s:\n${output.trim()}\n`);
      resolve(code);
    };
    child.on('error', (error) => {
      output += `\n${error.message}`;
      done(127);
    });
    child.on('exit', (code) => done(code ?? 1));
  });
}

function banner(rt: LocalRuntime, dataDir?: string): string {
  const lines = [
    '',
    `asynctask local runtime — stack ${rt.stackName}`,
    `  endpoint   ${rt.endpoint}`,
    `  state      ${dataDir ? `kept in ${dataDir}` : 'in memory (use --data-dir DIR to keep it)'}`,
    '',
  ];
  if (rt.functions.length === 0) lines.push('  task functions: none found (no TaskApi with ASYNCTASK_REGISTRY_PATH, or no registry parameters under it)');
  else {
    lines.push('  task functions:');
    const width = Math.max(...rt.functions.map((f) => f.name.length));
    for (const f of rt.functions) {
      lines.push(
        `    ${f.name.padEnd(width)}  ${f.kind.padEnd(9)}  retries ${f.maxRetryAttempts}, timeout ${f.timeoutSeconds} s${
          f.maxConcurrency ? `, maxConcurrency ${f.maxConcurrency}` : ''
        }${f.description ? `  — ${f.description}` : ''}`,
      );
    }
  }
  for (const n of rt.notes) lines.push(`  note: ${n}`);
  const example = rt.functions.find((f) => f.name === 'etl') ?? rt.functions[0];
  const payload = example?.name === 'etl' ? `'[{"topic":"orders","partition":0,"offset":1,"timestamp":1764072000000,"key":"o-1","value":"hello"}]'` : `'{}'`;
  lines.push(
    '',
    'try:',
    `  ASYNCTASK_ENDPOINT=${rt.endpoint} npx asynctask invoke ${example?.name ?? '<function>'} --payload ${payload} --wait`,
    '',
    'Ctrl-C stops it.',
    '',
  );
  return lines.join('\n');
}

export async function runDev(options: RunDevOptions): Promise<number> {
  if (options.synth) {
    const code = await synthesize(options.cwd);
    if (code !== 0) return code === 127 ? 1 : code;
  }
  const cdkOut = path.join(options.cwd, 'cdk.out');
  let rt: LocalRuntime;
  try {
    rt = await startRuntime({
      cdkOut,
      port: options.port,
      projectRoot: options.cwd,
      ...(options.dataDir ? { dataDir: options.dataDir } : {}),
      ...(options.stackName ? { stackName: options.stackName } : {}),
    });
  } catch (error) {
    const e = error as Error;
    process.stderr.write(`asynctask dev: ${e instanceof TemplateError || e.message.includes('already in use') ? e.message : e.stack ?? e.message}\n`);
    return 1;
  }
  process.stdout.write(banner(rt, options.dataDir));
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) {
        process.stderr.write('asynctask dev: stopping is in progress (a second signal does not hurry it)\n');
        return;
      }
      stopping = true;
      process.stderr.write(`\nasynctask dev: ${signal}, stopping …\n`);
      rt.stop().then(
        () => {
          process.stderr.write('asynctask dev: stopped\n');
          resolve(0);
        },
        (error: Error) => {
          process.stderr.write(`asynctask dev: stop failed: ${error.message}\n`);
          resolve(1);
        },
      );
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
}
