/**
 * cli: `capstan X` against `docker X` as whole processes, as a user (or a script) types them, in
 * one run (issue 18, item 7):
 *
 *   ps · inspect NAME · top NAME · port NAME · logs NAME · stats --no-stream · run --rm IMAGE true
 *
 * capstan: the `capstan` program itself (bin/capstan, package.json's "bin": the native client,
 * which has the agent run the commands it serves and becomes the Node CLI for the others, here
 * `run`) against a private agent (BenchAgent, its own state directory and cgroup parent). docker: Debian's /usr/bin/docker by path
 * against a private dockerd (test/helpers/engines.ts: own data root and socket), `-H unix://SOCK`.
 * Both hold the same busybox container (`sleep`, detached, one line of log) made from the same
 * rootfs. Every round runs each (command, tool) pair once, in a new random order, so the shared
 * machine's noise and docker's background clean-up after `run --rm` land on all alike.
 *
 * Memory and CPU: the CLI process's peak RSS and its user + system time (wait4's rusage, read by
 * GNU time's %M, %U and %S), measured in rounds of their own so that time's extra fork does not
 * enter the timings. On a machine whose CPUs are always busy, wall time follows CPU time.
 *
 * Targets: every command at most 0.7× docker's median time, and capstan's CLI RSS no higher than
 * docker's. docker is required here (the benchmark has no other baseline).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { writeBusyboxImages } from '../helpers/busybox-image';
import { PROGRAM, REPO_ROOT } from '../helpers/repo';
import { BenchAgent } from './agent';
import { dockerCli, dockerUnavailable, startBenchDockerd } from './dockerd';
import { CgroupParent, TempDirectory } from './resources';
import { formatMs, formatRatio, interleave, percentile, summarize, type Benchmark, type BenchResult, type Summary, type TargetCheck } from './harness';

const ROUNDS = Number(process.env['CAPSTAN_BENCH_CLI_ROUNDS'] ?? 15);
const WARMUP_ROUNDS = 2;
const RSS_ROUNDS = 5;
const IMAGE = 'capstan-bench/busybox:cli';
const NAME = 'capstan-bench-cli';
const TIME_TARGET = 0.7;
const GNU_TIME = '/usr/bin/time';

interface DebianHelpers {
  ensureDebianPackages(names: string[], options?: { log?: (message: string) => void }): void;
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const debian = require(path.join(REPO_ROOT, 'scripts/lib/debian.js')) as DebianHelpers;

/** The commands compared, as argument lists shared by both tools. */
const COMMANDS: ReadonlyArray<{ label: string; args: readonly string[] }> = [
  { label: 'ps', args: ['ps'] },
  { label: 'inspect', args: ['inspect', NAME] },
  { label: 'top', args: ['top', NAME] },
  { label: 'port', args: ['port', NAME] },
  { label: 'logs', args: ['logs', NAME] },
  { label: 'stats --no-stream', args: ['stats', '--no-stream'] },
  { label: 'run --rm true', args: ['run', '--rm', IMAGE, 'true'] },
];

interface Finished {
  /** Units: milliseconds. */
  elapsedMs: number;
  stdout: string;
  stderr: string;
}

/** Spawns a program, resolves when it has exited with 0 (anything else is an error naming it). */
function runTimed(command: string, args: readonly string[], env?: NodeJS.ProcessEnv): Promise<Finished> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(command, [...args], { stdio: ['ignore', 'pipe', 'pipe'], ...(env ? { env } : {}) });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (chunk: Buffer) => (stdout = (stdout + chunk.toString()).slice(-16_000)));
    child.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
    child.once('error', reject);
    child.once('close', (code, signal) => {
      const elapsedMs = performance.now() - started;
      if (code === 0) resolve({ elapsedMs, stdout, stderr });
      else reject(new Error(`${command} ${args.join(' ')} exited ${code ?? signal}: ${stderr.trim()}`));
    });
  });
}

interface Usage {
  /** Peak RSS (wait4's ru_maxrss). Units: bytes. */
  maxRssBytes: number;
  /** User + system CPU time (GNU time prints it to 10 ms). Units: milliseconds. */
  cpuMs: number;
}

