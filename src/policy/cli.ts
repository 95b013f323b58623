/**
 * `warden policy ...` sub-commands for operators:
 *
 *   warden policy check [FILE]                       validate a policy file (default: the shipped one)
 *   warden policy explain [-c warden.yaml] [--file F] (--account ID | --tier T [--org ID]) [--programme P]
 *                         [--ip IP] [--claimed-country CC] [--verdict V] [--model M] [--flavour F] [--json]
 *                                                    what the policy decides for one request, and why
 *   warden policy screen [-c warden.yaml] [--email E] [--name N] [--organisation O] [--ip IP]
 *                        [--claimed-country CC] [--claimed-subdivision CC-SUB] [--json]
 *                                                    signup screening for one applicant
 *
 * explain and screen read the configuration as `warden serve` does (`-c/--config`, else
 * $WARDEN_CONFIG, else ./warden.yaml, else the defaults) and decide with what the gateway would
 * load from it: its policy file (`--file` names another), IP databases and network lists.
 * `--account` reads the account from the configured store as the gateway reads its caller (its
 * organisation, own and effective tier, programme, claimed country and subdivision); `--org` names an organisation
 * read the same way for an account described by `--tier`.
 *
 * Exit status: 0 valid / allowed, 1 invalid file / refused / not "allow", 2 usage error.
 */
import { existsSync } from 'node:fs';
import { loadConfig, type WardenConfig } from '../config/index.ts';
import { VERDICT_LEVELS, type VerdictLevel } from '../detect/verdict.ts';
import { VERIFICATION_TIERS, PROGRAMMES, type Programme, type VerificationTier } from '../identity/types.ts';
import { ApiFlavour } from '../events/index.ts';
import { openIdentityStore } from '../identity/open.ts';
import { createPolicyRuntime, explainRequest, placeholderContactsWarning, shippedFile, type PolicyRuntime } from './hooks.ts';
import { parseIp } from './ip.ts';
import { loadPolicyFile, PolicyFileError } from './policy-file.ts';
import { SUBDIVISION_CODE } from './subdivisions.ts';
import { subjectFacts, type SubjectFacts, type SubjectInput } from './subject.ts';

export interface PolicyCliIo {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  env: NodeJS.ProcessEnv;
}

const defaultIo: PolicyCliIo = { stdout: (s) => process.stdout.write(s), stderr: (s) => process.stderr.write(s), env: process.env };

const USAGE = `usage:
  warden policy check [FILE]
  warden policy explain [-c warden.yaml] [--file FILE] (--account ID | --tier TIER [--org ID])
                        [--programme P] [--ip IP] [--claimed-country CC] [--claimed-subdivision CC-SUB] [--verdict LEVEL]
                        [--model MODEL] [--flavour FLAVOUR] [--json]
  warden policy screen [-c warden.yaml] [--email E] [--name NAME] [--organisation ORG] [--ip IP]
                       [--claimed-country CC] [--claimed-subdivision CC-SUB] [--json]

explain and screen use the configuration as warden serve reads it (-c/--config FILE, else
$WARDEN_CONFIG, else ./warden.yaml): its policy file (--file names another), IP databases and
network lists. --account reads the account from the configured store as the gateway does (its
organisation, own and effective tier, programme, claimed country and subdivision; --tier,
--programme, --claimed-country and --claimed-subdivision replace its own); without it, --tier is the account's own tier and --org an
organisation read from the store (its tier raises the account's, its rules apply).
`;

class UsageError extends Error {}

/**
 * The policy runtime the gateway would build from this configuration (policy file, IP databases,
 * network lists, screening lists), not watching its file; `file` names another policy file.
 */
function deploymentRuntime(cfg: WardenConfig, file: string | undefined, env: NodeJS.ProcessEnv): PolicyRuntime {
  return createPolicyRuntime({ policy: { ...cfg.policy, watch: false, ...(file !== undefined ? { file } : {}) }, watermark: cfg.watermark }, { env });
}

/**
 * The subject's facts: with --account or --org, read from the configuration's store (not created:
 * a SQLite file that is not there is an error naming it); otherwise the flags given.
 */
