/**
 * The functions a template can call: Go's builtins (text/template/funcs.go) and docker's
 * (github.com/docker/cli templates: json, split, join, title, lower, upper, pad, truncate), plus
 * docker's header variants that leave a table's column headers intact. Each is a GoFunc with
 * the Go parameter types, so the executor checks arguments the way reflect does. `and`, `or` and
 * `call` are evaluated by the executor itself (they short-circuit or take the callee's name).
 * Pure: no I/O.
 */
import { goJsonString } from '../gojson';
import { formatDefault, formatVerb, isPrint, sprint, sprintf, sprintln } from './fmt';
import { FuncError, type GoFunc, type GoValue, type ParamType, isMap, isSlice, slice, stringSlice, truth, typeName } from './value';

export type FunctionTable = ReadonlyMap<string, GoFunc>;

const fn = (params: readonly ParamType[], call: (args: GoValue[]) => GoValue, variadic?: ParamType): GoFunc => ({
  kind: 'func',
  params,
  ...(variadic ? { variadic } : {}),
  call,
});

const utf8 = new TextEncoder();
const byteLength = (s: string): number => utf8.encode(s).length;

// --- Comparison (funcs.go: eq, lt and friends)

type BasicKind = 'bool' | 'int' | 'float' | 'string' | 'invalid';

function basicKind(v: GoValue): BasicKind {
  switch (typeof v) {
    case 'boolean':
      return 'bool';
    case 'bigint':
      return 'int';
    case 'number':
      return 'float';
    case 'string':
      return 'string';
  }
  return 'invalid';
}

const isNilValue = (v: GoValue): boolean => v === undefined || v === null;

function eq(arg1: GoValue, ...rest: GoValue[]): boolean {
  if (rest.length === 0) throw new FuncError('missing argument for comparison');
  const k1 = basicKind(arg1);
  for (const arg of rest) {
    const k2 = basicKind(arg);
    let equal = false;
    if (k1 !== k2) {
      if (!isNilValue(arg1) && !isNilValue(arg)) throw new FuncError('incompatible types for comparison');
    } else if (k1 !== 'invalid') {
      equal = arg1 === arg;
    } else {
      const kind1 = isNilValue(arg1) ? 'nil' : (arg1 as { kind: string }).kind;
      const kind2 = isNilValue(arg) ? 'nil' : (arg as { kind: string }).kind;
      if (kind1 !== kind2 && kind1 !== 'nil' && kind2 !== 'nil') {
        throw new FuncError(`non-comparable types ${formatVerb(arg1, 's')}: ${typeName(arg1)}, ${typeName(arg)}: ${formatDefault(arg)}`);
      }
      if (isNilValue(arg1) || isNilValue(arg)) equal = isNilValue(arg1) === isNilValue(arg);
      else if (kind2 !== 'struct') throw new FuncError(`non-comparable type ${formatVerb(arg, 's')}: ${typeName(arg)}`);
      else equal = arg1 === arg;
    }
    if (equal) return true;
  }
  return false;
}

function lt(arg1: GoValue, arg2: GoValue): boolean {
  const k1 = basicKind(arg1);
  const k2 = basicKind(arg2);
  if (k1 === 'invalid' || k2 === 'invalid') throw new FuncError('invalid type for comparison');
  if (k1 !== k2) throw new FuncError('incompatible types for comparison');
  if (k1 === 'bool') throw new FuncError('invalid type for comparison');
  return (arg1 as string | number | bigint) < (arg2 as string | number | bigint);
}


// --- Indexing, slicing, length

function indexArg(index: GoValue, cap: number): number {
  if (index === undefined || index === null) throw new FuncError('cannot index slice/array with nil');
  if (typeof index !== 'bigint') throw new FuncError(`cannot index slice/array with type ${typeName(index)}`);
  if (index < 0n || index > BigInt(cap)) throw new FuncError(`index out of range: ${index}`);
  return Number(index);
}

