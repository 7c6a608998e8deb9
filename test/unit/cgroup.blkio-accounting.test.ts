/**
 * BlkioAccounting sets up per-cgroup block I/O counting on v1 disks (see its header for why):
 * one "MAJ:MIN 0" write per disk into capstan's own cgroup, never twice, again for a disk that
 * came back, and block I/O becomes unknown when a disk cannot be set up.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import test from 'ava';
import { BlkioAccounting, parseDeviceNumber } from '../../server/cgroup/blkio-accounting';
import type { CgroupLayout } from '../../server/model';

/** A temporary directory that goes when the test ends, passed or failed. */
function scratchDirectory(t: { teardown(fn: () => void): void }, prefix: string): string {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.teardown(() => fs.rmSync(directory, { recursive: true, force: true }));
  return directory;
}

function fakeSys(t: { teardown(fn: () => void): void }, disks: Record<string, string>): string {
  const root = scratchDirectory(t, 'capstan-sys-');
  for (const [name, dev] of Object.entries(disks)) {
    fs.mkdirSync(path.join(root, 'block', name), { recursive: true });
    fs.writeFileSync(path.join(root, 'block', name, 'dev'), `${dev}\n`);
  }
  return root;
}

function v1Layout(blkioMount: string): CgroupLayout {
  return { mode: 'hybrid', controllersOn: 1, v1Mounts: { blkio: blkioMount }, v2Mount: undefined } as unknown as CgroupLayout;
}

test('each disk is set up once with a rule-removing write in capstan\'s own cgroup; a disk that returns is set up again', (t) => {
  const sys = fakeSys(t, { vda: '254:0', loop3: '7:3' });
  const blkio = scratchDirectory(t, 'capstan-blkio-');
  const writes: Array<[string, string]> = [];
  const accounting = new BlkioAccounting({ layout: v1Layout(blkio), cgroupPath: '/capstan', throttleFilesOnly: true, sysRoot: sys, write: (file, value) => writes.push([file, value]) });
  accounting.refresh();
  accounting.refresh();
  t.deepEqual(writes.sort(), [
    [`${blkio}/capstan/blkio.throttle.read_bps_device`, '254:0 0'],
    [`${blkio}/capstan/blkio.throttle.read_bps_device`, '7:3 0'],
  ]);
  t.true(accounting.complete);
  fs.rmSync(path.join(sys, 'block', 'loop3'), { recursive: true });
  accounting.refresh();
  fs.mkdirSync(path.join(sys, 'block', 'loop3'));
  fs.writeFileSync(path.join(sys, 'block', 'loop3', 'dev'), '7:3\n');
  accounting.refresh();
  t.is(writes.filter(([, value]) => value === '7:3 0').length, 2, 'a disk that went away and came back is set up again');
});

test('a disk that cannot be set up makes block I/O unknown and is reported once, with the file and errno', (t) => {
  const sys = fakeSys(t, { vda: '254:0' });
  const blkio = scratchDirectory(t, 'capstan-blkio-');
  const warnings: string[] = [];
  const accounting = new BlkioAccounting({
    layout: v1Layout(blkio),
    cgroupPath: '/capstan',
    throttleFilesOnly: true,
    sysRoot: sys,
    onWarning: (message) => warnings.push(message),
    write: () => {
      throw Object.assign(new Error('permission denied'), { code: 'EACCES' });
    },
  });
  accounting.refresh();
  accounting.refresh();
  t.false(accounting.complete);
  t.is(warnings.length, 1);
  t.regex(warnings[0]!, /\/dev\/vda \(254:0\).*blkio\.throttle\.read_bps_device: EACCES; block I\/O is reported as unknown/);
});

test('nothing to do on v2, or when the scheduler keeps its own blkio statistics', (t) => {
  const writes: string[] = [];
  const v2 = new BlkioAccounting({ layout: { mode: 'unified', controllersOn: 2, v1Mounts: {}, v2Mount: '/x' } as unknown as CgroupLayout, cgroupPath: '/capstan', throttleFilesOnly: false, write: (f) => writes.push(f) });
  const scheduler = new BlkioAccounting({ layout: v1Layout('/x'), cgroupPath: '/capstan', throttleFilesOnly: false, write: (f) => writes.push(f) });
  v2.refresh();
  scheduler.refresh();
  t.deepEqual(writes, []);
  t.true(v2.complete && scheduler.complete);
});

test('device numbers are read strictly', (t) => {
  t.is(parseDeviceNumber('254:0\n'), '254:0');
  t.is(parseDeviceNumber('7:201'), '7:201');
  t.is(parseDeviceNumber('sda'), undefined);
  t.is(parseDeviceNumber('1:2:3'), undefined);
});
