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

/** Go's fmt.Print of a value decoded from JSON into interface{} (json.Number kept as text). */
function rawPrint(value: unknown): string {
  if (value === undefined || value === null) return '<nil>';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return `[${value.map(rawPrint).join(' ')}]`;
  const object = value as Record<string, unknown>;
  return `map[${Object.keys(object).sort().map((key) => `${key}:${rawPrint(object[key])}`).join(' ')}]`;
}

/**
 * JSON keys whose Go field is spelled differently (NanoCpus is Resources.NanoCPUs, Id is
 * ContainerJSON.ID): a template naming one fails on docker's typed value.
 */
const RENAMED_IN_GO = new Set([
  'Id', 'CpuShares', 'NanoCpus', 'CpuPeriod', 'CpuQuota', 'CpuRealtimePeriod', 'CpuRealtimeRuntime', 'CpuCount', 'CpuPercent', 'HostIp', 'IOMaximumIOps', 'IOMaximumBandwidth',
]);

/**
 * docker's CLI runs a -f template on its typed value first and, when that fails (a field its Go
 * type does not have, under that spelling), runs the whole template again on the raw JSON
 * (cli/command/inspect TemplateInspector). The raw pass prints differently: a null field is
 * `<no value>`, a struct `map[k:v]`. So `{{.HostConfig.RestartPolicy}}` prints `{no 0}`, but
 * `{{.HostConfig.CpuShares}} {{.HostConfig.RestartPolicy}}` prints `0 map[MaximumRetryCount:0 Name:no]`.
 */
function typedPassFails(fieldPaths: readonly string[], value: unknown): boolean {
  return fieldPaths.some((fieldPath) => {
    if (fieldPath === '.') return false;
    const keys = fieldPath.slice(1).split('.');
    if (keys.some((key) => RENAMED_IN_GO.has(key))) return true;
    // A field the type lacks; a map (Labels) just has no such key, which is no error.
    const parent = lookup(value, fieldPath.slice(0, fieldPath.lastIndexOf('.')) || '.');
    const parentKey = keys.length > 1 ? keys[keys.length - 2]! : '';
    return lookup(value, fieldPath) === undefined && !MAP_FIELDS.has(parentKey) && parent !== undefined;
  });
}

/** Expands `{{.Path}}` and `{{json .Path}}` actions; anything else is an error, as Go's parser would say. */
export function applyInspectFormat(format: string, value: unknown): string {
  const actions = /\{\{-?\s*(.*?)\s*-?\}\}/g;
  const fieldPaths: string[] = [];
  for (const [, action] of format.matchAll(actions)) {
    const json = /^json\s+(\.[A-Za-z0-9_.]*)$/.exec(action!);
    if (json) fieldPaths.push(json[1]!);
    else if (/^\.[A-Za-z0-9_.]*$/.test(action!)) fieldPaths.push(action!);
    else throw new CliError(`template parsing error: capstan supports {{.Field.Path}} and {{json .Field.Path}}, not {{${action}}}`, 1);
  }
  const raw = typedPassFails(fieldPaths, value);
  return format.replace(actions, (_whole, action: string) => {
    const json = /^json\s+(\.[A-Za-z0-9_.]*)$/.exec(action);
    if (json) return JSON.stringify(lookup(value, json[1]!) ?? null);
    const found = lookup(value, action);
    if (raw) return found === undefined || found === null ? '<no value>' : rawPrint(found);
    return goPrint(found, action.slice(action.lastIndexOf('.') + 1));
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
