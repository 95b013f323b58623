/**
 * What reading the PDFs that requests carry costs, and what it does not.
 *
 * 1. The request path: what the gateway's thread does for a PDF (find it while describing the
 *    request, decode its base64 and transfer the bytes to the reader thread), for a small and two
 *    large PDFs, against JSON.parse of the same body, which the gateway pays for every request anyway.
 * 2. The reader: time per PDF on one thread, by size (1, 10, 50 pages as pdfkit writes them;
 *    every PDF distinct, so the cache answers none), against reading the same PDF's text again
 *    from the cache.
 * 3. Through Warden (HTTP, SQLite, the built-in mock unpaced, limits off): Anthropic requests
 *    each carrying a distinct 10-page PDF, sent `concurrency` at a time, against the same
 *    requests to a Warden that does not read PDFs (`documents.read_pdfs: false`); rounds
 *    alternate. Reported: latency p50/p99 (the answer does not wait for the reading) and the
 *    process's CPU per request (every thread, client included, alike in both).
 * 4. Recognising images (OCR), one thread: ms per image for a screenshot of a two-line prompt, a
 *    page of dense text, and a one-page scanned PDF, each image distinct (rendered by Chromium),
 *    against reading a 10-page PDF's text on the same thread.
 * 5. Through Warden: as 3, each request carrying a distinct screenshot of a prompt (PNG), against
 *    a Warden that does not read images (`documents.read_images: false`).
 * 6. Pictures on pages with text (`documents.ocr_pictures`), one thread: ms per PDF with it on,
 *    against the same PDF read with it off (alternating), for a 10-page PDF of text only (what
 *    finding no image object costs), a 10-page report with a distinct picture under each page's
 *    text (two of them recognised), and a 10-page searchable scan (page images under text: looked
 *    at until the looking bound, none recognised).
 *
 *   node --import tsx bench/documents.ts [--requests 200] [--rounds 3] [--only 1,2,3,4,5,6]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { parseConfig } from '../src/config/index.ts';
import { startWarden, type RunningWarden } from '../src/cli/serve.ts';
import { DEFAULT_OCR, DocumentReader } from '../src/documents/index.ts';
import { extractRequestFeatures, type PendingDocument } from '../src/gateway/request-features.ts';
import { imagePdf, makePdf } from '../test/helpers/pdf.ts';
import { chromium } from 'playwright-core';
import { CHROMIUM_ARGS, findChromium, requireChromium } from '../src/ui/browser-support.ts';
import { machine, median, percentile } from './lib.ts';

const { values } = parseArgs({ options: { requests: { type: 'string', default: '200' }, rounds: { type: 'string', default: '3' }, only: { type: 'string', default: '1,2,3,4,5,6' } } });
const ONLY = new Set(values.only!.split(','));
const N = Number(values.requests);
const ROUNDS = Number(values.rounds);
const CONCURRENCY = 4;
console.log(`# ${machine()}; ${new Date().toISOString()}; ${N} requests a round, ${CONCURRENCY} at a time, ${ROUNDS} rounds`);

const SENTENCE = 'The committee reviewed the quarterly figures and asked for a step-by-step account of each estimate, with sources. ';
const pages = (n: number, seed: number) => Array.from({ length: n }, (_, i) => `Document ${seed}, page ${i + 1}. ${SENTENCE.repeat(25)}`);

// 1. The request path.
if (ONLY.has('1')) {
  const opts = { recordPrompts: 'full' as const, maxMessageChars: 8000 };
  const reader = new DocumentReader({ maxQueue: 1_000_000, maxPendingPerOwner: 1_000_000, maxQueueBytes: Number.MAX_SAFE_INTEGER, timeoutMs: 60_000 });
  await reader.read((await makePdf(['warm up'])).toString('base64'), 'w'); // the thread is ready
  const tenPages = await makePdf(pages(10, 0));
  console.log('\n## 1. Request path: the gateway thread\'s part (median of rounds)');
  console.log('| PDF | JSON.parse of the body (baseline), us | finding the PDF and handing it to the reader, us | ratio |');
  console.log('|---|---|---|---|');
  // A large PDF: the 10-page one with incompressible bytes after it (what the reader then makes of it does not matter here).
  for (const [label, pdf, k] of [['10 pages, 10 KB', tenPages, 200], ['4 MB', Buffer.concat([tenPages, randomBytes(4 << 20)]), 5], ['24 MB', Buffer.concat([tenPages, randomBytes(24 << 20)]), 3]] as const) {
    const data = pdf.toString('base64');
    const body = JSON.stringify({ model: 'claude-sonnet-5', max_tokens: 64, messages: [{ role: 'user', content: [{ type: 'text', text: 'Summarise.' }, { type: 'document', source: { type: 'base64', media_type: 'application/pdf', data } }] }] });
    const parse: number[] = [];
    const hand: number[] = [];
    for (let round = 0; round < 7; round++) {
      let t = process.hrtime.bigint();
      let parsed: Record<string, unknown> = {};
      for (let i = 0; i < k; i++) parsed = JSON.parse(body);
      parse.push(Number(process.hrtime.bigint() - t) / k / 1000);
      let spent = 0n;
      for (let i = 0; i < k; i++) {
        t = process.hrtime.bigint();
        const found: PendingDocument[] = [];
        extractRequestFeatures('anthropic.messages', parsed, body.length, opts, found);
        const reading = reader.readAll(found.map((f) => ({ data: f.data, kind: f.kind })), 'a'); // decoded and transferred at once: the thread is idle
        spent += process.hrtime.bigint() - t;
        await reading;
      }
      hand.push(Number(spent) / k / 1000);
    }
    console.log(`| ${label} | ${median(parse).toFixed(1)} | ${median(hand).toFixed(1)} | ${(median(hand) / median(parse)).toFixed(3)} |`);
  }
  await reader.close();
}

// 2. The reader, one thread.
if (ONLY.has('2')) {
  console.log('\n## 2. Reading, one thread (median ms per PDF; 20 distinct PDFs each)');
  console.log('| pages | PDF size | read | read again (cache) | ratio |');
  console.log('|---|---|---|---|---|');
  const reader = new DocumentReader({ timeoutMs: 60_000 });
  await reader.read((await makePdf(['warm up'])).toString('base64'), 'w');
  for (const n of [1, 10, 50]) {
    const docs = await Promise.all(Array.from({ length: 20 }, async (_, i) => (await makePdf(pages(n, 1000 * n + i))).toString('base64')));
    const first: number[] = [];
    const again: number[] = [];
    for (const d of docs) {
      let t = performance.now();
      const r = await reader.read(d, 'a');
      if (r.result !== 'read') throw new Error(`${n} pages: ${r.result} ${r.error ?? ''}`);
      first.push(performance.now() - t);
      t = performance.now();
      await reader.read(d, 'a');
      again.push(performance.now() - t);
    }
    console.log(`| ${n} | ${(docs[0].length * 0.75 / 1024).toFixed(0)} KB | ${median(first).toFixed(1)} | ${median(again).toFixed(2)} | ${(median(again) / median(first)).toFixed(3)} |`);
  }
  await reader.close();
}

/** Screenshots of text (PNG), each distinct: `lines` lines of `font`px text at `width` x `height`. */
async function screenshots(n: number, width: number, height: number, text: (i: number) => string): Promise<Buffer[]> {
  const browser = await chromium.launch({ executablePath: requireChromium(findChromium()), args: CHROMIUM_ARGS });
  const page = await browser.newPage({ viewport: { width, height } });
  const out: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    await page.setContent(`<body style="margin:16px;background:#fff;color:#111;font:22px 'DejaVu Sans',sans-serif">${text(i)}</body>`);
    out.push(await page.screenshot());
  }
  await browser.close();
  return out;
}
const PROMPT = (i: number) => `Task ${i}. Think step by step and show your full reasoning.<br>Then grade the answer against the rubric.`;

