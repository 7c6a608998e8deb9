/**
 * The sweep stays correct at scale (issue 15): 300 cgroups under the test's own parent, an fd
 * budget small enough that the least recently read files fall back to open/read/close, and a
 * sample compared with direct reads after fds were kept across ticks, after a limit write, and
 * after a cgroup was removed and re-created under the same name (its kept fds answer ENODEV and
 * must not serve the old cgroup's values).
 */
import test from 'ava';
import * as fs from 'node:fs';
import { enumerateCgroups } from '../../server/cgroup/enumerate';
import { detectLayout } from '../../server/cgroup/layout';
import { cgroupDirectory, statRoots } from '../../server/cgroup/hierarchy';
import { Collector, SweepBudgetError } from '../../server/collector/collector';
import { keptFileBudgetFromLimit } from '../../server/collector/kept-files';
import { raiseOpenFileLimit } from '../../server/native';
import type { CgroupPath, CollectorSnapshot } from '../../server/model';
import { RawSource } from '../../server/sources/raw';
import { TestCgroupTree } from '../helpers/cgroups';
import { requireCapability } from '../helpers/repo';

const CGROUPS = 300;

test('a budget no open-file limit can hold is refused before anything is read, with what to do instead', (t) => {
  if (!requireCapability(process.getuid?.() === 0, 'root (real cgroups)')) return t.log('skipped: needs root');
  // The kernel caps RLIMIT_NOFILE at fs.nr_open, even for CAP_SYS_RESOURCE: this budget plus the
  // agent's 4096 is refused on any machine. (Before, such a budget made every open past the
  // limit fail with EMFILE, and those files were published as unreadable each tick.)
  const nrOpen = Number(fs.readFileSync('/proc/sys/fs/nr_open', 'utf8').trim());
  const before = raiseOpenFileLimit();
  const error = t.throws(
    () => new Collector({ layout: detectLayout(), intervalMs: 1000, historyCapacity: 2, sources: [new RawSource()], keptFileBudget: nrOpen }),
    { instanceOf: SweepBudgetError },
  );
  t.regex(error!.message, new RegExp(`budget of ${nrOpen} needs an open-file limit \\(RLIMIT_NOFILE\\) of at least ${nrOpen + 4096}`));
  t.regex(error!.message, /raising it failed \(setrlimit: EPERM/);
  t.is(error!.syscall, 'setrlimit');
  t.deepEqual(raiseOpenFileLimit(), before, 'the limits are as they were');
});
const SAMPLE_EVERY = 10;

test('300 cgroups under a small fd budget read the same as direct reads, across ticks, writes and re-creation', async (t) => {
  if (!requireCapability(process.getuid?.() === 0, 'root (real cgroups)')) return t.log('skipped: needs root');
  const tree = TestCgroupTree.forTest(t);
  const layout = tree.layout;
  const pidsController = layout.controllersOn === 2 ? 'unified' : 'pids';
  // The host's cgroups (and other tests') come first in the batch order that breaks LRU ties; the
  // budget covers them and half of this test's, so both kept fds and the fallback are exercised.
  const before = (await enumerateCgroups(statRoots(layout))).cgroups.size;
  const paths: CgroupPath[] = [];
  for (let i = 0; i < CGROUPS; i++) paths.push(tree.child(`c${String(i).padStart(3, '0')}`));
  const sample = paths.filter((_, i) => i % SAMPLE_EVERY === 0);
  const setPidsMax = (path: CgroupPath, value: number): void => tree.manager.writeControl(pidsController, path, 'pids.max', String(value));
  const directPidsMax = (path: CgroupPath): number => Number(fs.readFileSync(`${cgroupDirectory(layout, pidsController, path)}/pids.max`, 'utf8').trim());
  sample.forEach((path, index) => setPidsMax(path, 100 + index));
  sample.forEach((path, index) => tree.setMemoryLimit(path, (64 + index) * 1024 * 1024));
  const directMemoryLimit = (path: CgroupPath): number => {
    const file = layout.controllersOn === 2 ? 'memory.max' : 'memory.limit_in_bytes';
    return Number(fs.readFileSync(`${cgroupDirectory(layout, layout.controllersOn === 2 ? 'unified' : 'memory', path)}/${file}`, 'utf8').trim());
  };

  const probe = new Collector({ layout, intervalMs: 1000, historyCapacity: 2, sources: [new RawSource()], keptFileBudget: 0 });
  // Never past half the fd limit (the agent's own cap), whatever else the host holds.
  const budget = Math.min((before + CGROUPS / 2) * probe.filesPerCgroup, keptFileBudgetFromLimit(raiseOpenFileLimit().soft));
  probe.close();
  const collector = new Collector({ layout, intervalMs: 1000, historyCapacity: 10, sources: [new RawSource()], keptFileBudget: budget });
  t.teardown(() => collector.close());
  const warnings: string[] = [];
  collector.on('warning', (message) => warnings.push(message));
  const byPath = (snapshot: CollectorSnapshot, path: CgroupPath) => {
    const found = snapshot.containers.find((c) => c.info.cgroupPath === path);
    if (!found) throw new Error(`${path} missing from the snapshot`);
    return found.sample;
  };
  const compareSample = (snapshot: CollectorSnapshot, when: string): void => {
    for (const path of sample) {
      const got = byPath(snapshot, path);
      t.is(got.pids.limit, directPidsMax(path), `${when}: pids.max of ${path}`);
      t.is(got.memory.limitBytes, directMemoryLimit(path), `${when}: memory limit of ${path}`);
    }
  };

  // Several ticks: the files within the budget are now read through fds kept since the first.
  let snapshot = await collector.tick();
  t.true(paths.every((path) => snapshot.containers.some((c) => c.info.cgroupPath === path)), 'every test cgroup tracked');
  snapshot = await collector.tick();
  snapshot = await collector.tick();
  const steady = collector.lastReadStats()!;
  t.is(steady.budget, budget);
  t.true(steady.keptAllowed <= budget, `at most the budget kept (${steady.keptAllowed})`);
  t.true(steady.kept > 0, `files read through kept fds (${steady.kept})`);
  t.true(steady.opened > 0, `the rest fell back to open/read/close (${steady.opened})`);
  // Every cgroup's activity files get fds first (they are read every tick); the rest of some
  // cgroups' files fall back. cgroup.procs is never kept.
  const keepableFiles = collector.filesPerCgroup - 1;
  t.true(sample.some((path) => collector.keptFileCount(path) < keepableFiles), 'some sampled cgroups read files with open/read/close');
  t.true(sample.every((path) => collector.keptFileCount(path) >= 2), "every sampled cgroup's activity files hold fds");
  t.true(steady.read < steady.files, `limits not due are not read every tick (${steady.read} of ${steady.files})`);
  compareSample(snapshot, 'kept across ticks');

  // A limit changes between ticks; the write path tells the collector (as the update event does).
  const changed = sample[3]!;
  setPidsMax(changed, 4242);
  collector.refreshRarelyChanging(changed);
  snapshot = await collector.tick();
  t.is(byPath(snapshot, changed).pids.limit, 4242, 'a refreshed limit is read at once');
  compareSample(snapshot, 'after a limit write');

  // Removed and re-created under the same name between two ticks, with other limits: the old fds
  // answer ENODEV and the new cgroup's values are read, limits included.
  const recreated = sample.find((path) => collector.keptFileCount(path) > 0);
  if (!recreated) return t.fail('no sampled cgroup holds kept fds');
  await tree.manager.remove(recreated);
  tree.manager.create(recreated);
  setPidsMax(recreated, 777);
  tree.setMemoryLimit(recreated, 200 * 1024 * 1024);
  snapshot = await collector.tick();
  t.true(collector.lastReadStats()!.closedVanished > 0, 'kept fds of the removed cgroup were closed');
  t.is(byPath(snapshot, recreated).pids.limit, 777, 'the re-created cgroup, not the old one');
  t.is(byPath(snapshot, recreated).memory.limitBytes, 200 * 1024 * 1024);
  compareSample(snapshot, 'after re-creation');

  // Removed for good: gone within one tick.
  const removed = sample.find((path) => path !== recreated)!;
  await tree.manager.remove(removed);
  snapshot = await collector.tick();
  t.false(snapshot.containers.some((c) => c.info.cgroupPath === removed), 'a removed cgroup is dropped within a tick');
  t.deepEqual(warnings.filter((w) => w.includes(tree.root)), [], 'no warnings about the test cgroups');
});
