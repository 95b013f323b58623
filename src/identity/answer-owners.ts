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
 * src/gateway/stored-responses.ts). Chat Completions created with `store: true` are recorded the
 * same way, for src/gateway/stored-chat.ts (`storedAnswers`: which of a listed page are the caller's). Conversation objects cannot be created through Warden
 * (`/v1/conversations` is not served), so a request naming one is refused too, as is background
 * mode (its answer is generated after the request, where nothing would meter it). The answer's
 * output items (`msg_...`, `rs_...`: the upstream resolves an `item_reference`, or an item handed
 * back with its id, from its store) and the code-execution containers of both APIs (which hold
 * files between requests), and Chat Completions audio (a later turn names it by `audio.id`) are
 * named by id the same way: recorded from the answer, usable by their owner only. Prompts, vector
 * stores, files (a `file_id` anywhere: src/gateway/file-refs.ts) and Anthropic custom skills kept
 * upstream are the operator's (no customer can make one through Warden): named only when the
 * operator shares them (`shared`). A request's ids are looked up together (at most MAX_NAMED_IDS).
 * Records are bounded in answers and in ids, an answer's ids kept or dropped together.
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
import { requestFileRefs } from '../gateway/file-refs.ts';
import { isPostgresUnavailable, migratePostgres, migrateSqlite, timed, PG_TIMEOUTS_MS, type PgPool, type SqliteDb } from '../store/index.ts';

export interface AnswerOwner { accountId: string; orgId: string | null; /** The model that answered (to find its upstream again); null for records made before it was kept. */ model?: string | null }
export interface AnswerRecord extends AnswerOwner { id: string; at: string }

export interface AnswerOwnersStore {
  record(entries: readonly AnswerRecord[]): Promise<void>;
  ownerOf(id: string): Promise<AnswerOwner | null>;
  /** The owners of those of `ids` that are recorded, in one query (a request names up to MAX_NAMED_IDS). */
  ownersOf(ids: readonly string[]): Promise<Map<string, AnswerOwner>>;
  /** Forget answers recorded before `before` (ISO time); how many were forgotten. */
  prune(before: string): Promise<number>;
}

export class MemoryAnswerOwnersStore implements AnswerOwnersStore {
  private readonly rows = new Map<string, AnswerRecord>();
  async record(entries: readonly AnswerRecord[]) { for (const e of entries) if (!this.rows.has(e.id)) this.rows.set(e.id, { ...e }); }
  async ownerOf(id: string) { const r = this.rows.get(id); return r ? { accountId: r.accountId, orgId: r.orgId, model: r.model ?? null } : null; }
  async ownersOf(ids: readonly string[]) {
    const out = new Map<string, AnswerOwner>();
    for (const id of ids) { const r = this.rows.get(id); if (r) out.set(id, { accountId: r.accountId, orgId: r.orgId, model: r.model ?? null }); }
    return out;
  }
  async prune(before: string) {
    let n = 0;
    for (const [id, r] of this.rows) if (r.at < before) { this.rows.delete(id); n++; }
    return n;
  }
}

/** Rows pruned per statement: an old day's rows go in short transactions, not one long one. */
const PRUNE_BATCH = 10_000;
/** Ids per SQLite `IN (...)` (well under its bound on variables). */
const SQLITE_CHUNK = 500;

type OwnerRow = { id: string; account_id: string; org_id: string | null; model: string | null };
const ownerOfRow = (r: OwnerRow): AnswerOwner => ({ accountId: r.account_id, orgId: r.org_id, model: r.model });

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
  async ownersOf(ids: readonly string[]) {
    const out = new Map<string, AnswerOwner>();
    for (let i = 0; i < ids.length; i += SQLITE_CHUNK) {
      const chunk = ids.slice(i, i + SQLITE_CHUNK);
      const rows = this.db.prepare(`SELECT id, account_id, org_id, model FROM answer_owners WHERE id IN (${chunk.map(() => '?').join(',')})`).all(...chunk) as OwnerRow[];
      for (const r of rows) out.set(r.id, ownerOfRow(r));
    }
    return out;
  }
  async prune(before: string) {
    const del = this.db.prepare('DELETE FROM answer_owners WHERE id IN (SELECT id FROM answer_owners WHERE created_at < ? LIMIT ?)');
    let n = 0;
    for (;;) {
      const changes = del.run(before, PRUNE_BATCH).changes;
      n += changes;
      if (changes < PRUNE_BATCH) return n;
      await new Promise((r) => setImmediate(r)); // requests are served between batches
    }
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
  async ownersOf(ids: readonly string[]) {
    const out = new Map<string, AnswerOwner>();
    if (!ids.length) return out;
    const { rows } = await this.pool.query(timed('SELECT id, account_id, org_id, model FROM answer_owners WHERE id = ANY($1::text[])', [ids], PG_TIMEOUTS_MS.read));
    for (const r of rows as OwnerRow[]) out.set(r.id, ownerOfRow(r));
    return out;
  }
  async prune(before: string) {
    let n = 0;
    for (;;) {
      const res = await this.pool.query('DELETE FROM answer_owners WHERE id IN (SELECT id FROM answer_owners WHERE created_at < $1 LIMIT $2)', [before, PRUNE_BATCH]);
      n += res.rowCount ?? 0;
      if ((res.rowCount ?? 0) < PRUNE_BATCH) return n;
    }
  }
}

/** Stored objects one request may name by id (items, containers, a previous response, audio), each looked up: more than an honest transcript holds. */
export const MAX_NAMED_IDS = 4_096;

export interface AnswerOwnershipOptions {
  /** How long an answer stays chainable here, days (the upstream's own retention is 30). */
  retentionDays: number;
  /** Records are written every this many ms. */
  flushMs?: number;
  /** Re-read a miss after this many ms (several nodes share the store); 0: no second read. */
  retryMs?: number;
  /** Answers remembered on this node, for requests that chain before the batch is written (and kept while the store fails). */
  recentMax?: number;
  /** Ids those answers may hold in all (an answer holds its id, its items' and its container's). */
  recentIdsMax?: number;
  log?: (msg: string) => void;
  /** The operator's objects kept upstream that every customer may name (`identity.shared_objects`); others are refused. */
  shared?: { prompts?: readonly string[]; vectorStores?: readonly string[]; files?: readonly string[]; skills?: readonly string[] };
  /**
   * The organisation an account is in now: an answer belongs to its account and to that account's
   * current organisation (one that moved takes its answers along). Without it, the organisation
   * recorded with the answer.
   */
  orgOfAccount?: (accountId: string) => Promise<string | null>;
}

export type AnswerOwnershipHooks = GatewayHooks & { flush(): Promise<void> };

/** An id a request names, what it is (for the refusal), and where. */
interface Ref { id: string; kind: 'previous_response' | 'container' | 'input_item' | 'audio'; param: string }

/** One answer's records: its ids, kept and dropped together. */
interface Answer { ids: string[]; owner: AnswerOwner; at: string }

export function answerOwnershipHooks(store: AnswerOwnersStore, opts: AnswerOwnershipOptions): AnswerOwnershipHooks {
  const flushMs = opts.flushMs ?? 200;
  const retryMs = opts.retryMs ?? 0;
  const recentMax = opts.recentMax ?? 100_000;
  const recentIdsMax = opts.recentIdsMax ?? 500_000;
  const sharedPrompts = new Set(opts.shared?.prompts ?? []);
  const sharedStores = new Set(opts.shared?.vectorStores ?? []);
  const sharedFiles = new Set(opts.shared?.files ?? []);
  const sharedSkills = new Set(opts.shared?.skills ?? []);
  // Both bounded in answers and in ids; the oldest answers go first, all of an answer's ids at once.
  const recent = new Map<string, AnswerOwner>();
  const recentAnswers: Answer[] = [];
  let recentHead = 0;
  let recentIds = 0;
  let pending: Answer[] = [];
  let pendingIds = 0;
  let writing: Promise<void> = Promise.resolve();
  let lastPrune = 0;
  let failing = false;
  let dropped = 0;

  /** Drop the oldest pending answers beyond the bounds (they stay chainable here while in `recent`). */
  const trimPending = () => {
    let n = 0;
    while (pending.length > 0 && (pending.length > recentMax || pendingIds > recentIdsMax)) { pendingIds -= pending.shift()!.ids.length; n++; }
    if (n === 0) return;
    if (dropped === 0) opts.log?.(`answer owners: the store has not taken records for a while; ${n} answers dropped unstored (their owners will be refused them)`);
    dropped += n;
  };
  const flush = (): Promise<void> => {
    if (pending.length === 0) return writing;
    const batch = pending;
    pending = [];
    const batchIds = pendingIds;
    pendingIds = 0;
    writing = writing.then(async () => {
      try {
        await store.record(batch.flatMap((a) => a.ids.map((id) => ({ id, ...a.owner, at: a.at }))));
        if (failing) { failing = false; opts.log?.(`answer owners: stored again${dropped ? ` (${dropped} answers were dropped meanwhile)` : ''}`); dropped = 0; }
        const now = Date.now();
        if (now - lastPrune > 3_600_000) {
          lastPrune = now;
          await store.prune(new Date(now - opts.retentionDays * 86_400_000).toISOString());
        }
      } catch (err) {
        // Kept for the next flush (bounded): the answers stay chainable on this node meanwhile.
        if (!failing) { failing = true; opts.log?.(`answer owners: could not store (${(err as Error).message}); retrying`); }
        pending = batch.concat(pending);
        pendingIds += batchIds;
        trimPending();
      }
    });
    return writing;
  };
  const timer = setInterval(() => { void flush(); }, flushMs);
  timer.unref();

  const unavailable = (err: unknown): never => {
    if (isPostgresUnavailable(err)) throw new WardenError('WARDEN_STORE_UNAVAILABLE', 'Stored responses cannot be checked right now (the store is unreachable); retry shortly.', { headers: { 'retry-after': '1' }, cause: err });
    throw err;
  };
  const read = async (id: string): Promise<AnswerOwner | null> => {
    try { return await store.ownerOf(id); } catch (err) { return unavailable(err); }
  };
  const ownerOf = async (id: string): Promise<AnswerOwner | null> => {
    const here = recent.get(id);
    if (here) return here;
    const stored = await read(id);
    if (stored || retryMs === 0) return stored;
    await new Promise((r) => setTimeout(r, retryMs));
    return read(id);
  };
  /** Owners of many ids: this node's recent answers first, then one query for the rest, and one more for its misses (several nodes). */
  const ownersOf = async (ids: readonly string[]): Promise<Map<string, AnswerOwner>> => {
    let found: Map<string, AnswerOwner>;
    try { found = await store.ownersOf(ids); } catch (err) { return unavailable(err); }
    const misses = ids.filter((id) => !found.has(id));
    if (misses.length === 0 || retryMs === 0) return found;
    await new Promise((r) => setTimeout(r, retryMs));
    let again: Map<string, AnswerOwner>;
    try { again = await store.ownersOf(misses); } catch (err) { return unavailable(err); }
    for (const [id, o] of again) found.set(id, o);
    return found;
  };

  const orgOf = (ctx: InteractionContext) => ctx.auth!.org?.id ?? ctx.auth!.account.org_id ?? null;
  /** `orgs`: the current organisation of the owners that are not the caller (see currentOrgs). */
  const isCallers = (ctx: InteractionContext, owner: AnswerOwner | null | undefined, orgs: ReadonlyMap<string, string | null>): owner is AnswerOwner => {
    if (!owner) return false;
    if (owner.accountId === ctx.auth!.account.id) return true;
    const orgId = orgOf(ctx);
    const ownerOrg = orgs.has(owner.accountId) ? orgs.get(owner.accountId)! : owner.orgId;
    return orgId !== null && ownerOrg === orgId;
  };
  /** The current organisation of each owner that is not the caller (empty without opts.orgOfAccount, or when all are the caller's). */
  const currentOrgs = async (ctx: InteractionContext, owners: ReadonlyArray<AnswerOwner | null | undefined>): Promise<Map<string, string | null>> => {
    const out = new Map<string, string | null>();
    const resolve = opts.orgOfAccount;
    if (!resolve || orgOf(ctx) === null) return out;
    const others = new Set<string>();
    for (const o of owners) if (o && o.accountId !== ctx.auth!.account.id) others.add(o.accountId);
    await Promise.all([...others].map(async (id) => { out.set(id, await resolve(id)); }));
    return out;
  };
  /** The record of `id` when the caller's account or organisation owns it, else null. */
  const ownedBy = async (ctx: InteractionContext, id: string): Promise<AnswerOwner | null> => {
    const owner = await ownerOf(id);
    return isCallers(ctx, owner, await currentOrgs(ctx, [owner])) ? owner : null;
  };

  // Refusals read the same for another customer's id as for one that does not exist: whether it exists is not told.
  const refuse = (ctx: InteractionContext, ref: Ref): never => {
    ctx.enforcement.policy.push(`refused:${ref.kind}`);
    const id = ref.id.slice(0, 200);
    if (ref.kind === 'previous_response') throw new WardenError('WARDEN_PREVIOUS_RESPONSE_NOT_FOUND', `Previous response with id '${id}' not found.`, { param: ref.param });
    const what = ref.kind === 'container' ? `Container '${id}'` : ref.kind === 'audio' ? `Audio with id '${id}'` : `Item with id '${id}'`;
    throw new WardenError('WARDEN_NOT_FOUND', `${what} not found.`, { param: ref.param });
  };
  /**
   * Every id named must be the caller's. Looked up together (deduplicated, at most MAX_NAMED_IDS,
   * this node's recent answers without waiting); the first refused in the request's order is
   * reported, and only it is marked on the event.
   */
  const checkRefs = (ctx: InteractionContext, refs: readonly Ref[]): Promise<void> | void => {
    if (refs.length === 0) return;
    const unique = new Set<string>();
    for (const r of refs) {
      unique.add(r.id);
      if (unique.size > MAX_NAMED_IDS) {
        throw new WardenError('WARDEN_INVALID_REQUEST', `This request names more than ${MAX_NAMED_IDS} stored items, responses or containers by id, the most one request may name; send fewer (continue with \`previous_response_id\`, or send the items' content without their ids).`, { param: r.param });
      }
    }
    const unknown: string[] = [];
    for (const id of unique) if (!recent.has(id)) unknown.push(id);
    const decide = (found: ReadonlyMap<string, AnswerOwner>): Promise<void> | void => {
      const owners = refs.map((r) => recent.get(r.id) ?? found.get(r.id));
      // Another account's answer is the caller's only while that account is in the caller's organisation now.
      if (owners.every((o) => !o || o.accountId === ctx.auth!.account.id) || !opts.orgOfAccount) {
        refs.forEach((r, i) => { if (!isCallers(ctx, owners[i], new Map())) refuse(ctx, r); });
        return;
      }
      return currentOrgs(ctx, owners).then((orgs) => { refs.forEach((r, i) => { if (!isCallers(ctx, owners[i], orgs)) refuse(ctx, r); }); });
    };
    if (unknown.length === 0) return decide(new Map());
    return ownersOf(unknown).then(decide);
  };
  const notShared = (ctx: InteractionContext, kind: string, what: string, id: string, param: string): never => {
    ctx.enforcement.policy.push(`refused:${kind}`);
    throw new WardenError('WARDEN_INVALID_REQUEST', `${what} '${id.slice(0, 200)}' is not available through this API.`, { param });
  };
  /**
   * Files named by id anywhere in the request: the caller's own were sent inline by the batches
   * capability's hook (which runs first) when it is enabled; what is left must be shared.
   */
  const checkFiles = (ctx: InteractionContext): void => {
    for (const ref of requestFileRefs(ctx)) {
      if (typeof ref.id !== 'string' || !sharedFiles.has(ref.id)) notShared(ctx, 'file', 'File', String(ref.id), ref.param);
    }
  };
  /** A container named by id on any tool (`container`, `container_id`), not only the code interpreter. */
  const toolContainers = (tools: unknown, refs: Ref[]): void => {
    if (!Array.isArray(tools)) return;
    tools.forEach((tool: unknown, i: number) => {
      if (!tool || typeof tool !== 'object') return;
      const t = tool as { container?: unknown; container_id?: unknown };
      if (typeof t.container === 'string') refs.push({ id: t.container, kind: 'container', param: `tools[${i}].container` });
      if (typeof t.container_id === 'string') refs.push({ id: t.container_id, kind: 'container', param: `tools[${i}].container_id` });
    });
  };

  /**
   * OpenAI Responses: what the request names that the upstream keeps under Warden's credential.
   * Input items with an `id` (an `item_reference`, or an output item handed back whole: the
   * upstream may read it from its store by id), an MCP approval's request item, and containers
   * named by id must be the caller's; the operator's prompts, vector stores and files must be shared.
   */
  const responsesReferences = (ctx: InteractionContext, refs: Ref[]): void => {
    const body = ctx.body as { input?: unknown; tools?: unknown; prompt?: unknown };
    const prompt = body.prompt as { id?: unknown } | null | undefined;
    if (prompt && typeof prompt === 'object' && typeof prompt.id === 'string' && !sharedPrompts.has(prompt.id)) notShared(ctx, 'prompt', 'Prompt', prompt.id, 'prompt.id');
    if (Array.isArray(body.tools)) {
      body.tools.forEach((tool: unknown, i: number) => {
        const ids = tool && typeof tool === 'object' ? (tool as { vector_store_ids?: unknown }).vector_store_ids : undefined;
        if (!Array.isArray(ids)) return;
        const other = ids.find((v) => typeof v !== 'string' || !sharedStores.has(v));
        if (other !== undefined) notShared(ctx, 'vector_store', 'Vector store', String(other), `tools[${i}].vector_store_ids`);
      });
    }
    checkFiles(ctx);
    toolContainers(body.tools, refs);
    if (!Array.isArray(body.input)) return;
    body.input.forEach((item: unknown, at: number) => {
      if (!item || typeof item !== 'object') return;
      const it = item as { id?: unknown; type?: unknown; approval_request_id?: unknown };
      if (typeof it.id === 'string') refs.push({ id: it.id, kind: 'input_item', param: `input[${at}]` });
      else if (it.type === 'item_reference') {
        throw new WardenError('WARDEN_INVALID_REQUEST', `Invalid type for 'input[${at}].id': expected a string.`, { param: `input[${at}].id` });
      }
      if (it.type === 'mcp_approval_response' && typeof it.approval_request_id === 'string') refs.push({ id: it.approval_request_id, kind: 'input_item', param: `input[${at}].approval_request_id` });
    });
  };

  /**
   * Anthropic: a code-execution container (and the files in it) is reused by naming it in
   * `container`; only its owner may. The operator's custom skills only when shared.
   * `diagnostics.previous_message_id` explains prompt-cache misses against another message, a
   * window on a prompt that may be someone else's: refused.
   */
  const anthropicReferences = (ctx: InteractionContext, refs: Ref[]): void => {
    const { container, diagnostics } = ctx.body as { container?: unknown; diagnostics?: { previous_message_id?: unknown } | null };
    if (diagnostics && typeof diagnostics === 'object' && diagnostics.previous_message_id != null) {
      throw new WardenError('WARDEN_INVALID_REQUEST', 'diagnostics.previous_message_id is not available through this API.', { param: 'diagnostics.previous_message_id' });
    }
    const skills = container && typeof container === 'object' ? (container as { skills?: unknown }).skills : undefined;
    if (Array.isArray(skills)) {
      skills.forEach((skill: unknown, i: number) => {
        const s = (skill ?? {}) as { type?: unknown; skill_id?: unknown };
        // Anthropic's own skills are everyone's; a custom one is kept under Warden's credential.
        if (s.type !== 'anthropic' && (typeof s.skill_id !== 'string' || !sharedSkills.has(s.skill_id))) notShared(ctx, 'skill', 'Skill', String(s.skill_id), `container.skills.${i}.skill_id`);
      });
    }
    checkFiles(ctx);
    if (container === undefined || container === null) return;
    const id = typeof container === 'string' ? container : typeof (container as { id?: unknown }).id === 'string' ? (container as { id: string }).id : null;
    if (id !== null) refs.push({ id, kind: 'container', param: 'container' });
  };

  /** Chat Completions: an assistant turn's audio from an earlier answer is read from the upstream's store by id. */
  const chatReferences = (ctx: InteractionContext, refs: Ref[]): void => {
    checkFiles(ctx);
    const messages = (ctx.body as { messages?: unknown }).messages;
    if (!Array.isArray(messages)) return;
    messages.forEach((m: unknown, i: number) => {
      const audio = m && typeof m === 'object' ? (m as { audio?: unknown }).audio : undefined;
      const id = audio && typeof audio === 'object' ? (audio as { id?: unknown }).id : undefined;
      if (typeof id === 'string') refs.push({ id, kind: 'audio', param: `messages[${i}].audio.id` });
    });
  };

  /** Remember an answer's ids on this node (the oldest answers forgotten first). */
  const remember = (answer: Answer): void => {
    while (recentAnswers.length - recentHead > 0 && (recentAnswers.length - recentHead >= recentMax || recentIds + answer.ids.length > recentIdsMax)) {
      const old = recentAnswers[recentHead++]!;
      for (const id of old.ids) recent.delete(id);
      recentIds -= old.ids.length;
    }
    if (recentHead > 1024 && recentHead * 2 > recentAnswers.length) { recentAnswers.splice(0, recentHead); recentHead = 0; }
    for (const id of answer.ids) recent.set(id, answer.owner);
    recentAnswers.push(answer);
    recentIds += answer.ids.length;
  };

  return {
    name: 'answer-owners',
    // Not an async function: requests naming nothing stored pass without a promise.
    policy(ctx: InteractionContext): Promise<void> | void {
      if (!ctx.auth) return;
      const refs: Ref[] = [];
      // Everything refused without a lookup is refused first: no lookup is then left running unheard.
      if (ctx.flavour === 'anthropic.messages') anthropicReferences(ctx, refs);
      else if (ctx.flavour === 'openai.chat') chatReferences(ctx, refs);
      else if (ctx.flavour === 'openai.responses') {
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
        if (typeof previous === 'string') refs.push({ id: previous, kind: 'previous_response', param: 'previous_response_id' });
        responsesReferences(ctx, refs);
      } else return;
      return checkRefs(ctx, refs);
    },
    async storedAnswer(ctx: InteractionContext, id: string): Promise<{ model: string | null } | null> {
      if (!ctx.auth) return null;
      const owner = await ownedBy(ctx, id);
      return owner ? { model: owner.model ?? null } : null;
    },
    async storedAnswers(ctx: InteractionContext, ids: readonly string[]): Promise<ReadonlySet<string>> {
      const mine = new Set<string>();
      if (!ctx.auth || ids.length === 0) return mine;
      // One read, no second one after `retry_ms`: most ids a list names are other customers'.
      let found: Map<string, AnswerOwner>;
      try { found = await store.ownersOf(ids.filter((id) => !recent.has(id))); } catch (err) { return unavailable(err); }
      const owners = ids.map((id) => recent.get(id) ?? found.get(id));
      const orgs = await currentOrgs(ctx, owners);
      ids.forEach((id, i) => { if (isCallers(ctx, owners[i], orgs)) mine.add(id); });
      return mine;
    },
    onEnd(ctx: InteractionContext, event: InteractionEvent): void {
      if (!event.account_id) return;
      // A failed answer is not the caller's, except one the upstream created and then failed
      // (its in-stream error): the upstream keeps it, and its creator may read it back or continue it.
      if (event.response.status >= 400 && event.response.error_code !== 'WARDEN_UPSTREAM_ERROR') return;
      // Responses' answers (continued by id) and their output items (referenced by id), Chat's
      // audio (named by id in a later turn) and its completions made with `store: true` (read back
      // by id), and the code-execution containers of both APIs (reused by id).
      const named = event.flavour === 'openai.responses' ? [event.response.answer_id, ...(event.response.item_ids ?? [])]
        : event.flavour === 'openai.chat' ? [...(event.response.item_ids ?? []), ctx.body?.store === true ? event.response.answer_id : null] : [];
      named.push(event.response.container_id);
      // An id already known here is already someone's (a container reused by its owner).
      const ids = [...new Set(named.filter((id): id is string => typeof id === 'string' && id !== '' && !recent.has(id)))];
      if (ids.length === 0) return;
      const answer: Answer = { ids, owner: { accountId: event.account_id, orgId: event.org_id, model: event.model || null }, at: event.ts };
      remember(answer);
      pending.push(answer);
      pendingIds += ids.length;
      trimPending();
    },
    flush,
    async close() {
      clearInterval(timer);
      await flush();
    },
  };
}
