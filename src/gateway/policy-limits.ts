/**
 * The interaction's policy and limits phases: the `policy` hooks (which may refuse or rewrite the
 * body), the request's event brought up to date with what they changed, then the `limits` hooks.
 */
import { extractRequestFeatures, namesDocuments } from './request-features.ts';
import type { PipelineDeps, Run } from './interaction-state.ts';

/** Run the policy hooks, then the limits hooks; either may refuse (throw). */
export async function applyPolicyAndLimits(deps: PipelineDeps, run: Run): Promise<void> {
  const { ctx } = run;
  // A hook that decides at once returns nothing and costs no turn of the microtask queue.
  for (const h of deps.hooks) {
    const pending = h.policy?.(ctx);
    if (pending) await pending;
  }
  // A continued background response names the upstream's answer now (src/batches): the event
  // names the answer the model reads, as that answer's own event does.
  const previous = ctx.body.previous_response_id;
  if (run.request.previous_response_id !== undefined && typeof previous === 'string' && previous.length <= 256) run.request.previous_response_id = previous;
  // Files named by id are in place now (sent inline): the event describes the request as sent.
  if (namesDocuments(run.request)) {
    run.docs = deps.documents ? [] : null;
    run.request = extractRequestFeatures(ctx.flavour, ctx.body, run.bodyBytes, deps.features, run.docs);
  }
  for (const h of deps.hooks) {
    const pending = h.limits?.(ctx);
    if (pending) await pending;
  }
}
