// Every limit an upload's headers, key and route decide answers before its body is read: its
// ASN's (the client's network, from the geo tables), the model's when the route alone names it (an
// image variation is dall-e-2's), and the request limits a file upload is charged to. With
// `Expect: 100-continue` the upload is not even asked for. Real sockets: what is asserted is what
// the gateway wrote while the body was still owed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI, { toFile } from 'openai';
import { startTestWarden, TEST_ADMIN_TOKEN, type TestWarden } from '../helpers/warden.ts';
import { createMockUpstream, type MockUpstream } from '../../src/mock/index.ts';
import { wav } from '../../src/mock/openai-speech.ts';
import { gradientPng } from '../../src/mock/png.ts';

/** The ASN the test's geo table gives the loopback addresses the test connects from. */
const ASN = 64_501;
let t: TestWarden;
let mock: MockUpstream;
let dir: string;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'warden-upload-limits-'));
  writeFileSync(join(dir, 'asn.csv'), `127.0.0.0,127.255.255.255,${ASN},Loopback Test Network\n`);
  writeFileSync(join(dir, 'country.csv'), '127.0.0.0,127.255.255.255,NL\n');
  mock = await createMockUpstream();
  t = await startTestWarden({
    server: { port: 0, upload_limit_bytes: 400_000 },
    policy: { geo: { country_files: [join(dir, 'country.csv')], asn_files: [join(dir, 'asn.csv')] } },
    upstreams: [{ name: 'mock', base_url: mock.url, models: ['*'] }],
  });
});
after(async () => { await t.close(); await mock.close(); rmSync(dir, { recursive: true, force: true }); });

const sdk = (key: string) => new OpenAI({ apiKey: key, baseURL: `${t.url}/v1`, maxRetries: 0 });

/**
 * Sends a multipart upload's headers to `path` (announcing `length` bytes) and, unless it asks
 * `Expect: 100-continue`, its first kilobyte only; resolves with what the gateway wrote while the
 * rest was still owed ('' when it waited for the body).
 */
async function answerBeforeUpload(path: string, headers: string, length: number, expectContinue: boolean, contentType?: string): Promise<string> {
  const boundary = 'xEARLYx';
  const { port, hostname } = new URL(t.url);
  const socket = connect(Number(port), hostname);
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  let answer = '';
  socket.on('data', (d) => { answer += d; });
  socket.on('error', () => {});
  socket.write(`POST ${path} HTTP/1.1\r\nHost: x\r\n${headers}Content-Type: ${contentType ?? `multipart/form-data; boundary=${boundary}`}\r\n`
    + `${expectContinue ? 'Expect: 100-continue\r\n' : ''}Content-Length: ${length}\r\n\r\n`);
  if (!expectContinue) socket.write(Buffer.concat([Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`), Buffer.alloc(1024)]));
  // The answer whole (its JSON body ends with '}'), or 3 s of waiting for one that never comes.
  for (let i = 0; i < 150 && !/\r\n\r\n[^]*\}\s*$/.test(answer); i++) await new Promise((r) => setTimeout(r, 20));
  socket.destroy();
  return answer;
}

const bodyOf = (answer: string) => JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4).replace(/^[0-9a-f]+\r\n/, '').replace(/\r\n0\r\n\r\n$/, ''));

test('an upload from a network over its ASN\'s request rate is refused 429 before its body, and asked for no body with Expect: 100-continue', async () => {
  const { id, key } = await t.account('asn-upload', 'email_verified');
  const override = await t.admin('/limits/overrides', { scope: 'asn', subject: `AS${ASN}`, limits: { rpm: 1, burst: 1 } });
  try {
    const served = await sdk(key).audio.transcriptions.create({ file: await toFile(wav(Buffer.alloc(8000)), 'a.wav'), model: 'whisper-1' });
    assert.ok(served.text, 'the network\'s first upload of the minute is served');

    const answer = await answerBeforeUpload('/v1/audio/transcriptions', `Authorization: Bearer ${key}\r\n`, 300_000, false);
    assert.match(answer, /^HTTP\/1\.1 429 /, `answered with 1 KB of 300 KB sent (got ${JSON.stringify(answer.slice(0, 60))})`);
    assert.equal(bodyOf(answer).error.type, 'rate_limit_error');
    const continued = await answerBeforeUpload('/v1/audio/transcriptions', `Authorization: Bearer ${key}\r\n`, 300_000, true);
    assert.match(continued, /^HTTP\/1\.1 429 /, `a 429 and no 100 Continue (got ${JSON.stringify(continued.slice(0, 60))})`);

    const events = await t.events((e) => e.account_id === id && e.response.status === 429, 2);
    assert.equal(events.length, 2, 'both refusals recorded');
    for (const e of events) assert.equal(e.enforcement.limit?.scope, 'asn', JSON.stringify(e.enforcement.limit));
  } finally {
    // Every test connects from the same network: its limit goes with this test.
    const r = await fetch(`${t.url}/admin/limits/overrides/${override.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } });
    assert.equal(r.status, 204, 'the network\'s override removed');
  }
});

