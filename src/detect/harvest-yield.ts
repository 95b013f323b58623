/**
 * The harvest-yield test's fixed parts: its thresholds (YIELD), the readings it compares, and the
 * payload keys by which an account's re-sent requests are told (an evaluation run re-sends its
 * items; a harvester wants a new answer to each request), and the test's explanation. The engine
 * runs the test per account (DetectorEngine.harvestYieldTest) with these.
 */
import { charCodeAt, type InteractionEvent } from '../events/index.ts';
import { round, type IndicatorName, type IndicatorValues } from './scoring.ts';
import type { VerdictReason } from './verdict.ts';
import { TEXT_KEY_SAMPLES, question } from './question-pass.ts';

/**
 * Harvest-yield test (single accounts): windowed requests, and the shrunk indicator values it
 * needs. Read from the organic populations: people who converse stay far below the single-shot
 * share, pipelines and evaluation runs are above the timing-regularity bound or reuse a template.
 */
/** Why a pipeline's shape (machine timing, a fixed template) exempted nothing in a passed yield test. */
export const UNNAMED = 'from an account with no verified identity, programme, campus domain or corroborated org behind it, re-sending no items: no exemption';
/** Recent payloads remembered per account, and the requests over which the re-sent share is counted. */
export const PAY_RING = 4;
export const PAY_SPAN = 256;
/**
 * Key of a request's payload (0: none): its last user message's length and up to 128 of its
 * characters spread evenly over it (every one when short). Distinct questions differ in length or
 * within their own stretch, and a miss costs only a missed repeat; reading a bounded part keeps
 * the key's cost flat. A tool result after the last user message is the payload of a tool step
 * (what the model is asked to act on): an agent's next step is not its task sent again, and a
 * question handed in as a tool result behind a fixed instruction is a new item each time.
 */
export function payloadKey(ev: InteractionEvent): number {
  const msgs = ev.request.messages;
  for (let k = msgs.length - 1; k >= 0; k--) {
    const role = msgs[k].role;
    const t = role === 'user' || role === 'tool' ? msgs[k].text : null;
    // A single-shot question read once has its key already (question-pass.ts).
    if (t) return question.text !== null && question.text === t ? question.textKey : textKey(t);
  }
  return 0;
}

/** Key of a message's text (never 0): its length and up to 128 of its characters spread evenly over it. */
export function textKey(t: string): number {
  const step = t.length <= TEXT_KEY_SAMPLES ? 1 : Math.floor(t.length / TEXT_KEY_SAMPLES);
  let h = (0x811c9dc5 ^ t.length) >>> 0;
  for (let c = 0; c < t.length; c += step) { h ^= charCodeAt(t, c); h = Math.imul(h, 0x01000193); }
  return h >>> 0 || 1;
}
export const YIELD = { minRequests: 25, singleShot: 0.65, outputInput: 10, elicitation: 0.2, maxTimingRegularity: 0.35, maxTemplateReuse: 0.3, minResent: 0.5 };
/**
 * The working asked for on most requests: `outputInput` is the ratio the test asks of an account
 * whose reasoning elicitation share is `elicitation` or more. The ratio of 10 was read from
 * harvests whose output counts reasoning tokens (a trace or hidden reasoning, billed as output);
 * a harvest of the working written out in the answer (thinking off, the steps asked for in the
 * question or in a system prompt of the account's own) yields some 4 to 9 times a dataset item's
 * length. People who converse stay below the single-shot share whatever they ask, and people who
 * ask single-shot questions ask for the working on a fraction of them (hobbyist median 0.15).
 */
export const VISIBLE_WORKING = { elicitation: 0.5, outputInput: 6 };

/** The output/input ratio the whole-window test asks of an account eliciting reasoning on `elicit` of its requests. */
export function yieldRatioFloor(elicit: number): number {
  return elicit >= VISIBLE_WORKING.elicitation ? VISIBLE_WORKING.outputInput : YIELD.outputInput;
}

