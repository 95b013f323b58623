/**
 * `warden cases ...` and `warden intel ...`: case files and threat-intel exchange from the command
 * line, through the admin API (/admin/cases, /admin/intel) of the node that runs the detector.
 */
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { cliExitCode, printableLines, textTable as table } from '../admin/index.ts';
import { WardenError } from '../errors/index.ts';
import { caseReportMarkdown, CASE_STATUSES, IMPORT_LEVELS, type CaseFile, type CaseSummary, type FeedState, type PublishResult, type PartnerSighting, type CaseExchange, type PartnerExchangeView, type PinsReloaded, pinsReloadedLine } from '../cases/index.ts';
import { heldAlone, type SharedIndicator, type Sighting } from '../detect/index.ts';
import { CONNECTION_HELP, CONNECTION_OPTIONS, openAdminClient } from './admin-connection.ts';

const CASES_HELP = `usage:
  warden cases list [--status S] [--limit N]    cases, newest first
  warden cases open CAMPAIGN_ID [--title T] [--note N]
                                               open a case on a campaign (warden detect campaigns lists them)
  warden cases show ID                         the case: campaign, members, shared values, ledger anchor
  warden cases report ID                       the report, in Markdown
  warden cases note ID [--text T] [--status S] record a note or a decision
  warden cases refresh ID                      rebuild from the campaign as it stands now
  warden cases export ID [--valid-days N]      the case's shareable values as a STIX 2.1 bundle (keyed hashes), on stdout
  warden cases publish ID [--valid-days N]     publish them to partners on the TAXII server (again: new versions, and
                                               values no longer shareable revoked)
  warden cases withdraw ID                     revoke everything the case published (dismissing a case does it too)

options:
${CONNECTION_HELP}
statuses: ${CASE_STATUSES.join(', ')}`;

const INTEL_HELP = `usage:
  warden intel list                            imported indicators, their sightings, the sharing key's id
  warden intel import FILE [--level L] [--source NAME] [--public-key ed25519:...]...
                                               import a partner's STIX 2.1 bundle (- for stdin); with
                                               --public-key (again: either key) only what it signed
  warden intel remove (--source NAME | --id ID | --stale)
                                               --stale: those hashed with another sharing key (after a key change)
  warden intel sightings [--source NAME]       sightings of imported indicators as a STIX 2.1 bundle, to send back
                                               (--source: that partner's indicators only)
  warden intel feeds                           partners' TAXII feeds (cases.feeds): last poll, last error, counts
  warden intel pull NAME [--from-start]        poll one feed now (--from-start: the whole collection again,
                                               not only what was added since the last poll)
  warden intel partners                        partners (cases.partners): trust, review hold, the id of the key
                                               agreed with each, the collection each reads, the ids of its signing
                                               keys pinned; what each was last sent and what came from it last
  warden intel rotate-key [--overlap-days N]   a new signing key for what this provider shares: the key in force
                                               signs N days more (14), then the new one; both public keys printed
                                               for partners to pin in the meantime
  warden intel pins-reload                     read the configuration again and pin the signing keys it gives
                                               partners and feeds (what SIGHUP does), without a restart
  warden intel rotate NAME [--grace-days N] [--key-env VAR]
                                               a new key for the partner (made here, or read from VAR): printed
                                               once; the key before matches its indicators for N days (14)
  warden intel approve (--id ID | --source NAME)
                                               let indicators held for review act (an operator reviewed them)

options:
${CONNECTION_HELP}
levels: ${IMPORT_LEVELS.join(', ')}`;

export interface CasesCliIo { out: (t: string) => void; err: (t: string) => void; env: NodeJS.ProcessEnv; stdin?: () => string }

const OPTIONS = {
  ...CONNECTION_OPTIONS,
  status: { type: 'string' }, limit: { type: 'string' }, title: { type: 'string' }, note: { type: 'string' }, text: { type: 'string' },
  'valid-days': { type: 'string' }, level: { type: 'string' }, source: { type: 'string' }, id: { type: 'string' }, stale: { type: 'boolean' }, 'from-start': { type: 'boolean' },
  'grace-days': { type: 'string' }, 'overlap-days': { type: 'string' }, 'key-env': { type: 'string' }, 'public-key': { type: 'string', multiple: true },
  account: { type: 'string' }, purpose: { type: 'string' },
} as const;

