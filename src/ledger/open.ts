/**
 * Opening the ledger from configuration: storage backend, signing keys (environment or key
 * file, created with mode 0600 on first start when missing), retired keys for verification.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { openPostgres } from '../store/postgres.ts';
import type { LedgerConfig } from './config.ts';
import { Ledger, type LedgerOptions, type WitnessPolicy } from './ledger.ts';
import { parseCosignerKey } from './cosign.ts';
import { generateSigner, parseSignerKey, parseVerifierKey, type NoteSigner, type NoteVerifier } from './note.ts';
import { PostgresLedgerStorage } from './postgres.ts';
import { SqliteLedgerStorage } from './sqlite.ts';
import type { LedgerStorage } from './storage.ts';
import { currentLogKeys } from './writer.ts';

/** The parts of the Warden config the ledger reads. */
export interface LedgerSetup {
  ledger: LedgerConfig;
  store?: { driver: 'sqlite' | 'postgres'; postgres_url: string | null; sqlite_path?: string };
  /** `events.retention_days`: reconcile counts the leaves whose events it deleted apart. */
  events?: { retention_days: number | null };
}

/** A ledger config whose files are resolved. */
export type ResolvedLedgerConfig = LedgerConfig & { sqlite_path: string; key_file: string };

/**
 * The ledger's files as configured or, when not set, beside the store's database (where the
 * admin token is kept too): ./data/ledger.db and ./data/ledger.key with the default store.
 */
export function resolveLedgerSetup(setup: LedgerSetup): LedgerSetup & { ledger: ResolvedLedgerConfig } {
  const base = dirname(setup.store?.sqlite_path ?? join('data', 'warden.db'));
  return {
    ...setup,
    ledger: { ...setup.ledger, sqlite_path: setup.ledger.sqlite_path ?? join(base, 'ledger.db'), key_file: setup.ledger.key_file ?? join(base, 'ledger.key') },
  };
}

function resolveEnv(value: string, env: NodeJS.ProcessEnv): string | null {
  if (!value) return null;
  if (value.startsWith('env:')) return env[value.slice(4)] ?? null;
  return value;
}

/** Write a new signing key file (mode 0600). Refuses to overwrite unless `force`. */
export function writeKeyFile(path: string, signer: NoteSigner, force = false): void {
  if (existsSync(path) && !force) throw new Error(`${path} exists; refusing to overwrite a signing key (use --force)`);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, signer.exportPrivate() + '\n', { mode: 0o600 });
}

/**
 * The checkpoint signers: `ledger.key` (environment) or `ledger.key_file`, then `extra_key_files`.
 * With `create`, a missing key file is generated (first start), reported through `onCreate`.
 */
export function loadSigners(cfg: LedgerConfig, opts: { env?: NodeJS.ProcessEnv; create?: boolean; onCreate?: (vkey: string, path: string) => void } = {}): NoteSigner[] {
  const env = opts.env ?? process.env;
  const keyFile = cfg.key_file ?? join('data', 'ledger.key');
  const signers: NoteSigner[] = [];
  const inline = resolveEnv(cfg.key, env);
  if (inline) signers.push(parseSignerKey(inline.trim()));
  else if (existsSync(keyFile)) signers.push(parseSignerKey(readFileSync(keyFile, 'utf8').trim()));
  else if (opts.create) {
    const s = generateSigner(cfg.origin);
    writeKeyFile(keyFile, s);
    opts.onCreate?.(s.verifier().toString(), keyFile);
    signers.push(s);
  } else {
    throw new Error(`no ledger signing key: set ${cfg.key.startsWith('env:') ? cfg.key.slice(4) : 'ledger.key'} or create ${keyFile} with \`warden ledger keygen\``);
  }
  for (const f of cfg.extra_key_files) signers.push(parseSignerKey(readFileSync(f, 'utf8').trim()));
  return signers;
}

/**
 * The configured witnesses (ledger.witnesses, ledger.witness_quorum), checked: each key must be a
 * cosignature/v1 verifier key, the quorum between 1 and their number. Null without witnesses.
 */
export function witnessPolicy(cfg: LedgerConfig, submit = false): WitnessPolicy | null {
  if (!cfg.witnesses.length) {
    if (cfg.witness_quorum !== null) throw new Error('ledger.witness_quorum is set but ledger.witnesses is empty');
    return null;
  }
  const witnesses = cfg.witnesses.map((w, i) => {
    try { return { url: w.url, key: parseCosignerKey(w.key) }; } catch (e) { throw new Error(`ledger.witnesses[${i}].key: ${(e as Error).message} (a witness's cosignature/v1 verifier key, as \`warden witness keygen\` prints it)`); }
  });
  const quorum = cfg.witness_quorum ?? witnesses.length;
  if (quorum > witnesses.length) throw new Error(`ledger.witness_quorum (${quorum}) is larger than the number of ledger.witnesses (${witnesses.length})`);
  return { witnesses, quorum, submit, timeoutMs: cfg.witness_timeout_ms };
}

export function trustedKeys(cfg: LedgerConfig): NoteVerifier[] {
  return cfg.trusted_keys.map(parseVerifierKey);
}

