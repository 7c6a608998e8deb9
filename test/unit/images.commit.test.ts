import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import test from 'ava';
import { RuntimeError } from '../../server/runtime/errors';
import { changeableConfig, configDocument } from '../../server/runtime/commit';
import { applyChanges, shellWords } from '../../server/runtime/images/commit-changes';
import type { UpperEntry } from '../../server/runtime/images/changes';
import { shimMarkerWriter } from '../../server/runtime/images/markers';
import { ImageStore } from '../../server/runtime/images/store';
import { packTar, readTarEntries } from '../../server/runtime/images/tar';
import { layerEntries, writeUpperLayer } from '../../server/runtime/images/upper-layer';

const base = { Env: ['PATH=/bin', 'A=0'], Cmd: ['sh'], WorkingDir: '/srv' };

test('CMD and ENTRYPOINT take the JSON form, else the text run by /bin/sh -c', (t) => {
  t.deepEqual(applyChanges(base, ['CMD ["cat","/x"]']).Cmd, ['cat', '/x']);
  t.deepEqual(applyChanges(base, ['cmd echo hi there']).Cmd, ['/bin/sh', '-c', 'echo hi there']);
  // Not an array of strings: the shell form, as docker reads it.
  t.deepEqual(applyChanges(base, ['CMD [1, 2]']).Cmd, ['/bin/sh', '-c', '[1, 2]']);
  const entry = applyChanges(base, ['ENTRYPOINT ["/bin/app"]']);
  t.deepEqual(entry.Entrypoint, ['/bin/app']);
  t.is(entry.Cmd, undefined, 'a new entrypoint drops the old default command');
  t.deepEqual(applyChanges(base, ['CMD ["-v"]', 'ENTRYPOINT ["/bin/app"]']).Cmd, ['-v'], 'unless these changes set one');
});

test('ENV: pairs with quotes, the legacy form, a variable set again keeps its place, $VAR expands', (t) => {
  t.deepEqual(applyChanges(base, ['ENV A=1']).Env, ['PATH=/bin', 'A=1']);
  t.deepEqual(applyChanges(base, ['ENV B="two words" C=3']).Env, ['PATH=/bin', 'A=0', 'B=two words', 'C=3']);
  t.deepEqual(applyChanges(base, ['ENV GREETING hello   world']).Env, ['PATH=/bin', 'A=0', 'GREETING=hello world']);
  t.deepEqual(applyChanges(base, ['ENV PATH=$PATH:/opt/bin', 'ENV D=${A}x']).Env, ['PATH=/bin:/opt/bin', 'A=0', 'D=0x']);
  t.deepEqual(applyChanges(base, ["ENV E='$A'"]).Env?.at(-1), 'E=$A', 'single quotes keep a $');
});

test('LABEL, EXPOSE, VOLUME, WORKDIR, USER and STOPSIGNAL', (t) => {
  const changed = applyChanges(base, [
    'LABEL a=1 "b c"=2',
    'EXPOSE 80 53/udp 8000-8001',
    'VOLUME ["/data"]',
    'VOLUME /logs /cache',
    'WORKDIR sub',
    'USER nobody',
    'STOPSIGNAL SIGINT',
  ]);
  t.deepEqual(changed.Labels, { a: '1', 'b c': '2' });
  t.deepEqual(changed.ExposedPorts, ['80/tcp', '53/udp', '8000/tcp', '8001/tcp']);
  t.deepEqual(changed.Volumes, ['/data', '/logs', '/cache']);
  t.is(changed.WorkingDir, '/srv/sub', 'a relative WORKDIR continues from the one before');
  t.is(changed.User, 'nobody');
  t.is(changed.StopSignal, 'SIGINT');
  t.deepEqual(base, { Env: ['PATH=/bin', 'A=0'], Cmd: ['sh'], WorkingDir: '/srv' }, 'the input is not modified');
});

