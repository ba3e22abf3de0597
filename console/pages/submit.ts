/**
 * Submitting a task: a JSON payload editor (checked as you type by /assets/console.js, which
 * blocks a submit of invalid JSON; checked again on the server with the model's parsePayloadText,
 * encodePayload and validateTaskId) and an optional task id. A refusal (a taken id, bad input)
 * shows the form again with what was entered and the service's typed error.
 */
import { MAX_PAYLOAD_BYTES, TASK_ID_RULE } from '../../lambda/model';
import { actionError, csrfField, h, type Html, layout, path } from '../html';

export interface SubmitPageProps {
  readonly functionName: string;
  readonly label: string;
  readonly csrfToken: string;
  /** What was entered (kept when the submit is refused). */
  readonly payload?: string;
  readonly taskId?: string;
  readonly error?: { readonly name: string; readonly message: string };
}

export const DEFAULT_PAYLOAD_TEXT = '{\n  \n}';

export function renderSubmitPage(props: SubmitPageProps): Html {
  const fn = props.functionName;
  const body = h`<h1>Submit a task to <span class="fn">${fn}</span></h1>
${actionError(props.error)}
<form id="submit-form" class="editor-form" method="post" action="${path('functions', fn, 'tasks')}" data-json-editor="#payload-editor" data-confirm="Submit a task to ${fn}?">
  ${csrfField(props.csrfToken)}
  <label for="payload-editor">Payload (JSON, at most ${MAX_PAYLOAD_BYTES / 1024} KiB; empty for none)</label>
  <textarea id="payload-editor" name="payload" rows="14" spellcheck="false" autocomplete="off" aria-describedby="payload-error payload-hint">${props.payload ?? DEFAULT_PAYLOAD_TEXT}</textarea>
  <p class="hint" id="payload-hint">Checked as you type; the service checks it again.</p>
  <p class="field-error" id="payload-error" role="alert" hidden></p>
  <label for="task-id-input">Task id (optional; generated when empty)</label>
  <input type="text" id="task-id-input" name="taskId" value="${props.taskId ?? ''}" autocomplete="off" spellcheck="false" pattern="[A-Za-z_][A-Za-z0-9_\\-]{0,127}" aria-describedby="task-id-hint">
  <p class="hint" id="task-id-hint">${TASK_ID_RULE}. An id that is taken by a live task is refused.</p>
  <div class="buttons">
    <button type="submit" id="submit-task">Submit</button>
    <a href="${path('functions', fn)}">Cancel</a>
  </div>
</form>`;
  return layout({
    title: `Submit to ${fn}`,
    label: props.label,
    csrfToken: props.csrfToken,
    crumbs: [{ label: 'Functions', href: '/' }, { label: fn, href: path('functions', fn) }, { label: 'Submit' }],
    body,
  });
}
