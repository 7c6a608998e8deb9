/**
 * The executor of Go's text/template (text/template/exec.go): walks the tree with dot and the
 * variable stack, evaluates pipelines, fields, methods and function calls with reflect's
 * argument checks, and reports errors as Go does:
 *   template: NAME:LINE:COL: executing "TEMPLATE" at <NODE>: MESSAGE
 * where COL is a byte offset and NODE the failing node as written. Output written before an
 * error is kept (Go writes as it goes). Pure: no I/O.
 */
import { formatDefault } from './fmt';
import { SPECIAL_BUILTINS, type FunctionTable } from './functions';
import { nodeString, type ArgNode, type BranchNode, type ChainNode, type CommandNode, type FieldNode, type IdentifierNode, type Node, type NumberNode, type ParsedSet, type PipeNode, type VariableNode } from './parser';
import { FuncError, NO_FIELD, type GoFunc, type GoValue, type ParamType, isFunc, isMap, isSlice, isStruct, stringSlice, truth, typeName } from './value';

/** Go's missingkey option: what `.Key` on a map without that key gives. */
export type MissingKey = 'default' | 'zero' | 'error';

/** The deepest {{template}} nesting (Go allows 100000; a JavaScript stack allows fewer). */
const MAX_EXEC_DEPTH = 1000;

const MISSING: unique symbol = Symbol('missing final argument');
type Final = GoValue | typeof MISSING;

type Located = { readonly pos: number } & Parameters<typeof nodeString>[0];

export class ExecFailure extends Error {
  override name = 'ExecFailure';
  constructor(
    message: string,
    readonly partial: string,
  ) {
    super(message);
  }
}

class BreakSignal {}
class ContinueSignal {}
class Abort extends Error {}

const utf8 = new TextEncoder();

interface Variable {
  readonly name: string;
  value: GoValue;
}

export interface ExecOptions {
  readonly functions: FunctionTable;
  readonly missingKey?: MissingKey;
}

export function execute(set: ParsedSet, data: GoValue, options: ExecOptions): string {
  const out: string[] = [];
  const root = set.trees.get(set.name);
  const state = new State(set, options, out, set.name, [{ name: '$', value: data }], 0);
  try {
    if (root === undefined) state.errorf(`${JSON.stringify(set.name)} is an incomplete or empty template`);
    state.walk(data, root!);
  } catch (error) {
    if (error instanceof Abort) throw new ExecFailure(error.message, out.join(''));
    throw error;
  }
  return out.join('');
}

class State {
  private node: Located | undefined;
  /** The last field chain read its value out of a map[string]interface {} (its static type is interface {}). */
  private fromInterface = false;

  constructor(
    private readonly set: ParsedSet,
    private readonly options: ExecOptions,
    private readonly out: string[],
    private readonly templateName: string,
    private vars: Variable[],
    private readonly depth: number,
  ) {}

  // --- Errors

  private at(node: Located): void {
    this.node = node;
  }

  errorf(message: string): never {
    if (this.node === undefined) throw new Abort(`template: ${this.set.name}: ${message}`);
    const before = this.set.source.slice(0, this.node.pos);
    const newline = before.lastIndexOf('\n');
    const line = before.split('\n').length;
    const column = utf8.encode(newline < 0 ? before : before.slice(newline + 1)).length;
    throw new Abort(`template: ${this.set.name}:${line}:${column}: executing ${JSON.stringify(this.templateName)} at <${nodeString(this.node)}>: ${message}`);
  }

  // --- Variables

  private mark(): number {
    return this.vars.length;
  }

  private pop(mark: number): void {
    this.vars.length = mark;
  }

  private setVar(name: string, value: GoValue): void {
    for (let i = this.vars.length - 1; i >= 0; i--) {
      if (this.vars[i]!.name === name) {
        this.vars[i]!.value = value;
        return;
      }
    }
    this.errorf(`undefined variable: ${name}`);
  }

  private varValue(name: string): GoValue {
    for (let i = this.vars.length - 1; i >= 0; i--) if (this.vars[i]!.name === name) return this.vars[i]!.value;
    return this.errorf(`undefined variable: ${name}`);
  }

  // --- Walking

