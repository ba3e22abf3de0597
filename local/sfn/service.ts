/**
 * Step Functions on the local runtime: the edge routes `X-Amz-Target: AWSStepFunctions.<Op>`
 * here. Executions run the synthesized definitions with aws-local-stepfunctions; Task states go
 * to the local backends (`./tasks`), ECS tasks are local processes (`../ecs`). Every execution
 * end publishes the "Step Functions Execution Status Change" event, once.
 *
 * With a data dir each execution's step (the state it entered, with its input) is on disk before
 * the state runs; an execution a killed runtime left RUNNING goes on at start-up from that step:
 * a runner state (see `isRunnerState`) fails its interrupted attempt, so the definition's own
 * Retry/Catch run the next attempt, as when a container dies on AWS; any other state runs again
 * from its saved input (a Wait keeps its original end time).
 */
import { randomUUID } from 'node:crypto';
import { ExecutionAbortedError, ExecutionError, ExecutionTimeoutError, StateMachine } from 'aws-local-stepfunctions';
import { executionArn as buildExecutionArn } from '../../lambda/model/execution';
import type { DirectDynamoDb } from '../dynalite';
import { LocalEcs, type LocalEcsTaskInfo, processCommandLine, processHasTaskArn } from '../ecs';
import { AwsError, type EventPublisher, type JsonService, type LambdaInvoker, type LocalTaskDefinition, type LogSink } from '../types';
import {
  type AslDefinition,
  contextObject,
  isDefinition,
  newTracker,
  prepareDefinition,
  stateTypes,
  statesTimeoutPrototype,
  taskStates,
  onStateEntered,
  resumeDefinition,
  trackStates,
  validateDefinition,
  waitEnd,
  type AslState,
} from './asl';
import { type ExecutionRecord, type ExecutionStatus, type ExecutionStep, ExecutionStore, type HistoryEvent } from './store';
import { type DirectSqs, isRunnerState, TaskDispatcher, type TaskExecutionContext, type TaskHistoryType } from './tasks';

export type { ExecutionRecord, ExecutionStatus, ExecutionStep, HistoryEvent } from './store';

export interface LocalStateMachine {
  readonly name: string;
  readonly arn: string;
  readonly definition: object;
}

export interface StepFunctionsServiceDeps {
  /** Edge URL: the AWS SDK clients of the service integrations and the ECS processes use it. */
  readonly endpoint: string;
  readonly region: string;
  readonly accountId: string;
  readonly stateMachines: ReadonlyMap<string, LocalStateMachine>;
  readonly taskDefinitions: ReadonlyMap<string, LocalTaskDefinition>;
  readonly lambda: LambdaInvoker;
  readonly events: EventPublisher;
  readonly logs: LogSink;
  /** With it, executions are kept on disk and survive a restart. */
  readonly dataDir?: string;
  readonly workDir: string;
  /** See `LocalEcsDeps.metadataUri`: set when the edge serves the ECS task metadata endpoint. */
  readonly ecsMetadataUri?: (task: LocalEcsTaskInfo, containerName: string) => string | undefined;
  /** ECS SIGTERM → SIGKILL grace (default 3000 ms, ≤ 4000). */
  readonly killGraceMs?: number;
  /** The runtime's dynalite in this process, for DynamoDB Task states (see `TaskDispatcherDeps.dynamodb`). */
  readonly dynamodb?: DirectDynamoDb;
  /** The edge's SQS forwarding, for `sqs:sendMessage` Task states (see `TaskDispatcherDeps.sqs`). */
  readonly sqs?: DirectSqs;
}

/** What an execution cost, read from its history (GetExecutionHistory events or the stored ones). */
export interface ExecutionCost {
  /** States entered (Standard workflows bill per state transition). */
  readonly stateTransitions: number;
  /** DynamoDB service-integration writes attempted (updateItem, putItem, deleteItem). */
  readonly dynamodbWrites: number;
  /** Lambda invocations by the state machine (lambda:invoke and function-ARN resources). */
  readonly lambdaInvocations: number;
  readonly ecsTasks: number;
}

export function executionCost(events: readonly { type: string; [k: string]: unknown }[]): ExecutionCost {
  let stateTransitions = 0;
  let dynamodbWrites = 0;
  let lambdaInvocations = 0;
  let ecsTasks = 0;
  for (const e of events) {
    if (e.type.endsWith('StateEntered')) stateTransitions++;
    else if (e.type === 'LambdaFunctionScheduled') lambdaInvocations++;
    else if (e.type === 'TaskScheduled') {
      const d = (e.taskScheduledEventDetails ?? {}) as { resourceType?: string; resource?: string };
      if (d.resourceType === 'dynamodb' && ['updateItem', 'putItem', 'deleteItem'].includes(d.resource ?? '')) dynamodbWrites++;
      if (d.resourceType === 'lambda' && d.resource?.startsWith('invoke')) lambdaInvocations++;
      if (d.resourceType === 'ecs' && d.resource?.startsWith('runTask')) ecsTasks++;
    }
  }
  return { stateTransitions, dynamodbWrites, lambdaInvocations, ecsTasks };
}

