/**
 * Denied-party screening: load sanctions lists from their public formats and fuzzy-match names
 * and organisations against them.
 *
 * Formats: OFAC SDN (`sdn.csv`, `alt.csv` for aliases), EU consolidated financial sanctions CSV
 * (semicolon-separated, one row per name alias), UK OFSI consolidated list CSV (banner row, then
 * a header with `Name 6`, `Name 1`..`Name 5`), UN Security Council consolidated list XML, and a
 * generic CSV (`name,type,aliases,program,source,id`, aliases separated by `|`).
 *
 * Matching: names are normalised (Unicode folded, lower case, punctuation and legal-form words
 * dropped) into tokens; each token of one name is paired with its most similar token of the other
 * (Jaro-Winkler, pairs under 0.8 count as 0); the score is the smaller of the two names' weighted
 * coverage, tokens weighted by rarity in the list (so a shared "Mohammed" or "Trading" alone
 * never makes a match). Order of tokens does not matter ("PETROV, Ivan" = "Ivan Petrov").
 * Similar list tokens are found through an index by token length and character (see
 * `similarTokens`), with the results of comparing every list token (`searchByScan`).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { SanctionsSource } from './config.ts';
import { parseCsvRecords } from './csv.ts';

/** A malformed sanctions file, with file and line. */
export class SanctionsListError extends Error {
  constructor(readonly file: string, readonly line: number, detail: string) {
    super(`invalid sanctions list ${file}${line > 0 ? `:${line}` : ''}: ${detail}`);
    this.name = 'SanctionsListError';
  }
}

export interface SanctionsEntry {
  /** `<source>:<id in the list>`. */
  id: string;
  source: string;
  kind: 'individual' | 'entity' | 'vessel' | 'aircraft' | 'unknown';
  /** Primary name first, then aliases. */
  names: string[];
  programs: string[];
}

export interface SanctionsMatch {
  entry: SanctionsEntry;
  /** The list name that matched best. */
  matchedName: string;
  score: number;
  /** Token pairs behind the score: query token, list token, similarity. */
  pairs: { query: string; listed: string; similarity: number }[];
}

const LEGAL_FORMS = new Set([
  'ltd', 'limited', 'llc', 'inc', 'incorporated', 'co', 'company', 'corp', 'corporation', 'gmbh', 'ag', 'sa', 'sas', 'sarl', 'ooo', 'oao',
  'zao', 'pao', 'ao', 'jsc', 'pjsc', 'ojsc', 'cjsc', 'plc', 'llp', 'lp', 'bv', 'nv', 'srl', 'spa', 'fze', 'fzco', 'fzc', 'pte', 'pty', 'kg',
  'the', 'of', 'and', 'a', 'k', 'aka', 'fka', 'nka', 'mr', 'mrs', 'ms', 'dr',
]);

/** Fold a name into comparable tokens. */
export function nameTokens(name: string): string[] {
  return name
    .normalize('NFKD').replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/\b(\p{L})\.(?=\p{L}\b)/gu, '$1') // "s.a." -> "sa."
    .replace(/[^\p{L}\p{N}]+/gu, ' ')
    .split(' ')
    // Single letters (initials) carry too little to match on.
    .filter((t) => t.length > 1 && !LEGAL_FORMS.has(t));
}

/** Jaro-Winkler similarity of two strings (0..1). */
export function jaroWinkler(a: string, b: string): number {
  if (a === b) return 1;
  const la = a.length, lb = b.length;
  if (la === 0 || lb === 0) return 0;
  const window = Math.max(0, Math.floor(Math.max(la, lb) / 2) - 1);
  const ma = new Uint8Array(la), mb = new Uint8Array(lb);
  let matches = 0;
  for (let i = 0; i < la; i++) {
    const lo = Math.max(0, i - window), hi = Math.min(lb - 1, i + window);
    for (let j = lo; j <= hi; j++) {
      if (!mb[j] && a.charCodeAt(i) === b.charCodeAt(j)) { ma[i] = 1; mb[j] = 1; matches++; break; }
    }
  }
  if (matches === 0) return 0;
  let t = 0, k = 0;
  for (let i = 0; i < la; i++) {
    if (!ma[i]) continue;
    while (!mb[k]) k++;
    if (a.charCodeAt(i) !== b.charCodeAt(k)) t++;
    k++;
  }
  const jaro = (matches / la + matches / lb + (matches - t / 2) / matches) / 3;
  let prefix = 0;
  while (prefix < 4 && prefix < la && prefix < lb && a[prefix] === b[prefix]) prefix++;
  return jaro + prefix * 0.1 * (1 - jaro);
}

