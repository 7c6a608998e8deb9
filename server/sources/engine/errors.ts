/**
 * The engine client's one error type, and the pure functions that turn what went wrong on the wire
 * into it: a transport error (errno from connect, an undici timeout or parser error) or an engine's
 * refusal (a 4xx/5xx and its JSON body). Callers branch on `code`, never on the message:
 *
 *   unreachable  no engine at the address (ENOENT, ECONNREFUSED, EACCES on connect) or it went away
 *   timeout      the engine accepted the connection but did not answer in time
 *   protocol     what answered is not the Engine API (not HTTP, not JSON where JSON was due)
 *   engine       the engine answered with an error status; `message` is the engine's own words
 */
import { STATUS_CODES } from 'node:http';
import type { EngineErrorCode } from './types';

export interface EngineErrorDetails {
  /** The engine address as the user wrote it (types.ts EngineAddress.text). */
  address?: string;
  /** What was asked, e.g. "GET /v1.41/containers/json". */
  request?: string;
  /** 'engine': the HTTP status the engine answered with. */
  status?: number;
  /** 'unreachable': the errno code of the failed connect (ENOENT, ECONNREFUSED, EACCES, ...). */
  errno?: string;
  /** 'unreachable' over a unix socket: the socket's path. */
  socketPath?: string;
}

export class EngineError extends Error {
  override name = 'EngineError';
  readonly address: string | undefined;
  readonly request: string | undefined;
  readonly status: number | undefined;
  readonly errno: string | undefined;
  readonly socketPath: string | undefined;

  constructor(
    readonly code: EngineErrorCode,
    message: string,
    details: EngineErrorDetails = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.address = details.address;
    this.request = details.request;
    this.status = details.status;
    this.errno = details.errno;
    this.socketPath = details.socketPath;
  }
}

/** True for the engine's "no such container" (and any other 404 the engine answers). */
export function isNotFound(error: unknown): boolean {
  return error instanceof EngineError && error.code === 'engine' && error.status === 404;
}

/** Where a request went and what it was, for messages. */
export interface RequestContext {
  /** EngineAddress.text. */
  address: string;
  /** Set for unix addresses. */
  socketPath?: string;
  /** "GET /v1.41/containers/json". */
  request: string;
  /** The timeouts in force, for the 'timeout' message. Units: milliseconds. */
  headersTimeoutMs: number;
  bodyTimeoutMs: number;
  connectTimeoutMs: number;
}

/** errno codes of a connect that found no engine. */
const CONNECT_ERRNOS = new Set([
  'ENOENT',
  'ECONNREFUSED',
  'EACCES',
  'EPERM',
  'ENOTSOCK',
  'ENOTDIR',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'ENOTFOUND',
  'EAI_AGAIN',
]);
/** errno codes of a connection the engine dropped after it was made. */
const DROPPED_ERRNOS = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);
/** undici's codes for a response that is not HTTP/1.1 as the Engine API speaks it. */
const PROTOCOL_CODES = new Set([
  'UND_ERR_HEADERS_OVERFLOW',
  'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
  'UND_ERR_RES_EXCEEDED_MAX_SIZE',
  'UND_ERR_NOT_SUPPORTED',
  'UND_ERR_INFO',
]);

function explainConnectErrno(errno: string, target: string): string {
  switch (errno) {
    case 'ENOENT':
      return `no socket at ${target}: is the engine running?`;
    case 'ECONNREFUSED':
      return `nothing accepts connections at ${target}: the engine has stopped or not started`;
    case 'EACCES':
    case 'EPERM':
      return `permission denied on ${target}: run as root or as a member of the socket's group`;
    case 'ENOTSOCK':
      return `${target} is not a socket`;
    case 'ENOTDIR':
      return `a part of ${target} is not a directory`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `cannot resolve the host of ${target}`;
    default:
      return `cannot connect to ${target}`;
  }
}

/**
 * Turns what undici or the socket threw into an EngineError. An abort the caller asked for is
 * returned unchanged (it is not the engine's fault); so is an EngineError.
 */
