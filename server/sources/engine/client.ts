/**
 * A client for the Docker Engine API (Docker, and Podman's compatible service) over the engine's
 * unix socket or plain-HTTP tcp. It is used from an event stream and a cache, never from the
 * collector tick, so it fails fast and says why: every request has short connect, headers and body
 * timeouts, and every failure is one EngineError with a code (errors.ts).
 *
 * Why undici: it is maintained by the Node.js team (it is Node's own fetch), keeps a keep-alive
 * pool over a unix socket through `connect: { socketPath }`, and streams bodies with per-request
 * headers and body timeouts, which is all an Engine API client needs. dockerode would pull in
 * docker-modem and ssh2, with an optional native build, for features capstan refuses (host.ts).
 * undici is loaded on first use (~100 ms here), so a process that never talks to an engine does
 * not pay for it.
 *
 * I/O only: the parsing (version negotiation, error bodies, the events splitter, the stdcopy
 * demultiplexer) lives in pure modules next to this one.
 */
import type { Dispatcher, Pool } from 'undici';
import { EngineError, engineRefusal, firstBytes, transportError, type RequestContext } from './errors';
import { LogDecoder, JsonLineSplitter, toEngineEvent } from './streams';
import type {
  EngineAddress,
  EngineApi,
  EngineContainerAction,
  EngineContainerSummary,
  EngineEvent,
  EngineEventsOptions,
  EngineInspect,
  EngineLogLine,
  EngineLogsOptions,
  EnginePing,
  EngineTop,
  EngineUpdateBody,
  EngineUpdateResult,
  EngineVersion,
  LinuxResources,
} from './types';
import { CLIENT_API_VERSION, engineVersion, isApiVersionRefusal, parseVersion } from './version';

/** Units: milliseconds. */
export interface EngineTimeouts {
  /** To establish the connection. */
  connectMs: number;
  /** From sending the request to the end of the response headers. */
  headersMs: number;
  /** The longest pause between two chunks of a body (not applied to events or followed logs). */
  bodyMs: number;
  /**
   * For a lifecycle action (start, pause, remove, ...) to be answered: the engine answers when it
   * is done, which takes longer than a read. stop and restart add their own grace period (t).
   */
  actionMs: number;
}

/**
 * undici checks headers and body timeouts on a coarse clock (ticks of about half a second), so a
 * timeout fires up to a second after its nominal value: 2 s for headers means 2 to 3 s.
 */
export const DEFAULT_ENGINE_TIMEOUTS: Readonly<EngineTimeouts> = { connectMs: 1000, headersMs: 2000, bodyMs: 5000, actionMs: 30_000 };
/** Docker's stop grace period when the request names none. Units: seconds. */
const DEFAULT_STOP_SECONDS = 10;

export interface EngineClientOptions {
  address: EngineAddress;
  timeouts?: Partial<EngineTimeouts>;
  /** The newest Engine API version to speak. Default CLIENT_API_VERSION (1.41). */
  clientApiVersion?: string;
  /** The largest body read whole (listings, inspect). Units: bytes. */
  maxResponseBytes?: number;
}

/** How long GET /version may take to answer (see version()). Units: milliseconds. */
const VERSION_HEADERS_TIMEOUT_MS = 60_000;
const DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024;
/** How long an idle pooled connection is kept. Units: milliseconds. */
const KEEP_ALIVE_MS = 4000;

type UndiciModule = typeof import('undici');
let undici: UndiciModule | undefined;
function loadUndici(): UndiciModule {
  undici ??= require('undici') as UndiciModule;
  return undici;
}

interface RequestSpec {
  method: 'GET' | 'POST' | 'DELETE';
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  /** Body timeout override; 0 for a stream that may be idle for ever. Units: milliseconds. */
  bodyTimeoutMs?: number;
  /** Headers timeout override; 0 to wait for ever (a wait). Units: milliseconds. */
  headersTimeoutMs?: number;
  signal?: AbortSignal;
}

/**
 * `since` / `until` as the API takes them, from milliseconds since the epoch: seconds with a
 * nanosecond fraction ("1700000000.250000000"). Pure.
 */
