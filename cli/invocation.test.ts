import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { plumCommand } from './invocation.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'plum-path-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('plumCommand: what to print for the user to type', () => {
  it('npx plum when no plum is on the PATH, plum when one is', () => {
    const empty = path.join(dir, 'empty');
    const withPlum = path.join(dir, 'bin');
    fs.mkdirSync(empty);
    fs.mkdirSync(withPlum);
    expect(plumCommand(empty)).toBe('npx plum');
    expect(plumCommand('')).toBe('npx plum');
    fs.writeFileSync(path.join(withPlum, 'plum'), '#!/bin/sh\n', { mode: 0o755 });
    expect(plumCommand([empty, withPlum].join(path.delimiter))).toBe('plum');
  });
});
