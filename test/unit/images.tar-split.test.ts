import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import test, { type ExecutionContext } from 'ava';
import { ImageError } from '../../server/runtime/images/errors';
import { extractLayer } from '../../server/runtime/images/extract';
import { packTar, type TarWriteEntry } from '../../server/runtime/images/tar';
import { parseTarSplit, rebuildLayerTar, TAR_SPLIT_FILE } from '../../server/runtime/images/tar-split';

type Entry = TarWriteEntry & { content?: string | Buffer };

function scratch(t: ExecutionContext): string {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'capstan-tar-split-'));
  t.teardown(() => fs.rmSync(base, { recursive: true, force: true }));
  return base;
}

function digestOf(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Extracts `tar` as the store does (root/ + tar-split.gz in one layer folder) and returns the folder and digest. */
async function storeLayer(base: string, tar: Buffer, name = 'layer'): Promise<{ layer: string; digest: string }> {
  const layer = path.join(base, name);
  fs.mkdirSync(path.join(layer, 'root'), { recursive: true });
  const result = await extractLayer(Readable.from([tar]), path.join(layer, 'root'));
  fs.writeFileSync(path.join(layer, TAR_SPLIT_FILE), result.tarSplit);
  return { layer, digest: result.digest };
}

async function assertRoundTrip(t: ExecutionContext, base: string, tar: Buffer): Promise<string> {
  const { layer, digest } = await storeLayer(base, tar);
  t.is(digest, digestOf(tar));
  const rebuilt = rebuildLayerTar(layer, digest);
  t.is(rebuilt.sizeBytes, tar.length);
  const bytes = await collect(rebuilt.stream);
  t.true(bytes.equals(tar), 'the rebuilt tar is byte for byte the original');
  return layer;
}

/** A tree with what layers hold: long names, hard links, symlinks, empty files, a whiteout, odd modes. */
function makeTree(base: string): string {
  const tree = path.join(base, 'tree');
  const deep = path.join(tree, 'a'.repeat(90), 'b'.repeat(90));
  fs.mkdirSync(deep, { recursive: true });
  fs.writeFileSync(path.join(deep, `${'c'.repeat(120)}.txt`), 'long name\n');
  fs.mkdirSync(path.join(tree, 'bin'));
  fs.writeFileSync(path.join(tree, 'bin', 'tool'), Buffer.alloc(70_000, 7), { mode: 0o4755 });
  fs.linkSync(path.join(tree, 'bin', 'tool'), path.join(tree, 'bin', 'tool-link'));
  fs.symlinkSync('tool', path.join(tree, 'bin', 'alias'));
  fs.symlinkSync(`/${'t'.repeat(150)}`, path.join(tree, 'bin', 'long-target'));
  fs.writeFileSync(path.join(tree, 'empty'), '');
  fs.writeFileSync(path.join(tree, '.wh.deleted'), '');
  fs.writeFileSync(path.join(tree, 'ünïcode-名前'), 'utf-8 name\n');
  return tree;
}

for (const format of ['gnu', 'pax', 'ustar'] as const) {
  test(`a ${format} tar written by GNU tar is rebuilt byte for byte (long names, links, whiteouts, trailing record padding)`, async (t) => {
    const base = scratch(t);
    const tree = makeTree(base);
    if (format === 'ustar') {
      // ustar cannot hold names over 255 bytes nor links over 100: leave those out.
      fs.rmSync(path.join(tree, 'a'.repeat(90)), { recursive: true });
      fs.rmSync(path.join(tree, 'bin', 'long-target'));
    }
    const archive = path.join(base, 'layer.tar');
    execFileSync('tar', ['--format', format, '-C', tree, '-cf', archive, '.']);
    const tar = fs.readFileSync(archive);
    t.true(tar.length % 10240 === 0, 'GNU tar pads to whole records: trailing zero bytes after the end blocks');
    await assertRoundTrip(t, base, tar);
  });
}

test("Capstan's own tar writer (pax long names), a whiteout with data, and bytes after the end of the archive round-trip", async (t) => {
  const base = scratch(t);
  const entries: Entry[] = [
    { name: './', type: 'directory' },
    { name: `${'d'.repeat(200)}/${'f'.repeat(200)}`, type: 'file', content: 'pax path' },
    { name: 'etc/', type: 'directory', mode: 0o755 },
    { name: 'etc/.wh.issue', type: 'file', content: 'a whiteout carrying data is kept in the record' },
    { name: 'etc/empty', type: 'file', content: '' },
    { name: 'etc/same', type: 'hardlink', linkname: 'etc/empty' },
  ];
  const tar = Buffer.concat([packTar(entries), Buffer.from('trailing garbage some writers leave')]);
  const layer = await assertRoundTrip(t, base, tar);
  const segments = parseTarSplit(fs.readFileSync(path.join(layer, TAR_SPLIT_FILE)));
  t.deepEqual(
    segments.flatMap((segment) => ('file' in segment ? [segment.file] : [])),
    [`${'d'.repeat(200)}/${'f'.repeat(200)}`],
    'only extracted regular files with content are referenced; empty files and whiteouts are not',
  );
});

test('the record holds no file content: a large file adds only its path and size', async (t) => {
  const base = scratch(t);
  const big = Buffer.alloc(4 * 1024 * 1024);
  for (let i = 0; i < big.length; i += 4) big.writeUInt32LE((i * 2654435761) >>> 0, i); // incompressible-ish
  const tar = packTar([{ name: 'big.bin', type: 'file', content: big }]);
  const { layer } = await storeLayer(base, tar);
  t.true(fs.statSync(path.join(layer, TAR_SPLIT_FILE)).size < 4096);
});

test('a file changed on disk with the same size fails the digest check at the end, naming the layer', async (t) => {
  const base = scratch(t);
  const tar = packTar([{ name: 'etc/passwd', type: 'file', content: 'root:x:0:0\n' }]);
  const { layer, digest } = await storeLayer(base, tar);
  fs.writeFileSync(path.join(layer, 'root', 'etc', 'passwd'), 'evil:x:0:0\n');
  const error = await t.throwsAsync(collect(rebuildLayerTar(layer, digest).stream), { instanceOf: ImageError });
  t.is((error as ImageError).code, 'layer_changed');
  t.regex(error!.message, new RegExp(`layer ${digest} cannot be reproduced: the rebuilt tar has digest sha256:[0-9a-f]{64}`));
});

test('a file that changed size, or was replaced by a symlink, is refused before its bytes are sent', async (t) => {
  const base = scratch(t);
  const tar = packTar([
    { name: 'a', type: 'file', content: 'aaaa' },
    { name: 'b', type: 'file', content: 'bbbb' },
  ]);
  const { layer, digest } = await storeLayer(base, tar);
  fs.appendFileSync(path.join(layer, 'root', 'a'), 'more');
  let error = await t.throwsAsync(collect(rebuildLayerTar(layer, digest).stream), { instanceOf: ImageError });
  t.is(error!.message, `layer ${digest} cannot be reproduced: a is 8 bytes, the layer's tar had 4 bytes`);
  fs.writeFileSync(path.join(layer, 'root', 'a'), 'aaaa');
  fs.rmSync(path.join(layer, 'root', 'b'));
  fs.symlinkSync('/etc/passwd', path.join(layer, 'root', 'b'));
  error = await t.throwsAsync(collect(rebuildLayerTar(layer, digest).stream), { instanceOf: ImageError });
  t.regex(error!.message, /cannot be reproduced: b: ELOOP \(open .*\/root\/b\)/);
});

test('a layer stored without a record (imported before records were kept) is refused with what to do', (t) => {
  const base = scratch(t);
  fs.mkdirSync(path.join(base, 'old', 'root'), { recursive: true });
  const error = t.throws(() => rebuildLayerTar(path.join(base, 'old'), `sha256:${'0'.repeat(64)}`), { instanceOf: ImageError });
  t.is((error as ImageError).code, 'layer_tar_unavailable');
  t.regex(error!.message, /imported before Capstan kept the layout of layer tars.*import or load the image again/);
});

test('a damaged record is a clear error, not a wrong tar', (t) => {
  const base = scratch(t);
  fs.mkdirSync(path.join(base, 'bad', 'root'), { recursive: true });
  fs.writeFileSync(path.join(base, 'bad', TAR_SPLIT_FILE), 'not gzip');
  const error = t.throws(() => rebuildLayerTar(path.join(base, 'bad'), `sha256:${'0'.repeat(64)}`), { instanceOf: ImageError });
  t.is((error as ImageError).code, 'tar_split_corrupt');
});

const UNREPRODUCIBLE: Array<{ title: string; entries: Entry[]; reason: RegExp }> = [
  {
    title: 'two entries for one file',
    entries: [
      { name: 'etc/conf', type: 'file', content: 'first' },
      { name: 'etc/conf', type: 'file', content: 'second' },
    ],
    reason: /more than one entry for etc\/conf/,
  },
  {
    title: 'a whiteout of a file of the same layer',
    entries: [
      { name: 'etc/conf', type: 'file', content: 'first' },
      { name: 'etc/.wh.conf', type: 'file', content: '' },
    ],
    reason: /replaces etc\/conf/,
  },
  {
    title: 'a file where a directory of the same layer held files',
    entries: [
      { name: 'data/a/file', type: 'file', content: 'x' },
      { name: 'data/a', type: 'symlink', linkname: '/tmp' },
    ],
    reason: /removes files under data\/a/,
  },
];

for (const { title, entries, reason } of UNREPRODUCIBLE) {
  test(`a layer whose tar overwrites its own content (${title}) extracts, and save refuses it before sending a byte`, async (t) => {
    const base = scratch(t);
    const { layer, digest } = await storeLayer(base, packTar(entries));
    const error = t.throws(() => rebuildLayerTar(layer, digest), { instanceOf: ImageError });
    t.is((error as ImageError).code, 'layer_tar_unreproducible');
    t.regex(error!.message, reason);
  });
}

test('a directory named twice, and an empty file written twice, still round-trip', async (t) => {
  const base = scratch(t);
  await assertRoundTrip(
    t,
    base,
    packTar([
      { name: 'etc/', type: 'directory' },
      { name: 'etc/conf', type: 'file', content: 'kept' },
      { name: 'etc/', type: 'directory', mode: 0o700 },
      { name: 'etc/empty', type: 'file', content: '' },
      { name: 'etc/empty', type: 'file', content: '' },
    ]),
  );
});
