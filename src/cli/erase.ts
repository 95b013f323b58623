/**
 * A deletion request for one account (GDPR Art. 17 style): one admin route,
 * `POST /admin/accounts/{id}/erase` (`warden accounts erase ID`), erases the account's personal data
 * everywhere this node keeps it. It spans capabilities (identity, events, the dashboard's usage
 * rows, the ledger, the detector, cases, batches and files), so it lives in the composition root.
 */
import { z } from 'zod';
import { WardenError } from '../errors/index.ts';
import type { IdentityStore } from '../identity/index.ts';
import { recordedText } from '../identity/schemas.ts';
import type { AdminRouteRegistrar } from '../admin/router.ts';
import type { DetectorEngine, SharedIndicators, VerdictView } from '../detect/index.ts';
import { casesHolding, eraseAccountFromCases, erasedPseudonym, type CaseStore } from '../cases/index.ts';
import { prepareErasure, type Ledger } from '../ledger/index.ts';
import { eraseUsageClientIps } from '../ui/usage.ts';
import type { BatchStore, FileStore } from '../batches/index.ts';
import type { Stores } from './stores.ts';
import { truncateWal } from '../store/index.ts';

/** Distinct client addresses and user agents read from the account's events to find them in case files. */
const VALUES_READ_MAX = 10_000;
/** Batches and files deleted per listing. */
const PAGE = 500;

export interface AccountEraseDeps {
  identity: IdentityStore;
  stores: Stores;
  sqlitePath: string;
  verdicts: VerdictView;
  ledger: Ledger | null;
  engine: DetectorEngine | null;
  /** Resolves once the events recorded so far are stored (the gateway's event buffer). */
  flushEvents?: () => Promise<void>;
  /** Resolves once the events handed to the detector so far are ingested. */
  detectorDrained?: () => Promise<void>;
  /** Write the detector's snapshot now (so the file keeps nothing erased), when snapshots are on. */
  saveSnapshot?: () => Promise<unknown>;
  /** On a detector worker: rewrite the account's events still in the Redis stream from replicas. */
  eraseFromStream?: (accountId: string, at: string) => Promise<{ entries: number; events: number }>;
  /** Partners' indicators in force here, with their sightings in memory. */
  intel?: SharedIndicators | null;
  /** The case store; `publishTargets`: each published collection and the key it is hashed with (else the sharing key's shared one). */
  cases: { store: CaseStore; sharingKey: string | null; publishTargets?: () => ReadonlyArray<{ collection: string; key: string }> } | null;
  batches: { batches: BatchStore; files: FileStore } | null;
}

export const EraseBody = z.strictObject({
  override_hold: z.boolean().default(false).describe('Erase an account under a legal hold (an open or confirmed case, a suspend verdict on it or its cluster); needs `reason`.'),
  // The change history's rule (line breaks made spaces; other control and bidirectional-control
  // characters refused), checked here: the history records it last, after everything else is erased.
  reason: recordedText(1000, 1).optional().describe('Why (recorded in the ledger as a commitment, and in the change history). Required with override_hold. Line breaks and tabs become spaces; other control and bidirectional-control characters are refused (400), before anything is erased.'),
});

export const EraseReport = z.object({
  account_id: z.string(),
  erased_at: z.string(),
  changed: z.boolean().describe('False when a run before erased everything already (nothing changed, nothing recorded).'),
  override_hold: z.boolean(),
  held_by: z.array(z.string()).describe('What held the account (overridden): `case:<id>`, `verdict:<level> on <subject>`.'),
  keys_revoked: z.number().int(),
  account_fields: z.number().int().describe('Signup facts blanked in the account record.'),
  identity_changes: z.number().int().describe('Change-history rows whose old and new values were blanked (renames).'),
  events: z.number().int(),
  usage_rows: z.number().int().describe('Dashboard usage rows whose client IP was blanked.'),
  ledger_entries: z.number().int().describe('Ledger entries whose openings were erased (leaves and checkpoints unchanged).'),
  detector: z.object({ link_keys: z.number().int(), pair_evidence: z.number().int(), forgotten: z.boolean(), snapshot_written: z.boolean() }).nullable()
    .describe('Null when this node runs no detector.'),
  cases: z.object({
    cases: z.number().int(), members: z.number().int(), values: z.number().int(), shared_values_kept: z.number().int(),
    published_indicators: z.number().int().describe('Indicators published over TAXII for the values removed from case files.'),
    withdrawn_indicators: z.number().int().describe('Published indicators made from the account\'s values revoked now (a new version with `revoked: true`, read by partners polling the collection).'),
    withdrawn_kept: z.number().int().describe('Indicators left in force because another case (other accounts) publishes the same value.'),
    sighting_accounts: z.number().int().describe('Sightings of partners\' indicators whose account id was replaced by a pseudonym (counts kept).'),
  }).nullable(),
  stream: z.object({ entries: z.number().int(), events: z.number().int() }).nullable()
    .describe('On a detector worker: entries of the Redis event stream rewritten without the account\'s personal data, and its events in them. Null elsewhere.'),
  files: z.number().int().describe('Uploaded and output files deleted.'),
  batches: z.number().int().describe('Batches (requests and results) deleted; open ones are cancelled first.'),
  ledger_record: z.string().nullable().describe('Id of the ledger entry recording this erasure; null when nothing changed or there is no ledger.'),
});
export type EraseReport = z.infer<typeof EraseReport>;

