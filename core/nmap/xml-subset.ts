import type { FxNode } from './host.ts';

/*
 * The fast path of host parsing: one pass over a <host> element that both
 * checks it and builds the very FxNode fast-xml-parser builds with host.ts's
 * options, for the plain XML nmap writes (tags, quoted attributes, text, the
 * five predefined entities and character references). Anything outside that
 * subset — comments, CDATA, processing instructions, HTML entities, unusual
 * names, malformed input — returns undefined, and host.ts falls back to
 * XMLValidator (positioned errors) and fast-xml-parser (the reference). Why:
 * fast-xml-parser is a third of the CPU of parse + fingerprint (issue #2
 * profile); this pass costs a fraction of it. Equivalence with
 * fast-xml-parser is tested on every fixture and on edge cases
 * (xml-subset.test.ts), key order included, so documents and hsh256 values
 * cannot depend on which path built them.
 */

/*
 * Character classes as lookup tables (index: a UTF-16 code unit below 128;
 * anything else, NaN past the end included, reads undefined = no). The
 * equivalent small predicate functions were not inlined into the scanner
 * below and showed as a tenth of the parse profile.
 */
const WS = new Uint8Array(128);
for (const c of [32, 10, 9, 13]) WS[c] = 1;
/** [A-Za-z_]: a subset of the XML (and XMLValidator) name start characters. */
const NAME_START = new Uint8Array(128);
/** [A-Za-z0-9_.-]: a subset of the XML name characters. */
const NAME_CHAR = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  const start = (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95;
  NAME_START[c] = start ? 1 : 0;
  NAME_CHAR[c] = start || (c >= 48 && c <= 57) || c === 45 || c === 46 ? 1 : 0;
}

/**
 * Names fast-xml-parser refuses (`__proto__`, `constructor`, `prototype`) or
 * renames (`hasOwnProperty` → `__hasOwnProperty`...), and anything else an
 * object inherits: left to it, so its behaviour stays the only one. Taken
 * from Object.prototype when this module loads. A table of their first two
 * characters answers for most names without reading the name as a string (a
 * lookup per element and attribute name was a visible share of the parse).
 */
const SPECIAL_NAMES = new Set([...Object.getOwnPropertyNames(Object.prototype), 'prototype']);
const SPECIAL_PREFIX = new Uint8Array(128 * 128);
for (const name of SPECIAL_NAMES) {
  const a = name.charCodeAt(0);
  const b = name.charCodeAt(1);
  if (a < 128 && b < 128) SPECIAL_PREFIX[a * 128 + b] = 1;
  // Names outside ASCII never reach the check: NAME_START and NAME_CHAR are ASCII-only.
}
/** `name` = s.slice(from, to), an ASCII name of 1+ characters. */
function isSpecialName(s: string, from: number, name: string): boolean {
  const b = s.charCodeAt(from + 1);
  if (b >= 128 || SPECIAL_PREFIX[s.charCodeAt(from) * 128 + b] !== 1) return false;
  return SPECIAL_NAMES.has(name);
}

const PREDEFINED = new Map([
  ['lt', '<'],
  ['gt', '>'],
  ['amp', '&'],
  ['apos', "'"],
  ['quot', '"'],
]);

/** A character reference fast-xml-parser decodes to the code point itself (others it drops or keeps: not ours). */
const plainCodePoint = (cp: number): boolean => cp === 9 || cp === 10 || cp === 13 || (cp >= 0x20 && cp <= 0xd7ff) || (cp >= 0xe000 && cp <= 0x10ffff);

/** Decodes the references in s[from, to); undefined when one is outside the subset. */
function decode(s: string, from: number, to: number, amp: number): string | undefined {
  let out = '';
  let i = from;
  while (amp >= 0 && amp < to) {
    const semi = s.indexOf(';', amp + 1);
    if (semi < 0 || semi >= to || semi - amp > 12) return undefined;
    out += s.slice(i, amp);
    if (s.charCodeAt(amp + 1) === 35 /* # */) {
      const hex = s.charCodeAt(amp + 2) === 120; /* x */
      const digits = s.slice(amp + (hex ? 3 : 2), semi);
      if (digits === '' || !(hex ? /^[0-9a-fA-F]+$/ : /^[0-9]+$/).test(digits)) return undefined;
      const cp = parseInt(digits, hex ? 16 : 10);
      if (!plainCodePoint(cp)) return undefined;
      out += String.fromCodePoint(cp);
    } else {
      const v = PREDEFINED.get(s.slice(amp + 1, semi));
      if (v === undefined) return undefined;
      out += v;
    }
    i = semi + 1;
    amp = s.indexOf('&', i);
  }
  return out + s.slice(i, to);
}

