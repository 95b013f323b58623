/**
 * Harvest cohorts: evidence across many fresh accounts that share nothing but one harvest shape.
 *
 * A fleet that gives every account its own card, free-mail address and residential exit, and keeps
 * each account under the harvest-yield test's floor (a few requests a day, or one day of use), is
 * neither linked nor caught alone. What it cannot hide is that it is many new accounts asking the
 * same way: nearly every request an independent single-shot question, a short prompt and a long
 * answer (output/input ratio far above what people get), reasoning asked for, capability tasks.
 * Organic new accounts hold conversations, paste code and documents, and ask in their own ways.
 *
 * Once per `COHORT.everyS` of event time (in the engine's tick, off the request path), every
 * account that is new (first used within `windowDays`, active within `activeDays`), fresh and
 * unaccountable (no verified identity, no corroborated org), with no programme admission and no
 * vouched institutional domain (a campus), and with `minRequests` requests or more, is read; the
 * ones with the harvest shape whose prompt length and output/input ratio are within `closeFactor`
 * of the median of all of them are the cohort. When the cohort holds at least
 * `max(cohort_min_accounts, minShare x the new accounts read)`, each member may reach throttle, as
 * the harvest-yield test lets one account do; below that nobody is touched.
 *
 * Accounts of `joinRequests` to `minRequests - 1` requests with the shape join a cohort that
 * stands when they are within `joinCloseFactor` of its medians (a fleet's later heads are read at
 * their third request, not their eighth); with none standing they may form one together at
 * `earlyFactor` times the threshold (a fleet whose accounts each send fewer than `minRequests`).
 * With `cohort_join_between_readings` (off by default), an account scored between two readings
 * (the tick after its request) that is new, fresh, unaccountable and has the shape from
 * `joinRequests` requests joins the cohort that stands on the same terms (`joinsStanding`): a head
 * that sends its few requests in one burst is not all served before the next reading comes round.
 * Off by default: it reads each new account at its third request exactly, and throttled more new
 * organic accounts (docs/detector.md, "Harvest cohorts").
 */
import { C } from './scoring.ts';
import type { VerdictReason } from './verdict.ts';

export const COHORT = {
  /** Requests an account must have sent (its whole life) to count towards a cohort's forming. */
  minRequests: 8,
  /**
   * Requests from which an account may join a cohort that stands (formed by accounts of
   * `minRequests` or more in the same reading): the campaign is already known as one actor, and
   * an account with its shape from its first few requests is one more of its heads.
   */
  joinRequests: 3,
  /** Shares of the account's window (no prior: the cohort, not one account, is the evidence). */
  singleShot: 0.9,
  outputInput: 8,
  capability: 0.5,
  elicitation: 0.15,
  /** New: first request within this many days. */
  windowDays: 14,
  /** Read: a request within this many days. */
  activeDays: 3,
  /** Members: prompt length and output/input ratio within this factor of the shape's medians. */
  closeFactor: 3,
  /** Joining members (fewer than `minRequests` requests, a shape read from few): within this factor. */
  joinCloseFactor: 2,
  /** The cohort must also be this share of the new accounts read (what chance among many organic signups does not reach). */
  minShare: 0.1,
  /** A cohort formed with accounts of fewer than `minRequests` requests: this many times the threshold. */
  earlyFactor: 2,
  /** Seconds of event time between two readings of the population. */
  everyS: 900,
  /**
   * Kinds of task (code, maths, step-by-step reasoning asked for) an account read from fewer
   * requests than forming needs must have asked among its requests to join or form a cohort: a
   * campaign spreads one harvest's mixed items over its heads, so each head's first few requests
   * sample its mix; a person's first few questions are about one thing.
   */
  joinKinds: 2,
  /**
   * The cohort's own settings (detect.cohort_settings_heads): a parameter fingerprint held by at
   * least this many of the standing cohort's members...
   */
  settingsMinHolders: 20,
  /** ...and by at least this share of its members... */
  settingsMinShare: 0.1,
  /** ...of whose holders among the new accounts read at least this share are members... */
  settingsCohortShare: 0.9,
  /** ...and of whose holders at most this share were accountable (established, verified, in a corroborated org) when they sent it. */
  settingsMaxAccountable: 0.01,
} as const;

/** What a head that joined by the cohort's own settings was read on (its verdict's explanation). */
export interface SettingsJoin {
  /** The standing cohort's members that send the setting, and the new accounts read that do. */
  members: number;
  read: number;
  /** Its holders, and those that were accountable when they sent it. */
  holders: number;
  accountable: number;
}

/** Kinds of task among code, maths and step-by-step reasoning asked for that account `off` of `w` has asked (its window). */
export function taskKinds(w: Float64Array, off: number): number {
  return (w[off + C.CODE] > 0 ? 1 : 0) + (w[off + C.MATH] > 0 ? 1 : 0) + (w[off + C.COT] > 0 ? 1 : 0);
}

