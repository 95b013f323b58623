// policy: policy as code (tiers, programmes, regions, networks and verdicts mapped to capabilities; hot-reloaded YAML), IP geography and network classification, signup screening (disposable email, sanctions lists), and the gateway hooks that enforce it.
// Imports `admin` (router), `config`, `detect` (verdicts), `errors`, `events`, `gateway`'s lifecycle (and its `Authenticator` type), `identity`, `shape` and `watermark`.
export { policyConfigSchema, sanctionsSourceSchema, type PolicyConfig, type SanctionsSource } from './config.ts';
export {
  policyHooks, createPolicyRuntime, screenSignup, shippedFile, withAppealContact, decideRequest, explainRequest, POLICY_LOCALS,
  type PolicyHooksDeps, type PolicyRuntime, type PolicyRuntimeOptions, type PolicyLocals, type PolicyRequest, type RequestDecision, type ExplainedRequest,
} from './hooks.ts';
export {
  parsePolicyText, loadPolicyFile, compilePolicy, PolicyFileError, NETWORK_KINDS,
  type PolicyDocument, type CompiledPolicy, type PolicyDecision, type RequestFacts, type NetworkKind, type RefusalKind,
} from './policy-file.ts';
export { PolicyStore, type PolicyStoreOptions, type PolicyLogger } from './policy-store.ts';
export {
  modelAllowed, globMatch, openCapabilities, overlayCapabilities, restrictCapabilities, writtenCapabilities, writtenModels,
  type Capabilities, type CapabilitiesPatch, type ReasoningExposure, type WrittenCapabilities,
} from './capabilities.ts';
export { loadGeoIndex, packagedGeoFiles, GeoIndex, IpDatabaseError, type GeoResult, type GeoStats } from './geo.ts';
export { parseIp, parseIPv4, parseIPv6, parseCidr, canonicalIp, type ParsedIp } from './ip.ts';
export { NetworkClassifier, NetworkListError, loadHostingList, loadTorExits, loadVpnRanges, type NetworkClass, type HostingList } from './networks.ts';
export { loadSanctions, SanctionsIndex, SanctionsListError, jaroWinkler, nameTokens, type SanctionsEntry, type SanctionsMatch } from './sanctions.ts';
export { SignupScreener, DisposableDomains, ScreeningInputError, type SignupScreeningFacts, type ScreeningResult, type ScreeningFinding, type FindingSeverity } from './screening.ts';
export { runPolicyCli, type PolicyCliIo } from './cli.ts';
export { policyAdminRoutes, type PolicyAdminDeps } from './admin.ts';
export { subjectFacts, type SubjectInput, type SubjectFacts } from './subject.ts';
