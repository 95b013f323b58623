// watermark: keyed lexical watermark for answer text (streaming-compatible embedding, per-account/cluster HKDF keys, detection with exact p-values and key attribution, `warden watermark` CLI), and a backdoor mark for embedding vectors that a copied encoder inherits.
// Imports `config`, `events` and `gateway` (stream types).
export { watermarkConfigSchema, type WatermarkConfig } from './config.ts';
export { LEXICON, LEXICON_VERSION, type LexiconGroup } from './lexicon.ts';
export { deriveWatermarkKey, parseSubject, type WatermarkKey, type WatermarkSubject } from './keys.ts';
export { StreamingWatermarker, watermarkText, type EmbedStats } from './embed.ts';
export { detectWatermark, collectSlots, poissonBinomialTail, type DetectionReport, type KeyScore } from './detect.ts';
export { watermarkTransformer, type WatermarkTally, type WatermarkOptions } from './transform.ts';
export { StreamingJsonWatermarker, watermarkJson, watermarkJsonValue, JSON_PROSE_FROM_WORD, type TextMarker } from './json.ts';
export { runWatermarkCli, recordedSubjects, type CliIo, type OpenRecordedEvents, type RecordedSubject, type RecordedEventQuery } from './cli.ts';
export { markVector, mannWhitneyGreater, triggerCount, vectorMark, verificationTexts, verifyVectorMark, VECTOR_MARK, type VectorMark, type VectorMarkReport } from './vectors.ts';
