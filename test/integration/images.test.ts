/**
 * The image store with the real marker writer (capstan-shim overlay-markers), as root: the busybox
 * test image imported from each format, whiteouts written as overlayfs expects them, and tar-slip
 * archives refused without leaving anything behind.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { ImageError } from '../../server/runtime/images/errors';
import { ImageStore } from '../../server/runtime/images/store';
import { packTar, type TarWriteEntry } from '../../server/runtime/images/tar';
import { busyboxAvailable, writeBusyboxImages, type BusyboxImageFiles } from '../helpers/busybox-image';
import { REPO_ROOT, requireCapability } from '../helpers/repo';

const SHIM = path.join(REPO_ROOT, 'native', 'build', 'Release', 'capstan-shim');
const isRoot = process.getuid?.() === 0;

function canRun(t: ExecutionContext): boolean {
  const ok =
    requireCapability(isRoot, 'root (whiteout device nodes, trusted.* xattrs)') &&
    requireCapability(fs.existsSync(SHIM), `${SHIM} (npm run build)`) &&
    requireCapability(busyboxAvailable(), '/usr/bin/busybox (apt-get install busybox-static)');
  if (!ok) t.log('skipped: needs root, the built shim and busybox-static');
  return ok;
}

function setUp(t: ExecutionContext): { store: ImageStore; stateDir: string; files: BusyboxImageFiles; scratch: string } {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'capstan-images-it-'));
  t.teardown(() => fs.rmSync(scratch, { recursive: true, force: true }));
  const stateDir = path.join(scratch, 'state');
  const archives = path.join(scratch, 'archives');
  fs.mkdirSync(archives);
  return { store: new ImageStore({ stateDir }), stateDir, files: writeBusyboxImages(archives), scratch };
}

function isWhiteout(file: string): boolean {
  const stat = fs.lstatSync(file);
  return stat.isCharacterDevice() && stat.rdev === 0;
}

test('the busybox image imports from a rootfs tarball, a docker save archive and an OCI layout (tar and directory)', async (t) => {
  if (!canRun(t)) return;
  const { store, files, stateDir } = setUp(t);

  const [rootfs] = await store.importImage(files.rootfsTar, { name: 'busybox-rootfs' });
  t.deepEqual(rootfs!.layers, [files.diffIds[0]]);
  const [rootfsLayer] = store.layerDirs(rootfs!);
  t.true(fs.statSync(path.join(rootfsLayer!, 'bin/busybox')).isFile());
  t.is(fs.readlinkSync(path.join(rootfsLayer!, 'bin/sh')), 'busybox');
  t.is(fs.statSync(path.join(rootfsLayer!, 'tmp')).mode & 0o7777, 0o1777);

  const [saved] = await store.importImage(files.dockerSave);
  t.deepEqual(saved!.repoTags, [files.dockerSaveTag]);
  t.deepEqual(saved!.layers, files.diffIds);
  t.deepEqual(saved!.config.Cmd, ['sh']);
  const top = store.layerDirs(saved!)[1]!;
  t.true(isWhiteout(path.join(top, 'etc/issue')), 'a .wh. file became a 0/0 character device');
  t.false(fs.existsSync(path.join(top, 'etc/.wh.issue')));

  const [ociTar] = await store.importImage(files.ociTar);
  t.true(ociTar!.repoTags.includes(files.ociTag));
  t.is(ociTar!.id, saved!.id, 'the same config and layers: the same image');

  const [ociDirectory] = await store.importImage(files.ociDirectory, { name: 'busybox-oci-dir:2' });
  t.is(ociDirectory!.id, saved!.id);
  t.deepEqual(store.list().map((image) => image.id).sort(), [rootfs!.id, saved!.id].sort());
  t.is(fs.readdirSync(path.join(stateDir, 'images', 'layers')).length, 2, 'layers are stored once');
  t.deepEqual(fs.readdirSync(path.join(stateDir, 'images', 'tmp')), []);
});

const SLIP_ARCHIVES: Array<{ title: string; entries: Array<TarWriteEntry & { content?: string }>; entry: string }> = [
  { title: '../x', entries: [{ name: 'fine', type: 'file', content: 'ok' }, { name: '../capstan-slip-dotdot', type: 'file', content: 'x' }], entry: '../capstan-slip-dotdot' },
  { title: '/etc/x', entries: [{ name: '/etc/capstan-slip-absolute', type: 'file', content: 'x' }], entry: '/etc/capstan-slip-absolute' },
  {
    title: 'a symlink pointing out, then a file through it',
    entries: [
      { name: 'etc/', type: 'directory' },
      { name: 'escape', type: 'symlink', linkname: '/etc' },
      { name: 'escape/capstan-slip-symlink', type: 'file', content: 'x' },
    ],
    entry: 'escape/capstan-slip-symlink',
  },
];

for (const slip of SLIP_ARCHIVES) {
  test(`a tar-slip archive (${slip.title}) is refused naming the entry and leaves nothing behind`, async (t) => {
    if (!canRun(t)) return;
    const { store, stateDir, scratch } = setUp(t);
    const archive = path.join(scratch, 'slip.tar');
    fs.writeFileSync(archive, packTar(slip.entries));
    const before = fs.readdirSync(scratch).sort();
    const error = await t.throwsAsync(store.importImage(archive, { name: 'slip' }), { instanceOf: ImageError });
    t.is(error?.code, 'unsafe_entry');
    t.is((error as ImageError).entry, slip.entry);
    t.true(error!.message.includes(slip.entry), error!.message);
    for (const escaped of ['/etc/capstan-slip-absolute', '/etc/capstan-slip-symlink', path.join(os.tmpdir(), 'capstan-slip-dotdot')]) {
      t.false(fs.existsSync(escaped), `${escaped} was not written`);
    }
    t.deepEqual(fs.readdirSync(scratch).sort(), before);
    t.deepEqual(store.list(), []);
    t.deepEqual(fs.readdirSync(path.join(stateDir, 'images', 'layers')), []);
    t.deepEqual(fs.readdirSync(path.join(stateDir, 'images', 'tmp')), []);
  });
}

/** A tmpfs of `sizeMiB` at a fresh directory, unmounted at the end of the test. */
function smallFilesystem(t: ExecutionContext, scratch: string, sizeMiB: number): string {
  const directory = path.join(scratch, 'small');
  fs.mkdirSync(directory);
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMiB}m,mode=0700`, 'capstan-test-images', directory]);
  t.teardown(() => execFileSync('umount', ['-l', directory]));
  return directory;
}

test('free space is checked before and while writing: an image larger than the store has room for is refused, nothing left', async (t) => {
  if (!canRun(t)) return;
  const { scratch } = setUp(t);
  const small = smallFilesystem(t, scratch, 24);
  const stateDir = path.join(small, 'state');
  const store = new ImageStore({ stateDir });
  // 40 MiB that do not compress, in a plain tar outside the small file system.
  const big = Buffer.alloc(40 * 1024 * 1024);
  for (let i = 0; i < big.length; i += 4) big.writeUInt32LE((Math.imul(i, 2654435761) ^ (i >>> 7)) >>> 0, i);
  const archive = path.join(scratch, 'big.tar');
  fs.writeFileSync(archive, packTar([{ name: 'big.bin', type: 'file', content: big }]));
  const freeBefore = fs.statfsSync(small).bavail;
  const error = await t.throwsAsync(store.importImage(archive, { name: 'too-big' }), { instanceOf: ImageError });
  t.is(error?.code, 'insufficient_storage', error?.message);
  t.is((error as ImageError).status, 507);
  t.regex(error!.message, /free space/);
  t.deepEqual(store.list(), []);
  t.deepEqual(fs.readdirSync(path.join(stateDir, 'images', 'layers')), []);
  t.deepEqual(fs.readdirSync(path.join(stateDir, 'images', 'tmp')), []);
  t.is(fs.statfsSync(small).bavail, freeBefore, 'every byte written was removed again');

  // A store that is already full refuses before writing anything, and a small image still fits once there is room.
  const filler = path.join(small, 'filler');
  execFileSync('fallocate', ['-l', String(fs.statfsSync(small).bavail * fs.statfsSync(small).bsize - 512 * 1024), filler]);
  const small1 = path.join(scratch, 'small.tar');
  fs.writeFileSync(small1, packTar([{ name: 'hello', type: 'file', content: 'hi\n' }]));
  const full = await t.throwsAsync(store.importImage(small1, { name: 'fits' }), { instanceOf: ImageError });
  t.is(full?.code, 'insufficient_storage');
  t.deepEqual(fs.readdirSync(path.join(stateDir, 'images', 'tmp')), []);
  fs.rmSync(filler);
  const [fits] = await store.importImage(small1, { name: 'fits' });
  t.deepEqual(fits!.repoTags, ['fits:latest']);
});
