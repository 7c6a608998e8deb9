import test from 'ava';
import { toDockerUpdateBody } from '../../server/limits/engine-body';
import { parseLimitRequest } from '../../server/limits/request';
import { formatRestartPolicy, parseRestartPolicyText, parseRestartPolicyValue } from '../../server/limits/restart-policy';
import { settingsToBody } from '../../server/limits/service';
import { limitRefusal } from '../../server/limits/testing';


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
