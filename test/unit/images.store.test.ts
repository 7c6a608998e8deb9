import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import test, { type ExecutionContext } from 'ava';
import { ImageError } from '../../server/runtime/images/errors';
import type { LayerMarkers } from '../../server/runtime/images/extract';
import { ImageStore } from '../../server/runtime/images/store';
import { packTar } from '../../server/runtime/images/tar';
import { writeTestImages, type TarFile } from '../helpers/busybox-image';

const BASE: TarFile[] = [
  { name: './', type: 'directory' },
  { name: 'bin/', type: 'directory' },
  { name: 'bin/tool', type: 'file', content: 'tool v1\n', mode: 0o755 },
  { name: 'etc/', type: 'directory' },
  { name: 'etc/issue', type: 'file', content: 'base\n' },
  { name: 'var/www/old.html', type: 'file', content: 'old\n' },
];
const UPDATE: TarFile[] = [
  { name: 'etc/motd', type: 'file', content: 'layer 2\n' },
  { name: 'etc/.wh.issue', type: 'file', content: '' },
  { name: 'var/www/.wh..wh..opq', type: 'file', content: '' },
  { name: 'var/www/index.html', type: 'file', content: 'new\n' },
];

interface Fixture {
  store: ImageStore;
  stateDir: string;
  files: ReturnType<typeof writeTestImages>;
  markerCalls: Array<{ layerRoot: string; markers: LayerMarkers }>;
  inUse: Set<string>;
}

function fixture(t: ExecutionContext): Fixture {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'capstan-images-'));
  t.teardown(() => fs.rmSync(base, { recursive: true, force: true }));
  const stateDir = path.join(base, 'state');
  const archives = path.join(base, 'archives');
  fs.mkdirSync(archives);
  const files = writeTestImages(archives, BASE, UPDATE, 'tiny');
  const markerCalls: Fixture['markerCalls'] = [];
  const inUse = new Set<string>();
  const store = new ImageStore({
    stateDir,
    markers: async (layerRoot, markers) => {
      markerCalls.push({ layerRoot, markers });
    },
    isImageInUse: (id) => inUse.has(id),
  });
  return { store, stateDir, files, markerCalls, inUse };
}

function layerCount(stateDir: string): number {
  return fs.readdirSync(path.join(stateDir, 'images', 'layers')).length;
}

function stagingEmpty(stateDir: string): boolean {
  return fs.readdirSync(path.join(stateDir, 'images', 'tmp')).length === 0;
}

test('a plain rootfs tarball becomes a one-layer image with an empty config', async (t) => {
  const { store, files, stateDir } = fixture(t);
  const [image] = await store.importImage(files.rootfsTar, { name: 'tiny' });
  t.truthy(image);
  t.regex(image!.id, /^sha256:[0-9a-f]{64}$/);
  t.deepEqual(image!.repoTags, ['tiny:latest']);
  t.deepEqual(image!.layers, [files.diffIds[0]]);
  t.deepEqual(image!.config, {});
  t.is(image!.sizeBytes, 'tool v1\n'.length + 'base\n'.length + 'old\n'.length);
  const [layer] = store.layerDirs(image!);
  t.is(fs.readFileSync(path.join(layer!, 'bin/tool'), 'utf8'), 'tool v1\n');
  t.is(store.resolve('tiny')?.id, image!.id);
  t.is(store.resolve('tiny:latest')?.id, image!.id);
  t.is(store.resolve(image!.id)?.id, image!.id);
  t.is(store.resolve(image!.id.slice(7, 19))?.id, image!.id);
  t.is(store.resolve('other'), undefined);
  t.is(layerCount(stateDir), 1);
  t.true(stagingEmpty(stateDir));
});

test('gzip-compressed rootfs tarballs are imported too, with progress', async (t) => {
  const { store, files } = fixture(t);
  const phases = new Set<string>();
  const [image] = await store.importImage(files.rootfsTarGz, { name: 'tiny:gz', onProgress: (p) => phases.add(p.phase) });
  t.deepEqual(image!.layers, [files.diffIds[0]]);
  t.deepEqual([...phases].sort(), ['decompress', 'extract']);
});

