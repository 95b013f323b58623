/**
 * A partner reading a published collection over TAXII 2.1, against reading the same objects
 * straight from the store.
 *
 *  - baseline: the store's pages of 1,000 (what the server reads), serialised to JSON;
 *  - pages: the same collection over HTTP, page by page with `next`, parsed (authentication, the
 *    TAXII filters and envelope included), no import;
 *  - poll: a whole feed poll as `cases.feeds` does it: pages, then every indicator taken in
 *    (stored in SQLite, added to the detector's indicators);
 *  - signed pages, signed poll: the same from a server that signs every object it serves
 *    (`cases.signing_key`), polled by a feed that pins its key (`cases.feeds[].public_key`) and so
 *    checks every signature.
 * Alternated, `--rounds` times; the figures are medians and their ratio to the baseline.
 *
 *   node --import tsx bench/taxii.ts [--indicators 10000] [--rounds 5]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import Fastify from 'fastify';
import { parseConfig } from '../src/config/index.ts';
import { openIdentityStore, createAuthenticator } from '../src/identity/index.ts';
import { openSqlite } from '../src/store/index.ts';
import { SharedIndicators, keyedHash, sharingKeyId } from '../src/detect/index.ts';
import { FeedPoller, IntelSigner, SqliteCaseStore, registerTaxiiServer, stixId, PUBLISHED_COLLECTION, TAXII_MEDIA_TYPE, type PublishedObject } from '../src/cases/index.ts';
import { machine, median } from './lib.ts';

const { values } = parseArgs({ options: { indicators: { type: 'string', default: '10000' }, rounds: { type: 'string', default: '5' } } });
const N = Number(values.indicators);
const rounds = Number(values.rounds);
const KEY = 'bench-sharing-key-0123456789';
const dir = mkdtempSync(join(tmpdir(), 'warden-bench-taxii-'));

// Provider A: N indicators of one campaign, each with its `indicates` relationship, published in batches.
const store = new SqliteCaseStore(openSqlite(join(dir, 'a.db')));
const now = new Date().toISOString();
const until = new Date(Date.now() + 90 * 86_400_000).toISOString();
const identity = { type: 'identity', spec_version: '2.1', id: stixId('identity', 'A'), created: now, modified: now, name: 'Provider A', identity_class: 'organization' };
const campaign = { type: 'campaign', spec_version: '2.1', id: stixId('campaign', 'A', 'c1'), created_by_ref: identity.id, created: now, modified: now, name: 'bench campaign' };
await store.publish(PUBLISHED_COLLECTION, [identity, campaign].map((body) => ({ body, caseId: 'case_bench' })));
const kinds = ['system_prompt', 'client_subnet', 'user_agent', 'tool_set'] as const;
for (let i = 0; i < N; i += 1000) {
  const batch: Array<{ body: PublishedObject['body']; caseId: string }> = [];
  for (let j = i; j < Math.min(N, i + 1000); j++) {
    const kind = kinds[j % kinds.length];
    const hmac = keyedHash(KEY, kind, randomBytes(12).toString('hex'));
    const id = stixId('indicator', 'A', kind, hmac);
    batch.push({ caseId: 'case_bench', body: {
      type: 'indicator', spec_version: '2.1', id, created_by_ref: identity.id, created: now, modified: now, name: `${kind} shared by 3 accounts of the campaign`,
      indicator_types: ['malicious-activity'], pattern_type: 'stix', pattern_version: '2.1', pattern: `[x-warden-keyed-hash:kind = '${kind}' AND x-warden-keyed-hash:hmac = '${hmac}']`,
      valid_from: now, valid_until: until, confidence: 60, x_warden_key_id: sharingKeyId(KEY), x_warden_holders: 3,
    } });
    batch.push({ caseId: 'case_bench', body: { type: 'relationship', spec_version: '2.1', id: stixId('relationship', id, campaign.id), created_by_ref: identity.id, created: now, modified: now, relationship_type: 'indicates', source_ref: id, target_ref: campaign.id } });
  }
  await store.publish(PUBLISHED_COLLECTION, batch);
}
const objects = 2 + 2 * N;

const config = parseConfig({ store: { sqlite_path: join(dir, 'identity.db') }, log: { level: 'silent' } });
const ids = openIdentityStore(config);
const auth = createAuthenticator(ids, config);
const partner = await ids.createAccount({ name: 'Provider B' });
const key = (await ids.createKey(partner.id, { scopes: ['intel:read'] })).secret;
const app = Fastify();
await app.register(async (s) => registerTaxiiServer(s, { store, intel: new SharedIndicators(KEY), sharingKey: KEY, provider: 'Provider A', importLevel: 'throttle', maxContentLength: 1 << 20, authenticate: (x) => auth.authenticate(x) }), { prefix: '/taxii2' });
const base = await app.listen({ port: 0, host: '127.0.0.1' });
const signer = IntelSigner.generate();
const signingApp = Fastify();
await signingApp.register(async (s) => registerTaxiiServer(s, { store, intel: new SharedIndicators(KEY), sharingKey: KEY, provider: 'Provider A', importLevel: 'throttle', maxContentLength: 1 << 20, authenticate: (x) => auth.authenticate(x), signer }), { prefix: '/taxii2' });
const signingBase = await signingApp.listen({ port: 0, host: '127.0.0.1' });
const collection = ((await (await fetch(`${base}/taxii2/intel/collections/`, { headers: { authorization: `Bearer ${key}`, accept: TAXII_MEDIA_TYPE } })).json()) as any).collections[0].id as string;
const url = `${base}/taxii2/intel/collections/${collection}/`;
const signedUrl = `${signingBase}/taxii2/intel/collections/${collection}/`;

async function baseline(): Promise<number> {
  let after = 0;
  let n = 0;
  for (;;) {
    const rows = await store.published({ collection: PUBLISHED_COLLECTION, addedAfterUs: after, limit: 1000 });
    if (!rows.length) break;
    n += JSON.parse(JSON.stringify({ objects: rows.map((r) => r.body) })).objects.length;
    after = rows.at(-1)!.added_us;
  }
  return n;
}
async function pages(from = url): Promise<number> {
  let next: string | undefined;
  let n = 0;
  do {
    const res = await fetch(`${from}objects/${next ? `?next=${next}` : ''}`, { headers: { authorization: `Bearer ${key}`, accept: TAXII_MEDIA_TYPE } });
    const env = await res.json() as { more?: boolean; next?: string; objects?: unknown[] };
    n += env.objects?.length ?? 0;
    next = env.more ? env.next : undefined;
  } while (next);
  return n;
}
async function poll(round: number | string, signed = false): Promise<number> {
  const b = new SqliteCaseStore(openSqlite(join(dir, `b-${round}${signed ? '-signed' : ''}.db`)));
  const intel = new SharedIndicators(KEY);
  const feed = { name: 'A', url: signed ? signedUrl : url, token: key, level: 'throttle' as const, everyMs: 3_600_000, timeoutMs: 60_000, publicKey: signed ? signer.publicKey : null };
  // (The unpinned poll's one-line warning is not printed.)
  const poller = new FeedPoller({ store: b, intel, sharingKey: KEY }, [feed], (l) => { if (!l.includes('no public key is pinned')) console.error(l); });
  const s = await poller.pull('A')!;
  if (s.last_error || intel.list().length !== N) throw new Error(`poll: ${s.last_error ?? `${intel.list().length} of ${N}`}`);
  return objects;
}

const time = async (f: () => Promise<number>) => { const t = performance.now(); const n = await f(); const ms = performance.now() - t; if (n !== objects) throw new Error(`${n} of ${objects}`); return ms; };
console.log(`# ${N} indicators, ${objects} objects; ${machine()}; ${new Date().toISOString()}`);
await time(baseline); await time(() => pages()); await time(() => poll(-1)); await time(() => pages(signedUrl)); await time(() => poll(-1, true));
const r = { baseline: [] as number[], pages: [] as number[], poll: [] as number[], 'signed pages': [] as number[], 'signed poll, key pinned': [] as number[] };
for (let i = 0; i < rounds; i++) {
  r.baseline.push(await time(baseline));
  r.pages.push(await time(() => pages()));
  r['signed pages'].push(await time(() => pages(signedUrl)));
  r.poll.push(await time(() => poll(i)));
  r['signed poll, key pinned'].push(await time(() => poll(i, true)));
}
const b = median(r.baseline);
console.log('| path | median ms | objects/s | ratio to the store read |');
console.log('|---|---|---|---|');
for (const [name, xs] of Object.entries(r)) {
  const m = median(xs);
  console.log(`| ${name} | ${m.toFixed(0)} | ${Math.round(objects / (m / 1000)).toLocaleString('en')} | ${(m / b).toFixed(2)} |`);
}
await app.close();
await signingApp.close();
await auth.close();
await ids.close();
rmSync(dir, { recursive: true, force: true });
