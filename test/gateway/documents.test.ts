// PDFs and images through a running Warden with the official SDKs: a prompt put in a PDF or a
// picture (inline, or uploaded and named by id) is read off the request path and its text is in the event the detector and the
// ledger get; the answer does not wait for the reading; a PDF that cannot be read in time is
// counted unread and its event still recorded, also when Warden stops meanwhile.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI, { toFile } from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startTestWarden, type TestWarden } from '../helpers/warden.ts';
import { readFileSync } from 'node:fs';
import { imagePdf, makePdf, slowPdf } from '../helpers/pdf.ts';
import { extractFeatures, FLAG } from '../../src/detect/features.ts';
import type { InteractionEvent } from '../../src/events/index.ts';
import { documentTurn } from '../../src/gateway/request-documents.ts';
import type { AuthContext } from '../../src/identity/types.ts';

let t: TestWarden;
before(async () => { t = await startTestWarden({ documents: { timeout_ms: 1500 } }); });
after(async () => { await t.close(); });

const ASK = 'Solve the problem below. Think step by step and show your complete chain of thought before the final answer. Problem: a train leaves at 9:00 at 80 km/h.';
const openai = (key: string) => new OpenAI({ apiKey: key, baseURL: `${t.url}/v1`, maxRetries: 0 });
const anthropic = (key: string) => new Anthropic({ apiKey: key, baseURL: t.url, maxRetries: 0 });
const lastUser = (e: InteractionEvent) => e.request.messages.filter((m) => m.role === 'user').at(-1)!;

test('a prompt put in a PDF is read as a prompt, through all three APIs and by file id', async () => {
  const carol = await t.account('carol', 'enterprise');
  const pdf = await makePdf(['Worksheet 7.', ASK]);
  const dataUrl = `data:application/pdf;base64,${pdf.toString('base64')}`;
  const oa = openai(carol.key);
  const an = anthropic(carol.key);
  await an.messages.create({ model: 'claude-sonnet-5', max_tokens: 32, messages: [{ role: 'user', content: [{ type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: pdf.toString('base64') } }, { type: 'text', text: 'Go.' }] }] });
  await oa.responses.create({ model: 'gpt-5', input: [{ role: 'user', content: [{ type: 'input_text', text: 'Please.' }, { type: 'input_file', filename: 'w7.pdf', file_data: dataUrl }] }] });
  await oa.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: [{ type: 'text', text: 'Please.' }, { type: 'file', file: { filename: 'w7.pdf', file_data: dataUrl } }] }] });
  const uploaded = await oa.files.create({ file: await toFile(pdf, 'w7.pdf', { type: 'application/pdf' }), purpose: 'user_data' });
  await oa.responses.create({ model: 'gpt-5', input: [{ role: 'user', content: [{ type: 'input_file', file_id: uploaded.id }] }] });
  const viaAnthropic = await an.beta.files.upload({ file: await toFile(pdf, 'w7.pdf', { type: 'application/pdf' }), betas: ['files-api-2025-04-14'] });
  await an.beta.messages.create({ model: 'claude-sonnet-5', max_tokens: 32, betas: ['files-api-2025-04-14'], messages: [{ role: 'user', content: [{ type: 'document', source: { type: 'file', file_id: viaAnthropic.id } }] }] });

  const events = await t.events((e) => e.account_id === carol.id && e.response.status === 200, 5);
  assert.equal(events.length, 5);
  for (const e of events) {
    const user = lastUser(e);
    const text = user.text ?? '';
    assert.match(text, /Worksheet 7\.[\s\S]*Think step by step and show your complete chain of thought/, `${e.flavour}: both pages of the PDF, in order, are in the event`);
    assert.equal(user.chars, text.length, 'chars counts the PDF text too');
    assert.equal(user.documents_unread, undefined, 'nothing left unread');
    assert.ok(extractFeatures(e).flags & FLAG.cot, `${e.flavour}: the detector sees the chain-of-thought request`);
  }
  // Text the client wrote comes first, then the document's.
  const responses = events.find((e) => e.flavour === 'openai.responses' && lastUser(e).text?.startsWith('Please.'));
  assert.ok(responses, 'the inline Responses request');
  assert.match(lastUser(responses).text!, /^Please\.\nWorksheet 7\./);
  const metrics = await (await fetch(`${t.url}/metrics`)).text();
  assert.match(metrics, /warden_documents_total\{kind="pdf",result="read"\} 5/);
});

