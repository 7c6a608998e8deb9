/**
 * `capstan update [OPTIONS] CONTAINER...`: docker update's resource flags and --restart (plus
 * block-device throttles and --force), applied live through PATCH /api/v1/containers/:ref/limits.
 *
 * Like docker: the flag values go to the agent as typed (it parses sizes like RAMInBytes and
 * validates with Docker's messages), each container updated prints its name as given, warnings go
 * to stderr, and the errors of all containers are printed together at the end with exit status 1.
 * The values are also parsed here first, with the agent's own parser, so a typo fails once, before
 * anything is sent, instead of once per container.
 */
import { flagBool, flagList, flagString, UsageError, type FlagSpec, type ParsedArgs } from '../args';
import { CliError } from '../errors';
import { LimitError, parseLimitRequest } from '../../limits';
import { checkCpus, checkInt64, checkSize, checkSwapSize, checkUint16 } from '../flag-values';
import { HIDDEN_CONNECTION_FLAGS, connectionFlags } from './common';
import type { Command, CommandContext } from './types';

/** Flag → PATCH body field, in docker update's help order. */
const VALUE_FLAGS: ReadonlyArray<FlagSpec & { field: string }> = [
  { name: 'blkio-weight', kind: 'string', valueName: 'uint16', validate: checkUint16, field: 'blkioWeight', description: 'Block IO (relative weight), between 10 and 1000' },
  { name: 'cpu-period', kind: 'string', valueName: 'int', validate: checkInt64, field: 'cpuPeriod', description: 'Limit CPU CFS (Completely Fair Scheduler) period' },
  { name: 'cpu-quota', kind: 'string', valueName: 'int', validate: checkInt64, field: 'cpuQuota', description: 'Limit CPU CFS (Completely Fair Scheduler) quota' },
  { name: 'cpu-shares', short: 'c', kind: 'string', valueName: 'int', validate: checkInt64, field: 'cpuShares', description: 'CPU shares (relative weight)' },
  { name: 'cpus', kind: 'string', valueName: 'decimal', validate: checkCpus, field: 'cpus', description: 'Number of CPUs' },
  { name: 'cpuset-cpus', kind: 'string', field: 'cpusetCpus', description: 'CPUs in which to allow execution (0-3, 0,1)' },
  { name: 'device-read-bps', kind: 'list', field: 'deviceReadBps', description: 'Limit read rate (bytes per second) from a device (e.g. /dev/vda:10mb)' },
  { name: 'device-read-iops', kind: 'list', field: 'deviceReadIops', description: 'Limit read rate (IO per second) from a device (e.g. /dev/vda:1000)' },
  { name: 'device-write-bps', kind: 'list', field: 'deviceWriteBps', description: 'Limit write rate (bytes per second) to a device' },
  { name: 'device-write-iops', kind: 'list', field: 'deviceWriteIops', description: 'Limit write rate (IO per second) to a device' },
  { name: 'memory', short: 'm', kind: 'string', valueName: 'bytes', validate: checkSize, field: 'memory', description: 'Memory limit' },
  { name: 'memory-reservation', kind: 'string', valueName: 'bytes', validate: checkSize, field: 'memoryReservation', description: 'Memory soft limit' },
  { name: 'memory-swap', kind: 'string', valueName: 'bytes', validate: checkSwapSize, field: 'memorySwap', description: "Swap limit equal to memory plus swap: '-1' to enable unlimited swap" },
  { name: 'pids-limit', kind: 'string', valueName: 'int', validate: checkInt64, field: 'pidsLimit', description: 'Tune container pids limit (set -1 for unlimited)' },
  { name: 'restart', kind: 'string', field: 'restart', description: 'Restart policy to apply when a container exits' },
];

const FLAGS: readonly FlagSpec[] = [
  ...VALUE_FLAGS.map(({ field: _field, ...spec }) => spec),
  {
    name: 'force',
    kind: 'bool',
    description: 'Apply a memory limit below the current usage (cgroup v2: the kernel reclaims, then OOM-kills to get there)',
  },
  ...HIDDEN_CONNECTION_FLAGS,
];

/** The PATCH body for the flags given; values stay as typed. */
export function updateBody(args: ParsedArgs): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  for (const spec of VALUE_FLAGS) {
    if (spec.kind === 'list') {
      const values = flagList(args, spec.name);
      if (values.length > 0) body[spec.field] = values;
    } else {
      const value = flagString(args, spec.name);
      if (value !== undefined) body[spec.field] = value;
    }
  }
  if (flagBool(args, 'force')) body['force'] = true;
  return body;
}

interface UpdateAnswer {
  clamped?: Array<{ file?: string; requested?: string; applied?: string }>;
  warnings?: string[];
}

async function runUpdate(ctx: CommandContext, args: ParsedArgs): Promise<number> {
  if (args.positionals.length === 0) throw new UsageError('"capstan update" requires at least 1 argument.', 'arguments');
  const body = updateBody(args);
  try {
    parseLimitRequest(body);
  } catch (error) {
    // docker's own words: "you must provide one or more flags when using this command" (exit 1).
    if (error instanceof LimitError && error.code === 'no_limits') throw new CliError(error.message);
    if (error instanceof LimitError) throw new CliError(`capstan: ${error.message}\nSee 'capstan update --help'.`);
    throw error;
  }

  const client = ctx.connect(connectionFlags(ctx.connection, args));
  const errors: string[] = [];
  for (const name of args.positionals) {
    try {
      const answer = (await client.patchJson(`/api/v1/containers/${encodeURIComponent(name)}/limits`, body)) as UpdateAnswer;
      for (const warning of answer.warnings ?? []) ctx.stderr.write(`${warning}\n`);
      for (const c of answer.clamped ?? []) {
        ctx.stderr.write(`capstan: warning: ${name}: the kernel stored ${c.file} as ${JSON.stringify(c.applied)} (requested ${JSON.stringify(c.requested)})\n`);
      }
      ctx.stdout.write(`${name}\n`);
    } catch (error) {
      if (!(error instanceof CliError)) throw error;
      // An unreachable agent fails every container the same way: say it once.
      if (!error.message.startsWith('Error response from daemon:')) throw error;
      errors.push(error.message);
    }
  }
  if (errors.length > 0) throw new CliError(errors.join('\n'));
  return 0;
}

export const updateCommand: Command = {
  name: 'update',
  summary: 'Update configuration of one or more containers',
  usage: 'update [OPTIONS] CONTAINER [CONTAINER...]',
  flags: FLAGS,
  run: (ctx, args) => runUpdate(ctx, args),
};
