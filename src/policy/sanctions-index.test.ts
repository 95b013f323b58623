import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SanctionsIndex } from './sanctions.ts';
import { generateCustomerNames, generateSanctionsEntries } from '../../test/helpers/sanctions-names.ts';

/** A list name with one slip a customer or a clerk makes: letters swapped, dropped, doubled or changed. */
function misspelt(name: string, i: number): string {
  const words = name.replace(/[,"]/g, '').split(/\s+/).filter(Boolean);
  const w = i % words.length, t = words[w];
  if (t.length > 3) {
    const k = 1 + (i % (t.length - 2));
    words[w] = [
      t.slice(0, k) + t[k + 1] + t[k] + t.slice(k + 2),
      t.slice(0, k) + t.slice(k + 1),
      t.slice(0, k) + t[k] + t.slice(k),
      t.slice(0, k) + 'y' + t.slice(k + 1),
      'x' + t.slice(1),
    ][i % 5];
  }
  if (i % 3 === 0) words.push(words.shift()!);
  return words.join(' ');
}

test('the token index finds the same list names, scores and pairs as comparing every list token', () => {
  const entries = generateSanctionsEntries(3_000, 7);
  const index = new SanctionsIndex(entries);
  const listNames = entries.flatMap((e) => e.names);
  const queries = [
    ...generateCustomerNames(1_000, entries, 11),
    ...listNames.filter((_, i) => i % 20 === 0).map(misspelt),
    'Ivan Petrov', 'Mohamed Al Rashid', 'Kim Jong', 'Ab', 'Иван Петров', 'محمد علي',
  ];
  let matched = 0, queriesWithMatches = 0;
  for (const q of queries) {
    for (const threshold of [0.9, 0.75]) {
      const byIndex = index.search(q, threshold), byScan = index.searchByScan(q, threshold);
      assert.deepEqual(byIndex, byScan, `search "${q}" at ${threshold}: the index must find what the scan finds, in the same order`);
      if (threshold === 0.9) { matched += byIndex.length; if (byIndex.length) queriesWithMatches++; }
    }
  }
  // The comparison means something only if many queries do match.
  assert.ok(queriesWithMatches > 100, `expected more than 100 queries to match at 0.9, got ${queriesWithMatches} (${matched} matches)`);
});
