/**
 * The client's address, as geography, network limits, batches and the event know it: the socket
 * peer or, from `server.trusted_proxies`, the nearest X-Forwarded-For hop that is not a trusted
 * proxy. Every hop is read as an address: the port some proxies write (`203.0.113.9:41234`,
 * `[2001:db8::1]:443`) is dropped and IPv4-mapped IPv6 is folded to IPv4, so neither a new port
 * nor another spelling of one address makes a new client (with its own limits) or hides its
 * country. A hop that is no address at all (`unknown`, garbage) is not believed: the client is then
 * the trusted hop that wrote it (the proxy itself), so all such requests share that one address
 * and its limits rather than each escaping them.
 */
import type { IncomingMessage } from 'node:http';
import { BlockList, isIPv4 } from 'node:net';
import type { FastifyRequest } from 'fastify';
import { normaliseIp } from '../events/ip.ts';
import { NAMED_RANGES, proxyNetwork, trustedProxyProblem } from '../config/trusted-proxies.ts';

/** An X-Forwarded-For hop or a socket address as a canonical IP address; null when it is none. */
export function hopAddress(hop: string): string | null {
  let s = hop.trim();
  if (s.startsWith('[')) {
    // [v6] or [v6]:port
    const close = s.indexOf(']');
    if (close < 0 || !/^(:\d{1,5})?$/.test(s.slice(close + 1))) return null;
    s = s.slice(1, close);
  } else {
    // a.b.c.d:port (a bare IPv6 address has several colons and no port)
    const colon = s.indexOf(':');
    if (colon > 0 && colon === s.lastIndexOf(':') && /^\d{1,5}$/.test(s.slice(colon + 1)) && isIPv4(s.slice(0, colon))) s = s.slice(0, colon);
  }
  return normaliseIp(s);
}

/** A socket peer address, canonical (IPv4-mapped folded); as given if it cannot be read. */
export function peerAddress(addr: string | undefined): string {
  if (!addr) return '';
  return hopAddress(addr) ?? addr;
}

/**
 * The trust test for the proxy walk (Fastify's `trustProxy`): is this hop one of the trusted
 * proxies? Hops are read as addresses first (port dropped, IPv4-mapped folded), so a trusted
 * proxy written with its port is still recognised; a hop that is no address is never trusted.
 */
export function proxyTrust(entries: readonly string[]): (hop: string) => boolean {
  const list = new BlockList();
  for (const entry of entries.flatMap((e) => NAMED_RANGES[e.trim()] ?? [e])) {
    const net = proxyNetwork(entry);
    if (!net) throw new Error(`server.trusted_proxies: ${trustedProxyProblem(entry)}`);
    list.addSubnet(net.addr, net.bits, net.family);
  }
  return (hop) => {
    const addr = hopAddress(hop);
    return addr !== null && list.check(addr, isIPv4(addr) ? 'ipv4' : 'ipv6');
  };
}

/**
 * The hops of a request as Fastify lists them behind trusted proxies (`req.ips`): the socket
 * peer, then each X-Forwarded-For hop from the nearest, up to and including the first that is not
 * a trusted proxy.
 */
export function forwardedHops(peer: string | undefined, forwardedFor: string | string[] | undefined, trust: (hop: string) => boolean): string[] {
  const hops = [peer ?? ''];
  if (typeof forwardedFor === 'string') {
    const listed = forwardedFor.split(',');
    for (let i = listed.length - 1; i >= 0; i--) if (listed[i].trim()) hops.push(listed[i].trim());
  }
  for (let i = 0; i < hops.length - 1; i++) if (!trust(hops[i])) { hops.length = i + 1; break; }
  return hops;
}

let warnedUnreadableHop = false;

/**
 * The client among the hops (undefined or one hop: no trusted proxy in front, the peer is the
 * client): the last hop, or the trusted hop before it when it is no address.
 */
function clientOfHops(hops: readonly string[] | undefined, peer: string | undefined, log: { warn(obj: object, msg: string): void }): string {
  if (!hops || hops.length < 2) return peerAddress(peer);
  const client = hopAddress(hops[hops.length - 1]);
  if (client !== null) return client;
  if (!warnedUnreadableHop) {
    warnedUnreadableHop = true;
    log.warn({ hop: hops[hops.length - 1].slice(0, 64), proxy: hops[hops.length - 2] },
      'X-Forwarded-For from a trusted proxy names a client that is not an IP address; the proxy\'s address is used (logged once)');
  }
  return peerAddress(hops[hops.length - 2]);
}

/** The client's address for a request (see the module comment). */
export function clientAddress(req: FastifyRequest): string {
  // With trusted proxies Fastify lists the hops they vouched for (`req.ips`); without, none.
  return clientOfHops((req as { ips?: string[] }).ips, req.socket?.remoteAddress ?? req.ip, req.log);
}

/**
 * The same for a request Fastify never sees (one refused while the gateway closes), read from the
 * raw request with the trust test given to Fastify (null: no trusted proxies).
 */
export function rawClientAddress(req: IncomingMessage, trust: ((hop: string) => boolean) | null, log: { warn(obj: object, msg: string): void }): string {
  const peer = req.socket?.remoteAddress;
  return clientOfHops(trust ? forwardedHops(peer, req.headers['x-forwarded-for'], trust) : undefined, peer, log);
}
