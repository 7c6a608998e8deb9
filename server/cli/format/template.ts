/**
 * The subset of Go's text/template that docker's --format flags are used with, plus docker's
 * template functions (github.com/docker/cli/templates): `{{.Field}}`, `{{.}}`, `{{json .}}`,
 * function calls with arguments, pipes (`{{.Name | upper}}`), parenthesised pipelines, string and
 * number literals, comments, and the `{{-`/`-}}` whitespace trim markers.
 * Control structures (if, range, with, variables) are rejected with a clear parse error.
 *
 * Execution runs in one of two modes, as docker's does:
 * - "row": the dot is a listing row; unknown fields are an error, and the functions are docker's
 *   basicFunctions (json, split, join, title, lower, upper, pad, truncate).
 * - "header": the dot is a map from field name to column header, and the functions are docker's
 *   HeaderFunctions, which return the header unchanged (pad excepted) so that `table` output gets
 *   a header line built from the very same template.
 * Error texts follow Go's ("template: :1:2: executing "" at <.Foo>: can't evaluate field Foo in
 * type ...") because that is what docker users see and search for. Pure: no I/O.
 */
import { formatG } from './gofloat';
import { goJsonString } from './gojson';

/** The dot of a listing row: named string fields plus its JSON form (docker's MarshalJSON). */
export interface RowData {
  readonly kind: 'row';
  /** Shown in "can't evaluate field X in type T" errors. */
  readonly typeName: string;
  /** The field's text, or undefined when the row type has no such field. */
  field(name: string): string | undefined;
  /** `{{json .}}`: one JSON object with every field. */
  toJson(): string;
}

/** The dot while rendering a table header: field name → header text. */
export interface HeaderData {
  readonly kind: 'header';
  readonly headers: Readonly<Record<string, string>>;
}

export type TemplateData = RowData | HeaderData;

/** A value flowing through a pipeline. `undefined` is Go's "<no value>" (a missing map key). */
type Value = string | number | boolean | string[] | TemplateData | null | undefined;

export class TemplateError extends Error {
  override name = 'TemplateError';
  constructor(
    message: string,
    readonly phase: 'parse' | 'exec',
    /** Output produced before an execution error (Go writes as it goes). */
    readonly partial = '',
  ) {
    super(message);
  }
}

// ---------------------------------------------------------------------------------------------
// Syntax tree

type Operand =
  | { kind: 'field'; chain: string[]; pos: number }
  | { kind: 'dot'; pos: number }
  | { kind: 'string'; value: string; pos: number; text: string }
  | { kind: 'number'; value: number; pos: number; text: string }
  | { kind: 'bool'; value: boolean; pos: number }
  | { kind: 'nil'; pos: number }
  | { kind: 'function'; name: string; pos: number }
  | { kind: 'pipeline'; pipeline: Pipeline; pos: number };

interface Command {
  operands: Operand[];
  pos: number;
}

interface Pipeline {
  commands: Command[];
  pos: number;
}

type Node = { kind: 'text'; text: string } | { kind: 'action'; pipeline: Pipeline; pos: number };

export interface Template {
  /** The source text that was parsed (after docker's \t and \n replacement). */
  readonly source: string;
  readonly nodes: readonly Node[];
  /** Names of the fields the template reads, in order of appearance (for column selection). */
  readonly fields: readonly string[];
}

const FUNCTION_NAMES = new Set(['json', 'split', 'join', 'title', 'lower', 'upper', 'pad', 'truncate']);
const UNSUPPORTED_KEYWORDS = new Set(['if', 'else', 'end', 'range', 'with', 'define', 'template', 'block', 'break', 'continue']);

// ---------------------------------------------------------------------------------------------
// Parsing

function lineOf(source: string, pos: number): number {
  let line = 1;
  for (let i = 0; i < pos && i < source.length; i++) if (source[i] === '\n') line++;
  return line;
}

function parseError(source: string, pos: number, message: string): TemplateError {
  return new TemplateError(`template: :${lineOf(source, pos)}: ${message}`, 'parse');
}

