import test from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { Gauge, Registry, type OpenMetricsContentType } from 'prom-client';
import type { CollectorSnapshot, ContainerSnapshot } from '../../server/model';
import { MetricsExporter, describeMetrics, escapeLabelValue, type MetricsExporterOptions } from '../../server/metrics';
import { FIXTURE_MACHINE, loadSnapshot, METRICS_FIXTURES } from '../helpers/metrics-fixtures';

const GOLDEN_V1 = path.join(METRICS_FIXTURES, 'golden-v1.txt');
const MACHINE = FIXTURE_MACHINE;

const fakeDeviceName = (major: number, minor: number): string => (major === 8 && minor === 0 ? '/dev/sda' : `${major}:${minor}`);

function exporterFor(snapshot: CollectorSnapshot | undefined, extra: Partial<MetricsExporterOptions> = {}): MetricsExporter {
  return new MetricsExporter({
    getSnapshot: () => snapshot,
    machine: MACHINE,
    version: '1.2.3',
    deviceName: fakeDeviceName,
    registry: new Registry(),
    ...extra,
  });
}

const WEB = 'id="/capstan/web",name="we\\"b\\\\app",image="busybox:latest"';
const ROOT = 'id="/",name="/",image=""';
const SSH = 'id="/system.slice/ssh.service",name="ssh.service",image=""';
const DB = 'id="/capstan/db",name="db",image="postgres:16"';

function lines(text: string): string[] {
  return text.split('\n');
}

function seriesOf(text: string, family: string): string[] {
  return lines(text).filter((l) => l.startsWith(`${family}{`) || l.startsWith(`${family} `));
}

/**
 * Checks the exposition's structure: one HELP and one TYPE per family, samples right after their
 * family's header, no family without samples, counters named *_total.
 */
function checkStructure(text: string): string[] {
  const problems: string[] = [];
  const helps = new Map<string, number>();
  const types = new Map<string, string>();
  const samples = new Map<string, number>();
  const closed = new Set<string>();
  const seen = new Set<string>();
  let current: string | undefined;
  for (const line of lines(text)) {
    if (line === '') continue;
    const help = /^# HELP (\S+) /.exec(line);
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (help) {
      helps.set(help[1]!, (helps.get(help[1]!) ?? 0) + 1);
      if (current !== undefined && current !== help[1]) closed.add(current);
      current = help[1]!;
      continue;
    }
    if (type) {
      if (types.has(type[1]!)) problems.push(`second TYPE for ${type[1]}`);
      types.set(type[1]!, type[2]!);
      if (type[1] !== current) problems.push(`TYPE ${type[1]} not after its HELP`);
      continue;
    }
    const name = /^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/.exec(line)?.[1];
    if (name === undefined) {
      problems.push(`unparsable line: ${line}`);
      continue;
    }
    const family = types.get(current ?? '') === 'histogram' ? name.replace(/_(bucket|sum|count)$/, '') : name;
    if (family !== current) problems.push(`sample ${name} outside its family (current ${current})`);
    if (closed.has(family)) problems.push(`family ${family} is not contiguous`);
    samples.set(family, (samples.get(family) ?? 0) + 1);
    // promtool accepts a repeated series, Prometheus rejects the scrape: check it here.
    const series = line.slice(0, line.lastIndexOf(' '));
    if (seen.has(series)) problems.push(`duplicate series ${series}`);
    seen.add(series);
  }
  for (const [name, count] of helps) if (count !== 1) problems.push(`${count} HELP lines for ${name}`);
  for (const [name, type] of types) {
    if (!samples.get(name)) problems.push(`family ${name} has no samples`);
    if (type === 'counter' && !name.endsWith('_total')) problems.push(`counter ${name} does not end in _total`);
    if (type !== 'counter' && name.endsWith('_total')) problems.push(`${type} ${name} ends in _total`);
  }
  return problems;
}

