/**
 * Whole-log verification: recompute every leaf hash from the stored entries and rebuild the tree
 * from them, check every stored node against its children, every stored checkpoint's signature,
 * origin and root (the entries must reproduce each signed root), consistency between successive
 * checkpoints, the indexed columns against the leaves, and every unerased commitment against its
 * opening. Streams the log in pages, so memory stays bounded, all from one snapshot of the log
 * (LedgerStorage.consistentRead), so a server appending meanwhile is not mistaken for tampering.
 *
 * When something differs it names the culprit: a tampered entry (its leaf no longer hashes to
 * the stored tree), a tampered node (its parent no longer matches it), or a checkpoint.
 */
import { CompactRange, EMPTY_ROOT, consistencyProof, hashChildren, hashLeaf, rootAt, verifyConsistency } from './merkle.ts';
import { openCheckpoint, type NoteVerifier } from './note.ts';
import { checkCosignatures, type CosignerVerifier } from './cosign.ts';
import { commitment, entryColumns, operatorCommitments, parseLeaf, regionColumns, settingsDigest, recordsRegions, PRIVATE_FIELDS, type EntryColumns, type InteractionRecord, type LedgerRecord } from './records.ts';
import { ipv4ToInt, type CheckpointRow, type LedgerStorage } from './storage.ts';

export interface VerifyProblem {
  kind: 'entry' | 'node' | 'checkpoint' | 'private' | 'structure';
  /** Entry index (entry, private), node index (node), or checkpoint size (checkpoint). */
  index?: number;
  level?: number;
  message: string;
}

export interface VerifyReport {
  ok: boolean;
  size: number;
  entries: number;
  nodes: number;
  checkpoints: number;
  commitments: number;
  erased: number;
  /** Settings entries (detector settings in force), each checked: its digest is the digest of its settings. */
  settings: number;
  /** Verdicts that name detector settings, each found in a settings entry before it. */
  verdictsWithSettings: number;
  /** Lowest index of an entry found altered or unreadable, null if none. */
  firstBadEntry: number | null;
  latestCheckpoint: { size: number; rootHash: string } | null;
  /** Entries after the largest valid signed checkpoint: covered by no signature (yet). */
  unsigned: number;
  /** The checkpoints kept from earlier (`VerifyOptions.keptCheckpoints`) that the log still holds: size, and whether it does. */
  kept: Array<{ size: number | null; ok: boolean }>;
  /**
   * With witnesses (`VerifyOptions.witnesses`): the largest checkpoint that carries the quorum of
   * valid cosignatures and whose root the entries reproduce, and which witnesses cosigned it; null
   * if none does (a failure when the log has entries).
   */
  witnessed?: { size: number; cosigners: string[] } | null;
  /** With witnesses: entries after the largest witnessed checkpoint (no witness vouches for them yet). */
  unwitnessed?: number;
  problems: VerifyProblem[];
}

export interface VerifyOptions {
  origin: string;
  /** Keys whose checkpoint signatures are trusted. An auditor passes the published key here. */
  verifiers: readonly NoteVerifier[];
  /**
   * Keys the log's own storage records (`ledger_keys`) that are not among `verifiers`. They are
   * never trusted: whoever can write the database can record a key and sign a rewritten log with
   * it. A checkpoint signed only by one of them is reported naming it, so that an operator who
   * rotated a key out without listing it in `ledger.trusted_keys` knows what to do.
   */
  recorded?: readonly NoteVerifier[];
  /**
   * Signed checkpoints kept from earlier, as an auditor keeps them. The log's own checkpoints can
   * be deleted along with the entries they cover; a kept one cannot: each must be signed by a
   * trusted key, no larger than the log, and its root reproduced by the stored entries. A log cut
   * short or rewritten since is caught.
   */
  keptCheckpoints?: readonly string[];
  /**
   * A log with entries and no signed checkpoint is a failure, unless its newest entry is younger
   * than this: a server signs its first checkpoint one checkpoint interval after its first entry,
   * so such a log is a live one not signed yet (reported as unsigned, a warning). Default 0.
   */
  unsignedGraceMs?: number;
  now?: () => number;
  /** Stop collecting after this many problems (the scan still completes). */
  maxProblems?: number;
  pageSize?: number;
  /**
   * Witness keys (cosignature/v1) whose cosignatures count. With them the log passes only if a
   * checkpoint its entries reproduce carries `quorum` of their cosignatures, and every kept
   * checkpoint carries the quorum too. A cosignature line of one of these keys that does not
   * verify is a problem.
   */
  witnesses?: readonly CosignerVerifier[];
  /** Cosignatures needed (default: every witness given). */
  quorum?: number;
}

