// A partner's pinned signing key (cases.partners[].public_key) also guards its feed when the feed
// pins none of its own: as `warden serve` sets them up, a feed named as the partner refuses an
// object the partner did not sign, and says why.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import Fastify from 'fastify';
import { parseConfig } from '../../src/config/index.ts';
import { openStores } from '../../src/cli/stores.ts';
import { setUpCases } from '../../src/cli/cases.ts';
import { mountAdminRoutes } from '../../src/admin/router.ts';
import { DetectorEngine } from '../../src/detect/index.ts';
import { IntelSigner, TAXII_MEDIA_TYPE } from '../../src/cases/index.ts';
import { systemPromptIndicator } from '../helpers/intel.ts';

const KEY = 'shared-intel-key-0123456789abcdef';

const indicator = (value: string) => systemPromptIndicator(KEY, value);

test('a feed without its own public_key is checked with its partner\'s pin', async () => {
  const signerA = IntelSigner.generate();
  const good = signerA.sign(indicator('signed by A'));
  const unsigned = indicator('not signed');
  const feed = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': TAXII_MEDIA_TYPE });
    res.end(JSON.stringify({ more: false, objects: [good, unsigned] }));
  });
  await new Promise<void>((r) => feed.listen(0, '127.0.0.1', r));
  const dir = mkdtempSync(join(tmpdir(), 'warden-partner-pin-'));
  const config = parseConfig({
    store: { sqlite_path: join(dir, 'w.db') }, log: { level: 'silent' },
    cases: {
      sharing_key: KEY, signing_key: IntelSigner.generate().exportPrivate(),
      partners: [{ name: 'Provider A', trust: 'high', public_key: [IntelSigner.generate().publicKey.toString(), signerA.publicKey.toString()] }],
      feeds: [{ name: 'Provider A', url: `http://127.0.0.1:${(feed.address() as AddressInfo).port}/c/`, token: 'partner-token' }],
    },
  });
  const stores = await openStores(config);
  const said: string[] = [];
  const cases = (await setUpCases(config, stores, (l) => said.push(l)))!;
  const app = Fastify();
  await app.register(async (s) => { mountAdminRoutes(s, [cases.adminRoutes(new DetectorEngine({ intel: cases.intel, config: { tick_seconds: 5 } }), null)]); }, { prefix: '/admin' });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  try {
    const res = await fetch(`${url}/admin/intel/feeds/Provider%20A/pull`, { method: 'POST' });
    const body = await res.json() as { error?: { message?: string } };
    assert.equal(res.status, 502, `the poll is not a good one: ${JSON.stringify(body)}`);
    assert.match(JSON.stringify(body), new RegExp(`1 of 2 objects refused.*${unsigned.id}: unsigned, and ed25519:\\w+, ed25519:${signerA.keyId} are pinned`), JSON.stringify(body));
    const ids = cases.intel.list().map((i) => i.id);
    assert.deepEqual(ids, [good.id], `only the signed indicator is matched: ${ids}`);
    assert.ok(!said.some((l) => /WARNING no public key is pinned/.test(l)), `no warning, a key is pinned: ${said.join(' | ')}`);
  } finally {
    await app.close();
    await cases.close();
    await stores.close();
    await new Promise((r) => feed.close(r));
    rmSync(dir, { recursive: true, force: true });
  }
});
