// The replica's line when Redis is unreachable says what it means for the operator (the worker's
// verdicts are not received, since when, events held) rather than the Redis client's internals,
// which stay in a debug line for whoever investigates.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sharedKeys, sharedRedis, streamEventsHooks } from './index.ts';
import { freePort } from '../../test/helpers/redis-server.ts';
import { sampleEvent } from '../../test/helpers/synthetic-events.ts';

test('a replica that cannot reach Redis says the verdicts are not received and since when; the client\'s own error only at debug', { timeout: 30_000 }, async () => {
  // Nothing listens on this port: the client never connects.
  const client = sharedRedis(`redis://127.0.0.1:${await freePort()}`);
  const lines: { line: string; level: string; code: string; fields?: Record<string, unknown> }[] = [];
  const stream = streamEventsHooks(client, sharedKeys('warden:test:stream-outage-log:'), { log: (line, meta) => lines.push({ line, level: meta?.level ?? '', code: meta?.code ?? '', fields: meta?.fields }) });
  const started = Date.now();
  try {
    stream.onEvent(sampleEvent(1, { ts: new Date().toISOString() }));
    for (const end = Date.now() + 20_000; !lines.some((l) => l.level === 'warn'); ) {
      if (Date.now() > end) assert.fail(`no warning within 20 s: ${JSON.stringify(lines)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const warn = lines.find((l) => l.level === 'warn')!;
    assert.equal(warn.code, 'DETECT_STREAM_UNAVAILABLE');
    assert.ok(!/enableOfflineQueue|Stream isn't writeable/.test(warn.line), `no Redis client internals in the operator's line: ${warn.line}`);
    assert.ok(warn.line.includes('Redis unreachable from this replica since '), `it says Redis is unreachable and since when: ${warn.line}`);
    assert.ok(/verdicts .*are not received/.test(warn.line), `it says the worker's verdicts are not received: ${warn.line}`);
    const since = Date.parse(String(warn.fields?.since));
    assert.ok(since >= started - 1000 && since <= Date.now(), `the outage's start is a field: ${JSON.stringify(warn.fields)}`);
    const debug = lines.find((l) => l.level === 'debug');
    assert.ok(debug && typeof debug.fields?.error === 'string' && debug.fields.error.length > 0, `the client's own error is kept at debug: ${JSON.stringify(lines)}`);
  } finally {
    await stream.close();
  }
});
