/**
 * `capstan version [--format TEMPLATE|json]`: docker's Client and Server sections, with capstan's
 * own values (the CLI's and the agent's versions, capstan's API version "1", Node's version where
 * docker shows Go's). Without an agent the Client section is printed, then the error.
 */
import { flagString, type ParsedArgs } from '../args';
import { CliError } from '../errors';
import { capstanVersion } from '../main';
import { thisPlatform } from '../../runtime/images/formats';
import { HIDDEN_CONNECTION_FLAGS, connectionFlags } from './common';
import { formatSystemDocument, writeSystemFormat } from './system-format';
import type { Command, CommandContext } from './types';

/** The API version this CLI speaks (its paths are /api/v1). */
const CLIENT_API_VERSION = '1';

export function clientVersion(): Record<string, unknown> {
  const platform = thisPlatform();
  return {
    Platform: { Name: 'capstan' },
    Version: capstanVersion(),
    ApiVersion: CLIENT_API_VERSION,
    DefaultAPIVersion: CLIENT_API_VERSION,
    GitCommit: '',
    GoVersion: '',
    NodeVersion: process.versions.node,
    Os: platform.os,
    Arch: platform.architecture,
    BuildTime: '',
    Context: 'default',
    Experimental: false,
  };
}

const line = (label: string, value: unknown, indent: string, width: number): string => `${indent}${`${label}:`.padEnd(width)}${String(value ?? '')}\n`;

/** docker version's text layout. Pure. */
export function versionText(client: Record<string, unknown>, server: Record<string, unknown> | undefined): string {
  let text = 'Client:\n';
  text += line('Version', client['Version'], ' ', 19);
  text += line('API version', client['ApiVersion'], ' ', 19);
  text += line('Node version', client['NodeVersion'], ' ', 19);
  text += line('OS/Arch', `${String(client['Os'])}/${String(client['Arch'])}`, ' ', 19);
  text += line('Context', client['Context'], ' ', 19);
  if (server === undefined) return text;
  text += '\nServer:\n';
  for (const component of (server['Components'] as Array<{ Name: string; Version: string; Details?: Record<string, string> }> | undefined) ?? []) {
    text += ` ${component.Name}:\n`;
    text += line('Version', component.Version, '  ', 18);
    const details = component.Details ?? {};
    text += line('API version', `${details['ApiVersion'] ?? ''} (minimum version ${details['MinAPIVersion'] ?? ''})`, '  ', 18);
    text += line('Node version', details['NodeVersion'], '  ', 18);
    text += line('OS/Arch', `${details['Os'] ?? ''}/${details['Arch'] ?? ''}`, '  ', 18);
    text += line('Kernel', details['KernelVersion'], '  ', 18);
  }
  return text;
}

/** JSON keys whose Go field is spelled otherwise (docker's `{{.Client.APIVersion}}`). */
const GO_FIELD_NAMES: Readonly<Record<string, string>> = { ApiVersion: 'APIVersion', DefaultAPIVersion: 'DefaultAPIVersion', MinAPIVersion: 'MinAPIVersion' };

/** docker's Go types of the version document (Details is a map[string]string). */
function versionStructType(key: string): string | undefined {
  const types: Record<string, string | undefined> = { '': 'system.versionInfo', Client: 'system.clientVersion', Server: 'types.Version', Components: 'types.ComponentVersion', Platform: 'struct { Name string }', Details: undefined };
  return key in types ? types[key] : `types.${key}`;
}

async function runVersion(ctx: CommandContext, args: ParsedArgs): Promise<number> {
  if (args.positionals.length > 0) throw new CliError(`"capstan version" accepts no arguments.\nSee 'capstan version --help'.\n\nUsage:  capstan version [OPTIONS]\n\nShow the capstan version information`, 1);
  const format = flagString(args, 'format');
  const client = clientVersion();
  let server: Record<string, unknown> | undefined;
  let unreachable: unknown;
  try {
    server = (await ctx.connect(connectionFlags(ctx.connection, args)).getJson('/api/v1/version')) as Record<string, unknown>;
  } catch (error) {
    unreachable = error;
  }
  if (format !== undefined && format !== '') {
    const document = { Client: client, Server: server ?? null };
    writeSystemFormat(ctx, () => formatSystemDocument(format, document, 'version', { structType: versionStructType, fieldName: (key) => GO_FIELD_NAMES[key] ?? key }));
  } else {
    ctx.stdout.write(versionText(client, server));
  }
  if (unreachable !== undefined) throw unreachable;
  return 0;
}

export const versionCommand: Command = {
  name: 'version',
  summary: 'Show the capstan version information',
  usage: 'version [OPTIONS]',
  flags: [{ name: 'format', short: 'f', kind: 'string', description: 'Format the output using the given Go template (or json)' }, ...HIDDEN_CONNECTION_FLAGS],
  run: (ctx, args) => runVersion(ctx, args),
};