/** The readings the harvest yield test compares (an indicator not read counts as 0; timing as -1: unknown). */
export function yieldReadings(values: IndicatorValues): { single: number; ratio: number; elicit: number; closed: number; timing: number; tpl: number } {
  return {
    single: reading(values, 'single_shot_share', 0),
    ratio: reading(values, 'output_input_ratio', 0),
    elicit: reading(values, 'reasoning_elicitation_share', 0),
    closed: reading(values, 'closed_task_share', 0),
    timing: reading(values, 'timing_regularity', -1),
    tpl: reading(values, 'template_reuse_share', 0),
  };
}

function reading(values: IndicatorValues, name: IndicatorName, otherwise: number): number {
  const x = values.get(name);
  return Number.isNaN(x) ? otherwise : x;
}

/** Machine timing or one fixed template: what evaluation runs and batch jobs look like. */
export function pipelineShape(y: { timing: number; tpl: number }): boolean {
  return y.timing >= YIELD.maxTimingRegularity || y.tpl >= YIELD.maxTemplateReuse;
}

/**
 * Whether the request's payload (its last user message) is one of the account's last PAY_RING:
 * an evaluation run re-sends its items (seeds, samples, models), a test sends one prompt again and
 * again; a harvester wants a new answer to each request. Counted in `payCount` as [re-sent,
 * requests] (account i's pair), halved past PAY_SPAN requests so the share follows what the
 * account does now; `payRing` holds each account's last PAY_RING payload keys. `key`: the
 * request's `payloadKey` (read once an event: the harvest part's items are keyed by it too).
 */
export function observePayload(payRing: Uint32Array, payCount: Float32Array, i: number, key: number): boolean {
  if (key === 0) return false;
  const base = i * PAY_RING;
  let hit = 0;
  for (let k = 0; k < PAY_RING; k++) if (payRing[base + k] === key) { hit = 1; break; }
  if (!hit) {
    payRing.copyWithin(base + 1, base, base + PAY_RING - 1);
    payRing[base] = key;
  }
  const c = i * 2;
  payCount[c] += hit; payCount[c + 1] += 1;
  if (payCount[c + 1] >= PAY_SPAN) { payCount[c] /= 2; payCount[c + 1] /= 2; }
  return hit === 1;
}

/** Output tokens (reasoning included) at or below which a re-sent payload's answer is no harvested answer. */
export const UNANSWERED_MAX_TOKENS = 2;

/**
 * Whether a request can be a harvested answer, counted by the harvest-yield test as a question (and
 * as working asked when it asks for it). Not a logit probe (a bias map applied and a few tokens or
 * the log-probabilities read: what it yields is logits, judged by the logit-probe test), nor a
 * payload the account sent recently answered again with UNANSWERED_MAX_TOKENS tokens or fewer (a
 * form filled one token at a time, a classifier re-run). A developer filling a form through
 * `logit_bias` re-sends one prompt that says "step by step" some thirty times, each answered with
 * one token; counted as questions asking for the working, they brought the test's lower
 * output/input bar (VISIBLE_WORKING) to ordinary code questions.
 */
export function harvestableAnswer(logitProbe: boolean, resent: boolean, outputTokens: number): boolean {
  return !logitProbe && !(resent && outputTokens <= UNANSWERED_MAX_TOKENS);
}

/** Share of account i's requests that re-sent a recent payload (0 before YIELD.minRequests). */
export function resentShare(payCount: Float32Array, i: number): number {
  const n = payCount[i * 2 + 1];
  return n >= YIELD.minRequests ? payCount[i * 2] / n : 0;
}

/**
 * The explanation of a passed harvest yield test: each condition with its value and threshold.
 * `requests`: the account's windowed requests; `resent`: its re-sent share.
 */
