// A sanctioned subdivision refused through a real gateway (client address from X-Forwarded-For
// behind a trusted proxy), the rest of the country served, and the event naming the subdivision
// and the data it came from; and `warden policy explain` saying the same.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHarness, storedEvents, type Harness } from '../../test/helpers/gateway.ts';
import { policyHooks } from './hooks.ts';
import { policyConfigSchema } from './config.ts';
import { watermarkConfigSchema } from '../watermark/config.ts';
import { runPolicyCli } from './cli.ts';

const fx = (name: string) => new URL(`../../test/fixtures/policy/${name}`, import.meta.url).pathname;
const POLICY = 'version: 1\nregions:\n  sanctioned_ua: [UA-43, UA-40, UA-14, UA-09]\nrules:\n  - { id: sanctioned-regions, when: { region: sanctioned_ua }, action: deny, code: region_blocked }\n';
const geo = { country_files: [fx('country-ua.csv')], asn_files: [fx('asn-v4.csv')], subdivision_files: [fx('subdivisions-ua.csv')] };

let dir: string;
let h: Harness;
let hooks: ReturnType<typeof policyHooks>;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'warden-subdiv-gw-'));
  writeFileSync(join(dir, 'policy.yaml'), POLICY);
  hooks = policyHooks({ config: { policy: policyConfigSchema.parse({ file: join(dir, 'policy.yaml'), watch: false, geo }), watermark: watermarkConfigSchema.parse({ enabled: false }) } });
  h = await startHarness({ hooks: [hooks], config: { server: { trusted_proxies: ['127.0.0.1'] } } });
});
after(async () => { await h.close(); rmSync(dir, { recursive: true, force: true }); });

const chat = (clientIp: string) => fetch(`${h.url}/v1/chat/completions`, {
  method: 'POST',
  headers: { 'content-type': 'application/json', authorization: `Bearer ${h.key}`, 'x-forwarded-for': clientIp },
  body: JSON.stringify({ model: 'gpt-test', messages: [{ role: 'user', content: 'Hello' }] }),
});

test('a client in Crimea is refused with WARDEN_REGION_BLOCKED, a client in Kyiv is served, and the event names the rule, the subdivision and the data', async () => {
  const crimea = await chat('192.0.2.10');
  const body = await crimea.json() as { error?: { code?: string; warden_code?: string } };
  assert.equal(crimea.status, 403, 'Crimea must be refused');
  assert.equal(body.error?.warden_code, 'WARDEN_REGION_BLOCKED');
  assert.equal(body.error?.code, 'unsupported_country_region_territory');
  const kyiv = await chat('192.0.2.170');
  assert.equal(kyiv.status, 200, 'the rest of Ukraine must be served');
  await kyiv.text();
  const events = await storedEvents(h, 2);
  const refused = events.find((e) => e.enforcement.policy.includes('refused:region_blocked'));
  assert.ok(refused, 'the refusal is recorded');
  const digest = hooks.runtime.subdivisions!.version.digest.slice(0, 12);
  assert.ok(refused.enforcement.policy.includes('rule:sanctioned-regions'), `${refused.enforcement.policy}`);
  assert.ok(refused.enforcement.policy.includes(`subdivision:UA-43@data:${digest}`), `the event names the subdivision and the data: ${refused.enforcement.policy}`);
  assert.equal(refused.client.country, 'UA');
});

test('warden policy explain reads the deployment\'s subdivision data and says which subdivision decided', async () => {
  const cfg = join(dir, 'warden.yaml');
  writeFileSync(cfg, JSON.stringify({ policy: { file: join(dir, 'policy.yaml'), watch: false, geo } }));
  const out: string[] = [];
  const io = { stdout: (s: string) => { out.push(s); }, stderr: (s: string) => { out.push(s); }, env: {} };
  assert.equal(await runPolicyCli(['explain', '-c', cfg, '--tier', 'unverified', '--ip', '192.0.2.100'], io), 1, 'refused: exit 1');
  const text = out.join('');
  assert.match(text, /subdivision UA-14 \(data [0-9a-f]{12}\)/);
  assert.match(text, /refused: region_blocked by rule:sanctioned-regions/);
  out.length = 0;
  assert.equal(await runPolicyCli(['explain', '-c', cfg, '--tier', 'unverified', '--ip', '192.0.2.170'], io), 0, `Kyiv is allowed: ${out.join('')}`);
  assert.equal(await runPolicyCli(['screen', '-c', cfg, '--claimed-subdivision', 'Crimea'], io), 2, 'a claimed subdivision that is not a code is a usage error');
});
