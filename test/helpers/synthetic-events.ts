/**
 * Synthetic interaction events and verdicts for tests and benchmarks (deterministic
 * given the counter; no personal data of real people).
 */
import { EVENT_SCHEMA, emptyEnforcement, emptyParams, ulid, type InteractionEvent } from '../../src/events/index.ts';
import type { Verdict } from '../../src/detect/verdict.ts';

export function sampleEvent(n: number, over: Partial<InteractionEvent> = {}): InteractionEvent {
  const account = `acct_${n % 7}`;
  return {
    schema: EVENT_SCHEMA,
    id: ulid(),
    ts: new Date(Date.UTC(2026, 5, 1, 12, 0, 0) + n * 1000).toISOString(),
    duration_ms: 120 + (n % 50),
    flavour: 'openai.chat',
    model: n % 3 === 0 ? 'gpt-large' : 'gpt-small',
    upstream: 'mock',
    account_id: account,
    org_id: `org_${n % 3}`,
    key_id: `key_${n % 11}`,
    client: { ip: `203.0.113.${n % 250}`, user_agent: 'openai-node/6.0', country: 'NL', asn: 64500 },
    request: {
      stream: n % 2 === 0,
      system: 'You are terse.',
      messages: [{ role: 'user', text: `question number ${n}: explain step by step`, chars: 40 }],
      tools: [],
      tool_choice: null,
      params: { ...emptyParams(), max_tokens: 256 },
      bytes: 300,
    },
    response: {
      status: 200, error_code: null, input_tokens: 30 + (n % 10), output_tokens: 100 + (n % 30), reasoning_tokens: 0,
      usage_source: 'upstream', tool_calls: 0, finish_reason: 'stop', ttfb_ms: 20, output_chars: 400, reasoning_chars: 0,
    },
    account: {
      created_at: '2026-01-01T00:00:00.000Z', tier: 'email_verified', programme: 'none', email_domain: 'example.com',
      payment_fp: 'pf_1234', signup_ip: '198.51.100.7', claimed_country: 'NL',
    },
    enforcement: emptyEnforcement(),
    ...over,
  };
}

export function sampleVerdict(subject: { kind: 'account' | 'cluster'; id: string }, level: Verdict['level'] = 'throttle'): Verdict {
  return {
    subject,
    level,
    score: 0.82,
    reasons: [{ signal: 'template_repetition', value: 0.93, threshold: 0.8, weight: 0.4, detail: '912 of 980 prompts share one template' }],
    source: 'detector',
    since: '2026-06-01T12:00:00.000Z',
    campaign_id: null,
  };
}

/**
 * The interleaving that `warden ledger verify` meets beside a server under traffic, made
 * deterministic: the first time the verifier reads the checkpoints (after it has read the log's
 * size), `writer` appends `more` entries and signs a checkpoint over them, committed before the
 * verifier reads on. `storageClass` is the reader's class; its `checkpoints` is patched meanwhile.
 */
export async function whileAppending<T>(
  storageClass: { prototype: { checkpoints(afterSize: number, limit: number): Promise<unknown> } },
  writer: { appendInteraction(ev: InteractionEvent): Promise<unknown>; checkpoint(): Promise<{ size: number }> },
  more: number,
  read: () => Promise<T>,
): Promise<{ result: T; signedMeanwhile: number | null }> {
  const original = storageClass.prototype.checkpoints;
  let signedMeanwhile: number | null = null;
  let started = false;
  storageClass.prototype.checkpoints = async function (this: unknown, afterSize: number, limit: number) {
    if (!started) {
      started = true;
      for (let i = 0; i < more; i++) await writer.appendInteraction(sampleEvent(100_000 + i));
      signedMeanwhile = (await writer.checkpoint()).size;
    }
    return original.call(this, afterSize, limit);
  };
  try {
    return { result: await read(), signedMeanwhile };
  } finally {
    storageClass.prototype.checkpoints = original;
  }
}