interface Frame {
  name: string;
  node: FxNode;
  attrs: Record<string, string> | undefined;
  text: string;
  /** The node has a child element (fast-xml-parser then omits an empty text). */
  children: boolean;
}

function close(f: Frame): FxNode {
  const node = f.node;
  if (f.text.length > 0) node['#text'] = f.text;
  else if (!f.children) node['#text'] = '';
  if (f.attrs) node.$ = f.attrs;
  return node;
}

function addChild(parent: Frame, name: string, node: FxNode): void {
  parent.children = true;
  const list = parent.node[name] as FxNode[] | undefined;
  if (list) list.push(node);
  else parent.node[name] = [node];
}

/**
 * The FxNode of one element (a <host>), or undefined when it is not in the
 * subset (not necessarily invalid: the caller then asks the validator).
 */
export function parseXmlSubset(input: string): FxNode | undefined {
  // fast-xml-parser's first step, before it reads anything (a file with CRLF line ends).
  const xml = input.includes('\r') ? input.replace(/\r\n?/g, '\n') : input;
  const n = xml.length;
  const stack: Frame[] = [];
  let root: FxNode | undefined;
  let i = 0;
  let amp = -2; // next '&' at or after some position (-1: none left); -2: not searched yet
  while (i < n) {
    if (root !== undefined || xml.charCodeAt(i) !== 60 /* < */) return undefined;
    let c = xml.charCodeAt(i + 1);
    if (c === 47 /* / */) {
      const gt = xml.indexOf('>', i + 2);
      const top = stack.pop();
      if (gt < 0 || top === undefined || top.name !== xml.slice(i + 2, gt)) return undefined;
      const node = close(top);
      const parent = stack[stack.length - 1];
      if (parent) addChild(parent, top.name, node);
      else root = node;
      i = gt + 1;
    } else {
      if (NAME_START[c] !== 1) return undefined;
      let j = i + 2;
      while (NAME_CHAR[xml.charCodeAt(j)] === 1) j++;
      const name = xml.slice(i + 1, j);
      if (isSpecialName(xml, i + 1, name)) return undefined;
      let attrs: Record<string, string> | undefined;
      let selfClosing = false;
      for (;;) {
        c = xml.charCodeAt(j);
        if (c === 62 /* > */) {
          j++;
          break;
        }
        if (c === 47 /* / */) {
          if (xml.charCodeAt(j + 1) !== 62) return undefined;
          selfClosing = true;
          j += 2;
          break;
        }
        if (WS[c] !== 1) return undefined;
        while (WS[xml.charCodeAt(j)] === 1) j++;
        c = xml.charCodeAt(j);
        if (c === 62 || c === 47) continue;
        if (NAME_START[c] !== 1) return undefined;
        const ns = j++;
        while (NAME_CHAR[xml.charCodeAt(j)] === 1) j++;
        const an = xml.slice(ns, j);
        while (WS[xml.charCodeAt(j)] === 1) j++;
        if (xml.charCodeAt(j) !== 61 /* = */) return undefined;
        j++;
        while (WS[xml.charCodeAt(j)] === 1) j++;
        const q = xml.charCodeAt(j);
        if (q !== 34 && q !== 39) return undefined;
        const end = xml.indexOf(q === 34 ? '"' : "'", j + 1);
        if (end < 0) return undefined;
        const lt = xml.indexOf('<', j + 1);
        if (lt >= 0 && lt < end) return undefined;
        if (amp !== -1 && amp <= j) amp = xml.indexOf('&', j + 1);
        const value = amp >= 0 && amp < end ? decode(xml, j + 1, end, amp) : xml.slice(j + 1, end);
        if (value === undefined || isSpecialName(xml, ns, an)) return undefined;
        if (attrs === undefined) attrs = {};
        else if (Object.hasOwn(attrs, an)) return undefined;
        attrs[an] = value;
        j = end + 1;
      }
      const frame: Frame = { name, node: {}, attrs, text: '', children: false };
      if (selfClosing) {
        const node = close(frame);
        const parent = stack[stack.length - 1];
        if (parent) addChild(parent, name, node);
        else root = node;
      } else {
        stack.push(frame);
      }
      i = j;
    }
    // Text up to the next tag.
    const lt = xml.indexOf('<', i);
    const end = lt < 0 ? n : lt;
    if (end > i) {
      const top = stack[stack.length - 1];
      if (top === undefined) {
        for (let k = i; k < end; k++) if (WS[xml.charCodeAt(k)] !== 1) return undefined;
      } else {
        if (amp !== -1 && amp < i) amp = xml.indexOf('&', i);
        const t = amp >= 0 && amp < end ? decode(xml, i, end, amp) : xml.slice(i, end);
        if (t === undefined) return undefined;
        top.text += t;
      }
    }
    i = end;
  }
  return stack.length === 0 ? root : undefined;
}
