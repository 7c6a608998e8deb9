import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import test from 'ava';
import { CgroupLayoutError, detectLayout, layoutFromMounts, layoutFromRoot, parseControllersList, parseMountinfo } from '../../server/cgroup/layout';

const FIXTURES = path.resolve(__dirname, '../../../test/fixtures/cgroup');
const mountinfo = (name: string): string => fs.readFileSync(path.join(FIXTURES, 'mountinfo', name), 'utf8');

function withTempDir(run: (dir: string) => void): void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'capstan-layout-'));
  try {
    run(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// ------------------------------------------------------------------------------------------------
// parseMountinfo + layoutFromMounts (pure)
// ------------------------------------------------------------------------------------------------

test('hybrid host (this machine): v1 controllers on separate mounts, empty v2 at unified', (t) => {
  const mounts = parseMountinfo(mountinfo('hybrid-host.txt'));
  t.deepEqual(mounts, {
    v1Mounts: {
      cpu: '/sys/fs/cgroup/cpu',
      cpuacct: '/sys/fs/cgroup/cpuacct',
      cpuset: '/sys/fs/cgroup/cpuset',
      memory: '/sys/fs/cgroup/memory',
      freezer: '/sys/fs/cgroup/freezer',
      blkio: '/sys/fs/cgroup/blkio',
      pids: '/sys/fs/cgroup/pids',
    },
    v2Mount: '/sys/fs/cgroup/unified',
  });
  t.deepEqual(layoutFromMounts(mounts, ['hugetlb']), {
    mode: 'hybrid',
    controllersOn: 1,
    v1Mounts: mounts.v1Mounts,
    v2Mount: '/sys/fs/cgroup/unified',
    v2Controllers: ['hugetlb'],
  });
});

test('pure v2 host', (t) => {
  const mounts = parseMountinfo(mountinfo('v2-host.txt'));
  t.deepEqual(mounts, { v1Mounts: {}, v2Mount: '/sys/fs/cgroup' });
  const controllers = parseControllersList('cpuset cpu io memory hugetlb pids rdma misc\n');
  t.deepEqual(layoutFromMounts(mounts, controllers), {
    mode: 'v2',
    controllersOn: 2,
    v1Mounts: {},
    v2Mount: '/sys/fs/cgroup',
    v2Controllers: ['cpuset', 'cpu', 'io', 'memory', 'hugetlb', 'pids', 'rdma', 'misc'],
  });
});

test('v1 host with cpu,cpuacct co-mounted: both names point at the same mount; name=systemd is not a controller', (t) => {
  const mounts = parseMountinfo(mountinfo('v1-comounted-host.txt'));
  t.deepEqual(mounts, {
    v1Mounts: {
      cpu: '/sys/fs/cgroup/cpu,cpuacct',
      cpuacct: '/sys/fs/cgroup/cpu,cpuacct',
      memory: '/sys/fs/cgroup/memory',
      blkio: '/sys/fs/cgroup/blkio',
      pids: '/sys/fs/cgroup/pids',
      cpuset: '/sys/fs/cgroup/cpuset',
      freezer: '/sys/fs/cgroup/freezer',
    },
  });
  const layout = layoutFromMounts(mounts, []);
  t.is(layout.mode, 'v1');
  t.is(layout.controllersOn, 1);
  t.false('v2Mount' in layout);
  t.deepEqual(layout.v2Controllers, []);
});

test('octal escapes in mount points are decoded', (t) => {
  const text = '41 31 0:38 / /mnt/my\\040cgroups\\011x\\134y rw,relatime - cgroup2 cgroup2 rw\n';
  t.is(parseMountinfo(text).v2Mount, '/mnt/my cgroups\tx\\y');
});

test('optional fields before the separator are skipped', (t) => {
  const text = '29 21 0:26 / /sys/fs/cgroup rw,nosuid shared:9 master:3 propagate_from:2 - cgroup2 cgroup2 rw,nsdelegate\n';
  t.is(parseMountinfo(text).v2Mount, '/sys/fs/cgroup');
});

test('a mount of the hierarchy root wins over an earlier bind mount of a subdirectory', (t) => {
  const text = [
    '90 80 0:29 /docker/abc /run/bind/memory rw - cgroup cgroup rw,memory',
    '35 31 0:29 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory',
    '91 80 0:29 /docker/def /run/bind2/memory rw - cgroup cgroup rw,memory',
    '92 80 0:38 /sub /run/bind/unified rw - cgroup2 cgroup2 rw',
    '41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw',
  ].join('\n');
  t.deepEqual(parseMountinfo(text), { v1Mounts: { memory: '/sys/fs/cgroup/memory' }, v2Mount: '/sys/fs/cgroup/unified' });
});

test('non-cgroup filesystems and malformed lines are ignored', (t) => {
  const text = [
    '31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
    '50 23 0:40 / /srv/cgroup-like rw - ext4 /dev/cgroup rw',
    'garbage cgroup line',
    '',
  ].join('\n');
  t.deepEqual(parseMountinfo(text), { v1Mounts: {} });
  t.deepEqual(parseMountinfo(''), { v1Mounts: {} });
});

test('only name=systemd on v1 plus cgroup2: the controllers are on v2', (t) => {
  const text = [
    '40 31 0:37 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd',
    '41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw',
  ].join('\n');
  const layout = layoutFromMounts(parseMountinfo(text), ['cpu', 'memory']);
  t.is(layout.mode, 'v2');
  t.is(layout.controllersOn, 2);
});

test('v1 with only cpuset and freezer next to v2: hybrid, stats from v2', (t) => {
  const text = [
    '34 31 0:31 / /sys/fs/cgroup/cpuset rw - cgroup cgroup rw,cpuset',
    '37 31 0:34 / /sys/fs/cgroup/freezer rw - cgroup cgroup rw,freezer',
    '41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw',
  ].join('\n');
  const layout = layoutFromMounts(parseMountinfo(text), ['cpu', 'memory', 'io', 'pids']);
  t.is(layout.mode, 'hybrid');
  t.is(layout.controllersOn, 2);
});

test('layoutFromMounts without any cgroup mount throws ENOCGROUP', (t) => {
  const error = t.throws(() => layoutFromMounts({ v1Mounts: {} }, []), { instanceOf: CgroupLayoutError });
  t.is(error?.code, 'ENOCGROUP');
});

// ------------------------------------------------------------------------------------------------
// detectLayout (reads <procRoot>/self/mountinfo)
// ------------------------------------------------------------------------------------------------

test('detectLayout reads mountinfo and the v2 root cgroup.controllers', (t) => {
  withTempDir((procRoot) => {
    const v2Root = path.join(FIXTURES, 'v2').replace(/ /g, '\\040');
    fs.mkdirSync(path.join(procRoot, 'self'));
    fs.writeFileSync(path.join(procRoot, 'self', 'mountinfo'), `30 21 0:26 / ${v2Root} rw,nosuid shared:9 - cgroup2 cgroup2 rw,nsdelegate\n`);
    t.deepEqual(detectLayout(procRoot), {
      mode: 'v2',
      controllersOn: 2,
      v1Mounts: {},
      v2Mount: path.join(FIXTURES, 'v2'),
      v2Controllers: ['cpuset', 'cpu', 'io', 'memory', 'hugetlb', 'pids', 'rdma', 'misc'],
    });
  });
});

test('detectLayout with no cgroup mounted: a clear ENOCGROUP error', (t) => {
  withTempDir((procRoot) => {
    fs.mkdirSync(path.join(procRoot, 'self'));
    const mountinfoPath = path.join(procRoot, 'self', 'mountinfo');
    fs.writeFileSync(mountinfoPath, '22 27 0:21 / /proc rw,relatime - proc proc rw\n');
    const error = t.throws(() => detectLayout(procRoot), { instanceOf: CgroupLayoutError });
    t.is(error?.message, `no cgroup filesystem is mounted (looked in ${mountinfoPath})`);
    t.is(error?.code, 'ENOCGROUP');
    t.is(error?.path, mountinfoPath);
  });
});

test('detectLayout on this host agrees with its own mountinfo', (t) => {
  const layout = detectLayout();
  t.deepEqual(layout.v1Mounts, parseMountinfo(fs.readFileSync('/proc/self/mountinfo', 'utf8')).v1Mounts);
  for (const mount of [...Object.values(layout.v1Mounts), layout.v2Mount]) {
    if (mount !== undefined) t.true(fs.statSync(mount).isDirectory(), mount);
  }
  if (layout.controllersOn === 1) t.truthy(layout.v1Mounts.memory ?? layout.v1Mounts.cpu);
  else t.truthy(layout.v2Mount);
});

// ------------------------------------------------------------------------------------------------
// layoutFromRoot (--cgroup-root)
// ------------------------------------------------------------------------------------------------

test('layoutFromRoot on the v1 fixture tree: hybrid like this host, stats on v1', (t) => {
  const root = path.join(FIXTURES, 'v1');
  t.deepEqual(layoutFromRoot(root), {
    mode: 'hybrid',
    controllersOn: 1,
    v1Mounts: {
      blkio: path.join(root, 'blkio'),
      cpu: path.join(root, 'cpu'),
      cpuacct: path.join(root, 'cpuacct'),
      cpuset: path.join(root, 'cpuset'),
      freezer: path.join(root, 'freezer'),
      memory: path.join(root, 'memory'),
      pids: path.join(root, 'pids'),
    },
    v2Mount: path.join(root, 'unified'),
    v2Controllers: ['hugetlb'],
  });
});

test('layoutFromRoot on the v2 fixture tree', (t) => {
  const root = path.join(FIXTURES, 'v2');
  t.deepEqual(layoutFromRoot(root), {
    mode: 'v2',
    controllersOn: 2,
    v1Mounts: {},
    v2Mount: root,
    v2Controllers: ['cpuset', 'cpu', 'io', 'memory', 'hugetlb', 'pids', 'rdma', 'misc'],
  });
});

test('layoutFromRoot: co-mounted directory and distribution symlinks; relative roots are resolved', (t) => {
  withTempDir((root) => {
    fs.mkdirSync(path.join(root, 'cpu,cpuacct'));
    fs.mkdirSync(path.join(root, 'memory'));
    fs.mkdirSync(path.join(root, 'systemd'));
    fs.symlinkSync('cpu,cpuacct', path.join(root, 'cpu'));
    fs.symlinkSync('cpu,cpuacct', path.join(root, 'cpuacct'));
    fs.symlinkSync('missing', path.join(root, 'pids')); // dangling: not a hierarchy
    fs.writeFileSync(path.join(root, 'blkio'), ''); // a file, not a directory
    const layout = layoutFromRoot(path.relative(process.cwd(), root));
    t.deepEqual(layout, {
      mode: 'v1',
      controllersOn: 1,
      v1Mounts: { cpu: path.join(root, 'cpu,cpuacct'), cpuacct: path.join(root, 'cpu,cpuacct'), memory: path.join(root, 'memory') },
      v2Controllers: [],
    });
  });
});

test('layoutFromRoot: only symlinked controllers still count', (t) => {
  withTempDir((root) => {
    fs.mkdirSync(path.join(root, 'real-memory'));
    fs.symlinkSync('real-memory', path.join(root, 'memory'));
    t.deepEqual(layoutFromRoot(root).v1Mounts, { memory: path.join(root, 'memory') });
  });
});

test('layoutFromRoot: an empty or missing directory is an error', (t) => {
  withTempDir((root) => {
    fs.mkdirSync(path.join(root, 'unified')); // no cgroup.controllers: not a v2 root
    const error = t.throws(() => layoutFromRoot(root), { instanceOf: CgroupLayoutError, message: /no cgroup hierarchy found under/ });
    t.is(error?.code, 'ENOCGROUP');
    const missing = t.throws(() => layoutFromRoot(path.join(root, 'nope')), { instanceOf: CgroupLayoutError });
    t.is(missing?.code, 'ENOENT');
    t.is(missing?.path, path.join(root, 'nope'));
  });
});
