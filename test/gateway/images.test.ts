// POST /v1/images/generations through Warden with the official OpenAI SDK: real PNGs come back,
// the call is authenticated and recorded as an `openai.images` interaction with its usage, bad
// input is refused in OpenAI's error format, and a suspended account is refused.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startTestWarden, type TestWarden } from '../helpers/warden.ts';

let t: TestWarden;
before(async () => { t = await startTestWarden(); });
after(async () => { await t.close(); });

const sdk = (key: string) => new OpenAI({ apiKey: key, baseURL: `${t.url}/v1`, maxRetries: 0 });
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

test('generated images are real PNGs, and the call is recorded with its usage', async () => {
  const { id, key } = await t.account('img-alice', 'email_verified');
  const client = sdk(key);
  const made = await client.images.generate({ model: 'gpt-image-1', prompt: 'A lighthouse at dusk', n: 2 });
  assert.equal(made.data?.length, 2);
  for (const image of made.data ?? []) {
    const png = Buffer.from(image.b64_json!, 'base64');
    assert.ok(png.subarray(0, 8).equals(PNG_SIGNATURE), 'a PNG');
    assert.equal(png.readUInt32BE(16), 16, 'its header names its width');
  }
  assert.ok(made.usage && made.usage.output_tokens > 0, 'the GPT image models report usage');

  const dalle = await client.images.generate({ model: 'dall-e-3', prompt: 'A lighthouse at dawn' });
  assert.match(dalle.data![0].url!, /^data:image\/png;base64,/, 'DALL-E answers with a URL by default');

  const events = await t.events((e) => e.account_id === id, 2, 30_000);
  assert.equal(events.length, 2);
  const gpt = events.find((e) => e.model === 'gpt-image-1')!;
  assert.equal(gpt.flavour, 'openai.images');
  assert.equal(gpt.response.status, 200);
  assert.equal(gpt.response.usage_source, 'upstream');
  assert.equal(gpt.response.output_tokens, made.usage!.output_tokens, 'the images\' tokens are metered');
  assert.equal(gpt.request.messages[0]?.text, 'A lighthouse at dusk', 'the prompt is the event\'s message');
});

test('bad input is refused in OpenAI\'s format; a suspended account is refused', async () => {
  const { id, key } = await t.account('img-bob', 'email_verified');
  const client = sdk(key);
  await assert.rejects(client.images.generate({ model: 'gpt-image-1' } as any), (e: any) => e.status === 400 && e.error.param === 'prompt' && e.error.type === 'invalid_request_error');
  await assert.rejects(client.images.generate({ model: 'gpt-image-1', prompt: 'x', n: 'two' } as any), (e: any) => e.status === 400 && e.error.param === 'n');
  await t.admin('/detect/verdicts', { kind: 'account', id, level: 'suspend', note: 'test' });
  await assert.rejects(client.images.generate({ model: 'gpt-image-1', prompt: 'A boat' }), (e: any) => e.status === 403 && e.error.warden_code === 'WARDEN_ACCOUNT_SUSPENDED');
});

test('a streamed generation relays its drafts and images event by event, metered from the finished images', async () => {
  const { id, key } = await t.account('img-stream', 'email_verified');
  const stream = await sdk(key).images.generate({ model: 'gpt-image-1', prompt: 'A harbour in fog', n: 2, stream: true, partial_images: 2 });
  const seen: string[] = [];
  const drafts: number[] = [];
  let usage = 0;
  for await (const ev of stream) {
    seen.push(ev.type);
    const png = Buffer.from(ev.b64_json, 'base64');
    assert.ok(png.subarray(0, 8).equals(PNG_SIGNATURE), `${ev.type} carries a PNG`);
    if (ev.type === 'image_generation.partial_image') drafts.push(ev.partial_image_index);
    else usage += ev.usage.output_tokens;
  }
  assert.deepEqual(seen, ['image_generation.partial_image', 'image_generation.partial_image', 'image_generation.completed', 'image_generation.partial_image', 'image_generation.partial_image', 'image_generation.completed'], 'two drafts, then each image');
  assert.deepEqual(drafts, [0, 1, 0, 1]);
  const [event] = await t.events((e) => e.account_id === id && e.flavour === 'openai.images', 1, 30_000);
  assert.ok(event, 'recorded');
  assert.equal(event.request.stream, true);
  assert.equal(event.response.status, 200);
  assert.equal(event.response.usage_source, 'upstream');
  assert.equal(event.response.output_tokens, usage, 'the finished images\' output, summed');
  assert.ok(event.response.input_tokens > 0, 'the prompt, once');
  assert.equal(event.response.error_code, null, 'whole: the stream closed after the last image');
});