/** What the process `command args` used, read by GNU time (%M, %U, %S) from wait4's rusage. */
/** Clock ticks per second of /proc/PID/stat's times (USER_HZ, 100 on Linux). */
const USER_HZ = 100;

/**
 * CPU time of a server and its live descendants (utime + stime + cutime + cstime of each, so the
 * children it reaped count too). Units: milliseconds, at /proc's 10 ms granularity.
 */
function treeCpuMs(rootPid: number): number {
  const parentOf = new Map<number, number>();
  const ticksOf = new Map<number, number>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    // Fields after the command name in parentheses (which may hold spaces): state is field 3.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    parentOf.set(Number(entry), Number(fields[1]));
    ticksOf.set(Number(entry), Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]));
  }
  let ticks = 0;
  for (const [pid, own] of ticksOf) {
    for (let at: number | undefined = pid; at !== undefined && at > 1; at = parentOf.get(at)) {
      if (at === rootPid) {
        ticks += own;
        break;
      }
    }
  }
  return (ticks * 1000) / USER_HZ;
}

async function resourceUsage(command: string, args: readonly string[], scratch: string, env?: NodeJS.ProcessEnv): Promise<Usage> {
  const report = path.join(scratch, `rusage-${randomBytes(4).toString('hex')}`);
  await runTimed(GNU_TIME, ['-f', '%M %U %S', '-o', report, command, ...args], env);
  const [kib, user, system] = (fs.readFileSync(report, 'utf8').trim().split('\n').pop() ?? '').split(' ').map(Number);
  fs.rmSync(report, { force: true });
  if (!Number.isFinite(kib) || kib! <= 0) throw new Error(`GNU time gave no maximum RSS for ${command} ${args.join(' ')}`);
  return { maxRssBytes: kib! * 1024, cpuMs: (user! + system!) * 1000 };
}

