/**
 * One task: status, live progress bar, payload, result, error, the events timeline, runner id,
 * destination status and the record delivered there, its source lineage, and each attempt with
 * its own logs. While the task is live the page polls `/api/.../tasks/:id` (status, progress,
 * events) and the latest attempt's log lines (`#log-tail`); stop and retry are POST forms that
 * ask for confirmation.
 */
import type { AsyncTaskClient } from '../../client/client';
import { attemptsOf, costComputeText, costRequestCounts, formatDuration, formatSource } from '../../client/format';
import {
  buildDestinationRecord,
  DestinationCondition,
  type DestinationRecord,
  destinationConditionOf,
  formatUsd,
  type LogEvent,
  RETRYABLE_STATUSES,
  STOPPABLE_STATUSES,
  type TaskFunctionSummary,
  type TaskRecord,
} from '../../lambda/model';
import { csrfField, h, type Html, actionError, jsonBlock, jsonText, layout, live, notice, path, statusBadge, time } from '../html';

/** Log pages read per attempt when the page is built; beyond, the page says how to read the rest. */
export const MAX_LOG_PAGES = 20;
/** Log lines shown per attempt. */
export const MAX_LOG_LINES = 2000;
/** Attempts shown (the latest ones); a task retried more often lists the rest by number only. */
export const MAX_ATTEMPTS_SHOWN = 10;

/** Where the live tail continues: the logs token to pass back, and how many of its events were already shown. */
export interface LogCursor {
  readonly next?: string;
  readonly skip: number;
}

export interface AttemptLogs {
  readonly attempt: number;
  readonly events: readonly LogEvent[];
  readonly cursor: LogCursor;
  /** More lines than MAX_LOG_LINES / MAX_LOG_PAGES. */
  readonly truncated: boolean;
  readonly error?: { readonly name: string; readonly message: string };
}

export interface TaskView {
  readonly task: TaskRecord;
  readonly fn?: TaskFunctionSummary;
  readonly attempts: readonly AttemptLogs[];
  readonly attemptCount: number;
}

/**
 * One attempt's log lines, following nextToken up to the bounds. The cursor says where a live tail
 * goes on: the token of the last call (called again while nothing new came) and how many of that
 * call's events are shown.
 */
export async function readAttemptLogs(
  client: AsyncTaskClient,
  functionName: string,
  taskId: string,
  attempt: number,
): Promise<AttemptLogs> {
  const events: LogEvent[] = [];
  let token: string | undefined;
  for (let pages = 0; ; pages++) {
    if (pages >= MAX_LOG_PAGES || events.length >= MAX_LOG_LINES) {
      return {
        attempt,
        events: events.slice(0, MAX_LOG_LINES),
        cursor: { ...(token !== undefined ? { next: token } : {}), skip: 0 },
        truncated: true,
      };
    }
    let page: Awaited<ReturnType<AsyncTaskClient['logsPage']>>;
    try {
      page = await client.logsPage({ functionName, taskId, attempt, ...(token !== undefined ? { nextToken: token } : {}) });
    } catch (error) {
      const e = error as Error;
      return {
        attempt,
        events,
        cursor: { ...(token !== undefined ? { next: token } : {}), skip: 0 },
        truncated: false,
        error: { name: e.name, message: e.message },
      };
    }
    events.push(...page.events);
    if (page.nextToken === undefined || page.nextToken === token) {
      return { attempt, events, cursor: { ...(token !== undefined ? { next: token } : {}), skip: page.events.length }, truncated: false };
    }
    token = page.nextToken;
  }
}

export async function loadTaskView(client: AsyncTaskClient, functionName: string, taskId: string): Promise<TaskView> {
  const [task, functions] = await Promise.all([client.get(functionName, taskId), client.functions()]);
  const attemptCount = attemptsOf(task);
  const first = Math.max(1, attemptCount - MAX_ATTEMPTS_SHOWN + 1);
  const numbers: number[] = [];
  for (let n = first; n <= attemptCount; n++) numbers.push(n);
  const attempts = await Promise.all(numbers.map((n) => readAttemptLogs(client, functionName, taskId, n)));
  const fn = functions.find((f) => f.name === functionName);
  return { task, attempts, attemptCount, ...(fn ? { fn } : {}) };
}

