/**
 * Starts the real agent binary (`capstan agent`) on a free loopback port with a private state
 * directory and a cgroup parent of its own (`/capstan-test-agent-<random>`, unless the test gives
 * `--cgroup-parent`), and stops it at the end of the test, removing both.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ExecutionContext } from 'ava';
import { detectLayout } from '../../server/cgroup/layout';
import { CgroupManager } from '../../server/cgroup/manage';
import type { CapstanEvent } from '../../server/events/types';
import { CLI, PROGRAM } from './repo';

export interface AgentProcess {
  url: string;
  stateDir: string;
  /** The agent's --cgroup-parent (its containers' parent, and the cgroup it sets block I/O accounting up in). */
  cgroupParent: string;
  viewerToken: string;
  operatorToken: string;
  process: ChildProcess;
  /** Everything the agent wrote to stderr so far. */
  output(): string;
  get(pathname: string, token?: string): Promise<Response>;
  /**
   * Stops the agent (SIGTERM) and starts a new one on the same state directory, cgroup parent and
   * flags, as after an upgrade: its containers keep running under their shims and are re-adopted.
   * `url` and `process` then name the new agent.
   */
  restart(): Promise<void>;
  /** SIGKILL, as a crash: nothing is cleaned up (a later agent on the same state directory re-adopts). */
  kill(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The flags that keep a test's agent to what the test made: a cgroup parent of its own unless the
 * test gives one (`removeParent` removes it), and no engine unless the test names one — a
 * machine's own dockerd or Podman must never be what a test sees.
 */
export function isolatedAgentArgs(extraArgs: readonly string[]): { args: string[]; cgroupParent: string; removeParent(): Promise<void> } {
  const given = extraArgs.indexOf('--cgroup-parent');
  const cgroupParent = given >= 0 ? extraArgs[given + 1]! : `/capstan-test-agent-${randomBytes(4).toString('hex')}`;
  const args = [...(given >= 0 ? [] : ['--cgroup-parent', cgroupParent])];
  for (const flag of ['--docker-host', '--podman-host']) if (!extraArgs.includes(flag)) args.push(flag, 'none');
  return {
    args: [...args, ...extraArgs],
    cgroupParent,
    // A parent the test gave is the test's own to remove.
    removeParent: async () => {
      if (given < 0) await new CgroupManager(detectLayout()).remove(cgroupParent);
    },
  };
}

export interface AgentProcessOptions {
  /** Where the state directory goes (default: the system's temp directory). */
  stateDirParent?: string;
  /** An existing state directory to run on (the caller's: kept at stop, e.g. for a second agent). */
  stateDir?: string;
}

export async function startAgentProcess(t: ExecutionContext, extraArgs: string[] = [], options: AgentProcessOptions = {}): Promise<AgentProcess> {
  const stateDir = options.stateDir ?? fs.mkdtempSync(path.join(options.stateDirParent ?? os.tmpdir(), 'capstan-agent-'));
  const { args, cgroupParent, removeParent } = isolatedAgentArgs(extraArgs);
  let output = '';
  const agentFile = path.join(stateDir, 'agent.json');

  const launch = async (): Promise<{ child: ChildProcess; url: string }> => {
    fs.rmSync(agentFile, { force: true });
    const child = spawn(process.execPath, [CLI, 'agent', '--listen', '127.0.0.1:0', '--state-dir', stateDir, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const deadline = Date.now() + 60_000;
    while (!fs.existsSync(agentFile)) {
      if (child.exitCode !== null) throw new Error(`agent exited with ${child.exitCode}:\n${output}`);
      if (Date.now() > deadline) throw new Error(`agent did not start within 60 s:\n${output}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const { url } = JSON.parse(fs.readFileSync(agentFile, 'utf8')) as { url: string };
    return { child, url };
  };
  const terminate = async (child: ChildProcess): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    await new Promise((resolve) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
      }, 5000);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve(undefined);
      });
    });
  };

  let current: { child: ChildProcess; url: string } | undefined;
  const stop = async (): Promise<void> => {
    if (current) await terminate(current.child);
    // A state directory the caller gave is the caller's (a later agent may run on it).
    if (options.stateDir === undefined) fs.rmSync(stateDir, { recursive: true, force: true });
    await removeParent();
  };
  const kill = async (): Promise<void> => {
    const child = current?.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  };
  t.teardown(stop);
  current = await launch();

  const { tokens } = JSON.parse(fs.readFileSync(path.join(stateDir, 'tokens.json'), 'utf8')) as {
    tokens: Array<{ role: string; token: string }>;
  };
  const viewerToken = tokens.find((token) => token.role === 'viewer')!.token;
  const operatorToken = tokens.find((token) => token.role === 'operator')!.token;
  const agent: AgentProcess = {
    url: current.url,
    stateDir,
    cgroupParent,
    viewerToken,
    operatorToken,
    process: current.child,
    output: () => output,
    get: (pathname, token) => fetch(agent.url + pathname, token ? { headers: { authorization: `Bearer ${token}` } } : {}),
    restart: async () => {
      if (current) await terminate(current.child);
      current = await launch();
      agent.url = current.url;
      agent.process = current.child;
    },
    kill,
    stop,
  };
  return agent;
}

/**
 * Runs `capstan ARGS` against the agent of `stateDir` as a user does (PROGRAM: the agent serves
 * the short read-only commands, Node runs the rest); resolves with its exit code and output, never
 * rejects.
 */
export function capstanCli(stateDir: string, args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(PROGRAM, ['--state-dir', stateDir, ...args], { timeout: 120_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

/** The agent's logged events from `sinceSeconds` until now that match `filter` (e.g. `event=oom`). */
export async function pastEvents(agent: Pick<AgentProcess, 'url' | 'viewerToken'>, sinceSeconds: number, filter: string): Promise<CapstanEvent[]> {
  const until = (Date.now() / 1000 + 1).toFixed(3);
  const response = await fetch(`${agent.url}/api/v1/events?since=${sinceSeconds}&until=${until}&filter=${encodeURIComponent(filter)}`, {
    headers: { authorization: `Bearer ${agent.viewerToken}` },
  });
  if (!response.ok) throw new Error(`GET /api/v1/events: ${response.status} ${await response.text()}`);
  return (await response.text()).split('\n').filter(Boolean).map((line) => JSON.parse(line) as CapstanEvent);
}

export interface ApiAnswer {
  status: number;
  /** The body parsed as JSON, undefined when it is not JSON. */
  json: unknown;
  text: string;
}

/** One API request with a bearer token; a JSON body when `body` is given. */
export async function apiRequest(url: string, token: string, method: string, pathname: string, body?: unknown, timeoutMs = 60_000): Promise<ApiAnswer> {
  const response = await fetch(url + pathname, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, json, text };
}

export { eventually } from './wait';
