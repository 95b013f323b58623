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

interface Node { value: unknown; key: string | number | null; parent: Node | null }

function paramOf(node: Node, key: string | null, dotted: boolean): string {
  const keys: (string | number)[] = key === null ? [] : [key];
  for (let n: Node | null = node; n && n.key !== null; n = n.parent) keys.push(n.key);
  keys.reverse();
  if (dotted) return keys.join('.');
  let out = '';
  for (const k of keys) out += typeof k === 'number' ? `[${k}]` : out === '' ? k : `.${k}`;
  return out;
}

/** The file ids a request names (none for APIs other than Responses, Chat Completions and Anthropic Messages). */
export function fileRefs(flavour: string, body: Record<string, unknown>): FileRef[] {
  if (flavour !== 'openai.responses' && flavour !== 'openai.chat' && flavour !== 'anthropic.messages') return [];
  const dotted = flavour === 'anthropic.messages';
  const out: FileRef[] = [];
  // Iterative: a deeply nested body cannot exhaust the stack.
  const stack: Node[] = [];
  for (const [k, v] of Object.entries(body)) if (!CUSTOMER_DATA.has(k) && v !== null && typeof v === 'object') stack.push({ value: v, key: k, parent: null });
  while (stack.length > 0) {
    const node = stack.pop()!;
    const v = node.value;
    if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) if (v[i] !== null && typeof v[i] === 'object') stack.push({ value: v[i], key: i, parent: node });
      continue;
    }
    const o = v as Part;
    if (typeof o.file_id === 'string') {
      const parent = node.parent && isPart(node.parent.value) ? node.parent.value : null;
      let as: InlineAs | null = null;
      let part = o;
      if (flavour === 'openai.responses') as = o.type === 'input_file' ? 'file' : o.type === 'input_image' ? 'image' : null;
      else if (flavour === 'openai.chat' && node.key === 'file' && parent?.type === 'file') { as = 'chat_file'; part = parent; }
      else if (dotted && node.key === 'source' && o.type === 'file' && parent) {
        as = parent.type === 'document' ? 'document' : parent.type === 'image' ? 'block_image' : null;
        part = parent;
      }
      out.push({ id: o.file_id, param: paramOf(node, 'file_id', dotted), part, as });
    }
    if (Array.isArray(o.file_ids)) for (const id of o.file_ids) out.push({ id, param: paramOf(node, 'file_ids', dotted), part: o, as: null });
    const toolCall = typeof o.type === 'string' && TOOL_CALLS.has(o.type);
    const keys = Object.keys(o);
    for (let i = keys.length - 1; i >= 0; i--) {
      const k = keys[i]!;
      const c = o[k];
      if (c === null || typeof c !== 'object' || k === 'file_ids' || CUSTOMER_DATA.has(k) || (toolCall && k === 'input')) continue;
      stack.push({ value: c, key: k, parent: node });
    }
  }
  return out;
}
