/**
 * Creating, populating and removing cgroups: what the runtime needs for its containers and what the
 * tests need for their workloads. Directory operations use fs; control-file writes go through the
 * native writer so failures carry code, errno, syscall and path.
 */
import * as fs from 'node:fs';
import type { CgroupLayout, CgroupPath, V1Controller } from '../model';
import { writeFile } from '../native';
import { assertCgroupPath, cgroupDirectory } from './hierarchy';

/** v1 controllers a capstan cgroup is created in (freezer for pause, cpuset for --cpuset-cpus). */
const V1_MANAGED_CONTROLLERS: readonly V1Controller[] = ['cpu', 'cpuacct', 'cpuset', 'memory', 'blkio', 'pids', 'freezer'];
/** v2 controllers capstan enables for its subtree, when the kernel offers them. */
const V2_MANAGED_CONTROLLERS = ['cpuset', 'cpu', 'io', 'memory', 'pids'];

export class CgroupManager {
  constructor(readonly layout: CgroupLayout) {}

  /** Every directory that makes up `cgroupPath`: one per v1 controller, or the single v2 one. */
  directories(cgroupPath: CgroupPath): Array<{ controller: V1Controller | 'unified'; directory: string }> {
    assertCgroupPath(cgroupPath);
    if (this.layout.controllersOn === 2) {
      return [{ controller: 'unified', directory: cgroupDirectory(this.layout, 'unified', cgroupPath)! }];
    }
    const seen = new Set<string>();
    const result: Array<{ controller: V1Controller; directory: string }> = [];
    for (const controller of V1_MANAGED_CONTROLLERS) {
      const directory = cgroupDirectory(this.layout, controller, cgroupPath);
      // Co-mounted controllers ("cpu,cpuacct") share one directory: create it once.
      if (!directory || seen.has(directory)) continue;
      seen.add(directory);
      result.push({ controller, directory });
    }
    return result;
  }

  /**
   * Creates `cgroupPath` (and missing ancestors) in every managed hierarchy. On v2 the controllers
   * are first enabled in each ancestor's cgroup.subtree_control, which the kernel refuses (EBUSY)
   * for an ancestor that holds processes itself: the no-internal-processes rule.
   */
  create(cgroupPath: CgroupPath): void {
    assertCgroupPath(cgroupPath);
    if (cgroupPath === '/') throw new TypeError('cannot create the root cgroup');
    if (this.layout.controllersOn === 2) {
      this.enableV2ControllersAlong(cgroupPath);
    }
    for (const { controller, directory } of this.directories(cgroupPath)) {
      this.mkdirWithAncestors(controller, directory, cgroupPath);
    }
  }

  private mkdirWithAncestors(controller: V1Controller | 'unified', directory: string, cgroupPath: CgroupPath): void {
    const parts = cgroupPath.split('/').filter(Boolean);
    for (let depth = 1; depth <= parts.length; depth++) {
      const partial = '/' + parts.slice(0, depth).join('/');
      const partialDirectory = cgroupDirectory(this.layout, controller, partial)!;
      try {
        fs.mkdirSync(partialDirectory);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EEXIST') continue;
        throw error;
      }
      // A new v1 cpuset starts with no CPUs and no memory nodes, and refuses tasks until both are set.
      if (controller === 'cpuset') this.inheritCpuset(partialDirectory);
    }
    void directory;
  }

  private inheritCpuset(directory: string): void {
    const parent = directory.slice(0, directory.lastIndexOf('/'));
    for (const file of ['cpuset.cpus', 'cpuset.mems']) {
      const current = readTrimmed(`${directory}/${file}`);
      if (current !== '') continue;
      writeFile(`${directory}/${file}`, readTrimmed(`${parent}/${file}`));
    }
  }

  private enableV2ControllersAlong(cgroupPath: CgroupPath): void {
    const parts = cgroupPath.split('/').filter(Boolean);
    // Ancestors from the root down to the new cgroup's parent must delegate the controllers.
    for (let depth = 0; depth < parts.length; depth++) {
      const ancestor = depth === 0 ? '/' : '/' + parts.slice(0, depth).join('/');
      const directory = cgroupDirectory(this.layout, 'unified', ancestor)!;
      if (depth > 0) {
        try {
          fs.mkdirSync(directory);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        }
      }
      const available = readTrimmed(`${directory}/cgroup.controllers`).split(/\s+/);
      const enabled = new Set(readTrimmed(`${directory}/cgroup.subtree_control`).split(/\s+/));
      const wanted = V2_MANAGED_CONTROLLERS.filter((c) => available.includes(c) && !enabled.has(c));
      if (wanted.length > 0) writeFile(`${directory}/cgroup.subtree_control`, wanted.map((c) => `+${c}`).join(' '));
    }
  }

  /** Moves a process into `cgroupPath` in every managed hierarchy. */
  addProcess(cgroupPath: CgroupPath, pid: number): void {
    for (const { directory } of this.directories(cgroupPath)) {
      writeFile(`${directory}/cgroup.procs`, String(pid));
    }
  }

  /** PIDs directly in `cgroupPath` (first hierarchy that has it). */
  processes(cgroupPath: CgroupPath): number[] {
    for (const { directory } of this.directories(cgroupPath)) {
      let text: string;
      try {
        text = fs.readFileSync(`${directory}/cgroup.procs`, 'utf8');
      } catch {
        continue;
      }
      return text.split('\n').filter(Boolean).map(Number);
    }
    return [];
  }

  /** The control file `file` of `cgroupPath` for `controller` ('unified' on v2). */
  controlFile(controller: V1Controller | 'unified', cgroupPath: CgroupPath, file: string): string {
    assertCgroupPath(cgroupPath);
    if (file.includes('/') || file.includes('\0')) throw new TypeError(`not a control file name: ${JSON.stringify(file)}`);
    const directory = cgroupDirectory(this.layout, controller, cgroupPath);
    if (!directory) {
      const error = new Error(`the ${controller} controller is not mounted`) as NodeJS.ErrnoException;
      error.code = 'ENOCONTROLLER';
      throw error;
    }
    return `${directory}/${file}`;
  }

  writeControl(controller: V1Controller | 'unified', cgroupPath: CgroupPath, file: string, value: string): void {
    writeFile(this.controlFile(controller, cgroupPath, file), value);
  }

  readControl(controller: V1Controller | 'unified', cgroupPath: CgroupPath, file: string): string {
    return fs.readFileSync(this.controlFile(controller, cgroupPath, file), 'utf8').trim();
  }

  /**
   * Removes `cgroupPath` and its descendants, deepest first. The cgroups must be empty of
   * processes; a just-killed process can keep a cgroup busy for a moment, so EBUSY is retried briefly.
   */
  async remove(cgroupPath: CgroupPath): Promise<void> {
    assertCgroupPath(cgroupPath);
    if (cgroupPath === '/') throw new TypeError('cannot remove the root cgroup');
    for (const { directory } of this.directories(cgroupPath)) {
      await removeTree(directory);
    }
  }
}

async function removeTree(directory: string): Promise<void> {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(directory, { withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  for (const entry of entries) {
    if (entry.isDirectory()) await removeTree(`${directory}/${entry.name}`);
  }
  for (let attempt = 0; ; attempt++) {
    try {
      fs.rmdirSync(directory);
      return;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      if (code !== 'EBUSY' || attempt >= 50) throw error;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

function readTrimmed(file: string): string {
  return fs.readFileSync(file, 'utf8').trim();
}
