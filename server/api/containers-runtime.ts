/**
 * capstan's own containers over HTTP (docker's Engine API paths where they exist):
 *
 *   POST   /api/v1/containers[?start=1]              (operator) create; with start=1 create+start, all or nothing
 *   POST   /api/v1/containers/:ref/start|stop|restart|kill|pause|unpause   (operator)
 *          stop/restart ?t=SECONDS, kill ?signal=NAME
 *   DELETE /api/v1/containers/:ref[?force=1&v=1]     (operator) v=1: its anonymous volumes too
 *   POST   /api/v1/containers/:ref/wait[?condition=not-running|next-exit|removed]   → {"StatusCode"}
 *   GET    /api/v1/containers/:ref/json[?size=1]      docker inspect's object (with SizeRw, SizeRootFs)
 *   GET    /api/v1/containers/:ref/top[?ps_args=-ef]  {"Titles", "Processes"}
 *   GET    /api/v1/containers/:ref/logs[?follow=1&since=MS&until=MS&tail=N]   NDJSON LogLine per line
 *   GET    /api/v1/runtime/containers                 every capstan container, running or not
 *   POST   /api/v1/containers/:ref/attach, /exec      HTTP Upgrade: see attach.ts
 *
 * The router only translates: RuntimeManager validates and acts, and its RuntimeError carries the
 * status. Errors keep the API's shape {"error": {"code", "message"}} plus `exitCode` when a
 * command could not start (127: not found, 126: not executable), as docker run reports it.
 */
import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import express, { type NextFunction, type Request, type Response } from 'express';
import { CapstanOwner } from '../containers/capstan-owner';
import { Containers } from '../containers/registry';
import type { OwnedContainer } from '../containers/types';
import { quoteReference, RuntimeError } from '../runtime/errors';
import { encodeControl, encodeFrame, FrameDecoder, parseControl, STREAM_CONTROL, STREAM_STDIN } from '../runtime/frames';
import type { ImageStore } from '../runtime/images';
import type { RuntimeManager, WaitCondition } from '../runtime/manager';
import type { SessionControl, SessionSink } from '../runtime/sessions';
import { bearerToken, requireRole, type TokenStore } from './auth';
import { JSON_BODY_LIMIT_BYTES, jsonBody, lingeringClose } from './body';
import { directorySize } from './ps';

export interface RuntimeRouterOptions {
  runtime: RuntimeManager;
  tokens: TokenStore;
  /** Every owner's containers (capstan's runtime and the engines); capstan's alone when absent. */
  containers?: Containers;
  /** capstan's view of an engine's container (its cgroup and the limits in force), added to its inspect as "Capstan". */
  cgroupView?: (container: OwnedContainer) => Record<string, unknown>;
  /** The image store, for inspect's SizeRootFs. */
  images?: ImageStore;
}

export function sendRuntimeError(response: Response, error: RuntimeError): void {
  const body: Record<string, unknown> = { code: error.code, message: error.message };
  if (error.details.exitCode !== undefined) body['exitCode'] = error.details.exitCode;
  if (error.details.errno !== undefined) body['errno'] = error.details.errno;
  response.status(error.status).json({ error: body });
}

type Handler = (request: Request, response: Response) => Promise<void> | void;

/** Runs a handler; RuntimeErrors become their status, anything else goes to the app's 500 handler. */
export function route(handler: Handler) {
  return (request: Request, response: Response, next: NextFunction): void => {
    Promise.resolve()
      .then(() => handler(request, response))
      .catch((error: unknown) => {
        if (response.headersSent) {
          response.destroy();
          return;
        }
        if (error instanceof RuntimeError) sendRuntimeError(response, error);
        else next(error);
      });
  };
}

function flag(value: unknown): boolean {
  return value === '1' || value === 'true' || value === '';
}

