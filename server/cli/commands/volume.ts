/**
 * `capstan volume create|ls|inspect|rm|prune`: volumes of the agent's local driver, with docker's
 * output (ls: DRIVER VOLUME NAME, --format, -q, -f dangling|name|driver|label; inspect: a JSON
 * array; rm: the names removed; prune: "Deleted Volumes:" and the space reclaimed).
 */
import type { VolumeRecord } from '../../runtime/volumes/store';
import { flagBool, flagList, flagString, formatFlagHelp, parseArgs, type FlagSpec, type ParsedArgs } from '../args';
import type { AgentClient } from '../client';
import { DEFAULT_VOLUMES_TABLE_FORMAT, VOLUME_COLUMN_REGISTRY } from '../columns/volumes';
import { CliError } from '../errors';
import { humanSize } from '../format/units';
import { HIDDEN_CONNECTION_FLAGS, connectionFlags } from './common';
import { compileFormatOrFail, writeListing } from './listing-output';
import type { Command, CommandContext } from './types';

/** Each subcommand's own flags, as docker's (-f is --filter for ls but --force for rm and prune). */
const LS_FLAGS: readonly FlagSpec[] = [
  { name: 'quiet', short: 'q', kind: 'bool', description: 'Only display volume names' },
  { name: 'format', kind: 'string', description: 'Pretty-print volumes using a Go template' },
  { name: 'filter', short: 'f', kind: 'list', description: 'Provide filter values (dangling=true|false, name=, driver=, label=KEY[=VALUE])' },
];
const RM_FLAGS: readonly FlagSpec[] = [{ name: 'force', short: 'f', kind: 'bool', description: 'Accepted as docker does (a volume in use is still never removed)' }];
const SUBCOMMAND_FLAGS: Readonly<Record<string, readonly FlagSpec[]>> = {
  create: [
    { name: 'label', kind: 'list', description: 'Set metadata for a volume (KEY=VALUE)' },
    { name: 'driver', short: 'd', kind: 'string', description: 'Specify volume driver name (only "local")' },
  ],
  ls: LS_FLAGS,
  list: LS_FLAGS,
  inspect: [{ name: 'format', short: 'f', kind: 'string', description: 'Format the output using the given Go template' }],
  rm: RM_FLAGS,
  remove: RM_FLAGS,
  prune: [
    { name: 'force', short: 'f', kind: 'bool', description: 'Do not prompt for confirmation' },
    { name: 'filter', kind: 'list', description: 'Provide filter values (label=KEY[=VALUE])' },
  ],
};

const USAGE = `Usage:  capstan volume COMMAND

Commands:
  create   Create a volume
  inspect  Display detailed information on one or more volumes
  ls       List volumes
  prune    Remove all unused local volumes
  rm       Remove one or more volumes`;

function filterQuery(filters: readonly string[]): string {
  return filters.length === 0 ? '' : `?${filters.map((filter) => `filter=${encodeURIComponent(filter)}`).join('&')}`;
}

function volumePath(name: string): string {
  return `/api/v1/volumes/${encodeURIComponent(name)}`;
}

async function createVolume(ctx: CommandContext, client: AgentClient, args: ParsedArgs, names: string[]): Promise<number> {
  if (names.length > 1) throw new CliError(`"capstan volume create" requires at most 1 argument.\nSee 'capstan volume create --help'.`, 1);
  const labels: Record<string, string> = {};
  for (const label of flagList(args, 'label')) {
    const eq = label.indexOf('=');
    labels[eq === -1 ? label : label.slice(0, eq)] = eq === -1 ? '' : label.slice(eq + 1);
  }
  const driver = flagString(args, 'driver');
  const body = { ...(names[0] ? { Name: names[0] } : {}), ...(driver ? { Driver: driver } : {}), Labels: labels };
  const volume = (await client.requestJson('POST', '/api/v1/volumes', body)) as VolumeRecord;
  ctx.stdout.write(`${volume.Name}\n`);
  return 0;
}

async function listVolumes(ctx: CommandContext, client: AgentClient, args: ParsedArgs): Promise<number> {
  const body = (await client.getJson(`/api/v1/volumes${filterQuery(flagList(args, 'filter'))}`)) as { Volumes?: VolumeRecord[] };
  if (!Array.isArray(body.Volumes)) throw new CliError('capstan: unexpected answer from the agent: no "Volumes" list');
  const quiet = flagBool(args, 'quiet');
  const formatFlag = flagString(args, 'format');
  const format = quiet && formatFlag === undefined
    ? undefined
    : compileFormatOrFail(formatFlag ?? '', { columns: VOLUME_COLUMN_REGISTRY, defaultTable: DEFAULT_VOLUMES_TABLE_FORMAT, typeName: '*formatter.volumeContext' });
  return writeListing(ctx, body.Volumes, format, false, (volume) => volume.Name);
}

