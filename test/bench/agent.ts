/**
 * HTTP servers for benchmarks, each a child process on a free loopback port:
 * - BenchAgent: the real agent (`capstan agent`) with a private state directory. Unlike
 *   test/helpers/agent.ts it needs no ava context: the bench runner owns its lifetime.
 * - PlainServer: bare node:http answering every request with one fixed body, the cost of moving
 *   that many bytes over loopback with no framework and no rendering.
 * Both are reached through LoopbackClient, which times whole responses on one keep-alive socket.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { PROGRAM } from '../helpers/repo';
import { sleep, type Disposable } from './harness';

export interface TimedResponse {
  status: number;
  /** Size of the whole body. Units: bytes. */
  bytes: number;
  /**
   * The body, or only its last `tailBytes` when the caller asked for less: copying and decoding a
   * multi-megabyte body on every request would add client-side garbage to what is timed.
   */
  body: Buffer;
  /** From sending the request to the last byte of the body. Units: milliseconds. */
  elapsedMs: number;
  headers: http.IncomingHttpHeaders;
}

/** GETs on one kept-alive loopback socket, so every request pays the same (warm) connection cost. */
export class LoopbackClient {
  private readonly httpAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });

  constructor(readonly baseUrl: string) {
    const { hostname } = new URL(baseUrl);
    if (!['127.0.0.1', '[::1]', 'localhost'].includes(hostname)) throw new Error(`benchmarks only talk to loopback, not ${baseUrl}`);
  }

  /** GET `pathname`, reading the whole body (keeping at least its last `tailBytes`), timed on this side of the socket. */
  get(pathname: string, tailBytes = Infinity, headers: Record<string, string> = {}): Promise<TimedResponse> {
    return new Promise((resolve, reject) => {
      const started = performance.now();
      const request = http.get(this.baseUrl + pathname, { agent: this.httpAgent, headers }, (response) => {
        const chunks: Buffer[] = [];
        let kept = 0;
        let bytes = 0;
        response.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
          chunks.push(chunk);
          kept += chunk.length;
          while (chunks.length > 0 && kept - chunks[0]!.length >= tailBytes) kept -= chunks.shift()!.length;
        });
        response.on('end', () => {
          const elapsedMs = performance.now() - started;
          resolve({ status: response.statusCode ?? 0, bytes, body: Buffer.concat(chunks), elapsedMs, headers: response.headers });
        });
        response.on('error', reject);
      });
      request.on('error', reject);
      request.setTimeout(30_000, () => request.destroy(new Error(`GET ${pathname} timed out after 30 s`)));
    });
  }

  close(): void {
    this.httpAgent.destroy();
  }
}

/** Output kept from a child: the tail only, enough to explain a failure. */
function collectOutput(child: ChildProcess, onText: (text: string) => void): void {
  child.stdout!.on('data', (chunk: Buffer) => onText(chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => onText(chunk.toString()));
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

function killChildSync(child: ChildProcess): void {
  if (child.exitCode !== null || child.signalCode !== null || !child.pid) return;
  try {
    process.kill(child.pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

export class BenchAgent implements Disposable {
  readonly label: string;
  client: LoopbackClient | undefined;
  private output = '';
  private readonly child: ChildProcess;
  /** The agent's process ID (0 if the spawn failed). */
  readonly pid: number;

  private constructor(readonly stateDir: string, args: string[]) {
    // As an operator starts it (bin/capstan agent: its Node options, server/agent/heap.ts). The
    // wrapper and the #! line exec, so the PID is the agent's own.
    this.child = spawn(PROGRAM, ['agent', '--listen', '127.0.0.1:0', '--state-dir', stateDir, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.label = `agent pid ${this.child.pid} (state ${stateDir})`;
    this.pid = this.child.pid ?? 0;
    collectOutput(this.child, (text) => (this.output = (this.output + text).slice(-16 * 1024)));
  }

  /**
   * Spawns the agent and waits for its agent.json (written once it listens). `register` is called
   * before waiting, so a start that fails or is interrupted still gets cleaned up.
   */
  static async start(args: string[], register: (agent: BenchAgent) => void): Promise<BenchAgent> {
    const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'capstan-bench-agent-'));
    const agent = new BenchAgent(stateDir, args);
    register(agent);
    const agentFile = path.join(stateDir, 'agent.json');
    const deadline = Date.now() + 60_000;
    while (!fs.existsSync(agentFile)) {
      if (agent.child.exitCode !== null) throw new Error(`agent exited with ${agent.child.exitCode}:\n${agent.output}`);
      if (Date.now() > deadline) throw new Error(`agent did not start within 60 s:\n${agent.output}`);
      await sleep(100);
    }
    agent.client = new LoopbackClient((JSON.parse(fs.readFileSync(agentFile, 'utf8')) as { url: string }).url);
    return agent;
  }

  get url(): string {
    return this.client?.baseUrl ?? '';
  }

  /** What the agent printed last (for error messages). */
  recentOutput(): string {
    return this.output;
  }

  get(pathname: string, tailBytes?: number, headers?: Record<string, string>): Promise<TimedResponse> {
    if (!this.client) throw new Error('the agent has not started');
    return this.client.get(pathname, tailBytes, headers);
  }

  async dispose(): Promise<void> {
    this.client?.close();
    await stopChild(this.child);
    fs.rmSync(this.stateDir, { recursive: true, force: true });
  }

  disposeSync(): void {
    this.client?.close();
    killChildSync(this.child);
    fs.rmSync(this.stateDir, { recursive: true, force: true });
  }
}

/** node:http alone, answering every GET with `bytes` bytes of exposition-like text. */
export class PlainServer implements Disposable {
  readonly label: string;
  client: LoopbackClient | undefined;
  private output = '';
  private readonly child: ChildProcess;

  private constructor(bytes: number) {
    // The body is built once, as a string like the exporter's, and sent with the same
    // Content-Type; only express, routing and rendering are missing.
    const script = `
      const http = require('node:http');
      const line = 'container_memory_usage_bytes{id="/x",image="",name=""} 123456789\\n';
      const body = line.repeat(Math.ceil(${bytes} / line.length)).slice(0, ${bytes});
      const server = http.createServer((request, response) => {
        response.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
        response.end(body);
      });
      server.listen(0, '127.0.0.1', () => console.log('http://127.0.0.1:' + server.address().port));
      process.on('SIGTERM', () => process.exit(0));
    `;
    this.child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.label = `plain http server pid ${this.child.pid}`;
    collectOutput(this.child, (text) => (this.output = (this.output + text).slice(-16 * 1024)));
  }

  static async start(bytes: number, register: (server: PlainServer) => void): Promise<PlainServer> {
    const server = new PlainServer(bytes);
    register(server);
    const deadline = Date.now() + 30_000;
    let match: RegExpExecArray | null;
    while (!(match = /^(http:\/\/127\.0\.0\.1:\d+)$/m.exec(server.output))) {
      if (server.child.exitCode !== null) throw new Error(`plain server exited with ${server.child.exitCode}:\n${server.output}`);
      if (Date.now() > deadline) throw new Error(`plain server did not start within 30 s:\n${server.output}`);
      await sleep(20);
    }
    server.client = new LoopbackClient(match[1]!);
    return server;
  }

  get(pathname: string, tailBytes?: number): Promise<TimedResponse> {
    if (!this.client) throw new Error('the plain server has not started');
    return this.client.get(pathname, tailBytes);
  }

  async dispose(): Promise<void> {
    this.client?.close();
    await stopChild(this.child);
  }

  disposeSync(): void {
    this.client?.close();
    killChildSync(this.child);
  }
}
