/**
 * Bulk stop or retry: the dry run (how many tasks match and may be acted on, which ones, how many
 * match but may not be, whether the plan was cut) with the confirmed run button, and the running
 * job's page — a progress bar the page refreshes from `/api/bulk/:jobId`, then the summary:
 * how many succeeded, and each refusal with the service's error name.
 */
import type { BulkFilter } from '../../client/bulk';
import { formatDuration } from '../../client/format';
import type { BulkJob, PlanEntry } from '../bulk-jobs';
import { csrfField, h, type Html, layout, path, time } from '../html';

/** Ids listed on the dry-run page; the rest are counted. */
export const PLAN_IDS_SHOWN = 100;

const VERB = { stop: 'Stop', retry: 'Retry' } as const;

function filterText(filter: BulkFilter): Html {
  const parts: Html[] = [];
  const status = filter.status === undefined ? [] : typeof filter.status === 'string' ? [filter.status] : [...filter.status];
  parts.push(h`<li>status: ${status.length > 0 ? status.join(', ') : 'any'}</li>`);
  if (filter.since !== undefined) parts.push(h`<li>started at or after ${time(filter.since)}</li>`);
  if (filter.until !== undefined) parts.push(h`<li>started at or before ${time(filter.until)}</li>`);
  if (filter.prefix) parts.push(h`<li>task id starts with <code>${filter.prefix}</code></li>`);
  return h`<ul class="plain" id="bulk-filter">${parts}</ul>`;
}

export function renderBulkPlanPage(props: { entry: PlanEntry; label: string; csrfToken: string }): Html {
  const { entry } = props;
  const { plan } = entry;
  const fn = plan.functionName;
  const n = plan.taskIds.length;
  const verb = VERB[plan.action];
  const shown = plan.taskIds.slice(0, PLAN_IDS_SHOWN);
  const body = h`<h1>Dry run: ${plan.action} tasks of <span class="fn">${fn}</span></h1>
<section id="bulk-plan" data-action="${plan.action}" aria-labelledby="plan-title">
  <h2 id="plan-title"><span data-count="${n}">${n}</span> task${n === 1 ? '' : 's'} to ${plan.action}</h2>
  <p>Tasks of ${fn} matching:</p>
  ${filterText(plan.filter)}
  <p><span data-ineligible="${plan.ineligible}">${plan.ineligible}</span> more task${plan.ineligible === 1 ? '' : 's'} match but cannot be ${
    plan.action === 'stop' ? 'stopped (they are not live)' : 'retried (they are not Failed, Stopped or Expired)'
  }; they are left alone.</p>
  ${
    plan.truncated
      ? h`<p class="alert" role="alert" id="bulk-truncated">More tasks match than one dry run may hold; only the first ${n} are in this plan. Narrow the filters, or run this plan and make another dry run.</p>`
      : ''
  }
  ${n > 0 ? h`<ol id="bulk-ids">${shown.map((id) => h`<li><a href="${path('functions', fn, 'tasks', id)}">${id}</a></li>`)}</ol>` : ''}
  ${n > shown.length ? h`<p id="bulk-more">and ${n - shown.length} more</p>` : ''}
  <p class="hint">Nothing has changed yet. This dry run can be run once, until ${time(entry.expiresAt)}; the tasks are the ones listed now, each acted on at most once.</p>
  ${
    n > 0
      ? h`<form method="post" action="${path('bulk', entry.id, 'run')}" data-confirm="${verb} ${n} task${n === 1 ? '' : 's'} of ${fn}${
          shown.length <= 5 ? ` (${shown.join(', ')})` : ` (${shown.slice(0, 5).join(', ')} and ${n - 5} more)`
        }?">${csrfField(props.csrfToken)}<button type="submit" id="bulk-run" class="danger">${verb} ${n} task${n === 1 ? '' : 's'}</button></form>`
      : h`<p id="bulk-nothing">Nothing to ${plan.action}.</p>`
  }
  <p><a href="${path('functions', fn)}">Back to the tasks of ${fn}</a></p>
