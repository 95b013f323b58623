import { z } from 'zod';

/** Configuration of case files and threat-intel exchange (section `cases:` of warden.yaml). */
const LEVELS = ['watch', 'throttle', 'shape', 'verify', 'suspend'] as const;
/** As src/detect/intel.ts names them (PARTNER_TRUSTS, REVIEW_HOLDS): the schema does not load the detector. */
const PARTNER_TRUSTS = ['high', 'medium', 'low'] as const;
const REVIEW_HOLDS = ['all', 'prevalent', 'none'] as const;

/** localhost, 127.0.0.0/8 or ::1 (URL hostnames: IPv6 in brackets). */
function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** A partner's Ed25519 public key as its GET /admin/intel shows it under `signing`. */
const publicKey = z.string().regex(/^ed25519:[A-Za-z0-9_-]{43}$/, 'an ed25519 public key: "ed25519:" and 43 base64url characters, as the partner\'s GET /admin/intel shows it under signing');
/** One key, or a list of keys each accepted (a partner rotating its key: the one before and the new one). */
const publicKeyPin = z.union([publicKey, z.array(publicKey).min(1, 'at least one key (leave public_key out to pin none)').max(8)]);

/** A partner's TAXII 2.1 collection polled for indicators. */
const feedSchema = z.strictObject({
  /** The source name its indicators are recorded and explained under. */
  name: z.string().min(1).max(100).regex(/^[\w .:@-]+$/, 'letters, digits, spaces and . _ : @ -'),
  /** The collection's URL, e.g. https://partner.example/taxii2/intel/collections/<id>/ */
  url: z.url({ protocol: /^https?$/ }),
  /** The API key the partner issued you; `env:NAME` reads the environment. Never logged. */
  token: z.string().default(''),
  /** Send the token by HTTP Basic with this user name (some TAXII servers want it) instead of Bearer. */
  username: z.string().min(1).optional(),
  /** Level a matching account is held at (default: cases.import_level). */
  level: z.enum(LEVELS).optional(),
  /**
   * The partner's public key (`ed25519:...`, as its GET /admin/intel shows under `signing`): every
   * object the feed serves must carry the partner's good signature, or it is refused with the
   * reason. A list: a good signature by any of them (a partner rotating its key). Unset: the
   * pin of the partner of the same name (cases.partners[].public_key), else objects are taken
   * unsigned, with a warning.
   */
  public_key: publicKeyPin.optional(),
  every_seconds: z.number().int().min(10).default(300),
  timeout_seconds: z.number().positive().max(600).default(30),
}).strict().superRefine((f, ctx) => {
  // The token goes with every poll: over plain HTTP to another machine, in clear to anyone on the path.
  if (f.token !== '' && f.url.startsWith('http:') && !isLoopbackHost(new URL(f.url).hostname)) {
    ctx.addIssue({ code: 'custom', path: ['url'], message: 'a feed with a token must use https: over http the token would cross the network in clear (plain http is accepted only to a loopback address, e.g. a local tunnel)' });
  }
});
export type FeedConfig = z.infer<typeof feedSchema>;

/** A partner this provider exchanges indicators with: how far it is trusted, and the key agreed with it. */
const partnerSchema = z.strictObject({
  /** Its name as its TAXII key says (its organisation, else its account), as a feed of it is named, or as `--source` names it. */
  name: z.string().min(1).max(100).regex(/^[\w .:@-]+$/, 'letters, digits, spaces and . _ : @ -'),
  /**
   * The key agreed with this partner alone (`env:NAME` reads the environment; at least 16 characters):
   * what is published to it is hashed with it, in a collection of its own, and its indicators are
   * matched with it. Without one it uses cases.sharing_key until its key is rotated. Never logged.
   */
  key: z.string().optional(),
  /** How much its indicators count: high (at the level they came at), medium (at most throttle), low (at most watch). */
  trust: z.enum(PARTNER_TRUSTS).default('medium'),
  /** Which of its indicators wait for an operator's review before acting: all, prevalent (values many established accounts here share), none. Default by trust: low all, medium prevalent, high none. */
  hold: z.enum(REVIEW_HOLDS).optional(),
  /**
   * Its public key (`ed25519:...`, as its GET /admin/intel shows under `signing`), or a list (the
   * key before and the new one, while it rotates): every object it posts to the inbox, and every
   * object an operator imports in its name, must carry a good signature by one of them, or it is
   * refused with the reason. Its feed (cases.feeds of the same name) is checked with it unless the
   * feed pins its own. Unset: taken unsigned, with a warning.
   */
  public_key: publicKeyPin.optional(),
}).transform((p) => ({ ...p, hold: p.hold ?? (p.trust === 'low' ? 'all' as const : p.trust === 'high' ? 'none' as const : 'prevalent' as const) }));
export type PartnerConfig = z.infer<typeof partnerSchema>;

