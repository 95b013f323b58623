import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PolicyStore } from './policy-store.ts';
import { PolicyFileError } from './policy-file.ts';

const facts = { tier: 'unverified', accountTier: 'unverified', programme: 'none', accountId: 'a', orgId: null, model: 'm', flavour: 'openai.chat', country: 'DE', claimedCountry: null, asn: null, networks: [], verdict: 'none' } as const;
const waitFor = async (cond: () => boolean, ms = 3000) => {
  const t0 = Date.now();
  while (!cond()) { if (Date.now() - t0 > ms) throw new Error('timed out'); await new Promise((r) => setTimeout(r, 10)); }
};

test('hot reload: a valid edit takes effect; a bad edit is rejected and the previous policy stays whole', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-policy-'));
  const file = join(dir, 'policy.yaml');
  writeFileSync(file, 'version: 1\ndefaults: { reasoning: full, n_max: 4 }\n');
  const results: boolean[] = [];
  const store = new PolicyStore(file, { watch: true, debounceMs: 20, onReload: (r) => results.push(r.ok) });
  try {
    assert.equal(store.current.evaluate(facts).capabilities.reasoning, 'full');
    writeFileSync(file, 'version: 1\ndefaults: { reasoning: none, n_max: 2 }\n');
    await waitFor(() => store.current.evaluate(facts).capabilities.reasoning === 'none');
    assert.equal(store.current.evaluate(facts).capabilities.n_max, 2);
    // A half-valid file: the first key changes, the second is wrong. Nothing of it applies.
    const before = store.current;
    const n = results.length;
    writeFileSync(file, 'version: 1\ndefaults: { reasoning: full, n_max: 0 }\n');
    await waitFor(() => results.length > n);
    assert.equal(results.at(-1), false);
    assert.equal(store.current, before);
    assert.equal(store.current.evaluate(facts).capabilities.reasoning, 'none');
    assert.ok(store.lastError instanceof PolicyFileError);
    assert.match(store.lastError!.message, /defaults\.n_max/);
    // Editors that save by rename are seen too.
    writeFileSync(join(dir, 'policy.yaml.tmp'), 'version: 1\ndefaults: { reasoning: summary }\n');
    renameSync(join(dir, 'policy.yaml.tmp'), file);
    await waitFor(() => store.current.evaluate(facts).capabilities.reasoning === 'summary');
    assert.equal(store.lastError, null);
  } finally {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('startup with a bad policy fails loudly', () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-policy-'));
  const file = join(dir, 'policy.yaml');
  writeFileSync(file, 'version: 1\nrules: [{ id: x, action: explode }]\n');
  try {
    assert.throws(() => new PolicyStore(file), (err: unknown) => err instanceof PolicyFileError && /rules\.0\.action/.test(err.message));
  } finally { rmSync(dir, { recursive: true, force: true }); }
});
