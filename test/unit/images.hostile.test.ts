/**
 * The archive suite: what an attacker puts in an image archive, and what the store does with it.
 * Path climbing, symlink and hard-link games, device nodes, setuid files, bombs (bytes and
 * entries), truncation, garbage, empty archives and odd names. Each case asserts the refusal (its
 * code and the entry it names) or the safe result, and that a refusal leaves nothing behind:
 * no record, no layer, no staging folder, nothing written outside.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import test, { type ExecutionContext } from 'ava';
import type { ImportLimits } from '../../server/runtime/images/budget';
import { ImageError } from '../../server/runtime/images/errors';
import { ImageStore } from '../../server/runtime/images/store';
import { packTar, tarHeader } from '../../server/runtime/images/tar';
import { dockerSaveOf, fileEntry, garbage, gzipBomb, paxHeader, rawHeader, tarOf } from '../helpers/hostile-archives';

const MiB = 1024 * 1024;

interface Scratch {
  store: ImageStore;
  stateDir: string;
  /** A directory outside the store that no import may write into. */
  outside: string;
  write(name: string, data: Buffer): string;
}

function setUp(t: ExecutionContext, limits?: ImportLimits): Scratch {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'capstan-hostile-'));
  t.teardown(() => fs.rmSync(scratch, { recursive: true, force: true }));
  const stateDir = path.join(scratch, 'state');
  const outside = path.join(scratch, 'outside');
  fs.mkdirSync(outside);
  const store = new ImageStore({ stateDir, markers: async () => {}, ...(limits ? { limits } : {}) });
  return {
    store,
    stateDir,
    outside,
    write: (name, data) => {
      const file = path.join(scratch, name);
      fs.writeFileSync(file, data);
      return file;
    },
  };
}

/** Nothing of a refused import is left: no image, no layer, no staging, nothing outside. */
function assertNothingLeft(t: ExecutionContext, scratch: Scratch): void {
  t.deepEqual(scratch.store.list(), []);
  t.deepEqual(fs.readdirSync(path.join(scratch.stateDir, 'images', 'layers')), [], 'no layer');
  t.deepEqual(fs.readdirSync(path.join(scratch.stateDir, 'images', 'tmp')), [], 'no staging folder');
  t.deepEqual(fs.readdirSync(path.join(scratch.stateDir, 'images', 'records')), [], 'no record');
  t.deepEqual(fs.readdirSync(scratch.outside), [], 'nothing written outside');
}

async function refused(t: ExecutionContext, scratch: Scratch, archive: Buffer, code: string, options: { entry?: string; message?: RegExp; name?: string } = {}) {
  const file = scratch.write('archive', archive);
  const error = await t.throwsAsync(scratch.store.importImage(file, options.name !== undefined ? { name: options.name } : {}), { instanceOf: ImageError });
  t.is(error?.code, code, error?.message);
  if (options.entry !== undefined) t.is((error as ImageError).entry, options.entry);
  if (options.message) t.regex(error!.message, options.message);
  t.true((error as ImageError).status >= 400 && (error as ImageError).status < 600);
  assertNothingLeft(t, scratch);
  return error as ImageError;
}

async function imported(t: ExecutionContext, scratch: Scratch, archive: Buffer): Promise<string> {
  const [image] = await scratch.store.importImage(scratch.write('archive', archive), { name: 'hostile:ok' });
  t.truthy(image);
  return scratch.store.layerDirs(image!)[0]!;
}

/* ---- path climbing ---- */

const CLIMBS: Array<{ title: string; name: string; why: RegExp }> = [
  { title: '..', name: '../x', why: /\.\./ },
  { title: 'a/../../x', name: 'a/../../x', why: /\.\./ },
  { title: 'a deep climb', name: 'a/b/c/../../../../x', why: /\.\./ },
  { title: './../x', name: './../x', why: /\.\./ },
  { title: 'an absolute path', name: '/etc/capstan-hostile', why: /absolute/ },
];

for (const climb of CLIMBS) {
  test(`path climbing (${climb.title}) is refused naming the entry`, async (t) => {
    const scratch = setUp(t);
    await refused(t, scratch, packTar([{ name: 'fine', type: 'file', content: 'ok' }, { name: climb.name, type: 'file', content: 'x' }]), 'unsafe_entry', {
      entry: climb.name,
      message: climb.why,
    });
    t.false(fs.existsSync('/etc/capstan-hostile'));
  });
}

test('path climbing through a pax path record is refused as well', async (t) => {
  const scratch = setUp(t);
  await refused(t, scratch, tarOf(paxHeader({ path: '../../capstan-hostile-pax' }), fileEntry('harmless', 'x')), 'unsafe_entry', { entry: '../../capstan-hostile-pax' });
});

