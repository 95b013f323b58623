// `warden ledger verify` vouches for a log with the keys the operator configured or the auditor
// gives, never with the keys the database it checks lists: whoever can write the database can list
// a key of their own beside a log they signed with it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { generateSigner } from './index.ts';
import { openLedgerFromConfig } from './open.ts';
import { withLedgerCli } from '../../test/helpers/ledger-cli.ts';
import { sampleEvent } from '../../test/helpers/synthetic-events.ts';

const ORIGIN = 'warden.test/ledger';

const withCli = (fn: Parameters<typeof withLedgerCli>[1]) => withLedgerCli(ORIGIN, fn);

test('verify does not trust a signing key the ledger database itself records: a log rewritten and signed with another key fails', async () => {
  await withCli(async (run, dir, config) => {
    assert.equal((await run('verify')).code, 0, 'the genuine log verifies');
    // Someone who can write the database (but has not the signing key) replaces the log with one
    // of their own, signed with a key they made: the writer records that key in ledger_keys.
    for (const f of ['ledger.db', 'ledger.db-wal', 'ledger.db-shm']) rmSync(join(dir, f), { force: true });
    const forger = generateSigner(ORIGIN);
    const forged = await openLedgerFromConfig({ ...config, ledger: { ...config.ledger, key: forger.exportPrivate() } }, { env: {} });
    await Promise.all(Array.from({ length: 30 }, (_, i) => forged.appendInteraction(sampleEvent(100 + i))));
    await forged.close();

    const r = await run('verify');
    assert.equal(r.code, 1, `a log signed only by a key the database records fails:\n${r.out}`);
    assert.doesNotMatch(r.out, /OK:/);
    const forgerKey = forger.verifier().toString().split('+').slice(0, 2).join('+');
    assert.match(r.out, new RegExp(`signed only by ${forgerKey.replace(/[.+]/g, '\\$&')}, a key recorded in the ledger's own database but not configured`), r.out);
    // An auditor's published key is what decides, as before.
    assert.equal((await run('verify', '--key', forger.verifier().toString())).code, 0, 'with the forger\'s key given, its signatures check (the key is the auditor\'s choice)');
  });
});

test('verify with no key configured and none given refuses, rather than trusting the keys the database lists', async () => {
  await withCli(async (run, dir) => {
    rmSync(join(dir, 'ledger.key'));
    const r = await run('verify');
    assert.equal(r.code, 2, r.out + r.err);
    assert.doesNotMatch(r.out, /OK:/);
    assert.match(r.err, /no verifier key: pass --key/);
    assert.match(r.err, /the ledger's database records warden\.test\/ledger\+[0-9a-f]{8}\+/, 'the recorded keys are listed, to compare with the published one');
  });
});
