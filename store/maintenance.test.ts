import { describe, expect, it } from 'vitest';
import { MAINTENANCE_MIN_ROWS, maintenanceThreshold } from './maintenance.ts';

describe('maintenanceThreshold', () => {
  it("follows autovacuum's defaults: a fifth of the sightings (vacuum), a tenth of the others (analyze), never below the minimum", () => {
    expect(maintenanceThreshold('observation_sightings', 1_000_000)).toBe(200_000);
    expect(maintenanceThreshold('port_observations', 1_000_000)).toBe(100_000);
    expect(maintenanceThreshold('observation_events', 1_000_001)).toBe(100_001);
    for (const t of ['observation_sightings', 'port_observations', 'observation_events'] as const) {
      expect(maintenanceThreshold(t, 0)).toBe(MAINTENANCE_MIN_ROWS);
    }
  });
});
