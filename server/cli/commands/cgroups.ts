/**
 * `capstan cgroups [-q] [--no-trunc] [--format ...]`: every cgroup the collector tracks, with its
 * owner (capstan, docker, podman, kubernetes, systemd or raw) and path, sorted by name: what `ps -a`
 * listed before ps became docker's. From the collector's latest tick, as cgroups are what it walks.
 */
import { flagBool, flagString, type FlagSpec, type ParsedArgs } from '../args';
import { truncateId } from '../columns/column';
import { CGROUP_COLUMNS, CGROUP_COLUMN_REGISTRY, DEFAULT_CGROUPS_TABLE_FORMAT, type CgroupRow } from '../columns/cgroups';
import { CliError } from '../errors';
import { HIDDEN_CONNECTION_FLAGS, byNameThenId, connectionFlags, formatFlagDescription } from './common';
import { compileFormatOrFail, writeListing } from './listing-output';
import type { Command, CommandContext } from './types';

const FLAGS: readonly FlagSpec[] = [
  { name: 'format', kind: 'string', description: formatFlagDescription(CGROUP_COLUMNS.map((c) => c.field)) },
  { name: 'no-trunc', kind: 'bool', description: "Don't truncate output" },
  { name: 'quiet', short: 'q', kind: 'bool', description: 'Only display IDs' },
  ...HIDDEN_CONNECTION_FLAGS,
];

async function runCgroups(ctx: CommandContext, args: ParsedArgs): Promise<number> {
  const quiet = flagBool(args, 'quiet');
  const trunc = !flagBool(args, 'no-trunc');
  const formatFlag = flagString(args, 'format');
  if (args.positionals.length > 0) throw new CliError(`"capstan cgroups" accepts no arguments.\nSee 'capstan cgroups --help'.`, 1);
  let format: ReturnType<typeof compileFormatOrFail<CgroupRow>> | undefined;
  if (!quiet) {
    format = compileFormatOrFail(formatFlag ?? '', { columns: CGROUP_COLUMN_REGISTRY, defaultTable: DEFAULT_CGROUPS_TABLE_FORMAT, typeName: '*cgroups.CgroupRow' });
  } else if (formatFlag !== undefined) {
    ctx.stderr.write('WARNING: Ignoring custom format, because both --format and --quiet are set.\n');
  }
  const client = ctx.connect(connectionFlags(ctx.connection, args));
  const rows: CgroupRow[] = (await client.listContainersWhenReady(true)).map((entry) => ({ info: entry.info })).sort(byNameThenId);
  return writeListing(ctx, rows, format, trunc, (row) => (trunc ? truncateId(row.info.id) : row.info.id));
}

export const cgroupsCommand: Command = {
  name: 'cgroups',
  summary: 'List every cgroup the agent tracks, with its owner',
  usage: 'cgroups [OPTIONS]',
  flags: FLAGS,
  run: (ctx, args) => runCgroups(ctx, args),
};
