import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { XMLParser } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import { XML_PARSER_OPTIONS } from './host.ts';
import { parseXmlSubset } from './xml-subset.ts';

/*
 * The fast path must build exactly what fast-xml-parser builds (key order
 * included: documents are printed as built), or step aside (undefined).
 */
const reference = new XMLParser(XML_PARSER_OPTIONS);
/** fast-xml-parser's node for one element, or 'throws'. */
function viaReference(xml: string): string {
  try {
    const parsed = reference.parse(xml) as Record<string, unknown[]>;
    const name = Object.keys(parsed).find((k) => k !== '#text')!;
    return JSON.stringify(parsed[name]![0]);
  } catch {
    return 'throws';
  }
}

const fixtures = fileURLToPath(new URL('../../test/fixtures/nmap/', import.meta.url));
const hosts = readdirSync(fixtures)
  .filter((f) => f.endsWith('.xml'))
  .flatMap((f) => [...readFileSync(fixtures + f, 'utf8').matchAll(/<host[\s>][\s\S]*?<\/host>/g)].map((m, i) => ({ name: `${f} host ${i + 1}`, xml: m[0] })));

describe('parseXmlSubset', () => {
  it('reads every host of the real nmap fixtures, as fast-xml-parser does', () => {
    expect(hosts.length).toBeGreaterThan(20);
    for (const h of hosts) {
      const fast = parseXmlSubset(h.xml);
      expect(fast, h.name).toBeDefined();
      expect(JSON.stringify(fast), h.name).toBe(viaReference(h.xml));
    }
  });

  const inSubset: Array<[string, string]> = [
    ['entities in text and attributes', `<host a="1 &amp;lt; &#38;lt; &#x41;&#65; &quot;q&quot; &apos;" b=''>x &lt;y&gt; &amp;amp;&#10;z</host>`],
    ['text around and between children', `<host>\n  <status state="up"/>\n<e>t1<f/>t2</e><e></e><e k="v">  </e>tail</host>`],
    ['children without text', `<host><x/><y><z/></y></host>`],
    ['repeated children keep their first-seen order', `<host><b/><a/><b n="2"/><a>1</a></host>`],
    ['raw > and quotes', `<host a='q"x' b="a>b">x>y "z" 'w'</host>`],
    ['whitespace around = and before />', `<host a = "1"\n\tb=\t'2' ><e   /></host>`],
    ['CRLF line ends (normalised first, as fast-xml-parser does)', `<host a="x\r\ny">a\r\nb\rc<e/>\r\n</host>`],
    ['character references to CR, LF, TAB and beyond the BMP', `<host a="&#9;&#xA;&#xd;">&#13;&#10;&#x1F600;&#xFFFE;&#x80;</host>`],
    ['trailing whitespace after the root', `<host/>\n  `],
    [
      'names that start like inherited ones, and one-letter names',
      `<host protocol="tcp" constructorX="1" __x="2" v="3"><toStringy/><p/><prototypes/><_/></host>`,
    ],
  ];
  for (const [name, xml] of inSubset) {
    it(`in the subset: ${name}`, () => {
      const fast = parseXmlSubset(xml);
      expect(fast).toBeDefined();
      expect(JSON.stringify(fast)).toBe(viaReference(xml));
    });
  }

  const outside: Array<[string, string]> = [
    ['HTML entities (fast-xml-parser decodes them)', `<host>&nbsp;&copy;</host>`],
    ['references it drops or keeps', `<host a="&#0;">&#1;&#xD800;&#x110000;&#X41;</host>`],
    ['an unknown entity', `<host>&foo;</host>`],
    ['a bare ampersand', `<host>a & b</host>`],
    ['comments', `<host><!-- c --></host>`],
    ['CDATA', `<host><![CDATA[x]]></host>`],
    ['a processing instruction', `<host><?pi x?></host>`],
    ['names it refuses or renames', `<host><__proto__/></host>`],
    ['inherited names', `<host><toString/></host>`],
    ['attributes named like them', `<host constructor="1"/>`],
    ['every other inherited name', `<host><valueOf/><isPrototypeOf/><__lookupGetter__/><propertyIsEnumerable/><hasOwnProperty/><prototype/></host>`],
    ['duplicate attributes', `<host a="1" a="2"/>`],
    ['an unquoted attribute', `<host a=1/>`],
    ['< in an attribute', `<host a="<"/>`],
    ['mismatched end tag', `<host><a></b></host>`],
    ['unclosed element', `<host><a></host>`],
    ['two roots', `<host/><host/>`],
    ['text after the root', `<host/>x`],
    ['truncated', `<host><a b="1`],
    ['a namespace prefix', `<host><x:a/></host>`],
  ];
  for (const [name, xml] of outside) {
    it(`outside the subset: ${name}`, () => {
      expect(parseXmlSubset(xml)).toBeUndefined();
    });
  }

  it('agrees with fast-xml-parser on 20,000 generated elements (or steps aside)', () => {
    // A small deterministic generator (LCG): names, attributes and text mixing every reference kind.
    let seed = 42;
    const rnd = (n: number) => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n;
    const pick = <T>(xs: readonly T[]): T => xs[rnd(xs.length)]!;
    const names = ['host', 'port', 'elem', 'table', 'a', 'b_c', 'd.e', 'f-g'];
    const bits = [
      'x',
      ' ',
      '\n',
      '\t',
      '>',
      '"',
      "'",
      '&amp;',
      '&lt;',
      '&gt;',
      '&quot;',
      '&apos;',
      '&#10;',
      '&#xa;',
      '&#x41;',
      '&#0;',
      '&#1;',
      '&nbsp;',
      '&foo;',
      '&',
      ';',
      'é',
      '😀',
      '\r\n',
      '\r',
      '&#xD800;',
      '&#1114111;',
    ];
    const text = (q?: string) =>
      Array.from({ length: rnd(5) }, () => pick(bits))
        .join('')
        .replaceAll(q ?? '<', q === '"' ? '&quot;' : q === "'" ? '&apos;' : '&lt;');
    const element = (depth: number): string => {
      const name = depth === 0 ? 'host' : pick(names);
      const q = pick(['"', "'"]);
      const attrs = Array.from({ length: rnd(3) }, (_, i) => ` ${pick(['a', 'k', 'id'])}${i}=${q}${text(q)}${q}`).join('');
      if (depth > 3 || rnd(3) === 0) return `<${name}${attrs}/>`;
      const body = Array.from({ length: rnd(4) }, () => (rnd(2) ? text() : element(depth + 1))).join('');
      return `<${name}${attrs}>${body}</${name}>`;
    };
    let fastCount = 0;
    for (let i = 0; i < 20_000; i++) {
      let xml = element(0);
      // One in ten is damaged: truncated, or a character dropped.
      if (rnd(10) === 0) xml = rnd(2) ? xml.slice(0, rnd(xml.length)) : xml.slice(0, i % xml.length) + xml.slice((i % xml.length) + 1);
      const fast = parseXmlSubset(xml);
      if (fast === undefined) continue;
      fastCount++;
      expect(JSON.stringify(fast), xml).toBe(viaReference(xml));
    }
    // Most generated elements are in the subset: the comparison is not vacuous.
    expect(fastCount).toBeGreaterThan(5_000);
  });
});
