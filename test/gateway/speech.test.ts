// POST /v1/audio/speech through Warden with the official OpenAI SDK: the upstream's audio bytes
// come back as sent (a real WAV here), the call is authenticated and recorded as an
// `openai.speech` interaction, bad input is refused in OpenAI's format, and a suspended account
// is refused.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startTestWarden, type TestWarden } from '../helpers/warden.ts';

let t: TestWarden;
before(async () => { t = await startTestWarden(); });
after(async () => { await t.close(); });

const sdk = (key: string) => new OpenAI({ apiKey: key, baseURL: `${t.url}/v1`, maxRetries: 0 });

test('speech comes back as the audio the upstream made, and the call is recorded', async () => {
  const { id, key } = await t.account('tts-alice', 'email_verified');
  const client = sdk(key);
  const input = 'The quick brown fox jumps over the lazy dog.';
  const res = await client.audio.speech.create({ model: 'gpt-4o-mini-tts', voice: 'alloy', input, response_format: 'wav' });
  assert.equal(res.headers.get('content-type'), 'audio/wav');
  const audio = Buffer.from(await res.arrayBuffer());
  assert.equal(audio.toString('latin1', 0, 4), 'RIFF');
  assert.equal(audio.toString('latin1', 8, 12), 'WAVE');
  assert.equal(audio.readUInt32LE(40), audio.length - 44, 'a whole WAV: its data chunk is all there');

  const mp3 = Buffer.from(await (await client.audio.speech.create({ model: 'gpt-4o-mini-tts', voice: 'alloy', input })).arrayBuffer());
  assert.deepEqual([...mp3.subarray(0, 2)], [0xff, 0xfb], 'MP3 by default');

  const [event] = await t.events((e) => e.account_id === id && e.flavour === 'openai.speech', 2, 30_000);
  assert.ok(event, 'recorded');
  assert.equal(event.model, 'gpt-4o-mini-tts');
  assert.equal(event.response.status, 200);
  assert.equal(event.request.messages[0]?.text, input, 'the text read is the event\'s message');
  assert.ok(event.response.input_tokens > 0, 'the input is counted');
});

test('bad input is refused in OpenAI\'s format; a suspended account is refused', async () => {
  const { id, key } = await t.account('tts-bob', 'email_verified');
  const client = sdk(key);
  await assert.rejects(client.audio.speech.create({ model: 'gpt-4o-mini-tts', voice: 'alloy' } as any), (e: any) => e.status === 400 && e.error.param === 'input' && e.error.type === 'invalid_request_error');
  await assert.rejects(client.audio.speech.create({ model: 'gpt-4o-mini-tts', voice: 'nobody', input: 'x' } as any), (e: any) => e.status === 400 && e.error.param === 'voice', "the upstream's refusal passed on");
  await t.admin('/detect/verdicts', { kind: 'account', id, level: 'suspend', note: 'test' });
  await assert.rejects(client.audio.speech.create({ model: 'gpt-4o-mini-tts', voice: 'alloy', input: 'Hello' }), (e: any) => e.status === 403 && e.error.warden_code === 'WARDEN_ACCOUNT_SUSPENDED');
});

test('speech streamed as events (stream_format: "sse") is relayed piece by piece and metered from its closing event', async () => {
  const { id, key } = await t.account('tts-stream', 'email_verified');
  const res = await sdk(key).audio.speech.create({ model: 'gpt-4o-mini-tts', voice: 'alloy', input: 'A long sentence read aloud, piece by piece, as it is made.', response_format: 'pcm', stream_format: 'sse' });
  assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
  const events = (await res.text()).split('\n\n').filter((e) => e.startsWith('data: {')).map((e) => JSON.parse(e.slice(6)));
  const deltas = events.filter((e) => e.type === 'speech.audio.delta');
  assert.ok(deltas.length >= 2, `audio pieces: ${deltas.length}`);
  const audio = Buffer.concat(deltas.map((e) => Buffer.from(e.audio, 'base64')));
  assert.ok(audio.length > 24_000, `PCM audio: ${audio.length} bytes`);
  const done = events.at(-1);
  assert.equal(done.type, 'speech.audio.done');
  const [event] = await t.events((e) => e.account_id === id && e.flavour === 'openai.speech', 1, 30_000);
  assert.ok(event, 'recorded');
  assert.equal(event.request.stream, true, 'recorded as streamed');
  assert.equal(event.response.usage_source, 'upstream');
  assert.equal(event.response.input_tokens, done.usage.input_tokens);
  assert.equal(event.response.output_tokens, done.usage.output_tokens, 'the closing event\'s usage');
  assert.equal(event.response.error_code, null);

});
