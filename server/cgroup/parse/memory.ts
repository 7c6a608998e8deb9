/**
 * Memory files of both hierarchies. Byte values stay in bytes; "unlimited" (v1 values ≥ 2^62,
 * v2 "max") becomes null.
 */
import { CgroupParseError, quote } from './errors';
import { pickFlatKeyed } from './flatKeyed';
import { parseMaxOrUnsignedFile, parseUnsignedFile, parseV1LimitFile } from './scalar';

/** The memory.stat counters capstan reports, common to both hierarchies. */
export interface MemoryStat {
  /** Anonymous memory (v1 total_rss, v2 anon). Units: bytes. */
  rssBytes?: number;
  /** Page cache (v1 total_cache, v2 file). Units: bytes. */
  cacheBytes?: number;
  /** v1 only (total_swap); v2 has memory.swap.current instead. Units: bytes. */
  swapBytes?: number;
  /** v1 total_mapped_file, v2 file_mapped. Units: bytes. */
  mappedFileBytes?: number;
  /** Units: bytes. */
  inactiveFileBytes?: number;
  /** Units: bytes. */
  activeFileBytes?: number;
  /** Units: count. */
  pgfault?: number;
  /** Units: count. */
  pgmajfault?: number;
}

// ---------------------------------------------------------------------------------------------
// cgroup v1
// ---------------------------------------------------------------------------------------------

/** memory.usage_in_bytes (page cache included). Units: bytes. */
export function parseMemoryUsageInBytes(text: string): number {
  return parseUnsignedFile('memory.usage_in_bytes', text);
}

/** memory.max_usage_in_bytes. Units: bytes. */
export function parseMemoryMaxUsageInBytes(text: string): number {
  return parseUnsignedFile('memory.max_usage_in_bytes', text);
}

/** memory.limit_in_bytes; null = unlimited. Units: bytes. */
export function parseMemoryLimitInBytes(text: string): number | null {
  return parseV1LimitFile('memory.limit_in_bytes', text);
}

/** memory.soft_limit_in_bytes; null = none (unlimited). Units: bytes. */
export function parseMemorySoftLimitInBytes(text: string): number | null {
  return parseV1LimitFile('memory.soft_limit_in_bytes', text);
}

/** memory.memsw.limit_in_bytes (memory + swap); null = unlimited. Absent without swap accounting. Units: bytes. */
export function parseMemswLimitInBytes(text: string): number | null {
  return parseV1LimitFile('memory.memsw.limit_in_bytes', text);
}

/** memory.failcnt: times usage hit the limit. Units: count. */
export function parseMemoryFailcnt(text: string): number {
  return parseUnsignedFile('memory.failcnt', text);
}

/** The memory.stat keys of each hierarchy, in MemoryStat field order (see memoryStat below). */
const V1_MEMORY_STAT_KEYS = [
  'total_rss', 'total_cache', 'total_swap', 'total_mapped_file', 'total_inactive_file', 'total_active_file', 'total_pgfault', 'total_pgmajfault',
];
/** v2 has no swap key in memory.stat (memory.swap.current instead): "" never matches a line. */
const V2_MEMORY_STAT_KEYS = ['anon', 'file', '', 'file_mapped', 'inactive_file', 'active_file', 'pgfault', 'pgmajfault'];

function memoryStat([rss, cache, swap, mapped, inactiveFile, activeFile, pgfault, pgmajfault]: Array<number | undefined>): MemoryStat {
  const out: MemoryStat = {};
  if (rss !== undefined) out.rssBytes = rss;
  if (cache !== undefined) out.cacheBytes = cache;
  if (swap !== undefined) out.swapBytes = swap;
  if (mapped !== undefined) out.mappedFileBytes = mapped;
  if (inactiveFile !== undefined) out.inactiveFileBytes = inactiveFile;
  if (activeFile !== undefined) out.activeFileBytes = activeFile;
  if (pgfault !== undefined) out.pgfault = pgfault;
  if (pgmajfault !== undefined) out.pgmajfault = pgmajfault;
  return out;
}

/**
 * v1 memory.stat. Uses the hierarchical total_* keys (this cgroup and its descendants), as
 * cAdvisor and Docker do, so a parent's numbers include its children like v2's do.
 */
