/**
 * A deletion request in the case files: the cases an account is a member of keep its id and
 * verdict (the case's evidence), not its signup facts, nor the values only it shared; what was
 * published to partners from those values is revoked, and sightings of partners' indicators keep
 * their counts but not the account's id.
 */
import { randomBytes } from 'node:crypto';
import { exchangeValue, keyedHash, type IndicatorKind } from '../detect/index.ts';
import { PUBLISHED_COLLECTION, withdrawIndicators } from './publish.ts';
import type { CaseStore } from './store.ts';
import type { CaseStatus } from './types.ts';

/** Cases that hold an account for an erasure: open or confirmed (a dismissed or closed one does not). */
export const HOLDING_STATUSES: readonly CaseStatus[] = ['open', 'confirmed'];

/** The account's own values (its signup facts and the addresses and agents it sent from). */
export interface ErasableValues {
  email_domain?: string | null;
  signup_ip?: string | null;
  payment_fp?: string | null;
  client_ips?: readonly string[];
  user_agents?: readonly string[];
}

export interface CasesErased {
  /** Cases changed. */
  cases: number;
  /** Member rows whose signup facts were blanked. */
  members: number;
  /** Observables removed: values the account alone held. */
  values: number;
  /** Observables the account shared with other members: kept (they are the campaign's evidence). */
  shared_values_kept: number;
  /** Indicators published over TAXII for the removed values. */
  published_indicators: number;
  /** Indicators made from the account's values revoked now in the published collection (partners polling it read the revocation). */
  withdrawn_indicators: number;
  /** Of those the cases stopped publishing, indicators left in force because another case (other accounts) publishes the same value. */
  withdrawn_kept: number;
  /** Sightings of partners' indicators that named the account: the id replaced by a pseudonym, the counts kept. */
  sighting_accounts: number;
}

/** What replaces an erased account's id where only counts of accounts matter: random, so not traced back. */
export function erasedPseudonym(): string {
  return `erased_${randomBytes(8).toString('hex')}`;
}

/** The cases naming the account that hold it (open or confirmed), by id. */
export async function casesHolding(store: CaseStore, accountId: string): Promise<string[]> {
  const out: string[] = [];
  for (const id of await store.casesOfAccount(accountId)) {
    const c = await store.getCase(id);
    if (c && HOLDING_STATUSES.includes(c.status)) out.push(id);
  }
  return out;
}

/**
 * Blank the account's facts in every case naming it, drop the values it alone held, revoke the
 * published indicators made from its values that no case keeps as shared evidence, and take its id
 * out of the sightings of partners' indicators. Idempotent.
 */
export async function eraseAccountFromCases(store: CaseStore, accountId: string, values: ErasableValues, publishedWith: string | null | ReadonlyArray<{ collection: string; key: string }>, pseudonym = erasedPseudonym()): Promise<CasesErased> {
  // The published collections and the key each is hashed with (a sharing key alone: the shared collection).
  const targets = typeof publishedWith === 'string' ? [{ collection: PUBLISHED_COLLECTION, key: publishedWith }] : publishedWith ?? [];
  const mine = new Set<string>();
  const add = (kind: IndicatorKind, raw: string | null | undefined) => {
    if (!raw) return;
    const v = exchangeValue(kind, raw);
    if (v !== null) mine.add(`${kind}\n${v}`);
  };
  add('email_domain', values.email_domain);
  add('payment_fp', values.payment_fp);
  for (const ip of [values.signup_ip, ...(values.client_ips ?? [])]) { add('client_ip', ip); add('client_subnet', ip); }
  for (const ua of values.user_agents ?? []) add('user_agent', ua);
  const out: CasesErased = { cases: 0, members: 0, values: 0, shared_values_kept: 0, published_indicators: 0, withdrawn_indicators: 0, withdrawn_kept: 0, sighting_accounts: 0 };
  for (const id of await store.casesOfAccount(accountId)) {
    const c = await store.getCase(id);
    if (!c) continue;
    let changed = false;
    for (const m of c.members) {
      if (m.account_id !== accountId || (m.email_domain === null && m.claimed_country === null && m.signup_ip === null && (m.claimed_subdivision ?? null) === null)) continue;
      m.email_domain = null; m.claimed_country = null; m.signup_ip = null;
      if (m.claimed_subdivision !== undefined) m.claimed_subdivision = null;
      out.members++;
      changed = true;
    }
    const removed: { kind: IndicatorKind; value: string }[] = [];
    c.observables = c.observables.filter((o) => {
      if (!mine.has(`${o.kind}\n${o.value}`)) return true;
      if (o.holders > 1) { out.shared_values_kept++; return true; }
      removed.push(o);
      return false;
    });
    if (removed.length) {
      out.values += removed.length;
      changed = true;
      for (const t of targets) {
        const hashes = new Set(removed.map((o) => keyedHash(t.key, o.kind, o.value)));
        for (const p of await store.publishedOfCase(id)) {
          const pattern = typeof p.body.pattern === 'string' ? p.body.pattern : '';
          if (p.collection === t.collection && [...hashes].some((h) => pattern.includes(h))) out.published_indicators++;
        }
      }
    }
    if (changed) {
      await store.putCase(c);
      out.cases++;
    }
    for (const t of targets) {
      // Every value of the account the case no longer keeps as shared evidence, not only those
      // removed now: an erasure run before indicators were withdrawn left them published.
      const hashes = new Set<string>();
      for (const entry of mine) {
        const at = entry.indexOf('\n');
        const kind = entry.slice(0, at) as IndicatorKind;
        const value = entry.slice(at + 1);
        if (!c.observables.some((o) => o.kind === kind && o.value === value)) hashes.add(keyedHash(t.key, kind, value));
      }
      if (hashes.size) {
        const pattern = (body: Record<string, unknown>) => (typeof body.pattern === 'string' ? body.pattern : '');
        const gone = await withdrawIndicators(store, id, (body) => [...hashes].some((h) => pattern(body).includes(h)), new Date(), t.collection);
        out.withdrawn_indicators += gone.withdrawn.length;
        out.withdrawn_kept += gone.kept;
      }
    }
  }
  out.sighting_accounts = await store.renameSightingAccount(accountId, pseudonym);
  return out;
}