/** What holds an account against erasure: live cases naming it, a suspend verdict on it or its cluster. */
async function holdsOn(deps: AccountEraseDeps, accountId: string): Promise<string[]> {
  const held: string[] = [];
  if (deps.cases) for (const id of await casesHolding(deps.cases.store, accountId)) held.push(`case:${id}`);
  const v = deps.verdicts.forAccount(accountId);
  if (v.level === 'suspend') held.push(`verdict:suspend on ${v.verdict ? `${v.verdict.subject.kind} ${v.verdict.subject.id}` : `account ${accountId}`}`);
  return held;
}

export async function eraseAccount(deps: AccountEraseDeps, accountId: string, opts: { actor: string; overrideHold: boolean; reason: string | null }): Promise<EraseReport> {
  const account = await deps.identity.getAccount(accountId);
  if (!account) throw new WardenError('WARDEN_NOT_FOUND', `account ${accountId} not found`);
  if (opts.overrideHold && !opts.reason) throw new WardenError('WARDEN_INVALID_REQUEST', 'override_hold needs a reason', { param: 'reason' });
  const held = await holdsOn(deps, accountId);
  if (held.length && !opts.overrideHold) {
    throw new WardenError('WARDEN_CONFLICT', `account ${accountId} is under a legal hold (${held.join(', ')}); nothing was erased. Erase it anyway with override_hold and a reason (warden accounts erase ${accountId} --override-hold --reason TEXT)`);
  }
  const actor = { by: opts.actor, reason: opts.reason ?? 'erasure request' };

  // First, nothing new: the account's keys stop working.
  let keysRevoked = 0;
  for (let cursor: string | undefined; ;) {
    const page = await deps.identity.listKeys({ account_id: accountId, limit: 100, cursor });
    for (const k of page.data) { await deps.identity.revokeKey(k.id, actor); keysRevoked++; }
    if (!page.next_cursor) break;
    cursor = page.next_cursor;
  }

  // What the account sent before its keys stopped is stored and seen by the detector first: an
  // event written or ingested after the erase would bring its data back.
  await deps.flushEvents?.();
  await deps.detectorDrained?.();
  // Replicas' events still in the Redis stream: rewritten without personal data; what the worker
  // read of them meanwhile reaches the engine before its erase below.
  const streamAt = new Date().toISOString();
  const stream = deps.eraseFromStream ? await deps.eraseFromStream(accountId, streamAt) : null;
  if (stream?.entries) await deps.detectorDrained?.();

  // The values the case files may hold, read before the events are erased.
  const clientIps = new Set<string>();
  const agents = new Set<string>();
  if (deps.cases) {
    for await (const e of deps.stores.events.iterate({ accountId })) {
      if (e.client.ip && clientIps.size < VALUES_READ_MAX) clientIps.add(e.client.ip);
      if (e.client.user_agent && agents.size < VALUES_READ_MAX) agents.add(e.client.user_agent);
    }
  }

  const at = new Date().toISOString();
  const events = await deps.stores.events.eraseAccount(accountId, at);
  const usageRows = await eraseUsageClientIps(deps.stores.pg ? { pg: deps.stores.pg } : { sqlitePath: deps.sqlitePath }, accountId);
  const ledgerEntries = deps.ledger ? (await deps.ledger.erase({ accountId })).erased : 0;

  let detector: EraseReport['detector'] = null;
  if (deps.engine) {
    const gone = deps.engine.eraseAccount(accountId);
    detector = { link_keys: gone?.linkKeys ?? 0, pair_evidence: gone?.pairs ?? 0, forgotten: gone?.forgotten ?? false, snapshot_written: false };
  }

  // Sightings in memory first: what they have not stored yet would bring the id back otherwise.
  const pseudonym = erasedPseudonym();
  deps.intel?.renameAccount(accountId, pseudonym);
  const cases = deps.cases
    ? await eraseAccountFromCases(deps.cases.store, accountId, {
      email_domain: account.email_domain, signup_ip: account.signup_ip, payment_fp: account.payment_fp, client_ips: [...clientIps], user_agents: [...agents],
    }, deps.cases.publishTargets?.() ?? deps.cases.sharingKey, pseudonym)
    : null;

  let files = 0;
  let batches = 0;
  if (deps.batches) {
    const { batches: store, files: fileStore } = deps.batches;
    for (;;) {
      const list = await store.recent({ accountId }, PAGE);
      for (const b of list) {
        if (!b.ended_at) await store.cancel(b.id, Date.now());
        if (await store.delete(b.id)) batches++;
      }
      if (list.length < PAGE) break;
    }
    for (;;) {
      const list = await fileStore.recent({ accountId }, PAGE);
      for (const f of list) if (await fileStore.delete(f.id)) files++;
      if (list.length < PAGE) break;
    }
  }

  // Last: the record's facts found the values above, so a run cut short finds them again.
  const facts = await deps.identity.eraseAccountFacts(accountId, actor);

  const detectorChanged = detector ? detector.link_keys + detector.pair_evidence > 0 || detector.forgotten : false;
  const casesChanged = cases ? cases.cases + cases.withdrawn_indicators + cases.sighting_accounts > 0 : false;
  const counts: Record<string, number> = {
    keys_revoked: keysRevoked, account_fields: facts.fields, identity_changes: facts.changes, events, usage_rows: usageRows,
    ledger_entries: ledgerEntries, detector_link_keys: detector?.link_keys ?? 0, detector_pair_evidence: detector?.pair_evidence ?? 0,
    case_files: cases?.cases ?? 0, case_values: cases?.values ?? 0, files, batches,
    // What partners were told to drop, as counts: ledger leaves are public and permanent, and an
    // indicator's id would tie the account to a keyed hash of its value.
    published_indicators_withdrawn: cases?.withdrawn_indicators ?? 0, sighting_accounts: cases?.sighting_accounts ?? 0,
    stream_events: stream?.events ?? 0,
  };
  const changed = detectorChanged || casesChanged || Object.values(counts).some((n) => n > 0);
  if (detector && detectorChanged && deps.saveSnapshot) {
    await deps.saveSnapshot();
    detector.snapshot_written = true;
  }
  let ledgerRecord: string | null = null;
  if (deps.ledger && changed) {
    const entry = prepareErasure({ accountId, by: opts.actor, reason: opts.reason, overrideHold: held.length > 0 && opts.overrideHold, erased: counts });
    await deps.ledger.appendPrepared(entry);
    ledgerRecord = entry.record.id;
  }
  // The events erase truncated warden.db's write-ahead log, but the case files, batches, files and
  // the account record were written after it: until a checkpoint, the database file keeps their
  // pages from before the erase (the whole account row) and the WAL their intermediate frames.
  // Truncated again, last, so that a second run (after a reader kept it from being truncated) does it.
  if (deps.stores.sqlite) truncateWal(deps.stores.sqlite, 'account erase');
  return {
    account_id: accountId, erased_at: at, changed, override_hold: held.length > 0 && opts.overrideHold, held_by: held,
    keys_revoked: keysRevoked, account_fields: facts.fields, identity_changes: facts.changes, events, usage_rows: usageRows,
    ledger_entries: ledgerEntries, detector, cases, stream, files, batches, ledger_record: ledgerRecord,
  };
}