/* ---- symlink games ---- */

test('a symlink out of the image, then a file through it, is refused; nothing reaches the target', async (t) => {
  const scratch = setUp(t);
  const archive = packTar([
    { name: 'escape', type: 'symlink', linkname: scratch.outside },
    { name: 'escape/owned', type: 'file', content: 'x' },
  ]);
  await refused(t, scratch, archive, 'unsafe_entry', { entry: 'escape/owned', message: /symlink/ });
});

test('a relative symlink that climbs above the image root is refused', async (t) => {
  const scratch = setUp(t);
  await refused(t, scratch, packTar([{ name: 'a/up', type: 'symlink', linkname: '../../../etc' }]), 'unsafe_entry', { entry: 'a/up', message: /outside/ });
});

test('a symlink chain (a -> b, b -> a directory) is not followed by later entries', async (t) => {
  const scratch = setUp(t);
  const archive = packTar([
    { name: 'dir/', type: 'directory' },
    { name: 'b', type: 'symlink', linkname: 'dir' },
    { name: 'a', type: 'symlink', linkname: 'b' },
    { name: 'a/x', type: 'file', content: 'x' },
  ]);
  await refused(t, scratch, archive, 'unsafe_entry', { entry: 'a/x' });
});

test('a symlink replaced by a directory and a file of the same name: the safe result is real entries inside the layer', async (t) => {
  const scratch = setUp(t);
  const passwd = fs.readFileSync('/etc/passwd');
  const root = await imported(
    t,
    scratch,
    packTar([
      { name: 'd', type: 'symlink', linkname: scratch.outside },
      { name: 'd/', type: 'directory' },
      { name: 'd/x', type: 'file', content: 'inside' },
      { name: 'f', type: 'symlink', linkname: '/etc/passwd' },
      { name: 'f', type: 'file', content: 'replaced' },
    ]),
  );
  t.true(fs.lstatSync(path.join(root, 'd')).isDirectory());
  t.is(fs.readFileSync(path.join(root, 'd/x'), 'utf8'), 'inside');
  t.true(fs.lstatSync(path.join(root, 'f')).isFile());
  t.is(fs.readFileSync(path.join(root, 'f'), 'utf8'), 'replaced');
  t.deepEqual(fs.readdirSync(scratch.outside), []);
  t.deepEqual(fs.readFileSync('/etc/passwd'), passwd);
});

/* ---- hard-link games ---- */

// The extractor's own refusals of hard links (absolute, "..", through a symlink, missing) are in
// images.extract.test.ts; here the store's: refused whole, /etc/passwd untouched, nothing left.
const HARD_LINKS: Array<{ title: string; entries: Parameters<typeof packTar>[0]; entry: string }> = [
  { title: 'to /etc/passwd', entries: [{ name: 'fine', type: 'file', content: 'ok' }, { name: 'pw', type: 'hardlink', linkname: '/etc/passwd' }], entry: 'pw' },
  { title: 'to a directory', entries: [{ name: 'd/', type: 'directory' }, { name: 'pw', type: 'hardlink', linkname: 'd' }], entry: 'pw' },
];

for (const link of HARD_LINKS) {
  test(`a hard link ${link.title} is refused naming the entry`, async (t) => {
    const scratch = setUp(t);
    const links = fs.statSync('/etc/passwd').nlink;
    await refused(t, scratch, packTar(link.entries), 'unsafe_entry', { entry: link.entry });
    t.is(fs.statSync('/etc/passwd').nlink, links, '/etc/passwd gained no link');
  });
}

test('a hard link later overwritten by a file leaves its target as it was', async (t) => {
  const scratch = setUp(t);
  const root = await imported(
    t,
    scratch,
    packTar([
      { name: 'original', type: 'file', content: 'original' },
      { name: 'alias', type: 'hardlink', linkname: 'original' },
      { name: 'alias', type: 'file', content: 'rewritten' },
    ]),
  );
  t.is(fs.readFileSync(path.join(root, 'original'), 'utf8'), 'original');
  t.is(fs.readFileSync(path.join(root, 'alias'), 'utf8'), 'rewritten');
  t.is(fs.statSync(path.join(root, 'original')).nlink, 1);
});

/* ---- device nodes, FIFOs, setuid ---- */

test('device nodes and FIFOs are skipped: none is created in the layer', async (t) => {
  const scratch = setUp(t);
  const root = await imported(
    t,
    scratch,
    tarOf(
      fileEntry('keep', 'kept'),
      rawHeader({ name: 'dev-mem', typeFlag: '3', mode: 0o666, devmajor: 1, devminor: 1 }),
      rawHeader({ name: 'disk', typeFlag: '4', mode: 0o666, devmajor: 8, devminor: 0 }),
      rawHeader({ name: 'pipe', typeFlag: '6', mode: 0o666 }),
    ),
  );
  t.is(fs.readFileSync(path.join(root, 'keep'), 'utf8'), 'kept');
  for (const name of ['dev-mem', 'disk', 'pipe']) t.false(fs.existsSync(path.join(root, name)), `${name} was not created`);
});

