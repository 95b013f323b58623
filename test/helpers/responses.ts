/** Background responses in tests: wait, polling as a client would, until one has finished. */
import type OpenAI from 'openai';

/** The response once it is neither queued nor in progress; fails after `ms`. */
export async function untilDone(client: OpenAI, id: string, ms = 20_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const r = await client.responses.retrieve(id);
    if (r.status !== 'queued' && r.status !== 'in_progress') return r;
    if (Date.now() > deadline) throw new Error(`response ${id} still ${r.status}`);
    await new Promise((res) => setTimeout(res, 50));
  }
}
