/** `capstan history [-H=true|false] [--no-trunc] [-q] [--format F] IMAGE` (also `image history`): docker's history. */
import type { HistoryEntry } from '../../runtime/images/history';
import type { FlagSpec, ParsedArgs } from '../args';
import { flagBool, flagString } from '../args';
import { DEFAULT_HISTORY_TABLE_FORMAT, HISTORY_COLUMN_REGISTRY, HISTORY_FIELDS, type HistoryRow } from '../columns/history';
import { truncateId } from '../columns/column';
import { CliError } from '../errors';
import { HIDDEN_CONNECTION_FLAGS, connectionFlags, formatFlagDescription } from './common';
import { compileFormatOrFail, writeListing } from './listing-output';
import type { Command, CommandContext } from './types';

export const HISTORY_FLAGS: readonly FlagSpec[] = [
  { name: 'format', kind: 'string', description: formatFlagDescription(HISTORY_FIELDS) },
  { name: 'human', short: 'H', kind: 'bool', description: 'Print sizes and dates in human readable format (default true)' },
  { name: 'no-trunc', kind: 'bool', description: "Don't truncate output" },
  { name: 'quiet', short: 'q', kind: 'bool', description: 'Only show image IDs' },
  ...HIDDEN_CONNECTION_FLAGS,
];

const HISTORY_SPEC = { columns: HISTORY_COLUMN_REGISTRY, defaultTable: DEFAULT_HISTORY_TABLE_FORMAT, typeName: '*image.historyContext' };

export async function runHistory(ctx: CommandContext, args: ParsedArgs, usageName: string): Promise<number> {
  if (args.positionals.length !== 1) {
    throw new CliError(`"capstan ${usageName}" requires exactly 1 argument.\nSee 'capstan ${usageName} --help'.\n\nUsage:  capstan ${usageName} [OPTIONS] IMAGE\n\nShow the history of an image`, 1);
  }
  const trunc = !flagBool(args, 'no-trunc');
  // -H is on unless given as false (-H=false), as docker's default-true flag.
  const human = args.flags.get('human') !== false;
  const quiet = flagBool(args, 'quiet');
  const formatFlag = flagString(args, 'format');
  const format = quiet ? undefined : compileFormatOrFail<HistoryRow>(formatFlag === undefined || formatFlag === '' ? 'table' : formatFlag, HISTORY_SPEC);
  const client = ctx.connect(connectionFlags(ctx.connection, args));
  const entries = (await client.getJson(`/api/v1/images/${encodeURIComponent(args.positionals[0]!)}/history`)) as HistoryEntry[];
  if (!Array.isArray(entries)) throw new CliError('capstan: unexpected answer from the agent: no history list');
  const rows: HistoryRow[] = entries.map((entry) => ({ entry, human }));
  return writeListing(ctx, rows, format, trunc, (row) => (trunc ? truncateId(row.entry.Id) : row.entry.Id));
}

export const historyCommand: Command = {
  name: 'history',
  summary: 'Show the history of an image',
  usage: 'history [OPTIONS] IMAGE',
  flags: HISTORY_FLAGS,
  run: (ctx, args) => runHistory(ctx, args, 'history'),
};
