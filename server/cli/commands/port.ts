/**
 * `capstan port CONTAINER [PRIVATE_PORT[/PROTO]]`: the published ports, like docker port:
 * "80/tcp -> 127.0.0.1:8080", or only "127.0.0.1:8080" for one port.
 */
import type { ParsedArgs } from '../args';
import { CliError, clientLookupFailure } from '../errors';
import { HIDDEN_CONNECTION_FLAGS, connectionFlags } from './common';
import { containerPath } from './run';
import type { Command, CommandContext } from './types';

type PortMap = Record<string, Array<{ HostIp: string; HostPort: string }> | null>;

function hostAddress(binding: { HostIp: string; HostPort: string }): string {
  const ip = binding.HostIp.includes(':') ? `[${binding.HostIp}]` : binding.HostIp || '0.0.0.0';
  return `${ip}:${binding.HostPort}`;
}

/** "80/tcp" keys in natural order (by number, then protocol). */
function byPort(a: string, b: string): number {
  const [portA = '', protoA = ''] = a.split('/');
  const [portB = '', protoB = ''] = b.split('/');
  return Number(portA) - Number(portB) || (protoA < protoB ? -1 : protoA > protoB ? 1 : 0);
}

export function formatPorts(ports: PortMap, container: string, wanted?: string): string {
  if (wanted !== undefined) {
    const key = wanted.includes('/') ? wanted : `${wanted}/tcp`;
    const bindings = ports[key];
    if (!bindings || bindings.length === 0) throw new CliError(`Error: No public port '${key}' published for ${container}`, 1);
    return bindings.map((binding) => `${hostAddress(binding)}\n`).join('');
  }
  const lines: string[] = [];
  for (const key of Object.keys(ports).sort(byPort)) {
    for (const binding of ports[key] ?? []) lines.push(`${key} -> ${hostAddress(binding)}\n`);
  }
  return lines.join('');
}

async function runPort(ctx: CommandContext, args: ParsedArgs): Promise<number> {
  const [reference, wanted, ...extra] = args.positionals;
  if (reference === undefined || extra.length > 0) throw new CliError(`"capstan port" requires at least 1 and at most 2 arguments.\nSee 'capstan port --help'.`, 1);
  const client = ctx.connect(connectionFlags(ctx.connection, args));
  let inspect: { NetworkSettings?: { Ports?: PortMap } };
  try {
    inspect = (await client.call('GET', `${containerPath(reference)}/json`)) as typeof inspect;
  } catch (error) {
    throw clientLookupFailure(error, reference);
  }
  ctx.stdout.write(formatPorts(inspect.NetworkSettings?.Ports ?? {}, reference, wanted));
  return 0;
}

export const portCommand: Command = {
  name: 'port',
  summary: 'List port mappings or a specific mapping for the container',
  usage: 'port CONTAINER [PRIVATE_PORT[/PROTO]]',
  flags: HIDDEN_CONNECTION_FLAGS,
  run: (ctx, args) => runPort(ctx, args),
};
