/**
 * The text of images, read with Tesseract (tesseract.js: Tesseract compiled to WebAssembly, with
 * its English LSTM model shipped in an npm package, so nothing is fetched). Runs in the document
 * thread (document-thread.ts), never on the gateway's: recognising a page of text takes one or two
 * seconds of CPU.
 *
 * What is recognised: PNG, JPEG, GIF and WebP images (what both APIs accept), and the images of a
 * scanned PDF's pages (pdf.ts hands their decoded pixels over as a PNM image). An image is
 * measured from its header before anything decodes it: one larger than `maxImagePixels` is not
 * decoded at all (a 30,000 x 30,000 PNG is a few kilobytes and 3.6 GB once decoded). A large one
 * is recognised whole or not at all: Tesseract's own sub-rectangle option returned text from
 * outside the rectangle in this build (tried), and Warden has no image decoder of its own to crop
 * with, so the time limit is what bounds it.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { imageSize } from 'image-size';
import type { Worker as TesseractWorker } from 'tesseract.js';

export interface OcrOptions {
  /** Images with more pixels than this are not decoded. */
  maxImagePixels: number;
  /** Characters kept. */
  maxChars: number;
}

/** Why an image was not recognised. */
export class ImageRefused extends Error {
  constructor(readonly result: 'not_image' | 'too_large', message: string) {
    super(message);
    this.name = 'ImageRefused';
  }
}

/** Formats both APIs accept; other formats Tesseract might decode (TIFF, BMP) are not images a client can send. */
const FORMATS = new Set(['png', 'jpg', 'gif', 'webp', 'pnm']);

/** Width, height and format of an encoded image, from its header (nothing decoded), or null if it is not one. */
export function imageHeader(bytes: Uint8Array): { width: number; height: number; type: string } | null {
  try {
    const s = imageSize(bytes);
    return s.width && s.height && s.type ? { width: s.width, height: s.height, type: s.type } : null;
  } catch {
    return null;
  }
}

let engine: Promise<TesseractWorker> | null = null;

/** Tesseract's thread's entry point: ocr-engine.cjs beside this file, or in src/documents when run from dist/. */
function engineScript(): string {
  const here = fileURLToPath(new URL('.', import.meta.url));
  const beside = join(here, 'ocr-engine.cjs');
  return existsSync(beside) ? beside : join(here, '..', '..', '..', 'src', 'documents', 'ocr-engine.cjs');
}

/**
 * Tesseract, started on first use (about 300 ms, and 60 MB of memory that a gateway whose clients
 * send no images never pays). It runs in a thread of its own, started by this (document) thread,
 * which ends with it.
 */
export function loadOcr(): Promise<TesseractWorker> {
  engine ??= (async () => {
    const { createWorker, OEM } = (await import('tesseract.js')).default;
    const langPath = join(dirname(createRequire(import.meta.url).resolve('@tesseract.js-data/eng/package.json')), '4.0.0_best_int');
    // cacheMethod none: the model is read from the package, never written anywhere. An
    // errorHandler, or tesseract.js throws each failed recognition out of this thread as well as
    // rejecting it (a broken image would cost the thread).
    return createWorker('eng', OEM.LSTM_ONLY, { langPath, gzip: true, cacheMethod: 'none', workerPath: engineScript(), errorHandler: () => {} });
  })();
  engine.catch(() => { engine = null; });
  return engine;
}

/** The text of an encoded image (PNG, JPEG, GIF, WebP, PNM). Throws ImageRefused for what it will not decode. */
export async function ocrText(bytes: Uint8Array, opts: OcrOptions): Promise<string> {
  const head = imageHeader(bytes);
  if (!head || !FORMATS.has(head.type)) throw new ImageRefused('not_image', head ? `${head.type} images are not read` : 'not an image (PNG, JPEG, GIF or WebP)');
  const pixels = head.width * head.height;
  if (pixels > opts.maxImagePixels) throw new ImageRefused('too_large', `${head.width} x ${head.height} is more than ${opts.maxImagePixels} pixels`);
  const ocr = await loadOcr();
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const { data } = await ocr.recognize(buf, {}, { text: true, blocks: false, hocr: false, tsv: false });
  const text = data.text.trim();
  return text.length > opts.maxChars ? text.slice(0, opts.maxChars) : text;
}

/** pdf.js's decoded image kinds (ImageKind). */
const GRAYSCALE_1BPP = 1;
const RGB_24BPP = 2;
const RGBA_32BPP = 3;

/**
 * A decoded image from pdf.js (a scanned page) as a PNM file Tesseract reads: RGB as it is (P6),
 * RGBA without its alpha, one bit per pixel widened to grey (P5). Null for a kind it does not know.
 */
export function pnmFromPixels(img: { width: number; height: number; kind: number; data: Uint8Array | Uint8ClampedArray }): Buffer | null {
  const { width: w, height: h, kind, data } = img;
  if (kind === RGB_24BPP && data.length >= w * h * 3) {
    return Buffer.concat([Buffer.from(`P6\n${w} ${h}\n255\n`), Buffer.from(data.buffer, data.byteOffset, w * h * 3)]);
  }
  if (kind === RGBA_32BPP && data.length >= w * h * 4) {
    const head = Buffer.from(`P6\n${w} ${h}\n255\n`);
    const out = Buffer.allocUnsafe(head.length + w * h * 3);
    head.copy(out);
    for (let i = 0, o = head.length; i < w * h; i++, o += 3) {
      out[o] = data[i * 4];
      out[o + 1] = data[i * 4 + 1];
      out[o + 2] = data[i * 4 + 2];
    }
    return out;
  }
  if (kind === GRAYSCALE_1BPP) {
    const rowBytes = (w + 7) >> 3;
    if (data.length < rowBytes * h) return null;
    const head = Buffer.from(`P5\n${w} ${h}\n255\n`);
    const out = Buffer.allocUnsafe(head.length + w * h);
    head.copy(out);
    for (let y = 0, o = head.length; y < h; y++) {
      for (let x = 0; x < w; x++, o++) out[o] = data[y * rowBytes + (x >> 3)] & (0x80 >> (x & 7)) ? 255 : 0;
    }
    return out;
  }
  return null;
}