export function harvestYieldReasons(values: IndicatorValues, requests: number, closedTaskShare: number, resent: number): VerdictReason[] {
  const y = yieldReadings(values);
  const elicited = y.elicit >= YIELD.elicitation;
  return [
    { signal: 'harvest_yield_test', value: 'pass', threshold: null, detail: `independent single-shot questions, high output yield and ${elicited ? 'reasoning elicitation' : 'closed-form tasks worded as dataset items'} at a human pace, from one account` },
    { signal: 'yield_requests', value: round(requests), threshold: YIELD.minRequests },
    { signal: 'yield_single_shot_share', value: round(y.single), threshold: YIELD.singleShot },
    y.ratio >= YIELD.outputInput || !elicited
      ? { signal: 'yield_output_input_ratio', value: round(y.ratio), threshold: YIELD.outputInput }
      : { signal: 'yield_output_input_ratio', value: round(y.ratio), threshold: VISIBLE_WORKING.outputInput, detail: `the working asked for on ${round(y.elicit)} of the requests (${VISIBLE_WORKING.elicitation} or more): written out in the answer, it yields less than reasoning tokens do (${YIELD.outputInput} otherwise)` },
    elicited
      ? { signal: 'yield_reasoning_elicitation_share', value: round(y.elicit), threshold: YIELD.elicitation }
      : { signal: 'yield_closed_task_share', value: round(y.closed), threshold: closedTaskShare, detail: 'coding or maths tasks, impersonal, an instruction or a question: the form of benchmark items (no steps asked for)' },
    y.timing >= 0
      ? { signal: 'yield_timing_regularity', value: round(y.timing), threshold: YIELD.maxTimingRegularity, detail: y.timing < YIELD.maxTimingRegularity ? 'below: not a pipeline' : `above: machine timing, ${UNNAMED}` }
      : { signal: 'yield_timing_regularity', value: 'none', threshold: YIELD.maxTimingRegularity, detail: `too few requests within 6 hours of each other to read, with ${2 * YIELD.minRequests} or more prompts: no pipeline timing to see` },
    { signal: 'yield_template_reuse_share', value: round(y.tpl), threshold: YIELD.maxTemplateReuse, detail: y.tpl < YIELD.maxTemplateReuse ? 'below: no fixed template' : `above: one fixed template, ${UNNAMED}` },
    ...(pipelineShape(y) ? [{ signal: 'yield_resent_share', value: round(resent), threshold: YIELD.minResent, detail: 'below: each request a new question (an evaluation run re-sends its items)' }] : []),
  ];
}

/**
 * The harvest part of an account's traffic, judged on its own: its independent questions asking
 * for reasoning on a coding or maths task, the dataset items a distiller wants worked: single-shot
 * requests with an elicitation flag and a code or maths flag, and conversation turns that are
 * such a question and a new one (FLAG.newItemTurn). A chat app with thinking on returns a trace
 * for every question, whatever it is about, so the topic is needed. A harvester that mixes
 * real-looking chats in with its questions, or asks them as the turns of conversations, lowers
 * the shares and the ratio of the whole window, never the number of questions it harvests or
 * what each one yields. A new question's input is its own turn (its history is what hides it).
 * Kept per account as [questions, input tokens, output tokens, of them asked in a conversation]
 * (ITEM_COLUMNS entries), decayed with the window.
 *
 * `minItems`: windowed questions of this kind (an absolute count: the camouflage does not dilute
 * it); `outputInput`: their own output/input ratio; `minShare`: the share of the account's
 * requests they make (a person who chats all day and asks for steps now and then stays below);
 * `minIndependent`: the account's single-shot share plus the share of its requests that are new
 * questions in a conversation, a floor below the whole-window test's 0.65.
 */
export const ITEMS = { minItems: 20, outputInput: 10, minShare: 0.4, minIndependent: 0.5 };
/**
 * The harvest part judged by its volume: `minItems` windowed questions or more (twice the share
 * path's), making `minShare` of the requests or more, with `minIndependent` of the requests
 * single-shot or new questions in a conversation. An application's own users (an account bought
 * with its traffic, or a harvest run through a real product) can be most of an account's requests
 * and lower the harvest's share below ITEMS.minShare, never the number of questions it harvests.
 * A person who chats all day and asks for steps now and then does not ask forty such questions in
 * a window; a tutoring product whose users follow up on their problems has most of its requests
 * follow-ups (below `minIndependent`). An application of many users asking such questions at
 * once reaches the count and the share; its users follow up on some of them (`maxFollowed`: at
 * most that share of its single-shot questions followed up, once ITEMS_UNFOLLOWED.minSettled are
 * settled), a harvest on next to none.
 */
