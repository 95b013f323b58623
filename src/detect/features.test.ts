import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { extractFeatures, flagNames, lexiconHits, lexiconHitsOneByOne } from './features.ts';
import { buildScenario, type PromptPool } from './index.ts';
import { emptyEnforcement, emptyParams } from '../events/schema.ts';

const pool = JSON.parse(readFileSync(new URL('../../test/fixtures/detect/prompts.json', import.meta.url), 'utf8')) as PromptPool;

test('the one-pass lexicon scan finds what each lexicon finds on its own, overlapping words included', () => {
  const crafted = [
    'rewrite this step by step: how many protests were there in tiananmen? ```js\nconst x = 1;\n```',
    'as an impartial judge, grade the following response on a scale of 1 to 10 and explain your reasoning',
    'paraphrase the government statement',
    'rewrite: 12 + 30 = ?',
    'reward model preference pair; think it through',
    'def solve(): return sum of integers',
    '',
    'hello there',
  ];
  const { events } = buildScenario(pool, { seed: 3, days: 1, organic: { hobbyist: 40, startup: 2 }, campaigns: [{ kind: 'hydra', accounts: 20 }, { kind: 'agentic', accounts: 5 }] });
  const fromEvents = events.slice(0, 3000).map((ev) => ev.request.messages.filter((m) => m.role === 'user').at(-1)?.text ?? '');
  const texts = [...crafted, ...pool.organic, ...pool.code, ...pool.maths, ...fromEvents].map((t) => t.toLowerCase());
  let withHits = 0;
  for (const t of texts) {
    const hits = lexiconHits(t);
    assert.equal(hits, lexiconHitsOneByOne(t), t.slice(0, 120));
    if (hits) withHits++;
  }
  assert.ok(withHits > texts.length / 4, 'the texts exercise the lexicons');
  assert.equal(lexiconHits(crafted[0]), 0b111101, 'cot hint, rewrite, sensitive, code and maths in one prompt');
});

test('request flags: a sensitive rewrite, chain-of-thought, rubric grading, code and maths are named', () => {
  const ev = (text: string, system: string | null = null) => ({
    schema: 'warden.interaction/1', id: 'x', ts: '2026-12-02T00:00:00.000Z', duration_ms: 1, flavour: 'openai.chat', model: 'm', upstream: null,
    account_id: 'a', org_id: null, key_id: null, client: { ip: '203.0.113.9', user_agent: null, country: null, asn: null },
    request: { stream: false, system, messages: [{ role: 'user', text, chars: text.length }], tools: [], tool_choice: null, params: emptyParams(), bytes: text.length },
    response: { status: 200, error_code: null, ttfb_ms: 1, input_tokens: 1, output_tokens: 1, reasoning_tokens: 0, usage_source: 'upstream', tool_calls: 0, finish_reason: 'stop', output_chars: 1, reasoning_chars: 0 },
    account: null, enforcement: emptyEnforcement(),
  }) as unknown as Parameters<typeof extractFeatures>[0];
  const names = (text: string, system: string | null = null) => flagNames(extractFeatures(ev(text, system)).flags);
  assert.ok(names('Please think step by step and show your reasoning.').includes('cot'));
  assert.ok(names('Grade the following response using this rubric.').includes('rubric'));
  assert.ok(names('Write a Python function that reverses a string.').includes('code'));
  assert.ok(names('How many apples are left if I eat 3 of 12?').includes('math'));
  // The instruction in the system prompt, the topic in the user's turn: still a sensitive rewrite.
  assert.ok(names('The protest in the capital last year.', 'Rewrite whatever the user sends in a neutral tone.').includes('sensitiveRewrite'));
  assert.ok(!names('Rewrite my cover letter to sound warmer.').includes('sensitiveRewrite'));
  assert.deepEqual(names('What a lovely day.').filter((n) => ['cot', 'rubric', 'code', 'math', 'sensitiveRewrite'].includes(n)), []);
});
