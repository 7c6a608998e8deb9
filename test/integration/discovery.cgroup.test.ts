/** New and vanished cgroups are noticed within one tick, on the real hierarchy. */
import test from 'ava';
import { Collector } from '../../server/collector/collector';
import { RawSource } from '../../server/sources/raw';
import { TestCgroupTree } from '../helpers/cgroups';
import { requireCapability } from '../helpers/repo';

test('a cgroup created between two ticks is in the next snapshot, and gone the tick after it is removed', async (t) => {
  if (!requireCapability(process.getuid?.() === 0, 'root (real cgroups)')) return t.log('skipped: needs root');
  const tree = TestCgroupTree.forTest(t);
  const collector = new Collector({ layout: tree.layout, intervalMs: 1000, historyCapacity: 10, sources: [new RawSource()] });
  const added: string[] = [];
  const removed: string[] = [];
  collector.on('added', (info) => added.push(info.cgroupPath));
  collector.on('removed', (info) => removed.push(info.cgroupPath));

  t.teardown(() => collector.close());
  await collector.tick();
  const before = await collector.tick();
  const fresh = `${tree.root}/fresh`;
  t.false(before.containers.some((c) => c.info.cgroupPath === fresh));

  tree.child('fresh');
  const after = await collector.tick();
  t.true(collector.lastReadStats()!.walked, 'inotify made this tick walk the hierarchies');
  const found = after.containers.find((c) => c.info.cgroupPath === fresh);
  t.truthy(found, 'new cgroup noticed within a tick');
  t.true(added.includes(fresh));
  t.is(found!.stats.pids, 0);
  t.is(found!.info.name, fresh, 'raw cgroups are named by their path');

  await tree.manager.remove(fresh);
  const gone = await collector.tick();
  t.false(gone.containers.some((c) => c.info.cgroupPath === fresh), 'vanished cgroup dropped within a tick');
  t.true(removed.includes(fresh));
  t.is(collector.history(fresh), undefined);
});

test('with nothing created or removed, a tick does not walk the hierarchies (inotify watches them)', async (t) => {
  if (!requireCapability(process.getuid?.() === 0, 'root (real cgroups)')) return t.log('skipped: needs root');
  const tree = TestCgroupTree.forTest(t);
  const collector = new Collector({ layout: tree.layout, intervalMs: 1000, historyCapacity: 10, sources: [new RawSource()], walkEveryTicks: 1000 });
  t.teardown(() => collector.close());
  await collector.tick();
  t.true(collector.lastReadStats()!.walked, 'the first tick walks');
  // Other tests on this machine make and remove cgroups too: some tick in a few must be quiet.
  let quiet = false;
  for (let i = 0; i < 20 && !quiet; i++) {
    await collector.tick();
    quiet = !collector.lastReadStats()!.walked;
  }
  t.true(quiet, 'a tick without cgroup changes skips the walk');
  const nested = tree.child('deep');
  tree.child('deep/er');
  const snapshot = await collector.tick();
  t.true(snapshot.containers.some((c) => c.info.cgroupPath === `${nested}/er`), 'a nested cgroup made since the last tick is found');
});