test('v1: key series carry the base labels, escaped, and base units', async (t) => {
  const text = await exporterFor(loadSnapshot('snapshot-v1.json')).render();
  const all = new Set(lines(text));
  const expected = [
    `container_cpu_usage_seconds_total{${WEB},cpu="total"} 3.5`,
    `container_cpu_user_seconds_total{${WEB}} 2`,
    `container_cpu_system_seconds_total{${WEB}} 1.25`,
    `container_cpu_usage_seconds_total{${ROOT},cpu="total"} 5234.567890123`,
    `container_cpu_usage_seconds_total{${SSH},cpu="total"} 0.0015`,
    `container_cpu_cfs_periods_total{${WEB}} 100`,
    `container_cpu_cfs_throttled_periods_total{${WEB}} 7`,
    `container_cpu_cfs_throttled_seconds_total{${WEB}} 0.123456789`,
    `container_spec_cpu_quota{${WEB}} 50000`,
    `container_spec_cpu_period{${WEB}} 100000`,
    `container_spec_cpu_shares{${WEB}} 512`,
    `container_spec_memory_limit_bytes{${WEB}} 268435456`,
    `container_spec_memory_limit_bytes{${ROOT}} 0`,
    `container_spec_memory_limit_bytes{${SSH}} 0`,
    `container_spec_memory_reservation_limit_bytes{${WEB}} 134217728`,
    `container_spec_memory_swap_limit_bytes{${WEB}} 536870912`,
    `container_start_time_seconds{${WEB}} 1699999000.5`,
    `container_last_seen{${WEB}} 1700000000`,
    `container_memory_usage_bytes{${WEB}} 52428800`,
    `container_memory_working_set_bytes{${WEB}} 44040192`,
    `container_memory_rss{${WEB}} 41943040`,
    `container_memory_cache{${WEB}} 10485760`,
    `container_memory_swap{${WEB}} 0`,
    `container_memory_mapped_file{${WEB}} 1048576`,
    `container_memory_max_usage_bytes{${WEB}} 60000000`,
    `container_memory_failcnt{${WEB}} 3`,
    `container_memory_failures_total{${WEB},failure_type="pgfault",scope="container"} 5000`,
    `container_memory_failures_total{${WEB},failure_type="pgmajfault",scope="hierarchy"} 12`,
    `container_memory_total_inactive_file_bytes{${WEB}} 8388608`,
    `container_memory_total_active_file_bytes{${WEB}} 2097152`,
    `container_oom_events_total{${WEB}} 1`,
    `container_threads{${WEB}} 4`,
    `container_threads_max{${WEB}} 100`,
    `container_threads_max{${ROOT}} 0`,
    `container_fs_reads_bytes_total{${WEB},device="/dev/sda"} 1048576`,
    `container_fs_writes_bytes_total{${WEB},device="/dev/sda"} 2097152`,
    `container_fs_reads_total{${WEB},device="/dev/sda"} 256`,
    `container_fs_writes_total{${WEB},device="/dev/sda"} 512`,
    `container_fs_reads_bytes_total{${ROOT},device="253:7"} 4096`,
    `container_network_receive_bytes_total{${WEB},interface="eth0"} 4096`,
    `container_network_transmit_bytes_total{${WEB},interface="eth0"} 2048`,
    `container_network_receive_packets_total{${ROOT},interface="eth0"} 98765`,
    `container_network_transmit_packets_total{${ROOT},interface="eth0"} 54321`,
    `container_network_receive_errors_total{${ROOT},interface="eth0"} 1`,
    `container_network_receive_packets_dropped_total{${ROOT},interface="eth0"} 2`,
    `container_network_transmit_errors_total{${ROOT},interface="eth0"} 3`,
    `container_network_transmit_packets_dropped_total{${ROOT},interface="eth0"} 4`,
    'machine_cpu_cores{boot_id="b007b007",machine_id="f00dcafe",system_uuid=""} 2',
    'machine_cpu_physical_cores{boot_id="b007b007",machine_id="f00dcafe",system_uuid=""} 1',
    'machine_memory_bytes{boot_id="b007b007",machine_id="f00dcafe",system_uuid=""} 4125147136',
    'machine_swap_bytes{boot_id="b007b007",machine_id="f00dcafe",system_uuid=""} 1073741824',
    'capstan_info{version="1.2.3",cgroup_mode="hybrid",kernel="6.1.0-test"} 1',
    'capstan_cgroups_tracked 3',
  ];
  for (const line of expected) t.true(all.has(line), `missing line: ${line}`);
  t.deepEqual(checkStructure(text), []);
});

