/**
 * Runs the requests of batches: each as one `POST /v1/messages` (an OpenAI batch: one request to its
 * endpoint) through the gateway's own pipeline
 * (Fastify's inject: no socket), as the batch's key, from the address that sent the batch, so that
 * identity, policy, limits, the detector, shaping, watermarks and the ledger treat it as any other
 * request. A limit's 429 or an upstream failure waits (Retry-After, else doubling from 2 s) and
 * tries again, up to `max_attempts`; any other refusal is the request's `errored` result. A
 * detector verdict reached halfway through a batch therefore slows or stops the rest of it.
 *
 * The store is asked for a few requests ahead (they are leased: a node that stops leaves them to
 * another once the lease runs out) and results are written together, at most `RESULTS_MS` late:
 * a write per request would cost more of the serving thread than the request itself.
 */
import type { FastifyInstance } from 'fastify';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { BatchesConfig } from './config.ts';
import type { BatchCredentials } from './credentials.ts';
import type { BatchRecord, BatchStore, ClaimedItem, FinishedItem } from './store.ts';
import type { StreamedRuns } from './background.ts';

const TICK_MS = 250;
const SETTLE_MS = 1_000;
/** After a claim found nothing, the store is asked again this much later (a new batch here asks at once). */
const IDLE_MS = 1_000;
/** Requests claimed ahead, per request that may run at once. */
const AHEAD = 4;
/** Results are written when this many wait, or this long after the first. */
const RESULTS_MAX = 64;
const RESULTS_MS = 50;
/** After a failed round (the store unreachable), the next waits this long, doubled per failure up to STORE_RETRY_MAX_MS. */
const STORE_RETRY_MIN_MS = 250;
const STORE_RETRY_MAX_MS = 5_000;
/** While the store keeps failing, a further line at most this often (with the count of failures since). */
const STORE_REPORT_MS = 60_000;
/** A paced account's next request is held here for a start at most this far off; later ones go back to the store. */
const HOLD_MS = 5_000;
/** A paced account with no refusal for this long runs at full concurrency again (the limit may have eased). */
const REPACE_MS = 30_000;

export class BatchRunner {
  private timer: NodeJS.Timeout | null = null;
  private readonly inFlight = new Set<Promise<void>>();
  /** Claimed, not yet started. */
  private queue: ClaimedItem[] = [];
  private results: FinishedItem[] = [];
  private resultsTimer: NodeJS.Timeout | null = null;
  private writing: Promise<void> = Promise.resolve();
  private claiming = false;
  /** A tick was asked for while one was claiming: claim again when it is done. */
  private again = false;
  private lastSettle = 0;
  private lastPrune = 0;
  private idleSince: number | null = null;
  private stopped = false;
  /** The store failing (an outage): since when, the next round, how many failed, when last reported. */
  private failing: { since: number; retryAt: number; delayMs: number; failures: number; reportedAt: number; unreported: number } | null = null;
  /** Batches known to be cancelled or ended, and when each open one was last read. */
  private readonly closed = new Set<string>();
  private readonly checked = new Map<string, number>();
  private wake: NodeJS.Timeout | null = null;
  private wakeTime = 0;
  /**
   * Accounts a limit has refused on this node: from then on their batches run one request at a
   * time here, all of them in one line (the limits are the account's, not a batch's: several
   * batches paced each on its own would meet the limit in turn).
   */
  private readonly singleFile = new Set<string>();
  /** For those: the limit's last wait (the time it takes to allow one more request), and when the next may start. */
  private readonly spacing = new Map<string, number>();
  private readonly nextStart = new Map<string, number>();
  /** When a paced account was last refused by its limit. */
  private readonly lastRefusal = new Map<string, number>();
  /** When each account's last two requests started here, and when each request started. */
  private readonly lastStart = new Map<string, number>();
  private readonly previousStart = new Map<string, number>();
  private readonly startedAt = new WeakMap<ClaimedItem, number>();
  /** When each queued request was claimed (a request is never held here near its lease). */
  private readonly claimedAt = new WeakMap<ClaimedItem, number>();
  /** Requests of each account's batches running on this node. */
  private readonly runningOf = new Map<string, number>();
  /** Accounts this node saw refused by a limit, until when: what it claimed of their batches waits too. */
  private readonly paused = new Map<string, number>();

