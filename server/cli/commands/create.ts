/** `capstan create [OPTIONS] IMAGE [COMMAND] [ARG...]`: like run, without starting; prints the id. */
import { flagString, type ParsedArgs } from '../args';
import { ensureImage, parsePullPolicy } from './pull';
import { connectionFlags } from './common';
import { CONTAINER_FLAGS, createBody, createContainer } from './run';
import type { Command, CommandContext } from './types';

async function runCreate(ctx: CommandContext, args: ParsedArgs, rawArgv: readonly string[]): Promise<number> {
  const body = createBody(args, rawArgv, ctx.env, 'create');
  const client = ctx.connect(connectionFlags(ctx.connection, args));
  await ensureImage(ctx, client, String(body['image']), parsePullPolicy(flagString(args, 'pull')));
  ctx.stdout.write(`${await createContainer(ctx, client, body, false)}\n`);
  return 0;
}

export const createCommand: Command = {
  name: 'create',
  summary: 'Create a new container',
  usage: 'create [OPTIONS] IMAGE [COMMAND] [ARG...]',
  flags: CONTAINER_FLAGS,
  flagsEndAtFirstArgument: true,
  run: (ctx, args, rawArgv) => runCreate(ctx, args, rawArgv),
};
