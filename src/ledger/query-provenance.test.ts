// An audit query handed to someone who does not trust the operator: it says what it is (schema,
// filters, the log's size and signed checkpoint it was read against), and with `openings` it
// carries the salts that let the reader check each clear value (client IP, user agent, an
// operator's note and name) against the commitment in the signed leaf, without the database.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { Ledger } from './ledger.ts';
import { SqliteLedgerStorage } from './sqlite.ts';
import { generateSigner } from './note.ts';
import { parseLeaf } from './records.ts';
import { exportQuery, queryLedger } from './query.ts';
import { sampleEvent } from '../../test/helpers/synthetic-events.ts';

const ORIGIN = 'warden.test/ledger';
const commitmentOf = (salt: string, value: string) => createHash('sha256').update(Buffer.from(salt, 'hex')).update(value, 'utf8').digest('hex');

test('a query says its schema, filters, and the log size and checkpoint it was read against, in JSON and JSONL', async () => {
  const ledger = await Ledger.open({ storage: SqliteLedgerStorage.open(':memory:'), origin: ORIGIN, signers: [generateSigner(ORIGIN)], checkpointIntervalMs: 50 });
  try {
    for (let i = 0; i < 5; i++) await ledger.appendInteraction(sampleEvent(i * 7));
    const cp = await ledger.checkpoint();
    const result = await queryLedger(ledger.storage, { accountId: 'acct_0', from: '2020-01-01' }) as any;
    assert.equal(result.schema, 'warden.ledger-query/1', 'the result names its schema');
    assert.deepEqual(result.query, { account: 'acct_0', from: '2020-01-01T00:00:00.000Z' }, 'the filters it answers, normalised');
    assert.equal(result.tree_size, 5, 'how many entries the log held when read');
    assert.equal(result.checkpoint?.size, cp.size, 'the latest signed checkpoint when read');
    assert.equal(result.checkpoint?.note, cp.note, 'with its signed note, to check against the published key');

    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on('data', (c) => chunks.push(c));
    await exportQuery(result, 'jsonl', out);
    const first = JSON.parse(Buffer.concat(chunks).toString('utf8').split('\n')[0]);
    assert.equal(first.type, 'query', 'a JSONL export starts with what it is');
    assert.equal(first.schema, 'warden.ledger-query/1');
    assert.equal(first.tree_size, 5);
    assert.equal(first.checkpoint.note, cp.note);
  } finally {
    await ledger.close();
  }
});

test('with openings, each clear value of a query checks against the commitment in its signed leaf', async () => {
  const ledger = await Ledger.open({ storage: SqliteLedgerStorage.open(':memory:'), origin: ORIGIN, signers: [generateSigner(ORIGIN)], checkpointIntervalMs: 50 });
  try {
    await ledger.appendInteraction(sampleEvent(0));
    await ledger.appendVerdict({
      subject: { kind: 'account', id: 'acct_0' }, level: 'throttle', score: null, source: 'operator', since: new Date().toISOString(),
      reasons: [{ signal: 'operator_verdict', value: 'throttle', threshold: null, detail: 'ticket R-12', by: 'cli:jane' }],
    });
    const plain = await queryLedger(ledger.storage, { accountId: 'acct_0' }) as any;
    assert.equal(plain.interactions[0].openings, undefined, 'no salts unless asked for');

    const result = await queryLedger(ledger.storage, { accountId: 'acct_0', openings: true } as any) as any;
    const row = result.interactions[0];
    const leaf = parseLeaf((await ledger.storage.getEntry(row.index))!.leaf) as any;
    assert.equal(row.openings.client_ip.value, row.client_ip);
    assert.equal(commitmentOf(row.openings.client_ip.salt, row.openings.client_ip.value), leaf.client.ip, 'the client IP is the one the leaf commits to');
    assert.equal(commitmentOf(row.openings.user_agent.salt, row.openings.user_agent.value), leaf.client.user_agent, 'so is the user agent');
    assert.equal(commitmentOf(row.openings.signup_ip.salt, row.openings.signup_ip.value), leaf.account.signup_ip, 'and the signup IP');
    assert.equal(row.openings.prompt?.value ?? null, null, 'the prompt text is never exported: its salt only, for whoever holds the text');

    const v = result.verdicts[0];
    const vleaf = parseLeaf((await ledger.storage.getEntry(v.index))!.leaf) as any;
    assert.equal(commitmentOf(v.openings.operator.salt, v.openings.operator.value), vleaf.reasons[0].by, 'who set the verdict checks against the leaf');
    assert.equal(commitmentOf(v.openings.operator_note.salt, v.openings.operator_note.value), vleaf.reasons[0].detail, 'and why');
    assert.equal(v.openings.operator.value, 'cli:jane');
  } finally {
    await ledger.close();
  }
});
