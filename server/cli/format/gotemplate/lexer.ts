/**
 * The lexer of Go's text/template (text/template/parse/lex.go), rule for rule: text and actions,
 * `{{-`/`-}}` trimming (the marker needs an ASCII space next to it, so `{{-3}}` is a number),
 * comments, quoted/raw strings, character constants, numbers as Go scans them, fields,
 * variables, keywords. Errors become an error token carrying Go's message. Pure.
 */

export type ItemType =
  | 'error'
  | 'bool'
  | 'char'
  | 'charConstant'
  | 'complex'
  | 'assign'
  | 'declare'
  | 'eof'
  | 'field'
  | 'identifier'
  | 'leftDelim'
  | 'leftParen'
  | 'number'
  | 'pipe'
  | 'rawString'
  | 'rightDelim'
  | 'rightParen'
  | 'space'
  | 'string'
  | 'text'
  | 'variable'
  // keywords
  | 'block'
  | 'break'
  | 'continue'
  | 'dot'
  | 'define'
  | 'else'
  | 'end'
  | 'if'
  | 'nil'
  | 'range'
  | 'template'
  | 'with';

export interface Item {
  readonly type: ItemType;
  /** Index in the source (UTF-16 units; converted to Go's byte offsets for messages). */
  readonly pos: number;
  readonly val: string;
  /** 1-based line of the item's start. */
  readonly line: number;
}

const KEYWORDS: Readonly<Record<string, ItemType>> = {
  '.': 'dot',
  block: 'block',
  break: 'break',
  continue: 'continue',
  define: 'define',
  else: 'else',
  end: 'end',
  if: 'if',
  range: 'range',
  nil: 'nil',
  template: 'template',
  with: 'with',
};

export const isKeyword = (type: ItemType): boolean => Object.values(KEYWORDS).includes(type);

const LEFT = '{{';
const RIGHT = '}}';
const isSpace = (c: string | undefined): boolean => c === ' ' || c === '\t' || c === '\r' || c === '\n';
/** Go's unicode.IsLetter || unicode.IsDigit, for what is not ASCII. */
const UNICODE_LETTER_OR_DIGIT = /^[\p{L}\p{Nd}]$/u;
/**
 * An identifier character. ASCII is decided without the regular expression: V8 builds a Unicode
 * property class when such a pattern first runs, which cost more than the rest of a `capstan ps`.
 */
const isAlphaNumeric = (c: string | undefined): boolean => {
  if (c === undefined) return false;
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c === '_') return true;
  return c > '\x7f' && UNICODE_LETTER_OR_DIGIT.test(c);
};
const hasLeftTrimMarker = (s: string, at: number): boolean => s[at] === '-' && isSpace(s[at + 1]);
const hasRightTrimMarker = (s: string, at: number): boolean => isSpace(s[at]) && s[at + 1] === '-';
const countNewlines = (s: string): number => s.split('\n').length - 1;

/** %#U of a rune, as Go's lexer errors print it: U+0021 '!'. */
function runeDescription(ch: string): string {
  const code = ch.codePointAt(0)!;
  const hex = 'U+' + code.toString(16).toUpperCase().padStart(4, '0');
  return /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u.test(ch) ? `${hex} '${ch}'` : hex;
}

export interface LexOptions {
  /** false when a function named break/continue exists (Go then treats the word as that function). */
  breakOK: boolean;
  continueOK: boolean;
}