  walk(dot: GoValue, node: Node): void {
    this.at(node);
    switch (node.type) {
      case 'action': {
        const value = this.evalPipeline(dot, node.pipe);
        if (node.pipe.decl.length === 0) this.printValue(node, value);
        return;
      }
      case 'break':
        throw new BreakSignal();
      case 'continue':
        throw new ContinueSignal();
      case 'if':
      case 'with':
        return this.walkIfOrWith(node, dot);
      case 'list':
        for (const n of node.nodes) this.walk(dot, n);
        return;
      case 'range':
        return this.walkRange(dot, node);
      case 'template':
        return this.walkTemplate(dot, node);
      case 'text':
        this.out.push(node.text);
        return;
    }
  }

  private walkIfOrWith(node: BranchNode, dot: GoValue): void {
    const mark = this.mark();
    try {
      const value = this.evalPipeline(dot, node.pipe);
      if (truth(value)) this.walk(node.type === 'with' ? value : dot, node.list);
      else if (node.elseList) this.walk(dot, node.elseList);
    } finally {
      this.pop(mark);
    }
  }

  private walkRange(dot: GoValue, r: BranchNode): void {
    this.at(r);
    const outerMark = this.mark();
    try {
      const value = this.evalPipeline(dot, r.pipe);
      const mark = this.mark();
      const decl = r.pipe.decl;
      const oneIteration = (index: GoValue, elem: GoValue): void => {
        if (decl.length > 0) {
          if (r.pipe.isAssign) this.setVar(decl[0]!.ident[0]!, decl.length > 1 ? index : elem);
          else this.vars[this.vars.length - 1]!.value = elem;
        }
        if (decl.length > 1) {
          if (r.pipe.isAssign) this.setVar(decl[1]!.ident[0]!, elem);
          else this.vars[this.vars.length - 2]!.value = index;
        }
        try {
          this.walk(elem, r.list);
        } catch (signal) {
          if (!(signal instanceof ContinueSignal)) throw signal;
        } finally {
          this.pop(mark);
        }
      };
      let iterated = false;
      try {
        if (typeof value === 'bigint') {
          if (decl.length > 1) this.errorf(`can't use ${value} to iterate over more than one variable`);
          for (let i = 0n; i < value; i++) {
            iterated = true;
            oneIteration(undefined, i);
          }
        } else if (isSlice(value)) {
          value.items.forEach((item, i) => {
            iterated = true;
            oneIteration(BigInt(i), item);
          });
        } else if (isMap(value)) {
          for (const key of [...value.entries.keys()].sort()) {
            iterated = true;
            oneIteration(key, value.entries.get(key));
          }
        } else if (value !== undefined && value !== null) {
          this.errorf(`range can't iterate over ${formatDefault(value)}`);
        }
      } catch (signal) {
        if (!(signal instanceof BreakSignal)) throw signal;
        return;
      }
      if (!iterated && r.elseList) this.walk(dot, r.elseList);
    } finally {
      this.pop(outerMark);
    }
  }

  private walkTemplate(dot: GoValue, t: Extract<Node, { type: 'template' }>): void {
    this.at(t);
    const tree = this.set.trees.get(t.name);
    if (tree === undefined) this.errorf(`template ${JSON.stringify(t.name)} not defined`);
    if (this.depth >= MAX_EXEC_DEPTH) this.errorf(`exceeded maximum template depth (${MAX_EXEC_DEPTH})`);
    const newDot = t.pipe ? this.evalPipeline(dot, t.pipe) : undefined;
    // No dynamic scoping: the invoked template sees only $ (its dot).
    const inner = new State(this.set, this.options, this.out, t.name, [{ name: '$', value: newDot }], this.depth + 1);
    inner.walk(newDot, tree!);
  }

  private printValue(node: Located, value: GoValue): void {
    this.at(node);
    if (isFunc(value)) this.errorf(`can't print ${nodeString(node)} of type ${typeName(value)}`);
    this.out.push(value === undefined ? '<no value>' : formatDefault(value));
  }

  // --- Evaluation

