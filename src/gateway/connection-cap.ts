/**
 * Caps on open connections (`server.max_connections`, `server.max_connections_per_ip`): a
 * connection past either is closed as it is accepted, before a byte of it is read, so that slow or
 * idle connections from one client (or from many) cannot take every socket and file descriptor the
 * process has: those its upstream calls, its databases and its other clients need.
 *
 * The address counted per client is the socket peer, read as the gateway reads addresses (port
 * dropped, IPv4-mapped IPv6 folded). A peer that is one of `server.trusted_proxies` is not capped
 * per address: every client behind it shares its address, and which client a connection carries is
 * only known from its X-Forwarded-For, after it is read. The proxy caps its own clients; the
 * total cap still counts its connections.
 */
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { peerAddress, proxyTrust } from './client-address.ts';

export type ConnectionRefusal = 'total' | 'per_ip';

export interface ConnectionCapOptions {
  /** Connections open at once at most (0: no cap). */
  maxConnections: number;
  /** Connections open at once from one address at most (0: no cap). */
  maxPerIp: number;
  trustedProxies: readonly string[];
  /** A connection was refused (count it, say it). */
  onRefused(reason: ConnectionRefusal, address: string): void;
}

export class ConnectionCap {
  private open = 0;
  private readonly perIp = new Map<string, number>();
  private readonly trusted: ((hop: string) => boolean) | null;

  constructor(private readonly opts: ConnectionCapOptions) {
    this.trusted = opts.trustedProxies.length ? proxyTrust(opts.trustedProxies) : null;
  }

  /** Connections open now (refused ones not counted). */
  get connections(): number { return this.open; }

  /** Watch `server`'s connections: each is counted until it closes, or closed at once past a cap. */
  attach(server: Server): void {
    if (!this.opts.maxConnections && !this.opts.maxPerIp) {
      server.on('connection', (socket: Socket) => { this.open++; socket.once('close', () => { this.open--; }); });
      return;
    }
    server.on('connection', (socket: Socket) => this.admit(socket));
  }

  private admit(socket: Socket): void {
    const { maxConnections, maxPerIp } = this.opts;
    const address = peerAddress(socket.remoteAddress);
    const capped = maxPerIp > 0 && address !== '' && !(this.trusted && this.trusted(address));
    let refusal: ConnectionRefusal | null = null;
    if (maxConnections > 0 && this.open >= maxConnections) refusal = 'total';
    else if (capped && (this.perIp.get(address) ?? 0) >= maxPerIp) refusal = 'per_ip';
    if (refusal) {
      // Nothing is read from it, nothing is answered: the client sees the connection closed.
      socket.destroy();
      this.opts.onRefused(refusal, address);
      return;
    }
    this.open++;
    if (capped) this.perIp.set(address, (this.perIp.get(address) ?? 0) + 1);
    socket.once('close', () => {
      this.open--;
      if (!capped) return;
      const n = (this.perIp.get(address) ?? 1) - 1;
      if (n <= 0) this.perIp.delete(address); else this.perIp.set(address, n);
    });
  }
}
