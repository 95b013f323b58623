// Reading an OpenAI batch input file a chunk at a time: lines cut between chunks (even inside a
// multi-byte character) are joined, every line's problem is named with its number, and a file past
// the request limit is refused whole.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readBatchInput } from './openai-input.ts';

const line = (id: string, content: string, model = 'gpt-4o-mini') => JSON.stringify({ custom_id: id, method: 'POST', url: '/v1/chat/completions', body: { model, messages: [{ role: 'user', content }] } });
async function* cut(text: string, size: number): AsyncIterable<Buffer> {
  const bytes = Buffer.from(text);
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

test('lines cut between chunks, inside a UTF-8 character too, are read whole', async () => {
  const lines = Array.from({ length: 450 }, (_, i) => line(`r${i}`, `Frage ${i}: was ist „Größe“? 日本語`));
  const text = lines.join('\r\n') + '\n\n';
  for (const size of [7, 64, 1 << 20]) {
    const r = await readBatchInput(cut(text, size), '/v1/chat/completions', 1000);
    assert.deepEqual(r.errors, [], `chunks of ${size}`);
    assert.equal(r.items.length, 450);
    assert.equal(JSON.parse(r.items[449].params).messages[0].content, 'Frage 449: was ist „Größe“? 日本語', `chunks of ${size}`);
    assert.equal(r.model, 'gpt-4o-mini');
  }
});

test('each problem is named with its line; a file with any problem keeps no request', async () => {
  const text = [line('a', 'x'), '', 'not json', '[1]', line('a', 'again'), line('b', 'x', 'gpt-4o'), JSON.stringify({ custom_id: 'c', method: 'POST', url: '/v1/chat/completions' })].join('\n');
  const r = await readBatchInput(cut(text, 5), '/v1/chat/completions', 100);
  assert.deepEqual(r.errors.map((e) => [e.line, e.code]), [[3, 'invalid_json_line'], [4, 'invalid_json_line'], [5, 'duplicate_custom_id'], [6, 'mismatched_model'], [7, 'missing_required_parameter']]);
  assert.deepEqual(r.items, []);
});

test('past the limit the file is refused with the count of its requests', async () => {
  const text = Array.from({ length: 12 }, (_, i) => line(`r${i}`, 'x')).join('\n');
  const r = await readBatchInput(cut(text, 100), '/v1/chat/completions', 10);
  assert.equal(r.errors[0].code, 'too_many_tasks');
  assert.match(r.errors[0].message, /holds 12 requests; a batch holds at most 10/);
  assert.deepEqual(r.items, []);
  const empty = await readBatchInput(cut('\n \n', 1), '/v1/chat/completions', 10);
  assert.equal(empty.errors[0].code, 'empty_file');
});

test('a line whose body nests deeper than a request body may is refused with its line, not a crash', async () => {
  const text = [line('a', 'x'), `{"custom_id":"deep","method":"POST","url":"/v1/chat/completions","body":{"model":"gpt-4o-mini","messages":[{"role":"user","content":"x"}],"x":${'['.repeat(5000)}${']'.repeat(5000)}}}`].join('\n');
  const r = await readBatchInput(cut(text, 1 << 20), '/v1/chat/completions', 10);
  assert.deepEqual(r.errors.map((e) => [e.line, e.code, e.param]), [[2, 'invalid_request', 'body']]);
  assert.match(r.errors[0].message, /more than 128 levels/);
  // a body at the request bound (its line one level deeper) is kept
  const ok = `{"custom_id":"ok","method":"POST","url":"/v1/chat/completions","body":{"model":"gpt-4o-mini","messages":[{"role":"user","content":"x"}],"x":${'['.repeat(127)}${']'.repeat(127)}}}`;
  const r2 = await readBatchInput(cut(ok, 1 << 20), '/v1/chat/completions', 10);
  assert.deepEqual(r2.errors, []);
  assert.equal(r2.items.length, 1);
});

test('a line that is not valid UTF-8 is refused with its line, not read with its characters replaced; a leading byte-order mark is dropped', async () => {
  async function* bytes(...parts: Buffer[]): AsyncIterable<Buffer> { yield Buffer.concat(parts); }
  const latin1 = Buffer.from(line('b', 'café'), 'latin1');
  const r = await readBatchInput(bytes(Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(line('a', 'x') + '\n'), latin1), '/v1/chat/completions', 10);
  assert.deepEqual(r.errors.map((e) => [e.line, e.code]), [[2, 'invalid_encoding']], JSON.stringify(r.errors));
  assert.match(r.errors[0].message, /not valid UTF-8/);
  assert.deepEqual(r.items, [], 'nothing kept');
});

test('a model name longer than the gateway accepts is refused on its line, before the batch is queued', async () => {
  const text = [line('a', 'x', 'm'.repeat(10_000)), line('b', 'y', 'm'.repeat(10_000))].join('\n');
  const r = await readBatchInput(cut(text, 1 << 20), '/v1/chat/completions', 10);
  assert.deepEqual(r.errors.map((e) => [e.line, e.param]), [[1, 'body.model'], [2, 'body.model']], `each line is named: ${JSON.stringify(r.errors)}`);
  assert.match(r.errors[0].message, /10000 characters long; at most 256/);
  assert.deepEqual(r.items, [], 'nothing is kept');
});
