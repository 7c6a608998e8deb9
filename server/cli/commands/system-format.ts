/**
 * --format of `version` and `info`: a Go template run on a document whose objects are Go structs
 * (a field that does not exist fails, as docker's typed values do) and whose Labels-like maps stay
 * maps. Errors are docker's: "template: NAME:1:2: executing ..." and exit status 1.
 */
import { CliError } from '../errors';
import { templateSource } from '../format/listing';
import type { FromJsonOptions } from '../format/gotemplate';

/** A template that failed while running: `output` is what goes to stdout before the error. */
export class SystemFormatError extends CliError {
  constructor(
    message: string,
    readonly output: string,
  ) {
    super(message, 1);
  }
}

/** Runs `format` on `document`; `name` is the template's name ("version" for version, "" for info). */
export function formatSystemDocument(format: string, document: unknown, name: string, types: Pick<FromJsonOptions, 'structType' | 'fieldName'>): string {
  const { TemplateError, executeTemplate, fromJson, parseTemplate } = require('../format/gotemplate') as typeof import('../format/gotemplate');
  // `json` is {{json .}}; docker trims spaces and turns \t, \n into tabs and newlines here as well.
  const { source } = templateSource(format === 'json' ? '{{json .}}' : format, '');
  try {
    const template = parseTemplate(source, { name });
    return executeTemplate(template, fromJson(document, types));
  } catch (error) {
    // docker prints what the template wrote before it failed, and its newline, then the error.
    if (error instanceof TemplateError && error.phase === 'exec') throw new SystemFormatError(error.message, `${error.partial}\n`);
    if (error instanceof TemplateError) throw new CliError(error.phase === 'parse' ? `Template parsing error: ${error.message}` : error.message, error.phase === 'parse' ? 64 : 1);
    throw error;
  }
}

/** Writes the formatted document and its newline; a failing template's output goes out before its error. */
export function writeSystemFormat(ctx: { stdout: { write(text: string): unknown } }, render: () => string): void {
  try {
    ctx.stdout.write(`${render()}\n`);
  } catch (error) {
    if (error instanceof SystemFormatError) ctx.stdout.write(error.output);
    throw error;
  }
}
