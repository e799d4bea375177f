import { beaconLegacyAgent } from '../../../store/repos/legacy-agents.ts';
import type { RouteModule } from '../index.ts';
import { botApiEnabled, forbidden, identityOf, invalid, keyOf, notFound, readBotRequest } from './input.ts';

/** POST /bot_api/beacon: registers a predecessor agent or refreshes its last seen time, address and versions. */
export default {
  register(app) {
    app.post('/bot_api/beacon', async (c) => {
      if (!botApiEnabled(c)) return notFound(c);
      const body = await readBotRequest(c, {});
      if (typeof body === 'string') return invalid(c, body);
      const keyId = await keyOf(c, body);
      if (!keyId) return forbidden(c);
      await beaconLegacyAgent(c.var.deps.store, keyId, identityOf(body));
      c.var.deps.services?.legacyBridge?.touch();
      return c.json({ message: 'ready' }, 200);
    });
  },
} satisfies RouteModule;
