/**
 * Entry point of a document thread (see reader.ts). Reads one document at a time (a PDF's text
 * with pdf.js, an image's with Tesseract) and answers with its text. The main thread bounds it: a
 * time limit per document (it terminates the thread) and a memory limit. Documents seen again (one
 * file named in many requests) are answered from a small cache keyed by their content's hash.
 */
import { createHash } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import { lowerThreadPriority } from '../store/worker-entry.ts';
import { loadPdfJs, looksLikePdf, pdfText } from './pdf.ts';
import { checkImage, ImageRefused, loadOcr, OcrUnavailable, ocrText } from './ocr.ts';
import type { FromDocumentThread, DocumentThreadInit, GivenUp, ToDocumentThread } from './reader.ts';

lowerThreadPriority();
const port = parentPort!;
const init = workerData as DocumentThreadInit;
type Read = { text: string; pages: number; pagesRead: number; imagesRecognised: number; imagesSkipped: number; unreadableText: string | null };
const cache = new Map<string, Read>();
/** Documents given up on (by this thread or another), until they expire: answered as then, not read again. The reader bounds them and says when one is forgotten. */
const givenUp = new Map<string, GivenUp>(init.givenUp);

function remember(key: string, value: Read): void {
  if (init.cacheEntries <= 0) return;
  cache.delete(key);
  cache.set(key, value);
  if (cache.size > init.cacheEntries) cache.delete(cache.keys().next().value!);
}

/**
 * Recognise an image's text, telling the main thread before and after: a recognition (Tesseract's
 * loading included) gets its own time limit, and what goes wrong in it is not the document's doing.
 */
async function recognise(id: number, bytes: Uint8Array): Promise<string> {
  port.postMessage({ type: 'ocr', id } satisfies FromDocumentThread);
  try {
    await loadOcr(init.ocr!.languages, init.ocr!.modelsDir);
    return await ocrText(bytes, init.maxChars, init.ocr!.languages, init.ocr!.modelsDir);
  } finally {
    port.postMessage({ type: 'ocr-done', id } satisfies FromDocumentThread);
  }
}

type Document = Extract<ToDocumentThread, { bytes: Uint8Array }>;

async function readPdf(m: Document): Promise<Read | 'not_pdf'> {
  if (!looksLikePdf(m.bytes)) return 'not_pdf';
  // The buffer is this thread's own (transferred): pdf.js may take it over.
  return pdfText(m.bytes, {
    maxPages: init.maxPages, maxChars: init.maxChars,
    onPage: (text) => port.postMessage({ type: 'page', id: m.id, text } satisfies FromDocumentThread),
    ...(init.ocr ? { ocr: (pnm: Buffer) => recognise(m.id, pnm).catch((err: unknown) => { if (err instanceof OcrUnavailable) return null; throw err; }), ocrImages: init.ocr.perPdf, pictures: init.ocr.pictures, maxImagePixels: init.ocr.maxImagePixels } : {}),
  });
}

async function readImage(m: Document): Promise<Read> {
  checkImage(m.bytes, init.ocr!.maxImagePixels);
  const text = await recognise(m.id, m.bytes);
  return { text, pages: 1, pagesRead: 1, imagesRecognised: 1, imagesSkipped: 0, unreadableText: null };
}

async function read(m: Document): Promise<FromDocumentThread> {
  const key = m.kind + ':' + createHash('sha256').update(m.bytes).digest('base64url');
  const gaveUp = givenUp.get(key);
  if (gaveUp && gaveUp.until > Date.now()) return { type: 'given-up', id: m.id, key, answer: gaveUp };
  if (gaveUp) givenUp.delete(key);
  port.postMessage({ type: 'key', id: m.id, key } satisfies FromDocumentThread);
  const hit = cache.get(key);
  if (hit) {
    remember(key, hit);
    return { type: 'done', id: m.id, result: 'read', ...hit, cached: true };
  }
  try {
    if (m.kind === 'image' && !init.ocr) return { type: 'done', id: m.id, result: 'failed', error: 'images are not read' };
    const out = m.kind === 'image' ? await readImage(m) : await readPdf(m);
    if (out === 'not_pdf') return { type: 'done', id: m.id, result: 'not_pdf' };
    remember(key, out);
    return { type: 'done', id: m.id, result: 'read', ...out, cached: false };
  } catch (err) {
    if (err instanceof ImageRefused) return { type: 'done', id: m.id, result: err.result, error: err.message };
    if (err instanceof OcrUnavailable) return { type: 'done', id: m.id, result: 'unavailable', error: err.message };
    // tesseract.js rejects with strings.
    const e = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    return { type: 'done', id: m.id, result: 'failed', error: e };
  }
}

port.on('message', (m: ToDocumentThread) => {
  if ('givenUp' in m) { givenUp.set(m.givenUp[0], m.givenUp[1]); return; }
  if ('forget' in m) { givenUp.delete(m.forget); return; }
  void read(m).then((reply) => port.postMessage(reply));
});

// Load pdf.js (and its fake worker, which it imports on the first document) before saying ready,
// so a document's time limit measures reading, not the thread's start. Tesseract loads on the
// first image (most gateways' threads never see one).
const PDFJS_FAKE_WORKER: string = 'pdfjs-dist/legacy/build/pdf.worker.mjs';
loadPdfJs()
  .then(() => import(PDFJS_FAKE_WORKER))
  .then(
    () => port.postMessage({ type: 'ready' } satisfies FromDocumentThread),
    (err: Error) => port.postMessage({ type: 'unavailable', error: `pdf.js could not be loaded: ${err.message}` } satisfies FromDocumentThread),
  );
