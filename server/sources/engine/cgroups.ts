/**
 * Which cgroups are an engine's containers, from the path alone (pure). Both engines name a
 * container's cgroup after its 64-hex id, in a shape that depends on the cgroup driver:
 *
 *   Docker, cgroupfs driver   /docker/<id>                 (or <--cgroup-parent>/<id>)
 *   Docker, systemd driver    /system.slice/docker-<id>.scope
 *   Podman, cgroupfs          /libpod_parent/libpod-<id>   (or <--cgroup-parent>/libpod-<id>)
 *   Podman, systemd           /machine.slice/libpod-<id>.scope
 *   Podman's monitor          …/libpod-conmon-<id>.scope, /libpod_parent/conmon
 *
 * Two strengths of match: `claims` (the shape alone says "this engine", so capstan treats it as the
 * engine's even while the engine cannot be asked: it never writes its files) and a bare 64-hex
 * leaf, which is the engine's only if the engine itself lists that id (Docker with a custom
 * --cgroup-parent; capstan's own containers also end in 64 hex and are asked about first).
 */
import type { CgroupPath } from '../../model';
import type { EngineFlavour } from './types';

const HEX64 = '[0-9a-f]{64}';
const DOCKER_SCOPE = new RegExp(`^docker-(${HEX64})\\.scope$`);
const LIBPOD = new RegExp(`^libpod-(${HEX64})(?:\\.scope)?$`);
const LIBPOD_CONMON = new RegExp(`^libpod-conmon-(${HEX64})\\.scope$`);
const BARE_ID = new RegExp(`^(${HEX64})$`);

export interface EngineCgroupMatch {
  /** The container id the path names. */
  id: string;
  /** The engine the path's shape belongs to, when the shape alone says so. */
  flavour?: EngineFlavour;
  /** The path is the engine's whatever the engine answers (its shape is unmistakable). */
  claims: boolean;
  /** Podman's per-container monitor (conmon), not the container itself. */
  monitor: boolean;
}

function leafAndParent(cgroupPath: CgroupPath): { leaf: string; parent: string } {
  const slash = cgroupPath.lastIndexOf('/');
  return { leaf: cgroupPath.slice(slash + 1), parent: cgroupPath.slice(0, slash) };
}

/** The engine container a cgroup path names, if its shape is one of an engine's. */
export function matchEngineCgroup(cgroupPath: CgroupPath): EngineCgroupMatch | undefined {
  const { leaf, parent } = leafAndParent(cgroupPath);
  let match = DOCKER_SCOPE.exec(leaf);
  if (match) return { id: match[1]!, flavour: 'docker', claims: true, monitor: false };
  match = LIBPOD_CONMON.exec(leaf);
  if (match) return { id: match[1]!, flavour: 'podman', claims: true, monitor: true };
  match = LIBPOD.exec(leaf);
  if (match) return { id: match[1]!, flavour: 'podman', claims: true, monitor: false };
  match = BARE_ID.exec(leaf);
  if (match) {
    // The cgroupfs driver's default parent is unmistakable; any other parent needs the engine's word.
    const isDockerDefault = parent === '/docker';
    return { id: match[1]!, ...(isDockerDefault ? { flavour: 'docker' as const } : {}), claims: isDockerDefault, monitor: false };
  }
  return undefined;
}
