import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config.ts';
import { silentLogger } from '../../core/log.ts';
import { commandEntries, requestedCommand } from './index.ts';

const ctx = { config: loadConfig({}), log: silentLogger, onClose: () => {} };

describe('command manifest', () => {
  it('each lazily loaded module registers exactly the command its entry names, with help', async () => {
    for (const entry of commandEntries) {
      const program = new Command('plum');
      (await entry.load()).register(program, ctx);
      expect(
        program.commands.map((c) => c.name()),
        entry.name,
      ).toEqual([entry.name]);
      expect(program.commands[0]!.helpInformation()).toContain(`plum ${entry.name}`);
    }
  });

  it('finds the command named on the command line', () => {
    expect(requestedCommand(['--format', 'json'])).toBeUndefined();
    expect(requestedCommand(['search', 'port:22'])).toBe('search');
    expect(requestedCommand(['help', 'target'])).toBe('target');
    expect(requestedCommand(['nope'])).toBeUndefined();
  });
});
