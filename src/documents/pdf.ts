/**
 * The text of a PDF, read with Mozilla's pdf.js (`pdfjs-dist`, its build for Node). Runs in the
 * document thread (document-thread.ts), never on the gateway's: a PDF is a program of sorts, and
 * parsing one takes milliseconds to seconds. Font programs are parsed (for their character maps
 * and, for a page rendered, their glyphs' outlines) but never compiled to code
 * (`isEvalSupported: false`), no system font is loaded and nothing is fetched. A page is
 * rendered only when its text layer does not read as language (text-layer.ts) and recognition is on.
 */
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { pnmFromPixels } from './ocr.ts';
import { TextLayerCheck } from './text-layer.ts';

export interface PdfTextOptions {
  /** Pages read at most (from the first). */
  maxPages: number;
  /** Characters kept at most; reading stops once they are there. */
  maxChars: number;
  /** Called with each page's text as it is read (a reader that gives up on a later page keeps what came before). */
  onPage?: (text: string) => void;
  /**
   * Recognise the text of an image on a page with next to no text of its own (a scanned page):
   * given the image as a PNM file, at most `ocrImages` times per document; null when recognition
   * is unavailable. Without it such pages read as what text they have.
   */
  ocr?: (pnm: Buffer) => Promise<string | null>;
  ocrImages?: number;
  /**
   * Recognise pictures on pages with text of their own too, within the same `ocrImages`: a
   * prompt can be put in a picture under a page of cover text. Only in PDFs whose bytes may hold
   * an image object or an inline image (mayHoldImageObjects: looking costs a text page about 1.6
   * times its reading).
   */
  pictures?: boolean;
  /** Images larger than this (pixels) are not decoded (pdf.js's `maxImageSize`). */
  maxImagePixels?: number;
}

export interface PdfText {
  text: string;
  /** Pages in the document. */
  pages: number;
  /** Pages read. */
  pagesRead: number;
  /** Images whose text was recognised (scanned pages', and pictures on pages with text). */
  imagesRecognised: number;
  /**
   * Not recognised: images of scanned pages past `ocrImages` (or with recognition unavailable);
   * once those are spent in a PDF that had scanned pages, each further page with next to no
   * text (not decoded to look, which takes seconds: perhaps a scan); and images over
   * `maxImagePixels` on the pages looked at. (Pictures on pages with text, past `ocrImages`, are
   * not counted: the page's own text was read.)
   */
  imagesSkipped: number;
  /**
   * Why the text layer of the pages read does not read as language (text-layer.ts: a font whose
   * text is a cipher, control characters, or glyphs drawn with no text), or null: what the page
   * shows is then hidden from what was read.
   */
  unreadableText: string | null;
  /** Pages with such a text layer rendered and recognised (counted in `imagesRecognised` too). */
  pagesRendered: number;
}

/** Images smaller than this (pixels) are not recognised: logos, bullets, rules, not a scanned page. */
const MIN_OCR_PIXELS = 10_000;
/**
 * On a page with text of its own, a picture is recognised from this size (as on a scanned page: a
 * legible line of prompt is about 600 x 20 pixels or more) up to PICTURE_MAX_PIXELS.
 */
const MIN_PICTURE_PIXELS = MIN_OCR_PIXELS;
/**
 * Larger pictures on pages with text are not recognised: a page-sized image under a text layer is
 * a scan already read as text (a searchable scan), and recognising it takes seconds; a prompt's
 * picture is far smaller (ten lines of it at a legible size are about 1000 x 250).
 */
const PICTURE_MAX_PIXELS = 1_000_000;
/** Looking for pictures on pages with text stops after this long in a PDF (ms): decoding a page's images is pdf.js's slowest step. */
const PICTURE_LOOKING_MS = 300;
/**
 * A page with fewer visible characters than this is taken for a scan (or a picture of text) and
 * its images are recognised: a scan's text layer is empty, or a few stray characters (a page
 * number, a stamp), which must not hide the picture.
 */
const SCAN_TEXT_CHARS = 100;

/** The first bytes of every PDF ("%PDF-"), give or take leading junk that readers tolerate. */
export function looksLikePdf(bytes: Uint8Array): boolean {
  const head = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.length, 1024)).toString('latin1');
  return head.includes('%PDF-');
}