export const casesConfigSchema = z.strictObject({
  /** Case files, reports and indicator exchange on the nodes that run the detector (admin API, CLI). */
  enabled: z.boolean().default(true),
  /** This provider's name in exported bundles (the source partners see). */
  provider: z.string().min(1).default('Warden operator'),
  /**
   * Key partners agreed for exchanging indicators (HMAC-SHA256 of each value; at least 16
   * characters). `env:NAME` reads the environment. Without it nothing is exported or matched. Never logged.
   */
  sharing_key: z.string().default('env:WARDEN_INTEL_KEY'),
  /**
   * The key this provider signs what it shares with (Ed25519, `ed25519-private:...`; `env:NAME`
   * reads the environment): every object of the TAXII collections and of exported bundles carries
   * its signature, so that partners who pin the public key can tell its indicators from forged
   * ones. Unset: `intel-signing.key` beside the database, written (mode 0600) at first start. A
   * second line `next ed25519-private:... from <ISO time>` stages a rotation (that key signs from
   * then on: warden intel rotate-key writes it to the file). Never logged.
   */
  signing_key: z.string().default(''),
  /** Level an account matching an imported indicator is held at, unless the import says otherwise (weak kinds alone: watch). */
  import_level: z.enum(LEVELS).default('throttle'),
  /**
   * An imported indicator whose value more established accounts here already hold (sent the same
   * system prompt, paid with the same card, came from the same address: accounts 7 days old or
   * enterprise) is held for the operator's review instead of acting: a campaign's own software is
   * rare, a common system prompt or a carrier's address is not. 0: no bound.
   */
  max_indicator_accounts: z.number().int().min(0).default(20),
  /**
   * Indicators one partner (a feed, an inbox key) may have in force here: past it, its new ones are
   * skipped with the reason, so that no partner can fill the store and the detector's memory. An
   * operator's import is not bounded. 0: no bound.
   */
  max_indicators_per_source: z.number().int().min(0).default(20_000),
  /**
   * Days a partner's indicator applies at most from when it came (feeds, the inbox), whatever
   * valid_until it gives or none: a partner that stops publishing does not hold accounts for ever.
   * A new version from the partner starts the count again. 0: no bound.
   */
  max_indicator_days: z.number().int().min(0).max(36_500).default(365),
  /** Exported indicators stop applying after this many days. */
  export_valid_days: z.number().int().positive().max(3650).default(90),
  /** Bounds on what building a case reads from the event store. */
  max_members: z.number().int().positive().default(500),
  max_events_per_member: z.number().int().positive().default(200),
  max_events: z.number().int().positive().default(20_000),
  /** Events of the campaign's days read to find other accounts that used its values (only values few others used are shared). */
  max_window_events: z.number().int().positive().default(200_000),
  /**
   * A TAXII 2.1 server at /taxii2/ for partner providers (their keys carry the `intel:read` or
   * `intel:write` scope): the indicators of published cases, and an inbox for theirs.
   */
  taxii: z.strictObject({
    enabled: z.boolean().default(true),
    /** Largest body a partner may POST, bytes. */
    max_content_length: z.number().int().positive().max(256 * 1024 * 1024).default(10 * 1024 * 1024),
    /** Requests a partner's key may make per minute (bursts of half that); past it, 429 with Retry-After. */
    requests_per_minute: z.number().int().positive().max(100_000).default(120),
  }).strict().prefault({}),
  /** Partners exchanged with, each with its trust, its review hold and (optionally) a key of its own; a source not listed is matched as before: at its level, held when prevalent, with the shared key. */
  partners: z.array(partnerSchema).default([]).refine((f) => new Set(f.map((x) => x.name)).size === f.length, 'partner names must be unique'),
  /** Partners' TAXII 2.1 collections polled for indicators. */
  feeds: z.array(feedSchema).default([]).refine((f) => new Set(f.map((x) => x.name)).size === f.length, 'feed names must be unique'),
});
export type CasesConfig = z.infer<typeof casesConfigSchema>;

/**
 * The shortest sharing key accepted (by `warden serve` and `warden scan` alike): under a short key
 * the keyed hashes of values with few possibilities (addresses, ASNs) are easily brute-forced.
 */
export const MIN_SHARING_KEY_CHARS = 16;