/** The PostgreSQL URL the ledger is kept at: `store.postgres_url`, never a default database. */
function ledgerPostgresUrl(store: LedgerSetup['store']): string {
  if (!store?.postgres_url) throw new Error('store.postgres_url: required when the ledger is on PostgreSQL (ledger.driver or store.driver postgres): set it in warden.yaml or as WARDEN_STORE__POSTGRES_URL');
  return store.postgres_url;
}

/**
 * The configured storage backend, not yet wrapped in a Ledger; created or migrated to the current
 * version as needed.
 */
export function openLedgerStorage(setup: LedgerSetup): LedgerStorage {
  const { ledger, store } = resolveLedgerSetup(setup);
  const driver = ledger.driver ?? store?.driver ?? 'sqlite';
  if (driver === 'postgres') {
    const url = ledgerPostgresUrl(store);
    // The url lets the writer thread open its own pool; this one serves reads.
    return new PostgresLedgerStorage(openPostgres(url, { max: 4 }), ledger.postgres_schema, { ownsPool: true, url });
  }
  return SqliteLedgerStorage.open(ledger.sqlite_path);
}

/**
 * The configured storage of an existing ledger, for reading only (verification, entries,
 * queries): nothing is created or migrated. Where none is (a mistyped path or schema) it is a
 * NoLedgerError; a ledger of another version is an error saying so.
 */
export async function openLedgerStorageReadOnly(setup: LedgerSetup): Promise<LedgerStorage> {
  const { ledger, store } = resolveLedgerSetup(setup);
  const driver = ledger.driver ?? store?.driver ?? 'sqlite';
  if (driver === 'postgres') {
    const url = ledgerPostgresUrl(store);
    return PostgresLedgerStorage.openReadOnly(openPostgres(url, { max: 4 }), ledger.postgres_schema, { ownsPool: true });
  }
  return SqliteLedgerStorage.openReadOnly(ledger.sqlite_path);
}

/** Open the ledger as configured (what `warden serve` and the CLI use). */
export async function openLedgerFromConfig(
  setup: LedgerSetup,
  opts: { env?: NodeJS.ProcessEnv; createKey?: boolean; onKeyCreated?: (vkey: string, path: string) => void; submitToWitnesses?: boolean } & Partial<Pick<LedgerOptions, 'onError' | 'onCommit' | 'onCheckpoint' | 'onStorageBack' | 'writer' | 'detectorSettings' | 'regionFill'>> = {},
): Promise<Ledger> {
  const cfg = resolveLedgerSetup(setup).ledger;
  const witnesses = witnessPolicy(cfg, opts.submitToWitnesses === true);
  const env = opts.env ?? process.env;
  const makesKey = opts.createKey === true && !resolveEnv(cfg.key, env) && !existsSync(cfg.key_file);
  // A configured key is read before anything is opened (a missing one is said before a schema is created).
  let signers = makesKey ? null : loadSigners(cfg, { env });
  const storage = openLedgerStorage(setup);
  try {
    if (makesKey && storage.joinKeys && storage.recordedKeys) {
      // Another node already signs this shared log: a key made here would be refused (one published key for every checkpoint).
      const latest = await storage.latestCheckpoint();
      const current = currentLogKeys(await storage.recordedKeys(), latest && { note: latest.note, createdAt: latest.created_at });
      if (current.length > 0) {
        const envName = cfg.key.startsWith('env:') ? cfg.key.slice(4) : null;
        const missing = `no ledger signing key on this node (${envName ? `${envName} is not set and ` : ''}${cfg.key_file} does not exist)`;
        const retired = trustedKeys(cfg).map(String);
        const live = current.filter((k) => !retired.includes(k));
        if (live.length === 0) {
          // The log's key is lost: a key made on each node would be one key per node.
          throw new Error(`${missing}, and the ledger at ${storage.where ?? 'this storage'} is signed with ${current.join(', ')}, which ledger.trusted_keys declares retired (a lost key). ` +
            'Every node that writes the ledger must sign with one new key: stop every node still holding the lost key, create the new key once with `warden ledger keygen`, ' +
            `and give that one key to every node (a copy of the file at ${cfg.key_file}, mode 0600${envName ? `, or the same ${envName}` : ''}); then publish its verifier key. Or set ledger.enabled: false on this node.`);
        }
        throw new Error(`${missing}, and the ledger at ${storage.where ?? 'this storage'} is signed with ${live.join(', ')}: every node that writes it must sign with that key. ` +
          `Copy the key file of a node that writes it to ${cfg.key_file} (mode 0600)${envName ? `, or set ${envName} to that key on every node` : ''}; or set ledger.enabled: false on this node.`);
      }
    }
    signers ??= loadSigners(cfg, { env, create: true, onCreate: opts.onKeyCreated });
    return await Ledger.open({
      storage, origin: cfg.origin, signers, trustedKeys: trustedKeys(cfg),
      checkpointIntervalMs: cfg.checkpoint_interval_ms, batchMax: cfg.batch_max, groupCommitMs: cfg.group_commit_ms, maxQueue: cfg.max_queue, closeTimeoutMs: cfg.close_timeout_ms,
      keepPromptText: cfg.keep_prompt_text, onError: opts.onError, onCommit: opts.onCommit, onCheckpoint: opts.onCheckpoint, onStorageBack: opts.onStorageBack, writer: opts.writer,
      witnesses: witnesses ?? undefined, detectorSettings: opts.detectorSettings, regionFill: opts.regionFill,
    });
  } catch (err) {
    await storage.close();
    throw err;
  }
}
