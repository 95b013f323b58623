// Limits through the real gateway: a burst over the account's rate gets 429 in the caller's wire
// format with retry-after and the rate-limit headers each SDK reads; the refusal is on the event.
import { test } from 'node:test';
import { connect } from 'node:net';
import { createServer, type Server } from 'node:http';
import assert from 'node:assert/strict';
import { Limiter, limitsConfigSchema, limitsHooks } from '../../src/limits/index.ts';
import { startHarness, storedEvents, GOOD_KEY } from '../helpers/gateway.ts';
import { makePdf } from '../helpers/pdf.ts';
import { blackAndWhiteGif } from '../helpers/images.ts';
import { startTestWarden } from '../helpers/warden.ts';

test('over the account rate: 429 with retry-after and rate-limit headers, recorded on the event', async () => {
  const config = limitsConfigSchema.parse({ tiers: { email_verified: { account: { rpm: 60, burst: 3 } } } });
  const hooks = limitsHooks({ config });
  await hooks.limiter.ready();
  const h = await startHarness({ hooks: [hooks] });
  try {
    const send = (wire: 'openai' | 'anthropic') => fetch(`${h.url}${wire === 'openai' ? '/v1/chat/completions' : '/v1/messages'}`, {
      method: 'POST',
      headers: wire === 'openai'
        ? { 'content-type': 'application/json', authorization: `Bearer ${GOOD_KEY}` }
        : { 'content-type': 'application/json', 'x-api-key': GOOD_KEY, 'anthropic-version': '2023-06-01' },
      body: JSON.stringify(wire === 'openai'
        ? { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 10 }
        : { model: 'claude-x', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }),
    });
    const statuses: number[] = [];
    let refused: Response | null = null;
    for (let i = 0; i < 6; i++) {
      const r = await send('openai');
      statuses.push(r.status);
      if (r.status === 200) assert.ok(r.headers.get('x-ratelimit-limit-requests'), 'OpenAI rate-limit headers on success');
      if (r.status === 429 && !refused) refused = r; else await r.arrayBuffer();
    }
    assert.deepEqual(statuses.slice(0, 3), [200, 200, 200]);
    assert.ok(refused, `a refusal after the burst (${statuses})`);
    assert.ok(Number(refused!.headers.get('retry-after')) >= 1);
    const body = (await refused!.json()) as any;
    assert.equal(body.error.warden_code, 'WARDEN_RATE_LIMITED');
    assert.equal(body.error.type, 'rate_limit_error');

    const a = await send('anthropic');
    assert.equal(a.status, 429);
    assert.ok(a.headers.get('anthropic-ratelimit-requests-limit'));
    const ab = (await a.json()) as any;
    assert.equal(ab.type, 'error');
    assert.equal(ab.error.type, 'rate_limit_error');

    const events = await storedEvents(h, 7);
    const limited = events.filter((e) => e.response.status === 429);
    assert.ok(limited.length >= 2);
    assert.equal(limited[0].enforcement.limit?.allowed, false);
    assert.ok(limited[0].enforcement.limit?.scope);
  } finally {
    await h.close();
  }
});

/** A gateway whose caller (tier email_verified) has only an account limit of `tpm` tokens a minute. */
async function tokenLimited(tpm: number) {
  const unlimited = { rpm: null, burst: null, tpm: null, tpd: null, concurrency: null };
  const config = limitsConfigSchema.parse({
    tiers: { email_verified: { key: unlimited, org: unlimited, account: { ...unlimited, tpm } } },
    network: { ip: { rpm: null, burst: null, concurrency: null }, subnet: { rpm: null, burst: null, concurrency: null } },
  });
  const hooks = limitsHooks({ config });
  await hooks.limiter.ready();
  return startHarness({ hooks: [hooks] });
}

const post = (url: string, body: object, wire: 'openai' | 'anthropic' = 'openai') => fetch(url, {
  method: 'POST',
  headers: wire === 'openai'
    ? { 'content-type': 'application/json', authorization: `Bearer ${GOOD_KEY}` }
    : { 'content-type': 'application/json', 'x-api-key': GOOD_KEY, 'anthropic-version': '2023-06-01' },
  body: JSON.stringify(body),
});

