/** The red-team strategies of `bench/detect.ts --only redteam` (see redteamQuality there). */
export const REDTEAM_BOUGHT: Record<string, unknown> = {
  kind: 'hydra', accounts: 40, interactions: 40 * 20 * 5, lifetime_days: null, templates: 0, paraphrase: 1, organic_mix: 0.1, system_prompt: 'shared', adaptive: false,
  mix: { math: 0.45, cot: 0.2, code: 0.35, chat: 0, agentic: 0, rubric: 0, rewrite: 0 },
  timing: { mode: 'human', tz_offset_h: -5, burst: 3 },
  network: { mode: 'residential_sticky', pool_size: 1, residential_share: 1, countries: ['US', 'CA', 'GB', 'DE'], unsupported_region_share: 0 },
  signup: { bursts: 0, age_days: [60, 400], used_before: true, email: 'freemail', programme: { none: 1, education: 0, research: 0, startup: 0 }, tier: { unverified: 0, email_verified: 0.8, identity_verified: 0.2, enterprise: 0 }, claimed_countries: ['US', 'CA', 'GB', 'DE'] },
  payment: { accounts_per_instrument: 1, none_share: 0 }, user_agents: 0, family: 'both',
  params: { max_tokens: 8192, temperature: null, reasoning_share: 0, stream_share: 0.5, logprobs_share: 0, n_gt1_share: 0 },
};
export const REDTEAM_STRATEGIES: Array<[string, string, Record<string, unknown>]> = [
  ['system-1', 'working asked for in a system prompt of its own, questions bare', { dress: { elicit: 'system' } }],
  ['conversation-1', 'a conversation of 3-8 turns, each a new item', { dress: { conversation: [3, 8] }, params: { reasoning_share: 0.3 } }],
  ['cover-1', 'inside a bought application\'s traffic (60% of sessions its users\')', { interactions: 40 * 45 * 5, dress: { cover: 0.6 }, signup: { age_days: [200, 700], tier: { unverified: 0, email_verified: 0.5, identity_verified: 0.5, enterprise: 0 } } }],
  ['lang-1', 'working asked for in 8 languages the lexicons lack, OpenAI reasoning hidden', { dress: { languages: ['nl', 'cs', 'uk', 'el', 'sv', 'ro', 'hu', 'sw'] }, family: 'openai', params: { reasoning_share: 0.5 } }],
  ['grade-1', 'items scored 1-10 against a rubric in a grading prompt worded per account, no reasoning asked (reward-model data)', { dress: { grade: true } }],
  ['split-1', 'half the accounts ask items bare, the other half paste the answers those were served in for a check', { dress: { split: 0.5 } }],
  ['agent-1', 'agent trajectories: each item handed to a tool-using agent of the account\'s own (system prompt, 3-6 tools), every tool result fabricated, 3-9 steps of tool-call decisions taken back', { dress: { agent: true }, params: { reasoning_share: 0.3 } }],
  ['pair-1', 'preference pairs: every item asked word for word by two of the accounts, one at temperature 0-0.3, one at 0.9-1.2, one answer each (DPO data)', { dress: { pairs: true } }],
];

