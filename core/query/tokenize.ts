import { PlumError } from '../errors.ts';

/** One character of a word, with where it came from and whether quoting made it literal. */
export interface WordChar {
  c: string;
  pos: number;
  quoted: boolean;
}

export type Token =
  | { kind: 'lparen'; pos: number }
  | { kind: 'rparen'; pos: number }
  | { kind: 'word'; pos: number; end: number; chars: WordChar[]; text: string; anyQuoted: boolean };

export const MAX_QUERY_LENGTH = 16_384;

export function syntaxError(message: string, position: number, hint?: string): PlumError {
  return new PlumError('syntax', `${message} at position ${position}`, {
    hint: hint ?? 'fix the query; `plum query --explain QUERY` shows how it is read',
    details: { position },
  });
}

const isSpace = (c: string) => c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f' || c === '\v';

/**
 * Shell-style tokenizer: words split on unquoted whitespace; `(` and `)` are
 * tokens of their own unless quoted; "double quotes" allow \" and \\ escapes;
 * 'single quotes' are literal; a backslash outside quotes makes the next
 * character literal. Quotes may appear anywhere in a word
 * (`http_title.lk:"index of"`), as in a shell.
 */
export function tokenize(input: string): Token[] {
  if (input.length > MAX_QUERY_LENGTH) {
    throw syntaxError(`query longer than ${MAX_QUERY_LENGTH} characters`, MAX_QUERY_LENGTH);
  }
  const tokens: Token[] = [];
  let i = 0;
  const n = input.length;
  while (i < n) {
    const c = input[i]!;
    if (isSpace(c)) {
      i++;
      continue;
    }
    if (c === '(') {
      tokens.push({ kind: 'lparen', pos: i++ });
      continue;
    }
    if (c === ')') {
      tokens.push({ kind: 'rparen', pos: i++ });
      continue;
    }
    const start = i;
    const chars: WordChar[] = [];
    let anyQuoted = false;
    while (i < n) {
      const ch = input[i]!;
      if (isSpace(ch) || ch === '(' || ch === ')') break;
      if (ch === '"' || ch === "'") {
        anyQuoted = true;
        const open = i++;
        let closed = false;
        while (i < n) {
          const q = input[i]!;
          if (q === ch) {
            closed = true;
            i++;
            break;
          }
          if (ch === '"' && q === '\\' && i + 1 < n && (input[i + 1] === '"' || input[i + 1] === '\\')) {
            chars.push({ c: input[i + 1]!, pos: i + 1, quoted: true });
            i += 2;
            continue;
          }
          chars.push({ c: q, pos: i, quoted: true });
          i++;
        }
        if (!closed) throw syntaxError(`unterminated ${ch === '"' ? 'double' : 'single'} quote`, open, `close the quote opened at position ${open}`);
        continue;
      }
      if (ch === '\\') {
        if (i + 1 >= n) throw syntaxError('dangling backslash', i, 'remove the trailing backslash or quote the value');
        anyQuoted = true;
        chars.push({ c: input[i + 1]!, pos: i + 1, quoted: true });
        i += 2;
        continue;
      }
      chars.push({ c: ch, pos: i, quoted: false });
      i++;
    }
    tokens.push({ kind: 'word', pos: start, end: i, chars, text: chars.map((x) => x.c).join(''), anyQuoted });
  }
  return tokens;
}
