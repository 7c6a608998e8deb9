// The Node-API addon against real files: a temp tree for each test, kernel pseudo-files, and a
// cgroup of the test's own for a write the kernel refuses.
import test, { type ExecutionContext } from 'ava';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';

import {
  NativeError,
  defaultAddonPath,
  errnoCode,
  listDirectories,
  loadBinding,
  readFiles,
  readFilesSync,
  readLinks,
  writeFile,
} from '../../server/native';

const { ENOENT, EISDIR, EINVAL, ENOTDIR } = os.constants.errno;

/** A fresh directory under the OS temp dir, removed when the test ends, pass or fail. */
function tempDir(t: ExecutionContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'capstan-native-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Creates files (name → content) and directories (name ending in '/') under dir. */
function makeTree(dir: string, entries: Record<string, string>): void {
  for (const [name, content] of Object.entries(entries)) {
    const target = path.join(dir, name);
    if (name.endsWith('/')) {
      fs.mkdirSync(target, { recursive: true });
    } else {
      fs.mkdirSync(path.dirname(target), { recursive: true });
      fs.writeFileSync(target, content);
    }
  }
}

function openFdCount(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

test('readFiles returns each file text, ASCII and UTF-8 alike, and empty files as ""', async (t) => {
  const dir = tempDir(t);
  makeTree(dir, {
    'plain.txt': '12345\n',
    'utf8.txt': 'héllo ✓ 日本\n',
    'empty.txt': '',
    'nul.txt': 'a\0b\n',
    'ünïcode name.txt': 'named\n',
  });
  const names = ['plain.txt', 'utf8.txt', 'empty.txt', 'nul.txt', 'ünïcode name.txt'];
  const result = await readFiles(names.map((name) => path.join(dir, name)));
  t.deepEqual(result, ['12345\n', 'héllo ✓ 日本\n', '', 'a\0b\n', 'named\n']);
});

test('readFiles decodes invalid UTF-8 as U+FFFD, as Buffer#toString does', async (t) => {
  const dir = tempDir(t);
  const bytes = Buffer.from([0x61, 0xff, 0x62, 0x0a]);
  fs.writeFileSync(path.join(dir, 'bad'), bytes);
  t.deepEqual(await readFiles([path.join(dir, 'bad')]), [bytes.toString('utf8')]);
});

test('a missing file is errno 2, which errnoCode names ENOENT', async (t) => {
  const dir = tempDir(t);
  const [result] = await readFiles([path.join(dir, 'missing')]);
  t.is(result, ENOENT);
  t.is(result, 2);
  t.is(errnoCode(result as number), 'ENOENT');
});

test('a directory is EISDIR (open succeeds, read fails) and a path through a file is ENOTDIR', async (t) => {
  const dir = tempDir(t);
  makeTree(dir, { 'file.txt': 'x' });
  t.deepEqual(await readFiles([dir, path.join(dir, 'file.txt', 'below')]), [EISDIR, ENOTDIR]);
});

test('maxBytes truncates; files longer than the 64 KiB read chunk are read whole', async (t) => {
  const dir = tempDir(t);
  const big = 'abcdefghij'.repeat(30_000); // 300 kB: several reads
  makeTree(dir, { 'short.txt': '0123456789abcdef', 'big.txt': big });
  const short = path.join(dir, 'short.txt');
  const bigPath = path.join(dir, 'big.txt');
  t.deepEqual(await readFiles([short, bigPath], 10), ['0123456789', 'abcdefghij']);
  t.deepEqual(await readFiles([short], 16), ['0123456789abcdef']);
  t.deepEqual(await readFiles([bigPath], 1024 * 1024), [big]);
  t.deepEqual(await readFiles([bigPath], 100_001), [big.slice(0, 100_001)]);
  // The default cap is 64 KiB.
  t.is((readFilesSync([bigPath])[0] as string).length, 64 * 1024);
});

test('readFilesSync and readFiles give the same results, in the order asked', async (t) => {
  const dir = tempDir(t);
  makeTree(dir, { 'a': 'first\n', 'b': 'second\n', 'sub/': '' });
  const paths = [
    path.join(dir, 'b'),
    path.join(dir, 'missing'),
    path.join(dir, 'a'),
    path.join(dir, 'sub'),
    path.join(dir, 'a'),
    '/proc/self/stat_does_not_exist',
  ];
  const sync = readFilesSync(paths);
  t.deepEqual(sync, ['second\n', ENOENT, 'first\n', EISDIR, 'first\n', ENOENT]);
  t.deepEqual(await readFiles(paths), sync);
  t.deepEqual(await readFiles([]), []);
});

test('kernel pseudo-files (st_size 0 or 4096) are read until EOF', async (t) => {
  // memory.stat reports st_size 0; its lines (not their values) are stable between two reads.
  const keys = (text: string) => text.split('\n').map((line) => line.split(' ')[0]);
  const memoryStat = '/sys/fs/cgroup/memory/memory.stat';
  if (fs.existsSync(memoryStat)) {
    const [text] = await readFiles([memoryStat]);
    t.is(typeof text, 'string');
    t.deepEqual(keys(text as string), keys(fs.readFileSync(memoryStat, 'utf8')));
    t.true((text as string).endsWith('\n'));
  }
  // Stable cgroup values compare exactly.
  const stable = ['/sys/fs/cgroup/memory/memory.limit_in_bytes', '/sys/fs/cgroup/cpu/cpu.cfs_period_us', '/proc/filesystems']
    .filter((file) => fs.existsSync(file));
  t.deepEqual(readFilesSync(stable), stable.map((file) => fs.readFileSync(file, 'utf8')));
  // /proc/kallsyms: st_size 0 and megabytes long, so many reads from a seq_file.
  const [kallsyms] = await readFiles(['/proc/kallsyms'], 16 * 1024 * 1024);
  const expected = fs.readFileSync('/proc/kallsyms', 'utf8');
  t.true(expected.length > 64 * 1024, 'kallsyms should be longer than one read chunk');
  t.is((kallsyms as string).length, expected.length);
  t.true(kallsyms === expected);
});

test('readLinks returns a symlink target, EINVAL for a non-link, ENOENT for nothing', async (t) => {
  const dir = tempDir(t);
  makeTree(dir, { 'file.txt': 'x' });
  fs.symlinkSync('file.txt', path.join(dir, 'relative-link'));
  fs.symlinkSync('/nowhere/at/all', path.join(dir, 'dangling-link'));
  const result = await readLinks([
    path.join(dir, 'relative-link'),
    path.join(dir, 'dangling-link'),
    path.join(dir, 'file.txt'),
    path.join(dir, 'missing'),
  ]);
  t.deepEqual(result, ['file.txt', '/nowhere/at/all', EINVAL, ENOENT]);
});

test('readLinks reads a network namespace link like /proc/<pid>/ns/net', async (t) => {
  const [net] = await readLinks([`/proc/${process.pid}/ns/net`]);
  t.regex(net as string, /^net:\[\d+\]$/);
  t.is(net, fs.readlinkSync(`/proc/${process.pid}/ns/net`));
});

test('listDirectories lists every subdirectory relative to its root, and no files', async (t) => {
  const dir = tempDir(t);
  makeTree(dir, {
    'system.slice/ssh.service/': '',
    'system.slice/cron.service/tasks': '1\n',
    'user.slice/user-0.slice/session-1.scope/': '',
    'ünï/': '',
    'cgroup.procs': '',
  });
  const [listing] = await listDirectories([dir]);
  t.true(Array.isArray(listing));
  t.deepEqual((listing as string[]).slice().sort(), [
    'system.slice',
    'system.slice/cron.service',
    'system.slice/ssh.service',
    'user.slice',
    'user.slice/user-0.slice',
    'user.slice/user-0.slice/session-1.scope',
    'ünï',
  ]);
  // Depth first: a parent always comes before its children.
  const order = listing as string[];
  for (const entry of order) {
    const parent = path.dirname(entry);
    if (parent !== '.') t.true(order.indexOf(parent) < order.indexOf(entry), `${parent} before ${entry}`);
  }
});

test('listDirectories reports errno for roots it cannot open and lists empty roots as []', async (t) => {
  const dir = tempDir(t);
  makeTree(dir, { 'empty/': '', 'file.txt': 'x' });
  const result = await listDirectories([path.join(dir, 'missing'), path.join(dir, 'empty'), path.join(dir, 'file.txt')]);
  t.deepEqual(result, [ENOENT, [], ENOTDIR]);
});

test('listDirectories never follows symlinks below the root', async (t) => {
  const dir = tempDir(t);
  const outside = tempDir(t);
  makeTree(outside, { 'elsewhere/deeper/': '' });
  makeTree(dir, { 'real/inner/': '' });
  fs.symlinkSync(outside, path.join(dir, 'link-out'));
  fs.symlinkSync('real', path.join(dir, 'real-link'));
  fs.symlinkSync('.', path.join(dir, 'real', 'loop'));
  const [listing] = await listDirectories([dir]);
  t.deepEqual((listing as string[]).slice().sort(), ['real', 'real/inner']);
});

test('listDirectories walks a real cgroup hierarchy', async (t) => {
  const root = '/sys/fs/cgroup/memory';
  if (!fs.existsSync(root)) return t.pass('no cgroup v1 memory hierarchy here');
  const [listing] = await listDirectories([root]);
  t.true(Array.isArray(listing));
  for (const entry of listing as string[]) t.false(entry.startsWith('/'), entry);
});

test('writeFile writes the whole string and truncates what was there', (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'value');
  fs.writeFileSync(file, 'a much longer old value\n');
  writeFile(file, 'new ✓\n');
  t.is(fs.readFileSync(file, 'utf8'), 'new ✓\n');
  t.notThrows(() => writeFile('/dev/null', '12345'));
  t.notThrows(() => writeFile('/dev/null', ''));
});

test('writeFile to a missing path throws NativeError ENOENT from open, and creates nothing', (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'missing');
  const error = t.throws(() => writeFile(file, '1'), { instanceOf: NativeError, code: 'ENOENT' });
  t.is(error?.errno, ENOENT);
  t.is(error?.syscall, 'open');
  t.is(error?.path, file);
  t.is(error?.name, 'NativeError');
  t.is(error?.message, `ENOENT: No such file or directory, open '${file}'`);
  t.false(fs.existsSync(file));
});

