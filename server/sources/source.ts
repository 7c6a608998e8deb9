/**
 * "Who is a container": sources name and describe cgroups. The collector asks each source in order
 * (capstan's runtime, then Docker, then the raw source); the first that knows a cgroup describes it.
 * The raw source knows every cgroup, so every cgroup is described.
 */
import type { CgroupPath, ContainerInfo, NetworkInterfaceSample, SourceKind } from '../model';

export interface ContainerSource {
  readonly kind: SourceKind;
  /** Describes `cgroupPath` if this source owns it; undefined lets the next source try. */
  describe(cgroupPath: CgroupPath, facts: CgroupFacts): ContainerInfo | undefined;
  /**
   * Network counters the source knows beyond what the cgroup's namespace shows, for a cgroup it
   * described: capstan's runtime counts bytes through published ports here (inside the container
   * that traffic is on `lo`, which docker-style totals skip). Asked once per tick per cgroup.
   */
  networkCounters?(cgroupPath: CgroupPath): NetworkInterfaceSample | undefined;
}

/** What the collector already knows about a cgroup when it asks the sources. */
export interface CgroupFacts {
  /** When the cgroup directory was created (its ctime). Units: milliseconds since the Unix epoch. */
  createdAtMs?: number;
}

/** Asks the sources in order; the last one must answer for every cgroup. */
export function describeCgroup(
  sources: readonly ContainerSource[],
  cgroupPath: CgroupPath,
  facts: CgroupFacts,
): { info: ContainerInfo; source: ContainerSource } {
  for (const source of sources) {
    const info = source.describe(cgroupPath, facts);
    if (info) return { info, source };
  }
  throw new Error(`no source describes cgroup ${cgroupPath}: the raw source must be last`);
}
