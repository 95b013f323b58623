/**
 * events: the interaction event contract (schema, parsing, ids, JSONL reading/writing) and the
 * spelling of what events name: addresses and their networks (ip.ts), times.
 * Imports nothing else from Warden; everything else may import it.
 */
export * from './schema.ts';
export { ulid } from './ulid.ts';
export { summariseLogitBias, promptFingerprint, type LogitBiasSummary } from './logit-bias.ts';
export { summariseEmbeddings, readEmbedding, EmbeddingSketch, sampledIndices, EMBEDDING_DIRECTIONS, EMBEDDING_SAMPLE, type EmbeddingSummary } from './embedding-spread.ts';
export { readableEvent } from './readable.ts';
export { erasePersonalData, ERASED_CLIENT_IP } from './erase.ts';
export { normaliseIp, networkPrefix, expandedIp, subnetOf } from './ip.ts';
export { LATE_EVENT_TOLERANCE_MS, parseIsoMs } from './time.ts';
export { charCodeAt } from './chars.ts';
export { tally } from './tally.ts';
export { saysNothing } from './turn.ts';
export { answerFingerprint, answerFpOf, parseAnswerFp } from './answer-fp.ts';
export { statusOutcome } from './outcome.ts';
export { readEventBatches, readEventsJsonl, writeJsonlLine } from './jsonl.ts';
export { BillingTally, billingColumns, billingPeriod, csvLine, BILLING_PERIODS, type BillingPeriod, type BillingRow } from './billing.ts';
