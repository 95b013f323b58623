import PDFDocument from 'pdfkit';
import { readFileSync, writeFileSync } from 'node:fs';
const doc = new PDFDocument({ autoFirstPage: false });
const chunks: Buffer[] = [];
doc.on('data', (c: Buffer) => chunks.push(c));
const done = new Promise<Buffer>((r) => doc.on('end', () => r(Buffer.concat(chunks))));
for (const f of ['page.jpg', 'shot.png']) { doc.addPage({ size: 'A4', margin: 0 }); doc.image(readFileSync('/tmp/wb/ocr/' + f), 0, 0, { width: 595 }); }
doc.end();
const pdf = await done;
writeFileSync('/tmp/wb/ocr/scan.pdf', pdf);
const lib = await import('pdfjs-dist/legacy/build/pdf.mjs');
const d = await lib.getDocument({ data: new Uint8Array(pdf), isEvalSupported: false, disableFontFace: true, useSystemFonts: false, isOffscreenCanvasSupported: false, verbosity: 0 }).promise;
for (let n = 1; n <= d.numPages; n++) {
  const page = await d.getPage(n);
  const ops = await page.getOperatorList();
  for (let i = 0; i < ops.fnArray.length; i++) {
    const fn = ops.fnArray[i];
    if (fn === lib.OPS.paintImageXObject || fn === lib.OPS.paintInlineImageXObject) {
      const id = ops.argsArray[i][0];
      const o = id.startsWith("g_") ? page.commonObjs : page.objs; console.log("has", o.has(id)); const img: any = o.get(id);
      console.log(n, fn, typeof id === 'string' ? id : 'inline', img.width, img.height, img.kind, img.data?.length, Object.keys(img), img.bitmap ? 'bitmap' : '');
    }
  }
}
