// Stored responses through the gateway: a customer continues its own response with
// `previous_response_id` (streamed or not, at once), another customer naming it is refused before
// anything reaches the upstream, and every answer's id is on its event.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startHarness, storedEvents, type Harness } from '../helpers/gateway.ts';
import { answerOwnershipHooks, MemoryAnswerOwnersStore } from '../../src/identity/index.ts';

const ALICE = 'wk_test_alice_0123456789abcdefghijkaaaaaa';
const BOB = 'wk_test_bob_0123456789abcdefghijklmbbbbbb';

let h: Harness;
before(async () => {
  h = await startHarness({
    keys: [{ secret: ALICE, accountId: 'acc_alice' }, { secret: BOB, accountId: 'acc_bob' }],
    hooks: [answerOwnershipHooks(new MemoryAnswerOwnersStore(), { retentionDays: 30 })],
  });
});
after(async () => { await h.close(); });

const client = (key: string) => new OpenAI({ apiKey: key, baseURL: `${h.url}/v1`, maxRetries: 0 });

test('a customer continues its own response; another customer naming it is refused, and the upstream never sees it', async () => {
  const first = await client(ALICE).responses.create({ model: 'gpt-4o-mini', input: 'Remember the word: heliotrope.', max_output_tokens: 30 });
  const second = await client(ALICE).responses.create({ model: 'gpt-4o-mini', previous_response_id: first.id, input: 'Which word?', max_output_tokens: 30 });
  assert.equal(second.previous_response_id, first.id);

  await assert.rejects(
    client(BOB).responses.create({ model: 'gpt-4o-mini', previous_response_id: first.id, input: 'Repeat everything said so far.' }),
    (e: any) => e.status === 400 && e.error.warden_code === 'WARDEN_PREVIOUS_RESPONSE_NOT_FOUND' && e.error.param === 'previous_response_id' && e.error.message === `Previous response with id '${first.id}' not found.`,
  );
  // an id nobody was given reads the same
  await assert.rejects(client(BOB).responses.create({ model: 'gpt-4o-mini', previous_response_id: 'resp_0000', input: 'x' }), (e: any) => e.status === 400 && e.error.warden_code === 'WARDEN_PREVIOUS_RESPONSE_NOT_FOUND');

  const events = await storedEvents(h, 4);
  const byBob = events.filter((e) => e.account_id === 'acc_bob');
  assert.equal(byBob.length, 2);
  for (const e of byBob) {
    assert.equal(e.upstream, null, 'not forwarded');
    assert.equal(e.response.error_code, 'WARDEN_PREVIOUS_RESPONSE_NOT_FOUND');
    assert.deepEqual(e.enforcement.policy, ['refused:previous_response']);
  }
  const byAlice = events.filter((e) => e.account_id === 'acc_alice');
  assert.deepEqual(byAlice.map((e) => e.response.answer_id).sort(), [first.id, second.id].sort(), 'each answer id is on its event');
  // The continuation is on the event: the detector reads the chain the model read (src/detect/chains.ts).
  const cont = byAlice.find((e) => e.response.answer_id === second.id);
  assert.equal(cont?.request.previous_response_id, first.id, 'the continued response is recorded');
  assert.equal(byAlice.find((e) => e.response.answer_id === first.id)?.request.previous_response_id, undefined, 'a first request continues nothing');
});

test('a streamed response can be continued the moment it ends; its id is on the event', async () => {
  const stream = await client(ALICE).responses.create({ model: 'gpt-4o-mini', input: 'Name a colour.', stream: true, max_output_tokens: 30 });
  let id = '';
  for await (const ev of stream) if (ev.type === 'response.created') id = ev.response.id;
  assert.match(id, /^resp_/);
  const next = await client(ALICE).responses.create({ model: 'gpt-4o-mini', previous_response_id: id, input: 'Another.', max_output_tokens: 30 });
  assert.equal(next.previous_response_id, id);
  await assert.rejects(client(BOB).responses.create({ model: 'gpt-4o-mini', previous_response_id: id, input: 'x' }), (e: any) => e.status === 400);
  const events = await storedEvents(h, 7);
  const streamed = events.find((e) => e.request.stream && e.flavour === 'openai.responses');
  assert.equal(streamed?.response.answer_id, id);
});

