/**
 * The values a Go template works on, modelled on what reflect shows text/template:
 * - `undefined` is the invalid reflect.Value (a missing map key): printed as "<no value>";
 * - `null` is nil (a nil pointer, interface, slice or map): printed as "<nil>";
 * - `bigint` is Go's int, `number` is float64 (Go keeps the two apart: `eq 1 1.0` is an error);
 * - strings, bools, and slices / maps / structs / funcs as tagged objects.
 * Maps have string keys only (docker's data has no other kind). Pure: no I/O.
 */

export type GoValue = undefined | null | boolean | string | bigint | number | GoSlice | GoMap | GoStruct | GoFunc;

export interface GoSlice {
  readonly kind: 'slice';
  /** Go type name, e.g. "[]string" or "[]interface {}". */
  readonly type: string;
  readonly items: readonly GoValue[];
  /** A nil slice: prints [] like an empty one, but its JSON is null. */
  readonly isNil?: boolean;
}

export interface GoMap {
  readonly kind: 'map';
  /** Go type name, e.g. "map[string]string". */
  readonly type: string;
  /** What a missing key reads as under missingkey=zero and in `index` (reflect.Zero of the element type). */
  readonly zero: GoValue;
  readonly entries: ReadonlyMap<string, GoValue>;
  /** A nil map: prints map[] like an empty one, but its JSON is null. */
  readonly isNil?: boolean;
  /** Methods of a named map type (docker's SubHeaderContext has Label). */
  method?(name: string): GoFunc | undefined;
}

/** A struct (or a pointer to one, as docker's listing contexts are): fields and/or methods. */
export interface GoStruct {
  readonly kind: 'struct';
  /** Go type name shown in "can't evaluate field X in type T". */
  readonly type: string;
  /** Field names in declaration order (printing `{a b}` and json walk them). */
  readonly fieldNames: readonly string[];
  /** The field's value; `NO_FIELD` when the type has no such field. */
  field(name: string): GoValue | typeof NO_FIELD;
  /** A method by name (docker's listing rows are methods: `.ID` is `func() string`). */
  method?(name: string): GoFunc | undefined;
  /** `{{json .}}`: the type's MarshalJSON, when it has one. */
  toJson?(): string;
  /** fmt's %v, when the type has its own (a Stringer, or a stand-in for a pointer's internals). */
  toText?(): string;
}

/** A parameter type of a template function, as reflect checks arguments against it. */
export type ParamType = 'string' | 'int' | 'bool' | 'float64' | '[]string' | 'interface {}' | 'reflect.Value';

export interface GoFunc {
  readonly kind: 'func';
  readonly params: readonly ParamType[];
  /** The type of a final `...` parameter (Go's variadic), if any. */
  readonly variadic?: ParamType;
  /** Throws FuncError for Go's (value, error) results; any other throw is a bug. */
  call(args: GoValue[]): GoValue;
}

/** A function's error result: shown as "error calling NAME: MESSAGE". */
export class FuncError extends Error {
  override name = 'FuncError';
}

export const NO_FIELD: unique symbol = Symbol('no such field');

export function isInt(v: GoValue): v is bigint {
  return typeof v === 'bigint';
}

export function isSlice(v: GoValue): v is GoSlice {
  return typeof v === 'object' && v !== null && v.kind === 'slice';
}

export function isMap(v: GoValue): v is GoMap {
  return typeof v === 'object' && v !== null && v.kind === 'map';
}

export function isStruct(v: GoValue): v is GoStruct {
  return typeof v === 'object' && v !== null && v.kind === 'struct';
}

export function isFunc(v: GoValue): v is GoFunc {
  return typeof v === 'object' && v !== null && v.kind === 'func';
}

/** The Go type name of a value (reflect.Type.String()). */
export function typeName(v: GoValue): string {
  if (v === undefined || v === null) return '<nil>';
  switch (typeof v) {
    case 'string':
      return 'string';
    case 'bigint':
      return 'int';
    case 'number':
      return 'float64';
    case 'boolean':
      return 'bool';
  }
  if (v.kind === 'func') return 'func(' + v.params.join(', ') + (v.variadic ? (v.params.length ? ', ...' : '...') + v.variadic : '') + ')';
  return v.type;
}

