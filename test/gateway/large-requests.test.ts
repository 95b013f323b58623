// A request of very many messages costs the gateway, and takes in its store, a bounded amount: its
// event keeps the first and last messages and counts those it leaves out, within a budget of
// prompt characters, and the detector still counts every turn.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, storedEvents, GOOD_KEY, type Harness } from '../helpers/gateway.ts';
import { extractFeatures, flagNames } from '../../src/detect/features.ts';

let h: Harness;
before(async () => { h = await startHarness(); });
after(() => h.close());

const oa = { 'content-type': 'application/json', authorization: `Bearer ${GOOD_KEY}` };

async function chat(messages: unknown[]) {
  const r = await fetch(`${h.url}/v1/chat/completions`, { method: 'POST', headers: oa, body: JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 5, messages }) });
  const body = await r.json() as any;
  return { status: r.status, body, id: r.headers.get('x-warden-request-id') };
}

async function eventOf(id: string | null) {
  for (let n = 1; n < 50; n++) {
    const e = (await storedEvents(h, n)).find((x) => x.id === id);
    if (e) return e;
  }
  assert.fail(`no event ${id}`);
}

test('an event of a 5,000-message request keeps the first and last messages, counts the rest, and stays small', async () => {
  // An agent's session: set up with a user and an assistant turn, then tool steps, then user turns.
  // (The tool steps answer the calls of the assistant turn before them, as the API requires.)
  const calls = Array.from({ length: 2000 }, (_, i) => ({ id: `c${i}`, type: 'function', function: { name: 'step', arguments: '{}' } }));
  const messages: unknown[] = [{ role: 'user', content: 'SETUP: you are a helpful agent' }, { role: 'assistant', content: 'ok', tool_calls: calls }];
  for (let i = 0; i < 2000; i++) messages.push({ role: 'tool', tool_call_id: `c${i}`, content: 'step done' });
  while (messages.length < 4999) messages.push({ role: 'user', content: 'hi' });
  messages.push({ role: 'user', content: 'FINAL QUESTION' });
  const r = await chat(messages);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const e = await eventOf(r.id);
  const size = Buffer.byteLength(JSON.stringify(e));
  assert.ok(size < 64 * 1024, `the stored event is ${size} bytes for 5,000 messages`);
  assert.equal(e.request.messages.length, 200, 'events.max_messages (200) messages are kept');
  assert.equal(e.request.messages[0].text, 'SETUP: you are a helpful agent', 'the first message is kept');
  assert.equal(e.request.messages.at(-1)!.text, 'FINAL QUESTION', 'the last message is kept');
  const omitted = e.request.messages_omitted;
  assert.ok(omitted, 'the event says messages were left out');
  assert.equal(omitted.count, 4800, 'and how many');
  // The first 50 are kept: the set-up and 48 tool steps.
  assert.deepEqual(omitted.roles, { tool: 1952, user: 2848 }, 'and of which roles');
  assert.equal(omitted.chars, 1952 * 'step done'.length + 2848 * 'hi'.length, 'and how many characters they held');
  // The tool steps were all left out of the event: the detector still sees an agent's trace.
  assert.ok(flagNames(extractFeatures(e).flags).includes('agenticTrace'), 'the detector counts the tool steps left out');
});

test('an event keeps at most events.max_prompt_chars of prompt text, the last message whole', async () => {
  const long = (c: string) => c.repeat(8000);
  const messages: unknown[] = [{ role: 'system', content: 'You are terse.' }];
  for (let i = 0; i < 60; i++) messages.push({ role: i % 2 ? 'assistant' : 'user', content: long(String.fromCharCode(97 + (i % 26))) });
  messages.push({ role: 'user', content: 'THE QUESTION' });
  const r = await chat(messages);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const e = await eventOf(r.id);
  const kept = (e.request.system?.length ?? 0) + e.request.messages.reduce((n, m) => n + (m.text?.length ?? 0), 0);
  assert.ok(kept <= 256 * 1024, `the event keeps ${kept} characters of prompt`);
  assert.equal(e.request.system, 'You are terse.', 'the system prompt is kept');
  assert.equal(e.request.messages.at(-1)!.text, 'THE QUESTION', 'the last message is kept');
  assert.equal(e.request.messages.length, 61, 'every message is listed');
  assert.ok(e.request.messages.every((m) => m.chars === (m.text === 'THE QUESTION' ? 12 : 8000)), 'each with its full length');
});

