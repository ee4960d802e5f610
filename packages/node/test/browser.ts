/**
 * A real headless Chromium for tests, driven by puppeteer-core (which downloads no browser): the system's
 * binary (CHROME_PATH, or `chromium` / `chromium-browser` on PATH; `bash scripts/ensure-chromium.sh` installs
 * Debian's), a throw-away profile directory, bounded timeouts, and always closed. No binary is an error that
 * says what to do, never a skip.
 */
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';

/** Bound on the browser's start. */
const LAUNCH_TIMEOUT_MS = 30_000;
/** Bound on any one DevTools protocol call (a page that hangs must fail the test, not stall it). */
const PROTOCOL_TIMEOUT_MS = 30_000;
/** Bound on closing the browser before its process is killed. */
const CLOSE_TIMEOUT_MS = 5_000;
const BINARIES = ['chromium', 'chromium-browser'];

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The Chromium binary to run, or an error naming how to get one. */
export function chromiumPath(): string {
  const configured = process.env.CHROME_PATH;
  if (configured) {
    if (executable(configured)) return configured;
    throw new Error(`CHROME_PATH=${configured} is not an executable file`);
  }
  for (const dir of (process.env.PATH ?? '').split(delimiter).filter(Boolean))
    for (const name of BINARIES) if (executable(join(dir, name))) return join(dir, name);
  throw new Error(
    'no Chromium found (looked for CHROME_PATH, then chromium and chromium-browser on PATH): ' +
      'run `bash scripts/ensure-chromium.sh` (as root: installs Debian’s chromium) or set CHROME_PATH',
  );
}

/**
 * A page on a node's dashboard (`admin` = its host:port), errors of its scripts collected; with `tab`, that
 * application tab opened (tabs arrive from /dashboard/tabs after the page's load) and its first poll done.
 */
export async function openDashboard(
  browser: Browser,
  admin: string,
  waitMs: number,
  tab?: string,
): Promise<{ page: Page; pageErrors: string[] }> {
  const page = await browser.newPage();
  page.setDefaultTimeout(waitMs);
  const pageErrors: string[] = [];
  page.on('pageerror', (error) => pageErrors.push(String(error)));
  await page.goto(`http://${admin}/`, { waitUntil: 'load' });
  if (tab !== undefined) {
    await (await page.waitForSelector(`#tabs button[data-tab="${tab}"]`))!.click();
    await page.waitForSelector(`#tab-${tab}:not([hidden]) #${tab}-status[data-state="ok"]`);
  }
  return { page, pageErrors };
}

/** Runs `fn` with a fresh headless Chromium; closes it and removes its profile whatever happens. */
export async function withBrowser<T>(fn: (browser: Browser) => Promise<T>): Promise<T> {
  const executablePath = chromiumPath();
  const userDataDir = mkdtempSync(join(tmpdir(), 'flotilla-chromium-'));
  let browser: Browser | undefined;
  try {
    browser = await puppeteer.launch({
      executablePath,
      headless: true,
      userDataDir,
      timeout: LAUNCH_TIMEOUT_MS,
      protocolTimeout: PROTOCOL_TIMEOUT_MS,
      // The sandbox refuses to run as root (CI runs as root); /dev/shm is small in containers.
      args: [
        ...(process.getuid?.() === 0 ? ['--no-sandbox'] : []),
        '--disable-dev-shm-usage',
        '--disable-gpu',
      ],
      handleSIGINT: false,
      handleSIGTERM: false,
      handleSIGHUP: false,
    });
    return await fn(browser);
  } finally {
    if (browser) await close(browser);
    rmSync(userDataDir, { recursive: true, force: true });
  }
}

async function close(browser: Browser): Promise<void> {
  const proc = browser.process();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), CLOSE_TIMEOUT_MS);
  });
  const closed = await Promise.race([browser.close().then(() => 'closed' as const), timedOut]).catch(
    () => 'failed' as const,
  );
  clearTimeout(timer);
  if (closed !== 'closed' && proc?.pid !== undefined && proc.exitCode === null) proc.kill('SIGKILL');
}