/** A refusal of a request that can never pass: 429, no retry-after, "larger than the limit". */
async function assertNeverAdmissible(r: Response, what: string) {
  const body = (await r.json()) as any;
  assert.equal(r.status, 429, `${what}: ${JSON.stringify(body).slice(0, 300)}`);
  assert.equal(r.headers.get('retry-after'), null, what);
  assert.match(body.error.message, /larger than the limit of 20000 tokens per minute/, what);
}

/** A refusal of a request that can pass later: 429 with retry-after. */
async function assertWaits(r: Response, what: string) {
  const body = (await r.json()) as any;
  assert.equal(r.status, 429, `${what}: ${JSON.stringify(body).slice(0, 300)}`);
  assert.ok(Number(r.headers.get('retry-after')) >= 1, `${what}: retry-after ${r.headers.get('retry-after')}`);
}

test('token ids are reserved before the request is sent: one larger than a token limit is refused, not served; images and PDFs are reserved at most up to the limit', async () => {
  const h = await tokenLimited(20_000);
  try {
    // 100 inputs of 1,000 token ids: 100,000 tokens, as the same input as text is
    const ids = Array.from({ length: 100 }, (_, i) => Array.from({ length: 1000 }, (_, j) => (i * 7 + j) % 50_000 + 100));
    await assertNeverAdmissible(await post(`${h.url}/v1/embeddings`, { model: 'text-embedding-3-small', input: ids }), 'embeddings as token ids');
    await assertNeverAdmissible(await post(`${h.url}/v1/embeddings`, { model: 'text-embedding-3-small', input: ids.map(() => 'word '.repeat(1000)) }), 'embeddings as text');
    await assertNeverAdmissible(await post(`${h.url}/v1/completions`, { model: 'gpt-3.5-turbo-instruct', prompt: ids[0].concat(...ids.slice(1, 30)) }), 'a prompt of token ids');

    // 40 images would be 64,000 tokens at the flat rate, a guess: the request is served with the
    // whole limit reserved (and settled to what it used), not refused for ever
    const gif = blackAndWhiteGif(8, 8, new Uint8Array(64)).toString('base64');
    const images = Array.from({ length: 40 }, () => ({ type: 'image', source: { type: 'base64', media_type: 'image/gif', data: gif } }));
    const forty = await post(`${h.url}/v1/messages`, { model: 'claude-x', max_tokens: 50, messages: [{ role: 'user', content: [...images, { type: 'text', text: 'Describe.' }] }] }, 'anthropic');
    assert.equal(forty.status, 200, await forty.clone().text());
    assert.equal(forty.headers.get('anthropic-ratelimit-tokens-remaining'), '0');
    await forty.arrayBuffer();

    // a PDF of 8 pages, 3,000 tokens a page, sent next: it waits for room, it is not refused for ever
    const pdf = (await makePdf(Array.from({ length: 8 }, (_, i) => `Page ${i + 1}.`))).toString('base64');
    await assertWaits(await post(`${h.url}/v1/responses`, { model: 'gpt-4o-mini', max_output_tokens: 50, input: [{ role: 'user', content: [{ type: 'input_file', filename: 'a.pdf', file_data: `data:application/pdf;base64,${pdf}` }] }] }), 'a PDF');
    // text over the limit (known, not guessed) is refused for ever, with an image or not
    const chatImage = { type: 'image_url', image_url: { url: `data:image/gif;base64,${gif}` } };
    await assertNeverAdmissible(await post(`${h.url}/v1/chat/completions`, { model: 'gpt-4o-mini', max_tokens: 50, messages: [{ role: 'user', content: [chatImage, { type: 'text', text: 'word '.repeat(20_000) }] }] }), 'Chat text and an image');
  } finally {
    await h.close();
  }
  // two images of 1,600 tokens each fit whole: both are reserved, as the remaining tokens say
  const fresh = await tokenLimited(20_000);
  try {
    const gif = blackAndWhiteGif(8, 8, new Uint8Array(64)).toString('base64');
    const image = { type: 'image', source: { type: 'base64', media_type: 'image/gif', data: gif } };
    const two = await post(`${fresh.url}/v1/messages`, { model: 'claude-x', max_tokens: 50, messages: [{ role: 'user', content: [image, image, { type: 'text', text: 'Describe.' }] }] }, 'anthropic');
    assert.equal(two.status, 200, await two.clone().text());
    assert.equal(two.headers.get('anthropic-ratelimit-tokens-remaining'), String(20_000 - (2 * 1600 + 3 + 50)));
    await two.arrayBuffer();
  } finally {
    await fresh.close();
  }
});