const COLS: (keyof EntryColumns)[] = ['id', 'kind', 'ts', 'account_id', 'org_id', 'key_id', 'cluster_id', 'model', 'subject_id', 'level'];
const REGION_COLS = ['region_state', 'client_country', 'client_subdivision'] as const;
const eq = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);
const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');

/** Why a checkpoint no trusted key signed is refused, when one of the keys only the database records signed it. */
function signedOnlyByRecorded(note: string, opts: VerifyOptions): string | null {
  if (!opts.recorded?.length) return null;
  let signedBy: readonly NoteVerifier[];
  try { signedBy = openCheckpoint(note, opts.recorded, opts.origin).signedBy; } catch { return null; }
  const names = signedBy.map((v) => String(v).split('+').slice(0, 2).join('+')).join(', ');
  return `signed only by ${names}, a key recorded in the ledger's own database but not configured (ledger.key, ledger.extra_key_files, ledger.trusted_keys) nor given with --key: whoever can write the database can record a key, so it vouches for nothing; if it is a key of yours rotated out, list its verifier key in ledger.trusted_keys`;
}

export async function verifyLedger(storage: LedgerStorage, opts: VerifyOptions): Promise<VerifyReport> {
  // One snapshot of the log: beside a server under traffic, what it appends and signs meanwhile
  // would show as checkpoints ahead of the entries read and nodes beyond the log.
  return storage.consistentRead ? storage.consistentRead((view) => verifyStored(view, opts)) : verifyStored(storage, opts);
}

