#!/usr/bin/env node
/**
 * Benchmark of the task console with many tasks in one function (run by hand:
 * `npx tsx bench/console.ts [--tasks 10000]`; not part of `npm test`). Issue 10 asks the console
 * to be fast with 10,000 tasks in a function: server-side paging, never the whole table in a
 * page. On the e2e fixture stack on the local runtime (test/e2e/harness.ts `startE2E`), with the
 * console served in this process (console/server.ts `startConsole`), in one run:
 *
 * 1. seeds `--small` tasks (default 100) of `flaky` (a payload without `flagFile`: it succeeds)
 *    through the SDK's submit, waits for them to end, and times the functions page and the
 *    TaskApi `stats` call with no function holding more than that;
 * 2. seeds `--tasks` tasks (default 10,000) of `echo` the same way (submit at `--concurrency`,
 *    default 16, all run to Succeeded); when submitting takes longer than `--seed-seconds`
 *    (default 180) it stops there and says how many were seeded. No table item is written
 *    behind the service's back;
 * 3. times with plain `fetch`, `--runs` times each (default 10, after one warm-up fetch), every
 *    console page of both functions: the tasks page (first page at limit 20 and 100, page 2 and
 *    page 5 by following `a#next-page`), a filtered page (`?status=Succeeded&prefix=recent-`:
 *    the newest 100 tasks), a filter that matches none of the newest tasks, the rows fragment
 *    (`?fragment=rows`) and a task page; then the functions page again and `stats` alone, also
 *    over windows holding a growing part of the big function's tasks; and follows `a#next-page`
 *    of the filter that only the oldest task matches until a page shows it.
 *
 * Prints p50 and max of each, the HTML size and the rows shown, and the ratio big / small: a
 * page that pages on the server keeps its time and size whatever the function holds; the
 * functions page's stats (counts and durations) read every task of the window.
 *
 * Task ids: the newest 100 tasks of each function are `recent-000`…`recent-099`, the older ones
 * `t-00000`…; so the same prefix filter selects the same 100 tasks in both functions.
 *
 * Options: --tasks N (default 10000), --small N (default 100, at least 100), --concurrency C
 * (default 16), --runs R (default 10), --seed-seconds S (default 180).
 */
import * as os from 'node:os';
import type { AsyncTaskClient } from '../client/client';
import { startConsole } from '../console/server';
import { LIST_FILTERED_PAGE_SIZE, LIST_MAX_PAGES } from '../lambda/lib/task-api';
import { ACTIVE_STATUSES, isTerminal, type TaskStatus } from '../lambda/model';
import { type E2ERuntime, startE2E } from '../test/e2e/harness';
import { parseWholeNumberOptions } from './cli';

/** The newest tasks of each function, `recent-000`…: what the dense prefix filter selects. */
const RECENT = 100;

interface Options {
  tasks: number;
  small: number;
  concurrency: number;
  runs: number;
  'seed-seconds': number;
}

function parseOptions(argv: readonly string[]): Options {
  const options = parseWholeNumberOptions('bench/console.ts', argv, {
    tasks: 10_000,
    small: 100,
    concurrency: 16,
    runs: 10,
    'seed-seconds': 180,
  });
  if (options.small < RECENT || options.tasks < RECENT) throw new Error(`--tasks and --small must be at least ${RECENT}`);
  return options;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const log = (line = '') => process.stdout.write(`${line}\n`);
const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');
const int = (n: number) => n.toLocaleString('en-US');
/** The machine's 1, 5 and 15 minute load averages (other work on the 2 cores shows in every figure). */
const loadAverage = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(', ');

function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** Runs `job(i)` for i in [0, n) with at most `concurrency` at once, until `deadline` (epoch ms); returns how many ran. */
async function pool(n: number, concurrency: number, deadline: number, job: (i: number) => Promise<void>): Promise<number> {
  let next = 0;
  let done = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, n) }, async () => {
      for (;;) {
        if (Date.now() > deadline) return;
        const i = next++;
        if (i >= n) return;
        await job(i);
        done++;
      }
    }),
  );
  return done;
}

