import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { DetectorEngine, buildLabelledEvents, verdictRank, type PromptPool } from './index.ts';
import type { InteractionEvent } from '../events/index.ts';

// Who counts as one accountable actor in a cluster: accounts of one institution or company without
// a declared org, and small declared orgs with a free-mail majority that a programme admission
// vouches for. Each case is set against the fleet that imitates it.

const pool = JSON.parse(readFileSync(new URL('../../test/fixtures/detect/prompts.json', import.meta.url), 'utf8')) as PromptPool;
const base = buildLabelledEvents(pool, { seed: 9, days: 1, organic: { hobbyist: 1 }, campaigns: [] }).events[0];
const T0 = Date.parse('2026-05-04T08:00:00.000Z');
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

type Programme = 'none' | 'education' | 'research' | 'startup';
type Tier = 'unverified' | 'email_verified' | 'identity_verified' | 'enterprise';
interface Member {
  domain: string;
  programme?: Programme;
  tier?: Tier;
  /** How long before the traffic the account was created (default: 1-48 hours, a new account). */
  ageMs?: number;
  org?: string;
  card?: string;
}

/**
 * A group working from one network (`128.32.1.1`, signed up from its /24) for three days, each
 * account sending `requests` step-by-step maths requests in sessions with human gaps (30% follow-ups,
 * long answers): what a class, a team's evaluation or a harvest all look like on the wire.
 * `before`: accounts seen earlier elsewhere (a few chats the day before), e.g. the institution's staff.
 * `labels`: short answers (40-80 tokens), as a labelling or grading workload gets.
 * `later`: each account goes on for as many requests again (about three more days) with these
 * facts changed (its tier or programme changed after the detector first saw it).
 */
function groupRun(members: Member[], opts: { requests?: number; before?: Member[]; labels?: boolean; later?: Pick<Member, 'tier' | 'programme'> } = {}) {
  const e = new DetectorEngine();
  let seed = 7;
  const rand = () => (seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648) / 2_147_483_648;
  const events: InteractionEvent[] = [];
  const requests = opts.requests ?? 60;
  const facts = (m: Member, s: number, created: number) => ({
    ...base.account!, tier: m.tier ?? 'email_verified', created_at: new Date(created).toISOString(), first_used_at: null,
    payment_fp: m.card ?? `card-${m.domain}-${s}`, signup_ip: `128.32.44.${2 + s}`, email_domain: m.domain, email_pattern: null, programme: m.programme ?? 'none',
  });
  for (const [s, m] of (opts.before ?? []).entries()) {
    const text = pool.organic[s % pool.organic.length];
    for (let k = 0; k < 3; k++) {
      events.push({
        ...base, id: `acct_staff${s}-${k}`, ts: new Date(T0 - DAY + s * 600_000 + k * 60_000).toISOString(), account_id: `acct_staff${s}`, org_id: m.org ?? null,
        request: { ...base.request, system: null, messages: [{ role: 'user', text, chars: text.length }] },
        client: { ...base.client, ip: `131.159.${s}.7`, asn: 12_816 },
        account: { ...facts(m, 100 + s, T0 - (m.ageMs ?? 400 * DAY)), signup_ip: `131.159.${s}.7`, payment_fp: `card-staff${s}` },
      });
    }
  }
  for (const [s, m] of members.entries()) {
    const created = T0 - (m.ageMs ?? (1 + rand() * 47) * HOUR);
    let t = T0 + rand() * HOUR;
    for (let k = 0; k < (opts.later ? 2 * requests : requests); k++) {
      t += k % 5 === 0 ? (2 + rand() * 6) * HOUR * (60 / requests) : (20 + rand() * 400) * 1000;
      const q = `${pool.maths[Math.floor(rand() * pool.maths.length)]}${rand() < 0.5 ? '\nPlease explain step by step.' : ''}`;
      const messages = rand() < 0.3 ? [{ role: 'user' as const, text: q, chars: q.length }, { role: 'assistant' as const, text: 'answer', chars: 6 }, { role: 'user' as const, text: 'ok and why is that?', chars: 19 }] : [{ role: 'user' as const, text: q, chars: q.length }];
      events.push({
        ...base, id: `acct_member${s}-${k}`, ts: new Date(t).toISOString(), account_id: `acct_member${s}`, org_id: m.org ?? null,
        request: { ...base.request, system: null, messages },
        response: { ...base.response, input_tokens: Math.round(q.length / 4), output_tokens: opts.labels ? 40 + Math.floor(rand() * 40) : 300 + Math.floor(rand() * 900) },
        client: { ...base.client, ip: '128.32.1.1', asn: 25, user_agent: 'Mozilla/5.0 (X11; Linux) Firefox/143' },
        account: facts(opts.later && k >= requests ? { ...m, ...opts.later } : m, s, created),
      });
    }
  }
  events.sort((a, b) => a.ts.localeCompare(b.ts));
  for (const ev of events) e.ingest(ev);
  e.flush();
  return members.map((_, s) => e.forAccount(`acct_member${s}`));
}

const levels = (vs: Array<{ level: string }>) => vs.map((v) => v.level).join(', ');
const allAtMostWatch = (vs: Array<{ level: string }>) => vs.every((v) => verdictRank(v.level as 'watch') <= verdictRank('watch'));
const allFlagged = (vs: Array<{ level: string }>) => vs.every((v) => verdictRank(v.level as 'watch') >= verdictRank('throttle'));
const many = (n: number, m: (s: number) => Member) => Array.from({ length: n }, (_, s) => m(s));

