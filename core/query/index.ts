/**
 * The query language shared by search and tag rules (issue 6): one tokenizer,
 * one parser, one typed field registry, one in-memory evaluator. The SQL
 * compiler (store/search/compile.ts) works from the same tree.
 */
export { parseQuery } from './parse.ts';
export { tokenize, MAX_QUERY_LENGTH } from './tokenize.ts';
export { foldCase, FOLD_FROM, FOLD_TO } from './fold.ts';
export { FIELD_REGISTRY, FIELD_NAMES, TIME_FIELDS, getField, type FieldSpec, type FieldType, type MatchMode, type FieldSource } from './registry.ts';
export {
  type QueryNode,
  type TermNode,
  type NotNode,
  type AndNode,
  type OrNode,
  type CompareOp,
  collectTerms,
  queryToString,
  renderTree,
  treeToJson,
} from './ast.ts';
export { matchFields, matchHost, usesTime, dateBounds, sinceCutoff, compareBounds, type MatchDoc } from './evaluate.ts';