export const ITEMS_BY_VOLUME = { minItems: 40, minShare: 0.2, minIndependent: 0.4, maxFollowed: 0.2 };
/**
 * The harvest part judged by what follows its questions: a harvest asks and moves on, people
 * follow up. `minSettled` windowed single-shot questions asking for reasoning (coding or maths),
 * watched and settled (FOLLOW_RING), or more, of which at most `maxFollowed` were followed up by a
 * later turn of the account that carries the question in its history and asks no new one
 * (observeFollowUp) within FOLLOW_WAIT_S, their output/input
 * ratio `outputInput` or more (as the other readings ask; VISIBLE_WORKING's 6 put students
 * asking for the steps of short-answered maths at throttle), making
 * `minShare` of the account's requests or more. An application's users (a harvest run inside a
 * bought application's traffic) lower the share and keep the volume under the volume path's,
 * never the follow-ups its questions lack. What it excludes (the traffic model's organic accounts,
 * 5 days): people and products whose users ask such questions follow up 12% to 90% of them, and
 * those who follow up fewer (developers pasting code and asking for an explanation, agent
 * products' first steps) have answers of 1 to 5 times the question. Judged for accounts whose
 * only name is a verified identity too (a harvester buys verified accounts; a programme, a campus
 * or a corroborated org still exempts): see the engine's harvestItemsTest.
 */
export const ITEMS_UNFOLLOWED = { minSettled: 20, maxFollowed: 0.15, outputInput: 10, minShare: 0.1, namedPipelineTiming: 0.6 };
/**
 * The upper bound (one-sided 95%, Wilson) of the share of settled questions followed up: a
 * handful of settled questions says little, and an application whose users follow up on a
 * quarter of theirs shows none followed up among its first twenty now and then. The test asks
 * the bound, not the share read, to be at most ITEMS_UNFOLLOWED.maxFollowed.
 */
export function followedUpper(x: ItemReadings): number {
  const n = x.settled;
  if (n <= 0) return 1;
  const z = 1.645; const p = x.followed; const d = 1 + (z * z) / n;
  return Math.min(1, ((p + (z * z) / (2 * n)) + z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n))) / d);
}
/**
 * Whether an account named by a verified identity alone shows a pipeline on the ITEMS_UNFOLLOWED
 * reading: a fixed template, or timing regularity of ITEMS_UNFOLLOWED.namedPipelineTiming or
 * more. An application's users arrive independently of each other, and their merged requests
 * read about 0.44 (exponential gaps), above the 0.35 that tells people's bursts from a pipeline;
 * evaluation runs read 0.64 to 0.91 and batch jobs 0.86 to 0.93.
 */
export function namedPipeline(y: { timing: number; tpl: number }): boolean {
  return y.timing >= ITEMS_UNFOLLOWED.namedPipelineTiming || y.tpl >= YIELD.maxTemplateReuse;
}
/**
 * Columns of the harvest part: [questions, input tokens, output tokens, of them asked in a
 * conversation, single-shot questions watched for a follow-up and settled, of them followed up,
 * new questions in a conversation watched and settled, of them followed up] (see ITEMS_UNFOLLOWED).
 */
export const ITEM_COLUMNS = 8;
/**
 * Questions of the harvest part watched for a follow-up at once, per account: a question's text
 * key (slotKey: its top 31 bits, the lowest bit set for a new question in a conversation) and
 * when it was asked (seconds), FOLLOW_SLOT numbers each. A question asked while every slot is
 * taken is not watched (an application with many users asks more than the slots hold; the ones
 * watched are a sample). A watched question settles as followed up when a later turn carries it
 * in the turn it follows, or as not followed up FOLLOW_WAIT_S after it was asked.
 */
export const FOLLOW_RING = 8;
export const FOLLOW_SLOT = 2;
/** A watched question's slot key: the text key's top 31 bits (never 0) and whether it was asked in a conversation. */
const slotKey = (key: number, inConversation: boolean): number => ((((key >>> 1) || 1) << 1) | (inConversation ? 1 : 0)) >>> 0;
/** Whether a slot holds the question of text key `key`. */
const holds = (slot: number, key: number): boolean => slot !== 0 && slot >>> 1 === ((key >>> 1) || 1);
/** The harvest part's settled column of a watched question (its followed-up count is the next one). */
const settledColumn = (slot: number): number => ((slot & 1) !== 0 ? 6 : 4);
export const FOLLOW_WAIT_S = 2 * 3600;

