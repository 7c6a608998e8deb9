/** An owned container as the monitor's model describes it, for when no cgroup of it is in the snapshot. Pure. */
import type { ContainerInfo } from '../model';
import type { OwnedContainer } from './types';

/** An owned container with no cgroup in the snapshot (created, exited), described from its owner's listing. */
export function infoOfOwned(container: OwnedContainer): ContainerInfo {
  return {
    id: container.id,
    name: container.name,
    cgroupPath: container.cgroupPath ?? '',
    image: container.image,
    source: container.owner,
    isContainer: true,
    labels: { ...container.labels },
    ...(container.createdAtMs !== undefined && Number.isFinite(container.createdAtMs) && { createdAtMs: container.createdAtMs }),
  };
}
