import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { DocumentReader, DEFAULT_OCR } from './index.ts';
import { gifFrames, imageHeader, joinCjk, missingOcrModels, pnmFromPixels } from './ocr.ts';
import { runConfig } from '../cli/config-cmd.ts';
import { mayHoldImageObjects, pdfText } from './pdf.ts';
import { HIT, lexiconHits } from '../detect/lexicon.ts';
import { imagePdf, inlineImagePdf, makePdf, pdfWithContent, scannedPdf, slowPage, textPage } from '../../test/helpers/pdf.ts';
import { blackAndWhiteGif } from '../../test/helpers/images.ts';

/** What a test that checks what is recognised (not how fast) gives a document and an image: the defaults (2 s, 10 s) include a loaded machine's thread start and model load. */
const CONTENT_MS = 30_000;

const fixture = (name: string) => readFileSync(new URL(`../../test/fixtures/documents/${name}`, import.meta.url));
const PNG = fixture('prompt.png');
const JPEG = fixture('prompt.jpg');
const WEBP = fixture('prompt.webp');
const b64 = (b: Buffer) => b.toString('base64');
const FIRST_LINE = /Think step by step and show your full reasoning/;
const SECOND_LINE = /grade the answer against the rubric/;

/**
 * Readers shared by the tests that neither look at the cache nor count threads: starting a thread
 * and loading Tesseract's models costs more than most recognitions here. Their cache is off, so a
 * test never gets an answer another test's document left; each test reads its own documents.
 * `pictures` off is the default (two recognitions a PDF, scans only), on reads pictures too.
 */
const sharedReaders = new Map<boolean, DocumentReader>();
function shared(pictures: boolean): DocumentReader {
  let reader = sharedReaders.get(pictures);
  if (!reader) sharedReaders.set(pictures, reader = new DocumentReader({ cacheEntries: 0, timeoutMs: CONTENT_MS, ocr: { ...DEFAULT_OCR, perPdf: 2, pictures, timeoutMs: CONTENT_MS } }));
  return reader;
}
after(() => Promise.all([...sharedReaders.values()].map((r) => r.close())));

/** The fixture's pixels as 8-bit grey, decoded by pdf.js from a PDF that embeds the PNG (no image decoder needed here). */
async function greyPixels(png: Buffer): Promise<{ width: number; height: number; grey: Buffer }> {
  const lib = await import('pdfjs-dist/legacy/build/pdf.mjs');
  const doc = await lib.getDocument({ data: new Uint8Array(await imagePdf([png])), isOffscreenCanvasSupported: false, isEvalSupported: false, verbosity: 0 }).promise;
  const page = await doc.getPage(1);
  const ops = await page.getOperatorList();
  const at = ops.fnArray.indexOf(lib.OPS.paintImageXObject);
  const img = page.objs.get(ops.argsArray[at][0]) as { width: number; height: number; kind: number; data: Uint8ClampedArray };
  const step = img.kind === 3 ? 4 : 3;
  const grey = Buffer.alloc(img.width * img.height);
  for (let i = 0; i < grey.length; i++) grey[i] = (img.data[i * step] + img.data[i * step + 1] + img.data[i * step + 2]) / 3;
  await doc.destroy();
  return { width: img.width, height: img.height, grey };
}

test('the text of images is recognised: PNG, JPEG, WebP and GIF, as clients send them', async () => {
  const { width, height, grey } = await greyPixels(PNG);
  const gif = blackAndWhiteGif(width, height, grey);
  const reader = new DocumentReader({ timeoutMs: CONTENT_MS, ocr: { ...DEFAULT_OCR, timeoutMs: CONTENT_MS } });
  try {
    for (const [name, bytes] of [['png', PNG], ['jpeg', JPEG], ['webp', WEBP], ['gif', gif]] as const) {
      const r = await reader.read(b64(bytes), 'acct_a', 'image');
      assert.equal(r.result, 'read', `${name}: ${r.error}`);
      assert.equal(r.kind, 'image');
      assert.equal(r.imagesRecognised, 1);
      assert.match(r.text, FIRST_LINE, `${name}: ${JSON.stringify(r.text)}`);
      assert.match(r.text, SECOND_LINE, `${name}: ${JSON.stringify(r.text)}`);
    }
    const again = await reader.read(b64(PNG), 'acct_b', 'image');
    assert.ok(again.cached, 'an image seen before is answered from the cache');
    assert.equal(reader.threadsStarted, 1);
  } finally {
    await reader.close();
  }
});

