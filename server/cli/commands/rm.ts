/** `capstan rm [-f] CONTAINER...`: removes stopped containers (running ones too with -f, after SIGKILL). */
import { flagBool, type ParsedArgs } from '../args';
import { CliError, clientLookupFailure } from '../errors';
import { HIDDEN_CONNECTION_FLAGS, connectionFlags } from './common';
import { containerPath, eachContainer } from './run';
import type { Command, CommandContext } from './types';

async function runRm(ctx: CommandContext, args: ParsedArgs): Promise<number> {
  const force = flagBool(args, 'force');
  const query = [...(force ? ['force=1'] : []), ...(flagBool(args, 'volumes') ? ['v=1'] : [])];
  const client = ctx.connect(connectionFlags(ctx.connection, args));
  return eachContainer(ctx, args.positionals, 'rm', async (reference) => {
    try {
      await client.call('DELETE', `${containerPath(reference)}${query.length > 0 ? `?${query.join('&')}` : ''}`, { timeoutMs: 60_000 });
    } catch (error) {
      const failure = clientLookupFailure(error, reference);
      // docker rm -f: a container that is not there is said, yet is no failure (exit 0).
      if (!force || !(failure instanceof CliError) || failure.apiCode !== 'no_such_container') throw failure;
      ctx.stderr.write(`${failure.message}\n`);
      return undefined;
    }
    return reference;
  });
}

export const rmCommand: Command = {
  name: 'rm',
  summary: 'Remove one or more containers',
  usage: 'rm [OPTIONS] CONTAINER [CONTAINER...]',
  flags: [
    { name: 'force', short: 'f', kind: 'bool', description: 'Force the removal of a running container (uses SIGKILL)' },
    { name: 'volumes', short: 'v', kind: 'bool', description: 'Remove anonymous volumes associated with the container' },
    ...HIDDEN_CONNECTION_FLAGS,
  ],
  run: (ctx, args) => runRm(ctx, args),
};
