/**
 * Turn a request body (any of the three wire formats) into the event's `request` section:
 * system prompt, messages as text, tool names, and the sampling/reasoning parameters.
 * Unknown fields are ignored here (they are still forwarded untouched).
 */
import { streamRequested } from './wire.ts';
import { emptyParams, promptFingerprint, saysNothing, summariseLogitBias, tally, type ApiFlavour, type EventMessage, type EventRequest } from '../events/index.ts';

export interface FeatureOptions {
  recordPrompts: 'full' | 'none';
  maxMessageChars: number;
  /** Messages an event keeps (the first quarter, the last, the latest user turns with text), the rest summed up in `messages_omitted` (default EVENT_MAX_MESSAGES). */
  maxMessages?: number;
  /** Characters of prompt text an event keeps in all (system first, then each user turn's start and end, then the messages from the last back), default EVENT_MAX_PROMPT_CHARS. */
  maxPromptChars?: number;
  /** When documents are collected: PDFs (default true), and images for their text to be recognised (default false). */
  readPdfs?: boolean;
  readImages?: boolean;
}

type Json = Record<string, unknown>;

/**
 * What an event keeps of a request, whatever its body holds: its cost to build, store, send to the
 * detector and commit to the ledger (on the thread that serves every request) is bounded by these,
 * not by the body (97,500 messages of "hi" made a 3.7 MB event).
 */
export const EVENT_MAX_MESSAGES = 200;
export const EVENT_MAX_PROMPT_CHARS = 256 * 1024;
/** Responses `item_reference` ids an event keeps; the rest are counted in `item_references_omitted`. */
export const EVENT_MAX_ITEM_REFERENCES = 64;
/** Tool names an event keeps (OpenAI accepts 128 tools); the rest are counted in `tools_omitted`. */
export const EVENT_MAX_TOOLS = 128;

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

/**
 * Of a name the client gives (a role, a part type, a tool, a choice, a parameter's value), the
 * characters an event keeps: real ones are a few words, and an event must not be as large as a
 * body of 19,000-character roles.
 */
export const EVENT_MAX_NAME_CHARS = 64;
const name = (v: string): string => (v.length > EVENT_MAX_NAME_CHARS ? v.slice(0, EVENT_MAX_NAME_CHARS) : v);
const nameOf = (v: unknown): string | null => (typeof v === 'string' ? name(v) : null);
/** Distinct part types a message counts; the others are counted as `other`. */
const MAX_PART_TYPES = 32;
/** The roles the APIs know: those left out of an event are counted under their own name, any other as `other`. */
const ROLES = new Set(['system', 'developer', 'user', 'assistant', 'tool', 'function']);

/** Count `n` more of `key` in `counts` (as `tally` does), within MAX_PART_TYPES distinct keys. */
function count(counts: Record<string, number>, key: string, n = 1): void {
  const k = Object.hasOwn(counts, key) || Object.keys(counts).length < MAX_PART_TYPES ? key : 'other';
  Object.defineProperty(counts, k, { value: (Object.hasOwn(counts, k) ? counts[k] : 0) + n, enumerable: true, writable: true, configurable: true });
}

/** Of a text document sent inline, what is read (the rest is counted, not decoded); of a PDF, the characters kept. */
export const DOCUMENT_TEXT_BYTES = 64 * 1024;

/**
 * A PDF or image a message carries, to be read off the request path (src/documents) and its text
 * added to the message (for the system and developer messages' documents, `system_documents`).
 */
export interface PendingDocument {
  message: EventMessage;
  /** Its bytes, base64. */
  data: string;
  kind: 'pdf' | 'image';
}

/**
 * A document given by URL: the upstream fetches it, Warden does not (it would fetch any address a
 * client names); counted as unread.
 */
const BY_URL = '';

/** What a message's parts carry to be read: PDFs and images (`data` BY_URL for one given by URL), or null when nothing is collected. */
interface Found { docs: { data: string; kind: 'pdf' | 'image' }[]; pdfs: boolean; images: boolean }

/** Image types both APIs accept (and the reader recognises). */
const IMAGE_TYPES = new Set(['image/png', 'image/jpeg', 'image/jpg', 'image/gif', 'image/webp']);

/** The base64 bytes of an image sent as a `data:image/...;base64,` URL, BY_URL for one given by address, null otherwise. */
function imageUrlData(v: unknown): string | null {
  if (typeof v !== 'string') return null;
  if (!v.startsWith('data:')) return v.startsWith('http://') || v.startsWith('https://') ? BY_URL : null;
  const comma = v.indexOf(',');
  const head = comma > 0 ? v.slice(5, comma).toLowerCase() : '';
  const semi = head.indexOf(';');
  return head.endsWith(';base64') && IMAGE_TYPES.has(semi < 0 ? head : head.slice(0, semi)) ? v.slice(comma + 1) : null;
}