const isSpace = (ch: string | undefined): boolean => ch === ' ' || ch === '\t' || ch === '\r' || ch === '\n';
const isIdentStart = (ch: string | undefined): boolean => ch !== undefined && /[A-Za-z_]/.test(ch);
const isIdentChar = (ch: string | undefined): boolean => ch !== undefined && /[A-Za-z0-9_]/.test(ch);

/** Parses a Go template. Throws TemplateError (phase "parse") with Go's wording. */
export function parseTemplate(source: string): Template {
  const nodes: Node[] = [];
  const fields: string[] = [];
  let i = 0;
  let trimNextText = false;

  const pushText = (text: string): void => {
    if (trimNextText) text = text.replace(/^[ \t\r\n]+/, '');
    trimNextText = false;
    if (text !== '') nodes.push({ kind: 'text', text });
  };

  while (i < source.length) {
    const open = source.indexOf('{{', i);
    if (open < 0) {
      pushText(source.slice(i));
      break;
    }
    let text = source.slice(i, open);
    let p = open + 2;
    // "{{- " trims the white space before the action.
    if (source[p] === '-' && isSpace(source[p + 1])) {
      text = text.replace(/[ \t\r\n]+$/, '');
      p += 2;
    }
    pushText(text);

    // Comments: {{/* ... */}}
    if (source.startsWith('/*', p)) {
      const endComment = source.indexOf('*/', p + 2);
      if (endComment < 0) throw parseError(source, p, 'unclosed comment');
      let q = endComment + 2;
      let trimAfter = false;
      if (isSpace(source[q]) && source.startsWith('-}}', q + 1)) {
        trimAfter = true;
        q += 1;
        q += 1; // the '-'
      } else if (isSpace(source[q])) {
        // Go allows exactly " -}}" or "}}" after a comment.
        throw parseError(source, p, 'comment ends before closing delimiter');
      }
      if (!source.startsWith('}}', q)) throw parseError(source, p, 'comment ends before closing delimiter');
      i = q + 2;
      trimNextText = trimAfter;
      continue;
    }

    const parser = new ActionParser(source, p, fields);
    const pipeline = parser.parsePipeline(true);
    nodes.push({ kind: 'action', pipeline, pos: pipeline.pos });
    i = parser.end;
    trimNextText = parser.trimAfter;
  }
  return { source, nodes, fields };
}

class ActionParser {
  pos: number;
  /** Index just past the closing "}}". */
  end = 0;
  trimAfter = false;

  constructor(
    private readonly source: string,
    start: number,
    private readonly fields: string[],
  ) {
    this.pos = start;
  }

  private error(message: string, at = this.pos): TemplateError {
    return parseError(this.source, at, message);
  }

  private skipSpace(): void {
    while (isSpace(this.source[this.pos])) this.pos++;
  }

  /** True (and consumes it) when the action closes here, with or without a " -}}" trim marker. */
  private atClose(): boolean {
    const s = this.source;
    if (s.startsWith('}}', this.pos)) {
      this.end = this.pos + 2;
      return true;
    }
    if (s[this.pos] === '-' && s.startsWith('}}', this.pos + 1) && isSpace(s[this.pos - 1])) {
      this.trimAfter = true;
      this.end = this.pos + 3;
      return true;
    }
    return false;
  }

  parsePipeline(topLevel: boolean): Pipeline {
    const commands: Command[] = [];
    this.skipSpace();
    const pipelineStart = this.pos;
    for (;;) {
      const command = this.parseCommand(topLevel);
      if (command.operands.length === 0) throw this.error('missing value for command');
      commands.push(command);
      this.skipSpace();
      if (this.source[this.pos] === '|') {
        this.pos++;
        continue;
      }
      break;
    }
    if (topLevel) {
      if (!this.atClose()) {
        if (this.pos >= this.source.length) throw this.error('unclosed action');
        throw this.error(`unexpected ${JSON.stringify(this.source[this.pos])} in command`);
      }
    }
    // Later stages of a pipeline receive the previous value as their last argument, so only a
    // function (or a field, which Go treats as a method call) may stand there.
    commands.slice(1).forEach((command, index) => {
      const head = command.operands[0]!;
      if (head.kind !== 'function' && head.kind !== 'field') {
        throw this.error(`non executable command in pipeline stage ${index + 2}`, head.pos);
      }
    });
    return { commands, pos: commands[0]?.pos ?? pipelineStart };
  }

