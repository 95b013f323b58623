/**
 * Two hydra campaigns on separate proxies and client software (so the detector keeps them apart),
 * then one account that behaves as a member of both: `before` makes two campaigns, `bridge` merges them.
 * The bridge is one account with one set of signup facts: the first campaign's card and signup
 * burst, and a signup address of the second campaign's proxy (the operator signed it up through
 * that fleet's exit). Its traffic then runs through both fleets' proxies and software. Proxy traffic
 * alone would not tie it to the second campaign: some of that campaign's accounts are established,
 * and network evidence does not link an established account without a shared signup fact.
 */
import { readFileSync } from 'node:fs';
import { buildLabelledEvents, type PromptPool } from '../../src/detect/index.ts';
import type { InteractionEvent } from '../../src/events/index.ts';

export function twoCampaignsThenBridge(): { before: InteractionEvent[]; bridge: InteractionEvent[] } {
  const pool = JSON.parse(readFileSync(new URL('../fixtures/detect/prompts.json', import.meta.url), 'utf8')) as PromptPool;
  const s = buildLabelledEvents(pool, { seed: 11, days: 2, organic: { hobbyist: 10 }, campaigns: [{ kind: 'hydra', accounts: 12 }, { kind: 'hydra', accounts: 12 }] });
  const second = new Set(s.labels.campaigns.camp_hydra_2.accounts);
  const before = s.events.map((x) => (second.has(x.account_id!) ? JSON.parse(JSON.stringify(x)
    .replace(/"45\.(\d+)\./g, '"77.$1.').replace(/python-httpx\/0.27.0/g, 'python-requests/2.31.0').replace(/"asn":(\d+)/g, '"asn":7$1')) as InteractionEvent : x));
  const a = s.labels.campaigns.camp_hydra_1.accounts[0]; const b = s.labels.campaigns.camp_hydra_2.accounts[0];
  const endMs = Date.parse(before.at(-1)!.ts);
  const facts = { ...before.find((x) => x.account_id === a)!.account!, signup_ip: before.find((x) => x.account_id === b)!.account!.signup_ip };
  const bridge = [...before.filter((x) => x.account_id === a).slice(-8), ...before.filter((x) => x.account_id === b).slice(-8)]
    .map((x, n) => ({ ...x, id: `${x.id}-bridge`, account_id: 'acct_bridge', key_id: 'key_bridge', account: facts, ts: new Date(endMs + (n + 1) * 60_000).toISOString() }));
  return { before, bridge };
}
