/**
 * documents: the text of PDFs and images that requests carry, read off the request path. A prompt
 * put in a PDF or a picture is still a prompt: the gateway hands each to a `DocumentReader` while
 * the upstream answers, and the event that feeds the detector gets the text. Reading runs in
 * background threads with a time, memory, queue and per-account bound (reader.ts); pdf.js parses
 * PDFs (pdf.ts), Tesseract recognises images and scanned pages (ocr.ts); a PDF text layer that
 * does not read as language (a remapped font) makes the PDF unreadable (text-layer.ts). Knows nothing of HTTP,
 * events or accounts beyond an owner's name: imports only `store` (its worker threads) and, for
 * `warden documents read` (cli.ts), `config`.
 *
 * ```ts
 * const reader = new DocumentReader({ timeoutMs: 2000 });
 * const r = await reader.read(base64Pdf, accountId);   // { result: 'read', text, pages, ... }
 * const s = await reader.read(base64Png, accountId, 'image');
 * await reader.close();
 * ```
 */
export { DocumentReader, DEFAULT_OCR } from './reader.ts';
export type { DocumentTurn, DocumentReading } from './reader.ts';
