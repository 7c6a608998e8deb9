/**
 * Block I/O that a test makes itself, so what it asserts never depends on what else the machine
 * does: O_DIRECT reads and writes of a known size, on a real block device, from a process that
 * is inside a test cgroup from its first instruction.
 *
 * Why O_DIRECT: buffered writes reach the disk later from the kernel's flusher, and on cgroup v1
 * the flusher's I/O is charged to the root cgroup, not to the writer. Direct I/O is submitted by
 * the writer itself, so both v1 and v2 charge it to the writer's cgroup.
 *
 * Why a real block device: tmpfs and overlay-on-tmpfs do no block I/O at all. The directory is
 * $CAPSTAN_TEST_BLOCK_DIR when set (the cgroup v2 lane mounts a virtio disk there), else the
 * system's temp directory, which must then be on a block device.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ExecutionContext } from 'ava';
import type { CgroupPath } from '../../server/model';
import type { TestCgroupTree } from './cgroups';

/** Small enough that no device splits one request (max_sectors_kb is 128 KiB or more). Units: bytes. */
export const DIRECT_IO_BLOCK_BYTES = 64 * 1024;

export interface BlockDevice {
  /** The whole disk's numbers: cgroup files key I/O by disk, not by partition. */
  major: number;
  minor: number;
  /** The kernel's name ("vda", "loop201"). */
  name: string;
}

/** major/minor of a dev_t as glibc's gnu_dev_major/minor decode it. */
function splitDev(dev: number): { major: number; minor: number } {
  const value = BigInt(dev);
  const major = Number(((value >> 8n) & 0xfffn) | ((value >> 32n) & ~0xfffn));
  const minor = Number((value & 0xffn) | ((value >> 12n) & ~0xffn));
  return { major, minor };
}

/** The disk behind a block device number (itself, or the disk a partition is on). */
function diskOf(major: number, minor: number): BlockDevice | undefined {
  const sysPath = `/sys/dev/block/${major}:${minor}`;
  let real: string;
  try {
    real = fs.realpathSync(sysPath);
  } catch {
    return undefined;
  }
  const isPartition = fs.existsSync(path.join(real, 'partition'));
  const diskDir = isPartition ? path.dirname(real) : real;
  const numbers = fs.readFileSync(path.join(diskDir, 'dev'), 'utf8').trim().split(':').map(Number);
  return { major: numbers[0]!, minor: numbers[1]!, name: path.basename(diskDir) };
}

/**
 * A directory on a real block device for the test's files, and that device. Throws with what is
 * wrong when there is none (tmpfs /tmp and no CAPSTAN_TEST_BLOCK_DIR).
 */
export function blockDeviceDirectory(): { directory: string; device: BlockDevice } {
  const directory = process.env['CAPSTAN_TEST_BLOCK_DIR'] || os.tmpdir();
  const { major, minor } = splitDev(fs.statSync(directory).dev);
  const device = major === 0 ? undefined : diskOf(major, minor);
  if (!device) {
    throw new Error(
      `${directory} is not on a block device (st_dev ${major}:${minor}: tmpfs, overlay or similar): ` +
        'block I/O tests need one; set CAPSTAN_TEST_BLOCK_DIR to a directory on a disk',
    );
  }
  return { directory, device };
}

/** What a direct-I/O run did: the bytes and requests the kernel must charge to its cgroup. */
export interface DirectIoResult {
  /** Units: bytes. */
  writeBytes: number;
  readBytes: number;
  /** Units: requests (one per DIRECT_IO_BLOCK_BYTES block). */
  writeOps: number;
  readOps: number;
}

/**
 * Writes `bytes` to a new file (or a block device) with O_DIRECT and reads it back with O_DIRECT,
 * from one process inside `cgroupPath`. `target` is a file path to create, or an existing block
 * device node. Resolves once the process has exited successfully.
 */
