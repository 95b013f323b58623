/**
 * Clusters linked only by a place: what people who sit in one classroom or one office share with
 * each other (the campus or office address and network, the signup address, the lab's browser or
 * the company's client, the email domain, the teacher's wording, the hour they work in) is also
 * what a fleet behind one exit shares. Such links say that the accounts are many actors in one
 * place; they do not say that the place harvests. A cluster linked by nothing else (PLACE_KINDS:
 * no shared card, numbered addresses that are a scheme, system prompt or tool set) is held at
 * watch unless what its members ask, taken together, is harvest-like: independent single-shot
 * questions with the working asked for and answers many times the prompt (the harvest-yield test's
 * content conditions read over the cluster), the working asked for at a harvester's volume (the
 * yield test's 25 windowed requests, per member), or asks that people in a class or an office do
 * not make together (grading rubrics, sensitive rewrites, logprobs or several samples a request,
 * disguised text, unreadable documents, a new network on most requests, a broad corpus embedded).
 * A class asks for the steps too, but pastes its working and follows up on a step; an office pastes
 * its code and converses: their answers are a few times their prompts, and many requests are not
 * single-shot. One institution's accounts (most links through one campus or company email domain)
 * that share one system prompt, a course's or an office's tool, are read the same way (placeLinked).
 */
import { LINK_TYPES, LT, type LinkType } from './linking.ts';
import { C, INDICATORS, round, type IndicatorName, type IndicatorValues } from './scoring.ts';
import { YIELD, yieldReadings, yieldRatioFloor } from './harvest-yield.ts';
import { COHORT } from './harvest-cohort.ts';
import type { ClusterState } from './engine-types.ts';
import { VERDICT_LEVELS, type VerdictReason } from './verdict.ts';

/**
 * Harvest indicators that corroborate a place-linked cluster when read above their threshold over
 * the cluster: asks a class or an office does not make together. Not reasoning elicitation,
 * capability tasks, timing regularity, topic shift, volume or round-the-clock hours: a class asks
 * for the steps of maths problems in one lesson's hour, an office asks for code all day.
 */
export const PLACE_CORROBORATING: readonly IndicatorName[] = [
  'rubric_share', 'sensitive_rewrite_share', 'distiller_params_share', 'obfuscated_text_share', 'unreadable_documents_share', 'network_hopping_share',
];

/**
 * Kinds of link evidence people in one classroom or office share: the addresses and network they
 * send from (one address, several in a day, the same hours), where they signed up, their email
 * domain, their browser or client and its settings, the teacher's wording. Every other kind (a
 * card, numbered addresses read as a scheme, a system prompt, a tool set, a signup burst) is a sign
 * of a fleet or of one application's harness, and a cluster with any of it is scored as before. A
 * signup burst (five or more accounts of one tier and programme created within minutes, each
 * scoring) is a fleet's making, not a place: accounts a fleet creates from scattered signup
 * addresses and then drives from one cloud prefix share nothing else a class would not.
 */
export const PLACE_KINDS: readonly LinkType[] = [
  'signup_ip', 'signup_subnet', 'email_domain', 'client_ip', 'client_subnet', 'client_asn', 'user_agent',
  'param_fingerprint', 'prompt_template', 'client_addresses', 'activity_timing',
];
const NOT_PLACE = LINK_TYPES.flatMap((t, i) => (t.declared || PLACE_KINDS.includes(t.name) ? [] : [i]));

/**
 * Share of a cluster's joins that must have gone through one institutional email domain (neither
 * free-mail nor disposable: free-mail registers no domain key) for a shared system prompt to count
 * as the place's own: a course's tool on its campus, a company's internal client in its office.
 * Read from the summed domain evidence against its full weight per join.
 */
export const INSTITUTION_JOIN_SHARE = 0.5;

/**
 * Software of an application one institution's accounts share that links them as their place does
 * (placeLinked, `institution_app`): its system prompt and the tools it offers the model. An office's
 * product and the coding agent its engineers run send both on every request; a course's tool its
 * prompt. A tool set was read as a fleet's harness whatever the cluster, so a startup's four new
 * accounts on their company's domain and office address, asking for code with thinking on (reasoning
 * elicitation, capability tasks: what an office asks), were throttled as one actor through the tools
 * of their product and of a public coding agent.
 */