const TOKEN_FLOOR = 0.8;
/** Query tokens whose similar list tokens a SanctionsIndex remembers (then it starts again). */
const SIMILAR_CACHE_SIZE = 50_000;

interface IndexedName { entry: number; name: string; tokens: string[]; tokenIds?: number[] }

/** One map key for a token length and a UTF-16 code unit (what jaroWinkler compares). */
const charKey = (length: number, code: number): number => length * 0x10000 + code;

/**
 * Which lists an index was loaded from, so that a screening names the version that decided it:
 * each file's SHA-256 as read, and one digest over all of them (format, path and hash, in order).
 */
export interface SanctionsVersion {
  /** SHA-256 over the files' formats, paths and hashes, in configuration order. */
  digest: string;
  loaded_at: string;
  files: { format: SanctionsSource['format']; path: string; sha256: string; entries: number }[];
}

/**
 * A short, stable digest of what a list says about one entry (its names, kind and programmes):
 * a clearance given for one version of an entry holds until the list changes that entry.
 */
export function entryDigest(entry: SanctionsEntry): string {
  const canonical = JSON.stringify([entry.id, entry.kind, [...new Set(entry.names)].sort(), [...new Set(entry.programs)].sort()]);
  return createHash('sha256').update(canonical, 'utf8').digest('hex').slice(0, 16);
}

/** A loaded, indexed set of sanctions lists. */
export class SanctionsIndex {
  private readonly names: IndexedName[] = [];
  private readonly byToken = new Map<string, number[]>();
  private readonly tokenList: string[];
  private readonly idf = new Map<string, number>();
  /** Token ids (positions in tokenList, ascending) by token length and each character they contain. */
  private readonly byLengthChar = new Map<number, number[]>();
  /** Scratch for similarTokens: characters each token has in common with the query token (an upper bound). */
  private readonly commonCount: Uint32Array;
  private readonly similarCache = new Map<string, { near: number[]; any: Set<number> }>();
  private readonly longestToken: number;

  constructor(readonly entries: SanctionsEntry[], readonly version: SanctionsVersion = { digest: '', loaded_at: new Date().toISOString(), files: [] }) {
    entries.forEach((e, i) => {
      for (const name of new Set(e.names)) {
        const tokens = nameTokens(name);
        if (tokens.length === 0) continue;
        const idx = this.names.length;
        this.names.push({ entry: i, name, tokens });
        for (const t of new Set(tokens)) {
          let list = this.byToken.get(t);
          if (!list) { list = []; this.byToken.set(t, list); }
          list.push(idx);
        }
      }
    });
    this.tokenList = [...this.byToken.keys()];
    const push = (map: Map<number, number[]>, key: number, id: number) => { let l = map.get(key); if (!l) { l = []; map.set(key, l); } l.push(id); };
    this.tokenList.forEach((t, id) => {
      for (const c of new Set(Array.from({ length: t.length }, (_, i) => t.charCodeAt(i)))) push(this.byLengthChar, charKey(t.length, c), id);
    });
    this.commonCount = new Uint32Array(this.tokenList.length);
    this.longestToken = this.tokenList.reduce((m, t) => Math.max(m, t.length), 0);
    const tokenId = new Map(this.tokenList.map((t, id) => [t, id] as [string, number]));
    for (const n of this.names) n.tokenIds = [...new Set(n.tokens)].map((t) => tokenId.get(t)!);
    const n = Math.max(1, this.names.length);
    for (const [t, list] of this.byToken) this.idf.set(t, Math.log(1 + n / list.length));
  }

