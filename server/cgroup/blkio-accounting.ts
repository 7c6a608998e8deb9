/**
 * Block I/O accounting on cgroup v1 hosts whose disks have no scheduler statistics of their own
 * (blk-mq with none, mq-deadline or kyber: only the blkio.throttle.* files count per cgroup).
 *
 * Why this exists: since Linux 6.10 blk-throttle sets a disk up only when a throttle rule is first
 * written for it, and until then the kernel counts no cgroup's I/O on that disk at all: every
 * blkio.throttle.io_service_bytes reads "Total 0", whoever did I/O. Once set up, the disk stays
 * counted until it goes away. So a quiet machine shows 0 bytes for everything, and a machine where
 * anything ever wrote a throttle rule (docker --device-write-bps, a test) shows real numbers.
 *
 * What capstan does: for every disk in /sys/block it writes "MAJ:MIN 0" (the form that removes a
 * rule, so no limit is set or changed) to blkio.throttle.read_bps_device of its own cgroup parent,
 * which is enough for the kernel to set the disk up. Older kernels count from boot, and the write
 * is a no-op there. Counting starts then: I/O done before it is not counted.
 *
 * If a disk cannot be set up, numbers from the throttle files would be zeros that look measured,
 * so `complete` turns false and the collector reports block I/O as unknown.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CgroupLayout, CgroupPath } from '../model';
import { writeFile } from '../native';
import { cgroupDirectory } from './hierarchy';

/** Pure: a /sys/block/<disk>/dev file ("254:0\n") → "254:0", or undefined when it is not one. */
export function parseDeviceNumber(text: string): string | undefined {
  const match = /^(\d+):(\d+)\s*$/.exec(text);
  return match ? `${match[1]}:${match[2]}` : undefined;
}

export interface BlkioAccountingOptions {
  layout: CgroupLayout;
  /** capstan's own cgroup (its `--cgroup-parent`): the only cgroup whose rules it writes. */
  cgroupPath: CgroupPath;
  /** Read the scheduler's own files (blkio.io_service_bytes_recursive) instead: nothing to set up. */
  throttleFilesOnly: boolean;
  /** Root of sysfs; tests point it elsewhere. Default "/sys". */
  sysRoot?: string;
  /** Told once per disk that cannot be set up, with the file and the errno code. */
  onWarning?: (message: string) => void;
  /** Writes a control file (the native writer; tests inject a fake). */
  write?: (file: string, value: string) => void;
}

export class BlkioAccounting {
  /** Disks set up, and disks that failed (kept so a failure is reported once), by "MAJ:MIN". */
  private readonly activated = new Set<string>();
  private readonly failed = new Set<string>();
  private readonly sysRoot: string;
  private readonly write: (file: string, value: string) => void;
  /** Whether this host needs the set-up at all (v1 blkio with throttle files only). */
  readonly needed: boolean;

  constructor(private readonly options: BlkioAccountingOptions) {
    this.sysRoot = options.sysRoot ?? '/sys';
    this.write = options.write ?? writeFile;
    this.needed = options.layout.controllersOn === 1 && options.layout.v1Mounts.blkio !== undefined && options.throttleFilesOnly;
  }

  /** True when every disk seen so far is counted per cgroup (always on v2 and with scheduler stats). */
  get complete(): boolean {
    return !this.needed || this.failed.size === 0;
  }

  /**
   * Sets up every disk not set up yet. Cheap when nothing changed: one readdir of /sys/block and
   * one small read per new disk. Disks that went away are forgotten, so one that comes back (a
   * loop device attached again) is set up again.
   */
  refresh(): void {
    if (!this.needed) return;
    const present = new Set<string>();
    let names: string[];
    try {
      names = fs.readdirSync(path.join(this.sysRoot, 'block'));
    } catch (error) {
      this.warnOnce('sysfs', `cannot list ${path.join(this.sysRoot, 'block')}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}; block I/O is reported as unknown`);
      this.failed.add('sysfs');
      return;
    }
    this.failed.delete('sysfs');
    for (const name of names) {
      let device: string | undefined;
      try {
        device = parseDeviceNumber(fs.readFileSync(path.join(this.sysRoot, 'block', name, 'dev'), 'utf8'));
      } catch {
        continue; // Gone between the listing and the read.
      }
      if (device === undefined) continue;
      present.add(device);
      if (this.activated.has(device) || this.failed.has(device)) continue;
      this.activate(name, device);
    }
    for (const device of [...this.activated, ...this.failed]) {
      if (device !== 'sysfs' && !present.has(device)) {
        this.activated.delete(device);
        this.failed.delete(device);
      }
    }
  }

  private activate(name: string, device: string): void {
    const directory = cgroupDirectory(this.options.layout, 'blkio', this.options.cgroupPath);
    if (!directory) return;
    const file = `${directory}/blkio.throttle.read_bps_device`;
    try {
      fs.mkdirSync(directory, { recursive: true });
      this.write(file, `${device} 0`);
      this.activated.add(device);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
      // The disk went away between the listing and the write: nothing to count on it.
      if (code === 'ENODEV' || code === 'ENXIO') return;
      this.failed.add(device);
      this.warnOnce(device, `cannot enable per-cgroup block I/O accounting for /dev/${name} (${device}): writing ${file}: ${code}; block I/O is reported as unknown`);
    }
  }

  private readonly warned = new Set<string>();
  private warnOnce(key: string, message: string): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.options.onWarning?.(message);
  }
}
