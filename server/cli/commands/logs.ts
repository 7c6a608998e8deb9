/**
 * `capstan logs [-f] [--since T] [--until T] [-n N] [-t] CONTAINER`: what the container wrote, to
 * stdout and stderr as it wrote it; with -f, then everything new until the container stops.
 */
import { flagBool, flagString, type ParsedArgs } from '../args';
import { CliError, clientLookupFailure } from '../errors';
import { HIDDEN_CONNECTION_FLAGS, connectionFlags } from './common';
import { containerPath } from './run';
import type { Command, CommandContext } from './types';

const GO_DURATION_UNITS_MS: Readonly<Record<string, number>> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * docker's --since/--until (GetTimestamp): a Go duration back from now ("10m", "1h30m"), Unix
 * seconds ("1700000000", "1700000000.5"), or an RFC 3339 date. Units: milliseconds since the epoch.
 */
export function parseLogTime(text: string, flag: string, nowMs: number): number {
  if (/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(text)) {
    let total = 0;
    for (const [, number, unit] of text.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) total += Number(number) * GO_DURATION_UNITS_MS[unit!]!;
    return nowMs - total;
  }
  if (/^\d+(\.\d+)?$/.test(text)) return Math.floor(Number(text) * 1000);
  const parsed = Date.parse(text);
  if (Number.isNaN(parsed)) {
    throw new CliError(`invalid value for "${flag}": "${text}" is neither a duration (10m), Unix seconds nor an RFC 3339 time`, 1);
  }
  return parsed;
}

async function runLogs(ctx: CommandContext, args: ParsedArgs): Promise<number> {
  if (args.positionals.length !== 1) throw new CliError(`"capstan logs" requires exactly 1 argument.\nSee 'capstan logs --help'.`, 1);
  const query = new URLSearchParams();
  const since = flagString(args, 'since');
  if (since !== undefined) query.set('since', String(parseLogTime(since, '--since', ctx.now())));
  const until = flagString(args, 'until');
  if (until !== undefined) query.set('until', String(parseLogTime(until, '--until', ctx.now())));
  const tail = flagString(args, 'tail');
  if (tail !== undefined && tail !== 'all') {
    if (!/^-?\d+$/.test(tail)) throw new CliError(`invalid value for "--tail": "${tail}" is not a number (or "all")`, 1);
    if (Number(tail) >= 0) query.set('tail', tail);
  }
  if (flagBool(args, 'follow')) query.set('follow', '1');
  const timestamps = flagBool(args, 'timestamps');
  const client = ctx.connect(connectionFlags(ctx.connection, args));
  try {
    for await (const line of client.streamLines(`${containerPath(args.positionals[0]!)}/logs?${query}`, ctx.signal)) {
      const { time, stream, log } = line as { time: string; stream: string; log: string };
      const text = timestamps ? `${time} ${log}` : log;
      (stream === 'stderr' ? ctx.stderr : ctx.stdout).write(text);
    }
  } catch (error) {
    throw clientLookupFailure(error, args.positionals[0]!);
  }
  return 0;
}

export const logsCommand: Command = {
  name: 'logs',
  summary: 'Fetch the logs of a container',
  usage: 'logs [OPTIONS] CONTAINER',
  flags: [
    { name: 'follow', short: 'f', kind: 'bool', description: 'Follow log output' },
    { name: 'since', kind: 'string', description: 'Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)' },
    { name: 'until', kind: 'string', description: 'Show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)' },
    { name: 'tail', short: 'n', kind: 'string', description: 'Number of lines to show from the end of the logs (default "all")' },
    { name: 'timestamps', short: 't', kind: 'bool', description: 'Show timestamps' },
    ...HIDDEN_CONNECTION_FLAGS,
  ],
  handlesInterrupt: true,
  run: (ctx, args) => runLogs(ctx, args),
};
