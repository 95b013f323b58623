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
import { SUBDIVISION_CODE } from './subdivisions.ts';

export const NETWORK_KINDS = ['hosting', 'vpn', 'tor'] as const;
export type NetworkKind = (typeof NETWORK_KINDS)[number];

const Country = z.string().regex(/^[A-Z]{2}$/, 'a country is an ISO 3166-1 alpha-2 code in capitals, e.g. "DE"');
const CountryOrUnknown = z.union([Country, z.literal('unknown')]);
const Subdivision = z.string().regex(SUBDIVISION_CODE, 'a subdivision is an ISO 3166-2 code in capitals, e.g. "UA-43"');
/** A `regions:` member: a country (ISO 3166-1 alpha-2) or a subdivision (ISO 3166-2). */
const RegionMember = z.string().regex(/^[A-Z]{2}(-[A-Z0-9]{1,3})?$/, 'a region member is an ISO 3166-1 alpha-2 country ("DE") or an ISO 3166-2 subdivision ("UA-43"), in capitals');
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
  /** Client IP subdivision (ISO 3166-2, from `policy.geo.subdivision_files`). */
  subdivision: oneOrMany(Subdivision).optional(),
  subdivision_not: oneOrMany(Subdivision).optional(),
  /** Country the customer claimed at signup. */
  claimed_country: oneOrMany(CountryOrUnknown).optional(),
  claimed_region: oneOrMany(z.string()).optional(),
  /** Subdivision the customer claimed at signup (signup screening's `claimed_subdivision`). */
  claimed_subdivision: oneOrMany(Subdivision).optional(),
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
  regions: z.record(z.string().regex(/^[a-z0-9_-]+$/, 'region names are lowercase letters, digits, "_" or "-"'), z.array(RegionMember).min(1)).default({}),
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
  /** IP subdivision, ISO 3166-2, or null when the subdivision data has none for the address (or there is no data). */
  subdivision?: string | null;
  /** Subdivision the customer claimed, ISO 3166-2 (the account's `claimed_subdivision`, or signup screening's), or null. */
  claimedSubdivision?: string | null;
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

/**
 * What the policy knows of the subdivision data behind the `subdivision` conditions (and regions
 * with ISO 3166-2 members): given by the runtime from `policy.geo.*`.
 */
export interface PolicyGeoContext {
  /** The configured subdivision data (`policy.geo.subdivision_files`), or null: none. */
  subdivisionData: { covers(country: string): boolean; digest: string } | null;
  /** Refuse a policy whose IP conditions name a subdivision of a country the data does not cover. */
  requireSubdivisionData: boolean;
  /**
   * A client in a subdivision's country whose subdivision is unknown (no range in the data, or no
   * data): `inside` counts it as possibly in the named subdivisions (a deny rule refuses it: fail
   * closed), `outside` as not in them (fail open).
   */
  unknownSubdivision: 'inside' | 'outside';
}

/** Structure only (`warden policy check` without a configuration): no subdivision data, none required, unknown counted inside. */
export const NO_GEO_CONTEXT: PolicyGeoContext = { subdivisionData: null, requireSubdivisionData: false, unknownSubdivision: 'inside' };

/** The subdivisions each rule's IP conditions name (`subdivision`, `subdivision_not`, and ISO 3166-2 members of its `region`, `region_not` groups), by rule path. */
export function ipSubdivisionsNamed(doc: PolicyDocument): Array<{ path: string; rule: string; subdivisions: string[] }> {
  const out: Array<{ path: string; rule: string; subdivisions: string[] }> = [];
  doc.rules.forEach((rule, i) => {
    const named = new Set<string>([...(rule.when.subdivision ?? []), ...(rule.when.subdivision_not ?? [])]);
    for (const g of [...(rule.when.region ?? []), ...(rule.when.region_not ?? [])]) for (const m of doc.regions[g] ?? []) if (m.includes('-')) named.add(m);
    if (named.size > 0) out.push({ path: `rules.${i}.when`, rule: rule.id, subdivisions: [...named].sort() });
  });
  return out;
}

/** The rules whose claimed conditions name subdivisions (`claimed_subdivision`, ISO 3166-2 members of a `claimed_region` group). */
export function claimedSubdivisionRules(doc: PolicyDocument): Array<{ path: string; rule: string; countries: string[] }> {
  const out: Array<{ path: string; rule: string; countries: string[] }> = [];
  doc.rules.forEach((rule, i) => {
    const named = [...(rule.when.claimed_subdivision ?? []), ...(rule.when.claimed_region ?? []).flatMap((g) => doc.regions[g] ?? []).filter((m) => m.includes('-'))];
    if (named.length > 0) out.push({ path: `rules.${i}.when`, rule: rule.id, countries: [...new Set(named.map((m) => m.slice(0, 2)))].sort() });
  });
  return out;
}

