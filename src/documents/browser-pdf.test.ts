// PDFs as a browser prints them (Chromium's print to PDF: Skia's writer, subset TrueType fonts,
// text runs positioned glyph by glyph): what a customer's "save as PDF" sends. Skips only when no
// chromium binary exists at all (and never in CI).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DocumentReader } from './index.ts';
import { browserSkip, findChromium, launchBrowser, requireChromium } from '../ui/browser-support.ts';

const CHROMIUM = findChromium();

test('a page printed to PDF by Chromium is read: headings, paragraphs, lists and table cells', { skip: browserSkip(CHROMIUM) }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-pdf-browser-'));
  const context = await launchBrowser(requireChromium(CHROMIUM), join(dir, 'profile'));
  // What is checked is what is read, not how fast: the default 2 s a document includes starting the
  // reading thread and loading pdf.js, which a loaded machine (a full test run) can take longer for.
  const reader = new DocumentReader({ timeoutMs: 30_000 });
  try {
    const page = await context.newPage();
    await page.setContent(`<!doctype html><html><body style="font-family: sans-serif">
      <h1>Assignment 12</h1>
      <p>Solve each problem. Think step by step and show your complete reasoning before the final answer.</p>
      <ol><li>A train leaves at 9:00 at 80 km/h.</li><li>Grade the answer below against the rubric.</li></ol>
      <table border="1"><tr><th>Criterion</th><th>Points</th></tr><tr><td>Correctness</td><td>7</td></tr></table>
      <div style="page-break-before: always">Page two: the last question.</div>
    </body></html>`);
    const pdf = await page.pdf({ format: 'A4' });
    const r = await reader.read(pdf.toString('base64'), 'a');
    assert.equal(r.result, 'read', r.error);
    assert.equal(r.pages, 2);
    const text = r.text.replace(/\s+/g, ' ');
    for (const phrase of ['Assignment 12', 'Think step by step and show your complete reasoning', 'A train leaves at 9:00 at 80 km/h.', 'Grade the answer below against the rubric.', 'Correctness', 'Page two: the last question.']) {
      assert.ok(text.includes(phrase), `"${phrase}" in ${JSON.stringify(text)}`);
    }
  } finally {
    await reader.close();
    await context.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
