/**
 * `inspect`: a container in the shape of docker's ContainerJSON (moby api/types/container), as far
 * as it applies to capstan. Pure: the record and the live facts in, a plain object out.
 */
import type { ContainerLimits, ContainerRecord, DeviceRate, PortBinding } from './types';
import { DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS } from './shim-protocol';
import { inspectMounts } from './volumes/resolve';
import { ZERO_TIME } from './types';

/** The shim's /dev/shm tmpfs (size=65536k), docker's default ShmSize. Units: bytes. */
const SHM_SIZE_BYTES = 64 * 1024 * 1024;

export interface InspectFacts {
  /** The container's folder (LogPath, GraphDriver). */
  directory: string;
  logPath: string;
  /** The overlay directories while known (GraphDriver.Data). */
  overlay?: { lowerDirs: string[]; upperDir: string; workDir: string; mergedDir: string };
  cgroupPath: string;
  /**
   * Whether the memory controller can turn the OOM killer off (v1's memory.oom_control; v2 has no
   * such file). docker then shows OomKillDisable false, and null where it cannot (it drops the
   * setting on cgroup v2), so capstan shows it the same way.
   */
  oomKillDisableSupported: boolean;
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

/**
 * Docker 20.10's ContainerJSON for one of capstan's containers: every key docker prints (measured
 * against `docker inspect` of the same `run` on a real dockerd), in docker's order, with real
 * values where capstan has them and docker's zero values and shapes where it has no such thing
 * (no AppArmor, no DNS files, no json-file log driver: LogConfig names capstan's own log).
 * State.Health is left out, as docker leaves it out of a container without a healthcheck.
 */
export function inspectContainer(record: ContainerRecord, facts: InspectFacts): Record<string, unknown> {
  const { config, hostConfig, state } = record;
  const limits = hostConfig.limits;
  const resources = resourcesOf(limits);
  const running = state.status === 'running' || state.status === 'paused' || state.status === 'restarting';
  const onImage = config.image !== '';
  const exposed: Record<string, Record<string, never>> = {};
  for (const binding of hostConfig.portBindings) exposed[`${binding.containerPort}/${binding.protocol}`] = {};
  const sandboxKey = state.pid > 0 && running ? `/proc/${state.pid}/ns/net` : '';
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
    // capstan writes no resolv.conf, hostname or hosts file of its own: the container sees its root's.
    ResolvConfPath: '',
    HostnamePath: '',
    HostsPath: '',
    LogPath: facts.logPath,
    Name: `/${record.name}`,
    RestartCount: state.restartCount,
    Driver: onImage ? 'overlay' : 'host',
    Platform: 'linux',
    MountLabel: '',
    ProcessLabel: '',
    AppArmorProfile: '',
    // Exec sessions are not recorded in the container (docker's list empties as each ends, too).
    ExecIDs: null,
    HostConfig: {
      Binds: null,
      ContainerIDFile: '',
      LogConfig: { Type: 'capstan', Config: {} },
      NetworkMode: 'none',
      PortBindings: portMap(hostConfig.portBindings),
      RestartPolicy: { Name: hostConfig.restartPolicy.name, MaximumRetryCount: hostConfig.restartPolicy.maximumRetryCount },
      AutoRemove: hostConfig.autoRemove,
      VolumeDriver: '',
      VolumesFrom: null,
      // As given (Docker shows null for none; a profile file's content is in its seccomp= entry).
      CapAdd: nullWhenEmpty(hostConfig.capAdd),
      CapDrop: nullWhenEmpty(hostConfig.capDrop),
      // The shim makes no cgroup namespace.
      CgroupnsMode: 'host',
      Dns: [],
      DnsOptions: [],
      DnsSearch: [],
      ExtraHosts: null,
      GroupAdd: nullWhenEmpty(hostConfig.groupAdd),
      // The shim unshares IPC, UTS and mount namespaces and shares the host's user and cgroup namespaces.
      IpcMode: 'private',
      Cgroup: '',
      Links: null,
      OomScoreAdj: 0,
      PidMode: '',
      Privileged: false,
      PublishAllPorts: false,
      ReadonlyRootfs: !onImage,
      SecurityOpt: nullWhenEmpty(hostConfig.securityOpt),
      UTSMode: '',
      UsernsMode: '',
      // The shim's /dev/shm is a 64 MiB tmpfs, docker's default. Units: bytes.
      ShmSize: SHM_SIZE_BYTES,
      Runtime: 'capstan-shim',
      ConsoleSize: [0, 0],
      Isolation: '',
      CpuShares: resources['CpuShares'],
      Memory: resources['Memory'],
      NanoCpus: resources['NanoCpus'],
      CgroupParent: facts.cgroupPath.slice(0, facts.cgroupPath.lastIndexOf('/')) || '/',
      BlkioWeight: resources['BlkioWeight'],
      BlkioWeightDevice: resources['BlkioWeightDevice'],
      BlkioDeviceReadBps: resources['BlkioDeviceReadBps'],
      BlkioDeviceWriteBps: resources['BlkioDeviceWriteBps'],
      BlkioDeviceReadIOps: resources['BlkioDeviceReadIOps'],
      BlkioDeviceWriteIOps: resources['BlkioDeviceWriteIOps'],
      CpuPeriod: resources['CpuPeriod'],
      CpuQuota: resources['CpuQuota'],
      CpuRealtimePeriod: 0,
      CpuRealtimeRuntime: 0,
      CpusetCpus: resources['CpusetCpus'],
      CpusetMems: resources['CpusetMems'],
      Devices: [],
      DeviceCgroupRules: null,
      DeviceRequests: null,
      KernelMemory: 0,
      KernelMemoryTCP: 0,
      MemoryReservation: resources['MemoryReservation'],
      MemorySwap: resources['MemorySwap'],
      MemorySwappiness: null,
      OomKillDisable: facts.oomKillDisableSupported ? false : null,
      PidsLimit: resources['PidsLimit'],
      Ulimits: null,
      CpuCount: 0,
      CpuPercent: 0,
      IOMaximumIOps: 0,
      IOMaximumBandwidth: 0,
      MaskedPaths: [...DEFAULT_MASKED_PATHS],
      ReadonlyPaths: [...DEFAULT_READONLY_PATHS],
    },
    GraphDriver: facts.overlay
      ? {
          Data: {
            LowerDir: facts.overlay.lowerDirs.join(':'),
            MergedDir: facts.overlay.mergedDir,
            UpperDir: facts.overlay.upperDir,
            WorkDir: facts.overlay.workDir,
          },
          Name: 'overlay',
        }
      : { Data: null, Name: onImage ? 'overlay' : 'host' },
    Mounts: inspectMounts(hostConfig.mounts ?? []),
    Config: {
      Hostname: config.hostname,
      Domainname: '',
      User: config.user,
      AttachStdin: config.openStdin,
      AttachStdout: true,
      AttachStderr: true,
      ...(Object.keys(exposed).length > 0 ? { ExposedPorts: exposed } : {}),
      Tty: config.tty,
      OpenStdin: config.openStdin,
      StdinOnce: config.openStdin,
      Env: config.env,
      Cmd: config.cmd.length > 0 ? config.cmd : null,
      Image: config.image,
      Volumes: null,
      WorkingDir: config.workingDir,
      Entrypoint: config.entrypoint.length > 0 ? config.entrypoint : null,
      OnBuild: null,
      Labels: config.labels,
      // docker prints StopSignal only when the image or `run --stop-signal` sets one; capstan stops with SIGTERM.
    },
    NetworkSettings: {
      Bridge: '',
      SandboxID: '',
      HairpinMode: false,
      LinkLocalIPv6Address: '',
      LinkLocalIPv6PrefixLen: 0,
      // What is bound right now; docker shows {} for a container that is not running.
      Ports: running ? portMap(state.boundPorts) : {},
      SandboxKey: sandboxKey,
      SecondaryIPAddresses: null,
      SecondaryIPv6Addresses: null,
      EndpointID: '',
      Gateway: '',
      GlobalIPv6Address: '',
      GlobalIPv6PrefixLen: 0,
      IPAddress: '',
      IPPrefixLen: 0,
      IPv6Gateway: '',
      MacAddress: '',
      // The container's own network namespace has only lo: docker's "none" network.
      Networks: {
        none: {
          IPAMConfig: null,
          Links: null,
          Aliases: null,
          NetworkID: 'none',
          EndpointID: '',
          Gateway: '',
          IPAddress: '',
          IPPrefixLen: 0,
          IPv6Gateway: '',
          GlobalIPv6Address: '',
          GlobalIPv6PrefixLen: 0,
          MacAddress: '',
          DriverOpts: null,
        },
      },
    },
  };
}
