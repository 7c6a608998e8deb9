/**
 * Exited containers keep their series until removed (server/metrics/retention.ts), through the
 * exporter as the agent wires it: one recordTick per collector tick, scrapes in between.
 */
import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { Registry } from 'prom-client';
import type { CollectorSnapshot, ContainerSnapshot, MachineInfo } from '../../server/model';
import { MetricsExporter, type OwnedContainerFacts } from '../../server/metrics';
import { OomCounterWithTimes } from '../../server/metrics/oom-times';

const FIXTURES = path.resolve(__dirname, '../../../test/fixtures/metrics');
const MACHINE: MachineInfo = { cpuCores: 2, cpuModel: 'Test CPU', memoryBytes: 4125147136, os: 'Debian', kernel: '6.1.0-test', hostname: 'testhost' };

const ID = 'a'.repeat(64);
const OTHER = 'b'.repeat(64);

function baseSnapshot(): CollectorSnapshot {
  return JSON.parse(fs.readFileSync(path.join(FIXTURES, 'snapshot-v1.json'), 'utf8')) as CollectorSnapshot;
}

/** The fixture's root cgroup plus one capstan container `web` with the given CPU time and OOM count, or none. */
function tick(sequence: number, web: { cpuSeconds: number; oomKills?: number; rxBytes?: number } | undefined): CollectorSnapshot {
  const fixture = baseSnapshot();
  const root = fixture.containers.find((c) => c.info.cgroupPath === '/')!;
  const containers: ContainerSnapshot[] = [root];
  if (web !== undefined) {
    containers.push({
      info: { id: ID, name: 'web', cgroupPath: `/capstan/${ID}`, image: 'busybox', source: 'capstan', isContainer: true, labels: {}, createdAtMs: 1_700_000_000_000 },
      sample: {
        cpu: { usageNanoseconds: web.cpuSeconds * 1e9 },
        memory: { usageBytes: 1_048_576, limitBytes: 33_554_432, oomKills: web.oomKills ?? 0 },
        pids: { current: 1 },
        network: [{ name: 'eth0', rxBytes: web.rxBytes ?? 100, rxPackets: 1, rxErrors: 0, rxDropped: 0, txBytes: 0, txPackets: 0, txErrors: 0, txDropped: 0 }],
      },
      stats: { timestampMs: 1_700_000_000_000 + sequence * 1000 },
    });
  }
  return { ...fixture, sequence, timestampMs: 1_700_000_000_000 + sequence * 1000, containers };
}

function facts(over: Partial<OwnedContainerFacts> = {}): OwnedContainerFacts {
  return { id: ID, name: 'web', owner: 'capstan', image: 'busybox', status: 'running', cgroupPath: `/capstan/${ID}`, labels: {}, ...over };
}

class Agent {
  snapshot: CollectorSnapshot | undefined;
  owned: OwnedContainerFacts[] = [];
  readonly exporter: MetricsExporter;
  constructor(maxExited = 500, oomCounts?: Map<string, number>) {
    this.exporter = new MetricsExporter({
      getSnapshot: () => this.snapshot,
      machine: MACHINE,
      version: '1.2.3',
      deviceName: (major, minor) => `${major}:${minor}`,
      registry: new Registry(),
      owned: () => this.owned,
      maxExitedContainers: maxExited,
      ...(oomCounts ? { oomCounts: () => oomCounts } : {}),
    });
  }
  tick(snapshot: CollectorSnapshot, owned: OwnedContainerFacts[]): void {
    this.snapshot = snapshot;
    this.owned = owned;
    this.exporter.recordTick(snapshot);
  }
  render(): Promise<string> {
    return this.exporter.render();
  }
}

const WEB = `id="/capstan/${ID}",name="web",image="busybox"`;

function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

test('an OOM-killed container keeps its last values, last_seen, state, exit code and reason after its cgroup is gone', async (t) => {
  const agent = new Agent();
  agent.tick(tick(1, { cpuSeconds: 2, oomKills: 1 }), [facts()]);
  const live = await agent.render();
  t.is(value(live, `container_state{${WEB},state="running"}`), 1);
  t.is(value(live, `container_state{${WEB},state="exited"}`), 0);
  t.is(value(live, `container_exit_code{${WEB}}`), undefined, 'a running container has no exit code');

  agent.tick(tick(2, undefined), [facts({ status: 'exited', exitCode: 137, oomKilled: true })]);
  const exited = await agent.render();
  t.is(value(exited, `container_cpu_usage_seconds_total{${WEB},cpu="total"}`), 2);
  t.is(value(exited, `container_memory_usage_bytes{${WEB}}`), 1_048_576);
  t.is(value(exited, `container_oom_events_total{${WEB}}`), 1);
  t.is(value(exited, `container_last_seen{${WEB}}`), 1_700_000_001, 'the last tick that sampled the cgroup');
  t.is(value(exited, `container_state{${WEB},state="exited"}`), 1);
  t.is(value(exited, `container_state{${WEB},state="running"}`), 0);
  t.is(value(exited, `container_exit_code{${WEB}}`), 137);
  t.is(value(exited, `container_terminated_reason{${WEB},reason="OOMKilled"}`), 1);
});

