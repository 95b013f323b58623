/**
 * Anthropic Messages answers: withhold or summarise `thinking` blocks, streaming and not.
 *
 * Withheld (`none`): the thinking block becomes a `redacted_thinking` block whose `data` is a
 * sealed envelope of the original (mode `redacted`, the default: indices unchanged, multi-turn
 * tool use keeps working because Warden restores the block on the way back), or is removed and
 * later blocks re-indexed (mode `drop`). Summarised: the block keeps its type with summary text and
 * a sealed `signature`. Either way the stream is one a client SDK accumulates into a valid message.
 */
import type { OutputTransformer, SseEvent } from '../gateway/lifecycle.ts';
import type { AnswerFilterOptions } from './answer.ts';

interface HeldThinking { index: number; thinking: string; signature: string }

/** Replace a complete thinking block per the options (non-streaming, and the end of a streamed block). */
function replaceBlock(block: { thinking: string; signature: string }, opts: AnswerFilterOptions): Record<string, unknown> | null {
  const sealed = opts.seal.seal({ type: 'thinking', thinking: block.thinking, signature: block.signature });
  if (opts.reasoning === 'summary') {
    return { type: 'thinking', thinking: opts.summarise(block.thinking, opts.summaryMaxChars), signature: sealed };
  }
  if (opts.anthropicWithheld === 'drop') return null;
  return { type: 'redacted_thinking', data: sealed };
}

export function anthropicAnswerFilter(opts: AnswerFilterOptions): OutputTransformer {
  const withholdReasoning = opts.reasoning !== 'full';
  let held: HeldThinking | null = null;
  let shift = 0; // blocks dropped so far (mode drop)
  const note = () => opts.note?.(opts.reasoning === 'summary' ? 'reasoning:summarised' : 'reasoning:withheld');

  const emit = (event: string, obj: Record<string, unknown>): SseEvent => ({ event, data: JSON.stringify(obj) });

  return {
    sse(ev: SseEvent): SseEvent | SseEvent[] | null {
      if (!withholdReasoning) return ev;
      const type = ev.event;
      if (type !== 'content_block_start' && type !== 'content_block_delta' && type !== 'content_block_stop') return ev;
      let msg: Record<string, any>;
      try { msg = JSON.parse(ev.data); } catch { return ev; }
      if (type === 'content_block_start' && msg.content_block?.type === 'thinking') {
        held = { index: msg.index, thinking: String(msg.content_block.thinking ?? ''), signature: String(msg.content_block.signature ?? '') };
        return null;
      }
      if (held && msg.index === held.index) {
        if (type === 'content_block_delta') {
          if (msg.delta?.type === 'thinking_delta') held.thinking += msg.delta.thinking ?? '';
          else if (msg.delta?.type === 'signature_delta') held.signature = String(msg.delta.signature ?? '');
          return null;
        }
        // content_block_stop: emit the replacement block in one go.
        const block = held;
        held = null;
        note();
        const replacement = replaceBlock(block, opts);
        if (!replacement) { shift++; return null; }
        const index = block.index - shift;
        if (replacement.type === 'thinking') {
          return [
            emit('content_block_start', { type: 'content_block_start', index, content_block: { type: 'thinking', thinking: '', signature: '' } }),
            emit('content_block_delta', { type: 'content_block_delta', index, delta: { type: 'thinking_delta', thinking: replacement.thinking } }),
            emit('content_block_delta', { type: 'content_block_delta', index, delta: { type: 'signature_delta', signature: replacement.signature } }),
            emit('content_block_stop', { type: 'content_block_stop', index }),
          ];
        }
        return [
          emit('content_block_start', { type: 'content_block_start', index, content_block: replacement }),
          emit('content_block_stop', { type: 'content_block_stop', index }),
        ];
      }
      if (shift > 0 && typeof msg.index === 'number') {
        msg.index -= shift;
        return { event: ev.event, data: JSON.stringify(msg) };
      }
      return ev;
    },
    json(body: Record<string, unknown>): Record<string, unknown> {
      if (!withholdReasoning || !Array.isArray(body.content)) return body;
      const content: unknown[] = [];
      let changed = false;
      for (const block of body.content as Record<string, unknown>[]) {
        if (block && block.type === 'thinking') {
          changed = true;
          const r = replaceBlock({ thinking: String(block.thinking ?? ''), signature: String(block.signature ?? '') }, opts);
          if (r) content.push(r);
        } else content.push(block);
      }
      if (!changed) return body;
      note();
      return Object.assign({}, body, { content }); // not `{ ...body, content }`: see src/gateway/headers.ts
    },
    flush(): SseEvent[] { return []; },
  };
}

/**
 * Put sealed thinking blocks back into an Anthropic request before it goes upstream. Returns the
 * number restored; throws (via `onInvalid`) when an envelope does not open.
 */
export function restoreSealedThinking(body: Record<string, unknown>, seal: AnswerFilterOptions['seal'], onInvalid: () => never): number {
  const messages = body.messages;
  if (!Array.isArray(messages)) return 0;
  let restored = 0;
  for (const m of messages as Record<string, unknown>[]) {
    if (!m || m.role !== 'assistant' || !Array.isArray(m.content)) continue;
    const content = m.content as Record<string, unknown>[];
    for (let i = 0; i < content.length; i++) {
      const b = content[i];
      if (!b || typeof b !== 'object') continue;
      const envelope = b.type === 'redacted_thinking' ? b.data : b.type === 'thinking' ? b.signature : null;
      if (!isSealedString(envelope)) continue;
      const original = seal.open(envelope) as Record<string, unknown> | null;
      if (!original || original.type !== 'thinking') onInvalid();
      content[i] = { type: 'thinking', thinking: original.thinking, signature: original.signature };
      restored++;
    }
  }
  return restored;
}

function isSealedString(s: unknown): s is string { return typeof s === 'string' && s.startsWith('wdn1.'); }