function index(item: GoValue, ...indexes: GoValue[]): GoValue {
  if (isNilValue(item)) throw new FuncError('index of untyped nil');
  for (const idx of indexes) {
    if (isNilValue(item)) throw new FuncError('index of nil pointer');
    if (typeof item === 'string') {
      const bytes = utf8.encode(item);
      const x = indexArg(idx, bytes.length);
      // reflect panics for x == len, which safeCall reports.
      if (x === bytes.length) throw new FuncError('reflect: string index out of range');
      item = BigInt(bytes[x]!);
    } else if (isSlice(item)) {
      const x = indexArg(idx, item.items.length);
      if (x === item.items.length) throw new FuncError('reflect: slice index out of range');
      item = item.items[x];
    } else if (isMap(item)) {
      if (isNilValue(idx)) throw new FuncError('value is nil; should be of type string');
      if (typeof idx !== 'string') throw new FuncError(`value has type ${typeName(idx)}; should be string`);
      item = item.entries.has(idx) ? item.entries.get(idx) : item.zero;
    } else {
      throw new FuncError(`can't index item of type ${typeName(item)}`);
    }
  }
  return item;
}

function sliceOf(item: GoValue, ...indexes: GoValue[]): GoValue {
  if (isNilValue(item)) throw new FuncError('slice of untyped nil');
  if (indexes.length > 3) throw new FuncError(`too many slice indexes: ${indexes.length}`);
  let length: number;
  if (typeof item === 'string') {
    if (indexes.length === 3) throw new FuncError('cannot 3-index slice a string');
    length = utf8.encode(item).length;
  } else if (isSlice(item)) {
    length = item.items.length;
  } else {
    throw new FuncError(`can't slice item of type ${typeName(item)}`);
  }
  const idx = [0, length, 0];
  indexes.forEach((x, i) => {
    idx[i] = indexArg(x, length);
  });
  if (idx[0]! > idx[1]!) throw new FuncError(`invalid slice index: ${idx[0]} > ${idx[1]}`);
  if (indexes.length === 3 && idx[1]! > idx[2]!) throw new FuncError(`invalid slice index: ${idx[1]} > ${idx[2]}`);
  if (typeof item === 'string') return new TextDecoder().decode(utf8.encode(item).subarray(idx[0], idx[1]));
  return slice((item as { items: readonly GoValue[] }).items.slice(idx[0], idx[1]), (item as { type: string }).type);
}

function length(item: GoValue): GoValue {
  if (item === null) throw new FuncError('len of nil pointer');
  if (item === undefined) throw new FuncError('reflect: call of reflect.Value.Type on zero Value');
  if (typeof item === 'string') return BigInt(byteLength(item));
  if (isSlice(item)) return BigInt(item.items.length);
  if (isMap(item)) return BigInt(item.entries.size);
  throw new FuncError(`len of type ${typeName(item)}`);
}

// --- Escapers

/** text/template's evalArgs: one string as is, else fmt.Sprint with nils shown as <no value>. */
function evalArgs(args: GoValue[]): string {
  if (args.length === 1 && typeof args[0] === 'string') return args[0];
  return sprint(args.map((a) => (isNilValue(a) ? '<no value>' : a)));
}

