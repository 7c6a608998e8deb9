/**
 * How the CLI finds and talks to the agent.
 *
 * Finding it (first match wins): --host/--token flags; CAPSTAN_HOST/CAPSTAN_TOKEN; the state
 * directory (--state-dir, CAPSTAN_STATE_DIR, default /var/lib/capstan), where the agent writes
 * agent.json ({"url","pid","startedAt"}) and tokens.json (mode 0600; we prefer the operator
 * token, else the viewer one). Every failure becomes one line that says what to do.
 *
 * Talking to it: node:http (./http.ts) with `Authorization: Bearer <token>`; agent errors arrive as
 * {"error":{"code","message"}} and are reported with docker's "Error response from daemon:"
 * prefix, which is what people who use docker expect to read.
 */
import * as fs from 'node:fs';
import type * as net from 'node:net';
import * as path from 'node:path';
import type { ContainerInfo, ContainerStats } from '../model';
import { CliError } from './errors';
import { openUpgrade, sendRequest, UpgradeRefused, type AgentRequestInit, type AgentResponse } from './http';

export const DEFAULT_STATE_DIR = '/var/lib/capstan';

/** Connection settings from the command line (all optional). */
export interface ConnectionFlags {
  host?: string;
  token?: string;
  stateDir?: string;
}

export interface AgentEndpoint {
  /** Base URL, e.g. http://127.0.0.1:9180. */
  url: string;
  /** Bearer token; undefined when none could be found and none is required to try. */
  token?: string;
  stateDir: string;
  /** The agent's process ID from agent.json, when the URL came from there. */
  pid?: number;
}

/** File and environment access, injectable for tests. */
export interface EndpointDeps {
  env: Readonly<Record<string, string | undefined>>;
  readFile(file: string): string;
}

const defaultDeps: EndpointDeps = {
  env: process.env,
  readFile: (file) => fs.readFileSync(file, 'utf8'),
};

interface TokenEntry {
  name?: string;
  role?: string;
  token?: string;
}

function errnoCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}

function readJson(file: string, deps: EndpointDeps): { ok: true; value: unknown } | { ok: false; code: string; message: string } {
  let text: string;
  try {
    text = deps.readFile(file);
  } catch (err) {
    return { ok: false, code: errnoCode(err) ?? 'EIO', message: (err as Error).message };
  }
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (err) {
    return { ok: false, code: 'EINVAL', message: `not valid JSON (${(err as Error).message})` };
  }
}

/** The operator token if there is one, else the viewer token, else the first token listed. */
export function pickToken(tokensFile: unknown): string | undefined {
  const list = (tokensFile as { tokens?: unknown } | null)?.tokens;
  if (!Array.isArray(list)) return undefined;
  const entries = list.filter((t): t is TokenEntry => typeof t === 'object' && t !== null && typeof (t as TokenEntry).token === 'string');
  return (entries.find((t) => t.role === 'operator') ?? entries.find((t) => t.role === 'viewer') ?? entries[0])?.token;
}

/** Works out the agent's URL and token. Throws CliError with a one-line explanation. */
export function resolveEndpoint(flags: ConnectionFlags, deps: EndpointDeps = defaultDeps): AgentEndpoint {
  const stateDir = flags.stateDir || deps.env.CAPSTAN_STATE_DIR || DEFAULT_STATE_DIR;
  let url = flags.host || deps.env.CAPSTAN_HOST || undefined;
  let pid: number | undefined;
  const fromState = url === undefined;

  if (url === undefined) {
    const agentFile = path.join(stateDir, 'agent.json');
    const agent = readJson(agentFile, deps);
    if (!agent.ok) {
      if (agent.code === 'ENOENT') {
        throw new CliError(`capstan: cannot find a running agent: ${agentFile} does not exist (start one with: capstan agent)`);
      }
      if (agent.code === 'EACCES' || agent.code === 'EPERM') {
        throw new CliError(`capstan: cannot read ${agentFile}: permission denied (run as root, or pass --host and --token)`);
      }
      throw new CliError(`capstan: cannot read ${agentFile}: ${agent.message}`);
    }
    const value = agent.value as { url?: unknown; pid?: unknown } | null;
    if (typeof value?.url !== 'string' || value.url === '') {
      throw new CliError(`capstan: ${agentFile} does not name the agent's URL (is the agent still starting?)`);
    }
    url = value.url;
    if (typeof value.pid === 'number') pid = value.pid;
  }

  try {
    const parsed = new URL(url);
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error('not http');
  } catch {
    throw new CliError(`capstan: invalid agent URL "${url}": expected http://HOST:PORT`);
  }

  let token = flags.token || deps.env.CAPSTAN_TOKEN || undefined;
  if (token === undefined) {
    const tokensFile = path.join(stateDir, 'tokens.json');
    const tokens = readJson(tokensFile, deps);
    if (tokens.ok) {
      token = pickToken(tokens.value);
      if (token === undefined) throw new CliError(`capstan: ${tokensFile} holds no usable token (pass --token or set CAPSTAN_TOKEN)`);
    } else if (tokens.code === 'EACCES' || tokens.code === 'EPERM') {
      throw new CliError(
        `capstan: cannot read the agent's tokens: ${tokensFile}: permission denied (it is readable by root only: run as root, or pass --token / set CAPSTAN_TOKEN)`,
      );
    } else if (fromState || tokens.code !== 'ENOENT') {
      // An agent found through its state directory always has a tokens file next to agent.json.
      const why = tokens.code === 'ENOENT' ? 'does not exist' : tokens.message;
      throw new CliError(`capstan: cannot read the agent's tokens: ${tokensFile} ${why} (pass --token or set CAPSTAN_TOKEN)`);
    }
    // --host given and no tokens file here: try without a token and let the agent say what it needs.
  }

  return { url, token, stateDir, ...(pid !== undefined ? { pid } : {}) };
}

