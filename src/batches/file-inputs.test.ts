// Files named as a request's input, through a running Warden with the official OpenAI SDK: uploaded
// with purpose user_data or vision, named by id in a Responses or Chat Completions request (or a
// background response), and sent to the upstream inline, the id gone; only the uploader's
// account finds its files; bad uploads and bad references get OpenAI error JSON. The same with
// Anthropic's Files API and SDK, in Anthropic error JSON.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI, { toFile } from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startTestWarden, type TestWarden } from '../../test/helpers/warden.ts';
import { untilDone } from '../../test/helpers/responses.ts';
import { createMockUpstream, type MockUpstream } from '../mock/index.ts';

let t: TestWarden;
let mock: MockUpstream;
let alice: string;
let bob: string;

before(async () => {
  mock = await createMockUpstream({ host: '127.0.0.1', port: 0, latencyMs: 0, tokensPerSecond: 0 });
  t = await startTestWarden({
    upstreams: [{ name: 'mock', base_url: mock.url, models: ['*'], flavours: ['openai', 'anthropic'] }],
    batches: { max_input_file_bytes: 4096 },
  });
  alice = (await t.account('alice', 'enterprise')).key;
  bob = (await t.account('bob', 'enterprise')).key;
});
after(async () => { await t.close(); await mock.close(); });

const sdk = (key: string) => new OpenAI({ apiKey: key, baseURL: `${t.url}/v1`, maxRetries: 0 });
const forwarded = (path: string) => mock.received.filter((r) => r.path === path).at(-1)!.body as Record<string, any>;
const PDF = Buffer.from('%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n');
const PNG = Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010806000000', 'hex');

test('a file named by id reaches the upstream inline, in Responses and in Chat Completions', async () => {
  const client = sdk(alice);
  const pdf = await client.files.create({ file: await toFile(PDF, 'report.pdf'), purpose: 'user_data' });
  assert.equal(pdf.purpose, 'user_data');
  assert.equal(pdf.bytes, PDF.length);
  const png = await client.files.create({ file: await toFile(PNG, 'chart.png'), purpose: 'vision' });

  const r = await client.responses.create({ model: 'gpt-5', input: [{ role: 'user', content: [
    { type: 'input_text', text: 'Summarise the report and describe the chart.' },
    { type: 'input_file', file_id: pdf.id },
    { type: 'input_image', file_id: png.id, detail: 'low' },
  ] }] });
  assert.equal(r.status, 'completed');
  const [, file, image] = forwarded('/v1/responses').input[0].content;
  assert.deepEqual(file, { type: 'input_file', filename: 'report.pdf', file_data: `data:application/pdf;base64,${PDF.toString('base64')}` });
  assert.deepEqual(image, { type: 'input_image', image_url: `data:image/png;base64,${PNG.toString('base64')}`, detail: 'low' });

  const c = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: [{ type: 'text', text: 'What does it say?' }, { type: 'file', file: { file_id: pdf.id } }] }] });
  assert.ok(c.choices[0].message.content);
  assert.deepEqual(forwarded('/v1/chat/completions').messages[0].content[1], { type: 'file', file: { filename: 'report.pdf', file_data: `data:application/pdf;base64,${PDF.toString('base64')}` } });

  // A background response runs later, as the key that sent it: its file is found then too.
  const bg = await client.responses.create({ model: 'gpt-5', background: true, input: [{ role: 'user', content: [{ type: 'input_file', file_id: pdf.id }] }] });
  assert.equal((await untilDone(client, bg.id)).status, 'completed');
  assert.match(forwarded('/v1/responses').input[0].content[0].file_data, /^data:application\/pdf;base64,/);

  const listed = await client.files.list({ purpose: 'user_data' });
  assert.deepEqual(listed.data.map((f) => f.id), [pdf.id]);
});

