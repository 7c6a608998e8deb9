/**
 * The write plan: which control files an update writes, with which text, in which order, what each
 * must read back as, and the text that restores it. Pure: the validated request and a snapshot of
 * the cgroup's files in, a plan out. The order is runc's (opencontainers/cgroups fs/fs.go and
 * fs2/fs2.go `Set`), because the kernel checks each write against the values in force:
 *   v1: cpuset, memory (memsw before the limit when raising or unlimiting swap), cpu (shares,
 *       period, quota), pids, blkio (weight, throttles);
 *   v2: pids, memory (swap.max before max, then low), io (weight, io.max), cpu (weight, max),
 *       cpuset.
 */
import { cpuSharesToWeight, blkioWeightToIoWeight } from './convert';
import { parseIoMax, parseV1Throttle } from './current';
import type { ResolvedThrottle } from './devices';
import { LimitError } from './errors';
import { controllerOf, V1_THROTTLE_FILES, V2_THROTTLE_KEYS, type CgroupVersion, type ControllerName, type FileSnapshot } from './files';
import { FLAG_OF, THROTTLE_SETTINGS, type LimitRequest, type SettingName, type ThrottleSetting } from './request';
import { V1_UNLIMITED_THRESHOLD } from '../cgroup/parse';

/** A LimitRequest whose throttle devices have been resolved to MAJ:MIN. */
export type ResolvedLimitRequest = Omit<LimitRequest, ThrottleSetting> & Partial<Record<ThrottleSetting, ResolvedThrottle[]>>;

/** How a written value must read back; anything else is reported as clamped. */
export type ReadBackCheck =
  /** The file reads back exactly as written (cpu.shares, pids.max, cpu.cfs_*). */
  | { kind: 'text' }
  /** A byte limit: compared as numbers ("-1"/"max" = unlimited); the kernel rounds to pages. */
  | { kind: 'bytes'; version: CgroupVersion }
  /** A CPU list, compared as sets ("0,1" reads back as "0-1"). */
  | { kind: 'cpuList' }
  /** A default weight ("default N" or "N"). */
  | { kind: 'weight' }
  /** cpu.max "QUOTA PERIOD". */
  | { kind: 'cpuMax' }
  /** One device's line of a v1 blkio.throttle.* file; rate 0 = no line. */
  | { kind: 'v1Throttle'; major: number; minor: number; rate: number }
  /** One device's keys in io.max; null = "max". */
  | { kind: 'ioMax'; major: number; minor: number; keys: Record<string, number | null> };

export interface WriteStep {
  /** The request settings this write carries (io.max carries every throttle of one device). */
  settings: SettingName[];
  controller: ControllerName;
  file: string;
  value: string;
  /** Text that puts the file back as it was before the update (written on rollback). */
  restore: string;
  check: ReadBackCheck;
  /**
   * runc's v1 cpu rule: the kernel refuses a shorter period with EINVAL while the old quota ÷ new
   * period exceeds the parent's cap; when the quota is part of the same update, retry the period
   * right after the quota is written.
   */
  retryAfterQuotaOnEinval?: boolean;
}

export interface WritePlan {
  steps: WriteStep[];
  /** Settings dropped because this kernel or cgroup lacks them (Docker's warnings). */
  warnings: string[];
}

/** Docker's warning texts for settings a host cannot apply. */
export const WARNING_NO_SWAP = 'Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap.';
export const WARNING_NO_BLKIO_WEIGHT = 'Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.';

/** Docker's default CFS period for --cpus. Units: microseconds. */
export const DEFAULT_CPU_PERIOD_US = 100_000;

class PlanBuilder {
  readonly steps: WriteStep[] = [];
  readonly warnings: string[] = [];

  constructor(
    readonly version: CgroupVersion,
    readonly files: FileSnapshot,
    readonly cgroupPath: string,
  ) {}

  /** The file's current text; a file the update needs but the cgroup lacks is a 409. */
  need(setting: SettingName, file: string): string {
    const text = this.files.get(file);
    if (text === undefined) {
      const controller = this.version === 1 ? controllerOf(1, file) : file.slice(0, file.indexOf('.'));
      throw new LimitError(
        409,
        'controller_unavailable',
        `cannot apply ${FLAG_OF[setting]}: ${this.cgroupPath} has no ${file} (the ${controller} controller is not ${this.version === 1 ? 'mounted or this cgroup is not in its hierarchy' : 'enabled for this cgroup'})`,
        { flag: FLAG_OF[setting], file },
      );
    }
    return text;
  }

