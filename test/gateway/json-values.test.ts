// A body of very many tiny JSON values (4 MiB of `{}`) costs seconds of the serving thread to
// parse, whoever sends it: it is refused from its bytes before it is parsed, in the caller's error
// format, while a body as large that is mostly text is served.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startTestWarden } from '../helpers/warden.ts';

test('a body holding more JSON values than server.max_json_values is refused before it is parsed', { timeout: 60_000 }, async () => {
  const tw = await startTestWarden({ server: { port: 0, max_json_values: 100_000 } });
  try {
    const { key } = await tw.account('many', 'email_verified');
    const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
    const objects = `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"metadata":{"x":[${Array(200_000).fill('{}').join(',')}]}}`;
    const r = await fetch(`${tw.url}/v1/chat/completions`, { method: 'POST', headers, body: objects });
    const body = await r.json() as any;
    assert.equal(r.status, 400, `refused: ${JSON.stringify(body).slice(0, 300)}`);
    assert.match(body.error.message, /more than 100000 JSON values/, 'the refusal says what is over the bound');
    // A body as large whose commas and brackets are inside its text is served.
    const text = JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 5, messages: [{ role: 'user', content: '[1,2],{a},'.repeat(15_000) }] });
    const served = await fetch(`${tw.url}/v1/chat/completions`, { method: 'POST', headers, body: text });
    assert.equal(served.status, 200, `text full of punctuation is not counted: ${(await served.text()).slice(0, 300)}`);
    // Anthropic's format on its route.
    const a = await fetch(`${tw.url}/v1/messages`, { method: 'POST', headers: { 'x-api-key': key, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' }, body: objects });
    const ab = await a.json() as any;
    assert.equal(a.status, 400);
    assert.equal(ab.type, 'error', `Anthropic error JSON: ${JSON.stringify(ab).slice(0, 200)}`);
  } finally {
    await tw.close();
  }
});

test('embeddings of token ids up to OpenAI\'s own bounds (2,048 inputs, 300,000 tokens) are served by default', { timeout: 60_000 }, async () => {
  // The bound counts the lists' brackets and the commas between them too: 299,008 token ids in
  // 2,048 lists are 301,056 values, which the default must take as OpenAI takes the request.
  const tw = await startTestWarden({ documents: { read_pdfs: false, read_images: false } });
  try {
    const { key } = await tw.account('tokens', 'enterprise');
    const openai = new OpenAI({ apiKey: key, baseURL: `${tw.url}/v1`, maxRetries: 0 });
    const input = Array.from({ length: 2048 }, (_, i) => Array.from({ length: 146 }, (_, j) => 1000 + ((i * 146 + j) % 5000)));
    const r = await openai.embeddings.create({ model: 'text-embedding-3-small', dimensions: 8, input }).catch((e) => e);
    assert.ok(!(r instanceof Error), `served, not refused: ${r}`);
    assert.equal(r.data.length, 2048, 'one vector per input');
  } finally {
    await tw.close();
  }
});