export const benchmark: Benchmark = {
  name: 'cli',
  description: 'capstan CLI vs docker CLI, whole processes: ps, inspect, top, port, logs, stats --no-stream, run --rm true; time and RSS',
  async run(context): Promise<BenchResult> {
    const notes: string[] = [];
    debian.ensureDebianPackages(['busybox-static', 'docker.io', 'time'], { log: context.log });
    const unavailable = dockerUnavailable();
    if (unavailable) throw new Error(`the cli benchmark compares against docker, which cannot run here: ${unavailable}`);

    const work = context.own(new TempDirectory('capstan-bench-cli-'));
    const images = writeBusyboxImages(work.path);
    const parent = context.own(new CgroupParent(`/capstan-test-bench-cli-${randomBytes(4).toString('hex')}`));
    const agent = await BenchAgent.start(['--cgroup-parent', parent.path], (a) => context.own(a));
    const docker = await startBenchDockerd(context);

    // As users type them: the `capstan` program (bin/capstan), docker's client by path with -H.
    const capstanArgs = (args: readonly string[]): [string, string[]] => [PROGRAM, ['--state-dir', agent.stateDir, ...args]];
    const dockerArgs = (args: readonly string[]): [string, string[]] => ['/usr/bin/docker', ['-H', docker.address, ...args]];
    const tools = { capstan: capstanArgs, docker: dockerArgs } as const;

    await runTimed(...capstanArgs(['image', 'import', '--name', IMAGE, images.rootfsTar]));
    await docker.importBusybox(IMAGE);
    const detached = ['run', '-d', '--name', NAME, IMAGE, 'sh', '-c', 'echo ready; exec sleep 3600'];
    await runTimed(...capstanArgs(detached));
    await dockerCli(docker, [...detached.slice(0, 1), ...docker.runFlags, ...detached.slice(1)]);
    // `run --rm` through docker carries the engine's flags (no network, its cgroup parent), as in the start bench.
    const argsFor = (tool: keyof typeof tools, args: readonly string[]): [string, string[]] =>
      tool === 'docker' && args[0] === 'run' ? dockerArgs([args[0], ...docker.runFlags, ...args.slice(1)]) : tools[tool](args);

    // Both must say the same thing before their times mean anything.
    for (const tool of ['capstan', 'docker'] as const) {
      const logs = await runTimed(...argsFor(tool, ['logs', NAME]));
      if (logs.stdout.trim() !== 'ready') throw new Error(`${tool} logs ${NAME} printed ${JSON.stringify(logs.stdout)}, not "ready"`);
      const ps = await runTimed(...argsFor(tool, ['ps']));
      if (!ps.stdout.includes(NAME)) throw new Error(`${tool} ps does not list ${NAME}:\n${ps.stdout}`);
    }

    const samples: Record<string, number[]> = {};
    const rss: Record<string, number[]> = {};
    const cpu: Record<string, number[]> = {};
    const key = (tool: string, label: string): string => `${tool} ${label}`;
    let recording = false;
    const timedSteps = COMMANDS.flatMap(({ label, args }) =>
      (['capstan', 'docker'] as const).map((tool) => async () => {
        const finished = await runTimed(...argsFor(tool, args));
        if (recording) (samples[key(tool, label)] ??= []).push(finished.elapsedMs);
      }),
    );
    // The floor of any Node CLI: node running an empty script, as capstan's #! line starts it.
    const floorEnv = { ...process.env, NODE_EXTRA_CA_CERTS: '' };
    const floorArgs = ['-e', ''];
    timedSteps.push(async () => {
      const finished = await runTimed(process.execPath, floorArgs, floorEnv);
      if (recording) (samples['node floor'] ??= []).push(finished.elapsedMs);
    });
    // The server's side of each command: the agent (which runs the served commands) and dockerd's
    // tree (containerd, and the shims and runc while they are its descendants), less what each
    // burns idle (ticks, housekeeping) over the same time, measured just before.
    const serverPid = { capstan: agent.pid, docker: docker.pid } as const;
    const idleWindowMs = 3000;
    const idleStart = { capstan: treeCpuMs(agent.pid), docker: treeCpuMs(docker.pid) };
    await new Promise((resolve) => setTimeout(resolve, idleWindowMs));
    const idleCpuPerMs = {
      capstan: (treeCpuMs(agent.pid) - idleStart.capstan) / idleWindowMs,
      docker: (treeCpuMs(docker.pid) - idleStart.docker) / idleWindowMs,
    };
    const serverCpu: Record<string, number> = {};
    const rssSteps = COMMANDS.flatMap(({ label, args }) =>
      (['capstan', 'docker'] as const).map((tool) => async () => {
        const before = treeCpuMs(serverPid[tool]);
        const startedAt = performance.now();
        const usage = await resourceUsage(...argsFor(tool, args), work.path);
        const serverMs = treeCpuMs(serverPid[tool]) - before - idleCpuPerMs[tool] * (performance.now() - startedAt);
        serverCpu[key(tool, label)] = (serverCpu[key(tool, label)] ?? 0) + serverMs / RSS_ROUNDS;
        (rss[key(tool, label)] ??= []).push(usage.maxRssBytes);
        (cpu[key(tool, label)] ??= []).push(usage.cpuMs);
      }),
    );
    rssSteps.push(async () => {
      const usage = await resourceUsage(process.execPath, floorArgs, work.path, floorEnv);
      (rss['node floor'] ??= []).push(usage.maxRssBytes);
      (cpu['node floor'] ??= []).push(usage.cpuMs);
    });
    context.log(`cli: ${WARMUP_ROUNDS} warm-up rounds, then ${ROUNDS} measured (${timedSteps.length} commands each), then ${RSS_ROUNDS} RSS rounds`);
    await interleave(WARMUP_ROUNDS, timedSteps, { shuffle: true });
    recording = true;
    await interleave(ROUNDS, timedSteps, { shuffle: true });
    await interleave(RSS_ROUNDS, rssSteps, { shuffle: true });

    const summaries: Record<string, Summary> = {};
    for (const [name, values] of Object.entries(samples)) summaries[name] = summarize(values);
    const rssMedian: Record<string, number> = {};
    for (const [name, values] of Object.entries(rss)) rssMedian[name] = percentile(values, 0.5);
    const cpuMedian = (name: string): number => percentile(cpu[name] ?? [], 0.5);
    const mib = (bytes: number | undefined): string => (bytes === undefined ? '--' : (bytes / 1024 / 1024).toFixed(1));

    const targets: TargetCheck[] = [];
    const rows = COMMANDS.map(({ label }) => {
      const mine = summaries[key('capstan', label)]!;
      const theirs = summaries[key('docker', label)]!;
      const ratio = mine.medianMs / theirs.medianMs;
      const myRss = rssMedian[key('capstan', label)]!;
      const theirRss = rssMedian[key('docker', label)]!;
      targets.push({ what: `${label}: capstan / docker time (medians)`, target: `≤ ${TIME_TARGET}×`, measured: formatRatio(ratio), met: ratio <= TIME_TARGET });
      targets.push({ what: `${label}: capstan / docker CLI RSS`, target: '≤ 1.00×', measured: formatRatio(myRss / theirRss), met: myRss <= theirRss });
      return [
        label,
        formatMs(mine.medianMs),
        formatMs(mine.p90Ms),
        formatMs(theirs.medianMs),
        formatMs(theirs.p90Ms),
        formatRatio(ratio),
        mib(myRss),
        mib(theirRss),
        `${cpuMedian(key('capstan', label)).toFixed(0)} / ${cpuMedian(key('docker', label)).toFixed(0)}`,
        `${Math.max(0, serverCpu[key('capstan', label)] ?? 0).toFixed(0)} / ${Math.max(0, serverCpu[key('docker', label)] ?? 0).toFixed(0)}`,
      ];
    });
    const floor = summaries['node floor']!;
    rows.push([
      'node -e "" (floor of a Node CLI)',
      formatMs(floor.medianMs),
      formatMs(floor.p90Ms),
      '',
      '',
      '',
      mib(rssMedian['node floor']),
      '',
      `${cpuMedian('node floor').toFixed(0)} / `,
      '',
    ]);
    notes.push('each time is spawn → exit of the whole CLI process, output read through a pipe; capstan (bin/capstan) hands each of these commands to its agent over the CLI socket, where the CLI code runs and asks the agent\'s API over loopback HTTP; docker talks to dockerd over its unix socket');
    notes.push(`server CPU: the agent's process tree and dockerd's (containerd and what is still its child), utime + stime + cutime + cstime from /proc before and after each command of the RSS rounds, less the idle rate measured over ${idleWindowMs / 1000} s before them (agent ${(idleCpuPerMs.capstan * 1000).toFixed(0)} ms/s, dockerd ${(idleCpuPerMs.docker * 1000).toFixed(0)} ms/s); mean of ${RSS_ROUNDS} rounds, 10 ms granularity each`);
    notes.push(`RSS and CPU: GNU time %M and %U+%S (wait4's rusage of the CLI process alone, not of the agent or dockerd), median of ${RSS_ROUNDS} rounds of their own`);
    if (process.env['NODE_EXTRA_CA_CERTS']) notes.push(`NODE_EXTRA_CA_CERTS is set (${process.env['NODE_EXTRA_CA_CERTS']}); the capstan launcher sets it aside`);
    return {
      name: 'cli',
      description: this.description,
      tables: [
        {
          title: `capstan vs docker CLI (${ROUNDS} rounds, shuffled; ms, MiB)`,
          columns: ['command', 'capstan median', 'p90', 'docker median', 'p90', 'capstan/docker', 'capstan RSS', 'docker RSS', 'CLI CPU ms capstan / docker', 'server CPU ms agent / dockerd'],
          rows,
        },
      ],
      targets,
      notes,
      data: { summaries, samplesMs: samples, rssBytes: rss, cpuMs: cpu, serverCpuMs: serverCpu, idleServerCpuMsPerS: { agent: idleCpuPerMs.capstan * 1000, dockerd: idleCpuPerMs.docker * 1000 }, rounds: ROUNDS },
    };
  },
};
