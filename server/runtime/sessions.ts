/**
 * Attached sessions (`run -it`, `run` in the foreground, `exec`): what the manager hands the API
 * (a SessionControl to feed input and window sizes) and what it expects back (a SessionSink for
 * output and the end). Also the checks of an exec request. Pure.
 */
import { badRequest, quoteInput } from './errors';

export interface SessionSink {
  /** Bytes from the container: 1 stdout (and a tty's output), 2 stderr. */
  output(stream: 1 | 2, data: Buffer): void;
  /** The session is over: the process ended with `exitCode` (or could not be followed: `error`). */
  end(exitCode: number, error?: string): void;
}

export interface SessionControl {
  /** Bytes for the process's stdin (ignored without -i). */
  write(data: Buffer): void;
  /** No more input (docker closes stdin; with a tty this is ignored: the terminal stays open). */
  endInput(): void;
  /** The client's terminal size changed. */
  resize(rows: number, cols: number): void;
  /** The client went away: stop relaying (the process keeps running). */
  close(): void;
}

export interface ExecOptions {
  cmd: string[];
  env: string[];
  user?: string;
  workingDir?: string;
  tty: boolean;
  openStdin: boolean;
  consoleSize?: { rows: number; cols: number };
}

/** The exec request, from the JSON in the `config` query parameter of POST .../exec. */
export function parseExecRequest(value: unknown): ExecOptions {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw badRequest('invalid_body', 'the exec config must be a JSON object');
  const request = value as Record<string, unknown>;
  const known = new Set(['cmd', 'env', 'user', 'workingDir', 'tty', 'openStdin', 'consoleSize']);
  for (const key of Object.keys(request)) if (!known.has(key)) throw badRequest('invalid_body', `unknown field ${quoteInput(key, 40)} in the exec config`);
  const strings = (key: string): string[] | undefined => {
    const list = request[key];
    if (list === undefined) return undefined;
    if (!Array.isArray(list) || !list.every((item) => typeof item === 'string' && !item.includes('\0'))) {
      throw badRequest('invalid_body', `${key} must be an array of strings without NUL characters`);
    }
    return list as string[];
  };
  const cmd = strings('cmd') ?? [];
  if (cmd.length === 0) throw badRequest('no_command', 'No exec command specified');
  const options: ExecOptions = {
    cmd,
    env: strings('env') ?? [],
    tty: request['tty'] === true,
    openStdin: request['openStdin'] === true,
  };
  for (const entry of options.env) if (entry.split('=', 1)[0] === '') throw badRequest('invalid_env', `invalid environment variable: ${quoteInput(entry)}`);
  const user = request['user'];
  if (user !== undefined && user !== '') {
    if (typeof user !== 'string' || !/^[A-Za-z0-9_.][A-Za-z0-9_.-]{0,63}(:[A-Za-z0-9_.][A-Za-z0-9_.-]{0,63})?$/.test(user)) {
      throw badRequest('invalid_user', `invalid user ${quoteInput(String(user))}: use name, uid, name:group or uid:gid`);
    }
    options.user = user;
  }
  const workingDir = request['workingDir'];
  if (workingDir !== undefined && workingDir !== '') {
    if (typeof workingDir !== 'string' || !workingDir.startsWith('/') || workingDir.includes('\0')) {
      throw badRequest('invalid_working_dir', `the working directory ${quoteInput(String(workingDir))} is invalid, it needs to be an absolute path`);
    }
    options.workingDir = workingDir;
  }
  const size = request['consoleSize'] as { rows?: unknown; cols?: unknown } | undefined;
  if (size !== undefined) {
    const ok = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 65535;
    if (typeof size !== 'object' || size === null || !ok(size.rows) || !ok(size.cols)) throw badRequest('invalid_console_size', 'consoleSize must be {"rows", "cols"} from 1 to 65535');
    options.consoleSize = { rows: size.rows, cols: size.cols };
  }
  return options;
}