async function readSubject(cfg: WardenConfig, env: NodeJS.ProcessEnv, input: SubjectInput): Promise<SubjectFacts> {
  if (input.accountId === undefined && input.orgId === undefined) {
    const tier = input.tier ?? 'unverified';
    if (input.claimedSubdivision !== undefined && input.claimedCountry !== undefined && input.claimedSubdivision.slice(0, 2) !== input.claimedCountry) {
      throw new UsageError(`--claimed-subdivision ${input.claimedSubdivision} is not in --claimed-country ${input.claimedCountry}`);
    }
    return {
      tier, accountTier: tier, programme: input.programme ?? 'none', accountId: null, orgId: null,
      claimedCountry: input.claimedCountry ?? input.claimedSubdivision?.slice(0, 2) ?? null, claimedSubdivision: input.claimedSubdivision ?? null,
    };
  }
  if (cfg.store.driver === 'sqlite' && cfg.store.sqlite_path !== ':memory:' && !existsSync(cfg.store.sqlite_path)) {
    throw new Error(`--account and --org read the gateway's store, and there is no database at ${cfg.store.sqlite_path} (store.sqlite_path): name the deployment's configuration with -c`);
  }
  const identity = openIdentityStore(cfg, { env });
  try { return await subjectFacts(identity, input); } finally { await identity.close(); }
}

function flags(argv: string[], allowed: string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const f = argv[i];
    if (f === '--json') { out.set('json', 'true'); continue; }
    // -c FILE, --config FILE and --config=FILE, as the other commands take the configuration.
    const name = f === '-c' ? 'config' : f.startsWith('--') ? f.slice(2).split('=')[0] : '';
    if (!allowed.includes(name)) throw new UsageError(`unknown option "${f}"`);
    const v = f.startsWith('--') && f.includes('=') ? f.slice(f.indexOf('=') + 1) : argv[++i];
    if (v === undefined) throw new UsageError(`${f} needs a value`);
    if (name === 'config' && v === '') throw new UsageError(`${f} needs a file (got an empty path)`);
    out.set(name, v);
  }
  return out;
}

/** `--claimed-subdivision`: an ISO 3166-2 code (`UA-43`), else a usage error. */
function subdivisionFlag(value: string | undefined): string | null {
  if (value === undefined) return null;
  const code = value.toUpperCase();
  if (!SUBDIVISION_CODE.test(code)) throw new UsageError(`--claimed-subdivision "${value}" is not an ISO 3166-2 code such as UA-43`);
  return code;
}

function oneOf<T extends string>(name: string, value: string | undefined, options: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if (!(options as readonly string[]).includes(value)) throw new UsageError(`--${name} must be one of: ${options.join(', ')}`);
  return value as T;
}

/**
 * Run the policy CLI; returns the exit code.
 *
 * @example await runPolicyCli(['check', 'policy.yaml'])
 */
