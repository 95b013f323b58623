/**
 * documents: the text of PDFs that requests carry, read off the request path. A prompt put in a
 * PDF is still a prompt: the gateway hands each PDF to a `DocumentReader` while the upstream
 * answers, and the event that feeds the detector gets the text. Reading runs in background
 * threads with a time, heap, queue and per-account bound (reader.ts); pdf.js does the parsing
 * (pdf.ts). Knows nothing of HTTP, events or accounts beyond an owner's name.
 *
 * ```ts
 * const reader = new DocumentReader({ timeoutMs: 2000 });
 * const r = await reader.read(base64Pdf, accountId);   // { result: 'read', text, pages, ... }
 * await reader.close();
 * ```
 */
export { DocumentReader, DEFAULT_DOCUMENT_READER, base64Bytes } from './reader.ts';
export type { DocumentReaderOptions, DocumentReading, DocumentResult } from './reader.ts';
export { looksLikePdf, pdfText } from './pdf.ts';
export type { PdfText, PdfTextOptions } from './pdf.ts';
export { runDocumentsCli } from './cli.ts';
