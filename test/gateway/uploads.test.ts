// OpenAI's upload routes through Warden with the official SDK (`toFile`): audio transcriptions and
// translations (JSON, text, subtitles, and the GPT-4o transcribe models' stream), image edits and
// variations. The upstream gets the very bytes the client sent; each call is authenticated,
// limited and recorded once, with the prompt, the files' count, size and the audio's length, never
// their bytes; bad uploads are refused in OpenAI's error format and recorded too.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { connect } from 'node:net';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI, { toFile } from 'openai';
import { startTestWarden, type TestWarden } from '../helpers/warden.ts';
import { createMockUpstream, type MockUpstream } from '../../src/mock/index.ts';
import { mp3, wav } from '../../src/mock/openai-speech.ts';
import { uploadTokens } from '../../src/limits/estimate.ts';
import { gradientPng } from '../../src/mock/png.ts';

const UPLOAD_LIMIT = 200_000;
let t: TestWarden;
let mock: MockUpstream;
before(async () => {
  mock = await createMockUpstream();
  t = await startTestWarden({
    server: { port: 0, upload_limit_bytes: UPLOAD_LIMIT },
    // Unverified accounts have a small input-token quota: an upload's audio is charged against it.
    limits: { tiers: { unverified: { account: { input_tpm: 150 } } } },
    upstreams: [{ name: 'mock', base_url: mock.url, models: ['*'] }],
  });
});
after(async () => { await t.close(); await mock.close(); });

const sdk = (key: string) => new OpenAI({ apiKey: key, baseURL: `${t.url}/v1`, maxRetries: 0 });
/** A 24 kHz 16-bit mono WAV of `seconds`, its samples marked with `marker` so its bytes can be looked for. */
function recording(seconds: number, marker = 'WARDEN-AUDIO-MARKER'): Buffer {
  const samples = Buffer.alloc(Math.round(seconds * 24_000) * 2);
  for (let i = 0; i + marker.length < samples.length; i += 4096) samples.write(marker, i, 'latin1');
  return wav(samples);
}
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const upstreamFile = (path: string) => mock.received.filter((r) => r.path === path).at(-1)?.body as Record<string, any> | undefined;

test('a transcription comes back as the upstream made it, from the very bytes sent, and is recorded without them', async () => {
  const { id, key } = await t.account('stt-alice', 'email_verified');
  const client = sdk(key);
  const audio = recording(2);
  const prompt = 'Names: Quaxley, Brindlewood.';
  const json = await client.audio.transcriptions.create({ file: await toFile(audio, 'memo.wav'), model: 'whisper-1', prompt, language: 'en' });
  assert.ok(json.text.length > 0, 'a transcript');
  assert.deepEqual(json.usage, { type: 'duration', seconds: 2 }, 'Whisper bills by the second');
  const sent = upstreamFile('/v1/audio/transcriptions')!;
  assert.equal(sent.file.sha256, sha(audio), 'the upstream got the file as the client sent it');
  assert.equal(sent.file.filename, 'memo.wav');
  assert.equal(sent.prompt, prompt);
  assert.equal(sent.language, 'en');

  const again = await client.audio.transcriptions.create({ file: await toFile(audio, 'memo.wav'), model: 'whisper-1' });
  assert.equal(again.text, json.text, 'the same recording, the same transcript');

  const verbose = await client.audio.transcriptions.create({ file: await toFile(audio, 'memo.wav'), model: 'whisper-1', response_format: 'verbose_json', timestamp_granularities: ['word', 'segment'] });
  assert.equal(verbose.duration, 2);
  assert.ok(verbose.words && verbose.words.length > 0 && verbose.segments && verbose.segments.length > 0, 'words and segments');
  assert.deepEqual(upstreamFile('/v1/audio/transcriptions')!.timestamp_granularities, ['word', 'segment'], 'list fields pass as sent');
  const srt = await client.audio.transcriptions.create({ file: await toFile(audio, 'memo.wav'), model: 'whisper-1', response_format: 'srt' });
  assert.match(String(srt), /^1\n00:00:00,000 --> 00:00:0\d,\d{3}\n/, 'subtitles, as sent');

  const events = await t.events((e) => e.account_id === id, 4, 30_000);
  assert.equal(events.length, 4, 'each call recorded once');
  const first = events.find((e) => e.request.messages[0]?.text === prompt)!;
  assert.equal(first.flavour, 'openai.transcriptions');
  assert.equal(first.model, 'whisper-1');
  assert.equal(first.response.status, 200);
  assert.deepEqual(first.request.messages[0]?.parts, { audio_file: 1 }, 'the file is a part of the user message');
  assert.deepEqual(first.request.uploads, { files: 1, bytes: audio.length, audio_seconds: 2 });
  assert.ok(first.response.output_tokens > 0, 'the transcript is metered');
  assert.ok(first.request.bytes > audio.length, 'the body\'s size');
  for (const e of events) assert.ok(!JSON.stringify(e).includes('WARDEN-AUDIO-MARKER'), 'no audio bytes in the event');
  const subtitles = events.find((e) => e.request.params.response_format === 'srt')!;
  assert.ok(subtitles.response.output_tokens > 0 && subtitles.response.output_chars < String(srt).length, 'subtitles count their words, not their times');
});