  get size(): { entries: number; names: number } { return { entries: this.entries.length, names: this.names.length }; }

  private weight(token: string): number {
    // Unknown tokens weigh like the rarest list token (they are distinctive).
    return this.idf.get(token) ?? Math.log(1 + Math.max(1, this.names.length));
  }

  /**
   * Names in the lists similar to `query` at or above `threshold`, best first (one per entry).
   *
   * @example index.search('Ivan Petrov', 0.9) // [{ entry: {...}, matchedName: 'PETROV, Ivan', score: 1, ... }]
   */
  search(query: string, threshold = 0.9): SanctionsMatch[] {
    return this.searchWith(query, threshold, (qt) => this.similarTokens(qt).near, (q) => this.couldReach(q, threshold));
  }

  /**
   * For `search`: a test that a candidate name cannot reach `threshold`, without scoring it. Which
   * query tokens the name covers (a token of it at TOKEN_FLOOR or more, any length) is known from
   * similarTokens; each covered token counts in full, the others count 0, as in score().
   */
  private couldReach(q: string[], threshold: number): (cand: IndexedName) => boolean {
    if (!(threshold > 0)) return () => true;
    const similar = q.map((qt) => this.similarTokens(qt).any);
    const weights = q.map((qt) => this.weight(qt));
    let den = 0;
    for (const w of weights) den += w;
    return (cand) => {
      let num = 0, matched = 0;
      for (let i = 0; i < q.length; i++) {
        let covered = false;
        for (const id of cand.tokenIds!) if (similar[i].has(id)) { covered = true; break; }
        if (covered) { matched++; num += weights[i]; }
      }
      if (matched < Math.min(2, cand.tokenIds!.length)) return false;
      // Summed in score()'s order with each similarity at most 1, so never below the real coverage.
      const cov = den > 0 ? num / den : 0;
      return Math.round((0.8 * cov + 0.2) * 1000) / 1000 >= threshold;
    };
  }

  /**
   * The same search comparing each query token with every list token: what `search` did before
   * the token index, kept to check that the index finds exactly the same names (and to measure it).
   */
  searchByScan(query: string, threshold = 0.9): SanctionsMatch[] {
    return this.searchWith(query, threshold, (qt) => {
      const ids: number[] = [];
      this.tokenList.forEach((lt, id) => { if (Math.abs(lt.length - qt.length) <= 3 && jaroWinkler(qt, lt) >= TOKEN_FLOOR) ids.push(id); });
      return ids;
    });
  }

  /**
   * Ids (ascending) of the list tokens at most 3 characters longer or shorter than `qt` with a
   * Jaro-Winkler similarity of at least TOKEN_FLOOR, comparing `qt` only with the tokens that can
   * reach it. With m characters in common, Jaro is at most (m/la + m/lb + 1) / 3, and the prefix
   * bonus (at most 4 x 0.1 of the rest) applies only to a token with the same first character:
   * such a token needs Jaro >= 2/3, so m * (1/la + 1/lb) >= 1; any other needs Jaro >= TOKEN_FLOOR,
   * so m * (1/la + 1/lb) >= 3 * TOKEN_FLOOR - 1. m is counted (from above) through the postings of
   * `qt`'s characters. Remembered per query token: customer names repeat their tokens.
   */
  private similarTokens(qt: string): { near: number[]; any: Set<number> } {
    const known = this.similarCache.get(qt);
    if (known) return known;
    const la = qt.length, first = qt.charCodeAt(0);
    const counts = new Map<number, number>();
    for (let i = 0; i < la; i++) { const c = qt.charCodeAt(i); counts.set(c, (counts.get(c) ?? 0) + 1); }
    const common = this.commonCount, touched: number[] = [], near: number[] = [], any = new Set<number>();
    for (let lb = 1; lb <= this.longestToken; lb++) {
      // A little slack so that rounding never drops a token that would reach the floor.
      const needWithBonus = Math.ceil((la * lb) / (la + lb) - 1e-6);
      const needWithout = Math.ceil(((3 * TOKEN_FLOOR - 1) * la * lb) / (la + lb) - 1e-6);
      if (needWithBonus > Math.min(la, lb)) continue;
      for (const [c, n] of counts) {
        for (const id of this.byLengthChar.get(charKey(lb, c)) ?? []) { if (common[id] === 0) touched.push(id); common[id] += n; }
      }
      for (const id of touched) {
        const lt = this.tokenList[id];
        if (common[id] >= (lt.charCodeAt(0) === first ? needWithBonus : needWithout) && jaroWinkler(qt, lt) >= TOKEN_FLOOR) {
          any.add(id);
          if (Math.abs(lb - la) <= 3) near.push(id);
        }
        common[id] = 0;
      }
      touched.length = 0;
    }
    near.sort((x, y) => x - y);
    if (this.similarCache.size >= SIMILAR_CACHE_SIZE) this.similarCache.clear();
    const found = { near, any };
    this.similarCache.set(qt, found);
    return found;
  }