/**
 * The record the destination received, rebuilt from the task with the model's builder (the same
 * fields the finalizer and the state machine send). The failure's errorType is not kept on the
 * task, so it shows the condition's; the real records are on the dead-letters page.
 */
export function deliveredRecord(task: TaskRecord, fn: TaskFunctionSummary | undefined): DestinationRecord | undefined {
  if (task.destinationStatus !== 'Succeeded' && task.destinationStatus !== 'Pending') return undefined;
  const condition = destinationConditionOf(task.status);
  if (!condition) return undefined;
  const success = condition === DestinationCondition.Success;
  return buildDestinationRecord({
    condition,
    taskId: task.taskId,
    requestId: task.requestId,
    functionArn: fn?.runnerArn ?? '',
    approximateInvokeCount: task.alreadyRetriedTimes + 1,
    source: task.source ?? null,
    requestPayload: task.taskPayload ?? null,
    responsePayload: success ? (task.returnPayload ?? null) : { errorType: condition, errorMessage: task.taskErrorMessage ?? '' },
    ...(task.endTime !== undefined ? { timestamp: new Date(task.endTime).toISOString() } : {}),
  });
}

/** The error text, pretty when it is JSON (a Lambda error object), else as written. */
function errorValue(message: string): string {
  try {
    const parsed = JSON.parse(message) as unknown;
    if (parsed !== null && typeof parsed === 'object') return jsonText(parsed);
  } catch {
    // plain text
  }
  return message;
}

function sourceBlock(task: TaskRecord): Html | '' {
  const s = task.source;
  if (!s) return '';
  const rows =
    s.type === 'kafka'
      ? h`<dt>Trigger</dt><dd>Kafka</dd><dt>Topic</dt><dd data-source="topic">${s.topic}</dd><dt>Partition</dt><dd data-source="partition">${s.partition}</dd>
<dt>Offsets</dt><dd data-source="offsets">${s.firstOffset === s.lastOffset ? String(s.firstOffset) : `${s.firstOffset}–${s.lastOffset}`}</dd>${
          s.cluster ? h`<dt>Cluster</dt><dd data-source="cluster">${s.cluster}</dd>` : ''
        }`
      : h`<dt>Trigger</dt><dd>SQS</dd><dt>Queue</dt><dd data-source="queue">${s.queue}</dd><dt>Message ids</dt><dd data-source="message-ids"><ul>${s.messageIds.map(
          (m) => h`<li>${m}</li>`,
        )}</ul></dd>`;
  return h`<section aria-labelledby="source-title"><h2 id="source-title">Source</h2><p>${formatSource(s)}</p><dl id="source" class="facts">${rows}</dl></section>`;
}

function logLines(events: readonly LogEvent[]): Html[] {
  return events.map((e) => h`<li>${time(e.timestamp)} <span class="line">${e.message.replace(/\n+$/, '')}</span></li>`);
}

function attemptSection(view: TaskView, logs: AttemptLogs, tail: boolean): Html {
  const { task } = view;
  const cli = `asynctask logs ${task.functionName} ${task.taskId} --attempt ${logs.attempt}`;
  const list = tail
    ? h`<ol class="log" id="log-tail" aria-live="off" data-src="${path('api', 'functions', task.functionName, 'tasks', task.taskId, 'logs')}" data-attempt="${logs.attempt}" data-next="${logs.cursor.next ?? ''}" data-skip="${logs.cursor.skip}">${logLines(logs.events)}</ol>`
    : h`<ol class="log">${logLines(logs.events)}</ol>`;
  return h`<section class="attempt" data-attempt="${logs.attempt}" aria-labelledby="attempt-${logs.attempt}-title">
<h3 id="attempt-${logs.attempt}-title">Attempt ${logs.attempt}${tail ? ' (running: new lines appear as they are written)' : ''}</h3>
${logs.error ? h`<p class="alert">Cannot read the logs of attempt ${logs.attempt}: <strong>${logs.error.name}</strong>: ${logs.error.message}</p>` : ''}
${logs.events.length === 0 && !tail && !logs.error ? h`<p class="none">No log lines.</p>` : ''}
${list}
${logs.truncated ? h`<p class="hint">Showing the first ${logs.events.length} lines; <code>${cli}</code> prints them all.</p>` : ''}
</section>`;
}

