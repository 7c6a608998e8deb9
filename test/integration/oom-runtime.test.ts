/**
 * OOM kills and exits of capstan's own containers, on the real agent, shim, cgroups and kernel:
 *   - what happens while no agent runs (a container SIGKILLed, one OOM-killed, one exiting 3, a
 *     child OOM-killed in one that keeps running) is reported once by the next agent, with the
 *     real exit codes and the times the shim recorded, and a third agent reports nothing again;
 *   - an OOM storm (100 containers killed at once, started 10 at a time, PID 1 allocating 4 times
 *     its limit from its first instruction) gives exactly one `oom` per container, and the agent
 *     keeps answering.
 * Every agent here has its own state directory and `--cgroup-parent /capstan-test-<random>`, both
 * removed at the end with every container, cgroup and process in them, even when a test fails.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import test, { type ExecutionContext } from 'ava';
import { detectLayout } from '../../server/cgroup/layout';
import { CgroupManager } from '../../server/cgroup/manage';
import type { CapstanEvent } from '../../server/events';
import { apiRequest, startAgentProcess, type AgentProcess, type ApiAnswer } from '../helpers/agent';
import { busyboxAvailable, writeBusyboxImages } from '../helpers/busybox-image';
import { streamEvents } from '../helpers/events';
import { CLI, REPO_ROOT, requireCapability } from '../helpers/repo';
import { eventually, sleep } from '../helpers/wait';

const execFileAsync = promisify(execFile);
const SHIM = path.join(REPO_ROOT, 'native/build/Release/capstan-shim');
const isRoot = process.getuid?.() === 0;
const capable = requireCapability(isRoot && busyboxAvailable() && fs.existsSync(SHIM), 'root, /usr/bin/busybox (busybox-static) and the built capstan-shim');
const maybe = capable ? test.serial : test.skip;
const IMAGE = 'capstan-test/oom:base';
/** PID 1 of a storm container: a 64 MiB buffer filled at once, four times the limit. */
const ALLOCATE = ['dd', 'if=/dev/zero', 'of=/dev/null', 'bs=64M', 'count=1'];
/** Waits for SIGUSR1, then runs `action` (sh runs a trap between two commands: within 0.2 s). */
const onSignal = (action: string): string[] => ['sh', '-c', `trap '${action}' USR1; while :; do sleep 0.2; done`];
const DD = 'dd if=/dev/zero of=/dev/null bs=64M count=1';

const layout = capable ? detectLayout() : undefined;
const cgroups = layout ? new CgroupManager(layout) : undefined;

interface Inspect {
  Id: string;
  State: { Status: string; OOMKilled: boolean; Pid: number; ExitCode: number; FinishedAt: string };
}

/** A state directory and cgroup parent of the test's own, and the agents run on them one after another. */
class Host {
  agent!: AgentProcess;
  readonly cgroupParent = `/capstan-test-${randomBytes(4).toString('hex')}`;

  private constructor(
    private readonly t: ExecutionContext,
    readonly stateDir: string,
  ) {}

  /** The first agent, with the test image imported; everything is removed at the end of the test. */
  static async start(t: ExecutionContext, imageTar: string): Promise<Host> {
    const host = new Host(t, fs.mkdtempSync(path.join(os.tmpdir(), 'capstan-oomrt-')));
    t.teardown(() => host.removeEverything());
    await host.startAgent();
    await execFileAsync(process.execPath, [CLI, '--state-dir', host.stateDir, 'image', 'import', '--name', IMAGE, imageTar]);
    return host;
  }

  async startAgent(): Promise<void> {
    this.agent = await startAgentProcess(this.t, ['--interval', '1s', '--cgroup-parent', this.cgroupParent], { stateDir: this.stateDir });
  }

  api(method: string, pathname: string, body?: unknown): Promise<ApiAnswer> {
    return apiRequest(this.agent.url, this.agent.operatorToken, method, pathname, body);
  }

  /** POST /api/v1/containers?start=1; returns the id. */
  async run(name: string, cmd: string[], memory = '16m'): Promise<string> {
    const created = await this.api('POST', '/api/v1/containers?start=1', { name, image: IMAGE, cmd, memory });
    if (created.status !== 201) throw new Error(`run ${name}: ${created.status} ${created.text}`);
    return (created.json as { Id: string }).Id;
  }

  async inspect(reference: string): Promise<Inspect> {
    const response = await this.api('GET', `/api/v1/containers/${encodeURIComponent(reference)}/json`);
    if (response.status !== 200) throw new Error(`inspect ${reference}: ${response.status} ${response.text}`);
    return response.json as Inspect;
  }