  /** `warden_batch_requests_total{outcome}`: succeeded, errored, retried (a 429 or 5xx that waits), canceled. */
  private readonly outcomes: Counter<'outcome'> | null;

  constructor(
    private readonly store: BatchStore,
    private readonly app: Pick<FastifyInstance, 'inject'>,
    private readonly credentials: BatchCredentials,
    private readonly config: BatchesConfig,
    private readonly log: (msg: string, meta?: { level: 'info' | 'warn' | 'error'; code: string }) => void = () => {},
    registry?: Registry,
    /** Told of the batches this node ended (OpenAI batches then get their output files), and when to prune. */
    private readonly housekeeping: { ended?: (ids: string[]) => Promise<void>; prune?: (now: number) => Promise<void> } = {},
    /** Background responses created with `stream: true`: run streamed, their events kept as they come. */
    private readonly streamedRuns: StreamedRuns | null = null,
  ) {
    this.outcomes = registry ? new Counter({ name: 'warden_batch_requests_total', help: 'Requests of Message Batches run by this node, by outcome (succeeded, errored, retried, canceled).', labelNames: ['outcome'], registers: [registry] }) : null;
    if (registry) {
      const self = this;
      new Gauge({ name: 'warden_batch_requests_in_flight', help: 'Requests of Message Batches running on this node, or claimed by it and waiting to start.', labelNames: ['state'], registers: [registry], collect() {
        this.set({ state: 'running' }, self.inFlight.size);
        this.set({ state: 'claimed' }, self.queue.length);
      } });
    }
  }

  begin(): void {
    if (this.timer) return;
    this.timer = setInterval(() => { void this.tick(); }, TICK_MS);
    this.timer.unref();
  }

  /**
   * Start what is claimed, claim more when the queue runs low, end batches with nothing left. Runs
   * on the timer, when a batch is created here (`poked`) and whenever a request finishes.
   */
  async tick(now = Date.now(), poked = false): Promise<void> {
    if (this.stopped) return;
    this.startQueued();
    if (this.claiming) { this.again = true; return; }
    // The store failing: rounds wait out the backoff (a request finishing here does not hasten them).
    if (this.failing && now < this.failing.retryAt) return;
    this.claiming = true;
    const roundAt = now;
    // Whether this round asked the store anything: an idle round that did not (no claim due, no
    // settle due) says nothing of whether it answers, and does not end an outage.
    let reached = false;
    try {
      do {
        this.again = false;
        // A request held for a paced account's turn (one each, at most `concurrency * AHEAD` in
        // all) takes no room from others: the claim asks for as many as if it were not here, and
        // for none more of such an account.
        const held = this.heldCount(now);
        const want = this.config.concurrency * AHEAD - (this.queue.length - held) - this.inFlight.size;
        if (this.queue.length - held < this.config.concurrency && want > 0 && (poked || this.idleSince === null || now - this.idleSince >= IDLE_MS)) {
          const claimed = await this.store.claim(now, want, this.config.lease_ms, this.pacedCaps(now, held));
          reached = true;
          const idle = claimed.length === 0 && this.inFlight.size === 0 && this.queue.length === 0;
          // Just out of work: settle now, so that a batch whose last request ran ends at once.
          if (idle && this.idleSince === null) this.lastSettle = 0;
          this.idleSince = idle ? now : null;
          for (const c of claimed) this.claimedAt.set(c, now);
          this.queue.push(...claimed);
          this.startQueued();
        }
        now = Date.now();
      } while (this.again && !this.stopped);
      if (now - this.lastSettle >= SETTLE_MS) {
        this.lastSettle = now;
        await this.writeResults();
        const ended = await this.store.settle(now);
        reached = true;
        if (ended.length && this.housekeeping.ended) await this.housekeeping.ended(ended);
        if (now - this.lastPrune > 3_600_000) {
          this.lastPrune = now;
          await this.store.prune(now - this.config.retention_days * 86_400_000);
          await this.housekeeping.prune?.(now);
        }
      }
      if (reached) this.storeAnswered(roundAt);
    } catch (err) {
      this.storeFailed(roundAt, err);
    } finally {
      this.claiming = false;
    }
  }

