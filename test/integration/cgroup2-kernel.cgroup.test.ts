// The first cgroup-facing test, and the canary of the cgroup v2 VM lane (test/vm/run-lane.js).
//
// In the VM (CAPSTAN_EXPECT_CGROUP2=1) it proves the guest really is a pure cgroup v2 host with
// the controllers capstan reads and writes, and that a child cgroup takes limits. On a normal host
// run it checks what the host really has, so it can neither pass trivially nor skip.
//
// Self-contained on purpose: it checks the environment the other cgroup tests rely on, so it must
// not depend on the code under test.

import test from 'ava';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const CGROUP_ROOT = '/sys/fs/cgroup';
const EXPECT_CGROUP2 = process.env.CAPSTAN_EXPECT_CGROUP2 === '1';
/** The controllers capstan's collectors and limits depend on. */
const REQUIRED_CONTROLLERS = ['cpu', 'memory', 'io', 'pids'];

interface MountEntry {
  mountPoint: string;
  fsType: string;
}

/**
 * Parses /proc/self/mountinfo (proc(5)): the optional fields end at a lone "-", after which come
 * fstype, source and the super-block options. Mount points escape spaces as \040.
 */
function parseMountInfo(text: string): MountEntry[] {
  const entries: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const fields = line.split(' ');
    const separator = fields.indexOf('-', 6);
    if (separator === -1 || fields.length < separator + 4) throw new Error(`unparsable mountinfo line: ${line}`);
    entries.push({
      mountPoint: fields[4]!.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8))),
      fsType: fields[separator + 1]!,
    });
  }
  return entries;
}

function cgroupMounts(): MountEntry[] {
  return parseMountInfo(readFileSync('/proc/self/mountinfo', 'utf8')).filter(
    (entry) => entry.fsType === 'cgroup' || entry.fsType === 'cgroup2',
  );
}

function words(path: string): string[] {
  return readFileSync(path, 'utf8').trim().split(/\s+/).filter(Boolean);
}

if (EXPECT_CGROUP2) {
  test('only a cgroup2 hierarchy is mounted, at /sys/fs/cgroup', (t) => {
    const mounts = cgroupMounts();
    t.deepEqual(mounts.filter((m) => m.fsType === 'cgroup').map((m) => m.mountPoint), [], 'no cgroup v1 hierarchy');
    t.deepEqual(mounts.filter((m) => m.fsType === 'cgroup2').map((m) => m.mountPoint), [CGROUP_ROOT]);
  });

  test('the root cgroup offers cpu, memory, io and pids', (t) => {
    const controllers = words(join(CGROUP_ROOT, 'cgroup.controllers'));
    for (const controller of REQUIRED_CONTROLLERS) t.true(controllers.includes(controller), `${controller} in ${controllers.join(' ')}`);
  });

  test('a child cgroup gets the controllers and takes cpu.max and memory.max', (t) => {
    const child = join(CGROUP_ROOT, `capstan-test-${randomBytes(6).toString('hex')}`);
    mkdirSync(child);
    // rmdir works on an empty cgroup (no processes, no children): this test puts none in it.
    t.teardown(() => {
      if (existsSync(child)) rmdirSync(child);
    });

    const controllers = words(join(child, 'cgroup.controllers'));
    for (const controller of REQUIRED_CONTROLLERS) t.true(controllers.includes(controller), `${controller} in ${controllers.join(' ')}`);

    // Units: cpu.max is "<quota µs> <period µs>" (20% of one CPU here); memory.max is bytes (64 MiB).
    writeFileSync(join(child, 'cpu.max'), '20000 100000');
    t.is(readFileSync(join(child, 'cpu.max'), 'utf8').trim(), '20000 100000');
    writeFileSync(join(child, 'memory.max'), '67108864');
    t.is(readFileSync(join(child, 'memory.max'), 'utf8').trim(), '67108864');

    rmdirSync(child);
    t.false(existsSync(child), 'the child cgroup is gone after rmdir');
  });
} else {
  // A normal host run: v1, hybrid or v2, there must be a cgroup filesystem, each mount point must
  // be a real directory, and a cgroup2 mount must show its controller list.
  test('the host has at least one cgroup filesystem mounted', (t) => {
    const mounts = cgroupMounts();
    t.true(mounts.length > 0, 'no cgroup or cgroup2 line in /proc/self/mountinfo');
    for (const mount of mounts) {
      t.true(statSync(mount.mountPoint).isDirectory(), `${mount.mountPoint} is a directory`);
      if (mount.fsType === 'cgroup2') {
        t.notThrows(() => words(join(mount.mountPoint, 'cgroup.controllers')), `${mount.mountPoint}/cgroup.controllers is readable`);
      }
    }
  });
}
