/**
 * What a `capstan` subcommand is. Each lives in its own file under commands/ and is listed once
 * in commands/index.ts; main.ts does the rest (flag parsing, help, errors, exit status).
 */
import type { FlagSpec, ParsedArgs } from '../args';
import type { AgentClient, ConnectionFlags } from '../client';

/** Where output goes; a subset of a Node stream so tests can capture it. */
export interface OutputStream {
  write(text: string): unknown;
  /** True when the stream is a terminal (enables redrawing in place). */
  isTTY?: boolean;
}

export interface CommandContext {
  stdout: OutputStream;
  stderr: OutputStream;
  env: Readonly<Record<string, string | undefined>>;
  /** Connection flags given before the command name (`capstan --host URL stats`). */
  connection: ConnectionFlags;
  /** Aborted when the user presses Ctrl-C (only for commands with handlesInterrupt). */
  signal: AbortSignal;
  /**
   * Registers a handler for SIGINT and SIGTERM sent to the CLI while it is attached to a container
   * (run and start -a pass them on, as docker's --sig-proxy); returns its remover.
   */
  onSignal(handler: (signal: 'SIGINT' | 'SIGTERM') => void): () => void;
  /** Wall clock. Units: milliseconds since the Unix epoch. */
  now(): number;
  /** Builds the agent client from the merged connection flags (tests inject a fake agent). */
  connect(flags: ConnectionFlags): AgentClient;
  /** Refresh cadence of streaming commands. Units: milliseconds. */
  timing: { pollMs: number; redrawMs: number };
}

export interface Command {
  name: string;
  /** One line for `capstan --help`. */
  summary: string;
  /** Synopsis after "capstan ", e.g. "stats [OPTIONS] [CONTAINER...]". */
  usage: string;
  flags: readonly FlagSpec[];
  /** Hand the arguments over unparsed (the agent parses its own). */
  rawArgs?: boolean;
  /**
   * Flags end at the first argument, as in `docker run IMAGE COMMAND -l`: everything from the
   * first positional on belongs to the positionals (the container's command and its flags).
   */
  flagsEndAtFirstArgument?: boolean;
  /** The command leaves work running (servers) when run() resolves: do not force the process to exit. */
  longRunning?: boolean;
  /** The command handles Ctrl-C itself through ctx.signal. */
  handlesInterrupt?: boolean;
  /** Returns the exit status. Throws CliError / UsageError for failures. */
  run(ctx: CommandContext, args: ParsedArgs, rawArgv: readonly string[]): Promise<number>;
}
