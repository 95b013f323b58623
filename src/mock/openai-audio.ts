/**
 * OpenAI `POST /v1/audio/transcriptions` and `/v1/audio/translations` (multipart: `file`, `model`,
 * `prompt`, `response_format`, `temperature`, `language`, `timestamp_granularities[]`, `stream`).
 * The transcript is made-up prose, deterministic from the file's SHA-256 (the same recording, the
 * same words), about 2.5 words a second of audio: a WAV file's length is read from its header,
 * other audio is taken at 128 kbit/s. Answers as the real API: `json` (`text` and `usage`),
 * `text`, `srt`, `vtt` and `verbose_json` (segments; words with `timestamp_granularities[]=word`)
 * for Whisper; `json` and `text` for the GPT-4o transcribe models, which stream
 * `transcript.text.delta` and `transcript.text.done` events with `stream=true` (Whisper ignores
 * it). Usage: tokens for the GPT-4o models (10 audio tokens a second, the prompt's text tokens),
 * seconds for Whisper; translations report none.
 */
import type { HandlerContext, Reply } from './context.ts';
import { isMockFile, type MockFile } from './form.ts';
import type { Frame } from './pacer.ts';
import { answerPieces, hashString, Rng } from './text.ts';
import { countTokens } from './tokens.ts';
import { MockApiError, sseData } from './wire.ts';

const FORMATS = ['flac', 'm4a', 'mp3', 'mp4', 'mpeg', 'mpga', 'oga', 'ogg', 'wav', 'webm'];
/** OpenAI's limit for an audio file: 25 MiB. */
export const MAX_AUDIO_BYTES = 26_214_400;
/** Audio tokens a second the GPT-4o transcribe models are billed (the mock's figure). */
const AUDIO_TOKENS_PER_SECOND = 10;
/** Bytes a second of audio whose header does not say: 128 kbit/s. */
const COMPRESSED_BYTES_PER_SECOND = 16_000;
const WORDS_PER_SECOND = 2.5;

type Task = 'transcribe' | 'translate';

/** Seconds of the recording: a WAV header's rate, else 128 kbit/s. */
function audioSeconds(file: MockFile): number {
  const h = file.head;
  let rate = COMPRESSED_BYTES_PER_SECOND;
  if (h.length >= 36 && h.toString('latin1', 0, 4) === 'RIFF' && h.toString('latin1', 8, 12) === 'WAVE' && h.toString('latin1', 12, 16) === 'fmt ') {
    rate = h.readUInt32LE(24) * h.readUInt16LE(32) || rate;
  }
  return Math.max(0.1, Math.round((Math.max(0, file.size - 44) / rate) * 100) / 100);
}

const invalid = (message: string, param: string, code = 'invalid_value') => new MockApiError(400, message, { param, code });

export const handleTranscriptions = (ctx: HandlerContext): Reply => audioText(ctx, 'transcribe');
export const handleTranslations = (ctx: HandlerContext): Reply => audioText(ctx, 'translate');

