/**
 * How one request is added to a behaviour window (an account's row of counters, or a cluster's
 * summed window): the counter slots of scoring.ts's layout each request feature bumps.
 */
import { FLAG as FLAG_, type RequestFeatures } from './features.ts';
import { C as C_ } from './scoring.ts';

// Local copies: imported bindings may compile to getters, and these are read per event.
const C = { ...C_ };
const FLAG = { ...FLAG_ };

/**
 * Add one event's contributions to the window at `o`, as `k` requests (the prompts of a legacy array `f` stands for).
 * The flags are tested one by one on purpose: a loop over a table of (flag, counter) pairs ran
 * about 1.5 times as long on this per-event path. `answered`: whether the request can be a
 * harvested answer (harvest-yield.ts: harvestableAnswer); one that cannot (a logit probe, a prompt
 * sent again for a token or two) counts as a request, not as a single-shot question nor as working asked.
 */
export function addEvent(v: Float64Array, o: number, f: RequestFeatures, elicit: number, capability: number, newModel: number, tplHit: number, hourBin: number, netChange: number, k = 1, answered = true): void {
  const fl = f.flags;
  v[o + C.N] += k;
  v[o + C.NET_CHANGE] += netChange * k;
  if ((fl & (FLAG.cot | FLAG.rubric | FLAG.sensitiveRewrite | FLAG.tools | FLAG.code | FLAG.math)) === 0) v[o + C.OTHER] += k;
  if (answered) v[o + C.ELICIT] += elicit * k;
  if (fl & FLAG.cot) v[o + C.COT] += k;
  if (fl & FLAG.rubric) v[o + C.RUBRIC] += k;
  if (fl & FLAG.sensitiveRewrite) v[o + C.REWRITE] += k;
  if (fl & FLAG.tools) v[o + C.TOOLS] += k;
  if (fl & FLAG.agenticTrace) v[o + C.AGENTIC] += k;
  if (fl & FLAG.code) v[o + C.CODE] += k;
  if (fl & FLAG.math) v[o + C.MATH] += k;
  if (fl & FLAG.reasoningParam) v[o + C.REASON_PARAM] += k;
  v[o + C.CAPABILITY] += capability * k;
  if (answered && (fl & FLAG.singleShot)) v[o + C.SINGLE] += k;
  if (fl & FLAG.distillParams) v[o + C.DISTILL_PARAMS] += k;
  v[o + C.IN_TOK] += f.inputTokens;
  v[o + C.OUT_TOK] += f.outputTokens;
  v[o + C.OUT_TOTAL] += f.outputTokens;
  if (fl & FLAG.system) v[o + C.SYSTEM] += k;
  if (fl & FLAG.error) v[o + C.ERROR] += k;
  if (fl & FLAG.obfuscated) v[o + C.OBFUSCATED] += k;
  if (fl & FLAG.logitProbe) v[o + C.PROBE] += k;
  if (fl & FLAG.unreadableDocument) v[o + C.UNREADABLE] += k;
  if (fl & FLAG.closedTask) v[o + C.CLOSED_TASK] += k;
  if (f.problem !== 0) { v[o + C.OPENERS] += k; if (fl & FLAG.sharedProblem) v[o + C.SHARED_OPENERS] += k; }
  v[o + C.NEW_MODEL] += newModel * k;
  v[o + C.TEMPLATE_HIT] += tplHit * k;
  v[o + C.HOUR0 + hourBin] += k;
  v[o + C.TOTAL] += k;
}

/**
 * Record a request's arrival at `tsS` in the window at `o`: the gap since `prevTs` (the account's
 * previous request; log10 seconds, only within a session-scale horizon, none for a batch runner's
 * timing) and the latest arrival.
 */
export function addArrival(v: Float64Array, o: number, tsS: number, prevTs: number, batched: boolean): void {
  if (prevTs > 0 && !batched) {
    const gap = tsS - prevTs;
    if (gap >= 0 && gap < 6 * 3600) {
      const g = Math.log10(gap + 1);
      v[o + C.GAP_N] += 1; v[o + C.GAP_SUM] += g; v[o + C.GAP_SUMSQ] += g * g;
    }
  }
  if (tsS > v[o + C.LAST_TS]) v[o + C.LAST_TS] = tsS;
}

/**
 * Whether a request elicited reasoning (asked for in words or with a parameter, or a reasoning
 * trace delivered to the client), rubric grading or a sensitive rewrite.
 */
export const elicitOf = (fl: number) => ((fl & (FLAG.cot | FLAG.reasoningParam | FLAG.reasoningTrace | FLAG.rubric | FLAG.sensitiveRewrite)) !== 0 ? 1 : 0);
/** Whether a request exercised a capability worth distilling (elicitation, code, maths, tools). */
export const capabilityOf = (fl: number) => (elicitOf(fl) || (fl & (FLAG.code | FLAG.math | FLAG.tools)) !== 0 ? 1 : 0);
