import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import test, { type ExecutionContext } from 'ava';
import { ImageError } from '../../server/runtime/images/errors';
import { entryComponents, extractLayer, symlinkEscapes } from '../../server/runtime/images/extract';
import { packTar, type TarWriteEntry } from '../../server/runtime/images/tar';

type Entry = TarWriteEntry & { content?: string | Buffer };

/** A scratch folder with a layer root inside and a sentinel folder beside it (the "outside"). */
function scratch(t: ExecutionContext): { root: string; outside: string } {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'capstan-extract-'));
  t.teardown(() => fs.rmSync(base, { recursive: true, force: true }));
  const root = path.join(base, 'layer');
  const outside = path.join(base, 'outside');
  fs.mkdirSync(root);
  fs.mkdirSync(outside);
  return { root, outside };
}

function extract(root: string, entries: Entry[], gzip = false) {
  const tar = packTar(entries);
  return extractLayer(Readable.from([gzip ? gzipSync(tar) : tar]), root);
}

test('files, directories, symlinks and hard links are extracted with their modes, and the digest is of the tar', async (t) => {
  const { root } = scratch(t);
  const entries: Entry[] = [
    { name: './', type: 'directory' },
    { name: 'bin/', type: 'directory', mode: 0o755 },
    { name: 'bin/tool', type: 'file', content: '#!/bin/sh\necho hi\n', mode: 0o4755 },
    { name: 'bin/alias', type: 'symlink', linkname: 'tool' },
    { name: 'bin/abs', type: 'symlink', linkname: '/etc/passwd' },
    { name: 'bin/same', type: 'hardlink', linkname: 'bin/tool' },
    { name: 'implicit/parent/file', type: 'file', content: 'x' },
    { name: 'ro/', type: 'directory', mode: 0o555 },
    { name: 'ro/inside', type: 'file', content: 'written before the directory became read-only' },
  ];
  const result = await extract(root, entries);
  t.is(result.digest, `sha256:${createHash('sha256').update(packTar(entries)).digest('hex')}`);
  t.is(fs.readFileSync(path.join(root, 'bin/tool'), 'utf8'), '#!/bin/sh\necho hi\n');
  t.is(fs.statSync(path.join(root, 'bin/tool')).mode & 0o7777, 0o4755);
  t.is(fs.readlinkSync(path.join(root, 'bin/alias')), 'tool');
  t.is(fs.readlinkSync(path.join(root, 'bin/abs')), '/etc/passwd');
  t.is(fs.statSync(path.join(root, 'bin/same')).ino, fs.statSync(path.join(root, 'bin/tool')).ino);
  t.is(fs.readFileSync(path.join(root, 'implicit/parent/file'), 'utf8'), 'x');
  t.is(fs.statSync(path.join(root, 'ro')).mode & 0o777, 0o555);
  t.is(result.sizeBytes, ['#!/bin/sh\necho hi\n', 'x', 'written before the directory became read-only'].join('').length, 'regular files only, hard links counted once');
  t.deepEqual(result.markers, { whiteouts: [], opaqueDirectories: [] });
});

test('gzip layers are unpacked and hashed uncompressed; zstd is refused', async (t) => {
  const { root } = scratch(t);
  const entries: Entry[] = [{ name: 'a', type: 'file', content: 'A' }];
  const result = await extract(root, entries, true);
  t.is(result.digest, `sha256:${createHash('sha256').update(packTar(entries)).digest('hex')}`);
  t.is(fs.readFileSync(path.join(root, 'a'), 'utf8'), 'A');

  const zstd = Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), Buffer.alloc(100)]);
  const error = await t.throwsAsync(extractLayer(Readable.from([zstd]), scratch(t).root), { instanceOf: ImageError });
  t.is(error?.code, 'unsupported_archive');
});

test('whiteouts and opaque directories become marker lists, not files', async (t) => {
  const { root } = scratch(t);
  const result = await extract(root, [
    { name: 'etc/', type: 'directory' },
    { name: 'etc/.wh.issue', type: 'file', content: '' },
    { name: '.wh.top', type: 'file', content: '' },
    { name: 'var/www/', type: 'directory' },
    { name: 'var/www/.wh..wh..opq', type: 'file', content: '' },
    { name: 'var/www/index.html', type: 'file', content: 'new' },
    { name: 'gone/.wh.later', type: 'file', content: '' },
    // A whiteout superseded by a real file at the same path in the same layer.
    { name: 'etc/.wh.motd', type: 'file', content: '' },
    { name: 'etc/motd', type: 'file', content: 'kept' },
  ]);
  t.deepEqual(result.markers.whiteouts.sort(), ['etc/issue', 'gone/later', 'top']);
  t.deepEqual(result.markers.opaqueDirectories, ['var/www']);
  t.false(fs.existsSync(path.join(root, 'etc/.wh.issue')));
  t.false(fs.existsSync(path.join(root, 'var/www/.wh..wh..opq')));
  t.is(fs.readFileSync(path.join(root, 'etc/motd'), 'utf8'), 'kept');
});

