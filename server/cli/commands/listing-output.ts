/**
 * Output of listing commands (ps, cgroups): a --format compiled with the CLI's error, and rows
 * written as ids (-q) or through the format. Apart from common.ts so that commands without a
 * listing do not load the template engine.
 */
import { CliError } from '../errors';
import { FormatError, compileListingFormat, type ListingFormat, type ListingSpec } from '../format/listing';
import type { CommandContext } from './types';

/** compileListingFormat, with a bad template as the CLI's error (docker's "template parsing error: …"). */
export function compileFormatOrFail<Row>(format: string, spec: ListingSpec<Row>): ListingFormat<Row> {
  try {
    return compileListingFormat(format, spec);
  } catch (err) {
    if (err instanceof FormatError) throw new CliError(err.message);
    throw err;
  }
}

/** Writes a listing: one id per line for -q (no format), else the rendered format. Returns the exit status. */
export function writeListing<Row>(ctx: CommandContext, rows: readonly Row[], format: ListingFormat<Row> | undefined, trunc: boolean, idOf: (row: Row) => string): number {
  if (format === undefined) {
    ctx.stdout.write(rows.map((row) => idOf(row) + '\n').join(''));
    return 0;
  }
  try {
    ctx.stdout.write(format.render(rows, { trunc, nowMs: ctx.now() }));
  } catch (err) {
    if (err instanceof FormatError) throw new CliError(err.message);
    throw err;
  }
  return 0;
}
