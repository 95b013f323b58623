/**
 * OpenAI legacy `POST /v1/completions`: a prompt (a string, strings, token ids or lists of them)
 * in, `text_completion` choices out, with the legacy `logprobs` object (tokens, token_logprobs,
 * top_logprobs as token -> log-probability maps, text_offset), `echo`, `best_of` and `suffix`;
 * streamed as `text_completion` chunks ending in `data: [DONE]`. `max_tokens` defaults to 16, as
 * the API's does.
 */
import { decode } from 'gpt-tokenizer/encoding/o200k_base';
import { checkInteger, isRecord, mixSeed, type HandlerContext, type Reply } from './context.ts';
import type { Frame } from './pacer.ts';
import { buildPlan, type Plan } from './plan.ts';
import { checkLogitBias, logprobsFor, openaiModel } from './openai-chat.ts';
import { hashString } from './text.ts';
import { countTokens, tokenPieces } from './tokens.ts';
import { ids, MockApiError, SSE_DONE, sseData } from './wire.ts';

const DEFAULT_MAX_TOKENS = 16;

/** The prompts of a request, as text, and their token counts. */
function readPrompts(prompt: unknown): { texts: string[]; tokens: number[] } {
  const invalid = () => new MockApiError(400, "Invalid type for 'prompt': expected a string, an array of strings, an array of integers or an array of arrays of integers.", { param: 'prompt', code: 'invalid_type' });
  const ofIds = (a: unknown[]): string => {
    if (!a.every((t) => typeof t === 'number' && Number.isInteger(t) && t >= 0 && t < 200_000)) throw invalid();
    return decode(a as number[]);
  };
  if (prompt === undefined || prompt === null) throw new MockApiError(400, "Missing required parameter: 'prompt'.", { param: 'prompt', code: 'missing_required_parameter' });
  if (typeof prompt === 'string') return { texts: [prompt], tokens: [countTokens(prompt)] };
  if (!Array.isArray(prompt) || prompt.length === 0) throw invalid();
  if (prompt.every((p) => typeof p === 'string')) return { texts: prompt as string[], tokens: (prompt as string[]).map(countTokens) };
  if (prompt.every((p) => typeof p === 'number')) return { texts: [ofIds(prompt)], tokens: [prompt.length] };
  if (prompt.every((p) => Array.isArray(p))) return { texts: (prompt as unknown[][]).map(ofIds), tokens: (prompt as unknown[][]).map((p) => p.length) };
  throw invalid();
}

interface LegacyLogprobs { tokens: string[]; token_logprobs: (number | null)[]; top_logprobs: (Record<string, number> | null)[]; text_offset: number[] }

/** The legacy logprobs object for `pieces` (answer tokens), after `echoed` prompt pieces when echo is on. */
function legacyLogprobs(echoed: string[], pieces: string[], top: number, seed: number, offset: number): LegacyLogprobs {
  const out: LegacyLogprobs = { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] };
  let at = offset;
  const prompt = logprobsFor(echoed, top, seed ^ 0x9e37);
  echoed.forEach((t, k) => {
    out.tokens.push(t);
    // The first prompt token has no context to be predicted from.
    out.token_logprobs.push(k === 0 ? null : prompt[k].logprob);
    out.top_logprobs.push(k === 0 ? null : Object.fromEntries(prompt[k].top_logprobs.map((x) => [x.token, x.logprob])));
    out.text_offset.push(at);
    at += t.length;
  });
  for (const lp of logprobsFor(pieces, top, seed)) {
    out.tokens.push(lp.token);
    out.token_logprobs.push(lp.logprob);
    out.top_logprobs.push(Object.fromEntries(lp.top_logprobs.map((x) => [x.token, x.logprob])));
    out.text_offset.push(at);
    at += lp.token.length;
  }
  return out;
}

