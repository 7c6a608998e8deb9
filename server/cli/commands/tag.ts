/** `capstan tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]` (also `image tag`): docker's tag. */
import type { ParsedArgs } from '../args';
import { parseReference } from '../../runtime/images/reference';
import { CliError } from '../errors';
import { HIDDEN_CONNECTION_FLAGS, connectionFlags } from './common';
import type { Command, CommandContext } from './types';

const USAGE = 'Usage:  capstan tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]\n\nCreate a tag TARGET_IMAGE that refers to SOURCE_IMAGE';

/** docker's client-side refusal of a malformed target, in its words. Pure. */
export function targetReferenceError(target: string): string | undefined {
  try {
    parseReference(target);
    return undefined;
  } catch (error) {
    const reason = /repository name must be lowercase/.test((error as Error).message) ? ': repository name must be lowercase' : '';
    return `Error parsing reference: ${JSON.stringify(target)} is not a valid repository/tag: invalid reference format${reason}`;
  }
}

export async function runTag(ctx: CommandContext, args: ParsedArgs, usageName: string): Promise<number> {
  if (args.positionals.length !== 2) {
    throw new CliError(`"capstan ${usageName}" requires exactly 2 arguments.\nSee 'capstan ${usageName} --help'.\n\n${USAGE.replace('capstan tag', `capstan ${usageName}`)}`, 1);
  }
  const [source, target] = args.positionals as [string, string];
  const refusal = targetReferenceError(target);
  if (refusal !== undefined) throw new CliError(refusal, 1);
  const client = ctx.connect(connectionFlags(ctx.connection, args));
  await client.requestJson('POST', `/api/v1/images/${encodeURIComponent(source)}/tag?repo=${encodeURIComponent(target)}`);
  return 0;
}

export const tagCommand: Command = {
  name: 'tag',
  summary: 'Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE',
  usage: 'tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]',
  flags: HIDDEN_CONNECTION_FLAGS,
  run: (ctx, args) => runTag(ctx, args, 'tag'),
};
