/**
 * PDFs for tests, made by a real producer (pdfkit: compressed content streams, font resources,
 * cross-reference table) rather than by hand, so the reader meets what clients upload.
 */
import { createDeflate, deflateSync } from 'node:zlib';
import PDFDocument from 'pdfkit';

export interface MakePdfOptions {
  /** Compress content streams (FlateDecode), as producers do by default. */
  compress?: boolean;
  /** A TrueType font file to embed (subset, with its ToUnicode map); default: Helvetica, not embedded. */
  font?: string;
}

/** A pdfkit document (no page yet, a fixed creation date) and its bytes once it is ended. */
function pdfkitDocument(compress = true): { doc: PDFKit.PDFDocument; done: Promise<Buffer> } {
  const doc = new PDFDocument({ compress, autoFirstPage: false, info: { CreationDate: new Date(0) } });
  const chunks: Buffer[] = [];
  doc.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise<Buffer>((resolve, reject) => {
    doc.on('end', () => resolve(Buffer.concat(chunks)));
    doc.on('error', reject);
  });
  return { doc, done };
}

/** A PDF with one page per string. */
export function makePdf(pages: string[], opts: MakePdfOptions = {}): Promise<Buffer> {
  const { doc, done } = pdfkitDocument(opts.compress ?? true);
  for (const text of pages) {
    doc.addPage();
    doc.font(opts.font ?? 'Helvetica').fontSize(11).text(text);
  }
  doc.end();
  return done;
}

/** `mb` MB of spaces, deflated (about 1 KB per MB), made without holding them all in memory. */
export async function deflatedSpaces(mb: number): Promise<Buffer> {
  const deflate = createDeflate({ level: 9 });
  const out: Buffer[] = [];
  deflate.on('data', (c: Buffer) => out.push(c));
  const done = new Promise<void>((resolve, reject) => { deflate.on('end', resolve); deflate.on('error', reject); });
  const chunk = Buffer.alloc(1024 * 1024, 0x20);
  for (let i = 0; i < mb; i++) if (!deflate.write(chunk)) await new Promise((r) => deflate.once('drain', r));
  deflate.end();
  await done;
  return Buffer.concat(out);
}

/**
 * A slow PDF: one page whose content stream inflates to `mb` MB of text
 * operators (about 5 KB compressed per MB). pdf.js reads 64 MB of it for 7-25 s before it runs out
 * of a 64-256 MB heap (measured, 2-core VM).
 */
export function slowPdf(mb: number): Buffer {
  return pdfWithContent(slowPage(mb));
}

/**
 * A PDF with one page per stream (each already deflated: a page's content operators), written
 * by hand with a correct cross-reference table, for pages no producer would write.
 */
export function pdfWithContent(...streams: Buffer[]): Buffer {
  return pdfWithPages(streams.map((content) => ({ content })));
}

/** One page of pdfWithPages: its content stream (deflated), and annotation dictionaries shown on it. */
export interface HandPage { content: Buffer; annotations?: string[] }

/** A PDF of hand-written pages, annotations included (comments, free text, form fields). */
export function pdfWithPages(pages: HandPage[]): Buffer {
  const streams = pages.map((p) => p.content);
  // 1 catalog, 2 pages, 3 font, then a page object and its content stream for each page.
  const pageIds = streams.map((_, i) => 4 + 2 * i);
  const objects: HandObject[] = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    `<< /Type /Pages /Kids [${pageIds.map((id) => `${id} 0 R`).join(' ')}] /Count ${streams.length} >>`,
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>',
  ];
  const annotations: string[] = [];
  const annotationIds = pages.map((p) => (p.annotations ?? []).map((a) => { annotations.push(a); return 3 + 2 * pages.length + annotations.length; }));
  streams.forEach((stream, i) => {
    const annots = annotationIds[i].length ? ` /Annots [${annotationIds[i].map((id) => `${id} 0 R`).join(' ')}]` : '';
    objects.push(`<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> /Contents ${pageIds[i] + 1} 0 R${annots} >>`);
    objects.push(stream);
  });
  objects.push(...annotations);
  return handWritten(objects);
}

