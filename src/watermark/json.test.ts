// JSON answers (JSON mode, structured outputs, tool arguments): the prose in string values is
// marked, the JSON stays valid with the same keys and schema-valid values, streams mark exactly
// as whole answers do, and `detect` finds the mark in a harvest of JSON answers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { Ajv } from 'ajv';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { deriveWatermarkKey } from './keys.ts';
import { watermarkText } from './embed.ts';
import { StreamingJsonWatermarker, watermarkJson, watermarkJsonValue } from './json.ts';
import { detectWatermark } from './detect.ts';
import { watermarkTransformer } from './transform.ts';
import { runTransformer, serialiseSse, serveOnce, FIXTURES } from '../../test/helpers/sse-fixtures.ts';

const MASTER = 'test-master-secret-0123456789abcdef';
const prose = readFileSync(new URL('assistant-answers.txt', FIXTURES), 'utf8');
/** The prose of about `from`..`to`, starting at a sentence (a string value that opens mid-word is not marked). */
const passage = (from: number, to: number) => { const at = prose.indexOf('. ', from) + 2; return prose.slice(at, at + to - from); };
const keys = Array.from({ length: 8 }, (_, i) => deriveWatermarkKey(MASTER, { kind: 'account', id: `json_${i}` }));
const keyA = keys[0];

const SCHEMA = {
  type: 'object', additionalProperties: false,
  required: ['answer', 'label', 'steps', 'code', 'url', 'count', 'id', 'ok', 'often'],
  properties: {
    answer: { type: 'string' },
    label: { enum: ['often', 'very large', 'big'] },
    steps: { type: 'array', items: { type: 'string' } },
    code: { type: 'string' },
    url: { type: 'string', pattern: '^https://' },
    count: { type: 'integer' },
    id: { type: 'string' },
    ok: { type: 'boolean' },
    often: { type: 'string' },
  },
};
const validate = new Ajv().compile(SCHEMA);
const VALUE = {
  answer: prose.slice(0, 1500),
  label: 'very large',
  steps: ['It is often big, and several steps follow.', 'Large', 'Therefore the result is often large.'],
  code: 'const large = often(big); while (several) large++;',
  url: 'https://big.example/often?several=large',
  count: 3,
  id: 'often',
  ok: true,
  often: 'thus',
};

/** JSON text with every non-ASCII character and some ASCII ones written as \u escapes, as some encoders do. */
const asciiJson = (v: unknown) => JSON.stringify(v, null, 2).replace(/"(?:[^"\\]|\\.)*"/g, (str) => str.replace(/[^\x00-\x7f]|[ae]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));

test('JSON answer: prose in string values is marked; keys, labels, code, URLs, numbers kept; still schema-valid JSON', () => {
  assert.ok(validate(VALUE), 'the fixture satisfies its schema');
  let changedSomewhere = 0;
  for (const text of [JSON.stringify(VALUE), JSON.stringify(VALUE, null, 2), asciiJson(VALUE)]) {
    for (const k of keys) {
      const { text: out, stats } = watermarkJson(text, k.key);
      const v = JSON.parse(out) as Record<string, any>;
      assert.ok(validate(structuredClone(v)), `schema-valid after marking with ${k.id}: ${JSON.stringify(validate.errors)}`);
      assert.deepEqual(Object.keys(v), Object.keys(VALUE), `same keys in the same order with ${k.id}`);
      for (const f of ['label', 'code', 'url', 'count', 'id', 'ok', 'often'] as const) assert.deepEqual(v[f], VALUE[f], `${f} unchanged by ${k.id}`);
      assert.equal(v.steps[1], 'Large', `a one-word array item is kept by ${k.id}`);
      assert.equal(v.answer.split(/\s+/).length, VALUE.answer.split(/\s+/).length, 'only words are replaced, none added or removed');
      if (v.answer !== VALUE.answer) changedSomewhere++;
      assert.ok(stats.changed > 0, `the prose was marked by ${k.id}`);
    }
  }
  assert.ok(changedSomewhere >= 20, `the answer field carries the mark (${changedSomewhere}/24)`);
  // A JSON answer that is not JSON after all (a refusal) is marked as the text it is.
  assert.equal(watermarkJson('  I am often unable to answer that.', keyA.key).text, watermarkText('  I am often unable to answer that.', keyA.key).text);
});

