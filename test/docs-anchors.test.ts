// A link to a section is how a reader gets from "where each goal stands" to the run behind a
// figure, and from one doc to the part of another that answers the question. GitHub makes each
// heading's anchor from its text, so a heading reworded or a date corrected breaks every link to
// it without a word: these tests name the link and the file it points into.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const files = ['README.md', 'BENCHMARKS.md', ...readdirSync(`${root}docs`).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

interface Heading { level: number; text: string; anchor: string }

// GitHub's anchors: the heading's text lowercased, every character that is not a letter, a mark,
// a digit, an underscore, a space or a hyphen dropped, spaces made hyphens; a repeated anchor
// gets -1, -2, ... in the order the headings come. Headings inside fenced code are not headings.
function headings(markdown: string): Heading[] {
  const seen = new Map<string, number>();
  const out: Heading[] = [];
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) { fenced = !fenced; continue; }
    if (fenced) continue;
    const m = /^(#{1,6})\s+(.*?)\s*#*\s*$/.exec(line);
    if (!m) continue;
    const base = m[2].toLowerCase().replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '').replace(/ /g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.push({ level: m[1].length, text: m[2], anchor: n === 0 ? base : `${base}-${n}` });
  }
  return out;
}

const read = (file: string) => readFileSync(`${root}${file}`, 'utf8');

test('every link to a section of README.md, BENCHMARKS.md or docs/ leads to a heading that exists', () => {
  const anchors = new Map<string, Set<string>>();
  const anchorsOf = (file: string) => {
    if (!anchors.has(file)) anchors.set(file, new Set(headings(read(file)).map((h) => h.anchor)));
    return anchors.get(file)!;
  };
  const broken: string[] = [];
  let links = 0;
  for (const file of files) {
    const dir = file.includes('/') ? file.slice(0, file.lastIndexOf('/') + 1) : '';
    read(file).split('\n').forEach((line, i) => {
      for (const m of line.matchAll(/\]\(([^)\s#]*)#([^)\s]+)\)/g)) {
        const [, target, anchor] = m;
        if (/^[a-z]+:/i.test(target)) continue; // another site's page
        const into = target === '' ? file : new URL(target, `file:///${dir}`).pathname.slice(1);
        links++;
        let known: Set<string>;
        try { known = anchorsOf(into); } catch { broken.push(`${file}:${i + 1}: ${target}#${anchor} (no such file)`); continue; }
        if (!known.has(anchor)) broken.push(`${file}:${i + 1}: #${anchor} is no heading of ${into}`);
      }
    });
  }
  assert.ok(links > 40, `the docs' links to sections were read (${links})`);
  assert.deepEqual(broken, [], 'a heading was renamed or a link mistyped: point the link at the heading as it reads now');
});

test('BENCHMARKS.md opens with where each goal stands, and its contents list every part', () => {
  const all = headings(read('BENCHMARKS.md'));
  const parts = all.filter((h) => h.level === 2);
  assert.equal(parts[0]?.text, 'Where each goal stands', `the first part is ${JSON.stringify(parts[0]?.text)}: a reader looking for the current figure of a goal starts there`);
  const text = read('BENCHMARKS.md');
  const contents = /^## Contents\n([\s\S]*?)(?=^## )/m.exec(text);
  assert.ok(contents, 'BENCHMARKS.md has a "## Contents" part before the figures');
  const listed = new Set([...contents[1].matchAll(/\]\(#([^)\s]+)\)/g)].map((m) => m[1]));
  const missing = parts.filter((p) => p.text !== 'Contents' && !listed.has(p.anchor)).map((p) => p.text);
  assert.deepEqual(missing, [], 'add each new part of BENCHMARKS.md to its Contents');
});