export function apiTime(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`not a time the engine can take: ${ms} ms`);
  const whole = Math.floor(ms);
  const seconds = Math.floor(whole / 1000);
  const nanoseconds = (whole % 1000) * 1_000_000 + Math.round((ms - whole) * 1_000_000);
  return nanoseconds === 0 ? String(seconds) : `${seconds}.${String(nanoseconds).padStart(9, '0')}`;
}

/** A container reference in a path: a name or ID, never a path of its own. */
function containerPath(id: string, rest: string): string {
  if (typeof id !== 'string' || id === '' || id.length > 256) throw new TypeError(`not a container name or ID: ${JSON.stringify(id)}`);
  return `/containers/${encodeURIComponent(id)}${rest}`;
}

function queryString(query: RequestSpec['query']): string {
  if (!query) return '';
  const parameters = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined) continue;
    parameters.set(key, typeof value === 'boolean' ? (value ? '1' : '0') : String(value));
  }
  const text = parameters.toString();
  return text === '' ? '' : `?${text}`;
}

function isAbort(error: unknown, signal: AbortSignal | undefined): boolean {
  const err = error as { name?: string; code?: string } | undefined;
  return signal?.aborted === true || err?.name === 'AbortError' || err?.code === 'UND_ERR_ABORTED';
}

export class EngineClient implements EngineApi {
  readonly address: EngineAddress;
  readonly timeouts: Readonly<EngineTimeouts>;
  private readonly clientApiVersion: string;
  private readonly maxResponseBytes: number;
  private pool: Pool | undefined;
  private negotiated: Promise<EngineVersion> | undefined;
  private closed = false;

  constructor(options: EngineClientOptions) {
    this.address = options.address;
    this.timeouts = { ...DEFAULT_ENGINE_TIMEOUTS, ...options.timeouts };
    this.clientApiVersion = options.clientApiVersion ?? CLIENT_API_VERSION;
    this.maxResponseBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  }

  /** GET /version (unversioned): which engine, and the API version the other calls will use. */
  async version(): Promise<EngineVersion> {
    const asked = (async () => {
      // /version is asked once per connection, never on a tick; Podman answers it only after
      // `podman info` (dpkg -S over every package list: 0.6-1.5 s here, far more on a slow host).
      const response = await this.send({ method: 'GET', path: '/version', headersTimeoutMs: VERSION_HEADERS_TIMEOUT_MS });
      const body = await this.readJson(response, 'GET /version');
      try {
        return engineVersion(parseVersion(body), this.clientApiVersion);
      } catch (error) {
        throw this.withContext(error, 'GET /version');
      }
    })();
    this.negotiated = asked;
    asked.catch(() => {
      if (this.negotiated === asked) this.negotiated = undefined;
    });
    return asked;
  }

  /** GET /_ping: resolves when the engine answers, with the API versions its headers name. */
  async ping(): Promise<EnginePing> {
    const response = await this.send({ method: 'GET', path: '/_ping' });
    await this.readText(response, 'GET /_ping');
    const ping: EnginePing = {};
    const apiVersion = response.headers['api-version'];
    const libpodApiVersion = response.headers['libpod-api-version'];
    if (typeof apiVersion === 'string') ping.apiVersion = apiVersion;
    if (typeof libpodApiVersion === 'string') ping.libpodApiVersion = libpodApiVersion;
    return ping;
  }

  /** GET /containers/json?all=1: every container, running or not. */
  async listContainers(options: { filters?: Record<string, string[]> | string; all?: boolean; size?: boolean; headersTimeoutMs?: number } = {}): Promise<EngineContainerSummary[]> {
    const filters = typeof options.filters === 'string' ? options.filters : options.filters ? JSON.stringify(options.filters) : undefined;
    const query = { all: options.all ?? true, ...(options.size ? { size: true } : {}), filters };
    const body = await this.versionedJson({ method: 'GET', path: '/containers/json', query, ...(options.headersTimeoutMs !== undefined ? { headersTimeoutMs: options.headersTimeoutMs } : {}) });
    if (!Array.isArray(body)) throw this.protocol('GET /containers/json', `did not answer a JSON array: ${firstBytes(JSON.stringify(body) ?? '')}`);
    return body as EngineContainerSummary[];
  }

