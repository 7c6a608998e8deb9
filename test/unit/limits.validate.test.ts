import test from 'ava';
import { limitsFromFiles, type CurrentLimits } from '../../server/limits/current';
import { LimitError } from '../../server/limits/errors';
import { parseLimitRequest } from '../../server/limits/request';
import { freshV1Files } from '../../server/limits/testing';
import { validateLimitRequest, type StoredCpuLimits } from '../../server/limits/validate';

const MiB = 1024 * 1024;

function currentWith(overrides: Record<string, string> = {}): CurrentLimits {
  return limitsFromFiles(1, new Map(Object.entries({ ...freshV1Files(), ...overrides })));
}

function check(body: unknown, options: { current?: CurrentLimits; stored?: StoredCpuLimits; hostCpus?: number; availableCpus?: string } = {}): void {
  validateLimitRequest(parseLimitRequest(body), {
    hostCpus: options.hostCpus ?? 2,
    current: options.current ?? currentWith(),
    stored: options.stored ?? {},
    ...(options.availableCpus !== undefined ? { availableCpus: options.availableCpus } : {}),
  });
}

/** Asserts the body is refused with `status` and exactly `message`. */
function refused(t: import('ava').ExecutionContext, body: unknown, status: number, message: string, options: Parameters<typeof check>[1] = {}): void {
  const error = t.throws(() => check(body, options), { instanceOf: LimitError }, JSON.stringify(body));
  t.is(error?.message, message, JSON.stringify(body));
  t.is(error?.status, status, JSON.stringify(body));
}

test('malformed values are a 400 naming the flag and why (docker/pflag wording)', (t) => {
  refused(t, { memory: 'abc' }, 400, `invalid argument "abc" for "--memory" flag: invalid size: 'abc'`);
  refused(t, { memoryReservation: '12q' }, 400, `invalid argument "12q" for "--memory-reservation" flag: invalid suffix: 'q'`);
  refused(t, { memorySwap: '-2' }, 400, `invalid argument "-2" for "--memory-swap" flag: invalid size: '-2'`);
  refused(t, { cpus: '0.0000000001' }, 400, 'invalid argument "0.0000000001" for "--cpus" flag: value is too precise');
  refused(t, { cpus: 'lots' }, 400, 'invalid argument "lots" for "--cpus" flag: failed to parse lots as a rational number');
  refused(t, { cpuQuota: '1.5' }, 400, 'invalid argument "1.5" for "--cpu-quota" flag: strconv.ParseInt: parsing "1.5": invalid syntax');
  refused(t, { cpuPeriod: 'x' }, 400, 'invalid argument "x" for "--cpu-period" flag: strconv.ParseInt: parsing "x": invalid syntax');
  refused(t, { cpuShares: -5 }, 400, 'invalid argument "-5" for "--cpu-shares" flag: cpu shares must not be negative');
  refused(t, { pidsLimit: 'many' }, 400, 'invalid argument "many" for "--pids-limit" flag: strconv.ParseInt: parsing "many": invalid syntax');
  refused(t, { blkioWeight: 70000 }, 400, 'invalid argument "70000" for "--blkio-weight" flag: strconv.ParseUint: parsing "70000": value out of range');
  refused(t, { cpusetCpus: 3 }, 400, 'invalid argument "3" for "--cpuset-cpus" flag: expected a CPU list such as "0-1,3"');
  refused(t, { memory: { bytes: 1 } }, 400, 'invalid argument "{"bytes":1}" for "--memory" flag: expected a number or a string');
  refused(t, { force: 'yes' }, 400, 'invalid argument ""yes"" for "--force" flag: expected true or false');
  refused(t, { deviceReadBps: ['/dev/vda'] }, 400, 'invalid argument "/dev/vda" for "--device-read-bps" flag: bad format: /dev/vda');
  refused(t, { deviceReadBps: ['vda:10mb'] }, 400, 'invalid argument "vda:10mb" for "--device-read-bps" flag: bad format for device path: vda:10mb');
  refused(
    t,
    { deviceWriteBps: ['/dev/vda:fast'] },
    400,
    'invalid argument "/dev/vda:fast" for "--device-write-bps" flag: invalid rate for device: /dev/vda:fast. The correct format is <device-path>:<number>[<unit>]. Number must be a positive integer. Unit is optional and can be kb, mb, or gb',
  );
  refused(
    t,
    { deviceReadIops: ['/dev/vda:10k'] },
    400,
    'invalid argument "/dev/vda:10k" for "--device-read-iops" flag: invalid rate for device: /dev/vda:10k. The correct format is <device-path>:<number>. Number must be a positive integer',
  );
  refused(t, { bogus: 1 }, 400, `unknown field "bogus"; known fields: cpus, cpuQuota, cpuPeriod, cpuShares, cpusetCpus, memory, memoryReservation, memorySwap, pidsLimit, blkioWeight, deviceReadBps, deviceWriteBps, deviceReadIops, deviceWriteIops, restart, force`);
  refused(t, {}, 400, 'you must provide one or more flags when using this command');
  refused(t, { cpus: 0, memory: '0' }, 400, 'you must provide one or more flags when using this command');
  refused(t, [1, 2], 400, 'the request body must be a JSON object of limits, e.g. {"cpus": 0.5, "memory": "64m"}');
});

