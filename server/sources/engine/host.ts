/**
 * Where the engine listens, from `--docker-host` or `DOCKER_HOST` (the flag wins), as the Docker CLI
 * reads them: `unix:///path`, a bare absolute path, or `tcp://HOST:PORT` (plain HTTP; port 2375
 * when left out, as Docker's). What capstan cannot speak is refused here, once, with a message that
 * names the setting, rather than failing later on every request: ssh://, npipe://, fd://, https://
 * and TLS asked for through DOCKER_TLS_VERIFY. Pure: the environment is passed in.
 */
import * as path from 'node:path';
import type { EngineAddress } from './types';

export const DEFAULT_ENGINE_HOST = 'unix:///var/run/docker.sock';

/** The flag and the environment variable, as messages name them. */
export const ENGINE_HOST_FLAG = '--docker-host';
export const ENGINE_HOST_ENV = 'DOCKER_HOST';

/** Docker's port for plain-HTTP tcp:// hosts. */
const DEFAULT_TCP_PORT = 2375;
/** sun_path holds 108 bytes, the terminating NUL included. */
const MAX_SOCKET_PATH_BYTES = 107;

/** A setting capstan cannot use; `setting` is the flag or variable it came from. */
export class EngineHostError extends Error {
  override name = 'EngineHostError';

  constructor(
    readonly setting: string,
    readonly value: string,
    reason: string,
  ) {
    super(`${setting} ${JSON.stringify(value)}: ${reason}`);
  }
}

export interface EngineHostSettings {
  /** The value of --docker-host, if given. */
  flag?: string;
  /** The environment to read DOCKER_HOST and DOCKER_TLS_VERIFY from. */
  env?: Readonly<Record<string, string | undefined>>;
}

/** The engine address from the flag, else DOCKER_HOST, else the default socket. Throws EngineHostError. */
export function resolveEngineHost(settings: EngineHostSettings = {}): EngineAddress {
  const env = settings.env ?? {};
  // Docker treats an empty DOCKER_HOST as unset; an empty flag is the same mistake, read the same way.
  if (settings.flag !== undefined && settings.flag !== '') return parseEngineHost(settings.flag, ENGINE_HOST_FLAG, env);
  const fromEnv = env[ENGINE_HOST_ENV];
  if (fromEnv !== undefined && fromEnv !== '') return parseEngineHost(fromEnv, ENGINE_HOST_ENV, env);
  return parseEngineHost(DEFAULT_ENGINE_HOST, 'the default engine address');
}

/**
 * Parses one engine address. `setting` names where it came from ("--docker-host", "DOCKER_HOST")
 * for the message; `env` is consulted for DOCKER_TLS_VERIFY only.
 */
export function parseEngineHost(text: string, setting: string, env: Readonly<Record<string, string | undefined>> = {}): EngineAddress {
  const refuse = (reason: string): never => {
    throw new EngineHostError(setting, text, reason);
  };
  if (text.startsWith('/')) return unixAddress(text, text, refuse);

  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//.exec(text)?.[1]?.toLowerCase();
  if (scheme === undefined) {
    return refuse('expected unix:///path/to/socket, an absolute socket path, or tcp://HOST:PORT');
  }
  const rest = text.slice(scheme.length + 3);
  switch (scheme) {
    case 'unix':
      return unixAddress(rest, text, refuse);
    case 'tcp':
    case 'http':
      if (env['DOCKER_TLS_VERIFY']) {
        return refuse('DOCKER_TLS_VERIFY is set, but capstan speaks plain HTTP to the engine (no TLS); unset it, or use the unix socket');
      }
      return tcpAddress(rest, text, refuse);
    case 'https':
      return refuse('TLS is not supported: capstan speaks plain HTTP to the engine; use the unix socket, or tcp:// to a plain-HTTP port');
    case 'ssh':
      return refuse(
        'ssh:// is not supported; forward the socket yourself (ssh -NL /tmp/docker.sock:/var/run/docker.sock HOST) and use unix:///tmp/docker.sock',
      );
    case 'npipe':
      return refuse('npipe:// is a Windows named pipe; on Linux use unix:///var/run/docker.sock');
    case 'fd':
      return refuse('fd:// is socket activation for the daemon, not an address a client can connect to');
    default:
      return refuse(`unknown scheme "${scheme}://"; expected unix:// or tcp://`);
  }
}

function unixAddress(socketPath: string, text: string, refuse: (reason: string) => never): EngineAddress {
  if (socketPath === '') return refuse('names no socket path (unix:///path/to/socket)');
  if (!socketPath.startsWith('/')) return refuse('the socket path must be absolute (unix:///path/to/socket)');
  if (/[?#\0]/.test(socketPath)) return refuse('a socket path has no query, fragment or NUL byte');
  const normalized = path.posix.normalize(socketPath);
  if (Buffer.byteLength(normalized) > MAX_SOCKET_PATH_BYTES) {
    return refuse(`the socket path is longer than the ${MAX_SOCKET_PATH_BYTES} bytes a unix socket path can have`);
  }
  return { kind: 'unix', socketPath: normalized, text };
}

function tcpAddress(rest: string, text: string, refuse: (reason: string) => never): EngineAddress {
  // HOST:PORT, [IPv6]:PORT, or either without the port; a trailing "/" is harmless.
  const authority = rest.endsWith('/') ? rest.slice(0, -1) : rest;
  if (authority.includes('/') || authority.includes('?') || authority.includes('#')) {
    return refuse('a tcp:// address is HOST:PORT, without a path or query');
  }
  if (authority.includes('@')) return refuse('a tcp:// address has no user name or password');
  const match = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+)(?::(\d*))?$/.exec(authority);
  if (!match) return refuse('expected tcp://HOST:PORT');
  const host = match[1]!;
  const portText = match[2];
  let port = DEFAULT_TCP_PORT;
  if (portText !== undefined) {
    port = portText === '' ? Number.NaN : Number(portText);
    if (!Number.isInteger(port) || port < 1 || port > 65535) return refuse(`the port must be a number from 1 to 65535`);
  }
  return { kind: 'tcp', origin: `http://${host}:${port}`, text };
}

/** The address as messages show it: what the user wrote, and the socket path when that differs. */
export function describeEngineAddress(address: EngineAddress): string {
  if (address.kind === 'unix' && address.text !== address.socketPath && address.text !== `unix://${address.socketPath}`) {
    return `${address.text} (socket ${address.socketPath})`;
  }
  return address.text;
}
