/**
 * Go's text/template, as docker's --format uses it: parse once, execute against a Go-shaped
 * value (see value.ts) with docker's functions, Go's error texts, and the missingkey option.
 *
 *   const t = parseTemplate('{{range $i, $p := .Ports}}{{$i}}={{$p}} {{end}}');
 *   executeTemplate(t, fromJson(doc), { missingKey: 'error' });
 *
 * Pure: no I/O.
 */
import { ExecFailure, execute, type MissingKey } from './exec';
import { DOCKER_FUNCTIONS, type FunctionTable } from './functions';
import { ParseError, parse, type ParsedSet } from './parser';
import type { GoValue } from './value';

export { DOCKER_FUNCTIONS, DOCKER_HEADER_FUNCTIONS, GO_BUILTINS, goJson, type FunctionTable } from './functions';
export { formatValue, sprint, sprintf } from './fmt';
export type { MissingKey } from './exec';
export * from './value';

/** A parse or execution failure, with Go's message. */
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

export interface Template {
  readonly source: string;
  readonly set: ParsedSet;
  readonly functions: FunctionTable;
}

export interface ParseTemplateOptions {
  /** The template's name in messages; docker's are "". */
  name?: string;
  /** The functions it may call (default: Go's builtins and docker's). */
  functions?: FunctionTable;
}

/** Parses a template. Throws TemplateError (phase "parse") with Go's wording. */
export function parseTemplate(source: string, options: ParseTemplateOptions = {}): Template {
  const functions = options.functions ?? DOCKER_FUNCTIONS;
  try {
    const set = parse(source, { name: options.name ?? '', functions: new Set(functions.keys()) });
    return { source, set, functions };
  } catch (error) {
    if (error instanceof ParseError) throw new TemplateError(error.message, 'parse');
    throw error;
  }
}

export interface ExecuteOptions {
  /** Replaces functions by name for this execution (Go's Funcs after Parse), e.g. docker's header functions. */
  functions?: FunctionTable;
  missingKey?: MissingKey;
}

/** Runs a parsed template. Throws TemplateError (phase "exec") with the output written before the error. */
export function executeTemplate(template: Template, data: GoValue, options: ExecuteOptions = {}): string {
  const functions = options.functions ?? template.functions;
  try {
    return execute(template.set, data, { functions, ...(options.missingKey ? { missingKey: options.missingKey } : {}) });
  } catch (error) {
    if (error instanceof ExecFailure) throw new TemplateError(error.message, 'exec', error.partial);
    throw error;
  }
}
