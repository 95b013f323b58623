/**
 * Sentences and reasons of verdict explanations that need no engine state: the conditions of a
 * passed logit-probe or embedding-spread test, what coordination is made of, and the words of a
 * verdict precedence (which verdict decided an account's level and why the others did not).
 */
import { EMBEDDING_SPREAD, type SpreadReadings } from './embedding-spread.ts';
import { LOGIT_PROBE, type ProbeReadings } from './logit-probe.ts';
import { round } from './scoring.ts';
import type { VerdictReason } from './verdict.ts';
import type { OutrankedVerdict, VerdictSource, WeighedVerdict } from './engine-types.ts';

/** The explanation of a passed embedding-spread test: each condition with its value and threshold. */
export function embeddingSpreadReasons(r: SpreadReadings, maxConcentration: number, fresh: boolean | null): VerdictReason[] {
  return [
    ...(fresh === null ? [] : [{
      signal: 'fresh_account', value: fresh ? 'yes' : 'no', threshold: null,
      detail: fresh ? 'put to use within 7 days of signup, or first used within the last 7 days: alone it may reach shape' : 'an established customer: alone it is held at watch (a broad public dataset embedded looks the same)',
    }]),
    { signal: 'embedding_spread_test', value: 'pass', threshold: null, detail: 'many texts embedded, spread over the encoder\'s space like all other customers\' together: a broad corpus embedded, as an encoder is stolen' },
    { signal: 'embedded_texts', value: Math.round(r.texts), threshold: EMBEDDING_SPREAD.minTexts, detail: 'windowed texts embedded' },
    { signal: 'embedding_sample', value: Math.round(r.sampled), threshold: EMBEDDING_SPREAD.minSampled, detail: 'windowed vectors sketched' },
    { signal: 'embedding_share', value: round(r.share, 3), threshold: EMBEDDING_SPREAD.minEmbeddingShare, detail: 'texts embedded over texts embedded plus other windowed requests' },
    { signal: 'embedding_concentration', value: round(r.concentration!, 4), threshold: maxConcentration, detail: 'mean similarity of its vectors once the other accounts\' mean is removed, over their spread (each account counted once; at most the threshold: 0 is spread like them all, one subject sits well above)' },
  ];
}

/** The explanation of a passed logit-probe test: each condition with its value and threshold. */
export function logitProbeReasons(r: ProbeReadings): VerdictReason[] {
  return [
    { signal: 'logit_probe_test', value: 'pass', threshold: null, detail: 'each prompt read with many logit_bias maps, the answer read token by token: the model\'s logits read through the API' },
    { signal: 'logit_probes', value: round(r.probes, 1), threshold: LOGIT_PROBE.minProbes, detail: 'windowed requests that push tokens up with logit_bias and read log-probabilities or a few tokens' },
    { signal: 'logit_bias_maps', value: Math.round(r.maps), threshold: LOGIT_PROBE.minMaps, detail: 'distinct bias maps (estimated)' },
    { signal: 'logit_bias_maps_per_prompt', value: round(r.mapsPerPrompt, 2), threshold: LOGIT_PROBE.minMapsPerPrompt, detail: `distinct (prompt, map) pairs over ${Math.round(r.prompts)} distinct prompts (estimated)` },
  ];
}

/** Coordination's factors (coordination()): mean link evidence for the full evidence factor, and how member shares scale it. */
export const COORD_FULL_EVIDENCE = 1.5;
export const COORD_VERIFIED = 0.6;
export const COORD_DISPOSABLE = 0.3;
export const COORD_FRESH = 0.25;

/** What coordination is made of, in words: it is a factor of the cluster score, with no threshold of its own. */
export function coordinationDetail(c: { actors: number; sizeFactor: number; evidenceFactor: number; halved: boolean }, minActors: number): string {
  return `cluster_score = coordination × harvest, so no threshold of its own: ${c.actors} actors (size factor ${round(c.sizeFactor)}) × mean link evidence (factor ${round(c.evidenceFactor)}, 1 at ${COORD_FULL_EVIDENCE}) × the member shares below${c.halved ? `, halved: fewer than ${minActors} actors (detect.min_cluster_actors)` : ''}, at most 1`;
}

export const SOURCE_OF: Record<VerdictSource, WeighedVerdict['source']> = {
  allow: 'allow_list', manual_account: 'operator_account', manual_cluster: 'operator_cluster', cluster: 'detector_cluster', own: 'detector_account',
};
export const WHY_TEXT: Record<OutrankedVerdict['why'], string> = {
  less_severe: 'less severe', tie: 'as severe; a tie goes to an operator\'s verdict, then to the account\'s',
  replaced: 'replaced by the operator\'s verdict on the same subject', allow_listed: 'the allow-list exempts the account',
  exempted: 'the operator\'s `none` on the account exempts it, as an allow-list entry does',
};
export function sayWeighed(v: WeighedVerdict): string {
  const on = `${v.subject.kind} ${v.subject.id}`;
  switch (v.source) {
    case 'allow_list': return `the allow-list (${on})`;
    case 'operator_account': return `the operator's verdict on the account (${v.level})`;
    case 'operator_cluster': return `the operator's verdict on ${on} (${v.level})`;
    case 'detector_account': return `the detector's verdict on the account (${v.level})`;
    case 'detector_cluster': return `the detector's verdict on ${on} (${v.level})`;
  }
}
