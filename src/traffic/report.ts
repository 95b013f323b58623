/**
 * Rendering of an evaluation report: a fixed-width text table for terminals and an SVG chart
 * (campaign recall and leakage before containment; organic false-positive rates per kind).
 */
import type { CampaignReport, EvalReport, OrganicReport } from './eval.ts';

const pct = (x: number, digits = 1) => `${(x * 100).toFixed(digits)}%`;

function dur(s: number | null): string {
  if (s === null) return '-';
  if (s < 120) return `${s.toFixed(0)}s`;
  if (s < 7200) return `${(s / 60).toFixed(1)}m`;
  if (s < 172_800) return `${(s / 3600).toFixed(1)}h`;
  return `${(s / 86400).toFixed(1)}d`;
}

function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

function campaignRows(cs: CampaignReport[]): string[][] {
  return cs.map((c) => [
    c.campaign_id, c.kind, `${c.accounts_flagged}/${c.accounts_active}`, pct(c.account_recall), pct(c.cluster_coverage),
    c.requests.toLocaleString('en-US'), dur(c.time_to_first_flag_s), c.requests_before_first_flag.toLocaleString('en-US'),
    c.contained ? dur(c.time_to_containment_s) : 'never', pct(c.share_requests_before_containment, 2), pct(c.share_tokens_before_containment, 2), pct(c.served_share, 2),
  ]);
}

const CAMPAIGN_HEADERS = ['campaign', 'kind', 'flagged', 'recall', 'in flagged cluster', 'requests', 'to 1st flag', 'reqs before flag', 'to containment', 'reqs before cont.', 'tokens before cont.', 'served overall'];

function organicRows(os: OrganicReport[]): string[][] {
  return os.map((g) => [
    g.kind, String(g.accounts), g.requests.toLocaleString('en-US'), String(g.accounts_flagged_any), `${g.accounts_flagged} (${pct(g.account_fp_rate, 2)})`,
    String(g.accounts_throttled), String(g.accounts_shaped), String(g.accounts_refused), `${g.requests_throttled} (${pct(g.request_fp_rate, 3)})`, String(g.requests_refused),
  ]);
}

/** The report as readable text. */
export function renderText(r: EvalReport): string {
  const t = r.totals;
  const out: string[] = [];
  out.push(`Detection evaluation (${r.source}); flag >= ${r.options.flagLevel}, organic counted >= ${r.options.fpLevel}, contained >= ${r.options.containLevel} on ${pct(r.options.coverage, 0)} of remaining requests${r.time_scale !== 1 ? `; times x${r.time_scale} (simulated)` : ''}`);
  out.push('');
  out.push('Campaigns');
  out.push(r.campaigns.length ? table(CAMPAIGN_HEADERS, campaignRows(r.campaigns)) : '(none)');
  out.push('');
  out.push('Adaptive campaigns');
  out.push(r.adaptive.length ? table(CAMPAIGN_HEADERS, campaignRows(r.adaptive)) : '(none)');
  out.push('');
  out.push('Organic traffic (hard negatives)');
  out.push(table(['kind', 'accounts', 'requests', 'watched', 'flagged > watch', 'throttled', 'shaped', 'refused', 'requests throttled', 'requests refused'], organicRows(r.organic)));
  out.push('');
  out.push(`Totals: campaign account recall ${pct(t.campaign_account_recall)} (${t.campaign_accounts_flagged}/${t.campaign_accounts}); ` +
    `campaigns contained ${t.campaigns_contained}/${t.campaigns} (${t.campaigns_contained_within_1pct} within 1% of volume); ` +
    `adaptive recall ${pct(t.adaptive_account_recall)} (${t.adaptive_accounts_flagged}/${t.adaptive_accounts}); ` +
    `organic accounts flagged ${pct(t.organic_account_fp_rate, 2)} (${t.organic_accounts_flagged}/${t.organic_accounts}); ` +
    `organic requests throttled or worse ${t.organic_requests_affected}/${t.organic_requests}`);
  return out.join('\n') + '\n';
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** An SVG chart: per campaign, account recall and share served before containment; per organic kind, FP rate. */
export function renderSvg(r: EvalReport): string {
  const camps = [...r.campaigns, ...r.adaptive];
  const rowH = 26, left = 190, barW = 420, top = 56;
  const campH = camps.length * rowH;
  const orgTop = top + campH + 70;
  const height = orgTop + r.organic.length * rowH + 50;
  const width = left + barW + 170;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`);
  parts.push(`<rect width="100%" height="100%" fill="#fff"/>`);
  parts.push(`<text x="10" y="20" font-size="15" font-weight="bold">Detection evaluation: ${esc(r.source)}</text>`);
  parts.push(`<text x="10" y="${top - 12}" font-weight="bold">Campaigns: accounts flagged (blue), requests served before containment (red)</text>`);
  camps.forEach((c, i) => {
    const y = top + i * rowH;
    parts.push(`<text x="${left - 8}" y="${y + 15}" text-anchor="end">${esc(c.campaign_id)}${c.adaptive ? ' (adaptive)' : ''}</text>`);
    parts.push(`<rect x="${left}" y="${y + 2}" width="${barW}" height="10" fill="#eef"/>`);
    parts.push(`<rect x="${left}" y="${y + 2}" width="${(barW * c.account_recall).toFixed(1)}" height="10" fill="#3366cc"/>`);
    parts.push(`<rect x="${left}" y="${y + 13}" width="${barW}" height="8" fill="#fee"/>`);
    parts.push(`<rect x="${left}" y="${y + 13}" width="${(barW * c.share_requests_before_containment).toFixed(1)}" height="8" fill="#cc3333"/>`);
    parts.push(`<text x="${left + barW + 8}" y="${y + 15}">${pct(c.account_recall)} / ${pct(c.share_requests_before_containment, 2)}${c.contained ? '' : ' (never)'}</text>`);
  });
  parts.push(`<text x="10" y="${orgTop - 12}" font-weight="bold">Organic kinds: accounts flagged above watch (log scale, 0.01% to 100%)</text>`);
  const logX = (x: number) => (x <= 0 ? 0 : Math.max(0, Math.min(1, (Math.log10(x) + 4) / 4)));
  r.organic.forEach((g, i) => {
    const y = orgTop + i * rowH;
    parts.push(`<text x="${left - 8}" y="${y + 15}" text-anchor="end">${esc(g.kind)}</text>`);
    parts.push(`<rect x="${left}" y="${y + 4}" width="${barW}" height="14" fill="#f4f4f4"/>`);
    parts.push(`<rect x="${left}" y="${y + 4}" width="${(barW * logX(g.account_fp_rate)).toFixed(1)}" height="14" fill="${g.account_fp_rate > 0.001 ? '#cc3333' : '#339966'}"/>`);
    parts.push(`<text x="${left + barW + 8}" y="${y + 15}">${pct(g.account_fp_rate, 2)} (${g.accounts_flagged}/${g.accounts})</text>`);
  });
  const x01 = left + barW * logX(0.001);
  parts.push(`<line x1="${x01}" y1="${orgTop - 4}" x2="${x01}" y2="${orgTop + r.organic.length * rowH}" stroke="#999" stroke-dasharray="3,3"/>`);
  parts.push(`<text x="${x01 + 3}" y="${orgTop + r.organic.length * rowH + 14}" fill="#666">0.1% goal</text>`);
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
