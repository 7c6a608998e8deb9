/**
 * docker's listing formatter (table / table TEMPLATE / json / TEMPLATE) driven by the stats and
 * ps column registries.
 */
import test from 'ava';
import { DEFAULT_CGROUPS_TABLE_FORMAT, CGROUP_COLUMN_REGISTRY, type CgroupRow } from '../../server/cli/columns/cgroups';
import { DEFAULT_STATS_TABLE_FORMAT, STATS_COLUMN_REGISTRY, type StatsRow } from '../../server/cli/columns/stats';
import { FormatError, compileListingFormat, templateSource } from '../../server/cli/format/listing';
import type { ContainerInfo, ContainerStats } from '../../server/model';

const ID = 'b95a83497c9161c9b3c1e3a5a4c4b4b1b1f6e2d0a9c8b7a6f5e4d3c2b1a09876';

function info(partial: Partial<ContainerInfo> = {}): ContainerInfo {
  return { id: ID, name: 'awesome_brattain', cgroupPath: '/capstan/awesome_brattain', image: 'busybox', source: 'capstan', isContainer: true, labels: {}, ...partial };
}

const FULL: ContainerStats = {
  timestampMs: 1,
  cpuPercent: 0.2812,
  memoryWorkingSetBytes: 5902336,
  memoryLimitBytes: 2096103424,
  memoryPercent: 0.2816,
  networkRxBytes: 916,
  networkTxBytes: 0,
  blockReadBytes: 147456,
  blockWriteBytes: 0,
  pids: 9,
  cpuLimitCpus: 0.5,
  cpuThrottledPercent: 12.5,
};

const stats = (format: string) =>
  compileListingFormat<StatsRow>(format, { columns: STATS_COLUMN_REGISTRY, defaultTable: DEFAULT_STATS_TABLE_FORMAT, typeName: '*stats.StatsRow' });
const OPTIONS = { trunc: true, nowMs: 0 };

test('the default table is docker stats, byte for byte', (t) => {
  const out = stats('').render([{ info: info(), stats: FULL }], OPTIONS);
  t.is(
    out,
    'CONTAINER ID   NAME               CPU %     MEM USAGE / LIMIT     MEM %     NET I/O     BLOCK I/O    PIDS\n' +
      'b95a83497c91   awesome_brattain   0.28%     5.629MiB / 1.952GiB   0.28%     916B / 0B   147kB / 0B   9\n',
  );
  t.is(stats('table').render([{ info: info(), stats: FULL }], OPTIONS), out);
});

test('a table with no rows still has its header', (t) => {
  t.is(stats('table').render([], OPTIONS), 'CONTAINER ID   NAME      CPU %     MEM USAGE / LIMIT   MEM %     NET I/O   BLOCK I/O   PIDS\n');
});

test('unknown values print "--", never 0', (t) => {
  const out = stats('table').render([{ info: info({ name: 'waiting' }), stats: null }], OPTIONS);
  t.is(out.split('\n')[1], 'b95a83497c91   waiting   --        -- / --             --        --        --          --');
});

test('"table TEMPLATE" builds the header from the fields used, keeping literal text', (t) => {
  const out = stats('table {{.Name}}\\t{{.CPUPerc}}\\t{{.MemUsage}}\\t{{.CPUThrottled}}').render([{ info: info(), stats: FULL }], OPTIONS);
  t.is(out, 'NAME               CPU %     MEM USAGE / LIMIT     CPU THROTTLED\nawesome_brattain   0.28%     5.629MiB / 1.952GiB   12.50%\n');
  const withText = stats('table {{.ID}}: {{.PIDs}} pids').render([{ info: info(), stats: FULL }], OPTIONS);
  t.is(withText, 'CONTAINER ID: PIDS pids\nb95a83497c91: 9 pids\n');
});

test('every header docker defines', (t) => {
  const out = stats('table {{.Container}}|{{.ID}}|{{.Name}}|{{.CPUPerc}}|{{.MemUsage}}|{{.MemPerc}}|{{.NetIO}}|{{.BlockIO}}|{{.PIDs}}').render([], OPTIONS);
  t.is(out, 'CONTAINER|CONTAINER ID|NAME|CPU %|MEM USAGE / LIMIT|MEM %|NET I/O|BLOCK I/O|PIDS\n');
});

