/**
 * Signup facts, normalised so that the detector can compare them across accounts: email domain
 * lower-cased and IDNA-encoded, IPs canonical, countries upper-case ISO 3166-1 alpha-2, and payment
 * instruments reduced to a keyed hash (HMAC-SHA256) so that equal instruments link accounts
 * without Warden ever holding card data.
 */
import { createHmac } from 'node:crypto';
import type { EventAccountFacts } from '../events/index.ts';
import type { AuthContext } from './types.ts';

/** Domain part of an email address, lower-cased and punycode-encoded; null if not an address. */
export function emailDomain(email: string | null | undefined): string | null {
  if (!email) return null;
  const at = email.lastIndexOf('@');
  if (at <= 0 || at === email.length - 1) return null;
  let domain = email.slice(at + 1).trim().toLowerCase().replace(/\.$/, '');
  try {
    domain = new URL(`http://${domain}`).hostname;
  } catch {
    return null;
  }
  return domain || null;
}

/**
 * The pattern of an email address, for linking accounts created in sequence: the local part
 * lower-cased, without a `+tag` and without `.`, `_` and `-` separators, its trailing number
 * dropped, plus the domain; e.g. `alex.dev1041@gmail.com` and `alexdev1042@gmail.com` both give
 * `alexdev@gmail.com`. Only addresses whose local part ends in a number of two or more digits
 * after at least three letters have a pattern (null otherwise), and it is returned as a keyed hash
 * (HMAC-SHA256, hex, 32 characters) so that events never carry the address itself.
 */
export function emailPattern(email: string | null | undefined, secret: string | Uint8Array): string | null {
  const domain = emailDomain(email);
  if (!email || !domain) return null;
  const local = email.slice(0, email.lastIndexOf('@')).trim().toLowerCase().replace(/\+.*$/, '').replace(/[._-]/g, '');
  const m = /^([\p{L}]{3,}[\p{L}\d]*?)(\d{2,})$/u.exec(local);
  if (!m) return null;
  return createHmac('sha256', secret).update(`email-pattern:${m[1]}@${domain}`).digest('hex').slice(0, 32);
}

// The canonical IP form is the event contract's (client.ip, signup_ip): defined beside it.
export { normaliseIp } from '../events/ip.ts';

/** ISO 3166-1 alpha-2 country code, upper-cased; null if not two letters. */
export function normaliseCountry(country: string | null | undefined): string | null {
  if (!country) return null;
  const c = country.trim().toUpperCase();
  return /^[A-Z]{2}$/.test(c) ? c : null;
}

/**
 * Keyed fingerprint of a payment instrument: HMAC-SHA256(secret, normalised instrument), hex.
 * Pass the payment processor's own instrument fingerprint (e.g. a card fingerprint token) rather
 * than a card number where you can; either way only the HMAC is kept. Whitespace and dashes are
 * removed and letters lower-cased first, so `4242 4242` and `4242-4242` give the same fingerprint.
 */
export function paymentFingerprint(instrument: string, secret: string): string {
  if (!secret) throw new Error('payment fingerprint secret is empty');
  const normalised = instrument.replace(/[\s-]+/g, '').toLowerCase();
  return createHmac('sha256', secret).update(normalised).digest('hex');
}

/** The account facts the gateway copies into every interaction event. */
export function eventAccountFacts(auth: AuthContext): EventAccountFacts {
  const a = auth.account;
  return {
    created_at: a.created_at, tier: auth.tier, programme: auth.programme, email_domain: a.email_domain,
    payment_fp: a.payment_fp, signup_ip: a.signup_ip, claimed_country: a.claimed_country,
    ...(a.claimed_subdivision ? { claimed_subdivision: a.claimed_subdivision } : {}), email_pattern: a.email_pattern ?? null,
    first_used_at: a.first_used_at ?? null,
  };
}