export const INSTITUTION_APP_KINDS: readonly number[] = [LT.system_prompt, LT.tool_set];

/**
 * Whether the cluster is one institution's accounts, none of its members on a disposable domain:
 * most of its joins went through one institution's email domain, or most of its members are on
 * one campus domain something vouches for (F_CAMPUS: established accounts seen on it, a reserved
 * suffix, a programme). The second is read from the members, not the links: a domain that vouched
 * accounts already hold (last year's students) has its link key first held outside the new class,
 * and a new class's first links go through the lecture hall's address and the course's tool.
 */
export function institutionLinked(c: ClusterState): boolean {
  if (c.joins === 0 || c.disposable > 0) return false;
  if (c.evidence[LT.email_domain] >= INSTITUTION_JOIN_SHARE * LINK_TYPES[LT.email_domain].weight * c.joins) return true;
  for (const k of c.campus.values()) if (k >= INSTITUTION_JOIN_SHARE * c.members) return true;
  return false;
}

/**
 * A cluster linked only by the kinds of PLACE_KINDS, none of its links through a fleet's own
 * system prompt (`place`); or, when it is one institution's accounts (institutionLinked), by those
 * and the software of an application they share (`institution_app`, INSTITUTION_APP_KINDS: its
 * system prompt, its tool set): the course's tool that tells the model to show the working links its
 * students as their campus does, and a startup's engineers trying their own product and running one
 * coding agent from the office send its prompt and its tools; neither says more than the same words
 * in each question would about whether they harvest. A fleet's own system prompt (fleet software,
 * a flagged campaign's replacement head), a card, numbered addresses, a tool set outside one
 * institution's accounts or a signup burst still make it any cluster.
 */
export function placeLinked(c: ClusterState): 'place' | 'institution_app' | null {
  if (c.joins === 0 || c.fleetJoins > 0) return null;
  let app = false;
  for (const t of NOT_PLACE) {
    if (!(c.evidence[t] > 0)) continue;
    if (!INSTITUTION_APP_KINDS.includes(t) || !institutionLinked(c)) return null;
    app = true;
  }
  return app ? 'institution_app' : 'place';
}

/**
 * One institution's accounts (institutionLinked) linked by place evidence, their shared
 * application's software (INSTITUTION_APP_KINDS) and a signup burst, and by nothing else a fleet
 * makes (no card, numbered addresses or fleet software): a class that signed up in its first lecture, from the lecture hall's
 * address, through the course's tool. The burst keeps such a cluster out of the place rule's hold
 * at watch (a fleet creates its accounts minutes apart too), but without the harvest shape or a
 * specific ask it stops at verify (PLACE_VOLUME_CEILING).
 */
export function institutionSignup(c: ClusterState): boolean {
  if (c.joins === 0 || c.fleetJoins > 0 || !institutionLinked(c)) return false;
  for (const t of NOT_PLACE) if (c.evidence[t] > 0 && !INSTITUTION_APP_KINDS.includes(t) && t !== LT.signup_burst) return false;
  return true;
}

/**
 * The highest level of a place-linked cluster corroborated only by `harvest_volume` (the working
 * asked for at a harvester's volume, not the harvest shape, a broad corpus or a specific ask), or
 * of one institution's cluster linked also by a signup burst whose members do not converse: verify
 * is what people can answer and a fleet cannot.
 */
export const PLACE_VOLUME_CEILING = VERDICT_LEVELS.indexOf('verify');

/**
 * Whether a place-linked cluster's members converse, as the harvest-yield test reads people who do:
 * fewer than YIELD.singleShot (0.65) of its windowed requests single-shot (the rest follow up on an
 * answer, or paste an attempt into a conversation) and answers not many times the prompt (the
 * output/input ratio under the yield test's floor: history and pasted attempts make the prompt
 * long). Read once its members have sent PLACE_MIN_REQUESTS_PER_MEMBER requests each. A class
 * follows up on a step it did not understand and pastes its own working; a fleet wants a new long
 * answer to a new question on every request, which is what it harvests.
 */
export function conversing(p: PlaceReading): boolean {
  return p.perMember >= PLACE_MIN_REQUESTS_PER_MEMBER && p.single < YIELD.singleShot && p.ratio < p.ratioFloor;
}

