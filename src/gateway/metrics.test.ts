// /metrics: Warden's own metrics are `warden_*`; Node's process metrics keep their standard names.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { createGatewayMetrics } from './metrics.ts';

test('process metrics carry their standard names, not a doubled warden_process_process_ prefix', async () => {
  const m = createGatewayMetrics(new Registry());
  const text = await m.registry.metrics();
  for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds', 'warden_requests_total']) {
    assert.match(text, new RegExp(`^# TYPE ${name} `, 'm'), `${name} is exported`);
  }
  assert.doesNotMatch(text, /warden_process_/, 'no metric keeps the old prefix');
});
