/**
 * Test support for the dashboard's browser tests: a real Warden (SQLite in a directory of its own,
 * port 0, the built-in mock model without delays, logs silent), its admin API at hand, and the
 * system's Chromium on a fresh profile in the same directory. `close()` ends both and removes it.
 * `signedInPage` (and a Dashboard's `open`) is the sign-in every browser test starts with: a new
 * tab, its script errors gathered, signed in with the admin token, on the page asked for.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { parseConfig } from '../../src/config/index.ts';
import { startWarden, type RunningWarden } from '../../src/cli/serve.ts';
import { launchBrowser, signIn, watchProblems } from '../../src/ui/browser-support.ts';

export interface DashboardOptions {
  /** Names the directory (`warden-ui-NAME-...` under the system's temporary directory). */
  name: string;
  /** Configuration beside the defaults; its `server` is merged with theirs (port 0 on 127.0.0.1). */
  config?: Record<string, any>;
  /** Runs in the directory before Warden starts: past logs scanned into the detector's state, say. */
  prepare?: (dir: string) => Promise<void>;
  /** The browser's time zone and locale (the system's otherwise). */
  browser?: { timezoneId?: string; locale?: string };
}

export interface SignInOptions {
  /** The hash route to open (`#/accounts/acct_...`); the overview otherwise. */
  path?: string;
  /** The operator's name, sent as `x-warden-actor: dashboard:<name>` with each change. */
  name?: string;
  /** The window's size, set before the page loads (a phone's 390 px, say). */
  viewport?: { width: number; height: number };
  /** Install Playwright's fake clock before the page loads (the overview's refresh, say). */
  clock?: boolean;
  /**
   * The page's heading (h1) to wait for once signed in; `null`: wait for none. Default: `Overview`
   * without a `path`, none with one (the caller waits for what its page shows).
   */
  heading?: string | RegExp | null;
}

export interface SignedInPage {
  page: Page;
  /** The tab's script and console errors from its opening on: a test ends by asserting there are none. */
  problems: string[];
}

/** A new tab of `context` signed in to the dashboard of the Warden at `baseUrl` with the admin `token`. */
export async function signedInPage(context: BrowserContext, baseUrl: string, token: string, opts: SignInOptions = {}): Promise<SignedInPage> {
  const page = await context.newPage();
  const problems = watchProblems(page);
  if (opts.viewport) await page.setViewportSize(opts.viewport);
  if (opts.clock) await page.clock.install();
  await signIn(page, baseUrl, token, { path: opts.path, name: opts.name });
  const heading = opts.heading === undefined ? (opts.path ? null : 'Overview') : opts.heading;
  if (heading) await page.getByRole('heading', { name: heading, level: 1 }).waitFor();
  return { page, problems };
}

export interface Dashboard {
  dir: string;
  w: RunningWarden;
  context: BrowserContext;
  /** The admin API with the admin token: GET, or POST when there is a body (`method` otherwise); a refusal fails the test. */
  admin(path: string, body?: unknown, method?: string): Promise<any>;
  /** A new tab signed in to this Warden's dashboard (see `signedInPage`). */
  open(opts?: SignInOptions): Promise<SignedInPage>;
  close(): Promise<void>;
}

export async function startDashboard(chromiumPath: string, opts: DashboardOptions): Promise<Dashboard> {
  const dir = mkdtempSync(join(tmpdir(), `warden-ui-${opts.name}-`));
  let w: RunningWarden | undefined;
  let context: BrowserContext | undefined;
  const close = async () => {
    await context?.close();
    await w?.close();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await opts.prepare?.(dir);
    const { server, ...rest } = opts.config ?? {};
    w = await startWarden(parseConfig({
      server: { port: 0, host: '127.0.0.1', ...server }, store: { sqlite_path: join(dir, 'warden.db') },
      log: { level: 'silent' }, mock: { latency_ms: 0, tokens_per_second: 0 }, ...rest,
    }), { log: () => {} });
    const running = w;
    const admin = async (path: string, body?: unknown, method?: string) => {
      const r = await fetch(`${running.url}${path}`, {
        method: method ?? (body === undefined ? 'GET' : 'POST'),
        headers: { authorization: `Bearer ${running.adminToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      assert.ok(r.status < 300, `${path}: ${r.status} ${await r.clone().text()}`);
      return r.status === 204 ? null : r.json();
    };
    context = await launchBrowser(chromiumPath, join(dir, 'profile'), opts.browser);
    const browser = context;
    return { dir, w, context, admin, open: (o) => signedInPage(browser, running.url, running.adminToken!, o), close };
  } catch (err) {
    await close();
    throw err;
  }
}