  /** GET /containers/{id}/json: the engine's document, unchanged. A missing container is 'engine' 404. */
  async inspectContainer(id: string): Promise<EngineInspect> {
    const path = containerPath(id, '/json');
    const body = await this.versionedJson({ method: 'GET', path });
    if (!body || typeof body !== 'object' || typeof (body as { Id?: unknown }).Id !== 'string') {
      throw this.protocol(`GET ${path}`, `did not answer a container document: ${firstBytes(JSON.stringify(body) ?? '')}`);
    }
    return body as EngineInspect;
  }

  /**
   * POST /containers/{id}/update with Docker's field names. Docker only: Podman 4.3's compat API
   * answers 404 here; the caller uses libpodUpdate for Podman (version().flavour says which).
   */
  async updateContainer(id: string, body: EngineUpdateBody): Promise<EngineUpdateResult> {
    const answer = await this.versionedJson({ method: 'POST', path: containerPath(id, '/update'), body });
    const warnings = (answer as { Warnings?: unknown } | null)?.Warnings;
    return { Warnings: Array.isArray(warnings) ? warnings.filter((w): w is string => typeof w === 'string') : [] };
  }

  /**
   * Podman's POST /v{libpod}/libpod/containers/{id}/update, whose body is an OCI LinuxResources
   * document (e.g. { memory: { limit: 134217728 } }). Podman answers 201 with the container's ID.
   */
  async libpodUpdate(id: string, resources: LinuxResources): Promise<void> {
    const version = await this.negotiate();
    if (version.flavour !== 'podman' || !version.libpodApiVersion) {
      throw new Error(`libpodUpdate needs a Podman engine; ${this.address.text} is ${version.flavour} ${version.version}`);
    }
    const path = `/v${version.libpodApiVersion}/libpod${containerPath(id, '/update')}`;
    const response = await this.send({ method: 'POST', path, body: resources });
    await this.readText(response, `POST ${path}`);
  }

  /** GET /containers/{id}/top: ps inside the container (psArgs as `docker top` takes them; default -ef). */
  async top(id: string, psArgs?: string): Promise<EngineTop> {
    const path = containerPath(id, '/top');
    const body = await this.versionedJson({ method: 'GET', path, query: { ps_args: psArgs } });
    const top = body as Partial<EngineTop> | null;
    if (!top || !Array.isArray(top.Titles) || !(top.Processes === null || Array.isArray(top.Processes))) {
      throw this.protocol(`GET ${path}`, `did not answer Titles and Processes: ${firstBytes(JSON.stringify(body) ?? '')}`);
    }
    return { Titles: top.Titles, Processes: top.Processes ?? [] };
  }

  /**
   * POST /containers/{id}/{action}, with its query as the API takes it (stop and restart take t in
   * seconds, kill takes signal). An engine answering 304 (already started, already stopped) is done.
   */
  async containerAction(id: string, action: EngineContainerAction, query: Record<string, string> = {}): Promise<void> {
    const graceSeconds = action === 'stop' || action === 'restart' ? Number(query['t'] ?? DEFAULT_STOP_SECONDS) : 0;
    const path = containerPath(id, `/${action}`);
    const response = await this.versioned({
      method: 'POST',
      path,
      query,
      headersTimeoutMs: this.timeouts.actionMs + (Number.isFinite(graceSeconds) && graceSeconds > 0 ? graceSeconds * 1000 : 0),
    });
    await this.readText(response, `POST ${path}`);
  }

  /**
   * DELETE /containers/{id}: with `force`, a running container is killed first. Docker SIGKILLs it;
   * Podman 4.3's compat API stops it with SIGTERM and its 10 s grace (its `t` and `timeout` are
   * ignored here), so for Podman the client sends the SIGKILL itself first.
   */
  async removeContainer(id: string, force: boolean): Promise<void> {
    const path = containerPath(id, '');
    if (force && (await this.negotiate()).flavour === 'podman') {
      // Not running (409) or already gone (404) are fine: the DELETE decides.
      await this.containerAction(id, 'kill', { signal: 'SIGKILL' }).catch((error: unknown) => {
        if (!(error instanceof EngineError && error.code === 'engine')) throw error;
      });
    }
    const response = await this.versioned({ method: 'DELETE', path, query: { force: force ? true : undefined }, headersTimeoutMs: this.timeouts.actionMs });
    await this.readText(response, `DELETE ${path}`);
  }