/**
 * The cohort of accounts the new-account reading leaves out: in use before the window (bought or
 * taken over with their history) or with a verified identity, and named by nothing more (no
 * programme, campus domain, enterprise contract or corroborated org). Such a fleet's accounts are
 * each too few requests for the harvest-yield test on their first day, and share no card, address
 * or software. Read from the same 15-minute reading, on the account's window (recent requests),
 * with the harvest-yield test's own bars for output and reasoning (stricter than the new-account
 * shape's): people who have used the API for months converse, paste their work and documents, and
 * take answers a few times their prompt. Pipelines (machine timing once readable, a fixed
 * template) are left out: evaluation runs have this shape and are judged alone.
 */
export const ESTABLISHED = {
  /** Windowed requests an account must have to be read (and to count in the threshold's share). */
  minRequests: 5,
  /** Windowed requests from which an account with the shape joins a cohort that stands (within COHORT.joinCloseFactor of its medians). */
  joinRequests: 3,
  singleShot: 0.9,
  outputInput: 10,
  capability: 0.5,
  elicitation: 0.2,
  /** Timing regularity (read from 20 gaps) and template reuse at or above these: a pipeline, not read. */
  maxTimingRegularity: 0.35,
  maxTemplateReuse: 0.3,
  /**
   * The cohort's threshold is the smallest count that the accounts read would reach by chance
   * with at most this probability (Poisson, at `detect.cohort_established_base_rate` of them with
   * the shape): it grows with the square root of the accounts read where a share grows with
   * their number, so a fleet of a hundred is a cohort among ten thousand accounts, not only among
   * a thousand. Read every 15 minutes: some 35,000 readings a year.
   */
  chance: 1e-4,
} as const;

/**
 * The agent-trajectory shape of the established reading (detect.cohort_agents): accounts whose
 * recent requests are nearly all steps of tool-using agent loops, nearly all on coding or maths
 * tasks, under a harness (system prompt or tool set) no other account holds. What an agentic
 * trajectory harvest cannot leave out: its value is the model's tool-call decisions on many
 * self-contained capability items, so every trajectory opens with one and little else is asked;
 * an account that keeps under the single-account floor and shares nothing is one of many such
 * harnesses at once. Organic agents share their software (a product's accounts, a public coding
 * agent's prompt), work mostly on other things (support, search, writing), or are named (an org, a
 * programme); a person's own agent on coding and maths alone is what chance gives, at the
 * established cohort's base rate. Pipelines are left out as in the established reading.
 */
export const AGENTS = {
  /** Windowed requests an account must have to be read (several trajectories). */
  minRequests: 20,
  /** Share of its requests that offer tools or carry tool results. */
  tools: 0.85,
  /** Tool trajectories it opened (decayed with the window) for the share below to be read. */
  minOpenings: 5,
  /**
   * Share of those trajectories whose opening asks a coding or maths task, read from the user's
   * words alone (features.ts: userTaskFlags). The lexicons read about 95% of the GSM8K fixture's
   * items as maths and about 54% of the coding fixture's as code, so an agent harvest of maths and
   * coding items reads 0.65-0.95; organic agents whose users bring such tasks among others, at most
   * 0.48 on the traffic model (a product's openings, by their words).
   */
  capability: 0.6,
} as const;

/**
 * The harvest slice of the established reading (detect.cohort_harvest_slice): the account's
 * harvest part read on its own (harvest-yield.ts: its coding and maths questions asking for
 * reasoning, single-shot or new in a conversation), not its whole window. A harvest run inside a
 * bought application's traffic has the application's users' chats around its questions: they take
 * the whole window's single-shot share, capability share and output/input ratio below the
 * established shape's bars, and keep the questions under the single-account test's counts for days.
 * What they do not change is what the questions are: asked once and left (none followed up), high-
 * yield, no fixed template. People who ask such questions follow up on many of them; a pipeline
 * (an evaluation set) runs through a template. Read on each account's windowed counts:
 *
 * `minItems` questions in the slice; `minShare` of the account's windowed requests; their own
 * output/input ratio `outputInput` (the harvest-yield test's); `minSettled` of them watched and
 * settled (a follow-up came, or two hours passed) with at most `maxFollowed` followed up; at most
 * `maxTemplate` template hits for each question in the slice (the account's template uses over its
 * slice questions: an evaluation set through one wrapper reads about 1); at most `maxPaced` of its
 * questions (asking for reasoning) sent within `machineGapS` seconds of the account's previous
 * request (an evaluation set run by a script, its items bare, between a person's chats: the
 * window's timing, chats included, need not show it; a person reads an answer before the next
 * question); and the pipeline bars of the established reading over the whole window.
 */