/** An image part's bytes to read (Anthropic `image`, OpenAI Chat `image_url`, Responses `input_image`), BY_URL, or null. */
function imagePart(type: string, p: Json): string | null {
  if (type === 'image') {
    const src = p.source as Json | undefined;
    if (!src || typeof src !== 'object') return null;
    if (src.type === 'base64' && typeof src.data === 'string' && typeof src.media_type === 'string' && IMAGE_TYPES.has(src.media_type)) return src.data;
    return src.type === 'url' ? BY_URL : null;
  }
  if (type === 'image_url') return imageUrlData((p.image_url as Json | undefined)?.url ?? p.image_url);
  if (type === 'input_image') return imageUrlData(p.image_url);
  return null;
}

/** The base64 bytes of a PDF sent inline: a `data:application/pdf;base64,` URL, or bare base64 that starts as a PDF does. */
function pdfData(v: unknown): string | null {
  if (typeof v !== 'string') return null;
  if (v.startsWith('data:')) {
    // `data:application/pdf;base64,` give or take parameters (`;name=report.pdf`).
    const comma = v.indexOf(',');
    const head = comma > 0 ? v.slice(5, comma).toLowerCase() : '';
    return head.startsWith('application/pdf') && head.endsWith(';base64') ? v.slice(comma + 1) : null;
  }
  return v.startsWith('JVBER') ? v : null;
}
/** The text of a `data:` URL of a text type (plain text, markdown, CSV, JSON, XML, HTML), its start; '' for anything else. */
function dataUrlText(url: unknown): string {
  if (typeof url !== 'string' || !url.startsWith('data:')) return '';
  const comma = url.indexOf(',');
  const head = url.slice(5, comma).toLowerCase();
  if (comma < 0 || !(head.startsWith('text/') || head.startsWith('application/json') || head.startsWith('application/xml'))) return '';
  if (!head.endsWith(';base64')) {
    // Percent-escapes decoded one by one: a malformed one (or one cut at the end) stays as it is.
    const raw = url.slice(comma + 1, comma + 1 + DOCUMENT_TEXT_BYTES * 3).replace(/%([0-9a-f]{2})/gi, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
    return Buffer.from(raw, 'latin1').toString('utf8').slice(0, DOCUMENT_TEXT_BYTES);
  }
  return Buffer.from(url.slice(comma + 1, comma + 1 + Math.ceil(DOCUMENT_TEXT_BYTES / 3) * 4), 'base64').toString('utf8');
}
/**
 * The text of a document part the model reads as text: Anthropic's `document` with a `text`,
 * `content` or text-typed `base64` source; OpenAI's `input_file` (Responses) or `file` (Chat) with
 * a text-typed `file_data`. A prompt put in a text file is a prompt. PDFs and images: ''.
 */
function documentText(type: string, p: Json, parts: Record<string, number>, found: Found | null): string {
  let pdf: string | null = null;
  let text = '';
  if (type === 'document') {
    const src = p.source as Json | undefined;
    if (!src || typeof src !== 'object') return '';
    if (src.type === 'text' && typeof src.data === 'string') return src.data.slice(0, DOCUMENT_TEXT_BYTES);
    if (src.type === 'content') return contentText(src.content, parts, found);
    if (src.type === 'base64' && typeof src.media_type === 'string' && src.media_type.startsWith('text/')) return dataUrlText(`data:${src.media_type};base64,${String(src.data)}`);
    if (src.type === 'base64' && src.media_type === 'application/pdf') pdf = typeof src.data === 'string' ? src.data : null;
    else if (src.type === 'url') pdf = BY_URL;
  } else if (type === 'input_file') {
    text = dataUrlText(p.file_data);
    if (!text) pdf = pdfData(p.file_data);
    if (pdf === null && typeof p.file_url === 'string') pdf = BY_URL;
  } else if (type === 'file') {
    const data = (p.file as Json | undefined)?.file_data;
    text = dataUrlText(data);
    if (!text) pdf = pdfData(data);
  }
  if (pdf !== null && found?.pdfs) found.docs.push({ data: pdf, kind: 'pdf' });
  return text;
}

/**
 * Text of a content value: a string, or an array of parts whose text parts are joined. With
 * `docs`, the text of its text documents goes there instead (a system prompt's own text is kept
 * apart from what is attached to it).
 */
function contentText(content: unknown, parts: Record<string, number>, found: Found | null = null, docs: string[] | null = null): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  let text = '';
  for (const part of content) {
    if (typeof part === 'string') { text += part; continue; }
    if (!part || typeof part !== 'object') continue;
    const p = part as Json;
    const type = typeof p.type === 'string' ? name(p.type) : 'unknown';
    if (typeof p.text === 'string' && (type === 'text' || type === 'input_text' || type === 'output_text')) {
      text += (text ? '\n' : '') + p.text;
    } else {
      count(parts, type);
      // tool results and text documents carry text the model will read: keep it countable
      if (type === 'tool_result') text += (text ? '\n' : '') + contentText(p.content, parts, found, docs);
      else if (type === 'document' || type === 'input_file' || type === 'file') {
        const doc = documentText(type, p, parts, found);
        if (doc && docs) docs.push(doc);
        else if (doc) text += (text ? '\n' : '') + doc;
      } else if (found?.images && (type === 'image' || type === 'image_url' || type === 'input_image')) {
        const data = imagePart(type, p);
        if (data !== null) found.docs.push({ data, kind: 'image' });
      }
    }
  }
  return text;
}