/**
 * Error of executions the previous runtime process left RUNNING that cannot go on: saved before
 * steps were (no step), or whose state machine or state is gone from the template.
 */
export const RESTART_ERROR = 'LocalRuntimeRestarted';

/** How an execution left RUNNING by a dead runtime goes on. */
interface Resume {
  readonly step: ExecutionStep;
  /** Runner states: the cause their interrupted attempt fails with. */
  readonly failCause?: string;
}

interface PreparedMachine {
  readonly info: LocalStateMachine;
  readonly definition: AslDefinition;
  /** Top-level states of the definition, by name. */
  readonly states: Record<string, AslState>;
  readonly tasks: Map<string, AslState>;
  readonly types: Map<string, string>;
}

interface LibraryEvent {
  type: string;
  state?: { name: string; type: string; input?: unknown; output?: unknown };
  parentState?: { name: string; type: string };
  index?: number;
}

/** Builds an execution's history in Step Functions' shape, in order. */
class HistoryRecorder {
  private openTask: string | null = null;
  private readonly pending: { state: string; type: string; details: Record<string, unknown>; at: number }[] = [];
  public closed = false;
  /** The added entry state of a resumed execution: not part of its history. */
  public hidden: string | undefined;
  /** A resumed state whose StateEntered the history already has (not recorded twice). */
  public enteredBefore: string | undefined;

  public constructor(private readonly rec: ExecutionRecord) {}

  /** Appends an event; `at` is when it happened (a held-back task event keeps its own time). */
  public add(type: string, details: Record<string, unknown> = {}, at: number = Date.now()): void {
    if (this.closed) return;
    const h = this.rec.history;
    const id = h.length + 1;
    h.push({ id, previousEventId: id - 1, timestamp: at, type, ...details });
  }

  /**
   * A Task handler's event. The handler runs before the library's StateEntered event reaches
   * us (its event log is consumed asynchronously), so events of a state not yet entered wait.
   */
  public task(state: string, type: string, details: Record<string, unknown>): void {
    if (this.openTask === state) this.add(type, details);
    else this.pending.push({ state, type, details, at: Date.now() });
  }

  private flush(state: string): void {
    for (let i = 0; i < this.pending.length; ) {
      const p = this.pending[i];
      if (p.state === state) {
        this.add(p.type, p.details, p.at);
        this.pending.splice(i, 1);
      } else i++;
    }
  }

  public fromLibrary(e: LibraryEvent): void {
    const s = e.state;
    if (s && s.name === this.hidden && e.index === undefined) return;
    switch (e.type) {
      case 'StateEntered':
        if (!s) return;
        if (s.name === this.enteredBefore) {
          this.enteredBefore = undefined;
          if (s.type === 'Task') this.openTask = s.name;
          this.flush(s.name);
          return;
        }
        this.add(`${s.type}StateEntered`, {
          stateEnteredEventDetails: { name: s.name, input: JSON.stringify(s.input ?? null), inputDetails: { truncated: false } },
        });
        if (s.type === 'Task') this.openTask = s.name;
        this.flush(s.name);
        return;
      case 'StateExited':
        if (!s) return;
        this.flush(s.name);
        this.add(`${s.type}StateExited`, {
          stateExitedEventDetails: { name: s.name, output: JSON.stringify(s.output ?? null), outputDetails: { truncated: false } },
        });
        if (this.openTask === s.name) this.openTask = null;
        return;
      case 'StateFailed':
        if (s) this.flush(s.name);
        return;
      case 'MapIterationStarted':
      case 'MapIterationSucceeded':
      case 'MapIterationFailed': {
        const key = `${e.type[0].toLowerCase()}${e.type.slice(1)}EventDetails`;
        this.add(e.type, { [key]: { name: e.parentState?.name, index: e.index } });
        return;
      }
      default:
        // Execution* events are written by the service; retries/catches have no AWS event.
        return;
    }
  }
}

interface Running {
  readonly recorder: HistoryRecorder;
  readonly ecs: Map<string, (reason: string) => Promise<void>>;
  abort?: () => void;
  consumed?: Promise<void>;
}