test('an image variation over dall-e-2\'s own limit is refused before its body (the route names its model); a transcription\'s model is in its body', async () => {
  const { id, key } = await t.account('model-upload', 'email_verified');
  await t.admin('/limits/overrides', { scope: 'account', subject: id, model: 'dall-e-2', limits: { rpm: 1, burst: 1 } });
  await t.admin('/limits/overrides', { scope: 'account', subject: id, model: 'whisper-1', limits: { rpm: 1, burst: 1 } });
  const client = sdk(key);
  const varied = await client.images.createVariation({ image: await toFile(gradientPng(3, 16), 'a.png', { type: 'image/png' }) });
  assert.ok(varied.data?.length, 'the first variation of the minute is made');

  const continued = await answerBeforeUpload('/v1/images/variations', `Authorization: Bearer ${key}\r\n`, 300_000, true);
  assert.match(continued, /^HTTP\/1\.1 429 /, `dall-e-2's limit answers before the image is asked for (got ${JSON.stringify(continued.slice(0, 60))})`);
  assert.match(bodyOf(continued).error.message, /dall-e-2/, bodyOf(continued).error.message);

  // The transcription's model is known only from its body: its limit is decided once it is read.
  await client.audio.transcriptions.create({ file: await toFile(wav(Buffer.alloc(8000)), 'a.wav'), model: 'whisper-1' });
  const waited = await answerBeforeUpload('/v1/audio/transcriptions', `Authorization: Bearer ${key}\r\n`, 300_000, true);
  assert.match(waited, /^HTTP\/1\.1 100 Continue\r\n\r\n$/, `asked for its upload (got ${JSON.stringify(waited.slice(0, 60))})`);
  await assert.rejects(client.audio.transcriptions.create({ file: await toFile(wav(Buffer.alloc(8000)), 'b.wav'), model: 'whisper-1' }),
    (e: any) => e.status === 429 && /whisper-1/.test(e.error.message), 'refused once the body named whisper-1');
});

test('a file upload over its account\'s request rate is refused 429 before the file is asked for, in each API\'s format', async () => {
  const { id, key } = await t.account('file-upload', 'email_verified');
  await t.admin('/limits/overrides', { scope: 'account', subject: id, limits: { rpm: 1, burst: 1 } });
  const form = new FormData();
  form.append('purpose', 'user_data');
  form.append('file', new Blob([Buffer.alloc(100, 0x61)]), 'notes.txt');
  const first = await fetch(`${t.url}/v1/files`, { method: 'POST', headers: { authorization: `Bearer ${key}` }, body: form });
  assert.equal(first.status, 200, await first.text());

  const continued = await answerBeforeUpload('/v1/files', `Authorization: Bearer ${key}\r\n`, 300_000, true);
  assert.match(continued, /^HTTP\/1\.1 429 /, `a 429 and no 100 Continue (got ${JSON.stringify(continued.slice(0, 60))})`);
  assert.equal(bodyOf(continued).error.type, 'rate_limit_error');
  assert.match(continued, /\r\nretry-after: \d+\r\n/i, 'when to retry');
  const anthropic = await answerBeforeUpload('/v1/files', `x-api-key: ${key}\r\nanthropic-version: 2023-06-01\r\n`, 300_000, true);
  assert.match(anthropic, /^HTTP\/1\.1 429 /, `a 429 and no 100 Continue (got ${JSON.stringify(anthropic.slice(0, 60))})`);
  assert.equal(bodyOf(anthropic).type, 'error', 'Anthropic\'s error format');
  assert.equal(bodyOf(anthropic).error.type, 'rate_limit_error');
  const sent = await answerBeforeUpload('/v1/files', `Authorization: Bearer ${key}\r\n`, 300_000, false);
  assert.match(sent, /^HTTP\/1\.1 429 /, `answered with 1 KB of 300 KB sent (got ${JSON.stringify(sent.slice(0, 60))})`);
  // A Message Batch (a JSON body of up to batches.max_body_bytes) is charged from its headers too.
  const batch = await answerBeforeUpload('/v1/messages/batches', `x-api-key: ${key}\r\nanthropic-version: 2023-06-01\r\n`, 300_000, true, 'application/json');
  assert.match(batch, /^HTTP\/1\.1 429 /, `a 429 and no 100 Continue (got ${JSON.stringify(batch.slice(0, 60))})`);
  assert.equal(bodyOf(batch).error.type, 'rate_limit_error');
  const openaiBatch = await answerBeforeUpload('/v1/batches', `Authorization: Bearer ${key}\r\n`, 200, true, 'application/json');
  assert.match(openaiBatch, /^HTTP\/1\.1 429 /, `a 429 and no 100 Continue (got ${JSON.stringify(openaiBatch.slice(0, 60))})`);
});