/** One entry of GET /api/v1/containers. */
export interface ContainerEntry {
  info: ContainerInfo;
  /** null until the agent has sampled this cgroup. */
  stats: ContainerStats | null;
}

export interface ClientOptions {
  /** Per-request limit. Units: milliseconds. */
  timeoutMs?: number;
  /** Whether a process exists (for a better message when the agent has died). */
  isProcessAlive?: (pid: number) => boolean;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0); // signal 0 only checks that the process exists
    return true;
  } catch (err) {
    return errnoCode(err) === 'EPERM';
  }
}

/** "connect ECONNREFUSED" from a socket error (or a fetch failure, where undici puts it in `cause`). */
export function describeNetworkError(err: unknown): string {
  let cause = (err as { cause?: unknown })?.cause ?? err;
  if (cause instanceof AggregateError && cause.errors.length > 0 && errnoCode(cause) === undefined) cause = cause.errors[0];
  const code = errnoCode(cause);
  if (code !== undefined && code !== 'undefined') {
    const syscall = (cause as { syscall?: unknown }).syscall;
    if (typeof syscall === 'string') return `${syscall} ${code}`;
    if (cause instanceof AggregateError) return `connect ${code}`;
    return (cause as Error).message || code;
  }
  return (cause as Error)?.message ?? String(cause);
}

export class AgentClient {
  private readonly timeoutMs: number;
  private readonly isProcessAlive: (pid: number) => boolean;

  constructor(
    readonly endpoint: AgentEndpoint,
    options: ClientOptions = {},
  ) {
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.isProcessAlive = options.isProcessAlive ?? processAlive;
  }

  /**
   * Called before every request starts: a subclass refuses new requests here (a command the
   * agent serves whose client has gone, server/cli/served.ts). Throws CliError to refuse.
   */
  protected beforeRequest(): void {}

  /** GET a JSON document. Throws CliError describing what went wrong. */
  async getJson(pathAndQuery: string): Promise<unknown> {
    return this.requestJson('GET', pathAndQuery);
  }

  /** PATCH a JSON body and read the JSON answer (`capstan update`). */
  async patchJson(pathAndQuery: string, body: unknown): Promise<unknown> {
    return this.requestJson('PATCH', pathAndQuery, body);
  }

  /** One request with an optional JSON body; agent errors become CliError with docker's prefix. */
  async requestJson(method: string, pathAndQuery: string, body?: unknown): Promise<unknown> {
    return (await this.exchangeJson(method, pathAndQuery, body)).body;
  }

  /**
   * A GET that also returns the response headers (ps reads the agent's warnings there).
   * `timeoutMs` replaces the client's wait, for an answer the agent itself waits for (an engine's
   * listing). Units: milliseconds.
   */
  async getJsonWithHeaders(pathAndQuery: string, timeoutMs = this.timeoutMs): Promise<{ body: unknown; headers: Map<string, string> }> {
    return this.exchangeJson('GET', pathAndQuery, undefined, timeoutMs);
  }

