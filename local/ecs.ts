/**
 * ECS RunTask, locally: each container of a task definition runs as a local process (the
 * `asynctask:local` command of the container) in its own process group, with the container's
 * environment, the RunTask overrides and the edge endpoint. Used by the Step Functions
 * emulation for `arn:aws:states:::ecs:runTask.sync`.
 *
 * Stopping a task (StopExecution, a state timeout, runtime shutdown) kills the whole process
 * group: SIGTERM, then SIGKILL after the grace period (≤ 4 s), and resolves once no live member
 * of the group is left.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { LOCAL_ENV, LOG_ENV } from '../lambda/model/execution';
import type { LocalContainer, LocalTaskDefinition, LogSink } from './types';

/** How long a stopped task gets between SIGTERM and SIGKILL. */
export const DEFAULT_KILL_GRACE_MS = 3000;
const MAX_KILL_GRACE_MS = 4000;

export interface LocalEcsDeps {
  /** Edge URL given to the processes as AWS_ENDPOINT_URL. */
  readonly endpoint: string;
  readonly region: string;
  readonly accountId: string;
  readonly taskDefinitions: ReadonlyMap<string, LocalTaskDefinition>;
  readonly logs: LogSink;
  /**
   * When the edge serves the ECS task metadata endpoint: the `ECS_CONTAINER_METADATA_URI_V4`
   * value for a task's container. Without it the variable is not set (the runtime helper falls
   * back to `ASYNCTASK_LOCAL_TASK_ARN`).
   */
  readonly metadataUri?: (task: LocalEcsTaskInfo, containerName: string) => string | undefined;
  /** SIGTERM → SIGKILL grace, default 3000 ms, at most 4000 ms. */
  readonly killGraceMs?: number;
  /** Base environment of the processes (default: this process's, without AWS_* variables). */
  readonly baseEnv?: Record<string, string | undefined>;
}

/** The RunTask request (Step Functions passes the API's PascalCase parameters). */
export interface RunTaskParameters {
  readonly TaskDefinition?: string;
  readonly Cluster?: string;
  readonly LaunchType?: string;
  readonly StartedBy?: string;
  readonly Group?: string;
  readonly Overrides?: {
    readonly ContainerOverrides?: readonly {
      readonly Name?: string;
      readonly Environment?: readonly { readonly Name?: string; readonly Value?: string }[];
      readonly Command?: readonly string[];
    }[];
  };
  readonly [other: string]: unknown;
}

/** A live (or finished) local ECS task. */
export interface LocalEcsTaskInfo {
  readonly taskArn: string;
  /** The 32-hex id at the end of the task ARN (used in log stream names). */
  readonly localTaskId: string;
  readonly clusterArn: string;
  readonly taskDefinitionArn: string;
  readonly family: string;
  /** Execution that started it, when started by Step Functions. */
  readonly executionArn?: string;
  readonly createdAt: number;
  readonly containers: readonly LocalEcsContainerInfo[];
}

/** A live container's working directory and environment (`LocalEcs.execTarget`). */
export interface ExecTarget {
  readonly taskArn: string;
  readonly container: string;
  readonly cwd: string;
  readonly environment: Record<string, string>;
}

export interface LocalEcsContainerInfo {
  readonly name: string;
  /** Process id = process group id (the process is started detached). Undefined if it could not start. */
  readonly pid?: number;
  readonly command: readonly string[];
  readonly logGroupName: string;
  readonly logStreamName: string;
}

/** ECS DescribeTasks' task, as `ecs:runTask.sync` returns it (PascalCase, epoch ms times). */
export interface EcsTaskDescription {
  readonly TaskArn: string;
  readonly ClusterArn: string;
  readonly TaskDefinitionArn: string;
  readonly LastStatus: 'STOPPED';
  readonly DesiredStatus: 'STOPPED';
  readonly StopCode: 'EssentialContainerExited' | 'UserInitiated' | 'TaskFailedToStart';
  readonly StoppedReason: string;
  readonly Containers: readonly {
    readonly ContainerArn: string;
    readonly TaskArn: string;
    readonly Name: string;
    readonly LastStatus: 'STOPPED';
    readonly ExitCode?: number;
    readonly Reason?: string;
  }[];
  readonly [other: string]: unknown;
}

