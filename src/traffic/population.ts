/**
 * Who sends traffic: organic accounts (grouped into orgs, cohorts, labs) and campaign accounts,
 * with their signup facts, clients, networks, time zones and activity rates. Everything is drawn
 * from seeded streams named after the account, so populations are reproducible and independent:
 * changing a campaign leaves every organic account as it was.
 */
import { createRequire } from 'node:module';
import type { ApiFlavour, EventAccountFacts, Programme, VerificationTier } from '../events/index.ts';
import { categoryAsns, pickAddress, pickAddressInAsn, type ClientAddress, type NetCategory } from './netdata.ts';
import { Rng, seededUlid, hashString } from './rng.ts';
import { emailPattern } from '../identity/facts.ts';
import type { CampaignConfig, CampaignKind, ModelSpec, OrganicKind, Scenario, TaskKind } from './scenario.ts';
import { codeHarvestTemplate, cotTemplate, rewriteTemplate, rubricTemplate, batchTask, productSystemPrompt, harvestAgentSystem, PRODUCT_TOOLS, EVAL_TEMPLATES, JUDGE_TEMPLATE, reviewSystem, type Template, type BatchTask } from './textgen.ts';

const DAY = 86_400_000;
const HOUR = 3_600_000;

// ---------------------------------------------------------------------------------------------
// Reference data

/** [country, weight among organic customers, UTC offsets of its main time zones]. */
const COUNTRIES: [string, number, number[]][] = [
  ['US', 34, [-5, -6, -7, -8]], ['IN', 8, [5.5]], ['GB', 6, [0]], ['DE', 5, [1]], ['FR', 4, [1]], ['JP', 4, [9]],
  ['CA', 4, [-5, -8]], ['BR', 4, [-3]], ['KR', 3, [9]], ['AU', 3, [10]], ['ES', 2, [1]], ['NL', 2, [1]],
  ['MX', 2, [-6]], ['SG', 1.5, [8]], ['TW', 1, [8]], ['NZ', 0.7, [12]], ['TR', 1, [3]], ['CN', 0, [8]], ['RU', 0, [3]],
];
const COUNTRY_WEIGHTS = Object.fromEntries(COUNTRIES.map(([c, w]) => [c, w])) as Record<string, number>;
export function tzOf(country: string, rng: Rng): number {
  const e = COUNTRIES.find(([c]) => c === country);
  return e ? rng.pick(e[2]) : 0;
}

const FIRST = ['alex', 'maria', 'james', 'wei', 'priya', 'lucas', 'sofia', 'daniel', 'emma', 'yuki', 'omar', 'hannah', 'li', 'carlos', 'anna', 'david', 'fatima', 'noah', 'mei', 'lena', 'sam', 'ravi', 'julia', 'tom', 'sara', 'kenji', 'ana', 'ben', 'chloe', 'ivan'];
const LAST = ['smith', 'garcia', 'chen', 'patel', 'muller', 'kim', 'nguyen', 'silva', 'rossi', 'tanaka', 'brown', 'khan', 'martin', 'lopez', 'wang', 'johnson', 'dubois', 'sato', 'schmidt', 'ali', 'jones', 'costa', 'novak', 'park', 'wilson'];
const FREEMAIL: Record<string, string[]> = {
  default: ['gmail.com', 'gmail.com', 'gmail.com', 'outlook.com', 'hotmail.com', 'yahoo.com', 'icloud.com', 'proton.me'],
  DE: ['gmail.com', 'gmx.de', 'web.de', 'outlook.com'], FR: ['gmail.com', 'orange.fr', 'free.fr', 'outlook.fr'],
  JP: ['gmail.com', 'yahoo.co.jp', 'icloud.com'], KR: ['gmail.com', 'naver.com', 'daum.net'], BR: ['gmail.com', 'uol.com.br', 'hotmail.com'],
  CN: ['qq.com', '163.com', '126.com', 'gmail.com'], IN: ['gmail.com', 'gmail.com', 'yahoo.co.in', 'outlook.com'],
};
const UNIVERSITIES: [string, string][] = [
  ['mit.edu', 'US'], ['stanford.edu', 'US'], ['berkeley.edu', 'US'], ['cmu.edu', 'US'], ['uw.edu', 'US'], ['cornell.edu', 'US'],
  ['umich.edu', 'US'], ['utexas.edu', 'US'], ['gatech.edu', 'US'], ['illinois.edu', 'US'], ['ucla.edu', 'US'], ['nyu.edu', 'US'],
  ['ox.ac.uk', 'GB'], ['cam.ac.uk', 'GB'], ['ucl.ac.uk', 'GB'], ['ed.ac.uk', 'GB'], ['ethz.ch', 'CH'], ['epfl.ch', 'CH'],
  ['tum.de', 'DE'], ['uni-heidelberg.de', 'DE'], ['utoronto.ca', 'CA'], ['ubc.ca', 'CA'], ['u-tokyo.ac.jp', 'JP'],
  ['kaist.ac.kr', 'KR'], ['nus.edu.sg', 'SG'], ['unimelb.edu.au', 'AU'], ['iitb.ac.in', 'IN'], ['usp.br', 'BR'],
];
const WORDS = ['blue', 'north', 'pixel', 'river', 'stack', 'bright', 'cloud', 'forge', 'maple', 'nova', 'orbit', 'quant', 'spark', 'terra', 'vector', 'atlas', 'cedar', 'delta', 'ember', 'flux', 'grid', 'helix', 'iron', 'lumen'];
const ENTERPRISE_SUFFIX = ['corp.com', '-group.com', 'bank.com', 'insurance.com', 'health.org', 'logistics.com', '-industries.com', 'retail.com'];

