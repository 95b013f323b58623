// watermark: keyed lexical watermark for answer text (streaming-compatible embedding, per-account/cluster HKDF keys, detection with exact p-values and key attribution, `warden watermark` CLI), and a backdoor mark for embedding vectors that a copied encoder inherits.
// Imports `config`, `events` and `gateway` (stream types).
export { deriveWatermarkKey } from './keys.ts';
export { watermarkText } from './embed.ts';
export { detectWatermark } from './detect.ts';
export { watermarkTransformer } from './transform.ts';
export { runWatermarkCli } from './cli.ts';
export { markVector, vectorMark, verifyVectorMark, VECTOR_MARK } from './vectors.ts';