/**
 * Share of a cluster's opening questions (single-shot requests, and conversation turns that move
 * on to a new question) that another account asked first, near-duplicate or word for word
 * (shared-problems.ts), at or above which its members converse as a class does: about the same
 * problems. A class works one sheet (six problems a day for thirty students: all but the first
 * asker of each are shared, most of its openers); a fleet harvesting needs distinct items, and
 * its members' openers repeat only where its corpus does. A conversing institution's cluster
 * under it is not held at watch for conversing (placeHold): a fleet that converses to look like
 * a class is read as the fleet it is.
 */
export const PLACE_SHARED_PROBLEMS = 0.3;

/** Whether the cluster's members ask each other's problems (PLACE_SHARED_PROBLEMS). */
export function sharesProblems(p: PlaceReading): boolean {
  return p.openers > 0 && p.sharedOpeners >= PLACE_SHARED_PROBLEMS;
}

/** Its members converse, and about the same problems: a class (conversing and sharesProblems). */
export function conversingClass(p: PlaceReading): boolean {
  return p.converses && sharesProblems(p);
}

/**
 * What holds a place-linked cluster (`burst`: one institution's cluster linked also by a signup
 * burst, institutionSignup), from its reading: `watch` (its score held at the watch threshold),
 * `verify` (PLACE_VOLUME_CEILING) or null (scored as any cluster).
 * - Nothing harvest-like in what the members ask: watch; for a burst, only while its members have
 *   sent too few requests to tell whether they converse, or when they converse about each other's
 *   problems (conversingClass: a class that signed up in its first lecture); otherwise verify (a
 *   fleet creates its accounts minutes apart too, and can converse).
 * - The working asked for at a harvester's volume: verify; watch when the cluster is one
 *   institution's and its members converse about each other's problems (a class before a
 *   deadline sends as much: follow-ups and pasted attempts on one sheet, answers a few times the
 *   prompt; a fleet that converses asks distinct items).
 * - The harvest shape, a broad corpus or a specific ask: null.
 */
export function placeHold(p: PlaceReading): 'watch' | 'verify' | null {
  if (p.by === null) return !p.burst || p.perMember < PLACE_MIN_REQUESTS_PER_MEMBER || conversingClass(p) ? 'watch' : 'verify';
  if (p.by === 'harvest_volume') return p.institution && conversingClass(p) ? 'watch' : 'verify';
  return null;
}

/**
 * How many times the median member's windowed requests a member of a place-linked cluster sends,
 * at a harvester's volume of its own (YIELD.minRequests), to be set apart as a busy member. A lab's
 * researchers running evaluations beside a class that sent a few questions each are most of the
 * class's cluster; read over the cluster, their volume a member and their own asks (logprobs,
 * rubrics, a pipeline's single shots) would corroborate the class. Set apart, every reading the
 * place rule takes (the harvest shape, volume a member, the indicators, the embedding spread) is
 * read again over the other members' windows, and the cluster is held by whichever of the two
 * readings holds it less (placeHoldRank): what only the busy members show corroborates nothing for
 * the others, and setting members apart never holds a cluster more than its whole reading does (a
 * lab whose busiest researcher converses beside colleagues' evaluation runs stays where the whole
 * lab reads). When the other members' reading holds it, the cluster's harvest score is theirs too,
 * and each busy member is judged on its own account's evidence (nor is it a member of a conversing
 * class: conversingClassSize). A fleet's heads each harvest alike, so none is ten times the
 * median; a fleet with a few busier heads still shows the harvest without them, and as a whole.
 */
export const PLACE_BUSY_FACTOR = 10;

/** A place-linked cluster's busy members (PLACE_BUSY_FACTOR): the busiest, the median member's windowed requests, those set apart. */
export interface PlaceBusiest {
  /** The busiest member's id and windowed requests. */
  id: string;
  requests: number;
  /** The median member's windowed requests. */
  median: number;
  /** The busiest member's windowed requests over the median member's (Infinity over none). */
  ratio: number;
  /** Ids of the members set apart (none: the readings are the whole cluster's). */
  apart: string[];
  /** Their share of the cluster's windowed requests. */
  apartShare: number;
  /** The other members (the cluster's members but those set apart). */
  others: number;
  /** Whose readings hold the cluster: the other members' (theirs hold it less) or the whole cluster's. */
  over: 'others' | 'whole';
  /** Members set apart but the whole cluster's readings hold it: what the other members' own reading found (PlaceReading.by). */
  othersBy?: string | null;
}

