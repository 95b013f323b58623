/**
 * What `server.trusted_proxies` may hold: addresses, CIDRs (or an IPv4 address with its netmask)
 * and the named ranges. Here, not in the gateway that uses them, so that validating warden.yaml
 * needs nothing of the gateway (src/gateway/client-address.ts builds its trust test from these).
 */
import { isIPv4 } from 'node:net';
import { normaliseIp } from '../events/ip.ts';

/** Names proxy lists may use for well-known ranges (as Express and Fastify accept them). */
export const NAMED_RANGES: Record<string, string[]> = {
  loopback: ['127.0.0.0/8', '::1/128'],
  linklocal: ['169.254.0.0/16', 'fe80::/10'],
  uniquelocal: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'],
};

/** A `server.trusted_proxies` entry as a network (address, prefix length, family); null if it is none. */
export function proxyNetwork(entry: string): { addr: string; bits: number; family: 'ipv4' | 'ipv6' } | null {
  const [addrText, bitsText, extra] = entry.trim().split('/');
  if (extra !== undefined || addrText.includes('[')) return null;
  const addr = normaliseIp(addrText);
  if (addr === null) return null;
  const family = isIPv4(addr) ? 'ipv4' : 'ipv6';
  // Written as IPv4-mapped IPv6 (::ffff:10.0.0.0/104): hops are folded to IPv4 before the test.
  const folded = family === 'ipv4' && !isIPv4(addrText);
  const max = family === 'ipv4' ? 32 : 128;
  let bits = max;
  if (bitsText !== undefined) {
    if (/^\d{1,3}$/.test(bitsText)) bits = Number(bitsText) - (folded ? 96 : 0);
    else if (!folded && family === 'ipv4' && isIPv4(bitsText)) bits = netmaskBits(bitsText);
    else return null;
  }
  return bits >= 0 && bits <= max ? { addr, bits, family } : null;
}

/** 255.255.240.0 -> 20; -1 when the ones are not contiguous. */
function netmaskBits(mask: string): number {
  const n = mask.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
  for (let bits = 0; bits <= 32; bits++) if (n === 2 ** 32 - 2 ** (32 - bits)) return bits;
  return -1;
}

/** Why a `server.trusted_proxies` entry cannot be used; null when it can. */
export function trustedProxyProblem(entry: string): string | null {
  if (NAMED_RANGES[entry.trim()] || proxyNetwork(entry)) return null;
  return `"${entry}" is not an IP address, a CIDR (10.0.0.0/8), or loopback, linklocal or uniquelocal`;
}

