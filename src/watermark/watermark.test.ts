import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { deriveWatermarkKey, parseSubject } from './keys.ts';
import { StreamingWatermarker, watermarkText } from './embed.ts';
import { detectWatermark, poissonBinomialTail } from './detect.ts';
import { watermarkTransformer } from './transform.ts';
import { runWatermarkCli } from './cli.ts';
import { readSseFixture, runTransformer, serialiseSse, serveOnce, FIXTURES } from '../../test/helpers/sse-fixtures.ts';

const MASTER = 'test-master-secret-0123456789abcdef';
const prose = readFileSync(new URL('assistant-answers.txt', FIXTURES), 'utf8');
const licence = readFileSync(new URL('../../LICENSE', import.meta.url), 'utf8');
const keyA = deriveWatermarkKey(MASTER, { kind: 'account', id: 'acc_a' });
const keyB = deriveWatermarkKey(MASTER, { kind: 'account', id: 'acc_b' });

test('keys: HKDF per subject, deterministic, ids name the subject, weak masters refused', () => {
  assert.deepEqual(deriveWatermarkKey(MASTER, { kind: 'account', id: 'acc_a' }).key, keyA.key);
  assert.notDeepEqual(keyA.key, keyB.key);
  assert.notDeepEqual(deriveWatermarkKey(MASTER, { kind: 'cluster', id: 'acc_a' }).key, keyA.key);
  assert.equal(keyA.id, 'wm1:account:acc_a');
  assert.deepEqual(parseSubject('wm1:cluster:c_9'), { kind: 'cluster', id: 'c_9' });
  assert.throws(() => parseSubject('user:1'), /account:<id>/);
  assert.throws(() => deriveWatermarkKey('short', { kind: 'account', id: 'x' }), /at least 16/);
});

test('embedding changes only lexicon words, keeps case and punctuation, never touches code or URLs', () => {
  const { text, stats } = watermarkText(prose, keyA.key);
  assert.ok(stats.changed > 10, `changed ${stats.changed}`);
  assert.equal(text.split(/\s+/).length, prose.split(/\s+/).length);
  assert.ok(stats.changed / stats.words < 0.1, "a small share of words changes");
  const code = 'Use `often` here:\n```\nconst large = often(big);\n```\nSee https://big.example/often and big.';
  const marked = watermarkText(code, keyA.key).text;
  assert.match(marked, /`often`/);
  assert.match(marked, /const large = often\(big\);/);
  assert.match(marked, /https:\/\/big\.example\/often/);
  // Case is kept: "Moreover" stays capitalised whichever member is chosen.
  const sentence = watermarkText('Moreover, it is OFTEN big.', keyB.key).text;
  assert.match(sentence, /^(Moreover|Furthermore|Additionally), it is (OFTEN|FREQUENTLY) (big|large)\.$/);
});