type PdfJs = typeof import('pdfjs-dist/legacy/build/pdf.mjs');
let pdfjs: Promise<PdfJs> | null = null;
/** pdf.js, loaded on first use (about 140 ms, and 10-20 MB of heap that a gateway with no PDFs never pays). */
export function loadPdfJs(): Promise<PdfJs> {
  pdfjs ??= import('pdfjs-dist/legacy/build/pdf.mjs');
  return pdfjs;
}

/**
 * Whether a PDF's bytes may hold an image. An image object is a stream; in a file with a
 * classic cross-reference table its dictionary is in the clear, and names it `/Image`, written
 * plainly or with `#xx` escapes. A file with object or cross-reference streams (PDF 1.5 and
 * later) may hide one in a compressed object stream (pdf.js reads streams there), and a
 * `/Subtype` given by reference hides the name: both count as may. An inline image (`BI ... ID
 * ... EI`) is drawn inside a content stream, most often compressed: a classic file with none of
 * the above has its streams inflated (mayHoldInlineImages) and looked in.
 */
export function mayHoldImageObjects(bytes: Uint8Array): boolean {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  // In slices that overlap by more than a name's length, not one string of the whole file.
  for (let at = 0; at < buf.length; at += SCAN_SLICE) {
    if (MAY_HOLD_IMAGES.test(buf.toString('latin1', at, Math.min(buf.length, at + SCAN_SLICE + SCAN_OVERLAP)))) return true;
  }
  return mayHoldInlineImages(buf);
}

/**
 * Bytes of stream data inflated (or read as they are) in all while looking for inline images;
 * past it a file may hold one. A classic text PDF's content streams and fonts are far less (a
 * 50-page report: about 1 MB); inflating 8 MB takes some 20-40 ms, against the page decoding
 * (about 1.6 times a page's reading) that looking for pictures costs.
 */
export const INLINE_SCAN_BYTES = 8 * 1024 * 1024;
/** The inline-image operator, `BI` standing alone followed by its first key (PDF names start with `/`). */
const INLINE_IMAGE = /(?:^|[\s\])>}])BI\s*\/[A-Za-z]/;
function mayHoldInlineImages(buf: Buffer): boolean {
  let left = INLINE_SCAN_BYTES;
  for (let at = 0; ;) {
    const keyword = buf.indexOf('stream', at, 'latin1');
    if (keyword < 0) return false;
    at = keyword + 6;
    // `endstream` ends one; `stream` then an end of line starts one.
    if (keyword >= 3 && buf.toString('latin1', keyword - 3, keyword) === 'end') continue;
    let from = keyword + 6;
    if (buf[from] === 0x0d) from++;
    if (buf[from] === 0x0a) from++;
    else if (from === keyword + 6) continue;
    const end = buf.indexOf('endstream', from, 'latin1');
    if (end < 0) return true;
    // Its dictionary: what follows the object's number, before `stream`.
    const head = buf.toString('latin1', Math.max(0, keyword - 4096), keyword);
    const obj = head.lastIndexOf('obj');
    const dict = obj >= 0 ? head.slice(obj) : head;
    const filter = /\/Filter\s*(\[[^\]]*\]|\/[^\s/<>[\]()]+)/.exec(dict);
    let data: Buffer = buf.subarray(from, end);
    if (filter) {
      const name = filter[1].replace(/[[\]\s]/g, '');
      // Another filter, a chain, or a predictor (which mangles the bytes): not looked in, may.
      if ((name !== '/FlateDecode' && name !== '/Fl') || /\/DecodeParms|\/DP\b/.test(dict)) return true;
      if (left <= 0) return true;
      try {
        data = inflateSync(data, { maxOutputLength: left });
      } catch {
        // Does not inflate (encrypted, damaged) or inflates past what is left: may.
        return true;
      }
    }
    left -= data.length;
    if (left < 0) return true;
    if (INLINE_IMAGE.test(data.toString('latin1'))) return true;
    at = end + 9;
  }
}
const SCAN_SLICE = 1 << 20;
const SCAN_OVERLAP = 64;
/** A PDF name written with any of its letters as `#xx` escapes. */
const escapable = (name: string) => name.split('').map((c) => `(?:${c}|#${c.charCodeAt(0).toString(16)})`).join('');
const MAY_HOLD_IMAGES = new RegExp(
  `/(?:${escapable('Image')}|${escapable('ObjStm')}|${escapable('XRef')}|${escapable('XRefStm')})(?![A-Za-z0-9#])|/${escapable('Subtype')}\\s*\\d+\\s+\\d+\\s+R`,
  'i',
);

