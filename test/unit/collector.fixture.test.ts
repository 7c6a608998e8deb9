/**
 * The collector over the fixture trees (test/fixtures/cgroup/{v1,v2}, test/fixtures/proc): what a
 * sweep produces, how broken files are reported, and a golden /metrics exposition of the result
 * (UPDATE_GOLDEN=1 rewrites it).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import test from 'ava';
import { layoutFromRoot } from '../../server/cgroup/layout';
import { Collector } from '../../server/collector/collector';
import { renderContainerMetrics } from '../../server/metrics';
import type { CollectorSnapshot } from '../../server/model';
import { RawSource } from '../../server/sources/raw';
import { REPO_ROOT } from '../helpers/repo';

const FIXTURES = path.join(REPO_ROOT, 'test', 'fixtures');
const FIXED_TIME_MS = Date.parse('2026-11-01T12:00:00Z');

function fixtureCollector(version: 'v1' | 'v2'): { collector: Collector; warnings: string[] } {
  const collector = new Collector({
    layout: layoutFromRoot(path.join(FIXTURES, 'cgroup', version)),
    procRoot: path.join(FIXTURES, 'proc'),
    intervalMs: 1000,
    historyCapacity: 10,
    sources: [new RawSource()],
    now: () => FIXED_TIME_MS,
  });
  const warnings: string[] = [];
  collector.on('warning', (message) => warnings.push(message));
  return { collector, warnings };
}

function byPath(snapshot: CollectorSnapshot, cgroupPath: string) {
  const container = snapshot.containers.find((c) => c.info.cgroupPath === cgroupPath);
  if (!container) throw new Error(`no ${cgroupPath} in the snapshot`);
  return container;
}

for (const version of ['v1', 'v2'] as const) {
  test(`${version}: every fixture cgroup is found, described and measured`, async (t) => {
    const { collector } = fixtureCollector(version);
    const snapshot = await collector.tick();
    t.deepEqual(
      snapshot.containers.map((c) => c.info.cgroupPath),
      ['/', '/broken', '/capstan', '/capstan/demo', '/system.slice', '/system.slice/ssh.service'],
    );
    const ssh = byPath(snapshot, '/system.slice/ssh.service');
    t.is(ssh.info.name, 'ssh.service');
    t.is(ssh.info.source, 'systemd');
    t.true(ssh.info.isContainer);
    const demo = byPath(snapshot, '/capstan/demo');
    t.is(demo.stats.cpuLimitCpus, 0.2);
    t.is(demo.sample.memory.limitBytes, 64 * 2 ** 20);
    t.true(demo.stats.memoryLimitIsSet);
    t.is(demo.stats.pids, 3);
    t.is(demo.stats.pidsLimit, 100);
    // /capstan/demo's first process (4242) lives in a network namespace of its own; ssh's (812) does not.
    t.truthy(demo.sample.network);
    t.true(demo.sample.network!.some((iface) => iface.name === 'eth0'));
    t.is(ssh.sample.network, undefined);
    t.is(ssh.stats.networkRxBytes, undefined, 'no namespace of its own: network unknown, not 0');
    // The root has no pids files on either hierarchy: unknown, not 0.
    t.is(byPath(snapshot, '/').stats.pids, undefined);
  });

  test(`${version}: a malformed file costs its value and one warning naming the path, tick after tick`, async (t) => {
    const { collector, warnings } = fixtureCollector(version);
    await collector.tick();
    const snapshot = await collector.tick();
    const broken = byPath(snapshot, '/broken');
    t.true(warnings.length > 0);
    t.true(warnings.every((w) => w.includes(path.join(FIXTURES, 'cgroup', version))), warnings.join('\n'));
    t.is(new Set(warnings).size, warnings.length, 'each broken file warns once, not every tick');
    t.true(warnings.some((w) => w.includes('/broken/')));
    t.is(broken.stats.pids, undefined, 'missing pids.current: feature absent');
    t.is(broken.info.cgroupPath, '/broken');
    // The other cgroups are unaffected.
    t.is(byPath(snapshot, '/capstan/demo').stats.pids, 3);
  });

  test(`${version}: golden /metrics exposition of the fixture tree (UPDATE_GOLDEN=1 rewrites it)`, async (t) => {
    const { collector } = fixtureCollector(version);
    await collector.tick();
    const snapshot = await collector.tick();
    const text = renderContainerMetrics(snapshot.containers, {
      cgroupVersion: version === 'v1' ? 1 : 2,
      perCpu: false,
      onlineCpus: snapshot.host.onlineCpus,
      snapshotTimestampMs: snapshot.timestampMs,
      deviceName: (major, minor) => `${major}:${minor}`,
    });
    // createdAtMs comes from the fixture directories' mtimes, which a checkout sets to "now".
    const stable = text.replace(/^(container_start_time_seconds\{[^}]*\}) .*$/gm, '$1 <checkout time>');
    const golden = path.join(FIXTURES, 'metrics', `golden-fixture-${version}.txt`);
    if (process.env['UPDATE_GOLDEN'] === '1') fs.writeFileSync(golden, stable);
    t.is(stable, fs.readFileSync(golden, 'utf8'));
  });
}