test('embedding leaves code and JSON alone whatever marks them as such: ~~~ fences, indented blocks, <pre>, unfenced answers', () => {
  const keys = Array.from({ length: 8 }, (_, i) => deriveWatermarkKey(MASTER, { kind: 'account', id: `code_${i}` }));
  const texts = {
    tildeFence: 'Here is the code:\n\n~~~python\ndef pick(items, large=True):\n    several = [i for i in items if i.big]\n    return several if large else items\n~~~\n',
    indented: 'And indented:\n\n    total = often + frequently\n    big = several\n',
    pre: 'Run this:\n<pre>\nwhile several: several = several - 1\nlarge big often\n</pre>\n',
    json: '{"size": "large", "flags": ["often", "several"], "note": "thus"}\n',
    jsonArray: '[\n  "often",\n  "big"\n]',
    codeOnly: 'import os\nwhile True:\n    large = 1\n    several = often\n',
    html: '<div class="big">\n  <p>It is often several.</p>\n</div>\n',
    jsonInProse: 'The result is:\n{"size": "large",\n "kind": "big", "note": "often"}\n',
  };
  for (const [name, text] of Object.entries(texts)) {
    for (const k of keys) {
      const { text: out, stats } = watermarkText(text, k.key);
      assert.equal(out, text, `${name} changed by ${k.id}`);
      assert.equal(stats.changed, 0, `${name}: no word changed by ${k.id}`);
    }
  }
  // Prose around the code is still marked, and the prose after a closed block is too.
  const mixed = 'It is often big.\n\n~~~\nbig = often\n~~~\n\nIt is often big.\n\n    often = big\n\nIt is often big.';
  const changed = keys.filter((k) => watermarkText(mixed, k.key).text !== mixed).length;
  assert.ok(changed > 0, 'prose next to code is still marked');
  for (const k of keys) {
    const out = watermarkText(mixed, k.key).text;
    assert.ok(out.includes('~~~\nbig = often\n~~~') && out.includes('    often = big'), `code kept by ${k.id}: ${out}`);
  }
  // A reasoning model's <think> opening its answer is not markup: the answer is still marked.
  assert.ok(keys.some((k) => watermarkText('<think> It is often big. </think> It is often big.', k.key).stats.changed > 0), 'an answer opening with <think> is marked');
  // Loop keywords starting a line are left alone, even in code the scheme cannot recognise.
  const loops = 'The loop:\nwhile True:\n  pass\nuntil done\n';
  for (const k of keys) assert.equal(watermarkText(loops, k.key).text, loops, `while and until at a line start kept by ${k.id}`);
});

