/**
 * `inspect`: a container in the shape of docker's ContainerJSON (moby api/types/container), as far
 * as it applies to capstan. Pure: the record and the live facts in, a plain object out.
 */
import type { ContainerRecord, PortBinding } from './types';
import { ZERO_TIME } from './types';

export interface InspectFacts {
  /** The container's folder (LogPath, GraphDriver). */
  directory: string;
  logPath: string;
  /** The overlay directories while known (GraphDriver.Data). */
  overlay?: { lowerDirs: string[]; upperDir: string; workDir: string; mergedDir: string };
  cgroupPath: string;
}

export type PortMap = Record<string, Array<{ HostIp: string; HostPort: string }>>;

/** `{"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]}`, keys in natural order. */
export function portMap(bindings: readonly PortBinding[]): PortMap {
  const map: PortMap = {};
  const sorted = [...bindings].sort((a, b) => a.containerPort - b.containerPort);
  for (const binding of sorted) {
    const key = `${binding.containerPort}/${binding.protocol}`;
    (map[key] ??= []).push({ HostIp: binding.hostIp, HostPort: binding.hostPort === 0 ? '' : String(binding.hostPort) });
  }
  return map;
}

function nullWhenEmpty(list: readonly string[] | undefined): string[] | null {
  return list && list.length > 0 ? [...list] : null;
}

export function inspectContainer(record: ContainerRecord, facts: InspectFacts): Record<string, unknown> {
  const { config, hostConfig, state } = record;
  const limits = hostConfig.limits;
  const running = state.status === 'running' || state.status === 'paused' || state.status === 'restarting';
  const exposed: Record<string, Record<string, never>> = {};
  for (const binding of hostConfig.portBindings) exposed[`${binding.containerPort}/${binding.protocol}`] = {};
  return {
    Id: record.id,
    Created: record.created,
    Path: config.args[0] ?? '',
    Args: config.args.slice(1),
    State: {
      Status: state.status,
      Running: running,
      Paused: state.status === 'paused',
      Restarting: state.status === 'restarting',
      OOMKilled: state.oomKilled,
      Dead: state.status === 'dead',
      Pid: running ? state.pid : 0,
      ExitCode: state.exitCode,
      Error: state.error,
      StartedAt: state.startedAt || ZERO_TIME,
      FinishedAt: state.finishedAt || ZERO_TIME,
    },
    Image: config.imageId,
    LogPath: facts.logPath,
    Name: `/${record.name}`,
    RestartCount: state.restartCount,
    Driver: config.image === '' ? 'host' : 'overlay',
    Platform: 'linux',
    HostConfig: {
      Memory: limits.memoryBytes,
      MemorySwap: limits.memorySwapBytes,
      NanoCpus: limits.nanoCpus,
      // docker stores --cpus as NanoCpus and leaves quota and period at 0; the cgroup has the quota.
      CpuQuota: 0,
      CpuPeriod: 0,
      CpuShares: 0,
      PidsLimit: limits.pidsLimit,
      PortBindings: portMap(hostConfig.portBindings),
      RestartPolicy: { Name: hostConfig.restartPolicy.name, MaximumRetryCount: hostConfig.restartPolicy.maximumRetryCount },
      AutoRemove: hostConfig.autoRemove,
      NetworkMode: 'none',
      CgroupParent: facts.cgroupPath.slice(0, facts.cgroupPath.lastIndexOf('/')) || '/',
      // As given (Docker shows null for none; a profile file's content is in its seccomp= entry).
      CapAdd: nullWhenEmpty(hostConfig.capAdd),
      CapDrop: nullWhenEmpty(hostConfig.capDrop),
      SecurityOpt: nullWhenEmpty(hostConfig.securityOpt),
      Privileged: false,
      ReadonlyRootfs: config.image === '',
    },
    GraphDriver: facts.overlay
      ? {
          Name: 'overlay',
          Data: {
            LowerDir: facts.overlay.lowerDirs.join(':'),
            UpperDir: facts.overlay.upperDir,
            WorkDir: facts.overlay.workDir,
            MergedDir: facts.overlay.mergedDir,
          },
        }
      : { Name: config.image === '' ? 'host' : 'overlay', Data: null },
    Mounts: [],
    Config: {
      Hostname: config.hostname,
      Domainname: '',
      User: config.user,
      AttachStdin: config.openStdin,
      AttachStdout: true,
      AttachStderr: true,
      ExposedPorts: Object.keys(exposed).length > 0 ? exposed : undefined,
      Tty: config.tty,
      OpenStdin: config.openStdin,
      StdinOnce: config.openStdin,
      Env: config.env,
      Cmd: config.cmd,
      Image: config.image,
      Volumes: null,
      WorkingDir: config.workingDir,
      Entrypoint: config.entrypoint.length > 0 ? config.entrypoint : null,
      Labels: config.labels,
    },
    NetworkSettings: {
      // What is bound right now; docker shows {} for a container that is not running.
      Ports: running ? portMap(state.boundPorts) : {},
      SandboxKey: state.pid > 0 && running ? `/proc/${state.pid}/ns/net` : '',
    },
  };
}