/** A query parameter that must be a single non-negative integer (or absent). */
function integerQuery(request: Request, name: string, allowNegative = false): number | undefined {
  const value = request.query[name];
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string' || !(allowNegative ? /^-?\d{1,12}$/ : /^\d{1,15}$/).test(value)) {
    throw new RuntimeError(400, 'invalid_query', `${name} must be ${allowNegative ? 'an integer' : 'a non-negative integer'}`);
  }
  return Number(value);
}

/**
 * docker's daemon puts the container as typed before whatever made a kill fail (unknown, not
 * running): "Cannot kill container: web: Container 3f2a... is not running". An engine's own
 * refusal already carries the prefix (with the id capstan passed on), so it is not doubled.
 */
function killFailure(typed: string, error: unknown): unknown {
  if (!(error instanceof RuntimeError) || error.code === 'invalid_signal') return error;
  const reason = error.message.replace(/^Cannot kill container: [^:]*: /, '');
  return new RuntimeError(error.status, error.code, `Cannot kill container: ${quoteReference(typed)}: ${reason}`, error.details, { cause: error });
}

function reference(request: Request): string {
  return String(request.params['reference']);
}

export function runtimeRouter(options: RuntimeRouterOptions): express.Router {
  const { runtime } = options;
  const containers = options.containers ?? new Containers([new CapstanOwner(runtime)]);
  const router = express.Router();
  const operator = requireRole(options.tokens, 'operator');
  /** The owner and the container a request names (404 in docker's words when nobody has it). */
  const target = (request: Request) => containers.resolve(reference(request));

  // Every owner's containers, running or not (capstan's with their runtime fields, engines' with theirs).
  router.get('/runtime/containers', (_request, response) => {
    const own = runtime.list().map((summary) => ({ ...summary, owner: 'capstan' }));
    const others = containers.list().filter((container) => container.owner !== 'capstan');
    response.json({ containers: [...own, ...others.map((c) => ({ ...c, cgroupPath: c.cgroupPath ?? '', pid: 0, imageId: '' }))] });
  });

  router.post(
    '/containers',
    operator,
    jsonBody(),
    route(async (request, response) => {
      const { id, warnings } = await runtime.create(request.body ?? {}, { start: flag(request.query['start']) });
      response.status(201).json({ Id: id, Warnings: warnings });
    }),
  );

  router.post(
    '/containers/:reference/start',
    operator,
    route(async (request, response) => {
      const { owner, container } = target(request);
      await owner.start(container.id);
      response.status(204).end();
    }),
  );

  router.post(
    '/containers/:reference/stop',
    operator,
    route(async (request, response) => {
      const { owner, container } = target(request);
      await owner.stop(container.id, integerQuery(request, 't', true));
      response.status(204).end();
    }),
  );

  router.post(
    '/containers/:reference/restart',
    operator,
    route(async (request, response) => {
      const { owner, container } = target(request);
      await owner.restart(container.id, integerQuery(request, 't', true));
      response.status(204).end();
    }),
  );

  router.post(
    '/containers/:reference/kill',
    operator,
    route(async (request, response) => {
      const signal = request.query['signal'];
      if (signal !== undefined && typeof signal !== 'string') throw new RuntimeError(400, 'invalid_signal', 'signal must be given once');
      try {
        const { owner, container } = target(request);
        await owner.kill(container.id, signal || 'SIGKILL');
      } catch (error) {
        throw killFailure(reference(request), error);
      }
      response.status(204).end();
    }),
  );

  router.post(
    '/containers/:reference/pause',
    operator,
    route(async (request, response) => {
      const { owner, container } = target(request);
      await owner.pause(container.id);
      response.status(204).end();
    }),
  );

  router.post(
    '/containers/:reference/unpause',
    operator,
    route(async (request, response) => {
      const { owner, container } = target(request);
      await owner.unpause(container.id);
      response.status(204).end();
    }),
  );

  router.delete(
    '/containers/:reference',
    operator,
    route(async (request, response) => {
      const { owner, container } = target(request);
      await owner.remove(container.id, flag(request.query['force']), flag(request.query['v']));
      response.status(204).end();
    }),
  );

  router.post(
    '/containers/:reference/wait',
    route(async (request, response) => {
      const condition = (request.query['condition'] ?? 'not-running') as WaitCondition;
      if (!['not-running', 'next-exit', 'removed'].includes(condition)) {
        throw new RuntimeError(400, 'invalid_condition', 'condition must be not-running, next-exit or removed');
      }
      // Unknown containers are a 404 before any header goes out.
      const { owner, container } = target(request);
      const aborted = new AbortController();
      response.on('close', () => aborted.abort());
      // Headers go out now, so a client's own timeout does not fire during a long wait.
      response.status(200).type('application/json');
      response.flushHeaders();
      try {
        response.end(JSON.stringify(await owner.wait(container.id, condition, aborted.signal)));
      } catch (error) {
        // After the headers, an error can only be said in the body.
        if (error instanceof RuntimeError) response.end(JSON.stringify({ StatusCode: -1, Error: { Message: error.message } }));
        else throw error;
      }
    }),
  );

  router.get(
    '/containers/:reference/json',
    route(async (request, response) => {
      const { owner, container } = target(request);
      const document = await owner.inspect(container.id);
      if (owner.kind === 'capstan' && flag(request.query['size'])) {
        // docker's -s: the writable layer, and with the image under it. Units: bytes.
        const layer = options.runtime.layerOf(container.id);
        const sizeRw = await directorySize(layer.upperDirectory);
        const image = layer.imageId === '' ? undefined : options.images?.resolve(layer.imageId);
        document['SizeRw'] = sizeRw;
        document['SizeRootFs'] = (image?.sizeBytes ?? 0) + sizeRw;
      }
      // An engine's document stays as the engine wrote it; capstan's own view goes under a key of its own.
      response.json(owner.kind === 'capstan' || !options.cgroupView ? document : { ...document, Capstan: options.cgroupView(container) });
    }),
  );

  router.get(
    '/containers/:reference/top',
    route(async (request, response) => {
      const psArgs = request.query['ps_args'];
      if (psArgs !== undefined && (typeof psArgs !== 'string' || psArgs.length > 1024)) {
        throw new RuntimeError(400, 'invalid_ps_args', 'ps_args must be given once, at most 1024 characters');
      }
      const { owner, container } = target(request);
      response.json(await owner.top(container.id, psArgs || '-ef'));
    }),
  );

  router.get(
    '/containers/:reference/logs',
    route(async (request, response) => {
      const { owner, container } = target(request);
      const sinceMs = integerQuery(request, 'since');
      const untilMs = integerQuery(request, 'until');
      const tailText = request.query['tail'];
      let tail: number | undefined;
      if (tailText !== undefined && tailText !== 'all' && tailText !== '') tail = integerQuery(request, 'tail');
      const follow = flag(request.query['follow']);
      const aborted = new AbortController();
      response.on('close', () => aborted.abort());
      response.status(200).type('application/x-ndjson');
      response.flushHeaders();
      await owner.logs(
        container.id,
        { ...(sinceMs !== undefined ? { sinceMs } : {}), ...(untilMs !== undefined ? { untilMs } : {}), ...(tail !== undefined ? { tail } : {}) },
        follow,
        (line) => response.write(JSON.stringify(line) + '\n'),
        aborted.signal,
      );
      response.end();
    }),
  );

  return router;
}