/** Submits with a few retries of transient errors; a duplicate id is a submit that already got in. */
async function submit(client: AsyncTaskClient, functionName: string, taskId: string, payload: unknown): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await client.submit({ functionName, taskId, payload });
      return;
    } catch (error) {
      if ((error as Error).name === 'TaskAlreadyExistsError') return;
      if (attempt >= 4) throw error;
      await sleep(250 * attempt);
    }
  }
}

interface Seeded {
  readonly count: number;
  readonly submitSeconds: number;
  readonly drainSeconds: number;
  readonly stoppedEarly: boolean;
}

/**
 * Submits `count` tasks of `functionName` (the older ones `t-NNNNN` while `budgetMs` lasts, then
 * always the newest RECENT `recent-NNN`), then waits until none is active.
 */
async function seed(
  client: AsyncTaskClient,
  functionName: string,
  count: number,
  concurrency: number,
  budgetMs: number,
  payload: (i: number) => unknown,
): Promise<Seeded> {
  const started = Date.now();
  const older = count - RECENT;
  let progressAt = 0;
  const report = (n: number) => {
    if (n - progressAt >= 1000) {
      progressAt = n;
      process.stdout.write(`${int(n)}… `);
    }
  };
  let submitted = 0;
  const olderDone = await pool(older, concurrency, started + budgetMs, async (i) => {
    await submit(client, functionName, `t-${String(i).padStart(5, '0')}`, payload(i));
    report(++submitted);
  });
  const recentDone = await pool(RECENT, concurrency, Number.POSITIVE_INFINITY, async (i) => {
    await submit(client, functionName, `recent-${String(i).padStart(3, '0')}`, payload(older + i));
    report(++submitted);
  });
  const submitSeconds = (Date.now() - started) / 1000;
  await waitIdle(client, functionName);
  return {
    count: olderDone + recentDone,
    submitSeconds,
    drainSeconds: (Date.now() - started) / 1000 - submitSeconds,
    stoppedEarly: olderDone < older,
  };
}

/** Waits until the function has no task in an active status (one-item ByStatus pages: cheap). */
async function waitIdle(client: AsyncTaskClient, functionName: string, timeoutMs = 900_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pages = await Promise.all(ACTIVE_STATUSES.map((status) => client.list({ functionName, status, limit: 1 })));
    if (pages.every((p) => p.tasks.length === 0)) return;
    if (Date.now() > deadline) throw new Error(`tasks of ${functionName} still active after ${timeoutMs / 1000} s`);
    await sleep(1000);
  }
}

interface Timing {
  readonly p50: number;
  readonly max: number;
  readonly bytes: number;
  /** Task rows of a tasks page (`<tr data-task-id=`), function rows of the functions page; none on a task page. */
  readonly rows?: number;
}

/** One fetch of a console page: its time (to the last byte) and HTML; anything but 200 is an error. */
async function fetchPage(base: string, url: string): Promise<{ ms: number; html: string }> {
  const t0 = performance.now();
  const response = await fetch(new URL(url, base));
  const html = await response.text();
  const ms = performance.now() - t0;
  if (response.status !== 200) throw new Error(`GET ${url} answered ${response.status}: ${html.slice(0, 500)}`);
  return { ms, html };
}

function timing(times: readonly number[], html: string): Timing {
  const rows = html.includes('id="task-rows"')
    ? (html.match(/<tr data-task-id=/g) ?? []).length
    : html.includes('id="functions"')
      ? (html.match(/<tr data-function=/g) ?? []).length
      : undefined;
  return { p50: percentile(times, 50), max: Math.max(...times), bytes: Buffer.byteLength(html), ...(rows !== undefined ? { rows } : {}) };
}

/** One warm-up fetch, then `runs` timed fetches one after the other. */
async function timePage(base: string, url: string, runs: number): Promise<Timing> {
  let { html } = await fetchPage(base, url);
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const run = await fetchPage(base, url);
    times.push(run.ms);
    html = run.html;
  }
  return timing(times, html);
}

