/**
 * One detector for several gateway nodes, through Redis (`detect.mode`). Replica nodes run no
 * engine: their record phase appends each finished interaction to a Redis stream
 * (`streamEventsHooks`), and they enforce the verdicts the worker published (`RedisVerdictView`,
 * an in-memory map kept current from a Redis hash and channel). The worker node runs the engine
 * on its own traffic and on the stream (`consumeEventStream`), and publishes what changed
 * (`VerdictPublisher`). Redis is a transport here, never on the request path: a replica answers
 * verdict lookups from memory, and appends events in the background.
 *
 * Keys (prefix `detect.shared.key_prefix`, default `warden:detect:`):
 *   events       stream of event batches (field `b`: JSON array; `t`: when the replica first tried
 *                to append it, ms), capped at about STREAM_MAX entries;
 *                an entry rewritten by a deletion request is a new entry with field `r`, the id it replaces
 *   events:sent:NODE  number of the last batch replica NODE appended (a resend of it is not appended twice)
 *   accounts     hash: account id -> SharedAccountVerdict JSON (a verdict above none, or linked)
 *   clusters     hash: cluster id -> Verdict JSON (verdicts accounts take from their cluster)
 *   epoch        id of the worker's latest full publication (a new one each time it writes everything)
 *   seq          number of the latest published change
 *   changes      channel: {epoch, seq, accounts: {id: entry|null}, clusters: {id: verdict|null}}, or {epoch, seq, reload: true}
 *   worker       the worker's lease (one worker per deployment)
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { createRequire } from 'node:module';
import type { Redis } from 'ioredis';
import { urlForLog } from '../config/index.ts';
import type { GatewayHooks } from '../gateway/lifecycle.ts';
import { OutageLog, redisFailure, shorterOutages } from '../gateway/outage-log.ts';
import { erasePersonalData, type InteractionEvent } from '../events/index.ts';
import type { DetectorEngine, SharedAccountVerdict } from './engine.ts';
import type { Verdict, VerdictLevel, VerdictView } from './verdict.ts';

/** ioredis, loaded when a Redis is first connected: a node with none configured never pays for it. */
const requireCjs = createRequire(import.meta.url);
const ioredis = () => requireCjs('ioredis') as typeof import('ioredis');

/**
 * Stream entries kept (each a batch of up to BATCH_EVENTS events): the worker reads them within
 * moments, so this only bounds Redis memory if it stops (2,000 entries: two minutes of full
 * batches at 1,000 requests/s; the worker rebuilds from the event store when it starts again).
 */
const STREAM_MAX = 2_000;
/** Events per stream entry, and how long a replica holds a partial batch. */
const BATCH_EVENTS = 64;
const BATCH_MS = 50;

/** A detector line to the operator, with its level and stable code (JSON log fields on `warden serve`). */
export type DetectLog = (line: string, meta?: { level: 'debug' | 'info' | 'warn' | 'error'; code: string; fields?: Record<string, unknown> }) => void;

/**
 * How long a stop waits for Redis to take the worker's last publication and lease release, or a
 * replica's held events, ms, unless told otherwise (`server.shutdown_step_timeout_ms`). Redis
 * answers those in milliseconds; one that accepts connections and answers nothing (a black-holed
 * path) would hold the stop for good.
 */
export const STOP_REDIS_WAIT_MS = 5_000;

/**
 * How long a command may wait for its answer on an open connection before Redis counts as
 * unreachable, by default (a replica's event appends; the worker's publications wait as long as
 * its lease lasts, which is 5 s by default too). Redis answers these commands in milliseconds. One
 * that accepts connections and answers nothing (a path that drops packets, a hung Redis) fails no
 * command and closes no connection, and the kernel may keep such a connection open for a quarter
 * of an hour: without this, nothing would be said or counted meanwhile.
 */
export const STALL_MS = 5_000;

/** A command Redis has not answered for `ms` on a connection still open, sent at `sinceMs`. */
export class RedisStalled extends Error {
  constructor(readonly ms: number, readonly sinceMs: number) {
    super(`no answer from Redis within ${ms} ms on an open connection (the network between dropping packets, or Redis hung)`);
    this.name = 'RedisStalled';
  }
}

/** When an outage began: a stalled command's sending, else now (undefined). */
const stalledSince = (err: unknown): number | undefined => (err instanceof RedisStalled ? err.sinceMs : undefined);

/** Whether `work` settled within `ms` (it goes on regardless; its failure is its own to report). */
async function settlesWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => { timer = setTimeout(() => resolve(false), ms); });
  try {
    return await Promise.race([work.then(() => true, () => true), late]);
  } finally {
    clearTimeout(timer);
  }
}

export interface SharedKeys { events: string; accounts: string; clusters: string; epoch: string; seq: string; changes: string; worker: string }
export function sharedKeys(prefix: string): SharedKeys {
  return { events: `${prefix}events`, accounts: `${prefix}accounts`, clusters: `${prefix}clusters`, epoch: `${prefix}epoch`, seq: `${prefix}seq`, changes: `${prefix}changes`, worker: `${prefix}worker` };
}

/** A Redis connection for sharing: commands fail at once while disconnected (callers count and go on), reconnection is endless. */
export function sharedRedis(url: string): Redis {
  const client = new (ioredis().Redis)(url, { enableOfflineQueue: false, maxRetriesPerRequest: 0, connectTimeout: 1000, retryStrategy: (n) => Math.min(50 * n, 1000) });
  client.on('error', () => { /* reconnecting; failures are counted where commands fail */ });
  return client;
}

/** Wait until a client is connected (or throw after `timeoutMs`). */
export async function redisReady(client: Redis, timeoutMs = 3000): Promise<void> {
  if (client.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { client.off('ready', ok); reject(new Error(`redis not ready after ${timeoutMs} ms`)); }, timeoutMs);
    const ok = () => { clearTimeout(timer); resolve(); };
    client.once('ready', ok);
  });
}

