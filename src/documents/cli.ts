/**
 * `warden documents read FILE.pdf ...`: what the gateway reads of a PDF, with the configured
 * limits (`documents` in the configuration): the text the event and the detector get, the pages
 * read, or why it was not read. For an operator looking at a request's attachment, or at a PDF
 * that a campaign sends.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadConfig } from '../config/index.ts';
import { DocumentReader } from './reader.ts';

const USAGE = `usage: warden documents read FILE.pdf [FILE.pdf ...] [--config FILE] [--json]
  Reads each PDF as the gateway does (pdf.js in a background thread, with documents.timeout_ms,
  memory_mb, max_pages and max_bytes from the configuration) and prints what was read.
  Exit status: 0 every file read, 1 some file not read to its end, 2 bad usage or unreadable file.
`;

export interface DocumentsCliIo {
  stdout(s: string): void;
  stderr(s: string): void;
}
const defaultIo: DocumentsCliIo = { stdout: (s) => process.stdout.write(s), stderr: (s) => process.stderr.write(s) };

export async function runDocumentsCli(argv: string[], io: DocumentsCliIo = defaultIo): Promise<number> {
  let values: { config?: string; json?: boolean; help?: boolean };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { config: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } }));
  } catch (err) {
    io.stderr(`error: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) { io.stdout(USAGE); return 0; }
  const [cmd, ...files] = positionals;
  if (cmd !== 'read' || files.length === 0) {
    io.stderr(`${cmd && cmd !== 'read' ? `error: unknown command "${cmd}"\n` : ''}${USAGE}`);
    return 2;
  }
  const contents: Buffer[] = [];
  for (const f of files) {
    try { contents.push(readFileSync(f)); } catch (err) {
      io.stderr(`error: cannot read ${f}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}\n`);
      return 2;
    }
  }
  let c;
  try { c = loadConfig(values.config).documents; } catch (err) {
    io.stderr(`error: ${(err as Error).message}\n`);
    return 2;
  }
  const reader = new DocumentReader({ timeoutMs: c.timeout_ms, memoryMb: c.memory_mb, maxPages: c.max_pages, maxBytes: c.max_bytes, maxQueueBytes: Number.MAX_SAFE_INTEGER, cacheEntries: 0 });
  let allRead = true;
  const out: object[] = [];
  try {
    for (let i = 0; i < files.length; i++) {
      const r = await reader.read(contents[i].toString('base64'), 'cli');
      if (r.result !== 'read') allRead = false;
      if (values.json) { out.push({ file: files[i], ...r }); continue; }
      const head = r.result === 'read'
        ? `${files[i]}: read ${r.pagesRead} of ${r.pages} page${r.pages === 1 ? '' : 's'}, ${r.text.length} characters, ${r.ms} ms`
        : `${files[i]}: ${r.result}${r.error ? ` (${r.error})` : ''}${r.text ? `; ${r.text.length} characters read before` : ''}`;
      io.stdout(`${head}\n${r.text ? `${r.text.replace(/\n?$/, '\n')}` : ''}${i < files.length - 1 ? '\n' : ''}`);
    }
  } finally {
    await reader.close();
  }
  if (values.json) io.stdout(JSON.stringify(out, null, 2) + '\n');
  return allRead ? 0 : 1;
}
