/**
 * `capstan ps [-a] [-f KEY=VALUE]... [-n N] [-l] [-q] [-s] [--no-trunc] [--format ...]`: docker's
 * ps over every owner's containers (capstan's, Docker's, Podman's, Kubernetes'), answered by the
 * agent's GET /api/v1/containers/json from the owners' state: newest first, docker's columns,
 * filters and words. Every cgroup the collector tracks is `capstan cgroups`.
 */
import { flagBool, flagList, flagString, type FlagSpec, type ParsedArgs } from '../args';
import { DEFAULT_PS_TABLE_FORMAT, PS_COLUMNS, PS_COLUMN_REGISTRY, type PsRow } from '../columns/ps';
import type { AgentClient } from '../client';
import { CliError } from '../errors';
import { templateSource } from '../format/listing';
import { psAnswerWaitMs, type PsSummary } from '../../containers/ps';
import { HIDDEN_CONNECTION_FLAGS, connectionFlags, formatFlagDescription } from './common';
import { compileFormatOrFail, writeListing } from './listing-output';
import type { Command, CommandContext } from './types';

const FLAGS: readonly FlagSpec[] = [
  { name: 'all', short: 'a', kind: 'bool', description: 'Show all containers (default shows just running)' },
  { name: 'filter', short: 'f', kind: 'list', valueName: 'filter', description: 'Filter output based on conditions provided' },
  { name: 'format', kind: 'string', description: formatFlagDescription(PS_COLUMNS.map((c) => c.field)) },
  { name: 'last', short: 'n', kind: 'string', valueName: 'int', description: 'Show n last created containers (includes all states) (default -1)' },
  { name: 'latest', short: 'l', kind: 'bool', description: 'Show the latest created container (includes all states)' },
  { name: 'no-trunc', kind: 'bool', description: "Don't truncate output" },
  { name: 'quiet', short: 'q', kind: 'bool', description: 'Only display container IDs' },
  { name: 'size', short: 's', kind: 'bool', description: 'Display total file sizes' },
  ...HIDDEN_CONNECTION_FLAGS,
];

/** docker's -f values: "key=value", repeatable; the API's map form. */
export function parseFilterFlags(values: readonly string[]): Record<string, Record<string, true>> {
  const filters: Record<string, Record<string, true>> = {};
  for (const value of values) {
    const equals = value.indexOf('=');
    if (equals < 0) throw new CliError(`invalid argument "${value}" for "-f, --filter" flag: bad format of filter (expected name=value)\nSee 'capstan ps --help'.`, 125);
    const key = value.slice(0, equals).trim().toLowerCase();
    (filters[key] ??= {})[value.slice(equals + 1).trim()] = true;
  }
  return filters;
}

/** docker's -n: an integer (default -1, no limit). */
export function parseLast(text: string | undefined): number {
  if (text === undefined) return -1;
  if (!/^[+-]?\d{1,9}$/.test(text)) throw new CliError(`invalid argument "${text}" for "-n, --last" flag: strconv.ParseInt: parsing ${JSON.stringify(text)}: invalid syntax\nSee 'capstan ps --help'.`, 125);
  return Number(text);
}

/** The query of GET /api/v1/containers/json for these flags (docker's buildContainerListOptions). */
export function psQuery(options: { all: boolean; last: number; latest: boolean; size: boolean; filters: Record<string, Record<string, true>> }): string {
  const limit = options.latest && options.last === -1 ? 1 : options.last;
  const parameters = new URLSearchParams();
  if (options.all) parameters.set('all', '1');
  if (limit > 0) parameters.set('limit', String(limit));
  if (options.size) parameters.set('size', '1');
  if (Object.keys(options.filters).length > 0) parameters.set('filters', JSON.stringify(options.filters));
  const text = parameters.toString();
  return text === '' ? '' : `?${text}`;
}

