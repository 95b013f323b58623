// What the event says a request asked: text documents are read as text (their start), PDFs are
// collected for the document reader and their text added after it, images are counted as parts,
// and a malformed escape in a data URL is kept as it is rather than hiding the document or
// failing the request.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addDocumentText, extractRequestFeatures, namesDocuments, requestItems, type PendingDocument } from './request-features.ts';
import { extractFeatures, flagNames } from '../detect/features.ts';

const opts = { recordPrompts: 'full' as const, maxMessageChars: 1_000_000 };
const b64 = (s: string) => Buffer.from(s).toString('base64');

test('text documents in each wire format are part of the message text; PDFs and images are not', () => {
  const anthropic = extractRequestFeatures('anthropic.messages', { model: 'm', max_tokens: 8, messages: [{ role: 'user', content: [
    { type: 'document', source: { type: 'text', media_type: 'text/plain', data: 'plain text doc' } },
    { type: 'document', source: { type: 'content', content: [{ type: 'text', text: 'content doc' }] } },
    { type: 'document', source: { type: 'base64', media_type: 'text/csv', data: b64('a,b\n1,2') } },
    { type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: b64('%PDF-1.4 secret') } },
    { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
    { type: 'text', text: 'Summarise.' },
  ] }] }, 0, opts);
  const m = anthropic.messages[0];
  assert.equal(m.text, 'plain text doc\ncontent doc\na,b\n1,2\nSummarise.');
  assert.deepEqual(m.parts, { document: 4, image: 1 });
  assert.ok(namesDocuments(anthropic));

  const responses = extractRequestFeatures('openai.responses', { model: 'm', input: [{ role: 'user', content: [
    { type: 'input_file', filename: 'q.md', file_data: `data:text/markdown;base64,${b64('# Question')}` },
    { type: 'input_file', file_id: 'file-abc' },
    { type: 'input_text', text: 'Answer it.' },
  ] }] }, 0, opts);
  assert.equal(responses.messages.at(-1)!.text, '# Question\nAnswer it.');
  const chat = extractRequestFeatures('openai.chat', { model: 'm', messages: [{ role: 'user', content: [
    { type: 'file', file: { filename: 'x.json', file_data: 'data:application/json,%7B%22q%22%3A1%7D' } },
    { type: 'file', file: { filename: 'bad.txt', file_data: 'data:text/plain,%E0%A4%AA%E0%A4%B0%E0%A5%80%A' } },
  ] }] }, 0, opts);
  assert.equal(chat.messages[0].text, '{"q":1}\nपरी%A', 'a malformed escape stays as it is, and fails nothing');
  assert.ok(!namesDocuments(extractRequestFeatures('openai.chat', { model: 'm', messages: [{ role: 'user', content: 'hi' }] }, 0, opts)));
});

test('only the start of a large text document is read', () => {
  const big = 'x'.repeat(5_000_000);
  const r = extractRequestFeatures('anthropic.messages', { model: 'm', max_tokens: 8, messages: [{ role: 'user', content: [
    { type: 'document', source: { type: 'base64', media_type: 'text/plain', data: b64(big) } },
  ] }] }, 0, opts);
  assert.ok(r.messages[0].chars >= 64 * 1024 && r.messages[0].chars < 70 * 1024, String(r.messages[0].chars));
});