test('only the uploader finds its files; other references are refused with where they were', async () => {
  const client = sdk(alice);
  const pdf = await client.files.create({ file: await toFile(PDF, 'notes.pdf'), purpose: 'user_data' });
  const batchFile = await client.files.create({ file: await toFile(Buffer.from('{"custom_id":"a","method":"POST","url":"/v1/chat/completions","body":{"model":"gpt-4o","messages":[]}}\n'), 'in.jsonl'), purpose: 'batch' });
  const sent = mock.received.length;
  const refused = async (key: string, content: object[]) => {
    const e: any = await sdk(key).responses.create({ model: 'gpt-5', input: [{ role: 'user', content: [{ type: 'input_text', text: 'x' }, ...content] }] } as never).then(() => null, (err) => err);
    assert.ok(e, 'refused');
    return e;
  };
  let e = await refused(bob, [{ type: 'input_file', file_id: pdf.id }]);
  assert.equal(e.status, 400);
  assert.equal(e.error.param, 'input[0].content[1].file_id');
  assert.match(e.error.message, /No file with id/);
  e = await refused(alice, [{ type: 'input_file', file_id: batchFile.id }]);
  assert.equal(e.status, 400, 'a batch input file is not a request input');
  e = await refused(alice, [{ type: 'input_image', file_id: pdf.id }]);
  assert.equal(e.status, 400);
  assert.match(e.error.message, /not an image/);
  e = await sdk(bob).chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: [{ type: 'file', file: { file_id: pdf.id } }] }] }).then(() => null, (err) => err);
  assert.equal(e?.status, 400);
  assert.equal(e.error.param, 'messages[0].content[0].file.file_id');
  await client.files.delete(pdf.id);
  e = await refused(alice, [{ type: 'input_file', file_id: pdf.id }]);
  assert.equal(e.status, 400, 'a deleted file is gone');
  assert.equal(mock.received.length, sent, 'nothing refused reached the upstream');
  const [event] = await t.events((ev) => ev.response.status === 400 && ev.flavour === 'openai.responses');
  assert.ok(event, 'a refused request is recorded');
});

test('uploads: purposes not served and files too large to send inline are refused', async () => {
  const client = sdk(alice);
  await assert.rejects(client.files.create({ file: await toFile(Buffer.from('{}\n'), 'train.jsonl'), purpose: 'fine-tune' }),
    (e: any) => e.status === 400 && e.error.param === 'purpose' && /fine-tuning and evals are not served/.test(e.error.message));
  await assert.rejects(client.files.create({ file: await toFile(Buffer.alloc(5000, 1), 'big.pdf'), purpose: 'user_data' }),
    (e: any) => e.status === 413 && /4096 bytes/.test(e.error.message));
  assert.deepEqual((await client.files.list({ purpose: 'user_data' })).data.filter((f) => f.filename === 'big.pdf'), [], 'nothing of it is kept');
  // Two files within the limit each, past it together.
  const a = await client.files.create({ file: await toFile(Buffer.alloc(3000, 2), 'a.txt'), purpose: 'user_data' });
  const b = await client.files.create({ file: await toFile(Buffer.alloc(3000, 3), 'b.txt'), purpose: 'user_data' });
  await assert.rejects(client.responses.create({ model: 'gpt-5', input: [{ role: 'user', content: [{ type: 'input_file', file_id: a.id }, { type: 'input_file', file_id: b.id }] }] }),
    (e: any) => e.status === 413 && e.error.param === 'input[0].content[1].file_id');
  // One file named twice is sent twice: it counts twice.
  await assert.rejects(client.responses.create({ model: 'gpt-5', input: [{ role: 'user', content: [{ type: 'input_file', file_id: a.id }, { type: 'input_file', file_id: a.id }] }] }),
    (e: any) => e.status === 413 && /counts twice/.test(e.error.message));
  const tiny = await client.files.create({ file: await toFile(Buffer.from('hi'), 'tiny.txt'), purpose: 'user_data' });
  await assert.rejects(client.responses.create({ model: 'gpt-5', input: [{ role: 'user', content: Array.from({ length: 101 }, () => ({ type: 'input_file' as const, file_id: tiny.id })) }] }),
    (e: any) => e.status === 400 && /at most 100/.test(e.error.message) && e.error.param === 'input[0].content[100].file_id');
  // A tool's output given back as parts names files too.
  await client.responses.create({ model: 'gpt-5', input: [
    { type: 'function_call', call_id: 'call_1', name: 'fetch', arguments: '{}' },
    { type: 'function_call_output', call_id: 'call_1', output: [{ type: 'input_file', file_id: tiny.id }] },
  ] } as never);
  assert.deepEqual(forwarded('/v1/responses').input[1].output[0], { type: 'input_file', filename: 'tiny.txt', file_data: `data:text/plain;base64,${Buffer.from('hi').toString('base64')}` });
});

