/**
 * Types shared by the ledger's front (the `Ledger` the gateway calls) and its writer (which may
 * run in a worker thread): errors, receipts, checkpoints and proof bundles.
 */

/**
 * `LEDGER_KEY_MISMATCH` is a warning, never a refusal: nodes of a shared log rotating to different
 * new keys (reported through onError; their entries are still appended). It has a code of its own
 * so that it neither reads as, nor takes the rate-limited log and notification slot of, the fatal
 * `LEDGER_INCONSISTENT` (the ledger stops writing).
 */
export type LedgerErrorCode =
  | 'LEDGER_NOT_FOUND' | 'LEDGER_BAD_REQUEST' | 'LEDGER_OVERLOADED' | 'LEDGER_CLOSED' | 'LEDGER_INCONSISTENT' | 'LEDGER_UNAVAILABLE' | 'LEDGER_KEY_MISMATCH' | 'LEDGER_WITNESS';

const CODES: ReadonlySet<string> = new Set<LedgerErrorCode>([
  'LEDGER_NOT_FOUND', 'LEDGER_BAD_REQUEST', 'LEDGER_OVERLOADED', 'LEDGER_CLOSED', 'LEDGER_INCONSISTENT', 'LEDGER_UNAVAILABLE', 'LEDGER_KEY_MISMATCH', 'LEDGER_WITNESS',
]);

export class LedgerError extends Error {
  constructor(readonly code: LedgerErrorCode, message: string) {
    super(message);
    this.name = 'LedgerError';
  }

  /** Plain form that crosses a worker boundary (structured clone drops the class). */
  static toWire(err: unknown): WireError {
    if (err instanceof LedgerError) return { code: err.code, message: err.message };
    return { code: 'LEDGER_UNAVAILABLE', message: err instanceof Error ? err.message : String(err) };
  }

  static fromWire(w: WireError): LedgerError {
    return new LedgerError(CODES.has(w.code) ? w.code : 'LEDGER_UNAVAILABLE', w.message);
  }
}

export interface WireError { code: LedgerErrorCode; message: string }

/** What an acknowledged append returns: where the entry is, and its leaf hash. */
export interface AppendReceipt {
  index: number;
  id: string;
  leafHash: string;
}

export interface SignedCheckpoint {
  size: number;
  rootHash: string;
  /** The signed note (text/plain; this is what gets published). */
  note: string;
  createdAt: string;
}

/** Inclusion proof bundle, self-contained: verifiable with the leaf, the checkpoint and the key. */
export interface InclusionBundle {
  index: number;
  id: string;
  tree_size: number;
  /** The leaf: canonical JSON text of the record. */
  leaf: string;
  leaf_hash: string;
  /** Audit path, base64 hashes, leaf side first. */
  proof: string[];
  root_hash: string;
  /** Signed checkpoint for tree_size. */
  checkpoint: string;
}

export interface ConsistencyBundle {
  old_size: number;
  new_size: number;
  old_root: string;
  new_root: string;
  proof: string[];
  old_checkpoint: string | null;
  new_checkpoint: string | null;
}