test('a GPT-4o transcription streams its text deltas, metered from the usage it ends with', async () => {
  const { id, key } = await t.account('stt-bob', 'email_verified');
  const client = sdk(key);
  const stream = await client.audio.transcriptions.create({ file: await toFile(recording(3), 'call.wav'), model: 'gpt-4o-transcribe', stream: true });
  let text = '';
  let done: any = null;
  for await (const ev of stream) {
    if (ev.type === 'transcript.text.delta') text += ev.delta;
    else if (ev.type === 'transcript.text.done') done = ev;
  }
  assert.ok(done, 'the stream ends with transcript.text.done');
  assert.equal(text, done.text, 'the deltas make the whole text');
  assert.equal(done.usage.type, 'tokens');
  const [event] = await t.events((e) => e.account_id === id, 1, 30_000);
  assert.equal(event.flavour, 'openai.transcriptions');
  assert.equal(event.request.stream, true);
  assert.equal(event.response.status, 200);
  assert.equal(event.response.usage_source, 'upstream');
  assert.equal(event.response.input_tokens, done.usage.input_tokens);
  assert.equal(event.response.output_tokens, done.usage.output_tokens);
  assert.equal(event.response.output_chars, done.text.length);
  assert.equal(event.request.uploads?.audio_seconds, 3, 'a WAV file\'s length, from its header');
});

test('a transcript\'s log-probabilities are withheld from a tier without them, asked for as JSON or streamed', async () => {
  // The default policy gives email-verified accounts no log-probabilities.
  const { id, key } = await t.account('stt-judy', 'email_verified');
  const client = sdk(key);
  const audio = recording(2);
  const json = await client.audio.transcriptions.create({ file: await toFile(audio, 'a.wav'), model: 'gpt-4o-transcribe', include: ['logprobs'] });
  assert.ok(json.text, 'the transcript');
  assert.equal(json.logprobs, undefined, 'no log-probabilities in the JSON answer');
  const sent = upstreamFile('/v1/audio/transcriptions')!;
  assert.equal(sent.include, undefined, 'none asked of the upstream');
  const stream = await client.audio.transcriptions.create({ file: await toFile(audio, 'a.wav'), model: 'gpt-4o-transcribe', include: ['logprobs'], stream: true });
  let withLogprobs = 0;
  for await (const ev of stream) if ((ev as any).logprobs !== undefined) withLogprobs++;
  assert.equal(withLogprobs, 0, 'no streamed event carries log-probabilities');
  const events = await t.events((e) => e.account_id === id, 2, 30_000);
  for (const e of events) assert.ok(e.enforcement.shaping.includes('logprobs:stripped'), JSON.stringify(e.enforcement.shaping));

  // A tier with them gets them, streamed and not.
  const { key: trusted } = await t.account('stt-kim', 'identity_verified');
  const full = await sdk(trusted).audio.transcriptions.create({ file: await toFile(audio, 'a.wav'), model: 'gpt-4o-transcribe', include: ['logprobs'] });
  assert.ok(full.logprobs && full.logprobs.length > 0, 'an allowed tier gets them');
  assert.deepEqual(upstreamFile('/v1/audio/transcriptions')!.include, ['logprobs']);
});

