/**
 * What to reserve before the answer exists: input tokens estimated from the request (cheap, no
 * tokenizer on the request path) and output tokens from the request's own cap. Settling at the
 * end replaces both with real usage, so the estimate only has to be in the right range; but it
 * has to see everything the model will read, or one request can overrun a token limit it was
 * never admissible under (a prompt sent as token ids, images, PDFs, audio).
 */
import { constants as zlib, inflateSync } from 'node:zlib';
import type { ApiFlavour } from '../events/index.ts';
import { MAX_JSON_DEPTH } from '../gateway/json-depth.ts';
import { wavByteRate } from '../gateway/audio-length.ts';
import { mp3SecondsOfBase64 } from '../gateway/mp3-length.ts';
import type { UploadedFiles } from '../gateway/lifecycle.ts';
import { BUDGET_SET_BY_GATEWAY } from '../shape/request.ts';

export { wavByteRate };

/** How input is estimated (`limits.estimate`). */
export interface InputEstimateConfig {
  /** Characters of text per token. */
  chars_per_token: number;
  /** Tokens reserved per image, whatever its size. */
  image_tokens: number;
  /** Tokens reserved per image the client asks OpenAI to read at low detail (`detail: "low"`). */
  low_detail_image_tokens: number;
  /** Tokens reserved per PDF page (its text and the picture of the page the model also reads). */
  pdf_page_tokens: number;
  /** Tokens reserved per second of audio input. */
  audio_tokens_per_second: number;
}

/** Keys whose string values are not prompt text (images, files, ids). */
const NON_TEXT_KEYS = new Set(['data', 'image_url', 'url', 'file_data', 'file_id', 'file_url', 'id', 'tool_use_id', 'call_id', 'type', 'role', 'media_type', 'signature']);

/** Parts that are a picture: Anthropic `image`, Chat `image_url`, Responses `input_image`, a computer-use screenshot. */
const IMAGE_PARTS = new Set(['image', 'image_url', 'input_image', 'computer_screenshot']);

/**
 * A PDF counts at least one page per this many bytes: that is all its pages when none of its page
 * objects can be found (encrypted, or compressed in a way not read here), and it keeps a dense
 * page, or pages in object streams left unread, from counting as next to nothing.
 */
const PDF_BYTES_PER_PAGE = 50 * 1024;

/**
 * PDF object streams read per request at most, and the bytes they may inflate to (page objects
 * are a few hundred bytes each). The estimate runs before the request is admitted, so neither a
 * deflate bomb nor thousands of small or broken streams may cost more than a few milliseconds:
 * each attempt is charged at least MIN_INFLATE_CHARGE, whether it inflates or fails.
 */
const MAX_OBJECT_STREAMS = 32;
const MAX_OBJECT_STREAM_BYTES = 4 * 1024 * 1024;
const MIN_INFLATE_CHARGE = 64 * 1024;

/** What may still be inflated for one request (shared by its PDFs). */
export interface InflateBudget { streams: number; bytes: number }

const newInflateBudget = (): InflateBudget => ({ streams: MAX_OBJECT_STREAMS, bytes: MAX_OBJECT_STREAM_BYTES });

/**
 * Audio's bytes a second where neither a WAV header nor MP3 frames say (data that is neither):
 * 32 kbit/s, the lowest bitrate in common use for speech, so that a recording counts at least as
 * long as it is at any usual bitrate. Also the least a WAV header is believed: a forged byte rate
 * cannot make a few bytes count as hours. So no audio counts longer than its bytes at 32 kbit/s
 * (a 4 MiB body: about 17 minutes).
 */
const MIN_AUDIO_BYTES_PER_SECOND = 32_000 / 8;
/**
 * The most a WAV header is believed: 192 kHz, 32-bit, stereo (1.5 MB a second), the richest audio
 * in common use, so a forged sample rate cannot make a long recording count as a moment either.
 */
const MAX_AUDIO_BYTES_PER_SECOND = 192_000 * 4 * 2;
/** Base64 characters decoded to find a WAV file's `fmt ` chunk (it comes first, within a few dozen bytes). */
const WAV_HEADER_BASE64_CHARS = 4096;

