// admin: the operator API (Fastify plugin under /admin, bearer-token auth, OpenAPI 3.1 at /admin/openapi.json) and the `warden orgs|accounts|keys|changes` commands, locally or against a running server.
// Imports `config`, `errors`, `identity` and `store` (which store errors mean the database is unavailable) only; other capabilities import its router (router.ts) to add their routes.
export { adminPlugin } from './plugin.ts';
export { AdminAuthThrottle, type AuthBlock } from './auth-throttle.ts';
export { AdminTokens, previousTokenReporter, type AdminTokenMatch, type PreviousAdminToken, type PreviousTokenUse } from './tokens.ts';
export { mountAdminRoutes, type AdminRouteRegistrar } from './router.ts';
export { HttpAdminClient } from './client.ts';
export { runAdminCommand, parseDuration, cliExitCode, printable, printableJson, printableLines, table as textTable, type DetectorAccountView } from './commands.ts';
export { cliActor } from './actor.ts';
