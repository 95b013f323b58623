// A whole `warden serve` for tests (SQLite in a temporary folder, the built-in mock): admin calls,
// accounts with keys, and the stored events a test waits for.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig, type WardenConfig } from '../../src/config/index.ts';
import { startWarden, type RunningWarden } from '../../src/cli/serve.ts';
import type { InteractionEvent } from '../../src/events/index.ts';

export interface TestWarden {
  w: RunningWarden;
  url: string;
  /** The configuration it runs with (for commands that read it: `warden ledger verify`). */
  config: WardenConfig;
  /** POST (or `method`) to the admin API; fails the test on an error status. */
  admin(path: string, body: object, method?: string): Promise<any>;
  /** A new account of `tier` and an API key for it. */
  account(name: string, tier: string): Promise<{ id: string; key: string }>;
  /** The stored events `keep` selects, once there are `n` of them (events are written off the request path). */
  events(keep: (e: InteractionEvent) => boolean, n?: number, ms?: number): Promise<InteractionEvent[]>;
  close(): Promise<void>;
}

export const TEST_ADMIN_TOKEN = 'adm_test_warden_token_0123456789ab';

/** Start Warden with `settings` merged over a quiet test configuration (no mock latency unless given); `log` gets its start-up notes. */
export async function startTestWarden(settings: Record<string, unknown> = {}, opts: { log?: (line: string) => void } = {}): Promise<TestWarden> {
  const dir = mkdtempSync(join(tmpdir(), 'warden-test-'));
  const config = parseConfig({
    server: { port: 0 }, store: { sqlite_path: join(dir, 'warden.db') }, log: { level: 'silent' }, admin: { token: TEST_ADMIN_TOKEN },
    mock: { latency_ms: 0, tokens_per_second: 0 },
    ...settings,
    // Test clients are local: the installed IP tables load only for a test that looks up a public address.
    policy: { ...(settings.policy as object | undefined), geo: { load_packaged: 'first_public_client', ...(settings.policy as { geo?: object } | undefined)?.geo } },
  });
  const w = await startWarden(config, { demo: false, log: opts.log ?? (() => {}) });
  const admin = async (path: string, body: object, method = 'POST') => {
    const r = await fetch(`${w.url}/admin${path}`, { method, headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    assert.ok(r.status < 300, `${path}: ${r.status} ${await r.clone().text()}`);
    return r.json() as Promise<any>;
  };
  return {
    w, url: w.url, config, admin,
    async account(name, tier) {
      const account = await admin('/accounts', { name, email: `${name}@example.org`, tier });
      return { id: account.id as string, key: (await admin(`/accounts/${account.id}/keys`, { name: 'k' })).secret as string };
    },
    async events(keep, n = 1, ms = 5000) {
      const deadline = Date.now() + ms;
      for (;;) {
        await w.gateway.recorder.flush();
        const out: InteractionEvent[] = [];
        for await (const e of w.stores.events.iterate()) if (keep(e)) out.push(e);
        if (out.length >= n || Date.now() > deadline) return out;
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async close() {
      await w.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
