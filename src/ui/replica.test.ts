// The dashboard served by a detector replica (detect.mode: replica), in a real browser: its
// detector, campaign, cases and partners pages cannot show what only the worker serves, and say
// which node does (host, pid and port from the worker's lease in Redis) rather than "not mounted
// yet", so that an operator behind a load balancer knows where to go. Skips only when no chromium
// binary exists.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { BrowserContext } from 'playwright-core';
import { startTestWarden, TEST_ADMIN_TOKEN, type TestWarden } from '../../test/helpers/warden.ts';
import { signedInPage } from '../../test/helpers/dashboard.ts';
import { findChromium, launchBrowser, browserSkip, requireChromium } from './browser-support.ts';

const CHROMIUM = findChromium();
const skip = browserSkip(CHROMIUM);
const REDIS_URL = process.env.WARDEN_TEST_REDIS ?? 'redis://127.0.0.1:6379';
const prefix = `warden:test:ui-replica:${randomBytes(4).toString('hex')}:`;

let dir = '';
let replica: TestWarden;
let redis: Redis;
let context: BrowserContext;

before(async () => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'warden-ui-replica-'));
  redis = new Redis(REDIS_URL);
  // The worker's lease as a worker listening on port 8443 of gw-worker-1 writes it.
  await redis.set(`${prefix}worker`, 'gw-worker-1:4242:0123abcd port=8443', 'PX', 120_000);
  replica = await startTestWarden({ redis: { url: REDIS_URL }, detect: { mode: 'replica', shared: { key_prefix: prefix } } });
  context = await launchBrowser(requireChromium(CHROMIUM), join(dir, 'profile'));
});

after(async () => {
  if (skip) return;
  await context?.close();
  await replica?.close();
  const found = await redis.keys(`${prefix}*`);
  if (found.length) await redis.del(...found);
  redis.disconnect();
  rmSync(dir, { recursive: true, force: true });
});

test('on a replica, the detector, campaign, cases and partners pages name the worker node to open instead', { skip, timeout: 90_000 }, async () => {
  const { page, problems } = await signedInPage(context, replica.url, TEST_ADMIN_TOKEN, { path: '/#/detector' });
  const where = 'served by the detector worker node (host gw-worker-1, pid 4242, port 8443)';
  for (const path of ['/detector', '/campaigns/camp_x', '/cases', '/partners']) {
    await page.evaluate(`location.hash = ${JSON.stringify(`#${path}`)}`);
    const note = page.locator('main p.warning', { hasText: where });
    await note.waitFor({ timeout: 15_000 }).catch(() => {});
    const text = await page.locator('main').innerText();
    assert.ok(text.includes(where), `${path}: the page names the worker node: ${text.slice(0, 600)}`);
    assert.ok(text.includes('Open the dashboard on that node.'), `${path}: the page says to go there`);
    assert.ok(!text.includes('as soon as they are'), `${path}: no promise that the routes will appear here`);
  }
  assert.deepEqual(problems, []);
});
