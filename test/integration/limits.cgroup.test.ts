/**
 * Live limits end to end on real cgroups: the real agent, its API with real tokens, the real
 * `capstan update` binary, and the kernel's own answers (EBUSY below usage on v1, EINVAL for an
 * impossible quota). Named *.cgroup.test.ts, so it also runs inside the pure cgroup v2 kernel of
 * the VM lane: every check reads the file the hierarchy in use has.
 *
 * The machine is small and shared, so CPU shares are averaged over several collector ticks rather
 * than taken from one sample.
 */
import { execFile, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import { promisify } from 'node:util';
import test, { type ExecutionContext } from 'ava';
import { eventually, startAgentProcess, type AgentProcess } from '../helpers/agent';
import { TestCgroupTree } from '../helpers/cgroups';
import { CLI, requireCapability } from '../helpers/repo';

const execFileAsync = promisify(execFile);
const isRoot = process.getuid?.() === 0;
const MiB = 1024 * 1024;

interface ApiAnswer {
  status: number;
  body: any;
}

async function patchLimits(agent: AgentProcess, reference: string, body: unknown, token = agent.operatorToken): Promise<ApiAnswer> {
  const response = await fetch(`${agent.url}/api/v1/containers/${encodeURIComponent(reference)}/limits`, {
    method: 'PATCH',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

/** Waits until the agent's raw source lists `cgroupPath` (it appears at the next tick). */
async function waitForContainer(agent: AgentProcess, cgroupPath: string): Promise<void> {
  await eventually(async () => {
    const response = await agent.get(`/api/v1/containers/${encodeURIComponent(cgroupPath)}`, agent.viewerToken);
    return response.status === 200 ? true : undefined;
  }, 60_000, `the agent to list ${cgroupPath}`);
}

/** One collector tick of a cgroup, as the API reports it. */
interface CpuSample {
  /** When the tick started. Units: milliseconds since the Unix epoch. */
  timestampMs: number;
  /** Cumulative CPU time. Units: seconds. */
  usageSeconds: number;
  /** docker stats' CPU % for the tick (Δcgroup ÷ Δhost CPU time × CPUs). Units: percent. */
  apiPercent?: number;
}

/**
 * The share of one CPU a cgroup used between two ticks: Δ cpuUsageSeconds ÷ Δ tick time, both
 * from the API. This is what a CFS quota bounds. docker's CPU % (logged alongside) divides by the
 * host's CPU time instead, which leaves out steal time, so it reads high on a virtual machine whose
 * hypervisor steals (this one: ~20 % under load). A tick's files are read a little after the tick
 * starts, by a varying delay on a loaded machine, so rates are taken over two or more ticks.
 * Units: percent of one CPU.
 */
function cpuRate(from: CpuSample, to: CpuSample): number {
  return ((to.usageSeconds - from.usageSeconds) / ((to.timestampMs - from.timestampMs) / 1000)) * 100;
}

/** Follows one cgroup's stats tick by tick through the API. */
class CpuFollower {
  private lastTimestampMs = -1;

  constructor(
    private readonly agent: AgentProcess,
    private readonly cgroupPath: string,
  ) {}

  /** The next tick after the one returned last. */
  async next(timeoutMs = 20_000): Promise<CpuSample> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (Date.now() > deadline) throw new Error(`no new CPU sample of ${this.cgroupPath} within ${timeoutMs} ms`);
      const response = await this.agent.get(`/api/v1/containers/${encodeURIComponent(this.cgroupPath)}`, this.agent.viewerToken);
      const { stats } = (await response.json()) as { stats: { timestampMs: number; cpuPercent?: number; cpuUsageSeconds?: number } };
      if (stats.cpuUsageSeconds !== undefined && stats.timestampMs !== this.lastTimestampMs) {
        this.lastTimestampMs = stats.timestampMs;
        const sample: CpuSample = { timestampMs: stats.timestampMs, usageSeconds: stats.cpuUsageSeconds };
        if (stats.cpuPercent !== undefined) sample.apiPercent = stats.cpuPercent;
        return sample;
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  async ticks(count: number): Promise<CpuSample[]> {
    const samples: CpuSample[] = [];
    while (samples.length < count) samples.push(await this.next());
    return samples;
  }
}

const docker = (samples: CpuSample[]): string => samples.map((s) => (s.apiPercent === undefined ? '--' : s.apiPercent.toFixed(1))).join(', ');

/**
 * Two-tick window rates over up to `maxTicks` ticks, stopping early after three windows once
 * one is within `target ± tolerance`. Units: percent of one CPU.
 */
async function atTheCap(cpu: CpuFollower, target: number, tolerance: number, first?: CpuSample, maxTicks = 8) {
  const samples: CpuSample[] = first ? [first] : [await cpu.next()];
  const windows: number[] = [];
  let reached = false;
  while (samples.length < maxTicks) {
    samples.push(await cpu.next());
    if (samples.length < 3) continue;
    const rate = cpuRate(samples[samples.length - 3]!, samples[samples.length - 1]!);
    windows.push(rate);
    if (Math.abs(rate - target) <= tolerance) reached = true;
    if (reached && windows.length >= 3) break;
  }
  return { reached, windows, samples };
}

function readFile(tree: TestCgroupTree, cgroupPath: string, v1Controller: 'cpu' | 'memory' | 'pids', file: string): string {
  return tree.manager.readControl(tree.layout.controllersOn === 2 ? 'unified' : v1Controller, cgroupPath, file);
}

/** The memory limit in force, in bytes; null = unlimited. */
function memoryLimit(tree: TestCgroupTree, cgroupPath: string): number | null {
  const text = readFile(tree, cgroupPath, 'memory', tree.layout.controllersOn === 2 ? 'memory.max' : 'memory.limit_in_bytes');
  if (text === 'max') return null;
  const bytes = Number(text);
  return bytes >= 2 ** 62 ? null : bytes;
}

function memoryUsage(tree: TestCgroupTree, cgroupPath: string): number {
  return Number(readFile(tree, cgroupPath, 'memory', tree.layout.controllersOn === 2 ? 'memory.current' : 'memory.usage_in_bytes'));
}

async function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileAsync(process.execPath, [CLI, ...args]);
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? -1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

function skipWithoutRoot(t: ExecutionContext): boolean {
  if (requireCapability(isRoot, 'root (real cgroups)')) return false;
  t.log('skipped: needs root');
  t.pass();
  return true;
}

/**
 * One agent for the whole file: starting one takes a minute inside the emulated v2 VM, and the
 * tests run one after another anyway. It is started before any workload, so a busy loop cannot
 * slow its start.
 */
const sharedAgentTeardowns: Array<() => unknown> = [];
let sharedAgent: Promise<AgentProcess> | undefined;

function agentForTests(): Promise<AgentProcess> {
  sharedAgent ??= startAgentProcess({ teardown: (fn: () => unknown) => sharedAgentTeardowns.push(fn) } as unknown as ExecutionContext, [
    '--interval',
    '1s',
  ]);
  return sharedAgent;
}

test.before(async () => {
  if (isRoot) await agentForTests();
});

test.after.always(async () => {
  for (const teardown of sharedAgentTeardowns.reverse()) await teardown();
});

test.serial('a busy loop capped at --cpus 0.2 runs at 20 %; `capstan update --cpus 0.5` brings it to 50 % and the quota file follows', async (t) => {
  if (skipWithoutRoot(t)) return;
  const tree = TestCgroupTree.forTest(t);
  const busy = tree.child('busy');
  await tree.busyLoop(busy);
  const agent = await agentForTests();
  await waitForContainer(agent, busy);

  // A cap is a ceiling, not a guarantee: on a shared, overloaded machine the loop could get less
  // than its quota. The highest weight for the test's own parent (written directly) and for the
  // loop (through the API, which also exercises --cpu-shares) makes the cap what is measured.
  if (tree.layout.controllersOn === 2) tree.manager.writeControl('unified', tree.root, 'cpu.weight', '10000');
  else tree.manager.writeControl('cpu', tree.root, 'cpu.shares', '262144');
  const first = await patchLimits(agent, busy, { cpus: 0.2, cpuShares: 262144 });
  t.is(first.status, 200, JSON.stringify(first.body));
  t.is(first.body.limits.cpus, 0.2);
  t.deepEqual(first.body.clamped, []);
  if (tree.layout.controllersOn === 2) t.is(readFile(tree, busy, 'cpu', 'cpu.weight'), '10000');
  else t.is(readFile(tree, busy, 'cpu', 'cpu.shares'), '262144');
  // Let one full tick pass at the new cap, then measure over two-tick windows. A cap is a
  // ceiling: no window may exceed it, and the loop must reach it in some window (a starved
  // machine — the emulated VM on a loaded host — can hold it below for a while).
  const cpu = new CpuFollower(agent, busy);
  await cpu.next();
  const capped = await atTheCap(cpu, 20, 5);
  t.log(`at --cpus 0.2: windows ${capped.windows.map((r) => r.toFixed(1)).join(', ')} % of a CPU (docker formula per tick: ${docker(capped.samples)})`);
  t.true(capped.reached, `CPU never within 20 ± 5 %: ${capped.windows.join(', ')}`);
  t.true(capped.windows.every((r) => r <= 25), `CPU above the 0.2 cap: ${capped.windows.join(', ')}`);

  const cli = await runCli(['update', '--cpus', '0.5', '--state-dir', agent.stateDir, busy]);
  const changedAt = Date.now();
  t.is(cli.code, 0, cli.stderr);
  t.is(cli.stdout, `${busy}\n`);
  if (tree.layout.controllersOn === 2) {
    t.is(readFile(tree, busy, 'cpu', 'cpu.max'), '50000 100000');
  } else {
    t.is(readFile(tree, busy, 'cpu', 'cpu.cfs_quota_us'), '50000');
    t.is(readFile(tree, busy, 'cpu', 'cpu.cfs_period_us'), '100000');
  }

  // Within three ticks (3 s at --interval 1s): from the first tick that starts after the update,
  // the rate over the next one or two ticks is the new cap.
  let start: CpuSample;
  do start = await cpu.next();
  while (start.timestampMs <= changedAt);
  const second = await cpu.next();
  const third = await cpu.next();
  const oneTick = cpuRate(start, second);
  const twoTicks = cpuRate(start, third);
  t.log(
    `after --cpus 0.5: ${oneTick.toFixed(1)} % over 1 tick, ${twoTicks.toFixed(1)} % over 2 ticks, ` +
      `by ${third.timestampMs - changedAt} ms after the update (docker formula: ${docker([second, third])})`,
  );
  t.true(Math.abs(oneTick - 50) <= 8 || Math.abs(twoTicks - 50) <= 8, `CPU ${oneTick.toFixed(1)} / ${twoTicks.toFixed(1)} % should be 50 ± 8`);
  const settled = await atTheCap(cpu, 50, 8, third);
  t.log(`then: windows ${settled.windows.map((r) => r.toFixed(1)).join(', ')} % (docker formula per tick: ${docker(settled.samples)})`);
  t.true(settled.reached, `CPU not within 50 ± 8 % again: ${settled.windows.join(', ')}`);
  t.true(settled.windows.every((r) => r <= 58), `CPU above the 0.5 cap: ${settled.windows.join(', ')}`);
});

test.serial('memory below the current usage is refused with the usage, and the old limit stays in the file', async (t) => {
  if (skipWithoutRoot(t)) return;
  const tree = TestCgroupTree.forTest(t);
  const hog = tree.child('hog');
  const holder: ChildProcess = await tree.holdMemory(hog, 64);
  await eventually(async () => (memoryUsage(tree, hog) >= 64 * MiB ? true : undefined), 30_000, 'the holder to touch 64 MiB');
  const agent = await agentForTests();
  await waitForContainer(agent, hog);

  const raised = await patchLimits(agent, hog, { memory: '256m' });
  t.is(raised.status, 200, JSON.stringify(raised.body));
  t.is(memoryLimit(tree, hog), 256 * MiB);

  const refused = await patchLimits(agent, hog, { memory: '16m' });
  t.is(refused.status, 409, JSON.stringify(refused.body));
  t.is(refused.body.error.code, 'memory_below_usage');
  t.regex(refused.body.error.message, /^unable to set memory limit to 16777216 \(current usage: \d+, peak usage: (\d+|unknown)\)/);
  const usageInMessage = Number(/current usage: (\d+)/.exec(refused.body.error.message)![1]);
  t.true(usageInMessage >= 64 * MiB, `usage in the message (${usageInMessage}) should be at least what the holder touched`);
  t.is(memoryLimit(tree, hog), 256 * MiB, 'the old limit must still be in the file');
  t.is(holder.exitCode, null, 'nothing was killed');

  if (tree.layout.controllersOn === 2) {
    // v2 only refuses because capstan checks; forced, the kernel reclaims and OOM-kills our holder.
    const exited = new Promise((resolve) => holder.once('exit', (_code, signal) => resolve(signal)));
    const forced = await patchLimits(agent, hog, { memory: '16m', force: true });
    t.is(forced.status, 200, JSON.stringify(forced.body));
    t.is(memoryLimit(tree, hog), 16 * MiB);
    t.is(await exited, 'SIGKILL', 'the holder is OOM-killed by the kernel');
  } else {
    // v1: the kernel itself refuses (EBUSY), so --force changes nothing.
    const forced = await patchLimits(agent, hog, { memory: '16m', force: true });
    t.is(forced.status, 409);
    t.is(memoryLimit(tree, hog), 256 * MiB);
  }
});

test.serial('bad input: docker\'s message with 400 and nothing changed, viewer 403, unknown 404, CLI exit 1', async (t) => {
  if (skipWithoutRoot(t)) return;
  const tree = TestCgroupTree.forTest(t);
  const quiet = tree.child('quiet');
  const agent = await agentForTests();
  await waitForContainer(agent, quiet);
  const pidsBefore = readFile(tree, quiet, 'pids', 'pids.max');
  const memoryBefore = memoryLimit(tree, quiet);

  const tooSmall = await patchLimits(agent, quiet, { memory: '4m', pidsLimit: 50 });
  t.is(tooSmall.status, 400);
  t.deepEqual(tooSmall.body.error, { code: 'invalid_limit', message: 'Minimum memory limit allowed is 6MB', flag: '--memory' });
  const tooMany = await patchLimits(agent, quiet, { cpus: 1000 });
  t.is(tooMany.status, 400);
  t.regex(tooMany.body.error.message, /^range of CPUs is from 0\.01 to (\d+)\.00, as there are only \1 CPUs available$/);
  const malformed = await patchLimits(agent, quiet, { memory: '1.2.3m' });
  t.is(malformed.status, 400);
  t.is(malformed.body.error.message, 'invalid argument "1.2.3m" for "--memory" flag: strconv.ParseFloat: parsing "1.2.3": invalid syntax');
  t.is(readFile(tree, quiet, 'pids', 'pids.max'), pidsBefore);
  t.is(memoryLimit(tree, quiet), memoryBefore);

  const viewer = await patchLimits(agent, quiet, { pidsLimit: 50 }, agent.viewerToken);
  t.is(viewer.status, 403);
  t.is(readFile(tree, quiet, 'pids', 'pids.max'), pidsBefore);
  const unknown = await patchLimits(agent, 'no-such-container-here', { pidsLimit: 50 });
  t.is(unknown.status, 404);

  const cliInvalid = await runCli(['update', '--memory', '4m', '--state-dir', agent.stateDir, quiet, 'no-such-container-here']);
  t.is(cliInvalid.code, 1);
  t.is(cliInvalid.stdout, '');
  t.is(cliInvalid.stderr, 'Error response from daemon: Minimum memory limit allowed is 6MB\nError response from daemon: No such container: no-such-container-here\n');
  const cliMalformed = await runCli(['update', '--memory', 'lots', '--state-dir', agent.stateDir, quiet]);
  t.is(cliMalformed.code, 125);
  t.is(cliMalformed.stderr, `invalid argument "lots" for "-m, --memory" flag: invalid size: 'lots'\nSee 'capstan update --help'.\n`);

  // One good and one unknown container: the good one is updated and printed, the run still fails.
  const mixed = await runCli(['update', '--pids-limit', '64', '--state-dir', agent.stateDir, quiet, 'no-such-container-here']);
  t.is(mixed.code, 1);
  t.is(mixed.stdout, `${quiet}\n`);
  t.is(mixed.stderr, 'Error response from daemon: No such container: no-such-container-here\n');
  t.is(readFile(tree, quiet, 'pids', 'pids.max'), '64');

  // A cgroup removed after the agent listed it: a clear 404 (whether or not a tick has passed
  // since), and the agent carries on.
  const doomed = tree.child('doomed');
  await waitForContainer(agent, doomed);
  for (const { directory } of tree.manager.directories(doomed)) fs.rmdirSync(directory);
  const gone = await patchLimits(agent, doomed, { pidsLimit: 10 });
  t.is(gone.status, 404, JSON.stringify(gone.body));
  t.regex(gone.body.error.message, /^No such container: /);
  t.is((await agent.get('/healthz')).status, 200);
});

test.serial('the kernel refusing the second write of an update rolls the first one back (real EINVAL)', async (t) => {
  if (skipWithoutRoot(t)) return;
  const tree = TestCgroupTree.forTest(t);
  const target = tree.child('rollback');
  const agent = await agentForTests();
  await waitForContainer(agent, target);
  const memoryBefore = memoryLimit(tree, target);

  // Memory is written before cpu on both hierarchies (runc's order). A quota of 2^45 µs passes
  // Docker's validation (no upper bound) but is above the kernel's 2^44 − 1 µs: EINVAL.
  const answer = await patchLimits(agent, target, { memory: '64m', cpuQuota: 2 ** 45 });
  t.is(answer.status, 400, JSON.stringify(answer.body));
  t.is(answer.body.error.code, 'kernel_refused');
  t.is(answer.body.error.errno, 'EINVAL');
  const memoryFile = tree.layout.controllersOn === 2 ? 'memory.max' : 'memory.limit_in_bytes';
  t.deepEqual(
    answer.body.error.rolledBack.map((entry: { file: string; error?: string }) => [entry.file, entry.error]),
    [[memoryFile, undefined]],
  );
  t.regex(answer.body.error.message, new RegExp(`rolled back: ${memoryFile.replace(/\./g, '\\.')} restored to`));
  t.is(memoryLimit(tree, target), memoryBefore, 'the memory limit written first is restored');

  // The same pair with a valid quota goes through, proving the refusal was the kernel's.
  const ok = await patchLimits(agent, target, { memory: '64m', cpuQuota: 50_000 });
  t.is(ok.status, 200, JSON.stringify(ok.body));
  t.is(memoryLimit(tree, target), 64 * MiB);
});
