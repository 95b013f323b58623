/**
 * Signup screening: the checks to run when an account is created, each an explained finding.
 *
 * - disposable email domains (the `disposable-email-domains` package, plus an optional local list);
 * - denied-party screening of the person's name and organisation against sanctions lists;
 * - the signup IP's country, ASN and network class, and the policy's region rules for the IP
 *   country and the claimed country; a claimed country that differs from the IP's.
 *
 * The decision is the most severe finding: `block` (region refused by policy), `review` (possible
 * sanctions match, disposable email, verification-level network), or `allow`.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { NetworkListError } from './networks.ts';
import type { PolicyRuntime } from './hooks.ts';
import { entryDigest, type SanctionsIndex, type SanctionsVersion } from './sanctions.ts';
import { parseIp } from './ip.ts';
import { SUBDIVISION_CODE } from './subdivisions.ts';

export interface SignupScreeningFacts {
  email?: string | null;
  /** The person's full name as entered. */
  name?: string | null;
  organisation?: string | null;
  signup_ip?: string | null;
  /** ISO 3166-1 alpha-2. */
  claimed_country?: string | null;
  /** ISO 3166-2 (`UA-43`): the region the customer declared, for the policy's `claimed_subdivision` / `claimed_region` rules. Its country is the claimed country when none is given. */
  claimed_subdivision?: string | null;
}

/** A fact given to screening that cannot be screened (a signup IP that is not an IP address). */
export class ScreeningInputError extends Error {
  constructor(readonly field: keyof SignupScreeningFacts, message: string) { super(message); this.name = 'ScreeningInputError'; }
}

export type FindingSeverity = 'info' | 'review' | 'block';

export interface ScreeningFinding {
  check: 'email' | 'disposable_email' | 'sanctions' | 'sanctions_not_configured' | 'region' | 'network' | 'country_mismatch';
  severity: FindingSeverity;
  /** One sentence an operator can act on. */
  explanation: string;
  detail?: Record<string, unknown>;
}

export interface ScreeningResult {
  decision: 'allow' | 'review' | 'block';
  findings: ScreeningFinding[];
  ip: { country: string | null; subdivision?: string | null; asn: number | null; asn_name: string | null; networks: string[] } | null;
  /** The denied-party lists the names were screened against (null: none configured). */
  lists: { digest: string; loaded_at: string } | null;
}

/** What a screening result says of the lists that decided it. */
export const listsOf = (v: SanctionsVersion | null | undefined): ScreeningResult['lists'] => (v ? { digest: v.digest, loaded_at: v.loaded_at } : null);

/** Disposable email domains: exact domains, and domains whose every subdomain is disposable. */
export class DisposableDomains {
  constructor(private readonly exact: Set<string>, private readonly wildcard: Set<string>) {}

  /** The installed package's lists, plus an optional local file (one domain per line). */
  static load(extraFile: string | null = null): DisposableDomains {
    const require = createRequire(import.meta.url);
    const exact = new Set<string>(require('disposable-email-domains') as string[]);
    const wildcard = new Set<string>(require('disposable-email-domains/wildcard.json') as string[]);
    if (extraFile) {
      let text: string;
      try { text = readFileSync(extraFile, 'utf8'); } catch (err) { throw new NetworkListError(extraFile, 0, `cannot read: ${(err as Error).message}`); }
      text.split(/\r?\n/).forEach((raw, i) => {
        const d = raw.replace(/#.*$/, '').trim().toLowerCase();
        if (!d) return;
        if (!/^[a-z0-9.-]+\.[a-z]{2,}$/.test(d)) throw new NetworkListError(extraFile, i + 1, `not a domain: "${d}"`);
        exact.add(d);
      });
    }
    return new DisposableDomains(exact, wildcard);
  }

  /** The listed domain that makes `domain` disposable, or null. */
  match(domain: string): string | null {
    const d = domain.toLowerCase().replace(/\.$/, '');
    if (this.exact.has(d)) return d;
    const parts = d.split('.');
    for (let i = 1; i < parts.length - 1; i++) {
      const parent = parts.slice(i).join('.');
      if (this.wildcard.has(parent) || this.exact.has(parent)) return parent;
    }
    return null;
  }

  get size(): number { return this.exact.size + this.wildcard.size; }
}

export interface SignupScreenerDeps {
  runtime: Pick<PolicyRuntime, 'geo' | 'networks' | 'store'> & { subdivisions?: PolicyRuntime['subdivisions'] };
  disposable: DisposableDomains | null;
  /** The lists in force: a function, since they are reloaded while the screener lives (POST /admin/policy/sanctions/reload, SIGHUP). */
  sanctions: SanctionsIndex | null | (() => SanctionsIndex | null);
  sanctionsThreshold: number;
}

/** A screener bound to loaded lists. */
export class SignupScreener {
  constructor(private readonly deps: SignupScreenerDeps) {}

