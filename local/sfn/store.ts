/**
 * Executions on disk (with a data dir): one JSON file per execution, rewritten atomically
 * (tmp + rename) at start, on every state transition (before the state runs), at end and when
 * its ECS processes change, so DescribeExecution/GetExecutionHistory work after a restart and
 * an execution left RUNNING by a dead runtime can go on from the state it was in.
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

/** The state a RUNNING execution is in (top-level states only), saved before it runs. */
export interface ExecutionStep {
  readonly state: string;
  /** The state's raw input, JSON text. */
  readonly input: string;
  /** Epoch ms: a Wait re-entered after a restart keeps its original end time. */
  readonly enteredAt: number;
  /** Transitions so far: names the step's side effects (SQS idempotency key). */
  readonly seq: number;
  /**
   * DynamoDB write states: the item as it was before the write (null: absent), read and saved
   * before writing, so a re-run after a restart can tell whether the write was already applied.
   */
  preImage?: Record<string, unknown> | null;
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
  /**
   * Ended executions: false until their status-change event was delivered to every target (then
   * true); one still false at start-up is published again. Absent in older records.
   */
  eventDelivered?: boolean;
  /** RUNNING executions: where they are. Absent in records written before steps were saved. */
  step?: ExecutionStep;
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