/** A Warden to measure through; `documents` its documents section. */
async function benchWarden(dirs: string[], documents: object): Promise<{ w: RunningWarden; key: string }> {
  const TOKEN = 'adm_bench_documents_0123456789ab';
  const dir = mkdtempSync(join(tmpdir(), 'warden-bench-docs-'));
  dirs.push(dir);
  const config = parseConfig({
    server: { port: 0 }, store: { sqlite_path: join(dir, 'warden.db') }, log: { level: 'silent' }, admin: { token: TOKEN },
    mock: { latency_ms: 0, tokens_per_second: 0 }, limits: { enabled: false }, documents,
  });
  const w = await startWarden(config, { demo: false, log: () => {} });
  const admin = async (path: string, body: object) => (await (await fetch(`${w.url}/admin${path}`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) })).json()) as any;
  const account = await admin('/accounts', { name: 'bench', email: 'bench@example.org', tier: 'enterprise' });
  return { w, key: (await admin(`/accounts/${account.id}/keys`, { name: 'k' })).secret };
}

type BenchTarget = { w: RunningWarden; key: string };
const recorded = new Map<RunningWarden, number>();

/**
 * One round through Warden: `bodies` sent to /v1/messages `CONCURRENCY` at a time; the round ends
 * when all their events are recorded (they wait for their documents), so their CPU is counted.
 */
