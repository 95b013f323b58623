/**
 * What the mock model "says" for one request, independent of wire format: reasoning, answer
 * text and tool calls, cut to the output budget and stop sequences, with exact token counts.
 * The adapters for each API turn a plan into that API's JSON or SSE events.
 */
import { Rng, answerPieces, reasoningPieces } from './text.ts';
import { valueForSchema } from './schema-values.ts';

export { valueForSchema };
import { countTokens, tokenPieces } from './tokens.ts';

/** A tool the client offered: its name and JSON Schema for the arguments. */
export interface ToolSpec {
  name: string;
  schema: unknown;
}

/** How the client constrained tool use, normalised across APIs. */
export type ToolChoice = { mode: 'auto' } | { mode: 'none' } | { mode: 'required' } | { mode: 'named'; name: string };

export interface ToolDecisionInput {
  tools: ToolSpec[];
  choice: ToolChoice;
  /** Text of the last user turn. */
  lastUserText: string;
  /** True when the conversation ends with tool results: the model then answers in text. */
  endsWithToolResult: boolean;
  /** Whether several tools may be called in one turn. */
  parallel: boolean;
}

// "use the tool", "use a tool", "use tools", "call ...", "invoke ...".
const TOOL_REQUEST = /\buse (?:the |a |your |any )?tools?\b|\bcall\b|\binvoke\b/i;

/**
 * Deterministic tool use: tools are called when offered and either forced by `tool_choice`, or
 * (with `auto`) when the last user turn names a tool or asks to use/call one. A conversation that
 * ends with tool results is answered in text unless a tool is forced.
 */
