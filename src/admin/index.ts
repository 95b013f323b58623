// admin: the operator API (Fastify plugin under /admin, bearer-token auth, OpenAPI 3.1 at /admin/openapi.json) and the `warden orgs|accounts|keys|changes` commands, locally or against a running server.
// Imports `config`, `errors`, `identity` and `store` (which store errors mean the database is unavailable) only; other capabilities import its router (router.ts) to add their routes.
export { adminPlugin, buildAdminRoutes, MIN_ADMIN_TOKEN_LENGTH, type AdminPluginOptions } from './plugin.ts';
export {
  AdminRouteTable, ErrorBody, adminErrorBody, sendAdminError, mountAdminRoutes,
  type AdminRouter, type AdminRouteRegistrar, type AdminRouteDef, type AdminRequest, type HttpMethod,
} from './router.ts';
export { identityAdminRoutes, KeyViewSchema, CreatedKeySchema, RotatedKeySchema } from './identity-routes.ts';
export { LocalAdminClient, HttpAdminClient, keyView, type AdminClient, type KeyView, type CreatedKeyView, type RotatedKeyView } from './client.ts';
export { runAdminCommand, ADMIN_COMMANDS, parseDuration, cliExitCode, table as textTable, type AdminGroup, type AdminCommandIo } from './commands.ts';
export { adminConfigSchema, type AdminConfig } from './config.ts';
export { actorOfHeader, encodeActorHeader, cliActor } from './actor.ts';