export const USER_AGENTS = {
  openai: ['OpenAI/Python 1.99.9', 'OpenAI/Python 1.109.1', 'OpenAI/Python 2.2.0', 'OpenAI/Python 1.82.0', 'OpenAI/JS 5.23.1', 'OpenAI/JS 6.1.0', 'OpenAI/JS 4.104.0'],
  anthropic: ['Anthropic/Python 0.69.0', 'Anthropic/Python 0.71.0', 'Anthropic/Python 0.64.0', 'Anthropic/JS 0.65.0', 'Anthropic/JS 0.68.0'],
  generic: ['python-requests/2.32.3', 'python-httpx/0.28.1', 'curl/8.5.0', 'axios/1.12.2', 'Go-http-client/2.0', 'node-fetch/1.0 (+https://github.com/bitinn/node-fetch)', 'okhttp/4.12.0', 'python-httpx/0.27.2'],
  browser: [
    'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/141.0.0.0 Safari/537.36',
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/141.0.0.0 Safari/537.36 Edg/141.0.0.0',
    'Mozilla/5.0 (X11; Linux x86_64; rv:143.0) Gecko/20100101 Firefox/143.0',
    'Mozilla/5.0 (iPhone; CPU iPhone OS 18_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.6 Mobile/15E148 Safari/604.1',
  ],
  codingAgent: ['claude-cli/2.0.14 (external, cli)', 'claude-cli/2.0.22 (external, cli)', 'codex_cli_rs/0.46.0 (Mac OS 15.6.1; arm64)', 'aider/0.86.1'],
};

let disposable: string[] | null = null;
function disposableDomains(): string[] {
  if (!disposable) {
    const list = createRequire(import.meta.url)('disposable-email-domains') as string[];
    // A stable subset keeps memory small; campaigns rotate through a handful anyway.
    disposable = list.filter((_, i) => i % 97 === 0);
  }
  return disposable;
}

// ---------------------------------------------------------------------------------------------
// Types

export type Population = 'organic' | 'campaign';

export interface AccountLabel {
  type: 'account';
  account_id: string;
  org_id: string;
  population: Population;
  organic_kind: OrganicKind | null;
  campaign_id: string | null;
  campaign_kind: CampaignKind | null;
  adaptive: boolean;
  /** Shared group (enterprise org, education cohort, research lab) for organic accounts. */
  group_id: string | null;
}

/** How an account's client addresses are chosen. */
export interface NetProfile {
  /** Home (residential) ASN, for addresses that change every few weeks. */
  homeAsn: number | null;
  /** Fixed addresses (NAT egress, campus, cloud gateways) and their share of sessions. */
  fixed: ClientAddress[];
  fixedShare: number;
  mobileAsn: number | null;
  mobileShare: number;
  /** Campaign pool (shared array) used per request. */
  pool: ClientAddress[] | null;
  /** Addresses from a region where the service is not offered, and how often they leak. */
  leak: ClientAddress[] | null;
  leakShare: number;
}

export interface ClientProfile {
  family: 'openai' | 'anthropic';
  flavour: ApiFlavour;
  userAgent: string;
  streamShare: number;
}

/** Shared state of an organisation, cohort, lab or campaign. */
export interface GroupShared {
  id: string;
  system: string | null;
  tools: string[];
  templates: Partial<Record<TaskKind, Template[]>>;
  batch: BatchTask | null;
  /** Education: the seed of weekly assignments; research: benchmark offset. */
  seed: number;
  cronHour: number;
  temperature: number | null;
  maxTokens: number | null;
}

export interface SimAccount {
  index: number;
  key: string;
  id: string;
  orgId: string;
  keyIds: string[];
  email: string;
  name: string;
  createdMs: number;
  facts: EventAccountFacts;
  label: AccountLabel;
  kind: OrganicKind | CampaignKind;
  /** Role within its group: worker, service, student, runner, product... */
  role: string;
  tzOffsetH: number;
  client: ClientProfile;
  net: NetProfile;
  activeFromMs: number;
  activeToMs: number;
  /** Sessions (or arrivals) per day, before the time-of-day profile. */
  rate: number;
  turnsMean: number;
  lanes: number;
  /** Model it used at signup, and when it adopts a newer model (ms after release). */
  baseModel: string;
  adoptionDelayMs: number;
  group: GroupShared | null;
  campaign: CampaignRuntime | null;
  seed: number;
}

export interface CampaignRuntime {
  config: CampaignConfig;
  startMs: number;
  endMs: number;
  seed: number;
  templates: Record<TaskKind, Template[]>;
  system: string | null;
  agentSystem: string;
  /** A grading harvest's system prompt ('' when the campaign does not grade). */
  judgeSystem: string;
  models: string[];
  pivotModel: string | null;
  pivotAtMs: number | null;
  /** Expected requests per arrival (agentic traces and human sessions count several). */
  requestsPerArrival: number;
  wavePeriodMs: number;
}

