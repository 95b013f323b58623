/**
 * Scenario: every knob of the traffic model, validated, with per-kind defaults and presets.
 * A scenario file (YAML or JSON) may name a preset and override any key; CLI flags override the
 * file (`--set campaigns.0.accounts=500`). Documented in docs/traffic-model.md.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { issueLines } from '../config/index.ts';

/** Parse with `schema`, or throw an error listing every bad key under `prefix`, one per line. */
function parseOr<T>(schema: z.ZodType<T>, value: unknown, prefix: string): T {
  const r = schema.safeParse(value);
  if (!r.success) throw new Error(`invalid scenario:\n${issueLines(r.error.issues, prefix)}`);
  return r.data;
}

export const ORGANIC_KINDS = ['hobbyist', 'developer', 'startup', 'enterprise', 'researcher', 'batch', 'agent', 'education'] as const;
export type OrganicKind = (typeof ORGANIC_KINDS)[number];
export const CAMPAIGN_KINDS = ['hydra', 'surgical', 'agentic', 'pivot', 'adaptive', 'logit', 'embed'] as const;
export type CampaignKind = (typeof CAMPAIGN_KINDS)[number];
export const TASK_KINDS = ['cot', 'math', 'code', 'agentic', 'rubric', 'rewrite', 'chat'] as const;
export type TaskKind = (typeof TASK_KINDS)[number];

const Weights = <K extends string>(keys: readonly K[]) =>
  z.object(Object.fromEntries(keys.map((k) => [k, z.number().min(0).default(0)])) as Record<K, z.ZodDefault<z.ZodNumber>>);

export const ModelSpec = z.object({
  name: z.string().min(1),
  family: z.enum(['openai', 'anthropic']),
  /** Supports reasoning effort / extended thinking. */
  reasoning: z.boolean().default(true),
  /** Relative popularity among organic users (before adoption of newer models). */
  popularity: z.number().min(0).default(1),
  /** Day (from scenario start) the model is released; null: available throughout. */
  released_day: z.number().nullable().default(null),
});
export type ModelSpec = z.infer<typeof ModelSpec>;

export const OrganicKindConfig = z.object({
  /** Share of organic accounts of this kind. */
  share: z.number().min(0),
  /** Median activity per account per day: sessions (people), tasks (agents), jobs (batch), runs (evals). */
  sessions_per_day: z.number().positive(),
  /** Spread across accounts (log-space sigma): the heavy tail of volume. */
  sigma: z.number().min(0),
  /** Mean requests per session (turns, agent steps; for batch/eval: records or questions per run). */
  turns_mean: z.number().min(1),
  /** Accounts per organisation, cohort or lab [min, max]. */
  group: z.tuple([z.number().int().min(1), z.number().int().min(1)]),
  /** Days until a new model is adopted (mean of an exponential per account). */
  adoption_days: z.number().positive(),
});
export type OrganicKindConfig = z.infer<typeof OrganicKindConfig>;

export const ORGANIC_DEFAULTS: Record<OrganicKind, OrganicKindConfig> = {
  hobbyist: { share: 0.40, sessions_per_day: 0.35, sigma: 1.1, turns_mean: 3, group: [1, 1], adoption_days: 10 },
  developer: { share: 0.24, sessions_per_day: 1.6, sigma: 1.0, turns_mean: 4, group: [1, 1], adoption_days: 3 },
  startup: { share: 0.06, sessions_per_day: 120, sigma: 1.1, turns_mean: 2.5, group: [1, 4], adoption_days: 6 },
  enterprise: { share: 0.10, sessions_per_day: 1.8, sigma: 0.8, turns_mean: 3, group: [8, 60], adoption_days: 20 },
  researcher: { share: 0.05, sessions_per_day: 0.25, sigma: 0.8, turns_mean: 400, group: [1, 5], adoption_days: 2 },
  batch: { share: 0.03, sessions_per_day: 0.5, sigma: 0.9, turns_mean: 1500, group: [1, 1], adoption_days: 30 },
  agent: { share: 0.03, sessions_per_day: 150, sigma: 1.2, turns_mean: 7, group: [1, 2], adoption_days: 5 },
  education: { share: 0.09, sessions_per_day: 0.45, sigma: 0.9, turns_mean: 3, group: [12, 45], adoption_days: 40 },
};