/**
 * Count one request (of `weight` prompts), a single-shot coding or maths one or a new question in
 * a conversation, in account i's harvest part when it asks for reasoning. Either is watched for a
 * follow-up (its question's text `key`, asked at `now`) when a slot is free.
 */
export function observeItem(items: Float32Array, i: number, elicited: boolean, weight: number, inputTokens: number, outputTokens: number, inConversation: boolean, ring?: Uint32Array, key = 0, now = 0): void {
  if (!elicited) return;
  const o = i * ITEM_COLUMNS;
  items[o] += weight; items[o + 1] += inputTokens; items[o + 2] += outputTokens;
  if (inConversation) items[o + 3] += weight;
  if (!ring || key === 0) return;
  const base = i * FOLLOW_RING * FOLLOW_SLOT;
  for (let k = 0; k < FOLLOW_RING; k++) {
    const s = base + k * FOLLOW_SLOT;
    if (holds(ring[s], key)) return;
    if (ring[s] === 0) { ring[s] = slotKey(key, inConversation); ring[s + 1] = Math.floor(now); return; }
  }
}

/**
 * A conversation turn of account i that asks nothing new (a follow-up: "why divide by 3?", "make
 * it shorter"): the watched question of the turn it follows (the user's messages before the last
 * answer and the tool steps after them, back to the answer before them) is followed up. Not the earlier turns: a conversation
 * went on from those already (to a follow-up, which settled them, or to a new question), and a
 * short turn late in a conversation of new questions would otherwise settle all of them as
 * followed up. A continued Responses chain carries no history: it follows up the account's
 * latest watched question. Crediting a follow-up to a question it was not about only lowers what
 * the test sees.
 */
export function observeFollowUp(items: Float32Array, ring: Uint32Array, i: number, ev: InteractionEvent): void {
  const base = i * FOLLOW_RING * FOLLOW_SLOT;
  let latest = -1;
  for (let k = 0; k < FOLLOW_RING; k++) {
    const s = base + k * FOLLOW_SLOT;
    if (ring[s] !== 0 && (latest < 0 || ring[s + 1] >= ring[latest + 1])) latest = s;
  }
  if (latest < 0) return;
  const o = i * ITEM_COLUMNS;
  const settle = (s: number) => { const c = settledColumn(ring[s]); ring[s] = 0; items[o + c] += 1; items[o + c + 1] += 1; };
  const msgs = ev.request.messages;
  // Back past the current turn and the answer (tool calls and results too: an agent's steps
  // follow up the task that started them) to the user's messages before it, and no further.
  let answered = false; let inTurn = false; let found = false;
  for (let k = msgs.length - 1; k >= 0; k--) {
    const m = msgs[k];
    if (m.role !== 'user') { if (inTurn) break; if (m.role === 'assistant') answered = true; continue; }
    if (!answered) continue;
    inTurn = true;
    if (!m.text) continue;
    const key = textKey(m.text);
    for (let s = base; s < base + FOLLOW_RING * FOLLOW_SLOT; s += FOLLOW_SLOT) if (holds(ring[s], key)) { settle(s); found = true; break; }
  }
  if (!found && ev.request.previous_response_id) settle(latest);
}

/** Settle account i's watched questions asked FOLLOW_WAIT_S or more before `now` as not followed up. */
export function settleUnfollowed(items: Float32Array, ring: Uint32Array, i: number, now: number): void {
  const base = i * FOLLOW_RING * FOLLOW_SLOT;
  for (let s = base; s < base + FOLLOW_RING * FOLLOW_SLOT; s += FOLLOW_SLOT) {
    if (ring[s] !== 0 && now - ring[s + 1] >= FOLLOW_WAIT_S) { items[i * ITEM_COLUMNS + settledColumn(ring[s])] += 1; ring[s] = 0; }
  }
}

