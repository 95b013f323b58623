/**
 * Test support: launch the system's Chromium (Debian `chromium`) through playwright-core, headless,
 * with a fresh profile and everything that phones home switched off.
 */
import { existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

/** The Chromium binary, or null when none is installed (tests then skip, saying so). */
export function findChromium(): string | null {
  for (const p of [process.env.WARDEN_CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser']) if (p && existsSync(p)) return p;
  try {
    return execFileSync('sh', ['-c', 'command -v chromium || command -v chromium-browser'], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
}

export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

export const SKIP_REASON = 'chromium not found (install the Debian package `chromium`, or set WARDEN_CHROMIUM to its path)';

/**
 * The `skip` option for a browser test: skipped (saying why) when Chromium is missing, except in
 * CI (`CI` or `WARDEN_REQUIRE_BROWSER` set), where a missing browser must fail the run, not hide it.
 */
export function browserSkip(path: string | null): string | false {
  if (path) return false;
  return process.env.CI || process.env.WARDEN_REQUIRE_BROWSER ? false : SKIP_REASON;
}

/** The Chromium path for a test that was not skipped (throws the install hint when missing). */
export function requireChromium(path: string | null): string {
  if (!path) throw new Error(SKIP_REASON);
  return path;
}

/** A browser context on a fresh profile directory (`opts`: the browser's time zone and locale, when a test sets them). */
export function launchBrowser(executablePath: string, profileDir: string, opts: { timezoneId?: string; locale?: string } = {}): Promise<BrowserContext> {
  return chromium.launchPersistentContext(profileDir, { executablePath, headless: true, args: CHROMIUM_ARGS, viewport: { width: 1360, height: 900 }, acceptDownloads: true, ...opts });
}

/** Script errors and console errors of a page, gathered from now on: a test ends by asserting there are none. */
export function watchProblems(page: Page): string[] {
  const problems: string[] = [];
  page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
  page.on('pageerror', (e) => problems.push(e.message));
  return problems;
}

/** Open the dashboard at `path` (a hash route) and sign in with the admin token. */
export async function signIn(page: Page, baseUrl: string, token: string, opts: { path?: string; name?: string } = {}): Promise<void> {
  await page.goto(`${baseUrl}/dashboard${opts.path ?? ''}`);
  await page.getByLabel('Admin token').fill(token);
  if (opts.name) await page.getByLabel('Your name (optional)').fill(opts.name);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/**
 * Visible elements whose left edge is off screen (cut off at a narrow width), as short
 * descriptions. The skip link is off screen on purpose until it has the focus.
 */
export const offLeft = (page: Page) => page.evaluate(`[...document.querySelectorAll('body *:not(.skip-link)')]
  .filter((el) => { const r = el.getBoundingClientRect(); return r.width > 1 && r.height > 1 && r.left < -0.5; })
  .map((el) => el.tagName.toLowerCase() + (el.className ? '.' + String(el.className).split(' ').join('.') : '') + ' ' + (el.textContent || '').slice(0, 40))`) as Promise<string[]>;
