/**
 * The functions page: each task function with its config (kind, retries, max event age, timeout,
 * concurrency, destinations, triggers), and over a chosen window (`?window=1h|24h|7d`) its counts
 * by status, what runs now, the success rate and p50/p95 durations (`client.stats`: counted by
 * the service, never by listing tasks here), and the depth of its failure queue.
 */
import type { AsyncTaskClient } from '../../client/client';
import type { DeadLetterQueueInfo } from '../../client/dead-letters';
import { formatDuration, orchestrationOf } from '../../client/format';
import { ALL_STATUSES, type DestinationTarget, type TaskFunctionSummary, type TaskStats } from '../../lambda/model';
import { WINDOWS, type WindowName } from '../filters';
import { h, type Html, href, layout, path, statusBadge, time } from '../html';

/** Functions whose stats and queue are read at once (a service may have a hundred). */
const CONCURRENCY = 8;

export interface FunctionRow {
  readonly fn: TaskFunctionSummary;
  readonly stats?: TaskStats;
  readonly statsError?: { readonly name: string; readonly message: string };
  readonly queue?: DeadLetterQueueInfo;
  readonly queueError?: { readonly name: string; readonly message: string };
}

export interface FunctionsView {
  readonly window: WindowName;
  readonly since: number;
  readonly until: number;
  readonly rows: readonly FunctionRow[];
}

function failure(error: unknown): { name: string; message: string } {
  const e = error as Error;
  return { name: e?.name ?? 'Error', message: e?.message ?? String(error) };
}