test('writeFile to a directory throws EISDIR from open', (t) => {
  const dir = tempDir(t);
  t.throws(() => writeFile(dir, '1'), { instanceOf: NativeError, code: 'EISDIR' });
});

/**
 * A pids hierarchy this process may create cgroups in: cgroup v1's pids mount, or the cgroup v2
 * root when pids is enabled for its children. Absent on machines without root or cgroups.
 */
function pidsHierarchy(): string | undefined {
  if (process.getuid?.() !== 0) return undefined;
  if (fs.existsSync('/sys/fs/cgroup/pids/cgroup.procs')) return '/sys/fs/cgroup/pids';
  try {
    if (fs.readFileSync('/sys/fs/cgroup/cgroup.subtree_control', 'utf8').split(/\s+/).includes('pids')) {
      return '/sys/fs/cgroup';
    }
  } catch {
    // Not cgroup v2 either.
  }
  return undefined;
}

const pidsRoot = pidsHierarchy();
// Without root or cgroups (a developer laptop) this is skipped; in CI (CI=true) it runs and fails.
const cgroupTest = pidsRoot !== undefined || process.env.CI === 'true' ? test : test.skip;

cgroupTest('writeFile reports the kernel refusing a value as EINVAL from write', (t) => {
  const cgroup = path.join(pidsRoot ?? '/sys/fs/cgroup/pids', `capstan-test-${crypto.randomBytes(6).toString('hex')}`);
  fs.mkdirSync(cgroup);
  t.teardown(() => fs.rmdirSync(cgroup)); // empty: no process ever joins it
  const pidsMax = path.join(cgroup, 'pids.max');

  writeFile(pidsMax, '100');
  t.is(fs.readFileSync(pidsMax, 'utf8'), '100\n');

  const error = t.throws(() => writeFile(pidsMax, 'notanumber'), { instanceOf: NativeError, code: 'EINVAL' });
  t.is(error?.errno, EINVAL);
  t.is(error?.syscall, 'write');
  t.is(error?.path, pidsMax);
  t.is(error?.message, `EINVAL: Invalid argument, write '${pidsMax}'`);
  // The refused write changed nothing.
  t.is(fs.readFileSync(pidsMax, 'utf8'), '100\n');

  writeFile(pidsMax, 'max');
  t.is(fs.readFileSync(pidsMax, 'utf8'), 'max\n');
});

