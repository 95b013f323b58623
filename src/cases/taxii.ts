/**
 * A TAXII 2.1 server (OASIS) for partner providers, mounted at /taxii2/ on the nodes that run the
 * detector. Partners authenticate with a Warden API key (Bearer, or HTTP Basic with the key as
 * password) whose scopes say what they may do:
 *
 *   GET  /taxii2/                                         discovery
 *   GET  /taxii2/intel/                                   the API root
 *   GET  /taxii2/intel/collections/                       the collections this key may use
 *   GET  /taxii2/intel/collections/{id}/                  one collection
 *   GET  /taxii2/intel/collections/{id}/objects/          `indicators` (intel:read): what this provider published;
 *                                                         `sightings` (intel:read): how often the caller's own indicators matched here
 *   GET  /taxii2/intel/collections/{id}/objects/{oid}/    (?added_after, limit, next, match[id|type|version|spec_version])
 *   GET  /taxii2/intel/collections/{id}/objects/{oid}/versions/
 *   GET  /taxii2/intel/collections/{id}/manifest/
 *   POST /taxii2/intel/collections/{id}/objects/          `inbox` (intel:write): a partner's indicators, matched at once -> 202 status
 *   GET  /taxii2/intel/status/{id}/                       the status of a POST
 *
 * What the collection holds is put there by publishing a case (src/cases/publish.ts). Errors are
 * TAXII error messages (application/taxii+json), with the status codes the specification names.
 */
import { checkSigned, SignatureCache, type IntelSigner } from './signing.ts';
import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { WardenError } from '../errors/index.ts';
import type { VerdictLevel } from '../detect/index.ts';
import { PUBLISHED_COLLECTION, takeIn, type Intake } from './publish.ts';
import { Partners } from './partners.ts';
import { sightingsToStix, stixId, StixError } from './stix.ts';
import type { PublishedObject, PublishedQuery } from './store.ts';
import { KeyRate } from '../limits/index.ts';
import { MAX_JSON_DEPTH, nestsDeeper } from '../gateway/json-depth.ts';
import { publicBase } from '../gateway/public-url.ts';

export const TAXII_MEDIA_TYPE = 'application/taxii+json;version=2.1';
const STIX_MEDIA_TYPE = 'application/stix+json;version=2.1';
/** Objects per page at most (a client's `limit` is capped to it). */
export const TAXII_PAGE_LIMIT = 1000;
/** POST statuses kept (in memory; a status is read just after its POST). */
const STATUSES_KEPT = 1000;

/** Who is calling: the key's scopes and the partner it belongs to. */
export interface TaxiiCaller {
  key: { id: string; scopes: readonly string[] };
  account: { id: string; name: string | null };
  org: { name: string } | null;
}

export interface TaxiiServerOptions extends Omit<Intake, 'sharingKey' | 'keysFor'> {
  /** Without one (and no partner with a key of its own), no inbox: a partner's keyed hashes cannot be matched. */
  sharingKey: string | null;
  /**
   * The partners (cases.partners): one with a key of its own reads its own published collection
   * (hashed with that key) and its inbox posts are matched with it. Absent: every partner on the sharing key.
   */
  partners?: Partners;
  /** Check a presented API key (throws a WardenError when it is missing, unknown, revoked or expired). */
  authenticate(secret: string): Promise<TaxiiCaller>;
  provider: string;
  importLevel: VerdictLevel;
  /** Largest POST body, bytes. */
  maxContentLength: number;
  /** Requests per minute per partner key (bursts of half); default 120. */
  requestsPerMinute?: number;
  /** This provider's signing key (cases.signing_key): every object served carries its signature. */
  signer?: IntelSigner | null;
  /** Where refusals of a partner's unsigned or forged objects, and the warning for a partner with no key pinned, are said. */
  say?: (line: string) => void;
  /** `server.public_url`: the base of the discovery's `api_roots` (null: as the request arrived; src/gateway/public-url.ts). */
  publicUrl?: string | null;
}

/** Text from a partner (an object's id in a refusal), its control characters made spaces. */
const oneLine = (s: string) => s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ').trim();

interface Collection { id: string; store: string; title: string; description: string; read: boolean; write: boolean }

/** The generated collection of sightings: each partner reads those of its own indicators. */
const SIGHTINGS = 'sightings';

class TaxiiError extends Error {
  constructor(readonly status: number, readonly title: string, message: string, readonly headers: Record<string, string> = {}, readonly details?: object) { super(message); }
}