/**
 * pdf.js leaves out an image over `maxImageSize` and says so only in a warning: while PDFs are
 * read, its warnings come here (kept out of the log) and those are counted. The watch is shared
 * by the reads under way (a thread reads one at a time; a count then belongs to it alone).
 */
const REMOVED_IMAGE = 'Image exceeded maximum allowed size and was removed.';
let watching = 0;
let removedImages = 0;
let originalWarn: typeof console.warn = console.warn;
function watchWarnings(): { removedImages: () => number; stop: () => void } {
  if (watching++ === 0) {
    originalWarn = console.warn;
    console.warn = (...args: unknown[]) => { if (typeof args[0] === 'string' && args[0].includes(REMOVED_IMAGE)) removedImages++; };
  }
  let stopped = false;
  return {
    removedImages: () => removedImages,
    stop: () => {
      if (stopped) return;
      stopped = true;
      if (--watching === 0) console.warn = originalWarn;
    },
  };
}

/** pdf.js's data folders (CJK character maps, standard font metrics), as the paths its Node readers want. */
function dataPaths(): { cMapUrl: string; standardFontDataUrl: string } {
  const root = dirname(createRequire(import.meta.url).resolve('pdfjs-dist/package.json'));
  return { cMapUrl: join(root, 'cmaps') + '/', standardFontDataUrl: join(root, 'standard_fonts') + '/' };
}
let paths: ReturnType<typeof dataPaths> | null = null;

/** The text an annotation shows: its contents (a comment, a free-text box) or a form field's value. */
function annotationText(note: { contentsObj?: { str?: unknown }; fieldValue?: unknown; subtype?: unknown }): string {
  const parts: string[] = [];
  const contents = note.contentsObj?.str;
  if (typeof contents === 'string' && contents.trim()) parts.push(contents.trim());
  const value = note.fieldValue;
  if (typeof value === 'string' && value.trim()) parts.push(value.trim());
  else if (Array.isArray(value)) parts.push(...value.filter((v): v is string => typeof v === 'string' && v.trim() !== ''));
  return parts.join('\n');
}

type PdfPage = Awaited<ReturnType<Awaited<ReturnType<PdfJs['getDocument']>['promise']>['getPage']>>;
interface DecodedImage { width: number; height: number; kind?: number; data?: Uint8Array | Uint8ClampedArray; mask?: boolean }

/** How long an image the operator list names may take to arrive from pdf.js's decoding, ms. */
const IMAGE_WAIT_MS = 1000;

/** A decoded image pdf.js names by id: most have arrived with the operator list, some (1-bit ones) come after it. */
function decodedImage(objs: PdfPage['objs'], id: string): Promise<DecodedImage | null> {
  if (objs.has(id)) return Promise.resolve(objs.get(id) as DecodedImage | null);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(null), IMAGE_WAIT_MS);
    objs.get(id, (img: unknown) => { clearTimeout(timer); resolve(img as DecodedImage | null); });
  });
}

/** The images a page paints (decoded by pdf.js; image masks too), largest first; those under `minPixels` left out. */
async function pageImages(lib: PdfJs, page: PdfPage, minPixels: number): Promise<DecodedImage[]> {
  const ops = await page.getOperatorList();
  const found: DecodedImage[] = [];
  for (let i = 0; i < ops.fnArray.length; i++) {
    const fn = ops.fnArray[i];
    const mask = fn === lib.OPS.paintImageMaskXObject;
    if (fn !== lib.OPS.paintImageXObject && fn !== lib.OPS.paintInlineImageXObject && !mask) continue;
    const ref = ops.argsArray[i][0] as unknown;
    let img = typeof ref === 'string' ? await decodedImage(ref.startsWith('g_') ? page.commonObjs : page.objs, ref) : ref as DecodedImage;
    // An image mask's operator carries its size; its bits are an object of their own.
    const bitsId = (img as { data?: unknown } | null)?.data;
    if (mask && img && typeof bitsId === 'string') img = { ...img, data: (await decodedImage(bitsId.startsWith('g_') ? page.commonObjs : page.objs, bitsId))?.data };
    if (img && img.data && img.width * img.height >= minPixels && !found.some((f) => f.data === img.data)) found.push(mask ? { ...img, mask } : img);
  }
  return found.sort((a, b) => b.width * b.height - a.width * a.height);
}