export function handleCompletions(ctx: HandlerContext): Reply {
  const body = ctx.body;
  const model = openaiModel(ctx);
  const prompts = readPrompts(body.prompt);
  const n = checkInteger(body.n, 'n', 1, 128) ?? 1;
  const bestOf = checkInteger(body.best_of, 'best_of', 1, 20) ?? n;
  if (bestOf < n) throw new MockApiError(400, 'best_of must be greater than or equal to n.', { param: 'best_of', code: 'invalid_value' });
  const maxTokens = checkInteger(body.max_tokens, 'max_tokens', 0, null) ?? DEFAULT_MAX_TOKENS;
  const top = checkInteger(body.logprobs, 'logprobs', 0, 5);
  checkLogitBias(body.logit_bias);
  const echo = body.echo === true;
  const stream = body.stream === true;
  if (stream && bestOf > n) throw new MockApiError(400, 'Cannot stream results with best_of greater than n.', { param: 'best_of', code: 'invalid_value' });
  if (body.stream_options !== undefined && body.stream_options !== null && !stream) {
    throw new MockApiError(400, "The 'stream_options' parameter is only allowed when 'stream' is enabled.", { param: 'stream_options', code: 'invalid_value' });
  }
  const includeUsage = stream && isRecord(body.stream_options) && body.stream_options.include_usage === true && !ctx.omitUsage;
  const stop = typeof body.stop === 'string' ? [body.stop] : Array.isArray(body.stop) ? body.stop.filter((s): s is string => typeof s === 'string').slice(0, 4) : [];
  const suffix = typeof body.suffix === 'string' ? body.suffix : '';
  const requestSeed = typeof body.seed === 'number' ? body.seed : 0;

  // Choice index = prompt index * n + choice within the prompt, as the API numbers them.
  const choices: { index: number; prompt: string; plan: Plan; seed: number }[] = [];
  prompts.texts.forEach((p, i) => {
    const base = hashString(`${model}\u0000${p}\u0000${suffix}`, (ctx.seed ^ requestSeed) >>> 0);
    for (let j = 0; j < n; j++) {
      const seed = mixSeed(base, j);
      const answer = ctx.answerTokensOverride ?? Math.round(ctx.answerTokens[0] + (hashString('len', seed) % 1000) / 1000 * (ctx.answerTokens[1] - ctx.answerTokens[0]));
      choices.push({ index: i * n + j, prompt: p, seed, plan: buildPlan({ seed, answerTokens: answer, reasoningTokens: 0, maxTokens, tools: [], toolPreamble: false, stop }) });
    }
  });
  // best_of candidates are generated (and billed) but only the best n are returned.
  const promptTokens = prompts.tokens.reduce((s, t) => s + t, 0);
  const completionTokens = choices.reduce((s, c) => s + c.plan.outputTokens, 0) * (bestOf / n);
  const usage = { prompt_tokens: promptTokens, completion_tokens: Math.round(completionTokens), total_tokens: promptTokens + Math.round(completionTokens) };
  const id = 'cmpl-' + ids.chatCompletion().slice('chatcmpl-'.length);
  const created = Math.floor(Date.now() / 1000);
  const finish = (plan: Plan) => (plan.finish === 'length' ? 'length' : 'stop');
  const echoed = (c: { prompt: string }) => (echo ? tokenPieces(c.prompt).pieces : []);

  if (!stream) {
    const out = choices.map((c) => ({
      text: (echo ? c.prompt : '') + c.plan.answerText,
      index: c.index,
      logprobs: top === null ? null : legacyLogprobs(echoed(c), c.plan.text, top, c.seed, 0),
      finish_reason: finish(c.plan),
    }));
    const completion: Record<string, unknown> = { id, object: 'text_completion', created, model, choices: out, usage };
    if (ctx.omitUsage) delete completion.usage;
    return { body: JSON.stringify(completion), outputTokens: Math.round(completionTokens) };
  }

  const usageTail = includeUsage ? ',"usage":null}' : '}';
  const chunk = (index: number, text: string, logprobs: unknown, fin: string | null): string =>
    `data: {"id":"${id}","object":"text_completion","created":${created},"choices":[{"text":${JSON.stringify(text)},"index":${index},"logprobs":${JSON.stringify(logprobs)},"finish_reason":${fin === null ? 'null' : `"${fin}"`}}],"model":${JSON.stringify(model)}${usageTail}\n\n`;
  const frames: Frame[] = [];
  for (const c of choices) {
    const pre = echoed(c);
    const lp = top === null ? null : legacyLogprobs(pre, c.plan.text, top, c.seed, 0);
    const one = (k: number) => lp && { tokens: [lp.tokens[k]], token_logprobs: [lp.token_logprobs[k]], top_logprobs: [lp.top_logprobs[k]], text_offset: [lp.text_offset[k]] };
    if (echo) frames.push({ data: chunk(c.index, c.prompt, lp && { tokens: lp.tokens.slice(0, pre.length), token_logprobs: lp.token_logprobs.slice(0, pre.length), top_logprobs: lp.top_logprobs.slice(0, pre.length), text_offset: lp.text_offset.slice(0, pre.length) }, null), tokens: 0 });
    c.plan.text.forEach((piece, k) => frames.push({ data: chunk(c.index, piece, one(pre.length + k), null), tokens: 1 }));
    frames.push({ data: chunk(c.index, '', null, finish(c.plan)), tokens: 0 });
  }
  if (includeUsage) frames.push({ data: `data: {"id":"${id}","object":"text_completion","created":${created},"choices":[],"model":${JSON.stringify(model)},"usage":${JSON.stringify(usage)}}\n\n`, tokens: 0 });
  frames.push({ data: SSE_DONE, tokens: 0 });
  return {
    frames,
    errorFrame: () => sseData({ error: { message: 'The server had an error while processing your request. Sorry about that!', type: 'server_error', param: null, code: null } }),
    outputTokens: Math.round(completionTokens),
  };
}
