import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import test from 'ava';
import { CHANGE_KIND, computeChanges, formatChanges, withOpaqueDeletions, type DirectoryStat, type UpperEntry } from '../../server/runtime/images/changes';
import { shimMarkerWriter } from '../../server/runtime/images/markers';
import { mergeLayers } from '../../server/runtime/images/merged';
import { listUpperLayer } from '../../server/runtime/images/upper-listing';

const DIR_MODE = 0o040755;
const FILE_MODE = 0o100644;
const stat = (mode: number, size = 4096, mtimeNs = 1_700_000_000_000_000_000n): DirectoryStat => ({ mode, size, mtimeNs });
const lowerDir = (overrides: Partial<DirectoryStat> = {}) => ({ ...stat(DIR_MODE), ...overrides, isDirectory: true });
const lowerFile = { ...stat(FILE_MODE, 10), isDirectory: false };

test('docker diff lines: added, changed, deleted, with every directory above a change shown once as changed', (t) => {
  const entries: UpperEntry[] = [
    // /etc copied up unchanged (same mode, size, time): only there for its children.
    { path: '/etc', type: 'directory', stat: stat(DIR_MODE), lower: lowerDir() },
    { path: '/etc/new', type: 'other', stat: stat(FILE_MODE, 3) },
    { path: '/etc/other-new', type: 'other', stat: stat(FILE_MODE, 3) },
    { path: '/etc/passwd', type: 'other', stat: stat(FILE_MODE, 30), lower: lowerFile },
    { path: '/top-level-new', type: 'other', stat: stat(FILE_MODE, 1) },
    { path: '/usr', type: 'directory', stat: stat(DIR_MODE), lower: lowerDir() },
    { path: '/usr/bin', type: 'directory', stat: stat(DIR_MODE), lower: lowerDir() },
    { path: '/usr/bin/gone', type: 'whiteout', stat: stat(0o020000, 0) },
  ];
  const changes = computeChanges(entries);
  t.is(formatChanges(changes), ['C /etc', 'A /etc/new', 'A /etc/other-new', 'C /etc/passwd', 'A /top-level-new', 'C /usr', 'C /usr/bin', 'D /usr/bin/gone', ''].join('\n'));
  t.deepEqual(changes[1], { Path: '/etc/new', Kind: CHANGE_KIND.added });
});

test('a directory is changed by its mode or owner, not by its size or time, and is not repeated for its children', (t) => {
  const changes = computeChanges([
    { path: '/srv', type: 'directory', stat: stat(DIR_MODE, 4096, 2_000_000_000_000_000_000n), lower: lowerDir() },
    { path: '/srv/a', type: 'other', stat: stat(FILE_MODE) },
    { path: '/tmp', type: 'directory', stat: stat(0o041777), lower: lowerDir() },
    { path: '/touched', type: 'directory', stat: stat(DIR_MODE, 1, 1n), lower: lowerDir() },
    { path: '/owned', type: 'directory', stat: { ...stat(DIR_MODE), uid: 1000 }, lower: lowerDir() },
  ]);
  t.is(formatChanges(changes), 'C /srv\nA /srv/a\nC /tmp\nC /owned\n');
});

test('time in whole seconds on one side matches the same second with nanoseconds on the other (docker sameFsTime)', (t) => {
  const changes = computeChanges([
    { path: '/d', type: 'file', stat: stat(FILE_MODE, 10, 5_123_456_789n), lower: { ...lowerFile, mtimeNs: 5_000_000_000n } },
    { path: '/e', type: 'file', stat: stat(FILE_MODE, 10, 5_123_456_789n), lower: { ...lowerFile, mtimeNs: 5_000_000_001n } },
    // Copied up (opened for writing) but not changed: not listed.
    { path: '/f', type: 'file', stat: stat(FILE_MODE, 10), lower: lowerFile },
  ]);
  t.is(formatChanges(changes), 'C /e\n');
});

test('an opaque directory (removed and made again) is compared like any directory; what it hid below is deleted, in name order', (t) => {
  const entries = withOpaqueDeletions(
    [
      { path: '/var', type: 'directory', stat: stat(DIR_MODE), lower: lowerDir() },
      { path: '/var/www', type: 'directory', opaque: true, stat: stat(DIR_MODE, 4096, 9n), lower: lowerDir() },
      { path: '/var/www/index.html', type: 'file', stat: stat(FILE_MODE) },
      { path: '/var/www/sub', type: 'directory', stat: stat(DIR_MODE) },
      { path: '/var/www/sub/deep', type: 'file', stat: stat(FILE_MODE) },
      { path: '/x', type: 'file', stat: stat(FILE_MODE) },
    ],
    new Map([['/var/www', ['old.html', 'a-first', 'sub', 'zz-last']]]),
  );
  t.is(
    formatChanges(computeChanges(entries)),
    ['C /var', 'C /var/www', 'D /var/www/a-first', 'A /var/www/index.html', 'D /var/www/old.html', 'A /var/www/sub', 'A /var/www/sub/deep', 'D /var/www/zz-last', 'A /x', ''].join('\n'),
  );
});