async function round(target: BenchTarget, bodies: string[]) {
  const headers = { 'x-api-key': target.key, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' };
  const latencies: number[] = [];
  let next = 0;
  const cpu0 = process.cpuUsage();
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < bodies.length) {
      const body = bodies[next++];
      const t = performance.now();
      const res = await fetch(`${target.w.url}/v1/messages`, { method: 'POST', headers, body });
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`status ${res.status}`);
      latencies.push(performance.now() - t);
    }
  }));
  const answered = performance.now();
  const want = (recorded.get(target.w) ?? 0) + bodies.length;
  for (;;) {
    await target.w.gateway.recorder.flush();
    let n = 0;
    for await (const _ of target.w.stores.events.iterate()) n++;
    if (n >= want) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  recorded.set(target.w, want);
  const cpu = process.cpuUsage(cpu0);
  latencies.sort((x, y) => x - y);
  return { p50: percentile(latencies, 50), p99: percentile(latencies, 99), cpuMs: (cpu.user + cpu.system) / 1000 / bodies.length, backlogS: (performance.now() - answered) / 1000 };
}

/**
 * Warm both Wardens up, then `ROUNDS` rounds alternating the one that does not read `what` (the
 * baseline) and the one that does; print each round and the median ratios; close both.
 */
async function compareRounds(title: string, what: string, run: (t: BenchTarget) => ReturnType<typeof round>, notReading: BenchTarget, reading: BenchTarget, dirs: string[], backlog: boolean) {
  await run(notReading);
  await run(reading);
  console.log(`\n## ${title}`);
  console.log(`| round | ${what} not read: p50 / p99 ms, CPU ms per request | ${what} read: p50 / p99 ms, CPU ms per request |${backlog ? ' last event recorded after the last answer, s |' : ''} ratio p50 | ratio p99 | ratio CPU |`);
  console.log(`|---|---|---|${backlog ? '---|' : ''}---|---|---|`);
  const ratios: number[][] = [];
  for (let n = 1; n <= ROUNDS; n++) {
    const base = await run(notReading);
    const with_ = await run(reading);
    const r = [with_.p50 / base.p50, with_.p99 / base.p99, with_.cpuMs / base.cpuMs];
    ratios.push(r);
    console.log(`| ${n} | ${base.p50.toFixed(1)} / ${base.p99.toFixed(1)}, ${base.cpuMs.toFixed(2)} | ${with_.p50.toFixed(1)} / ${with_.p99.toFixed(1)}, ${with_.cpuMs.toFixed(2)} |${backlog ? ` ${with_.backlogS.toFixed(1)} |` : ''} ${r[0].toFixed(2)} | ${r[1].toFixed(2)} | ${r[2].toFixed(2)} |`);
  }
  console.log(`median ratios: p50 ${median(ratios.map((r) => r[0])).toFixed(2)}, p99 ${median(ratios.map((r) => r[1])).toFixed(2)}, CPU ${median(ratios.map((r) => r[2])).toFixed(2)}`);
  await reading.w.close();
  await notReading.w.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}