test('PDFs in each wire format are collected with their message; their text is added in order, within the limit', () => {
  const pdf = b64('%PDF-1.7 ...');
  const pdfs: PendingDocument[] = [];
  const r = extractRequestFeatures('anthropic.messages', { model: 'm', max_tokens: 8, messages: [
    { role: 'user', content: [
      { type: 'text', text: 'Compare them.' },
      { type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: pdf } },
      { type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: pdf } },
    ] },
    { role: 'user', content: [{ type: 'tool_result', tool_use_id: 't', content: [{ type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: pdf } }] }] },
  ] }, 0, opts, pdfs);
  assert.equal(pdfs.length, 3);
  assert.equal(pdfs[0].message, r.messages[0]);
  assert.equal(pdfs[2].message, r.messages[1], 'a PDF in a tool result belongs to its message');
  addDocumentText(pdfs, [{ result: 'read', text: 'first' }, { result: 'timeout', text: 'page one' }, { result: 'read', text: 'third' }], 1000);
  assert.equal(r.messages[0].text, 'Compare them.\nfirst\npage one', 'a PDF given up on a later page: what was read is kept');
  assert.equal(r.messages[0].chars, 'Compare them.\nfirst\npage one'.length);
  assert.equal(r.messages[0].documents_unread, 1, 'and it is counted unread');
  assert.equal(r.messages[1].text, 'third');

  const chat: PendingDocument[] = [];
  extractRequestFeatures('openai.chat', { model: 'm', messages: [{ role: 'user', content: [
    { type: 'file', file: { filename: 'a.pdf', file_data: `data:application/pdf;base64,${pdf}` } },
    { type: 'file', file: { filename: 'b.pdf', file_data: pdf } },
    { type: 'file', file: { filename: 'c.png', file_data: 'data:image/png;base64,iVBORw0KGgo=' } },
  ] }] }, 0, opts, chat);
  assert.deepEqual(chat.map((p) => p.data), [pdf, pdf], 'a data URL of a PDF, or bare base64 that starts as one; not an image');
  const responses: PendingDocument[] = [];
  const out = extractRequestFeatures('openai.responses', { model: 'm', input: [
    { type: 'function_call_output', call_id: 'c', output: [{ type: 'input_text', text: 'Result:' }, { type: 'input_file', file_data: `data:application/pdf;base64,${pdf}` }] },
  ] }, 0, { ...opts, maxMessageChars: 12 }, responses);
  assert.equal(responses.length, 1, 'a PDF in a tool output');
  assert.equal(out.messages[0].text, 'Result:');
  addDocumentText(responses, [{ result: 'read', text: 'a long document text' }], 12);
  assert.equal(out.messages[0].text, 'Result:\na lo', 'cut at maxMessageChars');
  assert.equal(out.messages[0].chars, 'Result:\na long document text'.length, 'chars counts it all');

  const byUrl: PendingDocument[] = [];
  const urls = extractRequestFeatures('anthropic.messages', { model: 'm', max_tokens: 8, messages: [{ role: 'user', content: [
    { type: 'document', source: { type: 'url', url: 'https://example.org/task.pdf' } }, { type: 'text', text: 'Answer it.' },
  ] }] }, 0, opts, byUrl);
  assert.equal(byUrl.length, 0, 'a document by URL is not fetched');
  assert.equal(urls.messages[0].documents_unread, 1, 'and is counted unread');
  const openaiUrl = extractRequestFeatures('openai.responses', { model: 'm', input: [{ role: 'user', content: [{ type: 'input_file', file_url: 'https://example.org/task.pdf' }] }] }, 0, opts, []);
  assert.equal(openaiUrl.messages[0].documents_unread, 1);

  const none: PendingDocument[] = [];
  extractRequestFeatures('openai.responses', { model: 'm', input: [{ role: 'user', content: [{ type: 'input_file', file_data: `data:application/pdf;base64,${pdf}` }] }] }, 0, { recordPrompts: 'none', maxMessageChars: 100 }, none);
  assert.equal(none.length, 0, 'prompts not recorded: nothing to read');
});