test('a setuid-root file keeps its bits as in docker, inside a store no other user can enter', async (t) => {
  const scratch = setUp(t);
  const root = await imported(t, scratch, packTar([{ name: 'bin/', type: 'directory' }, { name: 'bin/su', type: 'file', content: '#!/bin/sh\n', mode: 0o4755, uid: 0, gid: 0 }]));
  const stat = fs.statSync(path.join(root, 'bin/su'));
  t.is(stat.mode & 0o7777, process.getuid?.() === 0 ? 0o4755 : stat.mode & 0o7777);
  t.is(fs.statSync(path.join(scratch.stateDir, 'images')).mode & 0o777, 0o700, 'the store is closed to other users: its setuid files cannot be run from the host');
});

/* ---- bombs ---- */

test('a gzip bomb (a few hundred KiB unpacking past the cap) is refused at the cap, with nothing left in the store', async (t) => {
  const scratch = setUp(t, { maxUnpackedBytes: 32 * MiB, maxEntries: 1000 });
  const bomb = await gzipBomb(256 * MiB);
  t.true(bomb.length < 1 * MiB, `${bomb.length} bytes of gzip`);
  const error = await refused(t, scratch, bomb, 'image_too_large', { message: /--image-max-size/ });
  t.is(error.status, 413);
});

test('with the default limits, a gzip bomb is refused by its compression ratio, as an archive and as a layer', async (t) => {
  const scratch = setUp(t);
  const bomb = await gzipBomb(256 * MiB);
  const archive = await refused(t, scratch, bomb, 'compression_ratio', { message: /--image-max-ratio/ });
  t.is(archive.status, 413);
  await refused(t, scratch, dockerSaveOf([bomb], ['hostile/bomb:1'], { diffIds: false }), 'compression_ratio', { message: /the layer/ });
  // A large archive whose ratio so far is ordinary (incompressible data, then very repetitive text) is not a bomb.
  const text = Buffer.from('capstan '.repeat(10 * MiB));
  const [image] = await scratch.store.importImage(scratch.write('text.tar.gz', gzipSync(packTar([{ name: 'log.txt', type: 'file', content: garbage(8 * MiB, 3) }, { name: 'words', type: 'file', content: text }]))), { name: 'text:1' });
  t.truthy(image);
});

test('a gzip bomb inside a docker save layer is refused the same way', async (t) => {
  const scratch = setUp(t, { maxUnpackedBytes: 32 * MiB, maxEntries: 1000 });
  const archive = dockerSaveOf([await gzipBomb(256 * MiB)], ['hostile/bomb:1'], { diffIds: false });
  await refused(t, scratch, archive, 'image_too_large');
});

test('an image just under the cap imports, uploaded and gzipped too: each copy an import writes is held to the cap on its own', async (t) => {
  const scratch = setUp(t, { maxUnpackedBytes: 4 * MiB, maxEntries: 10 });
  const tar = packTar([{ name: 'data', type: 'file', content: garbage(3 * MiB, 11) }, ...Array.from({ length: 8 }, (_, i) => ({ name: `f${i}`, type: 'file' as const, content: '' }))]);
  const [uploaded] = await scratch.store.importStream(Readable.from([tar]), { name: 'under:upload', totalBytes: tar.length });
  t.is(uploaded!.sizeBytes, 3 * MiB);
  const [gzipped] = await scratch.store.importImage(scratch.write('under.tar.gz', gzipSync(tar)), { name: 'under:gzip' });
  t.deepEqual(gzipped!.layers, uploaded!.layers);
});

test('an entry bomb (more entries than --image-max-entries) is refused', async (t) => {
  const scratch = setUp(t, { maxUnpackedBytes: 64 * MiB, maxEntries: 500 });
  const entries = Array.from({ length: 600 }, (_, i) => ({ name: `f${i}`, type: 'file' as const, content: '' }));
  const error = await refused(t, scratch, packTar(entries), 'too_many_entries', { message: /--image-max-entries/ });
  t.is(error.status, 413);
  // The same as the index of a docker save archive.
  await refused(t, scratch, packTar([...entries, { name: 'manifest.json', type: 'file', content: '[]' }]), 'too_many_entries');
});

test('a size field far larger than the archive is truncation, not an allocation', async (t) => {
  const scratch = setUp(t);
  const header = tarHeader({ name: 'huge', type: 'file', size: 8 * 1024 * MiB });
  await refused(t, scratch, Buffer.concat([header, Buffer.alloc(4096)]), 'bad_archive', { message: /truncated/ });
});