test('json: one object per line, every value a string, docker\'s keys plus CPUThrottled', (t) => {
  const out = stats('json').render([{ info: info(), stats: FULL }, { info: info({ id: 'f'.repeat(64), name: 'idle' }), stats: null }], OPTIONS);
  const lines = out.split('\n');
  t.is(lines.length, 3);
  t.is(lines[2], '');
  t.is(
    lines[0],
    '{"BlockIO":"147kB / 0B","CPUPerc":"0.28%","CPUThrottled":"12.50%","Container":"awesome_brattain","ID":"b95a83497c91","MemPerc":"0.28%","MemUsage":"5.629MiB / 1.952GiB","Name":"awesome_brattain","NetIO":"916B / 0B","PIDs":"9"}',
  );
  const second = JSON.parse(lines[1]!) as Record<string, unknown>;
  t.deepEqual(Object.keys(second), ['BlockIO', 'CPUPerc', 'CPUThrottled', 'Container', 'ID', 'MemPerc', 'MemUsage', 'Name', 'NetIO', 'PIDs']);
  t.true(Object.values(second).every((v) => typeof v === 'string'));
  t.is(second.MemUsage, '-- / --');
  t.is(stats('{{json .}}').render([{ info: info(), stats: FULL }], OPTIONS), lines[0] + '\n');
});

test('a plain template prints one line per row and no header', (t) => {
  t.is(stats('{{.Name}} {{.CPUPerc}}').render([{ info: info(), stats: FULL }], OPTIONS), 'awesome_brattain 0.28%\n');
  t.is(stats('{{.Name}}\\t{{.PIDs}}').render([{ info: info(), stats: FULL }], OPTIONS), 'awesome_brattain\t9\n');
});

test('--no-trunc shows the full ID', (t) => {
  t.is(stats('{{.ID}}').render([{ info: info(), stats: FULL }], { trunc: false, nowMs: 0 }), ID + '\n');
});

test('format errors carry docker\'s prefix', (t) => {
  t.throws(() => stats('{{.Nope'), { instanceOf: FormatError, message: 'template parsing error: template: :1: unclosed action' });
  const err = t.throws(() => stats('table {{.Nope}}').render([{ info: info(), stats: FULL }], OPTIONS), { instanceOf: FormatError });
  t.is(err?.message, 'template parsing error: template: :1:2: executing "" at <.Nope>: can\'t evaluate field Nope in type *stats.StatsRow');
});

test('preFormat: "table" prefix, json, trimmed spaces, \\t and \\n escapes', (t) => {
  t.deepEqual(templateSource('table', 'table {{.ID}}'), { source: '{{.ID}}', isTable: true });
  t.deepEqual(templateSource('', 'table {{.ID}}'), { source: '{{.ID}}', isTable: true });
  t.deepEqual(templateSource('json', 'table {{.ID}}'), { source: '{{json .}}', isTable: false });
  t.deepEqual(templateSource('  {{.A}}\\t{{.B}}\\n ', 'table'), { source: '{{.A}}\t{{.B}}\n', isTable: false });
});

test('cgroups: default table, relative creation time, labels', (t) => {
  const nowMs = Date.UTC(2024, 0, 1, 12, 0, 0);
  const ps = compileListingFormat<CgroupRow>('', { columns: CGROUP_COLUMN_REGISTRY, defaultTable: DEFAULT_CGROUPS_TABLE_FORMAT, typeName: '*cgroups.CgroupRow' });
  const rows: CgroupRow[] = [
    { info: info({ createdAtMs: nowMs - 5 * 60_000 - 10 }) },
    { info: info({ id: 'a'.repeat(64), name: 'system.slice', image: '', source: 'raw', cgroupPath: '/system.slice', isContainer: false }) },
  ];
  t.is(
    ps.render(rows, { trunc: true, nowMs }),
    'CONTAINER ID   NAME               IMAGE     RUNTIME   CGROUP                      CREATED\n' +
      'b95a83497c91   awesome_brattain   busybox   capstan   /capstan/awesome_brattain   5 minutes ago\n' +
      'aaaaaaaaaaaa   system.slice                 raw       /system.slice               --\n',
  );
  const labels = compileListingFormat<CgroupRow>('{{.Labels}}', { columns: CGROUP_COLUMN_REGISTRY, defaultTable: DEFAULT_CGROUPS_TABLE_FORMAT, typeName: '*cgroups.CgroupRow' });
  t.is(labels.render([{ info: info({ labels: { b: '2', a: '1' } }) }], { trunc: true, nowMs }), 'a=1,b=2\n');
});
