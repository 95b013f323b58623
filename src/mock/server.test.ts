// Server behaviour: credentials, failure injection, latency and pacing, routing, limits, the CLI.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { createMockUpstream, parseFaultDirective, runMockUpstreamCli, type MockUpstream } from './index.ts';

let mock: MockUpstream;
before(async () => {
  mock = await createMockUpstream({ port: 0 });
});
after(async () => {
  await mock.close();
});

const chatBody = (extra: Record<string, unknown> = {}) => JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello' }], ...extra });

function post(path: string, body: string, headers: Record<string, string> = {}, signal?: AbortSignal): Promise<Response> {
  return fetch(`${mock.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body, signal });
}

async function waitFor(check: () => boolean, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('credentials', () => {
  test('a required API key is checked in each flavour and never echoed or recorded', async () => {
    const secured = await createMockUpstream({ port: 0, apiKey: 'sk-upstream-secret' });
    try {
      const good = new OpenAI({ baseURL: `${secured.url}/v1`, apiKey: 'sk-upstream-secret', maxRetries: 0 });
      const res = await good.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
      assert.equal(res.object, 'chat.completion');
      const bad = new OpenAI({ baseURL: `${secured.url}/v1`, apiKey: 'sk-wrong-key', maxRetries: 0 });
      await assert.rejects(bad.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }), (err: unknown) => {
        assert.ok(err instanceof OpenAI.AuthenticationError);
        assert.equal(err.code, 'invalid_api_key');
        assert.ok(!err.message.includes('sk-wrong-key'));
        return true;
      });
      const anthropic = new Anthropic({ baseURL: secured.url, apiKey: 'sk-upstream-secret', maxRetries: 0 });
      const msg = await anthropic.messages.create({ model: 'claude-sonnet-5', max_tokens: 20, messages: [{ role: 'user', content: 'hi' }] });
      assert.equal(msg.type, 'message');
      const missing = await fetch(`${secured.url}/v1/messages`, { method: 'POST', headers: { 'anthropic-version': '2023-06-01' }, body: '{}' });
      assert.equal(missing.status, 401);
      assert.deepEqual(((await missing.json()) as any).error, { type: 'authentication_error', message: 'x-api-key header is required' });
      const models = await fetch(`${secured.url}/v1/models`);
      assert.equal(models.status, 401);

      assert.deepEqual(secured.received.map((r) => r.authorized), [true, false, true, false, false]);
      const recorded = JSON.stringify(secured.received);
      assert.ok(!recorded.includes('sk-upstream-secret') && !recorded.includes('sk-wrong-key'));
      assert.equal(secured.received[0].headers.authorization, '[redacted]');
      const anthropicHeaders = secured.received[2].headers;
      assert.ok(anthropicHeaders['x-api-key'] === '[redacted]' || anthropicHeaders.authorization === '[redacted]');
    } finally {
      await secured.close();
    }
  });
});

describe('failure injection', () => {
  test('directive parsing', () => {
    assert.deepEqual(parseFaultDirective('500'), { kind: 'status', status: 500 });
    assert.deepEqual(parseFaultDirective('status:429'), { kind: 'status', status: 429 });
    assert.deepEqual(parseFaultDirective('stall'), { kind: 'stall', after: 3 });
    assert.deepEqual(parseFaultDirective('drop:0'), { kind: 'drop', after: 0 });
    assert.deepEqual(parseFaultDirective('error:5'), { kind: 'error', after: 5 });
    assert.deepEqual(parseFaultDirective('hang'), { kind: 'hang' });
    assert.throws(() => parseFaultDirective('explode'));
    assert.throws(() => parseFaultDirective('drop:-1'));
  });

  test('status codes by header and by model name, in each flavour', async () => {
    const client = new OpenAI({ baseURL: `${mock.url}/v1`, apiKey: 'x', maxRetries: 0 });
    await assert.rejects(
      client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }, { headers: { 'x-mock-fail': '429' } }),
      (err: unknown) => {
        assert.ok(err instanceof OpenAI.RateLimitError);
        assert.equal(err.code, 'rate_limit_exceeded');
        assert.equal(err.headers?.get('retry-after'), '1');
        return true;
      },
    );
    await assert.rejects(client.chat.completions.create({ model: 'mock-fail-503', messages: [{ role: 'user', content: 'x' }] }), (err: unknown) => {
      assert.ok(err instanceof OpenAI.InternalServerError);
      assert.equal(err.status, 503);
      return true;
    });
    const anthropic = new Anthropic({ baseURL: mock.url, apiKey: 'x', maxRetries: 0 });
    await assert.rejects(anthropic.messages.create({ model: 'mock-fail-529', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] }), (err: unknown) => {
      assert.ok(err instanceof Anthropic.APIError);
      assert.equal(err.status, 529);
      assert.equal((err.error as any).error.type, 'overloaded_error');
      return true;
    });
    const bad = await post('/v1/chat/completions', chatBody(), { 'x-mock-fail': 'explode' });
    assert.equal(bad.status, 400);
  });

  test('hang: no headers until the client gives up; close() still returns promptly', async () => {
    const local = await createMockUpstream({ port: 0 });
    const started = Date.now();
    await assert.rejects(
      fetch(`${local.url}/v1/chat/completions`, { method: 'POST', body: chatBody(), headers: { 'x-mock-fail': 'hang' }, signal: AbortSignal.timeout(150) }),
      (err: Error) => err.name === 'TimeoutError',
    );
    assert.ok(Date.now() - started >= 140);
    await waitFor(() => local.stats.aborted === 1);
    // A second hung request is cut by close().
    const pending = fetch(`${local.url}/v1/chat/completions`, { method: 'POST', body: chatBody({ model: 'mock-fail-hang' }) }).then(
      () => 'responded',
      () => 'failed',
    );
    await waitFor(() => local.stats.inFlight === 1);
    // The hung request never ends by itself: close() returning at all (well before this generous
    // limit, which a loaded machine cannot reach by slowness alone) shows it cut the request.
    const closed = await Promise.race([local.close().then(() => 'closed'), new Promise<string>((r) => { setTimeout(r, 15_000, 'still open').unref(); })]);
    assert.equal(closed, 'closed', 'close() cut the hung request');
    assert.equal(await pending, 'failed');
  });

  test('reset: the connection closes without a response', async () => {
    await assert.rejects(post('/v1/chat/completions', chatBody(), { 'x-mock-fail': 'reset' }));
  });

  test('stall: headers and a few events, then silence', async () => {
    const controller = new AbortController();
    const res = await post('/v1/chat/completions', chatBody({ stream: true }), { 'x-mock-fail': 'stall:2' }, controller.signal);
    assert.equal(res.status, 200);
    const reader = res.body!.getReader();
    let received = '';
    const readMore = async (ms: number): Promise<boolean> => {
      const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), ms));
      const next = await Promise.race([reader.read(), timeout]);
      if (next === 'timeout' || next.done) return false;
      received += Buffer.from(next.value).toString();
      return true;
    };
    while (await readMore(100));
    const contentChunks = received.split('\n\n').filter((e) => e.includes('"content":"') && !e.includes('"content":""'));
    assert.equal(contentChunks.length, 2);
    assert.ok(!received.includes('[DONE]'));
    controller.abort();
  });

  test('drop: the connection is cut mid-stream and the SDK reports it', async () => {
    const client = new OpenAI({ baseURL: `${mock.url}/v1`, apiKey: 'x', maxRetries: 0 });
    const stream = await client.chat.completions.create({ model: 'mock-fail-drop-4', messages: [{ role: 'user', content: 'x' }], stream: true });
    let text = '';
    await assert.rejects(async () => {
      for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    });
    assert.ok(text.length > 0);
    const anthropic = new Anthropic({ baseURL: mock.url, apiKey: 'x', maxRetries: 0 });
    await assert.rejects(anthropic.messages.stream({ model: 'mock-fail-drop-2', max_tokens: 100, messages: [{ role: 'user', content: 'x' }] }).finalMessage());
    // Non-streaming: headers promise a body that never completes.
    const res = await post('/v1/chat/completions', chatBody(), { 'x-mock-fail': 'drop' });
    assert.equal(res.status, 200);
    await assert.rejects(res.text());
  });

  test('error: an in-stream error event in each API', async () => {
    const client = new OpenAI({ baseURL: `${mock.url}/v1`, apiKey: 'x', maxRetries: 0 });
    const stream = await client.chat.completions.create({ model: 'mock-fail-error-3', messages: [{ role: 'user', content: 'x' }], stream: true });
    await assert.rejects(
      async () => {
        for await (const _ of stream);
      },
      (err: unknown) => err instanceof OpenAI.APIError && /server had an error/.test(err.message),
    );
    const anthropic = new Anthropic({ baseURL: mock.url, apiKey: 'x', maxRetries: 0 });
    await assert.rejects(anthropic.messages.stream({ model: 'mock-fail-error-3', max_tokens: 100, messages: [{ role: 'user', content: 'x' }] }).finalMessage(), /Overloaded/);
    const res = await post('/v1/responses', JSON.stringify({ model: 'gpt-4.1', input: 'x', stream: true }), { 'x-mock-fail': 'error:2' });
    const events = (await res.text()).split('\n\n').filter((e) => e).map((e) => JSON.parse(e.split('\n')[1].slice(6)));
    const last = events[events.length - 1];
    assert.equal(last.type, 'response.failed');
    assert.equal(last.response.status, 'failed');
    assert.equal(events[events.length - 2].type, 'error');
    assert.deepEqual(events.map((e) => e.sequence_number), events.map((_, i) => i));
    assert.equal(events.filter((e) => e.type === 'response.output_text.delta').length, 2);
  });
});

describe('latency and pacing', () => {
  test('latencyMs delays the first byte', async () => {
    const slow = await createMockUpstream({ port: 0, latencyMs: 120 });
    try {
      const t0 = performance.now();
      const res = await fetch(`${slow.url}/v1/chat/completions`, { method: 'POST', body: chatBody() });
      const elapsed = performance.now() - t0;
      assert.equal(res.status, 200);
      await res.text();
      assert.ok(elapsed >= 115, `the first byte waited the latency: ${elapsed} ms`);
    } finally {
      await slow.close();
    }
  });

  test('tokensPerSecond paces streams token by token, and holds back non-streaming answers', async () => {
    const paced = await createMockUpstream({ port: 0, tokensPerSecond: 200 });
    try {
      const headers = { 'x-mock-output-tokens': '41' };
      const t0 = performance.now();
      const res = await fetch(`${paced.url}/v1/chat/completions`, { method: 'POST', body: chatBody({ stream: true, max_tokens: 41 }), headers });
      const reader = res.body!.getReader();
      let firstContentAt = 0;
      let text = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        text += Buffer.from(value).toString();
        if (!firstContentAt && text.includes('"content":"') && /"content":"[^"]/.test(text)) firstContentAt = performance.now() - t0;
      }
      const total = performance.now() - t0;
      // 41 tokens at 200/s: the last is due 200 ms after the first, and the first comes early.
      assert.ok(total >= 190, `stream took ${total} ms`);
      assert.ok(firstContentAt < total - 100, `first token after ${firstContentAt} ms of ${total} ms`);

      const t1 = performance.now();
      const plain = await fetch(`${paced.url}/v1/chat/completions`, { method: 'POST', body: chatBody({ max_tokens: 41 }), headers });
      const body = (await plain.json()) as any;
      const nonStream = performance.now() - t1;
      assert.equal(body.usage.completion_tokens, 41);
      assert.ok(nonStream >= 195, `non-streaming took ${nonStream} ms`);

      // Per-request override: unpaced (400 tokens would take 2 s at 200/s).
      const t2 = performance.now();
      const unpaced = await fetch(`${paced.url}/v1/chat/completions`, { method: 'POST', body: chatBody({ max_tokens: 400 }), headers: { 'x-mock-output-tokens': '400', 'x-mock-tokens-per-second': '0' } });
      assert.equal(((await unpaced.json()) as any).usage.completion_tokens, 400);
      const unpacedMs = performance.now() - t2;
      assert.ok(unpacedMs < 1900, `400 tokens unpaced took ${unpacedMs.toFixed(0)} ms; paced at 200/s they take 2,000`);
    } finally {
      await paced.close();
    }
  });

  test('hidden reasoning takes time before the first visible token', async () => {
    const paced = await createMockUpstream({ port: 0, tokensPerSecond: 1000, reasoningTokens: [200, 200] });
    try {
      const t0 = performance.now();
      const res = await fetch(`${paced.url}/v1/chat/completions`, { method: 'POST', body: JSON.stringify({ model: 'o3', messages: [{ role: 'user', content: 'x' }], stream: true, max_completion_tokens: 250 }) });
      const reader = res.body!.getReader();
      let text = '';
      let firstContentAt = 0;
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        text += Buffer.from(value).toString();
        if (!firstContentAt && /"content":"[^"]/.test(text)) firstContentAt = performance.now() - t0;
      }
      // At least 200 reasoning tokens at 1000/s before any content.
      assert.ok(firstContentAt >= 190, `first content after ${firstContentAt} ms`);
    } finally {
      await paced.close();
    }
  });
});

describe('routing and limits', () => {
  test('unknown routes answer in the flavour the path implies', async () => {
    const openai = await post('/v1/nope', '{}');
    assert.equal(openai.status, 404);
    assert.deepEqual(await openai.json(), { error: { message: 'Invalid URL (POST /v1/nope)', type: 'invalid_request_error', param: null, code: null } });
    const anthropic = await post('/v1/messages/nope', '{}', { 'anthropic-version': '2023-06-01' });
    assert.equal(anthropic.status, 404);
    assert.equal(((await anthropic.json()) as any).error.type, 'not_found_error');
    const health = await fetch(`${mock.url}/healthz`);
    assert.deepEqual(await health.json(), { status: 'ok' });
  });

  test('bodies over the limit get 413', async () => {
    const small = await createMockUpstream({ port: 0, bodyLimitBytes: 1000 });
    try {
      const res = await fetch(`${small.url}/v1/chat/completions`, { method: 'POST', body: chatBody({ filler: 'x'.repeat(5000) }) });
      assert.equal(res.status, 413);
      assert.equal(((await res.json()) as any).error.type, 'invalid_request_error');
    } finally {
      await small.close();
    }
  });

  test('x-mock-omit-usage leaves usage out', async () => {
    const res = (await (await post('/v1/chat/completions', chatBody(), { 'x-mock-omit-usage': '1' })).json()) as any;
    assert.equal(res.usage, undefined);
    assert.ok(res.choices[0].message.content);
  });

  test('x-mock-output-tokens and x-mock-reasoning-tokens set an answer and its reasoning, in each API, only where the model reasons', async () => {
    const headers = { 'x-mock-output-tokens': '700', 'x-mock-reasoning-tokens': '450' };
    const chat = (await (await post('/v1/chat/completions', JSON.stringify({ model: 'o3', messages: [{ role: 'user', content: 'Hello' }], max_completion_tokens: 5000 }), headers)).json()) as any;
    const chatReasoning = chat.usage.completion_tokens_details.reasoning_tokens;
    // Rounded up to the end of a sentence, as the answer is.
    const near = (n: number) => n >= 450 && n < 510;
    assert.ok(near(chatReasoning), `chat reasoning tokens ${chatReasoning}`);
    assert.ok(chat.usage.completion_tokens - chatReasoning >= 700 && chat.usage.completion_tokens - chatReasoning < 760, `chat answer tokens ${chat.usage.completion_tokens - chatReasoning}`);
    const resp = (await (await post('/v1/responses', JSON.stringify({ model: 'o4-mini', input: 'Hello', reasoning: { effort: 'high' } }), headers)).json()) as any;
    assert.ok(near(resp.usage.output_tokens_details.reasoning_tokens), `responses reasoning tokens ${resp.usage.output_tokens_details.reasoning_tokens}: the count is taken as given, effort already in it`);
    const msg = (await (await post('/v1/messages', JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 4000, thinking: { type: 'enabled', budget_tokens: 2000 }, messages: [{ role: 'user', content: 'Hello' }] }), { ...headers, 'anthropic-version': '2023-06-01' })).json()) as any;
    assert.ok(near(msg.usage.output_tokens_details.thinking_tokens), `thinking tokens ${msg.usage.output_tokens_details?.thinking_tokens}`);
    // A model that does not reason gives none, whatever the header says.
    const plain = (await (await post('/v1/chat/completions', chatBody(), headers)).json()) as any;
    assert.equal(plain.usage.completion_tokens_details.reasoning_tokens, 0, 'gpt-4o-mini reasons not');
    assert.ok(plain.usage.completion_tokens >= 700, `answer tokens ${plain.usage.completion_tokens}`);
    const bad = await post('/v1/chat/completions', chatBody(), { 'x-mock-reasoning-tokens': 'many' });
    assert.equal(bad.status, 400, 'a count that is not a number is refused');
  });

  test('a client that disconnects mid-stream is counted as aborted and its timer stops', async () => {
    const paced = await createMockUpstream({ port: 0, tokensPerSecond: 100 });
    try {
      const controller = new AbortController();
      const res = await fetch(`${paced.url}/v1/chat/completions`, { method: 'POST', body: chatBody({ stream: true }), headers: { 'x-mock-output-tokens': '500' }, signal: controller.signal });
      const reader = res.body!.getReader();
      await reader.read();
      controller.abort();
      await waitFor(() => paced.stats.aborted === 1 && paced.stats.inFlight === 0);
      assert.equal(paced.stats.streams, 1);
      assert.equal(paced.stats.completed, 0);
    } finally {
      await paced.close();
    }
  });

  test('recorded requests keep the body as sent (unknown fields included)', async () => {
    await post('/v1/chat/completions', chatBody({ some_future_field: { a: 1 } }));
    const last = mock.received[mock.received.length - 1];
    assert.equal(last.path, '/v1/chat/completions');
    assert.deepEqual((last.body as any).some_future_field, { a: 1 });
  });
});

describe('cli', () => {
  test('runMockUpstreamCli starts, serves, and stops', async () => {
    const lines: string[] = [];
    const controller = new AbortController();
    let url = '';
    const done = runMockUpstreamCli(['--port', '0', '--seed', '3', '--latency-ms', '0'], {
      stdout: (l) => lines.push(l),
      stderr: (l) => lines.push(l),
      signal: controller.signal,
      onListening: (u) => (url = u),
    });
    await waitFor(() => url !== '');
    const res = await fetch(`${url}/v1/models`);
    assert.equal(res.status, 200);
    controller.abort();
    assert.equal(await done, 0);
    assert.match(lines[0], /^mock upstream listening on http:\/\/127\.0\.0\.1:\d+$/);
    await assert.rejects(fetch(`${url}/healthz`));
  });

  test('bad arguments exit with 2', async () => {
    const lines: string[] = [];
    assert.equal(await runMockUpstreamCli(['--port', 'abc'], { stdout: (l) => lines.push(l), stderr: (l) => lines.push(l) }), 2);
    assert.match(lines[0], /--port must be a non-negative integer/);
    assert.equal(await runMockUpstreamCli(['--bogus'], { stdout: () => {}, stderr: () => {} }), 2);
  });
});

describe('model list', () => {
  test('the Anthropic flavour lists only Claude models, in the API\'s shape, and does not serve other families', async () => {
    const m = await createMockUpstream({ host: '127.0.0.1', port: 0, latencyMs: 0, listedModels: ['claude-opus-4-8', 'gpt-4o-mini', 'claude-3-5-haiku-20241022', 'mock-model', 'claude-sonnet-5', 'o3'] });
    try {
      for (const headers of [{ 'anthropic-version': '2023-06-01' }, { 'anthropic-version': '2023-06-01', 'x-api-key': 'k' }] as Record<string, string>[]) {
        const res = await fetch(`${m.url}/v1/models`, { headers });
        assert.equal(res.status, 200);
        const page = (await res.json()) as any;
        assert.deepEqual(page.data.map((x: any) => x.id), ['claude-opus-4-8', 'claude-3-5-haiku-20241022', 'claude-sonnet-5'], `only Claude models with ${Object.keys(headers).join('+')}`);
        assert.deepEqual(Object.keys(page).sort(), ['data', 'first_id', 'has_more', 'last_id']);
        assert.equal(page.has_more, false);
        assert.equal(page.first_id, 'claude-opus-4-8');
        assert.equal(page.last_id, 'claude-sonnet-5');
        assert.deepEqual(page.data.map((x: any) => x.display_name), ['Claude Opus 4.8', 'Claude Haiku 3.5', 'Claude Sonnet 5'], 'display names as the API words them, not the id');
        for (const x of page.data) {
          assert.equal(x.type, 'model');
          assert.match(x.created_at, /^\d{4}-\d{2}-\d{2}T00:00:00Z$/);
        }
        assert.equal(page.data[1].created_at, '2024-10-22T00:00:00Z', 'a dated snapshot was created on its date');
      }
      const other = await fetch(`${m.url}/v1/models/gpt-4o-mini`, { headers: { 'anthropic-version': '2023-06-01' } });
      assert.equal(other.status, 404, 'another family is not an Anthropic model');
      assert.equal(((await other.json()) as any).error.type, 'not_found_error');
      const one = (await (await fetch(`${m.url}/v1/models/claude-sonnet-5`, { headers: { 'anthropic-version': '2023-06-01' } })).json()) as any;
      assert.deepEqual(one, { type: 'model', id: 'claude-sonnet-5', display_name: 'Claude Sonnet 5', created_at: one.created_at });
      // The OpenAI flavour still lists every model the mock serves.
      const oa = (await (await fetch(`${m.url}/v1/models`)).json()) as any;
      assert.equal(oa.data.length, 6);
    } finally {
      await m.close();
    }
  });

  test('the Anthropic list is paged as the API pages it, and the SDK walks every page', async () => {
    const listed = Array.from({ length: 45 }, (_, i) => `claude-test-${String(i).padStart(2, '0')}`);
    const m = await createMockUpstream({ host: '127.0.0.1', port: 0, latencyMs: 0, models: ['claude-*'], listedModels: listed });
    try {
      const first = (await (await fetch(`${m.url}/v1/models`, { headers: { 'anthropic-version': '2023-06-01' } })).json()) as any;
      assert.equal(first.data.length, 20);
      assert.equal(first.has_more, true);
      assert.equal(first.first_id, listed[0]);
      assert.equal(first.last_id, listed[19]);
      assert.deepEqual(Object.keys(first.data[0]).sort(), ['created_at', 'display_name', 'id', 'type']);
      const last = (await (await fetch(`${m.url}/v1/models?limit=30&after_id=${listed[19]}`, { headers: { 'anthropic-version': '2023-06-01' } })).json()) as any;
      assert.equal(last.data.length, 25);
      assert.equal(last.has_more, false);
      const back = (await (await fetch(`${m.url}/v1/models?limit=5&before_id=${listed[5]}`, { headers: { 'anthropic-version': '2023-06-01' } })).json()) as any;
      assert.deepEqual(back.data.map((x: any) => x.id), listed.slice(0, 5));
      assert.equal(back.has_more, false);
      const bad = await fetch(`${m.url}/v1/models?limit=0`, { headers: { 'anthropic-version': '2023-06-01' } });
      assert.equal(bad.status, 400);
      const sdk = new Anthropic({ apiKey: 'x', baseURL: m.url, maxRetries: 0 });
      const ids: string[] = [];
      for await (const model of sdk.models.list()) ids.push(model.id);
      assert.deepEqual(ids, listed);
      // The OpenAI list is one page.
      const oa = await new OpenAI({ apiKey: 'x', baseURL: `${m.url}/v1`, maxRetries: 0 }).models.list();
      assert.equal(oa.data.length, 45);
    } finally {
      await m.close();
    }
  });
});
