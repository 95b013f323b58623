/**
 * The detector settings a verdict is reached under, as the ledger records them: the effective
 * `detect:` configuration (defaults filled in) that decides scores and levels, and the Warden
 * version (the detector's code). A `settings` entry carries them, and every detector verdict names
 * their digest, so an auditor can tell whether a threshold changed between two verdicts and read
 * the settings themselves from a signed leaf.
 *
 * Which `detect` keys are recorded is decided here, key by key: what can change a verdict is in,
 * the plumbing that cannot (whether the detector runs at all, how verdicts travel between nodes,
 * where snapshots are written) is out. The detect configuration holds no secrets today (no key or
 * token, no `env:` reference); a key added to it is refused by the test of this file until it is
 * classified here, so a secret cannot slip into the signed log by default.
 */
import type { DetectConfig } from '../detect/config.ts';

/** `detect` keys recorded: each can change a score, a level, or which accounts are linked. */
export const RECORDED_DETECT_KEYS = [
  'mode', 'served_answers_mib', 'tick_seconds', 'window_half_life_hours', 'thresholds', 'hysteresis_margin', 'cooldown_seconds',
  'single_account_max_level', 'yield_closed_task_share', 'link_threshold', 'embedding_max_concentration', 'min_cluster_requests',
  'min_cluster_actors', 'fleet_min_holders', 'cohort_min_accounts', 'cohort_join_between_readings', 'cohort_settings_heads', 'cohort_min_established', 'cohort_established_base_rate', 'cohort_established_programmes', 'cohort_agents', 'cohort_harvest_slice', 'evict_idle_hours', 'replay_hours', 'allow',
] as const;

/**
 * `detect` keys not recorded: `enabled` (a node without a detector reaches no verdict), `shared`
 * (the Redis key prefix, publish interval and replicas' backlog: how verdicts travel, not how they
 * are reached), `snapshot` (where and how often state is saved: a local path).
 */
export const UNRECORDED_DETECT_KEYS = ['enabled', 'shared', 'snapshot'] as const;

export interface DetectorSettings {
  /** The Warden release that runs the detector (its code: features, scoring, saturations). */
  warden_version: string;
  /** The effective `detect:` settings that decide verdicts (RECORDED_DETECT_KEYS). */
  detect: Record<string, unknown>;
}

/** The settings the ledger records for a detector running with `detect` under Warden `wardenVersion`. */
export function detectorSettings(detect: DetectConfig, wardenVersion: string): DetectorSettings {
  const recorded: Record<string, unknown> = {};
  for (const k of RECORDED_DETECT_KEYS) recorded[k] = structuredClone(detect[k]);
  return { warden_version: wardenVersion, detect: recorded };
}

/** Keys of the detect configuration neither recorded nor declared unrecorded (a new key nobody classified). */
export function unclassifiedDetectKeys(detect: DetectConfig): string[] {
  const known = new Set<string>([...RECORDED_DETECT_KEYS, ...UNRECORDED_DETECT_KEYS]);
  return Object.keys(detect).filter((k) => !known.has(k));
}