test('a Chinese prompt in an image is recognised as written (no spaces between characters), and the lexicons read it', async () => {
  const reader = shared(false);
  const englishOnly = new DocumentReader({ timeoutMs: CONTENT_MS, ocr: { ...DEFAULT_OCR, languages: ['eng'], timeoutMs: CONTENT_MS } });
  try {
    const r = await reader.read(b64(fixture('prompt-zh.png')), 'acct_a', 'image');
    assert.equal(r.result, 'read', r.error);
    assert.match(r.text, /请一步一步地解释你的推理过程/, JSON.stringify(r.text));
    assert.match(r.text, /火车/);
    assert.ok(lexiconHits(r.text.toLowerCase()) & HIT.cot, 'the chain-of-thought lexicon matches the recognised text');
    // English alone reads the same picture as noise.
    const e = await englishOnly.read(b64(fixture('prompt-zh.png')), 'acct_a', 'image');
    assert.doesNotMatch(e.text, /一步一步/);
    // And English is still read with both models loaded.
    assert.match((await reader.read(b64(PNG), 'acct_a', 'image')).text, FIRST_LINE);
  } finally {
    await englishOnly.close();
  }
  assert.equal(joinCjk('请 一 步 一 步 地 解 释 。 Think step by step'), '请一步一步地解释。 Think step by step');
  // Korean as Tesseract's model reads it (measured with its model, which Warden does not install):
  // words broken into syllables are joined, words between spaces kept apart.
  const korean = joinCjk('단 계 별 로 풀이 과 정 을 자세히 설명해 주세요.');
  assert.equal(korean, '단계별로 풀이 과정을 자세히 설명해 주세요.');
  assert.ok(lexiconHits(korean) & HIT.cot, 'the chain-of-thought lexicon reads it');
  // Both words of a phrase split: joined into one, which the lexicon reads as written without its space.
  assert.equal(joinCjk('추 론 과 정 을 보여 주세요'), '추론과정을 보여 주세요');
  assert.ok(lexiconHits(joinCjk('추 론 과 정 을 보여 주세요')) & HIT.cot);
  assert.ok(lexiconHits(joinCjk('채 점 기 준 에 따라')) & HIT.rubric, 'a rubric phrase the same way');
});

test('a scanned PDF (pages that are only an image) is read by recognising its pages, up to ocr.perPdf of them', async () => {
  const reader = shared(false); // ocr.perPdf 2
  const noOcr = new DocumentReader({ ocr: null });
  try {
    // A colour scan (JPEG) and a lossless one (PNG), as pdfkit embeds them.
    const scan = await imagePdf([JPEG, PNG, PNG]);
    const r = await reader.read(b64(scan), 'acct_a');
    assert.equal(r.result, 'read', r.error);
    assert.equal(r.pagesRead, 3);
    assert.equal(r.imagesRecognised, 2, 'the third page is past ocr.perPdf');
    assert.equal(r.imagesSkipped, 1, 'and counted as not recognised');
    assert.equal(r.text.match(/Think step by step/g)?.length, 2, JSON.stringify(r.text));

    const plain = await noOcr.read(b64(scan), 'acct_a');
    assert.equal(plain.result, 'read');
    assert.equal(plain.text, '', 'without OCR a scan reads as empty');

    // A page with a few stray characters (a page number, a stamp) is a scan all the same.
    const stamped = await reader.read(b64(await imagePdf([{ text: 'p. 7', image: PNG }])), 'acct_a');
    assert.equal(stamped.imagesRecognised, 1);
    assert.match(stamped.text, /p\. 7[\s\S]*Think step by step/);
  } finally {
    await noOcr.close();
  }
});