export const CampaignConfig = z.object({
  id: z.string().min(1),
  kind: z.enum(CAMPAIGN_KINDS),
  /** Accounts used over the campaign's life. */
  accounts: z.number().int().min(1),
  /** Target interactions over its window (realised volume is random around it). */
  interactions: z.number().int().min(0),
  /** Start, days from scenario start. */
  start_day: z.number().min(0),
  /** Duration in days; null: until the scenario ends. */
  days: z.number().positive().nullable(),
  /** Evasive behaviour: reported separately by `warden eval`. */
  adaptive: z.boolean(),
  /** What it asks for (shares of requests). */
  mix: Weights(TASK_KINDS),
  /** Distinct templates per task kind (0: no template, every prompt worded afresh). */
  templates: z.number().int().min(0),
  /** Share of prompts paraphrased before templating. */
  paraphrase: z.number().min(0).max(1),
  /**
   * Dataset items sent as written: maths, chain-of-thought and coding tasks send the item alone, with
   * no template and no request for the steps (a harvester that takes whatever answer the model gives).
   */
  as_written: z.boolean(),
  /** Share of mundane (chit-chat) prompts mixed in to look organic. */
  organic_mix: z.number().min(0).max(1),
  /**
   * Share of prompts whose words are disguised from text matching: zero-width spaces inside words,
   * Cyrillic look-alikes for Latin letters (a different disguise each time; the model reads the same prompt).
   */
  disguise: z.number().min(0).max(1),
  /**
   * System prompts: `shared` (the campaign's own, on every account), `per_account` (each account
   * adds its own line, so no two accounts send the same prompt), `none` (never sent).
   */
  system_prompt: z.enum(['shared', 'per_account', 'none']),
  timing: z.object({
    /** flat: round the clock (load balancer); operator_hours: operators' working day; waves: synchronised bursts across accounts; human: per-account diurnal sessions. */
    mode: z.enum(['flat', 'operator_hours', 'waves', 'human']),
    /** Operators' (or claimed) UTC offset in hours. */
    tz_offset_h: z.number().min(-12).max(14),
    wave_period_s: z.number().positive(),
    /** Spread of one wave across accounts, seconds. */
    wave_jitter_s: z.number().min(0),
    /** Share of accounts taking part in each wave. */
    participation: z.number().min(0).max(1),
    /** Requests per session (human mode) or per wave per account. */
    burst: z.number().int().min(1),
  }),
  network: z.object({
    /** proxy_pool: rotating exits of a proxy network shared by all accounts; datacenter: a few hosting IPs; residential_sticky: one residential IP per account. */
    mode: z.enum(['proxy_pool', 'datacenter', 'residential_sticky']),
    pool_size: z.number().int().min(1),
    /** Share of proxy exits on residential ISPs (the rest on hosting networks). */
    residential_share: z.number().min(0).max(1),
    /** Countries the exits (and residential IPs) are drawn from; empty: any. */
    countries: z.array(z.string().length(2)),
    /** Share of requests leaking out from a region where the service is not offered. */
    unsupported_region_share: z.number().min(0).max(1),
    unsupported_countries: z.array(z.string().length(2)),
  }),
  signup: z.object({
    /** Accounts are created in this many bursts (0: spread evenly). */
    bursts: z.number().int().min(0),
    /** Length of one burst, hours. */
    burst_hours: z.number().positive(),
    /** Accounts exist this many days before the campaign first uses them (aged accounts: large). */
    age_days: z.tuple([z.number().min(0), z.number().min(0)]),
    /**
     * The accounts were in use before the campaign took them over (warmed up, or bought with their
     * history): their recorded first use is at signup. Otherwise it is the campaign's first request.
     */
    used_before: z.boolean(),
    programme: Weights(['none', 'education', 'research', 'startup'] as const),
    tier: Weights(['unverified', 'email_verified', 'identity_verified', 'enterprise'] as const),
    email: z.enum(['disposable', 'patterned', 'freemail', 'edu']),
    claimed_countries: z.array(z.string().length(2)).min(1),
    /** One org per account (true) or all accounts in a handful of orgs. */
    org_per_account: z.boolean(),
  }),
  payment: z.object({
    /** Accounts sharing one payment instrument (1: all distinct). */
    accounts_per_instrument: z.number().int().min(1),
    /** Share of accounts with no instrument (free credits, programmes). */
    none_share: z.number().min(0).max(1),
  }),
  /** Distinct user-agent strings shared by the campaign (0: varied, realistic per account). */
  user_agents: z.number().int().min(0),
  family: z.enum(['openai', 'anthropic', 'both']),
  /** Target models (null: the most capable available of the family). */
  models: z.array(z.string()).nullable(),
  /** Moves `share` of its traffic to the newest model `delay_hours` after it is released. */
  pivot: z.object({ to_model: z.string().nullable(), delay_hours: z.number().min(0), share: z.number().min(0).max(1) }).nullable(),
  params: z.object({
    stream_share: z.number().min(0).max(1),
    max_tokens: z.number().int().positive(),
    temperature: z.number().nullable(),
    logprobs_share: z.number().min(0).max(1),
    n_gt1_share: z.number().min(0).max(1),
    reasoning_share: z.number().min(0).max(1),
  }),
  /**
   * Logit probing (Carlini et al. 2024): requests that push a few tokens up with `logit_bias` and
   * read them back, sweeping the vocabulary one map at a time over a few prompts taken in turn.
   */
  logit: z.object({
    /** Share of requests that are probes (1 for the `logit` kind, 0 for the others). */
    share: z.number().min(0).max(1),
    /** Distinct prompts whose logits are read. */
    prompts: z.number().int().min(1),
    /** Tokens pushed up per map. */
    tokens_per_map: z.number().int().min(1).max(300),
    /** Read the top log-probabilities (false: the log-probability-free variant, one answer token per map). */
    logprobs: z.boolean(),
  }),
  /**
   * Embedding harvest (an encoder's vectors over a broad corpus, to train a copy): requests to
   * `/v1/embeddings` with several texts each.
   */
  embed: z.object({
    /** Share of requests that embed (1 for the `embed` kind, 0 for the others); the rest are the campaign's chat tasks. */
    share: z.number().min(0).max(1),
    /** Texts per request. */
    inputs: z.number().int().min(1).max(2048),
    /**
     * `none`: every account draws from the whole corpus; `subject`: each account embeds one
     * subject only (the corpus split across accounts, so that each looks like a customer's index).
     */
    partition: z.enum(['none', 'subject']),
  }),
  /**
   * Grading harvest (reward-model or judge distillation dressed as an evaluation harness): requests
   * that hand the model a question and a candidate reply as a JSON payload and take back a
   * critique and a score through one tool (`submit_review`, its use required), one criterion a
   * request, each item graded on `criteria` criteria in turn. Worded as a quality review, without
   * the words of a grading prompt ("rate the response", "as a judge", "on a scale of").
   */
  judge: z.object({
    /** Share of requests that grade (0 for every kind by default); the rest are the campaign's chat tasks. */
    share: z.number().min(0).max(1),
    /** Criteria each item is graded on, one request each. */
    criteria: z.number().int().min(1).max(8),
  }),
  /**
   * How a harvest is dressed (the red-team strategies of `bench/detect.ts --only redteam`):
   * `elicit` where the request for the working sits (`turn`: in the question, as the templates put
   * it; `system`: only in a system prompt of the account's own, worded afresh per account, its
   * questions sent bare); `conversation` turns per harvest session, each turn a new item with the
   * answers served before it as history ([1, 1]: single-shot); `cover` the share of sessions that
   * are the host application's own users (accounts bought with an application's traffic: every
   * request carries the application's system prompt); `languages` the languages the working is
   * asked for in (ISO 639-1 codes of `REDTEAM_LANGUAGES`; empty: as the templates word it);
   * `grade` every harvest request a rubric grading of a question and a candidate answer, in a
   * grading prompt worded per account, a score and a sentence back, no reasoning asked (reward-model
   * data); `split` the share of the campaign's accounts that verify: they send the questions the
   * other accounts asked, with the answers those were served pasted in, for a check, while the
   * others send the items bare (0: no split); `agent` every harvest session an agent trajectory:
   * a maths or coding item handed to a tool-using agent with a system prompt and a tool set of the
   * account's own, each tool result fabricated by the harvester's simulator, the model's tool-call
   * decisions taken back step by step (agentic trajectory data); `pairs` every item asked twice, by
   * two of the campaign's accounts, word for word, one at a low temperature and one at a high one,
   * one answer each (n = 1), to make preference pairs (DPO data).
   */
  dress: z.object({
    elicit: z.enum(['turn', 'system']),
    conversation: z.tuple([z.number().int().min(1), z.number().int().min(1)]),
    cover: z.number().min(0).max(0.95),
    languages: z.array(z.string().length(2)),
    grade: z.boolean().default(false),
    split: z.number().min(0).max(0.9).default(0),
    agent: z.boolean().default(false),
    pairs: z.boolean().default(false),
  }),
  /** Days an account stays in use before being replaced (null: whole campaign). */
  lifetime_days: z.number().positive().nullable(),
  /** Requests per agentic trace [min, max]. */
  trace_turns: z.tuple([z.number().int().min(1), z.number().int().min(1)]),
});
export type CampaignConfig = z.infer<typeof CampaignConfig>;

