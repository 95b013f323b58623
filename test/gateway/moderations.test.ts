// POST /v1/moderations through Warden with the official OpenAI SDK: answered in the API's shape for
// text and image inputs, authenticated, limited and recorded as an interaction like any model call,
// bad input refused in OpenAI's error format, and a suspended account refused.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startTestWarden, type TestWarden } from '../helpers/warden.ts';
import { InteractionEvent } from '../../src/events/schema.ts';
import { DetectorEngine } from '../../src/detect/index.ts';
/** A valid 1x1 PNG. */
const PNG_1X1_DATA_URL = 'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';

let t: TestWarden;
before(async () => { t = await startTestWarden({ limits: { tiers: { email_verified: { key: { rpm: 2, burst: 2 } } } } }); });
after(async () => { await t.close(); });

const sdk = (key: string) => new OpenAI({ apiKey: key, baseURL: `${t.url}/v1`, maxRetries: 0 });

test('text and image inputs are judged in the API shape, and each call is recorded as a moderation interaction', async () => {
  const { id, key } = await t.account('mod-alice', 'email_verified');
  const client = sdk(key);
  const texts = await client.moderations.create({ input: ['I will kill them all.', 'What a nice day.'] });
  assert.match(texts.id, /^modr-/);
  assert.equal(texts.results.length, 2, 'one result per string');
  assert.deepEqual(texts.results.map((r) => r.flagged), [true, false]);
  assert.equal(texts.results[0].categories.violence, true);
  assert.ok(texts.results[0].category_scores.violence > 0.5);
  assert.deepEqual(texts.results[1].category_applied_input_types.violence, ['text']);

  const mixed = await client.moderations.create({ model: 'omni-moderation-latest', input: [{ type: 'text', text: 'A picture.' }, { type: 'image_url', image_url: { url: PNG_1X1_DATA_URL } }] });
  assert.equal(mixed.results.length, 1, 'text and image parts are judged together');
  assert.deepEqual(mixed.results[0].category_applied_input_types.violence, ['text', 'image']);
  assert.deepEqual(mixed.results[0].category_applied_input_types.hate, ['text'], 'hate is judged on text only');

  const events = await t.events((e) => e.account_id === id, 2, 30_000);
  assert.equal(events.length, 2);
  for (const e of events) {
    assert.equal(e.flavour, 'openai.moderations');
    assert.equal(e.model, 'omni-moderation-latest', 'the default model is recorded when none is named');
    assert.equal(e.response.status, 200);
    assert.ok(e.response.input_tokens > 0, 'the input is counted');
    assert.equal(e.response.output_tokens, 0);
  }
  const first = events.find((e) => e.request.messages.length === 2)!;
  assert.ok(first, 'each string is a message of the event');
  assert.equal(first.response.finish_reason, 'flagged');

  // The detector reads a moderation as any other call: its events are valid and ingested.
  const engine = new DetectorEngine();
  for (const e of events) engine.ingest(InteractionEvent.parse(e));
  engine.flush();
  assert.ok(engine.accountIds().includes(id), 'the account is known to the detector');
});

test('bad input is refused in OpenAI\'s format, the key\'s request limit applies, and no key is refused', async () => {
  const { key } = await t.account('mod-bob', 'email_verified');
  const client = sdk(key);
  await assert.rejects(client.moderations.create({} as any), (e: any) => e.status === 400 && e.error.param === 'input' && e.error.type === 'invalid_request_error');
  await assert.rejects(client.moderations.create({ input: 'x', model: 'gpt-4o-mini' }), (e: any) => e.status === 400 && e.error.param === 'model', 'not a moderation model: the upstream\'s refusal passed on');
  await client.moderations.create({ input: 'fine' });
  await assert.rejects(client.moderations.create({ input: 'one too many' }), (e: any) => e.status === 429 && e.error.type === 'rate_limit_error' && /WARDEN_RATE_LIMITED/.test(e.error.warden_code), 'limited like any call');
  const noKey = await fetch(`${t.url}/v1/moderations`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ input: 'x' }) });
  assert.equal(noKey.status, 401);
});

test('a suspended account is refused a moderation', async () => {
  const { id, key } = await t.account('mod-carol', 'email_verified');
  await t.admin('/detect/verdicts', { kind: 'account', id, level: 'suspend', note: 'test' });
  await assert.rejects(sdk(key).moderations.create({ input: 'hello' }), (e: any) => e.status === 403 && e.error.warden_code === 'WARDEN_ACCOUNT_SUSPENDED');
});