// ---------------------------------------------------------------------------------------------
// Helpers

/** What the gateway records as `email_pattern` (identity/facts.ts emailPattern), keyed with the simulation's own key. */
function emailPatternOf(email: string): string | null {
  return emailPattern(email, 'warden-traffic-model');
}

function emailLocal(rng: Rng): string {
  const f = rng.pick(FIRST), l = rng.pick(LAST);
  switch (rng.int(5)) {
    case 0: return `${f}.${l}`;
    case 1: return `${f}${l}${rng.intIn(1, 99)}`;
    case 2: return `${f[0]}${l}`;
    case 3: return `${f}_${l}${rng.intIn(1970, 2006)}`;
    default: return `${f}${rng.intIn(100, 9999)}`;
  }
}

function freemailDomain(country: string, rng: Rng): string {
  return rng.pick(FREEMAIL[country] ?? FREEMAIL.default);
}

function companyDomain(rng: Rng, enterprise: boolean): string {
  const a = rng.pick(WORDS);
  if (enterprise) return `${a}${rng.pick(ENTERPRISE_SUFFIX)}`;
  return `${a}${rng.pick(WORDS)}.${rng.pick(['com', 'io', 'ai', 'dev', 'co', 'app'])}`;
}

/** A keyed-hash-looking payment fingerprint (64 hex chars, as the identity store keeps them). */
function paymentFp(seedKey: string): string {
  const r = new Rng(seedKey, 'payment');
  return r.hex(64);
}

function pickCountry(rng: Rng): string {
  return rng.weighted(COUNTRY_WEIGHTS);
}

function residentialAsn(country: string, rng: Rng): number {
  const list = categoryAsns('residential', [country]);
  return pickWeighted(list, rng).asn;
}

function mobileAsn(country: string, rng: Rng): number | null {
  const list = categoryAsns('mobile', [country]).filter((a) => a.country === country);
  return list.length ? pickWeighted(list, rng).asn : null;
}

function pickWeighted<T extends { weight: number }>(list: readonly T[], rng: Rng): T {
  let total = 0;
  for (const x of list) total += x.weight;
  let v = rng.next() * total;
  for (const x of list) { if (v < x.weight) return x; v -= x.weight; }
  return list[list.length - 1];
}

function fixedAddresses(cat: NetCategory, n: number, rng: Rng, countries?: string[]): ClientAddress[] {
  // NAT egress of one organisation sits in one network: pick one ASN, then n addresses in it.
  const first = pickAddress(cat, rng, countries);
  const out = [first];
  for (let i = 1; i < n; i++) out.push(pickAddressInAsn(first.asn, rng));
  return out;
}

function emptyNet(): NetProfile {
  return { homeAsn: null, fixed: [], fixedShare: 0, mobileAsn: null, mobileShare: 0, pool: null, leak: null, leakShare: 0 };
}

function organicClient(rng: Rng, kind: OrganicKind, family?: 'openai' | 'anthropic'): ClientProfile {
  const fam = family ?? (rng.chance(0.5) ? 'anthropic' : 'openai');
  const flavour: ApiFlavour = fam === 'anthropic' ? 'anthropic.messages' : rng.chance(0.72) ? 'openai.chat' : 'openai.responses';
  let ua: string;
  const u = rng.next();
  if (kind === 'hobbyist' || kind === 'education') ua = u < 0.45 ? rng.pick(USER_AGENTS[fam]) : u < 0.75 ? rng.pick(USER_AGENTS.browser) : rng.pick(USER_AGENTS.generic);
  else if (kind === 'batch' || kind === 'researcher') ua = u < 0.7 ? rng.pick(USER_AGENTS[fam]) : rng.pick(USER_AGENTS.generic);
  else ua = u < 0.8 ? rng.pick(USER_AGENTS[fam]) : rng.pick(USER_AGENTS.generic);
  const streamShare = kind === 'batch' || kind === 'researcher' ? 0.02 : kind === 'hobbyist' || kind === 'education' ? 0.75 : kind === 'agent' ? 0.6 : 0.5;
  return { family: fam, flavour, userAgent: ua, streamShare };
}

/** Model an account starts with: by popularity among models of its family available at signup. */
export function pickBaseModel(models: ModelSpec[], family: 'openai' | 'anthropic', atMs: number, startMs: number, rng: Rng): string {
  const avail = models.filter((m) => m.family === family && (m.released_day === null || startMs + m.released_day * DAY <= atMs));
  const list = avail.length ? avail : models.filter((m) => m.released_day === null);
  const choose = list.length ? list : models;
  let total = 0;
  for (const m of choose) total += m.popularity;
  let x = rng.next() * total;
  for (const m of choose) { if (x < m.popularity) return m.name; x -= m.popularity; }
  return choose[choose.length - 1].name;
}

// ---------------------------------------------------------------------------------------------
// Organic population

interface BuildCtx {
  scenario: Scenario;
  seed: number | string;
  accounts: SimAccount[];
}

