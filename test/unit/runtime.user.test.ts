import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import test from 'ava';
import { RuntimeError } from '../../server/runtime/errors';
import { parseGroup, parsePasswd, readFromLayers, resolveUser } from '../../server/runtime/user';

const PASSWD = 'root:x:0:0:root:/root:/bin/sh\n# comment\nbroken line\nwww:x:33:33:www:/var/www:/bin/false\nnobody:x:65534:65534::/nonexistent:/bin/false\n';
const GROUP = 'root:x:0:\nwww:x:33:\nstaff:x:50:www,alice\nnogroup:x:65534:\n';

test('passwd and group lines are parsed; malformed ones skipped', (t) => {
  t.deepEqual(parsePasswd(PASSWD).map((e) => e.name), ['root', 'www', 'nobody']);
  t.deepEqual(parseGroup(GROUP).find((g) => g.name === 'staff'), { name: 'staff', gid: 50, members: ['www', 'alice'] });
});

test('runc rules: names from passwd, numbers need not exist, groups from group, supplementary groups from membership', (t) => {
  // The primary gid is always among the supplementary groups (Docker Engine 20.10, /proc/self/status).
  t.deepEqual(resolveUser('', PASSWD, GROUP), { uid: 0, gid: 0, additionalGids: [0], home: '/root' });
  t.deepEqual(resolveUser('www', PASSWD, GROUP), { uid: 33, gid: 33, additionalGids: [33, 50], home: '/var/www' });
  t.deepEqual(resolveUser('33', PASSWD, GROUP), { uid: 33, gid: 33, additionalGids: [33, 50], home: '/var/www' });
  t.deepEqual(resolveUser('1234', PASSWD, GROUP), { uid: 1234, gid: 0, additionalGids: [0], home: '/' });
  t.deepEqual(resolveUser('1234:99', PASSWD, GROUP), { uid: 1234, gid: 99, additionalGids: [99], home: '/' });
  // An explicit group: no memberships (runc's "implicit form" only).
  t.deepEqual(resolveUser('33:staff', PASSWD, GROUP), { uid: 33, gid: 50, additionalGids: [50], home: '/var/www' });
  t.deepEqual(resolveUser('www:0', PASSWD, GROUP), { uid: 33, gid: 0, additionalGids: [0], home: '/var/www' });
  t.deepEqual(resolveUser('', undefined, undefined), { uid: 0, gid: 0, additionalGids: [0], home: '/root' });
  const unknownUser = t.throws(() => resolveUser('alice', PASSWD, GROUP), { instanceOf: RuntimeError });
  t.is(unknownUser.message, 'unable to find user alice: no matching entries in passwd file');
  t.regex(t.throws(() => resolveUser('www:wheel', PASSWD, GROUP))!.message, /unable to find group wheel: no matching entries in group file/);
});

test('a number is always a uid, even where a user has it as a name', (t) => {
  const passwd = 'root:x:0:0::/root:/bin/sh\n1000:x:2000:2000::/home/n:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n';
  t.is(resolveUser('1000', passwd, '').home, '/home/alice');
});

test('--group-add: names or gids from /etc/group, any gid in range, joined with or without -u, without duplicates', (t) => {
  t.deepEqual(resolveUser('www', PASSWD, GROUP, ['nogroup', '77', 'staff', '50']).additionalGids, [33, 50, 65534, 77]);
  t.deepEqual(resolveUser('1234:99', PASSWD, GROUP, ['staff']).additionalGids, [99, 50]);
  t.deepEqual(resolveUser('', PASSWD, GROUP, ['0']).additionalGids, [0]);
  const unknown = t.throws(() => resolveUser('www', PASSWD, GROUP, ['wheel']), { instanceOf: RuntimeError });
  t.is(unknown.message, 'Unable to find group wheel: no matching entries in group file');
  t.throws(() => resolveUser('', PASSWD, GROUP, ['99999999999']), { message: /Unable to find group 99999999999/ });
});

test('files are read through the layers top first, never through a symlink, and whiteouts hide them', (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'capstan-layers-'));
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const layer = (name: string, files: Record<string, string>): string => {
    const directory = path.join(root, name);
    for (const [file, content] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(directory, file)), { recursive: true });
      fs.writeFileSync(path.join(directory, file), content);
    }
    fs.mkdirSync(directory, { recursive: true });
    return directory;
  };
  const base = layer('base', { 'etc/passwd': 'base\n', 'etc/group': 'base-group\n' });
  const middle = layer('middle', { 'etc/passwd': 'middle\n', 'etc/.wh.group': '' });
  const upper = layer('upper', {});
  t.is(readFromLayers([upper, middle, base], 'etc/passwd'), 'middle\n');
  t.is(readFromLayers([upper, middle, base], 'etc/group'), undefined, 'deleted in the middle layer');
  t.is(readFromLayers([base], 'etc/group'), 'base-group\n');

  const opaque = layer('opaque', { 'etc/.wh..wh..opq': '' });
  t.is(readFromLayers([opaque, base], 'etc/passwd'), undefined, 'an opaque etc hides the layers below');

  const hostile = path.join(root, 'hostile');
  fs.mkdirSync(path.join(hostile, 'etc'), { recursive: true });
  fs.symlinkSync('/etc/passwd', path.join(hostile, 'etc', 'passwd'));
  t.is(readFromLayers([hostile, base], 'etc/passwd'), undefined, 'a symlink is not followed to the host');
  const hostileDir = path.join(root, 'hostile-dir');
  fs.mkdirSync(hostileDir);
  fs.symlinkSync('/etc', path.join(hostileDir, 'etc'));
  t.is(readFromLayers([hostileDir, base], 'etc/passwd'), undefined);
});
