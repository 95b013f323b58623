// policy: policy as code (tiers, programmes, regions, networks and verdicts mapped to capabilities; hot-reloaded YAML), IP geography and network classification, signup screening (disposable email, sanctions lists), and the gateway hooks that enforce it.
// Imports `admin` (router), `config`, `detect` (verdicts), `errors`, `events`, `gateway`'s lifecycle (and its `Authenticator` type), `identity`, `shape` and `watermark`.
export { policyHooks, createPolicyRuntime, screenSignup, withAppealContact, decideRequest, explainRequest, type PolicyRuntime } from './hooks.ts';
export { parsePolicyText, loadPolicyFile, compilePolicy, PolicyFileError } from './policy-file.ts';
export { PolicyStore } from './policy-store.ts';
export { writtenCapabilities, type Capabilities } from './capabilities.ts';
export { loadGeoIndex, GeoIndex, IpDatabaseError } from './geo.ts';
export { loadSubdivisions, SubdivisionIndex, SUBDIVISION_CODE, type SubdivisionDataVersion } from './subdivisions.ts';
export { parseIp, parseCidr } from './ip.ts';
export { NetworkClassifier, NetworkListError, loadHostingList, loadTorExits, loadVpnRanges, loadNetworkLists, type NetworkListsVersion } from './networks.ts';
export { loadSanctions, SanctionsIndex, SanctionsListError, entryDigest, type SanctionsVersion } from './sanctions.ts';
export { SignupScreener, DisposableDomains, ScreeningInputError } from './screening.ts';
export { runPolicyCli } from './cli.ts';
export { policyAdminRoutes } from './admin.ts';
export { subjectFacts } from './subject.ts';
export { Rescreener, rescreenAccounts, screenedIdentity, screenSubject, rescreenSummary, clearanceOf, holdTag, SCREENING_ACTOR, type RescreenReport, type RescreenMatch } from './rescreen.ts';