  private parseCommand(topLevel: boolean): Command {
    const operands: Operand[] = [];
    this.skipSpace();
    const start = this.pos;
    for (;;) {
      this.skipSpace();
      const ch = this.source[this.pos];
      if (ch === undefined) throw this.error('unclosed action');
      if (ch === '|') break;
      if (topLevel && (this.source.startsWith('}}', this.pos) || (ch === '-' && this.source.startsWith('}}', this.pos + 1) && isSpace(this.source[this.pos - 1])))) break;
      if (ch === ')') {
        if (topLevel) throw this.error('unexpected ")" in command');
        break;
      }
      operands.push(this.parseOperand());
    }
    return { operands, pos: start };
  }

  private parseOperand(): Operand {
    const s = this.source;
    const start = this.pos;
    const ch = s[this.pos]!;
    if (ch === '.') {
      if (!isIdentStart(s[this.pos + 1])) {
        this.pos++;
        return { kind: 'dot', pos: start };
      }
      const chain: string[] = [];
      let lastSegment = start;
      while (s[this.pos] === '.' && isIdentStart(s[this.pos + 1])) {
        lastSegment = this.pos;
        let j = this.pos + 1;
        while (isIdentChar(s[j])) j++;
        chain.push(s.slice(this.pos + 1, j));
        this.pos = j;
      }
      if (chain.length === 1) this.fields.push(chain[0]!);
      // Go positions a field chain (.A.B) at its last segment, which is where its errors point.
      return { kind: 'field', chain, pos: lastSegment };
    }
    if (ch === '"' || ch === '`') return this.parseString();
    if (/[0-9+-]/.test(ch)) return this.parseNumber();
    if (ch === '(') {
      this.pos++;
      const pipeline = this.parsePipeline(false);
      this.skipSpace();
      if (s[this.pos] !== ')') throw this.error('unclosed left paren', start);
      this.pos++;
      return { kind: 'pipeline', pipeline, pos: start };
    }
    if (ch === '$') throw this.error('capstan templates do not support variables');
    if (isIdentStart(ch)) {
      let j = this.pos;
      while (isIdentChar(s[j])) j++;
      const word = s.slice(this.pos, j);
      this.pos = j;
      if (word === 'true' || word === 'false') return { kind: 'bool', value: word === 'true', pos: start };
      if (word === 'nil') return { kind: 'nil', pos: start };
      if (UNSUPPORTED_KEYWORDS.has(word)) throw this.error(`capstan templates do not support "${word}"`, start);
      if (!FUNCTION_NAMES.has(word)) throw this.error(`function "${word}" not defined`, start);
      return { kind: 'function', name: word, pos: start };
    }
    throw this.error(`unexpected ${JSON.stringify(ch)} in command`);
  }

  private parseString(): Operand {
    const s = this.source;
    const start = this.pos;
    const quote = s[this.pos]!;
    let j = this.pos + 1;
    if (quote === '`') {
      const close = s.indexOf('`', j);
      if (close < 0) throw this.error('unterminated raw quoted string');
      this.pos = close + 1;
      return { kind: 'string', value: s.slice(j, close), pos: start, text: s.slice(start, this.pos) };
    }
    let value = '';
    for (;;) {
      const c = s[j];
      if (c === undefined || c === '\n') throw this.error('unterminated quoted string');
      if (c === '"') break;
      if (c === '\\') {
        const e = s[j + 1];
        const simple: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', '"': '"', "'": "'", a: '\x07', b: '\b', f: '\f', v: '\v' };
        if (e !== undefined && e in simple) {
          value += simple[e];
          j += 2;
          continue;
        }
        const hex = e === 'x' ? 2 : e === 'u' ? 4 : e === 'U' ? 8 : 0;
        if (hex > 0 && /^[0-9a-fA-F]+$/.test(s.slice(j + 2, j + 2 + hex)) && s.slice(j + 2, j + 2 + hex).length === hex) {
          value += String.fromCodePoint(parseInt(s.slice(j + 2, j + 2 + hex), 16));
          j += 2 + hex;
          continue;
        }
        throw this.error(`bad syntax in string ${s.slice(start, j + 2)}`);
      }
      value += c;
      j++;
    }
    this.pos = j + 1;
    return { kind: 'string', value, pos: start, text: s.slice(start, this.pos) };
  }