test('a docker save archive keeps its name, config and layers, and passes whiteouts to the marker writer', async (t) => {
  const { store, files, markerCalls, stateDir } = fixture(t);
  const [image] = await store.importImage(files.dockerSave);
  t.deepEqual(image!.repoTags, [files.dockerSaveTag]);
  t.deepEqual(image!.layers, files.diffIds);
  t.deepEqual(image!.config.Cmd, ['sh']);
  t.deepEqual(image!.config.Env, ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin']);
  t.is(image!.createdAt, '2023-11-14T22:13:20.000Z');
  const [bottom, top] = store.layerDirs(image!);
  t.is(fs.readFileSync(path.join(bottom!, 'etc/issue'), 'utf8'), 'base\n');
  t.is(fs.readFileSync(path.join(top!, 'etc/motd'), 'utf8'), 'layer 2\n');
  t.false(fs.existsSync(path.join(top!, 'etc/.wh.issue')));
  const update = markerCalls.find((call) => call.markers.whiteouts.length > 0);
  t.deepEqual(update?.markers, { whiteouts: ['etc/issue'], opaqueDirectories: ['var/www'] });
  t.is(layerCount(stateDir), 2);
  t.true(stagingEmpty(stateDir));
});

test('an OCI layout, as a directory and as a tar, shares the layers already stored', async (t) => {
  const { store, files, stateDir, markerCalls } = fixture(t);
  const [saved] = await store.importImage(files.dockerSave);
  const callsBefore = markerCalls.length;
  const [fromDirectory] = await store.importImage(files.ociDirectory);
  t.deepEqual(fromDirectory!.repoTags.sort(), [files.dockerSaveTag, files.ociTag].sort(), 'the same image gains the name');
  t.deepEqual(fromDirectory!.layers, saved!.layers);
  t.is(fromDirectory!.id, saved!.id, 'the same config is the same image');
  t.is(markerCalls.length, callsBefore, 'no layer was extracted again');
  t.is(layerCount(stateDir), 2);

  const [fromTar] = await store.importImage(files.ociTar, { name: 'oci-from-tar:1' });
  t.is(fromTar!.id, saved!.id);
  t.deepEqual(store.get(saved!.id).repoTags.sort(), [files.dockerSaveTag, files.ociTag, 'oci-from-tar:1'].sort());
});

test('an upload stream is stored and imported, and a short upload is refused', async (t) => {
  const { store, files, stateDir } = fixture(t);
  const data = fs.readFileSync(files.dockerSave);
  const [image] = await store.importStream(Readable.from([data.subarray(0, 5000), data.subarray(5000)]), { totalBytes: data.length });
  t.deepEqual(image!.repoTags, [files.dockerSaveTag]);
  await t.throwsAsync(store.importStream(Readable.from([data.subarray(0, 2048)]), { totalBytes: data.length }), { instanceOf: ImageError });
  t.true(stagingEmpty(stateDir));
});

test('a tar-slip archive is refused naming the entry, and nothing of it is kept', async (t) => {
  const { store, stateDir } = fixture(t);
  const evil = path.join(stateDir, '..', 'evil.tar');
  fs.writeFileSync(
    evil,
    packTar([
      { name: 'ok', type: 'file', content: 'fine' },
      { name: 'link', type: 'symlink', linkname: '/tmp' },
      { name: 'link/capstan-slip', type: 'file', content: 'escaped' },
    ]),
  );
  const error = await t.throwsAsync(store.importImage(evil, { name: 'evil' }), { instanceOf: ImageError });
  t.is(error?.code, 'unsafe_entry');
  t.regex(error!.message, /link\/capstan-slip/);
  t.false(fs.existsSync('/tmp/capstan-slip'));
  t.deepEqual(store.list(), []);
  t.is(layerCount(stateDir), 0);
  t.true(stagingEmpty(stateDir));
});

test('a name moves to the newest image; the old one stays, untagged', async (t) => {
  const { store, files } = fixture(t);
  const [first] = await store.importImage(files.rootfsTar, { name: 'app:1' });
  const [second] = await store.importImage(files.dockerSave, { name: 'app:1' });
  t.not(first!.id, second!.id);
  t.is(store.resolve('app:1')?.id, second!.id);
  t.deepEqual(store.get(first!.id).repoTags, []);
});

test('rm untags a name the image has others for, refuses while in use, and collects unused layers', async (t) => {
  const { store, files, inUse, stateDir } = fixture(t);
  const [saved] = await store.importImage(files.dockerSave);
  await store.importImage(files.ociDirectory);
  const [rootfs] = await store.importImage(files.rootfsTar, { name: 'tiny-rootfs' });
  t.is(layerCount(stateDir), 2, 'the rootfs tarball is the docker image base layer: shared');

  t.deepEqual(await store.remove(files.ociTag), { untagged: [files.ociTag], deleted: [] });
  t.deepEqual(store.get(saved!.id).repoTags, [files.dockerSaveTag]);

  inUse.add(saved!.id);
  const refused = await t.throwsAsync(store.remove(files.dockerSaveTag), { instanceOf: ImageError });
  t.is(refused?.status, 409);
  t.is(refused?.code, 'image_in_use');
  t.truthy(store.resolve(files.dockerSaveTag));

  inUse.delete(saved!.id);
  t.deepEqual(await store.remove(files.dockerSaveTag), { untagged: [files.dockerSaveTag], deleted: [saved!.id] });
  t.is(layerCount(stateDir), 1, 'the base layer is still used by the rootfs image');
  await store.remove(rootfs!.id);
  t.is(layerCount(stateDir), 0);
  const missing = await t.throwsAsync(store.remove('nothing-here'), { instanceOf: ImageError });
  t.is(missing?.status, 404);
});

test('archives that are not images are refused clearly', async (t) => {
  const { store, stateDir } = fixture(t);
  const notTar = path.join(stateDir, '..', 'not.tar');
  fs.writeFileSync(notTar, 'this is not a tar archive at all'.repeat(40));
  const error = await t.throwsAsync(store.importImage(notTar), { instanceOf: ImageError });
  t.is(error?.code, 'bad_archive');
  const xz = path.join(stateDir, '..', 'x.tar.xz');
  fs.writeFileSync(xz, Buffer.concat([Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]), Buffer.alloc(600)]));
  t.is((await t.throwsAsync(store.importImage(xz), { instanceOf: ImageError }))?.code, 'unsupported_archive');
  t.is((await t.throwsAsync(store.importImage(notTar, { name: 'Bad Name' }), { instanceOf: ImageError }))?.code, 'invalid_reference');
  t.true(stagingEmpty(stateDir));
});

