/**
 * Whether a PDF's text layer reads as language. What a PDF shows and what its text layer says are
 * two things: a font's ToUnicode map (or a font whose glyphs are drawn as other letters) can make
 * a page show a prompt while its extracted text is a letter-for-letter cipher, control characters,
 * or nothing at all (private-use code points, which pdf.js drops). A model shown the page (or
 * extracting it by other means) reads the prompt; Warden reads noise. Each font's text is judged
 * on its own, so a short remapped prompt under a page of plain cover text is still seen.
 *
 * Judged by properties real writing has in the Latin-script languages (and code) and a cipher of
 * it lacks: words with a vowel, and letter pairs common in writing. A cipher that keeps vowels
 * vowels and happens to land on common pairs, or a map to other plausible words, is not seen.
 * A page judged so is rendered and recognised when recognition is on (pdf.ts).
 */

/** What is collected of one font's text across a document, to judge it. */
export interface FontSample {
  /** Its text, up to SAMPLE_CHARS. */
  text: string;
  /** Glyphs it drew that extracted to nothing (estimated from their width). */
  silentGlyphs: number;
}

/** Characters of each font's text judged (the start of it). */
export const SAMPLE_CHARS = 4000;

/** Letter pairs common in writing (English's most frequent, which cover most pairs of the other Latin-script languages too). */
const COMMON_PAIRS = new Set(('th he in er an re on at en nd ti es or te of ed is it al ar st to nt ng se ha as ou io le ve co me de hi ri ro ic ne ea ra ce li ch ll be ma si om ur ca el ta la ns di fo ho pe ec pr no ct us ac ot il tr ly nc et ut ss so rs un lo wa ge ie wh ee wi em ad ol rt po we na ul ni ts mo ow pa im mi ai sh ir su id os iv ia am fi ci vi pl ig tu').split(' '));

/**
 * Below this share of common pairs a font's text is taken for a cipher: measured on prose in 13
 * Latin-script languages and code (0.39 for a list of Slavic and African names, 0.41 Polish,
 * 0.74 English) and on random ciphers of English, German and French (median 0.22).
 */
const MIN_COMMON_PAIR_SHARE = 0.3;
/** Pairs needed before the share is judged. */
const MIN_PAIRS = 60;
/** Above this share of words with no vowel (of lower-case or capitalised words of three letters or more) it is a cipher: 0 in the prose measured, most random ciphers' more. */
const MAX_VOWELLESS_SHARE = 0.3;
const MIN_WORDS = 12;
/** Above this share of control characters (or U+FFFD, or private-use code points) among its visible characters, a font's text is not text. */
const MAX_CONTROL_SHARE = 0.2;
const MIN_VISIBLE = 20;
/** Glyphs drawn that extract to nothing, at least this many in a font: more than an icon font's few. */
const MIN_SILENT_GLYPHS = 40;

const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\ufffd\ue000-\uf8ff]/gu;

/** Why a font's text does not read as language, or null when it may. */
export function unreadableFont(sample: FontSample): string | null {
  if (sample.silentGlyphs >= MIN_SILENT_GLYPHS) return `${Math.round(sample.silentGlyphs)} glyphs drawn with no text`;
  const visible = sample.text.replace(/\s+/g, '');
  if (visible.length >= MIN_VISIBLE) {
    const controls = visible.match(CONTROL)?.length ?? 0;
    if (controls / visible.length > MAX_CONTROL_SHARE) return `${controls} of ${visible.length} characters are control or private-use characters`;
  }
  // Lower-case or capitalised words of letters (accents folded): not acronyms, codes or identifiers in capitals.
  const words = (sample.text.normalize('NFD').replace(/\p{M}/gu, '').match(/\p{L}+/gu) ?? [])
    .filter((w) => w.length >= 2 && w.length <= 20 && /^\p{Lu}?\p{Ll}+$/u.test(w) && /^[a-z]+$/i.test(w));
  if (words.length >= MIN_WORDS) {
    // Of three letters or more: units and abbreviations (cm, kg, pp) have none.
    const long = words.filter((w) => w.length >= 3);
    const vowelless = long.filter((w) => !/[aeiouy]/i.test(w)).length;
    if (long.length >= MIN_WORDS && vowelless / long.length > MAX_VOWELLESS_SHARE) return `${vowelless} of ${long.length} words have no vowel`;
  }
  let pairs = 0;
  let common = 0;
  for (const w of words) {
    const l = w.toLowerCase();
    for (let i = 0; i + 1 < l.length; i++) { pairs++; if (COMMON_PAIRS.has(l.slice(i, i + 2))) common++; }
  }
  if (pairs >= MIN_PAIRS && common / pairs < MIN_COMMON_PAIR_SHARE) return `${common} of ${pairs} letter pairs are common in writing`;
  return null;
}

/** Collects each font's text as a document's pages are read. */
export class TextLayerCheck {
  private readonly fonts = new Map<string, FontSample>();

  /** A text item pdf.js extracted: its string, width and height (about its font size), in its font. */
  add(font: string, str: string, width: number, height: number): void {
    let s = this.fonts.get(font);
    if (!s) { s = { text: '', silentGlyphs: 0 }; this.fonts.set(font, s); }
    // Drawn but read as nothing (pdf.js drops private-use code points): about one glyph per half its height of width.
    if (str === '' && width > 0 && height > 0) s.silentGlyphs += width / (height / 2);
    else if (s.text.length < SAMPLE_CHARS) s.text += (s.text ? ' ' : '') + str.slice(0, SAMPLE_CHARS - s.text.length);
  }

  /** Why the document's text layer does not read as language (its first such font), or null. */
  verdict(): string | null {
    for (const sample of this.fonts.values()) {
      const why = unreadableFont(sample);
      if (why) return why;
    }
    return null;
  }
}
