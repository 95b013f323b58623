/**
 * Screening of existing customers: every account's name and its organisation's name against the
 * denied-party lists in force, run when the lists are (re)loaded. A new entry that names a customer
 * who signed up long ago holds the account (`on_match: suspend`) or reports it (`report`).
 *
 * A hold is an identity suspension by the actor `screening`, whose recorded reason names the list
 * entry, the entry's digest and the lists' digest (never the customer's own data: erasure would not
 * reach it). The operator clears a false positive by reactivating the account with a reason; that
 * change (who, when, why) is the clearance. A later screening does not hold the account again for
 * the same entry unless the list changes the entry (its digest), or the account matches another.
 */
import type { IdentityStore } from '../identity/store.ts';
import type { Account, IdentityChange } from '../identity/types.ts';
import { entryDigest, type SanctionsIndex, type SanctionsMatch } from './sanctions.ts';

/** The actor recorded with a hold. */
export const SCREENING_ACTOR = 'screening';

export type RescreenOutcome = 'held' | 'already_suspended' | 'cleared' | 'reported';

export interface RescreenMatch {
  account_id: string;
  org_id: string | null;
  /** Which name matched: the account's own, or its organisation's. */
  field: 'name' | 'organisation';
  entry: string;
  entry_digest: string;
  source: string;
  programs: string[];
  matched_name: string;
  score: number;
  /**
   * `held`: suspended now; `already_suspended`: suspended before (by anyone), left as it is;
   * `cleared`: an operator reactivated the account after a hold for this version of the entry;
   * `reported`: `on_match: report`, nothing changed.
   */
  outcome: RescreenOutcome;
  /** For `cleared`: the reactivation that cleared it. */
  cleared: { by: string; at: string; reason: string | null } | null;
}

export interface RescreenReport {
  lists: { digest: string; loaded_at: string } | null;
  started_at: string;
  finished_at: string;
  accounts_screened: number;
  threshold: number;
  action: 'suspend' | 'report';
  matches: RescreenMatch[];
}

export interface RescreenDeps {
  identity: Pick<IdentityStore, 'listAccounts' | 'getAccount' | 'getOrg' | 'listChanges' | 'setAccountStatus'>;
  sanctions: SanctionsIndex | null;
  threshold: number;
  action: 'suspend' | 'report';
  now?: () => Date;
  /** Stops the run between two accounts (the node is stopping); the report says how far it got. */
  signal?: AbortSignal;
  /** Told of each hold once it is made (the ledger records it). */
  onHold?: (hold: ScreeningHold) => void;
}

/** A hold as made: the account, the matches it was held for, the lists that decided, the reason recorded. */
export interface ScreeningHold { account_id: string; at: string; matches: RescreenMatch[]; lists: string | null; reason: string }

/** A clearance as made: an operator reactivated an account held by screening. */
export interface ScreeningClearance { account_id: string; at: string; tags: string[]; by: string; reason: string | null }

/** The tag a hold's reason carries for one entry version; a clearance after it covers that version. */
export const holdTag = (entryId: string, digest: string): string => `[screening ${entryId}@${digest}]`;

/**
 * Screen every account (newest first, in pages of 500; the event loop is given back between
 * accounts, so a long run does not stall requests).
 */