const UPGRADE_PATH = /^\/api\/v1\/containers\/([^/?]+)\/(attach|exec)$/;
const RUN_PATH = '/api/v1/containers/run';
/** The create body of an Upgrade to RUN_PATH (the API's JSON limit). Units: bytes. */
const MAX_RUN_BODY_BYTES = JSON_BODY_LIMIT_BYTES;

/**
 * Reads a request body that arrived on an upgraded socket: `head` plus what follows, up to
 * Content-Length. Whatever comes after it belongs to the session (stdin frames) and is returned.
 */
function readUpgradeBody(request: IncomingMessage, socket: Duplex, head: Buffer): Promise<{ body: Buffer; rest: Buffer }> {
  const length = Number(request.headers['content-length'] ?? 0);
  if (!Number.isInteger(length) || length < 0 || length > MAX_RUN_BODY_BYTES) {
    return Promise.reject(new RuntimeError(413, 'body_too_large', `the request body must be at most ${MAX_RUN_BODY_BYTES} bytes`));
  }
  return new Promise((resolve, reject) => {
    let received = head;
    const check = (): boolean => {
      if (received.length < length) return false;
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.pause();
      resolve({ body: received.subarray(0, length), rest: received.subarray(length) });
      return true;
    };
    const onData = (chunk: Buffer): void => {
      received = Buffer.concat([received, chunk]);
      check();
    };
    const onClose = (): void => reject(new RuntimeError(400, 'bad_request', 'the connection closed before the request body arrived'));
    if (check()) return;
    socket.on('data', onData);
    socket.once('close', onClose);
  });
}

