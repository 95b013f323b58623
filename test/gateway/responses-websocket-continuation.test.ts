// `previous_response_id` over the Responses API's WebSocket mode with `store: false`: as OpenAI's,
// the connection keeps its most recent response in memory, so a client continues it without the
// upstream storing anything. Warden sends the upstream the earlier turns as input (the upstream is
// called over HTTP), which it answers exactly as it answers a continuation of a stored response.
// Only that connection, only its most recent response, and only up to a size bound.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { ResponsesWS } from 'openai/resources/responses/ws';
import { createMockUpstream, type MockUpstream } from '../../src/mock/index.ts';
import { startTestWarden, type TestWarden } from '../helpers/warden.ts';
import { until } from '../helpers/until.ts';

let t: TestWarden;
let mock: MockUpstream;
before(async () => {
  mock = await createMockUpstream({ host: '127.0.0.1', port: 0, latencyMs: 0, tokensPerSecond: 0, answerTokens: [20, 40] });
  t = await startTestWarden({ upstreams: [{ name: 'mock', base_url: mock.url, models: ['*'] }], events: { flush_interval_ms: 20 } });
});
after(async () => { await t.close(); await mock.close(); });

const ENDED = new Set(['response.completed', 'response.incomplete']);

/** An SDK socket; `turn` sends one response.create and resolves with its final response or its error event. */
function connect(key: string, url = t.url) {
  const ws = new ResponsesWS(new OpenAI({ apiKey: key, baseURL: `${url}/v1`, maxRetries: 0 }));
  const events: any[] = [];
  ws.on('event', (e: any) => events.push(e));
  ws.on('error', () => {});
  const turn = async (body: Record<string, unknown>): Promise<{ response?: any; error?: any }> => {
    const from = events.length;
    ws.send({ type: 'response.create', model: 'gpt-4o-mini', max_output_tokens: 16, ...body } as any);
    const end = await until(`the turn to end: ${JSON.stringify(events.slice(from)).slice(0, 400)}`, () => events.slice(from).find((e) => ENDED.has(e.type) || e.type === 'error'));
    return end.type === 'error' ? { error: end } : { response: end.response };
  };
  return { ws, events, turn };
}

const text = (response: any) => response.output.filter((i: any) => i.type === 'message').flatMap((i: any) => i.content.map((c: any) => c.text)).join('');

test('store: false: the next response.create continues the last response of the socket, as a stored one is continued', { timeout: 30_000 }, async () => {
  const acct = await t.account('ws-continue', 'identity_verified');
  // The reference: the same conversation over HTTP with stored responses.
  const http = new OpenAI({ apiKey: acct.key, baseURL: `${t.url}/v1`, maxRetries: 0 });
  const h1 = await http.responses.create({ model: 'gpt-4o-mini', input: 'My name is Ada.', max_output_tokens: 16 });
  const h2 = await http.responses.create({ model: 'gpt-4o-mini', input: 'What is my name?', max_output_tokens: 16, previous_response_id: h1.id });

  const c = connect(acct.key);
  const first = await c.turn({ input: 'My name is Ada.', store: false });
  assert.ok(first.response, `the first turn: ${JSON.stringify(first.error)}`);
  const second = await c.turn({ input: 'What is my name?', store: false, previous_response_id: first.response.id });
  assert.ok(second.response, `continued without a stored response: ${JSON.stringify(second.error)}`);
  assert.equal(second.response.previous_response_id, first.response.id, 'the response names the one it continues');
  assert.equal(second.response.usage.input_tokens, h2.usage!.input_tokens, 'the earlier turns counted as input, as for a stored response');
  assert.equal(text(second.response), h2.output_text, 'the model saw the same conversation as through a stored response');
  // The chain goes on: the third turn continues the second (which holds the first).
  const third = await c.turn({ input: [{ role: 'user', content: 'And again?' }], store: false, previous_response_id: second.response.id });
  assert.ok(third.response, JSON.stringify(third.error));
  assert.ok(third.response.usage.input_tokens > second.response.usage.input_tokens + second.response.usage.output_tokens - 1, `the whole chain is input: ${third.response.usage.input_tokens}`);
  const sent = [...mock.received].reverse().find((r) => r.path === '/v1/responses')?.body as Record<string, any>;
  assert.equal(sent.previous_response_id, undefined, 'the upstream is sent the conversation, not an id it never stored');
  assert.equal(sent.store, false, 'and stores nothing');
  assert.ok(sent.input.every((i: any) => i.id === undefined), `items replayed without ids the upstream never kept: ${JSON.stringify(sent.input).slice(0, 400)}`);
  c.ws.close();
});

