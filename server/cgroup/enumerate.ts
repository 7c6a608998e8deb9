/**
 * Discovers every cgroup on the host by walking the hierarchy roots in one native call.
 * On v1 the hierarchies can differ (a cgroup may exist under memory only), so the result is their
 * union, remembering the first root each cgroup was found in.
 */
import type { CgroupPath } from '../model';
import { DirectoryWatch, errnoCode, listDirectories } from '../native';
import { cgroupPathFromRelative, type HierarchyRoot } from './hierarchy';

export interface EnumeratedCgroup {
  /** Index into the roots passed to enumerateCgroups of the first root holding this cgroup. */
  firstRootIndex: number;
}

export interface EnumerationResult {
  cgroups: Map<CgroupPath, EnumeratedCgroup>;
  /** Roots that could not be walked at all, with the errno. */
  failedRoots: Array<{ root: HierarchyRoot; errno: number }>;
}

export async function enumerateCgroups(roots: readonly HierarchyRoot[]): Promise<EnumerationResult> {
  return unionOfListings(roots, await listDirectories(roots.map((root) => root.directory)));
}

/**
 * Discovery that walks only when something changed: inotify watches on every cgroup directory
 * (cgroups are made and removed with mkdir/rmdir, which raise IN_CREATE/IN_DELETE on the parent),
 * plus a walk every `walkEveryTicks` ticks as a safety net. Without watches (inotify_init1 failed,
 * or the kernel ran out of watches: ENOSPC) it walks every time.
 */
export class CgroupDiscovery {
  private readonly watch: DirectoryWatch | undefined;
  private watching = false;
  private sinceWalk = 0;
  /** Why discovery walks every tick, if it does (for a warning). */
  degraded: string | undefined;

  constructor(
    private readonly roots: readonly HierarchyRoot[],
    private readonly walkEveryTicks: number,
  ) {
    try {
      this.watch = new DirectoryWatch();
    } catch (error) {
      this.degraded = `no inotify for cgroup discovery (${(error as Error).message}): walking every tick`;
    }
  }

  /** The cgroups now, or undefined when nothing came or went since the last walk. */
  async next(): Promise<EnumerationResult | undefined> {
    this.sinceWalk++;
    if (this.watch && this.watching && !this.watch.changed() && this.sinceWalk < this.walkEveryTicks) return undefined;
    this.sinceWalk = 0;
    const directories = this.roots.map((root) => root.directory);
    if (!this.watch) return unionOfListings(this.roots, await listDirectories(directories));
    // Drain before walking: whatever the walk sees is accounted for, later events make the next tick walk.
    this.watch.changed();
    const { listings, watchErrno } = await this.watch.walk(directories);
    this.watching = watchErrno === 0;
    this.degraded = watchErrno === 0 ? undefined : `cannot watch every cgroup directory (inotify_add_watch: ${errnoCode(watchErrno)}): walking every tick`;
    return unionOfListings(this.roots, listings);
  }

  close(): void {
    this.watch?.close();
  }
}

function unionOfListings(roots: readonly HierarchyRoot[], listings: Array<string[] | number>): EnumerationResult {
  const cgroups = new Map<CgroupPath, EnumeratedCgroup>();
  const failedRoots: EnumerationResult['failedRoots'] = [];
  listings.forEach((listing, rootIndex) => {
    const root = roots[rootIndex]!;
    if (typeof listing === 'number') {
      failedRoots.push({ root, errno: listing });
      return;
    }
    if (!cgroups.has('/')) cgroups.set('/', { firstRootIndex: rootIndex });
    for (const relative of listing) {
      const cgroupPath = cgroupPathFromRelative(relative);
      if (!cgroups.has(cgroupPath)) cgroups.set(cgroupPath, { firstRootIndex: rootIndex });
    }
  });
  return { cgroups, failedRoots };
}
