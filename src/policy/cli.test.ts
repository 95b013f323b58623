import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runPolicyCli } from './cli.ts';
import { configSchema } from '../config/schema.ts';
import { openIdentityStore } from '../identity/index.ts';

function io() {
  const o = { out: '', err: '' };
  return { o, io: { stdout: (s: string) => { o.out += s; }, stderr: (s: string) => { o.err += s; }, env: {} } };
}
const fx = (name: string) => new URL(`../../test/fixtures/policy/${name}`, import.meta.url).pathname;

test('policy check: valid default, invalid file with path and message', async () => {
  let t = io();
  assert.equal(await runPolicyCli(['check'], t.io), 0);
  assert.match(t.o.out, /default\.yaml: valid \(\d+ rules/);
  t = io();
  assert.equal(await runPolicyCli(['check', fx('bad-policy-unknown-key.yaml')], t.io), 1);
  assert.match(t.o.err, /tiers\.unverified: Unrecognized key: "max_token_ceiling"/);
});

test('policy explain: decision and reasons for one request', async () => {
  let t = io();
  assert.equal(await runPolicyCli(['explain', '--tier', 'unverified', '--ip', '8.8.8.8'], t.io), 1);
  assert.match(t.o.out, /country US, ASN 15169 \(Google LLC\), hosting:AS15169 Google/);
  assert.match(t.o.out, /refused: verify by rule:hosting-needs-verified/);
  t = io();
  assert.equal(await runPolicyCli(['explain', '--tier', 'identity_verified', '--verdict', 'shape', '--json'], t.io), 0);
  assert.equal(JSON.parse(t.o.out).capabilities.reasoning, 'none');
  t = io();
  assert.equal(await runPolicyCli(['explain', '--tier', 'gold'], t.io), 2);
  assert.match(t.o.err, /--tier must be one of/);
});

test('policy screen: findings for one applicant', async () => {
  const t = io();
  assert.equal(await runPolicyCli(['screen', '--email', 'x@mailinator.com', '--name', 'Jane Doe'], t.io), 1);
  assert.match(t.o.out, /decision: review/);
  assert.match(t.o.out, /\[review\] disposable_email/);
  assert.equal(await runPolicyCli(['nope'], io().io), 2);
});

test('policy screen: an --ip that is not an IP address is a usage error, as for explain, not "allow"', async () => {
  for (const cmd of [['screen', '--email', 'a@b.example'], ['explain', '--tier', 'email_verified']]) {
    const t = io();
    assert.equal(await runPolicyCli([...cmd, '--ip', 'nope'], t.io), 2, cmd[0]);
    assert.doesNotMatch(t.o.out, /decision: allow/);
    assert.match(t.o.err, /--ip "nope" is not an IP address/);
    const empty = io();
    assert.equal(await runPolicyCli([...cmd, '--ip', ''], empty.io), 2, `${cmd[0]} --ip ''`);
    assert.doesNotMatch(empty.o.out, /decision: allow/);
    assert.match(empty.o.err, /--ip "" is not an IP address/);
  }
});

test('policy explain and screen decide with the deployment\'s configuration: its policy file, network lists and screening lists', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-policy-cli-'));
  try {
    // The deployment's own policy: the shipped one, plus a rule keeping gpt-4.1 from unverified accounts and a narrower model list for education.
    const policy = join(dir, 'policy.yaml');
    writeFileSync(policy, readFileSync(fx('../../../policy/default.yaml'), 'utf8')
      .replace(/^rules:\n/m, 'rules:\n  - id: no-gpt-4-1-unverified\n    when: { model: ["gpt-4.1*"], tier_below: email_verified }\n    action: deny\n'
        + '  - id: education-models\n    when: { programme: [education] }\n    action: restrict\n    capabilities: { models: ["gpt-4o*", "claude-*"] }\n'));
    writeFileSync(join(dir, 'tor.txt'), '185.220.101.1\n');
    writeFileSync(join(dir, 'throwaway.txt'), 'throwaway-mail.example\n');
    const config = join(dir, 'warden.yaml');
    writeFileSync(config, `policy:\n  file: ${policy}\n  networks: { tor_exits_file: ${join(dir, 'tor.txt')} }\n  screening: { extra_disposable_domains_file: ${join(dir, 'throwaway.txt')} }\n`);

    const run = async (argv: string[], env: Record<string, string> = {}) => {
      const t = io();
      const code = await runPolicyCli(argv, { ...t.io, env });
      return { code, out: t.o.out, err: t.o.err };
    };
    for (const [how, argv, env] of [
      ['--config', ['-c', config], {}], ['--config=', [`--config=${config}`], {}], ['WARDEN_CONFIG', [], { WARDEN_CONFIG: config }],
    ] as Array<[string, string[], Record<string, string>]>) {
      const denied = await run(['explain', ...argv, '--tier', 'unverified', '--model', 'gpt-4.1'], env);
      assert.equal(denied.code, 1, `${how}: ${denied.out}${denied.err}`);
      assert.match(denied.out, /refused: deny by rule:no-gpt-4-1-unverified/, how);
      const tor = await run(['explain', ...argv, '--tier', 'email_verified', '--ip', '185.220.101.1'], env);
      assert.equal(tor.code, 1, how);
      assert.match(tor.out, /tor:exit/, how);
      assert.match(tor.out, /refused: verify by rule:tor-needs-verified/, how);
      const screened = await run(['screen', ...argv, '--email', 'jane@throwaway-mail.example'], env);
      assert.equal(screened.code, 1, how);
      assert.match(screened.out, /\[review\] disposable_email/, how);
    }
    // Without a configuration: the shipped policy and no Tor list.
    assert.equal((await run(['explain', '--tier', 'unverified', '--model', 'gpt-4.1'])).code, 0);
    assert.equal((await run(['explain', '--tier', 'email_verified', '--ip', '185.220.101.1'])).code, 0);
    assert.equal((await run(['screen', '--email', 'jane@throwaway-mail.example'])).code, 0);
    // --file names another policy document; the configuration's network lists still apply.
    const other = await run(['explain', '-c', config, '--file', fx('../../../policy/default.yaml'), '--tier', 'email_verified', '--ip', '185.220.101.1', '--model', 'gpt-4.1']);
    assert.equal(other.code, 1);
    assert.match(other.out, /refused: verify by rule:tor-needs-verified/);
    assert.equal((await run(['explain', '-c', config, '--file', fx('../../../policy/default.yaml'), '--tier', 'unverified', '--model', 'gpt-4.1'])).code, 0);

    // Models as written: one list, not the internal list of lists; a model outside it refused as the gateway refuses it.
    const open = await run(['explain', '-c', config, '--tier', 'identity_verified', '--json']);
    assert.deepEqual(JSON.parse(open.out).capabilities.models, ['*']);
    assert.doesNotMatch(open.out, /\[\s*\[/);
    const text = await run(['explain', '-c', config, '--tier', 'identity_verified']);
    assert.match(text.out, /"models":\["\*"\]/);
    const education = await run(['explain', '-c', config, '--tier', 'email_verified', '--programme', 'education', '--json']);
    assert.deepEqual(JSON.parse(education.out).capabilities.models, ['gpt-4o*', 'claude-*']);
    const outside = await run(['explain', '-c', config, '--tier', 'email_verified', '--programme', 'education', '--model', 'o3-pro']);
    assert.equal(outside.code, 1);
    assert.match(outside.out, /refused: deny by capabilities:models: The model `o3-pro` is not available to your account/);

    const missing = await run(['explain', '-c', join(dir, 'nope.yaml'), '--tier', 'unverified']);
    assert.equal(missing.code, 2);
    assert.match(missing.err, /cannot read config file .*nope\.yaml/);
    assert.equal((await run(['explain', '--config', '', '--tier', 'unverified'])).code, 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('policy explain --account reads the account from the deployment\'s store as the gateway does; --org names an organisation', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-policy-cli-account-'));
  try {
    const db = join(dir, 'warden.db');
    const identity = openIdentityStore(configSchema.parse({ store: { sqlite_path: db } }));
    const blockedOrg = await identity.createOrg({ name: 'Blocked Co', tier: 'enterprise' });
    const bigOrg = await identity.createOrg({ name: 'Big Co', tier: 'enterprise' });
    const inBlocked = await identity.createAccount({ org_id: blockedOrg.id, tier: 'email_verified' });
    const fresh = await identity.createAccount({ org_id: bigOrg.id, tier: 'unverified' });
    const abroad = await identity.createAccount({ tier: 'email_verified', claimed_country: 'IR' });
    await identity.close();
    const policy = join(dir, 'policy.yaml');
    writeFileSync(policy, readFileSync(fx('../../../policy/default.yaml'), 'utf8')
      .replace(/^rules:\n/m, `rules:\n  - id: blocked-org\n    when: { org: ["${blockedOrg.id}"] }\n    action: deny\n`));
    const config = join(dir, 'warden.yaml');
    writeFileSync(config, `store: { sqlite_path: ${db} }\npolicy: { file: ${policy} }\n`);
    const run = async (argv: string[]) => {
      const t = io();
      const code = await runPolicyCli(['explain', '-c', config, ...argv], { ...t.io, env: {} });
      return { code, out: t.o.out, err: t.o.err };
    };

    const org = await run(['--account', inBlocked.id]);
    assert.equal(org.code, 1, org.out + org.err);
    assert.match(org.out, /refused: deny by rule:blocked-org/);
    assert.match(org.out, new RegExp(`subject: account ${inBlocked.id} of organisation ${blockedOrg.id}, own tier email_verified, enterprise through its organisation`));
    assert.match(org.err, /verdict is taken as none/);
    assert.match((await run(['--tier', 'email_verified', '--org', blockedOrg.id])).out, /refused: deny by rule:blocked-org/);
    assert.equal((await run(['--tier', 'email_verified'])).code, 0);
    assert.match((await run(['--account', abroad.id])).out, /refused: region_blocked/);
    const verify = await run(['--account', fresh.id, '--verdict', 'verify', '--json']);
    assert.equal(verify.code, 1);
    const parsed = JSON.parse(verify.out);
    assert.equal(parsed.refusal.kind, 'verify');
    assert.deepEqual([parsed.subject.tier, parsed.subject.account_tier, parsed.subject.org_id], ['enterprise', 'unverified', bigOrg.id]);
    assert.equal((await run(['--account', fresh.id, '--tier', 'identity_verified', '--verdict', 'verify'])).code, 0, 'what if it verified');

    const unknown = await run(['--account', 'acct_nope']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.err, /No account with id 'acct_nope'/);
    assert.equal((await run(['--account', fresh.id, '--org', bigOrg.id])).code, 2);
    assert.equal((await run(['--ip', '8.8.8.8'])).code, 2, 'a tier or an account');
    // No store where the configuration says: nothing is created.
    writeFileSync(config, `store: { sqlite_path: ${join(dir, 'elsewhere.db')} }\n`);
    const missing = await run(['--account', fresh.id]);
    assert.equal(missing.code, 2);
    assert.match(missing.err, /no database at .*elsewhere\.db/);
    assert.equal(existsSync(join(dir, 'elsewhere.db')), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