  /** Past events from the log (GET /api/v1/events with since and until: the response ends). */
  async pastEvents(sinceMs: number, filter: string): Promise<CapstanEvent[]> {
    const until = (Date.now() / 1000 + 1).toFixed(3);
    const response = await this.api('GET', `/api/v1/events?since=${(sinceMs / 1000).toFixed(3)}&until=${until}&filter=${encodeURIComponent(filter)}`);
    if (response.status !== 200) throw new Error(`events: ${response.status} ${response.text}`);
    return response.text.split('\n').filter(Boolean).map((line) => JSON.parse(line) as CapstanEvent);
  }

  /** The kernel's kill counter of a container's cgroup (memory.oom_control v1, memory.events v2). */
  oomKillCounter(id: string): number {
    const cgroupPath = `${this.cgroupParent}/${id}`;
    const text = layout!.controllersOn === 2 ? cgroups!.readControl('unified', cgroupPath, 'memory.events') : cgroups!.readControl('memory', cgroupPath, 'memory.oom_control');
    return Number(/^oom_kill (\d+)$/m.exec(text)?.[1] ?? NaN);
  }

  /**
   * Containers through the agent when one runs; then whatever is left: processes in the cgroups
   * (their shims then end), the overlay mounts below the state directory, the cgroups, the folder.
   */
  private async removeEverything(): Promise<void> {
    if (this.agent.process.exitCode === null && this.agent.process.signalCode === null) {
      try {
        const list = await this.api('GET', '/api/v1/runtime/containers');
        const ids = ((list.json as { containers?: Array<{ id: string; owner: string }> }).containers ?? []).filter((c) => c.owner === 'capstan').map((c) => c.id);
        for (let i = 0; i < ids.length; i += 10) {
          await Promise.all(ids.slice(i, i + 10).map((id) => this.api('DELETE', `/api/v1/containers/${id}?force=1`).catch(() => undefined)));
        }
      } catch {
        // Whatever the agent could not remove goes below.
      }
    }
    await this.agent.stop();
    for (let round = 0; round < 3; round++) {
      for (const { directory } of cgroups!.directories(this.cgroupParent)) {
        let children: string[] = [];
        try {
          children = fs.readdirSync(directory, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => path.join(directory, e.name));
        } catch {
          continue; // not in this hierarchy
        }
        for (const child of children) {
          try {
            fs.writeFileSync(path.join(child, 'freezer.state'), 'THAWED');
          } catch {
            // Not a freezer directory.
          }
          for (const pid of fs.readFileSync(path.join(child, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) {
            try {
              process.kill(Number(pid), 'SIGKILL');
            } catch {
              // Already gone.
            }
          }
        }
      }
      await sleep(200);
    }
    await cgroups!.remove(this.cgroupParent);
    // Never delete through a mount (an image layer would go with it): deepest first.
    const mounts = fs
      .readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .map((line) => line.split(' ')[4] ?? '')
      .filter((mountPoint) => mountPoint.startsWith(this.stateDir + '/'))
      .sort((a, b) => b.length - a.length);
    for (const mountPoint of mounts) await execFileAsync('umount', [mountPoint]);
    fs.rmSync(this.stateDir, { recursive: true, force: true });
  }
}

let imageTar = '';
test.before(() => {
  if (!capable) return;
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'capstan-oomrt-images-'));
  imageTar = writeBusyboxImages(directory).rootfsTar;
  process.once('exit', () => fs.rmSync(directory, { recursive: true, force: true }));
});

/** What a container wrote (stdout and stderr), for a failure message. */
async function containerLog(host: Host, id: string): Promise<string> {
  const response = await host.api('GET', `/api/v1/containers/${id}/logs?tail=20`);
  return JSON.stringify(response.text.slice(0, 2000));
}

function processGone(pid: number): boolean {
  return !fs.existsSync(`/proc/${pid}`);
}

