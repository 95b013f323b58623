// What a request may name by id, through the gateway: an answer's every item (however many it
// made) is its owner's, Chat audio is its owner's, an upstream file, a custom skill or a container
// named anywhere is checked (batches off: no file is inlined), and a request naming thousands of
// ids is answered at once with one lookup, not one per id.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, storedEvents } from '../helpers/gateway.ts';
import { startRawUpstream } from '../helpers/raw-upstream.ts';
import { answerOwnershipHooks, MemoryAnswerOwnersStore } from '../../src/identity/index.ts';

/** The most ids one request may name (docs/identity.md). */
const MAX_NAMED_IDS = 4_096;

const ALICE = 'wk_test_alice_0123456789abcdefghijkaaaaaa';
const BOB = 'wk_test_bob_0123456789abcdefghijklmbbbbbb';

async function setup(opts: { items?: number; store?: MemoryAnswerOwnersStore } = {}) {
  let n = 0;
  const raw = await startRawUpstream((req, res, body) => {
    n++;
    if (req.url?.includes('/v1/messages')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id: `msg_a${n}`, type: 'message', role: 'assistant', model: 'claude-x', content: [{ type: 'text', text: 'ok' }], stop_reason: 'end_turn', usage: { input_tokens: 3, output_tokens: 1 } }));
      return;
    }
    if (req.url?.includes('/v1/chat/completions')) {
      if (JSON.parse(body).stream) {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        const chunk = (delta: object, finish: string | null) => `data: ${JSON.stringify({ id: `chatcmpl-${n}`, object: 'chat.completion.chunk', model: 'gpt-4o-audio-preview', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
        res.end(chunk({ role: 'assistant', content: null }, null) + chunk({ audio: { id: `audio_s${n}`, transcript: 'secret' } }, null)
          + chunk({ audio: { data: 'AAAA' } }, null) + chunk({}, 'stop') + 'data: [DONE]\n\n');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id: `chatcmpl-${n}`, object: 'chat.completion', created: 1, model: 'gpt-4o-audio-preview', choices: [{ index: 0, message: { role: 'assistant', content: null, audio: { id: `audio_${n}`, data: 'AAAA', expires_at: 9e9, transcript: 'secret words' } }, finish_reason: 'stop' }], usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 } }));
      return;
    }
    const output = Array.from({ length: opts.items ?? 1 }, (_, i) => ({ type: 'function_call', id: `fc_${n}_${i}`, call_id: `call_${n}_${i}`, name: 'f', arguments: '{}', status: 'completed' }));
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ id: `resp_${n}`, object: 'response', created_at: 1, model: 'gpt-x', status: 'completed', output, usage: { input_tokens: 5, output_tokens: 2, total_tokens: 7 } }));
  });
  const hooks = answerOwnershipHooks(opts.store ?? new MemoryAnswerOwnersStore(), { retentionDays: 30, shared: { prompts: ['pmpt_shared'], files: ['file-shared'], skills: ['skill_shared'] } });
  const hx = await startHarness({
    keys: [{ secret: ALICE, accountId: 'acc_alice' }, { secret: BOB, accountId: 'acc_bob' }],
    hooks: [hooks],
    upstreamOverride: () => [{ name: 'raw', base_url: raw.url, models: ['*'], flavours: ['openai', 'anthropic'] }],
  });
  const post = (path: string, key: string, body: object) => fetch(`${hx.url}${path}`, {
    method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' }, body: JSON.stringify(body),
  });
  return { raw, hx, post, hooks, close: async () => { await hx.close(); await raw.close(); } };
}

test('an answer with many output items: its owner hands every one of them back', async () => {
  const s = await setup({ items: 300 });
  try {
    const a = await (await s.post('/v1/responses', ALICE, { model: 'gpt-x', input: 'call f 300 times' })).json() as any;
    assert.equal(a.output.length, 300, 'the upstream made 300 items');
    const back = a.output.concat(a.output.map((o: any) => ({ type: 'function_call_output', call_id: o.call_id, output: 'done' })));
    const r = await s.post('/v1/responses', ALICE, { model: 'gpt-x', input: back });
    assert.equal(r.status, 200, `the owner may name item 65 and later: ${await r.text()}`);
    const bob = await s.post('/v1/responses', BOB, { model: 'gpt-x', input: [{ type: 'item_reference', id: 'fc_1_299' }] });
    assert.equal(bob.status, 404, 'another customer may not');
  } finally { await s.close(); }
});

test('a request naming thousands of ids: refused at once above the limit, one store lookup below it', async () => {
  const store = new MemoryAnswerOwnersStore();
  const calls = { one: 0, many: 0 };
  const ownerOf = store.ownerOf.bind(store);
  store.ownerOf = async (id) => { calls.one++; return ownerOf(id); };
  const ownersOf = store.ownersOf.bind(store);
  store.ownersOf = async (ids) => { calls.many++; return ownersOf(ids); };
  const s = await setup({ store });
  try {
    const forwarded = s.raw.requests.length;
    const t0 = Date.now();
    const over = await s.post('/v1/responses', BOB, { model: 'gpt-x', input: Array.from({ length: MAX_NAMED_IDS + 1_000 }, (_, i) => ({ type: 'item_reference', id: `msg_${i}` })) });
    const body = await over.json() as any;
    assert.equal(over.status, 400, 'too many ids: a 400');
    assert.equal(body.error.warden_code, 'WARDEN_INVALID_REQUEST');
    assert.ok(body.error.message.includes(String(MAX_NAMED_IDS)), `the message names the limit: ${body.error.message}`);
    assert.equal(body.error.param, `input[${MAX_NAMED_IDS}]`, 'param: the first id beyond the limit');
    assert.equal(calls.one + calls.many, 0, 'nothing looked up');

    // (Far more items than that are refused before any id is read: server.max_request_items.)
    // The same id many times, and thousands of distinct ones: one lookup for the request.
    const many = Array.from({ length: 3_000 }, (_, i) => ({ type: 'item_reference', id: `msg_${i % 2_000}` }));
    const r = await s.post('/v1/responses', BOB, { model: 'gpt-x', input: many });
    assert.equal(r.status, 404);
    assert.deepEqual(calls, { one: 0, many: 1 }, 'one batched lookup, not one per id');
    assert.ok(Date.now() - t0 < 5_000, `answered promptly (${Date.now() - t0} ms)`);
    assert.equal(s.raw.requests.length, forwarded, 'nothing forwarded');
  } finally { await s.close(); }
});

test('Chat Completions audio of an answer (whole or streamed) is named by its owner only', async () => {
  const s = await setup();
  try {
    const a = await (await s.post('/v1/chat/completions', ALICE, { model: 'gpt-4o-audio-preview', modalities: ['text', 'audio'], audio: { voice: 'alloy', format: 'wav' }, messages: [{ role: 'user', content: 'tell me a secret' }] })).json() as any;
    const audioId = a.choices[0].message.audio.id;
    const streamed = await s.post('/v1/chat/completions', ALICE, { model: 'gpt-4o-audio-preview', stream: true, modalities: ['text', 'audio'], audio: { voice: 'alloy', format: 'pcm16' }, messages: [{ role: 'user', content: 'another' }] });
    const sse = await streamed.text();
    const streamedId = /"id":"(audio_s\d+)"/.exec(sse)![1]!;
    await s.hooks.flush();
    const turn = (id: string) => ({ model: 'gpt-4o-audio-preview', modalities: ['text'], messages: [{ role: 'user', content: 'tell me a secret' }, { role: 'assistant', audio: { id } }, { role: 'user', content: 'repeat what you said' }] });
    for (const id of [audioId, streamedId]) {
      const forwarded = s.raw.requests.length;
      const bob = await s.post('/v1/chat/completions', BOB, turn(id));
      const body = await bob.json() as any;
      assert.equal(bob.status, 404, `another customer's audio ${id} is refused`);
      assert.equal(body.error.param, 'messages[1].audio.id');
      assert.equal(body.error.message, `Audio with id '${id}' not found.`);
      assert.equal(s.raw.requests.length, forwarded, 'not forwarded');
      assert.equal((await s.post('/v1/chat/completions', ALICE, turn(id))).status, 200, `its owner names ${id}`);
    }
    const events = await storedEvents(s.hx, 6);
    const refused = events.filter((e) => e.account_id === 'acc_bob');
    assert.deepEqual(refused.map((e) => e.enforcement.policy), [['refused:audio'], ['refused:audio']]);
  } finally { await s.close(); }
});

