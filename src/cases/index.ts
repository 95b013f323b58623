// cases: case files for the detector's campaigns (evidence frozen with the ledger's proof), reports, and threat-intel exchange with other providers (STIX 2.1 bundles of keyed hashes, a TAXII 2.1 server and feeds).
/**
 * A case is opened on a campaign (`buildCaseFile`), kept in a `CaseStore` (SQLite or PostgreSQL),
 * read as a report (`caseReportMarkdown`) and shared as indicators (`caseToStix`). Indicators from
 * partners (`stixToIndicators`) go into the detector's `SharedIndicators` (src/detect/intel.ts),
 * which holds matching accounts at the feed's level (unless many established accounts here share
the value: then it is held for review). A published case (`publishCase`) is served to
 * partners by the TAXII 2.1 server (`registerTaxiiServer`); partners' collections are polled by
 * `FeedPoller`. Imports `detect`, `ledger` (its query), `events`, `store`, `limits`, `errors`,
 * `admin`'s router and `gateway`'s JSON body checks (the TAXII server, taxii.ts); imported by
 * src/cli, and by `config` for its schema (config.ts) only.
 */
export { MIN_SHARING_KEY_CHARS } from './config.ts';
export { CASE_STATUSES, type CaseFile, type CaseSummary } from './types.ts';
export { buildCaseFile, casesWithGoneIds, findCaseCampaign, DEFAULT_CASE_LIMITS, type CaseSources } from './case-file.ts';
export { caseReportMarkdown } from './report.ts';
export { caseToStix, sightingsToStix, stixToIndicators, stixId, StixError, IMPORT_LEVELS, type StixBundle, type PartnerSighting } from './stix.ts';
export { MemoryCaseStore, SqliteCaseStore, PostgresCaseStore, type CaseStore, type PublishedObject } from './store.ts';
export { registerCasesAdminRoutes, casesAdminRoutes } from './admin.ts';
export { publishCase, isStale, type CaseExchange, PUBLISHED_COLLECTION, partnerCollection, type PublishResult } from './publish.ts';
export { registerTaxiiServer, TAXII_MEDIA_TYPE, type TaxiiCaller } from './taxii.ts';
export { FeedPoller, type FeedSpec, type FeedState } from './feeds.ts';
export { Partners, approveIndicators, loadApprovals, DEFAULT_GRACE_DAYS, type PartnerSpec, type PartnerView, type PartnerExchangeView, type PublishTarget } from './partners.ts';
export { eraseAccountFromCases, casesHolding, erasedPseudonym } from './erase.ts';
export { IntelSigner, IntelPublicKey, checkSigned, checkPinned, parsePin, SIGNATURE_FIELD } from './signing.ts';
export { reloadPins, pinsReloadedLine, type PinsWanted, type PinsReloaded, type PinChange } from './pins.ts';