test('code in ``` fences stays byte-identical, nested fences and fences in list items included; the prose around it is marked and attributed', () => {
  const keys = Array.from({ length: 8 }, (_, i) => deriveWatermarkKey(MASTER, { kind: 'account', id: `fence_${i}` }));
  const code = (t: string) => [...t.matchAll(/^( *(?:[-*+] |\d+\. )?)(`{3,}|~{3,})[^\n]*\n[\s\S]*?^ *\2[ \t]*$/gm)].map((m) => m[0]);
  const answers = {
    // A README shown in a four-backtick fence holds a three-backtick block: all of it is the file.
    nested: 'Here is a README:\n\n````markdown\n# Tool\n\n```python\nwhile several: large = often\n```\n\nIt is often big and several are large.\n````\n\nIt is often big.\n',
    // An opening fence with an info string is not a closing one.
    infoInside: 'It is often big.\n\n```\nsteps:\n```bash\nwhile several: large = often\n```\n\nIt is often big.\n',
    listItem: 'Steps:\n\n1. ```sh\n   while several: large = often\n   ```\n2. It is often big.\n',
  };
  for (const [name, text] of Object.entries(answers)) {
    const blocks = code(text);
    assert.ok(blocks.length > 0, `${name}: the test finds its fenced blocks`);
    for (const k of keys) {
      const out = watermarkText(text, k.key).text;
      for (const b of blocks) assert.ok(out.includes(b), `${name}: code kept byte for byte by ${k.id}: ${JSON.stringify(out)}`);
    }
  }
  // Three backticks inside a line are an inline code span, not a fence: the prose after it is marked.
  const inline = 'Run ```npm test``` first. It is often big and several are large, thus it is often big.';
  assert.ok(keys.some((k) => watermarkText(inline, k.key).stats.changed > 0), 'prose after an inline ``` span is marked');
  for (const k of keys) assert.ok(watermarkText(inline, k.key).text.startsWith('Run ```npm test``` first.'), `the span kept by ${k.id}`);
  const atLineStart = '```npm test``` runs it. It is often big and several are large, thus it is often big.';
  assert.ok(keys.some((k) => watermarkText(atLineStart, k.key).stats.changed > 0), 'prose after an inline ``` span opening the line is marked');

  // A mixed answer (prose, a fenced program, prose): the programs come back unchanged, the answers are attributed to their key.
  const paras = prose.split(/\n\s*\n/).filter((p) => p.trim()).slice(0, 24);
  const program = '```python\nimport os\n\ndef pick(items, large=True):\n    # often several, thus big\n    several = [i for i in items if i.big]\n    return several if large else items\n```';
  const mixed = paras.map((p, i) => (i % 3 === 2 ? `${p}\n\n${program}` : p)).join('\n\n');
  const marked = watermarkText(mixed, keyA.key);
  assert.equal(marked.text.split(program).length, mixed.split(program).length, 'every program unchanged');
  const prosePart = (t: string) => t.split(program).join('\n');
  assert.ok(marked.stats.changed > 5, `the prose is marked (${marked.stats.changed} words)`);
  assert.notEqual(prosePart(marked.text), prosePart(mixed), 'prose outside the fences changed');
  const r = detectWatermark(marked.text, [keyA, keyB, ...keys], 1e-3);
  assert.ok(r.detected && r.best?.keyId === keyA.id, `the mixed answer is attributed to its key (best ${r.best?.keyId}, p=${r.best?.correctedP})`);
  assert.equal(detectWatermark(mixed, [keyA, keyB, ...keys], 1e-3).detected, false, 'the unmarked answer is attributed to no one');
  // Streamed in small pieces, the same text.
  const w = new StreamingWatermarker(keyA.key);
  let out = '';
  for (let i = 0; i < mixed.length; i += 5) out += w.push(mixed.slice(i, i + 5));
  assert.equal(out + w.end(), marked.text, 'streamed equals whole');
});

test('a cosmetic opening a harvester strips afterwards costs it at most the words next to it, not the mark', () => {
  const paras = prose.split(/\n\s*\n/).filter((p) => p.trim()).slice(0, 40);
  const evasions: Record<string, { ask: (ps: string[]) => string; strip: (t: string) => string }> = {
    'answer opens "[A]"': { ask: (ps) => '[A] ' + ps.join('\n\n'), strip: (t) => t.replace(/^\[A\] /, '') },
    'answer opens "[1]"': { ask: (ps) => '[1] ' + ps.join('\n\n'), strip: (t) => t.replace(/^\[1\] /, '') },
    'answer opens lower-case "for"': { ask: (ps) => 'for ' + ps.join('\n\n'), strip: (t) => t.replace(/^for /, '') },
    'each paragraph opens "§="': { ask: (ps) => ps.map((p) => '§= ' + p).join('\n\n'), strip: (t) => t.replace(/^§= /gm, '') },
    'each paragraph opens "{1}"': { ask: (ps) => ps.map((p) => '{1} ' + p).join('\n\n'), strip: (t) => t.replace(/^\{1\} /gm, '') },
  };
  const honest = watermarkText(paras.join('\n\n'), keyA.key).stats.slots;
  for (const [name, v] of Object.entries(evasions)) {
    const { text, stats } = watermarkText(v.ask(paras), keyA.key);
    assert.ok(stats.slots >= honest / 2, `${name}: most slots are still marked (${stats.slots} of ${honest})`);
    const r = detectWatermark(v.strip(text), [keyA], 1e-3);
    assert.ok(r.detected, `${name}: the stripped harvest is attributed (p=${r.best?.correctedP})`);
    const again = new StreamingWatermarker(keyA.key);
    const asked = v.ask(paras);
    let out = '';
    for (let i = 0; i < asked.length; i += 7) out += again.push(asked.slice(i, i + 7));
    assert.equal(out + again.end(), text, `${name}: streamed equals whole`);
  }
});

test('streaming gives exactly the whole-text result for any split of the input', () => {
  const sample = prose.slice(0, 2500);
  const whole = watermarkText(sample, keyA.key).text;
  fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: sample.length }), { maxLength: 40 }), (cuts) => {
    const points = [...new Set(cuts)].sort((a, b) => a - b);
    const w = new StreamingWatermarker(keyA.key);
    let out = '', last = 0;
    for (const p of points) { out += w.push(sample.slice(last, p)); last = p; assert.ok(w.held <= 40, 'holds back at most one partial word'); }
    out += w.push(sample.slice(last)) + w.end();
    assert.equal(out, whole);
  }), { numRuns: 200 });
});


