/**
 * ps across owners (server/containers/ps.ts, server/runtime/ps-entry.ts): docker's filter keys,
 * values and words (measured against Docker Engine 20.10 on this machine), how values and keys
 * combine, before/since across owners, -n, running-only without -a, newest first, the STATUS and
 * COMMAND texts.
 */
import test from 'ava';
import { ContainerError } from '../../server/containers/errors';
import {
  commandText,
  filterMatch,
  formatPsFilters,
  labelsMatch,
  parsePsFilters,
  selectPs,
  statusText,
  type LocalFilterContext,
  type PsEntry,
  type PsMark,
} from '../../server/containers/ps';
import { capstanPsEntry } from '../../server/runtime/ps-entry';
import type { ContainerRecord } from '../../server/runtime/types';

const NOW = Date.UTC(2024, 0, 1, 12, 0, 0);
const MINUTE = 60_000;

function entry(name: string, idDigit: string, partial: { state?: PsEntry['summary']['State']; createdMs: number; labels?: Record<string, string>; exitCode?: number; owner?: string; imageId?: string; started?: boolean; filteredByOwner?: boolean }): PsEntry {
  return {
    summary: {
      Id: idDigit.repeat(64),
      Names: [`/${name}`],
      Image: 'busybox',
      ImageID: partial.imageId ?? 'sha256:' + 'f'.repeat(64),
      Command: 'sleep 600',
      Created: Math.floor(partial.createdMs / 1000),
      Ports: [],
      Labels: partial.labels ?? {},
      State: partial.state ?? 'running',
      Status: '',
      HostConfig: { NetworkMode: 'none' },
      NetworkSettings: { Networks: { none: {} } },
      Mounts: [],
      Owner: partial.owner ?? 'capstan',
    },
    createdMs: partial.createdMs,
    started: partial.started ?? true,
    ...(partial.exitCode !== undefined ? { exitCode: partial.exitCode } : {}),
    ...(partial.filteredByOwner ? { filteredByOwner: true } : {}),
  };
}

const ENTRIES: PsEntry[] = [
  entry('oldest', 'a', { createdMs: NOW - 50 * MINUTE, labels: { tier: 'back' } }),
  entry('exited3', 'b', { createdMs: NOW - 40 * MINUTE, state: 'exited', exitCode: 3 }),
  entry('made', 'c', { createdMs: NOW - 30 * MINUTE, state: 'created', started: false, exitCode: 0 }),
  entry('web', 'd', { createdMs: NOW - 20 * MINUTE, labels: { tier: 'front', team: 'x' } }),
  entry('docker-one', 'e', { createdMs: NOW - 10 * MINUTE, owner: 'docker', filteredByOwner: true }),
  entry('paused', 'f', { createdMs: NOW - 5 * MINUTE, state: 'paused' }),
];

const context = (): LocalFilterContext => ({ ownerIds: ENTRIES.map((e) => e.summary.Id), ancestorImageIds: new Set(['sha256:' + 'f'.repeat(64)]) });
function resolve(reference: string): PsMark {
  const found = ENTRIES.find((e) => e.summary.Names[0] === `/${reference}` || e.summary.Id.startsWith(reference));
  if (!found) throw new ContainerError(404, 'no_such_container', `no such container ${reference}`);
  return { id: found.summary.Id, createdMs: found.createdMs };
}
function names(query: { all?: boolean; limit?: number; filters?: Record<string, string[]> }): string[] {
  const filters = new Map(Object.entries(query.filters ?? {}));
  return selectPs(ENTRIES, { all: query.all ?? false, limit: query.limit ?? -1, filters }, context, resolve).map((s) => s.Names[0]!.slice(1));
}

test('newest first; running and paused only without -a; -a every state; -n and -l include stopped ones', (t) => {
  t.deepEqual(names({}), ['paused', 'docker-one', 'web', 'oldest']);
  t.deepEqual(names({ all: true }), ['paused', 'docker-one', 'web', 'made', 'exited3', 'oldest']);
  t.deepEqual(names({ limit: 4 }), ['paused', 'docker-one', 'web', 'made']);
  t.deepEqual(names({ limit: 1 }), ['paused']);
});

