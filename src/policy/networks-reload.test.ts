// The network lists (Tor exits, VPN ranges, hosting ASNs) reload without a restart: the Tor exit
// list changes hourly, and a node that read it only at start-up let new exits through until restarted.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configSchema } from '../config/schema.ts';
import { startWarden } from '../cli/serve.ts';

const TOKEN = 'network-reload-test-token-0123456789ab';
let w: Awaited<ReturnType<typeof startWarden>>;
let dir: string;
let torFile: string;
let vpnFile: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'warden-net-reload-'));
  torFile = join(dir, 'tor.txt');
  vpnFile = join(dir, 'vpn.txt');
  writeFileSync(torFile, '# exits\n192.0.2.10\n');
  writeFileSync(vpnFile, '198.51.100.0/24 ExampleVPN\n');
  const config = configSchema.parse({
    server: { port: 0 }, store: { sqlite_path: join(dir, 'w.db') }, admin: { token: TOKEN }, log: { level: 'silent' }, ledger: { enabled: false },
    policy: { watch: false, networks: { tor_exits_file: torFile, vpn_ranges_file: vpnFile } },
  });
  w = await startWarden(config, { demo: false, log: () => {} });
});
after(async () => { await w.close(); rmSync(dir, { recursive: true, force: true }); });

const admin = async (method: string, path: string, body?: unknown) => {
  const res = await fetch(`${w.url}/admin${path}`, { method, headers: { authorization: `Bearer ${TOKEN}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
  return { status: res.status, body: await res.json() as any };
};
const chat = async (key: string) => {
  const res = await fetch(`${w.url}/v1/chat/completions`, {
    method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
  });
  return { status: res.status, body: await res.json() as any };
};
const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

test('a Tor exit added to the list is refused after POST /admin/policy/networks/reload, not before; a bad file is refused with file and line and the lists in force stay', async () => {
  const account = (await admin('POST', '/accounts', { name: 'Tor user', tier: 'email_verified' })).body;
  const key = (await admin('POST', `/accounts/${account.id}/keys`, { name: 'k' })).body.secret as string;
  assert.equal((await chat(key)).status, 200, 'the client (127.0.0.1) is not on the Tor list yet');

  const shown = await admin('GET', '/policy/networks');
  assert.equal(shown.status, 200, JSON.stringify(shown.body));
  const tor = shown.body.files.find((f: any) => f.list === 'tor_exits');
  assert.ok(tor && tor.path === torFile && tor.entries === 1 && tor.sha256 === sha256(torFile), `the Tor file in force is shown with its hash and count: ${JSON.stringify(shown.body)}`);

  appendFileSync(torFile, '127.0.0.1\n');
  assert.equal((await chat(key)).status, 200, 'an edited file is not in force until reloaded');

  const reloaded = await admin('POST', '/policy/networks/reload');
  assert.equal(reloaded.status, 200, JSON.stringify(reloaded.body));
  const torAfter = reloaded.body.files.find((f: any) => f.list === 'tor_exits');
  assert.ok(torAfter.entries === 2 && torAfter.sha256 === sha256(torFile), `the reload reports the new file: ${JSON.stringify(reloaded.body)}`);
  const refused = await chat(key);
  assert.equal(refused.status, 403, `the next request from the new exit is refused: ${JSON.stringify(refused.body)}`);

  // A good Tor file and a bad VPN file: nothing is swapped in, not even the good one.
  writeFileSync(torFile, '192.0.2.10\n');
  writeFileSync(vpnFile, '198.51.100.0/24 ExampleVPN\nnot-a-range\n');
  const bad = await admin('POST', '/policy/networks/reload');
  assert.equal(bad.status, 409, JSON.stringify(bad.body));
  assert.ok(bad.body.error.message.includes(`${vpnFile}:2`), `the bad file and line are named: ${bad.body.error.message}`);
  assert.equal((await chat(key)).status, 403, 'the lists in force stay: the Tor exit is still refused');
  const still = await admin('GET', '/policy/networks');
  assert.equal(still.body.files.find((f: any) => f.list === 'tor_exits').sha256, torAfter.sha256, 'the admin API still shows the lists in force');
});
