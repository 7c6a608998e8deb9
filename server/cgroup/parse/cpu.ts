/**
 * CPU files of both hierarchies. Everything comes out in the units of the model (CpuSample):
 * nanoseconds for times, microseconds for the CFS quota and period, counts for periods.
 */
import { CgroupParseError, quote } from './errors';
import { pickFlatKeyed } from './flatKeyed';
import { parseSignedValue, parseUnsignedFile, parseUnsignedValue, singleValue } from './scalar';

/**
 * cpuacct.stat counts in USER_HZ ticks. USER_HZ is part of the user-space ABI and is 100 on every
 * architecture Node runs on (it is not CONFIG_HZ), so one tick is 10 ms.
 */
const NANOSECONDS_PER_USER_HZ_TICK = 1e9 / 100;
const NANOSECONDS_PER_MICROSECOND = 1000;

// ---------------------------------------------------------------------------------------------
// cgroup v1
// ---------------------------------------------------------------------------------------------

/** cpuacct.usage: total CPU time. Units: nanoseconds. */
export function parseCpuacctUsage(text: string): number {
  return parseUnsignedFile('cpuacct.usage', text);
}

/** cpuacct.usage_percpu: space-separated per-CPU totals (with a trailing space). Units: nanoseconds. */
export function parseCpuacctUsagePercpu(text: string): number[] {
  const file = 'cpuacct.usage_percpu';
  const perCpu: number[] = [];
  for (const field of singleValue(file, text).split(' ')) {
    if (field.length > 0) perCpu.push(parseUnsignedValue(file, field));
  }
  return perCpu;
}

const CPUACCT_STAT_KEYS = ['user', 'system'];

export interface CpuacctStat {
  /** Units: nanoseconds. */
  userNanoseconds?: number;
  /** Units: nanoseconds. */
  systemNanoseconds?: number;
}

/** cpuacct.stat: "user N" and "system N" in USER_HZ ticks, converted to nanoseconds. */
export function parseCpuacctStat(text: string): CpuacctStat {
  const [user, system] = pickFlatKeyed('cpuacct.stat', text, CPUACCT_STAT_KEYS);
  const out: CpuacctStat = {};
  if (user !== undefined) out.userNanoseconds = user * NANOSECONDS_PER_USER_HZ_TICK;
  if (system !== undefined) out.systemNanoseconds = system * NANOSECONDS_PER_USER_HZ_TICK;
  return out;
}

export interface CfsThrottling {
  /** Units: periods (count). */
  periods?: number;
  /** Units: periods (count). */
  throttledPeriods?: number;
  /** Units: nanoseconds. */
  throttledNanoseconds?: number;
}

const V1_CPU_STAT_KEYS = ['nr_periods', 'nr_throttled', 'throttled_time'];

/** v1 cpu.stat: nr_periods, nr_throttled, throttled_time (ns). Newer keys (nr_bursts, burst_time) are ignored. */
export function parseV1CpuStat(text: string): CfsThrottling {
  const [periods, throttled, throttledTime] = pickFlatKeyed('cpu.stat', text, V1_CPU_STAT_KEYS);
  const out: CfsThrottling = {};
  if (periods !== undefined) out.periods = periods;
  if (throttled !== undefined) out.throttledPeriods = throttled;
  if (throttledTime !== undefined) out.throttledNanoseconds = throttledTime;
  return out;
}

/** cpu.cfs_quota_us: the quota per period, -1 for none (→ null). Units: microseconds. */
export function parseCfsQuota(text: string): number | null {
  const file = 'cpu.cfs_quota_us';
  const quota = parseSignedValue(file, singleValue(file, text));
  if (quota === -1) return null;
  if (quota < 0) throw new CgroupParseError(file, `expected -1 or a positive quota, got ${quote(String(quota))}`);
  return quota;
}

/** cpu.cfs_period_us. Units: microseconds. */
export function parseCfsPeriod(text: string): number {
  return parseUnsignedFile('cpu.cfs_period_us', text);
}

/** cpu.shares. Units: shares. */
export function parseCpuShares(text: string): number {
  return parseUnsignedFile('cpu.shares', text);
}

// ---------------------------------------------------------------------------------------------
// cgroup v2
// ---------------------------------------------------------------------------------------------

export interface V2CpuStat extends CfsThrottling {
  /** Units: nanoseconds. */
  usageNanoseconds?: number;
  /** Units: nanoseconds. */
  userNanoseconds?: number;
  /** Units: nanoseconds. */
  systemNanoseconds?: number;
}

const V2_CPU_STAT_KEYS = ['usage_usec', 'user_usec', 'system_usec', 'nr_periods', 'nr_throttled', 'throttled_usec'];

/**
 * v2 cpu.stat. usage/user/system are always there (even at the root and without the cpu
 * controller); the nr_* and throttled_usec keys only where the cpu controller is enabled.
 * Microseconds are converted to nanoseconds.
 */
export function parseV2CpuStat(text: string): V2CpuStat {
  const [usage, user, system, periods, throttled, throttledTime] = pickFlatKeyed('cpu.stat', text, V2_CPU_STAT_KEYS);
  const out: V2CpuStat = {};
  if (usage !== undefined) out.usageNanoseconds = usage * NANOSECONDS_PER_MICROSECOND;
  if (user !== undefined) out.userNanoseconds = user * NANOSECONDS_PER_MICROSECOND;
  if (system !== undefined) out.systemNanoseconds = system * NANOSECONDS_PER_MICROSECOND;
  if (periods !== undefined) out.periods = periods;
  if (throttled !== undefined) out.throttledPeriods = throttled;
  if (throttledTime !== undefined) out.throttledNanoseconds = throttledTime * NANOSECONDS_PER_MICROSECOND;
  return out;
}

export interface CpuMax {
  /** null when the quota is "max" (unlimited). Units: microseconds. */
  quotaMicroseconds: number | null;
  /** Units: microseconds. */
  periodMicroseconds: number;
}

/** cpu.max: "$QUOTA $PERIOD", where the quota may be "max". */
export function parseCpuMax(text: string): CpuMax {
  const file = 'cpu.max';
  const value = singleValue(file, text);
  const space = value.indexOf(' ');
  if (space === -1) throw new CgroupParseError(file, `expected "$QUOTA $PERIOD", got ${quote(value)}`);
  const quota = value.slice(0, space);
  return {
    quotaMicroseconds: quota === 'max' ? null : parseUnsignedValue(file, quota, 'a quota ("max" or an unsigned integer)'),
    periodMicroseconds: parseUnsignedValue(file, value.slice(space + 1), 'a period (an unsigned integer)'),
  };
}

/** cpu.weight: 1–10000. Units: weight. */
export function parseCpuWeight(text: string): number {
  const file = 'cpu.weight';
  const weight = parseUnsignedFile(file, text);
  if (weight < 1 || weight > 10000) throw new CgroupParseError(file, `expected a weight from 1 to 10000, got ${weight}`);
  return weight;
}

/**
 * Maps a v2 cpu.weight back to v1 cpu.shares the way cAdvisor reports it
 * (2 + (weight − 1) × 262142 / 9999, integer division), so dashboards built on
 * container_spec_cpu_shares read the same on both hierarchies. weight 100 → 2597.
 */
export function cpuWeightToShares(weight: number): number {
  return 2 + Math.floor(((weight - 1) * 262142) / 9999);
}