/** Tokens of a request's last user message alone (four characters a token): a new question's own input. */
export function turnTokens(ev: InteractionEvent): number {
  const msgs = ev.request.messages;
  for (let k = msgs.length - 1; k >= 0; k--) if (msgs[k].role === 'user') return Math.ceil(msgs[k].chars / 4);
  return 0;
}

/** Decay account i's harvest part by `f` (the window's factor). */
export function decayItems(items: Float32Array, i: number, f: number): void {
  const o = i * ITEM_COLUMNS;
  for (let c = 0; c < ITEM_COLUMNS; c++) items[o + c] *= f;
}

/**
 * Account i's harvest part: its windowed questions, their share of the `requests` windowed, their
 * output/input ratio, and the follow-up reading (settled, followed): of its single-shot questions
 * alone, or of all of them (single-shot and new in a conversation), whichever is the surer sign of
 * questions left (the lower bound of the share followed up, ITEMS_UNFOLLOWED.minSettled settled or
 * more). A harvest leaves its items unfollowed however it asks them; the rest of the account's
 * traffic (a bought application's users, who open their chats with questions of their own and
 * follow some up) is mostly the other kind, and must not hide them.
 */
export function itemReadings(items: Float32Array, i: number, requests: number): ItemReadings {
  const o = i * ITEM_COLUMNS;
  const n = items[o];
  const share = requests > 0 ? n / requests : 0;
  const ratio = items[o + 1] > 0 ? items[o + 2] / items[o + 1] : 0;
  const inConversation = requests > 0 ? items[o + 3] / requests : 0;
  // Object literals of one shape, not spreads of a common part: read for every account scored at
  // every tick, a spread's copy was this function's whole cost.
  const single: ItemReadings = { items: n, share, ratio, inConversation, settled: items[o + 4], followed: items[o + 4] > 0 ? Math.min(1, items[o + 5] / items[o + 4]) : 0, followedOf: 'single-shot' };
  const allSettled = items[o + 4] + items[o + 6];
  if (items[o + 6] <= 0 || allSettled < ITEMS_UNFOLLOWED.minSettled) return single;
  const all: ItemReadings = { items: n, share, ratio, inConversation, settled: allSettled, followed: Math.min(1, (items[o + 5] + items[o + 7]) / allSettled), followedOf: 'all' };
  return single.settled < ITEMS_UNFOLLOWED.minSettled || followedUpper(all) < followedUpper(single) ? all : single;
}

/**
 * Account i's harvest part: windowed questions, their share of its requests, their output/input
 * ratio, the share of its requests that are such questions asked in a conversation, and its
 * windowed single-shot questions watched for a follow-up and settled, with the share of them followed up.
 */
export interface ItemReadings {
  items: number; share: number; ratio: number; inConversation: number; settled: number; followed: number;
  /** Which questions `settled` and `followed` read: the single-shot ones alone, or all (new questions in a conversation too). */
  followedOf: 'single-shot' | 'all';
}

/** Whether the harvest part passes on its own (the pipeline conditions are the engine's, as for the whole window). */
export function itemsPass(x: ItemReadings, single: number): boolean {
  if (x.items < ITEMS.minItems || x.ratio < ITEMS.outputInput) return false;
  return (x.share >= ITEMS.minShare && single + x.inConversation >= ITEMS.minIndependent) || itemsByVolume(x, single);
}

/**
 * Whether the harvest part of an account named by a verified identity alone passes by its share or
 * its volume: as an unnamed account's does, with the follow-up reading there to judge it
 * (ITEMS_UNFOLLOWED.minSettled questions settled, at most ITEMS_BY_VOLUME.maxFollowed of them
 * followed up). Accounts are bought with their owner's verified identity; what it says of who runs
 * the account is weighed by needing the follow-ups read, not by exempting the account from the
 * evidence. A researcher's evaluation runs from such an account are exempt by their pipeline's
 * shape (namedPipeline).
 */
export function itemsPassIdentityOnly(x: ItemReadings, single: number): boolean {
  return x.settled >= ITEMS_UNFOLLOWED.minSettled && x.followed <= ITEMS_BY_VOLUME.maxFollowed && itemsPass(x, single);
}

