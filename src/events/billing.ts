/**
 * Usage for billing: interaction events summed per period (UTC hour, day or month), organisation,
 * account, model and whether a batch ran them, with the prompt cache's share of the input kept
 * apart, so a month's bill per customer and model comes from the same events the ledger signs
 * (`warden usage export`, docs/ledger.md "Billing usage").
 */
import type { InteractionEvent } from './schema.ts';
import { statusOutcome } from './outcome.ts';

export type BillingPeriod = 'hour' | 'day' | 'month';
export const BILLING_PERIODS: readonly BillingPeriod[] = ['hour', 'day', 'month'];

export interface BillingRow {
  /** The UTC period of the requests' arrival: `2026-12` (month), `2026-12-05` (day), `2026-12-05T10` (hour). */
  period: string;
  org_id: string | null;
  account_id: string | null;
  /** Only when split by key. */
  key_id?: string | null;
  model: string;
  /** Only when split by upstream: the upstream that served the requests (null: never forwarded), to set against each provider's invoice. */
  upstream?: string | null;
  /** Only when split by service tier: the tier the upstream served the requests on (`response.service_tier`; null: it named none). */
  service_tier?: string | null;
  /** Requests Warden ran for a batch or a background response (`client.batch_id` set). */
  batch: boolean;
  requests: number;
  /** Of `requests`: refused by Warden (403, 429), unauthenticated (401), failed (other 4xx, 5xx), as the ledger's usage counts them. */
  refused: number;
  unauthenticated: number;
  errors: number;
  /** Every input token, the cache's share included, as in the events and the ledger. */
  input_tokens: number;
  /** Of `input_tokens`: read from the provider's prompt cache, and written to it. */
  cached_input_tokens: number;
  cache_write_tokens: number;
  /** Output tokens, reasoning included; `reasoning_tokens` is their reasoning part. */
  output_tokens: number;
  reasoning_tokens: number;
  /** Requests whose counts are (partly) Warden's own tokenizer's, not the upstream's (`usage_source: tokenizer`). */
  tokenizer_counted: number;
  /** Images generated, edited or varied by requests answered (the request's `n`, 1 when none). */
  images: number;
  /** Seconds of audio uploaded for transcription or translation by requests answered. */
  audio_seconds: number;
  /** Characters of text read aloud by speech requests answered (`openai.speech`). */
  speech_chars: number;
  /** Only when priced: the requests' prices summed, each rounded up to a micro-USD as budgets charge it. */
  cost_usd?: number;
}

/** Columns in export order; `key_id`, `upstream`, `service_tier` and `cost_usd` only when asked for. */
export function billingColumns(opts: { byKey?: boolean; byUpstream?: boolean; byTier?: boolean; priced?: boolean } = {}): (keyof BillingRow)[] {
  return ['period', 'org_id', 'account_id', ...(opts.byKey ? ['key_id' as const] : []), 'model', ...(opts.byUpstream ? ['upstream' as const] : []), ...(opts.byTier ? ['service_tier' as const] : []), 'batch', 'requests', 'refused', 'unauthenticated', 'errors',
    'input_tokens', 'cached_input_tokens', 'cache_write_tokens', 'output_tokens', 'reasoning_tokens', 'tokenizer_counted',
    'images', 'audio_seconds', 'speech_chars', ...(opts.priced ? ['cost_usd' as const] : [])];
}

/** The UTC period an ISO time falls in. */
export function billingPeriod(ts: string, period: BillingPeriod): string {
  const iso = new Date(ts).toISOString();
  return period === 'month' ? iso.slice(0, 7) : period === 'day' ? iso.slice(0, 10) : iso.slice(0, 13);
}

const IMAGE_FLAVOURS = new Set(['openai.images', 'openai.image_edits', 'openai.image_variations']);

/** Sums events into billing rows; `add` them in any order, then read `rows()`. */
export class BillingTally {
  private readonly groups = new Map<string, BillingRow & { micro: number }>();
  constructor(private readonly opts: { period: BillingPeriod; byKey?: boolean; byUpstream?: boolean; byTier?: boolean; priced?: boolean }) {}

