/**
 * What links accounts into clusters, as data and pure helpers: the kinds of shared evidence
 * (LINK_TYPES) with their weights and popularity damping, the layout of a candidate's evidence
 * array, the bounds of the address, pair and synchrony tables, and the small functions that weigh
 * a shared key or count the accounts an address has seen. The engine (engine.ts) holds the state
 * these describe; they live here so the linking rules can be read in one place.
 */
import { networkPrefix } from '../events/index.ts';
import type { AccountLink } from './engine-types.ts';

/** Kinds of shared evidence that link accounts, with their weight and popularity damping. */
export const LINK_TYPES = [
  { name: 'org', weight: 100, damp: 0, declared: true, software: false },
  { name: 'payment_fingerprint', weight: 1.2, damp: 0, declared: false, software: false },
  { name: 'signup_ip', weight: 0.6, damp: 0, declared: false, software: false },
  { name: 'signup_subnet', weight: 0.35, damp: 0, declared: false, software: false },
  { name: 'email_domain', weight: 0.35, damp: 5000, declared: false, software: false },
  { name: 'email_pattern', weight: 0.5, damp: 50, declared: false, software: false },
  { name: 'signup_burst', weight: 0.35, damp: 0, declared: false, software: false, minCount: 5 },
  { name: 'client_ip', weight: 0.45, damp: 20, declared: false, software: false },
  { name: 'client_subnet', weight: 0.3, damp: 50, declared: false, software: false },
  { name: 'client_asn', weight: 0.1, damp: 200, declared: false, software: false },
  { name: 'user_agent', weight: 0.25, damp: 300, declared: false, software: true },
  { name: 'system_prompt', weight: 0.5, damp: 3000, declared: false, software: true },
  { name: 'prompt_template', weight: 0.6, damp: 3000, declared: false, software: true },
  { name: 'tool_set', weight: 0.3, damp: 3000, declared: false, software: true },
  { name: 'param_fingerprint', weight: 0.3, damp: 300, declared: false, software: true },
  // Accumulated pair evidence (not keys): distinct client addresses two accounts both used within
  // a day (rotating proxy pools), and co-occurring activity (synchronised timing).
  { name: 'client_addresses', weight: 1, damp: 0, declared: false, software: false },
  { name: 'activity_timing', weight: 0.7, damp: 0, declared: false, software: true },
] as const;
export type LinkType = (typeof LINK_TYPES)[number]['name'];
export const LT = Object.fromEntries(LINK_TYPES.map((t, i) => [t.name, i])) as Record<LinkType, number>;
export const NLINK = LINK_TYPES.length;
export const KEY_SLOTS = 24;
/**
 * Behaviour keys (addresses, software) of one type an account registers: its first ones. Without a
 * bound per type, an account behind a rotating proxy fills every slot with addresses in a few
 * requests, and one that varies its models and parameters with parameter fingerprints, and the
 * keys that come later (a prompt template is registered at its third use) never find a slot.
 */
export const KEYS_PER_TYPE = 2;
export const SOFTWARE_EVIDENCE_CAP = 0.7;
/**
 * Fleet software: a system prompt held by at least `fleet_min_holders` unaccountable accounts,
 * with at most FLEET_MAX_ACCOUNTABLE_SHARE of its holders accountable when they registered it, is
 * a fleet's own: between unaccountable accounts it weighs FLEET_WEIGHT times a system prompt's
 * weight and the rest of the shared software counts in full (not capped). A public framework's or
 * tutorial's prompt has established customers among its users; a share rather than none, so that
 * one aged account sending the prompt does not clear a whole fleet. Only the system prompt, free
 * text an application writes: user agents and parameter settings are few and shared by chance,
 * and prompt templates collide on popular questions.
 */
export const FLEET_WEIGHT = 2;
export const FLEET_MAX_ACCOUNTABLE_SHARE = 0.1;
/** Index, in a candidate's evidence array, of the fleet system-prompt evidence (after the link types). */
export const FLEET_SLOT = NLINK;
/**
 * Offset, in a candidate's evidence array, of the software evidence found through the candidate's
 * flagged representatives: the keys that are a flagged campaign's own (OWN_SOFTWARE_MIN_SHARE),
 * the only software that may bring a replacement head to it.
 */
export const OWN = NLINK + 1;
/**
 * Evidence slot: the best weight of a key that can be distinctive (not software, the burst, an org
 * or the ASN: NEVER_DISTINCTIVE) and is not population-common (see LinkKeyIndex.populationCommon). A signup
 * burst counts only beside one.
 */
export const UNCOMMON_SLOT = OWN + NLINK;
/**
 * Evidence slot: set when the candidate's flagged cluster holds, as its own software, a system
 * prompt no established customer sends (not population-common). Such a prompt anchors a
 * replacement head: the rest of the software it shares with the campaign (client, parameters,
 * tools, templates) counts in full, whether or not two flagged members hold each of those too.
 */
