/**
 * The policy file: a YAML document mapping tiers, programmes, regions, networks and detector
 * verdicts to capabilities and actions. Parsed strictly (unknown keys are errors, so a typo never
 * silently weakens a rule), checked for cross-references, then compiled into a form that answers
 * one request in a few microseconds. Documented in docs/policy.md.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { VERDICT_LEVELS, verdictRank, type VerdictLevel } from '../detect/verdict.ts';
import { VERIFICATION_TIERS, PROGRAMMES, type VerificationTier, type Programme } from '../identity/types.ts';
import { ApiFlavour as ApiFlavourSchema, type ApiFlavour } from '../events/index.ts';
import {
  openCapabilities, overlayCapabilities, restrictCapabilities, globMatch as globLike,
  type Capabilities, type CapabilitiesPatch,
} from './capabilities.ts';

export const NETWORK_KINDS = ['hosting', 'vpn', 'tor'] as const;
export type NetworkKind = (typeof NETWORK_KINDS)[number];

const Country = z.string().regex(/^[A-Z]{2}$/, 'a country is an ISO 3166-1 alpha-2 code in capitals, e.g. "DE"');
const CountryOrUnknown = z.union([Country, z.literal('unknown')]);
const Tier = z.enum(VERIFICATION_TIERS as [VerificationTier, ...VerificationTier[]]);
const Prog = z.enum(PROGRAMMES as [Programme, ...Programme[]]);
const Verdict = z.enum(VERDICT_LEVELS);
const oneOrMany = <T extends z.ZodType>(t: T) => z.union([t, z.array(t).min(1)]).transform((v) => (Array.isArray(v) ? v : [v]) as z.output<T>[]);

const capabilitiesSchema = z.strictObject({
  reasoning: z.enum(['full', 'summary', 'none']).optional(),
  logprobs: z.boolean().optional(),
  top_logprobs_max: z.number().int().min(0).max(20).optional(),
  logit_bias: z.enum(['allow', 'without_logprobs', 'none']).optional(),
  n_max: z.number().int().min(1).optional(),
  max_tokens_ceiling: z.number().int().min(1).nullable().optional(),
  tools: z.boolean().optional(),
  models: z.array(z.string().min(1)).min(1).optional(),
  deny_models: z.array(z.string().min(1)).optional(),
  watermark: z.boolean().optional(),
  embedding_noise: z.number().min(0).max(1).optional(),
  embedding_watermark: z.boolean().optional(),
});

const whenSchema = z.strictObject({
  /** Client IP country (from the IP database); `unknown` when it has none. */
  country: oneOrMany(CountryOrUnknown).optional(),
  country_not: oneOrMany(CountryOrUnknown).optional(),
  /** Named country groups from `regions:`. */
  region: oneOrMany(z.string()).optional(),
  region_not: oneOrMany(z.string()).optional(),
  /** Country the customer claimed at signup. */
  claimed_country: oneOrMany(CountryOrUnknown).optional(),
  claimed_region: oneOrMany(z.string()).optional(),
  /** Claimed country differs from the IP country (both known). */
  country_mismatch: z.boolean().optional(),
  network: oneOrMany(z.enum(NETWORK_KINDS)).optional(),
  asn: oneOrMany(z.number().int().nonnegative()).optional(),
  tier: oneOrMany(Tier).optional(),
  /** Tier strictly below this one. */
  tier_below: Tier.optional(),
  programme: oneOrMany(Prog).optional(),
  verdict_at_least: Verdict.optional(),
  model: oneOrMany(z.string().min(1)).optional(),
  flavour: oneOrMany(ApiFlavourSchema).optional(),
  account: oneOrMany(z.string().min(1)).optional(),
  org: oneOrMany(z.string().min(1)).optional(),
});

const ruleSchema = z.strictObject({
  id: z.string().regex(/^[a-z0-9][a-z0-9_.-]*$/, 'rule ids are lowercase letters, digits, ".", "_" or "-"'),
  description: z.string().optional(),
  when: whenSchema.default({}),
  /** allow: stop evaluating further rules (an exemption). restrict: narrow capabilities. deny/verify/suspend: refuse. */
  action: z.enum(['allow', 'restrict', 'deny', 'verify', 'suspend']),
  /** Error code for `deny`: region_blocked (WARDEN_REGION_BLOCKED) or policy_denied (WARDEN_POLICY_DENIED). */
  code: z.enum(['region_blocked', 'policy_denied']).optional(),
  message: z.string().trim().min(1).optional(),
  capabilities: capabilitiesSchema.optional(),
  /** Restrict rules: whether the client is told what the rule changed (`x-warden-shaping`). Default true. */
  disclose: z.boolean().optional(),
  /** Restrict rules: `refuse` answers 403 instead of sending a request the rule would change. */
  on_shape: z.enum(['rewrite', 'refuse']).optional(),
});

