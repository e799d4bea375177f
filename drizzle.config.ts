import { defineConfig } from 'drizzle-kit';

// Migrations are generated (never hand-edited once committed):
//   flock /tmp/drizzle.lock npx drizzle-kit generate --name <what>
export default defineConfig({
  dialect: 'postgresql',
  schema: './store/schema/index.ts',
  out: './store/migrations',
});