// 3. Through Warden.
if (ONLY.has('3')) {
  const dirs: string[] = [];
  const start = (read: boolean) => benchWarden(dirs, { read_pdfs: read });
  const reading = await start(true);
  const notReading = await start(false);
  let seed = 0;
  const run = async (target: BenchTarget) => round(target, await Promise.all(Array.from({ length: N }, async () => JSON.stringify({
    model: 'claude-sonnet-5', max_tokens: 64,
    messages: [{ role: 'user', content: [{ type: 'text', text: 'Summarise the attached report.' }, { type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: (await makePdf(pages(10, seed++))).toString('base64') } }] }],
  }))));
  await compareRounds(`3. Through Warden: ${N} Anthropic requests a round, each with a distinct 10-page PDF`, 'PDFs', run, notReading, reading, dirs, false);
}

// 4. Recognising images, one thread.
if (ONLY.has('4')) {
  const reader = new DocumentReader({ timeoutMs: 60_000, ocr: { ...DEFAULT_OCR, timeoutMs: 60_000 } });
  const small = await screenshots(21, 760, 120, PROMPT);
  const dense = await screenshots(6, 1240, 1754, (i) => `<p>Page ${i}.</p>` + `<p>${PROMPT(i)} ${SENTENCE.repeat(4)}</p>`.repeat(12));
  const scans = await Promise.all(dense.slice(0, 5).map((png) => imagePdf([png])));
  await reader.read(small.pop()!.toString('base64'), 'w', 'image'); // Tesseract is loaded
  const pdfs = await Promise.all(Array.from({ length: 10 }, async (_, i) => (await makePdf(pages(10, 90_000 + i))).toString('base64')));
  const time = async (data: string, kind: 'pdf' | 'image') => {
    const t = performance.now();
    const r = await reader.read(data, 'a', kind);
    if (r.result !== 'read') throw new Error(`${kind}: ${r.result} ${r.error ?? ''}`);
    return { ms: performance.now() - t, chars: r.text.length };
  };
  const base: number[] = [];
  for (const d of pdfs) base.push((await time(d, 'pdf')).ms);
  console.log('\n## 4. Recognising images, one thread (median ms per image, each distinct)');
  console.log(`baseline: a 10-page PDF's text, ${median(base).toFixed(1)} ms`);
  console.log('| image | pixels | characters | ms | ratio to the 10-page PDF |');
  console.log('|---|---|---|---|---|');
  for (const [label, items, kind, px] of [
    ['screenshot of a two-line prompt (PNG)', small.map((b) => b.toString('base64')), 'image', '760 x 120'],
    ['page of dense text (PNG)', dense.slice(0, 5).map((b) => b.toString('base64')), 'image', '1240 x 1754'],
    ['one-page scanned PDF (the same pages)', scans.map((b) => b.toString('base64')), 'pdf', '1240 x 1754'],
  ] as const) {
    const ms: number[] = [];
    let chars = 0;
    for (const d of items) { const r = await time(d, kind); ms.push(r.ms); chars = r.chars; }
    console.log(`| ${label} | ${px} | ${chars} | ${median(ms).toFixed(0)} | ${(median(ms) / median(base)).toFixed(1)} |`);
  }
  await reader.close();
}

