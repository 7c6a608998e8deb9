/**
 * Which control files hold which limit, and access to them through one small interface
 * (ControlFileIo) so the write plan, read-back and rollback can be driven against a fake in unit
 * tests, e.g. one whose second write fails.
 */
import * as fs from 'node:fs';
import type { CgroupManager } from '../cgroup/manage';
import type { CgroupPath, V1Controller } from '../model';

export type CgroupVersion = 1 | 2;
export type ControllerName = V1Controller | 'unified';

/** Reads and writes control files of one hierarchy. Errors carry `code` ('ENOENT', 'EBUSY', ...). */
export interface ControlFileIo {
  /** The file's text, trimmed. Throws (code ENOENT) when the file or the cgroup does not exist. */
  read(controller: ControllerName, cgroupPath: CgroupPath, file: string): string;
  /** One write(2) of `value`. Throws NativeError-shaped errors (code, errno, syscall, path). */
  write(controller: ControllerName, cgroupPath: CgroupPath, file: string, value: string): void;
  /** Whether the cgroup's directory exists in `controller`'s hierarchy (tells "gone" from "no such file"). */
  exists(controller: ControllerName, cgroupPath: CgroupPath): boolean;
  /** The absolute path of a control file, for messages. */
  describe(controller: ControllerName, cgroupPath: CgroupPath, file: string): string;
}

/** The real hierarchy, through CgroupManager (writes go through the native writer). */
export function cgroupManagerIo(manager: CgroupManager): ControlFileIo {
  return {
    read: (controller, cgroupPath, file) => manager.readControl(controller, cgroupPath, file),
    write: (controller, cgroupPath, file, value) => manager.writeControl(controller, cgroupPath, file, value),
    exists: (controller, cgroupPath) => {
      try {
        const file = manager.controlFile(controller, cgroupPath, 'cgroup.procs');
        return fs.existsSync(file.slice(0, file.lastIndexOf('/')));
      } catch {
        return false;
      }
    },
    describe: (controller, cgroupPath, file) => {
      try {
        return manager.controlFile(controller, cgroupPath, file);
      } catch {
        return `${cgroupPath}/${file}`;
      }
    },
  };
}

/** The v1 controller owning a control file ("memory.limit_in_bytes" → memory); 'unified' on v2. */
export function controllerOf(version: CgroupVersion, file: string): ControllerName {
  if (version === 2) return 'unified';
  const prefix = file.slice(0, file.indexOf('.'));
  switch (prefix) {
    case 'cpu':
    case 'cpuset':
    case 'memory':
    case 'pids':
    case 'blkio':
      return prefix;
    default:
      throw new TypeError(`no v1 controller owns ${file}`);
  }
}

export const V1_THROTTLE_FILES = {
  deviceReadBps: 'blkio.throttle.read_bps_device',
  deviceWriteBps: 'blkio.throttle.write_bps_device',
  deviceReadIops: 'blkio.throttle.read_iops_device',
  deviceWriteIops: 'blkio.throttle.write_iops_device',
} as const;

/** io.max keys of the throttle settings. */
export const V2_THROTTLE_KEYS = {
  deviceReadBps: 'rbps',
  deviceWriteBps: 'wbps',
  deviceReadIops: 'riops',
  deviceWriteIops: 'wiops',
} as const;

/** Every file a limit update reads before planning (absent ones simply stay out of the snapshot). */
export const STATE_FILES: Readonly<Record<CgroupVersion, readonly string[]>> = {
  1: [
    'cpuset.cpus',
    'memory.limit_in_bytes',
    'memory.memsw.limit_in_bytes',
    'memory.soft_limit_in_bytes',
    'memory.usage_in_bytes',
    'memory.max_usage_in_bytes',
    'cpu.shares',
    'cpu.cfs_period_us',
    'cpu.cfs_quota_us',
    'pids.max',
    'blkio.bfq.weight',
    'blkio.weight',
    ...Object.values(V1_THROTTLE_FILES),
  ],
  2: [
    'pids.max',
    'memory.max',
    'memory.swap.max',
    'memory.low',
    'memory.current',
    'memory.peak',
    'io.bfq.weight',
    'io.weight',
    'io.max',
    'cpu.weight',
    'cpu.max',
    'cpuset.cpus',
  ],
};

/** The files of one cgroup at one instant: name → trimmed text; a missing name = absent file. */
export type FileSnapshot = ReadonlyMap<string, string>;

/**
 * Reads STATE_FILES of `cgroupPath`. ENOENT on a file means "not offered" (controller not enabled,
 * no swap accounting, no BFQ); other errors propagate. Returns undefined when the cgroup itself
 * does not exist in any hierarchy the files live in.
 */
export function readFileSnapshot(io: ControlFileIo, version: CgroupVersion, cgroupPath: CgroupPath): Map<string, string> | undefined {
  const files = new Map<string, string>();
  const seenControllers = new Set<ControllerName>();
  let anyCgroup = false;
  for (const file of STATE_FILES[version]) {
    const controller = controllerOf(version, file);
    try {
      files.set(file, io.read(controller, cgroupPath, file));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOCONTROLLER' && code !== 'ENODEV') throw error;
    }
    if (!seenControllers.has(controller)) {
      seenControllers.add(controller);
      if (io.exists(controller, cgroupPath)) anyCgroup = true;
    }
  }
  return anyCgroup ? files : undefined;
}
