import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { mergeHeaders } from './headers.ts';

test('mergeHeaders: every source in order, a later source winning', () => {
  const merged = mergeHeaders({ 'x-request-id': 'up', 'content-type': 'text/plain' }, { 'x-warden-request-id': 'w1', 'content-type': 'application/json' });
  assert.deepEqual(merged, { 'x-request-id': 'up', 'content-type': 'application/json', 'x-warden-request-id': 'w1' });
  assert.deepEqual(Object.keys(merged), ['x-request-id', 'content-type', 'x-warden-request-id']);
  const source = { a: '1' };
  mergeHeaders(source, { a: '2' });
  assert.deepEqual(source, { a: '1' }, 'the sources are left alone');
});

test('mergeHeaders: responses with the same header names share one hidden class', (t) => {
  // What the helper is for: `{ ...a, ...b, 'content-type': x }` gives every response a hidden class
  // of its own, which the young-generation collector cannot free (see headers.ts).
  setFlagsFromString('--allow-natives-syntax');
  const sameMap = new Function('a', 'b', 'return %HaveSameMap(a, b)') as (a: object, b: object) => boolean;
  setFlagsFromString('--no-allow-natives-syntax');
  const upstream = () => ({ 'x-request-id': `req_${Math.random()}`, 'openai-processing-ms': '3' });
  const warden = () => {
    const h: Record<string, string> = { 'x-warden-request-id': `w_${Math.random()}` };
    for (const name of ['x-ratelimit-limit-requests', 'x-ratelimit-remaining-requests', 'x-ratelimit-reset-requests', 'x-ratelimit-limit-tokens', 'x-ratelimit-remaining-tokens', 'x-ratelimit-reset-tokens']) h[name] = String(Math.random());
    return h;
  };
  const json = { 'content-type': 'application/json' };
  const merged = Array.from({ length: 50 }, () => mergeHeaders(upstream(), warden(), json));
  for (let i = 1; i < merged.length; i++) assert.ok(sameMap(merged[i - 1], merged[i]), `response ${i} has a hidden class of its own`);
  // The check can fail: on Node 20 the spread form it replaces does not pass it (Node 22's V8 shares
  // those hidden classes too, so there a regression would cost nothing).
  const spread = Array.from({ length: 50 }, () => ({ ...upstream(), ...warden(), ...json, 'x-extra': '1' }));
  const spreadShared = spread.slice(1).filter((o, i) => sameMap(spread[i], o)).length;
  if (process.versions.node.startsWith('20.')) assert.ok(spreadShared < spread.length - 1, 'the spread form shared its hidden classes on Node 20');
  else t.diagnostic(`spread form: ${spreadShared} of ${spread.length - 1} share a hidden class on Node ${process.versions.node}`);
});