/**
 * The subdivisions named by IP conditions whose country the subdivision data does not cover, as
 * policy problems (a subdivision rule the data cannot decide would otherwise match every client of
 * the country, or none, depending on `unknown_subdivision`, without anyone having chosen it).
 */
export function uncoveredSubdivisions(doc: PolicyDocument, geo: PolicyGeoContext): { path: string; message: string }[] {
  const problems: { path: string; message: string }[] = [];
  for (const { path, rule, subdivisions } of ipSubdivisionsNamed(doc)) {
    const missing = subdivisions.filter((s) => !geo.subdivisionData?.covers(s.slice(0, 2)));
    if (missing.length === 0) continue;
    problems.push({
      path,
      message: geo.subdivisionData
        ? `rule "${rule}" names ${missing.join(', ')}, and the subdivision data (policy.geo.subdivision_files, digest ${geo.subdivisionData.digest.slice(0, 12)}) has no range for ${[...new Set(missing.map((m) => m.slice(0, 2)))].join(', ')}: add data covering it, or set policy.geo.require_subdivision_data: false to let policy.geo.unknown_subdivision decide`
        : `rule "${rule}" names ${missing.join(', ')}, and no subdivision data is configured (policy.geo.subdivision_files), so the client's subdivision cannot be known: configure it, or set policy.geo.require_subdivision_data: false to let policy.geo.unknown_subdivision (${geo.unknownSubdivision}) decide for every client of ${[...new Set(missing.map((m) => m.slice(0, 2)))].join(', ')}`,
    });
  }
  return problems;
}

/**
 * Read, validate and compile a policy file. Throws PolicyFileError; never returns a partial policy.
 * With a geo context that requires subdivision data, a rule naming a subdivision the data cannot
 * decide is a problem too.
 */
export function loadPolicyFile(path: string, geo: PolicyGeoContext = NO_GEO_CONTEXT): CompiledPolicy {
  let text: string;
  try { text = readFileSync(path, 'utf8'); } catch (err) {
    throw new PolicyFileError(path, [{ path: '', message: `cannot read: ${(err as Error).message}` }]);
  }
  const doc = parsePolicyText(text, path);
  if (geo.requireSubdivisionData) {
    const problems = uncoveredSubdivisions(doc, geo);
    if (problems.length > 0) throw new PolicyFileError(path, problems);
  }
  return compilePolicy(doc, path, text, geo);
}

type Predicate = (f: RequestFacts) => boolean;

interface CompiledRule {
  rule: Rule;
  test: Predicate;
  tag: string;
  /** What the rule read of subdivisions, for the decision's explanation (null: it reads none). */
  subdivisionNote: ((f: RequestFacts) => string[]) | null;
}

