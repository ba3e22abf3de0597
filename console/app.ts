/**
 * The task console as a Hono app: server-side rendered pages over the SDK (`AsyncTaskClient`, the
 * only way it reaches tasks), a few JSON endpoints for the pages' live refresh, and the static
 * CSS and JS of ./assets. The routes and the ids in the pages are a contract (docs/console.md).
 *
 * Safety: every page is built with hono's escaping `html` tag and sent with a strict
 * Content-Security-Policy (no inline script or style at all); GETs never change anything; every
 * POST must come from the console's own origin (hono's `csrf()`: Origin or Sec-Fetch-Site) and
 * carry the per-process token (`_csrf` field or `x-csrf-token` header), compared in constant time;
 * with `allowedHosts` the Host header must name the console (no DNS rebinding). Nothing of the
 * environment or the AWS configuration is ever rendered.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as nodePath from 'node:path';
import { type Context, Hono } from 'hono';
import { csrf } from 'hono/csrf';
import { HTTPException } from 'hono/http-exception';
import { secureHeaders } from 'hono/secure-headers';
import { BULK_ACTIONS, type BulkAction, planBulk } from '../client/bulk';
import type { AsyncTaskClient } from '../client/client';
import { formatDuration } from '../client/format';
import { InvalidArgumentError, parsePayloadText, TaskFunctionNotFoundError, validateTaskId } from '../lambda/model';
import { BulkJobs } from './bulk-jobs';
import { classify, type Problem } from './errors';
import { parseTaskFilters, parseWindow, type Query } from './filters';
import { type Crumb, type Html, path } from './html';
import { jobJson, renderBulkJobPage, renderBulkPlanPage } from './pages/bulk';
import { DEAD_LETTERS_SHOWN, type EnteredResubmit, renderDeadLettersPage } from './pages/dead-letters';
import { renderProblemPage } from './pages/error';
import { loadFunctionsView, renderFunctionsPage } from './pages/functions';
import { renderSubmitPage } from './pages/submit';
import { loadTaskView, renderTaskPage } from './pages/task';
import { renderRows, renderTasksPage } from './pages/tasks';

export interface ConsoleAppOptions {
  readonly client: AsyncTaskClient;
  /** What the console is connected to, shown on every page: `local runtime at http://127.0.0.1:4566`, `stack AsyncTaskDemo in us-east-1`. */
  readonly label: string;
  /** @default Date.now */
  readonly now?: () => number;
  /**
   * The Host header values the console answers to (e.g. `127.0.0.1:4567`, `localhost:4567`), read
   * per request; another Host is refused (a DNS-rebinding page cannot read the console's token).
   * @default - any Host
   */
  readonly allowedHosts?: () => readonly string[] | undefined;
  /**
   * The per-process CSRF token.
   * @default - 32 random bytes, hex
   */
  readonly csrfToken?: string;
}

/** Notices shown after a redirect (`?done=`). */
const DONE: Readonly<Record<string, string>> = {
  stop: 'Stop requested: the task moves to Stopping, then to Stopped.',
  retry: 'Retry accepted: the task runs again under the same id.',
  submit: 'Task submitted.',
  redrive: 'Dead letter redriven: the task was accepted and the message removed from the failure queue.',
  'redrive-kept':
    'The task was accepted, but the message could not be removed from the failure queue: it will show up there again (redriving it again is refused if the task is live).',
};

const ASSETS: Readonly<Record<string, string>> = {
  'console.css': 'text/css; charset=utf-8',
  'console.js': 'text/javascript; charset=utf-8',
};

const SAFE_METHODS = /^(GET|HEAD|OPTIONS)$/;

type Form = Record<string, string[]>;
const forms = new WeakMap<Request, Promise<Form>>();

/** The POSTed form, every field as its list of values (parsed once per request). */
function formOf(c: Context): Promise<Form> {
  let parsed = forms.get(c.req.raw);
  if (!parsed) {
    parsed = c.req.parseBody({ all: true }).then((body) => {
      const out: Form = {};
      for (const [key, value] of Object.entries(body)) {
        const values = Array.isArray(value) ? value : [value];
        out[key] = values.filter((v): v is string => typeof v === 'string');
      }
      return out;
    });
    forms.set(c.req.raw, parsed);
  }
  return parsed;
}

function field(form: Form, name: string): string {
  return form[name]?.[0] ?? '';
}

