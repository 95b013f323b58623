// Request bodies are JSON in UTF-8 (RFC 8259), sent as is: a compressed body is refused with 415
// (on every route, nothing of it echoed), another charset with 415, bytes that are not UTF-8 with
// 400 (never forwarded with characters replaced), and a leading byte-order mark is accepted.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { startTestWarden, type TestWarden } from '../helpers/warden.ts';

let w: TestWarden;
after(async () => { await w?.close(); });

const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'café' }] };
const message = { model: 'claude-sonnet-4-5', max_tokens: 20, messages: [{ role: 'user', content: 'café' }] };

test('compressed bodies, other charsets and invalid UTF-8 are refused in the wire format; a byte-order mark is not', async () => {
  w = await startTestWarden();
  const { key } = await w.account('alice', 'email_verified');
  const openai = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
  const anthropic = { 'x-api-key': key, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' };
  const post = (path: string, headers: Record<string, string>, body: Buffer | FormData) => fetch(`${w.url}${path}`, { method: 'POST', headers, body });

  // gzip, on a model route in each format and on the files route
  for (const [path, headers, body, shape] of [
    ['/v1/chat/completions', openai, JSON.stringify(chat), 'openai'],
    ['/v1/messages', anthropic, JSON.stringify(message), 'anthropic'],
  ] as const) {
    const r = await post(path, { ...headers, 'content-encoding': 'gzip' }, gzipSync(body));
    const text = await r.text();
    assert.equal(r.status, 415, `${path}: ${text}`);
    const parsed = JSON.parse(text);
    assert.equal(parsed.error.warden_code, 'WARDEN_UNSUPPORTED_MEDIA_TYPE', text);
    assert.match(parsed.error.message, /Content-Encoding "gzip" is not supported/, text);
    assert.equal(parsed.type, shape === 'anthropic' ? 'error' : undefined, `${path}: in its wire format`);
    assert.ok(!/[\u0000-\u0008\u001f\ufffd]/.test(text), `${path}: nothing of the body echoed: ${text}`);
  }
  const form = new FormData();
  form.append('purpose', 'user_data');
  form.append('file', new Blob(['note']), 'note.txt');
  const upload = await post('/v1/files', { authorization: `Bearer ${key}`, 'content-encoding': 'br' }, form);
  assert.equal(upload.status, 415, `files: ${await upload.clone().text()}`);
  assert.equal(((await upload.json()) as any).error.warden_code, 'WARDEN_UNSUPPORTED_MEDIA_TYPE');
  // a plain body labelled gzip is refused too (the header is not ignored); identity is no coding
  assert.equal((await post('/v1/chat/completions', { ...openai, 'content-encoding': 'gzip' }, Buffer.from(JSON.stringify(chat)))).status, 415, 'a plain body labelled gzip');
  const identity = await post('/v1/chat/completions', { ...openai, 'content-encoding': 'identity' }, Buffer.from(JSON.stringify(chat)));
  assert.equal(identity.status, 200, `identity: ${await identity.text()}`);

  // a leading UTF-8 byte-order mark is accepted
  const bom = await post('/v1/chat/completions', openai, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify(chat))]));
  assert.equal(bom.status, 200, `byte-order mark: ${await bom.text()}`);

  // Latin-1 bytes: declared, refused as a charset; undeclared, refused as not UTF-8
  const latin1 = Buffer.from(JSON.stringify(chat), 'latin1');
  const declared = await post('/v1/chat/completions', { ...openai, 'content-type': 'application/json; charset=iso-8859-1' }, latin1);
  assert.equal(declared.status, 415, await declared.clone().text());
  assert.match(((await declared.json()) as any).error.message, /UTF-8/);
  const undeclared = await post('/v1/messages', anthropic, Buffer.from(JSON.stringify(message), 'latin1'));
  const body = (await undeclared.json()) as any;
  assert.equal(undeclared.status, 400, JSON.stringify(body));
  assert.equal(body.error.warden_code, 'WARDEN_INVALID_JSON');
  assert.match(body.error.message, /not valid UTF-8/);
  const utf8 = await post('/v1/chat/completions', { ...openai, 'content-type': 'application/json; charset=UTF-8' }, Buffer.from(JSON.stringify(chat)));
  assert.equal(utf8.status, 200, 'charset=UTF-8 is fine');

  // refusals on model routes are recorded, under the caller's account; no prompt was altered
  const events = await w.events(() => true, 8);
  const statuses = events.map((e) => e.response.status).sort();
  assert.deepEqual(statuses, [200, 200, 200, 400, 415, 415, 415, 415], JSON.stringify(events.map((e) => [e.response.status, e.response.error_code])));
  assert.ok(events.every((e) => e.account_id !== null), 'recorded under the caller');
  for (const e of events.filter((x) => x.response.status === 200)) {
    assert.equal(e.request.messages[0]?.text, 'café', 'the prompt reached the event unaltered');
  }

  // The Message Batches route (its own parser) follows the same rule (after the events above: its
  // request, once run, is recorded too)
  const batch = (content: string) => JSON.stringify({ requests: [{ custom_id: 'a', params: { ...message, messages: [{ role: 'user', content }] } }] });
  const batchLatin1 = await post('/v1/messages/batches', anthropic, Buffer.from(batch('café'), 'latin1'));
  const batchLatin1Body = (await batchLatin1.json()) as any;
  assert.equal(batchLatin1.status, 400, JSON.stringify(batchLatin1Body));
  assert.equal(batchLatin1Body.error.warden_code, 'WARDEN_INVALID_JSON', 'batch: not UTF-8');
  assert.equal(batchLatin1Body.type, 'error', 'batch: in the Anthropic format');
  const batchCharset = await post('/v1/messages/batches', { ...anthropic, 'content-type': 'application/json; charset=iso-8859-1' }, Buffer.from(batch('cafe')));
  assert.equal(batchCharset.status, 415, `batch: another charset: ${await batchCharset.text()}`);
  const batchBom = await post('/v1/messages/batches', anthropic, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(batch('café'))]));
  assert.equal(batchBom.status, 200, `batch: byte-order mark: ${await batchBom.text()}`);
});