  /** A round failed: back off, and say so once per outage (then at most every STORE_REPORT_MS, with a count). */
  private storeFailed(now: number, err: unknown): void {
    const message = (err as Error)?.message ?? String(err);
    const f = this.failing;
    if (!f) {
      this.failing = { since: now, retryAt: now + STORE_RETRY_MIN_MS, delayMs: STORE_RETRY_MIN_MS, failures: 1, reportedAt: now, unreported: 0 };
      this.log(`batches: the batch store is unreachable (${message}); claiming again with backoff (up to every ${STORE_RETRY_MAX_MS / 1000} s) until it answers`, { level: 'error', code: 'BATCH_STORE_UNREACHABLE' });
      return;
    }
    f.failures++;
    f.delayMs = Math.min(STORE_RETRY_MAX_MS, f.delayMs * 2);
    f.retryAt = now + f.delayMs;
    if (now - f.reportedAt < STORE_REPORT_MS) { f.unreported++; return; }
    this.log(`batches: the batch store is still unreachable after ${Math.round((now - f.since) / 1000)} s (${message}) (and ${f.unreported} more failures since the last report)`, { level: 'error', code: 'BATCH_STORE_UNREACHABLE' });
    f.reportedAt = now;
    f.unreported = 0;
  }

  private storeAnswered(now: number): void {
    const f = this.failing;
    if (!f) return;
    this.failing = null;
    this.log(`batches: the batch store answers again after ${((now - f.since) / 1000).toFixed(1)} s (${f.failures} failed rounds); claiming resumed`, { level: 'info', code: 'BATCH_STORE_RECOVERED' });
  }

  /**
   * Until when a paced account's next request waits (Infinity: until its request running here
   * ends), or null when it may start now (or the account is not paced).
   */
  private turnOf(account: string, now: number): number | null {
    if (!this.singleFile.has(account)) return null;
    if (now - (this.lastRefusal.get(account) ?? now) > REPACE_MS) {
      for (const m of [this.singleFile, this.spacing, this.nextStart, this.lastRefusal]) m.delete(account);
      return null;
    }
    if (this.runningOf.get(account)) return Infinity;
    const next = this.nextStart.get(account) ?? 0;
    return next > now ? next : null;
  }
  /** Whether a claimed request waits for its paced account's turn. */
  private heldBack(it: ClaimedItem, now: number): number | null {
    return this.turnOf(it.batch.account_id, now);
  }
  private heldCount(now: number): number {
    let n = 0;
    for (const it of this.queue) if (this.heldBack(it, now) !== null) n++;
    return n;
  }
  /**
   * What the claim may take of the accounts paced here: one request of an account to wait for
   * its turn (the next it runs), none while one already waits here, its turn is far off, or the
   * node holds as many as it keeps.
   */
  private pacedCaps(now: number, held: number): Map<string, number> {
    const waiting = new Set(this.queue.map((it) => it.batch.account_id));
    const caps = new Map<string, number>();
    for (const account of this.singleFile) {
      const turn = this.turnOf(account, now);
      if (!this.singleFile.has(account)) continue; // its pace is forgotten: it runs as any account
      const room = !waiting.has(account) && held < this.config.concurrency * AHEAD && (turn === null || turn === Infinity || turn - now <= HOLD_MS);
      caps.set(account, room ? 1 : 0);
    }
    return caps;
  }