  private parseNumber(): Operand {
    const s = this.source;
    const start = this.pos;
    const match = /^[+-]?(0[xX][0-9a-fA-F_]+|[0-9_]+(\.[0-9_]*)?([eE][+-]?[0-9]+)?)/.exec(s.slice(this.pos));
    if (!match || !/[0-9]/.test(match[0])) throw this.error(`bad number syntax: ${JSON.stringify(s.slice(start, start + 1))}`);
    const text = match[0];
    this.pos += text.length;
    if (isIdentChar(s[this.pos]) || s[this.pos] === '.') throw this.error(`bad number syntax: "${text}${s[this.pos]}"`);
    const value = Number(text.replace(/_/g, ''));
    if (!Number.isFinite(value)) throw this.error(`bad number syntax: "${text}"`);
    return { kind: 'number', value, pos: start, text };
  }
}

function describe(operand: Operand): string {
  switch (operand.kind) {
    case 'field':
      return '.' + operand.chain.join('.');
    case 'dot':
      return '.';
    case 'string':
    case 'number':
      return operand.text;
    case 'bool':
      return String(operand.value);
    case 'nil':
      return 'nil';
    case 'function':
      return operand.name;
    case 'pipeline':
      return '(' + describePipeline(operand.pipeline) + ')';
  }
}

function describePipeline(pipeline: Pipeline): string {
  return pipeline.commands.map((c) => c.operands.map(describe).join(' ')).join(' | ');
}

// ---------------------------------------------------------------------------------------------
// Execution

type Mode = 'row' | 'header';

class ExecError extends Error {
  constructor(
    readonly at: Operand | { pos: number; text: string },
    message: string,
  ) {
    super(message);
  }
}

function goTypeName(v: Value): string {
  if (v === undefined || v === null) return 'nil';
  if (typeof v === 'string') return 'string';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float64';
  if (typeof v === 'boolean') return 'bool';
  if (Array.isArray(v)) return '[]string';
  return v.kind === 'row' ? v.typeName : 'formatter.SubHeaderContext';
}