type Parsed = ReturnType<typeof parseArgs<{ args: string[]; options: typeof OPTIONS; allowPositionals: true }>>;

function io(ioIn: Partial<CasesCliIo>): CasesCliIo {
  return {
    out: ioIn.out ?? ((t) => process.stdout.write(t + '\n')), err: ioIn.err ?? ((t) => process.stderr.write(t + '\n')),
    env: ioIn.env ?? process.env, stdin: ioIn.stdin ?? (() => readFileSync(0, 'utf8')),
  };
}

/** Parse, run one command against the admin API, print; exit 0 done, 1 failed, 2 bad usage. */
export async function run(argv: string[], help: string, ioIn: Partial<CasesCliIo>, command: (p: Parsed, c: ReturnType<typeof openAdminClient>, o: CasesCliIo) => Promise<{ result: unknown; text: string } | string>): Promise<number> {
  const o = io(ioIn);
  let p: Parsed;
  try { p = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true }); } catch (err) {
    o.err(`error: ${(err as Error).message}\n${help}`);
    return 2;
  }
  if (p.values.help || !p.positionals[0]) { o.out(help); return p.positionals[0] || p.values.help ? 0 : 2; }
  try {
    const done = await command(p, openAdminClient(p.values, o.env), o);
    if (typeof done === 'string') { o.err(`error: ${done}\n${help}`); return 2; }
    o.out(p.values.json && typeof done.result !== 'string' ? JSON.stringify(done.result, null, 2) : printableLines(done.text));
    return 0;
  } catch (err) {
    o.err(printableLines(err instanceof WardenError ? `error: ${err.message} (${err.code})` : `error: ${(err as Error).message}`));
    return cliExitCode(err);
  }
}

/** The case commands that take a case id. */
const CASE_COMMANDS = ['show', 'report', 'note', 'refresh', 'publish', 'withdraw', 'export'];

export function runCasesCli(argv: string[], ioIn: Partial<CasesCliIo> = {}): Promise<number> {
  return run(argv, CASES_HELP, ioIn, async ({ values: v, positionals: [what, id, ...extra] }, c) => {
    const enc = encodeURIComponent;
    if (extra.length) return `unexpected arguments: ${extra.join(' ')}`;
    if (what === 'list' && !id) {
      const r = await c.call<{ data: CaseSummary[] }>('GET', '/cases', { query: { status: v.status, limit: v.limit } });
      return { result: r, text: r.data.length ? table(r.data.map((x) => ({ ...x })), ['id', 'status', 'level', 'members', 'campaign_id', 'opened_at', 'title']) : '(no cases)' };
    }
    if (what === 'open' && id) {
      const r = await c.call<CaseFile>('POST', '/cases', { body: { campaign_id: id, ...(v.title ? { title: v.title } : {}), ...(v.note ? { note: v.note } : {}) } });
      return { result: r, text: `${r.id}: opened on campaign ${r.campaign_id} (${r.members.length} accounts, ${r.observables.filter((x) => x.shareable).length} shareable values)` };
    }
    if (what === 'open') return 'open: give the campaign id (warden detect campaigns lists them)';
    if (!CASE_COMMANDS.includes(what)) return `unknown command: cases ${what}`;
    if (!id) return `${what}: give a case id`;
    if (what === 'show') {
      const r = await c.call<CaseFile>('GET', `/cases/${enc(id)}`);
      return { result: r, text: caseText(r) };
    }
    if (what === 'report') {
      const r = await c.call<CaseFile>('GET', `/cases/${enc(id)}/report`, { query: { format: 'json' } });
      const exchange = await c.call<CaseExchange>('GET', `/cases/${enc(id)}/exchange`);
      return { result: r, text: caseReportMarkdown(r, exchange) };
    }
    if (what === 'note') {
      if (!v.text && !v.status) return 'give --text, --status or both';
      const r = await c.call<CaseFile>('PATCH', `/cases/${enc(id)}`, { body: { ...(v.text ? { note: v.text } : {}), ...(v.status ? { status: v.status } : {}) } });
      return { result: r, text: `${r.id}: ${r.status}, ${r.notes.length} notes` };
    }
    if (what === 'refresh') {
      const r = await c.call<CaseFile>('POST', `/cases/${enc(id)}/refresh`);
      return { result: r, text: `${r.id}: ${r.notes[r.notes.length - 1]?.text}` };
    }
    if (what === 'publish') {
      const r = await c.call<PublishResult>('POST', `/cases/${enc(id)}/publish`, { query: { valid_days: v['valid-days'] } });
      return { result: r, text: `${id}: ${r.indicators} indicators published to partners${r.revoked ? `, ${r.revoked} no longer shareable revoked` : ''}${r.kept ? `, ${r.kept} no longer shareable left in force (another case publishes them)` : ''} (${r.versions} object versions)` };
    }
    if (what === 'withdraw') {
      const r = await c.call<PublishResult>('DELETE', `/cases/${enc(id)}/publish`);
      return { result: r, text: `${id}: withdrawn, ${r.revoked} indicators revoked for partners${r.kept ? `, ${r.kept} left in force (another case publishes them)` : ''}` };
    }
    if (what === 'export') {
      const r = await c.call<unknown>('GET', `/cases/${enc(id)}/stix`, { query: { valid_days: v['valid-days'] } });
      return { result: r, text: JSON.stringify(r, null, 2) };
    }
    return `unknown command: cases ${what}`;
  });
}