test('a request of more than server.max_request_items messages or parts is refused in its API format, and its event is small', async () => {
  const messages = Array.from({ length: 20_000 }, () => ({ role: 'user', content: 'hi' }));
  const r = await chat(messages);
  assert.equal(r.status, 400, 'refused');
  assert.equal(r.body.error.type, 'invalid_request_error', 'as OpenAI refuses a request');
  assert.equal(r.body.error.param, 'messages');
  assert.match(r.body.error.message, /holds 20000 .*at most 10000/, 'saying how many it holds and how many are accepted');
  const e = await eventOf(r.id);
  assert.equal(e.response.status, 400);
  assert.ok(Buffer.byteLength(JSON.stringify(e)) < 4096, 'the refusal is recorded, small');

  // Anthropic: one message of 12,000 text parts.
  const content = Array.from({ length: 12_000 }, () => ({ type: 'text', text: 'x' }));
  const a = await fetch(`${h.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': GOOD_KEY, 'anthropic-version': '2023-06-01' },
    body: JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 5, messages: [{ role: 'user', content }] }) });
  const ab = await a.json() as any;
  assert.equal(a.status, 400, 'refused');
  assert.equal(ab.type, 'error', 'in the Anthropic format');
  assert.equal(ab.error.type, 'invalid_request_error');
  assert.match(ab.error.message, /holds 12001 /);

  // Just under the bound: served.
  const ok = await chat(Array.from({ length: 10_000 }, () => ({ role: 'user', content: 'hi' })));
  assert.equal(ok.status, 200, JSON.stringify(ok.body));
});

test('a model request with an unknown key is answered 401 before its body is read', async () => {
  const { connect } = await import('node:net');
  const u = new URL(h.url);
  const sock = connect(Number(u.port), u.hostname);
  await new Promise((r) => sock.once('connect', r));
  let answer = '';
  sock.on('data', (d) => { answer += d; });
  // Announces 3 MB and sends 20 bytes of it: a gateway that reads the body first waits for the rest.
  sock.write('POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer wk_live_AAAAAAAAAAAA_BBBBBBBBBBBBBBBBBBBBBBBB\r\n'
    + 'Content-Length: 3000000\r\n\r\n{"model":"gpt-4o-mi');
  for (const end = Date.now() + 10_000; !answer.includes('\r\n\r\n') && Date.now() < end;) await new Promise((r) => setTimeout(r, 20));
  sock.destroy();
  assert.match(answer, /^HTTP\/1\.1 401 /, `answered 401 with 20 of 3,000,000 body bytes sent (got ${JSON.stringify(answer.slice(0, 40))})`);
  const id = /x-warden-request-id: (\S+)/i.exec(answer)?.[1] ?? null;
  const e = await eventOf(id);
  assert.equal(e.response.error_code, 'WARDEN_INVALID_API_KEY', 'and the refusal is recorded');
  assert.equal(e.request.bytes, 3_000_000, 'with the body size announced');
});

/** Writes a body as fast as the socket takes it until the gateway closes the connection (or `ms` pass): the bytes written, and whether it was closed. */
async function endlessBody(url: string, headers: string, ms: number): Promise<{ answer: string; written: number; closed: boolean }> {
  const { connect } = await import('node:net');
  const u = new URL(url);
  const sock = connect(Number(u.port), u.hostname);
  await new Promise((r) => sock.once('connect', r));
  let answer = '';
  let closed = false;
  sock.on('data', (d) => { answer += d; });
  sock.on('error', () => { closed = true; });
  sock.on('close', () => { closed = true; });
  sock.write(headers);
  const chunked = /transfer-encoding: chunked/i.test(headers);
  const piece = Buffer.alloc(64 * 1024, 'a');
  const chunk = chunked ? Buffer.concat([Buffer.from(piece.length.toString(16) + '\r\n'), piece, Buffer.from('\r\n')]) : piece;
  let written = 0;
  const end = Date.now() + ms;
  while (!closed && Date.now() < end) {
    if (!sock.write(chunk)) await new Promise((r) => { sock.once('drain', r); sock.once('close', r); setTimeout(r, 50); });
    written += chunk.length;
  }
  sock.destroy();
  return { answer, written, closed };
}

test('after a 401 the gateway reads at most about server.body_limit_bytes of a body still coming, then closes', async () => {
  const g = await startHarness({ config: { server: { body_limit_bytes: 256 * 1024 } } });
  try {
    const bad = 'Authorization: Bearer wk_live_AAAAAAAAAAAA_BBBBBBBBBBBBBBBBBBBBBBBB\r\n';
    for (const framing of ['Transfer-Encoding: chunked\r\n', 'Content-Length: 10000000000\r\n']) {
      const r = await endlessBody(g.url, `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n${bad}${framing}\r\n`, 3000);
      assert.match(r.answer, /^HTTP\/1\.1 401 /, `answered 401 (${framing.trim()})`);
      assert.ok(r.closed, `the connection is closed rather than the endless body read (${framing.trim()}: ${Math.round(r.written / 1e6)} MB written in 3 s)`);
    }
    // A body of known size within the limit: read, and the connection reused.
    const { connect } = await import('node:net');
    const u = new URL(g.url);
    const sock = connect(Number(u.port), u.hostname);
    await new Promise((r) => sock.once('connect', r));
    let answer = '';
    sock.on('data', (d) => { answer += d; });
    const body = JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 5, messages: [{ role: 'user', content: 'x'.repeat(100_000) }] });
    const good = JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] });
    sock.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n${bad}Content-Length: ${body.length}\r\n\r\n${body}`);
    sock.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer ${GOOD_KEY}\r\nContent-Length: ${good.length}\r\n\r\n${good}`);
    for (const end = Date.now() + 5000; (answer.match(/HTTP\/1\.1 \d+/g)?.length ?? 0) < 2 && Date.now() < end;) await new Promise((r) => setTimeout(r, 20));
    sock.destroy();
    assert.deepEqual(answer.match(/HTTP\/1\.1 \d+/g), ['HTTP/1.1 401', 'HTTP/1.1 200'], 'a small body after a 401 leaves the connection usable');
  } finally {
    await g.close();
  }
});

test('a request that expects 100 Continue with an unknown key is answered 401 without a 100', async () => {
  const { connect } = await import('node:net');
  const u = new URL(h.url);
  const send = async (key: string) => {
    const sock = connect(Number(u.port), u.hostname);
    await new Promise((r) => sock.once('connect', r));
    let answer = '';
    sock.on('data', (d) => { answer += d; });
    const body = JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] });
    sock.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer ${key}\r\nExpect: 100-continue\r\nContent-Length: ${body.length}\r\n\r\n`);
    for (const end = Date.now() + 3000; !answer.includes('\r\n\r\n') && Date.now() < end;) await new Promise((r) => setTimeout(r, 20));
    const first = answer;
    if (first.startsWith('HTTP/1.1 100')) {
      sock.write(body);
      for (const end = Date.now() + 3000; !/\r\n\r\nHTTP\/1\.1 [2-5]/.test(answer) && Date.now() < end;) await new Promise((r) => setTimeout(r, 20));
    }
    sock.destroy();
    return { first, answer };
  };
  const bad = await send('wk_live_AAAAAAAAAAAA_BBBBBBBBBBBBBBBBBBBBBBBB');
  assert.match(bad.first, /^HTTP\/1\.1 401 /, `an unknown key is refused before the body is asked for (got ${JSON.stringify(bad.first.slice(0, 20))})`);
  const good = await send(GOOD_KEY);
  assert.match(good.first, /^HTTP\/1\.1 100 /, 'a valid key is asked for its body');
  assert.match(good.answer, /\r\n\r\nHTTP\/1\.1 200 /, 'and served');
});