  add(settings: SettingName[], file: string, value: string, restore: string, check: ReadBackCheck, retry = false): void {
    const step: WriteStep = { settings, controller: controllerOf(this.version, file), file, value, restore, check };
    if (retry) step.retryAfterQuotaOnEinval = true;
    this.steps.push(step);
  }

  /** A single-value byte limit file; v1 restores "unlimited" as -1, which every v1 limit file takes. */
  addBytes(setting: SettingName, file: string, bytes: number): void {
    const old = this.need(setting, file);
    const unlimitedV1 = this.version === 1 && /^\d+$/.test(old) && Number(old) >= V1_UNLIMITED_THRESHOLD;
    const value = bytes === -1 ? (this.version === 1 ? '-1' : 'max') : String(bytes);
    this.add([setting], file, value, unlimitedV1 ? '-1' : old, { kind: 'bytes', version: this.version });
  }
}

/** Bytes of a v1 limit file's text; Infinity for unlimited. */
function v1Bytes(text: string | undefined): number {
  if (text === undefined || !/^\d+$/.test(text)) return Infinity;
  const value = Number(text);
  return value >= V1_UNLIMITED_THRESHOLD ? Infinity : value;
}

/** The last entry per device wins, as when runc writes them in order. */
function lastPerDevice(throttles: readonly ResolvedThrottle[]): ResolvedThrottle[] {
  const byDevice = new Map<string, ResolvedThrottle>();
  for (const throttle of throttles) {
    const key = `${throttle.major}:${throttle.minor}`;
    byDevice.delete(key);
    byDevice.set(key, throttle);
  }
  return [...byDevice.values()];
}

// --- v1 ---------------------------------------------------------------------------------------

function planV1Memory(b: PlanBuilder, r: ResolvedLimitRequest): void {
  let swap = r.memorySwap;
  if (swap !== undefined && !b.files.has('memory.memsw.limit_in_bytes')) {
    b.warnings.push(WARNING_NO_SWAP);
    swap = undefined;
  }
  const writeLimit = (): void => {
    if (r.memory !== undefined) b.addBytes('memory', 'memory.limit_in_bytes', r.memory);
  };
  const writeSwap = (): void => {
    if (swap !== undefined) b.addBytes('memorySwap', 'memory.memsw.limit_in_bytes', swap);
  };
  if (r.memory !== undefined && swap !== undefined) {
    // runc: memsw first when it is unlimited or above the current limit, so that at every step
    // limit ≤ memsw holds (the kernel refuses either write otherwise).
    const currentLimit = v1Bytes(b.need('memory', 'memory.limit_in_bytes'));
    if (swap === -1 || currentLimit < swap) {
      writeSwap();
      writeLimit();
    } else {
      writeLimit();
      writeSwap();
    }
  } else {
    writeLimit();
    writeSwap();
  }
  if (r.memoryReservation !== undefined) b.addBytes('memoryReservation', 'memory.soft_limit_in_bytes', r.memoryReservation);
}

function planV1Cpu(b: PlanBuilder, r: ResolvedLimitRequest): void {
  if (r.cpuShares !== undefined) {
    b.add(['cpuShares'], 'cpu.shares', String(r.cpuShares), b.need('cpuShares', 'cpu.shares'), { kind: 'text' });
  }
  let period: number | undefined;
  let quota: number | undefined;
  let setting: SettingName = 'cpuQuota';
  if (r.nanoCpus !== undefined) {
    // What docker hands runc for --cpus: the default period and quota = CPUs × period.
    period = DEFAULT_CPU_PERIOD_US;
    quota = Math.floor((r.nanoCpus * DEFAULT_CPU_PERIOD_US) / 1e9);
    setting = 'nanoCpus';
  } else {
    period = r.cpuPeriod;
    quota = r.cpuQuota;
  }
  if (period !== undefined) {
    const periodSetting = r.nanoCpus !== undefined ? 'nanoCpus' : 'cpuPeriod';
    const old = b.need(periodSetting, 'cpu.cfs_period_us');
    b.add([periodSetting], 'cpu.cfs_period_us', String(period), old, { kind: 'text' }, quota !== undefined);
  }
  if (quota !== undefined) {
    b.add([setting], 'cpu.cfs_quota_us', String(quota), b.need(setting, 'cpu.cfs_quota_us'), { kind: 'text' });
  }
}

