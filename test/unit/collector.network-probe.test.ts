import test from 'ava';
import { newNamespaceProbe, procsDue, processToLookUp, recordNamespace } from '../../server/collector/network-probe';

const HOST = 'net:[4026531840]';
const OWN = 'net:[4026532001]';
const OTHER = 'net:[4026532777]';
const EVERY = 10;

function dueTicks(probe: ReturnType<typeof newNamespaceProbe>, from: number, to: number): number[] {
  const ticks: number[] = [];
  for (let tick = from; tick < to; tick++) if (procsDue(probe, tick, EVERY, false)) ticks.push(tick);
  return ticks;
}

test('an unknown cgroup is read at once; a young one every tick; an old one with none every 10th tick, on its own phase', (t) => {
  const probe = newNamespaceProbe(3, false, false);
  t.true(procsDue(probe, 3, EVERY, false), 'never looked: read now');
  t.false(recordNamespace(probe, undefined, undefined, HOST, true));
  t.deepEqual(probe.finding, { kind: 'none' });
  t.deepEqual(dueTicks(probe, 3, 13), [3, 4, 5, 6, 7, 8, 9, 10, 11, 12], 'young: a process may still join');
  t.deepEqual(dueTicks(probe, 13, 45), [13, 23, 33, 43], 'then every 10th tick, counted from its first');
  t.true(procsDue(probe, 17, EVERY, true), 'a refresh (capstan or an engine changed it) reads it now');
});

test('a process in the host namespace counts as none', (t) => {
  const probe = newNamespaceProbe(0, false, false);
  t.false(recordNamespace(probe, 812, HOST, HOST, true));
  t.deepEqual(probe.finding, { kind: 'none' });
});

test('a container without a namespace of its own yet is read every tick, however old', (t) => {
  const probe = newNamespaceProbe(0, true, false);
  recordNamespace(probe, 900, HOST, HOST, true);
  t.deepEqual(dueTicks(probe, 100, 105), [100, 101, 102, 103, 104]);
});

test('the root cgroup is never read: it has the host counters', (t) => {
  const probe = newNamespaceProbe(0, false, true);
  t.deepEqual(dueTicks(probe, 0, 30), []);
});

test('a known namespace of its own: cgroup.procs is not read, the known process is looked up', (t) => {
  const probe = newNamespaceProbe(0, true, false);
  t.is(processToLookUp(probe, 4242, true), 4242);
  t.true(recordNamespace(probe, 4242, OWN, HOST, true));
  t.deepEqual(probe.finding, { kind: 'own', pid: 4242, link: OWN });
  t.deepEqual(dueTicks(probe, 1, 40), []);
  t.is(processToLookUp(probe, undefined, false), 4242);
  t.true(recordNamespace(probe, 4242, OWN, HOST, false), 'same process, same namespace: its counters');
  t.true(procsDue(probe, 7, EVERY, true), 'a refresh still reads it');
});

test('the known process gone, or its pid now elsewhere: no counters this tick, cgroup.procs read the next', (t) => {
  const exited = newNamespaceProbe(0, true, false);
  recordNamespace(exited, 4242, OWN, HOST, true);
  t.false(recordNamespace(exited, 4242, undefined, HOST, false));
  t.deepEqual(exited.finding, { kind: 'unknown' });
  t.true(procsDue(exited, 50, EVERY, false));

  const reused = newNamespaceProbe(0, true, false);
  recordNamespace(reused, 4242, OWN, HOST, true);
  t.false(recordNamespace(reused, 4242, OTHER, HOST, false), 'a pid reused in another namespace is not taken for the container');
  t.true(procsDue(reused, 50, EVERY, false));

  const joinedHost = newNamespaceProbe(0, true, false);
  recordNamespace(joinedHost, 4242, OWN, HOST, true);
  t.false(recordNamespace(joinedHost, 4242, HOST, HOST, false));
  t.true(procsDue(joinedHost, 50, EVERY, false));
});

test('a pid listed this tick whose link cannot be read exited in between: looked for again next tick', (t) => {
  const probe = newNamespaceProbe(0, false, false);
  t.false(recordNamespace(probe, 4242, undefined, HOST, true));
  t.deepEqual(probe.finding, { kind: 'unknown' });
  t.true(procsDue(probe, 30, EVERY, false));
});

test('a fresh read moves a known namespace to a new one (the container restarted)', (t) => {
  const probe = newNamespaceProbe(0, true, false);
  recordNamespace(probe, 4242, OWN, HOST, true);
  t.true(recordNamespace(probe, 5000, OTHER, HOST, true));
  t.deepEqual(probe.finding, { kind: 'own', pid: 5000, link: OTHER });
});