/** Like timePage for two pages, their fetches alternating (so drift of the machine hits both alike). */
async function timePair(base: string, urls: readonly [string, string], runs: number): Promise<[Timing, Timing]> {
  const html = [(await fetchPage(base, urls[0])).html, (await fetchPage(base, urls[1])).html];
  const times: [number[], number[]] = [[], []];
  for (let i = 0; i < runs; i++) {
    for (const k of i % 2 === 0 ? [0, 1] : [1, 0]) {
      const run = await fetchPage(base, urls[k]);
      times[k].push(run.ms);
      html[k] = run.html;
    }
  }
  return [timing(times[0], html[0]), timing(times[1], html[1])];
}

/** Times `call` like a page: one warm-up, then `runs` calls. */
async function timeCall(runs: number, call: () => Promise<unknown>): Promise<{ p50: number; max: number }> {
  await call();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await call();
    times.push(performance.now() - t0);
  }
  return { p50: percentile(times, 50), max: Math.max(...times) };
}

/** The href of `a#next-page` in a tasks page, unescaped (undefined on the last page). */
function nextPageHref(html: string): string | undefined {
  const match = /<a id="next-page"[^>]*\shref="([^"]*)"/.exec(html);
  return match?.[1].replaceAll('&amp;', '&').replaceAll('&#39;', "'").replaceAll('&quot;', '"');
}

interface PageCase {
  readonly name: string;
  readonly url: (fn: string) => Promise<string> | string;
}

/** The pages of one function's tasks; `later(fn, n)` follows `a#next-page` n − 1 times from the first page. */
function pageCases(base: string): PageCase[] {
  const later = async (fn: string, n: number): Promise<string> => {
    let url = `/functions/${fn}`;
    for (let page = 1; page < n; page++) {
      const html = await (await fetch(new URL(url, base))).text();
      const next = nextPageHref(html);
      if (!next) throw new Error(`${url} has no a#next-page (page ${page} of ${fn} is its last)`);
      url = next;
    }
    return url;
  };
  return [
    { name: 'tasks, first page (limit 20)', url: (fn) => `/functions/${fn}` },
    { name: 'tasks, first page (limit 100)', url: (fn) => `/functions/${fn}?limit=100` },
    { name: 'tasks, page 2 (a#next-page)', url: (fn) => later(fn, 2) },
    { name: 'tasks, page 5 (a#next-page ×4)', url: (fn) => later(fn, 5) },
    { name: 'filtered: Succeeded, prefix recent-', url: (fn) => `/functions/${fn}?status=Succeeded&prefix=recent-` },
    { name: 'filtered: Succeeded, prefix t-00000', url: (fn) => `/functions/${fn}?status=Succeeded&prefix=t-00000` },
    { name: 'rows fragment (?fragment=rows)', url: (fn) => `/functions/${fn}?fragment=rows` },
    { name: 'task page (recent-050)', url: (fn) => `/functions/${fn}/tasks/recent-050` },
  ];
}

function header(smallLabel: string, bigLabel: string): string[] {
  const left = (s: string, n: number) => s.padEnd(n);
  const right = (s: string, n: number) => s.padStart(n);
  return [
    `${left('', 38)}${right(smallLabel, 26)}${right(bigLabel, 28)}${right('ratio big/small', 18)}`,
    `${left('page', 38)}${right('p50 ms', 9)}${right('max', 7)}${right('bytes', 8)}${right('rows', 5)}  ${right('p50 ms', 9)}${right('max', 7)}${right('bytes', 8)}${right('rows', 5)}    ${right('time', 7)}${right('size', 7)}`,
  ];
}