const SLIPS: Array<{ title: string; entries: Entry[]; entry: string }> = [
  { title: 'a ../ path', entries: [{ name: '../escaped', type: 'file', content: 'x' }], entry: '../escaped' },
  { title: 'a nested ../ path', entries: [{ name: 'a/../../escaped', type: 'file', content: 'x' }], entry: 'a/../../escaped' },
  { title: 'an absolute path', entries: [{ name: '/etc/capstan-slip', type: 'file', content: 'x' }], entry: '/etc/capstan-slip' },
  {
    title: 'a file written through a symlink to an absolute directory',
    entries: [
      { name: 'link', type: 'symlink', linkname: '/OUTSIDE' },
      { name: 'link/escaped', type: 'file', content: 'x' },
    ],
    entry: 'link/escaped',
  },
  {
    title: 'a file written through a symlink to a relative directory',
    entries: [
      { name: 'dir/', type: 'directory' },
      { name: 'dir/up', type: 'symlink', linkname: '..' },
      { name: 'dir/up/up2', type: 'symlink', linkname: '..' },
    ],
    entry: 'dir/up/up2',
  },
  { title: 'a symlink climbing out of the root', entries: [{ name: 'a/evil', type: 'symlink', linkname: '../../../outside' }], entry: 'a/evil' },
  { title: 'a hard link to an absolute path', entries: [{ name: 'hard', type: 'hardlink', linkname: '/etc/passwd' }], entry: 'hard' },
  { title: 'a hard link with ..', entries: [{ name: 'hard', type: 'hardlink', linkname: '../outside/secret' }], entry: 'hard' },
  {
    title: 'a hard link through a symlink',
    entries: [
      { name: 'link', type: 'symlink', linkname: '/OUTSIDE' },
      { name: 'hard', type: 'hardlink', linkname: 'link/secret' },
    ],
    entry: 'hard',
  },
  { title: 'a hard link to a missing file', entries: [{ name: 'hard', type: 'hardlink', linkname: 'nowhere' }], entry: 'hard' },
];

for (const slip of SLIPS) {
  test(`tar slip refused: ${slip.title}`, async (t) => {
    const { root, outside } = scratch(t);
    fs.writeFileSync(path.join(outside, 'secret'), 'do not touch');
    const entries = slip.entries.map((entry) =>
      entry.linkname?.includes('OUTSIDE') ? { ...entry, linkname: entry.linkname.replace('/OUTSIDE', outside) } : entry,
    );
    const error = await t.throwsAsync(extract(root, entries), { instanceOf: ImageError });
    t.is(error?.code, 'unsafe_entry');
    t.is(error?.status, 400);
    t.is((error as ImageError).entry, slip.entry);
    t.true(error!.message.includes(JSON.stringify(slip.entry)), error!.message);
    t.deepEqual(fs.readdirSync(outside), ['secret'], 'nothing was written outside the layer');
    t.is(fs.readFileSync(path.join(outside, 'secret'), 'utf8'), 'do not touch');
    t.false(fs.existsSync(path.join(path.dirname(root), 'escaped')));
  });
}

test('entry paths and symlink targets are judged lexically', (t) => {
  t.deepEqual(entryComponents('./a//b/./c/'), ['a', 'b', 'c']);
  t.deepEqual(entryComponents('./'), []);
  t.throws(() => entryComponents('a/../b'));
  t.throws(() => entryComponents('/a'));
  t.false(symlinkEscapes(['usr', 'bin', 'x'], '../lib/y'));
  t.false(symlinkEscapes(['usr', 'bin', 'x'], '../../lib/y'));
  t.true(symlinkEscapes(['usr', 'bin', 'x'], '../../../etc'));
  t.false(symlinkEscapes(['x'], '/anything/absolute'));
  t.true(symlinkEscapes(['x'], '..'));
});

test('a sparse or otherwise unsupported entry is refused by name', async (t) => {
  const { root } = scratch(t);
  const tar = packTar([{ name: 'sparse', type: 'file', content: 'x' }]);
  tar[156] = 'S'.charCodeAt(0);
  let sum = 0;
  tar.fill(0x20, 148, 156);
  for (let i = 0; i < 512; i++) sum += tar[i]!;
  tar.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'latin1');
  const error = await t.throwsAsync(extractLayer(Readable.from([tar]), root), { instanceOf: ImageError });
  t.is(error?.code, 'unsupported_entry');
  t.is((error as ImageError).entry, 'sparse');
});
