/**
 * PDFs for tests, made by a real producer (pdfkit: compressed content streams, font resources,
 * cross-reference table) rather than by hand, so the reader meets what clients upload.
 */
import PDFDocument from 'pdfkit';

export interface MakePdfOptions {
  /** Compress content streams (FlateDecode), as producers do by default. */
  compress?: boolean;
  /** A TrueType font file to embed (subset, with its ToUnicode map); default: Helvetica, not embedded. */
  font?: string;
}

/** A PDF with one page per string. */
export function makePdf(pages: string[], opts: MakePdfOptions = {}): Promise<Buffer> {
  const doc = new PDFDocument({ compress: opts.compress ?? true, autoFirstPage: false, info: { CreationDate: new Date(0) } });
  const chunks: Buffer[] = [];
  doc.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise<Buffer>((resolve, reject) => {
    doc.on('end', () => resolve(Buffer.concat(chunks)));
    doc.on('error', reject);
  });
  for (const text of pages) {
    doc.addPage();
    doc.font(opts.font ?? 'Helvetica').fontSize(11).text(text);
  }
  doc.end();
  return done;
}