export interface LocalEcsRun {
  readonly task: LocalEcsTaskInfo;
  /** Resolves when every container has stopped (never rejects). */
  readonly done: Promise<EcsTaskDescription>;
  /** Kills every container's process group (SIGTERM, then SIGKILL); resolves when they are gone. */
  stop(reason?: string): Promise<void>;
}

/** Thrown by `run` for a RunTask the local runtime cannot start (Step Functions: `ECS.<name>`). */
export class EcsError extends Error {
  public override name: string;
  public constructor(name: string, message: string) {
    super(message);
    this.name = name;
  }
}

interface RunningContainer {
  readonly info: LocalEcsContainerInfo;
  readonly child?: ChildProcess;
  /** What the process was started with: where `asynctask exec` runs a command (execTarget). */
  readonly cwd?: string;
  readonly env?: Readonly<Record<string, string>>;
  exitCode?: number;
  reason?: string;
  readonly exited: Promise<void>;
}

interface LiveTask {
  readonly info: LocalEcsTaskInfo;
  readonly containers: RunningContainer[];
  stopReason?: string;
  stopping?: Promise<void>;
}

/** Finds a task definition by ARN, `family:revision` or family. */
export function findTaskDefinition(
  taskDefinitions: ReadonlyMap<string, LocalTaskDefinition>,
  ref: string,
): LocalTaskDefinition | undefined {
  const exact = taskDefinitions.get(ref);
  if (exact) return exact;
  const tail = ref.includes(':task-definition/') ? ref.slice(ref.indexOf(':task-definition/') + 17) : ref;
  const family = tail.split(':')[0];
  for (const td of taskDefinitions.values()) {
    if (td.arn === ref || td.family === tail || td.family === family || td.arn.endsWith(`:task-definition/${tail}`)) {
      return td;
    }
  }
  return undefined;
}

export class LocalEcs {
  private readonly deps: LocalEcsDeps;
  private readonly live = new Map<string, LiveTask>();
  private readonly graceMs: number;

  public constructor(deps: LocalEcsDeps) {
    this.deps = deps;
    this.graceMs = Math.min(Math.max(deps.killGraceMs ?? DEFAULT_KILL_GRACE_MS, 0), MAX_KILL_GRACE_MS);
  }

