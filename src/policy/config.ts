import { z } from 'zod';

/** One denied-party list file and the public format it is in. */
export const sanctionsSourceSchema = z.strictObject({
  /** `ofac_sdn` (sdn.csv), `ofac_alt` (alt.csv, aliases), `eu` (EU consolidated CSV), `uk` (UK OFSI consolidated CSV), `un` (UN consolidated XML), `generic` (name,type,aliases,program,source,id). */
  format: z.enum(['ofac_sdn', 'ofac_alt', 'eu', 'uk', 'un', 'generic']),
  path: z.string().min(1),
});
export type SanctionsSource = z.infer<typeof sanctionsSourceSchema>;

/**
 * Configuration of the policy capability (section `policy:` of warden.yaml). Relative paths are
 * resolved against the working directory; `null` means the data shipped with Warden.
 */
export const policyConfigSchema = z.strictObject({
  /** Apply the policy file at the boundary (geography, tiers, verdicts, reasoning exposure). */
  enabled: z.boolean().default(true),
  /** Policy file (YAML). null: the documented default policy shipped in policy/default.yaml. */
  file: z.string().nullable().default(null),
  /** Re-read the policy file and the subdivision range files when one changes (fs.watch), after `reload_debounce_ms` of quiet. */
  watch: z.boolean().default(true),
  reload_debounce_ms: z.number().int().min(0).default(250),
  /**
   * Secret sealing withheld Anthropic thinking blocks so a client can hand them back on the next
   * turn (tool use) without reading them. `env:NAME` reads the environment; null or unset: a
   * random per-process key (sealed blocks then only survive until restart).
   */
  reasoning_seal_secret: z.string().nullable().default('env:WARDEN_REASONING_SECRET'),
  /** How a withheld Anthropic thinking block is sent: `redacted` (a redacted_thinking block carrying the sealed original) or `drop` (removed, later blocks re-indexed). */
  anthropic_withheld: z.enum(['redacted', 'drop']).default('redacted'),
  /** Longest reasoning summary, characters. */
  summary_max_chars: z.number().int().positive().default(400),
  /**
   * Output limits of models (first match wins; `*` at the end: a prefix), checked before Warden's
   * table of known OpenAI models: a request naming no output budget gets the tier's ceiling only
   * when the model's limit is above it or unknown.
   */
  model_output_limits: z.array(z.strictObject({ model: z.string().min(1), max_output_tokens: z.number().int().positive() })).default([]),
  geo: z.strictObject({
    /** Look up country and ASN of each client IP. */
    enabled: z.boolean().default(true),
    /** IP -> country CSV files (start,end,country; dotted/colon or decimal). Empty: the @ip-location-db/geolite2-country package. */
    country_files: z.array(z.string()).default([]),
    /** IP -> ASN CSV files (start,end,asn,name). Empty: the @ip-location-db/asn package. */
    asn_files: z.array(z.string()).default([]),
    /**
     * When the installed packages' tables (seconds of CPU, 22 MB) are loaded: `start` (before the
     * node listens, so no customer's request waits on them) or `first_public_client` (a node whose
     * clients are all local never loads them; the first public client's request waits ~1.3 s).
     */
    load_packaged: z.enum(['start', 'first_public_client']).default('start'),
    /**
     * IP -> ISO 3166-2 subdivision range files (`start,end,UA-43`; docs/policy.md, "Sub-national
     * regions"), read at start. Empty: no subdivision data (a policy naming a subdivision is refused
     * unless `require_subdivision_data` is false).
     */
    subdivision_files: z.array(z.string()).default([]),
    /** Refuse (at start and on reload) a policy whose IP conditions name a subdivision of a country the subdivision data does not cover. */
    require_subdivision_data: z.boolean().default(true),
    /**
     * A client in a named subdivision's country whose subdivision is unknown (no range in the data):
     * `inside` counts it as in the named subdivisions (a deny rule refuses it: fail closed), `outside`
     * as not in them (fail open). Also how a claimed country without a claimed subdivision is read.
     */
    unknown_subdivision: z.enum(['inside', 'outside']).default('inside'),
  }).prefault({}),
  networks: z.strictObject({
    /** Curated hosting/datacenter ASN list. null: policy/hosting-asns.txt. */
    hosting_asns_file: z.string().nullable().default(null),
    /** Tor exit list (torbulkexitlist or exit-addresses format). null: none. */
    tor_exits_file: z.string().nullable().default(null),
    /** VPN ranges (one CIDR per line, optional label). null: none. */
    vpn_ranges_file: z.string().nullable().default(null),
  }).prefault({}),
  screening: z.strictObject({
    /** Check signup email domains against the disposable-email-domains package. */
    disposable_email: z.boolean().default(true),
    /** Extra disposable domains, one per line. */
    extra_disposable_domains_file: z.string().nullable().default(null),
    /** Denied-party lists. Empty: no sanctions screening (a finding says so). */
    sanctions: z.array(sanctionsSourceSchema).default([]),
    /** Similarity (0..1) at or above which a name is reported as a potential match. */
    sanctions_threshold: z.number().min(0.5).max(1).default(0.9),
    /**
     * What a potential match of an existing account (its name or its organisation's) does when the
     * lists are screened again: `suspend` holds the account for review (recorded with the actor
     * `screening`); `report` only lists it in the run's report and the log.
     */
    on_match: z.enum(['suspend', 'report']).default('suspend'),
    /** Screen every existing account when the node starts (the lists are loaded then too); `false` on all nodes but one of a fleet. */
    rescreen_at_start: z.boolean().default(true),
  }).prefault({}),
});
export type PolicyConfig = z.infer<typeof policyConfigSchema>;