export async function runPolicyCli(argv: string[], io: PolicyCliIo = defaultIo): Promise<number> {
  const [cmd, ...rest] = argv;
  // Help anywhere prints the usage and does nothing else.
  if (cmd === 'help' || argv.some((a) => a === '--help' || a === '-h')) { io.stdout(USAGE); return 0; }
  try {
    if (cmd === 'check') {
      if (rest.length > 1) throw new UsageError('check takes one file');
      const file = rest[0] ?? shippedFile('policy/default.yaml');
      try {
        const p = loadPolicyFile(file);
        io.stdout(`${file}: valid (${p.document.rules.length} rules, digest ${p.digest.slice(0, 12)})\n`);
        const placeholders = placeholderContactsWarning(p.document);
        if (placeholders) io.stderr(`${placeholders}\n`);
        return 0;
      } catch (err) {
        if (err instanceof PolicyFileError) { io.stderr(err.message + '\n'); return 1; }
        throw err;
      }
    }
    if (cmd === 'explain') {
      const f = flags(rest, ['config', 'file', 'tier', 'programme', 'ip', 'claimed-country', 'claimed-subdivision', 'verdict', 'model', 'flavour', 'account', 'org']);
      const claimedSubdivision = subdivisionFlag(f.get('claimed-subdivision'));
      if (!f.has('tier') && !f.has('account')) throw new UsageError('explain needs --tier, or --account to read it from');
      if (f.has('account') && f.has('org')) throw new UsageError('give --account or --org, not both: an account\'s organisation is read from its record');
      const ipText = f.get('ip');
      const ip = ipText !== undefined ? parseIp(ipText) : null;
      if (ipText !== undefined && !ip) throw new UsageError(`--ip "${ipText}" is not an IP address`);
      const optional = <T extends string>(name: string, options: readonly T[]): T | undefined => (f.has(name) ? oneOf<T>(name, f.get(name), options, options[0]) : undefined);
      const input: SubjectInput = {
        accountId: f.get('account'), orgId: f.get('org'),
        tier: optional<VerificationTier>('tier', VERIFICATION_TIERS), programme: optional<Programme>('programme', PROGRAMMES),
        claimedCountry: f.get('claimed-country')?.toUpperCase(), claimedSubdivision: claimedSubdivision ?? undefined,
      };
      const flavour = oneOf<ApiFlavour>('flavour', f.get('flavour'), ApiFlavour.options, 'openai.chat');
      const verdict = oneOf<VerdictLevel>('verdict', f.get('verdict'), VERDICT_LEVELS, 'none');
      const cfg = loadConfig(f.get('config'), io.env);
      if (!cfg.policy.enabled) io.stderr('note: policy.enabled is false in the configuration: the gateway applies no policy; this is what the policy file would decide\n');
      if (f.has('account') && !f.has('verdict')) io.stderr('note: the verdict is taken as none: the detector\'s verdicts are in the running gateway (warden detect account ID); give --verdict\n');
      const subject = await readSubject(cfg, io.env, input);
      const runtime = deploymentRuntime(cfg, f.get('file'), io.env);
      try {
        const e = explainRequest(runtime, { ...subject, ip, model: f.get('model') ?? '', flavour, verdict });
        const facts = { account_id: subject.accountId, org_id: subject.orgId, tier: subject.tier, account_tier: subject.accountTier, programme: subject.programme, claimed_country: subject.claimedCountry, claimed_subdivision: subject.claimedSubdivision, verdict };
        if (f.has('json')) io.stdout(JSON.stringify({ policy: runtime.store.path, subject: facts, client: { ...e.geo, subdivision: e.subdivision, subdivision_data: e.subdivisionData, networks: e.network.reasons }, matched: e.matched, capabilities: e.capabilities, refusal: e.refusal }, null, 2) + '\n');
        else {
          io.stdout(`policy: ${runtime.store.path}\n`);
          if (subject.accountId !== null || subject.orgId !== null) {
            const who = subject.accountId !== null ? `account ${subject.accountId}` : 'an account';
            const tier = subject.tier === subject.accountTier ? `tier ${subject.tier}` : `own tier ${subject.accountTier}, ${subject.tier} through its organisation`;
            io.stdout(`subject: ${who}${subject.orgId ? ` of organisation ${subject.orgId}` : ''}, ${tier}, programme ${subject.programme}, claimed country ${subject.claimedCountry ?? 'none'}${subject.claimedSubdivision ? `, claimed subdivision ${subject.claimedSubdivision}` : ''}\n`);
          }
          io.stdout(`client: country ${e.geo.country ?? 'unknown'}${e.subdivisionData ? `, subdivision ${e.subdivision ?? 'unknown'} (data ${e.subdivisionData.digest.slice(0, 12)})` : ''}, ASN ${e.geo.asn ?? 'unknown'}${e.geo.asnName ? ` (${e.geo.asnName})` : ''}${e.network.reasons.length ? `, ${e.network.reasons.join('; ')}` : ''}\n`);
          io.stdout(`matched: ${e.matched.join(', ')}\n`);
          io.stdout(e.refusal ? `refused: ${e.refusal.kind} by ${e.refusal.source}: ${e.refusal.message}\n` : `capabilities: ${JSON.stringify(e.capabilities)}\n`);
        }
        return e.refusal ? 1 : 0;
      } finally { runtime.close(); }
    }
    if (cmd === 'screen') {
      const f = flags(rest, ['email', 'name', 'organisation', 'ip', 'claimed-country', 'claimed-subdivision', 'config']);
      const claimedSubdivision = subdivisionFlag(f.get('claimed-subdivision'));
      // As explain: an IP that cannot be read is refused, not screened as if none were given.
      const ipText = f.get('ip');
      if (ipText !== undefined && !parseIp(ipText)) throw new UsageError(`--ip "${ipText}" is not an IP address`);
      const runtime = deploymentRuntime(loadConfig(f.get('config'), io.env), undefined, io.env);
      try {
        const r = runtime.screener.screen({ email: f.get('email'), name: f.get('name'), organisation: f.get('organisation'), signup_ip: f.get('ip'), claimed_country: f.get('claimed-country'), claimed_subdivision: claimedSubdivision });
        if (f.has('json')) io.stdout(JSON.stringify(r, null, 2) + '\n');
        else {
          io.stdout(`decision: ${r.decision}\n`);
          for (const finding of r.findings) io.stdout(`  [${finding.severity}] ${finding.check}: ${finding.explanation}\n`);
        }
        return r.decision === 'allow' ? 0 : 1;
      } finally { runtime.close(); }
    }
    throw new UsageError(cmd ? `unknown sub-command "${cmd}"` : 'missing sub-command');
  } catch (err) {
    if (err instanceof UsageError) { io.stderr(`error: ${err.message}\n${USAGE}`); return 2; }
    io.stderr(`error: ${(err as Error).message}\n`);
    return 2;
  }
}