test('offsets into the text as written move with the mark: every word boundary lands on the same word, for any split, emoji counted as one character', () => {
  const sample = `Ships 🚢 come here. ${prose.slice(0, 1500)}`;
  const whole = watermarkText(sample, keyA.key).text;
  assert.notEqual(whole.length, sample.length, 'the sample has words replaced by synonyms of another length');
  // Word boundaries (start and end of each whitespace-separated word), in code points, in both texts.
  const bounds = (s: string) => { const out: number[] = []; const cps = [...s]; for (let i = 0; i <= cps.length; i++) { const space = (j: number) => j < 0 || j >= cps.length || /\s/.test(cps[j]); if (space(i - 1) !== space(i)) out.push(i); } return out; };
  const from = bounds(sample);
  const to = bounds(whole);
  assert.equal(from.length, to.length);
  fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: sample.length }), { maxLength: 30 }), (cuts) => {
    const points = [...new Set(cuts)].sort((a, b) => a - b).filter((p) => !/[\uDC00-\uDFFF]/.test(sample[p] ?? ''));
    const w = new StreamingWatermarker(keyA.key);
    let out = '', last = 0;
    for (const p of points) {
      out += w.push(sample.slice(last, p));
      last = p;
      // Every boundary of the text pushed so far, the held word's end included, is where the marked text will have it.
      const written = [...sample.slice(0, p)].length;
      for (let k = 0; k < from.length && from[k] <= written; k++) assert.equal(w.mapOffset(from[k]), to[k], `boundary ${k} after ${p} characters`);
    }
    out += w.push(sample.slice(last)) + w.end();
    assert.equal(out, whole, 'mapping offsets changes nothing of the marked text');
    for (let k = 0; k < from.length; k += 7) assert.equal(w.mapOffset(from[k]), to[k]);
  }), { numRuns: 60 });
});
test('detection: marked text found with its key; clean text and other keys are not', () => {
  const marked = watermarkText(prose, keyA.key).text;
  const hit = detectWatermark(marked, [keyA], 1e-3);
  assert.ok(hit.detected);
  assert.ok(hit.best!.pValue < 1e-9, `p=${hit.best!.pValue}`);
  assert.equal(hit.best!.matches, hit.slots);
  assert.equal(detectWatermark(prose, [keyA], 1e-3).detected, false);
  assert.equal(detectWatermark(marked, [keyB], 1e-3).detected, false);
});

test('attribution: among 200 candidate keys the right one wins, after Bonferroni correction', () => {
  const keys = Array.from({ length: 200 }, (_, i) => deriveWatermarkKey(MASTER, { kind: 'account', id: `acc_${i}` }));
  const marked = watermarkText(prose, keys[137].key).text;
  const r = detectWatermark(marked, keys, 1e-3);
  assert.ok(r.detected);
  assert.equal(r.best!.keyId, 'wm1:account:acc_137');
  assert.ok(Math.abs(r.best!.correctedP - Math.min(1, r.best!.pValue * 200)) < 1e-15);
  assert.ok(r.scores[1].pValue > 1e-3, 'the runner-up is not significant');
});

test('false positives: clean human text against 500 keys stays under alpha', () => {
  const texts = [prose, licence, ...licence.split(/\n\s*\n/).filter((p) => p.split(/\s+/).length > 60)];
  let trials = 0, positives = 0;
  for (let i = 0; i < 500; i++) {
    const key = deriveWatermarkKey(MASTER, { kind: 'account', id: `fp_${i}` });
    for (const t of texts) { trials++; if (detectWatermark(t, [key], 1e-3).detected) positives++; }
  }
  assert.ok(positives / trials <= 2e-3, `${positives}/${trials}`);
});

test('detection reads through invisible characters and compatibility forms a harvester might insert', () => {
  const marked = watermarkText(prose, keyA.key).text;
  const clean = detectWatermark(marked, [keyA], 1e-3);
  assert.ok(clean.detected, 'the marked text is detected');
  const variants = {
    zeroWidthSpace: marked.replaceAll(' ', ' \u200b'),
    softHyphen: marked.replace(/\b(\w)(\w)/g, '$1\u00ad$2'),
    wordJoiner: marked.replaceAll(' ', '\u2060 '),
    byteOrderMark: marked.replaceAll(' ', ' \ufeff'),
    fullwidth: marked.replace(/[a-z]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 0xfee0)),
    cyrillicLookalikes: marked.replace(/[aeo]/g, (c) => ({ a: '\u0430', e: '\u0435', o: '\u043e' })[c]!),
  };
  for (const [name, text] of Object.entries(variants)) {
    const r = detectWatermark(text, [keyA], 1e-3);
    assert.ok(r.detected, `${name}: detected (slots ${r.slots}, matches ${r.best?.matches})`);
    assert.equal(r.slots, clean.slots, `${name}: the same slots as the clean text`);
  }
});