  private startQueued(): void {
    const now = Date.now();
    // Nothing is held here near its lease (another node would run it too), nor for a long pace: it
    // goes back to the store, and a paced account waits there (on every node) until its next start.
    // A paced account keeps one request here for its turn (its first, in the order claimed), and
    // the node at most `concurrency * AHEAD` of them: the rest go back, so that requests waiting
    // for a pace never fill the node's queue and hold up other customers' batches.
    const limit = now - this.config.lease_ms / 4;
    const holding = new Set<string>();
    const back: { it: ClaimedItem; notBefore: number }[] = [];
    this.queue = this.queue.filter((it) => {
      const until = this.heldBack(it, now);
      const old = (this.claimedAt.get(it) ?? now) < limit;
      if (!old && until === null) return true;
      const far = until !== null && until !== Infinity && until - now > HOLD_MS;
      if (!old && !far && !holding.has(it.batch.account_id) && holding.size < this.config.concurrency * AHEAD) {
        holding.add(it.batch.account_id);
        return true;
      }
      back.push({ it, notBefore: far ? until : now });
      return false;
    });
    for (const { it, notBefore } of back) {
      if (notBefore > now) void this.store.pauseAccount(it.batch.account_id, notBefore).catch(() => {});
      void this.store.retryLater(it.batch.id, it.idx, notBefore, true).catch(() => {});
    }
    while (!this.stopped && this.inFlight.size < this.config.concurrency && this.queue.length) {
      // A batch a limit has refused runs one request at a time, spaced by what the limit allows:
      // several at once would meet the limit together, and one at once would be refused every other time.
      let soonest = Infinity;
      const at = this.queue.findIndex((it) => {
        const until = this.heldBack(it, now);
        if (until !== null && until !== Infinity) soonest = Math.min(soonest, until);
        return until === null;
      });
      if (at < 0) {
        if (soonest < Infinity) this.wakeAt(soonest);
        return;
      }
      const item = this.queue.splice(at, 1)[0];
      const account = item.batch.account_id;
      const spacing = this.spacing.get(account);
      if (spacing !== undefined) this.nextStart.set(account, now + spacing);
      if (this.lastStart.size > 10_000) { this.lastStart.clear(); this.previousStart.clear(); }
      const last = this.lastStart.get(account);
      if (last !== undefined) this.previousStart.set(account, last);
      this.lastStart.set(account, now);
      this.startedAt.set(item, now);
      this.runningOf.set(account, (this.runningOf.get(account) ?? 0) + 1);
      const p = this.run(item)
        .catch((err) => this.log(`batches: request ${item.custom_id} of ${item.batch.id} failed to run: ${(err as Error).message}`))
        .finally(() => {
          this.inFlight.delete(p);
          const left = (this.runningOf.get(account) ?? 1) - 1;
          if (left > 0) this.runningOf.set(account, left); else this.runningOf.delete(account);
          this.idleSince = null;
          void this.tick();
        });
      this.inFlight.add(p);
    }
  }

  /**
   * A request of a paced account passed its limit: the next may start at once when the limit says
   * it has room (its remaining-requests header). A limit that has eased is also found by forgetting
   * an account's pace `REPACE_MS` after its last refusal (it runs as any until the next one).
   */
  private passed(account: string, headers: Record<string, unknown>): void {
    if (!this.spacing.has(account)) return;
    const remaining = Number(headers['x-ratelimit-remaining-requests'] ?? headers['anthropic-ratelimit-requests-remaining']);
    if (Number.isFinite(remaining) && remaining >= 1) this.nextStart.delete(account);
  }

  /** Claim again when a paused batch may go on (an idle runner would otherwise look only a second later). */
  private wakeAt(at: number): void {
    if (this.wake && this.wakeTime <= at) return;
    if (this.wake) clearTimeout(this.wake);
    this.wakeTime = at;
    this.wake = setTimeout(() => { this.wake = null; void this.tick(Date.now(), true); }, Math.max(0, at - Date.now()) + 1);
    this.wake.unref();
  }