  private searchWith(query: string, threshold: number, similarTokens: (qt: string) => number[], prune?: (q: string[]) => (cand: IndexedName) => boolean): SanctionsMatch[] {
    const q = [...new Set(nameTokens(query))];
    if (q.length === 0) return [];
    // Candidates: names sharing a token similar to one of the query's tokens.
    const candidates = new Set<number>();
    for (const qt of q) {
      for (const id of similarTokens(qt)) for (const idx of this.byToken.get(this.tokenList[id])!) candidates.add(idx);
    }
    const best = new Map<number, SanctionsMatch>();
    const couldReach = prune?.(q);
    for (const idx of candidates) {
      const cand = this.names[idx];
      if (couldReach && !couldReach(cand)) continue;
      const { score, pairs } = this.score(q, [...new Set(cand.tokens)], threshold);
      if (score < threshold) continue;
      const prev = best.get(cand.entry);
      if (!prev || prev.score < score) best.set(cand.entry, { entry: this.entries[cand.entry], matchedName: cand.name, score, pairs });
    }
    return [...best.values()].sort((a, b) => b.score - a.score);
  }

  private score(q: string[], c: string[], threshold: number): { score: number; pairs: SanctionsMatch['pairs'] } {
    const pairs: SanctionsMatch['pairs'] = [];
    const coverage = (from: string[], to: string[], record: boolean) => {
      let num = 0, den = 0, matched = 0;
      for (const t of from) {
        let bestSim = 0, bestTok = '';
        for (const u of to) { const s = jaroWinkler(t, u); if (s > bestSim) { bestSim = s; bestTok = u; } }
        if (bestSim < TOKEN_FLOOR) bestSim = 0; else matched++;
        const w = this.weight(t);
        num += w * bestSim; den += w;
        if (record && bestSim > 0) pairs.push({ query: t, listed: bestTok, similarity: Math.round(bestSim * 1000) / 1000 });
      }
      return { cov: den > 0 ? num / den : 0, matched };
    };
    const fromQuery = coverage(q, c, true);
    // One shared token is never enough when the listed name has more (a lone "Ivan" or "Trading").
    if (fromQuery.matched < Math.min(2, c.length)) return { score: 0, pairs };
    // The listed name's coverage weighs 0.2 at most: skip it when even full coverage stays under the threshold.
    const best = Math.round((0.8 * fromQuery.cov + 0.2) * 1000) / 1000;
    if (best < threshold) return { score: best, pairs };
    const fromList = coverage(c, q, false);
    // The query must be explained by the listed name; listed middle names or patronymics the
    // customer left out cost a little.
    return { score: Math.round((0.8 * fromQuery.cov + 0.2 * fromList.cov) * 1000) / 1000, pairs };
  }
}

// ---------------------------------------------------------------------------------------------
// Loaders