test('Anthropic\'s Files API: uploaded, listed, named in a message (and a tool result) and sent inline; refusals in Anthropic error JSON', async () => {
  const client = new Anthropic({ apiKey: alice, baseURL: t.url, maxRetries: 0 });
  const betas: ['files-api-2025-04-14'] = ['files-api-2025-04-14'];
  const pdf = await client.beta.files.upload({ file: await toFile(PDF, 'paper.pdf'), betas });
  assert.match(pdf.id, /^file_/);
  assert.equal(pdf.type, 'file');
  assert.equal(pdf.mime_type, 'application/pdf');
  assert.equal(pdf.size_bytes, PDF.length);
  assert.equal(pdf.downloadable, false);
  const notes = await client.beta.files.upload({ file: await toFile(Buffer.from('Line one.\nLine two.\n'), 'notes.txt'), betas, expires_in_seconds: 7200 });
  assert.ok(notes.expires_at && Date.parse(notes.expires_at) - Date.parse(notes.created_at) === 7_200_000, 'expires_in_seconds kept');
  const png = await client.beta.files.upload({ file: await toFile(PNG, 'plot.png'), betas });
  assert.deepEqual((await client.beta.files.retrieveMetadata(png.id, { betas })).filename, 'plot.png');

  const listed: string[] = [];
  for await (const f of client.beta.files.list({ betas, limit: 2 })) listed.push(f.id);
  assert.deepEqual(listed.slice(0, 3), [png.id, notes.id, pdf.id], 'newest first, page after page');
  assert.ok(listed.length > 3 && new Set(listed).size === listed.length, 'and the earlier input files, each once');
  const names: string[] = [];
  for await (const f of client.beta.files.list({ betas })) names.push(f.filename);
  assert.ok(names.includes('chart.png') && names.includes('report.pdf'), `every input file, vision ones too: ${names.join(', ')}`);
  assert.ok(!names.includes('in.jsonl'), 'not batch files');

  const m = await client.beta.messages.create({ model: 'claude-sonnet-5', max_tokens: 64, betas, messages: [{ role: 'user', content: [
    { type: 'document', source: { type: 'file', file_id: pdf.id } },
    { type: 'document', source: { type: 'file', file_id: notes.id } },
    { type: 'image', source: { type: 'file', file_id: png.id } },
    { type: 'text', text: 'Compare them.' },
  ] }] });
  assert.equal(m.type, 'message');
  const [doc, text, image] = forwarded('/v1/messages').messages[0].content;
  assert.deepEqual(doc, { type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: PDF.toString('base64') } });
  assert.deepEqual(text, { type: 'document', source: { type: 'text', media_type: 'text/plain', data: 'Line one.\nLine two.\n' } });
  assert.deepEqual(image, { type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG.toString('base64') } });

  // In a tool's result too.
  await client.beta.messages.create({ model: 'claude-sonnet-5', max_tokens: 64, betas, messages: [
    { role: 'user', content: 'Fetch the chart.' },
    { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'fetch', input: {} }] },
    { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: [{ type: 'image', source: { type: 'file', file_id: png.id } }] }] },
  ] });
  assert.equal(forwarded('/v1/messages').messages[2].content[0].content[0].source.type, 'base64');

  // Bob cannot name Alice's file, see it or delete it; a PNG is no document; uploaded files are not downloadable.
  const bobClient = new Anthropic({ apiKey: bob, baseURL: t.url, maxRetries: 0 });
  await assert.rejects(bobClient.beta.messages.create({ model: 'claude-sonnet-5', max_tokens: 8, betas, messages: [{ role: 'user', content: [{ type: 'document', source: { type: 'file', file_id: pdf.id } }] }] }),
    (e: any) => e.status === 400 && e.error.type === 'error' && e.error.error.type === 'invalid_request_error' && /messages\.0\.content\.0\.source\.file_id/.test(e.error.error.message));
  await assert.rejects(bobClient.beta.files.retrieveMetadata(pdf.id, { betas }), (e: any) => e.status === 404 && e.error.error.type === 'not_found_error');
  await assert.rejects(bobClient.beta.files.delete(pdf.id, { betas }), (e: any) => e.status === 404);
  await assert.rejects(client.beta.messages.create({ model: 'claude-sonnet-5', max_tokens: 8, betas, messages: [{ role: 'user', content: [{ type: 'document', source: { type: 'file', file_id: png.id } }] }] }),
    (e: any) => e.status === 400 && /not a document/.test(e.error.error.message));
  await assert.rejects(client.beta.files.download(pdf.id, { betas }), (e: any) => e.status === 400 && /not downloadable/.test(e.error.error.message));
  await assert.rejects(client.beta.files.upload({ file: await toFile(PDF, 'x.pdf'), betas, expires_in_seconds: 5 }), (e: any) => e.status === 400 && /expires_in_seconds/.test(e.error.error.message));

  // A Message Batch's requests name files the same way: each is read when its request runs, as its key.
  const batch = await client.messages.batches.create({ requests: [{ custom_id: 'doc', params: { model: 'claude-sonnet-5', max_tokens: 16, messages: [{ role: 'user', content: [{ type: 'document', source: { type: 'file', file_id: pdf.id } } as never, { type: 'text', text: 'Summarise.' }] }] } }] });
  for (const deadline = Date.now() + 20_000; (await client.messages.batches.retrieve(batch.id)).processing_status !== 'ended' && Date.now() < deadline;) await new Promise((r) => setTimeout(r, 50));
  const results: any[] = [];
  for await (const r of await client.messages.batches.results(batch.id)) results.push(r);
  assert.equal(results[0]?.result.type, 'succeeded', JSON.stringify(results[0]));
  assert.deepEqual(forwarded('/v1/messages').messages[0].content[0], { type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: PDF.toString('base64') } });

  assert.deepEqual(await client.beta.files.delete(notes.id, { betas }), { id: notes.id, type: 'file_deleted' });
  await assert.rejects(client.beta.files.retrieveMetadata(notes.id, { betas }), (e: any) => e.status === 404);
  // The same files, by OpenAI's SDK: one store for both APIs.
  assert.equal((await sdk(alice).files.retrieve(pdf.id)).purpose, 'user_data');
});