  /**
   * Screen one signup.
   *
   * @example
   *   const r = screener.screen({ email: 'a@mailinator.com', name: 'Ivan Petrov', signup_ip: '203.0.113.9', claimed_country: 'DE' });
   *   r.decision // 'review'; r.findings explain why
   *
   * A `signup_ip` that is not an IP address, the empty string included, throws
   * ScreeningInputError: its region and network could not be checked, so the signup must not be
   * reported as screened ("allow"). No IP is null or no field.
   */
  screen(facts: SignupScreeningFacts): ScreeningResult {
    const parsed = facts.signup_ip != null ? parseIp(facts.signup_ip) : null;
    if (facts.signup_ip != null && !parsed) throw new ScreeningInputError('signup_ip', `signup_ip "${facts.signup_ip}" is not an IP address`);
    const claimedSubdivision = facts.claimed_subdivision?.toUpperCase() ?? null;
    if (claimedSubdivision !== null && !SUBDIVISION_CODE.test(claimedSubdivision)) throw new ScreeningInputError('claimed_subdivision', `claimed_subdivision "${facts.claimed_subdivision}" is not an ISO 3166-2 code such as "UA-43"`);
    const claimedCountry = facts.claimed_country?.toUpperCase() ?? claimedSubdivision?.slice(0, 2) ?? null;
    if (claimedSubdivision !== null && claimedCountry !== claimedSubdivision.slice(0, 2)) throw new ScreeningInputError('claimed_subdivision', `claimed_subdivision ${claimedSubdivision} is not in the claimed country ${claimedCountry}`);
    const findings: ScreeningFinding[] = [];
    const { disposable, runtime } = this.deps;
    const sanctions = typeof this.deps.sanctions === 'function' ? this.deps.sanctions() : this.deps.sanctions;

    if (facts.email) {
      const at = facts.email.lastIndexOf('@');
      const domain = at > 0 ? facts.email.slice(at + 1).trim().toLowerCase() : '';
      if (!domain || !domain.includes('.')) {
        findings.push({ check: 'email', severity: 'review', explanation: `The email address "${facts.email}" has no valid domain.` });
      } else if (disposable) {
        const hit = disposable.match(domain);
        if (hit) findings.push({ check: 'disposable_email', severity: 'review', explanation: `The email domain ${domain} is a disposable-mail service (listed as ${hit}).`, detail: { domain, listed: hit } });
      }
    }

    const toScreen = [['name', facts.name], ['organisation', facts.organisation]] as const;
    if (!sanctions) {
      if (facts.name || facts.organisation) findings.push({ check: 'sanctions_not_configured', severity: 'info', explanation: 'No sanctions list is configured (policy.screening.sanctions); names were not screened.' });
    } else {
      for (const [field, value] of toScreen) {
        if (!value) continue;
        for (const m of sanctions.search(value, this.deps.sanctionsThreshold).slice(0, 5)) {
          findings.push({
            check: 'sanctions', severity: 'review',
            explanation: `The ${field} "${value}" is similar (${m.score.toFixed(2)} >= ${this.deps.sanctionsThreshold}) to "${m.matchedName}" on the ${m.entry.source.toUpperCase()} list (${m.entry.id}${m.entry.programs.length ? `, ${m.entry.programs.join(', ')}` : ''}); confirm or clear it before activating the account.`,
            detail: { field, entry: m.entry.id, entry_digest: entryDigest(m.entry), kind: m.entry.kind, matched_name: m.matchedName, score: m.score, pairs: m.pairs, lists: sanctions.version.digest },
          });
        }
      }
    }

    let ip: ScreeningResult['ip'] = null;
    if (parsed) {
      const g = runtime.geo ? runtime.geo.lookupParsed(parsed) : { country: null, asn: null, asnName: null };
      const net = runtime.networks.classify(parsed, g.asn, g.asnName);
      ip = { country: g.country, asn: g.asn, asn_name: g.asnName, networks: net.kinds };
      if (runtime.subdivisions) ip.subdivision = runtime.subdivisions.lookupParsed(parsed);
      if (net.kinds.length > 0) findings.push({ check: 'network', severity: 'info', explanation: `The signup IP is on a ${net.kinds.join('/')} network (${net.reasons.join('; ')}).`, detail: { reasons: net.reasons } });
      const claimed = claimedCountry;
      if (g.country && claimed && g.country !== claimed) {
        findings.push({ check: 'country_mismatch', severity: 'info', explanation: `The claimed country ${claimed} differs from the signup IP's country ${g.country}.`, detail: { claimed, ip_country: g.country } });
      }
    }

    // The policy's own rules decide what a region or network means.
    const decision = runtime.store.current.evaluate({
      tier: 'unverified', accountTier: 'unverified', programme: 'none', accountId: null, orgId: null, model: '', flavour: 'openai.chat',
      country: ip?.country ?? null, claimedCountry, subdivision: ip?.subdivision ?? null, claimedSubdivision, asn: ip?.asn ?? null,
      networks: (ip?.networks ?? []) as ('hosting' | 'vpn' | 'tor')[], verdict: 'none',
    });
    if (decision.refusal) {
      // What the refusing rule read of subdivisions (the tags right after it): `subdivision:UA-43@data:…`, `claimed_subdivision:unknown(UA)->inside`.
      const at = decision.matched.indexOf(decision.refusal.source);
      const subdivisionsRead = at < 0 ? [] : decision.matched.slice(at + 1).filter((m) => m.startsWith('subdivision:') || m.startsWith('claimed_subdivision:'));
      const block = decision.refusal.kind === 'region_blocked';
      findings.push({
        check: 'region', severity: block ? 'block' : 'review',
        explanation: `Policy ${decision.refusal.source} would ${block ? 'refuse this customer\'s region' : `require "${decision.refusal.kind}" for requests from here at the unverified tier`}${subdivisionsRead.length > 0 ? ` (${subdivisionsRead.join(', ')})` : ''}: ${decision.refusal.message}`,
        detail: { rule: decision.refusal.source, kind: decision.refusal.kind, ...(subdivisionsRead.length > 0 ? { subdivisions: subdivisionsRead } : {}) },
      });
    }

    const rank = { info: 0, review: 1, block: 2 } as const;
    const worst = findings.reduce((w, f) => Math.max(w, rank[f.severity]), 0);
    return { decision: worst === 2 ? 'block' : worst === 1 ? 'review' : 'allow', findings, ip, lists: listsOf(sanctions?.version) };
  }
}
