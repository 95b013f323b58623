// The absolute URLs Warden hands out that clients then call with their key (an ended Message
// Batch's `results_url`, which the Anthropic SDK's `batches.results()` fetches with the customer's
// key, and the TAXII discovery's `api_roots`, which partners follow with theirs) name the gateway as
// clients reach it: `server.public_url`, or behind trusted proxies their X-Forwarded-Host and
// X-Forwarded-Proto; never an internal name a proxy put in `Host` (nginx's `proxy_pass` sends its
// upstream's name unless told otherwise).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Anthropic from '@anthropic-ai/sdk';
import { parseConfig } from '../../src/config/index.ts';
import { startTestWarden, type TestWarden } from '../helpers/warden.ts';
import { untilSettled } from '../helpers/batches.ts';

const servers: http.Server[] = [];
const wardens: TestWarden[] = [];
after(async () => {
  for (const s of servers) s.close();
  for (const t of wardens) await t.close();
});

async function listen(server: http.Server): Promise<string> {
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A host clients must never be sent to (the proxy's internal upstream name): records what reaches it. */
async function internalHost(): Promise<{ url: string; seen: { path: string; authorization: string | undefined }[] }> {
  const seen: { path: string; authorization: string | undefined }[] = [];
  const url = await listen(http.createServer((req, res) => {
    seen.push({ path: req.url ?? '', authorization: req.headers.authorization ?? (req.headers['x-api-key'] as string | undefined) });
    res.writeHead(404).end();
  }));
  return { url, seen };
}

/** A reverse proxy in front of `target()`: it sends `host` as the Host header, plus `extra` headers. */
async function proxy(target: () => string, host: string, extra: (self: string) => Record<string, string> = () => ({})): Promise<string> {
  let self = '';
  self = await listen(http.createServer((req, res) => {
    const to = new URL(target());
    const up = http.request({ host: to.hostname, port: to.port, method: req.method, path: req.url, headers: { ...req.headers, host, ...extra(self) } }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', () => res.writeHead(502).end());
    req.pipe(up);
  }));
  return self;
}

async function endedBatch(client: Anthropic) {
  const created = await client.messages.batches.create({ requests: [{ custom_id: 'only', params: { model: 'claude-sonnet-5', max_tokens: 20, messages: [{ role: 'user', content: 'Name a river.' }] } }] });
  return untilSettled(() => client.messages.batches.retrieve(created.id), (b) => b.processing_status === 'ended', (b) => `batch not ended: ${JSON.stringify(b.request_counts)}`, 20_000);
}

async function readResults(client: Anthropic, id: string): Promise<string[]> {
  const ids: string[] = [];
  for await (const line of await client.messages.batches.results(id)) ids.push(line.custom_id);
  return ids;
}

test('server.public_url: a batch read through a proxy that rewrites Host names the public address, and the SDK reads its results there', async () => {
  const internal = await internalHost();
  let wardenUrl = '';
  const front = await proxy(() => wardenUrl, new URL(internal.url).host);
  const t = await startTestWarden({ server: { port: 0, public_url: `${front}/` } });
  wardens.push(t);
  wardenUrl = t.url;
  const client = new Anthropic({ apiKey: (await t.account('alice', 'identity_verified')).key, baseURL: front, maxRetries: 0 });
  const ended = await endedBatch(client);
  assert.equal(ended.results_url, `${front}/v1/messages/batches/${ended.id}/results`, 'results_url is built on server.public_url, its trailing slash dropped');
  assert.deepEqual(await readResults(client, ended.id), ['only'], 'the SDK reads the results through the public address');
  assert.deepEqual(internal.seen, [], 'nothing, and no key, was sent to the name the proxy put in Host');
});

test('behind a trusted proxy, results_url follows its X-Forwarded-Host and X-Forwarded-Proto, not the Host it sent', async () => {
  const internal = await internalHost();
  let wardenUrl = '';
  const front = await proxy(() => wardenUrl, new URL(internal.url).host, (self) => ({ 'x-forwarded-host': new URL(self).host, 'x-forwarded-proto': 'http' }));
  const t = await startTestWarden({ server: { port: 0, trusted_proxies: ['loopback'] } });
  wardens.push(t);
  wardenUrl = t.url;
  const client = new Anthropic({ apiKey: (await t.account('alice', 'identity_verified')).key, baseURL: front, maxRetries: 0 });
  const ended = await endedBatch(client);
  assert.equal(ended.results_url, `${front}/v1/messages/batches/${ended.id}/results`, 'the host the client reached, as the trusted proxy says');
  assert.deepEqual(await readResults(client, ended.id), ['only']);
  assert.deepEqual(internal.seen, [], 'no key sent to the proxy upstream name');
});

test('server.public_url: the TAXII discovery names the public API root', async () => {
  const t = await startTestWarden({ server: { port: 0, public_url: 'https://intel.example.com/gateway' } });
  wardens.push(t);
  const account = await t.admin('/accounts', { name: 'partner', email: 'desk@partner.example', tier: 'enterprise' });
  const key = (await t.admin(`/accounts/${account.id}/keys`, { name: 'taxii', scopes: ['intel:read'] })).secret as string;
  const r = await fetch(`${t.url}/taxii2/`, { headers: { authorization: `Bearer ${key}`, accept: 'application/taxii+json;version=2.1', host: 'warden-internal:8080' } });
  assert.equal(r.status, 200, await r.clone().text());
  const body = await r.json() as { default: string; api_roots: string[] };
  assert.deepEqual(body.api_roots, ['https://intel.example.com/gateway/taxii2/intel/'], 'the root partners reach, not the Host this request carried');
  assert.equal(body.default, 'https://intel.example.com/gateway/taxii2/intel/');
});

test('server.public_url must be an http(s) URL with no query, fragment or credentials', () => {
  for (const bad of ['api.example.com', 'ftp://api.example.com', 'https://api.example.com/?x=1', 'https://api.example.com/#top', 'https://user:pw@api.example.com']) {
    assert.throws(() => parseConfig({ server: { public_url: bad } }), /server\.public_url/, `${bad} is refused`);
  }
  assert.equal(parseConfig({ server: { public_url: 'https://api.example.com' } }).server.public_url, 'https://api.example.com');
  assert.equal(parseConfig({}).server.public_url, null, 'unset by default');
});
