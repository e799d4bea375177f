import { describe, expect, it } from 'vitest';
import { enforceScriptPolicy } from '../profiles.ts';
import { MAX_CUSTOM_SCRIPT_BYTES, declaredCategories, scriptNameOfFile, sha256Hex, validateCustomScript, withCustomScripts } from './custom-scripts.ts';
import { installedScriptDb } from './script-db.ts';

const lua = (categories: string) =>
  `description = "x"\ncategories = ${categories}\nportrule = function(host, port) return true end\naction = function(host, port) return "hello" end\n`;

describe('custom NSE script validation', () => {
  const db = installedScriptDb();

  it('accepts a script with its categories and hashes its bytes', () => {
    const content = lua('{"safe", "discovery"}');
    expect(validateCustomScript({ name: 'site-check.nse', content }, db)).toEqual({
      name: 'site-check',
      content,
      size: Buffer.byteLength(content),
      sha256: sha256Hex(content),
      categories: ['safe', 'discovery'],
    });
  });

  const refused: Array<[string, string, string | Buffer, RegExp]> = [
    ['a stock name', 'http-title', lua('{"safe"}'), /^"http-title" is already a script \(or category\) of the installed nmap: rename your script/],
    ['a category name', 'safe', lua('{"safe"}'), /already a script \(or category\)/],
    ['a project name', 'plum-banner', lua('{"safe"}'), /reserved for Plum's own scripts: rename/],
    ['a path', '../x', lua('{"safe"}'), /invalid NSE script name/],
    ['no categories', 'site-a', 'action = function() return 1 end\n', /declares no categories/],
    ['empty categories', 'site-a', lua('{}'), /declares no categories/],
    ['an unknown category', 'site-a', lua('{"safe", "sneaky"}'), /unknown category "sneaky"/],
    ['computed categories', 'site-a', lua('{cat}'), /must be quoted names/],
    ['no action', 'site-a', 'categories = {"safe"}\n', /defines no action/],
    ['binary', 'site-a', Buffer.from([0x1b, 0x4c, 0x75, 0x61, 0xff, 0xfe]), /not UTF-8/],
    ['too large', 'site-a', lua('{"safe"}') + '-'.repeat(MAX_CUSTOM_SCRIPT_BYTES), /more than 262144/],
    ['empty', 'site-a', '', /is empty/],
  ];
  it.each(refused)('refuses %s', (_what, name, content, re) => {
    expect(() => validateCustomScript({ name, content }, db)).toThrow(re);
  });

  it('reads categories declared with either quote and comments', () => {
    expect(declaredCategories(`categories = {'safe', -- why\n "version",}`)).toEqual(['safe', 'version']);
    expect(declaredCategories('x = 1')).toBeUndefined();
    expect(scriptNameOfFile('/tmp/My-Check.nse')).toBe('my-check');
    expect(scriptNameOfFile('/tmp/check.lua')).toBeUndefined();
  });

  it('judges custom scripts by their declared categories, allowed by name like stock ones', () => {
    const withIntrusive = withCustomScripts(db, [
      { name: 'site-probe', categories: ['safe', 'intrusive'] },
      { name: 'site-ok', categories: ['safe'] },
    ]);
    expect(() => enforceScriptPolicy(['site-ok'], [], withIntrusive)).not.toThrow();
    expect(() => enforceScriptPolicy(['site-probe'], [], withIntrusive)).toThrow('refused NSE script "site-probe": it is in the intrusive category');
    expect(() => enforceScriptPolicy(['site-probe'], ['site-probe'], withIntrusive)).not.toThrow();
    // Without the custom catalogue the name is unknown.
    expect(() => enforceScriptPolicy(['site-ok'], [], db)).toThrow(/unknown NSE script "site-ok"/);
  });
});
