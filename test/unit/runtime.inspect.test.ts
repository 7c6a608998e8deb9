import test from 'ava';
import { inspectContainer, portMap } from '../../server/runtime/inspect';
import type { ContainerRecord } from '../../server/runtime/types';
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

const facts = { directory: '/state/containers/x', logPath: '/state/containers/x/container.log', cgroupPath: '/capstan/' + 'a'.repeat(64) };

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
