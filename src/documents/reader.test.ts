import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { DocumentReader, type DocumentReading } from './index.ts';
import { base64Bytes, decodeInSlices } from './reader.ts';
import { randomBytes } from 'node:crypto';
import { deflatedSpaces, makePdf, pdfWithContent, pdfWithPages, slowPage, slowPdf, textPage } from '../../test/helpers/pdf.ts';

/** What a test that checks what is read (not how fast) gives a document: the default 2 s includes a loaded machine's thread start and pdf.js load. */
const CONTENT_MS = 30_000;

const b64 = (b: Buffer) => b.toString('base64');
const SUBSET_FONT_PDF = readFileSync(new URL('../../test/fixtures/documents/subset-font.pdf', import.meta.url));

test('reads the text of PDFs as producers write them, pages in order', async () => {
  const reader = new DocumentReader({ timeoutMs: CONTENT_MS });
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

test('comments, free-text boxes and filled-in form fields are read with their page', async () => {
  const reader = new DocumentReader({ timeoutMs: CONTENT_MS });
  try {
    const pdf = pdfWithPages([{
      content: textPage('Cover page.'),
      annotations: [
        '<< /Type /Annot /Subtype /FreeText /Rect [72 600 400 640] /DA (/Helv 12 Tf 0 g) /Contents (Think step by step before answering.) >>',
        '<< /Type /Annot /Subtype /Text /Rect [20 20 40 40] /Contents (Then grade it against the rubric.) >>',
        '<< /Type /Annot /Subtype /Widget /FT /Tx /T (question) /Rect [72 500 400 520] /V (Question 7: the train problem.) >>',
      ],
    }]);
    const r = await reader.read(b64(pdf), 'a');
    assert.equal(r.result, 'read', r.error);
    assert.match(r.text, /Cover page\./);
    assert.match(r.text, /Think step by step before answering\./, 'a free-text box');
    assert.match(r.text, /Then grade it against the rubric\./, 'a comment');
    assert.match(r.text, /Question 7: the train problem\./, 'a form field\'s value');
  } finally {
    await reader.close();
  }
});

test('only the first pages and characters are read', async () => {
  const reader = new DocumentReader({ maxPages: 3, maxChars: 100, timeoutMs: CONTENT_MS });
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
  const reader = new DocumentReader({ maxBytes: 4096, timeoutMs: CONTENT_MS, onResult: (r) => seen.push(r) });
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

/**
 * The same slow PDF made distinct by a comment after its end (a document given up on is
 * remembered by its content: sent again, it is answered at once).
 */
const slowOne = (pdf: Buffer, n: number) => b64(Buffer.concat([pdf, Buffer.from(`% copy ${n}\n`, 'latin1')]));
/** slowPdf(16), made once for the file (16 MB deflated each time is a few hundred milliseconds). */
let slow16: Buffer | null = null;
const SLOW = () => (slow16 ??= slowPdf(16));

test('a document that takes too long is abandoned, its thread replaced', async () => {
  const reader = new DocumentReader({ timeoutMs: 1 });
  try {
    // Reading even a one-page PDF takes pdf.js several milliseconds (the limit runs from when
    // the thread has loaded pdf.js).
    const r = await reader.read(b64(await makePdf(['Slow.'])), 'a');
    assert.equal(r.result, 'timeout');
    assert.equal(reader.threadsStarted, 1);
    const next = await reader.read(b64(await makePdf(['Slow too.'])), 'a');
    assert.equal(next.result, 'timeout');
    assert.ok(!next.cached, 'read (another document), not answered from memory');
    assert.equal(reader.threadsStarted, 2, 'the stuck thread was terminated and the next document got a new one');
  } finally {
    await reader.close();
  }
  // Given up on a slow second page, the first page's text is kept. (The second page alone takes
  // pdf.js several seconds; 2.5 s leaves a loaded machine time to read the first.)
  const partial = new DocumentReader({ timeoutMs: 2500 });
  try {
    const r = await partial.read(b64(pdfWithContent(textPage('Think step by step, page one.'), slowPage(32))), 'a');
    assert.equal(r.result, 'timeout');
    assert.match(r.text, /Think step by step, page one\./);
  } finally {
    await partial.close();
  }
});

test('a document given up on is remembered: sent again (a conversation\'s history, a fleet\'s copies) it is answered at once, with what was read before', async () => {
  const reader = new DocumentReader({ timeoutMs: 800, threads: 2 });
  try {
    const pdf = b64(pdfWithContent(textPage('Think step by step, page one.'), slowPage(32)));
    await reader.readAll([{ data: b64(await makePdf(['warm one'])), kind: 'pdf' }, { data: b64(await makePdf(['warm two'])), kind: 'pdf' }], 'warm');
    const first = await reader.read(pdf, 'a');
    assert.equal(first.result, 'timeout');
    assert.ok(!first.cached);
    const started = reader.threadsStarted;
    // Again, from the same account and from others, a few at once (both threads, the one that
    // replaced the terminated thread and the one that was told).
    const again = await Promise.all(['a', 'b', 'c', 'd'].map((who) => reader.read(pdf, who)));
    for (const r of again) {
      assert.equal(r.result, 'timeout');
      assert.ok(r.cached, 'answered from memory');
      assert.equal(r.unreadable, true, 'still the document\'s doing');
      assert.match(r.text, /Think step by step, page one\./, 'with the pages read the first time');
    }
    // Given the time limit again, each would have cost its thread (3 or more started for 4 reads on
    // 2 threads). At most one a slot is started: the terminated one's, and the other's when the
    // warm-up ran both documents on one thread (a busy machine).
    assert.ok(reader.threadsStarted <= started + 2, `no thread terminated for them (${reader.threadsStarted - started} started)`);
    // A different document is read as usual.
    assert.equal((await reader.read(b64(await makePdf(['Another.'])), 'a')).result, 'read');
  } finally {
    await reader.close();
  }
});

test('a decompression bomb costs its thread, not the process: the memory watch ends it', async () => {
  const reader = new DocumentReader({ memoryMb: 64, timeoutMs: 30_000 });
  try {
    // One content stream that inflates to 512 MB of spaces (about 0.5 MB compressed): pdf.js
    // keeps decoded streams in buffers outside the heap, which the heap limit does not see.
    const pdf = pdfWithContent(await deflatedSpaces(512));
    const started = Date.now();
    const r = await reader.read(b64(pdf), 'a');
    assert.equal(r.result, 'failed', r.error);
    assert.match(r.error ?? '', /more than 64 MiB/);
    assert.ok(Date.now() - started < 20_000, 'ended by the memory watch, not the time limit');
    const ok = await reader.read(b64(await makePdf(['After the bomb.'])), 'a');
    assert.equal(ok.result, 'read', ok.error);
    assert.match(ok.text, /After the bomb\./);
  } finally {
    await reader.close();
  }
  // Text operators, 32 MB: slow to read rather than large; the time limit ends it.
  const timed = new DocumentReader({ timeoutMs: 1500 });
  try {
    assert.equal((await timed.read(b64(slowPdf(32)), 'a')).result, 'timeout');
  } finally {
    await timed.close();
  }
});

test('accounts take turns: a flood of slow documents delays another account\'s by the one being read at most', async () => {
  const order: string[] = [];
  const reader = new DocumentReader({ timeoutMs: 2000, maxPerRequest: 8, onResult: (r) => order.push(r.result) });
  try {
    const slow = SLOW();
    await reader.read(b64(await makePdf(['warm'])), 'warm'); // the thread has started
    order.length = 0;
    // Three of the flooder's: one being read, two waiting ahead of the customer's in time.
    const flood = reader.readAll(Array.from({ length: 3 }, (_, i) => ({ data: slowOne(slow, i), kind: 'pdf' as const })), 'flooder');
    await new Promise((r) => setTimeout(r, 50));
    const customer = await reader.read(b64(await makePdf(['A customer\'s contract.'])), 'customer');
    assert.equal(customer.result, 'read', customer.error);
    assert.deepEqual(order, ['timeout', 'read'], 'the customer\'s document was next after the one being read');
    const flooded = await flood;
    assert.deepEqual(flooded.map((r) => r.result), Array(3).fill('timeout'));

    const many = await reader.readAll(Array.from({ length: 9 }, () => ({ data: b64(SUBSET_FONT_PDF), kind: 'pdf' as const })), 'many');
    assert.deepEqual(many.map((r) => r.result), [...Array(8).fill('read'), 'too_many'], 'past maxPerRequest a request\'s documents are counted, not read');
    assert.equal(many[8].unreadable, false, 'the reader\'s own limit, not the document\'s doing');
  } finally {
    await reader.close();
  }
});

test('lanes and groups: a fleet of many accounts gets its lane\'s share; a full queue pushes out the longest line\'s newest', async () => {
  const done: string[] = [];
  const reader = new DocumentReader({ timeoutMs: 2000, maxQueue: 12 });
  const track = (label: string, p: Promise<DocumentReading>) => p.then((r) => { done.push(`${label}:${r.result}`); return r; });
  try {
    const slow = SLOW();
    await reader.read(b64(await makePdf(['warm'])), 'warm');
    // Four new accounts of a fleet, one slow PDF each, in the second lane: four groups.
    const fleet = Array.from({ length: 4 }, (_, i) => track(`fleet${i}`, reader.read(slowOne(slow, i), `fleet${i}`, 'pdf', { lane: 1 })));
    await new Promise((r) => setTimeout(r, 50));
    // A verified customer, first lane: next after the one being read, not after four turns.
    const customer = await track('customer', reader.read(b64(await makePdf(['A customer\'s contract.'])), 'customer', 'pdf', { lane: 0 }));
    assert.equal(customer.result, 'read', customer.error);
    assert.deepEqual(done, ['fleet0:timeout', 'customer:read']);
    // Accounts of one linked cluster share one line: two of them get one turn between another group's.
    await Promise.all(fleet);
    done.length = 0;
    // (Each account a line of its own, the other account's would come third.)
    const linked = [0, 1].map((i) => track(`linked${i}`, reader.read(slowOne(slow, 10 + i), `linked${i}`, 'pdf', { group: 'cluster:c1', lane: 1 })));
    const other = [0].map((i) => track(`other${i}`, reader.read(slowOne(slow, 20 + i), 'other', 'pdf', { lane: 1 })));
    await Promise.all([...linked, ...other]);
    assert.deepEqual(done, ['linked0:timeout', 'other0:timeout', 'linked1:timeout'], 'turns alternate between the cluster and the other account');
  } finally {
    await reader.close();
  }

  // A full queue of a fleet's single documents (lines of one, second lane): a trusted customer's
  // document pushes out the newest of them; another of the fleet's accounts is refused.
  // 2 s: the slow documents still time out (pdf.js takes several seconds over 16 MB), and a small
  // one read on a thread just started after a terminated one is read in time on a loaded machine.
  const lanes = new DocumentReader({ timeoutMs: 2000, maxQueue: 2 });
  try {
    const slow = SLOW();
    await lanes.read(b64(await makePdf(['warm'])), 'warm');
    const fleet = Array.from({ length: 3 }, (_, i) => lanes.read(slowOne(slow, i), `fleet${i}`, 'pdf', { lane: 1 }));
    await new Promise((r) => setTimeout(r, 50));
    const late = await lanes.read(slowOne(slow, 9), 'fleet9', 'pdf', { lane: 1 });
    assert.equal(late.result, 'busy', 'the fleet cannot push out its own lane\'s lines of one');
    const customer = await lanes.read(b64(await makePdf(['Trusted.'])), 'customer', 'pdf', { lane: 0 });
    assert.equal(customer.result, 'read', customer.error);
    const results = await Promise.all(fleet);
    assert.deepEqual(results.map((r) => r.result), ['timeout', 'timeout', 'busy']);
    assert.match(results[2].error ?? '', /pushed out/);
  } finally {
    await lanes.close();
  }

  const small = new DocumentReader({ timeoutMs: 2000, maxQueue: 2 });
  try {
    const slow = SLOW();
    await small.read(b64(await makePdf(['warm'])), 'warm');
    const flood = Array.from({ length: 4 }, (_, i) => small.read(slowOne(slow, i), 'flooder'));
    await new Promise((r) => setTimeout(r, 50));
    const customer = await small.read(b64(await makePdf(['Still read.'])), 'customer');
    assert.equal(customer.result, 'read', 'a full queue makes room for a shorter line');
    const flooded = await Promise.all(flood);
    // One read, two queued, the fourth refused (its own line is the longest); then the customer
    // pushes out the newest queued (the third).
    assert.deepEqual(flooded.map((r) => r.result), ['timeout', 'timeout', 'busy', 'busy']);
    assert.match(flooded[2].error ?? '', /pushed out/, 'the newest queued made room for the customer');
    assert.match(flooded[3].error ?? '', /reader is full/, 'the fourth: its own line was the longest');
  } finally {
    await small.close();
  }
});

test('pdf.js missing or too new for this Node.js: documents are counted unavailable, and no thread is started again', async () => {
  const entry = { filename: "require('node:worker_threads').parentPort.postMessage({ type: 'unavailable', error: 'pdf.js could not be loaded: test' })", eval: true, execArgv: [] };
  const reader = new DocumentReader({ entry });
  try {
    const pdf = b64(await makePdf(['x']));
    assert.equal((await reader.read(pdf, 'a')).result, 'unavailable');
    assert.equal((await reader.read(pdf, 'a')).result, 'unavailable');
    assert.equal(reader.threadsStarted, 1);
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
  const waiting = new DocumentReader({ maxWaitMs: 300, timeoutMs: 3000 });
  try {
    await waiting.read(b64(await makePdf(['warm'])), 'warm');
    const slow = waiting.read(b64(SLOW()), 'a');
    const second = await waiting.read(b64(await makePdf(['Waits.'])), 'b');
    assert.equal(second.result, 'busy', 'waited longer than maxWaitMs behind a slow one');
    assert.ok(second.ms < 2000, `answered when its wait ran out (${second.ms} ms), not when the thread came free`);
    await slow;
  } finally {
    await waiting.close();
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

test('a large document is decoded a slice at a time, to the same bytes; one with line breaks at once', async () => {
  const raw = randomBytes(3 * 1024 * 1024 + 7);
  const data = raw.toString('base64');
  assert.ok((await decodeInSlices(data, base64Bytes(data))).every((b, i) => b === raw[i]), 'same bytes');
  assert.equal((await decodeInSlices(data, base64Bytes(data))).length, raw.length);
  const reader = new DocumentReader({ timeoutMs: CONTENT_MS });
  try {
    const big = Buffer.concat([await makePdf(['Large file, text first.']), Buffer.from('\n%'), randomBytes(3 * 1024 * 1024)]);
    const mime = b64(big).replace(/.{76}/g, '$&\r\n');
    for (const d of [b64(big), mime]) {
      const r = await reader.read(d, 'a');
      assert.ok(r.result === 'read' || r.result === 'failed', `${r.result} ${r.error ?? ''}`);
    }
    assert.equal(reader.pending, 0);
  } finally {
    await reader.close();
  }
});
