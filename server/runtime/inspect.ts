/**
 * `inspect`: a container in the shape of docker's ContainerJSON (moby api/types/container), as far
 * as it applies to capstan. Pure: the record and the live facts in, a plain object out.
 */
import type { ContainerLimits, ContainerRecord, DeviceRate, PortBinding } from './types';
import { inspectMounts } from './volumes/resolve';
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

/** docker's [{Path, Rate}] for a stored throttle list; null when there is none, as docker shows it. */
function deviceRates(rates: readonly DeviceRate[] | undefined): Array<{ Path: string; Rate: number }> | null {
  return rates && rates.length > 0 ? rates.map((entry) => ({ Path: entry.path, Rate: entry.rate })) : null;
}

/**
 * HostConfig's resource fields (moby container.Resources) in docker's order and shapes: every key
 * present, 0 and "" when not set, PidsLimit null until set, BlkioWeightDevice [] (docker's CLI
 * always sends it), throttles null until set. --cpus is NanoCpus with CpuQuota/CpuPeriod 0, while
 * --cpu-quota/--cpu-period are stored as given, as docker records both at run and at update.
 */
export function resourcesOf(limits: ContainerLimits): Record<string, unknown> {
  return {
    CpuShares: limits.cpuShares ?? 0,
    Memory: limits.memoryBytes,
    NanoCpus: limits.nanoCpus,
    BlkioWeight: limits.blkioWeight ?? 0,
    BlkioWeightDevice: [],
    BlkioDeviceReadBps: deviceRates(limits.deviceReadBps),
    BlkioDeviceWriteBps: deviceRates(limits.deviceWriteBps),
    BlkioDeviceReadIOps: deviceRates(limits.deviceReadIops),
    BlkioDeviceWriteIOps: deviceRates(limits.deviceWriteIops),
    CpuPeriod: limits.cpuPeriod ?? 0,
    CpuQuota: limits.cpuQuota ?? 0,
    CpusetCpus: limits.cpusetCpus ?? '',
    // Neither `run` nor `update` sets memory nodes here.
    CpusetMems: '',
    MemoryReservation: limits.memoryReservationBytes ?? 0,
    MemorySwap: limits.memorySwapBytes,
    PidsLimit: limits.pidsLimit,
  };
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
      NetworkMode: 'none',
      PortBindings: portMap(hostConfig.portBindings),
      RestartPolicy: { Name: hostConfig.restartPolicy.name, MaximumRetryCount: hostConfig.restartPolicy.maximumRetryCount },
      AutoRemove: hostConfig.autoRemove,
      // As given (Docker shows null for none; a profile file's content is in its seccomp= entry).
      CapAdd: nullWhenEmpty(hostConfig.capAdd),
      CapDrop: nullWhenEmpty(hostConfig.capDrop),
      SecurityOpt: nullWhenEmpty(hostConfig.securityOpt),
      Privileged: false,
      ReadonlyRootfs: config.image === '',
      ...resourcesOf(limits),
      CgroupParent: facts.cgroupPath.slice(0, facts.cgroupPath.lastIndexOf('/')) || '/',
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
    Mounts: inspectMounts(hostConfig.mounts ?? []),
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