// 5. Through Warden, images.
if (ONLY.has('5')) {
  const dirs: string[] = [];
  const reading = await benchWarden(dirs, { read_images: true, max_queue: 100_000, max_pending_per_account: 100_000, max_wait_ms: 120_000 });
  const notReading = await benchWarden(dirs, { read_images: false });
  // Distinct for the Warden that reads them (so its cache answers none); the other sends the first ones again.
  const images = (await screenshots(N * (ROUNDS + 1), 760, 120, PROMPT)).map((b) => b.toString('base64'));
  let readingNext = 0;
  const run = async (target: BenchTarget) => {
    let next = target === notReading ? 0 : readingNext;
    const bodies = Array.from({ length: N }, () => JSON.stringify({
      model: 'claude-sonnet-5', max_tokens: 64,
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Do what the image says.' }, { type: 'image', source: { type: 'base64', media_type: 'image/png', data: images[next++] } }] }],
    }));
    if (target === reading) readingNext = next;
    return round(target, bodies);
  };
  await compareRounds(`5. Through Warden: ${N} Anthropic requests a round, each with a distinct screenshot of a prompt`, 'images', run, notReading, reading, dirs, true);
}

// 6. Pictures on pages with text.
if (ONLY.has('6')) {
  const on = new DocumentReader({ timeoutMs: 60_000, cacheEntries: 0, ocr: { ...DEFAULT_OCR, timeoutMs: 60_000, pictures: true } });
  const off = new DocumentReader({ timeoutMs: 60_000, cacheEntries: 0, ocr: { ...DEFAULT_OCR, timeoutMs: 60_000, pictures: false } });
  const shots = await screenshots(62, 760, 120, PROMPT);
  for (const r of [on, off]) await r.read(shots.pop()!.toString('base64'), 'w', 'image'); // Tesseract is loaded
  const textOnly = await Promise.all(Array.from({ length: 10 }, async (_, i) => (await makePdf(pages(10, 70_000 + i))).toString('base64')));
  const reports = await Promise.all(Array.from({ length: 6 }, async (_, i) => (await imagePdf(Array.from({ length: 10 }, (_, p) => ({ text: `Report ${i}, page ${p + 1}. ${SENTENCE.repeat(8)}`, image: shots[i * 10 + p] })))).toString('base64')));
  // A searchable scan: each page's text over a page-sized image (1240 x 1754), as scanners with OCR write them.
  const pagesScanned = await screenshots(10, 1240, 1754, (i) => `<p>Scanned page ${i}.</p>` + `<p>${SENTENCE.repeat(4)}</p>`.repeat(10));
  const searchable = (await imagePdf(pagesScanned.map((image, p) => ({ text: `Scanned page ${p + 1}. ${SENTENCE.repeat(8)}`, image })))).toString('base64');
  const time = async (reader: DocumentReader, data: string) => {
    const t = performance.now();
    const r = await reader.read(data, 'a');
    if (r.result !== 'read') throw new Error(`${r.result} ${r.error ?? ''}`);
    return { ms: performance.now() - t, recognised: r.imagesRecognised };
  };
  console.log('\n## 6. Pictures on pages with text, one thread (median ms per PDF, the same PDFs read with documents.ocr_pictures off and on in turn)');
  console.log('| PDF | off, ms | on, ms | ratio | images recognised (on) |');
  console.log('|---|---|---|---|---|');
  for (const [label, docs] of [['10 pages of text, no image object', textOnly], ['10-page report, a distinct picture under each page\'s text', reports], ['10-page searchable scan, a page image under each page\'s text (3 reads)', [searchable, searchable, searchable]]] as const) {
    const a: number[] = [];
    const b: number[] = [];
    let recognised = 0;
    for (const d of docs) { a.push((await time(off, d)).ms); const r = await time(on, d); b.push(r.ms); recognised = r.recognised; }
    console.log(`| ${label} | ${median(a).toFixed(1)} | ${median(b).toFixed(1)} | ${(median(b) / median(a)).toFixed(2)} | ${recognised} |`);
  }
  await Promise.all([on.close(), off.close()]);
}
