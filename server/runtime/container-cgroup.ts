/**
 * What the runtime does to a container's cgroup besides its limits (limits.ts): freeze and thaw it
 * (pause), count the kernel's OOM kills in it, and remove it after a run. v1 and v2 differ in file
 * names only, so each function hides that choice from lifecycle, exits and adoption alike.
 */
import type { CgroupManager } from '../cgroup/manage';
import type { CgroupPath } from '../model';
import { RuntimeError } from './errors';

/** Removes the container's cgroup; processes left in it (it should be empty once init died) are killed first. */
export async function removeCgroup(cgroups: CgroupManager, cgroupPath: CgroupPath): Promise<void> {
  try {
    await cgroups.remove(cgroupPath);
    return;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EBUSY') throw error;
  }
  thaw(cgroups, cgroupPath);
  for (const pid of cgroups.processes(cgroupPath)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  await cgroups.remove(cgroupPath);
}

/** oom_kill in memory.oom_control (v1) or memory.events (v2); 0 when unknown. Units: kills (count). */
export function oomKillCount(cgroups: CgroupManager, cgroupPath: CgroupPath): number {
  try {
    const text =
      cgroups.layout.controllersOn === 2
        ? cgroups.readControl('unified', cgroupPath, 'memory.events')
        : cgroups.readControl('memory', cgroupPath, 'memory.oom_control');
    return Number(/^oom_kill (\d+)$/m.exec(text)?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** v1: freezer.state FROZEN/THAWED; v2: cgroup.freeze. Waits until the kernel reports it done. */
export async function setFrozen(cgroups: CgroupManager, cgroupPath: CgroupPath, frozen: boolean): Promise<void> {
  const v2 = cgroups.layout.controllersOn === 2;
  try {
    if (v2) cgroups.writeControl('unified', cgroupPath, 'cgroup.freeze', frozen ? '1' : '0');
    else cgroups.writeControl('freezer', cgroupPath, 'freezer.state', frozen ? 'FROZEN' : 'THAWED');
  } catch (error) {
    throw new RuntimeError(500, 'freezer_failed', `cannot ${frozen ? 'freeze' : 'thaw'} ${cgroupPath}: ${(error as Error).message}`);
  }
  const deadline = Date.now() + 10_000;
  for (;;) {
    const done = v2
      ? /(^|\n)frozen (\d)/.exec(cgroups.readControl('unified', cgroupPath, 'cgroup.events'))?.[2] === (frozen ? '1' : '0')
      : cgroups.readControl('freezer', cgroupPath, 'freezer.state') === (frozen ? 'FROZEN' : 'THAWED');
    if (done) return;
    if (Date.now() > deadline) throw new RuntimeError(500, 'freezer_timeout', `the kernel did not finish ${frozen ? 'freezing' : 'thawing'} ${cgroupPath}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

export function thaw(cgroups: CgroupManager, cgroupPath: CgroupPath): void {
  try {
    if (cgroups.layout.controllersOn === 2) cgroups.writeControl('unified', cgroupPath, 'cgroup.freeze', '0');
    else cgroups.writeControl('freezer', cgroupPath, 'freezer.state', 'THAWED');
  } catch {
    // No freezer, or the cgroup is gone: nothing is frozen.
  }
}

export function isFrozen(cgroups: CgroupManager, cgroupPath: CgroupPath): boolean {
  try {
    if (cgroups.layout.controllersOn === 2) return /(^|\n)frozen 1/.test(cgroups.readControl('unified', cgroupPath, 'cgroup.events'));
    return cgroups.readControl('freezer', cgroupPath, 'freezer.state') !== 'THAWED';
  } catch {
    return false;
  }
}
