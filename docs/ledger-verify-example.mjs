#!/usr/bin/env node
// An independent check of a Warden ledger, written from docs/ledger.md alone: no Warden code,
// Node's crypto only, so an auditor can read it in one sitting and trust what it prints.
//
//   node ledger-verify-example.mjs --url https://api.example.com --token KEY --key VKEY [--key VKEY]...
//        [--witness VKEY]... [--quorum N] [--state DIR] [--account ID [--from T] [--to T]] [--export query.json]
//
// --token   a `ledger:read` key (or the admin token); also WARDEN_LEDGER_TOKEN
// --key     a verifier key obtained out of band (repeat during a rotation)
// --witness a witness's verifier key (cosignature/v1, type 0x04), obtained from the witness's operator
// --quorum  how many of the witnesses given must have cosigned the checkpoint (default: all of them)
// --state   a folder where the checkpoints seen are kept; each run checks the new one against them
// --account the account whose entries are proved one by one and whose totals are added up
// --export  a result of the audit query (`warden ledger query --format json`): its rows and usage
//           are checked against the signed leaves
// Exit code 0 when everything verifies, 1 when something does not, 2 on a usage error.
import { createHash, createPublicKey, verify } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const sha256 = (...parts) => parts.reduce((h, p) => h.update(p), createHash('sha256')).digest();
const unb64 = (s) => Buffer.from(s, 'base64');

/** RFC 8785: keys sorted by UTF-16 code units, ECMAScript numbers and strings, no whitespace. */
export function canonical(v) {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object') return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`).join(',')}}`;
  return JSON.stringify(v);
}

// RFC 9162 section 2.1: hashes, tree head, inclusion (2.1.3.2) and consistency (2.1.4.2) proofs.
export const leafHash = (text) => sha256(Buffer.from([0]), Buffer.from(text, 'utf8'));
const nodeHash = (l, r) => sha256(Buffer.from([1]), l, r);
export function treeHead(hashes) {
  if (hashes.length === 0) return sha256();
  let level = hashes;
  while (level.length > 1) {
    const up = [];
    for (let i = 0; i < level.length; i += 2) up.push(i + 1 < level.length ? nodeHash(level[i], level[i + 1]) : level[i]);
    level = up;
  }
  return level[0];
}
export function verifyInclusion(index, size, leaf, proof, root) {
  if (index >= size) return false;
  let fn = index, sn = size - 1, r = leaf;
  for (const p of proof) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      while (fn % 2 === 0 && fn !== 0) { fn >>= 1; sn >>= 1; }
    } else r = nodeHash(r, p);
    fn >>= 1; sn >>= 1;
  }
  return sn === 0 && r.equals(root);
}
export function verifyConsistency(size1, size2, proof, root1, root2) {
  if (size1 === size2) return proof.length === 0 && root1.equals(root2);
  if (size1 === 0 || size1 > size2 || proof.length === 0) return size1 === 0 && proof.length === 0;
  const p = (size1 & (size1 - 1)) === 0 ? [root1, ...proof] : proof;
  let fn = size1 - 1, sn = size2 - 1;
  while (fn % 2 === 1) { fn >>= 1; sn >>= 1; }
  let fr = p[0], sr = p[0];
  for (const c of p.slice(1)) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr); sr = nodeHash(c, sr);
      while (fn % 2 === 0 && fn !== 0) { fn >>= 1; sn >>= 1; }
    } else sr = nodeHash(sr, c);
    fn >>= 1; sn >>= 1;
  }
  return sn === 0 && fr.equals(root1) && sr.equals(root2);
}