test('PDFs and images in system and developer messages are read into a message of their own, and counted like a message\'s', () => {
  const pdf = b64('%PDF-1.7 ...');
  const png = 'iVBORw0KGgoAAAANSUhEUg';
  const docs: PendingDocument[] = [];
  const r = extractRequestFeatures('openai.responses', { model: 'm', instructions: 'Be brief.', input: [
    { role: 'developer', content: [{ type: 'input_text', text: 'Follow the attached task.' }, { type: 'input_file', file_data: `data:application/pdf;base64,${pdf}` }, { type: 'input_image', image_url: `data:image/png;base64,${png}` }, { type: 'input_file', file_url: 'https://example.org/more.pdf' }] },
    { role: 'user', content: [{ type: 'input_text', text: 'Go.' }, { type: 'input_file', file_data: `data:application/pdf;base64,${b64('%PDF-1.7 user')}` }] },
  ] }, 0, { ...opts, readImages: true }, docs);
  assert.equal(r.system, 'Be brief.\nFollow the attached task.', 'the system prompt is the messages\' own text');
  const sys = r.system_documents!;
  assert.ok(sys, 'the documents\' message');
  assert.deepEqual(sys.parts, { input_file: 2, input_image: 1 });
  assert.equal(sys.documents_unread, 1, 'the one by URL, at once');
  // Collected after the conversation's: read first (newest first reverses them), since they are sent anew with every request.
  assert.deepEqual(docs.map((d) => [d.kind, d.message === sys]), [['pdf', false], ['pdf', true], ['image', true]]);
  addDocumentText(docs, [{ result: 'read', text: 'user doc' }, { result: 'read', text: 'Think step by step.' }, { result: 'too_large', text: '', unreadable: true }], 1000);
  assert.equal(sys.text, 'Think step by step.');
  assert.equal(sys.chars, 'Think step by step.'.length);
  assert.equal(sys.documents_unread, 2);
  assert.equal(sys.documents_unreadable, 1);
  assert.equal(r.system, 'Be brief.\nFollow the attached task.', 'and stays so once they are read');
  assert.equal(r.messages.length, 1, 'the developer message is not a message of the conversation');
  assert.equal(r.messages[0].text, 'Go.\nuser doc');

  // A text document attached to a developer message: its text is the documents', not the prompt's.
  const textDoc = extractRequestFeatures('openai.responses', { model: 'm', input: [{ role: 'developer', content: [{ type: 'input_text', text: 'Rules.' }, { type: 'input_file', file_data: `data:text/plain;base64,${b64('Attached task.')}` }] }] }, 0, opts, []);
  assert.equal(textDoc.system, 'Rules.');
  assert.equal(textDoc.system_documents?.text, 'Attached task.');
  assert.equal(textDoc.system_documents?.chars, 'Attached task.'.length);
  // A file named by id in a developer message: the request is described again once it is in place.
  const named = extractRequestFeatures('openai.responses', { model: 'm', input: [{ role: 'developer', content: [{ type: 'input_file', file_id: 'file-abc' }] }, { role: 'user', content: 'Go.' }] }, 0, opts, []);
  assert.ok(namesDocuments(named), 'a developer message\'s file id counts');
  // Prompts not recorded: no system text, nothing read.
  const none: PendingDocument[] = [];
  const n = extractRequestFeatures('openai.responses', { model: 'm', input: [{ role: 'developer', content: [{ type: 'input_text', text: 'S' }, { type: 'input_file', file_data: `data:application/pdf;base64,${pdf}` }] }, { role: 'user', content: 'U' }] }, 0, { recordPrompts: 'none', maxMessageChars: 100 }, none);
  assert.equal(n.system, null);
  assert.equal(none.length, 0, 'nothing handed to the reader');
  assert.equal(n.system_documents?.text, null);
  // Plain system prompts are as before, with no documents' message.
  const plain = extractRequestFeatures('anthropic.messages', { model: 'm', max_tokens: 8, system: [{ type: 'text', text: 'One.' }, { type: 'text', text: 'Two.' }], messages: [{ role: 'user', content: 'Hi' }] }, 0, { ...opts, maxMessageChars: 6 }, []);
  assert.equal(plain.system, 'One.\nT', 'within maxMessageChars');
  assert.equal(plain.system_documents, undefined);
});