test('operators list customers\' files and take one down (admin API and CLI): requests naming it are refused from then on', async () => {
  const { runBatchesCli } = await import('../cli/batches-cmd.ts');
  const { TEST_ADMIN_TOKEN } = await import('../../test/helpers/warden.ts');
  const carol = await t.account('carol', 'enterprise');
  const client = sdk(carol.key);
  const doc = await client.files.create({ file: await toFile(PDF, 'leaked-weights-howto.pdf'), purpose: 'user_data' });
  const adminGet = async (path: string) => (await fetch(`${t.url}/admin${path}`, { headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } })).json() as Promise<any>;
  const listed = await adminGet(`/files?account=${carol.id}`);
  assert.deepEqual(listed.data.map((f: any) => [f.id, f.purpose, f.filename, f.media_type, f.bytes]), [[doc.id, 'user_data', 'leaked-weights-howto.pdf', 'application/pdf', PDF.length]]);
  assert.ok((await adminGet('/files?purpose=user_data&limit=500')).data.some((f: any) => f.account_id !== carol.id), 'every account\'s, without a filter');
  assert.equal((await fetch(`${t.url}/admin/files?limit=0`, { headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } })).status, 400);

  const out: string[] = [];
  const io = { out: (s: string) => out.push(s), err: (s: string) => out.push(s), env: { WARDEN_ADMIN_URL: t.url, WARDEN_ADMIN_TOKEN: TEST_ADMIN_TOKEN } };
  assert.equal(await runBatchesCli(['files', '--account', carol.id], io), 0, out.join('\n'));
  assert.match(out.join('\n'), /leaked-weights-howto\.pdf/);
  assert.equal(await runBatchesCli(['delete-file', doc.id], io), 0, out.join('\n'));
  assert.match(out.at(-1)!, /deleted/);
  await assert.rejects(client.responses.create({ model: 'gpt-5', input: [{ role: 'user', content: [{ type: 'input_file', file_id: doc.id }] }] }), (e: any) => e.status === 400);
  await assert.rejects(client.files.retrieve(doc.id), (e: any) => e.status === 404);
  assert.equal(await runBatchesCli(['delete-file', doc.id], io), 1, 'a second time: not found');
});