test('an instruction commit cannot apply is refused in docker words, and nothing is applied', (t) => {
  for (const [change, message] of [
    ['RUN echo hi', 'run is not a valid change command'],
    ['FROM busybox', 'from is not a valid change command'],
    ['BOGUS x', 'bogus is not a valid change command'],
    ['ENV', 'ENV requires at least one argument'],
    ['ENV A', 'ENV must have two arguments'],
    ['ENV A=1 B', `Syntax error - can't find = in "B". Must be of the form: name=value`],
    ['WORKDIR /a /b', 'WORKDIR requires exactly one argument'],
    ['EXPOSE http', 'Invalid containerPort: http'],
    ['CMD', 'CMD requires at least one argument'],
  ] as const) {
    const error = t.throws(() => applyChanges(base, ['ENV OK=1', change]), { instanceOf: RuntimeError }, change);
    t.is(error?.message, message);
    t.is(error?.status, 400);
  }
});

test('shellWords: quotes, escapes and expansion', (t) => {
  const env = new Map([['X', 'ex']]);
  t.deepEqual(shellWords(`a "b c" 'd $X' \\"e $X \${X}y`, env), ['a', 'b c', 'd $X', '"e', 'ex', 'exy']);
  t.throws(() => shellWords('"open', env), { message: /matching double-quote/ });
});

test('a container config goes to the image config and back in docker shape', (t) => {
  const document = { Hostname: 'abc', Image: 'busybox', Env: ['A=1'], Cmd: ['sh'], ExposedPorts: { '80/tcp': {} }, Labels: {}, Volumes: null, Entrypoint: null, WorkingDir: '', User: '' };
  const config = changeableConfig(document);
  t.deepEqual(config, { Env: ['A=1'], Cmd: ['sh'], ExposedPorts: ['80/tcp'], Labels: {} });
  const back = configDocument(document, applyChanges(config, ['CMD ["cat","/x"]', 'VOLUME /v']));
  t.is(back['Hostname'], 'abc');
  t.is(back['Image'], 'busybox');
  t.deepEqual(back['Cmd'], ['cat', '/x']);
  t.deepEqual(back['Volumes'], { '/v': {} });
  t.deepEqual(back['Entrypoint'], null);
});

const entry = (entryPath: string, type: UpperEntry['type'], extra: Partial<UpperEntry> = {}): UpperEntry => ({
  path: entryPath,
  type,
  stat: { mode: type === 'directory' ? 0o040755 : 0o100644, size: 2, mtimeNs: 3_000_000_000n, uid: 0, gid: 0 },
  ...extra,
});

test('layer entries: whiteouts become .wh.NAME, an opaque directory gets .wh..wh..opq, devices are left out', (t) => {
  const names = layerEntries([
    entry('/etc', 'directory'),
    entry('/etc/gone', 'whiteout'),
    entry('/etc/passwd', 'file'),
    entry('/gone-top', 'whiteout'),
    entry('/link', 'symlink'),
    entry('/pipe', 'other'),
    entry('/data', 'directory', { opaque: true }),
  ]).map((planned) => `${planned.entry.type} ${planned.entry.name}`);
  t.deepEqual(names, ['directory etc/', 'file etc/.wh.gone', 'file etc/passwd', 'file .wh.gone-top', 'symlink link', 'directory data/', 'file data/.wh..wh..opq']);
});

