// A customer asked to verify does so: the gateway serves it at once, and the detector reads the new
// tier from its next request instead of keeping the one of its first, so what an operator is told
// about a `verify` verdict on it matches what the gateway does.
import test from 'node:test';
import assert from 'node:assert/strict';
import { startTestWarden } from '../helpers/warden.ts';

test('an account that verifies after a verify verdict is served, and the detector holds it as verified from its next request', async () => {
  const w = await startTestWarden({ detect: { tick_seconds: 0.05 } });
  try {
    const chat = async (key: string) => {
      const r = await fetch(`${w.url}/v1/chat/completions`, {
        method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Summarise the release notes.' }], max_tokens: 5 }),
      });
      return { status: r.status, body: await r.json() as any };
    };
    const verifyVerdict = (id: string) => w.admin('/detect/verdicts', { kind: 'account', id, level: 'verify', note: 'KYC before more traffic' });
    const a = await w.account('labeller', 'email_verified');
    assert.equal((await chat(a.key)).status, 200, 'served before any verdict');
    await w.events((e) => e.account_id === a.id);

    const first = await verifyVerdict(a.id);
    assert.equal(first.not_enforced, undefined, 'verify refuses an account below identity_verified');
    const refused = await chat(a.key);
    assert.equal(refused.body.error?.warden_code, 'WARDEN_VERIFICATION_REQUIRED', `asked to verify: ${JSON.stringify(refused.body)}`);

    await w.admin(`/accounts/${a.id}/tier`, { tier: 'identity_verified', reason: 'identity documents checked' });
    assert.equal((await chat(a.key)).status, 200, 'verified, the account is served at once');
    await w.events((e) => e.account_id === a.id && e.account?.tier === 'identity_verified');
    let warned: any = null;
    for (const deadline = Date.now() + 5000; Date.now() < deadline && !warned; await new Promise((r) => setTimeout(r, 50))) {
      warned = (await verifyVerdict(a.id)).not_enforced ?? null;
    }
    assert.equal(warned?.[0]?.tier, 'identity_verified', `the detector holds the account as verified, and says verify no longer refuses it (${JSON.stringify(warned)})`);
  } finally {
    await w.close();
  }
});
