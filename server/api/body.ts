/**
 * Request bodies: read only after authentication, never past a bound, and refused in a way the
 * client can read.
 *
 * express.json (body-parser) reads a refused body to its end before it answers: an oversized or
 * endless upload keeps the agent reading, and a client that waits for the answer before it sends
 * more never gets one. Here a body over the limit is answered at once (413), and whatever the
 * client still sends is read and dropped for a bounded amount and time, after the answer and a
 * half-close (FIN): closing a socket with unread input makes the kernel send a reset, which can
 * destroy the answer before the client reads it (Apache's "lingering close" does the same).
 */
import type { Socket } from 'node:net';
import type { Duplex, Readable } from 'node:stream';
import type { NextFunction, Request, Response } from 'express';
import { sendError } from './errors';

/** Largest JSON body any route accepts. Units: bytes. */
export const JSON_BODY_LIMIT_BYTES = 64 * 1024;

/** How much of an unread body is dropped after the answer before the connection is cut. Units: bytes. */
export const LINGER_MAX_BYTES = 16 * 1024 * 1024;
/** How long a refused client may go on sending after the answer. Units: milliseconds. */
export const LINGER_MAX_MS = 10_000;

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json$/i;

/**
 * After `socket` has been given its answer: half-close it, then read and drop what the client still
 * sends, until it closes its side or `maxBytes`/`maxMs` are reached; then the socket is destroyed.
 * `input` is where the client's bytes arrive: the socket itself on an upgraded connection, the
 * request on a plain one (node's HTTP parser reads the socket then, and the request must flow
 * for it to go on reading).
 */
export function lingeringClose(socket: Duplex | null | undefined, input: Readable | null = socket ?? null, maxBytes = LINGER_MAX_BYTES, maxMs = LINGER_MAX_MS): void {
  // The client may have gone already: node then detaches the socket from the request.
  if (!socket || socket.destroyed || !input) return;
  let dropped = 0;
  const finish = (): void => {
    clearTimeout(timer);
    socket.destroy();
  };
  const timer = setTimeout(finish, maxMs);
  timer.unref();
  input.removeAllListeners('data');
  input.on('data', (chunk: Buffer) => {
    dropped += chunk.length;
    if (dropped > maxBytes) finish();
  });
  socket.once('end', finish);
  socket.once('close', () => clearTimeout(timer));
  socket.on('error', finish);
  socket.end();
  input.resume();
}

/**
 * Middleware at the front of the app: when an answer starts before the request body was read (a
 * refusal: 401, 403, 413, 404 ...), it says `Connection: close`, so the client sends nothing more
 * on this connection, and node's close after the answer becomes a lingering one (above) instead
 * of a reset, or instead of node reading the rest of the body, however long, to keep the
 * connection alive.
 */
export function closeAfterUnreadBody(request: Request, response: Response, next: NextFunction): void {
  const writeHead = response.writeHead;
  // node's implicit headers (res.end without writeHead) go through writeHead too.
  response.writeHead = function (this: Response, ...args: unknown[]) {
    const socket = request.socket as Socket | null;
    // request.complete is false until node has parsed the end of the message, which for a request
    // without a body may come after a synchronous handler answered: only a declared body counts.
    if (hasBody(request) && !request.complete && socket && !this.headersSent) {
      this.setHeader('Connection', 'close');
      // With "Connection: close" node ends the socket with destroySoon() once the answer is written.
      socket.destroySoon = () => lingeringClose(socket, request);
    }
    return (writeHead as (...a: unknown[]) => Response).apply(this, args);
  } as Response['writeHead'];
  next();
}

/** The declared Content-Length, or undefined (chunked or absent). */
function declaredLength(request: Request): number | undefined {
  const header = request.get('content-length');
  return header !== undefined && /^\d+$/.test(header) ? Number(header) : undefined;
}

