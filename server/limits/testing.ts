/**
 * An in-memory ControlFileIo that behaves like the kernel where it matters for limits (page
 * rounding, cpu.shares clamping, keyed throttle files, "default N" weights), with hooks to fail a
 * chosen write. For unit tests and the benchmark's baseline; the agent never uses it.
 */
import { LimitError } from './errors';
import type { CgroupPath } from '../model';
import { V1_UNLIMITED_THRESHOLD } from '../cgroup/parse';
import { controllerOf, type CgroupVersion, type ControlFileIo, type ControllerName } from './files';
import { MAX_CPU_SHARES, MIN_CPU_SHARES } from './convert';

/** What v1 prints for "unlimited" with 4 KiB pages. */
export const V1_UNLIMITED_TEXT = '9223372036854771712';
const PAGE_BYTES = 4096;

export interface RecordedWrite {
  controller: ControllerName;
  cgroupPath: CgroupPath;
  file: string;
  value: string;
}

/** Returns an error to make the write fail, or undefined to let it through. */
export type WriteFault = (write: RecordedWrite, index: number) => Error | undefined;

export function errnoError(code: string, file = ''): NodeJS.ErrnoException {
  const error = new Error(`${code}: simulated failure, write '${file}'`) as NodeJS.ErrnoException;
  error.code = code;
  error.syscall = 'write';
  error.path = file;
  return error;
}

const V1_BYTE_FILES = new Set(['memory.limit_in_bytes', 'memory.memsw.limit_in_bytes', 'memory.soft_limit_in_bytes']);
const V2_BYTE_FILES = new Set(['memory.max', 'memory.low', 'memory.swap.max', 'memory.high', 'memory.min']);

/** Default v1 files of a fresh cgroup (as on the development machines). */
export function freshV1Files(): Record<string, string> {
  return {
    'cpuset.cpus': '0-1',
    'cpuset.effective_cpus': '0-1',
    'memory.limit_in_bytes': V1_UNLIMITED_TEXT,
    'memory.memsw.limit_in_bytes': V1_UNLIMITED_TEXT,
    'memory.soft_limit_in_bytes': V1_UNLIMITED_TEXT,
    'memory.usage_in_bytes': '1048576',
    'memory.max_usage_in_bytes': '2097152',
    'cpu.shares': '1024',
    'cpu.cfs_period_us': '100000',
    'cpu.cfs_quota_us': '-1',
    'pids.max': 'max',
    'blkio.bfq.weight': '100',
    'blkio.throttle.read_bps_device': '',
    'blkio.throttle.write_bps_device': '',
    'blkio.throttle.read_iops_device': '',
    'blkio.throttle.write_iops_device': '',
  };
}

/** Default v2 files of a fresh cgroup with cpu, memory, io and pids enabled (no BFQ). */
export function freshV2Files(): Record<string, string> {
  return {
    'pids.max': 'max',
    'memory.max': 'max',
    'memory.swap.max': 'max',
    'memory.low': '0',
    'memory.current': '1048576',
    'memory.peak': '2097152',
    'io.weight': 'default 100',
    'io.max': '',
    'cpu.weight': '100',
    'cpu.max': 'max 100000',
    'cpuset.cpus': '',
    'cpuset.cpus.effective': '0-1',
  };
}

export class MemoryControlFiles implements ControlFileIo {
  /** Every write attempted, failed ones included, in order. */
  readonly writes: RecordedWrite[] = [];
  /** Set to make chosen writes fail. */
  fault: WriteFault | undefined;
  private readonly files = new Map<string, string>();
  private readonly cgroups = new Set<string>();

  constructor(readonly version: CgroupVersion) {}

  private key(controller: ControllerName, cgroupPath: CgroupPath, file = ''): string {
    return `${controller}:${cgroupPath}${file === '' ? '' : '/' + file}`;
  }

  /** Creates a cgroup holding `files` (each in its v1 controller's hierarchy, or the unified one). */
  addCgroup(cgroupPath: CgroupPath, files: Record<string, string>): void {
    for (const [file, text] of Object.entries(files)) {
      const controller = controllerOf(this.version, file);
      this.cgroups.add(this.key(controller, cgroupPath));
      this.files.set(this.key(controller, cgroupPath, file), text);
    }
  }

