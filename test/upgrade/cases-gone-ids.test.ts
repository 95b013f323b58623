// Cases opened before an upgrade that renamed campaigns: start-up says how many name a campaign the
// detector does not hold, and how to find each one's campaign again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/index.ts';
import { startWarden } from '../../src/cli/serve.ts';
import { openSqlite } from '../../src/store/index.ts';
import { SqliteCaseStore } from '../../src/cases/index.ts';
import { runCasesCli } from '../../src/cli/cases-cmd.ts';
import { campaignFixture } from '../helpers/case-campaign.ts';

test('warden serve names the live cases whose campaign ids no longer resolve, with the command to run', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-gone-ids-'));
  try {
    const path = join(dir, 'warden.db');
    const { built } = await campaignFixture();
    const db = openSqlite(path);
    const store = new SqliteCaseStore(db);
    await store.putCase({ ...built, id: 'case_before_upgrade', status: 'open', campaign_id: 'camp_066uqrz', cluster_id: 'clu_0pd7u7o' });
    await store.putCase({ ...built, id: 'case_dismissed', status: 'dismissed', campaign_id: 'camp_0aaaaaa', cluster_id: 'clu_0aaaaaa' });
    db.close();
    const lines: string[] = [];
    const config = parseConfig({ server: { port: 0 }, store: { sqlite_path: path }, log: { level: 'silent' }, admin: { token: 'adm_gone_ids_token_0123456789abcdef' }, mock: { latency_ms: 0, tokens_per_second: 0 } });
    const w = await startWarden(config, { demo: false, log: (l) => lines.push(l) });
    try {
      const shown = await (await fetch(`${w.url}/admin/cases/case_before_upgrade`, { headers: { authorization: 'Bearer adm_gone_ids_token_0123456789abcdef' } })).json() as any;
      assert.equal(shown.campaign_gone, true, 'the admin API marks the case whose campaign is gone');
      const out: string[] = [];
      const code = await runCasesCli(['show', 'case_before_upgrade'], { out: (t) => out.push(t), err: (t) => out.push(t), env: { WARDEN_ADMIN_URL: `${w.url}/admin`, WARDEN_ADMIN_TOKEN: 'adm_gone_ids_token_0123456789abcdef' } });
      assert.equal(code, 0, out.join('\n'));
      assert.match(out.join('\n'), /campaign camp_066uqrz and cluster clu_0pd7u7o are gone from the detector .*: warden cases refresh case_before_upgrade/);
    } finally {
      await w.close();
    }
    // Other start-up lines begin with "cases:" too (the intel signing key written at first start).
    const line = lines.find((l) => l.startsWith('cases: ') && /campaign the detector does not hold/.test(l));
    assert.ok(line, `a start-up line about the cases whose campaigns are gone (got: ${lines.join(' | ')})`);
    assert.match(line, /^cases: 1 open or confirmed cases name a campaign the detector does not hold .*: case_before_upgrade; warden cases refresh ID/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