/**
 * The record's cost estimate (lambda/model/cost.ts): orchestration and compute with what was
 * counted, the price source and the estimate's notes.
 */
function costSection(task: TaskRecord): Html {
  const cost = task.cost;
  if (!cost) {
    return h`<section aria-labelledby="cost-title"><h2 id="cost-title">Cost</h2><p class="none" id="cost" data-empty="true">no estimate</p></section>`;
  }
  const o = cost.orchestration;
  const k = cost.compute;
  const counted = [
    `${o.transitions} state transitions`,
    `${o.dynamodbWrites} DynamoDB writes (${o.dynamodbWriteUnits} WRU${o.dynamodbReadUnits > 0 ? `, ${o.dynamodbReadUnits} RRU` : ''})`,
    `${o.lambdaRequests} Lambda request${o.lambdaRequests === 1 ? '' : 's'}`,
    ...costRequestCounts(o),
  ].join(', ');
  const computed = costComputeText(k);
  return h`<section aria-labelledby="cost-title"><h2 id="cost-title">Cost</h2>
<table id="cost" class="cost" data-total-usd="${cost.totalUsd}">
  <caption>Estimate at ${cost.priceSource}, region ${cost.region}</caption>
  <thead><tr><th scope="col">Part</th><th scope="col" class="num">USD</th><th scope="col">Counted</th></tr></thead>
  <tbody>
    <tr><th scope="row">Orchestration</th><td class="num" id="cost-orchestration">${formatUsd(o.usd)}</td><td>${counted}</td></tr>
    <tr><th scope="row">Compute</th><td class="num" id="cost-compute">${formatUsd(k.usd)}</td><td>${computed}</td></tr>
  </tbody>
  <tfoot><tr><th scope="row">Total</th><td class="num" id="cost-total">${formatUsd(cost.totalUsd)}</td><td></td></tr></tfoot>
</table>
${cost.notes.length > 0 ? h`<ul class="hint" id="cost-notes">${cost.notes.map((n) => h`<li>${n}</li>`)}</ul>` : ''}
</section>`;
}

export interface TaskPageProps {
  readonly view: TaskView;
  readonly label: string;
  readonly csrfToken: string;
  readonly notice?: string;
  readonly error?: { readonly name: string; readonly message: string };
}

