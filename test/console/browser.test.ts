/**
 * The task console in a real browser (Debian's Chromium through playwright-core) against the
 * local runtime running the end-to-end fixture stack: the functions page, a task list filtered and
 * reloaded with the filter kept in the URL, a running container task whose progress moves and
 * which is stopped from its page, a bulk retry after its dry run, a dead letter redriven (retried,
 * and resubmitted with an edited payload under a new id), escaping of hostile payloads, a forged
 * cross-origin POST, and the page shown for a wrong stack. Each page's screenshot goes to
 * screenshotDir() (docs/console/ with ASYNCTASK_UPDATE_SCREENSHOTS=1).
 *
 * Skipped, printing why, on a machine without Chromium; `.ci/run` sets ASYNCTASK_REQUIRE_BROWSER=1
 * so that a missing browser fails instead.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { AsyncTaskClient } from '../../client';
import { startConsole } from '../../console/server';
import { type E2ERuntime, REGION, sleep, startE2E, tempDir, waitUntil, watchTask } from '../e2e/harness';
import { describeWithBrowser, launchBrowser, screenshot, watchPage } from './browser';

jest.setTimeout(180_000);

describeWithBrowser('the task console in Chromium', () => {
  let runtime: E2ERuntime;
  let console_: { url: string; close: () => Promise<void> };
  let browser: Browser;
  let closeBrowser: () => Promise<void>;
  let context: BrowserContext;
  let page: Page;
  let watched: { problems: string[] };
  let work: string;
  const stamp = Date.now().toString(36);

  beforeAll(async () => {
    work = tempDir('console');
    runtime = await startE2E();
    console_ = await startConsole({ client: runtime.client, port: 0, label: `local runtime at ${runtime.endpoint}` });
    ({ browser, close: closeBrowser } = await launchBrowser());
  });

  afterAll(async () => {
    await closeBrowser?.();
    await console_?.close();
    await runtime?.stop();
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  beforeEach(async () => {
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await context.newPage();
    watched = watchPage(page, new URL(console_.url).origin);
  });

  afterEach(async () => {
    await context.close();
    expect(watched.problems).toEqual([]);
  });

  const at = (route: string): string => new URL(route, console_.url).toString();

  /** Submits a flaky task that fails (its flag file exists) and waits for Failed. */
  async function failedFlaky(taskId: string, flagFile: string): Promise<void> {
    fs.writeFileSync(flagFile, 'fail');
    await runtime.client.submit({ functionName: 'flaky', taskId, payload: { flagFile } });
    const { task } = await watchTask(runtime.client, 'flaky', taskId, { timeoutMs: 60_000 });
    expect(task.status).toBe('Failed');
  }

  /** Clicks a button whose form asks for confirmation, and confirms in the dialog. */
  async function clickAndConfirm(selector: string): Promise<void> {
    await page.click(selector);
    const dialog = page.locator('dialog#confirm');
    await dialog.waitFor({ state: 'visible' });
    await Promise.all([page.waitForNavigation(), page.click('#confirm-yes')]);
  }

  test('the functions page lists every task function with its config, counts and failure queue', async () => {
    await runtime.client.submit({ functionName: 'echo', taskId: `fn-${stamp}`, payload: { n: 1 } });
    await watchTask(runtime.client, 'echo', `fn-${stamp}`);
    await page.goto(at('/'));
    for (const name of ['echo', 'flaky', 'sleeper', 'orders']) {
      await expect(page.locator(`#functions tr[data-function="${name}"]`).count()).resolves.toBe(1);
    }
    const echo = page.locator('#functions tr[data-function="echo"]');
    expect(Number(await echo.locator('[data-stat="Succeeded"]').textContent())).toBeGreaterThanOrEqual(1);
    await expect(echo.locator('a[data-link="dead-letters"]').count()).resolves.toBe(1);
    // The Kafka trigger of `orders` is part of its config.
    expect(await page.locator('#functions tr[data-function="orders"]').textContent()).toMatch(/kafka/i);
    await screenshot(page, 'functions');
  });

  test('a task list filtered by status and prefix keeps its filter in the URL across a reload', async () => {
    const prefix = `flt-${stamp}`;
    const flag = path.join(work, `${prefix}.flag`);
    await failedFlaky(`${prefix}-bad`, flag);
    await runtime.client.submit({ functionName: 'flaky', taskId: `${prefix}-good`, payload: {} });
    await watchTask(runtime.client, 'flaky', `${prefix}-good`);

    await page.goto(at('/functions/flaky'));
    await page.check('#filters input[name="status"][value="Failed"]');
    await page.fill('#filters input[name="prefix"]', prefix);
    await Promise.all([page.waitForNavigation(), page.click('#apply')]);
    const url = new URL(page.url());
    expect(url.searchParams.getAll('status')).toEqual(['Failed']);
    expect(url.searchParams.get('prefix')).toBe(prefix);

    const rows = async (): Promise<string[]> =>
      page.locator('#tasks tbody tr[data-task-id]').evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-task-id') ?? ''));
    expect(await rows()).toEqual([`${prefix}-bad`]);
    await page.reload();
    expect(await rows()).toEqual([`${prefix}-bad`]);
    await expect(page.locator('#filters input[name="status"][value="Failed"]').isChecked()).resolves.toBe(true);
    await expect(page.locator('#filters input[name="prefix"]').inputValue()).resolves.toBe(prefix);
    await screenshot(page, 'tasks');
  });

  test('a running container task shows its progress moving, and is stopped from its page', async () => {
    const taskId = `run-${stamp}`;
    await runtime.client.submit({ functionName: 'sleeper', taskId, payload: { seconds: 40 } });
    await watchTask(runtime.client, 'sleeper', taskId, { until: (t) => t.status === 'Running' && (t.progress?.percent ?? 0) > 0 });
    await page.goto(at(`/functions/sleeper/tasks/${taskId}`));
    await expect(page.locator('#status').textContent()).resolves.toContain('Running');
    const percent = async (): Promise<number> => Number(await page.locator('progress#progress').getAttribute('value'));
    const first = await percent();
    const firstDuration = await page.locator('#duration').textContent();
    // The worker writes progress every 5 s; the page refreshes itself without a reload.
    await waitUntil(async () => ((await percent()) > first ? true : undefined), {
      timeoutMs: 20_000,
      intervalMs: 250,
      what: `progress above ${first}%`,
    });
    // …and the running task's duration with it (it was the one of the page's first rendering).
    const duration = await page.locator('#duration').textContent();
    expect(duration).toMatch(/^\d+(\.\d)?s$|^\d+m\d\ds$/);
    expect(duration).not.toBe(firstDuration);
    await page.locator('#log-tail li').first().waitFor();
    await screenshot(page, 'task-running');

    // Keyboard: the stop button is reachable with Tab.
    let reached = false;
    for (let i = 0; i < 60 && !reached; i++) {
      await page.keyboard.press('Tab');
      reached = await page.evaluate(
        () => (globalThis as unknown as { document: { activeElement?: { id: string } } }).document.activeElement?.id === 'stop',
      );
    }
    expect(reached).toBe(true);

    await clickAndConfirm('#stop');
    await page.locator('#status', { hasText: 'Stopped' }).waitFor({ timeout: 30_000 });
    await expect(runtime.client.get('sleeper', taskId)).resolves.toMatchObject({ status: 'Stopped' });
    await screenshot(page, 'task-stopped');
  });

  test('bulk retry of the failed tasks matching a filter: a dry run first, then each task once', async () => {
    const prefix = `blk-${stamp}`;
    const flag = path.join(work, `${prefix}.flag`);
    const ids = [1, 2, 3].map((n) => `${prefix}-${n}`);
    for (const id of ids) await failedFlaky(id, flag);
    fs.rmSync(flag);

    await page.goto(at(`/functions/flaky?status=Failed&prefix=${prefix}`));
    await Promise.all([page.waitForNavigation(), page.click('#bulk-retry')]);
    await expect(page.locator('#bulk-plan [data-count]').getAttribute('data-count')).resolves.toBe('3');
    const planned = await page.locator('#bulk-ids li').allTextContents();
    expect([...planned].sort()).toEqual([...ids].sort());
    // The dry run changed nothing.
    for (const id of ids) await expect(runtime.client.get('flaky', id)).resolves.toMatchObject({ status: 'Failed' });
    await screenshot(page, 'bulk-plan');

    await clickAndConfirm('#bulk-run');
    await page.locator('#bulk-summary').waitFor({ timeout: 30_000 });
    await expect(page.locator('#bulk-summary [data-succeeded]').getAttribute('data-succeeded')).resolves.toBe('3');
    await expect(page.locator('#bulk-summary [data-refused]').getAttribute('data-refused')).resolves.toBe('0');
    await screenshot(page, 'bulk-summary');
    for (const id of ids) {
      const { task } = await watchTask(runtime.client, 'flaky', id, { timeoutMs: 60_000 });
      expect(task.status).toBe('Succeeded');
      // Retried once: one retry event, not two.
      expect(task.events.filter((e) => e.status === 'Enqueued').length).toBe(2);
    }
  });

  test('a dead letter is redriven: retried, and resubmitted with an edited payload under a new id', async () => {
    const prefix = `dlq-${stamp}`;
    const flag = path.join(work, `${prefix}.flag`);
    await failedFlaky(`${prefix}-a`, flag);
    await failedFlaky(`${prefix}-b`, flag);
    fs.rmSync(flag);
    const letterOf = async (taskId: string) =>
      (await runtime.client.deadLetters('flaky', { max: 100 })).letters.find((l) => l.taskId === taskId);
    await waitUntil(async () => ((await letterOf(`${prefix}-b`)) ? true : undefined), { timeoutMs: 20_000, what: 'the dead letters' });

    await page.goto(at('/functions/flaky/dead-letters'));
    const row = (taskId: string) =>
      page.locator('#dead-letters tr[data-message-id]', { has: page.locator(`[data-col="task-id"]`, { hasText: taskId }) });
    await expect(row(`${prefix}-a`).locator('[data-col="condition"]').textContent()).resolves.toContain('RetriesExhausted');
    await screenshot(page, 'dead-letters');

    await clickAndConfirm(`${await rowSelector(`${prefix}-a`)} button[data-action="retry"]`);
    expect(new URL(page.url()).pathname).toBe(`/functions/flaky/tasks/${prefix}-a`);
    await expect(watchTask(runtime.client, 'flaky', `${prefix}-a`, { timeoutMs: 60_000 })).resolves.toMatchObject({
      task: { status: 'Succeeded' },
    });
    expect(await letterOf(`${prefix}-a`)).toBeUndefined();

    await page.goto(at('/functions/flaky/dead-letters'));
    const form = `${await rowSelector(`${prefix}-b`)}`;
    await page.fill(`${form} textarea[name="payload"]`, JSON.stringify({ edited: true }));
    await page.fill(`${form} input[name="taskId"]`, `${prefix}-b2`);
    await clickAndConfirm(`${form} button[data-action="resubmit"]`);
    expect(new URL(page.url()).pathname).toBe(`/functions/flaky/tasks/${prefix}-b2`);
    const { task } = await watchTask(runtime.client, 'flaky', `${prefix}-b2`, { timeoutMs: 60_000 });
    expect(task).toMatchObject({ status: 'Succeeded', taskPayload: { edited: true } });
    expect(await letterOf(`${prefix}-b`)).toBeUndefined();

    async function rowSelector(taskId: string): Promise<string> {
      const id = await row(taskId).getAttribute('data-message-id');
      return `#dead-letters tr[data-message-id="${id}"]`;
    }
  });

  test('payloads, results and logs are shown as text: nothing in them runs', async () => {
    const taskId = `xss-${stamp}`;
    const hostile = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">';
    await runtime.client.submit({ functionName: 'echo', taskId, payload: { note: hostile } });
    await watchTask(runtime.client, 'echo', taskId);
    await page.goto(at(`/functions/echo/tasks/${taskId}`));
    await expect(page.locator('#payload').textContent()).resolves.toContain(hostile.replace(/"/g, '\\"'));
    await expect(page.locator('#result').textContent()).resolves.toContain('onerror');
    await page.goto(at(`/functions/echo?prefix=${taskId}`));
    await sleep(500);
    await expect(page.evaluate(() => (globalThis as unknown as { __pwned?: number }).__pwned)).resolves.toBeUndefined();
    await expect(page.locator('img[src="x"]').count()).resolves.toBe(0);
  });

  test('a page from another origin cannot stop a task through the console', async () => {
    const taskId = `csrf-${stamp}`;
    await runtime.client.submit({ functionName: 'sleeper', taskId, payload: { seconds: 30 } });
    await watchTask(runtime.client, 'sleeper', taskId, { until: (t) => t.status === 'Running' });
    const target = at(`/functions/sleeper/tasks/${taskId}/stop`);
    const evil = http.createServer((_req, res) => {
      res.setHeader('content-type', 'text/html');
      res.end(
        `<form id="f" method="post" action="${target}"><input name="x" value="1"></form><script>document.getElementById('f').submit()</script>`,
      );
    });
    await new Promise<void>((resolve) => evil.listen(0, '127.0.0.1', resolve));
    try {
      const answered = page.waitForResponse((r) => r.url() === target);
      await page.goto(`http://127.0.0.1:${(evil.address() as AddressInfo).port}/`);
      expect((await answered).status()).toBe(403);
      watched.problems.splice(0); // the evil page is another origin by design
      await sleep(1000);
      await expect(runtime.client.get('sleeper', taskId)).resolves.toMatchObject({ status: 'Running' });
    } finally {
      evil.close();
      await runtime.client.stop('sleeper', taskId);
    }
  });

  test('a console against a stack that does not exist says so and how to fix it', async () => {
    const wrong = new AsyncTaskClient({ endpoint: runtime.endpoint, region: REGION, stack: 'NoSuchStack' });
    const other = await startConsole({ client: wrong, port: 0, label: 'stack NoSuchStack' });
    try {
      const response = await page.goto(other.url);
      expect(response?.status()).toBeGreaterThanOrEqual(500);
      const text = await page.locator('main').textContent();
      expect(text).toContain('NoSuchStack');
      expect(text).toMatch(/--stack/);
      await screenshot(page, 'error-wrong-stack');
    } finally {
      await other.close();
      wrong.lambda.destroy();
      wrong.cloudFormation.destroy();
    }
    watched.problems.splice(0);
  });
});
