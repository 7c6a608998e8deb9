import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import test from 'ava';
import { ContainerStore, mountPointsBelow, readJsonFile, writeFileAtomic, writeFileAtomicAsync } from '../../server/runtime/store';

function stateDir(t: import('ava').ExecutionContext): string {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'capstan-store-'));
  t.teardown(() => fs.rmSync(directory, { recursive: true, force: true }));
  return directory;
}

test('atomic writes leave no temporary file behind and replace the old content', async (t) => {
  const directory = stateDir(t);
  const file = path.join(directory, 'x.json');
  writeFileAtomic(file, '{"a":1}');
  await writeFileAtomicAsync(file, '{"a":2}');
  await Promise.all([writeFileAtomicAsync(file, '{"a":3}'), writeFileAtomicAsync(file, '{"a":3}')]);
  t.deepEqual(readJsonFile(file), { a: 3 });
  t.deepEqual(fs.readdirSync(directory), ['x.json']);
  t.is(fs.statSync(file).mode & 0o777, 0o600);
  t.is(readJsonFile(path.join(directory, 'missing.json')), undefined);
});

test('container folders: only 64-hex ids become paths; records and shim files are read defensively', async (t) => {
  const store = new ContainerStore(stateDir(t));
  store.ensureRoot();
  t.throws(() => store.directory('../../etc'), { instanceOf: TypeError });
  t.throws(() => store.directory('A'.repeat(64)), { instanceOf: TypeError });
  const id = 'c'.repeat(64);
  store.createDirectory(id);
  t.throws(() => store.createDirectory(id), { code: 'EEXIST' });
  fs.mkdirSync(path.join(store.root, 'not-a-container'));
  t.deepEqual(store.list(), [id]);
  t.is(store.readRecord(id), undefined, 'no spec.json yet');
  fs.writeFileSync(store.file(id, 'init.json'), '{"pid":0}');
  t.is(store.readInit(id), undefined, 'a pid of 0 is no process');
  fs.writeFileSync(store.file(id, 'exit.json'), '{"exitCode":137,"signal":"SIGKILL","finishedAt":"2024-05-01T00:00:00Z"}');
  t.is(store.readExit(id)?.exitCode, 137);
  await store.writeRecordText(id, JSON.stringify({ version: 1, id, name: 'x' }));
  t.is(store.readRecord(id)?.name, 'x');
  // Renamed away (no longer listed), then deleted; an agent stopped in between leaves the rest to the next.
  fs.mkdirSync(path.join(store.root, `.removing-${'e'.repeat(64)}`));
  await store.removeDirectory(id, '');
  t.deepEqual(store.list(), []);
  t.deepEqual(fs.readdirSync(store.root), ['.removing-' + 'e'.repeat(64), 'not-a-container']);
  await store.removeAbandoned();
  t.deepEqual(fs.readdirSync(store.root), ['not-a-container']);
});

test('a folder with something mounted below is not removed', async (t) => {
  const store = new ContainerStore(stateDir(t));
  store.ensureRoot();
  const id = 'd'.repeat(64);
  const directory = store.createDirectory(id);
  const mountinfo = `36 35 98:0 / ${directory}/rootfs rw,noatime master:1 - overlay overlay rw\n`;
  await t.throwsAsync(store.removeDirectory(id, mountinfo), { code: 'EBUSY' });
  t.true(fs.existsSync(directory));
  t.deepEqual(mountPointsBelow('1 2 0:1 / /a\\040b/c rw - tmpfs t rw\n', '/a b'), ['/a b/c']);
  t.deepEqual(mountPointsBelow('1 2 0:1 / /ab rw - tmpfs t rw\n', '/a'), [], '/ab is not below /a');
});
