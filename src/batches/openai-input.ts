/**
 * Reading an OpenAI batch input file (JSONL, one request a line:
 * `{"custom_id", "method": "POST", "url", "body"}`), checked as OpenAI checks it when a batch is
 * created: every line's problems are reported with its line number, and a file with any problem
 * makes a failed batch that runs nothing.
 */
import { isUtf8 } from 'node:buffer';
import type { NewItem, OpenAiBatch } from './store.ts';
import { MAX_JSON_DEPTH, nestsDeeper } from '../gateway/json-depth.ts';
import { MAX_MODEL_CHARS } from '../gateway/admission.ts';

/** The routes an OpenAI batch may run, all served by the gateway's pipeline. */
export const BATCH_ENDPOINTS = ['/v1/chat/completions', '/v1/responses', '/v1/embeddings', '/v1/completions', '/v1/moderations', '/v1/images/generations'] as const;

/**
 * The model of a batch's requests that name none, where the endpoint's API has one by default
 * (as the gateway routes and records them: moderations and image generation).
 */
const DEFAULT_MODEL: Record<string, string> = { '/v1/moderations': 'omni-moderation-latest', '/v1/images/generations': 'dall-e-2' };

/**
 * Endpoints OpenAI's Batch API takes that no batch runs here, and why (the refusal names it).
 */
export const UNSERVED_BATCH_ENDPOINTS: Record<string, string> = {
  '/v1/images/edits': 'image edits are served only as multipart uploads (POST /v1/images/edits), which a batch line cannot carry here',
  '/v1/videos': 'this gateway does not serve video generation',
};

export type BatchInputError = NonNullable<OpenAiBatch['errors']>[number];

/** Past this many problems the rest are not listed (a file of garbage would otherwise be echoed back whole). */
const MAX_ERRORS = 100;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export interface ParsedInput { items: NewItem[]; model: string | null; errors: BatchInputError[] }

/** Lines checked between two turns of the event loop: a large file is read without holding the serving thread. */
const LINES_PER_TURN = 200;

/**
 * Read an input file as it comes from the store, a chunk at a time. Lines are split on the byte
 * `\n` (never part of a multi-byte UTF-8 character), so a line cut between two chunks is joined.
 * Past `maxRequests` lines are still counted (for the message) but no longer kept.
 */
export async function readBatchInput(chunks: AsyncIterable<Buffer>, endpoint: string, maxRequests: number): Promise<ParsedInput> {
  const errors: BatchInputError[] = [];
  const fail = (code: string, message: string, line: number | null, param: string | null = null) => {
    if (errors.length < MAX_ERRORS) errors.push({ code, message, param, line });
  };
  const items: NewItem[] = [];
  const seen = new Set<string>();
  let model: string | null = null;
  let requests = 0;
  let lineNo = 0;

  const check = (raw: string, line: number): void => {
    let parsed: unknown;
    try { parsed = JSON.parse(raw); } catch {
      fail('invalid_json_line', 'This line is not parseable as valid JSON.', line);
      return;
    }
    if (!isObject(parsed)) { fail('invalid_json_line', 'Each line must be a JSON object.', line); return; }
    // As for request bodies: deeper lines could not be stored or forwarded (the stack overflows).
    if (nestsDeeper(raw, parsed, MAX_JSON_DEPTH + 1)) {
      fail('invalid_request', `body: nests arrays and objects more than ${MAX_JSON_DEPTH} levels deep.`, line, 'body');
      return;
    }
    const { custom_id: id, method, url, body } = parsed;
    if (typeof id !== 'string' || id.length === 0 || id.length > 512) {
      fail('missing_required_parameter', 'custom_id: a string of 1 to 512 characters is required.', line, 'custom_id');
      return;
    }
    if (seen.has(id)) { fail('duplicate_custom_id', `The custom_id '${id.slice(0, 64)}' is used by an earlier line; each must be unique.`, line, 'custom_id'); return; }
    seen.add(id);
    if (method !== 'POST') { fail('invalid_method', 'method: must be "POST".', line, 'method'); return; }
    if (url !== endpoint) { fail('mismatched_endpoint', `url: '${String(url).slice(0, 100)}' does not match the batch's endpoint '${endpoint}'.`, line, 'url'); return; }
    if (!isObject(body)) { fail('missing_required_parameter', 'body: a JSON object is required.', line, 'body'); return; }
    // Moderations and image generation name a model by default: a line without one is that model's.
    const named = body.model === undefined && DEFAULT_MODEL[endpoint] !== undefined ? DEFAULT_MODEL[endpoint] : body.model;
    if (typeof named !== 'string' || named === '') { fail('missing_required_parameter', 'body.model: required.', line, 'body.model'); return; }
    if (named.length > MAX_MODEL_CHARS) { fail('invalid_value', `body.model: ${named.length} characters long; at most ${MAX_MODEL_CHARS} are accepted.`, line, 'body.model'); return; }
    if (model === null) model = named;
    else if (named !== model) { fail('mismatched_model', `body.model: every request of a batch must use the same model ('${model}' on an earlier line).`, line, 'body.model'); return; }
    if (body.stream === true) { fail('invalid_request', 'body.stream: batch requests do not stream.', line, 'body.stream'); return; }
    if (endpoint === '/v1/responses' && body.background === true) { fail('invalid_request', 'body.background: batch requests run in the batch; background mode is not allowed.', line, 'body.background'); return; }
    items.push({ custom_id: id, params: JSON.stringify(body) });
  };
  const take = async (bytes: Buffer): Promise<void> => {
    lineNo++;
    // Read as is, not with its characters replaced: a prompt must reach the model as written.
    if (!isUtf8(bytes)) { requests++; fail('invalid_encoding', 'This line is not valid UTF-8; the input file must be UTF-8 text.', lineNo); return; }
    const raw = bytes.toString('utf8', lineNo === 1 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0).trim();
    if (raw === '') return;
    requests++;
    if (requests > maxRequests) return;
    check(raw, lineNo);
    if (requests % LINES_PER_TURN === 0) await new Promise((r) => setImmediate(r));
  };

  let carry: Buffer = Buffer.alloc(0);
  for await (const chunk of chunks) {
    const data = carry.length ? Buffer.concat([carry, chunk]) : chunk;
    let start = 0;
    for (let nl = data.indexOf(0x0a, start); nl !== -1; nl = data.indexOf(0x0a, start)) {
      await take(data.subarray(start, nl));
      start = nl + 1;
    }
    carry = Buffer.from(data.subarray(start));
  }
  if (carry.length) await take(carry);

  if (requests === 0) fail('empty_file', 'The input file holds no requests.', null);
  if (requests > maxRequests) {
    errors.unshift({ code: 'too_many_tasks', message: `The input file holds ${requests} requests; a batch holds at most ${maxRequests} here. Split it into several batches.`, param: null, line: null });
    errors.length = Math.min(errors.length, MAX_ERRORS);
  }
  return { items: errors.length ? [] : items, model, errors };
}