/** Whether a request names a file or document (a policy hook may put its content in place: describe the request again after it). */
export function namesDocuments(request: EventRequest): boolean {
  const named = (m: EventMessage) => !!m.parts && !!(m.parts.input_file || m.parts.file || m.parts.document || m.parts.input_image || m.parts.image);
  return request.messages.some(named) || (request.system_documents !== undefined && named(request.system_documents));
}

function message(role: string, content: unknown, opts: FeatureOptions, pending: PendingDocument[] | null): EventMessage {
  const parts: Record<string, number> = {};
  const found = collector(opts, pending);
  const full = contentText(content, parts, found);
  const msg: EventMessage = {
    role,
    text: opts.recordPrompts === 'none' ? null : full.length > opts.maxMessageChars ? cut(full, opts.maxMessageChars, role === 'user') : full,
    chars: full.length,
  };
  if (Object.keys(parts).length) msg.parts = parts;
  if (found) collected(msg, found, pending!);
  return msg;
}

/** What collects a message's documents, or null when none are read. */
function collector(opts: FeatureOptions, pending: PendingDocument[] | null): Found | null {
  return pending && opts.recordPrompts !== 'none' ? { docs: [], pdfs: opts.readPdfs ?? true, images: opts.readImages ?? false } : null;
}

/** Hand the documents found to the reader as `msg`'s; those given by URL are counted unread. */
function collected(msg: EventMessage, found: Found, pending: PendingDocument[]): void {
  for (const { data, kind } of found.docs) {
    if (data === BY_URL) msg.documents_unread = (msg.documents_unread ?? 0) + 1;
    else pending.push({ message: msg, data, kind });
  }
}

/**
 * The system and developer messages: their text joined (the event's `system`), and their
 * documents (text files, PDFs, images), whose text goes to a message of its own
 * (`system_documents`): a system prompt's text is the same from request to request, what is
 * attached to it may not be, nor what the reader makes of it (busy, given up, another OCR
 * language), and the detector fingerprints the prompt's text.
 */
class SystemMessages {
  readonly texts: string[] = [];
  /** The text of text documents attached to them. */
  private readonly docTexts: string[] = [];
  private readonly parts: Record<string, number> = {};
  private readonly found: Found | null;
  constructor(private readonly opts: FeatureOptions, private readonly pending: PendingDocument[] | null) {
    this.found = collector(opts, pending);
  }

  add(content: unknown): void {
    this.texts.push(contentText(content, this.parts, this.found, this.docTexts));
  }

  /** The documents' message (its text added once they are read), or undefined when there were none. */
  documents(): EventMessage | undefined {
    if (!Object.keys(this.parts).length) return undefined;
    const full = this.docTexts.join('\n');
    const text = this.opts.recordPrompts === 'none' ? null : full.length > this.opts.maxMessageChars ? full.slice(0, this.opts.maxMessageChars) : full;
    const msg: EventMessage = { role: 'system', text, chars: full.length, parts: this.parts };
    if (this.found) collected(msg, this.found, this.pending!);
    return msg;
  }
}

