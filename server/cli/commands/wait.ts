/** `capstan wait CONTAINER...`: blocks until each container stops, then prints its exit code. */
import type { ParsedArgs } from '../args';
import { CliError } from '../errors';
import { HIDDEN_CONNECTION_FLAGS, connectionFlags } from './common';
import { containerPath, eachContainer } from './run';
import type { Command, CommandContext } from './types';

async function runWait(ctx: CommandContext, args: ParsedArgs): Promise<number> {
  const client = ctx.connect(connectionFlags(ctx.connection, args));
  return eachContainer(ctx, args.positionals, 'wait', async (reference) => {
    const answer = (await client.call('POST', `${containerPath(reference)}/wait`, { timeoutMs: 0, signal: ctx.signal })) as {
      StatusCode?: unknown;
      Error?: { Message?: unknown };
    };
    if (typeof answer?.StatusCode !== 'number' || answer.StatusCode < 0) {
      throw new CliError(`Error response from daemon: ${String(answer?.Error?.Message ?? 'no exit code')}`);
    }
    return String(answer.StatusCode);
  });
}

export const waitCommand: Command = {
  name: 'wait',
  summary: 'Block until one or more containers stop, then print their exit codes',
  usage: 'wait CONTAINER [CONTAINER...]',
  flags: HIDDEN_CONNECTION_FLAGS,
  handlesInterrupt: true,
  run: (ctx, args) => runWait(ctx, args),
};