/** Go's truth (text/template isTrue): the zero value of its type is false; structs are always true. */
export function truth(v: GoValue): boolean {
  if (v === undefined || v === null) return false;
  switch (typeof v) {
    case 'string':
      return v.length > 0;
    case 'bigint':
      return v !== 0n;
    case 'number':
      return v !== 0;
    case 'boolean':
      return v;
  }
  if (v.kind === 'slice') return v.items.length > 0;
  if (v.kind === 'map') return v.entries.size > 0;
  return true;
}

export function slice(items: readonly GoValue[], type = '[]interface {}'): GoSlice {
  return { kind: 'slice', type, items };
}

export function stringSlice(items: readonly string[]): GoSlice {
  return { kind: 'slice', type: '[]string', items };
}

export function goMap(entries: Record<string, GoValue> | ReadonlyMap<string, GoValue>, type = 'map[string]interface {}', zero: GoValue = undefined): GoMap {
  return { kind: 'map', type, zero, entries: entries instanceof Map ? entries : new Map(Object.entries(entries)) };
}

export function stringMap(entries: Readonly<Record<string, string>>): GoMap {
  return goMap(entries, 'map[string]string', '');
}

/** A plain struct value from its fields in declaration order. */
export function goStruct(type: string, fields: Readonly<Record<string, GoValue>>, hooks: Pick<GoStruct, 'toJson' | 'toText' | 'method'> = {}): GoStruct {
  const names = Object.keys(fields);
  return {
    kind: 'struct',
    type,
    fieldNames: names,
    field: (name) => (Object.prototype.hasOwnProperty.call(fields, name) ? fields[name] : NO_FIELD),
    ...hooks,
  };
}

export interface FromJsonOptions {
  /**
   * Decides whether a JSON object becomes a Go struct (a missing field is an error) or a
   * map[string]interface {} (a missing key is "<no value>", or an error under missingkey=error).
   * Given the object's key in its parent ('' at the top) and the parent's key. Default: all maps.
   */
  structType?: (key: string, parentKey: string) => string | undefined;
  /** What a JSON null under `key` is: a nil pointer (null, the default), or a nil slice or map. */
  nullValue?: (key: string, parentKey: string) => GoValue;
  /** A struct field's Go name for a JSON key, or undefined when the Go type has no field under that spelling. */
  fieldName?: (key: string) => string | undefined;
  /** A struct's fmt text, when its Go type is a Stringer (given the decoded object). */
  stringer?: (record: Readonly<Record<string, unknown>>) => string | undefined;
}

export const nilSlice = (type = '[]string'): GoSlice => ({ kind: 'slice', type, items: [], isNil: true });
export const nilMap = (type = 'map[string]interface {}'): GoMap => ({ kind: 'map', type, zero: undefined, entries: new Map(), isNil: true });

/**
 * A decoded JSON document as Go sees it: numbers without a fraction are ints, others float64;
 * arrays are []interface {} (or []string when every element is a string, as docker's typed
 * Env/Cmd are); objects are maps or structs per `structType`.
 */
export function fromJson(value: unknown, options: FromJsonOptions = {}, key = '', parentKey = ''): GoValue {
  if (value === null || value === undefined) return options.nullValue ? options.nullValue(key, parentKey) : null;
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      return Number.isInteger(value) && Number.isSafeInteger(value) ? BigInt(value) : value;
    case 'bigint':
      return value;
  }
  if (Array.isArray(value)) {
    const items = value.map((item) => fromJson(item, options, key, parentKey));
    return slice(items, items.every((item) => typeof item === 'string') ? '[]string' : '[]interface {}');
  }
  if (typeof value !== 'object') return null;
  const record = value as Record<string, unknown>;
  const type = options.structType?.(key, parentKey);
  const entries = new Map<string, GoValue>();
  for (const [k, v] of Object.entries(record)) {
    const name = type === undefined || !options.fieldName ? k : options.fieldName(k);
    if (name !== undefined) entries.set(name, fromJson(v, options, k, key));
  }
  if (type === undefined) return goMap(entries);
  const text = options.stringer?.(record);
  return {
    kind: 'struct',
    type,
    fieldNames: [...entries.keys()],
    field: (name) => (entries.has(name) ? entries.get(name) : NO_FIELD),
    ...(text !== undefined ? { toText: () => text } : {}),
  };
}