/** `POST /admin/accounts/{id}/erase`. */
export function eraseAdminRoutes(deps: AccountEraseDeps): AdminRouteRegistrar {
  return (r) => {
    r.component('EraseReport', EraseReport);
    r.route({
      method: 'POST', path: '/accounts/:id/erase', operationId: 'eraseAccount', tag: 'accounts',
      summary: 'Erase an account\'s personal data everywhere Warden keeps it (a deletion request)',
      description: 'Revokes the account\'s keys, then erases its signup facts (the record keeps id, org, tier, programme, status and times), '
        + 'the personal data of its events and dashboard usage rows, the ledger\'s openings, the detector\'s link evidence, its facts in case files, '
        + 'and its batches and files; records the erasure in the ledger (who, when, why, counts). Refused (409) while a legal hold is on the account '
        + 'unless override_hold with a reason. Idempotent: a second run changes nothing and records nothing.',
      errors: { 409: 'the account is under a legal hold (an open or confirmed case, a suspend verdict on it or its cluster): pass override_hold and a reason' },
      params: z.strictObject({ id: z.string().min(1).max(100) }), body: EraseBody, response: EraseReport,
      handler: ({ params, body, actor }) => eraseAccount(deps, params.id, { actor, overrideHold: body.override_hold, reason: body.reason ?? null }),
    });
  };
}
