/**
 * `warden notify ...`: the operator notifications' webhooks, through the admin API (/admin/notify).
 */
import { textTable as table } from '../admin/index.ts';
import type { DeliveryRecord } from '../notify/index.ts';
import { CONNECTION_HELP } from './admin-connection.ts';
import { run, type CasesCliIo } from './cases-cmd.ts';

const HELP = `usage:
  warden notify list                           webhooks (notify.webhooks), their counts, the last deliveries
  warden notify test [NAME]                    send a test notification to NAME, or to every webhook whose events include test, and say how it went

options:
${CONNECTION_HELP}`;

interface Status { webhooks: Array<Record<string, unknown>>; deliveries: DeliveryRecord[] }

export function runNotifyCli(argv: string[], ioIn: Partial<CasesCliIo> = {}): Promise<number> {
  return run(argv, HELP, ioIn, async ({ positionals: [what, name, ...extra] }, c) => {
    if (extra.length) return `unexpected arguments: ${extra.join(' ')}`;
    if (what === 'list' && !name) {
      const r = await c.call<Status>('GET', '/notify');
      if (!r.webhooks.length) return { result: r, text: '(no webhooks: notify.webhooks)' };
      const hooks = table(r.webhooks, ['name', 'url', 'format', 'signed', 'delivered', 'failed', 'dropped', 'waiting']);
      const last = r.deliveries.slice(0, 20).map((d) => ({ ...d, last_error: d.last_error ?? '' }));
      return { result: r, text: `${hooks}\n\n${last.length ? table(last, ['queued_at', 'webhook', 'type', 'status', 'attempts', 'last_status', 'last_error']) : '(nothing sent yet)'}` };
    }
    if (what === 'test') {
      const r = await c.call<{ deliveries: DeliveryRecord[]; skipped?: string[] }>('POST', '/notify/test', { query: { webhook: name } });
      const lines = r.deliveries.map((d) => `${d.webhook}: delivered (${d.attempts} attempt${d.attempts === 1 ? '' : 's'}, answer ${d.last_status})`);
      for (const s of r.skipped ?? []) lines.push(`${s}: not sent (its events do not include test; \`warden notify test ${s}\` sends it one)`);
      return { result: r, text: lines.join('\n') };
    }
    return `unknown command: notify ${[what, name].filter(Boolean).join(' ')}`;
  });
}