test('without max_tokens the reservation is estimate.default_max_tokens, not the ceiling the policy writes in', async () => {
  // identity_verified: the shipped policy's ceiling is 65,536 tokens; the account may use 20,000 a minute
  const t = await startTestWarden({ limits: { tiers: { identity_verified: { account: { tpm: 20_000 } } } } });
  try {
    const { key } = await t.account('vera', 'identity_verified');
    const headers = { 'content-type': 'application/json', authorization: `Bearer ${key}` };
    // o4-mini writes up to 100,000 tokens: above the ceiling, so the policy writes the ceiling in
    const chat = await fetch(`${t.url}/v1/chat/completions`, { method: 'POST', headers, body: JSON.stringify({ model: 'o4-mini', messages: [{ role: 'user', content: 'Hi' }] }) });
    assert.equal(chat.status, 200, await chat.clone().text());
    // 1 input token ('Hi') and 4,096 output tokens reserved
    assert.equal(chat.headers.get('x-ratelimit-remaining-tokens'), String(20_000 - 4097));
    await chat.arrayBuffer();
    const responses = await fetch(`${t.url}/v1/responses`, { method: 'POST', headers, body: JSON.stringify({ model: 'o4-mini', input: 'Hi' }) });
    assert.equal(responses.status, 200, await responses.clone().text());
    await responses.arrayBuffer();
    // the upstream was still given the ceiling (the answer may be as long as the policy allows)
    const [event] = await t.events((e) => e.flavour === 'openai.chat');
    assert.ok(event.enforcement.shaping.includes('max_tokens:set'), event.enforcement.shaping.join(','));
    // a budget the client names is reserved as named
    const own = await fetch(`${t.url}/v1/chat/completions`, { method: 'POST', headers, body: JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 30_000, messages: [{ role: 'user', content: 'Hi' }] }) });
    assert.equal(own.status, 429);
    assert.equal(own.headers.get('retry-after'), null, 'larger than the limit: never admissible');
  } finally {
    await t.close();
  }
});

/**
 * Stream `body` with a raw socket and hang up once `chunks` chunks of visible content came; the
 * tokens left on the account's per-minute meter after this request's reservation.
 */
