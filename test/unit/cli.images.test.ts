/**
 * `capstan images` rows and filters, image inspect's document, inspect's full key set, and the
 * pure parts of `info`: docker's semantics from tables (the compatibility test compares the
 * commands with a real docker).
 */
import test from 'ava';
import { prettyName } from '../../server/api/system';
import { IMAGE_COLUMN_REGISTRY, ImageFilterError, imageRows, parseImageFilters, pathMatch } from '../../server/cli/columns/images';
import { applyInspectFormat } from '../../server/cli/commands/inspect';
import { infoText } from '../../server/cli/commands/info';
import { inspectImage } from '../../server/runtime/images/inspect';
import type { ImageRecord } from '../../server/runtime/images/types';
import { inspectContainer } from '../../server/runtime/inspect';
import type { ContainerRecord } from '../../server/runtime/types';

function image(letter: string, repoTags: string[], createdAt: string, labels?: Record<string, string>): ImageRecord {
  return { version: 1, id: `sha256:${letter.repeat(64)}`, repoTags, layers: [`sha256:${'f'.repeat(64)}`], config: labels ? { Labels: labels } : {}, createdAt, importedAt: createdAt, sizeBytes: 1_982_805 };
}

const IMAGES = [
  image('a', ['busybox:1.36', 'busybox:latest', 'team/app:v2'], '2024-01-02T00:00:00Z', { tier: 'base' }),
  image('b', [], '2024-01-01T00:00:00Z'),
  image('c', ['web:latest'], '2024-01-03T00:00:00Z'),
];

function names(filters: string[], repository?: string): string[] {
  const resolve = (reference: string): ImageRecord | undefined => IMAGES.find((i) => i.repoTags.includes(reference.includes(':') ? reference : `${reference}:latest`));
  return imageRows(IMAGES, parseImageFilters(filters), repository, resolve).map((row) => `${row.repository}:${row.tag}`);
}

test('one row per name, newest first (an image\'s names in lexical order, as the daemon sorts them), a dangling image as <none>', (t) => {
  t.deepEqual(names([]), ['web:latest', 'busybox:1.36', 'busybox:latest', 'team/app:v2', '<none>:<none>']);
});

test('filters: dangling, reference (Go path.Match on name:tag or the name), before, since, label; the positional is a reference', (t) => {
  t.deepEqual(names(['dangling=true']), ['<none>:<none>']);
  t.deepEqual(names(['dangling=false']), ['web:latest', 'busybox:1.36', 'busybox:latest', 'team/app:v2']);
  t.deepEqual(names(['reference=busybox']), ['busybox:1.36', 'busybox:latest'], 'the name alone matches every tag; only matching names are shown');
  t.deepEqual(names(['reference=*:1.*']), ['busybox:1.36']);
  t.deepEqual(names(['reference=*']), ['web:latest', 'busybox:1.36', 'busybox:latest'], '* stops at /');
  t.deepEqual(names(['reference=*/*']), ['team/app:v2']);
  t.deepEqual(names([], 'web'), ['web:latest']);
  t.deepEqual(names(['before=web']), ['busybox:1.36', 'busybox:latest', 'team/app:v2', '<none>:<none>']);
  t.deepEqual(names(['since=busybox']), ['web:latest']);
  t.deepEqual(names(['label=tier']), ['busybox:1.36', 'busybox:latest', 'team/app:v2']);
  t.deepEqual(names(['label=tier=other']), []);
});

test('bad filters in the daemon\'s words', (t) => {
  t.throws(() => parseImageFilters(['bogus=1']), { instanceOf: ImageFilterError, message: "Invalid filter 'bogus'" });
  t.throws(() => parseImageFilters(['dangling=x']), { instanceOf: ImageFilterError, message: "Invalid filter 'dangling=[x]'" });
  t.throws(() => names(['before=nosuch']), { instanceOf: ImageFilterError, message: 'No such image: nosuch:latest' });
});

test('path.Match: classes, escapes and ? as Go has them', (t) => {
  t.true(pathMatch('b[a-z]sybox', 'busybox'));
  t.false(pathMatch('b[^u]sybox', 'busybox'));
  t.true(pathMatch('a\\*b', 'a*b'));
  t.false(pathMatch('a?b', 'a/b'));
  t.false(pathMatch('[', '['), 'a bad pattern matches nothing');
});

test('columns: docker\'s sizes (3 and 4 digits), the id cut to 12, N/A where docker lists none', (t) => {
  const row = { image: IMAGES[0]!, repository: 'busybox', tag: 'latest' };
  const cell = (field: string, trunc = true): string => IMAGE_COLUMN_REGISTRY.get(field)!.format(row, { trunc, nowMs: Date.parse('2024-01-02T02:00:00Z') });
  t.is(cell('Size'), '1.98MB');
  t.is(cell('VirtualSize'), '1.983MB');
  t.is(cell('ID'), 'a'.repeat(12));
  t.is(cell('ID', false), `sha256:${'a'.repeat(64)}`);
  t.is(cell('CreatedSince'), '2 hours ago');
  t.is(cell('Digest'), '<none>');
  t.is(cell('Containers'), 'N/A');
});