test('JSON answer streamed in pieces of any size (escapes cut included) equals the whole-answer marking', () => {
  const texts = [JSON.stringify(VALUE), asciiJson(VALUE), JSON.stringify([{ a: passage(2000, 2600) }, 'It is often big and large.', null, -1.5e3])];
  fc.assert(fc.property(fc.integer({ min: 0, max: texts.length - 1 }), fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 300 }), (t, sizes) => {
    const text = texts[t];
    const whole = watermarkJson(text, keyA.key).text;
    const w = new StreamingJsonWatermarker(keyA.key);
    let out = '', at = 0, i = 0;
    while (at < text.length) { const n = sizes[i++ % sizes.length]; out += w.push(text.slice(at, at + n)); at += n; }
    out += w.end();
    assert.equal(out, whole, 'streamed output equals whole-text output');
  }), { numRuns: 150 });
});

test('JSON prefill: the answer continues it, the prefill is read as context and never sent again', () => {
  const text = JSON.stringify({ answer: prose.slice(0, 800) });
  for (const cut of [1, 11, 14, 40, 41, 300]) {
    const prefill = text.slice(0, cut);
    const { text: out, stats } = watermarkJson(text.slice(cut), keyA.key, prefill);
    const v = JSON.parse(prefill + out);
    assert.deepEqual(Object.keys(v), ['answer'], `valid JSON after the prefill ${JSON.stringify(prefill.slice(0, 20))}`);
    assert.equal(v.answer.split(/\s+/).length, prose.slice(0, 800).split(/\s+/).length, 'only words are replaced');
    assert.ok(stats.changed > 0, `the continuation is marked after a prefill of ${cut} characters`);
    // Streamed character by character, the continuation is marked the same way.
    const w = new StreamingJsonWatermarker(keyA.key, prefill);
    let s = '';
    for (const c of text.slice(cut)) s += w.push(c);
    assert.equal(s + w.end(), out, `streamed equals whole after a prefill of ${cut}`);
  }
});

test('an answer that only opens like JSON ([1] or [Answer] prefilled, or a plain answer opening "[A]") stays marked, streamed as whole', () => {
  const answer = ' ' + prose.split(/\n\s*\n/).filter((p) => p.trim()).slice(0, 40).join('\n\n');
  // [prefill, answer, the opening a harvester strips before use]
  const cases: [string | undefined, string, string][] = [['[1]', answer, ''], ['[Answer]', answer, ''], [undefined, '[A]' + answer, '[A]'], [undefined, '{1}' + answer, '{1}'], [undefined, '{"a": 1} and then' + answer, '{"a": 1} and then']];
  for (const [prefill, text, opening] of cases) {
    const label = JSON.stringify(prefill ?? text.slice(0, 10));
    const t = watermarkTransformer('anthropic.messages', keyA.key, undefined, { json: true, prefill, toolArguments: true });
    const out = (t.json as (b: unknown) => { content: { text: string }[] })({ content: [{ type: 'text', text }] }).content[0].text;
    assert.notEqual(out, text, `the answer after ${label} is marked`);
    const r = detectWatermark(out.slice(opening.length), [keyA], 1e-3);
    assert.ok(r.detected, `the answer after ${label} is attributed to its key (p=${r.best?.correctedP})`);
    const w = new StreamingJsonWatermarker(keyA.key, prefill);
    let s = '';
    for (let i = 0; i < text.length; i += 3) s += w.push(text.slice(i, i + 3));
    assert.equal(s + w.end(), out, `streamed equals whole after ${label}`);
  }
});

test('JSON values that look like commands, paths, identifiers or code are never changed; prose values are', () => {
  const value = {
    command: 'git push origin main --force-with-lease',
    shell: 'npm install several big often packages',
    dollar: '$ grep -rn several src/ | head often',
    sql: 'select often, several from big where main is large',
    upper: 'ALTER TABLE users MODIFY COLUMN main large TEXT',
    path: 'src/often/big several large.txt and more',
    dotted: 'os.path.join often several large items',
    flag: '--often several large big things here',
    prose: 'It is often large in scale, and several steps happen at once. Therefore it is often studied by many people in several large groups.',
  };
  const text = JSON.stringify(value);
  let proseChanged = 0;
  for (const k of keys) {
    const v = JSON.parse(watermarkJson(text, k.key).text);
    for (const name of Object.keys(value) as (keyof typeof value)[]) {
      if (name !== 'prose') assert.equal(v[name], value[name], `the ${name} value is kept with key ${k.id}`);
    }
    if (v.prose !== value.prose) proseChanged++;
  }
  assert.ok(proseChanged >= keys.length - 1, `a prose value is still marked (${proseChanged}/${keys.length} keys)`);
});

