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

/**
 * Fields of docker's inspect types that are slices (a JSON null prints `[]` in a template, as a
 * nil slice does in Go) or maps (`map[k:v]`, keys sorted); any other null is a nil pointer
 * (`<nil>`) and any other object a struct (`{v1 v2}`, its fields in order).
 */
const SLICE_FIELDS = new Set([
  'Args', 'Binds', 'BlkioWeightDevice', 'BlkioDeviceReadBps', 'BlkioDeviceWriteBps', 'BlkioDeviceReadIOps', 'BlkioDeviceWriteIOps',
  'CapAdd', 'CapDrop', 'Cmd', 'Devices', 'DeviceCgroupRules', 'DeviceRequests', 'Dns', 'DnsOptions', 'DnsSearch', 'Entrypoint', 'Env',
  'ExtraHosts', 'GroupAdd', 'Links', 'Mounts', 'SecurityOpt', 'Ulimits', 'VolumesFrom', 'MaskedPaths', 'ReadonlyPaths', 'ConsoleSize',
]);
const MAP_FIELDS = new Set(['Labels', 'PortBindings', 'ExposedPorts', 'Ports', 'Volumes', 'Data', 'Options', 'Networks', 'Sysctls', 'Tmpfs', 'StorageOpt', 'Annotations']);

/** Go's fmt.Print of a decoded inspect value, as `docker inspect -f '{{.Field}}'` prints it. */
function goPrint(value: unknown, field: string): string {
  if (value === undefined) return '<no value>';
  if (value === null) {
    if (SLICE_FIELDS.has(field)) return '[]';
    return MAP_FIELDS.has(field) ? 'map[]' : '<nil>';
  }
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return `[${value.map((item) => goPrint(item, '')).join(' ')}]`;
  const object = value as Record<string, unknown>;
  const keys = Object.keys(object);
  // blkiodev.ThrottleDevice and WeightDevice have String(): "Path:Rate", "Path:Weight".
  if (keys.length === 2 && keys[0] === 'Path' && (keys[1] === 'Rate' || keys[1] === 'Weight')) return `${String(object['Path'])}:${String(object[keys[1]])}`;
  if (MAP_FIELDS.has(field)) return `map[${[...keys].sort().map((key) => `${key}:${goPrint(object[key], '')}`).join(' ')}]`;
  return `{${keys.map((key) => goPrint(object[key], key)).join(' ')}}`;
}

function show(value: unknown, fieldPath: string): string {
  return goPrint(value, fieldPath.slice(fieldPath.lastIndexOf('.') + 1));
}

/** Expands `{{.Path}}` and `{{json .Path}}` actions; anything else is an error, as Go's parser would say. */
export function applyInspectFormat(format: string, value: unknown): string {
  return format.replace(/\{\{-?\s*(.*?)\s*-?\}\}/g, (_whole, action: string) => {
    const json = /^json\s+(\.[A-Za-z0-9_.]*)$/.exec(action);
    if (json) return JSON.stringify(lookup(value, json[1]!) ?? null);
    if (/^\.[A-Za-z0-9_.]*$/.test(action)) return show(lookup(value, action), action);
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
