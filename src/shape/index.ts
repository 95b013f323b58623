// shape: request shaping (output budgets, n, logprobs) and answer filters (withhold or summarise reasoning, strip logprobs, noise on embedding vectors) for the OpenAI and Anthropic wire formats, streaming included.
// Imports `events` and `gateway` (wire and lifecycle types).
export { BUDGET_SET_BY_GATEWAY, UNSHAPED_FLAVOURS, probeShaping, repeatedPrompts, shapeRequest } from './request.ts';
export { modelOutputLimit } from './model-output.ts';
export { answerFilter, composeTransformers } from './answer.ts';
export { restoreSealedThinking } from './answer-anthropic.ts';
export { responsesEcho, responsesResequencer } from './answer-openai.ts';
export { ReasoningSeal } from './seal.ts';
export { extractiveSummary, type Summariser } from './summary.ts';
export { embeddingInputTexts, embeddingNoiseFilter, noiseSeed, noisyVector, shortened, shortenedUnderNoise, vectorFilter } from './embeddings.ts';
