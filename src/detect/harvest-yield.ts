/**
 * The harvest-yield test's fixed parts: its thresholds (YIELD), the readings it compares, and the
 * payload keys by which an account's re-sent requests are told (an evaluation run re-sends its
 * items; a harvester wants a new answer to each request). The engine runs the test per account
 * (DetectorEngine.harvestYieldTest) with these.
 */
import type { InteractionEvent } from '../events/index.ts';
import type { IndicatorName, IndicatorValues } from './scoring.ts';

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
 * the key's cost flat.
 */
export function payloadKey(ev: InteractionEvent): number {
  const msgs = ev.request.messages;
  for (let k = msgs.length - 1; k >= 0; k--) {
    const t = msgs[k].role === 'user' ? msgs[k].text : null;
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