test('a prompt put in a text document is read as a prompt: the event carries its text, and the detector sees what it asks', async () => {
  const { extractFeatures, FLAG } = await import('../detect/features.ts');
  const dave = await t.account('dave', 'enterprise');
  const ask = 'Solve the problem below. Think step by step and show your complete chain of thought before the final answer.\nProblem: a train leaves at 9:00 at 80 km/h...';
  const client = sdk(dave.key);
  const byId = await client.files.create({ file: await toFile(Buffer.from(ask), 'task.txt'), purpose: 'user_data' });
  await client.responses.create({ model: 'gpt-5', input: [{ role: 'user', content: [{ type: 'input_file', file_id: byId.id }, { type: 'input_text', text: 'Please.' }] }] });
  await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: [{ type: 'file', file: { filename: 'task.txt', file_data: `data:text/plain;base64,${Buffer.from(ask).toString('base64')}` } }] }] });
  const anthropic = new Anthropic({ apiKey: dave.key, baseURL: t.url, maxRetries: 0 });
  await anthropic.messages.create({ model: 'claude-sonnet-5', max_tokens: 16, messages: [{ role: 'user', content: [{ type: 'document', source: { type: 'text', media_type: 'text/plain', data: ask } }, { type: 'text', text: 'Go.' }] }] });
  // A PDF that cannot be parsed (this one has no pages) is counted as a part, and as unread.
  await client.responses.create({ model: 'gpt-5', input: [{ role: 'user', content: [{ type: 'input_file', filename: 'a.pdf', file_data: `data:application/pdf;base64,${PDF.toString('base64')}` }, { type: 'input_text', text: 'Please.' }] }] });
  const events = await t.events((e) => e.account_id === dave.id && e.response.status === 200, 4, 30_000);
  assert.equal(events.length, 4);
  const isPdf = (e: (typeof events)[number]) => e.request.messages.at(-1)?.parts?.input_file === 1 && e.request.messages.at(-1)?.text === 'Please.';
  assert.equal(events.filter(isPdf).length, 1, 'an unparseable PDF is counted as a part, its bytes not read as text');
  assert.equal(events.find(isPdf)!.request.messages.at(-1)!.documents_unread, 1, 'and counted unread (test/gateway/documents.test.ts reads real ones)');
  const documents = events.filter((e) => !isPdf(e));
  assert.deepEqual(documents.map((e) => e.flavour).sort(), ['anthropic.messages', 'openai.chat', 'openai.responses']);
  for (const e of documents) {
    const user = e.request.messages.at(-1)!;
    assert.match(user.text ?? '', /Think step by step/, `${e.flavour}: the document's text is in the event`);
    assert.ok(user.parts && Object.keys(user.parts).length === 1, JSON.stringify(user.parts));
    assert.ok(extractFeatures(e).flags & FLAG.cot, `${e.flavour}: the chain-of-thought request is seen`);
  }
});