export const SLICE = { minItems: 10, minShare: 0.1, outputInput: 10, minSettled: 8, maxFollowed: 0.1, maxTemplate: 0.3, maxPaced: 0.5, machineGapS: 15 } as const;

/** An account's harvest slice as the slice reading sees it (values for its verdict). */
export interface SliceValues {
  /** Windowed questions in the slice, and the account's windowed requests. */
  items: number; requests: number;
  share: number; ratio: number;
  /** Watched questions settled, and the share of them followed up (single-shot ones, or all). */
  settled: number; followed: number;
  /** Template hits for each question in the slice (capped at 1). */
  template: number;
  /** Share of the slice questions sent within SLICE.machineGapS of the account's previous request. */
  paced: number;
}

/** Template hits of account `off`'s window for each of its `items` slice questions, at most 1. */
export function sliceTemplate(w: Float64Array, off: number, items: number): number {
  return items > 0 ? Math.min(1, w[off + C.TEMPLATE_HIT] / items) : 0;
}

/**
 * The harvest-slice shape of an established account (SLICE), or null: its slice readings `x`
 * (harvest-yield.ts: itemReadings) against the bars, the template hits of its window over its
 * slice questions, and the established reading's pipeline bars over the whole window.
 * `promptTokens`: the slice questions' mean input (their own turns), the shape's prompt length.
 */
export function sliceShape(w: Float64Array, off: number, x: Omit<SliceValues, 'template' | 'requests'>, promptTokens: number): { promptTokens: number; ratio: number } | null {
  if (x.paced > SLICE.maxPaced) return null;
  const n = w[off + C.N];
  if (!(n >= ESTABLISHED.minRequests) || !(x.items >= SLICE.minItems)) return null;
  if (x.share < SLICE.minShare || x.ratio < SLICE.outputInput) return null;
  if (x.settled < SLICE.minSettled || x.followed > SLICE.maxFollowed) return null;
  if (sliceTemplate(w, off, x.items) > SLICE.maxTemplate) return null;
  if (w[off + C.TEMPLATE_HIT] / n >= ESTABLISHED.maxTemplateReuse) return null;
  if (machineTimed(w, off)) return null;
  return { promptTokens, ratio: x.ratio };
}

/**
 * The smallest count k with P(X >= k) <= `chance` for X ~ Poisson(`read` x `baseRate`): how many
 * of `read` accounts may have the shape by chance alone, when `baseRate` of such accounts have it,
 * before it is more than chance. 1 when the rate or the accounts read are 0 (the minimum decides).
 */
export function chanceCount(read: number, baseRate: number, chance: number = ESTABLISHED.chance): number {
  const lambda = read * baseRate;
  if (!(lambda > 0)) return 1;
  // Poisson probabilities in log space (a mean of thousands underflows exp(-lambda)), summed from
  // far above the mean down: the tail from k is the sum of the terms from k up.
  const hi = Math.ceil(lambda + 12 * Math.sqrt(lambda) + 30);
  const logL = Math.log(lambda);
  const logP = new Float64Array(hi + 1);
  logP[0] = -lambda;
  for (let k = 1; k <= hi; k++) logP[k] = logP[k - 1] + logL - Math.log(k);
  let tail = 0;
  for (let k = hi; k >= 0; k--) {
    const next = tail + Math.exp(logP[k]);
    if (next > chance) return k + 1;
    tail = next;
  }
  return 0;
}

/** One reading of the population: the cohort found (or not), shared by all its members. */
export interface CohortReading {
  /** `cohort-<first day>`: the earliest first use among its members (UTC date). */
  id: string;
  size: number;
  /** New, fresh, unaccountable accounts read. */
  read: number;
  threshold: number;
  medianPromptTokens: number;
  medianOutputInput: number;
  firstFrom: number;
  firstTo: number;
  /**
   * Formed with accounts of fewer than `minRequests` requests (at `earlyFactor` times the
   * threshold). Absent in readings kept in snapshots written before it: false.
   */
  early?: boolean;
  /** A cohort of established or identity-verified accounts (ESTABLISHED). Absent: a cohort of new accounts. */
  established?: boolean;
  /** The established cohort's base rate (detect.cohort_established_base_rate) its threshold was read at. */
  baseRate?: number;
  /** A cohort of the agent-trajectory shape (AGENTS, detect.cohort_agents). Absent: the question-and-answer shape. */
  agents?: boolean;
  /** A cohort of harvest slices (SLICE, detect.cohort_harvest_slice): read on the accounts' harvest parts, not their whole windows. */
  slice?: boolean;
  /**
   * A head that joined at its first requests by the cohort's own settings (detect.cohort_settings_heads):
   * the reading it joined with this added, its own. Absent for every other member.
   */
  settings?: SettingsJoin;
}

