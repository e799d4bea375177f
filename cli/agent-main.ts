/*
 * Entry point of the single-file agent, dist-agent/plum-agent.mjs (scripts/build.mjs --agent): `plum agent`
 * and nothing else, bundled with its packages and Temporal's native library, for scanning hosts that have
 * Node and nmap but no Plum checkout. `node plum-agent.mjs --check …` is `plum agent --check …`.
 */
import { register } from './commands/agent.ts';
import { main } from './main.ts';

const args = process.argv.slice(2);
// The one command is implied; `agent` may still be given, as in the documentation of `plum agent`.
const argv = [...process.argv.slice(0, 2), ...(args[0] === 'agent' ? args : ['agent', ...args])];
await main(argv, async (program, ctx) => register(program, ctx));