/** All items of a source, ending with an EOF or an error item. */
export function lex(input: string, options: LexOptions = { breakOK: true, continueOK: true }): Item[] {
  const items: Item[] = [];
  let pos = 0;
  let start = 0;
  let line = 1;
  let startLine = 1;
  let parenDepth = 0;

  const emit = (type: ItemType): void => {
    items.push({ type, pos: start, val: input.slice(start, pos), line: startLine });
    line = startLine + countNewlines(input.slice(start, pos));
    start = pos;
    startLine = line;
  };
  const ignore = (): void => {
    line += countNewlines(input.slice(start, pos));
    start = pos;
    startLine = line;
  };
  const fail = (message: string): void => {
    items.push({ type: 'error', pos: start, val: message, line: startLine });
  };
  const atRightDelim = (): { delim: boolean; trim: boolean } => {
    if (hasRightTrimMarker(input, pos) && input.startsWith(RIGHT, pos + 2)) return { delim: true, trim: true };
    if (input.startsWith(RIGHT, pos)) return { delim: true, trim: false };
    return { delim: false, trim: false };
  };
  const atTerminator = (): boolean => {
    const c = input[pos];
    if (c === undefined || isSpace(c)) return true;
    if ('.,|:)('.includes(c)) return true;
    return input.startsWith(RIGHT, pos);
  };
  const leftTrimLength = (at: number): number => {
    let n = 0;
    while (isSpace(input[at + n])) n++;
    return n;
  };

  // Returns false when lexing must stop (EOF or error emitted).
  const lexText = (): 'action' | 'done' => {
    const x = input.indexOf(LEFT, pos);
    if (x < 0) {
      pos = input.length;
      if (pos > start) emit('text');
      items.push({ type: 'eof', pos, val: '', line });
      return 'done';
    }
    if (x > pos || x > start) {
      pos = x;
      let trimLength = 0;
      if (hasLeftTrimMarker(input, x + LEFT.length)) {
        const text = input.slice(start, pos);
        trimLength = text.length - text.replace(/[ \t\r\n]+$/, '').length;
      }
      pos -= trimLength;
      if (pos > start) emit('text');
      pos += trimLength;
      ignore();
    }
    return 'action';
  };

  /** Lexes one action starting at the left delimiter. Returns false when lexing stopped. */
  const lexAction = (): boolean => {
    pos += LEFT.length;
    const trimSpace = hasLeftTrimMarker(input, pos);
    const afterMarker = trimSpace ? 2 : 0;
    if (input.startsWith('/*', pos + afterMarker)) {
      pos += afterMarker;
      ignore();
      pos += 2;
      const x = input.indexOf('*/', pos);
      if (x < 0) {
        fail('unclosed comment');
        return false;
      }
      pos = x + 2;
      const { delim, trim } = atRightDelim();
      if (!delim) {
        fail('comment ends before closing delimiter');
        return false;
      }
      if (trim) pos += 2;
      pos += RIGHT.length;
      if (trim) pos += leftTrimLength(pos);
      ignore();
      return true;
    }
    emit('leftDelim');
    pos += afterMarker;
    ignore();
    parenDepth = 0;
    for (;;) {
      const { delim, trim } = atRightDelim();
      if (delim) {
        if (parenDepth !== 0) {
          fail('unclosed left paren');
          return false;
        }
        if (trim) {
          pos += 2;
          ignore();
        }
        pos += RIGHT.length;
        emit('rightDelim');
        if (trim) {
          pos += leftTrimLength(pos);
          ignore();
        }
        return true;
      }
      const c = input[pos];
      if (c === undefined) {
        fail('unclosed action');
        return false;
      }
      if (isSpace(c)) {
        let n = 0;
        while (isSpace(input[pos])) {
          pos++;
          n++;
        }
        // A trim-marked right delimiter starts with a space: leave that space to it.
        if (hasRightTrimMarker(input, pos - 1) && input.startsWith(RIGHT, pos + 1)) {
          pos--;
          if (n === 1) continue;
        }
        emit('space');
        continue;
      }
      pos++;
      switch (c) {
        case '=':
          emit('assign');
          continue;
        case ':':
          if (input[pos] !== '=') {
            fail('expected :=');
            return false;
          }
          pos++;
          emit('declare');
          continue;
        case '|':
          emit('pipe');
          continue;
        case '"':
        case "'": {
          const kind = c === '"' ? 'quoted string' : 'character constant';
          for (;;) {
            const d = input[pos++];
            if (d === '\\') {
              const e = input[pos++];
              if (e !== undefined && e !== '\n') continue;
              fail(`unterminated ${kind}`);
              return false;
            }
            if (d === undefined || d === '\n') {
              fail(`unterminated ${kind}`);
              return false;
            }
            if (d === c) break;
          }
          emit(c === '"' ? 'string' : 'charConstant');
          continue;
        }
        case '`': {
          const x = input.indexOf('`', pos);
          if (x < 0) {
            fail('unterminated raw quoted string');
            return false;
          }
          pos = x + 1;
          emit('rawString');
          continue;
        }
        case '$':
        case '.': {
          if (c === '.' && /[0-9]/.test(input[pos] ?? '')) {
            pos--;
            if (!lexNumber()) return false;
            continue;
          }
          if (atTerminator()) {
            emit(c === '$' ? 'variable' : 'dot');
            continue;
          }
          while (isAlphaNumeric(input[pos])) pos++;
          if (!atTerminator()) {
            fail(`bad character ${runeDescription(String.fromCodePoint(input.codePointAt(pos)!))}`);
            return false;
          }
          emit(c === '$' ? 'variable' : 'field');
          continue;
        }
        case '(':
          parenDepth++;
          emit('leftParen');
          continue;
        case ')':
          parenDepth--;
          if (parenDepth < 0) {
            fail('unexpected right paren');
            return false;
          }
          emit('rightParen');
          continue;
      }
      if (c === '+' || c === '-' || (c >= '0' && c <= '9')) {
        pos--;
        if (!lexNumber()) return false;
        continue;
      }
      const ch = String.fromCodePoint(input.codePointAt(pos - 1)!);
      if (isAlphaNumeric(ch)) {
        pos += ch.length - 1;
        while (isAlphaNumeric(input[pos])) pos++;
        const word = input.slice(start, pos);
        if (!atTerminator()) {
          fail(`bad character ${runeDescription(String.fromCodePoint(input.codePointAt(pos)!))}`);
          return false;
        }
        const keyword = KEYWORDS[word];
        if (keyword !== undefined && !((keyword === 'break' && !options.breakOK) || (keyword === 'continue' && !options.continueOK))) emit(keyword);
        else if (word === 'true' || word === 'false') emit('bool');
        else emit('identifier');
        continue;
      }
      if (c <= '\x7f' && c >= ' ' && c !== '\x7f') {
        emit('char');
        continue;
      }
      fail(`unrecognized character in action: ${runeDescription(ch)}`);
      return false;
    }
  };

  const accept = (valid: string): boolean => {
    if (input[pos] !== undefined && valid.includes(input[pos]!)) {
      pos++;
      return true;
    }
    return false;
  };
  const acceptRun = (valid: string): void => {
    while (input[pos] !== undefined && valid.includes(input[pos]!)) pos++;
  };
  const scanNumber = (): boolean => {
    accept('+-');
    let digits = '0123456789_';
    if (accept('0')) {
      if (accept('xX')) digits = '0123456789abcdefABCDEF_';
      else if (accept('oO')) digits = '01234567_';
      else if (accept('bB')) digits = '01_';
    }
    acceptRun(digits);
    if (accept('.')) acceptRun(digits);
    if (digits.length === 11 && accept('eE')) {
      accept('+-');
      acceptRun('0123456789_');
    }
    if (digits.length === 23 && accept('pP')) {
      accept('+-');
      acceptRun('0123456789_');
    }
    accept('i');
    if (isAlphaNumeric(input[pos])) {
      pos++;
      return false;
    }
    return true;
  };
  const lexNumber = (): boolean => {
    if (!scanNumber()) {
      fail(`bad number syntax: ${JSON.stringify(input.slice(start, pos))}`);
      return false;
    }
    if (input[pos] === '+' || input[pos] === '-') {
      if (!scanNumber() || input[pos - 1] !== 'i') {
        fail(`bad number syntax: ${JSON.stringify(input.slice(start, pos))}`);
        return false;
      }
      emit('complex');
      return true;
    }
    emit('number');
    return true;
  };

  for (;;) {
    if (lexText() === 'done') return items;
    if (!lexAction()) return items;
  }
}
