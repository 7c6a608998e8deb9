/** `capstan top CONTAINER [ps OPTIONS]`: the container's processes, as the host's ps shows them (default -ef). */
import type { ParsedArgs } from '../args';
import { CliError } from '../errors';
import { tabwrite } from '../format/tabwriter';
import { HIDDEN_CONNECTION_FLAGS, connectionFlags } from './common';
import { containerPath } from './run';
import type { Command, CommandContext } from './types';

/** docker top's table: tabwriter.NewWriter(out, 20, 1, 3, ' ', 0). */
const TOP_TABLE = { minWidth: 20, padding: 3, padChar: ' ' };

export function formatTop(result: { Titles: string[]; Processes: string[][] }): string {
  const lines = [result.Titles.join('\t'), ...result.Processes.map((row) => row.join('\t'))];
  return tabwrite(lines.map((line) => `${line}\n`).join(''), TOP_TABLE);
}

async function runTop(ctx: CommandContext, args: ParsedArgs): Promise<number> {
  const [reference, ...psArgs] = args.positionals;
  if (reference === undefined) throw new CliError(`"capstan top" requires at least 1 argument.\nSee 'capstan top --help'.`, 1);
  const client = ctx.connect(connectionFlags(ctx.connection, args));
  const query = psArgs.length > 0 ? `?ps_args=${encodeURIComponent(psArgs.join(' '))}` : '';
  const result = (await client.call('GET', `${containerPath(reference)}/top${query}`, { timeoutMs: 60_000 })) as { Titles: string[]; Processes: string[][] };
  ctx.stdout.write(formatTop(result));
  return 0;
}

export const topCommand: Command = {
  name: 'top',
  summary: 'Display the running processes of a container',
  usage: 'top CONTAINER [ps OPTIONS]',
  flags: HIDDEN_CONNECTION_FLAGS,
  flagsEndAtFirstArgument: true,
  run: (ctx, args) => runTop(ctx, args),
};