/** `chars` of text and `tokens` counted from token ids are known; `guessed` tokens are flat rates for images, PDF pages and audio. */
interface Tally { chars: number; tokens: number; guessed: number; inflate: InflateBudget }

/** OpenAI's `detail: "low"`: Chat's `image_url.detail`, Responses' `detail` on the part. */
function lowDetail(part: Record<string, unknown>): boolean {
  const inner = part.image_url;
  const detail = inner && typeof inner === 'object' ? (inner as Record<string, unknown>).detail : part.detail;
  return detail === 'low';
}

// Bodies nest at most MAX_JSON_DEPTH levels (refused deeper when parsed): everything is walked.
function walk(value: unknown, depth: number, est: InputEstimateConfig, t: Tally): void {
  if (typeof value === 'string') { t.chars += value.length; return; }
  if (depth > MAX_JSON_DEPTH || value === null || typeof value !== 'object') return;
  if (Array.isArray(value)) {
    for (const v of value) walk(v, depth + 1, est, t);
    return;
  }
  const part = value as Record<string, unknown>;
  const type = typeof part.type === 'string' ? part.type : '';
  let payload: string | null = null;
  if (IMAGE_PARTS.has(type)) { t.guessed += lowDetail(part) ? Math.min(est.low_detail_image_tokens, est.image_tokens) : est.image_tokens; payload = 'source'; }
  // a generated image handed back in a Responses `input` is an image (its base64 is in `result`)
  else if (type === 'image_generation_call') { t.guessed += est.image_tokens; payload = 'result'; }
  else if (type === 'document') { documentSource(part.source, depth, est, t); payload = 'source'; }
  else if (type === 'input_file') fileData(part.file_data, est, t);
  else if (type === 'file' && part.file && typeof part.file === 'object') { fileData((part.file as Record<string, unknown>).file_data, est, t); payload = 'file'; }
  else if (type === 'input_audio') { t.guessed += audioTokens(part.input_audio, est); payload = 'input_audio'; }
  for (const k in part) {
    if (NON_TEXT_KEYS.has(k) || k === payload) continue;
    walk(part[k], depth + 1, est, t);
  }
}

/** Anthropic's `document` source: text is text, a PDF is its pages; one given by URL or file id counts one page (unseen). */
function documentSource(source: unknown, depth: number, est: InputEstimateConfig, t: Tally): void {
  const src = (source && typeof source === 'object' ? source : {}) as Record<string, unknown>;
  if (src.type === 'text' && typeof src.data === 'string') t.chars += src.data.length;
  else if (src.type === 'content') walk(src.content, depth + 1, est, t);
  else if (src.type === 'base64' && typeof src.data === 'string' && typeof src.media_type === 'string' && src.media_type.startsWith('text/')) t.chars += base64Bytes(src.data);
  else if (src.type === 'base64' && typeof src.data === 'string') t.guessed += pdfPages(Buffer.from(src.data, 'base64'), t.inflate) * est.pdf_page_tokens;
  else t.guessed += est.pdf_page_tokens;
}

/** OpenAI's `file_data` (a `data:` URL, or bare base64): text is text, anything else a PDF; a file by id or URL counts one page. */
function fileData(data: unknown, est: InputEstimateConfig, t: Tally): void {
  if (typeof data !== 'string' || data.length === 0) { t.guessed += est.pdf_page_tokens; return; }
  let base64 = data;
  if (data.startsWith('data:')) {
    const comma = data.indexOf(',');
    const head = comma > 0 ? data.slice(5, comma).toLowerCase() : '';
    base64 = data.slice(comma + 1);
    const text = head.startsWith('text/') || head.startsWith('application/json') || head.startsWith('application/xml');
    if (text) { t.chars += head.endsWith(';base64') ? base64Bytes(base64) : base64.length; return; }
  }
  t.guessed += pdfPages(Buffer.from(base64, 'base64'), t.inflate) * est.pdf_page_tokens;
}

/**
 * Chat's and Responses' `input_audio` (`{ data: base64, format: 'wav' | 'mp3' }`): its duration
 * times `audio_tokens_per_second`. A WAV file's duration is its bytes over the byte rate its
 * header gives; an MP3's is read from its frames, as an upload's is (src/gateway/mp3-length.ts:
 * whatever `format` says, data is taken for MP3 only if its frames are found); anything else
 * is taken at MIN_AUDIO_BYTES_PER_SECOND.
 */