test('only the most recent response of the same socket: an older one, or another socket\'s, is previous_response_not_found', { timeout: 30_000 }, async () => {
  const acct = await t.account('ws-continue-miss', 'identity_verified');
  const c = connect(acct.key);
  const first = await c.turn({ input: 'One.', store: false });
  const second = await c.turn({ input: 'Two.', store: false });
  assert.ok(first.response && second.response);
  const older = await c.turn({ input: 'Three.', store: false, previous_response_id: first.response.id });
  assert.ok(older.error, 'an older response is not kept');
  assert.equal(older.error.status, 400);
  assert.equal(older.error.error.code, 'previous_response_not_found', JSON.stringify(older.error));
  assert.equal(older.error.error.param, 'previous_response_id');
  // A failed continuation forgets the response it named (as OpenAI evicts it).
  const after = await c.turn({ input: 'Four.', store: false, previous_response_id: second.response.id });
  assert.ok(after.response, `the most recent one still continues: ${JSON.stringify(after.error)}`);

  const other = connect(acct.key);
  const elsewhere = await other.turn({ input: 'Five.', store: false, previous_response_id: after.response.id });
  assert.ok(elsewhere.error, 'another socket does not have it');
  assert.equal(elsewhere.error.error.code, 'previous_response_not_found', JSON.stringify(elsewhere.error));
  c.ws.close();
  other.ws.close();
});

test('a conversation over server.websocket.previous_response_max_bytes is not kept: its continuation is refused, saying why', { timeout: 30_000 }, async () => {
  const b = await startTestWarden({ upstreams: [{ name: 'mock', base_url: mock.url, models: ['*'] }], server: { port: 0, websocket: { previous_response_max_bytes: 2000 } } });
  try {
    const acct = await b.account('ws-continue-big', 'identity_verified');
    const c = connect(acct.key, b.url);
    const first = await c.turn({ input: 'x'.repeat(3000), store: false });
    assert.ok(first.response, JSON.stringify(first.error));
    const next = await c.turn({ input: 'More.', store: false, previous_response_id: first.response.id });
    assert.ok(next.error, 'refused');
    assert.equal(next.error.status, 400);
    assert.equal(next.error.error.code, 'previous_response_not_found');
    assert.match(next.error.error.message, /previous_response_max_bytes/, next.error.error.message);
    c.ws.close();
  } finally {
    await b.close();
  }
});

test('an upstream that writes its events otherwise (spaces, `type` last, no `event:` lines) is continued too', { timeout: 30_000 }, async () => {
  // A Responses server in the style of Python ones: `json.dumps` spacing, the model's fields in order, `type` last.
  const { createServer } = await import('node:http');
  const received: any[] = [];
  let n = 0;
  const upstream = createServer((req, res) => {
    let raw = '';
    req.on('data', (d) => { raw += d; });
    req.on('end', () => {
      const body = JSON.parse(raw);
      received.push(body);
      const id = `resp_py_${++n}`;
      const usage = { input_tokens: 10 * n, output_tokens: 3, total_tokens: 10 * n + 3, input_tokens_details: { cached_tokens: 0 }, output_tokens_details: { reasoning_tokens: 0 } };
      const message = { id: `msg_py_${n}`, type: 'message', role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: `Answer ${n}.`, annotations: [] }] };
      const base = { id, object: 'response', created_at: 1, model: body.model, status: 'in_progress', output: [], usage: null, store: body.store ?? true, previous_response_id: body.previous_response_id ?? null };
      const events = [
        { response: base, sequence_number: 0, type: 'response.created' },
        { item_id: message.id, output_index: 0, content_index: 0, delta: message.content[0]!.text, sequence_number: 1, type: 'response.output_text.delta' },
        { response: { ...base, status: 'completed', output: [message], usage }, sequence_number: 2, type: 'response.completed' },
      ];
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for (const e of events) res.write(`data: ${JSON.stringify(e, null, 1).replace(/\n\s*/g, ' ')}\n\n`);
      res.end();
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const port = (upstream.address() as import('node:net').AddressInfo).port;
  const b = await startTestWarden({ upstreams: [{ name: 'py', base_url: `http://127.0.0.1:${port}/v1`, models: ['*'] }] });
  try {
    const acct = await b.account('ws-continue-py', 'identity_verified');
    const c = connect(acct.key, b.url);
    const first = await c.turn({ input: 'Hi.', store: false });
    assert.ok(first.response, JSON.stringify(first.error));
    const second = await c.turn({ input: 'Again.', store: false, previous_response_id: first.response.id });
    assert.ok(second.response, JSON.stringify(second.error));
    assert.equal(second.response.previous_response_id, first.response.id);
    const sent = received.at(-1);
    assert.equal(sent.previous_response_id, undefined);
    assert.deepEqual(sent.input.map((i: any) => i.role), ['user', 'assistant', 'user'], JSON.stringify(sent.input));
    assert.equal(sent.input[1].content[0].text, 'Answer 1.', 'the first answer, as the client got it');
    c.ws.close();
  } finally {
    await b.close();
    await new Promise((r) => upstream.close(r));
  }
});
