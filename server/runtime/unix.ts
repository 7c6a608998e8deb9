/**
 * Connecting to the shim's unix sockets. sun_path holds 107 bytes and a container folder under a
 * deep state directory is longer than that, so the socket is reached through a short path:
 * /proc/self/fd/<fd of the folder>/<name> (the shim binds it the same way).
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import type { ControlMessage } from './shim-protocol';
import { TerminalInput } from './terminal-input';

/** sun_path minus its terminating NUL. Units: bytes. */
const MAX_SOCKET_PATH_BYTES = 107;

export function connectUnix(directory: string, name: string, timeoutMs = 5000): Promise<net.Socket> {
  const full = path.join(directory, name);
  let directoryFd: number | undefined;
  let target = full;
  if (Buffer.byteLength(full) > MAX_SOCKET_PATH_BYTES) {
    directoryFd = fs.openSync(directory, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    target = `/proc/self/fd/${directoryFd}/${name}`;
  }
  return new Promise<net.Socket>((resolve, reject) => {
    const socket = net.connect({ path: target });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(Object.assign(new Error(`connect ${full}: timed out`), { code: 'ETIMEDOUT' }));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  }).finally(() => {
    if (directoryFd !== undefined) fs.closeSync(directoryFd);
  });
}

/**
 * Connects as soon as the shim listens: retries while the socket is missing or refuses (a shim
 * about to bind), until connected, `signal` aborts, or `timeoutMs` passes. Started before the shim
 * is, so even a process that ends at once has a client waiting for its first output.
 */
export async function connectWhenListening(directory: string, name: string, signal: AbortSignal, timeoutMs = 10_000): Promise<net.Socket> {
  const deadline = Date.now() + timeoutMs;
  for (let delayMs = 1; ; delayMs = Math.min(delayMs * 2, 20)) {
    try {
      const socket = await connectUnix(directory, name);
      if (signal.aborted) {
        socket.destroy();
        throw signal.reason;
      }
      return socket;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (signal.aborted) throw signal.reason;
      if ((code !== 'ENOENT' && code !== 'ECONNREFUSED') || Date.now() > deadline) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, delayMs));
  }
}

/** How long a resize may hold the keys typed after it. Units: milliseconds. */
const CONTROL_DELIVERY_TIMEOUT_MS = 2000;

/**
 * One ControlMessage line to a shim control socket. Resolves once the shim has closed the
 * connection, which it does after it has read (and so applied) every line before our end; or
 * when that does not come in time, or the socket is not there. Never rejects: a lost resize only
 * costs a redraw.
 */
export function deliverControl(directory: string, name: string, message: ControlMessage, timeoutMs = CONTROL_DELIVERY_TIMEOUT_MS): Promise<void> {
  return connectUnix(directory, name, timeoutMs).then(
    (control) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(() => control.destroy(), timeoutMs);
        control.once('close', () => {
          clearTimeout(timer);
          resolve();
        });
        control.on('error', () => control.destroy());
        control.resume();
        control.end(JSON.stringify(message) + '\n');
      }),
    () => undefined,
  );
}

/** The keys and sizes of one client's terminal, for the shim's pty behind `attached` and its control socket `controlName`. */
export function shimTerminalInput(attached: net.Socket, directory: string, controlName: string): TerminalInput {
  return new TerminalInput({
    writeKeys: (data) => {
      if (!attached.destroyed) attached.write(data);
    },
    deliverSize: (size) => deliverControl(directory, controlName, { type: 'resize', ...size }),
  });
}
