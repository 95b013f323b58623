/**
 * `warden policy ...` sub-commands for operators:
 *
 *   warden policy check [FILE]                       validate a policy file (default: the shipped one)
 *   warden policy explain [--file F] --tier T [--programme P] [--ip IP] [--claimed-country CC]
 *                         [--verdict V] [--model M] [--flavour F] [--account ID] [--json]
 *                                                    what the policy decides for one request, and why
 *   warden policy screen [--email E] [--name N] [--organisation O] [--ip IP] [--claimed-country CC]
 *                        [--config warden.yaml] [--json]
 *                                                    signup screening for one applicant
 *
 * Exit status: 0 valid / allowed, 1 invalid file / refused / not "allow", 2 usage error.
 */
import { loadConfig } from '../config/index.ts';
import { VERDICT_LEVELS, type VerdictLevel } from '../detect/verdict.ts';
import { VERIFICATION_TIERS, PROGRAMMES, type Programme, type VerificationTier } from '../identity/types.ts';
import type { ApiFlavour } from '../events/index.ts';
import { watermarkConfigSchema } from '../watermark/config.ts';
import { policyConfigSchema } from './config.ts';
import { loadGeoIndex } from './geo.ts';
import { createPolicyRuntime, shippedFile } from './hooks.ts';
import { parseIp } from './ip.ts';
import { loadHostingList, NetworkClassifier } from './networks.ts';
import { loadPolicyFile, PolicyFileError } from './policy-file.ts';

export interface PolicyCliIo {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  env: NodeJS.ProcessEnv;
}

const defaultIo: PolicyCliIo = { stdout: (s) => process.stdout.write(s), stderr: (s) => process.stderr.write(s), env: process.env };

const USAGE = `usage:
  warden policy check [FILE]
  warden policy explain [--file FILE] --tier TIER [--programme P] [--ip IP] [--claimed-country CC]
                        [--verdict LEVEL] [--model MODEL] [--flavour FLAVOUR] [--account ID] [--json]
  warden policy screen [--email E] [--name NAME] [--organisation ORG] [--ip IP] [--claimed-country CC]
                       [--config warden.yaml] [--json]
`;

class UsageError extends Error {}

function flags(argv: string[], allowed: string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const f = argv[i];
    if (f === '--json') { out.set('json', 'true'); continue; }
    if (!f.startsWith('--') || !allowed.includes(f.slice(2))) throw new UsageError(`unknown option "${f}"`);
    const v = argv[++i];
    if (v === undefined) throw new UsageError(`${f} needs a value`);
    out.set(f.slice(2), v);
  }
  return out;
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
        return 0;
      } catch (err) {
        if (err instanceof PolicyFileError) { io.stderr(err.message + '\n'); return 1; }
        throw err;
      }
    }
    if (cmd === 'explain') {
      const f = flags(rest, ['file', 'tier', 'programme', 'ip', 'claimed-country', 'verdict', 'model', 'flavour', 'account']);
      if (!f.has('tier')) throw new UsageError('explain needs --tier');
      const policy = loadPolicyFile(f.get('file') ?? shippedFile('policy/default.yaml'));
      const ipText = f.get('ip');
      const ip = ipText !== undefined ? parseIp(ipText) : null;
      if (ipText !== undefined && !ip) throw new UsageError(`--ip "${ipText}" is not an IP address`);
      const geo = ip ? loadGeoIndex().lookupParsed(ip) : { country: null, asn: null, asnName: null };
      const network = new NetworkClassifier(loadHostingList(shippedFile('policy/hosting-asns.txt')), null, null).classify(ip, geo.asn, geo.asnName);
      const decision = policy.evaluate({
        tier: oneOf<VerificationTier>('tier', f.get('tier'), VERIFICATION_TIERS, 'unverified'),
        programme: oneOf<Programme>('programme', f.get('programme'), PROGRAMMES, 'none'),
        accountId: f.get('account') ?? null, orgId: null, model: f.get('model') ?? '',
        flavour: oneOf<ApiFlavour>('flavour', f.get('flavour'), ['openai.chat', 'openai.responses', 'anthropic.messages', 'openai.completions', 'openai.embeddings'], 'openai.chat'),
        country: geo.country, claimedCountry: f.get('claimed-country')?.toUpperCase() ?? null, asn: geo.asn, networks: network.kinds,
        verdict: oneOf<VerdictLevel>('verdict', f.get('verdict'), VERDICT_LEVELS, 'none'),
      });
      const result = { client: { ...geo, networks: network.reasons }, ...decision };
      if (f.has('json')) io.stdout(JSON.stringify(result, null, 2) + '\n');
      else {
        io.stdout(`client: country ${geo.country ?? 'unknown'}, ASN ${geo.asn ?? 'unknown'}${geo.asnName ? ` (${geo.asnName})` : ''}${network.reasons.length ? `, ${network.reasons.join('; ')}` : ''}\n`);
        io.stdout(`matched: ${decision.matched.join(', ')}\n`);
        io.stdout(decision.refusal ? `refused: ${decision.refusal.kind} by ${decision.refusal.source}: ${decision.refusal.message}\n` : `capabilities: ${JSON.stringify(decision.capabilities)}\n`);
      }
      return decision.refusal ? 1 : 0;
    }
    if (cmd === 'screen') {
      const f = flags(rest, ['email', 'name', 'organisation', 'ip', 'claimed-country', 'config']);
      // As explain: an IP that cannot be read is refused, not screened as if none were given.
      const ipText = f.get('ip');
      if (ipText !== undefined && !parseIp(ipText)) throw new UsageError(`--ip "${ipText}" is not an IP address`);
      const cfg = f.has('config') ? loadConfig(f.get('config'), io.env) : null;
      const runtime = createPolicyRuntime({
        policy: { ...(cfg?.policy ?? policyConfigSchema.parse({})), watch: false },
        watermark: cfg?.watermark ?? watermarkConfigSchema.parse({}),
      }, { env: io.env });
      try {
        const r = runtime.screener.screen({ email: f.get('email'), name: f.get('name'), organisation: f.get('organisation'), signup_ip: f.get('ip'), claimed_country: f.get('claimed-country') });
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