test('when the upstream reports no usage, the input tokens counted are the whole request\'s, not the text its event keeps', async () => {
  const { countTextTokens } = await import('../../src/gateway/usage.ts');
  const http = await import('node:http');
  // An upstream that answers without `usage`.
  const up = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({
      id: 'c1', object: 'chat.completion', created: 1, model: 'gpt-4o-mini',
      choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }],
    })));
  });
  await new Promise<void>((r) => up.listen(0, '127.0.0.1', r));
  const g = await startHarness({ upstreamOverride: () => [{ name: 'bare', base_url: `http://127.0.0.1:${(up.address() as { port: number }).port}`, models: ['*'] }] });
  try {
    // 120 messages of 8,000 characters: the event keeps 256 Ki characters of their 960,000.
    const messages = Array.from({ length: 120 }, (_, i) => ({ role: i % 2 ? 'assistant' : 'user', content: `turn ${i}: ` + 'the quick brown fox jumps over the lazy dog '.repeat(200).slice(0, 7990) }));
    const r = await fetch(`${g.url}/v1/chat/completions`, { method: 'POST', headers: oa, body: JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 5, messages }) });
    assert.equal(r.status, 200, await r.clone().text());
    await r.json();
    const id = r.headers.get('x-warden-request-id');
    let e;
    for (let n = 1; n < 10 && !e; n++) e = (await storedEvents(g, n)).find((x) => x.id === id);
    assert.ok(e, 'the request is recorded');
    const whole = countTextTokens(messages.map((m) => m.content).join('\n'));
    assert.equal(e.response.usage_source, 'tokenizer', 'counted by the gateway');
    assert.ok(e.response.input_tokens >= whole * 0.9 && e.response.input_tokens <= whole * 1.1, `input tokens ${e.response.input_tokens}, the whole request holds about ${whole}`);
  } finally {
    await g.close();
    up.close();
  }
});