  private evalPipeline(dot: GoValue, pipe: PipeNode): GoValue {
    this.at(pipe);
    let value: Final = MISSING;
    for (const cmd of pipe.cmds) {
      this.fromInterface = false;
      value = this.evalCommand(dot, cmd, value);
      // Go digs into an interface {} result: a nil one becomes no value at all ("<no value>").
      if (value === null && this.fromInterface) value = undefined;
      this.fromInterface = false;
    }
    const result = value === MISSING ? undefined : value;
    for (const variable of pipe.decl) {
      if (pipe.isAssign) this.setVar(variable.ident[0]!, result);
      else this.vars.push({ name: variable.ident[0]!, value: result });
    }
    return result;
  }

  private notAFunction(args: readonly ArgNode[] | undefined, final: Final): void {
    if ((args !== undefined && args.length > 1) || final !== MISSING) this.errorf(`can't give argument to non-function ${nodeString(args![0]!)}`);
  }

  private evalCommand(dot: GoValue, cmd: CommandNode, final: Final): GoValue {
    const first = cmd.args[0]!;
    switch (first.type) {
      case 'field':
        return this.evalFieldChain(dot, dot, first, first.ident, cmd.args, final, first);
      case 'chain':
        return this.evalChainNode(dot, first, cmd.args, final);
      case 'identifier': {
        const result = this.evalFunction(dot, first, cmd, cmd.args, final);
        this.fromInterface = false;
        return result;
      }
      case 'pipe':
        this.notAFunction(cmd.args, final);
        return this.evalPipeline(dot, first);
      case 'variable':
        return this.evalVariableNode(dot, first, cmd.args, final);
    }
    this.at(first);
    this.notAFunction(cmd.args, final);
    switch (first.type) {
      case 'bool':
        return first.value;
      case 'dot':
        return dot;
      case 'nil':
        return this.errorf('nil is not a command');
      case 'number':
        return this.idealConstant(first);
      case 'string':
        return first.text;
    }
  }

  private idealConstant(n: NumberNode): GoValue {
    this.at(n);
    const isHexInt = /^[+-]?0[xX]/.test(n.text) && !/[pP]/.test(n.text);
    if (n.float !== undefined && !isHexInt && !n.isRune && /[.eEpP]/.test(n.text)) return n.float;
    if (n.int !== undefined) return n.int;
    if (n.uint !== undefined) this.errorf(`${n.text} overflows int`);
    return undefined;
  }

  private evalFieldChain(dot: GoValue, receiver: GoValue, node: Located, ident: readonly string[], args: readonly ArgNode[] | undefined, final: Final, atNode?: FieldNode): GoValue {
    if (atNode) this.at(atNode);
    // Go names the receiver's static type in its errors: what a map[string]interface {} holds is
    // an interface {}, whatever is inside it.
    let staticType: string | undefined;
    for (let i = 0; i < ident.length - 1; i++) {
      const container = receiver;
      receiver = this.evalField(dot, ident[i]!, node, undefined, MISSING, receiver, staticType);
      staticType = isMap(container) && container.type.endsWith(']interface {}') ? 'interface {}' : undefined;
    }
    const result = this.evalField(dot, ident[ident.length - 1]!, node, args, final, receiver, staticType);
    this.fromInterface = isMap(receiver) && receiver.type.endsWith(']interface {}');
    return result;
  }

  private evalChainNode(dot: GoValue, chain: ChainNode, args: readonly ArgNode[] | undefined, final: Final): GoValue {
    this.at(chain);
    if (chain.node.type === 'nil') this.errorf(`indirection through explicit nil in ${nodeString(chain)}`);
    const receiver = this.evalArg(dot, undefined, chain.node);
    return this.evalFieldChain(dot, receiver, chain, chain.field, args, final);
  }

  private evalVariableNode(dot: GoValue, variable: VariableNode, args: readonly ArgNode[] | undefined, final: Final): GoValue {
    this.at(variable);
    const value = this.varValue(variable.ident[0]!);
    if (variable.ident.length === 1) {
      this.notAFunction(args, final);
      return value;
    }
    return this.evalFieldChain(dot, value, variable, variable.ident.slice(1), args, final);
  }

