/**
 * Network scope subjects: the client IP normalised (IPv4-mapped IPv6 becomes IPv4), its subnet
 * (/24 or /64 by default) and CIDR matching for network overrides.
 */
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { expandedIp, subnetOf } from '../events/index.ts';

// Limit keys spell an address fully expanded (`expandedIp`); the subnet of an address is spelt in
// events, which the gateway and the dashboard use too.
export { expandedIp, subnetOf };

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
