/** `capstan restart [-t SECONDS] CONTAINER...`: stop (as `stop -t`) then start. */
import { flagString, type ParsedArgs } from '../args';
import { HIDDEN_CONNECTION_FLAGS, connectionFlags } from './common';
import { containerPath, eachContainer } from './run';
import { parseStopTimeout, stopRequestTimeoutMs } from './stop';
import type { Command, CommandContext } from './types';

async function runRestart(ctx: CommandContext, args: ParsedArgs): Promise<number> {
  const seconds = parseStopTimeout(flagString(args, 'time'));
  const client = ctx.connect(connectionFlags(ctx.connection, args));
  const query = seconds === undefined ? '' : `?t=${seconds}`;
  return eachContainer(ctx, args.positionals, 'restart', async (reference) => {
    await client.call('POST', `${containerPath(reference)}/restart${query}`, { timeoutMs: stopRequestTimeoutMs(seconds) + 120_000 });
    return reference;
  });
}

export const restartCommand: Command = {
  name: 'restart',
  summary: 'Restart one or more containers',
  usage: 'restart [OPTIONS] CONTAINER [CONTAINER...]',
  flags: [
    { name: 'time', short: 't', kind: 'string', valueName: 'int', description: 'Seconds to wait before killing the container (default 10)' },
    ...HIDDEN_CONNECTION_FLAGS,
  ],
  run: (ctx, args) => runRestart(ctx, args),
};