maybe('exits and OOM kills while the agent is down are reported once by the next agent, with their real codes and times', async (t) => {
  const host = await Host.start(t, imageTar);
  const startedMs = Date.now() - 1000;
  const ids = {
    killed: await host.run('down-killed', ['sleep', '600']),
    oom: await host.run('down-oom', onSignal(`exec ${DD}`)),
    exits: await host.run('down-exits', onSignal('exit 3')),
    // PID 1 lives on; a child of it is OOM-killed once before the crash and once while no agent runs.
    survivor: await host.run('down-survivor', onSignal(DD)),
  };
  const pids = Object.fromEntries(await Promise.all(Object.entries(ids).map(async ([key, id]) => [key, (await host.inspect(id)).State.Pid] as const))) as Record<keyof typeof ids, number>;

  // One kill the first agent reports; spec.json holds the count before the crash.
  process.kill(pids.survivor, 'SIGUSR1');
  const specFile = path.join(host.stateDir, 'containers', ids.survivor, 'spec.json');
  await eventually(() => ((JSON.parse(fs.readFileSync(specFile, 'utf8')) as { state: { oomKillsReported?: number } }).state.oomKillsReported === 1 ? true : undefined), 20_000, 'the first kill to be reported and saved');

  await host.agent.kill();
  const crashedMs = Date.now();
  process.kill(pids.killed, 'SIGKILL');
  for (const key of ['oom', 'exits', 'survivor'] as const) process.kill(pids[key], 'SIGUSR1');
  await eventually(() => (processGone(pids.killed) && processGone(pids.oom) && processGone(pids.exits) ? true : undefined), 20_000, 'the three containers to end');
  await eventually(() => (host.oomKillCounter(ids.survivor) === 2 ? true : undefined), 20_000, "the survivor's second kill");
  t.is(host.oomKillCounter(ids.oom), 1);
  const endedMs = Date.now();

  await host.startAgent();
  const restartedMs = Date.now();
  const expected = { killed: [137, false], oom: [137, true], exits: [3, false] } as const;
  for (const [key, [code, oomKilled]] of Object.entries(expected) as Array<[keyof typeof expected, readonly [number, boolean]]>) {
    const { State } = await eventually(async () => {
      const value = await host.inspect(ids[key]);
      return value.State.Status === 'exited' ? value : undefined;
    }, 20_000, `${key} to be seen exited`);
    t.like(State, { Status: 'exited', ExitCode: code, OOMKilled: oomKilled }, key);
    const finishedMs = Date.parse(State.FinishedAt);
    t.true(finishedMs >= crashedMs - 50 && finishedMs <= endedMs + 50, `${key}: FinishedAt ${State.FinishedAt} is when it ended, not when the agent came back`);
  }
  t.like((await host.inspect(ids.survivor)).State, { Status: 'running', OOMKilled: true });

  const countsOf = async (): Promise<Record<string, { oom: number[]; die: Array<{ exitCode: string; timeMs: number }> }>> => {
    const events = await host.pastEvents(startedMs, 'type=container');
    return Object.fromEntries(
      Object.entries(ids).map(([key, id]) => {
        const own = events.filter((e) => e.actor.id === id);
        return [key, { oom: own.filter((e) => e.action === 'oom').map((e) => e.timeMs), die: own.filter((e) => e.action === 'die').map((e) => ({ exitCode: e.attributes['exitCode']!, timeMs: e.timeMs })) }];
      }),
    );
  };
  // The survivor's missed kill comes from its watch's first reading: wait for it, then check that nothing else came.
  const after = await eventually(async () => {
    const counts = await countsOf();
    return counts['survivor']!.oom.length >= 2 ? counts : undefined;
  }, 20_000, "the survivor's missed kill");
  t.deepEqual(after['survivor']!.die, []);
  t.is(after['survivor']!.oom.length, 2, 'one event per kill: the one reported before the crash is not reported again');
  for (const [key, [code]] of Object.entries(expected)) {
    const { oom, die } = after[key]!;
    t.is(die.length, 1, `${key}: one die`);
    t.is(die[0]!.exitCode, String(code), `${key}: die carries the real exit code`);
    t.true(die[0]!.timeMs <= endedMs + 50 && die[0]!.timeMs < restartedMs, `${key}: die is dated when it happened`);
    t.is(oom.length, key === 'oom' ? 1 : 0, `${key}: oom events`);
    if (key === 'oom') t.true(oom[0]! <= die[0]!.timeMs, 'oom dated no later than its die');
  }

  // The watch goes on after re-adoption; a third agent (after a crash again) reports nothing twice.
  process.kill((await host.inspect(ids.survivor)).State.Pid, 'SIGUSR1');
  await eventually(async () => ((await countsOf())['survivor']!.oom.length >= 3 ? true : undefined), 20_000, "the survivor's third kill");
  await host.agent.kill();
  await host.startAgent();
  process.kill((await host.inspect(ids.survivor)).State.Pid, 'SIGUSR1');
  // This kill's event comes after the new watch's first reading (readings are serialised): once it is in, any repeat would be too.
  const final = await eventually(async () => {
    const counts = await countsOf();
    return counts['survivor']!.oom.length >= 4 ? counts : undefined;
  }, 20_000, "the survivor's fourth kill");
  t.is(final['survivor']!.oom.length, 4);
  t.is(host.oomKillCounter(ids.survivor), 4);
  for (const key of Object.keys(expected)) {
    t.is(final[key]!.die.length, 1, `${key}: still one die`);
    t.is(final[key]!.oom.length, key === 'oom' ? 1 : 0, `${key}: still the same oom events`);
  }
});