  /** Starts a task. Throws `EcsError` (InvalidParameterException) for an unknown task definition. */
  public run(params: RunTaskParameters, options: { executionArn?: string } = {}): LocalEcsRun {
    const ref = params.TaskDefinition;
    if (typeof ref !== 'string' || ref === '') {
      throw new EcsError('InvalidParameterException', 'TaskDefinition is required.');
    }
    const td = findTaskDefinition(this.deps.taskDefinitions, ref);
    if (!td) throw new EcsError('InvalidParameterException', `TaskDefinition not found: ${ref}`);
    if (td.containers.length === 0) {
      throw new EcsError('InvalidParameterException', `Task definition ${td.arn} has no container the local runtime can run.`);
    }
    const { region, accountId } = this.deps;
    const clusterRef = typeof params.Cluster === 'string' && params.Cluster !== '' ? params.Cluster : 'default';
    const clusterName = clusterRef.includes(':cluster/') ? clusterRef.slice(clusterRef.indexOf(':cluster/') + 9) : clusterRef;
    const clusterArn = `arn:aws:ecs:${region}:${accountId}:cluster/${clusterName}`;
    const localTaskId = randomBytes(16).toString('hex');
    const taskArn = `arn:aws:ecs:${region}:${accountId}:task/${clusterName}/${localTaskId}`;
    const overrides = params.Overrides?.ContainerOverrides ?? [];

    const containerInfos: LocalEcsContainerInfo[] = td.containers.map((c) => {
      const override = overrides.find((o) => o.Name === c.name);
      const command = override?.Command && override.Command.length > 0 ? [...override.Command] : [...c.command];
      const prefix = c.logStreamPrefix;
      return {
        name: c.name,
        command,
        logGroupName: c.logGroupName ?? `/asynctask/local/ecs/${td.family}`,
        logStreamName: prefix ? `${prefix}/${c.name}/${localTaskId}` : `${c.name}/${localTaskId}`,
      };
    });
    const baseInfo: LocalEcsTaskInfo = {
      taskArn,
      localTaskId,
      clusterArn,
      taskDefinitionArn: td.arn,
      family: td.family,
      executionArn: options.executionArn,
      createdAt: Date.now(),
      containers: containerInfos,
    };

    const running: RunningContainer[] = td.containers.map((c, i) =>
      this.startContainer(baseInfo, c, containerInfos[i], overrides.find((o) => o.Name === c.name)?.Environment ?? []),
    );
    const info: LocalEcsTaskInfo = { ...baseInfo, containers: running.map((r) => r.info) };
    const task: LiveTask = { info, containers: running };
    this.live.set(taskArn, task);

    const done = (async (): Promise<EcsTaskDescription> => {
      // A task stops when its (essential) containers have exited; then whatever is left of the
      // process groups goes too, as it would with the container.
      await Promise.all(running.map((r) => r.exited));
      await Promise.all(running.map((r) => (r.child?.pid ? killGroup(r.child.pid, 0) : undefined)));
      this.live.delete(taskArn);
      return describe(task, params);
    })();

    return {
      task: info,
      done,
      stop: (reason?: string) => this.stopTask(task, reason ?? 'Task stopped by user'),
    };
  }

  /** Live local ECS tasks (for tests and the metadata endpoint). */
  public list(): LocalEcsTaskInfo[] {
    return [...this.live.values()].map((t) => t.info);
  }

  /** A live task by ARN or id. */
  public get(taskArnOrId: string): LocalEcsTaskInfo | undefined {
    for (const t of this.live.values()) {
      if (t.info.taskArn === taskArnOrId || t.info.localTaskId === taskArnOrId) return t.info;
    }
    return undefined;
  }

  /**
   * Where a command runs "inside" a live task's container (ECS Exec, locally: `asynctask exec`):
   * the container process's working directory and environment. Undefined when the task is not
   * live or has no such running container.
   */
  public execTarget(taskArnOrId: string, containerName?: string): ExecTarget | undefined {
    for (const t of this.live.values()) {
      if (t.info.taskArn !== taskArnOrId && t.info.localTaskId !== taskArnOrId) continue;
      const c = t.containers.find(
        (r) => (containerName === undefined || r.info.name === containerName) && r.child && r.exitCode === undefined,
      );
      if (!c?.cwd || !c.env) return undefined;
      return { taskArn: t.info.taskArn, container: c.info.name, cwd: c.cwd, environment: { ...c.env } };
    }
    return undefined;
  }

  /** Stops one task by ARN or id (no-op when it is not live). */
  public async stop(taskArnOrId: string, reason = 'Task stopped by user'): Promise<void> {
    for (const t of this.live.values()) {
      if (t.info.taskArn === taskArnOrId || t.info.localTaskId === taskArnOrId) await this.stopTask(t, reason);
    }
  }

  /** Stops every live task (runtime shutdown). */
  public async stopAll(reason = 'Local runtime shutting down'): Promise<void> {
    await Promise.all([...this.live.values()].map((t) => this.stopTask(t, reason)));
  }

  private stopTask(task: LiveTask, reason: string): Promise<void> {
    if (!task.stopping) {
      task.stopReason = reason;
      task.stopping = Promise.all(
        task.containers.map(async (c) => {
          if (c.child?.pid) await killGroup(c.child.pid, this.graceMs);
          await c.exited;
        }),
      ).then(() => undefined);
    }
    return task.stopping;
  }