function cutStream(url: string, body: object, chunks: number): Promise<number> {
  const { hostname, port } = new URL(url);
  const json = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const s = connect(Number(port), hostname, () => {
      s.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${GOOD_KEY}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(json)}\r\n\r\n${json}`);
    });
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString('utf8');
      if (buf.split('"content":"').length - 1 < chunks) return;
      s.destroy();
      const m = /x-ratelimit-remaining-tokens: (\d+)/i.exec(buf);
      if (m) resolve(Number(m[1])); else reject(new Error(`no rate-limit headers: ${buf.slice(0, 300)}`));
    });
    s.on('error', reject);
    s.on('end', () => reject(new Error('the stream ended before the client hung up')));
  });
}

test('a client that leaves a stream before the final usage is charged the hidden reasoning it made the upstream spend, not only the text it read', async () => {
  const unlimited = { rpm: null, burst: null, tpm: null, tpd: null, concurrency: null };
  const config = limitsConfigSchema.parse({
    tiers: { email_verified: { key: unlimited, org: unlimited, account: { ...unlimited, tpm: 100_000 } } },
    network: { ip: { rpm: null, burst: null, concurrency: null }, subnet: { rpm: null, burst: null, concurrency: null } },
    // the upstream's speed for o3 (the mock's); other models at the default
    estimate: { models: [{ model: 'o3*', unseen_tokens_per_second: 200 }] },
  });
  // A clock that stands still: the meter refills nothing, so what it lost is what was charged.
  const limiter = new Limiter({ config, clockUs: () => Date.UTC(2026, 5, 18, 12) * 1000 });
  const hooks = limitsHooks({ config, limiter });
  await limiter.ready();
  const h = await startHarness({ hooks: [hooks], mock: { tokensPerSecond: 200, answerTokens: [600, 600] } });
  try {
    const o3 = { model: 'o3', messages: [{ role: 'user', content: 'Explain in detail photosynthesis' }], max_completion_tokens: 4000, reasoning_effort: 'xhigh', stream: true };
    const afterCut = await cutStream(h.url, o3, 40);
    await storedEvents(h, 1);
    await new Promise((r) => setTimeout(r, 50));
    // The same request read to its end: what the upstream really spends on it.
    const full = await post(`${h.url}/v1/chat/completions`, o3);
    const afterFull = Number(full.headers.get('x-ratelimit-remaining-tokens'));
    await full.text();
    const events = await storedEvents(h, 2);
    const [cutEvent, fullEvent] = events;
    assert.equal(cutEvent.response.status, 499, 'the first request is recorded as the client leaving');
    assert.equal(fullEvent.response.usage_source, 'upstream');
    const reasoning = fullEvent.response.reasoning_tokens;
    assert.ok(reasoning > 100, `the model reasons before it answers (${reasoning} tokens)`);
    const charged = afterCut - afterFull; // both reserved the same
    assert.ok(charged >= fullEvent.response.input_tokens + 0.8 * reasoning,
      `the cut stream is charged its hidden reasoning: ${charged} tokens charged, ${reasoning} reasoning tokens spent before the first visible one`);
    assert.ok(charged <= 4000 + fullEvent.response.input_tokens + 10, `never more than was reserved (${charged})`);

    // A non-reasoning answer cancelled early is charged about what was made, not the whole max_tokens.
    const gpt = { model: 'gpt-4o', messages: [{ role: 'user', content: 'Write a long story' }], max_tokens: 4000, stream: true };
    const before = await cutStream(h.url, gpt, 40);
    await storedEvents(h, 3);
    await new Promise((r) => setTimeout(r, 50));
    const probe = await post(`${h.url}/v1/chat/completions`, { ...gpt, stream: false, max_tokens: 1 });
    const after = Number(probe.headers.get('x-ratelimit-remaining-tokens'));
    await probe.text();
    const cancelled = before - after - (1 + 5 - 4000 - 5); // the probe reserved 1 output token, not 4,000
    assert.ok(cancelled < 400, `an honest cancel is charged near what it read, not 4,000 (${cancelled})`);
  } finally {
    await h.close();
  }
});

/** A limiter with no limit in the way that records what each request is settled to, in order. */
async function recordingLimits(estimate: Record<string, unknown> = {}) {
  const unlimited = { rpm: null, burst: null, tpm: null, tpd: null, concurrency: null };
  const config = limitsConfigSchema.parse({
    tiers: { email_verified: { key: unlimited, org: unlimited, account: unlimited } },
    network: { ip: { rpm: null, burst: null, concurrency: null }, subnet: { rpm: null, burst: null, concurrency: null } },
    estimate,
  });
  const limiter = new Limiter({ config });
  const settled: { inputTokens: number; outputTokens: number }[] = [];
  const settle = limiter.settle.bind(limiter);
  limiter.settle = (r, usage) => { if (usage) settled.push(usage); return settle(r, usage); };
  await limiter.ready();
  return { hooks: limitsHooks({ config, limiter }), settled };
}

/**
 * Send a streamed request on a raw socket and hang up after `count` occurrences of `marker` in
 * the answer, or after `afterMs` (when given) whatever came.
 */
function hangUp(url: string, path: string, body: object, cut: { marker: string; count: number } | { afterMs: number }): Promise<void> {
  const { hostname, port } = new URL(url);
  const json = JSON.stringify(body);
  const auth = path === '/v1/messages' ? `x-api-key: ${GOOD_KEY}\r\nanthropic-version: 2023-06-01` : `Authorization: Bearer ${GOOD_KEY}`;
  return new Promise((resolve, reject) => {
    const s = connect(Number(port), hostname, () => {
      s.write(`POST ${path} HTTP/1.1\r\nHost: x\r\n${auth}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(json)}\r\n\r\n${json}`);
      if ('afterMs' in cut) setTimeout(() => { s.destroy(); resolve(); }, cut.afterMs);
    });
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString('utf8');
      if ('afterMs' in cut || buf.split(cut.marker).length - 1 < cut.count) return;
      s.destroy();
      resolve();
    });
    s.on('error', reject);
    s.on('end', () => reject(new Error(`the answer ended before the client hung up: ${buf.slice(-300)}`)));
  });
}

test('a request the client leaves while it waits in Warden\'s own queue for an upstream connection is charged no output', async () => {
  const { hooks, settled } = await recordingLimits();
  const h = await startHarness({
    hooks: [hooks], mock: { tokensPerSecond: 100, answerTokens: [2000, 2000] },
    upstreamOverride: (url) => [{ name: 'mock', base_url: url, models: ['*'], connections: 1 }],
  });
  try {
    // A long stream holds the one connection to the upstream.
    const long = await post(`${h.url}/v1/chat/completions`, { model: 'gpt-4o', messages: [{ role: 'user', content: 'Write a long story' }], max_tokens: 4000, stream: true });
    const reader = long.body!.getReader();
    await reader.read();
    // A second request waits behind it in Warden's pool; its client gives up after 1.5 s.
    await hangUp(h.url, '/v1/chat/completions', { model: 'gpt-4o', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 4000, stream: true }, { afterMs: 1500 });
    const [cut] = await storedEvents(h, 1);
    assert.equal(cut.response.status, 499, 'the waiting request is recorded as the client leaving');
    assert.equal(settled.length, 1, 'only the waiting request is settled so far');
    assert.equal(settled[0].outputTokens, 0, `the upstream never got it: no output charged (${JSON.stringify(settled[0])})`);
    await reader.cancel();
  } finally {
    await h.close();
  }
});

test('a non-reasoning stream cancelled after a slow first token is charged the text counted, not its wait', async () => {
  const { hooks, settled } = await recordingLimits();
  const h = await startHarness({ hooks: [hooks], mock: { latencyMs: 1000, tokensPerSecond: 1500, answerTokens: [3000, 3000] } });
  try {
    await hangUp(h.url, '/v1/chat/completions', { model: 'gpt-4o', messages: [{ role: 'user', content: 'Write a long story' }], max_tokens: 4000, stream: true }, { marker: '"content":"', count: 200 });
    const [e] = await storedEvents(h, 1);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(e.response.status, 499);
    assert.ok(e.response.output_tokens >= 150, `the text read is counted (${e.response.output_tokens})`);
    assert.equal(settled[0].outputTokens, e.response.output_tokens, `charged what was counted (${JSON.stringify(settled[0])}, counted ${e.response.output_tokens})`);
  } finally {
    await h.close();
  }
});

test('a reasoning stream cut on its first visible token is charged the model\'s rate for the time it worked, the same each time and not more than the whole answer', async () => {
  const { hooks, settled } = await recordingLimits({ models: [{ model: 'o3*', unseen_tokens_per_second: 400 }] });
  const h = await startHarness({ hooks: [hooks], mock: { tokensPerSecond: 400, answerTokens: [300, 300], reasoningTokens: [800, 800] } });
  try {
    const o3 = { model: 'o3', messages: [{ role: 'user', content: 'Explain in detail photosynthesis' }], max_completion_tokens: 30_000, reasoning_effort: 'medium', stream: true };
    await hangUp(h.url, '/v1/chat/completions', o3, { marker: '"content":"', count: 2 });
    await storedEvents(h, 1);
    await hangUp(h.url, '/v1/chat/completions', o3, { marker: '"content":"', count: 2 });
    await storedEvents(h, 2);
    const full = await post(`${h.url}/v1/chat/completions`, o3);
    await full.text();
    const events = await storedEvents(h, 3);
    await new Promise((r) => setTimeout(r, 50));
    const whole = events[2].response;
    assert.equal(whole.usage_source, 'upstream');
    const [a, b] = settled.map((u) => u.outputTokens);
    assert.ok(a >= 0.8 * whole.reasoning_tokens, `the hidden reasoning is charged (${a}, ${whole.reasoning_tokens} reasoning tokens)`);
    assert.ok(a <= whole.output_tokens && b <= whole.output_tokens, `a cut costs no more than the whole answer (${a}, ${b} > ${whole.output_tokens})`);
    assert.ok(Math.abs(a - b) <= 0.15 * Math.max(a, b), `the same request cut the same way is charged about the same (${a}, ${b})`);
  } finally {
    await h.close();
  }
});

/**
 * An Anthropic upstream with summarised thinking: a short summary at once, then `thinkMs` of
 * thinking that shows nothing, then the answer's text.
 */
async function summarisingUpstream(thinkMs: number): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const send = (type: string, data: object) => res.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);
      send('message_start', { message: { id: 'msg_1', type: 'message', role: 'assistant', model: 'claude-sonnet-4-5', content: [], usage: { input_tokens: 20, output_tokens: 1 } } });
      send('content_block_start', { index: 0, content_block: { type: 'thinking', thinking: '', signature: '' } });
      send('content_block_delta', { index: 0, delta: { type: 'thinking_delta', thinking: 'The user asks about photosynthesis.' } });
      const timer = setTimeout(() => {
        send('content_block_delta', { index: 0, delta: { type: 'signature_delta', signature: 'c2ln' } });
        send('content_block_stop', { index: 0 });
        send('content_block_start', { index: 1, content_block: { type: 'text', text: '' } });
        for (let i = 0; i < 5; i++) send('content_block_delta', { index: 1, delta: { type: 'text_delta', text: `Word ${i} ` } });
      }, thinkMs);
      res.on('close', () => clearTimeout(timer));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return { server, url: `http://127.0.0.1:${port}` };
}

