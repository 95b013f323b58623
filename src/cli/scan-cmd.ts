/**
 * `warden scan`: the detector over logs (src/detect/scan.ts), with partners' indicators when
 * asked (`--intel bundle.json`, src/cases): past logs hunted for another provider's campaign; and
 * a case file per campaign found (`--cases DIR`): its report, and its bundle for partners when a
 * sharing key is set. The sharing key is the configuration's cases.sharing_key (by default
 * env:WARDEN_INTEL_KEY), held to the same rules as `warden serve` (at least 16 characters).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { loadConfig, resolveSecret } from '../config/index.ts';
import { readEventBatches } from '../events/index.ts';
import { runScanCli, SharedIndicators, type ScanResult, type VerdictLevel } from '../detect/index.ts';
import { stixToIndicators, buildCaseFile, caseReportMarkdown, caseToStix, IntelSigner, IMPORT_LEVELS, MIN_SHARING_KEY_CHARS } from '../cases/index.ts';
import { readIntelSigner } from './cases.ts';
import { printable } from '../admin/index.ts';
import { openSqlite, SqliteEventStore } from '../store/index.ts';
import { completeAccountFacts } from '../identity/facts-file.ts';

export async function runScan(argv: string[], io: { stdout?: Writable; stderr?: Writable; env?: NodeJS.ProcessEnv } = {}): Promise<number> {
  const err = io.stderr ?? process.stderr;
  const env = io.env ?? process.env;
  const bundles: string[] = [];
  let level: VerdictLevel = 'throttle';
  let casesDir: string | null = null;
  const rest: string[] = [];
  let configPath: string | undefined;
  let signingKeyFile: string | null = null;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--intel' || a === '--intel-level' || a === '--cases' || a === '--signing-key') {
      const v = argv[++i];
      if (v === undefined) { err.write(`warden scan: ${a} needs a value\n`); return 2; }
      if (a === '--intel') bundles.push(v);
      else if (a === '--cases') casesDir = v;
      else if (a === '--signing-key') signingKeyFile = v;
      else if ((IMPORT_LEVELS as readonly string[]).includes(v)) level = v as VerdictLevel;
      else { err.write(`warden scan: --intel-level is one of ${IMPORT_LEVELS.join(', ')}\n`); return 2; }
      continue;
    }
    if (a === '--config' || a === '-c') configPath = argv[i + 1];
    else if (a.startsWith('--config=')) configPath = a.slice('--config='.length);
    rest.push(a);
  }
  if (!bundles.length && !casesDir) return runScanCli(rest, io);
  let key: string | null;
  let provider = 'Warden operator';
  let signer: IntelSigner | null = null;
  try {
    // The key the server would use: the configured one (its default reads WARDEN_INTEL_KEY).
    const config = loadConfig(configPath, env);
    key = resolveSecret(config.cases.sharing_key, env);
    provider = config.cases.provider;
    // The signing key as the server reads it (cases.signing_key, else the key file beside the
    // database), or the file --signing-key names; never made here (a key no partner pinned is no use).
    if (casesDir) {
      if (signingKeyFile) {
        try { signer = IntelSigner.parse(readFileSync(signingKeyFile, 'utf8')); } catch (e) { throw new Error(`--signing-key ${signingKeyFile}: ${(e as Error).message}`); }
      } else signer = readIntelSigner(config, env)?.signer ?? null;
    }
  } catch (e) {
    err.write(`warden scan: cannot read config: ${(e as Error).message}\n`);
    return 2;
  }
  let shortKey = false;
  if (key && key.length < MIN_SHARING_KEY_CHARS) {
    // As `warden serve` does: no exchange under a key whose hashes of addresses could be brute-forced.
    shortKey = true;
    key = null;
    if (!bundles.length) err.write(`warden scan: the sharing key is shorter than ${MIN_SHARING_KEY_CHARS} characters: no STIX bundle is written until a longer one is set (cases.sharing_key or WARDEN_INTEL_KEY)\n`);
  }
  // The summary line goes to stderr: with --json, stdout holds the JSON alone.
  const cases = casesDir
    ? { after: (r: ScanResult, input: string) => writeCases(r, input, casesDir!, key, provider, signer, err), fileOnly: '--cases reads the log a second time: give a file, not stdin' }
    : {};
  if (!bundles.length) return runScanCli(rest, io, cases);
  if (!key) {
    err.write(shortKey
      ? `warden scan: the sharing key is shorter than ${MIN_SHARING_KEY_CHARS} characters; --intel needs the key agreed with the partner, at least that long\n`
      : 'warden scan: --intel needs the sharing key agreed with the partner: set WARDEN_INTEL_KEY or cases.sharing_key\n');
    return 2;
  }
  const intel = new SharedIndicators(key);
  for (const file of bundles) {
    try {
      const r = stixToIndicators(JSON.parse(readFileSync(file, 'utf8')), { sharingKey: key, level });
      intel.add(r.indicators);
      // The ids and patterns are the partner's words: shown inert on the operator's terminal.
      for (const s of r.skipped) err.write(`warden scan: ${file}: skipped ${printable(s.id)}: ${printable(s.reason)}\n`);
    } catch (e) {
      err.write(`warden scan: cannot read indicators ${file}: ${(e as Error).message}\n`);
      return 2;
    }
  }
  return runScanCli(rest, io, { intel, ...cases });
}

/**
 * A case per campaign the scan found, in `dir`: the case file (JSON), its report (Markdown) and,
 * with a sharing key, its bundle for partners (STIX). The log is read again into a temporary
 * SQLite event store, which cases read as they read the gateway's.
 */
