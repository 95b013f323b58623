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
