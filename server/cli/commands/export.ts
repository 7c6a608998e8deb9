/**
 * `capstan export [-o FILE] CONTAINER`: docker export, the container's root filesystem as a tar
 * archive, to FILE or to stdout (never to a terminal).
 */
import * as fs from 'node:fs';
import { once } from 'node:events';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable, type Writable } from 'node:stream';
import { flagString, type FlagSpec, type ParsedArgs } from '../args';
import { CliError } from '../errors';
import { HIDDEN_CONNECTION_FLAGS, connectionFlags } from './common';
import { containerPath } from './run';
import type { Command, CommandContext } from './types';

const FLAGS: readonly FlagSpec[] = [{ name: 'output', short: 'o', kind: 'string', description: 'Write to a file, instead of STDOUT' }, ...HIDDEN_CONNECTION_FLAGS];

async function runExport(ctx: CommandContext, args: ParsedArgs): Promise<number> {
  const [reference, ...extra] = args.positionals;
  if (reference === undefined || extra.length > 0) throw new CliError(`"capstan export" requires exactly 1 argument.\nSee 'capstan export --help'.`, 1);
  const output = flagString(args, 'output');
  if (output === undefined && ctx.stdout.isTTY) throw new CliError('cowardly refusing to save to a terminal. Use the -o flag or redirect', 1);
  const client = ctx.connect(connectionFlags(ctx.connection, args));
  const body = await client.download(`${containerPath(reference)}/export`, ctx.signal);
  if (output === undefined) {
    // Written chunk by chunk with backpressure; stdout itself is never ended.
    const stdout = ctx.stdout as Partial<Writable> & typeof ctx.stdout;
    for await (const chunk of body) {
      if (stdout.write(chunk) === false && typeof stdout.once === 'function') await once(stdout as Writable, 'drain');
    }
    return 0;
  }
  // Written next to FILE and renamed at the end: an interrupted export leaves no half archive under FILE's name.
  const partial = path.join(path.dirname(output), `.${path.basename(output)}.${process.pid}.partial`);
  try {
    await pipeline(Readable.from(body), fs.createWriteStream(partial, { mode: 0o644 }));
    fs.renameSync(partial, output);
  } catch (error) {
    fs.rmSync(partial, { force: true });
    if ((error as NodeJS.ErrnoException).syscall) throw new CliError(`failed to export container: ${(error as Error).message}`, 1, { cause: error });
    throw error;
  }
  return 0;
}

export const exportCommand: Command = {
  name: 'export',
  summary: "Export a container's filesystem as a tar archive",
  usage: 'export [OPTIONS] CONTAINER',
  flags: FLAGS,
  run: (ctx, args) => runExport(ctx, args),
};
