/**
 * `capstan inspect [-f FORMAT] CONTAINER...`: docker's inspect JSON (an array, 4-space indent),
 * `-f json` (one compact JSON array), or with -f a Go template per container, executed as
 * docker's cli/command/inspect does:
 * 1. against the typed document, where JSON objects are Go structs (a missing field fails)
 *    except the ones docker's types declare as maps (Labels, Ports, Networks, ...), whose
 *    missing keys are "<no value>";
 * 2. if that fails, against the raw JSON (all maps) with missingkey=error, whose error is the
 *    one reported: `{{.NoSuch}}` gives Go's "map has no entry for key" and exit status 1.
 * A template that does not parse exits 64, as docker's does.
 */
import { flagBool, flagString, type FlagSpec, type ParsedArgs } from '../args';
import type { AgentClient } from '../client';
import { CliError } from '../errors';
import type { GoValue, Template } from '../format/gotemplate';
import { HIDDEN_CONNECTION_FLAGS, connectionFlags } from './common';
import { containerPath } from './run';
import type { Command, CommandContext } from './types';

/** Fields that docker's Go types declare as maps (map[string]T, nat.PortMap, nat.PortSet, ...): a missing key is no error. */
const GO_MAP_FIELDS: ReadonlySet<string> = new Set([
  'Labels',
  'ExposedPorts',
  'Volumes',
  'Ports',
  'Networks',
  'PortBindings',
  'Sysctls',
  'StorageOpt',
  'Tmpfs',
  'Data',
  'Annotations',
  'DriverOpts',
  'Options',
]);

/** Fields of docker's inspect types that are slices: a JSON null is a nil slice, which prints `[]`. */
const GO_SLICE_FIELDS: ReadonlySet<string> = new Set([
  'Args', 'Binds', 'BlkioWeightDevice', 'BlkioDeviceReadBps', 'BlkioDeviceWriteBps', 'BlkioDeviceReadIOps', 'BlkioDeviceWriteIOps',
  'CapAdd', 'CapDrop', 'Cmd', 'Devices', 'DeviceCgroupRules', 'DeviceRequests', 'Dns', 'DnsOptions', 'DnsSearch', 'Entrypoint', 'Env',
  'ExtraHosts', 'GroupAdd', 'Links', 'Mounts', 'SecurityOpt', 'Ulimits', 'VolumesFrom', 'MaskedPaths', 'ReadonlyPaths', 'ConsoleSize',
  'ExecIDs', 'OnBuild', 'Shell', 'Aliases', 'SecondaryIPAddresses', 'SecondaryIPv6Addresses', 'RepoTags', 'RepoDigests', 'Layers',
]);

/** container.Config's fields that docker's JSON leaves out when unset (omitempty), at their Go zero values. */
const CONFIG_OMITTED: Readonly<Record<string, unknown>> = {
  ExposedPorts: null,
  Healthcheck: null,
  ArgsEscaped: false,
  NetworkDisabled: false,
  MacAddress: '',
  StopSignal: '',
  StopTimeout: null,
  Shell: null,
};

/**
 * JSON keys whose Go field is spelled differently (ContainerJSON.ID is "Id", Resources.NanoCPUs
 * is "NanoCpus"): the typed pass knows them only under the Go name, so a template naming the
 * JSON spelling fails there and docker runs it on the raw JSON. Undefined: no field under
 * either spelling that capstan knows.
 */
const GO_FIELD_NAMES: Readonly<Record<string, string | undefined>> = {
  Id: 'ID',
  CpuShares: 'CPUShares',
  NanoCpus: 'NanoCPUs',
  CpuPeriod: 'CPUPeriod',
  CpuQuota: 'CPUQuota',
  CpuRealtimePeriod: 'CPURealtimePeriod',
  CpuRealtimeRuntime: 'CPURealtimeRuntime',
  CpuCount: 'CPUCount',
  CpuPercent: 'CPUPercent',
  HostIp: 'HostIP',
  IOMaximumIOps: undefined,
  IOMaximumBandwidth: undefined,
};