function planV1Blkio(b: PlanBuilder, r: ResolvedLimitRequest): void {
  if (r.blkioWeight !== undefined) {
    const file = b.files.has('blkio.bfq.weight') ? 'blkio.bfq.weight' : b.files.has('blkio.weight') ? 'blkio.weight' : undefined;
    if (file === undefined) b.warnings.push(WARNING_NO_BLKIO_WEIGHT);
    else b.add(['blkioWeight'], file, String(r.blkioWeight), b.files.get(file)!, { kind: 'weight' });
  }
  for (const setting of THROTTLE_SETTINGS) {
    const throttles = r[setting];
    if (!throttles) continue;
    const file = V1_THROTTLE_FILES[setting];
    const before = parseV1Throttle(b.need(setting, file));
    for (const t of lastPerDevice(throttles)) {
      const old = before.find((e) => e.major === t.major && e.minor === t.minor)?.rate ?? 0;
      b.add([setting], file, `${t.major}:${t.minor} ${t.rate}`, `${t.major}:${t.minor} ${old}`, {
        kind: 'v1Throttle',
        major: t.major,
        minor: t.minor,
        rate: t.rate,
      });
    }
  }
}

function planV1(b: PlanBuilder, r: ResolvedLimitRequest): void {
  if (r.cpusetCpus !== undefined) b.add(['cpusetCpus'], 'cpuset.cpus', r.cpusetCpus, b.need('cpusetCpus', 'cpuset.cpus'), { kind: 'cpuList' });
  planV1Memory(b, r);
  planV1Cpu(b, r);
  if (r.pidsLimit !== undefined) b.add(['pidsLimit'], 'pids.max', pidsValue(r.pidsLimit), b.need('pidsLimit', 'pids.max'), { kind: 'text' });
  planV1Blkio(b, r);
}

// --- v2 ---------------------------------------------------------------------------------------

function pidsValue(limit: number): string {
  return limit < 0 ? 'max' : String(limit);
}

function planV2Memory(b: PlanBuilder, r: ResolvedLimitRequest): void {
  if (r.memorySwap !== undefined) {
    if (!b.files.has('memory.swap.max')) {
      b.warnings.push(WARNING_NO_SWAP);
    } else {
      // v2 limits swap alone: memory.swap.max = (memory + swap) − memory. Validation made sure a
      // memory limit is in force or part of this update whenever the swap limit is finite.
      let value: string;
      if (r.memorySwap === -1) value = 'max';
      else {
        const memoryText = r.memory !== undefined ? String(r.memory) : b.need('memorySwap', 'memory.max');
        value = String(Math.max(0, r.memorySwap - Number(memoryText)));
      }
      b.add(['memorySwap'], 'memory.swap.max', value, b.files.get('memory.swap.max')!, { kind: 'bytes', version: 2 });
    }
  }
  if (r.memory !== undefined) b.addBytes('memory', 'memory.max', r.memory);
  if (r.memoryReservation !== undefined) b.addBytes('memoryReservation', 'memory.low', r.memoryReservation);
}

