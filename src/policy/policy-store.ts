/**
 * Holds the policy in force, with the subdivision data it decides with, and hot-reloads them. A
 * reload reads the subdivision range files (`policy.geo.subdivision_files`) and compiles the new
 * policy file against them completely before swapping one reference to both, so a request sees
 * either the old policy and data or the new ones, never a mix; a bad policy file or a bad range
 * file leaves both in force as they were and is reported (file, line or path, message).
 */
import { statSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { IpDatabaseError } from './geo.ts';
import { claimedSubdivisionRules, loadPolicyFile, NO_GEO_CONTEXT, PolicyFileError, uncoveredSubdivisions, type CompiledPolicy, type PolicyGeoContext } from './policy-file.ts';
import { loadSubdivisions, type SubdivisionIndex } from './subdivisions.ts';

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
  /**
   * The subdivision data the policy decides with, and what it does without it (default: none, none
   * required). With `subdivisionFiles`, the data is read from them instead (its `subdivisionData` is ignored).
   */
  geo?: PolicyGeoContext;
  /** IP -> ISO 3166-2 range files (`policy.geo.subdivision_files`), read at construction and at every reload. */
  subdivisionFiles?: readonly string[];
  /** Called after every reload attempt (tests, metrics). */
  onReload?: (result: { ok: true; policy: CompiledPolicy } | { ok: false; error: PolicyReloadError }) => void;
}

/** Why a reload was refused: the policy file, or a subdivision range file (file and line). */
export type PolicyReloadError = PolicyFileError | IpDatabaseError;

/** What is in force: swapped as one reference. */
interface InForce {
  policy: CompiledPolicy;
  subdivisions: SubdivisionIndex | null;
  /** The range files' paths, sizes and times when they were read ('' without files). */
  dataStamp: string;
}

/** The range files' paths, sizes and modification times; null when one cannot be read (the load says why). */
function stampOf(files: readonly string[]): string | null {
  try { return JSON.stringify(files.map((f) => { const st = statSync(f); return [f, st.size, st.mtimeMs]; })); } catch { return null; }
}

/** The live policy. `current` is always a complete, valid policy. */
export class PolicyStore {
  readonly path: string;
  private inForce!: InForce;
  private readonly watchers: FSWatcher[] = [];
  private timer: NodeJS.Timeout | null = null;
  private readonly opts: PolicyStoreOptions;
  /** The last reload error, cleared by the next successful load. */
  lastError: PolicyReloadError | null = null;
  reloads = 0;

  /**
   * Loads the subdivision files and the policy file now; throws IpDatabaseError or PolicyFileError
   * if one is invalid (startup must not run without a policy).
   */
  constructor(path: string, opts: PolicyStoreOptions = {}) {
    this.path = resolve(path);
    this.opts = opts;
    this.inForce = this.load();
    this.logData(null);
    this.warnUncovered();
    if (opts.watch) this.startWatching();
  }

  get current(): CompiledPolicy { return this.inForce.policy; }

  /** The subdivision data the policy in force was compiled against (null: no files configured). */
  get subdivisions(): SubdivisionIndex | null { return this.inForce.subdivisions; }

  /** Read the subdivision files, then compile the policy file against them; nothing is kept on a throw. */
  private load(reuseData = false): InForce {
    const files = this.opts.subdivisionFiles ?? [];
    const dataStamp = files.length > 0 ? stampOf(files) ?? '' : '';
    // A reload for an edit of the policy file keeps the data in force if its files are as they were read.
    const same = reuseData && this.inForce && dataStamp !== '' && dataStamp === this.inForce.dataStamp;
    const subdivisions = same ? this.inForce.subdivisions : files.length > 0 ? loadSubdivisions([...files]) : null;
    const base = this.opts.geo ?? NO_GEO_CONTEXT;
    const geo: PolicyGeoContext = this.opts.subdivisionFiles
      ? { ...base, subdivisionData: subdivisions && { covers: (c) => subdivisions.covers(c), digest: subdivisions.version.digest } }
      : base;
    return { policy: loadPolicyFile(this.path, geo), subdivisions, dataStamp };
  }

  private logData(previous: SubdivisionIndex | null): void {
    const v = this.inForce.subdivisions?.version;
    if (v && v.digest !== previous?.version.digest) this.opts.log?.info({ digest: v.digest, countries: v.countries, files: v.files }, 'policy subdivision data loaded');
  }