export function htmlEscape(s: string): string {
  return s.replace(/[\0"'&<>]/g, (c) => ({ '\0': '\uFFFD', '"': '&#34;', "'": '&#39;', '&': '&amp;', '<': '&lt;', '>': '&gt;' })[c]!);
}

export function jsEscape(s: string): string {
  let out = '';
  for (const ch of s) {
    const code = ch.codePointAt(0)!;
    const named: Record<string, string> = { '\\': '\\\\', "'": "\\'", '"': '\\"', '<': '\\u003C', '>': '\\u003E', '&': '\\u0026', '=': '\\u003D' };
    if (named[ch]) out += named[ch];
    else if (code < 0x20) out += '\\u00' + code.toString(16).toUpperCase().padStart(2, '0');
    else if (code < 0x80 || isPrint(ch)) out += ch;
    else out += '\\u' + code.toString(16).toUpperCase().padStart(4, '0');
  }
  return out;
}

/** net/url.QueryEscape. */
export function urlQueryEscape(s: string): string {
  let out = '';
  for (const b of utf8.encode(s)) {
    const c = String.fromCharCode(b);
    if (/[A-Za-z0-9\-_.~]/.test(c)) out += c;
    else if (c === ' ') out += '+';
    else out += '%' + b.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

// --- JSON (encoding/json with SetEscapeHTML(false), as docker's json function)

class JsonUnsupported extends Error {}

/** A value as Go's json.Encoder writes it; throws JsonUnsupported where Go's encoder fails. */
export function goJson(v: GoValue): string {
  if (v === undefined || v === null) return 'null';
  switch (typeof v) {
    case 'string':
      return goJsonString(v, false);
    case 'bigint':
    case 'boolean':
      return String(v);
    case 'number':
      if (!Number.isFinite(v)) throw new JsonUnsupported(`json: unsupported value: ${v}`);
      return String(v);
  }
  switch (v.kind) {
    case 'slice':
      return v.isNil ? 'null' : '[' + v.items.map(goJson).join(',') + ']';
    case 'map':
      if (v.isNil) return 'null';
      return '{' + [...v.entries.keys()].sort().map((k) => goJsonString(k, false) + ':' + goJson(v.entries.get(k))).join(',') + '}';
    case 'struct': {
      if (v.toJson) return v.toJson();
      const parts = v.fieldNames.map((name) => {
        const field = v.field(name);
        return goJsonString(name, false) + ':' + goJson(typeof field === 'symbol' ? null : field);
      });
      return '{' + parts.join(',') + '}';
    }
    case 'func':
      throw new JsonUnsupported('json: unsupported type: func');
  }
}

// --- docker's string functions

/** Go's strings.Title: upper-cases the first letter of every word. */
export function goTitle(s: string): string {
  let prev = ' ';
  let out = '';
  for (const ch of s) {
    out += isTitleSeparator(prev) ? ch.toUpperCase() : ch;
    prev = ch;
  }
  return out;
}

function isTitleSeparator(ch: string): boolean {
  if (ch.codePointAt(0)! <= 0x7f) return !/[0-9A-Za-z_]/.test(ch);
  if (/[\p{L}\p{Nd}]/u.test(ch)) return false;
  return /\s/u.test(ch);
}

/** docker's truncateWithLength, which cuts at a byte count. */
function truncateBytes(s: string, n: bigint): string {
  const bytes = utf8.encode(s);
  if (BigInt(bytes.length) < n) return s;
  if (n < 0n) throw new FuncError(`runtime error: slice bounds out of range [:${n}]`);
  return new TextDecoder().decode(bytes.subarray(0, Number(n)));
}

function padWithSpace(s: string, prefix: bigint, suffix: bigint): string {
  if (s === '') return s;
  if (prefix < 0n || suffix < 0n) throw new FuncError('strings: negative Repeat count');
  return ' '.repeat(Number(prefix)) + s + ' '.repeat(Number(suffix));
}

/** Go's strings.ToUpper/ToLower map rune to rune; JavaScript may expand one (ß → SS), which Go does not. */
function mapRunes(s: string, map: (ch: string) => string): string {
  let out = '';
  for (const ch of s) {
    const mapped = map(ch);
    out += [...mapped].length === 1 ? mapped : ch;
  }
  return out;
}

const str = (v: GoValue): string => v as string;
const int = (v: GoValue): bigint => v as bigint;

/** The executor special-cases these three; their entries carry only the signature. */
export const SPECIAL_BUILTINS: ReadonlySet<string> = new Set(['and', 'or', 'call']);

const unreachable = (): never => {
  throw new Error('evaluated by the executor');
};

/** text/template's builtins. */
export const GO_BUILTINS: FunctionTable = new Map<string, GoFunc>([
  ['and', fn(['reflect.Value'], unreachable, 'reflect.Value')],
  ['or', fn(['reflect.Value'], unreachable, 'reflect.Value')],
  ['call', fn(['reflect.Value'], unreachable, 'reflect.Value')],
  ['not', fn(['reflect.Value'], ([v]) => !truth(v))],
  ['len', fn(['reflect.Value'], ([v]) => length(v))],
  ['index', fn(['reflect.Value'], ([item, ...rest]) => index(item, ...rest), 'reflect.Value')],
  ['slice', fn(['reflect.Value'], ([item, ...rest]) => sliceOf(item, ...rest), 'reflect.Value')],
  ['print', fn([], (args) => sprint(args), 'interface {}')],
  ['printf', fn(['string'], ([format, ...args]) => sprintf(str(format), args), 'interface {}')],
  ['println', fn([], (args) => sprintln(args), 'interface {}')],
  ['html', fn([], (args) => htmlEscape(evalArgs(args)), 'interface {}')],
  ['js', fn([], (args) => jsEscape(evalArgs(args)), 'interface {}')],
  ['urlquery', fn([], (args) => urlQueryEscape(evalArgs(args)), 'interface {}')],
  ['eq', fn(['reflect.Value'], ([a, ...rest]) => eq(a, ...rest), 'reflect.Value')],
  ['ne', fn(['reflect.Value', 'reflect.Value'], ([a, b]) => !eq(a, b))],
  ['lt', fn(['reflect.Value', 'reflect.Value'], ([a, b]) => lt(a, b))],
  ['le', fn(['reflect.Value', 'reflect.Value'], ([a, b]) => lt(a, b) || eq(a, b))],
  ['gt', fn(['reflect.Value', 'reflect.Value'], ([a, b]) => !(lt(a, b) || eq(a, b)))],
  ['ge', fn(['reflect.Value', 'reflect.Value'], ([a, b]) => !lt(a, b))],
]);

/** docker's basicFunctions (cli/templates), on top of Go's builtins. */
export const DOCKER_FUNCTIONS: FunctionTable = new Map<string, GoFunc>([
  ...GO_BUILTINS,
  [
    'json',
    fn(['interface {}'], ([v]) => {
      try {
        return goJson(v);
      } catch (error) {
        // docker ignores the encoder's error and returns what was written: nothing.
        if (error instanceof JsonUnsupported) return '';
        throw error;
      }
    }),
  ],
  ['split', fn(['string', 'string'], ([s, sep]) => stringSlice(str(sep) === '' ? [...str(s)] : str(s).split(str(sep))))],
  ['join', fn(['[]string', 'string'], ([list, sep]) => (isSlice(list) ? (list.items as string[]).join(str(sep)) : ''))],
  ['title', fn(['string'], ([s]) => goTitle(str(s)))],
  ['lower', fn(['string'], ([s]) => mapRunes(str(s), (ch) => ch.toLowerCase()))],
  ['upper', fn(['string'], ([s]) => mapRunes(str(s), (ch) => ch.toUpperCase()))],
  ['pad', fn(['string', 'int', 'int'], ([s, prefix, suffix]) => padWithSpace(str(s), int(prefix), int(suffix)))],
  ['truncate', fn(['string', 'int'], ([s, n]) => truncateBytes(str(s), int(n)))],
]);

const keepFirst = (params: readonly ParamType[]): GoFunc => fn(params, ([v]) => v!);

/** docker's HeaderFunctions: a table header keeps its text (pad is not overridden, to stay aligned). */
export const DOCKER_HEADER_FUNCTIONS: FunctionTable = new Map<string, GoFunc>([
  ...DOCKER_FUNCTIONS,
  ['json', keepFirst(['string'])],
  ['split', keepFirst(['string', 'string'])],
  ['join', keepFirst(['string', 'string'])],
  ['title', keepFirst(['string'])],
  ['lower', keepFirst(['string'])],
  ['upper', keepFirst(['string'])],
  ['truncate', keepFirst(['string', 'int'])],
]);