/**
 * Add what was read of each document (PDF or image) to its message, in the order they came:
 * after the message's other text, within `maxMessageChars`. A document not read to its end
 * (reader busy, too slow, unparseable) is counted in `documents_unread`, with the text of the
 * pages read before it was given up, and in `documents_unreadable` too when the document itself
 * was the reason (a PDF read whose text layer does not read as language is both); one that is not a PDF or an image at all is nothing to read. With `request`,
 * its prompt text is then brought back within `maxPromptChars` (see keepPromptChars).
 */
export function addDocumentText(docs: readonly Pick<PendingDocument, 'message'>[], readings: readonly { result: string; text: string; unreadable?: boolean; imagesSkipped?: number }[], maxMessageChars: number,
  request?: EventRequest, maxPromptChars = EVENT_MAX_PROMPT_CHARS): void {
  for (let i = 0; i < docs.length; i++) {
    const msg = docs[i].message;
    const r = readings[i];
    if (r.result === 'not_pdf' || r.result === 'not_image') continue;
    // Not read to the end (given up on a later page, or not at all; scanned pages not
    // recognised): counted unread, and what was read kept.
    // A PDF read whose text layer is not language (`unreadable` with `read`) is not read either.
    if (r.result !== 'read' || (r.imagesSkipped ?? 0) > 0 || r.unreadable) msg.documents_unread = (msg.documents_unread ?? 0) + 1;
    // Of those, the ones the document itself kept from being read (the detector counts them; a
    // copy of one the reader gave up on before is answered from its memory, and counts the same).
    if (r.unreadable) msg.documents_unreadable = (msg.documents_unreadable ?? 0) + 1;
    if (!r.text.trim()) continue;
    const sep = msg.chars > 0 ? 1 : 0;
    if (msg.text !== null && msg.text.length < maxMessageChars) msg.text = (msg.text + (sep ? '\n' : '') + r.text).slice(0, maxMessageChars);
    msg.chars += sep + r.text.length;
  }
  if (request) keepPromptChars(request, maxPromptChars, true); // documents are read in conversations only
}

function toolNames(tools: unknown): string[] {
  if (!Array.isArray(tools)) return [];
  const names: string[] = [];
  for (const t of tools) {
    if (!t || typeof t !== 'object') continue;
    const o = t as Json;
    const fn = o.function as Json | undefined;
    const n = str(o.name) ?? (fn ? str(fn.name) : null) ?? str(o.type);
    if (n) names.push(name(n));
  }
  return names;
}

function toolChoice(v: unknown): string | null {
  if (typeof v === 'string') return name(v);
  if (v && typeof v === 'object') {
    const o = v as Json;
    return nameOf(o.type) ?? nameOf(o.name) ?? 'object';
  }
  return null;
}

/** A legacy completions prompt (or embeddings input) as text: a string, strings, or token ids (kept as their count). */
function completionPrompts(prompt: unknown): string[] {
  if (typeof prompt === 'string') return [prompt];
  if (!Array.isArray(prompt)) return [];
  if (prompt.every((p) => typeof p === 'number')) return [`[${prompt.length} token ids]`];
  return prompt.map((p) => (typeof p === 'string' ? p : Array.isArray(p) ? `[${p.length} token ids]` : ''));
}

/** A chat request's messages as (role, full text) pairs, for the prompt fingerprint. */
function* chatPrompt(messages: Json[]): Generator<readonly [string, string]> {
  for (const m of messages) if (m && typeof m === 'object') yield [str(m.role) ?? 'user', contentText(m.content, {})] as const;
}

/**
 * `pdfs`, when given, collects the PDFs (and, with `opts.readImages`, the images) the messages
 * carry: their text is not read here (that takes milliseconds to seconds, see src/documents).
 * Without it they are counted in `parts` only.
 */