export function renderTaskPage(props: TaskPageProps): Html {
  const { task, fn, attempts, attemptCount } = props.view;
  const fnName = task.functionName;
  const isLive = live(task.status);
  const percent = task.status === 'Succeeded' ? 100 : (task.progress?.percent ?? 0);
  const record = deliveredRecord(task, fn);
  const success = task.status === 'Succeeded';
  const target = success ? fn?.onSuccessDestination : fn?.onFailureDestination;
  const stoppable = STOPPABLE_STATUSES.includes(task.status);
  const retryable = RETRYABLE_STATUSES.includes(task.status);
  const taskPath = path('functions', fnName, 'tasks', task.taskId);
  const body = h`<h1>Task <code id="task-id">${task.taskId}</code></h1>
${notice(props.notice)}
${actionError(props.error)}
<div class="task-head" id="task" data-live="${isLive ? 'true' : 'false'}" data-src="${path('api', 'functions', fnName, 'tasks', task.taskId)}" data-status="${task.status}">
  <p class="status-line">${statusBadge(task.status, 'status')}
    <progress id="progress" max="100" value="${percent}" aria-label="progress">${percent}%</progress>
    <span id="progress-percent">${percent}%</span>
    <span id="progress-message">${task.progress?.message ?? ''}</span>
  </p>
  <div class="actions">
    ${
      stoppable
        ? h`<form method="post" action="${taskPath}/stop" data-confirm="Stop task ${task.taskId} of ${fnName}? A running attempt is ended; the task ends Stopped.">${csrfField(props.csrfToken)}<button type="submit" id="stop" class="danger">Stop</button></form>`
        : ''
    }
    ${
      retryable
        ? h`<form method="post" action="${taskPath}/retry" data-confirm="Retry task ${task.taskId} of ${fnName}? It runs again under the same id.">${csrfField(props.csrfToken)}<button type="submit" id="retry">Retry</button></form>`
        : ''
    }
  </div>
</div>
<dl class="facts">
  <dt>Function</dt><dd><a href="${path('functions', fnName)}">${fnName}</a></dd>
  <dt>Started</dt><dd id="started">${time(task.startedTime)}</dd>
  <dt>Ended</dt><dd id="ended">${time(task.endTime)}</dd>
  <dt>Duration</dt><dd id="duration">${formatDuration(task.durationMs)}</dd>
  <dt>Attempts</dt><dd id="attempts">${attemptCount}</dd>
  <dt>Request id</dt><dd><code id="request-id">${task.requestId}</code></dd>
  <dt>Runner id</dt><dd><code id="runner-id">${task.runnerId ?? '-'}</code></dd>
  <dt>Destination</dt><dd><span id="destination-status">${task.destinationStatus ?? '-'}</span>${
    target ? h` <span class="hint">(${target.type} ${target.arn})</span>` : ''
  }</dd>
  ${task.logStream ? h`<dt>Log stream</dt><dd><code>${task.logStream}</code></dd>` : ''}
</dl>
${sourceBlock(task)}
<section aria-labelledby="payload-title"><h2 id="payload-title">Payload</h2>${jsonBlock('payload', task.taskPayload, 'payload')}</section>
<section aria-labelledby="result-title"><h2 id="result-title">Result</h2>${jsonBlock('result', task.returnPayload, 'result')}</section>
<section aria-labelledby="error-title"><h2 id="error-title">Error</h2>${
    task.taskErrorMessage !== undefined
      ? h`<pre class="json error-text" id="error" tabindex="0" aria-label="error">${errorValue(task.taskErrorMessage)}</pre>`
      : h`<p class="none" id="error" data-empty="true">no error</p>`
  }</section>
<section aria-labelledby="events-title"><h2 id="events-title">Events</h2>
<ol id="events" class="timeline">${task.events.map(
    (e) =>
      h`<li data-status="${e.status}">${time(e.timestamp)} ${statusBadge(e.status)}${e.detail ? h` <span class="detail">${e.detail}</span>` : ''}${e.caller ? h` <span class="caller">by <code>${e.caller}</code></span>` : ''}</li>`,
  )}</ol></section>
${costSection(task)}
${
  record
    ? h`<section aria-labelledby="record-title"><h2 id="record-title">Destination record</h2>
<p class="hint">The record delivered to the ${success ? 'success' : 'failure'} destination${target ? h` (${target.type} <code>${target.arn}</code>)` : ''}, rebuilt from the task record with the model’s record builder.</p>
<pre class="json" id="destination-record" tabindex="0" aria-label="destination record">${jsonText(record)}</pre></section>`
    : ''
}
<section aria-labelledby="attempts-title"><h2 id="attempts-title">Attempts and logs</h2>
${attemptCount === 0 ? h`<p class="none">No attempt has started yet.</p>` : ''}
${attempts.length < attemptCount ? h`<p class="hint">Showing the latest ${attempts.length} of ${attemptCount} attempts.</p>` : ''}
${attempts.map((a, i) => attemptSection(props.view, a, isLive && i === attempts.length - 1 && a.attempt === attemptCount))}
</section>`;
  return layout({
    title: `Task ${task.taskId}`,
    label: props.label,
    csrfToken: props.csrfToken,
    crumbs: [{ label: 'Functions', href: '/' }, { label: fnName, href: path('functions', fnName) }, { label: task.taskId }],
    body,
  });
}