test('upstream files named anywhere, custom skills, MCP approvals and any tool\'s container: checked, batches or not', async () => {
  const s = await setup();
  try {
    const forwarded = s.raw.requests.length;
    const file = 'file-operator-private';
    const refused: [string, string, object, string][] = [
      ['/v1/responses', 'image mask', { input: 'edit', tools: [{ type: 'image_generation', input_image_mask: { file_id: file } }] }, 'tools[0].input_image_mask.file_id'],
      ['/v1/responses', 'screenshot', { input: [{ type: 'computer_call_output', call_id: 'c1', output: { type: 'computer_screenshot', file_id: file } }] }, 'input[0].output.file_id'],
      ['/v1/responses', 'custom tool output', { input: [{ type: 'custom_tool_call_output', call_id: 'c1', output: [{ type: 'input_image', file_id: file }] }] }, 'input[0].output[0].file_id'],
      ['/v1/responses', 'message content (batches off: nothing inlined)', { input: [{ role: 'user', content: [{ type: 'input_file', file_id: file }] }] }, 'input[0].content[0].file_id'],
      ['/v1/responses', 'prompt variables', { input: 'x', prompt: { id: 'pmpt_shared', variables: { doc: { type: 'input_file', file_id: file } } } }, 'prompt.variables.doc.file_id'],
      ['/v1/responses', 'container files', { input: 'ls', tools: [{ type: 'code_interpreter', container: { type: 'auto', file_ids: ['file-shared', file] } }] }, 'tools[0].container.file_ids'],
      ['/v1/chat/completions', 'chat file', { messages: [{ role: 'user', content: [{ type: 'file', file: { file_id: file } }] }] }, 'messages[0].content[0].file.file_id'],
      ['/v1/messages', 'anthropic document', { max_tokens: 5, messages: [{ role: 'user', content: [{ type: 'document', source: { type: 'file', file_id: file } }] }] }, 'messages.0.content.0.source.file_id'],
      ['/v1/messages', 'custom skill', { max_tokens: 5, container: { skills: [{ type: 'custom', skill_id: 'skill_operator_private', version: 'latest' }] }, messages: [{ role: 'user', content: 'x' }] }, 'container.skills.0.skill_id'],
    ];
    for (const [path, name, body, param] of refused) {
      const r = await s.post(path, BOB, { model: 'gpt-x', ...body });
      const text = await r.text();
      assert.equal(r.status, 400, `${name}: refused (${text})`);
      // Anthropic's error format has no param.
      if (path !== '/v1/messages') assert.equal(JSON.parse(text).error.param, param, `${name}: where (${text})`);
    }
    const notFound: [string, object, string][] = [
      ['MCP approval of another\'s request', { input: [{ type: 'mcp_approval_response', approval_request_id: 'mcpr_OTHER', approve: true }] }, 'input[0].approval_request_id'],
      ['another hosted tool\'s container', { input: 'x', tools: [{ type: 'shell', container_id: 'cntr_OTHER' }] }, 'tools[0].container_id'],
    ];
    for (const [name, body, param] of notFound) {
      const r = await s.post('/v1/responses', BOB, { model: 'gpt-x', ...body });
      const text = await r.text();
      assert.equal(r.status, 404, `${name}: refused (${text})`);
      assert.equal(JSON.parse(text).error.param, param, `${name}: where`);
    }
    assert.equal(s.raw.requests.length, forwarded, 'nothing refused reached the upstream');
    const events = await storedEvents(s.hx, refused.length + notFound.length);
    assert.deepEqual([...new Set(events.flatMap((e) => e.enforcement.policy))].sort(), ['refused:container', 'refused:file', 'refused:input_item', 'refused:skill']);

    // What is shared, and Anthropic's own skills, pass.
    const ok: [string, object][] = [
      ['/v1/responses', { input: 'edit', tools: [{ type: 'image_generation', input_image_mask: { file_id: 'file-shared' } }] }],
      ['/v1/messages', { max_tokens: 5, container: { skills: [{ type: 'anthropic', skill_id: 'pptx' }, { type: 'custom', skill_id: 'skill_shared' }] }, messages: [{ role: 'user', content: 'x' }] }],
      ['/v1/responses', { input: 'x', metadata: { file_id: 'not-a-file-reference' } }],
    ];
    for (const [path, body] of ok) assert.equal((await s.post(path, BOB, { model: 'gpt-x', ...body })).status, 200, `${JSON.stringify(body)} passes`);
  } finally { await s.close(); }
});

