/** Host facts for /api/v1/machine and the machine_* metrics, from systeminformation at start-up. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import si from 'systeminformation';
import type { MachineInfo } from '../model';

export async function readMachineInfo(): Promise<MachineInfo> {
  const [cpu, memory, osInfo, uuid] = await Promise.all([si.cpu(), si.mem(), si.osInfo(), si.uuid().catch(() => undefined)]);
  const info: MachineInfo = {
    // os.cpus() counts the logical CPUs the kernel has online, as /proc/stat does.
    cpuCores: os.cpus().length || cpu.cores,
    cpuPhysicalCores: cpu.physicalCores,
    cpuModel: [cpu.manufacturer, cpu.brand].filter(Boolean).join(' ').trim() || 'unknown',
    memoryBytes: memory.total,
    swapBytes: memory.swaptotal,
    os: [osInfo.distro, osInfo.release].filter(Boolean).join(' ').trim() || osInfo.platform,
    kernel: osInfo.kernel,
    hostname: osInfo.hostname || os.hostname(),
  };
  if (uuid?.os) info.machineId = uuid.os;
  try {
    info.bootId = fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    // Not every kernel exposes it; the label is then empty.
  }
  return info;
}

export interface FilesystemUsage {
  device: string;
  mountpoint: string;
  /** Units: bytes. */
  usedBytes: number;
  /** Units: bytes. */
  sizeBytes: number;
}

/** Host filesystems, for the root cgroup's container_fs_* series (refreshed off the tick). */
export async function readFilesystems(): Promise<FilesystemUsage[]> {
  const sizes = await si.fsSize();
  return sizes
    .filter((fsEntry) => fsEntry.fs.startsWith('/dev/'))
    .map((fsEntry) => ({ device: fsEntry.fs, mountpoint: fsEntry.mount, usedBytes: fsEntry.used, sizeBytes: fsEntry.size }));
}