/** The harvest shape of one account's window at offset `off` of `w`, or null when it has not got it. */
export function harvestShape(w: Float64Array, off: number, minRequests: number = COHORT.minRequests): { promptTokens: number; ratio: number } | null {
  const n = w[off + C.N];
  if (!(n > 0) || w[off + C.TOTAL] < minRequests) return null;
  const inTok = w[off + C.IN_TOK];
  const ratio = w[off + C.OUT_TOK] / Math.max(1, inTok);
  if (w[off + C.SINGLE] / n < COHORT.singleShot || ratio < COHORT.outputInput) return null;
  if (w[off + C.CAPABILITY] / n < COHORT.capability || w[off + C.ELICIT] / n < COHORT.elicitation) return null;
  return { promptTokens: inTok / n, ratio };
}

/** Whether an account's window shows a pipeline's timing (ESTABLISHED.maxTimingRegularity, read once 20 gaps are held). */
function machineTimed(w: Float64Array, off: number): boolean {
  const gn = w[off + C.GAP_N];
  if (gn < 20) return false;
  const mean = w[off + C.GAP_SUM] / gn;
  const sd = Math.sqrt(Math.max(0, w[off + C.GAP_SUMSQ] / gn - mean * mean));
  return 1 - sd >= ESTABLISHED.maxTimingRegularity;
}

/**
 * The harvest shape of an established or identity-verified account's window (ESTABLISHED), or null:
 * shares of its windowed requests, pipelines left out.
 */
export function establishedShape(w: Float64Array, off: number): { promptTokens: number; ratio: number } | null {
  const n = w[off + C.N];
  if (!(n >= ESTABLISHED.joinRequests)) return null;
  const inTok = w[off + C.IN_TOK];
  const ratio = w[off + C.OUT_TOK] / Math.max(1, inTok);
  if (w[off + C.SINGLE] / n < ESTABLISHED.singleShot || ratio < ESTABLISHED.outputInput) return null;
  if (w[off + C.CAPABILITY] / n < ESTABLISHED.capability || w[off + C.ELICIT] / n < ESTABLISHED.elicitation) return null;
  if (w[off + C.TEMPLATE_HIT] / n >= ESTABLISHED.maxTemplateReuse) return null;
  if (machineTimed(w, off)) return null;
  return { promptTokens: inTok / n, ratio };
}

/**
 * The agent-trajectory shape of an established or identity-verified account's window (AGENTS), or
 * null: its windowed requests nearly all tool loops, the trajectories it opened (`openings`, of
 * them `capabilityOpenings` on coding or maths, decayed as the window is) nearly all on coding or
 * maths tasks, no machine timing and no fixed template (ESTABLISHED's pipeline bars). Whether the harness is its own is the engine's
 * to read (the link keys' holders).
 */
export function agentShape(w: Float64Array, off: number, openings: number, capabilityOpenings: number): { promptTokens: number; ratio: number } | null {
  const n = w[off + C.N];
  if (!(n >= AGENTS.minRequests) || !(openings >= AGENTS.minOpenings)) return null;
  if (w[off + C.TOOLS] / n < AGENTS.tools || capabilityOpenings / openings < AGENTS.capability) return null;
  if (w[off + C.TEMPLATE_HIT] / n >= ESTABLISHED.maxTemplateReuse) return null;
  if (machineTimed(w, off)) return null;
  const inTok = w[off + C.IN_TOK];
  return { promptTokens: inTok / n, ratio: w[off + C.OUT_TOK] / Math.max(1, inTok) };
}

/**
 * The cohort of established accounts with the agent-trajectory shape (AGENTS) among `shaped`, out
 * of `read` such accounts read (AGENTS.minRequests windowed requests or more): the established
 * cohort's threshold and closeness, its own reading (`agents-established-<day>`).
 */
export function findAgentCohort(shaped: Shaped[], read: number, minAccounts: number, baseRate: number = 0): { members: number[]; reading: CohortReading } | null {
  if (minAccounts <= 0) return null;
  const found = formCohort(shaped, read, establishedThreshold(read, minAccounts, baseRate), COHORT.closeFactor, [], false);
  if (found) { found.reading.established = true; found.reading.agents = true; found.reading.id = `agents-established-${found.reading.id.slice('cohort-'.length)}`; found.reading.baseRate = baseRate; }
  return found;
}

/**
 * The cohort of established accounts with the harvest-slice shape (SLICE) among `shaped`, out of
 * `read` such accounts read (ESTABLISHED.minRequests windowed requests or more): the established
 * cohort's threshold and closeness (on the slices' prompt length and ratio), a reading of its own
 * (`slice-established-<day>`).
 */