function audioTokens(audio: unknown, est: InputEstimateConfig): number {
  const data = audio && typeof audio === 'object' ? (audio as Record<string, unknown>).data : undefined;
  if (typeof data !== 'string') return 0;
  const head = Buffer.from(data.slice(0, WAV_HEADER_BASE64_CHARS), 'base64');
  const mp3 = wavByteRate(head) === null ? mp3SecondsOfBase64(data) : null;
  return Math.ceil((mp3 ?? audioSeconds(head, base64Bytes(data))) * est.audio_tokens_per_second);
}

/** Seconds of audio of `bytes` starting with `head`, as reserved: a WAV file's rate within bounds, anything else at MIN_AUDIO_BYTES_PER_SECOND. */
function audioSeconds(head: Buffer, bytes: number): number {
  const byteRate = wavByteRate(head) ?? 0;
  return bytes / Math.min(Math.max(byteRate, MIN_AUDIO_BYTES_PER_SECOND), MAX_AUDIO_BYTES_PER_SECOND);
}

/**
 * Input tokens of a multipart upload's files (src/gateway/uploads.ts): audio at
 * `audio_tokens_per_second` (an MP3's length read from its frames as it came in, a WAV file's from
 * its header, else its bytes at 32 kbit/s, as `input_audio` is estimated), each image at `image_tokens`. `seconds`: the audio's length as the
 * upstream reported it, which replaces the estimate from the bytes when the answer is settled.
 */
export function uploadTokens(uploaded: UploadedFiles, est: InputEstimateConfig, seconds: number | null = null): number {
  if (uploaded.kind === 'image') return uploaded.files.length * est.image_tokens;
  const total = seconds ?? uploaded.files.reduce((s, f) => s + (f.seconds ?? audioSeconds(Buffer.from(f.head), f.bytes)), 0);
  return Math.ceil(total * est.audio_tokens_per_second);
}

/** Bytes that base64 text decodes to. */
function base64Bytes(b64: string): number {
  const padding = b64.endsWith('==') ? 2 : b64.endsWith('=') ? 1 : 0;
  return Math.floor((b64.length * 3) / 4) - padding;
}

const isWhite = (c: number | undefined) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09 || c === 0x0c || c === 0x00;
/** Whether a PDF name ends before this byte (white space, a delimiter, or the end). */
const endsName = (c: number | undefined) => c === undefined || isWhite(c) || '/<>[]()%{}'.includes(String.fromCharCode(c));

const TYPE = Buffer.from('/Type', 'latin1');
const PAGE = Buffer.from('/Page', 'latin1');
const OBJSTM = Buffer.from('/ObjStm', 'latin1');
const STREAM = Buffer.from('stream', 'latin1');
const ENDSTREAM = Buffer.from('endstream', 'latin1');

/** Whether `buf` holds the name `name` at `i` (and the name ends there). */
function nameAt(buf: Buffer, i: number, name: Buffer): boolean {
  if (i + name.length > buf.length) return false;
  for (let k = 0; k < name.length; k++) if (buf[i + k] !== name[k]) return false;
  return endsName(buf[i + name.length]);
}

/**
 * Pages of a PDF: its page objects (`/Type /Page`), in the clear or in Flate-compressed object
 * streams (PDF 1.5 and later put them there), and at least one page per PDF_BYTES_PER_PAGE. Not a
 * parser: an incremental update that rewrites a page counts it twice, which only reserves more.
 * `budget`: object streams that may still be inflated (shared by the PDFs of a request).
 */
export function pdfPages(pdf: Buffer, budget: InflateBudget = newInflateBudget()): number {
  return Math.max(1, pageObjects(pdf, budget, true), Math.ceil(pdf.length / PDF_BYTES_PER_PAGE));
}

/**
 * Page objects in `buf`, in one pass: every search starts where the last one ended, so the work
 * is linear in the bytes, plus at most MAX_OBJECT_STREAM_BYTES inflated and read once more.
 */
