/**
 * Resources the runtime benchmarks share: a cgroup parent of their own for an agent's containers,
 * a temporary directory, and the unmounting of whatever a runtime left mounted below a directory
 * (never delete through a mount). All release synchronously too, for a signal or process exit.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { sleep, sleepSync, type Disposable } from './harness';

/** Runs `sh -c SCRIPT` inside `directories` from its first instruction (it blocks on read until moved). */
export async function runInCgroup(directories: string[], script: string): Promise<ChildProcess> {
  const child = spawn('/bin/sh', ['-c', `read _ && exec /bin/sh -c '${script}'`], { stdio: ['pipe', 'ignore', 'ignore'] });
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  for (const directory of directories) fs.writeFileSync(path.join(directory, 'cgroup.procs'), String(child.pid));
  child.stdin!.end('\n');
  return child;
}

/** Lazily unmounts every mount below `directory`, deepest first. */
export function unmountBelow(directory: string): void {
  const mounts = fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .filter((mountPoint) => mountPoint.startsWith(directory + '/'))
    .sort((a, b) => b.length - a.length);
  for (const mountPoint of mounts) {
    try {
      execFileSync('umount', ['-l', mountPoint], { stdio: 'ignore' });
    } catch {
      // Already gone.
    }
  }
}

/** Every mounted cgroup hierarchy (v1 controllers, name=systemd, v2): dockerd uses more than capstan does. */
function cgroupMounts(): string[] {
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((line) => / - cgroup2? /.test(line))
    .map((line) => line.split(' ')[4]!)
    .filter(Boolean);
}

/**
 * A cgroup parent of our own (/capstan-test-bench-…), removed from every hierarchy with whatever
 * is left in it (processes killed by PID first).
 */
export class CgroupParent implements Disposable {
  readonly label: string;

  constructor(readonly path: string) {
    this.label = `cgroup parent ${path}`;
  }

  private directories(): string[] {
    return cgroupMounts()
      .map((mount) => mount + this.path)
      .filter((directory) => fs.existsSync(directory));
  }

  private killAll(): void {
    for (const root of this.directories()) {
      const visit = (dir: string): void => {
        let entries: fs.Dirent[] = [];
        try {
          entries = fs.readdirSync(dir, { withFileTypes: true });
        } catch {
          return;
        }
        for (const entry of entries) if (entry.isDirectory()) visit(`${dir}/${entry.name}`);
        try {
          for (const pid of fs.readFileSync(`${dir}/cgroup.procs`, 'utf8').split('\n').filter(Boolean)) process.kill(Number(pid), 'SIGKILL');
        } catch {
          // Gone already.
        }
      };
      visit(root);
    }
  }

  private removeAll(): void {
    for (const root of this.directories()) {
      const remove = (dir: string): void => {
        let entries: fs.Dirent[] = [];
        try {
          entries = fs.readdirSync(dir, { withFileTypes: true });
        } catch {
          return;
        }
        for (const entry of entries) if (entry.isDirectory()) remove(`${dir}/${entry.name}`);
        try {
          fs.rmdirSync(dir);
        } catch {
          // Still busy: retried below, reported if it stays.
        }
      };
      remove(root);
    }
  }

  async dispose(): Promise<void> {
    for (let attempt = 0; attempt < 10 && this.directories().length > 0; attempt++) {
      this.killAll();
      await sleep(100);
      this.removeAll();
    }
    const left = this.directories();
    if (left.length > 0) throw new Error(`cannot remove ${left.join(', ')}`);
  }

  disposeSync(): void {
    this.killAll();
    sleepSync(200);
    this.removeAll();
  }
}

/** A temporary directory, removed at the end (after unmounting anything a runtime left below it). */
export class TempDirectory implements Disposable {
  readonly label: string;
  readonly path: string;

  constructor(stem: string) {
    this.path = fs.mkdtempSync(path.join(os.tmpdir(), stem));
    this.label = `temp dir ${this.path}`;
  }

  async dispose(): Promise<void> {
    this.disposeSync();
  }

  disposeSync(): void {
    unmountBelow(this.path);
    fs.rmSync(this.path, { recursive: true, force: true });
  }
}