export function findSliceCohort(shaped: Shaped[], read: number, minAccounts: number, baseRate: number = 0): { members: number[]; reading: CohortReading } | null {
  if (minAccounts <= 0) return null;
  const found = formCohort(shaped, read, establishedThreshold(read, minAccounts, baseRate), COHORT.closeFactor, [], false);
  if (found) { found.reading.established = true; found.reading.slice = true; found.reading.id = `slice-established-${found.reading.id.slice('cohort-'.length)}`; found.reading.baseRate = baseRate; }
  return found;
}

/**
 * The cohort of established or identity-verified accounts (ESTABLISHED) among `shaped`, out of
 * `read` such accounts read: at least the larger of `minAccounts` and the count `read` accounts
 * reach by chance when `baseRate` of them have the shape (chanceCount), within COHORT.closeFactor
 * of the shape's medians; null otherwise or when `minAccounts` is 0.
 */
export function findEstablishedCohort(shaped: Shaped[], read: number, minAccounts: number, joining: Shaped[] = [], baseRate: number = 0): { members: number[]; reading: CohortReading } | null {
  if (minAccounts <= 0) return null;
  const found = formCohort(shaped, read, establishedThreshold(read, minAccounts, baseRate), COHORT.closeFactor, joining, false);
  if (found) { found.reading.established = true; found.reading.id = `established-${found.reading.id}`; found.reading.baseRate = baseRate; }
  return found;
}

/** The established cohort's threshold among `read` accounts: the larger of `minAccounts` and chanceCount at `baseRate`. */
export function establishedThreshold(read: number, minAccounts: number, baseRate: number): number {
  return Math.max(minAccounts, chanceCount(read, baseRate));
}

function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  return s.length === 0 ? 0 : s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

type Shaped = { i: number; promptTokens: number; ratio: number; first: number };

/**
 * The cohort among `shaped` (account index, shape, first use) out of `read` new accounts read, or
 * null when it is smaller than its threshold. `joining`: accounts of `joinRequests` to
 * `minRequests - 1` requests with the shape (of `readJoining` such accounts read); they join a
 * cohort that stands when they are within `joinCloseFactor` of its medians. When none stands,
 * they may form one with the others: a cohort read from few requests each, which must be
 * `earlyFactor` times as large (and as large a share of all the new accounts read), all its
 * members within `joinCloseFactor` of its medians.
 */
export function findCohort(shaped: Shaped[], read: number, minAccounts: number, joining: Shaped[] = [], readJoining = 0): { members: number[]; reading: CohortReading } | null {
  if (minAccounts <= 0) return null;
  return formCohort(shaped, read, Math.max(minAccounts, Math.ceil(COHORT.minShare * read)), COHORT.closeFactor, joining, false)
    ?? (joining.length === 0 ? null : formCohort(shaped.concat(joining), read + readJoining,
      COHORT.earlyFactor * Math.max(minAccounts, Math.ceil(COHORT.minShare * (read + readJoining))), COHORT.joinCloseFactor, [], true));
}

function formCohort(shaped: Shaped[], read: number, threshold: number, f: number, joining: Shaped[], early: boolean): { members: number[]; reading: CohortReading } | null {
  if (shaped.length < threshold) return null;
  const mp = median(shaped.map((s) => s.promptTokens));
  const mr = median(shaped.map((s) => s.ratio));
  const within = (x: number) => (s: Shaped) => s.promptTokens <= mp * x && s.promptTokens >= mp / x && s.ratio <= mr * x && s.ratio >= mr / x;
  const close = shaped.filter(within(f));
  if (close.length < threshold) return null;
  let from = Infinity, to = -Infinity;
  for (const s of close) { if (s.first < from) from = s.first; if (s.first > to) to = s.first; }
  const joined = joining.filter(within(COHORT.joinCloseFactor));
  return {
    members: close.map((s) => s.i).concat(joined.map((s) => s.i)),
    reading: {
      id: `cohort-${new Date(from * 1000).toISOString().slice(0, 10)}`, size: close.length, read, threshold,
      medianPromptTokens: mp, medianOutputInput: mr, firstFrom: from, firstTo: to, ...(early ? { early } : {}),
    },
  };
}

/**
 * Whether an account's shape joins the cohort `c` that stands (read last): its prompt length and
 * output/input ratio within `joinCloseFactor` of the cohort's medians, as a joining account of the
 * reading must be. Scoring asks this of a new account between two readings, so that a fleet's new
 * head is held from the tick after its `joinRequests`-th request rather than at the next reading.
 */
export function joinsStanding(c: CohortReading, shape: { promptTokens: number; ratio: number }): boolean {
  const f = COHORT.joinCloseFactor;
  return shape.promptTokens <= c.medianPromptTokens * f && shape.promptTokens >= c.medianPromptTokens / f
    && shape.ratio <= c.medianOutputInput * f && shape.ratio >= c.medianOutputInput / f;
}