function pageObjects(buf: Buffer, budget: InflateBudget, outer: boolean): number {
  let pages = 0;
  for (let at = buf.indexOf(TYPE); at >= 0; at = buf.indexOf(TYPE, at)) {
    let i = at + TYPE.length;
    while (isWhite(buf[i])) i++;
    at = i;
    if (nameAt(buf, i, PAGE)) pages++;
    else if (outer && nameAt(buf, i, OBJSTM)) {
      const stream = objectStream(buf, i + OBJSTM.length, budget);
      if (stream.objects) pages += pageObjects(stream.objects, budget, false);
      // on after the stream: no byte is read twice, however many dictionaries name it
      at = Math.max(at, stream.end);
    }
  }
  return pages;
}

/** The inflated content of the object stream whose dictionary goes on at `from` (null if unread), and where it ends. */
function objectStream(buf: Buffer, from: number, budget: InflateBudget): { objects: Buffer | null; end: number } {
  const keyword = buf.indexOf(STREAM, from);
  if (keyword < 0) return { objects: null, end: buf.length };
  let start = keyword + STREAM.length;
  if (buf[start] === 0x0d) start++;
  if (buf[start] === 0x0a) start++;
  const found = buf.indexOf(ENDSTREAM, start);
  const end = found < 0 ? buf.length : found;
  if (budget.streams <= 0 || budget.bytes <= 0) return { objects: null, end };
  budget.streams--;
  try {
    // Z_SYNC_FLUSH: a stream cut short is read as far as it goes.
    const objects = inflateSync(buf.subarray(start, end), { maxOutputLength: budget.bytes, finishFlush: zlib.Z_SYNC_FLUSH });
    budget.bytes -= Math.max(objects.length, MIN_INFLATE_CHARGE);
    return { objects, end };
  } catch (err) {
    // over the budget: read no more; not Flate, or encrypted: the attempt is charged all the same
    budget.bytes = err instanceof RangeError ? 0 : budget.bytes - MIN_INFLATE_CHARGE;
    return { objects: null, end };
  }
}

/** Token ids sent in place of text (`[1, 2, 3]` or `[[1, 2], [3]]`): one token each. */
function tokenIds(value: unknown): number {
  if (!Array.isArray(value)) return 0;
  let n = 0;
  for (const x of value) {
    if (typeof x === 'number') n++;
    else if (Array.isArray(x)) for (const y of x) if (typeof y === 'number') n++;
  }
  return n;
}

/**
 * Input tokens of a request before it is sent. `known`: its text (messages, system prompt,
 * instructions, tool definitions) / chars per token, and token ids (embeddings `input`, legacy
 * completions `prompt`) one each. `guessed`: flat rates for what cannot be counted without
 * reading it, `image_tokens` an image (`low_detail_image_tokens` when OpenAI is asked for low
 * detail), `pdf_page_tokens` a PDF page (a PDF by URL or file id: one page) and
 * `audio_tokens_per_second` a second of audio. The limiter may cut
 * the guess where it alone would make the request larger than a limit (settlement charges the
 * real count); what is known is reserved whole.
 */
export function estimateInput(body: Record<string, unknown>, est: InputEstimateConfig): { known: number; guessed: number } {
  const t: Tally = { chars: 0, tokens: 0, guessed: 0, inflate: newInflateBudget() };
  for (const field of ['messages', 'input', 'system', 'instructions', 'tools', 'prompt']) {
    if (body[field] === undefined) continue;
    walk(body[field], 0, est, t);
    if (field === 'input' || field === 'prompt') t.tokens += tokenIds(body[field]);
  }
  return { known: Math.ceil(t.chars / est.chars_per_token) + t.tokens, guessed: t.guessed };
}

/** All the input tokens estimateInput finds, known and guessed. */
export function estimateInputTokens(body: Record<string, unknown>, est: InputEstimateConfig): number {
  const { known, guessed } = estimateInput(body, est);
  return known + guessed;
}

function positiveInt(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? Math.floor(v) : null;
}

/**
 * Output tokens the request may produce: its own cap (times `n` choices), or the configured
 * default. A cap the gateway wrote itself (the policy's ceiling, where the client sent none) is
 * not the client's: the default is reserved, at most that ceiling.
 */
