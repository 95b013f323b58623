// Model globs (`*` matches any run of characters) match in linear time: a customer-chosen model
// name cannot make a pattern with several stars backtrack.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { globMatch } from './capabilities.ts';

test('globs: anchored at both ends, each star any run of characters (none included)', () => {
  const cases: [string, string, boolean][] = [
    ['gpt-*', 'gpt-4o', true], ['gpt-*', 'gpt-', true], ['gpt-*', 'xgpt-4o', false],
    ['*-mini', 'gpt-4o-mini', true], ['*-mini', 'gpt-4o-mini2', false],
    ['gpt-*-*-preview', 'gpt-4o-audio-preview', true], ['gpt-*-*-preview', 'gpt--preview', false], ['gpt-*-*-preview', 'gpt---preview', true],
    ['gpt-*-*-preview', 'gpt-4o-preview', false], ['a*a', 'a', false], ['a*a', 'aa', true], ['a*b*c', 'abc', true], ['a*b*c', 'acb', false],
    ['*', '', true], ['**', 'x', true], ['claude-*-latest', 'claude-3-5-sonnet-latest', true], ['gpt-4.1', 'gpt-4x1', false],
    ['gpt-4.*', 'gpt-4x1', false], ['(x)*', '(x)y', true], ['gpt-?', 'gpt-a', false], ['gpt-?', 'gpt-?', true],
  ];
  for (const [p, v, want] of cases) assert.equal(globMatch(p, v), want, `${p} against ${v}`);
});

test('globs: several stars against a long name that does not match take linear time', { timeout: 30_000 }, () => {
  // A backtracking matcher takes about a second on each (quadratic); three stars would take hours.
  const name = `gpt-${'-'.repeat(20_000)}x`;
  const started = performance.now();
  for (const p of ['gpt-*-*-mini', '*-*-mini']) assert.equal(globMatch(p, name), false, p);
  const ms = performance.now() - started;
  // Linear is milliseconds, quadratic about two seconds: the bound leaves room for a loaded machine.
  assert.ok(ms < 700, `two patterns against a 20,000-character name took ${ms.toFixed(0)} ms`);
  const longer = `gpt-${'-'.repeat(1_000_000)}x`;
  const t0 = performance.now();
  assert.equal(globMatch('gpt-*-*-*-preview', longer), false);
  assert.ok(performance.now() - t0 < 2_000, 'three stars against a 1 MB name: linear too (a backtracking matcher: hours)');
});
