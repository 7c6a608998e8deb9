import test from 'ava';
import { parseSince } from '../../server/api/app';
import { TokenStore, bearerToken } from '../../server/api/auth';
import { HttpError } from '../../server/api/errors';
import { resolveContainer } from '../../server/api/resolve';
import type { ContainerSnapshot } from '../../server/model';
import { parseAgentOptions, parseDuration, parseListen, UsageError } from '../../server/agent/options';

const container = (id: string, name: string, cgroupPath: string): ContainerSnapshot => ({
  info: { id, name, cgroupPath, image: '', source: 'raw', isContainer: false, labels: {} },
  sample: { cpu: {}, memory: {}, pids: {} },
  stats: { timestampMs: 0 },
});
const containers = [container('abc123', 'web', '/capstan/web'), container('abd999', '/x', '/x'), container('ffff00', 'ssh.service', '/system.slice/ssh.service')];

test('containers resolve by id, name, cgroup path and unique id prefix', (t) => {
  t.is(resolveContainer(containers, 'abc123').info.name, 'web');
  t.is(resolveContainer(containers, 'web').info.id, 'abc123');
  t.is(resolveContainer(containers, '/system.slice/ssh.service').info.id, 'ffff00');
  t.is(resolveContainer(containers, 'abc').info.name, 'web');
  t.is(resolveContainer(containers, 'ff').info.name, 'ssh.service');
});

test('an ambiguous prefix is a 400 and an unknown name a 404 naming it', (t) => {
  const ambiguous = t.throws(() => resolveContainer(containers, 'ab'), { instanceOf: HttpError });
  t.is(ambiguous?.status, 400);
  const unknown = t.throws(() => resolveContainer(containers, 'nope'), { instanceOf: HttpError });
  t.is(unknown?.status, 404);
  t.is(unknown?.message, 'No such container: nope');
});

test('since accepts epoch ms, RFC 3339 and durations, and rejects the rest', (t) => {
  t.is(parseSince('1700000000000'), 1700000000000);
  t.is(parseSince('2026-01-01T00:00:00Z'), Date.parse('2026-01-01T00:00:00Z'));
  t.is(parseSince('5m', 1_000_000), 700_000);
  t.is(parseSince(undefined), undefined);
  t.throws(() => parseSince('yesterday'), { instanceOf: HttpError, message: /since must be/ });
});

test('tokens authenticate by value and bearer headers parse strictly', (t) => {
  const store = new TokenStore([{ name: 'viewer', role: 'viewer', token: 'v'.repeat(32) }]);
  t.is(store.authenticate('v'.repeat(32))?.role, 'viewer');
  t.is(store.authenticate('w'.repeat(32)), undefined);
  t.is(store.authenticate(undefined), undefined);
  t.is(bearerToken('Bearer abc'), 'abc');
  t.is(bearerToken('Basic abc'), undefined);
  t.is(bearerToken('Bearer a b'), undefined);
});

test('agent flags: durations, listen addresses and their errors', (t) => {
  t.is(parseDuration('500ms', '--interval'), 500);
  t.is(parseDuration('2', '--interval'), 2000);
  t.is(parseDuration('15m', '--history'), 900_000);
  t.throws(() => parseDuration('fast', '--interval'), { instanceOf: UsageError, message: /invalid --interval "fast"/ });
  t.deepEqual(parseListen('127.0.0.1:9180'), { host: '127.0.0.1', port: 9180 });
  t.deepEqual(parseListen('[::1]:0'), { host: '::1', port: 0 });
  t.throws(() => parseListen('localhost'), { instanceOf: UsageError });
  t.throws(() => parseListen('1.2.3.4:70000'), { instanceOf: UsageError });
  const options = parseAgentOptions(['--interval', '2s'], {});
  t.not(options, 'help');
  if (options !== 'help') {
    t.is(options.intervalMs, 2000);
    t.is(options.listenHost, '127.0.0.1');
    t.is(options.stateDir, '/var/lib/capstan');
  }
  t.throws(() => parseAgentOptions(['--bogus'], {}), { instanceOf: UsageError });
  t.throws(() => parseAgentOptions(['--interval', '10ms'], {}), { instanceOf: UsageError, message: /between 100ms and 1h/ });
});