function audioText(ctx: HandlerContext, task: Task): Reply {
  const body = ctx.body;
  const model = body.model;
  if (typeof model !== 'string' || model === '') throw invalid("Missing required parameter: 'model'.", 'model', 'missing_required_parameter');
  if (!ctx.catalogue.accepts(model)) throw new MockApiError(404, `The model \`${model.slice(0, 200)}\` does not exist or you do not have access to it.`, { code: 'model_not_found' });
  const gpt = /^gpt-4o(-mini)?-transcribe/.test(model);
  if (!(model.startsWith('whisper') || (gpt && task === 'transcribe'))) {
    throw invalid(`The model \`${model.slice(0, 100)}\` does not ${task === 'transcribe' ? 'transcribe' : 'translate'} audio.`, 'model');
  }
  const file = body.file;
  if (!isMockFile(file)) throw invalid("Missing required parameter: 'file'.", 'file', 'missing_required_parameter');
  const ext = /\.([a-z0-9]+)$/i.exec(file.filename)?.[1]?.toLowerCase() ?? '';
  if (!FORMATS.includes(ext)) throw invalid(`Invalid file format. Supported formats: ${JSON.stringify(FORMATS)}`, 'file');
  if (file.size > MAX_AUDIO_BYTES) throw new MockApiError(413, `Maximum content size limit (${MAX_AUDIO_BYTES}) exceeded (${file.size} bytes read)`, { code: null });
  const format = body.response_format ?? 'json';
  const formats = gpt ? ['json', 'text'] : ['json', 'text', 'srt', 'verbose_json', 'vtt'];
  if (typeof format !== 'string' || !formats.includes(format)) {
    throw invalid(`response_format '${String(format).slice(0, 20)}' is not compatible with model '${model.slice(0, 100)}'. Use ${formats.map((f) => `'${f}'`).join(' or ')} instead.`, 'response_format', 'unsupported_value');
  }
  if (body.temperature !== undefined) {
    const t = Number(body.temperature);
    if (!Number.isFinite(t) || t < 0 || t > 1) throw invalid(`Invalid 'temperature': expected a number from 0 to 1.`, 'temperature');
  }
  const prompt = typeof body.prompt === 'string' ? body.prompt : '';
  const seconds = audioSeconds(file);
  const rng = new Rng(hashString(`${task}\u0000${file.sha256}`, ctx.seed));
  const pieces = answerPieces(Math.min(400, Math.max(3, Math.round(seconds * WORDS_PER_SECOND))), rng);
  const text = pieces.join('').trim();
  const language = task === 'translate' ? 'english' : typeof body.language === 'string' && body.language ? body.language : 'english';
  const textTokens = countTokens(prompt);
  const audioTokens = Math.ceil(seconds * AUDIO_TOKENS_PER_SECOND);
  const usage = task === 'translate' ? null : gpt
    ? { type: 'tokens', input_tokens: audioTokens + textTokens, input_token_details: { text_tokens: textTokens, audio_tokens: audioTokens }, output_tokens: pieces.length, total_tokens: audioTokens + textTokens + pieces.length }
    : { type: 'duration', seconds: Math.ceil(seconds) };

  // `include[]=logprobs` (GPT-4o transcribe models, json only): each token's log-probability.
  const withLogprobs = gpt && Array.isArray(body.include) && body.include.includes('logprobs');
  const logprobsOf = (piece: string) => [{ token: piece, logprob: -Math.round(rng.next() * 1000) / 1000, bytes: [...Buffer.from(piece)] }];
  if (gpt && (body.stream === true || body.stream === 'true')) {
    const all: unknown[] = [];
    const frames: Frame[] = pieces.map((p, i) => {
      const delta = i === 0 ? p.trimStart() : p;
      const lp = withLogprobs ? logprobsOf(delta) : null;
      if (lp) all.push(...lp);
      return { data: sseData({ type: 'transcript.text.delta', delta, ...(lp ? { logprobs: lp } : {}) }), tokens: 1 };
    });
    frames.push({ data: sseData({ type: 'transcript.text.done', text, ...(withLogprobs ? { logprobs: all } : {}), usage }), tokens: 0 });
    return { frames, outputTokens: pieces.length };
  }
  const segments = timedSegments(pieces, seconds);
  if (format === 'text') return textReply(`${text}\n`, pieces.length);
  if (format === 'srt') return textReply(segments.map((s, i) => `${i + 1}\n${clock(s.start, ',')} --> ${clock(s.end, ',')}\n${s.text}\n`).join('\n'), pieces.length);
  if (format === 'vtt') return textReply(`WEBVTT\n\n${segments.map((s) => `${clock(s.start, '.')} --> ${clock(s.end, '.')}\n${s.text}\n`).join('\n')}`, pieces.length);
  const answer: Record<string, unknown> = { text };
  if (withLogprobs && format === 'json') answer.logprobs = pieces.flatMap((p) => logprobsOf(p));
  if (format === 'verbose_json') {
    Object.assign(answer, { task, language, duration: seconds, text });
    const granularities = Array.isArray(body.timestamp_granularities) ? body.timestamp_granularities : ['segment'];
    if (granularities.includes('segment')) {
      answer.segments = segments.map((s, id) => ({ id, seek: 0, start: s.start, end: s.end, text: s.text, tokens: [], temperature: 0, avg_logprob: -0.25, compression_ratio: 1.3, no_speech_prob: 0.01 }));
    }
    if (granularities.includes('word') && task === 'transcribe') answer.words = timedWords(pieces, seconds);
  }
  if (usage) answer.usage = usage;
  return { body: JSON.stringify(answer), outputTokens: pieces.length };
}

const textReply = (text: string, tokens: number): Reply => ({ binary: { contentType: 'text/plain; charset=utf-8', data: Buffer.from(text) }, outputTokens: tokens });

/** Each piece's share of the recording, evenly. */
function timedWords(pieces: string[], seconds: number): { word: string; start: number; end: number }[] {
  const words = pieces.map((p) => p.trim()).filter((w) => /\w/.test(w));
  const step = seconds / Math.max(1, words.length);
  return words.map((word, i) => ({ word, start: round(i * step), end: round((i + 1) * step) }));
}

/** Sentences as segments, timed by their share of the pieces. */
function timedSegments(pieces: string[], seconds: number): { start: number; end: number; text: string }[] {
  const out: { start: number; end: number; text: string }[] = [];
  const step = seconds / Math.max(1, pieces.length);
  let from = 0;
  for (let i = 0; i < pieces.length; i++) {
    if (!pieces[i].startsWith('.') && i < pieces.length - 1) continue;
    out.push({ start: round(from * step), end: round((i + 1) * step), text: pieces.slice(from, i + 1).join('').trim() });
    from = i + 1;
  }
  return out;
}

const round = (s: number) => Math.round(s * 100) / 100;

/** `HH:MM:SS,mmm` (SRT) or `HH:MM:SS.mmm` (WebVTT). */
function clock(s: number, sep: string): string {
  const ms = Math.round(s * 1000);
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${pad(Math.floor(ms / 3_600_000))}:${pad(Math.floor(ms / 60_000) % 60)}:${pad(Math.floor(ms / 1000) % 60)}${sep}${pad(ms % 1000, 3)}`;
}
