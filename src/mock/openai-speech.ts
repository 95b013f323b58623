/**
 * OpenAI `POST /v1/audio/speech`: real audio, not words: a quiet tone as long as reading the input
 * would take (about 15 characters a second, at most 10 s), as WAV, raw PCM (24 kHz, 16-bit mono
 * little-endian, as the API sends it) or MP3 (silent MPEG-1 Layer III frames, the API's default).
 * Other formats are refused. With `stream_format: "sse"` (not for tts-1 and tts-1-hd, as the API
 * says) the audio comes as `speech.audio.delta` events of base64 pieces, then `speech.audio.done`
 * with the usage in tokens (input: the text read; output: 20 audio tokens a second, an estimate).
 */
import type { HandlerContext, Reply } from './context.ts';
import type { Frame } from './pacer.ts';
import { countTokens } from './tokens.ts';
import { MockApiError, sseData } from './wire.ts';

const RATE = 24_000;
const VOICES = new Set(['alloy', 'ash', 'ballad', 'coral', 'echo', 'fable', 'nova', 'onyx', 'sage', 'shimmer', 'verse', 'marin', 'cedar']);
/** A silent MPEG-1 Layer III frame: 128 kbit/s, 44.1 kHz, no padding (417 bytes, 26 ms). */
const MP3_FRAME = (() => { const f = Buffer.alloc(417); f.set([0xff, 0xfb, 0x90, 0x64]); return f; })();

function pcm(seconds: number): Buffer {
  const samples = Math.max(1, Math.round(seconds * RATE));
  const out = Buffer.alloc(samples * 2);
  for (let i = 0; i < samples; i++) out.writeInt16LE(Math.round(2000 * Math.sin((2 * Math.PI * 440 * i) / RATE)), i * 2);
  return out;
}

/** A WAV file (RIFF, PCM 16-bit mono) of `data`. */
export function wav(data: Buffer, rate = RATE): Buffer {
  const head = Buffer.alloc(44);
  head.write('RIFF', 0, 'latin1');
  head.writeUInt32LE(36 + data.length, 4);
  head.write('WAVEfmt ', 8, 'latin1');
  head.writeUInt32LE(16, 16);
  head.writeUInt16LE(1, 20); // PCM
  head.writeUInt16LE(1, 22); // mono
  head.writeUInt32LE(rate, 24);
  head.writeUInt32LE(rate * 2, 28);
  head.writeUInt16LE(2, 32);
  head.writeUInt16LE(16, 34);
  head.write('data', 36, 'latin1');
  head.writeUInt32LE(data.length, 40);
  return Buffer.concat([head, data]);
}

export function handleSpeech(ctx: HandlerContext): Reply {
  const body = ctx.body;
  const model = body.model;
  if (typeof model !== 'string' || model === '') throw new MockApiError(400, "Missing required parameter: 'model'.", { param: 'model', code: 'missing_required_parameter' });
  if (!ctx.catalogue.accepts(model)) throw new MockApiError(404, `The model \`${model.slice(0, 200)}\` does not exist or you do not have access to it.`, { code: 'model_not_found' });
  if (typeof body.input !== 'string' || body.input === '') throw new MockApiError(400, "Missing required parameter: 'input'.", { param: 'input', code: 'missing_required_parameter' });
  if (body.input.length > 4096) throw new MockApiError(400, "Invalid 'input': string too long. Expected a string with maximum length 4096.", { param: 'input', code: 'string_above_max_length' });
  const voice = typeof body.voice === 'string' ? body.voice : (body.voice as { id?: unknown } | undefined)?.id;
  if (typeof voice !== 'string' || !(VOICES.has(voice) || voice.startsWith('voice_'))) throw new MockApiError(400, "Invalid value for 'voice'.", { param: 'voice', code: 'invalid_value' });
  const seconds = Math.min(10, body.input.length / 15);
  const format = body.response_format ?? 'mp3';
  if (body.stream_format !== undefined && body.stream_format !== null && body.stream_format !== 'sse' && body.stream_format !== 'audio') {
    throw new MockApiError(400, "Invalid value for 'stream_format': expected 'sse' or 'audio'.", { param: 'stream_format', code: 'invalid_value' });
  }
  if (body.stream_format === 'sse') {
    if (model === 'tts-1' || model === 'tts-1-hd') throw new MockApiError(400, `Streaming with stream_format 'sse' is not supported for the model \`${model}\`.`, { param: 'stream_format', code: 'invalid_value' });
    return streamSpeech(audioOf(format, seconds), countTokens(body.input), Math.max(1, Math.round(seconds * AUDIO_TOKENS_PER_SECOND)));
  }
  if (format === 'wav') return { binary: { contentType: 'audio/wav', data: wav(pcm(seconds)) }, outputTokens: 0 };
  if (format === 'pcm') return { binary: { contentType: 'audio/pcm', data: pcm(seconds) }, outputTokens: 0 };
  if (format === 'mp3') return { binary: { contentType: 'audio/mpeg', data: Buffer.concat(Array.from({ length: Math.max(1, Math.round(seconds / 0.026)) }, () => MP3_FRAME)) }, outputTokens: 0 };
  throw new MockApiError(400, `The response format '${String(format).slice(0, 20)}' is not supported by this server: ask for mp3, wav or pcm.`, { param: 'response_format', code: 'invalid_value' });
}

/** Output tokens of a second of speech (the mock's estimate; the API reports its own). */
const AUDIO_TOKENS_PER_SECOND = 20;
/** Bytes of audio per `speech.audio.delta` event. */
const DELTA_BYTES = 12_000;

/** The audio of `format` (the formats the mock speaks), or a 400. */
function audioOf(format: unknown, seconds: number): Buffer {
  if (format === 'wav') return wav(pcm(seconds));
  if (format === 'pcm') return pcm(seconds);
  if (format === 'mp3') return mp3(seconds);
  throw new MockApiError(400, `The response format '${String(format).slice(0, 20)}' is not supported by this server: ask for mp3, wav or pcm.`, { param: 'response_format', code: 'invalid_value' });
}

/** About `seconds` of silent MP3 (128 kbit/s, 44.1 kHz): whole frames of 1,152 samples, at least one. */
export function mp3(seconds: number): Buffer {
  return Buffer.concat(Array.from({ length: Math.max(1, Math.round(seconds / 0.026)) }, () => MP3_FRAME));
}

/** The audio as `speech.audio.delta` events of base64 pieces, then `speech.audio.done` with the usage. */
function streamSpeech(audio: Buffer, inputTokens: number, outputTokens: number): Reply {
  const frames: Frame[] = [];
  const pieces = Math.ceil(audio.length / DELTA_BYTES);
  for (let at = 0, k = 0; at < audio.length; at += DELTA_BYTES, k++) {
    // Paced by the audio's tokens, spread over its pieces.
    const tokens = Math.floor(outputTokens * (k + 1) / pieces) - Math.floor(outputTokens * k / pieces);
    frames.push({ data: sseData({ type: 'speech.audio.delta', audio: audio.subarray(at, at + DELTA_BYTES).toString('base64') }), tokens });
  }
  frames.push({ data: sseData({ type: 'speech.audio.done', usage: { input_tokens: inputTokens, output_tokens: outputTokens, total_tokens: inputTokens + outputTokens } }), tokens: 0 });
  return { frames, outputTokens };
}
