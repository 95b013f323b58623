import { isUtf8 } from 'node:buffer';
import { WardenError } from '../errors/index.ts';

/** The charset parameter of a Content-Type. */
const CHARSET = /;\s*charset\s*=\s*"?([^";\s]*)/i;

/**
 * The bytes of a JSON request body to parse, on every JSON route: JSON is UTF-8 (RFC 8259), so
 * another charset (415) or bytes that are not UTF-8 (400) are refused rather than forwarded with
 * their characters replaced. A leading byte-order mark is dropped.
 */
export function utf8JsonBytes(contentType: string | undefined, body: Buffer): Buffer {
  const charset = CHARSET.exec(contentType ?? '')?.[1].toLowerCase();
  if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
    throw new WardenError('WARDEN_UNSUPPORTED_MEDIA_TYPE', 'The request body must be JSON in UTF-8 (charset=utf-8); send it re-encoded.');
  }
  if (!isUtf8(body)) throw new WardenError('WARDEN_INVALID_JSON', 'The request body is not valid UTF-8, as JSON must be.');
  const bom = body.length >= 3 && body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf;
  return bom ? body.subarray(3) : body;
}