</section>`;
  return layout({
    title: `Dry run: ${plan.action} tasks of ${fn}`,
    label: props.label,
    csrfToken: props.csrfToken,
    crumbs: [{ label: 'Functions', href: '/' }, { label: fn, href: path('functions', fn) }, { label: `Bulk ${plan.action}` }],
    body,
  });
}

/** The job as `/api/bulk/:jobId` answers it. */
export function jobJson(job: BulkJob) {
  return {
    id: job.id,
    planId: job.planId,
    functionName: job.plan.functionName,
    action: job.plan.action,
    startedAt: job.startedAt,
    progress: job.progress,
    done: job.done,
    ...(job.summary ? { summary: job.summary } : {}),
    ...(job.error ? { error: job.error } : {}),
  };
}

function summaryBlock(job: BulkJob): Html | '' {
  const s = job.summary;
  if (!job.done) return '';
  const fn = job.plan.functionName;
  const succeeded = s?.succeeded.length ?? 0;
  const refused = s?.refused ?? [];
  const failed = s?.failed ?? [];
  const skipped = s?.skipped ?? [];
  return h`<section id="bulk-summary" aria-labelledby="summary-title">
  <h2 id="summary-title">Summary</h2>
  ${job.error ? h`<div class="alert" role="alert" id="action-error"><strong>${job.error.name}</strong>: ${job.error.message}</div>` : ''}
  <p><span data-succeeded="${succeeded}">${succeeded}</span> ${job.plan.action === 'stop' ? 'stopped' : 'retried'},
     <span data-refused="${refused.length}">${refused.length}</span> refused${
       failed.length > 0 ? h`, <span data-failed="${failed.length}">${failed.length}</span> failed` : ''
     }${skipped.length > 0 ? h`, <span data-skipped="${skipped.length}">${skipped.length}</span> not attempted` : ''}
     ${s ? h`in ${formatDuration(s.durationMs)}` : ''}.</p>
  ${
    refused.length > 0
      ? h`<h3>Refused</h3><ul id="bulk-refused-list">${refused.map(
          (r) =>
            h`<li data-task-id="${r.taskId}"><a href="${path('functions', fn, 'tasks', r.taskId)}">${r.taskId}</a>: <strong class="error-name">${r.error.name}</strong> ${r.error.message}</li>`,
        )}</ul>`
      : ''
  }
  ${
    failed.length > 0
      ? h`<h3>Failed (the service may or may not have acted)</h3><ul id="bulk-failed-list">${failed.map(
          (r) =>
            h`<li data-task-id="${r.taskId}"><a href="${path('functions', fn, 'tasks', r.taskId)}">${r.taskId}</a>: <strong class="error-name">${r.error.name}</strong> ${r.error.message}</li>`,
        )}</ul>`
      : ''
  }
  <p><a href="${path('functions', fn)}">Back to the tasks of ${fn}</a></p>
</section>`;
}

export function renderBulkJobPage(props: { job: BulkJob; label: string; csrfToken: string }): Html {
  const { job } = props;
  const fn = job.plan.functionName;
  const p = job.progress;
  const body = h`<h1>Bulk ${job.plan.action} of tasks of <span class="fn">${fn}</span></h1>
<section id="bulk-job" data-live="${job.done ? 'false' : 'true'}" data-src="${path('api', 'bulk', job.id)}" aria-labelledby="job-title">
  <h2 id="job-title">${job.done ? 'Done' : 'Running'}</h2>
  <progress id="bulk-progress" max="${Math.max(p.total, 1)}" value="${p.total === 0 ? 1 : p.done}" aria-label="bulk progress">${p.done} of ${p.total}</progress>
  <p role="status"><span id="bulk-done">${p.done}</span> of <span id="bulk-total">${p.total}</span> done:
    <span id="bulk-succeeded">${p.succeeded}</span> succeeded, <span id="bulk-refused">${p.refused}</span> refused. Started ${time(job.startedAt)}.</p>
</section>
${summaryBlock(job)}`;
  return layout({
    title: `Bulk ${job.plan.action} of ${fn}`,
    label: props.label,
    csrfToken: props.csrfToken,
    crumbs: [{ label: 'Functions', href: '/' }, { label: fn, href: path('functions', fn) }, { label: `Bulk ${job.plan.action}` }],
    body,
  });
}