test('a transcript is watermarked for an account under a shape verdict, as JSON and streamed; an unflagged customer\'s transcript and subtitles are not', async () => {
  const w = await startTestWarden({
    server: { port: 0 }, watermark: { enabled: true, master_secret: 'uploads-test-watermark-secret' },
    // A shape verdict narrows the account's limits too: the test's few requests must not wait on them.
    limits: { tiers: { email_verified: { account: { rpm: 100_000, burst: 10_000 }, org: { rpm: 100_000, burst: 10_000 } } } },
    upstreams: [{ name: 'mock', base_url: mock.url, models: ['*'] }],
  });
  try {
  const sdk = (k: string) => new OpenAI({ apiKey: k, baseURL: `${w.url}/v1`, maxRetries: 0 });
  const { id, key } = await w.account('stt-mona', 'email_verified');
  const { id: plainId, key: plain } = await w.account('stt-nico', 'enterprise'); // the default policy marks no enterprise answer
  // Two minutes at 4 kHz (960 KB): a few hundred words, a dozen or more of them the mark's.
  const audio = wav(Buffer.alloc(960_000, 3), 4000);
  const asJson = async (k: string) => sdk(k).audio.transcriptions.create({ file: await toFile(audio, 'a.wav'), model: 'whisper-1' });
  const unmarked = await asJson(plain);
  assert.equal((await asJson(key)).text, unmarked.text, 'an account under no verdict gets the exact words, though its tier\'s chat answers are marked');
  const [unflagged] = await w.events((e) => e.account_id === id, 1, 30_000);
  assert.ok(unflagged.enforcement.shaping.includes('watermark:skipped_transcript') && !unflagged.enforcement.watermark, 'recorded as left unmarked');
  await w.admin('/detect/verdicts', { kind: 'account', id, level: 'shape', note: 'transcripts harvested' });
  const marked = await asJson(key);
  assert.notEqual(marked.text, unmarked.text, 'under a shape verdict the transcript differs in its words');
  assert.equal(marked.text.split(/\s+/).length, unmarked.text.split(/\s+/).length, 'word for word');
  const stream = await sdk(key).audio.transcriptions.create({ file: await toFile(audio, 'a.wav'), model: 'gpt-4o-transcribe', stream: true });
  let deltas = '';
  let done = '';
  for await (const ev of stream) {
    if (ev.type === 'transcript.text.delta') deltas += ev.delta;
    else if (ev.type === 'transcript.text.done') done = ev.text;
  }
  assert.equal(deltas, done, 'the deltas make the text the stream ends with');
  const plainStream = await sdk(plain).audio.transcriptions.create({ file: await toFile(audio, 'a.wav'), model: 'gpt-4o-transcribe', stream: true });
  let plainDone = '';
  for await (const ev of plainStream) if (ev.type === 'transcript.text.done') plainDone = ev.text;
  assert.notEqual(done, plainDone, 'the streamed transcript is marked too');
  const srt = await sdk(key).audio.transcriptions.create({ file: await toFile(audio, 'a.wav'), model: 'whisper-1', response_format: 'srt' });
  assert.ok(String(srt).length > 0);
  const events = await w.events((e) => e.account_id === id, 4, 30_000);
  assert.equal(events.filter((e) => e.enforcement.watermark).length, 2, 'JSON and stream recorded as marked');
  assert.ok(events.some((e) => e.enforcement.shaping.includes('watermark:skipped_format')), 'the subtitles recorded as left unmarked');
  const plainEvents = await w.events((e) => e.account_id === plainId, 2, 30_000);
  assert.ok(plainEvents.every((e) => !e.enforcement.watermark));
  } finally {
    await w.close();
  }
});