/** Go's fmt.Fprint of a pipeline's final value, as text/template prints it. */
function printValue(v: Value): string {
  if (v === undefined) return '<no value>';
  if (v === null) return '<nil>';
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : formatG(v, -1);
  if (typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return '[' + v.join(' ') + ']';
  if (v.kind === 'header') {
    const keys = Object.keys(v.headers).sort();
    return 'map[' + keys.map((k) => `${k}:${v.headers[k]}`).join(' ') + ']';
  }
  // Go would print the context struct's internals, which mean nothing to a user; the row's
  // JSON form carries the same information readably.
  return v.toJson();
}

function jsonValue(v: Value): string {
  if (v === undefined || v === null) return 'null';
  if (typeof v === 'string') return goJsonString(v, false);
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : formatG(v, -1);
  if (typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return '[' + v.map((s) => goJsonString(s, false)).join(',') + ']';
  if (v.kind === 'row') return v.toJson();
  return '{' + Object.keys(v.headers).sort().map((k) => goJsonString(k, false) + ':' + goJsonString(v.headers[k]!, false)).join(',') + '}';
}

type ParamType = 'string' | 'int' | '[]string' | 'any';

/** Go's reflect-based check of an evaluated argument against a parameter type. */
function checkValue(v: Value, type: ParamType): Value {
  if (type === 'any') return v;
  const goType = type === 'int' ? 'int' : type;
  if (v === undefined) throw new Error(`invalid value; expected ${goType}`);
  const ok =
    (type === 'string' && typeof v === 'string') ||
    (type === 'int' && typeof v === 'number' && Number.isInteger(v)) ||
    (type === '[]string' && Array.isArray(v));
  if (!ok) throw new Error(`wrong type for value; expected ${goType}; got ${goTypeName(v)}`);
  return v;
}

/** Go's check of a literal written in the template against a parameter type (evalArg). */
function checkLiteral(o: Extract<Operand, { kind: 'string' | 'number' | 'bool' }>, type: ParamType): string | undefined {
  const text = o.kind === 'bool' ? String(o.value) : o.text;
  if (type === 'any') return undefined;
  if (type === 'string') return o.kind === 'string' ? undefined : `expected string; found ${text}`;
  if (type === 'int') return o.kind === 'number' && Number.isInteger(o.value) ? undefined : `expected integer; found ${text}`;
  return `can't handle ${text} for arg of type []string`;
}

/** Go's strings.Title: upper-cases the first letter of every word. */
function goTitle(s: string): string {
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
function truncateBytes(s: string, length: number): string {
  // TextEncoder rather than Buffer keeps this module usable in the browser bundle.
  const bytes = new TextEncoder().encode(s);
  if (bytes.length < length) return s;
  if (length < 0) throw new Error(`error calling truncate: runtime error: slice bounds out of range [:${length}]`);
  return new TextDecoder().decode(bytes.subarray(0, length));
}

function padWithSpace(s: string, prefix: number, suffix: number): string {
  if (s === '') return s;
  if (prefix < 0 || suffix < 0) throw new Error('error calling pad: strings: negative Repeat count');
  return ' '.repeat(prefix) + s + ' '.repeat(suffix);
}

/** A template function: its Go parameter types and its body (arguments already checked). */
interface Fn {
  params: readonly ParamType[];
  call(args: Value[]): Value;
}

const str = (v: Value): string => v as string;
const int = (v: Value): number => v as number;

/** docker's basicFunctions. */
const ROW_FUNCTIONS: Record<string, Fn> = {
  json: { params: ['any'], call: ([v]) => jsonValue(v) },
  split: { params: ['string', 'string'], call: ([s, sep]) => (str(sep) === '' ? [...str(s)] : str(s).split(str(sep))) },
  join: { params: ['[]string', 'string'], call: ([list, sep]) => (list as string[]).join(str(sep)) },
  title: { params: ['string'], call: ([s]) => goTitle(str(s)) },
  lower: { params: ['string'], call: ([s]) => str(s).toLowerCase() },
  upper: { params: ['string'], call: ([s]) => str(s).toUpperCase() },
  pad: { params: ['string', 'int', 'int'], call: ([s, prefix, suffix]) => padWithSpace(str(s), int(prefix), int(suffix)) },
  truncate: { params: ['string', 'int'], call: ([s, n]) => truncateBytes(str(s), int(n)) },
};

/** docker's HeaderFunctions: keep the header text, but pad it like the column (pad is not overridden). */
const HEADER_FUNCTIONS: Record<string, Fn> = {
  json: { params: ['string'], call: ([v]) => v },
  split: { params: ['string', 'string'], call: ([v]) => v },
  join: { params: ['string', 'string'], call: ([v]) => v },
  title: { params: ['string'], call: ([v]) => v },
  lower: { params: ['string'], call: ([v]) => v },
  upper: { params: ['string'], call: ([v]) => v },
  truncate: { params: ['string', 'int'], call: ([v]) => v },
  pad: ROW_FUNCTIONS.pad!,
};

class Executor {
  private readonly functions: Record<string, Fn>;

  constructor(
    private readonly dot: TemplateData,
    mode: Mode,
  ) {
    this.functions = mode === 'row' ? ROW_FUNCTIONS : HEADER_FUNCTIONS;
  }

  pipeline(p: Pipeline): Value {
    let value: Value = undefined;
    let hasPiped = false;
    for (const command of p.commands) {
      value = this.command(command, hasPiped ? [value] : []);
      hasPiped = true;
    }
    return value;
  }

  private command(c: Command, piped: Value[]): Value {
    const [head, ...rest] = c.operands;
    if (!head) throw new ExecError({ pos: c.pos, text: '' }, 'missing value for command');
    if (head.kind === 'function') {
      const fn = this.functions[head.name]!;
      const given = rest.length + piped.length;
      if (given !== fn.params.length) {
        throw new ExecError(head, `wrong number of args for ${head.name}: want ${fn.params.length} got ${given}`);
      }
      const args: Value[] = rest.map((operand, i) => {
        const type = fn.params[i]!;
        if (operand.kind === 'string' || operand.kind === 'number' || operand.kind === 'bool') {
          const problem = checkLiteral(operand, type);
          if (problem !== undefined) throw new ExecError(operand, problem);
          return operand.value;
        }
        const value = this.operand(operand);
        try {
          return checkValue(value, type);
        } catch (err) {
          throw new ExecError(operand, (err as Error).message);
        }
      });
      try {
        piped.forEach((value) => args.push(checkValue(value, fn.params[fn.params.length - 1]!)));
        return fn.call(args);
      } catch (err) {
        throw new ExecError(head, (err as Error).message);
      }
    }
    if (head.kind === 'field' && (rest.length > 0 || piped.length > 0)) {
      // A field with arguments would be a method call; capstan's fields take none.
      this.operand(head);
      const name = head.chain[head.chain.length - 1]!;
      throw new ExecError(head, `wrong number of args for ${name}: want 0 got ${rest.length + piped.length}`);
    }
    if (rest.length > 0) throw new ExecError(head, `can't give argument to non-function ${describe(head)}`);
    return this.operand(head);
  }

  private operand(o: Operand): Value {
    switch (o.kind) {
      case 'dot':
        return this.dot;
      case 'string':
      case 'number':
      case 'bool':
        return o.value;
      case 'nil':
        throw new ExecError(o, 'nil is not a command');
      case 'function':
        return this.command({ operands: [o], pos: o.pos }, []);
      case 'pipeline':
        return this.pipeline(o.pipeline);
      case 'field':
        return this.field(o);
    }
  }

  private field(o: Extract<Operand, { kind: 'field' }>): Value {
    let current: Value = this.dot;
    for (const name of o.chain) {
      if (current !== null && typeof current === 'object' && !Array.isArray(current) && current.kind === 'header') {
        current = current.headers[name]; // a missing key is Go's <no value>
        continue;
      }
      if (current !== null && typeof current === 'object' && !Array.isArray(current) && current.kind === 'row') {
        const text: string | undefined = current.field(name);
        if (text === undefined) throw new ExecError(o, `can't evaluate field ${name} in type ${current.typeName}`);
        current = text;
        continue;
      }
      if (current === undefined) {
        throw new ExecError(o, `nil pointer evaluating interface {}.${name}`);
      }
      throw new ExecError(o, `can't evaluate field ${name} in type ${goTypeName(current)}`);
    }
    return current;
  }
}

function location(source: string, pos: number): string {
  const before = source.slice(0, pos);
  const newline = before.lastIndexOf('\n');
  const column = newline < 0 ? pos : pos - (newline + 1);
  return `:${lineOf(source, pos)}:${column}`;
}

/**
 * Runs a parsed template against one row (or the header map). Throws TemplateError (phase
 * "exec") on the first failing action, with the text written before it in `partial`.
 */
export function executeTemplate(template: Template, data: TemplateData): string {
  const executor = new Executor(data, data.kind === 'row' ? 'row' : 'header');
  let out = '';
  for (const node of template.nodes) {
    if (node.kind === 'text') {
      out += node.text;
      continue;
    }
    try {
      out += printValue(executor.pipeline(node.pipeline));
    } catch (err) {
      if (!(err instanceof ExecError)) throw err;
      const at = 'kind' in err.at ? describe(err.at) : err.at.text;
      throw new TemplateError(`template: ${location(template.source, err.at.pos)}: executing "" at <${at}>: ${err.message}`, 'exec', out);
    }
  }
  return out;
}
