import test from 'ava';
import { Activity, activityAfter, FileRole, holdBackFollowers, idleFullReadDue, parseIdleFullReadEvery } from '../../server/collector/idle-cgroups';
import type { TextOrErrno } from '../../server/native/contract';
import { V2_STAT_FILES, v1StatFiles } from '../../server/cgroup/files';

const ENOENT = 2;

/** Folds a cgroup's activity files, [before, now] each, as the collector does; idle iff Same. */
function idleAfter(files: Array<[TextOrErrno | undefined, TextOrErrno]>): boolean {
  return files.reduce((soFar, [before, now]) => activityAfter(soFar, before, now), Activity.Unknown) === Activity.Same;
}

test('a cgroup is idle when every activity file reads as the tick before', (t) => {
  t.true(idleAfter([['100\n', '100\n'], ['4096\n', '4096\n']]));
  t.false(idleAfter([['100\n', '101\n'], ['4096\n', '4096\n']]), 'CPU time moved');
  t.false(idleAfter([['100\n', '100\n'], ['4096\n', '8192\n']]), 'memory moved (reclaim needs no CPU of its own)');
  t.false(idleAfter([['100\n', '101\n'], ['4096\n', '4096\n'], ['3\n', '3\n']]), 'a move is not undone by files after it');
});

test('a cgroup read for the first time, or with no activity file read, is never idle', (t) => {
  t.false(idleAfter([[undefined, '1\n'], [undefined, '2\n']]), 'nothing to compare with');
  t.false(idleAfter([['1\n', '1\n'], [undefined, '2\n']]), 'one file new');
  t.false(idleAfter([]), 'no activity files at all');
});

test('a repeated errno does not hide activity elsewhere, and errnos alone never make a cgroup idle', (t) => {
  // v2: no memory.current when the parent does not enable memory; cpu.stat is still there.
  t.true(idleAfter([['usage_usec 5\n', 'usage_usec 5\n'], [ENOENT, ENOENT]]));
  t.true(idleAfter([[ENOENT, ENOENT], ['usage_usec 5\n', 'usage_usec 5\n']]), 'in either order');
  t.false(idleAfter([['usage_usec 5\n', 'usage_usec 6\n'], [ENOENT, ENOENT]]));
  t.false(idleAfter([[ENOENT, ENOENT], [ENOENT, ENOENT]]), 'a controller not mounted, or a cgroup gone');
  t.false(idleAfter([['1\n', '1\n'], ['2\n', ENOENT]]), 'a file that vanished');
});

test('idle full reads come every N ticks, each cgroup on its own phase, and every tick for N = 1', (t) => {
  const ticksOf = (phase: number): number[] => [...Array(12).keys()].filter((tick) => idleFullReadDue(tick, phase, 4));
  t.deepEqual(ticksOf(0), [0, 4, 8]);
  t.deepEqual(ticksOf(1), [3, 7, 11]);
  t.deepEqual(ticksOf(6), [2, 6, 10], 'a phase past N wraps');
  // Ten cgroups with consecutive phases: no tick carries more than its share.
  const perTick = [...Array(4).keys()].map((tick) => [...Array(12).keys()].filter((phase) => idleFullReadDue(tick, phase, 4)).length);
  t.deepEqual(perTick, [3, 3, 3, 3]);
  t.true([0, 1, 2, 3].every((tick) => idleFullReadDue(tick, 7, 1)));
});

test('the first read holds back the due followers, and only them', (t) => {
  const roles = [FileRole.Scheduled, FileRole.ShowsActivity, FileRole.FollowsActivity, FileRole.FollowsActivity, FileRole.Scheduled];
  const due = Uint8Array.from([1, 1, 1, 0, 0]);
  const followers = holdBackFollowers(due, roles);
  t.deepEqual([...due], [1, 1, 0, 0, 0]);
  t.deepEqual([...followers], [0, 0, 1, 0, 0], 'a follower not due stays out of both');
});

test('each plan has CPU time and memory usage as its activity files, and no limit among them', (t) => {
  const activity = (files: ReadonlyArray<{ name: string; showsActivity?: true; rarelyChanges?: true }>): string[] => files.filter((f) => f.showsActivity).map((f) => f.name);
  t.deepEqual(activity(v1StatFiles({ blkioThrottleOnly: true, perCpu: false })), ['cpuacct.usage', 'memory.usage_in_bytes']);
  t.deepEqual(activity(V2_STAT_FILES), ['cpu.stat', 'memory.current']);
  for (const files of [v1StatFiles({ blkioThrottleOnly: false, perCpu: true }), V2_STAT_FILES]) {
    t.false(files.some((f) => f.showsActivity && f.rarelyChanges));
  }
});

test('a hand-given idle full-read interval is a whole number of ticks, at least 1', (t) => {
  t.is(parseIdleFullReadEvery('1', '--idle-full-read-every'), 1);
  t.is(parseIdleFullReadEvery(' 30 ', '--idle-full-read-every'), 30);
  t.throws(() => parseIdleFullReadEvery('0', '--idle-full-read-every'), { message: /--idle-full-read-every must be a whole number of ticks, at least 1/ });
  t.throws(() => parseIdleFullReadEvery('2.5', 'CAPSTAN_IDLE_FULL_READ_EVERY'), { message: /CAPSTAN_IDLE_FULL_READ_EVERY must be/ });
  t.throws(() => parseIdleFullReadEvery('99999999999999999999', '--idle-full-read-every'), { message: /too large/ });
});