test('summarised thinking: a client that hangs up after the answer began is charged the thinking done while the summary streamed', async () => {
  const { hooks, settled } = await recordingLimits({ models: [{ model: 'claude-*', unseen_tokens_per_second: 400 }] });
  const upstream = await summarisingUpstream(1500);
  const h = await startHarness({ hooks: [hooks], upstreamOverride: () => [{ name: 'anthropic', base_url: upstream.url, models: ['*'] }] });
  try {
    const body = { model: 'claude-sonnet-4-5', max_tokens: 16_000, thinking: { type: 'enabled', budget_tokens: 10_000 }, messages: [{ role: 'user', content: 'Explain photosynthesis' }], stream: true };
    await hangUp(h.url, '/v1/messages', body, { marker: 'text_delta', count: 1 });
    const [e] = await storedEvents(h, 1);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(e.response.status, 499);
    assert.ok(e.response.output_tokens < 50, `little was shown (${e.response.output_tokens})`);
    // 1.5 s of thinking at 400 a second
    assert.ok(settled[0].outputTokens >= 550, `the thinking behind the summary is charged (${JSON.stringify(settled[0])})`);
    assert.ok(settled[0].outputTokens <= 400 * 2.5, `at most what the upstream could have made in the time (${settled[0].outputTokens})`);
  } finally {
    await h.close();
    await new Promise((r) => upstream.server.close(r));
  }
});
