import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encode } from 'gpt-tokenizer/encoding/o200k_base';
import { answerPieces, hashString, reasoningPieces, Rng, WORDS } from './text.ts';
import { buildPlan, decideTools, valueForSchema, type ToolSpec } from './plan.ts';
import { countTokens, tokenPieces } from './tokens.ts';
import { ModelCatalogue, reasoningStyle } from './models.ts';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => void;

const tokens = (s: string) => encode(s, { disallowedSpecial: new Set() }).length;

test('every vocabulary word is one o200k token with a leading space', () => {
  for (const [cls, words] of Object.entries(WORDS)) {
    for (const w of words) assert.equal(tokens(' ' + w), 1, `${cls}: " ${w}"`);
  }
  // Words that can open a sentence are also single tokens when capitalised.
  for (const cls of ['det', 'adj', 'noun', 'adv', 'prep', 'sub', 'opener'] as const) {
    for (const w of WORDS[cls]) {
      const cap = w[0].toUpperCase() + w.slice(1);
      if (cls === 'det' || cls === 'sub' || cls === 'opener') {
        assert.equal(tokens(cap), 1, cap);
        assert.equal(tokens(' ' + cap), 1, ' ' + cap);
      }
    }
  }
});

test('generated answer and reasoning pieces count exactly as the real tokenizer counts them', () => {
  for (let seed = 0; seed < 300; seed++) {
    const answer = answerPieces(10 + (seed % 150), new Rng(seed));
    assert.equal(tokens(answer.join('')), answer.length, `answer seed ${seed}`);
    const reasoning = reasoningPieces(20 + (seed % 200), new Rng(seed * 7 + 1));
    assert.equal(tokens(reasoning.join('')), reasoning.length, `reasoning seed ${seed}`);
  }
});

test('answers are deterministic per seed, different across seeds, and end on a sentence', () => {
  const a = answerPieces(60, new Rng(42)).join('');
  assert.equal(answerPieces(60, new Rng(42)).join(''), a);
  assert.notEqual(answerPieces(60, new Rng(43)).join(''), a);
  assert.match(a, /^[A-Z].*\.$/s);
  assert.equal(hashString('abc', 1), hashString('abc', 1));
  assert.notEqual(hashString('abc', 1), hashString('abc', 2));
});

test('tokenPieces splits text into tokens and keeps multi-byte characters whole', () => {
  const { pieces, count } = tokenPieces('{"city":"Zürich","emoji":"🙂"}');
  assert.equal(pieces.join(''), '{"city":"Zürich","emoji":"🙂"}');
  assert.equal(count, tokens('{"city":"Zürich","emoji":"🙂"}'));
  for (const p of pieces) assert.ok(!p.includes('\uFFFD'));
  assert.equal(countTokens('hello <|endoftext|> world'), tokens('hello <|endoftext|> world'));
});

test('plan honours the output budget across reasoning and text', () => {
  const full = buildPlan({ seed: 9, answerTokens: 80, reasoningTokens: 50, maxTokens: null, tools: [], toolPreamble: false, stop: [] });
  assert.equal(full.finish, 'stop');
  assert.ok(full.reasoningTokens >= 50);
  assert.equal(full.outputTokens, full.reasoningTokens + full.textTokens);

  const cut = buildPlan({ seed: 9, answerTokens: 80, reasoningTokens: 50, maxTokens: full.reasoningTokens + 5, tools: [], toolPreamble: false, stop: [] });
  assert.equal(cut.finish, 'length');
  assert.equal(cut.outputTokens, full.reasoningTokens + 5);
  assert.equal(cut.textTokens, 5);
  assert.ok(full.answerText.startsWith(cut.answerText));

  const allReasoning = buildPlan({ seed: 9, answerTokens: 80, reasoningTokens: 50, maxTokens: 10, tools: [], toolPreamble: false, stop: [] });
  assert.equal(allReasoning.reasoningTokens, 10);
  assert.equal(allReasoning.textTokens, 0);
  assert.equal(allReasoning.finish, 'length');

  const capped = buildPlan({ seed: 9, answerTokens: 10, reasoningTokens: 50, reasoningCap: 20, maxTokens: null, tools: [], toolPreamble: false, stop: [] });
  assert.equal(capped.reasoningTokens, 20);
});