const NAME_RE = /^[^\s<>{}[\]?*"#%\\^|~`$&,;:/]{1,80}$/;
const validName = (name: string): boolean =>
  NAME_RE.test(name) && ![...name].some((ch) => ch.charCodeAt(0) < 0x20 || (ch.charCodeAt(0) >= 0x7f && ch.charCodeAt(0) <= 0x9f));
const SM_ARN_RE = /^arn:aws[\w-]*:states:[\w-]+:\d{12}:stateMachine:[^:]+$/;
const EXEC_ARN_RE = /^arn:aws[\w-]*:states:[\w-]+:\d{12}:execution:[^:]+:[^:]+$/;

const seconds = (ms: number | undefined): number | undefined => (ms === undefined ? undefined : ms / 1000);

function str(body: Record<string, unknown>, key: string): string | undefined {
  const v = body[key];
  return typeof v === 'string' ? v : undefined;
}

function pageArgs(body: Record<string, unknown>): { max: number; offset: number } {
  const maxRaw = body.maxResults;
  if (maxRaw !== undefined && (typeof maxRaw !== 'number' || maxRaw < 0 || maxRaw > 1000 || !Number.isInteger(maxRaw))) {
    throw new AwsError('ValidationException', 'maxResults must be an integer between 0 and 1000');
  }
  const max = typeof maxRaw === 'number' && maxRaw > 0 ? maxRaw : 100;
  let offset = 0;
  const token = str(body, 'nextToken');
  if (token) {
    try {
      const parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { o?: unknown };
      if (typeof parsed.o !== 'number') throw new Error('bad');
      offset = parsed.o;
    } catch {
      throw new AwsError('InvalidToken', 'Invalid Token');
    }
  }
  return { max, offset };
}

const tokenFor = (offset: number): string => Buffer.from(JSON.stringify({ o: offset })).toString('base64url');

export class StepFunctionsService implements JsonService {
  /** The local ECS runner (its live tasks are what `liveEcsTasks` lists). */
  public readonly ecs: LocalEcs;
  private readonly deps: StepFunctionsServiceDeps;
  private readonly dispatcher: TaskDispatcher;
  private readonly store: ExecutionStore;
  private readonly executions = new Map<string, ExecutionRecord>();
  private readonly running = new Map<string, Running>();
  private readonly prepared = new Map<string, PreparedMachine>();
  private readonly waiters = new Map<string, (() => void)[]>();
  private readonly recovered: ExecutionRecord[] = [];
  private readonly resumable: { rec: ExecutionRecord; machine: PreparedMachine; resume: Resume }[] = [];
  private readonly resumedArns = new Set<string>();
  private started = false;
  private closing = false;

  public constructor(deps: StepFunctionsServiceDeps) {
    this.deps = deps;
    this.ecs = new LocalEcs({
      endpoint: deps.endpoint,
      region: deps.region,
      accountId: deps.accountId,
      taskDefinitions: deps.taskDefinitions,
      logs: deps.logs,
      metadataUri: deps.ecsMetadataUri,
      killGraceMs: deps.killGraceMs,
    });
    this.dispatcher = new TaskDispatcher({
      endpoint: deps.endpoint,
      region: deps.region,
      accountId: deps.accountId,
      lambda: deps.lambda,
      events: deps.events,
      ecs: this.ecs,
      ...(deps.dynamodb ? { dynamodb: deps.dynamodb } : {}),
      ...(deps.sqs ? { sqs: deps.sqs } : {}),
    });
    this.store = new ExecutionStore(deps.dataDir);
    for (const rec of this.store.load()) {
      this.executions.set(rec.executionArn, rec);
      if (rec.status === 'RUNNING') this.recover(rec);
      else if (rec.eventDelivered === false) this.recovered.push(rec); // ended, its event maybe not delivered
    }
    void statesTimeoutPrototype();
  }

  /**
   * Call once the edge serves requests (their states call it): the executions the previous
   * runtime process left RUNNING go on from their saved step; those that cannot (no step saved,
   * machine or state gone) are FAILED with `LocalRuntimeRestarted` and their status-change
   * events published, so the finalizer resolves their tasks. Returns the FAILED ones.
   */
  public async start(): Promise<ExecutionRecord[]> {
    if (this.started) return [];
    this.started = true;
    const out = this.recovered.splice(0);
    for (const rec of out) await this.emit(rec);
    for (const { rec, machine, resume } of this.resumable.splice(0)) {
      const running: Running = { recorder: new HistoryRecorder(rec), ecs: new Map() };
      this.running.set(rec.executionArn, running);
      this.launch(machine, rec, running, JSON.parse(rec.input) as unknown, resume);
    }
    return out;
  }

  /** Executions that go on after a restart (from `start`), by ARN. */
  public get resumedExecutions(): string[] {
    return [...this.resumedArns];
  }

  /** Shutdown: kills every ECS process; running executions stay RUNNING on disk (resolved on restart). */
  public async close(): Promise<void> {
    // Nothing more is recorded, written or published: on disk these stay RUNNING, and the next
    // start-up resolves them (FAILED LocalRuntimeRestarted + their status-change events).
    this.closing = true;
    for (const r of this.running.values()) {
      r.recorder.closed = true;
      r.abort?.();
    }
    await this.ecs.stopAll();
    this.dispatcher.destroy();
  }

  public async handle(operation: string, body: Record<string, unknown>): Promise<unknown> {
    switch (operation) {
      case 'StartExecution':
        return this.startExecution(body);
      case 'StopExecution':
        return this.stopExecution(body);
      case 'DescribeExecution':
        return this.describeExecution(body);
      case 'ListExecutions':
        return this.listExecutions(body);
      case 'GetExecutionHistory':
        return this.getExecutionHistory(body);
      case 'DescribeStateMachine':
        return this.describeStateMachine(body);
      case 'ListStateMachines':
        return this.listStateMachines(body);
      case 'DescribeStateMachineForExecution': {
        const rec = this.execution(body);
        return this.describeStateMachine({ stateMachineArn: rec.stateMachineArn });
      }
      default:
        throw new AwsError('UnknownOperationException', `The local runtime does not support the Step Functions operation '${operation}'`);
    }
  }

  /** Resolves when the execution has ended (for tests and tools). */
  public async waitForExecution(executionArn: string, timeoutMs = 60_000): Promise<ExecutionRecord> {
    const rec = this.executions.get(executionArn);
    if (!rec) throw new AwsError('ExecutionDoesNotExist', `Execution Does Not Exist: '${executionArn}'`);
    if (rec.status !== 'RUNNING') return rec;
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`execution ${executionArn} still running after ${timeoutMs} ms`)), timeoutMs);
      const list = this.waiters.get(executionArn) ?? [];
      list.push(() => {
        clearTimeout(t);
        resolve();
      });
      this.waiters.set(executionArn, list);
    });
    return rec;
  }

  /** Live local ECS tasks with their pids. */
  public liveEcsTasks(): LocalEcsTaskInfo[] {
    return this.ecs.list();
  }

  // ---- operations ----

  private machine(arn: string | undefined): PreparedMachine {
    if (!arn) throw new AwsError('ValidationException', 'stateMachineArn is required');
    if (!SM_ARN_RE.test(arn)) throw new AwsError('InvalidArn', `Invalid Arn: 'Resource type not valid in this context: ${arn}'`);
    const cached = this.prepared.get(arn);
    if (cached) return cached;
    const info = this.deps.stateMachines.get(arn);
    if (!info) throw new AwsError('StateMachineDoesNotExist', `State Machine Does Not Exist: '${arn}'`);
    if (!isDefinition(info.definition)) {
      throw new AwsError('InvalidDefinition', `The definition of ${arn} is not an ASL state machine`);
    }
    const problem = validateDefinition(info.definition);
    if (problem) {
      // Run it anyway: the synthesized definition deployed on AWS; the library's validator may lag.
      console.warn(`[local sfn] ${info.name}: ${problem}`);
    }
    const prepared: PreparedMachine = {
      info,
      definition: prepareDefinition(info.definition),
      states: (info.definition as AslDefinition).States,
      tasks: taskStates(info.definition),
      types: stateTypes(info.definition),
    };
    this.prepared.set(arn, prepared);
    return prepared;
  }

  private startExecution(body: Record<string, unknown>): { executionArn: string; startDate: number } {
    const machine = this.machine(str(body, 'stateMachineArn'));
    const name = str(body, 'name') ?? randomUUID();
    if (!validName(name)) throw new AwsError('InvalidName', `Invalid Name: '${name}'`);
    const input = body.input === undefined || body.input === null ? '{}' : body.input;
    if (typeof input !== 'string')
      throw new AwsError('InvalidExecutionInput', 'Invalid State Machine Execution Input: input must be a string');
    let parsed: unknown;
    try {
      parsed = JSON.parse(input);
    } catch {
      throw new AwsError('InvalidExecutionInput', `Invalid State Machine Execution Input: '${input.slice(0, 200)}'`);
    }
    if (Buffer.byteLength(input) > 256 * 1024) {
      throw new AwsError('InvalidExecutionInput', 'Invalid State Machine Execution Input: over 256 KiB');
    }
    const arn = buildExecutionArn(machine.info.arn, name);
    const existing = this.executions.get(arn);
    if (existing) {
      // Standard workflows: same name and input while RUNNING → the same execution.
      if (existing.status === 'RUNNING' && existing.input === input) {
        return { executionArn: arn, startDate: existing.startDate / 1000 };
      }
      throw new AwsError('ExecutionAlreadyExists', `Execution Already Exists: '${arn}'`);
    }
    const rec: ExecutionRecord = {
      executionArn: arn,
      stateMachineArn: machine.info.arn,
      name,
      status: 'RUNNING',
      input,
      startDate: Date.now(),
      history: [],
      ecsProcesses: [],
    };
    this.executions.set(arn, rec);
    const running: Running = { recorder: new HistoryRecorder(rec), ecs: new Map() };
    this.running.set(arn, running);
    running.recorder.add('ExecutionStarted', {
      executionStartedEventDetails: {
        input,
        inputDetails: { truncated: false },
        roleArn: this.roleArn(machine.info),
      },
    });
    this.store.save(rec);
    this.launch(machine, rec, running, parsed);
    return { executionArn: arn, startDate: rec.startDate / 1000 };
  }

  private roleArn(info: LocalStateMachine): string {
    return `arn:aws:iam::${this.deps.accountId}:role/${info.name}-role`;
  }

  /** Runs an execution in the background; a failure of the runtime itself (a save) is reported, not thrown. */
  private launch(machine: PreparedMachine, rec: ExecutionRecord, running: Running, input: unknown, resume?: Resume): void {
    this.run(machine, rec, running, input, resume).catch((e: unknown) => {
      if (!this.closing) console.error(`[local sfn] execution ${rec.executionArn} stopped: ${(e as Error)?.message ?? String(e)}`);
    });
  }

  private async run(machine: PreparedMachine, rec: ExecutionRecord, running: Running, input: unknown, resume?: Resume): Promise<void> {
    await statesTimeoutPrototype();
    const tracker = newTracker();
    let definition = machine.definition;
    let entry: string | undefined;
    const overrides: Record<string, unknown> = {};
    if (resume) {
      const stateInput = JSON.parse(resume.step.input) as unknown;
      const timeout =
        typeof definition.TimeoutSeconds === 'number' ? definition.TimeoutSeconds - (Date.now() - rec.startDate) / 1000 : undefined;
      ({ definition, entry } = resumeDefinition(definition, resume.step.state, stateInput, timeout));
      running.recorder.hidden = entry;
      const last = [...rec.history].reverse().find((e) => /State(Entered|Exited)$/.test(e.type));
      const lastName = (last?.stateEnteredEventDetails as { name?: string } | undefined)?.name;
      if (last?.type.endsWith('StateEntered') && lastName === resume.step.state) running.recorder.enteredBefore = lastName;
      // A Wait keeps its original end time: the first wait of the resumed state is what is left.
      const end = waitEnd(machine.states[resume.step.state], stateInput, resume.step.enteredAt);
      if (end !== undefined) {
        let used = false;
        overrides.waitTimeOverrides = {
          get [resume.step.state](): number | undefined {
            if (used) return undefined;
            used = true;
            return Math.max(0, end - Date.now());
          },
        };
      }
    }
    let failCause = resume?.failCause;
    let reentered = false;
    // Runs synchronously before the state does (see onStateEntered): the step is on disk first.
    const saveStep = (name: string, _type: string, stateInput: unknown): void => {
      if (this.closing || rec.status !== 'RUNNING' || name === entry) return;
      if (resume && !reentered && name === resume.step.state) {
        reentered = true; // the resumed step, on disk as it is (with its pre-image)
        return;
      }
      rec.step = { state: name, input: JSON.stringify(stateInput ?? null), enteredAt: Date.now(), seq: (rec.step?.seq ?? 0) + 1 };
      this.store.save(rec);
    };
    const ctx: TaskExecutionContext = {
      executionArn: rec.executionArn,
      isClosed: () => this.closing || rec.status !== 'RUNNING',
      record: (state: string, type: TaskHistoryType, details: Record<string, unknown>) => {
        const key = `${type[0].toLowerCase()}${type.slice(1)}EventDetails`;
        running.recorder.task(state, type, { [key]: details });
      },
      trackEcsTask: (task, stop) => {
        running.ecs.set(task.taskArn, stop);
        for (const c of task.containers) {
          if (c.pid) rec.ecsProcesses.push({ taskArn: task.taskArn, pid: c.pid, command: c.command });
        }
        this.store.save(rec);
        return () => {
          running.ecs.delete(task.taskArn);
          rec.ecsProcesses = rec.ecsProcesses.filter((p) => p.taskArn !== task.taskArn);
          this.store.save(rec);
        };
      },
      ...(this.store.persistent
        ? {
            step: (state: string) =>
              rec.step && rec.step.state === state
                ? { seq: rec.step.seq, preImage: rec.step.preImage, resumed: resume?.step === rec.step }
                : undefined,
            savePreImage: (state: string, item: Record<string, unknown> | null) => {
              if (!rec.step || rec.step.state !== state || this.closing || rec.status !== 'RUNNING') return;
              rec.step.preImage = item;
              this.store.save(rec);
            },
          }
        : {}),
      takeRestartFailure: (state: string) => {
        if (failCause === undefined || state !== resume?.step.state) return undefined;
        const cause = failCause;
        failCause = undefined;
        return cause;
      },
    };
    let outcome: { status: ExecutionStatus; output?: string; error?: string; cause?: string } | undefined;
    try {
      const sm = new StateMachine(trackStates(definition, tracker) as never, {
        validationOptions: { noValidate: true },
      });
      onStateEntered(sm, saveStep);
      const execution = sm.run(input as never, {
        overrides: { ...overrides, taskResourceLocalHandlers: this.dispatcher.handlers(machine.tasks, ctx) as never },
        context: contextObject({
          executionArn: rec.executionArn,
          name: rec.name,
          startTime: new Date(rec.startDate).toISOString(),
          roleArn: this.roleArn(machine.info),
          stateMachineArn: machine.info.arn,
          stateMachineName: machine.info.name,
          tracker,
        }),
      });
      running.abort = execution.abort;
      running.consumed = (async () => {
        for await (const e of execution.eventLogs) running.recorder.fromLibrary(e as unknown as LibraryEvent);
      })();
      if (rec.status !== 'RUNNING') execution.abort(); // stopped before it got here
      const output = await execution.result;
      outcome = { status: 'SUCCEEDED', output: JSON.stringify(output ?? null) };
    } catch (e) {
      if (e instanceof ExecutionAbortedError) outcome = undefined;
      else if (e instanceof ExecutionTimeoutError) {
        outcome = {
          status: 'TIMED_OUT',
          error: 'States.Timeout',
          cause: `The execution exceeded the state machine's TimeoutSeconds (${String(machine.info.definition && (machine.info.definition as AslDefinition).TimeoutSeconds)} s).`,
        };
      } else if (e instanceof ExecutionError && e.cause instanceof Error) {
        const c = e.cause;
        outcome = {
          status: 'FAILED',
          error: c.name === 'FailStateError' ? undefined : c.name,
          cause: c.message === 'Execution failed because of a Fail state' ? undefined : c.message,
        };
      } else {
        outcome = { status: 'FAILED', error: 'States.Runtime', cause: (e as Error)?.message ?? String(e) };
      }
    }
    // Let the event log catch up so the terminal event comes last.
    if (running.consumed) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([running.consumed, new Promise((r) => (timer = setTimeout(r, 2000)))]);
      clearTimeout(timer);
    }
    if (outcome) await this.finish(rec, outcome);
  }

  private async finish(
    rec: ExecutionRecord,
    outcome: { status: ExecutionStatus; output?: string; error?: string; cause?: string },
  ): Promise<void> {
    if (rec.status !== 'RUNNING' || this.closing) return;
    const running = this.running.get(rec.executionArn);
    rec.status = outcome.status;
    rec.stopDate = Date.now();
    if (outcome.output !== undefined) rec.output = outcome.output;
    if (outcome.error !== undefined) rec.error = outcome.error;
    if (outcome.cause !== undefined) rec.cause = outcome.cause;
    const errorDetails = {
      ...(rec.error !== undefined ? { error: rec.error } : {}),
      ...(rec.cause !== undefined ? { cause: rec.cause } : {}),
    };
    switch (rec.status) {
      case 'SUCCEEDED':
        running?.recorder.add('ExecutionSucceeded', {
          executionSucceededEventDetails: { output: rec.output, outputDetails: { truncated: false } },
        });
        break;
      case 'FAILED':
        running?.recorder.add('ExecutionFailed', { executionFailedEventDetails: errorDetails });
        break;
      case 'TIMED_OUT':
        running?.recorder.add('ExecutionTimedOut', { executionTimedOutEventDetails: errorDetails });
        break;
      case 'ABORTED':
        running?.recorder.add('ExecutionAborted', { executionAbortedEventDetails: errorDetails });
        break;
    }
    if (running) {
      running.recorder.closed = true;
      running.abort?.();
      // Whatever still runs for it goes (a stop, a timeout, a failure with a task left).
      await Promise.all([...running.ecs.values()].map((stop) => stop(`Execution ${rec.status}`).catch(() => undefined)));
    }
    rec.ecsProcesses = [];
    delete rec.step;
    if (this.waitsForDelivery()) rec.eventDelivered = false;
    this.store.save(rec);
    this.running.delete(rec.executionArn);
    await this.emit(rec);
    for (const w of this.waiters.get(rec.executionArn) ?? []) w();
    this.waiters.delete(rec.executionArn);
  }

  private async stopExecution(body: Record<string, unknown>): Promise<{ stopDate: number }> {
    const rec = this.execution(body);
    if (rec.status === 'RUNNING') {
      await this.finish(rec, { status: 'ABORTED', error: str(body, 'error'), cause: str(body, 'cause') });
    }
    return { stopDate: (rec.stopDate ?? Date.now()) / 1000 };
  }

  private execution(body: Record<string, unknown>): ExecutionRecord {
    const arn = str(body, 'executionArn');
    if (!arn) throw new AwsError('ValidationException', 'executionArn is required');
    if (!EXEC_ARN_RE.test(arn)) throw new AwsError('InvalidArn', `Invalid Arn: 'Resource type not valid in this context: ${arn}'`);
    const rec = this.executions.get(arn);
    if (!rec) throw new AwsError('ExecutionDoesNotExist', `Execution Does Not Exist: '${arn}'`);
    return rec;
  }

  private describeExecution(body: Record<string, unknown>): Record<string, unknown> {
    const rec = this.execution(body);
    return {
      executionArn: rec.executionArn,
      stateMachineArn: rec.stateMachineArn,
      name: rec.name,
      status: rec.status,
      startDate: seconds(rec.startDate),
      ...(rec.stopDate !== undefined ? { stopDate: seconds(rec.stopDate) } : {}),
      input: rec.input,
      inputDetails: { included: true },
      ...(rec.output !== undefined ? { output: rec.output, outputDetails: { included: true } } : {}),
      ...(rec.error !== undefined ? { error: rec.error } : {}),
      ...(rec.cause !== undefined ? { cause: rec.cause } : {}),
      redriveCount: 0,
      redriveStatus: 'NOT_REDRIVABLE',
    };
  }

  private listExecutions(body: Record<string, unknown>): Record<string, unknown> {
    const arn = str(body, 'stateMachineArn');
    if (!arn) throw new AwsError('ValidationException', 'stateMachineArn is required (map runs are not supported locally)');
    if (!SM_ARN_RE.test(arn)) throw new AwsError('InvalidArn', `Invalid Arn: '${arn}'`);
    if (!this.deps.stateMachines.has(arn)) throw new AwsError('StateMachineDoesNotExist', `State Machine Does Not Exist: '${arn}'`);
    const status = str(body, 'statusFilter');
    if (status && !['RUNNING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED', 'PENDING_REDRIVE'].includes(status)) {
      throw new AwsError('ValidationException', `Invalid statusFilter: '${status}'`);
    }
    const { max, offset } = pageArgs(body);
    const all = [...this.executions.values()]
      .filter((r) => r.stateMachineArn === arn && (!status || r.status === status))
      .sort((a, b) => b.startDate - a.startDate || (a.executionArn < b.executionArn ? -1 : 1));
    const page = all.slice(offset, offset + max);
    return {
      executions: page.map((r) => ({
        executionArn: r.executionArn,
        stateMachineArn: r.stateMachineArn,
        name: r.name,
        status: r.status,
        startDate: seconds(r.startDate),
        ...(r.stopDate !== undefined ? { stopDate: seconds(r.stopDate) } : {}),
      })),
      ...(offset + max < all.length ? { nextToken: tokenFor(offset + max) } : {}),
    };
  }

  private getExecutionHistory(body: Record<string, unknown>): Record<string, unknown> {
    const rec = this.execution(body);
    const { max, offset } = pageArgs(body);
    const includeData = body.includeExecutionData !== false;
    let events: HistoryEvent[] = [...rec.history];
    if (body.reverseOrder === true) events.reverse();
    const page = events.slice(offset, offset + max);
    events = page.map((e) => {
      const out: Record<string, unknown> = { ...e, timestamp: e.timestamp / 1000 };
      if (!includeData) {
        for (const [k, v] of Object.entries(out)) {
          if (k.endsWith('EventDetails') && v && typeof v === 'object') {
            const { input: _i, output: _o, parameters: _p, ...rest } = v as Record<string, unknown>;
            out[k] = rest;
          }
        }
      }
      return out as HistoryEvent;
    });
    return { events, ...(offset + max < rec.history.length ? { nextToken: tokenFor(offset + max) } : {}) };
  }

  private describeStateMachine(body: Record<string, unknown>): Record<string, unknown> {
    const m = this.machine(str(body, 'stateMachineArn'));
    return {
      stateMachineArn: m.info.arn,
      name: m.info.name,
      status: 'ACTIVE',
      definition: JSON.stringify(m.info.definition),
      roleArn: this.roleArn(m.info),
      type: 'STANDARD',
      creationDate: 0,
    };
  }

  private listStateMachines(_body: Record<string, unknown>): Record<string, unknown> {
    return {
      stateMachines: [...this.deps.stateMachines.values()].map((m) => ({
        stateMachineArn: m.arn,
        name: m.name,
        type: 'STANDARD',
        creationDate: 0,
      })),
    };
  }

  // ---- restart, events ----

  /**
   * An execution the previous runtime process left RUNNING: the processes of its ECS tasks die
   * (that attempt is over); it goes on from its saved step at `start`, or fails when it cannot.
   */
  private recover(rec: ExecutionRecord): void {
    this.killOrphans(rec);
    let machine: PreparedMachine | undefined;
    try {
      machine = this.machine(rec.stateMachineArn);
    } catch {
      machine = undefined; // gone from the template, or not a definition the library runs
    }
    const step = rec.step;
    let why: string | undefined;
    if (!step) why = 'its progress was not saved (a data dir from before steps were saved)';
    else if (!machine) why = `its state machine ${rec.stateMachineArn} is no longer in the template`;
    else if (!Object.hasOwn(machine.states, step.state)) why = `its state '${step.state}' is no longer in the state machine`;
    if (why !== undefined || !step || !machine) {
      this.failOrphan(rec, why ?? 'no step');
      return;
    }
    const resume: Resume = isRunnerState(machine.states[step.state])
      ? {
          step,
          failCause:
            `The local runtime stopped while this attempt was running (state '${step.state}') and was restarted at ` +
            `${new Date().toISOString()}; the attempt counts as failed (any container process it ran was killed).`,
        }
      : { step };
    this.store.save(rec);
    this.resumable.push({ rec, machine, resume });
    this.resumedArns.add(rec.executionArn);
  }

  private killOrphans(rec: ExecutionRecord): void {
    for (const p of rec.ecsProcesses) {
      const cmd = processCommandLine(p.pid);
      if ((cmd && cmd.join('\0') === p.command.join('\0')) || processHasTaskArn(p.pid, p.taskArn)) {
        try {
          process.kill(-p.pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
    }
    rec.ecsProcesses = [];
  }

  /** An execution left RUNNING that cannot go on: FAILED, its event published by `start`. */
  private failOrphan(rec: ExecutionRecord, why: string): void {
    rec.status = 'FAILED';
    rec.stopDate = Date.now();
    rec.error = RESTART_ERROR;
    rec.cause =
      'The local runtime stopped while this execution was running, and was restarted at ' +
      `${new Date(rec.stopDate).toISOString()}; it cannot go on: ${why} (any container process it ran was killed).`;
    delete rec.step;
    if (this.waitsForDelivery()) rec.eventDelivered = false;
    const id = rec.history.length + 1;
    rec.history.push({
      id,
      previousEventId: id - 1,
      timestamp: rec.stopDate,
      type: 'ExecutionFailed',
      executionFailedEventDetails: { error: rec.error, cause: rec.cause },
    });
    this.store.save(rec);
    this.recovered.push(rec);
  }

  private async emit(rec: ExecutionRecord): Promise<void> {
    const event = {
      version: '0',
      id: randomUUID(),
      'detail-type': 'Step Functions Execution Status Change',
      source: 'aws.states',
      account: this.deps.accountId,
      time: new Date(rec.stopDate ?? Date.now()).toISOString(),
      region: this.deps.region,
      resources: [rec.executionArn],
      detail: {
        executionArn: rec.executionArn,
        stateMachineArn: rec.stateMachineArn,
        name: rec.name,
        status: rec.status,
        startDate: rec.startDate,
        stopDate: rec.stopDate ?? null,
        input: rec.input,
        output: rec.output ?? null,
        stateMachineVersionArn: null,
        stateMachineAliasArn: null,
        redriveCount: 0,
        redriveDate: null,
        redriveStatus: 'NOT_REDRIVABLE',
        redriveStatusReason: 'Redrive is not supported by the local runtime',
        error: rec.error ?? null,
        cause: rec.cause ?? null,
        inputDetails: { included: true },
        outputDetails: rec.output !== undefined ? { included: true } : null,
      },
    };
    const events = this.deps.events as EventPublisher & { publishAndWait?: EventPublisher['publish'] };
    try {
      if (!this.waitsForDelivery() || typeof events.publishAndWait !== 'function') {
        await events.publish(event);
        return;
      }
      // At least once, as EventBridge: until every target had it (the finalizer Lambda), the
      // record says not delivered, and a restart publishes it again.
      void events.publishAndWait(event).then(
        () => {
          if (this.closing) return;
          rec.eventDelivered = true;
          this.store.save(rec);
        },
        (e: unknown) => console.error(`[local sfn] delivering the status change of ${rec.executionArn} failed: ${(e as Error).message}`),
      );
    } catch (e) {
      console.error(`[local sfn] publishing the status change of ${rec.executionArn} failed: ${(e as Error).message}`);
    }
  }

  /** With executions on disk and a publisher that tells when targets had an event. */
  private waitsForDelivery(): boolean {
    return this.store.persistent && typeof (this.deps.events as { publishAndWait?: unknown }).publishAndWait === 'function';
  }
}