test('poisson-binomial tail equals the binomial tail for equal p', () => {
  const tail = poissonBinomialTail(Array(10).fill(0.5));
  assert.equal(tail[0], 1);
  assert.ok(Math.abs(tail[10] - 1 / 1024) < 1e-15);
  assert.ok(Math.abs(tail[9] - 11 / 1024) < 1e-15);
});

test('transformer: chat stream marked in flight equals marking the whole answer; SDK reads it', async () => {
  const events = readSseFixture('openai-chat-reasoning.sse');
  const original = events.filter((e) => e.data.startsWith('{')).map((e) => JSON.parse(e.data).choices[0]?.delta?.content ?? '').join('');
  const out = runTransformer(watermarkTransformer('openai.chat', keyA.key), events);
  const { url, server } = await serveOnce(serialiseSse(out), 'text/event-stream');
  try {
    const client = new OpenAI({ baseURL: url + '/v1', apiKey: 'k', maxRetries: 0 });
    const c = await client.chat.completions.stream({ model: 'm', messages: [{ role: 'user', content: 'x' }] }).finalChatCompletion();
    assert.equal(c.choices[0].message.content, watermarkText(original, keyA.key).text);
  } finally { server.close(); }
});

test('transformer: chat deltas that repeat their envelope are marked in place, as parsing each chunk marks them', () => {
  const head = (index = 0) => `{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":${index},"delta":{"content":`;
  const delta = (text: string, tail = ',"logprobs":null,"finish_reason":null}],"usage":null}', index = 0) => ({ data: `${head(index)}${JSON.stringify(text)}}${tail}` });
  // Pieces end mid-word, so the marker holds text back until a finish or a tool call releases it.
  const words = prose.slice(0, 1200).match(/[\s\S]{1,7}/g)!;
  const events = [
    { data: '{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}],"usage":null}' },
    ...words.slice(0, 60).map((w) => delta(w)),
    delta(' a "quoted" wörd\n🤔 '),
    delta(''),
    ...words.slice(60, 80).map((w, k) => delta(w, `,"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"${'x'.repeat(k % 5)}"}`)),
    ...words.slice(80, 100).flatMap((w) => [delta(w), delta(w.toUpperCase(), undefined, 1)]),
    delta(words[100], ',"logprobs":null,"finish_reason":null,"extra":{"content":1}}],"usage":null}'),
    ...words.slice(101, 140).map((w) => delta(w)),
    { data: `${head()}"${words[140]}","tool_calls":[{"index":0,"id":"t","type":"function","function":{"name":"f","arguments":"{}"}}]},"logprobs":null,"finish_reason":null}],"usage":null}` },
    ...words.slice(141, 160).map((w) => delta(w)),
    delta(words[160], ',"logprobs":null,"finish_reason":"stop"}],"usage":null}'),
    { data: '{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":161}}' },
    { data: '[DONE]' },
  ];
  const marked = runTransformer(watermarkTransformer('openai.chat', keyA.key), events);
  // The reference: each chunk with its own spacing, so that no two share an envelope and every one is parsed.
  const unique = events.map((e, k) => ({ data: e.data.replace('{"id"', `{${' '.repeat(k + 1)}"id"`) }));
  const reference = runTransformer(watermarkTransformer('openai.chat', keyA.key), unique);
  // Padding refitted to a marked delta is random: its length is what the two paths must agree on.
  const sized = (c: any) => (typeof c.obfuscation === 'string' ? Object.assign(c, { obfuscation: c.obfuscation.length }) : c);
  const parsed = (es: { data: string }[]) => es.map((e) => (e.data.startsWith('{') ? sized(JSON.parse(e.data)) : e.data));
  assert.deepEqual(parsed(marked), parsed(reference));
  const text = (es: { data: string }[], index: number) => parsed(es).flatMap((c) => (typeof c === 'object' ? c.choices.filter((x: any) => x.index === index).map((x: any) => x.delta.content ?? '') : [])).join('');
  assert.notEqual(text(marked, 0), text(events, 0), 'the text was marked');
  assert.equal(marked[5].data.slice(0, head().length), head(), 'a repeated delta keeps the upstream\'s bytes around its text');
});

