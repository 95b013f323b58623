/**
 * The harvest-yield test's fixed parts: its thresholds (YIELD), the readings it compares, and the
 * payload keys by which an account's re-sent requests are told (an evaluation run re-sends its
 * items; a harvester wants a new answer to each request), and the test's explanation. The engine
 * runs the test per account (DetectorEngine.harvestYieldTest) with these.
 */
import type { InteractionEvent } from '../events/index.ts';
import { round, type IndicatorName, type IndicatorValues } from './scoring.ts';
import type { VerdictReason } from './verdict.ts';

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
    if (!t) continue;
    const step = t.length <= 128 ? 1 : Math.floor(t.length / 128);
    let h = (0x811c9dc5 ^ t.length) >>> 0;
    for (let c = 0; c < t.length; c += step) { h ^= t.charCodeAt(c); h = Math.imul(h, 0x01000193); }
    return h >>> 0 || 1;
  }
  return 0;
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
 * account does now; `payRing` holds each account's last PAY_RING payload keys.
 */
export function observePayload(payRing: Uint32Array, payCount: Float32Array, i: number, ev: InteractionEvent): void {
  const key = payloadKey(ev);
  if (key === 0) return;
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
 * follow-ups (below `minIndependent`).
 */
export const ITEMS_BY_VOLUME = { minItems: 40, minShare: 0.2, minIndependent: 0.4 };
export const ITEM_COLUMNS = 4;

/** Count one request (of `weight` prompts), a single-shot coding or maths one or a new question in a conversation, in account i's harvest part when it asks for reasoning. */
export function observeItem(items: Float32Array, i: number, elicited: boolean, weight: number, inputTokens: number, outputTokens: number, inConversation: boolean): void {
  if (!elicited) return;
  const o = i * ITEM_COLUMNS;
  items[o] += weight; items[o + 1] += inputTokens; items[o + 2] += outputTokens;
  if (inConversation) items[o + 3] += weight;
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
  items[o] *= f; items[o + 1] *= f; items[o + 2] *= f; items[o + 3] *= f;
}

/** Account i's harvest part: its windowed questions, their share of the `requests` windowed, and their output/input ratio. */
export function itemReadings(items: Float32Array, i: number, requests: number): ItemReadings {
  const o = i * ITEM_COLUMNS;
  const n = items[o];
  return { items: n, share: requests > 0 ? n / requests : 0, ratio: items[o + 1] > 0 ? items[o + 2] / items[o + 1] : 0, inConversation: requests > 0 ? items[o + 3] / requests : 0 };
}

/** Account i's harvest part: windowed questions, their share of its requests, their output/input ratio, and the share of its requests that are such questions asked in a conversation. */
export interface ItemReadings { items: number; share: number; ratio: number; inConversation: number }

/** Whether the harvest part passes on its own (the pipeline conditions are the engine's, as for the whole window). */
export function itemsPass(x: ItemReadings, single: number): boolean {
  if (x.items < ITEMS.minItems || x.ratio < ITEMS.outputInput) return false;
  return (x.share >= ITEMS.minShare && single + x.inConversation >= ITEMS.minIndependent) || itemsByVolume(x, single);
}

/** Whether the harvest part passes by its volume (ITEMS_BY_VOLUME) rather than its share. */
export function itemsByVolume(x: ItemReadings, single: number): boolean {
  return x.items >= ITEMS_BY_VOLUME.minItems && x.ratio >= ITEMS.outputInput && x.share >= ITEMS_BY_VOLUME.minShare && single + x.inConversation >= ITEMS_BY_VOLUME.minIndependent;
}

/** The explanation of a harvest part that passed on its own. */
export function harvestItemsReasons(values: IndicatorValues, x: ItemReadings, requests: number, resent: number): VerdictReason[] {
  const y = yieldReadings(values);
  // By its share when it passes that way, else by its volume (the thresholds it met).
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
    y.timing >= 0
      ? { signal: 'yield_timing_regularity', value: round(y.timing), threshold: YIELD.maxTimingRegularity, detail: y.timing < YIELD.maxTimingRegularity ? 'below: not a pipeline' : `above: machine timing, ${UNNAMED}` }
      : { signal: 'yield_timing_regularity', value: 'none', threshold: YIELD.maxTimingRegularity, detail: `too few requests within 6 hours of each other to read, with ${2 * YIELD.minRequests} or more prompts: no pipeline timing to see` },
    { signal: 'yield_template_reuse_share', value: round(y.tpl), threshold: YIELD.maxTemplateReuse, detail: y.tpl < YIELD.maxTemplateReuse ? 'below: no fixed template' : `above: one fixed template, ${UNNAMED}` },
    ...(pipelineShape(y) ? [{ signal: 'yield_resent_share', value: round(resent), threshold: YIELD.minResent, detail: 'below: each request a new question (an evaluation run re-sends its items)' }] : []),
  ];
}
