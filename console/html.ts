/**
 * The console's shared HTML: the page layout, status badges, times, JSON blocks, the CSRF field,
 * the confirmation dialog and alerts. Everything goes through hono's `html` tag, which escapes every
 * interpolated value: task data (ids, payloads, results, errors, logs) is user data and is never
 * passed through `raw()`. Markup carries no inline script or style (the Content-Security-Policy
 * forbids both); behaviour comes from /assets/console.js, looks from /assets/console.css.
 */
import { html } from 'hono/html';
import type { HtmlEscapedString } from 'hono/utils/html';
import { formatTime } from '../client/format';
import { isTerminal, type TaskStatus } from '../lambda/model';

export type Html = HtmlEscapedString;

/**
 * `html` whose result is known to be a string: no interpolated value is a Promise here, and a
 * page built by accident from one would otherwise render as "[object Promise]".
 */
export function h(strings: TemplateStringsArray, ...values: unknown[]): Html {
  const out = html(strings, ...values);
  if (out instanceof Promise) throw new Error('console/html: a Promise was interpolated into a page');
  return out;
}

/** A path with its query (repeated keys for arrays); values are URL-encoded, empty ones left out. */
export function href(path: string, query: Record<string, string | number | readonly string[] | undefined> = {}): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === '') continue;
    if (Array.isArray(value)) for (const v of value) params.append(key, v);
    else params.append(key, String(value));
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

/** `/functions/<fn>`-style path segments, each encoded. */
export function path(...segments: readonly string[]): string {
  return `/${segments.map((s) => encodeURIComponent(s)).join('/')}`;
}

/** A status as text, with a class giving its colour and symbol (CSS), so colour never carries it alone. */
export function statusBadge(status: TaskStatus, id?: string): Html {
  return h`<span class="status status-${status.toLowerCase()}" data-status="${status}"${id ? h` id="${id}"` : ''}>${status}</span>`;
}

export function live(status: TaskStatus): boolean {
  return !isTerminal(status);
}

/** A UTC time like the CLI's (`2026-11-25T12:00:00Z`), machine-readable in `datetime`. */
export function time(ms: number | undefined): Html {
  const text = formatTime(ms);
  return text === '-' ? h`<span class="none">-</span>` : h`<time datetime="${new Date(ms as number).toISOString()}">${text}</time>`;
}

/** Pretty JSON of a value (task data: escaped like any other text). */
export function jsonText(value: unknown): string {
  if (value === undefined) return '';
  const text = JSON.stringify(value, null, 2);
  return text === undefined ? String(value) : text;
}

export function jsonBlock(id: string, value: unknown, label: string): Html {
  if (value === undefined) return h`<p class="none" id="${id}" data-empty="true">no ${label}</p>`;
  return h`<pre class="json" id="${id}" tabindex="0" aria-label="${label}">${jsonText(value)}</pre>`;
}

export function csrfField(token: string): Html {
  return h`<input type="hidden" name="_csrf" value="${token}">`;
}

/** The typed error of a refused action (or of bad input), named and explained. */
export function actionError(error: { name: string; message: string } | undefined): Html | '' {
  if (!error) return '';
  return h`<div class="alert" role="alert" id="action-error"><strong class="error-name">${error.name}</strong>: <span class="error-message">${error.message}</span></div>`;
}

export function notice(text: string | undefined): Html | '' {
  if (!text) return '';
  return h`<div class="notice" role="status" id="notice">${text}</div>`;
}

export interface Crumb {
  readonly label: string;
  readonly href?: string;
}

export interface LayoutProps {
  readonly title: string;
  /** What the console is connected to: `local runtime at …`, `stack X in region`. */
  readonly label: string;
  readonly csrfToken: string;
  readonly crumbs?: readonly Crumb[];
  readonly body: Html;
}

const CONFIRM_DIALOG = h`<dialog id="confirm" aria-labelledby="confirm-title" aria-describedby="confirm-text">
  <h2 id="confirm-title">Are you sure?</h2>
  <p id="confirm-text"></p>
  <div class="buttons">
    <button type="button" id="confirm-no">Cancel</button>
    <button type="button" id="confirm-yes" class="danger">Yes, do it</button>
  </div>
</dialog>`;

export function layout(props: LayoutProps): Html {
  const crumbs = props.crumbs ?? [];
  return h`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>${props.title} · asynctask console</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/assets/console.css">
<script src="/assets/console.js" defer></script>
</head>
<body data-csrf="${props.csrfToken}">
<a class="skip" href="#main">Skip to content</a>
<header class="top">
  <a class="brand" href="/">asynctask console</a>
  <span class="target" id="target" title="where the console sends its requests">${props.label}</span>
</header>
${
  crumbs.length > 0
    ? h`<nav class="crumbs" aria-label="Breadcrumb"><ol>${crumbs.map((c, i) =>
        c.href && i < crumbs.length - 1
          ? h`<li><a href="${c.href}">${c.label}</a></li>`
          : h`<li><span aria-current="page">${c.label}</span></li>`,
      )}</ol></nav>`
    : ''
}
<main id="main" tabindex="-1">
${props.body}
</main>
${CONFIRM_DIALOG}
</body>
</html>`;
}
