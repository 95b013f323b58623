/**
 * TAXII 2.1 feeds: partners' collections this provider polls (`cases.feeds`). Each poll asks for
 * what was added after the last poll (the cursor, from the server's X-TAXII-Date-Added-Last),
 * follows `more`/`next` page by page, and takes the indicators in (stored, then matched) under the
 * feed's name as source; revocations remove them. The cursor and the outcome of the last poll are
 * stored, so a restart asks only for what is new, and operators see a feed that stopped working.
 */
import type { VerdictLevel } from '../detect/index.ts';
import { takeIn, type Intake } from './publish.ts';
import { TAXII_MEDIA_TYPE } from './taxii.ts';
import { checkSigned, type IntelPublicKey } from './signing.ts';

export interface FeedSpec {
  name: string;
  /** The collection's URL, e.g. https://partner.example/taxii2/intel/collections/<id>/ */
  url: string;
  /** The API key the partner issued (Bearer; with `username`, HTTP Basic). */
  token: string | null;
  username?: string;
  level: VerdictLevel;
  everyMs: number;
  timeoutMs: number;
  /**
   * The partner's public key (`cases.feeds[].public_key`, else its partner's): every object must
   * carry its good signature, or it is refused with the reason. A list: by any of them (a partner
   * rotating its key). Null or empty: objects are taken unsigned (a warning says so).
   */
  publicKey?: IntelPublicKey | readonly IntelPublicKey[] | null;
}

export interface FeedState {
  name: string;
  url: string;
  /** `added_after` of the next poll (the server's own timestamp). */
  cursor: string | null;
  last_poll_at: string | null;
  last_ok_at: string | null;
  last_error: string | null;
  polls: number;
  imported: number;
  revoked: number;
  skipped: number;
  /** Of the skipped: objects refused for a missing or bad signature (a pinned key). */
  refused?: number;
  /** The ids of the signing keys pinned for it now (its own public_key, else its partner's): empty, taken unsigned. Not stored. */
  pinned_keys?: string[];
}

/** Pages read in one poll at most (a partner's backlog is read over several polls). */
const MAX_PAGES = 50;
/** Largest page read, bytes. */
const MAX_PAGE_BYTES = 32 * 1024 * 1024;
const FEED_RECORD = 'feed';

async function readCapped(res: Response, max: number): Promise<string> {
  const declared = Number(res.headers.get('content-length'));
  if (declared > max) throw new Error(`page of ${declared} bytes is over the ${max}-byte limit`);
  const reader = res.body!.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > max) { await reader.cancel(); throw new Error(`page over the ${max}-byte limit`); }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Text from a partner's server, its control characters (line breaks, escapes) made spaces. */
function oneLine(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ').trim();
}

export class FeedPoller {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly running = new Map<string, Promise<FeedState>>();
  private stopped = false;
  /** Feeds already warned about for having no pinned key (once per start). */
  private readonly warnedUnpinned = new Set<string>();
  /** Each feed's pinned signing keys, by name: replaced whole when the configuration is reloaded (setPins). */
  private pins: ReadonlyMap<string, readonly IntelPublicKey[]>;

  constructor(
    private readonly intake: Intake,
    private readonly feeds: readonly FeedSpec[],
    private readonly say: (line: string) => void,
    /** After each poll, with whether the poll before it had failed. */
    private readonly onPolled?: (state: FeedState, wasFailing: boolean) => void,
  ) {
    this.pins = new Map(feeds.map((f) => [f.name, asList(f.publicKey)]));
  }

  /** The signing keys pinned for a feed now (empty: none). */
  pinsOf(name: string): readonly IntelPublicKey[] { return this.pins.get(name) ?? []; }

  /**
   * Pin other signing keys (a configuration reloaded): feeds named get the keys given, the others
   * keep theirs. One swap: a poll under way finishes with the keys it started with, the next uses these.
   */
  setPins(pins: ReadonlyMap<string, readonly IntelPublicKey[]>): void {
    const next = new Map(this.pins);
    for (const [name, keys] of pins) if (next.has(name)) next.set(name, keys);
    this.pins = next;
  }

  names(): string[] { return this.feeds.map((f) => f.name); }

  /** Poll each feed shortly after start, then every `everyMs`. */
  start(firstAfterMs = 1000): void {
    for (const f of this.feeds) this.schedule(f, firstAfterMs);
  }

  stop(): Promise<unknown> {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
    return Promise.allSettled([...this.running.values()]);
  }

  async states(): Promise<FeedState[]> {
    return Promise.all(this.feeds.map(async (f) => ({ ...await this.state(f), pinned_keys: this.pinsOf(f.name).map((k) => k.keyId) })));
  }

  /**
   * Poll one feed now (a poll already running is joined, not repeated). Null: no such feed.
   * `fromStart`: read the whole collection again, not only what was added after the cursor (after
   * an import the operator undid, or a partner that re-published); a poll running is waited for first.
   */
  pull(name: string, opts: { fromStart?: boolean } = {}): Promise<FeedState> | null {
    const f = this.feeds.find((x) => x.name === name);
    if (!f) return null;
    let p = this.running.get(name);
    if (p && opts.fromStart) {
      const again: Promise<FeedState> = p.catch(() => null).then(() => this.poll(f, true)).finally(() => { if (this.running.get(name) === again) this.running.delete(name); });
      this.running.set(name, again);
      return again;
    }
    if (!p) {
      const started: Promise<FeedState> = this.poll(f, opts.fromStart === true).finally(() => { if (this.running.get(name) === started) this.running.delete(name); });
      p = started;
      this.running.set(name, p);
    }
    return p;
  }

