/**
 * Stored responses belong to the account that created them.
 *
 * The upstream keeps OpenAI Responses (`store` defaults to true) under Warden's own credential, the
 * same for every customer: without this check, anyone who learnt another customer's response id
 * (from a log, a shared transcript, a support ticket) could continue that conversation with
 * `previous_response_id` and have the model read it back. So each Responses answer's id is
 * recorded with its account and organisation when the interaction ends, and a request naming a
 * previous response is forwarded only when it is the caller's or its organisation's (policy
 * phase), and read back, listed or deleted only by them (`storedAnswer`, for
 * src/gateway/stored-responses.ts). Conversation objects cannot be created through Warden
 * (`/v1/conversations` is not served), so a request naming one is refused too, as is background
 * mode (its answer is generated after the request, where nothing would meter it). The answer's
 * output items (`msg_...`, `rs_...`: the upstream resolves an `item_reference`, or an item handed
 * back with its id, from its store) and the code-execution containers of both APIs (which hold
 * files between requests) are named by id the same way: recorded from the answer, usable by
 * their owner only. Prompts, vector stores and files kept upstream are the operator's (no
 * customer can make one through Warden): named only when the operator shares them (`shared`).
 *
 * Records are written in batches off the request path. A request that chains at once, before the
 * batch is written, is answered from this node's recent answers; on several nodes sharing
 * PostgreSQL, a miss is read again after `retry_ms` (the writing node's flush interval), so a
 * client sent to another node between two turns is not refused.
 */
import type { GatewayHooks, InteractionContext } from '../gateway/lifecycle.ts';
import type { InteractionEvent } from '../events/index.ts';
import { WardenError } from '../errors/index.ts';
import type { Statement } from 'better-sqlite3';
import { isPostgresUnavailable, migratePostgres, migrateSqlite, timed, PG_TIMEOUTS_MS, type PgPool, type SqliteDb } from '../store/index.ts';

export interface AnswerOwner { accountId: string; orgId: string | null; /** The model that answered (to find its upstream again); null for records made before it was kept. */ model?: string | null }
export interface AnswerRecord extends AnswerOwner { id: string; at: string }

export interface AnswerOwnersStore {
  record(entries: readonly AnswerRecord[]): Promise<void>;
  ownerOf(id: string): Promise<AnswerOwner | null>;
  /** Forget answers recorded before `before` (ISO time); how many were forgotten. */
  prune(before: string): Promise<number>;
}

export class MemoryAnswerOwnersStore implements AnswerOwnersStore {
  private readonly rows = new Map<string, AnswerRecord>();
  async record(entries: readonly AnswerRecord[]) { for (const e of entries) if (!this.rows.has(e.id)) this.rows.set(e.id, { ...e }); }
  async ownerOf(id: string) { const r = this.rows.get(id); return r ? { accountId: r.accountId, orgId: r.orgId, model: r.model ?? null } : null; }
  async prune(before: string) {
    let n = 0;
    for (const [id, r] of this.rows) if (r.at < before) { this.rows.delete(id); n++; }
    return n;
  }
}

const TABLE = (time: string) => `CREATE TABLE IF NOT EXISTS answer_owners (id TEXT PRIMARY KEY, account_id TEXT NOT NULL, org_id TEXT, created_at ${time} NOT NULL);
  CREATE INDEX IF NOT EXISTS answer_owners_created ON answer_owners (created_at)`;

/** Later migrations (each applied once, in order, after TABLE). */
const ADD_MODEL = 'ALTER TABLE answer_owners ADD COLUMN model TEXT';

export class SqliteAnswerOwnersStore implements AnswerOwnersStore {
  private readonly insert: Statement;
  private readonly select: Statement;
  constructor(private readonly db: SqliteDb) {
    migrateSqlite(db, 'answer_owners', [TABLE('TEXT'), ADD_MODEL]);
    this.insert = db.prepare('INSERT OR IGNORE INTO answer_owners (id, account_id, org_id, created_at, model) VALUES (?, ?, ?, ?, ?)');
    this.select = db.prepare('SELECT account_id, org_id, model FROM answer_owners WHERE id = ?');
  }
  async record(entries: readonly AnswerRecord[]) {
    this.db.transaction(() => { for (const e of entries) this.insert.run(e.id, e.accountId, e.orgId, e.at, e.model ?? null); })();
  }
  async ownerOf(id: string) {
    const r = this.select.get(id) as { account_id: string; org_id: string | null; model: string | null } | undefined;
    return r ? { accountId: r.account_id, orgId: r.org_id, model: r.model } : null;
  }
  async prune(before: string) {
    return this.db.prepare('DELETE FROM answer_owners WHERE created_at < ?').run(before).changes;
  }
}

