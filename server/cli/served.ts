/**
 * CLI commands the agent runs in its own process for the native client (bin/capstan,
 * native/src/client/main.c), so a command does not pay for a Node start: the client sends its
 * arguments and environment over the agent's CLI socket, forwards SIGINT and SIGTERM, and prints
 * what comes back. The commands are the same code as the Node CLI's (runCli), with the client's
 * stdout, stderr and environment.
 *
 * Who is served is settled by the socket (mode 0600: the agent's user and root, who can read
 * tokens.json too), so a served command acts with the token the Node CLI would pick. What is
 * served (servedInAgent) is settled by what the agent's process is not: it is not in the caller's
 * directory or terminal and has not the caller's stdin. So the Node CLI keeps every command that
 * reads or writes a local file (save, load, export, import, --env-file, a seccomp profile file,
 * the credentials file login and logout write), reads stdin (-i), drives a terminal (-t, stats without
 * --no-stream, stats -i), attaches to a container started elsewhere (start -a), or names another
 * agent (--host, --token).
 * A command the policy does not know goes to the Node CLI, which behaves the same.
 */
import type * as net from 'node:net';
import { flagBool, flagList, parseArgs, type ParsedArgs } from './args';
import { AgentClient, type AgentEndpoint } from './client';
import { CliError } from './errors';
import { findCommand } from './commands';
import { runCli, type CliDeps } from './main';
import type { OutputStream } from './commands/types';

/** Commands that only ask the agent's API and write to stdout and stderr, whatever their flags. */
const ALWAYS_SERVED: ReadonlySet<string> = new Set([
  'ps', 'inspect', 'top', 'port', 'logs', 'images', 'history', 'diff', 'info', 'version', 'cgroups', 'events',
  'stop', 'kill', 'rm', 'restart', 'pause', 'unpause', 'update', 'wait', 'tag',
  // They read the caller's registry credentials (HOME or CAPSTAN_CONFIG from the caller's
  // environment), which the caller, root or the agent's user, can read too; login and logout
  // write that file, so they stay in the Node CLI.
  'pull', 'push',
]);

/** Commands served unless a flag below asks for the caller's files, stdin or terminal. */
const SERVED_UNLESS: Readonly<Record<string, (args: ParsedArgs) => string | undefined>> = {
  run: containerCreationNeedsCaller,
  create: containerCreationNeedsCaller,
  exec: (args) => (flagBool(args, 'interactive') || flagBool(args, 'tty') ? 'exec -i/-t uses the terminal' : flagList(args, 'env-file').length > 0 ? 'an env file is a local file' : undefined),
  start: (args) => (flagBool(args, 'attach') || flagBool(args, 'interactive') ? 'start -a attaches the terminal' : undefined),
  stats: (args) => (!flagBool(args, 'no-stream') || flagBool(args, 'interactive') ? 'stats streams to a terminal' : undefined),
};

function containerCreationNeedsCaller(args: ParsedArgs): string | undefined {
  if (flagBool(args, 'interactive') || flagBool(args, 'tty')) return '-i/-t use the terminal';
  if (flagList(args, 'env-file').length > 0) return 'an env file is a local file';
  // seccomp=FILE is read by the CLI; unconfined and builtin are names.
  if (flagList(args, 'security-opt').some((option) => /^seccomp[=:]/.test(option) && !/^seccomp[=:](unconfined|builtin)$/.test(option))) return 'a seccomp profile is a local file';
  return undefined;
}

/** Arguments that pick another agent or token: only the Node CLI resolves those. */
const CONNECTION_FLAG = /^--(host|token|state-dir)(=|$)/;

export type ServedDecision = { served: true } | { served: false; reason: string };

/** The TZ of the caller's environment and of the agent's: times print in the agent's. */
export interface TimeZones {
  callerTimeZone: string | undefined;
  agentTimeZone: string | undefined;
}

/** Whether the agent runs `capstan ARGV...` itself (argv: after `capstan` and its --state-dir). Pure. */
export function servedInAgent(argv: readonly string[], zones: TimeZones = { callerTimeZone: undefined, agentTimeZone: undefined }): ServedDecision {
  const [name, ...rest] = argv;
  if (zones.callerTimeZone !== zones.agentTimeZone) return { served: false, reason: 'the caller\'s TZ is not the agent\'s' };
  const check = name === undefined ? undefined : SERVED_UNLESS[name];
  if (name === undefined || (!ALWAYS_SERVED.has(name) && check === undefined)) return { served: false, reason: `"${name ?? ''}" is run by the Node CLI` };
  if (argv.some((arg) => CONNECTION_FLAG.test(arg))) return { served: false, reason: 'a connection flag selects the agent' };
  if (check === undefined) return { served: true };
  const command = findCommand(name)!;
  let args: ParsedArgs;
  try {
    args = parseArgs(rest, command.flags, { stopAtFirstPositional: command.flagsEndAtFirstArgument === true });
  } catch {
    // A usage mistake: the CLI reports it the same way here.
    return { served: true };
  }
  const reason = check(args);
  return reason === undefined ? { served: true } : { served: false, reason };
}

