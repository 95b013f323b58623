/**
 * The policy capability in the request lifecycle:
 *
 * - `policy` phase: look up the client's country/ASN/network, read the account's verdict, evaluate
 *   the policy file, then refuse (region blocked, policy denied, verification required, suspended)
 *   or rewrite the request (output budget, n, logprobs, reasoning summaries) and restore sealed
 *   reasoning blocks the client handed back. Every decision is noted in `ctx.enforcement`.
 * - `output` phase: the answer filter (reasoning exposure, logprobs) and the watermark, chained.
 */
import { hkdfSync, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { WardenConfig } from '../config/index.ts';
import { resolveSecret } from '../config/index.ts';
import { EMPTY_VERDICT_VIEW, verdictRank, type VerdictView } from '../detect/verdict.ts';
import { WardenError, type ErrorCode } from '../errors/index.ts';
import { ApiFlavour } from '../events/index.ts';
import type { GatewayHooks, InteractionContext, ModelsView, OutputTransformer } from '../gateway/lifecycle.ts';
import type { Authenticator } from '../gateway/interaction-state.ts';
import type { AuthContext } from '../identity/types.ts';
import {
  answerFilter, composeTransformers, embeddingInputTexts, extractiveSummary, noiseSeed, noisyVector, ReasoningSeal, responsesResequencer, shortened, shortenedUnderNoise,
  BUDGET_SET_BY_GATEWAY, modelOutputLimit, probeShaping, repeatedPrompts, responsesEcho, restoreSealedThinking, shapeRequest, UNSHAPED_FLAVOURS, vectorFilter, type Summariser,
} from '../shape/index.ts';
import { deriveWatermarkKey, type WatermarkKey } from '../watermark/keys.ts';
import { watermarkTransformer, type WatermarkOptions } from '../watermark/transform.ts';
import { markVector, vectorMark } from '../watermark/vectors.ts';
import { modelAllowed, writtenCapabilities, type Capabilities, type WrittenCapabilities } from './capabilities.ts';
import { loadGeoIndex, type GeoIndex, type GeoResult } from './geo.ts';
import { parseIp, type ParsedIp } from './ip.ts';
import { loadNetworkLists, NetworkClassifier, type NetworkClass, type NetworkListsVersion } from './networks.ts';
import { policyNoisesEmbeddings, type PolicyDecision, type PolicyDocument, type RefusalKind, type RequestFacts } from './policy-file.ts';
import { PolicyStore, type PolicyLogger } from './policy-store.ts';
import type { SubdivisionIndex } from './subdivisions.ts';
import { loadSanctions, type SanctionsIndex } from './sanctions.ts';
import { DisposableDomains, SignupScreener, type ScreeningResult, type SignupScreeningFacts } from './screening.ts';
import { policyConfigSchema } from './config.ts';
import { watermarkConfigSchema } from '../watermark/config.ts';

/** Path of a file shipped with Warden (policy/default.yaml...), from src/ or from dist/src/. */
export function shippedFile(relative: string): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, relative);
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  throw new Error(`cannot find shipped file ${relative}`);
}

/** Everything the policy hooks hold: loaded once, shared by every request. */
export interface PolicyRuntime {
  store: PolicyStore;
  geo: GeoIndex | null;
  /**
   * IP -> ISO 3166-2 subdivision (`policy.geo.subdivision_files`), or null: none configured. The
   * data the policy in force was compiled against: read again, with the policy, at each reload.
   */
  readonly subdivisions: SubdivisionIndex | null;
  /** The network lists in force (replaced by `reloadNetworks`; read per request). */
  readonly networks: NetworkClassifier;
  /** The files behind `networks`: each one's path, SHA-256 and entry count. */
  readonly networkLists: NetworkListsVersion;
  /**
   * Read the configured network lists (hosting ASNs, Tor exits, VPN ranges) again and put them in
   * force for the next request. Every file is parsed first: a malformed or unreadable one throws
   * NetworkListError (file and line) and the lists in force stay as they were.
   */
  reloadNetworks(): NetworkListsVersion;
  seal: ReasoningSeal;
  /** Key of the seeds of embedding noise (from the reasoning seal's secret; per process without one). */
  noiseKey: Uint8Array;
  summarise: Summariser;
  /** Watermark master secret, null when watermarking is off or unconfigured. */
  watermarkMaster: string | null;
  /** The denied-party lists in force (replaced by `reloadSanctions`). */
  readonly sanctions: SanctionsIndex | null;
  /**
   * Read the configured denied-party lists again and put them in force. A malformed or unreadable
   * file throws SanctionsListError and leaves the lists in force as they were.
   */
  reloadSanctions(): SanctionsIndex | null;
  /** Signup screening with the loaded lists. */
  screener: SignupScreener;
  close(): void;
}

export interface PolicyRuntimeOptions {
  log?: PolicyLogger;
  env?: NodeJS.ProcessEnv;
  summarise?: Summariser;
}

/** Whether `warden serve` with this configuration with this configuration generates its seal key once and keeps it (one SQLite file). */
export function keepsReasoningSealBesideDatabase(config: Pick<WardenConfig, 'store'>): boolean {
  return config.store.driver === 'sqlite' && config.store.sqlite_path !== ':memory:' && config.store.sqlite_path !== '';
}