  /** A batch cancelled here (the routes say so at once) or elsewhere (read at most once a second). */
  closedBatch(id: string): void { this.closed.add(id); }
  private async isClosed(id: string): Promise<boolean> {
    if (this.closed.has(id)) return true;
    const now = Date.now();
    if (now - (this.checked.get(id) ?? 0) < 1000) return false;
    if (this.checked.size > 1000) this.checked.clear();
    this.checked.set(id, now);
    const b = await this.store.get(id);
    if (b && b.status === 'in_progress') return false;
    if (this.closed.size > 1000) this.closed.clear();
    this.closed.add(id);
    return true;
  }

  private finished(item: ClaimedItem, state: FinishedItem['state'], result: string | null): void {
    this.outcomes?.inc({ outcome: state });
    this.results.push({ batchId: item.batch.id, idx: item.idx, state, result, at: item.batch.background ? Date.now() : undefined });
    if (this.results.length >= RESULTS_MAX) void this.writeResults();
    else if (!this.resultsTimer) {
      this.resultsTimer = setTimeout(() => { void this.writeResults(); }, RESULTS_MS);
      this.resultsTimer.unref();
    }
  }

  /** Write the results waiting (one after another: a write never overtakes an earlier one). */
  private writeResults(): Promise<void> {
    if (this.resultsTimer) { clearTimeout(this.resultsTimer); this.resultsTimer = null; }
    if (this.results.length === 0) return this.writing;
    const batch = this.results;
    this.results = [];
    this.writing = this.writing.then(() => this.store.finish(batch)).catch((err) => {
      // Kept for the next write; the requests stay leased meanwhile.
      this.log(`batches: could not record ${batch.length} results (${(err as Error).message}); retrying`);
      this.results = batch.concat(this.results);
    });
    return this.writing;
  }

  /** A one-use credential for one request of the batch: its key, and whose the batch is (for the request's event). */
  private credentialFor(batch: BatchRecord): string {
    return this.credentials.issue({ batchId: batch.id, keyId: batch.key_id, accountId: batch.account_id, orgId: batch.org_id });
  }