test('translations, image edits and variations are served and recorded as their own flavours', async () => {
  const { id, key } = await t.account('img-carol', 'email_verified');
  const client = sdk(key);
  const translation = await client.audio.translations.create({ file: await toFile(recording(1), 'fr.wav'), model: 'whisper-1', response_format: 'text' });
  assert.ok(String(translation).trim().length > 0, 'the translation as text');

  const pngA = gradientPng(1, 16);
  const pngB = gradientPng(2, 16);
  const edited = await client.images.edit({ model: 'gpt-image-1', image: [await toFile(pngA, 'a.png', { type: 'image/png' }), await toFile(pngB, 'b.png', { type: 'image/png' })], prompt: 'Put them side by side', n: 2 });
  assert.equal(edited.data?.length, 2);
  assert.ok(edited.usage && edited.usage.output_tokens > 0);
  const sentEdit = upstreamFile('/v1/images/edits')!;
  assert.deepEqual(sentEdit.image.map((f: any) => f.sha256), [sha(pngA), sha(pngB)], 'both images, in order');
  const variation = await client.images.createVariation({ image: await toFile(pngA, 'a.png', { type: 'image/png' }), n: 1 });
  assert.match(variation.data![0].url!, /^data:image\/png;base64,/);

  const events = await t.events((e) => e.account_id === id, 3, 30_000);
  const by = (f: string) => events.find((e) => e.flavour === f)!;
  assert.equal(by('openai.translations').response.status, 200);
  const edit = by('openai.image_edits');
  assert.equal(edit.request.messages[0]?.text, 'Put them side by side');
  assert.deepEqual(edit.request.messages[0]?.parts, { image_file: 2 });
  assert.equal(edit.request.params.n, 2);
  assert.equal(edit.response.output_tokens, edited.usage!.output_tokens, 'the images\' tokens are metered');
  assert.deepEqual(edit.request.uploads, { files: 2, bytes: pngA.length + pngB.length, audio_seconds: null });
  assert.equal(by('openai.image_variations').model, 'dall-e-2', 'OpenAI\'s default model');
});

test('an image edit streams its drafts and images event by event, metered from the completed events', async () => {
  const { id, key } = await t.account('img-erin', 'email_verified');
  const client = sdk(key);
  const stream = await client.images.edit({ model: 'gpt-image-1', image: await toFile(gradientPng(4, 16), 'a.png', { type: 'image/png' }), prompt: 'Make it blue', n: 2, stream: true, partial_images: 1 });
  const types: string[] = [];
  let output = 0;
  let input = 0;
  for await (const ev of stream) {
    types.push(ev.type);
    if (ev.type === 'image_edit.completed') { output += ev.usage.output_tokens; input = Math.max(input, ev.usage.input_tokens); }
  }
  assert.deepEqual(types, ['image_edit.partial_image', 'image_edit.completed', 'image_edit.partial_image', 'image_edit.completed'], 'per image: its draft, then the image');
  const [event] = await t.events((e) => e.account_id === id, 1, 30_000);
  assert.equal(event.flavour, 'openai.image_edits');
  assert.equal(event.request.stream, true);
  assert.equal(event.response.status, 200);
  assert.equal(event.response.output_tokens, output, 'both images\' tokens are metered');
  assert.equal(event.response.input_tokens, input, 'the prompt and the input image, counted once');
  assert.equal(event.response.finish_reason, 'completed', 'the stream is whole after the second image');
});

