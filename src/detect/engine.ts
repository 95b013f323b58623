/**
 * The detector engine: one object fed event by event, online (gateway) or offline (scan), that
 * keeps per-account behaviour windows, links accounts into clusters through a weighted evidence
 * index, scores accounts and clusters, and holds the verdicts (with hysteresis and operator
 * overrides) that enforcement reads from memory.
 *
 * Determinism: everything is driven by event time (the `ts` of the events), never the wall clock,
 * so the same events in the same order give the same verdicts online and offline.
 *
 * Memory: per account a fixed-size row of typed arrays (counters, link slots, verdict state), plus
 * one map entry for its id; per non-singleton cluster one small object. No per-event storage.
 */
import { parseAnswerFp, type InteractionEvent } from '../events/index.ts';
import { detectConfig, type DetectConfig } from './config.ts';
import { extractPromptFeatures, parseIsoMs, FLAG as FLAG_, fnv1a, mix, userTaskFlags } from './features.ts';
import { ResponseChains } from './chains.ts';
import { ServedAnswers } from './served-answers.ts';
import { EmbeddingSpread, embeddingSpreadTest, type SpreadReadings } from './embedding-spread.ts';
import { LOGIT_PROBE, logitProbeTest, observeProbe, probeReadings, type ProbeSketches } from './logit-probe.ts';
import { C as C_, STRIDE as STRIDE_, HOUR_BINS as HOUR_BINS_, TOPIC_COLUMNS, IndicatorValues, scoreIndicators, indicatorsOf, readIndicators, harvestScore, indicatorReasons, round, HARVEST_FULL_EVIDENCE, type Indicator, type PeerContext } from './scoring.ts';
import { PeerVolumes } from './peers.ts';
import { VERDICT_LEVELS, verdictRank, ALLOW_LIST_SIGNAL, type Verdict, type VerdictLevel, type VerdictListener, type VerdictReason, type VerdictView } from './verdict.ts';
import type { SharedIndicators } from './intel.ts';
import { LINK_TYPES, LT, NLINK, KEY_SLOTS, KEYS_PER_TYPE, SOFTWARE_EVIDENCE_CAP, FLEET_WEIGHT, FLEET_MAX_ACCOUNTABLE_SHARE, FLEET_SLOT, OWN, UNCOMMON_SLOT, ANCHOR_SLOT, SCHEME_SLOT, EVIDENCE_LENGTH, NEVER_DISTINCTIVE, NEVER_SCHEME, SIGNUP_FACTS, BEYOND_SOFTWARE, ADDRESS_EVIDENCE_PER_IP, ADDRESS_BUSY, MAX_SHARED_ADDRESSES, ADDRESS_WINDOW_S, PAIR_SPAN, MAX_ADDRESSES, MAX_PAIRS, SYNC_BUCKET_S, SYNC_EPOCH_S, SYNC_HASHES, SYNC_BANDS, SYNC_MIN_BUCKETS, SYNC_MAX_OCCUPANCY, SYNC_MIN_JACCARD, SYNC_MIN_LIFT, type AddressUse, type PairEvidence, TWO32, FLEET_KEY_TYPES, fleetEvidence, seenBit, seenAccounts, keyWeight, subnet, subnet16 } from './linking.ts';
import { harvestShape, taskKinds, findCohort, cohortReasons, joinsStanding, COHORT, ESTABLISHED, establishedShape, findEstablishedCohort, agentShape, findAgentCohort, AGENTS, sliceShape, sliceTemplate, findSliceCohort, SLICE, type CohortReading, type SliceValues, type SettingsJoin } from './harvest-cohort.ts';
import { FRESH_ACCOUNT_S, FREEMAIL, isDisposable, academicDomain, institutionalDomain, DOMAIN_ESTABLISHED_MIN, SMALL_ORG_MAX, F_VERIFIED, F_FRESH, F_PERSONAL, F_CAMPUS, F_FLEET_LINKED, F_KNOWN, F_PROGRAMME, F_MOVED_FLAGGED, CAMPUS_CLASS_MIN, CAMPUS_CLASS_MAX_RECENT, TIERS, tierFlags } from './account-facts.ts';
import { PAY_RING, YIELD, yieldRatioFloor, yieldReadings, pipelineShape, observePayload, harvestableAnswer, resentShare, harvestYieldReasons, ITEM_COLUMNS, FOLLOW_RING, FOLLOW_SLOT, observeItem, observeFollowUp, settleUnfollowed, payloadKey, decayItems, itemReadings, itemsPass, itemsPassIdentityOnly, itemsUnfollowed, namedPipeline, harvestItemsReasons, turnTokens, type ItemReadings } from './harvest-yield.ts';
import { FRESH_SKETCH, FRESH_SKETCH_6, FreshSketches, freshInput, sketchFromFormat6 } from './standing-input.ts';
import { ProblemOwners } from './shared-problems.ts';
import { ItemOwners, PAIR_COLUMNS, PAIR_BITS, itemFp, tempTenths, temperatureSplit, observePair, observePaired, pairReadings, pairedPass, pairedReasons } from './paired-items.ts';
import { question } from './question-pass.ts';
import { AnswerOwners, PASTE_COLUMNS, PASTE_BITS, pastedCandidates, observePasting, observePasted, pasteReadings, verifyingPass, askedPass, verifyingReasons, askedReasons, gradingReadings, gradingPass, gradingReasons, GRADING } from './pasted-answers.ts';
import { LinkKeyIndex } from './link-keys.ts';
import { AccountTable } from './account-table.ts';
import { LinkRecords } from './link-records.ts';
import { MergedIds } from './merged-ids.ts';
import { OperatorVerdicts } from './operator-verdicts.ts';
import { RecentEventIds } from './recent-event-ids.ts';
import { placeLinked, readPlace, placeReasons, placeHold, institutionSignup, institutionLinked, conversingClass, lenientPlaceReading, PLACE_VOLUME_CEILING, PLACE_BUSY_FACTOR, type PlaceBusiest, type PlaceReading } from './place-links.ts';
import { addEvent, addArrival, elicitOf, capabilityOf } from './account-window.ts';
import { embeddingSpreadReasons, logitProbeReasons, COORD_FULL_EVIDENCE, COORD_VERIFIED, COORD_DISPOSABLE, COORD_FRESH, HOUSEHOLD_MAX_HOPPING, coordinationDetail, heldReasons, requestsCapReasons, coordinationReasons, decidePrecedence, describeCampaign } from './explain.ts';
import { WATCH, THROTTLE, SHAPE, shortId, campaignIdOf, type ClusterState, type LevelState, type VerdictSource, type Exemption, type NotReachedBy, type WeighedVerdict, type VerdictPrecedence, type AccountLink, type AccountRow, type ClusterSummary, type Campaign, type SharedAccountVerdict, type EngineOptions, type ClusterMerge, type OperatorMerge, type EngineStats, type AllowListChange, type AllowListDecision, type AllowListScope, type ShadowVerdict, type ShadowRow, type AllowEntryShadow } from './engine-types.ts';

export { LINK_TYPES, type LinkType } from './linking.ts';
export { MERGED_AWAY_MAX } from './merged-ids.ts';
export type { AccountRow, Exemption, NotReachedBy, WeighedVerdict, OutrankedVerdict, VerdictPrecedence, AccountLink, ClusterSummary, Campaign, SharedAccountVerdict, EngineOptions, ClusterMerge, OperatorMerge, EngineStats, AllowListChange, AllowListDecision, AllowListScope, ShadowVerdict, ShadowRow, AllowEntryShadow } from './engine-types.ts';

/** The enterprise tier's index in TIERS (what `tier` holds per account). */
const ENTERPRISE = TIERS.indexOf('enterprise');

// Local copies: imported bindings may compile to getters, and these are read per event.
const C = { ...C_ };
const FLAG = { ...FLAG_ };
const STRIDE = STRIDE_;
const HOUR_BINS = HOUR_BINS_;

/** Idle accounts are looked for (see evict_idle_hours) once per this much event time. */
const SWEEP_EVERY_S = 3600;
/**
 * A standing verdict's explanation (indicator values, coordination evidence) is rebuilt when its
 * score has moved by EXPLAIN_SCORE_STEP since, or once it is EXPLAIN_REFRESH_S of event time old;
 * a new level is explained at once. Rebuilding it whenever a flagged account was scored (on each
 * tick after a request) was most of what scoring allocated.
 */
const EXPLAIN_REFRESH_S = 3600;
const EXPLAIN_SCORE_STEP = 0.02;

type AccountColumn = Float64Array | Int32Array | Uint8Array | Uint16Array | Uint32Array | Float32Array | Int16Array | Int8Array;
/** Shared indicators remembered per account (the explanation names at most five). */
const INTEL_IDS_PER_ACCOUNT = 8;

/** The most prompts one request (a legacy prompt array) counts for in the topic-shift baseline. */
const BASELINE_MAX_PROMPTS = 16;



/** Bump when the meaning of any field kept in a snapshot changes (a counter's slot, a flag's bit). */
const SNAPSHOT_FORMAT = 7;
/**
 * Distinct model names the detector keeps (for the model-release signal). The name is the
 * customer's string: only served requests register one, and past this many the rest share one
 * untracked id that never reads as a release, so made-up names cannot grow the heap or snapshot.
 * Below 32,767: ids live in an Int16Array (lastModel).
 */
const MODELS_TRACKED_MAX = 4096;
/** The id of every model name not tracked (refused requests' names, names past MODELS_TRACKED_MAX). */
const UNTRACKED_MODEL = { id: MODELS_TRACKED_MAX, first: -Infinity };

/** When this process started (its configuration was read): the `since` of an allow-list verdict from the configuration. */
const PROCESS_STARTED = new Date().toISOString();

/** Which verdict decides an account's level, as an allow-list shadow row names it (the allow-list itself never does there). */
const SHADOW_SOURCE: Record<VerdictSource, ShadowRow['decided_by']> = {
  allow: null, manual_account: 'operator_account', manual_cluster: 'operator_cluster', cluster: 'detector_cluster', own: 'detector_account',
};

/** Engine fields holding a part of the state in an object of its own, whose fields a snapshot stores in the part's place (see snapshotState). */
const STORED_AS_FIELDS = new Set(['accounts', 'linkKeys', 'links', 'merges']);
/** Engine fields a snapshot leaves out (see snapshotState). */
const NOT_IN_SNAPSHOTS = new Set([
  'config', 'halfLifeS', 'thresholds', 'singleMax', 'trackFirst', 'indicatorScratch', 'classScratch', 'placeScratch', 'placeValues', 'placeCounts', 'listeners',
  'allowAccounts', 'allowOrgs', 'allowOrgMembers', 'allowExpiry', 'allowMeta', 'allowVerdicts', 'nextAllowExpiry', 'operator', 'mergeListeners', 'clusterMergeListeners', 'allowListListeners',
  'recent', 'intel', 'intelGeneration',
]);

/** A copy of `m` (same order) with each key mapped by `key`: snapshots store address hashes unsigned, the engine holds them `| 0`. */
function withKeys<V>(m: Map<number, V>, key: (k: number) => number): Map<number, V> {
  const out = new Map<number, V>();
  for (const [k, v] of m) out.set(key(k), v);
  return out;
}

/**
 * The detector. Feed it with `ingest(event)`; read verdicts with `forAccount(id)` (it is a
 * `VerdictView`). Example:
 *
 *   const engine = new DetectorEngine({ config: { tick_seconds: 5 } });
 *   for await (const ev of readEventsJsonl('events.jsonl')) engine.ingest(ev);
 *   engine.flush();
 *   engine.forAccount('acct_1').level;   // 'none' | 'watch' | ... | 'suspend'
 */
/**
 * The task of a request that opens a tool trajectory (one user turn, no assistant answer, no tool
 * call or result yet: later steps carry the loop's history), or null for any other request. Read
 * only for requests that offer tools.
 */
function openingTask(ev: InteractionEvent): string | null {
  if (ev.request.messages_omitted) return null;
  let task: string | null = null;
  for (const m of ev.request.messages) {
    if (m.role === 'user') { if (task !== null) return null; task = m.text ?? ''; }
    else if (m.role !== 'system' && m.role !== 'developer') return null;
    if (m.parts && ((m.parts.tool_result ?? 0) + (m.parts.tool_use ?? 0) + (m.parts.function_call_output ?? 0)) > 0) return null;
  }
  return task;
}

export class DetectorEngine implements VerdictView {
  readonly config: DetectConfig;
  private readonly halfLifeS: number;
  private readonly thresholds: number[];
  private readonly singleMax: number;
  private readonly trackFirst: boolean;

  /** The per-account table: ids, behaviour windows, union-find of clusters, organisation and flags (account-table.ts). */
  private readonly accounts = new AccountTable();
  private syncSig = new Uint32Array(0);
  private syncBucket = new Float64Array(0);
  private syncCount = new Uint16Array(0);
  /**
   * Per client address (its hash `| 0`: a small integer, which a Map looks up several times
   * faster than the unsigned hash, a boxed number for half of them), its recent users.
   * Snapshots store the unsigned hash (see snapshotState).
   */
  private readonly addresses = new Map<number, AddressUse>();
  /** Per client prefix (its link-key hash `| 0`, as `addresses`), a sketch of the accounts seen in it (see AddressUse). */
  private readonly subnetSeen = new Map<number, number>();
  private readonly pairs = new Map<number, PairEvidence>();
  private syncActive: number[] = [];
  private syncEpoch = -1;
  private keys = new Float64Array(0);
  private nkeys = new Uint8Array(0);
  private seenEvents = new Uint32Array(0);
  /**
   * Bumped whenever a software key gains its first or second flagged holder (flagKey);
   * `linkEpoch` holds, per account, the value at its last linking. An
   * unaccountable account outside a flagged cluster is linked again at its next request once a
   * campaign has been flagged since: otherwise an account already at work when its campaign was
   * flagged waited for its next new key or its next power-of-two request (up to as many requests
   * again as it had sent) before its campaign's own software could bring it in. Kept in
   * snapshots; a snapshot written before them reads back (readsLayout) with every such account
   * linked again at its next request.
   */
  private flagEpoch = 1;
  private linkEpoch = new Uint32Array(0);
  private tplHash = new Uint32Array(0);
  private tplCount = new Float32Array(0);
  /** The account's last PAY_RING payload keys (see harvest-yield.ts: payloadKey, observePayload), and [re-sent, requests] counts. */
  private payRing = new Uint32Array(0);
  private payCount = new Float32Array(0);
  /**
   * What the account's previous requests sent (standing-input.ts: FreshSketches), so the input
   * counted is what it had not. Snapshots store it as one column of FRESH_SKETCH entries an
   * account (snapshotState), as when it was one.
   */
  private freshSketch = new FreshSketches();
  /** The account's harvest part: its single-shot questions asking for reasoning, [questions, input, output] decayed with its window (harvest-yield.ts: ITEMS). */
  private harvestItems = new Float32Array(0);
  /**
   * Per account, decayed with its window: the tool trajectories it opened (a request offering tools
   * with one user turn and no tool call or result yet) and, of those, the ones on a coding or maths
   * task (harvest-cohort.ts: AGENTS).
   */
  private agentOpenings = new Float32Array(0);
  /**
   * Per account, decayed with its window: the questions of its harvest part that came within
   * SLICE.machineGapS of the account's previous request (an evaluation set's script pace; the
   * harvest-slice reading leaves such slices out, as the established reading leaves out pipelines).
   */
  private slicePace = new Float32Array(0);
  /** Each account's single-shot questions of its harvest part watched for a follow-up (text key and time, FOLLOW_RING slots). */
  private harvestFollow = new Uint32Array(0);
  /** Answers pasted across accounts and graded items (pasted-answers.ts: PASTE_COLUMNS), and the distinct-account bit sets. */
  private pasteCount = new Float32Array(0);
  private pasteBits = new Uint32Array(0);
  /** Which account each recent answer was served to (pasted-answers.ts). */
  private answerOwners = new AnswerOwners();
  private readonly pasteScratch: number[] = [];
  /** Questions asked in pairs across accounts (paired-items.ts: PAIR_COLUMNS), and the distinct-partner bit sets. */
  private pairCount = new Float32Array(0);
  private pairBits = new Uint32Array(0);
  /** Which account first asked each recent single-shot question (paired-items.ts). */
  private itemOwners = new ItemOwners();
  /** Who first asked each recent opening question (shared-problems.ts): whether a cluster's members ask each other's problems. */
  private problemOwners = new ProblemOwners();
  private lastModel = new Int16Array(0);
  /** Network (ASN, or a hash of the /16 when unknown) of each account's previous request; 0: none yet. */
  private lastNet = new Uint32Array(0);
  /** Verification tier (index in TIERS) and current bin in the peer volume histogram (-1: not yet). */
  private tier = new Uint8Array(0);
  private peerBin = new Int8Array(0);
  private readonly peers = new PeerVolumes(TIERS.length);
  /** Decayed task-topic counts of requests from accounts with no verdict (the topic-shift baseline), and their normalised mix. */
  private readonly topicCounts = new Float64Array(TOPIC_COLUMNS.length);
  private topicMix: Float64Array | null = null;
  private topicDecayTs = 0;
  private accLevel = new Uint8Array(0);
  private accScore = new Float32Array(0);
  private accSince = new Float64Array(0);
  /** Event time the account's verdict explanation was built, and the score it showed. */
  private accExplained = new Float64Array(0);
  private accExplainedScore = new Float64Array(0);
  private accBelow = new Float64Array(0);
  private firstFlag = new Float64Array(0);
  private served = new Uint32Array(0);

  private readonly orgIds = new Map<string, number>();
  private readonly orgNames: string[] = [];
  private readonly freeOrgs: number[] = [];
  /** Per org: accounts seen, and those with a personal identity (free-mail or disposable address, not enterprise tier). */
  private orgMembers: number[] = [];
  private orgPersonal: number[] = [];
  /** Per org: members admitted to a programme (see orgCorroborated). */
  private orgAdmitted: number[] = [];
  /**
   * Per org, its members now: a doubly linked list through two per-account columns (`orgHead` its
   * first member, `orgNext`/`orgPrev` per account; each an account index plus one, 0 for none).
   * An account joins and leaves in constant time; when an org's standing changes (see
   * orgStanding), its members are walked once, and only then: never all accounts, and never on an
   * ordinary request. A snapshot written before them reads back with the lists built from each
   * account's org (restoreState).
   */
  private orgHead: number[] = [];
  private orgNext = new Int32Array(0);
  private orgPrev = new Int32Array(0);
  /** Established accounts (not fresh) per institutional email domain key: see DOMAIN_ESTABLISHED_MIN. */
  private readonly domainEstablished = new Map<number, number>();
  /** Orgs currently uncorroborated (see orgCorroborated): few, so clusters are scored without walking their orgs. */
  private readonly uncorroborated = new Set<number>();
  /** Link keys: per key its population and representative holders (link-keys.ts). */
  private readonly linkKeys = new LinkKeyIndex();
  private readonly clusters = new Map<number, ClusterState>();
  private readonly models = new Map<string, { id: number; first: number }>();

  private readonly dirtyAccounts = new Set<number>();
  private readonly dirtyClusters = new Set<number>();
  private readonly accVerdicts = new Map<number, Verdict>();
  /** Per linked account, the link that brought it into its cluster (link-records.ts). */
  private readonly links = new LinkRecords();
  /** Indicator readings of the window being scored (reused: scoring runs for every dirty account on every tick). */
  private readonly indicatorScratch = new IndicatorValues();
  /** Indicator values of an account's cluster read while the account's own are in use (conversingClassSize). */
  private readonly classScratch = new IndicatorValues();
  /** The other members' window of a place-linked cluster whose busiest member is set apart (placeWindow; read at once, never kept). */
  private readonly placeScratch = new Float64Array(STRIDE);
  /** Indicator values of that window (placeReading). */
  private readonly placeValues = new IndicatorValues();
  /** Members' windowed requests of the place-linked cluster being read (placeWindow; grown as needed). */
  private placeCounts = new Float64Array(64);
  /** Operator verdicts on accounts and clusters, and where those on merged-away clusters apply (operator-verdicts.ts). */
  private readonly operator = new OperatorVerdicts();
  /** Cluster and campaign ids merged away -> the id they merged into (merged-ids.ts): an id in an alert or a case keeps resolving. */
  private readonly merges = new MergedIds();
  private mergeListeners: Array<(m: OperatorMerge) => void> = [];
  private clusterMergeListeners: Array<(m: ClusterMerge) => void> = [];
  private allowListListeners: Array<(c: AllowListChange) => void> = [];
  private readonly allowAccounts = new Set<string>();
  private readonly allowOrgs = new Set<string>();
  /**
   * An org entry made by an operator covers the accounts the org held when it was made (their ids,
   * here), not accounts created in or moved into the org later: an allow-list decision is about the
   * accounts the operator looked at. Orgs absent here (warden.yaml's detect.allow.orgs, an entry
   * made with new accounts included) cover every account the org holds now.
   */
  private readonly allowOrgMembers = new Map<string, Set<string>>();
  /** Allow-list entries made for a time (`account:ID`, `org:ID`) -> wall-clock ms at which they lapse. */
  private readonly allowExpiry = new Map<string, number>();
  /** Wall-clock ms of the first allow-list entry to lapse (Infinity: none). */
  private nextAllowExpiry = Infinity;
  /**
   * Allow-list entries made by an operator (`account:ID`, `org:ID`) -> when, why and by whom: the
   * allow-list verdict of an account names its entry with them. Entries of the configuration have none.
   */
  private readonly allowMeta = new Map<string, { since: string; note: string | null; by: string | null }>();
  /** The allow-list verdict of each exempt account looked up, and the entry it names (dropped on every allow-list change). */
  private readonly allowVerdicts = new Map<string, { key: string; verdict: Verdict }>();
  private readonly clusterById = new Map<string, number>();

  private now = 0;
  private nextTick = 0;
  private nextSweep = 0;
  /**
   * The last harvest-cohort reading (harvest-cohort.ts): its members, the accounts the next reading
   * looks at, and when it is due. Kept in snapshots; one without it (written before) starts with a
   * reading over every account at the first tick.
   */
  private cohort: { members: Map<number, CohortReading>; candidates: Set<number>; nextAt: number } = { members: new Map(), candidates: new Set(), nextAt: 0 };
  /**
   * The standing new-account cohort's own settings (detect.cohort_settings_heads), read with it:
   * per parameter-fingerprint key, its members and the new accounts read that send it; and that
   * reading. Read again at every reading (not kept in snapshots: a restored engine has them at its first).
   */
  private cohortSettings: { keys: Map<number, { members: number; read: number }>; reading: CohortReading | null } = { keys: new Map(), reading: null };
  /** Accounts whose latest request sent one of the cohort's own settings, until they are next scored: index -> [id, key]. */
  private settingsSent = new Map<number, [string, number]>();
  private events = 0;
  private ticks = 0;
  private listeners: VerdictListener[] = [];
  /** Ids and event times of recently ingested events (rememberEventIdsSeconds). */
  private readonly recent: RecentEventIds;
  /** Shared indicators in force (none: no matching), and the generation of them last scored. */
  private intel: SharedIndicators | null = null;
  private intelGeneration = 0;
  /** Per account index, the shared indicators it has matched (ids, at most INTEL_IDS_PER_ACCOUNT). */
  private intelHits = new Map<number, string[]>();
  /** Sketches of the bias maps and prompts of accounts that probe logits (logit-probe.ts); sparse. */
  private logitProbes: ProbeSketches = new Map();
  /** Sketches of where accounts' embedding vectors lie, and each model's reference (embedding-spread.ts); sparse. */
  private readonly embeddingSpread: EmbeddingSpread;
  /** What each recent Responses answer's chain holds, for requests that continue it (chains.ts). */
  private readonly chains = new ResponseChains();
  /** The answers served to each account (answer fingerprints), in fixed memory; null when off. */
  private readonly answersServed: ServedAnswers | null;

  constructor(opts: EngineOptions = {}) {
    this.config = detectConfig(opts.config ?? {});
    const t = this.config.thresholds;
    this.thresholds = [0, t.watch, t.throttle, t.shape, t.verify, t.suspend];
    for (let i = 2; i < this.thresholds.length; i++) {
      if (this.thresholds[i] < this.thresholds[i - 1]) throw new Error(`detect.thresholds must increase: ${VERDICT_LEVELS[i]} < ${VERDICT_LEVELS[i - 1]}`);
    }
    this.halfLifeS = this.config.window_half_life_hours * 3600;
    this.embeddingSpread = new EmbeddingSpread(this.halfLifeS);
    const mib = this.config.served_answers_mib;
    this.answersServed = mib >= 1 / 512 ? new ServedAnswers(Math.floor(Math.log2(mib)) + 22) : null;
    this.singleMax = verdictRank(this.config.single_account_max_level);
    this.trackFirst = opts.trackFirstFlags ?? false;
    this.recent = new RecentEventIds(opts.rememberEventIdsSeconds ?? 0);
    if (opts.intel) this.setIntel(opts.intel);
    for (const a of this.config.allow.accounts) this.allowAccounts.add(a);
    for (const o of this.config.allow.orgs) this.allowOrgs.add(o);
    this.grow(1024);
  }

  // ---------------------------------------------------------------- storage

  private grow(min: number): void {
    let cap = Math.max(this.accounts.cap * 2, 1024);
    while (cap < min) cap *= 2;
    this.eachColumn(<T extends AccountColumn>(a: T, per: number): T => {
      const b = new (a.constructor as new (n: number) => T)(cap * per);
      b.set(a);
      return b;
    });
    this.freshSketch.grow(cap);
    this.accounts.cap = cap;
  }

  /** Apply `f` to every per-account column (with the entries each account holds in it), storing what it returns. */
  private eachColumn(f: <T extends AccountColumn>(a: T, per: number) => T): void {
    this.accounts.w = f(this.accounts.w, STRIDE);
    this.accounts.parent = f(this.accounts.parent, 1);
    this.accounts.size = f(this.accounts.size, 1);
    this.accounts.next = f(this.accounts.next, 1);
    this.accounts.org = f(this.accounts.org, 1);
    this.accounts.flags = f(this.accounts.flags, 1);
    this.orgNext = f(this.orgNext, 1);
    this.orgPrev = f(this.orgPrev, 1);
    this.keys = f(this.keys, KEY_SLOTS);
    this.nkeys = f(this.nkeys, 1);
    this.syncSig = f(this.syncSig, SYNC_HASHES);
    this.syncBucket = f(this.syncBucket, 1);
    this.syncCount = f(this.syncCount, 1);
    this.seenEvents = f(this.seenEvents, 1);
    this.linkEpoch = f(this.linkEpoch, 1);
    this.tplHash = f(this.tplHash, 2);
    this.tplCount = f(this.tplCount, 2);
    this.payRing = f(this.payRing, PAY_RING);
    this.payCount = f(this.payCount, 2);
    this.harvestItems = f(this.harvestItems, ITEM_COLUMNS);
    this.agentOpenings = f(this.agentOpenings, 2);
    this.slicePace = f(this.slicePace, 1);
    this.harvestFollow = f(this.harvestFollow, FOLLOW_RING * FOLLOW_SLOT);
    this.pasteCount = f(this.pasteCount, PASTE_COLUMNS);
    this.pasteBits = f(this.pasteBits, PASTE_BITS);
    this.pairCount = f(this.pairCount, PAIR_COLUMNS);
    this.pairBits = f(this.pairBits, PAIR_BITS);
    this.lastModel = f(this.lastModel, 1);
    this.lastNet = f(this.lastNet, 1);
    this.tier = f(this.tier, 1);
    this.peerBin = f(this.peerBin, 1);
    this.accLevel = f(this.accLevel, 1);
    this.accScore = f(this.accScore, 1);
    this.accSince = f(this.accSince, 1);
    this.accExplained = f(this.accExplained, 1);
    this.accExplainedScore = f(this.accExplainedScore, 1);
    this.accBelow = f(this.accBelow, 1);
    if (this.trackFirst) { this.firstFlag = f(this.firstFlag, VERDICT_LEVELS.length); this.served = f(this.served, VERDICT_LEVELS.length); }
  }

