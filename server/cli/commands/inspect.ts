/**
 * `capstan inspect [-f FORMAT] CONTAINER...`: docker's inspect JSON (an array, 4-space indent), or
 * with -f a Go-template subset per container: `{{.State.Pid}}`, `{{json .NetworkSettings.Ports}}`,
 * `{{.Name}} {{.State.Status}}`.
 */
import { flagString, type ParsedArgs } from '../args';
import { CliError } from '../errors';
import { HIDDEN_CONNECTION_FLAGS, connectionFlags } from './common';
import { containerPath } from './run';
import type { Command, CommandContext } from './types';

function lookup(value: unknown, fieldPath: string): unknown {
  if (fieldPath === '.') return value;
  let current = value;
  for (const key of fieldPath.slice(1).split('.')) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

function show(value: unknown): string {
  if (value === undefined) return '<no value>';
  if (value === null) return '<nil>';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

/** Expands `{{.Path}}` and `{{json .Path}}` actions; anything else is an error, as Go's parser would say. */
export function applyInspectFormat(format: string, value: unknown): string {
  return format.replace(/\{\{-?\s*(.*?)\s*-?\}\}/g, (_whole, action: string) => {
    const json = /^json\s+(\.[A-Za-z0-9_.]*)$/.exec(action);
    if (json) return JSON.stringify(lookup(value, json[1]!) ?? null);
    if (/^\.[A-Za-z0-9_.]*$/.test(action)) return show(lookup(value, action));
    throw new CliError(`template parsing error: capstan supports {{.Field.Path}} and {{json .Field.Path}}, not {{${action}}}`, 1);
  });
}

async function runInspect(ctx: CommandContext, args: ParsedArgs): Promise<number> {
  if (args.positionals.length === 0) throw new CliError(`"capstan inspect" requires at least 1 argument.\nSee 'capstan inspect --help'.`, 1);
  const format = flagString(args, 'format');
  const client = ctx.connect(connectionFlags(ctx.connection, args));
  const found: unknown[] = [];
  let failed = false;
  for (const reference of args.positionals) {
    try {
      found.push(await client.call('GET', `${containerPath(reference)}/json`));
    } catch (error) {
      if (!(error instanceof CliError)) throw error;
      ctx.stderr.write(error.apiCode === 'no_such_container' ? `Error: No such object: ${reference}\n` : `${error.message}\n`);
      failed = true;
    }
  }
  if (format !== undefined) {
    for (const value of found) ctx.stdout.write(`${applyInspectFormat(format, value)}\n`);
  } else {
    ctx.stdout.write(`${JSON.stringify(found, null, 4)}\n`);
  }
  return failed ? 1 : 0;
}

export const inspectCommand: Command = {
  name: 'inspect',
  summary: 'Return low-level information on capstan containers',
  usage: 'inspect [OPTIONS] CONTAINER [CONTAINER...]',
  flags: [{ name: 'format', short: 'f', kind: 'string', description: 'Format output using a Go template subset ({{.State.Pid}}, {{json .Config}})' }, ...HIDDEN_CONNECTION_FLAGS],
  run: (ctx, args) => runInspect(ctx, args),
};
