// A batch's creation is a request like any other: it is charged to the caller's request limits
// (429 in the caller's format with retry-after past them), and an account may have at most
// `batches.max_batches_in_progress_per_account` batches in progress at once, so that no caller
// can create batches without bound.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestWarden, type TestWarden } from '../../test/helpers/warden.ts';

const anthropicHeaders = (key: string) => ({ 'x-api-key': key, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' });
const openaiHeaders = (key: string) => ({ authorization: `Bearer ${key}` });

function createMessageBatch(url: string, key: string, n = 1): Promise<Response> {
  const requests = Array.from({ length: n }, (_, i) => ({ custom_id: `r${i}`, params: { model: 'claude-sonnet-4-5', max_tokens: 16, messages: [{ role: 'user', content: `hello ${i}` }] } }));
  return fetch(`${url}/v1/messages/batches`, { method: 'POST', headers: anthropicHeaders(key), body: JSON.stringify({ requests }) });
}

async function uploadInput(url: string, key: string, n = 1): Promise<string> {
  const lines = Array.from({ length: n }, (_, i) => JSON.stringify({ custom_id: `r${i}`, method: 'POST', url: '/v1/chat/completions', body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: `hi ${i}` }] } })).join('\n');
  const form = new FormData();
  form.append('purpose', 'batch');
  form.append('file', new Blob([lines]), 'input.jsonl');
  const r = await fetch(`${url}/v1/files`, { method: 'POST', headers: openaiHeaders(key), body: form });
  const body = await r.json() as any;
  assert.equal(r.status, 200, JSON.stringify(body));
  return body.id;
}

function createOpenAiBatch(url: string, key: string, fileId: string): Promise<Response> {
  return fetch(`${url}/v1/batches`, { method: 'POST', headers: { ...openaiHeaders(key), 'content-type': 'application/json' }, body: JSON.stringify({ input_file_id: fileId, endpoint: '/v1/chat/completions', completion_window: '24h' }) });
}

async function cancelAll(tw: TestWarden, key: string): Promise<void> {
  const list = await (await fetch(`${tw.url}/v1/messages/batches`, { headers: anthropicHeaders(key) })).json() as any;
  for (const b of list.data ?? []) await (await fetch(`${tw.url}/v1/messages/batches/${b.id}/cancel`, { method: 'POST', headers: anthropicHeaders(key) })).arrayBuffer();
  const olist = await (await fetch(`${tw.url}/v1/batches`, { headers: openaiHeaders(key) })).json() as any;
  for (const b of olist.data ?? []) await (await fetch(`${tw.url}/v1/batches/${b.id}/cancel`, { method: 'POST', headers: openaiHeaders(key) })).arrayBuffer();
}

test('creating a Message Batch is charged to the caller\'s request limit: past it 429 rate_limit_error with retry-after', { timeout: 60_000 }, async () => {
  const tw = await startTestWarden({ limits: { tiers: { email_verified: { account: { rpm: 60, burst: 3 } } } } });
  try {
    const { key } = await tw.account('creator', 'email_verified');
    const statuses: number[] = [];
    let refusal: Response | null = null;
    for (let i = 0; i < 6 && !refusal; i++) {
      const r = await createMessageBatch(tw.url, key);
      statuses.push(r.status);
      if (r.status === 429) refusal = r; else await r.arrayBuffer();
    }
    assert.equal(statuses[0], 200, `the first creation is served: ${statuses}`);
    assert.ok(refusal, `past the account's burst a creation is refused with 429: ${statuses}`);
    const body = await refusal.json() as any;
    assert.equal(body.type, 'error', JSON.stringify(body));
    assert.equal(body.error.type, 'rate_limit_error', JSON.stringify(body));
    assert.ok(Number(refusal.headers.get('retry-after')) >= 1, 'the refusal says when to retry');
  } finally {
    await tw.close();
  }
});

