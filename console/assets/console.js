/*
 * The console's behaviour in the browser (plain JS, no framework, no build): the confirmation
 * dialog of forms marked data-confirm, the JSON check of payload editors, and the live refresh
 * of task rows, a task's status/progress/events and log tail, and a bulk job's progress.
 *
 * The DOM is only changed with textContent, attributes, created elements, or by swapping in a
 * <tbody> the server rendered (escaped). Nothing here runs inline: the Content-Security-Policy
 * allows scripts from the console's own origin only.
 */
(() => {
  const POLL_MS = 1000;
  const RETRY_MS = 5000;
  const MAX_PAYLOAD_BYTES = 128 * 1024;
  const TERMINAL = ['Succeeded', 'Failed', 'Stopped', 'Expired', 'Invalid'];

  /** `2026-11-25T12:00:00Z`, as the pages (and the CLI) show times. */
  function formatTime(ms) {
    if (typeof ms !== 'number' || !Number.isFinite(ms) || ms <= 0) return '-';
    return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
  }

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function statusBadge(status) {
    return el('span', { class: `status status-${String(status).toLowerCase()}`, 'data-status': status }, status);
  }

  function timeElement(ms) {
    if (typeof ms !== 'number' || ms <= 0) return el('span', { class: 'none' }, '-');
    return el('time', { datetime: new Date(ms).toISOString() }, formatTime(ms));
  }

  /** Runs `tick` every POLL_MS until it returns false; a failed tick waits longer and tries again. */
  function poll(tick) {
    let stopped = false;
    const run = async () => {
      if (stopped) return;
      if (document.hidden) {
        setTimeout(run, POLL_MS);
        return;
      }
      let again = true;
      let delay = POLL_MS;
      try {
        const result = await tick();
        if (result === false) again = false;
        if (result === 'now') delay = 0;
      } catch (_error) {
        delay = RETRY_MS;
      }
      if (again) setTimeout(run, delay);
      else stopped = true;
    };
    setTimeout(run, POLL_MS);
  }

  async function getJson(url) {
    const response = await fetch(url, { headers: { accept: 'application/json' }, credentials: 'same-origin' });
    if (!response.ok) throw new Error(`${url}: ${response.status}`);
    return response.json();
  }

  // ── Confirmation and JSON checks of forms ─────────────────────────────────
  const dialog = document.getElementById('confirm');
  let pending;

  function jsonProblem(text) {
    if (text.trim() === '') return undefined;
    const bytes = new TextEncoder().encode(text).length;
    if (bytes > MAX_PAYLOAD_BYTES) return `The payload is ${bytes} bytes; the limit is ${MAX_PAYLOAD_BYTES} bytes (128 KiB).`;
    try {
      JSON.parse(text);
      return undefined;
    } catch (error) {
      return `Not valid JSON: ${error.message}`;
    }
  }

  function editorOf(form) {
    const selector = form.getAttribute('data-json-editor');
    if (!selector) return undefined;
    const editor = form.querySelector(selector);
    const message = form.querySelector('#payload-error, [data-role="payload-error"]');
    return editor ? { editor, message } : undefined;
  }

  /** Shows (or clears) the editor's JSON problem; true when the payload is fine. */
  function checkEditor(form) {
    const found = editorOf(form);
    if (!found) return true;
    const problem = jsonProblem(found.editor.value);
    if (found.message) {
      found.message.textContent = problem || '';
      found.message.hidden = !problem;
    }
    if (problem) found.editor.setAttribute('aria-invalid', 'true');
    else found.editor.removeAttribute('aria-invalid');
    return !problem;
  }

  for (const form of document.querySelectorAll('form[data-json-editor]')) {
    const found = editorOf(form);
    if (found) found.editor.addEventListener('input', () => checkEditor(form));
  }

  document.addEventListener('submit', (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement)) return;
    if (!checkEditor(form)) {
      event.preventDefault();
      editorOf(form)?.editor.focus();
      return;
    }
    const question = form.getAttribute('data-confirm');
    if (!question || !dialog || typeof dialog.showModal !== 'function') return;
    if (form.dataset.confirmed === 'yes') {
      delete form.dataset.confirmed;
      return;
    }
    event.preventDefault();
    pending = { form, submitter: event.submitter || undefined };
    document.getElementById('confirm-text').textContent = question;
    dialog.showModal();
    document.getElementById('confirm-no').focus();
  });

  if (dialog) {
    document.getElementById('confirm-no').addEventListener('click', () => {
      pending = undefined;
      dialog.close();
    });
    document.getElementById('confirm-yes').addEventListener('click', () => {
      const chosen = pending;
      pending = undefined;
      dialog.close();
      if (!chosen) return;
      chosen.form.dataset.confirmed = 'yes';
      if (chosen.submitter) chosen.form.requestSubmit(chosen.submitter);
      else chosen.form.requestSubmit();
    });
    dialog.addEventListener('cancel', () => {
      pending = undefined;
    });
  }

  // ── Task rows ─────────────────────────────────────────────────────────────
  const rows = document.getElementById('task-rows');
  if (rows && rows.getAttribute('data-live') === 'true') {
    poll(async () => {
      const current = document.getElementById('task-rows');
      const src = current.getAttribute('data-src');
      const response = await fetch(src, { credentials: 'same-origin' });
      if (!response.ok) throw new Error(`${src}: ${response.status}`);
      const text = await response.text();
      // The server rendered (and escaped) the <tbody>; parsed inert, then moved in.
      const doc = new DOMParser().parseFromString(`<table>${text}</table>`, 'text/html');
      const fresh = doc.getElementById('task-rows');
      if (!fresh) return true;
      current.replaceWith(document.importNode(fresh, true));
      return fresh.getAttribute('data-live') === 'true';
    });
  }

  // ── A task ────────────────────────────────────────────────────────────────
  const taskBox = document.getElementById('task');
  if (taskBox && taskBox.getAttribute('data-live') === 'true') {
    const shownStatus = taskBox.getAttribute('data-status');
    poll(async () => {
      const task = await getJson(taskBox.getAttribute('data-src'));
      const status = document.getElementById('status');
      status.textContent = task.status;
      status.setAttribute('data-status', task.status);
      status.className = `status status-${String(task.status).toLowerCase()}`;
      const percent = task.status === 'Succeeded' ? 100 : (task.progress?.percent ?? 0);
      document.getElementById('progress').value = percent;
      document.getElementById('progress').textContent = `${percent}%`;
      document.getElementById('progress-percent').textContent = `${percent}%`;
      document.getElementById('progress-message').textContent = task.progress?.message ?? '';
      // A running task's duration grows; the server formats it (display.duration).
      const duration = document.getElementById('duration');
      if (duration && task.display) duration.textContent = task.display.duration;
      const events = document.getElementById('events');
      const items = (task.events || []).map((e) => {
        const li = el('li', { 'data-status': e.status });
        li.append(timeElement(e.timestamp), ' ', statusBadge(e.status));
        if (e.detail) li.append(' ', el('span', { class: 'detail' }, e.detail));
        if (e.caller) {
          // Who caused it, as the server renders it (console/pages/task.ts); textContent, never markup.
          const caller = el('span', { class: 'caller' }, 'by ');
          caller.append(el('code', {}, e.caller));
          li.append(' ', caller);
        }
        return li;
      });
      events.replaceChildren(...items);
      if (task.status !== shownStatus) {
        // A new status brings other buttons, attempts, a result or an error: the server renders them.
        setTimeout(() => location.replace(location.pathname), TERMINAL.includes(task.status) ? 300 : 0);
        return false;
      }
      return true;
    });
  }

  const tail = document.getElementById('log-tail');
  if (tail) {
    let next = tail.getAttribute('data-next') || '';
    let skip = Number(tail.getAttribute('data-skip') || '0');
    const attempt = tail.getAttribute('data-attempt') || '';
    poll(async () => {
      const params = new URLSearchParams({ skip: String(skip) });
      if (next) params.set('next', next);
      if (attempt) params.set('attempt', attempt);
      const page = await getJson(`${tail.getAttribute('data-src')}?${params}`);
      const atBottom = tail.scrollHeight - tail.scrollTop - tail.clientHeight < 24;
      for (const event of page.events || []) {
        const li = el('li');
        li.append(timeElement(event.timestamp), ' ', el('span', { class: 'line' }, String(event.message).replace(/\n+$/, '')));
        tail.append(li);
      }
      if (atBottom) tail.scrollTop = tail.scrollHeight;
      next = page.next || '';
      skip = page.skip || 0;
      if (page.more) return 'now';
      return !(TERMINAL.includes(page.status) && (page.events || []).length === 0);
    });
  }

  // ── A bulk job ────────────────────────────────────────────────────────────
  const job = document.getElementById('bulk-job');
  if (job && job.getAttribute('data-live') === 'true') {
    poll(async () => {
      const state = await getJson(job.getAttribute('data-src'));
      const p = state.progress;
      const bar = document.getElementById('bulk-progress');
      bar.max = Math.max(p.total, 1);
      bar.value = p.total === 0 ? 1 : p.done;
      bar.textContent = `${p.done} of ${p.total}`;
      document.getElementById('bulk-done').textContent = String(p.done);
      document.getElementById('bulk-total').textContent = String(p.total);
      document.getElementById('bulk-succeeded').textContent = String(p.succeeded);
      document.getElementById('bulk-refused').textContent = String(p.refused);
      if (state.done) {
        location.reload();
        return false;
      }
      return true;
    });
  }
})();