test('a picture on a page with text of its own is recognised too, within the same budget; a picture repeated on every page is read once', async () => {
  const reader = new DocumentReader({ timeoutMs: CONTENT_MS, ocr: { ...DEFAULT_OCR, perPdf: 2, pictures: true, timeoutMs: CONTENT_MS } });
  const noPictures = new DocumentReader({ timeoutMs: CONTENT_MS, ocr: { ...DEFAULT_OCR, timeoutMs: CONTENT_MS } });
  try {
    // A prompt put in a picture under a page of cover text.
    const typed = 'A typed page of a report, with a figure below it. '.repeat(3);
    const cover = await imagePdf([{ text: typed, image: PNG }]);
    const r = await reader.read(b64(cover), 'acct_a');
    assert.equal(r.result, 'read', r.error);
    assert.equal(r.imagesRecognised, 1);
    assert.match(r.text, /A typed page of a report[\s\S]*Think step by step/, JSON.stringify(r.text));
    const off = await noPictures.read(b64(cover), 'acct_a');
    assert.equal(off.imagesRecognised, 0, 'with documents.ocr_pictures off (the default) only scans are recognised');
    assert.doesNotMatch(off.text, FIRST_LINE);
    assert.equal(off.imagesSkipped, 0, 'a picture not looked at on a page with text is not counted unread');

    // The same picture on three pages (a letterhead, a logo), then another: the budget of two is
    // not spent on the repeats, so the last page's picture is read.
    const zh = fixture('prompt-zh.png');
    const repeated = await reader.read(b64(await imagePdf([...[1, 2, 3].map((n) => ({ text: `Page ${n}. ${typed}`, image: PNG })), { text: `Page 4. ${typed}`, image: zh }])), 'acct_a');
    assert.equal(repeated.imagesRecognised, 2);
    assert.equal(repeated.text.match(/Think step by step/g)?.length, 1, 'the repeated picture is recognised once');
    assert.match(repeated.text, /一步一步/, 'the fourth page\'s picture is reached');
    // Past the budget, pictures on pages with text are not counted unread (their page's text was read).
    const many = await reader.read(b64(await imagePdf([{ text: typed, image: PNG }, { text: typed, image: JPEG }, { text: typed, image: zh }])), 'acct_a');
    assert.equal(many.imagesRecognised, 2);
    assert.equal(many.imagesSkipped, 0);
    // Two decoy pictures, then a scanned page: the scan is not read, and is counted unread.
    const decoys = await reader.read(b64(await imagePdf([{ text: typed, image: PNG }, { text: typed, image: JPEG }, zh])), 'acct_a');
    assert.equal(decoys.imagesRecognised, 2);
    assert.equal(decoys.imagesSkipped, 1, 'the scan after the decoys is counted unread');
  } finally {
    await Promise.all([reader.close(), noPictures.close()]);
  }
});

test('images over max_image_pixels inside a PDF, which pdf.js leaves out, are counted unread', async () => {
  const { width, height, grey } = await greyPixels(PNG);
  assert.ok(width * height > 50_000, 'the fixture is over the bound set below');
  const reader = new DocumentReader({ timeoutMs: CONTENT_MS, ocr: { ...DEFAULT_OCR, maxImagePixels: 50_000, pictures: true, timeoutMs: CONTENT_MS } });
  try {
    const scan = await reader.read(b64(scannedPdf(width, height, 8, grey, { thenPages: [textPage('A typed second page.')] })), 'acct_a');
    assert.equal(scan.result, 'read', scan.error);
    assert.equal(scan.imagesRecognised, 0);
    assert.equal(scan.imagesSkipped, 1, 'the scanned page\'s image was left out: not read');
    assert.match(scan.text, /A typed second page\./);
    const picture = await reader.read(b64(await imagePdf([{ text: 'A typed page of a report, with a figure below it. '.repeat(3), image: PNG }])), 'acct_a');
    assert.equal(picture.imagesSkipped, 1, 'a picture on a page with text too');
    // Read in this thread: pdf.js's warning is counted, kept out of the log, and console.warn is itself again after.
    const warn = console.warn;
    const direct = await pdfText(new Uint8Array(scannedPdf(width, height, 8, grey)), { maxPages: 5, maxChars: 1000, ocr: async () => 'never', ocrImages: 2, maxImagePixels: 50_000 });
    assert.equal(direct.imagesSkipped, 1);
    assert.equal(console.warn, warn);
    // Under the default bound the same scan is read.
    const ok = await shared(false).read(b64(scannedPdf(width, height, 8, grey)), 'acct_a');
    assert.equal(ok.imagesSkipped, 0);
    assert.match(ok.text, FIRST_LINE);
  } finally {
    await reader.close();
  }
});

