/**
 * Verification of published ledger artefacts with no storage and no Warden state: a proof
 * bundle, the signed checkpoint inside it and the log's verifier key are all it needs. This is
 * the code path an auditor (or a port of it in another language, see docs/ledger.md) follows.
 */
import { hashLeaf, verifyConsistency, verifyInclusion } from './merkle.ts';
import { openCheckpoint, parseVerifierKey, type Checkpoint } from './note.ts';

const fromB64 = (s: string, what: string): Uint8Array => {
  if (typeof s !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) throw new Error(`${what} is not base64`);
  return new Uint8Array(Buffer.from(s, 'base64'));
};

/**
 * Verify an inclusion bundle (as returned by `warden ledger prove` or GET /ledger/v1/proof/...):
 * the checkpoint is signed by one of `verifierKeys` for `origin`, its size is the bundle's tree
 * size, and the audit path leads from SHA-256(0x00 || leaf) to its root. Returns the checkpoint.
 */
export function verifyInclusionBundle(
  bundle: { index: number; tree_size: number; leaf: string; proof: string[]; checkpoint: string },
  verifierKeys: readonly string[],
  origin: string,
): Checkpoint {
  const cp = openCheckpoint(bundle.checkpoint, verifierKeys.map(parseVerifierKey), origin);
  if (cp.size !== bundle.tree_size) throw new Error(`bundle tree size ${bundle.tree_size} is not the checkpoint size ${cp.size}`);
  if (!Array.isArray(bundle.proof)) throw new Error('proof must be an array');
  const leafHash = hashLeaf(new TextEncoder().encode(bundle.leaf));
  verifyInclusion(leafHash, bundle.index, cp.size, bundle.proof.map((p, i) => fromB64(p, `proof[${i}]`)), cp.rootHash);
  return cp;
}

/** Verify a consistency bundle between two signed checkpoints of the same log. */
export function verifyConsistencyBundle(
  bundle: { old_size: number; new_size: number; proof: string[]; old_checkpoint: string | null; new_checkpoint: string | null },
  verifierKeys: readonly string[],
  origin: string,
): { old: Checkpoint; new: Checkpoint } {
  if (!bundle.old_checkpoint || !bundle.new_checkpoint) throw new Error('both checkpoints are needed');
  const keys = verifierKeys.map(parseVerifierKey);
  const a = openCheckpoint(bundle.old_checkpoint, keys, origin);
  const b = openCheckpoint(bundle.new_checkpoint, keys, origin);
  if (a.size !== bundle.old_size || b.size !== bundle.new_size) throw new Error('bundle sizes differ from the checkpoints');
  verifyConsistency(a.size, b.size, bundle.proof.map((p, i) => fromB64(p, `proof[${i}]`)), a.rootHash, b.rootHash);
  return { old: a, new: b };
}
