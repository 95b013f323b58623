/**
 * batches: the Anthropic Message Batches API and OpenAI's Batch API (with the Files API for its
 * input and output files), run through Warden's own pipeline. A batch is stored (SQLite or
 * PostgreSQL) and each of its requests runs as one governed request (`POST /v1/messages`, or the
 * OpenAI batch's endpoint), as the key and from the address that sent the batch: the bulk channel
 * gets the same identity, policy, limits, detector, shaping, watermark and ledger as single requests.
 * Files uploaded as requests' inputs are kept here too, and sent inline when a request names one.
 * What an account stored is its own and its current organisation's (it follows the account when it moves).
 * Imports `admin` (router), `errors`, `events`, `gateway` (the pipeline each request runs through), `identity` and `store`.
 */
import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import type { Authenticator, GatewayHooks } from '../gateway/index.ts';
import type { AuthContext, IdentityStore } from '../identity/index.ts';
import type { BatchesConfig } from './config.ts';
import { BatchCredentials } from './credentials.ts';
import { registerBatchRoutes, type BatchRoutesDeps } from './routes.ts';
import { batchAdminRoutes } from './admin.ts';
import type { AdminRouteRegistrar } from '../admin/router.ts';
import { BatchRunner } from './runner.ts';
import type { BatchStore } from './store.ts';
import type { FileStore } from './files-store.ts';
import { recordOutputFiles, registerOpenAiBatchRoutes } from './openai-routes.ts';
import { continueBackgroundResponse, createBackgroundResponses, createStreamedRuns } from './background.ts';
import { BackgroundStreams } from './stream-log.ts';
import { inlineInputFiles } from './file-inputs.ts';

export { SqliteBatchStore, PostgresBatchStore, type BatchStore, type BatchRecord } from './store.ts';
export { SqliteFileStore, PostgresFileStore, type FileStore } from './files-store.ts';
export { batchAdminRoutes } from './admin.ts';

export interface Batches {
  /** The gateway's authenticator, also accepting the one-use credentials of running requests. */
  authenticator(inner: Authenticator): Authenticator;
  /**
   * First in the policy phase: marks the interactions Warden runs for a batch or a background
   * response (`client.batch_id` on the event), refused ones too, points a request continuing a
   * background response at the upstream's answer, and puts the files a request names by id in
   * place inline. Serves background responses (`background`).
   */
  hooks: GatewayHooks;
  /**
   * Serve the routes on the gateway's server and start running batches there; stopped when it
   * closes. `barred` throws the policy's refusal of an account a verdict bars, on every route;
   * `charge` charges an upload or a batch's creation to the caller's request limits.
   */
  register(app: FastifyInstance, callerAuthenticator: Authenticator, barred?: (auth: AuthContext) => void, charge?: BatchRoutesDeps['charge']): void;
  /** Operators' routes, for the admin API (`/admin/batches`, `/admin/files`). */
  adminRoutes: AdminRouteRegistrar;
}

/** Abandoned uploads (chunks with no file) are removed after this long. */
const STALE_UPLOAD_MS = 3_600_000;

export function createBatches(
  store: BatchStore, files: FileStore, identity: Pick<IdentityStore, 'getKey' | 'getAccount' | 'getOrg'> & Partial<Pick<IdentityStore, 'onChange'>>, config: BatchesConfig,
  opts: { log?: (msg: string, meta?: { level: 'info' | 'warn' | 'error'; code: string }) => void; registry?: Registry; /** The operator's upstream files customers may name (left as they are). */ sharedFiles?: readonly string[]; /** `server.public_url` (BatchRoutesDeps.publicUrl). */ publicUrl?: string | null } = {},
): Batches {
  const credentials = new BatchCredentials(identity);
  let runner: BatchRunner | null = null;
  const streams = new BackgroundStreams(store, opts.log, opts.registry);
  const streamedRuns = createStreamedRuns(store, streams);
  const background = createBackgroundResponses({
    store, config, streams,
    onCreated: () => { setImmediate(() => { void runner?.tick(Date.now(), true); }); },
    onCanceled: (id) => runner?.closedBatch(id),
  });
  const continueBackground = continueBackgroundResponse(background);
  // What an account stored follows it to its current organisation (see BatchRoutesDeps.orgOfAccount).
  const orgOfAccount = async (accountId: string) => (await identity.getAccount(accountId))?.org_id ?? null;
  // Lists read by the organisation stored with each row: a move rewrites it, so the new organisation lists them too.
  identity.onChange?.((n) => {
    if (n.type !== 'account') return;
    void (async () => {
      const org = await orgOfAccount(n.id);
      await files.reassignOrg(n.id, org);
      await store.reassignOrg(n.id, org);
    })().catch((err: Error) => opts.log?.(`batches: the organisation of account ${n.id}'s files and batches could not be updated: ${err.message}`));
  });
  const inlineFiles = inlineInputFiles(files, config, opts.sharedFiles, orgOfAccount);
  return {
    authenticator: (inner) => credentials.authenticator(inner),
    hooks: {
      name: 'batches',
      background,
      policy(ctx) {
        const id = credentials.batchOf(ctx.auth);
        if (id !== null) ctx.batchId = id;
        const continued = continueBackground(ctx);
        const inlined = inlineFiles(ctx);
        if (!continued || !inlined) return continued ?? inlined;
        return Promise.all([continued, inlined]).then(() => {});
      },
      // A request of a batch refused before the policy phase (its key revoked, a malformed body)
      // is marked too, with whose batch it was.
      onEnd(ctx, event) { credentials.markEvent(ctx.headers, event); },
      onRefused(headers, event) { credentials.markEvent(headers, event); },
    },
    register(app, callerAuthenticator, barred, charge) {
      const running = new BatchRunner(store, app, credentials, config, opts.log, opts.registry, {
        ended: async (ids) => {
          await recordOutputFiles(store, files, ids, config.retention_days, config.file_retention_days);
          await streamedRuns.ended(ids);
        },
        prune: async (now) => { await files.prune(now, now - STALE_UPLOAD_MS); },
      }, streamedRuns);
      runner = running;
      const deps = {
        store, authenticator: callerAuthenticator, config, barred, orgOfAccount, charge, creating: new Map<string, number>(), publicUrl: opts.publicUrl ?? null,
        onCreated: () => { setImmediate(() => { void running.tick(Date.now(), true); }); },
        onCanceled: (id: string) => running.closedBatch(id),
      };
      registerBatchRoutes(app, deps);
      registerOpenAiBatchRoutes(app, { ...deps, files });
      app.addHook('onReady', async () => { running.begin(); });
      app.addHook('preClose', async () => { await running.stop(); await streams.stop(); credentials.close(); });
    },
    adminRoutes: batchAdminRoutes(store, (id) => runner?.closedBatch(id), files),
  };
}