export async function rescreenAccounts(deps: RescreenDeps): Promise<RescreenReport> {
  const now = deps.now ?? (() => new Date());
  const started = now().toISOString();
  const lists = deps.sanctions ? { digest: deps.sanctions.version.digest, loaded_at: deps.sanctions.version.loaded_at } : null;
  const report: RescreenReport = { lists, started_at: started, finished_at: started, accounts_screened: 0, threshold: deps.threshold, action: deps.action, matches: [] };
  const index = deps.sanctions;
  if (!index) return report;
  const orgNames = new Map<string, string | null>();
  const orgName = async (id: string | null): Promise<string | null> => {
    if (!id) return null;
    if (!orgNames.has(id)) orgNames.set(id, (await deps.identity.getOrg(id))?.name ?? null);
    return orgNames.get(id)!;
  };
  let cursor: string | undefined;
  do {
    const page = await deps.identity.listAccounts({ limit: 500, cursor });
    for (const account of page.data) {
      if (deps.signal?.aborted) break;
      report.accounts_screened++;
      report.matches.push(...await screenOne(deps, index, account, await orgName(account.org_id)));
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    cursor = deps.signal?.aborted ? undefined : page.next_cursor ?? undefined;
  } while (cursor);
  report.finished_at = now().toISOString();
  return report;
}

/** Screen one account's name and its organisation's name; hold or report what matches. */
async function screenOne(deps: RescreenDeps, index: SanctionsIndex, account: Account, orgName: string | null): Promise<RescreenMatch[]> {
  const found: { field: RescreenMatch['field']; match: SanctionsMatch }[] = [];
  if (account.name) for (const match of index.search(account.name, deps.threshold)) found.push({ field: 'name', match });
  if (orgName) for (const match of index.search(orgName, deps.threshold)) found.push({ field: 'organisation', match });
  if (found.length === 0) return [];
  return decide(deps, account, found, { digest: index.version.digest, loaded_at: index.version.loaded_at });
}

/**
 * Screen the accounts an account or organisation change concerns (created, renamed, moved to
 * another organisation) with the lists in force; the matches, as a run reports them.
 */
export async function screenSubject(deps: RescreenDeps, subject: { account: string } | { org: string }): Promise<RescreenMatch[]> {
  const index = deps.sanctions;
  if (!index) return [];
  const out: RescreenMatch[] = [];
  if ('account' in subject) {
    const account = await deps.identity.getAccount(subject.account);
    if (!account) return [];
    const org = account.org_id ? (await deps.identity.getOrg(account.org_id))?.name ?? null : null;
    return screenOne(deps, index, account, org);
  }
  const org = await deps.identity.getOrg(subject.org);
  if (!org) return [];
  let cursor: string | undefined;
  do {
    const page = await deps.identity.listAccounts({ org_id: org.id, limit: 500, cursor });
    for (const account of page.data) out.push(...await screenOne(deps, index, account, org.name));
    cursor = page.next_cursor ?? undefined;
  } while (cursor);
  return out;
}

async function decide(
  deps: RescreenDeps, account: Account, found: { field: RescreenMatch['field']; match: SanctionsMatch }[], lists: RescreenReport['lists'],
): Promise<RescreenMatch[]> {
  const history = await changesOf(deps.identity, account.id);
  const rows: RescreenMatch[] = found.map(({ field, match }) => ({
    account_id: account.id, org_id: account.org_id, field, entry: match.entry.id, entry_digest: entryDigest(match.entry), source: match.entry.source,
    programs: match.entry.programs, matched_name: match.matchedName, score: match.score, outcome: 'reported', cleared: null,
  }));
  for (const row of rows) row.cleared = clearanceOf(history, holdTag(row.entry, row.entry_digest));
  const open = rows.filter((r) => r.cleared === null);
  for (const r of rows) if (r.cleared) r.outcome = 'cleared';
  if (deps.action === 'report' || open.length === 0) return rows;
  if (account.status === 'suspended') {
    for (const r of open) r.outcome = 'already_suspended';
    return rows;
  }
  // The reason names the list entries, never the customer's own name: erasing the account's data must not leave it here.
  const reason = 'denied-party screening: potential match held for review; '
    + open.map((r) => `the ${r.field === 'name' ? "account's name" : "organisation's name"} is similar (${r.score.toFixed(2)}) to "${r.matched_name}" on the ${r.source.toUpperCase()} list (${r.entry}${r.programs.length ? `, ${r.programs.join(', ')}` : ''}) ${holdTag(r.entry, r.entry_digest)}`).join('; ')
    + `; lists sha256 ${lists?.digest ?? 'none'}. Clear a false positive by reactivating the account with the reason.`;
  await deps.identity.setAccountStatus(account.id, 'suspended', { by: SCREENING_ACTOR, reason });
  for (const r of open) r.outcome = 'held';
  deps.onHold?.({ account_id: account.id, at: (deps.now?.() ?? new Date()).toISOString(), matches: open, lists: lists?.digest ?? null, reason });
  return rows;
}

async function changesOf(identity: RescreenDeps['identity'], accountId: string): Promise<IdentityChange[]> {
  const out: IdentityChange[] = [];
  let cursor: string | undefined;
  do {
    const page = await identity.listChanges({ subject_id: accountId, limit: 500, cursor });
    out.push(...page.data);
    cursor = page.next_cursor ?? undefined;
  } while (cursor);
  return out;
}

/**
 * The reactivation that cleared a hold carrying `tag`: the first status change back to active
 * after the latest such hold. Null when the entry version was never held, or is still held.
 */
export function clearanceOf(changes: readonly IdentityChange[], tag: string): RescreenMatch['cleared'] {
  const oldestFirst = [...changes].sort((a, b) => (a.at === b.at ? a.id.localeCompare(b.id) : a.at.localeCompare(b.at)));
  let held = false;
  let cleared: RescreenMatch['cleared'] = null;
  for (const c of oldestFirst) {
    if (c.action !== 'status') continue;
    if (c.new_value === 'suspended' && c.actor === SCREENING_ACTOR && (c.reason ?? '').includes(tag)) { held = true; cleared = null; }
    else if (c.new_value === 'active' && held) { held = false; cleared = { by: c.actor, at: c.at, reason: c.reason }; }
  }
  return held ? null : cleared;
}

/**
 * Runs screenings one at a time for a node: reload the lists (optionally) and screen every
 * account with them. A run asked for while one is going waits for it, then runs.
 */
export class Rescreener {
  private chain: Promise<unknown> = Promise.resolve();
  private readonly stopping = new AbortController();
  last: RescreenReport | null = null;
  /** Told of each hold and each clearance (set once the ledger is open). */
  onHold: ((hold: ScreeningHold) => void) | null = null;
  onClear: ((clearance: ScreeningClearance) => void) | null = null;

  constructor(private readonly deps: {
    identity: RescreenDeps['identity'];
    runtime: { readonly sanctions: SanctionsIndex | null; reloadSanctions(): SanctionsIndex | null };
    threshold: number;
    action: RescreenDeps['action'];
  }) {}

  /** Screen every account; with `reload`, read the lists again first (a bad file throws, the lists in force stay and nothing is screened). */
  run(opts: { reload: boolean }): Promise<RescreenReport> {
    const next = this.chain.catch(() => {}).then(async () => {
      const sanctions = opts.reload ? this.deps.runtime.reloadSanctions() : this.deps.runtime.sanctions;
      const report = await rescreenAccounts({ ...this.subjectDeps(), sanctions, signal: this.stopping.signal });
      this.last = report;
      return report;
    });
    this.chain = next;
    return next;
  }

  /** Screen the accounts one account or organisation change concerns, with the lists in force. */
  screen(subject: { account: string } | { org: string }): Promise<RescreenMatch[]> {
    return screenSubject(this.subjectDeps(), subject);
  }

  private subjectDeps(): RescreenDeps {
    return { identity: this.deps.identity, sanctions: this.deps.runtime.sanctions, threshold: this.deps.threshold, action: this.deps.action, onHold: (h) => this.onHold?.(h) };
  }

  /**
   * An account is being reactivated by `by`: when screening holds it, the entry versions it was
   * held for, so that the reactivation can be recorded as their clearance (else none).
   */
  async heldFor(accountId: string): Promise<string[]> {
    const changes = await changesOf(this.deps.identity, accountId);
    const latest = changes.filter((c) => c.action === 'status').sort((a, b) => (a.at === b.at ? b.id.localeCompare(a.id) : b.at.localeCompare(a.at)))[0];
    if (!latest || latest.new_value !== 'suspended' || latest.actor !== SCREENING_ACTOR) return [];
    return [...(latest.reason ?? '').matchAll(/\[screening [^\]]+\]/g)].map((m) => m[0]);
  }

  /** Stop a run between two accounts and wait for it to end (the node is closing). */
  async close(): Promise<void> {
    this.stopping.abort();
    await this.chain.catch(() => {});
  }
}