async function runPs(ctx: CommandContext, args: ParsedArgs): Promise<number> {
  const quiet = flagBool(args, 'quiet');
  const trunc = !flagBool(args, 'no-trunc');
  const formatFlag = flagString(args, 'format');
  if (args.positionals.length > 0) {
    throw new CliError(`"capstan ps" accepts no arguments.\nSee 'capstan ps --help'.`, 1);
  }
  const filters = parseFilterFlags(flagList(args, 'filter'));
  const last = parseLast(flagString(args, 'last'));
  // docker asks for sizes when the template shows them, unless --size=false was given.
  const sizeGiven = args.flags.has('size');
  let size = flagBool(args, 'size');

  let format: ReturnType<typeof compileFormatOrFail<PsRow>> | undefined;
  if (!quiet) {
    const { source } = templateSource(formatFlag ?? '', DEFAULT_PS_TABLE_FORMAT);
    if (!sizeGiven && /\.Size\b/.test(source)) size = true;
    const text = formatFlag === undefined || formatFlag === '' || formatFlag === 'table' ? (size ? `${DEFAULT_PS_TABLE_FORMAT}\\t{{.Size}}` : DEFAULT_PS_TABLE_FORMAT) : formatFlag;
    format = compileFormatOrFail(text, { columns: PS_COLUMN_REGISTRY, defaultTable: DEFAULT_PS_TABLE_FORMAT, typeName: '*formatter.ContainerContext' });
  } else if (formatFlag !== undefined) {
    ctx.stderr.write('WARNING: Ignoring custom format, because both --format and --quiet are set.\n');
  }

  const client = ctx.connect(connectionFlags(ctx.connection, args));
  const withSizes = size && !quiet;
  const rows = (await listPs(ctx, client, psQuery({ all: flagBool(args, 'all'), last, latest: flagBool(args, 'latest'), size: withSizes, filters }), psAnswerWaitMs(withSizes))).map((summary) => ({ summary }));
  return writeListing(ctx, rows, format, trunc, (row) => (trunc ? row.summary.Id.slice(0, 12) : row.summary.Id));
}

/** The agent's listing; its warnings (an engine away) go to stderr. */
async function listPs(ctx: CommandContext, client: AgentClient, query: string, waitMs: number): Promise<PsSummary[]> {
  const { body, headers } = await client.getJsonWithHeaders(`/api/v1/containers/json${query}`, waitMs);
  const warnings = headers.get('capstan-warnings');
  if (warnings) {
    try {
      for (const warning of JSON.parse(warnings) as unknown[]) ctx.stderr.write(`WARNING: ${String(warning)}\n`);
    } catch {
      // A malformed header says nothing.
    }
  }
  if (!Array.isArray(body)) throw new CliError(`capstan: unexpected response from the agent at ${client.endpoint.url}: not a list of containers`);
  return body.filter((entry): entry is PsSummary => typeof entry === 'object' && entry !== null && typeof (entry as PsSummary).Id === 'string').map(normalized);
}

/** Fields a row's columns read, present even when an older agent or an engine left them out. */
function normalized(summary: PsSummary): PsSummary {
  return {
    ...summary,
    Names: Array.isArray(summary.Names) ? summary.Names : [],
    Image: summary.Image ?? '',
    ImageID: summary.ImageID ?? '',
    Command: summary.Command ?? '',
    Created: typeof summary.Created === 'number' ? summary.Created : 0,
    Ports: Array.isArray(summary.Ports) ? summary.Ports : [],
    Labels: summary.Labels ?? {},
    Status: summary.Status ?? '',
    NetworkSettings: { Networks: summary.NetworkSettings?.Networks ?? {} },
    Mounts: Array.isArray(summary.Mounts) ? summary.Mounts : [],
    Owner: summary.Owner ?? '',
  };
}

export const psCommand: Command = {
  name: 'ps',
  summary: 'List containers',
  usage: 'ps [OPTIONS]',
  flags: FLAGS,
  run: (ctx, args) => runPs(ctx, args),
};