const verdictActionSchema = z.strictObject({
  action: z.enum(['restrict', 'verify', 'suspend']).default('restrict'),
  message: z.string().trim().min(1).optional(),
  capabilities: capabilitiesSchema.optional(),
  /** Whether the client is told what the verdict's capabilities changed. Default false: telling it names the verdict. */
  disclose: z.boolean().default(false),
  /** `refuse` answers 403 instead of sending a request the verdict's capabilities would change. */
  on_shape: z.enum(['rewrite', 'refuse']).default('rewrite'),
});

const messagesSchema = z.strictObject({
  verify: z.string().trim().min(1).default('Your account needs additional verification before it can continue to use this API.'),
  verify_url: z.string().url().nullable().default(null),
  suspend: z.string().trim().min(1).default('This account is suspended.'),
  appeal_contact: z.string().min(1).nullable().default(null),
  region_blocked: z.string().trim().min(1).default('This service is not available in your region.'),
  policy_denied: z.string().trim().min(1).default('This request is not allowed by the provider\'s usage policy.'),
}).prefault({});

export const policyDocumentSchema = z.strictObject({
  version: z.literal(1),
  description: z.string().optional(),
  messages: messagesSchema,
  defaults: capabilitiesSchema.default({}),
  tiers: z.partialRecord(Tier, capabilitiesSchema).default({}),
  programmes: z.partialRecord(Prog, capabilitiesSchema).default({}),
  regions: z.record(z.string().regex(/^[a-z0-9_-]+$/, 'region names are lowercase letters, digits, "_" or "-"'), z.array(Country).min(1)).default({}),
  verdicts: z.partialRecord(Verdict, verdictActionSchema).default({}),
  rules: z.array(ruleSchema).default([]),
});
export type PolicyDocument = z.infer<typeof policyDocumentSchema>;
type Rule = z.infer<typeof ruleSchema>;
type When = z.infer<typeof whenSchema>;

/** A policy file that cannot be used, with where and why. */
export class PolicyFileError extends Error {
  readonly file: string;
  readonly problems: { path: string; message: string }[];
  constructor(file: string, problems: { path: string; message: string }[]) {
    super(`invalid policy file ${file}:\n${problems.map((p) => `  ${p.path || '(root)'}: ${p.message}`).join('\n')}`);
    this.name = 'PolicyFileError';
    this.file = file;
    this.problems = problems;
  }
}

/** What the policy needs to know about one request. */
export interface RequestFacts {
  /** Effective tier: the higher of the account's and its organisation's (what tiers and rules read). */
  tier: VerificationTier;
  /**
   * The account's own tier, not raised by its organisation's: whether the identity verification a
   * `verify` verdict asks for is done (an unverified account added to an enterprise organisation
   * has not done it).
   */
  accountTier: VerificationTier;
  programme: Programme;
  accountId: string | null;
  orgId: string | null;
  model: string;
  flavour: ApiFlavour;
  /** IP country, ISO alpha-2, or null when unknown. */
  country: string | null;
  claimedCountry: string | null;
  asn: number | null;
  networks: readonly NetworkKind[];
  verdict: VerdictLevel;
}

export type RefusalKind = 'deny' | 'region_blocked' | 'verify' | 'suspend';

/** The policy's answer for one request: capabilities to enforce, or a refusal; and why. */
export interface PolicyDecision {
  capabilities: Capabilities;
  /** Everything that contributed, in order: `tier:unverified`, `rule:<id>`, `verdict:shape`... */
  matched: string[];
  refusal: { kind: RefusalKind; source: string; message: string } | null;
  /**
   * The capabilities the client is told about: `capabilities` without the narrowing of entries
   * that do not disclose (verdicts by default, rules with `disclose: false`). The same object as
   * `capabilities` when every narrowing is disclosed.
   */
  disclosed: Capabilities;
  /**
   * Entries with `on_shape: refuse` that narrowed the capabilities (`rule:<id>`, `verdict:<level>`),
   * and the capabilities without their narrowing: a request they would change is refused.
   */
  refuseShaping: { sources: string[]; capabilities: Capabilities } | null;
}

