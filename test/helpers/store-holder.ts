// A long-running process holding the embedded database (as `plum serve` would),
// for the two-process tests: `tsx test/helpers/store-holder.ts HOME [share]`.
// Prints "ready" once open; closes cleanly on SIGTERM.
import { loadConfig } from '../../core/config.ts';
import { openStore } from '../../store/index.ts';

const config = loadConfig({ ...process.env, PLUM_HOME: process.argv[2] });
const store = await openStore(config, { share: process.argv[3] === 'share' });
// Keep using the database while others go through the socket.
const timer = setInterval(() => {
  store.query("update runs set progress = jsonb_build_object('tick', now()::text) where id = 'run_holder'").catch(() => {});
}, 20);
process.on('SIGTERM', async () => {
  clearInterval(timer);
  await store.close();
  process.exit(0);
});
process.stdout.write('ready\n');