  private async exchangeJson(method: string, pathAndQuery: string, body?: unknown, timeoutMs = this.timeoutMs): Promise<{ body: unknown; headers: Map<string, string> }> {
    this.beforeRequest();
    const url = this.endpoint.url.replace(/\/+$/, '') + pathAndQuery;
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.endpoint.token !== undefined) headers.authorization = `Bearer ${this.endpoint.token}`;
    const init: AgentRequestInit = { method, headers, signal: AbortSignal.timeout(timeoutMs) };
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let response: AgentResponse;
    let text: string;
    try {
      response = await sendRequest(url, init);
      text = await response.text();
    } catch (err) {
      if ((err as Error)?.name === 'TimeoutError') {
        throw new CliError(`capstan: the agent at ${this.endpoint.url} did not answer within ${timeoutMs / 1000}s`, 1, { cause: err });
      }
      let hint = '';
      if (this.endpoint.pid !== undefined && !this.isProcessAlive(this.endpoint.pid)) {
        hint = ` (agent.json names pid ${this.endpoint.pid}, which is not running; start one with: capstan agent)`;
      }
      throw new CliError(`capstan: cannot reach the agent at ${this.endpoint.url}: ${describeNetworkError(err)}${hint}`, 1, { cause: err });
    }
    let answer: unknown;
    try {
      answer = text === '' ? undefined : JSON.parse(text);
    } catch {
      answer = undefined;
    }
    if (!response.ok) {
      const error = (answer as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
      const apiCode = typeof error?.code === 'string' ? error.code : undefined;
      const options = apiCode !== undefined ? { apiCode } : {};
      if (typeof error?.message === 'string' && error.message !== '') {
        throw new CliError(`Error response from daemon: ${error.message}`, 1, options);
      }
      throw new CliError(`Error response from daemon: ${response.status} ${response.statusText}`.trimEnd(), 1, options);
    }
    if (answer === undefined) throw new CliError(`capstan: unexpected response from the agent at ${this.endpoint.url}: not JSON`);
    const responseHeaders = new Map<string, string>();
    for (const [name, value] of Object.entries(response.body?.headers ?? {})) if (typeof value === 'string') responseHeaders.set(name, value);
    return { body: answer, headers: responseHeaders };
  }

