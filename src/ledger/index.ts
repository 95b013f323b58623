// ledger: tamper-evident RFC 9162 Merkle log of interactions and verdicts, C2SP signed checkpoints, proofs, erasable personal data, audit queries.
// Imports `errors`, `events`, `store`, `detect` (verdict records), `admin` (router), `gateway`'s lifecycle (hooks.ts) and `identity`'s key reading (read-access.ts: who may read the ledger).
export { ledgerConfigSchema, type LedgerConfig } from './config.ts';
export {
  Ledger, LedgerError, type LedgerOptions, type AppendReceipt, type SignedCheckpoint, type InclusionBundle, type ConsistencyBundle,
} from './ledger.ts';
export type { LedgerErrorCode } from './types.ts';
export { registerLedgerMetrics } from './metrics.ts';
export { ledgerHooks, ledgerVerdictSink, ledgerMergeSink, ledgerErrorLog, type LedgerHookOptions, type ClusterMergeHistory } from './hooks.ts';
export { registerLedgerRoutes, type LedgerRouteOptions } from './http.ts';
export { ledgerReadGate, type LedgerReadAccess } from './read-access.ts';
export { ledgerAdminRoutes, LedgerQueryResultSchema } from './admin.ts';
export { runLedgerCli, LEDGER_USAGE, type LedgerCliDeps } from './cli.ts';
export { openLedgerFromConfig, openLedgerStorage, openLedgerStorageReadOnly, resolveLedgerSetup, loadSigners, writeKeyFile, type LedgerSetup, type ResolvedLedgerConfig } from './open.ts';
export { queryLedger, exportQuery, parseNetwork, QueryError, type LedgerQuery, type QueryResult, type InteractionRow, type VerdictRow, type AccountUsage } from './query.ts';
export { verifyLedger, type VerifyReport, type VerifyProblem, type VerifyOptions } from './verify.ts';
export { verifyInclusionBundle, verifyConsistencyBundle } from './standalone.ts';
export {
  hashLeaf, hashChildren, merkleTreeHash, EMPTY_ROOT, verifyInclusion, verifyConsistency, inclusionProof, consistencyProof, rootAt,
  CompactRange, ProofError, type NodeSource, type NodeId,
} from './merkle.ts';
export {
  generateSigner, parseSignerKey, parseVerifierKey, keyId, signNote, openNote, parseNote, signCheckpoint, openCheckpoint,
  parseCheckpoint, formatCheckpoint, NoteError, type NoteSigner, type NoteVerifier, type Checkpoint,
} from './note.ts';
export {
  LEDGER_RECORD_SCHEMA, PRIVATE_FIELDS, commitment, prepareInteraction, prepareVerdict, prepareErasure, parseLeaf, canonicalBytes,
  type LedgerRecord, type InteractionRecord, type VerdictRecord, type PreparedEntry, type PrivateField, type Opening,
} from './records.ts';
export { NoLedgerError, type LedgerStorage, type EntryRow, type PrivateRow, type CheckpointRow, type EntryFilter, type EraseFilter, type WriterConnection } from './storage.ts';
export { SqliteLedgerStorage } from './sqlite.ts';
export { PostgresLedgerStorage } from './postgres.ts';