/** How much a place hold holds (placeHold): watch below verify below none (scored as any cluster). */
export function placeHoldRank(h: 'watch' | 'verify' | null): number {
  return h === 'watch' ? 0 : h === 'verify' ? 1 : 2;
}

/**
 * The reading that holds a place-linked cluster whose busiest member is set apart: the other
 * members' (`others`) when it holds the cluster less than the whole cluster's (`whole`), else the
 * whole cluster's, its `busiest` saying what the other members' own reading found.
 */
export function lenientPlaceReading(whole: PlaceReading, others: PlaceReading): PlaceReading {
  if (placeHoldRank(placeHold(others)) < placeHoldRank(placeHold(whole))) return others;
  if (whole.busiest) whole.busiest = { ...whole.busiest, over: 'whole', othersBy: others.by };
  return whole;
}

/** What a place-linked cluster's requests show: the yield readings over the cluster, and what corroborates it (null: nothing). */
export interface PlaceReading {
  /** Requests a member over the cluster's life. */
  perMember: number;
  /** Windowed requests a member (the cluster's window over its members). */
  windowed: number;
  single: number;
  ratio: number;
  elicit: number;
  ratioFloor: number;
  /** The corroborating evidence: `harvest_shape`, an indicator's name, `embedding_spread`, or null. */
  by: string | null;
  /** Linked through one institution's domain and the system prompt of an application its members share (see placeLinked). */
  app: boolean;
  /** One institution's cluster linked also by a signup burst (institutionSignup), not place-linked. */
  burst: boolean;
  /** One institution's accounts (institutionLinked). */
  institution: boolean;
  /** Its members converse (conversing). */
  converses: boolean;
  /** Opening questions a member in the window (C.OPENERS), and the share of them another account asked first (C.SHARED_OPENERS). */
  openers: number;
  sharedOpeners: number;
  /** Its busiest member (null: not read); when set apart, every reading above is the other members'. */
  busiest: PlaceBusiest | null;
}

/**
 * Share of a place-linked cluster's requests that must be single-shot for the harvest shape: the
 * harvest cohort's (COHORT.singleShot), read without a prior (a cluster's window holds many
 * requests). A class's first questions are single-shot, then its students follow up on a step; a
 * fleet's requests are independent questions, all of them.
 */
export const PLACE_SINGLE_SHOT = COHORT.singleShot;
/**
 * Requests a member, on average over the cluster's life, before its shape can corroborate it (the
 * harvest cohort's `joinRequests`): whether people converse is not read from their first question.
 * A class that has just signed up has sent one question each, single-shot, with its working; a
 * fleet's heads are read from their third request, as when they join a harvest cohort.
 */
export const PLACE_MIN_REQUESTS_PER_MEMBER = COHORT.joinRequests;

/**
 * Read a place-linked cluster's window `w` (at offset 0) and its indicator values (`spread`: its
 * members passed the embedding-spread test together). With its busiest member set apart
 * (`busiest.apart`), `w`, `values`, `spread`, `requests` and `members` are the other members'.
 */
export function readPlace(w: Float64Array, values: IndicatorValues, spread: boolean, requests: number, members: number, link: { app: boolean; burst: boolean; institution: boolean }, busiest: PlaceBusiest | null = null): PlaceReading {
  const y = yieldReadings(values);
  const perMember = requests / Math.max(1, members);
  const single = w[C.N] > 0 ? w[C.SINGLE] / w[C.N] : 0;
  const ratioFloor = yieldRatioFloor(y.elicit);
  let by: string | null = null;
  const windowed = w[C.N] / Math.max(1, members);
  if (perMember >= PLACE_MIN_REQUESTS_PER_MEMBER && single >= PLACE_SINGLE_SHOT && y.elicit >= YIELD.elicitation && y.ratio >= ratioFloor) by = 'harvest_shape';
  else if (windowed >= YIELD.minRequests && y.elicit >= YIELD.elicitation) by = 'harvest_volume';
  else if (spread) by = 'embedding_spread';
  else {
    for (const name of PLACE_CORROBORATING) {
      const v = values.get(name);
      if (!Number.isNaN(v) && v > INDICATORS[name].threshold) { by = name; break; }
    }
  }
  const openers = w[C.OPENERS];
  const p: PlaceReading = { perMember, windowed, single, ratio: y.ratio, elicit: y.elicit, ratioFloor, by, ...link, converses: false, openers: openers / Math.max(1, members), sharedOpeners: openers > 0 ? w[C.SHARED_OPENERS] / openers : 0, busiest };
  p.converses = conversing(p);
  return p;
}