/** Shared by every node. Call `migrate()` once before use. */
export class PostgresAnswerOwnersStore implements AnswerOwnersStore {
  constructor(private readonly pool: PgPool) {}
  async migrate(): Promise<void> {
    await migratePostgres(this.pool, 'answer_owners', [TABLE('TIMESTAMPTZ'), ADD_MODEL]);
  }
  async record(entries: readonly AnswerRecord[]) {
    if (!entries.length) return;
    await this.pool.query(
      `INSERT INTO answer_owners (id, account_id, org_id, created_at, model)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[]) ON CONFLICT (id) DO NOTHING`,
      [entries.map((e) => e.id), entries.map((e) => e.accountId), entries.map((e) => e.orgId), entries.map((e) => e.at), entries.map((e) => e.model ?? null)],
    );
  }
  async ownerOf(id: string) {
    // On the request path (a continued response): a server that stops answering fails it soon.
    const { rows } = await this.pool.query(timed('SELECT account_id, org_id, model FROM answer_owners WHERE id = $1', [id], PG_TIMEOUTS_MS.read));
    return rows.length ? { accountId: rows[0].account_id as string, orgId: rows[0].org_id as string | null, model: rows[0].model as string | null } : null;
  }
  async prune(before: string) {
    const res = await this.pool.query('DELETE FROM answer_owners WHERE created_at < $1', [before]);
    return res.rowCount ?? 0;
  }
}

export interface AnswerOwnershipOptions {
  /** How long an answer stays chainable here, days (the upstream's own retention is 30). */
  retentionDays: number;
  /** Records are written every this many ms. */
  flushMs?: number;
  /** Re-read a miss after this many ms (several nodes share the store); 0: no second read. */
  retryMs?: number;
  /** Answers remembered on this node, for requests that chain before the batch is written. */
  recentMax?: number;
  log?: (msg: string) => void;
  /** The operator's objects kept upstream that every customer may name (`identity.shared_objects`); others are refused. */
  shared?: { prompts?: readonly string[]; vectorStores?: readonly string[]; files?: readonly string[] };
}

export type AnswerOwnershipHooks = GatewayHooks & { flush(): Promise<void> };

