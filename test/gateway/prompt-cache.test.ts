// An application that uses prompt caching: Warden records the cache's share of the input and
// prices it as the provider bills it, so a budget set to mirror the provider's bill lasts as long.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import { startTestWarden, type TestWarden } from '../helpers/warden.ts';

let t: TestWarden;
let key: string;
const SYSTEM = Array.from({ length: 200 }, (_, i) => `Rule ${i}: answer politely and cite the handbook section ${i}.`).join('\n');

before(async () => {
  t = await startTestWarden({
    limits: {
      // the budget is the account's only meter, so every event names what it had left
      tiers: { email_verified: { account: { rpm: null, burst: null, tpm: null, tpd: null, concurrency: null, daily_budget_usd: 50 } } },
      network: { ip: { rpm: null, burst: null, concurrency: null }, subnet: { rpm: null, burst: null, concurrency: null } },
      prices: [{ model: 'claude-*', input_per_mtok: 3, output_per_mtok: 15 }, { model: 'gpt-4o-mini', input_per_mtok: 0.15, output_per_mtok: 0.6, cache_read_per_mtok: 0.075 }],
    },
  });
  key = (await t.account('cachey', 'email_verified')).key;
});
after(async () => { await t.close(); });

/** The budget left as the request's own decision saw it (after the earlier requests settled), micro-USD. */
function remaining(e: { enforcement: { limit: { limit: string } | null } }): number {
  const m = /remaining=\$([0-9.]+)/.exec(e.enforcement.limit?.limit ?? '');
  assert.ok(m, `budget meter on the event: ${JSON.stringify(e.enforcement.limit)}`);
  return Math.round(Number(m[1]) * 1e6);
}

async function anthropic(question: string) {
  const r = await fetch(`${t.url}/v1/messages`, {
    method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': key, 'anthropic-version': '2023-06-01' },
    body: JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 50, system: [{ type: 'text', text: SYSTEM, cache_control: { type: 'ephemeral' } }], messages: [{ role: 'user', content: question }] }),
  });
  const body = await r.json() as any;
  assert.equal(r.status, 200, JSON.stringify(body));
  return body;
}

test('Anthropic cache writes and reads are recorded and priced at 1.25x and 0.1x of input', async () => {
  const first = await anthropic('What is rule 3?');
  assert.ok(first.usage.cache_creation_input_tokens >= 1024, `the mock wrote the cache: ${JSON.stringify(first.usage)}`);
  const [e1] = await t.events((e) => e.flavour === 'anthropic.messages', 1);
  const second = await anthropic('What is rule 3?');
  assert.equal(second.usage.cache_read_input_tokens, first.usage.cache_creation_input_tokens, 'the same prefix is read back');
  const [, e2] = await t.events((e) => e.flavour === 'anthropic.messages', 2);
  const cached = second.usage.cache_read_input_tokens as number;
  assert.equal(e1.response.cache_write_tokens, cached, 'the write is on the first event');
  assert.equal(e2.response.cached_input_tokens, cached, 'the read is on the second event');
  assert.equal(e2.response.input_tokens, second.usage.input_tokens + cached, 'input_tokens still counts every token seen');
  await anthropic('What is rule 3?');
  const [, , e3] = await t.events((e) => e.flavour === 'anthropic.messages', 3);
  // What each settled request cost is the drop in the budget seen by the next one (same reservation each time).
  const cost1 = remaining(e1) - remaining(e2);
  const cost2 = remaining(e2) - remaining(e3);
  const plain = (e: typeof e1) => e.response.input_tokens - (e.response.cached_input_tokens ?? 0) - (e.response.cache_write_tokens ?? 0);
  assert.equal(cost1, Math.ceil(plain(e1) * 3 + cached * 3 * 1.25 + e1.response.output_tokens * 15), 'a cache write at 1.25x input');
  assert.equal(cost2, Math.ceil(plain(e2) * 3 + cached * 3 * 0.1 + e2.response.output_tokens * 15), 'a cache read at 0.1x input');
  assert.ok(cost2 * 3 < cost1, `a cached turn costs far less than the first (${cost2} vs ${cost1} micro-USD)`);
});