  private decay(off: number, now: number): void {
    const w = this.accounts.w;
    const last = w[off + C.DECAY_TS];
    if (now > last) {
      if (last > 0) {
        const f = Math.pow(2, -(now - last) / this.halfLifeS);
        for (let c = 0; c < C.DECAYED; c++) w[off + c] *= f;
        decayItems(this.harvestItems, off / STRIDE, f);
        const ao = (off / STRIDE) * 2;
        this.agentOpenings[ao] *= f; this.agentOpenings[ao + 1] *= f;
        this.slicePace[off / STRIDE] *= f;
      }
      w[off + C.DECAY_TS] = now;
    }
  }

  private decayVec(v: Float64Array, now: number): void {
    const last = v[C.DECAY_TS];
    if (now > last) {
      if (last > 0) {
        const f = Math.pow(2, -(now - last) / this.halfLifeS);
        for (let c = 0; c < C.DECAYED; c++) v[c] *= f;
      }
      v[C.DECAY_TS] = now;
    }
  }

  private accountIndex(ev: InteractionEvent, tsS: number): number {
    const id = ev.account_id!;
    const found = this.accounts.index.get(id);
    if (found !== undefined) return found;
    const i = this.accounts.freeAccounts.length > 0 ? this.accounts.freeAccounts.pop()! : this.accounts.count++;
    if (i >= this.accounts.cap) this.grow(i + 1);
    if (i === this.accounts.ids.length) this.accounts.ids.push(id); else this.accounts.ids[i] = id;
    this.accounts.index.set(id, i);
    this.accounts.parent[i] = i; this.accounts.size[i] = 1; this.accounts.next[i] = i;
    this.lastModel[i] = -1;
    this.peerBin[i] = -1;
    const off = i * STRIDE;
    this.accounts.w[off + C.FIRST_TS] = tsS;
    const org = ev.org_id ? this.orgIndexOf(ev.org_id) : -1;
    this.accounts.org[i] = org;
    const acct = ev.account;
    let f = acct ? tierFlags(acct, org >= 0) : 0;
    if (org >= 0) this.joinOrg(i, org, f);
    if (acct?.email_domain && isDisposable(acct.email_domain.toLowerCase())) f |= 2;
    if (this.allowAccounts.has(id) || (ev.org_id && this.orgEntryCovers(ev.org_id, id))) f |= 4;
    // Fresh: put to use within days of signup, or first used days ago whatever its age (an account
    // bought old and put to work today has no more history than a new one).
    const createdMs = acct ? Date.parse(acct.created_at) : NaN;
    const firstUsedMs = acct?.first_used_at ? Date.parse(acct.first_used_at) : NaN;
    if ((Number.isFinite(createdMs) && tsS - createdMs / 1000 <= FRESH_ACCOUNT_S)
      || (Number.isFinite(firstUsedMs) && tsS - firstUsedMs / 1000 <= FRESH_ACCOUNT_S)) f |= 8;
    if (acct) f |= F_KNOWN;
    this.accounts.flags[i] = f;
    this.tier[i] = Math.max(0, TIERS.indexOf(acct?.tier ?? 'unverified'));
    // Signup facts: registered once, when the account is first seen.
    if (ev.org_id) this.addKey(i, LT.org, fnv1a(ev.org_id));
    if (acct) {
      if (acct.payment_fp) this.addKey(i, LT.payment_fingerprint, fnv1a(acct.payment_fp));
      if (acct.signup_ip) {
        this.addKey(i, LT.signup_ip, fnv1a(acct.signup_ip));
        this.addKey(i, LT.signup_subnet, fnv1a(subnet(acct.signup_ip)));
      }
      const dom = acct.email_domain?.toLowerCase();
      if (dom && !FREEMAIL.has(dom)) this.addKey(i, LT.email_domain, fnv1a(dom));
      if (acct.email_pattern) this.addKey(i, LT.email_pattern, fnv1a(acct.email_pattern));
      if (dom && institutionalDomain(dom)) this.vouchDomain(i, dom, acct.programme);
      const created = Date.parse(acct.created_at);
      if (Number.isFinite(created)) {
        const bucket = Math.floor(created / (15 * 60_000));
        this.addKey(i, LT.signup_burst, fnv1a(`${acct.programme}|${acct.tier}|${bucket}`));
      }
    }
    return i;
  }

  /**
   * Account i, new, on institutional domain `dom` (its email_domain key registered): count it among
   * the domain's established accounts when it is not fresh, and mark it F_CAMPUS (one actor with
   * its domain) when it has no org and something vouches for the domain: a reserved academic
   * suffix, the provider's programme admission, a verified identity, the account's own history
   * (not fresh: an established developer of a company that declared no org), or established
   * accounts already seen on it (a university's staff before its new students). A fleet on its own
   * domain has none of these (new, unverified accounts, no admission), and fleet evidence between
   * accounts still makes them separate actors (setFleetLinked).
   */
  private vouchDomain(i: number, dom: string, programme: string): void {
    const key = this.keyOfType(i, LT.email_domain);
    if (key < 0) return;
    const f = this.accounts.flags[i];
    const established = (f & F_FRESH) === 0;
    if (established) this.domainEstablished.set(key, (this.domainEstablished.get(key) ?? 0) + 1);
    if (this.accounts.org[i] >= 0) return;
    if (this.domainVouched(i, key, dom, programme)) this.accounts.flags[i] = f | F_CAMPUS;
  }

  /** Whether something vouches for account i (no org) on its institutional domain `dom` (key `key`): see vouchDomain. */
  private domainVouched(i: number, key: number, dom: string, programme: string | null | undefined): boolean {
    const f = this.accounts.flags[i];
    return academicDomain(dom) || (!!programme && programme !== 'none') || (f & F_VERIFIED) !== 0 || (f & F_FRESH) === 0
      || (this.domainEstablished.get(key) ?? 0) >= DOMAIN_ESTABLISHED_MIN;
  }

  /**
   * Account i's latest event carries another tier or programme than the engine holds: the customer
   * verified, was raised to enterprise, was admitted to a programme, or lost one of these. Its
   * flags, its org's personal and admitted counts, its campus vouching, its cluster's verified,
   * established and campus counts and its peer group follow, so its score reads what its policy
   * and limits already do; so do the other members of its org when the change corroborates the
   * org or stops doing so (orgChanged).
   */
  private retier(i: number, acct: NonNullable<InteractionEvent['account']>): void {
    const flags = this.accounts.flags;
    const before = flags[i];
    const wasEstablished = this.established(i);
    const org = this.accounts.org[i];
    let f = (before & ~(F_VERIFIED | F_PROGRAMME | F_PERSONAL)) | tierFlags(acct, org >= 0);
    /** +1 when `flag` was gained, -1 when lost, else 0. */
    const change = (flag: number) => ((f & flag) !== 0 ? 1 : 0) - ((before & flag) !== 0 ? 1 : 0);
    if (org >= 0) {
      const standing = this.orgStanding(org);
      this.orgPersonal[org] += change(F_PERSONAL);
      this.orgAdmitted[org] += change(F_PROGRAMME);
      this.orgChanged(org, standing, i);
    }
    flags[i] = f;
    const key = this.keyOfType(i, LT.email_domain);
    const dom = acct.email_domain?.toLowerCase();
    if (org < 0 && key >= 0 && dom && institutionalDomain(dom)) {
      f = this.domainVouched(i, key, dom, acct.programme) ? f | F_CAMPUS : f & ~F_CAMPUS;
      flags[i] = f;
    }
    const tier = Math.max(0, TIERS.indexOf(acct.tier));
    if (tier !== this.tier[i] && this.peerBin[i] >= 0) {
      this.peers.remove(this.tier[i], this.peerBin[i]);
      this.peers.move(tier, -1, this.peerBin[i]);
    }
    this.tier[i] = tier;
    const root = this.accounts.find(i);
    const c = this.clusters.get(root);
    if (!c) return; // a single account: its cluster state is built from its flags when it is linked (clusterOf)
    c.verified += change(F_VERIFIED);
    c.established += (this.established(i) ? 1 : 0) - (wasEstablished ? 1 : 0);
    this.recountCampus(c, key, before, f);
    this.dirtyClusters.add(root);
  }

  /** An account's flags changed from `before` to `f`: its count in cluster c's campus class under `key` follows (a campus member not fleet-linked). */
  private recountCampus(c: ClusterState, key: number, before: number, f: number): void {
    const inClass = (x: number) => (x & (F_CAMPUS | F_FLEET_LINKED)) === F_CAMPUS;
    if (inClass(f) === inClass(before)) return;
    const k = (c.campus.get(key) ?? 0) + (inClass(f) ? 1 : -1);
    if (k > 0) c.campus.set(key, k); else c.campus.delete(key);
    c.campusMembers += inClass(f) ? 1 : -1;
  }

  /**
   * A declared org is one accountable customer only when the declaration is corroborated: an org
   * whose members (two or more) mostly sign up with personal free-mail or disposable addresses and
   * no enterprise contract has no organisational identity behind it, so its members count as
   * separate actors and what else they share counts as coordination evidence. Unless the org is
   * small (SMALL_ORG_MAX) and the provider admitted a member to a programme: founders on free-mail
   * who pay with the company card are one customer.
   */
  private orgCorroborated(org: number): boolean {
    const n = this.orgMembers[org];
    return n < 2 || this.orgPersonal[org] * 2 < n || (n <= SMALL_ORG_MAX && this.orgAdmitted[org] > 0);
  }

  /**
   * What org `o` gives its members: bit 0 corroborated (one actor in a cluster), bit 1 two or more
   * members and corroborated (its fresh, unverified members are accountable, see unaccountable).
   */
  private orgStanding(o: number): number {
    const corroborated = this.orgCorroborated(o);
    return (corroborated ? 1 : 0) | (corroborated && this.orgMembers[o] >= 2 ? 2 : 0);
  }

  /** The index of the org named `name`, registered (with no members) when new. */
  private orgIndexOf(name: string): number {
    let org = this.orgIds.get(name);
    if (org === undefined) {
      org = this.freeOrgs.length > 0 ? this.freeOrgs.pop()! : this.orgNames.length;
      this.orgIds.set(name, org);
      this.orgNames[org] = name; this.orgMembers[org] = 0; this.orgPersonal[org] = 0; this.orgAdmitted[org] = 0; this.orgHead[org] = 0;
    }
    return org;
  }

  /** Count account i (flags `f`) among org o's members. */
  private joinOrg(i: number, o: number, f: number): void {
    const standing = this.orgStanding(o);
    this.orgMembers[o]++;
    if (f & F_PERSONAL) this.orgPersonal[o]++;
    if (f & F_PROGRAMME) this.orgAdmitted[o]++;
    this.orgChanged(o, standing, i);
    const head = this.orgHead[o];
    this.orgNext[i] = head; this.orgPrev[i] = 0;
    if (head > 0) this.orgPrev[head - 1] = i + 1;
    this.orgHead[o] = i + 1;
  }

  /** Take account i (flags `f`) out of org o's members; an org left with none is forgotten. */
  private leaveOrg(i: number, o: number, f: number): void {
    const next = this.orgNext[i]; const prev = this.orgPrev[i];
    if (prev > 0) this.orgNext[prev - 1] = next; else this.orgHead[o] = next;
    if (next > 0) this.orgPrev[next - 1] = prev;
    this.orgNext[i] = 0; this.orgPrev[i] = 0;
    const standing = this.orgStanding(o);
    this.orgMembers[o]--;
    if (f & F_PERSONAL) this.orgPersonal[o]--;
    if (f & F_PROGRAMME) this.orgAdmitted[o]--;
    if (this.orgMembers[o] <= 0) {
      this.orgIds.delete(this.orgNames[o]);
      this.orgNames[o] = '';
      this.orgHead[o] = 0;
      this.uncorroborated.delete(o);
      this.freeOrgs.push(o);
      return;
    }
    this.orgChanged(o, standing, i);
  }

  /**
   * Org o's counts changed (its standing was `before`, see orgStanding): keep the set of
   * uncorroborated orgs, and when the standing changed, walk its members (except `skip`, whose own
   * change its caller counts) once: each linked member's cluster is scored again, and counts among
   * its established members those the org now makes accountable (fresh, unverified, facts known,
   * not moved in while flagged), or no longer. The walk is the org's size, and happens only when a
   * member joins, leaves or changes tier or programme and that changes the org's standing.
   */
  private orgChanged(o: number, before: number, skip: number): void {
    const corroborated = this.orgCorroborated(o);
    if (corroborated) this.uncorroborated.delete(o); else this.uncorroborated.add(o);
    const after = this.orgStanding(o);
    if (after === before) return;
    const backs = (after & 2) !== 0;
    const flipped = backs !== ((before & 2) !== 0);
    const flags = this.accounts.flags;
    for (let j = this.orgHead[o] - 1; j >= 0; j = this.orgNext[j] - 1) {
      if (j === skip || (this.accounts.parent[j] === j && this.accounts.size[j] === 1)) continue;
      const root = this.accounts.find(j);
      const c = this.clusters.get(root);
      if (!c) continue;
      if (flipped && (flags[j] & (F_KNOWN | F_VERIFIED | F_FRESH | F_MOVED_FLAGGED)) === (F_KNOWN | F_FRESH)) c.established += backs ? 1 : -1;
      this.dirtyClusters.add(root);
    }
  }

  /** Where cluster c counts a member in org `org` with flags `f`: no org, apart (moved in while flagged), or among its org's members; `k` +1 or -1. */
  private countOrgIn(c: ClusterState, org: number, f: number, k: number): void {
    if (org < 0) c.noOrg += k;
    else if (f & F_MOVED_FLAGGED) c.apart += k;
    else {
      const n = (c.orgs.get(org) ?? 0) + k;
      if (n > 0) c.orgs.set(org, n); else c.orgs.delete(org);
    }
  }

  /**
   * Account i's latest event names another org than the one the engine holds it in (support moved
   * it, a company was acquired, it left its org): it is scored in that org from now on. Its
   * membership moves from the old org's counts to the new one's (members, personal addresses,
   * programme admissions, and so each org's corroboration, with what that gives the other members,
   * see orgChanged), and so does its place in its cluster's counts (no org, the org's members,
   * established, campus). Its personal-address mark and its campus vouching (an account without an
   * org on a vouched institutional domain) are read again from the event's facts.
   * An account moved while it or its cluster is held at throttle or above (F_MOVED_FLAGGED) stays
   * its own actor (moved out of every org, it is not counted with a campus either), and the new
   * org does not make it accountable: a fleet flagged in a throwaway
   * org and moved into a reputable one keeps what its verdict rests on. Its declared link (the org
   * link key) stays the org it was first seen in: it does not join its new org's cluster by
   * declaration, so a flagged account moved into an org does not bring its verdict onto the org.
   */
  private moveOrg(i: number, ev: InteractionEvent): void {
    const flags = this.accounts.flags;
    const before = flags[i];
    const wasEstablished = this.established(i);
    const from = this.accounts.org[i];
    const root = this.accounts.find(i);
    const c = root !== i || this.accounts.size[i] > 1 ? this.clusters.get(root) : undefined;
    const held = Math.max(this.accLevel[i], c ? c.verdict.level : 0) >= THROTTLE;
    if (from >= 0) this.leaveOrg(i, from, before);
    const to = ev.org_id ? this.orgIndexOf(ev.org_id) : -1;
    this.accounts.org[i] = to;
    const acct = ev.account;
    let f = before & ~(F_PERSONAL | F_MOVED_FLAGGED | F_CAMPUS);
    const key = this.keyOfType(i, LT.email_domain);
    if (to >= 0) {
      if (held) f |= F_MOVED_FLAGGED;
      if (acct ? (tierFlags(acct, true) & F_PERSONAL) !== 0 : (before & F_PERSONAL) !== 0) f |= F_PERSONAL;
    } else {
      const dom = acct?.email_domain?.toLowerCase();
      // Held, it is not counted with a campus either: each its own actor, as in an org.
      if (!held && key >= 0 && dom && institutionalDomain(dom) && this.domainVouched(i, key, dom, acct!.programme)) f |= F_CAMPUS;
    }
    flags[i] = f;
    if (to >= 0) this.joinOrg(i, to, f);
    this.setAllowed(i);
    if (!c) return;
    this.countOrgIn(c, from, before, -1);
    this.countOrgIn(c, to, f, 1);
    c.established += (this.established(i) ? 1 : 0) - (wasEstablished ? 1 : 0);
    this.recountCampus(c, key, before, f);
    this.dirtyClusters.add(root);
  }

  /**
   * The org account i's declared links speak for: the org it is in, when it holds that org's link
   * key (it was first seen there); else -1 (it moved: its key names the org it was first seen in).
   */
  private declaredOrg(i: number): number {
    const org = this.accounts.org[i];
    return org >= 0 && this.keyOfType(i, LT.org) === LT.org * TWO32 + fnv1a(this.orgNames[org]) ? org : -1;
  }

  /** Account i's first link key of `type` (the type times 2^32 plus its hash), or -1 when it holds none. */
  private keyOfType(i: number, type: number): number {
    const base = i * KEY_SLOTS;
    for (let s = 0; s < this.nkeys[i]; s++) {
      const key = this.keys[base + s];
      if (key >= type * TWO32 && key < (type + 1) * TWO32) return key;
    }
    return -1;
  }

  /** Register a link key for account i (once), bumping the key's population count. */
  /** The tracked model an event names (registered when a served request first names it), or UNTRACKED_MODEL. */
  private modelOf(ev: InteractionEvent, tsS: number): { id: number; first: number } {
    const known = this.models.get(ev.model);
    if (known) return known;
    if (ev.response.status >= 400 || this.models.size >= MODELS_TRACKED_MAX) return UNTRACKED_MODEL;
    const model = { id: this.models.size, first: tsS };
    this.models.set(ev.model, model);
    return model;
  }

  private addKey(i: number, type: number, hash: number): boolean {
    const key = type * TWO32 + hash;
    const base = i * KEY_SLOTS;
    const n = this.nkeys[i];
    let sameType = 0;
    for (let s = 0; s < n; s++) {
      const k = this.keys[base + s];
      if (k === key) return false;
      if (k >= type * TWO32 && k < (type + 1) * TWO32) sameType++;
    }
    if (n >= KEY_SLOTS || sameType >= KEYS_PER_TYPE) return false;
    this.keys[base + n] = key;
    this.nkeys[i] = n + 1;
    const slot = this.linkKeys.register(key, i);
    // Established holders tell a population-common key (LinkKeyIndex.populationCommon); fleet software's
    // representative only when it is on.
    if (!this.unaccountable(i)) this.linkKeys.keyAccountable[slot]++;
    else if (type === LT.system_prompt && this.config.fleet_min_holders > 0 && this.linkKeys.keyFleetRep[slot] < 0) this.linkKeys.keyFleetRep[slot] = i;
    if (this.accounts.size[i] > 1 || this.accounts.parent[i] !== i) {
      const c = this.clusters.get(this.accounts.find(i));
      if (c && c.verdict.level >= THROTTLE) this.flagKey(slot, i, type);
    }
    return true;
  }

  /**
   * Make the members of the cluster list starting at `start` the flagged representatives of their
   * keys. The index keeps two representatives per key (its first and latest holder), so without a
   * third a flagged campaign's system prompt or card can be held last by another account, and a
   * new account arriving with it would not see the campaign. Called once when a cluster first
   * reaches throttle, and for the smaller side when a flagged cluster absorbs another.
   */
  private markFlaggedKeys(start: number): void {
    let j = start;
    do {
      const base = j * KEY_SLOTS;
      for (let s = 0; s < this.nkeys[j]; s++) {
        const slot = this.linkKeys.slotOf(this.keys[base + s]);
        if (slot !== undefined) this.flagKey(slot, j, Math.floor(this.keys[base + s] / TWO32));
      }
      j = this.accounts.next[j];
    } while (j !== start);
  }

  /**
   * Make account j a flagged representative of the key in `slot` (of link type `type`). When that
   * gives a software key its first flagged holder or its second (ownSoftware needs two), the
   * accounts outside flagged clusters are linked again at their next request (flagEpoch): at most
   * twice a key. Only software: what a flagged campaign's new accounts bring is its tooling, and
   * every address a rotating pool's head joins with is a key flagged anew.
   */
  private flagKey(slot: number, j: number, type: number): void {
    const first = this.linkKeys.keyFlagged[slot] < 0;
    this.linkKeys.keyFlagged[slot] = j;
    if ((++this.linkKeys.keyFlaggedHolders[slot] === 2 || first) && LINK_TYPES[type].software) this.flagEpoch++;
  }

  /**
   * Try to link account i to existing clusters: for each cluster reachable through i's keys,
   * sum the evidence (best per link type, damped for popular values) and join it when the sum
   * reaches the link threshold. Declared links (same org) always join.
   */
  private link(i: number, tsS: number): void {
    this.linkEpoch[i] = this.flagEpoch;
    // Per candidate cluster: the best evidence of each type, then fleet system-prompt evidence.
    const candidates = new Map<number, Float64Array>();
    const unaccountable = this.unaccountable(i);
    this.linkThroughKeys(i, tsS, candidates, unaccountable, this.linkReps(i, unaccountable));
  }

  /**
   * `link`, with the evidence a pair of accounts accrued between them (shared addresses of a
   * rotating pool, synchronised activity) counted first. An entry of its own, not an optional
   * argument of `link`: its first use, well into a scan, would otherwise throw away `link`'s
   * compiled code (a branch it had not seen run) and have it compiled again.
   */
  private linkPair(i: number, tsS: number, extra: { other: number; type: number; weight: number }): void {
    this.linkEpoch[i] = this.flagEpoch;
    const candidates = new Map<number, Float64Array>();
    const unaccountable = this.unaccountable(i);
    const reps = this.linkReps(i, unaccountable);
    const r = this.accounts.find(extra.other);
    if (r === this.accounts.find(i)) return;
    const ev = new Float64Array(EVIDENCE_LENGTH);
    ev[extra.type] = extra.weight;
    // Addresses of one rotating pool are no population's; synchronised activity accrues between any two busy accounts.
    if (extra.type !== LT.activity_timing) { ev[UNCOMMON_SLOT] = extra.weight; ev[SCHEME_SLOT] = extra.weight; }
    candidates.set(r, ev);
    reps?.set(extra.other, r);
    this.linkThroughKeys(i, tsS, candidates, unaccountable, reps);
  }

  /**
   * Between two unaccountable accounts that each already behave like harvesters (account score at
   * the watch bar), everything they share counts (completeEvidence): the accounts each candidate
   * cluster was found through, or null when account i is not such an account.
   */
  private linkReps(i: number, unaccountable: boolean): Map<number, number> | null {
    return unaccountable && this.accScore[i] >= this.thresholds[1] ? new Map<number, number>() : null;
  }

  /** The body of `link` and `linkPair`: add the evidence of account i's keys to `candidates`, then join those that reach the threshold. */
  private linkThroughKeys(i: number, tsS: number, candidates: Map<number, Float64Array>, unaccountable: boolean, reps: Map<number, number> | null): void {
    const base = i * KEY_SLOTS;
    const n = this.nkeys[i];
    const fleetMin = this.config.fleet_min_holders;
    const fleetOn = fleetMin > 0;
    const throttleAt = this.thresholds[THROTTLE];
    // Fleet software links accounts that each harvest on their own (account score at throttle): a
    // cohort of new users of one application (a course's tool, a new open-source client, each user
    // with a key of their own) shares a prompt too, but most of them converse.
    const harvesting = unaccountable && this.accScore[i] >= throttleAt;
    const watchAt = this.thresholds[1];
    for (let s = 0; s < n; s++) {
      const key = this.keys[base + s];
      const type = Math.floor(key / TWO32);
      const slot = this.linkKeys.slotOf(key);
      if (slot === undefined) continue;
      const count = this.linkKeys.keyCount[slot];
      if (count < 2) continue;
      const w = keyWeight(type, this.keyPopularity(type, key, slot));
      if (w === 0) continue;
      const accountable = this.linkKeys.keyAccountable[slot];
      // Each test is worked out for every key (not only for a harvester's system prompt), so that
      // the compiled code has seen them run before the first fleet prompt comes.
      const systemPrompt = type === LT.system_prompt;
      const manyHolders = count - accountable >= fleetMin;
      const fewAccountable = accountable <= FLEET_MAX_ACCOUNTABLE_SHARE * count;
      const fleet = harvesting && systemPrompt && fleetOn && manyHolders && fewAccountable;
      const me = this.accounts.find(i);
      const flagged = this.linkKeys.keyFlagged[slot];
      // Representatives: first and latest holder, a flagged member, and for a fleet's prompt its
      // first unaccountable holder (the first holder may be an established account).
      for (let k = fleet ? 4 : flagged >= 0 ? 3 : 2; k-- > 0;) {
        const rep = k === 3 ? this.linkKeys.keyFleetRep[slot] : k === 2 ? flagged : k === 1 ? this.linkKeys.keyLast[slot] : this.linkKeys.keyFirst[slot];
        if (rep < 0 || rep === i) continue;
        const r = this.accounts.find(rep);
        if (r === me) continue;
        // A signup burst is what every account signed up in the same quarter-hour shares: evidence
        // only when one of the two accounts shows harvest behaviour of its own (an account score),
        // and only beside a key that is not population-common (UNCOMMON_SLOT, checked when the
        // evidence is summed). Counted beside any key, it made up the difference between a flagged
        // campaign's popular SDK, sampling parameters and ISP and the link threshold, and suspended
        // new users who had signed up in the campaign's quarter-hour; gated on both accounts'
        // scores at the watch bar instead, it let a fleet whose accounts each stay under that bar
        // link late or never, and still linked innocent developers who reach watch alone.
        if (type === LT.signup_burst && this.accScore[i] <= 0 && this.accScore[rep] <= 0) continue;
        let ev = candidates.get(r);
        if (!ev) { ev = new Float64Array(EVIDENCE_LENGTH); candidates.set(r, ev); }
        this.addEvidence(ev, type, slot, w);
        if (k === 2 && LINK_TYPES[type].software && w > ev[OWN + type] && this.linkKeys.ownSoftware(slot, this.accounts.size[r])) {
          ev[OWN + type] = w;
          if (type === LT.system_prompt && !this.linkKeys.populationCommon(slot, this.accounts.count - this.accounts.freeAccounts.length)) ev[ANCHOR_SLOT] = 1;
        }
        if (reps && !reps.has(rep)) reps.set(rep, r);
        if (fleet && this.accScore[rep] >= throttleAt && FLEET_WEIGHT * w > ev[FLEET_SLOT]) ev[FLEET_SLOT] = FLEET_WEIGHT * w;
      }
    }
    if (reps) for (const [rep, r] of reps) if (this.unaccountable(rep) && this.accScore[rep] >= watchAt) this.completeEvidence(i, rep, candidates.get(r)!);
    this.joinCandidates(i, tsS, candidates, unaccountable);
  }

