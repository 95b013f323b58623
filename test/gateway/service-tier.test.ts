// The service tier an answer was served on (OpenAI `flex` / `priority` / `default`, Anthropic
// `standard`), as the upstream answered it, is on the interaction's event: streamed or not, so that
// usage read from the events tells the tiers apart.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, storedEvents, GOOD_KEY, type Harness } from '../helpers/gateway.ts';

let h: Harness;
before(async () => { h = await startHarness({}); });
after(() => h.close());

const openai = { 'content-type': 'application/json', authorization: `Bearer ${GOOD_KEY}` };
const anthropic = { 'content-type': 'application/json', 'x-api-key': GOOD_KEY, 'anthropic-version': '2023-06-01' };

test('each event records the tier the upstream served the answer on', async () => {
  const calls: [string, Record<string, string>, object, string][] = [
    ['/v1/chat/completions', openai, { model: 'gpt-4o-mini', service_tier: 'flex', messages: [{ role: 'user', content: 'Tier one, please.' }] }, 'flex'],
    ['/v1/chat/completions', openai, { model: 'gpt-4o-mini', service_tier: 'priority', stream: true, messages: [{ role: 'user', content: 'Tier two, please.' }] }, 'priority'],
    ['/v1/chat/completions', openai, { model: 'gpt-4o-mini', service_tier: 'auto', messages: [{ role: 'user', content: 'Tier three, please.' }] }, 'default'],
    ['/v1/responses', openai, { model: 'gpt-4o-mini', service_tier: 'flex', stream: true, input: 'Tier four, please.' }, 'flex'],
    ['/v1/messages', anthropic, { model: 'claude-sonnet-4-5', max_tokens: 50, stream: true, messages: [{ role: 'user', content: 'Tier five, please.' }] }, 'standard'],
  ];
  for (const [path, headers, body] of calls) {
    const r = await fetch(`${h.url}${path}`, { method: 'POST', headers, body: JSON.stringify(body) });
    assert.equal(r.status, 200, await r.clone().text());
    await r.text();
  }
  const events = await storedEvents(h, calls.length, 10_000);
  const byPrompt = (text: string) => events.find((e) => JSON.stringify(e.request).includes(text));
  for (const [i, name] of ['one', 'two', 'three', 'four', 'five'].entries()) {
    const e = byPrompt(`Tier ${name}, please.`);
    assert.ok(e, `the event of call ${name}`);
    assert.equal(e.response.service_tier, calls[i][3], `call ${name}: the tier served`);
  }
});