const r2 = (x: number) => Math.round(x * 100) / 100;

/** The explanation of a member's verdict: the cohort, its size against its threshold, and the shape each member has. */
/** An account's own readings of the agent-trajectory shape (AGENTS), for its verdict's explanation. */
export interface AgentValues { tools: number; openings: number; capabilityOpenings: number }

export function cohortReasons(c: CohortReading, requests: number = COHORT.minRequests, windowed = requests, programme = false, agent?: AgentValues, slice?: SliceValues): VerdictReason[] {
  if (c.established && c.slice) return sliceReasons(c, windowed, slice);
  if (c.established) return establishedReasons(c, windowed, programme, agent);
  if (c.settings) return settingsReasons(c, c.settings, requests);
  const few = requests < COHORT.minRequests;
  const joined = few && !c.early;
  const day = (s: number) => new Date(s * 1000).toISOString().slice(0, 10);
  const share = `the larger of detect.cohort_min_accounts and ${COHORT.minShare * 100}% of the new accounts read`;
  const kinds = `, with tasks of ${COHORT.joinKinds}+ kinds among code, maths and step-by-step reasoning asked for`;
  const own = c.early ? `${requests} requests, read from ${COHORT.joinRequests} on${few ? kinds : ''}`
    : joined ? `${requests} requests: joined the standing cohort, formed by accounts of ${COHORT.minRequests}+ requests, from ${COHORT.joinRequests} requests on, within ${COHORT.joinCloseFactor}x of its medians${kinds}`
    : `${COHORT.minRequests}+ requests`;
  return [
    { signal: 'harvest_cohort', value: c.id, threshold: null, detail: `one of ${c.size} new, unverified accounts without an org or a programme, first used ${day(c.firstFrom)} to ${day(c.firstTo)}, that ask the same way: each below the single-account floor, scored together as one actor` },
    c.early
      ? { signal: 'harvest_cohort_size', value: c.size, threshold: c.threshold, detail: `accounts of ${c.read} new accounts read (${COHORT.joinRequests}+ requests) with the harvest shape and within ${COHORT.joinCloseFactor}x of its median prompt length and output/input ratio; formed with accounts of fewer than ${COHORT.minRequests} requests, so its threshold is ${COHORT.earlyFactor} times ${share}` }
      : { signal: 'harvest_cohort_size', value: c.size, threshold: c.threshold, detail: `accounts of ${c.read} new accounts read with the harvest shape and within ${COHORT.closeFactor}x of its median prompt length and output/input ratio; threshold: ${share}` },
    { signal: 'harvest_cohort_shape', value: joined ? 'joined' : 'pass', threshold: null, detail: `this account (${own}): single-shot share >= ${COHORT.singleShot}, output/input ratio >= ${COHORT.outputInput}, capability share >= ${COHORT.capability}, reasoning elicitation share >= ${COHORT.elicitation}` },
    { signal: 'harvest_cohort_median_prompt_tokens', value: r2(c.medianPromptTokens), threshold: null },
    { signal: 'harvest_cohort_median_output_input_ratio', value: r2(c.medianOutputInput), threshold: COHORT.outputInput },
  ];
}

/** The explanation of a head that joined by the cohort's own settings: the cohort, the setting's holders against the bars, and its own shape. */
function settingsReasons(c: CohortReading, x: SettingsJoin, requests: number): VerdictReason[] {
  const day = (s: number) => new Date(s * 1000).toISOString().slice(0, 10);
  return [
    { signal: 'harvest_cohort', value: c.id, threshold: null, detail: `one of ${c.size} new, unverified accounts without an org or a programme, first used ${day(c.firstFrom)} to ${day(c.firstTo)}, that ask the same way: each below the single-account floor, scored together as one actor` },
    { signal: 'harvest_cohort_size', value: c.size, threshold: c.threshold, detail: `accounts of ${c.read} new accounts read with the harvest shape; threshold: the larger of detect.cohort_min_accounts and ${COHORT.minShare * 100}% of the new accounts read` },
    { signal: 'harvest_cohort_settings', value: x.members, threshold: Math.max(COHORT.settingsMinHolders, Math.ceil(COHORT.settingsMinShare * c.size)), detail: `this account sends the cohort's own settings (one parameter fingerprint: model, max_tokens, temperature, reasoning settings): ${x.members} of the cohort's members send it, the larger of ${COHORT.settingsMinHolders} and ${COHORT.settingsMinShare * 100}% of its members needed; ${x.members} of the ${x.read} new accounts read that send it are members (${COHORT.settingsCohortShare * 100}% needed); ${x.accountable} of its ${x.holders} holders were accountable customers when they sent it (at most ${COHORT.settingsMaxAccountable * 100}%) (detect.cohort_settings_heads)` },
    { signal: 'harvest_cohort_shape', value: 'settings', threshold: null, detail: `this account (${requests} request${requests === 1 ? '' : 's'}): joined the standing cohort by its own settings, its window with the harvest shape from its first request: single-shot share >= ${COHORT.singleShot}, output/input ratio >= ${COHORT.outputInput}, capability share >= ${COHORT.capability}, reasoning elicitation share >= ${COHORT.elicitation}` },
    { signal: 'harvest_cohort_median_prompt_tokens', value: r2(c.medianPromptTokens), threshold: null },
    { signal: 'harvest_cohort_median_output_input_ratio', value: r2(c.medianOutputInput), threshold: COHORT.outputInput },
  ];
}