export function extractRequestFeatures(flavour: ApiFlavour, body: Json, bytes: number, opts: FeatureOptions, pdfs: PendingDocument[] | null = null): EventRequest {
  const params = emptyParams();
  // Messages as (role, content, documents collected?), described once it is known which are kept.
  const listed: [string, unknown, boolean][] = [];
  const messages = { push: (role: string, content: unknown, docs: boolean) => { listed.push([name(role), content, docs]); } };
  // Made at the first system message (most requests of some APIs have none: no collector to make).
  let systems: SystemMessages | null = null;
  const system = (content: unknown) => (systems ??= new SystemMessages(opts, pdfs)).add(content);
  params.temperature = num(body.temperature);
  params.top_p = num(body.top_p);
  params.seed = num(body.seed);
  /** Responses `item_reference` ids, as the client gave them. */
  const references: unknown[] = [];

  if (flavour === 'anthropic.messages') {
    params.max_tokens = num(body.max_tokens);
    params.stop = Array.isArray(body.stop_sequences) && body.stop_sequences.length > 0;
    const thinking = body.thinking as Json | undefined;
    if (thinking && typeof thinking === 'object') {
      const type = nameOf(thinking.type);
      if (type) params.thinking = type;
      if (type === 'enabled') params.thinking_budget = num(thinking.budget_tokens);
    }
    // How much the model thinks and writes (`low` to `max`): a reasoning effort as OpenAI's is.
    const outputConfig = body.output_config as Json | undefined;
    if (outputConfig && typeof outputConfig === 'object') params.reasoning_effort = nameOf(outputConfig.effort);
    if (body.system !== undefined) system(body.system);
    if (Array.isArray(body.messages)) {
      for (const m of body.messages as Json[]) if (m && typeof m === 'object') messages.push(str(m.role) ?? 'user', m.content, true);
    }
  } else if (flavour === 'openai.chat') {
    params.max_tokens = num(body.max_completion_tokens) ?? num(body.max_tokens);
    params.n = num(body.n);
    params.logprobs = typeof body.logprobs === 'boolean' ? body.logprobs : null;
    params.top_logprobs = num(body.top_logprobs);
    if (body.logit_bias !== undefined && body.logit_bias !== null) {
      params.logit_bias = summariseLogitBias(body.logit_bias);
      if (params.logit_bias && Array.isArray(body.messages)) params.logit_bias.prompt = promptFingerprint(chatPrompt(body.messages as Json[]));
    }
    params.reasoning_effort = nameOf(body.reasoning_effort);
    params.stop = body.stop !== undefined && body.stop !== null;
    const rf = body.response_format as Json | undefined;
    params.response_format = rf ? nameOf(rf.type) : null;
    if (Array.isArray(body.messages)) {
      for (const m of body.messages as Json[]) {
        if (!m || typeof m !== 'object') continue;
        const role = str(m.role) ?? 'user';
        if (role === 'system' || role === 'developer') system(m.content);
        else messages.push(role, m.content, true);
      }
    }
  } else if (flavour === 'openai.embeddings') {
    // Each input is a user message (a text the client wants embedded); nothing is generated.
    for (const p of completionPrompts(body.input)) messages.push('user', p, false);
  } else if (flavour === 'openai.speech') {
    // The text to read aloud; the answer is audio.
    if (typeof body.input === 'string') messages.push('user', body.input, false);
  } else if (flavour === 'openai.transcriptions' || flavour === 'openai.translations' || flavour === 'openai.image_edits' || flavour === 'openai.image_variations') {
    // A multipart upload: its prompt (a transcript's style and vocabulary, or what to make of the
    // images) is the user message; its files are counted on it by the upload's reader (upload-body.ts).
    if (flavour === 'openai.image_edits' || flavour === 'openai.image_variations') params.n = num(body.n);
    params.response_format = nameOf(body.response_format);
    messages.push('user', typeof body.prompt === 'string' ? body.prompt : '', false);
  } else if (flavour === 'openai.images') {
    // The prompt is what the client wants drawn; `n` pictures of it.
    params.n = num(body.n);
    if (typeof body.prompt === 'string') messages.push('user', body.prompt, false);
  } else if (flavour === 'openai.moderations') {
    // Each string is a user message to judge; a list of text and image parts is one, as a chat message's content.
    const input = body.input;
    if (Array.isArray(input) && input.some((p) => p !== null && typeof p === 'object')) messages.push('user', input, true);
    else for (const p of completionPrompts(input)) messages.push('user', p, false);
  } else if (flavour === 'openai.completions') {
    // Legacy completions: `logprobs` is how many alternatives per token (0-5), `echo` returns the
    // prompt's own log-probabilities too; each prompt of a batch is a user message here.
    params.max_tokens = num(body.max_tokens);
    params.n = num(body.n);
    const lp = num(body.logprobs);
    params.logprobs = lp === null ? null : true;
    params.top_logprobs = lp;
    params.stop = body.stop !== undefined && body.stop !== null;
    if (body.echo === true) params.echo = true;
    const prompts = completionPrompts(body.prompt);
    for (const p of prompts) messages.push('user', p, false);
    if (body.logit_bias !== undefined && body.logit_bias !== null) {
      params.logit_bias = summariseLogitBias(body.logit_bias);
      if (params.logit_bias) params.logit_bias.prompt = promptFingerprint(prompts.map((p) => ['user', p] as const));
    }
  } else {
    // openai.responses
    params.max_tokens = num(body.max_output_tokens);
    params.top_logprobs = num(body.top_logprobs);
    const reasoning = body.reasoning as Json | undefined;
    params.reasoning_effort = reasoning ? nameOf(reasoning.effort) : null;
    const text = body.text as Json | undefined;
    const fmt = text?.format as Json | undefined;
    params.response_format = fmt ? nameOf(fmt.type) : null;
    if (typeof body.instructions === 'string') system(body.instructions);
    // A stored prompt's variables are what the caller asks through its template (which may hold
    // every message): a user message of their text, images and files, before the input.
    const variables = (body.prompt as Json | undefined)?.variables;
    if (variables && typeof variables === 'object' && !Array.isArray(variables)) {
      const parts = Object.values(variables as Json).map((v) => (typeof v === 'string' ? { type: 'input_text', text: v } : v)).filter((v) => v !== null && typeof v === 'object');
      if (parts.length > 0) messages.push('user', parts as Json[], true);
    }
    if (typeof body.input === 'string') messages.push('user', body.input, false);
    else if (Array.isArray(body.input)) {
      for (const item of body.input as Json[]) {
        if (!item || typeof item !== 'object') continue;
        // A stored item named by id: the model reads its text, the request does not carry it.
        if (item.type === 'item_reference') { references.push(item.id); continue; }
        const role = str(item.role);
        if (role === 'system' || role === 'developer') system(item.content);
        else if (role) messages.push(role, item.content, true);
        else if (item.type === 'function_call_output') messages.push('tool', typeof item.output === 'string' || Array.isArray(item.output) ? item.output : String(item.output ?? ''), true);
        // A computer-use step's screenshot: a tool result whose content is an image.
        else if (item.type === 'computer_call_output' && item.output && typeof item.output === 'object') messages.push('tool', [{ ...(item.output as Json), type: 'input_image' }], true);
      }
    }
  }

  const systemText = systems ? (systems as SystemMessages).texts.join('\n') : null;
  const tools = toolNames(body.tools);
  const request: EventRequest = {
    stream: streamRequested(flavour, body),
    system: systemText === null ? null : opts.recordPrompts === 'none' ? null : systemText.slice(0, opts.maxMessageChars),
    messages: [],
    tools: tools.length > EVENT_MAX_TOOLS ? tools.slice(0, EVENT_MAX_TOOLS) : tools,
    tool_choice: toolChoice(body.tool_choice),
    params,
    bytes,
  };
  if (tools.length > EVENT_MAX_TOOLS) request.tools_omitted = tools.length - EVENT_MAX_TOOLS;
  // The stored chain the model reads before this input: the detector reads it from its own events.
  if (flavour === 'openai.responses' && typeof body.previous_response_id === 'string' && body.previous_response_id.length <= 256) request.previous_response_id = body.previous_response_id;
  // Stored items the model reads by reference: the detector resolves them, or counts them hidden.
  if (references.length) {
    const ids = references.filter((id): id is string => typeof id === 'string' && id.length <= 256).slice(0, EVENT_MAX_ITEM_REFERENCES);
    request.item_references = ids;
    if (references.length > ids.length) request.item_references_omitted = references.length - ids.length;
  }
  if (systemText) systemChars.set(request, systemText.length);
  // The messages' documents go to the reader before the system messages' (their order there is the order they are read).
  // A legacy completions or embeddings request's inputs are separate texts, not a turn.
  const conversation = flavour !== 'openai.completions' && flavour !== 'openai.embeddings';
  describeMessages(request, listed, opts, pdfs, conversation);
  const documents = systems ? (systems as SystemMessages).documents() : undefined;
  if (documents) request.system_documents = documents;
  keepPromptChars(request, opts.maxPromptChars ?? EVENT_MAX_PROMPT_CHARS, conversation);
  return request;
}