/** Where a served command's output goes: each write becomes one frame to the client. */
export interface ServedStreams {
  stdout(bytes: Buffer): void;
  stderr(bytes: Buffer): void;
  stdoutIsTty: boolean;
  stderrIsTty: boolean;
}

export type ForwardedSignal = 'SIGINT' | 'SIGTERM';

/** What the client's connection tells a served command, and how it ends one early. */
export interface ServedClient {
  /** Registers a handler for the client going away; returns its remover. */
  onGone(handler: () => void): () => void;
  /** Registers a handler for a signal the client forwards; returns its remover. */
  onSignal(handler: (signal: ForwardedSignal) => void): () => void;
  /** Ends the answer now: the command ended by this signal (none of its handlers took it), as it ends the Node CLI's process. */
  endBySignal(signal: ForwardedSignal): void;
}

export interface ServedCommandOptions {
  /** The agent itself, as the Node CLI would find it: its URL and its token. */
  endpoint: AgentEndpoint;
  streams: ServedStreams;
  /** The client's environment. */
  env: Readonly<Record<string, string>>;
  client: ServedClient;
}

function outputStream(write: (bytes: Buffer) => void, isTTY: boolean): OutputStream {
  return {
    isTTY,
    write: (chunk: string | Uint8Array) => {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : Buffer.from(chunk);
      if (bytes.length > 0) write(bytes);
      return true;
    },
  };
}

/**
 * An agent client whose attached sessions (run, exec, start) close when the served client goes
 * away, as they close when the Node CLI's process ends.
 */
class SessionClosingClient extends AgentClient {
  constructor(
    endpoint: AgentEndpoint,
    private readonly sessions: Set<net.Socket>,
    private readonly ended: AbortSignal,
  ) {
    super(endpoint);
  }

  /**
   * Once the client has gone (or its answer was ended by a signal), no next step starts: a run
   * interrupted while it pulled does not go on to create and start the container, as the Node
   * CLI's process, gone, would not. A request already under way finishes, as it would there.
   */
  protected override beforeRequest(): void {
    if (this.ended.aborted) throw new CliError('capstan: the command was interrupted', 130);
  }

  override async upgrade(pathAndQuery: string, body?: unknown): Promise<net.Socket> {
    const socket = await super.upgrade(pathAndQuery, body);
    // Opened after the client went: closed at once, as its session would have been.
    if (this.ended.aborted) {
      socket.destroy();
      return socket;
    }
    this.sessions.add(socket);
    socket.once('close', () => this.sessions.delete(socket));
    return socket;
  }
}

/**
 * Runs one served command; resolves to its exit status. A signal goes where the Node CLI's
 * process would take it: to the command's session handlers (run passes it to the container), else
 * SIGINT to its Ctrl-C handler (logs -f, events, wait), else it ends the answer with the signal,
 * which the client raises on itself. A failure of the command's own code is reported as the Node CLI reports it ("capstan:
 * ...", status 1), never thrown into the agent.
 */
export async function runServedCommand(argv: readonly string[], options: ServedCommandOptions): Promise<number> {
  const sessions = new Set<net.Socket>();
  const ended = new AbortController();
  const sessionHandlers = new Set<(signal: ForwardedSignal) => void>();
  const interruptHandlers = new Set<() => void>();
  const removeSignal = options.client.onSignal((signal) => {
    if (sessionHandlers.size > 0) for (const handler of [...sessionHandlers]) handler(signal);
    else if (signal === 'SIGINT' && interruptHandlers.size > 0) for (const handler of [...interruptHandlers]) handler();
    else {
      ended.abort();
      options.client.endBySignal(signal);
    }
  });
  const removeGone = options.client.onGone(() => {
    ended.abort();
    for (const handler of [...interruptHandlers]) handler();
    for (const socket of sessions) socket.destroy();
  });
  const register = <T>(set: Set<T>, handler: T): (() => void) => {
    set.add(handler);
    return () => set.delete(handler);
  };
  const deps: CliDeps = {
    stdout: outputStream(options.streams.stdout, options.streams.stdoutIsTty),
    stderr: outputStream(options.streams.stderr, options.streams.stderrIsTty),
    env: options.env,
    now: () => Date.now(),
    connect: () => new SessionClosingClient(options.endpoint, sessions, ended.signal),
    onInterrupt: (handler) => register(interruptHandlers, handler),
    onSignal: (handler) => register(sessionHandlers, handler),
    timing: { pollMs: 1000, redrawMs: 500 },
  };
  try {
    return (await runCli(argv, deps)).code;
  } catch (error) {
    deps.stderr.write(`capstan: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  } finally {
    removeSignal();
    removeGone();
  }
}
