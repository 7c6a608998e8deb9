import test from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createDeviceNameResolver, parseUeventDevName } from '../../server/metrics/devices';

/** A throwaway sysfs tree with /dev/block/<maj>:<min>/uevent files. */
function sysTree(t: { teardown(fn: () => void): void }, devices: Record<string, string>): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'capstan-sys-'));
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  for (const [number, uevent] of Object.entries(devices)) {
    fs.mkdirSync(path.join(root, 'dev', 'block', number), { recursive: true });
    fs.writeFileSync(path.join(root, 'dev', 'block', number, 'uevent'), uevent);
  }
  return root;
}

test('parseUeventDevName reads DEVNAME', (t) => {
  t.is(parseUeventDevName('MAJOR=8\nMINOR=0\nDEVNAME=sda\nDEVTYPE=disk\n'), 'sda');
  t.is(parseUeventDevName('MAJOR=253\nMINOR=0\nDEVNAME=mapper/../dm-0\n'), 'mapper/../dm-0');
  t.is(parseUeventDevName('MAJOR=8\nMINOR=0\n'), undefined);
  t.is(parseUeventDevName('DEVNAME=\n'), undefined);
});

test('resolves major:minor to /dev/<DEVNAME>, unknown devices to major:minor', (t) => {
  const sysRoot = sysTree(t, {
    '8:0': 'MAJOR=8\nMINOR=0\nDEVNAME=sda\nDEVTYPE=disk\n',
    '8:1': 'MAJOR=8\nMINOR=1\nDEVNAME=sda1\nDEVTYPE=partition\n',
    '253:0': 'MAJOR=253\nMINOR=0\nDEVNAME=dm-0\n',
    '7:0': 'MAJOR=7\nMINOR=0\n',
  });
  const resolve = createDeviceNameResolver({ sysRoot });
  t.is(resolve(8, 0), '/dev/sda');
  t.is(resolve(8, 1), '/dev/sda1');
  t.is(resolve(253, 0), '/dev/dm-0');
  t.is(resolve(7, 0), '7:0', 'no DEVNAME');
  t.is(resolve(9, 9), '9:9', 'no such device');
  t.is(resolve(-1, 2), '-1:2');
  t.is(resolve(1.5, 2), '1.5:2');
});

test('names are cached; unknown devices are retried after the delay', (t) => {
  const sysRoot = sysTree(t, { '8:0': 'DEVNAME=sda\n' });
  let now = 1000;
  const resolve = createDeviceNameResolver({ sysRoot, retryUnknownAfterMs: 500, now: () => now });
  t.is(resolve(8, 0), '/dev/sda');
  fs.rmSync(path.join(sysRoot, 'dev', 'block', '8:0'), { recursive: true });
  t.is(resolve(8, 0), '/dev/sda', 'served from the cache, sysfs not read again');

  t.is(resolve(8, 16), '8:16');
  fs.mkdirSync(path.join(sysRoot, 'dev', 'block', '8:16'), { recursive: true });
  fs.writeFileSync(path.join(sysRoot, 'dev', 'block', '8:16', 'uevent'), 'DEVNAME=sdb\n');
  now += 499;
  t.is(resolve(8, 16), '8:16', 'still within the retry delay');
  now += 1;
  t.is(resolve(8, 16), '/dev/sdb', 'a disk attached later gets its name');
});

test('read errors other than ENOENT are reported once, with code and path', (t) => {
  // A directory where the uevent file should be makes readFileSync fail with EISDIR.
  const sysRoot = sysTree(t, {});
  fs.mkdirSync(path.join(sysRoot, 'dev', 'block', '8:0', 'uevent'), { recursive: true });
  const errors: NodeJS.ErrnoException[] = [];
  let now = 0;
  const resolve = createDeviceNameResolver({ sysRoot, retryUnknownAfterMs: 10, now: () => now, onError: (e) => errors.push(e) });
  t.is(resolve(8, 0), '8:0');
  now += 100;
  t.is(resolve(8, 0), '8:0');
  t.is(errors.length, 1);
  t.is(errors[0]!.code, 'EISDIR');
  t.true(String(errors[0]!.path).endsWith(path.join('dev', 'block', '8:0', 'uevent')));
});
