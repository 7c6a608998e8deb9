#!/usr/bin/env -S CAPSTAN_EXTRA_CA_CERTS=${NODE_EXTRA_CA_CERTS} NODE_EXTRA_CA_CERTS= node
/**
 * The `capstan` command: global flags, help, version, and dispatch to the subcommand table in
 * commands/index.ts. Exit status as docker's CLI (Engine 20.10, measured): 0 success; 125 a flag
 * the parser refused (unknown flag, missing or bad value), with docker's "See 'capstan X --help'.";
 * 1 the wrong number of arguments, an unknown command, or a refusal of the agent; `run`, `start -a`,
 * `exec` and `wait` pass the container's own code on (run: 126 not executable, 127 not found).
 *
 * The #! line: with NODE_EXTRA_CA_CERTS set, Node parses that whole CA bundle before running any
 * JavaScript (about 55 ms on the machines this was measured on, more than half of `capstan run`),
 * though the CLI speaks plain HTTP to its agent. The line hands the setting on as
 * CAPSTAN_EXTRA_CA_CERTS instead: restoreExtraCaCerts() puts it back for child processes, and
 * http.ts adds the file's certificates to an https request itself. (`env -S`: GNU coreutils 8.30+.)
 *
 * runCli() does all the work against injected streams so tests can drive it; the bottom of the
 * file wires it to the real process.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UsageError, flagBool, formatFlagHelp, parseArgs, type FlagSpec, type ParsedArgs } from './args';
import { AgentClient, resolveEndpoint, type ConnectionFlags } from './client';
import { allCommands, findCommand } from './commands';
import { CONNECTION_FLAGS, connectionFlags } from './commands/common';
import type { Command, CommandContext, OutputStream } from './commands/types';
import { CliError } from './errors';

const HELP_FLAG: FlagSpec = { name: 'help', short: 'h', kind: 'bool', description: 'Print usage' };
const GLOBAL_FLAGS: readonly FlagSpec[] = [
  ...CONNECTION_FLAGS,
  HELP_FLAG,
  { name: 'version', short: 'v', kind: 'bool', description: 'Print version information and quit' },
];

export interface CliDeps {
  stdout: OutputStream;
  stderr: OutputStream;
  env: Readonly<Record<string, string | undefined>>;
  now(): number;
  /** Builds the agent client; defaults to resolving the endpoint from flags, env and state dir. */
  connect(flags: ConnectionFlags, env: Readonly<Record<string, string | undefined>>): AgentClient;
  /** Registers a Ctrl-C handler for commands that stream; returns a function that removes it. */
  onInterrupt(handler: () => void): () => void;
  /** SIGINT and SIGTERM for attached sessions (CommandContext.onSignal); default: this process's. */
  onSignal?(handler: (signal: 'SIGINT' | 'SIGTERM') => void): () => void;
  timing: { pollMs: number; redrawMs: number };
}

export interface CliResult {
  code: number;
  /** The command left servers running: let the event loop decide when the process ends. */
  longRunning: boolean;
}

/** The version in package.json, found by walking up from this file (source or build tree). */
export function capstanVersion(startDir: string = __dirname): string {
  for (let dir = startDir; ; dir = path.dirname(dir)) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'capstan' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // no package.json here: keep walking up
    }
    if (path.dirname(dir) === dir) return 'unknown';
  }
}

