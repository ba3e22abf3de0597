/**
 * A task's attempts, derived from what exists rather than written anywhere (docs/design.md,
 * "TaskApi", logs): the history of the task's execution (`GetExecutionHistory`) has one entry
 * of the `Run` state per attempt, and each attempt's runner is in it — the Lambda request id in
 * the output of a succeeded invoke (`SdkResponseMetadata.RequestId`), the ECS task ARN in the
 * output of `TaskSubmitted`/`TaskSucceeded` or in the cause of `TaskFailed` (the task's
 * description). Nothing is added to the success path of the state machine, and the table keeps
 * no list that could drift from the execution. The running attempt of a container task is also
 * on the item (the runtime helper's Running write), which fills in what the history lacks.
 */
import { type HistoryEvent, GetExecutionHistoryCommand } from '@aws-sdk/client-sfn';
import type { TaskItem } from '../model';
import { aws } from './env';

/** Name of the state that runs one attempt (lib/state-machine.ts `STATE.Run`). */
export const RUN_STATE = 'Run';
/** Pages of history read at most (1,000 events each). */
export const HISTORY_MAX_PAGES = 20;

export interface Attempt {
  /** 1-based, in the order the execution ran them. */
  readonly n: number;
  /** Epoch ms when the attempt's `Run` state was entered. */
  readonly startedTime: number;
  /** Epoch ms when it exited; absent while it runs. */
  readonly endTime?: number;
  /** Lambda request id or ECS task ARN, when known. */
  readonly runnerId?: string;
  /** Container kind: the attempt's log stream, when known. */
  readonly logStream?: string;
}

function ms(timestamp: Date | number | string | undefined): number {
  if (timestamp instanceof Date) return timestamp.getTime();
  if (typeof timestamp === 'number') return timestamp < 1e11 ? Math.round(timestamp * 1000) : timestamp;
  return timestamp ? Date.parse(timestamp) : 0;
}