/** Whether the request says it carries a body (a length above zero, or chunked). */
function hasBody(request: Request): boolean {
  const length = declaredLength(request);
  return (length !== undefined && length > 0) || request.get('transfer-encoding') !== undefined;
}

/**
 * Reads a JSON body of at most `limitBytes` into request.body (body-parser's strict mode: an object
 * or an array). Requests of another Content-Type keep request.body undefined, as express.json does.
 * Mount it after the role check of the route, so nobody without the right token makes the agent
 * read or parse anything.
 */
export function jsonBody(limitBytes = JSON_BODY_LIMIT_BYTES) {
  return (request: Request, response: Response, next: NextFunction): void => {
    const type = (request.get('content-type') ?? '').split(';')[0]!.trim();
    if (!hasBody(request) || !JSON_TYPE.test(type)) {
      next();
      return;
    }
    const encoding = (request.get('content-encoding') ?? 'identity').trim().toLowerCase();
    if (encoding !== 'identity') {
      sendError(response, 415, 'unsupported_content_encoding', `the request body must not be compressed (Content-Encoding ${encoding})`);
      return;
    }
    const tooLarge = (): void =>
      sendError(response, 413, 'entity.too.large', `the request body must be at most ${limitBytes} bytes`);
    const length = declaredLength(request);
    if (length !== undefined && length > limitBytes) {
      tooLarge();
      return;
    }
    const chunks: Buffer[] = [];
    let received = 0;
    let settled = false;
    const cleanUp = (): void => {
      settled = true;
      request.off('data', onData);
      request.off('end', onEnd);
      request.off('error', onError);
    };
    const onData = (chunk: Buffer): void => {
      received += chunk.length;
      if (received > limitBytes) {
        cleanUp();
        request.pause();
        tooLarge();
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      if (settled) return;
      cleanUp();
      const text = Buffer.concat(chunks).toString('utf8');
      const first = /\S/.exec(text)?.[0];
      if (first !== '{' && first !== '[') {
        sendError(response, 400, 'entity.parse.failed', 'the request body must be a JSON object or array');
        return;
      }
      try {
        request.body = JSON.parse(text) as unknown;
      } catch (error) {
        sendError(response, 400, 'entity.parse.failed', `the request body is not valid JSON: ${(error as Error).message}`);
        return;
      }
      next();
    };
    const onError = (): void => {
      if (settled) return;
      cleanUp();
      sendError(response, 400, 'upload_aborted', 'the request body ended before it was complete');
    };
    request.on('data', onData);
    request.on('end', onEnd);
    request.on('error', onError);
  };
}

/** Node's answers to a request its parser refused, by the parser's error code (as node sends them). */
const CLIENT_ERROR_STATUS: Readonly<Record<string, string>> = {
  HPE_HEADER_OVERFLOW: '431 Request Header Fields Too Large',
  HPE_CHUNK_EXTENSIONS_OVERFLOW: '413 Payload Too Large',
  ERR_HTTP_REQUEST_TIMEOUT: '408 Request Timeout',
};
const answeredClientErrors = new WeakSet<Duplex>();

/**
 * The HTTP server's 'clientError' listener: a request node's parser refused (a request line or
 * headers over the 16 KiB limit: 431; anything else it cannot parse: 400) gets node's answer and
 * a lingering close. Node's own handling writes the answer and destroys the socket at once: with
 * the rest of the request still unread, the kernel's reset could reach the client before the
 * answer did, and the client saw ECONNRESET instead of 431. Node may report one connection's
 * error more than once as more of the request arrives: only the first is answered.
 */
export function answerClientError(error: NodeJS.ErrnoException, socket: Duplex): void {
  if (answeredClientErrors.has(socket)) return;
  answeredClientErrors.add(socket);
  const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (error.code === 'ECONNRESET' || !socket.writable || inFlight?.headersSent) {
    socket.destroy();
    return;
  }
  const status = CLIENT_ERROR_STATUS[error.code ?? ''] ?? '400 Bad Request';
  socket.write(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  lingeringClose(socket);
}
