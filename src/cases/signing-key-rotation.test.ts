// This provider's signing key is rotated with an overlap: `warden intel rotate-key` stages a new
// key, the key in force keeps signing for --overlap-days, both public keys are printed and shown by
// GET /admin/intel so partners pin both, and then the new key signs. The staged key is kept in the
// key file, so a restart keeps the plan. Before, there was no command: an operator replaced the key
// and every partner refused what it shared until it pinned the new one.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../config/index.ts';
import { startWarden } from '../cli/serve.ts';
import { runIntelCli } from '../cli/cases-cmd.ts';
import { IntelSigner } from './index.ts';

const o = { type: 'indicator', id: 'indicator--00000000-0000-4000-8000-000000000001', pattern: '[x]' };
const keyIdOf = (x: Record<string, unknown>) => (x.x_warden_signature as { key_id: string }).key_id;

test('a staged key signs from its time on; the key in force until then; the text form keeps both', () => {
  const old = IntelSigner.generate();
  const next = IntelSigner.generate();
  const now = Date.parse('2026-12-01T00:00:00Z');
  const from = now + 14 * 86_400_000;
  const both = old.rotated(next, from, now);
  assert.equal(both.staged(now)?.signer.keyId, next.keyId, 'the new key waits');
  const copy = IntelSigner.parse(both.exportText(now));
  assert.equal(copy.staged(now)?.from, from, 'the text form keeps the staged key and its time');
  assert.equal(copy.staged(now)?.signer.keyId, next.keyId);
  // Which key signs depends on the clock: before `from` the old one, after it the new one.
  assert.equal(keyIdOf(copy.sign(o)), Date.now() < from ? old.keyId : next.keyId);
  const past = old.rotated(next, Date.now() - 1000);
  assert.equal(keyIdOf(past.sign(o)), next.keyId, 'once its time has come the new key signs');
  assert.equal(past.keyId, next.keyId, 'and is the key shown');
  assert.throws(() => both.rotated(IntelSigner.generate(), from + 1, now), /already staged/, 'one rotation at a time');
  assert.throws(() => IntelSigner.parse(`${old.exportPrivate()}\nnext nonsense`), /next ed25519-private:\.\.\. from/);
});

const dir = mkdtempSync(join(tmpdir(), 'warden-signing-rotate-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('warden intel rotate-key stages a new key through the running server: both public keys printed and shown, kept across a restart', { timeout: 120_000 }, async () => {
  const config = parseConfig({
    server: { port: 0 }, store: { sqlite_path: join(dir, 'warden.db') }, log: { level: 'silent' }, ledger: { enabled: false },
    cases: { sharing_key: 'rotate-signing-sharing-key-0123456789' },
  });
  let w = await startWarden(config, { demo: false });
  try {
    const token = readFileSync(join(dir, 'admin-token'), 'utf8').trim();
    const env = { WARDEN_ADMIN_URL: w.url, WARDEN_ADMIN_TOKEN: token };
    const signing = async () => ((await (await fetch(`${w.url}/admin/intel`, { headers: { authorization: `Bearer ${token}` } })).json()) as any).signing;
    const before = await signing();
    assert.equal(before.next, null, 'nothing staged at first');

    const out: string[] = [];
    const code = await runIntelCli(['rotate-key', '--overlap-days', '14'], { out: (t) => out.push(t), err: (t) => out.push(t), env });
    const text = out.join('\n');
    assert.equal(code, 0, text);
    const now = await signing();
    assert.equal(now.key_id, before.key_id, 'the key in force still signs during the overlap');
    assert.ok(now.next && now.next.key_id !== before.key_id, `a new key is staged: ${JSON.stringify(now)}`);
    const days = (Date.parse(now.next.from) - Date.now()) / 86_400_000;
    assert.ok(days > 13.9 && days <= 14, `it signs in 14 days (${days})`);
    assert.ok(text.includes(before.public_key) && text.includes(now.next.public_key), `both public keys printed for partners: ${text}`);
    assert.ok(!/ed25519-private/.test(text), 'never a private key');
    const file = readFileSync(join(dir, 'intel-signing.key'), 'utf8');
    assert.match(file, new RegExp(`^ed25519-private:\\S+\\nnext ed25519-private:\\S+ from ${now.next.from.replace(/[.]/g, '\\.')}\\n$`), 'the key file holds both, the new one with its time');

    const again: string[] = [];
    assert.equal(await runIntelCli(['rotate-key'], { out: (t) => again.push(t), err: (t) => again.push(t), env }), 1, 'a second rotation during the overlap is refused');
    assert.match(again.join('\n'), /already staged/);

    await w.close();
    w = await startWarden(config, { demo: false });
    const restarted = await signing();
    assert.deepEqual(restarted, now, 'the plan survives a restart');
  } finally {
    await w.close();
  }
});
