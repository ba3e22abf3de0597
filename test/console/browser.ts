/**
 * A real browser for the console's tests: Debian's Chromium (`apt-get install chromium`, or the
 * binary named by `ASYNCTASK_CHROMIUM`) driven by playwright-core. Without a Chromium the browser
 * suites are skipped, printing why, unless `ASYNCTASK_REQUIRE_BROWSER=1` (set by .ci/run), which
 * makes a missing browser a failure.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';

export const REQUIRE_BROWSER = process.env.ASYNCTASK_REQUIRE_BROWSER === '1';
const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser'];

/** Why no browser can be had here, or undefined when one can. */
function browserUnavailable(): { why?: string; executable?: string } {
  const given = process.env.ASYNCTASK_CHROMIUM;
  const candidates = given ? [given] : CANDIDATES;
  const executable = candidates.find((file) => fs.existsSync(file));
  if (!executable) {
    return { why: `no Chromium at ${candidates.join(' or ')} (apt-get install -y chromium, or set ASYNCTASK_CHROMIUM)` };
  }
  try {
    execFileSync(executable, ['--version'], { stdio: 'pipe', timeout: 30_000 });
  } catch (error) {
    return { why: `${executable} --version failed: ${(error as Error).message}` };
  }
  return { executable };
}

const found = browserUnavailable();
if (found.why && REQUIRE_BROWSER) {
  throw new Error(`a browser is required (ASYNCTASK_REQUIRE_BROWSER=1) but cannot be started: ${found.why}`);
}
if (found.why) process.stderr.write(`skipped: the console's browser tests (${found.why})\n`);

/** `describe` when a browser can be had, else `describe.skip` (after printing why). */
export const describeWithBrowser: jest.Describe = found.why ? describe.skip : describe;

/** Headless Chromium with the flags this machine's closed network needs (playwright gives it a fresh profile). */
export async function launchBrowser(): Promise<{ browser: Browser; close: () => Promise<void> }> {
  if (!found.executable) throw new Error(`no browser: ${found.why}`);
  const browser = await chromium.launch({
    executablePath: found.executable,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
  return {
    browser,
    close: () => browser.close(),
  };
}

/**
 * Where the tests' screenshots go: docs/console/ when `ASYNCTASK_UPDATE_SCREENSHOTS=1` (to refresh
 * the ones docs/console.md shows), else a temp directory, so a test run leaves the clone clean.
 */
export function screenshotDir(): string {
  const dir =
    process.env.ASYNCTASK_UPDATE_SCREENSHOTS === '1'
      ? path.join(__dirname, '..', '..', 'docs', 'console')
      : path.join(os.tmpdir(), 'asynctask-console-screenshots');
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

/** A full-page screenshot of `page` as `<name>.png` in screenshotDir(); returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  const file = path.join(screenshotDir(), `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/**
 * Fails the test on anything the page should never do: a script error, a dialog it did not
 * expect (an injected `alert`), a request to another origin (everything comes from the console).
 */
export function watchPage(page: Page, origin: string): { problems: string[] } {
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('dialog', (dialog) => {
    problems.push(`unexpected dialog (${dialog.type()}): ${dialog.message()}`);
    void dialog.dismiss();
  });
  page.on('request', (request) => {
    const url = request.url();
    if (!url.startsWith(origin) && !url.startsWith('data:') && !url.startsWith('about:')) {
      problems.push(`request to another origin: ${url}`);
    }
  });
  return { problems };
}
