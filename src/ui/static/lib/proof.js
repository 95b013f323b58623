// Checks, in the browser, that a ledger entry is in the signed log: the entry's text hashed as a
// leaf (RFC 9162: SHA-256 with 0x00 for leaves, 0x01 for nodes), the inclusion path walked up to a
// root, that root compared with the checkpoint's, and the checkpoint's Ed25519 signature (C2SP
// signed note) verified with the log's verifier key. The server's own word is not taken for any
// step; the verifier key is, so the page shows it for comparison with the published one.

import { h, facts, modal } from './dom.js';
import { get } from './api.js';

const utf8 = new TextEncoder();
const fromB64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
const toB64 = (bytes) => btoa(String.fromCharCode(...bytes));

async function sha256(...parts) {
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { all.set(p, at); at += p.length; }
  return new Uint8Array(await crypto.subtle.digest('SHA-256', all));
}

const equal = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

/** RFC 9162 2.1.3.2: the root the inclusion path leads to from `leafHash` at `index` in a tree of `size`. */
async function rootFrom(leafHash, index, size, path) {
  if (!(index < size)) throw new Error(`entry ${index} is not below the tree size ${size}`);
  let fn = index;
  let sn = size - 1;
  let r = leafHash;
  for (const p of path) {
    if (sn === 0) throw new Error('the proof is longer than the path to the root');
    if (fn % 2 === 1 || fn === sn) {
      r = await sha256(Uint8Array.of(1), p, r);
      if (fn % 2 === 0) while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
    } else {
      r = await sha256(Uint8Array.of(1), r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  if (sn !== 0) throw new Error('the proof is shorter than the path to the root');
  return r;
}

/** The checkpoint note's text, its origin, size and root, and its signature lines. */
function parseNote(note) {
  const split = note.lastIndexOf('\n\n');
  if (split < 0) throw new Error('the checkpoint has no signature');
  const text = note.slice(0, split + 1);
  const [origin, size, root] = text.split('\n');
  const signatures = note.slice(split + 2).split('\n').filter((l) => l.startsWith('— ')).map((l) => {
    const [name, sig] = l.slice(2).split(' ');
    return { name, bytes: fromB64(sig) };
  });
  return { text, origin, size: Number(size), root, signatures };
}

/** Verify the note's signature by the key `<name>+<key id>+<base64(0x01 || public key)>`. */
async function verifySignature(note, verifierKey) {
  // <name>+<key id>+<key>: the key's base64 may itself hold '+'.
  const k = verifierKey.trim();
  const p1 = k.indexOf('+');
  const p2 = k.indexOf('+', p1 + 1);
  const [name, idHex, keyB64] = [k.slice(0, p1), k.slice(p1 + 1, p2), k.slice(p2 + 1)];
  const raw = fromB64(keyB64 ?? '');
  if (raw.length !== 33 || raw[0] !== 1) throw new Error('the verifier key is not an Ed25519 key');
  const pub = raw.slice(1);
  const id = (await sha256(utf8.encode(name), Uint8Array.of(0x0a, 1), pub)).slice(0, 4);
  if (Array.from(id, (b) => b.toString(16).padStart(2, '0')).join('') !== idHex) throw new Error('the verifier key’s id does not match the key');
  const sig = note.signatures.find((s) => s.name === name && equal(s.bytes.slice(0, 4), id));
  if (!sig) throw new Error(`the checkpoint carries no signature by ${name}+${idHex}`);
  const key = await crypto.subtle.importKey('raw', pub, { name: 'Ed25519' }, false, ['verify']);
  if (!(await crypto.subtle.verify({ name: 'Ed25519' }, key, sig.bytes.slice(4), utf8.encode(note.text)))) throw new Error('the checkpoint’s signature does not verify with the log’s key');
}

/**
 * Check an inclusion proof (the ledger's `GET .../proof/inclusion` answer) against the verifier
 * keys (one a line). Resolves to what was checked; rejects saying which step failed.
 */
export async function checkInclusion(answer, verifierKeys) {
  const note = parseNote(answer.checkpoint);
  const leafHash = await sha256(Uint8Array.of(0), utf8.encode(answer.leaf));
  const root = await rootFrom(leafHash, answer.index, note.size, answer.proof.map(fromB64));
  if (toB64(root) !== note.root) throw new Error('the proof does not lead to the root hash the checkpoint signs: the entry, or the log, differs from what was signed');
  const keys = String(verifierKeys).split('\n').map((k) => k.trim()).filter(Boolean);
  let lastError = new Error('the log published no verifier key');
  for (const k of keys) {
    try {
      await verifySignature(note, k);
      return { index: answer.index, size: note.size, root: note.root, origin: note.origin, key: k, steps: answer.proof.length, leafHash: toB64(leafHash) };
    } catch (err) { lastError = err; }
  }
  throw lastError;
}

/**
 * A "Check proof" button for the ledger entry at `index`: it fetches the entry's inclusion proof
 * and the log's verifier keys from `base` (the ledger's routes), checks them here, and says in a
 * dialog what holds, or which step failed.
 */
export function proofButton(base, index) {
  return h('button', { type: 'button', class: 'btn btn-small', 'aria-label': `Check the proof of entry ${index}`, on: { click: async (e) => {
    const button = e.currentTarget;
    button.disabled = true;
    let outcome;
    try {
      const [answer, keys] = await Promise.all([get(`${base}/proof/inclusion`, { index }), get(`${base}/key`)]);
      outcome = await checkInclusion(answer, keys);
    } catch (err) {
      outcome = { error: err.message };
    } finally {
      button.disabled = false;
    }
    await modal(outcome.error ? `Entry ${index}: the proof does not hold` : `Entry ${index} is in the signed log`, (close) => [
      outcome.error
        ? h('p', { role: 'alert', class: 'error', text: `It failed: ${outcome.error}` })
        : [facts([
          ['Entry', String(outcome.index)],
          ['Checkpoint', `${outcome.origin}, ${outcome.size} entries`],
          ['Root hash', h('code', { class: 'small', text: outcome.root })],
          ['Path', `${outcome.steps} hashes from the entry to the root`],
          ['Signed with', h('code', { class: 'small cell-text', text: outcome.key })],
        ]),
        h('p', { class: 'help', text: 'Checked in this browser: the entry’s text hashed, the path up to the root, the root against the signed checkpoint, and its signature with the key above. Compare that key with the one your organisation publishes: a server could serve a key of its own.' })],
      h('div', { class: 'actions' }, h('button', { type: 'button', class: 'btn btn-primary', on: { click: () => close(null) } }, 'Close')),
    ]);
    button.focus();
  } } }, 'Check proof');
}