  private evalField(dot: GoValue, fieldName: string, node: Located, args: readonly ArgNode[] | undefined, final: Final, receiver: GoValue, staticType?: string): GoValue {
    if (receiver === undefined) {
      if (this.options.missingKey === 'error') this.errorf(`nil data; no entry for key ${JSON.stringify(fieldName)}`);
      return undefined;
    }
    if (receiver === null) return this.errorf(`nil pointer evaluating interface {}.${fieldName}`);
    const hasArgs = (args !== undefined && args.length > 1) || final !== MISSING;
    if (isStruct(receiver)) {
      const method = receiver.method?.(fieldName);
      if (method) return this.evalCall(dot, method, false, node, fieldName, args, final);
      const field = receiver.field(fieldName);
      if (field !== NO_FIELD) {
        if (hasArgs) this.errorf(`${fieldName} has arguments but cannot be invoked as function`);
        return field;
      }
    } else if (isMap(receiver)) {
      // A named map type's methods come before its keys, as reflect finds them (docker's SubHeaderContext.Label).
      const method = receiver.method?.(fieldName);
      if (method) return this.evalCall(dot, method, false, node, fieldName, args, final);
      if (hasArgs) this.errorf(`${fieldName} is not a method but has arguments`);
      if (receiver.entries.has(fieldName)) return receiver.entries.get(fieldName);
      switch (this.options.missingKey ?? 'default') {
        case 'default':
          return undefined;
        case 'zero':
          return receiver.zero;
        case 'error':
          return this.errorf(`map has no entry for key ${JSON.stringify(fieldName)}`);
      }
    }
    return this.errorf(`can't evaluate field ${fieldName} in type ${staticType ?? typeName(receiver)}`);
  }

  private evalFunction(dot: GoValue, node: IdentifierNode, cmd: Located, args: readonly ArgNode[] | undefined, final: Final): GoValue {
    this.at(node);
    const fn = this.options.functions.get(node.ident);
    if (fn === undefined) return this.errorf(`${JSON.stringify(node.ident)} is not a defined function`);
    return this.evalCall(dot, fn, SPECIAL_BUILTINS.has(node.ident), cmd, node.ident, args, final);
  }

  private evalCall(dot: GoValue, fn: GoFunc, isBuiltin: boolean, node: Located, name: string, allArgs: readonly ArgNode[] | undefined, final: Final): GoValue {
    const args = allArgs ? allArgs.slice(1) : [];
    const numIn = args.length + (final === MISSING ? 0 : 1);
    let numFixed = args.length;
    if (fn.variadic) {
      numFixed = fn.params.length;
      if (numIn < numFixed) this.errorf(`wrong number of args for ${name}: want at least ${fn.params.length} got ${args.length}`);
    } else if (numIn !== fn.params.length) {
      this.errorf(`wrong number of args for ${name}: want ${fn.params.length} got ${numIn}`);
    }

    if (isBuiltin && (name === 'and' || name === 'or')) {
      let v: GoValue = undefined;
      for (const arg of args) {
        v = this.evalArg(dot, 'reflect.Value', arg);
        if (truth(v) === (name === 'or')) return v;
      }
      if (final !== MISSING) v = final;
      return v;
    }

    const argv: GoValue[] = [];
    let i = 0;
    for (; i < numFixed && i < args.length; i++) argv.push(this.evalArg(dot, fn.params[i], args[i]!));
    if (fn.variadic) for (; i < args.length; i++) argv.push(this.evalArg(dot, fn.variadic, args[i]!));
    if (final !== MISSING) {
      let type = fn.params[fn.params.length - 1];
      if (fn.variadic) type = numIn - 1 < numFixed ? fn.params[numIn - 1] : fn.variadic;
      argv.push(this.validateType(final, type));
    }

    let call = (values: GoValue[]): GoValue => fn.call(values);
    if (isBuiltin && name === 'call') {
      const calleeName = args.length === 0 ? formatDefault(final as GoValue) : nodeString(args[0]!);
      call = (values) => callFunction(calleeName, values[0], values.slice(1));
    }
    try {
      return call(argv);
    } catch (error) {
      if (!(error instanceof FuncError)) throw error;
      this.at(node);
      return this.errorf(`error calling ${name}: ${error.message}`);
    }
  }