async function writeCases(result: ScanResult, input: string, dir: string, key: string | null, provider: string, signer: IntelSigner | null, out: Writable): Promise<void> {
  const engine = result.engine;
  if (!engine) throw new Error('--cases is for Warden\'s detector only');
  mkdirSync(dir, { recursive: true });
  const tmp = mkdtempSync(join(tmpdir(), 'warden-scan-cases-'));
  const store = new SqliteEventStore(openSqlite(join(tmp, 'events.db')));
  try {
    // Cases read the members' signup facts from their events: join the account table the scan used.
    const table = result.accountFacts;
    for await (const batch of readEventBatches(input, { validate: false, onSkip: () => {} })) {
      if (table) for (const ev of batch) completeAccountFacts(ev, table);
      await store.appendBatch(batch);
    }
    const campaigns = engine.campaigns();
    for (const c of campaigns) {
      const kase = await buildCaseFile({ engine, events: store }, c.id);
      if (!kase) continue;
      writeFileSync(join(dir, `${c.id}.json`), JSON.stringify(kase, null, 2) + '\n');
      writeFileSync(join(dir, `${c.id}.md`), caseReportMarkdown(kase));
      if (key) {
        // Signed object by object, as GET /admin/cases/{id}/stix signs them.
        const bundle = caseToStix(kase, { provider, sharingKey: key, validDays: 90 }).bundle;
        const out = signer ? { ...bundle, objects: bundle.objects.map((o) => signer.sign(o)) } : bundle;
        writeFileSync(join(dir, `${c.id}.stix.json`), JSON.stringify(out, null, 2) + '\n');
      }
    }
    const bundles = !key ? '; no sharing key, so no STIX bundle' : signer ? `, STIX bundle signed with key ${signer.keyId}` : ', STIX bundle (unsigned: no signing key; partners that pin a key refuse it: give --signing-key FILE or set cases.signing_key)';
    out.write(`warden scan: ${campaigns.length} cases written to ${dir} (case file, report${bundles} per campaign)\n`);
  } finally {
    await store.close();
    rmSync(tmp, { recursive: true, force: true });
  }
}