type DeepPartial<T> = T extends (infer U)[] ? U[] : T extends object ? { [K in keyof T]?: DeepPartial<T[K]> } : T;
export type CampaignInput = DeepPartial<CampaignConfig> & { kind: CampaignKind };

const noTasks = { cot: 0, math: 0, code: 0, agentic: 0, rubric: 0, rewrite: 0, chat: 0 };
const BASE_CAMPAIGN: Omit<CampaignConfig, 'id' | 'kind'> = {
  accounts: 100, interactions: 50_000, start_day: 0, days: null, adaptive: false,
  mix: { ...noTasks, code: 0.4, cot: 0.3, chat: 0.1, math: 0.2 },
  templates: 3, paraphrase: 0, as_written: false, organic_mix: 0.1, disguise: 0, system_prompt: 'shared',
  timing: { mode: 'flat', tz_offset_h: 8, wave_period_s: 600, wave_jitter_s: 5, participation: 0.8, burst: 1 },
  network: { mode: 'proxy_pool', pool_size: 200, residential_share: 0.5, countries: ['US', 'GB', 'DE', 'SG', 'JP', 'NL', 'FR', 'CA'], unsupported_region_share: 0.01, unsupported_countries: ['CN'] },
  signup: { bursts: 4, burst_hours: 3, age_days: [0, 3], programme: { none: 0.5, education: 0.25, research: 0, startup: 0.25 }, tier: { unverified: 0.3, email_verified: 0.7, identity_verified: 0, enterprise: 0 }, email: 'patterned', claimed_countries: ['US', 'GB', 'SG', 'DE', 'CA'], org_per_account: true, used_before: false },
  payment: { accounts_per_instrument: 12, none_share: 0.3 },
  user_agents: 2, family: 'anthropic', models: null, pivot: null,
  params: { stream_share: 0.1, max_tokens: 16000, temperature: 1, logprobs_share: 0, n_gt1_share: 0, reasoning_share: 0.6 },
  lifetime_days: 6, trace_turns: [8, 30],
  logit: { share: 0, prompts: 8, tokens_per_map: 5, logprobs: true },
  embed: { share: 0, inputs: 16, partition: 'none' },
  judge: { share: 0, criteria: 3 },
  dress: { elicit: 'turn', conversation: [1, 1], cover: 0, languages: [], grade: false, split: 0, agent: false, pairs: false },
};