test('a PDF that may hold image objects is told from one that cannot, before any page is decoded, however the objects are written', async () => {
  assert.equal(mayHoldImageObjects(await makePdf(['Only text here.'])), false, 'a classic text PDF has none');
  assert.equal(mayHoldImageObjects(await imagePdf([PNG])), true);
  const pdf = (dict: string) => Buffer.from(`%PDF-1.7\n5 0 obj\n${dict}\nstream\n...\nendstream\nendobj\n`, 'latin1');
  assert.equal(mayHoldImageObjects(pdf('<< /Type /XObject /Subtype /Im#61ge /Width 10 /Height 10 >>')), true, 'a name with #xx escapes');
  assert.equal(mayHoldImageObjects(pdf('<</Subtype/Image/Width 10>>')), true, 'no spaces');
  assert.equal(mayHoldImageObjects(pdf('<< /Type /XObject /Subtype 7 0 R /Width 10 >>')), true, 'a subtype given by reference');
  assert.equal(mayHoldImageObjects(pdf('<< /Type /ObjStm /N 3 /First 20 >>')), true, 'an object stream may hold an image');
  assert.equal(mayHoldImageObjects(pdf('<< /Type /X#52ef /Size 9 >>')), true, 'so may a file with a cross-reference stream');
  assert.equal(mayHoldImageObjects(pdf('<< /ProcSet [/PDF /Text /ImageB /ImageC] >>')), false, 'the ImageB procedure set is not an image');
  // A name across the boundary of the slices the bytes are searched in.
  const far = Buffer.concat([Buffer.alloc((1 << 20) - 3, 0x20), Buffer.from('/Image ', 'latin1')]);
  assert.equal(mayHoldImageObjects(far), true);
});

test('an inline image drawn in a classic PDF\'s compressed content stream, on a page with text, is looked for and recognised with pictures on', async () => {
  const { width, height, grey } = await greyPixels(PNG);
  const typed = 'A typed page of a report, with a figure below it. '.repeat(3);
  const pdf = inlineImagePdf(typed, width, height, grey);
  assert.equal(pdf.includes('/Image'), false, 'no image object: a classic file with the picture inside its content stream');
  assert.equal(mayHoldImageObjects(pdf), true, 'the inline image is seen in the inflated content stream');
  assert.equal(mayHoldImageObjects(pdfWithContent(textPage(typed))), false, 'the same classic file without the picture holds none');
  const r = await shared(true).read(b64(pdf), 'acct_a');
  assert.equal(r.result, 'read', r.error);
  assert.equal(r.imagesRecognised, 1, 'the inline picture is recognised');
  assert.match(r.text, /A typed page of a report[\s\S]*Think step by step/, JSON.stringify(r.text));
});