/** A compiled policy: immutable, evaluated per request. */
export interface CompiledPolicy {
  readonly document: PolicyDocument;
  readonly source: string;
  /** sha256 of the file text, for logs and events. */
  readonly digest: string;
  evaluate(facts: RequestFacts): PolicyDecision;
  /**
   * The refusal of the verdict in force alone (`verdicts.<level>` with action verify or suspend),
   * as `evaluate` gives it first: for routes that refuse a barred account before they know more
   * about the request (stored and background responses).
   */
  verdictRefusal(facts: Pick<RequestFacts, 'accountTier' | 'verdict'>): PolicyDecision['refusal'];
}

/**
 * What a `verify` refusal asks for is identity verification: an account whose own tier is this
 * or above has done it, so a verdict whose action is `verify` no longer refuses it (as its message
 * promises). Its organisation's tier does not count: the verification is the account's.
 */
const VERIFIED_TIER = VERIFICATION_TIERS.indexOf('identity_verified');
const verificationDone = (tier: VerificationTier): boolean => VERIFICATION_TIERS.indexOf(tier) >= VERIFIED_TIER;

/** Whether any part of the policy (defaults, a tier, a programme, a rule, a verdict) turns embedding noise on. */
export function policyNoisesEmbeddings(doc: PolicyDocument): boolean {
  const all = [doc.defaults, ...Object.values(doc.tiers), ...Object.values(doc.programmes), ...doc.rules.map((r) => r.capabilities), ...Object.values(doc.verdicts).map((v) => v?.capabilities)];
  return all.some((c) => (c?.embedding_noise ?? 0) > 0);
}

/** Parse and validate policy text. Throws PolicyFileError listing every problem. */
export function parsePolicyText(text: string, source: string): PolicyDocument {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new PolicyFileError(source, doc.errors.map((e) => ({ path: '', message: `YAML: ${e.message.split('\n')[0]}` })));
  }
  const raw = doc.toJS() as unknown;
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new PolicyFileError(source, [{ path: '', message: 'the policy file must be a YAML mapping with at least `version: 1`' }]);
  }
  const parsed = policyDocumentSchema.safeParse(raw);
  if (!parsed.success) {
    throw new PolicyFileError(source, parsed.error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message })));
  }
  const problems = crossCheck(parsed.data);
  if (problems.length > 0) throw new PolicyFileError(source, problems);
  return parsed.data;
}

function crossCheck(doc: PolicyDocument): { path: string; message: string }[] {
  const problems: { path: string; message: string }[] = [];
  const ids = new Set<string>();
  doc.rules.forEach((rule, i) => {
    const at = `rules.${i}`;
    if (ids.has(rule.id)) problems.push({ path: `${at}.id`, message: `duplicate rule id "${rule.id}"` });
    ids.add(rule.id);
    for (const key of ['region', 'region_not', 'claimed_region'] as const) {
      for (const name of rule.when[key] ?? []) {
        if (!doc.regions[name]) problems.push({ path: `${at}.when.${key}`, message: `unknown region "${name}" (define it under regions:)` });
      }
    }
    if (rule.action === 'restrict' && !rule.capabilities) problems.push({ path: `${at}.capabilities`, message: 'a restrict rule needs capabilities' });
    if (rule.action !== 'restrict' && rule.capabilities) problems.push({ path: `${at}.capabilities`, message: `capabilities only apply to restrict rules, not ${rule.action}` });
    if (rule.code && rule.action !== 'deny') problems.push({ path: `${at}.code`, message: 'code only applies to deny rules' });
    for (const key of ['disclose', 'on_shape'] as const) {
      if (rule[key] !== undefined && rule.action !== 'restrict') problems.push({ path: `${at}.${key}`, message: `${key} only applies to restrict rules, not ${rule.action}` });
    }
  });
  for (const [level, v] of Object.entries(doc.verdicts)) {
    if (v && v.action === 'restrict' && !v.capabilities) problems.push({ path: `verdicts.${level}.capabilities`, message: 'a restrict verdict action needs capabilities' });
  }
  return problems;
}

/** Read, validate and compile a policy file. Throws PolicyFileError; never returns a partial policy. */
export function loadPolicyFile(path: string): CompiledPolicy {
  let text: string;
  try { text = readFileSync(path, 'utf8'); } catch (err) {
    throw new PolicyFileError(path, [{ path: '', message: `cannot read: ${(err as Error).message}` }]);
  }
  return compilePolicy(parsePolicyText(text, path), path, text);
}

type Predicate = (f: RequestFacts) => boolean;

interface CompiledRule {
  rule: Rule;
  test: Predicate;
  tag: string;
}