test('transformer: anthropic text deltas that repeat their envelope are marked in place, as parsing each event marks them', () => {
  const pieces = prose.slice(0, 900).match(/[\s\S]{1,6}/g)!;
  const delta = (index: number, text: string, extra = '') => ({ event: 'content_block_delta', data: `{"type":"content_block_delta","index":${index},"delta":{"type":"text_delta","text":${JSON.stringify(text)}${extra}}}` });
  const events = [
    { event: 'message_start', data: '{"type":"message_start","message":{"id":"m","type":"message","role":"assistant","content":[],"model":"c","usage":{"input_tokens":3,"output_tokens":1}}}' },
    { event: 'content_block_start', data: '{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}' },
    { event: 'content_block_delta', data: '{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"the house by the river"}}' },
    { event: 'content_block_stop', data: '{"type":"content_block_stop","index":0}' },
    { event: 'content_block_start', data: '{"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}' },
    ...pieces.slice(0, 50).map((p) => delta(1, p)),
    delta(1, ' a "quoted" wörd\n🤔 '),
    delta(1, pieces[50], ',"extra":1'),
    ...pieces.slice(51, 90).map((p) => delta(1, p)),
    { event: 'ping', data: '{"type":"ping"}' },
    ...pieces.slice(90, 100).map((p) => delta(1, p)),
    { event: 'content_block_stop', data: '{"type":"content_block_stop","index":1}' },
    delta(1, 'after the block stopped'),
    { event: 'content_block_start', data: '{"type":"content_block_start","index":2,"content_block":{"type":"text","text":""}}' },
    ...pieces.slice(100, 150).map((p) => delta(2, p)),
    { event: 'content_block_stop', data: '{"type":"content_block_stop","index":2}' },
    { event: 'message_delta', data: '{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":150}}' },
    { event: 'message_stop', data: '{"type":"message_stop"}' },
  ];
  const marked = runTransformer(watermarkTransformer('anthropic.messages', keyB.key), events);
  const unique = events.map((e, k) => ({ ...e, data: e.data.replace('{"type"', `{${' '.repeat(k + 1)}"type"`) }));
  const reference = runTransformer(watermarkTransformer('anthropic.messages', keyB.key), unique);
  const parsed = (es: { event?: string; data: string }[]) => es.map((e) => [e.event, JSON.parse(e.data)]);
  assert.deepEqual(parsed(marked), parsed(reference));
  const text = (es: { data: string }[], index: number) => es.map((e) => JSON.parse(e.data)).filter((m) => m.index === index && m.delta?.type === 'text_delta').map((m) => m.delta.text).join('');
  assert.notEqual(text(marked, 1), text(events, 1), 'the text was marked');
});

test('transformer: anthropic stream text blocks marked, tool input untouched', async () => {
  const out = runTransformer(watermarkTransformer('anthropic.messages', keyB.key), readSseFixture('anthropic-thinking-tool.sse'));
  const { url, server } = await serveOnce(serialiseSse(out), 'text/event-stream');
  try {
    const client = new Anthropic({ baseURL: url, apiKey: 'k', maxRetries: 0 });
    const m = await client.messages.stream({ model: 'claude-test', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] }).finalMessage();
    const text = (m.content[1] as Anthropic.TextBlock).text;
    assert.equal(text, watermarkText("I'll check the current weather in Paris for you. It is usually important to pack for a large range of temperatures.", keyB.key).text);
    assert.deepEqual((m.content[2] as Anthropic.ToolUseBlock).input, { location: 'Paris, France' });
  } finally { server.close(); }
});