function newAccount(ctx: BuildCtx, key: string, partial: {
  kind: OrganicKind | CampaignKind; role: string; createdMs: number; orgId: string; tier: VerificationTier; programme: Programme;
  email: string; signupIp: string | null; country: string; paymentFp: string | null; tz: number; client: ClientProfile; net: NetProfile;
  rate: number; turnsMean: number; lanes?: number; keys?: number; group: GroupShared | null; label: Omit<AccountLabel, 'type' | 'account_id' | 'org_id'>;
  activeFromMs?: number; activeToMs?: number; campaign?: CampaignRuntime | null; adoptionDays?: number;
  /** In use since signup (first use a few minutes after it); otherwise first used at its first event. */
  usedSinceSignup: boolean;
}): SimAccount {
  const rng = new Rng(ctx.seed, 'account', key);
  const id = `acct_${seededUlid(partial.createdMs, rng)}`;
  const keyIds: string[] = [];
  for (let k = 0; k < (partial.keys ?? 1); k++) keyIds.push(`key_${seededUlid(partial.createdMs + k * 1000, rng)}`);
  const domain = partial.email.slice(partial.email.indexOf('@') + 1);
  const acct: SimAccount = {
    index: ctx.accounts.length, key, id, orgId: partial.orgId, keyIds, email: partial.email, name: partial.email.split('@')[0],
    createdMs: partial.createdMs,
    facts: {
      created_at: new Date(partial.createdMs).toISOString(), tier: partial.tier, programme: partial.programme,
      email_domain: domain, payment_fp: partial.paymentFp, signup_ip: partial.signupIp, claimed_country: partial.country,
      email_pattern: emailPatternOf(partial.email),
      // As the gateway records it: the first authenticated request; set at the first event otherwise.
      first_used_at: partial.usedSinceSignup ? new Date(partial.createdMs + 10 * 60_000).toISOString() : null,
    },
    label: { type: 'account', account_id: id, org_id: partial.orgId, ...partial.label },
    kind: partial.kind, role: partial.role, tzOffsetH: partial.tz, client: partial.client, net: partial.net,
    activeFromMs: Math.max(partial.activeFromMs ?? partial.createdMs, ctx.scenario.startMs),
    activeToMs: partial.activeToMs ?? ctx.scenario.endMs,
    rate: partial.rate, turnsMean: partial.turnsMean, lanes: partial.lanes ?? 1,
    baseModel: pickBaseModel(ctx.scenario.models, partial.client.family, partial.createdMs, ctx.scenario.startMs, rng),
    adoptionDelayMs: rng.chance(0.15) ? Infinity : rng.exp((partial.adoptionDays ?? 10) * DAY),
    group: partial.group, campaign: partial.campaign ?? null, seed: hashString(key, hashString(String(ctx.seed))),
  };
  ctx.accounts.push(acct);
  return acct;
}

function orgId(rng: Rng, createdMs: number): string {
  return `org_${seededUlid(createdMs, rng)}`;
}

function signupTime(ctx: BuildCtx, rng: Rng): number {
  const { startMs, endMs } = ctx.scenario;
  if (rng.chance(ctx.scenario.organic.newSignupsShare)) return startMs + rng.next() * (endMs - startMs) * 0.9;
  // Existing customers: account ages spread over three years, more recent ones more common.
  return startMs - Math.min(3 * 365, rng.exp(220)) * DAY - rng.next() * DAY;
}

function lanesFor(rate: number, turns: number): number {
  // One lane carries ~400 requests/day; products with more traffic run concurrent lanes.
  return Math.max(1, Math.min(64, Math.ceil((rate * turns) / 400)));
}

function organicGroup(rng: Rng, id: string, kind: OrganicKind): GroupShared {
  const g: GroupShared = { id, system: null, tools: [], templates: {}, batch: null, seed: rng.u32(), cronHour: rng.intIn(0, 23), temperature: null, maxTokens: null };
  if (kind === 'startup' || kind === 'agent' || kind === 'enterprise') {
    const p = productSystemPrompt(rng);
    g.system = p.system;
    g.tools = kind === 'agent' || rng.chance(0.4) ? PRODUCT_TOOLS[p.domain] : [];
    g.temperature = rng.pick([null, 0.2, 0.3, 0.7, 1]);
    g.maxTokens = rng.pick([1024, 2048, 4096, 8192]);
  }
  if (kind === 'batch') {
    g.batch = batchTask(rng, `${id}-batch`);
    g.cronHour = rng.pick([1, 2, 3, 4, 22, 23, 0, 6]);
  }
  if (kind === 'researcher') g.templates = { math: [EVAL_TEMPLATES[rng.int(3)]], code: [EVAL_TEMPLATES[3]], rubric: [JUDGE_TEMPLATE], chat: [EVAL_TEMPLATES[4]] };
  return g;
}