test('images in each wire format are collected for their text when images are read; by URL they are counted unread', () => {
  const png = 'iVBORw0KGgoAAAANSUhEUg';
  const images = { ...opts, readImages: true };
  const anthropic: PendingDocument[] = [];
  const a = extractRequestFeatures('anthropic.messages', { model: 'm', max_tokens: 8, messages: [{ role: 'user', content: [
    { type: 'image', source: { type: 'base64', media_type: 'image/png', data: png } },
    { type: 'image', source: { type: 'url', url: 'https://example.org/task.png' } },
    { type: 'image', source: { type: 'base64', media_type: 'image/svg+xml', data: 'PHN2Zz4=' } },
    { type: 'tool_result', tool_use_id: 't', content: [{ type: 'image', source: { type: 'base64', media_type: 'image/jpeg', data: '/9j/4AAQ' } }] },
    { type: 'text', text: 'Do what the image says.' },
  ] }] }, 0, images, anthropic);
  assert.deepEqual(anthropic.map((d) => [d.kind, d.data]), [['image', png], ['image', '/9j/4AAQ']], 'base64 PNG and JPEG, a tool result\'s too; not an SVG');
  assert.equal(a.messages[0].documents_unread, 1, 'an image by URL is counted unread');
  addDocumentText(anthropic, [{ result: 'read', text: 'Think step by step.' }, { result: 'not_image', text: '' }], 1000);
  assert.equal(a.messages[0].text, 'Do what the image says.\nThink step by step.');
  assert.equal(a.messages[0].documents_unread, 1, 'bytes that are not an image are nothing to read, not unread');

  const chat: PendingDocument[] = [];
  const c = extractRequestFeatures('openai.chat', { model: 'm', messages: [{ role: 'user', content: [
    { type: 'image_url', image_url: { url: `data:image/webp;base64,${png}`, detail: 'high' } },
    { type: 'image_url', image_url: { url: 'https://example.org/a.jpg' } },
    { type: 'image_url', image_url: { url: 'data:image/png,not-base64' } },
  ] }] }, 0, images, chat);
  assert.deepEqual(chat.map((d) => d.data), [png]);
  assert.equal(c.messages[0].documents_unread, 1);

  const responses: PendingDocument[] = [];
  extractRequestFeatures('openai.responses', { model: 'm', input: [{ role: 'user', content: [
    { type: 'input_image', image_url: `data:image/jpeg;base64,${png}` },
    { type: 'input_file', file_data: `data:application/pdf;base64,${b64('%PDF-1.7')}` },
  ] }] }, 0, images, responses);
  assert.deepEqual(responses.map((d) => d.kind), ['image', 'pdf'], 'in the order they came');
  const computer: PendingDocument[] = [];
  const cu = extractRequestFeatures('openai.responses', { model: 'm', input: [
    { type: 'computer_call_output', call_id: 'c1', output: { type: 'computer_screenshot', image_url: `data:image/png;base64,${png}` } },
  ] }, 0, images, computer);
  assert.deepEqual(computer.map((d) => d.data), [png], 'a computer-use screenshot');
  assert.equal(cu.messages[0].role, 'tool');

  // Unread and unreadable: the reader's limits are nobody's doing, the document's own are counted apart.
  const counted: PendingDocument[] = [];
  const cr = extractRequestFeatures('anthropic.messages', { model: 'm', max_tokens: 8, messages: [{ role: 'user', content: [
    ...Array.from({ length: 4 }, () => ({ type: 'image', source: { type: 'base64', media_type: 'image/png', data: png } })),
  ] }] }, 0, images, counted);
  addDocumentText(counted, [
    { result: 'busy', text: '', unreadable: false },
    { result: 'timeout', text: '', unreadable: true },
    { result: 'read', text: 'scan', imagesSkipped: 3 },
    { result: 'read', text: 'ok', imagesSkipped: 0 },
  ], 1000);
  assert.equal(cr.messages[0].documents_unread, 3, 'busy, timeout, and a read with scanned pages left unrecognised');
  assert.equal(cr.messages[0].documents_unreadable, 1, 'only the timeout was the document\'s doing');
  // A PDF read whose text layer is not language (a remapped font): its text is kept, and it is
  // counted unread and unreadable (the detector's hidden-content flag).
  const garbled: PendingDocument[] = [];
  const gr = extractRequestFeatures('anthropic.messages', { model: 'm', max_tokens: 8, messages: [{ role: 'user', content: [
    { type: 'text', text: 'Summarise the report.' }, { type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: b64('%PDF-1.7 ...') } },
  ] }] }, 0, opts, garbled);
  addDocumentText(garbled, [{ result: 'read', text: 'Quarterly report. ziofa lzth wn lzth', unreadable: true }], 1000);
  assert.equal(gr.messages[0].documents_unread, 1, 'a read PDF whose text layer hides what it shows is not read');
  assert.equal(gr.messages[0].documents_unreadable, 1, 'and is the document\'s doing');
  assert.match(gr.messages[0].text ?? '', /Quarterly report/);

  const off: PendingDocument[] = [];
  const o = extractRequestFeatures('openai.responses', { model: 'm', input: [{ role: 'user', content: [
    { type: 'input_image', image_url: `data:image/jpeg;base64,${png}` }, { type: 'input_image', image_url: 'https://example.org/a.jpg' },
  ] }] }, 0, opts, off);
  assert.equal(off.length, 0, 'images not read: not collected');
  assert.equal(o.messages[0].documents_unread, undefined, 'nor counted');
  const noPdfs: PendingDocument[] = [];
  extractRequestFeatures('openai.responses', { model: 'm', input: [{ role: 'user', content: [
    { type: 'input_image', image_url: `data:image/jpeg;base64,${png}` }, { type: 'input_file', file_data: `data:application/pdf;base64,${b64('%PDF-1.7')}` },
  ] }] }, 0, { ...images, readPdfs: false }, noPdfs);
  assert.deepEqual(noPdfs.map((d) => d.kind), ['image'], 'images without PDFs');
});