  /** Join account i with each candidate cluster whose evidence reaches the link threshold (see `link`). */
  private joinCandidates(i: number, tsS: number, candidates: Map<number, Float64Array>, unaccountable: boolean): void {
    const threshold = this.config.link_threshold;
    for (const [r, ev] of candidates) {
      // Shared software (same agent framework, SDK, prompt template) is common among independent
      // customers: it can strengthen a link but never make one on its own, except for an
      // unaccountable account (a new head of the hydra), either with a cluster already throttled
      // or above (arriving with a flagged campaign's own software fingerprint is how its
      // replacement accounts show up) or through a system prompt only unaccountable accounts use.
      if (ev[UNCOMMON_SLOT] === 0) ev[LT.signup_burst] = 0;
      // An email pattern is a numbered scheme's only beside a second sign of one (SCHEME_SLOT, NEVER_SCHEME):
      // a common name with a number and the popular SDK's defaults are shared by chance.
      if (ev[SCHEME_SLOT] === 0 && ev[LT.signup_burst] === 0) ev[LT.email_pattern] = 0;
      let sum = 0; let soft = 0; let own = 0;
      const orgLink = ev[LT.org] > 0;
      for (let t = 0; t < NLINK; t++) { if (LINK_TYPES[t].software) { soft += ev[t]; own += ev[OWN + t]; } else if (t !== LT.org) sum += ev[t]; }
      // With a fleet's own system prompt the software evidence counts in full, the prompt double.
      const fleetSoft = ev[FLEET_SLOT] > 0 ? soft - ev[LT.system_prompt] + ev[FLEET_SLOT] : 0;
      const cluster = this.clusters.get(r);
      // Not a cluster the place rule holds (placeHeld): a lab's or a class's cluster flagged at
      // verify by its volume alone is many people in one place, and the application they all run
      // (its system prompt, the lab's evaluation template) would bring in every other user of it.
      const flaggedCluster = unaccountable && (cluster?.verdict.level ?? 0) >= THROTTLE && !cluster!.placeHeld && this.linkedBeyondSoftware(cluster!);
      // An accountable account on either side and no signup fact shared: what is left (network,
      // a signup burst) counts with the software, under its cap (SIGNUP_FACTS).
      const networkOnly = sum > 0 && !orgLink && !SIGNUP_FACTS.some((t) => ev[t] > 0) && (this.established(i) || (cluster ? cluster.established > 0 : this.established(r)));
      const withNetwork = soft + sum;
      const capped = Math.min(networkOnly ? withNetwork : soft, SOFTWARE_EVIDENCE_CAP * threshold);
      if (networkOnly) sum = 0;
      // Accountability can change after a key was registered (an org gains its second member), so
      // the other side must be unaccountable still.
      const byFleet = fleetSoft > 0 && !flaggedCluster && !orgLink && sum + capped < threshold && sum + fleetSoft >= threshold && this.clusterUnaccountable(r);
      // A replacement head arrives with the campaign's own software (keys held by enough of its
      // members, OWN_SOFTWARE_MIN_SHARE), not with software one member shares with many customers, nor with synchronised activity, which accumulates between any
      // two busy accounts: those stay capped.
      // Anchored by the campaign's own system prompt (ANCHOR_SLOT), the rest of its software
      // counts in full; synchronised timing stays capped with the software it was counted in.
      const anchored = flaggedCluster && ev[ANCHOR_SLOT] > 0 ? soft - ev[LT.activity_timing] : 0;
      const heads = flaggedCluster ? Math.max(own, capped, fleetSoft, anchored) : 0;
      const software = flaggedCluster ? heads : byFleet ? fleetSoft : capped;
      sum += software;
      if (orgLink || sum >= threshold) {
        const a = this.accounts.find(i);
        const b = this.accounts.find(r);
        // A corroborated org is a declared relationship (no coordination evidence); an
        // uncorroborated one still links, and the rest of what the accounts share is evidence.
        const declaredOrg = orgLink ? this.declaredOrg(i) : -1;
        const declared = declaredOrg >= 0 && this.orgCorroborated(declaredOrg);
        if (a !== b) {
          // Named by the rule the link needed: a replacement head only when capped software fell short.
          const rule = orgLink ? 'declared_org' : byFleet ? 'fleet_software' : flaggedCluster && sum - heads + capped < threshold ? 'replacement_head' : 'shared_evidence';
          this.recordJoin(i, a, b, ev, rule, software, sum, tsS);
          if (!declared && fleetEvidence(ev, rule)) this.markFleetLinked(i, b, ev);
          this.union(a, b, ev, sum, declared, tsS, byFleet);
        }
      }
    }
  }

  /**
   * Mark the accounts a link by fleet evidence joins (account i and, on the other side at root b,
   * the single account or the holders of the fleet keys it was found through) as their own actors:
   * a campus domain does not make them one with their class.
   */
  private markFleetLinked(i: number, b: number, ev: Float64Array): void {
    this.setFleetLinked(i);
    if (!this.clusters.has(b)) { this.setFleetLinked(b); return; }
    for (const type of FLEET_KEY_TYPES) {
      if (ev[type] <= 0) continue;
      const key = this.keyOfType(i, type);
      const slot = key >= 0 ? this.linkKeys.slotOf(key) : undefined;
      if (slot === undefined) continue;
      for (const rep of [this.linkKeys.keyFirst[slot], this.linkKeys.keyLast[slot], this.linkKeys.keyFleetRep[slot], this.linkKeys.keyFlagged[slot]]) {
        if (rep >= 0 && rep !== i && this.accounts.find(rep) === b) this.setFleetLinked(rep);
      }
    }
  }

  /** Take a campus account out of its class: it counts as its own actor from now on. */
  private setFleetLinked(j: number): void {
    if ((this.accounts.flags[j] & F_CAMPUS) === 0 || (this.accounts.flags[j] & F_FLEET_LINKED) !== 0) return;
    this.accounts.flags[j] |= F_FLEET_LINKED;
    const root = this.accounts.find(j);
    const c = this.clusters.get(root);
    if (!c) return;
    const domain = this.keyOfType(j, LT.email_domain);
    const k = c.campus.get(domain);
    if (k === undefined) return;
    if (k > 1) c.campus.set(domain, k - 1); else c.campus.delete(domain);
    c.campusMembers--;
    this.dirtyClusters.add(root);
  }

  /**
   * Keep the link between account i's side (root a) and the side at root b for the side(s) that
   * join: a single account joining a cluster is told the cluster; two single accounts are each told
   * the other; a cluster member that pulls a single account in keeps its own record. When two
   * clusters merge, account i, whose link merged them, is told the other cluster.
   */
  private recordJoin(i: number, a: number, b: number, ev: Float64Array, rule: AccountLink['rule'], software: number, total: number, tsS: number): void {
    const ca = this.clusters.get(a);
    const cb = this.clusters.get(b);
    if (!ca || cb) this.links.write(i, cb ? cb.id : this.accounts.ids[b], ev, rule, software, total, tsS);
    if (!cb) this.links.write(b, ca ? ca.id : this.accounts.ids[i], ev, rule, software, total, tsS);
  }



  /**
   * Whether account i, unaccountable, sends a prompt template at least two members of flagged
   * clusters hold (the campaign's own, as ownSoftware reads it). Other accounts register a template
   * at its third use: three students asking the same popular question share a "template".
   */
  private flaggedTemplate(i: number, template: number): boolean {
    if (!this.unaccountable(i)) return false;
    const slot = this.linkKeys.slotOf(LT.prompt_template * TWO32 + (template >>> 0));
    return slot !== undefined && this.linkKeys.keyFlaggedHolders[slot] >= 2;
  }

  /** An unaccountable account outside any flagged cluster: one a campaign flagged since its last linking may take in (flagEpoch). */
  private relinkAfterFlag(i: number): boolean {
    if (!this.unaccountable(i)) { this.linkEpoch[i] = this.flagEpoch; return false; }
    const c = this.clusters.get(this.accounts.find(i));
    return !c || c.verdict.level < THROTTLE;
  }

  /** Whether a cluster was linked by more than software and signup bursts (BEYOND_SOFTWARE), or by a fleet's own system prompt. */
  private linkedBeyondSoftware(c: ClusterState): boolean {
    if (c.fleetJoins > 0) return true;
    for (const t of BEYOND_SOFTWARE) if (c.evidence[t] > 0) return true;
    return false;
  }


  /**
   * Add to `ev` every key accounts i and j both hold. A cluster is found through the holders the
   * key index keeps (first, latest, flagged), so without this the evidence between two accounts
   * would be only the keys on which the other happens to be one of those: two accounts of a fleet
   * found through their shared e-mail domain would not see the agent software they also share,
   * since a software key held by many is represented by its first and latest holders only.
   * Only between unaccountable accounts that each score at the watch bar on their own: a new
   * course's students share their university's domain and the course's tool with its new
   * researchers, and counted in full that linked whole classes to a lab's evaluation runs.
   */
  private completeEvidence(i: number, j: number, ev: Float64Array): void {
    const bi = i * KEY_SLOTS; const ni = this.nkeys[i];
    const bj = j * KEY_SLOTS; const nj = this.nkeys[j];
    for (let s = 0; s < ni; s++) {
      const key = this.keys[bi + s];
      let shared = false;
      for (let t = 0; t < nj; t++) if (this.keys[bj + t] === key) { shared = true; break; }
      if (!shared) continue;
      const type = Math.floor(key / TWO32);
      const slot = this.linkKeys.slotOf(key);
      if (slot === undefined) continue;
      this.addEvidence(ev, type, slot, keyWeight(type, this.keyPopularity(type, key, slot)));
    }
  }

  /** Record a shared key's weight in a candidate's evidence (the best per type), noting a key that is not population-common (UNCOMMON_SLOT) or that no accountable customer holds (SCHEME_SLOT). */
  private addEvidence(ev: Float64Array, type: number, slot: number, w: number): void {
    if (w > ev[type]) ev[type] = w;
    if (!NEVER_DISTINCTIVE[type] && w > ev[UNCOMMON_SLOT] && !this.linkKeys.populationCommon(slot, this.accounts.count - this.accounts.freeAccounts.length)) ev[UNCOMMON_SLOT] = w;
    if (!NEVER_SCHEME[type] && w > ev[SCHEME_SLOT] && this.linkKeys.keyAccountable[slot] === 0) ev[SCHEME_SLOT] = w;
  }


  /** Make account i the fleet representative of its system prompts whose representative does not harvest. */
  private representFleet(i: number, throttleAt: number): void {
    const base = i * KEY_SLOTS;
    for (let s = 0; s < this.nkeys[i]; s++) {
      const key = this.keys[base + s];
      if (Math.floor(key / TWO32) !== LT.system_prompt) continue;
      const slot = this.linkKeys.slotOf(key);
      if (slot === undefined) continue;
      const r = this.linkKeys.keyFleetRep[slot];
      if (r < 0 || this.accScore[r] < throttleAt) this.linkKeys.keyFleetRep[slot] = i;
    }
  }

  /** Every member of the cluster (or the singleton account) is unaccountable. */
  private clusterUnaccountable(root: number): boolean {
    const c = this.clusters.get(root);
    return c ? this.allUnaccountable(c) : this.unaccountable(root);
  }

  /** No member verified, every member fresh, no corroborated org of several members among them. */
  private allUnaccountable(c: ClusterState): boolean {
    if (c.verified > 0 || c.fresh < c.members) return false;
    for (const o of c.orgs.keys()) if (this.orgMembers[o] >= 2 && this.orgCorroborated(o)) return false;
    return true;
  }

  /**
   * An accountable account whose facts came with its events (F_KNOWN): a customer with a track
   * record, a verified identity or a corroborated org. An account seen without facts is neither.
   */
  private established(i: number): boolean {
    return (this.accounts.flags[i] & F_KNOWN) !== 0 && !this.unaccountable(i);
  }

  /**
   * A fresh account with no verified identity and no org of several members behind it: what a
   * campaign signs up, and what it signs up again to replace the accounts it loses.
   */
  private unaccountable(i: number): boolean {
    const org = this.accounts.org[i];
    const f = this.accounts.flags[i];
    return (f & (F_VERIFIED | F_FRESH)) === F_FRESH
      && (org < 0 || (f & F_MOVED_FLAGGED) !== 0 || this.orgMembers[org] < 2 || !this.orgCorroborated(org));
  }

  /**
   * Shared addresses: remember the last two accounts seen on each client address; when another
   * account used it within a day, count the address as shared by the pair. Rotating proxy pools
   * make the accounts of one operator share many distinct addresses; unrelated customers rarely
   * share more than one (a NAT, a campus), and those are declared or linked by other evidence.
   */
  private observeAddress(i: number, ipHash: number, subnetHash: number, tsS: number): void {
    const bit = seenBit(i);
    const subnetKey = subnetHash | 0;
    const seenIn = this.subnetSeen.get(subnetKey);
    if (seenIn === undefined && this.subnetSeen.size >= MAX_ADDRESSES) this.evictOldest(this.subnetSeen, MAX_ADDRESSES >> 3);
    if (seenIn === undefined || (seenIn & bit) === 0) this.subnetSeen.set(subnetKey, (seenIn ?? 0) | bit);
    const ipKey = ipHash | 0;
    let u = this.addresses.get(ipKey);
    if (!u) {
      if (this.addresses.size >= MAX_ADDRESSES) this.evictOldest(this.addresses, MAX_ADDRESSES >> 3);
      this.addresses.set(ipKey, { a: i, ta: tsS, b: -1, tb: 0, seen: bit });
      return;
    }
    u.seen |= bit;
    if (u.a !== i) {
      if (tsS - u.ta <= ADDRESS_WINDOW_S) this.sharedAddress(i, u.a, ipHash, u.seen, tsS);
      if (u.b >= 0 && u.b !== i && tsS - u.tb <= ADDRESS_WINDOW_S) this.sharedAddress(i, u.b, ipHash, u.seen, tsS);
      u.b = u.a; u.tb = u.ta; u.a = i;
    }
    u.ta = tsS;
  }

  /**
   * Accounts that hold a key, for its weight (keyWeight): its holders, and for a client address or
   * prefix every account seen on it, when more. Accounts keep only their first addresses as keys
   * (KEYS_PER_TYPE), so a carrier's shared address that thousands pass through would otherwise
   * count the few that happened to keep it, and weigh as a household's.
   */
  private keyPopularity(type: number, key: number, slot: number): number {
    const count = this.linkKeys.keyCount[slot];
    if (type !== LT.client_ip && type !== LT.client_subnet) return count;
    const hash = (key - type * TWO32) | 0;
    const seen = type === LT.client_ip ? this.addresses.get(hash)?.seen : this.subnetSeen.get(hash);
    return seen === undefined ? count : Math.max(count, seenAccounts(seen));
  }

  private evictOldest<K, V>(m: Map<K, V>, n: number): void {
    let k = 0;
    for (const key of m.keys()) { if (k++ >= n) break; m.delete(key); }
  }

  private pair(i: number, j: number): PairEvidence {
    const key = i < j ? i * PAIR_SPAN + j : j * PAIR_SPAN + i;
    let p = this.pairs.get(key);
    if (!p) {
      if (this.pairs.size >= MAX_PAIRS) this.evictOldest(this.pairs, MAX_PAIRS >> 3);
      p = { ips: [], weight: 0, sync: 0 };
      this.pairs.set(key, p);
    }
    return p;
  }

  /**
   * Account i used an address account j used within a day. Each distinct address the pair shares
   * adds ADDRESS_EVIDENCE_PER_IP, less in proportion for an address busier than ADDRESS_BUSY
   * (`seen`: its sketch of accounts): any two customers of a carrier whose addresses are shared
   * (CGNAT) come to share several of them, the way a proxy pool's accounts do.
   */
  private sharedAddress(i: number, j: number, ipHash: number, seen: number, tsS: number): void {
    if (this.accounts.find(i) === this.accounts.find(j)) return;
    const p = this.pair(i, j);
    if (p.ips.includes(ipHash)) return;
    if (p.weight >= this.config.link_threshold || p.ips.length >= MAX_SHARED_ADDRESSES) return;
    p.ips.push(ipHash);
    p.weight += ADDRESS_EVIDENCE_PER_IP * Math.min(1, ADDRESS_BUSY / seenAccounts(seen));
    // One shared address is a NAT or a coincidence; from two on it is evidence, combined with the rest.
    if (p.ips.length >= 2) this.linkPair(i, tsS, { other: j, type: LT.client_addresses, weight: Math.min(p.weight, this.config.link_threshold) });
  }

  /**
   * Synchrony: each account's active 30 s buckets in the current 6 h epoch are summarised by a
   * MinHash signature (16 minima); at the end of the epoch, accounts whose signatures collide in
   * an LSH band and whose estimated Jaccard similarity is both high and far above what two
   * independent accounts with the same activity would show are linked (fleets behind one
   * scheduler fire together; people do not). Memory: 16 integers per account.
   */
  private observeTiming(i: number, tsS: number): void {
    const epoch = Math.floor(tsS / SYNC_EPOCH_S);
    if (epoch !== this.syncEpoch) this.closeSyncEpoch(epoch);
    const bucket = Math.floor(tsS / SYNC_BUCKET_S);
    if (this.syncBucket[i] === bucket + 1) return;
    const base = i * SYNC_HASHES;
    if (this.syncBucket[i] <= epoch * (SYNC_EPOCH_S / SYNC_BUCKET_S)) {
      // First activity of this account in the epoch.
      this.syncSig.fill(0xffffffff, base, base + SYNC_HASHES);
      this.syncCount[i] = 0;
      this.syncActive.push(i);
    }
    this.syncBucket[i] = bucket + 1;
    if (this.syncCount[i] < 65535) this.syncCount[i]++;
    for (let k = 0; k < SYNC_HASHES; k++) {
      const h = mix(bucket >>> 0, 0x9e3779b9 + k * 0x632be5ab);
      if (h < this.syncSig[base + k]) this.syncSig[base + k] = h;
    }
  }

  private closeSyncEpoch(next: number): void {
    const active = this.syncActive;
    this.syncActive = [];
    const prevEpoch = this.syncEpoch;
    this.syncEpoch = next;
    if (prevEpoch < 0 || active.length < 2) return;
    const buckets = SYNC_EPOCH_S / SYNC_BUCKET_S;
    const rows = SYNC_HASHES / SYNC_BANDS;
    const tsS = next * SYNC_EPOCH_S;
    const bands = new Map<number, number>();
    for (const i of active) {
      const n = this.syncCount[i];
      if (n < SYNC_MIN_BUCKETS || n > SYNC_MAX_OCCUPANCY * buckets) continue;
      const base = i * SYNC_HASHES;
      for (let b = 0; b < SYNC_BANDS; b++) {
        let h = b + 1;
        for (let r = 0; r < rows; r++) h = mix(h, this.syncSig[base + b * rows + r]);
        const j = bands.get(h);
        if (j === undefined) { bands.set(h, i); continue; }
        if (this.accounts.find(i) === this.accounts.find(j)) continue;
        let same = 0;
        const bj = j * SYNC_HASHES;
        for (let k = 0; k < SYNC_HASHES; k++) if (this.syncSig[base + k] === this.syncSig[bj + k]) same++;
        const jaccard = same / SYNC_HASHES;
        const pi = n / buckets; const pj = this.syncCount[j] / buckets;
        const chance = (pi * pj) / (pi + pj - pi * pj);
        if (jaccard < SYNC_MIN_JACCARD || jaccard < SYNC_MIN_LIFT * chance) continue;
        const p = this.pair(i, j);
        p.sync = Math.max(p.sync, jaccard);
        this.linkPair(i, tsS, { other: j, type: LT.activity_timing, weight: LINK_TYPES[LT.activity_timing].weight * Math.min(1, jaccard / 0.6) });
      }
    }
  }

  private clusterOf(root: number): ClusterState {
    let c = this.clusters.get(root);
    if (c) return c;
    // Promote a singleton to a cluster state.
    const off = root * STRIDE;
    const w = new Float64Array(STRIDE);
    for (let k = 0; k < STRIDE; k++) w[k] = this.accounts.w[off + k];
    const orgs = new Map<number, number>();
    const org = this.accounts.org[root];
    const apart = org >= 0 && (this.accounts.flags[root] & F_MOVED_FLAGGED) !== 0 ? 1 : 0;
    if (org >= 0 && !apart) orgs.set(org, 1);
    const campus = new Map<number, number>();
    const campusKey = (this.accounts.flags[root] & (F_CAMPUS | F_FLEET_LINKED)) === F_CAMPUS ? this.keyOfType(root, LT.email_domain) : -1;
    if (campusKey >= 0) campus.set(campusKey, 1);
    c = {
      id: shortId('clu_', this.accounts.ids[root]), founder: this.accounts.ids[root], w, members: 1, orgs, noOrg: org < 0 ? 1 : 0, apart, campus, campusMembers: campus.size,
      verified: this.accounts.flags[root] & 1, disposable: (this.accounts.flags[root] >> 1) & 1, fresh: (this.accounts.flags[root] >> 3) & 1,
      established: this.established(root) ? 1 : 0,
      evidence: new Float64Array(NLINK), joins: 0, joinEvidence: 0, fleetJoins: 0, explainedMembers: 0, hour: -1, hourMembers: 0, syncMax: 0,
      campaignId: null, placeHeld: false, firstTs: w[C.FIRST_TS], timeline: new Map(), requests: w[C.TOTAL], outTokens: w[C.OUT_TOTAL],
      verdict: { level: 0, score: 0, since: 0, belowSince: 0, verdict: null, explainedAt: 0, explainedScore: 0 },
    };
    this.clusters.set(root, c);
    this.clusterById.set(c.id, root);
    return c;
  }

  /** Whether a merge of `cb` into `ca` keeps `cb`'s name: see union. */
  private mergeKeepsSecondName(ca: ClusterState, cb: ClusterState): boolean {
    const va = this.operator.live.get(ca.id); const vb = this.operator.live.get(cb.id);
    if (!!va !== !!vb) return !!vb;
    // Both carry one: the stricter keeps its name (and so applies by it); the other is kept too.
    if (va && vb && va.level !== vb.level) return verdictRank(vb.level) > verdictRank(va.level);
    const campaignA = ca.campaignId !== null; const campaignB = cb.campaignId !== null;
    if (campaignA !== campaignB) return campaignB;
    return cb.founder < ca.founder;
  }

  private union(a: number, b: number, ev: Float64Array, sum: number, declared: boolean, tsS: number, byFleet = false): void {
    if (this.accounts.size[a] < this.accounts.size[b]) { const t = a; a = b; b = t; }
    const ca = this.clusterOf(a);
    const cb = this.clusterOf(b);
    // Which side's name (and campaign) the merged cluster keeps: an operator's cluster verdict is
    // looked up by the name, so the side that has one keeps it (else linking in one older account
    // would rename a suspended cluster and lift its suspension); else the side with a campaign (its
    // cases are recorded under its ids). Otherwise the side holding the smallest account id, not the
    // larger side: which side is larger depends on the order the links came in, so an engine rebuilt
    // from a later start of the events (a restart without a snapshot replays only
    // detect.replay_hours) would name the same members otherwise.
    // When both sides carry one, the stricter keeps the name and the other's id becomes an alias of
    // it: no operator decision stops matching (see OperatorVerdicts.rebuild), and the merge is emitted.
    const idA = ca.id; const idB = cb.id;
    const campA = ca.campaignId; const campB = cb.campaignId; const seenA = ca.members > 1 || !!campA; const seenB = cb.members > 1 || !!campB;
    const carried = this.operator.live.size ? [this.operator.live.get(idA), this.operator.live.get(idB)] : [];
    this.clusterById.delete(cb.id);
    if (this.mergeKeepsSecondName(ca, cb)) {
      this.clusterById.delete(ca.id);
      ca.id = cb.id;
      this.clusterById.set(ca.id, a);
      if (cb.campaignId) ca.campaignId = cb.campaignId;
    }
    if (carried.length) {
      const gone = ca.id === idA ? idB : idA;
      if (this.operator.live.has(gone)) { this.operator.alias.set(gone, ca.id); this.operator.rebuild(); }
    }
    if (cb.founder < ca.founder) ca.founder = cb.founder;
    this.decayVec(ca.w, tsS); this.decayVec(cb.w, tsS);
    for (let k = 0; k < C.DECAYED; k++) ca.w[k] += cb.w[k];
    ca.w[C.TOTAL] += cb.w[C.TOTAL]; ca.w[C.OUT_TOTAL] += cb.w[C.OUT_TOTAL];
    ca.w[C.GAP_N] += cb.w[C.GAP_N]; ca.w[C.GAP_SUM] += cb.w[C.GAP_SUM]; ca.w[C.GAP_SUMSQ] += cb.w[C.GAP_SUMSQ];
    ca.w[C.FIRST_TS] = Math.min(ca.w[C.FIRST_TS] || Infinity, cb.w[C.FIRST_TS] || Infinity);
    ca.w[C.LAST_TS] = Math.max(ca.w[C.LAST_TS], cb.w[C.LAST_TS]);
    ca.members += cb.members; ca.noOrg += cb.noOrg; ca.apart += cb.apart; ca.verified += cb.verified; ca.disposable += cb.disposable; ca.fresh += cb.fresh; ca.established += cb.established;
    for (const [o, k] of cb.orgs) ca.orgs.set(o, (ca.orgs.get(o) ?? 0) + k);
    for (const [d, k] of cb.campus) ca.campus.set(d, (ca.campus.get(d) ?? 0) + k);
    ca.campusMembers += cb.campusMembers;
    for (let t = 0; t < NLINK; t++) ca.evidence[t] += cb.evidence[t];
    ca.joins += cb.joins; ca.joinEvidence += cb.joinEvidence; ca.fleetJoins += cb.fleetJoins;
    if (!declared) {
      for (let t = 0; t < NLINK; t++) if (t !== LT.org) ca.evidence[t] += ev[t];
      ca.joins++; ca.joinEvidence += sum;
      if (byFleet) ca.fleetJoins++;
    }
    ca.firstTs = Math.min(ca.firstTs, cb.firstTs);
    ca.requests += cb.requests; ca.outTokens += cb.outTokens;
    for (const [h, k] of cb.timeline) ca.timeline.set(h, (ca.timeline.get(h) ?? 0) + k);
    if (!ca.campaignId && cb.campaignId) ca.campaignId = cb.campaignId;
    this.merges.remember(seenA ? idA : null, campA, ca.id, ca.campaignId);
    this.merges.remember(seenB ? idB : null, campB, ca.id, ca.campaignId);
    // The flagged side's keys are marked already; mark the other side's once they are one cluster.
    const flaggedA = ca.verdict.level >= THROTTLE; const flaggedB = cb.verdict.level >= THROTTLE;
    if (flaggedA && !flaggedB) this.markFlaggedKeys(b);
    else if (flaggedB && !flaggedA) this.markFlaggedKeys(a);
    if (cb.verdict.level > ca.verdict.level) ca.verdict = cb.verdict;
    this.accounts.parent[b] = a;
    this.accounts.size[a] += this.accounts.size[b];
    // splice circular member lists
    const na = this.accounts.next[a]; this.accounts.next[a] = this.accounts.next[b]; this.accounts.next[b] = na;
    this.clusters.delete(b);
    this.dirtyClusters.delete(b);
    this.dirtyClusters.add(a);
    if (carried[0] && carried[1]) this.emitOperatorMerge(ca.id, carried[0], carried[1], a);
    if (this.clusterMergeListeners.length && (seenA || seenB)) {
      const goneSide = ca.id === idA ? { id: idB, campaign: campB, seen: seenB } : { id: idA, campaign: campA, seen: seenA };
      if (goneSide.seen) {
        // The level in force on the merged cluster: an operator's cluster verdict counts, so a merge
        // into a cluster an operator suspended (the detector's own level still none) is recorded.
        const manual = this.operator.live.size ? this.operator.live.get(ca.id) : undefined;
        const level = manual && verdictRank(manual.level) > ca.verdict.level ? manual.level : VERDICT_LEVELS[ca.verdict.level];
        const m: ClusterMerge = {
          cluster: ca.id, campaign_id: ca.campaignId, merged: goneSide.id, merged_campaign_id: goneSide.campaign !== ca.campaignId ? goneSide.campaign : null,
          level, at: new Date(tsS * 1000).toISOString(), accounts: this.membersOf(a),
        };
        for (const l of this.clusterMergeListeners) { try { l(m); } catch { /* listeners must not break scoring */ } }
      }
    }
  }

