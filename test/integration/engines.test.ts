/**
 * Capstan on a host where Docker and Podman run: a real dockerd and a real Podman API service,
 * each started by this test with its own data, socket and cgroup parent (test/helpers/engines.ts),
 * and a real agent pointed at both. Docker's and Podman's containers must be named, shown and
 * changed through their engine:
 *
 * - `docker run --name web` appears by name, image and labels in `capstan ps`, the API and
 *   /metrics (cAdvisor's labels), with capstan_source_up{source="docker"} 1;
 * - inspect returns Docker's own document unchanged plus capstan's view under "Capstan"; top,
 *   logs, port and stats take the name or an id prefix;
 * - `capstan update --memory 64m web` goes through POST /containers/{id}/update: docker inspect
 *   shows Memory 67108864, Docker's own CPU period is left alone, and Docker's refusal comes back
 *   word for word with its 4xx status;
 * - an OOM kill in a Docker container is one event for its name, and one count in
 *   container_oom_events_total{name=…};
 * - `capstan stats` agrees with `docker stats` on the same containers (CPU within 5 points,
 *   memory within 2 %);
 * - while the engine is away (dockerd stopped, containers kept by --live-restore) capstan warns
 *   once, keeps the names it knows, refuses to change limits (the cgroup file is untouched) and
 *   comes back by itself when the engine does;
 * - Podman's containers (libpod-<id> cgroups) are named the same way and updated through Podman.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import test, { type ExecutionContext } from 'ava';
import { detectLayout } from '../../server/cgroup/layout';
import { CgroupManager } from '../../server/cgroup/manage';
import { startAgentProcess, type AgentProcess } from '../helpers/agent';
import { dockerAvailable, podmanAvailable, startDockerd, startPodman, type TestEngine } from '../helpers/engines';
import { CLI, requireCapability } from '../helpers/repo';
import { eventually, sleep } from '../helpers/wait';

const execFileAsync = promisify(execFile);
const IMAGE = 'capstan-test-busybox';
const MIB = 1024 * 1024;

const capable = requireCapability(dockerAvailable() && podmanAvailable(), 'root, Debian docker.io and podman, and busybox-static');
const serial = capable ? test.serial : test.skip;

interface Environment {
  docker: TestEngine;
  podman: TestEngine;
  agent: AgentProcess;
  cgroups: CgroupManager;
}

let environment: Environment | undefined;
const cleanups: Array<() => unknown> = [];
/** Clean-ups that must outlive the before hook (see prometheus.test.ts). */
const untilAfterAll = { teardown: (fn: () => unknown) => cleanups.push(fn) } as unknown as ExecutionContext;

test.before(async () => {
  if (!capable) return;
  const [docker, podman] = await Promise.all([startDockerd(cleanups), startPodman(cleanups)]);
  await Promise.all([docker.importBusybox(IMAGE), podman.importBusybox(IMAGE)]);
  const agent = await startAgentProcess(untilAfterAll, [
    '--interval', '500ms',
    '--docker-host', docker.address,
    '--podman-host', podman.address,
    '--env-metadata-whitelist', 'REGION',
  ]);
  environment = { docker, podman, agent, cgroups: new CgroupManager(detectLayout()) };
});

test.after.always(async () => {
  for (const cleanup of cleanups.reverse()) {
    try {
      await cleanup();
    } catch {
      // Keep cleaning up the rest.
    }
  }
});

function env(): Environment {
  if (!environment) throw new Error('the engines or the agent could not be started (see the before hook)');
  return environment;
}