// ---------------------------------------------------------------- replica: events out

export interface StreamEventsHooks extends GatewayHooks {
  onEvent(event: InteractionEvent): void;
  /** `backlog`: events held for Redis to take them (an outage); `dropped`: given up (over the backlog's bounds). */
  stats(): { sent: number; dropped: number; backlog: number };
  close(): Promise<void>;
}

/**
 * What a replica holds for the stream while Redis does not take events, by default
 * (`detect.shared.backlog_events`, `backlog_mib`): up to this many events or this many characters
 * of their JSON (prompts included), whichever comes first; past either the oldest batches are
 * dropped (counted; the event store still has them). BACKLOG_BATCHES stays below STREAM_MAX so
 * that a backlog sent at once is not trimmed before the worker reads it.
 */
const BACKLOG_EVENTS = 50_000;
const BACKLOG_CHARS = 64 * 1024 * 1024;
const BACKLOG_BATCHES = STREAM_MAX / 2;
/** How long Redis remembers the last batch a replica appended (its resends of it are skipped meanwhile). */
const SENT_MARK_MS = 24 * 3_600_000;
/** A batch Redis did not take is tried again this often (and at once when the connection is back). */
const RESEND_MS = 250;

/**
 * Append a replica's batch unless it is there already: KEYS events stream, the replica's mark;
 * ARGV batch number, STREAM_MAX, events JSON, first attempt (ms), mark lifetime (ms). A send that
 * failed without an answer may have been appended: sent again, it is recognised by its number
 * (each replica appends its batches one at a time, in order) and not appended twice.
 */
const APPEND_ONCE_LUA = `
local last = tonumber(redis.call('GET', KEYS[2]) or '0')
if tonumber(ARGV[1]) <= last then return 0 end
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'b', ARGV[3], 't', ARGV[4])
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[5])
return 1
`;

/**
 * Record-phase hooks of a replica: append each finished interaction to the shared stream, in
 * batches off the request path, one batch at a time and in order. A batch Redis does not take is
 * kept and sent again once it does (within the backlog's bounds), so the worker catches up on the
 * events of an outage without a restart, each event once. The outage is logged once when it
 * starts and once when Redis takes events again (damped when Redis flaps).
 */
