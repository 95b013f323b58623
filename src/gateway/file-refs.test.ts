// The file-id walk: where a request names a file, what it skips (the customer's own data), and
// that it is cheap and done once per request, whatever the body holds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileRefs, keepFileRefs, requestFileRefs } from './file-refs.ts';

test('every file reference is found with its place, in the request\'s order; customer data is not', () => {
  const body = {
    model: 'gpt-x',
    input: [
      { role: 'user', content: [{ type: 'input_text', text: 'x' }, { type: 'input_file', file_id: 'f1' }, [[{ type: 'input_image', file_id: 'f2' }]]] },
      { type: 'function_call', call_id: 'c', name: 'open', arguments: { file_id: 'app-1' } },
    ],
    tools: [{ type: 'function', name: 'open', parameters: { default: { file_id: 'app-2' } } }, { type: 'code_interpreter', container: { type: 'auto', file_ids: ['f3'] } }],
    metadata: { file_id: 'app-3' },
  };
  const refs = fileRefs('openai.responses', body);
  assert.deepEqual(refs.map((r) => [r.id, r.param, r.as]), [
    ['f1', 'input[0].content[1].file_id', 'file'],
    ['f2', 'input[0].content[2][0][0].file_id', 'image'],
    ['f3', 'tools[1].container.file_ids', null],
  ], 'the API\'s file references, in order, and none of the customer\'s own ids');
  const anthropic = fileRefs('anthropic.messages', { messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'file', file_id: 'f4' } }] }] });
  assert.deepEqual(anthropic.map((r) => [r.param, r.as]), [['messages.0.content.0.source.file_id', 'block_image']], 'Anthropic notation and block');
});

test('a body of a million empty objects is walked in a small part of the time parsing it takes', () => {
  const n = 1_000_000;
  const raw = `{"model":"gpt-x","input":[{"role":"user","content":[${'{},'.repeat(n - 1)}{}]}],"tools":[{"type":"function","name":"f","x":[${'[{}],'.repeat(n / 4 - 1)}[{}]]}]}`;
  let parse = Infinity;
  let walk = Infinity;
  let body: Record<string, unknown> = {};
  for (let i = 0; i < 3; i++) {
    let t = performance.now(); body = JSON.parse(raw); parse = Math.min(parse, performance.now() - t);
    t = performance.now(); fileRefs('openai.responses', body); walk = Math.min(walk, performance.now() - t);
  }
  // A walk allocating per node took longer than the parse; one that does not, a fifth to a third of
  // it on an idle machine (Node 20 to 22: JSON.parse got faster) and up to 0.54 on Node 24 beside
  // other work, so four fifths is the bound: still well below the allocating walk.
  assert.ok(walk < parse * 0.8, `walk ${walk.toFixed(0)} ms against parse ${parse.toFixed(0)} ms`);
});

test('walked once per request: the inlining hook\'s leftovers are what the ownership hook reads; a new body is walked again', () => {
  const body = { input: [{ role: 'user', content: [{ type: 'input_file', file_id: 'f1' }, { type: 'input_image', file_id: 'f2' }] }] };
  const ctx = { flavour: 'openai.responses', body: body as Record<string, unknown>, locals: new Map<string, unknown>() };
  const first = requestFileRefs(ctx);
  assert.equal(first.length, 2);
  assert.equal(requestFileRefs(ctx), first, 'the same walk, not another');
  keepFileRefs(ctx, first.slice(1));
  assert.deepEqual(requestFileRefs(ctx).map((r) => r.id), ['f2'], 'what is left after inlining');
  ctx.body = { input: [{ role: 'user', content: [{ type: 'input_file', file_id: 'f3' }] }] };
  assert.deepEqual(requestFileRefs(ctx).map((r) => r.id), ['f3'], 'a replaced body is walked again');
});

test('a stored prompt\'s variable named like a skipped field (schema, arguments, metadata) is still walked: the upstream resolves its file', () => {
  const file = 'file-operator-private';
  for (const name of ['doc', 'schema', 'parameters', 'arguments', 'metadata', 'input_schema', 'json_schema']) {
    const refs = fileRefs('openai.responses', { model: 'gpt-x', input: 'x', prompt: { id: 'pmpt_shared', variables: { [name]: { type: 'input_file', file_id: file } } } });
    assert.deepEqual(refs.map((r) => [r.id, r.param]), [[file, `prompt.variables.${name}.file_id`]], `variable \`${name}\` is seen`);
  }
});

test('a file named anywhere is found, however deep it nests and however it is spelled; a body naming none has no refs', () => {
  let deep: unknown = { type: 'input_file', file_id: 'f-deep' };
  for (let i = 0; i < 60; i++) deep = i % 2 ? [deep] : { nested: deep };
  const found = fileRefs('openai.responses', { model: 'gpt-x', input: [{ role: 'user', content: [deep] }] });
  assert.deepEqual(found.map((r) => r.id), ['f-deep'], 'found 60 levels down, past the quick look');
  const listed = fileRefs('openai.chat', { model: 'gpt-x', messages: [{ role: 'user', content: 'x' }], tool_resources: { code: { file_ids: ['f-a', 'f-b'] } } });
  assert.deepEqual(listed.map((r) => [r.id, r.param]), [['f-a', 'tool_resources.code.file_ids'], ['f-b', 'tool_resources.code.file_ids']], 'a `file_ids` list');
  assert.deepEqual(fileRefs('openai.chat', { model: 'gpt-x', messages: [{ role: 'user', content: [{ type: 'text', text: 'file_id' }] }], metadata: { note: 'x' } }), [], 'none named');
  assert.deepEqual(fileRefs('openai.chat', { model: 'gpt-x', messages: [{ role: 'user', content: 'x' }], metadata: { file_id: 'app-1' } }), [], 'only in customer data: none named');
});