const isGoMap = (key: string, parentKey: string): boolean => GO_MAP_FIELDS.has(key) || (key === 'Config' && parentKey === 'LogConfig');

/** The template engine, loaded only when -f gives a template: plain `inspect` starts faster without it. */
const engine = (): typeof import('../format/gotemplate') => require('../format/gotemplate') as typeof import('../format/gotemplate');

/**
 * One inspect document as docker's typed value: objects are structs (fields under their Go
 * names), except Go maps; a null is a nil slice (`[]`), a nil map (`map[]`) or a nil pointer
 * (`<nil>`) by its field's type; blkiodev's throttle and weight devices print as Path:Rate.
 */
function typedDocument(value: unknown): GoValue {
  const { fromJson, nilMap, nilSlice } = engine();
  return fromJson(value, {
    structType: (key, parentKey) => (isGoMap(key, parentKey) ? undefined : `types.${key || 'ContainerJSON'}`),
    nullValue: (key, parentKey) => {
      if (GO_SLICE_FIELDS.has(key) || parentKey === 'Ports' || parentKey === 'PortBindings') return nilSlice('[]interface {}');
      if (GO_MAP_FIELDS.has(key)) return nilMap();
      return null;
    },
    fieldName: (key) => (key in GO_FIELD_NAMES ? GO_FIELD_NAMES[key] : key),
    stringer: (record) => {
      const keys = Object.keys(record);
      if (keys.length === 2 && keys[0] === 'Path' && (keys[1] === 'Rate' || keys[1] === 'Weight')) return `${String(record['Path'])}:${String(record[keys[1]])}`;
      return undefined;
    },
  });
}

/**
 * Fields docker's JSON leaves out when unset (omitempty) but its Go types have: a container's
 * SizeRw/SizeRootFs without -s, State.Health without a healthcheck (nil pointers, "<nil>"), and
 * Config's ExposedPorts, StopSignal, ... at their zero values. The typed pass sees them as docker's does.
 */
function withOmittedFields(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value;
  const document = value as Record<string, unknown>;
  const withOmitted = (key: string, fields: Readonly<Record<string, unknown>>): Record<string, unknown> => {
    const object = document[key];
    return typeof object === 'object' && object !== null && !Array.isArray(object) ? { [key]: { ...fields, ...object } } : {};
  };
  const isContainer = 'State' in document;
  return {
    ...document,
    ...(isContainer && !('SizeRw' in document) ? { SizeRw: null, SizeRootFs: null } : {}),
    ...(isContainer ? withOmitted('State', { Health: null }) : {}),
    ...withOmitted('Config', CONFIG_OMITTED),
    ...withOmitted('ContainerConfig', CONFIG_OMITTED),
  };
}

export interface InspectFormatter {
  /** The document's line, or throws CliError with docker's "template parsing error: ..." text. */
  format(value: unknown): string;
}

/** Compiles -f. Throws CliError (exit 64) for a template that does not parse. */
export function inspectFormatter(format: string): InspectFormatter {
  const { TemplateError, executeTemplate, fromJson, parseTemplate } = engine();
  let template: Template;
  try {
    template = parseTemplate(format);
  } catch (error) {
    if (error instanceof TemplateError) throw new CliError(`template parsing error: ${error.message}`, 64);
    throw error;
  }
  return {
    format(value) {
      try {
        return executeTemplate(template, typedDocument(withOmittedFields(value)));
      } catch (error) {
        if (!(error instanceof TemplateError)) throw error;
      }
      try {
        return executeTemplate(template, fromJson(value), { missingKey: 'error' });
      } catch (error) {
        if (error instanceof TemplateError) throw new CliError(`template parsing error: ${error.message}`, 1);
        throw error;
      }
    },
  };
}

/** One document through -f (a convenience for tests and single documents). */
export function applyInspectFormat(format: string, value: unknown): string {
  return inspectFormatter(format).format(value);
}

/** What --type takes; "" is every kind, looked up in docker's order (container, then image, then volume). */
export type InspectType = '' | 'container' | 'image' | 'volume';

const NOT_FOUND_WORDS: Record<InspectType, string> = { '': 'object', container: 'container', image: 'image', volume: 'volume' };