  private async run(item: ClaimedItem): Promise<void> {
    const { batch } = item;
    // Claimed ahead, then the batch was cancelled: not run.
    if (await this.isClosed(batch.id)) { this.finished(item, 'canceled', null); return; }
    // Claimed ahead, then the batch expired: back to the store, where the settle expires it.
    if (batch.expires_at <= Date.now()) { await this.store.retryLater(batch.id, item.idx, 0, true); return; }
    // Claimed ahead, then a limit refused a request of its account: it waits with the account, no attempt spent.
    const pausedUntil = this.paused.get(batch.account_id);
    if (pausedUntil !== undefined) {
      if (pausedUntil > Date.now()) { await this.store.retryLater(batch.id, item.idx, pausedUntil, true); return; }
      this.paused.delete(batch.account_id);
    }
    if (batch.openai) return this.runOpenAi(item, batch.openai.endpoint);
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'x-api-key': this.credentialFor(batch),
      'anthropic-version': batch.anthropic_version ?? '2023-06-01',
    };
    if (batch.anthropic_beta) headers['anthropic-beta'] = batch.anthropic_beta;
    if (batch.user_agent) headers['user-agent'] = batch.user_agent;
    const res = await this.app.inject({ method: 'POST', url: '/v1/messages', headers, payload: item.params, remoteAddress: batch.client_ip });
    const status = res.statusCode;
    if (status === 200) {
      this.passed(batch.account_id, res.headers);
      // The answer as the gateway sent it (shaped, watermarked), not parsed again.
      this.finished(item, 'succeeded', `{"type":"succeeded","message":${res.body}}`);
      return;
    }
    if (await this.retried(item, status, res.headers)) return;
    let body: unknown = null;
    try { body = JSON.parse(res.body); } catch { /* not JSON */ }
    const error = body && typeof body === 'object' && (body as { type?: unknown }).type === 'error'
      ? body
      : { type: 'error', error: { type: 'api_error', message: `The request failed with status ${status}.` } };
    this.finished(item, 'errored', JSON.stringify({ type: 'errored', error }));
  }

  /**
   * A request of an OpenAI batch. Its result is the `response` of its line in the output file
   * (`{status_code, request_id, body}`); a refusal keeps the gateway's error body, in the error file.
   */
  private async runOpenAi(item: ClaimedItem, endpoint: string): Promise<void> {
    const { batch } = item;
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      authorization: `Bearer ${this.credentialFor(batch)}`,
    };
    if (batch.user_agent) headers['user-agent'] = batch.user_agent;
    if (this.streamedRuns?.streamed(batch)) return this.runStreamed(item, this.streamedRuns, endpoint, headers);
    const res = await this.app.inject({ method: 'POST', url: endpoint, headers, payload: item.params, remoteAddress: batch.client_ip });
    const status = res.statusCode;
    if (status === 200) this.passed(batch.account_id, res.headers);
    else if (await this.retried(item, status, res.headers)) return;
    const requestId = res.headers['x-request-id'] ?? res.headers['x-warden-request-id'] ?? `req_${batch.id}_${item.idx}`;
    // The gateway answers JSON, refusals included; anything else (never expected) becomes an error body.
    let body = res.body;
    if (!String(res.headers['content-type'] ?? '').includes('json') || body === '') {
      body = JSON.stringify({ error: { message: `The request failed with status ${status}.`, type: 'server_error', param: null, code: null } });
    }
    this.finished(item, status === 200 ? 'succeeded' : 'errored', `{"status_code":${status},"request_id":${JSON.stringify(String(requestId))},"body":${body}}`);
  }

  /**
   * A background response created with `stream: true`: the gateway's answer is read as it comes
   * (not gathered first) and each event kept, for the clients reading it. Cancelling it stops the
   * answer: the gateway sees its client go away, and the upstream call is aborted (and recorded).
   */
  private async runStreamed(item: ClaimedItem, runs: StreamedRuns, endpoint: string, headers: Record<string, string>): Promise<void> {
    const { batch } = item;
    const begun = await runs.begin(batch);
    if (!begun.ok) { this.finished(item, 'errored', begun.result); return; }
    const res = await this.app.inject({ method: 'POST', url: endpoint, headers, payload: item.params, remoteAddress: batch.client_ip, payloadAsStream: true });
    const status = res.statusCode;
    const body = res.stream();
    if (status !== 200 || !String(res.headers['content-type'] ?? '').includes('text/event-stream')) {
      const chunks: Buffer[] = [];
      for await (const c of body) chunks.push(c as Buffer);
      const text = Buffer.concat(chunks).toString('utf8');
      if (status !== 200 && await this.retried(item, status, res.headers)) return;
      const json = String(res.headers['content-type'] ?? '').includes('json') && text !== '' ? text : JSON.stringify({ error: { message: `The request failed with status ${status}.`, type: 'server_error', param: null, code: null } });
      await runs.refused(batch, status, json);
      const requestId = res.headers['x-request-id'] ?? res.headers['x-warden-request-id'] ?? `req_${batch.id}_${item.idx}`;
      this.finished(item, 'errored', `{"status_code":${status === 200 ? 502 : status},"request_id":${JSON.stringify(String(requestId))},"body":${json}}`);
      return;
    }
    this.passed(batch.account_id, res.headers);
    const requestId = String(res.headers['x-request-id'] ?? res.headers['x-warden-request-id'] ?? `req_${batch.id}_${item.idx}`);
    // The gateway sees its client go away: the upstream call is aborted, the interaction recorded.
    const stop = () => { (res.raw.res as { destroy(): void }).destroy(); body.destroy(); };
    // A stream may run as long as `stream_max_duration_ms`: its claim is renewed while it runs, so
    // that no node takes it up again while this one still relays it.
    const renew = setInterval(() => {
      void this.store.renewLease(batch.id, item.idx, Date.now() + this.config.lease_ms).catch((err) => this.log(`batches: could not renew the claim on ${batch.id}: ${(err as Error).message}`));
    }, Math.max(100, this.config.lease_ms / 4));
    renew.unref();
    // A cancel stops the answer within a second, even while the upstream sends nothing.
    const watch = setInterval(() => { void this.isClosed(batch.id).catch(() => false).then((closed) => { if (closed) stop(); }); }, 1000);
    watch.unref();
    try {
      const outcome = await runs.relay(batch, body as AsyncIterable<Buffer>, requestId, async () => {
        // A store that cannot say (a failover) does not cancel the answer.
        if (!(await this.isClosed(batch.id).catch(() => false))) return false;
        stop();
        return true;
      });
      // Stopped reading for any other reason than its end: the gateway stops the upstream call too.
      if (outcome.state !== 'succeeded') stop();
      this.finished(item, outcome.state, outcome.result);
    } finally {
      clearInterval(renew);
      clearInterval(watch);
    }
  }

  /**
   * A limit's 429 or an upstream failure waits (Retry-After, else doubling from 2 s) and runs again,
   * while attempts remain. The upstream's `x-should-retry` (passed on by the gateway) decides
   * first, as it does for the SDKs: `false` ends the request with its error, `true` retries it
   * whatever the status. A 429 pauses the account's batches until then: their other requests
   * would meet the same limit, and trying them all would spend their attempts (a large batch would
   * fail where it should be paced).
   */
  private async retried(item: ClaimedItem, status: number, headers: Record<string, unknown>): Promise<boolean> {
    const advice = headers['x-should-retry'];
    const retryable = advice === 'true' ? true : advice === 'false' ? false : status === 429 || status >= 500;
    if (!(retryable && item.attempts < this.config.max_attempts)) return false;
    // retry-after-ms is the limit's wait to the millisecond; retry-after rounds it up to a second.
    const ms = Number(headers['retry-after-ms']);
    const s = Number(headers['retry-after']);
    const wait = Number.isFinite(ms) && ms > 0 ? ms : Number.isFinite(s) && s > 0 ? s * 1000 : Math.min(300_000, 2000 * 2 ** (item.attempts - 1));
    const until = Date.now() + wait;
    if (status === 429) {
      if (this.paused.size > 10_000) this.paused.clear();
      if (this.singleFile.size > 10_000) { this.singleFile.clear(); this.spacing.clear(); this.nextStart.clear(); this.lastStart.clear(); this.previousStart.clear(); this.lastRefusal.clear(); }
      const account = item.batch.account_id;
      this.singleFile.add(account);
      // The wait a refusal gives is only how early this request was. The limit's interval is that
      // wait plus the time since the account's start before this one (the last request it let
      // through left no room), and a little more; without one, a step wider than before.
      const spaced = this.spacing.get(account);
      const started = this.startedAt.get(item);
      const previous = this.previousStart.get(account);
      const interval = started !== undefined && previous !== undefined && started > previous
        ? (started - previous + wait) * 1.02
        : Math.max(wait, spaced === undefined ? 0 : spaced * 1.5);
      this.lastRefusal.set(account, Date.now());
      this.spacing.set(account, Math.min(60_000, Math.max(wait, interval)));
      this.paused.set(account, Math.max(until, this.paused.get(account) ?? 0));
      await this.store.pauseAccount(account, until);
      this.wakeAt(until);
    }
    await this.store.retryLater(item.batch.id, item.idx, until);
    this.outcomes?.inc({ outcome: 'retried' });
    return true;
  }

  /** Stop claiming; wait (up to `waitMs`) for requests in flight and write their results. */
  async stop(waitMs = 30_000): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    if (this.wake) clearTimeout(this.wake);
    this.timer = null;
    // What was claimed ahead goes back, to run after a restart or on another node at once.
    const queued = this.queue;
    this.queue = [];
    for (const item of queued) await this.store.retryLater(item.batch.id, item.idx, 0).catch(() => {});
    if (this.inFlight.size) {
      await Promise.race([Promise.allSettled([...this.inFlight]), new Promise((r) => setTimeout(r, waitMs).unref())]);
    }
    await this.writeResults();
  }
}
