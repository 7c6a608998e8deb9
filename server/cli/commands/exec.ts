/**
 * `capstan exec [-i] [-t] [-e K=V] [--env-file FILE] [-u USER] [-w DIR] [--detach-keys KEYS] CONTAINER COMMAND [ARG...]`: runs a command
 * in a running container (its namespaces and cgroups) and exits with the command's code.
 */
import { flagBool, flagString, type ParsedArgs } from '../args';
import { CliError, clientLookupFailure } from '../errors';
import { DETACH_KEYS_FLAG, HIDDEN_CONNECTION_FLAGS, connectionFlags } from './common';
import { containerPath, detachKeysOf, environmentOf, runSession, terminalSize, type SessionErrorReport } from './run';
import type { Command, CommandContext } from './types';

/**
 * docker exec (Engine 20.10, measured): a command that cannot be started (missing or not
 * executable: the agent says 126 or 127) exits 126 with the runtime's reason alone; a refusal
 * (paused, not running) is the daemon's answer, exit 1.
 */
const reportExecError: SessionErrorReport = (message, exitCode) =>
  exitCode === 126 || exitCode === 127 ? { text: message, exitCode: 126 } : { text: `Error response from daemon: ${message}`, exitCode: 1 };

async function runExec(ctx: CommandContext, args: ParsedArgs): Promise<number> {
  const [reference, ...cmd] = args.positionals;
  if (reference === undefined || cmd.length === 0) throw new CliError(`"capstan exec" requires at least 2 arguments.\nSee 'capstan exec --help'.`, 1);
  const tty = flagBool(args, 'tty');
  const config: Record<string, unknown> = { cmd, tty, openStdin: flagBool(args, 'interactive') };
  // docker exec tells a bad --env-file or --detach-keys as a plain error, exit 1 (Engine 20.10, measured).
  const env = environmentOf(args, ctx.env, (message) => new CliError(message, 1));
  if (env.length > 0) config['env'] = env;
  const detachKeys = detachKeysOf(args, (message) => new CliError(message, 1));
  const user = flagString(args, 'user');
  if (user !== undefined) config['user'] = user;
  const workdir = flagString(args, 'workdir');
  if (workdir !== undefined) config['workingDir'] = workdir;
  const size = terminalSize();
  if (tty && size) config['consoleSize'] = size;
  const client = ctx.connect(connectionFlags(ctx.connection, args));
  try {
    return await runSession(ctx, client, `${containerPath(reference)}/exec?config=${encodeURIComponent(JSON.stringify(config))}`, {
      tty,
      stdin: config['openStdin'] === true,
      detachKeys,
      reportError: reportExecError,
    });
  } catch (error) {
    throw clientLookupFailure(error, reference);
  }
}

export const execCommand: Command = {
  name: 'exec',
  summary: 'Execute a command in a running container',
  usage: 'exec [OPTIONS] CONTAINER COMMAND [ARG...]',
  flags: [
    { name: 'interactive', short: 'i', kind: 'bool', description: 'Keep STDIN open even if not attached' },
    { name: 'tty', short: 't', kind: 'bool', description: 'Allocate a pseudo-TTY' },
    DETACH_KEYS_FLAG,
    { name: 'env', short: 'e', kind: 'list', description: 'Set environment variables' },
    { name: 'env-file', kind: 'list', description: 'Read in a file of environment variables' },
    { name: 'user', short: 'u', kind: 'string', description: 'Username or UID (format: "<name|uid>[:<group|gid>]")' },
    { name: 'workdir', short: 'w', kind: 'string', description: 'Working directory inside the container' },
    ...HIDDEN_CONNECTION_FLAGS,
  ],
  flagsEndAtFirstArgument: true,
  run: (ctx, args) => runExec(ctx, args),
};
