/**
 * Numbered questions in one turn: "1. ... 2. ... 3. ..." asks for as many answers as a legacy
 * completions prompt array of those questions does (see extractPromptFeatures).
 */

/** Most items one turn counts for, as for a prompt array (its reads, not its weight, are bounded there). */
export const MAX_ITEMS = 16;
/** Fewer numbered items than this are one request: a question with a two-part follow-up is one ask. */
export const MIN_ITEMS = 3;
/** Characters of a turn searched for items: ten worked problems fit many times over. */
const SCAN_CHARS = 20_000;
/** An item shorter than this is a list entry ("1. Yes"), not a question of its own. */
const ITEM_MIN_CHARS = 20;
/** Characters of an item read for its question mark: a word problem's, not a later paragraph's. */
const ITEM_MAX_CHARS = 800;

// A line opening with a number (optionally "Q", "Question", "Problem", "Exercise") and ".", ")" or
// ":", or the fullwidth or ideographic marks Chinese and Japanese number with ("1．", "1）", "1、"),
// which need no space after them.
const NUMBERED = /(?:^|\n)[ \t]*(?:\*\*)?(?:(?:q|question|problem|exercise|task)[ \t]*)?(\d{1,2})(?:[.):](?:\*\*)?[ \t]+|[、．）：](?:\*\*)?[ \t]*)/gi;
// What asks for an answer: a question mark (the fullwidth one too), or a sentence or clause opening
// with a task verb or question word (", calculate the number of students."; "solve", "calculate" and
// "find" in Spanish, Portuguese, French, Italian, German and Russian too; "。求..." in Chinese), or a
// Japanese or Korean instruction to find or calculate. "Do not explain yourself" is a rule of a list
// of rules, so no auxiliaries.
const ASKS = /[?？]|(?:^|[.!:;,]\s+)(?:solve|calculate|compute|find|write|implement|create|explain|prove|determine|evaluate|simplify|derive|show|describe|generate|translate|summari[sz]e|design|list|compare|what|how|why|which|who)\b|(?:^|[.!:;,]\s+)(?:calcula|calcule|calculez|calcola|resuelve|resolva|résous|résolvez|berechne|bestimme|löse|вычисли|вычислите|найди|найдите|реши|решите)(?=[\s.,:;!])|(?:^|[。，：])\s*(?:求|计算|計算)|(?:求め|計算し)なさい|(?:구하|계산하)시오/i;

/**
 * How many independent questions a turn holds: numbered items in sequence from 1 (1, 2, 3, ...;
 * a list that restarts or skips is text, not a set), each at least ITEM_MIN_CHARS long and
 * asking something (a question mark or a task verb). 1 when fewer than MIN_ITEMS; at most MAX_ITEMS.
 */
export function enumeratedItems(text: string): number {
  if (text.length < MIN_ITEMS * ITEM_MIN_CHARS) return 1;
  const t = text.length > SCAN_CHARS ? text.slice(0, SCAN_CHARS) : text;
  // Most turns number nothing: plain searches (items on lines of their own, a first number) rule
  // them out before the pattern runs.
  const nl = t.indexOf('\n');
  if (nl < 0 || t.indexOf('\n', nl + 1) < 0) return 1;
  if (t.indexOf('1.') < 0 && t.indexOf('1)') < 0 && t.indexOf('1:') < 0 && t.indexOf('1、') < 0 && t.indexOf('1．') < 0 && t.indexOf('1）') < 0 && t.indexOf('1：') < 0) return 1;
  NUMBERED.lastIndex = 0;
  const starts: Array<{ n: number; at: number; body: number }> = [];
  for (let m = NUMBERED.exec(t); m; m = NUMBERED.exec(t)) {
    const n = Number(m[1]);
    const expected = starts.length + 1;
    if (n !== expected) {
      if (n !== 1) continue;
      // A new list from 1: keep the longer run seen so far.
      if (starts.length >= MIN_ITEMS) break;
      starts.length = 0;
    }
    starts.push({ n, at: m.index, body: m.index + m[0].length });
    if (starts.length > MAX_ITEMS * 2) break;
  }
  if (starts.length < MIN_ITEMS) return 1;
  let asking = 0;
  for (let k = 0; k < starts.length; k++) {
    // A question's text, not the rest of the message after the list.
    const end = Math.min(k + 1 < starts.length ? starts[k + 1].at : t.length, starts[k].body + ITEM_MAX_CHARS);
    const item = t.slice(starts[k].body, end).trim();
    if (item.length >= ITEM_MIN_CHARS && ASKS.test(item)) asking++;
  }
  return asking >= MIN_ITEMS ? Math.min(asking, MAX_ITEMS) : 1;
}
