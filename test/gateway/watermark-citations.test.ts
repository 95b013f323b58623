// Search answers carry citations that point into the answer text by character offsets (Chat
// `annotations[].url_citation`, Responses `output_text.annotations` and the streamed
// `response.output_text.annotation.added`). The watermark swaps words for synonyms of another
// length, so the offsets are moved with the text: an app that slices the text at a citation's
// offsets gets the words it cited, streamed or not.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startHarness, type Harness } from '../helpers/gateway.ts';
import { startRawUpstream, type RawUpstream } from '../helpers/raw-upstream.ts';
import { inlinePolicyHooks } from '../helpers/policy.ts';
import { deriveWatermarkKey } from '../../src/watermark/keys.ts';
import { watermarkText } from '../../src/watermark/embed.ts';

const MASTER = 'citations-test-watermark-master-secret';
const key = deriveWatermarkKey(MASTER, { kind: 'account', id: 'acc_test' }).key;

// An emoji before the citations: the API counts offsets in characters (code points), not UTF-16 units.
const TEXT = 'The harbour 🚢 is basically a huge port and usually busy. It is often crowded, and the main quay is extremely important to trade (example.com). Ships quickly come and go.';
const span = (s: string) => { const start = [...TEXT.slice(0, TEXT.indexOf(s))].length; return { start, end: start + [...s].length }; };
const CITED = ['huge port', 'the main quay is extremely important', 'Ships quickly come and go.'];
const urlCitation = (s: string, i: number) => ({ type: 'url_citation', start_index: span(s).start, end_index: span(s).end, title: `Source ${i}`, url: `https://example.com/${i}` });
/** Token-like deltas (a leading space each), so the word a citation ends on is still being held when the citation arrives. */
const DELTAS = TEXT.match(/\s*\S+/g)!;
const after_ = (word: string) => DELTAS.findIndex((d) => d.trim() === word);

const sse = (event: string | null, data: object | string) => `${event ? `event: ${event}\n` : ''}data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`;

function chatAnswer(body: Record<string, any>): { json?: object; sse?: string } {
  const annotations = CITED.map((s, i) => { const { type, title, url, ...at } = urlCitation(s, i); return { type, url_citation: { ...at, title, url } }; });
  if (!body.stream) {
    return { json: { id: 'chatcmpl-1', object: 'chat.completion', created: 1, model: body.model, choices: [{ index: 0, message: { role: 'assistant', content: TEXT, refusal: null, annotations }, logprobs: null, finish_reason: 'stop' }], usage: { prompt_tokens: 5, completion_tokens: 40, total_tokens: 45 } } };
  }
  const env = { id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: body.model };
  let out = sse(null, { ...env, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }] });
  DELTAS.forEach((d, i) => {
    out += sse(null, { ...env, choices: [{ index: 0, delta: { content: d }, logprobs: null, finish_reason: null }] });
    if (i === after_('important')) out += sse(null, { ...env, choices: [{ index: 0, delta: { annotations: annotations.slice(0, 2) }, logprobs: null, finish_reason: null }] });
  });
  out += sse(null, { ...env, choices: [{ index: 0, delta: { annotations: annotations.slice(2) }, logprobs: null, finish_reason: null }] });
  out += sse(null, { ...env, choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: 'stop' }] });
  if (body.stream_options?.include_usage) out += sse(null, { ...env, choices: [], usage: { prompt_tokens: 5, completion_tokens: 40, total_tokens: 45 } });
  return { sse: out + sse(null, '[DONE]') };
}

function responsesAnswer(body: Record<string, any>): { json?: object; sse?: string } {
  const annotations = CITED.map(urlCitation);
  const part = { type: 'output_text', text: TEXT, annotations, logprobs: [] };
  const search = { id: 'ws_1', type: 'web_search_call', status: 'completed', action: { type: 'search', query: 'harbour' } };
  const message = { id: 'msg_1', type: 'message', status: 'completed', role: 'assistant', content: [part] };
  const usage = { input_tokens: 5, input_tokens_details: { cached_tokens: 0 }, output_tokens: 40, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 45 };
  const response = { id: 'resp_1', object: 'response', created_at: 1, status: 'completed', model: body.model, output: [search, message], usage };
  if (!body.stream) return { json: response };
  let n = 0;
  let out = '';
  const ev = (type: string, data: object) => { out += sse(type, { type, sequence_number: n++, ...data }); };
  const at = { item_id: 'msg_1', output_index: 1, content_index: 0 };
  ev('response.created', { response: { ...response, status: 'in_progress', output: [], usage: null } });
  ev('response.output_item.added', { output_index: 0, item: { ...search, status: 'in_progress' } });
  ev('response.output_item.done', { output_index: 0, item: search });
  ev('response.output_item.added', { output_index: 1, item: { ...message, status: 'in_progress', content: [] } });
  ev('response.content_part.added', { ...at, part: { type: 'output_text', text: '', annotations: [], logprobs: [] } });
  DELTAS.forEach((d, i) => {
    ev('response.output_text.delta', { ...at, delta: d, logprobs: [] });
    if (i === after_('important')) annotations.slice(0, 2).forEach((a, k) => ev('response.output_text.annotation.added', { ...at, annotation_index: k, annotation: a }));
  });
  ev('response.output_text.annotation.added', { ...at, annotation_index: 2, annotation: annotations[2] });
  ev('response.output_text.done', { ...at, text: TEXT, logprobs: [] });
  ev('response.content_part.done', { ...at, part });
  ev('response.output_item.done', { output_index: 1, item: message });
  ev('response.completed', { response });
  return { sse: out };
}

