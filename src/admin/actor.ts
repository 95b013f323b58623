/**
 * The `x-warden-actor` header: the operator's name, recorded with every change. HTTP header values
 * carry bytes (browsers refuse anything outside Latin-1), so a name outside printable ASCII travels
 * RFC 8187 style, `UTF-8''<percent-encoded UTF-8>`, and is decoded here before it is recorded.
 */
import { userInfo } from 'node:os';
import { WardenError } from '../errors/index.ts';
import { unrecordableCharacter } from '../identity/schemas.ts';

/** Longest name recorded, in UTF-16 units as the stores count; cut where a character ends. */
const MAX_ACTOR = 200;

/** Prefix of an RFC 8187 extended value: the rest of the header is the UTF-8 name, percent-encoded. */
const EXTENDED_VALUE = /^utf-8''/i;

/**
 * The operator named by an `x-warden-actor` header, as recorded with changes (at most 200
 * characters; `admin-api` when absent). A header value can only carry Latin-1, so a name outside
 * it comes RFC 8187 style, `UTF-8''<percent-encoded UTF-8>` (see `encodeActorHeader`); a plain
 * value is taken as it is, so ASCII names stay readable on the wire and in the audit trail.
 * A name with a control or bidirectional-control character (which the encoding could smuggle past
 * the HTTP parser: a newline, ESC, NUL, U+202E) is refused, 400.
 */
export function actorOfHeader(header: string | string[] | undefined): string {
  let value = typeof header === 'string' ? header.trim() : '';
  if (EXTENDED_VALUE.test(value)) {
    try {
      value = decodeURIComponent(value.replace(EXTENDED_VALUE, '')).trim();
    } catch {
      throw new WardenError('WARDEN_INVALID_REQUEST', "x-warden-actor: not a valid UTF-8''<percent-encoded> value");
    }
  }
  const refused = unrecordableCharacter(value);
  if (refused) throw new WardenError('WARDEN_INVALID_REQUEST', `x-warden-actor: ${refused} is not allowed in an operator's name (no control or bidirectional-control characters)`);
  if (!value) return 'admin-api';
  if (value.length <= MAX_ACTOR) return value;
  // Not inside a surrogate pair: half an emoji would be stored as U+FFFD.
  const cut = value.slice(0, MAX_ACTOR);
  return (/[\ud800-\udbff]$/.test(cut) ? cut.slice(0, -1) : cut).trim();
}

/** The `x-warden-actor` header value naming `actor`: as it is when printable ASCII, else RFC 8187 encoded. */
export function encodeActorHeader(actor: string): string {
  return /^[\x20-\x7e]*$/.test(actor) && !EXTENDED_VALUE.test(actor) ? actor : `UTF-8''${encodeURIComponent(actor)}`;
}

/** The operator the CLI names for the user running it: `cli:<login name>`. */
export function cliActor(): string {
  let user = 'unknown';
  try { user = userInfo().username || user; } catch { /* no passwd entry (a container's arbitrary uid) */ }
  return `cli:${user}`;
}
