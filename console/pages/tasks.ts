/**
 * The tasks of one function: every Function Compute filter (statuses, time window, id prefix,
 * order, page size, next page) in a GET form whose values live in the URL, one server-side page
 * of `client.list` (never more than 100 rows), the CLI's `list` columns, and the bulk form that
 * carries the same filters to a dry run. The rows (`<tbody>`) are also served alone
 * (`?fragment=rows`) for the live refresh while a shown task is live.
 */
import { attemptsOf, formatDuration, formatSource } from '../../client/format';
import { ALL_STATUSES, formatUsd, LIST_LIMIT, type ListResult, type TaskRecord, totalCostUsd } from '../../lambda/model';
import { filterQuery, type TaskFilterValues, WINDOWS } from '../filters';
import { csrfField, h, type Html, href, layout, live, notice, path, statusBadge, time } from '../html';

export interface TasksPageProps {
  readonly functionName: string;
  readonly filters: TaskFilterValues;
  readonly result: ListResult;
  readonly label: string;
  readonly csrfToken: string;
  readonly notice?: string;
}

/** The URL of this view with other filter values. */
function viewHref(
  functionName: string,
  values: TaskFilterValues,
  overrides: Partial<Record<keyof TaskFilterValues, unknown>> = {},
): string {
  return href(path('functions', functionName), filterQuery(values, overrides));
}

function progressCell(task: TaskRecord): Html {
  const percent = task.progress?.percent;
  if (percent === undefined) return h`<span class="none">-</span>`;
  const message = task.progress?.message ?? '';
  return h`<progress max="100" value="${percent}" aria-label="progress of ${task.taskId}">${percent}%</progress> <span class="percent">${percent}%</span>${
    message ? h` <span class="progress-message">${message}</span>` : ''
  }`;
}

export function renderRows(functionName: string, props: Pick<TasksPageProps, 'filters' | 'result'>): Html {
  const tasks = props.result.tasks;
  const anyLive = tasks.some((t) => live(t.status));
  const withSource = tasks.some((t) => t.source);
  const withCost = tasks.some((t) => t.cost);
  const src = href(path('functions', functionName), { ...filterQuery(props.filters), fragment: 'rows' });
  const rows =
    tasks.length === 0
      ? h`<tr class="empty"><td colspan="${6 + (withSource ? 1 : 0) + (withCost ? 1 : 0)}">No tasks of function ${functionName} match these filters.</td></tr>`
      : tasks.map(
          (t) => h`<tr data-task-id="${t.taskId}" data-status="${t.status}">
  <th scope="row"><a href="${path('functions', functionName, 'tasks', t.taskId)}" data-link="task">${t.taskId}</a></th>
  <td>${statusBadge(t.status)}</td>
  <td>${time(t.startedTime)}</td>
  <td>${formatDuration(t.durationMs)}</td>
  <td class="num">${attemptsOf(t)}</td>
  <td>${progressCell(t)}</td>
  ${withCost ? h`<td class="num cost">${formatUsd(t.cost?.totalUsd)}</td>` : ''}
  ${withSource ? h`<td>${t.source ? formatSource(t.source) : '-'}</td>` : ''}
</tr>`,
        );
  return h`<tbody id="task-rows" data-live="${anyLive ? 'true' : 'false'}" data-src="${src}">${rows}</tbody>`;
}

function statusBoxes(selected: readonly string[]): Html {
  return h`<fieldset class="statuses"><legend>Status</legend>${ALL_STATUSES.map(
    (s) =>
      h`<label class="check"><input type="checkbox" name="status" value="${s}"${selected.includes(s) ? ' checked' : ''}> ${statusBadge(s)}</label>`,
  )}</fieldset>`;
}

function hidden(name: string, value: string | number | undefined): Html | '' {
  if (value === undefined || value === '') return '';
  return h`<input type="hidden" name="${name}" value="${value}">`;
}