/** The agent's path of one object of a kind. */
function objectPath(kind: Exclude<InspectType, ''>, reference: string, size: boolean): string {
  if (kind === 'container') return `${containerPath(reference)}/json${size ? '?size=1' : ''}`;
  return `/api/v1/${kind}s/${encodeURIComponent(reference)}${kind === 'image' ? '/json' : ''}`;
}

/** One object by reference, or undefined when no object of the kinds asked for has it. */
async function lookUp(client: AgentClient, type: InspectType, reference: string, size: boolean): Promise<unknown> {
  const kinds: Array<Exclude<InspectType, ''>> = type === '' ? ['container', 'image', 'volume'] : [type];
  for (const kind of kinds) {
    try {
      return await client.call('GET', objectPath(kind, reference, size));
    } catch (error) {
      // A 404 of any kind (also an agent without volumes) is "not this kind": try the next.
      if (!(error instanceof CliError) || !(error.apiCode?.startsWith('no_such_') || error.apiCode === 'not_found')) throw error;
    }
  }
  return undefined;
}

/** docker's inspect over the objects named: -f, --type, -s. Shared by `inspect` and `image inspect`. */
export async function runInspectOf(ctx: CommandContext, args: ParsedArgs, type: InspectType, usageName: string): Promise<number> {
  if (args.positionals.length === 0) throw new CliError(`"capstan ${usageName}" requires at least 1 argument.\nSee 'capstan ${usageName} --help'.`, 1);
  const format = flagString(args, 'format');
  // docker parses the template before it looks anything up.
  const formatter = format !== undefined && format !== '' && format !== 'json' ? inspectFormatter(format) : undefined;
  const client = ctx.connect(connectionFlags(ctx.connection, args));
  const size = flagBool(args, 'size');
  const found: unknown[] = [];
  let failed = false;
  for (const reference of args.positionals) {
    const value = await lookUp(client, type, reference, size);
    if (value === undefined) {
      ctx.stderr.write(`Error: No such ${NOT_FOUND_WORDS[type]}: ${reference}\n`);
      failed = true;
    } else {
      found.push(value);
    }
  }
  if (format === 'json') {
    ctx.stdout.write(`${JSON.stringify(found)}\n`);
  } else if (formatter !== undefined) {
    const errors: string[] = [];
    let out = '';
    for (const value of found) {
      try {
        out += `${formatter.format(value)}\n`;
      } catch (error) {
        if (!(error instanceof CliError)) throw error;
        errors.push(error.message);
      }
    }
    // docker writes a lone newline when no document produced output.
    ctx.stdout.write(out === '' ? '\n' : out);
    for (const message of errors) ctx.stderr.write(`${message}\n`);
    if (errors.length > 0) failed = true;
  } else {
    ctx.stdout.write(`${JSON.stringify(found, null, 4)}\n`);
  }
  return failed ? 1 : 0;
}

function inspectType(args: ParsedArgs): InspectType {
  const type = flagString(args, 'type') ?? '';
  if (type === '' || type === 'container' || type === 'image' || type === 'volume') return type;
  throw new CliError(`${JSON.stringify(type)} is not a valid value for --type`, 1);
}

export const INSPECT_FORMAT_FLAG: FlagSpec = { name: 'format', short: 'f', kind: 'string', description: "Format output using a custom template:\n'json':             Print in JSON format\n'TEMPLATE':         Print output using the given Go template" };

export const inspectCommand: Command = {
  name: 'inspect',
  summary: 'Return low-level information on capstan objects (containers, images)',
  usage: 'inspect [OPTIONS] NAME|ID [NAME|ID...]',
  flags: [
    INSPECT_FORMAT_FLAG,
    { name: 'size', short: 's', kind: 'bool', description: 'Display total file sizes if the type is container' },
    { name: 'type', kind: 'string', description: 'Return JSON for specified type (container, image or volume)' },
    ...HIDDEN_CONNECTION_FLAGS,
  ],
  run: (ctx, args) => runInspectOf(ctx, args, inspectType(args), 'inspect'),
};