/* ---- truncation and garbage ---- */

test('a truncated tar and a truncated gzip are refused as such', async (t) => {
  const scratch = setUp(t);
  const whole = packTar([{ name: 'big', type: 'file', content: garbage(64 * 1024, 7) }]);
  await refused(t, scratch, whole.subarray(0, 20_000), 'bad_archive', { message: /truncated/ });
  const gz = gzipSync(whole);
  await refused(t, scratch, gz.subarray(0, Math.floor(gz.length / 2)), 'bad_archive', { message: /gzip|truncated/ });
});

test('garbage, and archives compressed with what is not supported, are refused with what they are', async (t) => {
  const scratch = setUp(t);
  for (const seed of [1, 2, 3]) await refused(t, scratch, garbage(64 * 1024, seed), 'bad_archive', { message: /not a tar archive/ });
  await refused(t, scratch, Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), garbage(1024, 9)]), 'unsupported_archive', { message: /zstd/ });
  await refused(t, scratch, Buffer.concat([Buffer.from([0x1f, 0x8b]), garbage(1024, 10)]), 'bad_archive', { message: /gzip/ });
});

/* ---- no root filesystem ---- */

test('an empty tar, an empty file and an image without layers are refused: no root filesystem', async (t) => {
  const scratch = setUp(t);
  await refused(t, scratch, packTar([]), 'no_root_filesystem', { name: 'empty' });
  await refused(t, scratch, Buffer.alloc(0), 'no_root_filesystem', { name: 'empty' });
  await refused(t, scratch, packTar([{ name: './', type: 'directory' }]), 'no_root_filesystem', { name: 'empty' });
  await refused(t, scratch, dockerSaveOf([], ['hostile/empty:1']), 'no_root_filesystem');
});

/* ---- names ---- */

test('odd entry names are refused with what is wrong: NUL, control characters, over-long paths and components', async (t) => {
  const scratch = setUp(t);
  await refused(t, scratch, tarOf(paxHeader({ path: 'a\0b' }), fileEntry('x', 'x')), 'unsafe_entry', { message: /NUL/ });
  await refused(t, scratch, packTar([{ name: 'red\x1b[31m', type: 'file', content: 'x' }]), 'unsafe_entry', { message: /control character/ });
  await refused(t, scratch, packTar([{ name: 'line\nbreak', type: 'file', content: 'x' }]), 'unsafe_entry', { message: /control character/ });
  await refused(t, scratch, packTar([{ name: `${'c'.repeat(300)}`, type: 'file', content: 'x' }]), 'unsafe_entry', { message: /longer than 255/ });
  await refused(t, scratch, packTar([{ name: `${'d/'.repeat(2100)}f`, type: 'file', content: 'x' }]), 'unsafe_entry', { message: /longer than 4095/ });
  await refused(t, scratch, tarOf(paxHeader({ linkpath: 'a\0b' }), Buffer.from(tarHeader({ name: 'l', type: 'symlink', linkname: 'x' }))), 'unsafe_entry', { message: /NUL/ });
});

test('invalid image names are refused with docker\'s "invalid reference format", before anything is written', async (t) => {
  const scratch = setUp(t);
  const archive = packTar([{ name: 'hello', type: 'file', content: 'x' }]);
  for (const [name, why] of [
    ['bad\0name', /NUL/],
    ['bad\x07name', /control character/],
    ['Upper/Case', /must be lowercase/],
    [`${'a'.repeat(400)}:x`, /longer than|255/],
    ['name:bad tag', /tag/],
    ['', /empty/],
  ] as const) {
    const error = await refused(t, scratch, archive, 'invalid_reference', { name, message: why });
    t.regex(error.message, /^invalid reference format/);
  }
});

test('a docker save archive with an invalid repo tag is refused as a whole, as docker load does', async (t) => {
  const scratch = setUp(t);
  const layer = packTar([{ name: 'hello', type: 'file', content: 'x' }]);
  for (const tags of [['Hostile/UPPER:1'], ['ok/fine:1', 'bad:tag:twice'], ['nul\0tag:1'], [42], 'not-a-list']) {
    const error = await refused(t, scratch, dockerSaveOf([layer], tags), (tags as unknown[])[0] === 42 || tags === 'not-a-list' ? 'bad_archive' : 'invalid_reference');
    t.regex(error.message, /manifest\.json entry 0/);
  }
  // The same archive with a valid tag is fine.
  const [image] = await scratch.store.importImage(scratch.write('ok', dockerSaveOf([layer], ['hostile/fine:1'])));
  t.deepEqual(image!.repoTags, ['hostile/fine:1']);
});
