/**
 * How the operator commands that talk to a running Warden (`warden detect`, `warden cases`,
 * `warden intel`) find its admin API and token.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { loadConfig, resolveSecret } from '../config/index.ts';
import { HttpAdminClient, cliActor } from '../admin/index.ts';
import { WardenError } from '../errors/index.ts';

export const CONNECTION_HELP = `  --url URL       the Warden to ask (or WARDEN_ADMIN_URL; default http://127.0.0.1:<server.port>)
  --token TOKEN   admin token (or WARDEN_ADMIN_TOKEN, config admin.token, or the token file
                  \`warden serve\` keeps beside its SQLite database)
  -c, --config F  configuration file (default warden.yaml / WARDEN_CONFIG)
  --json          print JSON`;

export const CONNECTION_OPTIONS = {
  url: { type: 'string' }, token: { type: 'string' }, config: { type: 'string', short: 'c' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
} as const;

export function openAdminClient(v: { url?: string; token?: string; config?: string }, env: NodeJS.ProcessEnv): HttpAdminClient {
  const config = loadConfig(v.config, env);
  const url = v.url ?? env.WARDEN_ADMIN_URL ?? `http://127.0.0.1:${config.server.port}`;
  let token = v.token ?? env.WARDEN_ADMIN_TOKEN ?? resolveSecret(config.admin.token, env) ?? null;
  if (!token && config.store.driver === 'sqlite') {
    const file = join(dirname(resolve(config.store.sqlite_path)), 'admin-token');
    if (existsSync(file)) token = readFileSync(file, 'utf8').trim();
  }
  if (!token) throw new WardenError('WARDEN_ADMIN_UNAUTHORIZED', 'an admin token is needed: pass --token or set WARDEN_ADMIN_TOKEN');
  // Changes are recorded as the CLI's user made them, as `warden admin` records them.
  return new HttpAdminClient(url, token, { actor: cliActor() });
}
