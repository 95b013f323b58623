import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import Fastify from 'fastify';
import { Ledger, SqliteLedgerStorage, generateSigner, ledgerConfigSchema, registerLedgerRoutes, runLedgerCli } from './index.ts';
import { openLedgerFromConfig } from './open.ts';
import { withLedgerCli } from '../../test/helpers/ledger-cli.ts';
import { sampleEvent } from '../../test/helpers/synthetic-events.ts';

const ORIGIN = 'warden.test/ledger';

const withCli = (fn: Parameters<typeof withLedgerCli>[1]) => withLedgerCli(ORIGIN, fn);

async function erasedCount(run: (...argv: string[]) => Promise<{ code: number; out: string }>): Promise<number> {
  const v = await run('verify', '--json');
  assert.equal(v.code, 0, v.out);
  return JSON.parse(v.out).erased;
}

test('erase --before refuses anything that is not an ISO 8601 time, before erasing anything', async () => {
  await withCli(async (run) => {
    for (const bad of ['tomorrow', '9', '2026-06-01T12:00:10', '2026-02-30', '']) {
      const r = await run('erase', '--before', bad);
      assert.equal(r.code, 2, `--before ${JSON.stringify(bad)}: ${r.out}${r.err}`);
      assert.doesNotMatch(r.out, /erased personal data/);
    }
    assert.equal(await erasedCount(run), 0, 'nothing was erased by the refused commands');
    const ok = await run('erase', '--before', '2026-06-01T12:00:10Z');
    assert.equal(ok.code, 0, ok.err);
    assert.match(ok.out, /erased personal data of 10 entries/);
    // An offset is a time like any other: 14:00:20+02:00 is 12:00:20Z.
    assert.match((await run('erase', '--before', '2026-06-01T14:00:20+02:00')).out, /erased personal data of 10 entries/);
    assert.equal(await erasedCount(run), 20);
  });
});

test('erase takes exactly one selector: --account with --org is refused, not ANDed', async () => {
  await withCli(async (run) => {
    for (const argv of [['--account', 'acct_1', '--org', 'org_nope'], ['--account', 'acct_1', '--before', '2026-07-01'], ['--account', '']]) {
      const r = await run('erase', ...argv);
      assert.equal(r.code, 2, argv.join(' '));
      assert.doesNotMatch(r.out, /erased personal data/);
    }
    assert.equal(await erasedCount(run), 0);
    assert.match((await run('erase', '--account', 'acct_1')).out, /erased personal data of 5 entries/);
  });
});

