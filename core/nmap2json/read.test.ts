import { describe, expect, it } from 'vitest';
import { jsonErrorOffset, lineColumn, listingRounds, readNmap2jsonText } from './read.ts';

describe('readNmap2jsonText', () => {
  const doc = { addr: '127.0.0.1', ports: [] };
  it.each([
    ['a JSON list (a stored job result)', JSON.stringify([doc, { ...doc, addr: '127.0.0.2' }]), ['host document 1', 'host document 2']],
    ['NDJSON', `${JSON.stringify(doc)}\n\n${JSON.stringify(doc)}\n`, ['host document 1 (line 1)', 'host document 2 (line 3)']],
    ['one host document', JSON.stringify(doc), ['the host document']],
    ['a search export wrapping its hits', JSON.stringify({ hits: [doc], limit: 20 }), ['host document 1']],
    ['a byte order mark', `\uFEFF${JSON.stringify([doc])}`, ['host document 1']],
  ])('reads %s', (_what, text, where) => {
    expect(readNmap2jsonText(text, 'f.json').map((d) => d.where)).toEqual(where);
  });
});

describe('jsonErrorOffset', () => {
  it.each([
    ['[1, 2]', undefined],
    ['{"a": "\\u00e9", "b": [true, null, -1.5e3]}', undefined],
    ['[1,]', 3],
    ['[1', 2],
    ['{"a" 1}', 5],
    ['"a\u0001"', 2],
    ['"\\x"', 1],
    ['[1] x', 4],
    ['', 0],
  ])('%j → %s', (text, offset) => {
    expect(jsonErrorOffset(text)).toBe(offset);
  });

  it('gives 1-based lines and columns', () => {
    expect(lineColumn('ab\ncd', 4)).toEqual({ line: 2, column: 2 });
    expect(lineColumn('ab', 0)).toEqual({ line: 1, column: 1 });
  });
});

describe('listingRounds', () => {
  const h = (ip: string, time?: number) => ({ host: { ip, time }, time });
  it.each([
    ['one listing per address: one round, in scan order', [h('a', 2), h('b', 1)], [['b', 'a']]],
    ['an address listed twice goes to the next round, its sightings in time order', [h('a', 3), h('b', 1), h('a', 2)], [['b', 'a@2'], ['a@3']]],
    ['hosts without a time after the dated ones, in file order', [h('c'), h('a', 5), h('b')], [['a', 'c', 'b']]],
    ['nothing', [], []],
  ])('%s', (_what, hosts, expected) => {
    const rounds = listingRounds(hosts);
    const label = (x: { ip: string; time?: number }) => (hosts.filter((y) => y.host.ip === x.ip).length > 1 ? `${x.ip}@${x.time}` : x.ip);
    expect(rounds.map((r) => r.map(label))).toEqual(expected);
  });
});

describe('readNmap2jsonText refuses bad input with one line naming the file and the position', () => {
  const good = JSON.stringify({ addr: '127.0.0.1', ports: [] });
  it.each([
    ['a syntax error', `[\n  ${good},\n  {"addr": "127.0.0.1",, "ports": []}\n]`, /^f\.json is not valid JSON at line 3, column 24: unexpected ","$/],
    ['a truncated list', `[${good}`, /^f\.json is not valid JSON at line 1, column \d+: the text ends too early$/],
    ['nmap XML', '<?xml version="1.0"?><nmaprun>', /^f\.json is not JSON \(it starts with "<"\)$/],
    ['a host without addr', `[${good}, {"hostnames": [], "ports": []}]`, /^f\.json: host document 2 has no addr$/],
    ['a bad NDJSON line', `${good}\n{"addr": "127.0.0.2", "ports": [}\n`, /^f\.json is not valid NDJSON at line 2, column 33: unexpected "}"$/],
    ['a number', '42', /^f\.json holds a JSON number, not a list of host documents$/],
    ['an object with two lists', '{"a": [], "b": []}', /^f\.json is a JSON object with 2 lists \(a, b\), not a list of host documents$/],
    ['a list of strings', '["127.0.0.1"]', /^f\.json: host document 1 is not a host document/],
    [
      'a port that is not a number',
      '[{"addr": "127.0.0.1", "ports": [{"protocol": "tcp", "portid": "http", "state": {"state": "open"}}]}]',
      /^f\.json: host document 1 is not an nmap2json host document \(ports\.0\.portid/,
    ],
    ['nothing', ' \n', /^f\.json is empty$/],
  ])('%s', (_what, text, message) => {
    expect(() => readNmap2jsonText(text, 'f.json')).toThrow(message);
  });
});