test('nested content parts and mixed embedding inputs count toward server.max_request_items', async () => {
  // An Anthropic tool result of 12,000 text parts.
  const content = [{ type: 'tool_result', tool_use_id: 't', content: Array.from({ length: 12_000 }, () => ({ type: 'text', text: 'x' })) }];
  const a = await fetch(`${h.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': GOOD_KEY, 'anthropic-version': '2023-06-01' },
    body: JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 5, messages: [{ role: 'user', content }] }) });
  assert.equal(a.status, 400, 'a tool result\'s parts are counted');
  await a.body?.cancel();
  // Embedding inputs that start with a number, then 12,000 strings.
  const e = await fetch(`${h.url}/v1/embeddings`, { method: 'POST', headers: oa, body: JSON.stringify({ model: 'text-embedding-3-small', input: [0, ...Array.from({ length: 12_000 }, () => 'hi')] }) });
  assert.equal(e.status, 400, 'each input after a leading number is counted');
  await e.body?.cancel();
});

test('an agent loop\'s event keeps the user\'s task before its tool output, and the detector reads it', async () => {
  const task = 'Solve the following problem. Think step by step and show your chain of thought: what is 17*23?';
  const messages: unknown[] = [{ role: 'user', content: task }];
  for (let i = 0; i < 34; i++) {
    messages.push({ role: 'assistant', content: null, tool_calls: [{ id: `c${i}`, type: 'function', function: { name: 'f', arguments: '{}' } }] });
    messages.push({ role: 'tool', tool_call_id: `c${i}`, content: 'x'.repeat(8000) });
  }
  const r = await chat(messages);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const e = await eventOf(r.id);
  assert.equal(e.request.messages[0].text, task, 'the user\'s task is kept');
  const flags = flagNames(extractFeatures(e).flags);
  assert.ok(flags.includes('cot'), `the detector reads it: ${flags}`);
});