export function mainHelp(): string {
  const commands = allCommands();
  const width = Math.max(...commands.map((c) => c.name.length)) + 3;
  return [
    'Usage:  capstan [OPTIONS] COMMAND',
    '',
    'Container resource monitor and cgroup control plane for one Linux host',
    '',
    'Options:',
    formatFlagHelp(GLOBAL_FLAGS),
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}${c.summary}`),
    '',
    "Run 'capstan COMMAND --help' for more information on a command.",
    '',
  ].join('\n');
}

export function commandHelp(command: Command): string {
  const options = formatFlagHelp([...command.flags, HELP_FLAG]);
  return [`Usage:  capstan ${command.usage}`, '', command.summary, '', 'Options:', options, ''].join('\n');
}

/** Exit status of a flag the parser refused: docker's cli.StatusError{StatusCode: 125}. */
const FLAG_ERROR_EXIT = 125;

/**
 * docker's words for a command-line mistake. A refused flag: the message and "See 'capstan run
 * --help'." (exit 125). The wrong number of arguments: the same, then the usage line and summary
 * (exit 1).
 */
export function usageFailureText(error: UsageError, command?: Command): { text: string; code: number } {
  const see = `See '${command ? `capstan ${command.name}` : 'capstan'} --help'.`;
  const message = error.message.includes('\nSee ') ? error.message : `${error.message}\n${see}`;
  if (error.kind === 'flag') return { text: `${message}\n`, code: FLAG_ERROR_EXIT };
  const usage = command ? `\n\nUsage:  capstan ${command.usage}\n\n${command.summary}` : '';
  return { text: `${message}${usage}\n`, code: 1 };
}

function usageFailure(deps: CliDeps, error: UsageError, command?: Command): CliResult {
  const { text, code } = usageFailureText(error, command);
  deps.stderr.write(text);
  return { code, longRunning: false };
}

export async function runCli(argv: readonly string[], deps: CliDeps): Promise<CliResult> {
  let global: ParsedArgs;
  try {
    global = parseArgs(argv, GLOBAL_FLAGS, { stopAtFirstPositional: true });
  } catch (err) {
    if (err instanceof UsageError) return usageFailure(deps, err);
    throw err;
  }
  if (flagBool(global, 'version')) {
    deps.stdout.write(`capstan version ${capstanVersion()}\n`);
    return { code: 0, longRunning: false };
  }
  const [name, ...rest] = global.positionals;
  if (name === undefined || flagBool(global, 'help') || name === 'help') {
    const topic = name === 'help' && rest[0] !== undefined ? findCommand(rest[0]) : undefined;
    deps.stdout.write(topic ? commandHelp(topic) : mainHelp());
    return { code: 0, longRunning: false };
  }
  const command = findCommand(name);
  if (!command) {
    deps.stderr.write(`capstan: '${name}' is not a capstan command.\nSee 'capstan --help'\n`);
    return { code: 1, longRunning: false };
  }

  const controller = new AbortController();
  const connection = connectionFlags({}, global);
  const ctx: CommandContext = {
    stdout: deps.stdout,
    stderr: deps.stderr,
    env: deps.env,
    connection,
    signal: controller.signal,
    now: deps.now,
    connect: (flags) => deps.connect(flags, deps.env),
    onSignal: deps.onSignal ?? processSignals,
    timing: deps.timing,
  };

  let args: ParsedArgs;
  let rawArgv: readonly string[] = rest;
  if (command.rawArgs) {
    // Only the state directory means something to the agent; pass it on rather than drop it.
    if (connection.host !== undefined || connection.token !== undefined) {
      return usageFailure(deps, new UsageError(`--host and --token select an agent to talk to; they do not apply to 'capstan ${command.name}'`), command);
    }
    if (connection.stateDir !== undefined) rawArgv = ['--state-dir', connection.stateDir, ...rest];
    args = { flags: new Map(), positionals: [...rest] };
  } else {
    try {
      args = parseArgs(rest, [...command.flags, HELP_FLAG], { stopAtFirstPositional: command.flagsEndAtFirstArgument === true });
    } catch (err) {
      if (err instanceof UsageError) return usageFailure(deps, err, command);
      throw err;
    }
    if (flagBool(args, 'help')) {
      deps.stdout.write(commandHelp(command));
      return { code: 0, longRunning: false };
    }
  }

  const removeInterrupt = command.handlesInterrupt ? deps.onInterrupt(() => controller.abort()) : () => {};
  try {
    const code = await command.run(ctx, args, rawArgv);
    return { code, longRunning: command.longRunning === true };
  } catch (err) {
    if (err instanceof CliError) {
      deps.stderr.write(err.message + '\n');
      return { code: err.exitCode, longRunning: false };
    }
    if (err instanceof UsageError) return usageFailure(deps, err, command);
    throw err;
  } finally {
    removeInterrupt();
  }
}

/** This process's SIGINT and SIGTERM, while a handler is registered. */
function processSignals(handler: (signal: 'SIGINT' | 'SIGTERM') => void): () => void {
  const onInt = (): void => handler('SIGINT');
  const onTerm = (): void => handler('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  return () => {
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
  };
}

/** The real process: stdout/stderr, environment, SIGINT, the agent found on this host. */
export function processDeps(): CliDeps {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    now: () => Date.now(),
    connect: (flags, env) => new AgentClient(resolveEndpoint(flags, { env, readFile: (f) => fs.readFileSync(f, 'utf8') })),
    onInterrupt: (handler) => {
      process.on('SIGINT', handler);
      return () => process.off('SIGINT', handler);
    },
    timing: { pollMs: 1000, redrawMs: 500 },
  };
}

function exitWhenFlushed(code: number): void {
  // Both writes complete (or fail) before the process ends, so piped output is never cut short.
  process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
}

/** Undoes the #! line's swap, so processes the CLI starts (the agent's) see the user's environment. */
export function restoreExtraCaCerts(env: NodeJS.ProcessEnv): void {
  const kept = env['CAPSTAN_EXTRA_CA_CERTS'];
  delete env['CAPSTAN_EXTRA_CA_CERTS'];
  if (env['NODE_EXTRA_CA_CERTS'] !== '') return;
  if (kept) env['NODE_EXTRA_CA_CERTS'] = kept;
  else delete env['NODE_EXTRA_CA_CERTS'];
}

/** What the `capstan` program does: wires runCli to this process and exits when it is done. */
export function runFromProcess(): void {
  restoreExtraCaCerts(process.env);
  // `capstan stats | head -1` closes the pipe early; that is a normal way to stop, not a crash.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
  runCli(process.argv.slice(2), processDeps()).then(
    ({ code, longRunning }) => {
      if (longRunning) process.exitCode = code;
      else exitWhenFlushed(code);
    },
    (err: unknown) => {
      const debug = process.env.CAPSTAN_DEBUG !== undefined && process.env.CAPSTAN_DEBUG !== '';
      process.stderr.write(`capstan: ${debug && err instanceof Error ? err.stack : err instanceof Error ? err.message : String(err)}\n`);
      exitWhenFlushed(1);
    },
  );
}

if (require.main === module) runFromProcess();