function sameToken(given: string | undefined, expected: string): boolean {
  if (typeof given !== 'string' || given === '') return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

function errorJson(error: { name: string; message: string }) {
  return { error: { name: error.name, message: error.message } };
}

/** A typed error the page shows in `#action-error`; environment problems (credentials, endpoint) are thrown on to the problem page. */
function refusal(error: unknown): { status: number; error: { name: string; message: string } } {
  const problem = classify(error);
  if (problem.kind !== 'typed') throw error;
  return { status: problem.status, error: { name: problem.name, message: problem.message } };
}

export function createConsoleApp(options: ConsoleAppOptions): Hono {
  const { client, label } = options;
  const now = options.now ?? Date.now;
  const token = options.csrfToken ?? randomBytes(32).toString('hex');
  const bulk = new BulkJobs({ client, now });
  const assetCache = new Map<string, string>();
  const app = new Hono();

  const page = (c: Context, body: Html, status = 200) => c.html(body, status as 200);
  const problemPage = (c: Context, problem: Problem, crumbs?: readonly Crumb[]) =>
    page(c, renderProblemPage({ problem, label, csrfToken: token, ...(crumbs ? { crumbs } : {}) }), problem.status);
  const forbidden = (c: Context, name: string, message: string, fix: string[]) =>
    problemPage(c, { kind: 'typed', status: 403, title: 'Forbidden', name, message, fix });

  app.use(
    '*',
    secureHeaders({
      contentSecurityPolicy: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:'],
        objectSrc: ["'none'"],
        baseUri: ["'none'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
      },
      referrerPolicy: 'no-referrer',
      xFrameOptions: 'DENY',
      // Plain http on a loopback address: a Strict-Transport-Security header would only mislead.
      strictTransportSecurity: false,
    }),
  );

  // Pages and data may hold task payloads: never cached by the browser.
  app.use('*', async (c, next) => {
    await next();
    if (!c.req.path.startsWith('/assets/')) c.header('Cache-Control', 'no-store');
  });

  app.use('*', async (c, next) => {
    const allowed = options.allowedHosts?.();
    const host = c.req.header('host') ?? '';
    if (allowed && !allowed.includes(host.toLowerCase())) {
      return forbidden(c, 'UnknownHost', `this console answers to ${allowed.join(' or ')}, not to Host '${host}'`, [
        `Open the console at http://${allowed[0]}/`,
      ]);
    }
    return next();
  });

  const sameOrigin = csrf();
  app.use('*', async (c, next) => {
    if (SAFE_METHODS.test(c.req.method)) return next();
    try {
      await sameOrigin(c, async () => undefined);
    } catch (error) {
      if (!(error instanceof HTTPException)) throw error;
      const origin = c.req.header('origin');
      return forbidden(
        c,
        'ForeignOrigin',
        `this request came from ${origin ? `another origin (${origin})` : 'a page that did not say its origin'}, not from the console’s own pages (${new URL(c.req.url).origin}); the console accepts changes only from its own pages`,
        ['Use the buttons of the console’s own pages, at the address the console printed.'],
      );
    }
    const given = c.req.header('x-csrf-token') ?? field(await formOf(c), '_csrf');
    if (!sameToken(given, token)) {
      return forbidden(
        c,
        'InvalidCsrfToken',
        given ? 'the request’s CSRF token is not this console’s' : 'the request carries no CSRF token (_csrf field or x-csrf-token header)',
        ['Reload the console’s page and try again: the token changes whenever the console restarts.'],
      );
    }
    return next();
  });

  app.get('/assets/:file', (c) => {
    const file = c.req.param('file');
    const type = ASSETS[file];
    if (!type) return c.notFound();
    let text = assetCache.get(file);
    if (text === undefined) {
      text = readFileSync(nodePath.join(__dirname, 'assets', file), 'utf8');
      assetCache.set(file, text);
    }
    c.header('Content-Type', type);
    c.header('Cache-Control', 'no-cache');
    return c.body(text);
  });

  // ── Functions ──────────────────────────────────────────────────────────────
  app.get('/', async (c) => {
    const window = parseWindow(c.req.query('window'));
    const view = await loadFunctionsView(client, window, now());
    return page(c, renderFunctionsPage({ view, label, csrfToken: token }));
  });

  // ── Tasks of a function ────────────────────────────────────────────────────
  app.get('/functions/:fn', async (c) => {
    const fn = c.req.param('fn');
    const filters = parseTaskFilters(fn, c.req.queries() as Query, now());
    const result = await client.list(filters.list);
    if (c.req.query('fragment') === 'rows') {
      return page(c, renderRows(fn, { filters: filters.values, result }));
    }
    return page(c, renderTasksPage({ functionName: fn, filters: filters.values, result, label, csrfToken: token }));
  });

  // ── Submit ─────────────────────────────────────────────────────────────────
  const requireFunction = async (fn: string) => {
    const functions = await client.functions();
    if (!functions.some((f) => f.name === fn)) {
      const known = functions.map((f) => f.name);
      throw new TaskFunctionNotFoundError(
        `task function '${fn}' not found; known functions: ${known.length > 0 ? known.join(', ') : '(none)'}`,
        {
          details: { functionName: fn, known },
        },
      );
    }
  };

  app.get('/functions/:fn/submit', async (c) => {
    const fn = c.req.param('fn');
    await requireFunction(fn);
    return page(c, renderSubmitPage({ functionName: fn, label, csrfToken: token }));
  });

  app.post('/functions/:fn/tasks', async (c) => {
    const fn = c.req.param('fn');
    const form = await formOf(c);
    const payloadText = field(form, 'payload');
    const taskId = field(form, 'taskId').trim();
    try {
      const payload = payloadText.trim() === '' ? undefined : parsePayloadText(payloadText, 'payload');
      if (taskId !== '') validateTaskId(taskId);
      const task = await client.submit({
        functionName: fn,
        ...(taskId !== '' ? { taskId } : {}),
        ...(payload !== undefined ? { payload } : {}),
      });
      return c.redirect(`${path('functions', fn, 'tasks', task.taskId)}?done=submit`, 303);
    } catch (error) {
      const refused = refusal(error);
      return page(
        c,
        renderSubmitPage({ functionName: fn, label, csrfToken: token, payload: payloadText, taskId, error: refused.error }),
        refused.status,
      );
    }
  });

  // ── A task ─────────────────────────────────────────────────────────────────
  const taskPage = async (
    c: Context,
    fn: string,
    taskId: string,
    extra: { status?: number; error?: { name: string; message: string } } = {},
  ) => {
    const view = await loadTaskView(client, fn, taskId);
    const done = DONE[c.req.query('done') ?? ''];
    return page(
      c,
      renderTaskPage({ view, label, csrfToken: token, ...(done ? { notice: done } : {}), ...(extra.error ? { error: extra.error } : {}) }),
      extra.status ?? 200,
    );
  };

  app.get('/functions/:fn/tasks/:id', (c) => {
    const taskId = validateTaskId(c.req.param('id'));
    return taskPage(c, c.req.param('fn'), taskId);
  });

  for (const action of ['stop', 'retry'] as const) {
    app.post(`/functions/:fn/tasks/:id/${action}`, async (c) => {
      const fn = c.req.param('fn');
      const taskId = validateTaskId(c.req.param('id'));
      try {
        await (action === 'stop' ? client.stop(fn, taskId) : client.retry(fn, taskId));
      } catch (error) {
        const refused = refusal(error);
        return taskPage(c, fn, taskId, refused);
      }
      return c.redirect(`${path('functions', fn, 'tasks', taskId)}?done=${action}`, 303);
    });
  }

  // ── JSON for the live refresh ──────────────────────────────────────────────
  app.get('/api/functions/:fn/tasks/:id', async (c) => {
    const task = await client.get(c.req.param('fn'), validateTaskId(c.req.param('id')));
    // The record, and what the page shows of it that changes while the task runs, formatted as the
    // server renders it (client/format.ts), so the page's script formats nothing itself.
    return c.json({ ...task, display: { duration: formatDuration(task.durationMs) } });
  });

  app.get('/api/functions/:fn/tasks/:id/logs', async (c) => {
    const fn = c.req.param('fn');
    const taskId = validateTaskId(c.req.param('id'));
    const next = c.req.query('next') || undefined;
    const skipText = c.req.query('skip') ?? '0';
    const attemptText = c.req.query('attempt') ?? '';
    const skip = /^\d+$/.test(skipText) ? Number(skipText) : Number.NaN;
    if (!Number.isInteger(skip)) throw new InvalidArgumentError(`skip must be an integer of 0 or more (given '${skipText}')`);
    const attempt = attemptText === '' ? undefined : /^\d+$/.test(attemptText) ? Number(attemptText) : Number.NaN;
    if (attempt !== undefined && !(attempt >= 1)) {
      throw new InvalidArgumentError(`attempt must be an integer of 1 or more (given '${attemptText}')`);
    }
    const logs = await client.logsPage({
      functionName: fn,
      taskId,
      ...(attempt !== undefined ? { attempt } : {}),
      ...(next !== undefined ? { nextToken: next } : {}),
    });
    // The first `skip` events of this token's page were shown already; a token that did not move
    // is asked again next time, skipping what this answer shows.
    const advanced = logs.nextToken !== undefined && logs.nextToken !== next;
    return c.json({
      events: logs.events.slice(skip),
      next: advanced ? logs.nextToken : (next ?? null),
      skip: advanced ? 0 : Math.max(skip, logs.events.length),
      more: advanced,
      status: logs.status,
      attempt: logs.attempt ?? null,
    });
  });

  // ── Bulk ───────────────────────────────────────────────────────────────────
  app.post('/functions/:fn/bulk', async (c) => {
    const fn = c.req.param('fn');
    const form = await formOf(c);
    const action = field(form, 'action');
    if (!BULK_ACTIONS.includes(action as BulkAction)) {
      throw new InvalidArgumentError(`action must be one of ${BULK_ACTIONS.join(', ')} (given '${action}')`);
    }
    const query: Record<string, string[]> = {};
    for (const key of ['status', 'since', 'until', 'window', 'prefix', 'order']) if (form[key]) query[key] = form[key];
    const { list } = parseTaskFilters(fn, query, now());
    const { functionName: _f, limit: _l, nextToken: _n, ...filter } = list;
    const plan = await planBulk(client, { functionName: fn, action: action as BulkAction, filter });
    const entry = bulk.addPlan(plan);
    return page(c, renderBulkPlanPage({ entry, label, csrfToken: token }));
  });

  app.post('/bulk/:planId/run', (c) => {
    const job = bulk.start(c.req.param('planId'));
    return c.redirect(path('bulk', job.id), 303);
  });

  app.get('/bulk/:jobId', (c) => page(c, renderBulkJobPage({ job: bulk.job(c.req.param('jobId')), label, csrfToken: token })));

  app.get('/api/bulk/:jobId', (c) => c.json(jobJson(bulk.job(c.req.param('jobId')))));

  // ── Dead letters ───────────────────────────────────────────────────────────
  const deadLettersPage = async (
    c: Context,
    fn: string,
    extra: { status?: number; error?: { name: string; message: string }; entered?: EnteredResubmit } = {},
  ) => {
    const functions = await client.functions();
    const summary = functions.find((f) => f.name === fn);
    if (!summary) await requireFunction(fn);
    const target = summary?.onFailureDestination;
    const done = DONE[c.req.query('done') ?? ''];
    const common = { functionName: fn, label, csrfToken: token, ...(done ? { notice: done } : {}) };
    if (!summary?.onFailure && !target) {
      return page(
        c,
        renderDeadLettersPage({
          ...common,
          letters: [],
          noQueue: { message: `Function ${fn} has no failure destination, so it has no dead letters.` },
        }),
      );
    }
    if (target && target.type !== 'sqs') {
      return page(
        c,
        renderDeadLettersPage({
          ...common,
          letters: [],
          noQueue: {
            target,
            message: `The failure destination of ${fn} is ${target.type}, not an SQS queue: its records cannot be read here.`,
          },
        }),
      );
    }
    const { queue, letters } = await client.deadLetters(fn, { max: DEAD_LETTERS_SHOWN });
    return page(
      c,
      renderDeadLettersPage({
        ...common,
        queue,
        letters,
        ...(extra.error ? { error: extra.error } : {}),
        ...(extra.entered ? { entered: extra.entered } : {}),
      }),
      extra.status ?? 200,
    );
  };

  app.get('/functions/:fn/dead-letters', (c) => deadLettersPage(c, c.req.param('fn')));

  app.post('/functions/:fn/dead-letters/:messageId/:action{retry|resubmit}', async (c) => {
    const fn = c.req.param('fn');
    const messageId = c.req.param('messageId');
    const action = c.req.param('action');
    const form = await formOf(c);
    const payloadText = field(form, 'payload');
    const taskId = field(form, 'taskId').trim();
    try {
      let result: Awaited<ReturnType<AsyncTaskClient['redriveDeadLetter']>>;
      if (action === 'retry') {
        result = await client.redriveDeadLetter(fn, messageId, { action: 'retry' });
      } else {
        const payload = payloadText.trim() === '' ? undefined : parsePayloadText(payloadText, 'payload');
        if (taskId !== '') validateTaskId(taskId);
        result = await client.redriveDeadLetter(fn, messageId, {
          action: 'resubmit',
          ...(payload !== undefined ? { payload } : {}),
          ...(taskId !== '' ? { taskId } : {}),
        } as { action: 'resubmit'; payload: unknown; taskId?: string });
      }
      return c.redirect(`${path('functions', fn, 'tasks', result.task.taskId)}?done=${result.deleted ? 'redrive' : 'redrive-kept'}`, 303);
    } catch (error) {
      const refused = refusal(error);
      return deadLettersPage(c, fn, {
        ...refused,
        ...(action === 'resubmit' ? { entered: { messageId, payload: payloadText, taskId } } : {}),
      });
    }
  });

  // ── Not found, errors ──────────────────────────────────────────────────────
  app.notFound((c) => {
    const message = `no page at ${c.req.method} ${c.req.path}`;
    if (c.req.path.startsWith('/api/')) return c.json(errorJson({ name: 'NotFound', message }), 404);
    return problemPage(c, {
      kind: 'typed',
      status: 404,
      title: 'Not found',
      name: 'NotFound',
      message,
      fix: ['Start from the functions page.'],
    });
  });

  app.onError((error, c) => {
    const problem = classify(error);
    if (c.req.path.startsWith('/api/')) return c.json(errorJson(problem), problem.status as 500);
    return problemPage(c, problem);
  });

  return app;
}