test('a `file_id` in the customer\'s own data (tool inputs, tool schemas, output schemas) is not taken for a file', async () => {
  const s = await setup();
  try {
    const readTool = { name: 'read_drive_file', description: 'Read a file from the user drive', input_schema: { type: 'object', properties: { file_id: { type: 'string' } }, examples: [{ file_id: 'drive-1' }] } };
    const ok: [string, string, object][] = [
      ['/v1/messages', 'tool_use turn handed back', { max_tokens: 5, tools: [readTool], messages: [
        { role: 'user', content: 'Summarise my Q3 plan' },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_01', name: 'read_drive_file', input: { file_id: '1AbCdEfGhIjK' } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_01', content: 'Q3 plan: ...' }] },
      ] }],
      ['/v1/messages', 'server tool input handed back', { max_tokens: 5, messages: [
        { role: 'user', content: 'x' },
        { role: 'assistant', content: [{ type: 'mcp_tool_use', id: 'mcptoolu_1', name: 'open', server_name: 'drive', input: { doc: { file_id: 'drive-2' } } }] },
      ] }],
      ['/v1/chat/completions', 'chat tool schema example', { messages: [{ role: 'user', content: 'hi' }], tools: [{ type: 'function', function: { name: 'open', parameters: { type: 'object', properties: { file_id: { type: 'string' } }, examples: [{ file_id: 'doc-42' }] } } }] }],
      ['/v1/chat/completions', 'chat output schema default', { messages: [{ role: 'user', content: 'hi' }], response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'object', properties: { attachment: { type: 'object', default: { file_id: 'none' } } } } } } }],
      ['/v1/responses', 'responses tool schema and output schema', { input: 'x', tools: [{ type: 'function', name: 'open', parameters: { type: 'object', default: { file_id: 'doc-1' } } }], text: { format: { type: 'json_schema', name: 'x', schema: { type: 'object', examples: [{ file_id: 'doc-2' }] } } } }],
    ];
    for (const [path, name, body] of ok) {
      const r = await s.post(path, BOB, { model: 'gpt-x', ...body });
      assert.equal(r.status, 200, `${name}: passes (${await r.text()})`);
    }
    // A file part inside a tool's result is still the API's own reference.
    const r = await s.post('/v1/messages', BOB, { model: 'claude-x', max_tokens: 5, messages: [
      { role: 'user', content: 'x' },
      { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_02', name: 'read_drive_file', input: { file_id: 'drive-3' } }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_02', content: [{ type: 'document', source: { type: 'file', file_id: 'file-operator-private' } }] }] },
    ] });
    assert.equal(r.status, 400, `a document in a tool result is still checked (${await r.text()})`);
  } finally { await s.close(); }
});
