/**
 * What a benchmark reads of another process it started: its CPU time and resident memory, from
 * /proc. Linux only, like everything here.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat's utime and stime (Linux's USER_HZ). */
const CLOCK_TICKS_PER_SECOND = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

/** utime and stime of a process (/proc/<pid>/stat fields 14 and 15). Units: milliseconds of CPU time. */
export function processCpuMs(pid: number): { userMs: number; systemMs: number } {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name may hold spaces and parentheses: the fields start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const toMs = (clockTicks: string | undefined): number => (Number(clockTicks) * 1000) / CLOCK_TICKS_PER_SECOND;
  return { userMs: toMs(fields[11]), systemMs: toMs(fields[12]) };
}

/** VmRSS of a process (NaN when /proc does not say). Units: bytes. */
export function rssBytes(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(match?.[1] ?? NaN) * 1024;
}