export const CAMPAIGN_DEFAULTS: Record<CampaignKind, DeepPartial<CampaignConfig>> = {
  // Broad harvest through a hydra cluster: thousands of accounts behind a proxy network.
  hydra: {
    accounts: 1200, interactions: 400_000, organic_mix: 0.25,
    mix: { ...noTasks, code: 0.35, cot: 0.2, math: 0.15, agentic: 0.1, chat: 0.2 },
    timing: { mode: 'flat' }, network: { mode: 'proxy_pool', pool_size: 400, residential_share: 0.6 },
    signup: { bursts: 6, burst_hours: 2, email: 'patterned' }, payment: { accounts_per_instrument: 15, none_share: 0.35 },
    user_agents: 2, lifetime_days: 5,
  },
  // Surgical: CoT traces, rubric grading, censorship-safe rewrites; low volume, synchronised, shared cards.
  surgical: {
    accounts: 30, interactions: 12_000, organic_mix: 0.05, templates: 2,
    mix: { ...noTasks, cot: 0.45, rubric: 0.3, rewrite: 0.25 },
    timing: { mode: 'waves', wave_period_s: 900, wave_jitter_s: 4, participation: 0.7, burst: 1, tz_offset_h: 8 },
    network: { mode: 'datacenter', pool_size: 6, residential_share: 0, unsupported_region_share: 0.02 },
    signup: { bursts: 1, burst_hours: 4, age_days: [5, 20], tier: { unverified: 0, email_verified: 0.5, identity_verified: 0.5, enterprise: 0 }, programme: { none: 1, education: 0, research: 0, startup: 0 }, email: 'freemail', org_per_account: false },
    payment: { accounts_per_instrument: 10, none_share: 0 }, user_agents: 1, lifetime_days: null,
    params: { max_tokens: 8192, temperature: 0.7, reasoning_share: 1, logprobs_share: 0, n_gt1_share: 0, stream_share: 0 },
  },
  // Agentic / tool-use / coding harvest: tool definitions and long multi-turn traces.
  agentic: {
    accounts: 300, interactions: 250_000, organic_mix: 0.05, templates: 2,
    mix: { ...noTasks, agentic: 0.7, code: 0.3 },
    timing: { mode: 'operator_hours', tz_offset_h: 8 }, network: { mode: 'proxy_pool', pool_size: 150, residential_share: 0.3 },
    signup: { bursts: 3, programme: { none: 0.4, education: 0.1, research: 0.1, startup: 0.4 }, email: 'disposable' },
    payment: { accounts_per_instrument: 8, none_share: 0.2 }, user_agents: 1, lifetime_days: 10,
    params: { max_tokens: 32000, temperature: 1, reasoning_share: 0.8, stream_share: 0.5, logprobs_share: 0, n_gt1_share: 0 },
    trace_turns: [10, 40],
  },
  // Moves half its traffic to a newly released model within hours.
  pivot: {
    accounts: 150, interactions: 80_000, organic_mix: 0.15,
    mix: { ...noTasks, code: 0.4, cot: 0.3, agentic: 0.15, chat: 0.15 },
    timing: { mode: 'flat' }, network: { mode: 'proxy_pool', pool_size: 120, residential_share: 0.5 },
    pivot: { to_model: null, delay_hours: 12, share: 0.5 }, lifetime_days: 8,
  },
  // Adaptive: low-and-slow, one residential IP per account, paraphrased, aged, organic-looking.
  adaptive: {
    accounts: 150, interactions: 15_000, adaptive: true, templates: 0, paraphrase: 1, organic_mix: 0.4,
    mix: { ...noTasks, code: 0.35, cot: 0.25, math: 0.2, chat: 0.2 },
    timing: { mode: 'human', tz_offset_h: -5, burst: 3 },
    network: { mode: 'residential_sticky', pool_size: 1, residential_share: 1, countries: ['US', 'CA', 'GB', 'DE'], unsupported_region_share: 0 },
    signup: { bursts: 0, age_days: [60, 400], used_before: true, email: 'freemail', programme: { none: 0.85, education: 0.05, research: 0, startup: 0.1 }, tier: { unverified: 0, email_verified: 0.7, identity_verified: 0.3, enterprise: 0 }, claimed_countries: ['US', 'CA', 'GB', 'DE'] },
    payment: { accounts_per_instrument: 1, none_share: 0 }, user_agents: 0, family: 'both', lifetime_days: null,
    params: { max_tokens: 4096, temperature: null, reasoning_share: 0.3, stream_share: 0.6, logprobs_share: 0, n_gt1_share: 0 },
  },
  // Logit extraction: a few verified-looking accounts read the model's logits through logit_bias
  // and log-probabilities, one bias map at a time, from a couple of cloud machines.
  logit: {
    accounts: 4, interactions: 20_000, organic_mix: 0, templates: 0,
    mix: { ...noTasks, chat: 1 },
    timing: { mode: 'flat' },
    network: { mode: 'datacenter', pool_size: 3, residential_share: 0, unsupported_region_share: 0 },
    signup: { bursts: 1, burst_hours: 24, age_days: [0, 30], tier: { unverified: 0, email_verified: 0.5, identity_verified: 0.5, enterprise: 0 }, programme: { none: 0.5, education: 0, research: 0.5, startup: 0 }, email: 'freemail' },
    payment: { accounts_per_instrument: 1, none_share: 0 }, user_agents: 1, family: 'openai', lifetime_days: null,
    params: { max_tokens: 1, temperature: 0, reasoning_share: 0, stream_share: 0, logprobs_share: 0, n_gt1_share: 0 },
    logit: { share: 1 },
  },
  // Encoder harvest: a few dozen accounts embed a broad corpus sixteen texts at a time from a
  // handful of cloud machines, to train a copy of the embedding model.
  embed: {
    accounts: 40, interactions: 20_000, organic_mix: 0, templates: 0,
    mix: { ...noTasks, chat: 1 },
    timing: { mode: 'flat' },
    network: { mode: 'datacenter', pool_size: 8, residential_share: 0, unsupported_region_share: 0 },
    signup: { bursts: 2, burst_hours: 12, age_days: [0, 10], tier: { unverified: 0.2, email_verified: 0.6, identity_verified: 0.2, enterprise: 0 }, programme: { none: 0.7, education: 0, research: 0.1, startup: 0.2 }, email: 'freemail' },
    payment: { accounts_per_instrument: 4, none_share: 0.2 }, user_agents: 1, family: 'openai', lifetime_days: null,
    params: { max_tokens: 1, temperature: null, reasoning_share: 0, stream_share: 0, logprobs_share: 0, n_gt1_share: 0 },
    embed: { share: 1 },
  },
};