test('an upload over server.upload_limit_bytes is refused with 413 in OpenAI\'s format, announced or not, and recorded', async () => {
  const { id, key } = await t.account('stt-dave', 'email_verified');
  const client = sdk(key);
  await assert.rejects(client.audio.transcriptions.create({ file: await toFile(recording(6), 'long.wav'), model: 'whisper-1' }),
    (e: any) => e.status === 413 && e.error.type === 'invalid_request_error' && /server\.upload_limit_bytes/.test(e.error.message), 'announced by its length');
  // Sent in chunks with no length announced: cut off at the limit.
  const boundary = 'xBOUNDARYx';
  const big = recording(6);
  const chunks = [Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="long.wav"\r\nContent-Type: audio/wav\r\n\r\n`), big, Buffer.from(`\r\n--${boundary}--\r\n`)];
  const body = new ReadableStream({ start(c) { for (const b of chunks) c.enqueue(new Uint8Array(b)); c.close(); } });
  const r = await fetch(`${t.url}/v1/audio/transcriptions`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': `multipart/form-data; boundary=${boundary}` }, body, duplex: 'half' } as RequestInit);
  const refused = await r.json() as any;
  assert.equal(r.status, 413, JSON.stringify(refused));
  assert.equal(refused.error.warden_code, 'WARDEN_BODY_TOO_LARGE');
  const events = await t.events((e) => e.account_id === id, 2, 30_000);
  assert.deepEqual(events.map((e) => [e.flavour, e.response.status, e.response.error_code]), [
    ['openai.transcriptions', 413, 'WARDEN_BODY_TOO_LARGE'], ['openai.transcriptions', 413, 'WARDEN_BODY_TOO_LARGE'],
  ], 'both refusals recorded under the account');
  // The connection's next request is served.
  const ok = await client.audio.transcriptions.create({ file: await toFile(recording(1), 'short.wav'), model: 'whisper-1' });
  assert.ok(ok.text);
});

/**
 * Sends `head` and then `body` over a socket of its own, all of it, a piece at a time as the socket
 * takes it, before reading anything (as clients that write their whole request first do), until the
 * server closes its side; resolves with the answer read, and the socket error seen, if any.
 */
async function sendWholeThenRead(head: string, body: Buffer): Promise<{ answer: string; error: string | null; sent: number }> {
  const { port, hostname } = new URL(t.url);
  const socket = connect(Number(port), hostname);
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  let answer = '';
  let error: string | null = null;
  let closed = false;
  socket.on('data', (d) => { answer += d; });
  socket.on('error', (e: NodeJS.ErrnoException) => { error = e.code ?? e.message; });
  const gone = new Promise<void>((resolve) => socket.once('close', () => { closed = true; resolve(); }));
  socket.write(head);
  let sent = 0;
  for (let at = 0; at < body.length && !closed; at += 16 * 1024) {
    const piece = body.subarray(at, at + 16 * 1024);
    if (!socket.write(piece)) await Promise.race([new Promise((r) => socket.once('drain', r)), gone]);
    sent += piece.length;
  }
  await Promise.race([gone, new Promise((r) => setTimeout(r, 20_000))]);
  socket.destroy();
  return { answer, error, sent };
}

test('a client that writes its whole oversized upload before reading still gets the 413, not a reset', async () => {
  const { key } = await t.account('stt-hank', 'email_verified');
  const boundary = 'xWHOLEx';
  const body = Buffer.concat([Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="long.wav"\r\nContent-Type: audio/wav\r\n\r\n`),
    recording(160), Buffer.from(`\r\n--${boundary}--\r\n`)]);
  assert.ok(body.length > 7_000_000, 'more than the kernel\'s socket buffers hold');
  const r = await sendWholeThenRead(`POST /v1/audio/transcriptions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\nContent-Type: multipart/form-data; boundary=${boundary}\r\nContent-Length: ${body.length}\r\n\r\n`, body);
  // The gateway reads on after its answer; the client stops sending once it sees the gateway's side closed.
  assert.equal(r.error, null, `no reset while sending (${r.sent} of ${body.length} bytes sent)`);
  assert.match(r.answer, /^HTTP\/1\.1 413 /, `the 413 is read after sending (got ${JSON.stringify(r.answer.slice(0, 40))})`);
  assert.match(r.answer, /\r\nconnection: close\r\n/i, 'and the connection announced as closing');
});