test('Ledger.erase refuses a before that is not an ISO time and an empty filter (API and library callers)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-ledger-erase-'));
  const ledger = await Ledger.open({ storage: SqliteLedgerStorage.open(join(dir, 'l.db')), origin: ORIGIN, signers: [generateSigner(ORIGIN)], writer: 'inline' });
  try {
    await Promise.all(Array.from({ length: 10 }, (_, i) => ledger.appendInteraction(sampleEvent(i))));
    for (const before of ['tomorrow', '9', 'zzz']) {
      await assert.rejects(ledger.erase({ before }), (e: Error & { code?: string }) => e.code === 'LEDGER_BAD_REQUEST' && /ISO 8601/.test(e.message));
    }
    await assert.rejects(ledger.erase({}), /erase needs/);
    await assert.rejects(ledger.erase({ accountId: '' }), /non-empty/);
    assert.equal((await ledger.erase({ before: '2026-06-01T12:00:03Z' })).erased, 3);
  } finally {
    await ledger.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('unknown options and extra arguments are usage errors, not ignored', async () => {
  await withCli(async (run) => {
    const cases: string[][] = [
      ['query', '--acount', 'acct_1'],
      ['verify', '--json', '--bogus', 'x'],
      ['verify', '--bogus'],
      ['verify', 'extra'],
      ['prove', '1', '--tre-size', '5'],
      ['prove', '1', '2'],
      ['checkpoint', 'now'],
      ['key', '--force'],
      ['entries', '0', '5', '9'],
    ];
    for (const argv of cases) {
      const r = await run(...argv);
      assert.equal(r.code, 2, `${argv.join(' ')} -> ${r.code}: ${r.out.slice(0, 200)}`);
      assert.equal(r.out, '', `${argv.join(' ')} printed a result`);
    }
    assert.match((await run('query', '--acount', 'acct_1')).err, /Unknown option '--acount'/);
    assert.match((await run('verify', 'extra')).err, /unexpected argument extra/);
    // The query with its options spelled right still works.
    const q = await run('query', '--account', 'acct_1', '--format', 'jsonl');
    assert.equal(q.code, 0, q.err);
    assert.ok(q.out.trim().split('\n').length >= 5);
  });
});

test('query takes --json as every other operator command does (the same as --format json)', async () => {
  await withCli(async (run) => {
    const asJson = await run('query', '--account', 'acct_1', '--json');
    assert.equal(asJson.code, 0, `--json is accepted: ${asJson.err}`);
    assert.deepEqual(JSON.parse(asJson.out), JSON.parse((await run('query', '--account', 'acct_1', '--format', 'json')).out), '--json prints what --format json prints');
    const both = await run('query', '--account', 'acct_1', '--json', '--format', 'csv');
    assert.equal(both.code, 2, '--json with another --format is a contradiction');
    assert.match(both.err, /--json/);
  });
});

test('invalid --from, --to, --limit, --tree-size and entries ranges are usage errors', async () => {
  await withCli(async (run) => {
    const cases: string[][] = [
      ['query', '--from', 'notadate'], ['query', '--to', '2026-13-01'], ['query', '--limit', 'abc'], ['query', '--limit', '0'], ['query', '--limit', '2.5'],
      ['prove', '1', '--tree-size', 'abc'], ['entries', '5', '2'], ['entries', 'a', '2'], ['consistency', '9', '3'],
    ];
    for (const argv of cases) {
      const r = await run(...argv);
      assert.equal(r.code, 2, `${argv.join(' ')} -> ${r.code}: ${r.out.slice(0, 200)}${r.err.slice(0, 200)}`);
      assert.equal(r.out, '');
    }
    const limited = await run('query', '--limit', '3');
    assert.equal(JSON.parse(limited.out).interactions.length, 3);
    assert.equal(JSON.parse((await run('query', '--from', '2026-06-01T12:00:20Z', '--to', '2026-06-01T12:00:25Z')).out).interactions.length, 5);
    assert.equal(JSON.parse((await run('entries', '2', '5')).out).length, 3);
  });
});

test('read-only commands on a missing ledger say so and create nothing', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-ledger-none-'));
  try {
    const config = { ledger: ledgerConfigSchema.parse({ origin: ORIGIN, key: '' }), store: { driver: 'sqlite' as const, postgres_url: '', sqlite_path: join(dir, 'nonexist', 'warden.db') } };
    for (const argv of [['verify', '--key', generateSigner(ORIGIN).verifier().toString()], ['query'], ['entries', '0', '1'], ['prove', '0'], ['erase', '--account', 'a']]) {
      const err = new PassThrough();
      let e = '';
      err.on('data', (c) => (e += c));
      const code = await runLedgerCli(argv, { config, stdout: new PassThrough(), stderr: err, env: {} });
      assert.equal(code, 2, `${argv[0]}: ${e}`);
      assert.match(e, /no ledger at .*nonexist.*ledger\.db/);
    }
    assert.equal(existsSync(join(dir, 'nonexist')), false, 'no folder was created');
    assert.deepEqual(readdirSync(dir), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('HTTP query: unknown parameters and times that are not ISO are 400, not a dump of everything', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-ledger-http-'));
  const ledger = await Ledger.open({ storage: SqliteLedgerStorage.open(join(dir, 'l.db')), origin: ORIGIN, signers: [generateSigner(ORIGIN)], writer: 'inline' });
  const app = Fastify();
  try {
    await Promise.all(Array.from({ length: 10 }, (_, i) => ledger.appendInteraction(sampleEvent(i))));
    registerLedgerRoutes(app, ledger, { authorizeQuery: () => true });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}/ledger/v1/query`;
    for (const qs of ['acount=acct_1', 'account=acct_1&bogus=1', 'from=garbage', 'to=9', 'limit=0', 'account=a&account=b', 'format=xml']) {
      const r = await fetch(`${base}?${qs}`);
      assert.equal(r.status, 400, qs);
      assert.equal(((await r.json()) as { error: { code: string } }).error.code, 'LEDGER_BAD_REQUEST');
    }
    assert.match(((await (await fetch(`${base}?acount=acct_1`)).json()) as { error: { message: string } }).error.message, /unknown query parameter acount/);
    const ok = (await (await fetch(`${base}?account=acct_1&from=2026-06-01`)).json()) as { interactions: unknown[] };
    assert.equal(ok.interactions.length, 2);
  } finally {
    await app.close();
    await ledger.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('read-only commands on a SQLite file that holds no ledger say so (usage error); a ledger of another version is named as such', async () => {
  const Database = (await import('better-sqlite3')).default;
  await withCli(async (run, dir) => {
    // The file the ledger would be in holds something else (a mistyped path naming the events database).
    const path = join(dir, 'ledger.db');
    const other = join(dir, 'other.db');
    const db = new Database(other);
    db.exec('CREATE TABLE events (id TEXT)');
    db.close();
    const { renameSync } = await import('node:fs');
    renameSync(path, join(dir, 'ledger.db.real'));
    renameSync(other, path);
    for (const argv of [['verify', '--key', generateSigner(ORIGIN).verifier().toString()], ['query'], ['entries', '0', '1']]) {
      const r = await run(...argv);
      assert.equal(r.code, 2, `${argv[0]}: ${r.err}`);
      assert.match(r.err, /no ledger at .*ledger\.db: the file holds none/);
    }
    renameSync(join(dir, 'ledger.db.real'), path);
    assert.equal((await run('verify', '--json')).code, 0);
    // Written by a newer Warden: not read, and said so.
    const w = new Database(path);
    w.prepare("INSERT INTO schema_migrations (component, version, applied_at) VALUES ('ledger', 3, 'now')").run();
    w.close();
    const r = await run('verify', '--json');
    assert.equal(r.code, 1);
    assert.match(r.err, /ledger at .*ledger\.db is at version 3, newer than this Warden knows \(2\)/);
  });
});

test('verify --checkpoint: a log cut short since a checkpoint the auditor kept fails, though what remains is consistent', async () => {
  const Database = (await import('better-sqlite3')).default;
  await withCli(async (run, dir) => {
    const signed = await run('checkpoint');
    assert.equal(signed.code, 0, signed.err);
    const kept = join(dir, 'kept-30.checkpoint');
    writeFileSync(kept, signed.out);
    const clean = await run('verify', '--checkpoint', kept);
    assert.equal(clean.code, 0, clean.out + clean.err);
    assert.match(clean.out, /kept checkpoint of size 30: the log still holds it/);

    // The last ten entries removed with their nodes and the checkpoints that covered them.
    const db = new Database(join(dir, 'ledger.db'));
    db.exec(`DELETE FROM ledger_entries WHERE idx >= 20; DELETE FROM ledger_private WHERE idx >= 20;
      DELETE FROM ledger_nodes WHERE (idx + 1) * (1 << level) > 20; DELETE FROM ledger_checkpoints WHERE size > 20;`);
    db.close();
    // On its own the shorter log is consistent, but no signed checkpoint covers it any more.
    const alone = JSON.parse((await run('verify', '--json')).out) as { ok: boolean; problems: { message: string }[] };
    assert.equal(alone.ok, false, 'a log left with no signed checkpoint does not verify');
    assert.deepEqual(alone.problems.map((p) => p.message), ['no signed checkpoint covers the log: none of its 20 entries is covered by a signature (its checkpoints were deleted, or none was signed yet: `warden ledger checkpoint` signs one)'], 'on its own, the shorter log is otherwise consistent');
    const cut = await run('verify', '--checkpoint', kept);
    assert.equal(cut.code, 1);
    assert.match(cut.out, /the log holds 20 entries, fewer than the 30 of the checkpoint you kept/);
    assert.equal(JSON.parse((await run('verify', '--json', '--checkpoint', kept)).out).kept[0].ok, false);

    const forged = join(dir, 'forged.checkpoint');
    writeFileSync(forged, signed.out.replace(/\n30\n/, '\n12\n'));
    const bad = await run('verify', '--checkpoint', forged);
    assert.equal(bad.code, 1);
    assert.match(bad.out, /kept checkpoint 1: /);
    assert.equal((await run('verify', '--checkpoint', join(dir, 'missing.checkpoint'))).code, 2);
  });
});

test('verify says how many entries no signed checkpoint covers, and fails a log with none', async () => {
  await withCli(async (run, dir, config) => {
    const signed = await run('verify');
    assert.equal(signed.code, 0, signed.out);
    assert.doesNotMatch(signed.out, /WARNING/, 'a closed ledger signed its last entries');

    // Ten entries written after the checkpoint of size 30 (the one signed at their close removed): a warning naming them, still OK.
    const ledger = await openLedgerFromConfig(config, { env: {} });
    await Promise.all(Array.from({ length: 10 }, (_, i) => ledger.appendInteraction(sampleEvent(30 + i))));
    await ledger.close();
    const db = SqliteLedgerStorage.open(join(dir, 'ledger.db'));
    db.db.exec('DELETE FROM ledger_checkpoints WHERE size > 30');
    const tail = await run('verify');
    assert.equal(tail.code, 0, tail.out);
    assert.match(tail.out, /WARNING: the last 10 entries \(from #30\) are covered by no signed checkpoint yet/);
    assert.match(tail.out, /OK: .* \(30 of 40 entries signed\)/);
    assert.equal(JSON.parse((await run('verify', '--json')).out).unsigned, 10);

    // No checkpoint at all: nothing is signed, so the log is not verified.
    db.db.exec('DELETE FROM ledger_checkpoints');
    await db.close();
    const none = await run('verify');
    assert.equal(none.code, 1, none.out);
    assert.match(none.out, /no signed checkpoint covers the log: none of its 40 entries is covered by a signature/);
    assert.doesNotMatch(none.out, /OK:/);
  });
});

test('query --limit N: usage rows say they add up the returned interactions only', async () => {
  await withCli(async (run) => {
    const all = await run('query', '--account', 'acct_0');
    assert.equal(all.code, 0, all.err);
    const full = JSON.parse(all.out);
    assert.equal(full.usage_scope, 'all');
    assert.equal(full.usage[0].requests, 5, 'acct_0 has 5 of the 30 interactions');
    assert.equal(all.err, '');

    const cut = await run('query', '--account', 'acct_0', '--limit', '2');
    assert.equal(cut.code, 0, cut.err);
    const part = JSON.parse(cut.out);
    assert.deepEqual([part.truncated, part.usage_scope, part.usage[0].requests], [true, 'returned', 2]);
    assert.match(cut.err, /--limit 2 cut the interactions short: the usage rows add up the 2 returned, not the accounts' totals/);
    const jsonl = (await run('query', '--account', 'acct_0', '--limit', '2', '--format', 'jsonl')).out.trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(jsonl.filter((o) => o.type === 'usage').map((o) => o.scope), ['returned']);
  });
});

test('query prints a client\'s text inert: model names and user agents carry no escape to the terminal, and JSON reads back exact', async () => {
  // A model name is whatever the client sent in its body (ESC, BEL, line breaks), a user agent may
  // hold bytes 0x80-0xFF (read as C1 controls such as U+009B, the one-byte CSI); U+202E reads backwards.
  const model = 'gpt\u001b]0;pwned\u0007\u009b2J\u202eevil\u2028row';
  const userAgent = 'ua\u0085\u001b[2J\r\nforged,row';
  const dir = mkdtempSync(join(tmpdir(), 'warden-ledger-inert-'));
  const setup = { ledger: ledgerConfigSchema.parse({ origin: ORIGIN, key: '' }), store: { driver: 'sqlite' as const, postgres_url: '', sqlite_path: join(dir, 'warden.db') } };
  const { ledgerCliRunner } = await import('../../test/helpers/ledger-cli.ts');
  const run = ledgerCliRunner(setup);
  const terminal = ledgerCliRunner(setup, { terminal: true });
  const raw = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2028\u2029]/;
  try {
    assert.equal((await run('keygen')).code, 0);
    const ledger = await openLedgerFromConfig(setup, { env: {} });
    const event = sampleEvent(1, { model });
    event.client.user_agent = userAgent;
    await ledger.appendInteraction(event);
    await ledger.close();
    // JSON and JSONL: the characters JSON leaves raw are written as \u escapes; parsed, the values are the recorded ones.
    const asJson = await run('query', '--account', event.account_id!);
    assert.equal(asJson.code, 0, asJson.err);
    assert.ok(!raw.test(asJson.out.replace(/\n/g, '')), `no raw control in the JSON: ${JSON.stringify(asJson.out)}`);
    const row = JSON.parse(asJson.out).interactions[0];
    assert.deepEqual([row.model, row.user_agent], [model, userAgent], 'JSON keeps the values exact');
    const jsonl = await run('query', '--account', event.account_id!, '--format', 'jsonl');
    assert.ok(!raw.test(jsonl.out.replace(/\n/g, '')), `no raw control in the JSONL: ${JSON.stringify(jsonl.out)}`);
    const line = jsonl.out.trim().split('\n').map((l) => JSON.parse(l)).find((o) => o.type === 'interaction');
    assert.deepEqual([line.model, line.user_agent], [model, userAgent], 'JSONL keeps the values exact');
    // CSV on a terminal: each such character shown as an escape, one line per row.
    const csv = await terminal('query', '--account', event.account_id!, '--format', 'csv');
    assert.equal(csv.code, 0, csv.err);
    assert.ok(!raw.test(csv.out.replace(/\n/g, '')), `no raw control in the CSV on a terminal: ${JSON.stringify(csv.out)}`);
    assert.equal(csv.out.trim().split('\n').length, 2, `a header and one row: ${JSON.stringify(csv.out)}`);
    assert.ok(csv.out.includes('gpt\\x1b]0;pwned\\x07\\x9b2J\\u202eevil\\u2028row'), `the model shown with escapes: ${csv.out}`);
    // CSV to a file or a pipe: the record as it is (a spreadsheet reads the exact value).
    const piped = await run('query', '--account', event.account_id!, '--format', 'csv');
    assert.ok(piped.out.includes(model), 'the CSV written to a file keeps the model as recorded');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
