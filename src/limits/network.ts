/**
 * Network scope subjects: the client IP normalised (IPv4-mapped IPv6 becomes IPv4), its subnet
 * (/24 or /64 by default) and CIDR matching for network overrides.
 */
import { BlockList, isIPv4, isIPv6 } from 'node:net';

/** `::ffff:1.2.3.4` -> `1.2.3.4`; IPv6 lower-cased and fully expanded; anything else as given. */
export function normaliseIp(ip: string): string {
  if (ip.startsWith('::ffff:') && isIPv4(ip.slice(7))) return ip.slice(7);
  if (isIPv6(ip)) return expandIpv6(ip).map((g) => g.toString(16)).join(':');
  return ip;
}

/** The subnet an address belongs to, as `a.b.c.0/24` or `2001:db8:0:0::/64`. */
export function subnetOf(ip: string, v4Prefix: number, v6Prefix: number): string {
  const addr = normaliseIp(ip);
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

function expandIpv6(ip: string): number[] {
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

/** True when the subject names a network (`1.2.3.0/24`, `2001:db8::/32`) rather than one address. */
export function isCidr(subject: string): boolean {
  const slash = subject.indexOf('/');
  if (slash < 0) return false;
  const addr = subject.slice(0, slash);
  const bits = Number(subject.slice(slash + 1));
  return Number.isInteger(bits) && ((isIPv4(addr) && bits >= 0 && bits <= 32) || (isIPv6(addr) && bits >= 0 && bits <= 128));
}

/** A set of CIDRs (or single addresses) tested with node's BlockList. */
export class CidrMatcher {
  private readonly list = new BlockList();
  readonly prefix: number;
  constructor(readonly cidr: string) {
    const [addr, bitsText] = cidr.split('/');
    const family = isIPv4(addr) ? 'ipv4' : 'ipv6';
    this.prefix = bitsText === undefined ? (family === 'ipv4' ? 32 : 128) : Number(bitsText);
    this.list.addSubnet(addr, this.prefix, family);
  }
  /** Does this network contain the address (or, for a subnet subject, its base address)? */
  contains(ipOrSubnet: string): boolean {
    const addr = ipOrSubnet.split('/')[0];
    const family = isIPv4(addr) ? 'ipv4' : isIPv6(addr) ? 'ipv6' : null;
    return family !== null && this.list.check(addr, family);
  }
}
