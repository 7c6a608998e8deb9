/**
 * Real cgroups for integration tests, on whichever hierarchy the host (or the v2 VM) has. Each
 * test tree lives under its own `capstan-test-<random>` parent and is torn down, processes
 * included, even when the test fails.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { ExecutionContext } from 'ava';
import { detectLayout } from '../../server/cgroup/layout';
import { CgroupManager } from '../../server/cgroup/manage';
import type { CgroupLayout, CgroupPath } from '../../server/model';

const liveTrees = new Set<TestCgroupTree>();
process.once('exit', () => {
  for (const tree of liveTrees) tree.killSync();
});

export class TestCgroupTree {
  readonly layout: CgroupLayout;
  readonly manager: CgroupManager;
  readonly root: CgroupPath;
  private readonly children: ChildProcess[] = [];

  constructor(layout: CgroupLayout = detectLayout()) {
    this.layout = layout;
    this.manager = new CgroupManager(layout);
    this.root = `/capstan-test-${randomBytes(4).toString('hex')}`;
    try {
      this.manager.create(this.root);
    } catch (error) {
      // create() works hierarchy by hierarchy: undo the ones already made before giving up.
      void this.manager.remove(this.root).catch(() => undefined);
      throw error;
    }
    liveTrees.add(this);
  }

  /** Creates a tree and registers its teardown with the test. */
  static forTest(t: ExecutionContext): TestCgroupTree {
    const tree = new TestCgroupTree();
    t.teardown(() => tree.destroy());
    return tree;
  }

  /** Creates `/capstan-test-…/<name>` and returns its path. */
  child(name: string): CgroupPath {
    const path = `${this.root}/${name}`;
    this.manager.create(path);
    return path;
  }

  /** Sets the CPU cap, in the file the hierarchy has: cpu.cfs_quota_us on v1, cpu.max on v2. */
  setCpuQuota(path: CgroupPath, quotaMicroseconds: number, periodMicroseconds = 100_000): void {
    if (this.layout.controllersOn === 2) {
      this.manager.writeControl('unified', path, 'cpu.max', `${quotaMicroseconds} ${periodMicroseconds}`);
    } else {
      this.manager.writeControl('cpu', path, 'cpu.cfs_period_us', String(periodMicroseconds));
      this.manager.writeControl('cpu', path, 'cpu.cfs_quota_us', String(quotaMicroseconds));
    }
  }

  setMemoryLimit(path: CgroupPath, bytes: number): void {
    if (this.layout.controllersOn === 2) this.manager.writeControl('unified', path, 'memory.max', String(bytes));
    else this.manager.writeControl('memory', path, 'memory.limit_in_bytes', String(bytes));
  }

  /**
   * Runs `command` inside `path` from its first instruction: the shell blocks on `read` until the
   * test has moved it into the cgroup, then execs the workload (so memory is charged to the cgroup).
   */
  async run(path: CgroupPath, command: string): Promise<ChildProcess> {
    const child = spawn('/bin/sh', ['-c', `read _ && exec ${command}`], { stdio: ['pipe', 'ignore', 'inherit'] });
    this.children.push(child);
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', reject);
    });
    this.manager.addProcess(path, child.pid!);
    child.stdin!.write('\n');
    child.stdin!.end();
    return child;
  }

  /** A shell busy loop: one full CPU unless capped. */
  busyLoop(path: CgroupPath): Promise<ChildProcess> {
    return this.run(path, `/bin/sh -c 'while :; do :; done'`);
  }

  /** Holds `mebibytes` MiB of touched anonymous memory until killed. */
  holdMemory(path: CgroupPath, mebibytes: number): Promise<ChildProcess> {
    const script = `const b = Buffer.alloc(${mebibytes} * 1024 * 1024, 1); setInterval(() => b[0]++, 1000);`;
    return this.run(path, `${process.execPath} -e "${script}"`);
  }

  /** Kills every process this tree started, and anything they left in its cgroups. */
  killSync(): void {
    for (const child of this.children) {
      if (child.exitCode === null && child.signalCode === null && child.pid) {
        try {
          process.kill(child.pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
    }
    for (const pid of this.processesInTree()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  }

  private processesInTree(): number[] {
    const pids: number[] = [];
    const visit = (path: CgroupPath, depth: number): void => {
      pids.push(...this.manager.processes(path));
      if (depth > 8) return;
      for (const { directory } of this.manager.directories(path).slice(0, 1)) {
        let entries: import('node:fs').Dirent[] = [];
        try {
          entries = require('node:fs').readdirSync(directory, { withFileTypes: true });
        } catch {
          return;
        }
        for (const entry of entries) if (entry.isDirectory()) visit(`${path}/${entry.name}`, depth + 1);
      }
    };
    visit(this.root, 0);
    return pids;
  }

  async destroy(): Promise<void> {
    this.killSync();
    await Promise.all(
      this.children.map((child) =>
        child.exitCode !== null || child.signalCode !== null ? undefined : new Promise((resolve) => child.once('exit', resolve)),
      ),
    );
    await this.manager.remove(this.root);
    liveTrees.delete(this);
  }
}