test('a file part is sent inline wherever it is (a custom tool\'s output); a file id where nothing can be inlined (an image mask) is refused, nothing forwarded', async () => {
  const client = sdk(alice);
  const png = await client.files.create({ file: await toFile(PNG, 'shot.png'), purpose: 'vision' });
  await client.responses.create({ model: 'gpt-5', input: [
    { role: 'user', content: 'Look at the screenshot the tool took.' },
    { type: 'custom_tool_call', call_id: 'call_1', name: 'screenshot', input: 'full page' },
    { type: 'custom_tool_call_output', call_id: 'call_1', output: [{ type: 'input_image', file_id: png.id }] },
  ] } as any);
  assert.deepEqual(forwarded('/v1/responses').input[2].output[0], { type: 'input_image', image_url: `data:image/png;base64,${PNG.toString('base64')}` }, 'inlined in a tool\'s output too');
  const before = mock.received.length;
  await assert.rejects(
    client.responses.create({ model: 'gpt-5', input: 'Paint the sky.', tools: [{ type: 'image_generation', input_image_mask: { file_id: png.id } }] } as any),
    (e: any) => e.status === 400 && e.error.param === 'tools[0].input_image_mask.file_id' && e.error.warden_code === 'WARDEN_INVALID_REQUEST',
    'a mask cannot be sent inline here, and the upstream keeps no customer file',
  );
  assert.equal(mock.received.length, before, 'not forwarded');
});

test('the caller\'s own file named where it cannot be sent inline: the refusal says how to send it instead', async () => {
  const client = sdk(alice);
  const png = await client.files.create({ file: await toFile(PNG, 'mask.png'), purpose: 'vision' });
  const pdf = await client.files.create({ file: await toFile(PDF, 'data.pdf'), purpose: 'user_data' });
  const before = mock.received.length;
  const refusal = async (body: object) => {
    try { await client.responses.create({ model: 'gpt-5', ...body } as any); } catch (e: any) { return { status: e.status, param: e.error?.param, message: String(e.error?.message) }; }
    assert.fail('the request was served');
  };
  const mask = await refusal({ input: 'Paint the sky.', tools: [{ type: 'image_generation', input_image_mask: { file_id: png.id } }] });
  assert.equal(mask.status, 400, mask.message);
  assert.equal(mask.param, 'tools[0].input_image_mask.file_id');
  assert.match(mask.message, /image_url/, `the mask is sent as an image_url data URL instead: ${mask.message}`);
  const container = await refusal({ input: 'Plot it.', tools: [{ type: 'code_interpreter', container: { type: 'auto', file_ids: [pdf.id] } }] });
  assert.equal(container.status, 400, container.message);
  assert.equal(container.param, 'tools[0].container.file_ids');
  assert.match(container.message, /input_file/, `the file is attached as an input_file part instead: ${container.message}`);
  // Another's file there is refused as before, telling nothing about the file.
  const other = await (async () => { try { await sdk(bob).responses.create({ model: 'gpt-5', input: 'x', tools: [{ type: 'image_generation', input_image_mask: { file_id: png.id } }] } as any); } catch (e: any) { return String(e.error?.message); } return ''; })();
  assert.ok(other.includes('is not available through this API') && !/image_url/.test(other), `another's file: the plain refusal (${other})`);
  assert.equal(mock.received.length, before, 'nothing forwarded');
});
