// Requests with no valid key from one address are limited: past `limits.keyless_failures_per_minute`
// refusals for their key in a minute, that address's API requests get 429 with retry-after (their
// key not checked), so guessing keys goes no faster; a key accepted lately still works from there.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestWarden } from '../helpers/warden.ts';

const BAD = 'wk_live_AAAAAAAAAAAA_' + 'x'.repeat(40);
const chat = (url: string, headers: Record<string, string>) => fetch(`${url}/v1/chat/completions`, {
  method: 'POST', headers: { 'content-type': 'application/json', ...headers },
  body: JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }),
});
const messages = (url: string, headers: Record<string, string>) => fetch(`${url}/v1/messages`, {
  method: 'POST', headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01', ...headers },
  body: JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }),
});

test('past N requests a minute refused for their key, an address gets 429 with retry-after; a key accepted lately still works', { timeout: 60_000 }, async () => {
  const tw = await startTestWarden({ limits: { keyless_failures_per_minute: 10 } });
  try {
    const { key } = await tw.account('customer', 'email_verified');
    // The customer's key is accepted from this address before the flood.
    const first = await chat(tw.url, { authorization: `Bearer ${key}` });
    assert.equal(first.status, 200, await first.text());

    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) { const r = await chat(tw.url, { authorization: `Bearer ${BAD}` }); statuses.push(r.status); await r.arrayBuffer(); }
    assert.deepEqual(statuses, Array(10).fill(401), 'the first 10 bad keys are answered 401, as before');

    // The 11th: 429 in OpenAI's format, and in Anthropic's on its routes; no key at all too.
    const r = await chat(tw.url, { authorization: `Bearer ${BAD}` });
    const body = await r.json() as any;
    assert.equal(r.status, 429, JSON.stringify(body));
    assert.equal(body.error.type, 'rate_limit_error', JSON.stringify(body));
    assert.equal(body.error.warden_code, 'WARDEN_RATE_LIMITED');
    const retry = Number(r.headers.get('retry-after'));
    assert.ok(retry >= 1 && retry <= 60, `retry-after says when the minute is over: ${retry}`);
    const a = await messages(tw.url, { 'x-api-key': BAD });
    const ab = await a.json() as any;
    assert.equal(a.status, 429);
    assert.equal(ab.type, 'error', 'Anthropic\'s format');
    assert.equal(ab.error.type, 'rate_limit_error', JSON.stringify(ab));
    const none = await fetch(`${tw.url}/v1/models`);
    assert.equal(none.status, 429, 'no key at all is held back too');
    // Batch and files routes too.
    const files = await fetch(`${tw.url}/v1/files`, { headers: { authorization: `Bearer ${BAD}` } });
    assert.equal(files.status, 429, 'the files routes are held back too');

    // The customer at the same address keeps working, on every route.
    const ok = await chat(tw.url, { authorization: `Bearer ${key}` });
    assert.equal(ok.status, 200, `a key accepted lately is not held back: ${await ok.text()}`);
    const list = await fetch(`${tw.url}/v1/files`, { headers: { authorization: `Bearer ${key}` } });
    assert.equal(list.status, 200, 'nor on the files routes');
  } finally {
    await tw.close();
  }
});

test('a customer using only the batch and files routes is not held back with the flood from its address', { timeout: 60_000 }, async () => {
  const tw = await startTestWarden({ limits: { keyless_failures_per_minute: 5 } });
  try {
    const { key } = await tw.account('filer', 'email_verified');
    const mine = await fetch(`${tw.url}/v1/files`, { headers: { authorization: `Bearer ${key}` } });
    assert.equal(mine.status, 200);
    for (let i = 0; i < 6; i++) await (await fetch(`${tw.url}/v1/files`, { headers: { authorization: `Bearer ${BAD}` } })).arrayBuffer();
    const bad = await fetch(`${tw.url}/v1/files`, { headers: { authorization: `Bearer ${BAD}` } });
    assert.equal(bad.status, 429, 'the flood is held back');
    const again = await fetch(`${tw.url}/v1/files`, { headers: { authorization: `Bearer ${key}` } });
    assert.equal(again.status, 200, `the customer's key, accepted on a files route, is not: ${await again.text()}`);
  } finally {
    await tw.close();
  }
});

test('with keyless_failures_per_minute 0 every request without a valid key is answered 401', { timeout: 60_000 }, async () => {
  const tw = await startTestWarden({ limits: { keyless_failures_per_minute: 0 } });
  try {
    const statuses = new Set<number>();
    for (let i = 0; i < 30; i++) { const r = await chat(tw.url, { authorization: `Bearer ${BAD}` }); statuses.add(r.status); await r.arrayBuffer(); }
    assert.deepEqual([...statuses], [401], 'no limit: 401 each');
  } finally {
    await tw.close();
  }
});