function parse(text: string | undefined): Record<string, unknown> | undefined {
  if (!text) return undefined;
  try {
    const value = JSON.parse(text) as unknown;
    return value && typeof value === 'object' ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** The runner id an event of the `Run` state names, if any. */
export function runnerIdOf(event: HistoryEvent): string | undefined {
  const doc =
    parse(event.taskSubmittedEventDetails?.output) ??
    parse(event.taskSucceededEventDetails?.output) ??
    parse(event.taskFailedEventDetails?.cause) ??
    parse(event.taskTimedOutEventDetails?.cause);
  if (!doc) return undefined;
  const metadata = doc.SdkResponseMetadata as { RequestId?: unknown } | undefined;
  if (typeof metadata?.RequestId === 'string') return metadata.RequestId;
  const tasks = doc.Tasks as ReadonlyArray<{ TaskArn?: unknown }> | undefined;
  if (typeof tasks?.[0]?.TaskArn === 'string') return tasks[0].TaskArn;
  if (typeof doc.TaskArn === 'string') return doc.TaskArn;
  // A Lambda error document: the Python runtime names its request id, Node's does not.
  if (typeof doc.requestId === 'string') return doc.requestId;
  return undefined;
}

/** The attempts in an execution's history, in order (pure). */
export function attemptsFromHistory(events: readonly HistoryEvent[]): Attempt[] {
  const attempts: Array<{ n: number; startedTime: number; endTime?: number; runnerId?: string }> = [];
  let current: (typeof attempts)[number] | undefined;
  for (const event of events) {
    if (event.type === 'TaskStateEntered' && event.stateEnteredEventDetails?.name === RUN_STATE) {
      current = { n: attempts.length + 1, startedTime: ms(event.timestamp) };
      attempts.push(current);
    } else if (current && event.type === 'TaskStateExited' && event.stateExitedEventDetails?.name === RUN_STATE) {
      current.endTime = ms(event.timestamp);
      current = undefined;
    } else if (current && event.type?.startsWith('Task')) {
      // The earliest of the attempt's events starts it (an emulator may stamp StateEntered late).
      if (event.type === 'TaskScheduled' || event.type === 'TaskStarted')
        current.startedTime = Math.min(current.startedTime, ms(event.timestamp));
      current.runnerId ??= runnerIdOf(event);
      if (event.type === 'TaskFailed' || event.type === 'TaskTimedOut') current.endTime = ms(event.timestamp);
    }
  }
  return attempts;
}

/** `<prefix>/<container>/<ECS task id>`: the awslogs stream of a container attempt. */
export function containerLogStream(prefix: string, container: string, taskArn: string): string {
  return `${prefix}/${container}/${taskArn.slice(taskArn.lastIndexOf('/') + 1)}`;
}

/**
 * The task's attempts: from its execution's history, with the item's runner and log stream
 * for the attempt the item describes. Without a readable history (never started, deleted after
 * Step Functions' 90 days, or not allowed), the one attempt the item describes, if any.
 */
export async function attemptsOf(
  item: TaskItem,
  options: { readonly container?: string; readonly logStreamPrefix?: string },
): Promise<Attempt[]> {
  const events = item.executionArn ? await readHistory(item.executionArn) : undefined;
  const fromItem = (): Attempt[] =>
    item.runnerId || item.logStream
      ? [
          {
            n: Number(item.alreadyRetriedTimes ?? 0) + 1,
            startedTime: Date.parse(item.startedAt) || 0,
            ...(item.endedAt ? { endTime: Date.parse(item.endedAt) } : {}),
            ...(item.runnerId ? { runnerId: item.runnerId } : {}),
            ...(item.logStream ? { logStream: item.logStream } : {}),
          },
        ]
      : [];
  if (!events) return fromItem();
  // MarkRunning's event ('attempt n', Lambda kind) is stamped with the state's entry time, just
  // before the invoke: the surest start of the attempt's window.
  const running = new Map<number, number>();
  for (const e of item.events ?? []) {
    const n = e.status === 'Running' ? /^attempt (\d+)$/.exec(e.detail ?? '')?.[1] : undefined;
    if (n !== undefined && !running.has(Number(n))) running.set(Number(n), Date.parse(e.at));
  }
  const attempts = attemptsFromHistory(events).map((a) => {
    const at = running.get(a.n);
    return at !== undefined && !Number.isNaN(at) && at < a.startedTime ? { ...a, startedTime: at } : a;
  });
  // Until the new attempt's helper writes Running, the item still names the previous attempt.
  const itemIsEarlier = attempts.some((a, i) => i < attempts.length - 1 && a.runnerId !== undefined && a.runnerId === item.runnerId);
  return attempts.map((attempt, index) => {
    const last = index === attempts.length - 1 && !itemIsEarlier;
    const runnerId = attempt.runnerId ?? (last ? item.runnerId : undefined);
    let logStream: string | undefined;
    if (last && item.logStream && (!attempt.runnerId || attempt.runnerId === item.runnerId)) logStream = item.logStream;
    else if (runnerId?.startsWith('arn:') && options.container && options.logStreamPrefix !== undefined) {
      logStream = containerLogStream(options.logStreamPrefix, options.container, runnerId);
    }
    return { ...attempt, ...(runnerId ? { runnerId } : {}), ...(logStream ? { logStream } : {}) };
  });
}

async function readHistory(executionArn: string): Promise<HistoryEvent[] | undefined> {
  const events: HistoryEvent[] = [];
  let nextToken: string | undefined;
  try {
    for (let page = 0; page < HISTORY_MAX_PAGES; page++) {
      const result = await aws
        .sfn()
        .send(new GetExecutionHistoryCommand({ executionArn, maxResults: 1000, ...(nextToken ? { nextToken } : {}) }));
      events.push(...(result.events ?? []));
      nextToken = result.nextToken;
      if (!nextToken) break;
    }
  } catch (error) {
    const name = (error as { name?: string }).name;
    if (name === 'ExecutionDoesNotExist' || name === 'AccessDeniedException') return undefined;
    throw error;
  }
  return events;
}