test('a missing file, a JSON body, a suspended account and a revoked key are refused in OpenAI\'s format', async () => {
  const { id, key } = await t.account('stt-erin', 'email_verified');
  const client = sdk(key);
  const form = new FormData();
  form.append('model', 'whisper-1');
  const noFile = await fetch(`${t.url}/v1/audio/transcriptions`, { method: 'POST', headers: { authorization: `Bearer ${key}` }, body: form });
  const noFileBody = await noFile.json() as any;
  assert.equal(noFile.status, 400);
  assert.equal(noFileBody.error.param, 'file', JSON.stringify(noFileBody));
  assert.equal(noFileBody.error.type, 'invalid_request_error');
  const asJson = await fetch(`${t.url}/v1/audio/transcriptions`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'whisper-1', file: 'memo.wav' }) });
  const asJsonBody = await asJson.json() as any;
  assert.equal(asJson.status, 415, JSON.stringify(asJsonBody));
  assert.match(asJsonBody.error.message, /multipart\/form-data/);
  await assert.rejects(client.audio.transcriptions.create({ file: await toFile(recording(1), 'memo.txt'), model: 'whisper-1' }),
    (e: any) => e.status === 400 && e.error.param === 'file', 'the upstream\'s refusal of a file that is not audio, passed on');
  const recorded = await t.events((e) => e.account_id === id, 3, 30_000);
  assert.deepEqual(recorded.map((e) => e.response.status).sort(), [400, 400, 415], 'each refusal recorded');

  const revocable = await t.admin(`/accounts/${id}/keys`, { name: 'second' });
  await t.admin(`/keys/${revocable.key.id}/revoke`, {});
  await assert.rejects(sdk(revocable.secret).audio.transcriptions.create({ file: await toFile(recording(1), 'memo.wav'), model: 'whisper-1' }),
    (e: any) => e.status === 401 && e.error.warden_code === 'WARDEN_REVOKED_API_KEY');
  await t.admin('/detect/verdicts', { kind: 'account', id, level: 'suspend', note: 'test' });
  await assert.rejects(client.audio.transcriptions.create({ file: await toFile(recording(1), 'memo.wav'), model: 'whisper-1' }),
    (e: any) => e.status === 403 && e.error.warden_code === 'WARDEN_ACCOUNT_SUSPENDED');
  await assert.rejects(client.images.edit({ image: await toFile(gradientPng(3, 16), 'a.png', { type: 'image/png' }), prompt: 'x' }),
    (e: any) => e.status === 403 && e.error.warden_code === 'WARDEN_ACCOUNT_SUSPENDED');
});

test('an upload\'s audio is charged to the token limits: estimated from its size, settled by the seconds Whisper reports', async () => {
  const { key } = await t.account('stt-frank', 'unverified');
  const client = sdk(key);
  // 20 s at 4 kHz: 160 KB, 200 tokens at 10 a second, over the 150 this account may read a minute.
  const long = wav(Buffer.alloc(160_000), 4000);
  const est = { chars_per_token: 4, image_tokens: 1600, low_detail_image_tokens: 85, pdf_page_tokens: 1500, audio_tokens_per_second: 10 };
  const estimated = uploadTokens({ kind: 'audio', files: [{ bytes: long.length, head: long.subarray(0, 64) }] }, est);
  assert.ok(estimated >= 200 && estimated <= 201, `the estimate from the WAV header (its 44 bytes counted in): ${estimated}`);
  assert.equal(uploadTokens({ kind: 'audio', files: [{ bytes: 400_000, head: Buffer.from('ID3') }] }, est), 1000, 'other audio at 32 kbit/s');
  assert.equal(uploadTokens({ kind: 'image', files: [{ bytes: 10, head: Buffer.alloc(0) }, { bytes: 10, head: Buffer.alloc(0) }] }, est), 3200);
  const first = await client.audio.transcriptions.create({ file: await toFile(long, 'long.wav'), model: 'whisper-1' });
  assert.deepEqual(first.usage, { type: 'duration', seconds: 20 });
  await assert.rejects(client.audio.transcriptions.create({ file: await toFile(recording(1), 'short.wav'), model: 'whisper-1' }),
    (e: any) => e.status === 429 && e.error.type === 'rate_limit_error', 'the 20 seconds spent the account\'s input tokens for the minute');
  // A quota already spent is known before the next upload is read: refused before its body.
  assert.match(await answerBeforeUpload(key, 150_000), /^HTTP\/1\.1 429 /, 'refused with 1 KB of 150 KB sent');
});

