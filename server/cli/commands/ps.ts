/**
 * `capstan ps [-a] [-q] [--no-trunc] [--format ...]`: the containers the agent tracks (with -a:
 * every cgroup, and capstan containers that are created or exited, as `docker ps -a` lists
 * stopped ones), sorted by name, in docker ps' table and format conventions.
 */
import { flagBool, flagString, type FlagSpec, type ParsedArgs } from '../args';
import { truncateId } from '../columns/column';
import { DEFAULT_PS_TABLE_FORMAT, PS_COLUMNS, PS_COLUMN_REGISTRY, type PsRow } from '../columns/ps';
import { AgentRequestError, type AgentClient } from '../client';
import { CliError } from '../errors';
import { FormatError, compileListingFormat } from '../format/listing';
import { HIDDEN_CONNECTION_FLAGS, byNameThenId, connectionFlags, formatFlagDescription } from './common';
import type { Command, CommandContext } from './types';
import { parseRuntimeContainerList, runtimeOnlyContainers } from '../../runtime/listing';

const FLAGS: readonly FlagSpec[] = [
  { name: 'all', short: 'a', kind: 'bool', description: 'Show all cgroups (default shows just containers)' },
  { name: 'format', kind: 'string', description: formatFlagDescription(PS_COLUMNS.map((c) => c.field)) },
  { name: 'no-trunc', kind: 'bool', description: "Don't truncate output" },
  { name: 'quiet', short: 'q', kind: 'bool', description: 'Only display container IDs' },
  ...HIDDEN_CONNECTION_FLAGS,
];

async function runPs(ctx: CommandContext, args: ParsedArgs): Promise<number> {
  const all = flagBool(args, 'all');
  const quiet = flagBool(args, 'quiet');
  const trunc = !flagBool(args, 'no-trunc');
  const formatFlag = flagString(args, 'format');
  if (args.positionals.length > 0) {
    throw new CliError(`"capstan ps" accepts no arguments.\nSee 'capstan ps --help'.`, 2);
  }

  const format = (() => {
    if (quiet) return undefined;
    try {
      return compileListingFormat(formatFlag ?? '', { columns: PS_COLUMN_REGISTRY, defaultTable: DEFAULT_PS_TABLE_FORMAT, typeName: '*ps.PsRow' });
    } catch (err) {
      if (err instanceof FormatError) throw new CliError(err.message);
      throw err;
    }
  })();
  if (quiet && formatFlag !== undefined) {
    ctx.stderr.write('WARNING: Ignoring custom format, because both --format and --quiet are set.\n');
  }

  const client = ctx.connect(connectionFlags(ctx.connection, args));
  const listed = (await client.listContainersWhenReady(true)).filter((e) => all || e.info.isContainer).map((e) => e.info);
  // Created and exited capstan containers have no cgroup, so only the runtime knows them.
  const infos = all ? [...listed, ...runtimeOnlyContainers(await stoppedCandidates(client), listed)] : listed;
  const rows: PsRow[] = infos
    .map((info) => ({ info }))
    .sort(byNameThenId);

  if (format === undefined) {
    ctx.stdout.write(rows.map((r) => (trunc ? truncateId(r.info.id) : r.info.id) + '\n').join(''));
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

/** The runtime's containers; none when the agent runs without the runtime (404). */
async function stoppedCandidates(client: AgentClient): Promise<ReturnType<typeof parseRuntimeContainerList>> {
  try {
    return parseRuntimeContainerList(await client.getJson('/api/v1/runtime/containers'));
  } catch (err) {
    if (err instanceof AgentRequestError && err.status === 404) return [];
    throw err;
  }
}

export const psCommand: Command = {
  name: 'ps',
  summary: 'List containers (every tracked cgroup with -a)',
  usage: 'ps [OPTIONS]',
  flags: FLAGS,
  run: (ctx, args) => runPs(ctx, args),
};
