/**
 * Baseline detectors, run in the same harness as the engine so the comparison is fair:
 * - `VolumeBaseline`: flags an account whose requests in a sliding day exceed a fixed threshold
 *   (what a per-account quota alert does);
 * - `PradaBaseline`: PRADA (Juuti et al., EuroS&P 2019): for each account, the minimum distance
 *   of every new prompt to that account's earlier prompts; benign streams give a roughly normal
 *   distribution of those distances, extraction streams do not. Flags when the Shapiro-Francia
 *   normality statistic W' falls below delta. Prompts are embedded with hashed character
 *   trigrams (64 dimensions, L2-normalised): cheap, deterministic, no model download.
 * Both are per-account by construction: they cannot see coordination between accounts.
 */
import type { InteractionEvent } from '../events/index.ts';
import { VERDICT_LEVELS, verdictRank, type Verdict, type VerdictLevel } from './verdict.ts';

const FLAGGED = verdictRank('suspend');

/** Shared bookkeeping: account ids, per-level served counts, first-flag times. */
abstract class PerAccountBaseline {
  protected ids: string[] = [];
  protected index = new Map<string, number>();
  protected flagged: number[] = [];
  protected served: number[][] = [];
  protected first: number[] = [];
  protected reason: Array<Verdict | null> = [];
  protected events = 0;
  abstract readonly name: string;

  protected slot(id: string): number {
    let i = this.index.get(id);
    if (i === undefined) {
      i = this.ids.length; this.ids.push(id); this.index.set(id, i);
      this.flagged.push(0); this.served.push(VERDICT_LEVELS.map(() => 0)); this.first.push(0); this.reason.push(null);
      this.init(i);
    }
    return i;
  }
  protected abstract init(i: number): void;
  protected abstract observe(i: number, ev: InteractionEvent, tsS: number): Verdict | null;

  /** Feed one event: record the level it was served under, then update the account. */
  ingest(ev: InteractionEvent): void {
    if (!ev.account_id) return;
    this.events++;
    const tsS = Date.parse(ev.ts) / 1000;
    const i = this.slot(ev.account_id);
    this.served[i][this.flagged[i]]++;
    if (this.flagged[i]) return;
    const v = this.observe(i, ev, tsS);
    if (v) { this.flagged[i] = FLAGGED; this.first[i] = tsS * 1000; this.reason[i] = v; }
  }
  flush(): void {}
  accountIds(): readonly string[] { return this.ids; }
  forAccount(id: string): { level: VerdictLevel; verdict: Verdict | null; clusterId: string | null } {
    const i = this.index.get(id);
    if (i === undefined || !this.flagged[i]) return { level: 'none', verdict: null, clusterId: null };
    return { level: VERDICT_LEVELS[this.flagged[i]], verdict: this.reason[i], clusterId: null };
  }
  servedByLevel(id: string): number[] { const i = this.index.get(id); return i === undefined ? VERDICT_LEVELS.map(() => 0) : this.served[i].slice(); }
  firstFlags(id: string): Partial<Record<VerdictLevel, number>> {
    const i = this.index.get(id);
    if (i === undefined || !this.flagged[i]) return {};
    const out: Partial<Record<VerdictLevel, number>> = {};
    for (let l = 1; l <= this.flagged[i]; l++) out[VERDICT_LEVELS[l]] = this.first[i];
    return out;
  }
  stats(): { events: number } { return { events: this.events }; }

  protected verdict(id: string, signal: string, value: number, threshold: number, tsS: number): Verdict {
    return { subject: { kind: 'account', id }, level: VERDICT_LEVELS[FLAGGED], score: null, source: 'detector', since: new Date(tsS * 1000).toISOString(), reasons: [{ signal, value, threshold }] };
  }
}

/** Per-account volume threshold over a sliding (exponentially decayed, 24 h mean life) window. */
export class VolumeBaseline extends PerAccountBaseline {
  readonly name = 'volume-threshold';
  private rate: number[] = [];
  private last: number[] = [];
  constructor(private readonly perDay = 500) { super(); }
  protected init(): void { this.rate.push(0); this.last.push(0); }
  protected observe(i: number, _ev: InteractionEvent, tsS: number): Verdict | null {
    const dt = this.last[i] ? Math.max(0, tsS - this.last[i]) : 0;
    this.rate[i] = this.rate[i] * Math.exp(-dt / 86_400) + 1;
    this.last[i] = tsS;
    return this.rate[i] > this.perDay ? this.verdict(this.ids[i], 'requests_per_day', Math.round(this.rate[i]), this.perDay, tsS) : null;
  }
}