/**
 * An HTTP answer on a socket that never reached express (the Upgrade path). The client may still be
 * sending its body: the socket lingers (body.ts) so the answer is read, not lost to a reset.
 */
function refuseUpgrade(socket: Duplex, status: number, code: string, message: string, details: Record<string, unknown> = {}): void {
  const body = JSON.stringify({ error: { code, message, ...details } });
  socket.write(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
  lingeringClose(socket);
}

/**
 * The server's 'upgrade' listener for POST /api/v1/containers/:ref/attach and /exec (operator).
 * Returns false for any other path (socket.io's, for one) and leaves that socket alone.
 *
 *   attach ?start=1 (start it first) &run=1 (a failed start removes the container) &rows=R&cols=C
 *   exec   ?config=<JSON ExecOptions: cmd, env, user, workingDir, tty, openStdin, consoleSize>
 *   POST /api/v1/containers/run[?rows=R&cols=C] with the create body (JSON, Content-Length):
 *          `run` in the foreground in one request; the first control frame names the new id
 *
 * Checks that need no waiting (token, container, query) answer with an HTTP error; after that the
 * agent answers 101 at once and reports a failure to start as an error frame, so a slow start
 * never leaves the socket without an answer. Frames: server/runtime/frames.ts.
 */
export function runtimeUpgradeHandler(options: RuntimeRouterOptions): (request: IncomingMessage, socket: Duplex, head: Buffer) => boolean {
  const { runtime, tokens } = options;
  return (request, socket, head) => {
    const url = new URL(request.url ?? '/', 'http://agent');
    const match = UPGRADE_PATH.exec(url.pathname);
    const isRun = url.pathname === RUN_PATH;
    if (!match && !isRun) return false;
    socket.on('error', () => socket.destroy());
    if (request.method !== 'POST') {
      refuseUpgrade(socket, 400, 'bad_request', `${url.pathname} needs POST with Upgrade`);
      return true;
    }
    const principal = tokens.authenticate(bearerToken(request.headers.authorization));
    if (!principal) {
      refuseUpgrade(socket, 401, 'unauthorized', 'missing or invalid "Authorization: Bearer <token>" header');
      return true;
    }
    if (principal.role !== 'operator') {
      refuseUpgrade(socket, 403, 'forbidden', `this needs the operator role; the token "${principal.name}" has the ${principal.role} role`);
      return true;
    }
    const kind = isRun ? 'run' : (match![2] as 'attach' | 'exec');
    let reference = '';
    let execBody: unknown;
    let consoleSize: { rows: number; cols: number } | undefined;
    try {
      if (match) reference = runtime.resolveId(decodeURIComponent(match[1]!));
      if (kind === 'exec') {
        try {
          execBody = JSON.parse(url.searchParams.get('config') ?? '');
        } catch {
          throw new RuntimeError(400, 'invalid_body', 'the exec config (query parameter "config") must be JSON');
        }
      }
      const rows = Number(url.searchParams.get('rows'));
      const cols = Number(url.searchParams.get('cols'));
      if (Number.isInteger(rows) && Number.isInteger(cols) && rows >= 1 && cols >= 1 && rows <= 65535 && cols <= 65535) consoleSize = { rows, cols };
    } catch (error) {
      if (error instanceof RuntimeError) refuseUpgrade(socket, error.status, error.code, error.message);
      else refuseUpgrade(socket, 400, 'bad_request', (error as Error).message);
      return true;
    }

    let control: SessionControl | undefined;
    const early: Buffer[] = [];
    const sink: SessionSink = {
      output: (stream, data) => {
        if (!socket.destroyed) socket.write(encodeFrame(stream, data));
      },
      end: (exitCode, error) => {
        if (socket.destroyed) return;
        if (error) socket.write(encodeControl({ type: 'error', message: error, exitCode }));
        socket.end(encodeControl({ type: 'exit', exitCode }));
      },
    };
    const decoder = new FrameDecoder((stream, payload) => {
      if (!control) return;
      if (stream === STREAM_STDIN) control.write(payload);
      else if (stream === STREAM_CONTROL) {
        const message = parseControl(payload);
        if (message?.type === 'resize') control.resize(message.rows, message.cols);
        else if (message?.type === 'stdin-end') control.endInput();
      }
    });
    const feed = (chunk: Buffer): void => {
      try {
        decoder.push(chunk);
      } catch {
        socket.destroy();
      }
    };
    const switchProtocols = (rest: Buffer): void => {
      socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: capstan-attach\r\n\r\n');
      if (rest.length > 0) early.push(rest);
      socket.on('data', (chunk: Buffer) => (control ? feed(chunk) : early.push(chunk)));
      socket.once('close', () => control?.close());
      socket.resume();
    };
    const fail = (error: unknown): void => {
      if (socket.destroyed) return;
      // docker run's convention: 125 when the daemon failed, else the command's 126/127.
      const exitCode = error instanceof RuntimeError ? error.details.exitCode : undefined;
      socket.end(encodeControl({ type: 'error', message: (error as Error).message, exitCode: exitCode ?? 125 }));
    };
    const live = (session: SessionControl): void => {
      control = session;
      if (socket.destroyed) {
        session.close();
        return;
      }
      for (const chunk of early.splice(0)) feed(chunk);
    };
    const size = consoleSize ? { consoleSize } : {};

    if (kind === 'run') {
      readUpgradeBody(request, socket, head).then(
        ({ body, rest }) => {
          let createBody: unknown;
          try {
            createBody = JSON.parse(body.toString('utf8') || '{}');
          } catch {
            refuseUpgrade(socket, 400, 'invalid_body', 'the request body must be JSON');
            return;
          }
          switchProtocols(rest);
          // Output may already flow before the "created" frame (a tty's first prompt); order does not matter to the client.
          runtime.runAttached(createBody, size, sink).then(({ id, warnings, control: session }) => {
            socket.write(encodeControl({ type: 'created', id, warnings }));
            live(session);
          }, fail);
        },
        (error: unknown) => {
          if (error instanceof RuntimeError) refuseUpgrade(socket, error.status, error.code, error.message);
          else socket.destroy();
        },
      );
      return true;
    }

    switchProtocols(head);
    const session =
      kind === 'exec'
        ? runtime.exec(reference, execBody, sink)
        : runtime.attach(reference, { start: url.searchParams.get('start') === '1', run: url.searchParams.get('run') === '1', ...size }, sink);
    session.then(live, fail);
    return true;
  };
}