test.serial('no fd leaks across 2000 calls mixing found, missing and unreadable files', async (t) => {
  const dir = tempDir(t);
  makeTree(dir, { 'a': '1\n', 'sub/inner/': '' });
  fs.symlinkSync('a', path.join(dir, 'link'));
  const paths = [path.join(dir, 'a'), path.join(dir, 'missing'), path.join(dir, 'sub'), '/sys/fs/cgroup/memory/memory.stat'];
  const before = openFdCount();
  for (let i = 0; i < 1000; i++) {
    await readFiles(paths);
    readFilesSync(paths);
  }
  for (let i = 0; i < 200; i++) {
    await readLinks([path.join(dir, 'link'), path.join(dir, 'a'), path.join(dir, 'missing')]);
    await listDirectories([dir, path.join(dir, 'missing'), path.join(dir, 'a')]);
    t.throws(() => writeFile(path.join(dir, 'missing'), 'x'));
    t.throws(() => writeFile(path.join(dir, 'sub'), 'x'));
    writeFile('/dev/null', 'x');
  }
  t.is(openFdCount(), before);
});

test('terminating a worker thread with reads in flight does not bring the process down', async (t) => {
  const dir = tempDir(t);
  makeTree(dir, { 'a': '1\n', 'sub/inner/': '' });
  const paths = Array.from({ length: 5000 }, (_, i) => path.join(dir, i % 2 === 0 ? 'a' : 'missing'));
  const source = `
    const native = require(${JSON.stringify(require.resolve('../../server/native'))});
    const { parentPort, workerData } = require('node:worker_threads');
    for (let i = 0; i < 4; i++) native.readFiles(workerData.paths);
    native.readLinks(workerData.paths);
    native.listDirectories([workerData.dir]);
    parentPort.postMessage('started');`;
  for (const delayMs of [0, 1, 5, 20]) {
    const worker = new Worker(source, { eval: true, workerData: { paths, dir } });
    await new Promise((resolve) => worker.once('message', resolve));
    await new Promise((resolve) => setTimeout(resolve, delayMs));
    await worker.terminate();
  }
  // Reaching this line means the process survived every termination.
  t.deepEqual(await readFiles([path.join(dir, 'a')]), ['1\n']);
});

