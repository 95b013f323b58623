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
    { signal: 'yield_output_input_ratio', value: round(y.ratio), threshold: YIELD.outputInput },
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