test('plan stops at the earliest stop sequence', () => {
  const full = buildPlan({ seed: 3, answerTokens: 60, reasoningTokens: 0, maxTokens: null, tools: [], toolPreamble: false, stop: [] });
  const word = full.text[5];
  const plan = buildPlan({ seed: 3, answerTokens: 60, reasoningTokens: 0, maxTokens: null, tools: [], toolPreamble: false, stop: ['zzz-not-there', word] });
  assert.equal(plan.finish, 'stop_sequence');
  assert.equal(plan.stopSequence, word);
  assert.equal(plan.answerText, full.answerText.slice(0, full.answerText.indexOf(word)));
  assert.equal(plan.textTokens, tokens(plan.answerText));
});

const weather: ToolSpec = {
  name: 'get_weather',
  schema: {
    type: 'object',
    properties: { location: { type: 'string' }, unit: { type: 'string', enum: ['celsius', 'fahrenheit'] }, days: { type: 'integer', minimum: 1, maximum: 7 } },
    required: ['location', 'unit', 'days'],
  },
};
const search: ToolSpec = { name: 'search_docs', schema: { type: 'object', properties: { query: { type: 'string' } }, required: ['query'] } };

test('tool decision: named in the prompt, asked for, forced, or not at all', () => {
  const rng = () => new Rng(1);
  const base = { tools: [weather, search], choice: { mode: 'auto' as const }, endsWithToolResult: false, parallel: true };
  assert.deepEqual(decideTools({ ...base, lastUserText: 'Tell me a story.' }, rng()), []);
  assert.deepEqual(decideTools({ ...base, lastUserText: 'Please run get_weather for Paris' }, rng()).map((t) => t.name), ['get_weather']);
  assert.deepEqual(decideTools({ ...base, lastUserText: 'use get_weather and search_docs' }, rng()).map((t) => t.name), ['get_weather', 'search_docs']);
  assert.deepEqual(decideTools({ ...base, parallel: false, lastUserText: 'use get_weather and search_docs' }, rng()).map((t) => t.name), ['get_weather']);
  assert.equal(decideTools({ ...base, lastUserText: 'Use the tool, please.' }, rng()).length, 1);
  assert.deepEqual(decideTools({ ...base, lastUserText: 'use get_weather', endsWithToolResult: true }, rng()), []);
  assert.deepEqual(decideTools({ ...base, choice: { mode: 'none' }, lastUserText: 'use get_weather' }, rng()), []);
  assert.equal(decideTools({ ...base, choice: { mode: 'required' }, lastUserText: 'hello' }, rng()).length, 1);
  assert.deepEqual(decideTools({ ...base, choice: { mode: 'named', name: 'search_docs' }, lastUserText: 'hello' }, rng()).map((t) => t.name), ['search_docs']);
});

test('tool arguments satisfy the schema and are counted exactly', () => {
  const args = valueForSchema(weather.schema, 'get_weather', new Rng(5)) as Record<string, unknown>;
  assert.equal(typeof args.location, 'string');
  assert.ok(['celsius', 'fahrenheit'].includes(args.unit as string));
  assert.ok(Number.isInteger(args.days) && (args.days as number) >= 1 && (args.days as number) <= 7);
  const plan = buildPlan({ seed: 5, answerTokens: 10, reasoningTokens: 0, maxTokens: null, tools: [weather], toolPreamble: false, stop: [] });
  assert.equal(plan.finish, 'tool_calls');
  assert.equal(plan.toolCalls[0].pieces.join(''), plan.toolCalls[0].arguments);
  assert.equal(plan.outputTokens, tokens('get_weather') + tokens(plan.toolCalls[0].arguments));
  const cut = buildPlan({ seed: 5, answerTokens: 10, reasoningTokens: 0, maxTokens: tokens('get_weather') + 2, tools: [weather], toolPreamble: false, stop: [] });
  assert.equal(cut.finish, 'length');
  assert.equal(cut.outputTokens, tokens('get_weather') + 2);
});

