/**
 * The text of images, read with Tesseract (tesseract.js: Tesseract compiled to WebAssembly, with
 * its English and simplified Chinese LSTM models shipped in npm packages, so nothing is fetched;
 * the detector's lexicons read both; other languages' models from npm packages an operator
 * installs, or from a folder, `documents.ocr_models_dir`). Runs in the document
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
import { join, resolve } from 'node:path';
import { imageSize } from 'image-size';
import type { Worker as TesseractWorker } from 'tesseract.js';

export interface OcrOptions {
  /** Images with more pixels than this are not decoded. */
  maxImagePixels: number;
  /** Characters kept. */
  maxChars: number;
}

/** Why an image was not recognised: what it is (before anything decodes it). */
export class ImageRefused extends Error {
  constructor(readonly result: 'not_image' | 'too_large', message: string) {
    super(message);
    this.name = 'ImageRefused';
  }
}

/** Recognition cannot run here (Tesseract did not load): nobody's doing but the machine's. */
export class OcrUnavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OcrUnavailable';
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

/**
 * The largest frame of a GIF, in pixels, and how many frames it has: a GIF's header gives its
 * screen's size, each frame its own, and decoders allocate by the frame's. Walks the blocks
 * without decoding any (a truncated or malformed file ends the walk: what was seen counts).
 */
export function gifFrames(bytes: Uint8Array): { largest: number; frames: number } {
  let largest = 0;
  let frames = 0;
  if (bytes.length < 13) return { largest, frames };
  let at = 13;
  if (bytes[10] & 0x80) at += 3 * (2 << (bytes[10] & 7)); // global colour table
  const skipSubBlocks = () => { while (at < bytes.length && bytes[at] !== 0) at += bytes[at] + 1; at++; };
  while (at < bytes.length) {
    const block = bytes[at];
    if (block === 0x3b) break; // trailer
    if (block === 0x21) { at += 2; skipSubBlocks(); continue; } // extension
    if (block !== 0x2c || at + 10 > bytes.length) break;
    const w = bytes[at + 5] | (bytes[at + 6] << 8);
    const h = bytes[at + 7] | (bytes[at + 8] << 8);
    const packed = bytes[at + 9];
    largest = Math.max(largest, w * h);
    frames++;
    at += 10;
    if (packed & 0x80) at += 3 * (2 << (packed & 7)); // local colour table
    at++; // LZW minimum code size
    skipSubBlocks();
  }
  return { largest, frames };
}

/**
 * Check an encoded image before anything decodes it: a format clients may send, and no more than
 * `maxImagePixels` (a GIF's frames included). Throws ImageRefused.
 */
export function checkImage(bytes: Uint8Array, maxImagePixels: number): { width: number; height: number; type: string } {
  const head = imageHeader(bytes);
  if (!head || !FORMATS.has(head.type)) throw new ImageRefused('not_image', head ? `${head.type} images are not read` : 'not an image (PNG, JPEG, GIF or WebP)');
  const pixels = head.type === 'gif' ? Math.max(head.width * head.height, gifFrames(bytes).largest) : head.width * head.height;
  if (pixels > maxImagePixels) throw new ImageRefused('too_large', `${head.width} x ${head.height}${pixels > head.width * head.height ? ` (a frame of ${pixels} pixels)` : ''} is more than ${maxImagePixels} pixels`);
  return head;
}

/** Languages whose models are installed with Warden (`@tesseract.js-data/<code>`). */
export const OCR_LANGUAGES = ['eng', 'chi_sim'] as const;
/** A Tesseract language code (`eng`, `chi_sim`, `jpn`, `kor`, `rus`...): its model is `<code>.traineddata`. */
export type OcrLanguage = string;
export const OCR_LANGUAGE_CODE = /^[a-z]{3}(?:_[a-z]{2,8}){0,2}$/;

/** Where each language's model is read from: the models folder (`<code>.traineddata`, gzipped or not), else its npm package. */
export interface OcrModels { languages: readonly OcrLanguage[]; dir: string | null }

/**
 * The languages whose model is in neither place, each with what to do about it; empty when all
 * are there. Checked when Warden starts, so that a language missing is a configuration error,
 * not every image failing later.
 */
export function missingOcrModels({ languages, dir }: OcrModels): string[] {
  const problems: string[] = [];
  const require = createRequire(import.meta.url);
  for (const code of languages) {
    if (!OCR_LANGUAGE_CODE.test(code)) { problems.push(`'${code}' is not a Tesseract language code (eng, chi_sim, jpn, kor...)`); continue; }
    if (dir && (existsSync(join(dir, `${code}.traineddata.gz`)) || existsSync(join(dir, `${code}.traineddata`)))) continue;
    try {
      const pkg = require.resolve(`@tesseract.js-data/${code}/package.json`);
      if (existsSync(join(pkg, '..', '4.0.0_best_int', `${code}.traineddata.gz`))) continue;
    } catch { /* not installed */ }
    problems.push(`no model for '${code}': put ${code}.traineddata (Tesseract's tessdata_fast, or an integer best model) in ${dir ? `documents.ocr_models_dir (${dir})` : 'a folder named by documents.ocr_models_dir'}, or install the npm package @tesseract.js-data/${code}`);
  }
  return problems;
}

let engine: Promise<TesseractWorker> | null = null;
let engineLanguages = '';

