/**
 * The PDFs and images a request carries, read while the upstream answers: whose turn they wait
 * for at the document reader, and their text added to the event before it is recorded.
 */
import type { EventRequest } from '../events/index.ts';
import type { AuthContext } from '../identity/types.ts';
import type { DocumentTurn } from '../documents/index.ts';
import { addDocumentText, type PendingDocument } from './request-features.ts';
import { FINISHED_LOCAL, type PipelineDeps, type Run } from './interaction-state.ts';

/** Start reading the request's documents, once the limits let it through. */
export function startReadingDocuments(deps: PipelineDeps, run: Run): void {
  const { ctx } = run;
  // PDFs and images are read while the upstream answers; the event waits for their text. (Not for a
  // request refused, nor one whose client has gone: its event is already recorded.)
  if (run.docs && run.docs.length && !run.finished && !ctx.abortReason && !ctx.locals.has(FINISHED_LOCAL) && ctx.auth) {
    run.documents = readDocuments(deps, run.docs, ctx.auth, run.request);
  }
}

/** Tiers whose documents wait in the first lane: accounts whose holder is known. */
const TRUSTED_TIERS: ReadonlySet<string> = new Set(['identity_verified', 'enterprise']);

/**
 * Whose turn a request's documents wait for at the reader: the account's linked cluster (one
 * actor to the detector), else its organisation, else the account; in the first lane for
 * accounts whose holder is known (identity-verified, enterprise), the second for the rest. A
 * fleet of new accounts then shares half the reader, and a linked one a single turn in its lane.
 */
export function documentTurn(auth: AuthContext, clusterOf?: (accountId: string) => string | null): DocumentTurn {
  const cluster = clusterOf?.(auth.account.id) ?? null;
  const orgId = auth.org?.id ?? auth.account.org_id ?? null;
  const group = cluster ? `cluster:${cluster}` : orgId ? `org:${orgId}` : `account:${auth.account.id}`;
  return { group, lane: TRUSTED_TIERS.has(auth.tier) ? 0 : 1 };
}

/**
 * Read a request's PDFs and images. Resolves (never rejects) to what adds their text to their
 * messages, which finish() calls once the interaction is over. Their base64 is let go as soon as
 * the reader has taken it.
 */
function readDocuments(deps: PipelineDeps, docs: PendingDocument[], auth: AuthContext, request: EventRequest): Promise<() => void> {
  // Newest first: a conversation resends its earlier turns' documents, and past
  // `documents.max_per_request` it is the old ones that go unread, not the new turn's. (The
  // system and developer messages' documents are collected last, so they are read first: they
  // are sent anew with every request.)
  const newestFirst = docs.map((d) => ({ data: d.data, kind: d.kind })).reverse();
  const reading = deps.documents!.readAll(newestFirst, auth.account.id, documentTurn(auth, deps.clusterOf));
  const messages = docs.map((d) => ({ message: d.message }));
  docs.length = 0;
  return reading.then(
    // Their text within the event's prompt budget too, as the messages' own.
    (readings) => () => addDocumentText(messages, readings.reverse(), deps.features.maxMessageChars, request, deps.features.maxPromptChars),
    (err) => { deps.log.error({ err }, 'reading documents failed'); return () => {}; },
  );
}