/** A page's content stream showing `text` in Helvetica (ASCII), deflated. */
export function textPage(text: string): Buffer {
  const escaped = text.replace(/[\\()]/g, (c) => `\\${c}`);
  return deflateSync(Buffer.from(`BT /F1 12 Tf 72 712 Td (${escaped}) Tj ET\n`, 'latin1'));
}

/** The deflated content stream of slowPdf(mb), for a slow page among others. */
export function slowPage(mb: number): Buffer {
  const op = Buffer.from('BT /F1 12 Tf 72 712 Td (aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa) Tj ET\n');
  const big = Buffer.alloc(mb * 1024 * 1024);
  for (let i = 0; i + op.length <= big.length; i += op.length) op.copy(big, i);
  return deflateSync(big, { level: 1 });
}

/**
 * A scanned page: a one-page PDF that only paints an image (no text layer), as a scanner writes
 * it. `bits` 1 is a black-and-white scan (1 = white, rows padded to whole bytes), 8 a greyscale
 * one; `pixels` is the raw image, deflated here.
 */
export function scannedPdf(width: number, height: number, bits: 1 | 8, pixels: Buffer, opts: { mask?: boolean; thenPages?: Buffer[] } = {}): Buffer {
  const image = deflateSync(pixels);
  const content = deflateSync(Buffer.from(`q 612 0 0 ${Math.round((612 * height) / width)} 0 0 cm /Im1 Do Q\n`, 'latin1'));
  // 1 catalog, 2 pages, 3 the scanned page, 4 its content, 5 its image, 6 a font, then a page and a content stream for each of `thenPages`.
  const more = opts.thenPages ?? [];
  const kids = [3, ...more.map((_, i) => 7 + 2 * i)];
  // An image mask paints the page's fill colour (black) where its samples are 0.
  const kind = opts.mask ? '/ImageMask true /BitsPerComponent 1' : `/ColorSpace /DeviceGray /BitsPerComponent ${bits}`;
  return handWritten([
    '<< /Type /Catalog /Pages 2 0 R >>',
    `<< /Type /Pages /Kids [${kids.map((k) => `${k} 0 R`).join(' ')}] /Count ${kids.length} >>`,
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /XObject << /Im1 5 0 R >> >> /Contents 4 0 R >>',
    content,
    { dict: `/Type /XObject /Subtype /Image /Width ${width} /Height ${height} ${kind}`, stream: image },
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>',
    ...more.flatMap((stream, i) => [`<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 6 0 R >> >> /Contents ${8 + 2 * i} 0 R >>`, stream]),
  ]);
}

/**
 * A PDF whose pages each show one image (PNG or JPEG, as pdfkit embeds them) with no text, a
 * picture of a document; a string among them is a typed page.
 */
export function imagePdf(images: (Buffer | string | { text: string; image: Buffer })[]): Promise<Buffer> {
  const { doc, done } = pdfkitDocument();
  for (const img of images) {
    if (typeof img === 'string') {
      doc.addPage();
      doc.font('Helvetica').fontSize(11).text(img);
      continue;
    }
    if (!Buffer.isBuffer(img)) {
      doc.addPage();
      doc.font('Helvetica').fontSize(11).text(img.text);
      doc.image(img.image, 72, 400, { width: 450 });
      continue;
    }
    doc.addPage({ size: 'A4', margin: 0 });
    doc.image(img, 0, 0, { width: 595 });
  }
  doc.end();
  return done;
}

/**
 * A one-page PDF showing `cover` in plain Helvetica and, below it, `hidden` in Helvetica whose
 * ToUnicode map says each byte is another character (`remap`): a viewer, and a model shown the
 * page, sees `hidden`; text extraction reads what the map says. ToUnicode maps the codes that
 * `hidden` uses only (as a producer writes one for a subset font).
 */
