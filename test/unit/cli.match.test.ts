/** Naming containers on the command line: docker's lookup order and error wording. */
import test from 'ava';
import { findContainer, findContainers } from '../../server/cli/match';
import type { ContainerInfo } from '../../server/model';

function entry(id: string, name: string, cgroupPath: string): { info: ContainerInfo } {
  return { info: { id, name, cgroupPath, image: '', source: 'raw', isContainer: true, labels: {} } };
}

const ITEMS = [
  entry('abc111' + '0'.repeat(58), 'web', '/capstan/web'),
  entry('abc222' + '0'.repeat(58), 'db', '/capstan/db'),
  entry('def333' + '0'.repeat(58), 'ssh.service', '/system.slice/ssh.service'),
  entry('fff444' + '0'.repeat(58), 'abc', '/capstan/abc'),
  entry('eee555' + '0'.repeat(58), '', '/'),
];

const found = (query: string): string | undefined => {
  const result = findContainer(ITEMS, query);
  return result.ok ? result.item.info.name : result.error;
};

test('by name, with or without docker\'s leading slash', (t) => {
  t.is(found('web'), 'web');
  t.is(found('/web'), 'web');
  t.is(found('ssh.service'), 'ssh.service');
});

test('by full ID and by unique ID prefix', (t) => {
  t.is(found('def333' + '0'.repeat(58)), 'ssh.service');
  t.is(found('def'), 'ssh.service');
  t.is(found('abc1'), 'web');
});

test('by cgroup path, with or without the leading slash', (t) => {
  t.is(found('/system.slice/ssh.service'), 'ssh.service');
  t.is(found('system.slice/ssh.service'), 'ssh.service');
  t.is(found('/'), '');
});

test('an exact name wins over an ID prefix, as in docker', (t) => {
  // "abc" is both the name of one entry and a prefix of two IDs.
  t.is(found('abc'), 'abc');
});

test('an ambiguous prefix and an unknown name use docker\'s wording', (t) => {
  t.is(found('abc2'), 'db');
  t.is(found('ab'), 'Error response from daemon: multiple IDs found with provided prefix: ab');
  t.is(found('nope'), 'Error response from daemon: No such container: nope');
  t.is(found(''), 'Error response from daemon: invalid container name or ID: value is empty');
});

test('two containers with one name are ambiguous, not a silent pick', (t) => {
  const items = [entry('1'.repeat(64), 'twin', '/a'), entry('2'.repeat(64), 'twin', '/b')];
  const result = findContainer(items, 'twin');
  t.false(result.ok);
  t.is(result.ok ? '' : result.error, 'Error response from daemon: multiple containers found with name: twin');
});

test('several queries: matches in order, one error line per failure', (t) => {
  const { matches, errors } = findContainers(ITEMS, ['db', 'x', 'web', 'y']);
  t.deepEqual(matches.map((m) => [m.query, m.item.info.name]), [['db', 'db'], ['web', 'web']]);
  t.deepEqual(errors, ['Error response from daemon: No such container: x', 'Error response from daemon: No such container: y']);
});
