/**
 * Turning a device path from a throttle flag (`/dev/vda:10mb`) into the MAJ:MIN the kernel wants.
 * The path is a user's input that reaches the filesystem, so it is checked first: absolute, under
 * /dev, no "." or ".." segments, no NUL. Then stat(2) (following a /dev/disk/by-id/… link) must
 * show a block device: Docker accepts any device node, but the blkio/io controllers only know block
 * devices, and a clear 400 beats the kernel's bare ENODEV.
 */
import * as fs from 'node:fs';
import { invalidArgument } from './errors';
import type { ThrottleRequest } from './request';

export interface BlockDevice {
  /** The path as the user gave it. */
  path: string;
  major: number;
  minor: number;
}

export interface ResolvedThrottle extends BlockDevice {
  /** Units: bytes per second or operations per second; 0 removes the throttle. */
  rate: number;
}

/** What resolving needs from stat(2); injectable so unit tests need no /dev. */
export type StatDevice = (path: string) => { isBlockDevice(): boolean; rdev: number };

const defaultStat: StatDevice = (path) => fs.statSync(path);

/** Linux's dev_t encoding (glibc's gnu_dev_major/minor): 12-bit major split around 20-bit minor. */
export function deviceNumbers(rdev: number): { major: number; minor: number } {
  const value = BigInt(rdev);
  const major = Number(((value >> 8n) & 0xfffn) | ((value >> 32n) & ~0xfffn));
  const minor = Number((value & 0xffn) | ((value >> 12n) & ~0xffn));
  return { major, minor };
}

/** Resolves one throttle's device; `flag` names the flag in errors. */
export function resolveThrottle(flag: string, throttle: ThrottleRequest, stat: StatDevice = defaultStat): ResolvedThrottle {
  const { path } = throttle;
  const shown = `${path}:${throttle.rate}`;
  if (!path.startsWith('/dev/') || path.includes('\0') || path.split('/').some((part) => part === '.' || part === '..')) {
    throw invalidArgument(flag, shown, `bad format for device path: ${path}`);
  }
  let stats: { isBlockDevice(): boolean; rdev: number };
  try {
    stats = stat(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'EIO';
    throw invalidArgument(flag, shown, code === 'ENOENT' ? `no such device: ${path}` : `cannot stat ${path}: ${code}`);
  }
  if (!stats.isBlockDevice()) throw invalidArgument(flag, shown, `${path} is not a block device (throttles apply to block devices only)`);
  return { path, rate: throttle.rate, ...deviceNumbers(stats.rdev) };
}