  /** `priceMicroUsd`: the request's price when priced (already rounded up to a whole micro-USD). */
  add(e: InteractionEvent, priceMicroUsd = 0): void {
    const period = billingPeriod(e.ts, this.opts.period);
    const batch = typeof e.client.batch_id === 'string' && e.client.batch_id !== '';
    const keyId = this.opts.byKey ? e.key_id : undefined;
    const upstream = this.opts.byUpstream ? e.upstream : undefined;
    const tier = this.opts.byTier ? e.response.service_tier ?? null : undefined;
    const id = JSON.stringify([period, e.org_id, e.account_id, keyId ?? null, e.model, upstream ?? null, tier ?? null, batch]);
    let g = this.groups.get(id);
    if (!g) {
      g = {
        period, org_id: e.org_id, account_id: e.account_id, ...(this.opts.byKey ? { key_id: keyId ?? null } : {}), model: e.model, ...(this.opts.byUpstream ? { upstream: upstream ?? null } : {}), ...(this.opts.byTier ? { service_tier: tier ?? null } : {}), batch,
        requests: 0, refused: 0, unauthenticated: 0, errors: 0, input_tokens: 0, cached_input_tokens: 0, cache_write_tokens: 0,
        output_tokens: 0, reasoning_tokens: 0, tokenizer_counted: 0, images: 0, audio_seconds: 0, speech_chars: 0, micro: 0,
      };
      this.groups.set(id, g);
    }
    const r = e.response;
    g.requests++;
    const outcome = statusOutcome(r.status);
    if (outcome === 'refused') g.refused++;
    else if (outcome === 'unauthenticated') g.unauthenticated++;
    else if (outcome === 'error') g.errors++;
    g.input_tokens += r.input_tokens;
    g.cached_input_tokens += r.cached_input_tokens ?? 0;
    g.cache_write_tokens += r.cache_write_tokens ?? 0;
    g.output_tokens += r.output_tokens;
    g.reasoning_tokens += r.reasoning_tokens;
    if (r.usage_source === 'tokenizer') g.tokenizer_counted++;
    if (outcome === 'served') {
      if (IMAGE_FLAVOURS.has(e.flavour)) g.images += typeof e.request.params.n === 'number' && e.request.params.n > 0 ? e.request.params.n : 1;
      const seconds = e.request.uploads?.audio_seconds;
      if (typeof seconds === 'number') g.audio_seconds += seconds;
      if (e.flavour === 'openai.speech') for (const m of e.request.messages) if (m.role === 'user') g.speech_chars += m.chars;
    }
    g.micro += priceMicroUsd;
  }

  /** The rows, by period, organisation, account, key, model, then batch last. */
  rows(): BillingRow[] {
    const s = (v: string | null | undefined) => v ?? '';
    const out = [...this.groups.values()].sort((a, b) =>
      a.period.localeCompare(b.period) || s(a.org_id).localeCompare(s(b.org_id)) || s(a.account_id).localeCompare(s(b.account_id))
      || s(a.key_id).localeCompare(s(b.key_id)) || a.model.localeCompare(b.model) || s(a.upstream).localeCompare(s(b.upstream)) || s(a.service_tier).localeCompare(s(b.service_tier)) || Number(a.batch) - Number(b.batch));
    return out.map(({ micro, ...row }) => ({
      ...row,
      // Whole seconds of audio are billed in fractions too: kept to the millisecond, not float noise.
      audio_seconds: Math.round(row.audio_seconds * 1000) / 1000,
      ...(this.opts.priced ? { cost_usd: micro / 1e6 } : {}),
    }));
  }
}

/**
 * One CSV line (RFC 4180 quoting; null and undefined as empty). Text that starts with = + - @ (a
 * model name is the client's) is prefixed with ' so a spreadsheet does not run it as a formula,
 * as the ledger's CSV does; numbers are written as they are.
 */
export function csvLine(values: readonly unknown[]): string {
  return values.map((v) => {
    if (v === null || v === undefined) return '';
    let s = String(v);
    if (typeof v !== 'number' && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
    return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  }).join(',');
}
