/**
 * Block device numbers → device node names for the `device` label. cAdvisor labels block I/O with
 * the node name ("/dev/sda"), while cgroup files only give "major:minor"; the kernel publishes the
 * name in /sys/dev/block/<major>:<minor>/uevent (DEVNAME=sda).
 *
 * The read is synchronous: it is one small sysfs file per device, done once and cached, and it
 * keeps the resolver a plain function the renderer can call in its loop.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Resolves a block device number to the `device` label value. */
export type DeviceNameResolver = (major: number, minor: number) => string;

export interface DeviceNameResolverOptions {
  /** Root of sysfs. Default "/sys"; tests point it at a fixture tree. */
  sysRoot?: string;
  /**
   * How long an unresolved device stays unresolved before the file is read again, so a disk
   * attached later gets its name. Units: milliseconds. Default 60 000.
   */
  retryUnknownAfterMs?: number;
  /** Clock for the retry delay. Units: milliseconds. Default Date.now. */
  now?: () => number;
  /** Told once per device about read errors other than "not there" (e.g. EACCES), with code and path. */
  onError?: (error: NodeJS.ErrnoException) => void;
}

/** Pure: the DEVNAME value of a uevent file, or undefined when it has none. */
export function parseUeventDevName(text: string): string | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('DEVNAME=')) {
      const name = line.slice('DEVNAME='.length).trim();
      return name === '' ? undefined : name;
    }
  }
  return undefined;
}

/** The fallback label for a device without a known name. */
export function deviceNumberLabel(major: number, minor: number): string {
  return `${major}:${minor}`;
}

interface CacheEntry {
  label: string;
  /** Set for unresolved devices: when to try again. Units: milliseconds (same clock as `now`). */
  retryAtMs?: number;
}

/** Creates a caching resolver: "/dev/<DEVNAME>", or "<major>:<minor>" when sysfs does not know the device. */
export function createDeviceNameResolver(options: DeviceNameResolverOptions = {}): DeviceNameResolver {
  const sysRoot = options.sysRoot ?? '/sys';
  const retryAfterMs = options.retryUnknownAfterMs ?? 60_000;
  const now = options.now ?? Date.now;
  const cache = new Map<string, CacheEntry>();
  const reported = new Set<string>();

  return (major: number, minor: number): string => {
    const key = deviceNumberLabel(major, minor);
    const cached = cache.get(key);
    if (cached !== undefined && (cached.retryAtMs === undefined || now() < cached.retryAtMs)) return cached.label;

    // Only non-negative integers reach the filesystem; anything else is labelled as given.
    if (!Number.isInteger(major) || !Number.isInteger(minor) || major < 0 || minor < 0) return key;

    const file = path.join(sysRoot, 'dev', 'block', key, 'uevent');
    let name: string | undefined;
    try {
      name = parseUeventDevName(fs.readFileSync(file, 'utf8'));
    } catch (error) {
      const err = error as NodeJS.ErrnoException;
      if (err.code !== 'ENOENT' && !reported.has(key)) {
        reported.add(key);
        // Errors from read(2) (EISDIR, EIO) carry no path; the caller needs to know which file.
        const withPath: NodeJS.ErrnoException = Object.assign(new Error(`cannot read ${file}: ${err.message}`, { cause: err }), {
          code: err.code,
          errno: err.errno,
          syscall: err.syscall,
          path: file,
        });
        options.onError?.(withPath);
      }
    }
    const entry: CacheEntry = name === undefined ? { label: key, retryAtMs: now() + retryAfterMs } : { label: `/dev/${name}` };
    cache.set(key, entry);
    return entry.label;
  };
}
