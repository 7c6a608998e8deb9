/**
 * `capstan push [-q] NAME[:TAG]` (also `image push`): the agent pushes the image of that name to
 * the registry the name gives (POST /api/v1/images/push), with the credentials `capstan login`
 * stored for it, and the CLI prints docker's lines: "The push refers to repository [...]", one
 * line per layer (Preparing, Pushing, Pushed or Layer already exists), then "TAG: digest: ... size: N".
 */
import { flagBool, type FlagSpec, type ParsedArgs } from '../args';
import { CliError } from '../errors';
import { HIDDEN_CONNECTION_FLAGS, connectionFlags } from './common';
import { RegistryProgressDisplay, registryOfName, registryStream } from './pull';
import type { Command, CommandContext } from './types';

export const PUSH_FLAGS: readonly FlagSpec[] = [{ name: 'quiet', short: 'q', kind: 'bool', description: 'Suppress verbose output' }, ...HIDDEN_CONNECTION_FLAGS];

export async function runPush(ctx: CommandContext, args: ParsedArgs, usageName: string): Promise<number> {
  if (args.positionals.length !== 1) {
    throw new CliError(`"capstan ${usageName}" requires exactly 1 argument.\nSee 'capstan ${usageName} --help'.\n\nUsage:  capstan ${usageName} [OPTIONS] NAME[:TAG]\n\nPush an image or a repository to a registry`, 1);
  }
  const name = args.positionals[0]!;
  registryOfName(name); // a malformed name is refused before the agent is looked for
  const quiet = flagBool(args, 'quiet');
  const display = new RegistryProgressDisplay(ctx.stdout, quiet);
  const client = ctx.connect(connectionFlags(ctx.connection, args));
  await registryStream(ctx, client, name, `/api/v1/images/push?${new URLSearchParams({ reference: name }).toString()}`, (message) => {
    if (message.push) display.event(message.push);
    return message.pushed;
  });
  if (quiet) ctx.stdout.write(`${name}\n`);
  return 0;
}

export const pushCommand: Command = {
  name: 'push',
  summary: 'Push an image or a repository to a registry',
  usage: 'push [OPTIONS] NAME[:TAG]',
  flags: PUSH_FLAGS,
  run: (ctx, args) => runPush(ctx, args, 'push'),
};
