/**
 * Discovers every cgroup on the host by walking the hierarchy roots in one native call.
 * On v1 the hierarchies can differ (a cgroup may exist under memory only), so the result is their
 * union, remembering the first root each cgroup was found in.
 */
import type { CgroupPath } from '../model';
import { listDirectories } from '../native';
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
  const listings = await listDirectories(roots.map((root) => root.directory));
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