/** The explanation of a member's verdict in a cohort of established or identity-verified accounts. */
function establishedReasons(c: CohortReading, windowed: number, programme: boolean, agent?: AgentValues): VerdictReason[] {
  const day = (s: number) => new Date(s * 1000).toISOString().slice(0, 10);
  if (c.agents) {
    return [
      { signal: 'harvest_cohort', value: c.id, threshold: null, detail: `one of ${c.size} accounts in use before or with a verified identity, and without an org, a programme or an enterprise contract, first seen by the detector from ${day(c.firstFrom)} to ${day(c.firstTo)}, each running an agent harness of its own on coding and maths tasks alone: each below the single-account floor, scored together as one actor` },
      { signal: 'harvest_cohort_size', value: c.size, threshold: c.threshold, detail: `accounts of ${c.read} such accounts read (${AGENTS.minRequests}+ recent requests) with the agent-trajectory shape and within ${COHORT.closeFactor}x of its median prompt length and output/input ratio; threshold: the larger of detect.cohort_min_established and the count ${c.read} accounts reach by chance with probability under ${ESTABLISHED.chance} when ${r2((c.baseRate ?? 0) * 100)}% of them have the shape (detect.cohort_established_base_rate)` },
      { signal: 'harvest_cohort_shape', value: 'agent_trajectories', threshold: null, detail: `this account (${r2(windowed)} recent requests): tool loops share of its requests >= ${AGENTS.tools}, coding and maths share of the trajectories it opened >= ${AGENTS.capability} (${AGENTS.minOpenings}+ opened), a system prompt or tool set no other account holds; no machine timing (below ${ESTABLISHED.maxTimingRegularity} once 20 gaps are read), no fixed template (below ${ESTABLISHED.maxTemplateReuse}) (detect.cohort_agents)` },
      ...(agent ? [
        { signal: 'agent_tool_share', value: r2(agent.tools), threshold: AGENTS.tools, detail: `share of this account's recent requests that offer tools or carry tool results` },
        { signal: 'agent_capability_openings', value: r2(agent.capabilityOpenings / Math.max(1e-9, agent.openings)), threshold: AGENTS.capability, detail: `share of the ${r2(agent.openings)} tool trajectories it opened (decayed with its window; ${AGENTS.minOpenings}+ needed) whose opening asks a coding or maths task, read from the user's words alone` },
      ] : []),
      { signal: 'harvest_cohort_median_prompt_tokens', value: r2(c.medianPromptTokens), threshold: null },
      { signal: 'harvest_cohort_median_output_input_ratio', value: r2(c.medianOutputInput), threshold: null },
    ];
  }
  const joined = programme || windowed < ESTABLISHED.minRequests;
  const how = programme
    ? `: admitted to a programme, so it neither forms a cohort nor counts in one; it joined one formed without programme members (detect.cohort_established_programmes), within ${COHORT.joinCloseFactor}x of its medians, with tasks of ${COHORT.joinKinds}+ kinds among code, maths and step-by-step reasoning asked for`
    : windowed < ESTABLISHED.minRequests ? `: joined the standing cohort, formed by accounts of ${ESTABLISHED.minRequests}+, within ${COHORT.joinCloseFactor}x of its medians, with tasks of ${COHORT.joinKinds}+ kinds among code, maths and step-by-step reasoning asked for` : '';
  return [
    { signal: 'harvest_cohort', value: c.id, threshold: null, detail: `one of ${c.size} accounts in use before or with a verified identity, and without an org, a programme or an enterprise contract, first seen by the detector from ${day(c.firstFrom)} to ${day(c.firstTo)}, that ask the same way: each below the single-account floor, scored together as one actor` },
    { signal: 'harvest_cohort_size', value: c.size, threshold: c.threshold, detail: `accounts of ${c.read} such accounts read (${ESTABLISHED.minRequests}+ recent requests) with the harvest shape and within ${COHORT.closeFactor}x of its median prompt length and output/input ratio; threshold: the larger of detect.cohort_min_established and the count ${c.read} accounts reach by chance with probability under ${ESTABLISHED.chance} when ${r2((c.baseRate ?? 0) * 100)}% of them have the shape (detect.cohort_established_base_rate)` },
    { signal: 'harvest_cohort_shape', value: joined ? 'joined' : 'pass', threshold: null, detail: `this account (${r2(windowed)} recent requests${how}): single-shot share >= ${ESTABLISHED.singleShot}, output/input ratio >= ${ESTABLISHED.outputInput}, capability share >= ${ESTABLISHED.capability}, reasoning elicitation share >= ${ESTABLISHED.elicitation}; no machine timing (below ${ESTABLISHED.maxTimingRegularity} once 20 gaps are read), no fixed template (below ${ESTABLISHED.maxTemplateReuse})` },
    { signal: 'harvest_cohort_median_prompt_tokens', value: r2(c.medianPromptTokens), threshold: null },
    { signal: 'harvest_cohort_median_output_input_ratio', value: r2(c.medianOutputInput), threshold: ESTABLISHED.outputInput },
  ];
}

