/**
 * Many real cgroups for the benchmarks, under a parent of our own (`/capstan-test-bench-<random>`)
 * in every managed hierarchy, plus a few sleeping processes inside them. Removal is synchronous,
 * so it also works from a signal handler or the process 'exit' hook.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { CgroupManager } from '../../server/cgroup/manage';
import type { CgroupLayout, CgroupPath } from '../../server/model';
import { sleepSync, type Disposable } from './harness';

export interface SleeperOptions {
  /** Start it in a network namespace of its own, so the collector reads its /proc/<pid>/net/dev. */
  ownNetworkNamespace: boolean;
}

export class BenchCgroupTree implements Disposable {
  readonly manager: CgroupManager;
  readonly root: CgroupPath;
  readonly label: string;
  private readonly children: CgroupPath[] = [];
  private readonly sleepers: ChildProcess[] = [];

  constructor(readonly layout: CgroupLayout) {
    this.manager = new CgroupManager(layout);
    this.root = `/capstan-test-bench-${randomBytes(4).toString('hex')}`;
    this.label = `cgroup tree ${this.root}`;
    this.manager.create(this.root);
  }

  /** How many child cgroups exist (the parent not counted). */
  get size(): number {
    return this.children.length;
  }

  /** Adds children until there are `count` of them (`<root>/c0000` …). */
  growTo(count: number): void {
    while (this.children.length < count) {
      const path = `${this.root}/c${String(this.children.length).padStart(4, '0')}`;
      this.manager.create(path);
      this.children.push(path);
    }
  }

  child(index: number): CgroupPath {
    const path = this.children[index];
    if (!path) throw new RangeError(`no child cgroup ${index} (tree has ${this.children.length})`);
    return path;
  }

  /** Starts `sleep` (optionally via `unshare --net`) and moves it into child `index`. */
  async addSleeper(index: number, options: SleeperOptions): Promise<number> {
    const path = this.child(index);
    // unshare execs the command in place, so the PID moved below is the sleeper itself.
    const argv = options.ownNetworkNamespace ? ['unshare', '--net', 'sleep', '3600'] : ['sleep', '3600'];
    const child = spawn(argv[0]!, argv.slice(1), { stdio: 'ignore' });
    this.sleepers.push(child);
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', reject);
    });
    // Give unshare a moment to exec, so the namespace exists when the collector looks.
    for (let i = 0; i < 50 && options.ownNetworkNamespace; i++) {
      if (readNetNamespace(child.pid!) !== readNetNamespace(process.pid)) break;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    this.manager.addProcess(path, child.pid!);
    return child.pid!;
  }

  async dispose(): Promise<void> {
    const waits = this.sleepers.map((child) =>
      child.exitCode !== null || child.signalCode !== null ? undefined : new Promise((resolve) => child.once('exit', resolve)),
    );
    this.killSleepers();
    await Promise.all(waits);
    this.removeSync();
  }

  disposeSync(): void {
    this.killSleepers();
    this.removeSync();
  }

  private killSleepers(): void {
    for (const child of this.sleepers) {
      if (child.exitCode !== null || child.signalCode !== null || !child.pid) continue;
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  }

  /** rmdir deepest first in every hierarchy; a just-killed process can hold a cgroup busy briefly. */
  private removeSync(): void {
    const failures: string[] = [];
    for (const { directory } of this.manager.directories(this.root)) {
      try {
        removeTreeSync(directory);
      } catch (error) {
        failures.push(`${directory}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
      }
    }
    if (failures.length > 0) throw new Error(`could not remove every benchmark cgroup: ${failures.join('; ')}`);
  }
}

function readNetNamespace(pid: number): string | undefined {
  try {
    return fs.readlinkSync(`/proc/${pid}/ns/net`);
  } catch {
    return undefined;
  }
}

function removeTreeSync(directory: string): void {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(directory, { withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  for (const entry of entries) if (entry.isDirectory()) removeTreeSync(`${directory}/${entry.name}`);
  for (let attempt = 0; ; attempt++) {
    try {
      fs.rmdirSync(directory);
      return;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      if (code !== 'EBUSY' || attempt >= 100) throw error;
      sleepSync(20);
    }
  }
}
