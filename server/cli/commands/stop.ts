/** `capstan stop [-t SECONDS] CONTAINER...`: SIGTERM, then SIGKILL after the timeout (default 10 s). */
import { flagString, type ParsedArgs } from '../args';
import { CliError } from '../errors';
import { HIDDEN_CONNECTION_FLAGS, connectionFlags } from './common';
import { containerPath, eachContainer } from './run';
import type { Command, CommandContext } from './types';

/** `-t`: whole seconds; -1 waits for ever. */
export function parseStopTimeout(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^-?\d{1,9}$/.test(text)) throw new CliError(`invalid argument "${text}" for "-t, --time" flag: strconv.ParseInt: parsing ${JSON.stringify(text)}: invalid syntax`, 125);
  return Number(text);
}

/** How long the request may take: the stop timeout plus the SIGKILL grace. Units: milliseconds. */
export function stopRequestTimeoutMs(seconds: number | undefined): number {
  if (seconds !== undefined && seconds < 0) return 0;
  return ((seconds ?? 10) + 40) * 1000;
}

async function runStop(ctx: CommandContext, args: ParsedArgs): Promise<number> {
  const seconds = parseStopTimeout(flagString(args, 'time'));
  const client = ctx.connect(connectionFlags(ctx.connection, args));
  const query = seconds === undefined ? '' : `?t=${seconds}`;
  return eachContainer(ctx, args.positionals, 'stop', async (reference) => {
    await client.call('POST', `${containerPath(reference)}/stop${query}`, { timeoutMs: stopRequestTimeoutMs(seconds) });
    return reference;
  });
}

export const stopCommand: Command = {
  name: 'stop',
  summary: 'Stop one or more running containers',
  usage: 'stop [OPTIONS] CONTAINER [CONTAINER...]',
  flags: [
    { name: 'time', short: 't', kind: 'string', valueName: 'int', description: 'Seconds to wait before killing the container (default 10)' },
    ...HIDDEN_CONNECTION_FLAGS,
  ],
  run: (ctx, args) => runStop(ctx, args),
};
