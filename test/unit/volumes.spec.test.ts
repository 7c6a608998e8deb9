/**
 * The pure parts of volumes: -v, --mount, --tmpfs and --volumes-from in docker's grammar with its
 * messages (those marked "measured" were read from Engine 20.10's daemon), and volume ls filters.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import test from 'ava';
import { DEFAULT_VOLUMES_TABLE_FORMAT, VOLUME_COLUMN_REGISTRY } from '../../server/cli/columns/volumes';
import { compileListingFormat } from '../../server/cli/format/listing';
import { RuntimeError } from '../../server/runtime/errors';
import { filterVolumes, parseVolumeFilters } from '../../server/runtime/volumes/filters';
import { parseMountFlag, parseMountFlags, parseTmpfsFlag, parseVolumeFlag, parseVolumesFrom } from '../../server/runtime/volumes/mount-spec';
import { inspectMounts, resolveMounts, shimMounts } from '../../server/runtime/volumes/resolve';
import { VolumeStore, type VolumeRecord } from '../../server/runtime/volumes/store';

function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    if (error instanceof RuntimeError) {
      if (error.status !== 400) throw new Error(`status ${error.status}`);
      return error.message;
    }
    throw error;
  }
  throw new Error('accepted');
}

test('-v: bind, named volume, anonymous volume, modes', (t) => {
  t.like(parseVolumeFlag('/srv/data:/data'), { type: 'bind', source: '/srv/data', target: '/data', readOnly: false, createHostPath: true, mode: '' });
  t.like(parseVolumeFlag('/srv/data/:/data/:ro'), { type: 'bind', source: '/srv/data/', target: '/data', readOnly: true, mode: 'ro' });
  t.like(parseVolumeFlag('web:/var/www'), { type: 'volume', source: 'web', target: '/var/www', readOnly: false, noCopy: false });
  t.like(parseVolumeFlag('web:/var/www:ro,nocopy'), { type: 'volume', readOnly: true, noCopy: true });
  t.like(parseVolumeFlag('/anon'), { type: 'volume', source: '', target: '/anon' });
  t.like(parseVolumeFlag('/a/../b'), { target: '/b' });
});

test("-v: docker's refusals", (t) => {
  // measured
  t.is(refusal(() => parseVolumeFlag('a:b:c:d')), "invalid volume specification: 'a:b:c:d'");
  t.is(refusal(() => parseVolumeFlag('/tmp:/d:xx')), 'invalid mode: xx');
  t.is(refusal(() => parseVolumeFlag('/tmp:/')), `invalid volume specification: '/tmp:/': invalid mount config for type "bind": invalid specification: destination can't be '/'`);
  t.is(
    refusal(() => parseVolumeFlag('-bad:/d')),
    'create -bad: "-bad" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path',
  );
  t.is(refusal(() => parseVolumeFlag(':/d')), "invalid volume specification: ':/d'");
  t.is(refusal(() => parseVolumeFlag('/tmp:/d:ro,rw')), 'invalid mode: ro,rw');
  t.is(refusal(() => parseVolumeFlag('/tmp:/d:nocopy')), 'invalid mode: nocopy');
  t.regex(refusal(() => parseVolumeFlag('vol:relative')), /mount path must be absolute/);
});

test('--mount: the CSV fields and their aliases', (t) => {
  t.like(parseMountFlag('type=bind,source=/srv,target=/srv,readonly'), { type: 'bind', source: '/srv', target: '/srv', readOnly: true, createHostPath: false });
  t.like(parseMountFlag('type=bind,src=/srv,dst=/x,ro=false'), { type: 'bind', readOnly: false, target: '/x' });
  t.like(parseMountFlag('source=data,destination=/d,volume-nocopy'), { type: 'volume', source: 'data', noCopy: true });
  t.like(parseMountFlag('type=volume,target=/d'), { type: 'volume', source: '' });
  t.like(parseMountFlag('type=tmpfs,target=/t,tmpfs-size=64m,tmpfs-mode=1770'), { type: 'tmpfs', tmpfsOptions: ['size=64m', 'mode=1770'] });
  t.like(parseMountFlag('type=bind,source=/a,target=/b,bind-propagation=rprivate'), { type: 'bind' });
});

test("--mount: docker's refusals", (t) => {
  // measured
  t.is(refusal(() => parseMountFlag('type=bind,target=/d')), 'invalid mount config for type "bind": field Source must not be empty');
  t.regex(refusal(() => parseMountFlag('type=volume,src=/abs,target=/d')), /^create \/abs: "\/abs" includes invalid characters/);
  t.is(refusal(() => parseMountFlag('type=nfs,target=/d')), 'invalid mount type: "nfs"');
  t.is(refusal(() => parseMountFlag('type=bind,source=/a')), 'invalid mount config: must specify a target');
  t.is(refusal(() => parseMountFlag('type=bind,source=/a,target=/b,color=red')), "unexpected key 'color' in 'color=red'");
  t.is(refusal(() => parseMountFlag('type=bind,source=/a,target=/b,shiny')), "invalid field 'shiny' must be a key=value pair");
  t.is(refusal(() => parseMountFlag('type=tmpfs,source=x,target=/t')), 'invalid mount config for type "tmpfs": field Source must not be specified');
  t.is(refusal(() => parseMountFlag('type=bind,source=/a,target=/b,readonly=maybe')), 'invalid value for readonly: maybe');
  t.regex(refusal(() => parseMountFlag('type=bind,source=/a,target=/b,bind-propagation=shared')), /mounts are always private/);
});

test('--tmpfs, --volumes-from, and one target per mount', (t) => {
  t.like(parseTmpfsFlag('/run'), { type: 'tmpfs', target: '/run', tmpfsOptions: [], readOnly: false });
  t.like(parseTmpfsFlag('/run:rw,size=64m,mode=1777,exec'), { tmpfsOptions: ['size=64m', 'mode=1777', 'exec'] });
  t.like(parseTmpfsFlag('/run:ro'), { readOnly: true, tmpfsOptions: [] });
  t.is(refusal(() => parseTmpfsFlag('/run:bogus')), 'invalid tmpfs option ["bogus"]');
  t.deepEqual(parseVolumesFrom('db0'), { container: 'db0', mode: '' });
  t.deepEqual(parseVolumesFrom('db0:ro'), { container: 'db0', mode: 'ro' });
  t.is(refusal(() => parseVolumesFrom('db0:rx')), 'invalid mode: rx');
  t.is(refusal(() => parseMountFlags({ volumes: ['/a:/d'], mounts: [], tmpfs: ['/d'] })), 'Duplicate mount point: /d');
});

test("the shim's mount list: tmpfs gets docker's nosuid,nodev,noexec unless told otherwise; inspect's Mounts", (t) => {
  const base = { name: '', readOnly: false, mode: '', anonymous: false, copyUp: false, tmpfsOptions: [] };
  const mounts = [
    { ...base, type: 'tmpfs' as const, source: '', destination: '/t', tmpfsOptions: ['size=1m', 'exec'] },
    { ...base, type: 'bind' as const, source: '/srv', destination: '/b', readOnly: true, mode: 'ro' },
    { ...base, type: 'volume' as const, name: 'v', source: '/state/volumes/v/_data', destination: '/v', copyUp: true },
  ];
  t.deepEqual(shimMounts(mounts), [
    { kind: 'tmpfs', destination: '/t', readOnly: false, nosuid: true, nodev: true, noexec: false, data: 'size=1m' },
    { kind: 'bind', source: '/srv', destination: '/b', readOnly: true, copyUp: false },
    { kind: 'bind', source: '/state/volumes/v/_data', destination: '/v', readOnly: false, copyUp: true },
  ]);
  const nested = [
    { ...base, type: 'bind' as const, source: '/a', destination: '/x/y' },
    { ...base, type: 'bind' as const, source: '/b', destination: '/x' },
  ];
  t.deepEqual(shimMounts(nested).map((mount) => mount.destination), ['/x', '/x/y'], 'a parent is mounted before what it holds');
  t.deepEqual(inspectMounts(mounts.slice(1)), [
    { Type: 'bind', Source: '/srv', Destination: '/b', Mode: 'ro', RW: false, Propagation: 'rprivate' },
    { Type: 'volume', Name: 'v', Source: '/state/volumes/v/_data', Destination: '/v', Driver: 'local', Mode: '', RW: true, Propagation: '' },
  ]);
});

test('volume ls filters: one key any of its values, different keys all', (t) => {
  const volume = (name: string, labels: Record<string, string> = {}): VolumeRecord => ({
    CreatedAt: '2024-01-01T00:00:00Z', Driver: 'local', Labels: labels, Mountpoint: `/v/${name}/_data`, Name: name, Options: {}, Scope: 'local',
  });
  const volumes = [volume('web', { tier: 'front' }), volume('db', { tier: 'back', keep: '' }), volume('cache')];
  const used = new Set(['web']);
  const names = (filters: string[]): string[] => filterVolumes(volumes, parseVolumeFilters(filters), (name) => used.has(name)).map((v) => v.Name);
  t.deepEqual(names([]), ['web', 'db', 'cache']);
  t.deepEqual(names(['dangling=true']), ['db', 'cache']);
  t.deepEqual(names(['dangling=false']), ['web']);
  t.deepEqual(names(['name=e']), ['web', 'cache']);
  t.deepEqual(names(['name=web', 'name=db']), ['web', 'db']);
  t.deepEqual(names(['label=tier']), ['web', 'db']);
  t.deepEqual(names(['label=tier=back']), ['db']);
  t.deepEqual(names(['label=tier', 'dangling=true']), ['db']);
  t.deepEqual(names(['driver=local', 'name=cache']), ['cache']);
  t.deepEqual(names(['driver=nfs']), []);
  t.is(refusal(() => parseVolumeFilters(['color=red'])), "invalid filter 'color'");
  t.is(refusal(() => parseVolumeFilters(['dangling=maybe'])), "invalid filter 'dangling=maybe'");
});

test("volume ls output: docker's DRIVER / VOLUME NAME table, templates with Label, json", (t) => {
  const volume = (name: string, labels: Record<string, string>): VolumeRecord => ({
    CreatedAt: '2024-01-01T00:00:00Z', Driver: 'local', Labels: labels, Mountpoint: `/v/${name}/_data`, Name: name, Options: {}, Scope: 'local',
  });
  const rows = [volume('webdata', { tier: 'front' }), volume('db', {})];
  const render = (format: string): string =>
    compileListingFormat(format, { columns: VOLUME_COLUMN_REGISTRY, defaultTable: DEFAULT_VOLUMES_TABLE_FORMAT, typeName: '*formatter.volumeContext' }).render(rows, { trunc: false, nowMs: 0 });
  t.is(render(''), 'DRIVER    VOLUME NAME\nlocal     webdata\nlocal     db\n');
  t.is(render('{{.Name}}:{{.Label "tier"}}:{{.Labels}}'), 'webdata:front:tier=front\ndb::\n');
  t.is(render('table {{.Name}}\t{{.Mountpoint}}'), 'VOLUME NAME   MOUNTPOINT\nwebdata       /v/webdata/_data\ndb            /v/db/_data\n');
  t.regex(render('json').split('\n')[0]!, /"Driver":"local".*"Name":"webdata"/);
});

test("resolveMounts: --volumes-from first, the request's mounts replace it, image VOLUMEs fill what is left; a failed bind leaves no volume", (t) => {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'capstan-volumes-unit-'));
  t.teardown(() => fs.rmSync(stateDir, { recursive: true, force: true }));
  const volumes = new VolumeStore(stateDir);
  const base = { name: '', readOnly: false, mode: '', anonymous: false, copyUp: false, tmpfsOptions: [] };
  const donor = [
    { ...base, type: 'volume' as const, name: 'shared', source: '/s/_data', destination: '/data', anonymous: true },
    { ...base, type: 'bind' as const, source: '/srv', destination: '/srv' },
    { ...base, type: 'tmpfs' as const, source: '', destination: '/t' },
  ];
  const host = { volumes, mountsOf: (reference: string) => (reference === 'db0' ? donor : []) };
  const bindSource = path.join(stateDir, 'bind');
  fs.mkdirSync(bindSource);
  const { mounts, createdVolumes } = resolveMounts(
    parseMountFlags({ volumes: [`${bindSource}:/srv`, 'named:/named'], mounts: [], tmpfs: [] }),
    [{ container: 'db0', mode: 'ro' }],
    host,
    ['/data', '/image-volume/', '/named'],
  );
  t.deepEqual(
    mounts.map((mount) => [mount.type, mount.destination, mount.readOnly, mount.anonymous]),
    [
      ['volume', '/data', true, false],
      ['bind', '/srv', false, false],
      ['volume', '/named', false, false],
      ['volume', '/image-volume', false, true],
    ],
    "the donor's tmpfs is not taken, its /srv is replaced, its anonymous volume is not this container's to remove",
  );
  t.is(createdVolumes.length, 2);
  t.truthy(volumes.find('named'));
  t.is(mounts[3]!.source, path.join(stateDir, 'volumes', mounts[3]!.name, '_data'));

  const before = volumes.list().length;
  t.is(
    refusal(() => resolveMounts(parseMountFlags({ volumes: ['fresh:/fresh'], mounts: [`type=bind,source=${path.join(stateDir, 'nope')},target=/b`], tmpfs: [] }), [], host)),
    `invalid mount config for type "bind": bind source path does not exist: ${path.join(stateDir, 'nope')}`,
  );
  t.is(volumes.list().length, before, 'the volume made before the refusal is taken back');
  t.false(fs.existsSync(path.join(stateDir, 'volumes', 'fresh')));
});