export const ScenarioConfig = z.object({
  name: z.string().default('custom'),
  seed: z.union([z.number().int(), z.string()]).default(1),
  /** Scenario start, ISO 8601 UTC. */
  start: z.string().default('2026-04-06T00:00:00.000Z'),
  days: z.number().positive().default(7),
  /** Stop after this many events (null: run the whole window). */
  max_events: z.number().int().positive().nullable().default(null),
  models: z.array(ModelSpec).min(1).default([
    { name: 'claude-sonnet-4-5', family: 'anthropic', reasoning: true, popularity: 4, released_day: null },
    { name: 'claude-haiku-4-5', family: 'anthropic', reasoning: true, popularity: 2, released_day: null },
    { name: 'claude-opus-4-1', family: 'anthropic', reasoning: true, popularity: 1, released_day: null },
    { name: 'gpt-5', family: 'openai', reasoning: true, popularity: 3, released_day: null },
    { name: 'gpt-5-mini', family: 'openai', reasoning: true, popularity: 4, released_day: null },
    { name: 'gpt-4.1', family: 'openai', reasoning: false, popularity: 1.5, released_day: null },
    { name: 'claude-opus-5', family: 'anthropic', reasoning: true, popularity: 3, released_day: 3 },
  ]),
  organic: z.object({
    accounts: z.number().int().min(0).default(2000),
    /** Share of organic accounts created during the window (the rest existed before it). */
    new_signups_share: z.number().min(0).max(1).default(0.06),
    /** Multiplies every organic rate (quick way to make organic traffic heavier or lighter). */
    volume_scale: z.number().positive().default(1),
    /** Per-kind overrides of ORGANIC_DEFAULTS. */
    kinds: z.partialRecord(z.enum(ORGANIC_KINDS), OrganicKindConfig.partial()).default({}),
  }).prefault({}),
  campaigns: z.array(z.record(z.string(), z.unknown())).default([]),
  errors: z.object({
    /** Upstream failures (502/504) per request. */
    upstream_error_rate: z.number().min(0).max(1).default(0.004),
    /** Client mistakes (400) per request. */
    invalid_request_rate: z.number().min(0).max(1).default(0.003),
    /** Streaming clients that go away mid-answer. */
    disconnect_rate: z.number().min(0).max(1).default(0.01),
    /** Probability a client retries a failed request (with backoff). */
    retry_probability: z.number().min(0).max(1).default(0.8),
  }).prefault({}),
});
export type ScenarioInput = z.input<typeof ScenarioConfig>;