/** The explanation of a member's verdict in a cohort of harvest slices (SLICE): the cohort, and the account's own slice readings beside their thresholds. */
function sliceReasons(c: CohortReading, windowed: number, x?: SliceValues): VerdictReason[] {
  const day = (s: number) => new Date(s * 1000).toISOString().slice(0, 10);
  return [
    { signal: 'harvest_cohort', value: c.id, threshold: null, detail: `one of ${c.size} accounts in use before or with a verified identity, and without an org, a programme or an enterprise contract, first seen by the detector from ${day(c.firstFrom)} to ${day(c.firstTo)}, whose coding and maths questions asking for reasoning, read apart from the rest of their traffic (an application's users, chats), are asked once and left, high-yield, no template: each below the single-account floor, scored together as one actor` },
    { signal: 'harvest_cohort_size', value: c.size, threshold: c.threshold, detail: `accounts of ${c.read} such accounts read (${ESTABLISHED.minRequests}+ recent requests) with the harvest-slice shape and within ${COHORT.closeFactor}x of its median question length and output/input ratio; threshold: the larger of detect.cohort_min_established and the count ${c.read} accounts reach by chance with probability under ${ESTABLISHED.chance} when ${r2((c.baseRate ?? 0) * 100)}% of them have the shape (detect.cohort_established_base_rate)` },
    { signal: 'harvest_cohort_shape', value: 'harvest_slice', threshold: null, detail: `this account (${r2(windowed)} recent requests): its harvest slice (coding or maths questions asking for reasoning, single-shot or new in a conversation) ${SLICE.minItems}+ questions and ${SLICE.minShare} or more of its requests, their own output/input ratio >= ${SLICE.outputInput}, ${SLICE.minSettled}+ of them settled with at most ${SLICE.maxFollowed} followed up, at most ${SLICE.maxTemplate} template hits a question, at most ${SLICE.maxPaced} of them sent within ${SLICE.machineGapS} s of the request before; no machine timing (below ${ESTABLISHED.maxTimingRegularity} once 20 gaps are read), no fixed template over its window (below ${ESTABLISHED.maxTemplateReuse}) (detect.cohort_harvest_slice)` },
    ...(x ? [
      { signal: 'slice_questions', value: r2(x.items), threshold: SLICE.minItems, detail: `questions in this account's harvest slice, of ${r2(x.requests)} recent requests (the rest: its other traffic, not read by the slice)` },
      { signal: 'slice_question_share', value: r2(x.share), threshold: SLICE.minShare, detail: 'share of its recent requests the slice holds' },
      { signal: 'slice_output_input_ratio', value: r2(x.ratio), threshold: SLICE.outputInput, detail: 'output/input ratio of the slice questions alone (their own turns as input)' },
      { signal: 'slice_followed_up_share', value: r2(x.followed), threshold: SLICE.maxFollowed, detail: `share of ${r2(x.settled)} settled slice questions a later turn followed up (${SLICE.minSettled}+ settled needed): people follow up on their questions, a harvest moves on to the next item` },
      { signal: 'slice_template_share', value: r2(x.template), threshold: SLICE.maxTemplate, detail: 'template hits of its recent requests for each slice question: an evaluation set through one wrapper reads about 1' },
      { signal: 'slice_machine_paced_share', value: r2(x.paced), threshold: SLICE.maxPaced, detail: `share of the slice questions sent within ${SLICE.machineGapS} s of the request before: an evaluation set run by a script reads about 1, a person reads an answer first` },
    ] : []),
    { signal: 'harvest_cohort_median_prompt_tokens', value: r2(c.medianPromptTokens), threshold: null },
    { signal: 'harvest_cohort_median_output_input_ratio', value: r2(c.medianOutputInput), threshold: SLICE.outputInput },
  ];
}