async function mapLimited<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** Reads the functions (a failure here is the page's), then each one's stats and failure queue (a failure there is the row's). */
export async function loadFunctionsView(client: AsyncTaskClient, window: WindowName, now: number): Promise<FunctionsView> {
  const functions = await client.functions();
  const since = now - WINDOWS[window];
  const rows = await mapLimited(
    [...functions].sort((a, b) => a.name.localeCompare(b.name)),
    CONCURRENCY,
    async (fn) => {
      const sqs = fn.onFailureDestination ? fn.onFailureDestination.type === 'sqs' : fn.onFailure?.split(':')[2] === 'sqs';
      const [stats, queue] = await Promise.allSettled([
        client.stats(fn.name, { since, until: now }),
        sqs ? client.deadLetterQueue(fn.name) : Promise.resolve(undefined),
      ]);
      return {
        fn,
        ...(stats.status === 'fulfilled' ? { stats: stats.value } : { statsError: failure(stats.reason) }),
        ...(queue.status === 'fulfilled' ? (queue.value ? { queue: queue.value } : {}) : { queueError: failure(queue.reason) }),
      };
    },
  );
  return { window, since, until: now, rows };
}

/** `sqs orders-failed`: a destination's type and the last part of its ARN (the whole ARN on hover). */
function destination(label: string, target: DestinationTarget | undefined, arn: string | undefined): Html | '' {
  if (!target && !arn) return '';
  const full = target?.arn ?? arn ?? '';
  const name = full.split(':').pop() ?? full;
  return h`<li><span class="label">${label}</span> <span title="${full}">${target ? `${target.type} ` : ''}${name}</span></li>`;
}

function triggers(fn: TaskFunctionSummary): Html {
  const list = fn.triggers ?? [];
  if (list.length === 0) return h`<span class="none">none</span>`;
  return h`<ul class="plain">${list.map((t) =>
    t.type === 'kafka'
      ? h`<li>kafka ${t.topics.join(', ')} <span class="hint">(batch ${t.batchSize}, ${t.mode}${t.startingPosition ? `, ${t.startingPosition}` : ''})</span></li>`
      : h`<li>sqs <span title="${t.queueArn}">${t.queueArn.split(':').pop()}</span> <span class="hint">(batch ${t.batchSize}, ${t.mode})</span></li>`,
  )}</ul>`;
}

function counts(row: FunctionRow): Html {
  if (!row.stats) {
    return h`<span class="alert-inline" title="${row.statsError?.message ?? ''}">cannot count: ${row.statsError?.name ?? 'error'}</span>${ALL_STATUSES.map(
      (s) => h`<span data-stat="${s}" hidden></span>`,
    )}`;
  }
  const stats = row.stats;
  return h`<ul class="counts">${ALL_STATUSES.map((s) => {
    const n = stats.counts[s] ?? 0;
    return h`<li${n === 0 ? ' hidden' : ''}>${statusBadge(s)} <span class="num" data-stat="${s}">${n}</span></li>`;
  })}</ul><span class="hint">total ${stats.countsAreLowerBounds ? h`<span data-stat="lowerBound" title="economy tasks are counted by reading them; more were in the window than were read">at least</span> ` : ''}<span data-stat="total">${stats.total}</span></span>`;
}

function percent(rate: number | undefined): string {
  if (rate === undefined) return '-';
  return `${(Math.round(rate * 1000) / 10).toFixed(1)}%`;
}

function failureQueue(row: FunctionRow): Html {
  const { fn } = row;
  const dl = href(path('functions', fn.name, 'dead-letters'));
  if (row.queue) {
    return h`<span class="num" data-stat="dlqDepth">${row.queue.depth}</span>${
      row.queue.inFlight > 0 ? h` <span class="hint">(+${row.queue.inFlight} in flight)</span>` : ''
    } <a href="${dl}" data-link="dead-letters">dead letters</a>`;
  }
  if (row.queueError) {
    return h`<span data-stat="dlqDepth" class="alert-inline" title="${row.queueError.message}">?</span> <a href="${dl}" data-link="dead-letters">dead letters</a>`;
  }
  const target = fn.onFailureDestination;
  if (target) return h`<span data-stat="dlqDepth" class="none">-</span> <span class="hint">${target.type}, not a queue</span>`;
  return h`<span data-stat="dlqDepth" class="none">-</span> <span class="hint">none</span>`;
}

function functionRow(row: FunctionRow, window: WindowName): Html {
  const { fn, stats } = row;
  return h`<tr data-function="${fn.name}">
  <th scope="row"><a href="${path('functions', fn.name)}" data-link="tasks">${fn.name}</a>${fn.description ? h`<div class="hint">${fn.description}</div>` : ''}</th>
  <td><ul class="plain config">
    <li><span class="label">kind</span> <span data-config="kind">${fn.kind}</span></li>
    <li><span class="label">orchestration</span> <span data-config="orchestration">${orchestrationOf(fn)}</span></li>
    <li><span class="label">retries</span> <span data-config="retries">${fn.maxRetryAttempts}</span></li>
    <li><span class="label">max event age</span> <span data-config="maxEventAge">${formatDuration(fn.maxEventAgeSeconds * 1000)}</span></li>
    <li><span class="label">timeout</span> <span data-config="timeout">${formatDuration(fn.timeoutSeconds * 1000)}</span></li>
    <li><span class="label">concurrency</span> <span data-config="concurrency">${fn.maxConcurrency ?? 'unlimited'}</span></li>
  </ul></td>
  <td><ul class="plain">${destination('success', fn.onSuccessDestination, fn.onSuccess)}${destination('failure', fn.onFailureDestination, fn.onFailure)}</ul>${
    !fn.onSuccess && !fn.onFailure && !fn.onSuccessDestination && !fn.onFailureDestination ? h`<span class="none">none</span>` : ''
  }</td>
  <td>${triggers(fn)}</td>
  <td>${counts(row)} <a class="hint" href="${href(path('functions', fn.name), { window })}">tasks in the window</a></td>
  <td class="num"><span data-stat="runningNow">${stats?.runningNow ?? '-'}</span>${
    stats ? h`<div class="hint"><span data-stat="activeNow">${stats.activeNow}</span> active</div>` : ''
  }</td>
  <td class="num" data-stat="successRate">${percent(stats?.successRate)}</td>
  <td class="num" data-stat="p50">${formatDuration(stats?.durationMs?.p50)}</td>
  <td class="num" data-stat="p95">${formatDuration(stats?.durationMs?.p95)}</td>
  <td>${failureQueue(row)}</td>
</tr>`;
}

export interface FunctionsPageProps {
  readonly view: FunctionsView;
  readonly label: string;
  readonly csrfToken: string;
}

export function renderFunctionsPage(props: FunctionsPageProps): Html {
  const { view } = props;
  const sampled = view.rows.some((r) => r.stats?.durationMs?.sampled);
  const body = h`<h1>Task functions</h1>
<nav class="windows" id="window" aria-label="Window of the counts">
  <span>Counts of tasks started in the last</span>
  <ul>${(Object.keys(WINDOWS) as WindowName[]).map(
    (w) => h`<li><a href="${href('/', { window: w })}" data-window="${w}"${w === view.window ? h` aria-current="true"` : ''}>${w}</a></li>`,
  )}</ul>
  <span class="hint">(${time(view.since)} to ${time(view.until)}, UTC)</span>
</nav>
${
  view.rows.length === 0
    ? h`<p class="none">The service has no task functions.</p>`
    : h`<div class="scroll"><table id="functions" class="functions" data-window="${view.window}">
  <caption>${view.rows.length} task function${view.rows.length === 1 ? '' : 's'}; counts, success rate and durations over the last ${view.window}</caption>
  <thead><tr>
    <th scope="col">Function</th><th scope="col">Config</th><th scope="col">Destinations</th><th scope="col">Triggers</th><th scope="col">Tasks by status</th>
    <th scope="col">Running now</th><th scope="col">Success rate</th><th scope="col">p50</th><th scope="col">p95</th><th scope="col">Failure queue</th>
  </tr></thead>
  <tbody>${view.rows.map((r) => functionRow(r, view.window))}</tbody>
</table></div>`
}
${sampled ? h`<p class="hint">Durations of the busiest functions are computed from their newest tasks only (sampled).</p>` : ''}`;
  return layout({ title: 'Task functions', label: props.label, csrfToken: props.csrfToken, crumbs: [], body });
}