test('content-part types named like Object.prototype members are counted as numbers, as any other type', () => {
  const f = extractRequestFeatures('openai.chat', { model: 'm', messages: [
    { role: 'system', content: [{ type: 'toString' }, { type: 'text', text: 'sys' }] },
    { role: 'user', content: [
      { type: 'text', text: 'hello' }, { type: 'constructor' }, { type: '__proto__' }, { type: 'hasOwnProperty' }, { type: 'constructor' },
    ] },
  ] }, 0, opts);
  const parts = f.messages.at(-1)!.parts!;
  // As an exported event reads it.
  const exported = JSON.parse(JSON.stringify(parts)) as Record<string, unknown>;
  assert.deepEqual(exported, JSON.parse('{"constructor":2,"__proto__":1,"hasOwnProperty":1}'), `every count is a number: ${JSON.stringify(parts)}`);
  assert.deepEqual(JSON.parse(JSON.stringify(f.system_documents?.parts ?? null)), { toString: 1 }, 'system messages\' parts too');
});

const PROMPT = 'Solve the following problem. Think step by step and show your chain of thought: what is 17*23?';
const flagsOf = (request: ReturnType<typeof extractRequestFeatures>) =>
  flagNames(extractFeatures({ request, response: { status: 200, tool_calls: 0, input_tokens: 0, output_tokens: 0 }, model: 'm', flavour: 'openai.chat' } as never).flags);

test('a prompt padded with short turns around it is kept in the event, and the detector reads it', () => {
  // 50 padding user turns, the prompt, 150 empty assistant turns: 201 messages, one too many.
  const messages: unknown[] = Array.from({ length: 50 }, () => ({ role: 'user', content: '.' }));
  messages.push({ role: 'user', content: PROMPT });
  for (let i = 0; i < 150; i++) messages.push({ role: 'assistant', content: '' });
  const f = extractRequestFeatures('openai.chat', { model: 'm', messages }, 0, { recordPrompts: 'full', maxMessageChars: 8000 });
  assert.ok(f.messages.some((m) => m.text === PROMPT), `the prompt is among the kept messages (left out: ${JSON.stringify(f.messages_omitted)})`);
  assert.equal(f.messages.length + (f.messages_omitted?.count ?? 0), 201, 'every message is kept or counted');
  const flags = flagsOf(f);
  assert.ok(flags.includes('cot') && flags.includes('math'), `the detector still sees the prompt's wording: ${flags}`);
});