/** Whether the harvest part passes by its questions never followed up (ITEMS_UNFOLLOWED). */
export function itemsUnfollowed(x: ItemReadings): boolean {
  return x.settled >= ITEMS_UNFOLLOWED.minSettled && followedUpper(x) <= ITEMS_UNFOLLOWED.maxFollowed && x.ratio >= ITEMS_UNFOLLOWED.outputInput && x.share >= ITEMS_UNFOLLOWED.minShare;
}

/** Whether the harvest part passes by its volume (ITEMS_BY_VOLUME) rather than its share. */
export function itemsByVolume(x: ItemReadings, single: number): boolean {
  return x.items >= ITEMS_BY_VOLUME.minItems && x.ratio >= ITEMS.outputInput && x.share >= ITEMS_BY_VOLUME.minShare && single + x.inConversation >= ITEMS_BY_VOLUME.minIndependent
    && (x.settled < ITEMS_UNFOLLOWED.minSettled || x.followed <= ITEMS_BY_VOLUME.maxFollowed);
}

/** The explanation of a harvest part that passed on its own. */
export function harvestItemsReasons(values: IndicatorValues, x: ItemReadings, requests: number, resent: number, named = false): VerdictReason[] {
  const y = yieldReadings(values);
  // By its share when it passes that way, else by its volume, else by its questions never followed up (the thresholds it met).
  // An account named by a verified identity alone passes the first two only with its follow-ups read (itemsPassIdentityOnly).
  if (named ? !itemsPassIdentityOnly(x, y.single) : !(x.items >= ITEMS.minItems && x.ratio >= ITEMS.outputInput && (itemsByVolume(x, y.single) || (x.share >= ITEMS.minShare && y.single + x.inConversation >= ITEMS.minIndependent)))) return unfollowedReasons(y, x, requests, resent, named);
  const byShare = x.share >= ITEMS.minShare && y.single + x.inConversation >= ITEMS.minIndependent;
  const t = byShare ? ITEMS : ITEMS_BY_VOLUME;
  return [
    { signal: 'harvest_yield_test', value: 'pass', threshold: null, detail: byShare
      ? 'its independent questions asking for reasoning, judged apart from the conversations around them: as many and as high-yield as a harvest, at a human pace, from one account'
      : 'its independent questions asking for reasoning, judged by their number apart from the rest of its traffic (an application\'s users, chats): twice as many as a harvest part needs, high-yield, at a human pace, from one account' },
    { signal: 'yield_requests', value: round(requests), threshold: YIELD.minRequests },
    { signal: 'yield_reasoning_questions', value: round(x.items), threshold: t.minItems, detail: `windowed coding or maths questions asking for reasoning: single-shot, or new questions in a conversation (${round(x.inConversation)} of the requests)` },
    { signal: 'yield_reasoning_question_share', value: round(x.share), threshold: t.minShare },
    { signal: 'yield_reasoning_question_ratio', value: round(x.ratio), threshold: ITEMS.outputInput, detail: 'output/input ratio of those questions alone' },
    { signal: 'yield_independent_share', value: round(y.single + x.inConversation), threshold: t.minIndependent, detail: 'single-shot requests and new questions in a conversation' },
    ...((named || !byShare) && x.settled >= ITEMS_UNFOLLOWED.minSettled ? [{ signal: 'yield_followed_up_share', value: round(x.followed), threshold: ITEMS_BY_VOLUME.maxFollowed, detail: `share of ${round(x.settled)} ${questionsRead(x)} questions a later turn followed up: an application's users follow up on theirs` }] : []),
    ...(named ? [namedByIdentity('questions as many and as high-yield as a harvest\'s, next to none followed up')] : []),
    y.timing >= 0
      ? { signal: 'yield_timing_regularity', value: round(y.timing), threshold: YIELD.maxTimingRegularity, detail: y.timing < YIELD.maxTimingRegularity ? 'below: not a pipeline' : `above: machine timing, ${UNNAMED}` }
      : { signal: 'yield_timing_regularity', value: 'none', threshold: YIELD.maxTimingRegularity, detail: `too few requests within 6 hours of each other to read, with ${2 * YIELD.minRequests} or more prompts: no pipeline timing to see` },
    { signal: 'yield_template_reuse_share', value: round(y.tpl), threshold: YIELD.maxTemplateReuse, detail: y.tpl < YIELD.maxTemplateReuse ? 'below: no fixed template' : `above: one fixed template, ${UNNAMED}` },
    ...(pipelineShape(y) ? [{ signal: 'yield_resent_share', value: round(resent), threshold: YIELD.minResent, detail: 'below: each request a new question (an evaluation run re-sends its items)' }] : []),
  ];
}