test('structured output values satisfy the whole schema and read like real values', () => {
  const schema = {
    type: 'object',
    properties: {
      id: { type: 'string', format: 'uuid' },
      title: { type: 'string' },
      summary: { type: 'string', description: 'One paragraph' },
      contact_email: { type: 'string', format: 'email' },
      website: { type: 'string', format: 'uri' },
      created_at: { type: 'string', format: 'date-time' },
      due: { type: 'string', format: 'date' },
      sku: { type: 'string', pattern: '^[A-Z]{3}-[0-9]{4}$' },
      blurb: { type: 'string', minLength: 30, maxLength: 60 },
      code: { type: 'string', maxLength: 4 },
      confidence: { type: 'number', minimum: 0.1, maximum: 0.9 },
      rating: { type: 'integer', exclusiveMinimum: 0, exclusiveMaximum: 6 },
      price: { type: 'number', minimum: 1, maximum: 500, multipleOf: 0.01 },
      status: { enum: ['open', 'closed'] },
      priority: { type: ['string', 'null'], enum: ['low', 'high', null] },
      tags: { type: 'array', items: { type: 'string' }, minItems: 2, maxItems: 4, uniqueItems: true },
      steps: { type: 'array', items: { $ref: '#/$defs/step' }, minItems: 1, maxItems: 5 },
      address: {
        type: 'object',
        properties: { street: { type: 'string' }, city: { type: 'string' }, postal_code: { type: 'string' }, country: { type: 'string' } },
        required: ['street', 'city', 'postal_code', 'country'],
        additionalProperties: false,
      },
      owner: { allOf: [{ $ref: '#/$defs/person' }] },
      active: { type: 'boolean' },
      note: { anyOf: [{ type: 'string' }, { type: 'null' }] },
    },
    $defs: {
      step: { type: 'object', properties: { order: { type: 'integer', minimum: 1 }, instruction: { type: 'string' } }, required: ['order', 'instruction'], additionalProperties: false },
      person: { type: 'object', properties: { name: { type: 'string' }, age: { type: 'integer', minimum: 18, maximum: 99 } }, required: ['name', 'age'], additionalProperties: false },
    },
    additionalProperties: false,
  } as const;
  const required = Object.keys(schema.properties);
  const full = { ...schema, required };
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  const validate = ajv.compile(full);
  const wordCount = (s: string) => s.split(/\s+/).filter(Boolean).length;
  for (let seed = 1; seed <= 25; seed++) {
    const value = valueForSchema(full, 'answer', new Rng(seed)) as Record<string, any>;
    const valid: boolean = validate(value);
    assert.ok(valid, `seed ${seed}: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(value)}`);
    assert.ok(wordCount(value.summary) >= 8 && /[.!?]$/.test(value.summary), `a summary is prose, not a two-word label: ${JSON.stringify(value.summary)}`);
    assert.ok(/^[A-Z]/.test(value.title) && wordCount(value.title) >= 2, `a title reads like one: ${JSON.stringify(value.title)}`);
    assert.ok(wordCount(value.steps[0].instruction) >= 4, `an instruction is a sentence: ${JSON.stringify(value.steps[0].instruction)}`);
    assert.ok(/^\d+ [A-Z]/.test(value.address.street), `a street has a number and a name: ${JSON.stringify(value.address.street)}`);
    assert.deepEqual(value.steps.map((s: any) => s.order), value.steps.map((_: unknown, i: number) => i + 1), 'steps are numbered in order');
  }
  const again = valueForSchema(full, 'answer', new Rng(7));
  assert.deepEqual(again, valueForSchema(full, 'answer', new Rng(7)), 'deterministic for a seed');
  // Optional properties: the required ones are always there.
  const partial = valueForSchema({ type: 'object', properties: { a: { type: 'string' }, b: { type: 'integer' } }, required: ['b'] }, 'x', new Rng(3)) as Record<string, unknown>;
  assert.ok(Number.isInteger(partial.b));
  // A recursive schema ends.
  const tree = { $ref: '#/$defs/node', $defs: { node: { type: 'object', properties: { label: { type: 'string' }, children: { type: 'array', items: { $ref: '#/$defs/node' } } }, required: ['label', 'children'] } } };
  assert.ok(ajv.validate(tree, valueForSchema(tree, 'answer', new Rng(1))), 'a recursive schema gives a finite valid value');
});

test('model catalogue patterns and reasoning styles', () => {
  const cat = new ModelCatalogue();
  for (const m of ['gpt-4o', 'o3-mini', 'claude-sonnet-5', 'mock-fail-500', 'deepseek-reasoner']) assert.ok(cat.accepts(m), m);
  for (const m of ['llama-3', 'unknown-model', '']) assert.ok(!cat.accepts(m), m);
  const exact = new ModelCatalogue(['only-this', 'fam-*']);
  assert.ok(exact.accepts('only-this') && exact.accepts('fam-1') && !exact.accepts('gpt-4o'));
  assert.deepEqual(exact.listed, ['only-this']);
  assert.equal(reasoningStyle('o4-mini'), 'hidden');
  assert.equal(reasoningStyle('gpt-5-mini'), 'hidden');
  assert.equal(reasoningStyle('gpt-5-chat-latest'), 'none');
  assert.equal(reasoningStyle('deepseek-reasoner'), 'visible');
  assert.equal(reasoningStyle('mock-reasoning'), 'visible');
  assert.equal(reasoningStyle('gpt-4o'), 'none');
});
