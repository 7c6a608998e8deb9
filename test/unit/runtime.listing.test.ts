import test from 'ava';
import type { ContainerInfo } from '../../server/model';
import { parseRuntimeContainerList, runtimeOnlyContainers } from '../../server/runtime/listing';
import type { ContainerSummary } from '../../server/runtime/types';

const id = (c: string): string => c.repeat(64);

function summary(over: Partial<ContainerSummary>): ContainerSummary {
  return { id: id('a'), name: 'web', image: 'busybox', imageId: 'sha256:' + id('f'), status: 'exited', pid: 0, labels: { app: 'x' }, cgroupPath: `/capstan/${id('a')}`, createdAtMs: 1_700_000_000_000, exitCode: 0, oomKilled: false, ...over };
}

test('created and exited containers the collector does not list become capstan ContainerInfo rows', (t) => {
  const listed: ContainerInfo[] = [{ id: id('b'), name: 'running', cgroupPath: `/capstan/${id('b')}`, image: 'busybox', source: 'capstan', isContainer: true, labels: {} }];
  const rows = runtimeOnlyContainers([summary({}), summary({ id: id('b'), name: 'running', status: 'running' }), summary({ id: id('c'), name: 'new', status: 'created' })], listed);
  t.deepEqual(
    rows.map((row) => [row.name, row.source, row.isContainer]),
    [
      ['web', 'capstan', true],
      ['new', 'capstan', true],
    ],
  );
  t.deepEqual(rows[0], { id: id('a'), name: 'web', cgroupPath: `/capstan/${id('a')}`, image: 'busybox', source: 'capstan', isContainer: true, labels: { app: 'x' }, createdAtMs: 1_700_000_000_000 });
});

test('an unknown creation time stays absent, never 0', (t) => {
  const [row] = runtimeOnlyContainers([summary({ createdAtMs: Number.NaN })], []);
  t.false('createdAtMs' in row!);
});

test('the runtime list body is read defensively', (t) => {
  t.deepEqual(parseRuntimeContainerList(undefined), []);
  t.deepEqual(parseRuntimeContainerList({ containers: 'no' }), []);
  const parsed = parseRuntimeContainerList({ containers: [summary({}), { id: 5 }, null, { ...summary({ id: id('d') }), labels: null, image: 7 }] });
  t.deepEqual(
    parsed.map((entry) => [entry.id, entry.image, entry.labels]),
    [
      [id('a'), 'busybox', { app: 'x' }],
      [id('d'), '', {}],
    ],
  );
});