/**
 * Tesseract's thread's entry point: ocr-engine.cjs beside this file (run from source), or in
 * src/documents when run from dist/ (tsc does not copy it; the dashboard's static files are
 * found the same way).
 */
function engineScript(): string {
  const here = fileURLToPath(new URL('.', import.meta.url));
  for (const candidate of [join(here, 'ocr-engine.cjs'), join(here, '..', '..', '..', 'src', 'documents', 'ocr-engine.cjs')]) {
    if (existsSync(candidate)) return candidate;
  }
  throw new OcrUnavailable(`ocr-engine.cjs not found beside ${here} nor in src/documents`);
}

/**
 * Tesseract, started on first use (about 300 ms, and 60 MB of memory that a gateway whose clients
 * send no images never pays). It runs in a thread of its own, started by this (document) thread,
 * which ends with it.
 */
export function loadOcr(languages: readonly OcrLanguage[] = ['eng'], modelsDir: string | null = null): Promise<TesseractWorker> {
  const langs = languages.join('+');
  const key = `${langs}\u0000${modelsDir ?? ''}`;
  if (engine && engineLanguages !== key) { const old = engine; engine = null; void old.then((w) => w.terminate(), () => {}); }
  engineLanguages = key;
  engine ??= (async () => {
    const workerPath = engineScript();
    const { createWorker, OEM } = (await import('tesseract.js')).default;
    // `warden-tessdata`: ocr-engine.cjs reads each model from its own package; a models folder
    // first when there is one. cacheMethod none: never written anywhere. An errorHandler, or
    // tesseract.js throws each failed recognition out of this thread as well as rejecting it (a
    // broken image would cost the thread).
    return createWorker(langs, OEM.LSTM_ONLY, { langPath: modelsDir ? resolve(modelsDir) : 'warden-tessdata', gzip: true, cacheMethod: 'none', workerPath, errorHandler: () => {} });
  })().catch((err: unknown) => {
    engine = null;
    throw err instanceof OcrUnavailable ? err : new OcrUnavailable(`Tesseract could not be loaded: ${err instanceof Error ? err.message : String(err)}`);
  });
  return engine;
}

/**
 * The text of an encoded image (PNG, JPEG, GIF, WebP, PNM) that checkImage has passed, or that
 * pdf.ts made. Throws OcrUnavailable when Tesseract cannot load; a decoder's failure (a broken
 * image) is tesseract.js's own error.
 */
export async function ocrText(bytes: Uint8Array, maxChars: number, languages: readonly OcrLanguage[] = ['eng'], modelsDir: string | null = null): Promise<string> {
  const ocr = await loadOcr(languages, modelsDir);
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const { data } = await ocr.recognize(buf, {}, { text: true, blocks: false, hocr: false, tsv: false });
  const text = joinCjk(data.text.trim());
  return text.length > maxChars ? text.slice(0, maxChars) : text;
}

/** Han, kana and CJK punctuation (ideographs and their full-width marks). */
const CJK = '\\u3000-\\u30ff\\u3400-\\u4dbf\\u4e00-\\u9fff\\uf900-\\ufaff\\uff00-\\uffef';
const CJK_GAP = new RegExp(`(?<=[${CJK}]) +(?=[${CJK}])`, 'g');
/** Two or more Hangul syllables standing alone, one space apart ("단 계 별 로"). */
const HANGUL_SINGLES = /(?<![\uac00-\ud7a3])[\uac00-\ud7a3](?: [\uac00-\ud7a3](?![\uac00-\ud7a3]))+/g;
/**
 * Tesseract's Chinese model puts a space between characters; written Chinese has none (and the
 * lexicons match it so). Its Korean model splits many words into syllables ("단 계 별 로" for
 * 단계별로) where written Korean puts spaces between words: a run of syllables standing alone is
 * joined (a sentence of one-syllable words is joined too, which the lexicons do not mind).
 */
export function joinCjk(text: string): string {
  return text.replace(CJK_GAP, '').replace(HANGUL_SINGLES, (run) => run.replaceAll(' ', ''));
}

/** pdf.js's decoded image kinds (ImageKind). */
const GRAYSCALE_1BPP = 1;
const RGB_24BPP = 2;
const RGBA_32BPP = 3;

/**
 * A decoded image from pdf.js (a scanned page) as a PNM file Tesseract reads: RGB as it is (P6),
 * RGBA without its alpha, one bit per pixel widened to grey (P5). An image mask (`mask`: one bit
 * per pixel, painted or not; 1-bit scans are often drawn so) is widened with the more common
 * value as the white page, whichever bit the PDF paints with. Null for a kind it does not know.
 */
export function pnmFromPixels(img: { width: number; height: number; kind?: number; data: Uint8Array | Uint8ClampedArray; mask?: boolean }): Buffer | null {
  const { width: w, height: h, data } = img;
  if (img.mask) {
    const rowBytes = (w + 7) >> 3;
    if (data.length < rowBytes * h) return null;
    let set = 0;
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) if (data[y * rowBytes + (x >> 3)] & (0x80 >> (x & 7))) set++;
    return pnmFromPixels({ width: w, height: h, kind: GRAYSCALE_1BPP, data: set * 2 >= w * h ? data : Uint8Array.from(data, (b) => ~b & 0xff) });
  }
  const kind = img.kind;
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
