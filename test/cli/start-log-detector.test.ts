// The start log says which part of the detector a node plays (inline, worker, replica, off): an
// operator checking that the replica is a replica reads it in the listening line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { startTestWarden } from '../helpers/warden.ts';

const REDIS_URL = process.env.WARDEN_TEST_REDIS ?? 'redis://127.0.0.1:6379';

async function listeningLine(settings: Record<string, unknown>): Promise<string> {
  const lines: string[] = [];
  const w = await startTestWarden(settings, { log: (l) => lines.push(l) });
  try {
    const line = lines.find((l) => l.startsWith('Warden listening on '));
    assert.ok(line, `a listening line: ${lines.join('\n')}`);
    return line;
  } finally {
    await w.close();
  }
}

test('the listening line names the detector mode of the node', { timeout: 120_000 }, async () => {
  assert.match(await listeningLine({}), /; detector: inline\b/, 'the default: inline');
  assert.match(await listeningLine({ detect: { enabled: false } }), /; detector: off\)/, 'detector off');
  const prefix = `warden:test:start-log:${randomBytes(4).toString('hex')}:`;
  const redis = new Redis(REDIS_URL);
  try {
    const shared = { key_prefix: prefix };
    assert.match(await listeningLine({ redis: { url: REDIS_URL }, detect: { mode: 'replica', shared } }), /; detector: replica\b/, 'a replica says so');
    assert.match(await listeningLine({ redis: { url: REDIS_URL }, detect: { mode: 'worker', shared } }), /; detector: worker\b/, 'the worker says so');
  } finally {
    const found = await redis.keys(`${prefix}*`);
    if (found.length) await redis.del(...found);
    redis.disconnect();
  }
});