test('creating an OpenAI batch is charged to the caller\'s request limit: past it 429 in OpenAI\'s format', { timeout: 60_000 }, async () => {
  const tw = await startTestWarden({ limits: { tiers: { email_verified: { account: { rpm: 60, burst: 4 } } } } });
  try {
    const { key } = await tw.account('creator', 'email_verified');
    const file = await uploadInput(tw.url, key); // one of the burst
    const statuses: number[] = [];
    let refusal: Response | null = null;
    for (let i = 0; i < 6 && !refusal; i++) {
      const r = await createOpenAiBatch(tw.url, key, file);
      statuses.push(r.status);
      if (r.status === 429) refusal = r; else await r.arrayBuffer();
    }
    assert.equal(statuses[0], 200, `the first creation is served: ${statuses}`);
    assert.ok(refusal, `past the account's burst a creation is refused with 429: ${statuses}`);
    const body = await refusal.json() as any;
    assert.equal(body.error.type, 'rate_limit_error', JSON.stringify(body));
    assert.ok(Number(refusal.headers.get('retry-after')) >= 1, 'the refusal says when to retry');
  } finally {
    await tw.close();
  }
});

test('an account has at most batches.max_batches_in_progress_per_account batches in progress, across both APIs', { timeout: 60_000 }, async () => {
  // The upstream answers slowly and one request runs at a time: the batches stay in progress.
  const tw = await startTestWarden({ mock: { latency_ms: 1500, tokens_per_second: 0 }, batches: { concurrency: 1, max_batches_in_progress_per_account: 2 } });
  try {
    const { key } = await tw.account('many', 'identity_verified');
    const other = await tw.account('other', 'identity_verified');
    for (let i = 0; i < 2; i++) { const r = await createMessageBatch(tw.url, key, 3); assert.equal(r.status, 200, await r.text()); }
    const third = await createMessageBatch(tw.url, key, 1);
    const body = await third.json() as any;
    assert.equal(third.status, 429, `a third batch in progress is refused: ${JSON.stringify(body)}`);
    assert.equal(body.error.type, 'rate_limit_error', JSON.stringify(body));
    assert.match(body.error.message, /2 batches in progress/, body.error.message);
    assert.ok(third.headers.get('retry-after'), 'the refusal says when to retry');
    // The OpenAI API counts the same batches, and answers in its own format.
    const file = await uploadInput(tw.url, key);
    const o = await createOpenAiBatch(tw.url, key, file);
    const ob = await o.json() as any;
    assert.equal(o.status, 429, JSON.stringify(ob));
    assert.equal(ob.error.type, 'rate_limit_error', JSON.stringify(ob));
    assert.equal(ob.type, undefined, 'OpenAI\'s error format');
    // Another account is not held back by this one's batches.
    const r = await createMessageBatch(tw.url, other.key, 1);
    assert.equal(r.status, 200, await r.text());
    await cancelAll(tw, key);
    await cancelAll(tw, other.key);
  } finally {
    await tw.close();
  }
});

test('an account whose batch runs at its limit still creates the next one, retried after its retry-after', { timeout: 90_000 }, async () => {
  const tw = await startTestWarden({ limits: { tiers: { email_verified: { account: { rpm: 60, burst: 1 } } } } });
  try {
    const { key } = await tw.account('busy', 'email_verified');
    const first = await createMessageBatch(tw.url, key, 40);
    assert.equal(first.status, 200, await first.text());
    await new Promise((r) => setTimeout(r, 3000)); // its requests meet the limit and are paced
    let created = 0;
    let retried = 0;
    for (let i = 0; i < 5; i++) {
      // As an SDK does by default: one retry after the refusal's retry-after.
      let r = await createMessageBatch(tw.url, key);
      if (r.status === 429) {
        retried++;
        await r.arrayBuffer();
        await new Promise((res) => setTimeout(res, Number(r.headers.get('retry-after')) * 1000));
        r = await createMessageBatch(tw.url, key);
      }
      if (r.status === 200) created++;
      await r.arrayBuffer();
    }
    assert.equal(created, 5, `each creation got in, ${retried} after a retry`);
    await cancelAll(tw, key);
  } finally {
    await tw.close();
  }
});
