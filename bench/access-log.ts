/**
 * What one access-log line costs the serving thread (`log.access`), without the noise of a whole
 * gateway on a shared machine: watchAccess on a request and its response, the response closed,
 * its line written by pino (the gateway's logger settings) to a stream that discards it, against
 * the same request and response closed with no access log, in the same run. Alternating rounds,
 * median of each.
 *
 *   node --import tsx bench/access-log.ts [--lines 50000] [--rounds 7]
 */
import { parseArgs } from 'node:util';
import { Writable } from 'node:stream';
import { EventEmitter } from 'node:events';
import pino from 'pino';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { watchAccess } from '../src/gateway/access-log.ts';
import { machine, median } from './lib.ts';

const { values } = parseArgs({ options: { lines: { type: 'string', default: '50000' }, rounds: { type: 'string', default: '7' } } });
const lines = Number(values.lines);
const rounds = Number(values.rounds);

let written = 0;
const sink = new Writable({ write(chunk, _enc, done) { written += chunk.length; done(); } });
const logger = pino({ level: 'info' }, sink);

const socket = { bytesWritten: 0, remoteAddress: '203.0.113.9' };
function pair(): { req: IncomingMessage; res: ServerResponse } {
  const req = { method: 'POST', url: '/v1/chat/completions?x=1', headers: { 'content-length': '154', 'user-agent': 'bench' }, socket } as unknown as IncomingMessage;
  const res = Object.assign(new EventEmitter(), { headersSent: true, statusCode: 200, writableFinished: true, _header: 'HTTP/1.1 200 OK\r\nx-warden-request-id: 01K0000000000000000000000\r\n\r\n' }) as unknown as ServerResponse;
  return { req, res };
}

function round(withLog: boolean): number {
  const t = process.hrtime.bigint();
  for (let i = 0; i < lines; i++) {
    const { req, res } = pair();
    if (withLog) watchAccess(req, res, logger, null);
    socket.bytesWritten += 1387;
    res.emit('close');
  }
  return Number(process.hrtime.bigint() - t) / 1e3 / lines;
}

round(true); round(false);
const on: number[] = [];
const off: number[] = [];
for (let r = 0; r < rounds; r++) { off.push(round(false)); on.push(round(true)); }
const a = median(on);
const b = median(off);
console.log(`access log line cost, ${new Date().toISOString().slice(0, 10)}, ${machine()}; ${lines} requests a round, median of ${rounds} rounds`);
console.log(`| without | with log.access | added per request |`);
console.log(`|---|---|---|`);
console.log(`| ${b.toFixed(2)} µs | ${a.toFixed(2)} µs | ${(a - b).toFixed(2)} µs |`);
console.log(`(${(written / (lines * (rounds + 1))).toFixed(0)} bytes a line)`);
