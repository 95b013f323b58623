/**
 * batches: the Anthropic Message Batches API, run through Warden's own pipeline. A batch is stored
 * (SQLite or PostgreSQL) and each of its requests runs as one governed `POST /v1/messages`, as the
 * key and from the address that sent the batch: the bulk channel gets the same identity, policy,
 * limits, detector, shaping, watermark and ledger as single requests.
 */
import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import type { Authenticator, GatewayHooks } from '../gateway/index.ts';
import type { IdentityStore } from '../identity/index.ts';
import type { BatchesConfig } from './config.ts';
import { BatchCredentials } from './credentials.ts';
import { registerBatchRoutes } from './routes.ts';
import { registerBatchAdminRoutes } from './admin.ts';
import { BatchRunner } from './runner.ts';
import type { BatchStore } from './store.ts';

export { batchesConfigSchema, type BatchesConfig } from './config.ts';
export { SqliteBatchStore, PostgresBatchStore, type BatchStore, type BatchRecord, type ItemState } from './store.ts';
export { BatchCredentials } from './credentials.ts';
export { BatchRunner } from './runner.ts';
export { registerBatchRoutes } from './routes.ts';
export { registerBatchAdminRoutes } from './admin.ts';

export interface Batches {
  /** The gateway's authenticator, also accepting the one-use credentials of running requests. */
  authenticator(inner: Authenticator): Authenticator;
  /** First in the policy phase: marks the interactions Warden runs for a batch (`client.batch_id` on the event). */
  hooks: GatewayHooks;
  /** Serve the routes on the gateway's server and start running batches there; stopped when it closes. */
  register(app: FastifyInstance, callerAuthenticator: Authenticator): void;
  /** Operators' routes, for the admin API (`/admin/batches`). */
  adminPlugin(app: FastifyInstance): void;
}

export function createBatches(
  store: BatchStore, identity: Pick<IdentityStore, 'getKey' | 'getAccount' | 'getOrg'>, config: BatchesConfig,
  opts: { log?: (msg: string) => void; registry?: Registry } = {},
): Batches {
  const credentials = new BatchCredentials(identity);
  let runner: BatchRunner | null = null;
  return {
    authenticator: (inner) => credentials.authenticator(inner),
    hooks: {
      name: 'batches',
      policy(ctx) {
        const id = credentials.batchOf(ctx.auth);
        if (id !== null) ctx.batchId = id;
      },
    },
    register(app, callerAuthenticator) {
      const running = new BatchRunner(store, app, credentials, config, opts.log, opts.registry);
      runner = running;
      registerBatchRoutes(app, {
        store, authenticator: callerAuthenticator, config,
        onCreated: () => { setImmediate(() => { void running.tick(Date.now(), true); }); },
        onCanceled: (id) => running.closedBatch(id),
      });
      app.addHook('onReady', async () => { running.begin(); });
      app.addHook('preClose', async () => { await running.stop(); });
    },
    adminPlugin(app) {
      registerBatchAdminRoutes(app, store, (id) => runner?.closedBatch(id));
    },
  };
}