/** Pixels a page is rendered to at most for its recognition (a letter page at 144 dpi is 1.9 million). */
const RENDER_MAX_PIXELS = 4_000_000;
/** The scale a page is rendered at (2: 144 dpi), less for a page larger than RENDER_MAX_PIXELS at it. */
const RENDER_SCALE = 2;

/**
 * `page` rendered (pdf.js drawing its glyphs' outlines on a canvas of @napi-rs/canvas, which
 * pdf.js brings for Node.js) on white, as a PNM file to recognise; null when it cannot be (no
 * canvas here, a page too large, a failure drawing it).
 */
async function renderedPage(page: PdfPage, factory: CanvasFactory | undefined, maxImagePixels = Infinity): Promise<Buffer | null> {
  try {
    const base = page.getViewport({ scale: 1 });
    const scale = Math.min(RENDER_SCALE, Math.sqrt(Math.min(RENDER_MAX_PIXELS, maxImagePixels) / (base.width * base.height)));
    const viewport = page.getViewport({ scale });
    const width = Math.floor(viewport.width);
    const height = Math.floor(viewport.height);
    if (width < 1 || height < 1) return null;
    if (!factory) return null;
    const { canvas, context } = factory.create(width, height);
    try {
      // White first: a page's background is not drawn, and recognition wants dark on light.
      context.fillStyle = '#ffffff';
      context.fillRect(0, 0, width, height);
      await page.render({ canvasContext: context as never, canvas: canvas as never, viewport, background: '#ffffff' }).promise;
      const pixels = context.getImageData(0, 0, width, height);
      return pnmFromPixels({ width, height, kind: 3, data: pixels.data });
    } finally {
      factory.destroy({ canvas, context });
    }
  } catch {
    return null;
  }
}
interface CanvasFactory {
  create(width: number, height: number): { canvas: unknown; context: { fillStyle: string; fillRect(x: number, y: number, w: number, h: number): void; getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray } } };
  destroy(c: { canvas: unknown; context: unknown }): void;
}

/**
 * Read the text of `bytes` (a PDF), page by page, lines as pdf.js marks them, each page's
 * annotations and form fields after its text. Throws on what is
 * not a PDF or cannot be parsed (pdf.js's own error: InvalidPDFException, PasswordException...).
 */
export async function pdfText(bytes: Uint8Array, opts: PdfTextOptions): Promise<PdfText> {
  const lib = await loadPdfJs();
  paths ??= dataPaths();
  // Before pdf.js takes the bytes over.
  const pictures = !!opts.ocr && !!opts.pictures && mayHoldImageObjects(bytes);
  const warnings = watchWarnings();
  try {
    const doc = await lib.getDocument({
      data: bytes,
      isEvalSupported: false,
      disableFontFace: true,
      useSystemFonts: false,
      useWorkerFetch: false,
      isOffscreenCanvasSupported: false,
      stopAtErrors: false,
      // Warnings, for the images pdf.js leaves out (watchWarnings); none reach the log.
      verbosity: 1,
      maxImageSize: opts.maxImagePixels ?? -1,
      ...paths,
    }).promise;
    try {
      return await readPages(lib, doc, opts, pictures, warnings.removedImages);
    } finally {
      await doc.destroy();
    }
  } finally {
    warnings.stop();
  }
}

type PdfDocument = Awaited<ReturnType<PdfJs['getDocument']>['promise']>;

