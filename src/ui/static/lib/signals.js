// The detector's signals in plain words, for the people who read its verdicts: a name and what the
// value measures (with its unit), shown beside the signal's id wherever its reasons are listed. The
// detector's own detail, when it gives one, says how the value was reached; this says what it is.
// Every behaviour indicator of src/detect/scoring.ts (INDICATORS) has an entry: a test checks it.

/** [name, what the value measures] by signal id. */
export const SIGNALS = {
  account_score: ['Account score', 'The account’s own harvest score, 0 to 1: its behaviour signals below, weighted. Without linked accounts it stays at watch.'],
  cluster_score: ['Cluster score', 'The linked accounts scored as one actor, 0 to 1: coordination times harvest.'],
  coordination: ['Coordination', 'How strongly the accounts act as one, 0 to 1: how many, how firmly linked, and the member shares below.'],
  harvest: ['Harvest behaviour', 'How much the traffic looks like collecting training data, 0 to 1: the behaviour signals below, weighted.'],
  linked_actors: ['Linked actors', 'Number of separate customers among the linked accounts (accounts of one declared organisation count as one).'],
  reasoning_elicitation_share: ['Reasoning asked for', 'Share of its requests, 0 to 1, that ask for the model’s reasoning: step-by-step instructions, reasoning parameters, a reasoning trace returned, grading rubrics, rewrites.'],
  rubric_share: ['Grading rubrics', 'Share of requests, 0 to 1, asking the model to grade or score answers against a rubric (data for a reward model).'],
  sensitive_rewrite_share: ['Sensitive rewrites', 'Share of requests, 0 to 1, asking to rewrite text on sensitive subjects.'],
  capability_share: ['Targeted capabilities', 'Share of requests, 0 to 1, aimed at the capabilities that are harvested: code, maths, tool use, reasoning.'],
  single_shot_share: ['One-off questions', 'Share of requests, 0 to 1, that start a new conversation instead of continuing one. People converse; harvesters send one question a request.'],
  distiller_params_share: ['Harvesting parameters', 'Share of requests, 0 to 1, asking for log-probabilities or several answers to one prompt.'],
  output_input_ratio: ['Output per input', 'Output tokens per input token (a standing system prompt left out). Conversations resend their history, so people’s ratio is low.'],
  template_reuse_share: ['Template reuse', 'Share of requests, 0 to 1, made from one template filled with different items.'],
  timing_regularity: ['Machine-like timing', 'How regular the gaps between requests are, 0 (irregular, as people are) to 1 (a fixed pace); read from 20 gaps or more.'],
  round_the_clock_activity: ['Round-the-clock activity', 'How evenly its requests spread over the hours of the day, 0 to 1, over more than 30 hours. People sleep.'],
  new_model_rush_share: ['Rush to a new model', 'Share of requests, 0 to 1, on a model less than 48 hours old, from an account that used an older one.'],
  network_hopping_share: ['Network hopping', 'Share of requests, 0 to 1, from another network than the account’s previous request. A rotating proxy pool changes on almost every request.'],
  volume_vs_tier_peers: ['Volume against peers', 'Its requests in the window as a multiple of the median account of the same verification tier (a cluster: its total against the median account).'],
  topic_shift: ['Topic shift', 'How far its mix of task topics is from that of accounts without a verdict, 0 to 1 (Jensen-Shannon divergence, bits).'],
  obfuscated_text_share: ['Disguised text', 'Share of requests, 0 to 1, whose words are disguised from text matching (invisible characters inside words, look-alike letters).'],
  unreadable_documents_share: ['Unreadable documents', 'Share of requests, 0 to 1, carrying a document that could not be read (built to be slow or huge, unparseable, too large to decode).'],
  closed_task_share: ['Closed-form tasks', 'Share of requests, 0 to 1, that are tasks with one right answer worded as dataset items; read by the harvest-yield test only.'],
  disposable_email_share: ['Disposable mail', 'Share of the members, 0 to 1, on disposable mail domains.'],
  fresh_account_share: ['New accounts', 'Share of the members, 0 to 1, first used within 7 days of signup or within the last 7 days.'],
  identity_verified_share: ['Identity verified', 'Share of the members, 0 to 1, whose identity is verified: it lowers the score.'],
  uncorroborated_org_members: ['Unconfirmed organisation members', 'Number of members of a declared organisation that mostly use personal or disposable mail, counted as separate actors.'],
  harvest_yield_test: ['Harvest-yield test', 'One account alone asking independent questions for high-yield answers at a human pace: pass or fail.'],
  operator_verdict: ['Operator verdict', 'A verdict set by a person, with the reason they gave.'],
  operator_allow_list: ['Allow-list', 'The account or its organisation is on the allow-list: the detector does not take it above none.'],
};

const words = (id) => id.replace(/_/g, ' ').replace(/^./, (c) => c.toUpperCase());

/**
 * The plain name and meaning of a signal: from the table; `shared_<kind>` (link evidence) and
 * `yield_<indicator>` (a condition of the harvest-yield test) from the kind or indicator they name;
 * any other id in words, with no meaning to add.
 */
export function describeSignal(id) {
  const s = String(id);
  if (SIGNALS[s]) return { name: SIGNALS[s][0], meaning: SIGNALS[s][1] };
  if (s.startsWith('shared_')) return { name: `Shared ${s.slice(7).replace(/_/g, ' ')}`, meaning: 'Mean weight per link of this kind of shared value among the linked accounts.' };
  if (s.startsWith('yield_')) {
    const base = describeSignal(s.slice(6));
    return { name: `Harvest-yield test: ${base.name.toLowerCase()}`, meaning: base.meaning };
  }
  return { name: words(s), meaning: '' };
}