test('values normalise to Docker\'s units: numbers are bytes, -1 swap is unlimited, pids ≤ 0 unlimited', (t) => {
  const request = parseLimitRequest({
    cpus: 0.5,
    memory: 64 * MiB,
    memoryReservation: '32m',
    memorySwap: -1,
    pidsLimit: 0,
    cpuShares: '512',
    deviceReadBps: [{ path: '/dev/vda', rate: '10mb' }, '/dev/vda:1mb'],
    force: true,
  });
  t.is(request.nanoCpus, 500_000_000);
  t.is(request.memory, 64 * MiB);
  t.is(request.memoryReservation, 32 * MiB);
  t.is(request.memorySwap, -1);
  t.is(request.pidsLimit, -1);
  t.is(request.cpuShares, 512);
  t.deepEqual(request.deviceReadBps, [{ path: '/dev/vda', rate: 10 * MiB }, { path: '/dev/vda', rate: MiB }]);
  t.true(request.force);
  t.is(parseLimitRequest({ cpuQuota: -5 }).cpuQuota, -1);
  t.is(parseLimitRequest({ pidsLimit: '100' }).pidsLimit, 100);
});

test('Docker\'s validation messages, word for word (400)', (t) => {
  refused(t, { memory: '4m' }, 400, 'Minimum memory limit allowed is 6MB');
  refused(t, { memory: 6 * MiB - 1 }, 400, 'Minimum memory limit allowed is 6MB');
  t.notThrows(() => check({ memory: 6 * MiB }));
  refused(t, { memory: '64m', memorySwap: '32m' }, 400, 'Minimum memoryswap limit should be larger than memory limit, see usage');
  refused(t, { memory: '64m', memoryReservation: '128m' }, 400, 'Minimum memory limit can not be less than memory reservation limit, see usage');
  refused(t, { memoryReservation: '4m' }, 400, 'Minimum memory reservation allowed is 6MB');
  refused(t, { cpus: 0.5, cpuPeriod: 50000 }, 400, 'Conflicting options: Nano CPUs and CPU Period cannot both be set');
  refused(t, { cpus: 0.5, cpuQuota: 50000 }, 400, 'Conflicting options: Nano CPUs and CPU Quota cannot both be set');
  refused(t, { cpus: 3 }, 400, 'range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available');
  refused(t, { cpus: 0.001 }, 400, 'range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available');
  refused(t, { cpus: -1 }, 400, 'range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available');
  refused(t, { cpus: 9 }, 400, 'range of CPUs is from 0.01 to 8.00, as there are only 8 CPUs available', { hostCpus: 8 });
  t.notThrows(() => check({ cpus: 0.01 }));
  t.notThrows(() => check({ cpus: 2 }));
  refused(t, { cpuPeriod: 999 }, 400, 'CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)');
  refused(t, { cpuPeriod: 1_000_001 }, 400, 'CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)');
  refused(t, { cpuPeriod: -5 }, 400, 'CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)');
  refused(t, { cpuQuota: 999 }, 400, 'CPU cfs quota can not be less than 1ms (i.e. 1000)');
  t.notThrows(() => check({ cpuQuota: 1000, cpuPeriod: 1000 }));
  t.notThrows(() => check({ cpuQuota: -1 }));
  refused(t, { cpusetCpus: 'a-b' }, 400, 'Invalid value a-b for cpuset cpus');
  refused(t, { cpusetCpus: '0-3' }, 400, 'Requested CPUs are not available - requested 0-3, available: 0-1', { availableCpus: '0-1' });
  t.notThrows(() => check({ cpusetCpus: '1' }, { availableCpus: '0-1' }));
  refused(t, { blkioWeight: 5 }, 400, 'Range of blkio weight is from 10 to 1000');
  refused(t, { blkioWeight: 1001 }, 400, 'Range of blkio weight is from 10 to 1000');
  t.notThrows(() => check({ blkioWeight: 10 }));
  t.notThrows(() => check({ blkioWeight: 1000 }));
});