test('JSON values equal to a string of the request schema\'s enum/const are never changed, streamed or whole', () => {
  const keep = new Set(['Not at all important', 'Very often, almost daily', 'Less than once a week, often enough', 'Agree, but only slightly']);
  const value = { importance: 'Not at all important', frequency: 'Very often, almost daily', rare: 'Less than once a week, often enough', agree: 'Agree, but only slightly', why: 'It is often large in scale, and several steps happen at once. Therefore it is often studied.', near: 'Not at all important, and often large in several big ways.' };
  const text = JSON.stringify(value);
  let proseChanged = 0;
  for (const k of keys) {
    const whole = watermarkJson(text, k.key, undefined, keep).text;
    const v = JSON.parse(whole);
    for (const name of ['importance', 'frequency', 'rare', 'agree'] as const) assert.equal(v[name], value[name], `the enum value ${name} is kept with key ${k.id}`);
    if (v.why !== value.why && v.near !== value.near) proseChanged++;
    const w = new StreamingJsonWatermarker(k.key, undefined, keep);
    let s = '';
    for (const c of text) s += w.push(c);
    assert.equal(s + w.end(), whole, 'streamed character by character equals whole');
    const input = structuredClone(value);
    assert.deepEqual(watermarkJsonValue(input, k.key, undefined, keep), v, 'a parsed tool input is marked as its JSON text');
  }
  assert.ok(proseChanged >= keys.length - 1, `values that are not enum members are still marked (${proseChanged}/${keys.length})`);
});

test('detect: a harvest of marked JSON answers (JSON Lines, or the extracted strings) is attributed; unmarked it is not', () => {
  const answers = Array.from({ length: 12 }, (_, i) => JSON.stringify({ id: `q${i}`, label: 'big', answer: passage(i * 350, i * 350 + 350) }));
  const marked = answers.map((a) => watermarkJson(a, keyA.key).text);
  const jsonl = marked.join('\n');
  const r = detectWatermark(jsonl, keys, 1e-3);
  assert.ok(r.detected && r.best?.keyId === keyA.id, `JSON Lines harvest attributed to ${keyA.id} (slots ${r.slots}, best ${r.best?.keyId} p ${r.best?.correctedP})`);
  const strings = marked.map((m) => JSON.parse(m).answer).join('\n\n');
  const s = detectWatermark(strings, keys, 1e-3);
  assert.ok(s.detected && s.best?.keyId === keyA.id, `the extracted answers attributed too (p ${s.best?.correctedP})`);
  const pretty = detectWatermark(JSON.stringify(marked.map((m) => JSON.parse(m)), null, 2), keys, 1e-3);
  assert.ok(pretty.detected && pretty.best?.keyId === keyA.id, 'one JSON document of the answers attributed too');
  const clean = detectWatermark(answers.join('\n'), keys, 1e-3);
  assert.ok(!clean.detected, `the unmarked harvest is not (p ${clean.best?.correctedP})`);
  assert.ok(clean.slots > 10, 'the unmarked harvest is read as its strings, not skipped as code');
});

const chatChunk = (delta: Record<string, unknown>, finish: string | null = null) => ({ data: JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] }) });
const pieces = (s: string, n = 5) => s.match(new RegExp(`[\\s\\S]{1,${n}}`, 'g'))!;