export const ANCHOR_SLOT = UNCOMMON_SLOT + 1;
/**
 * Evidence slot: the best weight of a shared key beside the email pattern that is a second sign of
 * a numbered scheme: any key but the pattern itself, the signup burst (counted on its own), an org,
 * the network's number (ASN) and synchronised timing, that no accountable customer (not fresh, or
 * verified, or in a corroborated org) held when it registered it; software included. An email
 * pattern counts only beside one, or beside a signup burst (NEVER_SCHEME). Not the quarter-of-all-
 * accounts rule of population-common keys: where a fleet is most of the new accounts, its own
 * client and settings are a quarter of them and are still its own.
 */
export const SCHEME_SLOT = ANCHOR_SLOT + 1;
export const EVIDENCE_LENGTH = SCHEME_SLOT + 1;
/**
 * Kinds that never count as a second sign of a numbered scheme beside an email pattern (SCHEME_SLOT).
 * A common first name and a number at a big free-mail provider (`anna1987@`) is the pattern of
 * many unrelated people, and the most popular SDK's user agent and default parameters are shared by
 * most customers: the two together are coincidences, not a scheme (an organic hobbyist was
 * suspended with a campaign by 0.5 + 0.3 + 0.25). A fleet's numbered addresses come with something
 * its accounts share that established customers do not: a card, a signup address, client
 * addresses, its own software, or their signup quarter-hour.
 */
export const NEVER_SCHEME = LINK_TYPES.map((t) => ['email_pattern', 'signup_burst', 'org', 'client_asn', 'activity_timing'].includes(t.name));
/**
 * A key is population-common when at least this many established customers (accountable: not
 * fresh, or verified, or in a corroborated org) hold it, or a quarter of all accounts: a popular
 * SDK, its default max_tokens, a big ISP. A fleet's own client is held by its new accounts only.
 */
export const POPULATION_COMMON_ESTABLISHED = 1;
/**
 * Kinds that never make a signup burst count, however few hold the value: software (a new
 * application's users all hold its prompt, tools and client, and a launch signs many of them up in
 * one quarter-hour), the network (an ISP); nor the burst itself or an org. A burst completes a link
 * only beside something its accounts share that people who merely signed up together and run the
 * same program do not: a card, a signup address, an email pattern or domain, client addresses.
 */
export const NEVER_DISTINCTIVE = LINK_TYPES.map((t) => t.software || ['signup_burst', 'org', 'client_asn'].includes(t.name));
export const POPULATION_COMMON_SHARE = 0.25;
/**
 * Facts of an account's signup that two accounts can share: a card, a signup address or prefix, an
 * email domain or pattern. An established account (see established) needs one of these to be
 * linked: phone users behind a carrier's shared addresses (CGNAT) share its addresses, prefixes and
 * network with whoever else the carrier serves, a fleet on mobile proxies included, and the client
 * app their phones run; with nothing else shared, network and software together count no more than
 * software alone (SOFTWARE_EVIDENCE_CAP).
 */
export const SIGNUP_FACTS = ['payment_fingerprint', 'signup_ip', 'signup_subnet', 'email_domain', 'email_pattern'].map((name) => LINK_TYPES.findIndex((t) => t.name === name));
/**
 * Kinds of evidence that make a flagged cluster's software its own (able to bring replacement
 * heads to it): anything but software, the signup burst and the network's number. A cluster of a
 * new application's users, linked by its software and their launch-day signups, is no campaign
 * whose every later user of the application is a new head.
 */
export const BEYOND_SOFTWARE = LINK_TYPES.flatMap((t, i) => (t.software || ['org', 'signup_burst', 'client_asn'].includes(t.name) ? [] : [i]));


/** Evidence per distinct client address two accounts both used within ADDRESS_WINDOW_S. */
export const ADDRESS_EVIDENCE_PER_IP = 0.2;
/**
 * Distinct accounts seen on an address past which a shared address weighs less (in proportion): a
 * carrier's shared address (CGNAT), a hotel's or a campus's serves many unrelated customers.
 */