test('transformer: responses deltas and every final copy of the text agree', async () => {
  const out = runTransformer(watermarkTransformer('openai.responses', keyA.key), readSseFixture('openai-responses-reasoning.sse'));
  const expected = watermarkText('The greatest common divisor of 1071 and 462 is 21. This method is usually the quickest way, especially for large numbers.', keyA.key).text;
  const parsed = out.map((e) => JSON.parse(e.data));
  const deltas = parsed.filter((m) => m.type === 'response.output_text.delta').map((m) => m.delta).join('');
  assert.equal(deltas, expected);
  assert.equal(parsed.find((m) => m.type === 'response.output_text.done').text, expected);
  assert.equal(parsed.find((m) => m.type === 'response.completed').response.output[1].content[0].text, expected);
  const { url, server } = await serveOnce(serialiseSse(out), 'text/event-stream');
  try {
    const client = new OpenAI({ baseURL: url + '/v1', apiKey: 'k', maxRetries: 0 });
    const r = await client.responses.stream({ model: 'm', input: 'x' }).finalResponse();
    assert.equal(r.output_text, expected);
  } finally { server.close(); }
});

test('cli: detect reports the matching key and exit codes', async () => {
  const marked = watermarkText(prose, keyB.key).text;
  let out = '', err = '';
  const io = { stdout: (s: string) => { out += s; }, stderr: (s: string) => { err += s; }, stdin: () => marked, env: { WM: MASTER } };
  assert.equal(await runWatermarkCli(['detect', '--secret', 'env:WM', '--subject', 'account:acc_a', '--subject', 'account:acc_b'], io), 0);
  assert.match(out, /WATERMARK DETECTED for wm1:account:acc_b/);
  out = '';
  const clean = { ...io, stdin: () => prose };
  assert.equal(await runWatermarkCli(['detect', '--secret', 'env:WM', '--subject', 'account:acc_a', '--json'], clean), 1);
  assert.equal(JSON.parse(out).detected, false);
  assert.equal(await runWatermarkCli(['detect', '--secret', 'env:WM'], io), 2);
  assert.match(err, /no candidate keys/);
  assert.equal(await runWatermarkCli(['detect', '--secret', 'env:MISSING', '--subject', 'account:a'], io), 2);
  assert.equal(await runWatermarkCli(['frobnicate'], io), 2);
});

test('cli: the master secret comes from the configuration as every command reads it (-c, $WARDEN_CONFIG, ./warden.yaml), before the environment', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-watermark-cli-'));
  const cwd = process.cwd();
  try {
    const file = join(dir, 'warden.yaml');
    writeFileSync(file, `watermark:\n  master_secret: ${MASTER}\n`);
    const marked = watermarkText(prose, keyB.key).text;
    let out = '', err = '';
    const run = (argv: string[], env: NodeJS.ProcessEnv) => {
      out = ''; err = '';
      return runWatermarkCli(['detect', '--subject', 'account:acc_a', '--subject', 'account:acc_b', ...argv], { stdout: (s) => { out += s; }, stderr: (s) => { err += s; }, stdin: () => marked, env });
    };
    for (const argv of [['-c', file], ['--config', file], [`--config=${file}`]]) {
      assert.equal(await run(argv, {}), 0, `${argv.join(' ')}: ${err}`);
      assert.match(out, /WATERMARK DETECTED for wm1:account:acc_b/);
    }
    assert.equal(await run([], { WARDEN_CONFIG: file }), 0, err);
    // The configured secret is the one the gateway marks with: another in the environment does not replace it.
    assert.equal(await run(['-c', file], { WARDEN_WATERMARK_SECRET: 'another-master-secret-0123456789' }), 0, err);
    process.chdir(dir);
    assert.equal(await run([], {}), 0, `./warden.yaml: ${err}`);
    assert.equal(await run(['-c', ''], {}), 2);
    assert.match(err, /needs a file/);
  } finally {
    process.chdir(cwd);
    rmSync(dir, { recursive: true, force: true });
  }
});