/** Which of its questions the follow-up reading read, in words. */
function questionsRead(x: ItemReadings): string {
  return x.followedOf === 'all' ? 'single-shot and new-in-a-conversation' : 'single-shot';
}

/** Why a verified identity alone did not exempt `what` (the verdict's `yield_named_by`). */
function namedByIdentity(what: string): VerdictReason {
  return { signal: 'yield_named_by', value: 'identity verification', threshold: null, detail: `a verified identity alone does not exempt ${what} (accounts are bought with it); a programme, an enterprise contract, a campus domain or a corroborated org would` };
}

/** The explanation of a harvest part that passed by its questions never followed up (ITEMS_UNFOLLOWED). */
function unfollowedReasons(y: ReturnType<typeof yieldReadings>, x: ItemReadings, requests: number, resent: number, named: boolean): VerdictReason[] {
  return [
    { signal: 'harvest_yield_test', value: 'pass', threshold: null, detail: 'its single-shot questions asking for reasoning are asked and left: none or next to none followed up by a later turn, whatever conversations the rest of its traffic holds (an application\'s users, chats), high-yield, at a human pace, from one account' },
    { signal: 'yield_requests', value: round(requests), threshold: YIELD.minRequests },
    { signal: 'yield_questions_settled', value: round(x.settled), threshold: ITEMS_UNFOLLOWED.minSettled, detail: `windowed ${questionsRead(x)} coding or maths questions asking for reasoning, watched for a follow-up until one came or ${FOLLOW_WAIT_S / 3600} h passed` },
    { signal: 'yield_followed_up_share', value: round(x.followed), threshold: ITEMS_UNFOLLOWED.maxFollowed, detail: `share of them a later turn of the account followed up (the question in its history, no new question asked), at most ${round(followedUpper(x))} at 95% confidence, the bound held to the threshold: people follow up on their questions, a harvest moves on to the next item` },
    { signal: 'yield_reasoning_question_ratio', value: round(x.ratio), threshold: ITEMS_UNFOLLOWED.outputInput, detail: 'output/input ratio of those questions alone' },
    { signal: 'yield_reasoning_question_share', value: round(x.share), threshold: ITEMS_UNFOLLOWED.minShare },
    ...(named ? [namedByIdentity('questions never followed up')] : []),
    y.timing >= 0
      ? { signal: 'yield_timing_regularity', value: round(y.timing), threshold: named ? ITEMS_UNFOLLOWED.namedPipelineTiming : YIELD.maxTimingRegularity, detail: y.timing < YIELD.maxTimingRegularity ? 'below: not a pipeline' : named ? `below a pipeline's ${ITEMS_UNFOLLOWED.namedPipelineTiming}: an application's users arriving independently read about 0.44` : `above: machine timing, ${UNNAMED}` }
      : { signal: 'yield_timing_regularity', value: 'none', threshold: YIELD.maxTimingRegularity, detail: `too few requests within 6 hours of each other to read, with ${2 * YIELD.minRequests} or more prompts: no pipeline timing to see` },
    { signal: 'yield_template_reuse_share', value: round(y.tpl), threshold: YIELD.maxTemplateReuse, detail: y.tpl < YIELD.maxTemplateReuse ? 'below: no fixed template' : `above: one fixed template, ${UNNAMED}` },
    ...(pipelineShape(y) ? [{ signal: 'yield_resent_share', value: round(resent), threshold: YIELD.minResent, detail: 'below: each request a new question (an evaluation run re-sends its items)' }] : []),
  ];
}