/** docker 20.10's image inspect keys, in its order (measured on the test dockerd). */
const DOCKER_IMAGE_KEYS = ['Id', 'RepoTags', 'RepoDigests', 'Parent', 'Comment', 'Created', 'Container', 'ContainerConfig', 'DockerVersion', 'Author', 'Config', 'Architecture', 'Os', 'Size', 'VirtualSize', 'GraphDriver', 'RootFS', 'Metadata'];

test('image inspect: docker\'s keys in docker\'s order; layers as overlay dirs; templates as docker runs them', (t) => {
  const document = inspectImage({ ...IMAGES[0]!, layers: ['sha256:1', 'sha256:2'], config: { Cmd: ['sh'], Env: ['PATH=/bin'] } }, { layerDirs: ['/l/1', '/l/2'] });
  t.deepEqual(Object.keys(document), DOCKER_IMAGE_KEYS);
  t.deepEqual(document['GraphDriver'], { Data: { LowerDir: '/l/1', MergedDir: '', UpperDir: '/l/2', WorkDir: '' }, Name: 'overlay' });
  t.deepEqual(document['RootFS'], { Type: 'layers', Layers: ['sha256:1', 'sha256:2'] });
  t.is(applyInspectFormat('{{.Config.Cmd}} {{.Config.Entrypoint}} {{.RepoDigests}} {{.Config.StopSignal}}|{{.Config.Labels}}', document), '[sh] [] [] |map[]');
});

/** docker 20.10's key counts of `docker inspect` of a container run with -p: top level, HostConfig, Config (106 in all). */
const DOCKER_KEY_COUNTS = { top: 23, hostConfig: 65, config: 18 };

test('container inspect: docker\'s 106 keys across the top level, HostConfig and Config', (t) => {
  const record: ContainerRecord = {
    version: 1, id: 'a'.repeat(64), name: 'web', created: '2024-05-01T12:00:00.000000000Z',
    config: { image: 'busybox', imageId: 'sha256:' + 'b'.repeat(64), args: ['sleep', '9'], entrypoint: [], cmd: ['sleep', '9'], env: ['PATH=/bin'], workingDir: '', user: '', hostname: 'aaaaaaaaaaaa', tty: false, openStdin: false, labels: {} },
    hostConfig: { limits: { nanoCpus: 0, memoryBytes: 0, memorySwapBytes: 0, pidsLimit: null }, portBindings: [{ hostIp: '127.0.0.1', hostPort: 8080, containerPort: 80, protocol: 'tcp' }], restartPolicy: { name: 'no', maximumRetryCount: 0 }, autoRemove: false },
    state: { status: 'running', pid: 42, startTimeTicks: 1, shimPid: 41, startedAt: '2024-05-01T12:00:01.000000000Z', finishedAt: '0001-01-01T00:00:00Z', exitCode: 0, oomKilled: false, error: '', restartCount: 0, manuallyStopped: false, boundPorts: [] },
  };
  const document = inspectContainer(record, { directory: '/s/c', logPath: '/s/c/container.log', cgroupPath: '/capstan/x', oomKillDisableSupported: true }) as Record<string, Record<string, unknown>>;
  t.deepEqual(
    { top: Object.keys(document).length, hostConfig: Object.keys(document['HostConfig']!).length, config: Object.keys(document['Config']!).length },
    DOCKER_KEY_COUNTS,
  );
  t.false('Health' in document['State']!, 'no healthcheck, no Health (as docker)');
  t.is(applyInspectFormat('{{.State.Health}} {{.SizeRw}} {{.ExecIDs}} {{.Config.StopSignal}}|{{.HostConfig.Dns}} {{.HostConfig.ShmSize}}', document), '<nil> <nil> [] |[] 67108864');
});

test('info: os-release\'s PRETTY_NAME, docker\'s text layout with binary memory units', (t) => {
  t.is(prettyName('NAME="Debian GNU/Linux"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n'), 'Debian GNU/Linux 12 (bookworm)');
  t.is(prettyName('ID=x\n'), undefined);
  const text = infoText({ Containers: 2, ContainersRunning: 1, ContainersPaused: 0, ContainersStopped: 1, MemTotal: 25_276_182_528, NCPU: 2 });
  t.regex(text, /^Server:\n Containers: 2\n  Running: 1\n  Paused: 0\n  Stopped: 1\n/);
  t.regex(text, /\n Total Memory: 23\.54GiB\n/);
  t.regex(text, /\n CPUs: 2\n/);
});
