// What the place rule's scenario tests share (src/detect/place-*.test.ts): an application's
// system prompt and client, a lab's benchmark wrapper around dataset items, an event maker for
// accounts linked (or not) by their network, signup address, mail domain and card, and forty
// established customers chatting on their own software, the population the rest is judged against.
import { DetectorEngine, buildLabelledEvents, verdictRank } from '../../src/detect/index.ts';
import type { InteractionEvent } from '../../src/events/index.ts';
import { detectPromptPool } from './detect-fixtures.ts';

export const pool = detectPromptPool();
const base = buildLabelledEvents(pool, { seed: 9, days: 1, organic: { hobbyist: 1 }, campaigns: [] }).events[0];
export const T0 = Date.parse('2026-05-04T08:00:00.000Z');
export const APP = 'You are DevPilot, a coding assistant inside the editor. Be concise and correct.';
export const SDK = 'OpenAI/Python 1.99.9';
/** The lab's (or a fleet's) benchmark wrapper: the working asked for on every item. */
export const wrap = (item: string) => `Solve the following problem. Let us think step by step, then give the final answer. Problem: ${item}`;
export const item = (k: number) => pool.maths[k % pool.maths.length];

export interface PlaceSender {
  /** The address sent from; default `${net}.20.30.x`, rotating over three hosts. */
  ip?: string;
  net: number;
  domain: string;
  signupIp: string;
  /** Output tokens of every answer. */
  out: number;
  card?: string | null;
  ua?: string;
  /** Default 30 hours. */
  createdHoursAgo?: number;
  /** First use this many days before T0; default none recorded. */
  usedDaysAgo?: number;
  /** The system prompt; default the application's (APP), null for none. */
  system?: string | null;
  /** Ask for logprobs (top 5). */
  logprobs?: boolean;
  /** The message; default the wrapper around item k. */
  text?: string;
}

/** An event maker: `make(account, secondsAfterT0, sender, k)`, each event numbered apart. */
export function placeSender() {
  let n = 0;
  return (id: string, sec: number, s: PlaceSender, k: number): InteractionEvent => {
    n++;
    const text = s.text ?? wrap(item(k));
    return {
      ...base, id: `${id}-${n}`, ts: new Date(T0 + sec * 1000).toISOString(), account_id: id, org_id: null, key_id: `key_${id}`,
      request: {
        ...base.request, system: s.system === undefined ? APP : s.system, messages: [{ role: 'user', text, chars: text.length }],
        params: { ...base.request.params, max_tokens: 2048, temperature: 0, logprobs: s.logprobs ? true : null, top_logprobs: s.logprobs ? 5 : null },
      },
      response: { ...base.response, input_tokens: Math.ceil(text.length / 4) + 20, output_tokens: s.out },
      client: { ...base.client, ip: s.ip ?? `${s.net}.20.30.${1 + (n % 3)}`, asn: 60_000 + s.net, user_agent: s.ua ?? SDK },
      account: {
        ...base.account!, tier: 'email_verified', programme: 'none', created_at: new Date(T0 - (s.createdHoursAgo ?? 30) * 3_600_000).toISOString(),
        payment_fp: s.card ?? null, signup_ip: s.signupIp, email_pattern: null, email_domain: s.domain,
        first_used_at: s.usedDaysAgo === undefined ? null : new Date(T0 - s.usedDaysAgo * 86_400_000).toISOString(),
      },
    };
  };
}

/** Forty established customers chatting on their own software: what the rest is judged against. */
export function customers(e: DetectorEngine, make: ReturnType<typeof placeSender>): void {
  const chat = ['What should I cook tonight with leeks and potatoes?', 'Write a short birthday message for my sister.', 'Summarise the plot of Middlemarch in three sentences.'];
  for (let c = 0; c < 40; c++) e.ingest(make(`acct_customer${c}`, c, { net: 150 + c, domain: 'gmail.com', card: `card-c${c}`, signupIp: `${150 + c}.9.9.9`, out: 200, ua: `Browser/${c}`, createdHoursAgo: 24 * 300, usedDaysAgo: 250, system: null, text: chat[c % chat.length] }, c));
}

/** The highest level each account was held at while the events went in (any verdict that covered it). */
export function highestLevels(e: DetectorEngine): Map<string, number> {
  const highest = new Map<string, number>();
  e.onVerdict((v, accounts) => {
    const ids = v.subject.kind === 'account' ? [v.subject.id] : accounts ?? [];
    for (const id of ids) highest.set(id, Math.max(highest.get(id) ?? 0, verdictRank(v.level)));
  });
  return highest;
}