/** docker's per-name loop: every name is tried, each failure said on stderr, exit 1 if any failed. */
async function eachName(ctx: CommandContext, names: readonly string[], work: (name: string) => Promise<void>): Promise<number> {
  let status = 0;
  for (const name of names) {
    try {
      await work(name);
    } catch (error) {
      if (!(error instanceof CliError)) throw error;
      // docker's CLI says a missing volume itself, without the daemon's prefix.
      ctx.stderr.write(error.apiCode === 'no_such_volume' ? `Error: No such volume: ${name}\n` : `${error.message}\n`);
      status = 1;
    }
  }
  return status;
}

async function inspectVolumes(ctx: CommandContext, client: AgentClient, args: ParsedArgs, names: string[]): Promise<number> {
  const found: VolumeRecord[] = [];
  const status = await eachName(ctx, names, async (name) => {
    found.push((await client.getJson(volumePath(name))) as VolumeRecord);
  });
  const format = flagString(args, 'format');
  if (format !== undefined && format !== '') {
    const compiled = compileFormatOrFail(format, {
      columns: VOLUME_COLUMN_REGISTRY,
      defaultTable: DEFAULT_VOLUMES_TABLE_FORMAT,
      typeName: '*volume.Volume',
    });
    writeListing(ctx, found, compiled, false, (volume) => volume.Name);
  } else {
    ctx.stdout.write(`${JSON.stringify(found, null, 4)}\n`);
  }
  return status;
}

async function removeVolumes(ctx: CommandContext, client: AgentClient, names: string[]): Promise<number> {
  return eachName(ctx, names, async (name) => {
    await client.call('DELETE', volumePath(name));
    ctx.stdout.write(`${name}\n`);
  });
}

async function pruneVolumes(ctx: CommandContext, client: AgentClient, args: ParsedArgs): Promise<number> {
  const result = (await client.requestJson('POST', `/api/v1/volumes/prune${filterQuery(flagList(args, 'filter'))}`)) as { VolumesDeleted?: string[]; SpaceReclaimed?: number };
  const deleted = result.VolumesDeleted ?? [];
  if (deleted.length > 0) ctx.stdout.write(`Deleted Volumes:\n${deleted.map((name) => `${name}\n`).join('')}\n`);
  ctx.stdout.write(`Total reclaimed space: ${humanSize(result.SpaceReclaimed ?? 0)}\n`);
  return 0;
}

function needsNames(subcommand: string, names: readonly string[]): void {
  if (names.length === 0) throw new CliError(`"capstan volume ${subcommand}" requires at least 1 argument.\nSee 'capstan volume ${subcommand} --help'.`, 1);
}

const SUBCOMMAND_HELP: FlagSpec = { name: 'help', short: 'h', kind: 'bool', description: 'Print usage' };

async function runVolume(ctx: CommandContext, commandArgs: ParsedArgs): Promise<number> {
  const [subcommand, ...subcommandArgv] = commandArgs.positionals;
  const specs = subcommand !== undefined ? SUBCOMMAND_FLAGS[subcommand] : undefined;
  const args = specs ? parseArgs(subcommandArgv, [...specs, SUBCOMMAND_HELP, ...HIDDEN_CONNECTION_FLAGS]) : commandArgs;
  if (specs && flagBool(args, 'help')) {
    ctx.stdout.write(`Usage:  capstan volume ${subcommand} [OPTIONS]\n\nOptions:\n${formatFlagHelp([...specs, SUBCOMMAND_HELP])}\n`);
    return 0;
  }
  const rest = specs ? args.positionals : subcommandArgv;
  const client = (): AgentClient => ctx.connect(connectionFlags(ctx.connection, args));
  switch (subcommand) {
    case 'create':
      return createVolume(ctx, client(), args, rest);
    case 'ls':
    case 'list':
      if (rest.length > 0) throw new CliError(`"capstan volume ls" accepts no arguments.\nSee 'capstan volume ls --help'.`, 1);
      return listVolumes(ctx, client(), args);
    case 'inspect':
      needsNames(subcommand, rest);
      return inspectVolumes(ctx, client(), args, rest);
    case 'rm':
    case 'remove':
      needsNames(subcommand, rest);
      return removeVolumes(ctx, client(), rest);
    case 'prune':
      return pruneVolumes(ctx, client(), args);
    case undefined:
      ctx.stdout.write(`${USAGE}\n`);
      return 0;
    default:
      throw new CliError(`capstan volume: unknown command "${subcommand}"\n\n${USAGE}`, 1);
  }
}

export const volumeCommand: Command = {
  name: 'volume',
  summary: 'Manage volumes (create, ls, inspect, rm, prune)',
  usage: 'volume COMMAND [OPTIONS] [ARG...]',
  // The subcommand's flags are parsed by runVolume: they differ between subcommands.
  flags: HIDDEN_CONNECTION_FLAGS,
  flagsEndAtFirstArgument: true,
  run: (ctx, args) => runVolume(ctx, args),
};