async function verifyStored(storage: LedgerStorage, opts: VerifyOptions): Promise<VerifyReport> {
  const page = opts.pageSize ?? 2000;
  const maxProblems = opts.maxProblems ?? 1000;
  const problems: VerifyProblem[] = [];
  const report = (p: VerifyProblem) => { if (problems.length < maxProblems) problems.push(p); };
  const size = await storage.size();

  // Checkpoints, ascending; opened (signature, origin, syntax) up front.
  const cps: (CheckpointRow & { valid: boolean; cosigners: string[] })[] = [];
  const witnesses = opts.witnesses ?? [];
  const quorum = witnesses.length ? (opts.quorum ?? witnesses.length) : 0;
  const cosignersOf = (note: string, what: string): string[] => {
    if (!witnesses.length) return [];
    try {
      const { valid, invalid } = checkCosignatures(note, witnesses);
      for (const m of invalid) report({ kind: 'checkpoint', message: `${what}: witness ${m}` });
      return valid.map((v) => v.witness.name);
    } catch { return []; }
  };
  for (let after = -1; ;) {
    const rows = await storage.checkpoints(after, page);
    if (rows.length === 0) break;
    for (const row of rows) {
      let valid = false;
      try {
        const cp = openCheckpoint(row.note, opts.verifiers, opts.origin);
        if (cp.size !== row.size) report({ kind: 'checkpoint', index: row.size, message: `checkpoint stored at size ${row.size} states size ${cp.size}` });
        else if (!eq(cp.rootHash, row.root)) report({ kind: 'checkpoint', index: row.size, message: `checkpoint ${row.size}: stored root column differs from the signed root` });
        else valid = true;
      } catch (err) {
        report({ kind: 'checkpoint', index: row.size, message: `checkpoint ${row.size}: ${signedOnlyByRecorded(row.note, opts) ?? (err as Error).message}` });
      }
      if (row.size > size) { report({ kind: 'checkpoint', index: row.size, message: `checkpoint ${row.size} is ahead of the stored log (size ${size})` }); valid = false; }
      cps.push({ ...row, valid, cosigners: valid ? cosignersOf(row.note, `checkpoint ${row.size}`) : [] });
    }
    after = rows[rows.length - 1].size;
  }

  // Checkpoints kept from earlier: opened now, compared with the roots the entries give.
  const kept: Array<{ size: number; root: Uint8Array } | null> = (opts.keptCheckpoints ?? []).map((note, k) => {
    try {
      const cp = openCheckpoint(note, opts.verifiers, opts.origin);
      if (quorum) {
        const cosigners = cosignersOf(note, `kept checkpoint ${k + 1} (size ${cp.size})`);
        if (cosigners.length < quorum) report({ kind: 'checkpoint', index: cp.size, message: `kept checkpoint ${k + 1} (size ${cp.size}) carries ${cosigners.length} valid witness cosignature(s), fewer than the quorum of ${quorum}${cosigners.length ? ` (${cosigners.join(', ')})` : ''}` });
      }
      return { size: cp.size, root: cp.rootHash };
    } catch (err) {
      report({ kind: 'checkpoint', message: `kept checkpoint ${k + 1}: ${(err as Error).message}` });
      return null;
    }
  });

  // Level 0: entries against their leaf nodes; the entries also rebuild the tree for the roots.
  const badLeaves = new Set<number>();
  const suspects: Map<number, Set<number>> = new Map([[0, badLeaves]]);
  const entryProblems = new Map<number, string>();
  const range = new CompactRange();
  const entryRoots = new Map<number, Uint8Array>();
  const rootSizes = new Set([...cps.map((c) => c.size), ...kept.flatMap((c) => (c ? [c.size] : []))]);
  const noteRoot = () => { if (rootSizes.has(range.size)) entryRoots.set(range.size, range.root()); };
  noteRoot();
  let commitments = 0;
  let erased = 0;
  let nodesSeen = 0;
  // Detector settings: the digests recorded so far (a verdict must name one recorded before it).
  const settingsSeen = new Set<string>();
  let settingsCount = 0;
  let verdictsWithSettings = 0;
  const entryProblem = (i: number, msg: string) => { const had = entryProblems.get(i); entryProblems.set(i, had ? `${had}; ${msg}` : msg); };
  let newestTs: string | null = null;
  for (let start = 0; start < size; start += page) {
    const end = Math.min(size, start + page);
    const [rows, leafNodes, privs] = await Promise.all([storage.entries(start, end, page), storage.nodes(0, start, end - start), storage.privateRange(start, end, page)]);
    const nodeAt = new Map(leafNodes.filter((n) => n.index < end).map((n) => [n.index, n.hash]));
    const privAt = new Map(privs.map((p) => [p.index, p]));
    const rowAt = new Map(rows.map((r) => [r.index, r]));
    nodesSeen += nodeAt.size;
    for (let i = start; i < end; i++) {
      const row = rowAt.get(i);
      if (!row) { report({ kind: 'structure', index: i, message: `entry ${i} is missing` }); entryProblems.set(i, 'missing'); range.append(EMPTY_ROOT); noteRoot(); continue; }
      if (i === size - 1) newestTs = row.ts;
      const leafHash = hashLeaf(row.leaf);
      range.append(leafHash);
      noteRoot();
      let record: LedgerRecord | null = null;
      try { record = parseLeaf(row.leaf); } catch (err) { entryProblems.set(i, `leaf is not a ledger record (${(err as Error).message})`); }
      if (row.region_state != null) {
        // Filled region columns say what the leaf does: else a query by region would miss the entry, or count it where it was not.
        const want = regionColumns(row.kind, record);
        const off = REGION_COLS.filter((c) => (row[c] ?? null) !== want[c]);
        if (off.length) entryProblem(i, `region column(s) ${off.join(', ')} differ from the leaf`);
      }
      if (record) {
        const cols = entryColumns(record);
        const wrong = COLS.filter((c) => (row[c] ?? null) !== (cols[c] ?? null));
        if (wrong.length) entryProblem(i, `indexed column(s) ${wrong.join(', ')} differ from the leaf`);
        if (record.kind === 'settings') {
          settingsCount++;
          let digest: string | null = null;
          try { digest = settingsDigest(record.settings); } catch { /* not canonical JSON: reported below */ }
          if (digest !== record.digest) entryProblem(i, `its settings do not hash to the digest it states (${String(record.digest).slice(0, 16)}..., the settings give ${digest ? `${digest.slice(0, 16)}...` : 'none'}): the settings or the digest were changed`);
          else settingsSeen.add(digest);
        } else if (record.kind === 'interaction' && recordsRegions(record.schema)) {
          const disagree = regionDisagreement(record);
          if (disagree) entryProblem(i, disagree);
        } else if (record.kind === 'verdict' && record.settings_digest !== undefined && record.settings_digest !== null) {
          const d = record.settings_digest;
          if (typeof d !== 'string' || !settingsSeen.has(d)) entryProblem(i, `the verdict names detector settings ${String(d).slice(0, 16)}... that no settings entry before it records`);
          else verdictsWithSettings++;
        }
      }
      const node = nodeAt.get(i);
      if (!node) report({ kind: 'structure', index: i, level: 0, message: `leaf node 0/${i} is missing` });
      else if (!eq(node, leafHash)) badLeaves.add(i);
      const priv = privAt.get(i);
      if (priv) {
        if (priv.erased_at) { erased++; continue; }
        if (record?.kind === 'verdict') {
          // An operator verdict: its note and operator are committed in its reason.
          const cols = entryColumns(record);
          const committed: Record<string, string | null | undefined> = operatorCommitments(record);
          if (committed.operator_note === null && committed.operator === null) { report({ kind: 'private', index: i, message: `entry ${i}: private data attached to a verdict without an operator's reason` }); continue; }
          // An organisation's allow-list entry keeps its openings under the org (erased with the org's data).
          if (priv.account_id !== cols.account_id || priv.org_id !== cols.org_id || priv.ip !== null) report({ kind: 'private', index: i, message: `entry ${i}: private side names another account or org` });
          for (const f of ['operator_note', 'operator'] as const) {
            const o = priv.openings?.[f];
            if (!o || o.value === null) continue;
            commitments++;
            if (committed[f] !== commitment(o.value, o.salt)) report({ kind: 'private', index: i, message: `entry ${i}: stored ${f} does not open its commitment` });
          }
          continue;
        }
        if (record?.kind === 'erasure') {
          // An erasure: the operator and the reason are committed in the record itself.
          if (priv.account_id !== null || priv.org_id !== null || priv.ip !== null) report({ kind: 'private', index: i, message: `entry ${i}: private side names an account or org` });
          const committed: Record<string, string | null> = { operator: record.by, operator_note: record.reason };
          for (const f of ['operator_note', 'operator'] as const) {
            const o = priv.openings?.[f];
            if (!o || o.value === null) continue;
            commitments++;
            if (committed[f] !== commitment(o.value, o.salt)) report({ kind: 'private', index: i, message: `entry ${i}: stored ${f} does not open its commitment` });
          }
          continue;
        }
        if (record?.kind !== 'interaction') { report({ kind: 'private', index: i, message: `entry ${i}: private data attached to a non-interaction entry` }); continue; }
        if (priv.account_id !== record.account_id || priv.org_id !== record.org_id) report({ kind: 'private', index: i, message: `entry ${i}: private side names another account or org` });
        const committed: Record<string, string | null | undefined> = {
          client_ip: record.client.ip, user_agent: record.client.user_agent, prompt: record.request.prompt,
          signup_ip: record.account?.signup_ip, email_domain: record.account?.email_domain, payment_fp: record.account?.payment_fp,
          claimed_subdivision: record.account?.claimed_subdivision,
        };
        for (const f of PRIVATE_FIELDS) {
          const o = priv.openings?.[f];
          if (!o || o.value === null) continue;
          commitments++;
          if (committed[f] !== commitment(o.value, o.salt)) report({ kind: 'private', index: i, message: `entry ${i}: stored ${f} does not open its commitment` });
        }
        // The clear IP columns feed the IP and network queries: they must be the committed address
        // (a changed or removed one would hide the entry from them).
        const opened = priv.openings?.client_ip?.value ?? null;
        if ((record.client.ip ?? null) !== null && opened === null) report({ kind: 'private', index: i, message: `entry ${i}: the opening of its committed client IP is missing` });
        if (priv.ip !== opened) report({ kind: 'private', index: i, message: `entry ${i}: indexed client IP differs from the committed one` });
        else if (priv.ip_v4 !== undefined && priv.ip_v4 !== (opened === null ? null : ipv4ToInt(opened))) report({ kind: 'private', index: i, message: `entry ${i}: indexed IPv4 address (ip_v4) differs from the committed client IP` });
      }
    }
    // Nodes beyond the log are not part of any tree.
  }

  // Levels 1..: every stored node must be the hash of its two stored children.
  const maxLevel = await storage.maxLevel();
  for (let level = 1; level <= maxLevel; level++) {
    const bad = new Set<number>();
    suspects.set(level, bad);
    const count = Math.floor(size / 2 ** level);
    for (let start = 0; start < count; start += page) {
      const end = Math.min(count, start + page);
      const [parents, children] = await Promise.all([storage.nodes(level, start, end - start), storage.nodes(level - 1, start * 2, (end - start) * 2)]);
      const child = new Map(children.map((c) => [c.index, c.hash]));
      const parentAt = new Map(parents.map((p) => [p.index, p.hash]));
      nodesSeen += parentAt.size;
      for (let j = start; j < end; j++) {
        const p = parentAt.get(j);
        const l = child.get(2 * j);
        const r = child.get(2 * j + 1);
        if (!p || !l || !r) { report({ kind: 'structure', index: j, level, message: `tree node ${level}/${j} or one of its children is missing` }); continue; }
        if (!eq(p, hashChildren(l, r))) bad.add(j);
      }
    }
    const extra = await storage.nodes(level, count, 1);
    if (extra.length) report({ kind: 'structure', index: extra[0].index, level, message: `tree node ${level}/${extra[0].index} lies beyond the log size ${size}` });
  }
  const extraLeaf = await storage.nodes(0, size, 1);
  if (extraLeaf.length) report({ kind: 'structure', index: extraLeaf[0].index, level: 0, message: `leaf node 0/${extraLeaf[0].index} lies beyond the log size ${size}` });

  // Roots: the entries must reproduce every signed root; the stored nodes too.
  let entriesMatchSigned = true;
  let nodesMatchSigned = true;
  let witnessed: { size: number; cosigners: string[] } | null = null;
  for (const cp of cps) {
    if (!cp.valid) continue;
    const fromEntries = entryRoots.get(cp.size);
    if (quorum && cp.cosigners.length >= quorum && fromEntries && eq(fromEntries, cp.root) && (!witnessed || cp.size > witnessed.size)) witnessed = { size: cp.size, cosigners: cp.cosigners };
    if (fromEntries && !eq(fromEntries, cp.root)) {
      entriesMatchSigned = false;
      report({ kind: 'checkpoint', index: cp.size, message: `the stored entries do not reproduce the signed root of checkpoint ${cp.size}` });
    }
    try {
      if (!eq(await rootAt(storage, cp.size), cp.root)) nodesMatchSigned = false;
    } catch { nodesMatchSigned = false; }
  }

  // What the log held when the kept checkpoints were signed must still be there, unchanged.
  const keptResults = kept.map((cp) => {
    if (!cp) return { size: null, ok: false };
    if (cp.size > size) {
      report({ kind: 'checkpoint', index: cp.size, message: `the log holds ${size} entries, fewer than the ${cp.size} of the checkpoint you kept: entries were removed from its end` });
      return { size: cp.size, ok: false };
    }
    const fromEntries = entryRoots.get(cp.size);
    if (!fromEntries || !eq(fromEntries, cp.root)) {
      report({ kind: 'checkpoint', index: cp.size, message: `the stored entries do not reproduce the root of the checkpoint you kept (size ${cp.size}): the log was rewritten since` });
      return { size: cp.size, ok: false };
    }
    return { size: cp.size, ok: true };
  });

  // Blame: a node that fails against its children while its children pass is the altered one;
  // a leaf whose entry disagrees is the entry's fault if the parent still matches the leaf node.
  const suspectSet = (level: number) => suspects.get(level) ?? new Set<number>();
  for (const i of [...badLeaves].sort((a, b) => a - b)) {
    const hasParent = Math.floor(i / 2) < Math.floor(size / 2);
    const nodeAltered = hasParent ? suspectSet(1).has(Math.floor(i / 2)) : (!nodesMatchSigned && entriesMatchSigned);
    if (nodeAltered) report({ kind: 'node', level: 0, index: i, message: `tree node 0/${i} (leaf hash of entry ${i}) was altered` });
    else {
      // The altered leaf first: a column that differs from it is a consequence, named after it.
      const also = entryProblems.get(i);
      if (also !== 'missing') entryProblems.set(i, `entry ${i} was altered: its leaf hash no longer matches the tree${also ? `; ${also}` : ''}`);
    }
  }
  for (let level = 1; level <= maxLevel; level++) {
    for (const j of [...suspectSet(level)].sort((a, b) => a - b)) {
      const childSuspect = suspectSet(level - 1).has(2 * j) || suspectSet(level - 1).has(2 * j + 1);
      if (!childSuspect) report({ kind: 'node', level, index: j, message: `tree node ${level}/${j} was altered: it is not the hash of its children` });
    }
  }
  for (const [i, msg] of [...entryProblems].sort((a, b) => a[0] - b[0])) report({ kind: 'entry', index: i, message: msg.startsWith('entry') ? msg : `entry ${i}: ${msg}` });

  // Consistency between successive signed checkpoints, from stored nodes and the RFC verifier.
  const anyNodeBad = [...suspects.values()].some((s) => s.size > 0);
  if (!anyNodeBad) {
    const valid = cps.filter((c) => c.valid);
    for (let k = 1; k < valid.length; k++) {
      const a = valid[k - 1];
      const b = valid[k];
      try {
        const proof = a.size === 0 ? [] : await consistencyProof(storage, a.size, b.size);
        verifyConsistency(a.size, b.size, proof, a.root, b.root);
      } catch (err) {
        report({ kind: 'checkpoint', index: b.size, message: `checkpoint ${b.size} is not consistent with checkpoint ${a.size}: ${(err as Error).message}` });
      }
    }
  }

  // Entries past the last valid signed checkpoint rest on the stored tree alone: anyone who can
  // write the database could rewrite them unnoticed. A live log always has such a tail (entries since
  // the last checkpoint); a log with entries and no signed checkpoint at all is not verified,
  // unless its newest entry is recent enough that the first checkpoint may simply not be due yet.
  const signedSize = largestSignedSize(cps);
  const newestAgeMs = newestTs === null ? Infinity : (opts.now ?? Date.now)() - Date.parse(newestTs);
  const awaitingFirstCheckpoint = newestAgeMs < (opts.unsignedGraceMs ?? 0);
  if (size > 0 && signedSize === 0 && !awaitingFirstCheckpoint) {
    report({ kind: 'checkpoint', message: `no signed checkpoint covers the log: none of its ${size} entries is covered by a signature (its checkpoints were deleted, or none was signed yet: \`warden ledger checkpoint\` signs one)` });
  }
  if (quorum && size > 0 && !witnessed) {
    report({ kind: 'checkpoint', message: `no checkpoint of the log carries the quorum of ${quorum} valid witness cosignature(s) (of ${witnesses.map((w) => w.name).join(', ')}) with a root its entries reproduce: no witness vouches for this log (its witnesses refused or never saw it, or the log was rewritten after they cosigned)` });
  }
  problems.sort((x, y) => kindOrder(x) - kindOrder(y) || (x.index ?? 0) - (y.index ?? 0));
  const entryIdx = problems.filter((p) => p.kind === 'entry').map((p) => p.index!);
  const latest = cps.length ? cps[cps.length - 1] : null;
  return {
    ok: problems.length === 0,
    size,
    entries: size,
    nodes: nodesSeen,
    checkpoints: cps.length,
    commitments,
    erased,
    settings: settingsCount,
    verdictsWithSettings,
    firstBadEntry: entryIdx.length ? entryIdx.reduce((a, b) => Math.min(a, b)) : null,
    latestCheckpoint: latest ? { size: latest.size, rootHash: b64(latest.root) } : null,
    unsigned: size - Math.min(signedSize, size),
    kept: keptResults,
    ...(quorum ? { witnessed, unwitnessed: size - (witnessed?.size ?? 0) } : {}),
    problems,
  };
}