export function decideTools(input: ToolDecisionInput, rng: Rng): ToolSpec[] {
  const { tools, choice } = input;
  if (tools.length === 0 || choice.mode === 'none') return [];
  if (choice.mode === 'named') {
    const tool = tools.find((t) => t.name === choice.name);
    return tool ? [tool] : [];
  }
  if (choice.mode === 'auto' && input.endsWithToolResult) return [];
  const text = input.lastUserText.toLowerCase();
  const mentioned = text.length > 0 ? tools.filter((t) => t.name.length > 0 && text.includes(t.name.toLowerCase())) : [];
  if (mentioned.length > 0) return input.parallel ? mentioned : [mentioned[0]];
  if (choice.mode === 'required' || TOOL_REQUEST.test(input.lastUserText)) return [rng.pick(tools)];
  return [];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Arguments for a tool call as the model would write them: compact JSON. */
export function toolArguments(tool: ToolSpec, rng: Rng): string {
  const value = valueForSchema(isRecord(tool.schema) ? tool.schema : { type: 'object', properties: {} }, tool.name, rng);
  return JSON.stringify(isRecord(value) ? value : {});
}

export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'stop_sequence';

export interface PlannedToolCall {
  name: string;
  /** Arguments JSON as emitted (incomplete if the budget ran out inside it). */
  arguments: string;
  /** Streaming fragments of `arguments`, one token each. */
  pieces: string[];
  /** Output tokens: name plus arguments. */
  tokens: number;
}

export interface Plan {
  /** Reasoning text pieces (one token each). */
  reasoning: string[];
  reasoningText: string;
  /** Answer text pieces (one token each, except after a stop-sequence cut). */
  text: string[];
  answerText: string;
  textTokens: number;
  toolCalls: PlannedToolCall[];
  /** All output tokens: reasoning + text + tool calls. */
  outputTokens: number;
  reasoningTokens: number;
  finish: FinishReason;
  /** The stop sequence that ended the text, if one did. */
  stopSequence: string | null;
}

export interface PlanInput {
  /** Seed for this choice: a hash of the request content, the server seed and the choice index. */
  seed: number;
  /** Answer length when the model is left to finish naturally. */
  answerTokens: number;
  /** Reasoning length (rounded up to a full sentence); 0 for no reasoning. */
  reasoningTokens: number;
  /** Hard cap on reasoning tokens, if any. */
  reasoningCap?: number | null;
  /** Output budget across reasoning, text and tool calls (max_tokens and friends); null: none. */
  maxTokens: number | null;
  tools: ToolSpec[];
  /** Text before the tool calls (Anthropic models usually say what they are about to do). */
  toolPreamble: boolean;
  stop: string[];
  /**
   * Structured output: the answer is JSON. `schema` set: a value satisfying that JSON Schema
   * (json_schema formats); null: `{"answer": "..."}` (json_object). Undefined: prose.
   */
  structured?: { schema: unknown } | undefined;
}

function cut(pieces: string[], budget: number): string[] {
  return budget >= pieces.length ? pieces : pieces.slice(0, Math.max(0, budget));
}

/** Builds the plan for one choice. Pure: the same input gives the same plan. */
export function buildPlan(input: PlanInput): Plan {
  let budget = input.maxTokens ?? Number.POSITIVE_INFINITY;
  let truncated = false;

  // Reasoning ends on a full sentence unless a hard cap (Anthropic's budget_tokens) cuts it.
  let reasoningAll = input.reasoningTokens > 0 ? reasoningPieces(input.reasoningTokens, new Rng(input.seed ^ 0x52e5)) : [];
  if (input.reasoningCap != null && reasoningAll.length > input.reasoningCap) reasoningAll = reasoningAll.slice(0, input.reasoningCap);
  const reasoning = cut(reasoningAll, budget);
  if (reasoning.length < reasoningAll.length) truncated = true;
  budget -= reasoning.length;

  let text: string[] = [];
  let textTokens = 0;
  const toolCalls: PlannedToolCall[] = [];
  const toolRng = new Rng(input.seed ^ 0x7001);

  if (input.tools.length > 0) {
    if (input.toolPreamble && budget > 0) {
      const names = input.tools.map((t) => t.name).join(' and ');
      const preamble = tokenPieces(`I'll use the ${names} tool${input.tools.length > 1 ? 's' : ''} to help with that.`);
      text = cut(preamble.pieces, budget);
      textTokens = text.length === preamble.pieces.length ? preamble.count : text.length;
      if (text.length < preamble.pieces.length) truncated = true;
      budget -= textTokens;
    }
    for (const tool of input.tools) {
      if (truncated) break;
      const nameTokens = countTokens(tool.name);
      if (budget < nameTokens) {
        truncated = true;
        break;
      }
      budget -= nameTokens;
      const args = toolArguments(tool, toolRng);
      const all = tokenPieces(args);
      const pieces = cut(all.pieces, budget);
      const argTokens = pieces.length === all.pieces.length ? all.count : pieces.length;
      if (pieces.length < all.pieces.length) truncated = true;
      budget -= argTokens;
      toolCalls.push({ name: tool.name, arguments: pieces.join(''), pieces, tokens: nameTokens + argTokens });
    }
  } else if (input.structured) {
    const rng = new Rng(input.seed ^ 0xa115);
    const schema = input.structured.schema;
    const json = schema == null ? JSON.stringify({ answer: answerPieces(input.answerTokens, rng).join('') }) : JSON.stringify(valueForSchema(schema, 'answer', rng));
    const all = tokenPieces(json);
    text = cut(all.pieces, budget);
    if (text.length < all.pieces.length) truncated = true;
    textTokens = truncated ? text.length : all.count;
  } else {
    const all = answerPieces(input.answerTokens, new Rng(input.seed ^ 0xa115));
    text = cut(all, budget);
    if (text.length < all.length) truncated = true;
    textTokens = text.length;
  }

  let answerText = text.join('');
  let stopSequence: string | null = null;
  if (input.stop.length > 0 && toolCalls.length === 0) {
    let at = -1;
    for (const s of input.stop) {
      if (s.length === 0) continue;
      const i = answerText.indexOf(s);
      if (i >= 0 && (at < 0 || i < at)) {
        at = i;
        stopSequence = s;
      }
    }
    if (at >= 0) {
      answerText = answerText.slice(0, at);
      const kept: string[] = [];
      let length = 0;
      for (const piece of text) {
        if (length + piece.length <= at) kept.push(piece);
        else {
          if (at > length) kept.push(piece.slice(0, at - length));
          break;
        }
        length += piece.length;
      }
      text = kept;
      textTokens = countTokens(answerText);
      truncated = false;
    }
  }

  const toolTokens = toolCalls.reduce((sum, c) => sum + c.tokens, 0);
  let finish: FinishReason;
  if (truncated) finish = 'length';
  else if (stopSequence !== null) finish = 'stop_sequence';
  else if (toolCalls.length > 0) finish = 'tool_calls';
  else finish = 'stop';

  return {
    reasoning,
    reasoningText: reasoning.join(''),
    text,
    answerText,
    textTokens,
    toolCalls,
    outputTokens: reasoning.length + textTokens + toolTokens,
    reasoningTokens: reasoning.length,
    finish,
    stopSequence,
  };
}