/** A verifier key `name+keyid+base64(0x01 || Ed25519 public key)`; the base64 may hold '+'. */
export function verifierKey(text) {
  const m = /^([^+\s]+)\+([0-9a-f]{8})\+([A-Za-z0-9+/]+=*)$/.exec(text.trim());
  if (!m) throw new Error(`not a verifier key: ${text}`);
  const raw = unb64(m[3]);
  if (raw.length !== 33 || raw[0] !== 1) throw new Error(`not an Ed25519 verifier key: ${text}`);
  const id = sha256(Buffer.from(`${m[1]}\n`, 'utf8'), raw).subarray(0, 4);
  if (id.toString('hex') !== m[2]) throw new Error(`the key id of ${text} does not match its key`);
  const der = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), raw.subarray(1)]);
  return { name: m[1], id, key: createPublicKey({ key: der, format: 'der', type: 'spki' }), text: text.trim() };
}

/** A witness's verifier key `name+keyid+base64(0x04 || Ed25519 public key)` (c2sp.org/tlog-cosignature). */
export function witnessKey(text) {
  const m = /^([^+\s]+)\+([0-9a-f]{8})\+([A-Za-z0-9+/]+=*)$/.exec(text.trim());
  if (!m) throw new Error(`not a witness key: ${text}`);
  const raw = unb64(m[3]);
  if (raw.length !== 33 || raw[0] !== 4) throw new Error(`not a cosignature/v1 Ed25519 witness key: ${text}`);
  const id = sha256(Buffer.from(`${m[1]}\n`, 'utf8'), raw).subarray(0, 4);
  if (id.toString('hex') !== m[2]) throw new Error(`the key id of ${text} does not match its key`);
  const der = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), raw.subarray(1)]);
  return { name: m[1], id, key: createPublicKey({ key: der, format: 'der', type: 'spki' }), text: text.trim() };
}

/**
 * The witnesses whose cosignature on the signed note verifies: a signature line of the witness's
 * name and key id holding a big-endian u64 timestamp and an Ed25519 signature over
 * "cosignature/v1\ntime <timestamp>\n" followed by the checkpoint text.
 */
export function cosigners(note, witnesses) {
  const cut = note.lastIndexOf('\n\n');
  const text = note.slice(0, cut + 1);
  const found = [];
  for (const line of note.slice(cut + 2).split('\n').filter(Boolean)) {
    const m = /^\u2014 (\S+) ([A-Za-z0-9+/]+=*)$/.exec(line);
    if (!m) continue;
    const sig = unb64(m[2]);
    const w = witnesses.find((w) => w.name === m[1] && w.id.equals(sig.subarray(0, 4)));
    if (!w || sig.length !== 4 + 8 + 64 || found.includes(w.text)) continue;
    const message = Buffer.from(`cosignature/v1\ntime ${sig.readBigUInt64BE(4)}\n${text}`, 'utf8');
    if (verify(null, message, w.key, sig.subarray(12))) found.push(w.text);
  }
  return found;
}

/** A signed checkpoint: its origin, size and root, once a signature by one of `keys` verifies. */
export function openCheckpoint(note, keys) {
  const cut = note.lastIndexOf('\n\n');
  if (cut < 0) throw new Error('not a signed note');
  const text = note.slice(0, cut + 1);
  const signers = [];
  for (const line of note.slice(cut + 2).split('\n').filter(Boolean)) {
    const m = /^\u2014 (\S+) ([A-Za-z0-9+/]+=*)$/.exec(line);
    if (!m) throw new Error(`not a signature line: ${line}`);
    const sig = unb64(m[2]);
    const k = keys.find((k) => k.name === m[1] && k.id.equals(sig.subarray(0, 4)));
    if (k && verify(null, Buffer.from(text, 'utf8'), k.key, sig.subarray(4))) signers.push(k.text);
  }
  if (signers.length === 0) throw new Error('the checkpoint carries no valid signature by a key given');
  const [origin, size, root] = text.split('\n');
  if (!/^(0|[1-9]\d*)$/.test(size) || unb64(root).length !== 32) throw new Error('malformed checkpoint text');
  if (origin !== keys[0].name) throw new Error(`the checkpoint is of ${origin}, not ${keys[0].name}`);
  return { size: Number(size), root: unb64(root), note, signers };
}

