/**
 * The raw source: every cgroup on the host, named by its path; systemd units by their unit name.
 * Its ids are stable (a hash of the cgroup path), so a cgroup keeps its id across agent restarts.
 */
import { createHash } from 'node:crypto';
import type { CgroupPath, ContainerInfo } from '../model';
import type { CgroupFacts, ContainerSource } from './source';

/** systemd unit suffixes that appear as cgroup directory names. */
const SYSTEMD_UNIT = /\.(service|scope|slice|socket|mount|swap)$/;
/** Units that run workloads (services and scopes) count as containers; slices only group them. */
const SYSTEMD_WORKLOAD = /\.(service|scope)$/;

export function rawCgroupId(cgroupPath: CgroupPath): string {
  return createHash('sha256').update(cgroupPath).digest('hex');
}

export class RawSource implements ContainerSource {
  readonly kind = 'raw' as const;

  describe(cgroupPath: CgroupPath, facts: CgroupFacts): ContainerInfo {
    const leaf = cgroupPath.slice(cgroupPath.lastIndexOf('/') + 1);
    const unit = SYSTEMD_UNIT.test(leaf) ? unescapeSystemdName(leaf) : undefined;
    const info: ContainerInfo = {
      id: rawCgroupId(cgroupPath),
      name: unit ?? cgroupPath,
      cgroupPath,
      image: '',
      source: unit ? 'systemd' : 'raw',
      isContainer: unit !== undefined && SYSTEMD_WORKLOAD.test(leaf),
      labels: {},
    };
    if (facts.createdAtMs !== undefined) info.createdAtMs = facts.createdAtMs;
    return info;
  }
}

/** systemd escapes unit names in cgroup directories ("\x2d" for "-" in some templates). */
function unescapeSystemdName(name: string): string {
  return name.replace(/\\x([0-9a-fA-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}
