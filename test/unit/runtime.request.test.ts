import test from 'ava';
import { RuntimeError } from '../../server/runtime/errors';
import { limitRequestOf, validateContainerLimits } from '../../server/runtime/limits';
import { parseCreateRequest, parsePortBinding, parsePublish, parseRestartPolicy } from '../../server/runtime/request';

const message = (fn: () => unknown): string => {
  try {
    fn();
  } catch (error) {
    if (error instanceof RuntimeError) return `${error.status} ${error.message}`;
    throw error;
  }
  throw new Error('did not throw');
};

test('an empty request is valid (the image or host decides the command later)', (t) => {
  const options = parseCreateRequest({});
  t.like(options, { image: '', env: [], tty: false, openStdin: false, autoRemove: false, portBindings: [] });
  t.deepEqual(options.limits, { nanoCpus: 0, memoryBytes: 0, memorySwapBytes: 0, pidsLimit: null });
  t.deepEqual(options.restartPolicy, { name: 'no', maximumRetryCount: 0 });
});

test('limits are parsed with docker units; malformed values get pflag-style messages', (t) => {
  const options = parseCreateRequest({ cpus: '1.5', memory: '64m', memorySwap: '128m', pidsLimit: '100' });
  t.deepEqual(options.limits, { nanoCpus: 1_500_000_000, memoryBytes: 64 * 1024 * 1024, memorySwapBytes: 128 * 1024 * 1024, pidsLimit: 100 });
  t.true(options.memorySwapGiven);
  t.is(parseCreateRequest({ memorySwap: '-1', memory: '10m' }).limits.memorySwapBytes, -1);
  t.is(parseCreateRequest({ pidsLimit: -1 }).limits.pidsLimit, null);
  t.is(parseCreateRequest({ cpus: 2 }).limits.nanoCpus, 2e9);
  t.regex(message(() => parseCreateRequest({ cpus: '0.0000000001' })), /value is too precise/);
  t.regex(message(() => parseCreateRequest({ memory: '12q' })), /invalid argument "12q" for "--memory" flag/);
  t.regex(message(() => parseCreateRequest({ pidsLimit: 'many' })), /invalid argument "many" for "--pids-limit" flag/);
});

test("the limits' own rules are the live-limits module's, with docker's messages", (t) => {
  const limits = (body: Record<string, unknown>) => parseCreateRequest(body).limits;
  t.notThrows(() => validateContainerLimits(limits({ cpus: '2', memory: '6m' }), 2));
  t.is(message(() => validateContainerLimits(limits({ cpus: '3' }), 2)), '400 range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available');
  t.is(message(() => validateContainerLimits(limits({ cpus: '0.001' }), 2)), '400 range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available');
  t.is(message(() => validateContainerLimits(limits({ cpus: '-1' }), 2)), '400 range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available');
  t.is(message(() => validateContainerLimits(limits({ memory: '4m' }), 2)), '400 Minimum memory limit allowed is 6MB');
  t.is(message(() => validateContainerLimits(limits({ memory: '64m', memorySwap: '32m' }), 2)), '400 Minimum memoryswap limit should be larger than memory limit, see usage');
  t.is(message(() => validateContainerLimits(limits({ memorySwap: '64m' }), 2)), '400 You should always set the Memory limit when using Memoryswap limit, see usage');
  t.deepEqual(limitRequestOf({ nanoCpus: 0, memoryBytes: 0, memorySwapBytes: 0, pidsLimit: null }), { force: false });
  t.deepEqual(limitRequestOf({ nanoCpus: 5e8, memoryBytes: 1 << 26, memorySwapBytes: -1, pidsLimit: 7 }), { force: false, nanoCpus: 5e8, memory: 1 << 26, memorySwap: -1, pidsLimit: 7 });
});