test('OpenAI automatic caching: a repeated long prompt reports cached tokens, priced at the price\'s cache_read_per_mtok', async () => {
  const ask = async () => {
    const r = await fetch(`${t.url}/v1/chat/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 20, messages: [{ role: 'system', content: SYSTEM }, { role: 'user', content: 'Rule 7?' }] }),
    });
    const body = await r.json() as any;
    assert.equal(r.status, 200, JSON.stringify(body));
    return body;
  };
  const a = await ask();
  assert.equal(a.usage.prompt_tokens_details.cached_tokens, 0, 'first sight: nothing cached');
  await t.events((e) => e.flavour === 'openai.chat', 1);
  const b = await ask();
  const cached = b.usage.prompt_tokens_details.cached_tokens as number;
  assert.ok(cached >= 1024 && cached % 128 === 0 && cached <= b.usage.prompt_tokens, `cached in steps of 128: ${cached} of ${b.usage.prompt_tokens}`);
  const [e1, e2] = await t.events((e) => e.flavour === 'openai.chat', 2);
  assert.equal(e1.response.cached_input_tokens, undefined, 'absent when nothing was cached');
  assert.equal(e2.response.cached_input_tokens, cached);
  await ask();
  const [, , e3] = await t.events((e) => e.flavour === 'openai.chat', 3);
  const cost2 = remaining(e2) - remaining(e3);
  assert.equal(cost2, Math.ceil((e2.response.input_tokens - cached) * 0.15 + cached * 0.075 + e2.response.output_tokens * 0.6));
});

test('/metrics counts the prompt cache\'s reads and writes as the events do, per API', async () => {
  const events = await t.events((e) => e.flavour === 'anthropic.messages' || e.flavour === 'openai.chat', 5);
  const sum = (flavour: string, field: 'cached_input_tokens' | 'cache_write_tokens') =>
    events.filter((e) => e.flavour === flavour).reduce((s, e) => s + (e.response[field] ?? 0), 0);
  const text = await (await fetch(`${t.url}/metrics`)).text();
  const metric = (flavour: string, kind: string) => Number(new RegExp(`^warden_tokens_total\\{flavour="${flavour.replace('.', '\\.')}",kind="${kind}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
  assert.ok(sum('anthropic.messages', 'cached_input_tokens') > 0 && sum('anthropic.messages', 'cache_write_tokens') > 0 && sum('openai.chat', 'cached_input_tokens') > 0, 'the earlier tests read and wrote the caches');
  assert.equal(metric('anthropic.messages', 'cache_read'), sum('anthropic.messages', 'cached_input_tokens'), 'Anthropic cache reads');
  assert.equal(metric('anthropic.messages', 'cache_write'), sum('anthropic.messages', 'cache_write_tokens'), 'Anthropic cache writes');
  assert.equal(metric('openai.chat', 'cache_read'), sum('openai.chat', 'cached_input_tokens'), 'OpenAI cached input');
});

test('Anthropic automatic caching (a top-level cache_control, through the SDK): the write by TTL, then the read, recorded on the events', async () => {
  const client = new Anthropic({ apiKey: key, baseURL: t.url, maxRetries: 0 });
  const ask = () => client.messages.create({
    model: 'claude-sonnet-4-5', max_tokens: 30, cache_control: { type: 'ephemeral', ttl: '1h' },
    system: `${SYSTEM}\nAnswer in one sentence.`, messages: [{ role: 'user', content: 'What is rule 12?' }],
  });
  const first = await ask();
  const written = first.usage.cache_creation_input_tokens ?? 0;
  assert.ok(written >= 1024, `the whole prompt is written to the cache: ${JSON.stringify(first.usage)}`);
  assert.equal(first.usage.cache_creation?.ephemeral_1h_input_tokens, written, 'at the request\'s TTL');
  const second = await ask();
  assert.equal(second.usage.cache_read_input_tokens, written, `read back on the next request: ${JSON.stringify(second.usage)}`);
  const [e1] = await t.events((e) => e.response.answer_id === first.id);
  const [e2] = await t.events((e) => e.response.answer_id === second.id);
  assert.equal(e1.response.cache_write_tokens, written, 'the write is metered');
  assert.equal(e2.response.cached_input_tokens, written, 'the read is metered');
  assert.equal(e2.response.input_tokens, second.usage.input_tokens + written, 'input_tokens still counts every token seen');
});