test('agent flags: how often idle cgroups read everything, from the flag or the environment, checked', (t) => {
  const read = (argv: string[], env: NodeJS.ProcessEnv = {}): number | undefined => {
    const options = parseAgentOptions(argv, env);
    return options === 'help' ? undefined : options.idleFullReadEveryTicks;
  };
  t.is(read([]), undefined, "the collector's default");
  t.is(read(['--idle-full-read-every', '1']), 1);
  t.is(read([], { CAPSTAN_IDLE_FULL_READ_EVERY: '30' }), 30);
  t.is(read(['--idle-full-read-every', '5'], { CAPSTAN_IDLE_FULL_READ_EVERY: '30' }), 5, 'the flag wins');
  t.throws(() => parseAgentOptions(['--idle-full-read-every', '0'], {}), { instanceOf: UsageError, message: /--idle-full-read-every must be a whole number of ticks, at least 1/ });
  t.throws(() => parseAgentOptions([], { CAPSTAN_IDLE_FULL_READ_EVERY: 'often' }), { instanceOf: UsageError, message: /CAPSTAN_IDLE_FULL_READ_EVERY must be/ });
});

test('agent flags: event log bounds', (t) => {
  const defaults = parseAgentOptions([], {});
  if (defaults === 'help') return t.fail();
  t.deepEqual(defaults.eventLog, { maxFileBytes: 10 * 1024 ** 2, maxFiles: 5, maxAgeMs: 168 * 3_600_000 });
  const custom = parseAgentOptions(['--events-max-size', '512k', '--events-max-files', '3', '--events-max-age', '24h'], {});
  if (custom === 'help') return t.fail();
  t.deepEqual(custom.eventLog, { maxFileBytes: 512 * 1024, maxFiles: 3, maxAgeMs: 86_400_000 });
  t.throws(() => parseAgentOptions(['--events-max-size', 'huge'], {}), { instanceOf: UsageError, message: /invalid --events-max-size "huge"/ });
  t.throws(() => parseAgentOptions(['--events-max-size', '1k'], {}), { instanceOf: UsageError, message: /at least 4k/ });
  t.throws(() => parseAgentOptions(['--events-max-files', '0'], {}), { instanceOf: UsageError, message: /whole number/ });
});

test('agent flags: image import bounds', (t) => {
  const defaults = parseAgentOptions([]);
  if (defaults === 'help') throw new Error('help');
  t.deepEqual(defaults.imageLimits, { maxUnpackedBytes: 8 * 1024 ** 3, maxEntries: 1_000_000, maxCompressionRatio: 100 });
  const given = parseAgentOptions(['--image-max-size', '64m', '--image-max-entries', '5000', '--image-max-ratio', '0']);
  if (given === 'help') throw new Error('help');
  t.deepEqual(given.imageLimits, { maxUnpackedBytes: 64 * 1024 ** 2, maxEntries: 5000, maxCompressionRatio: 0 });
  t.throws(() => parseAgentOptions(['--image-max-ratio', '-1']), { instanceOf: UsageError, message: /--image-max-ratio/ });
  t.throws(() => parseAgentOptions(['--image-max-size', 'lots']), { instanceOf: UsageError, message: /--image-max-size/ });
  t.throws(() => parseAgentOptions(['--image-max-entries', '0']), { instanceOf: UsageError, message: /--image-max-entries/ });
  t.throws(() => parseAgentOptions(['--image-max-entries', '1e6']), { instanceOf: UsageError, message: /--image-max-entries/ });
});

test('agent flags: --max-exited-containers', (t) => {
  const defaults = parseAgentOptions([], {});
  if (defaults === 'help') return t.fail();
  t.is(defaults.maxExitedContainers, 500);
  const none = parseAgentOptions(['--max-exited-containers', '0'], {});
  if (none === 'help') return t.fail();
  t.is(none.maxExitedContainers, 0);
  for (const bad of ['-1', 'many', '1.5', '100001']) {
    t.throws(() => parseAgentOptions([`--max-exited-containers=${bad}`], {}), { instanceOf: UsageError, message: /invalid --max-exited-containers ".*": use a whole number from 0 to 100000/ });
  }
});