export function transportError(error: unknown, context: RequestContext): Error {
  if (error instanceof EngineError) return error;
  const err = error as (Error & { code?: unknown; errno?: unknown; syscall?: unknown }) | undefined;
  const code = typeof err?.code === 'string' ? err.code : undefined;
  const name = err?.name;
  const details: EngineErrorDetails = { address: context.address, request: context.request };
  if (context.socketPath !== undefined) details.socketPath = context.socketPath;
  const target = context.socketPath ?? context.address;
  const engine = `the engine at ${context.address}`;

  if (name === 'AbortError' || code === 'UND_ERR_ABORTED' || code === 'ABORT_ERR') return err as Error;
  if (code && CONNECT_ERRNOS.has(code)) {
    return new EngineError('unreachable', `cannot connect to ${engine}: ${code}: ${explainConnectErrno(code, target)}`, { ...details, errno: code }, { cause: error });
  }
  if (code === 'UND_ERR_CONNECT_TIMEOUT') {
    return new EngineError('timeout', `${engine} did not accept the connection within ${context.connectTimeoutMs} ms`, details, { cause: error });
  }
  if (code === 'UND_ERR_HEADERS_TIMEOUT') {
    return new EngineError('timeout', `${engine} did not answer ${context.request} within ${context.headersTimeoutMs} ms`, details, { cause: error });
  }
  if (code === 'UND_ERR_BODY_TIMEOUT') {
    return new EngineError('timeout', `${engine} stopped sending its answer to ${context.request} for ${context.bodyTimeoutMs} ms`, details, {
      cause: error,
    });
  }
  if (name === 'HTTPParserError' || (code !== undefined && code.startsWith('HPE_')) || (code && PROTOCOL_CODES.has(code))) {
    // undici's parser error keeps the bytes it choked on.
    const data = (err as { data?: unknown }).data;
    const starting = typeof data === 'string' && data !== '' ? `, starting ${firstBytes(data)}` : '';
    return new EngineError(
      'protocol',
      `${engine} answered ${context.request} with something that is not HTTP as the Engine API speaks it (${code ?? name}: ${err?.message})${starting}`,
      details,
      { cause: error },
    );
  }
  if (code === 'UND_ERR_SOCKET' || (code && DROPPED_ERRNOS.has(code))) {
    const errno = code === 'UND_ERR_SOCKET' ? undefined : code;
    return new EngineError('unreachable', `${engine} closed the connection during ${context.request}${errno ? ` (${errno})` : ''}`, errno ? { ...details, errno } : details, {
      cause: error,
    });
  }
  if (typeof err?.syscall === 'string' && code) {
    return new EngineError('unreachable', `cannot talk to ${engine}: ${code} on ${err.syscall}`, { ...details, errno: code }, { cause: error });
  }
  return new EngineError('protocol', `talking to ${engine} failed during ${context.request}: ${err?.message ?? String(error)}`, details, { cause: error });
}

/** The longest engine message kept: an error page must not flood a log line. */
const MAX_MESSAGE_CHARS = 500;

/**
 * The engine's own words from an error response: `message` of its JSON body (Docker and Podman
 * both send {"message": ...}; Podman adds "cause" and "response"), else the body's text (Podman's
 * compat router answers an unknown route with a plain "Not Found"), else the status line.
 */
export function engineMessage(status: number, body: string): string {
  const text = body.trim();
  if (text.startsWith('{')) {
    try {
      const parsed = JSON.parse(text) as unknown;
      if (parsed && typeof parsed === 'object' && typeof (parsed as { message?: unknown }).message === 'string') {
        const message = ((parsed as { message: string }).message).trim();
        if (message !== '') return clip(message);
      }
    } catch {
      // Not JSON after all: fall through to the text.
    }
  }
  if (text !== '') return clip(text);
  return `HTTP ${status}${STATUS_CODES[status] ? ` ${STATUS_CODES[status]}` : ''}`;
}

function clip(text: string): string {
  // One line, no control characters: it ends up in logs, terminals and JSON answers.
  const flat = text.replace(/[\u0000-\u001f\u007f]+/g, ' ');
  return flat.length > MAX_MESSAGE_CHARS ? `${flat.slice(0, MAX_MESSAGE_CHARS)}…` : flat;
}

/** The error for a 4xx/5xx answer. */
export function engineRefusal(status: number, body: string, context: Pick<RequestContext, 'address' | 'request'>): EngineError {
  return new EngineError('engine', engineMessage(status, body), { address: context.address, request: context.request, status });
}

/** The first bytes of something that is not what was expected, quoted for a message. */
export function firstBytes(data: Buffer | string, max = 40): string {
  const text = typeof data === 'string' ? data : data.subarray(0, max * 4).toString('utf8');
  return JSON.stringify(text.length > max ? `${text.slice(0, max)}…` : text);
}