/** A fully resolved scenario: organic kinds and campaigns with every default filled in. */
export interface Scenario {
  name: string;
  seed: number | string;
  startMs: number;
  endMs: number;
  days: number;
  maxEvents: number | null;
  models: ModelSpec[];
  organic: { accounts: number; newSignupsShare: number; volumeScale: number; kinds: Record<OrganicKind, OrganicKindConfig> };
  campaigns: CampaignConfig[];
  errors: { upstream_error_rate: number; invalid_request_rate: number; disconnect_rate: number; retry_probability: number };
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Deep merge: objects merge key by key, everything else (arrays included) replaces. */
export function deepMerge<T>(base: T, over: unknown): T {
  if (!isObj(base) || !isObj(over)) return (over === undefined ? base : over) as T;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = k in out ? deepMerge(out[k], v) : v;
  return out as T;
}

/** Fill a campaign's unspecified knobs from its kind's defaults. */
export function resolveCampaign(input: Record<string, unknown>, index = 0): CampaignConfig {
  const kind = parseOr(z.enum(CAMPAIGN_KINDS), input.kind ?? 'hydra', `campaigns.${index}.kind`);
  const merged = deepMerge(deepMerge({ ...BASE_CAMPAIGN, id: `${kind}-${index + 1}`, kind }, CAMPAIGN_DEFAULTS[kind]), input);
  return parseOr(CampaignConfig, merged, `campaigns.${index}`);
}

export const PRESETS: Record<string, ScenarioInput> = {
  /** Tiny and fast: tests and smoke runs (~1 day, ~15k events). */
  smoke: {
    name: 'smoke', days: 1, organic: { accounts: 160 },
    campaigns: [
      { id: 'hydra-1', kind: 'hydra', accounts: 60, interactions: 3000, signup: { bursts: 2 } },
      { id: 'surgical-1', kind: 'surgical', accounts: 8, interactions: 500 },
      { id: 'agentic-1', kind: 'agentic', accounts: 20, interactions: 2500 },
      { id: 'pivot-1', kind: 'pivot', accounts: 15, interactions: 1200 },
      { id: 'adaptive-1', kind: 'adaptive', accounts: 20, interactions: 300 },
    ],
    models: [
      { name: 'claude-sonnet-4-5', family: 'anthropic', reasoning: true, popularity: 4, released_day: null },
      { name: 'claude-haiku-4-5', family: 'anthropic', reasoning: true, popularity: 2, released_day: null },
      { name: 'gpt-5', family: 'openai', reasoning: true, popularity: 3, released_day: null },
      { name: 'gpt-5-mini', family: 'openai', reasoning: true, popularity: 4, released_day: null },
      { name: 'claude-opus-5', family: 'anthropic', reasoning: true, popularity: 3, released_day: 0.4 },
    ],
  },
  /** A week with every organic kind and every campaign kind (~2M events). */
  default: {
    name: 'default', days: 7, organic: { accounts: 2000 },
    campaigns: [
      { id: 'hydra-1', kind: 'hydra' },
      { id: 'surgical-1', kind: 'surgical', start_day: 1 },
      { id: 'agentic-1', kind: 'agentic' },
      { id: 'pivot-1', kind: 'pivot', start_day: 1 },
      { id: 'adaptive-1', kind: 'adaptive' },
    ],
  },
  /**
   * Two weeks of three campaigns that share nothing (a card, a free-mail signup and a residential
   * address of their own per account, no programme) and each keep under a different bar:
   * `slow-1` 600 fresh accounts at three or four requests a day each (e-mail verified, no more)
   * through rotating residential
   * exits; `churn-1` accounts used for one day only, about 20 requests each, 50 fresh signups a
   * day; `review-1` critiques and scores of candidate replies, one criterion a request, taken
   * through a required tool (the grading harvest, `judge`).
   */
  quiet: {
    name: 'quiet', days: 14, organic: { accounts: 300 },
    campaigns: [
      { id: 'slow-1', kind: 'adaptive', accounts: 600, interactions: 29_400,
        signup: { bursts: 0, used_before: false, age_days: [0, 2], programme: { none: 1, education: 0, research: 0, startup: 0 }, tier: { unverified: 0, email_verified: 1, identity_verified: 0, enterprise: 0 } },
        network: { mode: 'proxy_pool', pool_size: 50_000, residential_share: 1, countries: ['US', 'CA', 'GB', 'DE'], unsupported_region_share: 0 } },
      { id: 'churn-1', kind: 'hydra', accounts: 700, interactions: 14_000, lifetime_days: 1, organic_mix: 0.1, templates: 0, paraphrase: 1, system_prompt: 'none',
        mix: { code: 0.4, cot: 0.3, math: 0.2, chat: 0.1, agentic: 0 },
        signup: { bursts: 0, email: 'freemail', org_per_account: true, programme: { none: 1, education: 0, research: 0, startup: 0 } },
        payment: { accounts_per_instrument: 1, none_share: 0 }, network: { mode: 'residential_sticky' }, user_agents: 0 },
      { id: 'review-1', kind: 'hydra', accounts: 100, interactions: 20_000, organic_mix: 0, lifetime_days: null,
        mix: { chat: 1, code: 0, cot: 0, math: 0, agentic: 0 }, judge: { share: 1, criteria: 3 }, params: { reasoning_share: 0.5 },
        signup: { bursts: 0, email: 'freemail', org_per_account: true, programme: { none: 1, education: 0, research: 0, startup: 0 } },
        payment: { accounts_per_instrument: 1, none_share: 0 }, network: { mode: 'residential_sticky' }, user_agents: 0 },
    ],
  },
  /** The scale of the largest disclosed campaign: 25,000 accounts, 28.8M interactions in 44 days. */
  'disclosure-2026': {
    name: 'disclosure-2026', days: 44, organic: { accounts: 6000 },
    models: [
      { name: 'claude-sonnet-4-5', family: 'anthropic', reasoning: true, popularity: 4, released_day: null },
      { name: 'claude-haiku-4-5', family: 'anthropic', reasoning: true, popularity: 2, released_day: null },
      { name: 'gpt-5', family: 'openai', reasoning: true, popularity: 3, released_day: null },
      { name: 'gpt-5-mini', family: 'openai', reasoning: true, popularity: 4, released_day: null },
      { name: 'claude-opus-5', family: 'anthropic', reasoning: true, popularity: 3, released_day: 20 },
    ],
    campaigns: [
      { id: 'swe-harvest', kind: 'agentic', accounts: 25_000, interactions: 28_800_000, lifetime_days: 12, network: { pool_size: 3000 }, signup: { bursts: 40 },
        mix: { agentic: 0.55, code: 0.3, cot: 0.1, chat: 0.05 }, pivot: { to_model: null, delay_hours: 20, share: 0.5 } },
    ],
  },
};

/** Parse a scenario file (YAML or JSON). `preset: NAME` in the file starts from that preset. */
export function readScenarioFile(path: string): Record<string, unknown> {
  const text = readFileSync(path, 'utf8');
  const obj = path.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  if (!isObj(obj)) throw new Error(`${path}: a scenario must be a mapping`);
  return obj;
}

/** Set a dotted path (`campaigns.0.accounts`) in a plain object; the value is JSON if it parses. */
export function setPath(obj: Record<string, unknown>, path: string, raw: string): void {
  let value: unknown = raw;
  try { value = JSON.parse(raw); } catch { /* plain string */ }
  const keys = path.split('.');
  let cur: Record<string, unknown> | unknown[] = obj;
  for (let i = 0; i < keys.length - 1; i++) {
    const k = keys[i];
    const nextIsIndex = /^\d+$/.test(keys[i + 1]);
    const container = cur as Record<string, unknown>;
    if (container[k] === undefined || container[k] === null) container[k] = nextIsIndex ? [] : {};
    cur = container[k] as Record<string, unknown>;
  }
  (cur as Record<string, unknown>)[keys[keys.length - 1]] = value;
}

export interface ScenarioOverrides {
  preset?: string;
  seed?: number | string;
  days?: number;
  start?: string;
  /** Multiplies organic accounts and every campaign's accounts and interactions. */
  scale?: number;
  organicAccounts?: number;
  maxEvents?: number;
  /** Dotted-path assignments applied last. */
  set?: string[];
}

/**
 * Build a resolved scenario from a preset and/or a file object and overrides.
 * Order: preset (from `overrides.preset`, else the file's `preset`, else `default`) < file < flags < `set`.
 */
export function resolveScenario(file: Record<string, unknown> | null = null, overrides: ScenarioOverrides = {}): Scenario {
  const presetName = overrides.preset ?? (file && typeof file.preset === 'string' ? file.preset : 'default');
  const preset = PRESETS[presetName];
  if (!preset) throw new Error(`unknown preset "${presetName}" (known: ${Object.keys(PRESETS).join(', ')})`);
  let raw: Record<string, unknown> = structuredClone(preset) as Record<string, unknown>;
  if (file) {
    const { preset: _p, ...rest } = file;
    // Campaign lists replace the preset's list as a whole.
    raw = deepMerge(raw, rest);
  }
  if (overrides.seed !== undefined) raw.seed = overrides.seed;
  if (overrides.days !== undefined) raw.days = overrides.days;
  if (overrides.start !== undefined) raw.start = overrides.start;
  if (overrides.maxEvents !== undefined) raw.max_events = overrides.maxEvents;
  if (overrides.organicAccounts !== undefined) raw.organic = { ...(raw.organic as object ?? {}), accounts: overrides.organicAccounts };
  for (const s of overrides.set ?? []) {
    const eq = s.indexOf('=');
    if (eq <= 0) throw new Error(`--set expects path=value, got "${s}"`);
    setPath(raw, s.slice(0, eq), s.slice(eq + 1));
  }
  const parsed = parseOr(ScenarioConfig, raw, '');
  const scale = overrides.scale ?? 1;
  const kinds = {} as Record<OrganicKind, OrganicKindConfig>;
  for (const k of ORGANIC_KINDS) kinds[k] = parseOr(OrganicKindConfig, { ...ORGANIC_DEFAULTS[k], ...(parsed.organic.kinds[k] ?? {}) }, `organic.kinds.${k}`);
  const campaigns = parsed.campaigns.map((c, i) => {
    const r = resolveCampaign(c, i);
    if (scale !== 1) { r.accounts = Math.max(1, Math.round(r.accounts * scale)); r.interactions = Math.round(r.interactions * scale); }
    return r;
  });
  const ids = new Set<string>();
  for (const c of campaigns) {
    if (ids.has(c.id)) throw new Error(`duplicate campaign id "${c.id}"`);
    ids.add(c.id);
  }
  const startMs = Date.parse(parsed.start);
  if (!Number.isFinite(startMs)) throw new Error(`start: not an ISO date: ${parsed.start}`);
  return {
    name: parsed.name,
    seed: parsed.seed,
    startMs,
    endMs: startMs + parsed.days * 86_400_000,
    days: parsed.days,
    maxEvents: parsed.max_events,
    models: parsed.models,
    organic: { accounts: Math.round(parsed.organic.accounts * scale), newSignupsShare: parsed.organic.new_signups_share, volumeScale: parsed.organic.volume_scale, kinds },
    campaigns,
    errors: parsed.errors,
  };
}
