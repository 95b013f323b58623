/**
 * Erasing an event's personal data (a data subject's deletion request): the same fields the
 * ledger keeps only as erasable commitments (docs/ledger.md, "Erasure"): client IP, user agent,
 * prompt text, and the account's email domain, signup IP and payment fingerprint (and the email
 * pattern, derived from the address, and the claimed subdivision, which locates the person). What
 * the interaction was (time, model, account id, token counts, status, enforcement) stays, so usage
 * and audit totals still add up.
 */
import type { EventMessage, InteractionEvent } from './schema.ts';

/** The client IP of an erased event (the column cannot be null). */
export const ERASED_CLIENT_IP = '';

const withoutText = (m: EventMessage): EventMessage => ({ ...m, text: null });

/** The event with its personal data removed and `erased_at` set; an event already erased is returned as it is. */
export function erasePersonalData(e: InteractionEvent, at: string): InteractionEvent {
  if (e.erased_at) return e;
  return {
    ...e,
    client: { ...e.client, ip: ERASED_CLIENT_IP, user_agent: null },
    request: {
      ...e.request,
      system: null,
      messages: e.request.messages.map(withoutText),
      ...(e.request.system_documents ? { system_documents: withoutText(e.request.system_documents) } : {}),
    },
    account: e.account && {
      ...e.account, email_domain: null, signup_ip: null, payment_fp: null,
      ...(e.account.email_pattern !== undefined ? { email_pattern: null } : {}),
      ...(e.account.claimed_subdivision !== undefined ? { claimed_subdivision: null } : {}),
    },
    erased_at: at,
  };
}
