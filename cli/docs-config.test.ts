import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { configSchema } from '../core/config.ts';

/** Every setting of the one configuration schema is documented, so docs/configuration.md cannot fall behind. */
describe('docs/configuration.md', () => {
  const doc = fs.readFileSync(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'docs', 'configuration.md'), 'utf8');
  it.each(Object.keys(configSchema.shape))('documents %s', (key) => {
    expect(doc).toContain(`\`${key}\``);
  });
});
