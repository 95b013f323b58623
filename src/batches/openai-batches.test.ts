// OpenAI's Batch API and Files API through a running Warden, with the official OpenAI SDK: an input
// file is uploaded, a batch made from it runs each request through the pipeline as the key that
// made it (recorded, limited), the answers and refusals come back as output and error files, other
// customers see nothing, and bad files and requests get OpenAI error JSON.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI, { toFile } from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { TEST_ADMIN_TOKEN as TOKEN, type TestWarden } from '../../test/helpers/warden.ts';
import { startBatchWarden, untilSettled } from '../../test/helpers/batches.ts';

const { t, alice, bob, paced } = await startBatchWarden();
const w = t.w;
after(async () => { await t.close(); });
const events: TestWarden['events'] = (keep, n, ms) => t.events(keep, n, ms);

const sdk = (key: string) => new OpenAI({ apiKey: key, baseURL: `${w.url}/v1`, maxRetries: 0 });
const line = (id: string, body: object, url = '/v1/chat/completions') => JSON.stringify({ custom_id: id, method: 'POST', url, body });
const chat = (id: string, content: string, extra: object = {}) => line(id, { model: 'gpt-4o-mini', max_tokens: 30, messages: [{ role: 'user', content }], ...extra });
const upload = async (client: OpenAI, lines: string[], name = 'input.jsonl') => client.files.create({ file: await toFile(Buffer.from(lines.join('\n') + '\n'), name), purpose: 'batch' });
const jsonl = async (client: OpenAI, fileId: string) => (await (await client.files.content(fileId)).text()).trim().split('\n').map((l) => JSON.parse(l));

async function untilDone(client: OpenAI, id: string, ms = 20_000) {
  return untilSettled(() => client.batches.retrieve(id), (b) => !['validating', 'in_progress', 'finalizing', 'cancelling'].includes(b.status), (b) => `batch ${id} not done: ${b.status} ${JSON.stringify(b.request_counts)}`, ms);
}