test('a container that died before any tick sampled it still has its identity, state and OOM series', async (t) => {
  const agent = new Agent(500, new Map([['web', 1]]));
  agent.tick(tick(1, undefined), [facts({ status: 'exited', exitCode: 137, oomKilled: true })]);
  const text = await agent.render();
  t.is(value(text, `container_oom_events_total{${WEB}}`), 1);
  t.is(value(text, `container_state{${WEB},state="exited"}`), 1);
  t.is(value(text, `container_terminated_reason{${WEB},reason="OOMKilled"}`), 1);
  t.is(value(text, `container_last_seen{${WEB}}`), 1_700_000_001);
  t.is(value(text, `container_cpu_usage_seconds_total{${WEB},cpu="total"}`), undefined, 'nothing was measured: unknown, not 0');
});

test('reasons: exit 0 is Completed, another code is Error; created containers have no state series', async (t) => {
  const agent = new Agent();
  agent.tick(tick(1, undefined), [facts({ status: 'exited', exitCode: 0 }), facts({ id: OTHER, name: 'new', status: 'created', cgroupPath: `/capstan/${OTHER}` })]);
  let text = await agent.render();
  t.is(value(text, `container_terminated_reason{${WEB},reason="Completed"}`), 1);
  t.false(text.includes('name="new"'));
  agent.tick(tick(2, undefined), [facts({ status: 'dead', exitCode: 2 })]);
  text = await agent.render();
  t.is(value(text, `container_state{${WEB},state="dead"}`), 1);
  t.is(value(text, `container_terminated_reason{${WEB},reason="Error"}`), 1);
});

test('a restart gets a new cgroup and the counters carry on from the old one; gauges do not', async (t) => {
  const agent = new Agent();
  agent.tick(tick(1, { cpuSeconds: 5, rxBytes: 1000 }), [facts()]);
  agent.tick(tick(2, undefined), [facts({ status: 'restarting', exitCode: 1 })]);
  agent.tick(tick(3, { cpuSeconds: 1, rxBytes: 10 }), [facts()]);
  let text = await agent.render();
  t.is(value(text, `container_cpu_usage_seconds_total{${WEB},cpu="total"}`), 6);
  t.is(value(text, `container_network_receive_bytes_total{${WEB},interface="eth0"}`), 1010);
  t.is(value(text, `container_memory_usage_bytes{${WEB}}`), 1_048_576, 'a gauge is the new cgroup\'s own');
  t.is(value(text, `container_state{${WEB},state="running"}`), 1);

  // Re-created between two ticks (no tick without the cgroup): CPU time went down.
  agent.tick(tick(4, { cpuSeconds: 3 }), [facts()]);
  agent.tick(tick(5, { cpuSeconds: 0.5 }), [facts()]);
  text = await agent.render();
  t.is(value(text, `container_cpu_usage_seconds_total{${WEB},cpu="total"}`), 8.5);
});

test('the OOM counter kept per name is not carried twice', async (t) => {
  const counts = new Map([['web', 1]]);
  const agent = new Agent(500, counts);
  agent.tick(tick(1, { cpuSeconds: 1, oomKills: 1 }), [facts()]);
  agent.tick(tick(2, undefined), [facts({ status: 'restarting', oomKilled: true, exitCode: 137 })]);
  counts.set('web', 2);
  agent.tick(tick(3, { cpuSeconds: 1, oomKills: 1 }), [facts()]);
  t.is(value(await agent.render(), `container_oom_events_total{${WEB}}`), 2);
});

test('a removed container loses its series at the next tick; raw cgroups are never kept', async (t) => {
  const agent = new Agent();
  agent.tick(tick(1, { cpuSeconds: 1 }), [facts()]);
  agent.tick(tick(2, undefined), [facts({ status: 'exited', exitCode: 0 })]);
  t.true((await agent.render()).includes(WEB));
  agent.tick(tick(3, undefined), []);
  t.false((await agent.render()).includes(WEB));

  const rawOnly = new Agent();
  const withSsh = baseSnapshot();
  rawOnly.tick(withSsh, []);
  rawOnly.tick({ ...tick(withSsh.sequence + 1, undefined) }, []);
  t.false((await rawOnly.render()).includes('ssh.service'), 'a systemd unit goes with its cgroup, as in cAdvisor');
});

