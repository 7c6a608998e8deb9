import test from 'ava';
import { EventBus, type CapstanEvent } from '../../server/events';
import { toDockerUpdateBody } from '../../server/limits/engine-body';
import { LimitError } from '../../server/limits/errors';
import { parseLimitRequest } from '../../server/limits/request';
import { formatRestartPolicy, parseRestartPolicyText, parseRestartPolicyValue } from '../../server/limits/restart-policy';
import { LimitService, settingsToBody, type AppliedLimits, type RestartPolicyState } from '../../server/limits/service';
import { freshV1Files, MemoryControlFiles } from '../../server/limits/testing';
import type { ContainerInfo } from '../../server/model';

function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    if (error instanceof LimitError) return `${error.status} ${error.code} ${error.details.flag ?? ''}: ${error.message}`;
    throw error;
  }
  return 'accepted';
}

test('--restart: the four policies and on-failure[:N], as docker parses them', (t) => {
  t.deepEqual(parseRestartPolicyText('no'), { name: 'no', maximumRetryCount: 0 });
  t.deepEqual(parseRestartPolicyText('always'), { name: 'always', maximumRetryCount: 0 });
  t.deepEqual(parseRestartPolicyText('unless-stopped'), { name: 'unless-stopped', maximumRetryCount: 0 });
  t.deepEqual(parseRestartPolicyText('on-failure'), { name: 'on-failure', maximumRetryCount: 0 });
  t.deepEqual(parseRestartPolicyText('on-failure:5'), { name: 'on-failure', maximumRetryCount: 5 });
  // strconv.Atoi: a sign and leading zeros are fine; an empty count is no count.
  t.deepEqual(parseRestartPolicyText('on-failure:+05'), { name: 'on-failure', maximumRetryCount: 5 });
  t.deepEqual(parseRestartPolicyText('on-failure:'), { name: 'on-failure', maximumRetryCount: 0 });
  // A count of 0 is no count, for any policy (docker accepts "no:0").
  t.deepEqual(parseRestartPolicyText('always:0'), { name: 'always', maximumRetryCount: 0 });
});

test('--restart: docker\'s messages (CLI format first, then the daemon\'s rules), 400 naming the flag', (t) => {
  const cases: Array<[string, string]> = [
    ['sometimes', "invalid restart policy: unknown policy 'sometimes'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"],
    ['Always', "invalid restart policy: unknown policy 'Always'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"],
    [':3', 'invalid restart policy format: no policy provided before colon'],
    ['on-failure:x', 'invalid restart policy format: maximum retry count must be an integer'],
    ['on-failure:1:2', 'invalid restart policy format: maximum retry count must be an integer'],
    ['on-failure:1.5', 'invalid restart policy format: maximum retry count must be an integer'],
    ['on-failure:-1', 'invalid restart policy: maximum retry count cannot be negative'],
    ['always:3', "invalid restart policy: maximum retry count can only be used with 'on-failure'"],
    ['unless-stopped:1', "invalid restart policy: maximum retry count can only be used with 'on-failure'"],
    ['no:-2', "invalid restart policy: maximum retry count can only be used with 'on-failure' and cannot be negative"],
  ];
  for (const [text, message] of cases) t.is(refusal(() => parseRestartPolicyText(text)), `400 invalid_restart_policy --restart: ${message}`, text);
});

test('the update body: "restart" as typed or as Docker\'s RestartPolicy object; "" changes nothing', (t) => {
  t.deepEqual(parseLimitRequest({ restart: 'on-failure:3' }), { force: false, restartPolicy: { name: 'on-failure', maximumRetryCount: 3 } });
  t.deepEqual(parseLimitRequest({ restart: { Name: 'always' } }).restartPolicy, { name: 'always', maximumRetryCount: 0 });
  t.deepEqual(parseLimitRequest({ restart: { Name: 'on-failure', MaximumRetryCount: 2 }, memory: '64m' }), {
    force: false,
    memory: 64 * 1024 * 1024,
    restartPolicy: { name: 'on-failure', maximumRetryCount: 2 },
  });
  t.is(parseRestartPolicyValue(''), undefined);
  t.is(refusal(() => parseLimitRequest({ restart: '' })), '400 no_limits : you must provide one or more flags when using this command');
  t.regex(refusal(() => parseLimitRequest({ restart: { Name: 'always', MaximumRetryCount: 1 } })), /can only be used with 'on-failure'$/);
  t.regex(refusal(() => parseLimitRequest({ restart: 3 })), /^400 invalid_limit --restart: invalid restart policy 3: expected/);
  t.is(formatRestartPolicy({ name: 'on-failure', maximumRetryCount: 3 }), 'on-failure:3');
  t.is(formatRestartPolicy({ name: 'on-failure', maximumRetryCount: 0 }), 'on-failure');
  t.deepEqual(settingsToBody({ restartPolicy: { name: 'on-failure', maximumRetryCount: 3 } }), { restart: 'on-failure:3' });
});