test('writeUpperLayer writes a layer tar of a real upper directory with its markers, contents and links', async (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'capstan-commit-'));
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const upper = path.join(root, 'upper');
  const lower = path.join(root, 'lower');
  fs.mkdirSync(path.join(upper, 'data'), { recursive: true });
  fs.mkdirSync(path.join(lower, 'data'), { recursive: true });
  fs.writeFileSync(path.join(lower, 'gone'), 'old');
  fs.writeFileSync(path.join(upper, 'x'), 'hello\n');
  fs.symlinkSync('/x', path.join(upper, 'y'));
  await shimMarkerWriter()(upper, { whiteouts: ['gone'], opaqueDirectories: ['data'] });
  const file = path.join(root, 'layer.tar');
  t.deepEqual(await writeUpperLayer(upper, [lower], file), { entries: 5 });
  const seen: string[] = [];
  for await (const { header, body } of readTarEntries(fs.createReadStream(file))) {
    const parts: Buffer[] = [];
    for await (const chunk of body()) parts.push(chunk);
    seen.push(`${header.type} ${header.name} ${header.linkname}${Buffer.concat(parts).toString()}`.trim());
  }
  t.deepEqual(seen, ['directory data/', 'file data/.wh..wh..opq', 'file .wh.gone', 'file x hello', 'symlink y /x']);
  // An unchanged upper directory makes an empty layer.
  fs.mkdirSync(path.join(root, 'empty'));
  t.deepEqual(await writeUpperLayer(path.join(root, 'empty'), [lower], path.join(root, 'empty.tar')), { entries: 0 });
  t.is(fs.statSync(path.join(root, 'empty.tar')).size, 1024);
});

test('a commit that fails half way (the layer copy, or after the layer is extracted) leaves no image, layer or staging behind', async (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'capstan-commit-store-'));
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const store = new ImageStore({ stateDir: root, markers: async () => {} });
  const base = path.join(root, 'base.tar');
  fs.writeFileSync(base, packTar([{ name: 'hello', type: 'file', content: 'hi\n' }]));
  const [parent] = await store.importImage(base, { name: 'base' });
  const listing = (): string[] => ['records', 'layers', 'tmp'].flatMap((folder) => fs.readdirSync(path.join(store.root, folder)).map((name) => `${folder}/${name}`)).sort();
  const before = listing();
  const layer = packTar([{ name: 'new', type: 'file', content: 'x\n' }]);
  await t.throwsAsync(
    store.commitImage({
      parent: parent!,
      name: 'broken:1',
      writeLayer: async (file) => {
        fs.writeFileSync(file, layer.subarray(0, 700));
        throw new Error('the copy failed');
      },
      makeImage: () => t.fail('no image without a layer') as never,
    }),
    { message: 'the copy failed' },
  );
  t.deepEqual(listing(), before);
  await t.throwsAsync(
    store.commitImage({
      parent: parent!,
      name: 'broken:2',
      writeLayer: async (file) => {
        fs.writeFileSync(file, layer);
        return { entries: 1 };
      },
      makeImage: () => {
        throw new Error('no config');
      },
    }),
    { message: 'no config' },
  );
  t.deepEqual(listing(), before);
  t.is(store.resolve('broken:2'), undefined);
});

test('import of a plain root filesystem takes --change and --message like docker import; a bad change is refused before anything is written', async (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'capstan-import-change-'));
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const store = new ImageStore({ stateDir: root, markers: async () => {} });
  const archive = path.join(root, 'rootfs.tar');
  fs.writeFileSync(archive, packTar([{ name: 'hello', type: 'file', content: 'hi\n' }]));
  const [plain] = await store.importImage(archive, { name: 'plain' });
  const [described] = await store.importImage(archive, { name: 'described', changes: ['CMD ["cat","/hello"]', 'ENV A=1'], message: 'from a tarball' });
  t.deepEqual(described!.config, { Cmd: ['cat', '/hello'], Env: ['A=1'] });
  t.is(described!.comment, 'from a tarball');
  t.not(described!.id, plain!.id, 'the config (and so the ID) carries the changes');
  t.deepEqual(described!.layers, plain!.layers);
  const records = fs.readdirSync(path.join(store.root, 'records')).length;
  await t.throwsAsync(store.importImage(archive, { name: 'bad', changes: ['RUN true'] }), { message: 'run is not a valid change command' });
  t.is(fs.readdirSync(path.join(store.root, 'records')).length, records);
  t.deepEqual(fs.readdirSync(path.join(store.root, 'tmp')), []);
});
