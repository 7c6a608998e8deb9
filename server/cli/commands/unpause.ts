/** `capstan unpause CONTAINER...`: the cgroup freezer (v1 freezer.state, v2 cgroup.freeze). */
import type { ParsedArgs } from '../args';
import { HIDDEN_CONNECTION_FLAGS, connectionFlags } from './common';
import { containerPath, eachContainer } from './run';
import type { Command, CommandContext } from './types';

async function runUnpause(ctx: CommandContext, args: ParsedArgs): Promise<number> {
  const client = ctx.connect(connectionFlags(ctx.connection, args));
  return eachContainer(ctx, args.positionals, 'unpause', async (reference) => {
    await client.call('POST', `${containerPath(reference)}/unpause`);
    return reference;
  });
}

export const unpauseCommand: Command = {
  name: 'unpause',
  summary: 'Unpause all processes within one or more containers',
  usage: 'unpause CONTAINER [CONTAINER...]',
  flags: HIDDEN_CONNECTION_FLAGS,
  run: (ctx, args) => runUnpause(ctx, args),
};
