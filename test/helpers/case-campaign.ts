/**
 * For tests: one provider's detector after two days of a hydra campaign among organic customers
 * (the committed prompt fixtures), its events stored, and a case opened on the campaign.
 */
import { readFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { mountAdminRoutes } from '../../src/admin/router.ts';
import { DetectorEngine, MemoryDetectOverridesStore, SharedIndicators, buildLabelledEvents, detectAdminRoutes, type PromptPool } from '../../src/detect/index.ts';
import { openSqlite, SqliteEventStore } from '../../src/store/index.ts';
import type { InteractionEvent } from '../../src/events/index.ts';
import { buildCaseFile } from '../../src/cases/case-file.ts';
import { casesAdminRoutes, DEFAULT_CASE_LIMITS, SqliteCaseStore } from '../../src/cases/index.ts';

export async function campaignFixture() {
  const pool = JSON.parse(readFileSync(new URL('../fixtures/detect/prompts.json', import.meta.url), 'utf8')) as PromptPool;
  const scenario = buildLabelledEvents(pool, {
    seed: 5, days: 2,
    organic: { hobbyist: 40, startup: 2, agent: 2, researcher: 1 },
    campaigns: [{ kind: 'hydra', accounts: 30 }],
  });
  const campaignAccounts = new Set(Object.entries(scenario.labels.accounts).filter(([, l]) => l.startsWith('campaign:')).map(([id]) => id));
  const dir = mkdtempSync(join(tmpdir(), 'warden-cases-'));
  const engine = new DetectorEngine();
  for (const ev of scenario.events) engine.ingest(ev);
  engine.flush();
  const events = new SqliteEventStore(openSqlite(join(dir, 'events.db')));
  await events.appendBatch(scenario.events);
  const campaign = engine.campaigns()[0];
  const built = (await buildCaseFile({ engine, events }, campaign.id))!;
  return { scenario, campaignAccounts, KEY_A: 'partners-exchange-key-2026', dir, engine, events, campaign, built };
}

/**
 * A small hydra (12 accounts, two days, among hobbyists) whose members' events `alter` changes, run
 * through a detector and stored in memory, and the case file of the campaign it finds (undefined
 * if none).
 */
export async function smallCampaignCase(alter: (e: InteractionEvent, first: InteractionEvent) => InteractionEvent) {
  const pool = JSON.parse(readFileSync(new URL('../fixtures/detect/prompts.json', import.meta.url), 'utf8')) as PromptPool;
  const scenario = buildLabelledEvents(pool, { seed: 5, days: 2, organic: { hobbyist: 10 }, campaigns: [{ kind: 'hydra', accounts: 12 }] });
  const members = new Set(scenario.labels.campaigns.camp_hydra_1.accounts);
  const events = scenario.events.map((e) => (members.has(e.account_id!) ? alter(e, scenario.events[0]) : e));
  const engine = new DetectorEngine();
  for (const ev of events) engine.ingest(ev);
  engine.flush();
  const store = new SqliteEventStore(openSqlite(':memory:'));
  await store.appendBatch(events);
  const campaign = engine.campaigns()[0];
  return { events, campaign, engine, store, caseFile: campaign && (await buildCaseFile({ engine, events: store }, campaign.id))! };
}

/** The campaign reaching provider B: the same people, cards and networks, new account ids. */
export function atProviderB(evs: readonly InteractionEvent[]): InteractionEvent[] {
  return evs.map((e) => ({ ...e, id: `b_${e.id}`, account_id: `b_${e.account_id}`, org_id: e.org_id ? `b_${e.org_id}` : null }));
}

/** Provider B's detector after each account's first request there (what a shared indicator has to catch), and those requests by account. */
export function firstRequestsAtProviderB(evs: readonly InteractionEvent[], intel: SharedIndicators): { engine: DetectorEngine; firsts: Map<string, InteractionEvent> } {
  const engine = new DetectorEngine({ intel });
  const firsts = new Map<string, InteractionEvent>();
  for (const e of atProviderB(evs)) if (!firsts.has(e.account_id!)) firsts.set(e.account_id!, e);
  for (const e of firsts.values()) engine.ingest(e);
  engine.flush();
  return { engine, firsts };
}

/**
 * The detector's and the cases' admin routes over `campaignFixture()`, with an operator's
 * overrides store whose decisions the cases read, listening on a port of its own; `call` sends a
 * request as `actor` (the dashboard's `x-warden-actor`).
 */
export async function casesAdminOver(fx: Awaited<ReturnType<typeof campaignFixture>>, dbFile: string, actor: string) {
  const { engine, events, dir, KEY_A } = fx;
  const overrides = new MemoryDetectOverridesStore();
  const app = Fastify();
  await app.register(async (admin) => {
    mountAdminRoutes(admin, [
      detectAdminRoutes(engine, { prefix: '/detect', overrides }),
      casesAdminRoutes({
        store: new SqliteCaseStore(openSqlite(join(dir, dbFile))), intel: new SharedIndicators(KEY_A), sharingKey: KEY_A, provider: 'Provider A',
        importLevel: 'throttle', exportValidDays: 90, sources: { engine, events, decisions: () => overrides.list() }, limits: DEFAULT_CASE_LIMITS,
      }),
    ], { validateResponses: true });
  }, { prefix: '/admin' });
  const base = await app.listen({ port: 0, host: '127.0.0.1' });
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(base + path, { method, headers: { 'x-warden-actor': actor, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, body: (res.headers.get('content-type') ?? '').includes('json') ? JSON.parse(text) : text as any };
  };
  return { call, close: () => app.close() };
}
