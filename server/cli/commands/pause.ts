/** `capstan pause CONTAINER...`: the cgroup freezer (v1 freezer.state, v2 cgroup.freeze). */
import type { ParsedArgs } from '../args';
import { HIDDEN_CONNECTION_FLAGS, connectionFlags } from './common';
import { containerPath, eachContainer } from './run';
import type { Command, CommandContext } from './types';

async function runPause(ctx: CommandContext, args: ParsedArgs): Promise<number> {
  const client = ctx.connect(connectionFlags(ctx.connection, args));
  return eachContainer(ctx, args.positionals, 'pause', async (reference) => {
    await client.call('POST', `${containerPath(reference)}/pause`);
    return reference;
  });
}

export const pauseCommand: Command = {
  name: 'pause',
  summary: 'Pause all processes within one or more containers',
  usage: 'pause CONTAINER [CONTAINER...]',
  flags: HIDDEN_CONNECTION_FLAGS,
  run: (ctx, args) => runPause(ctx, args),
};