  private validateType(value: GoValue, type: ParamType | undefined): GoValue {
    if (value === undefined) {
      if (type === undefined || type === 'reflect.Value') return undefined;
      if (type === 'interface {}') return null;
      if (type === '[]string') return stringSlice([]);
      return this.errorf(`invalid value; expected ${type}`);
    }
    if (type === undefined || type === 'reflect.Value' || type === 'interface {}') return value;
    if (assignable(value, type)) return value;
    return this.errorf(`wrong type for value; expected ${type}; got ${value === null ? 'interface {}' : typeName(value)}`);
  }

  private evalArg(dot: GoValue, type: ParamType | undefined, n: ArgNode): GoValue {
    this.at(n);
    switch (n.type) {
      case 'dot':
        return this.validateType(dot, type);
      case 'nil':
        if (type === undefined || type === 'reflect.Value' || type === 'interface {}') return type === 'interface {}' ? null : undefined;
        if (type === '[]string') return stringSlice([]);
        return this.errorf(`cannot assign nil to ${type}`);
      case 'field':
        return this.validateType(this.evalFieldChain(dot, dot, n, n.ident, [n], MISSING, n), type);
      case 'variable':
        return this.validateType(this.evalVariableNode(dot, n, undefined, MISSING), type);
      case 'pipe':
        return this.validateType(this.evalPipeline(dot, n), type);
      case 'identifier':
        return this.validateType(this.evalFunction(dot, n, n, undefined, MISSING), type);
      case 'chain':
        return this.validateType(this.evalChainNode(dot, n, undefined, MISSING), type);
    }
    switch (type) {
      case 'bool':
        if (n.type === 'bool') return n.value;
        return this.errorf(`expected bool; found ${nodeString(n)}`);
      case 'float64':
        if (n.type === 'number' && n.float !== undefined) return n.float;
        return this.errorf(`expected float; found ${nodeString(n)}`);
      case 'int':
        if (n.type === 'number' && n.int !== undefined) return n.int;
        return this.errorf(`expected integer; found ${nodeString(n)}`);
      case 'string':
        if (n.type === 'string') return n.text;
        return this.errorf(`expected string; found ${nodeString(n)}`);
      case '[]string':
        return this.errorf(`can't handle ${nodeString(n)} for arg of type []string`);
    }
    // An empty interface or reflect.Value: the literal's own type.
    if (n.type === 'bool') return n.value;
    if (n.type === 'number') return this.idealConstant(n);
    return n.text;
  }
}

function assignable(value: GoValue, type: ParamType): boolean {
  switch (type) {
    case 'string':
      return typeof value === 'string';
    case 'int':
      return typeof value === 'bigint';
    case 'float64':
      return typeof value === 'number';
    case 'bool':
      return typeof value === 'boolean';
    case '[]string':
      return isSlice(value) && value.items.every((item) => typeof item === 'string');
    default:
      return true;
  }
}

/** The `call` builtin: calls its first argument, which must be a function, with the rest. */
function callFunction(name: string, fn: GoValue, args: GoValue[]): GoValue {
  if (fn === undefined || fn === null) throw new FuncError('call of nil');
  if (!isFunc(fn)) throw new FuncError(`non-function ${name} of type ${typeName(fn)}`);
  const numIn = fn.params.length;
  if (fn.variadic) {
    if (args.length < numIn) throw new FuncError(`wrong number of args for ${name}: got ${args.length} want at least ${numIn}`);
  } else if (args.length !== numIn) {
    throw new FuncError(`wrong number of args for ${name}: got ${args.length} want ${numIn}`);
  }
  const argv = args.map((arg, i) => {
    const type = i < numIn ? fn.params[i]! : fn.variadic!;
    if (arg === undefined || arg === null) {
      if (type === 'string' || type === 'int' || type === 'bool' || type === 'float64') throw new FuncError(`arg ${i}: value is nil; should be of type ${type}`);
      return type === 'interface {}' ? null : arg;
    }
    if (!assignable(arg, type)) throw new FuncError(`arg ${i}: value has type ${typeName(arg)}; should be ${type}`);
    return arg;
  });
  return fn.call(argv);
}