/**
 * Where the current turn starts, as the detector reads it: past a trailing assistant prefill, back
 * to the previous assistant message (consecutive user messages are one turn to the model).
 */
function turnStart(n: number, role: (i: number) => string): number {
  let i = n - 1;
  while (i >= 0 && role(i) === 'assistant') i--;
  while (i > 0 && role(i - 1) !== 'assistant') i--;
  return i;
}

/**
 * What the event keeps of the current turn's start at least, when the request holds more messages
 * or prompt text than an event does: a prompt followed by long or many messages is kept. (The
 * detector reads a turn whole up to 8,000 characters; a request within an event's budgets keeps
 * each message up to `events.max_message_chars`, 8,000 by default.)
 */
const TURN_START_CHARS = 1024;

/**
 * The messages an event keeps: all up to `maxMessages`, else the first quarter (how the
 * conversation was set up), the last ones (the turn asked now), and in the slots left: the
 * assistant message before the current turn (so the event's last turn starts where the request's
 * did), the first user messages of that turn with something to say (a prompt followed by more
 * padding messages than the last slots hold is kept), the latest user turns with text before
 * those (the detector reads the user's wording: a prompt padded with empty or one-character turns
 * around it is kept), then the latest others. Those left out are summed up in `messages_omitted`:
 * how many, their characters, roles and parts (the detector counts turns and tool steps from
 * them). Their documents are counted, not read.
 */
