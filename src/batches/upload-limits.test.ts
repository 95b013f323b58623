// Uploads cost the gateway's disk: each is charged to the caller's request limits, as any request,
// and an account (and its organisation) holds at most `batches.max_files_per_account` files and
// `batches.max_file_bytes_per_account` (`_per_org`) bytes of them; past it an upload is refused as
// OpenAI and Anthropic refuse one over their storage quota (400 `invalid_request_error`).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestWarden } from '../../test/helpers/warden.ts';

function upload(url: string, key: string, bytes: number, anthropic = false): Promise<Response> {
  const form = new FormData();
  if (!anthropic) form.append('purpose', 'user_data');
  form.append('file', new Blob([Buffer.alloc(bytes, 0x61)]), 'notes.txt');
  const headers: Record<string, string> = anthropic ? { 'x-api-key': key, 'anthropic-version': '2023-06-01', 'anthropic-beta': 'files-api-2025-04-14' } : { authorization: `Bearer ${key}` };
  return fetch(`${url}/v1/files`, { method: 'POST', headers, body: form });
}

test('uploads are charged to the account\'s request limit', { timeout: 60_000 }, async () => {
  const tw = await startTestWarden({ limits: { tiers: { email_verified: { account: { rpm: 60, burst: 3 } } } } });
  try {
    const { key } = await tw.account('uploader', 'email_verified');
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) { const r = await upload(tw.url, key, 1000); statuses.push(r.status); await r.arrayBuffer(); }
    assert.deepEqual(statuses.slice(0, 3), [200, 200, 200], `the burst is served: ${statuses}`);
    assert.ok(statuses.slice(3).includes(429), `past the account's burst an upload is refused with 429: ${statuses}`);
    const r = await upload(tw.url, key, 1000);
    const body = await r.json() as any;
    assert.equal(r.status, 429);
    assert.equal(body.error.type, 'rate_limit_error', JSON.stringify(body));
    assert.ok(r.headers.get('retry-after'), 'the refusal says when to retry');
  } finally {
    await tw.close();
  }
});

test('an account\'s stored files are capped in count and bytes, and an organisation\'s in bytes', { timeout: 60_000 }, async () => {
  const tw = await startTestWarden({ batches: { max_files_per_account: 3, max_file_bytes_per_account: 250_000, max_file_bytes_per_org: 400_000 } });
  try {
    const { key } = await tw.account('filer', 'email_verified');
    for (let i = 0; i < 2; i++) { const r = await upload(tw.url, key, 100_000); assert.equal(r.status, 200, await r.text()); }
    // 200,000 held: 100,000 more would pass the account's 250,000.
    const over = await upload(tw.url, key, 100_000);
    const body = await over.json() as any;
    assert.equal(over.status, 400, `over the account's bytes: ${JSON.stringify(body)}`);
    assert.equal(body.error.type, 'invalid_request_error');
    assert.match(body.error.message, /exceeded (this|your) .*file storage quota/i, body.error.message);
    // Anthropic's Files API gets its own format.
    const a = await upload(tw.url, key, 100_000, true);
    const ab = await a.json() as any;
    assert.equal(a.status, 400);
    assert.equal(ab.type, 'error');
    assert.equal(ab.error.type, 'invalid_request_error', JSON.stringify(ab));
    // Small files fit the bytes, but not a fourth file.
    const third = await upload(tw.url, key, 10);
    assert.equal(third.status, 200, await third.text());
    const fourth = await upload(tw.url, key, 10);
    const fb = await fourth.json() as any;
    assert.equal(fourth.status, 400, `a fourth file is over the count: ${JSON.stringify(fb)}`);
    assert.match(fb.error.message, /3 files/, fb.error.message);
    // Deleting frees the room.
    const list = await (await fetch(`${tw.url}/v1/files`, { headers: { authorization: `Bearer ${key}` } })).json() as any;
    await fetch(`${tw.url}/v1/files/${list.data[0].id}`, { method: 'DELETE', headers: { authorization: `Bearer ${key}` } });
    const again = await upload(tw.url, key, 10);
    assert.equal(again.status, 200, `room is freed by a deletion: ${await again.text()}`);

    // Another account of the same organisation: the organisation's 400,000 bytes bound both.
    const org = await tw.admin('/orgs', { name: 'acme' });
    const one = await tw.account('one', 'email_verified');
    const two = await tw.account('two', 'email_verified');
    for (const id of [one.id, two.id]) await tw.admin(`/accounts/${id}`, { org_id: org.id }, 'PATCH');
    // 200,000 and 150,000 held by the organisation: 60,000 more fits the account's 250,000, not the organisation's 400,000.
    for (const [k, bytes] of [[one.key, 200_000], [two.key, 150_000]] as const) { const r = await upload(tw.url, k, bytes); assert.equal(r.status, 200, await r.text()); }
    const orgOver = await upload(tw.url, two.key, 60_000);
    const ob = await orgOver.json() as any;
    assert.equal(orgOver.status, 400, `over the organisation's bytes: ${JSON.stringify(ob)}`);
    assert.match(ob.error.message, /organi[sz]ation/i, ob.error.message);
  } finally {
    await tw.close();
  }
});