/**
 * The explanation of a place-linked cluster (or of one institution's cluster linked also by a
 * signup burst): what links it, what holds it (placeHold) and why, each reading with its value and
 * threshold. `capped`: its score was held at the watch threshold `watch` (coordination × harvest
 * was `uncapped`).
 */
export function placeReasons(p: PlaceReading, capped: boolean, uncapped: number, watch: number): VerdictReason[] {
  const hold = placeHold(p);
  const held = `cluster_score ${capped ? `held at the watch threshold ${watch} (coordination × harvest is ${round(uncapped)})` : `at most the watch threshold ${watch}`}`;
  const talk = p.perMember < PLACE_MIN_REQUESTS_PER_MEMBER
    ? `its members have sent too few requests to tell whether they converse (${round(p.perMember, 1)} a member, ${PLACE_MIN_REQUESTS_PER_MEMBER} needed)`
    : p.converses ? `its members converse (place_conversation, below)${sharesProblems(p) ? ', about each other\'s problems (place_shared_problems, below)' : `, but not about each other's problems (place_shared_problems ${round(p.sharedOpeners)} under ${PLACE_SHARED_PROBLEMS}: distinct items, as a harvest needs)`}` : 'its members do not converse (place_conversation, below)';
  const asked = p.by === 'harvest_shape' ? 'the harvest shape, below' : p.by === 'harvest_volume' ? 'the working asked for at a harvester\'s volume, below' : p.by === 'embedding_spread' ? 'a broad corpus embedded' : `${p.by} above its threshold`;
  let first: VerdictReason;
  if (p.burst) {
    const links = 'one institution\'s accounts linked by place evidence, the system prompt or tool set of an application they share and a signup burst (a class signing up in its first lecture, or a fleet creating its accounts), nothing else a fleet makes';
    first = hold === 'watch'
      ? { signal: 'institution_signup_class', value: p.by ?? 'uncorroborated', threshold: null, detail: `${links}; ${p.by === 'harvest_volume' ? 'the working asked for at a harvester\'s volume, but ' : 'nothing harvest-like in what the members ask, and '}${talk}: ${held}` }
      : hold === 'verify'
        ? { signal: 'institution_signup_ceiling', value: p.by ?? 'uncorroborated', threshold: null, detail: `${links}; ${p.by === 'harvest_volume' ? 'the working asked for at a harvester\'s volume' : 'neither the harvest shape nor an ask a class does not make'}, and ${talk}: at most ${VERDICT_LEVELS[PLACE_VOLUME_CEILING]}` }
        : { signal: 'institution_signup_ceiling', value: p.by!, threshold: null, detail: `${links}, but what the members ask is harvest-like (${asked}): scored as any cluster` };
  } else {
    const links = `linked only by what one classroom or office shares (addresses, network, browser or client, signup address, domain, wording, hours${p.app ? ', and the system prompt or tool set of an application used on one institution\'s email domain, a course\'s or an office\'s tool' : ''}), no card, numbered addresses, ${p.app ? 'fleet\'s own system prompt' : 'system prompt or tool set'}`;
    first = p.by === null
      ? { signal: 'place_links_only', value: 'uncorroborated', threshold: null, detail: `${links}, and nothing harvest-like in what the members ask (below): ${held}` }
      : hold === 'watch'
        ? { signal: 'place_links_only', value: 'conversing', threshold: null, detail: `${links}; the working asked for at a harvester's volume, but the cluster is one institution's accounts and its members converse about each other's problems (place_conversation, place_shared_problems, below): a class before a deadline sends as much, ${held}` }
        : { signal: 'place_links_only', value: 'corroborated', threshold: null, detail: `${links}, but what the members ask is harvest-like (${asked}): scored as any cluster${hold === 'verify' ? `, at most verify (volume alone: ${p.institution ? (p.converses ? 'its members converse, but not about each other\'s problems' : 'its members do not converse') : 'not one institution\'s accounts'}, and verify is what people can answer; its software, the place's, brings no replacement heads into it)` : ''}` };
  }
  return [first,
    ...(p.busiest ? [busiestReason(p.busiest)] : []),
    { signal: 'place_requests_per_member', value: round(p.perMember, 1), threshold: PLACE_MIN_REQUESTS_PER_MEMBER, detail: 'requests a member over the cluster\'s life: whether people converse is not read from their first question' },
    { signal: 'place_windowed_requests_per_member', value: round(p.windowed, 1), threshold: YIELD.minRequests, detail: 'windowed requests a member: with reasoning elicitation at its threshold, a harvester\'s volume (the harvest-yield test\'s minimum, per member) corroborates' },
    { signal: 'place_single_shot_share', value: round(p.single), threshold: PLACE_SINGLE_SHOT, detail: 'single-shot requests over the cluster\'s windowed requests: a class follows up on a step, an office converses about its code' },
    { signal: 'place_reasoning_elicitation_share', value: round(p.elicit), threshold: YIELD.elicitation, detail: 'over the cluster (shrunk, as the indicator)' },
    { signal: 'place_output_input_ratio', value: round(p.ratio), threshold: p.ratioFloor, detail: `over the cluster: answers many times the prompt (${p.ratioFloor === YIELD.outputInput ? 'reasoning asked for on fewer than half the requests' : 'the working asked for on half the requests or more, written out in the answer'}); a pasted working or code makes the prompt long` },
    { signal: 'place_shared_problems', value: round(p.sharedOpeners), threshold: PLACE_SHARED_PROBLEMS, detail: `share of the cluster's opening questions (${round(p.openers, 1)} a member in the window) another account asked first, word for word or near (two MinHash bands of word trigrams): a class works one sheet, a harvest needs distinct items; a conversing institution's cluster is held at watch only at or above it` },
    { signal: 'place_conversation', value: p.converses ? 'converses' : p.perMember < PLACE_MIN_REQUESTS_PER_MEMBER ? 'not_read' : 'does_not_converse', threshold: YIELD.singleShot, detail: `single-shot share ${round(p.single)} against ${YIELD.singleShot} (the harvest-yield test's: people who converse stay under it) and output/input ${round(p.ratio)} against ${p.ratioFloor}, both under: the members follow up on answers and paste their attempts, not new questions with long answers; read from ${PLACE_MIN_REQUESTS_PER_MEMBER} requests a member${p.institution ? '' : '; a harvester\'s volume is held at watch for it only on one institution\'s accounts'}` },
  ];
}

/** The reading of a place-linked cluster's busy members (PLACE_BUSY_FACTOR), and what follows from it. */
export function busiestReason(b: PlaceBusiest): VerdictReason {
  const bar = `${PLACE_BUSY_FACTOR} times the median member's windowed requests (${round(b.median, 1)}) and ${YIELD.minRequests} of its own`;
  const names = b.apart.length <= 5 ? b.apart.join(', ') : `${b.apart.slice(0, 5).join(', ')} and ${b.apart.length - 5} more`;
  const who = `${b.apart.length === 1 ? 'member' : `${b.apart.length} members`} at ${bar} (${names}; ${round(b.apartShare)} of the cluster's windowed requests)`;
  return {
    signal: 'place_busiest_member_ratio', value: Number.isFinite(b.ratio) ? round(b.ratio, 1) : 'no_median', threshold: PLACE_BUSY_FACTOR,
    detail: b.apart.length === 0
      ? `the busiest member (${b.id}, ${round(b.requests, 1)} windowed requests) over the median member's: no member at ${bar}, so the readings below are the whole cluster's`
      : b.over === 'others'
        ? `busy ${who}: set apart, so the readings below (requests and volume a member, the shares, the indicators and the harvest score) are the other ${b.others} members' and what the busy ones ask corroborates nothing for them; each busy member is judged on its own account's evidence`
        : `busy ${who}: set apart, the other ${b.others} members' own readings (${b.othersBy ? `corroborated by ${b.othersBy}` : 'nothing harvest-like'}) hold the cluster no less than the whole cluster's, so the whole cluster's readings below hold it (members set apart hold a cluster less, never more)`,
  };
}
