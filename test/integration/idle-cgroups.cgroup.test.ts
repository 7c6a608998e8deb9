/**
 * Idle cgroups read less (issue 15, server/collector/idle-cgroups.ts), on real cgroups: a cgroup
 * whose CPU time and memory usage did not move reads only those, keeps the rest of
 * its sample as read before, and reads everything again in the very tick it moves; while idle it
 * still reads everything once every N ticks. Each sample is compared with a collector that reads
 * every file (idleFullReadEveryTicks 1), which is what direct reads give.
 */
import test, { type ExecutionContext } from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import type { ChildProcess } from 'node:child_process';
import { cgroupDirectory } from '../../server/cgroup/hierarchy';
import { Collector } from '../../server/collector/collector';
import type { CgroupLayout, CgroupPath, CgroupSample, CollectorSnapshot } from '../../server/model';
import { RawSource } from '../../server/sources/raw';
import { TestCgroupTree } from '../helpers/cgroups';
import { requireCapability } from '../helpers/repo';

/** So large that no test cgroup reaches its idle full-read tick during the test. Units: ticks. */
const NEVER = 1_000_000;

function sampleOf(snapshot: CollectorSnapshot, path: CgroupPath): CgroupSample {
  const found = snapshot.containers.find((c) => c.info.cgroupPath === path);
  if (!found) throw new Error(`${path} missing from the snapshot`);
  return found.sample;
}