test('an input file uploaded, a batch run through the pipeline, answers and refusals read back as files', async () => {
  const client = sdk(alice);
  const lines = [chat('first', 'Name three rivers.'), chat('second', 'Name three mountains.'), line('broken', { model: 'gpt-4o-mini' })];
  const input = await upload(client, lines);
  assert.match(input.id, /^file-/);
  assert.equal(input.purpose, 'batch');
  assert.equal(input.filename, 'input.jsonl');
  assert.equal(input.bytes, Buffer.byteLength(lines.join('\n') + '\n'));
  assert.equal((await client.files.retrieve(input.id)).bytes, input.bytes);
  assert.equal(await (await client.files.content(input.id)).text(), lines.join('\n') + '\n', 'the file reads back as uploaded');

  const created = await client.batches.create({ input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: '24h', metadata: { job: 'nightly' } });
  assert.match(created.id, /^batch_/);
  assert.equal(created.object, 'batch');
  assert.equal(created.status, 'in_progress');
  assert.equal(created.model, 'gpt-4o-mini');
  assert.deepEqual(created.metadata, { job: 'nightly' });
  const done = await untilDone(client, created.id);
  assert.equal(done.status, 'completed');
  assert.deepEqual(done.request_counts, { total: 3, completed: 2, failed: 1 });
  assert.ok(done.completed_at && done.output_file_id && done.error_file_id);

  const output = await jsonl(client, done.output_file_id!);
  assert.deepEqual(output.map((l) => l.custom_id), ['first', 'second'], 'answers in the order sent');
  const sum = (k: string) => output.reduce((a, l) => a + l.response.body.usage[k], 0);
  assert.deepEqual(done.usage && { input: done.usage.input_tokens, output: done.usage.output_tokens, total: done.usage.total_tokens },
    { input: sum('prompt_tokens'), output: sum('completion_tokens'), total: sum('prompt_tokens') + sum('completion_tokens') }, 'the batch\'s usage is its answers\'');
  for (const l of output) {
    assert.match(l.id, /^batch_req_/);
    assert.equal(l.response.status_code, 200);
    assert.equal(l.response.body.object, 'chat.completion');
    assert.ok(l.response.body.choices[0].message.content.length > 0);
    assert.equal(l.error, null);
  }
  const errors = await jsonl(client, done.error_file_id!);
  assert.deepEqual(errors.map((l) => l.custom_id), ['broken']);
  assert.equal(errors[0].response.status_code, 400);
  assert.equal(errors[0].response.body.error.type, 'invalid_request_error', 'the gateway\'s refusal, in OpenAI error JSON');

  const outFile = await client.files.retrieve(done.output_file_id!);
  assert.equal(outFile.purpose, 'batch_output');
  const outBytes = Buffer.byteLength(await (await client.files.content(done.output_file_id!)).text());
  assert.equal(outFile.bytes, outBytes, 'an output file\'s size is that of its content');
  const listed = [];
  for await (const f of client.files.list()) listed.push(f.id);
  assert.deepEqual(new Set(listed), new Set([input.id, done.output_file_id, done.error_file_id]));
  const onlyOutputs = [];
  for await (const f of client.files.list({ purpose: 'batch_output' })) onlyOutputs.push(f.id);
  assert.deepEqual(new Set(onlyOutputs), new Set([done.output_file_id, done.error_file_id]));

  // Each request is an interaction of Alice's account, marked as run for the batch, with its answer's id.
  const mine = await events((e) => e.client.batch_id === created.id, 3);
  assert.equal(mine.length, 3, 'the refused request is recorded too');
  assert.ok(mine.every((e) => e.flavour === 'openai.chat' && e.client.ip === '127.0.0.1'));
  assert.deepEqual(mine.map((e) => e.response.status).sort(), [200, 200, 400], 'recorded with the status the runner got, not as a disconnect');
  assert.deepEqual(new Set(mine.map((e) => e.response.answer_id).filter(Boolean)), new Set(output.map((l) => l.response.body.id)));
  assert.match(mine[0].client.user_agent ?? '', /OpenAI\/JS/);

  // Listed for Alice; Bob sees none of it, and every call on it reads as for an id that does not exist.
  const batches = [];
  for await (const b of client.batches.list()) batches.push(b.id);
  assert.ok(batches.includes(created.id));
  const other = sdk(bob);
  const bobs = [];
  for await (const b of other.batches.list()) bobs.push(b.id);
  for await (const f of other.files.list()) bobs.push(f.id);
  assert.deepEqual(bobs, []);
  for (const call of [() => other.batches.retrieve(created.id), () => other.batches.cancel(created.id), () => other.files.retrieve(input.id),
    () => other.files.content(done.output_file_id!), () => other.files.delete(input.id),
    () => other.batches.create({ input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: '24h' })]) {
    await assert.rejects(call(), (e: any) => e.status === 404 && e.error.type === 'invalid_request_error');
  }
  // The Anthropic routes do not show an OpenAI batch.
  await assert.rejects(new Anthropic({ apiKey: alice, baseURL: w.url, maxRetries: 0 }).messages.batches.retrieve(created.id), (e: any) => e.status === 404);

  assert.deepEqual(await client.files.delete(input.id), { id: input.id, object: 'file', deleted: true });
  await assert.rejects(client.files.retrieve(input.id), (e: any) => e.status === 404);
  assert.equal((await client.batches.retrieve(created.id)).status, 'completed', 'the batch keeps its results');
});

test('embeddings and legacy completions run as batches too', async () => {
  const client = sdk(alice);
  const emb = await upload(client, [line('e1', { model: 'text-embedding-3-small', input: 'hello world' }, '/v1/embeddings'), line('e2', { model: 'text-embedding-3-small', input: 'hello there' }, '/v1/embeddings')]);
  const b = await untilDone(client, (await client.batches.create({ input_file_id: emb.id, endpoint: '/v1/embeddings', completion_window: '24h' })).id);
  assert.equal(b.status, 'completed');
  const out = await jsonl(client, b.output_file_id!);
  assert.equal(out[0].response.body.object, 'list');
  assert.equal(out[0].response.body.data[0].embedding.length, 1536);
  const legacy = await upload(client, [line('c1', { model: 'gpt-3.5-turbo-instruct', prompt: 'Say hi', max_tokens: 5 }, '/v1/completions')]);
  const c = await untilDone(client, (await client.batches.create({ input_file_id: legacy.id, endpoint: '/v1/completions', completion_window: '24h' })).id);
  assert.equal((await jsonl(client, c.output_file_id!))[0].response.body.object, 'text_completion');
});