test('a file replaced by a directory, a new directory tree and a symlink count as docker counts them', (t) => {
  const changes = computeChanges([
    { path: '/bin', type: 'directory', stat: stat(DIR_MODE), lower: lowerDir() },
    { path: '/bin/sh', type: 'other', stat: stat(0o120777, 7), lower: lowerFile },
    { path: '/new', type: 'directory', stat: stat(DIR_MODE) },
    { path: '/new/deep', type: 'directory', stat: stat(DIR_MODE) },
    { path: '/new/deep/file', type: 'other', stat: stat(FILE_MODE) },
    { path: '/was-file', type: 'directory', stat: stat(DIR_MODE), lower: lowerFile },
  ]);
  t.is(formatChanges(changes), 'C /bin\nC /bin/sh\nA /new\nA /new/deep\nA /new/deep/file\nC /was-file\n');
});

test('an empty upper layer has no changes', (t) => {
  t.deepEqual(computeChanges([]), []);
  t.is(formatChanges([]), '');
});

test('listUpperLayer walks in bytewise name order, stats the lower layers top first and leaves out the runtime mount targets', async (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'capstan-changes-'));
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const upper = path.join(root, 'upper');
  const lowerTop = path.join(root, 'lower-top');
  const lowerBottom = path.join(root, 'lower-bottom');
  for (const directory of [upper, lowerTop, lowerBottom]) fs.mkdirSync(directory);
  fs.mkdirSync(path.join(upper, 'proc'));
  fs.writeFileSync(path.join(upper, 'b'), 'x');
  fs.writeFileSync(path.join(upper, 'B'), 'x');
  fs.writeFileSync(path.join(upper, 'a'), 'x');
  fs.writeFileSync(path.join(lowerBottom, 'a'), 'old');
  fs.mkdirSync(path.join(lowerTop, 'a'));
  const entries = await listUpperLayer(upper, [lowerTop, lowerBottom]);
  t.deepEqual(entries.map((entry) => entry.path), ['/B', '/a', '/b']);
  t.true(entries[1]!.lower?.isDirectory, 'the topmost lower layer that has the path answers');
  t.is(entries[0]!.lower, undefined);
  t.is(formatChanges(computeChanges(entries)), 'A /B\nC /a\nA /b\n');
});

test('listUpperLayer reads overlayfs markers: a 0/0 character device is a whiteout, trusted.overlay.opaque=y an opaque directory', async (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'capstan-changes-'));
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const upper = path.join(root, 'upper');
  const lower = path.join(root, 'lower');
  fs.mkdirSync(path.join(upper, 'data', 'inner'), { recursive: true });
  fs.mkdirSync(path.join(upper, 'plain'));
  fs.mkdirSync(path.join(lower, 'data'), { recursive: true });
  fs.writeFileSync(path.join(lower, 'data', 'old'), 'x');
  fs.utimesSync(path.join(lower, 'data'), 1000, 1000);
  fs.writeFileSync(path.join(lower, 'gone'), 'x');
  // The shim writes the markers as it does for an extracted layer (Node has no mknod/setxattr).
  await shimMarkerWriter()(upper, { whiteouts: ['gone'], opaqueDirectories: ['data'] });
  const entries = await listUpperLayer(upper, [lower]);
  t.deepEqual(entries.map(({ path: entryPath, type, opaque }) => ({ entryPath, type, opaque })), [
    { entryPath: '/data', type: 'directory', opaque: true },
    { entryPath: '/data/inner', type: 'directory', opaque: false },
    { entryPath: '/data/old', type: 'whiteout', opaque: undefined },
    { entryPath: '/gone', type: 'whiteout', opaque: undefined },
    { entryPath: '/plain', type: 'directory', opaque: false },
  ]);
  t.is(formatChanges(computeChanges(entries)), 'C /data\nA /data/inner\nD /data/old\nD /gone\nA /plain\n');
});

test('mergeLayers: the topmost layer gives a path, whiteouts hide, opaque directories and non-directories cut the layers below', (t) => {
  const dir = (entryPath: string, opaque = false): UpperEntry => ({ path: entryPath, type: 'directory', opaque, stat: stat(DIR_MODE) });
  const file = (entryPath: string): UpperEntry => ({ path: entryPath, type: 'file', stat: stat(FILE_MODE) });
  const whiteout = (entryPath: string): UpperEntry => ({ path: entryPath, type: 'whiteout', stat: stat(0o020000, 0) });
  const upper = [dir('/data', true), file('/data/new'), whiteout('/gone'), file('/x'), dir('/y')];
  const middle = [dir('/data'), file('/data/hidden-by-opaque'), file('/gone'), dir('/keep'), file('/keep/m'), file('/y')];
  const bottom = [dir('/keep'), file('/keep/b'), file('/x'), dir('/y'), file('/y/under-a-file')];
  const visible = mergeLayers([upper, middle, bottom]).map(({ entry, layer }) => `${layer} ${entry.path}`);
  t.deepEqual(visible, ['0 /data', '0 /data/new', '1 /keep', '2 /keep/b', '1 /keep/m', '0 /x', '0 /y']);
});
