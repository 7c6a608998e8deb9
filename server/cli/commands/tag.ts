/** `capstan tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]` (also `image tag`): one more name for an image. */
import type { ParsedArgs } from '../args';
import { CliError } from '../errors';
import { parseReference } from '../../runtime/images/reference';
import { ImageError } from '../../runtime/images/errors';
import { HIDDEN_CONNECTION_FLAGS, connectionFlags } from './common';
import type { Command, CommandContext } from './types';

export async function runTag(ctx: CommandContext, args: ParsedArgs, usageName = 'tag'): Promise<number> {
  if (args.positionals.length !== 2) {
    throw new CliError(`"capstan ${usageName}" requires exactly 2 arguments.\nSee 'capstan ${usageName} --help'.\n\nUsage:  capstan ${usageName} SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]\n\nCreate a tag TARGET_IMAGE that refers to SOURCE_IMAGE`, 1);
  }
  const [source, target] = args.positionals as [string, string];
  // Checked here first, as docker's CLI does, with its words.
  try {
    parseReference(target);
  } catch (error) {
    if (!(error instanceof ImageError)) throw error;
    throw new CliError(`Error parsing reference: "${target}" is not a valid repository/tag: ${error.message.replace(/^invalid reference format: ".*?": /, 'invalid reference format: ')}`, 1);
  }
  const client = ctx.connect(connectionFlags(ctx.connection, args));
  await client.requestJson('POST', `/api/v1/images/${encodeURIComponent(source)}/tag?repo=${encodeURIComponent(target)}`);
  return 0;
}

export const tagCommand: Command = {
  name: 'tag',
  summary: 'Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE',
  usage: 'tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]',
  flags: [...HIDDEN_CONNECTION_FLAGS],
  run: (ctx, args) => runTag(ctx, args),
};