/** Compile a validated document. */
export function compilePolicy(doc: PolicyDocument, source: string, text = '', geo: PolicyGeoContext = NO_GEO_CONTEXT): CompiledPolicy {
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
  const unknownInside = geo.unknownSubdivision === 'inside';
  const dataTag = geo.subdivisionData ? `data:${geo.subdivisionData.digest.slice(0, 12)}` : 'data:none';
  const rules: CompiledRule[] = doc.rules.map((rule) => ({
    rule, test: compileWhen(rule.when, doc.regions, unknownInside), tag: `rule:${rule.id}`,
    subdivisionNote: subdivisionNoteOf(rule.when, doc.regions, geo.unknownSubdivision, dataTag),
  }));
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
      for (const { rule, test, tag, subdivisionNote } of rules) {
        if (!test(facts)) continue;
        matched.push(tag);
        if (subdivisionNote) matched.push(...subdivisionNote(facts));
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

/**
 * Whether a place is in one of `codes` (ISO 3166-2): true or false, or null when not even its
 * country is known. A place in a subdivision's country whose subdivision is unknown is in them
 * when `unknownInside` (fail closed), else not.
 */
type SubdivisionTest = (subdivision: string | null, country: string | null) => boolean | null;
function subdivisionTest(codes: Iterable<string>, unknownInside: boolean): SubdivisionTest {
  const s = new Set(codes);
  const countries = new Set([...s].map((c) => c.slice(0, 2)));
  return (sub, country) => {
    if (sub !== null) return s.has(sub);
    if (country === null) return null;
    return countries.has(country) ? unknownInside : false;
  };
}

/**
 * The explanation tags of a rule that reads subdivisions, added after `rule:<id>` when it matches:
 * `subdivision:UA-43@data:<digest>` (the client's, from the data), or
 * `subdivision:unknown(UA)->inside@data:<digest>` (counted by `unknown_subdivision`); the same with
 * `claimed_subdivision:` for the customer's claim.
 */
function subdivisionNoteOf(when: When, regions: Record<string, string[]>, unknown: 'inside' | 'outside', dataTag: string): ((f: RequestFacts) => string[]) | null {
  const members = (names: string[] | undefined) => (names ?? []).flatMap((n) => regions[n] ?? []).filter((m) => m.includes('-'));
  const ip = [...(when.subdivision ?? []), ...(when.subdivision_not ?? []), ...members(when.region), ...members(when.region_not)];
  const claimed = [...(when.claimed_subdivision ?? []), ...members(when.claimed_region)];
  if (ip.length === 0 && claimed.length === 0) return null;
  const ipCountries = new Set(ip.map((c) => c.slice(0, 2)));
  const claimedCountries = new Set(claimed.map((c) => c.slice(0, 2)));
  return (f) => {
    const out: string[] = [];
    if (ip.length > 0) {
      if (f.subdivision != null) out.push(`subdivision:${f.subdivision}@${dataTag}`);
      else if (f.country !== null && ipCountries.has(f.country)) out.push(`subdivision:unknown(${f.country})->${unknown}@${dataTag}`);
    }
    if (claimed.length > 0) {
      if (f.claimedSubdivision != null) out.push(`claimed_subdivision:${f.claimedSubdivision}`);
      else if (f.claimedCountry !== null && claimedCountries.has(f.claimedCountry)) out.push(`claimed_subdivision:unknown(${f.claimedCountry})->${unknown}`);
    }
    return out;
  };
}

function compileWhen(when: When, regions: Record<string, string[]>, unknownInside: boolean): Predicate {
  const tests: Predicate[] = [];
  const countryKey = (c: string | null) => c ?? 'unknown';
  // A named group's countries, and its subdivisions (members with a hyphen).
  const regionSet = (names: string[]) => new Set(names.flatMap((n) => regions[n] ?? []).filter((m) => !m.includes('-')));
  const regionSubs = (names: string[]) => names.flatMap((n) => regions[n] ?? []).filter((m) => m.includes('-'));
  const inRegion = (names: string[]): ((country: string | null, sub: string | null) => boolean | null) => {
    const s = regionSet(names);
    const subs = regionSubs(names);
    const t = subs.length > 0 ? subdivisionTest(subs, unknownInside) : null;
    // In: by its country, or by its subdivision; out: its country known and neither; else unknown.
    return (country, sub) => {
      if (country !== null && s.has(country)) return true;
      if (t && t(sub, country) === true) return true;
      return country === null ? null : false;
    };
  };
  if (when.country) { const s = new Set<string>(when.country); tests.push((f) => s.has(countryKey(f.country))); }
  if (when.country_not) { const s = new Set<string>(when.country_not); tests.push((f) => !s.has(countryKey(f.country))); }
  if (when.region) { const t = inRegion(when.region); tests.push((f) => t(f.country, f.subdivision ?? null) === true); }
  if (when.region_not) { const t = inRegion(when.region_not); tests.push((f) => t(f.country, f.subdivision ?? null) === false); }
  if (when.subdivision) { const t = subdivisionTest(when.subdivision, unknownInside); tests.push((f) => t(f.subdivision ?? null, f.country) === true); }
  if (when.subdivision_not) { const t = subdivisionTest(when.subdivision_not, unknownInside); tests.push((f) => t(f.subdivision ?? null, f.country) === false); }
  if (when.claimed_country) { const s = new Set<string>(when.claimed_country); tests.push((f) => s.has(countryKey(f.claimedCountry))); }
  if (when.claimed_region) { const t = inRegion(when.claimed_region); tests.push((f) => t(f.claimedCountry, f.claimedSubdivision ?? null) === true); }
  if (when.claimed_subdivision) { const t = subdivisionTest(when.claimed_subdivision, unknownInside); tests.push((f) => t(f.claimedSubdivision ?? null, f.claimedCountry) === true); }
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
