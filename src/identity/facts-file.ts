/**
 * Account facts from a provider's own account table, for logs that do not carry them: interaction
 * logs written by another tool name the account but not its signup facts, and without those the
 * detector loses the strongest linking evidence (cards, signup addresses, bursts) and every
 * account's freshness. `warden scan --accounts FILE` joins them back by account id.
 *
 * The file is an export of the provider's database, JSONL (one object per line) or CSV with a
 * header row; columns it does not know are ignored. Raw emails and payment instruments may be
 * given: they are reduced here to what events carry (domain, keyed pattern hash, keyed
 * fingerprint) with a key made for this run (or kept with a scan's state, so that logs scanned
 * one after another compare too), so they are comparable within the scan and never written
 * anywhere.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { parse as parseCsvStream } from 'csv-parse';
import { parse as parseCsv } from 'csv-parse/sync';
import { Programme, VerificationTier, type EventAccountFacts } from '../events/index.ts';
import { emailDomain, emailPattern, normaliseCountry, normaliseIp, paymentFingerprint } from './facts.ts';

/** One account's facts as events carry them, and the org it belongs to (if the export says). */
export interface AccountFactsRow {
  facts: EventAccountFacts;
  org_id: string | null;
}

export type AccountFactsTable = ReadonlyMap<string, AccountFactsRow>;

/** The columns read; any other column is ignored. */
export const ACCOUNT_FACTS_COLUMNS = [
  'account_id', 'created_at', 'tier', 'programme', 'email', 'email_domain', 'email_pattern', 'payment_fp',
  'payment_instrument', 'signup_ip', 'claimed_country', 'first_used_at', 'org_id', 'claimed_subdivision',
] as const;

/** A line of the file that cannot be used, named by line and column. */
export class AccountFactsError extends Error {
  constructor(readonly line: number, readonly column: string | null, problem: string) {
    super(`line ${line}${column ? `, ${column}` : ''}: ${problem}`);
    this.name = 'AccountFactsError';
  }
}

/**
 * Read an account table (JSONL or CSV with a header, told apart by the first character), streamed:
 * a table of millions of accounts is read in bounded pieces (the table itself is held in memory).
 */
export async function readAccountFacts(path: string, opts: { key?: string } = {}): Promise<Map<string, AccountFactsRow>> {
  const table = new TableBuilder(opts.key);
  if (await startsWithBrace(path)) {
    let line = 0;
    for await (const text of createInterface({ input: createReadStream(path, { encoding: 'utf8' }), crlfDelay: Infinity })) table.add(jsonRow(text, ++line));
  } else {
    const records = createReadStream(path).pipe(parseCsvStream(CSV_OPTIONS));
    try {
      for await (const record of records as AsyncIterable<CsvRecord>) table.add(csvRow(record));
    } catch (e) { throw csvError(e); }
  }
  return table.table;
}

/** Parse an account table's text; throws AccountFactsError at the first unusable line. */
export function parseAccountFacts(text: string): Map<string, AccountFactsRow> {
  const table = new TableBuilder();
  if (text.trimStart().startsWith('{')) {
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) table.add(jsonRow(lines[i], i + 1));
  } else {
    let records: CsvRecord[];
    try { records = parseCsv(text, CSV_OPTIONS) as CsvRecord[]; } catch (e) { throw csvError(e); }
    for (const record of records) table.add(csvRow(record));
  }
  return table.table;
}

/** A key for hashing raw emails and payment instruments of account tables. */
export function newFactsKey(): string {
  return randomBytes(32).toString('hex');
}

/** Rows in, accounts out, each account once. */
class TableBuilder {
  readonly table = new Map<string, AccountFactsRow>();
  private readonly firstLine = new Map<string, number>();
  // One key per table (unless a scan's state keeps one): equal emails and instruments give equal
  // hashes within it, and a hash cannot be looked up against any other table.
  constructor(private readonly key: string = newFactsKey()) {}

  add(input: { line: number; row: Record<string, unknown> } | null): void {
    if (input === null) return;
    const { id, row } = accountRow(input.row, input.line, this.key);
    const seen = this.firstLine.get(id);
    if (seen !== undefined) throw new AccountFactsError(input.line, 'account_id', `account ${id} appears twice (first on line ${seen})`);
    this.firstLine.set(id, input.line);
    this.table.set(id, row);
  }
}

async function startsWithBrace(path: string): Promise<boolean> {
  const file = await open(path, 'r');
  try {
    const { buffer, bytesRead } = await file.read(Buffer.alloc(4096), 0, 4096, 0);
    return buffer.subarray(0, bytesRead).toString('utf8').replace(/^\uFEFF/, '').trimStart().startsWith('{');
  } finally { await file.close(); }
}

/** One JSONL line: an object, or null for a blank line. */
function jsonRow(text: string, line: number): { line: number; row: Record<string, unknown> } | null {
  const s = text.trim();
  if (!s) return null;
  let row: unknown;
  try { row = JSON.parse(s); } catch (e) { throw new AccountFactsError(line, null, `not JSON (${(e as Error).message})`); }
  if (typeof row !== 'object' || row === null || Array.isArray(row)) throw new AccountFactsError(line, null, 'expected a JSON object');
  return { line, row: row as Record<string, unknown> };
}

type CsvRecord = { info: { lines: number }; record: Record<string, string> };
const CSV_OPTIONS = { columns: true, skip_empty_lines: true, trim: true, bom: true, info: true } as const;

function csvRow({ info, record }: CsvRecord): { line: number; row: Record<string, unknown> } {
  if (!('account_id' in record)) throw new AccountFactsError(1, 'account_id', 'the header row has no account_id column');
  // An empty CSV cell means "unknown", as null does in JSON.
  const row: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(record)) row[k] = v === '' ? null : v;
  return { line: info.lines, row };
}

