/**
 * The input a request's output/input ratio reads. The ratio tells a conversation, which carries its
 * history as input, from independent questions with long answers; a system prompt is neither. A
 * persona or an application's instructions, sent alike with every request (and cached by
 * providers, so nearly free), would otherwise lower the ratio of any harvest behind it below the
 * harvest-yield test's. Up to `STANDING_SYSTEM_CHARS` of system prompt are left out of the input;
 * a longer one carries material (retrieved passages, a pasted file), which is input as a
 * conversation's history is, and counts beyond that. Tool definitions stay in: an agent product's
 * steps with short tool results are single-shot requests with long answers, told from a harvest
 * by the input their tools take.
 */
import type { InteractionEvent } from '../events/index.ts';

/** System prompt characters left out of a request's input, about 512 tokens: a persona's length. */
export const STANDING_SYSTEM_CHARS = 2048;
/** Characters a token: English prose runs a little over 4, code and most other scripts under it, so this leaves out no more than the prompt took. */
const CHARS_PER_TOKEN = 4;

/** The request's input tokens without its standing system prompt (at least 1 when it had any input). */
export function inputBeyondStanding(ev: InteractionEvent): number {
  const input = ev.response.input_tokens;
  const system = ev.request.system;
  if (!system || input <= 0) return input;
  return Math.max(1, input - Math.floor(Math.min(system.length, STANDING_SYSTEM_CHARS) / CHARS_PER_TOKEN));
}