test('v1: loopback and host-side veth interfaces are left out, as cAdvisor does', async (t) => {
  const text = await exporterFor(loadSnapshot('snapshot-v1.json')).render();
  t.false(text.includes('interface="lo"'));
  t.false(text.includes('interface="veth'));
});

test('unknown values produce no series, never a 0', async (t) => {
  const text = await exporterFor(loadSnapshot('snapshot-v1.json')).render();
  // ssh.service has no io, no network, no memory.stat values, no createdAtMs
  for (const family of ['container_fs_reads_bytes_total', 'container_network_receive_bytes_total', 'container_memory_rss', 'container_start_time_seconds', 'container_oom_events_total']) {
    t.false(seriesOf(text, family).some((l) => l.includes(SSH)), `${family} has a series for ssh.service`);
  }
  t.is(seriesOf(text, 'container_start_time_seconds').length, 1);
});

test('throttling series and the quota exist only where a quota is set', async (t) => {
  const text = await exporterFor(loadSnapshot('snapshot-v1.json')).render();
  for (const family of ['container_spec_cpu_quota', 'container_cpu_cfs_periods_total', 'container_cpu_cfs_throttled_periods_total', 'container_cpu_cfs_throttled_seconds_total']) {
    const series = seriesOf(text, family);
    t.is(series.length, 1, family);
    t.true(series[0]!.includes(WEB), family);
  }
});

