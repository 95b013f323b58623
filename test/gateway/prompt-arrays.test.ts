// What the detector makes of requests through the gateway that ask for reasoning answers in other
// shapes than one chat turn: a legacy completions prompt array is as many single-shot requests as
// it has prompts, each read; Anthropic adaptive thinking and `output_config.effort` are recorded, and
// read as a reasoning request only together (an effort alone, or a medium one, is an ordinary app).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestWarden, type TestWarden } from '../helpers/warden.ts';
import { extractPromptFeatures, FLAG } from '../../src/detect/features.ts';

let t: TestWarden;
before(async () => { t = await startTestWarden(); });
after(async () => { await t.close(); });

const QUESTIONS = [
  'Orlan gave one-fourth of his 20-meter rope to Allan. How many meters of rope is left to Orlan?',
  'A bakery sold 24 cakes on Monday and twice as many on Tuesday. How many cakes were sold in all?',
  'Tom has 3 boxes of 12 pencils and gives away 7 pencils. How many pencils does he have left?',
  'A train travels 60 miles per hour for 3 hours. How many miles does it travel?',
  'Sara buys 4 books at 6 dollars each and pays with a 50 dollar bill. How much change does she get?',
];

test('a legacy completions prompt array of chain-of-thought prompts is read prompt by prompt, each a single-shot request', async () => {
  const a = await t.account('arrays', 'email_verified');
  const prompt = [...QUESTIONS.map((q) => `Let's think step by step. ${q}`), 'Answer the above.'];
  const r = await fetch(`${t.url}/v1/completions`, {
    method: 'POST', headers: { authorization: `Bearer ${a.key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-3.5-turbo-instruct', prompt, max_tokens: 20 }),
  });
  // Read the whole answer: an unread body keeps its connection, and the server's close waits for it.
  const text = await r.text();
  assert.equal(r.status, 200, `served: ${text}`);
  const [ev] = await t.events((e) => e.account_id === a.id && e.flavour === 'openai.completions');
  assert.ok(ev, 'the request is recorded');
  const each = extractPromptFeatures(ev);
  const weight = (keep: (fl: number) => boolean) => each.filter((f) => keep(f.flags)).reduce((s, f) => s + f.weight, 0);
  assert.equal(weight(() => true), 6, 'six prompts, six requests');
  assert.equal(weight((fl) => (fl & FLAG.cot) !== 0 && (fl & FLAG.math) !== 0), 5, 'the five chain-of-thought maths prompts are seen');
  assert.equal(weight((fl) => (fl & FLAG.singleShot) !== 0), 6, 'each prompt is single-shot');
});

test('Anthropic adaptive thinking and output_config.effort are recorded and read as a reasoning request', async () => {
  const a = await t.account('adaptive', 'email_verified');
  const r = await fetch(`${t.url}/v1/messages`, {
    method: 'POST', headers: { 'x-api-key': a.key, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 64, thinking: { type: 'adaptive' }, output_config: { effort: 'high' }, messages: [{ role: 'user', content: QUESTIONS[0] }] }),
  });
  // Read the whole answer: an unread body keeps its connection, and the server's close waits for it.
  const text = await r.text();
  assert.equal(r.status, 200, `served: ${text}`);
  const [ev] = await t.events((e) => e.account_id === a.id && e.flavour === 'anthropic.messages');
  assert.equal(ev.request.params.thinking, 'adaptive', 'the thinking type is recorded');
  assert.equal(ev.request.params.reasoning_effort, 'high', 'the effort is recorded');
  assert.ok(extractPromptFeatures(ev)[0].flags & FLAG.reasoningParam, 'a reasoning request');
});

test('Anthropic output_config.effort with thinking off, or adaptive thinking alone, is no reasoning request', async () => {
  const a = await t.account('effortonly', 'email_verified');
  const bodies = [
    { output_config: { effort: 'medium' } },
    { thinking: { type: 'disabled' }, output_config: { effort: 'medium' } },
    { thinking: { type: 'adaptive' } },
  ];
  for (const extra of bodies) {
    const r = await fetch(`${t.url}/v1/messages`, {
      method: 'POST', headers: { 'x-api-key': a.key, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 64, ...extra, messages: [{ role: 'user', content: QUESTIONS[1] }] }),
    });
    const text = await r.text();
    assert.equal(r.status, 200, `served: ${text}`);
  }
  const evs = await t.events((e) => e.account_id === a.id && e.flavour === 'anthropic.messages');
  assert.equal(evs.length, bodies.length, 'every request recorded');
  for (const ev of evs) {
    assert.ok(!(extractPromptFeatures(ev)[0].flags & FLAG.reasoningParam), `not a reasoning request: ${JSON.stringify(ev.request.params)}`);
  }
});
