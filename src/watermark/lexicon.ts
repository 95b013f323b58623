/**
 * Synonym groups for the lexical watermark. Every member of a group can replace every other in
 * ordinary prose without changing meaning or grammar: sentence adverbs, degree adverbs and
 * adjectives, and only those verb forms that are never nouns or irregular participles. Words with
 * common second senses ("use", "start", "change", "fast") are left out on purpose. A group with
 * `after` only applies right after one of those words ("for example" / "for instance").
 *
 * Changing this list changes which words carry the mark: a detector must use the lexicon version
 * the text was marked with (LEXICON_VERSION is part of every key id).
 */

export const LEXICON_VERSION = 1;

export interface LexiconGroup {
  /** Stable group id (its first member). */
  id: string;
  members: readonly string[];
  /** Members start with both vowel and consonant sounds: skipped after "a"/"an". */
  mixedInitial: boolean;
  /** Only after one of these (lower-case) words, when set. */
  after: ReadonlySet<string> | null;
  /** Never after one of these words (fixed phrases such as "a while", "as soon as"). */
  notAfter: ReadonlySet<string> | null;
  /** A keyword of programming languages, where it starts a line: never a slot at the start of a line. */
  notLineStart: boolean;
}

type GroupSpec = readonly string[] | { members: readonly string[]; after?: readonly string[]; notAfter?: readonly string[]; notLineStart?: boolean };

const GROUPS: GroupSpec[] = [
  // Connectives and sentence adverbs.
  ['therefore', 'thus'],
  ['moreover', 'furthermore', 'additionally'],
  ['nevertheless', 'nonetheless'],
  ['consequently', 'accordingly'],
  ['perhaps', 'maybe'],
  ['clearly', 'evidently'],
  ['certainly', 'definitely'],
  ['eventually', 'ultimately'],
  ['initially', 'originally'],
  ['basically', 'essentially', 'fundamentally'],
  // Frequency, degree and manner adverbs.
  ['often', 'frequently'],
  ['usually', 'typically', 'normally'],
  ['generally', 'broadly'],
  ['possibly', 'potentially'],
  ['truly', 'genuinely'],
  ['fairly', 'reasonably'],
  { members: ['soon', 'shortly'], notAfter: ['as', 'how', 'too'] },
  ['anyway', 'anyhow'],
  ['afterwards', 'afterward'],
  ['toward', 'towards'],
  ['upward', 'upwards'],
  ['downward', 'downwards'],
  ['backward', 'backwards'],
  ['commonly', 'widely'],
  ['sometimes', 'occasionally'],
  ['rarely', 'seldom'],
  ['almost', 'nearly'],
  ['mostly', 'mainly', 'largely', 'primarily'],
  ['completely', 'entirely', 'totally', 'fully'],
  ['quickly', 'rapidly', 'swiftly'],
  ['especially', 'particularly'],
  ['approximately', 'roughly'],
  ['immediately', 'instantly'],
  ['significantly', 'considerably', 'substantially'],
  ['slightly', 'somewhat'],
  ['extremely', 'exceptionally'],
  ['relatively', 'comparatively'],
  ['precisely', 'exactly'],
  ['properly', 'correctly'],
  ['recently', 'lately'],
  ['easily', 'readily'],
  // Adjectives.
  ['big', 'large'],
  ['huge', 'massive'],
  ['important', 'significant'],
  ['crucial', 'critical', 'vital'],
  ['main', 'primary', 'principal'],
  ['difficult', 'challenging'],
  ['simple', 'straightforward'],
  ['several', 'multiple'],
  ['entire', 'whole'],
  ['appropriate', 'suitable'],
  ['helpful', 'useful'],
  ['obvious', 'apparent'],
  ['specific', 'particular'],
  ['excellent', 'outstanding'],
  ['unusual', 'uncommon'],
  ['modern', 'contemporary'],
  ['previous', 'prior'],
  ['sufficient', 'adequate'],
  ['precise', 'exact'],
  ['tiny', 'minuscule'],
  ['additional', 'extra'],
  ['basic', 'elementary'],
  ['rapid', 'swift'],
  ['beautiful', 'lovely'],
  ['various', 'diverse'],
  ['similar', 'comparable'],
  // Prepositions and conjunctions with an exact variant.
  ['among', 'amongst'],
  // Loop keywords (`while True:`, `until x > 5`): code that is not recognised as code must not become `whilst True:`.
  { members: ['until', 'till'], notLineStart: true },
  { members: ['kind', 'sort'], after: ['what', 'this', 'that', 'some', 'any', 'which', 'every', 'other', 'same'] },
  { members: ['kinds', 'sorts'], after: ['what', 'these', 'those', 'all', 'different', 'many', 'various', 'other', 'some'] },
  { members: ['while', 'whilst'], notAfter: ['a', 'the', 'worth', 'worthwhile'], notLineStart: true },
  // Verb forms that are never nouns.
  ['demonstrate', 'illustrate'],
  ['demonstrates', 'illustrates'],
  ['modify', 'alter'],
  ['modifying', 'altering'],
  ['examine', 'inspect'],
  ['examining', 'inspecting'],
  ['choosing', 'selecting'],
  ['allows', 'enables'],
  ['attempting', 'trying'],
  ['contains', 'includes'],
  ['obtain', 'acquire'],
  ['purchased', 'bought'],
  ['suggests', 'indicates'],
  ['helps', 'assists'],
  ['begins', 'starts'],
  ['helping', 'assisting'],
  ['improve', 'enhance'],
  ['improves', 'enhances'],
  ['improving', 'enhancing'],
  ['improved', 'enhanced'],
  // Conditional: only in a fixed phrase.
  { members: ['example', 'instance'], after: ['for'] },
];

const VOWEL = /^[aeiou]/;

/** Word -> its group. Built once. */
export const LEXICON: ReadonlyMap<string, LexiconGroup> = (() => {
  const map = new Map<string, LexiconGroup>();
  for (const g of GROUPS) {
    const spec = Array.isArray(g) ? { members: g as readonly string[] } : (g as Exclude<GroupSpec, readonly string[]>);
    const members = spec.members;
    const after = 'after' in spec && spec.after ? new Set(spec.after) : null;
    const notAfter = 'notAfter' in spec && spec.notAfter ? new Set(spec.notAfter) : null;
    const starts = new Set(members.map((m) => VOWEL.test(m)));
    const group: LexiconGroup = { id: members[0], members, mixedInitial: starts.size > 1, after, notAfter, notLineStart: 'notLineStart' in spec && !!spec.notLineStart };
    for (const m of members) {
      if (map.has(m)) throw new Error(`watermark lexicon: "${m}" is in two groups`);
      map.set(m, group);
    }
  }
  return map;
})();