function describeMessages(request: EventRequest, listed: [string, unknown, boolean][], opts: FeatureOptions, pdfs: PendingDocument[] | null, conversation: boolean): void {
  const max = Math.max(2, opts.maxMessages ?? EVENT_MAX_MESSAGES);
  const n = listed.length;
  const keep = (i: number) => request.messages.push(message(listed[i][0], listed[i][1], opts, listed[i][2] ? pdfs : null));
  if (n <= max) {
    for (let i = 0; i < n; i++) keep(i);
    return;
  }
  const head = Math.max(1, Math.floor(max / 4));
  // At least half the other slots go to the last messages, whatever they hold.
  const recent = n - Math.ceil((max - head) / 2);
  let left = max - head - (n - recent);
  const kept = new Uint8Array(n);
  // The middle's text, measured once (its parts counted apart, for the messages left out).
  const parts: Record<string, number>[] = [];
  const chars: number[] = [];
  const userText = new Uint8Array(n);
  for (let i = head; i < recent; i++) {
    const p: Record<string, number> = {};
    const text = contentText(listed[i][1], p);
    parts[i] = p;
    chars[i] = text.length;
    if (listed[i][0] === 'user' && !saysNothing(text)) userText[i] = 1;
  }
  const start = conversation ? turnStart(n, (i) => listed[i][0]) : n;
  if (start - 1 >= head && start - 1 < recent && left > 0) { kept[start - 1] = 1; left--; }
  // Half the slots left at most: the latest turns before it are read too.
  let turnSlots = Math.ceil(left / 2);
  for (let i = Math.max(start, head), got = 0; i < recent && turnSlots > 0 && got < TURN_START_CHARS; i++) {
    if (userText[i]) { kept[i] = 1; left--; turnSlots--; got += chars[i]; }
  }
  for (let i = recent - 1; i >= head && left > 0; i--) if (userText[i] && !kept[i]) { kept[i] = 1; left--; }
  for (let i = recent - 1; i >= head && left > 0; i--) if (!kept[i]) { kept[i] = 1; left--; }
  const omitted = { count: 0, chars: 0, roles: {} as Record<string, number>, parts: {} as Record<string, number> };
  for (let i = head; i < recent; i++) {
    if (kept[i]) continue;
    omitted.count++;
    tally(omitted.roles, ROLES.has(listed[i][0]) ? listed[i][0] : 'other');
    omitted.chars += chars[i];
    for (const type of Object.keys(parts[i])) count(omitted.parts, type, parts[i][type]);
  }
  for (let i = 0; i < n; i++) if (i < head || i >= recent || kept[i]) keep(i);
  request.messages_omitted = Object.keys(omitted.parts).length ? omitted : { count: omitted.count, chars: omitted.chars, roles: omitted.roles };
}

/** Of a user turn cut short, at least its start and its end (where a wrapper template's words are) are kept. */
const USER_TURN_CHARS = 2048;
const USER_TURN_TAIL = 400;

/**
 * `text` cut to `max` characters: a user turn's start and end joined by a line break (padding
 * must not push its instruction out of what the detector reads), any other message's start.
 */
function cut(text: string, max: number, user: boolean): string {
  const tail = user ? Math.min(USER_TURN_TAIL, Math.floor(max / 3)) : 0;
  return tail > 0 ? text.slice(0, max - tail - 1) + '\n' + text.slice(-tail) : text.slice(0, max);
}

/**
 * At most `budget` characters of prompt text in all: the system prompt and its documents first,
 * then the start of the current turn (its first user messages with text: long messages after a
 * prompt do not push it out), the start and end of every user turn from the last back (an agent
 * loop's tool output or padding does not push out what the user asked), the last user turn whole,
 * then the messages from the last back. A message cut short keeps its `chars`, a user turn its start and its end (joined
 * by a line break), any other message its start; one past the budget keeps an empty text.
 */