test('paths must be arrays of strings without NUL; maxBytes an integer from 1 to 16 MiB', async (t) => {
  const notArrays: unknown[] = ['/etc/hostname', undefined, null, 42, { length: 1, 0: '/etc/hostname' }];
  for (const value of notArrays) {
    await t.throwsAsync(readFiles(value as string[]), { instanceOf: TypeError, message: 'readFiles: paths must be an array of strings' });
    t.throws(() => readFilesSync(value as string[]), { instanceOf: TypeError, message: 'readFilesSync: paths must be an array of strings' });
    await t.throwsAsync(readLinks(value as string[]), { instanceOf: TypeError, message: 'readLinks: paths must be an array of strings' });
    await t.throwsAsync(listDirectories(value as string[]), {
      instanceOf: TypeError,
      message: 'listDirectories: roots must be an array of strings',
    });
  }
  await t.throwsAsync(readFiles(['/a', 1 as unknown as string]), { instanceOf: TypeError });
  await t.throwsAsync(readFiles(['/etc/hostname\0/x']), { instanceOf: TypeError, message: 'readFiles: paths must not contain NUL bytes' });
  await t.throwsAsync(readFiles([], '10' as unknown as number), { instanceOf: TypeError, message: 'readFiles: maxBytes must be a number' });
  for (const maxBytes of [0, -1, 1.5, Number.NaN, Infinity, 16 * 1024 * 1024 + 1]) {
    await t.throwsAsync(readFiles([], maxBytes), { instanceOf: RangeError });
    t.throws(() => readFilesSync([], maxBytes), { instanceOf: RangeError });
  }
  t.notThrows(() => readFilesSync([], 16 * 1024 * 1024));
  t.throws(() => writeFile(1 as unknown as string, 'x'), { instanceOf: TypeError, message: 'writeFile: path must be a string' });
  t.throws(() => writeFile('/dev/null', 1 as unknown as string), { instanceOf: TypeError, message: 'writeFile: data must be a string' });
  t.throws(() => writeFile('/dev/null\0x', 'x'), { instanceOf: TypeError, message: 'writeFile: path must not contain NUL bytes' });
});

test('the addon itself checks argument types with exact messages', (t) => {
  // Straight to native code, past the wrapper's checks.
  const addon = loadBinding(defaultAddonPath());
  const call = (fn: () => unknown, message: string) => t.throws(fn, { instanceOf: TypeError, message });
  const raw = addon as unknown as Record<string, (...args: unknown[]) => unknown>;
  call(() => raw.readFiles!('x', 10), 'readFiles: argument 0 must be an array of strings');
  call(() => raw.readFiles!([1], 10), 'readFiles: argument 0 must be an array of strings');
  call(() => raw.readFiles!(['/x\0y'], 10), 'readFiles: argument 0 must not contain NUL bytes');
  call(() => raw.readFiles!([], 0), 'readFiles: argument 1 must be a positive integer');
  call(() => raw.readFiles!([], 2.5), 'readFiles: argument 1 must be a positive integer');
  call(() => raw.readFiles!([]), 'readFiles: argument 1 must be a positive integer');
  call(() => raw.readFilesSync!(null, 10), 'readFilesSync: argument 0 must be an array of strings');
  call(() => raw.readFilesSync!([], '10'), 'readFilesSync: argument 1 must be a positive integer');
  call(() => raw.readLinks!({}), 'readLinks: argument 0 must be an array of strings');
  call(() => raw.listDirectories!([null]), 'listDirectories: argument 0 must be an array of strings');
  call(() => raw.writeFile!(), 'writeFile: argument 0 must be a string');
  call(() => raw.writeFile!('/dev/null'), 'writeFile: argument 1 must be a string');
  call(() => raw.writeFile!('/dev/null\0', 'x'), 'writeFile: argument 0 must not contain NUL bytes');
  call(() => raw.initialize!('NativeError'), 'initialize: argument 0 must be a function');
});

test('loadBinding says how to build the addon when it is missing', (t) => {
  t.throws(() => loadBinding('/nonexistent/capstan.node'), {
    message: 'capstan native addon not built (native/build/Release/capstan.node missing): run npm install',
  });
});