function csvError(e: unknown): Error {
  if (e instanceof AccountFactsError) return e;
  const err = e as Error & { lines?: number };
  return new AccountFactsError(err.lines ?? 1, null, `not CSV (${err.message})`);
}

function accountRow(row: Record<string, unknown>, line: number, key: string): { id: string; row: AccountFactsRow } {
  const text = (column: string): string | null => {
    const v = row[column];
    if (v === undefined || v === null) return null;
    if (typeof v !== 'string') throw new AccountFactsError(line, column, 'expected a string');
    return v;
  };
  const id = text('account_id') ?? (typeof row.id === 'string' ? row.id : null);
  if (!id) throw new AccountFactsError(line, 'account_id', 'missing');
  const created = time(row.created_at, line, 'created_at');
  if (!created) throw new AccountFactsError(line, 'created_at', 'missing: when the account signed up');
  const tier = VerificationTier.safeParse(text('tier') ?? 'unverified');
  if (!tier.success) throw new AccountFactsError(line, 'tier', `expected one of ${VerificationTier.options.join(', ')}`);
  const programme = Programme.safeParse(text('programme') ?? 'none');
  if (!programme.success) throw new AccountFactsError(line, 'programme', `expected one of ${Programme.options.join(', ')}`);
  const email = text('email');
  const domain = text('email_domain') ?? emailDomain(email);
  if (email && !domain) throw new AccountFactsError(line, 'email', 'not an email address');
  const rawIp = text('signup_ip');
  const signupIp = normaliseIp(rawIp);
  if (rawIp && !signupIp) throw new AccountFactsError(line, 'signup_ip', `not an IP address: ${rawIp}`);
  const rawCountry = text('claimed_country');
  const country = normaliseCountry(rawCountry);
  if (rawCountry && !country) throw new AccountFactsError(line, 'claimed_country', `expected a two-letter country code: ${rawCountry}`);
  // As the identity store takes it: ISO 3166-2, in the claimed country, whose country it gives when none is claimed.
  const rawSubdivision = text('claimed_subdivision');
  const subdivision = rawSubdivision?.trim().toUpperCase() ?? null;
  if (subdivision !== null && !/^[A-Z]{2}-[A-Z0-9]{1,3}$/.test(subdivision)) throw new AccountFactsError(line, 'claimed_subdivision', `expected an ISO 3166-2 code such as UA-30: ${rawSubdivision}`);
  if (subdivision !== null && country && subdivision.slice(0, 2) !== country) throw new AccountFactsError(line, 'claimed_subdivision', `${subdivision} is not in claimed_country ${country}`);
  const instrument = text('payment_instrument');
  return {
    id,
    row: {
      facts: {
        created_at: created,
        tier: tier.data,
        programme: programme.data,
        email_domain: domain?.toLowerCase() ?? null,
        payment_fp: text('payment_fp') ?? (instrument ? paymentFingerprint(instrument, key) : null),
        signup_ip: signupIp,
        claimed_country: country ?? subdivision?.slice(0, 2) ?? null,
        ...(subdivision !== null ? { claimed_subdivision: subdivision } : {}),
        email_pattern: text('email_pattern') ?? emailPattern(email, key),
        first_used_at: time(row.first_used_at, line, 'first_used_at'),
      },
      org_id: text('org_id'),
    },
  };
}

/** ISO 8601 text, or epoch seconds / milliseconds (a number, or digits in a CSV), as ISO 8601. */
function time(v: unknown, line: number, column: string): string | null {
  if (v === undefined || v === null) return null;
  let ms: number;
  if (typeof v === 'number' || (typeof v === 'string' && /^\d+(\.\d+)?$/.test(v))) {
    const n = Number(v);
    ms = n < 1e11 ? n * 1000 : n; // seconds until the year 5138; milliseconds after 1973
  } else if (typeof v === 'string') ms = Date.parse(v);
  else throw new AccountFactsError(line, column, 'expected an ISO 8601 time or epoch seconds');
  if (!Number.isFinite(ms)) throw new AccountFactsError(line, column, `not a time: ${String(v)}`);
  return new Date(ms).toISOString();
}

/**
 * Complete an event's account facts from the table, in place: an event without facts gets the
 * account's, one with facts gets only the optional fields it lacks (older logs have no
 * `first_used_at`), and an event without an org gets the table's. Facts an event carries win:
 * they are what the gateway knew when the request arrived. Returns true when the account had facts
 * (from the event or the table).
 */
export function completeAccountFacts(ev: { account_id: string | null; org_id: string | null; account: EventAccountFacts | null }, table: AccountFactsTable): boolean {
  const row = ev.account_id === null ? undefined : table.get(ev.account_id);
  if (row === undefined) return ev.account !== null;
  if (ev.account === null) ev.account = row.facts;
  else {
    if (ev.account.first_used_at == null && row.facts.first_used_at) ev.account.first_used_at = row.facts.first_used_at;
    if (ev.account.email_pattern == null && row.facts.email_pattern) ev.account.email_pattern = row.facts.email_pattern;
    // Logs written before subdivisions were recorded: the table's, when it is in the country the event says.
    if (ev.account.claimed_subdivision == null && row.facts.claimed_subdivision && (ev.account.claimed_country ?? row.facts.claimed_country) === row.facts.claimed_subdivision.slice(0, 2)) {
      ev.account.claimed_subdivision = row.facts.claimed_subdivision;
    }
  }
  if (ev.org_id === null && row.org_id !== null) ev.org_id = row.org_id;
  return true;
}
