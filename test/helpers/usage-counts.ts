/**
 * The usage tests' reference: an event counted as a customer's usage counts it (outcome by HTTP
 * status, tokens from the response, absent ones as 0), written plainly so that the stores' SQL is
 * checked against it.
 */
import type { InteractionEvent } from '../../src/events/index.ts';
import type { UsageCounts } from '../../src/ui/usage.ts';

export const zeroCounts = (): UsageCounts => ({
  requests: 0, ok: 0, limited: 0, denied: 0, unauthenticated: 0, client_errors: 0, server_errors: 0,
  input_tokens: 0, cached_input_tokens: 0, cache_write_tokens: 0, output_tokens: 0, reasoning_tokens: 0,
});

/** Add one event to `c`. */
export function countEvent(c: UsageCounts, e: InteractionEvent): void {
  const s = e.response.status;
  c.requests++;
  if (s < 400) c.ok++;
  else if (s === 429) c.limited++;
  else if (s === 403) c.denied++;
  else if (s === 401) c.unauthenticated++;
  else if (s >= 500) c.server_errors++;
  else c.client_errors++;
  c.input_tokens += e.response.input_tokens;
  c.cached_input_tokens += e.response.cached_input_tokens ?? 0;
  c.cache_write_tokens += e.response.cache_write_tokens ?? 0;
  c.output_tokens += e.response.output_tokens;
  c.reasoning_tokens += e.response.reasoning_tokens;
}