test('a prompt padded with user messages after a fake conversation is kept in the event, read as the prompt alone is', () => {
  const alone = extractFeatures({ request: extractRequestFeatures('openai.chat', { model: 'm', messages: [{ role: 'user', content: PROMPT }] }, 0, { recordPrompts: 'full', maxMessageChars: 8000 }), response: { status: 200, tool_calls: 0, input_tokens: 0, output_tokens: 0 }, model: 'm', flavour: 'openai.chat' } as never);
  // 60 made-up exchanges, the prompt, then 300 padding messages: 421 messages, the prompt in the part an event may leave out.
  const messages: unknown[] = [];
  for (let i = 0; i < 60; i++) messages.push({ role: 'user', content: `hi ${i}` }, { role: 'assistant', content: 'hello' });
  messages.push({ role: 'user', content: PROMPT });
  for (let i = 0; i < 300; i++) messages.push({ role: 'user', content: '.' });
  const f = extractRequestFeatures('openai.chat', { model: 'm', messages }, 0, { recordPrompts: 'full', maxMessageChars: 8000 });
  assert.ok(f.messages.some((m) => m.text === PROMPT), `the prompt is among the kept messages (left out: ${JSON.stringify(f.messages_omitted)})`);
  const padded = extractFeatures({ request: f, response: { status: 200, tool_calls: 0, input_tokens: 0, output_tokens: 0 }, model: 'm', flavour: 'openai.chat' } as never);
  const lexical = (flags: number) => flagNames(flags).filter((n) => ['cot', 'math', 'code', 'rubric', 'closedTask'].includes(n));
  assert.deepEqual(lexical(padded.flags), lexical(alone.flags), 'the same wording signals as the prompt alone');
  assert.ok(lexical(alone.flags).includes('cot'), 'which read the prompt');
  assert.equal(padded.template, alone.template, 'and the same template fingerprint: the event\'s last turn starts where the request\'s did');
});

test('the prompt-character budget keeps the start of the current turn when long messages follow it', () => {
  const filler = 'Background notes for the task above, kept for reference only. '.repeat(32);
  const messages: unknown[] = [{ role: 'user', content: PROMPT }];
  for (let i = 0; i < 20; i++) messages.push({ role: 'user', content: filler });
  const f = extractRequestFeatures('openai.chat', { model: 'm', messages }, 0, { recordPrompts: 'full', maxMessageChars: 8000, maxPromptChars: 20_000 });
  const kept = f.messages.reduce((n, m) => n + (m.text?.length ?? 0), 0);
  assert.ok(kept <= 20_000, `within the budget: ${kept}`);
  assert.equal(f.messages[0].text, PROMPT, 'the turn\'s first message is kept');
  const flags = flagsOf(f);
  assert.ok(flags.includes('cot') && flags.includes('math'), `the detector reads the start of the turn: ${flags}`);
});

test('the prompt-character budget keeps the user turn an agent loop answers before its tool output', () => {
  const messages: unknown[] = [{ role: 'user', content: PROMPT }];
  for (let i = 0; i < 34; i++) {
    messages.push({ role: 'assistant', content: null, tool_calls: [{ id: `c${i}`, type: 'function', function: { name: 'f', arguments: '{}' } }] });
    messages.push({ role: 'tool', tool_call_id: `c${i}`, content: 'x'.repeat(8000) });
  }
  const f = extractRequestFeatures('openai.chat', { model: 'm', messages }, 0, { recordPrompts: 'full', maxMessageChars: 8000 });
  const kept = f.messages.reduce((n, m) => n + (m.text?.length ?? 0), 0);
  assert.ok(kept <= 256 * 1024, `within the budget: ${kept}`);
  assert.equal(f.messages[0].text, PROMPT, 'the user turn is kept whole');
  const flags = flagsOf(f);
  assert.ok(flags.includes('cot') && flags.includes('math'), `the detector still sees the user turn's wording: ${flags}`);
});

test('past the budget, each user turn keeps its start and its end', () => {
  const long = 'Please answer. ' + 'x'.repeat(20_000) + ' Think step by step.';
  const messages = [{ role: 'user', content: long }, { role: 'assistant', content: 'y'.repeat(8000) }, { role: 'user', content: long }];
  const f = extractRequestFeatures('openai.chat', { model: 'm', messages }, 0, { recordPrompts: 'full', maxMessageChars: 100_000, maxPromptChars: 4000 });
  const kept = f.messages.reduce((n, m) => n + (m.text?.length ?? 0), 0);
  assert.ok(kept <= 4000, `within the budget: ${kept}`);
  for (const i of [0, 2]) {
    const t = f.messages[i].text ?? '';
    assert.ok(t.startsWith('Please answer.') && t.endsWith('Think step by step.'), `user turn ${i} keeps its start and end: ${JSON.stringify(t.slice(0, 20))}…${JSON.stringify(t.slice(-20))}`);
    assert.equal(f.messages[i].chars, long.length, 'and its full length');
  }
});