let upstream: RawUpstream;
let h: Harness;
let policy: ReturnType<typeof inlinePolicyHooks>;
before(async () => {
  upstream = await startRawUpstream((req, res, raw) => {
    const body = JSON.parse(raw || '{}');
    const answer = req.url!.startsWith('/v1/responses') ? responsesAnswer(body) : chatAnswer(body);
    if (answer.json) { res.writeHead(200, { 'content-type': 'application/json' }); res.end(JSON.stringify(answer.json)); return; }
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.end(answer.sse);
  });
  // The harness's key is email-verified; its answers are marked.
  policy = inlinePolicyHooks('version: 1\ntiers:\n  email_verified: { watermark: true }\n', { watermarkSecret: MASTER });
  h = await startHarness({ hooks: [policy.hooks], upstreamOverride: () => [{ name: 'search', base_url: upstream.url, models: ['*'] }] });
});
after(async () => { await h.close(); await upstream.close(); policy.cleanup(); });

const sdk = () => new OpenAI({ apiKey: h.key, baseURL: `${h.url}/v1`, maxRetries: 0 });
const MARKED = watermarkText(TEXT, key).text;
/** The marked words standing where `cited` stood: the text is cut into the same whitespace-separated words. */
function markedWords(cited: string): string {
  const words = TEXT.split(/(\s+)/);
  const marked = MARKED.split(/(\s+)/);
  const at = TEXT.indexOf(cited);
  let pos = 0;
  let first = -1;
  let last = -1;
  for (let i = 0; i < words.length; i++) {
    if (pos >= at && first === -1) first = i;
    pos += words[i].length;
    if (pos >= at + cited.length) { last = i; break; }
  }
  return marked.slice(first, last + 1).join('');
}
/** The text an annotation points at, counted in code points as the API counts them. */
const sliceAt = (text: string, start: number, end: number) => [...text].slice(start, end).join('');

test('the marked text is another length than the upstream\'s before and inside the citations (what the test relies on)', () => {
  assert.notEqual(MARKED.length, TEXT.length, `marked: ${MARKED}`);
  for (const cited of CITED.slice(0, 2)) {
    const { start, end } = span(cited);
    assert.notEqual(sliceAt(MARKED, start, end), markedWords(cited), `the upstream's offsets no longer fit "${cited}" in: ${MARKED}`);
  }
});

test('Chat Completions: annotations point at the cited words of the marked text, whole and streamed', async () => {
  const res = await sdk().chat.completions.create({ model: 'gpt-4o-search-preview', messages: [{ role: 'user', content: 'harbour?' }] });
  const msg = res.choices[0].message;
  assert.equal(msg.content, MARKED, 'the answer is marked');
  const seen = msg.annotations!.map((a) => sliceAt(msg.content!, a.url_citation.start_index, a.url_citation.end_index));
  assert.deepEqual(seen, CITED.map(markedWords), `what the citations point at: ${JSON.stringify(seen)}`);

  const stream = await sdk().chat.completions.create({ model: 'gpt-4o-search-preview', messages: [{ role: 'user', content: 'harbour?' }], stream: true });
  let text = '';
  const annotations: any[] = [];
  for await (const chunk of stream) {
    const delta = chunk.choices[0]?.delta as { content?: string; annotations?: any[] } | undefined;
    text += delta?.content ?? '';
    annotations.push(...(delta?.annotations ?? []));
  }
  assert.equal(text, MARKED, 'streamed, marked the same');
  const streamed = annotations.map((a) => sliceAt(text, a.url_citation.start_index, a.url_citation.end_index));
  assert.deepEqual(streamed, CITED.map(markedWords), `what the streamed citations point at: ${JSON.stringify(streamed)}`);
});

test('Responses: annotations point at the cited words of the marked text, whole, streamed event by event, and in the stream helper\'s final response', async () => {
  const res = await sdk().responses.create({ model: 'gpt-4.1', input: 'harbour?', tools: [{ type: 'web_search' }] });
  const part = (res.output[1] as any).content[0];
  assert.equal(part.text, MARKED, 'the answer is marked');
  const seen = part.annotations.map((a: any) => sliceAt(part.text, a.start_index, a.end_index));
  assert.deepEqual(seen, CITED.map(markedWords), `what the citations point at: ${JSON.stringify(seen)}`);

  const stream = sdk().responses.stream({ model: 'gpt-4.1', input: 'harbour?', tools: [{ type: 'web_search' }] });
  let text = '';
  const added: any[] = [];
  stream.on('response.output_text.delta', (e) => { text += e.delta; });
  stream.on('response.output_text.annotation.added', (e) => { added.push(e.annotation); });
  const final = await stream.finalResponse();
  assert.equal(text, MARKED, 'streamed, marked the same');
  const streamed = added.map((a) => sliceAt(text, a.start_index, a.end_index));
  assert.deepEqual(streamed, CITED.map(markedWords), `what the streamed citations point at: ${JSON.stringify(streamed)}`);
  const finalPart = (final.output[1] as any).content[0];
  assert.deepEqual(finalPart.annotations, added, 'the final response holds the annotations as they were streamed');
});
