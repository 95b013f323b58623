/**
 * The canonical text form of IP addresses, as events record them (`client.ip`, `account.signup_ip`)
 * and as every lookup by address must spell them: one address, one spelling, so that
 * `::ffff:127.0.0.1` from a dual-stack proxy and `127.0.0.1` are the same client. Used by the
 * gateway (client-address.ts), identity, and the audit queries (events export, ledger query).
 */
import { isIP } from 'node:net';

/** Canonical text form of an IP address (IPv4-mapped IPv6 becomes IPv4); null if not an IP. */
export function normaliseIp(ip: string | null | undefined): string | null {
  if (!ip) return null;
  let s = ip.trim();
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1);
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(s);
  if (mapped) s = mapped[1];
  const family = isIP(s);
  if (family === 4) return s;
  if (family === 6) {
    // URL parsing yields the RFC 5952 canonical form (lower case, zero runs compressed), in which
    // an IPv4-mapped address however spelt (`::ffff:102:304`, `0:0:0:0:0:ffff:1.2.3.4`) is `::ffff:102:304`.
    let v6: string;
    try { v6 = new URL(`http://[${s}]`).hostname.slice(1, -1); } catch { return null; }
    const hex = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(v6);
    if (!hex) return v6;
    const [hi, lo] = [parseInt(hex[1], 16), parseInt(hex[2], 16)];
    return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  }
  return null;
}

/**
 * The first `groups` 16-bit groups of a canonical IPv6 address as text (`2001:db8:0` for its /48),
 * or the first `octets` octets of an IPv4 one (`203.0.113` for its /24): a network key that is the
 * same for every address of the network, however the canonical form compressed its zeros
 * (`2001:db8::5` and `2001:db8:0:1::5` are both in `2001:db8:0`). Cheap: no parsing unless a zero
 * run falls inside the prefix.
 */
export function networkPrefix(ip: string, octets: 2 | 3, groups: 2 | 3): string {
  if (ip.indexOf(':') < 0) {
    let at = -1;
    for (let i = 0; i < octets; i++) { at = ip.indexOf('.', at + 1); if (at < 0) return ip; }
    return ip.slice(0, at);
  }
  const zeros = ip.indexOf('::');
  let end = -1;
  for (let i = 0; i < groups; i++) {
    end = ip.indexOf(':', end + 1);
    if (end < 0) break;
  }
  // No compressed run before the prefix's end: the text already spells the prefix's groups.
  if (zeros < 0 || (end >= 0 && zeros >= end)) return end < 0 ? ip : ip.slice(0, end);
  const head = zeros === 0 ? [] : ip.slice(0, zeros).split(':');
  const tailText = ip.slice(zeros + 2);
  const tail = tailText === '' ? [] : tailText.split(':');
  // An embedded IPv4 tail (`64:ff9b::1.2.3.4`) fills two groups.
  const tailGroups = tail.length + (tail.length > 0 && tail[tail.length - 1].includes('.') ? 1 : 0);
  const all = [...head, ...Array<string>(Math.max(0, 8 - head.length - tailGroups)).fill('0'), ...tail];
  return all.slice(0, groups).join(':');
}
