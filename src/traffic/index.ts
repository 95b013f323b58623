// traffic: realistic organic populations and distillation campaigns as interaction events + labels (simulate), run live against a gateway (redteam), and scored (eval).
// Imports `admin` (client), `config`, `detect`, `events`, `identity` and `mock`.
/**
 * Entry module of the traffic capability. See docs/traffic-model.md for every organic kind,
 * campaign kind and knob, and the file formats (events, labels, detection results, reports).
 */
export { resolveScenario, readScenarioFile, resolveCampaign, PRESETS, ORGANIC_KINDS, CAMPAIGN_KINDS, TASK_KINDS, ORGANIC_DEFAULTS, CAMPAIGN_DEFAULTS } from './scenario.ts';
export type { Scenario, ScenarioInput, ScenarioOverrides, CampaignConfig, CampaignKind, OrganicKind, OrganicKindConfig, TaskKind, ModelSpec } from './scenario.ts';
export { generateTraffic, buildLabels } from './generator.ts';
export type { TrafficRun, LabelLine, CampaignLabel, ScenarioLabel } from './generator.ts';
export type { AccountLabel, SimAccount } from './population.ts';
export { loadPromptCorpus, defaultPromptDir, classifyPrompt } from './prompts.ts';
export type { PromptCorpus, PromptPool } from './prompts.ts';
export { simulate, parseLabels, LineWriter } from './simulate.ts';
export type { SimulateOptions, SimulateSummary } from './simulate.ts';
export { evaluate, evaluateFiles, parseDetectionResult, loadDetectionResult, LevelIndex, DETECTION_SCHEMA, DetectionResult } from './eval.ts';
export type { DetectionAccount, DetectionCluster, LevelChange, EvalOptions, EvalReport, CampaignReport, OrganicReport } from './eval.ts';
export { renderText, renderSvg } from './report.ts';
export { pickAddress, countryOfIpNum, NET_CATEGORIES, CATEGORY_ASNS } from './netdata.ts';
export type { NetCategory, ClientAddress } from './netdata.ts';
export { Rng, seededUlid } from './rng.ts';
export { runRedteam, renderRedteamSummary, wireRequest, assertLocalTarget } from './redteam.ts';
export type { RedteamOptions, RedteamResult, RequestOutcome, PopulationSummary } from './redteam.ts';
export { runSimulateCli, runRedteamCli, runEvalCli } from './cli.ts';