test('conversations cannot be named (they cannot be created here), nor background mode asked for (it cannot be fetched here); other APIs carry their answer ids too', async () => {
  await assert.rejects(
    client(ALICE).responses.create({ model: 'gpt-4o-mini', background: true, input: 'A long essay, please.' }),
    (e: any) => e.status === 400 && e.error.param === 'background',
  );
  await assert.rejects(
    client(ALICE).responses.create({ model: 'gpt-4o-mini', conversation: 'conv_123', input: 'hi' }),
    (e: any) => e.status === 400 && e.error.param === 'conversation',
  );
  const chat = await client(ALICE).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 10 });
  const streamed = await client(ALICE).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi there' }], max_tokens: 10, stream: true });
  let streamId = '';
  for await (const c of streamed) streamId = c.id;
  const events = await storedEvents(h, 12);
  const ids = new Set(events.filter((e) => e.flavour === 'openai.chat').map((e) => e.response.answer_id));
  assert.ok(ids.has(chat.id) && ids.has(streamId), [...ids].join(','));
});

test('Anthropic code-execution containers: reused by the customer whose answer used them, by nobody else', async () => {
  const { startRawUpstream } = await import('../helpers/raw-upstream.ts');
  let n = 0;
  // An upstream with code execution: every answer says which container it ran in (the one named, or a new one).
  const raw = await startRawUpstream((_req, res, body) => {
    const asked = JSON.parse(body) as { container?: string; stream?: boolean };
    const container = { id: asked.container ?? `container_${++n}`, expires_at: '2026-12-04T00:00:00Z' };
    const message = { id: `msg_${n}_${Date.now()}`, type: 'message', role: 'assistant', model: 'claude-exec', content: [{ type: 'text', text: 'ran it' }], stop_reason: 'end_turn', stop_sequence: null, container: null as unknown, usage: { input_tokens: 5, output_tokens: 2 } };
    if (asked.stream) {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const ev = (name: string, data: object) => res.write(`event: ${name}\ndata: ${JSON.stringify(data)}\n\n`);
      ev('message_start', { type: 'message_start', message: { ...message, content: [], stop_reason: null } });
      ev('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } });
      ev('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'ran it' } });
      ev('content_block_stop', { type: 'content_block_stop', index: 0 });
      ev('message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null, container }, usage: { output_tokens: 2 } });
      ev('message_stop', { type: 'message_stop' });
      res.end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ ...message, container }));
  });
  const hx = await startHarness({
    keys: [{ secret: ALICE, accountId: 'acc_alice' }, { secret: BOB, accountId: 'acc_bob' }],
    hooks: [answerOwnershipHooks(new MemoryAnswerOwnersStore(), { retentionDays: 30 })],
    upstreamOverride: (mockUrl) => [{ name: 'exec', base_url: raw.url, models: ['claude-exec'], flavours: ['anthropic'] }, { name: 'mock', base_url: mockUrl, models: ['*'] }],
  });
  try {
    const ask = (key: string, extra: object) => fetch(`${hx.url}/v1/messages`, { method: 'POST', headers: { 'x-api-key': key, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' }, body: JSON.stringify({ model: 'claude-exec', max_tokens: 50, messages: [{ role: 'user', content: 'run my script' }], ...extra }) });
    const first = await (await ask(ALICE, {})).json() as any;
    assert.equal(first.container.id, 'container_1');
    assert.equal((await ask(ALICE, { container: 'container_1' })).status, 200, 'the owner reuses it');
    const bob = await ask(BOB, { container: 'container_1' });
    assert.equal(bob.status, 404);
    const refusal = await bob.json() as any;
    assert.equal(refusal.error.type, 'not_found_error');
    assert.equal(refusal.error.message, "Container 'container_1' not found.");
    assert.equal((await ask(BOB, { container: { id: 'container_1' } })).status, 404, 'named as an object too');
    // a container announced at the end of a stream is Alice's as well
    const streamed = await (await ask(ALICE, { stream: true })).text();
    assert.match(streamed, /container_2/);
    assert.equal((await ask(BOB, { container: 'container_2' })).status, 404);
    assert.equal((await ask(ALICE, { container: 'container_2' })).status, 200);
    const diag = await ask(ALICE, { diagnostics: { previous_message_id: first.id } });
    assert.equal(diag.status, 400);
    const forwarded = raw.requests.map((r) => JSON.parse(r.body).container ?? null);
    assert.deepEqual(forwarded, [null, 'container_1', null, 'container_2'], 'the refused requests never reached the upstream');
    const events = await storedEvents(hx, 8);
    assert.ok(events.some((e) => e.response.container_id === 'container_2'), 'the container is on the event');
  } finally {
    await hx.close();
    await raw.close();
  }
});

test('a response the upstream created and then failed in its stream is still its creator\'s to read back and continue, and nobody else\'s', async () => {
  const { startRawUpstream } = await import('../helpers/raw-upstream.ts');
  const FAILED = { id: 'resp_failed_1', object: 'response', created_at: 1, model: 'gpt-fail', status: 'failed', error: { code: 'server_error', message: 'An error occurred.' }, output: [], usage: null };
  const raw = await startRawUpstream((req, res, body) => {
    if (req.method === 'GET') { res.writeHead(200, { 'content-type': 'application/json' }); res.end(JSON.stringify(FAILED)); return; }
    const asked = JSON.parse(body) as { previous_response_id?: string };
    if (asked.previous_response_id) {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: `Previous response with id '${asked.previous_response_id}' failed.`, type: 'invalid_request_error', param: 'previous_response_id', code: 'previous_response_failed' } }));
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const ev = (name: string, data: object) => res.write(`event: ${name}\ndata: ${JSON.stringify(data)}\n\n`);
    ev('response.created', { type: 'response.created', sequence_number: 0, response: { ...FAILED, status: 'in_progress', error: null } });
    ev('error', { type: 'error', code: 'server_error', message: 'An error occurred.', param: null, sequence_number: 1 });
    ev('response.failed', { type: 'response.failed', sequence_number: 2, response: FAILED });
    res.end();
  });
  const hx = await startHarness({
    keys: [{ secret: ALICE, accountId: 'acc_alice' }, { secret: BOB, accountId: 'acc_bob' }],
    hooks: [answerOwnershipHooks(new MemoryAnswerOwnersStore(), { retentionDays: 30 })],
    upstreamOverride: () => [{ name: 'failing', base_url: raw.url, models: ['*'] }],
  });
  try {
    const as = (key: string) => new OpenAI({ apiKey: key, baseURL: `${hx.url}/v1`, maxRetries: 0 });
    const types: string[] = [];
    for await (const e of await as(ALICE).responses.create({ model: 'gpt-fail', input: 'hi', stream: true })) types.push(e.type);
    assert.deepEqual(types, ['response.created', 'error', 'response.failed']);
    const [event] = await storedEvents(hx, 1);
    assert.deepEqual([event.response.status, event.response.error_code, event.response.answer_id], [500, 'WARDEN_UPSTREAM_ERROR', 'resp_failed_1']);

    const read = await as(ALICE).responses.retrieve('resp_failed_1');
    assert.equal(read.status, 'failed', 'the creator reads its failed response back');
    // Continuing it reaches the upstream, which gives its own answer (not Warden's "not found").
    await assert.rejects(as(ALICE).responses.create({ model: 'gpt-fail', previous_response_id: 'resp_failed_1', input: 'again' }), (e: any) => e.status === 400 && e.error?.code === 'previous_response_failed');
    await assert.rejects(as(BOB).responses.retrieve('resp_failed_1'), (e: any) => e.status === 404, 'another customer cannot read it');
    await assert.rejects(as(BOB).responses.create({ model: 'gpt-fail', previous_response_id: 'resp_failed_1', input: 'x' }), (e: any) => e.error?.warden_code === 'WARDEN_PREVIOUS_RESPONSE_NOT_FOUND');
  } finally {
    await hx.close();
    await raw.close();
  }
});

test('OpenAI Responses: items and code-interpreter containers of an answer are referenced by its customer only; the operator\'s prompts, vector stores and files only when shared', async () => {
  const { startRawUpstream } = await import('../helpers/raw-upstream.ts');
  let n = 0;
  // An upstream with code interpreter: every answer ran in the container named, or a new one, and says so in its output items.
  const raw = await startRawUpstream((_req, res, body) => {
    const asked = JSON.parse(body) as { tools?: { container?: unknown }[]; stream?: boolean };
    n++;
    const named = asked.tools?.[0]?.container;
    const container = typeof named === 'string' ? named : `cntr_${n}`;
    const output = [
      { type: 'code_interpreter_call', id: `ci_${n}`, status: 'completed', code: 'print(1)', container_id: container, outputs: null },
      { type: 'message', id: `msg_${n}`, status: 'completed', role: 'assistant', content: [{ type: 'output_text', text: 'ran it', annotations: [] }] },
    ];
    const response = { id: `resp_${n}`, object: 'response', created_at: 1, model: 'gpt-ci', status: 'completed', output, usage: { input_tokens: 5, output_tokens: 2, total_tokens: 7 } };
    if (asked.stream) {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      let seq = 0;
      const ev = (name: string, data: object) => res.write(`event: ${name}\ndata: ${JSON.stringify({ type: name, sequence_number: seq++, ...data })}\n\n`);
      ev('response.created', { response: { ...response, status: 'in_progress', output: [] } });
      output.forEach((item, i) => { ev('response.output_item.added', { output_index: i, item }); ev('response.output_item.done', { output_index: i, item }); });
      ev('response.completed', { response });
      res.end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(response));
  });
  const hx = await startHarness({
    keys: [{ secret: ALICE, accountId: 'acc_alice' }, { secret: BOB, accountId: 'acc_bob' }],
    hooks: [answerOwnershipHooks(new MemoryAnswerOwnersStore(), { retentionDays: 30, shared: { prompts: ['pmpt_public'], vectorStores: ['vs_docs'], files: [] } })],
    upstreamOverride: () => [{ name: 'ci', base_url: raw.url, models: ['*'] }],
  });
  try {
    const ask = (key: string, extra: object) => fetch(`${hx.url}/v1/responses`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-ci', input: 'ls /mnt/data', ...extra }) });
    const ci = (container: unknown) => ({ tools: [{ type: 'code_interpreter', container }] });
    const refused = async (res: Response, status: number, param: string, message?: string) => {
      const body = await res.json() as any;
      assert.equal(res.status, status, `refused with ${status}: ${JSON.stringify(body)}`);
      assert.equal(body.error.param, param, 'the refusal names the field');
      if (message) assert.equal(body.error.message, message);
    };
    assert.equal((await ask(ALICE, ci({ type: 'auto' }))).status, 200, 'a new container for Alice (cntr_1)');
    const reference = (id: string) => ({ input: [{ type: 'item_reference', id }, { role: 'user', content: 'repeat the above' }] });

    // Alice reuses her container and references her answer's items; Bob can do neither.
    assert.equal((await ask(ALICE, ci('cntr_1'))).status, 200, 'the owner reuses its container');
    assert.equal((await ask(ALICE, reference('msg_1'))).status, 200, 'the owner references its own item');
    assert.equal((await ask(ALICE, { input: [{ type: 'message', id: 'msg_1', role: 'assistant', content: [{ type: 'output_text', text: 'ran it' }] }, { role: 'user', content: 'and?' }] })).status, 200, 'an item of its answer handed back whole');
    await refused(await ask(BOB, ci('cntr_1')), 404, 'tools[0].container', "Container 'cntr_1' not found.");
    await refused(await ask(BOB, reference('msg_1')), 404, 'input[0]', "Item with id 'msg_1' not found.");
    await refused(await ask(BOB, { input: [{ role: 'user', content: 'hi' }, { type: 'message', id: 'msg_1', role: 'assistant', content: [] }] }), 404, 'input[1]');
    await refused(await ask(BOB, reference('msg_never')), 404, 'input[0]');

    // A container and items announced in a stream are Alice's as well.
    const streamed = await (await ask(ALICE, { ...ci({ type: 'auto' }), stream: true })).text();
    assert.match(streamed, /cntr_5/);
    await refused(await ask(BOB, ci('cntr_5')), 404, 'tools[0].container');
    await refused(await ask(BOB, reference('msg_5')), 404, 'input[0]');
    assert.equal((await ask(ALICE, ci('cntr_5'))).status, 200);
    assert.equal((await ask(ALICE, reference('msg_5'))).status, 200);

    // The operator's stored objects: only the ones shared in the configuration.
    await refused(await ask(ALICE, { prompt: { id: 'pmpt_private' } }), 400, 'prompt.id');
    assert.equal((await ask(BOB, { prompt: { id: 'pmpt_public' } })).status, 200, 'a shared prompt');
    await refused(await ask(ALICE, { tools: [{ type: 'file_search', vector_store_ids: ['vs_docs', 'vs_secret'] }] }), 400, 'tools[0].vector_store_ids');
    assert.equal((await ask(BOB, { tools: [{ type: 'file_search', vector_store_ids: ['vs_docs'] }] })).status, 200, 'a shared vector store');
    await refused(await ask(ALICE, ci({ type: 'auto', file_ids: ['file-upstream'] })), 400, 'tools[0].container.file_ids');

    const forwarded = raw.requests.map((r) => JSON.parse(r.body) as any);
    assert.ok(!forwarded.some((b) => JSON.stringify(b).includes('pmpt_private') || JSON.stringify(b).includes('vs_secret') || JSON.stringify(b).includes('file-upstream')), 'refused requests never reached the upstream');
    assert.equal(forwarded.length, 9, 'only the allowed requests were forwarded');
    const events = await storedEvents(hx, 18);
    const byBob = events.filter((e) => e.account_id === 'acc_bob' && e.response.status >= 400);
    assert.deepEqual(byBob.map((e) => e.enforcement.policy.filter((p) => p.startsWith('refused:'))).flat().sort(),
      ['refused:container', 'refused:container', 'refused:input_item', 'refused:input_item', 'refused:input_item', 'refused:input_item'], 'each refusal is on its event');
    const first = events.find((e) => e.response.answer_id === 'resp_1');
    assert.equal(first?.response.container_id, 'cntr_1', 'the container is on the event');
    assert.deepEqual(first?.response.item_ids, ['ci_1', 'msg_1'], 'the answer\'s items are on the event');
  } finally {
    await hx.close();
    await raw.close();
  }
});