  private startContainer(
    task: LocalEcsTaskInfo,
    container: LocalContainer,
    info: LocalEcsContainerInfo,
    overrideEnv: readonly { readonly Name?: string; readonly Value?: string }[],
  ): RunningContainer {
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(this.deps.baseEnv ?? process.env)) {
      if (v !== undefined && !k.startsWith('AWS_') && k !== 'ECS_CONTAINER_METADATA_URI_V4') env[k] = v;
    }
    Object.assign(env, container.environment);
    for (const e of overrideEnv) if (e.Name) env[e.Name] = e.Value ?? '';
    Object.assign(env, {
      AWS_ENDPOINT_URL: this.deps.endpoint,
      AWS_REGION: this.deps.region,
      AWS_DEFAULT_REGION: this.deps.region,
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      [LOCAL_ENV.taskArn]: task.taskArn,
      [LOG_ENV.containerName]: container.name,
      [LOG_ENV.streamPrefix]: container.logStreamPrefix ?? '',
      TASK_LOG_GROUP: info.logGroupName,
      [LOG_ENV.stream]: info.logStreamName,
    });
    const metadata = this.deps.metadataUri?.(task, container.name);
    if (metadata) env.ECS_CONTAINER_METADATA_URI_V4 = metadata;

    const log = (lines: string[]): void => {
      try {
        this.deps.logs.append(info.logGroupName, info.logStreamName, lines, Date.now());
      } catch {
        // logging must never break the task
      }
    };

    if (info.command.length === 0) {
      const reason = `CannotStartContainerError: container ${container.name} has no local command (asynctask:local metadata)`;
      log([reason]);
      return { info, reason, exited: Promise.resolve() };
    }

    let child: ChildProcess;
    try {
      child = spawn(info.command[0], info.command.slice(1), {
        cwd: container.cwd,
        env,
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    } catch (e) {
      const reason = `CannotStartContainerError: ${(e as Error).message}`;
      log([reason]);
      return { info, reason, exited: Promise.resolve() };
    }
    const started: RunningContainer = {
      info: { ...info, pid: child.pid },
      child,
      cwd: container.cwd,
      env,
      exited: new Promise<void>((resolve) => {
        let closed = false;
        const finish = (code: number | null, signal: NodeJS.Signals | null, error?: Error): void => {
          if (closed) return;
          closed = true;
          if (error) {
            started.reason = `CannotStartContainerError: ${error.message}`;
            log([started.reason]);
          } else {
            started.exitCode = code ?? 128 + signalNumber(signal);
            if (signal) started.reason = `killed by ${signal}`;
          }
          resolve();
        };
        child.once('error', (e) => finish(null, null, e));
        // Exit code from 'exit'; give the pipes a moment to deliver the last log lines ('close'),
        // without waiting for grandchildren that may hold them open.
        child.once('exit', (code, signal) => {
          const t = setTimeout(() => finish(code, signal), 250);
          child.once('close', () => {
            clearTimeout(t);
            finish(code, signal);
          });
        });
      }),
    };
    for (const stream of [child.stdout, child.stderr]) {
      if (!stream) continue;
      const rl = createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY });
      rl.on('line', (line) => log([line]));
    }
    return started;
  }
}