/** What a collector that reads every file of every cgroup sees now. */
async function readEverything(layout: CgroupLayout, paths: readonly CgroupPath[]): Promise<Map<CgroupPath, CgroupSample>> {
  const direct = new Collector({ layout, intervalMs: 1000, historyCapacity: 2, sources: [new RawSource()], idleFullReadEveryTicks: 1, keptFileBudget: 0 });
  try {
    const snapshot = await direct.tick();
    return new Map(paths.map((path) => [path, sampleOf(snapshot, path)]));
  } finally {
    direct.close();
  }
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/**
 * The memory controller charges in per-CPU batches (MEMCG_CHARGE_BATCH, 64 pages) and hands a
 * CPU's unused batch back to the cgroup's counter only when another cgroup next charges on that
 * CPU. So two reads of a cgroup's memory usage, even a moment apart with nothing running in it,
 * may differ by up to a batch per CPU. Units: bytes.
 */
const CHARGE_CACHE_BYTES = os.cpus().length * 128 * 4096;

/** Everything but what moves by itself between two reads: network counters, and the usage within the charge cache. */
function comparable(sample: CgroupSample): unknown {
  const { network: _network, ...rest } = sample;
  const { usageBytes: _usage, ...memory } = sample.memory;
  return { ...rest, memory };
}

function assertSameSample(t: ExecutionContext, got: CgroupSample, direct: CgroupSample, what: string): void {
  t.deepEqual(comparable(got), comparable(direct), what);
  const drift = Math.abs((got.memory.usageBytes ?? 0) - (direct.memory.usageBytes ?? 0));
  t.true(drift <= CHARGE_CACHE_BYTES, `${what}: memory usage ${got.memory.usageBytes} vs ${direct.memory.usageBytes}, within the per-CPU charge cache (${CHARGE_CACHE_BYTES} bytes)`);
}

test('an idle cgroup reads only its activity files until it moves, then everything in that tick, and matches full reads throughout', async (t) => {
  if (!requireCapability(process.getuid?.() === 0, 'root (real cgroups)')) return t.log('skipped: needs root');
  const tree = TestCgroupTree.forTest(t);
  const idle = tree.child('idle');
  const woken = tree.child('woken');
  await tree.run(idle, 'sleep 600');
  await tree.run(woken, 'sleep 600');
  const collector = new Collector({ layout: tree.layout, intervalMs: 1000, historyCapacity: 10, sources: [new RawSource()], idleFullReadEveryTicks: NEVER, rarelyChangingEveryTicks: NEVER });
  t.teardown(() => collector.close());

  await collector.tick();
  t.false(collector.wasIdleLastTick(idle), 'a cgroup seen for the first time reads everything');
  let snapshot = await collector.tick();
  // Both settle within a few ticks (the charge cache again).
  for (let i = 0; i < 5 && !(collector.wasIdleLastTick(idle) && collector.wasIdleLastTick(woken)); i++) snapshot = await collector.tick();
  t.true(collector.wasIdleLastTick(idle), 'a sleeping cgroup is idle');
  t.true(collector.wasIdleLastTick(woken));
  const stats = collector.lastReadStats()!;
  t.true(stats.idleCgroups >= 2 && stats.read < stats.files, `idle cgroups read less (${stats.read} of ${stats.files} files, ${stats.idleCgroups} idle)`);
  let direct = await readEverything(tree.layout, [idle, woken]);
  assertSameSample(t, sampleOf(snapshot, idle), direct.get(idle)!, 'an idle sample is what full reads give');

  // A burst of work in `woken` (CPU, page faults, a fork and an exit), over before the next tick.
  await exited(await tree.run(woken, `/bin/sh -c 'i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; /bin/true'`));
  const before = sampleOf(snapshot, woken);
  snapshot = await collector.tick();
  t.false(collector.wasIdleLastTick(woken), 'the tick after work reads everything of that cgroup');
  const after = sampleOf(snapshot, woken);
  t.true((after.cpu.usageNanoseconds ?? 0) > (before.cpu.usageNanoseconds ?? 0), 'CPU time moved');
  t.true((after.memory.pgfault ?? 0) > (before.memory.pgfault ?? 0), `an activity-following counter (memory.stat pgfault) is current: ${before.memory.pgfault} → ${after.memory.pgfault}`);
  direct = await readEverything(tree.layout, [idle, woken]);
  assertSameSample(t, after, direct.get(woken)!, 'the woken sample is what full reads give');

  // Idle again once the work is over. Not always at the next tick: the memory controller's
  // per-CPU charge cache hands pages back to the cgroup's counter when another cgroup next
  // charges on that CPU, so the usage may move once more after the last process exited.
  let settled = false;
  // (That same cache can make a sleeping cgroup look busy for a tick: it only costs a full read.)
  for (let i = 0; i < 5 && !settled; i++) {
    snapshot = await collector.tick();
    settled = collector.wasIdleLastTick(woken);
  }
  t.true(settled, 'idle again within 5 ticks once the work is over');
  direct = await readEverything(tree.layout, [woken]);
  assertSameSample(t, sampleOf(snapshot, woken), direct.get(woken)!, 'keeping the values read last, which full reads agree with');
});

test('an idle cgroup still reads everything once every N ticks, so what its activity files cannot show is at most N ticks old', async (t) => {
  if (!requireCapability(process.getuid?.() === 0, 'root (real cgroups)')) return t.log('skipped: needs root');
  const tree = TestCgroupTree.forTest(t);
  const idle = tree.child('idle');
  const every = 3;
  const collector = new Collector({ layout: tree.layout, intervalMs: 1000, historyCapacity: 10, sources: [new RawSource()], idleFullReadEveryTicks: every, rarelyChangingEveryTicks: NEVER });
  t.teardown(() => collector.close());

  const v1 = tree.layout.controllersOn === 1;
  const maxUsage = (): number => Number(fs.readFileSync(`${cgroupDirectory(tree.layout, 'memory', idle)}/memory.max_usage_in_bytes`, 'utf8'));
  if (v1) {
    // A peak well above the usage that stays: 16 MiB held, then freed.
    const holder = await tree.holdMemory(idle, 16);
    for (let waitedMs = 0; maxUsage() < 16 * 1024 * 1024; waitedMs += 20) {
      if (waitedMs > 10_000) return t.fail(`the memory holder did not reach 16 MiB in 10 s (peak ${maxUsage()} bytes)`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    holder.kill('SIGKILL');
    await exited(holder);
  }
  await collector.tick();
  const idleTicks: boolean[] = [];
  for (let i = 0; i < 4 * every; i++) {
    await collector.tick();
    idleTicks.push(collector.wasIdleLastTick(idle));
  }
  // Full reads come at least every N ticks; more often when the charge cache moves the usage.
  const longestIdleRun = Math.max(...idleTicks.join('').split('false').map((run) => run.length / 'true'.length));
  t.true(longestIdleRun <= every - 1, `at most ${every - 1} idle ticks in a row (${idleTicks.join(', ')})`);
  t.true(idleTicks.some((wasIdle) => wasIdle), 'and it was idle in between');

  if (v1) {
    // memory.max_usage_in_bytes moves without any activity in the cgroup: writing 0 resets it to
    // the usage. A full read within N ticks shows it.
    const peak = maxUsage();
    tree.manager.writeControl('memory', idle, 'memory.max_usage_in_bytes', '0');
    const reset = maxUsage();
    t.true(reset < peak, `the reset lowered the peak (${peak} → ${reset})`);
    let shown: number | undefined;
    for (let i = 0; i < every && shown !== reset; i++) shown = sampleOf(await collector.tick(), idle).memory.maxUsageBytes;
    t.is(shown, reset, `the new peak shows within ${every} ticks`);
  }
});
