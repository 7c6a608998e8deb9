/**
 * A create request's mounts become the container's ContainerMount list: volumes are looked up or
 * made (a new anonymous one per `-v /path`), bind sources checked (or, for `-v`, created as docker
 * does), `--volumes-from` copies another container's binds and volumes. Runs at create, so the
 * record says which host paths the container uses from then on.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { badRequest } from '../errors';
import type { ShimMount } from '../shim-protocol';
import type { ContainerMount } from '../types';
import type { MountRequest } from './mount-spec';
import { discardNewVolume, type VolumeStore } from './store';

export interface MountHost {
  volumes: VolumeStore;
  /** The mounts of the container `reference` names (404 when there is none). */
  mountsOf(reference: string): readonly ContainerMount[];
}

export interface ResolvedMounts {
  mounts: ContainerMount[];
  /** Volumes this create made (removed again if the create fails). */
  createdVolumes: string[];
}

/**
 * `imageVolumes`: the image's VOLUME paths; each gets a new anonymous volume where neither the
 * request nor --volumes-from put a mount (docker's order: volumes-from, the request, the image).
 */
export function resolveMounts(
  requests: readonly MountRequest[],
  volumesFrom: ReadonlyArray<{ container: string; mode: '' | 'ro' | 'rw' }>,
  host: MountHost,
  imageVolumes: readonly string[] = [],
): ResolvedMounts {
  const mounts: ContainerMount[] = [];
  const createdVolumes: string[] = [];
  const targets = new Set(requests.map((request) => request.target));
  // docker: --volumes-from first, then the container's own mounts replace those on the same path.
  for (const from of volumesFrom) {
    for (const mount of host.mountsOf(from.container)) {
      if (mount.type === 'tmpfs' || targets.has(mount.destination)) continue;
      const readOnly = from.mode === '' ? mount.readOnly : from.mode === 'ro';
      const existing = mounts.findIndex((other) => other.destination === mount.destination);
      const copied: ContainerMount = { ...mount, readOnly, mode: from.mode === '' ? mount.mode : from.mode, anonymous: false, copyUp: false };
      if (existing === -1) mounts.push(copied);
      else mounts[existing] = copied;
    }
  }
  try {
    for (const request of requests) mounts.push(resolveOne(request, host, createdVolumes));
    for (const target of imageVolumes) {
      const destination = path.posix.normalize(target).replace(/(.)\/+$/, '$1');
      if (destination === '/' || mounts.some((mount) => mount.destination === destination)) continue;
      mounts.push(resolveOne(anonymousVolume(destination), host, createdVolumes));
    }
  } catch (error) {
    for (const name of createdVolumes) discardNewVolume(host.volumes, name);
    throw error;
  }
  return { mounts, createdVolumes };
}

function anonymousVolume(target: string): MountRequest {
  return { type: 'volume', source: '', target, readOnly: false, createHostPath: false, noCopy: false, tmpfsOptions: [], mode: '' };
}

function resolveOne(request: MountRequest, host: MountHost, createdVolumes: string[]): ContainerMount {
  const base = { destination: request.target, readOnly: request.readOnly, mode: request.mode, anonymous: false, copyUp: false, tmpfsOptions: [] as string[] };
  switch (request.type) {
    case 'tmpfs':
      return { ...base, type: 'tmpfs', name: '', source: '', tmpfsOptions: request.tmpfsOptions };
    case 'bind': {
      if (!fs.existsSync(request.source)) {
        if (!request.createHostPath) {
          throw badRequest('invalid_mount', `invalid mount config for type "bind": bind source path does not exist: ${request.source}`);
        }
        try {
          fs.mkdirSync(request.source, { recursive: true, mode: 0o755 });
        } catch (error) {
          throw badRequest('invalid_mount', `error while creating mount source path '${request.source}': ${(error as Error).message}`);
        }
      }
      return { ...base, type: 'bind', name: '', source: request.source };
    }
    case 'volume': {
      const anonymous = request.source === '';
      const existed = !anonymous && host.volumes.find(request.source) !== undefined;
      const volume = host.volumes.create(request.source, { anonymous });
      if (!existed) createdVolumes.push(volume.Name);
      return { ...base, type: 'volume', name: volume.Name, source: volume.Mountpoint, anonymous, copyUp: !request.noCopy };
    }
  }
}

/** Path components of a destination: "/a/b" has 2. */
function depth(destination: string): number {
  return destination.split('/').filter((part) => part !== '').length;
}

/**
 * ShimConfig.mounts for a container's mounts, parents before what lies below them (as docker sorts
 * them: `-v a:/x/y -v b:/x` must not hide /x/y under /x); docker's tmpfs defaults are nosuid,
 * nodev, noexec.
 */
export function shimMounts(mounts: readonly ContainerMount[]): ShimMount[] {
  return [...mounts].sort((a, b) => depth(a.destination) - depth(b.destination)).map((mount): ShimMount => {
    if (mount.type !== 'tmpfs') return { kind: 'bind', source: mount.source, destination: mount.destination, readOnly: mount.readOnly, copyUp: mount.copyUp };
    const flags = new Set(mount.tmpfsOptions);
    const data = mount.tmpfsOptions.filter((option) => option.includes('='));
    return {
      kind: 'tmpfs',
      destination: mount.destination,
      readOnly: mount.readOnly,
      nosuid: !flags.has('suid'),
      nodev: !flags.has('dev'),
      noexec: !flags.has('exec'),
      ...(data.length > 0 ? { data: data.join(',') } : {}),
    };
  });
}

/** docker inspect's Mounts entries. */
export function inspectMounts(mounts: readonly ContainerMount[]): Array<Record<string, unknown>> {
  return mounts.map((mount) => {
    if (mount.type === 'tmpfs') {
      return { Type: 'tmpfs', Source: '', Destination: mount.destination, Mode: mount.tmpfsOptions.join(','), RW: !mount.readOnly, Propagation: '' };
    }
    if (mount.type === 'bind') {
      return { Type: 'bind', Source: mount.source, Destination: mount.destination, Mode: mount.mode, RW: !mount.readOnly, Propagation: 'rprivate' };
    }
    return { Type: 'volume', Name: mount.name, Source: mount.source, Destination: mount.destination, Driver: 'local', Mode: mount.mode, RW: !mount.readOnly, Propagation: '' };
  });
}
