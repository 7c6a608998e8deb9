import test from 'ava';
import { parseLimitRequest } from '../../server/limits/request';
import { inspectContainer, portMap, resourcesOf } from '../../server/runtime/inspect';
import { limitRequestOf, mergeLimitUpdate } from '../../server/runtime/limits';
import type { ContainerLimits, ContainerRecord } from '../../server/runtime/types';
import { ZERO_TIME } from '../../server/runtime/types';

function record(): ContainerRecord {
  return {
    version: 1,
    id: 'a'.repeat(64),
    name: 'web',
    created: '2024-05-01T12:00:00.000000000Z',
    config: {
      image: 'busybox',
      imageId: 'sha256:' + 'b'.repeat(64),
      args: ['httpd', '-f'],
      entrypoint: [],
      cmd: ['httpd', '-f'],
      env: ['PATH=/bin'],
      workingDir: '/www',
      user: 'www',
      hostname: 'aaaaaaaaaaaa',
      tty: false,
      openStdin: false,
      labels: { team: 'web' },
    },
    hostConfig: {
      limits: { nanoCpus: 500_000_000, memoryBytes: 64 << 20, memorySwapBytes: 128 << 20, pidsLimit: null },
      portBindings: [
        { hostIp: '127.0.0.1', hostPort: 8080, containerPort: 80, protocol: 'tcp' },
        { hostIp: '127.0.0.1', hostPort: 0, containerPort: 443, protocol: 'tcp' },
      ],
      restartPolicy: { name: 'on-failure', maximumRetryCount: 3 },
      autoRemove: false,
    },
    state: {
      status: 'running',
      pid: 4242,
      startTimeTicks: 1,
      shimPid: 4241,
      startedAt: '2024-05-01T12:00:01.000000000Z',
      finishedAt: ZERO_TIME,
      exitCode: 0,
      oomKilled: false,
      error: '',
      restartCount: 1,
      manuallyStopped: false,
      boundPorts: [
        { hostIp: '127.0.0.1', hostPort: 8080, containerPort: 80, protocol: 'tcp' },
        { hostIp: '127.0.0.1', hostPort: 40001, containerPort: 443, protocol: 'tcp' },
      ],
    },
  };
}

const facts = { directory: '/state/containers/x', logPath: '/state/containers/x/container.log', cgroupPath: '/capstan/' + 'a'.repeat(64), oomKillDisableSupported: true };

test('a running container in docker inspect shape', (t) => {
  const value = inspectContainer(record(), facts) as Record<string, any>;
  t.is(value['Id'], 'a'.repeat(64));
  t.is(value['Name'], '/web');
  t.is(value['Path'], 'httpd');
  t.deepEqual(value['Args'], ['-f']);
  t.deepEqual(value['State'], {
    Status: 'running', Running: true, Paused: false, Restarting: false, OOMKilled: false, Dead: false, Pid: 4242, ExitCode: 0, Error: '',
    StartedAt: '2024-05-01T12:00:01.000000000Z', FinishedAt: '0001-01-01T00:00:00Z',
  });
  t.like(value['HostConfig'], { Memory: 64 << 20, MemorySwap: 128 << 20, NanoCpus: 500_000_000, CpuQuota: 0, CpuPeriod: 0, CpuShares: 0, PidsLimit: null, AutoRemove: false, CgroupParent: '/capstan' });
  t.deepEqual(value['HostConfig'].PortBindings, { '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '8080' }], '443/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }] });
  t.deepEqual(value['NetworkSettings'].Ports, { '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '8080' }], '443/tcp': [{ HostIp: '127.0.0.1', HostPort: '40001' }] });
  t.deepEqual(value['HostConfig'].RestartPolicy, { Name: 'on-failure', MaximumRetryCount: 3 });
  t.like(value['Config'], { Hostname: 'aaaaaaaaaaaa', User: 'www', WorkingDir: '/www', Image: 'busybox', Tty: false, Entrypoint: null, Labels: { team: 'web' } });
  t.deepEqual(value['Config'].ExposedPorts, { '80/tcp': {}, '443/tcp': {} });
  t.deepEqual(value['Mounts'], []);
  t.is(value['RestartCount'], 1);
  t.is(value['Image'], 'sha256:' + 'b'.repeat(64));
});

test('a stopped container: Pid 0, no bound ports, its exit code and time', (t) => {
  const stopped = record();
  Object.assign(stopped.state, { status: 'exited', pid: 0, exitCode: 137, oomKilled: true, finishedAt: '2024-05-01T12:00:09.000000000Z' });
  const value = inspectContainer(stopped, facts) as Record<string, any>;
  t.like(value['State'], { Status: 'exited', Running: false, Pid: 0, ExitCode: 137, OOMKilled: true, FinishedAt: '2024-05-01T12:00:09.000000000Z' });
  t.deepEqual(value['NetworkSettings'].Ports, {});
});

test('port maps group bindings by container port, in numeric order', (t) => {
  t.deepEqual(Object.keys(portMap([
    { hostIp: '127.0.0.1', hostPort: 2, containerPort: 1000, protocol: 'tcp' },
    { hostIp: '127.0.0.1', hostPort: 1, containerPort: 99, protocol: 'tcp' },
    { hostIp: '::1', hostPort: 3, containerPort: 99, protocol: 'tcp' },
  ])), ['99/tcp', '1000/tcp']);
});