test('the listing is kept while the records directory is unchanged, and re-read after any change', async (t) => {
  const { store, files, stateDir } = fixture(t);
  const [image] = await store.importImage(files.rootfsTar, { name: 'tiny' });
  const records = path.join(stateDir, 'images', 'records');
  const file = path.join(records, `${image!.id.slice(7)}.json`);
  // A record changed in place (the store never does this) leaves the directory's mtime alone: while
  // that mtime is recent the listing is re-read each time, so the change shows…
  const original = fs.readFileSync(file, 'utf8');
  fs.writeFileSync(file, original.replace('"tiny:latest"', '"renamed:latest"'));
  t.is(store.resolve('renamed')?.id, image!.id);
  // …and once it is settled (here: set a minute back) one listing is kept and no file is read again.
  const past = new Date(Date.now() - 60_000);
  fs.utimesSync(records, past, past);
  t.is(store.resolve('renamed')?.id, image!.id);
  fs.writeFileSync(file, original);
  t.is(store.resolve('tiny'), undefined, 'the kept listing is used');
  // A new record (create, rename over, unlink: what the store does) changes the mtime: re-read.
  fs.writeFileSync(path.join(records, 'unrelated.tmp'), '');
  t.is(store.resolve('tiny')?.id, image!.id);
  t.is(store.list().length, 1);
});

test('tag gives an image a second name and takes the name from the image that had it; bad input changes nothing', async (t) => {
  const { store, files } = fixture(t);
  const [saved] = await store.importImage(files.dockerSave);
  const [rootfs] = await store.importImage(files.rootfsTar, { name: 'tiny' });
  const tagged = await store.tag(files.dockerSaveTag, 'team/app:v2');
  t.deepEqual(tagged.repoTags, [files.dockerSaveTag, 'team/app:v2']);
  t.is(store.resolve('team/app:v2')?.id, saved!.id);
  await store.tag(saved!.id.slice(7, 19), 'tiny');
  t.deepEqual(store.resolve('tiny')?.id, saved!.id, 'the name moved, by a short ID');
  t.deepEqual(store.get(rootfs!.id).repoTags, [], 'the image that held it is now dangling');
  t.is((await store.tag('tiny', 'tiny:latest')).repoTags.length, 3, 'a name it already has: nothing changes');
  const unknown = await t.throwsAsync(store.tag('nope', 'x'), { instanceOf: ImageError });
  t.is(unknown?.message, 'No such image: nope:latest');
  const malformed = await t.throwsAsync(store.tag('tiny', 'Upper'), { instanceOf: ImageError });
  t.is(malformed?.code, 'invalid_reference');
  t.deepEqual(store.get(saved!.id).repoTags, [files.dockerSaveTag, 'team/app:v2', 'tiny:latest']);
});

test('history: the config\'s steps newest first with their layer sizes, the ID and names on the newest row only', async (t) => {
  const { store, files } = fixture(t);
  const [saved] = await store.importImage(files.dockerSave);
  const rows = store.history(files.dockerSaveTag);
  t.deepEqual(
    rows.map((row) => [row.Id, row.CreatedBy, row.Tags]),
    [
      [saved!.id, 'capstan test: update layer', [files.dockerSaveTag]],
      ['<missing>', 'capstan test: busybox base', null],
    ],
  );
  t.is(rows[1]!.Size, 'tool v1\n'.length + 'base\n'.length + 'old\n'.length);
  t.is(rows[0]!.Size, 'layer 2\n'.length + 'new\n'.length);
  const [rootfs] = await store.importImage(files.rootfsTar, { name: 'tiny' });
  t.deepEqual(store.history('tiny').map((row) => [row.Id, row.Comment, row.Created]), [[rootfs!.id, 'Imported from -', Math.floor(Date.parse(rootfs!.createdAt) / 1000)]]);
  t.is(t.throws(() => store.history('nope'), { instanceOf: ImageError })?.message, 'No such image: nope:latest');
});
