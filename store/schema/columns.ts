import { customType, timestamp } from 'drizzle-orm/pg-core';

/** bytea as a Node Buffer on both drivers (PGlite hands back Uint8Array). */
export const bytea = customType<{ data: Buffer; driverData: Buffer | Uint8Array }>({
  dataType: () => 'bytea',
  toDriver: (v) => v,
  fromDriver: (v) => (Buffer.isBuffer(v) ? v : Buffer.from(v)),
});

/** Every time column is timestamptz, exposed as a Date. */
export const tstz = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });
