/**
 * Answer filters: per wire format, the output transformer that enforces reasoning exposure and
 * log-probability rules on the way back to the client, plus a composer for chaining transformers.
 */
import type { ApiFlavour } from '../events/index.ts';
import type { OutputTransformer, SseEvent } from '../gateway/lifecycle.ts';
import { anthropicAnswerFilter } from './answer-anthropic.ts';
import { UNSHAPED_FLAVOURS } from './request.ts';
import { chatAnswerFilter, completionsAnswerFilter, responsesAnswerFilter } from './answer-openai.ts';
import type { ReasoningSeal } from './seal.ts';
import type { Summariser } from './summary.ts';

export interface AnswerFilterOptions {
  reasoning: 'full' | 'summary' | 'none';
  logprobs: boolean;
  /** Seals withheld Anthropic thinking so it can be restored on the next turn. */
  seal: ReasoningSeal;
  summarise: Summariser;
  summaryMaxChars: number;
  /** Anthropic: send withheld thinking as `redacted_thinking` (default) or drop it and re-index. */
  anthropicWithheld: 'redacted' | 'drop';
  /** Told what was actually done (e.g. `reasoning:withheld`), for the event's enforcement notes. */
  note?: (action: string) => void;
}

/** The answer filter for a wire format, or null when it has nothing to do. */
export function answerFilter(flavour: ApiFlavour, opts: AnswerFilterOptions): OutputTransformer | null {
  if (flavour === 'openai.transcriptions') return opts.logprobs ? null : transcriptLogprobsFilter();
  if ((opts.reasoning === 'full' && opts.logprobs) || UNSHAPED_FLAVOURS.has(flavour)) return null;
  if (flavour === 'anthropic.messages') return opts.reasoning === 'full' ? null : anthropicAnswerFilter(opts);
  if (flavour === 'openai.chat') return chatAnswerFilter(opts);
  if (flavour === 'openai.completions') return opts.logprobs ? null : completionsAnswerFilter(opts); // no reasoning in legacy completions
  return responsesAnswerFilter(opts);
}

/**
 * A transcription's answer without log-probabilities: `logprobs` of the JSON answer and of the
 * streamed `transcript.text.delta` and `transcript.text.done` events (their request asked for none
 * once shaped; an upstream that sends them anyway is not believed). Other formats carry none.
 */
function transcriptLogprobsFilter(): OutputTransformer {
  const drop = (o: Record<string, unknown>) => { if ('logprobs' in o) delete o.logprobs; return o; };
  return {
    json: drop,
    sse(ev) {
      if (!ev.data.includes('"logprobs"')) return ev;
      try {
        const parsed = JSON.parse(ev.data) as unknown;
        if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return ev;
        return { ...ev, data: JSON.stringify(drop(parsed as Record<string, unknown>)) };
      } catch {
        return ev;
      }
    },
  };
}

/** Chain transformers: each event passes through every transformer in order; flushes cascade. */
export function composeTransformers(list: (OutputTransformer | null | undefined)[]): OutputTransformer | null {
  const ts = list.filter((t): t is OutputTransformer => !!t);
  if (ts.length === 0) return null;
  if (ts.length === 1) return ts[0];
  const run = (from: number, events: SseEvent[]): SseEvent[] => {
    let cur = events;
    for (let i = from; i < ts.length; i++) {
      const t = ts[i];
      if (!t.sse) continue;
      const next: SseEvent[] = [];
      for (const ev of cur) {
        const r = t.sse(ev);
        if (r === null) continue;
        if (Array.isArray(r)) next.push(...r); else next.push(r);
      }
      cur = next;
    }
    return cur;
  };
  // The chain leaves an event alone when each of its links does (each then sees it as it came).
  const judged = ts.filter((t) => t.sse);
  const passes = judged.every((t) => t.passes)
    ? (data: string, event: string | undefined) => judged.every((t) => t.passes!(data, event))
    : undefined;
  return {
    ...(passes ? { passes } : {}),
    sse(ev) {
      const out = run(0, [ev]);
      return out.length === 1 ? out[0] : out.length === 0 ? null : out;
    },
    json(body) {
      let b = body;
      for (const t of ts) if (t.json) b = t.json(b);
      return b;
    },
    flush() {
      // A transformer's flush output still passes through the transformers after it.
      const out: SseEvent[] = [];
      for (let i = 0; i < ts.length; i++) {
        const f = ts[i].flush?.() ?? [];
        if (f.length) out.push(...run(i + 1, f));
      }
      return out;
    },
  };
}