test('other languages\' models come from a models folder (gzipped or not); a language with no model is refused at start', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-tessdata-'));
  const readers: DocumentReader[] = [];
  const error = console.error;
  try {
    const eng = join(dirname(createRequire(import.meta.url).resolve('@tesseract.js-data/eng/package.json')), '4.0.0_best_int', 'eng.traineddata.gz');
    // English's model under two codes no package has: only the folder can serve them.
    copyFileSync(eng, join(dir, 'xyz.traineddata.gz'));
    writeFileSync(join(dir, 'abc.traineddata'), gunzipSync(readFileSync(eng)));
    assert.deepEqual(missingOcrModels({ languages: ['eng', 'chi_sim', 'xyz', 'abc'], dir }), []);
    // With the folder, a language it does not have (eng here) still comes from its package.
    readers.push(new DocumentReader({ ocr: { ...DEFAULT_OCR, languages: ['xyz', 'eng'], modelsDir: dir } }), new DocumentReader({ ocr: { ...DEFAULT_OCR, languages: ['abc'], modelsDir: dir } }));
    for (const reader of readers) {
      const r = await reader.read(b64(PNG), 'acct_a', 'image');
      assert.equal(r.result, 'read', r.error);
      assert.match(r.text, FIRST_LINE);
    }
    // Missing: named, with where to put it.
    assert.throws(() => new DocumentReader({ ocr: { ...DEFAULT_OCR, languages: ['eng', 'qqq'], modelsDir: dir } }), /documents\.ocr_languages: no model for 'qqq': put qqq\.traineddata .* or install the npm package @tesseract\.js-data\/qqq/);
    assert.throws(() => new DocumentReader({ ocr: { ...DEFAULT_OCR, languages: ['xyz'] } }), /no model for 'xyz'/, 'without the folder');
    assert.match(missingOcrModels({ languages: ['../eng'], dir: null })[0], /not a Tesseract language code/);
    assert.doesNotThrow(() => new DocumentReader({ ocr: null }), 'images not read: no model needed');
    // `warden config check` says so too.
    const config = join(dir, 'warden.yaml');
    writeFileSync(config, `documents:\n  ocr_languages: [eng, jpn]\n  ocr_models_dir: ${dir}\n`);
    const errors: string[] = [];
    console.error = (s: string) => errors.push(s);
    assert.equal(await runConfig(['check', '--config', config]), 1);
    console.error = error;
    assert.match(errors.join('\n'), /documents\.ocr_languages: no model for 'jpn'/);
  } finally {
    console.error = error;
    await Promise.all(readers.map((r) => r.close()));
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a black-and-white scan (one bit per pixel, as CCITT and JBIG2 scans decode) is recognised', async () => {
  const { width, height, grey } = await greyPixels(PNG);
  const rowBytes = (width + 7) >> 3;
  const bits = Buffer.alloc(rowBytes * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) if (grey[y * width + x] > 128) bits[y * rowBytes + (x >> 3)] |= 0x80 >> (x & 7);
  }
  // The widening itself: white bits become 255, black 0, row padding skipped.
  const pnm = pnmFromPixels({ width, height, kind: 1, data: bits })!;
  const header = `P5\n${width} ${height}\n255\n`;
  assert.equal(pnm.subarray(0, header.length).toString('latin1'), header);
  assert.equal(pnm.length, header.length + width * height);
  assert.equal(pnm[header.length], 255, 'the top-left corner is white');

  const reader = shared(false);
  {
    const r = await reader.read(b64(scannedPdf(width, height, 1, bits)), 'acct_a');
    assert.equal(r.result, 'read', r.error);
    assert.equal(r.imagesRecognised, 1);
    assert.match(r.text, FIRST_LINE, JSON.stringify(r.text));
    const g = await reader.read(b64(scannedPdf(width, height, 8, grey)), 'acct_a');
    assert.match(g.text, SECOND_LINE, JSON.stringify(g.text));
    // Drawn as an image mask (ink where a sample is 0, as scanners write them), and the other way round.
    const m = await reader.read(b64(scannedPdf(width, height, 1, bits, { mask: true })), 'acct_a');
    assert.equal(m.imagesRecognised, 1, 'an image mask is recognised too');
    assert.match(m.text, FIRST_LINE, JSON.stringify(m.text));
    const inverted = await reader.read(b64(scannedPdf(width, height, 1, Buffer.from(bits.map((b) => ~b & 0xff)), { mask: true })), 'acct_a');
    assert.match(inverted.text, FIRST_LINE, `the page is the more common value: ${JSON.stringify(inverted.text)}`);
  }
});

test('images are measured before they are decoded: a huge one is refused, what is not an image is named so', async () => {
  // A PNG header claiming 30,000 x 30,000 pixels (3.6 GB decoded) in a few dozen bytes.
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(30_000, 0);
  ihdr.writeUInt32BE(30_000, 4);
  ihdr[8] = 8; ihdr[9] = 6;
  const bomb = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]), Buffer.from('IHDR'), ihdr, Buffer.alloc(4), Buffer.alloc(64)]);
  assert.deepEqual(imageHeader(bomb), { width: 30_000, height: 30_000, type: 'png' });
  const reader = shared(false);
  const started = reader.threadsStarted; // 1 if an earlier test has started its thread, else 0
  {
    const refused = await reader.read(b64(bomb), 'acct_a', 'image');
    assert.equal(refused.result, 'too_large', refused.error);
    // A GIF whose screen is one pixel and whose frame is 30,000 x 30,000.
    const gif = Buffer.concat([Buffer.from('GIF89a', 'latin1'), Buffer.from([1, 0, 1, 0, 0, 0, 0]), Buffer.from([0x2c, 0, 0, 0, 0, 0x30, 0x75, 0x30, 0x75, 0, 2, 1, 0, 0, 0x3b])]);
    const frame = await reader.read(b64(gif), 'acct_a', 'image');
    assert.equal(frame.result, 'too_large', frame.error);
    assert.match(refused.error ?? '', /30000 x 30000 is more than 25000000 pixels/);
    for (const [what, bytes] of [['a PDF sent as an image', await makePdf(['x'])], ['random bytes', Buffer.from('not an image at all')], ['an SVG', Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>')]] as const) {
      const r = await reader.read(b64(bytes), 'acct_a', 'image');
      assert.equal(r.result, 'not_image', `${what}: ${r.result} ${r.error}`);
    }
    // A broken image (its header intact): Tesseract's decoder fails; the thread carries on.
    const broken = await reader.read(b64(PNG.subarray(0, 2000)), 'acct_a', 'image');
    assert.equal(broken.result, 'failed');
    assert.ok(broken.unreadable, 'the document\'s own doing');
    assert.equal(reader.threadsStarted, Math.max(started, 1), 'none of them ended the thread');
    const ok = await reader.read(b64(PNG), 'acct_a', 'image');
    assert.equal(ok.result, 'read', ok.error);
  }
});

