/**
 * Go's fmt for template values: Sprint, Sprintln and Sprintf with the verbs templates use
 * (%v %+v %s %d %b %o %O %x %X %c %q %U %e %E %f %F %g %G %t %T %%), widths, precisions, `*`,
 * and the flags - + # 0 space; composite values print as Go prints them ([a b], map[k:v],
 * {a b}); mistakes print Go's %!d(string=x), %!d(MISSING), %!(EXTRA int=2), %!(NOVERB).
 * Pure: no I/O.
 */
import { formatE, formatF, formatG } from '../gofloat';
import { compareBytewise } from '../gojson';
import { type GoValue, typeName } from './value';

interface Spec {
  minus: boolean;
  plus: boolean;
  sharp: boolean;
  space: boolean;
  zero: boolean;
  width: number | undefined;
  prec: number | undefined;
  /** %+v: struct field names. */
  plusV: boolean;
}

const plainSpec = (): Spec => ({ minus: false, plus: false, sharp: false, space: false, zero: false, width: undefined, prec: undefined, plusV: false });

const runeCount = (s: string): number => {
  let n = 0;
  for (const _ of s) n++;
  return n;
};

function pad(s: string, spec: Spec, zeroAllowed = true): string {
  if (spec.width === undefined) return s;
  const missing = spec.width - runeCount(s);
  if (missing <= 0) return s;
  if (spec.minus) return s + ' '.repeat(missing);
  return (spec.zero && zeroAllowed ? '0' : ' ').repeat(missing) + s;
}

/** Go's unicode.IsPrint: letters, marks, numbers, punctuation, symbols and the ASCII space. */
export function isPrint(ch: string): boolean {
  return ch === ' ' || /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u.test(ch);
}

function quoteRune(ch: string, quote: string, asciiOnly: boolean): string {
  const code = ch.codePointAt(0)!;
  if (ch === quote || ch === '\\') return '\\' + ch;
  if (code < 0x80 ? code >= 0x20 && code < 0x7f : !asciiOnly && isPrint(ch)) return ch;
  const named: Record<string, string> = { '\x07': '\\a', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\v': '\\v' };
  if (named[ch]) return named[ch];
  if (code >= 0xd800 && code <= 0xdfff) return '\\ufffd'; // a lone surrogate is invalid UTF-8 to Go
  if (code < 0x100 && code < 0x80) return '\\x' + code.toString(16).padStart(2, '0');
  if (code < 0x10000) return '\\u' + code.toString(16).padStart(4, '0');
  return '\\U' + code.toString(16).padStart(8, '0');
}

/** strconv.Quote (or QuoteToASCII). */
export function goQuote(s: string, asciiOnly = false): string {
  let out = '"';
  for (const ch of s) out += quoteRune(ch, '"', asciiOnly);
  return out + '"';
}

function quoteChar(code: number, asciiOnly: boolean): string {
  const ch = code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff) ? '\ufffd' : String.fromCodePoint(code);
  return "'" + quoteRune(ch, "'", asciiOnly) + "'";
}