export function answerOwnershipHooks(store: AnswerOwnersStore, opts: AnswerOwnershipOptions): AnswerOwnershipHooks {
  const flushMs = opts.flushMs ?? 200;
  const retryMs = opts.retryMs ?? 0;
  const recentMax = opts.recentMax ?? 100_000;
  const sharedPrompts = new Set(opts.shared?.prompts ?? []);
  const sharedStores = new Set(opts.shared?.vectorStores ?? []);
  const sharedFiles = new Set(opts.shared?.files ?? []);
  const recent = new Map<string, AnswerOwner>();
  let pending: AnswerRecord[] = [];
  let writing: Promise<void> = Promise.resolve();
  let lastPrune = 0;
  let failing = false;

  const flush = (): Promise<void> => {
    if (pending.length === 0) return writing;
    const batch = pending;
    pending = [];
    writing = writing.then(async () => {
      try {
        await store.record(batch);
        if (failing) { failing = false; opts.log?.('answer owners: stored again'); }
        const now = Date.now();
        if (now - lastPrune > 3_600_000) {
          lastPrune = now;
          await store.prune(new Date(now - opts.retentionDays * 86_400_000).toISOString());
        }
      } catch (err) {
        // Kept for the next flush (bounded): the answers stay chainable on this node meanwhile.
        if (!failing) { failing = true; opts.log?.(`answer owners: could not store (${(err as Error).message}); retrying`); }
        if (pending.length < recentMax) pending = batch.concat(pending);
      }
    });
    return writing;
  };
  const timer = setInterval(() => { void flush(); }, flushMs);
  timer.unref();

  const read = async (id: string): Promise<AnswerOwner | null> => {
    try {
      return await store.ownerOf(id);
    } catch (err) {
      if (isPostgresUnavailable(err)) throw new WardenError('WARDEN_STORE_UNAVAILABLE', 'Stored responses cannot be checked right now (the store is unreachable); retry shortly.', { headers: { 'retry-after': '1' }, cause: err });
      throw err;
    }
  };
  const ownerOf = async (id: string): Promise<AnswerOwner | null> => {
    const here = recent.get(id);
    if (here) return here;
    const stored = await read(id);
    if (stored || retryMs === 0) return stored;
    await new Promise((r) => setTimeout(r, retryMs));
    return read(id);
  };

  /** The record of `id` when the caller's account or organisation owns it, else null. */
  const ownedBy = async (ctx: InteractionContext, id: string): Promise<AnswerOwner | null> => {
    const owner = await ownerOf(id);
    const auth = ctx.auth!;
    const orgId = auth.org?.id ?? auth.account.org_id ?? null;
    return owner && (owner.accountId === auth.account.id || (owner.orgId !== null && owner.orgId === orgId)) ? owner : null;
  };
  const owns = async (ctx: InteractionContext, id: string): Promise<boolean> => (await ownedBy(ctx, id)) !== null;

  // Refusals read the same for another customer's id as for one that does not exist: whether it exists is not told.
  const checkOwner = async (ctx: InteractionContext, previous: string): Promise<void> => {
    if (await owns(ctx, previous)) return;
    ctx.enforcement.policy.push('refused:previous_response');
    throw new WardenError('WARDEN_PREVIOUS_RESPONSE_NOT_FOUND', `Previous response with id '${previous.slice(0, 200)}' not found.`, { param: 'previous_response_id' });
  };
  const checkContainer = async (ctx: InteractionContext, container: string, param = 'container'): Promise<void> => {
    if (await owns(ctx, container)) return;
    ctx.enforcement.policy.push('refused:container');
    throw new WardenError('WARDEN_NOT_FOUND', `Container '${container.slice(0, 200)}' not found.`, { param });
  };
  /** Input items named by id, each the caller's (looked up together; the first refused, in order, is reported). */
  const checkItems = async (ctx: InteractionContext, items: readonly { id: string; at: number }[]): Promise<void> => {
    const owned = await Promise.all(items.map((it) => owns(ctx, it.id)));
    const i = owned.indexOf(false);
    if (i === -1) return;
    ctx.enforcement.policy.push('refused:input_item');
    throw new WardenError('WARDEN_NOT_FOUND', `Item with id '${items[i]!.id.slice(0, 200)}' not found.`, { param: `input[${items[i]!.at}]` });
  };
  const notShared = (ctx: InteractionContext, kind: string, what: string, id: string, param: string): never => {
    ctx.enforcement.policy.push(`refused:${kind}`);
    throw new WardenError('WARDEN_INVALID_REQUEST', `${what} '${id.slice(0, 200)}' is not available through this API.`, { param });
  };

  /**
   * OpenAI Responses: what the request names that the upstream keeps under Warden's credential.
   * Input items with an `id` (an `item_reference`, or an output item handed back whole: the
   * upstream may read it from its store by id) and code-interpreter containers named by id must be
   * the caller's; the operator's prompts, vector stores and files must be shared. Returns the
   * checks to wait for, or nothing when nothing stored is named.
   */
  const responsesReferences = (ctx: InteractionContext): Promise<void> | void => {
    const body = ctx.body as { input?: unknown; tools?: unknown; prompt?: unknown };
    // Everything refused without a lookup is refused first: no lookup is then left running unheard.
    const containers: { id: string; param: string }[] = [];
    const named: { id: string; at: number }[] = [];
    const prompt = body.prompt as { id?: unknown } | null | undefined;
    if (prompt && typeof prompt === 'object' && typeof prompt.id === 'string' && !sharedPrompts.has(prompt.id)) notShared(ctx, 'prompt', 'Prompt', prompt.id, 'prompt.id');
    if (Array.isArray(body.tools)) {
      body.tools.forEach((tool: unknown, i: number) => {
        if (!tool || typeof tool !== 'object') return;
        const t = tool as { type?: unknown; vector_store_ids?: unknown; container?: unknown };
        if (Array.isArray(t.vector_store_ids)) {
          const other = t.vector_store_ids.find((v) => typeof v !== 'string' || !sharedStores.has(v));
          if (other !== undefined) notShared(ctx, 'vector_store', 'Vector store', String(other), `tools[${i}].vector_store_ids`);
        }
        if (t.type !== 'code_interpreter') return;
        if (typeof t.container === 'string') containers.push({ id: t.container, param: `tools[${i}].container` });
        const files = (t.container as { file_ids?: unknown } | null)?.file_ids;
        if (Array.isArray(files)) {
          const other = files.find((f) => typeof f !== 'string' || !sharedFiles.has(f));
          if (other !== undefined) notShared(ctx, 'file', 'File', String(other), `tools[${i}].container.file_ids`);
        }
      });
    }
    if (Array.isArray(body.input)) {
      body.input.forEach((item: unknown, at: number) => {
        const id = item && typeof item === 'object' ? (item as { id?: unknown }).id : undefined;
        if (typeof id === 'string') named.push({ id, at });
        else if ((item as { type?: unknown } | null)?.type === 'item_reference') {
          throw new WardenError('WARDEN_INVALID_REQUEST', `Invalid type for 'input[${at}].id': expected a string.`, { param: `input[${at}].id` });
        }
      });
    }
    const checks = containers.map((c) => checkContainer(ctx, c.id, c.param));
    if (named.length > 0) checks.push(checkItems(ctx, named));
    if (checks.length === 0) return;
    // All are awaited (none left to reject unheard); the first refusal in the request's order is reported.
    return Promise.allSettled(checks).then((results) => {
      for (const r of results) if (r.status === 'rejected') throw r.reason;
    });
  };

  /**
   * Anthropic: a code-execution container (and the files in it) is reused by naming it in
   * `container`; only its owner may. `diagnostics.previous_message_id` explains prompt-cache
   * misses against another message, a window on a prompt that may be someone else's: refused.
   */
  const anthropicReferences = (ctx: InteractionContext): Promise<void> | void => {
    const { container, diagnostics } = ctx.body as { container?: unknown; diagnostics?: { previous_message_id?: unknown } | null };
    if (diagnostics && typeof diagnostics === 'object' && diagnostics.previous_message_id != null) {
      throw new WardenError('WARDEN_INVALID_REQUEST', 'diagnostics.previous_message_id is not available through this API.', { param: 'diagnostics.previous_message_id' });
    }
    if (container === undefined || container === null) return;
    const id = typeof container === 'string' ? container : typeof (container as { id?: unknown }).id === 'string' ? (container as { id: string }).id : null;
    if (id !== null) return checkContainer(ctx, id);
  };

  return {
    name: 'answer-owners',
    // Not an async function: requests naming nothing stored pass without a promise.
    policy(ctx: InteractionContext): Promise<void> | void {
      if (!ctx.auth) return;
      if (ctx.flavour === 'anthropic.messages') return anthropicReferences(ctx);
      if (ctx.flavour !== 'openai.responses') return;
      const body = ctx.body;
      // A background response is generated after this request has ended and is read later with
      // GET /v1/responses/{id}: Warden would forward it, then meter and record nothing of it.
      if (body.background === true) {
        throw new WardenError('WARDEN_INVALID_REQUEST', 'Background mode is not available through this API: send the request without `background` (stream it for long answers).', { param: 'background' });
      }
      if (body.conversation !== undefined && body.conversation !== null) {
        throw new WardenError('WARDEN_INVALID_REQUEST', 'Conversations are not available through this API: continue a response with `previous_response_id`, or send the whole input.', { param: 'conversation' });
      }
      const previous = body.previous_response_id;
      if (previous !== undefined && previous !== null && typeof previous !== 'string') throw new WardenError('WARDEN_INVALID_REQUEST', "Invalid type for 'previous_response_id': expected a string.", { param: 'previous_response_id' });
      const named = responsesReferences(ctx);
      if (typeof previous !== 'string') return named;
      if (!named) return checkOwner(ctx, previous);
      return Promise.allSettled([checkOwner(ctx, previous), named]).then((results) => {
        for (const r of results) if (r.status === 'rejected') throw r.reason;
      });
    },
    async storedAnswer(ctx: InteractionContext, id: string): Promise<{ model: string | null } | null> {
      if (!ctx.auth) return null;
      const owner = await ownedBy(ctx, id);
      return owner ? { model: owner.model ?? null } : null;
    },
    onEnd(_ctx: InteractionContext, event: InteractionEvent): void {
      if (!event.account_id) return;
      // A failed answer is not the caller's, except one the upstream created and then failed
      // (its in-stream error): the upstream keeps it, and its creator may read it back or continue it.
      if (event.response.status >= 400 && event.response.error_code !== 'WARDEN_UPSTREAM_ERROR') return;
      // Responses' answers (continued by id) and their output items (referenced by id), and the
      // code-execution containers of both APIs (reused by id).
      const ids = event.flavour === 'openai.responses' ? [event.response.answer_id, ...(event.response.item_ids ?? [])] : [];
      ids.push(event.response.container_id);
      const owner = { accountId: event.account_id, orgId: event.org_id, model: event.model || null };
      for (const id of ids) {
        if (!id || recent.has(id)) continue; // a container reused by its owner is already theirs
        if (recent.size >= recentMax) recent.delete(recent.keys().next().value!);
        recent.set(id, owner);
        if (pending.length < recentMax) pending.push({ id, ...owner, at: event.ts });
      }
    },
    flush,
    async close() {
      clearInterval(timer);
      await flush();
    },
  };
}
