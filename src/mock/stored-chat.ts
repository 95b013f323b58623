/**
 * Stored Chat Completions, as the OpenAI API keeps those created with `store: true`:
 * `GET /v1/chat/completions` (list: model, metadata[k], after, limit, order), `GET`, `POST`
 * (metadata update) and `DELETE /v1/chat/completions/{id}`, and
 * `GET /v1/chat/completions/{id}/messages` (the request's messages, paged).
 */
import { isRecord } from './context.ts';
import { MockApiError } from './wire.ts';

interface Kept { completion: Record<string, unknown>; messages: Record<string, unknown>[] }

/** Completions kept at most (the oldest go first). */
const KEPT_MAX = 10_000;

/** The page of `items` after `after` (by id), `limit` long, in `order`; the list shape the SDK's cursor pages read. */
function page(items: Record<string, unknown>[], params: URLSearchParams): object {
  const limitRaw = params.get('limit');
  const limit = limitRaw === null ? 20 : Number(limitRaw);
  if (!Number.isInteger(limit) || limit < 1 || limit > 100) {
    throw new MockApiError(400, `Invalid 'limit': expected an integer between 1 and 100, got '${String(limitRaw).slice(0, 40)}'.`, { param: 'limit', code: 'invalid_value' });
  }
  const order = params.get('order') ?? 'asc';
  if (order !== 'asc' && order !== 'desc') throw new MockApiError(400, `Invalid value: '${order.slice(0, 40)}'. Supported values are: 'asc' and 'desc'.`, { param: 'order', code: 'invalid_value' });
  let list = order === 'asc' ? items : [...items].reverse();
  const after = params.get('after');
  if (after) list = list.slice(list.findIndex((x) => x.id === after) + 1);
  const data = list.slice(0, limit);
  return { object: 'list', data, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null, has_more: list.length > limit };
}

/** `metadata[key]=value` filters of a list query. */
function metadataFilter(params: URLSearchParams): [string, string][] {
  const out: [string, string][] = [];
  for (const [k, v] of params) {
    const m = /^metadata\[(.+)\]$/.exec(k);
    if (m) out.push([m[1], v]);
  }
  return out;
}

export class StoredChatCompletions {
  private readonly kept = new Map<string, Kept>();

  /** A completion created with `store: true`, with the request's messages and metadata. */
  keep(completion: Record<string, unknown>, messages: unknown[]): void {
    if (this.kept.size >= KEPT_MAX) this.kept.delete(this.kept.keys().next().value!);
    const id = String(completion.id);
    const stored = messages.filter(isRecord).map((m, i) => ({ ...m, id: `${id}-${i}`, content: m.content ?? null }));
    this.kept.set(id, { completion, messages: stored });
  }

  /** The answer to a stored-completion route: status and JSON body; throws MockApiError. */
  answer(method: string, path: string, query: URLSearchParams, body: unknown): object {
    if (path === '/v1/chat/completions') {
      if (method !== 'GET') throw new MockApiError(404, `Invalid URL (${method} ${path})`);
      const model = query.get('model');
      const wanted = metadataFilter(query);
      const all = [...this.kept.values()].map((k) => k.completion).filter((c) => {
        if (model && c.model !== model) return false;
        const meta = isRecord(c.metadata) ? c.metadata : {};
        return wanted.every(([k, v]) => meta[k] === v);
      });
      return page(all, query);
    }
    const [rawId, sub, ...rest] = path.slice('/v1/chat/completions/'.length).split('/');
    let id = rawId;
    try { id = decodeURIComponent(rawId); } catch { /* as sent */ }
    if (rest.length > 0 || (sub !== undefined && (sub !== 'messages' || method !== 'GET'))) throw new MockApiError(404, `Invalid URL (${method} ${path.slice(0, 200)})`);
    const found = this.kept.get(id);
    if (!found) throw new MockApiError(404, `Chat completion with id '${id.slice(0, 200)}' not found.`);
    if (sub === 'messages') return page(found.messages, query);
    if (method === 'GET') return found.completion;
    if (method === 'DELETE') {
      this.kept.delete(id);
      return { object: 'chat.completion.deleted', id, deleted: true };
    }
    if (method !== 'POST') throw new MockApiError(404, `Invalid URL (${method} ${path.slice(0, 200)})`);
    if (!isRecord(body) || !('metadata' in body)) throw new MockApiError(400, "Missing required parameter: 'metadata'.", { param: 'metadata', code: 'missing_required_parameter' });
    const metadata = body.metadata;
    if (metadata !== null && (!isRecord(metadata) || Object.values(metadata).some((v) => typeof v !== 'string'))) {
      throw new MockApiError(400, "Invalid type for 'metadata': expected an object of strings.", { param: 'metadata', code: 'invalid_type' });
    }
    found.completion = { ...found.completion, metadata: metadata ?? {} };
    return found.completion;
  }
}
