/**
 * CLI commands the agent runs in its own process for the native client (bin/capstan,
 * native/src/client/main.c), so a short read-only command does not pay for a Node start: the
 * client sends the arguments over the agent's CLI socket and prints what comes back. The commands
 * are the same code as the Node CLI's (runCli), with the client's stdout and stderr.
 *
 * Which commands, and why only those (servedInAgent): the agent is root and not in the caller's
 * directory, terminal or environment. A served command must only ask the agent's API and write to
 * stdout and stderr: no local file (save -o, load -i, --env-file, cp), no stdin, no terminal
 * control (stats without --no-stream, -i), no credentials of the caller's (pull, push, login), no
 * environment variable (run -e KEY), no other agent (--host, --token). Everything else, and any
 * argument the policy does not recognise, goes to the Node CLI, which behaves the same.
 */
import { AgentClient, type AgentEndpoint } from './client';
import { runCli, type CliDeps } from './main';
import type { OutputStream } from './commands/types';

/** Commands that only read the agent's API and write to stdout and stderr. */
const SERVED_COMMANDS: ReadonlySet<string> = new Set(['ps', 'inspect', 'top', 'port', 'logs', 'images', 'history', 'diff', 'info', 'version', 'cgroups', 'events', 'stats']);

/** Arguments that pick another agent or token: only the Node CLI resolves those. */
const CONNECTION_FLAG = /^--(host|token|state-dir)(=|$)/;

export type ServedDecision = { served: true } | { served: false; reason: string };

/** Whether the agent runs `capstan ARGV...` itself (argv: after `capstan` and its --state-dir). Pure. */
export function servedInAgent(argv: readonly string[]): ServedDecision {
  const [name, ...rest] = argv;
  if (name === undefined || !SERVED_COMMANDS.has(name)) return { served: false, reason: `"${name ?? ''}" is run by the Node CLI` };
  if (argv.some((arg) => CONNECTION_FLAG.test(arg))) return { served: false, reason: 'a connection flag selects the agent' };
  if (name === 'stats') {
    // Only one frame: the live view redraws a terminal and reads keys.
    const oneFrame = rest.includes('--no-stream') || rest.includes('--no-stream=true');
    const interactive = rest.some((arg) => arg === '-i' || arg === '--interactive' || arg.startsWith('--interactive=') || /^-[a-z]*i/.test(arg));
    if (!oneFrame || interactive) return { served: false, reason: 'stats streams to a terminal' };
  }
  return { served: true };
}

/** Where a served command's output goes: each write becomes one frame to the client. */
export interface ServedStreams {
  stdout(bytes: Buffer): void;
  stderr(bytes: Buffer): void;
  stdoutIsTty: boolean;
  stderrIsTty: boolean;
}

export interface ServedCommandOptions {
  /** The agent itself, as the Node CLI would find it: its URL and its operator token. */
  endpoint: AgentEndpoint;
  streams: ServedStreams;
  /** Registers a handler for the client going away (its Ctrl-C); returns its remover. */
  onClientGone(handler: () => void): () => void;
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
 * Runs one served command; resolves to its exit status. A failure of the command's own code is
 * reported to the client as the Node CLI reports it ("capstan: ...", status 1), never thrown into
 * the agent.
 */
export async function runServedCommand(argv: readonly string[], options: ServedCommandOptions): Promise<number> {
  const deps: CliDeps = {
    stdout: outputStream(options.streams.stdout, options.streams.stdoutIsTty),
    stderr: outputStream(options.streams.stderr, options.streams.stderrIsTty),
    // The agent's environment is not the caller's; served commands read none (see the top).
    env: {},
    now: () => Date.now(),
    connect: () => new AgentClient(options.endpoint),
    onInterrupt: options.onClientGone,
    timing: { pollMs: 1000, redrawMs: 500 },
  };
  try {
    return (await runCli(argv, deps)).code;
  } catch (error) {
    deps.stderr.write(`capstan: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}
