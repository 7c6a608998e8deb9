import test from 'ava';
import { OwnedLimits } from '../../server/containers/limits';
import { toDockerUpdateBody } from '../../server/limits/engine-body';
import { LimitError } from '../../server/limits/errors';
import { parseLimitRequest } from '../../server/limits/request';
import { formatRestartPolicy, parseRestartPolicyText, parseRestartPolicyValue } from '../../server/limits/restart-policy';
import { LimitService, settingsToBody } from '../../server/limits/service';
import { freshV1Files, limitRefusal, MemoryControlFiles } from '../../server/limits/testing';
import type { ContainerInfo } from '../../server/model';
import type { EngineSource } from '../../server/sources/engine/source';


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
  for (const [text, message] of cases) t.is(limitRefusal(() => parseRestartPolicyText(text)), `400 invalid_restart_policy --restart: ${message}`, text);
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
  t.is(limitRefusal(() => parseLimitRequest({ restart: '' })), '400 no_limits : you must provide one or more flags when using this command');
  t.regex(limitRefusal(() => parseLimitRequest({ restart: { Name: 'always', MaximumRetryCount: 1 } })), /can only be used with 'on-failure'$/);
  t.regex(limitRefusal(() => parseLimitRequest({ restart: 3 })), /^400 invalid_limit --restart: invalid restart policy 3: expected/);
  t.is(formatRestartPolicy({ name: 'on-failure', maximumRetryCount: 3 }), 'on-failure:3');
  t.is(formatRestartPolicy({ name: 'on-failure', maximumRetryCount: 0 }), 'on-failure');
  t.deepEqual(settingsToBody({ restartPolicy: { name: 'on-failure', maximumRetryCount: 3 } }), { restart: 'on-failure:3' });
});

test('Docker\'s update body carries RestartPolicy in its own shape', (t) => {
  t.deepEqual(toDockerUpdateBody(parseLimitRequest({ restart: 'on-failure:4', pidsLimit: 10 })), { PidsLimit: 10, RestartPolicy: { Name: 'on-failure', MaximumRetryCount: 4 } });
  t.deepEqual(toDockerUpdateBody(parseLimitRequest({ restart: 'no' })), { RestartPolicy: { Name: 'no', MaximumRetryCount: 0 } });
});

test('through an engine: Docker gets RestartPolicy in its update body; Podman 4.3 is refused and not asked', async (t) => {
  const io = new MemoryControlFiles(1);
  const cgroups = { docker: '/docker/' + 'd'.repeat(64), podman: '/machine.slice/libpod-' + 'e'.repeat(64) };
  for (const cgroupPath of Object.values(cgroups)) io.addCgroup(cgroupPath, freshV1Files());
  const service = new LimitService({ layout: { mode: 'hybrid', controllersOn: 1, v1Mounts: {}, v2Controllers: [] }, io, hostCpus: 2 });
  const sent: Array<{ kind: string; docker: Record<string, unknown>; podman: Record<string, unknown> }> = [];
  const engine = (kind: string) =>
    ({
      kind,
      up: true,
      address: `unix:///run/${kind}.sock`,
      describeContainer: () => ({}),
      inspect: async () => ({ HostConfig: {} }),
      update: async (_id: string, docker: Record<string, unknown>, podman: Record<string, unknown>) => {
        sent.push({ kind, docker, podman });
        return [];
      },
    }) as unknown as EngineSource;
  const owned = new OwnedLimits({ service, engines: new Map([['docker', engine('docker')], ['podman', engine('podman')]]) });
  const info = (source: 'docker' | 'podman'): ContainerInfo => ({ id: source[0]!.repeat(64), name: `${source}-web`, cgroupPath: cgroups[source], image: 'busybox', source, isContainer: true, labels: {} });

  const answer = await owned.update(info('docker'), { restart: 'on-failure:2' }, { principal: 'ops' });
  t.deepEqual(sent, [{ kind: 'docker', docker: { RestartPolicy: { Name: 'on-failure', MaximumRetryCount: 2 } }, podman: {} }]);
  t.deepEqual(answer.applied, [{ setting: 'restart', old: 'unknown', new: 'on-failure:2', file: 'Docker API' }]);

  const refused = await t.throwsAsync(owned.update(info('podman'), { restart: 'always', memory: '64m' }, { principal: 'ops' }), { instanceOf: LimitError });
  t.is(refused?.status, 409);
  t.is(refused?.code, 'unsupported_by_owner');
  t.regex(refused?.message ?? '', /Podman 4\.3's update API .* changes resources only, not the restart policy; nothing was changed/);
  t.is(sent.length, 1, 'Podman was not asked: the memory limit was not changed either');
});
