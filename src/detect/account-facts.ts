/**
 * What the engine reads from an account's facts (tier, email domain, programme, signup time): the
 * per-account flag bits, free-mail and disposable domains, academic suffixes, and the bounds that
 * decide who is fresh, established, a campus class or a small corroborated org.
 */
import { createRequire } from 'node:module';

/** Fresh: first request this close to signup, or first use (account.first_used_at) this recent. */
export const FRESH_ACCOUNT_S = 7 * 86_400;

export const FREEMAIL = new Set(['gmail.com', 'googlemail.com', 'outlook.com', 'hotmail.com', 'live.com', 'msn.com', 'yahoo.com',
  'icloud.com', 'me.com', 'aol.com', 'proton.me', 'protonmail.com', 'gmx.com', 'gmx.de', 'web.de', 'qq.com', '163.com',
  '126.com', 'yandex.ru', 'mail.ru', 'naver.com', 'yahoo.co.jp', 'hey.com', 'fastmail.com', 'zoho.com']);
let disposable: Set<string> | null = null;
export function isDisposable(domain: string): boolean {
  if (!disposable) {
    try {
      const req = createRequire(import.meta.url);
      disposable = new Set(req('disposable-email-domains/index.json') as string[]);
    } catch { disposable = new Set(); }
  }
  return disposable.has(domain);
}

/**
 * Academic second-level names that only accredited institutions can register under: `.edu`, and
 * the `edu.`/`ac.` second levels of the country registries that reserve them for institutions.
 * Not `edu.`/`ac.` under any ccTLD: where the registry leaves them open (.cc, .ws, ...), `edu.cc`
 * is an ordinary name its holder can issue any number of addresses under.
 */
const ACADEMIC_SUFFIXES = ['edu', 'ac.uk', 'edu.au', 'ac.jp', 'ac.nz', 'ac.za', 'ac.kr', 'ac.il', 'ac.in', 'edu.cn', 'edu.sg', 'edu.hk', 'edu.tw', 'ac.th', 'edu.mx', 'edu.br', 'ac.at'];
export function academicDomain(domain: string): boolean {
  return ACADEMIC_SUFFIXES.some((suffix) => domain.endsWith(`.${suffix}`));
}
/** An email domain of an institution or a company: neither free-mail nor disposable. */
export function institutionalDomain(domain: string): boolean {
  return !FREEMAIL.has(domain) && !isDisposable(domain);
}
/**
 * Established accounts (not fresh) seen on an institutional domain from which its new accounts are
 * vouched for too: a university's or a company's staff are there before a new semester's students
 * or a new hire. One is not enough: a fleet that registers its own domain ages one account cheaply.
 */
export const DOMAIN_ESTABLISHED_MIN = 3;
/**
 * Members up to which a declared org with a member the provider admitted to a programme is
 * corroborated whatever its members' addresses (founders on free-mail sharing the company card).
 * A fleet that puts its accounts in one org is many more (the traffic model's surgical campaign:
 * 8-30 accounts); split into orgs this small, each org is one more actor. Not an identity-verified
 * member: the surgical campaign verifies half its accounts, and its org, one actor while it had
 * five members or fewer, was contained later (after 1.81% of its requests in one benchmark run,
 * not 0.60%).
 */
export const SMALL_ORG_MAX = 5;

export const TIER_VERIFIED: Record<string, boolean> = { identity_verified: true, enterprise: true };
/** Bits of the per-account `flags`. */
export const F_VERIFIED = 1;
export const F_FRESH = 8;
/** Counted among its org's members with a personal address (see orgCorroborated). */
export const F_PERSONAL = 16;
/**
 * No declared org, on an institutional email domain something vouches for (see accountIndex: a
 * reserved academic suffix, a programme admission, a verified identity, the account's own history,
 * or established accounts already on the domain): counted with the other such accounts of its
 * domain in its cluster as one actor, as a campus or a company is. Named for the first case.
 */
export const F_CAMPUS = 32;
/**
 * A campus account linked by fleet evidence (see fleetEvidence): counted as its own actor, never
 * with its class, whatever its domain (students do not share a card).
 */
export const F_FLEET_LINKED = 64;
/** The account's facts (signup time, tier) came with its events: without them it is neither fresh nor established. */
export const F_KNOWN = 128;
/** Admitted to one of the provider's programmes (education, research, startup). */
export const F_PROGRAMME = 256;
/**
 * Moved into the org it is in now while the detector held it (or its cluster) at throttle or
 * above: counted as its own actor in its cluster, and the org does not make it accountable, as
 * before the move (see the engine's moveOrg). Cleared when it moves again while not held there.
 */
export const F_MOVED_FLAGGED = 512;
/**
 * The flags an account's tier and programme give it: F_VERIFIED, F_PROGRAMME, and F_PERSONAL for a
 * member of a declared org (`inOrg`) on a personal address (free-mail, disposable or none) without
 * an enterprise contract. Read at the account's first event and again whenever a later event
 * carries another tier or programme (the engine's retier).
 */
export function tierFlags(acct: { tier: string; programme?: string | null; email_domain?: string | null }, inOrg: boolean): number {
  let f = 0;
  if (TIER_VERIFIED[acct.tier]) f |= F_VERIFIED;
  if (acct.programme && acct.programme !== 'none') f |= F_PROGRAMME;
  const dom = acct.email_domain?.toLowerCase();
  if (inOrg && acct.tier !== 'enterprise' && (!dom || FREEMAIL.has(dom) || isDisposable(dom))) f |= F_PERSONAL;
  return f;
}
/** Accounts of one campus domain linked in one cluster that make a class (see scoreAccount). */
export const CAMPUS_CLASS_MIN = 3;
/**
 * Recent requests (the decayed window count) above which a campus account is not held at the
 * single-account ceiling as a student: the busiest student of the benchmark's classes sends 34
 * requests a day (about 150 in the window kept up for days); a pipeline reaches this in hours.
 */
export const CAMPUS_CLASS_MAX_RECENT = 300;
/** Peer groups for volume comparisons. */
export const TIERS = ['unverified', 'email_verified', 'identity_verified', 'enterprise'] as const;
