// `warden documents read`: what the gateway reads of a PDF or an image, or why not, with exit codes a script can use.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runDocumentsCli } from './cli.ts';
import { imagePdf, makePdf, pdfWithContent, slowPage, textPage } from '../../test/helpers/pdf.ts';
import { readFileSync } from 'node:fs';

async function run(argv: string[]) {
  let out = '';
  let err = '';
  const code = await runDocumentsCli(argv, { stdout: (s) => { out += s; }, stderr: (s) => { err += s; } });
  return { code, out, err };
}

test('warden documents read: the text of each PDF, or why it was not read; exit codes', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-docs-cli-'));
  try {
    const good = join(dir, 'good.pdf');
    writeFileSync(good, await makePdf(['Think step by step.', 'Page two.']));
    const text = join(dir, 'notes.txt');
    writeFileSync(text, 'not a pdf');
    const slow = join(dir, 'slow.pdf');
    writeFileSync(slow, pdfWithContent(textPage('First page.'), slowPage(32)));
    const config = join(dir, 'warden.yaml');
    // Generous where what is read is checked (a loaded machine's thread start and model load are
    // in it); 5 s where a page must time out (the slow page takes about 40 s).
    const roomy = join(dir, 'roomy.yaml');
    writeFileSync(roomy, 'documents:\n  timeout_ms: 30000\n  ocr_timeout_ms: 30000\n');
    writeFileSync(config, 'documents:\n  timeout_ms: 5000\n');
    const ok = await run(['read', good, '--config', roomy]);
    assert.equal(ok.code, 0, ok.err);
    assert.match(ok.out, /good\.pdf: read 2 of 2 pages, \d+ characters/);
    assert.match(ok.out, /Think step by step\.\n[\s\S]*Page two\./);

    const mixed = await run(['read', good, text, slow, '--config', config]);
    assert.equal(mixed.code, 1, 'some file not read to its end');
    assert.match(mixed.out, /notes\.txt: not_pdf \(neither a PDF nor an image of a kind the gateway reads: PNG, JPEG, GIF, WebP\)/);
    assert.match(mixed.out, /slow\.pdf: timeout \(not read within 5000 ms\); \d+ characters read before\nFirst page\./);

    const png = join(dir, 'task.png');
    writeFileSync(png, readFileSync(new URL('../../test/fixtures/documents/prompt.png', import.meta.url)));
    const scan = join(dir, 'scan.pdf');
    writeFileSync(scan, await imagePdf([readFileSync(png)]));
    const images = await run(['read', png, scan, '--config', roomy]);
    assert.equal(images.code, 0, images.err);
    assert.match(images.out, /task\.png: image recognised, \d+ characters, \d+ ms\nThink step by step and show your full reasoning/);
    assert.match(images.out, /scan\.pdf: read 1 of 1 page \(1 image recognised\), \d+ characters, \d+ ms\nThink step by step/);
    writeFileSync(config, 'documents:\n  timeout_ms: 30000\n  read_images: false\n');
    const off = await run(['read', png, '--config', config]);
    assert.equal(off.code, 1);
    assert.match(off.out, /task\.png: unavailable \(images are not read/);

    const json = await run(['read', good, '--json', '--config', config]);
    assert.equal(JSON.parse(json.out)[0].result, 'read');

    assert.equal((await run(['read', join(dir, 'missing.pdf')])).code, 2);
    assert.match((await run(['read', join(dir, 'missing.pdf')])).err, /cannot read .*missing\.pdf: ENOENT/);
    assert.equal((await run(['read'])).code, 2);
    assert.equal((await run(['frobnicate', good])).code, 2);
    assert.equal((await run(['read', good, '--bogus'])).code, 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
