/**
 * Partners' signing keys pinned again from a configuration read anew (SIGHUP, POST
 * /admin/intel/pins/reload): a partner that rotates its signing key is pinned without a restart.
 * Every pin is parsed before any is used, so a bad one changes nothing; then the partners and the
 * feeds take theirs in one turn of the event loop, between two requests.
 */
import type { FeedPoller } from './feeds.ts';
import type { Partners } from './partners.ts';
import { parsePin, type IntelPublicKey } from './signing.ts';

type Pin = string | readonly string[] | undefined;

/** The pins as the configuration now gives them (cases.partners[].public_key, cases.feeds[].public_key). */
export interface PinsWanted {
  partners: ReadonlyArray<{ name: string; public_key?: Pin }>;
  feeds: ReadonlyArray<{ name: string; public_key?: Pin }>;
}

/** One partner's or feed's pin that changed: key ids before and after (public key ids, never keys). */
export interface PinChange { kind: 'partner' | 'feed'; name: string; before: string[]; after: string[] }

export interface PinsReloaded {
  changed: PinChange[];
  /** Partners and feeds whose pins stayed as they were. */
  unchanged: number;
  /** Names the configuration adds or drops: partners and feeds themselves change only with a restart. */
  ignored: string[];
}

const ids = (keys: readonly IntelPublicKey[]) => keys.map((k) => k.keyId);
const same = (a: string[], b: string[]) => a.length === b.length && a.every((x, i) => x === b[i]);

/** Pin what `wanted` says; throws with the setting's name (nothing changed) when a pin is not a public key. */
export function reloadPins(partners: Partners, feeds: FeedPoller | null, wanted: PinsWanted): PinsReloaded {
  const parse = (setting: string, pin: Pin): IntelPublicKey[] => {
    try { return parsePin(pin); } catch (err) { throw new Error(`${setting}: ${(err as Error).message}`); }
  };
  const running = new Set(partners.names());
  const partnerPins = new Map<string, IntelPublicKey[]>();
  const ignored: string[] = [];
  wanted.partners.forEach((p, i) => {
    const keys = parse(`cases.partners.${i}.public_key`, p.public_key);
    if (running.has(p.name)) partnerPins.set(p.name, keys); else ignored.push(p.name);
  });
  for (const name of running) if (!partnerPins.has(name)) ignored.push(name);
  const feedNames = new Set(feeds?.names() ?? []);
  const feedPins = new Map<string, IntelPublicKey[]>();
  wanted.feeds.forEach((f, i) => {
    // A feed without a pin of its own is checked with its partner's (the new one).
    const keys = f.public_key !== undefined ? parse(`cases.feeds.${i}.public_key`, f.public_key) : partnerPins.get(f.name) ?? [...partners.publicKeysFor(f.name)];
    if (feedNames.has(f.name)) feedPins.set(f.name, keys); else ignored.push(`feed ${f.name}`);
  });
  for (const name of feedNames) if (!feedPins.has(name)) ignored.push(`feed ${name}`);

  const changed: PinChange[] = [];
  let unchanged = 0;
  for (const [name, keys] of partnerPins) {
    const before = ids(partners.publicKeysFor(name));
    if (same(before, ids(keys))) unchanged++; else changed.push({ kind: 'partner', name, before, after: ids(keys) });
  }
  for (const [name, keys] of feedPins) {
    const before = ids(feeds!.pinsOf(name));
    if (same(before, ids(keys))) unchanged++; else changed.push({ kind: 'feed', name, before, after: ids(keys) });
  }
  // Everything parsed: now swap, with no await in between.
  partners.setPins(partnerPins);
  feeds?.setPins(feedPins);
  return { changed, unchanged, ignored: [...new Set(ignored)] };
}

/** The log line of a reload: what changed, by key id. */
export function pinsReloadedLine(r: PinsReloaded): string {
  const list = (k: string[]) => (k.length ? k.join(', ') : 'none (taken unsigned)');
  const changes = r.changed.map((c) => `${c.kind} ${c.name}: ${list(c.before)} -> ${list(c.after)}`);
  const ignored = r.ignored.length ? `; partners and feeds added or removed take effect at restart (${r.ignored.join(', ')})` : '';
  return `cases: signing keys pinned again from the configuration: ${changes.length ? changes.join('; ') : 'no pin changed'}${r.unchanged ? ` (${r.unchanged} unchanged)` : ''}${ignored}`;
}
