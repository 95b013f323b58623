/**
 * What `server.health_listen` may hold: `host:port`, an IPv6 host in brackets (`[::]:9090`), or
 * `:port` for every address. Here, not in the gateway that listens on it, so that validating
 * warden.yaml needs nothing of the gateway.
 */
import { isIP } from 'node:net';

export interface ListenAddress { host: string; port: number }

/** `host:port` as the address to listen on, or why it is none. */
export function parseListenAddress(text: string): ListenAddress | { problem: string } {
  const none = { problem: `"${text}" is not host:port (127.0.0.1:9090, 0.0.0.0:9090, [::]:9090, :9090)` };
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text.trim());
  if (!m) return none;
  const port = Number(m[3]);
  if (port > 65535) return none;
  if (m[1] !== undefined) return isIP(m[1]) === 6 ? { host: m[1], port } : none;
  const host = m[2];
  // No host: every address, as Node listens without one (IPv6 and IPv4 where the system has both).
  if (host === '') return { host: '::', port };
  if (isIP(host) === 4 || /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/i.test(host)) return { host, port };
  return none;
}