  /**
   * POST /containers/{id}/wait?condition= (not-running, next-exit, removed): resolves with the exit
   * status once the condition holds, however long that takes; `signal` gives up.
   */
  async waitContainer(id: string, condition: string, signal?: AbortSignal): Promise<{ StatusCode: number }> {
    const path = containerPath(id, '/wait');
    const body = await this.versionedJson({
      method: 'POST',
      path,
      query: { condition: condition === '' ? undefined : condition },
      headersTimeoutMs: 0,
      bodyTimeoutMs: 0,
      ...(signal ? { signal } : {}),
    });
    const answer = body as { StatusCode?: unknown; Error?: { Message?: unknown } | null } | null;
    if (typeof answer?.StatusCode !== 'number') throw this.protocol(`POST ${path}`, `did not answer a StatusCode: ${firstBytes(JSON.stringify(body) ?? '')}`);
    const message = answer.Error?.Message;
    if (typeof message === 'string' && message !== '') {
      throw new EngineError('engine', message, { address: this.address.text, request: `POST ${path}` });
    }
    return { StatusCode: answer.StatusCode };
  }

  /**
   * GET /containers/{id}/logs, demultiplexed into lines (stdcopy without a tty, raw lines with one).
   * Resolves when the body ends (with `follow`, when the container stops) or when `signal` aborts.
   */
  async logs(id: string, options: EngineLogsOptions, onLine: (line: EngineLogLine) => void, signal?: AbortSignal): Promise<void> {
    const tty = options.tty ?? (await this.inspectContainer(id)).Config['Tty'] === true;
    const timestamps = options.timestamps === true;
    const spec: RequestSpec = {
      method: 'GET',
      path: containerPath(id, '/logs'),
      query: {
        stdout: true,
        stderr: true,
        follow: options.follow === true,
        timestamps,
        since: options.sinceMs === undefined ? undefined : apiTime(options.sinceMs),
        until: options.untilMs === undefined ? undefined : apiTime(options.untilMs),
        tail: options.tail === undefined ? undefined : Math.max(0, Math.floor(options.tail)),
      },
      ...(options.follow ? { bodyTimeoutMs: 0 } : {}),
      ...(signal ? { signal } : {}),
    };
    let response: Dispatcher.ResponseData;
    try {
      response = await this.versioned(spec);
    } catch (error) {
      if (isAbort(error, signal)) return;
      throw error;
    }
    const request = `GET ${spec.path}`;
    const decoder = new LogDecoder({ tty, timestamps }, onLine);
    const body = response.body[Symbol.asyncIterator]();
    try {
      for (;;) {
        let chunk: IteratorResult<unknown>;
        try {
          chunk = await body.next();
        } catch (error) {
          if (isAbort(error, signal)) return;
          throw this.withContext(error, request);
        }
        try {
          if (chunk.done) {
            decoder.end();
            return;
          }
          decoder.push(chunk.value as Buffer);
        } catch (error) {
          // The decoder's own errors get the address; whatever onLine threw is the caller's, unchanged.
          throw error instanceof EngineError && error.address === undefined ? this.withContext(error, request) : error;
        }
      }
    } finally {
      response.body.destroy();
    }
  }

  /**
   * GET /events as an async iterator. The request starts at once: await `ready` to know the engine
   * has accepted the subscription (subscribe, then list, and no event falls in between). There is
   * no body timeout; a closed socket ends the iteration with EngineError('unreachable'), an engine
   * that ends the stream ends it quietly, and an abort (signal or return()) ends it quietly.
   */
  events(options: EngineEventsOptions = {}, signal?: AbortSignal): EngineEventStream {
    return new EngineEventStream(this, options, signal);
  }

  /** Closes pooled connections and aborts requests in flight. */
  async close(): Promise<void> {
    this.closed = true;
    const pool = this.pool;
    this.pool = undefined;
    if (pool) await pool.destroy();
  }

  // --- internals (EngineEventStream uses openEvents) ---

  /** @internal */
  async openEvents(options: EngineEventsOptions, signal: AbortSignal): Promise<Dispatcher.ResponseData> {
    return this.versioned({
      method: 'GET',
      path: '/events',
      query: {
        since: options.sinceMs === undefined ? undefined : apiTime(options.sinceMs),
        until: options.untilMs === undefined ? undefined : apiTime(options.untilMs),
        filters: options.filters ? JSON.stringify(options.filters) : undefined,
      },
      bodyTimeoutMs: 0,
      signal,
    });
  }

