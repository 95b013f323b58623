// The shipped policy sends refused customers to example.com (its verification page and appeal
// address are placeholders). A deployment that keeps them tells its customers to appeal to an
// address nobody reads: the start-up log and `warden policy check` say so, naming the settings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPolicyRuntime, shippedFile } from './hooks.ts';
import { policyConfigSchema } from './config.ts';
import { watermarkConfigSchema } from '../watermark/config.ts';
import { runPolicyCli } from './cli.ts';

function runtimeWarnings(file: string | null): string[] {
  const warnings: string[] = [];
  const rt = createPolicyRuntime({
    policy: policyConfigSchema.parse({ watch: false, file, geo: { enabled: false } }),
    watermark: watermarkConfigSchema.parse({}),
  }, { log: { info: () => {}, warn: (_o: object, msg: string) => { warnings.push(msg); }, error: (_o: object, msg: string) => { warnings.push(msg); } } });
  rt.close();
  return warnings;
}

async function check(file?: string): Promise<{ code: number; out: string; err: string }> {
  const o = { out: '', err: '' };
  const code = await runPolicyCli(['check', ...(file ? [file] : [])], { stdout: (s) => { o.out += s; }, stderr: (s) => { o.err += s; }, env: {} });
  return { code, ...o };
}

test('the shipped placeholders are named at start and by policy check; a policy with real contacts is quiet', async () => {
  const shipped = runtimeWarnings(null).filter((w) => /placeholder/.test(w));
  assert.equal(shipped.length, 1, `one warning: ${shipped.join(' | ')}`);
  assert.match(shipped[0], /messages\.verify_url https:\/\/example\.com\/account\/verify/);
  assert.match(shipped[0], /messages\.appeal_contact trust@example\.com/);
  assert.match(shipped[0], /policy\.file/, 'says where to put the own values');

  const c = await check();
  assert.equal(c.code, 0, 'still valid: the placeholders are a warning, not an error');
  assert.match(c.out, /valid/);
  assert.match(c.err, /WARNING: .*messages\.appeal_contact trust@example\.com/);

  const dir = mkdtempSync(join(tmpdir(), 'warden-policy-contacts-'));
  try {
    const own = join(dir, 'policy.yaml');
    writeFileSync(own, readFileSync(shippedFile('policy/default.yaml'), 'utf8')
      .replace('https://example.com/account/verify', 'https://ai.acme.test/verify')
      .replace('trust@example.com', 'trust@acme.test'));
    assert.deepEqual(runtimeWarnings(own).filter((w) => /placeholder/.test(w)), [], 'no warning once both are set');
    const ownCheck = await check(own);
    assert.equal(ownCheck.code, 0);
    assert.doesNotMatch(ownCheck.err, /placeholder/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
