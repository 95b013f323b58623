/**
 * What a response's status says about the request, as the dashboard counts it (docs/dashboard.md
 * "Errors"): answered (< 400), refused by Warden (403 denied, 429 limited), unauthenticated (401),
 * or an error (any other 4xx, 5xx). Case reports and the ledger's usage count the same way.
 */
export type StatusOutcome = 'served' | 'refused' | 'unauthenticated' | 'error';

export function statusOutcome(status: number): StatusOutcome {
  if (status < 400) return 'served';
  if (status === 403 || status === 429) return 'refused';
  if (status === 401) return 'unauthenticated';
  return 'error';
}
