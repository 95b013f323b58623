/**
 * The ledger's side of the witness protocol (c2sp.org/tlog-witness): each new checkpoint is sent
 * to every configured witness (POST <url>/add-checkpoint with a consistency proof from the size the
 * witness cosigned last), and the cosignatures that come back are checked against the witness's
 * key and stored with the checkpoint (Ledger.addCosignatures).
 *
 * Never on the request path: submissions run in the background, one at a time per witness, and
 * only the newest checkpoint waiting is sent (a witness that was away catches up in one call).
 * A witness that does not answer (network error, timeout, 5xx) is retried with backoff, 1 s
 * doubling to 60 s. A witness that refuses (403, 404, 409 on a root, 422, other 4xx) is reported
 * (LEDGER_WITNESS) and not retried for that checkpoint: a refusal is the witness saying this log
 * is not the one it saw, or is misconfigured; the next checkpoint is sent as usual.
 */
import type { CosignerVerifier } from './cosign.ts';
import { checkCosignatures, formatAddCheckpoint } from './cosign.ts';
import type { Ledger } from './ledger.ts';
import { consistencyProof } from './merkle.ts';
import { LedgerError, type SignedCheckpoint } from './types.ts';

export interface WitnessEndpoint {
  /** Submission prefix: the request goes to `${url}/add-checkpoint`. */
  url: string;
  key: CosignerVerifier;
}

export interface WitnessStats {
  name: string;
  url: string;
  /** Checkpoints this witness cosigned. */
  cosigned: number;
  /** Checkpoints it refused (4xx). */
  refused: number;
  /** Calls that got no answer (network error, timeout, 5xx). */
  unreachable: number;
  /** Size of the latest checkpoint it cosigned (this run), -1 if none. */
  cosignedSize: number;
  /** The last failure, if the latest call failed. */
  lastError: string | null;
}

/** fetch's own message is "fetch failed": the cause says what (ECONNREFUSED 127.0.0.1:7380, a DNS failure). */
function describe(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.message ?? cause?.code ?? (err as Error).message;
}

const RETRY_MIN_MS = 1_000;
const RETRY_MAX_MS = 60_000;

interface State {
  ep: WitnessEndpoint;
  stats: WitnessStats;
  /** The size the witness holds for this log, as it last told us (null: not known yet; 0 is tried first). */
  held: number | null;
  pending: SignedCheckpoint | null;
  running: boolean;
  timer: NodeJS.Timeout | null;
  delay: number;
  abort: AbortController | null;
}

export class WitnessClient {
  private readonly states: State[];
  private stopped = false;
  private readonly runs = new Set<Promise<void>>();

  constructor(private readonly ledger: Ledger, endpoints: readonly WitnessEndpoint[], private readonly opts: { timeoutMs: number; onError: (err: unknown) => void }) {
    this.states = endpoints.map((ep) => ({
      ep, held: null, pending: null, running: false, timer: null, delay: RETRY_MIN_MS, abort: null,
      stats: { name: ep.key.name, url: ep.url, cosigned: 0, refused: 0, unreachable: 0, cosignedSize: -1, lastError: null },
    }));
  }

  get stats(): readonly WitnessStats[] {
    return this.states.map((s) => s.stats);
  }

  /** Send this checkpoint to every witness (in the background; returns at once). */
  submit(cp: SignedCheckpoint): void {
    if (this.stopped) return;
    for (const s of this.states) {
      if (s.pending && s.pending.size > cp.size) continue;
      if (s.stats.cosignedSize >= cp.size) continue;
      s.pending = cp;
      if (s.timer) { clearTimeout(s.timer); s.timer = null; }
      this.kick(s);
    }
  }

  /** Resolves once every witness has answered what was pending or given up (tests, metrics). */
  async settled(): Promise<void> {
    while (this.runs.size || this.states.some((s) => s.timer)) {
      if (this.runs.size) await Promise.allSettled([...this.runs]);
      else await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Stop: abort calls in flight, send nothing more. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const s of this.states) {
      if (s.timer) { clearTimeout(s.timer); s.timer = null; }
      s.abort?.abort();
      s.pending = null;
    }
    await Promise.allSettled([...this.runs]);
  }

  private kick(s: State): void {
    if (s.running || this.stopped) return;
    s.running = true;
    const run = this.run(s).catch((err) => this.opts.onError(err)).finally(() => { s.running = false; this.runs.delete(run); });
    this.runs.add(run);
  }

  private report(s: State, message: string): void {
    s.stats.lastError = message;
    this.opts.onError(new LedgerError('LEDGER_WITNESS', `witness ${s.ep.key.name} (${s.ep.url}): ${message}`));
  }