function row(name: string, small: Timing | { p50: number; max: number }, big: Timing | { p50: number; max: number }): string {
  const right = (s: string, n: number) => s.padStart(n);
  const bytes = (t: object) => ('bytes' in t ? int(t.bytes as number) : '-');
  const rows = (t: object) => ('rows' in t && t.rows !== undefined ? String(t.rows) : '-');
  const sizeRatio = 'bytes' in small && 'bytes' in big ? fmt(big.bytes / small.bytes, 2) : '-';
  return `${name.padEnd(38)}${right(fmt(small.p50), 9)}${right(fmt(small.max, 0), 7)}${right(bytes(small), 8)}${right(rows(small), 5)}  ${right(fmt(big.p50), 9)}${right(fmt(big.max, 0), 7)}${right(bytes(big), 8)}${right(rows(big), 5)}    ${right(fmt(big.p50 / small.p50, 2), 7)}${right(sizeRatio, 7)}`;
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const BIG = 'echo';
  const SMALL = 'flaky';
  log(`asynctask console benchmark — ${new Date().toISOString()}`);
  log(`machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, node ${process.version}, ${os.platform()}`);
  log(`options: ${JSON.stringify(options)}`);
  log(`load average at the start (1, 5, 15 min): ${loadAverage()}`);
  log();

  process.stdout.write('starting the local runtime (e2e fixture stack)… ');
  let runtime: E2ERuntime | undefined;
  for (let attempt = 1; !runtime; attempt++) {
    try {
      runtime = await startE2E({ app: 'fixture' });
    } catch (error) {
      if (attempt >= 3) throw error;
      log(`failed (${(error as Error).message.split('\n')[0]}); retrying in 60 s`);
      await sleep(60_000);
    }
  }
  const client = runtime.client;
  const consoleServer = await startConsole({ client, port: 0, label: `bench: local runtime at ${runtime.endpoint}` });
  const base = consoleServer.url;
  log(`${runtime.endpoint}, console ${base}`);
  try {
    // ── Small function only ──────────────────────────────────────────────────
    process.stdout.write(`seeding ${options.small} ${SMALL} tasks (submit, concurrency ${options.concurrency})… `);
    const small = await seed(client, SMALL, options.small, options.concurrency, Number.POSITIVE_INFINITY, (i) => ({ i }));
    log(`done: ${small.count} in ${fmt(small.submitSeconds)} s + ${fmt(small.drainSeconds)} s to end`);
    process.stdout.write('timing the functions page and stats with at most 100 tasks in a function… ');
    const functionsBefore = await timePage(base, '/', options.runs);
    const statsSmallBefore = await timeCall(options.runs, () => client.stats(SMALL));
    log('done');

    // ── The big function ─────────────────────────────────────────────────────
    process.stdout.write(
      `seeding ${int(options.tasks)} ${BIG} tasks (submit, concurrency ${options.concurrency}, budget ${options['seed-seconds']} s)… `,
    );
    const big = await seed(client, BIG, options.tasks, options.concurrency, options['seed-seconds'] * 1000, (i) => ({ i }));
    log(`done: ${int(big.count)} in ${fmt(big.submitSeconds)} s + ${fmt(big.drainSeconds)} s to end`);
    if (big.stoppedEarly) {
      log(
        `NOTE: the ${options['seed-seconds']} s budget ran out: ${int(big.count)} of ${int(options.tasks)} ${BIG} tasks seeded (all through submit)`,
      );
    }
    const check = await client.stats(BIG, { since: 0 });
    const ended = Object.entries(check.counts).filter(([s, n]) => n > 0 && isTerminal(s as TaskStatus));
    log(`${BIG}: ${ended.map(([s, n]) => `${int(n)} ${s}`).join(', ')}; ${SMALL}: ${small.count} tasks`);
    log();

    // ── Pages of both functions, same table ──────────────────────────────────
    process.stdout.write(`timing the pages of ${SMALL} and ${BIG}, ${options.runs} runs each… `);
    const results: { name: string; small: Timing; big: Timing }[] = [];
    for (const page of pageCases(base)) {
      const smallUrl = await page.url(SMALL);
      const bigUrl = await page.url(BIG);
      const [smallTiming, bigTiming] = await timePair(base, [smallUrl, bigUrl], options.runs);
      results.push({ name: page.name, small: smallTiming, big: bigTiming });
    }
    const functionsAfter = await timePage(base, '/', options.runs);
    const statsSmall = await timeCall(options.runs, () => client.stats(SMALL));
    const statsBig = await timeCall(options.runs, () => client.stats(BIG));
    log('done');

    // ── stats over windows holding a growing part of the big function ───────
    process.stdout.write(`timing stats over windows of ${BIG} holding more and more of its tasks… `);
    const firstTask = await client.get(BIG, big.count > RECENT ? 't-00000' : 'recent-000');
    const olderSeeded = big.count - RECENT;
    const marks = [100, 1000, 2500, 5000].filter((n) => n <= olderSeeded).map((n) => ({ n, id: `t-${String(n - 1).padStart(5, '0')}` }));
    const growth: { n: number; p50: number; max: number; total: number }[] = [];
    for (const mark of marks) {
      const until = (await client.get(BIG, mark.id)).startedTime;
      const s = await client.stats(BIG, { since: firstTask.startedTime, until });
      const t = await timeCall(options.runs, () => client.stats(BIG, { since: firstTask.startedTime, until }));
      growth.push({ n: mark.n, ...t, total: s.total });
    }
    growth.push({ n: big.count, ...statsBig, total: check.total });
    log('done');

    // ── The sparse filter, page after page until its one match ───────────────
    const walks: { fn: string; tasks: number; pages: number; empty: number; found: boolean; ms: number }[] = [];
    for (const [fn, tasks] of [
      [SMALL, small.count],
      [BIG, big.count],
    ] as const) {
      let url: string | undefined = `/functions/${fn}?status=Succeeded&prefix=${big.count > RECENT ? 't-00000' : 'recent-000'}`;
      let pages = 0;
      let empty = 0;
      let found = false;
      const t0 = performance.now();
      while (url) {
        const { html } = await fetchPage(base, url);
        pages++;
        if (html.includes('<tr data-task-id=')) {
          found = true;
          break;
        }
        empty++;
        url = nextPageHref(html);
      }
      walks.push({ fn, tasks, pages, empty, found, ms: performance.now() - t0 });
    }
    log();

    const smallLabel = `${SMALL}: ${int(small.count)} tasks`;
    const bigLabel = `${BIG}: ${int(big.count)} tasks`;
    log(`== console pages, ${options.runs} fetches each after one warm-up (ms; HTML bytes; task rows in the page) ==`);
    for (const line of header(smallLabel, bigLabel)) log(line);
    for (const r of results) log(row(r.name, r.small, r.big));
    log();
    log(`== functions page (all ${functionsAfter.rows} functions: client.stats + failure queue depth each) and TaskApi stats alone ==`);
    for (const line of header(`largest fn ${int(small.count)}`, `largest fn ${int(big.count)}`)) log(line);
    log(row('functions page / (window 24h)', functionsBefore, functionsAfter));
    log(row(`stats ${SMALL} (${int(small.count)}) before / after`, statsSmallBefore, statsSmall));
    log(row(`stats ${SMALL} vs stats ${BIG}`, statsSmall, statsBig));
    log();
    log(`== TaskApi stats of ${BIG} over a window holding n of its tasks ==`);
    log(
      `${'tasks in window'.padStart(16)}${'p50 ms'.padStart(10)}${'max'.padStart(8)}${'+ms per 1,000 tasks over the first row'.padStart(40)}`,
    );
    for (const g of growth) {
      const added = g === growth[0] ? '' : fmt(((g.p50 - growth[0].p50) / (g.total - growth[0].total)) * 1000);
      log(`${int(g.total).padStart(16)}${fmt(g.p50).padStart(10)}${fmt(g.max, 0).padStart(8)}${added.padStart(40)}`);
    }
    log();
    log(`== status=Succeeded&prefix=t-00000 (the oldest task): following a#next-page until a page shows it ==`);
    log(
      `(a prefix filters after reading: each page's list call reads at most ${LIST_MAX_PAGES} Query pages of ${LIST_FILTERED_PAGE_SIZE} items)`,
    );
    for (const w of walks) {
      log(
        `${w.fn.padEnd(8)}${`${int(w.tasks)} tasks`.padStart(14)}: ${w.pages} page(s) fetched, ${w.empty} empty, ${w.found ? 'the match on the last' : 'no match (no t- task)'}; ${fmt(w.ms, 0)} ms in all`,
      );
    }
    log();
    log(
      `seeding: ${SMALL} ${small.count} tasks in ${fmt(small.submitSeconds)} s; ${BIG} ${int(big.count)} tasks submitted in ${fmt(big.submitSeconds)} s (${fmt(big.count / big.submitSeconds)} submits/s), all ended ${fmt(big.drainSeconds)} s later`,
    );
    log(`load average at the end (1, 5, 15 min): ${loadAverage()}`);
  } finally {
    await consoleServer.close();
    await runtime.stop();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
