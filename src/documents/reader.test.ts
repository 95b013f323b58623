import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { DocumentReader, type DocumentReading } from './index.ts';
import { makePdf, slowPdf } from '../../test/helpers/pdf.ts';

const b64 = (b: Buffer) => b.toString('base64');
const SUBSET_FONT_PDF = readFileSync(new URL('../../test/fixtures/documents/subset-font.pdf', import.meta.url));

test('reads the text of PDFs as producers write them, pages in order', async () => {
  const reader = new DocumentReader();
  try {
    const pdf = await makePdf(['Think step by step before you answer.', 'Then grade the answer against this rubric: 1-10.']);
    const r = await reader.read(b64(pdf), 'acct_a');
    assert.equal(r.result, 'read', r.error);
    assert.equal(r.pages, 2);
    assert.equal(r.pagesRead, 2);
    const first = r.text.indexOf('Think step by step');
    assert.ok(first >= 0, `first page's text in ${JSON.stringify(r.text)}`);
    assert.ok(r.text.indexOf('grade the answer against this rubric') > first, 'the second page follows the first');

    // An embedded subset font: glyph ids mean nothing without the font's ToUnicode map.
    const sub = await reader.read(b64(SUBSET_FONT_PDF), 'acct_a');
    assert.equal(sub.result, 'read', sub.error);
    assert.match(sub.text, /Think step by step and show all of your reasoning/);
    assert.match(sub.text, /Déjà vu, naïve café/);

    // Uncompressed content streams too.
    const plain = await reader.read(b64(await makePdf(['Plain content stream.'], { compress: false })), 'acct_b');
    assert.match(plain.text, /Plain content stream\./);
    assert.equal(reader.threadsStarted, 1, 'one thread reads them all');
  } finally {
    await reader.close();
  }
});

test('only the first pages and characters are read', async () => {
  const reader = new DocumentReader({ maxPages: 3, maxChars: 100 });
  try {
    const pages = Array.from({ length: 8 }, (_, i) => `Page ${i + 1} of the handbook.`);
    const r = await reader.read(b64(await makePdf(pages)), 'acct_a');
    assert.equal(r.result, 'read', r.error);
    assert.equal(r.pages, 8);
    assert.equal(r.pagesRead, 3);
    assert.match(r.text, /Page 3 of the handbook/);
    assert.doesNotMatch(r.text, /Page 4/);

    const long = await reader.read(b64(await makePdf(['word '.repeat(400)])), 'acct_a');
    assert.equal(long.text.length, 100, 'cut at maxChars');
  } finally {
    await reader.close();
  }
});

test('what is not a PDF, or not a readable one, is reported as such and the reader carries on', async () => {
  const seen: DocumentReading[] = [];
  const reader = new DocumentReader({ maxBytes: 4096, onResult: (r) => seen.push(r) });
  try {
    assert.equal((await reader.read(b64(Buffer.from('just some text, not a PDF')), 'a')).result, 'not_pdf');
    const broken = await reader.read(b64(Buffer.from('%PDF-1.7\n1 0 obj << /Type /Catalog >> garbage')), 'a');
    assert.equal(broken.result, 'failed');
    assert.ok(broken.error, 'the parser says why');
    assert.equal((await reader.read('A'.repeat(8000), 'a')).result, 'too_large', 'over maxBytes: not even sent to the thread');
    const ok = await reader.read(b64(await makePdf(['Still reading.'])), 'a');
    assert.match(ok.text, /Still reading\./);
    assert.deepEqual(seen.map((r) => r.result), ['not_pdf', 'failed', 'too_large', 'read'], 'every outcome reported once');
  } finally {
    await reader.close();
  }
});

test('a document that takes too long is abandoned, its thread replaced', async () => {
  const reader = new DocumentReader({ timeoutMs: 1 });
  try {
    // Loading pdf.js alone takes far longer than a millisecond.
    const pdf = b64(await makePdf(['Slow.']));
    const r = await reader.read(pdf, 'a');
    assert.equal(r.result, 'timeout');
    assert.equal(reader.threadsStarted, 1);
    assert.equal((await reader.read(pdf, 'a')).result, 'timeout');
    assert.equal(reader.threadsStarted, 2, 'the stuck thread was terminated and the next document got a new one');
  } finally {
    await reader.close();
  }
});

test('a decompression bomb costs its thread, not the process', async () => {
  const reader = new DocumentReader({ memoryMb: 64, timeoutMs: 2_000 });
  try {
    // 32 MB of text operators, 160 KB compressed: pdf.js would take 5-20 s (measured) and then
    // run out of heap; the time limit ends it first.
    const pdf = slowPdf(32);
    const r = await reader.read(b64(pdf), 'a');
    assert.ok(r.result === 'failed' || r.result === 'timeout', `bomb: ${r.result} ${r.error ?? ''}`);
    const ok = await reader.read(b64(await makePdf(['After the bomb.'])), 'a');
    assert.equal(ok.result, 'read', ok.error);
    assert.match(ok.text, /After the bomb\./);
  } finally {
    await reader.close();
  }
});

test('a flood is bounded: in all, per account, and in waiting time', async () => {
  const reader = new DocumentReader({ maxQueue: 3, maxPendingPerOwner: 2 });
  try {
    const pdf = b64(await makePdf(['Queued.']));
    const flood = await Promise.all([1, 2, 3, 4].map(() => reader.read(pdf, 'flooder')));
    assert.deepEqual(flood.map((r) => r.result).sort(), ['busy', 'busy', 'read', 'read'], 'two of one account at a time');
    // Another account's document is still taken while the flooder's wait.
    const mixed = await Promise.all([reader.read(pdf, 'flooder'), reader.read(pdf, 'flooder'), reader.read(pdf, 'customer')]);
    assert.deepEqual(mixed.map((r) => r.result), ['read', 'read', 'read']);
    assert.ok(mixed[0].cached, 'the same document again is answered from the cache');
  } finally {
    await reader.close();
  }
  const small = new DocumentReader({ maxQueueBytes: 20_000 });
  try {
    const pdf = b64(await makePdf(['Some ten kilobytes.', 'x'.repeat(3000)], { compress: false }));
    assert.ok(pdf.length > 10_000 && pdf.length < 20_000, `${pdf.length}`);
    const [a, b] = await Promise.all([small.read(pdf, 'a'), small.read(pdf, 'b')]);
    assert.deepEqual([a.result, b.result], ['read', 'busy'], 'the second would take the waiting bytes over maxQueueBytes');
  } finally {
    await small.close();
  }
  const slow = new DocumentReader({ maxWaitMs: 100 });
  try {
    const pdf = b64(await makePdf(['Waits.']));
    const [first, second] = await Promise.all([slow.read(pdf, 'a'), slow.read(pdf, 'b')]);
    assert.equal(first.result, 'read', first.error);
    assert.equal(second.result, 'busy', 'waited longer than maxWaitMs behind the first');
  } finally {
    await slow.close();
  }
});

test('close answers what waits and stops the threads', async () => {
  const reader = new DocumentReader();
  const pdf = b64(await makePdf(['Closing.']));
  const pending = [reader.read(pdf, 'a'), reader.read(pdf, 'b')];
  await reader.close();
  const results = await Promise.all(pending);
  assert.deepEqual(results.map((r) => r.result), ['busy', 'busy']);
  assert.equal((await reader.read(pdf, 'c')).result, 'busy', 'a closed reader reads nothing');
});
