// The docs are read by operators in a hurry: a table is for looking things up, one line a row.
// Rules that do not fit in a cell go in a section of their own under the table (as
// docs/event-schema.md's "Field details"), so no cell grows into a page.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const MAX_CELL_CHARS = 700;

test(`no table cell in README.md or docs/ is longer than ${MAX_CELL_CHARS} characters`, () => {
  const files = ['README.md', 'BENCHMARKS.md', ...readdirSync(`${root}docs`).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
  const long: string[] = [];
  let rows = 0;
  for (const file of files) {
    readFileSync(`${root}${file}`, 'utf8').split('\n').forEach((line, i) => {
      if (!line.startsWith('|')) return;
      rows++;
      // Cells are split on pipes not escaped as `\|`.
      for (const cell of line.split(/(?<!\\)\|/).slice(1, -1)) {
        if (cell.trim().length > MAX_CELL_CHARS) long.push(`${file}:${i + 1} (${cell.trim().length} characters: ${cell.trim().slice(0, 60)}...)`);
      }
    });
  }
  assert.ok(rows > 100, `the docs' tables were read (${rows} rows)`);
  assert.deepEqual(long, [], 'move the rule to a section under the table and keep one line in the cell');
});