test('an MP3\'s length is read from its frames: its event and its charge to the token limits carry its real seconds, not its bytes at 32 kbit/s', async () => {
  const { id, key } = await t.account('stt-mona', 'unverified');
  const client = sdk(key);
  // 231 frames of 1,152 samples at 44.1 kHz: 6.034 s in 96 KB (24 s at 32 kbit/s: 240 tokens, over the 150 a minute).
  const audio = mp3(6);
  const seconds = (231 * 1152) / 44_100;
  // Translations report no length: what is recorded and charged is the gateway's own figure.
  const first = await client.audio.translations.create({ file: await toFile(audio, 'memo.mp3'), model: 'whisper-1' });
  assert.ok(first.text, 'translated');
  const second = await client.audio.translations.create({ file: await toFile(audio, 'memo2.mp3'), model: 'whisper-1' });
  assert.ok(second.text, 'two 6-second recordings (61 tokens each) fit the account\'s 150 input tokens a minute');
  const events = await t.events((e) => e.account_id === id, 2);
  assert.equal(events.length, 2);
  for (const e of events) {
    assert.equal(e.response.status, 200);
    const s = e.request.uploads?.audio_seconds;
    assert.ok(typeof s === 'number' && Math.abs(s - seconds) < 0.002, `the recording's seconds recorded: ${s}`);
  }
  await assert.rejects(client.audio.translations.create({ file: await toFile(mp3(4), 'memo3.mp3'), model: 'whisper-1' }),
    (e: any) => e.status === 429, 'a third (41 tokens) is over the 150');
});

/**
 * Sends an upload's headers (announcing `length` bytes) and its first kilobyte only; resolves with
 * what the gateway answered while the rest was still owed ('' when it waited for the body).
 */
