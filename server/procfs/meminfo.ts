/** /proc/meminfo: the host's memory size, for limits shown against "the whole machine". */
import { CgroupParseError, quote } from '../cgroup/parse/errors';
import { parseUnsignedValue } from '../cgroup/parse/scalar';
import { splitFields } from './fields';

export interface Meminfo {
  /** MemTotal. Units: bytes. */
  memoryTotalBytes?: number;
  /** MemAvailable (kernel ≥ 3.14). Units: bytes. */
  memoryAvailableBytes?: number;
}

function kibibytes(file: string, line: string): number {
  const fields = splitFields(line);
  // "MemTotal:       24684096 kB"
  if (fields.length !== 3 || fields[2] !== 'kB') throw new CgroupParseError(file, `expected "Key: N kB", got ${quote(line)}`);
  return parseUnsignedValue(file, fields[1]!) * 1024;
}

/** MemTotal and MemAvailable from /proc/meminfo, converted from kB (KiB, really) to bytes. */
export function parseMeminfo(text: string): Meminfo {
  const file = '/proc/meminfo';
  if (text.trim().length === 0) throw new CgroupParseError(file, 'file is empty');
  const out: Meminfo = {};
  for (const line of text.split('\n')) {
    if (line.startsWith('MemTotal:')) out.memoryTotalBytes = kibibytes(file, line);
    else if (line.startsWith('MemAvailable:')) out.memoryAvailableBytes = kibibytes(file, line);
  }
  return out;
}