/** Compile a validated document. */
export function compilePolicy(doc: PolicyDocument, source: string, text = ''): CompiledPolicy {
  // Base capabilities per tier x programme are computed once: defaults, then tier, then programme.
  const base = new Map<string, Capabilities>();
  for (const tier of VERIFICATION_TIERS) {
    for (const prog of PROGRAMMES) {
      let caps = overlayCapabilities(openCapabilities(), doc.defaults as CapabilitiesPatch);
      const t = doc.tiers[tier];
      if (t) caps = overlayCapabilities(caps, t as CapabilitiesPatch);
      const p = doc.programmes[prog];
      if (p) caps = overlayCapabilities(caps, p as CapabilitiesPatch);
      base.set(`${tier}/${prog}`, caps);
    }
  }
  const rules: CompiledRule[] = doc.rules.map((rule) => ({ rule, test: compileWhen(rule.when, doc.regions), tag: `rule:${rule.id}` }));
  const verdictEntries = VERDICT_LEVELS.map((level) => doc.verdicts[level] ?? null);
  const messages = doc.messages;

  const verifyMessage = messages.verify + (messages.verify_url ? ` Verify at ${messages.verify_url}` : '');
  const suspendMessage = messages.suspend + (messages.appeal_contact ? ` To appeal, contact ${messages.appeal_contact}.` : '');

  function refusalFor(kind: 'deny' | 'verify' | 'suspend', code: Rule['code'], source: string, message: string | undefined): NonNullable<PolicyDecision['refusal']> {
    if (kind === 'verify') return { kind, source, message: message ? `${message}${messages.verify_url ? ` Verify at ${messages.verify_url}` : ''}` : verifyMessage };
    if (kind === 'suspend') return { kind, source, message: message ?? suspendMessage };
    const k: RefusalKind = code === 'region_blocked' ? 'region_blocked' : 'deny';
    return { kind: k, source, message: message ?? (k === 'region_blocked' ? messages.region_blocked : messages.policy_denied) };
  }

  /** The verdict entry's refusal, or null (restrict, no entry, or verification asked for and done). */
  function verdictRefusal(facts: Pick<RequestFacts, 'accountTier' | 'verdict'>): PolicyDecision['refusal'] {
    const entry = verdictEntries[verdictRank(facts.verdict)];
    if (!entry || entry.action === 'restrict') return null;
    if (entry.action === 'verify' && verificationDone(facts.accountTier)) return null;
    return refusalFor(entry.action, undefined, `verdict:${facts.verdict}`, entry.message);
  }

  return {
    document: doc,
    source,
    digest: text ? sha256Hex(text) : '',
    verdictRefusal,
    evaluate(facts: RequestFacts): PolicyDecision {
      const matched: string[] = [`tier:${facts.tier}`];
      if (facts.programme !== 'none') matched.push(`programme:${facts.programme}`);
      const base0 = base.get(`${facts.tier}/${facts.programme}`) ?? base.get('unverified/none')!;
      // Three views of the same narrowing: what is enforced, what the client is told of, and what
      // is left without the entries that refuse rather than rewrite.
      const narrowing = new Narrowing(base0);
      // The verdict's refusal comes first: a suspended account is suspended wherever it calls from.
      const verdictEntry = verdictEntries[verdictRank(facts.verdict)];
      const refusal = verdictRefusal(facts);
      if (refusal) {
        matched.push(`verdict:${facts.verdict}`);
        return narrowing.decision(matched, refusal);
      }
      for (const { rule, test, tag } of rules) {
        if (!test(facts)) continue;
        matched.push(tag);
        if (rule.action === 'allow') break;
        if (rule.action === 'restrict') { narrowing.apply(rule.capabilities as CapabilitiesPatch, tag, rule.disclose ?? true, rule.on_shape === 'refuse'); continue; }
        return narrowing.decision(matched, refusalFor(rule.action, rule.code, tag, rule.message));
      }
      const verdictTag = `verdict:${facts.verdict}`;
      if (verdictEntry?.action === 'verify') {
        // Verification asked for and done: served, but never more openly than any level below
        // would serve it (an account the detector holds at verify is not served as one at none,
        // nor more openly than at shape): every entry up to this one that has capabilities
        // narrows them, whatever its action (a lower `verify` entry's are what it serves a
        // verified account with).
        matched.push(verdictTag);
        const rank = verdictRank(facts.verdict);
        for (let l = 1; l <= rank; l++) {
          const e = verdictEntries[l];
          if (e?.capabilities) narrowing.apply(e.capabilities as CapabilitiesPatch, verdictTag, e.disclose, e.on_shape === 'refuse');
        }
      } else if (verdictEntry?.capabilities) {
        matched.push(verdictTag);
        narrowing.apply(verdictEntry.capabilities as CapabilitiesPatch, verdictTag, verdictEntry.disclose, verdictEntry.on_shape === 'refuse');
      }
      return narrowing.decision(matched, null);
    },
  };
}

