import { XMLValidator } from 'fast-xml-parser';
import { epochToIso, invalidXml, positionIn, refuseDtd } from './host.ts';
import type { NmapRunInfo } from './types.ts';

/*
 * The run's information (scanner, arguments, scan info, times, exit) read from the text between host elements,
 * and the check that this text is itself well-formed.
 */

function emptyRun(): NmapRunInfo {
  return { scanner: '', version: '', args: '', finished: false, scanInfo: [] };
}

const TAG_RE = /<(nmaprun|scaninfo|finished|hosts)\b([^>]*)>/g;
const ATTR_RE = /([\w:-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')/g;

function decodeEntities(s: string): string {
  if (!s.includes('&')) return s;
  return s.replace(/&(#x[0-9a-f]+|#\d+|lt|gt|amp|quot|apos);/gi, (all, e: string) => {
    const l = e.toLowerCase();
    if (l === 'lt') return '<';
    if (l === 'gt') return '>';
    if (l === 'amp') return '&';
    if (l === 'quot') return '"';
    if (l === 'apos') return "'";
    const cp = l.startsWith('#x') ? parseInt(l.slice(2), 16) : parseInt(l.slice(1), 10);
    return Number.isFinite(cp) && cp <= 0x10ffff ? String.fromCodePoint(cp) : all;
  });
}

function tagAttrs(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  ATTR_RE.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = ATTR_RE.exec(s))) out[m[1]!] = decodeEntities(m[2] ?? m[3] ?? '');
  return out;
}

export interface RunState {
  run: NmapRunInfo;
  sawRoot: boolean;
  sawEnd: boolean;
}

export function scanBetween(piece: string, line: number, st: RunState, first: boolean): void {
  refuseDtd(piece, line, first);
  TAG_RE.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = TAG_RE.exec(piece))) {
    const a = tagAttrs(m[2]!);
    switch (m[1]) {
      case 'nmaprun':
        st.sawRoot = true;
        st.run.scanner = a.scanner ?? '';
        st.run.version = a.version ?? '';
        st.run.args = a.args ?? '';
        st.run.startedAt = epochToIso(a.start);
        break;
      case 'scaninfo':
        st.run.scanInfo.push({ type: a.type ?? '', protocol: a.protocol ?? '', services: a.services ?? '', numservices: a.numservices });
        break;
      case 'finished':
        st.run.finished = true;
        st.run.endedAt = epochToIso(a.time);
        if (a.exit) st.run.exit = a.exit;
        if (a.errormsg) st.run.errorMessage = a.errormsg;
        break;
      case 'hosts':
        if (a.up !== undefined) st.run.hostsUp = Number(a.up);
        if (a.down !== undefined) st.run.hostsDown = Number(a.down);
        break;
    }
  }
  if (piece.includes('</nmaprun>')) st.sawEnd = true;
  if (!first) checkBetween(piece, line);
}

/** Text between hosts must itself be well-formed (a sequence of complete elements). */
function checkBetween(piece: string, line: number): void {
  let body = piece;
  const close = body.lastIndexOf('</nmaprun>');
  if (close >= 0) {
    const tail = body.slice(close + 10);
    if (tail.trim() !== '') {
      const pos = positionIn(piece, line, close + 10 + tail.search(/\S/));
      throw invalidXml('content after the end of the document', pos.line, pos.column);
    }
    body = body.slice(0, close);
  }
  // Text outside any element (tags only are allowed between hosts).
  for (let i = 0; i < body.length;) {
    const c = body.charCodeAt(i);
    if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) {
      i++;
      continue;
    }
    if (c === 0x3c) {
      const gt = body.indexOf('>', i);
      if (gt < 0) break; // unfinished tag: the validator below reports it
      i = gt + 1;
      continue;
    }
    const pos = positionIn(piece, line, i);
    throw invalidXml('text outside any element', pos.line, pos.column);
  }
  const r = XMLValidator.validate(`<x>${body}</x>`);
  if (r !== true) {
    const col = r.err.line === 1 ? Math.max(1, r.err.col - 3) : r.err.col;
    throw invalidXml(r.err.msg, line + r.err.line - 1, col);
  }
}

export const newRunState = (): RunState => ({ run: emptyRun(), sawRoot: false, sawEnd: false });