export function parseV1MemoryStat(text: string): MemoryStat {
  return memoryStat(pickFlatKeyed('memory.stat', text, V1_MEMORY_STAT_KEYS));
}

export interface OomControl {
  /** The OOM killer is disabled for this cgroup (tasks hang instead of being killed). */
  oomKillDisable?: boolean;
  /** The cgroup is currently under OOM (only possible with the killer disabled). */
  underOom?: boolean;
  /** Processes killed by the OOM killer; absent before kernel 4.13. Units: count. */
  oomKill?: number;
}

const OOM_CONTROL_KEYS = ['oom_kill_disable', 'under_oom', 'oom_kill'];

function flag(file: string, key: string, value: number | undefined): boolean | undefined {
  if (value === undefined) return undefined;
  if (value === 0 || value === 1) return value === 1;
  throw new CgroupParseError(file, `expected 0 or 1 for "${key}", got ${quote(String(value))}`);
}

/** memory.oom_control: oom_kill_disable, under_oom and (kernel ≥ 4.13) oom_kill. */
export function parseOomControl(text: string): OomControl {
  const file = 'memory.oom_control';
  const [disable, underOom, oomKill] = pickFlatKeyed(file, text, OOM_CONTROL_KEYS);
  const out: OomControl = {};
  const oomKillDisable = flag(file, 'oom_kill_disable', disable);
  if (oomKillDisable !== undefined) out.oomKillDisable = oomKillDisable;
  const under = flag(file, 'under_oom', underOom);
  if (under !== undefined) out.underOom = under;
  if (oomKill !== undefined) out.oomKill = oomKill;
  return out;
}

// ---------------------------------------------------------------------------------------------
// cgroup v2
// ---------------------------------------------------------------------------------------------

/** memory.current (page cache included). Units: bytes. */
export function parseMemoryCurrent(text: string): number {
  return parseUnsignedFile('memory.current', text);
}

/** memory.max; "max" → null. Units: bytes. */
export function parseMemoryMax(text: string): number | null {
  return parseMaxOrUnsignedFile('memory.max', text);
}

/** memory.low (best-effort protection, Docker's --memory-reservation on v2); "max" → null. Units: bytes. */
export function parseMemoryLow(text: string): number | null {
  return parseMaxOrUnsignedFile('memory.low', text);
}

/** memory.swap.max (swap alone, not memory + swap); "max" → null. Units: bytes. */
export function parseMemorySwapMax(text: string): number | null {
  return parseMaxOrUnsignedFile('memory.swap.max', text);
}

/** memory.swap.current. Units: bytes. */
export function parseMemorySwapCurrent(text: string): number {
  return parseUnsignedFile('memory.swap.current', text);
}

/** memory.peak (kernel ≥ 5.19). Units: bytes. */
export function parseMemoryPeak(text: string): number {
  return parseUnsignedFile('memory.peak', text);
}

/** v2 memory.stat (already hierarchical): anon, file, file_mapped, inactive_file, active_file, pgfault, pgmajfault. */
export function parseV2MemoryStat(text: string): MemoryStat {
  return memoryStat(pickFlatKeyed('memory.stat', text, V2_MEMORY_STAT_KEYS));
}

/** v2 memory.events counters (hierarchical). Units: count each. */
export interface MemoryEvents {
  low?: number;
  high?: number;
  max?: number;
  oom?: number;
  oomKill?: number;
  /** Kernel ≥ 5.17. */
  oomGroupKill?: number;
}

const MEMORY_EVENTS_KEYS = ['low', 'high', 'max', 'oom', 'oom_kill', 'oom_group_kill'];

/** memory.events (or memory.events.local, same keys): low, high, max, oom, oom_kill, oom_group_kill. */
export function parseMemoryEvents(text: string, file = 'memory.events'): MemoryEvents {
  const [low, high, max, oom, oomKill, oomGroupKill] = pickFlatKeyed(file, text, MEMORY_EVENTS_KEYS);
  const out: MemoryEvents = {};
  if (low !== undefined) out.low = low;
  if (high !== undefined) out.high = high;
  if (max !== undefined) out.max = max;
  if (oom !== undefined) out.oom = oom;
  if (oomKill !== undefined) out.oomKill = oomKill;
  if (oomGroupKill !== undefined) out.oomGroupKill = oomGroupKill;
  return out;
}
