/**
 * `capstan start [-a] [-i] [--detach-keys KEYS] CONTAINER...`: starts stopped containers (prints each name); with -a,
 * one container is started attached, as `run` would.
 */
import { flagBool, type ParsedArgs } from '../args';
import { CliError } from '../errors';
import { DETACH_KEYS_FLAG, HIDDEN_CONNECTION_FLAGS, connectionFlags } from './common';
import { containerPath, detachKeysOf, eachContainer, runSession, terminalSize } from './run';
import type { Command, CommandContext } from './types';

async function runStart(ctx: CommandContext, args: ParsedArgs): Promise<number> {
  const client = ctx.connect(connectionFlags(ctx.connection, args));
  if (flagBool(args, 'attach') || flagBool(args, 'interactive')) {
    if (args.positionals.length !== 1) throw new CliError('capstan: you cannot start and attach multiple containers at once', 1);
    const reference = args.positionals[0]!;
    const detachKeys = detachKeysOf(args, (message) => new CliError(message, 1));
    const inspect = (await client.call('GET', `${containerPath(reference)}/json`)) as { Id: string; Config?: { Tty?: boolean; OpenStdin?: boolean } };
    const tty = inspect.Config?.Tty === true;
    const size = terminalSize();
    const query = new URLSearchParams({ start: '1' });
    if (tty && size) {
      query.set('rows', String(size.rows));
      query.set('cols', String(size.cols));
    }
    return runSession(ctx, client, `/api/v1/containers/${inspect.Id}/attach?${query}`, {
      tty,
      stdin: flagBool(args, 'interactive') && inspect.Config?.OpenStdin === true,
      detachKeys,
    });
  }
  return eachContainer(ctx, args.positionals, 'start', async (reference) => {
    await client.call('POST', `${containerPath(reference)}/start`, { timeoutMs: 120_000 });
    return reference;
  });
}

export const startCommand: Command = {
  name: 'start',
  summary: 'Start one or more stopped containers',
  usage: 'start [OPTIONS] CONTAINER [CONTAINER...]',
  flags: [
    { name: 'attach', short: 'a', kind: 'bool', description: 'Attach STDOUT/STDERR and forward signals' },
    DETACH_KEYS_FLAG,
    { name: 'interactive', short: 'i', kind: 'bool', description: "Attach container's STDIN" },
    ...HIDDEN_CONNECTION_FLAGS,
  ],
  run: (ctx, args) => runStart(ctx, args),
};