test('established developers of one company without a declared org (company domain, one office network) are one actor and stay at watch', () => {
  const corp = groupRun(many(30, (s) => ({ domain: 'globex-systems.com', ageMs: (60 + s * 10) * DAY })));
  assert.equal(new Set(corp.map((v) => v.clusterId)).size, 1, 'the developers are linked (office network, signup subnet, domain)');
  assert.ok(allAtMostWatch(corp), `established developers on their company domain: ${levels(corp)}`);
  // Established accounts on free-mail vouch for no company: still thirty actors.
  const freemail = groupRun(many(30, (s) => ({ domain: s % 2 ? 'gmail.com' : 'outlook.com', ageMs: (60 + s * 10) * DAY })));
  assert.ok(freemail.some((v) => verdictRank(v.level) >= verdictRank('throttle')), `established accounts on free-mail: ${levels(freemail)}`);
});

test('a fleet that registers its own company-looking domain is still flagged: new accounts, or one card among established ones', () => {
  const fresh = groupRun(many(30, () => ({ domain: 'globex-systems.com' })));
  assert.ok(allFlagged(fresh), `new accounts on one company domain: ${levels(fresh)}`);
  const carded = groupRun(many(30, (s) => ({ domain: 'globex-systems.com', ageMs: (60 + s * 10) * DAY, card: 'card-fleet' })));
  assert.ok(allFlagged(carded), `established accounts on one card: ${levels(carded)}`);
});

test('a university outside the academic suffixes is one actor when something vouches for its domain: programme admission, identity verification, established accounts on it', () => {
  // No vouching at all: new accounts on a plain domain look like a fleet's own domain (a known limit).
  assert.ok(allFlagged(groupRun(many(20, () => ({ domain: 'tum.de' })))), 'a course on tum.de with nothing vouching is flagged');
  const research = groupRun(many(20, () => ({ domain: 'tum.de', programme: 'research' })));
  assert.ok(allAtMostWatch(research), `in the research programme: ${levels(research)}`);
  const verified = groupRun(many(20, () => ({ domain: 'tum.de', tier: 'identity_verified' })));
  assert.ok(allAtMostWatch(verified), `identity-verified: ${levels(verified)}`);
  const staffed = groupRun(many(20, () => ({ domain: 'tum.de' })), { before: many(3, () => ({ domain: 'tum.de' })) });
  assert.ok(allAtMostWatch(staffed), `a domain three established accounts already use: ${levels(staffed)}`);
  // One established account on the domain is not enough to vouch for twenty new ones.
  const lone = groupRun(many(20, () => ({ domain: 'tum.de' })), { before: many(1, () => ({ domain: 'tum.de' })) });
  assert.ok(allFlagged(lone), `one established account on the domain: ${levels(lone)}`);
  // The vouching follows the account: admitted to the programme after the detector first saw the
  // course, it is one actor from then on; an admission withdrawn, it is several again.
  const admittedLater = groupRun(many(20, () => ({ domain: 'tum.de' })), { later: { programme: 'research' } });
  assert.ok(allAtMostWatch(admittedLater), `admitted to the research programme after its first requests: ${levels(admittedLater)}`);
  const withdrawn = groupRun(many(20, () => ({ domain: 'tum.de', programme: 'research' })), { later: { programme: 'none' } });
  assert.ok(allFlagged(withdrawn), `its admission withdrawn: ${levels(withdrawn)}`);
  // A fleet in a programme or with established accounts on its domain still shares a card.
  const fleet = groupRun(many(20, () => ({ domain: 'fleetlabs.io', programme: 'research', card: 'card-fleet' })), { before: many(3, () => ({ domain: 'fleetlabs.io' })) });
  assert.ok(allFlagged(fleet), `a fleet on one card: ${levels(fleet)}`);
});

test('a small research group in the research programme, most of it identity-verified, stays at watch', () => {
  const group = groupRun(many(5, (s) => ({ domain: 'mpi-inf.mpg.de', programme: 'research', tier: s < 3 ? 'identity_verified' : 'email_verified' })), { requests: 150 });
  assert.ok(allAtMostWatch(group), `research group: ${levels(group)}`);
});

test('a startup programme company whose founders use free-mail and share one company card is one actor; a fleet in an org on one card is not', () => {
  const founders = (['gmail.com', 'gmail.com', 'gmail.com', 'labelco.ai'] as const).map((domain) => ({ domain, programme: 'startup' as const, org: 'org_labelco', card: 'card-labelco' }));
  const startup = groupRun(founders, { requests: 150, labels: true });
  assert.ok(allAtMostWatch(startup), `startup founders: ${levels(startup)}`);
  // Verified members do not vouch for an org: a fleet can have its accounts verified (the traffic
  // model's surgical campaign: half of them), and while it is small it would be one actor.
  const surgical = groupRun(many(5, (s) => ({ domain: s % 2 ? 'gmx.de' : 'gmail.com', org: 'org_surgical', card: 'card-fleet', tier: s % 2 ? 'identity_verified' : 'email_verified' })), { requests: 150 });
  assert.ok(allFlagged(surgical), `a small free-mail org on one card, half verified: ${levels(surgical)}`);
  // Many fresh free-mail accounts in one programme org on one card, one of them verified, are no small team.
  const fleet = groupRun(many(12, (s) => ({ domain: 'gmail.com', programme: 'startup', org: 'org_fleet', card: 'card-fleet', tier: s === 0 ? 'identity_verified' : 'email_verified' })), { requests: 150 });
  assert.ok(allFlagged(fleet), `a fleet's org: ${levels(fleet)}`);
  // Without a programme or a verified member, the free-mail org on one card is several actors, as before.
  const unvouched = groupRun(founders.map((m) => ({ ...m, programme: 'none' as const })), { requests: 150, labels: true });
  assert.ok(unvouched.some((v) => verdictRank(v.level) >= verdictRank('throttle')), `unvouched free-mail org on one card: ${levels(unvouched)}`);
});
