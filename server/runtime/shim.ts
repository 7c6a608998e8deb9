/**
 * Starting capstan-shim (native/src/shim) and reading its status channel. The shim daemonizes, so
 * the agent only learns the outcome through fd 3: one StatusMessage JSON line, then EOF. For
 * `start` fd 3 is a socket pair, and the agent also uses it to say when config.json is ready.
 */
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { spawnDaemon } from '../native';
import { RuntimeError } from './errors';
import type { StatusMessage } from './shim-protocol';

/** Where node-gyp builds the shim, relative to the repository root. */
export const SHIM_RELATIVE_PATH = 'native/build/Release/capstan-shim';
/** The shim's own diagnostics (it has no terminal once daemonized). */
export const SHIM_LOG_FILE = 'shim.log';

/** A shim that has not reported within this is considered stuck. Units: milliseconds. */
const STATUS_TIMEOUT_MS = 30_000;

export function defaultShimPath(): string {
  for (let directory = __dirname; ; directory = path.dirname(directory)) {
    if (fs.existsSync(path.join(directory, 'package.json')) && fs.existsSync(path.join(directory, 'native'))) {
      return path.join(directory, SHIM_RELATIVE_PATH);
    }
    if (path.dirname(directory) === directory) return path.resolve(SHIM_RELATIVE_PATH);
  }
}

/** The first complete JSON line of the status pipe, checked for shape. Pure. */
export function parseStatusLine(line: string): StatusMessage | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  const message = value as Partial<Record<string, unknown>>;
  if (message['type'] === 'started' && Number.isInteger(message['pid']) && Number.isInteger(message['startTimeTicks'])) {
    return value as StatusMessage;
  }
  if (message['type'] === 'error' && typeof message['message'] === 'string') {
    return {
      type: 'error',
      stage: String(message['stage'] ?? ''),
      code: String(message['code'] ?? ''),
      errno: Number(message['errno'] ?? 0),
      message: message['message'],
      ...(Number.isInteger(message['exitCode']) ? { exitCode: message['exitCode'] as number } : {}),
    };
  }
  return undefined;
}

/** Reads status lines from `stream` until one parses; rejects on EOF first or timeout. */
export function readStatus(stream: Readable, child: ChildProcess | undefined, describe: () => string): Promise<StatusMessage> {
  return new Promise((resolve, reject) => {
    let text = '';
    let settled = false;
    const finish = (error: Error | undefined, message?: StatusMessage): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      stream.removeAllListeners('data');
      stream.destroy();
      if (error) reject(error);
      else resolve(message!);
    };
    const timer = setTimeout(
      () => finish(new RuntimeError(500, 'shim_timeout', `capstan-shim did not report within ${STATUS_TIMEOUT_MS / 1000}s${describe()}`)),
      STATUS_TIMEOUT_MS,
    );
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      text += chunk;
      let newline: number;
      while ((newline = text.indexOf('\n')) !== -1) {
        const line = text.slice(0, newline);
        text = text.slice(newline + 1);
        const message = parseStatusLine(line);
        if (message) {
          finish(undefined, message);
          return;
        }
      }
    });
    stream.once('end', () => {
      const message = parseStatusLine(text.trim());
      if (message) finish(undefined, message);
      else finish(new RuntimeError(500, 'shim_failed', `capstan-shim ended without reporting${exitDescription(child)}${describe()}`));
    });
    stream.once('error', (error: Error) => finish(new RuntimeError(500, 'shim_failed', `cannot read the shim's status: ${error.message}`)));
  });
}

function exitDescription(child: ChildProcess | undefined): string {
  if (!child) return '';
  if (child.exitCode !== null) return ` (exit status ${child.exitCode})`;
  if (child.signalCode !== null) return ` (killed by ${child.signalCode})`;
  return '';
}

/** The last lines of the shim's diagnostics, for an error message. */
function shimLogTail(directory: string): string {
  try {
    const text = fs.readFileSync(path.join(directory, SHIM_LOG_FILE), 'utf8').trim();
    if (text === '') return '';
    return `: ${text.split('\n').slice(-3).join(' / ')}`;
  } catch {
    return '';
  }
}

/** A shim started with `--when-told`: daemonized and waiting to be told to read config.json. */
export interface PendingShim {
  /** Tells the shim to go (config.json must be written); resolves with its status (started or error). */
  go(): Promise<StatusMessage>;
  /** Calls the start off: the shim exits without touching anything. */
  cancel(): void;
}

/**
 * `capstan-shim start --when-told <dir>`: resolves once the shim has daemonized and waits for the
 * word. Started before the agent prepares the container (root filesystem, cgroups, config.json),
 * so the shim's exec and daemonizing overlap that work instead of following it. Spawned with
 * posix_spawn (native spawnDaemon) rather than child_process, which forks the whole agent: with a
 * large heap that fork alone costs milliseconds on every start. The shim's stdout/stderr go to
 * <dir>/shim.log, so a shim that outlives the agent never writes to a closed pipe.
 */
export async function launchShim(shimBinary: string, containerDirectory: string): Promise<PendingShim> {
  let spawned: { pid: number; statusFd: number };
  try {
    spawned = await spawnDaemon(shimBinary, [shimBinary, 'start', '--when-told', containerDirectory], path.join(containerDirectory, SHIM_LOG_FILE));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new RuntimeError(500, 'shim_missing', `cannot run ${shimBinary}: ${code} (build it with npm run build)`);
  }
  const channel = new net.Socket({ fd: spawned.statusFd, readable: true, writable: true });
  // A shim that died before the word makes the write fail; readStatus then reports its end.
  channel.on('error', () => undefined);
  return {
    go: () => {
      channel.write('g');
      return readStatus(channel, undefined, () => shimLogTail(containerDirectory));
    },
    cancel: () => channel.destroy(),
  };
}