test('a recognition past ocr.timeoutMs ends its thread, keeping the pages read before; the next document gets a new thread', async () => {
  const reader = new DocumentReader({ ocr: { ...DEFAULT_OCR, timeoutMs: 1 } });
  try {
    const slow = await reader.read(b64(PNG), 'acct_a', 'image');
    assert.equal(slow.result, 'timeout', slow.error);
    assert.equal(slow.unreadable, false, 'an image too slow to recognise is not held against the account');
    // Nor remembered as given up on: not the image's doing (Tesseract's loading counts in that time).
    const again = await reader.read(b64(PNG), 'acct_a', 'image');
    assert.equal(again.result, 'timeout');
    assert.ok(!again.cached, 'given its time again');
    // A typed page, then a scanned one: the typed page's text is kept when the scan is given up.
    const mixed = await reader.read(b64(await imagePdf(['A typed cover page.', PNG])), 'acct_a');
    assert.equal(mixed.result, 'timeout', mixed.error);
    assert.match(mixed.text, /A typed cover page\./);
    const next = await reader.read(b64(await makePdf(['A typed page.'])), 'acct_a');
    assert.equal(next.result, 'read', next.error);
    assert.equal(reader.threadsStarted, 4, 'each timeout ended its thread');
  } finally {
    await reader.close();
  }
});

test('after a recognition a PDF runs on what was left of its own time limit: a slow page after a scanned one is unreadable', async () => {
  const { width, height, grey } = await greyPixels(PNG);
  const reader = new DocumentReader({ timeoutMs: 800 });
  try {
    // A scanned first page (recognised within its own time), then a page built to be slow to parse.
    const pdf = scannedPdf(width, height, 8, grey, { thenPages: [textPage('Second page.'), slowPage(64)] });
    const started = Date.now();
    const r = await reader.read(b64(pdf), 'acct_a');
    const ms = Date.now() - started;
    assert.equal(r.result, 'timeout', r.error);
    assert.equal(r.unreadable, true, 'the slow page is the document\'s doing');
    assert.match(r.text, FIRST_LINE, 'the scanned page read before it is kept');
    assert.ok(ms < 800 + 10_000, `given up within its own limit plus the recognition's (${ms} ms)`);
  } finally {
    await reader.close();
  }
});

test('a GIF is measured by its largest frame, not only its screen', () => {
  const { width, height } = imageHeader(PNG)!;
  const gif = blackAndWhiteGif(width, height, Buffer.alloc(width * height, 255));
  assert.deepEqual(gifFrames(gif), { largest: width * height, frames: 1 });
  // The same GIF claiming a 1 x 1 screen: its frame is still 760 x 120.
  const tiny = Buffer.from(gif);
  tiny.writeUInt16LE(1, 6);
  tiny.writeUInt16LE(1, 8);
  assert.deepEqual(imageHeader(tiny), { width: 1, height: 1, type: 'gif' });
  assert.equal(gifFrames(tiny).largest, width * height);
});

test('with OCR off, images are answered at once as unavailable', async () => {
  const reader = new DocumentReader({ ocr: null });
  try {
    const r = await reader.read(b64(PNG), 'acct_a', 'image');
    assert.equal(r.result, 'unavailable');
    assert.equal(reader.threadsStarted, 0, 'no thread started for it');
  } finally {
    await reader.close();
  }
});