function keepPromptChars(request: EventRequest, budget: number, conversation: boolean): void {
  let left = budget;
  const take = (text: string | null): string | null => {
    if (text === null) return null;
    const kept = text.length > left ? text.slice(0, left) : text;
    left -= kept.length;
    return kept;
  };
  request.system = take(request.system);
  if (request.system_documents) request.system_documents.text = take(request.system_documents.text);
  const msgs = request.messages;
  const quota = new Array<number>(msgs.length).fill(0);
  const give = (i: number, want: number) => {
    const add = Math.min(want - quota[i], left);
    if (add > 0) { quota[i] += add; left -= add; }
  };
  const isUser = (i: number) => msgs[i].role === 'user' && !!msgs[i].text;
  let last = msgs.length - 1;
  while (last >= 0 && !isUser(last)) last--;
  for (let i = conversation ? Math.max(0, turnStart(msgs.length, (j) => msgs[j].role)) : msgs.length, got = 0; i <= last && got < TURN_START_CHARS; i++) {
    if (!isUser(i) || saysNothing(msgs[i].text!)) continue;
    give(i, Math.min(msgs[i].text!.length, TURN_START_CHARS - got));
    got += quota[i];
  }
  for (let i = last; i >= 0; i--) if (isUser(i)) give(i, Math.min(msgs[i].text!.length, USER_TURN_CHARS));
  if (last >= 0) give(last, msgs[last].text!.length);
  for (let i = msgs.length - 1; i >= 0; i--) if (msgs[i].text) give(i, msgs[i].text!.length);
  for (let i = 0; i < msgs.length; i++) {
    const text = msgs[i].text;
    if (text === null || quota[i] >= text.length) continue;
    msgs[i].text = cut(text, quota[i], msgs[i].role === 'user');
  }
}

/** The full length of a request's system text, which its event keeps the start of. */
const systemChars = new WeakMap<EventRequest, number>();

/**
 * How many characters of prompt a request held in all, kept or not: input tokens counted from the
 * text an event keeps (at most `events.max_prompt_chars`) are scaled to it, so a long
 * conversation is not charged as a short one.
 */
export function promptChars(req: EventRequest): number {
  let n = systemChars.get(req) ?? req.system?.length ?? 0;
  if (req.system_documents) n += 1 + req.system_documents.chars;
  for (const m of req.messages) n += 1 + m.chars;
  return n + (req.messages_omitted?.chars ?? 0);
}

/** All prompt text of a request, for counting input tokens when the upstream reports none (scaled to `promptChars`). */
export function promptText(req: EventRequest): string {
  let s = req.system ?? '';
  if (req.system_documents?.text) s += '\n' + req.system_documents.text;
  for (const m of req.messages) if (m.text) s += '\n' + m.text;
  return s;
}

/** Default of `server.max_request_items`: far above what an honest request sends (OpenAI accepts 128 tools, 2,048 embedding inputs). */
export const MAX_REQUEST_ITEMS = 10_000;

/**
 * How many items a request body holds: its messages or input items, their content parts at any
 * depth (a tool result's, a document's `source.content`, a Responses output's) and tool calls,
 * its tools and legacy functions, and the prompts or inputs of a legacy completion or embeddings
 * request (a token-id list is one: an array of numbers only). What describing, forwarding and
 * recording it costs grows with this, not only with its bytes.
 */
export function requestItems(body: Json): number {
  const count = (v: unknown): number => (Array.isArray(v) ? v.length : 0);
  let n = count(body.tools) + count(body.functions) + nestedItems({ content: body.system });
  for (const list of [body.messages, body.input, body.prompt]) n += listItems(list);
  return n;
}

/** A message, input or prompt array's items: a token-id list is one; else each element and the parts it holds. */
function listItems(list: unknown): number {
  if (!Array.isArray(list)) return 0;
  if (list.length > 0 && list.every((x) => typeof x === 'number')) return 1;
  let n = list.length;
  for (const m of list) if (m && typeof m === 'object' && !Array.isArray(m)) n += nestedItems(m as Json);
  return n;
}

/** The parts an item holds, at any depth (the body's nesting is bounded, see MAX_JSON_DEPTH). */
function nestedItems(o: Json): number {
  let n = 0;
  const source = o.source;
  for (const v of [o.content, o.output, o.tool_calls, source && typeof source === 'object' ? (source as Json).content : undefined]) {
    if (!Array.isArray(v)) continue;
    n += v.length;
    for (const p of v) if (p && typeof p === 'object' && !Array.isArray(p)) n += nestedItems(p as Json);
  }
  return n;
}
