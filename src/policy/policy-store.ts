/**
 * Holds the policy in force and hot-reloads it. A reload compiles the new file completely before
 * swapping one reference, so a request sees either the old policy or the new one, never a mix;
 * a bad file leaves the previous policy in force and is reported (file, path, message).
 */
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { claimedSubdivisionRules, loadPolicyFile, NO_GEO_CONTEXT, PolicyFileError, uncoveredSubdivisions, type CompiledPolicy, type PolicyGeoContext } from './policy-file.ts';

export interface PolicyLogger {
  info(obj: object, msg: string): void;
  /** A setting that works but weakens something the operator turned on (`error` when absent). */
  warn?(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface PolicyStoreOptions {
  /** Watch the file and reload on change. */
  watch?: boolean;
  /** Quiet period after the last change before reloading, ms. */
  debounceMs?: number;
  log?: PolicyLogger;
  /** The subdivision data the policy decides with, and what it does without it (default: none, none required). */
  geo?: PolicyGeoContext;
  /** Called after every reload attempt (tests, metrics). */
  onReload?: (result: { ok: true; policy: CompiledPolicy } | { ok: false; error: PolicyFileError }) => void;
}

/** The live policy. `current` is always a complete, valid policy. */
export class PolicyStore {
  readonly path: string;
  private policy: CompiledPolicy;
  private watcher: FSWatcher | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly opts: PolicyStoreOptions;
  /** The last reload error, cleared by the next successful load. */
  lastError: PolicyFileError | null = null;
  reloads = 0;

  /** Loads the file now; throws PolicyFileError if it is invalid (startup must not run without a policy). */
  constructor(path: string, opts: PolicyStoreOptions = {}) {
    this.path = resolve(path);
    this.opts = opts;
    this.policy = loadPolicyFile(this.path, opts.geo ?? NO_GEO_CONTEXT);
    this.warnUncovered();
    if (opts.watch) this.startWatching();
  }

  get current(): CompiledPolicy { return this.policy; }

  /** Re-read the file now. Returns true when the new policy is in force. */
  reload(): boolean {
    try {
      const next = loadPolicyFile(this.path, this.opts.geo ?? NO_GEO_CONTEXT);
      const changed = next.digest !== this.policy.digest;
      this.policy = next;
      this.lastError = null;
      this.reloads++;
      this.warnUncovered();
      if (changed) this.opts.log?.info({ policy: this.path, digest: next.digest.slice(0, 12) }, 'policy reloaded');
      this.opts.onReload?.({ ok: true, policy: next });
      return true;
    } catch (err) {
      const error = err instanceof PolicyFileError ? err : new PolicyFileError(this.path, [{ path: '', message: String(err) }]);
      this.lastError = error;
      this.opts.log?.error({ policy: this.path, problems: error.problems }, 'policy reload rejected; previous policy stays in force');
      this.opts.onReload?.({ ok: false, error });
      return false;
    }
  }

  /**
   * With `require_subdivision_data: false`, a rule naming a subdivision the data cannot decide is
   * accepted, and said at every load: `unknown_subdivision` decides for every client of its country.
   */
  private warnUncovered(): void {
    const geo = this.opts.geo;
    if (!geo || !this.opts.log) return;
    // Identity keeps no claimed subdivision: at the gateway every account's is unknown.
    if (geo.unknownSubdivision === 'inside') {
      for (const r of claimedSubdivisionRules(this.policy.document)) {
        (this.opts.log.warn ?? this.opts.log.error).call(this.opts.log, { policy: this.path, path: r.path }, `WARNING: rule "${r.rule}" reads a claimed subdivision, which accounts do not record: with policy.geo.unknown_subdivision inside it matches every account that declared ${r.countries.join(', ')} (signup screening passes claimed_subdivision)`);
      }
    }
    if (geo.requireSubdivisionData) return;
    for (const p of uncoveredSubdivisions(this.policy.document, geo)) {
      (this.opts.log.warn ?? this.opts.log.error).call(this.opts.log, { policy: this.path, path: p.path, unknown_subdivision: geo.unknownSubdivision }, `WARNING: ${p.message.replace(/: (configure it|add data covering it), or set policy\.geo\.require_subdivision_data: false.*$/, '')}; policy.geo.unknown_subdivision (${geo.unknownSubdivision}) decides for every client of that country`);
    }
  }

  private startWatching(): void {
    // Watch the directory, not the file: editors and config managers replace files by rename,
    // which would leave a file watcher attached to the old inode.
    const name = basename(this.path);
    this.watcher = watch(dirname(this.path), { persistent: false }, (_event, file) => {
      if (file !== null && file !== name) return;
      if (this.timer) clearTimeout(this.timer);
      this.timer = setTimeout(() => { this.timer = null; this.reload(); }, this.opts.debounceMs ?? 250);
      this.timer.unref();
    });
    this.watcher.on('error', (err) => this.opts.log?.error({ policy: this.path, err: String(err) }, 'policy watch failed'));
  }

  close(): void {
    this.watcher?.close();
    this.watcher = null;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