export function streamEventsHooks(client: Redis, keys: SharedKeys, opts: { log?: DetectLog; backlogEvents?: number; backlogChars?: number; stopWaitMs?: number; stallMs?: number } = {}): StreamEventsHooks {
  const stopWaitMs = opts.stopWaitMs ?? STOP_REDIS_WAIT_MS;
  const stallMs = opts.stallMs ?? STALL_MS;
  const backlogEvents = opts.backlogEvents ?? BACKLOG_EVENTS;
  const backlogChars = opts.backlogChars ?? BACKLOG_CHARS;
  let batch: InteractionEvent[] = [];
  let timer: NodeJS.Timeout | null = null;
  let soon: NodeJS.Immediate | null = null;
  let retry: NodeJS.Timeout | null = null;
  let sent = 0; let dropped = 0;
  let seq = 0;
  // Batches sealed and not yet taken by Redis, oldest first; `held`: their events and characters.
  const queue: { seq: number; json: string; n: number; firstTry: number }[] = [];
  const held = { events: 0, chars: 0 };
  let sending: Promise<void> | null = null;
  let closed = false;
  const mark = `${keys.events}:sent:${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  const log = opts.log ?? (() => {});
  const outages = new OutageLog<{ dropped: number; events: number; since: number }>();
  // Sent by its hash once Redis knows the script (ioredis loads it on the first NOSCRIPT).
  if (!('wardenDetectAppend' in client)) client.defineCommand('wardenDetectAppend', { numberOfKeys: 2, lua: APPEND_ONCE_LUA });
  const scripted = client as unknown as { wardenDetectAppend(...args: (string | number)[]): Promise<number> };
  const append = (b: { seq: number; json: string; firstTry: number }) =>
    scripted.wardenDetectAppend(keys.events, mark, b.seq, STREAM_MAX, b.json, b.firstTry, SENT_MARK_MS);
  const unavailable = (err: unknown): void => {
    const since = stalledSince(err) ?? Date.now();
    outages.failed(() => ({ dropped, events: held.events, since }), (o, flaps) => {
      // What it means for the operator; the client's own words (ioredis internals) only at debug.
      const since = new Date(o.since).toISOString();
      log(`detect: Redis unreachable from this replica since ${since} (${redisFailure(err)}): the detector worker's verdicts (operator decisions included) are not received meanwhile, this node enforces the ones it last received; its events are held here for the worker (up to ${backlogEvents} events, warden_detect_stream_backlog_events) and sent when Redis is back; past that the oldest are dropped (warden_detect_stream_dropped_total; they are in the event store)${shorterOutages(flaps)}`, { level: 'warn', code: 'DETECT_STREAM_UNAVAILABLE', fields: { since } });
      log(`detect: the Redis client's error on appending events: ${err instanceof Error ? err.message : String(err)}`, { level: 'debug', code: 'DETECT_STREAM_UNAVAILABLE', fields: { since, error: err instanceof Error ? err.message : String(err) } });
    }, false, stalledSince(err));
  };
  const pump = (): void => {
    if (sending || queue.length === 0) return;
    const b = queue[0]!;
    // An append unanswered on an open connection (a stalled Redis) fails nothing: the outage is
    // said once it has waited stallMs, and the append is still waited for (its answer ends it; a
    // closed connection fails it, and it is sent again: the batch number keeps it from counting twice).
    const sentAt = Date.now();
    const stalled = setTimeout(() => unavailable(new RedisStalled(stallMs, sentAt)), stallMs);
    stalled.unref();
    sending = append(b).then(() => {
      queue.shift();
      held.events -= b.n; held.chars -= b.json.length;
      sent += b.n;
      outages.answered((o, seconds) => log(`detect: Redis takes events again after ${seconds.toFixed(1)} s; the events held meanwhile are being sent to the detector worker (${held.events} still to send)${dropped > o.dropped ? `; ${dropped - o.dropped} older ones were dropped past the backlog's bounds (they are in the event store: the worker reads them when it next replays it)` : ''}`, { level: 'info', code: 'DETECT_STREAM_RECOVERED' }));
    }, (err: unknown) => {
      unavailable(err);
      if (!retry && !closed) { retry = setTimeout(() => { retry = null; pump(); }, RESEND_MS); retry.unref(); }
    }).finally(() => {
      clearTimeout(stalled);
      sending = null;
      if (!outages.current) pump();
    });
  };
  // The connection is back: what waits goes now rather than at the next retry.
  client.on('ready', () => pump());
  const seal = () => {
    if (timer) { clearTimeout(timer); timer = null; }
    if (soon) { clearImmediate(soon); soon = null; }
    if (batch.length === 0) return;
    const events = batch;
    batch = [];
    const json = JSON.stringify(events);
    queue.push({ seq: ++seq, json, n: events.length, firstTry: Date.now() });
    held.events += events.length; held.chars += json.length;
    // Bounded: a long outage drops the oldest (never the one being sent, whose fate is unknown).
    while (queue.length > 1 && (held.events > backlogEvents || held.chars > backlogChars || queue.length > BACKLOG_BATCHES)) {
      const old = queue.splice(sending ? 1 : 0, 1)[0]!;
      held.events -= old.n; held.chars -= old.json.length;
      dropped += old.n;
    }
    pump();
  };
  return {
    name: 'detect-stream',
    onEvent(event: InteractionEvent): void {
      if (!event.account_id) return;
      batch.push(event);
      // Serialised on a later turn: onEvent stays constant time.
      if (batch.length >= BATCH_EVENTS) { if (!soon) soon = setImmediate(seal); }
      else if (!timer) { timer = setTimeout(seal, BATCH_MS); timer.unref(); }
    },
    stats: () => ({ sent, dropped, backlog: held.events }),
    /** Send what is held while Redis takes it, then disconnect (the hooks own the client they were given). */
    async close(): Promise<void> {
      seal();
      closed = true;
      if (retry) { clearTimeout(retry); retry = null; }
      const sendAll = (async () => {
        while (sending) {
          await sending;
          if (outages.current) break;
        }
      })();
      if (!await settlesWithin(sendAll, stopWaitMs)) {
        log(`detect: stopping: Redis did not take this node's held events within ${stopWaitMs} ms; ${held.events} events not sent to the detector worker (they are in the event store: the worker reads them when it next replays it)`,
          { level: 'warn', code: 'STOP_STEP_GAVE_UP', fields: { step: 'detect stream: send held events', waited_ms: stopWaitMs, not_saved: `${held.events} events not streamed to the detector worker` } });
      } else if (held.events > 0) {
        log(`detect: stopping with Redis unreachable: ${held.events} events not sent to the detector worker (they are in the event store: the worker reads them when it next replays it)`, { level: 'warn', code: 'DETECT_STREAM_UNAVAILABLE' });
      }
      // Not taken by Redis before the node stops: dropped (the event store has them).
      dropped += held.events;
      queue.length = 0; held.events = 0; held.chars = 0;
      client.disconnect();
    },
  };
}

// ---------------------------------------------------------------- worker: events in

/** Whether the worker has this event already; `firstTry`: when its replica first tried to append it (ms), null if unknown. */
export type StreamSkip = (ev: InteractionEvent, firstTry: number | null) => boolean;

export interface StreamConsumer {
  stats(): { read: number; lastId: string; readErrors: number };
  close(): Promise<void>;
}

/**
 * Feed `ingest` with the events other nodes append to the stream, from `startId` (a stream id;
 * `$`: from now). `skip` drops events already seen another way (the worker's replay of the store
 * overlaps the stream's first entries, and a replica's backlog sent after it); it is given when
 * the replica first tried to append the entry (ms; null from a replica that predates it). Uses its
 * own connection: XREAD blocks it.
 */
export function consumeEventStream(url: string, keys: SharedKeys, ingest: (events: InteractionEvent[]) => void, opts: { startId: string; skip?: StreamSkip; blockMs?: number; stallMs?: number; onReadError?: (err: unknown) => void; onRead?: () => void }): StreamConsumer {
  const blockMs = opts.blockMs ?? 1000;
  const stallMs = opts.stallMs ?? STALL_MS;
  const client = new (ioredis().Redis)(url, { maxRetriesPerRequest: null, retryStrategy: (n) => Math.min(50 * n, 1000) });
  let lastId = opts.startId;
  let read = 0;
  let readErrors = 0;
  let closed = false;
  // Entries read lately, oldest first: a copy a deletion request made of one of them is not read twice.
  const readIds = new Set<string>();
  // Resolves on close: a read waiting in the offline queue while the client reconnects is not
  // flushed by disconnect() (ioredis rejects it only when an open socket closes), so the loop
  // stops waiting for it rather than for a Redis that may never answer.
  let stop!: () => void;
  const stopped = new Promise<null>((resolve) => { stop = () => resolve(null); });
  // A blocked XREAD waits through reconnections (it is queued, not failed): each failed
  // connection attempt is what counts as a failed read.
  client.on('error', (err) => {
    if (closed) return;
    readErrors++;
    opts.onReadError?.(err);
  });
  const loop = (async () => {
    while (!closed) {
      type Entries = Array<[string, Array<[string, string[]]>]>;
      let res: Entries | null;
      // A read unanswered past its block on an open connection (a stalled Redis) fails nothing:
      // it counts as a failed read once per stallMs while it is waited for. It is not sent again
      // meanwhile: a second read from the same id would read its entries twice once Redis answers.
      let stalled: NodeJS.Timeout | undefined;
      const sentAt = Date.now();
      const watch = (ms: number) => {
        stalled = setTimeout(() => {
          if (closed) return;
          readErrors++;
          opts.onReadError?.(new RedisStalled(blockMs + stallMs, sentAt + blockMs));
          watch(stallMs);
        }, ms);
        stalled.unref();
      };
      try {
        const reading = client.xread('COUNT', 100, 'BLOCK', blockMs, 'STREAMS', keys.events, lastId) as Promise<Entries | null>;
        watch(blockMs + stallMs);
        res = await Promise.race([reading, stopped]);
        if (closed) { reading.catch(() => {}); break; }
      } catch (err) {
        if (closed) break;
        readErrors++;
        opts.onReadError?.(err);
        await new Promise((r) => setTimeout(r, 250));
        continue;
      } finally {
        clearTimeout(stalled);
      }
      opts.onRead?.();
      for (const [, entries] of res ?? []) {
        for (const [id, fields] of entries) {
          lastId = id;
          const replaces = fields.indexOf('r');
          if (replaces >= 0 && readIds.has(fields[replaces + 1])) continue;
          // Reading a copy counts as reading the entry it replaces (a later copy of it is skipped).
          for (const read of replaces >= 0 ? [id, fields[replaces + 1]] : [id]) readIds.add(read);
          while (readIds.size > READ_IDS_KEPT) readIds.delete(readIds.values().next().value!);
          const at = fields.indexOf('b');
          if (at < 0 || at + 1 >= fields.length) continue;
          let events: InteractionEvent[];
          try { events = JSON.parse(fields[at + 1]) as InteractionEvent[]; } catch { continue; }
          const t = fields.indexOf('t');
          const firstTry = t >= 0 ? Number(fields[t + 1]) : null;
          const kept = opts.skip ? events.filter((ev) => !opts.skip!(ev, firstTry)) : events;
          read += kept.length;
          ingest(kept);
        }
      }
    }
  })();
  return {
    stats: () => ({ read, lastId, readErrors }),
    async close() {
      closed = true;
      stop();
      client.disconnect();
      await loop;
    },
  };
}

/** Stream entries a consumer remembers having read: more than the stream keeps (STREAM_MAX, trimmed approximately). */
const READ_IDS_KEPT = 4 * STREAM_MAX;

/**
 * A deletion request: every entry of the stream holding an event of the account is replaced, in
 * one transaction each, by a copy with those events' personal data erased (erasePersonalData; the
 * other accounts' events unchanged) added at the stream's end, naming the entry it replaces (`r`).
 * A consumer that has not read the original reads the copy; one that has skips it. Entries are
 * read in pages, so a long stream is not held in memory. Returns the entries and events rewritten.
 */
export async function eraseAccountFromStream(client: Redis, keys: SharedKeys, accountId: string, at = new Date().toISOString()): Promise<{ entries: number; events: number }> {
  const end = await latestStreamId(client, keys);
  let entries = 0; let events = 0;
  if (end === '0-0') return { entries, events };
  let from = '-';
  for (;;) {
    const page = await client.xrange(keys.events, from, end, 'COUNT', 200);
    for (const [id, fields] of page) {
      const b = fields.indexOf('b');
      if (b < 0 || !fields[b + 1]?.includes(accountId)) continue;
      let batch: InteractionEvent[];
      try { batch = JSON.parse(fields[b + 1]) as InteractionEvent[]; } catch { continue; }
      const mine = batch.filter((ev) => ev.account_id === accountId && !ev.erased_at).length;
      if (!mine) continue;
      const redacted = batch.map((ev) => (ev.account_id === accountId ? erasePersonalData(ev, at) : ev));
      const replaces = fields.indexOf('r') >= 0 ? fields[fields.indexOf('r') + 1] : id;
      // The copy keeps when its batch was first tried (a worker's skip reads it).
      const t = fields.indexOf('t');
      const firstTry = t >= 0 ? ['t', fields[t + 1]!] : [];
      // The copy names the first entry: a consumer that read that one skips every copy of it.
      const done = await client.multi().xdel(keys.events, id).xadd(keys.events, 'MAXLEN', '~', STREAM_MAX, '*', 'b', JSON.stringify(redacted), 'r', replaces, ...firstTry).exec();
      const failed = done?.find(([err]) => err);
      if (failed) throw failed[0]!;
      entries++; events += mine;
    }
    if (page.length < 200) break;
    from = `(${page.at(-1)![0]}`;
  }
  return { entries, events };
}

// ---------------------------------------------------------------- worker: verdicts out

/**
 * A message on the channel: a change (entries set, or null when removed), or `reload` when the
 * worker wrote everything again. `epoch` names the worker's latest full publication and `seq`
 * numbers the changes: a replica applies a change only on top of the one before it in the same
 * epoch, and otherwise reloads the hashes (the sequence number starts again when Redis loses its
 * data; a new epoch tells that apart from an old message).
 */
interface Change {
  /** Absent from the messages of a worker that predates epochs. */
  epoch?: string | null;
  seq: number;
  accounts: Record<string, SharedAccountVerdict | null>;
  clusters: Record<string, Verdict | null>;
  reload?: boolean;
}

/**
 * Publish the engine's effective verdicts: each call diffs them against what was published last
 * and writes the difference (hash fields set and removed, the sequence number, one channel
 * message) in one transaction. An unchanged state writes nothing, but reads the epoch back. The
 * first call replaces whatever an earlier worker left, under a new epoch; so does the first after
 * a reconnection, after `republishAll()`, or after finding that Redis no longer holds this
 * worker's epoch (its data lost or flushed, another worker published meanwhile).
 */
export class VerdictPublisher {
  // What was published last. The engine keeps a verdict object until it rebuilds its explanation,
  // so an unchanged entry is recognised by reference, without serialising it again.
  private accounts = new Map<string, SharedAccountVerdict>();
  private clusters = new Map<string, Verdict>();
  private first = true;
  private epoch: string | null = null;
  published = 0;
  failures = 0;

  constructor(private readonly client: Redis, private readonly keys: SharedKeys, private readonly engine: DetectorEngine) {
    // Connected again: Redis may have restarted empty, so the next publication writes everything.
    client.on('ready', () => { this.first = true; });
  }

  /** Write everything at the next publication (Redis may no longer hold what was published). */
  republishAll(): void { this.first = true; }

  /** Publish what changed since the last publication; returns the number of entries changed. */
  async publish(): Promise<number> {
    const now = this.engine.effectiveVerdicts();
    const full = this.first;
    const epoch = full ? randomBytes(6).toString('hex') : this.epoch;
    const setA: string[] = []; const delA: string[] = [];
    const setC: string[] = []; const delC: string[] = [];
    const change: Change = { epoch, seq: 0, accounts: {}, clusters: {} };
    for (const [id, v] of now.accounts) {
      const was = this.accounts.get(id);
      if (!full && was && was.level === v.level && was.clusterId === v.clusterId && was.fromCluster === v.fromCluster && was.verdict === v.verdict && was.orgCluster === v.orgCluster) continue;
      setA.push(id, JSON.stringify(v));
      change.accounts[id] = v;
    }
    for (const id of this.accounts.keys()) if (!now.accounts.has(id)) { delA.push(id); change.accounts[id] = null; }
    for (const [id, v] of now.clusters) {
      if (!full && this.clusters.get(id) === v) continue;
      setC.push(id, JSON.stringify(v));
      change.clusters[id] = v;
    }
    for (const id of this.clusters.keys()) if (!now.clusters.has(id)) { delC.push(id); change.clusters[id] = null; }
    const n = setA.length / 2 + delA.length + setC.length / 2 + delC.length;
    if (n === 0 && !full) {
      // Nothing changed here, but Redis may have lost what was published (flushed, or restarted
      // empty on a connection that did not drop): replicas starting now would find nothing to
      // enforce until some verdict changed. One GET per publication tells.
      let held: string | null;
      try { held = await this.client.get(this.keys.epoch); } catch { this.failures++; return 0; }
      if (held === epoch) return 0;
      this.first = true;
      return this.publish();
    }
    const tx = this.client.multi();
    // A fresh start replaces whatever an earlier worker left; a change checks that Redis still holds this epoch.
    if (full) tx.del(this.keys.accounts, this.keys.clusters).set(this.keys.epoch, epoch!);
    else tx.get(this.keys.epoch);
    if (setA.length) tx.hset(this.keys.accounts, ...setA);
    if (delA.length && !full) tx.hdel(this.keys.accounts, ...delA);
    if (setC.length) tx.hset(this.keys.clusters, ...setC);
    if (delC.length && !full) tx.hdel(this.keys.clusters, ...delC);
    tx.incr(this.keys.seq);
    let lost = false;
    try {
      const res = await tx.exec();
      if (!res || res.some(([err]) => err)) throw new Error('transaction failed');
      if (!full && res[0][1] !== epoch) {
        // Redis lost what was published without this connection noticing (flushed, failed over):
        // what it holds now is this change alone, so write everything again at once.
        lost = true;
      } else {
        change.seq = Number(res[res.length - 1][1]);
        // A replica that sees a gap in the sequence reloads the hashes: the message is an optimisation.
        await this.client.publish(this.keys.changes, full ? JSON.stringify({ epoch, seq: change.seq, reload: true }) : JSON.stringify(change));
      }
    } catch {
      this.failures++;
      return 0; // nothing recorded as published: the next call diffs against the last published state again
    }
    if (lost) {
      this.first = true;
      return this.publish();
    }
    this.accounts = now.accounts;
    this.clusters = now.clusters;
    this.first = false;
    this.epoch = epoch;
    this.published++;
    return n;
  }
}

// ---------------------------------------------------------------- replica: verdicts in

/** How soon a replica tries again to load the verdicts after a failed attempt. */
const RELOAD_RETRY_MS = 500;
/** Changes held while the verdicts load (beyond that the oldest go: the sequence then shows a gap, and the hashes are read again). */
const PENDING_MAX = 1_000;

/**
 * The verdict view of a replica: the worker's published verdicts in memory (request path: a map
 * lookup), loaded from the hashes and kept current from the channel. It subscribes on every
 * connection of its subscriber (the first, whenever Redis answers, and each reconnection) and
 * then loads the hashes, since changes may have been missed meanwhile; it loads them again when a
 * change does not follow the one it holds (a missed message, a new epoch, a sequence that went
 * back because Redis lost its data) and when the worker says it wrote everything again. A load
 * that fails is tried again until one succeeds; until then the view enforces what it holds.
 */
export class RedisVerdictView implements VerdictView {
  private accounts = new Map<string, SharedAccountVerdict>();
  private clusters = new Map<string, Verdict>();
  /** The publication held: its epoch and the number of its latest change applied (-1: nothing loaded yet). */
  private epoch: string | null = null;
  private seq = -1;
  /** Why the hashes must be read (again): null when what is held is current. */
  private stale: string | null = null;
  private loading: Promise<boolean> | null = null;
  /** Why to load again once the load under way ends (its read may predate that reason). */
  private loadAgain: string | null = null;
  private retry: NodeJS.Timeout | null = null;
  /** Subscriptions under way (each loads the hashes once it is in place). */
  private subscribing = 0;
  private failing = false;
  /** Say so when the state is loaded: the first load failed or waited past `start`. */
  private announce = false;
  private pending: Change[] = [];
  private readonly sub: Redis;
  private readonly log: DetectLog;
  private started = false;
  private closed = false;
  private onLoaded: Array<() => void> = [];
  reloads = 0;

  constructor(private readonly client: Redis, url: string, private readonly keys: SharedKeys, opts: { log?: DetectLog } = {}) {
    this.log = opts.log ?? (() => {});
    this.sub = new (ioredis().Redis)(url, { maxRetriesPerRequest: null, retryStrategy: (n) => Math.min(50 * n, 1000) });
    this.sub.on('error', () => { /* reconnecting */ });
    this.sub.on('message', (_channel: string, message: string) => this.onMessage(message));
    // Connected (again): changes published meanwhile were not received.
    this.sub.on('ready', () => { if (this.started) void this.subscribeAndLoad(this.seq < 0 ? 'start' : 'reconnecting to Redis'); });
    // The connection the hashes are read through is back: a load that failed on it can go now.
    // Not while a subscription is under way: the load that follows it is the one that counts (a
    // load before it may miss a change published meanwhile), and one load means one line.
    this.client.on('ready', () => { if (this.started && this.stale !== null && !this.loading && this.subscribing === 0) void this.reload(this.stale); });
  }

  /**
   * Subscribe, then load the current state (changes that arrive meanwhile are applied after it).
   * Returns false when the state could not be loaded within `timeoutMs` (Redis unreachable): the
   * view then enforces nothing until it is, and subscribes and loads the state once it is.
   */
  async start(timeoutMs = 3000): Promise<boolean> {
    this.started = true;
    // Not connected yet: the subscriber's 'ready' does it.
    if (this.sub.status === 'ready') void this.subscribeAndLoad('start');
    if (this.seq >= 0) return true;
    return new Promise<boolean>((resolve) => {
      const done = (ok: boolean) => { clearTimeout(timer); this.onLoaded = this.onLoaded.filter((f) => f !== loaded); resolve(ok); };
      const loaded = () => done(true);
      const timer = setTimeout(() => { this.announce = true; done(false); }, timeoutMs);
      this.onLoaded.push(loaded);
    });
  }

  forAccount(accountId: string): { level: VerdictLevel; verdict: Verdict | null; clusterId: string | null; orgCluster?: boolean } {
    const e = this.accounts.get(accountId);
    if (!e) return { level: 'none', verdict: null, clusterId: null };
    const verdict = e.fromCluster ? (e.clusterId ? this.clusters.get(e.clusterId) ?? null : null) : e.verdict;
    return e.orgCluster === true ? { level: e.level, verdict, clusterId: e.clusterId, orgCluster: true } : { level: e.level, verdict, clusterId: e.clusterId };
  }

  /** Accounts with a verdict above none or linked to others, as last published. */
  get size(): number { return this.accounts.size; }
  get version(): number { return this.seq; }

  private async subscribeAndLoad(reason: string): Promise<void> {
    // Changes that arrive from now on wait for the state they apply to.
    this.stale ??= reason;
    this.subscribing++;
    try { await this.sub.subscribe(this.keys.changes); } catch { return; /* disconnected again: its next 'ready' tries again */ } finally { this.subscribing--; }
    await this.reload(reason);
  }

  private onMessage(message: string): void {
    let change: Change;
    try { change = JSON.parse(message) as Change; } catch { return; }
    if (this.loading || this.stale !== null) {
      this.pending.push(change);
      if (this.pending.length > PENDING_MAX) this.pending.shift();
      return;
    }
    this.apply(change);
  }

  private apply(change: Change): void {
    // The worker wrote everything again (it started, or Redis came back empty): whatever the numbers say.
    if (change.reload) { void this.reload('the worker published every verdict again'); return; }
    if ((change.epoch ?? null) !== this.epoch) { void this.reload('a new publication epoch'); return; }
    if (change.seq === this.seq) return; // already in what was loaded
    // Not the next change: one was missed, or the sequence went back (Redis lost it). The hashes are the truth.
    if (change.seq !== this.seq + 1) { void this.reload(`a gap in the sequence (change ${change.seq} after ${this.seq})`); return; }
    for (const [id, v] of Object.entries(change.accounts)) { if (v) this.accounts.set(id, v); else this.accounts.delete(id); }
    for (const [id, v] of Object.entries(change.clusters)) { if (v) this.clusters.set(id, v); else this.clusters.delete(id); }
    this.seq = change.seq;
  }

  /**
   * Replace the state with the hashes (read in one transaction with the epoch and sequence
   * number); on failure, try again every RELOAD_RETRY_MS until a load succeeds. Resolves whether
   * this attempt succeeded.
   */
  reload(reason = 'requested'): Promise<boolean> {
    this.stale ??= reason;
    if (this.loading) { this.loadAgain ??= reason; return this.loading; }
    if (this.retry) { clearTimeout(this.retry); this.retry = null; }
    this.loading = (async () => {
      let ok = false;
      try {
        const res = await this.client.multi().get(this.keys.seq).get(this.keys.epoch).hgetall(this.keys.accounts).hgetall(this.keys.clusters).exec();
        if (!res) throw new Error('transaction aborted');
        const failed = res.find(([err]) => err);
        if (failed) throw failed[0];
        if (res[0][1] === null) {
          // Nothing published since this Redis started (new, or restarted without its data): keep
          // the verdicts held until the worker publishes them again (its message says so).
          this.seq = 0; this.epoch = null;
        } else {
          const accounts = new Map<string, SharedAccountVerdict>();
          for (const [id, json] of Object.entries(res[2][1] as Record<string, string>)) accounts.set(id, JSON.parse(json) as SharedAccountVerdict);
          const clusters = new Map<string, Verdict>();
          for (const [id, json] of Object.entries(res[3][1] as Record<string, string>)) clusters.set(id, JSON.parse(json) as Verdict);
          this.accounts = accounts; this.clusters = clusters;
          this.seq = Number(res[0][1]); this.epoch = (res[1][1] as string | null) ?? null;
        }
        ok = true;
      } catch (err) {
        const why = this.client.status === 'ready' ? (err as Error).message : 'not connected';
        if (!this.failing && !this.closed) this.log(`detect: verdicts not loaded from Redis (${why}); trying again every ${RELOAD_RETRY_MS} ms, enforcing the verdicts held meanwhile (${plural(this.accounts.size, 'account')})`, { level: 'warn', code: 'DETECT_VERDICTS_NOT_LOADED' });
        this.failing = true;
        this.announce = true;
      } finally {
        this.loading = null;
      }
      if (!ok) {
        if (!this.closed) { this.retry = setTimeout(() => { this.retry = null; void this.reload(this.stale ?? reason); }, RELOAD_RETRY_MS); this.retry.unref(); }
        return false;
      }
      this.reloads++;
      const why = this.stale ?? reason;
      // A replica's first load says nothing; any later one (or a first one that had to wait) says why it happened.
      if (why !== 'start' || this.announce) {
        const what = this.epoch === null && this.seq === 0 ? `nothing published yet, holding ${plural(this.accounts.size, 'account')}` : `${plural(this.accounts.size, 'account')} (epoch ${this.epoch ?? 'none'}, change ${this.seq})`;
        this.log(`detect: verdicts ${why === 'start' ? 'loaded' : 'reloaded'} from Redis${why === 'start' ? '' : ` after ${why}`}: ${what}`, { level: 'info', code: why === 'start' ? 'DETECT_VERDICTS_LOADED' : 'DETECT_VERDICTS_RELOADED' });
      }
      this.stale = null;
      this.failing = false;
      this.announce = false;
      for (const f of this.onLoaded.splice(0)) f();
      // A reason to load again arose while loading (a reconnection): the state read may predate it.
      const again = this.loadAgain;
      if (again !== null) { this.loadAgain = null; void this.reload(again); return true; }
      const queued = this.pending;
      this.pending = [];
      for (const c of queued) {
        if (this.stale !== null) { this.pending.push(c); continue; } // a queued change asked for another load: the rest wait for it
        if ((c.epoch ?? null) === this.epoch && c.seq <= this.seq) continue; // already in what was loaded
        this.apply(c);
      }
      return true;
    })();
    return this.loading;
  }

  /** Disconnect both connections (the view owns the client it was given). */
  async close(): Promise<void> {
    this.closed = true;
    if (this.retry) { clearTimeout(this.retry); this.retry = null; }
    this.sub.disconnect();
    this.client.disconnect();
  }
}

const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;

// ---------------------------------------------------------------- composition

/** The id of the stream's latest entry ('0-0' when empty): where a worker starting now reads from. */
export async function latestStreamId(client: Redis, keys: SharedKeys): Promise<string> {
  const last = await client.xrevrange(keys.events, '+', '-', 'COUNT', 1);
  return last.length ? last[0][0] : '0-0';
}

/**
 * One worker per deployment: two would overwrite each other's verdicts. A lease in Redis, taken
 * at start (waiting out the lease of a worker that stopped without releasing it), renewed with
 * each publication and released on close.
 */
export class WorkerLease {
  /**
   * host:pid:random, and ` port=N` when the worker's admin API port is known: replicas name the
   * worker by it (a 421, the dashboard), and host and pid alone do not say which URL to call when
   * several nodes share a host, or in containers (every process pid 1).
   */
  readonly holder: string;
  constructor(private readonly client: Redis, private readonly key: string, readonly ttlMs: number, port?: number) {
    this.holder = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}${port ? ` port=${port}` : ''}`;
  }

  /** Take the lease, trying for up to `waitMs`. */
  async acquire(waitMs: number): Promise<boolean> {
    const end = Date.now() + waitMs;
    for (;;) {
      try { if (await this.client.set(this.key, this.holder, 'PX', this.ttlMs, 'NX') === 'OK') return true; } catch { /* not connected yet */ }
      if (Date.now() >= end) return false;
      await new Promise((r) => setTimeout(r, Math.min(250, Math.max(1, end - Date.now()))));
    }
  }

  /**
   * Extend the lease if this worker holds it (`kept`), else try to take it (`retaken`: it expired
   * or Redis lost it, and another worker may have published meanwhile); false when not held.
   */
  async renew(): Promise<'kept' | 'retaken' | false> {
    try {
      const kept = await this.client.eval("if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end", 1, this.key, this.holder, this.ttlMs);
      if (kept === 1) return 'kept';
      return await this.acquire(0) ? 'retaken' : false;
    } catch (err) { this.lastError = err; return false; }
  }

  /** Why the last renewal failed when Redis did not answer (null: it answered). */
  lastError: unknown = null;

  /** Who holds the lease now (null: nobody). */
  current(): Promise<string | null> { return this.client.get(this.key); }

  async release(): Promise<void> {
    try { await this.client.eval("if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end", 1, this.key, this.holder); } catch { /* expires on its own */ }
  }
}

export interface SharedWorker {
  stats(): { streamRead: number; published: number; publishFailures: number; leaseLost: number; streamReadErrors: number };
  /**
   * Why a verdict changed now does not reach the replicas (the worker cannot reach Redis: it is
   * published once it can), or null while the worker publishes.
   */
  unpublished(): string | null;
  close(): Promise<void>;
}

/**
 * The worker's side: take the lease, read the stream into `onEvent` (the detector's own queue)
 * from `startId`, and publish the engine's verdicts every `publishMs` while holding the lease (and
 * once more on close). Throws when another worker holds the lease.
 */
export async function startSharedWorker(opts: {
  engine: DetectorEngine; client: Redis; url: string; keys: SharedKeys; publishMs: number; startId: string;
  onEvent: (ev: InteractionEvent) => void; skip?: StreamSkip;
  /** How long the lease outlives a worker that stopped without releasing it (default: 5 publications, at least 5 s). */
  leaseMs?: number;
  /** Where a Redis outage's start and end are said (once each). */
  log?: DetectLog;
  /** The port this node's admin API listens on (`server.port`), named in the lease for the replicas to point at. */
  port?: number;
  /** How long the stop waits for Redis to take the last publication and the lease release, ms (default STOP_REDIS_WAIT_MS). */
  stopWaitMs?: number;
}): Promise<SharedWorker> {
  const stopWaitMs = opts.stopWaitMs ?? STOP_REDIS_WAIT_MS;
  const lease = new WorkerLease(opts.client, opts.keys.worker, opts.leaseMs ?? Math.max(5000, 5 * opts.publishMs), opts.port);
  if (!await lease.acquire(lease.ttlMs + 1000)) {
    let holder: string | null;
    try { holder = await lease.current(); } catch {
      // Not another worker: Redis itself did not answer (two workers must not run, so none starts without its lease).
      throw new Error(`detect.mode is worker: Redis at ${urlForLog(opts.url)} (redis.url) not reachable, and the worker takes its lease there (Redis key ${opts.keys.worker}) before it starts; start it again once Redis answers (replicas keep enforcing the verdicts published last)`);
    }
    throw new Error(`another node is the detector worker (${holder ?? 'unknown'}, Redis key ${opts.keys.worker}): run one node with detect.mode worker, the others as replica`);
  }
  // A Redis outage seen from the worker (its lease not renewed, the stream not read): said once
  // when it starts and once when the lease is renewed again, with what was missed meanwhile; a
  // flapping Redis is damped as the limits' outage lines are.
  const log = opts.log ?? (() => {});
  const outages = new OutageLog<{ leaseLost: number; readErrors: number; since: number }>();
  let leaseLost = 0;
  let closing = false;
  const failing = (err: unknown) => {
    // Stopping: the stop's own line says what did not reach Redis; a command it gave up on failing later is not an outage.
    if (closing) return;
    outages.failed(() => ({ leaseLost, readErrors: consumer?.stats().readErrors ?? 0, since: stalledSince(err) ?? Date.now() }), (_, flaps) => log(`detect: Redis unreachable from the detector worker (${redisFailure(err)}); verdicts are not published and the replicas' events not read until it answers (warden_detect_worker_lease_lost_total, warden_detect_stream_read_errors_total)${shorterOutages(flaps)}`, { level: 'warn', code: 'DETECT_WORKER_REDIS_UNREACHABLE' }), false, stalledSince(err));
  };
  const answering = () => {
    outages.answered((o, seconds) => log(`detect: the detector worker reaches Redis again after ${seconds.toFixed(1)} s; ${leaseLost - o.leaseLost} publications and ${consumer.stats().readErrors - o.readErrors} stream reads failed meanwhile (it reads the stream on from where it stopped)`, { level: 'info', code: 'DETECT_WORKER_REDIS_RECOVERED' }));
  };
  // Unanswered for as long as the lease lasts, by Redis's reckoning the lease has lapsed: an outage.
  const stallMs = lease.ttlMs;
  const consumer: StreamConsumer = consumeEventStream(opts.url, opts.keys, (events) => { for (const ev of events) opts.onEvent(ev); }, { startId: opts.startId, skip: opts.skip, stallMs, onReadError: failing });
  const publisher = new VerdictPublisher(opts.client, opts.keys, opts.engine);
  /** Renew the lease and publish; whether the publication reached Redis. */
  const publishIfHeld = async (): Promise<boolean> => {
    lease.lastError = null;
    const held = await lease.renew();
    if (!held) {
      leaseLost++;
      if (lease.lastError) failing(lease.lastError);
      return false;
    }
    answering();
    // The lease was gone: so may be the verdicts (a flushed Redis), or another worker wrote its own meanwhile.
    if (held === 'retaken') publisher.republishAll();
    const failures = publisher.failures;
    await publisher.publish();
    return publisher.failures === failures;
  };
  // One publication at a time: a slow Redis delays the next instead of overlapping it. One left
  // unanswered for stallMs (a stalled Redis fails no command and closes no connection) is an
  // outage, and each publication skipped while it waits is counted as a lost lease renewal.
  let inFlightSince: number | null = null;
  const run = (work: () => Promise<unknown>): Promise<unknown> => {
    const started = inFlightSince = Date.now();
    return work().catch(() => {}).finally(() => { if (inFlightSince === started) inFlightSince = null; });
  };
  let publishing: Promise<unknown> = run(() => publisher.publish());
  const timer = setInterval(() => {
    if (inFlightSince === null) { publishing = run(publishIfHeld); return; }
    if (Date.now() - inFlightSince >= stallMs) {
      leaseLost++;
      failing(new RedisStalled(stallMs, inFlightSince));
    }
  }, opts.publishMs);
  timer.unref();
  return {
    stats: () => ({ streamRead: consumer.stats().read, published: publisher.published, publishFailures: publisher.failures, leaseLost, streamReadErrors: consumer.stats().readErrors }),
    unpublished: () => {
      const o = outages.current;
      return o ? `Redis is unreachable from the detector worker since ${new Date(o.since).toISOString()}: verdicts are not published meanwhile, so replicas go on enforcing the ones published before; this one reaches them once the worker reaches Redis again (DETECT_WORKER_REDIS_UNREACHABLE)` : null;
    },
    async close() {
      clearInterval(timer);
      await consumer.close();
      closing = true;
      // The last publication and the lease's release, within a bound: a Redis that does not answer
      // must not hold the stop (what it did not get is said; the replicas keep what they hold).
      let published = false;
      const final = (async () => {
        await publishing.catch(() => {});
        published = await publishIfHeld();
        await lease.release();
      })();
      const notSaved = 'the verdicts changed since the last publication are not in Redis (replicas enforce those published last until a worker starts and publishes again); the worker lease is not released (a worker started now waits for it to expire';
      if (!await settlesWithin(final, stopWaitMs)) {
        log(`detect: stopping: Redis did not answer the detector worker's last publication within ${stopWaitMs} ms; ${notSaved}, within ${Math.ceil(lease.ttlMs / 1000)} s)`,
          { level: 'warn', code: 'STOP_STEP_GAVE_UP', fields: { step: 'detect worker: last publication and lease release', waited_ms: stopWaitMs, not_saved: notSaved } });
      } else if (!published) {
        log(`detect: stopping with Redis unreachable: the detector worker's last publication did not reach Redis; ${notSaved}, within ${Math.ceil(lease.ttlMs / 1000)} s)`, { level: 'warn', code: 'DETECT_WORKER_REDIS_UNREACHABLE' });
      }
    },
  };
}