test('values given alone are checked against the limits in force, with the same messages', (t) => {
  refused(t, { memorySwap: '128m' }, 400, 'You should always set the Memory limit when using Memoryswap limit, see usage');
  const limited = currentWith({ 'memory.limit_in_bytes': String(256 * MiB), 'memory.soft_limit_in_bytes': String(128 * MiB) });
  refused(t, { memorySwap: '128m' }, 400, 'Minimum memoryswap limit should be larger than memory limit, see usage', { current: limited });
  t.notThrows(() => check({ memorySwap: '512m' }, { current: limited }));
  t.notThrows(() => check({ memorySwap: -1 }));
  refused(t, { memory: '64m' }, 400, 'Minimum memory limit can not be less than memory reservation limit, see usage', { current: limited });
  refused(t, { memoryReservation: '512m' }, 400, 'Minimum memory limit can not be less than memory reservation limit, see usage', { current: limited });
});

test('conflicts with what is stored are a 409 with Docker\'s messages', (t) => {
  refused(t, { cpuQuota: 50000 }, 409, 'Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set', { stored: { nanoCpus: 5e8 } });
  refused(t, { cpuPeriod: 50000 }, 409, 'Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set', { stored: { nanoCpus: 5e8 } });
  refused(t, { cpus: 1 }, 409, 'Conflicting options: Nano CPUs cannot be updated as CPU Quota has already been set', { stored: { cpuQuota: 50000 } });
  refused(t, { cpus: 1 }, 409, 'Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set', { stored: { cpuPeriod: 50000 } });
  // Lifting the cap is always allowed, as in Docker (quota -1 is not "> 0").
  t.notThrows(() => check({ cpuQuota: -1 }, { stored: { nanoCpus: 5e8 } }));
  t.notThrows(() => check({ cpus: 1 }, { stored: { nanoCpus: 5e8 } }));

  const swapSet = currentWith({ 'memory.limit_in_bytes': String(64 * MiB), 'memory.memsw.limit_in_bytes': String(128 * MiB) });
  refused(
    t,
    { memory: '256m' },
    409,
    'Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time',
    { current: swapSet },
  );
  t.notThrows(() => check({ memory: '96m' }, { current: swapSet }));
  t.notThrows(() => check({ memory: '256m', memorySwap: '512m' }, { current: swapSet }));
  // Deliberate difference from moby#39541: an unlimited stored swap does not block raising memory.
  t.notThrows(() => check({ memory: '256m' }));
});