  private schedule(f: FeedSpec, ms: number): void {
    if (this.stopped) return;
    const t = setTimeout(() => {
      // A poll that could not even be recorded (the store down) is said, and the next one comes as planned.
      this.pull(f.name)!.catch((err: Error) => this.say(`intel feed ${f.name}: ${err.message}`)).finally(() => this.schedule(f, f.everyMs));
    }, ms);
    t.unref();
    this.timers.set(f.name, t);
  }

  private async state(f: FeedSpec): Promise<FeedState> {
    const stored = await this.intake.store.getRecord<FeedState>(FEED_RECORD, f.name);
    // A feed pointed at another collection starts again from the beginning.
    if (stored && stored.url === f.url) return stored;
    return { name: f.name, url: f.url, cursor: null, last_poll_at: null, last_ok_at: null, last_error: null, polls: 0, imported: 0, revoked: 0, skipped: 0, refused: 0 };
  }

  private async poll(f: FeedSpec, fromStart = false): Promise<FeedState> {
    const s = await this.state(f);
    if (fromStart) s.cursor = null;
    const wasFailing = !!s.last_error;
    s.last_poll_at = new Date().toISOString();
    s.polls++;
    // The keys pinned when the poll starts, for all its pages (a reload applies from the next poll).
    const pinned = this.pinsOf(f.name);
    try {
      if (!f.token) throw new Error('no token: set the feed\'s token (env:NAME reads the environment)');
      const auth = f.username ? `Basic ${Buffer.from(`${f.username}:${f.token}`).toString('base64')}` : `Bearer ${f.token}`;
      const base = f.url.endsWith('/') ? f.url : `${f.url}/`;
      // Pages by `next` repeat the first page's query as it was; without `next`, by the last timestamp seen.
      let next: string | null = null;
      let after = s.cursor;
      // Objects refused for their signature: the poll is not a good one (the last error says why).
      let refusal: string | null = null;
      for (let pageNo = 0; pageNo < MAX_PAGES; pageNo++) {
        const url = new URL('objects/', base);
        if (after) url.searchParams.set('added_after', after);
        if (next) url.searchParams.set('next', next);
        const res = await fetch(url, { headers: { accept: TAXII_MEDIA_TYPE, authorization: auth }, signal: AbortSignal.timeout(f.timeoutMs), redirect: 'error' });
        const text = await readCapped(res, MAX_PAGE_BYTES);
        if (res.status !== 200) {
          let why = text.slice(0, 300);
          try { const e = JSON.parse(text); why = [e.title, e.description].filter(Boolean).join(': ') || why; } catch { /* not TAXII JSON */ }
          // The partner's words go to the log and to notifications: one line, no terminal escapes.
          throw new Error(`${url.origin}${url.pathname} answered ${res.status}: ${oneLine(why)}`);
        }
        let env: { more?: unknown; next?: unknown; objects?: unknown };
        try { env = JSON.parse(text); } catch { throw new Error(`${url.origin}${url.pathname}: the answer is not JSON`); }
        const served = Array.isArray(env.objects) ? env.objects : [];
        // Only what the partner signed, when its key is pinned: a holder of the sharing key (or of
        // the path to this server) cannot make indicators in its name.
        const { kept: objects, refused } = await checkSigned(served, pinned);
        if (refused.length) {
          s.skipped += refused.length;
          s.refused = (s.refused ?? 0) + refused.length;
          refusal = `${refused.length} of ${served.length} objects refused, their signature does not check against the pinned key (first: ${refused[0].id}: ${oneLine(refused[0].reason)})`;
          this.say(`intel feed ${f.name}: ${refusal}`);
        }
        if (served.length && !pinned.length && !this.warnedUnpinned.has(f.name)) {
          this.warnedUnpinned.add(f.name);
          this.say(`intel feed ${f.name}: WARNING no public key is pinned (cases.feeds[].public_key): its objects are taken without checking who signed them; pin the partner's key`);
        }
        if (objects.length) {
          const r = await takeIn(this.intake, { type: 'bundle', objects }, { level: f.level, source: f.name });
          s.imported += r.indicators.length;
          s.revoked += r.removed;
          s.skipped += r.skipped.length;
          if (r.skipped.length) this.say(`intel feed ${f.name}: ${r.skipped.length} indicators skipped (first: ${r.skipped[0].id}: ${r.skipped[0].reason})`);
        }
        const last = res.headers.get('x-taxii-date-added-last');
        if (last) s.cursor = last;
        if (env.more !== true) break;
        if (typeof env.next === 'string' && env.next) next = env.next;
        else if (last) { after = last; next = null; } else break;
      }
      if (refusal) s.last_error = refusal;
      else {
        s.last_ok_at = new Date().toISOString();
        s.last_error = null;
      }
    } catch (err) {
      const e = err as Error;
      s.last_error = e.name === 'TimeoutError' ? `no answer within ${f.timeoutMs} ms` : e.message;
      this.say(`intel feed ${f.name}: ${s.last_error}`);
    }
    await this.intake.store.putRecord(FEED_RECORD, f.name, s);
    this.onPolled?.(s, wasFailing);
    return s;
  }
}

function asList(pin: IntelPublicKey | readonly IntelPublicKey[] | null | undefined): readonly IntelPublicKey[] {
  return pin ? (Array.isArray(pin) ? pin : [pin as IntelPublicKey]) : [];
}
