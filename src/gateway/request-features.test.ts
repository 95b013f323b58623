// What the event says a request asked: text documents are read as text (their start), PDFs and
// images are counted as parts, and a malformed escape in a data URL is kept as it is rather than
// hiding the document or failing the request.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { extractRequestFeatures, namesDocuments } from './request-features.ts';

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