export const ADDRESS_BUSY = 8;
/** Distinct shared addresses a pair keeps (their evidence stops growing at the link threshold first, unless the addresses are busy). */
export const MAX_SHARED_ADDRESSES = 32;
export const ADDRESS_WINDOW_S = 24 * 3600;
/** Pair evidence is keyed by the two account indices, the smaller times this (indices stay below it). */
export const PAIR_SPAN = 67_108_864;
/** Bounds of the address and pair tables (oldest entries evicted first). */
export const MAX_ADDRESSES = 400_000;
export const MAX_PAIRS = 200_000;
/** Synchrony: activity in 30 s buckets, MinHash signatures per 6 h epoch, LSH 4 bands x 4 rows. */
export const SYNC_BUCKET_S = 30;
export const SYNC_EPOCH_S = 6 * 3600;
export const SYNC_HASHES = 16;
export const SYNC_BANDS = 4;
export const SYNC_MIN_BUCKETS = 6;
/** Accounts active in more than this share of an epoch's buckets are always on: no timing evidence. */
export const SYNC_MAX_OCCUPANCY = 0.3;
export const SYNC_MIN_JACCARD = 0.4;
/** Observed overlap must exceed what independent accounts with the same activity would show. */
export const SYNC_MIN_LIFT = 4;
/**
 * The last two accounts seen on a client address (and when), and `seen`, a 32-bit sketch of every
 * account seen on it (see seenAccounts): accounts keep only their first addresses as link keys, so
 * the keys' holder counts alone do not tell a busy address.
 */
export interface AddressUse { a: number; ta: number; b: number; tb: number; seen: number }
/** Evidence accumulated between two accounts: the distinct addresses both used, their evidence (see sharedAddress), synchrony. */
export interface PairEvidence { ips: number[]; weight: number; sync: number }
export const TWO32 = 2 ** 32;

/** Link evidence no class shares: a payment instrument, numbered addresses, a signup address in a signup burst. */
export const FLEET_KEY_TYPES = [LT.payment_fingerprint, LT.email_pattern, LT.signup_ip, LT.system_prompt];
/**
 * Whether a link was made by evidence of a fleet rather than of a class: a shared card, a numbered
 * address pattern, a shared signup address within a signup burst, or fleet software (a fleet's own
 * system prompt, a flagged campaign's replacement head). A class shares its campus network, its
 * signup subnet, its domain and homework-like content; students do not share a card.
 */
export function fleetEvidence(ev: Float64Array, rule: AccountLink['rule']): boolean {
  return ev[LT.payment_fingerprint] > 0 || ev[LT.email_pattern] > 0 || (ev[LT.signup_ip] > 0 && ev[LT.signup_burst] > 0)
    || rule === 'fleet_software' || rule === 'replacement_head';
}

/**
 * A software key is a flagged campaign's own, and brings replacement heads to it, only when at
 * least two of its holders have been members of flagged clusters and they number at least this
 * share of the campaign's cluster. Otherwise one account that joins a campaign by mistake carries
 * a prompt it shares with many others (a new application's users) into the campaign, and every
 * other new user of that application follows it there at its first request.
 */
export const OWN_SOFTWARE_MIN_SHARE = 0.1;
/**
 * And at least this share of all the key's holders have been members of flagged clusters: a
 * campaign's own client or prompt is held by its accounts, an application's by its many users. A
 * small cluster flagged beyond its software (a few accounts on one card or address) that runs a
 * popular new application would otherwise bring each later user of it in as a replacement head
 * (seen: a startup's four accounts at throttle took in 13 developers and agent products of one
 * application, which a campaign's cluster then joined, all at suspend).
 */
export const OWN_SOFTWARE_HOLDER_SHARE = 0.05;

/** The bit of an account in an address's sketch of the accounts seen on it. */
export function seenBit(i: number): number {
  return 1 << (Math.imul(i + 1, 0x9e3779b1) >>> 27);
}

/** Distinct accounts a 32-bit sketch has seen (linear counting: exact enough for the few to tens it tells apart). */
export function seenAccounts(seen: number): number {
  let x = seen - ((seen >>> 1) & 0x55555555);
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  const ones = (Math.imul((x + (x >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24);
  return ones >= 32 ? 128 : Math.round(-32 * Math.log((32 - ones) / 32));
}

/** The evidence one shared key of a type is worth when `count` accounts hold it: damped past its popularity bound, 0 below its minimum. */
export function keyWeight(type: number, count: number): number {
  const spec = LINK_TYPES[type];
  if ('minCount' in spec && count < spec.minCount) return 0;
  if (spec.damp === 0) return spec.weight;
  // Worked out for every key of a damped type, not only past the bound: the compiled code of the
  // engine's `link` has then seen it run before the first popular key comes (or it is compiled again).
  const damped = spec.weight * (spec.damp / count);
  return count > spec.damp ? damped : spec.weight;
}

/** The /24 of an IPv4 address (the /48 of an IPv6 one): where signups and shared addresses are compared. */
export const subnet = (ip: string): string => networkPrefix(ip, 3, 3);

/** The /16 of an IPv4 address (the /32 of an IPv6 one): the network when the ASN is unknown. */
export const subnet16 = (ip: string): string => networkPrefix(ip, 2, 2);