function readText(file: string): string {
  try { return readFileSync(file, 'utf8').replace(/^\uFEFF/, ''); } catch (err) {
    throw new SanctionsListError(file, 0, `cannot read: ${(err as Error).message}`);
  }
}

function records(file: string, delimiter = ','): { fields: string[]; line: number }[] {
  try { return parseCsvRecords(readText(file), delimiter); } catch (err) {
    if (err instanceof SanctionsListError) throw err;
    throw new SanctionsListError(file, 0, (err as Error).message);
  }
}

const nullish = (s: string | undefined) => { const v = (s ?? '').trim(); return v === '-0-' || v === '' ? null : v; };

/** OFAC sdn.csv: ent_num, SDN_Name, SDN_Type, Program, ... (no header). */
function loadOfacSdn(file: string): SanctionsEntry[] {
  const out: SanctionsEntry[] = [];
  for (const { fields, line } of records(file)) {
    if (fields.length === 1 && fields[0].trim() === '\u001a') continue; // trailing EOF marker in the published file
    if (fields.length < 4) throw new SanctionsListError(file, line, `expected at least 4 fields (ent_num,SDN_Name,SDN_Type,Program), got ${fields.length}`);
    const id = fields[0].trim();
    const name = nullish(fields[1]);
    if (!/^[0-9]+$/.test(id) || !name) throw new SanctionsListError(file, line, 'ent_num must be a number and SDN_Name non-empty');
    const type = (nullish(fields[2]) ?? 'entity').toLowerCase();
    const kind = type === 'individual' ? 'individual' : type === 'vessel' ? 'vessel' : type === 'aircraft' ? 'aircraft' : 'entity';
    out.push({ id: `ofac:${id}`, source: 'ofac', kind, names: [name], programs: (nullish(fields[3]) ?? '').split(/[\]\[;]+/).map((s) => s.trim()).filter(Boolean) });
  }
  return out;
}

/** OFAC alt.csv: ent_num, alt_num, alt_type, alt_name, alt_remarks. Adds aliases to loaded entries. */
function applyOfacAliases(file: string, entries: Map<string, SanctionsEntry>): void {
  for (const { fields, line } of records(file)) {
    if (fields.length === 1 && fields[0].trim() === '\u001a') continue;
    if (fields.length < 4) throw new SanctionsListError(file, line, `expected at least 4 fields (ent_num,alt_num,alt_type,alt_name), got ${fields.length}`);
    const id = fields[0].trim();
    const name = nullish(fields[3]);
    if (!/^[0-9]+$/.test(id) || !name) throw new SanctionsListError(file, line, 'ent_num must be a number and alt_name non-empty');
    const e = entries.get(`ofac:${id}`);
    if (e) e.names.push(name);
  }
}

function headerIndex(file: string, header: string[], line: number, required: string[]): Map<string, number> {
  const idx = new Map(header.map((h, i) => [h.trim(), i] as [string, number]));
  const missing = required.filter((r) => !idx.has(r));
  if (missing.length) throw new SanctionsListError(file, line, `missing column(s): ${missing.join(', ')}`);
  return idx;
}

/** EU consolidated CSV: semicolon-separated, header row, one row per (entity, name alias). */
function loadEu(file: string): SanctionsEntry[] {
  const rows = records(file, ';');
  if (rows.length === 0) throw new SanctionsListError(file, 0, 'empty file');
  const col = headerIndex(file, rows[0].fields, rows[0].line, ['Entity_LogicalId', 'NameAlias_WholeName']);
  const typeCol = col.get('Entity_SubjectType_ClassificationCode') ?? col.get('Entity_SubjectType');
  const progCol = col.get('Entity_Regulation_Programme');
  const byId = new Map<string, SanctionsEntry>();
  for (const { fields, line } of rows.slice(1)) {
    const id = (fields[col.get('Entity_LogicalId')!] ?? '').trim();
    if (!id) throw new SanctionsListError(file, line, 'Entity_LogicalId is empty');
    let e = byId.get(id);
    if (!e) {
      const t = typeCol === undefined ? '' : (fields[typeCol] ?? '').trim().toLowerCase();
      e = { id: `eu:${id}`, source: 'eu', kind: t === 'person' || t === 'p' ? 'individual' : t === 'enterprise' || t === 'e' ? 'entity' : 'unknown', names: [], programs: [] };
      byId.set(id, e);
    }
    const name = (fields[col.get('NameAlias_WholeName')!] ?? '').trim();
    if (name && !e.names.includes(name)) e.names.push(name);
    const prog = progCol === undefined ? '' : (fields[progCol] ?? '').trim();
    if (prog && !e.programs.includes(prog)) e.programs.push(prog);
  }
  return [...byId.values()].filter((e) => e.names.length > 0);
}