test('Docker\'s update body carries RestartPolicy in its own shape', (t) => {
  t.deepEqual(toDockerUpdateBody(parseLimitRequest({ restart: 'on-failure:4', pidsLimit: 10 })), { PidsLimit: 10, RestartPolicy: { Name: 'on-failure', MaximumRetryCount: 4 } });
  t.deepEqual(toDockerUpdateBody(parseLimitRequest({ restart: 'no' })), { RestartPolicy: { Name: 'no', MaximumRetryCount: 0 } });
});

const capstanContainer: ContainerInfo = { id: 'c'.repeat(64), name: 'web', cgroupPath: '/capstan/web', image: 'busybox', source: 'capstan', isContainer: true, labels: {} };
const rawCgroup: ContainerInfo = { id: '/system.slice/foo.service', name: '/system.slice/foo.service', cgroupPath: '/system.slice/foo.service', image: '', source: 'systemd', isContainer: false, labels: {} };

function setup(files: Record<string, string> = freshV1Files(), state: RestartPolicyState = { policy: { name: 'no', maximumRetryCount: 0 }, autoRemove: false }) {
  const io = new MemoryControlFiles(1);
  io.addCgroup(capstanContainer.cgroupPath, files);
  io.addCgroup(rawCgroup.cgroupPath, freshV1Files());
  const bus = new EventBus((error) => {
    throw error;
  });
  const events: CapstanEvent[] = [];
  bus.subscribe((event) => events.push(event));
  const persisted: AppliedLimits[] = [];
  const service = new LimitService({
    layout: { mode: 'hybrid', controllersOn: 1, v1Mounts: {}, v2Controllers: [] },
    io,
    hostCpus: 2,
    bus,
    now: () => 1_700_000_000_000,
    restartPolicyOf: (container) => (container.source === 'capstan' ? state : undefined),
    persist: (applied) => persisted.push(applied),
  });
  return { io, service, events, persisted };
}

test('update --restart: old → new in the answer and the event, handed to the runtime; no cgroup file written', (t) => {
  const { io, service, events, persisted } = setup();
  const result = service.update(capstanContainer, { restart: 'on-failure:3' }, { principal: 'ops' });
  t.deepEqual(result.applied, [{ setting: 'restart', old: 'no', new: 'on-failure:3', file: 'restart policy' }]);
  t.deepEqual(io.writes, []);
  t.deepEqual(persisted.map((p) => p.settings), [{ restartPolicy: { name: 'on-failure', maximumRetryCount: 3 } }]);
  t.deepEqual(events.map((e) => e.changes), [result.applied]);
});

test('update --restart of a container with no cgroup (not running) still applies; limits are then absent', (t) => {
  const { io, service, persisted } = setup();
  io.removeCgroup(capstanContainer.cgroupPath);
  const result = service.update(capstanContainer, { restart: 'always' }, { principal: 'ops' });
  t.is(result.limits, undefined);
  t.deepEqual(persisted[0]!.settings, { restartPolicy: { name: 'always', maximumRetryCount: 0 } });
  // A limit needs the cgroup.
  t.regex(refusal(() => service.update(capstanContainer, { restart: 'always', memory: '64m' }, { principal: 'ops' })), /^404 no_such_container/);
});

test('update --restart is refused for a cgroup with no runtime, and (docker\'s words) for a --rm container', (t) => {
  const { io, service, persisted } = setup(freshV1Files(), { policy: { name: 'no', maximumRetryCount: 0 }, autoRemove: true });
  t.is(
    refusal(() => service.update(rawCgroup, { restart: 'always', pidsLimit: 5 }, { principal: 'ops' })),
    '400 no_restart_policy --restart: /system.slice/foo.service is not a container capstan runs (source: systemd): only containers have a restart policy',
  );
  t.is(
    refusal(() => service.update(capstanContainer, { restart: 'always', pidsLimit: 5 }, { principal: 'ops' })),
    '409 conflicting_limit --restart: Restart policy cannot be updated because AutoRemove is enabled for the container',
  );
  t.deepEqual(io.writes, [], 'nothing half-applied: the pids limit was not written either');
  t.notThrows(() => service.update(capstanContainer, { restart: 'no' }, { principal: 'ops' }));
  t.is(persisted.length, 1);
});

test('a setting the host drops with a warning is not handed on to be stored (docker keeps BlkioWeight 0 then)', (t) => {
  const files = freshV1Files();
  delete files['blkio.bfq.weight'];
  const { service, persisted } = setup(files);
  const result = service.update(capstanContainer, { blkioWeight: 300, pidsLimit: 100 }, { principal: 'ops' });
  t.true(result.warnings.some((w) => w.includes('Block I/O weight')));
  t.deepEqual(persisted[0]!.settings, { pidsLimit: 100 });
});