export function outputTokenReserve(body: Record<string, unknown>, flavour: ApiFlavour, defaultMax: number, shaping: readonly string[] = []): number {
  if (flavour === 'openai.embeddings' || flavour === 'openai.moderations' || flavour === 'openai.speech') return 0; // vectors, scores, audio: no output tokens counted
  let cap: number | null;
  if (flavour === 'openai.responses') cap = positiveInt(body.max_output_tokens);
  else if (flavour === 'openai.chat') cap = positiveInt(body.max_completion_tokens) ?? positiveInt(body.max_tokens);
  // Legacy completions default to 16 tokens; `best_of` candidates are generated for each prompt.
  else if (flavour === 'openai.completions') cap = positiveInt(body.max_tokens) ?? 16;
  else cap = positiveInt(body.max_tokens);
  if (cap !== null && shaping.includes(BUDGET_SET_BY_GATEWAY)) cap = Math.min(cap, defaultMax);
  let choices = flavour === 'openai.chat' ? positiveInt(body.n) ?? 1 : 1;
  if (flavour === 'openai.completions') {
    const prompts = Array.isArray(body.prompt) && body.prompt.length > 0 && typeof body.prompt[0] !== 'number' ? body.prompt.length : 1;
    choices = Math.max(positiveInt(body.n) ?? 1, positiveInt(body.best_of) ?? 1) * prompts;
  }
  return (cap ?? defaultMax) * choices;
}

/**
 * The parameter that sets the answer's budget when the request named none (or the policy wrote
 * its ceiling in for it), so `estimate.default_max_tokens` was reserved; null when the client
 * named its own. A refusal names it: "lower max_tokens" would name a parameter the request lacks.
 */
export function unsetOutputBudget(body: Record<string, unknown>, flavour: ApiFlavour, shaping: readonly string[] = []): string | null {
  const param = flavour === 'openai.responses' ? 'max_output_tokens' : flavour === 'openai.chat' ? 'max_completion_tokens' : flavour === 'anthropic.messages' ? 'max_tokens' : null;
  if (param === null) return null;
  if (shaping.includes(BUDGET_SET_BY_GATEWAY)) return param;
  const named = flavour === 'openai.chat' ? positiveInt(body.max_completion_tokens) ?? positiveInt(body.max_tokens) : positiveInt(body[param]);
  return named === null ? param : null;
}

/**
 * A stream that showed no reasoning kept pace when its text counted is at least this share of what
 * the rate gives for the time the upstream worked: the rest is a non-reasoning model's prefill and
 * first-token wait, not hidden output.
 */
const PACE_SHARE = 0.5;

/**
 * What to settle for an answer the client left before the upstream's final count (docs/limits.md,
 * "A client that leaves early"). The upstream worked from the moment the request was written to
 * it (`sentAt`; never Warden's own queue) to the hang-up; `tokensPerSecond` is what the operator
 * says the model generates a second. The charge is `max(counted, min(reserved, rate x seconds))`:
 * never more than the upstream could have produced in that time, never less than what was seen.
 * A stream that showed no thinking or reasoning and whose text kept pace (PACE_SHARE) is
 * settled to what was counted. A request never written upstream is settled to what was counted.
 */
export function cutAnswerUsage(
  counted: { inputTokens: number; outputTokens: number },
  reserved: { inputTokens: number; outputTokens: number },
  cut: { sentAt: number | null; reasoningShown: boolean; endedAt: number },
  tokensPerSecond: number,
): { inputTokens: number; outputTokens: number } {
  if (cut.sentAt === null) return { ...counted };
  const inputTokens = counted.inputTokens > 0 ? counted.inputTokens : reserved.inputTokens;
  const couldProduce = tokensPerSecond * Math.max(0, cut.endedAt - cut.sentAt) / 1000;
  if (!cut.reasoningShown && counted.outputTokens >= PACE_SHARE * couldProduce) return { inputTokens, outputTokens: counted.outputTokens };
  const outputTokens = Math.max(counted.outputTokens, Math.min(reserved.outputTokens, Math.ceil(couldProduce)));
  return { inputTokens, outputTokens };
}