const DIM = 64;

/** Hashed character-trigram embedding of the last user message, L2-normalised. */
export function trigramEmbedding(ev: InteractionEvent, out = new Float32Array(DIM)): Float32Array {
  out.fill(0);
  let text = '';
  for (let k = ev.request.messages.length - 1; k >= 0; k--) if (ev.request.messages[k].role === 'user') { text = ev.request.messages[k].text ?? ''; break; }
  const t = text.length > 600 ? text.slice(0, 600) : text;
  for (let i = 0; i + 2 < t.length; i++) {
    const h = (Math.imul(t.charCodeAt(i) | 32, 0x9e3779b1) ^ Math.imul(t.charCodeAt(i + 1) | 32, 0x85ebca6b) ^ Math.imul(t.charCodeAt(i + 2) | 32, 0xc2b2ae35)) >>> 0;
    out[h % DIM] += (h & 0x80000000) ? 1 : -1;
  }
  let n = 0;
  for (let d = 0; d < DIM; d++) n += out[d] * out[d];
  n = Math.sqrt(n) || 1;
  for (let d = 0; d < DIM; d++) out[d] /= n;
  return out;
}

/** Inverse of the standard normal CDF (Acklam's rational approximation). */
function probit(p: number): number {
  const a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
  const c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const pl = 0.02425;
  if (p < pl) { const q = Math.sqrt(-2 * Math.log(p)); return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1); }
  if (p > 1 - pl) { const q = Math.sqrt(-2 * Math.log(1 - p)); return -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1); }
  const q = p - 0.5; const r = q * q;
  return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

/** Shapiro-Francia W' of a sample (1 = perfectly normal). */
export function shapiroFrancia(xs: readonly number[]): number {
  const n = xs.length;
  const x = [...xs].sort((p, q) => p - q);
  let mean = 0; for (const v of x) mean += v; mean /= n;
  let smm = 0; let smx = 0; let sxx = 0;
  for (let i = 0; i < n; i++) {
    const m = probit((i + 1 - 0.375) / (n + 0.25));
    smm += m * m; smx += m * (x[i] - mean); sxx += (x[i] - mean) ** 2;
  }
  return sxx > 0 ? (smx * smx) / (smm * sxx) : 1;
}

/** PRADA-style per-account distance test. */
export class PradaBaseline extends PerAccountBaseline {
  readonly name = 'prada';
  private history: Float32Array[] = [];
  private fill: number[] = [];
  private dists: number[][] = [];
  private readonly scratch = new Float32Array(DIM);
  /** delta: W' threshold; window: prompts kept per account; minSamples before testing. */
  constructor(private readonly delta = 0.94, private readonly window = 32, private readonly minSamples = 40) { super(); }
  protected init(): void { this.history.push(new Float32Array(this.window * DIM)); this.fill.push(0); this.dists.push([]); }
  protected observe(i: number, ev: InteractionEvent, tsS: number): Verdict | null {
    const e = trigramEmbedding(ev, this.scratch);
    const h = this.history[i];
    const have = Math.min(this.fill[i], this.window);
    if (have > 0) {
      let best = Infinity;
      for (let k = 0; k < have; k++) {
        let s = 0;
        for (let d = 0; d < DIM; d++) { const q = e[d] - h[k * DIM + d]; s += q * q; }
        if (s < best) best = s;
      }
      const ds = this.dists[i];
      ds.push(Math.sqrt(best));
      if (ds.length > 200) ds.shift();
    }
    h.set(e, (this.fill[i] % this.window) * DIM);
    this.fill[i]++;
    const ds = this.dists[i];
    if (ds.length >= this.minSamples && ds.length % 10 === 0) {
      const w = shapiroFrancia(ds);
      if (w < this.delta) return this.verdict(this.ids[i], 'prada_shapiro_francia_w', Math.round(w * 1000) / 1000, this.delta, tsS);
    }
    return null;
  }
}
