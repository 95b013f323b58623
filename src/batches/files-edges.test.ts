// The edges of the Files and Batch APIs: each purpose's upload limit holds whichever is smaller,
// a batch that has ended cannot be cancelled (409, as OpenAI answers), and operators see the size
// of batches' output files and are told when they ask for a purpose that does not exist.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI, { toFile } from 'openai';
import { startTestWarden, TEST_ADMIN_TOKEN as TOKEN, type TestWarden } from '../../test/helpers/warden.ts';
import { runBatchesCli } from '../cli/batches-cmd.ts';

let t: TestWarden;
let client: OpenAI;

before(async () => {
  // A batch input may be smaller than a request's input file here.
  t = await startTestWarden({ batches: { max_body_bytes: 3000, max_input_file_bytes: 4000 } });
  client = new OpenAI({ apiKey: (await t.account('alice', 'identity_verified')).key, baseURL: `${t.url}/v1`, maxRetries: 0 });
});
after(async () => { await t.close(); });

const file = async (bytes: number, name: string) => toFile(Buffer.alloc(bytes, 0x61), name);

test('each purpose\'s upload limit holds, with a message naming it', async () => {
  // The SDK sends the file before its purpose: a request's input is not held to a batch input's limit.
  const doc = await client.files.create({ file: await file(3500, 'notes.txt'), purpose: 'user_data' });
  assert.equal(doc.bytes, 3500);
  await assert.rejects(client.files.create({ file: await file(4500, 'big.txt'), purpose: 'user_data' }),
    (e: any) => e.status === 413 && /larger than 4000 bytes/.test(e.error.message));
  await assert.rejects(client.files.create({ file: await file(3500, 'in.jsonl'), purpose: 'batch' }),
    (e: any) => e.status === 413 && /larger than 3000 bytes, the most accepted here for a batch input/.test(e.error.message));
  const names = (await client.files.list()).data.map((f) => f.filename);
  assert.deepEqual(names, ['notes.txt'], 'nothing of the refused ones is kept');
});

test('a batch that has ended cannot be cancelled; operators see its output file\'s size', async () => {
  const line = (id: string) => JSON.stringify({ custom_id: id, method: 'POST', url: '/v1/chat/completions', body: { model: 'gpt-4o-mini', max_tokens: 8, messages: [{ role: 'user', content: id }] } });
  const input = await client.files.create({ file: await toFile(Buffer.from(`${line('a')}\n${line('b')}\n`), 'in.jsonl'), purpose: 'batch' });
  const created = await client.batches.create({ input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
  let b = created;
  for (let i = 0; i < 200 && b.status !== 'completed'; i++) {
    await new Promise((r) => setTimeout(r, 100));
    b = await client.batches.retrieve(created.id);
  }
  assert.equal(b.status, 'completed');
  await assert.rejects(client.batches.cancel(created.id), (e: any) => e.status === 409 && e.error.message === 'Cannot cancel a batch with status \'completed\'.' && e.error.type === 'invalid_request_error');
  assert.equal((await client.batches.retrieve(created.id)).status, 'completed', 'unchanged');

  // The admin API and the CLI list the output file with its size; a purpose that does not exist is refused.
  const output = await (await client.files.content(b.output_file_id!)).text();
  const admin = (path: string) => fetch(`${t.url}/admin${path}`, { headers: { authorization: `Bearer ${TOKEN}` } });
  const listed = await (await admin('/files?purpose=batch_output')).json() as any;
  assert.deepEqual(listed.data.map((f: any) => [f.id, f.bytes]), [[b.output_file_id, Buffer.byteLength(output)]]);
  assert.equal((await admin('/files?purpose=bogus')).status, 400);
  const out: string[] = [];
  const err: string[] = [];
  const io = { out: (s: string) => out.push(s), err: (s: string) => err.push(s), env: { WARDEN_ADMIN_URL: t.url, WARDEN_ADMIN_TOKEN: TOKEN } };
  assert.equal(await runBatchesCli(['files', '--purpose', 'batch_output'], io), 0, err.join('\n'));
  assert.match(out.join('\n'), new RegExp(`${b.output_file_id}.*\\b${Buffer.byteLength(output)}\\b`));
  assert.equal(await runBatchesCli(['files', '--purpose', 'bogus'], io), 2, 'refused, as a status that does not exist is');
  assert.match(err.join('\n'), /purpose/);
});
