/**
 * `capstan diff CONTAINER`: docker diff, the files and directories changed in a container's
 * filesystem since it was created ("A /new", "C /changed", "D /deleted").
 */
import type { ParsedArgs } from '../args';
import { CliError } from '../errors';
import { formatChanges, type Change } from '../../runtime/images/changes';
import { HIDDEN_CONNECTION_FLAGS, connectionFlags } from './common';
import { containerPath } from './run';
import type { Command, CommandContext } from './types';

async function runDiff(ctx: CommandContext, args: ParsedArgs): Promise<number> {
  const [reference, ...extra] = args.positionals;
  if (reference === undefined || extra.length > 0) throw new CliError(`"capstan diff" requires exactly 1 argument.\nSee 'capstan diff --help'.`, 1);
  const client = ctx.connect(connectionFlags(ctx.connection, args));
  const changes = ((await client.call('GET', `${containerPath(reference)}/changes`)) ?? []) as Change[];
  ctx.stdout.write(formatChanges(changes));
  return 0;
}

export const diffCommand: Command = {
  name: 'diff',
  summary: "Inspect changes to files or directories on a container's filesystem",
  usage: 'diff CONTAINER',
  flags: HIDDEN_CONNECTION_FLAGS,
  run: (ctx, args) => runDiff(ctx, args),
};
