/**
 * Every place a request names a file by id (`file_id`, or a `file_ids` list), at any depth.
 *
 * The upstream keeps files under Warden's one credential, the same for every customer, and
 * resolves such an id wherever its API takes one: message content, a tool's output, a prompt's
 * variables, a tool's settings (an image mask, a container's files), a computer screenshot. Listing
 * the spellings one by one misses the next one, so the whole body is walked, except what is the
 * customer's own data shaped by its own schemas, which the upstream never reads as a file: `metadata`,
 * a tool call's input or arguments (`tool_use`, `server_tool_use`, `mcp_tool_use`), and JSON schemas
 * (a function's `parameters`, a tool's `input_schema`, an output format's `schema`, with their
 * `examples` and `default`s). A `file_id` parameter of the customer's own tool is common. Shared by the hook that inlines the caller's
 * own files (src/batches/file-inputs.ts) and the one that refuses any other (src/identity/answer-owners.ts).
 */

type Part = Record<string, unknown>;

/** How a named file is sent inline instead, when it is the caller's; null: it cannot be (only a shared file may be named there). */
export type InlineAs = 'file' | 'image' | 'chat_file' | 'document' | 'block_image';

export interface FileRef {
  /** The id as given (a non-string in a `file_ids` list is reported as is). */
  id: unknown;
  /** Where it is, in the API's own notation (`input[0].content[1].file_id`, `messages.0.content.1.source.file_id`). */
  param: string;
  /** The part that is rewritten when the file is inlined (Chat: the `{type: "file"}` part; Anthropic: the block). */
  part: Part;
  as: InlineAs | null;
}

const isPart = (v: unknown): v is Part => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Keys whose value is the customer's own data or a JSON schema, at any depth (vLLM's `guided_json` is a schema too). */
const CUSTOMER_DATA = new Set(['metadata', 'parameters', 'input_schema', 'input_examples', 'schema', 'json_schema', 'guided_json', 'arguments']);
/** Anthropic blocks whose `input` is the model's call of a tool (the customer's, or an MCP server's). */
const TOOL_CALLS = new Set(['tool_use', 'server_tool_use', 'mcp_tool_use']);

function paramOf(path: readonly (string | number)[], key: string, dotted: boolean): string {
  if (dotted) return [...path, key].join('.');
  let out = '';
  for (const k of path) out += typeof k === 'number' ? `[${k}]` : out === '' ? k : `.${k}`;
  return `${out}.${key}`;
}

/** How deep `mayNameFiles` looks before it leaves the answer to the walk. */
const QUICK_LOOK_DEPTH = 32;

/**
 * False when no object anywhere in `v` (customer data included: a superset of what the walk
 * visits) has a `file_id` or `file_ids`, so the request names no file; true when one does, or when
 * `v` nests deeper than QUICK_LOOK_DEPTH. Most requests name none, and this look allocates
 * nothing, where the walk sets up its stacks (0.06 µs against 1.2 µs for a one-message chat request).
 */
function mayNameFiles(v: unknown, depth: number): boolean {
  if (depth > QUICK_LOOK_DEPTH) return true;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const c: unknown = v[i];
      if (c !== null && typeof c === 'object' && mayNameFiles(c, depth + 1)) return true;
    }
    return false;
  }
  const o = v as Part;
  if (o.file_id !== undefined || o.file_ids !== undefined) return true;
  for (const k in o) {
    const c = o[k];
    if (c !== null && typeof c === 'object' && mayNameFiles(c, depth + 1)) return true;
  }
  return false;
}

