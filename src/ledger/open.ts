/**
 * Opening the ledger from configuration: storage backend, signing keys (environment or key
 * file, created with mode 0600 on first start when missing), retired keys for verification.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { openPostgres } from '../store/index.ts';
import type { LedgerConfig } from './config.ts';
import { Ledger, type LedgerOptions } from './ledger.ts';
import { generateSigner, parseSignerKey, parseVerifierKey, type NoteSigner, type NoteVerifier } from './note.ts';
import { PostgresLedgerStorage } from './postgres.ts';
import { SqliteLedgerStorage } from './sqlite.ts';
import type { LedgerStorage } from './storage.ts';

/** The parts of the Warden config the ledger reads. */
export interface LedgerSetup {
  ledger: LedgerConfig;
  store?: { driver: 'sqlite' | 'postgres'; postgres_url: string };
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
  const signers: NoteSigner[] = [];
  const inline = resolveEnv(cfg.key, env);
  if (inline) signers.push(parseSignerKey(inline.trim()));
  else if (existsSync(cfg.key_file)) signers.push(parseSignerKey(readFileSync(cfg.key_file, 'utf8').trim()));
  else if (opts.create) {
    const s = generateSigner(cfg.origin);
    writeKeyFile(cfg.key_file, s);
    opts.onCreate?.(s.verifier().toString(), cfg.key_file);
    signers.push(s);
  } else {
    throw new Error(`no ledger signing key: set ${cfg.key.startsWith('env:') ? cfg.key.slice(4) : 'ledger.key'} or create ${cfg.key_file} with \`warden ledger keygen\``);
  }
  for (const f of cfg.extra_key_files) signers.push(parseSignerKey(readFileSync(f, 'utf8').trim()));
  return signers;
}

export function trustedKeys(cfg: LedgerConfig): NoteVerifier[] {
  return cfg.trusted_keys.map(parseVerifierKey);
}

/** The configured storage backend, not yet wrapped in a Ledger (verification opens it this way). */
export function openLedgerStorage(setup: LedgerSetup): LedgerStorage {
  const driver = setup.ledger.driver ?? setup.store?.driver ?? 'sqlite';
  if (driver === 'postgres') {
    const url = setup.store?.postgres_url ?? 'postgres://postgres@127.0.0.1:5432/test';
    return new PostgresLedgerStorage(openPostgres(url, { max: 4 }), setup.ledger.postgres_schema, { ownsPool: true });
  }
  return SqliteLedgerStorage.open(setup.ledger.sqlite_path);
}

/** Open the ledger as configured (what `warden serve` and the CLI use). */
export async function openLedgerFromConfig(
  setup: LedgerSetup,
  opts: { env?: NodeJS.ProcessEnv; createKey?: boolean; onKeyCreated?: (vkey: string, path: string) => void } & Partial<Pick<LedgerOptions, 'onError' | 'onCommit'>> = {},
): Promise<Ledger> {
  const cfg = setup.ledger;
  const signers = loadSigners(cfg, { env: opts.env, create: opts.createKey, onCreate: opts.onKeyCreated });
  const storage = openLedgerStorage(setup);
  try {
    return await Ledger.open({
      storage, origin: cfg.origin, signers, trustedKeys: trustedKeys(cfg),
      checkpointIntervalMs: cfg.checkpoint_interval_ms, batchMax: cfg.batch_max, maxQueue: cfg.max_queue,
      keepPromptText: cfg.keep_prompt_text, onError: opts.onError, onCommit: opts.onCommit,
    });
  } catch (err) {
    await storage.close();
    throw err;
  }
}