  /** @internal */
  withContext(error: unknown, request: string): Error {
    if (error instanceof EngineError) {
      if (error.address !== undefined) return error;
      // A pure parser's error: add where it happened.
      return new EngineError(error.code, `the engine at ${this.address.text} (${request}): ${error.message}`, this.details(request, error), { cause: error.cause });
    }
    return transportError(error, this.context(request));
  }

  private details(request: string, error: EngineError): ConstructorParameters<typeof EngineError>[2] {
    return {
      address: this.address.text,
      request,
      ...(error.status !== undefined ? { status: error.status } : {}),
      ...(this.address.kind === 'unix' ? { socketPath: this.address.socketPath } : {}),
    };
  }

  private protocol(request: string, what: string): EngineError {
    return new EngineError('protocol', `the engine at ${this.address.text} ${what} (${request})`, {
      address: this.address.text,
      request,
      ...(this.address.kind === 'unix' ? { socketPath: this.address.socketPath } : {}),
    });
  }

  private context(request: string): RequestContext {
    return {
      address: this.address.text,
      ...(this.address.kind === 'unix' ? { socketPath: this.address.socketPath } : {}),
      request,
      connectTimeoutMs: this.timeouts.connectMs,
      headersTimeoutMs: this.timeouts.headersMs,
      bodyTimeoutMs: this.timeouts.bodyMs,
    };
  }

  private getPool(): Pool {
    if (this.closed) throw new Error(`the engine client for ${this.address.text} is closed`);
    if (!this.pool) {
      const { Pool } = loadUndici();
      const origin = this.address.kind === 'unix' ? 'http://localhost' : this.address.origin;
      this.pool = new Pool(origin, {
        connect: {
          timeout: this.timeouts.connectMs,
          ...(this.address.kind === 'unix' ? { socketPath: this.address.socketPath } : {}),
        },
        headersTimeout: this.timeouts.headersMs,
        bodyTimeout: this.timeouts.bodyMs,
        keepAliveTimeout: KEEP_ALIVE_MS,
      });
    }
    return this.pool;
  }

  private negotiate(): Promise<EngineVersion> {
    return this.negotiated ?? this.version();
  }

  /** Sends a request under /v{apiVersion}; renegotiates once if the engine refuses that version. */
  private async versioned(spec: RequestSpec): Promise<Dispatcher.ResponseData> {
    const attempt = async (): Promise<Dispatcher.ResponseData> => {
      const { apiVersion } = await this.negotiate();
      return this.send({ ...spec, path: `/v${apiVersion}${spec.path}` });
    };
    try {
      return await attempt();
    } catch (error) {
      if (error instanceof EngineError && error.code === 'engine' && error.status !== undefined && isApiVersionRefusal(error.status, error.message)) {
        this.negotiated = undefined;
        return attempt();
      }
      throw error;
    }
  }

  private async versionedJson(spec: RequestSpec): Promise<unknown> {
    const response = await this.versioned(spec);
    return this.readJson(response, `${spec.method} ${spec.path}`);
  }

  /** One request; a 4xx/5xx becomes EngineError('engine') with the engine's message. */
  private async send(spec: RequestSpec): Promise<Dispatcher.ResponseData> {
    const path = `${spec.path}${queryString(spec.query)}`;
    const request = `${spec.method} ${spec.path}`;
    let response: Dispatcher.ResponseData;
    try {
      response = await this.getPool().request({
        method: spec.method,
        path,
        headers: spec.body === undefined ? {} : { 'content-type': 'application/json' },
        ...(spec.body === undefined ? {} : { body: JSON.stringify(spec.body) }),
        headersTimeout: spec.headersTimeoutMs ?? this.timeouts.headersMs,
        bodyTimeout: spec.bodyTimeoutMs ?? this.timeouts.bodyMs,
        ...(spec.signal ? { signal: spec.signal } : {}),
      });
    } catch (error) {
      if (isAbort(error, spec.signal)) throw error;
      const wrapped = this.withContext(error, request);
      // The engine may have restarted (or been replaced by another version): ask again next time.
      if (wrapped instanceof EngineError && wrapped.code === 'unreachable') this.negotiated = undefined;
      throw wrapped;
    }
    if (response.statusCode >= 400) {
      const text = await this.readText(response, request).catch(() => '');
      throw engineRefusal(response.statusCode, text, { address: this.address.text, request });
    }
    return response;
  }

