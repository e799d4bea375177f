import { PlumError } from '../errors.ts';
import { countNewlines } from './host.ts';

/*
 * Splitting nmap XML text into host elements and the text between them, incrementally and with bounded memory:
 * a plain text scanner (nmap never nests hosts and escapes '<' in attribute values) that tracks line numbers so
 * errors can point into the file.
 */

/** Longest attribute value or text in a host: nmap's largest script outputs are a few MB. */
const MAX_VALUE_CHARS = 16 * 1024 * 1024;

function hostTooLarge(line: number, max: number): PlumError {
  return new PlumError('parse_error', `a <host> element starting at line ${line} is larger than ${max} bytes`, {
    hint: 'this is not a file nmap writes; check the input, or raise maxHostBytes if it is genuine',
    details: { line, column: 1, reason: 'size' },
  });
}
/** Text between hosts is flushed once it grows past this (bounded memory). */
const INTERSTITIAL_FLUSH = 1024 * 1024;

// ---------------------------------------------------------------------------
// Splitting the input into host elements

export type Piece = { kind: 'host'; xml: string; line: number } | { kind: 'between'; xml: string; line: number };

/**
 * Incremental splitter: push text, get complete host elements and the text
 * between them. Tracks line numbers so errors can point into the file.
 */
export class HostSplitter {
  private buf = '';
  /** Line number of buf[0] (1-based). */
  private bufLine = 1;
  private inHost = false;
  private searchFrom = 0;
  private readonly hostStart = /<host[\s>/]/g;
  constructor(private readonly maxHostBytes: number) {}

  /**
   * Text of an unfinished host read after `buf`, kept as parts: appending to
   * one string and searching it again at each chunk copied the whole host
   * every time (quadratic: a value of a hundred megabytes took minutes to refuse).
   */
  private pending: string[] = [];
  private pendingChars = 0;
  /** The last characters of the unfinished host (a '</host>' split between chunks). */
  private tail = '';
  /** Characters since the last '<': the value (attribute or text) being read. */
  private valueChars = 0;

  push(chunk: string): Piece[] {
    if (this.inHost) {
      const probe = (this.pending.length ? this.tail : this.buf.slice(-6)) + chunk;
      if (!probe.includes('</host>')) {
        this.pendingChars += chunk.length;
        const lt = chunk.lastIndexOf('<');
        this.valueChars = lt < 0 ? this.valueChars + chunk.length : chunk.length - lt - 1;
        if (this.buf.length + this.pendingChars > this.maxHostBytes) throw hostTooLarge(this.bufLine, this.maxHostBytes);
        if (this.valueChars > MAX_VALUE_CHARS) {
          throw new PlumError('parse_error', `a value in the <host> element starting at line ${this.bufLine} is longer than ${MAX_VALUE_CHARS} characters`, {
            hint: 'this is not a file nmap writes; check the input',
            details: { line: this.bufLine, column: 1, reason: 'size' },
          });
        }
        this.pending.push(chunk);
        this.tail = probe.slice(-6);
        return [];
      }
      if (this.pending.length) {
        this.buf += this.pending.join('');
        this.pending = [];
        this.pendingChars = 0;
      }
    }
    this.valueChars = 0;
    this.buf += chunk;
    return this.drain(false);
  }

  /** Whatever is left when the input ends. */
  end(): { pieces: Piece[]; partialHost?: { line: number; bytes: number } } {
    if (this.pending.length) {
      this.buf += this.pending.join('');
      this.pending = [];
      this.pendingChars = 0;
    }
    const pieces = this.drain(true);
    if (this.inHost) return { pieces, partialHost: { line: this.bufLine, bytes: this.buf.length } };
    return { pieces };
  }

  private drain(final: boolean): Piece[] {
    const out: Piece[] = [];
    let pos = 0;
    let line = this.bufLine;
    const buf = this.buf;
    for (;;) {
      if (this.inHost) {
        const idx = buf.indexOf('</host>', Math.max(pos, this.searchFrom));
        if (idx < 0) {
          if (buf.length - pos > this.maxHostBytes) {
            throw new PlumError('parse_error', `a <host> element starting at line ${line} is larger than ${this.maxHostBytes} bytes`, {
              hint: 'this is not a file nmap writes; check the input, or raise maxHostBytes if it is genuine',
              details: { line, column: 1, reason: 'size' },
            });
          }
          this.searchFrom = Math.max(pos, buf.length - 7);
          break;
        }
        const end = idx + 7;
        if (end - pos > this.maxHostBytes) {
          throw hostTooLarge(line, this.maxHostBytes);
        }
        const xml = buf.slice(pos, end);
        out.push({ kind: 'host', xml, line });
        line += countNewlines(xml);
        pos = end;
        this.inHost = false;
        this.searchFrom = 0;
      } else {
        this.hostStart.lastIndex = pos;
        const m = this.hostStart.exec(buf);
        if (!m) {
          // Keep a possible partial "<host" at the end. Text without a tag start is flushed at once (a long
          // blank stretch kept and searched again at every chunk was quadratic, and grew past V8's 512 MB
          // string limit); other text once it is long, up to its last complete tag; a tag this long is not
          // one nmap writes.
          const keep = final ? buf.length : Math.max(pos, buf.length - 6);
          const lt = buf.indexOf('<', pos);
          let cut = pos;
          if (final || lt < 0 || lt >= keep) cut = keep;
          else if (keep - pos > INTERSTITIAL_FLUSH) {
            cut = Math.max(lt, buf.lastIndexOf('>', keep - 1) + 1);
            if (cut === lt && keep - lt > this.maxHostBytes) {
              const at = line + countNewlines(buf.slice(pos, lt));
              throw new PlumError('parse_error', `an element starting at line ${at} is larger than ${this.maxHostBytes} bytes`, {
                hint: 'this is not a file nmap writes; check the input',
                details: { line: at, column: 1, reason: 'size' },
              });
            }
          }
          if (cut > pos) {
            const xml = buf.slice(pos, cut);
            out.push({ kind: 'between', xml, line });
            line += countNewlines(xml);
            pos = cut;
          }
          break;
        }
        if (m.index > pos) {
          const xml = buf.slice(pos, m.index);
          out.push({ kind: 'between', xml, line });
          line += countNewlines(xml);
        }
        pos = m.index;
        this.inHost = true;
        this.searchFrom = pos;
      }
    }
    this.buf = buf.slice(pos);
    this.searchFrom = Math.max(0, this.searchFrom - pos);
    this.bufLine = line;
    return out;
  }
}
