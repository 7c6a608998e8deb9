/** `capstan kill [-s SIGNAL] CONTAINER...`: sends a signal (default SIGKILL) to the main process. */
import { flagString, type ParsedArgs } from '../args';
import { HIDDEN_CONNECTION_FLAGS, connectionFlags } from './common';
import { containerPath, eachContainer } from './run';
import type { Command, CommandContext } from './types';

async function runKill(ctx: CommandContext, args: ParsedArgs): Promise<number> {
  const signal = flagString(args, 'signal') ?? 'SIGKILL';
  const client = ctx.connect(connectionFlags(ctx.connection, args));
  return eachContainer(ctx, args.positionals, 'kill', async (reference) => {
    await client.call('POST', `${containerPath(reference)}/kill?signal=${encodeURIComponent(signal)}`);
    return reference;
  });
}

export const killCommand: Command = {
  name: 'kill',
  summary: 'Kill one or more running containers',
  usage: 'kill [OPTIONS] CONTAINER [CONTAINER...]',
  flags: [{ name: 'signal', short: 's', kind: 'string', description: 'Signal to send to the container (default "KILL")' }, ...HIDDEN_CONNECTION_FLAGS],
  run: (ctx, args) => runKill(ctx, args),
};