test('filters: one key ORs its values, different keys AND, labels AND; a status filter includes stopped ones', (t) => {
  t.deepEqual(names({ filters: { status: ['exited', 'created'] } }), ['docker-one', 'made', 'exited3'], 'the engine already filtered its own');
  t.deepEqual(names({ all: true, filters: { label: ['tier'] } }), ['docker-one', 'web', 'oldest']);
  t.deepEqual(names({ all: true, filters: { label: ['tier=front', 'team'] } }), ['docker-one', 'web']);
  t.deepEqual(names({ all: true, filters: { label: ['tier=front'], status: ['exited'] } }), ['docker-one']);
  t.deepEqual(names({ all: true, filters: { name: ['web', 'made'] } }), ['docker-one', 'web', 'made']);
  // Names match as regular expressions, with and without docker's leading slash.
  t.deepEqual(names({ all: true, filters: { name: ['^/o'] } }), ['docker-one', 'oldest']);
  t.deepEqual(names({ all: true, filters: { name: ['xit'] } }), ['docker-one', 'exited3']);
  t.deepEqual(names({ all: true, filters: { id: ['dd'] } }), ['docker-one', 'web'], 'an id prefix');
  t.deepEqual(names({ all: true, filters: { exited: ['3'] } }), ['docker-one', 'exited3']);
  t.deepEqual(names({ all: true, filters: { exited: ['0'] } }), ['docker-one'], 'a created container never exited');
  t.deepEqual(names({ all: true, filters: { ancestor: ['busybox'] } }), ['paused', 'docker-one', 'web', 'made', 'exited3', 'oldest']);
  t.deepEqual(names({ all: true, filters: { volume: ['data'] } }), ['docker-one'], 'capstan containers have no volumes');
  t.deepEqual(names({ all: true, filters: { network: ['none'], health: ['none'] } }), names({ all: true }));
});

test('before and since cut the merged list at a container of any owner', (t) => {
  t.deepEqual(names({ all: true, filters: { before: ['web'] } }), ['made', 'exited3', 'oldest']);
  t.deepEqual(names({ filters: { before: ['web'] } }), ['oldest'], 'running only without -a');
  t.deepEqual(names({ all: true, filters: { since: ['web'] } }), ['paused', 'docker-one']);
  t.deepEqual(names({ all: true, filters: { since: ['docker-one'], before: ['paused'] } }), []);
  t.deepEqual(names({ all: true, filters: { since: ['oldest'], before: ['docker-one'] } }), ['web', 'made', 'exited3']);
  t.throws(() => names({ filters: { before: ['nosuch'] } }), { instanceOf: ContainerError, message: 'no such container nosuch' });
  // A named container another filter leaves out still cuts by its creation time.
  t.deepEqual(names({ all: true, filters: { before: ['web'], label: ['tier'] } }), ['oldest']);
});

test('bad filters get docker 20.10\'s words, with a 400', (t) => {
  const error = t.throws(() => parsePsFilters('{"bogus":{"1":true}}'), { instanceOf: ContainerError, message: "Invalid filter 'bogus'" });
  t.is(error.status, 400);
  t.throws(() => parsePsFilters('{"status":{"x":true}}'), { message: "Invalid filter 'status=x'" });
  t.throws(() => parsePsFilters('{"exited":{"abc":true}}'), { message: 'strconv.Atoi: parsing "abc": invalid syntax' });
  t.throws(() => parsePsFilters('{"is-task":{"maybe":true}}'), { message: "Invalid filter 'is-task=maybe'" });
  t.throws(() => parsePsFilters('not json'), { message: /JSON object/ });
  t.throws(() => parsePsFilters('{"status":"running"}'), { message: /must map values to true/ });
  // Both of docker's encodings; keys without values are dropped.
  t.deepEqual([...parsePsFilters('{"status":{"running":true,"paused":true},"label":[]}')], [['status', ['running', 'paused']]]);
  t.deepEqual([...parsePsFilters('{"label":["a=1","b"]}')], [['label', ['a=1', 'b']]]);
  t.deepEqual([...parsePsFilters(undefined)], []);
  t.is(formatPsFilters(new Map([['status', ['exited']], ['label', ['a=1']]])), '{"status":{"exited":true},"label":{"a=1":true}}');
});

