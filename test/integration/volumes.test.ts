/**
 * Volumes with a real agent and the real shim, as the primers use them: binds read-write and
 * read-only (a write fails with EROFS), a named volume that gets the image's content, anonymous
 * volumes and `rm -v`, `--volumes-from` with a backup and restore through tar, `--tmpfs`, and the
 * safety rules: a target that is a symlink out of the root stays inside it (the host's /etc is
 * untouched), propagation is private (a mount made on the host under a bind source after start
 * does not appear inside), a volume in use is not removed, and `--mount type=bind` with a missing
 * source is refused with docker's words (measured on Engine 20.10: the text below) and exit 125.
 */
import { execFileSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { capstanCli, startAgentProcess, type AgentProcess } from '../helpers/agent';
import { baseLayerEntries, busyboxAvailable, writeTestImages, type TarFile } from '../helpers/busybox-image';
import { REPO_ROOT, requireCapability } from '../helpers/repo';
import { eventually } from '../helpers/wait';

const SHIM = path.join(REPO_ROOT, 'native', 'build', 'Release', 'capstan-shim');
const IMAGE = 'capstan-test-volumes';
const capable = requireCapability(process.getuid?.() === 0 && busyboxAvailable() && fs.existsSync(SHIM), 'root, busybox-static and the built capstan-shim');
const serial = capable ? test.serial : test.skip;

let agent: AgentProcess | undefined;
let scratch = '';
const cleanups: Array<() => unknown> = [];
const untilAfterAll = { teardown: (fn: () => unknown) => cleanups.push(fn), log: () => undefined } as unknown as ExecutionContext;

async function capstan(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return capstanCli(agent!.stateDir, args);
}

/** `capstan ARGS`, which must succeed; its stdout. */
async function ok(t: ExecutionContext, args: readonly string[]): Promise<string> {
  const result = await capstan(args);
  t.is(result.code, 0, `capstan ${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
}

/** A mountinfo line's fields: mount point (5th) and the optional fields up to "-" (propagation). */
function mountinfoEntry(mountinfo: string, mountPoint: string): { options: string[]; optional: string[] } | undefined {
  for (const line of mountinfo.split('\n')) {
    const fields = line.split(' ');
    if (fields[4] !== mountPoint) continue;
    const dash = fields.indexOf('-');
    return { options: fields[5]!.split(','), optional: fields.slice(6, dash) };
  }
  return undefined;
}

test.before(async () => {
  if (!capable) return;
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'capstan-volumes-it-'));
  cleanups.push(() => fs.rmSync(scratch, { recursive: true, force: true }));
  agent = await startAgentProcess(untilAfterAll, []);
  // busybox plus tar (the primers' backup), and /data a symlink to /etc: a target leading out.
  const base: TarFile[] = [
    ...baseLayerEntries(),
    { name: 'bin/tar', type: 'symlink', linkname: 'busybox', mtime: 1_700_000_000 },
    { name: 'data', type: 'symlink', linkname: '/etc', mtime: 1_700_000_000 },
  ];
  const images = writeTestImages(scratch, base, [], 'volumes');
  const imported = await capstan(['image', 'import', '--name', IMAGE, images.rootfsTar]);
  if (imported.code !== 0) throw new Error(`capstan image import: ${imported.stderr}`);
});

test.after.always(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

serial('binds: read-write reaches the host, read-only fails with EROFS, every bind is nodev and private', async (t) => {
  const source = fs.mkdtempSync(path.join(scratch, 'bind-'));
  fs.writeFileSync(path.join(source, 'hello'), 'from the host\n');
  t.is(await ok(t, ['run', '--rm', '-v', `${source}:/b`, IMAGE, 'sh', '-c', 'cat /b/hello; echo from the container > /b/written']), 'from the host\n');
  t.is(fs.readFileSync(path.join(source, 'written'), 'utf8'), 'from the container\n');

  const readOnly = await capstan(['run', '--rm', '-v', `${source}:/b:ro`, IMAGE, 'sh', '-c', 'echo x > /b/refused; echo "exit $?"; grep " /b " /proc/self/mountinfo']);
  t.is(readOnly.code, 0, readOnly.stderr);
  t.regex(readOnly.stderr, /Read-only file system/, 'the write failed with EROFS');
  t.false(fs.existsSync(path.join(source, 'refused')));
  const entry = mountinfoEntry(readOnly.stdout.split('\n').slice(1).join('\n'), '/b');
  t.truthy(entry, readOnly.stdout);
  t.true(entry!.options.includes('ro') && entry!.options.includes('nodev'), entry!.options.join(','));
  t.deepEqual(entry!.optional, [], 'no shared:/master: fields: the bind is private');

  // A missing -v source is created; a missing --mount source is refused.
  const created = path.join(scratch, 'created-by-v', 'sub');
  await ok(t, ['run', '--rm', '-v', `${created}:/c`, IMAGE, 'true']);
  t.true(fs.statSync(created).isDirectory());
  const missing = path.join(scratch, 'missing');
  const refused = await capstan(['run', '--rm', '--mount', `type=bind,source=${missing},target=/m`, IMAGE, 'true']);
  t.is(refused.code, 125);
  t.true(refused.stderr.includes(`invalid mount config for type "bind": bind source path does not exist: ${missing}`), refused.stderr);
  t.false(fs.existsSync(missing));
});

serial('a mount made on the host under a bind source after start does not appear in the container', async (t) => {
  const source = fs.mkdtempSync(path.join(scratch, 'propagation-'));
  fs.mkdirSync(path.join(source, 'later'));
  const name = `propagation-${crypto.randomBytes(3).toString('hex')}`;
  await ok(t, ['run', '-d', '--name', name, '-v', `${source}:/b`, IMAGE, 'sleep', '600']);
  t.teardown(() => capstan(['rm', '-f', name]));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'capstan-propagation-test', path.join(source, 'later')]);
  t.teardown(() => execFileSync('umount', ['-l', path.join(source, 'later')]));
  fs.writeFileSync(path.join(source, 'later', 'on-the-new-mount'), 'x');
  const inside = await ok(t, ['exec', name, 'sh', '-c', 'ls /b/later; grep -c " /b/later " /proc/self/mountinfo || true']);
  t.is(inside, '0\n', 'the container sees the directory under the mount, not the mount');
});

serial('a named volume gets the image content once, keeps data across containers, and is not removed while in use', async (t) => {
  const first = `vol-user-${crypto.randomBytes(3).toString('hex')}`;
  t.is(await ok(t, ['run', '--name', first, '-v', 'webdata:/var/www', IMAGE, 'sh', '-c', 'cat /var/www/old.html; echo new > /var/www/new.html']), 'from the base layer\n');
  const inspected = JSON.parse(await ok(t, ['volume', 'inspect', 'webdata'])) as Array<Record<string, unknown>>;
  t.deepEqual(Object.keys(inspected[0]!).sort(), ['CreatedAt', 'Driver', 'Labels', 'Mountpoint', 'Name', 'Options', 'Scope']);
  const mountpoint = inspected[0]!['Mountpoint'] as string;
  t.is(mountpoint, path.join(agent!.stateDir, 'volumes', 'webdata', '_data'));
  t.deepEqual(fs.readdirSync(mountpoint).sort(), ['new.html', 'old.html']);
  // The next container finds the volume as left: no second copy-up over a deleted file.
  await ok(t, ['run', '--rm', '-v', 'webdata:/var/www', IMAGE, 'rm', '/var/www/old.html']);
  t.is(await ok(t, ['run', '--rm', '-v', 'webdata:/var/www:ro', IMAGE, 'ls', '/var/www']), 'new.html\n');

  const mounts = JSON.parse(await ok(t, ['inspect', '-f', '{{json .Mounts}}', first])) as unknown[];
  t.deepEqual(mounts, [{ Type: 'volume', Name: 'webdata', Source: mountpoint, Destination: '/var/www', Driver: 'local', Mode: '', RW: true, Propagation: '' }]);
  t.is(await ok(t, ['volume', 'ls']), 'DRIVER    VOLUME NAME\nlocal     webdata\n');
  t.is(await ok(t, ['volume', 'ls', '-q', '-f', 'dangling=true']), '');

  const id = (await ok(t, ['inspect', '-f', '{{.Id}}', first])).trim();
  const inUse = await capstan(['volume', 'rm', 'webdata']);
  t.is(inUse.code, 1);
  t.is(inUse.stderr, `Error response from daemon: remove webdata: volume is in use - [${id}]\n`);
  await ok(t, ['rm', first]);
  t.is(await ok(t, ['volume', 'ls', '-q', '-f', 'dangling=true']), 'webdata\n');
  t.is(await ok(t, ['volume', 'rm', 'webdata']), 'webdata\n');
  t.false(fs.existsSync(mountpoint));
  const gone = await capstan(['volume', 'inspect', 'webdata']);
  t.is(gone.code, 1);
  t.is(gone.stderr, 'Error: No such volume: webdata\n');
});

serial('a volume target that is a symlink to /etc stays inside the root: the host /etc is untouched', async (t) => {
  const marker = `capstan-escape-${crypto.randomBytes(4).toString('hex')}`;
  t.teardown(() => fs.rmSync(path.join('/etc', marker), { force: true }));
  t.teardown(() => fs.rmSync(path.join('/etc', `${marker}-dir`), { recursive: true, force: true }));
  // The tmpfs' missing folders are created through the same symlink: inside the root as well.
  await ok(t, ['run', '--rm', '-v', `escape:/data`, '--tmpfs', `/data/${marker}-dir/inner`, IMAGE, 'sh', '-c', `echo escaped > /data/${marker}`]);
  t.false(fs.existsSync(path.join('/etc', marker)), 'nothing was written to the host /etc');
  t.false(fs.existsSync(path.join('/etc', `${marker}-dir`)), 'no folder was made in the host /etc');
  const mountpoint = path.join(agent!.stateDir, 'volumes', 'escape', '_data');
  t.is(fs.readFileSync(path.join(mountpoint, marker), 'utf8'), 'escaped\n', 'the volume was mounted on the image /etc');
  t.true(fs.statSync(path.join(mountpoint, `${marker}-dir`, 'inner')).isDirectory());
  t.true(fs.existsSync(path.join(mountpoint, 'passwd')), "copy-up took the image's /etc, not the host's");
  t.is(fs.readFileSync(path.join(mountpoint, 'hostname'), 'utf8'), 'busybox\n');
  await ok(t, ['volume', 'rm', 'escape']);
});

serial('anonymous volumes: -v /path makes one, rm -v and --rm remove it; --tmpfs is nosuid,nodev,noexec', async (t) => {
  const name = `anon-${crypto.randomBytes(3).toString('hex')}`;
  const mountinfo = await ok(t, ['run', '--name', name, '-v', '/anon', '--tmpfs', '/scratch:size=1m', IMAGE, 'sh', '-c', 'echo kept > /anon/f; cat /proc/self/mountinfo']);
  const tmpfs = mountinfoEntry(mountinfo, '/scratch');
  t.truthy(tmpfs);
  t.true(['nosuid', 'nodev', 'noexec'].every((flag) => tmpfs!.options.includes(flag)), tmpfs!.options.join(','));
  const mounts = JSON.parse(await ok(t, ['inspect', '-f', '{{json .Mounts}}', name])) as Array<{ Type: string; Name?: string; Source: string; Destination: string }>;
  const anonymous = mounts.find((mount) => mount.Destination === '/anon')!;
  t.is(anonymous.Type, 'volume');
  t.regex(anonymous.Name!, /^[0-9a-f]{64}$/);
  t.is(fs.readFileSync(path.join(anonymous.Source, 'f'), 'utf8'), 'kept\n');
  await ok(t, ['rm', '-v', name]);
  t.false(fs.existsSync(path.dirname(anonymous.Source)), 'rm -v removed the anonymous volume');

  await ok(t, ['run', '--rm', '-v', '/gone', IMAGE, 'true']);
  // --rm removes the container (and so its volume) once the run has ended.
  await eventually(async () => ((await capstan(['volume', 'ls', '-q'])).stdout === '' ? true : undefined), 30_000, 'the --rm container and its anonymous volume to go');
  t.is((await capstan(['volume', 'ls', '-q'])).stdout, '');

  // volume create with a label, found by the label filter, then pruned (unused).
  t.is(await ok(t, ['volume', 'create', '--label', 'tier=front', 'labeled']), 'labeled\n');
  t.is(await ok(t, ['volume', 'ls', '-q', '-f', 'label=tier=front']), 'labeled\n');
  t.is(await ok(t, ['volume', 'prune', '-f']), 'Deleted Volumes:\nlabeled\n\nTotal reclaimed space: 0B\n');
});

serial("--volumes-from: the primers' data container, backup with tar, restore into a new one", async (t) => {
  const suffix = crypto.randomBytes(3).toString('hex');
  const [dbdata, dbstore2] = [`dbdata-${suffix}`, `dbstore2-${suffix}`];
  const backups = fs.mkdtempSync(path.join(scratch, 'backup-'));
  t.teardown(async () => {
    for (const name of [dbdata, dbstore2]) await capstan(['rm', '-v', '-f', name]);
  });
  await ok(t, ['create', '--name', dbdata, '-v', '/dbdata', IMAGE, 'true']);
  await ok(t, ['run', '--rm', '--volumes-from', dbdata, IMAGE, 'sh', '-c', 'echo precious > /dbdata/record']);
  await ok(t, ['run', '--rm', '--volumes-from', dbdata, '-v', `${backups}:/backup`, IMAGE, 'tar', 'cf', '/backup/backup.tar', '/dbdata']);
  t.true(fs.statSync(path.join(backups, 'backup.tar')).size > 0);

  await ok(t, ['create', '--name', dbstore2, '-v', '/dbdata', IMAGE, 'true']);
  await ok(t, ['run', '--rm', '--volumes-from', dbstore2, '-v', `${backups}:/backup`, IMAGE, 'sh', '-c', 'cd /dbdata && tar xf /backup/backup.tar -o --strip-components 1']);
  t.is(await ok(t, ['run', '--rm', '--volumes-from', `${dbstore2}:ro`, IMAGE, 'cat', '/dbdata/record']), 'precious\n');
  const readOnly = await capstan(['run', '--rm', '--volumes-from', `${dbstore2}:ro`, IMAGE, 'touch', '/dbdata/x']);
  t.regex(readOnly.stderr, /Read-only file system/);
});