/** One line for the log: what a run found and did. */
export function rescreenSummary(r: RescreenReport): string {
  const count = (o: RescreenOutcome) => r.matches.filter((m) => m.outcome === o).length;
  return `screening: ${r.accounts_screened} accounts screened against lists sha256 ${r.lists?.digest ?? 'none'}: ${r.matches.length} potential matches `
    + `(${count('held')} held, ${count('already_suspended')} already suspended, ${count('cleared')} cleared before, ${count('reported')} reported)`;
}

/**
 * The identity store as the admin API uses it, with each account created, renamed or moved, and
 * each organisation renamed, screened with the lists in force before the answer: an account held
 * is returned as it now stands (suspended). A screening that fails is reported to `onError` and
 * leaves the change made. Reactivating an account screening holds is told to `onClear` (its
 * clearance, recorded in the ledger).
 */
export function screenedIdentity(identity: IdentityStore, rescreener: Pick<Rescreener, 'screen'> | Rescreener, onError: (err: Error) => void): IdentityStore {
  const screened = async <T>(made: T, subject: { account: string } | { org: string }, reread: () => Promise<T | null>): Promise<T> => {
    try {
      const matches = await rescreener.screen(subject);
      return matches.some((m) => m.outcome === 'held') ? (await reread()) ?? made : made;
    } catch (err) {
      onError(err as Error);
      return made;
    }
  };
  return new Proxy(identity, {
    get(target, prop, receiver) {
      if (prop === 'createAccount') {
        return async (...args: Parameters<IdentityStore['createAccount']>) => {
          const account = await target.createAccount(...args);
          return screened(account, { account: account.id }, () => target.getAccount(account.id));
        };
      }
      if (prop === 'updateAccount') {
        return async (...args: Parameters<IdentityStore['updateAccount']>) => {
          const account = await target.updateAccount(...args);
          return screened(account, { account: account.id }, () => target.getAccount(account.id));
        };
      }
      if (prop === 'updateOrg') {
        return async (...args: Parameters<IdentityStore['updateOrg']>) => {
          const org = await target.updateOrg(...args);
          return screened(org, { org: org.id }, async () => org);
        };
      }
      if (prop === 'setAccountStatus') {
        return async (...args: Parameters<IdentityStore['setAccountStatus']>) => {
          const [id, status, actor] = args;
          const tags = status === 'active' && 'heldFor' in rescreener ? await rescreener.heldFor(id).catch(() => []) : [];
          const account = await target.setAccountStatus(...args);
          if (tags.length > 0) (rescreener as Rescreener).onClear?.({ account_id: id, at: new Date().toISOString(), tags, by: actor.by, reason: actor.reason ?? null });
          return account;
        };
      }
      const value = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