test('at most maxExited exited containers are kept, the first to exit dropped first', async (t) => {
  const agent = new Agent(2);
  const ids = ['1', '2', '3'].map((c) => c.repeat(64));
  const exited = (count: number) => ids.slice(0, count).map((id, i) => facts({ id, name: `c${i + 1}`, status: 'exited', exitCode: 0, cgroupPath: `/capstan/${id}` }));
  agent.tick(tick(1, undefined), exited(1));
  agent.tick(tick(2, undefined), exited(2));
  agent.tick(tick(3, undefined), exited(3));
  let text = await agent.render();
  t.false(text.includes('name="c1"'));
  t.true(text.includes('name="c2"'));
  t.true(text.includes('name="c3"'));
  // The dropped one stays dropped (it is not taken in again as newly exited, pushing out another).
  agent.tick(tick(4, undefined), exited(3));
  agent.tick(tick(5, undefined), exited(3));
  text = await agent.render();
  t.deepEqual(['c1', 'c2', 'c3'].map((name) => text.includes(`name="${name}"`)), [false, true, true]);

  const none = new Agent(0);
  none.tick(tick(1, { cpuSeconds: 1 }), [facts()]);
  none.tick(tick(2, undefined), [facts({ status: 'exited', exitCode: 0 })]);
  none.tick(tick(3, undefined), [facts({ status: 'exited', exitCode: 0 })]);
  t.false((await none.render()).includes(WEB), '0 keeps none: the series go with the cgroup');
});

test('engine containers are kept the same way, and the output passes promtool check metrics', async (t) => {
  const agent = new Agent();
  const docker = (snapshot: CollectorSnapshot): CollectorSnapshot => {
    for (const c of snapshot.containers) if (c.info.id === ID) Object.assign(c.info, { source: 'docker', cgroupPath: `/docker/${ID}` });
    return snapshot;
  };
  const dockerFacts = (over: Partial<OwnedContainerFacts>) => facts({ owner: 'docker', cgroupPath: `/docker/${ID}`, ...over });
  agent.tick(docker(tick(1, { cpuSeconds: 1 })), [dockerFacts({})]);
  agent.tick(docker(tick(2, undefined)), [dockerFacts({ status: 'exited', exitCode: 137, oomKilled: true })]);
  const text = await agent.render();
  const DOCKER = `id="/docker/${ID}",name="web",image="busybox"`;
  t.is(value(text, `container_state{${DOCKER},state="exited"}`), 1);
  t.is(value(text, `container_cpu_usage_seconds_total{${DOCKER},cpu="total"}`), 1);

  const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  t.is(check.error, undefined, 'promtool runs');
  t.is(check.status, 0, check.stderr + check.stdout);
});

test('an owners listing that fails keeps the last one for the tick', async (t) => {
  const agent = new Agent();
  agent.tick(tick(1, { cpuSeconds: 1 }), [facts()]);
  agent.tick(tick(2, undefined), [facts({ status: 'exited', exitCode: 0 })]);
  agent.owned = new Proxy([], { get: () => { throw new Error('listing failed'); } });
  agent.snapshot = tick(3, undefined);
  agent.exporter.recordTick(agent.snapshot);
  t.true((await agent.render()).includes(`container_state{${WEB},state="exited"} 1`));
});

test('the last OOM kill time per name, counted with the kills, in container_last_oom_timestamp_seconds', async (t) => {
  const counter = new OomCounterWithTimes();
  const oom = (name: string, timeMs: number) => ({ type: 'container' as const, action: 'oom' as const, actor: { id: ID, name, cgroupPath: `/capstan/${ID}`, image: '' }, timeMs, attributes: {} });
  counter.record(oom('web', 1_700_000_005_500));
  counter.record(oom('web', 1_700_000_002_000)); // a replayed, older one
  counter.record({ ...oom('web', 1_700_000_009_000), action: 'die' });
  t.is(counter.byName().get('web'), 2);
  t.is(counter.lastKillByName().get('web'), 1_700_000_005_500);

  const agent = new Agent();
  const exporter = new MetricsExporter({
    getSnapshot: () => agent.snapshot,
    machine: MACHINE,
    version: '1.2.3',
    registry: new Registry(),
    owned: () => agent.owned,
    oomCounts: () => counter.byName(),
    lastOomTimes: () => counter.lastKillByName(),
  });
  agent.snapshot = tick(1, undefined);
  agent.owned = [facts({ status: 'exited', exitCode: 137, oomKilled: true })];
  exporter.recordTick(agent.snapshot);
  const text = await exporter.render();
  t.is(value(text, `container_last_oom_timestamp_seconds{${WEB}}`), 1_700_000_005.5);
  t.is(value(text, `container_oom_events_total{${WEB}}`), 2);
  t.false(text.includes('container_last_oom_timestamp_seconds{id="/"'), 'no kill, no time (never a 0)');
});