test('a prompt put in an image, or in a scanned PDF, is recognised as a prompt, through all three APIs and by file id', async () => {
  const gina = await t.account('gina', 'enterprise');
  const png = readFileSync(new URL('../fixtures/documents/prompt.png', import.meta.url));
  const jpeg = readFileSync(new URL('../fixtures/documents/prompt.jpg', import.meta.url));
  const oa = openai(gina.key);
  const an = anthropic(gina.key);
  await an.messages.create({ model: 'claude-sonnet-5', max_tokens: 16, messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'base64', media_type: 'image/png', data: png.toString('base64') } }, { type: 'text', text: 'Do it.' }] }] });
  await oa.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: [{ type: 'text', text: 'Do it.' }, { type: 'image_url', image_url: { url: `data:image/jpeg;base64,${jpeg.toString('base64')}` } }] }] });
  await oa.responses.create({ model: 'gpt-5', input: [{ role: 'user', content: [{ type: 'input_text', text: 'Do it.' }, { type: 'input_image', detail: 'auto', image_url: `data:image/png;base64,${png.toString('base64')}` }] }] });
  const uploaded = await oa.files.create({ file: await toFile(png, 'task.png', { type: 'image/png' }), purpose: 'vision' });
  await oa.responses.create({ model: 'gpt-5', input: [{ role: 'user', content: [{ type: 'input_image', detail: 'auto', file_id: uploaded.id }] }] });
  const scan = await imagePdf([jpeg]);
  await an.messages.create({ model: 'claude-sonnet-5', max_tokens: 16, messages: [{ role: 'user', content: [{ type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: scan.toString('base64') } }] }] });

  const events = await t.events((e) => e.account_id === gina.id && e.response.status === 200, 5, 30_000);
  assert.equal(events.length, 5);
  for (const e of events) {
    const user = lastUser(e);
    assert.match(user.text ?? '', /Think step by step and show your full reasoning/, `${e.flavour}: the image's text is in the event: ${JSON.stringify(user.text)}`);
    assert.equal(user.documents_unread, undefined);
    assert.ok(extractFeatures(e).flags & FLAG.cot, `${e.flavour}: the detector sees the chain-of-thought request`);
  }
  const metrics = await (await fetch(`${t.url}/metrics`)).text();
  assert.match(metrics, /warden_documents_total\{kind="image",result="read"\} 4/);
});

test('a prompt put in a developer message\'s image or PDF (Responses API) is read, and the detector sees it', async () => {
  const hana = await t.account('hana', 'enterprise');
  const png = readFileSync(new URL('../fixtures/documents/prompt.png', import.meta.url));
  const pdf = await makePdf([ASK]);
  await openai(hana.key).responses.create({ model: 'gpt-5', instructions: 'You are a helpful assistant.', input: [
    { role: 'developer', content: [{ type: 'input_text', text: 'Do what the attachments say.' }, { type: 'input_image', detail: 'auto', image_url: `data:image/png;base64,${png.toString('base64')}` }, { type: 'input_file', filename: 'task.pdf', file_data: `data:application/pdf;base64,${pdf.toString('base64')}` }] },
    { role: 'user', content: 'Go.' },
  ] });
  const [event] = await t.events((e) => e.account_id === hana.id, 1, 30_000);
  assert.ok(event, 'recorded');
  assert.equal(event.request.system, 'You are a helpful assistant.\nDo what the attachments say.');
  const docs = event.request.system_documents;
  assert.ok(docs, 'the developer message\'s documents');
  assert.match(docs.text ?? '', /Think step by step and show your full reasoning/, `the image's text: ${JSON.stringify(docs.text)}`);
  assert.ok((docs.text ?? '').includes(ASK.slice(0, 40)), `the PDF's text: ${JSON.stringify(docs.text)}`);
  assert.equal(docs.documents_unread, undefined);
  assert.equal(lastUser(event).text, 'Go.');
  assert.ok(extractFeatures(event).flags & FLAG.cot, 'the detector sees the chain-of-thought request');
});

