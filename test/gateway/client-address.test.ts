// The client address behind trusted proxies: an X-Forwarded-For hop is read as an address (a port
// dropped, IPv4-mapped folded), so neither the port a proxy writes nor another spelling evades the
// region rules or the network limits; a hop that is no address falls back to the proxy.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { hopAddress, proxyTrust } from '../../src/gateway/client-address.ts';
import { parseConfig } from '../../src/config/index.ts';
import { startTestWarden, type TestWarden } from '../helpers/warden.ts';

test('a hop is read as an address: port dropped, IPv4-mapped folded, anything else is none', () => {
  assert.equal(hopAddress('203.0.113.9'), '203.0.113.9');
  assert.equal(hopAddress(' 203.0.113.9:41234 '), '203.0.113.9');
  assert.equal(hopAddress('::ffff:203.0.113.9'), '203.0.113.9');
  assert.equal(hopAddress('[::FFFF:203.0.113.9]:80'), '203.0.113.9');
  // the same mapped address spelt in hex, as the canonical IPv6 form writes it
  assert.equal(hopAddress('::ffff:cb00:7109'), '203.0.113.9');
  assert.equal(hopAddress('[0:0:0:0:0:FFFF:CB00:7109]:80'), '203.0.113.9');
  assert.equal(hopAddress('::ffff:102:304'), '1.2.3.4');
  assert.equal(hopAddress('[2001:DB8::1]:443'), '2001:db8::1');
  assert.equal(hopAddress('[2001:db8::1]'), '2001:db8::1');
  assert.equal(hopAddress('2001:db8:0:0:0:0:0:1'), '2001:db8::1');
  for (const bad of ['garbage', 'unknown', '', '203.0.113.9:', '203.0.113.9:port', '203.0.113.999', '[2001:db8::1]x', '[2001:db8::1', '1.2.3.4:5:6']) {
    assert.equal(hopAddress(bad), null, bad);
  }
});

test('trusted proxies: addresses, CIDRs, netmasks and named ranges; a proxy written with its port is still one', () => {
  const trust = proxyTrust(['127.0.0.1', '10.0.0.0/8', '192.168.7.0/255.255.255.0', '2001:db8::/32', 'linklocal']);
  for (const yes of ['127.0.0.1', '127.0.0.1:5555', '::ffff:127.0.0.1', '10.200.1.1', '192.168.7.20', '[2001:db8::5]:443', '169.254.1.1']) assert.ok(trust(yes), yes);
  for (const no of ['127.0.0.2', '192.168.8.1', '2001:db9::1', 'garbage', '']) assert.ok(!trust(no), no);
  assert.throws(() => parseConfig({ server: { trusted_proxies: ['10.0.0.0/8', 'proxy.internal'] } }), /proxy\.internal.*not an IP address/s);
  assert.throws(() => parseConfig({ server: { trusted_proxies: ['10.0.0.0/33'] } }), /not an IP address/);
});

let h: TestWarden;
after(async () => { await h?.close(); });

test('behind a trusted proxy, a port or another spelling of the address neither evades region rules nor network limits', async () => {
  h = await startTestWarden({
    server: { port: 0, trusted_proxies: ['127.0.0.1'] },
    limits: { overrides: [{ scope: 'subnet', subject: '81.2.69.0/24', limits: { rpm: 2, burst: 2 } }] },
  });
  const { key } = await h.account('behind-proxy', 'identity_verified');
  const send = async (xff: string) => {
    const r = await fetch(`${h.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}`, 'x-forwarded-for': xff },
      body: JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }),
    });
    return { status: r.status, body: (await r.json()) as any };
  };
  // An address in an embargoed country, with the port some proxies write.
  const blocked = await send('2.144.0.1:1234');
  assert.equal(blocked.status, 403);
  assert.equal(blocked.body.error.warden_code, 'WARDEN_REGION_BLOCKED');
  // The subnet limit (2) holds whatever the port.
  const statuses = [];
  for (let port = 40001; port <= 40004; port++) statuses.push((await send(`81.2.69.142:${port}`)).status);
  assert.deepEqual(statuses, [200, 200, 429, 429]);
  // nor does the mapped address in hex
  assert.equal((await send('::ffff:5102:458e')).status, 429);
  // Not an address: the proxy is the client (not "garbage", which would be a new client each time).
  assert.equal((await send('garbage')).status, 200);
  assert.equal((await send('::ffff:203.0.113.9')).status, 200);
  assert.equal((await send('[2001:db8::1]:443')).status, 200);
  // A trusted proxy that writes its own hop with a port is still walked past.
  assert.equal((await send('198.51.100.7, 127.0.0.1:5555')).status, 200);

  const events = await h.events(() => true, 11);
  assert.deepEqual(events.map((e) => [e.client.ip, e.client.country, e.response.status]), [
    ['2.144.0.1', 'IR', 403],
    ['81.2.69.142', 'GB', 200], ['81.2.69.142', 'GB', 200], ['81.2.69.142', 'GB', 429], ['81.2.69.142', 'GB', 429], ['81.2.69.142', 'GB', 429],
    ['127.0.0.1', null, 200],
    ['203.0.113.9', null, 200],
    ['2001:db8::1', null, 200],
    ['198.51.100.7', null, 200],
  ]);
});