export async function directIo(tree: TestCgroupTree, cgroupPath: CgroupPath, target: string, bytes: number): Promise<DirectIoResult> {
  if (bytes % DIRECT_IO_BLOCK_BYTES !== 0) throw new Error(`bytes must be a multiple of ${DIRECT_IO_BLOCK_BYTES}`);
  const count = bytes / DIRECT_IO_BLOCK_BYTES;
  const scriptFor = (file: string, blocks: number): string => {
    const quoted = `'${file.replace(/'/g, `'\\''`)}'`;
    // conv=notrunc: truncating an existing file would show up as discards, not as writes.
    return (
      `dd if=/dev/zero of=${quoted} bs=${DIRECT_IO_BLOCK_BYTES} count=${blocks} oflag=direct conv=notrunc status=none && ` +
      `dd if=${quoted} of=/dev/null bs=${DIRECT_IO_BLOCK_BYTES} count=${blocks} iflag=direct status=none`
    );
  };
  // The same commands once outside the cgroup first, on a scratch file of the same disk: on a
  // fresh machine sh, dd and their libraries are not in the page cache yet, and the page faults
  // that read them in would be charged to the cgroup as reads of their own (a rehearsal counted
  // 351 read operations for 320).
  const { directory } = blockDeviceDirectory();
  const scratch = fs.mkdtempSync(path.join(directory, 'capstan-io-warm-'));
  try {
    execFileSync('/bin/sh', ['-c', scriptFor(path.join(scratch, 'data'), 1)], { stdio: ['ignore', 'ignore', 'pipe'] });
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
  const child = await tree.run(cgroupPath, `/bin/sh -c "${scriptFor(target, count).replace(/"/g, '\\"')}"`);
  const code = await new Promise<number | null>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
    else child.once('exit', (exitCode) => resolve(exitCode));
  });
  if (code !== 0) throw new Error(`direct I/O on ${target} failed with exit code ${code}`);
  return { writeBytes: bytes, readBytes: bytes, writeOps: count, readOps: count };
}

/** |actual − expected| ≤ 5 % of expected. */
export function withinFivePercent(actual: number | undefined, expected: number): boolean {
  return actual !== undefined && Math.abs(actual - expected) <= expected * 0.05;
}

/**
 * A loop device that did not exist before the test, backed by a sparse file, removed at the end
 * (detached, then deleted with LOOP_CTL_REMOVE, so its request queue goes away). A new device is a
 * disk no one has ever set blk-throttle up for: on cgroup v1 it proves that the agent does.
 */
export function freshLoopDevice(t: ExecutionContext, sizeBytes = 64 * 1024 * 1024): BlockDevice & { node: string } {
  const { directory } = blockDeviceDirectory();
  const backing = path.join(directory, `capstan-loop-${randomBytes(4).toString('hex')}.img`);
  fs.writeFileSync(backing, '');
  fs.truncateSync(backing, sizeBytes);
  let number: number;
  for (;;) {
    number = 200 + Math.floor(Math.random() * 800);
    if (!fs.existsSync(`/sys/block/loop${number}`)) break;
  }
  const node = `/dev/loop${number}`;
  // util-linux creates the device (LOOP_CTL_ADD) when the node does not exist yet.
  execFileSync('losetup', [node, backing], { stdio: ['ignore', 'ignore', 'pipe'] });
  t.teardown(() => {
    try {
      execFileSync('losetup', ['-d', node], { stdio: 'ignore' });
    } catch {
      // Already detached.
    }
    // LOOP_CTL_REMOVE (0x4C81): perl is in every Debian system (perl-base), node has no ioctl.
    try {
      execFileSync('perl', ['-e', `open(my $f, '<', '/dev/loop-control') or die "$!"; ioctl($f, 0x4C81, ${number}) or die "$!"`], { stdio: 'ignore' });
    } catch {
      // Busy for a moment after the detach; the device stays, unused and empty.
    }
    fs.rmSync(backing, { force: true });
  });
  const [major, minor] = fs.readFileSync(`/sys/block/loop${number}/dev`, 'utf8').trim().split(':').map(Number);
  return { major: major!, minor: minor!, name: `loop${number}`, node };
}