test('moderations and image generations run as batches through the pipeline, a line without a model taking the API\'s default', async () => {
  const client = sdk(alice);
  const mods = await upload(client, [
    line('m1', { input: 'I want to hurt them.' }, '/v1/moderations'),
    line('m2', { model: 'omni-moderation-latest', input: 'A quiet afternoon.' }, '/v1/moderations'),
  ]);
  const m = await untilDone(client, (await client.batches.create({ input_file_id: mods.id, endpoint: '/v1/moderations', completion_window: '24h' })).id);
  assert.equal(m.status, 'completed', JSON.stringify(m.errors));
  assert.equal(m.model, 'omni-moderation-latest', 'the batch\'s model: the default its first line names by omission');
  const mout = await jsonl(client, m.output_file_id!);
  assert.deepEqual(mout.map((o) => o.custom_id).sort(), ['m1', 'm2']);
  for (const o of mout) {
    assert.equal(o.response.status_code, 200);
    assert.ok(Array.isArray(o.response.body.results) && typeof o.response.body.results[0].flagged === 'boolean', JSON.stringify(o.response.body));
  }
  const imgs = await upload(client, [line('i1', { model: 'dall-e-2', prompt: 'A lighthouse at dusk', size: '256x256', response_format: 'b64_json' }, '/v1/images/generations')]);
  const i = await untilDone(client, (await client.batches.create({ input_file_id: imgs.id, endpoint: '/v1/images/generations', completion_window: '24h' })).id);
  assert.equal(i.status, 'completed', JSON.stringify(i.errors));
  const iout = await jsonl(client, i.output_file_id!);
  assert.equal(iout[0].response.status_code, 200);
  assert.ok(typeof iout[0].response.body.data[0].b64_json === 'string', 'the image');
  // Each request recorded as its API's own, decided by the limits like any call.
  const recorded = await events((e) => e.flavour === 'openai.moderations' || e.flavour === 'openai.images', 3);
  assert.deepEqual(recorded.map((e) => e.flavour).sort(), ['openai.images', 'openai.moderations', 'openai.moderations']);
  for (const e of recorded) {
    assert.equal(e.response.status, 200);
    assert.equal(e.enforcement.limit?.allowed, true, JSON.stringify(e.enforcement));
  }
  assert.deepEqual(recorded.filter((e) => e.flavour === 'openai.moderations').map((e) => e.model), ['omni-moderation-latest', 'omni-moderation-latest']);
  // Two models in one file: refused line by line, as OpenAI does.
  const mixed = await upload(client, [line('a', { input: 'x' }, '/v1/moderations'), line('b', { model: 'text-moderation-latest', input: 'y' }, '/v1/moderations')]);
  const bad = await client.batches.create({ input_file_id: mixed.id, endpoint: '/v1/moderations', completion_window: '24h' });
  assert.equal(bad.status, 'failed');
  assert.equal(bad.errors!.data![0].code, 'mismatched_model');
});

