/**
 * A deletion request in the case files: the cases an account is a member of keep its id and
 * verdict (the case's evidence), not its signup facts, nor the values only it shared.
 */
import { exchangeValue, keyedHash, type IndicatorKind } from '../detect/index.ts';
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
  /** Indicators already published over TAXII for the removed values (partners hold copies: withdraw the case to revoke them). */
  published_indicators: number;
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

/** Blank the account's facts in every case naming it, and drop the values it alone held. Idempotent. */
export async function eraseAccountFromCases(store: CaseStore, accountId: string, values: ErasableValues, sharingKey: string | null): Promise<CasesErased> {
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
  const out: CasesErased = { cases: 0, members: 0, values: 0, shared_values_kept: 0, published_indicators: 0 };
  for (const id of await store.casesOfAccount(accountId)) {
    const c = await store.getCase(id);
    if (!c) continue;
    let changed = false;
    for (const m of c.members) {
      if (m.account_id !== accountId || (m.email_domain === null && m.claimed_country === null && m.signup_ip === null)) continue;
      m.email_domain = null; m.claimed_country = null; m.signup_ip = null;
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
      if (sharingKey) {
        const hashes = new Set(removed.map((o) => keyedHash(sharingKey, o.kind, o.value)));
        for (const p of await store.publishedOfCase(id)) {
          const pattern = typeof p.body.pattern === 'string' ? p.body.pattern : '';
          if ([...hashes].some((h) => pattern.includes(h))) out.published_indicators++;
        }
      }
    }
    if (changed) {
      await store.putCase(c);
      out.cases++;
    }
  }
  return out;
}