test('families without series are omitted; v2-only families are absent on v1', async (t) => {
  const v1 = await exporterFor(loadSnapshot('snapshot-v1.json')).render();
  t.false(v1.includes('container_memory_events_high_total'));
  t.false(v1.includes('container_memory_events_max_total'));
  t.false(v1.includes('container_fs_usage_bytes'), 'no filesystems option, no fs usage family');

  const empty = { ...loadSnapshot('snapshot-v1.json'), containers: [] };
  const none = await exporterFor(empty).render();
  t.false(/^(# HELP |# TYPE )?container_/m.test(none));
  t.deepEqual(checkStructure(none), []);
});

test('per-CPU series only when asked, replace cpu="total", cut to online CPUs, v1 only', async (t) => {
  const v1 = loadSnapshot('snapshot-v1.json');
  const byDefault = seriesOf(await exporterFor(v1).render(), 'container_cpu_usage_seconds_total');
  t.is(byDefault.length, 3);
  t.true(byDefault.every((l) => l.includes('cpu="total"')));

  const perCpu = seriesOf(await exporterFor(v1, { perCpu: true }).render(), 'container_cpu_usage_seconds_total');
  t.deepEqual(perCpu, [
    `container_cpu_usage_seconds_total{${ROOT},cpu="cpu00"} 2617.283945061`,
    `container_cpu_usage_seconds_total{${ROOT},cpu="cpu01"} 2617.283945062`,
    `container_cpu_usage_seconds_total{${WEB},cpu="cpu00"} 1`,
    `container_cpu_usage_seconds_total{${WEB},cpu="cpu01"} 2.5`,
    // no per-CPU array for this cgroup: the total stays
    `container_cpu_usage_seconds_total{${SSH},cpu="total"} 0.0015`,
  ]);

  const v2 = loadSnapshot('snapshot-v2.json');
  v2.containers[0]!.sample.cpu.perCpuNanoseconds = [1, 2, 3, 4]; // even if present, v2 has no per-CPU
  const v2Series = seriesOf(await exporterFor(v2, { perCpu: true }).render(), 'container_cpu_usage_seconds_total');
  t.deepEqual(v2Series, [`container_cpu_usage_seconds_total{${DB},cpu="total"} 9`]);
});

test('v2: memory.events families, failcnt from memory.events max, no max usage without memory.peak', async (t) => {
  const text = await exporterFor(loadSnapshot('snapshot-v2.json')).render();
  const all = new Set(lines(text));
  for (const line of [
    `container_memory_events_high_total{${DB}} 3`,
    `container_memory_events_max_total{${DB}} 2`,
    `container_memory_failcnt{${DB}} 2`,
    `container_spec_memory_reservation_limit_bytes{${DB}} 0`,
    `container_cpu_cfs_throttled_seconds_total{${DB}} 2`,
    `container_spec_cpu_quota{${DB}} 200000`,
    `container_fs_reads_bytes_total{${DB},device="259:0"} 8192`,
    'capstan_info{version="1.2.3",cgroup_mode="v2",kernel="6.1.0-test"} 1',
  ]) {
    t.true(all.has(line), `missing line: ${line}`);
  }
  t.false(text.includes('container_memory_max_usage_bytes'));
  t.false(text.includes('container_network_'));
  t.deepEqual(checkStructure(text), []);
});

test('filesystems are reported on the root cgroup only, one series per device', async (t) => {
  const filesystems = [
    { device: '/dev/sda1', mountpoint: '/', usedBytes: 1000, sizeBytes: 5000 },
    { device: '/dev/sda1', mountpoint: '/srv/bind', usedBytes: 1000, sizeBytes: 5000 },
    { device: '/dev/sdb', mountpoint: '/data', usedBytes: 7, sizeBytes: 9 },
  ];
  const text = await exporterFor(loadSnapshot('snapshot-v1.json'), { filesystems: () => filesystems }).render();
  t.deepEqual(seriesOf(text, 'container_fs_usage_bytes'), [
    `container_fs_usage_bytes{${ROOT},device="/dev/sda1"} 1000`,
    `container_fs_usage_bytes{${ROOT},device="/dev/sdb"} 7`,
  ]);
  t.deepEqual(seriesOf(text, 'container_fs_limit_bytes'), [
    `container_fs_limit_bytes{${ROOT},device="/dev/sda1"} 5000`,
    `container_fs_limit_bytes{${ROOT},device="/dev/sdb"} 9`,
  ]);
});

test('oomCounts keyed by container name win over the cgroup counter', async (t) => {
  const counts = new Map([['we"b\\app', 5]]);
  const text = await exporterFor(loadSnapshot('snapshot-v1.json'), { oomCounts: () => counts }).render();
  t.deepEqual(seriesOf(text, 'container_oom_events_total'), [`container_oom_events_total{${ROOT}} 0`, `container_oom_events_total{${WEB}} 5`]);
});

test('v2: container_oom_events_total is the cgroup\'s own kills (memory.events.local), not its descendants\'', async (t) => {
  const snapshot = loadSnapshot('snapshot-v2.json');
  // memory.events says 2 (a child's kills, counted upwards by the kernel); .local says 0.
  snapshot.containers[0]!.sample.memory.oomKills = 2;
  snapshot.containers[0]!.sample.memory.ownOomKills = 0;
  t.deepEqual(seriesOf(await exporterFor(snapshot).render(), 'container_oom_events_total'), [`container_oom_events_total{${DB}} 0`]);
  delete snapshot.containers[0]!.sample.memory.ownOomKills;
  t.deepEqual(seriesOf(await exporterFor(snapshot).render(), 'container_oom_events_total'), [`container_oom_events_total{${DB}} 2`], 'a kernel without .local');
});

test('a failing optional source leaves its series out, counts a warning, and the scrape still succeeds', async (t) => {
  const text = await exporterFor(loadSnapshot('snapshot-v1.json'), {
    filesystems: () => {
      throw new Error('statfs failed');
    },
  }).render();
  t.false(text.includes('container_fs_usage_bytes'));
  t.true(lines(text).includes('capstan_collector_warnings_total 1'));
});

test('before the first snapshot: machine and self metrics only', async (t) => {
  const text = await exporterFor(undefined).render();
  t.false(/^container_/m.test(text));
  t.true(text.includes('machine_cpu_cores{'));
  t.true(text.includes('machine_memory_bytes{'));
  t.true(lines(text).includes('capstan_info{version="1.2.3",cgroup_mode="unknown",kernel="6.1.0-test"} 1'));
  t.true(lines(text).includes('capstan_cgroups_tracked 0'));
  t.deepEqual(checkStructure(text), []);
});

test('machine families with unknown values are not registered', async (t) => {
  const { cpuPhysicalCores: _p, swapBytes: _s, ...machine } = MACHINE;
  const text = await exporterFor(undefined, { machine }).render();
  t.false(text.includes('machine_cpu_physical_cores'));
  t.false(text.includes('machine_swap_bytes'));
  t.true(text.includes('machine_cpu_cores{'));
});

test('the container series are rendered once per snapshot sequence', async (t) => {
  let snapshot = loadSnapshot('snapshot-v1.json');
  const exporter = exporterFor(undefined, { getSnapshot: () => snapshot });
  const first = await exporter.render();
  const second = await exporter.render();
  t.is(second, first);
  t.is(exporter.containerRenderCount, 1);
  t.true(lines(second).includes('capstan_scrape_duration_seconds_count 1'));

  const next = structuredClone(snapshot);
  next.sequence += 1;
  next.containers[1]!.sample.memory.usageBytes = 1;
  snapshot = next;
  const third = await exporter.render();
  t.is(exporter.containerRenderCount, 2);
  t.true(lines(third).includes(`container_memory_usage_bytes{${WEB}} 1`));
  t.true(lines(third).includes('capstan_scrape_duration_seconds_count 2'));
  await exporter.render();
  t.is(exporter.containerRenderCount, 2);
});

test('recordTick observes each sequence once; recordWarning counts', async (t) => {
  const snapshot = loadSnapshot('snapshot-v1.json');
  const exporter = exporterFor(snapshot);
  exporter.recordTick(snapshot);
  exporter.recordTick(snapshot);
  exporter.recordWarning();
  exporter.recordWarning();
  const all = lines(await exporter.render());
  t.true(all.includes('capstan_collector_tick_duration_seconds_count 1'));
  t.true(all.includes('capstan_collector_tick_duration_seconds_sum 0.012'));
  t.true(all.includes('capstan_collector_tick_duration_seconds_bucket{le="0.025"} 1'));
  t.true(all.includes('capstan_collector_warnings_total 2'));
});

test('label values escape backslash, quote and line feed', (t) => {
  t.is(escapeLabelValue('a\\b"c\nd'), 'a\\\\b\\"c\\nd');
  t.is(escapeLabelValue('/system.slice/ssh.service'), '/system.slice/ssh.service');
});

test('a line feed in a container name stays on one line', async (t) => {
  const snapshot = loadSnapshot('snapshot-v1.json');
  snapshot.containers[2]!.info.name = 'two\nlines';
  const text = await exporterFor(snapshot).render();
  t.true(lines(text).includes('container_threads{id="/system.slice/ssh.service",name="two\\nlines",image=""} 1'));
  t.deepEqual(checkStructure(text), []);
});

test('a container family registered in the prom-client registry is refused instead of duplicated', async (t) => {
  const registry = new Registry();
  const exporter = exporterFor(loadSnapshot('snapshot-v1.json'), { registry });
  new Gauge({ name: 'container_last_seen', help: 'duplicate', registers: [registry] });
  await t.throwsAsync(exporter.render(), { message: /container_last_seen/ });
});

test('an OpenMetrics registry is refused', (t) => {
  // The option's type already rules this out; a registry switched at runtime is caught too.
  const openMetrics = new Registry<OpenMetricsContentType>();
  openMetrics.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
  t.throws(() => exporterFor(undefined, { registry: openMetrics as unknown as Registry }), { instanceOf: TypeError });
  t.is(exporterFor(undefined).contentType, 'text/plain; version=0.0.4; charset=utf-8');
});

test('describeMetrics lists every family once, with cAdvisor naming rules and the starred metrics', (t) => {
  const described = describeMetrics();
  const names = described.map((d) => d.name);
  t.is(new Set(names).size, names.length);
  for (const d of described) {
    if (d.type === 'counter') t.true(d.name.endsWith('_total'), d.name);
    if (d.name.startsWith('container_')) t.deepEqual(d.labels.slice(0, 3), ['id', 'name', 'image']);
  }
  for (const starred of [
    'container_last_seen',
    'container_start_time_seconds',
    'container_spec_cpu_period',
    'container_spec_cpu_quota',
    'container_spec_cpu_shares',
    'container_spec_memory_limit_bytes',
    'container_spec_memory_swap_limit_bytes',
    'container_spec_memory_reservation_limit_bytes',
    'container_cpu_usage_seconds_total',
    'container_cpu_user_seconds_total',
    'container_cpu_system_seconds_total',
    'container_cpu_cfs_periods_total',
    'container_cpu_cfs_throttled_periods_total',
    'container_cpu_cfs_throttled_seconds_total',
    'container_memory_usage_bytes',
    'container_memory_working_set_bytes',
    'container_memory_rss',
    'container_memory_cache',
    'container_memory_swap',
    'container_memory_max_usage_bytes',
    'container_fs_usage_bytes',
    'container_fs_limit_bytes',
    'container_fs_reads_bytes_total',
    'container_fs_writes_bytes_total',
    'container_network_receive_bytes_total',
    'container_network_transmit_bytes_total',
    'container_network_receive_packets_total',
    'container_network_receive_packets_dropped_total',
    'container_oom_events_total',
    'machine_cpu_cores',
    'machine_memory_bytes',
  ]) {
    t.true(names.includes(starred), starred);
  }
  const high = described.find((d) => d.name === 'container_memory_events_high_total')!;
  t.deepEqual([high.v1, high.v2], [false, true]);
});

/**
 * The scrape histogram depends on how long rendering took; its values are masked so the golden
 * file stays exact everywhere else.
 */
function maskTimings(text: string): string {
  return text.replace(/^(capstan_scrape_duration_seconds_(?:bucket\{[^}]*\}|sum)) .*$/gm, '$1 <varies>');
}

test('golden: v1 exposition matches test/fixtures/metrics/golden-v1.txt (UPDATE_GOLDEN=1 rewrites it)', async (t) => {
  const snapshot = loadSnapshot('snapshot-v1.json');
  const exporter = exporterFor(snapshot, {
    filesystems: () => [{ device: '/dev/sda1', mountpoint: '/', usedBytes: 21474836480, sizeBytes: 107374182400 }],
    oomCounts: () => new Map([['we"b\\app', 2]]),
  });
  exporter.recordTick(snapshot);
  const actual = maskTimings(await exporter.render());
  if (process.env.UPDATE_GOLDEN === '1') {
    fs.writeFileSync(GOLDEN_V1, actual);
    t.log(`rewrote ${GOLDEN_V1}`);
  }
  t.is(actual, fs.readFileSync(GOLDEN_V1, 'utf8'));
});

/** A synthetic v1 snapshot of `count` cgroups shaped like the fixture's capstan container. */
function syntheticSnapshot(count: number, sequence = 1): CollectorSnapshot {
  const base = loadSnapshot('snapshot-v1.json');
  const template = base.containers[1]!;
  const containers: ContainerSnapshot[] = [];
  for (let i = 0; i < count; i++) {
    const c = structuredClone(template);
    const name = `svc-${String(i).padStart(4, '0')}`;
    c.info = { ...c.info, id: i.toString(16).padStart(64, '0'), name, cgroupPath: `/capstan/${name}`, image: `registry.example/app:${i % 7}` };
    c.sample.cpu.usageNanoseconds = 1e9 + i * 1234567;
    c.sample.memory.usageBytes = 1048576 * (i + 1);
    containers.push(c);
  }
  return { ...base, sequence, containers };
}

// Serial, so other tests in this file do not run in between the timed renders.
test.serial('1000 cgroups: every container gets its series, and the timing is reported (not asserted)', async (t) => {
  let snapshot = syntheticSnapshot(1000, 1);
  const exporter = exporterFor(undefined, { getSnapshot: () => snapshot });
  const timed = async (): Promise<[string, number]> => {
    const started = process.hrtime.bigint();
    const text = await exporter.render();
    return [text, Number(process.hrtime.bigint() - started) / 1e6];
  };
  const [, firstMs] = await timed(); // includes JIT warm-up and growing the writer's buffer
  snapshot = { ...snapshot, sequence: 2 };
  const [text, coldMs] = await timed();
  const [, cachedMs] = await timed();

  const containerSeries = lines(text).filter((l) => l.startsWith('container_')).length;
  t.is(exporter.containerRenderCount, 2);
  t.is(seriesOf(text, 'container_memory_usage_bytes').length, 1000);
  t.true(containerSeries >= 25_000, `${containerSeries} container series`);
  t.deepEqual(checkStructure(text), []);
  t.log(
    `1000 cgroups: ${containerSeries} container series, ${(Buffer.byteLength(text) / 1024 / 1024).toFixed(2)} MiB; ` +
      `first render ${firstMs.toFixed(1)} ms, new tick ${coldMs.toFixed(1)} ms, cached ${cachedMs.toFixed(2)} ms`,
  );
});

/**
 * Runs the real `promtool check metrics` (Prometheus' parser and linter) on the text. Returns
 * undefined when clean, else what promtool said. promtool is required: the test bootstrap installs it.
 */
function promtoolCheck(text: string): { ok: boolean; output: string } {
  const result = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  if (result.error !== undefined) {
    const code = (result.error as NodeJS.ErrnoException).code;
    throw new Error(
      code === 'ENOENT'
        ? 'promtool not found: install it with `apt-get install prometheus` (npm test installs it as root)'
        : `promtool failed to start: ${result.error.message}`,
    );
  }
  return { ok: result.status === 0, output: `${result.stdout}${result.stderr}`.trim() };
}

test('promtool check metrics: every rendering is valid and lint-clean', async (t) => {
  const v1 = loadSnapshot('snapshot-v1.json');
  const cases: Array<[string, MetricsExporter]> = [
    ['no snapshot yet', exporterFor(undefined)],
    ['v1', exporterFor(v1, { filesystems: () => [{ device: '/dev/sda1', mountpoint: '/', usedBytes: 1, sizeBytes: 2 }], oomCounts: () => new Map() })],
    ['v1 per-CPU', exporterFor(v1, { perCpu: true })],
    ['v2', exporterFor(loadSnapshot('snapshot-v2.json'), { perCpu: true })],
    ['1000 cgroups', exporterFor(syntheticSnapshot(1000))],
  ];
  for (const [label, exporter] of cases) {
    const text = await exporter.render();
    const { ok, output } = promtoolCheck(text);
    if (!ok || output !== '') {
      const file = path.join(os.tmpdir(), `capstan-metrics-${label.replace(/\W+/g, '-')}.txt`);
      fs.writeFileSync(file, text);
      t.fail(`${label}: promtool check metrics says:\n${output}\n(exposition saved to ${file})`);
    } else {
      t.true(ok, label);
    }
  }
});
