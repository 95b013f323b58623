// identity: organisations, accounts, API keys (hashed, scoped, expiring, rotatable), verification tiers, programmes, signup facts, the cached authenticator on the request path, and which account owns each stored response.
// Imports `config`, `errors`, `events`, `store`, and `gateway`'s lifecycle and file references (answer-owners.ts, the hooks that record who owns a stored response or file).
export * from './types.ts';
export { identityConfigSchema, type IdentityConfig } from './config.ts';
export {
  type IdentityStore, type IdentityStoreOptions, type IdentityChangeNotice, type KeyRecord, type RotatedKey,
  BaseIdentityStore, ERASED_ACCOUNT_FIELDS, higherTier, keyStatus, hasScope, requireScope, authContextFor, effectiveProgramme, eventAccountFacts, assertUsable,
} from './store.ts';
export { SqliteIdentityStore } from './sqlite.ts';
export { PostgresIdentityStore, type PostgresIdentityStoreOptions } from './postgres.ts';
export { CachedAuthenticator, type CachedAuthenticatorOptions, type AuthenticatorStats, type AuthenticatorLog } from './cache.ts';
export { openIdentityStore, createAuthenticator, type OpenIdentityStoreOptions } from './open.ts';
export { mintSecret, parseSecret, hashSecret, secretMatches, constantTimeEqual, randomBase62 } from './keys.ts';
export { emailDomain, normaliseIp, normaliseCountry, paymentFingerprint } from './facts.ts';
export { apiKeyFromHeaders } from './headers.ts';
export {
  answerOwnershipHooks, MemoryAnswerOwnersStore, SqliteAnswerOwnersStore, PostgresAnswerOwnersStore,
  type AnswerOwnersStore, type AnswerOwner, type AnswerRecord, type AnswerOwnershipHooks,
} from './answer-owners.ts';
export * as identitySchemas from './schemas.ts';