/** UK OFSI consolidated list CSV (banner rows, then a header with Name 6, Name 1..5). */
function loadUk(file: string): SanctionsEntry[] {
  const rows = records(file);
  const h = rows.findIndex((r) => r.fields.some((f) => f.trim() === 'Name 6') && r.fields.some((f) => f.trim() === 'Name 1'));
  if (h < 0) throw new SanctionsListError(file, 0, 'header row with "Name 6" and "Name 1" not found');
  const col = headerIndex(file, rows[h].fields, rows[h].line, ['Name 6', 'Name 1']);
  const idCol = col.get('Group ID') ?? col.get('OFSI Group ID') ?? col.get('Unique ID');
  const typeCol = col.get('Group Type') ?? col.get('Individual, Entity, Ship');
  const regimeCol = col.get('Regime') ?? col.get('Regime Name');
  const byId = new Map<string, SanctionsEntry>();
  for (const { fields, line } of rows.slice(h + 1)) {
    const get = (name: string) => { const i = col.get(name); return i === undefined ? '' : (fields[i] ?? '').trim(); };
    const given = ['Name 1', 'Name 2', 'Name 3', 'Name 4', 'Name 5'].map(get).filter(Boolean);
    const surname = get('Name 6');
    const name = [...given, surname].join(' ').trim();
    if (!name) throw new SanctionsListError(file, line, 'row has no name (Name 1..6 empty)');
    const id = idCol === undefined ? `row${line}` : (fields[idCol] ?? '').trim() || `row${line}`;
    let e = byId.get(id);
    if (!e) {
      const t = typeCol === undefined ? '' : (fields[typeCol] ?? '').trim().toLowerCase();
      e = { id: `uk:${id}`, source: 'uk', kind: t === 'individual' ? 'individual' : t === 'entity' ? 'entity' : t === 'ship' ? 'vessel' : 'unknown', names: [], programs: [] };
      byId.set(id, e);
    }
    if (!e.names.includes(name)) e.names.push(name);
    const regime = regimeCol === undefined ? '' : (fields[regimeCol] ?? '').trim();
    if (regime && !e.programs.includes(regime)) e.programs.push(regime);
  }
  return [...byId.values()];
}

const XML_ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
function xmlText(s: string): string {
  return s.replace(/<!\[CDATA\[([\s\S]*?)\]\]>/g, '$1').replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (m, e: string) =>
    e[0] === '#' ? String.fromCodePoint(e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10)) : XML_ENTITIES[e] ?? m).trim();
}
function tagValues(block: string, tag: string): string[] {
  const out: string[] = [];
  const re = new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, 'g');
  for (let m = re.exec(block); m; m = re.exec(block)) { const v = xmlText(m[1]); if (v) out.push(v); }
  return out;
}