const MiB = 1024 * 1024;

/** Docker 20.10's HostConfig resource fields of `docker run busybox` (measured with this repo's test dockerd). */
const DOCKER_FRESH = {
  CpuShares: 0, Memory: 0, NanoCpus: 0, BlkioWeight: 0, BlkioWeightDevice: [],
  BlkioDeviceReadBps: null, BlkioDeviceWriteBps: null, BlkioDeviceReadIOps: null, BlkioDeviceWriteIOps: null,
  CpuPeriod: 0, CpuQuota: 0, CpusetCpus: '', CpusetMems: '', MemoryReservation: 0, MemorySwap: 0, PidsLimit: null,
};

function limits(partial: Partial<ContainerLimits> = {}): ContainerLimits {
  return { nanoCpus: 0, memoryBytes: 0, memorySwapBytes: 0, pidsLimit: null, ...partial };
}

test('OomKillDisable is false where the hierarchy can disable the OOM killer (v1) and null where it cannot (v2), as docker shows it', (t) => {
  t.is((inspectContainer(record(), facts) as Record<string, any>)['HostConfig']['OomKillDisable'], false);
  t.is((inspectContainer(record(), { ...facts, oomKillDisableSupported: false }) as Record<string, any>)['HostConfig']['OomKillDisable'], null);
});

test('HostConfig has every resource key with docker\'s zero values (no <no value> in templates)', (t) => {
  t.deepEqual(resourcesOf(limits()), DOCKER_FRESH);
  const value = inspectContainer(record(), facts) as Record<string, any>;
  for (const key of Object.keys(DOCKER_FRESH)) t.true(key in value['HostConfig'], key);
});

test('the issue\'s update, merged as docker merges it, shows as docker shows it', (t) => {
  const stored = limits();
  mergeLimitUpdate(stored, parseLimitRequest({ cpus: '1.5', memoryReservation: '64m', pidsLimit: '100', blkioWeight: '300', cpusetCpus: '0', restart: 'on-failure:3' }));
  // docker: NanoCpus for --cpus at update too, quota and period stay 0.
  t.deepEqual(resourcesOf(stored), { ...DOCKER_FRESH, NanoCpus: 1_500_000_000, MemoryReservation: 64 * MiB, PidsLimit: 100, BlkioWeight: 300, CpusetCpus: '0' });
});

test('run limits then an update of each: docker\'s values (pids -1 is stored as 0, swap as given)', (t) => {
  const stored = limits({ nanoCpus: 500_000_000, memoryBytes: 64 * MiB, memorySwapBytes: 128 * MiB, pidsLimit: 50 });
  mergeLimitUpdate(stored, parseLimitRequest({ cpus: '1.5', memory: '96m', memorySwap: '200m', memoryReservation: '32m', pidsLimit: '-1', cpuShares: '512', cpusetCpus: '0' }));
  t.deepEqual(resourcesOf(stored), {
    ...DOCKER_FRESH, NanoCpus: 1_500_000_000, Memory: 96 * MiB, MemorySwap: 200 * MiB, MemoryReservation: 32 * MiB, PidsLimit: 0, CpuShares: 512, CpusetCpus: '0',
  });
});

test('quota and period are stored as given (-1 too); throttles by path, a rate of 0 removes one', (t) => {
  const stored = limits();
  mergeLimitUpdate(stored, parseLimitRequest({ cpuQuota: '50000', cpuPeriod: '200000', deviceReadBps: ['/dev/vda:1mb'], deviceWriteIops: ['/dev/vda:100', '/dev/vdb:7'] }));
  t.like(resourcesOf(stored), {
    CpuQuota: 50_000, CpuPeriod: 200_000, NanoCpus: 0,
    BlkioDeviceReadBps: [{ Path: '/dev/vda', Rate: MiB }], BlkioDeviceWriteIOps: [{ Path: '/dev/vda', Rate: 100 }, { Path: '/dev/vdb', Rate: 7 }],
  });
  mergeLimitUpdate(stored, parseLimitRequest({ cpuQuota: '-1', deviceReadBps: ['/dev/vda:0'], deviceWriteIops: ['/dev/vda:200'] }));
  t.like(resourcesOf(stored), { CpuQuota: -1, CpuPeriod: 200_000, BlkioDeviceReadBps: null, BlkioDeviceWriteIOps: [{ Path: '/dev/vda', Rate: 200 }, { Path: '/dev/vdb', Rate: 7 }] });
  // Each start writes what is stored: a positive quota only, devices by path.
  t.deepEqual(limitRequestOf(stored), { force: false, cpuPeriod: 200_000, deviceWriteIops: [{ path: '/dev/vda', rate: 200 }, { path: '/dev/vdb', rate: 7 }] });
  t.deepEqual(limitRequestOf(limits({ pidsLimit: 0, cpuShares: 512, memoryReservationBytes: 32 * MiB, blkioWeight: 300, cpusetCpus: '0' })), {
    force: false, cpuShares: 512, cpusetCpus: '0', memoryReservation: 32 * MiB, blkioWeight: 300,
  });
});
