/**
 * `capstan info [--format TEMPLATE|json]`: docker info's fields that capstan has (its own
 * containers by state, images, storage and cgroup driver, kernel, OS, CPUs, memory, the agent's
 * version and state directory as DockerRootDir), from the agent's GET /api/v1/info.
 */
import { flagString, type ParsedArgs } from '../args';
import { CliError } from '../errors';
import { bytesSize } from '../format/units';
import { HIDDEN_CONNECTION_FLAGS, connectionFlags } from './common';
import { formatSystemDocument, writeSystemFormat } from './system-format';
import type { Command, CommandContext } from './types';

/** docker info's text layout, for the fields capstan has. Pure. */
export function infoText(info: Record<string, unknown>): string {
  const get = (key: string): string => String(info[key] ?? '');
  return [
    'Server:',
    ` Containers: ${get('Containers')}`,
    `  Running: ${get('ContainersRunning')}`,
    `  Paused: ${get('ContainersPaused')}`,
    `  Stopped: ${get('ContainersStopped')}`,
    ` Images: ${get('Images')}`,
    ` Server Version: ${get('ServerVersion')}`,
    ` Storage Driver: ${get('Driver')}`,
    ` Logging Driver: ${get('LoggingDriver')}`,
    ` Cgroup Driver: ${get('CgroupDriver')}`,
    ` Cgroup Version: ${get('CgroupVersion')}`,
    ` Kernel Version: ${get('KernelVersion')}`,
    ` Operating System: ${get('OperatingSystem')}`,
    ` OSType: ${get('OSType')}`,
    ` Architecture: ${get('Architecture')}`,
    ` CPUs: ${get('NCPU')}`,
    ` Total Memory: ${typeof info['MemTotal'] === 'number' ? bytesSize(info['MemTotal']) : ''}`,
    ` Name: ${get('Name')}`,
    ` ID: ${get('ID')}`,
    ` Docker Root Dir: ${get('DockerRootDir')}`,
    ` Live Restore Enabled: ${get('LiveRestoreEnabled')}`,
    '',
  ].join('\n');
}

async function runInfo(ctx: CommandContext, args: ParsedArgs): Promise<number> {
  if (args.positionals.length > 0) throw new CliError(`"capstan info" accepts no arguments.\nSee 'capstan info --help'.\n\nUsage:  capstan info [OPTIONS]\n\nDisplay system-wide information`, 1);
  const format = flagString(args, 'format');
  const info = (await ctx.connect(connectionFlags(ctx.connection, args)).getJson('/api/v1/info')) as Record<string, unknown>;
  if (format !== undefined && format !== '') {
    // docker's info is a struct (system.info); Labels and the like are lists, not maps.
    writeSystemFormat(ctx, () => formatSystemDocument(format, info, '', { structType: (key) => (key === '' ? 'system.info' : `types.${key}`) }));
  } else {
    ctx.stdout.write(infoText(info));
  }
  return 0;
}

export const infoCommand: Command = {
  name: 'info',
  summary: 'Display system-wide information',
  usage: 'info [OPTIONS]',
  flags: [{ name: 'format', short: 'f', kind: 'string', description: 'Format the output using the given Go template (or json)' }, ...HIDDEN_CONNECTION_FLAGS],
  run: (ctx, args) => runInfo(ctx, args),
};