async function readPages(lib: PdfJs, doc: PdfDocument, opts: PdfTextOptions, pictures: boolean, removedImages: () => number): Promise<PdfText> {
  const pages = doc.numPages;
  const last = Math.min(pages, opts.maxPages);
  let text = '';
  let pagesRead = 0;
  let imagesRecognised = 0;
  let imagesSkipped = 0;
  let ocrOff = false;
  /** A page with next to no text has had images on it: this is a scanned PDF. */
  let sawScan = false;
  /** Images recognised already, by their pixels' hash: a logo or a stamp repeated on every page is read once. */
  const recognised = new Set<string>();
  /** Recognitions spent on pictures of pages with text, and time spent looking for them (ms). */
  let picturesRead = 0;
  let lookingMs = 0;
  const ocrImages = opts.ocr ? opts.ocrImages ?? 0 : 0;
  const textLayer = new TextLayerCheck();
  let pagesRendered = 0;
  for (let n = 1; n <= last && text.length < opts.maxChars; n++) {
    const page = await doc.getPage(n);
    const content = await page.getTextContent();
    /** This page's text alone: a page whose text layer is not language is rendered and recognised. */
    const pageLayer = new TextLayerCheck();
    let pageText = '';
    for (const item of content.items) {
      if (!('str' in item)) continue;
      textLayer.add(item.fontName, item.str, item.width, item.height);
      pageLayer.add(item.fontName, item.str, item.width, item.height);
      pageText += item.str;
      if (item.hasEOL) pageText += '\n';
    }
    // Annotations and form fields: text the model is shown (comments, filled-in fields) that is
    // not in the page's content stream.
    for (const note of await page.getAnnotations({ intent: 'display' })) {
      const text = annotationText(note);
      if (text) pageText += (pageText && !pageText.endsWith('\n') ? '\n' : '') + text + '\n';
    }
    // A page with next to no text of its own is a scan, or a picture of text: recognise its
    // images. On a page with text, its pictures too (`pictures`), while the PDF's recognitions
    // last and looking has not taken PICTURE_LOOKING_MS (decoding a page's images can take a
    // second: a searchable scan has one under every page's text).
    const scan = pageText.replace(/\s+/g, '').length < SCAN_TEXT_CHARS;
    const look = scan || (pictures && lookingMs < PICTURE_LOOKING_MS);
    if (opts.ocr && look && imagesRecognised < ocrImages && !ocrOff) {
      const started = performance.now();
      const removedBefore = removedImages();
      let images = await pageImages(lib, page, scan ? MIN_OCR_PIXELS : MIN_PICTURE_PIXELS);
      if (!scan) {
        lookingMs += performance.now() - started;
        images = images.filter((img) => img.width * img.height <= PICTURE_MAX_PIXELS);
      }
      // Over the pixel bound: left out by pdf.js, never seen, so never read.
      const removed = removedImages() - removedBefore;
      imagesSkipped += removed;
      if (scan && (images.length || removed)) sawScan = true;
      for (const img of images) {
        const key = `${img.width}x${img.height}:${createHash('sha256').update(img.data!).digest('base64url')}`;
        if (recognised.has(key)) continue;
        if (imagesRecognised >= ocrImages || ocrOff) { if (scan) imagesSkipped++; continue; }
        // Made a PNM file only now: each is a copy of a decoded page, megabytes.
        const pnm = pnmFromPixels({ ...img, data: img.data! });
        if (!pnm) continue;
        const seen = await opts.ocr(pnm);
        if (seen === null) { ocrOff = true; if (scan) imagesSkipped++; continue; }
        imagesRecognised++;
        if (!scan) picturesRead++;
        recognised.add(key);
        if (seen) pageText += (pageText && !pageText.endsWith('\n') ? '\n' : '') + seen + '\n';
      }
    } else if (opts.ocr && scan && (sawScan || picturesRead > 0 || ocrOff)) {
      // Further pages with next to no text, once the recognitions are spent (on a scanned PDF's
      // pages, or on pictures: then it may be a scan after decoys) or recognition is unavailable:
      // not even decoded (seconds each), counted as one image each. (A PDF with no scan and no
      // picture read before counts nothing: a short page is not a scan.)
      imagesSkipped++;
    }
    // A text layer that does not read as language (a remapped font): what the page shows is
    // recognised from the page rendered, within the same recognitions.
    if (opts.ocr && !ocrOff && imagesRecognised < ocrImages && pageLayer.verdict() !== null) {
      const pnm = await renderedPage(page, (doc as unknown as { canvasFactory?: CanvasFactory }).canvasFactory, opts.maxImagePixels);
      const seen = pnm ? await opts.ocr(pnm) : null;
      if (pnm && seen === null) ocrOff = true;
      if (seen !== null) {
        imagesRecognised++;
        pagesRendered++;
        if (seen) pageText += (pageText && !pageText.endsWith('\n') ? '\n' : '') + seen + '\n';
      }
    }
    page.cleanup();
    pagesRead++;
    if (pageText.trim()) {
      const add = (text && !text.endsWith('\n') ? '\n' : '') + pageText;
      text += add;
      opts.onPage?.(add);
    }
  }
  return { text: text.length > opts.maxChars ? text.slice(0, opts.maxChars) : text, pages, pagesRead, imagesRecognised, imagesSkipped, unreadableText: textLayer.verdict(), pagesRendered };
}
