/**
 * The parser of Go's text/template (text/template/parse/parse.go): the node tree, {{define}},
 * {{block}}, if/else if/with/else with/range/break/continue, variable scoping, function-name
 * checks, and Go's parse error texts ("template: NAME:LINE: ..."). Nodes print themselves as
 * Go's String() does, which execution errors quote ("at <.Foo>"). Pure.
 */
import { isKeyword, lex, type Item, type ItemType } from './lexer';
import { goQuote } from './fmt';

export type Pos = number;

export interface FieldNode { readonly type: 'field'; readonly pos: Pos; readonly ident: readonly string[] }
export interface VariableNode { readonly type: 'variable'; readonly pos: Pos; readonly ident: readonly string[] }
export interface ChainNode { readonly type: 'chain'; readonly pos: Pos; readonly node: ArgNode; readonly field: readonly string[] }
export interface DotNode { readonly type: 'dot'; readonly pos: Pos }
export interface NilNode { readonly type: 'nil'; readonly pos: Pos }
export interface BoolNode { readonly type: 'bool'; readonly pos: Pos; readonly value: boolean }
export interface StringNode { readonly type: 'string'; readonly pos: Pos; readonly quoted: string; readonly text: string }
export interface IdentifierNode { readonly type: 'identifier'; readonly pos: Pos; readonly ident: string }
export interface NumberNode {
  readonly type: 'number';
  readonly pos: Pos;
  readonly text: string;
  /** Set when the constant has an integral value that fits int64. */
  readonly int?: bigint;
  /** Set when it fits uint64 (and not int64): Go's "overflows int". */
  readonly uint?: bigint;
  readonly float?: number;
  readonly isRune: boolean;
}
export interface CommandNode { readonly type: 'command'; readonly pos: Pos; readonly args: ArgNode[] }
export interface PipeNode {
  readonly type: 'pipe';
  readonly pos: Pos;
  isAssign: boolean;
  readonly decl: VariableNode[];
  readonly cmds: CommandNode[];
}
export type ArgNode = FieldNode | VariableNode | ChainNode | DotNode | NilNode | BoolNode | StringNode | IdentifierNode | NumberNode | PipeNode;

export interface TextNode { readonly type: 'text'; readonly pos: Pos; readonly text: string }
export interface ActionNode { readonly type: 'action'; readonly pos: Pos; readonly pipe: PipeNode }
export interface BranchNode {
  readonly type: 'if' | 'range' | 'with';
  readonly pos: Pos;
  readonly pipe: PipeNode;
  readonly list: ListNode;
  readonly elseList: ListNode | undefined;
}
export interface TemplateNode { readonly type: 'template'; readonly pos: Pos; readonly name: string; readonly pipe: PipeNode | undefined }
export interface BreakNode { readonly type: 'break' | 'continue'; readonly pos: Pos }
export interface ListNode { readonly type: 'list'; readonly pos: Pos; readonly nodes: Node[] }
export type Node = TextNode | ActionNode | BranchNode | TemplateNode | BreakNode | ListNode;

/** Go's Node.String(), which error messages quote. */
export function nodeString(n: Node | ArgNode | CommandNode): string {
  switch (n.type) {
    case 'field':
      return n.ident.map((id) => '.' + id).join('');
    case 'variable':
      return n.ident.join('.');
    case 'chain':
      return (n.node.type === 'pipe' ? '(' + nodeString(n.node) + ')' : nodeString(n.node)) + n.field.map((f) => '.' + f).join('');
    case 'dot':
      return '.';
    case 'nil':
      return 'nil';
    case 'bool':
      return String(n.value);
    case 'string':
      return n.quoted;
    case 'identifier':
      return n.ident;
    case 'number':
      return n.text;
    case 'command':
      return n.args.map((a) => (a.type === 'pipe' ? '(' + nodeString(a) + ')' : nodeString(a))).join(' ');
    case 'pipe': {
      const decl = n.decl.length > 0 ? n.decl.map(nodeString).join(', ') + (n.isAssign ? ' = ' : ' := ') : '';
      return decl + n.cmds.map(nodeString).join(' | ');
    }
    case 'text':
      return n.text;
    case 'action':
      return '{{' + nodeString(n.pipe) + '}}';
    case 'if':
    case 'range':
    case 'with':
      return `{{${n.type} ${nodeString(n.pipe)}}}${nodeString(n.list)}${n.elseList ? '{{else}}' + nodeString(n.elseList) : ''}{{end}}`;
    case 'template':
      return `{{template ${goQuote(n.name)}${n.pipe ? ' ' + nodeString(n.pipe) : ''}}}`;
    case 'break':
    case 'continue':
      return `{{${n.type}}}`;
    case 'list':
      return n.nodes.map(nodeString).join('');
  }
}