export function runIntelCli(argv: string[], ioIn: Partial<CasesCliIo> = {}): Promise<number> {
  return run(argv, INTEL_HELP, ioIn, async ({ values: v, positionals: [what, file, ...extra] }, c, o) => {
    if (extra.length) return `unexpected arguments: ${extra.join(' ')}`;
    if (what === 'list' && !file) {
      const r = await c.call<{ key_id: string | null; indicators: Array<SharedIndicator & { held?: { reason: string; accounts: number } | null }>; stale: SharedIndicator[]; sightings: Sighting[]; partner_sightings: PartnerSighting[] }>('GET', '/intel');
      const seen = new Map(r.sightings.map((s) => [s.indicator_id, s]));
      const status = (held: { reason: string; accounts: number } | null | undefined) => (!held ? 'in force' : /waits for an operator's review/.test(held.reason) ? 'held: waits for review (warden intel approve)' : `held: ${held.accounts} established accounts share it`);
      const rows = r.indicators.map((i) => ({ id: i.id, kind: i.kind, level: levelImposed(i), source: i.source, campaign: i.campaign, valid_until: i.valid_until, status: status(i.held), sightings: seen.get(i.id)?.count ?? 0, accounts: seen.get(i.id)?.accounts ?? 0 }));
      const theirs = r.partner_sightings.length ? `\n\npartners' sightings of our indicators:\n${table(r.partner_sightings.map((p) => ({ ...p })), ['source', 'indicator_id', 'count', 'accounts', 'first_seen', 'last_seen'])}` : '';
      const stale = r.stale.length ? `\n${r.stale.length} stored indicators were hashed with another sharing key and cannot match (warden intel remove --stale)` : '';
      return { result: r, text: `sharing key: ${r.key_id ?? 'none (cases.sharing_key): nothing is matched'}${stale}\n${rows.length ? table(rows, ['id', 'kind', 'level', 'status', 'source', 'campaign', 'valid_until', 'sightings', 'accounts']) : '(no indicators)'}${theirs}` };
    }
    if (what === 'import' && file) {
      if (v.level && !(IMPORT_LEVELS as readonly string[]).includes(v.level)) return `--level is one of ${IMPORT_LEVELS.join(', ')}`;
      let bundle: unknown;
      // A file that cannot be read or is not JSON is bad input, as a body that is not a bundle is (exit 2).
      try { bundle = JSON.parse(file === '-' ? o.stdin!() : readFileSync(file, 'utf8')); } catch (err) {
        throw new WardenError('WARDEN_INVALID_REQUEST', `${file}: ${(err as Error).message}`);
      }
      const r = await c.call<{ imported: number; revoked: number; skipped: Array<{ id: string; reason: string }> }>('POST', '/intel/import', { body: bundle, query: { level: v.level, source: v.source, public_key: v['public-key']?.join(',') } });
      const skipped = r.skipped.map((s) => `  skipped ${s.id}: ${s.reason}`);
      return { result: r, text: [`${r.imported} indicators imported, ${r.revoked} revoked, ${r.skipped.length} skipped`, ...skipped].join('\n') };
    }
    if (what === 'remove' && !file) {
      if ([v.source, v.id, v.stale].filter(Boolean).length !== 1) return 'give exactly one of --source, --id or --stale';
      await c.call('DELETE', '/intel', { query: v.stale ? { stale: 'true' } : v.id ? { id: v.id } : { source: v.source } });
      if (v.stale) return { result: { removed: 'stale' }, text: 'indicators hashed with another sharing key: removed' };
      return { result: { removed: v.id ?? v.source }, text: `${v.id ? `indicator ${v.id}` : `indicators from ${v.source}`}: removed, no longer matched` };
    }
    if (what === 'feeds' && !file) {
      const r = await c.call<{ feeds: FeedState[] }>('GET', '/intel/feeds');
      return { result: r, text: r.feeds.length ? table(r.feeds.map((f) => ({ ...f, last_error: f.last_error ?? '', pinned_keys: pinnedText(f.pinned_keys) })), ['name', 'url', 'last_poll_at', 'last_ok_at', 'imported', 'revoked', 'skipped', 'pinned_keys', 'last_error']) : '(no feeds: cases.feeds)' };
    }
    if (what === 'pull' && file) {
      const r = await c.call<FeedState>('POST', `/intel/feeds/${encodeURIComponent(file)}/pull`, v['from-start'] ? { query: { from_start: 'true' } } : undefined);
      return { result: r, text: `${r.name}: polled; ${r.imported} indicators taken in, ${r.revoked} revoked, ${r.skipped} skipped so far` };
    }
    if (what === 'sightings' && !file) {
      const r = await c.call<unknown>('GET', '/intel/sightings', { query: { source: v.source } });
      return { result: r, text: JSON.stringify(r, null, 2) };
    }
    if (what === 'partners' && !file) {
      const r = await c.call<{ partners: PartnerExchangeView[] }>('GET', '/intel/partners');
      if (!r.partners.length) return { result: r, text: '(no partners listed: cases.partners; every source is on the sharing key)' };
      const rows = r.partners.map((p) => ({ ...p, key_id: p.key_id ?? 'none', previous_keys: p.previous_keys.map((k) => `${k.key_id} until ${k.until}`).join(', '), pinned_keys: pinnedText(p.pinned_keys) }));
      // The last exchange either way in a table of its own: one line per partner stays readable.
      const exchanged = r.partners.map((p) => ({
        name: p.name, last_sent_at: p.sent?.at ?? null, last_sent: p.sent ? sentText(p.sent) : null, ...p.received,
      }));
      return { result: r, text: `${table(rows, ['name', 'trust', 'hold', 'key_id', 'key_origin', 'collection', 'previous_keys', 'pinned_keys'])}\n\nlast exchange (sent: the last change to the collection it reads; received: its indicators held now, of which waiting for review):\n${table(exchanged, ['name', 'last_sent_at', 'last_sent', 'last_indicator_at', 'indicators', 'held', 'last_sighting_at', 'last_feed_poll_at'])}` };
    }
    if (what === 'rotate' && file) {
      const graceDays = v['grace-days'] === undefined ? undefined : Number(v['grace-days']);
      if (graceDays !== undefined && !(Number.isInteger(graceDays) && graceDays >= 0)) return '--grace-days is a whole number of days';
      // A key the partner made is read from the environment, never from the command line (shell history, ps).
      const key = v['key-env'] === undefined ? undefined : o.env[v['key-env']];
      if (v['key-env'] !== undefined && !key) return `--key-env: ${v['key-env']} is not set`;
      const r = await c.call<{ key: string; key_id: string; previous: Array<{ key_id: string; until: string }>; republished: number }>('POST', `/intel/partners/${encodeURIComponent(file)}/rotate`, { body: { key, grace_days: graceDays } });
      const before = r.previous.map((p) => `the key before (${p.key_id}) matches its indicators until ${p.until}`).join('; ');
      return { result: r, text: [`${file}: new key ${r.key_id}${key ? ' (the one given)' : `:
  ${r.key}
  (shown once: give it to ${file} by a channel you trust)`}`, `${r.republished} published cases published again to its collection under it${before ? `; ${before}` : ''}`].join('\n') };
    }
    if (what === 'rotate-key' && !file) {
      const days = v['overlap-days'] === undefined ? 14 : Number(v['overlap-days']);
      if (!(Number.isInteger(days) && days >= 0 && days <= 365)) return '--overlap-days is a whole number of days, 0 to 365';
      const r = await c.call<{ key_id: string; public_key: string; next: { key_id: string; public_key: string; from: string } | null }>('POST', '/intel/signing/rotate', { body: { overlap_days: days } });
      const text = r.next
        ? [`new signing key staged: ${r.next.key_id}, signing from ${r.next.from}; until then ${r.key_id} signs.`,
          'Send partners the new public key now, to pin beside the one they have (public_key: [old, new]):',
          `  in force: ${r.public_key}`, `  new:      ${r.next.public_key}`,
          `After ${r.next.from}, partners drop ${r.key_id} from their pin.`]
        : [`new signing key ${r.key_id}, signing now (no overlap): partners must pin ${r.public_key}`];
      return { result: r, text: text.join('\n') };
    }
    if (what === 'pins-reload' && !file) {
      const r = await c.call<PinsReloaded>('POST', '/intel/pins/reload');
      return { result: r, text: pinsReloadedLine(r).replace(/^cases: /, '') };
    }
    if (what === 'approve' && !file) {
      if ([v.source, v.id].filter(Boolean).length !== 1) return 'give exactly one of --id or --source';
      const r = await c.call<{ approved: string[] }>('POST', '/intel/approve', { query: v.id ? { id: v.id } : { source: v.source } });
      return { result: r, text: `${r.approved.length} indicators approved: they act now (${r.approved.join(', ')})` };
    }
    if (what === 'rotate') return 'rotate: give the partner\'s name (warden intel partners lists them)';
    if (what === 'import') return 'import: give the bundle file (- for standard input)';
    if (what === 'pull') return 'pull: give the feed name (warden intel feeds lists them)';
    return `unknown command: intel ${[what, file].filter(Boolean).join(' ')}`;
  });
}

/** The signing keys pinned for a partner or feed, by id (an older server does not say: blank). */
function pinnedText(ids: string[] | undefined): string {
  return ids === undefined ? '' : ids.length ? ids.join(', ') : 'none (unsigned taken)';
}

/** What a partner's collection was last sent, in words: a case published there, or withdrawn. */
function sentText(s: NonNullable<PartnerExchangeView['sent']>): string {
  return s.action === 'published' ? `${s.case_id} published: ${s.indicators} indicators${s.revoked ? `, ${s.revoked} revoked` : ''}` : `${s.case_id} withdrawn: ${s.revoked} indicators revoked`;
}

/**
 * The level an indicator can hold a matching account at, not only the one it was imported with:
 * a network or software kind alone holds at watch (its import level with its counterpart), an ASN
 * or an email domain never above watch (docs/cases.md, "Matching").
 */
function levelImposed(i: SharedIndicator): string {
  const alone = heldAlone(i);
  return alone.counterpart ? `${alone.level} (${i.level} with a ${alone.counterpart} match)` : alone.level;
}

function caseText(c: CaseFile): string {
  const shared = c.observables.filter((o) => o.shareable);
  return [
    `${c.id}  ${c.status}  ${c.title}`,
    ...((c as CaseFile & { campaign_gone?: boolean }).campaign_gone ? [`campaign ${c.campaign_id} and cluster ${c.cluster_id} are gone from the detector (renamed by an upgrade or a rebuild, or no longer active): warden cases refresh ${c.id}`] : []),
    `campaign ${c.campaign_id} (cluster ${c.cluster_id}), ${c.campaign.level}, ${c.members.length} accounts, ${c.campaign.volume.requests} requests; opened ${c.opened_at}, updated ${c.updated_at}`,
    '',
    table(c.campaign.evidence.map((r) => ({ signal: r.signal, value: r.value, threshold: r.threshold, weight: r.weight ?? null, detail: r.detail ?? null })), ['signal', 'value', 'threshold', 'weight', 'detail']),
    '',
    `shareable values (${shared.length} of ${c.observables.length}):`,
    shared.length ? table(shared.map((o) => ({ kind: o.kind, value: o.value.length > 60 ? `${o.value.slice(0, 60)}…` : o.value, holders: o.holders, others: o.others })), ['kind', 'value', 'holders', 'others']) : '  (none)',
    '',
    c.ledger?.checkpoint ? `ledger: checkpoint size ${c.ledger.checkpoint.size}, root ${c.ledger.checkpoint.root_hash}; ${c.ledger.verdicts.length} verdict entries` : 'ledger: off',
    `notes: ${c.notes.length}`,
  ].join('\n');
}
