import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { ImageError } from '../../server/runtime/images/errors';
import { chainIds, saveImages } from '../../server/runtime/images/save';
import { ImageStore } from '../../server/runtime/images/store';
import { packTar } from '../../server/runtime/images/tar';
import { writeTestImages, type TarFile } from '../helpers/busybox-image';

const BASE: TarFile[] = [
  { name: './', type: 'directory' },
  { name: 'bin/', type: 'directory' },
  { name: 'bin/tool', type: 'file', content: 'tool v1\n', mode: 0o755 },
  { name: 'bin/tool-link', type: 'hardlink', linkname: 'bin/tool' },
  { name: 'etc/issue', type: 'file', content: 'base\n' },
];
const UPDATE: TarFile[] = [
  { name: 'etc/motd', type: 'file', content: 'layer 2\n' },
  { name: 'etc/.wh.issue', type: 'file', content: '' },
];

function fixture(t: ExecutionContext) {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'capstan-save-'));
  t.teardown(() => fs.rmSync(base, { recursive: true, force: true }));
  const archives = path.join(base, 'archives');
  fs.mkdirSync(archives);
  const files = writeTestImages(archives, BASE, UPDATE, 'tiny');
  const inUse = new Set<string>();
  const newStore = (name: string) => new ImageStore({ stateDir: path.join(base, name), markers: async () => {}, isImageInUse: (id) => inUse.has(id) });
  return { base, files, inUse, store: newStore('state'), newStore };
}

async function saveTo(store: ImageStore, file: string, references: string[]): Promise<void> {
  const archive = saveImages(store, references);
  const chunks: Buffer[] = [];
  for await (const chunk of archive.stream) chunks.push(chunk as Buffer);
  const bytes = Buffer.concat(chunks);
  if (bytes.length !== archive.sizeBytes) throw new Error(`sizeBytes ${archive.sizeBytes} but ${bytes.length} bytes written`);
  fs.writeFileSync(file, bytes);
}

test('a saved archive loads into another store as the same image: same ID, layers (their digests checked on import) and names', async (t) => {
  const { base, files, store, newStore } = fixture(t);
  const [image] = await store.importImage(files.dockerSave);
  await store.tag(files.dockerSaveTag, 'tiny-copy:2');
  const saved = path.join(base, 'saved.tar');
  await saveTo(store, saved, ['tiny-copy:2']);
  const other = newStore('other');
  const [loaded] = await other.importImage(saved);
  t.is(loaded!.id, image!.id);
  t.deepEqual(loaded!.layers, files.diffIds);
  t.deepEqual(loaded!.repoTags, ['tiny-copy:2'], 'a name saves that name only');
  // An ID saves every name; the same image asked twice is written once.
  await saveTo(store, saved, [image!.id, files.dockerSaveTag]);
  const [again] = await newStore('third').importImage(saved);
  t.deepEqual([...again!.repoTags].sort(), [files.dockerSaveTag, 'tiny-copy:2'].sort());
});

test('an unknown image is refused before anything is written', async (t) => {
  const { files, store } = fixture(t);
  await store.importImage(files.dockerSave);
  const error = t.throws(() => saveImages(store, [files.dockerSaveTag, 'nope']), { instanceOf: ImageError });
  t.is(error!.message, 'No such image: nope');
});

test('an image stored before tar records and configs were kept is refused with what to do, and an import again records them', async (t) => {
  const { base, files, store } = fixture(t);
  const [image] = await store.importImage(files.dockerSave);
  const hex = (digest: string) => digest.slice('sha256:'.length);
  fs.rmSync(path.join(base, 'state', 'images', 'layers', hex(files.diffIds[1]), 'tar-split.gz'));
  let error = t.throws(() => saveImages(store, [files.dockerSaveTag]), { instanceOf: ImageError });
  t.is((error as ImageError).code, 'layer_tar_unavailable');
  fs.rmSync(path.join(base, 'state', 'images', 'configs', `${hex(image!.id)}.json`));
  error = t.throws(() => saveImages(store, [files.dockerSaveTag]), { instanceOf: ImageError });
  t.is((error as ImageError).code, 'image_config_unavailable');
  t.regex(error!.message, /import or load it again/);
  await store.importImage(files.dockerSave);
  await t.notThrowsAsync(saveTo(store, path.join(base, 'healed.tar'), [files.dockerSaveTag]));
});

test('tag adds a name, moves it from the image that held it, and refuses a bad name without changing anything', async (t) => {
  const { files, store } = fixture(t);
  const [saved] = await store.importImage(files.dockerSave);
  const [rootfs] = await store.importImage(files.rootfsTar, { name: 'shared:1' });
  await store.tag(files.dockerSaveTag, 'shared:1');
  t.deepEqual(store.get('shared:1').id, saved!.id);
  t.deepEqual(store.get(rootfs!.id).repoTags, []);
  await t.throwsAsync(store.tag(files.dockerSaveTag, 'Bad:1'), { message: /repository name must be lowercase/ });
  await t.throwsAsync(store.tag('missing', 'fine:1'), { message: 'No such image: missing:latest' });
  t.false(store.list().some((image) => image.repoTags.includes('fine:1')));
});

test('prune removes dangling images only; with all, every image no container uses; layers go with them', async (t) => {
  const { base, files, store, inUse } = fixture(t);
  const tar = (content: string) => {
    const file = path.join(base, `${content}.tar`);
    fs.writeFileSync(file, packTar([{ name: 'f', type: 'file', content }]));
    return file;
  };
  const [dangling] = await store.importImage(tar('abc'), { name: 'x:1' });
  await store.importImage(tar('defg'), { name: 'x:1' });
  const [used] = await store.importImage(files.dockerSave);
  inUse.add(used!.id);
  t.deepEqual(await store.prune(), { removed: [{ id: dangling!.id, repoTags: [] }], spaceReclaimedBytes: 3 });
  const result = await store.prune({ all: true });
  t.deepEqual(result.removed.map((image) => image.repoTags), [['x:1']]);
  t.is(result.spaceReclaimedBytes, 4);
  t.deepEqual(store.list().map((image) => image.id), [used!.id]);
  t.deepEqual(await store.prune({ all: true }), { removed: [], spaceReclaimedBytes: 0 });
});

test('chain IDs follow the OCI definition', (t) => {
  const a = `sha256:${'a'.repeat(64)}`;
  const b = `sha256:${'b'.repeat(64)}`;
  const [first, second] = chainIds([a, b]);
  t.is(first, a);
  t.is(second, `sha256:${createHash('sha256').update(`${a} ${b}`).digest('hex')}`);
});