/** The file ids a request names (none for APIs other than Responses, Chat Completions and Anthropic Messages). */
export function fileRefs(flavour: string, body: Record<string, unknown>): FileRef[] {
  if (flavour !== 'openai.responses' && flavour !== 'openai.chat' && flavour !== 'anthropic.messages') return [];
  if (!mayNameFiles(body, 0)) return [];
  const dotted = flavour === 'anthropic.messages';
  const out: FileRef[] = [];
  // Iterative (a deeply nested body cannot exhaust the stack), allocating nothing per node, and an
  // array is walked by a cursor rather than by stacking its items: a body of a million empty
  // objects costs a few tens of milliseconds. Parallel stacks of the value, its key, its depth and
  // (arrays) the next index, -1 before the first; `path` and `chain` hold the keys and values from
  // the top of the body to the current one (its first depth + 1 entries).
  const values: unknown[] = [];
  const keys: (string | number)[] = [];
  const depths: number[] = [];
  const cursors: number[] = [];
  const path: (string | number)[] = [];
  const chain: unknown[] = [];
  const push = (value: unknown, key: string | number, depth: number) => { values.push(value); keys.push(key); depths.push(depth); cursors.push(-1); };
  const pop = () => { values.pop(); keys.pop(); depths.pop(); cursors.pop(); };
  /** An object's children are pushed in order, then reversed in place, so they are walked in the request's order. */
  const reverseFrom = (from: number) => {
    for (let i = from, j = values.length - 1; i < j; i++, j--) {
      const v = values[i]; values[i] = values[j]; values[j] = v;
      const k = keys[i]!; keys[i] = keys[j]!; keys[j] = k;
      const d = depths[i]!; depths[i] = depths[j]!; depths[j] = d;
    }
  };
  for (const k in body) { const v = body[k]; if (!CUSTOMER_DATA.has(k) && v !== null && typeof v === 'object') push(v, k, 0); }
  reverseFrom(0);
  while (values.length > 0) {
    const top = values.length - 1;
    const v = values[top];
    const key = keys[top]!;
    const depth = depths[top]!;
    if (Array.isArray(v)) {
      let i = cursors[top]!;
      if (i === -1) { path[depth] = key; chain[depth] = v; i = 0; }
      while (i < v.length && (v[i] === null || typeof v[i] !== 'object')) i++;
      if (i >= v.length) { pop(); continue; }
      cursors[top] = i + 1;
      push(v[i], i, depth + 1);
      continue;
    }
    pop();
    // Written in place (never truncated: shrinking an array costs more than the rest of the visit).
    path[depth] = key; chain[depth] = v;
    const o = v as Part;
    if (typeof o.file_id === 'string') {
      const up = depth > 0 ? chain[depth - 1] : null;
      const parent = isPart(up) ? up : null;
      let as: InlineAs | null = null;
      let part = o;
      if (flavour === 'openai.responses') as = o.type === 'input_file' ? 'file' : o.type === 'input_image' ? 'image' : null;
      else if (flavour === 'openai.chat' && key === 'file' && parent?.type === 'file') { as = 'chat_file'; part = parent; }
      else if (dotted && key === 'source' && o.type === 'file' && parent) {
        as = parent.type === 'document' ? 'document' : parent.type === 'image' ? 'block_image' : null;
        part = parent;
      }
      out.push({ id: o.file_id, param: paramOf(path.slice(0, depth + 1), 'file_id', dotted), part, as });
    }
    if (Array.isArray(o.file_ids)) for (const id of o.file_ids) out.push({ id, param: paramOf(path.slice(0, depth + 1), 'file_ids', dotted), part: o, as: null });
    const toolCall = typeof o.type === 'string' && TOOL_CALLS.has(o.type);
    // A map whose keys the caller names (a stored prompt's `variables`): a key spelled like a
    // schema or metadata field is still a value the upstream resolves, so it is walked.
    const named = key === 'variables';
    const from = values.length;
    for (const k in o) {
      const c = o[k];
      if (c === null || typeof c !== 'object' || k === 'file_ids' || (!named && CUSTOMER_DATA.has(k)) || (toolCall && k === 'input')) continue;
      push(c, k, depth + 1);
    }
    reverseFrom(from);
  }
  return out;
}

interface RequestRefs { flavour: string; body: Record<string, unknown>; locals: Map<string, unknown> }
const WALKED = 'warden.file-refs';

/**
 * The request's file refs, walked once per request: the inlining hook records what it leaves
 * (`keepFileRefs`), and the ownership hook that runs after it reads that. Walked again only if a
 * hook replaced the body.
 */
export function requestFileRefs(ctx: RequestRefs): FileRef[] {
  const kept = ctx.locals.get(WALKED) as { body: unknown; refs: FileRef[] } | undefined;
  if (kept && kept.body === ctx.body) return kept.refs;
  const refs = fileRefs(ctx.flavour, ctx.body);
  ctx.locals.set(WALKED, { body: ctx.body, refs });
  return refs;
}

/** What is left of the request's file refs once some were put inline. */
export function keepFileRefs(ctx: RequestRefs, refs: FileRef[]): void {
  ctx.locals.set(WALKED, { body: ctx.body, refs });
}
