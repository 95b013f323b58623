/**
 * The traffic generator's public face: build a population from a scenario and stream its events
 * in time order. `generateTraffic` is a plain synchronous iterator (fast, bounded memory); the
 * simulate and redteam modes are built on it.
 */
import type { InteractionEvent } from '../events/index.ts';
import { Engine } from './engine.ts';
import { loadPromptCorpus, type PromptCorpus } from './prompts.ts';
import { buildPopulation, type AccountLabel, type SimAccount } from './population.ts';
import type { CampaignKind, Scenario } from './scenario.ts';

export interface CampaignLabel {
  type: 'campaign';
  campaign_id: string;
  campaign_kind: CampaignKind;
  adaptive: boolean;
  accounts: number;
  start: string;
  end: string;
  target_interactions: number;
  /** Model the campaign pivots to and when (null if it does not). */
  pivot: { model: string; at: string; share: number } | null;
}

export interface ScenarioLabel {
  type: 'scenario';
  /** Label file format version. */
  schema: 'warden.labels/1';
  name: string;
  seed: number | string;
  start: string;
  end: string;
  organic_accounts: number;
  campaign_accounts: number;
}

export type LabelLine = ScenarioLabel | CampaignLabel | AccountLabel;

export interface TrafficRun {
  scenario: Scenario;
  accounts: SimAccount[];
  /** Label lines: one scenario line, one per campaign, one per account. */
  labels: LabelLine[];
  /** Time-ordered events. Single use. */
  events: Iterable<InteractionEvent>;
  engine: Engine;
}

/** Label lines for a population. */
export function buildLabels(scenario: Scenario, accounts: SimAccount[]): LabelLine[] {
  const out: LabelLine[] = [];
  const campaignAccounts = accounts.filter((a) => a.campaign).length;
  out.push({
    type: 'scenario', schema: 'warden.labels/1', name: scenario.name, seed: scenario.seed,
    start: new Date(scenario.startMs).toISOString(), end: new Date(scenario.endMs).toISOString(),
    organic_accounts: accounts.length - campaignAccounts, campaign_accounts: campaignAccounts,
  });
  const seen = new Set<string>();
  for (const a of accounts) {
    const rt = a.campaign;
    if (!rt || seen.has(rt.config.id)) continue;
    seen.add(rt.config.id);
    out.push({
      type: 'campaign', campaign_id: rt.config.id, campaign_kind: rt.config.kind, adaptive: rt.config.adaptive,
      accounts: rt.config.accounts, start: new Date(rt.startMs).toISOString(), end: new Date(rt.endMs).toISOString(),
      target_interactions: rt.config.interactions,
      pivot: rt.pivotModel && rt.pivotAtMs !== null ? { model: rt.pivotModel, at: new Date(rt.pivotAtMs).toISOString(), share: rt.config.pivot!.share } : null,
    });
  }
  for (const a of accounts) out.push(a.label);
  return out;
}

/** Build the population of a scenario and an iterator over its events. */
export function generateTraffic(scenario: Scenario, opts: { prompts?: PromptCorpus | string } = {}): TrafficRun {
  const prompts = typeof opts.prompts === 'object' ? opts.prompts : loadPromptCorpus(opts.prompts);
  const accounts = buildPopulation(scenario);
  const engine = new Engine(scenario, accounts, { prompts });
  return { scenario, accounts, labels: buildLabels(scenario, accounts), events: engine.events(), engine };
}