test('transformer: chat JSON-mode content and tool-call arguments marked in flight as whole; the SDK reads valid JSON', async () => {
  const content = JSON.stringify({ answer: prose.slice(0, 700), label: 'often' });
  const args = JSON.stringify({ query: 'often', body: passage(700, 1300) });
  const events = [
    chatChunk({ role: 'assistant', content: '' }),
    ...pieces(content).map((p) => chatChunk({ content: p })),
    chatChunk({ tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'send', arguments: '' } }] }),
    ...pieces(args, 3).map((p) => chatChunk({ tool_calls: [{ index: 0, function: { arguments: p } }] })),
    chatChunk({}, 'tool_calls'),
    { data: '[DONE]' },
  ];
  const out = runTransformer(watermarkTransformer('openai.chat', keyA.key, undefined, { json: true, toolArguments: true }), events);
  const { url, server } = await serveOnce(serialiseSse(out), 'text/event-stream');
  try {
    const client = new OpenAI({ baseURL: url + '/v1', apiKey: 'k', maxRetries: 0 });
    const c = await client.chat.completions.stream({ model: 'm', messages: [{ role: 'user', content: 'x' }] }).finalChatCompletion();
    const msg = c.choices[0].message;
    assert.equal(msg.content, watermarkJson(content, keyA.key).text, 'JSON content marked as the whole answer is');
    assert.notEqual(msg.content, content, 'the JSON answer carries the mark');
    assert.equal(JSON.parse(msg.content!).label, 'often', 'the one-word value is kept');
    const called = msg.tool_calls![0] as { function: { arguments: string } };
    assert.equal(called.function.arguments, watermarkJson(args, keyA.key).text, 'tool arguments marked as whole arguments are');
    assert.notEqual(called.function.arguments, args, 'the tool arguments carry the mark');
    assert.deepEqual(Object.keys(JSON.parse(called.function.arguments)), ['query', 'body'], 'arguments stay valid JSON with the same keys');
  } finally { server.close(); }
  // Without the options (a customer not under a verdict, skip_json_output on), tool arguments are untouched.
  const plain = runTransformer(watermarkTransformer('openai.chat', keyA.key), events);
  const argsOut = plain.filter((e) => e.data.startsWith('{')).map((e) => JSON.parse(e.data).choices[0]?.delta?.tool_calls?.[0]?.function?.arguments ?? '').join('');
  assert.equal(argsOut, args, 'tool arguments are left alone when not asked');
});

test('transformer: anthropic tool input marked the same streamed (input_json_delta) and whole (input object); prefilled JSON text continued', async () => {
  const input = { recipient: 'Sam', body: prose.slice(0, 600), priority: 'very large' };
  const argsText = JSON.stringify(input);
  const answer = JSON.stringify({ answer: passage(600, 1200) });
  const prefill = answer.slice(0, 25);
  const ev = (event: string, data: Record<string, unknown>) => ({ event, data: JSON.stringify({ type: event, ...data }) });
  const events = [
    ev('message_start', { message: { id: 'msg_1', type: 'message', role: 'assistant', model: 'claude-test', content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 1, output_tokens: 1 } } }),
    ev('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }),
    ...pieces(answer.slice(25)).map((p) => ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text: p } })),
    ev('content_block_stop', { index: 0 }),
    ev('content_block_start', { index: 1, content_block: { type: 'tool_use', id: 'toolu_1', name: 'send', input: {} } }),
    ev('content_block_delta', { index: 1, delta: { type: 'input_json_delta', partial_json: '' } }),
    ...pieces(argsText, 4).map((p) => ev('content_block_delta', { index: 1, delta: { type: 'input_json_delta', partial_json: p } })),
    ev('content_block_stop', { index: 1 }),
    ev('message_delta', { delta: { stop_reason: 'tool_use', stop_sequence: null }, usage: { output_tokens: 9 } }),
    ev('message_stop', {}),
  ];
  const opts = { json: true, prefill, toolArguments: true };
  const out = runTransformer(watermarkTransformer('anthropic.messages', keyA.key, undefined, opts), events);
  const { url, server } = await serveOnce(serialiseSse(out), 'text/event-stream');
  let streamed: Anthropic.Message;
  try {
    const client = new Anthropic({ baseURL: url, apiKey: 'k', maxRetries: 0 });
    streamed = await client.messages.stream({ model: 'claude-test', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] }).finalMessage();
  } finally { server.close(); }
  const whole = watermarkTransformer('anthropic.messages', keyA.key, undefined, opts).json!({
    id: 'msg_1', type: 'message', role: 'assistant', content: [{ type: 'text', text: answer.slice(25) }, { type: 'tool_use', id: 'toolu_1', name: 'send', input: structuredClone(input) }],
  }) as { content: Record<string, any>[] };
  const tool = streamed.content[1] as Anthropic.ToolUseBlock;
  assert.deepEqual(tool.input, whole.content[1].input, 'streamed and whole tool input are marked alike');
  assert.notDeepEqual(tool.input, input, 'the tool input carries the mark');
  assert.equal((tool.input as typeof input).priority, 'very large', 'a two-word value is kept');
  const text = (streamed.content[0] as Anthropic.TextBlock).text;
  assert.equal(text, whole.content[0].text, 'streamed and whole prefilled JSON text are marked alike');
  assert.notEqual(text, answer.slice(25), 'the prefilled JSON answer carries the mark');
  assert.deepEqual(Object.keys(JSON.parse(prefill + text)), ['answer'], 'prefill and answer make valid JSON');
});