function describe(task: LiveTask, params: RunTaskParameters): EcsTaskDescription {
  const { info } = task;
  const failedToStart = task.containers.some((c) => c.exitCode === undefined);
  const stopCode = task.stopReason ? 'UserInitiated' : failedToStart ? 'TaskFailedToStart' : 'EssentialContainerExited';
  const now = Date.now();
  return {
    Attachments: [],
    Attributes: [],
    AvailabilityZone: 'local',
    ClusterArn: info.clusterArn,
    Connectivity: 'CONNECTED',
    Containers: task.containers.map((c, i) => ({
      ContainerArn: `arn:aws:ecs:${info.clusterArn.split(':')[3]}:${info.clusterArn.split(':')[4]}:container/${info.localTaskId}/${i}`,
      TaskArn: info.taskArn,
      Name: c.info.name,
      LastStatus: 'STOPPED' as const,
      ...(c.exitCode !== undefined ? { ExitCode: c.exitCode } : {}),
      ...(c.reason ? { Reason: c.reason } : {}),
      NetworkInterfaces: [],
    })),
    CreatedAt: info.createdAt,
    DesiredStatus: 'STOPPED',
    Group: params.Group ?? `family:${info.family}`,
    LastStatus: 'STOPPED',
    LaunchType: params.LaunchType ?? 'FARGATE',
    Overrides: {
      ContainerOverrides: params.Overrides?.ContainerOverrides ?? [],
      InferenceAcceleratorOverrides: [],
    },
    ...(params.StartedBy ? { StartedBy: params.StartedBy } : {}),
    StartedAt: info.createdAt,
    StopCode: stopCode,
    StoppedAt: now,
    StoppedReason: task.stopReason ?? (failedToStart ? 'Task failed to start' : 'Essential container in task exited'),
    StoppingAt: now,
    TaskArn: info.taskArn,
    TaskDefinitionArn: info.taskDefinitionArn,
    Version: 1,
  };
}

const SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15 };
function signalNumber(signal: NodeJS.Signals | null): number {
  return signal ? (SIGNALS[signal] ?? 0) : 0;
}

/**
 * Pids of the live (non-zombie) members of a process group. On Linux from /proc; elsewhere a
 * signal-0 probe (which cannot tell zombies apart).
 */
export function processGroupMembers(pgid: number): number[] {
  try {
    const members: number[] = [];
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      let stat: string;
      try {
        stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      } catch {
        continue;
      }
      // pid (comm) state ppid pgrp ...; comm may contain spaces and parentheses.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) === pgid && fields[0] !== 'Z' && fields[0] !== 'X') members.push(Number(entry));
    }
    return members;
  } catch {
    try {
      process.kill(-pgid, 0);
      return [pgid];
    } catch {
      return [];
    }
  }
}

/** True while a process exists and is not a zombie. */
export function processAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
    return state !== 'Z' && state !== 'X';
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  }
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // already gone
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Kills a process group: SIGTERM, then SIGKILL after `graceMs` (0 = SIGKILL at once); resolves
 * when no live member is left (or after a further second, whatever happens).
 */
export async function killGroup(pgid: number, graceMs: number): Promise<void> {
  if (processGroupMembers(pgid).length === 0) return;
  if (graceMs > 0) {
    signalGroup(pgid, 'SIGTERM');
    const deadline = Date.now() + graceMs;
    while (Date.now() < deadline) {
      await sleep(50);
      if (processGroupMembers(pgid).length === 0) return;
    }
  }
  signalGroup(pgid, 'SIGKILL');
  const deadline = Date.now() + 1000;
  while (Date.now() < deadline && processGroupMembers(pgid).length > 0) {
    await sleep(25);
    signalGroup(pgid, 'SIGKILL');
  }
}

/**
 * Whether a live process carries `ASYNCTASK_LOCAL_TASK_ARN=<taskArn>` in its environment (Linux):
 * our container process even when its command was exec'd through a shim (pyenv's `python3`,
 * `/usr/bin/env`, `npx`), whose command line then differs from the one spawned.
 */
export function processHasTaskArn(pid: number, taskArn: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(`${LOCAL_ENV.taskArn}=${taskArn}`);
  } catch {
    return false;
  }
}

/** The command line of a live process (Linux), to recognise our own orphans after a restart. */
export function processCommandLine(pid: number): string[] | undefined {
  try {
    const raw = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return raw.split('\0').filter((s) => s !== '');
  } catch {
    return undefined;
  }
}
