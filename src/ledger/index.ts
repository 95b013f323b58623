// ledger: tamper-evident RFC 9162 Merkle log of interactions and verdicts, C2SP signed checkpoints, proofs, erasable personal data, audit queries.
// Imports `errors`, `events`, `store`, `detect` (verdict records), `admin` (router), `gateway`'s lifecycle (hooks.ts) and `identity`'s key reading and `admin`'s tokens (read-access.ts: who may read the ledger).
export { ledgerConfigSchema } from './config.ts';
export { Ledger, LedgerError, type SignedCheckpoint, type InclusionBundle } from './ledger.ts';
export { ledgerHooks, ledgerVerdictSink, ledgerMergeSink, ledgerAllowListSink, ledgerErrorLog } from './hooks.ts';
export { registerLedgerRoutes } from './http.ts';
export { ledgerReadGate } from './read-access.ts';
export { ledgerAdminRoutes } from './admin.ts';
export { runLedgerCli, LEDGER_USAGE } from './cli.ts';
export { runWitnessCli, WITNESS_USAGE } from './witness-cli.ts';
export { startWitness, type RunningWitness } from './witness.ts';
export { generateCosigner, parseCosignerKey, checkCosignatures } from './cosign.ts';
export { openLedgerFromConfig } from './open.ts';
export { queryLedger, exportQuery, clusterAccounts } from './query.ts';
export { verifyLedger } from './verify.ts';
export { verifyInclusionBundle, verifyConsistencyBundle } from './standalone.ts';
export { inclusionProof, consistencyProof } from './merkle.ts';
export { generateSigner, parseSignerKey, parseVerifierKey, openCheckpoint, type Checkpoint } from './note.ts';
export { commitment, prepareInteraction, prepareVerdict, prepareErasure, prepareSettings, settingsDigest, parseLeaf, type VerdictRecord, type SettingsRecord } from './records.ts';
export { detectorSettings, type DetectorSettings } from './settings.ts';
export type { LedgerStorage } from './storage.ts';
export { SqliteLedgerStorage } from './sqlite.ts';
export { PostgresLedgerStorage } from './postgres.ts';
