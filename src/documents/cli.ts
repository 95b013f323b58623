/**
 * `warden documents read FILE...`: what the gateway reads of a PDF or an image, with the
 * configured limits (`documents` in the configuration): the text the event and the detector get,
 * the pages read, or why it was not read. For an operator looking at a request's attachment, or at
 * a PDF or picture that a campaign sends.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadConfig } from '../config/index.ts';
import { DocumentReader, type DocumentKind } from './reader.ts';
import { looksLikePdf } from './pdf.ts';
import { imageHeader } from './ocr.ts';

const USAGE = `usage: warden documents read FILE [FILE ...] [-c|--config FILE] [--json]
  Reads each PDF or image (PNG, JPEG, GIF, WebP) as the gateway does: pdf.js and Tesseract in a
  background thread, with the limits of the configuration's documents section (timeout_ms,
  memory_mb, max_pages, max_bytes, read_images, ocr_timeout_ms, max_image_pixels,
  ocr_images_per_pdf, ocr_pictures). Prints what was read.
  Exit status: 0 every file read, 1 some file not read to its end, 2 bad usage or unreadable file.
`;

export interface DocumentsCliIo {
  stdout(s: string): void;
  stderr(s: string): void;
}
const defaultIo: DocumentsCliIo = { stdout: (s) => process.stdout.write(s), stderr: (s) => process.stderr.write(s) };

export async function runDocumentsCli(argv: string[], io: DocumentsCliIo = defaultIo): Promise<number> {
  let values: { config?: string; json?: boolean; help?: boolean };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { config: { type: 'string', short: 'c' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } }));
  } catch (err) {
    io.stderr(`error: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) { io.stdout(USAGE); return 0; }
  const [cmd, ...files] = positionals;
  if (cmd !== 'read' || files.length === 0) {
    io.stderr(`${cmd && cmd !== 'read' ? `error: unknown command "${cmd}"\n` : ''}${USAGE}`);
    return 2;
  }
  const contents: Buffer[] = [];
  for (const f of files) {
    try { contents.push(readFileSync(f)); } catch (err) {
      io.stderr(`error: cannot read ${f}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}\n`);
      return 2;
    }
  }
  let c;
  try { c = loadConfig(values.config).documents; } catch (err) {
    io.stderr(`error: ${(err as Error).message}\n`);
    return 2;
  }
  const reader = new DocumentReader({
    timeoutMs: c.timeout_ms, memoryMb: c.memory_mb, maxPages: c.max_pages, maxBytes: c.max_bytes, maxQueueBytes: Number.MAX_SAFE_INTEGER, cacheEntries: 0,
    ocr: c.read_images ? { timeoutMs: c.ocr_timeout_ms, maxImagePixels: c.max_image_pixels, perPdf: c.ocr_images_per_pdf, pictures: c.ocr_pictures, languages: c.ocr_languages, modelsDir: c.ocr_models_dir } : null,
  });
  let allRead = true;
  const out: object[] = [];
  try {
    for (let i = 0; i < files.length; i++) {
      // What the file is, by its bytes (a client's request says it; a file on disk does not).
      const kind: DocumentKind = !looksLikePdf(contents[i]) && imageHeader(contents[i]) ? 'image' : 'pdf';
      const r = await reader.read(contents[i].toString('base64'), 'cli', kind);
      if (r.result !== 'read') allRead = false;
      if (values.json) { out.push({ file: files[i], ...r }); continue; }
      const recognised = r.kind === 'image' ? 'image recognised' : `read ${r.pagesRead} of ${r.pages} page${r.pages === 1 ? '' : 's'}${r.imagesRecognised ? ` (${r.imagesRecognised} image${r.imagesRecognised === 1 ? '' : 's'} recognised)` : ''}${r.imagesSkipped ? ` (${r.imagesSkipped} image${r.imagesSkipped === 1 ? '' : 's'} not recognised: scanned pages past documents.ocr_images_per_pdf, images over documents.max_image_pixels, or recognition unavailable)` : ''}`;
      const head = r.result === 'read'
        ? `${files[i]}: ${recognised}, ${r.text.length} characters, ${r.ms} ms${r.unreadable ? ` (unreadable: ${r.error})` : ''}`
        : `${files[i]}: ${r.result}${r.error ? ` (${r.error})` : r.result === 'not_pdf' ? ' (neither a PDF nor an image of a kind the gateway reads: PNG, JPEG, GIF, WebP)' : ''}${r.text ? `; ${r.text.length} characters read before` : ''}`;
      io.stdout(`${head}\n${r.text ? `${r.text.replace(/\n?$/, '\n')}` : ''}${i < files.length - 1 ? '\n' : ''}`);
    }
  } finally {
    await reader.close();
  }
  if (values.json) io.stdout(JSON.stringify(out, null, 2) + '\n');
  return allRead ? 0 : 1;
}