  /**
   * Like listContainers, but while the agent reports that it is still starting (no collector
   * tick yet: `capstan agent & capstan stats`), waits for it, as docker stats waits for a first
   * sample. Units: waitMs in milliseconds.
   */
  async listContainersWhenReady(all: boolean, waitMs = 10_000, signal?: AbortSignal): Promise<ContainerEntry[]> {
    const deadline = Date.now() + waitMs;
    for (;;) {
      try {
        return await this.listContainers(all);
      } catch (err) {
        const starting = err instanceof CliError && err.apiCode === 'starting';
        if (!starting || Date.now() >= deadline || signal?.aborted) throw err;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
  }

  /** Every tracked cgroup (all = true) or only containers, with their latest stats. */
  async listContainers(all: boolean): Promise<ContainerEntry[]> {
    const body = await this.getJson('/api/v1/containers' + (all ? '?all=1' : ''));
    const list = (body as { containers?: unknown }).containers;
    if (!Array.isArray(list)) throw new CliError(`capstan: unexpected response from the agent at ${this.endpoint.url}: no "containers" list`);
    return list.filter(
      (e): e is ContainerEntry => typeof e === 'object' && e !== null && typeof (e as ContainerEntry).info?.id === 'string',
    ).map((e) => ({ info: e.info, stats: e.stats ?? null }));
  }

  // ---- runtime requests (run, stop, wait, logs, attach): see server/api/containers-runtime.ts

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    const headers: Record<string, string> = { accept: 'application/json', ...extra };
    if (this.endpoint.token !== undefined) headers.authorization = `Bearer ${this.endpoint.token}`;
    return headers;
  }

  private unreachable(err: unknown, timeoutMs: number): CliError {
    if ((err as Error)?.name === 'TimeoutError') {
      return new CliError(`capstan: the agent at ${this.endpoint.url} did not answer within ${timeoutMs / 1000}s`, 1, { cause: err });
    }
    let hint = '';
    if (this.endpoint.pid !== undefined && !this.isProcessAlive(this.endpoint.pid)) {
      hint = ` (agent.json names pid ${this.endpoint.pid}, which is not running; start one with: capstan agent)`;
    }
    return new CliError(`capstan: cannot reach the agent at ${this.endpoint.url}: ${describeNetworkError(err)}${hint}`, 1, { cause: err });
  }

  /**
   * A runtime request: like requestJson, but an empty answer (204) is fine, `timeoutMs` 0 waits as
   * long as it takes (wait, stop -t 600), and a refusal is an AgentRequestError carrying the
   * agent's details (the exit code of a command that could not start).
   */
  async call(method: string, pathAndQuery: string, options: { body?: unknown; timeoutMs?: number; signal?: AbortSignal } = {}): Promise<unknown> {
    this.beforeRequest();
    const timeoutMs = options.timeoutMs ?? this.timeoutMs;
    const signals = [...(timeoutMs > 0 ? [AbortSignal.timeout(timeoutMs)] : []), ...(options.signal ? [options.signal] : [])];
    const init: AgentRequestInit = { method, headers: this.headers(options.body !== undefined ? { 'content-type': 'application/json' } : {}) };
    if (signals.length > 0) init.signal = AbortSignal.any(signals);
    if (options.body !== undefined) init.body = JSON.stringify(options.body);
    let response: AgentResponse;
    let text: string;
    try {
      response = await sendRequest(this.endpoint.url.replace(/\/+$/, '') + pathAndQuery, init);
      text = await response.text();
    } catch (err) {
      if (options.signal?.aborted) throw err;
      throw this.unreachable(err, timeoutMs);
    }
    let answer: unknown;
    try {
      answer = text === '' ? undefined : JSON.parse(text);
    } catch {
      answer = undefined;
    }
    if (!response.ok) throw agentError(response.status, response.statusText, answer);
    return answer;
  }

  /** A streaming GET of JSON lines (logs): yields each parsed line until the agent ends the response. */
  async *streamLines(pathAndQuery: string, signal?: AbortSignal): AsyncGenerator<unknown> {
    this.beforeRequest();
    let response: AgentResponse;
    try {
      response = await sendRequest(this.endpoint.url.replace(/\/+$/, '') + pathAndQuery, {
        headers: this.headers(),
        ...(signal ? { signal } : {}),
      });
    } catch (err) {
      if (signal?.aborted) return;
      throw this.unreachable(err, 0);
    }
    if (!response.ok) throw await refusal(response);
    const decoder = new TextDecoder();
    let pending = '';
    try {
      for await (const chunk of response.body as AsyncIterable<Buffer>) {
        pending += decoder.decode(chunk, { stream: true });
        let newline: number;
        while ((newline = pending.indexOf('\n')) !== -1) {
          const line = pending.slice(0, newline);
          pending = pending.slice(newline + 1);
          if (line !== '') yield JSON.parse(line) as unknown;
        }
      }
    } catch (err) {
      if (signal?.aborted) return;
      throw this.unreachable(err, 0);
    }
  }

  /** A streaming GET of bytes (export): the body once the agent has answered 200; a refusal is an AgentRequestError. */
  async download(pathAndQuery: string, signal?: AbortSignal): Promise<AsyncIterable<Buffer>> {
    this.beforeRequest();
    let response: AgentResponse;
    try {
      response = await sendRequest(this.endpoint.url.replace(/\/+$/, '') + pathAndQuery, { headers: this.headers(), ...(signal ? { signal } : {}) });
    } catch (err) {
      throw this.unreachable(err, 0);
    }
    if (!response.ok) throw await refusal(response);
    return response.body as AsyncIterable<Buffer>;
  }

  /**
   * POST with `Upgrade: capstan-attach` (attach, exec, run; `body` is sent as JSON): resolves with
   * the raw socket, paused (resume it once its 'data' listener is on), once the agent answers 101
   * Switching Protocols; any other answer becomes an AgentRequestError.
   */
  async upgrade(pathAndQuery: string, body?: unknown): Promise<net.Socket> {
    this.beforeRequest();
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    try {
      return await openUpgrade(this.endpoint.url.replace(/\/+$/, ''), pathAndQuery, this.headers(payload ? { 'content-type': 'application/json' } : {}), payload);
    } catch (err) {
      if (!(err instanceof UpgradeRefused)) throw this.unreachable(err, 0);
      let answer: unknown;
      try {
        answer = JSON.parse(err.body);
      } catch {
        answer = undefined;
      }
      throw agentError(err.head.status, err.head.statusText, answer);
    }
  }
}

/** A streaming request's refusal: the agent's JSON error document, read from the body. */
async function refusal(response: AgentResponse): Promise<unknown> {
  const text = await response.text();
  let answer: unknown;
  try {
    answer = JSON.parse(text);
  } catch {
    answer = undefined;
  }
  return agentError(response.status, response.statusText, answer);
}

/** The agent refused a request: docker's "Error response from daemon:" plus the agent's details. */
export class AgentRequestError extends CliError {
  constructor(
    message: string,
    readonly status: number,
    readonly details: Record<string, unknown>,
    apiCode: string | undefined,
  ) {
    super(message, 1, apiCode !== undefined ? { apiCode } : {});
  }

  /** The exit code of a command that could not start (126, 127), when the agent said. */
  get commandExitCode(): number | undefined {
    const value = this.details['exitCode'];
    return typeof value === 'number' ? value : undefined;
  }
}

function agentError(status: number, statusText: string, answer: unknown): AgentRequestError {
  const error = (answer as { error?: Record<string, unknown> } | undefined)?.error ?? {};
  const apiCode = typeof error['code'] === 'string' ? error['code'] : undefined;
  const message =
    typeof error['message'] === 'string' && error['message'] !== ''
      ? `Error response from daemon: ${error['message']}`
      : `Error response from daemon: ${status} ${statusText}`.trimEnd();
  return new AgentRequestError(message, status, error, apiCode);
}