function buildOrganic(ctx: BuildCtx): void {
  const sc = ctx.scenario;
  const total = sc.organic.accounts;
  const kinds = sc.organic.kinds;
  let shareSum = 0;
  for (const k of Object.keys(kinds) as OrganicKind[]) shareSum += kinds[k].share;
  for (const kind of Object.keys(kinds) as OrganicKind[]) {
    const cfg = kinds[kind];
    const target = shareSum > 0 ? Math.round((total * cfg.share) / shareSum) : 0;
    let made = 0;
    let g = 0;
    while (made < target) {
      const grng = new Rng(ctx.seed, 'organic', kind, 'group', g);
      const size = Math.min(target - made, grng.intIn(cfg.group[0], cfg.group[1]));
      buildOrganicGroup(ctx, kind, g, size, grng);
      made += size;
      g++;
    }
  }
}

function buildOrganicGroup(ctx: BuildCtx, kind: OrganicKind, g: number, size: number, grng: Rng): void {
  const sc = ctx.scenario;
  const cfg = sc.organic.kinds[kind];
  const groupKey = `${kind}-${g}`;
  const country = kind === 'education' || kind === 'researcher' ? null : pickCountry(grng);
  let uni: [string, string] | null = null;
  if (kind === 'education' || kind === 'researcher') uni = grng.pick(UNIVERSITIES);
  const ctry = country ?? uni![1];
  const tz = tzOf(ctry, grng);
  const groupCreated = signupTime(ctx, grng);
  const shared = organicGroup(grng, groupKey, kind);
  const gid = orgId(grng, groupCreated);
  // Organisation-level facts shared by members (the hard negatives of account linking).
  let domain = '';
  let netShared: ClientAddress[] = [];
  let orgPayment: string | null = null;
  if (kind === 'enterprise') {
    domain = companyDomain(grng, true);
    netShared = fixedAddresses(grng.chance(0.6) ? 'corporate' : 'cloud', grng.intIn(1, 4), grng, [ctry]);
    orgPayment = paymentFp(`${ctx.seed}/${groupKey}/invoice`);
  } else if (kind === 'startup' || kind === 'agent' || kind === 'batch') {
    domain = companyDomain(grng, false);
    netShared = fixedAddresses('cloud', kind === 'agent' ? grng.intIn(2, 8) : grng.intIn(1, 3), grng);
    orgPayment = paymentFp(`${ctx.seed}/${groupKey}/card`);
  } else if (uni) {
    domain = uni[0];
    netShared = fixedAddresses('university', grng.intIn(1, 2), grng, [uni[1]]);
  }
  const sharedOrg = kind === 'enterprise' || kind === 'startup' || kind === 'agent' || kind === 'researcher' || (kind === 'education' && grng.chance(0.5));
  for (let i = 0; i < size; i++) {
    const key = `organic/${kind}/${g}/${i}`;
    const rng = new Rng(ctx.seed, 'organic-setup', key);
    const personCountry = country ?? (uni ? uni[1] : pickCountry(rng));
    const indivCountry = kind === 'hobbyist' || kind === 'developer' ? pickCountry(rng) : personCountry;
    const accountTz = kind === 'hobbyist' || kind === 'developer' ? tzOf(indivCountry, rng) : tz;
    // Classes sign up together: within a few hours of the first lecture.
    const created = kind === 'education' ? groupCreated + rng.next() * 6 * HOUR : sharedOrg && i > 0 ? groupCreated + rng.exp(30) * DAY : kind === 'hobbyist' || kind === 'developer' ? signupTime(ctx, rng) : groupCreated;
    const org = sharedOrg ? gid : orgId(rng, created);
    const net = emptyNet();
    let tier: VerificationTier = 'email_verified';
    let programme: Programme = 'none';
    let email = `${emailLocal(rng)}@${freemailDomain(indivCountry, rng)}`;
    let payment: string | null = paymentFp(`${ctx.seed}/${key}`);
    let role = 'person';
    let rate = rng.lognormal(cfg.sessions_per_day, cfg.sigma) * sc.organic.volumeScale;
    let keys = 1;
    let client = organicClient(rng, kind);
    switch (kind) {
      case 'hobbyist':
        net.homeAsn = residentialAsn(indivCountry, rng); net.mobileAsn = mobileAsn(indivCountry, rng); net.mobileShare = 0.3;
        tier = rng.chance(0.35) ? 'unverified' : 'email_verified';
        if (rng.chance(0.4)) payment = null;
        break;
      case 'developer':
        net.homeAsn = residentialAsn(indivCountry, rng); net.mobileAsn = mobileAsn(indivCountry, rng); net.mobileShare = 0.05;
        net.fixed = fixedAddresses('cloud', 1, rng); net.fixedShare = 0.25;
        tier = rng.chance(0.3) ? 'identity_verified' : 'email_verified';
        if (rng.chance(0.3)) email = `${emailLocal(rng)}@${companyDomain(rng, false)}`;
        keys = rng.intIn(1, 3);
        break;
      case 'enterprise':
        email = `${emailLocal(rng)}@${domain}`; tier = 'enterprise'; payment = orgPayment;
        net.fixed = netShared; net.fixedShare = 0.92; net.homeAsn = residentialAsn(personCountry, rng);
        // A few members are internal services with product-like volume.
        if (i < Math.max(1, Math.round(size / 15))) { role = 'service'; rate = rng.lognormal(60, 0.9) * sc.organic.volumeScale; keys = rng.intIn(2, 8); net.fixedShare = 1; }
        client = organicClient(rng, kind, rng.chance(0.6) ? 'openai' : 'anthropic');
        break;
      case 'startup':
        email = `${emailLocal(rng)}@${domain}`; payment = orgPayment;
        tier = rng.chance(0.5) ? 'identity_verified' : 'email_verified';
        programme = rng.chance(0.35) ? 'startup' : 'none';
        net.fixed = netShared; net.fixedShare = 1;
        if (i === 0) { role = 'product'; keys = 2; } else { role = 'person'; rate = rng.lognormal(2, 0.8); net.fixedShare = 0.3; net.homeAsn = residentialAsn(personCountry, rng); }
        break;
      case 'agent':
        email = `${emailLocal(rng)}@${domain}`; payment = orgPayment; role = 'product'; keys = rng.intIn(1, 3);
        tier = rng.chance(0.6) ? 'identity_verified' : 'email_verified';
        programme = rng.chance(0.2) ? 'startup' : 'none';
        net.fixed = netShared; net.fixedShare = 1;
        break;
      case 'batch':
        email = `${emailLocal(rng)}@${domain}`; payment = orgPayment; role = 'runner';
        tier = rng.chance(0.5) ? 'identity_verified' : 'email_verified';
        net.fixed = netShared; net.fixedShare = 1;
        break;
      case 'researcher':
        email = `${emailLocal(rng)}@${rng.chance(0.8) ? domain : `cs.${domain}`}`; role = 'runner';
        tier = rng.chance(0.7) ? 'identity_verified' : 'email_verified'; programme = rng.chance(0.7) ? 'research' : 'none';
        if (programme === 'research' && rng.chance(0.6)) payment = null;
        net.fixed = rng.chance(0.4) ? [...netShared, ...fixedAddresses('cloud', 1, rng)] : netShared; net.fixedShare = 0.9;
        net.homeAsn = residentialAsn(personCountry, rng);
        break;
      case 'education':
        email = `${emailLocal(rng)}@${rng.chance(0.7) ? domain : freemailDomain(personCountry, rng)}`; role = 'student';
        tier = 'email_verified'; programme = rng.chance(0.85) ? 'education' : 'none';
        if (rng.chance(0.8)) payment = null;
        net.fixed = netShared; net.fixedShare = 0.45; net.homeAsn = residentialAsn(personCountry, rng);
        net.mobileAsn = mobileAsn(personCountry, rng); net.mobileShare = 0.15;
        client = organicClient(rng, kind, shared.seed % 2 === 0 ? 'openai' : 'anthropic');
        break;
    }
    const signupAddr = net.fixed.length && net.fixedShare > 0.5 ? net.fixed[0] : net.homeAsn !== null ? pickAddressInAsn(net.homeAsn, rng) : net.fixed[0] ?? pickAddress('residential', rng);
    const turns = role === 'product' || role === 'service' ? (kind === 'agent' ? cfg.turns_mean : 2.5) : cfg.turns_mean;
    newAccount(ctx, key, {
      kind, role, createdMs: created, orgId: org, tier, programme, email, signupIp: signupAddr.ip, country: personCountry === indivCountry ? personCountry : indivCountry,
      // Customers who signed up before the window have been using the API since.
      usedSinceSignup: created < sc.startMs,
      paymentFp: payment, tz: accountTz, client, net, rate, turnsMean: turns,
      lanes: role === 'product' || role === 'service' ? lanesFor(rate, turns) : 1, keys, group: shared, adoptionDays: cfg.adoption_days,
      label: { population: 'organic', organic_kind: kind, campaign_id: null, campaign_kind: null, adaptive: false, group_id: size > 1 || sharedOrg ? groupKey : null },
      // A share of existing customers stop using the API during the window (churn).
      activeToMs: rng.chance(0.04) ? sc.startMs + rng.next() * (sc.endMs - sc.startMs) : sc.endMs,
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Campaign population

const CAMPAIGN_USER_AGENTS = ['python-httpx/0.27.0', 'python-requests/2.31.0', 'OpenAI/Python 1.51.0', 'Anthropic/Python 0.34.2', 'aiohttp/3.9.5', 'Go-http-client/1.1', 'node-fetch/1.0 (+https://github.com/bitinn/node-fetch)'];

function newestModel(models: ModelSpec[], family: 'openai' | 'anthropic'): ModelSpec | null {
  let best: ModelSpec | null = null;
  for (const m of models) {
    if (m.family !== family || m.released_day === null) continue;
    if (!best || (m.released_day ?? 0) > (best.released_day ?? 0)) best = m;
  }
  return best;
}

function campaignRuntime(sc: Scenario, c: CampaignConfig, seed: number | string): CampaignRuntime {
  const rng = new Rng(seed, 'campaign', c.id);
  const startMs = sc.startMs + c.start_day * DAY;
  const endMs = c.days === null ? sc.endMs : Math.min(sc.endMs, startMs + c.days * DAY);
  const n = Math.max(1, c.templates);
  const mk = (f: (r: Rng, id: string) => Template, k: string) => Array.from({ length: n }, (_, i) => f(rng, `${c.id}-${k}-${i}`));
  const templates: Record<TaskKind, Template[]> = {
    cot: mk(cotTemplate, 'cot'), math: mk(cotTemplate, 'math'), code: mk(codeHarvestTemplate, 'code'), agentic: [],
    rubric: mk(rubricTemplate, 'rubric'), rewrite: mk(rewriteTemplate, 'rewrite'), chat: [],
  };
  // Target models: the most popular always-available model of the family, unless given.
  const fams: ('openai' | 'anthropic')[] = c.family === 'both' ? ['anthropic', 'openai'] : [c.family];
  const models = c.models ?? fams.map((f) => {
    const avail = sc.models.filter((m) => m.family === f && m.released_day === null).sort((a, b) => b.popularity - a.popularity);
    return (avail[0] ?? sc.models[0]).name;
  });
  let pivotModel: string | null = null;
  let pivotAtMs: number | null = null;
  if (c.pivot) {
    const target = c.pivot.to_model ? sc.models.find((m) => m.name === c.pivot!.to_model) ?? null : newestModel(sc.models, fams[0]);
    if (target) {
      pivotModel = target.name;
      pivotAtMs = sc.startMs + (target.released_day ?? 0) * DAY + c.pivot.delay_hours * HOUR;
    }
  }
  const meanTrace = (c.trace_turns[0] + c.trace_turns[1]) / 2;
  let mixTotal = 0;
  for (const k of Object.keys(c.mix) as TaskKind[]) mixTotal += c.mix[k];
  const agenticShare = mixTotal > 0 ? (c.mix.agentic / mixTotal) * (1 - c.organic_mix) : 0;
  let perArrival = 1 + agenticShare * (meanTrace - 1);
  if (c.timing.mode === 'human' || c.timing.mode === 'waves') perArrival *= c.timing.burst;
  return {
    config: c, startMs, endMs, seed: rng.u32(), templates, system: rng.chance(0.5) ? null : 'You are a helpful, knowledgeable assistant. Always answer thoroughly.',
    agentSystem: harvestAgentSystem(rng),
    // A stream of its own: campaigns that do not grade draw what they drew before.
    judgeSystem: c.judge.share > 0 ? reviewSystem(new Rng(seed, 'campaign-judge', c.id)) : '', models, pivotModel, pivotAtMs, requestsPerArrival: perArrival, wavePeriodMs: c.timing.wave_period_s * 1000,
  };
}

function buildCampaign(ctx: BuildCtx, c: CampaignConfig): void {
  const sc = ctx.scenario;
  const rt = campaignRuntime(sc, c, ctx.seed);
  if (rt.endMs <= rt.startMs) return;
  const rng = new Rng(ctx.seed, 'campaign-setup', c.id);
  const durMs = rt.endMs - rt.startMs;
  const lifeMs = c.lifetime_days === null ? durMs : Math.min(durMs, c.lifetime_days * DAY);
  // Infrastructure shared by the whole campaign.
  let pool: ClientAddress[] | null = null;
  if (c.network.mode === 'proxy_pool' || c.network.mode === 'datacenter') {
    pool = [];
    const dcAsnRng = rng.fork('dc');
    const dc = c.network.mode === 'datacenter' ? fixedAddresses(rng.chance(0.5) ? 'cloud' : 'proxy', c.network.pool_size, dcAsnRng) : null;
    for (let i = 0; i < c.network.pool_size; i++) {
      if (dc) pool.push(dc[i]);
      else if (rng.chance(c.network.residential_share)) pool.push(pickAddress('residential', rng, c.network.countries));
      else pool.push(pickAddress('proxy', rng));
    }
  }
  const leak = c.network.unsupported_region_share > 0 ? Array.from({ length: 8 }, () => pickAddress('residential', rng, c.network.unsupported_countries)) : null;
  const uas = c.user_agents > 0 ? Array.from({ length: c.user_agents }, (_, i) => CAMPAIGN_USER_AGENTS[(rng.int(CAMPAIGN_USER_AGENTS.length) + i) % CAMPAIGN_USER_AGENTS.length]) : null;
  const emailBase = `${rng.pick(FIRST)}${rng.pick(['dev', 'ai', 'lab', 'work', 'acc'])}`;
  const emailDomains = c.signup.email === 'disposable' ? Array.from({ length: 6 }, () => rng.pick(disposableDomains())) : null;
  const orgCount = c.signup.org_per_account ? c.accounts : Math.max(1, Math.ceil(c.accounts / 10));
  const orgIds = c.signup.org_per_account ? null : Array.from({ length: orgCount }, () => orgId(rng, rt.startMs - 10 * DAY));
  // Signup bursts spread over the campaign, each a few hours long, ahead of first use.
  const bursts = c.signup.bursts;
  const slots = durMs > lifeMs ? durMs - lifeMs : 0;
  const accountsMade: SimAccount[] = [];
  const group: GroupShared = { id: c.id, system: rt.system, tools: [], templates: {}, batch: null, seed: rt.seed, cronHour: 0, temperature: c.params.temperature, maxTokens: c.params.max_tokens };
  for (let i = 0; i < c.accounts; i++) {
    const key = `campaign/${c.id}/${i}`;
    const arng = new Rng(ctx.seed, 'campaign-account', key);
    const frac = c.accounts > 1 ? i / (c.accounts - 1) : 0;
    let activeFrom: number;
    if (bursts > 0) {
      const b = Math.min(bursts - 1, Math.floor(frac * bursts));
      activeFrom = rt.startMs + (bursts > 1 ? (b / (bursts - 1)) * slots : 0) + arng.next() * c.signup.burst_hours * HOUR;
    } else {
      activeFrom = rt.startMs + frac * slots + arng.next() * HOUR;
    }
    const age = arng.range(c.signup.age_days[0], c.signup.age_days[1]) * DAY;
    const created = bursts > 0
      ? activeFrom - arng.next() * c.signup.burst_hours * HOUR - age
      : activeFrom - age;
    const activeTo = Math.min(rt.endMs, activeFrom + lifeMs);
    const country = arng.pick(c.signup.claimed_countries);
    const net = emptyNet();
    net.pool = pool;
    net.leak = leak;
    net.leakShare = c.network.unsupported_region_share;
    let signupIp: string;
    if (c.network.mode === 'residential_sticky') {
      const addr = pickAddress('residential', arng, [country]);
      net.fixed = [addr];
      net.fixedShare = 1;
      net.pool = null;
      signupIp = addr.ip;
    } else {
      signupIp = pool![arng.int(pool!.length)].ip;
    }
    let email: string;
    switch (c.signup.email) {
      case 'disposable': email = `${arng.base32(10).toLowerCase()}@${arng.pick(emailDomains!)}`; break;
      case 'patterned': email = `${emailBase}${String(1000 + i)}@${arng.pick(['gmail.com', 'outlook.com', 'hotmail.com'])}`; break;
      case 'edu': email = `${emailLocal(arng)}${arng.intIn(1, 999)}@${arng.pick(UNIVERSITIES)[0]}`; break;
      default: email = `${emailLocal(arng)}@${freemailDomain(country, arng)}`;
    }
    const payment = arng.chance(c.payment.none_share) ? null : paymentFp(`${ctx.seed}/${c.id}/instrument/${Math.floor(i / c.payment.accounts_per_instrument)}`);
    const fam = c.family === 'both' ? (arng.chance(0.5) ? 'anthropic' : 'openai') : c.family;
    // logit_bias exists only in Chat Completions: a logit campaign calls nothing else.
    const flavour: ApiFlavour = fam === 'anthropic' ? 'anthropic.messages' : c.logit.share > 0 ? 'openai.chat' : arng.chance(0.75) ? 'openai.chat' : 'openai.responses';
    const ua = uas ? uas[i % uas.length] : arng.pick(arng.chance(0.8) ? USER_AGENTS[fam] : USER_AGENTS.generic);
    const tz = c.timing.mode === 'human' ? tzOf(country, arng) : c.timing.tz_offset_h;
    const acct = newAccount(ctx, key, {
      kind: c.kind, role: 'harvester', createdMs: created, usedSinceSignup: c.signup.used_before, orgId: orgIds ? orgIds[i % orgIds.length] : orgId(arng, created),
      tier: arng.weighted(c.signup.tier), programme: arng.weighted(c.signup.programme), email, signupIp, country, paymentFp: payment, tz,
      client: { family: fam, flavour, userAgent: ua, streamShare: c.params.stream_share }, net, rate: 0, turnsMean: 1, group,
      label: { population: 'campaign', organic_kind: null, campaign_id: c.id, campaign_kind: c.kind, adaptive: c.adaptive, group_id: null },
      activeFromMs: activeFrom, activeToMs: activeTo, campaign: rt, keys: 1, adoptionDays: 365,
    });
    acct.baseModel = rt.models[i % rt.models.length];
    accountsMade.push(acct);
  }
  // Per-account arrival rate so that the campaign's expected volume matches `interactions`.
  let activeDays = 0;
  for (const a of accountsMade) activeDays += Math.max(0, Math.min(a.activeToMs, sc.endMs) - Math.max(a.activeFromMs, sc.startMs)) / DAY;
  const perDay = activeDays > 0 ? c.interactions / activeDays / rt.requestsPerArrival : 0;
  for (const a of accountsMade) {
    const r = new Rng(ctx.seed, 'campaign-rate', a.key);
    a.rate = perDay * (c.adaptive ? r.lognormal(1, 0.4) : r.lognormal(1, 0.15));
  }
  if (c.timing.mode === 'waves') {
    // Waves: every active account fires `burst` requests per wave; the period follows from volume.
    const concurrent = Math.max(1, (activeDays * DAY) / durMs);
    const perWave = concurrent * c.timing.participation * c.timing.burst;
    rt.wavePeriodMs = c.interactions > 0 ? Math.max(1000, (durMs * perWave) / c.interactions) : c.timing.wave_period_s * 1000;
  }
}

/** Build every account of a scenario (organic first, then campaigns in order). */
export function buildPopulation(scenario: Scenario): SimAccount[] {
  const ctx: BuildCtx = { scenario, seed: scenario.seed, accounts: [] };
  buildOrganic(ctx);
  for (const c of scenario.campaigns) buildCampaign(ctx, c);
  return ctx.accounts;
}
