/** Batch tests, Anthropic's and OpenAI's alike: one Warden set-up, and waiting for a batch to settle. */
import { startTestWarden, type TestWarden } from './warden.ts';

/** A Warden taking batches, with the keys of two identity-verified customers and one email-verified. */
export interface BatchWarden {
  t: TestWarden;
  alice: string;
  bob: string;
  /** The email-verified account's burst is 15 requests, then one a second: its batches are paced. */
  paced: string;
}

export async function startBatchWarden(): Promise<BatchWarden> {
  const t = await startTestWarden({ batches: { max_requests: 50, max_body_bytes: 200_000, max_queued_per_account: 60 } });
  return {
    t,
    alice: (await t.account('alice', 'identity_verified')).key,
    bob: (await t.account('bob', 'identity_verified')).key,
    paced: (await t.account('paced', 'email_verified')).key,
  };
}

/** The batch once `settled` holds of it, polling as a client would; after `ms` fails with `unsettled`'s account of it. */
export async function untilSettled<B>(retrieve: () => Promise<B>, settled: (b: B) => boolean, unsettled: (b: B) => string, ms: number): Promise<B> {
  const deadline = Date.now() + ms;
  for (;;) {
    const b = await retrieve();
    if (settled(b)) return b;
    if (Date.now() > deadline) throw new Error(unsettled(b));
    await new Promise((r) => setTimeout(r, 100));
  }
}