/** A policy explanation's subdivision tag: `subdivision:UA-43@data:<12 hex>`, `subdivision:unknown(UA)->inside@data:none`. */
const REGION_TAG = /^subdivision:(?:([A-Z]{2}-[A-Z0-9]{1,3})|unknown\([A-Z]{2}\)->(?:inside|outside))@data:([0-9a-f]{12}|none)$/;

/**
 * A `warden.ledger/4` interaction's region against the policy's own explanation in the same leaf:
 * a rule that read the client's subdivision names it (or `unknown`) and the data it came from;
 * the leaf's `client.subdivision` and `client.subdivision_data` must say the same. Null when they agree.
 */
export function regionDisagreement(r: InteractionRecord): string | null {
  const policy = Array.isArray(r.enforcement?.policy) ? r.enforcement.policy : [];
  for (const tag of policy) {
    if (typeof tag !== 'string' || !tag.startsWith('subdivision:')) continue;
    const m = REGION_TAG.exec(tag);
    if (!m) return `its policy decision names a subdivision in a form not known (${tag.slice(0, 60)})`;
    const named = m[1] ?? null;
    const data = r.client.subdivision_data ?? null;
    const sameData = m[2] === 'none' ? data === null : data !== null && data.startsWith(m[2]);
    if (named !== (r.client.subdivision ?? null) || !sameData) {
      return `the region it records (client.subdivision ${r.client.subdivision ?? 'null'}, data ${data ? `${data.slice(0, 12)}...` : 'none'}) is not the one its policy decision read (${tag})`;
    }
  }
  return null;
}

/**
 * Size of the largest valid signed checkpoint, 0 if none. A loop, not `Math.max(...sizes)`: a log
 * signs a checkpoint every interval, so there can be hundreds of thousands, more than a call's arguments.
 */
export function largestSignedSize(cps: ReadonlyArray<Pick<CheckpointRow, 'size'> & { valid: boolean }>): number {
  let largest = 0;
  for (const c of cps) if (c.valid && c.size > largest) largest = c.size;
  return largest;
}

function kindOrder(p: VerifyProblem): number {
  return ['entry', 'node', 'private', 'structure', 'checkpoint'].indexOf(p.kind);
}