test('an event stays small whatever strings the client names its roles, part types, tools and choices with', () => {
  const messages: unknown[] = [];
  for (let i = 0; i < 400; i++) messages.push({ role: 'r'.repeat(19_000) + i, content: [{ type: 'text', text: 'hi' }, { type: 'p'.repeat(5000) + i }] });
  const tools = Array.from({ length: 128 }, (_, i) => ({ type: 'function', function: { name: i + 'n'.repeat(5000) } }));
  const body = { model: 'm', messages, tools, tool_choice: { type: 't'.repeat(100_000) }, reasoning_effort: 'e'.repeat(50_000), response_format: { type: 'f'.repeat(50_000) } };
  const f = extractRequestFeatures('openai.chat', body, 0, { recordPrompts: 'full', maxMessageChars: 8000 });
  const size = JSON.stringify(f).length;
  assert.ok(size < 128 * 1024, `the event's request is ${size} characters for a ${JSON.stringify(body).length}-character body`);
  assert.equal(f.messages.length + f.messages_omitted!.count, 400, 'every message is still kept or counted');
});

test('roles named like Object.prototype members in the messages left out are counted as numbers', async () => {
  const { EventRequest } = await import('../events/schema.ts');
  const messages = Array.from({ length: 300 }, (_, i) => ({ role: i === 100 ? 'constructor' : i === 101 ? 'toString' : 'user', content: 'hi' }));
  // Short turns that are not the user's: the middle is left out whatever it holds.
  for (let i = 0; i < 200; i++) messages.push({ role: 'assistant', content: 'ok' });
  const f = extractRequestFeatures('openai.chat', { model: 'm', messages }, 0, opts);
  const exported = JSON.parse(JSON.stringify(f));
  assert.ok(Object.values(exported.messages_omitted.roles).every((n) => typeof n === 'number'), `every count is a number: ${JSON.stringify(exported.messages_omitted.roles)}`);
  assert.ok(EventRequest.safeParse(exported).success, 'the exported event reads back');
});

test('the items of a request count its nested parts and each element of a mixed input array', () => {
  const parts = (n: number) => Array.from({ length: n }, () => ({ type: 'text', text: 'hi' }));
  const toolResult = { messages: [{ role: 'user', content: [{ type: 'tool_result', tool_use_id: 't', content: parts(20_000) }] }] };
  assert.ok(requestItems(toolResult) > 20_000, `a tool result's parts are counted: ${requestItems(toolResult)}`);
  const doc = { messages: [{ role: 'user', content: [{ type: 'document', source: { type: 'content', content: parts(20_000) } }] }] };
  assert.ok(requestItems(doc) > 20_000, `a document's content parts are counted: ${requestItems(doc)}`);
  const responses = { input: [{ type: 'function_call_output', call_id: 'c', output: [{ type: 'input_text', text: 'x', content: parts(20_000) }] }] };
  assert.ok(requestItems(responses) > 20_000, `parts nested in an output are counted: ${requestItems(responses)}`);
  const mixed = [0, ...Array.from({ length: 20_000 }, () => 'hi')];
  assert.ok(requestItems({ input: mixed }) > 20_000, `an embeddings input that starts with a number is not one token-id list: ${requestItems({ input: mixed })}`);
  assert.ok(requestItems({ prompt: mixed }) > 20_000, `nor a completions prompt: ${requestItems({ prompt: mixed })}`);
  assert.equal(requestItems({ input: Array.from({ length: 20_000 }, (_, i) => i) }), 1, 'a token-id list is one item');
  assert.equal(requestItems({ prompt: [[1, 2, 3], [4, 5]] }), 2, 'token-id lists are one item each');
});

