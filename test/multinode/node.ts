// One Warden node for the multi-node test: config JSON in argv[2]; prints {url} when ready.
import { parseConfig } from '../../src/config/index.ts';
import { startWarden } from '../../src/cli/serve.ts';

const config = parseConfig(JSON.parse(process.argv[2]));
const w = await startWarden(config, { demo: false, log: () => {} });
console.log(JSON.stringify({ url: w.url }));
const stop = () => { w.close().finally(() => process.exit(0)); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