export function renderTasksPage(props: TasksPageProps): Html {
  const { functionName: fn, filters: f, result } = props;
  const withSource = result.tasks.some((t) => t.source);
  const withCost = result.tasks.some((t) => t.cost);
  const windowLinks = (Object.keys(WINDOWS) as (keyof typeof WINDOWS)[]).map(
    (w) =>
      h`<li><a href="${viewHref(fn, f, { window: w, since: '', next: '' })}"${f.window === w ? h` aria-current="true"` : ''}>last ${w}</a></li>`,
  );
  const body = h`<h1>Tasks of <span class="fn">${fn}</span></h1>
${notice(props.notice)}
<nav class="actions" aria-label="Function actions">
  <a class="button" id="submit-link" href="${path('functions', fn, 'submit')}">Submit a task</a>
  <a class="button secondary" id="dead-letters-link" href="${path('functions', fn, 'dead-letters')}">Dead letters</a>
</nav>
<form id="filters" method="get" action="${path('functions', fn)}" class="filters">
  ${statusBoxes(f.status)}
  <div class="fields">
    <label>Since <input type="text" name="since" value="${f.since}" placeholder="2026-11-25T12:00 or 2h" autocomplete="off" aria-describedby="time-hint"></label>
    <label>Until <input type="text" name="until" value="${f.until}" placeholder="2026-11-25T18:00" autocomplete="off" aria-describedby="time-hint"></label>
    <label>Task id prefix <input type="text" name="prefix" value="${f.prefix}" autocomplete="off" spellcheck="false"></label>
    <label>Order <select name="order">
      <option value="desc"${f.order === 'desc' ? ' selected' : ''}>newest first</option>
      <option value="asc"${f.order === 'asc' ? ' selected' : ''}>oldest first</option>
    </select></label>
    <label>Per page <input type="number" name="limit" value="${f.limit}" min="${LIST_LIMIT.min}" max="${LIST_LIMIT.max}" step="1"></label>
    ${hidden('window', f.window)}
    <button type="submit" id="apply">Apply filters</button>
    <a href="${path('functions', fn)}" id="clear-filters">Clear</a>
  </div>
  <p class="hint" id="time-hint">Times are UTC: ISO-8601 (2026-11-25T12:00:00Z), a date and time without zone (read as UTC), or a duration before now (30m, 2h, 7d).${
    f.window ? h` Showing tasks started in the last ${f.window} (a since time replaces it).` : ''
  }</p>
</form>
<nav class="windows" aria-label="Quick time windows"><ul>${windowLinks}</ul></nav>
<table id="tasks" class="tasks">
  <caption>${result.tasks.length} task${result.tasks.length === 1 ? '' : 's'} on this page${f.next ? ' (a later page)' : ''}</caption>
  <thead><tr>
    <th scope="col">Task id</th><th scope="col">Status</th><th scope="col">Started (UTC)</th><th scope="col">Duration</th><th scope="col">Attempts</th><th scope="col">Progress</th>${
      withCost ? h`<th scope="col" class="num">Cost (USD, estimate)</th>` : ''
    }${withSource ? h`<th scope="col">Source</th>` : ''}
  </tr></thead>
  ${renderRows(fn, props)}
  ${
    withCost
      ? h`<tfoot><tr><th scope="row" colspan="6">Page total</th><td class="num" id="cost-page-total">${formatUsd(totalCostUsd(result.tasks))}</td>${withSource ? h`<td></td>` : ''}</tr></tfoot>`
      : ''
  }
</table>
<nav class="pages" aria-label="Pages">
  ${f.next ? h`<a id="first-page" href="${viewHref(fn, f, { next: '' })}">First page</a>` : ''}
  ${result.nextToken !== undefined ? h`<a id="next-page" rel="next" href="${viewHref(fn, f, { next: result.nextToken })}">Next page</a>` : ''}
</nav>
<section class="bulk" aria-labelledby="bulk-title">
  <h2 id="bulk-title">Every task matching these filters</h2>
  <p>Stop or retry every task that matches the filters above (all pages, not only this one). A dry run shows which tasks first; nothing changes until you run it.</p>
  <form id="bulk" method="post" action="${path('functions', fn, 'bulk')}">
    ${csrfField(props.csrfToken)}
    ${f.status.map((s) => hidden('status', s))}
    ${hidden('since', f.since)}${hidden('until', f.until)}${hidden('window', f.window)}${hidden('prefix', f.prefix)}${hidden('order', f.order)}
    <button type="submit" name="action" value="stop" id="bulk-stop">Stop matching tasks…</button>
    <button type="submit" name="action" value="retry" id="bulk-retry">Retry matching tasks…</button>
  </form>
</section>`;
  return layout({
    title: `Tasks of ${fn}`,
    label: props.label,
    csrfToken: props.csrfToken,
    crumbs: [{ label: 'Functions', href: '/' }, { label: fn }],
    body,
  });
}