  /**
   * Re-read the policy file and the subdivision files now. Returns true when the new policy (and
   * data) are in force; false when one was refused (`lastError` says why) and the previous stay.
   * `reuseData`: keep the data in force when its files' sizes and times are unchanged (what a
   * change of the policy file does; SIGHUP and the admin route read them whatever).
   */
  reload(opts: { reuseData?: boolean } = {}): boolean {
    try {
      const before = this.inForce;
      const next = this.load(opts.reuseData === true);
      const changed = next.policy.digest !== before.policy.digest;
      this.inForce = next;
      this.lastError = null;
      this.reloads++;
      this.logData(before.subdivisions);
      this.warnUncovered();
      if (changed) this.opts.log?.info({ policy: this.path, digest: next.policy.digest.slice(0, 12) }, 'policy reloaded');
      this.opts.onReload?.({ ok: true, policy: next.policy });
      return true;
    } catch (err) {
      const error = err instanceof PolicyFileError || err instanceof IpDatabaseError ? err : new PolicyFileError(this.path, [{ path: '', message: String(err) }]);
      this.lastError = error;
      const problems = error instanceof PolicyFileError ? error.problems : [{ path: 'policy.geo.subdivision_files', message: error.message }];
      this.opts.log?.error({ policy: this.path, problems }, 'policy reload rejected; previous policy stays in force');
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
    // Accounts made before their claimed subdivision was kept (or signed up without one) have none.
    if (geo.unknownSubdivision === 'inside') {
      for (const r of claimedSubdivisionRules(this.inForce.policy.document)) {
        (this.opts.log.warn ?? this.opts.log.error).call(this.opts.log, { policy: this.path, path: r.path }, `WARNING: rule "${r.rule}" reads a claimed subdivision: with policy.geo.unknown_subdivision inside it matches every account that declared ${r.countries.join(', ')} without a subdivision (set the account's claimed_subdivision: PATCH /admin/accounts/ID, warden accounts update ID --subdivision CC-SUB)`);
      }
    }
    if (geo.requireSubdivisionData) return;
    for (const p of uncoveredSubdivisions(this.inForce.policy.document, { ...geo, subdivisionData: this.geoData() })) {
      (this.opts.log.warn ?? this.opts.log.error).call(this.opts.log, { policy: this.path, path: p.path, unknown_subdivision: geo.unknownSubdivision }, `WARNING: ${p.message.replace(/: (configure it|add data covering it), or set policy\.geo\.require_subdivision_data: false.*$/, '')}; policy.geo.unknown_subdivision (${geo.unknownSubdivision}) decides for every client of that country`);
    }
  }

  private geoData(): PolicyGeoContext['subdivisionData'] {
    const subdivisions = this.inForce.subdivisions;
    if (!this.opts.subdivisionFiles) return this.opts.geo?.subdivisionData ?? null;
    return subdivisions && { covers: (c) => subdivisions.covers(c), digest: subdivisions.version.digest };
  }

  /**
   * Watch the policy file and the subdivision range files: a change of either reloads both, with
   * the same checks (a refused file leaves the policy and data in force). A reload for a change
   * re-reads the range files only when their sizes or times changed.
   */
  private startWatching(): void {
    // Watch the directories, not the files: editors and config managers replace files by rename,
    // which would leave a file watcher attached to the old inode.
    const names = new Map<string, Set<string>>();
    for (const f of [this.path, ...(this.opts.subdivisionFiles ?? []).map((x) => resolve(x))]) {
      const dir = dirname(f);
      if (!names.has(dir)) names.set(dir, new Set());
      names.get(dir)!.add(basename(f));
    }
    for (const [dir, files] of names) {
      const watcher = watch(dir, { persistent: false }, (_event, file) => {
        if (file !== null && !files.has(file)) return;
        if (this.timer) clearTimeout(this.timer);
        this.timer = setTimeout(() => { this.timer = null; this.reload({ reuseData: true }); }, this.opts.debounceMs ?? 250);
        this.timer.unref();
      });
      watcher.on('error', (err) => this.opts.log?.error({ policy: this.path, dir, err: String(err) }, 'policy watch failed'));
      this.watchers.push(watcher);
    }
  }

  close(): void {
    for (const w of this.watchers.splice(0)) w.close();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