  private retryLater(s: State): void {
    if (this.stopped) return;
    const delay = s.delay;
    s.delay = Math.min(RETRY_MAX_MS, s.delay * 2);
    s.timer = setTimeout(() => { s.timer = null; this.kick(s); }, delay);
    s.timer.unref?.();
  }

  private async run(s: State): Promise<void> {
    let conflicts = 0;
    while (s.pending && !this.stopped) {
      const cp = s.pending;
      const old = s.held ?? 0;
      if (old > cp.size) {
        // On a shared log another node may have had a newer checkpoint cosigned already: nothing to do.
        if (await this.ledger.storage.checkpointAt(old).catch(() => null)) {
          if (s.pending === cp) s.pending = null;
          return;
        }
        s.stats.refused++;
        this.report(s, `it has cosigned size ${old} of this log, larger than this checkpoint (size ${cp.size}): the log was rolled back or rewritten since, or another copy of it with the same key is being shown to the witness`);
        if (s.pending === cp) s.pending = null;
        return;
      }
      const proof = old === 0 || old === cp.size ? [] : await consistencyProof(this.ledger.storage, old, cp.size);
      const body = formatAddCheckpoint(old, proof, cp.note);
      s.abort = new AbortController();
      const timer = setTimeout(() => s.abort?.abort(), this.opts.timeoutMs);
      let status: number;
      let text: string;
      let type: string;
      try {
        const res = await fetch(`${s.ep.url.replace(/\/+$/, '')}/add-checkpoint`, { method: 'POST', body, headers: { 'content-type': 'text/plain; charset=utf-8' }, signal: s.abort.signal });
        status = res.status;
        type = res.headers.get('content-type') ?? '';
        text = await res.text();
      } catch (err) {
        if (this.stopped) return;
        s.stats.unreachable++;
        this.report(s, `unreachable (${(err as Error).name === 'AbortError' ? `no answer within ${this.opts.timeoutMs} ms` : describe(err)}); checkpoint ${cp.size} is sent again with backoff`);
        this.retryLater(s);
        return;
      } finally {
        clearTimeout(timer);
        s.abort = null;
      }
      if (this.stopped) return;
      if (status === 200) {
        const { valid, invalid } = (() => {
          try { return checkCosignatures(cp.note + text, [s.ep.key]); } catch (e) { return { valid: [], invalid: [(e as Error).message] }; }
        })();
        if (valid.length === 0) {
          s.stats.refused++;
          this.report(s, `answered 200 without a valid cosignature by its configured key${invalid.length ? ` (${invalid.join('; ')})` : ''}: check ledger.witnesses[].key`);
          if (s.pending === cp) s.pending = null;
          return;
        }
        await this.ledger.addCosignatures(cp.size, valid.map((v) => v.line));
        s.held = cp.size;
        s.delay = RETRY_MIN_MS;
        s.stats.cosigned++;
        s.stats.cosignedSize = Math.max(s.stats.cosignedSize, cp.size);
        s.stats.lastError = null;
        if (s.pending === cp) s.pending = null;
        continue;
      }
      if (status === 409) {
        const m = /^(0|[1-9][0-9]*)\n$/.exec(text);
        const size = m ? Number(m[1]) : NaN;
        if (!type.startsWith('text/x.tlog.size') || !Number.isSafeInteger(size)) {
          s.stats.refused++;
          this.report(s, `answered 409 without a size (${text.slice(0, 200).trim()})`);
          if (s.pending === cp) s.pending = null;
          return;
        }
        if (size === old || ++conflicts > 2) {
          // It holds the size we sent and still refuses: it cosigned another root at that size.
          s.held = size;
          s.stats.refused++;
          this.report(s, `refused checkpoint ${cp.size} (409 Conflict): it cosigned another tree of this log at size ${size}, which this log's checkpoint contradicts: the log was rewritten after the witness saw it, or another copy of it with the same key is being shown to the witness`);
          if (s.pending === cp) s.pending = null;
          return;
        }
        s.held = size;
        continue;
      }
      if (status >= 500) {
        s.stats.unreachable++;
        this.report(s, `answered ${status} (${text.slice(0, 200).trim()}); checkpoint ${cp.size} is sent again with backoff`);
        this.retryLater(s);
        return;
      }
      s.stats.refused++;
      const why = status === 404 ? 'it does not know this log\'s origin (configure the log on the witness)'
        : status === 403 ? 'the checkpoint is not signed by a key it trusts for this log (give the witness this log\'s verifier key)'
          : status === 422 ? `the consistency proof from size ${old} does not verify against the tree it cosigned: the log was rewritten after the witness saw it, or another copy of it with the same key is being shown to the witness`
            : `it answered ${status}`;
      this.report(s, `refused checkpoint ${cp.size} (${status}): ${why}${text ? ` [${text.slice(0, 200).trim()}]` : ''}`);
      if (s.pending === cp) s.pending = null;
      return;
    }
  }
}
