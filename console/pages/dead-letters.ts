/**
 * Dead letters: the records on a function's failure queue (its SQS `onFailure` destination),
 * decoded — condition, task, error, request payload — each with "retry this task" and "resubmit
 * with an edited payload under a new id". The SDK's redrive deletes the message only after the
 * TaskApi accepted the task. A function whose failure destination is not a queue gets a page
 * saying so.
 */
import type { DeadLetter, DeadLetterQueueInfo } from '../../client/dead-letters';
import { type DestinationTarget, TASK_ID_MAX_LENGTH, TASK_ID_PATTERN, TRIGGER_TASK_ID_PREFIXES } from '../../lambda/model';
import { actionError, csrfField, h, type Html, jsonText, layout, notice, path, time } from '../html';

/** Messages read for the page (the SDK hides each for a few seconds while reading, then releases it). */
export const DEAD_LETTERS_SHOWN = 50;

/**
 * `job-1` → `job-1-r1`, `job-1-r1` → `job-1-r2`: a new id for a resubmit, valid under the id rule;
 * a trigger's id (`k_…`, `s_…`, which a new task may not use) → `r_k_…`.
 */
export function suggestTaskId(taskId: string | undefined): string {
  if (!taskId) return '';
  if (Object.values(TRIGGER_TASK_ID_PREFIXES).some((prefix) => taskId.startsWith(prefix))) {
    return `r_${taskId}`.slice(0, TASK_ID_MAX_LENGTH);
  }
  const m = /^(.*)-r(\d+)$/.exec(taskId);
  const next = m ? `${m[1]}-r${Number(m[2]) + 1}` : `${taskId}-r1`;
  if (next.length <= TASK_ID_MAX_LENGTH && TASK_ID_PATTERN.test(next)) return next;
  const cut = `${taskId.slice(0, TASK_ID_MAX_LENGTH - 3)}-r1`;
  return TASK_ID_PATTERN.test(cut) ? cut : '';
}

/** What a refused resubmit had in its form (shown again in that row). */
export interface EnteredResubmit {
  readonly messageId: string;
  readonly payload: string;
  readonly taskId: string;
}

export interface DeadLettersPageProps {
  readonly functionName: string;
  readonly label: string;
  readonly csrfToken: string;
  readonly queue?: DeadLetterQueueInfo;
  readonly letters: readonly DeadLetter[];
  /** Why there is no queue to read (no failure destination, or not SQS). */
  readonly noQueue?: { readonly target?: DestinationTarget; readonly message: string };
  readonly error?: { readonly name: string; readonly message: string };
  readonly entered?: EnteredResubmit;
  readonly notice?: string;
}

function row(fn: string, letter: DeadLetter, csrf: string, entered: EnteredResubmit | undefined): Html {
  const base = path('functions', fn, 'dead-letters', letter.messageId);
  const mine = entered?.messageId === letter.messageId ? entered : undefined;
  const payloadText = mine?.payload ?? (letter.record ? jsonText(letter.requestPayload ?? null) : letter.body);
  const who = letter.taskId ? `task ${letter.taskId}` : `message ${letter.messageId}`;
  return h`<tr data-message-id="${letter.messageId}">
  <td data-col="sent">${time(letter.sentTime)}${letter.receiveCount !== undefined ? h`<div class="hint">received ${letter.receiveCount}×</div>` : ''}</td>
  <td data-col="condition">${letter.condition ?? h`<span class="none">not a destination record</span>`}</td>
  <td data-col="task-id">${letter.taskId ? h`<a href="${path('functions', fn, 'tasks', letter.taskId)}">${letter.taskId}</a>` : h`<span class="none">-</span>`}</td>
  <td data-col="error">${
    letter.errorType || letter.errorMessage
      ? h`<strong>${letter.errorType ?? 'Error'}</strong>${letter.errorMessage ? h`: <span class="error-message">${letter.errorMessage}</span>` : ''}`
      : h`<span class="none">-</span>`
  }</td>
  <td data-col="payload"><pre class="json" tabindex="0" aria-label="request payload of ${who}">${letter.record ? jsonText(letter.requestPayload ?? null) : letter.body}</pre></td>
  <td data-col="actions">
    ${
      letter.taskId
        ? h`<form method="post" action="${base}/retry" data-confirm="Retry ${who} of ${fn}? The message is removed from the queue once the retry is accepted.">${csrfField(csrf)}<button type="submit" data-action="retry">Retry this task</button></form>`
        : ''
    }
    <form method="post" action="${base}/resubmit" class="resubmit editor-form" data-json-editor="textarea[name=payload]" data-confirm="Submit a new task to ${fn} with this payload? The message is removed from the queue once the new task is accepted.">
      ${csrfField(csrf)}
      <fieldset><legend>Resubmit with an edited payload</legend>
      <label>Payload (JSON) <textarea name="payload" rows="6" spellcheck="false">${payloadText}</textarea></label>
      <p class="field-error" data-role="payload-error" role="alert" hidden></p>
      <label>New task id <input type="text" name="taskId" required value="${mine?.taskId ?? suggestTaskId(letter.taskId)}" autocomplete="off" spellcheck="false"></label>
      <button type="submit" data-action="resubmit">Resubmit as a new task</button>
      </fieldset>
    </form>
  </td>
</tr>`;
}

export function renderDeadLettersPage(props: DeadLettersPageProps): Html {
  const fn = props.functionName;
  const crumbs = [{ label: 'Functions', href: '/' }, { label: fn, href: path('functions', fn) }, { label: 'Dead letters' }];
  if (props.noQueue) {
    const body = h`<h1>Dead letters of <span class="fn">${fn}</span></h1>
<p id="no-queue" class="notice">${props.noQueue.message}</p>
<p>Dead letters can be read here when the function’s failure destination (<code>onFailure</code>) is an SQS queue${
      props.noQueue.target ? h`; it is ${props.noQueue.target.type} <code>${props.noQueue.target.arn}</code>` : '; it has none'
    }.</p>`;
    return layout({ title: `Dead letters of ${fn}`, label: props.label, csrfToken: props.csrfToken, crumbs, body });
  }
  const q = props.queue;
  const body = h`<h1>Dead letters of <span class="fn">${fn}</span></h1>
${notice(props.notice)}
${actionError(props.error)}
${
  q
    ? h`<dl class="facts" id="queue">
  <dt>Queue</dt><dd><code id="queue-url">${q.queueUrl}</code></dd>
  <dt>Depth</dt><dd><span id="queue-depth" data-stat="dlqDepth">${q.depth}</span> visible${q.inFlight > 0 ? h`, ${q.inFlight} in flight` : ''}</dd>
</dl>`
    : ''
}
<p class="hint">Reading the queue hides each message for a few seconds and releases it right away; a redrive removes a message only after the TaskApi accepted the task. At most ${DEAD_LETTERS_SHOWN} messages are shown.</p>
${
  props.letters.length === 0
    ? h`<p class="none" id="no-letters">The failure queue is empty.</p>`
    : h`<div class="scroll"><table id="dead-letters">
  <caption>${props.letters.length} message${props.letters.length === 1 ? '' : 's'}, newest first</caption>
  <thead><tr><th scope="col">Sent (UTC)</th><th scope="col">Condition</th><th scope="col">Task</th><th scope="col">Error</th><th scope="col">Request payload</th><th scope="col">Redrive</th></tr></thead>
  <tbody>${props.letters.map((l) => row(fn, l, props.csrfToken, props.entered))}</tbody>
</table></div>`
}`;
  return layout({ title: `Dead letters of ${fn}`, label: props.label, csrfToken: props.csrfToken, crumbs, body });
}