function planV2Io(b: PlanBuilder, r: ResolvedLimitRequest): void {
  if (r.blkioWeight !== undefined) {
    if (b.files.has('io.bfq.weight')) {
      b.add(['blkioWeight'], 'io.bfq.weight', String(r.blkioWeight), restoreWeight(b.files.get('io.bfq.weight')!), { kind: 'weight' });
    } else if (b.files.has('io.weight')) {
      b.add(['blkioWeight'], 'io.weight', String(blkioWeightToIoWeight(r.blkioWeight)), restoreWeight(b.files.get('io.weight')!), {
        kind: 'weight',
      });
    } else {
      b.warnings.push(WARNING_NO_BLKIO_WEIGHT);
    }
  }
  // One io.max write per device, carrying every throttle of that device.
  const perDevice = new Map<string, { major: number; minor: number; settings: SettingName[]; keys: Record<string, number | null> }>();
  for (const setting of THROTTLE_SETTINGS) {
    const throttles = r[setting];
    if (!throttles) continue;
    b.need(setting, 'io.max');
    for (const t of lastPerDevice(throttles)) {
      const key = `${t.major}:${t.minor}`;
      const entry = perDevice.get(key) ?? { major: t.major, minor: t.minor, settings: [], keys: {} };
      perDevice.set(key, entry);
      if (!entry.settings.includes(setting)) entry.settings.push(setting);
      // The kernel takes "max" for "no throttle"; 0 and 1 are refused in io.max.
      entry.keys[V2_THROTTLE_KEYS[setting]] = t.rate === 0 ? null : t.rate;
    }
  }
  if (perDevice.size === 0) return;
  const before = parseIoMax(b.files.get('io.max') ?? '');
  for (const { major, minor, settings, keys } of perDevice.values()) {
    const old = before.find((e) => e.major === major && e.minor === minor)?.values ?? new Map<string, number>();
    const render = (values: Record<string, number | null>): string =>
      `${major}:${minor} ` + Object.entries(values).map(([k, v]) => `${k}=${v === null ? 'max' : v}`).join(' ');
    const restore: Record<string, number | null> = {};
    for (const k of Object.keys(keys)) restore[k] = old.get(k) ?? null;
    b.add(settings, 'io.max', render(keys), render(restore), { kind: 'ioMax', major, minor, keys });
  }
}

/** io.weight/io.bfq.weight read "default N" (plus per-device lines); "default N" writes it back. */
function restoreWeight(text: string): string {
  return text.split('\n')[0]!.trim();
}

function planV2Cpu(b: PlanBuilder, r: ResolvedLimitRequest): void {
  if (r.cpuShares !== undefined) {
    b.add(['cpuShares'], 'cpu.weight', String(cpuSharesToWeight(r.cpuShares)), b.need('cpuShares', 'cpu.weight'), { kind: 'text' });
  }
  if (r.nanoCpus === undefined && r.cpuQuota === undefined && r.cpuPeriod === undefined) return;
  const setting: SettingName = r.nanoCpus !== undefined ? 'nanoCpus' : r.cpuQuota !== undefined ? 'cpuQuota' : 'cpuPeriod';
  const old = b.need(setting, 'cpu.max');
  const [oldQuota = 'max', oldPeriod = String(DEFAULT_CPU_PERIOD_US)] = old.split(/\s+/);
  let value: string;
  if (r.nanoCpus !== undefined) {
    value = `${Math.floor((r.nanoCpus * DEFAULT_CPU_PERIOD_US) / 1e9)} ${DEFAULT_CPU_PERIOD_US}`;
  } else {
    // The part not given keeps its value, as `runc update` does.
    const quota = r.cpuQuota === undefined ? oldQuota : r.cpuQuota < 0 ? 'max' : String(r.cpuQuota);
    const period = r.cpuPeriod === undefined ? oldPeriod : String(r.cpuPeriod);
    value = `${quota} ${period}`;
  }
  const settings: SettingName[] = (['nanoCpus', 'cpuQuota', 'cpuPeriod'] as const).filter((s) => r[s] !== undefined);
  b.add(settings, 'cpu.max', value, old, { kind: 'cpuMax' });
}

function planV2(b: PlanBuilder, r: ResolvedLimitRequest): void {
  if (r.pidsLimit !== undefined) b.add(['pidsLimit'], 'pids.max', pidsValue(r.pidsLimit), b.need('pidsLimit', 'pids.max'), { kind: 'text' });
  planV2Memory(b, r);
  planV2Io(b, r);
  planV2Cpu(b, r);
  if (r.cpusetCpus !== undefined) b.add(['cpusetCpus'], 'cpuset.cpus', r.cpusetCpus, b.need('cpusetCpus', 'cpuset.cpus'), { kind: 'cpuList' });
}

/**
 * The writes for a validated request, in runc's order. Throws LimitError 409 when a setting
 * needs a file the cgroup does not have (controller not enabled); swap and block-I/O weight are
 * dropped with Docker's warnings instead, as Docker drops them.
 */
export function planLimitWrites(version: CgroupVersion, request: ResolvedLimitRequest, files: FileSnapshot, cgroupPath: string): WritePlan {
  const builder = new PlanBuilder(version, files, cgroupPath);
  if (version === 1) planV1(builder, request);
  else planV2(builder, request);
  return { steps: builder.steps, warnings: builder.warnings };
}
