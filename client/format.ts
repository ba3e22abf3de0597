/**
 * Human output of the CLI: durations, times, the task table, one task's details, the function
 * table. Pure functions of their input (colour is a flag), so they are tested without a terminal.
 */
import Table from 'cli-table3';
import { createColors } from 'picocolors';
import {
  formatUsd,
  type LogEvent,
  type TaskCost,
  type TaskFunctionSummary,
  type TaskRecord,
  type TaskSource,
  type TaskStatus,
} from '../lambda/model';

/** `850ms`, `12.3s`, `4m05s`, `2h03m`, `3d04h`. */
export function formatDuration(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms) || ms < 0) return '-';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(Math.floor(ms / 100) / 10).toFixed(1)}s`;
  const s = Math.floor(ms / 1000);
  const pad = (n: number): string => String(n).padStart(2, '0');
  if (s < 3600) return `${Math.floor(s / 60)}m${pad(s % 60)}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h${pad(Math.floor((s % 3600) / 60))}m`;
  return `${Math.floor(s / 86_400)}d${pad(Math.floor((s % 86_400) / 3600))}h`;
}

/** ISO-8601 in UTC to the second: `2026-11-25T12:00:00Z`. */
export function formatTime(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms) || ms <= 0) return '-';
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * Attempts made so far. `alreadyRetriedTimes` counts failed attempts that were retried, so a
 * task running, or ended after running, has made one more; a queued or retrying one has not.
 */
export function attemptsOf(task: TaskRecord): number {
  const retried = task.alreadyRetriedTimes ?? 0;
  switch (task.status) {
    case 'Enqueued':
    case 'Dequeued':
    case 'Retrying':
      return retried;
    case 'Running':
    case 'Succeeded':
    case 'Failed':
      return retried + 1;
    default:
      return retried + (task.runnerId ? 1 : 0);
  }
}

type Paint = (text: string) => string;

export function colorStatus(status: TaskStatus, color: boolean): string {
  const c = createColors(color);
  const paint: Record<TaskStatus, Paint> = {
    Enqueued: c.blue,
    Dequeued: c.blue,
    Running: c.cyan,
    Retrying: c.yellow,
    Succeeded: c.green,
    Failed: c.red,
    Stopping: c.yellow,
    Stopped: c.magenta,
    Expired: c.red,
    Invalid: c.red,
  };
  return (paint[status] ?? ((s: string) => s))(status);
}

// No borders, two spaces between columns: aligned like `kubectl get`, easy to grep.
const PLAIN_TABLE = {
  chars: {
    top: '',
    'top-mid': '',
    'top-left': '',
    'top-right': '',
    bottom: '',
    'bottom-mid': '',
    'bottom-left': '',
    'bottom-right': '',
    left: '',
    'left-mid': '',
    mid: '',
    'mid-mid': '',
    right: '',
    'right-mid': '',
    middle: '  ',
  },
  style: { 'padding-left': 0, 'padding-right': 0, head: [], border: [] },
};

function render(head: string[], rows: string[][]): string {
  const table = new Table({ head, ...PLAIN_TABLE });
  table.push(...rows);
  // cli-table3 pads the last column too; trailing blanks only get in the way.
  return `${table
    .toString()
    .split('\n')
    .map((line) => line.trimEnd())
    .join('\n')}\n`;
}

/**
 * The `list` table; a COST column (the record's estimate) when any task carries one; a SOURCE
 * column (topic/partition and offsets, or queue and message) when any task came from a trigger.
 */
export function renderTaskTable(tasks: readonly TaskRecord[], options: { color: boolean }): string {
  const withSource = tasks.some((t) => t.source);
  const withCost = tasks.some((t) => t.cost);
  return render(
    ['TASK ID', 'STATUS', 'STARTED', 'DURATION', 'ATTEMPTS', ...(withCost ? ['COST'] : []), ...(withSource ? ['SOURCE'] : [])],
    tasks.map((t) => [
      t.taskId,
      colorStatus(t.status, options.color),
      formatTime(t.startedTime),
      formatDuration(t.durationMs),
      String(attemptsOf(t)),
      ...(withCost ? [formatUsd(t.cost?.totalUsd)] : []),
      ...(withSource ? [t.source ? formatSource(t.source) : '-'] : []),
    ]),
  );
}

/** The requests an estimate counted besides transitions, writes and Lambda: only those made. */
export function costRequestCounts(o: TaskCost['orchestration']): string[] {
  return [
    ...(o.sqsRequests > 0 ? [`${o.sqsRequests} SQS`] : []),
    ...(o.snsRequests > 0 ? [`${o.snsRequests} SNS`] : []),
    ...(o.eventBridgeEvents > 0 ? [`${o.eventBridgeEvents} EventBridge`] : []),
    ...(o.apiGatewayRequests > 0 ? [`${o.apiGatewayRequests} API Gateway`] : []),
    ...(o.s3Requests > 0 ? [`${o.s3Requests} S3`] : []),
  ];
}

/** What the compute part of an estimate priced: kind, attempts, run time and size. */
export function costComputeText(k: TaskCost['compute']): string {
  const size = k.kind === 'lambda' ? `${k.gbSeconds ?? 0} GB-s` : `${k.vcpuSeconds ?? 0} vCPU-s, ${k.gbSeconds ?? 0} GB-s`;
  return `${k.kind}, ${k.attempts} attempt${k.attempts === 1 ? '' : 's'}, ${k.seconds} s, ${size}`;
}

/**
 * `get`'s cost block: the total, then orchestration and compute with what was counted, the
 * price source and the estimate's notes.
 */
export function renderCost(cost: TaskCost): { summary: string; details: string[] } {
  const o = cost.orchestration;
  const k = cost.compute;
  const counts = [
    `${o.transitions} transitions`,
    `${o.dynamodbWrites} writes (${o.dynamodbWriteUnits} WRU)`,
    ...(o.dynamodbReadUnits > 0 ? [`${o.dynamodbReadUnits} RRU`] : []),
    `${o.lambdaRequests} Lambda request${o.lambdaRequests === 1 ? '' : 's'}`,
    ...costRequestCounts(o),
  ];
  const details = [
    `  orchestration  ${formatUsd(o.usd)}  ${counts.join(', ')}`,
    `  compute        ${formatUsd(k.usd)}  ${costComputeText(k)}`,
    ...cost.notes.map((note) => `  note: ${note}`),
  ];
  return { summary: `${formatUsd(cost.totalUsd)} (estimate, ${cost.region}, ${cost.priceSource})`, details };
}

export function renderFunctionTable(functions: readonly TaskFunctionSummary[]): string {
  return render(
    ['NAME', 'KIND', 'RETRIES', 'MAX EVENT AGE', 'TIMEOUT', 'CONCURRENCY', 'DESCRIPTION'],
    functions.map((f) => [
      f.name,
      f.kind,
      String(f.maxRetryAttempts),
      formatDuration(f.maxEventAgeSeconds * 1000),
      formatDuration(f.timeoutSeconds * 1000),
      f.maxConcurrency === undefined ? '-' : String(f.maxConcurrency),
      f.description ?? '',
    ]),
  );
}

/** A task's lineage in one line: `kafka orders/0 offsets 0–99`, `sqs orders-in message m-1 (+2 more)`. */
export function formatSource(source: TaskSource): string {
  if (source.type === 'kafka') {
    const range =
      source.firstOffset === source.lastOffset ? `offset ${source.firstOffset}` : `offsets ${source.firstOffset}–${source.lastOffset}`;
    return `kafka ${source.topic}/${source.partition} ${range}`;
  }
  const queue = source.queue.split(':').pop() ?? source.queue;
  const [first, ...rest] = source.messageIds;
  return `sqs ${queue} message ${first ?? '-'}${rest.length > 0 ? ` (+${rest.length} more)` : ''}`;
}

function json(value: unknown): string {
  const text = JSON.stringify(value);
  return text === undefined ? '-' : text;
}

/** One task as aligned `key: value` lines. */
export function renderTask(task: TaskRecord, options: { color: boolean }): string {
  const rows: [string, string][] = [
    ['task id', task.taskId],
    ['function', task.functionName],
    ['status', colorStatus(task.status, options.color)],
    ['request id', task.requestId],
    ['started', formatTime(task.startedTime)],
  ];
  if (task.endTime !== undefined) rows.push(['ended', formatTime(task.endTime)]);
  rows.push(['duration', formatDuration(task.durationMs)], ['attempts', String(attemptsOf(task))]);
  if (task.source) rows.push(['source', formatSource(task.source)]);
  if (task.progress && (task.progress.percent !== undefined || task.progress.message)) {
    const percent = task.progress.percent !== undefined ? `${task.progress.percent}%` : '';
    rows.push(['progress', [percent, task.progress.message ?? ''].filter((s) => s !== '').join(' ')]);
  }
  if (task.taskErrorMessage) rows.push(['error', task.taskErrorMessage]);
  if (task.destinationStatus) rows.push(['destination', task.destinationStatus]);
  rows.push(['payload', json(task.taskPayload)]);
  if (task.returnPayload !== undefined) rows.push(['result', json(task.returnPayload)]);
  if (task.runnerId) rows.push(['runner', task.runnerId]);
  if (task.logStream) rows.push(['log stream', task.logStream]);
  const cost = task.cost ? renderCost(task.cost) : undefined;
  if (cost) rows.push(['cost', cost.summary]);
  const width = Math.max(...rows.map(([k]) => k.length)) + 1;
  const lines = rows.map(([k, v]) => `${`${k}:`.padEnd(width)} ${v}`);
  if (cost) lines.push(...cost.details);
  if (task.events.length > 0) {
    lines.push('events:');
    for (const e of task.events) {
      lines.push(
        `  ${formatTime(e.timestamp)}  ${colorStatus(e.status, options.color)}${e.detail ? `  ${e.detail}` : ''}${e.caller ? `  by ${e.caller}` : ''}`,
      );
    }
  }
  return `${lines.join('\n')}\n`;
}

export function renderLogEvent(event: LogEvent): string {
  return `${formatTime(event.timestamp)} ${event.message.replace(/\n+$/, '')}\n`;
}