test('transformer: responses function-call arguments and JSON text marked alike in deltas, done events and the final response', () => {
  const args = JSON.stringify({ note: prose.slice(0, 500) });
  const text = JSON.stringify({ answer: passage(500, 1000) });
  const ev = (type: string, data: Record<string, unknown>) => ({ event: type, data: JSON.stringify({ type, ...data }) });
  const events = [
    ...pieces(text).map((p) => ev('response.output_text.delta', { output_index: 0, content_index: 0, item_id: 'msg_1', delta: p })),
    ev('response.output_text.done', { output_index: 0, content_index: 0, item_id: 'msg_1', text }),
    ...pieces(args).map((p) => ev('response.function_call_arguments.delta', { output_index: 1, item_id: 'fc_1', delta: p })),
    ev('response.function_call_arguments.done', { output_index: 1, item_id: 'fc_1', arguments: args }),
    ev('response.output_item.done', { output_index: 1, item: { type: 'function_call', id: 'fc_1', call_id: 'call_1', name: 'f', arguments: args } }),
    ev('response.completed', { response: { output: [{ type: 'message', content: [{ type: 'output_text', text }] }, { type: 'function_call', arguments: args }] } }),
  ];
  const out = runTransformer(watermarkTransformer('openai.responses', keyA.key, undefined, { json: true, toolArguments: true }), events).map((e) => JSON.parse(e.data));
  const joined = (type: string) => out.filter((m) => m.type === type).map((m) => m.delta).join('');
  const expectedArgs = watermarkJson(args, keyA.key).text;
  const expectedText = watermarkJson(text, keyA.key).text;
  assert.notEqual(expectedArgs, args, 'the arguments carry the mark');
  assert.equal(joined('response.function_call_arguments.delta'), expectedArgs, 'streamed arguments');
  assert.equal(out.find((m) => m.type === 'response.function_call_arguments.done').arguments, expectedArgs, 'arguments.done');
  assert.equal(out.find((m) => m.type === 'response.output_item.done').item.arguments, expectedArgs, 'output_item.done');
  const completed = out.find((m) => m.type === 'response.completed').response.output;
  assert.equal(completed[1].arguments, expectedArgs, 'response.completed arguments');
  assert.equal(joined('response.output_text.delta'), expectedText, 'streamed JSON text');
  assert.equal(completed[0].content[0].text, expectedText, 'response.completed JSON text');
});

test('a tag in front of a string value (`ans: ...`) costs the harvester its first sentence, not the mark of the value', () => {
  const prose = readFileSync(new URL('assistant-answers.txt', FIXTURES), 'utf8').slice(0, 1500);
  for (let i = 0; i < 8; i++) {
    const k = deriveWatermarkKey('test-master-secret-0123456789abcdef', { kind: 'account', id: `json_tag_${i}` });
    const plain = watermarkJson(JSON.stringify({ answer: prose }), k.key);
    const tagged = watermarkJson(JSON.stringify({ answer: 'ans: ' + prose }), k.key);
    assert.ok(plain.stats.changed > 0, `the plain answer is marked (key ${i})`);
    assert.ok(tagged.stats.changed > 0 && tagged.stats.changed >= plain.stats.changed / 2, `the tagged answer is marked too: ${tagged.stats.changed} of ${plain.stats.changed} (key ${i})`);
  }
  // A value that never opens a sentence like prose (a command, a path) stays as written.
  const k = deriveWatermarkKey('test-master-secret-0123456789abcdef', { kind: 'account', id: 'json_tag_cmd' });
  const cmd = 'git push origin main --force-with-lease. git checkout main; ls -la /usr/local/bin: done';
  assert.equal(watermarkJson(JSON.stringify({ run: cmd }), k.key).text, JSON.stringify({ run: cmd }), 'commands are left alone');
});
