/**
 * The CLI's HTTP requests to the agent.
 *
 * Not the global fetch: loading undici costs about 100 ms of start-up on the machines this runs on,
 * more than the request itself, and every CLI command pays start-up once. Requests go through
 * node:http, loaded on first use; the attach upgrade (run, attach, exec) is one request head
 * written on a plain socket, so `capstan run` never loads node:http at all.
 *
 * The request shape follows fetch's where the client needs it (ok, status, statusText, text(), a
 * body to iterate), and errors are Node's own: a socket error keeps its code and syscall (what
 * describeNetworkError prints), an abort rejects with the signal's reason (a TimeoutError for
 * AbortSignal.timeout).
 */
import type * as http from 'node:http';
import type * as https from 'node:https';
import * as net from 'node:net';

export interface AgentRequestInit {
  method?: string;
  headers?: Record<string, string>;
  /** Sent as is, with its content-length. */
  body?: string;
  signal?: AbortSignal;
}

export interface AgentResponse {
  readonly status: number;
  readonly statusText: string;
  /** A 2xx status. */
  readonly ok: boolean;
  /** The body as it arrives (async-iterable Buffers). Read it once: either this or text(). */
  readonly body: http.IncomingMessage;
  /** The whole body as UTF-8. */
  text(): Promise<string>;
}

function readText(body: http.IncomingMessage, signal: AbortSignal | undefined): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    body.setEncoding('utf8');
    body.on('data', (chunk: string) => (text += chunk));
    body.once('end', () => resolve(text));
    body.once('error', reject);
    // An abort during the body destroys the socket, which ends the response without an error.
    body.once('close', () => {
      if (!body.complete) reject(signal?.reason ?? new Error('the connection closed before the whole answer arrived'));
    });
  });
}

/**
 * The trusted certificates for an https request when NODE_EXTRA_CA_CERTS was set: the `capstan`
 * launcher keeps Node from loading that file at start-up (see main.ts), so it is added here, for
 * the one kind of request that needs it. undefined: Node's defaults.
 */
export function extraCertificates(env: NodeJS.ProcessEnv = process.env): string[] | undefined {
  const file = env['NODE_EXTRA_CA_CERTS'];
  if (!file) return undefined;
  /* eslint-disable @typescript-eslint/no-require-imports */
  const { rootCertificates } = require('node:tls') as typeof import('node:tls');
  const fs = require('node:fs') as typeof import('node:fs');
  /* eslint-enable @typescript-eslint/no-require-imports */
  try {
    return [...rootCertificates, fs.readFileSync(file, 'utf8')];
  } catch {
    return undefined; // as Node does with a file it cannot load: its defaults
  }
}

/** One request; resolves once the status line and headers are in. */
export function sendRequest(url: string, init: AgentRequestInit = {}): Promise<AgentResponse> {
  const target = new URL(url);
  // Loaded here, not at the top: each costs milliseconds of start-up that `capstan run` never needs.
  /* eslint-disable @typescript-eslint/no-require-imports */
  const transport: typeof http | typeof https = target.protocol === 'https:' ? (require('node:https') as typeof https) : (require('node:http') as typeof http);
  /* eslint-enable @typescript-eslint/no-require-imports */
  const trusted = target.protocol === 'https:' ? extraCertificates() : undefined;
  const headers: Record<string, string> = { ...init.headers };
  if (init.body !== undefined) headers['content-length'] = String(Buffer.byteLength(init.body));
  return new Promise((resolve, reject) => {
    const { signal } = init;
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const request = transport.request(target, { method: init.method ?? 'GET', headers, ...(trusted ? { ca: trusted } : {}) });
    const onAbort = (): void => {
      request.destroy();
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    request.once('error', (error) => {
      signal?.removeEventListener('abort', onAbort);
      reject(signal?.aborted ? signal.reason : error);
    });
    request.once('response', (response) => {
      // The abort listener stays until the body is done: a timeout also bounds reading it.
      response.once('close', () => signal?.removeEventListener('abort', onAbort));
      const status = response.statusCode ?? 0;
      resolve({
        status,
        statusText: response.statusMessage ?? '',
        ok: status >= 200 && status < 300,
        body: response,
        text: () => readText(response, signal),
      });
    });
    request.end(init.body);
  });
}

/** The status line and headers of an HTTP/1.1 response (names lower-cased). */
export interface ResponseHead {
  status: number;
  statusText: string;
  headers: Record<string, string>;
}

/** Parses a response head (the text before the blank line). Pure; undefined when it is not HTTP/1.x. */
export function parseResponseHead(text: string): ResponseHead | undefined {
  const [statusLine = '', ...lines] = text.split('\r\n');
  const match = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(statusLine);
  if (!match) return undefined;
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status: Number(match[1]), statusText: match[2] ?? '', headers };
}