/** TAXII timestamps carry microseconds; `added_us` are microseconds since the epoch. */
export function taxiiTime(us: number): string {
  const ms = Math.floor(us / 1000);
  return `${new Date(ms).toISOString().slice(0, 23)}${String(us - ms * 1000).padStart(3, '0')}Z`;
}
function parseTaxiiTime(s: string): number | null {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/.exec(s);
  if (!m) return null;
  const seconds = Date.parse(`${m[1]}${m[3]}`);
  if (!Number.isFinite(seconds)) return null;
  return seconds * 1000 + Number((m[2] ?? '').padEnd(6, '0').slice(0, 6));
}

/** A partner's name as its key says: its organisation's, else its account's. */
const partnerName = (who: TaxiiCaller) => who.org?.name ?? who.account.name ?? who.account.id;

/** The secret from `Authorization: Bearer KEY` or `Basic base64(name:KEY)` (TAXII clients mostly send Basic). */
function presentedSecret(req: FastifyRequest): string | null {
  const h = req.headers.authorization;
  if (typeof h !== 'string') return null;
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(h);
  if (bearer) return bearer[1];
  const basic = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(h);
  if (!basic) return null;
  const decoded = Buffer.from(basic[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  const secret = colon < 0 ? decoded : decoded.slice(colon + 1) || decoded.slice(0, colon);
  return secret || null;
}

/** A client's Accept must allow TAXII 2.1 JSON (absent, wildcards and the unversioned type do). */
function acceptsTaxii(accept: string | undefined): boolean {
  if (!accept) return true;
  return accept.split(',').some((part) => {
    const [type, ...params] = part.split(';').map((p) => p.trim().toLowerCase());
    if (type === '*/*' || type === 'application/*') return true;
    if (type !== 'application/taxii+json') return false;
    // A parameter's value may be quoted (`version="2.1"`): the same value.
    const version = params.find((p) => p.startsWith('version='))?.slice('version='.length).replace(/^"(.*)"$/, '$1');
    return version === undefined || version === '2.1';
  });
}

/** The collections: what this provider publishes, each partner's sightings, and (with a sharing key) the inbox. */
function collectionsOf(provider: string, inbox: boolean): Collection[] {
  const id = (name: string) => stixId('collection', provider, name).slice('collection--'.length);
  return [
    { id: id('indicators'), store: PUBLISHED_COLLECTION, title: `${provider}: distillation campaign indicators`, description: 'Indicators of campaigns harvesting model outputs, as keyed hashes (HMAC-SHA256 under the key agreed with you: your own, or the shared one), with their campaigns.', read: true, write: false },
    { id: id(SIGHTINGS), store: SIGHTINGS, title: `${provider}: sightings of your indicators`, description: 'How often the indicators you shared matched here: requests, accounts, first and last seen. Each partner sees its own.', read: true, write: false },
    ...(inbox ? [{ id: id('inbox'), store: 'inbox', title: `${provider}: inbox`, description: 'Add your campaign indicators here; they are matched against this provider\'s traffic at once.', read: false, write: true }] : []),
  ];
}

export function registerTaxiiServer(app: FastifyInstance, opts: TaxiiServerOptions): void {
  const partners = opts.partners ?? new Partners({ store: opts.store, intel: opts.intel, sharedKey: opts.sharingKey, partners: [], provider: opts.provider, validDays: 90 });
  const collections = collectionsOf(opts.provider, partners.anyKey);
  const { sharingKey } = opts;
  /** POST statuses by id, with the account that posted (no partner reads another's). */
  const statuses = new Map<string, { account: string; status: Record<string, unknown> }>();
  const rate = new KeyRate(opts.requestsPerMinute ?? 120);
  const say = opts.say ?? (() => {});
  /** Partners already warned about for having no key pinned (once per start). */
  const warnedUnpinned = new Set<string>();

  // A Buffer, so the media type goes out as written: for a string body Fastify adds a charset and
  // quotes the version, and TAXII clients compare the media type literally.
  const send = (reply: FastifyReply, status: number, body: unknown, headers: Record<string, string> = {}) =>
    reply.code(status).headers({ ...headers, 'content-type': TAXII_MEDIA_TYPE }).send(Buffer.from(JSON.stringify(body)));

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, req, reply) => {
    if (err instanceof TaxiiError) return send(reply, err.status, { title: err.title, description: err.message, http_status: String(err.status), ...(err.details ? { details: err.details } : {}) }, err.headers);
    if (err instanceof WardenError) return send(reply, err.status, { title: err.code, description: err.message, http_status: String(err.status) }, err.status === 401 ? { 'www-authenticate': 'Basic realm="taxii", Bearer' } : {});
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status === 500) req.log.error({ err }, 'taxii: request failed');
    const title = status === 415 ? 'Unsupported Media Type' : status === 413 ? 'Request Too Large' : status === 500 ? 'Internal Server Error' : 'Bad Request';
    const description = status === 415 ? `send ${TAXII_MEDIA_TYPE}` : status === 413 ? `the largest body accepted is ${opts.maxContentLength} bytes` : status === 500 ? 'the server could not complete the request' : err.message;
    return send(reply, status, { title, description, http_status: String(status) });
  });
  app.setNotFoundHandler((req, reply) => send(reply, 404, { title: 'Not Found', description: `no TAXII resource at ${req.url.split('?')[0]}`, http_status: '404' }));
  app.addContentTypeParser('application/taxii+json', { parseAs: 'string', bodyLimit: opts.maxContentLength }, (_req, body, done) => {
    let parsed: unknown;
    try { parsed = JSON.parse(body as string); } catch { return done(new TaxiiError(400, 'Bad Request', 'the body is not valid JSON'), undefined); }
    // As every body the gateway takes: deeper nesting overflows the stack when read (a 500 before).
    if (nestsDeeper(body as string, parsed)) return done(new TaxiiError(400, 'Bad Request', `the body nests arrays and objects more than ${MAX_JSON_DEPTH} levels deep`), undefined);
    done(null, parsed);
  });

  /** Authenticate, check Accept; the caller, with what it may read and write. */
  const authenticate = async (req: FastifyRequest) => {
    if (!acceptsTaxii(req.headers.accept)) throw new TaxiiError(406, 'Not Acceptable', `this server answers ${TAXII_MEDIA_TYPE}`);
    const secret = presentedSecret(req);
    if (!secret) throw new TaxiiError(401, 'Unauthorized', 'send a partner API key: "Authorization: Bearer <key>", or HTTP Basic with the key as password', { 'www-authenticate': 'Basic realm="taxii", Bearer' });
    const who = await opts.authenticate(secret);
    const wait = rate.take(who.key.id);
    if (wait) throw new TaxiiError(429, 'Too Many Requests', `this key may make ${opts.requestsPerMinute ?? 120} requests a minute; retry in ${Math.ceil(wait / 1000)} s`, { 'retry-after': String(Math.ceil(wait / 1000)) });
    const read = who.key.scopes.includes('intel:read');
    const write = who.key.scopes.includes('intel:write');
    if (!read && !write) throw new TaxiiError(403, 'Forbidden', 'this API key has neither the "intel:read" nor the "intel:write" scope');
    return { who, read, write };
  };
  // Before the body is read: a caller without a key learns nothing, not even a body limit.
  const callers = new WeakMap<FastifyRequest, Awaited<ReturnType<typeof authenticate>>>();
  app.addHook('onRequest', async (req) => { callers.set(req, await authenticate(req)); });
  const caller = async (req: FastifyRequest) => callers.get(req)!;
  /** The collection, if this caller may see it (TAXII answers 404 for one it may not). */
  const collectionFor = (id: string, c: { read: boolean; write: boolean }) => {
    const col = collections.find((x) => x.id === id && ((x.read && c.read) || (x.write && c.write)));
    if (!col) throw new TaxiiError(404, 'Not Found', `no collection ${id}`);
    return col;
  };
  const view = (col: Collection, c: { read: boolean; write: boolean }) => ({
    id: col.id, title: col.title, description: col.description, can_read: col.read && c.read, can_write: col.write && c.write, media_types: [STIX_MEDIA_TYPE],
  });
  const readable = (id: string, c: { read: boolean; write: boolean }) => {
    const col = collectionFor(id, c);
    if (!col.read || !c.read) throw new TaxiiError(403, 'Forbidden', `collection ${id} cannot be read${col.read ? ' with this key (it lacks "intel:read")' : ''}`);
    return col;
  };

  /** A client's filters, as the store reads them. */
  const filters = (col: Collection, q: Record<string, string | undefined>, objectId?: string): PublishedQuery => {
    const list = (name: string) => q[name]?.split(',').map((s) => s.trim()).filter(Boolean);
    let addedAfterUs: number | undefined;
    if (q.added_after !== undefined) {
      const t = parseTaxiiTime(q.added_after);
      if (t === null) throw new TaxiiError(400, 'Bad Request', `added_after: not a timestamp: ${q.added_after}`);
      addedAfterUs = t;
    }
    if (q.next !== undefined) {
      if (!/^\d{1,17}$/.test(q.next)) throw new TaxiiError(400, 'Bad Request', 'next: not a value this server gave');
      addedAfterUs = Math.max(addedAfterUs ?? 0, Number(q.next));
    }
    const limit = q.limit === undefined ? TAXII_PAGE_LIMIT : Number(q.limit);
    if (!Number.isInteger(limit) || limit < 1) throw new TaxiiError(400, 'Bad Request', 'limit: a positive whole number');
    const v = list('match[version]') ?? ['last'];
    let versions: PublishedQuery['versions'] = 'last';
    if (v.includes('all')) versions = 'all';
    else if (v.length === 1 && (v[0] === 'last' || v[0] === 'first')) versions = v[0];
    else if (v.every((x) => parseTaxiiTime(x) !== null)) versions = v.map((x) => new Date(Math.floor(parseTaxiiTime(x)! / 1000)).toISOString());
    else throw new TaxiiError(400, 'Bad Request', 'match[version]: last, first, all or timestamps');
    return { collection: col.store, addedAfterUs, ids: objectId ? [objectId] : list('match[id]'), types: list('match[type]'), versions, limit: Math.min(limit, TAXII_PAGE_LIMIT) + 1 };
  };
  /** One page: the rows asked for, whether there are more, and the TAXII paging headers. */
  const page = async (col: Collection, q: Record<string, string | undefined>, who: TaxiiCaller, objectId?: string) => {
    const spec = q['match[spec_version]']?.split(',').map((s) => s.trim());
    const f = filters(col, q, objectId);
    // The published collection a partner reads is its own when it has a key of its own (hashed with it).
    const rows: PublishedObject[] = spec && !spec.includes('2.1') ? [] : col.store === SIGHTINGS ? sightingsFor(who, f)
      : await opts.store.published(col.store === PUBLISHED_COLLECTION ? { ...f, collection: partners.collectionFor(partnerName(who)) } : f);
    const more = rows.length === f.limit;
    if (more) rows.pop();
    const headers: Record<string, string> = rows.length ? { 'x-taxii-date-added-first': taxiiTime(rows[0].added_us), 'x-taxii-date-added-last': taxiiTime(rows.at(-1)!.added_us) } : {};
    return { rows, more, next: more ? String(rows.at(-1)!.added_us) : undefined, headers };
  };
  /**
   * When each sighting was added as it now reads (by id, with what it read): the time of the first
   * request that saw it so, unique. Its dates are coarsened to the day, so a date_added made from
   * them gave every sighting of a day one time, and a partner polling with `added_after` never
   * got one first seen later that day. A request's time tells a partner nothing its polls do not.
   */
  const sightingAdded = new Map<string, { reads: string; us: number }>();
  let lastAddedUs = 0;
  const addedUs = (id: string, reads: string) => {
    const known = sightingAdded.get(id);
    if (known?.reads === reads) return known.us;
    lastAddedUs = Math.max(lastAddedUs + 1, Date.now() * 1000);
    sightingAdded.set(id, { reads, us: lastAddedUs });
    return lastAddedUs;
  };
  /**
   * Sightings of the caller's own indicators (their source is the partner's name as its key says),
   * made on each request from the detector's counts.
   */
  const sightingsFor = (who: TaxiiCaller, f: PublishedQuery): PublishedObject[] => {
    const name = partnerName(who);
    const mine = new Set(opts.intel.list().filter((i) => i.source === name).map((i) => i.id));
    const seen = opts.intel.partnerSightings().filter((x) => mine.has(x.indicator_id));
    // Each a version: created when first seen (stable across requests), modified when last seen.
    const objects = sightingsToStix(seen, opts.provider).objects;
    return objects.slice(1).map((body) => ({
      collection: SIGHTINGS, id: body.id, type: body.type, version: String(body.modified), case_id: null, body: body as PublishedObject['body'],
      added_us: addedUs(body.id, JSON.stringify([body.modified, body.count, body.x_warden_accounts, body.first_seen])),
    }))
      .filter((r) => r.added_us > (f.addedAfterUs ?? 0) && (!f.ids?.length || f.ids.includes(r.id)) && (!f.types?.length || f.types.includes(r.type)))
      .sort((a, b) => a.added_us - b.added_us || (a.id < b.id ? -1 : 1))
      .slice(0, f.limit);
  };
  // Every object signed as it goes out (cases.signing_key): partners that pin the key refuse what
  // it did not sign. A published version never changes, so its signature is made once (sightings
  // are made afresh on each request, and signed each time).
  const signatures = new SignatureCache(opts.signer ?? null);
  const envelope = async (p: Awaited<ReturnType<typeof page>>) => (p.rows.length ? { more: p.more, ...(p.next ? { next: p.next } : {}), objects: await signatures.sign(p.rows) } : {});

  // TAXII URLs end with "/"; the same resource is served without it.
  const get = (path: string, handler: (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>) => {
    app.get(path, handler);
    // (The prefix's own root, "/", is served both ways by Fastify already.)
    if (path !== '/') app.get(path.replace(/\/$/, ''), handler);
  };
  type P = { id: string; oid: string; sid: string };
  const params = (req: FastifyRequest) => req.params as P;
  // A parameter given twice (?match[type]=a&match[type]=b) arrives as an array: read as the
  // comma-separated list TAXII writes, so a filter is a list and a limit given twice is refused.
  const query = (req: FastifyRequest): Record<string, string | undefined> => Object.fromEntries(
    Object.entries((req.query ?? {}) as Record<string, unknown>).map(([k, v]) => [k, Array.isArray(v) ? v.map(String).join(',') : typeof v === 'string' ? v : undefined]));

  get('/', async (req, reply) => {
    await caller(req);
    // Absolute, as TAXII clients expect, and followed by them with the partner's key: the gateway as
    // partners reach it (server.public_url, else the host as this request reached us, through trusted proxies).
    const root = `${publicBase(req, opts.publicUrl)}/taxii2/intel/`;
    return send(reply, 200, { title: `${opts.provider} TAXII server`, description: 'Indicators of model-distillation campaigns, exchanged between model providers.', default: root, api_roots: [root] });
  });
  get('/intel/', async (req, reply) => {
    await caller(req);
    return send(reply, 200, { title: 'Campaign indicators', versions: [TAXII_MEDIA_TYPE], max_content_length: opts.maxContentLength });
  });
  get('/intel/collections/', async (req, reply) => {
    const c = await caller(req);
    return send(reply, 200, { collections: collections.filter((x) => (x.read && c.read) || (x.write && c.write)).map((x) => view(x, c)) });
  });
  get('/intel/collections/:id/', async (req, reply) => {
    const c = await caller(req);
    return send(reply, 200, view(collectionFor(params(req).id, c), c));
  });
  get('/intel/collections/:id/objects/', async (req, reply) => {
    const c = await caller(req);
    const p = await page(readable(params(req).id, c), query(req), c.who);
    return send(reply, 200, await envelope(p), p.headers);
  });
  get('/intel/collections/:id/objects/:oid/', async (req, reply) => {
    const c = await caller(req);
    const p = await page(readable(params(req).id, c), query(req), c.who, params(req).oid);
    if (!p.rows.length && !query(req).added_after && !query(req).next) throw new TaxiiError(404, 'Not Found', `no object ${params(req).oid} in this collection`);
    return send(reply, 200, await envelope(p), p.headers);
  });
  get('/intel/collections/:id/objects/:oid/versions/', async (req, reply) => {
    const c = await caller(req);
    const p = await page(readable(params(req).id, c), { ...query(req), 'match[version]': 'all' }, c.who, params(req).oid);
    if (!p.rows.length && !query(req).added_after && !query(req).next) throw new TaxiiError(404, 'Not Found', `no object ${params(req).oid} in this collection`);
    return send(reply, 200, p.rows.length ? { more: p.more, versions: p.rows.map((r) => r.version) } : {}, p.headers);
  });
  get('/intel/collections/:id/manifest/', async (req, reply) => {
    const c = await caller(req);
    const p = await page(readable(params(req).id, c), query(req), c.who);
    const objects = p.rows.map((r) => ({ id: r.id, date_added: taxiiTime(r.added_us), version: r.version, media_type: STIX_MEDIA_TYPE }));
    return send(reply, 200, objects.length ? { more: p.more, ...(p.next ? { next: p.next } : {}), objects } : {}, p.headers);
  });
  get('/intel/status/:sid/', async (req, reply) => {
    const c = await caller(req);
    const s = statuses.get(params(req).sid);
    if (!s || s.account !== c.who.account.id) throw new TaxiiError(404, 'Not Found', `no status ${params(req).sid} (statuses are kept for the last ${STATUSES_KEPT} requests)`);
    return send(reply, 200, s.status);
  });

  const post = async (req: FastifyRequest, reply: FastifyReply) => {
    const c = await caller(req);
    const col = collectionFor(params(req).id, c);
    if (!col.write || !c.write) throw new TaxiiError(403, 'Forbidden', `collection ${col.id} cannot be written${col.write ? ' with this key (it lacks "intel:write")' : ''}`);
    const type = String(req.headers['content-type'] ?? '').toLowerCase();
    if (!type.startsWith('application/taxii+json')) throw new TaxiiError(415, 'Unsupported Media Type', `send ${TAXII_MEDIA_TYPE}`);
    const objects = (req.body as { objects?: unknown } | null)?.objects;
    if (!Array.isArray(objects)) throw new TaxiiError(400, 'Bad Request', 'expected a TAXII envelope: {"objects": [...]}');
    // The partner is who the key says, not what the objects claim.
    const partner = partnerName(c.who);
    // With its signing key pinned, only what it signed: a holder of its API key (or of the sharing
    // key) cannot make indicators in its name. Refused objects are failures of the status, with why.
    const pinned = partners.publicKeysFor(partner);
    const { kept, refused } = await checkSigned(objects, pinned);
    if (refused.length) say(`intel inbox ${partner}: ${refused.length} of ${objects.length} objects refused, their signature does not check against the pinned key (first: ${oneLine(`${refused[0].id.slice(0, 200)}: ${refused[0].reason}`)})`);
    if (!pinned.length && objects.length && !warnedUnpinned.has(partner)) {
      warnedUnpinned.add(partner);
      say(`intel inbox ${partner}: WARNING no public key is pinned (cases.partners[].public_key): its posts are taken without checking who signed them; pin the partner's key`);
    }
    let result;
    try {
      result = await takeIn({ store: opts.store, intel: opts.intel, sharingKey, keysFor: (source) => partners.keysFor(source), maxPerSource: opts.maxPerSource, maxValidDays: opts.maxValidDays }, { type: 'bundle', objects: kept }, { level: opts.importLevel, source: partner });
    } catch (err) {
      if (err instanceof StixError) throw new TaxiiError(400, 'Bad Request', err.message);
      throw err;
    }
    const skipped = new Map([...refused, ...result.skipped].map((s) => [s.id, s.reason]));
    const successes: object[] = [];
    const failures: object[] = [];
    for (const item of objects as unknown[]) {
      // Only STIX objects (a type and an id) can be taken in; anything else is listed as a failure.
      if (typeof item !== 'object' || item === null || Array.isArray(item)) { failures.push({ id: '(no id)', message: 'not a STIX object' }); continue; }
      const o = item as Record<string, unknown>;
      if (typeof o.id !== 'string' || typeof o.type !== 'string') {
        failures.push({ id: typeof o.id === 'string' ? o.id.slice(0, 200) : '(no id)', message: 'a STIX object needs a string "type" and "id"' });
        continue;
      }
      const id = o.id;
      const version = typeof o.modified === 'string' ? o.modified : undefined;
      if (skipped.has(id)) failures.push({ id, ...(version ? { version } : {}), message: skipped.get(id) });
      else successes.push({ id, ...(version ? { version } : {}) });
    }
    const status = {
      id: randomUUID(), status: 'complete', request_timestamp: taxiiTime(Date.now() * 1000),
      total_count: objects.length, success_count: successes.length, successes, failure_count: failures.length, failures, pending_count: 0, pendings: [],
    };
    statuses.set(status.id, { account: c.who.account.id, status });
    if (statuses.size > STATUSES_KEPT) statuses.delete(statuses.keys().next().value!);
    // Nothing taken in: TAXII's 422 (an error message, the status in its details), so that a
    // sender that only reads the HTTP status does not take a refused post for accepted. Partial
    // success stays a 202 whose status lists the failures.
    if (objects.length && !successes.length) {
      const first = failures[0] as { id: string; message: string };
      throw new TaxiiError(422, 'Unprocessable Entity', `none of the ${objects.length} objects was taken in (first: ${oneLine(`${first.id.slice(0, 200)}: ${first.message}`)}); the status ${status.id} lists each with the reason`, {}, { status });
    }
    return send(reply, 202, status);
  };
  app.post('/intel/collections/:id/objects/', post);
  app.post('/intel/collections/:id/objects', post);
}