function utf8Bytes(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

/** %!verb(type=value): Go prints the value with %v under the same flags. */
function badVerb(verb: string, v: GoValue, spec: Spec = plainSpec()): string {
  if (v === undefined || v === null) return `%!${verb}(<nil>)`;
  return `%!${verb}(${typeName(v)}=${formatValue(v, 'v', spec)})`;
}

function fmtInteger(v: bigint, base: number, verb: string, spec: Spec): string {
  const negative = v < 0n;
  let digits = (negative ? -v : v).toString(base);
  if (verb === 'X') digits = digits.toUpperCase();
  let prec = spec.prec;
  let zeroWidth = false;
  if (prec === undefined && spec.zero && spec.width !== undefined && !spec.minus) {
    prec = spec.width;
    if (negative || spec.plus || spec.space) prec--;
    zeroWidth = true;
  }
  if (prec !== undefined) {
    if (prec === 0 && v === 0n && !zeroWidth) digits = '';
    if (digits.length < prec) digits = '0'.repeat(prec - digits.length) + digits;
  }
  let prefix = '';
  if (spec.sharp) {
    if (base === 8 && !digits.startsWith('0')) prefix = '0';
    else if (base === 16) prefix = verb === 'X' ? '0X' : '0x';
    else if (base === 2) prefix = '0b';
  }
  if (verb === 'O') prefix = '0o';
  const sign = negative ? '-' : spec.plus ? '+' : spec.space ? ' ' : '';
  return pad(sign + prefix + digits, { ...spec, zero: false });
}

function fmtFloat(v: number, verb: string, spec: Spec): string {
  if (!Number.isFinite(v)) {
    // Go keeps the sign of an infinity and drops NaN's unless asked for; never zero-padded.
    let text = Number.isNaN(v) ? (spec.plus ? '+NaN' : spec.space ? ' NaN' : 'NaN') : v > 0 ? '+Inf' : '-Inf';
    if (text === '+Inf' && spec.space && !spec.plus) text = ' Inf';
    return pad(text, { ...spec, zero: false });
  }
  const lower = verb.toLowerCase();
  let text: string;
  if (lower === 'e') text = formatE(v, spec.prec ?? 6);
  else if (lower === 'f') text = formatF(v, spec.prec ?? 6);
  else text = formatG(v, spec.prec ?? -1);
  if (verb === 'E' || verb === 'G') text = text.toUpperCase();
  let sign = '';
  if (text.startsWith('-')) {
    sign = '-';
    text = text.slice(1);
  } else if (spec.plus) sign = '+';
  else if (spec.space) sign = ' ';
  if (spec.zero && !spec.minus && spec.width !== undefined && spec.width > sign.length + text.length) {
    return sign + '0'.repeat(spec.width - sign.length - text.length) + text;
  }
  return pad(sign + text, { ...spec, zero: false });
}

function fmtString(s: string, verb: string, spec: Spec): string | undefined {
  switch (verb) {
    case 'v':
    case 's':
      if (verb === 'v' && spec.sharp) return pad(goQuote(s), spec);
      if (spec.prec !== undefined) s = [...s].slice(0, spec.prec).join('');
      return pad(s, spec);
    case 'q':
      if (spec.sharp && !/[`\u0000-\u0008\u000a-\u001f\u007f\ufeff]/.test(s)) return pad('`' + s + '`', spec);
      return pad(goQuote(spec.prec !== undefined ? [...s].slice(0, spec.prec).join('') : s, spec.plus), spec);
    case 'x':
    case 'X': {
      let bytes = utf8Bytes(s);
      if (spec.prec !== undefined) bytes = bytes.subarray(0, spec.prec);
      const parts = [...bytes].map((b) => b.toString(16).padStart(2, '0'));
      const prefix = spec.sharp ? (verb === 'X' ? '0X' : '0x') : '';
      let out = spec.space ? parts.map((p) => prefix + p).join(' ') : prefix + parts.join('');
      if (spec.space && !spec.sharp) out = parts.join(' ');
      if (verb === 'X') out = out.toUpperCase();
      return pad(out, spec);
    }
  }
  return undefined;
}

/** One operand formatted with one verb (fmt's printArg / printValue). */
export function formatValue(v: GoValue, verb: string, spec: Spec, depth = 0): string {
  if (verb === 'T') return pad(v === undefined || v === null ? '<nil>' : typeName(v), spec);
  if (v === undefined || v === null) return verb === 'v' ? pad('<nil>', spec) : badVerb(verb, v, spec);
  switch (typeof v) {
    case 'boolean':
      return verb === 'v' || verb === 't' ? pad(String(v), spec) : badVerb(verb, v, spec);
    case 'bigint':
      switch (verb) {
        case 'v':
        case 'd':
          return fmtInteger(v, 10, verb, spec);
        case 'b':
          return fmtInteger(v, 2, verb, spec);
        case 'o':
        case 'O':
          return fmtInteger(v, 8, verb, spec);
        case 'x':
        case 'X':
          return fmtInteger(v, 16, verb, spec);
        case 'c':
          return pad(v < 0n || v > 0x10ffffn ? '\ufffd' : String.fromCodePoint(Number(v)), spec);
        case 'q':
          return pad(quoteChar(Number(v), spec.plus), spec);
        case 'U': {
          const hex = (v < 0n ? -v : v).toString(16).toUpperCase().padStart(4, '0');
          const code = Number(v);
          const show = spec.sharp && code >= 0 && code <= 0x10ffff && isPrint(String.fromCodePoint(code));
          return pad('U+' + hex + (show ? ` '${String.fromCodePoint(code)}'` : ''), spec);
        }
      }
      return badVerb(verb, v, spec);
    case 'number':
      return 'veEfFgG'.includes(verb) ? fmtFloat(v, verb, spec) : badVerb(verb, v, spec);
    case 'string':
      return fmtString(v, verb, spec) ?? badVerb(verb, v, spec);
  }
  switch (v.kind) {
    case 'slice':
      return '[' + v.items.map((item) => formatValue(item, verb, spec, depth + 1)).join(' ') + ']';
    case 'map': {
      const keys = [...v.entries.keys()].sort(compareBytewise);
      return 'map[' + keys.map((k) => formatValue(k, verb, spec, depth + 1) + ':' + formatValue(v.entries.get(k), verb, spec, depth + 1)).join(' ') + ']';
    }
    case 'struct': {
      if (v.toText && 'vsqxX'.includes(verb)) return fmtString(v.toText(), verb, spec) ?? badVerb(verb, v, spec);
      const parts = v.fieldNames.map((name) => {
        const field = v.field(name);
        const text = formatValue(typeof field === 'symbol' ? undefined : field, verb, spec, depth + 1);
        return spec.plusV ? `${name}:${text}` : text;
      });
      return '{' + parts.join(' ') + '}';
    }
    case 'func':
      // Go prints a func's address; there is none here.
      return verb === 'v' || verb === 'p' ? pad('0x0', spec) : badVerb(verb, v, spec);
  }
}

/** fmt's %v with no flags, as text/template prints a value. */
export function formatDefault(v: GoValue): string {
  return formatValue(v, 'v', plainSpec());
}

/** A value with one verb and no flags (Sprintf("%s", v) and the like). */
export function formatVerb(v: GoValue, verb: string): string {
  return formatValue(v, verb, plainSpec());
}

const isStringArg = (v: GoValue): boolean => typeof v === 'string';

/** fmt.Sprint: operands in %v, a space between two operands when neither is a string. */
export function sprint(args: readonly GoValue[]): string {
  let out = '';
  args.forEach((arg, i) => {
    if (i > 0 && !isStringArg(arg) && !isStringArg(args[i - 1])) out += ' ';
    out += formatValue(arg, 'v', plainSpec());
  });
  return out;
}

/** fmt.Sprintln: operands in %v, always separated by spaces, then a newline. */
export function sprintln(args: readonly GoValue[]): string {
  return args.map((arg) => formatValue(arg, 'v', plainSpec())).join(' ') + '\n';
}

/** fmt.Sprintf. */
export function sprintf(format: string, args: readonly GoValue[]): string {
  let out = '';
  let argIndex = 0;
  let i = 0;
  const intArg = (): number | undefined => {
    const v = args[argIndex];
    if (argIndex >= args.length || typeof v !== 'bigint') {
      argIndex++;
      return undefined;
    }
    argIndex++;
    const n = Number(v);
    return n > 1e6 || n < -1e6 ? undefined : n;
  };
  while (i < format.length) {
    const percent = format.indexOf('%', i);
    if (percent < 0) {
      out += format.slice(i);
      break;
    }
    out += format.slice(i, percent);
    i = percent + 1;
    const spec = plainSpec();
    for (; i < format.length; i++) {
      const c = format[i];
      if (c === '-') {
        spec.minus = true;
        spec.zero = false;
      } else if (c === '+') spec.plus = true;
      else if (c === '#') spec.sharp = true;
      else if (c === ' ') spec.space = true;
      else if (c === '0') spec.zero = !spec.minus;
      else break;
    }
    let bad = '';
    if (format[i] === '*') {
      i++;
      const w = intArg();
      if (w === undefined) bad += '%!(BADWIDTH)';
      else if (w < 0) {
        spec.minus = true;
        spec.zero = false;
        spec.width = -w;
      } else spec.width = w;
    } else {
      const m = /^[0-9]+/.exec(format.slice(i));
      if (m) {
        spec.width = Number(m[0]);
        i += m[0].length;
      }
    }
    if (format[i] === '.') {
      i++;
      if (format[i] === '*') {
        i++;
        const p = intArg();
        if (p === undefined || p < 0) bad += '%!(BADPREC)';
        else spec.prec = p;
      } else {
        const m = /^[0-9]+/.exec(format.slice(i));
        spec.prec = m ? Number(m[0]) : 0;
        if (m) i += m[0].length;
      }
    }
    out += bad;
    if (i >= format.length) {
      out += '%!(NOVERB)';
      break;
    }
    const verb = String.fromCodePoint(format.codePointAt(i)!);
    i += verb.length;
    if (verb === '%') {
      out += '%';
      continue;
    }
    if (argIndex >= args.length) {
      out += `%!${verb}(MISSING)`;
      continue;
    }
    const arg = args[argIndex++];
    if (verb === 'v' && spec.plus) {
      spec.plus = false;
      spec.plusV = true;
    }
    out += formatValue(arg, verb, spec);
  }
  if (argIndex < args.length) {
    out += '%!(EXTRA ' + args.slice(argIndex).map((a) => (a === undefined || a === null ? '<nil>' : `${typeName(a)}=${formatValue(a, 'v', plainSpec())}`)).join(', ') + ')';
  }
  return out;
}
