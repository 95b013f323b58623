/**
 * Reasoning summaries. The default summariser is extractive and deterministic: the opening
 * sentence of each paragraph, in order, until the length budget is spent. It keeps the outline a
 * customer needs to follow the answer and drops the step-by-step trace a student model learns from.
 * Deployments with a summarising model can pass their own `Summariser`.
 */

/** Turns a full reasoning text into the text shown to the client. Must be deterministic. */
export type Summariser = (reasoning: string, maxChars: number) => string;

/** The default extractive summariser. */
export const extractiveSummary: Summariser = (reasoning, maxChars) => {
  const paragraphs = reasoning.split(/\n\s*\n|\n(?=\s*(?:[-*]|\d+[.)])\s)/).map((p) => p.trim()).filter(Boolean);
  const out: string[] = [];
  let used = 0;
  for (const p of paragraphs) {
    const first = firstSentence(p.replace(/\s+/g, ' '));
    if (!first) continue;
    const cost = first.length + (out.length ? 1 : 0);
    if (used + cost > maxChars) {
      if (out.length === 0) out.push(truncateWords(first, maxChars));
      break;
    }
    out.push(first);
    used += cost;
  }
  return out.join(' ');
};

function firstSentence(p: string): string {
  const m = /^(.+?[.!?])(?=\s|$)/.exec(p);
  return (m ? m[1] : p).trim();
}

function truncateWords(s: string, max: number): string {
  if (s.length <= max) return s;
  const cut = s.slice(0, Math.max(0, max - 1));
  const space = cut.lastIndexOf(' ');
  return (space > max / 2 ? cut.slice(0, space) : cut) + '…';
}
