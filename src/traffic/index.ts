// traffic: realistic organic populations and distillation campaigns as interaction events + labels (simulate), run live against a gateway (redteam), and scored (eval).
// Imports `admin` (client), `config`, `detect`, `events`, `identity` and `mock`.
/**
 * Entry module of the traffic capability. See docs/traffic-model.md for every organic kind,
 * campaign kind and knob, and the file formats (events, labels, detection results, reports).
 */
export { resolveScenario, readScenarioFile, ORGANIC_KINDS, CAMPAIGN_DEFAULTS } from './scenario.ts';
export type { Scenario, ScenarioOverrides } from './scenario.ts';
export { generateTraffic } from './generator.ts';
export type { LabelLine } from './generator.ts';
export type { AccountLabel } from './population.ts';
export { loadPromptCorpus, defaultPromptDir, classifyPrompt } from './prompts.ts';
export type { PromptCorpus } from './prompts.ts';
export { simulate, parseLabels, LineWriter } from './simulate.ts';
export type { SimulateSummary } from './simulate.ts';
export { evaluate, evaluateFiles, parseDetectionResult, loadDetectionResult, DETECTION_SCHEMA, DetectionResult } from './eval.ts';
export type { EvalReport } from './eval.ts';
export { renderText, renderSvg } from './report.ts';
export { pickAddress, countryOfIpNum, CATEGORY_ASNS } from './netdata.ts';
export { Rng } from './rng.ts';
export { runRedteam, renderRedteamSummary, wireRequest, assertLocalTarget } from './redteam.ts';
export type { RedteamOptions, RedteamResult } from './redteam.ts';
export { runSimulateCli, runRedteamCli, runEvalCli } from './cli.ts';
