/**
 * Entry point of a document thread (see reader.ts). Reads one PDF at a time and answers with its
 * text. The main thread bounds it: a time limit per document (it terminates the thread) and a
 * heap limit (the thread dies, not the gateway). Documents seen again (one file named in many
 * requests) are answered from a small cache keyed by their content's hash.
 */
import { createHash } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import { lowerThreadPriority } from '../store/worker-entry.ts';
import { loadPdfJs, looksLikePdf, pdfText, type PdfText } from './pdf.ts';
import type { FromDocumentThread, DocumentThreadInit, ToDocumentThread } from './reader.ts';

lowerThreadPriority();
const port = parentPort!;
const init = workerData as DocumentThreadInit;
const cache = new Map<string, PdfText>();

function remember(key: string, value: PdfText): void {
  if (init.cacheEntries <= 0) return;
  cache.delete(key);
  cache.set(key, value);
  if (cache.size > init.cacheEntries) cache.delete(cache.keys().next().value!);
}

async function read(m: ToDocumentThread): Promise<FromDocumentThread> {
  const bytes = m.bytes;
  const key = createHash('sha256').update(bytes).digest('base64url');
  const hit = cache.get(key);
  if (hit) {
    remember(key, hit);
    return { type: 'done', id: m.id, result: 'read', ...hit, cached: true };
  }
  if (!looksLikePdf(bytes)) return { type: 'done', id: m.id, result: 'not_pdf' };
  try {
    // The buffer is this thread's own (transferred): pdf.js may take it over.
    const out = await pdfText(bytes, {
      maxPages: init.maxPages, maxChars: init.maxChars,
      onPage: (text) => port.postMessage({ type: 'page', id: m.id, text } satisfies FromDocumentThread),
    });
    remember(key, out);
    return { type: 'done', id: m.id, result: 'read', ...out, cached: false };
  } catch (err) {
    return { type: 'done', id: m.id, result: 'failed', error: `${(err as Error).name}: ${(err as Error).message}` };
  }
}

port.on('message', (m: ToDocumentThread) => {
  void read(m).then((reply) => port.postMessage(reply));
});

// Load pdf.js (and its fake worker, which it imports on the first document) before saying ready,
// so a document's time limit measures reading, not the thread's start.
const PDFJS_FAKE_WORKER: string = 'pdfjs-dist/legacy/build/pdf.worker.mjs';
loadPdfJs()
  .then(() => import(PDFJS_FAKE_WORKER))
  .then(
    () => port.postMessage({ type: 'ready' } satisfies FromDocumentThread),
    (err: Error) => port.postMessage({ type: 'unavailable', error: `pdf.js could not be loaded: ${err.message}` } satisfies FromDocumentThread),
  );
