/**
 * The Merkle tree of RFC 9162 section 2.1 (the same tree as RFC 6962): SHA-256 with 0x00/0x01
 * domain separation, the Merkle Tree Hash (MTH) for any size, inclusion proofs (2.1.3) and
 * consistency proofs (2.1.4), and their verification algorithms transcribed from the RFC.
 *
 * Everything here is pure: no storage, no I/O. Proof generation takes its hashes from a
 * `NodeSource` that only has to answer "hash of the perfect subtree at (level, index)", so the
 * ledger computes proofs from stored node hashes instead of re-hashing the log.
 */
import { createHash } from 'node:crypto';

export const HASH_SIZE = 32;

/** SHA-256 of the concatenation of the given byte strings. */
export function sha256(...parts: Uint8Array[]): Uint8Array {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

const LEAF_PREFIX = Uint8Array.of(0x00);
const NODE_PREFIX = Uint8Array.of(0x01);

/** MTH({d(0)}) = SHA-256(0x00 || d(0)). */
export function hashLeaf(leaf: Uint8Array): Uint8Array {
  return sha256(LEAF_PREFIX, leaf);
}

/** SHA-256(0x01 || left || right). */
export function hashChildren(left: Uint8Array, right: Uint8Array): Uint8Array {
  return sha256(NODE_PREFIX, left, right);
}

/** MTH({}) = SHA-256() of the empty string. */
export const EMPTY_ROOT: Uint8Array = sha256();

/** Largest power of two strictly smaller than n (n >= 2): the split point k of RFC 9162 2.1.1. */
export function splitPoint(n: number): number {
  if (!Number.isSafeInteger(n) || n < 2) throw new RangeError(`splitPoint needs n >= 2, got ${n}`);
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** Exact for every safe integer: Math.log2 of a power of two is exact. */
export function isPowerOfTwo(n: number): boolean {
  return Number.isSafeInteger(n) && n > 0 && 2 ** Math.floor(Math.log2(n)) === n;
}

/** Position of a perfect subtree: it covers leaves [index * 2^level, (index + 1) * 2^level). */
export interface NodeId { level: number; index: number }

/**
 * The perfect subtrees whose hashes MTH(D[start:end]) is made of, left to right, largest first,
 * following the recursion of RFC 9162 2.1.1. `start` must be aligned (a multiple of the largest
 * power of two not exceeding end - start), which holds for every range the RFC's MTH, PATH and
 * PROOF definitions produce.
 */
export function perfectCover(start: number, end: number): NodeId[] {
  const out: NodeId[] = [];
  let a = start;
  while (a < end) {
    const n = end - a;
    if (isPowerOfTwo(n)) {
      const level = Math.round(Math.log2(n));
      out.push({ level, index: a / n });
      break;
    }
    const k = splitPoint(n);
    const level = Math.round(Math.log2(k));
    out.push({ level, index: a / k });
    a += k;
  }
  return out;
}

/** MTH from the hashes of its perfect cover (left to right): right fold with hashChildren. */
export function foldCover(hashes: readonly Uint8Array[]): Uint8Array {
  if (hashes.length === 0) return EMPTY_ROOT;
  let h = hashes[hashes.length - 1];
  for (let i = hashes.length - 2; i >= 0; i--) h = hashChildren(hashes[i], h);
  return h;
}

/** MTH(D[0:n]) computed directly from the leaves, by the definition. Reference use (tests, small trees). */
export function merkleTreeHash(leaves: readonly Uint8Array[]): Uint8Array {
  return mthOfLeafHashes(leaves.map(hashLeaf));
}

/** MTH over already hashed leaves. */
export function mthOfLeafHashes(leafHashes: readonly Uint8Array[]): Uint8Array {
  const n = leafHashes.length;
  if (n === 0) return EMPTY_ROOT;
  if (n === 1) return leafHashes[0];
  const k = splitPoint(n);
  return hashChildren(mthOfLeafHashes(leafHashes.slice(0, k)), mthOfLeafHashes(leafHashes.slice(k)));
}

/** A range of leaves [start, end) whose MTH is one element of a proof. */
export interface LeafRange { start: number; end: number }

/**
 * The ranges whose MTH make up PATH(m, D[0:n]) of RFC 9162 2.1.3.1, in proof order
 * (the leaf's sibling first, the root's child last).
 */
export function inclusionProofRanges(index: number, size: number): LeafRange[] {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size) {
    throw new RangeError(`inclusion proof needs 0 <= index < size (index ${index}, size ${size})`);
  }
  const out: LeafRange[] = [];
  const path = (m: number, start: number, end: number): void => {
    const n = end - start;
    if (n <= 1) return;
    const k = splitPoint(n);
    if (m < k) {
      path(m, start, start + k);
      out.push({ start: start + k, end });
    } else {
      path(m - k, start + k, end);
      out.push({ start, end: start + k });
    }
  };
  path(index, 0, size);
  return out;
}

/**
 * The ranges whose MTH make up PROOF(m, D[0:n]) = SUBPROOF(m, D[0:n], true) of RFC 9162 2.1.4.1,
 * in proof order. Defined for 0 < m <= n; empty when m == n.
 */
export function consistencyProofRanges(oldSize: number, newSize: number): LeafRange[] {
  if (!Number.isSafeInteger(oldSize) || !Number.isSafeInteger(newSize) || oldSize < 1 || oldSize > newSize) {
    throw new RangeError(`consistency proof needs 0 < old <= new (old ${oldSize}, new ${newSize})`);
  }
  const out: LeafRange[] = [];
  const sub = (m: number, start: number, end: number, b: boolean): void => {
    const n = end - start;
    if (m === n) {
      if (!b) out.push({ start, end });
      return;
    }
    const k = splitPoint(n);
    if (m <= k) {
      sub(m, start, start + k, b);
      out.push({ start: start + k, end });
    } else {
      sub(m - k, start + k, end, false);
      out.push({ start, end: start + k });
    }
  };
  sub(oldSize, 0, newSize, true);
  return out;
}

/** Where proof generation reads node hashes from: perfect subtrees only. */
export interface NodeSource {
  /** Hashes of the given perfect subtrees, in the same order. Throws if one is missing. */
  getNodes(ids: readonly NodeId[]): Promise<Uint8Array[]>;
}

/** MTH of each range, reading every perfect subtree hash needed in one batch. */
export async function hashRanges(source: NodeSource, ranges: readonly LeafRange[]): Promise<Uint8Array[]> {
  const covers = ranges.map((r) => perfectCover(r.start, r.end));
  const ids = covers.flat();
  const hashes = await source.getNodes(ids);
  const out: Uint8Array[] = [];
  let at = 0;
  for (const cover of covers) {
    out.push(foldCover(hashes.slice(at, at + cover.length)));
    at += cover.length;
  }
  return out;
}

/** Root hash MTH(D[0:size]) from stored perfect subtrees: at most log2(size) reads. */
export async function rootAt(source: NodeSource, size: number): Promise<Uint8Array> {
  if (size === 0) return EMPTY_ROOT;
  return (await hashRanges(source, [{ start: 0, end: size }]))[0];
}

export async function inclusionProof(source: NodeSource, index: number, size: number): Promise<Uint8Array[]> {
  return hashRanges(source, inclusionProofRanges(index, size));
}

export async function consistencyProof(source: NodeSource, oldSize: number, newSize: number): Promise<Uint8Array[]> {
  return hashRanges(source, consistencyProofRanges(oldSize, newSize));
}

/** Error thrown by the verifiers: the proof does not check out, with the reason. */
export class ProofError extends Error {
  constructor(message: string) { super(message); this.name = 'ProofError'; }
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

function checkHash(h: unknown, what: string): asserts h is Uint8Array {
  if (!(h instanceof Uint8Array) || h.length !== HASH_SIZE) throw new ProofError(`${what} must be ${HASH_SIZE} bytes`);
}

// The RFC's fn/sn counters can exceed 2^32, so shifts use division (JS bit ops are 32-bit).
const lsb = (x: number): boolean => x % 2 === 1;
const shr = (x: number): number => Math.floor(x / 2);

/**
 * RFC 9162 2.1.3.2, step by step: does `proof` show that the leaf with hash `leafHash` is at
 * `index` in the tree of `size` whose root is `root`? Throws ProofError saying why not.
 */
export function verifyInclusion(leafHash: Uint8Array, index: number, size: number, proof: readonly Uint8Array[], root: Uint8Array): void {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || size < 0) throw new ProofError('index and size must be non-negative integers');
  checkHash(leafHash, 'leaf hash');
  checkHash(root, 'root hash');
  proof.forEach((p, i) => checkHash(p, `proof[${i}]`));
  // 1. leaf_index must be < tree_size.
  if (index >= size) throw new ProofError(`leaf index ${index} is not below tree size ${size}`);
  // 2. fn = leaf_index, sn = tree_size - 1.
  let fn = index;
  let sn = size - 1;
  // 3. r = hash.
  let r = leafHash;
  // 4. for each p in the inclusion path.
  for (const p of proof) {
    if (sn === 0) throw new ProofError('inclusion proof is longer than the path');
    if (lsb(fn) || fn === sn) {
      r = hashChildren(p, r);
      if (!lsb(fn)) {
        while (!lsb(fn) && fn !== 0) { fn = shr(fn); sn = shr(sn); }
      }
    } else {
      r = hashChildren(r, p);
    }
    fn = shr(fn);
    sn = shr(sn);
  }
  // 5. sn must be 0 and r must equal the root.
  if (sn !== 0) throw new ProofError('inclusion proof is shorter than the path');
  if (!equalBytes(r, root)) throw new ProofError('inclusion proof does not lead to the root hash');
}

/**
 * RFC 9162 2.1.4.2, step by step: does `proof` show that the tree of `oldSize` with `oldRoot` is
 * a prefix of the tree of `newSize` with `newRoot`? Edge cases the RFC leaves to the caller:
 * equal sizes need an empty proof and equal roots; an empty old tree is a prefix of every tree
 * (empty proof, old root must be the empty-tree hash).
 */
export function verifyConsistency(oldSize: number, newSize: number, proof: readonly Uint8Array[], oldRoot: Uint8Array, newRoot: Uint8Array): void {
  if (!Number.isSafeInteger(oldSize) || !Number.isSafeInteger(newSize) || oldSize < 0 || newSize < 0) throw new ProofError('sizes must be non-negative integers');
  checkHash(oldRoot, 'old root');
  checkHash(newRoot, 'new root');
  proof.forEach((p, i) => checkHash(p, `proof[${i}]`));
  if (oldSize > newSize) throw new ProofError(`old size ${oldSize} is larger than new size ${newSize}`);
  if (oldSize === newSize) {
    if (proof.length !== 0) throw new ProofError('equal sizes need an empty proof');
    if (!equalBytes(oldRoot, newRoot)) throw new ProofError('equal sizes but different roots');
    return;
  }
  if (oldSize === 0) {
    if (proof.length !== 0) throw new ProofError('consistency with the empty tree needs an empty proof');
    if (!equalBytes(oldRoot, EMPTY_ROOT)) throw new ProofError('old root is not the empty-tree hash');
    return;
  }
  // 1. an empty consistency_path fails.
  if (proof.length === 0) throw new ProofError('empty consistency proof');
  // 2. if first is an exact power of 2, prepend first_hash.
  const path = isPowerOfTwo(oldSize) ? [oldRoot, ...proof] : [...proof];
  // 3. fn = first - 1, sn = second - 1.
  let fn = oldSize - 1;
  let sn = newSize - 1;
  // 4. if LSB(fn) is set, right-shift both until it is not.
  while (lsb(fn)) { fn = shr(fn); sn = shr(sn); }
  // 5. fr = sr = first value of the path.
  let fr = path[0];
  let sr = path[0];
  // 6. for each subsequent value c.
  for (let i = 1; i < path.length; i++) {
    const c = path[i];
    if (sn === 0) throw new ProofError('consistency proof is longer than the path');
    if (lsb(fn) || fn === sn) {
      fr = hashChildren(c, fr);
      sr = hashChildren(c, sr);
      if (!lsb(fn)) {
        while (!lsb(fn) && fn !== 0) { fn = shr(fn); sn = shr(sn); }
      }
    } else {
      sr = hashChildren(sr, c);
    }
    fn = shr(fn);
    sn = shr(sn);
  }
  // 7. fr == first_hash, sr == second_hash, sn == 0.
  if (sn !== 0) throw new ProofError('consistency proof is shorter than the path');
  if (!equalBytes(fr, oldRoot)) throw new ProofError('consistency proof does not lead to the old root');
  if (!equalBytes(sr, newRoot)) throw new ProofError('consistency proof does not lead to the new root');
}

/**
 * The right border of a growing tree (a compact range over [0, size)): the perfect subtrees of
 * its cover, largest first. Appending a leaf touches O(log n) hashes and reports the perfect
 * nodes it completes, which the ledger stores.
 */
export class CompactRange {
  private nodes: { level: number; index: number; hash: Uint8Array }[];
  size: number;

  constructor(size = 0, cover: readonly Uint8Array[] = []) {
    const ids = perfectCover(0, size);
    if (ids.length !== cover.length) throw new Error(`compact range of size ${size} needs ${ids.length} hashes, got ${cover.length}`);
    this.size = size;
    this.nodes = ids.map((id, i) => ({ ...id, hash: cover[i] }));
  }

  clone(): CompactRange {
    const c = new CompactRange();
    c.size = this.size;
    c.nodes = this.nodes.slice();
    return c;
  }

  /** Add one leaf hash; returns every perfect node this completes (the leaf itself first). */
  append(leafHash: Uint8Array): { level: number; index: number; hash: Uint8Array }[] {
    const made = [{ level: 0, index: this.size, hash: leafHash }];
    this.nodes.push(made[0]);
    this.size++;
    for (;;) {
      const n = this.nodes.length;
      if (n < 2 || this.nodes[n - 1].level !== this.nodes[n - 2].level) break;
      const right = this.nodes.pop()!;
      const left = this.nodes.pop()!;
      const parent = { level: left.level + 1, index: left.index / 2, hash: hashChildren(left.hash, right.hash) };
      this.nodes.push(parent);
      made.push(parent);
    }
    return made;
  }

  root(): Uint8Array {
    return foldCover(this.nodes.map((n) => n.hash));
  }
}