test('an input file with problems makes a failed batch that names each line; nothing runs', async () => {
  const client = sdk(alice);
  const input = await upload(client, [
    chat('ok', 'fine'),
    '{"custom_id": "bad json"',
    chat('ok', 'the same id again'),
    line('wrong-url', { model: 'gpt-4o-mini', messages: [] }, '/v1/embeddings'),
    chat('other-model', 'x', { model: 'gpt-4o' }),
    chat('streams', 'x', { stream: true }),
    JSON.stringify({ custom_id: 'get', method: 'GET', url: '/v1/chat/completions', body: {} }),
  ]);
  const before = (await events((e) => e.account_id !== null, 0, 0)).length;
  const b = await client.batches.create({ input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
  assert.equal(b.status, 'failed');
  assert.ok(b.failed_at);
  assert.equal(b.output_file_id, null);
  const byLine = new Map(b.errors!.data!.map((e) => [e.line, e.code]));
  assert.deepEqual([...byLine], [[2, 'invalid_json_line'], [3, 'duplicate_custom_id'], [4, 'mismatched_endpoint'], [5, 'mismatched_model'], [6, 'invalid_request'], [7, 'invalid_method']]);
  assert.equal((await client.batches.retrieve(b.id)).status, 'failed');
  await new Promise((r) => setTimeout(r, 300));
  assert.equal((await events((e) => e.account_id !== null, 0, 0)).length, before, 'no request of a failed batch ran');

  const tooMany = await upload(client, Array.from({ length: 51 }, (_, i) => chat(`n${i}`, 'x')));
  const many = await client.batches.create({ input_file_id: tooMany.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
  assert.equal(many.status, 'failed');
  assert.equal(many.errors!.data![0].code, 'too_many_tasks');
  const empty = await upload(client, ['']);
  assert.equal((await client.batches.create({ input_file_id: empty.id, endpoint: '/v1/chat/completions', completion_window: '24h' })).errors!.data![0].code, 'empty_file');
});

test('a batch beyond the account\'s burst is paced by its rate limit; cancelling ends the rest as batch_cancelled', async () => {
  const client = sdk(paced);
  const input = await upload(client, Array.from({ length: 30 }, (_, i) => chat(`q${i}`, `Question ${i}?`)));
  const created = await client.batches.create({ input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
  // the email-verified tier's burst runs at once, then the limit paces the rest
  await events((e) => e.client.batch_id === created.id && e.response.error_code === 'WARDEN_RATE_LIMITED', 1, 10_000);
  const cancelling = await client.batches.cancel(created.id);
  assert.ok(['cancelling', 'cancelled'].includes(cancelling.status), cancelling.status);
  assert.ok(cancelling.cancelling_at);
  const done = await untilDone(client, created.id);
  assert.equal(done.status, 'cancelled');
  assert.ok(done.cancelled_at);
  const errors = await jsonl(client, done.error_file_id!);
  assert.ok(errors.length >= 5, `${errors.length} not run`);
  assert.ok(errors.every((l) => l.response === null && l.error.code === 'batch_cancelled'));
  const output = await jsonl(client, done.output_file_id!);
  assert.equal(output.length + errors.length, 30);
  assert.ok(output.every((l) => l.response.status_code === 200), 'what met the limit waited and ran again');
});

test('bad requests get OpenAI error JSON with the right status', async () => {
  const client = sdk(alice);
  const input = await upload(client, [chat('a', 'x')]);
  const post = async (path: string, body: FormData | string | object, headers: Record<string, string> = {}, key: string | null = alice) => {
    const json = !(body instanceof FormData) && typeof body === 'object';
    const r = await fetch(`${w.url}${path}`, {
      method: 'POST', headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...(json ? { 'content-type': 'application/json' } : {}), ...headers },
      body: json ? JSON.stringify(body) : body as FormData | string,
    });
    return { status: r.status, body: await r.json() as any };
  };
  const form = (fields: Record<string, string>, file?: string | Buffer) => {
    const f = new FormData();
    for (const [k, v] of Object.entries(fields)) f.append(k, v);
    if (file !== undefined) f.append('file', new Blob([file]), 'in.jsonl');
    return f;
  };
  const good = { input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: '24h' };
  const cases: [string, FormData | string | object, string | null, number, RegExp][] = [
    ['/v1/files', form({ purpose: 'fine-tune' }, 'x'), alice, 400, /fine-tuning and evals are not served/],
    ['/v1/files', form({ purpose: 'batch' }), alice, 400, /file: Field required/],
    ['/v1/files', form({}, 'x'), alice, 400, /purpose: Field required/],
    ['/v1/files', form({ purpose: 'batch', 'expires_after[anchor]': 'created_at', 'expires_after[seconds]': '5' }, 'x'), alice, 400, /expires_after/],
    ['/v1/files', form({ purpose: 'batch' }, Buffer.alloc(200_001, 0x61)), alice, 413, /larger than 200000 bytes/],
    ['/v1/files', { purpose: 'batch' }, alice, 415, /multipart\/form-data/],
    ['/v1/files', form({ purpose: 'batch' }, 'x'), null, 401, /Missing API key/],
    ['/v1/batches', { ...good, endpoint: '/v1/images/edits' }, alice, 400, /'\/v1\/images\/edits' is not run in batches by this gateway: image edits are served only as multipart uploads/],
    ['/v1/batches', { ...good, endpoint: '/v1/videos' }, alice, 400, /'\/v1\/videos' is not run in batches by this gateway/],
    ['/v1/batches', { ...good, endpoint: '/v1/audio/speech' }, alice, 400, /endpoint: one of .*\/v1\/moderations, \/v1\/images\/generations/],
    ['/v1/batches', { ...good, completion_window: '1h' }, alice, 400, /completion_window/],
    ['/v1/batches', { ...good, input_file_id: 'file-nope' }, alice, 404, /No such File object/],
    ['/v1/batches', { endpoint: '/v1/chat/completions', completion_window: '24h' }, alice, 400, /input_file_id: Field required/],
    ['/v1/batches', { ...good, metadata: { k: 5 } }, alice, 400, /metadata/],
    ['/v1/batches', { ...good, output_expires_after: { anchor: 'created_at', seconds: 10 } }, alice, 400, /output_expires_after/],
    ['/v1/batches', '{"input_file_id": ', alice, 400, /not valid JSON/],
    ['/v1/batches', good, 'sk-not-a-real-key-000000000000000000', 401, /./],
  ];
  for (const [path, body, key, status, message] of cases) {
    const r = await post(path, typeof body === 'string' ? body : body, typeof body === 'string' ? { 'content-type': 'application/json' } : {}, key);
    assert.equal(r.status, status, `${path}: ${JSON.stringify(r.body)}`);
    assert.ok(r.body.error && typeof r.body.error.type === 'string', `${path}: OpenAI error JSON: ${JSON.stringify(r.body)}`);
    assert.match(r.body.error.message, message, path);
  }
  // Nothing was kept of the refused uploads.
  const names = [];
  for await (const f of client.files.list({ purpose: 'batch' })) names.push(f.id);
  assert.ok(names.includes(input.id));
  const expiring = await client.files.create({ file: await toFile(Buffer.from(chat('z', 'x')), 'z.jsonl'), purpose: 'batch', expires_after: { anchor: 'created_at', seconds: 3600 } });
  assert.equal(expiring.expires_at, expiring.created_at + 3600);
});

test('lists page with the SDK: a page of one at a time gives every batch and file once, newest first', async () => {
  const client = sdk(alice);
  const all = []; const paged = [];
  for await (const b of client.batches.list()) all.push(b.id);
  for await (const b of client.batches.list({ limit: 1 })) paged.push(b.id);
  assert.ok(all.length >= 3, `${all.length} batches`);
  assert.deepEqual(paged, all);
  assert.deepEqual([...all].sort().reverse(), all, 'newest first (ids grow with time)');
  const files = []; const pagedFiles = [];
  for await (const f of client.files.list()) files.push(f.id);
  for await (const f of client.files.list({ limit: 2 })) pagedFiles.push(f.id);
  assert.deepEqual(pagedFiles, files);
  const oldest = []; for await (const f of client.files.list({ order: 'asc' })) oldest.push(f.id);
  assert.deepEqual(oldest, [...files].reverse());
});

test('operators see OpenAI batches with their endpoint (admin API and CLI)', async () => {
  const { runBatchesCli } = await import('../cli/batches-cmd.ts');
  const client = sdk(bob);
  const input = await upload(client, [chat('x', 'hello')]);
  const created = await client.batches.create({ input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
  await untilDone(client, created.id);
  const list = await (await fetch(`${w.url}/admin/batches`, { headers: { authorization: `Bearer ${TOKEN}` } })).json() as any;
  const mine = list.data.find((b: any) => b.id === created.id);
  assert.equal(mine.api, 'openai');
  assert.equal(mine.endpoint, '/v1/chat/completions');
  assert.equal(mine.openai_status, 'completed');
  assert.equal(mine.model, 'gpt-4o-mini');
  const out: string[] = [];
  const io = { out: (t: string) => out.push(t), err: (t: string) => out.push(t), env: { WARDEN_ADMIN_URL: w.url, WARDEN_ADMIN_TOKEN: TOKEN } };
  assert.equal(await runBatchesCli(['list', '--account', mine.account_id], io), 0, out.join('\n'));
  assert.match(out.join('\n'), /\/v1\/chat\/completions/);
});

test('the Batch and Files APIs\' answers name the request, as Warden\'s other answers do', async () => {
  const named = (r: Response) => {
    const id = r.headers.get('request-id') ?? '';
    assert.match(id, /^[0-9A-Z]{26}$/);
    assert.equal(r.headers.get('x-request-id'), id);
    assert.equal(r.headers.get('x-warden-request-id'), id);
  };
  const batches = await fetch(`${w.url}/v1/batches`, { headers: { authorization: `Bearer ${alice}` } });
  assert.equal(batches.status, 200);
  named(batches);
  const files = await fetch(`${w.url}/v1/files`, { headers: { authorization: `Bearer ${alice}` } });
  assert.equal(files.status, 200);
  named(files);
  const messageBatches = await fetch(`${w.url}/v1/messages/batches`, { headers: { 'x-api-key': alice, 'anthropic-version': '2023-06-01' } });
  assert.equal(messageBatches.status, 200);
  named(messageBatches);
});
