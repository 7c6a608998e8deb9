/**
 * Telling a live container process from a recycled PID: a PID plus the start time from
 * /proc/<pid>/stat (field 22, clock ticks since boot) names one process for good.
 */
import * as fs from 'node:fs';

/** Field 22 of /proc/<pid>/stat. The command name (field 2) may contain spaces and ")", so fields are counted after the LAST ")". */
export function parseStartTimeTicks(statText: string): number | undefined {
  const close = statText.lastIndexOf(')');
  if (close === -1) return undefined;
  // After ")": " S ppid pgrp ..." — state is field 3, so starttime (22) is index 19 here.
  const fields = statText.slice(close + 2).split(' ');
  const value = Number(fields[19]);
  return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
}

/** The start time of `pid`, or undefined when it does not exist (any more). */
export function readStartTimeTicks(pid: number, procRoot = '/proc'): number | undefined {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    return parseStartTimeTicks(fs.readFileSync(`${procRoot}/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

/** Whether `pid` is still the process that started at `startTimeTicks` (and is not a zombie). */
export function isSameProcess(pid: number, startTimeTicks: number, procRoot = '/proc'): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  let text: string;
  try {
    text = fs.readFileSync(`${procRoot}/${pid}/stat`, 'utf8');
  } catch {
    return false;
  }
  const close = text.lastIndexOf(')');
  if (close !== -1 && text[close + 2] === 'Z') return false;
  return parseStartTimeTicks(text) === startTimeTicks;
}

/** Signal numbers by name and the reverse, for `kill -s` and exit codes (128 + n). */
export const SIGNALS: Readonly<Record<string, number>> = {
  SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGILL: 4, SIGTRAP: 5, SIGABRT: 6, SIGBUS: 7, SIGFPE: 8, SIGKILL: 9, SIGUSR1: 10,
  SIGSEGV: 11, SIGUSR2: 12, SIGPIPE: 13, SIGALRM: 14, SIGTERM: 15, SIGSTKFLT: 16, SIGCHLD: 17, SIGCONT: 18, SIGSTOP: 19,
  SIGTSTP: 20, SIGTTIN: 21, SIGTTOU: 22, SIGURG: 23, SIGXCPU: 24, SIGXFSZ: 25, SIGVTALRM: 26, SIGPROF: 27, SIGWINCH: 28,
  SIGIO: 29, SIGPWR: 30, SIGSYS: 31,
};

/** "KILL", "SIGKILL", "kill" or "9" → 9; undefined when unknown (docker: "Invalid signal"). */
export function parseSignal(text: string): number | undefined {
  if (/^\d{1,2}$/.test(text)) {
    const number = Number(text);
    return number >= 1 && number <= 64 ? number : undefined;
  }
  const upper = text.toUpperCase();
  const name = upper.startsWith('SIG') ? upper : `SIG${upper}`;
  if (/^SIGRTMIN\+\d{1,2}$/.test(name)) {
    const number = 34 + Number(name.slice(9));
    return number <= 64 ? number : undefined;
  }
  return SIGNALS[name];
}

export function signalName(signal: number): string {
  return Object.keys(SIGNALS).find((name) => SIGNALS[name] === signal) ?? String(signal);
}

/** Whether `pid` exists at all (EPERM: it does, owned by someone else). */
export function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
