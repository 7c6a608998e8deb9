/**
 * `capstan commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]`: docker commit, a new image from a
 * container's changes. Prints the new image's ID ("sha256:...").
 */
import { flagList, flagString, type FlagSpec, type ParsedArgs } from '../args';
import { tryNormalizeReference } from '../../runtime/images/reference';
import { CliError } from '../errors';
import { HIDDEN_CONNECTION_FLAGS, connectionFlags } from './common';
import type { Command, CommandContext } from './types';

const FLAGS: readonly FlagSpec[] = [
  { name: 'author', short: 'a', kind: 'string', description: 'Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")' },
  { name: 'change', short: 'c', kind: 'list', description: 'Apply Dockerfile instruction to the created image' },
  { name: 'message', short: 'm', kind: 'string', description: 'Commit message' },
  { name: 'pause', short: 'p', kind: 'bool', description: 'Pause container during commit (default true)' },
  ...HIDDEN_CONNECTION_FLAGS,
];

/** REPOSITORY[:TAG] into docker's repo and tag query parameters (a ":" after the last "/" starts the tag). */
export function splitRepositoryTag(reference: string): { repo: string; tag: string } {
  const colon = reference.lastIndexOf(':');
  if (colon > reference.lastIndexOf('/')) return { repo: reference.slice(0, colon), tag: reference.slice(colon + 1) };
  return { repo: reference, tag: '' };
}

async function runCommit(ctx: CommandContext, args: ParsedArgs): Promise<number> {
  const [container, reference, ...extra] = args.positionals;
  if (container === undefined || extra.length > 0) {
    throw new CliError(`"capstan commit" requires at least 1 and at most 2 arguments.\nSee 'capstan commit --help'.`, 1);
  }
  const query = new URLSearchParams({ container });
  if (reference !== undefined) {
    // docker's CLI checks the name before it asks the daemon, and says only this much.
    if (tryNormalizeReference(reference) === undefined) {
      const lowercase = tryNormalizeReference(reference.toLowerCase()) !== undefined;
      throw new CliError(`invalid reference format${lowercase ? ': repository name must be lowercase' : ''}`, 1);
    }
    const { repo, tag } = splitRepositoryTag(reference);
    query.set('repo', repo);
    if (tag !== '') query.set('tag', tag);
  }
  const author = flagString(args, 'author');
  if (author !== undefined) query.set('author', author);
  const message = flagString(args, 'message');
  if (message !== undefined) query.set('comment', message);
  for (const change of flagList(args, 'change')) query.append('changes', change);
  query.set('pause', args.flags.get('pause') === false ? '0' : '1');
  const client = ctx.connect(connectionFlags(ctx.connection, args));
  // Copying a large layer takes a while: no short request timeout.
  const result = (await client.call('POST', `/api/v1/commit?${query.toString()}`, { timeoutMs: 3_600_000 })) as { Id: string };
  ctx.stdout.write(`${result.Id}\n`);
  return 0;
}

export const commitCommand: Command = {
  name: 'commit',
  summary: "Create a new image from a container's changes",
  usage: 'commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]',
  flags: FLAGS,
  run: (ctx, args) => runCommit(ctx, args),
};
