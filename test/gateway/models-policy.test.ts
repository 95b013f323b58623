// `GET /v1/models` lists only what the caller may call: the policy's decision for a call to each
// model from this key and address. A model the caller may not use is neither listed nor found by id
// (404, as for a model that does not exist); rules are first-match, so one that allows a model by
// name shows it even when a later rule refuses the tier; and a caller that may call nothing is
// refused the listing with the body a model call gets.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { startTestWarden, type TestWarden } from '../helpers/warden.ts';

let t: TestWarden;
let dir: string;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'warden-models-policy-'));
  const policyFile = join(dir, 'policy.yaml');
  writeFileSync(policyFile, [
    'version: 1',
    'tiers:',
    '  email_verified: { deny_models: ["gpt-4.1", "claude-opus-*"] }',
    'rules:',
    '  - { id: no-previews, when: { model: "gpt-*-*-preview" }, action: deny }',
    '  - { id: no-mini-for-unverified, when: { tier: unverified, model: "gpt-4.1-mini" }, action: deny }',
    '  - { id: enterprise-mini, when: { tier: enterprise, model: "gpt-4.1-mini" }, action: allow }',
    '  - { id: no-enterprise-here, when: { tier: enterprise }, action: deny }',
    '  - { id: startups-elsewhere, when: { programme: startup }, action: deny, message: "Not for you." }',
    '',
  ].join('\n'));
  t = await startTestWarden({ policy: { file: policyFile, watch: false, geo: { enabled: false } } });
});
after(async () => { await t.close(); rmSync(dir, { recursive: true, force: true }); });

const openai = (key: string) => new OpenAI({ apiKey: key, baseURL: `${t.url}/v1`, maxRetries: 0 });
const anthropic = (key: string) => new Anthropic({ apiKey: key, baseURL: t.url, maxRetries: 0 });
const chat = (key: string, model: string) => fetch(`${t.url}/v1/chat/completions`, {
  method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
  body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 }),
});
async function claudeIds(key: string): Promise<string[]> {
  const ids: string[] = [];
  for await (const m of anthropic(key).models.list()) ids.push(m.id);
  return ids;
}

test('a model the caller\'s tier may not use is not listed, and its card is 404', async () => {
  const limited = await t.account('lena-limited', 'email_verified');
  const full = await t.account('ida-identity', 'identity_verified');
  const everything = (await openai(full.key).models.list()).data.map((m) => m.id);
  assert.ok(everything.includes('gpt-4.1') && everything.includes('gpt-4.1-mini'), `the identity-verified account sees all: ${everything}`);

  const seen = (await openai(limited.key).models.list()).data.map((m) => m.id);
  assert.ok(!seen.includes('gpt-4.1'), `a denied model is not listed: ${seen}`);
  assert.ok(seen.includes('gpt-4.1-mini'), `an allowed model is: ${seen}`);
  assert.equal(seen.length, everything.filter((id) => id !== 'gpt-4.1' && !id.startsWith('claude-opus-')).length, 'only the denied models are left out');
  await assert.rejects(openai(limited.key).models.retrieve('gpt-4.1'), (e: any) => e.status === 404);
  assert.equal((await openai(limited.key).models.retrieve('gpt-4.1-mini')).id, 'gpt-4.1-mini');
  // The Anthropic listing too.
  const claude = await claudeIds(limited.key);
  assert.ok(claude.length > 0 && claude.every((id) => !id.startsWith('claude-opus-')), `no opus model for this tier: ${claude}`);
  assert.ok((await claudeIds(full.key)).some((id) => id.startsWith('claude-opus-')), 'the mock lists an opus model, so the test can fail');
});

test('a rule that refuses a model hides it, and one before it that allows a model by name shows that one', async () => {
  const fresh = await t.account('uma-unverified', 'unverified');
  const seen = (await openai(fresh.key).models.list()).data.map((m) => m.id);
  assert.ok(!seen.includes('gpt-4.1-mini') && seen.includes('gpt-4.1'), `the rule hides gpt-4.1-mini only: ${seen}`);

  const narrow = await t.account('ed-enterprise', 'enterprise');
  assert.equal((await chat(narrow.key, 'gpt-4.1-mini')).status, 200, 'the tier may call the model allowed by name');
  assert.equal((await chat(narrow.key, 'gpt-4.1')).status, 403, 'and no other');
  assert.deepEqual((await openai(narrow.key).models.list()).data.map((m) => m.id), ['gpt-4.1-mini']);
  assert.equal((await openai(narrow.key).models.retrieve('gpt-4.1-mini')).id, 'gpt-4.1-mini');
  await assert.rejects(openai(narrow.key).models.retrieve('gpt-4.1'), (e: any) => e.status === 404);
});

test('a caller that may call nothing is refused the listing with the body a model call gets', async () => {
  const none = await t.account('nora-none', 'email_verified');
  await t.admin(`/accounts/${none.id}`, { programme: 'startup' }, 'PATCH');
  const listing = await fetch(`${t.url}/v1/models`, { headers: { authorization: `Bearer ${none.key}` } });
  const called = await chat(none.key, 'gpt-4.1-mini');
  assert.equal(listing.status, 403);
  assert.equal(called.status, 403);
  const [refusedListing, refusedCall] = [await listing.json() as any, await called.json() as any];
  assert.equal(refusedListing.error.code, refusedCall.error.code);
  assert.equal(refusedListing.error.message, 'Not for you.');
});

test('a model name longer than 256 characters is refused at once (400), before policy matches it against patterns', async () => {
  const caller = await t.account('lou-long', 'identity_verified');
  const long = `gpt-${'-'.repeat(30_000)}x`;
  const started = Date.now();
  const res = await chat(caller.key, long);
  const elapsed = Date.now() - started;
  const body = await res.json() as { error: { param?: string; message: string } };
  assert.equal(res.status, 400, `refused as invalid: ${JSON.stringify(body).slice(0, 300)}`);
  assert.equal(body.error.param, 'model', 'the error names the model parameter');
  // Matching 30,000 characters against the policy's patterns would take seconds; refused before that, it is a request's time.
  assert.ok(elapsed < 5_000, `answered in ${elapsed} ms`);
  // At the bound, the policy still decides: the glob matches across any run of characters.
  const preview = `gpt-${'a'.repeat(240)}-x-preview`;
  assert.ok(preview.length <= 256);
  assert.equal((await chat(caller.key, preview)).status, 403, 'a long name the rule names is refused by the rule');
});
