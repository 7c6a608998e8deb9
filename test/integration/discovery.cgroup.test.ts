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

  const before = await collector.tick();
  const fresh = `${tree.root}/fresh`;
  t.false(before.containers.some((c) => c.info.cgroupPath === fresh));

  tree.child('fresh');
  const after = await collector.tick();
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