export function remappedTextPdf(cover: string, hidden: string, remap: (code: number) => number): Buffer {
  const codes = [...new Set([...hidden].map((c) => c.charCodeAt(0)))].sort((a, b) => a - b);
  const hex = (n: number, width: number) => n.toString(16).toUpperCase().padStart(width, '0');
  const cmap = [
    '/CIDInit /ProcSet findresource begin', '12 dict begin', 'begincmap',
    '/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def', '/CMapName /Adobe-Identity-UCS def', '/CMapType 2 def',
    '1 begincodespacerange', '<00> <FF>', 'endcodespacerange',
    `${codes.length} beginbfchar`, ...codes.map((c) => `<${hex(c, 2)}> <${hex(remap(c), 4)}>`), 'endbfchar',
    'endcmap', 'CMapName currentdict /CMap defineresource pop', 'end', 'end',
  ].join('\n');
  const esc = (s: string) => s.replace(/[\\()]/g, (c) => `\\${c}`);
  const lines = (font: string, text: string, y: number) => text.match(/.{1,80}(?:\s|$)/g)!.map((line, i) => `BT /${font} 11 Tf 72 ${y - 14 * i} Td (${esc(line.trimEnd())}) Tj ET`).join('\n');
  const content = deflateSync(Buffer.from(`${cover ? lines('F1', cover, 720) : ''}\n${lines('F2', hidden, 560)}\n`, 'latin1'));
  const cmapStream = deflateSync(Buffer.from(cmap, 'latin1'));
  const objects: HandObject[] = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 5 0 R /F2 6 0 R >> >> /Contents 4 0 R >>',
    content,
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>',
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding /ToUnicode 7 0 R >>',
    cmapStream,
  ];
  return handWritten(objects);
}

/**
 * One object of a hand-written PDF: a dictionary (or other value) as written, a deflated stream,
 * or a deflated stream whose dictionary has entries besides its length and filter.
 */
type HandObject = string | Buffer | { dict: string; stream: Buffer };

/** A PDF of these objects (numbered from 1), with a correct cross-reference table. */
function handWritten(objects: HandObject[]): Buffer {
  const parts: Buffer[] = [];
  const offsets: number[] = [];
  let length = 0;
  const push = (b: Buffer | string) => { const buf = typeof b === 'string' ? Buffer.from(b, 'latin1') : b; parts.push(buf); length += buf.length; };
  push('%PDF-1.7\n');
  objects.forEach((body, i) => {
    offsets.push(length);
    if (typeof body !== 'string') {
      const { dict, stream } = Buffer.isBuffer(body) ? { dict: '', stream: body } : { dict: `${body.dict} `, stream: body.stream };
      push(`${i + 1} 0 obj\n<< ${dict}/Length ${stream.length} /Filter /FlateDecode >>\nstream\n`);
      push(stream);
      push('\nendstream\nendobj\n');
    } else {
      push(`${i + 1} 0 obj\n${body}\nendobj\n`);
    }
  });
  const xref = length;
  push(`xref\n0 ${objects.length + 1}\n0000000000 65535 f \n${offsets.map((o) => `${String(o).padStart(10, '0')} 00000 n \n`).join('')}`);
  push(`trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`);
  return Buffer.concat(parts);
}

/**
 * A classic PDF (cross-reference table, no image object) whose one page shows `text` and, below
 * it, an inline image (`BI ... ID ... EI` inside the page's compressed content stream): 8-bit
 * grey pixels, hex-encoded (ASCIIHexDecode).
 */
export function inlineImagePdf(text: string, width: number, height: number, grey: Buffer): Buffer {
  const escaped = text.replace(/[\\()]/g, (c) => `\\${c}`);
  const drawn = Math.round((450 * height) / width);
  const content = deflateSync(Buffer.from(
    `BT /F1 11 Tf 72 720 Td (${escaped}) Tj ET\nq 450 0 0 ${drawn} 72 400 cm\nBI /W ${width} /H ${height} /CS /G /BPC 8 /F /AHx\nID ${grey.toString('hex')}>\nEI\nQ\n`,
    'latin1',
  ));
  return pdfWithContent(content);
}
