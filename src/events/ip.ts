/**
 * The canonical text form of IP addresses, as events record them (`client.ip`, `account.signup_ip`)
 * and as every lookup by address must spell them: one address, one spelling, so that
 * `::ffff:127.0.0.1` from a dual-stack proxy and `127.0.0.1` are the same client. Used by the
 * gateway (client-address.ts), identity, and the audit queries (events export, ledger query). Also
 * the network keys derived from addresses: the detector's (`networkPrefix`), and the limits' and the
 * dashboard's subnets (`subnetOf`, on the fully expanded spelling of limit keys).
 */
import { isIP, isIPv4, isIPv6 } from 'node:net';

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

/** `::ffff:1.2.3.4` -> `1.2.3.4`; IPv6 lower-cased and fully expanded (the spelling of limit keys); anything else as given. */
export function expandedIp(ip: string): string {
  if (ip.startsWith('::ffff:') && isIPv4(ip.slice(7))) return ip.slice(7);
  if (isIPv6(ip)) return expandIpv6(ip).map((g) => g.toString(16)).join(':');
  return ip;
}

/** The subnet an address belongs to, as `a.b.c.0/24` or `2001:db8:0:0::/64`. */
export function subnetOf(ip: string, v4Prefix: number, v6Prefix: number): string {
  const addr = expandedIp(ip);
  if (isIPv4(addr)) {
    const n = addr.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
    const size = 2 ** (32 - v4Prefix);
    const base = Math.floor(n / size) * size;
    return `${[base >>> 24 & 255, base >>> 16 & 255, base >>> 8 & 255, base & 255].join('.')}/${v4Prefix}`;
  }
  if (isIPv6(addr)) {
    const groups = expandIpv6(addr);
    let bits = v6Prefix;
    const out = groups.map((g) => {
      const keep = Math.max(0, Math.min(16, bits));
      bits -= 16;
      return keep === 16 ? g : keep === 0 ? 0 : g & (0xffff << (16 - keep)) & 0xffff;
    });
    return `${out.map((g) => g.toString(16)).join(':')}/${v6Prefix}`;
  }
  return addr;
}

/** The eight 16-bit groups of an IPv6 address (embedded IPv4 tails and zones read). */
export function expandIpv6(ip: string): number[] {
  let text = ip.toLowerCase();
  const zone = text.indexOf('%');
  if (zone >= 0) text = text.slice(0, zone);
  // Embedded IPv4 tail (::ffff:1.2.3.4, 64:ff9b::1.2.3.4).
  const lastColon = text.lastIndexOf(':');
  const tail = text.slice(lastColon + 1);
  if (tail.includes('.')) {
    const o = tail.split('.').map(Number);
    text = `${text.slice(0, lastColon + 1)}${((o[0] << 8) | o[1]).toString(16)}:${((o[2] << 8) | o[3]).toString(16)}`;
  }
  const [head, rest] = text.split('::');
  const h = head ? head.split(':') : [];
  const r = rest !== undefined && rest !== '' ? rest.split(':') : [];
  const fill = rest === undefined ? [] : new Array(8 - h.length - r.length).fill('0');
  return [...h, ...fill, ...r].map((g) => parseInt(g, 16) || 0);
}

