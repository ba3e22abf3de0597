/**
 * Executions on disk (with a data dir): one JSON file per execution, rewritten atomically at
 * start, at end and when its ECS processes change, so DescribeExecution/GetExecutionHistory
 * work after a restart and executions left RUNNING by a dead runtime can be resolved.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export type ExecutionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';

/** A Step Functions history event as GetExecutionHistory returns it (timestamp in epoch ms here). */
export interface HistoryEvent {
  readonly id: number;
  readonly previousEventId: number;
  readonly timestamp: number;
  readonly type: string;
  readonly [details: string]: unknown;
}

/** Processes of an execution's ECS tasks, to recognise (and kill) orphans after a restart. */
export interface EcsProcessRecord {
  readonly taskArn: string;
  readonly pid: number;
  readonly command: readonly string[];
}

export interface ExecutionRecord {
  readonly executionArn: string;
  readonly stateMachineArn: string;
  readonly name: string;
  status: ExecutionStatus;
  /** JSON text. */
  readonly input: string;
  output?: string;
  error?: string;
  cause?: string;
  /** Epoch ms. */
  readonly startDate: number;
  stopDate?: number;
  history: HistoryEvent[];
  ecsProcesses: EcsProcessRecord[];
}

export class ExecutionStore {
  private readonly dir: string | undefined;

  public constructor(dataDir: string | undefined) {
    this.dir = dataDir ? join(dataDir, 'stepfunctions', 'executions') : undefined;
    if (this.dir) mkdirSync(this.dir, { recursive: true });
  }

  public get persistent(): boolean {
    return this.dir !== undefined;
  }

  public load(): ExecutionRecord[] {
    if (!this.dir) return [];
    const out: ExecutionRecord[] = [];
    for (const file of readdirSync(this.dir)) {
      if (!file.endsWith('.json')) continue;
      try {
        const rec = JSON.parse(readFileSync(join(this.dir, file), 'utf8')) as ExecutionRecord;
        if (typeof rec.executionArn === 'string' && typeof rec.status === 'string') {
          rec.history ??= [];
          rec.ecsProcesses ??= [];
          out.push(rec);
        }
      } catch {
        // a torn or foreign file: skip it
      }
    }
    return out;
  }

  public save(rec: ExecutionRecord): void {
    if (!this.dir) return;
    const name = `${createHash('sha1').update(rec.executionArn).digest('hex')}.json`;
    const tmp = join(this.dir, `.${name}.${process.pid}.tmp`);
    writeFileSync(tmp, JSON.stringify(rec));
    renameSync(tmp, join(this.dir, name));
  }
}