  /** Removes a cgroup from every hierarchy (a container that exits mid-update). */
  removeCgroup(cgroupPath: CgroupPath): void {
    for (const key of [...this.cgroups]) if (key.endsWith(`:${cgroupPath}`)) this.cgroups.delete(key);
    for (const key of [...this.files.keys()]) if (key.includes(`:${cgroupPath}/`)) this.files.delete(key);
  }

  /** Sets a file directly (usage counters, or another writer's change). */
  set(cgroupPath: CgroupPath, file: string, text: string): void {
    this.files.set(this.key(controllerOf(this.version, file), cgroupPath, file), text);
  }

  get(cgroupPath: CgroupPath, file: string): string | undefined {
    return this.files.get(this.key(controllerOf(this.version, file), cgroupPath, file));
  }

  read(controller: ControllerName, cgroupPath: CgroupPath, file: string): string {
    const text = this.files.get(this.key(controller, cgroupPath, file));
    if (text === undefined) throw errnoError('ENOENT', this.describe(controller, cgroupPath, file));
    return text.trim();
  }

  write(controller: ControllerName, cgroupPath: CgroupPath, file: string, value: string): void {
    const write = { controller, cgroupPath, file, value };
    this.writes.push(write);
    const key = this.key(controller, cgroupPath, file);
    const old = this.files.get(key);
    if (old === undefined) throw errnoError('ENOENT', this.describe(controller, cgroupPath, file));
    const fault = this.fault?.(write, this.writes.length - 1);
    if (fault) throw fault;
    this.files.set(key, this.kernelEffect(file, value, old));
  }

  exists(controller: ControllerName, cgroupPath: CgroupPath): boolean {
    return this.cgroups.has(this.key(controller, cgroupPath));
  }

  describe(controller: ControllerName, cgroupPath: CgroupPath, file: string): string {
    return controller === 'unified' ? `/sys/fs/cgroup${cgroupPath}/${file}` : `/sys/fs/cgroup/${controller}${cgroupPath}/${file}`;
  }

  /** What the file holds after `value` is written over `old`. */
  private kernelEffect(file: string, value: string, old: string): string {
    if (this.version === 1 && V1_BYTE_FILES.has(file)) {
      const bytes = Number(value);
      if (bytes < 0 || bytes >= V1_UNLIMITED_THRESHOLD) return V1_UNLIMITED_TEXT;
      return String(Math.floor(bytes / PAGE_BYTES) * PAGE_BYTES);
    }
    if (this.version === 2 && V2_BYTE_FILES.has(file)) {
      return value === 'max' ? 'max' : String(Math.floor(Number(value) / PAGE_BYTES) * PAGE_BYTES);
    }
    if (file === 'cpu.shares') return String(Math.min(MAX_CPU_SHARES, Math.max(MIN_CPU_SHARES, Number(value))));
    if (file === 'io.weight' || file === 'io.bfq.weight') return `default ${value.replace(/^default\s+/, '')}`;
    if (file.startsWith('blkio.throttle.')) {
      const [device, rate] = value.split(/\s+/);
      const lines = old.split('\n').filter((line) => line !== '' && !line.startsWith(`${device} `));
      if (rate !== '0') lines.push(`${device} ${rate}`);
      return lines.join('\n');
    }
    if (file === 'io.max') {
      const [device, ...pairs] = value.split(/\s+/);
      const lines = old.split('\n').filter((line) => line !== '');
      const existing = lines.find((line) => line.startsWith(`${device} `));
      const values = new Map<string, string>([['rbps', 'max'], ['wbps', 'max'], ['riops', 'max'], ['wiops', 'max']]);
      for (const pair of existing?.split(/\s+/).slice(1) ?? []) {
        const [k, v] = pair.split('=');
        values.set(k!, v!);
      }
      for (const pair of pairs) {
        const [k, v] = pair.split('=');
        values.set(k!, v!);
      }
      const others = lines.filter((line) => line !== existing);
      if ([...values.values()].some((v) => v !== 'max')) {
        others.push(`${device} ${[...values].map(([k, v]) => `${k}=${v}`).join(' ')}`);
      }
      return others.join('\n');
    }
    return value;
  }
}

/** "STATUS code flag: message" of the LimitError `fn` throws, or "accepted": one line a test can compare. */
export function limitRefusal(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    if (error instanceof LimitError) return `${error.status} ${error.code} ${error.details.flag ?? ''}: ${error.message}`;
    throw error;
  }
  return 'accepted';
}
