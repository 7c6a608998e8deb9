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
import { CLI } from './repo';

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
  const child = spawn(process.execPath, [CLI, 'agent', '--listen', '127.0.0.1:0', '--state-dir', stateDir, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
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
    }
    if (options.stateDir === undefined) fs.rmSync(stateDir, { recursive: true, force: true });
    await removeParent();
  };
  const kill = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  };
  t.teardown(stop);

  // agent.json of this agent (an earlier agent on the same state directory left its own).
  const agentFile = path.join(stateDir, 'agent.json');
  const readAgentFile = (): { url: string; pid: number } | undefined => {
    try {
      return JSON.parse(fs.readFileSync(agentFile, 'utf8')) as { url: string; pid: number };
    } catch {
      return undefined;
    }
  };
  const deadline = Date.now() + 60_000;
  let written: { url: string; pid: number } | undefined;
  while ((written = readAgentFile())?.pid !== child.pid) {
    if (child.exitCode !== null) throw new Error(`agent exited with ${child.exitCode}:\n${output}`);
    if (Date.now() > deadline) throw new Error(`agent did not start within 60 s:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const { url } = written!;
  const { tokens } = JSON.parse(fs.readFileSync(path.join(stateDir, 'tokens.json'), 'utf8')) as {
    tokens: Array<{ role: string; token: string }>;
  };
  const viewerToken = tokens.find((token) => token.role === 'viewer')!.token;
  const operatorToken = tokens.find((token) => token.role === 'operator')!.token;
  return {
    url,
    stateDir,
    cgroupParent,
    viewerToken,
    operatorToken,
    process: child,
    output: () => output,
    get: (pathname, token) => fetch(url + pathname, token ? { headers: { authorization: `Bearer ${token}` } } : {}),
    kill,
    stop,
  };
}

/** Runs `capstan ARGS` against the agent of `stateDir`; resolves with its exit code and output, never rejects. */
export function capstanCli(stateDir: string, args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, '--state-dir', stateDir, ...args], { timeout: 120_000 }, (error, stdout, stderr) => {
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

export { eventually } from './wait';
