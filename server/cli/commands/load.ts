/**
 * `capstan load [-i FILE] [-q]`: docker's `load`, from a file or stdin: a `docker save` archive,
 * an OCI image layout tar (or a rootfs tarball, as `image import`). Stdin is spooled to a private
 * temporary file first, because the upload states its length and the formats need random access.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { flagBool, flagString, type ParsedArgs } from '../args';
import { CliError } from '../errors';
import { connectionFlags } from './common';
import { importImage, LOAD_FLAGS } from './image';
import type { Command, CommandContext } from './types';

export async function runLoad(ctx: CommandContext, args: ParsedArgs, usageName = 'load'): Promise<number> {
  if (args.positionals.length > 0) throw new CliError(`"capstan ${usageName}" accepts no arguments.\nSee 'capstan ${usageName} --help'.\n\nUsage:  capstan ${usageName} [OPTIONS]\n\nLoad an image from a tar archive or STDIN`, 1);
  const quiet = flagBool(args, 'quiet');
  const client = ctx.connect(connectionFlags(ctx.connection, args));
  const input = flagString(args, 'input');
  if (input !== undefined && input !== '-') return importImage(ctx, client, input, undefined, { quiet });
  if (process.stdin.isTTY) throw new CliError('requested load from stdin, but stdin is empty', 1);
  const spool = fs.mkdtempSync(path.join(os.tmpdir(), 'capstan-load-'));
  try {
    const file = path.join(spool, 'archive');
    await pipeline(process.stdin, fs.createWriteStream(file, { mode: 0o600 }));
    if (fs.statSync(file).size === 0) throw new CliError('requested load from stdin, but stdin is empty', 1);
    return await importImage(ctx, client, file, undefined, { quiet });
  } finally {
    fs.rmSync(spool, { recursive: true, force: true });
  }
}

export const loadCommand: Command = {
  name: 'load',
  summary: 'Load an image from a tar archive or STDIN',
  usage: 'load [OPTIONS]',
  flags: LOAD_FLAGS,
  run: (ctx, args) => runLoad(ctx, args),
};
