// identity: organisations, accounts, API keys (hashed, scoped, expiring, rotatable), verification tiers, programmes, signup facts, the cached authenticator on the request path, and which account owns each stored response.
// Imports `config`, `errors`, `events`, `store`, and `gateway`'s lifecycle and file references (answer-owners.ts, the hooks that record who owns a stored response or file).
export * from './types.ts';
export { type IdentityStore, type IdentityChangeNotice, keyStatus, requireScope, authContextFor, eventAccountFacts, assertUsable } from './store.ts';
export { SqliteIdentityStore } from './sqlite.ts';
export { PostgresIdentityStore } from './postgres.ts';
export { CachedAuthenticator } from './cache.ts';
export { openIdentityStore, createAuthenticator } from './open.ts';
export { hashSecret, constantTimeEqual } from './keys.ts';
export { apiKeyFromHeaders, missingKeyError } from './headers.ts';
export { answerOwnershipHooks, MemoryAnswerOwnersStore, SqliteAnswerOwnersStore, PostgresAnswerOwnersStore, type AnswerOwnersStore } from './answer-owners.ts';
export * as identitySchemas from './schemas.ts';