/** UN Security Council consolidated list XML (INDIVIDUAL and ENTITY elements). */
function loadUn(file: string): SanctionsEntry[] {
  const text = readText(file);
  if (!/<CONSOLIDATED_LIST[\s>]/.test(text)) throw new SanctionsListError(file, 0, 'not a UN consolidated list (no <CONSOLIDATED_LIST> root)');
  const out: SanctionsEntry[] = [];
  for (const kind of ['INDIVIDUAL', 'ENTITY'] as const) {
    const re = new RegExp(`<${kind}>([\\s\\S]*?)</${kind}>`, 'g');
    for (let m = re.exec(text); m; m = re.exec(text)) {
      const block = m[1];
      const primary = ['FIRST_NAME', 'SECOND_NAME', 'THIRD_NAME', 'FOURTH_NAME'].flatMap((t) => tagValues(block, t)).join(' ');
      const ref = tagValues(block, 'REFERENCE_NUMBER')[0] ?? tagValues(block, 'DATAID')[0];
      if (!primary || !ref) {
        const line = text.slice(0, m.index).split('\n').length;
        throw new SanctionsListError(file, line, `${kind} without a name or REFERENCE_NUMBER`);
      }
      out.push({
        id: `un:${ref}`, source: 'un', kind: kind === 'INDIVIDUAL' ? 'individual' : 'entity',
        names: [primary, ...tagValues(block, 'ALIAS_NAME')], programs: tagValues(block, 'UN_LIST_TYPE'),
      });
    }
  }
  return out;
}

/** Generic CSV with a header: name,type,aliases,program,source,id (aliases separated by "|"). */
function loadGeneric(file: string): SanctionsEntry[] {
  const rows = records(file);
  if (rows.length === 0) throw new SanctionsListError(file, 0, 'empty file');
  const col = headerIndex(file, rows[0].fields, rows[0].line, ['name']);
  return rows.slice(1).map(({ fields, line }, i) => {
    const get = (name: string) => { const c = col.get(name); return c === undefined ? '' : (fields[c] ?? '').trim(); };
    const name = get('name');
    if (!name) throw new SanctionsListError(file, line, 'name is empty');
    const t = get('type').toLowerCase();
    const source = get('source') || 'list';
    return {
      id: `${source}:${get('id') || i + 1}`, source,
      kind: (['individual', 'entity', 'vessel', 'aircraft'].includes(t) ? t : 'unknown') as SanctionsEntry['kind'],
      names: [name, ...get('aliases').split('|').map((s) => s.trim()).filter(Boolean)],
      programs: get('program') ? [get('program')] : [],
    };
  });
}

/**
 * Load and index every configured list. All files are read before anything is returned, so a
 * malformed file leaves the caller with its previous index (nothing half-loaded).
 */
export function loadSanctions(sources: SanctionsSource[]): SanctionsIndex {
  const entries: SanctionsEntry[] = [];
  const ofac = new Map<string, SanctionsEntry>();
  const aliasFiles: string[] = [];
  const files: SanctionsVersion['files'] = [];
  for (const s of sources) {
    let loaded: SanctionsEntry[] = [];
    switch (s.format) {
      case 'ofac_sdn': loaded = loadOfacSdn(s.path); for (const e of loaded) ofac.set(e.id, e); break;
      case 'ofac_alt': aliasFiles.push(s.path); break;
      case 'eu': loaded = loadEu(s.path); break;
      case 'uk': loaded = loadUk(s.path); break;
      case 'un': loaded = loadUn(s.path); break;
      case 'generic': loaded = loadGeneric(s.path); break;
    }
    if (s.format !== 'ofac_alt' && loaded.length === 0) throw new SanctionsListError(s.path, 0, 'no entries');
    for (const e of loaded) entries.push(e); // a list can exceed the arguments a spread may pass
    files.push({ format: s.format, path: s.path, sha256: fileSha256(s.path), entries: loaded.length });
  }
  for (const f of aliasFiles) applyOfacAliases(f, ofac);
  const digest = createHash('sha256');
  for (const f of files) digest.update(`${f.format}\0${f.path}\0${f.sha256}\n`);
  return new SanctionsIndex(entries, { digest: digest.digest('hex'), loaded_at: new Date().toISOString(), files });
}

function fileSha256(file: string): string {
  try { return createHash('sha256').update(readFileSync(file)).digest('hex'); } catch (err) {
    throw new SanctionsListError(file, 0, `cannot read: ${(err as Error).message}`);
  }
}