  private async readText(response: Dispatcher.ResponseData, request: string): Promise<string> {
    const chunks: Buffer[] = [];
    let bytes = 0;
    try {
      for await (const chunk of response.body) {
        bytes += (chunk as Buffer).length;
        if (bytes > this.maxResponseBytes) {
          response.body.destroy();
          throw this.protocol(request, `sent more than ${this.maxResponseBytes} bytes`);
        }
        chunks.push(chunk as Buffer);
      }
    } catch (error) {
      throw this.withContext(error, request);
    }
    return Buffer.concat(chunks).toString('utf8');
  }

  private async readJson(response: Dispatcher.ResponseData, request: string): Promise<unknown> {
    const text = await this.readText(response, request);
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw this.protocol(request, `answered with something that is not JSON, starting ${firstBytes(text)}`);
    }
  }
}

/** GET /events as an async iterator; see EngineClient.events. */
export class EngineEventStream implements AsyncIterableIterator<EngineEvent> {
  /** Resolves once the engine has answered the subscription; rejects as next() would. */
  readonly ready: Promise<void>;
  private readonly controller = new AbortController();
  private readonly response: Promise<Dispatcher.ResponseData>;
  private readonly splitter = new JsonLineSplitter();
  private readonly queue: EngineEvent[] = [];
  private body: AsyncIterator<unknown> | undefined;
  private finished = false;
  /** Thrown by next() once the events before it are delivered. */
  private failure: Error | undefined;
  private reading: Promise<IteratorResult<EngineEvent>> = Promise.resolve({ done: true, value: undefined });
  private readonly request = 'GET /events';

  constructor(
    private readonly client: EngineClient,
    options: EngineEventsOptions,
    signal?: AbortSignal,
  ) {
    if (signal) {
      if (signal.aborted) this.controller.abort();
      else signal.addEventListener('abort', () => this.close(), { once: true });
    }
    this.response = client.openEvents(options, this.controller.signal);
    this.ready = this.response.then(() => undefined);
    // Whoever never awaits `ready` hears the error from next(); no unhandled rejection meanwhile.
    this.ready.catch(() => undefined);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<EngineEvent>> {
    // One read at a time, in order, whatever the caller does.
    this.reading = this.reading.then(
      () => this.read(),
      () => this.read(),
    );
    return this.reading;
  }

  async return(): Promise<IteratorResult<EngineEvent>> {
    this.close();
    return { done: true, value: undefined };
  }

  /** Ends the stream: the connection is closed and the iteration ends quietly. */
  close(): void {
    if (this.finished) return;
    this.finished = true;
    this.controller.abort();
    this.response.then((response) => response.body.destroy(), () => undefined);
  }

  private async read(): Promise<IteratorResult<EngineEvent>> {
    for (;;) {
      const event = this.queue.shift();
      if (event) return { done: false, value: event };
      if (this.failure) {
        const failure = this.failure;
        this.failure = undefined;
        throw failure;
      }
      if (this.finished) return { done: true, value: undefined };
      let chunk: IteratorResult<unknown>;
      try {
        if (!this.body) this.body = (await this.response).body[Symbol.asyncIterator]();
        chunk = await this.body.next();
      } catch (error) {
        const aborted = this.controller.signal.aborted || isAbort(error, undefined);
        this.close();
        if (aborted) return { done: true, value: undefined };
        throw this.client.withContext(error, this.request);
      }
      if (chunk.done) {
        this.take(this.splitter.end());
        this.finished = true;
      } else {
        this.take(this.splitter.push(chunk.value as Buffer));
      }
    }
  }

  /** Queues decoded values; the first one that is not an event (or a line that is not JSON) ends the stream after the events before it. */
  private take(values: unknown[]): void {
    for (const value of values) {
      try {
        this.queue.push(toEngineEvent(value));
      } catch (error) {
        this.fail(error);
        return;
      }
    }
    if (this.splitter.error) this.fail(this.splitter.error);
  }

  private fail(error: unknown): void {
    if (this.failure || this.finished) return;
    this.failure = this.client.withContext(error, this.request);
    this.close();
  }
}