test('the text read from documents stays within events.max_prompt_chars, the user turns\' first', () => {
  const o = { recordPrompts: 'full' as const, maxMessageChars: 8000 };
  const messages: unknown[] = [];
  for (let i = 0; i < 40; i++) messages.push({ role: 'user', content: [{ type: 'text', text: 'see file' }, { type: 'file', file: { file_data: 'data:application/pdf;base64,JVBERi0xLjQK' } }] });
  for (let i = 0; i < 40; i++) messages.push({ role: 'assistant', content: 'y'.repeat(8000) });
  const pending: PendingDocument[] = [];
  const f = extractRequestFeatures('openai.chat', { model: 'm', messages }, 0, o, pending);
  assert.equal(pending.length, 40, 'the PDFs are collected');
  addDocumentText(pending, pending.map(() => ({ result: 'read', text: 'Think step by step. ' + 'z'.repeat(7000) })), 8000, f);
  const kept = f.messages.reduce((n, m) => n + (m.text?.length ?? 0), 0);
  assert.ok(kept <= 256 * 1024, `the event keeps ${kept} characters of prompt, over the 262,144 budget`);
  assert.ok(f.messages.filter((m) => m.role === 'user').every((m) => m.text?.includes('Think step by step.')), 'each user turn keeps the start of its document');
});

test('a user turn longer than events.max_message_chars keeps its start and its end, and the detector reads its end', () => {
  const long = 'Please answer. ' + 'x'.repeat(20_000) + ' Think step by step and show your chain of thought: what is 17*23?';
  const f = extractRequestFeatures('openai.chat', { model: 'm', messages: [{ role: 'user', content: long }] }, 0, { recordPrompts: 'full', maxMessageChars: 8000 });
  const t = f.messages[0].text ?? '';
  assert.ok(t.length <= 8000, `within max_message_chars: ${t.length}`);
  assert.ok(t.startsWith('Please answer.') && t.endsWith('what is 17*23?'), 'its start and its end are kept');
  const flags = flagsOf(f);
  assert.ok(flags.includes('cot'), `the detector reads the instruction padded to its end: ${flags}`);
});

test('a continued Responses request names the stored response it continues; other APIs have no such field', () => {
  const cont = extractRequestFeatures('openai.responses', { model: 'm', previous_response_id: 'resp_abc123', input: 'And the next one?' }, 0, opts);
  assert.equal(cont.previous_response_id, 'resp_abc123');
  assert.equal(extractRequestFeatures('openai.responses', { model: 'm', input: 'First.' }, 0, opts).previous_response_id, undefined, 'a first request continues nothing');
  const chat = extractRequestFeatures('openai.chat', { model: 'm', previous_response_id: 'resp_abc123', messages: [{ role: 'user', content: 'x' }] }, 0, opts);
  assert.equal(chat.previous_response_id, undefined, 'Chat Completions has no stored responses to continue');
  const long = extractRequestFeatures('openai.responses', { model: 'm', previous_response_id: 'r'.repeat(300), input: 'x' }, 0, opts);
  assert.equal(long.previous_response_id, undefined, 'an id no upstream makes is not kept (the event stays bounded)');
});

test('Responses item references are kept on the event for the detector to resolve, bounded', () => {
  const r = extractRequestFeatures('openai.responses', { model: 'm', input: [
    { type: 'item_reference', id: 'msg_abc' }, { type: 'item_reference', id: 'rs_def' }, { role: 'user', content: 'go on' },
  ] }, 0, opts);
  assert.deepEqual(r.item_references, ['msg_abc', 'rs_def'], 'the ids the model reads by reference');
  assert.equal(r.item_references_omitted, undefined);
  assert.equal(r.messages.length, 1);
  const many = extractRequestFeatures('openai.responses', { model: 'm', input: [
    ...Array.from({ length: 70 }, (_, i) => ({ type: 'item_reference', id: `msg_${i}` })), { type: 'item_reference', id: 'x'.repeat(300) }, { type: 'item_reference' },
  ] }, 0, opts);
  assert.equal(many.item_references?.length, 64, 'at most 64 kept');
  assert.equal(many.item_references_omitted, 8, 'the rest, an id too long and one with no id counted (never resolved)');
  const none = extractRequestFeatures('openai.responses', { model: 'm', input: 'hi' }, 0, opts);
  assert.ok(!('item_references' in none), 'absent when none are named');
});