async function capstan(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileAsync(process.execPath, [CLI, '--state-dir', env().agent.stateDir, ...args], { maxBuffer: 16 * MIB });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof failed.code === 'number' ? failed.code : 1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

async function ok(t: ExecutionContext, engine: TestEngine, args: string[]): Promise<string> {
  const result = await engine.cli(args);
  if (result.status !== 0) t.fail(`${engine.flavour} ${args.join(' ')} exited ${result.status}: ${result.stderr}`);
  return result.stdout.trim();
}

/** `run -d` with the engine's test flags (no network, the test's cgroup parent). */
async function runDetached(t: ExecutionContext, engine: TestEngine, args: string[]): Promise<string> {
  return ok(t, engine, ['run', '-d', ...engine.runFlags, ...args]);
}

async function metrics(): Promise<string> {
  return (await env().agent.get('/metrics')).text();
}

function seriesLine(text: string, name: string, labels: Record<string, string>): string | undefined {
  return text.split('\n').find((line) => line.startsWith(`${name}{`) && Object.entries(labels).every(([key, value]) => line.includes(`${key}="${value}"`)));
}

interface ApiContainer {
  info: { id: string; name: string; image: string; source: string; cgroupPath: string; labels: Record<string, string> };
}

async function apiContainer(reference: string): Promise<ApiContainer | undefined> {
  const response = await env().agent.get(`/api/v1/containers/${encodeURIComponent(reference)}`, env().agent.viewerToken);
  return response.status === 200 ? ((await response.json()) as ApiContainer) : undefined;
}

function memoryLimitFile(cgroupPath: string): string {
  const { cgroups } = env();
  return cgroups.layout.controllersOn === 2 ? cgroups.readControl('unified', cgroupPath, 'memory.max') : cgroups.readControl('memory', cgroupPath, 'memory.limit_in_bytes');
}

serial('a Docker container is named in ps, the API and /metrics, with its image, labels and allow-listed env', async (t) => {
  const { docker } = env();
  const id = await runDetached(t, docker, ['--name', 'web', '--label', 'com.example.tier=front', '-e', 'REGION=eu', '-e', 'SECRET=hunter2', IMAGE, 'sleep', '600']);
  const container = await eventually(() => apiContainer('web'), 20_000, 'the agent to name web');
  t.like(container.info, { id, name: 'web', image: IMAGE, source: 'docker' });
  t.true(container.info.cgroupPath.endsWith(id), container.info.cgroupPath);

  // ps asks Docker and Podman now; how long that took says where the time went if it fails.
  const psStartMs = Date.now();
  const ps = await capstan(['ps', '--format', '{{.Names}} {{.Image}} {{.Runtime}}']);
  t.log(`capstan ps answered in ${Date.now() - psStartMs} ms`);
  t.true(ps.stdout.split('\n').includes(`web ${IMAGE} docker`), `stdout: ${JSON.stringify(ps.stdout)}, stderr: ${JSON.stringify(ps.stderr)}`);

  // /metrics is rendered once per tick: the API may already answer from a tick that /metrics has
  // not rendered yet, so wait for a body in which web's series carries its cgroup.
  const { text, cpu } = await eventually(async () => {
    const body = await metrics();
    const line = seriesLine(body, 'container_cpu_usage_seconds_total', { name: 'web', image: IMAGE });
    return line?.includes(`id="${container.info.cgroupPath}"`) ? { text: body, cpu: line } : undefined;
  }, 20_000, `container_cpu_usage_seconds_total{name="web",id="${container.info.cgroupPath}"} in /metrics`);
  t.true(cpu!.includes('container_label_com_example_tier="front"'), cpu);
  t.true(cpu!.includes('container_env_REGION="eu"'), cpu);
  t.false(text.includes('hunter2'), 'an env value not on the allow-list never leaves the agent');
  t.truthy(seriesLine(text, 'capstan_source_up', { source: 'docker' })?.endsWith(' 1'));
});

serial('inspect is Docker\'s own document plus capstan\'s view; top, logs and stats take the name or an id prefix', async (t) => {
  const { docker } = env();
  const id = await runDetached(t, docker, ['--name', 'talker', IMAGE, 'sh', '-c', 'echo hello from talker; echo oops >&2; exec sleep 600']);
  await eventually(() => apiContainer('talker'), 20_000, 'the agent to name talker');
  const [ours] = JSON.parse((await capstan(['inspect', 'talker'])).stdout) as Array<Record<string, unknown>>;
  const [theirs] = JSON.parse(await ok(t, docker, ['inspect', 'talker'])) as Array<Record<string, unknown>>;
  const { Capstan: view, ...document } = ours!;
  t.deepEqual(document, theirs, 'Docker\'s document, unchanged');
  t.like(view as object, { owner: 'docker' });
  t.true(String((view as { cgroupPath: string }).cgroupPath).endsWith(id));

  const prefix = id.slice(0, 10);
  const top = await capstan(['top', prefix]);
  t.is(top.code, 0, top.stderr);
  t.regex(top.stdout, /sleep 600/);
  const logs = await capstan(['logs', 'talker']);
  t.is(logs.stdout, 'hello from talker\n');
  t.is(logs.stderr, 'oops\n');
  // --no-stream shows the latest tick's sample: the first one may have caught the container while
  // runc's (multi-threaded) init was still in its cgroup, so wait for one from after the start.
  const stats = await eventually(async () => {
    const answer = await capstan(['stats', '--no-stream', '--format', '{{.Name}} {{.PIDs}}', prefix]);
    return answer.stdout.trim() === 'talker 1' ? answer : undefined;
  }, 10_000, 'capstan stats PREFIX to show talker with its one process').catch(async () => capstan(['stats', '--no-stream', '--format', '{{.Name}} {{.PIDs}}', prefix]));
  t.is(stats.stdout.trim(), 'talker 1');
});

serial('capstan update goes through Docker: docker inspect shows it, Docker\'s period stays, its refusal comes back', async (t) => {
  const { docker } = env();
  await runDetached(t, docker, ['--name', 'limited', '--cpu-period', '200000', '--cpu-quota', '100000', IMAGE, 'sleep', '600']);
  const container = await eventually(() => apiContainer('limited'), 20_000, 'the agent to name limited');
  const update = await capstan(['update', '--memory', '64m', 'limited']);
  t.is(update.code, 0, update.stderr);
  const [inspected] = JSON.parse(await ok(t, docker, ['inspect', 'limited'])) as Array<{ HostConfig: { Memory: number; CpuPeriod: number; CpuQuota: number } }>;
  t.is(inspected!.HostConfig.Memory, 64 * MIB);
  t.is(inspected!.HostConfig.CpuPeriod, 200_000, 'Docker\'s period is left alone');
  t.is(memoryLimitFile(container.info.cgroupPath), String(64 * MIB), 'the cgroup file read back');
  if (env().cgroups.layout.controllersOn === 1) t.is(env().cgroups.readControl('cpu', container.info.cgroupPath, 'cpu.cfs_period_us'), '200000');

  // Docker's own words, with its status: the same message `docker update` prints.
  const refused = await capstan(['update', '--memory', '1m', '--memory-swap', '-1', 'limited']);
  const dockerSays = await docker.cli(['update', '--memory', '1m', '--memory-swap', '-1', 'limited']);
  t.not(refused.code, 0);
  t.not(dockerSays.status, 0);
  t.is(refused.stderr.trim().split('\n')[0], dockerSays.stderr.trim().split('\n')[0]);
  t.is(memoryLimitFile(container.info.cgroupPath), String(64 * MIB), 'nothing changed');
});

serial('an OOM kill in a Docker container is one event for its name and one count in /metrics', async (t) => {
  const { docker, agent } = env();
  const since = Math.floor(Date.now() / 1000) - 1;
  // The shell outlives its child, so the container (and its series) stay after the kill.
  await runDetached(t, docker, ['--name', 'oomer', '--memory', '32m', '--memory-swap', '32m', IMAGE, 'sh', '-c', 'tail /dev/zero; exec sleep 600']);
  await eventually(async () => {
    const events = await capstan(['events', '--since', String(since), '--until', String(Math.ceil(Date.now() / 1000)), '--format', '{{.Action}} {{.Actor.Attributes.name}}']);
    return events.stdout.includes('oom oomer') ? true : undefined;
  }, 30_000, 'the oom event for oomer');
  await sleep(3000); // a late second report would show by now: the engine's, the counters' confirmation window, a tick
  const events = await capstan(['events', '--since', String(since), '--until', String(Math.ceil(Date.now() / 1000)), '--format', '{{.Action}} {{.Actor.Attributes.name}}']);
  t.deepEqual(events.stdout.split('\n').filter((line) => line === 'oom oomer'), ['oom oomer'], events.stdout);
  const count = seriesLine(await metrics(), 'container_oom_events_total', { name: 'oomer' });
  t.truthy(count?.endsWith(' 1'), count ?? 'no container_oom_events_total{name="oomer"}');
  void agent;
});

serial('exited Docker containers keep their series, with state, exit code and reason, until docker rm', async (t) => {
  const { docker } = env();
  // One lives through a few ticks (its last values are kept), one is OOM-killed at once (PID 1
  // eats memory): its cgroup is gone before any tick.
  await runDetached(t, docker, ['--name', 'finisher', IMAGE, 'sh', '-c', 'sleep 2; exit 3']);
  await runDetached(t, docker, ['--name', 'oom-at-once', '--memory', '32m', '--memory-swap', '32m', IMAGE, 'tail', '/dev/zero']);
  const exited = await eventually(async () => {
    const text = await metrics();
    const done = ['finisher', 'oom-at-once'].every((name) => seriesLine(text, 'container_state', { name, state: 'exited' })?.endsWith(' 1'));
    return done ? text : undefined;
  }, 30_000, 'both exited in /metrics');
  t.truthy(seriesLine(exited, 'container_exit_code', { name: 'finisher' })?.endsWith(' 3'));
  t.truthy(seriesLine(exited, 'container_terminated_reason', { name: 'finisher', reason: 'Error' })?.endsWith(' 1'));
  t.truthy(seriesLine(exited, 'container_cpu_usage_seconds_total', { name: 'finisher' }), 'its last values are kept');
  t.truthy(seriesLine(exited, 'container_state', { name: 'finisher', state: 'running' })?.endsWith(' 0'));
  t.truthy(seriesLine(exited, 'container_exit_code', { name: 'oom-at-once' })?.endsWith(' 137'));
  t.truthy(seriesLine(exited, 'container_terminated_reason', { name: 'oom-at-once', reason: 'OOMKilled' })?.endsWith(' 1'));
  await eventually(async () => (seriesLine(await metrics(), 'container_oom_events_total', { name: 'oom-at-once' })?.endsWith(' 1') ? true : undefined), 15_000, 'its OOM kill counted');
  const lastSeen = seriesLine(exited, 'container_last_seen', { name: 'finisher' });
  await sleep(1500); // three ticks
  t.is(seriesLine(await metrics(), 'container_last_seen', { name: 'finisher' }), lastSeen, 'last_seen stays at the last tick that saw it');

  await ok(t, docker, ['rm', 'finisher', 'oom-at-once']);
  await eventually(async () => {
    const text = await metrics();
    return ['finisher', 'oom-at-once'].some((name) => text.includes(`name="${name}"`)) ? undefined : true;
  }, 15_000, 'their series gone after docker rm');
});

serial('capstan stats agrees with docker stats: CPU within 5 points, memory within 2 %', async (t) => {
  const { docker } = env();
  await runDetached(t, docker, ['--name', 'burner', '--cpus', '0.5', IMAGE, 'sh', '-c', 'while :; do :; done']);
  await runDetached(t, docker, ['--name', 'holder', '--shm-size', '128m', IMAGE, 'sh', '-c', 'dd if=/dev/zero of=/dev/shm/fill bs=1M count=48 status=none; exec sleep 600']);
  await eventually(async () => ((await apiContainer('burner')) && (await apiContainer('holder')) ? true : undefined), 20_000, 'both named');
  await sleep(4000); // the quota settles over a few periods; the holder has filled its memory
  const percent = (text: string): number => Number.parseFloat(text.replace('%', ''));
  const mib = (text: string): number => {
    const match = /^([\d.]+)(B|KiB|MiB|GiB)/.exec(text.trim());
    return match ? Number(match[1]) * { B: 1 / MIB, KiB: 1 / 1024, MiB: 1, GiB: 1024 }[match[2] as 'B'] : NaN;
  };
  for (let attempt = 1; ; attempt++) {
    const [dockerOut, capstanOut] = await Promise.all([
      ok(t, docker, ['stats', '--no-stream', '--format', '{{.Name}} {{.CPUPerc}} {{.MemUsage}}', 'burner', 'holder']),
      capstan(['stats', '--no-stream', '--format', '{{.Name}} {{.CPUPerc}} {{.MemUsage}}', 'burner', 'holder']),
    ]);
    const rows = (text: string) => new Map(text.trim().split('\n').map((line) => line.split(' ')).map(([name, cpu, mem]) => [name!, { cpu: percent(cpu!), mem: mib(mem!) }]));
    const ours = rows(capstanOut.stdout);
    const theirs = rows(dockerOut);
    const cpuClose = Math.abs(ours.get('burner')!.cpu - theirs.get('burner')!.cpu) <= 5;
    const memClose = Math.abs(ours.get('holder')!.mem - theirs.get('holder')!.mem) <= theirs.get('holder')!.mem * 0.02;
    // Both sample over their own second; on a loaded machine one sample can straddle a hiccup.
    if ((cpuClose && memClose) || attempt === 3) {
      t.true(cpuClose, `CPU: capstan ${ours.get('burner')!.cpu}% vs docker ${theirs.get('burner')!.cpu}%`);
      t.true(memClose, `memory: capstan ${ours.get('holder')!.mem} MiB vs docker ${theirs.get('holder')!.mem} MiB`);
      break;
    }
  }
});

serial('Podman\'s containers are named and updated through Podman', async (t) => {
  const { podman } = env();
  const id = await runDetached(t, podman, ['--name', 'pweb', '--label', 'tier=back', IMAGE, 'sleep', '600']);
  // Podman answers /version slowly (see the engine client), so its first naming can take a while.
  const container = await eventually(() => apiContainer('pweb'), 90_000, 'the agent to name pweb');
  t.like(container.info, { id, name: 'pweb', source: 'podman' });
  t.true(path.basename(container.info.cgroupPath).startsWith(`libpod-${id}`), container.info.cgroupPath);
  const update = await capstan(['update', '--memory', '48m', 'pweb']);
  t.is(update.code, 0, update.stderr);
  t.is(memoryLimitFile(container.info.cgroupPath), String(48 * MIB));
  // Podman 4.3 changes the cgroup but not its stored config, for its own `podman update` as well
  // (measured here): its inspect must at least say what podman's own update leaves it saying.
  const twin = await runDetached(t, podman, ['--name', 'pweb-twin', IMAGE, 'sleep', '600']);
  await ok(t, podman, ['update', '--memory', '48m', twin]);
  const memoryOf = async (name: string) => (JSON.parse(await ok(t, podman, ['inspect', name])) as Array<{ HostConfig: { Memory: number } }>)[0]!.HostConfig.Memory;
  t.is(await memoryOf('pweb'), await memoryOf('pweb-twin'));
  t.truthy(seriesLine(await metrics(), 'capstan_source_up', { source: 'podman' })?.endsWith(' 1'));
});

serial('while Docker is away: one warning, known names kept, limits refused with the reason; back by itself', async (t) => {
  const { docker, agent } = env();
  const container = await eventually(() => apiContainer('web'), 20_000, 'web');
  const before = memoryLimitFile(container.info.cgroupPath);
  await docker.stopDaemon();
  await eventually(async () => (seriesLine(await metrics(), 'capstan_source_up', { source: 'docker' })?.endsWith(' 0') ? true : undefined), 20_000, 'capstan_source_up 0');
  t.is((await apiContainer('web'))?.info.name, 'web', 'a known container keeps its name');
  const refused = await capstan(['update', '--memory', '96m', 'web']);
  t.not(refused.code, 0);
  t.regex(refused.stderr, /Docker engine at unix:\/\/.* cannot be asked right now: its limits are changed only through Docker/);
  t.is(memoryLimitFile(container.info.cgroupPath), before, 'capstan never wrote the file itself');
  await sleep(3000); // several reconnection attempts
  t.is(agent.output().split('\n').filter((line) => line.includes('warning: docker: cannot talk')).length, 1, agent.output());

  await docker.startDaemon();
  await eventually(async () => (seriesLine(await metrics(), 'capstan_source_up', { source: 'docker' })?.endsWith(' 1') ? true : undefined), 40_000, 'capstan_source_up 1 again');
  const update = await capstan(['update', '--memory', '96m', 'web']);
  t.is(update.code, 0, update.stderr);
  t.is(memoryLimitFile(container.info.cgroupPath), String(96 * MIB));
  void fs;
});