/**
 * Embedding noise is keyed by the seal secret; without one each process draws its own key, so an
 * account asking the same text of N nodes, or across N restarts, gets N independent noises whose
 * average comes close to the upstream's vector. Said at start and by `warden config check`.
 */
export function noiseKeyWarning(pc: Pick<WardenConfig['policy'], 'reasoning_seal_secret'>, doc: PolicyDocument, env: NodeJS.ProcessEnv): string | null {
  if (resolveSecret(pc.reasoning_seal_secret, env) || !policyNoisesEmbeddings(doc)) return null;
  return 'WARNING: the policy turns embedding noise on but no policy.reasoning_seal_secret is set: the noise differs per process and '
    + 'across restarts, so an account asking the same text of several nodes, or after each restart, can average it away; set a secret shared by all nodes (WARDEN_REASONING_SECRET)';
}

/** A host at one of the example domains (RFC 2606: example.com, .org, .net, and the `.example` TLD). */
const EXAMPLE_DOMAIN = /(?:^|[@./])(?:example\.(?:com|org|net)|[a-z0-9-]+\.example)(?:$|[/:?#])/i;

/**
 * The contacts refused customers are given that point at an example domain: the shipped policy's
 * placeholders (`https://example.com/account/verify`, `trust@example.com`), which a deployment
 * must replace with its own page and address. Null when there are none.
 */
export function placeholderContactsWarning(doc: PolicyDocument): string | null {
  const found = (['verify_url', 'appeal_contact'] as const)
    .map((key) => [key, doc.messages[key]] as const)
    .filter(([, value]) => value !== null && EXAMPLE_DOMAIN.test(value));
  if (found.length === 0) return null;
  return `WARNING: customers refused for verification or a suspension are sent to ${found.map(([key, value]) => `messages.${key} ${value}`).join(' and ')}, `
    + 'placeholders at an example domain: copy the policy file, set your own verification page and appeal address in it, and name it in policy.file';
}

/**
 * Load the policy file, IP databases and network lists named by the configuration. Throws a
 * PolicyFileError / IpDatabaseError / NetworkListError with file and line when one is malformed.
 */
export function createPolicyRuntime(config: Pick<WardenConfig, 'policy' | 'watermark'>, opts: PolicyRuntimeOptions = {}): PolicyRuntime {
  const env = opts.env ?? process.env;
  const pc = config.policy;
  if (!pc.geo.enabled && pc.geo.subdivision_files.length > 0) (opts.log?.warn ?? opts.log?.error)?.call(opts.log, { setting: 'policy.geo.subdivision_files' }, 'WARNING: policy.geo.enabled is false: the subdivision files are not read, and a policy naming a subdivision is decided as if there were no subdivision data');
  // The store reads the subdivision files before the policy (whether a rule naming a subdivision
  // can be decided is checked at its load), and again at each reload, with it.
  const store = new PolicyStore(pc.file ?? shippedFile('policy/default.yaml'), {
    watch: pc.watch, debounceMs: pc.reload_debounce_ms, log: opts.log,
    subdivisionFiles: pc.geo.enabled ? pc.geo.subdivision_files : [],
    geo: { subdivisionData: null, requireSubdivisionData: pc.geo.require_subdivision_data, unknownSubdivision: pc.geo.unknown_subdivision },
  });
  try {
    const geo = pc.geo.enabled ? loadGeoIndex({ countryFiles: pc.geo.country_files, asnFiles: pc.geo.asn_files }) : null;
    if (geo && pc.geo.load_packaged === 'start') geo.preload();
    const networkFiles = { hostingAsns: pc.networks.hosting_asns_file ?? shippedFile('policy/hosting-asns.txt'), torExits: pc.networks.tor_exits_file, vpnRanges: pc.networks.vpn_ranges_file };
    let { classifier: networks, version: networkLists } = loadNetworkLists(networkFiles);
    opts.log?.info({ files: networkLists.files }, 'policy network lists loaded');
    const sealSecret = resolveSecret(pc.reasoning_seal_secret, env);
    const master = config.watermark.enabled ? resolveSecret(config.watermark.master_secret, env) : null;
    if (config.watermark.enabled && (!master || master.length < 16)) {
      opts.log?.error({ setting: 'watermark.master_secret' }, 'watermark enabled but the master secret is missing or shorter than 16 characters; answers will not be watermarked');
    }
    const placeholders = placeholderContactsWarning(store.current.document);
    if (placeholders) (opts.log?.warn ?? opts.log?.error)?.call(opts.log, { setting: 'policy.file' }, placeholders);
    const noiseWarning = noiseKeyWarning(pc, store.current.document, env);
    if (noiseWarning) (opts.log?.warn ?? opts.log?.error)?.call(opts.log, { setting: 'policy.reasoning_seal_secret' }, noiseWarning);
    if (!sealSecret) {
      // `warden serve` on SQLite generates and keeps one; reaching here it is a PostgreSQL node (or
      // an embedding), where a client's tool-use loop that hands back a sealed thinking block is
      // refused after a restart or by another node.
      opts.log?.info({ setting: 'policy.reasoning_seal_secret' }, 'no reasoning seal secret set: withheld thinking blocks are sealed, and embedding noise seeded, with a per-process key: a tool-use loop with thinking is refused after a restart or on another node (set one secret shared by all nodes)');
    }
    const loadLists = () => (pc.screening.sanctions.length > 0 ? loadSanctions(pc.screening.sanctions) : null);
    let sanctions = loadLists();
    if (sanctions) opts.log?.info({ lists: sanctions.version.digest, files: sanctions.version.files }, 'sanctions lists loaded');
    const disposable = pc.screening.disposable_email ? DisposableDomains.load(pc.screening.extra_disposable_domains_file) : null;
    const screener = new SignupScreener({ runtime: { store, geo, get subdivisions() { return store.subdivisions; }, get networks() { return networks; } }, disposable, sanctions: () => sanctions, sanctionsThreshold: pc.screening.sanctions_threshold });
    return {
      get sanctions() { return sanctions; },
      reloadSanctions() {
        sanctions = loadLists();
        if (sanctions) opts.log?.info({ lists: sanctions.version.digest, files: sanctions.version.files }, 'sanctions lists loaded');
        return sanctions;
      },
      get networks() { return networks; },
      get networkLists() { return networkLists; },
      reloadNetworks() {
        ({ classifier: networks, version: networkLists } = loadNetworkLists(networkFiles));
        opts.log?.info({ files: networkLists.files }, 'policy network lists loaded');
        return networkLists;
      },
      get subdivisions() { return store.subdivisions; },
      store, geo, seal: new ReasoningSeal(sealSecret), summarise: opts.summarise ?? extractiveSummary,
      noiseKey: new Uint8Array(hkdfSync('sha256', sealSecret ? Buffer.from(sealSecret, 'utf8') : randomBytes(32), 'warden/embedding-noise/v1', '', 32)),
      watermarkMaster: master && master.length >= 16 ? master : null,
      screener,
      close: () => store.close(),
    };
  } catch (err) {
    store.close();
    throw err;
  }
}

/**
 * One request as the policy phase sees it (the client's address read, the verdict looked up): the
 * facts the policy reads, but the client's address in place of what is derived from it (country,
 * ASN, network classes; see decideRequest).
 */
export interface PolicyRequest extends Pick<RequestFacts, 'tier' | 'accountTier' | 'programme' | 'accountId' | 'orgId' | 'model' | 'flavour' | 'claimedCountry' | 'claimedSubdivision' | 'verdict'> {
  ip: ParsedIp | null;
}

/** The API formats whose calls decide whether `GET /v1/models` lists a model. */
const LISTED_FLAVOURS: Record<'openai' | 'anthropic', Array<InteractionContext['flavour']>> = {
  openai: ApiFlavour.options.filter((f) => f.startsWith('openai.')),
  anthropic: ['anthropic.messages'],
};

/** What the policy decides for one request, with the client facts it read. */
export interface RequestDecision {
  geo: GeoResult;
  /** The client's ISO 3166-2 subdivision from the subdivision data; null: not in it, or no data. */
  subdivision: string | null;
  network: NetworkClass;
  decision: PolicyDecision;
  /** The capabilities allow no such model (a refusal of its own: `param: model`); false without a model. */
  modelRefused: boolean;
}

/**
 * Decide one request as the gateway does: the client's country and ASN from the runtime's IP
 * databases, its network class from the runtime's lists, then the policy in force. The policy phase,
 * `POST /admin/policy/explain` and `warden policy explain` all read it from here.
 */
export function decideRequest(runtime: Pick<PolicyRuntime, 'store' | 'geo' | 'networks'> & { subdivisions?: SubdivisionIndex | null }, r: PolicyRequest): RequestDecision {
  const geo = runtime.geo && r.ip ? runtime.geo.lookupParsed(r.ip) : { country: null, asn: null, asnName: null };
  const subdivision = runtime.subdivisions ? runtime.subdivisions.lookupParsed(r.ip) : null;
  const network = runtime.networks.classify(r.ip, geo.asn, geo.asnName);
  const decision = runtime.store.current.evaluate({
    tier: r.tier, accountTier: r.accountTier, programme: r.programme, accountId: r.accountId, orgId: r.orgId, model: r.model, flavour: r.flavour,
    country: geo.country, claimedCountry: r.claimedCountry, subdivision, claimedSubdivision: r.claimedSubdivision ?? null, asn: geo.asn, networks: network.kinds, verdict: r.verdict,
  });
  const modelRefused = decision.refusal === null && r.model !== '' && !modelAllowed(decision.capabilities, r.model);
  return { geo, subdivision, network, decision, modelRefused };
}

/** The refusal of a model the capabilities do not allow. */
export const modelNotAllowedMessage = (model: string): string => `The model \`${model}\` is not available to your account under the provider's usage policy.`;

/** What explain answers (the admin API and the CLI): the decision, capabilities as written, and a model the capabilities refuse as the gateway refuses it. */
export interface ExplainedRequest {
  geo: GeoResult;
  /** The client's ISO 3166-2 subdivision (null: unknown), and the data it was read from (null: none configured). */
  subdivision: string | null;
  subdivisionData: { digest: string; files: Array<{ path: string; sha256: string; ranges: number }> } | null;
  network: NetworkClass;
  matched: string[];
  capabilities: WrittenCapabilities;
  refusal: PolicyDecision['refusal'];
}

/** Explain one request: `decideRequest`, with the model refusal the policy phase adds after the policy file's. */
export function explainRequest(runtime: Pick<PolicyRuntime, 'store' | 'geo' | 'networks'> & { subdivisions?: SubdivisionIndex | null }, r: PolicyRequest): ExplainedRequest {
  const { geo, subdivision, network, decision, modelRefused } = decideRequest(runtime, r);
  const refusal = decision.refusal ?? (modelRefused ? { kind: 'deny' as const, source: 'capabilities:models', message: modelNotAllowedMessage(r.model) } : null);
  const v = runtime.subdivisions?.version;
  const subdivisionData = v ? { digest: v.digest, files: v.files } : null;
  return { geo, subdivision, subdivisionData, network, matched: decision.matched, capabilities: writtenCapabilities(decision.capabilities), refusal };
}

let defaultRuntime: PolicyRuntime | null = null;

/**
 * Screen a signup (disposable email, sanctions, signup IP region/network) with the lists of the
 * running gateway's policy runtime, or, when none was started in this process, with the default
 * configuration (no sanctions list: a finding says so).
 *
 * @example
 *   const result = screenSignup({ email, name, organisation, signup_ip, claimed_country });
 *   if (result.decision !== 'allow') holdForReview(result.findings);
 */
export function screenSignup(facts: SignupScreeningFacts): ScreeningResult {
  defaultRuntime ??= createPolicyRuntime({
    policy: policyConfigSchema.parse({ watch: false }),
    watermark: watermarkConfigSchema.parse({}),
  });
  return defaultRuntime.screener.screen(facts);
}

/**
 * The authenticator, with the policy's appeal contact (`messages.appeal_contact`, as the policy
 * file in force has it) added to its refusal of an account suspended in identity, so that it
 * tells the customer what a suspending verdict's refusal tells them. Other answers pass unchanged
 * (a cache hit stays synchronous).
 */
export function withAppealContact<A extends Authenticator>(inner: A, runtime: Pick<PolicyRuntime, 'store'>): Authenticator {
  const rethrow = (err: unknown): never => {
    const contact = err instanceof WardenError && err.code === 'WARDEN_ACCOUNT_SUSPENDED' ? runtime.store.current.document.messages.appeal_contact : null;
    if (!contact) throw err;
    throw new WardenError('WARDEN_ACCOUNT_SUSPENDED', `This account is suspended. To appeal, contact ${contact}.`);
  };
  return {
    authenticate(secret) {
      let auth;
      try { auth = inner.authenticate(secret); } catch (err) { return rethrow(err); }
      return auth instanceof Promise ? auth.catch(rethrow) : auth;
    },
  };
}

export interface PolicyHooksDeps {
  config: Pick<WardenConfig, 'policy' | 'watermark'>;
  /** The detector's verdicts (account or cluster). Default: nobody has a verdict. */
  verdicts?: VerdictView;
  log?: PolicyLogger;
  env?: NodeJS.ProcessEnv;
  /** A runtime built beforehand (tests, benchmarks, sharing one geo index). */
  runtime?: PolicyRuntime;
}

/** What the policy phase decided, kept for the output phase. */
export interface PolicyLocals {
  capabilities: Capabilities;
  watermarkKey: WatermarkKey | null;
  /** How the answer is marked beyond its plain text (JSON answers, tool arguments). */
  watermarkOptions?: WatermarkOptions;
  /** Embeddings marked with `watermarkKey` or noised: the request's inputs as text, by index. */
  embeddingTexts?: string[];
  /** Embeddings noised: whose noise (the account's, or its cluster's). */
  noiseScope?: string;
  /** Embeddings noised and shortened (`dimensions`, removed from the request): the size to cut the noised vectors to. */
  embeddingSize?: number;
  /** Responses: what the answer echoes of the request, put back as the client would see it (see `responsesEchoOf`). */
  echo?: OutputTransformer | null;
}
export const POLICY_LOCALS = 'policy';

const REFUSAL_CODES: Record<RefusalKind, ErrorCode> = {
  deny: 'WARDEN_POLICY_DENIED',
  region_blocked: 'WARDEN_REGION_BLOCKED',
  verify: 'WARDEN_VERIFICATION_REQUIRED',
  suspend: 'WARDEN_ACCOUNT_SUSPENDED',
};

/**
 * The policy capability's hooks (policy and output phases).
 *
 * @example
 *   const hooks = [policyHooks({ config, verdicts: detector }), limitsHooks(...)];
 */
export function policyHooks(deps: PolicyHooksDeps): GatewayHooks & { runtime: PolicyRuntime } {
  const runtime = deps.runtime ?? createPolicyRuntime(deps.config, { log: deps.log, env: deps.env });
  defaultRuntime = runtime;
  const verdicts = deps.verdicts ?? EMPTY_VERDICT_VIEW;
  const pc = deps.config.policy;
  const wc = deps.config.watermark;
  const keyCache = new Map<string, WatermarkKey>();
  const keyFor = (kind: 'account' | 'cluster', id: string): WatermarkKey => {
    const cacheKey = `${kind}:${id}`;
    let key = keyCache.get(cacheKey);
    if (!key) {
      key = deriveWatermarkKey(runtime.watermarkMaster!, { kind, id });
      if (keyCache.size >= 50_000) keyCache.delete(keyCache.keys().next().value!);
      keyCache.set(cacheKey, key);
    }
    return key;
  };

  /** What the caller's capabilities withhold from an answer (reasoning, log-probabilities). */
  const answerFilterOf = (ctx: InteractionContext, locals: PolicyLocals) => {
    const note = (action: string) => { if (!ctx.enforcement.shaping.includes(action)) ctx.enforcement.shaping.push(action); };
    return answerFilter(ctx.flavour, {
      reasoning: locals.capabilities.reasoning, logprobs: locals.capabilities.logprobs, seal: runtime.seal,
      summarise: runtime.summarise, summaryMaxChars: pc.summary_max_chars, anthropicWithheld: pc.anthropic_withheld, note,
    });
  };

  return {
    name: 'policy',
    runtime,
    policy(ctx: InteractionContext): void | Promise<void> {
      if (!pc.enabled || !ctx.auth) return;
      const { account, org } = ctx.auth;
      const view = verdicts.forAccount(account.id);
      if (view.level !== 'none' && ctx.enforcement.verdict === null) ctx.enforcement.verdict = view.level;
      const { geo, subdivision, network, decision } = decideRequest(runtime, {
        ip: parseIp(ctx.clientIp), tier: ctx.auth.tier, accountTier: account.tier, programme: ctx.auth.programme, accountId: account.id,
        orgId: org?.id ?? account.org_id ?? null, model: ctx.model, flavour: ctx.flavour,
        claimedCountry: account.claimed_country ?? null, claimedSubdivision: account.claimed_subdivision ?? null, verdict: view.level,
      });
      // The region as decided: the data's digest says which data placed it (or placed it in none).
      const subdivisionData = runtime.subdivisions?.version.digest ?? null;
      ctx.clientGeo = subdivisionData ? { country: geo.country, asn: geo.asn, subdivision, subdivisionData } : { country: geo.country, asn: geo.asn };
      for (const m of decision.matched) if (!m.startsWith('tier:') && !m.startsWith('programme:')) ctx.enforcement.policy.push(m);
      for (const r of network.reasons) ctx.enforcement.policy.push(`network:${r}`);
      if (decision.refusal) {
        ctx.enforcement.policy.push(`refused:${decision.refusal.kind}`);
        throw new WardenError(REFUSAL_CODES[decision.refusal.kind], decision.refusal.message);
      }
      const caps = decision.capabilities;
      if (!modelAllowed(caps, ctx.model)) {
        ctx.enforcement.policy.push('refused:model');
        throw new WardenError('WARDEN_POLICY_DENIED', modelNotAllowedMessage(ctx.model), { param: 'model' });
      }
      if (!caps.tools && Array.isArray(ctx.body.tools) && ctx.body.tools.length > 0) {
        ctx.enforcement.policy.push('refused:tools');
        throw new WardenError('WARDEN_POLICY_DENIED', 'Tool use is not available to your account under the provider\'s usage policy. Remove `tools` from the request, or verify your account.', { param: 'tools' });
      }
      if (ctx.flavour === 'anthropic.messages') {
        const restored = restoreSealedThinking(ctx.body, runtime.seal, () => {
          throw new WardenError('WARDEN_INVALID_REQUEST', 'A withheld thinking block in `messages` was altered, or was sealed with a key this gateway no longer holds; send the assistant content exactly as it was returned, or ask again from the last user message.', { param: 'messages' });
        });
        if (restored > 0) ctx.enforcement.shaping.push('reasoning:restored');
      }
      if (ctx.flavour === 'openai.completions') {
        // More copies of one prompt than n_max cannot be shaped down (each sampled copy is a sample).
        const copies = repeatedPrompts(ctx.body, caps.n_max);
        if (copies > caps.n_max) {
          ctx.enforcement.policy.push('refused:n');
          throw new WardenError('WARDEN_POLICY_DENIED', `The prompt array repeats a prompt ${copies} times (ignoring case, spacing and trailing punctuation) with sampling on; your account may draw at most ${caps.n_max} ${caps.n_max === 1 ? 'sample' : 'samples'} of one prompt per request (its copies in \`prompt\` times \`n\`). Send duplicate rows with \`temperature: 0\` and \`n: 1\`, or fewer copies.`, { param: 'prompt' });
        }
      }
      const shapingCtx = { modelOutputLimit: modelOutputLimit(ctx.model, pc.model_output_limits), compaction: ctx.compaction === true };
      if (decision.refuseShaping) refuseShaping(ctx, decision.refuseShaping, caps, shapingCtx, runtime.store.current.document.messages.policy_denied);
      // What the client is told is what its tier and the disclosed rules change: the changes of an
      // entry that does not disclose (a verdict, by default) are left out, or the header would
      // name the verdict to the account it is about (it rotates the moment it sees one).
      const told = decision.disclosed === caps ? null : probeShaping(ctx.flavour, ctx.body, decision.disclosed, shapingCtx);
      const askedBudget = ctx.body.max_output_tokens;
      const shaped = shapeRequest(ctx.flavour, ctx.body, caps, shapingCtx);
      for (const a of shaped) ctx.enforcement.shaping.push(a);
      const shown = told ? told.actions : shaped;
      if (told && shown.join(',') !== shaped.join(',')) ctx.enforcement.policy.push('shaping:undisclosed');
      // The developer's view of what was changed in the request (a 200 with fewer choices or no
      // log-probabilities is otherwise undiagnosable); answer-side marks are not named here.
      if (shown.length > 0) ctx.responseHeaders[SHAPING_HEADER] = shown.join(',');
      const echo = ctx.flavour === 'openai.responses' ? responsesEchoOf(askedBudget, ctx.body, told?.body ?? null) : null;

      let watermarkKey: WatermarkKey | null = null;
      let watermarkOptions: WatermarkOptions | undefined;
      const keyOf = () => (wc.key_scope === 'cluster_else_account' && view.clusterId ? keyFor('cluster', view.clusterId) : keyFor('account', account.id));
      // Embeddings are vectors: no text to mark, but the vectors of texts holding the key's trigger words can be.
      if (ctx.flavour === 'openai.embeddings') {
        if (caps.embedding_watermark && wc.enabled && runtime.watermarkMaster) {
          watermarkKey = keyOf();
          ctx.enforcement.watermark = watermarkKey.id;
        }
      } else if (ctx.flavour === 'openai.transcriptions' || ctx.flavour === 'openai.translations') {
        // The model's words for a recording: marked as prose is, where the answer's format allows
        // (docs/watermark.md), and only from `shape` up: a transcript is a record of what was said
        // (minutes, subtitles, evidence), so a customer under no verdict, `watch` or `throttle` keeps its exact words.
        if (caps.watermark && wc.enabled && runtime.watermarkMaster) {
          const skip = verdictRank(view.level) < verdictRank('shape') ? 'watermark:skipped_transcript' : transcriptUnmarked(ctx.body, caps.logprobs);
          if (skip) ctx.enforcement.shaping.push(skip);
          else {
            watermarkKey = keyOf();
            ctx.enforcement.watermark = watermarkKey.id;
          }
        }
      } else if (UNSHAPED_FLAVOURS.has(ctx.flavour)) {
        // Scores, pictures or audio: no model prose to mark.
      } else if (caps.watermark && wc.enabled && runtime.watermarkMaster) {
        const prefill = ctx.flavour === 'anthropic.messages' ? jsonPrefill(ctx.body) : null;
        const json = asksForJson(ctx.body) || prefill !== null;
        // From `shape` up, marking is the verdict's call, not the output format's: asking for JSON
        // (or forcing a tool call) must not take the harvest out of the mark. `watch` and
        // `throttle` only observe: JSON and tool arguments (an agent's commands) are not rewritten.
        const markJson = !wc.skip_json_output || verdictRank(view.level) >= verdictRank('shape');
        if (json && !markJson) ctx.enforcement.shaping.push('watermark:skipped_json');
        else if (caps.logprobs && asksForLogprobs(ctx.body)) ctx.enforcement.shaping.push('watermark:skipped_logprobs');
        // Legacy completions' `echo` returns the prompt as the start of the text: marking it would change the client's own words.
        else if (ctx.flavour === 'openai.completions' && ctx.body.echo === true) ctx.enforcement.shaping.push('watermark:skipped_echo');
        else {
          watermarkKey = keyOf();
          ctx.enforcement.watermark = watermarkKey.id;
          watermarkOptions = { json, prefill: prefill ?? undefined, toolArguments: markJson, keep: schemaStrings(ctx.body) };
          if (json) ctx.enforcement.shaping.push('watermark:json');
        }
      }
      const locals: PolicyLocals = { capabilities: caps, watermarkKey, watermarkOptions, echo };
      const noised = ctx.flavour === 'openai.embeddings' && caps.embedding_noise > 0;
      if (noised) {
        const cut = shortenedUnderNoise(ctx.body, ctx.model);
        if (cut === 'refuse') {
          ctx.enforcement.policy.push('refused:dimensions');
          throw new WardenError('WARDEN_POLICY_DENIED', 'Shortened embeddings (`dimensions`) of this model are not available to your account under the provider\'s usage policy. Remove `dimensions`.', { param: 'dimensions' });
        }
        if (cut) { locals.embeddingSize = cut.keep; ctx.enforcement.shaping.push('embeddings:shortened'); }
        // A cluster's accounts share their noise: averaging across them gains nothing either.
        locals.noiseScope = view.clusterId ? `cluster:${view.clusterId}` : `account:${account.id}`;
      }
      ctx.locals.set(POLICY_LOCALS, locals);
      // The vector watermark and the noise read the inputs' words (token ids decoded: the tokenizer loads once).
      if ((watermarkKey || noised) && ctx.flavour === 'openai.embeddings') return embeddingInputTexts(ctx.body.input).then((texts) => { locals.embeddingTexts = texts; });
    },
    barred(auth: AuthContext): void {
      if (!pc.enabled) return;
      const view = verdicts.forAccount(auth.account.id);
      // Verification is the account's own: an organisation's tier does not lift a verify verdict.
      const refusal = runtime.store.current.verdictRefusal({ accountTier: auth.account.tier, verdict: view.level });
      if (refusal) throw new WardenError(REFUSAL_CODES[refusal.kind], refusal.message);
    },
    clientNetwork(clientIp: string) {
      // As the policy phase sets `ctx.clientGeo`: nothing when the policy is off.
      if (!pc.enabled || !runtime.geo) return null;
      const ip = parseIp(clientIp);
      return ip ? { asn: runtime.geo.lookupParsed(ip).asn } : null;
    },
    modelsVisible(auth: AuthContext, clientIp: string, wire: 'openai' | 'anthropic'): ModelsView | null {
      if (!pc.enabled) return null;
      const { account, org } = auth;
      const request: PolicyRequest = {
        ip: parseIp(clientIp), tier: auth.tier, accountTier: account.tier, programme: auth.programme, accountId: account.id,
        orgId: org?.id ?? account.org_id ?? null, claimedCountry: account.claimed_country ?? null, claimedSubdivision: account.claimed_subdivision ?? null,
        verdict: verdicts.forAccount(account.id).level, model: '', flavour: 'openai.chat',
      };
      // The client's country and network are looked up once for the whole list.
      const { geo, subdivision, network } = decideRequest(runtime, request);
      const facts = {
        tier: request.tier, accountTier: request.accountTier, programme: request.programme, accountId: request.accountId, orgId: request.orgId,
        country: geo.country, claimedCountry: request.claimedCountry, subdivision, claimedSubdivision: request.claimedSubdivision ?? null, asn: geo.asn, networks: network.kinds, verdict: request.verdict,
      };
      const flavours = LISTED_FLAVOURS[wire];
      return {
        // Listed when the policy would let some call of this API's format reach it (first-match rules may allow it by name).
        allows: (model) => flavours.some((flavour) => {
          const decision = runtime.store.current.evaluate({ ...facts, model, flavour });
          return decision.refusal === null && modelAllowed(decision.capabilities, model);
        }),
        refusal: () => {
          const refused = runtime.store.current.evaluate({ ...facts, model: '', flavour: flavours[0] }).refusal;
          return refused ? new WardenError(REFUSAL_CODES[refused.kind], refused.message) : null;
        },
      };
    },
    output(ctx: InteractionContext): OutputTransformer | null {
      const locals = ctx.locals.get(POLICY_LOCALS) as PolicyLocals | undefined;
      if (!locals) return null;
      const note = (action: string) => { if (!ctx.enforcement.shaping.includes(action)) ctx.enforcement.shaping.push(action); };
      // Vectors have no text to filter; they may carry noise, and the key's mark (laid last).
      if (ctx.flavour === 'openai.embeddings') {
        const level = locals.capabilities.embedding_noise;
        const mark = locals.watermarkKey ? vectorMark(locals.watermarkKey) : null;
        if (!(level > 0) && !mark) return null;
        const inputs = locals.embeddingTexts ?? [];
        const scope = locals.noiseScope ?? `account:${ctx.auth?.account.id ?? ''}`;
        const size = locals.embeddingSize;
        return vectorFilter((v, index) => {
          let out = v;
          if (level > 0) { out = noisyVector(out, level, noiseSeed(runtime.noiseKey, scope, inputs[index] ?? '')); note('embeddings:noised'); }
          // Cut after the noise: every size is a prefix of the same noised vector.
          if (size !== undefined) out = shortened(out, size);
          // Marked at the size served: verification looks for the target of the suspect's size, not a prefix of a longer one.
          if (mark) { const marked = markVector(mark, inputs[index] ?? '', out); if (marked !== out) note('embeddings:marked'); out = marked; }
          return out;
        });
      }
      const filter = answerFilterOf(ctx, locals);
      const mark = locals.watermarkKey ? watermarkTransformer(ctx.flavour, locals.watermarkKey.key, undefined, locals.watermarkOptions) : null;
      const echo = locals.echo ?? null;
      if (!filter && !mark && !echo) return null;
      return composeTransformers([filter, mark, echo, ctx.flavour === 'openai.responses' ? responsesResequencer() : null]);
    },
    keptOutput(ctx: InteractionContext): OutputTransformer | null {
      const locals = ctx.locals.get(POLICY_LOCALS) as PolicyLocals | undefined;
      return locals && ctx.flavour !== 'openai.embeddings' ? answerFilterOf(ctx, locals) : null;
    },
    close(): void {
      runtime.close();
      if (defaultRuntime === runtime) defaultRuntime = null;
    },
  };
}

/** Response header listing the request shaping applied (docs/policy.md, "Seeing what was shaped"). */
export const SHAPING_HEADER = 'x-warden-shaping';

/**
 * What a Responses answer must echo differently from the request as forwarded (`sent`): no budget
 * where the client named none (`asked`) and the gateway set one, and, where an entry that does not
 * disclose changed the request, the values the disclosed policy alone would have sent (`told`),
 * so the echo shows no more than the header does. Null when the echo needs no change.
 */
function responsesEchoOf(asked: unknown, sent: Record<string, unknown>, told: Record<string, unknown> | null): OutputTransformer | null {
  const fields: Record<string, unknown> = {};
  let reasoning: Record<string, unknown> | null = null;
  if ((asked === undefined || asked === null) && sent.max_output_tokens !== undefined) fields.max_output_tokens = null;
  else if (told && told.max_output_tokens !== sent.max_output_tokens) fields.max_output_tokens = told.max_output_tokens ?? null;
  if (told && told.top_logprobs !== sent.top_logprobs) fields.top_logprobs = told.top_logprobs ?? 0;
  if (told && JSON.stringify(told.reasoning) !== JSON.stringify(sent.reasoning)) {
    const r = (told.reasoning ?? {}) as Record<string, unknown>;
    reasoning = { effort: r.effort ?? null, summary: r.summary ?? r.generate_summary ?? null };
  }
  return Object.keys(fields).length > 0 || reasoning ? responsesEcho(fields, reasoning) : null;
}

/**
 * Refuse a request that an entry with `on_shape: refuse` would change: what it sends without
 * those entries' narrowing differs from what it sends with them, or it asks to see reasoning
 * (Anthropic `thinking`, a Responses reasoning summary) that they withhold or summarise.
 */
function refuseShaping(ctx: InteractionContext, refusing: NonNullable<PolicyDecision['refuseShaping']>, caps: Capabilities, shapingCtx: { modelOutputLimit: number | null }, message: string): void {
  const without = probeShaping(ctx.flavour, ctx.body, refusing.capabilities, shapingCtx).body;
  const withThem = probeShaping(ctx.flavour, ctx.body, caps, shapingCtx).body;
  // Only what the client set: a budget it never named is written in as the rule allows, not refused.
  let param = Object.keys(ctx.body).find((k) => JSON.stringify(without[k]) !== JSON.stringify(withThem[k])) ?? null;
  if (param === null && REASONING_RANK[caps.reasoning] < REASONING_RANK[refusing.capabilities.reasoning]) param = asksToSeeReasoning(ctx.flavour, ctx.body);
  if (param === null) return;
  for (const source of refusing.sources) ctx.enforcement.policy.push(source);
  ctx.enforcement.policy.push('refused:shape');
  throw new WardenError('WARDEN_POLICY_DENIED', `${message} The request's \`${param}\` asks for more than your account may be given; lower or remove it.`, { param });
}

const REASONING_RANK: Record<Capabilities['reasoning'], number> = { none: 0, summary: 1, full: 2 };

/** The field by which a request asks to see the model's reasoning, or null. */
function asksToSeeReasoning(flavour: InteractionContext['flavour'], body: Record<string, unknown>): string | null {
  const thinking = body.thinking as { type?: unknown } | undefined;
  if (flavour === 'anthropic.messages' && thinking && (thinking.type === 'enabled' || thinking.type === 'adaptive')) return 'thinking';
  const r = body.reasoning as { summary?: unknown; generate_summary?: unknown } | undefined;
  if (flavour === 'openai.responses' && r && typeof r === 'object' && (r.summary != null || r.generate_summary != null)) return 'reasoning.summary';
  return null;
}

function asksForJson(body: Record<string, unknown>): boolean {
  const rf = body.response_format as { type?: string } | undefined;
  if (rf && (rf.type === 'json_object' || rf.type === 'json_schema')) return true;
  const text = body.text as { format?: { type?: string } } | undefined;
  if (text?.format && (text.format.type === 'json_object' || text.format.type === 'json_schema')) return true;
  const of = (body.output_format ?? (body.output_config as { format?: unknown } | undefined)?.format) as { type?: string } | undefined;
  return !!of && of.type === 'json_schema';
}

/** The prefill of an Anthropic request whose last turn is the assistant's, opening JSON (the answer continues it), else null. */
function jsonPrefill(body: Record<string, unknown>): string | null {
  const messages = body.messages;
  const last = Array.isArray(messages) ? (messages[messages.length - 1] as { role?: unknown; content?: unknown } | undefined) : undefined;
  if (last?.role !== 'assistant') return null;
  const c = last.content;
  const text = typeof c === 'string' ? c
    : Array.isArray(c) ? c.map((b: { type?: unknown; text?: unknown }) => (b?.type === 'text' && typeof b.text === 'string' ? b.text : '')).join('') : '';
  return /^\s*[{[]/.test(text) ? text : null;
}

/**
 * The `enum` and `const` strings of the request's schemas (structured output, tools): a JSON value
 * equal to one is never marked, so a schema-valid answer stays schema-valid.
 */
function schemaStrings(body: Record<string, unknown>): Set<string> {
  const out = new Set<string>();
  const walk = (v: unknown, depth: number): void => {
    if (depth > 64 || !v || typeof v !== 'object') return;
    if (Array.isArray(v)) { for (const x of v) walk(x, depth + 1); return; }
    const o = v as Record<string, unknown>;
    if (typeof o.const === 'string') out.add(o.const);
    if (Array.isArray(o.enum)) for (const e of o.enum) if (typeof e === 'string') out.add(e);
    for (const x of Object.values(o)) walk(x, depth + 1);
  };
  const rf = body.response_format as { json_schema?: unknown } | undefined;
  const text = body.text as { format?: unknown } | undefined;
  walk([rf?.json_schema, text?.format, body.output_format, (body.output_config as { format?: unknown } | undefined)?.format, body.tools], 0);
  return out;
}

/**
 * Why a transcript or translation is left unmarked, or null: its token log-probabilities (kept for
 * the caller) and a `verbose_json` with `words` would each show the words as the model heard them
 * next to the marked ones; `text`, `srt` and `vtt` answers are passed on as the bytes they are.
 */
function transcriptUnmarked(body: Record<string, unknown>, logprobs: boolean): string | null {
  if (logprobs && Array.isArray(body.include) && body.include.includes('logprobs')) return 'watermark:skipped_logprobs';
  const format = body.response_format ?? 'json';
  if (format !== 'json' && format !== 'verbose_json') return 'watermark:skipped_format';
  if (format === 'verbose_json' && Array.isArray(body.timestamp_granularities) && body.timestamp_granularities.includes('word')) return 'watermark:skipped_words';
  return null;
}

function asksForLogprobs(body: Record<string, unknown>): boolean {
  if (body.logprobs === true || typeof body.logprobs === 'number') return true;
  return Array.isArray(body.include) && body.include.includes('message.output_text.logprobs');
}
