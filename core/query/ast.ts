import type { MatchMode } from './registry.ts';

export type CompareOp = 'eq' | 'gt' | 'gte' | 'lt' | 'lte';

/**
 * One `field[.modifier]:value[,value...]` term. `values` are ORed and already
 * normalised: lowercased text, canonical CIDRs (`ip`/`net`), decimal integers,
 * ISO dates (`YYYY-MM-DD` or a full timestamp), durations in hours (`since`).
 */
export interface TermNode {
  type: 'term';
  field: string;
  mode: MatchMode;
  op: CompareOp;
  values: string[];
  /** `http_headval:<header>:...`: the header name, lowercased. */
  header?: string;
  /** Offsets (0-based, end exclusive) of the term in the query text. */
  position: number;
  end: number;
}

export interface NotNode {
  type: 'not';
  child: QueryNode;
  position: number;
}

export interface AndNode {
  type: 'and';
  children: QueryNode[];
}

export interface OrNode {
  type: 'or';
  children: QueryNode[];
}

export type QueryNode = TermNode | NotNode | AndNode | OrNode;

/** Every term of a tree, left to right. */
export function collectTerms(node: QueryNode, out: TermNode[] = []): TermNode[] {
  if (node.type === 'term') out.push(node);
  else if (node.type === 'not') collectTerms(node.child, out);
  else for (const c of node.children) collectTerms(c, out);
  return out;
}

const OP_TEXT: Record<CompareOp, string> = { eq: ':', gt: '>', gte: '>=', lt: '<', lte: '<=' };
const MODE_TEXT: Record<MatchMode, string> = { exact: '', prefix: '.bg', substring: '.lk' };

function quote(v: string): string {
  return /^[^\s"'\\(),]+$/.test(v) ? v : `"${v.replace(/(["\\])/g, '\\$1')}"`;
}

/** Canonical text of a tree: parsing it again yields the same tree (positions aside). */
export function queryToString(node: QueryNode, parent?: QueryNode['type']): string {
  switch (node.type) {
    case 'term': {
      const values = node.values.map(quote).join(',');
      if (node.header !== undefined) return `${node.field}:${quote(node.header)}${MODE_TEXT[node.mode]}:${values}`;
      return `${node.field}${MODE_TEXT[node.mode]}${OP_TEXT[node.op]}${values}`;
    }
    case 'not':
      return `NOT ${queryToString(node.child, 'not')}`;
    case 'and': {
      const s = node.children.map((c) => queryToString(c, 'and')).join(' AND ');
      return parent === 'not' ? `(${s})` : s;
    }
    case 'or': {
      const s = node.children.map((c) => queryToString(c, 'or')).join(' OR ');
      return parent === 'and' || parent === 'not' ? `(${s})` : s;
    }
  }
}

/** An indented tree for `plum query --explain`. */
export function renderTree(node: QueryNode, indent = ''): string {
  switch (node.type) {
    case 'term':
      return `${indent}${queryToString(node)}    [${node.field} ${node.header !== undefined ? `header ${node.header} ` : ''}${node.mode}${node.op !== 'eq' ? ` ${node.op}` : ''}; @${node.position}]\n`;
    case 'not':
      return `${indent}NOT\n${renderTree(node.child, `${indent}  `)}`;
    case 'and':
    case 'or':
      return `${indent}${node.type.toUpperCase()}\n${node.children.map((c) => renderTree(c, `${indent}  `)).join('')}`;
  }
}

/** A JSON-friendly copy of the tree (positions kept, undefined dropped). */
export function treeToJson(node: QueryNode): unknown {
  return JSON.parse(JSON.stringify(node));
}
