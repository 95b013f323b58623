// What the tests of one detector for several nodes share: a Redis key prefix of the test file's
// own (its keys removed when the file's tests end), a client to read Redis directly, a labelled
// scenario built from the repository's prompt fixture, and a wait for a condition.
import { after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { buildLabelledEvents, sharedKeys } from '../../src/detect/index.ts';
import { detectPromptPool } from './detect-fixtures.ts';

export const TEST_REDIS_URL = process.env.WARDEN_TEST_REDIS ?? 'redis://127.0.0.1:6379';

/** Keys under `warden:test:<name>:<random>:`, and a client for reading them; both cleaned up after the file's tests. */
export function sharedDetectorRedis(name: string) {
  const prefix = `warden:test:${name}:${randomBytes(4).toString('hex')}:`;
  const admin = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 1 });
  after(async () => {
    const found = await admin.keys(`${prefix}*`);
    if (found.length) await admin.del(...found);
    admin.disconnect();
  });
  return { prefix, keys: sharedKeys(prefix), admin };
}

/** A seeded labelled scenario over the prompt fixture (the same events on every run). */
export function labelledScenario(options: Parameters<typeof buildLabelledEvents>[1]) {
  return buildLabelledEvents(detectPromptPool(), options);
}

/** Wait until `ok()` holds, failing the test with `what` after `ms`. */
export async function until(what: string, ok: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) assert.fail(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