async function answerBeforeUpload(key: string, length: number, expectContinue = false): Promise<string> {
  const boundary = 'xEARLYx';
  const { port, hostname } = new URL(t.url);
  const socket = connect(Number(port), hostname);
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  let answer = '';
  socket.on('data', (d) => { answer += d; });
  socket.on('error', () => {});
  socket.write(`POST /v1/audio/transcriptions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\nContent-Type: multipart/form-data; boundary=${boundary}\r\n`
    + `${expectContinue ? 'Expect: 100-continue\r\n' : ''}Content-Length: ${length}\r\n\r\n`);
  if (!expectContinue) socket.write(Buffer.concat([Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\nContent-Type: audio/wav\r\n\r\n`), Buffer.alloc(1024)]));
  // The answer whole (its JSON body ends with '}'), or 5 s of waiting for one that never comes.
  for (let i = 0; i < 250 && !/\r\n\r\n[^]*\}\s*$/.test(answer); i++) await new Promise((r) => setTimeout(r, 20));
  socket.destroy();
  return answer;
}

test('an account over its request rate is refused 429 before its upload is read, with the rate-limit headers', async () => {
  const { id, key } = await t.account('stt-ivy', 'email_verified');
  await t.admin('/limits/overrides', { scope: 'account', subject: id, limits: { rpm: 1, burst: 1 } });
  const client = sdk(key);
  const served = await client.audio.transcriptions.create({ file: await toFile(recording(1), 'a.wav'), model: 'whisper-1' });
  assert.ok(served.text, 'the first upload of the minute is served');

  const answer = await answerBeforeUpload(key, 150_000);
  assert.match(answer, /^HTTP\/1\.1 429 /, `answered with 1 KB of 150 KB sent (got ${JSON.stringify(answer.slice(0, 60))})`);
  assert.match(answer, /\r\nretry-after: \d+\r\n/i, 'when to retry');
  assert.match(answer, /\r\nx-ratelimit-limit-requests: 1\r\n/i, 'OpenAI\'s rate-limit headers');
  assert.match(answer, /\r\nx-ratelimit-remaining-requests: 0\r\n/i);
  const body = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4).replace(/^[0-9a-f]+\r\n/, '').replace(/\r\n0\r\n\r\n$/, ''));
  assert.equal(body.error.type, 'rate_limit_error');
  assert.match(body.error.message, /1 requests per minute for this account/);

  // Asked with `Expect: 100-continue`, the upload is not even asked for.
  const continued = await answerBeforeUpload(key, 150_000, true);
  assert.match(continued, /^HTTP\/1\.1 429 /, `a 429 and no 100 Continue (got ${JSON.stringify(continued.slice(0, 60))})`);

  // The SDK gets it as a RateLimitError, and each refusal is recorded with the limit that made it.
  await assert.rejects(client.audio.transcriptions.create({ file: await toFile(recording(1), 'b.wav'), model: 'whisper-1' }),
    (e: any) => e.status === 429 && e.error.warden_code === 'WARDEN_RATE_LIMITED');
  const events = await t.events((e) => e.account_id === id, 4, 30_000);
  const refused = events.filter((e) => e.response.status === 429);
  assert.equal(refused.length, 3, 'the three refusals recorded');
  for (const e of refused) {
    assert.equal(e.flavour, 'openai.transcriptions');
    assert.equal(e.enforcement.limit?.allowed, false, JSON.stringify(e.enforcement));
    assert.equal(e.enforcement.limit?.scope, 'account');
  }
  assert.equal(mock.received.filter((r) => r.path === '/v1/audio/transcriptions' && (r.body as any)?.file?.filename === 'b.wav').length, 0, 'nothing went upstream');
});

test('a client that leaves mid-upload is recorded as gone, and nothing of its upload is left on disk', async () => {
  const { id, key } = await t.account('stt-gina', 'email_verified');
  const spool = join(tmpdir(), `warden-uploads-${process.pid}`);
  const boundary = 'xLEAVERx';
  const head = `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\nContent-Type: audio/wav\r\n\r\n`;
  const { port, hostname } = new URL(t.url);
  const socket = connect(Number(port), hostname);
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  socket.write(`POST /v1/audio/transcriptions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\nContent-Type: multipart/form-data; boundary=${boundary}\r\nContent-Length: 190000\r\n\r\n${head}`);
  socket.write(Buffer.alloc(150_000, 7));
  await new Promise((r) => setTimeout(r, 300));
  socket.destroy();
  const [event] = await t.events((e) => e.account_id === id, 1, 30_000);
  assert.equal(event?.response.status, 499, JSON.stringify(event?.response));
  assert.equal(event.response.error_code, 'WARDEN_CLIENT_DISCONNECTED');
  const left = () => (existsSync(spool) ? readdirSync(spool) : []);
  for (let i = 0; i < 50 && left().length > 0; i++) await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(left(), [], 'nothing of the upload waits on disk');
});

test('the folder of spooled uploads is removed when Warden stops, and those of stopped processes when it starts', async () => {
  const spool = join(tmpdir(), `warden-uploads-${process.pid}`);
  // A process that is gone, and one that runs (this one's parent), each with a folder left.
  const gone = spawnSync(process.execPath, ['-e', '0']).pid!;
  const goneDir = join(tmpdir(), `warden-uploads-${gone}`);
  const runningDir = join(tmpdir(), `warden-uploads-${process.ppid}`);
  for (const d of [goneDir, runningDir]) { mkdirSync(d, { recursive: true }); writeFileSync(join(d, 'left'), 'x'); }
  const upstream = await createMockUpstream();
  const w = await startTestWarden({ server: { port: 0 }, upstreams: [{ name: 'mock', base_url: upstream.url, models: ['*'] }] });
  try {
    assert.ok(!existsSync(goneDir), 'the stopped process\'s folder is removed at start');
    assert.ok(existsSync(runningDir), 'a running process\'s folder is left alone');
    const { key } = await w.account('stt-liam', 'email_verified');
    // Past 256 KiB an upload waits in a file in the folder.
    const client = new OpenAI({ apiKey: key, baseURL: `${w.url}/v1`, maxRetries: 0 });
    assert.ok((await client.audio.transcriptions.create({ file: await toFile(recording(8), 'long.wav'), model: 'whisper-1' })).text);
    assert.ok(existsSync(spool), 'the folder was made for the upload');
  } finally {
    await w.close();
    await upstream.close();
    rmSync(runningDir, { recursive: true, force: true });
  }
  assert.ok(!existsSync(spool), 'and removed when Warden stopped');
});
