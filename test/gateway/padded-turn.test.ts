// A harvester hides its prompt from the detector by sending it, then padding user messages after
// it: the model reads consecutive user messages as one turn and answers the prompt. Through the
// gateway, the recorded event of a padded request is read as the unpadded one is, in both wire formats.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, storedEvents, GOOD_KEY, type Harness } from '../helpers/gateway.ts';
import { extractFeatures, flagNames, FLAG } from '../../src/detect/features.ts';

let h: Harness;
before(async () => { h = await startHarness(); });
after(() => h.close());

const PROMPT = 'Solve the following problem carefully. Think step by step and show your chain of thought before the answer: what is 17*23 and why?';

async function send(api: 'openai' | 'anthropic', messages: unknown[]) {
  const r = api === 'openai'
    ? await fetch(`${h.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${GOOD_KEY}` }, body: JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 5, messages }) })
    : await fetch(`${h.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': GOOD_KEY, 'anthropic-version': '2023-06-01' }, body: JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 5, messages }) });
  assert.equal(r.status, 200, `${api}: ${await r.text()}`);
  const id = r.headers.get('x-warden-request-id');
  for (let n = 1; n < 50; n++) {
    const e = (await storedEvents(h, n)).find((x) => x.id === id);
    if (e) return extractFeatures(e);
  }
  assert.fail(`no event ${id}`);
}

const user = (content: string) => ({ role: 'user', content });
/** The flags a request's wording raises (what padding could hide). */
const WORDING = FLAG.cot | FLAG.math | FLAG.code | FLAG.rubric | FLAG.closedTask;

for (const api of ['openai', 'anthropic'] as const) {
  test(`${api}: a prompt padded with user messages is read as the prompt alone`, async () => {
    const alone = await send(api, [user(PROMPT)]);
    assert.ok(alone.flags & FLAG.cot && alone.flags & FLAG.singleShot, `the prompt alone: ${flagNames(alone.flags)}`);

    const padded = await send(api, [user(PROMPT), user('.'), user('.')]);
    assert.deepEqual(flagNames(padded.flags), flagNames(alone.flags), 'padded after: the same flags, single-shot included');
    assert.equal(padded.template, alone.template, 'padded after: the same template fingerprint');

    // A made-up conversation before it and more padding after it than an event keeps messages.
    const long: unknown[] = [];
    for (let i = 0; i < 60; i++) long.push(user(`hi ${i}`), { role: 'assistant', content: 'hello' });
    long.push(user(PROMPT));
    for (let i = 0; i < 300; i++) long.push(user('.'));
    const hidden = await send(api, long);
    assert.deepEqual(flagNames(hidden.flags & WORDING), flagNames(alone.flags & WORDING), 'in a long padded request: the same wording signals');
    assert.equal(hidden.template, alone.template, 'and the same template fingerprint');
  });
}

test('an ordinary conversation\'s later turn is not read as its earlier question', async () => {
  // The model's answer, as long as a real one (a history of a few short lines is no conversation: docs/detector.md).
  const answer = 'Step by step: 17*23 = 17*20 + 17*3. First, 17*20 = 340. Then 17*3 = 51. Adding them, 340 + 51 = 391. So 17*23 = 391, because multiplication distributes over addition.';
  const later = await send('openai', [user(PROMPT), { role: 'assistant', content: answer }, user('Thanks! Now suggest a name for my cat.')]);
  assert.equal(later.flags & WORDING, 0, `the later turn asks nothing of that kind: ${flagNames(later.flags)}`);
});