maybe('an OOM storm of 100 containers gives exactly 100 oom events, one each, and the agent keeps answering', async (t) => {
  t.timeout(180_000);
  const host = await Host.start(t, imageTar);
  const streamed: CapstanEvent[] = [];
  await streamEvents(t, host.agent.url, host.agent.viewerToken, 'event=oom', (event) => streamed.push(event));
  const stem = `storm-${randomBytes(3).toString('hex')}`;
  const names = Array.from({ length: 100 }, (_, i) => `${stem}-${String(i).padStart(3, '0')}`);
  const ids: string[] = [];
  const stormStartedMs = Date.now();
  for (let i = 0; i < names.length; i += 10) ids.push(...(await Promise.all(names.slice(i, i + 10).map((name) => host.run(name, ALLOCATE)))));
  t.log(`100 containers started in ${Date.now() - stormStartedMs} ms`);

  // Every one is killed by the kernel and its exit handled (oom comes before die, from settle at the latest).
  await eventually(async () => {
    const states = await Promise.all(ids.map((id) => host.inspect(id)));
    return states.every((s) => s.State.Status === 'exited') ? true : undefined;
  }, 90_000, 'all 100 containers to exit', 500);
  t.log(`all exited ${Date.now() - stormStartedMs} ms after the first start`);
  const states = await Promise.all(ids.map((id) => host.inspect(id)));
  const notKilled = states.filter((s) => s.State.ExitCode !== 137 || !s.State.OOMKilled);
  for (const s of notKilled) t.log(`${s.Id}: ${JSON.stringify(s.State)}; kernel oom_kill ${host.oomKillCounter(s.Id)}; log: ${await containerLog(host, s.Id)}`);
  t.deepEqual(notKilled.map((s) => s.Id), [], 'every container exited 137 with OOMKilled');
  // Two collector ticks, so a late reading or a re-watched cgroup would have had its chance to report a kill again.
  await sleep(2500);
  const ours = new Set(ids);
  const byId = new Map<string, number>();
  for (const event of streamed) if (ours.has(event.actor.id)) byId.set(event.actor.id, (byId.get(event.actor.id) ?? 0) + 1);
  t.is([...byId.values()].reduce((a, b) => a + b, 0), 100, 'exactly 100 oom events on the stream');
  t.deepEqual(ids.filter((id) => byId.get(id) !== 1), [], 'one oom event per container');
  const logged = (await host.pastEvents(stormStartedMs - 1000, 'event=oom')).filter((e) => ours.has(e.actor.id));
  t.is(logged.length, 100, 'and 100 in the event log');
  t.is(new Set(logged.map((e) => e.actor.id)).size, 100);

  // container_oom_events_total counts by name: containers re-created under the same names show it.
  const recreated: string[] = [];
  for (let i = 0; i < ids.length; i += 10) await Promise.all(ids.slice(i, i + 10).map((id) => host.api('DELETE', `/api/v1/containers/${id}?force=1`)));
  for (let i = 0; i < names.length; i += 10) recreated.push(...(await Promise.all(names.slice(i, i + 10).map((name) => host.run(name, ['sleep', '600'])))));
  const counts = await eventually(async () => {
    const text = await (await host.agent.get('/metrics')).text();
    const found = new Map<string, number>();
    for (const line of text.split('\n')) {
      const match = /^container_oom_events_total\{.*name="([^"]+)".*\} (\d+)$/.exec(line);
      if (match && match[1]!.startsWith(stem)) found.set(match[1]!, Number(match[2]));
    }
    return found.size === 100 ? found : undefined;
  }, 30_000, 'container_oom_events_total for the 100 names');
  t.is([...counts.values()].reduce((a, b) => a + b, 0), 100, 'container_oom_events_total sums to 100');

  t.is(host.agent.process.exitCode, null, 'the agent is alive');
  const answered = await host.api('GET', '/api/v1/runtime/containers');
  t.is(answered.status, 200, 'and answering');
  t.is(((answered.json as { containers: Array<{ name: string }> }).containers).filter((c) => c.name.startsWith(stem)).length, 100);
  t.notRegex(host.agent.output(), /listener failed|uncaught|unhandled/i);
});