export class ParseError extends Error {
  override name = 'ParseError';
}

/** A parsed template and the templates it defines ({{define}}, {{block}}). */
export interface ParsedSet {
  readonly name: string;
  readonly source: string;
  readonly trees: ReadonlyMap<string, ListNode>;
}

type EndNode = { readonly type: 'end' | 'else'; readonly pos: Pos; readonly line: number; readonly elseIf?: ItemType };

/** strconv.Unquote for "..." and `...`; undefined for Go's "invalid syntax". */
export function unquote(quoted: string): string | undefined {
  if (quoted.startsWith('`')) return quoted.length >= 2 && quoted.endsWith('`') ? quoted.slice(1, -1) : undefined;
  let out = '';
  const body = quoted.slice(1, -1);
  for (let i = 0; i < body.length; ) {
    const r = unquoteChar(body, i, '"');
    if (r === undefined) return undefined;
    out += r.value;
    i = r.next;
  }
  return out;
}

/** strconv.UnquoteChar: one (possibly escaped) character at `i`. */
function unquoteChar(s: string, i: number, quote: string): { value: string; code: number; next: number } | undefined {
  const c = s[i];
  if (c === undefined) return undefined;
  if (c === quote && (quote === "'" || quote === '"')) return undefined;
  if (c !== '\\') {
    const code = s.codePointAt(i)!;
    const ch = String.fromCodePoint(code);
    return { value: ch, code, next: i + ch.length };
  }
  const e = s[i + 1];
  const simple: Record<string, string> = { a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\' };
  if (e !== undefined && simple[e] !== undefined) return { value: simple[e]!, code: simple[e]!.charCodeAt(0), next: i + 2 };
  if (e === quote) return { value: e, code: e.charCodeAt(0), next: i + 2 };
  const hexLength = e === 'x' ? 2 : e === 'u' ? 4 : e === 'U' ? 8 : 0;
  if (hexLength > 0) {
    const hex = s.slice(i + 2, i + 2 + hexLength);
    if (hex.length !== hexLength || !/^[0-9a-fA-F]+$/.test(hex)) return undefined;
    const code = parseInt(hex, 16);
    if (e === 'x') return { value: String.fromCharCode(code), code, next: i + 2 + hexLength };
    if (code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return undefined;
    return { value: String.fromCodePoint(code), code, next: i + 2 + hexLength };
  }
  if (e !== undefined && e >= '0' && e <= '7') {
    const oct = s.slice(i + 1, i + 4);
    if (!/^[0-7]{3}$/.test(oct) || parseInt(oct, 8) > 255) return undefined;
    const code = parseInt(oct, 8);
    return { value: String.fromCharCode(code), code, next: i + 4 };
  }
  return undefined;
}

/** Go's strconv.ParseInt/ParseUint(text, 0, 64) on a literal; undefined when it does not parse. */
function parseGoInteger(text: string): bigint | undefined {
  let s = text;
  let negative = false;
  if (s.startsWith('+') || s.startsWith('-')) {
    negative = s.startsWith('-');
    s = s.slice(1);
  }
  let base = 10;
  let digits = s;
  if (/^0[xX]/.test(s)) [base, digits] = [16, s.slice(2)];
  else if (/^0[oO]/.test(s)) [base, digits] = [8, s.slice(2)];
  else if (/^0[bB]/.test(s)) [base, digits] = [2, s.slice(2)];
  else if (/^0[0-9_]/.test(s)) [base, digits] = [8, s.slice(1)];
  // Underscores only with a base prefix (base 0 rules), and only between digits.
  if (digits.includes('_')) {
    if (/__|_$/.test(digits) || (base === 10 && digits.startsWith('_'))) return undefined;
    digits = digits.replace(/_/g, '');
  }
  const valid = { 2: /^[01]+$/, 8: /^[0-7]+$/, 10: /^[0-9]+$/, 16: /^[0-9a-fA-F]+$/ }[base as 2 | 8 | 10 | 16];
  if (!valid.test(digits)) return undefined;
  const prefix = { 2: '0b', 8: '0o', 10: '', 16: '0x' }[base as 2 | 8 | 10 | 16];
  const value = BigInt(prefix + digits);
  return negative ? -value : value;
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;

function parseGoFloat(text: string): number | undefined {
  const s = text.replace(/_/g, '');
  if (/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(s)) {
    const v = Number(s);
    return Number.isFinite(v) ? v : undefined;
  }
  const hex = /^([+-]?)0[xX]([0-9a-fA-F]*)\.?([0-9a-fA-F]*)[pP]([+-]?\d+)$/.exec(s);
  if (hex && (hex[2] || hex[3])) {
    const mantissa = parseInt((hex[2] || '0') + (hex[3] || ''), 16);
    const v = mantissa * 2 ** (Number(hex[4]) - 4 * (hex[3] ?? '').length);
    return (hex[1] === '-' ? -1 : 1) * v;
  }
  return undefined;
}

export interface ParseOptions {
  /** Template name (docker's templates are ""), shown in messages. */
  name?: string;
  /** Names of the functions the template may call. */
  functions: ReadonlySet<string>;
}

/** Parses a template and the templates it defines. Throws ParseError with Go's message. */
export function parse(source: string, options: ParseOptions): ParsedSet {
  const name = options.name ?? '';
  const items = lex(source, { breakOK: !options.functions.has('break'), continueOK: !options.functions.has('continue') });
  let index = 0;
  let fetched = 0;
  let vars: string[] = ['$'];
  let rangeDepth = 0;
  let actionLine = 0;
  const trees = new Map<string, ListNode>();

  const next = (): Item => {
    const item = items[Math.min(index, items.length - 1)]!;
    index++;
    fetched = Math.max(fetched, Math.min(index - 1, items.length - 1));
    return item;
  };
  const backup = (n = 1): void => {
    index -= n;
  };
  const peek = (): Item => {
    const item = next();
    backup();
    return item;
  };
  const nextNonSpace = (): Item => {
    let item = next();
    while (item.type === 'space') item = next();
    return item;
  };
  const peekNonSpace = (): Item => {
    const start = index;
    const item = nextNonSpace();
    index = start;
    return item;
  };
  const errorf = (message: string): never => {
    throw new ParseError(`template: ${name}:${items[fetched]!.line}: ${message}`);
  };
  const itemString = (item: Item): string => {
    if (item.type === 'eof') return 'EOF';
    if (item.type === 'error') return item.val;
    if (isKeyword(item.type)) return `<${item.val}>`;
    const chars = [...item.val];
    if (chars.length > 10) return goQuote(chars.slice(0, 10).join('')) + '...';
    return goQuote(item.val);
  };
  const unexpected = (item: Item, context: string): never => {
    if (item.type === 'error') {
      let extra = '';
      if (actionLine !== 0 && actionLine !== item.line) {
        extra = ` in action started at ${name}:${actionLine}`;
        if (item.val.endsWith(' action')) extra = extra.slice(' in action'.length);
      }
      return errorf(item.val + extra);
    }
    return errorf(`unexpected ${itemString(item)} in ${context}`);
  };
  const expect = (type: ItemType, context: string): Item => {
    const item = nextNonSpace();
    if (item.type !== type) unexpected(item, context);
    return item;
  };

  const isEmptyTree = (n: Node): boolean => {
    if (n.type === 'list') return n.nodes.every(isEmptyTree);
    if (n.type === 'text') return n.text.trim() === '';
    return false;
  };
  const addTree = (treeName: string, root: ListNode): void => {
    const existing = trees.get(treeName);
    if (existing === undefined || isEmptyTree(existing)) {
      trees.set(treeName, root);
      return;
    }
    if (!isEmptyTree(root)) errorf(`template: multiple definition of template ${goQuote(treeName)}`);
  };

  // --- Operands and pipelines

  const newNumber = (item: Item): NumberNode => {
    const text = item.val;
    if (item.type === 'charConstant') {
      const r = unquoteChar(text.slice(1), 0, "'");
      if (r === undefined) return errorf('invalid syntax');
      if (text.slice(1 + (r.next - 0)) !== "'") return errorf(`malformed character constant: ${text}`);
      return { type: 'number', pos: item.pos, text, int: BigInt(r.code), float: r.code, isRune: true };
    }
    if (item.type === 'complex' || text.endsWith('i')) return errorf(`capstan templates have no complex numbers: ${goQuote(text)}`);
    const asInt = parseGoInteger(text);
    let int: bigint | undefined;
    let uint: bigint | undefined;
    let float: number | undefined;
    if (asInt !== undefined) {
      if (asInt >= INT64_MIN && asInt <= INT64_MAX) int = asInt;
      else if (asInt >= 0n && asInt <= UINT64_MAX) uint = asInt;
    }
    if (int !== undefined || uint !== undefined) float = Number(int ?? uint);
    else {
      const f = parseGoFloat(text);
      if (f !== undefined) {
        if (!/[.eEpP]/.test(text)) return errorf(`integer overflow: ${goQuote(text)}`);
        float = f;
        if (Number.isInteger(f) && Math.abs(f) < 2 ** 63) int = BigInt(f);
      }
    }
    if (int === undefined && uint === undefined && float === undefined) return errorf(`illegal number syntax: ${goQuote(text)}`);
    return { type: 'number', pos: item.pos, text, ...(int !== undefined ? { int } : {}), ...(uint !== undefined ? { uint } : {}), ...(float !== undefined ? { float } : {}), isRune: false };
  };

  const useVar = (pos: Pos, text: string): VariableNode => {
    const ident = text.split('.');
    if (!vars.includes(ident[0]!)) errorf(`undefined variable ${goQuote(ident[0]!)}`);
    return { type: 'variable', pos, ident };
  };

  const term = (): ArgNode | undefined => {
    const item = nextNonSpace();
    switch (item.type) {
      case 'identifier':
        if (!options.functions.has(item.val)) errorf(`function ${goQuote(item.val)} not defined`);
        return { type: 'identifier', pos: item.pos, ident: item.val };
      case 'dot':
        return { type: 'dot', pos: item.pos };
      case 'nil':
        return { type: 'nil', pos: item.pos };
      case 'variable':
        return useVar(item.pos, item.val);
      case 'field':
        return { type: 'field', pos: item.pos, ident: item.val.slice(1).split('.') };
      case 'bool':
        return { type: 'bool', pos: item.pos, value: item.val === 'true' };
      case 'charConstant':
      case 'complex':
      case 'number':
        return newNumber(item);
      case 'leftParen':
        return pipeline('parenthesized pipeline', 'rightParen');
      case 'string':
      case 'rawString': {
        const text = unquote(item.val);
        if (text === undefined) return errorf('invalid syntax');
        return { type: 'string', pos: item.pos, quoted: item.val, text };
      }
    }
    backup();
    return undefined;
  };

  const operand = (): ArgNode | undefined => {
    const node = term();
    if (node === undefined) return undefined;
    if (peek().type !== 'field') return node;
    const chainPos = peek().pos;
    const fields: string[] = [];
    while (peek().type === 'field') fields.push(next().val.slice(1));
    switch (node.type) {
      case 'field':
        return { type: 'field', pos: chainPos, ident: [...node.ident, ...fields] };
      case 'variable':
        return { type: 'variable', pos: chainPos, ident: [...node.ident, ...fields] };
      case 'bool':
      case 'string':
      case 'number':
      case 'nil':
      case 'dot':
        return errorf(`unexpected . after term ${goQuote(nodeString(node))}`);
      default:
        return { type: 'chain', pos: chainPos, node, field: fields };
    }
  };

  const command = (): CommandNode => {
    const cmd: CommandNode = { type: 'command', pos: peekNonSpace().pos, args: [] };
    for (;;) {
      peekNonSpace();
      const arg = operand();
      if (arg !== undefined) cmd.args.push(arg);
      const item = next();
      if (item.type === 'space') continue;
      if (item.type === 'rightDelim' || item.type === 'rightParen') backup();
      else if (item.type !== 'pipe') unexpected(item, 'operand');
      break;
    }
    if (cmd.args.length === 0) errorf('empty command');
    return cmd;
  };

  const pipeline = (context: string, end: ItemType): PipeNode => {
    const first = peekNonSpace();
    const pipe: PipeNode = { type: 'pipe', pos: first.pos, isAssign: false, decl: [], cmds: [] };
    decls: for (;;) {
      const v = peekNonSpace();
      if (v.type !== 'variable') break;
      nextNonSpace();
      const following = peekNonSpace();
      if (following.type === 'assign' || following.type === 'declare') {
        pipe.isAssign = following.type === 'assign';
        nextNonSpace();
        pipe.decl.push({ type: 'variable', pos: v.pos, ident: v.val.split('.') });
        vars.push(v.val);
        break;
      }
      if (following.type === 'char' && following.val === ',') {
        nextNonSpace();
        pipe.decl.push({ type: 'variable', pos: v.pos, ident: v.val.split('.') });
        vars.push(v.val);
        if (context === 'range' && pipe.decl.length < 2) {
          const after = peekNonSpace().type;
          if (after === 'variable' || after === 'rightDelim' || after === 'rightParen') continue decls;
          errorf('range can only initialize variables');
        }
        errorf(`too many declarations in ${context}`);
      }
      // Not a declaration: the variable is the first operand.
      index = items.indexOf(v);
      break;
    }
    for (;;) {
      const item = nextNonSpace();
      if (item.type === end) {
        if (pipe.cmds.length === 0) errorf(`missing value for ${context}`);
        pipe.cmds.slice(1).forEach((c, i) => {
          const head = c.args[0]!.type;
          if (head === 'bool' || head === 'dot' || head === 'nil' || head === 'number' || head === 'string') {
            errorf(`non executable command in pipeline stage ${i + 2}`);
          }
        });
        return pipe;
      }
      switch (item.type) {
        case 'bool':
        case 'charConstant':
        case 'complex':
        case 'dot':
        case 'field':
        case 'identifier':
        case 'number':
        case 'nil':
        case 'rawString':
        case 'string':
        case 'variable':
        case 'leftParen':
          backup();
          pipe.cmds.push(command());
          break;
        default:
          unexpected(item, context);
      }
    }
  };

  // --- Actions and lists

  const itemList = (): { list: ListNode; end: EndNode } => {
    const list: ListNode = { type: 'list', pos: peekNonSpace().pos, nodes: [] };
    while (peekNonSpace().type !== 'eof') {
      const n = textOrAction();
      if (n.type === 'end' || n.type === 'else') return { list, end: n as EndNode };
      list.nodes.push(n as Node);
    }
    return errorf('unexpected EOF');
  };

  const textOrAction = (): Node | EndNode => {
    const item = nextNonSpace();
    if (item.type === 'text') return { type: 'text', pos: item.pos, text: item.val };
    if (item.type === 'leftDelim') {
      actionLine = item.line;
      try {
        return action();
      } finally {
        actionLine = 0;
      }
    }
    return unexpected(item, 'input');
  };

  const parseControl = (context: 'if' | 'range' | 'with'): BranchNode => {
    const savedVars = vars.length;
    try {
      const pipe = pipeline(context, 'rightDelim');
      if (context === 'range') rangeDepth++;
      const { list, end } = itemList();
      if (context === 'range') rangeDepth--;
      let elseList: ListNode | undefined;
      if (end.type === 'else') {
        if ((context === 'if' && peekNonSpace().type === 'if') || (context === 'with' && peekNonSpace().type === 'with')) {
          nextNonSpace();
          elseList = { type: 'list', pos: end.pos, nodes: [parseControl(context)] };
        } else {
          const rest = itemList();
          if (rest.end.type !== 'end') errorf(`expected end; found {{${rest.end.type}}}`);
          elseList = rest.list;
        }
      }
      return { type: context, pos: pipe.pos, pipe, list, elseList };
    } finally {
      vars = vars.slice(0, savedVars);
    }
  };

  const parseTemplateName = (item: Item, context: string): string => {
    if (item.type !== 'string' && item.type !== 'rawString') return unexpected(item, context);
    const text = unquote(item.val);
    if (text === undefined) return errorf('invalid syntax');
    return text;
  };

  const definitionBody = (context: string): ListNode => {
    const saved = { vars, rangeDepth };
    vars = ['$'];
    rangeDepth = 0;
    try {
      const { list, end } = itemList();
      if (end.type !== 'end') errorf(`unexpected {{${end.type}}} in ${context}`);
      return list;
    } finally {
      ({ vars, rangeDepth } = saved);
    }
  };

  const action = (): Node | EndNode => {
    const item = nextNonSpace();
    switch (item.type) {
      case 'block': {
        const context = 'block clause';
        const nameItem = nextNonSpace();
        const blockName = parseTemplateName(nameItem, context);
        const pipe = pipeline(context, 'rightDelim');
        addTree(blockName, definitionBody(context));
        return { type: 'template', pos: nameItem.pos, name: blockName, pipe };
      }
      case 'break':
      case 'continue': {
        const closing = nextNonSpace();
        if (closing.type !== 'rightDelim') unexpected(closing, `{{${item.type}}}`);
        if (rangeDepth === 0) errorf(`{{${item.type}}} outside {{range}}`);
        return { type: item.type, pos: item.pos };
      }
      case 'else': {
        const following = peekNonSpace();
        if (following.type === 'if' || following.type === 'with') return { type: 'else', pos: following.pos, line: following.line };
        const closing = expect('rightDelim', 'else');
        return { type: 'else', pos: closing.pos, line: closing.line };
      }
      case 'end': {
        const closing = expect('rightDelim', 'end');
        return { type: 'end', pos: closing.pos, line: closing.line };
      }
      case 'if':
      case 'range':
      case 'with':
        return parseControl(item.type);
      case 'template': {
        const context = 'template clause';
        const nameItem = nextNonSpace();
        const templateName = parseTemplateName(nameItem, context);
        let pipe: PipeNode | undefined;
        if (nextNonSpace().type !== 'rightDelim') {
          backup();
          pipe = pipeline(context, 'rightDelim');
        }
        return { type: 'template', pos: nameItem.pos, name: templateName, pipe };
      }
    }
    backup();
    const start = peek();
    return { type: 'action', pos: start.pos, pipe: pipeline('command', 'rightDelim') };
  };

  // --- Top level: like itemList, plus {{define}}.
  const root: ListNode = { type: 'list', pos: peek().pos, nodes: [] };
  while (peek().type !== 'eof') {
    if (peek().type === 'leftDelim') {
      const delimIndex = index;
      const delim = next();
      if (nextNonSpace().type === 'define') {
        const context = 'define clause';
        const nameItem = nextNonSpace();
        if (nameItem.type !== 'string' && nameItem.type !== 'rawString') unexpected(nameItem, context);
        const defined = unquote(nameItem.val);
        if (defined === undefined) errorf('invalid syntax');
        expect('rightDelim', context);
        actionLine = delim.line;
        const body = definitionBody(context);
        actionLine = 0;
        addTree(defined!, body);
        continue;
      }
      index = delimIndex;
    }
    const n = textOrAction();
    if (n.type === 'end' || n.type === 'else') errorf(`unexpected {{${n.type}}}`);
    root.nodes.push(n as Node);
  }
  addTree(name, root);
  return { name, source, trees };
}
