// `warden scan --cases` signs the bundles it writes with this provider's signing key, read as
// `warden serve` reads it (cases.signing_key, else intel-signing.key beside the database) or from
// --signing-key FILE, so that a bundle made offline is taken in by a partner that pins the key
// (`warden intel import --public-key`). Before, those bundles were unsigned and such a partner
// refused every object. Without any key the bundle is written unsigned and the summary says so.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { buildLabelledEvents, type PromptPool } from '../detect/index.ts';
import { runScan } from '../cli/scan-cmd.ts';
import { checkSigned, IntelSigner } from './index.ts';

const KEY = 'scan-signing-sharing-key-0123456789';
const dir = mkdtempSync(join(tmpdir(), 'warden-scan-signed-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const pool = JSON.parse(readFileSync(new URL('../../test/fixtures/detect/prompts.json', import.meta.url), 'utf8')) as PromptPool;
const scenario = buildLabelledEvents(pool, { seed: 5, days: 2, organic: { hobbyist: 10 }, campaigns: [{ kind: 'hydra', accounts: 12 }] });
const logs = join(dir, 'events.jsonl');
writeFileSync(logs, scenario.events.map((e) => JSON.stringify(e)).join('\n') + '\n');

async function scan(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; err: string; bundles: Array<{ objects: Array<Record<string, unknown>> }> }> {
  const out = join(dir, `out-${Math.random().toString(36).slice(2)}`);
  const chunks: string[] = [];
  const sink = (into: string[]) => new Writable({ write(c, _e, cb) { into.push(String(c)); cb(); } });
  const code = await runScan([logs, '--cases', out, ...args], { stdout: sink([]), stderr: sink(chunks), env });
  const files = code === 0 ? readdirSync(out).filter((f) => f.endsWith('.stix.json')) : [];
  return { code, err: chunks.join(''), bundles: files.map((f) => JSON.parse(readFileSync(join(out, f), 'utf8'))) };
}

const signedBy = async (bundles: Array<{ objects: unknown[] }>, signer: IntelSigner) => {
  const objects = bundles.flatMap((b) => b.objects);
  const { refused } = await checkSigned(objects, [signer.publicKey]);
  return { objects: objects.length, refused };
};

test('warden scan --cases signs its bundles with the key the server uses, or the file --signing-key names; a partner pinning it takes every object in', { timeout: 180_000 }, async () => {
  const signer = IntelSigner.generate();
  const keyFile = join(dir, 'offline.key');
  writeFileSync(keyFile, signer.exportPrivate() + '\n', { mode: 0o600 });
  const byFlag = await scan(['--signing-key', keyFile], { WARDEN_INTEL_KEY: KEY });
  assert.equal(byFlag.code, 0, byFlag.err);
  assert.ok(byFlag.bundles.length >= 1, `a bundle is written: ${byFlag.err}`);
  const checked = await signedBy(byFlag.bundles, signer);
  assert.ok(checked.objects > 0 && checked.refused.length === 0, `every object checks against the pinned key: ${JSON.stringify(checked.refused.slice(0, 2))}`);
  assert.match(byFlag.err, new RegExp(`STIX bundle signed with key ${signer.keyId}`));

  // The server's own key: the file beside the configured database (what warden serve wrote).
  const served = IntelSigner.generate();
  mkdirSync(join(dir, 'data'), { recursive: true });
  writeFileSync(join(dir, 'data', 'intel-signing.key'), served.exportPrivate() + '\n', { mode: 0o600 });
  const config = join(dir, 'w.yaml');
  writeFileSync(config, `store: {sqlite_path: ${JSON.stringify(join(dir, 'data', 'warden.db'))}}\ncases: {sharing_key: ${KEY}}\n`);
  const byServerFile = await scan(['--config', config], {});
  assert.equal(byServerFile.code, 0, byServerFile.err);
  assert.equal((await signedBy(byServerFile.bundles, served)).refused.length, 0, 'signed with the key warden serve uses');
  // cases.signing_key wins over the file, as for the server.
  writeFileSync(config, `store: {sqlite_path: ${JSON.stringify(join(dir, 'data', 'warden.db'))}}\ncases: {sharing_key: ${KEY}, signing_key: env:SCAN_SIGNING_KEY}\n`);
  const byConfig = await scan(['--config', config], { SCAN_SIGNING_KEY: signer.exportPrivate() });
  assert.equal((await signedBy(byConfig.bundles, signer)).refused.length, 0, 'signed with cases.signing_key');

  // No key anywhere: written unsigned, and said so; a bad key file is an error, not an unsigned bundle.
  const none = await scan([], { WARDEN_INTEL_KEY: KEY, WARDEN_STORE__SQLITE_PATH: join(dir, 'nowhere', 'warden.db') });
  assert.equal(none.code, 0, none.err);
  assert.match(none.err, /unsigned: no signing key/);
  assert.ok(none.bundles.flatMap((b) => b.objects).every((o) => !('x_warden_signature' in o)));
  writeFileSync(join(dir, 'bad.key'), 'not a key\n');
  const bad = await scan(['--signing-key', join(dir, 'bad.key')], { WARDEN_INTEL_KEY: KEY });
  assert.equal(bad.code, 2, `a key file that is not a key is refused: ${bad.err}`);
  assert.match(bad.err, /--signing-key .*bad\.key: a signing key is "ed25519-private:"/);
});
