// docs/errors.md is the reference clients read for the codes they match on: it must name every
// code Warden can send, with its real status and types, and no code that does not exist.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ERROR_CODES } from './index.ts';

const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
/** Table rows: | `CODE` | status | `openai` type | `openai` code or null | `anthropic` | when | */
const rows = new Map<string, string[]>();
for (const line of doc.split('\n')) {
  const m = /^\| `(WARDEN_[A-Z0-9_]+)` \|(.*)\|$/.exec(line);
  if (m) rows.set(m[1]!, m[2]!.split('|').map((c) => c.trim().replace(/^`|`$/g, '')));
}

test('docs/errors.md lists every error code with its status, wire types and OpenAI code', () => {
  for (const [code, spec] of Object.entries(ERROR_CODES)) {
    const row = rows.get(code);
    assert.ok(row, `${code} is missing from docs/errors.md`);
    assert.equal(row[0], String(spec.status), `${code}: docs/errors.md says status ${row[0]}, the code sends ${spec.status}`);
    assert.equal(row[1], spec.openai, `${code}: docs/errors.md says OpenAI type ${row[1]}, the code sends ${spec.openai}`);
    assert.equal(row[2], spec.openaiCode ?? 'null', `${code}: docs/errors.md says OpenAI code ${row[2]}, the code sends ${spec.openaiCode}`);
    assert.equal(row[3], spec.anthropic, `${code}: docs/errors.md says Anthropic type ${row[3]}, the code sends ${spec.anthropic}`);
    assert.ok(row[4] && row[4].length > 10, `${code}: docs/errors.md should say when it is sent`);
  }
});

test('docs/errors.md names no code that Warden does not have', () => {
  const known = new Set(Object.keys(ERROR_CODES));
  const named = new Set(doc.match(/WARDEN_[A-Z0-9_]+/g) ?? []);
  for (const code of named) assert.ok(known.has(code), `docs/errors.md names ${code}, which src/errors does not define`);
});
