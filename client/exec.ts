/**
 * `asynctask exec`: a shell, or one command, inside a running container task. On AWS through
 * ECS Exec (`aws ecs execute-command`, which needs the AWS CLI v2 and the Session Manager
 * plugin on PATH); on a local runtime as a process on this machine with the container's working
 * directory and environment (the local ECS task is a process group here too).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { AsyncTaskError, type ExecResult } from '../lambda/model';
import type { AsyncTaskClient } from './client';

/** The executables ECS Exec needs, and where to get them. */
export const ECS_EXEC_TOOLS = [
  { name: 'aws', what: 'the AWS CLI v2', url: 'https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html' },
  {
    name: 'session-manager-plugin',
    what: 'the Session Manager plugin',
    url: 'https://docs.aws.amazon.com/systems-manager/latest/userguide/session-manager-working-with-install-plugin.html',
  },
] as const;

/** An executable on PATH, or undefined. */
export function onPath(name: string, pathVar: string = process.env.PATH ?? ''): string | undefined {
  const exts = process.platform === 'win32' ? ['.exe', '.cmd', ''] : [''];
  for (const dir of pathVar.split(path.delimiter)) {
    if (!dir) continue;
    for (const ext of exts) {
      const file = path.join(dir, name + ext);
      if (existsSync(file)) return file;
    }
  }
  return undefined;
}

/** Quotes words for `sh -c` (ECS Exec takes one command string). */
export function shellJoin(words: readonly string[]): string {
  return words.map((w) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`)).join(' ');
}

function wait(child: ReturnType<typeof spawn>): Promise<number> {
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}

/** Runs `command` (or an interactive sh) in the task; resolves with its exit code. */
export async function runExec(
  client: AsyncTaskClient,
  target: ExecResult,
  command: readonly string[],
  options: { readonly region?: string } = {},
): Promise<number> {
  if (client.endpoint) {
    const local = await client.localExecTarget(target);
    const args = command.length > 0 ? ['-c', shellJoin(command)] : ['-i'];
    return wait(spawn('sh', args, { cwd: local.cwd, env: local.environment, stdio: 'inherit' }));
  }
  const missing = ECS_EXEC_TOOLS.filter((t) => !onPath(t.name));
  if (missing.length > 0) {
    throw new AsyncTaskError(
      `exec on AWS runs 'aws ecs execute-command', which needs ${missing.map((t) => `${t.what} ('${t.name}', ${t.url})`).join(' and ')} on PATH; install ${missing.length > 1 ? 'them' : 'it'} and try again`,
    );
  }
  const args = [
    'ecs',
    'execute-command',
    '--cluster',
    target.cluster,
    '--task',
    target.taskArn,
    '--container',
    target.container,
    '--interactive',
    '--command',
    command.length > 0 ? `sh -c ${shellJoin([shellJoin(command)])}` : 'sh',
    ...(options.region ? ['--region', options.region] : []),
  ];
  return wait(spawn('aws', args, { stdio: 'inherit' }));
}