test('published ports: docker -p forms, loopback by default, tcp only, no duplicates', (t) => {
  t.deepEqual(parsePortBinding('8080:80'), { hostIp: '127.0.0.1', hostPort: 8080, containerPort: 80, protocol: 'tcp' });
  t.deepEqual(parsePortBinding('0.0.0.0:8080:80/tcp'), { hostIp: '0.0.0.0', hostPort: 8080, containerPort: 80, protocol: 'tcp' });
  t.deepEqual(parsePortBinding('80'), { hostIp: '127.0.0.1', hostPort: 0, containerPort: 80, protocol: 'tcp' });
  t.deepEqual(parsePortBinding('127.0.0.2::80'), { hostIp: '127.0.0.2', hostPort: 0, containerPort: 80, protocol: 'tcp' });
  t.deepEqual(parsePortBinding('[::1]:8080:80'), { hostIp: '::1', hostPort: 8080, containerPort: 80, protocol: 'tcp' });
  t.regex(message(() => parsePortBinding('53:53/udp')), /only tcp ports can be published/);
  t.regex(message(() => parsePortBinding('8000-8010:80')), /port ranges are not supported/);
  t.is(message(() => parsePortBinding('70000:80')), '400 Invalid hostPort: 70000');
  t.is(message(() => parsePortBinding('x')), '400 Invalid containerPort: x');
  t.regex(message(() => parsePortBinding('8080:0')), /ports are 1 to 65535/);
  t.regex(message(() => parsePortBinding('host:8080:80')), /not an IPv4 address/);
  t.regex(message(() => parsePublish(['8080:80', '8080:81'])), /published twice/);
  t.is(parsePublish(['80', '81']).length, 2, 'several "any free port" bindings are fine');
});

test('restart policies with docker messages', (t) => {
  t.deepEqual(parseRestartPolicy('always'), { name: 'always', maximumRetryCount: 0 });
  t.deepEqual(parseRestartPolicy('on-failure:5'), { name: 'on-failure', maximumRetryCount: 5 });
  t.regex(message(() => parseRestartPolicy('sometimes')), /invalid restart policy/);
  t.regex(message(() => parseRestartPolicy('always:3')), /maximum retry count can only be used with 'on-failure'/);
  t.regex(message(() => parseRestartPolicy('on-failure:x')), /maximum retry count must be an integer/);
  t.is(message(() => parseCreateRequest({ restart: 'always', autoRemove: true })), '400 Conflicting options: --restart and --rm');
});

test('fields are checked: unknown ones, wrong types, NUL characters, relative paths, bad users and hostnames', (t) => {
  t.regex(message(() => parseCreateRequest({ nope: 1 })), /unknown field "nope"/);
  t.regex(message(() => parseCreateRequest([])), /must be a JSON object/);
  t.regex(message(() => parseCreateRequest({ cmd: 'ls' })), /cmd must be an array of strings/);
  t.regex(message(() => parseCreateRequest({ cmd: ['a\0b'] })), /NUL/);
  t.regex(message(() => parseCreateRequest({ workingDir: 'tmp' })), /needs to be an absolute path/);
  t.regex(message(() => parseCreateRequest({ user: 'root;rm' })), /invalid user/);
  t.regex(message(() => parseCreateRequest({ hostname: '-bad' })), /invalid hostname/);
  t.regex(message(() => parseCreateRequest({ image: '../../etc' })), /invalid reference format/);
  t.regex(message(() => parseCreateRequest({ env: ['=x'] })), /invalid environment variable/);
  t.regex(message(() => parseCreateRequest({ name: '../x' })), /Invalid container name/);
  t.regex(message(() => parseCreateRequest({ consoleSize: { rows: 0, cols: 80 } })), /consoleSize/);
  for (const groupAdd of [['../x'], ['-1'], ['g\u0000'], ['a'.repeat(100)]]) {
    t.regex(message(() => parseCreateRequest({ groupAdd })), /invalid group .* in groupAdd: use a group name or a gid|NUL/);
  }
  t.regex(message(() => parseCreateRequest({ groupAdd: 'wheel' })), /groupAdd must be an array of strings/);
  t.deepEqual(parseCreateRequest({ groupAdd: ['wheel', '77'] }).groupAdd, ['wheel', '77']);
});