/** Dotted paths whose values differ between two settings objects (arrays compared whole). */
export function settingsChanges(a, b, prefix = '') {
  const obj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
  if (!obj(a) || !obj(b)) return canonical(a ?? null) === canonical(b ?? null) ? [] : [prefix || '(all)'];
  return [...new Set([...Object.keys(a), ...Object.keys(b)])].sort().flatMap((k) => settingsChanges(a[k], b[k], prefix ? `${prefix}.${k}` : k));
}

/**
 * The record formats of the log (docs/ledger.md, "What is in a leaf"): interactions /1, /2 and /4
 * (/4 says from which region the client came, `client.subdivision`), verdicts /1, /2 and /3 (/3
 * says when a decision set for a time lapses, `expires_at`), settings /2, erasures /1. A leaf of
 * another format is reported, not guessed at.
 */
export const KNOWN_RECORDS = new Set([
  'warden.ledger/1 interaction', 'warden.ledger/2 interaction', 'warden.ledger/4 interaction', 'warden.ledger/5 interaction',
  'warden.ledger/1 verdict', 'warden.ledger/2 verdict', 'warden.ledger/3 verdict',
  'warden.ledger/2 settings', 'warden.ledger/1 erasure',
]);

/** An account's usage as the audit query counts it (docs/ledger.md, "An account's usage"). */
export function usageOf(interactions) {
  const status = (r) => r.response.status;
  const totals = {
    requests: interactions.length,
    refused: interactions.filter((r) => status(r) === 403 || status(r) === 429).length,
    errors: interactions.filter((r) => (status(r) >= 400 && status(r) < 500 && ![401, 403, 429].includes(status(r))) || status(r) >= 500).length,
    input_tokens: 0, output_tokens: 0, reasoning_tokens: 0,
    // Of the input: the prompt cache's reads and writes, recorded since warden.ledger/2 leaves; the
    // requests whose leaves (warden.ledger/1, written before) do not split their input.
    cached_input_tokens: 0, cache_write_tokens: 0,
    cache_unrecorded: interactions.filter((r) => r.schema === 'warden.ledger/1').length,
    // Where from, down to the region (warden.ledger/4): the client subdivisions the leaves record,
    // and the requests whose leaves (written before) do not record one.
    subdivisions: [...new Set(interactions.map((r) => r.client.subdivision).filter((s) => typeof s === 'string'))].sort(),
    subdivision_unrecorded: interactions.filter((r) => !('subdivision' in r.client)).length,
  };
  for (const r of interactions) {
    for (const k of ['input_tokens', 'output_tokens', 'reasoning_tokens', 'cached_input_tokens', 'cache_write_tokens']) totals[k] += r.response[k] ?? 0;
  }
  return totals;
}