/** A refused upgrade: the agent's status and its (JSON) body as text. */
export class UpgradeRefused extends Error {
  constructor(
    readonly head: ResponseHead,
    readonly body: string,
  ) {
    super(`the agent answered ${head.status} ${head.statusText}`.trimEnd());
  }
}

/** Larger response heads are not an agent's. Units: bytes. */
const MAX_HEAD_BYTES = 64 * 1024;

/**
 * POST `pathAndQuery` with `Upgrade: capstan-attach` on a plain TCP connection to `baseUrl`
 * (http only). Resolves with the socket once the agent answers 101 Switching Protocols, any bytes
 * after the head put back for the reader; rejects with UpgradeRefused on any other answer (its
 * body read to its Content-Length or the end), or with the socket's own error.
 */
export function openUpgrade(baseUrl: string, pathAndQuery: string, headers: Record<string, string>, body: Buffer | undefined): Promise<net.Socket> {
  const target = new URL(baseUrl);
  if (target.protocol !== 'http:') return Promise.reject(new Error(`attaching needs an http:// agent URL, not ${target.protocol}//`));
  const host = target.hostname.replace(/^\[|\]$/g, '');
  const port = Number(target.port || 80);
  const lines = [`POST ${pathAndQuery} HTTP/1.1`, `Host: ${target.host}`, 'Connection: Upgrade', 'Upgrade: capstan-attach'];
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  lines.push(`Content-Length: ${body?.length ?? 0}`);
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    let received = Buffer.alloc(0);
    let head: ResponseHead | undefined;
    let bodyStart = 0;
    const fail = (error: Error): void => {
      socket.destroy();
      reject(error);
    };
    const refusedIfComplete = (ended: boolean): void => {
      const length = Number(head!.headers['content-length']);
      const text = received.subarray(bodyStart);
      if (ended || (Number.isInteger(length) && text.length >= length)) fail(new UpgradeRefused(head!, text.toString('utf8')));
    };
    const onData = (chunk: Buffer): void => {
      received = Buffer.concat([received, chunk]);
      if (head) {
        refusedIfComplete(false);
        return;
      }
      const end = received.indexOf('\r\n\r\n');
      if (end < 0) {
        if (received.length > MAX_HEAD_BYTES) fail(new Error('the agent sent an oversized answer'));
        return;
      }
      head = parseResponseHead(received.subarray(0, end).toString('latin1'));
      if (!head) {
        fail(new Error('the agent did not answer in HTTP'));
        return;
      }
      bodyStart = end + 4;
      if (head.status === 101) {
        socket.off('data', onData);
        socket.off('end', onEnd);
        socket.off('error', fail);
        socket.pause();
        const rest = received.subarray(bodyStart);
        if (rest.length > 0) socket.unshift(rest);
        resolve(socket);
        return;
      }
      refusedIfComplete(false);
    };
    const onEnd = (): void => {
      if (head) refusedIfComplete(true);
      else fail(new Error('the agent closed the connection without an answer'));
    };
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('error', fail);
    socket.write(lines.join('\r\n') + '\r\n\r\n');
    if (body) socket.write(body);
  });
}