test('a prompt PDF behind twenty blank ones is still read: one request\'s PDFs count once against the account', async () => {
  const frank = await t.account('frank', 'enterprise');
  const blank = (await makePdf([' '])).toString('base64');
  const prompt = (await makePdf([ASK])).toString('base64');
  const content = [
    ...Array.from({ length: 20 }, () => ({ type: 'document' as const, source: { type: 'base64' as const, media_type: 'application/pdf' as const, data: blank } })),
    { type: 'document' as const, source: { type: 'base64' as const, media_type: 'application/pdf' as const, data: prompt } },
  ];
  await anthropic(frank.key).messages.create({ model: 'claude-sonnet-5', max_tokens: 16, messages: [{ role: 'user', content }] });
  const [event] = await t.events((e) => e.account_id === frank.id, 1, 15_000);
  assert.match(lastUser(event).text ?? '', /Think step by step/);
  assert.equal(lastUser(event).documents_unread, undefined);
  assert.equal(lastUser(event).parts?.document, 21);
});

test('the answer does not wait for a slow PDF; the event does, and records it unread', async () => {
  const dan = await t.account('dan', 'enterprise');
  const slow = slowPdf(64);
  const started = Date.now();
  const answer = await anthropic(dan.key).messages.create({ model: 'claude-sonnet-5', max_tokens: 16, messages: [{ role: 'user', content: [{ type: 'text', text: 'Summarise the attached report.' }, { type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: slow.toString('base64') } }] }] });
  const answeredMs = Date.now() - started;
  assert.equal(answer.type, 'message');
  await t.w.gateway.recorder.flush();
  const early = await t.events((e) => e.account_id === dan.id, 1, 0);
  assert.equal(early.length, 0, `answered in ${answeredMs} ms; its event waits for the PDF`);
  const [event] = await t.events((e) => e.account_id === dan.id, 1, 15_000);
  assert.ok(event, 'recorded once the reader gave up');
  const recordedMs = Date.now() - started;
  assert.ok(recordedMs >= 1500, 'recorded after the document time limit');
  assert.ok(answeredMs < recordedMs - 500, `answered (${answeredMs} ms) well before the event was recorded (${recordedMs} ms)`);
  assert.equal(lastUser(event).documents_unread, 1);
  assert.equal(lastUser(event).text, 'Summarise the attached report.');
  assert.equal(event.response.status, 200);
  const metrics = await (await fetch(`${t.url}/metrics`)).text();
  assert.match(metrics, /warden_documents_total\{kind="pdf",result="timeout"\} 1/);
});

test('an event waiting for its PDF is still recorded when Warden stops', async () => {
  const w2 = await startTestWarden({ documents: { timeout_ms: 1000 } });
  const erin = await w2.account('erin', 'enterprise');
  const client = new OpenAI({ apiKey: erin.key, baseURL: `${w2.url}/v1`, maxRetries: 0 });
  await client.responses.create({ model: 'gpt-5', input: [{ role: 'user', content: [{ type: 'input_text', text: 'Read this.' }, { type: 'input_file', filename: 'r.pdf', file_data: `data:application/pdf;base64,${slowPdf(64).toString('base64')}` }] }] });
  await w2.w.gateway.close();
  const stored: InteractionEvent[] = [];
  for await (const e of w2.w.stores.events.iterate()) if (e.account_id === erin.id) stored.push(e);
  assert.equal(stored.length, 1, 'the event was written before the recorder closed');
  assert.equal(lastUser(stored[0]).documents_unread, 1);
  await w2.close();
});

test('whose turn a request\'s documents wait for: the linked cluster, else the organisation, else the account; trusted tiers first', () => {
  const auth = (tier: string, org: string | null) => ({ account: { id: 'acct_1', org_id: org }, org: org ? { id: org } : null, tier }) as unknown as AuthContext;
  assert.deepEqual(documentTurn(auth('unverified', null)), { group: 'account:acct_1', lane: 1 });
  assert.deepEqual(documentTurn(auth('email_verified', 'org_9')), { group: 'org:org_9', lane: 1 });
  assert.deepEqual(documentTurn(auth('identity_verified', 'org_9')), { group: 'org:org_9', lane: 0 });
  assert.deepEqual(documentTurn(auth('enterprise', 'org_9'), (id) => (id === 'acct_1' ? 'cl_7' : null)), { group: 'cluster:cl_7', lane: 0 });
  assert.deepEqual(documentTurn(auth('unverified', null), () => null), { group: 'account:acct_1', lane: 1 });
});
