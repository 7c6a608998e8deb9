/**
 * The agent's CLI socket, <state dir>/cli.sock: the native client (native/src/client/main.c) sends
 * a command line, the agent runs it with the Node CLI's own code (server/cli/served.ts decides
 * which commands) and sends stdout, stderr and the exit status back as frames (cli-frames.ts).
 *
 * Who may connect: the socket is mode 0600 and owned by the agent's user, so only that user and
 * root can, and they can read tokens.json beside it too. A served command therefore acts with the
 * operator token, as the Node CLI run by the same user does. (Connecting to a unix socket needs
 * write permission on it: even before the chmod, a mode of 0755 from the umask lets no one else in.)
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import type { AgentEndpoint } from '../cli/client';
import { runServedCommand, servedInAgent, type ForwardedSignal } from '../cli/served';
import { encodeFrames, exitFrame, parseCliRequest, parseClientFrames, signalFrame, type FrameType } from './cli-frames';

export const CLI_SOCKET_NAME = 'cli.sock';
/** A client that has not sent its whole request by then is dropped. Units: milliseconds. */
const REQUEST_TIMEOUT_MS = 5_000;
/**
 * Output a client has not read yet, past which the command is stopped and the connection closed
 * (a `capstan logs -f` piped into a reader that stopped): the agent's memory is not the pipe's.
 * Units: bytes.
 */
const MAX_UNREAD_OUTPUT_BYTES = 64 * 1024 * 1024;
/** sun_path is 108 bytes with its terminating NUL. */
const MAX_SOCKET_PATH_BYTES = 107;

export interface CliSocketOptions {
  stateDir: string;
  /** The agent as the Node CLI finds it (its URL and operator token), for the served commands. */
  endpoint: AgentEndpoint;
  log(line: string): void;
}

export interface CliSocket {
  close(): Promise<void>;
}

function send(socket: net.Socket, type: FrameType, payload: Buffer): void {
  if (socket.destroyed) return;
  for (const frame of encodeFrames(type, payload)) socket.write(frame);
  if (socket.writableLength > MAX_UNREAD_OUTPUT_BYTES) socket.destroy();
}

const FORWARDED_SIGNALS: Readonly<Record<number, ForwardedSignal>> = { 2: 'SIGINT', 15: 'SIGTERM' };

function serveConnection(socket: net.Socket, options: CliSocketOptions): void {
  let received: Buffer = Buffer.alloc(0);
  let started = false;
  let ended = false;
  const signalHandlers = new Set<(signal: ForwardedSignal) => void>();
  const timer = setTimeout(() => socket.destroy(), REQUEST_TIMEOUT_MS);
  socket.on('error', () => socket.destroy());
  socket.on('close', () => clearTimeout(timer));
  const endWith = (status: number, bySignal?: ForwardedSignal): void => {
    if (ended) return;
    ended = true;
    if (socket.destroyed) return;
    for (const frame of bySignal !== undefined ? signalFrame(bySignal === 'SIGINT' ? 2 : 15) : exitFrame(status)) socket.write(frame);
    socket.end();
  };
  const takeClientFrames = (): void => {
    const parsed = parseClientFrames(received);
    if ('invalid' in parsed) {
      socket.destroy();
      return;
    }
    received = parsed.rest;
    for (const frame of parsed.frames) {
      const signal = FORWARDED_SIGNALS[frame.signal];
      if (signal !== undefined) for (const handler of [...signalHandlers]) handler(signal);
    }
  };
  socket.on('data', (chunk: Buffer) => {
    received = Buffer.concat([received, chunk]);
    if (started) {
      takeClientFrames();
      return;
    }
    const parsed = parseCliRequest(received);
    if (parsed.kind === 'incomplete') return;
    started = true;
    clearTimeout(timer);
    if (parsed.kind === 'invalid') {
      // The Node CLI takes the command; it reads its arguments from its own process.
      send(socket, 'n', Buffer.from(parsed.reason));
      socket.end();
      return;
    }
    const decision = servedInAgent(parsed.request.argv, { callerTimeZone: parsed.request.env['TZ'], agentTimeZone: process.env['TZ'] });
    if (!decision.served) {
      send(socket, 'n', Buffer.from(decision.reason));
      socket.end();
      return;
    }
    received = received.subarray(parsed.length);
    void runServedCommand(parsed.request.argv, {
      endpoint: options.endpoint,
      env: parsed.request.env,
      streams: {
        stdout: (bytes) => {
          if (!ended) send(socket, 'o', bytes);
        },
        stderr: (bytes) => {
          if (!ended) send(socket, 'e', bytes);
        },
        stdoutIsTty: parsed.request.stdoutIsTty,
        stderrIsTty: parsed.request.stderrIsTty,
      },
      client: {
        onGone: (handler) => {
          socket.on('close', handler);
          return () => socket.off('close', handler);
        },
        onSignal: (handler) => {
          signalHandlers.add(handler);
          return () => signalHandlers.delete(handler);
        },
        endBySignal: (signal) => endWith(0, signal),
      },
    }).then((status) => endWith(status), (error: unknown) => {
      // runServedCommand reports its command's failures itself; this is a failure of its own.
      options.log(`capstan: warning: a served CLI command failed: ${(error as Error).message}`);
      endWith(1);
    });
    // Signals sent right behind the request.
    if (received.length > 0) takeClientFrames();
  });
}

/**
 * Listens on <stateDir>/cli.sock. Resolves to undefined (after a warning) when the socket cannot
 * be made: the CLI then runs every command in Node, as before.
 */
export async function listenCliSocket(options: CliSocketOptions): Promise<CliSocket | undefined> {
  const socketPath = path.join(options.stateDir, CLI_SOCKET_NAME);
  if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH_BYTES) {
    options.log(`capstan: warning: no CLI socket: ${socketPath} is longer than a unix socket path may be (${MAX_SOCKET_PATH_BYTES} bytes); the CLI runs every command in Node`);
    return undefined;
  }
  // A socket left by an agent that was killed: nothing listens on it any more.
  try {
    fs.unlinkSync(socketPath);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      options.log(`capstan: warning: no CLI socket: unlink ${socketPath}: ${(error as NodeJS.ErrnoException).code}`);
      return undefined;
    }
  }
  const connections = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    connections.add(socket);
    socket.on('close', () => connections.delete(socket));
    serveConnection(socket, options);
  });
  const listening = await new Promise<boolean>((resolve) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      options.log(`capstan: warning: no CLI socket: listen ${socketPath}: ${error.code ?? error.message}`);
      resolve(false);
    });
    // The socket is made 0600 from the start, not after a chmod: Node binds a unix socket within
    // listen() itself, so the umask is the agent's own again before anything else runs.
    const umask = process.umask(0o177);
    try {
      server.listen(socketPath, () => resolve(true));
    } finally {
      process.umask(umask);
    }
  });
  if (!listening) return undefined;
  fs.chmodSync(socketPath, 0o600);
  // Errors after the listen (accept failing with EMFILE): told, never thrown into the agent.
  server.on('error', (error: NodeJS.ErrnoException) => options.log(`capstan: warning: CLI socket ${socketPath}: ${error.code ?? error.message}`));
  return {
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // A served `logs -f` or `events` would keep the agent from stopping; its client says so.
        for (const socket of connections) socket.destroy();
        try {
          fs.unlinkSync(socketPath);
        } catch {
          // Already gone (the state directory was removed).
        }
      }),
  };
}