/** Capabilities narrowed entry by entry, kept in the three views a decision gives. */
class Narrowing {
  private caps: Capabilities;
  private disclosed: Capabilities;
  private unrefused: Capabilities;
  /** Some narrowing was not disclosed: `disclosed` differs from `caps`. */
  private hidden = false;
  private readonly refusing: string[] = [];
  constructor(base: Capabilities) { this.caps = this.disclosed = this.unrefused = base; }

  apply(patch: CapabilitiesPatch, tag: string, disclose: boolean, refuse: boolean): void {
    this.caps = restrictCapabilities(this.caps, patch);
    if (disclose) this.disclosed = restrictCapabilities(this.disclosed, patch); else this.hidden = true;
    if (!refuse) this.unrefused = restrictCapabilities(this.unrefused, patch);
    else if (!this.refusing.includes(tag)) this.refusing.push(tag);
  }

  decision(matched: string[], refusal: PolicyDecision['refusal']): PolicyDecision {
    return {
      capabilities: this.caps, matched, refusal,
      disclosed: this.hidden ? this.disclosed : this.caps,
      refuseShaping: this.refusing.length > 0 ? { sources: this.refusing, capabilities: this.unrefused } : null,
    };
  }
}

function compileWhen(when: When, regions: Record<string, string[]>): Predicate {
  const tests: Predicate[] = [];
  const countryKey = (c: string | null) => c ?? 'unknown';
  const regionSet = (names: string[]) => new Set(names.flatMap((n) => regions[n] ?? []));
  if (when.country) { const s = new Set<string>(when.country); tests.push((f) => s.has(countryKey(f.country))); }
  if (when.country_not) { const s = new Set<string>(when.country_not); tests.push((f) => !s.has(countryKey(f.country))); }
  if (when.region) { const s = regionSet(when.region); tests.push((f) => f.country !== null && s.has(f.country)); }
  if (when.region_not) { const s = regionSet(when.region_not); tests.push((f) => f.country !== null && !s.has(f.country)); }
  if (when.claimed_country) { const s = new Set<string>(when.claimed_country); tests.push((f) => s.has(countryKey(f.claimedCountry))); }
  if (when.claimed_region) { const s = regionSet(when.claimed_region); tests.push((f) => f.claimedCountry !== null && s.has(f.claimedCountry)); }
  if (when.country_mismatch !== undefined) {
    const want = when.country_mismatch;
    tests.push((f) => f.country !== null && f.claimedCountry !== null && (f.country !== f.claimedCountry) === want);
  }
  if (when.network) { const s = new Set<string>(when.network); tests.push((f) => f.networks.some((n) => s.has(n))); }
  if (when.asn) { const s = new Set(when.asn); tests.push((f) => f.asn !== null && s.has(f.asn)); }
  if (when.tier) { const s = new Set<string>(when.tier); tests.push((f) => s.has(f.tier)); }
  if (when.tier_below) { const r = VERIFICATION_TIERS.indexOf(when.tier_below); tests.push((f) => VERIFICATION_TIERS.indexOf(f.tier) < r); }
  if (when.programme) { const s = new Set<string>(when.programme); tests.push((f) => s.has(f.programme)); }
  if (when.verdict_at_least) { const r = verdictRank(when.verdict_at_least); tests.push((f) => verdictRank(f.verdict) >= r); }
  if (when.model) { const pats = when.model; tests.push((f) => pats.some((p) => globLike(p, f.model))); }
  if (when.flavour) { const s = new Set<string>(when.flavour); tests.push((f) => s.has(f.flavour)); }
  if (when.account) { const s = new Set(when.account); tests.push((f) => f.accountId !== null && s.has(f.accountId)); }
  if (when.org) { const s = new Set(when.org); tests.push((f) => f.orgId !== null && s.has(f.orgId)); }
  if (tests.length === 0) return () => true;
  if (tests.length === 1) return tests[0];
  return (f) => { for (const t of tests) if (!t(f)) return false; return true; };
}

function sha256Hex(text: string): string { return createHash('sha256').update(text).digest('hex'); }