async function main(argv) {
  const o = { key: [], witness: [] };
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i].replace(/^--/, '');
    if (!argv[i].startsWith('--') || i + 1 >= argv.length || !['url', 'token', 'key', 'witness', 'quorum', 'state', 'account', 'from', 'to', 'export'].includes(name)) {
      console.error(`usage error at ${argv[i]} (see the comment at the top of this file)`); return 2;
    }
    if (name === 'key' || name === 'witness') o[name].push(argv[++i]); else o[name] = argv[++i];
  }
  const quorum = o.quorum === undefined ? o.witness.length : Number(o.quorum);
  if (!Number.isInteger(quorum) || (o.quorum !== undefined && (quorum < 1 || quorum > o.witness.length))) { console.error('--quorum must be between 1 and the number of --witness keys'); return 2; }
  const token = o.token ?? process.env.WARDEN_LEDGER_TOKEN;
  if (!o.url || o.key.length === 0) { console.error('--url and --key are required'); return 2; }
  const keys = o.key.map(verifierKey);
  let failures = 0;
  const check = (ok, what) => { console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`); if (!ok) failures++; return ok; };
  const get = async (path) => {
    const r = await fetch(new URL(path, o.url), { headers: token ? { authorization: `Bearer ${token}` } : {} });
    if (!r.ok) throw new Error(`GET ${path}: ${r.status} ${await r.text()}`);
    return path.includes('/checkpoint') ? r.text() : r.json();
  };

  const cp = openCheckpoint(await get('/ledger/v1/checkpoint'), keys);
  console.log(`checkpoint: size ${cp.size}, root ${cp.root.toString('base64')}, signed by ${cp.signers.join(', ')}`);
  // Witnesses: the log cannot show this checkpoint to you and another history to someone else
  // unless `quorum` of them were fooled too; without their cosignatures it could.
  if (o.witness.length) {
    const cos = cosigners(cp.note, o.witness.map(witnessKey));
    check(cos.length >= quorum, `the checkpoint carries ${cos.length} of the ${quorum} witness cosignature(s) required${cos.length ? ` (${cos.join(', ')})` : ''}`);
  }

  // The checkpoints kept from earlier runs: the log must have grown from each of them.
  if (o.state) {
    mkdirSync(o.state, { recursive: true });
    for (const f of readdirSync(o.state).filter((f) => f.endsWith('.note')).sort()) {
      const old = openCheckpoint(readFileSync(join(o.state, f), 'utf8'), keys);
      if (!check(old.size <= cp.size, `the log holds at least the ${old.size} entries of kept checkpoint ${f}`)) continue;
      const c = await get(`/ledger/v1/proof/consistency?old=${old.size}&new=${cp.size}`);
      check(verifyConsistency(old.size, cp.size, c.proof.map(unb64), old.root, cp.root), `consistent with kept checkpoint ${f} (its own root, not the log's)`);
    }
    writeFileSync(join(o.state, `${String(cp.size).padStart(15, '0')}.note`), cp.note);
  }

  // Every leaf up to the signed size: its hash, its canonical form, the root they rebuild.
  const leaves = [];
  while (leaves.length < cp.size) {
    const page = await get(`/ledger/v1/entries?start=${leaves.length}&end=${cp.size}`);
    if (page.entries.length === 0) break;
    for (const e of page.entries) leaves.push({ index: e.index, id: e.id, text: e.leaf, record: JSON.parse(e.leaf) });
  }
  const hashes = leaves.map((l) => leafHash(l.text));
  check(leaves.every((l, i) => l.index === i && l.record.id === l.id), `${leaves.length} entries read in order, each with its own id`);
  check(leaves.every((l) => canonical(l.record) === l.text), 'every leaf is RFC 8785 canonical JSON');
  const unknown = leaves.filter((l) => !KNOWN_RECORDS.has(`${l.record.schema} ${l.record.kind}`));
  check(unknown.length === 0, `every leaf is a record format this script knows${unknown.length ? `, not #${unknown.slice(0, 5).map((l) => `${l.index} (${l.record.schema} ${l.record.kind})`).join(', ')}` : ''}`);
  check(leaves.length === cp.size && treeHead(hashes).equals(cp.root), `the ${leaves.length} leaves rebuild the signed root`);

  // Detector settings (warden.ledger/2): each settings leaf's digest is the SHA-256 of its settings'
  // RFC 8785 JSON, and each detector verdict names a digest a settings leaf before it records.
  const settingsAt = new Map();
  let badSettings = 0, orphans = 0, named = 0, before = null;
  for (const { index, record: r } of leaves) {
    if (r.kind === 'settings') {
      if (sha256(Buffer.from(canonical(r.settings), 'utf8')).toString('hex') !== r.digest) { badSettings++; continue; }
      if (!settingsAt.has(r.digest)) settingsAt.set(r.digest, index);
      const changed = before ? settingsChanges(before, r.settings) : null;
      console.log(`settings #${index} ${r.ts} ${r.digest.slice(0, 16)}...: Warden ${r.settings.warden_version}${changed ? `, changed ${changed.join(', ') || 'nothing'}` : ''}`);
      before = r.settings;
    } else if (r.kind === 'verdict' && typeof r.settings_digest === 'string') {
      if (settingsAt.has(r.settings_digest)) named++; else orphans++;
    }
  }
  check(badSettings === 0, `every settings leaf's digest is the digest of its settings (${settingsAt.size} distinct)`);
  check(orphans === 0, `${named} verdicts name settings recorded before them${orphans ? `, ${orphans} name settings no leaf before them records` : ''}`);

  // One account: each of its entries proved on its own, and its totals from the signed leaves.
  if (o.account) {
    const from = o.from ? Date.parse(o.from) : -Infinity, to = o.to ? Date.parse(o.to) : Infinity;
    const mine = leaves.filter(({ record: r }) => r.kind === 'interaction' && r.account_id === o.account && Date.parse(r.ts) >= from && Date.parse(r.ts) < to);
    let proved = 0;
    for (const l of mine) {
      const b = await get(`/ledger/v1/proof/inclusion?index=${l.index}&tree_size=${cp.size}`);
      if (b.leaf === l.text && verifyInclusion(l.index, cp.size, leafHash(b.leaf), b.proof.map(unb64), cp.root)) proved++;
    }
    check(proved === mine.length, `${proved} of the account's ${mine.length} interactions proved in the checkpoint`);
    const verdicts = leaves.filter(({ record: r }) => r.kind === 'verdict' && (r.subject.id === o.account || r.accounts?.includes(o.account)));
    // A decision set for a time says until when (warden.ledger/3; earlier verdict leaves do not record it).
    for (const { index, record: r } of verdicts) console.log(`verdict #${index} ${r.ts} ${r.subject.kind} ${r.subject.id} ${r.level} (${r.source}), settings ${r.settings_digest ? `${r.settings_digest.slice(0, 16)}... (#${settingsAt.get(r.settings_digest)})` : 'none named'}${r.expires_at ? `, until ${r.expires_at}` : ''}`);
    const totals = usageOf(mine.map((l) => l.record));
    console.log(`usage of ${o.account} from the signed leaves: ${JSON.stringify(totals)}`);
    // Served or not (refused, failed), by the region the policy read (warden.ledger/4): the answer to "did you
    // serve region X", from the signed leaves alone; "unrecorded" for leaves written before.
    const byRegion = {};
    for (const { record: r } of mine) {
      const region = !('subdivision' in r.client) ? 'unrecorded' : r.client.subdivision ?? `${r.client.country ?? 'unknown'} (no region)`;
      const outcome = r.response.status < 400 ? 'served' : 'not_served';
      byRegion[region] = { served: 0, not_served: 0, ...byRegion[region] };
      byRegion[region][outcome]++;
    }
    console.log(`regions of ${o.account} from the signed leaves: ${JSON.stringify(byRegion)}`);

    if (o.export) {
      const q = JSON.parse(readFileSync(o.export, 'utf8'));
      // The export was read at its own size (tree_size): compare it with the leaves below that.
      check(q.tree_size <= cp.size, `the export (log size ${q.tree_size}) is covered by the checkpoint (size ${cp.size})`);
      const inExport = mine.filter((l) => l.index < q.tree_size);
      const rows = q.interactions.filter((r) => r.account_id === o.account);
      const byIndex = new Map(leaves.map((l) => [l.index, l]));
      check(rows.every((r) => byIndex.get(r.index)?.id === r.id), 'every row of the export is the entry at its index');
      check(!q.truncated && rows.length === inExport.length, `the export holds all ${inExport.length} of the account's interactions (it has ${rows.length})`);
      const usage = q.usage.find((u) => u.account_id === o.account);
      if (check(!!usage && q.usage_scope === 'all', 'the export has the account\'s usage over all its interactions')) {
        const expected = usageOf(inExport.map((l) => l.record));
        for (const [k, v] of Object.entries(expected)) check(canonical(usage[k] ?? null) === canonical(v), `export usage ${k} ${canonical(usage[k] ?? null)} = signed leaves ${canonical(v)}`);
      }
    }
  }
  console.log(failures ? `FAILED: ${failures} check(s)` : 'OK: everything verifies');
  return failures ? 1 : 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (e) => { console.error(`FAIL ${e.message}`); process.exitCode = 1; });
}
