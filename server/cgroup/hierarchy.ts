/**
 * Where a cgroup's files live, for either hierarchy version. Pure: the layout is passed in, never
 * detected here, so fixture trees and real mounts go through the same code.
 */
import * as path from 'node:path';
import type { CgroupLayout, CgroupPath, V1Controller } from '../model';

/** The v1 controllers whose files the collector reads every tick. */
export const V1_STAT_CONTROLLERS: readonly V1Controller[] = ['cpu', 'cpuacct', 'memory', 'blkio', 'pids'];

/** A hierarchy root the collector walks to discover cgroups. */
export interface HierarchyRoot {
  /** Absolute directory of the mount. */
  directory: string;
  /** The controllers mounted there (v1), or ['unified'] for v2. */
  controllers: string[];
}

/**
 * The distinct hierarchy roots holding the controllers capstan reads. A co-mounted "cpu,cpuacct"
 * appears once. On v2 (and hybrid hosts whose controllers are on v2) it is the unified root alone.
 */
export function statRoots(layout: CgroupLayout): HierarchyRoot[] {
  if (layout.controllersOn === 2) {
    if (!layout.v2Mount) throw new Error('cgroup layout says controllers are on v2 but has no v2 mount');
    return [{ directory: layout.v2Mount, controllers: ['unified'] }];
  }
  const byDirectory = new Map<string, HierarchyRoot>();
  for (const controller of V1_STAT_CONTROLLERS) {
    const directory = layout.v1Mounts[controller];
    if (!directory) continue;
    const existing = byDirectory.get(directory);
    if (existing) existing.controllers.push(controller);
    else byDirectory.set(directory, { directory, controllers: [controller] });
  }
  return [...byDirectory.values()];
}

/** Rejects cgroup paths that could escape the hierarchy ("..", NUL, relative paths). */
export function assertCgroupPath(cgroupPath: string): asserts cgroupPath is CgroupPath {
  if (typeof cgroupPath !== 'string' || !cgroupPath.startsWith('/')) {
    throw new TypeError(`cgroup path must start with "/": ${JSON.stringify(cgroupPath)}`);
  }
  if (cgroupPath.includes('\0') || cgroupPath.split('/').some((part) => part === '..' || part === '.')) {
    throw new TypeError(`cgroup path must not contain "..", "." or NUL: ${JSON.stringify(cgroupPath)}`);
  }
}

/** The directory of `cgroupPath` in the hierarchy of `controller` (v1) or in the unified hierarchy. */
export function cgroupDirectory(layout: CgroupLayout, controller: V1Controller | 'unified', cgroupPath: CgroupPath): string | undefined {
  const mount = controller === 'unified' ? layout.v2Mount : layout.v1Mounts[controller];
  if (!mount) return undefined;
  return cgroupPath === '/' ? mount : mount + cgroupPath;
}

/** Joins a relative directory from a hierarchy walk ("a/b") into a cgroup path ("/a/b"). */
export function cgroupPathFromRelative(relative: string): CgroupPath {
  return relative === '' ? '/' : '/' + relative;
}

/** The parent of a cgroup path, or undefined for the root. */
export function parentCgroupPath(cgroupPath: CgroupPath): CgroupPath | undefined {
  if (cgroupPath === '/') return undefined;
  const parent = path.posix.dirname(cgroupPath);
  return parent;
}