  /** Hear merges that took away a cluster of two or more accounts or a campaign (see ClusterMerge). */
  onClusterMerge(listener: (m: ClusterMerge) => void): () => void {
    this.clusterMergeListeners.push(listener);
    return () => { this.clusterMergeListeners = this.clusterMergeListeners.filter((l) => l !== listener); };
  }

  /**
   * Two clusters that both carried an operator verdict merged: the stricter applies to every member
   * of the merged cluster and both are kept. Said as an operator verdict on the merged cluster (the
   * one in force, with a reason naming both: the ledger records it with the members) and to the
   * merge listeners (the overrides store keeps where the other went).
   */
  private emitOperatorMerge(into: string, va: Verdict, vb: Verdict, root: number): void {
    const inForce = this.operator.live.get(into)!;
    const other = inForce === va ? vb : va;
    // Levels only: notes and operators are personal data the ledger keeps as commitments (the
    // verdict in force carries its own; the change log keeps both).
    const say = (v: Verdict) => `${v.subject.id} (${v.level})`;
    const v: Verdict = {
      ...inForce, subject: { kind: 'cluster', id: into }, since: new Date(this.now * 1000 || Date.now()).toISOString(),
      reasons: [...inForce.reasons, {
        signal: 'operator_verdicts_merged', value: other.subject.id, threshold: null,
        detail: `clusters ${say(va)} and ${say(vb)} merged into ${into}: the stricter, ${inForce.level}, applies to every member; both verdicts are kept (the other applies if it is cleared or lapses)`,
      }],
    };
    this.emit(v);
    const m: OperatorMerge = { cluster: into, verdicts: [inForce, other], accounts: this.membersOf(root) };
    for (const l of this.mergeListeners) { try { l(m); } catch { /* listeners must not break scoring */ } }
  }

  /** Hear merges of clusters that both carried an operator verdict. */
  onOperatorMerge(listener: (m: OperatorMerge) => void): () => void {
    this.mergeListeners.push(listener);
    return () => { this.mergeListeners = this.mergeListeners.filter((l) => l !== listener); };
  }


  /**
   * The live cluster or campaign id a merged-away id now names (followed through later merges),
   * or null when `id` is live or unknown: alerts and cases name ids that later merge.
   */
  resolveMerged(id: string): string | null {
    return this.merges.resolve(id);
  }

  /**
   * Ids merged into cluster or campaign `id` (directly or through earlier merges): for a live id,
   * its whole history; for a merged-away one, the history it brought along. Read from the reverse
   * index, in time proportional to the history, not to every merge remembered.
   */
  mergedFrom(id: string): string[] {
    return this.merges.from(id);
  }



  /**
   * Put back where a stored operator cluster verdict's cluster merged (at start, after the snapshot
   * or the replay): it applies there. An engine rebuilt by a replay may have named the merged
   * cluster after the other side: then that side's id is the alias.
   */
  aliasCluster(id: string, into: string): void {
    if (id === into) return;
    if (!this.clusterById.has(id)) this.operator.alias.set(id, into);
    else if (!this.clusterById.has(into)) this.operator.alias.set(into, id);
    else return;
    this.operator.rebuild();
  }

  /**
   * Re-attach stored operator cluster verdicts whose cluster this engine does not hold (at start,
   * after aliasCluster). A restart rebuilt from events replays merges with no operator verdict in
   * force, so a merged cluster may be named after the side that carried none. A cluster id is
   * derived from the account that founded it, and merges never split a cluster: the verdict
   * follows the cluster that now holds that account. Returns how many were re-attached.
   */
  reattachClusterVerdicts(): number {
    const lost = new Map<string, string>(); // founder-derived id -> live id it names now
    for (const id of this.operator.cluster.keys()) {
      const at = this.operator.liveClusterId(id);
      if (!this.clusterById.has(at)) { lost.set(id, at); if (at !== id) lost.set(at, at); }
    }
    if (lost.size === 0) return 0;
    let n = 0;
    for (const [acct, i] of this.accounts.index) {
      const gone = lost.get(shortId('clu_', acct));
      if (gone === undefined) continue;
      const c = this.linkedCluster(i);
      const at = this.operator.liveClusterId(gone);
      if (c && c.id !== at && !this.clusterById.has(at)) { this.operator.alias.set(at, c.id); n++; }
    }
    if (n) this.operator.rebuild();
    return n;
  }

  /**
   * Operator cluster verdicts that reach no cluster this engine holds: after a restart without a
   * snapshot, those whose founding account has no event left in the replay. They stay stored and
   * apply again when that account's cluster forms again; start-up names them so an operator can
   * put lasting decisions on the member accounts instead.
   */
  dormantClusterVerdicts(): Verdict[] {
    const out: Verdict[] = [];
    for (const [id, v] of this.operator.cluster) {
      if (!this.clusterById.has(this.operator.liveClusterId(id))) out.push(v);
    }
    return out;
  }

  /**
   * Whether account `i`'s opening question of keys `k0`, `k1` was asked before by another member
   * of its cluster, or by another account of its email domain (a class's first lab asks its
   * problems before its links are made; free-mail registers no domain key) (shared-problems.ts);
   * a key held by no one, or by an account outside both, passes to `i`.
   */
  private sharedProblem(i: number, k0: number, k1: number): boolean {
    const root = this.accounts.find(i);
    let domain = -2;
    let shared = false;
    for (let b = 0; b < 2; b++) {
      const k = b === 0 ? k0 : k1;
      if (k === 0) continue;
      const o = this.problemOwners.ownerOf(k);
      if (o === i) continue;
      let same = o >= 0 && o < this.accounts.count && this.accounts.find(o) === root;
      if (!same && o >= 0 && o < this.accounts.count) {
        if (domain === -2) domain = this.keyOfType(i, LT.email_domain);
        same = domain >= 0 && this.keyOfType(o, LT.email_domain) === domain;
      }
      if (same) shared = true;
      else this.problemOwners.claim(k, i);
    }
    return shared;
  }

  // ---------------------------------------------------------------- ingest

  /**
   * Feed one interaction event. Events without an account (unauthenticated) are ignored. Runs a
   * scoring tick whenever event time crosses the next tick boundary.
   */
  ingest(ev: InteractionEvent): void {
    if (!ev.account_id) return;
    const tsMs = parseIsoMs(ev.ts);
    if (!Number.isFinite(tsMs)) return;
    const tsS = tsMs / 1000;
    if (tsS > this.now) this.now = tsS;
    if (this.nextTick === 0) this.nextTick = tsS + this.config.tick_seconds;
    else if (this.now >= this.nextTick) this.tick();
    this.events++;
    if (this.recent.span > 0) this.recent.remember(ev.id, tsS, this.now);

    const i = this.accountIndex(ev, tsS);
    const acct = ev.account;
    if (acct && (Math.max(0, TIERS.indexOf(acct.tier)) !== this.tier[i] || (acct.programme !== 'none' && !!acct.programme) !== ((this.accounts.flags[i] & F_PROGRAMME) !== 0))) this.retier(i, acct);
    const heldOrg = this.accounts.org[i];
    if ((ev.org_id ?? '') !== (heldOrg >= 0 ? this.orgNames[heldOrg] : '')) this.moveOrg(i, ev);
    if (this.trackFirst) this.recordServed(i, tsS);
    if (this.intel !== null && this.intel.active) this.matchIntel(i, ev, tsMs);
    // One request, or the prompts of a legacy completions array, each a request of its own.
    // The request's history is read against the answers served to the account before it; then
    // this answer is recorded for the requests after it.
    // The account id's hash, read by the served answers' filter and by the answer-owner table (once an event, not once each).
    const idKey = ServedAnswers.accountKey(ev.account_id);
    const servedKey = this.answersServed !== null ? idKey : 0;
    const each = extractPromptFeatures(ev, this.answersServed?.select(servedKey));
    const answerFp = parseAnswerFp(ev.response.answer_fp);
    if (this.answersServed !== null && answerFp !== 0) this.answersServed.add(servedKey, answerFp);
    const f = each[0];
    // A continued response is read with the chain the model read before it (chains.ts).
    if (ev.flavour === 'openai.responses') f.flags = this.chains.read(ev, f.flags);
    // The input counted is what the account had not sent before (a prompt array's prompts share the request's).
    if (each.length === 1) f.inputTokens = freshInput(this.freshSketch, i, ev, (f.flags & FLAG.singleShot) !== 0, f.toolsHash, this.answersServed ?? undefined);
    let prompts = 0;
    for (const p of each) prompts += p.weight;
    const off = i * STRIDE;
    const w = this.accounts.w;
    this.decay(off, tsS);

    // Inter-arrival gap (log10 seconds), only within a session-scale horizon. A request Warden ran
    // for a Message Batch has the batch runner's timing, not the client's: no gap, no synchrony.
    const batched = ev.client.batch_id != null;
    const last = w[off + C.LAST_TS];
    addArrival(w, off, tsS, last, batched);

    const payKey = payloadKey(ev);
    const resent = observePayload(this.payRing, this.payCount, i, payKey);
    this.observePastedAnswers(i, idKey, ev, answerFp, f.flags, f.outputTokens);
    this.observePairedItems(i, idKey, ev, f.flags);
    // Template reuse: a two-slot heavy hitter over the account's wrapper templates.
    let tplHit = 0;
    let tplRepeat = false;
    if (f.template !== 0) {
      const b = i * 2;
      if (this.tplHash[b] === f.template) { this.tplCount[b]++; tplHit = 1; tplRepeat = this.tplCount[b] === 3; }
      else if (this.tplHash[b + 1] === f.template) {
        this.tplCount[b + 1]++;
        if (this.tplCount[b + 1] > this.tplCount[b]) {
          const h = this.tplHash[b]; const c = this.tplCount[b];
          this.tplHash[b] = this.tplHash[b + 1]; this.tplCount[b] = this.tplCount[b + 1];
          this.tplHash[b + 1] = h; this.tplCount[b + 1] = c;
          tplHit = 1;
        }
        tplRepeat = this.tplCount[b] === 3 || this.tplCount[b + 1] === 3;
      } else if (this.tplCount[b + 1] <= 1) { this.tplHash[b + 1] = f.template; this.tplCount[b + 1] = 1; }
      else this.tplCount[b + 1]--;
    }

    // Model release reaction: traffic on a model first seen by anyone < 48 h ago, from an
    // account that was already using an older model.
    const model = this.modelOf(ev, tsS);
    let newModel = 0;
    const prev = this.lastModel[i];
    if (prev >= 0 && prev !== model.id && tsS - model.first < 48 * 3600) newModel = 1;
    // An untracked name (a refused request's, one past the bound) leaves the account's reference alone.
    if (model !== UNTRACKED_MODEL && (prev < 0 || prev !== model.id)) {
      // Keep the older model as the reference while the account tries the new one.
      if (prev < 0 || newModel === 0) this.lastModel[i] = model.id;
    }

    // Network hopping: another network than this account's previous request.
    const asn = ev.client.asn;
    const net = (asn !== null && asn !== undefined ? asn >>> 0 : ev.client.ip ? fnv1a(subnet16(ev.client.ip)) : 0) || 1;
    const netChange = this.lastNet[i] !== 0 && this.lastNet[i] !== net ? 1 : 0;
    this.lastNet[i] = net;

    const fl = f.flags;
    const hourBin = Math.floor(((tsS / 3600) % 24) / (24 / HOUR_BINS));
    if (fl & FLAG.logitProbe) observeProbe(this.logitProbes, i, f.biasMap, f.promptKey, w[off + C.PROBE]);
    const embedded = ev.response.embeddings;
    if (embedded) this.embeddingSpread.observe(i, model.id, embedded, tsS);
    // Whether the account was linked before this event reached its window: any link made from
    // here on (addresses, timing, keys) brings the event into the cluster with the window.
    const linkedBefore = this.accounts.parent[i] !== i || this.accounts.size[i] > 1;
    // The template and the network change are the request's, so each of its prompts has them: the
    // shares over requests (hopping, template reuse) read an array as its prompts sent one by one.
    // A conversation's turn that asks nothing new follows up the watched questions in its history
    // (a turn moving on to a new question or task, of whatever kind, does not); those left longer
    // than the wait settle as not followed up (harvest-yield.ts).
    if ((fl & (FLAG.singleShot | FLAG.newItemTurn | FLAG.newTurn)) === 0) observeFollowUp(this.harvestItems, this.harvestFollow, i, ev);
    settleUnfollowed(this.harvestItems, this.harvestFollow, i, tsS);
    // A tool trajectory's opening, and whether its task (the user's words alone: a harness's system
    // prompt may speak of code for every task) is coding or maths (harvest-cohort.ts: AGENTS).
    const opening = ev.request.tools.length > 0 ? openingTask(ev) : null;
    if (opening !== null) { this.agentOpenings[i * 2] += 1; if (userTaskFlags(opening) !== 0) this.agentOpenings[i * 2 + 1] += 1; }
    // A logit probe or a payload sent again for a token or two is no harvested answer: a request,
    // not a question nor working asked, in the windows and the harvest part (harvest-yield.ts).
    for (const p of each) {
      // An opening question another account asked first: a class's sheet (shared-problems.ts).
      if (p.problem !== 0 && this.sharedProblem(i, p.problem, p.problem2)) p.flags |= FLAG.sharedProblem;
      const answered = harvestableAnswer((p.flags & FLAG.logitProbe) !== 0, resent, p.outputTokens);
      addEvent(w, off, p, elicitOf(p.flags), capabilityOf(p.flags), newModel, tplHit, hourBin, netChange, p.weight, answered);
      if (!answered) continue;
      // A conversation's new question counts its own words as its input: its history is the camouflage.
      const asked = (p.flags & FLAG.newItemTurn) !== 0;
      if (asked || ((p.flags & FLAG.singleShot) !== 0 && (p.flags & (FLAG.code | FLAG.math)) !== 0)) {
        observeItem(this.harvestItems, i, elicitOf(p.flags) === 1, p.weight, asked ? turnTokens(ev) : p.inputTokens, p.outputTokens, asked, this.harvestFollow, payKey, tsS);
        // At a script's pace: within SLICE.machineGapS of the account's previous request (harvest-cohort.ts).
        if (elicitOf(p.flags) === 1 && last > 0 && tsS - last < SLICE.machineGapS) this.slicePace[i] += p.weight;
      }
    }

    // Behaviour keys: registered the first time they are seen (bounded slots per account).
    let newKeys = false;
    const ip = ev.client.ip;
    if (ip) {
      const ipHash = fnv1a(ip);
      const subnetHash = fnv1a(subnet(ip));
      this.observeAddress(i, ipHash, subnetHash, tsS);
      newKeys = this.addKey(i, LT.client_ip, ipHash) || newKeys;
      newKeys = this.addKey(i, LT.client_subnet, subnetHash) || newKeys;
    }
    if (ev.client.asn !== null && ev.client.asn !== undefined) newKeys = this.addKey(i, LT.client_asn, ev.client.asn >>> 0) || newKeys;
    if (ev.client.user_agent) newKeys = this.addKey(i, LT.user_agent, fnv1a(ev.client.user_agent)) || newKeys;
    if (f.systemHash) newKeys = this.addKey(i, LT.system_prompt, f.systemHash) || newKeys;
    if (f.toolsHash) newKeys = this.addKey(i, LT.tool_set, f.toolsHash) || newKeys;
    if (f.paramsHash) newKeys = this.addKey(i, LT.param_fingerprint, f.paramsHash) || newKeys;
    // The cohort's own settings on this request (an account registers its first two fingerprints only).
    if (f.paramsHash && this.cohortSettings.reading !== null && this.cohortSettings.keys.has(LT.param_fingerprint * TWO32 + f.paramsHash)) this.settingsSent.set(i, [ev.account_id, LT.param_fingerprint * TWO32 + f.paramsHash]);
    // A template is registered at its third use, or at its first when two members of flagged
    // clusters hold it already: a campaign's new account sends its wrapper from its first request.
    if (tplRepeat || (f.template !== 0 && this.flaggedTemplate(i, f.template))) newKeys = this.addKey(i, LT.prompt_template, f.template) || newKeys;

    if (!batched) this.observeTiming(i, tsS);
    // Link on new evidence, and again as the population grows (1st, 2nd, 4th, 8th ... event).
    const seen = ++this.seenEvents[i];
    if (newKeys || (seen & (seen - 1)) === 0 || (this.linkEpoch[i] !== this.flagEpoch && this.relinkAfterFlag(i))) this.link(i, tsS);

    const root = this.accounts.find(i);
    let unflagged = this.accLevel[i] === 0;
    if (root !== i || this.accounts.size[i] > 1) {
      const c = this.clusterOf(root);
      if (c.verdict.level > 0) unflagged = false;
      // An account linked since its window took this event brought the event into the cluster
      // with its window (clusterOf, union): only the timeline still lacks it.
      if (linkedBefore) {
        this.decayVec(c.w, tsS);
        for (const p of each) addEvent(c.w, 0, p, elicitOf(p.flags), capabilityOf(p.flags), newModel, tplHit, hourBin, netChange, p.weight, harvestableAnswer((p.flags & FLAG.logitProbe) !== 0, resent, p.outputTokens));
        addArrival(c.w, 0, tsS, last, batched);
        c.requests += prompts;
        c.outTokens += ev.response.output_tokens;
      }
      const hour = Math.floor(tsS / 3600);
      c.timeline.set(hour, (c.timeline.get(hour) ?? 0) + prompts);
      if (c.timeline.size > 24 * 45) { const oldest = c.timeline.keys().next().value as number; c.timeline.delete(oldest); }
      this.dirtyClusters.add(root);
    }
    // The topic-shift baseline: requests of accounts with no detector verdict (operator verdicts
    // aside, which are rare and do not describe the population).
    // One request weighs at most BASELINE_MAX_PROMPTS prompts there: a cheap array (`max_tokens: 1`)
    // of thousands of prompts must not move the population's mix every account is compared with.
    if (unflagged) {
      const tc = this.topicCounts;
      const scale = prompts > BASELINE_MAX_PROMPTS ? BASELINE_MAX_PROMPTS / prompts : 1;
      for (const p of each) {
        const pf = p.flags; const k = p.weight * scale;
        // Every column is added to (0 where the flag is off), not only those whose flag is on: a
        // rare flag's first request after the counts were decayed to fractions would otherwise
        // throw away `ingest`'s compiled code, made for whole numbers there.
        tc[0] += (pf & FLAG.cot) !== 0 ? k : 0;
        tc[1] += (pf & FLAG.rubric) !== 0 ? k : 0;
        tc[2] += (pf & FLAG.sensitiveRewrite) !== 0 ? k : 0;
        tc[3] += (pf & FLAG.tools) !== 0 ? k : 0;
        tc[4] += (pf & FLAG.code) !== 0 ? k : 0;
        tc[5] += (pf & FLAG.math) !== 0 ? k : 0;
        tc[6] += (pf & (FLAG.cot | FLAG.rubric | FLAG.sensitiveRewrite | FLAG.tools | FLAG.code | FLAG.math)) === 0 ? k : 0;
      }
    }
    this.dirtyAccounts.add(i);
  }

  private matchIntel(i: number, ev: InteractionEvent, tsMs: number): void {
    const m = this.intel!.match(ev, tsMs);
    if (!m) return;
    // Partners are told of a match only as evidence of their campaign: the account is held here.
    if (verdictRank(this.forAccount(this.accounts.ids[i]).level) >= verdictRank('throttle')) this.intel!.confirm(m.ids, this.accounts.ids[i], tsMs);
    const held = this.intelHits.get(i);
    if (!held) { this.intelHits.set(i, m.ids.slice(0, INTEL_IDS_PER_ACCOUNT)); return; }
    for (const id of m.ids) if (held.length < INTEL_IDS_PER_ACCOUNT && !held.includes(id)) held.push(id);
  }

  /** Match events against indicators shared by other providers from now on (null: stop). */
  setIntel(intel: SharedIndicators | null): void {
    this.intel = intel;
    this.intelGeneration = -1;
  }

  private recordServed(i: number, tsS: number): void {
    const lvl = this.levelIndex(i);
    const base = i * VERDICT_LEVELS.length;
    this.served[base + lvl]++;
    if (lvl === 0) return;
    for (let l = 1; l <= lvl; l++) if (this.firstFlag[base + l] === 0) this.firstFlag[base + l] = tsS;
  }


  /**
   * Remember ids of events this engine holds without having ingested them (those a snapshot it
   * was read from held), as of event time `tsS` (no earlier than theirs), so that the next
   * snapshot lists them too and a replay after it skips them.
   */
  rememberEventIds(ids: Iterable<string>, tsS: number): void {
    if (this.recent.span > 0) for (const id of ids) this.recent.remember(id, tsS, this.now);
  }

  /** Ids of the events ingested with an event time at or after `fromS` (within rememberEventIdsSeconds of the latest). */
  recentEventIds(fromS: number): string[] {
    return this.recent.since(fromS);
  }

  // ---------------------------------------------------------------- snapshots

  /**
   * The engine's state as plain data (typed arrays, maps, sets, arrays, plain objects) for a
   * snapshot (src/detect/snapshot.ts serialises it). Every field is in it, except what this
   * engine takes from its configuration, the operator overrides (they have their own store, and
   * one lifted after the snapshot must stay lifted), scratch space and listeners.
   */
  snapshotState(): Record<string, unknown> {
    return this.stateFields(true);
  }