test('filterMatch and labelsMatch are docker\'s Match and MatchKVList', (t) => {
  t.true(filterMatch(undefined, 'x'));
  t.true(filterMatch(['web'], 'web'));
  t.true(filterMatch(['e.'], 'web1'));
  t.false(filterMatch(['^b'], 'web'));
  t.false(filterMatch(['('], 'a(b'), 'an invalid expression matches nothing, unless it is the same text');
  t.true(filterMatch(['a(b'], 'a(b'));
  t.true(labelsMatch(['a', 'b=2'], { a: '', b: '2' }));
  t.false(labelsMatch(['b=3'], { b: '2' }));
  t.false(labelsMatch(['a'], {}));
});

test('STATUS is docker\'s State.String()', (t) => {
  const at = (msAgo: number) => new Date(NOW - msAgo).toISOString();
  const zero = '0001-01-01T00:00:00Z';
  t.is(statusText({ status: 'running', startedAt: at(5 * MINUTE), finishedAt: zero, exitCode: 0 }, NOW), 'Up 5 minutes');
  t.is(statusText({ status: 'paused', startedAt: at(2 * MINUTE), finishedAt: zero, exitCode: 0 }, NOW), 'Up 2 minutes (Paused)');
  t.is(statusText({ status: 'exited', startedAt: at(5 * MINUTE), finishedAt: at(2 * MINUTE), exitCode: 137 }, NOW), 'Exited (137) 2 minutes ago');
  t.is(statusText({ status: 'created', startedAt: zero, finishedAt: zero, exitCode: 0 }, NOW), 'Created');
  t.is(statusText({ status: 'restarting', startedAt: at(MINUTE), finishedAt: at(3000), exitCode: 1 }, NOW), 'Restarting (1) 3 seconds ago');
  t.is(statusText({ status: 'dead', startedAt: zero, finishedAt: zero, exitCode: 0 }, NOW), 'Dead');
  t.is(statusText({ status: 'removing', startedAt: zero, finishedAt: zero, exitCode: 0 }, NOW), 'Removal In Progress');
  t.is(statusText({ status: 'running', startedAt: at(400), finishedAt: zero, exitCode: 0 }, NOW), 'Up Less than a second');
});

test('COMMAND joins the arguments, quoting those with spaces, as moby does', (t) => {
  t.is(commandText(['sleep', '600']), 'sleep 600');
  t.is(commandText(['sh', '-c', 'echo hi; sleep 1']), "sh -c 'echo hi; sleep 1'");
  t.is(commandText([]), '');
});

test('a capstan record becomes docker\'s Summary: ports only while running, network "none", exit code once started', (t) => {
  const record = {
    version: 1,
    id: '1'.repeat(64),
    name: 'web',
    created: new Date(NOW - 5 * MINUTE).toISOString(),
    config: { image: 'busybox:1.36', imageId: 'sha256:' + '2'.repeat(64), args: ['httpd', '-f'], labels: { a: '1' } },
    state: {
      status: 'running',
      startedAt: new Date(NOW - 4 * MINUTE).toISOString(),
      finishedAt: '0001-01-01T00:00:00Z',
      exitCode: 0,
      boundPorts: [{ hostIp: '127.0.0.1', hostPort: 8080, containerPort: 80, protocol: 'tcp' }],
    },
  } as unknown as ContainerRecord;
  const running = capstanPsEntry(record, true, NOW);
  t.like(running.summary, { Id: record.id, Names: ['/web'], Image: 'busybox:1.36', Command: 'httpd -f', State: 'running', Status: 'Up 4 minutes', Owner: 'capstan' });
  t.deepEqual(running.summary.Ports, [{ IP: '127.0.0.1', PrivatePort: 80, PublicPort: 8080, Type: 'tcp' }]);
  t.deepEqual(running.summary.NetworkSettings, { Networks: { none: {} } });
  t.is(running.summary.Created, Math.floor((NOW - 5 * MINUTE) / 1000));
  t.is(running.createdMs, NOW - 5 * MINUTE);
  t.true(running.started);
  const stopped = capstanPsEntry({ ...record, state: { ...record.state, status: 'exited', exitCode: 137, finishedAt: new Date(NOW - MINUTE).toISOString() } }, false, NOW);
  t.deepEqual(stopped.summary.Ports, []);
  t.is(stopped.summary.Status, 'Exited (137) About a minute ago');
  t.is(stopped.exitCode, 137);
  const created = capstanPsEntry({ ...record, state: { ...record.state, status: 'created', startedAt: '0001-01-01T00:00:00Z' } }, false, NOW);
  t.false(created.started);
  t.is(created.exitCode, undefined);
  t.is(created.summary.Status, 'Created');
});