  /** snapshotState; `dense` false leaves the fresh-input sketches as they are held (enough for their field's name: snapshotLayout). */
  private stateFields(dense: boolean): Record<string, unknown> {
    const state: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(this)) {
      if (NOT_IN_SNAPSHOTS.has(k)) continue;
      // A part kept in its own object is stored as its fields, in its place: the layout and bytes
      // of a snapshot stay those of the engine that held the fields itself.
      if (STORED_AS_FIELDS.has(k)) Object.assign(state, v instanceof LinkKeyIndex ? v.snapshotFields() : v);
      else if (k === 'addresses' || k === 'subnetSeen') state[k] = withKeys(v as Map<number, unknown>, (key) => key >>> 0);
      else if (k === 'freshSketch' && dense) state[k] = (v as FreshSketches).dense(this.accounts.cap);
      else state[k] = v;
    }
    return state;
  }

  /**
   * What a snapshot's state must match to be read back into this engine: its fields and, for
   * per-account columns, their entries per account; with a format number bumped whenever the
   * meaning of a stored field changes.
   */
  snapshotLayout(): string {
    const perAccount = new Map<unknown, number>();
    this.eachColumn((column, per) => { perAccount.set(column, per); return column; });
    // The report columns (trackFirstFlags) count as present either way: a scan's state can seed a
    // gateway's detector (restoreState drops them there) and a gateway's snapshot a scan.
    perAccount.set(this.firstFlag, VERDICT_LEVELS.length).set(this.served, VERDICT_LEVELS.length);
    perAccount.set(this.freshSketch, FRESH_SKETCH);
    const fields = Object.entries(this.stateFields(false)).map(([k, v]) => (perAccount.has(v) ? `${k}/${perAccount.get(v)}` : k));
    return `${SNAPSHOT_FORMAT};${fields.sort().join(',')}`;
  }

  /**
   * Whether a snapshot of `layout` can be read into this engine: one of its own layout; of format
   * 6, whose fresh-input sketch kept one lead-in and closing an account (read into the first of
   * its slots); or of format 5, which held the same fields but the fresh-input sketch
   * (`freshSketch`). Format 5's accounts start with an empty sketch: each one's next request
   * counts its input whole, as every request did then, and its windows' input counts decay as the
   * rest of the window does. Snapshots before format 7 have no harvest part (`harvestItems`): it
   * starts empty and fills again as the account asks (its window's half-life).
   */
  readsLayout(layout: string): boolean {
    const own = this.snapshotLayout();
    if (layout === own) return true;
    // Fields a snapshot may lack (written before them): the harvest part, the re-linking epochs, the harvest cohort, the org member lists.
    const fieldsOf = (l: string) => l.slice(l.indexOf(';') + 1).split(',').filter((f) => !f.startsWith('harvestItems/') && !f.startsWith('agentOpenings/') && !f.startsWith('slicePace/') && !f.startsWith('harvestFollow/') && !f.startsWith('linkEpoch/') && f !== 'flagEpoch' && f !== 'cohort'
      && !f.startsWith('orgNext/') && !f.startsWith('orgPrev/') && f !== 'orgHead'
      && !f.startsWith('pasteCount/') && !f.startsWith('pasteBits/') && f !== 'answerOwners'
      && !f.startsWith('pairCount/') && !f.startsWith('pairBits/') && f !== 'itemOwners' && f !== 'problemOwners');
    const fields = fieldsOf(own);
    const theirs = fieldsOf(layout).join(',');
    const format = layout.slice(0, layout.indexOf(';'));
    if (format === String(SNAPSHOT_FORMAT)) return theirs === fields.join(',');
    if (format === '6') return theirs === fields.map((f) => (f.startsWith('freshSketch/') ? `freshSketch/${FRESH_SKETCH_6}` : f)).sort().join(',');
    return format === '5' && theirs === fields.filter((f) => !f.startsWith('freshSketch/')).join(',');
  }

  /**
   * Take the state of `snapshotState()` from an engine of the same layout and configuration. The
   * allow-list and operator verdicts stay this engine's own (from its configuration, then the
   * overrides store), and each account's allow-listed mark is set again from them.
   */
  restoreState(state: Record<string, unknown>): void {
    const partOf = new Map<string, object>();
    for (const part of STORED_AS_FIELDS) {
      const held = this[part as 'accounts' | 'linkKeys' | 'links' | 'merges'];
      for (const k of Object.keys(held instanceof LinkKeyIndex ? held.snapshotFields() : held)) partOf.set(k, held);
    }
    let sketch: Uint32Array | null = null;
    for (const [k, v] of Object.entries(state)) {
      const part = partOf.get(k);
      if (part instanceof LinkKeyIndex) { part.restoreField(k, v); continue; }
      if (part) { (part as Record<string, unknown>)[k] = v; continue; }
      if (NOT_IN_SNAPSHOTS.has(k) || !(k in this)) continue;
      if (k === 'peers' || k === 'embeddingSpread' || k === 'chains') Object.assign(this[k], v);
      else if (k === 'answersServed') {
        // The record of served answers, when this engine keeps one of the same size (detect.served_answers_mib).
        const stored = v as { current?: Uint32Array } | null;
        if (stored && this.answersServed && stored.current?.length === this.answersServed.bytes / 8) Object.assign(this.answersServed, v);
      }
      else if (k === 'freshSketch') sketch = v as Uint32Array;
      else if (k === 'addresses' || k === 'subnetSeen') {
        const held = this[k] as Map<number, unknown>;
        held.clear();
        for (const [key, value] of v as Map<number, unknown>) held.set(key | 0, value);
      }
      else (this as unknown as Record<string, unknown>)[k] = v;
    }
    // A format 6 snapshot's sketch has one lead-in slot an account; a format 5 snapshot has none: an empty one for the accounts it holds.
    if (sketch !== null && sketch.length === this.accounts.cap * FRESH_SKETCH_6 && FRESH_SKETCH_6 !== FRESH_SKETCH) sketch = sketchFromFormat6(sketch, this.accounts.cap);
    this.freshSketch = FreshSketches.fromDense(sketch !== null && sketch.length === this.accounts.cap * FRESH_SKETCH ? sketch : null, this.accounts.cap);
    // A snapshot written before the harvest part: an empty one for the accounts it holds.
    if (this.harvestItems.length !== this.accounts.cap * ITEM_COLUMNS) this.harvestItems = new Float32Array(this.accounts.cap * ITEM_COLUMNS);
    // A snapshot written before the agent openings: none counted yet for the accounts it holds.
    if (this.agentOpenings.length !== this.accounts.cap * 2) this.agentOpenings = new Float32Array(this.accounts.cap * 2);
    // A snapshot written before the harvest slice's pace: none counted yet.
    if (this.slicePace.length !== this.accounts.cap) this.slicePace = new Float32Array(this.accounts.cap);
    if (this.harvestFollow.length !== this.accounts.cap * FOLLOW_RING * FOLLOW_SLOT) this.harvestFollow = new Uint32Array(this.accounts.cap * FOLLOW_RING * FOLLOW_SLOT);
    if (this.linkEpoch.length !== this.accounts.cap) this.linkEpoch = new Uint32Array(this.accounts.cap);
    // A snapshot written before answers pasted across accounts were read: empty counts, an empty table.
    if (this.pasteCount.length !== this.accounts.cap * PASTE_COLUMNS) this.pasteCount = new Float32Array(this.accounts.cap * PASTE_COLUMNS);
    if (this.pasteBits.length !== this.accounts.cap * PASTE_BITS) this.pasteBits = new Uint32Array(this.accounts.cap * PASTE_BITS);
    if (!(this.answerOwners instanceof AnswerOwners)) this.answerOwners = Object.assign(new AnswerOwners(), this.answerOwners);
    // A snapshot written before questions paired across accounts were read: empty counts, an empty table.
    if (this.pairCount.length !== this.accounts.cap * PAIR_COLUMNS) this.pairCount = new Float32Array(this.accounts.cap * PAIR_COLUMNS);
    if (this.pairBits.length !== this.accounts.cap * PAIR_BITS) this.pairBits = new Uint32Array(this.accounts.cap * PAIR_BITS);
    if (!(this.itemOwners instanceof ItemOwners)) this.itemOwners = Object.assign(new ItemOwners(), this.itemOwners);
    // A snapshot written before opening questions were keyed across accounts: an empty table.
    if (!(this.problemOwners instanceof ProblemOwners)) this.problemOwners = Object.assign(new ProblemOwners(), this.problemOwners);
    // Snapshots written before clusters kept their founder: find it among the members. The
    // cluster keeps the id it was stored with (the cases opened on it refer to that id).
    for (const [r, c] of this.clusters) if (typeof c.founder !== 'string') c.founder = this.membersOf(r).reduce((a, b) => (b < a ? b : a));
    this.rebuildOrgState();
    for (let i = 0; i < this.accounts.count; i++) {
      this.setAllowed(i);
    }
    // Report columns: a gateway's detector keeps none; a scan resumed from a gateway's snapshot
    // counts what it serves from here on.
    const width = VERDICT_LEVELS.length;
    if (!this.trackFirst) { this.firstFlag = new Float64Array(0); this.served = new Uint32Array(0); this.accounts.retired.clear(); }
    else if (this.served.length < this.accounts.cap * width) { this.firstFlag = new Float64Array(this.accounts.cap * width); this.served = new Uint32Array(this.accounts.cap * width); }
  }

  /**
   * After a snapshot is read: the org member lists, when the snapshot was written before them,
   * from each account's org; and each cluster's established members and members apart from their
   * org counted again from its members (a snapshot written before they were kept as orgs' standing
   * changes holds each member's standing when it joined, and none apart). One pass over the accounts.
   */
  private rebuildOrgState(): void {
    if (this.orgNext.length !== this.accounts.cap || this.orgPrev.length !== this.accounts.cap || this.orgHead.length !== this.orgNames.length) {
      this.orgNext = new Int32Array(this.accounts.cap); this.orgPrev = new Int32Array(this.accounts.cap);
      this.orgHead = this.orgNames.map(() => 0);
      for (let i = this.accounts.count - 1; i >= 0; i--) {
        const o = this.accounts.org[i];
        if (o < 0 || this.accounts.ids[i] === '') continue;
        const head = this.orgHead[o];
        this.orgNext[i] = head;
        if (head > 0) this.orgPrev[head - 1] = i + 1;
        this.orgHead[o] = i + 1;
      }
    }
    for (const [r, c] of this.clusters) {
      let established = 0; let apart = 0;
      for (const j of this.memberIndexes(r)) {
        if (this.established(j)) established++;
        if (this.accounts.org[j] >= 0 && (this.accounts.flags[j] & F_MOVED_FLAGGED) !== 0) apart++;
      }
      c.established = established;
      c.apart = apart;
    }
  }

  // ---------------------------------------------------------------- scoring

  /** Score changed accounts and clusters now (also runs automatically as event time advances). */
  flush(): void { this.tick(); }

  /** Advance event time without an event (e.g. an idle gateway), running a tick when due. */
  advance(tsMs: number): void {
    const s = tsMs / 1000;
    if (s > this.now) this.now = s;
    if (this.nextTick > 0 && this.now >= this.nextTick) this.tick();
  }

  private tick(): void {
    this.ticks++;
    const step = this.config.tick_seconds;
    if (this.nextTick === 0) this.nextTick = this.now + step;
    // The next tick after now, in one step: a loop of `+= step` ran 10^8-10^10 times (seconds of a
    // blocked event loop) when a flush before the first event had set the first tick at time 0.
    if (this.nextTick <= this.now) this.nextTick += (Math.floor((this.now - this.nextTick) / step) + 1) * step;
    while (this.nextTick <= this.now) this.nextTick += step;
    const now = this.now;
    this.updateTopicMix(now);
    // Indicators added or removed since the last tick: re-score the accounts that matched any.
    if (this.intel !== null && this.intel.generation !== this.intelGeneration) {
      this.intelGeneration = this.intel.generation;
      for (const i of this.intelHits.keys()) this.dirtyAccounts.add(i);
    }
    if ((this.config.cohort_min_accounts > 0 || this.config.cohort_min_established > 0) && now >= this.cohort.nextAt) this.readCohort(now);
    if (this.config.fleet_min_holders > 0) {
      // An account that now harvests on its own may link through its fleet's system prompt, and
      // represents the prompt from now on if its representative does not harvest.
      const throttleAt = this.thresholds[THROTTLE];
      const crossed: number[] = [];
      for (const i of this.dirtyAccounts) {
        const before = this.accScore[i];
        this.scoreAccount(i, now);
        if (before < throttleAt && this.accScore[i] >= throttleAt && this.unaccountable(i)) crossed.push(i);
      }
      for (const i of crossed) { this.representFleet(i, throttleAt); this.link(i, now); }
    } else {
      for (const i of this.dirtyAccounts) this.scoreAccount(i, now);
    }
    this.dirtyAccounts.clear();
    for (const r of this.dirtyClusters) {
      const c = this.clusters.get(r);
      if (c) this.scoreCluster(r, c, now);
    }
    this.dirtyClusters.clear();
    if (this.config.evict_idle_hours > 0 && now >= this.nextSweep) {
      this.nextSweep = now + SWEEP_EVERY_S;
      this.sweep(now - this.config.evict_idle_hours * 3600);
    }
  }

  /**
   * Read the new accounts' harvest shapes (harvest-cohort.ts) and mark the cohort's members, and
   * the accounts that left it, for scoring in this tick. One pass over the accounts, every
   * COHORT.everyS of event time.
   */
  private readCohort(now: number): void {
    const w = this.accounts.w;
    const flags = this.accounts.flags;
    const newSince = now - COHORT.windowDays * 86_400;
    const activeSince = now - COHORT.activeDays * 86_400;
    const shaped: Array<{ i: number; promptTokens: number; ratio: number; first: number }> = [];
    const joining: typeof shaped = [];
    let read = 0, readJoining = 0;
    const candidates = this.cohort.candidates;
    // The first reading (a new engine, or one restored from a snapshot) looks at every account;
    // later ones at the candidates scoring has noted since (cohortCandidate), dropping those that
    // are no longer new, fresh or active.
    const first = this.cohort.nextAt === 0;
    this.cohort.nextAt = now + COHORT.everyS;
    if (first) for (let i = 0; i < this.accounts.count; i++) this.cohortCandidate(i);
    const settingsOn = this.config.cohort_settings_heads;
    const readSettings = new Map<number, number>();
    for (const i of candidates) {
      const f = flags[i];
      const off = i * STRIDE;
      // Known facts, fresh, not allow-listed, no programme, no vouched campus domain.
      if ((f & (F_KNOWN | F_FRESH | F_PROGRAMME | F_CAMPUS | 4)) !== (F_KNOWN | F_FRESH) || this.accounts.ids[i] === ''
        || w[off + C.FIRST_TS] < newSince || w[off + C.LAST_TS] < activeSince) { candidates.delete(i); continue; }
      if (!this.unaccountable(i)) continue;
      if (settingsOn) this.countSettings(i, readSettings);
      // Accounts of COHORT.minRequests or more form the cohort and count in its threshold; those
      // of COHORT.joinRequests or more with the shape may join one that stands, or form one at
      // COHORT.earlyFactor times the threshold.
      const forming = w[off + C.TOTAL] >= COHORT.minRequests;
      if (forming) read++; else readJoining++;
      const shape = harvestShape(w, off, COHORT.joinRequests);
      // Read from fewer requests: only with the breadth of a harvest's mixed items (COHORT.joinKinds).
      if (shape && (forming || taskKinds(w, off) >= COHORT.joinKinds)) (forming ? shaped : joining).push({ i, ...shape, first: w[off + C.FIRST_TS] });
    }
    const found = findCohort(shaped, read, this.config.cohort_min_accounts, joining, readJoining);
    this.readCohortSettings(found, readSettings);
    const before = this.cohort.members;
    const after = new Map<number, CohortReading>();
    if (found) for (const i of found.members) after.set(i, found.reading);
    // Heads taken in by the cohort's own settings stay while it stands and they keep the shape, active and new.
    if (found && this.cohortSettings.reading !== null) {
      for (const [i, c] of before) {
        if (!c.settings || after.has(i)) continue;
        const off = i * STRIDE;
        if (this.accounts.ids[i] !== '' && w[off + C.LAST_TS] >= activeSince && w[off + C.FIRST_TS] >= newSince && (flags[i] & (F_FRESH | 4)) === F_FRESH
          && this.unaccountable(i) && harvestShape(w, off, 1)) after.set(i, { ...found.reading, settings: c.settings });
      }
    }
    const established = this.config.cohort_min_established > 0 ? this.readEstablishedCohort(activeSince) : null;
    if (established?.agents) for (const i of established.agents.members) after.set(i, established.agents.reading);
    // The harvest-slice cohort before the whole-window one: an account in both is held by its whole window's reading.
    if (established?.slices) for (const i of established.slices.members) after.set(i, established.slices.reading);
    if (established?.found) for (const i of established.found.members) after.set(i, established.found.reading);
    for (const i of before.keys()) if (!after.has(i)) this.dirtyAccounts.add(i);
    for (const i of after.keys()) if (!before.has(i)) this.dirtyAccounts.add(i);
    this.cohort.members = after;
  }

  /** Count account i's parameter-fingerprint keys into `into` (key -> accounts). */
  private countSettings(i: number, into: Map<number, number>): void {
    const base = i * KEY_SLOTS;
    const lo = LT.param_fingerprint * TWO32, hi = lo + TWO32;
    for (let s = 0; s < this.nkeys[i]; s++) {
      const k = this.keys[base + s];
      if (k >= lo && k < hi) into.set(k, (into.get(k) ?? 0) + 1);
    }
  }

  /**
   * The cohort's own settings (detect.cohort_settings_heads): the parameter fingerprints that at
   * least COHORT.settingsMinHolders (and COHORT.settingsMinShare) of the new-account cohort's
   * members send, that COHORT.settingsCohortShare of the new accounts read holding them are
   * members, and that at most COHORT.settingsMaxAccountable of their holders were accountable when
   * they sent them. `read`: the new accounts read in this reading, counted per key.
   */
  private readCohortSettings(found: { members: number[]; reading: CohortReading } | null, read: Map<number, number>): void {
    this.cohortSettings = { keys: new Map(), reading: null };
    this.settingsSent.clear();
    if (!found || !this.config.cohort_settings_heads) return;
    const members = new Map<number, number>();
    for (const i of found.members) this.countSettings(i, members);
    // Of the new accounts read, those the cohort holds: its members now, and the heads it took in
    // since the last reading (by its settings, or between readings) that this one has not read as members.
    const held = new Map(members);
    const now = new Set(found.members);
    for (const i of this.cohort.members.keys()) if (!now.has(i)) this.countSettings(i, held);
    const need = Math.max(COHORT.settingsMinHolders, Math.ceil(COHORT.settingsMinShare * found.members.length));
    for (const [k, m] of members) {
      const h = held.get(k) ?? m;
      const r = Math.max(h, read.get(k) ?? 0);
      if (m < need || h < COHORT.settingsCohortShare * r) continue;
      const slot = this.linkKeys.slotOf(k);
      if (slot === undefined || this.linkKeys.keyAccountable[slot] > COHORT.settingsMaxAccountable * this.linkKeys.keyCount[slot]) continue;
      this.cohortSettings.keys.set(k, { members: m, read: r });
    }
    if (this.cohortSettings.keys.size > 0) this.cohortSettings.reading = found.reading;
  }

  /**
   * With the cohort's own settings read (readCohortSettings): account i, scored while the cohort
   * stands, joins it when it is new, fresh, unaccountable, not allow-listed, with no programme or
   * campus domain, sends one of those settings, and its window has the harvest shape from its first
   * request. Its verdict names the setting's holders against the bars (harvest_cohort_settings).
   */
  private joinBySettings(i: number, now: number): CohortReading | undefined {
    const standing = this.cohortSettings.reading;
    if (!standing) return undefined;
    const f = this.accounts.flags[i];
    const off = i * STRIDE;
    const w = this.accounts.w;
    if ((f & (F_KNOWN | F_FRESH | F_PROGRAMME | F_CAMPUS | 4)) !== (F_KNOWN | F_FRESH) || this.accounts.ids[i] === ''
      || w[off + C.FIRST_TS] < now - COHORT.windowDays * 86_400 || !this.unaccountable(i)) return undefined;
    const sent = this.settingsSent.get(i);
    this.settingsSent.delete(i);
    if (!harvestShape(w, off, 1)) return undefined;
    const base = i * KEY_SLOTS;
    let bestKey = sent !== undefined && sent[0] === this.accounts.ids[i] ? sent[1] : 0;
    let best = bestKey !== 0 ? this.cohortSettings.keys.get(bestKey) : undefined;
    for (let s = 0; s < this.nkeys[i]; s++) {
      const x = this.cohortSettings.keys.get(this.keys[base + s]);
      if (x && (!best || x.members > best.members)) { best = x; bestKey = this.keys[base + s]; }
    }
    if (!best) return undefined;
    const slot = this.linkKeys.slotOf(bestKey)!;
    const settings: SettingsJoin = { members: best.members, read: best.read, holders: this.linkKeys.keyCount[slot], accountable: this.linkKeys.keyAccountable[slot] };
    const joined: CohortReading = { ...standing, settings };
    this.cohort.members.set(i, joined);
    return joined;
  }

  /**
   * With `cohort_join_between_readings`: account i, scored between two readings while a cohort
   * stands, joins it on the terms a joining account of a reading has (new, fresh, unaccountable,
   * not allow-listed, no programme or campus, active, `COHORT.joinRequests` requests or more, the
   * harvest shape within `joinCloseFactor` of the cohort's medians: joinsStanding). The next
   * reading reads it again with every other.
   */
  private joinStanding(i: number, now: number): CohortReading | undefined {
    const f = this.accounts.flags[i];
    const off = i * STRIDE;
    const w = this.accounts.w;
    if ((f & (F_KNOWN | F_FRESH | F_PROGRAMME | F_CAMPUS | 4)) !== (F_KNOWN | F_FRESH) || w[off + C.TOTAL] < COHORT.joinRequests || this.accounts.ids[i] === ''
      || w[off + C.FIRST_TS] < now - COHORT.windowDays * 86_400 || w[off + C.LAST_TS] < now - COHORT.activeDays * 86_400 || !this.unaccountable(i)) return undefined;
    const shape = w[off + C.TOTAL] >= COHORT.minRequests || taskKinds(w, off) >= COHORT.joinKinds ? harvestShape(w, off, COHORT.joinRequests) : null;
    const standing = shape ? this.cohort.members.values().next().value : undefined;
    if (!shape || !standing || !joinsStanding(standing, shape)) return undefined;
    this.cohort.members.set(i, standing);
    return standing;
  }

  /**
   * The cohort of the accounts the new-account reading leaves out (harvest-cohort.ts: ESTABLISHED):
   * known facts, in use before or with a verified identity, named by nothing more (no programme,
   * campus domain, enterprise contract or corroborated org), not allow-listed, active since
   * `activeSince`: those of ESTABLISHED.minRequests windowed requests or more form the cohort and
   * count in its threshold, those of ESTABLISHED.joinRequests or more may join one that stands.
   * One pass over the accounts held (no candidate list: nothing of it is kept in snapshots).
   */
  private readEstablishedCohort(activeSince: number): { found: ReturnType<typeof findEstablishedCohort>; agents: ReturnType<typeof findAgentCohort>; slices: ReturnType<typeof findSliceCohort> } {
    const w = this.accounts.w;
    const flags = this.accounts.flags;
    const shaped: Array<{ i: number; promptTokens: number; ratio: number; first: number }> = [];
    const joining: typeof shaped = [];
    const agents: typeof shaped = [];
    const slices: typeof shaped = [];
    let read = 0, readAgents = 0;
    const readingAgents = this.config.cohort_agents;
    const readingSlices = this.config.cohort_harvest_slice;
    for (let i = 0; i < this.accounts.count; i++) {
      const off = i * STRIDE;
      if (w[off + C.N] < ESTABLISHED.joinRequests || w[off + C.LAST_TS] < activeSince) continue;
      const f = flags[i];
      if ((f & (F_KNOWN | F_CAMPUS | 4)) !== F_KNOWN || this.accounts.ids[i] === '') continue;
      // New, unaccountable accounts are the new-account reading's.
      if (this.unaccountable(i) || this.namedBeyondProgramme(i)) continue;
      // Programme members only join a cohort formed without them (cohort_established_programmes),
      // on the joining terms: they neither form one nor count in its threshold.
      if ((f & F_PROGRAMME) !== 0) {
        if (!this.config.cohort_established_programmes) continue;
        const shape = establishedShape(w, off);
        if (shape && taskKinds(w, off) >= COHORT.joinKinds) joining.push({ i, ...shape, first: w[off + C.FIRST_TS] });
        continue;
      }
      const forming = w[off + C.N] >= ESTABLISHED.minRequests;
      if (forming) read++;
      const shape = establishedShape(w, off);
      if (shape && (forming || taskKinds(w, off) >= COHORT.joinKinds)) (forming ? shaped : joining).push({ i, ...shape, first: w[off + C.FIRST_TS] });
      // Its harvest slice read apart from the rest of its traffic (harvest-cohort.ts: SLICE).
      if (readingSlices && forming) {
        const slice = this.sliceValues(i);
        const s = slice ? sliceShape(w, off, slice.values, slice.promptTokens) : null;
        if (s) slices.push({ i, ...s, first: w[off + C.FIRST_TS] });
      }
      if (readingAgents && w[off + C.N] >= AGENTS.minRequests) {
        readAgents++;
        const agent = agentShape(w, off, this.agentOpenings[i * 2], this.agentOpenings[i * 2 + 1]);
        if (agent && this.ownHarness(i)) agents.push({ i, ...agent, first: w[off + C.FIRST_TS] });
      }
    }
    return {
      found: findEstablishedCohort(shaped, read, this.config.cohort_min_established, joining, this.config.cohort_established_base_rate),
      agents: readingAgents ? findAgentCohort(agents, readAgents, this.config.cohort_min_established, this.config.cohort_established_base_rate) : null,
      slices: readingSlices ? findSliceCohort(slices, read, this.config.cohort_min_established, this.config.cohort_established_base_rate) : null,
    };
  }

  /**
   * Account i's harvest slice (harvest-yield.ts: its harvest part) as the slice reading reads it,
   * with the mean input of its questions; null when it holds no question.
   */
  private sliceValues(i: number): { values: SliceValues; promptTokens: number } | null {
    const o = i * ITEM_COLUMNS;
    const items = this.harvestItems[o];
    if (!(items > 0)) return null;
    const n = this.accounts.w[i * STRIDE + C.N];
    const x = itemReadings(this.harvestItems, i, n);
    return {
      values: { items: x.items, requests: n, share: x.share, ratio: x.ratio, settled: x.settled, followed: x.followed, template: sliceTemplate(this.accounts.w, i * STRIDE, x.items), paced: Math.min(1, this.slicePace[i] / items) },
      promptTokens: this.harvestItems[o + 1] / items,
    };
  }

  /**
   * Whether account i holds a system prompt or a tool set no other account in memory holds: an
   * agent harness of its own. A product's accounts and a public agent's users share theirs.
   */
  private ownHarness(i: number): boolean {
    const base = i * KEY_SLOTS;
    for (let s = 0, n = this.nkeys[i]; s < n; s++) {
      const key = this.keys[base + s];
      const type = Math.floor(key / TWO32);
      if (type !== LT.system_prompt && type !== LT.tool_set) continue;
      const slot = this.linkKeys.slotOf(key);
      if (slot !== undefined && this.linkKeys.keyLive[slot] === 1) return true;
    }
    return false;
  }

  /** Note account i for the next cohort reading when it may be read: known facts, fresh, enough requests to join a cohort. */
  private cohortCandidate(i: number): void {
    if ((this.accounts.flags[i] & (F_KNOWN | F_FRESH | F_PROGRAMME | F_CAMPUS)) === (F_KNOWN | F_FRESH) && this.accounts.w[i * STRIDE + C.TOTAL] >= COHORT.joinRequests) this.cohort.candidates.add(i);
  }

  // ---------------------------------------------------------------- forgetting idle accounts

  /**
   * Forget the accounts last active before `cutoff` that are linked to no other account and hold
   * no verdict above watch (nor an operator's). Linked accounts stay: their cluster is evidence
   * that outlives their activity. A forgotten account that comes back starts afresh, as it would
   * after a restart. Pair evidence that names a forgotten index goes with it, so an index handed
   * out again inherits nothing; address records need no cleaning, as they only count within a day.
   */
  private sweep(cutoff: number): void {
    const gone: number[] = [];
    for (let i = 0; i < this.accounts.count; i++) {
      if (this.accounts.parent[i] !== i || this.accounts.size[i] !== 1 || this.accLevel[i] > 1 || this.accounts.ids[i] === '') continue;
      const last = this.accounts.w[i * STRIDE + C.LAST_TS];
      if (last > cutoff || (this.operator.account.size > 0 && this.operator.account.has(this.accounts.ids[i]))) continue;
      gone.push(i);
    }
    if (gone.length === 0) return;
    const mark = new Uint8Array(this.accounts.count);
    for (const i of gone) mark[i] = 1;
    for (const key of this.pairs.keys()) {
      const a = Math.floor(key / PAIR_SPAN);
      if (mark[a] || mark[key - a * PAIR_SPAN]) this.pairs.delete(key);
    }
    this.syncActive = this.syncActive.filter((i) => !mark[i]);
    for (const i of gone) this.forget(i);
  }

  /**
   * A deletion request for one account: drop what the engine derived from its personal data, its
   * link keys (hashes of its signup IP and subnet, payment fingerprint, email domain and pattern,
   * client addresses, user agent and prompts' shapes; only its organisation's stays) and the pair
   * evidence naming it. An account linked to no other that holds no verdict above watch (nor an
   * operator's) is forgotten whole, as an idle one is. Otherwise it keeps its place in its cluster
   * and its verdict, which name only ids and kinds of evidence: erasing must not release a
   * campaign's member. Null when the engine does not hold the account (never seen, or erased).
   */
  eraseAccount(accountId: string): { linkKeys: number; pairs: number; forgotten: boolean } | null {
    const i = this.accounts.index.get(accountId);
    if (i === undefined) return null;
    let pairs = 0;
    for (const key of this.pairs.keys()) {
      const a = Math.floor(key / PAIR_SPAN);
      if (a === i || key - a * PAIR_SPAN === i) { this.pairs.delete(key); pairs++; }
    }
    const base = i * KEY_SLOTS;
    const orgKey = (k: number) => k >= LT.org * TWO32 && k < (LT.org + 1) * TWO32;
    let personal = 0;
    for (let s = 0; s < this.nkeys[i]; s++) if (!orgKey(this.keys[base + s])) personal++;
    if (this.accounts.parent[i] === i && this.accounts.size[i] === 1 && this.accLevel[i] <= 1 && !this.operator.account.has(accountId)) {
      this.syncActive = this.syncActive.filter((x) => x !== i);
      this.forget(i);
      return { linkKeys: personal, pairs, forgotten: true };
    }
    if (personal === 0) return { linkKeys: 0, pairs, forgotten: false };
    // The domain's count of established accounts, as forget keeps it.
    if ((this.accounts.flags[i] & (F_FRESH | 2)) === 0) {
      const domain = this.keyOfType(i, LT.email_domain);
      const n = domain >= 0 ? this.domainEstablished.get(domain) ?? 0 : 0;
      if (n > 1) this.domainEstablished.set(domain, n - 1); else if (n === 1) this.domainEstablished.delete(domain);
    }
    let kept = 0;
    for (let s = 0; s < this.nkeys[i]; s++) {
      const key = this.keys[base + s];
      if (orgKey(key)) { this.keys[base + kept++] = key; continue; }
      this.linkKeys.release(i, key);
    }
    for (let s = kept; s < this.nkeys[i]; s++) this.keys[base + s] = 0;
    this.nkeys[i] = kept;
    this.dirtyAccounts.add(i);
    return { linkKeys: personal, pairs, forgotten: false };
  }


  /** Drop account i from every index and table, and put its index up for reuse. */
  private forget(i: number): void {
    this.cohort.members.delete(i);
    this.cohort.candidates.delete(i);
    const id = this.accounts.ids[i];
    if (this.trackFirst) this.retire(i, id);
    this.accounts.index.delete(id);
    this.accounts.ids[i] = '';
    const base = i * KEY_SLOTS;
    // Another holder represents each key; if none is known, the next one to register will.
    for (let s = 0; s < this.nkeys[i]; s++) this.linkKeys.release(i, this.keys[base + s]);
    if ((this.accounts.flags[i] & (F_FRESH | 2)) === 0) {
      const domain = this.keyOfType(i, LT.email_domain);
      const n = domain >= 0 ? this.domainEstablished.get(domain) ?? 0 : 0;
      if (n > 1) this.domainEstablished.set(domain, n - 1); else if (n === 1) this.domainEstablished.delete(domain);
    }
    const org = this.accounts.org[i];
    if (org >= 0) this.leaveOrg(i, org, this.accounts.flags[i]);
    this.peers.remove(this.tier[i], this.peerBin[i]);
    this.dirtyAccounts.delete(i);
    this.accVerdicts.delete(i);
    this.links.drop(i);
    this.intelHits.delete(i);
    this.logitProbes.delete(i);
    this.embeddingSpread.forget(i);
    this.eachColumn(<T extends AccountColumn>(a: T, per: number): T => { a.fill(0, i * per, (i + 1) * per); return a; });
    this.freshSketch.clear(i);
    this.accounts.org[i] = -1;
    this.accounts.freeAccounts.push(i);
    this.accounts.forgotten++;
  }

  /** Keep what a scan report needs of a forgotten account (merged if it is forgotten again). */
  private retire(i: number, id: string): void {
    const n = VERDICT_LEVELS.length;
    const served = Array.from(this.served.subarray(i * n, (i + 1) * n));
    const first = Array.from(this.firstFlag.subarray(i * n, (i + 1) * n));
    const before = this.accounts.retired.get(id);
    if (before) {
      for (let l = 0; l < n; l++) {
        served[l] += before.served[l];
        if (before.first[l] > 0 && (first[l] === 0 || before.first[l] < first[l])) first[l] = before.first[l];
      }
    }
    this.accounts.retired.set(id, { served, first });
  }

  private scoreAccount(i: number, now: number): void {
    const off = i * STRIDE;
    if (this.config.cohort_min_accounts > 0) this.cohortCandidate(i);
    const peers = this.accountPeers(i);
    const values = scoreIndicators(this.accounts.w, off, true, peers, this.indicatorScratch);
    const h = harvestScore(values);
    // Alone, an account is judged on its harvest behaviour only; the ceiling keeps single
    // accounts (researchers, batch jobs) at watch unless configured otherwise.
    let score = h * 0.6;
    const wholePass = this.harvestYieldTest(i, values);
    // The harvest part on its own: questions camouflaged among chats (harvest-yield.ts: ITEMS).
    const items = wholePass ? null : this.harvestItemsTest(i, values);
    const yieldPass = wholePass || items !== null;
    // A student linked with its class (CAMPUS_CLASS_MIN accounts of one campus domain) does homework
    // at a human pace, single questions asking for the steps: what the test looks for. Such an
    // account is held at the ordinary ceiling; its class is judged as the one actor it is.
    // Not at volumes no student reaches (CAMPUS_CLASS_MAX_RECENT): a pipeline on a campus domain.
    const campusClass = yieldPass && this.accounts.w[off + C.N] < CAMPUS_CLASS_MAX_RECENT ? this.campusClassSize(i) : 0;
    // So is a student of one institution's class that nothing vouches for yet, linked by its place
    // and held at watch because its members converse (conversingClassSize).
    const talkingClass = yieldPass && campusClass < CAMPUS_CLASS_MIN && this.accounts.w[off + C.N] < CAMPUS_CLASS_MAX_RECENT ? this.conversingClassSize(i, now) : 0;
    let max = this.singleMax;
    if (yieldPass && campusClass < CAMPUS_CLASS_MIN && talkingClass < CAMPUS_CLASS_MIN) {
      // A human-paced account that asks only independent, high-yield, reasoning-eliciting
      // questions: the profile of a low-and-slow harvester. It may reach throttle alone.
      max = Math.max(max, THROTTLE);
      score = Math.max(score, this.thresholds[THROTTLE]);
    }
    // Bias maps swept over the same prompts: the model's logits read through the API. Shaping
    // (the default policy strips logit_bias at shape) ends it; the account needs no partner.
    const probes = this.logitProbes.size > 0 && this.accounts.w[off + C.PROBE] >= LOGIT_PROBE.minProbes ? probeReadings(this.logitProbes, i, this.accounts.w[off + C.PROBE]) : null;
    const probePass = logitProbeTest(probes);
    if (probePass) {
      max = Math.max(max, SHAPE);
      score = Math.max(score, this.thresholds[SHAPE]);
    }
    // A broad corpus embedded, spread like all other customers' texts together: an encoder's map
    // harvested. A fresh account (put to use within days of signup, or first used days ago) is
    // shaped alone (the default policy noises its vectors); an established customer embedding a
    // broad public dataset looks the same by its vectors, so it is held at watch alone.
    const spread = this.embeddingSpread.accounts.size > 0 ? this.embeddingSpread.readings(i, this.accounts.w[off + C.N], this.accounts.w[off + C.DECAY_TS]) : null;
    const spreadPass = embeddingSpreadTest(spread, this.config.embedding_max_concentration);
    const spreadFresh = (this.accounts.flags[i] & F_FRESH) !== 0;
    if (spreadPass) {
      const l = spreadFresh ? SHAPE : WATCH;
      max = Math.max(max, l);
      score = Math.max(score, this.thresholds[l]);
    }
    // Answers pasted across accounts, and grading without reasoning (pasted-answers.ts): either half
    // of a question/verify split, or a reward-model grader, reaches throttle alone unless the account
    // is named beyond an identity (a programme, a campus domain, an enterprise contract, a corroborated org).
    const unnamed = !this.namedBeyondIdentity(i);
    const paste = unnamed ? pasteReadings(this.pasteCount, this.pasteBits, i) : null;
    const verifying = paste !== null && verifyingPass(paste);
    const asked = paste !== null && askedPass(paste);
    const grading = unnamed ? gradingReadings(this.pasteCount, i) : null;
    const graded = grading !== null && gradingPass(grading) && resentShare(this.payCount, i) < GRADING.maxResent;
    // Questions asked word for word by one other account each, at split temperatures (paired-items.ts): preference pairs.
    const pairs = unnamed ? pairReadings(this.pairCount, this.pairBits, i) : null;
    const paired = pairs !== null && pairedPass(pairs);
    if (verifying || asked || graded || paired) {
      max = Math.max(max, THROTTLE);
      score = Math.max(score, this.thresholds[THROTTLE]);
    }
    // One of a cohort of new accounts that all ask one harvest shape (harvest-cohort.ts).
    const cohort = this.cohort.members.size > 0 ? this.cohort.members.get(i) ?? (this.config.cohort_join_between_readings ? this.joinStanding(i, now) : undefined) ?? (this.cohortSettings.reading !== null ? this.joinBySettings(i, now) : undefined) : undefined;
    if (cohort) {
      max = Math.max(max, THROTTLE);
      score = Math.max(score, this.thresholds[THROTTLE]);
    }
    // Shared indicators: another provider's campaign, recognised here; held at the feed's level.
    const intel = this.intelHits.size > 0 ? this.intelFloor(i, now) : null;
    if (intel) {
      const l = verdictRank(intel.level);
      max = Math.max(max, l);
      score = Math.max(score, this.thresholds[l]);
    }
    this.accScore[i] = score;
    const st: LevelState = { level: this.accLevel[i], score, since: this.accSince[i], belowSince: this.accBelow[i], verdict: null, explainedAt: 0, explainedScore: 0 };
    const changed = this.applyLadder(st, score, now, max);
    this.accLevel[i] = st.level; this.accSince[i] = st.since; this.accBelow[i] = st.belowSince;
    const stale = now - this.accExplained[i] >= EXPLAIN_REFRESH_S || Math.abs(score - this.accExplainedScore[i]) >= EXPLAIN_SCORE_STEP
      || this.held(st.level, score) !== this.held(st.level, this.accExplainedScore[i]);
    if (st.level > 0 && (changed || (this.accVerdicts.has(i) && stale))) {
      // The explanation's objects are built only here: for a new level at once, for a standing
      // verdict again when its score has moved or its explanation is old (see EXPLAIN_REFRESH_S).
      this.accExplained[i] = now;
      this.accExplainedScore[i] = score;
      const v: Verdict = {
        subject: { kind: 'account', id: this.accounts.ids[i] },
        level: VERDICT_LEVELS[st.level], score: round(score), source: 'detector',
        since: new Date(st.since * 1000).toISOString(),
        reasons: [
          ...(intel ? intel.reasons : []),
          { signal: 'account_score', value: round(score), threshold: this.thresholds[st.level], detail: `harvest behaviour of this account alone (capped at ${VERDICT_LEVELS[max]} without linked accounts)` },
          ...heldReasons(st, score, this.thresholds, this.config),
          ...(wholePass ? harvestYieldReasons(values, this.accounts.w[off + C.N], this.config.yield_closed_task_share, resentShare(this.payCount, i)) : []),
          ...(items !== null ? harvestItemsReasons(values, items, this.accounts.w[off + C.N], resentShare(this.payCount, i), this.namedCustomer(i)) : []),
          ...(campusClass >= CAMPUS_CLASS_MIN ? [{ signal: 'campus_class', value: campusClass, threshold: CAMPUS_CLASS_MIN, detail: 'linked with other accounts on its campus email domain and no declared org: a class, held at the single-account ceiling despite the harvest-yield test' }] : []),
          ...(talkingClass >= CAMPUS_CLASS_MIN ? [{ signal: 'conversing_class', value: talkingClass, threshold: CAMPUS_CLASS_MIN, detail: 'a member of one institution\'s cluster linked by its place, held at watch because its members converse (its place_conversation): a class, judged as the one actor it is; this account is held at the single-account ceiling despite the harvest-yield test' }] : []),
          ...(probePass ? logitProbeReasons(probes!) : []),
          ...(cohort ? cohortReasons(cohort, this.accounts.w[off + C.TOTAL], this.accounts.w[off + C.N], (this.accounts.flags[i] & F_PROGRAMME) !== 0, cohort.agents ? { tools: this.accounts.w[off + C.TOOLS] / Math.max(1, this.accounts.w[off + C.N]), openings: this.agentOpenings[i * 2], capabilityOpenings: this.agentOpenings[i * 2 + 1] } : undefined, cohort.slice ? this.sliceValues(i)?.values : undefined) : []),
          ...(verifying ? verifyingReasons(paste!) : []),
          ...(asked ? askedReasons(paste!) : []),
          ...(graded ? gradingReasons(grading!, resentShare(this.payCount, i)) : []),
          ...(paired ? pairedReasons(pairs!) : []),
          ...(spreadPass ? embeddingSpreadReasons(spread!, this.config.embedding_max_concentration, spreadFresh) : []),
          ...indicatorReasons(indicatorsOf(values, this.accounts.w, off, peers)),
        ],
      };
      this.accVerdicts.set(i, v);
      if (changed) this.emit(v);
    } else if (st.level === 0) this.accVerdicts.delete(i);
  }

  private intelFloor(i: number, now: number): { level: VerdictLevel; reasons: VerdictReason[] } | null {
    const ids = this.intelHits.get(i);
    if (!ids) return null;
    const floor = this.intel ? this.intel.floorFor(ids, now * 1000) : null;
    if (!floor) this.intelHits.delete(i);
    return floor;
  }

  /** Decay the baseline topic counts to `now` and renormalise the mix (null until it holds 200 requests). */
  private updateTopicMix(now: number): void {
    const tc = this.topicCounts;
    if (this.topicDecayTs > 0 && now > this.topicDecayTs) {
      const f = Math.pow(2, -(now - this.topicDecayTs) / this.halfLifeS);
      for (let k = 0; k < tc.length; k++) tc[k] *= f;
    }
    this.topicDecayTs = now;
    let total = 0;
    for (let k = 0; k < tc.length; k++) total += tc[k];
    if (total < 200) { this.topicMix = null; return; }
    const mix = this.topicMix ?? new Float64Array(tc.length);
    for (let k = 0; k < tc.length; k++) mix[k] = tc[k] / total;
    this.topicMix = mix;
  }

  /** Re-enter account i in its tier's volume histogram and return what its volume is compared with. */
  private accountPeers(i: number): PeerContext {
    const bin = PeerVolumes.bin(this.accounts.w[i * STRIDE + C.N]);
    this.peers.move(this.tier[i], this.peerBin[i], bin);
    this.peerBin[i] = bin;
    return { peerMedian: this.peers.median(this.tier[i]), members: 1, topicBaseline: this.topicMix };
  }

  /**
   * Distinct undeclared actors of a cluster: accounts without an org (those on one campus's email
   * domain together as one, as a corroborated org is), corroborated orgs, members of uncorroborated
   * orgs, members moved into their org while flagged.
   */
  private actorsOf(c: ClusterState): number {
    return c.noOrg - c.campusMembers + c.campus.size + c.orgs.size + c.apart + this.uncorroboratedMembers(c) - this.uncorroboratedOrgsIn(c);
  }

  /** Members of the cluster in uncorroborated orgs. */
  private uncorroboratedMembers(c: ClusterState): number {
    if (this.uncorroborated.size === 0) return 0;
    let n = 0;
    if (this.uncorroborated.size < c.orgs.size) { for (const o of this.uncorroborated) n += c.orgs.get(o) ?? 0; }
    else for (const [o, k] of c.orgs) if (this.uncorroborated.has(o)) n += k;
    return n;
  }

  private uncorroboratedOrgsIn(c: ClusterState): number {
    if (this.uncorroborated.size === 0) return 0;
    let n = 0;
    if (this.uncorroborated.size < c.orgs.size) { for (const o of this.uncorroborated) if (c.orgs.has(o)) n++; }
    else for (const o of c.orgs.keys()) if (this.uncorroborated.has(o)) n++;
    return n;
  }

  /**
   * Answers pasted across accounts (pasted-answers.ts): whether this request's turn carries an
   * answer served to another account (counted for both), whether it grades an item (single-shot,
   * with a rubric), then this request's own answer kept as account i's.
   * `key`: the account id's hash (ServedAnswers.accountKey), read once an event by `ingest`.
   */
  private observePastedAnswers(i: number, key: number, ev: InteractionEvent, answerFp: number, flags: number, output: number): void {
    let from = -1;
    let fromKey = 0;
    if (this.answerOwners.size > 0) {
      for (const fp of pastedCandidates(ev, this.pasteScratch)) {
        const o = this.answerOwners.owner(fp);
        if (o === null || o.i === i || o.i >= this.accounts.count || (fnv1a(this.accounts.ids[o.i]) || 1) !== o.key) continue;
        from = o.i; fromKey = o.key;
        break;
      }
    }
    const graded = (flags & FLAG.singleShot) !== 0 && (flags & FLAG.rubric) !== 0;
    observePasting(this.pasteCount, this.pasteBits, i, from >= 0, fromKey, graded, output);
    if (from >= 0) { observePasted(this.pasteCount, this.pasteBits, from, key); this.dirtyAccounts.add(from); }
    if (answerFp !== 0) this.answerOwners.record(answerFp, i, key);
  }

  /**
   * Questions asked in pairs across accounts (paired-items.ts): a single-shot question of 64
   * characters or more asked word for word by another account before counts a pair for both, with
   * whether their temperatures were split; then the question is kept as account i's when new.
   */
  private observePairedItems(i: number, key: number, ev: InteractionEvent, flags: number): void {
    let partner = 0;
    let split = false;
    if ((flags & FLAG.singleShot) !== 0) {
      const msgs = ev.request.messages;
      const last = msgs.length > 0 ? msgs[msgs.length - 1] : null;
      const chars = last && last.role === 'user' && last.text ? last.chars ?? last.text.length : 0;
      // A question of one user message was read already (question-pass.ts).
      const fp = chars === 0 ? 0 : question.text !== null && question.text === last!.text && question.chars === chars ? question.fp : itemFp(last!.text!, chars);
      if (fp !== 0) {
        const temp = tempTenths(ev.request.params?.temperature);
        const o = this.itemOwners.ask(fp, i, key, temp);
        if (o !== null && o.i < this.accounts.count && (fnv1a(this.accounts.ids[o.i]) || 1) === o.key) {
          partner = o.key;
          split = temperatureSplit(o.temp, temp);
          observePaired(this.pairCount, this.pairBits, o.i, key, split);
          this.dirtyAccounts.add(o.i);
        }
      }
    }
    observePair(this.pairCount, this.pairBits, i, partner, split);
  }

  /**
   * Harvest-yield test for a single account (the low-and-slow harvester that links to nobody):
   * enough requests, almost all independent single-shot questions (people converse: follow-ups
   * carry history), outputs many times longer than inputs, reasoning elicited well above organic
   * rates or, instead, closed-form tasks worded as dataset items are on most requests (a
   * harvester that sends a benchmark's items as written, taking whatever answer comes), and
   * neither a pipeline's machine timing nor a fixed template from a customer who says who runs it
   * (evaluation runs and batch jobs of a verified identity, a programme, a campus or a corroborated
   * org are judged by the ordinary path and stay at watch alone). Machine timing and a fixed
   * template cost a harvester nothing, so from anyone else they exempt nothing. Every condition is
   * reported with its value and threshold.
   */
  private harvestYieldTest(i: number, values: IndicatorValues): boolean {
    const n = this.accounts.w[i * STRIDE + C.N];
    if (n < YIELD.minRequests) return false;
    const y = yieldReadings(values);
    if (!(y.single >= YIELD.singleShot && (y.elicit >= YIELD.elicitation ? y.ratio >= yieldRatioFloor(y.elicit) : y.ratio >= YIELD.outputInput && y.closed >= this.config.yield_closed_task_share))) return false;
    // No timing reading yet: wait for twice the floor (a pipeline's regularity may still show).
    if (y.timing < 0 && n < 2 * YIELD.minRequests) return false;
    return !pipelineShape(y) || !(this.namedCustomer(i) || resentShare(this.payCount, i) >= YIELD.minResent);
  }

  /**
   * The harvest-yield test on the harvest part of account i's traffic alone (harvest-yield.ts:
   * ITEMS): enough single-shot questions asking for reasoning, high-yield on their own, making a
   * good part of its requests, whatever chats surround them. Not for a customer named beyond a
   * verified identity (a programme, an enterprise contract, a campus domain, a corroborated org): a
   * researcher whose day mixes evaluation runs with chat has this shape, and its timing, read over
   * the chats too, need not show the runs' machine pace (two such accounts of the traffic model's
   * researchers were throttled before this). An account named by a verified identity alone is
   * judged by its questions never followed up, and by their share or volume once its follow-ups
   * are read (itemsPassIdentityOnly). Otherwise the pipeline conditions are the whole window's.
   * Its readings when it passes, else null.
   */
  private harvestItemsTest(i: number, values: IndicatorValues): ItemReadings | null {
    const n = this.accounts.w[i * STRIDE + C.N];
    if (n < YIELD.minRequests) return null;
    const named = this.namedCustomer(i);
    // Accounts named by a verified identity alone are judged too (accounts are bought with it): by
    // their questions never followed up (ITEMS_UNFOLLOWED), and by the share or the volume of their
    // questions once their follow-ups are read (itemsPassIdentityOnly). A researcher's evaluation
    // runs are never followed up either, and their pipeline's pace or template, from a named
    // customer, exempts them below (namedPipeline).
    if (named && this.namedBeyondIdentity(i)) return null;
    const x = itemReadings(this.harvestItems, i, n);
    const y = yieldReadings(values);
    if (!(named ? itemsUnfollowed(x) || itemsPassIdentityOnly(x, y.single) : itemsPass(x, y.single) || itemsUnfollowed(x))) return null;
    if (y.timing < 0 && n < 2 * YIELD.minRequests) return null;
    if (!pipelineShape(y)) return x;
    // A verified identity's pipeline: a pace no application's users make, a template, or items re-sent.
    if (named) return namedPipeline(y) || resentShare(this.payCount, i) >= YIELD.minResent ? null : x;
    return resentShare(this.payCount, i) < YIELD.minResent ? x : null;
  }

  /**
   * A named customer (namedCustomer) by more than a verified identity: an enterprise contract, a
   * programme admission, a vouched institutional domain or a corroborated org. Harvesters buy
   * aged accounts whose owners verified their identity; none of these come with them.
   */
  private namedBeyondIdentity(i: number): boolean {
    return (this.accounts.flags[i] & F_PROGRAMME) !== 0 || this.namedBeyondProgramme(i);
  }

  /** Named by a vouched campus domain, an enterprise contract or a corroborated org (a programme admission aside). */
  private namedBeyondProgramme(i: number): boolean {
    const f = this.accounts.flags[i];
    if ((f & F_CAMPUS) !== 0 || this.tier[i] === TIERS.indexOf('enterprise')) return true;
    const org = this.accounts.org[i];
    return org >= 0 && (f & (F_PERSONAL | F_MOVED_FLAGGED)) === 0 && (f & F_KNOWN) !== 0 && this.orgCorroborated(org);
  }




  /**
   * A customer who says who runs the account: a verified identity or enterprise tier, a programme
   * admission, a vouched institutional domain (F_CAMPUS), or a corroborated org the account joined
   * with the org's own address (not personal mail). What a lab's or a company's pipeline has; an
   * aged free-mail account a harvester buys or makes does not.
   */
  private namedCustomer(i: number): boolean {
    const f = this.accounts.flags[i];
    if ((f & (F_VERIFIED | F_PROGRAMME | F_CAMPUS)) !== 0) return true;
    const org = this.accounts.org[i];
    return org >= 0 && (f & (F_PERSONAL | F_MOVED_FLAGGED)) === 0 && (f & F_KNOWN) !== 0 && this.orgCorroborated(org);
  }

  /** Accounts of account i's campus email domain (F_CAMPUS) in its cluster; 0 when it is not on one or not linked. */
  private campusClassSize(i: number): number {
    if ((this.accounts.flags[i] & (F_CAMPUS | F_FLEET_LINKED)) !== F_CAMPUS) return 0;
    const c = this.clusters.get(this.accounts.find(i));
    return c ? c.campus.get(this.keyOfType(i, LT.email_domain)) ?? 0 : 0;
  }


  /**
   * Members of account i's cluster when it is one institution's, linked by its place (or by its
   * place and its first lecture's signup burst), and held at watch because its members converse
   * about each other's problems (conversingClass, placeHold): a class nothing vouches for yet, judged as the one actor it is. 0 otherwise, or
   * when the account is linked to it by fleet evidence.
   */
  private conversingClassSize(i: number, now: number): number {
    if ((this.accounts.flags[i] & F_FLEET_LINKED) !== 0) return 0;
    const root = this.accounts.find(i);
    const c = this.clusters.get(root);
    if (!c || c.members < CAMPUS_CLASS_MIN) return 0;
    const kind = placeLinked(c);
    const burst = !kind && institutionSignup(c);
    if (!kind && !burst) return 0;
    const institution = kind === 'institution_app' || burst || institutionLinked(c);
    if (!institution) return 0;
    this.decayVec(c.w, now);
    const peers: PeerContext = { peerMedian: this.peers.medianAll(), members: 1, topicBaseline: this.topicMix };
    const values = scoreIndicators(c.w, 0, false, peers, this.classScratch);
    const spread = this.embeddingSpread.accounts.size > 0 ? this.embeddingSpread.clusterReadings(this.memberIndexes(root), c.w[C.N], now) : null;
    // Read as the cluster's verdict reads it (placeReading); a member set apart for sending most of
    // the cluster's requests is no member of the class: it stands on its own evidence.
    const r = this.placeReading(root, c, now, { app: kind === 'institution_app', burst, institution }, values, spread, peers);
    if (this.accounts.w[i * STRIDE + C.N] * this.decayFactor(i, now) >= r.bar) return 0;
    return conversingClass(r.p) && placeHold(r.p) === 'watch' ? c.members : 0;
  }

  /**
   * The other members' window of a place-linked cluster (root `root`), decayed to `now`, when it
   * has busy members (PLACE_BUSY_FACTOR: windowed requests at ten times the median member's and at
   * YIELD.minRequests of their own): the sum of the other members' windows (placeScratch; the
   * members' own windows are read, not decayed in place). `bar`: the windowed requests from which a
   * member is set apart (Infinity: none is, and `w` is the cluster's own window). The cluster's
   * window is the sum of its members' (each event goes into both), so the other members' sum is
   * what the cluster would read without the busy ones.
   */
  private placeWindow(root: number, c: ClusterState, now: number): { w: Float64Array; requests: number; busiest: PlaceBusiest; bar: number } {
    const w = this.accounts.w;
    if (this.placeCounts.length < c.members) this.placeCounts = new Float64Array(Math.max(c.members, 2 * this.placeCounts.length));
    const counts = this.placeCounts;
    let top = -1, topN = 0, sum = 0, m = 0;
    for (const j of this.memberIndexes(root)) {
      const n = w[j * STRIDE + C.N] * this.decayFactor(j, now);
      counts[m++] = n;
      sum += n;
      if (n > topN || top < 0) { topN = n; top = j; }
    }
    const sorted = counts.subarray(0, m).sort();
    const median = m % 2 === 1 ? sorted[(m - 1) / 2] : (sorted[m / 2 - 1] + sorted[m / 2]) / 2;
    const bar = Math.max(PLACE_BUSY_FACTOR * median, YIELD.minRequests);
    const apart: string[] = [];
    let apartN = 0;
    if (topN >= bar) for (const j of this.memberIndexes(root)) {
      const n = w[j * STRIDE + C.N] * this.decayFactor(j, now);
      if (n >= bar) { apart.push(this.accounts.ids[j]); apartN += n; }
    }
    const busiest: PlaceBusiest = {
      id: this.accounts.ids[top], requests: topN, median, ratio: median > 0 ? topN / median : Infinity,
      apart, apartShare: sum > 0 ? apartN / sum : 0, others: c.members - apart.length, over: 'whole',
    };
    if (apart.length === 0) return { w: c.w, requests: c.requests, busiest, bar: Infinity };
    const r = this.placeScratch;
    r.fill(0);
    let first = Infinity;
    for (const j of this.memberIndexes(root)) {
      const off = j * STRIDE;
      const f = this.decayFactor(j, now);
      if (w[off + C.N] * f >= bar) continue;
      for (let k = 0; k < C.DECAYED; k++) r[k] += w[off + k] * f;
      r[C.TOTAL] += w[off + C.TOTAL]; r[C.OUT_TOTAL] += w[off + C.OUT_TOTAL];
      r[C.GAP_N] += w[off + C.GAP_N]; r[C.GAP_SUM] += w[off + C.GAP_SUM]; r[C.GAP_SUMSQ] += w[off + C.GAP_SUMSQ];
      if (w[off + C.FIRST_TS] > 0) first = Math.min(first, w[off + C.FIRST_TS]);
      r[C.LAST_TS] = Math.max(r[C.LAST_TS], w[off + C.LAST_TS]);
    }
    r[C.FIRST_TS] = first === Infinity ? 0 : first;
    r[C.DECAY_TS] = now;
    return { w: r, requests: r[C.TOTAL], busiest, bar };
  }

  /** What account j's decayed window counts are multiplied by to read them at `now` (its window is not changed). */
  private decayFactor(j: number, now: number): number {
    const last = this.accounts.w[j * STRIDE + C.DECAY_TS];
    return last > 0 && now > last ? Math.pow(2, -(now - last) / this.halfLifeS) : 1;
  }

  /** The members of the cluster rooted at `root` whose windowed requests at `now` are under `bar` (placeWindow). */
  private *placeMembers(root: number, bar: number, now: number): Generator<number> {
    for (const j of this.memberIndexes(root)) if (this.accounts.w[j * STRIDE + C.N] * this.decayFactor(j, now) < bar) yield j;
  }

  /**
   * The reading that holds a place-linked cluster (root `root`, window decayed to `now`), from its
   * whole window's indicator `values` and embedding `spread`: the whole cluster's, or, when its
   * has busy members (placeWindow), the other members' if theirs holds it less
   * (lenientPlaceReading), with the window, values and spread it was read from. `bar`: the windowed
   * requests from which a member is set apart (Infinity: none is), whichever reading holds. The
   * other members' values are in placeValues until the next call.
   */
  private placeReading(root: number, c: ClusterState, now: number, link: { app: boolean; burst: boolean; institution: boolean }, values: IndicatorValues, spread: SpreadReadings | null, peers: PeerContext):
    { p: PlaceReading; w: Float64Array; values: IndicatorValues; spread: SpreadReadings | null; spreadPass: boolean; bar: number } {
    const max = this.config.embedding_max_concentration;
    const pw = this.placeWindow(root, c, now);
    const spreadPass = embeddingSpreadTest(spread, max);
    const whole = readPlace(c.w, values, spreadPass, c.requests, c.members, link, pw.busiest);
    if (pw.bar === Infinity) return { p: whole, w: c.w, values, spread, spreadPass, bar: Infinity };
    const otherValues = scoreIndicators(pw.w, 0, false, peers, this.placeValues);
    const otherSpread = this.embeddingSpread.accounts.size > 0 ? this.embeddingSpread.clusterReadings(this.placeMembers(root, pw.bar, now), pw.w[C.N], now) : null;
    const otherPass = embeddingSpreadTest(otherSpread, max);
    const others = readPlace(pw.w, otherValues, otherPass, pw.requests, pw.busiest.others, link, { ...pw.busiest, over: 'others' });
    const p = lenientPlaceReading(whole, others);
    return p === others
      ? { p, w: pw.w, values: otherValues, spread: otherSpread, spreadPass: otherPass, bar: pw.bar }
      : { p, w: c.w, values, spread, spreadPass, bar: pw.bar };
  }

  /**
   * The actor minimum protects households: a couple or a family shares a card and a home address
   * and links as two accounts. A household also shares a home network. A cluster below the minimum
   * whose members are all unaccountable (fresh, no verified identity, no corroborated org of
   * several) and whose requests arrive from another network than the account's previous request
   * most of the time (the cluster's shrunk network-hopping share at its threshold, and each member
   * on most of its own requests) is not a household but one operator behind a rotating proxy pool.
   * Returns the cluster's hopping share when that is so, else null. Such a cluster has at most
   * min_cluster_actors - 1 members (every member is its own actor), so the walk is short.
   */
  private notAHousehold(root: number, c: ClusterState, actors: number, hopping: number): number | null {
    if (actors >= this.config.min_cluster_actors || hopping < HOUSEHOLD_MAX_HOPPING) return null;
    if (!this.allUnaccountable(c)) return null;
    let j = root;
    do {
      const off = j * STRIDE;
      const n = this.accounts.w[off + C.N];
      // Raw share of this member's requests that changed network (its first cannot).
      if (n < 2 || this.accounts.w[off + C.NET_CHANGE] < HOUSEHOLD_MAX_HOPPING * (n - 1)) return null;
      j = this.accounts.next[j];
    } while (j !== root);
    return hopping;
  }

  /** Coordination evidence of a cluster in [0, 1], its actors, and its proxy-pool reading (coordinationReasons explains it). */
  private coordination(root: number, c: ClusterState, hopping: number): { value: number; actors: number; proxied: number | null; sizeFactor: number; evidenceFactor: number; halved: boolean } {
    const actors = this.actorsOf(c);
    if (actors < 2 || c.joins === 0) return { value: 0, actors, proxied: null, sizeFactor: 0, evidenceFactor: 0, halved: false };
    const meanEvidence = c.joinEvidence / c.joins;
    // Below the actor minimum a cluster may be a household, unless its traffic rules that out:
    // then it is scored as the smallest coordinated group.
    const proxied = this.notAHousehold(root, c, actors, hopping);
    const counted = proxied === null ? actors : this.config.min_cluster_actors;
    const sizeFactor = 1 - Math.exp(-(counted - 1) / 3);
    const evidenceFactor = Math.min(1, meanEvidence / COORD_FULL_EVIDENCE);
    // Identity-verified members (KYC) are accountable; fraudulent fleets are not.
    const verifiedShare = c.verified / c.members;
    const disposableShare = c.disposable / c.members;
    // Accounts put to use within days of signing up, together, are how fleets are run.
    const freshShare = c.fresh / c.members;
    let value = sizeFactor * evidenceFactor * (1 - COORD_VERIFIED * verifiedShare) * (1 + COORD_DISPOSABLE * disposableShare) * (1 + COORD_FRESH * freshShare);
    const halved = counted < this.config.min_cluster_actors;
    if (halved) value *= 0.5;
    return { value: Math.min(1, value), actors, proxied, sizeFactor, evidenceFactor, halved };
  }


  private scoreCluster(root: number, c: ClusterState, now: number): void {
    this.decayVec(c.w, now);
    const peers: PeerContext = { peerMedian: this.peers.medianAll(), members: 1, topicBaseline: this.topicMix };
    let values = scoreIndicators(c.w, 0, false, peers, this.indicatorScratch);
    const hopping = values.get('network_hopping_share') || 0;
    const coord = this.coordination(root, c, hopping);
    // Linked accounts that together embed a broad corpus (each may embed one subject): the
    // encoder's map harvested by a fleet. That is full harvest evidence; coordination decides.
    let spread = this.embeddingSpread.accounts.size > 0 ? this.embeddingSpread.clusterReadings(this.memberIndexes(root), c.w[C.N], now) : null;
    let spreadPass = embeddingSpreadTest(spread, this.config.embedding_max_concentration);
    // Linked only by a place (below). When one member sent more than the others together and the
    // other members' own readings hold the cluster less, it is read over them (placeReading): what
    // only the busy member asks corroborates nothing for them; it is judged on its own evidence.
    const placeKind = placeLinked(c);
    const burst = !placeKind && institutionSignup(c);
    const pr = placeKind || burst
      ? this.placeReading(root, c, now, { app: placeKind === 'institution_app', burst, institution: placeKind === 'institution_app' || burst || institutionLinked(c) }, values, spread, peers)
      : null;
    const read = pr ? pr.w : c.w;
    if (pr) { values = pr.values; spread = pr.spread; spreadPass = pr.spreadPass; }
    let harvest = harvestScore(values);
    if (spreadPass) harvest = 1;
    // Both are needed: coordination without harvesting is a class or an office; harvesting
    // without coordination is one customer's workload.
    let score = coord.value * harvest;
    // Strong coordination needs fewer requests before a verdict above watch (down to a third of
    // min_cluster_requests for the strongest evidence): the evidence is in the linkage.
    const needed = this.config.min_cluster_requests * Math.max(1 / 3, 1.3 - coord.value);
    const uncapped = score;
    if (c.requests < needed) score = Math.min(score, this.thresholds[1]);
    // Linked only by a place (a classroom's or an office's address, network, browser, domain):
    // many actors in one place, not a harvest, unless what they ask is harvest-like (place-links.ts).
    // So is one institution's cluster linked also by its lecture's signup burst (institutionSignup),
    // while its members converse or have not sent enough to tell. Corroborated by volume alone (the
    // working asked for, many requests a member, neither the harvest shape nor an ask a class does
    // not make), or a burst whose members do not converse, it stops at verify, which people can
    // answer and a fleet cannot; one institution's members who converse are held at watch (placeHold).
    const place = pr ? pr.p : null;
    const others = place?.busiest !== null && place?.busiest !== undefined && place.busiest.apart.length > 0 && place.busiest.over === 'others';
    const hold = place ? placeHold(place) : null;
    c.placeHeld = hold !== null;
    const byRequests = score;
    if (hold === 'watch') score = Math.min(score, this.thresholds[1]);
    const st = c.verdict;
    // Held by its other members' reading (busy members set apart), the cluster is at most what that
    // reading holds it at, at once: a class linked into a lab flagged at verify by its researchers'
    // volume is not kept there by hysteresis, and the researchers stand on their own evidence.
    const ceiling = hold === 'verify' ? PLACE_VOLUME_CEILING : others && hold === 'watch' ? WATCH : VERDICT_LEVELS.length - 1;
    const changed = this.applyLadder(st, score, now, ceiling, others);
    if (st.level >= THROTTLE && !c.campaignId) {
      // Named after its cluster (itself named after its smallest account id), not after an order
      // of discovery. An engine rebuilt after a restart without a snapshot names it alike when the
      // cluster was flagged with the same members; otherwise the cases that refer to it find it by
      // its cluster or by their members (src/cases/case-file.ts).
      c.campaignId = campaignIdOf(c.id);
      this.markFlaggedKeys(root);
    }
    const stale = !st.verdict || now - st.explainedAt >= EXPLAIN_REFRESH_S || Math.abs(score - st.explainedScore) >= EXPLAIN_SCORE_STEP
      || st.verdict.subject.id !== c.id || st.verdict.campaign_id !== c.campaignId || c.explainedMembers !== c.members
      || this.held(st.level, score) !== this.held(st.level, st.explainedScore);
    if (st.level > 0 && (changed || stale)) {
      st.explainedAt = now;
      st.explainedScore = score;
      c.explainedMembers = c.members;
      const reasons: VerdictReason[] = [
        { signal: 'cluster_score', value: round(score), threshold: this.thresholds[st.level], detail: 'coordination and harvest behaviour of the linked accounts as one actor' },
        ...heldReasons(st, score, this.thresholds, this.config),
        ...requestsCapReasons(c.requests, needed, uncapped, byRequests, this.thresholds[1]),
        ...(place ? placeReasons(place, score < byRequests, uncapped, this.thresholds[1]) : []),
        { signal: 'coordination', value: round(coord.value), threshold: null, detail: coordinationDetail(coord, this.config.min_cluster_actors) },
        ...coordinationReasons(c, coord, this.uncorroboratedMembers(c), this.config),
        { signal: 'harvest', value: round(harvest), threshold: null, detail: spreadPass
          ? `cluster_score = coordination × harvest, so no threshold of its own: 1, the members${others ? ' but the busiest (place_busiest_member_share)' : ''} together embed a broad corpus (embedding spread, below)`
          : `cluster_score = coordination × harvest, so no threshold of its own: the weighted harvest indicators below (their weights) summed over ${HARVEST_FULL_EVIDENCE}, at most 1${others ? '; read over the members but the busiest (place_busiest_member_share)' : ''}` },
        ...(spreadPass ? embeddingSpreadReasons(spread!, this.config.embedding_max_concentration, null) : []),
        ...indicatorReasons(indicatorsOf(values, read, 0, peers)),
      ];
      st.verdict = {
        subject: { kind: 'cluster', id: c.id }, level: VERDICT_LEVELS[st.level], score: round(score),
        source: 'detector', since: new Date(st.since * 1000).toISOString(), reasons, campaign_id: c.campaignId,
      };
      if (changed) this.emit(st.verdict);
    } else if (st.level === 0) st.verdict = null;
  }

  /** The members of the cluster whose root is `root` (its circular list). */
  private *memberIndexes(root: number): Generator<number> {
    let j = root;
    do { yield j; j = this.accounts.next[j]; } while (j !== root);
  }

  /** Whether a verdict at `level` with this score is held there by hysteresis (its score below the level's threshold). */
  private held(level: number, score: number): boolean {
    return level > 0 && score < this.thresholds[level];
  }


  /**
   * Move a level state on the ladder: up at once when the score reaches a higher threshold; down
   * one step only after the score has stayed below (threshold - margin) for the cooldown. Above
   * `max`, down one step at once, or to `max` (or the score's level) at once with `toMax`.
   */
  private applyLadder(st: LevelState, score: number, now: number, max: number, toMax = false): boolean {
    let target = 0;
    for (let l = 1; l < this.thresholds.length; l++) if (score >= this.thresholds[l]) target = l;
    if (target > max) target = max;
    if (target > st.level) {
      st.level = target; st.since = now; st.belowSince = 0; st.score = score;
      return true;
    }
    st.score = score;
    if (st.level === 0) return false;
    const exit = this.thresholds[st.level] - this.config.hysteresis_margin;
    if (score < exit || st.level > max) {
      if (st.belowSince === 0) st.belowSince = now;
      if (now - st.belowSince >= this.config.cooldown_seconds || st.level > max) {
        st.level = Math.max(target, toMax && st.level > max ? max : st.level - 1); st.since = now; st.belowSince = 0;
        return true;
      }
    } else st.belowSince = 0;
    return false;
  }

  private emit(v: Verdict): void {
    // A cluster verdict goes out with the accounts it covers now (the cluster's members change later).
    const r = v.subject.kind === 'cluster' && this.listeners.length ? this.clusterById.get(v.subject.id) : undefined;
    const accounts = r === undefined ? undefined : this.membersOf(r);
    for (const l of this.listeners) { try { l(v, accounts); } catch { /* listeners must not break scoring */ } }
  }

  /** Subscribe to verdict changes (level transitions of accounts and clusters; a cluster's with its members). */
  onVerdict(listener: VerdictListener): () => void {
    this.listeners.push(listener);
    return () => { this.listeners = this.listeners.filter((l) => l !== listener); };
  }

  // ---------------------------------------------------------------- reading verdicts

  /**
   * Where account i's effective verdict comes from: the one rule `levelIndex` (what is served and
   * counted) and `forAccount` (what is enforced and shown) share. The allow-list first: it is the
   * exemption, `none` whatever else holds. Otherwise the account is held at the more severe of what
   * it is held at itself and what its cluster is held at. An operator's verdict on a subject
   * replaces the detector's on that subject (an account verdict the account's own, a cluster
   * verdict the cluster's), but never lowers what the other subject is held at: an operator who
   * singled out one member of a campaign must not keep it running when the campaign is suspended.
   * A tie goes to an operator's verdict, then to the account's side. An operator's `none` on an
   * account is an exemption, as an allow-list entry is: that was its meaning before the rule above,
   * and stored verdicts of earlier releases still carry it.
   */
  private verdictSource(i: number, c: ClusterState | undefined, allowList = true): VerdictSource {
    if (allowList && (this.accounts.flags[i] & 4)) return 'allow';
    const ma = this.operator.account.size ? this.operator.account.get(this.accounts.ids[i]) : undefined;
    if (ma && ma.level === 'none') return 'manual_account';
    if (c) {
      const mc = this.operator.live.size ? this.operator.live.get(c.id) : undefined;
      const account = ma ? verdictRank(ma.level) : this.accLevel[i];
      const cluster = mc ? verdictRank(mc.level) : c.verdict.level;
      if (cluster > account || (cluster === account && mc && !ma)) return mc ? 'manual_cluster' : 'cluster';
    }
    return ma ? 'manual_account' : 'own';
  }

  /** The cluster account i belongs to (undefined when it is alone). */
  private linkedCluster(i: number): ClusterState | undefined {
    const root = this.accounts.find(i);
    return root !== i || this.accounts.size[i] > 1 ? this.clusters.get(root) : undefined;
  }

  private levelIndex(i: number): number {
    this.operator.lapse();
    this.lapseAllowList();
    const c = this.linkedCluster(i);
    switch (this.verdictSource(i, c)) {
      case 'allow': return 0;
      case 'manual_account': return verdictRank(this.operator.account.get(this.accounts.ids[i])!.level);
      case 'manual_cluster': return verdictRank(this.operator.live.get(c!.id)!.level);
      case 'cluster': return c!.verdict.level;
      case 'own': return this.accLevel[i];
    }
  }

  /**
   * The effective verdict for an account: none when allow-listed, otherwise the more severe of the
   * account's (the operator's account verdict, else the detector's) and its cluster's (the
   * operator's cluster verdict, else the detector's): see verdictSource, and verdictPrecedence for
   * what was weighed.
   */
  forAccount(accountId: string): { level: VerdictLevel; verdict: Verdict | null; clusterId: string | null; orgCluster?: boolean } {
    this.operator.lapse();
    this.lapseAllowList();
    const i = this.accounts.index.get(accountId);
    if (i === undefined) {
      if (this.allowAccounts.has(accountId)) return { level: 'none', verdict: this.allowVerdict(accountId, undefined), clusterId: null };
      const manual = this.operator.account.get(accountId);
      if (manual) return { level: manual.level, verdict: manual, clusterId: null };
      return { level: 'none', verdict: null, clusterId: null };
    }
    const c = this.linkedCluster(i);
    const v = this.effective(i, accountId, c);
    // Said only when so, as replicas publish it (src/detect/shared.ts).
    return c && this.isOrgCluster(i, c) ? { ...v, orgCluster: true } : v;
  }

  private effective(i: number, accountId: string, c: ClusterState | undefined, source = this.verdictSource(i, c)): { level: VerdictLevel; verdict: Verdict | null; clusterId: string | null } {
    const clusterId = c ? c.id : null;
    switch (source) {
      case 'allow': return { level: 'none', verdict: this.allowVerdict(accountId, i), clusterId };
      case 'manual_account': { const m = this.operator.account.get(accountId)!; return { level: m.level, verdict: m, clusterId }; }
      case 'manual_cluster': { const m = this.operator.live.get(c!.id)!; return { level: m.level, verdict: m, clusterId }; }
      case 'cluster': return { level: VERDICT_LEVELS[c!.verdict.level], verdict: c!.verdict.verdict, clusterId };
      case 'own': {
        const own = this.accLevel[i];
        return own > 0 ? { level: VERDICT_LEVELS[own], verdict: this.accVerdicts.get(i) ?? null, clusterId } : { level: 'none', verdict: null, clusterId };
      }
    }
  }

  /**
   * Account i is served at the enterprise tier (the provider's contract) and every member of its
   * cluster c is in its organisation, a corroborated one: one customer, whose org limit pools it
   * (budgetClusterOf). Lower tiers keep the cluster budget: an org a fleet declares on a domain of
   * its own is corroborated too, and its tier's org limit is the provider's to raise.
   */
  private isOrgCluster(i: number, c: ClusterState): boolean {
    const org = this.accounts.org[i];
    return this.tier[i] === ENTERPRISE && org >= 0 && c.noOrg === 0 && c.apart === 0 && c.orgs.size === 1 && this.orgCorroborated(org);
  }

  /**
   * Which verdict decides an account's effective level (as forAccount gives it) and which it
   * outranks, and why: for the account view and the CLI, not the request path.
   */
  verdictPrecedence(accountId: string): VerdictPrecedence {
    const { level } = this.forAccount(accountId); // lapses operator verdicts whose time ran out
    const i = this.accounts.index.get(accountId);
    const c = i === undefined ? undefined : this.linkedCluster(i);
    const ma = this.operator.account.get(accountId);
    const mc = c ? this.operator.live.get(c.id) : undefined;
    const exempt = this.exemption(accountId);
    const all: WeighedVerdict[] = [];
    if (exempt) all.push({ source: 'allow_list', subject: exempt, level: 'none' });
    all.push(...this.weighed(accountId, i, c, ma, mc));
    const from = i !== undefined ? this.verdictSource(i, c) : exempt ? 'allow_list' : ma ? 'operator_account' : null;
    return decidePrecedence(level, all, from, exempt !== null, ma, mc);
  }

  /** The verdicts other than the allow-list weighed for account `accountId` (index i, cluster c): see verdictPrecedence. */
  private weighed(accountId: string, i: number | undefined, c: ClusterState | undefined, ma: Verdict | undefined, mc: Verdict | undefined): WeighedVerdict[] {
    const all: WeighedVerdict[] = [];
    if (ma) all.push({ source: 'operator_account', subject: { kind: 'account', id: accountId }, level: ma.level });
    if (i !== undefined && this.accLevel[i] > 0) all.push({ source: 'detector_account', subject: { kind: 'account', id: accountId }, level: VERDICT_LEVELS[this.accLevel[i]] });
    if (c && mc) all.push({ source: 'operator_cluster', subject: { kind: 'cluster', id: mc.subject.id }, level: mc.level });
    if (c && c.verdict.level > 0) all.push({ source: 'detector_cluster', subject: { kind: 'cluster', id: c.id }, level: VERDICT_LEVELS[c.verdict.level] });
    return all;
  }

  /**
   * What an allow-listed account would be held at without the allow-list, and why (its shadow
   * verdict); null when no allow-list entry exempts it. Read from what the engine holds anyway (the
   * detector keeps scoring an exempt account and its cluster): nothing is scored for it, and the
   * request path does not call it.
   */
  shadowVerdict(accountId: string): ShadowVerdict | null {
    const exempt = this.exemption(accountId);
    if (!exempt) return null;
    this.operator.lapse();
    const i = this.accounts.index.get(accountId);
    const c = i === undefined ? undefined : this.linkedCluster(i);
    const ma = this.operator.account.get(accountId);
    const mc = c ? this.operator.live.get(c.id) : undefined;
    let level: VerdictLevel = 'none';
    let verdict: Verdict | null = null;
    let source: VerdictSource | 'operator_account' | null = null;
    if (i !== undefined) {
      source = this.verdictSource(i, c, false);
      ({ level, verdict } = this.effective(i, accountId, c, source));
    } else if (ma) ({ level, verdict, source } = { level: ma.level, verdict: ma, source: 'operator_account' });
    if (level === 'none' && source !== 'manual_account' && source !== 'operator_account') source = null;
    const precedence = decidePrecedence(level, this.weighed(accountId, i, c, ma, mc), source, false, ma, mc);
    const cluster = c ? { id: c.id, level: VERDICT_LEVELS[c.verdict.level], score: round(c.verdict.score), size: c.members, actors: this.actorsOf(c), campaign_id: c.campaignId } : null;
    return { exempt_by: exempt, level, verdict, precedence, cluster };
  }

  /**
   * The allow-list entries in force (or the one named), each with the accounts it covers that the
   * detector holds as they would be held without it: how many at each level, and those above none
   * (at most `limit`, most severe first). For an operator deciding whether to renew an entry or let
   * it go. One pass over the org's members (the detector's per-org list), not over every account.
   */
  allowShadow(subject?: { account?: string; org?: string }, limit = 100): AllowEntryShadow[] {
    this.lapseAllowList();
    this.operator.lapse();
    const entries: Array<{ kind: 'account' | 'org'; id: string }> = subject
      ? subject.account ? (this.allowAccounts.has(subject.account) ? [{ kind: 'account', id: subject.account }] : [])
        : this.allowOrgs.has(subject.org!) ? [{ kind: 'org', id: subject.org! }] : []
      : [...[...this.allowOrgs].map((id) => ({ kind: 'org' as const, id })), ...[...this.allowAccounts].map((id) => ({ kind: 'account' as const, id }))];
    return entries.map(({ kind, id }) => {
      const held: number[] = [];
      let unseen: string[] = [];
      if (kind === 'account') {
        const i = this.accounts.index.get(id);
        if (i === undefined) unseen = [id]; else held.push(i);
      } else {
        const o = this.orgIds.get(id);
        if (o !== undefined) for (let i = this.orgHead[o] - 1; i >= 0; i = this.orgNext[i] - 1) if (this.orgEntryCovers(id, this.accounts.ids[i])) held.push(i);
        const members = this.allowOrgMembers.get(id);
        if (members) unseen = [...members].filter((a) => !this.accounts.index.has(a)).sort();
      }
      const levels = Object.fromEntries(VERDICT_LEVELS.map((l) => [l, 0])) as Record<VerdictLevel, number>;
      const rows: ShadowRow[] = [];
      let highest = 0;
      for (const i of held) {
        const accountId = this.accounts.ids[i];
        const c = this.linkedCluster(i);
        const source = this.verdictSource(i, c, false);
        const { level, verdict, clusterId } = this.effective(i, accountId, c, source);
        levels[level]++;
        const rank = verdictRank(level);
        if (rank > highest) highest = rank;
        if (rank === 0) continue;
        const row = this.accountRow(accountId);
        rows.push({
          account_id: accountId, level, decided_by: SHADOW_SOURCE[source], score: verdict?.score ?? null, cluster_id: clusterId,
          campaign_id: c?.campaignId ?? null, last_seen: row.last_seen, top_signal: row.top_signal,
        });
      }
      rows.sort((a, b) => verdictRank(b.level) - verdictRank(a.level) || (b.score ?? 0) - (a.score ?? 0) || (a.account_id < b.account_id ? -1 : 1));
      const scope = this.allowEntryScope({ [kind]: id });
      return {
        kind, id, expires_at: scope.expires_at, new_accounts: kind === 'org' && scope.members === null,
        covered: held.length, unseen, levels, highest: VERDICT_LEVELS[highest], accounts: rows.slice(0, limit),
      };
    });
  }

  /** The allow-list entry that exempts an account (its own, else its org's), or null. */
  exemption(accountId: string): Exemption | null {
    this.lapseAllowList();
    if (this.allowAccounts.has(accountId)) return { kind: 'account', id: accountId };
    const i = this.accounts.index.get(accountId);
    if (i === undefined || !(this.accounts.flags[i] & 4)) return null;
    const org = this.orgNow(i);
    return org === null ? null : { kind: 'org', id: org };
  }

  /** The org account i's latest event named. */
  private orgNow(i: number): string | null {
    const org = this.accounts.org[i];
    return org >= 0 ? this.orgNames[org] : null;
  }

  /** The allow-list flag of account i from its own entry and that of the org it is in now. */
  private setAllowed(i: number): void {
    const org = this.orgNow(i);
    const id = this.accounts.ids[i];
    const allowed = this.allowAccounts.has(id) || (org !== null && this.orgEntryCovers(org, id));
    this.accounts.flags[i] = allowed ? this.accounts.flags[i] | 4 : this.accounts.flags[i] & ~4;
  }

  /** The accounts the detector holds whose latest event names org `org`. */
  accountsInOrg(org: string): string[] {
    const out: string[] = [];
    const o = this.orgIds.get(org);
    if (o !== undefined) for (let i = this.orgHead[o] - 1; i >= 0; i = this.orgNext[i] - 1) out.push(this.accounts.ids[i]);
    return out;
  }

  /** Org `org` is on the allow-list and its entry covers account `id` (every account, or those it held when the entry was made). */
  private orgEntryCovers(org: string, id: string): boolean {
    if (!this.allowOrgs.has(org)) return false;
    const members = this.allowOrgMembers.get(org);
    return members === undefined || members.has(id);
  }

  /** Remove the allow-list entries whose time has run out, when one is due (a number compare otherwise: the request path calls this). */
  private lapseAllowList(): void {
    if (this.nextAllowExpiry === Infinity || this.nextAllowExpiry > Date.now()) return;
    const now = Date.now();
    const due: Array<[string, number]> = [];
    let next = Infinity;
    for (const [key, ms] of this.allowExpiry) {
      if (ms <= now) due.push([key, ms]); else if (ms < next) next = ms;
    }
    this.nextAllowExpiry = next;
    for (const [key, ms] of due) {
      const sep = key.indexOf(':');
      const subject = key.slice(0, sep) === 'account' ? { account: key.slice(sep + 1) } : { org: key.slice(sep + 1) };
      this.disallow(subject, { note: `lapsed: set until ${new Date(ms).toISOString()}`, by: null }, true);
    }
  }

  /** What an allow-list entry covers and until when: `members` (an org's entry that covers only the accounts it held when made), `expires_at`. */
  allowEntryScope(subject: { account?: string; org?: string }): { members: string[] | null; expires_at: string | null } {
    this.lapseAllowList();
    const ms = this.allowExpiry.get(subject.account ? `account:${subject.account}` : `org:${subject.org}`);
    const members = subject.org ? this.allowOrgMembers.get(subject.org) : undefined;
    return { members: members ? [...members] : null, expires_at: ms === undefined ? null : new Date(ms).toISOString() };
  }

  /** Members of a cluster its verdicts do not reach: allow-listed, or held at `none` by an operator's account verdict. */
  clusterExemptions(clusterId: string): Array<{ account: string; exempt_by: NotReachedBy }> {
    const r = this.clusterById.get(clusterId);
    if (r === undefined) return [];
    const out: Array<{ account: string; exempt_by: NotReachedBy }> = [];
    for (const id of this.membersOf(r)) {
      const e = this.exemption(id) ?? (this.operator.account.get(id)?.level === 'none' ? { kind: 'operator_none' as const, id } : null);
      if (e) out.push({ account: id, exempt_by: e });
    }
    return out;
  }

  /**
   * The verdict of an allow-listed account (index i, when held): it names the entry that exempts it
   * (`account:ID` or `org:ID`), with the operator's note and who made it, `since` when it was made
   * (an entry of the configuration: since this process started, when it read it) and when it lapses. One object per
   * account and entry, kept until the allow-list changes: the request path reads it.
   */
  private allowVerdict(accountId: string, i: number | undefined): Verdict {
    const org = i === undefined || this.allowAccounts.has(accountId) ? null : this.orgNow(i);
    const key = org === null ? `account:${accountId}` : `org:${org}`;
    const cached = this.allowVerdicts.get(accountId);
    if (cached && cached.key === key) return cached.verdict;
    const meta = this.allowMeta.get(key);
    const ms = this.allowExpiry.get(key);
    const what = org === null ? 'its own allow-list entry' : `the allow-list entry of its organisation ${org}`;
    const detail = meta ? `${what}${meta.note ? `: ${meta.note}` : ''}` : `${what}, from the configuration (detect.allow.${org === null ? 'accounts' : 'orgs'})`;
    const verdict: Verdict = {
      subject: { kind: 'account', id: accountId }, level: 'none', score: null, source: 'operator', since: meta?.since ?? PROCESS_STARTED,
      reasons: [{ signal: ALLOW_LIST_SIGNAL, value: key, threshold: null, detail, ...(meta?.by ? { by: meta.by } : {}) }],
      ...(ms === undefined ? {} : { expires_at: new Date(ms).toISOString() }),
    };
    this.allowVerdicts.set(accountId, { key, verdict });
    return verdict;
  }

  // ---------------------------------------------------------------- operator overrides

  /**
   * Allow-list an account or org: its effective level is `none` whatever the detector says.
   * `decided`: an operator's decision made now (not one restored from the store), told to the
   * onAllowListChange listeners (the ledger records it, as it records operator verdicts).
   */
  allow(subject: { account?: string; org?: string }, decided?: AllowListDecision, scope: AllowListScope = {}): void {
    const key = subject.account ? `account:${subject.account}` : `org:${subject.org}`;
    this.allowVerdicts.clear();
    if (decided || scope.since) {
      this.allowMeta.set(key, { since: scope.since ?? new Date().toISOString(), note: decided ? decided.note : scope.note ?? null, by: decided ? decided.by : scope.by ?? null });
    } else this.allowMeta.delete(key);
    const ms = scope.expiresAt ? Date.parse(scope.expiresAt) : NaN;
    if (Number.isFinite(ms)) {
      this.allowExpiry.set(key, ms);
      if (ms < this.nextAllowExpiry) this.nextAllowExpiry = ms;
    } else this.allowExpiry.delete(key);
    if (subject.org) {
      if (scope.members) this.allowOrgMembers.set(subject.org, new Set(scope.members)); else this.allowOrgMembers.delete(subject.org);
    }
    if (subject.account) {
      this.allowAccounts.add(subject.account);
      const i = this.accounts.index.get(subject.account);
      if (i !== undefined) this.accounts.flags[i] |= 4;
    }
    if (subject.org) {
      this.allowOrgs.add(subject.org);
      this.setAllowedInOrg(subject.org);
    }
    if (decided) this.tellAllowList('added', subject, decided);
  }

  /** Set the allow-list flag again on every account org `id` holds now (its member list). */
  private setAllowedInOrg(id: string): void {
    const o = this.orgIds.get(id);
    if (o !== undefined) for (let i = this.orgHead[o] - 1; i >= 0; i = this.orgNext[i] - 1) this.setAllowed(i);
  }

  /** Remove an allow-list entry (`decided`: as for allow). */
  disallow(subject: { account?: string; org?: string }, decided?: AllowListDecision, lapsed = false): void {
    this.allowExpiry.delete(subject.account ? `account:${subject.account}` : `org:${subject.org}`);
    this.allowMeta.delete(subject.account ? `account:${subject.account}` : `org:${subject.org}`);
    this.allowVerdicts.clear();
    if (subject.org) this.allowOrgMembers.delete(subject.org);
    if (subject.account) {
      this.allowAccounts.delete(subject.account);
      const i = this.accounts.index.get(subject.account);
      if (i !== undefined) this.setAllowed(i);
    }
    if (subject.org) {
      this.allowOrgs.delete(subject.org);
      this.setAllowedInOrg(subject.org);
    }
    if (decided) this.tellAllowList('removed', subject, decided, lapsed);
  }

  /** Subscribe to operators' allow-list changes (each with the account's level in force after it). */
  onAllowListChange(listener: (c: AllowListChange) => void): () => void {
    this.allowListListeners.push(listener);
    return () => { this.allowListListeners = this.allowListListeners.filter((l) => l !== listener); };
  }

  private tellAllowList(action: AllowListChange['action'], subject: { account?: string; org?: string }, decided: AllowListDecision, lapsed = false): void {
    const change: AllowListChange = {
      ...(lapsed ? { lapsed: true } : {}),
      action, subject: subject.account ? { kind: 'account', id: subject.account } : { kind: 'org', id: subject.org! },
      level: subject.account ? this.forAccount(subject.account).level : null,
      note: decided.note, by: decided.by, at: new Date().toISOString(),
    };
    if (action === 'added') {
      const scope = this.allowEntryScope(subject);
      if (scope.members) change.accounts = scope.members;
      if (scope.expires_at) change.expires_at = scope.expires_at;
    }
    for (const l of this.allowListListeners) { try { l(change); } catch { /* listeners must not break the change */ } }
  }

  /**
   * Set an operator verdict on an account or cluster (it replaces the detector's verdict on that
   * subject: see verdictSource); `level: null` removes it. The note is kept as the explanation, with who set it (`by`, when known: it goes
   * wherever the verdict goes, the ledger included); `since` (ISO) when it was set, if not now.
   */
  setManualVerdict(subject: { kind: 'account' | 'cluster'; id: string }, level: VerdictLevel | null, note = 'operator decision', since?: string, expiresAt?: string | null, by?: string | null): Verdict | null {
    if (level === null) { this.operator.remove(subject, (id) => this.clusterById.has(id)); return null; }
    const v: Verdict = {
      subject, level, score: null, source: 'operator', since: since ?? new Date(this.now * 1000 || Date.now()).toISOString(),
      reasons: [{ signal: 'operator_verdict', value: level, threshold: null, detail: note, ...(by ? { by } : {}) }],
    };
    if (expiresAt) v.expires_at = expiresAt;
    this.operator.set(subject, v);
    this.emit(v);
    return v;
  }


  /**
   * Clear an operator verdict, saying so: the change is emitted as an operator verdict on the
   * subject with the level now in force for it (the detector's, or another operator verdict it
   * carries), its reason `operator_verdict_cleared` naming the level cleared, why (`detail`) and
   * who (`by`), so that the ledger records the clearing as it recorded the setting. Null when the
   * subject had no operator verdict.
   */
  clearManualVerdict(subject: { kind: 'account' | 'cluster'; id: string }, reason?: string | null, by?: string | null): Verdict | null {
    const had = this.operator.remove(subject, (id) => this.clusterById.has(id));
    if (!had) return null;
    let level: VerdictLevel = 'none';
    if (subject.kind === 'account') level = this.forAccount(subject.id).level;
    else {
      const live = this.operator.liveClusterId(subject.id);
      const r = this.clusterById.get(live);
      const c = r === undefined ? undefined : this.clusters.get(r);
      const carried = this.operator.live.get(live);
      level = carried ? carried.level : c ? VERDICT_LEVELS[c.verdict.level] : 'none';
    }
    const v: Verdict = {
      subject, level, score: null, source: 'operator', since: new Date().toISOString(),
      reasons: [{ signal: 'operator_verdict_cleared', value: had.level, threshold: null, detail: reason || 'operator verdict cleared', ...(by ? { by } : {}) }],
    };
    this.emit(v);
    return v;
  }

  // ---------------------------------------------------------------- reports

  /** Current statistics. */
  stats(): EngineStats {
    let campaigns = 0;
    for (const c of this.clusters.values()) if (c.campaignId) campaigns++;
    return { events: this.events, accounts: this.accounts.count - this.accounts.freeAccounts.length, forgotten: this.accounts.forgotten, clusters: this.clusters.size, campaigns, linkKeys: this.linkKeys.size, ticks: this.ticks };
  }

  /**
   * How many campaigns and accounts stand at each level (indexed by level rank): campaigns at
   * their cluster's level, accounts at the level in force (allow-list, operator verdicts, cluster).
   * One pass over the accounts held, for metrics at scrape time.
   */
  levelCounts(): { campaigns: number[]; accounts: number[] } {
    const campaigns = VERDICT_LEVELS.map(() => 0);
    const accounts = VERDICT_LEVELS.map(() => 0);
    for (const c of this.clusters.values()) if (c.campaignId) campaigns[c.verdict.level]++;
    for (const i of this.accounts.index.values()) accounts[this.levelIndex(i)]++;
    return { campaigns, accounts };
  }

  /** Event time of the latest event seen (ms since epoch). */
  get eventTimeMs(): number { return this.now * 1000; }

  /** Ids of the accounts in the cluster rooted at r. */
  private membersOf(r: number): string[] {
    const out: string[] = [this.accounts.ids[r]];
    for (let j = this.accounts.next[r]; j !== r; j = this.accounts.next[j]) out.push(this.accounts.ids[j]);
    return out;
  }

  /** Clusters with at least `minMembers` accounts (default 2), most severe first. */
  clusterSummaries(minMembers = 2): ClusterSummary[] {
    const out: ClusterSummary[] = [];
    for (const [r, c] of this.clusters) {
      if (c.members < minMembers) continue;
      out.push({
        id: c.id, members: this.membersOf(r), actors: this.actorsOf(c), level: VERDICT_LEVELS[c.verdict.level],
        score: round(c.verdict.score), requests: c.requests, campaign_id: c.campaignId, reasons: c.verdict.verdict?.reasons ?? [],
      });
    }
    return out.sort((a, b) => verdictRank(b.level) - verdictRank(a.level) || b.score - a.score || b.requests - a.requests);
  }

  /** Campaigns: clusters that reached throttle or above, with their evidence and timeline. */
  campaigns(): Campaign[] {
    const out: Campaign[] = [];
    for (const [r, c] of this.clusters) if (c.campaignId) out.push(this.campaignOf(r, c));
    return out.sort((a, b) => b.volume.requests - a.volume.requests);
  }

  /** One campaign by its id or its cluster's, or null (without describing every other one). */
  campaign(id: string): Campaign | null {
    // A merged-away id, or one a stored operator verdict was re-attached from after a replay.
    if (!this.clusterById.has(id)) id = this.resolveMerged(id) ?? (this.clusterById.has(this.operator.liveClusterId(id)) ? this.operator.liveClusterId(id) : id);
    const byCluster = this.clusterById.get(id);
    if (byCluster !== undefined) {
      const c = this.clusters.get(byCluster);
      return c?.campaignId ? this.campaignOf(byCluster, c) : null;
    }
    for (const [r, c] of this.clusters) if (c.campaignId === id) return this.campaignOf(r, c);
    return null;
  }

  /** The verification tier the account's latest event carried (null: not held). */
  accountTier(accountId: string): (typeof TIERS)[number] | null {
    const i = this.accounts.index.get(accountId);
    return i === undefined ? null : TIERS[this.tier[i]];
  }

  /** Whether the engine holds account `accountId` (it has seen its events and not forgotten it). */
  knows(accountId: string): boolean { return this.accounts.index.has(accountId); }

  /**
   * The campaign holding more than half of those of `accountIds` the engine knows (at least 2 of
   * them; at most one campaign can), with how many it holds of how many known; null if none does.
   * How a case finds its campaign when the detector knows neither its campaign's nor its cluster's
   * id (an engine rebuilt after a restart can name them otherwise). Accounts the engine does not
   * hold (a rebuilt engine replays only detect.replay_hours) do not count: a campaign that rotates
   * its accounts is still found by the ones it uses now.
   */
  campaignHolding(accountIds: readonly string[]): { campaign: Campaign; held: number; of: number } | null {
    const held = new Map<number, number>();
    let known = 0;
    for (const id of new Set(accountIds)) {
      const i = this.accounts.index.get(id);
      if (i !== undefined) { known++; const r = this.accounts.find(i); held.set(r, (held.get(r) ?? 0) + 1); }
    }
    if (known < 2) return null;
    for (const [r, n] of held) {
      const c = this.clusters.get(r);
      if (2 * n > known && c?.campaignId) return { campaign: this.campaignOf(r, c), held: n, of: known };
    }
    return null;
  }

  /** The campaign an account's cluster is, if any (a map read or two). */
  campaignIdOf(accountId: string): string | null {
    const cluster = this.forAccount(accountId).clusterId;
    const r = cluster === null ? undefined : this.clusterById.get(cluster);
    return (r === undefined ? null : this.clusters.get(r)?.campaignId) ?? null;
  }


  /** The flagged cluster rooted at r described as a campaign. */
  private campaignOf(r: number, c: ClusterState): Campaign {
    return describeCampaign(c, this.membersOf(r), this.embeddingSpread.requestsOf(this.memberIndexes(r), c.w[C.DECAY_TS]));
  }

  /** One cluster by id (members listed up to `maxMembers`), or null. */
  cluster(clusterId: string, maxMembers = 1000): (ClusterSummary & { size: number; flagged_at: string | null }) | null {
    const r = this.clusterById.get(clusterId) ?? this.clusterById.get(this.resolveMerged(clusterId) ?? '') ?? this.clusterById.get(this.operator.liveClusterId(clusterId));
    const c = r === undefined ? undefined : this.clusters.get(r);
    if (r === undefined || !c) return null;
    const members = this.membersOf(r);
    return {
      id: c.id, members: members.slice(0, maxMembers), size: members.length, actors: this.actorsOf(c),
      level: VERDICT_LEVELS[c.verdict.level], score: round(c.verdict.score), requests: c.requests, campaign_id: c.campaignId,
      reasons: c.verdict.verdict?.reasons ?? [], flagged_at: c.verdict.level > 0 ? new Date(c.verdict.since * 1000).toISOString() : null,
    };
  }

  /** Operator allow-list in force (config and run time). */
  allowList(): { accounts: string[]; orgs: string[] } {
    this.lapseAllowList();
    return { accounts: [...this.allowAccounts], orgs: [...this.allowOrgs] };
  }


  /** Operator verdicts in force. */
  manualVerdicts(): Verdict[] {
    this.operator.lapse();
    // A cluster verdict whose cluster merged into another says where it applies now.
    const merged = (v: Verdict): Verdict => {
      const at = this.operator.liveClusterId(v.subject.id);
      return at === v.subject.id ? v : { ...v, merged_into: at };
    };
    return [...this.operator.account.values(), ...[...this.operator.cluster.values()].map(merged)];
  }

  /** The detector's own verdict for an account (before overrides and cluster), or null. */
  accountVerdict(accountId: string): Verdict | null {
    const i = this.accounts.index.get(accountId);
    return i === undefined ? null : this.accVerdicts.get(i) ?? null;
  }

  /** Every account id seen, those in memory first (forgotten ones too when tracking for a report). */
  accountIds(): readonly string[] {
    if (this.accounts.freeAccounts.length === 0 && this.accounts.retired.size === 0) return this.accounts.ids;
    const out = this.accounts.ids.filter((id) => id !== '');
    for (const id of this.accounts.retired.keys()) if (!this.accounts.index.has(id)) out.push(id);
    return out;
  }

  /** First event time (ms) an account was served under each level, when tracking is on. */
  firstFlags(accountId: string): Partial<Record<VerdictLevel, number>> {
    const i = this.accounts.index.get(accountId);
    const out: Partial<Record<VerdictLevel, number>> = {};
    if (!this.trackFirst) return out;
    const old = this.accounts.retired.get(accountId)?.first;
    const base = i === undefined ? -1 : i * VERDICT_LEVELS.length;
    for (let l = 1; l < VERDICT_LEVELS.length; l++) {
      const now = base < 0 ? 0 : this.firstFlag[base + l];
      const t = old && old[l] > 0 && (now === 0 || old[l] < now) ? old[l] : now;
      if (t > 0) out[VERDICT_LEVELS[l]] = t * 1000;
    }
    return out;
  }

  /** Requests of an account served under each level (index = rank), when tracking is on. */
  servedByLevel(accountId: string): number[] {
    const i = this.accounts.index.get(accountId);
    if (!this.trackFirst) return VERDICT_LEVELS.map(() => 0);
    const out = i === undefined ? VERDICT_LEVELS.map(() => 0) : Array.from(this.served.subarray(i * VERDICT_LEVELS.length, (i + 1) * VERDICT_LEVELS.length));
    const old = this.accounts.retired.get(accountId);
    if (old) for (let l = 0; l < out.length; l++) out[l] += old.served[l];
    return out;
  }

  /**
   * Every account whose effective verdict is above none or that is linked to others (limits count
   * a cluster as one), as `forAccount` gives it, with the cluster verdicts they take theirs from
   * kept once each (`fromCluster`). What a node that runs the detector publishes for nodes that do
   * not (src/detect/shared.ts).
   */
  effectiveVerdicts(): { accounts: Map<string, SharedAccountVerdict>; clusters: Map<string, Verdict> } {
    const accounts = new Map<string, SharedAccountVerdict>();
    const clusters = new Map<string, Verdict>();
    this.operator.lapse();
    for (let i = 0; i < this.accounts.count; i++) {
      // Most accounts: alone, no verdict of their own, no operator's (a few array reads).
      if (this.accLevel[i] === 0 && this.accounts.parent[i] === i && this.accounts.size[i] === 1 && (this.operator.account.size === 0 || !this.operator.account.has(this.accounts.ids[i]))) continue;
      const id = this.accounts.ids[i];
      if (id === '') continue;
      const v = this.forAccount(id);
      if (v.level === 'none' && v.clusterId === null) continue;
      const fromCluster = v.verdict !== null && v.verdict.subject.kind === 'cluster';
      // Keyed by the live cluster (replicas look it up so), also when the verdict was set on a cluster that merged into it.
      if (fromCluster) clusters.set(v.clusterId ?? v.verdict!.subject.id, v.verdict!);
      accounts.set(id, { level: v.level, clusterId: v.clusterId, fromCluster, verdict: fromCluster ? null : v.verdict, ...(v.orgCluster ? { orgCluster: true } : {}) });
    }
    // Operator verdicts on accounts the detector has not seen (or has forgotten); the allow-list
    // first, as in forAccount (an exempt account is left out, as exempt known ones are: none).
    for (const [id, m] of this.operator.account) {
      if (!accounts.has(id) && !this.accounts.index.has(id) && !this.allowAccounts.has(id)) accounts.set(id, { level: m.level, clusterId: null, fromCluster: false, verdict: m });
    }
    return { accounts, clusters };
  }

  /**
   * Accounts as the detector's listing shows them: `ids` (a campaign's or a cluster's members,
   * whatever their level), or, without, every account held at a level above none. Flagged accounts
   * are found as effectiveVerdicts finds them: most accounts are skipped on a few array reads.
   */
  accountRows(ids?: readonly string[]): AccountRow[] {
    this.operator.lapse();
    const out: AccountRow[] = [];
    if (ids) {
      for (const id of ids) out.push(this.accountRow(id));
      return out;
    }
    for (let i = 0; i < this.accounts.count; i++) {
      if (this.accLevel[i] === 0 && this.accounts.parent[i] === i && this.accounts.size[i] === 1 && (this.operator.account.size === 0 || !this.operator.account.has(this.accounts.ids[i]))) continue;
      const id = this.accounts.ids[i];
      if (id === '' || this.levelIndex(i) === 0) continue;
      out.push(this.accountRow(id));
    }
    // Operator verdicts on accounts the detector has not seen (or has forgotten).
    for (const [id, m] of this.operator.account) {
      if (m.level !== 'none' && !this.accounts.index.has(id) && !this.allowAccounts.has(id)) out.push(this.accountRow(id));
    }
    return out;
  }

  private accountRow(id: string): AccountRow {
    const { level, verdict, clusterId } = this.forAccount(id);
    const i = this.accounts.index.get(id);
    if (i === undefined) return { account_id: id, level, score: verdict?.score ?? null, account_score: 0, cluster_id: null, campaign_id: null, last_seen: null, requests: 0, top_signal: null };
    const off = i * STRIDE;
    const r = clusterId === null ? undefined : this.clusterById.get(clusterId);
    let top: AccountRow['top_signal'] = null;
    for (const ind of this.accountIndicators(id)) {
      if (ind.contribution > 0 && (!top || ind.contribution > top.contribution)) top = { signal: ind.signal, value: round(ind.value), contribution: round(ind.contribution) };
    }
    const last = this.accounts.w[off + C.LAST_TS];
    return {
      account_id: id, level, score: verdict?.score ?? null, account_score: round(this.accScore[i]),
      cluster_id: clusterId, campaign_id: (r === undefined ? null : this.clusters.get(r)?.campaignId) ?? null,
      last_seen: last > 0 ? new Date(last * 1000).toISOString() : null, requests: this.accounts.w[off + C.TOTAL], top_signal: top,
    };
  }

  accountLink(accountId: string): AccountLink | null {
    const i = this.accounts.index.get(accountId);
    return i === undefined ? null : this.links.read(i, this.config.link_threshold);
  }

  /** Account-level harvest indicators (for explanations and debugging). */

  accountIndicators(accountId: string): Indicator[] {
    const i = this.accounts.index.get(accountId);
    return i === undefined ? [] : readIndicators(this.accounts.w, i * STRIDE, true, { peerMedian: this.peers.median(this.tier[i]), members: 1, topicBaseline: this.topicMix });
  }

  /** Ids of the accounts linked with this one (including itself), or [] if unknown. */
  clusterMembers(accountId: string): string[] {
    const i = this.accounts.index.get(accountId);
    if (i === undefined) return [];
    return this.membersOf(this.accounts.find(i));
  }
}
